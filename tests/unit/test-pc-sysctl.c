/* Port 0x92 / 0xcf9 resets, quiet legacy ports, the ACPI PM block (power-off, PM timer). */
#include "hw/acpi/acpi-tables.h"
#include "hw/acpi/pm.h"
#include "hw/i386/pc-sysctl.h"
#include "io-helpers.h"
#include "util/log.h"

typedef struct Fixture {
    HwClock *clock;
    IoSpace *io;
    PcSysctl *sys;
    AcpiPmState *pm;
    IrqProbe sci;
    int resets, poweroffs;
} Fixture;

static void reset_cb(void *opaque)
{
    ((Fixture *)opaque)->resets++;
}

static void poweroff_cb(void *opaque)
{
    ((Fixture *)opaque)->poweroffs++;
}

static void setup(Fixture *f, gconstpointer data)
{
    f->clock = hw_clock_new_manual();
    f->io = io_space_new("io", 0x10000);
    f->sys = pc_sysctl_new(reset_cb, f);
    irq_probe_init(&f->sci, ACPI_SCI_IRQ);
    f->pm = acpi_pm_new(f->clock, &f->sci.line, poweroff_cb, f);
    g_assert_true(pc_sysctl_register_ports(f->sys, f->io, NULL));
    g_assert_true(acpi_pm_register_ports(f->pm, f->io, ACPI_PM_BASE, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    acpi_pm_free(f->pm);
    pc_sysctl_free(f->sys);
    io_space_free(f->io);
    hw_clock_free(f->clock);
}

static void test_resets(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(inb(f->io, 0x92) & 2, ==, 2);
    outb(f->io, 0x92, 0x02);
    g_assert_cmpint(f->resets, ==, 0);
    outb(f->io, 0x92, 0x03);
    g_assert_cmpint(f->resets, ==, 1);
    outb(f->io, ACPI_RESET_PORT, 0x02);
    g_assert_cmpint(f->resets, ==, 1);
    outb(f->io, ACPI_RESET_PORT, ACPI_RESET_VALUE);
    g_assert_cmpint(f->resets, ==, 2);
}

static void test_quiet_ports(Fixture *f, gconstpointer data)
{
    IoSpaceStats st;
    outb(f->io, 0x80, 0x12);                          /* Linux's io delay */
    g_assert_cmphex(inb(f->io, 0x2f8 + 5), ==, 0xff); /* absent COM2 */
    io_space_get_stats(f->io, &st);
    g_assert_cmpuint(st.unassigned_reads + st.unassigned_writes, ==, 0);
    g_assert_cmpuint(pc_sysctl_ignored_accesses(f->sys), ==, 2);
    /* a port nobody owns is unassigned, counted */
    g_assert_cmphex(inw(f->io, 0x1234), ==, 0xffff);
    io_space_get_stats(f->io, &st);
    g_assert_cmpuint(st.unassigned_reads, ==, 1);
}

static void test_pm_timer(Fixture *f, gconstpointer data)
{
    uint32_t t0 = inl(f->io, ACPI_PM_TMR);
    hw_clock_advance(f->clock, NANOSECONDS_PER_SECOND / 100);
    uint32_t t1 = inl(f->io, ACPI_PM_TMR);
    g_assert_cmpuint(t1 - t0, >=, ACPI_PM_TIMER_FREQ / 100 - 1);
    g_assert_cmpuint(t1 - t0, <=, ACPI_PM_TIMER_FREQ / 100 + 1);
}

static void test_poweroff_and_button(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(inw(f->io, ACPI_PM1_CNT) & 1, ==, 1); /* SCI_EN */
    /* SLP_TYP 0 | SLP_EN, as Linux's acpi_enter_sleep_state(5) writes with \_S5 = 0 */
    outw(f->io, ACPI_PM1_CNT, 0x2001);
    g_assert_cmpint(f->poweroffs, ==, 1);
    g_assert_cmphex(inw(f->io, ACPI_PM1_CNT) & 0x2000, ==, 0);
    /* another sleep type does nothing */
    outw(f->io, ACPI_PM1_CNT, 0x2001 | (5 << 10));
    g_assert_cmpint(f->poweroffs, ==, 1);
    /* power button: SCI only once enabled, cleared by writing 1 */
    acpi_pm_power_button(f->pm);
    g_assert_cmpint(f->sci.level, ==, 0);
    outw(f->io, ACPI_PM1_EVT + 2, 0x0100);
    g_assert_cmpint(f->sci.level, ==, 1);
    g_assert_cmphex(inw(f->io, ACPI_PM1_EVT), ==, 0x0100);
    outw(f->io, ACPI_PM1_EVT, 0x0100);
    g_assert_cmpint(f->sci.level, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/pc-sysctl/resets", test_resets);
    ADD("/pc-sysctl/quiet-ports", test_quiet_ports);
    ADD("/pc-sysctl/pm-timer", test_pm_timer);
    ADD("/pc-sysctl/poweroff-button", test_poweroff_and_button);
    return g_test_run();
}
