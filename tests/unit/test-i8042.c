/* The i8042 as Linux's i8042/atkbd drivers probe it, and its reset paths. */
#include "hw/input/i8042.h"
#include "io-helpers.h"

typedef struct Fixture {
    IoSpace *io;
    I8042State *kbc;
    IrqProbe kbd, aux;
    int resets;
} Fixture;

static void reset_cb(void *opaque)
{
    ((Fixture *)opaque)->resets++;
}

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->kbd, 1);
    irq_probe_init(&f->aux, 12);
    f->kbc = i8042_new(&f->kbd.line, &f->aux.line, reset_cb, f);
    g_assert_true(i8042_register_ports(f->kbc, f->io, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    i8042_free(f->kbc);
    io_space_free(f->io);
}

static uint8_t status(Fixture *f)
{
    return inb(f->io, 0x64);
}

static uint8_t data(Fixture *f)
{
    g_assert_cmphex(status(f) & 1, ==, 1);
    return inb(f->io, 0x60);
}

static void test_selftest_and_ctr(Fixture *f, gconstpointer data_)
{
    g_assert_cmphex(status(f) & 0x01, ==, 0);
    g_assert_cmphex(status(f) & 0x04, ==, 0x04);
    outb(f->io, 0x64, 0xaa);
    g_assert_cmphex(data(f), ==, 0x55);
    outb(f->io, 0x64, 0x20);
    uint8_t ctr = data(f);
    g_assert_cmphex(ctr & 0x01, ==, 0x01);
    outb(f->io, 0x64, 0x60);
    outb(f->io, 0x60, 0x44); /* interrupts off */
    outb(f->io, 0x64, 0x20);
    g_assert_cmphex(data(f), ==, 0x44);
    g_assert_cmpint(f->kbd.level, ==, 0);
}

static void test_keyboard_identify(Fixture *f, gconstpointer data_)
{
    outb(f->io, 0x60, 0xf2);
    g_assert_cmpint(f->kbd.level, ==, 1);
    g_assert_cmpint(f->kbd.edges, ==, 1);
    g_assert_cmphex(data(f), ==, 0xfa);
    /* each byte read drops the line; the next one is a new edge (one byte per interrupt) */
    g_assert_cmpint(f->kbd.level, ==, 1);
    g_assert_cmpint(f->kbd.edges, ==, 2);
    g_assert_cmphex(data(f), ==, 0xab);
    g_assert_cmpint(f->kbd.edges, ==, 3);
    g_assert_cmphex(data(f), ==, 0x83);
    g_assert_cmpint(f->kbd.level, ==, 0);
    g_assert_cmpint(f->kbd.edges, ==, 3);
    outb(f->io, 0x60, 0xed); /* LEDs + argument */
    g_assert_cmphex(data(f), ==, 0xfa);
    outb(f->io, 0x60, 0x07);
    g_assert_cmphex(data(f), ==, 0xfa);
    outb(f->io, 0x60, 0xff);
    g_assert_cmphex(data(f), ==, 0xfa);
    g_assert_cmphex(data(f), ==, 0xaa);
}

static void test_aux_loop_and_no_mouse(Fixture *f, gconstpointer data_)
{
    outb(f->io, 0x64, 0xd3);
    outb(f->io, 0x60, 0x5a);
    g_assert_cmphex(status(f) & 0x21, ==, 0x21);
    g_assert_cmpint(f->aux.level, ==, 1);
    g_assert_cmphex(data(f), ==, 0x5a);
    g_assert_cmpint(f->aux.level, ==, 0);
    outb(f->io, 0x64, 0xd3);
    outb(f->io, 0x60, 0x11);
    outb(f->io, 0x64, 0xd3);
    outb(f->io, 0x60, 0x22);
    g_assert_cmpint(f->aux.edges, ==, 2);
    g_assert_cmphex(data(f), ==, 0x11);
    g_assert_cmpint(f->aux.edges, ==, 3);
    g_assert_cmphex(data(f), ==, 0x22);
    g_assert_cmpint(f->aux.level, ==, 0);
    outb(f->io, 0x64, 0xd4);
    outb(f->io, 0x60, 0xf2);
    g_assert_cmphex(data(f), ==, 0xfe);
}

static void test_reset_paths(Fixture *f, gconstpointer data_)
{
    outb(f->io, 0x64, 0xfe);
    g_assert_cmpint(f->resets, ==, 1);
    outb(f->io, 0x64, 0xd1);
    outb(f->io, 0x60, 0x02); /* output port bit 0 low */
    g_assert_cmpint(f->resets, ==, 2);
    outb(f->io, 0x64, 0xff); /* pulse nothing */
    g_assert_cmpint(f->resets, ==, 2);
}

static void test_bad_input_contained(Fixture *f, gconstpointer data_)
{
    for (int i = 0; i < 512; i++) {
        if ((i & 0xf0) == 0xf0 || i == 0xd1) {
            continue; /* reset commands */
        }
        outb(f->io, 0x64, i & 0xff);
        outb(f->io, 0x60, (i * 13) & 0xfe);
    }
    for (int i = 0; i < 64; i++) {
        inb(f->io, 0x60); /* reads past the end repeat the last byte */
    }
    g_assert_cmphex(status(f) & 1, ==, 0);
    i8042_reset(f->kbc);
    outb(f->io, 0x64, 0xaa);
    g_assert_cmphex(data(f), ==, 0x55);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/i8042/selftest-ctr", test_selftest_and_ctr);
    ADD("/i8042/keyboard-identify", test_keyboard_identify);
    ADD("/i8042/aux", test_aux_loop_and_no_mouse);
    ADD("/i8042/reset", test_reset_paths);
    ADD("/i8042/bad-input", test_bad_input_contained);
    return g_test_run();
}
