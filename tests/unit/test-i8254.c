/* The i8254 PIT on a manual clock: modes, latches, read-back, channel 2 gate via port 0x61. */
#include "hw/timer/i8254.h"
#include "io-helpers.h"

typedef struct Fixture {
    HwClock *clock;
    IoSpace *io;
    I8254State *pit;
    IrqProbe irq;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->clock = hw_clock_new_manual();
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->irq, 0);
    f->pit = i8254_new(f->clock, &f->irq.line);
    g_assert_true(i8254_register_ports(f->pit, f->io, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    i8254_free(f->pit);
    io_space_free(f->io);
    hw_clock_free(f->clock);
}

/* ns for n PIT ticks, rounded up so the tick has surely passed */
static int64_t ticks(int n)
{
    return ((int64_t)n * NANOSECONDS_PER_SECOND + PIT_FREQ - 1) / PIT_FREQ;
}

static void test_mode2_periodic(Fixture *f, gconstpointer data)
{
    /* Linux's HZ=250 tick: mode 2, LATCH = 4773 */
    outb(f->io, 0x43, 0x34);
    outb(f->io, 0x40, 4773 & 0xff);
    outb(f->io, 0x40, 4773 >> 8);
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND / 10);
    /* 0.1 s at 250 Hz: 25 interrupts (give or take the rounding of the last one) */
    g_assert_cmpint(f->irq.edges, >=, 24);
    g_assert_cmpint(f->irq.edges, <=, 25);
    g_assert_cmpint(i8254_irq_count(f->pit), ==, f->irq.edges);
}

static void test_mode0_oneshot(Fixture *f, gconstpointer data)
{
    outb(f->io, 0x43, 0x30);
    outb(f->io, 0x40, 100);
    outb(f->io, 0x40, 0);
    hw_clock_advance(f->clock, ticks(50));
    g_assert_cmpint(f->irq.edges, ==, 0);
    hw_clock_advance(f->clock, ticks(51));
    g_assert_cmpint(f->irq.edges, ==, 1);
    g_assert_cmpint(f->irq.level, ==, 1);
    hw_clock_advance(f->clock, ticks(1000));
    g_assert_cmpint(f->irq.edges, ==, 1); /* one shot */
    /* Reprogramming drops OUT. */
    outb(f->io, 0x43, 0x30);
    g_assert_cmpint(f->irq.level, ==, 0);
}

static void test_latch_and_count(Fixture *f, gconstpointer data)
{
    outb(f->io, 0x43, 0x34);
    outb(f->io, 0x40, 0x00);
    outb(f->io, 0x40, 0x10); /* 0x1000 */
    hw_clock_advance(f->clock, ticks(0x100));
    outb(f->io, 0x43, 0x00); /* latch channel 0 */
    hw_clock_advance(f->clock, ticks(0x100));
    int lo = inb(f->io, 0x40);
    int hi = inb(f->io, 0x40);
    int v = lo | hi << 8;
    g_assert_cmpint(v, <=, 0x1000 - 0x100);
    g_assert_cmpint(v, >=, 0x1000 - 0x102);
    /* Unlatched reads see the count move on. */
    lo = inb(f->io, 0x40);
    hi = inb(f->io, 0x40);
    g_assert_cmpint(lo | hi << 8, <, v - 0xf0);
}

static void test_readback_status(Fixture *f, gconstpointer data)
{
    outb(f->io, 0x43, 0xb0); /* channel 2, word, mode 0 */
    outb(f->io, 0x43, 0xe8); /* read-back status of channel 2 */
    uint8_t st = inb(f->io, 0x42);
    g_assert_cmphex(st & 0x3f, ==, 0x30);
    g_assert_cmphex(st & 0x40, ==, 0x40); /* null count until a count is written */
}

static void test_channel2_gate_calibration(Fixture *f, gconstpointer data)
{
    /* Linux's pit_calibrate_tsc: gate on, speaker off, mode 0, count 0xffff, wait for OUT2. */
    outb(f->io, 0x61, (inb(f->io, 0x61) & ~0x02) | 0x01);
    outb(f->io, 0x43, 0xb0);
    outb(f->io, 0x42, 0xff);
    outb(f->io, 0x42, 0xff);
    g_assert_cmphex(inb(f->io, 0x61) & 0x20, ==, 0);
    hw_clock_advance(f->clock, ticks(0xfffe));
    g_assert_cmphex(inb(f->io, 0x61) & 0x20, ==, 0);
    hw_clock_advance(f->clock, ticks(2));
    g_assert_cmphex(inb(f->io, 0x61) & 0x21, ==, 0x21);
    g_assert_cmpint(f->irq.edges, ==, 0); /* channel 2 is not wired to IRQ 0 */
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    /* Reading an unprogrammed channel, BCD, aliases and a zero period all stay sane. */
    for (int v = 0; v < 256; v++) {
        outb(f->io, 0x43, v);
        outb(f->io, 0x40 + (v % 3), 0);
        outb(f->io, 0x40 + (v % 3), 0);
        inb(f->io, 0x40 + (v % 3));
    }
    outb(f->io, 0x43, 0x34);
    outb(f->io, 0x40, 1);
    outb(f->io, 0x40, 0);
    hw_clock_advance(f->clock, 100000);
    g_assert_cmpint(f->irq.edges, >, 0);
    g_assert_cmphex(inb(f->io, 0x43), ==, 0xff);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/i8254/mode2-periodic", test_mode2_periodic);
    ADD("/i8254/mode0-oneshot", test_mode0_oneshot);
    ADD("/i8254/latch", test_latch_and_count);
    ADD("/i8254/readback", test_readback_status);
    ADD("/i8254/channel2-gate", test_channel2_gate_calibration);
    ADD("/i8254/bad-input", test_bad_input_contained);
    return g_test_run();
}
