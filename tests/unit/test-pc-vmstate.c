/*
 * The pc machine's device state through its VMStateSet: every device programmed away from its
 * reset state, saved, loaded into a second machine, and then both machines answer the same
 * sequence of guest reads alike (and unlike a fresh machine); timers are armed alike. A damaged
 * stream leaves the second machine as it was. With the Debian test guest: a Linux VM paused,
 * saved and loaded into a second VM+CPU in this process goes on running its shell there.
 */
#include "hw/acpi/acpi-tables.h"
#include "hw/acpi/piix4-pm.h"
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc-system.h"
#include "hw/i386/pc.h"
#include "hw/intc/apic.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818rtc.h"
#include "hw/virtio/virtio-pci.h"
#include "target/i386/cpu.h"
#include "util/error.h"
#include "tests/include/flat-ram.h"

#include "io-helpers.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE   (64u << 20)
#define LAPIC_BASE 0xfee00000ull
#define IOAPIC     0xfec00000ull
#define NIC_DEVFN  PCI_DEVFN(2, 0) /* after the southbridge in slot 1 */

typedef struct Vm {
    uint8_t *ram;
    FlatRam flat;
    DmaSpace dma;
    PcMachine *m;
    VMStateSet *set;
    int cpu_irq;
} Vm;

static void cpu_set_irq(void *opaque, bool level)
{
    ((Vm *)opaque)->cpu_irq = level;
}

static bool nic_attach(void *opaque, VirtIONet *nic, const char *netdev, const char *name,
                       GError **errp)
{
    return true;
}

static void vm_init(Vm *vm)
{
    vm->ram = g_malloc0(RAM_SIZE);
    vm->flat = (FlatRam){.base = vm->ram, .size = RAM_SIZE};
    vm->dma = flat_ram_dma(&vm->flat);
    PcMachineHooks hooks = {
        .ram = &vm->dma, .cpu_set_irq = cpu_set_irq, .nic_attach = nic_attach, .opaque = vm};
    PcMachineOptions opts = {.ram_size = RAM_SIZE, .acpi = true};
    GError *err = NULL;
    vm->m = pc_machine_new(&opts, &hooks, &err);
    g_assert_no_error(err);
    g_autoptr(KeyvalList) kv =
        keyval_parse("virtio-net-pci,netdev=hn0", "driver", KEYVAL_OPTS, &err);
    g_assert_no_error(err);
    bool help = false;
    g_assert_true(pc_machine_device_add(vm->m, kv, &help, &err));
    g_assert_no_error(err);
    g_assert_true(pc_machine_realize(vm->m, &err));
    g_assert_no_error(err);
    pc_machine_set_running(vm->m, false); /* time stands still between save and compare */
    vm->set = vmstate_set_new();
    vmstate_set_add(vm->set, "clock", 0, &vmstate_hw_clock, pc_machine_clock(vm->m));
    pc_machine_add_vmstate(vm->m, vm->set);
}

static void vm_destroy(Vm *vm)
{
    vmstate_set_free(vm->set);
    pc_machine_free(vm->m);
    g_free(vm->ram);
}

static uint64_t nic_bar(Vm *vm)
{
    IoSpace *io = pc_machine_io(vm->m);
    uint64_t lo = pci_cfg_read(io, NIC_DEVFN, 0x10 + 4 * VIRTIO_PCI_BAR, 4) & ~0xfull;
    uint64_t hi = pci_cfg_read(io, NIC_DEVFN, 0x14 + 4 * VIRTIO_PCI_BAR, 4);
    return lo | hi << 32;
}

/* What a guest driver leaves behind in every device. */
static void program_devices(Vm *vm)
{
    IoSpace *io = pc_machine_io(vm->m), *mmio = pc_machine_mmio(vm->m);
    /* PIC pair: vector bases 0x30/0x38, masks, IRQ 5 level-triggered */
    static const uint8_t icw[] = {0x11, 0x30, 0x04, 0x01};
    outb(io, 0x20, icw[0]);
    for (int i = 1; i < 4; i++) {
        outb(io, 0x21, icw[i]);
    }
    outb(io, 0xa0, 0x11);
    outb(io, 0xa1, 0x38);
    outb(io, 0xa1, 0x02);
    outb(io, 0xa1, 0x01);
    outb(io, 0x21, 0xb8);
    outb(io, 0xa1, 0x7e);
    outb(io, 0x4d0, 0x20);
    /* PIT channel 0 rate generator, channel 2 gated on with the speaker */
    outb(io, 0x43, 0x34);
    outb(io, 0x40, 0x9c);
    outb(io, 0x40, 0x2e);
    outb(io, 0x61, 0x03);
    /* RTC: periodic interrupt at 1024 Hz, a CMOS byte */
    indexed_write(io, 0x70, 0x71, 0x0a, 0x26, 1);
    indexed_write(io, 0x70, 0x71, 0x0b, 0x42, 1);
    indexed_write(io, 0x70, 0x71, 0x40, 0x5a, 1);
    /* COM1: 38400 8N1, FIFO on, RX interrupt, scratch, two bytes waiting */
    outb(io, 0x3fb, 0x80);
    outb(io, 0x3f8, 0x03);
    outb(io, 0x3f9, 0x00);
    outb(io, 0x3fb, 0x03);
    outb(io, 0x3fa, 0x01);
    outb(io, 0x3f9, 0x01);
    outb(io, 0x3ff, 0xa5);
    serial_receive(pc_machine_serial(vm->m), (const uint8_t *)"hi", 2);
    /* i8042 command byte */
    outb(io, 0x64, 0x60);
    outb(io, 0x60, 0x45);
    /* LAPIC: enabled, TPR, a periodic timer */
    mmio_writel(mmio, LAPIC_BASE + 0xf0, 0x1ff);
    mmio_writel(mmio, LAPIC_BASE + 0x80, 0x20);
    mmio_writel(mmio, LAPIC_BASE + 0x3e0, 0x3);
    mmio_writel(mmio, LAPIC_BASE + 0x320, 0x20030);
    mmio_writel(mmio, LAPIC_BASE + 0x380, 0x100000);
    /* IOAPIC pin 4 routed to vector 0x31, masked off */
    mmio_writel(mmio, IOAPIC, 0x10 + 2 * 4);
    mmio_writel(mmio, IOAPIC + 0x10, 0x00000031);
    /* ACPI PM: power button enabled */
    outw(io, ACPI_PM1_EVT + 2, 0x0100);
    /* virtio-net: status, features, queue 1 addresses */
    uint64_t bar = nic_bar(vm);
    mmio_writel(mmio, bar + 0x14, 0x03); /* ACKNOWLEDGE | DRIVER (byte register) */
    mmio_writel(mmio, bar + 0x08, 1);    /* guest feature select: high word */
    mmio_writel(mmio, bar + 0x0c, 1);    /* VERSION_1 */
    io_space_write(mmio, bar + 0x16, 1, 2);
    io_space_write(mmio, bar + 0x18, 128, 2);
    mmio_writel(mmio, bar + 0x20, 0x100000);
    mmio_writel(mmio, bar + 0x28, 0x101000);
    mmio_writel(mmio, bar + 0x30, 0x102000);
    outl(io, 0xcf8, 0x80000800); /* a config address left latched */
}

/* The same reads, in the same order, on any machine: what the guest would see. */
static GArray *observe(Vm *vm)
{
    IoSpace *io = pc_machine_io(vm->m), *mmio = pc_machine_mmio(vm->m);
    GArray *a = g_array_new(FALSE, TRUE, sizeof(uint64_t));
#define SEE(v)                                                                                     \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        g_array_append_val(a, v_);                                                                 \
    } while (0)
    SEE(inl(io, 0xcf8));
    SEE(inb(io, 0x21));
    SEE(inb(io, 0xa1));
    SEE(inb(io, 0x4d0));
    outb(io, 0x20, 0x0b); /* OCW3: read ISR */
    SEE(inb(io, 0x20));
    outb(io, 0x43, 0x00); /* latch channel 0 */
    SEE(inb(io, 0x40) | inb(io, 0x40) << 8);
    SEE(inb(io, 0x61) & 0x13); /* gate, speaker, refresh toggling aside */
    for (int r = 0x0a; r <= 0x0d; r++) {
        SEE(indexed_read(io, 0x70, 0x71, r, 1));
    }
    SEE(indexed_read(io, 0x70, 0x71, 0x40, 1));
    SEE(inb(io, 0x3f9));
    SEE(inb(io, 0x3fb));
    SEE(inb(io, 0x3fd));
    SEE(inb(io, 0x3ff));
    SEE(inb(io, 0x3f8)); /* the queued bytes, in order */
    SEE(inb(io, 0x3f8));
    outb(io, 0x64, 0x20);
    SEE(inb(io, 0x60));
    static const unsigned lapic_regs[] = {0x80, 0xf0, 0x320, 0x380, 0x3e0, 0x350, 0x360};
    for (size_t i = 0; i < G_N_ELEMENTS(lapic_regs); i++) {
        SEE(mmio_readl(mmio, LAPIC_BASE + lapic_regs[i]));
    }
    SEE(mmio_readl(mmio, LAPIC_BASE + 0x390)); /* current count: the clock stands still */
    mmio_writel(mmio, IOAPIC, 0x10 + 2 * 4);
    SEE(mmio_readl(mmio, IOAPIC + 0x10));
    SEE(inw(io, ACPI_PM1_EVT + 2));
    SEE(inw(io, ACPI_PM1_CNT));
    SEE(inl(io, ACPI_PM_TMR));
    for (int reg = 0; reg < 0x40; reg += 4) {
        SEE(pci_cfg_read(io, NIC_DEVFN, reg, 4));
        SEE(pci_cfg_read(io, 0, reg, 4));
    }
    uint64_t bar = nic_bar(vm);
    SEE(io_space_read(mmio, bar + 0x14, 1));
    SEE(mmio_readl(mmio, bar + 0x0c));
    io_space_write(mmio, bar + 0x16, 1, 2);
    for (int off = 0x18; off <= 0x30; off += 4) {
        SEE(mmio_readl(mmio, bar + off));
    }
    SEE(hw_clock_ns(pc_machine_clock(vm->m)));
    SEE(hw_clock_next_deadline(pc_machine_clock(vm->m)));
#undef SEE
    return a;
}

static void assert_same(GArray *a, GArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++) {
        if (g_array_index(a, uint64_t, i) != g_array_index(b, uint64_t, i)) {
            g_error("observation %u: 0x%" G_GINT64_MODIFIER "x vs 0x%" G_GINT64_MODIFIER "x", i,
                    g_array_index(a, uint64_t, i), g_array_index(b, uint64_t, i));
        }
    }
}

static guint count_differences(GArray *a, GArray *b)
{
    guint n = 0;
    for (guint i = 0; i < a->len; i++) {
        n += g_array_index(a, uint64_t, i) != g_array_index(b, uint64_t, i);
    }
    return n;
}

static void test_machine_round_trip(void)
{
    Vm a = {0}, b = {0}, fresh = {0};
    vm_init(&a);
    program_devices(&a);
    g_autoptr(GByteArray) s = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(a.set, s, &err));
    g_test_message("%u sections, %u bytes", vmstate_set_len(a.set), s->len);

    g_usleep(20000); /* the second machine's clock is elsewhere in time */
    vm_init(&b);
    g_assert_true(vmstate_set_load(b.set, s->data, s->len, &err));
    g_assert_no_error(err);

    g_autoptr(GArray) seen_a = observe(&a);
    g_autoptr(GArray) seen_b = observe(&b);
    assert_same(seen_a, seen_b);
    vm_init(&fresh);
    g_autoptr(GArray) seen_fresh = observe(&fresh);
    g_assert_cmpuint(count_differences(seen_a, seen_fresh), >=, 25);
    /* the loaded machine's CPU line follows the loaded LAPIC */
    g_assert_cmpint(a.cpu_irq, ==, b.cpu_irq);

    /* Time moves on alike: the PIT, RTC and LAPIC timers fire at the same virtual times. */
    uint64_t deadline = hw_clock_next_deadline(pc_machine_clock(a.m));
    g_assert_cmpuint(deadline, !=, INT64_MAX);
    vm_destroy(&a);
    vm_destroy(&b);
    vm_destroy(&fresh);
}

static void test_bad_stream_leaves_machine(void)
{
    Vm a = {0}, b = {0};
    vm_init(&a);
    program_devices(&a);
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_assert_true(vmstate_set_save(a.set, s, NULL));
    vm_init(&b);
    g_array_unref(observe(&b)); /* observing leaves its own traces (config address, FIFOs) */
    g_autoptr(GArray) before = observe(&b);

    /* cut anywhere: refused */
    for (gsize cut = 0; cut < s->len; cut += 97) {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmstate_set_load(b.set, s->data, cut, &err));
        g_assert_nonnull(err);
    }
    /* the PIT's count as 0 (it divides): refused by its check, after the PIC loaded fine */
    GError *err = NULL;
    g_autoptr(GByteArray) bad = g_byte_array_new();
    g_byte_array_append(bad, s->data, s->len);
    const guint8 pit_id[] = {5, 'i', '8', '2', '5', '4'};
    guint8 *p = memmem(bad->data, bad->len, pit_id, sizeof(pit_id));
    g_assert_nonnull(p);
    memset(p + sizeof(pit_id) + 12, 0, 4); /* channel 0's count */
    g_assert_false(vmstate_set_load(b.set, bad->data, bad->len, &err));
    g_assert_cmpstr(err->message, ==, "i8254: channel 0: count 0 or mode 2 out of range");
    g_clear_error(&err);

    g_autoptr(GArray) after = observe(&b);
    assert_same(before, after);
    vm_destroy(&a);
    vm_destroy(&b);
}

/* --- timers after a load ----------------------------------------------------------------- */

/* One timer device on a manual clock, with its output probed and its registers on `io`. */
typedef struct TimerRig {
    HwClock *clock;
    IoSpace *io, *mmio;
    IrqProbe irq, nmi;
    I8254State *pit;
    RtcState *rtc;
    LapicState *lapic;
    VMStateSet *set;
} TimerRig;

static void rig_init(TimerRig *r, int64_t start_ns)
{
    r->clock = hw_clock_new_manual();
    hw_clock_advance(r->clock, start_ns);
    r->io = io_space_new("io", 0x10000);
    r->mmio = io_space_new("mmio", 1ull << 52);
    irq_probe_init(&r->irq, 0);
    irq_probe_init(&r->nmi, 0);
    r->pit = i8254_new(r->clock, &r->irq.line);
    r->rtc = mc146818_new(r->clock, &r->irq.line, 1700000000);
    r->lapic = lapic_new(r->clock, 0, &r->irq.line, &r->nmi.line);
    g_assert_true(i8254_register_ports(r->pit, r->io, NULL));
    g_assert_true(mc146818_register_ports(r->rtc, r->io, NULL));
    g_assert_true(lapic_register_mmio(r->lapic, r->mmio, NULL));
    r->set = vmstate_set_new();
    vmstate_set_add(r->set, "clock", 0, &vmstate_hw_clock, r->clock);
    vmstate_set_add(r->set, "i8254", 0, i8254_device.vmsd, r->pit);
    vmstate_set_add(r->set, "rtc", 0, mc146818_device.vmsd, r->rtc);
    vmstate_set_add(r->set, "apic", 0, lapic_device.vmsd, r->lapic);
}

static void rig_destroy(TimerRig *r)
{
    vmstate_set_free(r->set);
    lapic_free(r->lapic);
    mc146818_free(r->rtc);
    i8254_free(r->pit);
    io_space_free(r->io);
    io_space_free(r->mmio);
    hw_clock_free(r->clock);
}

/* Each device on its own: its interrupts over the next 50 ms, counted in 1 ms steps. */
static void run_and_count(TimerRig *r, int which, int *edges, uint32_t *lapic_count)
{
    for (int ms = 0; ms < 50; ms++) {
        hw_clock_advance(r->clock, 1000000);
        if (which == 2) {
            lapic_ack(r->lapic); /* take the vector so the next one can come */
            mmio_writel(r->mmio, LAPIC_BASE + 0xb0, 0);
        }
        if (which == 1 && indexed_read(r->io, 0x70, 0x71, 0x0c, 1)) {
            continue; /* reading C acknowledges the RTC's interrupt */
        }
    }
    *edges = r->irq.edges;
    *lapic_count = mmio_readl(r->mmio, LAPIC_BASE + 0x390);
}

static void test_timers_after_load(void)
{
    for (int which = 0; which < 3; which++) {
        TimerRig a, b;
        rig_init(&a, 5 * NANOSECONDS_PER_SECOND);
        switch (which) {
        case 0: /* PIT channel 0, rate generator, ~1 kHz */
            outb(a.io, 0x43, 0x34);
            outb(a.io, 0x40, 0xa9);
            outb(a.io, 0x40, 0x04);
            break;
        case 1: /* RTC periodic interrupt at 1024 Hz */
            indexed_write(a.io, 0x70, 0x71, 0x0a, 0x26, 1);
            indexed_write(a.io, 0x70, 0x71, 0x0b, 0x42, 1);
            break;
        default: /* LAPIC periodic timer, ~1.3 ms */
            mmio_writel(a.mmio, LAPIC_BASE + 0xf0, 0x1ff);
            mmio_writel(a.mmio, LAPIC_BASE + 0x3e0, 0xb); /* divide by 1 */
            mmio_writel(a.mmio, LAPIC_BASE + 0x320, 0x20030);
            mmio_writel(a.mmio, LAPIC_BASE + 0x380, 1300000);
            break;
        }
        hw_clock_advance(a.clock, 3300000); /* mid-period */
        g_autoptr(GByteArray) s = g_byte_array_new();
        g_assert_true(vmstate_set_save(a.set, s, NULL));

        rig_init(&b, 1 * NANOSECONDS_PER_SECOND); /* another host, another time */
        GError *err = NULL;
        g_assert_true(vmstate_set_load(b.set, s->data, s->len, &err));
        g_assert_no_error(err);
        g_assert_cmpint(hw_clock_ns(b.clock), ==, hw_clock_ns(a.clock));
        g_assert_cmpint(hw_clock_next_deadline(b.clock), ==, hw_clock_next_deadline(a.clock));

        a.irq.edges = b.irq.edges = 0;
        int edges_a, edges_b;
        uint32_t count_a, count_b;
        run_and_count(&a, which, &edges_a, &count_a);
        run_and_count(&b, which, &edges_b, &count_b);
        g_test_message("device %d: %d interrupts in 50 ms on both", which, edges_a);
        g_assert_cmpint(edges_a, >=, 30); /* the timer was running, and still is */
        g_assert_cmpint(edges_b, ==, edges_a);
        g_assert_cmpuint(count_b, ==, count_a);
        rig_destroy(&a);
        rig_destroy(&b);
    }
}

/* --- guest time across a save and load ------------------------------------------------- */

typedef struct GuestTime {
    uint64_t tsc;
    uint32_t pm;
} GuestTime;

/* What a guest reads from its two clocksources: the TSC and the ACPI PM timer. */
static GuestTime guest_time(PcSystem *sys)
{
    X86CPUState st;
    x86_cpu_get_state(pc_system_cpu(sys), &st);
    uint32_t pm = inl(pc_machine_io(pc_system_machine(sys)), ACPI_PM_TMR);
    return (GuestTime){.tsc = st.tsc_offset, .pm = pm};
}

static PcSystem *parked_vm_new(void)
{
    PcMachineOptions opts = {.ram_size = 16u << 20, .acpi = true};
    PcSystemEvents ev = {0};
    GError *err = NULL;
    PcSystem *sys = pc_system_new(&opts, &ev, &err);
    g_assert_no_error(err);
    g_assert_true(pc_system_realize(sys, &err));
    g_assert_no_error(err);
    return sys;
}

/* What SeaBIOS does first (piix4_pm_setup): the PM block at 0x600 through 00:01.3's PMBA and
 * PMREGMISC. Done on the source only: the destination's block follows the loaded config. */
static void place_pm_block(PcSystem *sys)
{
    IoSpace *io = pc_machine_io(pc_system_machine(sys));
    pci_cfg_write(io, PCI_DEVFN(1, 3), PIIX4_PM_PMBA, ACPI_PM_BASE | 1, 4);
    pci_cfg_write(io, PCI_DEVFN(1, 3), PIIX4_PM_PMREGMISC, 1, 1);
}

/* The PM timer's ticks (3.579545 MHz) as ns. */
static int64_t pm_ns(uint32_t ticks)
{
    return (int64_t)ticks * NANOSECONDS_PER_SECOND / ACPI_PM_TIMER_FREQ;
}

/*
 * A guest sees time go on as if it had only been paused: while the VM is stopped (before the
 * save, between save and load, loaded but not yet started) neither the TSC nor the PM timer
 * moves, and once running again both advance by the same amount. Linux's clocksource watchdog
 * marks the TSC unstable when the two disagree by more than a few tens of ms.
 */
static void test_time_continues_after_load(void)
{
    device_types_clear();
    hw_register_types();
    bql_attach_context(NULL);
    bql_lock();
    const gulong pause_us = 300 * 1000;

    PcSystem *a = parked_vm_new();
    place_pm_block(a);
    pc_system_start(a);
    g_usleep(50 * 1000);
    pc_system_stop(a);
    GuestTime before = guest_time(a);
    g_usleep(pause_us); /* stopped: a guest would not see this */
    GuestTime stopped = guest_time(a);
    g_assert_cmpuint(stopped.tsc, ==, before.tsc);
    g_assert_cmpuint(stopped.pm, ==, before.pm);
    g_assert_cmphex(before.pm, !=, 0xffffffff); /* the block is there */

    g_autoptr(GByteArray) s = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(pc_system_vmstate_set(a), s, &err));
    g_usleep(pause_us); /* the stream travels */
    PcSystem *b = parked_vm_new();
    g_assert_true(vmstate_set_load(pc_system_vmstate_set(b), s->data, s->len, &err));
    g_assert_no_error(err);
    g_usleep(pause_us); /* loaded, not yet started */
    GuestTime loaded = guest_time(b);
    int64_t tsc_gap = (int64_t)(loaded.tsc - before.tsc);
    int64_t pm_gap = pm_ns((uint32_t)(loaded.pm - before.pm));
    g_test_message("across the load: TSC %" PRId64 " ns, PM timer %" PRId64 " ns", tsc_gap, pm_gap);
    g_assert_cmpint(tsc_gap, >=, 0);
    g_assert_cmpint(tsc_gap, <, 1000 * 1000);
    g_assert_cmpint(pm_gap, <, 1000 * 1000);

    /* running in B: both sources advance alike */
    pc_system_start(b);
    g_usleep(200 * 1000);
    pc_system_stop(b);
    GuestTime ran = guest_time(b);
    int64_t tsc_run = (int64_t)(ran.tsc - loaded.tsc);
    int64_t pm_run = pm_ns((uint32_t)(ran.pm - loaded.pm));
    g_test_message("running in B: TSC %" PRId64 " ns, PM timer %" PRId64 " ns", tsc_run, pm_run);
    g_assert_cmpint(tsc_run, >=, 200 * 1000 * 1000);
    g_assert_cmpint(llabs(tsc_run - pm_run), <, 1000 * 1000);

    pc_system_free(b);
    pc_system_free(a);
    bql_unlock();
    device_types_clear();
}

/* --- a Linux guest moved between two VMs ------------------------------------------------ */

typedef struct LinuxVm {
    PcSystem *sys;
    GString *console;
} LinuxVm;

static void console_write(void *opaque, const uint8_t *buf, int len)
{
    g_string_append_len(((LinuxVm *)opaque)->console, (const char *)buf, len);
}

static void linux_vm_new(LinuxVm *vm, const char *kernel, const char *initrd)
{
    PcMachineOptions opts = {.ram_size = 256u << 20,
                             .kernel = kernel,
                             .initrd = initrd,
                             /* no_timer_check: tests/functional/lib/guest.py says why */
                             .append = "console=ttyS0 no_timer_check quiet qc.name=vmstate",
                             .acpi = true,
                             /* the translator unless PC_VMSTATE_LINUX=jit=off */
                             .no_jit = g_strcmp0(g_getenv("PC_VMSTATE_LINUX"), "jit=off") == 0};
    PcSystemEvents ev = {0};
    GError *err = NULL;
    vm->console = g_string_new(NULL);
    vm->sys = pc_system_new(&opts, &ev, &err);
    g_assert_no_error(err);
    SerialBackend be = {.write = console_write, .opaque = vm};
    serial_set_backend(pc_machine_serial(pc_system_machine(vm->sys)), &be);
    g_assert_true(pc_system_realize(vm->sys, &err));
    g_assert_no_error(err);
}

static bool wait_console(LinuxVm *vm, const char *text, int seconds)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
    while (!strstr(vm->console->str, text) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return strstr(vm->console->str, text) != NULL;
}

/* Types a line into the guest's console, as fast as its UART takes it. */
static void type_line(LinuxVm *vm, const char *line)
{
    SerialState *s = pc_machine_serial(pc_system_machine(vm->sys));
    gsize len = strlen(line), done = 0;
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (done < len && g_get_monotonic_time() < deadline) {
        int n = MIN(serial_can_receive(s), (int)(len - done));
        if (n > 0) {
            serial_receive(s, (const uint8_t *)line + done, n);
            done += n;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(done, ==, len);
}

static void copy_ram(PcSystem *from, PcSystem *to, uint64_t size)
{
    g_autofree uint8_t *buf = g_malloc(1u << 20);
    for (uint64_t gpa = 0; gpa < size; gpa += 1u << 20) {
        g_assert_true(guest_ram_read(pc_system_ram(from), gpa, buf, 1u << 20));
        g_assert_true(guest_ram_write(pc_system_ram(to), gpa, buf, 1u << 20));
    }
}

static const char *guest_file(const char *name)
{
    static char path[4096];
    const char *builddir = g_getenv("G_TEST_BUILDDIR");
    g_autofree char *p =
        g_build_filename(builddir ? builddir : ".", "..", "..", "guest", name, NULL);
    g_strlcpy(path, p, sizeof(path));
    return path;
}

static void test_linux_moves(void)
{
    const char *kernel_path = guest_file("vmlinuz");
    g_autofree char *kernel = g_strdup(kernel_path);
    g_autofree char *initrd = g_strdup(guest_file("initrd.img"));
    /* the guest comes from tests/guest/build-guest (make guest); without it this test fails */
    g_assert_true(g_file_test(kernel, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(initrd, G_FILE_TEST_EXISTS));
    device_types_clear();
    hw_register_types();
    bql_attach_context(NULL);
    bql_lock();

    LinuxVm a = {0}, b = {0};
    linux_vm_new(&a, kernel, initrd);
    pc_system_start(a.sys);
    if (!wait_console(&a, "QC-GUEST-READY", 240)) {
        g_error("no ready marker in 240 s; console tail:\n%s",
                a.console->str + (a.console->len > 3000 ? a.console->len - 3000 : 0));
    }
    type_line(&a, "echo before-$((2+3))\n");
    g_assert_true(wait_console(&a, "before-5", 60));

    pc_system_stop(a.sys);
    g_autoptr(GByteArray) s = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(pc_system_vmstate_set(a.sys), s, &err));
    g_test_message("device state: %u bytes", s->len);

    linux_vm_new(&b, kernel, initrd);
    copy_ram(a.sys, b.sys, 256u << 20);
    g_assert_true(vmstate_set_load(pc_system_vmstate_set(b.sys), s->data, s->len, &err));
    g_assert_no_error(err);
    pc_system_start(b.sys);
    /* the shell that ran in A answers in B; A stays stopped */
    type_line(&b, "echo after-$((6*7)) $(cat /proc/uptime)\n");
    g_assert_true(wait_console(&b, "after-42", 60));
    /* timers tick there: sleep returns */
    type_line(&b, "sleep 1; echo slept-$((1+1))\n");
    g_assert_true(wait_console(&b, "slept-2", 60));
    g_assert_null(strstr(a.console->str, "after-42"));
    /* B did not boot on its own: its console has nothing from a boot */
    g_assert_null(strstr(b.console->str, "QC-GUEST"));
    g_test_message("B's console: %s", b.console->str);

    pc_system_free(b.sys);
    pc_system_free(a.sys);
    g_string_free(a.console, TRUE);
    g_string_free(b.console, TRUE);
    bql_unlock();
    device_types_clear();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    hw_register_types();
    /* The Linux case is a test of its own in meson (longer timeout, not in the ASan tree): it is
     * registered only there, so that neither run reports the other's cases as skipped. */
    if (g_getenv("PC_VMSTATE_LINUX")) {
        g_test_add_func("/pc-vmstate/linux-moves", test_linux_moves);
    } else {
        g_test_add_func("/pc-vmstate/machine-round-trip", test_machine_round_trip);
        g_test_add_func("/pc-vmstate/bad-stream-leaves-machine", test_bad_stream_leaves_machine);
        g_test_add_func("/pc-vmstate/timers-after-load", test_timers_after_load);
        g_test_add_func("/pc-vmstate/time-continues-after-load", test_time_continues_after_load);
    }
    return g_test_run();
}
