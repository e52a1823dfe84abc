/*
 * A whole `-M pc` VM for the composition root: guest RAM (memory/), the pc machine, the
 * software CPU and its vCPU thread (accel/tcg), wired together. system/vl.c creates one, adds
 * the -device and -serial options, realizes it, and maps run-state changes and the guest's
 * reset / power-off requests onto it:
 *
 *   pc_system_new(opts, events)      RAM and devices           (-m, -kernel, -initrd, -append)
 *   pc_system_device_add(-device)    in command-line order
 *   pc_system_serial(-serial ARG)    COM1 on a chardev, or none
 *   pc_machine_add_nic_requests(pc_system_machine(sys))   the NICs of -nic
 *   pc_system_realize()              firmware data, CPU at the kernel's entry, vCPU thread
 *                                    created stopped, timers on the default main context
 *   pc_system_start() / _stop()      vm_start / vm_stop (the virtual clock follows)
 *   events.guest_reset   ─► root: -no-reboot ? shutdown : pc_system_reset()
 *   events.guest_poweroff ─► root: shutdown request (or pause with -no-shutdown)
 *   pc_system_reset()                system_reset: devices, firmware data and CPU
 *   pc_system_powerdown()            system_powerdown: the ACPI power button
 *   pc_system_vmstate_set()          the VM's device state: clock, devices, CPU (after realize)
 *
 * Everything here runs on the main loop's thread holding the big lock (hw/core/biglock.h);
 * events are delivered there too, from an idle callback, whichever thread the guest used.
 */
#ifndef HW_I386_PC_SYSTEM_H
#define HW_I386_PC_SYSTEM_H

#include <glib.h>
#include <stdbool.h>

#include "hw/i386/pc.h"
#include "memory/ram.h"
#include "target/i386/cpu.h"

typedef struct PcSystem PcSystem;

typedef struct PcSystemEvents {
    void (*guest_reset)(void *opaque);
    void (*guest_poweroff)(void *opaque);
    /* isa-debug-exit, called on the vCPU thread: ends the process (NULL: exit()). */
    void (*guest_exit)(void *opaque, int status);
    void *opaque;
} PcSystemEvents;

PcSystem *pc_system_new(const PcMachineOptions *opts, const PcSystemEvents *events, GError **errp);
void pc_system_free(PcSystem *sys);
bool pc_system_device_add(PcSystem *sys, KeyvalList *opts, bool *help_printed, GError **errp);
/* -serial ARG for COM1 ("none", "chardev:ID", "stdio", ...). */
bool pc_system_serial(PcSystem *sys, const char *arg, GError **errp);
bool pc_system_realize(PcSystem *sys, GError **errp);
void pc_system_start(PcSystem *sys);
void pc_system_stop(PcSystem *sys);
bool pc_system_reset(PcSystem *sys, GError **errp);
void pc_system_powerdown(PcSystem *sys);

/*
 * Every section of the VM (include/migration/vmstate.h), in load order: the virtual clock,
 * the machine's devices in list order, then the CPU. NULL before pc_system_realize; owned by
 * sys. Save and load it with the VM stopped (pc_system_stop) and the big lock held.
 */
VMStateSet *pc_system_vmstate_set(PcSystem *sys);

PcMachine *pc_system_machine(PcSystem *sys);
X86CPU *pc_system_cpu(PcSystem *sys);
GuestRam *pc_system_ram(PcSystem *sys);
/* Instructions the vCPU executed so far. */
uint64_t pc_system_icount(PcSystem *sys);
/* Appends one `info jit` line of the vCPU thread's own counts: instructions, slices, hlt
 * exits and the halts it slept in (nothing before pc_system_realize). */
void pc_system_vcpu_info(PcSystem *sys, GString *out);
/* The vCPU thread's host id (0 before pc_system_realize). */
int64_t pc_system_cpu_thread_id(PcSystem *sys);

#endif
