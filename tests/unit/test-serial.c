/* The 16550A through its ports: Linux's probe, transmit, receive FIFO, interrupts, overrun. */
#include "hw/char/serial.h"
#include "io-helpers.h"

typedef struct Fixture {
    IoSpace *io;
    SerialState *s;
    IrqProbe irq;
    GByteArray *out;
    int accept_calls;
} Fixture;

#define BASE 0x3f8

static void be_write(void *opaque, const uint8_t *buf, int len)
{
    g_byte_array_append(((Fixture *)opaque)->out, buf, len);
}

static void be_accept(void *opaque)
{
    ((Fixture *)opaque)->accept_calls++;
}

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->irq, 4);
    f->s = serial_new(&f->irq.line);
    f->out = g_byte_array_new();
    g_assert_true(serial_register_ports(f->s, f->io, BASE, NULL));
    SerialBackend be = {.write = be_write, .accept_input = be_accept, .opaque = f};
    serial_set_backend(f->s, &be);
}

static void teardown(Fixture *f, gconstpointer data)
{
    serial_free(f->s);
    io_space_free(f->io);
    g_byte_array_unref(f->out);
}

static void test_probe(Fixture *f, gconstpointer data)
{
    /* scratch register */
    outb(f->io, BASE + 7, 0xa5);
    g_assert_cmphex(inb(f->io, BASE + 7), ==, 0xa5);
    /* loopback: RTS|OUT2 come back as CTS|DCD */
    outb(f->io, BASE + 4, 0x1a);
    g_assert_cmphex(inb(f->io, BASE + 6) & 0xf0, ==, 0x90);
    outb(f->io, BASE + 4, 0x00);
    /* FIFO detection: 16550A reports both FIFO bits */
    outb(f->io, BASE + 2, 0x01);
    g_assert_cmphex(inb(f->io, BASE + 2) & 0xc0, ==, 0xc0);
    outb(f->io, BASE + 2, 0x00);
    g_assert_cmphex(inb(f->io, BASE + 2) & 0xc0, ==, 0x00);
    /* divisor latch */
    outb(f->io, BASE + 3, 0x80);
    outb(f->io, BASE + 0, 0x01);
    outb(f->io, BASE + 1, 0x00);
    g_assert_cmphex(inb(f->io, BASE + 0), ==, 0x01);
    outb(f->io, BASE + 3, 0x03);
    g_assert_cmphex(inb(f->io, BASE + 3), ==, 0x03);
}

static void test_transmit(Fixture *f, gconstpointer data)
{
    const char *msg = "Linux version 6.1\n";
    for (const char *p = msg; *p; p++) {
        g_assert_cmphex(inb(f->io, BASE + 5) & 0x60, ==, 0x60);
        outb(f->io, BASE + 0, *p);
    }
    g_assert_cmpmem(f->out->data, f->out->len, msg, strlen(msg));
    SerialStats st;
    serial_get_stats(f->s, &st);
    g_assert_cmpuint(st.tx_bytes, ==, strlen(msg));
}

static void test_thre_interrupt(Fixture *f, gconstpointer data)
{
    outb(f->io, BASE + 1, 0x02); /* enabling THRI with THR empty raises it */
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(inb(f->io, BASE + 2) & 0x0f, ==, 0x02);
    g_assert_cmpint(f->irq.level, ==, 0); /* the IIR read acknowledged it */
    outb(f->io, BASE + 0, 'x');
    g_assert_cmpint(f->irq.level, ==, 1);
    outb(f->io, BASE + 1, 0x00);
    g_assert_cmpint(f->irq.level, ==, 0);
}

static void test_receive_fifo(Fixture *f, gconstpointer data)
{
    outb(f->io, BASE + 2, 0xc1); /* FIFO on, trigger 14 */
    outb(f->io, BASE + 1, 0x01);
    g_assert_cmpint(serial_can_receive(f->s), ==, 16);
    serial_receive(f->s, (const uint8_t *)"abc", 3);
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(inb(f->io, BASE + 2), ==, 0xcc); /* below the trigger: character timeout */
    g_assert_cmpint(serial_can_receive(f->s), ==, 13);
    g_assert_cmphex(inb(f->io, BASE + 5) & 0x01, ==, 0x01);
    g_assert_cmpint(inb(f->io, BASE + 0), ==, 'a');
    g_assert_cmpint(inb(f->io, BASE + 0), ==, 'b');
    g_assert_cmpint(f->accept_calls, ==, 0);
    g_assert_cmpint(inb(f->io, BASE + 0), ==, 'c');
    g_assert_cmpint(f->accept_calls, ==, 1);
    g_assert_cmphex(inb(f->io, BASE + 5) & 0x01, ==, 0x00);
    g_assert_cmpint(f->irq.level, ==, 0);
}

static void test_overrun_counted(Fixture *f, gconstpointer data)
{
    outb(f->io, BASE + 2, 0x01);
    outb(f->io, BASE + 1, 0x05); /* RDI + RLSI */
    uint8_t buf[20];
    memset(buf, 'z', sizeof(buf));
    serial_receive(f->s, buf, sizeof(buf));
    SerialStats st;
    serial_get_stats(f->s, &st);
    g_assert_cmpuint(st.rx_overruns, ==, 4);
    g_assert_cmpuint(st.rx_bytes, ==, 16);
    g_assert_cmphex(inb(f->io, BASE + 2) & 0x0f, ==, 0x06); /* line status first */
    g_assert_cmphex(inb(f->io, BASE + 5) & 0x02, ==, 0x02);
    g_assert_cmphex(inb(f->io, BASE + 5) & 0x02, ==, 0x00); /* OE clears on read */
}

static void test_loopback(Fixture *f, gconstpointer data)
{
    outb(f->io, BASE + 4, 0x10);
    outb(f->io, BASE + 0, 'L');
    g_assert_cmpint(f->out->len, ==, 0);
    g_assert_cmpint(serial_can_receive(f->s), ==, 0);
    g_assert_cmpint(inb(f->io, BASE + 0), ==, 'L');
}

static void test_no_backend_counts_drops(Fixture *f, gconstpointer data)
{
    serial_set_backend(f->s, NULL);
    outb(f->io, BASE + 0, 'q');
    SerialStats st;
    serial_get_stats(f->s, &st);
    g_assert_cmpuint(st.tx_dropped, ==, 1);
    g_assert_cmpuint(st.tx_bytes, ==, 0);
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    for (int i = 0; i < 4096; i++) {
        outb(f->io, BASE + (i & 7), (i * 31) & 0xff);
        inb(f->io, BASE + ((i >> 3) & 7));
    }
    /* Wide accesses at odd offsets are still byte registers. */
    outw(f->io, BASE + 7, 0x1234);
    g_assert_cmphex(inb(f->io, BASE + 7), ==, 0x34);
    serial_reset(f->s);
    outb(f->io, BASE + 0, 'k');
    g_assert_cmpint(f->out->data[f->out->len - 1], ==, 'k');
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/serial/probe", test_probe);
    ADD("/serial/transmit", test_transmit);
    ADD("/serial/thre-irq", test_thre_interrupt);
    ADD("/serial/receive-fifo", test_receive_fifo);
    ADD("/serial/overrun", test_overrun_counted);
    ADD("/serial/loopback", test_loopback);
    ADD("/serial/no-backend", test_no_backend_counts_drops);
    ADD("/serial/bad-input", test_bad_input_contained);
    return g_test_run();
}
