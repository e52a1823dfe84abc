/* Local APIC and IOAPIC through MMIO: priorities, EOI, timer modes, self-IPI, IOAPIC routing. */
#include "hw/intc/apic.h"
#include "io-helpers.h"

typedef struct Fixture {
    HwClock *clock;
    IoSpace *mmio;
    LapicState *lapic;
    IoapicState *ioapic;
    IrqProbe intr, nmi;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->clock = hw_clock_new_manual();
    f->mmio = io_space_new("mmio", 1ull << 40);
    irq_probe_init(&f->intr, 0);
    irq_probe_init(&f->nmi, 0);
    f->lapic = lapic_new(f->clock, 0, &f->intr.line, &f->nmi.line);
    f->ioapic = ioapic_new(f->lapic);
    g_assert_true(lapic_register_mmio(f->lapic, f->mmio, NULL));
    g_assert_true(ioapic_register_mmio(f->ioapic, f->mmio, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    ioapic_free(f->ioapic);
    lapic_free(f->lapic);
    io_space_free(f->mmio);
    hw_clock_free(f->clock);
}

static uint32_t rd(Fixture *f, uint32_t reg)
{
    return mmio_readl(f->mmio, LAPIC_BASE + reg);
}

static void wr(Fixture *f, uint32_t reg, uint32_t v)
{
    mmio_writel(f->mmio, LAPIC_BASE + reg, v);
}

static void enable(Fixture *f)
{
    wr(f, 0xf0, 0x1ff); /* SVR: enabled, spurious vector 0xff */
}

static void test_id_version(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(rd(f, 0x20), ==, 0);
    g_assert_cmphex(rd(f, 0x30) & 0xff, ==, 0x14);
    g_assert_cmphex((rd(f, 0x30) >> 16) & 0xff, ==, 5);
    g_assert_cmphex(rd(f, 0x350), ==, 0x10000); /* LVTs masked at reset */
    g_assert_cmphex(rd(f, 0xe0), ==, 0xffffffff);
}

static void test_self_ipi_priority_eoi(Fixture *f, gconstpointer data)
{
    enable(f);
    wr(f, 0x300, 0x40000 | 0x41); /* self, vector 0x41 */
    wr(f, 0x300, 0x40000 | 0x61);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x61);
    /* 0x41 is in a lower class than the in-service 0x61 */
    g_assert_cmpint(f->intr.level, ==, 0);
    g_assert_cmphex(rd(f, 0x100 + 0x30), ==, 1u << 1); /* ISR bit 0x61 */
    g_assert_cmphex(rd(f, 0xa0), ==, 0x60);            /* PPR */
    wr(f, 0xb0, 0);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x41);
    wr(f, 0xb0, 0);
    g_assert_cmpint(lapic_ack(f->lapic), ==, -1);
    /* TPR blocks classes at or below it */
    wr(f, 0x80, 0x50);
    wr(f, 0x300, 0x40000 | 0x45);
    g_assert_cmpint(f->intr.level, ==, 0);
    wr(f, 0x80, 0x00);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmphex(rd(f, 0x300) & (1u << 12), ==, 0);
}

static void test_timer_oneshot(Fixture *f, gconstpointer data)
{
    enable(f);
    wr(f, 0x3e0, 0x3);  /* divide by 16 */
    wr(f, 0x320, 0xec); /* one-shot, vector 0xec */
    wr(f, 0x380, 1000); /* 16 us */
    hw_clock_advance(f->clock, 8000);
    uint32_t cur = rd(f, 0x390);
    g_assert_cmpuint(cur, ==, 500);
    g_assert_cmpint(f->intr.level, ==, 0);
    hw_clock_advance(f->clock, 8000);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpuint(rd(f, 0x390), ==, 0);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0xec);
    wr(f, 0xb0, 0);
    hw_clock_advance(f->clock, 100000);
    g_assert_cmpint(f->intr.level, ==, 0);
}

/*
 * On a clock that runs, a one-shot count can end before the write that started it has armed
 * the timer (a count of 1, or a vCPU preempted in between): it must still fire, once. A lost
 * one-shot is a lost tick: a tickless guest then waits for it forever.
 */
static void test_timer_oneshot_never_lost_on_a_running_clock(void)
{
    HwClock *clock = hw_clock_new();
    IoSpace *mmio = io_space_new("mmio", 1ull << 40);
    IrqProbe intr, nmi;
    irq_probe_init(&intr, 0);
    irq_probe_init(&nmi, 0);
    LapicState *lapic = lapic_new(clock, 0, &intr.line, &nmi.line);
    g_assert_true(lapic_register_mmio(lapic, mmio, NULL));
    mmio_writel(mmio, LAPIC_BASE + 0xf0, 0x1ff);
    mmio_writel(mmio, LAPIC_BASE + 0x3e0, 0xb); /* divide by 1: a count of 1 is 1 ns */
    mmio_writel(mmio, LAPIC_BASE + 0x320, 0xec);
    const int rounds = 3000;
    for (int i = 0; i < rounds; i++) {
        mmio_writel(mmio, LAPIC_BASE + 0x380, 1 + i % 3);
        int64_t until = hw_clock_ns(clock) + 2000;
        while (hw_clock_ns(clock) < until) {
        }
        hw_clock_run_timers(clock);
        g_assert_cmpint(lapic_ack(lapic), ==, 0xec);
        mmio_writel(mmio, LAPIC_BASE + 0xb0, 0); /* EOI */
    }
    LapicInfo info;
    lapic_get_info(lapic, &info);
    g_assert_cmpuint(info.timer_fires, ==, rounds);
    lapic_free(lapic);
    io_space_free(mmio);
    hw_clock_free(clock);
}

static void test_timer_periodic(Fixture *f, gconstpointer data)
{
    enable(f);
    wr(f, 0x3e0, 0xb); /* divide by 1 */
    wr(f, 0x320, 0x20000 | 0xef);
    wr(f, 0x380, 4000000); /* 4 ms: HZ=250 */
    int ticks = 0;
    for (int i = 0; i < 100; i++) {
        hw_clock_advance(f->clock, 1000000);
        if (f->intr.level) {
            g_assert_cmpint(lapic_ack(f->lapic), ==, 0xef);
            wr(f, 0xb0, 0);
            ticks++;
        }
    }
    g_assert_cmpint(ticks, ==, 25);
    LapicInfo info;
    lapic_get_info(f->lapic, &info);
    g_assert_cmpuint(info.timer_fires, ==, 25);
    /* masking stops delivery but not counting */
    wr(f, 0x320, 0x30000 | 0xef);
    hw_clock_advance(f->clock, 10000000);
    g_assert_cmpint(f->intr.level, ==, 0);
    g_assert_cmpuint(rd(f, 0x390), >, 0);
}

static void test_tsc_deadline_not_offered(Fixture *f, gconstpointer data)
{
    enable(f);
    wr(f, 0x320, 0x40000 | 0xef);
    wr(f, 0x380, 10);
    hw_clock_advance(f->clock, 1000000);
    g_assert_cmpint(f->intr.level, ==, 0);
    g_assert_cmpuint(rd(f, 0x390), ==, 0);
}

static void test_virtual_wire_extint(Fixture *f, gconstpointer data)
{
    IrqLine *lint0 = lapic_lint0(f->lapic);
    irq_raise(lint0);
    g_assert_cmpint(f->intr.level, ==, 0); /* LINT0 masked at reset */
    lapic_set_virtual_wire(f->lapic);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, LAPIC_ACK_EXTINT);
    irq_lower(lint0);
    g_assert_cmpint(f->intr.level, ==, 0);
    /* with the APIC globally off, the PIC reaches the CPU directly */
    wr(f, 0x350, 0x10000);
    lapic_set_global_enable(f->lapic, false);
    irq_raise(lint0);
    g_assert_cmpint(f->intr.level, ==, 1);
}

static void ioapic_wr(Fixture *f, uint32_t reg, uint32_t v)
{
    indexed_write(f->mmio, IOAPIC_BASE, IOAPIC_BASE + 0x10, reg, v, 4);
}

static uint32_t ioapic_rd(Fixture *f, uint32_t reg)
{
    return indexed_read(f->mmio, IOAPIC_BASE, IOAPIC_BASE + 0x10, reg, 4);
}

static void test_ioapic_edge_and_level(Fixture *f, gconstpointer data)
{
    enable(f);
    g_assert_cmphex(ioapic_rd(f, 1), ==, 0x00170020);
    g_assert_cmphex(ioapic_rd(f, 0x10) & 0x10000, ==, 0x10000);
    /* pin 2: edge, vector 0x30 */
    ioapic_wr(f, 0x10 + 4, 0x30);
    ioapic_wr(f, 0x11 + 4, 0);
    irq_pulse(ioapic_input(f->ioapic, 2));
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x30);
    wr(f, 0xb0, 0);
    /* pin 11: level, active low, vector 0x41 */
    ioapic_wr(f, 0x10 + 22, 0x41 | (1 << 15) | (1 << 13));
    g_assert_cmpint(f->intr.level, ==, 0); /* logical levels: 0 is idle whatever the polarity */
    irq_set_level(ioapic_input(f->ioapic, 11), 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x41);
    g_assert_cmphex(ioapic_rd(f, 0x10 + 22) & (1 << 14), ==, 1 << 14); /* remote IRR */
    wr(f, 0xb0, 0); /* EOI broadcast: still asserted, so delivered again */
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x41);
    irq_set_level(ioapic_input(f->ioapic, 11), 0);
    wr(f, 0xb0, 0);
    g_assert_cmphex(ioapic_rd(f, 0x10 + 22) & (1 << 14), ==, 0);
    g_assert_cmpint(f->intr.level, ==, 0);
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    enable(f);
    /* vectors below 16 are illegal: error status, no delivery */
    wr(f, 0x300, 0x40000 | 0x05);
    g_assert_cmpint(f->intr.level, ==, 0);
    wr(f, 0x280, 0);
    /* reserved registers, odd offsets, garbage IOAPIC selects */
    for (uint32_t off = 0; off < 0x1000; off += 4) {
        if (off == 0x300 || off == 0x380 || off == 0x320 || off == 0xb0) {
            continue;
        }
        mmio_writel(f->mmio, LAPIC_BASE + off, 0xffffffff);
        mmio_readl(f->mmio, LAPIC_BASE + off);
    }
    for (uint32_t sel = 0; sel < 256; sel++) {
        ioapic_rd(f, sel);
    }
    ioapic_set_irq(f->ioapic, 99, 1);
    ioapic_set_irq(f->ioapic, -3, 1);
    wr(f, 0x300, 0x000c0000 | 0x50); /* all excluding self: nobody */
    g_assert_cmpint(lapic_ack(f->lapic) != 0x50, ==, 1);
}

static void test_msi_write(Fixture *f, gconstpointer data)
{
    /* Linux's message for APIC ID 0, physical destination, fixed, edge: address 0xfee00000
     * (offset 0 of the register page doubles as the message window) */
    enable(f);
    mmio_writel(f->mmio, 0xfee00000, 0x0031);
    g_assert_cmpint(f->intr.level, ==, 1);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x31);
    wr(f, 0xb0, 0);
    /* a level-triggered message sets the TMR bit; the 1 MiB window past the registers too */
    mmio_writel(f->mmio, 0xfee00000 | (0xff << 12), 0x8052);
    g_assert_cmphex(rd(f, 0x180 + 0x20), ==, 1u << (0x52 - 0x40));
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x52);
    wr(f, 0xb0, 0);
    /* another physical APIC ID, and a logical destination this APIC is not in: nothing */
    mmio_writel(f->mmio, 0xfee00000 | (1 << 12), 0x0033);
    wr(f, 0xd0, 0x01000000); /* LDR: logical ID bit 0 */
    mmio_writel(f->mmio, 0xfee00000 | (2 << 12) | 4, 0x0034);
    g_assert_cmpint(f->intr.level, ==, 0);
    mmio_writel(f->mmio, 0xfee00000 | (1 << 12) | 4, 0x0035);
    g_assert_cmpint(lapic_ack(f->lapic), ==, 0x35);
    wr(f, 0xb0, 0);
    /* NMI delivery mode */
    mmio_writel(f->mmio, 0xfee00000, 0x0400);
    g_assert_cmpint(f->nmi.raises, ==, 1);
    /* the registers still answer at their offsets; the window past them reads zero */
    g_assert_cmphex(rd(f, 0x30) & 0xff, ==, 0x14);
    g_assert_cmphex(mmio_readl(f->mmio, 0xfee01000), ==, 0);
    LapicInfo info;
    lapic_get_info(f->lapic, &info);
    g_assert_cmpuint(info.msi_received, ==, 4);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/apic/id-version", test_id_version);
    ADD("/apic/msi-write", test_msi_write);
    ADD("/apic/self-ipi-priority-eoi", test_self_ipi_priority_eoi);
    ADD("/apic/timer-oneshot", test_timer_oneshot);
    ADD("/apic/timer-periodic", test_timer_periodic);
    g_test_add_func("/apic/timer-oneshot-running-clock",
                    test_timer_oneshot_never_lost_on_a_running_clock);
    ADD("/apic/tsc-deadline-off", test_tsc_deadline_not_offered);
    ADD("/apic/virtual-wire", test_virtual_wire_extint);
    ADD("/apic/ioapic-routing", test_ioapic_edge_and_level);
    ADD("/apic/bad-input", test_bad_input_contained);
    return g_test_run();
}
