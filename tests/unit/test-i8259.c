/* The i8259 PIC pair driven through its ports, as a BIOS / Linux programs it. */
#include "hw/intc/i8259.h"
#include "io-helpers.h"

typedef struct Fixture {
    IoSpace *io;
    I8259State *pic;
    IrqProbe out;
} Fixture;

/* Linux's init_8259A: vectors 0x30 / 0x38, cascade on 2, normal EOI, everything masked. */
static void linux_init(Fixture *f)
{
    outb(f->io, 0x21, 0xff);
    outb(f->io, 0xa1, 0xff);
    outb(f->io, 0x20, 0x11);
    outb(f->io, 0x21, 0x30);
    outb(f->io, 0x21, 0x04);
    outb(f->io, 0x21, 0x01);
    outb(f->io, 0xa0, 0x11);
    outb(f->io, 0xa1, 0x38);
    outb(f->io, 0xa1, 0x02);
    outb(f->io, 0xa1, 0x01);
    outb(f->io, 0x21, 0x00);
    outb(f->io, 0xa1, 0x00);
}

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->out, 0);
    f->pic = i8259_new(&f->out.line);
    g_assert_true(i8259_register_ports(f->pic, f->io, NULL));
    linux_init(f);
}

static void teardown(Fixture *f, gconstpointer data)
{
    i8259_free(f->pic);
    io_space_free(f->io);
}

static void test_edge_and_eoi(Fixture *f, gconstpointer data)
{
    g_assert_cmpint(f->out.level, ==, 0);
    irq_raise(i8259_input(f->pic, 0));
    g_assert_cmpint(f->out.level, ==, 1);
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x30);
    g_assert_cmpint(f->out.level, ==, 0);
    /* In service: OCW3 read ISR shows it. */
    outb(f->io, 0x20, 0x0b);
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x01);
    /* Holding the line high does not re-trigger an edge input. */
    irq_raise(i8259_input(f->pic, 0));
    outb(f->io, 0x20, 0x20); /* EOI */
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x00);
    g_assert_cmpint(f->out.level, ==, 0);
    irq_lower(i8259_input(f->pic, 0));
    irq_raise(i8259_input(f->pic, 0));
    g_assert_cmpint(f->out.level, ==, 1);
}

static void test_priority_and_nesting(Fixture *f, gconstpointer data)
{
    irq_raise(i8259_input(f->pic, 4));
    irq_raise(i8259_input(f->pic, 1));
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x31);
    /* IRQ 4 has lower priority than the in-service IRQ 1: held back. */
    g_assert_cmpint(f->out.level, ==, 0);
    outb(f->io, 0x20, 0x20);
    g_assert_cmpint(f->out.level, ==, 1);
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x34);
}

static void test_mask(Fixture *f, gconstpointer data)
{
    outb(f->io, 0x21, 0x10);
    g_assert_cmphex(inb(f->io, 0x21), ==, 0x10);
    irq_pulse(i8259_input(f->pic, 4));
    g_assert_cmpint(f->out.level, ==, 0);
    outb(f->io, 0x20, 0x0a); /* read IRR */
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x10);
    outb(f->io, 0x21, 0x00);
    g_assert_cmpint(f->out.level, ==, 1);
}

static void test_cascade(Fixture *f, gconstpointer data)
{
    irq_pulse(i8259_input(f->pic, 12));
    g_assert_cmpint(f->out.level, ==, 1);
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x3c);
    outb(f->io, 0xa0, 0x0b);
    g_assert_cmphex(inb(f->io, 0xa0), ==, 0x10);
    outb(f->io, 0x20, 0x0b);
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x04);
    outb(f->io, 0xa0, 0x20);
    outb(f->io, 0x20, 0x20);
    g_assert_cmphex(inb(f->io, 0xa0), ==, 0x00);
}

static void test_level_elcr(Fixture *f, gconstpointer data)
{
    outb(f->io, 0x4d1, 0xff);
    g_assert_cmphex(inb(f->io, 0x4d1), ==, 0xde); /* IRQ 8 and 13 stay edge */
    irq_raise(i8259_input(f->pic, 11));
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x3b);
    outb(f->io, 0xa0, 0x20);
    outb(f->io, 0x20, 0x20);
    /* Still asserted: a level input requests again after EOI. */
    g_assert_cmpint(f->out.level, ==, 1);
    irq_lower(i8259_input(f->pic, 11));
    g_assert_cmpint(f->out.level, ==, 0);
}

static void test_spurious_and_poll(Fixture *f, gconstpointer data)
{
    /* Nothing pending: INTA gives the spurious IRQ 7 vector. */
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x37);
    irq_pulse(i8259_input(f->pic, 3));
    outb(f->io, 0x20, 0x0c); /* poll */
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x83);
    outb(f->io, 0x20, 0x0c);
    g_assert_cmphex(inb(f->io, 0x20), ==, 0x00);
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    i8259_set_irq(f->pic, 99, 1);
    i8259_set_irq(f->pic, -1, 1);
    g_assert_cmpint(f->out.level, ==, 0);
    /* Garbage command sequences leave the chip usable after a fresh init. */
    for (int i = 0; i < 256; i++) {
        outb(f->io, 0x20, i);
        outb(f->io, 0x21, i * 7);
    }
    linux_init(f);
    irq_pulse(i8259_input(f->pic, 5));
    g_assert_cmpint(i8259_read_irq(f->pic), ==, 0x35);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/i8259/edge-eoi", test_edge_and_eoi);
    ADD("/i8259/priority", test_priority_and_nesting);
    ADD("/i8259/mask", test_mask);
    ADD("/i8259/cascade", test_cascade);
    ADD("/i8259/level-elcr", test_level_elcr);
    ADD("/i8259/spurious-poll", test_spurious_and_poll);
    ADD("/i8259/bad-input", test_bad_input_contained);
    return g_test_run();
}
