/* The CMOS RTC on a manual clock: time in BCD/binary, UIP, periodic interrupt, memory bytes. */
#include "hw/timer/mc146818rtc.h"
#include "io-helpers.h"

typedef struct Fixture {
    HwClock *clock;
    IoSpace *io;
    RtcState *rtc;
    IrqProbe irq;
} Fixture;

/* 2023-06-15 13:45:30 UTC, a Thursday */
#define START 1686836730

static void setup(Fixture *f, gconstpointer data)
{
    f->clock = hw_clock_new_manual();
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->irq, 8);
    f->rtc = mc146818_new(f->clock, &f->irq.line, START);
    g_assert_true(mc146818_register_ports(f->rtc, f->io, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    mc146818_free(f->rtc);
    io_space_free(f->io);
    hw_clock_free(f->clock);
}

static uint8_t cmos_read(Fixture *f, int idx)
{
    return indexed_read(f->io, 0x70, 0x71, idx, 1);
}

static void cmos_write(Fixture *f, int idx, uint8_t v)
{
    indexed_write(f->io, 0x70, 0x71, idx, v, 1);
}

static void test_time_bcd(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(cmos_read(f, 0), ==, 0x30);
    g_assert_cmphex(cmos_read(f, 2), ==, 0x45);
    g_assert_cmphex(cmos_read(f, 4), ==, 0x13);
    g_assert_cmphex(cmos_read(f, 6), ==, 0x05);
    g_assert_cmphex(cmos_read(f, 7), ==, 0x15);
    g_assert_cmphex(cmos_read(f, 8), ==, 0x06);
    g_assert_cmphex(cmos_read(f, 9), ==, 0x23);
    g_assert_cmphex(cmos_read(f, RTC_CENTURY), ==, 0x20);
    hw_clock_advance(f->clock, 31 * NANOSECONDS_PER_SECOND);
    g_assert_cmphex(cmos_read(f, 0), ==, 0x01);
    g_assert_cmphex(cmos_read(f, 2), ==, 0x46);
}

static void test_binary_12h(Fixture *f, gconstpointer data)
{
    cmos_write(f, RTC_REG_B, 0x04); /* binary, 12 hour */
    g_assert_cmpint(cmos_read(f, 0), ==, 30);
    g_assert_cmphex(cmos_read(f, 4), ==, 0x81); /* 1 pm */
}

static void test_set_time(Fixture *f, gconstpointer data)
{
    cmos_write(f, RTC_REG_B, 0x82); /* SET, BCD, 24h */
    cmos_write(f, 0, 0x00);
    cmos_write(f, 2, 0x00);
    cmos_write(f, 4, 0x00);
    cmos_write(f, 7, 0x01);
    cmos_write(f, 8, 0x01);
    cmos_write(f, 9, 0x00);
    cmos_write(f, RTC_CENTURY, 0x20);
    cmos_write(f, RTC_REG_B, 0x02);
    g_assert_cmpint(mc146818_get_time(f->rtc), ==, 946684800); /* 2000-01-01 */
    hw_clock_advance(f->clock, 2 * NANOSECONDS_PER_SECOND);
    g_assert_cmphex(cmos_read(f, 0), ==, 0x02);
}

static void test_uip(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(cmos_read(f, RTC_REG_A) & 0x80, ==, 0);
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND - 100000);
    g_assert_cmphex(cmos_read(f, RTC_REG_A) & 0x80, ==, 0x80);
    hw_clock_advance(f->clock, 200000);
    g_assert_cmphex(cmos_read(f, RTC_REG_A) & 0x80, ==, 0);
    g_assert_cmphex(cmos_read(f, RTC_REG_D), ==, 0x80);
}

static void test_periodic_irq(Fixture *f, gconstpointer data)
{
    cmos_write(f, RTC_REG_A, 0x26); /* 1024 Hz */
    cmos_write(f, RTC_REG_B, 0x42); /* PIE */
    int acked = 0;
    for (int i = 0; i < 100; i++) {
        hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND / 1024);
        if (f->irq.level) {
            uint8_t c = cmos_read(f, RTC_REG_C);
            g_assert_cmphex(c & 0xc0, ==, 0xc0);
            g_assert_cmpint(f->irq.level, ==, 0);
            acked++;
        }
    }
    g_assert_cmpint(acked, >=, 99);
    g_assert_cmpint(mc146818_irq_count(f->rtc), ==, acked);
    cmos_write(f, RTC_REG_B, 0x02);
    cmos_read(f, RTC_REG_C);
    int before = f->irq.edges;
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND / 10);
    g_assert_cmpint(f->irq.edges, ==, before);
}

static void test_update_and_alarm(Fixture *f, gconstpointer data)
{
    cmos_write(f, 1, 0x35); /* alarm at :35 */
    cmos_write(f, 3, 0xc0);
    cmos_write(f, 5, 0xc0);
    cmos_write(f, RTC_REG_B, 0x22); /* AIE */
    hw_clock_advance(f->clock, 4 * NANOSECONDS_PER_SECOND + NANOSECONDS_PER_SECOND / 2);
    g_assert_cmpint(f->irq.level, ==, 0);
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND);
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(cmos_read(f, RTC_REG_C) & 0xa0, ==, 0xa0);
}

static void test_memory_bytes(Fixture *f, gconstpointer data)
{
    mc146818_set_memory_size(f->rtc, 512ull << 20, 1ull << 30);
    g_assert_cmpint(cmos_read(f, 0x34) | cmos_read(f, 0x35) << 8, ==, (512 - 16) * 16);
    g_assert_cmpint(cmos_read(f, 0x30) | cmos_read(f, 0x31) << 8, ==, 0xfc00);
    g_assert_cmpint(cmos_read(f, 0x5b) | cmos_read(f, 0x5c) << 8 | cmos_read(f, 0x5d) << 16, ==,
                    16384);
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    /* Garbage dates, a stopped divider, indexes with the NMI bit. */
    cmos_write(f, RTC_REG_B, 0x82);
    cmos_write(f, 8, 0x99);
    cmos_write(f, 7, 0xff);
    cmos_write(f, RTC_REG_B, 0x02);
    cmos_write(f, RTC_REG_A, 0x70);
    cmos_write(f, RTC_REG_B, 0x42);
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND);
    g_assert_cmpint(f->irq.edges, ==, 0);
    cmos_write(f, 0x80 | 0x40, 0x5a);
    g_assert_cmphex(cmos_read(f, 0x40), ==, 0x5a);
    g_assert_cmphex(inb(f->io, 0x70), ==, 0xff);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/rtc/time-bcd", test_time_bcd);
    ADD("/rtc/binary-12h", test_binary_12h);
    ADD("/rtc/set-time", test_set_time);
    ADD("/rtc/uip", test_uip);
    ADD("/rtc/periodic", test_periodic_irq);
    ADD("/rtc/alarm", test_update_and_alarm);
    ADD("/rtc/memory-bytes", test_memory_bytes);
    ADD("/rtc/bad-input", test_bad_input_contained);
    return g_test_run();
}
