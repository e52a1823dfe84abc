/* A whole pc VM: RAM, machine, CPU, vCPU thread (include/hw/i386/pc-system.h). */
#include "hw/i386/pc-system.h"
#include "accel/tcg.h"
#include "hw/char/serial-chardev.h"
#include "hw/core/biglock.h"
#include "hw/i386/multiboot.h"
#include "hw/i386/pc-firmware.h"
#include "util/error.h"

#include <stdlib.h>

struct PcSystem {
    PcMachineOptions opts;
    PcSystemEvents events;
    GuestRam *ram;
    DmaSpace dma;
    PcMachine *machine;
    X86CPU *cpu;
    AccelVCPU *vcpu;
    SerialChardev *serial;
    bool running;
    guint clock_source;
    gint reset_pending, poweroff_pending; /* guest requests waiting for the main loop */
    VMStateSet *state;                    /* the whole VM's device state, built at realize */
};

static bool ram_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    PcSystem *sys = opaque;
    return guest_ram_read(sys->ram, gpa, buf, len);
}

static bool ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    PcSystem *sys = opaque;
    return guest_ram_write(sys->ram, gpa, buf, len);
}

static void *ram_map(void *opaque, uint64_t gpa, uint64_t len)
{
    PcSystem *sys = opaque;
    uint8_t *p = guest_ram_host_ptr(sys->ram, gpa, len);
    /* not the firmware ROM, which follows RAM in the block: DMA never writes it */
    return p && p + len <= sys->ram->host + sys->ram->size ? p : NULL;
}

static void ram_written(void *opaque, uint64_t gpa, uint64_t len)
{
    PcSystem *sys = opaque;
    guest_ram_note_store_range(sys->ram, guest_ram_offset(sys->ram, gpa), len);
}

static void cpu_set_irq(void *opaque, bool level)
{
    PcSystem *sys = opaque;
    if (sys->vcpu) {
        accel_vcpu_set_irq(sys->vcpu, level);
    } else if (sys->cpu) {
        x86_cpu_set_irq(sys->cpu, level);
    }
}

static void cpu_nmi(void *opaque)
{
    PcSystem *sys = opaque;
    if (sys->vcpu) {
        accel_vcpu_nmi(sys->vcpu);
    }
}

static gboolean deliver_events(gpointer data)
{
    PcSystem *sys = data;
    if (g_atomic_int_exchange(&sys->poweroff_pending, 0) && sys->events.guest_poweroff) {
        sys->events.guest_poweroff(sys->events.opaque);
    }
    if (g_atomic_int_exchange(&sys->reset_pending, 0) && sys->events.guest_reset) {
        sys->events.guest_reset(sys->events.opaque);
    }
    return G_SOURCE_REMOVE;
}

/* Guest requests arrive on the vCPU thread (inside a bus callback or after a triple fault):
 * the decision belongs to the main loop. High priority: device timers that are always due
 * (a guest spinning after its power-off write) would starve a default idle source. */
static void queue_events(PcSystem *sys)
{
    g_idle_add_full(G_PRIORITY_HIGH, deliver_events, sys, NULL);
}

static void guest_reset_request(void *opaque)
{
    PcSystem *sys = opaque;
    if (!g_atomic_int_exchange(&sys->reset_pending, 1)) {
        queue_events(sys);
    }
}

static void guest_poweroff_request(void *opaque)
{
    PcSystem *sys = opaque;
    if (!g_atomic_int_exchange(&sys->poweroff_pending, 1)) {
        queue_events(sys);
    }
}

static void guest_exit_request(void *opaque, int status)
{
    PcSystem *sys = opaque;
    if (sys->events.guest_exit) {
        sys->events.guest_exit(sys->events.opaque, status);
    } else {
        exit(status);
    }
}

static void vcpu_triple_fault(void *opaque)
{
    guest_reset_request(opaque);
}

PcSystem *pc_system_new(const PcMachineOptions *opts, const PcSystemEvents *events, GError **errp)
{
    PcSystem *sys = g_new0(PcSystem, 1);
    sys->opts = *opts;
    sys->opts.firmware = !opts->kernel;
    if (events) {
        sys->events = *events;
    }
    uint64_t low, high;
    pc_ram_split(opts->ram_size, &low, &high);
    sys->ram = guest_ram_new(opts->ram_size, low, errp);
    if (!sys->ram) {
        g_free(sys);
        return NULL;
    }
    /* Without -kernel the firmware runs, from its ROM below 4 GiB. */
    if (sys->opts.firmware && !pc_firmware_map(sys->ram, opts->bios, errp)) {
        guest_ram_free(sys->ram);
        g_free(sys);
        return NULL;
    }
    sys->dma = (DmaSpace){.read = ram_read,
                          .write = ram_write,
                          .map = ram_map,
                          .written = ram_written,
                          .opaque = sys};
    PcMachineHooks hooks = {
        .ram = &sys->dma,
        .guest_ram = sys->ram,
        .cpu_set_irq = cpu_set_irq,
        .cpu_nmi = cpu_nmi,
        .reset_request = guest_reset_request,
        .poweroff_request = guest_poweroff_request,
        .guest_exit = guest_exit_request,
        .opaque = sys,
    };
    sys->machine = pc_machine_new(&sys->opts, &hooks, errp);
    if (!sys->machine) {
        guest_ram_free(sys->ram);
        g_free(sys);
        return NULL;
    }
    return sys;
}

bool pc_system_device_add(PcSystem *sys, KeyvalList *opts, bool *help_printed, GError **errp)
{
    return pc_machine_device_add(sys->machine, opts, help_printed, errp);
}

bool pc_system_serial(PcSystem *sys, const char *arg, GError **errp)
{
    GError *err = NULL;
    serial_chardev_disconnect(sys->serial);
    sys->serial = serial_chardev_from_arg(pc_machine_serial(sys->machine), 0, arg, &err);
    if (err) {
        g_propagate_error(errp, err);
        return false;
    }
    return true;
}

/* Multiboot's loader leaves its own GDT loaded (written by the loader) and its selectors. */
static void multiboot_cpu_segments(X86CPUState *env)
{
    for (int s = R_ES; s <= R_GS; s++) {
        env->segs[s].selector = s == R_CS ? MULTIBOOT_CODE_SEL : MULTIBOOT_DATA_SEL;
    }
    env->gdt.base = MULTIBOOT_GDT_ADDR;
    env->gdt.limit = 5 * 8 - 1;
}

/* The CPU as firmware would leave it at the PVH entry, or at the reset vector for firmware. */
static void cpu_boot_state(PcSystem *sys)
{
    LinuxBootInfo bi;
    x86_cpu_reset(sys->cpu);
    X86CPUState *env = x86_cpu_env(sys->cpu);
    if (pc_machine_boot_info(sys->machine, &bi)) {
        x86_cpu_setup_flat32(sys->cpu);
        env->rip = bi.entry;
        env->regs[R_EBX] = bi.start_info;
        env->regs[R_EAX] = bi.eax;
        env->regs[R_ECX] = bi.ecx;
        if (bi.multiboot) {
            multiboot_cpu_segments(env);
        }
    }
    x86_cpu_state_changed(sys->cpu);
}

bool pc_system_realize(PcSystem *sys, GError **errp)
{
    if (!pc_machine_realize(sys->machine, errp)) {
        return false;
    }
    sys->cpu = x86_cpu_new(sys->ram, &pc_machine_cpu_bus, sys->machine);
    x86_cpu_set_apic_present(sys->cpu, true);
    if (!x86_cpu_set_jit(sys->cpu, !sys->opts.no_jit, errp)) {
        return false;
    }
    cpu_boot_state(sys);
    sys->vcpu = accel_vcpu_new(sys->cpu, vcpu_triple_fault, sys, errp);
    if (!sys->vcpu) {
        return false;
    }
    pc_machine_set_running(sys->machine, false);
    sys->clock_source = pc_machine_attach(sys->machine, NULL);
    /* The clock first: devices' timers and timestamps are loaded against its time. */
    sys->state = vmstate_set_new();
    vmstate_set_add(sys->state, "clock", 0, &vmstate_hw_clock, pc_machine_clock(sys->machine));
    pc_machine_add_vmstate(sys->machine, sys->state);
    vmstate_set_add(sys->state, "cpu", 0, &vmstate_x86_cpu, sys->cpu);
    return true;
}

VMStateSet *pc_system_vmstate_set(PcSystem *sys)
{
    return sys->state;
}

void pc_system_start(PcSystem *sys)
{
    if (sys->running || !sys->vcpu) {
        return;
    }
    sys->running = true;
    pc_machine_set_running(sys->machine, true);
    accel_vcpu_start(sys->vcpu);
}

/* Pausing waits for the vCPU to stop, and the vCPU may be waiting for the big lock. */
static void pause_vcpu(PcSystem *sys)
{
    int held = bql_unlock_all();
    accel_vcpu_pause(sys->vcpu);
    bql_relock(held);
}

void pc_system_stop(PcSystem *sys)
{
    if (!sys->running) {
        return;
    }
    sys->running = false;
    pause_vcpu(sys);
    pc_machine_set_running(sys->machine, false);
}

bool pc_system_reset(PcSystem *sys, GError **errp)
{
    bool was_running = sys->running;
    if (sys->vcpu && was_running) {
        pause_vcpu(sys);
    }
    bool ok = pc_machine_reset(sys->machine, errp);
    if (sys->cpu) {
        cpu_boot_state(sys);
    }
    if (sys->vcpu && was_running) {
        accel_vcpu_resume(sys->vcpu);
    }
    return ok;
}

void pc_system_powerdown(PcSystem *sys)
{
    pc_machine_powerdown(sys->machine);
}

void pc_system_free(PcSystem *sys)
{
    if (!sys) {
        return;
    }
    if (sys->vcpu) {
        int held = bql_unlock_all();
        accel_vcpu_free(sys->vcpu);
        bql_relock(held);
    }
    if (sys->clock_source) {
        g_source_remove(sys->clock_source);
    }
    g_idle_remove_by_data(sys);
    vmstate_set_free(sys->state);
    serial_chardev_disconnect(sys->serial);
    if (sys->cpu) {
        x86_cpu_free(sys->cpu);
    }
    pc_machine_free(sys->machine);
    guest_ram_free(sys->ram);
    g_free(sys);
}

PcMachine *pc_system_machine(PcSystem *sys)
{
    return sys->machine;
}

X86CPU *pc_system_cpu(PcSystem *sys)
{
    return sys->cpu;
}

GuestRam *pc_system_ram(PcSystem *sys)
{
    return sys->ram;
}

uint64_t pc_system_icount(PcSystem *sys)
{
    return sys->vcpu ? accel_vcpu_icount(sys->vcpu) : 0;
}

void pc_system_vcpu_info(PcSystem *sys, GString *out)
{
    if (!sys->vcpu) {
        return;
    }
    AccelVCPUStats st;
    accel_vcpu_get_stats(sys->vcpu, &st);
    g_string_append_printf(out,
                           "vCPU thread         instructions %" G_GUINT64_FORMAT
                           ", slices %" G_GUINT64_FORMAT ", hlt %" G_GUINT64_FORMAT
                           " (slept in %" G_GUINT64_FORMAT ")\n",
                           accel_vcpu_icount(sys->vcpu), st.slices, st.hlt_exits, st.halted_waits);
}

int64_t pc_system_cpu_thread_id(PcSystem *sys)
{
    return sys->vcpu ? accel_vcpu_thread_id(sys->vcpu) : 0;
}
