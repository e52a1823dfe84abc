/* The HPET's counter on a manual clock: capabilities, start/stop, 32- and 64-bit accesses. */
#include "hw/timer/hpet.h"
#include "io-helpers.h"

typedef struct Fixture {
    HwClock *clock;
    IoSpace *mmio;
    HpetState *hpet;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->clock = hw_clock_new_manual();
    f->mmio = io_space_new("mmio", 1ull << 32);
    f->hpet = hpet_new(f->clock);
    g_assert_true(hpet_register_mmio(f->hpet, f->mmio, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    hpet_free(f->hpet);
    io_space_free(f->mmio);
    hw_clock_free(f->clock);
}

static uint64_t readq(Fixture *f, uint64_t reg)
{
    return io_space_read(f->mmio, HPET_BASE + reg, 8);
}

static void test_capabilities(Fixture *f, gconstpointer data)
{
    /* Linux reads the id and the period as two 32-bit registers. */
    g_assert_cmphex(mmio_readl(f->mmio, HPET_BASE), ==, 0x80862201);
    g_assert_cmpuint(mmio_readl(f->mmio, HPET_BASE + 4), ==, 10000000);
    g_assert_cmphex(readq(f, 0), ==, (10000000ull << 32) | 0x80862201);
    /* No legacy replacement route: LEG_RT_CAP clear, and the configuration bit is not kept. */
    g_assert_cmphex(readq(f, 0) & (1u << 15), ==, 0);
    mmio_writel(f->mmio, HPET_BASE + 0x10, 3);
    g_assert_cmphex(mmio_readl(f->mmio, HPET_BASE + 0x10), ==, 1);
}

static void test_counter_runs_at_100mhz_while_enabled(Fixture *f, gconstpointer data)
{
    hw_clock_advance(f->clock, 5000);
    g_assert_cmpuint(readq(f, 0xf0), ==, 0); /* halted after reset */
    mmio_writel(f->mmio, HPET_BASE + 0x10, 1);
    hw_clock_advance(f->clock, 1000000);
    g_assert_cmpuint(readq(f, 0xf0), ==, 100000);
    g_assert_cmpuint(mmio_readl(f->mmio, HPET_BASE + 0xf0), ==, 100000);
    g_assert_cmpuint(mmio_readl(f->mmio, HPET_BASE + 0xf4), ==, 0);
    /* Stopping freezes it; writing it while stopped sets it; starting counts on from there. */
    mmio_writel(f->mmio, HPET_BASE + 0x10, 0);
    hw_clock_advance(f->clock, 1000000);
    g_assert_cmpuint(readq(f, 0xf0), ==, 100000);
    mmio_writel(f->mmio, HPET_BASE + 0xf4, 1);
    mmio_writel(f->mmio, HPET_BASE + 0xf0, 0xfffffff0);
    g_assert_cmphex(readq(f, 0xf0), ==, 0x1fffffff0ull);
    mmio_writel(f->mmio, HPET_BASE + 0x10, 1);
    hw_clock_advance(f->clock, 200);
    g_assert_cmphex(readq(f, 0xf0), ==, 0x200000004ull); /* carries into the high half */
}

static void test_comparators_keep_their_capabilities(Fixture *f, gconstpointer data)
{
    /* Timer 0 can be periodic; all are 64-bit; none offers an interrupt route. */
    g_assert_cmphex(readq(f, 0x100), ==, (1u << 4) | (1u << 5));
    g_assert_cmphex(readq(f, 0x120), ==, 1u << 5);
    g_assert_cmphex(readq(f, 0x140), ==, 1u << 5);
    g_assert_cmphex(readq(f, 0x108), ==, UINT64_MAX);
    mmio_writel(f->mmio, HPET_BASE + 0x100, 0xffffffff);
    g_assert_cmphex(mmio_readl(f->mmio, HPET_BASE + 0x100), ==, 0x3f3e);
    g_assert_cmphex(mmio_readl(f->mmio, HPET_BASE + 0x104), ==, 0);
    mmio_writel(f->mmio, HPET_BASE + 0x128, 1234);
    g_assert_cmphex(readq(f, 0x128), ==, 0xffffffff000004d2ull);
    /* Reset clears what was written. */
    hpet_reset(f->hpet);
    g_assert_cmphex(readq(f, 0x100), ==, (1u << 4) | (1u << 5));
    g_assert_cmphex(readq(f, 0x128), ==, UINT64_MAX);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/hpet/capabilities", Fixture, NULL, setup, test_capabilities, teardown);
    g_test_add("/hpet/counter", Fixture, NULL, setup, test_counter_runs_at_100mhz_while_enabled,
               teardown);
    g_test_add("/hpet/comparators", Fixture, NULL, setup, test_comparators_keep_their_capabilities,
               teardown);
    return g_test_run();
}
