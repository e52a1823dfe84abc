/*
 * The machine as the monitor and the run-state code see it: reset, power button, vCPUs, and
 * what guest-initiated resets and power-offs turn into (-no-reboot, -no-shutdown).
 *
 * The composition root (system/vl.c) installs MachineOps for the machine it built; without a
 * machine (-M none) resets and the power button only emit their events and there is no CPU,
 * as upstream behaves with -M none.
 *
 *   system_reset / guest reboot ──► qemu_system_reset_request(cause)
 *        -no-reboot ──► qemu_system_guest_shutdown(cause)  (as upstream: reset becomes exit)
 *        otherwise  ──► ops.reset, RESET event, a VM that was not running goes to prelaunch
 *   guest power-off ──► qemu_system_guest_shutdown(guest-shutdown)
 *        -no-shutdown ──► SHUTDOWN event, vm_stop(shutdown)   (cont needs a reset first)
 *        otherwise    ──► qemu_system_shutdown_request(): the main loop ends
 *   system_powerdown ──► POWERDOWN event, ops.powerdown (the ACPI power button)
 *
 * A lifecycle hook (COLO's, migration/colo.c) sees a reset before it (and may hold it), after
 * it, and a guest power-off before its action (and may take it over): a COLO secondary never
 * resets or powers off on its own, a COLO primary checkpoints after either.
 */
#ifndef SYSTEM_MACHINE_CONTROL_H
#define SYSTEM_MACHINE_CONTROL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qapi-types.h"

typedef struct VMStateSet VMStateSet; /* include/migration/vmstate.h */

typedef struct MachineOps {
    /* Devices and CPUs back to their power-on state (firmware work redone). */
    bool (*reset)(void *opaque, GError **errp);
    void (*powerdown)(void *opaque);
    guint (*cpu_count)(void *opaque);
    int64_t (*cpu_thread_id)(void *opaque, guint index);
    /* Appends the CPU's registers in `info registers` layout. */
    void (*cpu_dump)(void *opaque, guint index, GString *out);
    /* Appends `info jit`: the translator's code cache and counters. */
    void (*jit_info)(void *opaque, GString *out);
    /* RAM in bytes as -m gave it (after upstream's rounding). */
    uint64_t (*ram_size)(void *opaque);
    /* The VM's device state (clock, devices, CPU): what migration saves and loads. */
    VMStateSet *(*vmstate_set)(void *opaque);
    /* query-pci's reply: a GPtrArray of PciInfo. */
    GPtrArray *(*query_pci)(void *opaque);
    void *opaque;
} MachineOps;

/* NULL: no machine (no CPU; resets only emit events). The struct is copied. */
void machine_control_set_ops(const MachineOps *ops);
/* -no-reboot, -no-shutdown. */
void machine_control_set_actions(bool no_reboot, bool no_shutdown);

typedef enum MachineLifecycle {
    MACHINE_RESET_REQUESTED,    /* before a reset: true holds it (nothing happens, no event) */
    MACHINE_RESET_DONE,         /* after a reset and its RESET event */
    MACHINE_SHUTDOWN_REQUESTED, /* a guest power-off, before its action: true takes it over */
} MachineLifecycle;
/* Called on the main loop; the return value counts only where said above. */
typedef bool (*MachineLifecycleHook)(void *opaque, MachineLifecycle what, ShutdownCause cause);
/* One hook; NULL removes it. */
void machine_control_set_lifecycle_hook(MachineLifecycleHook hook, void *opaque);
/* Whether a guest power-off pauses the VM (-no-shutdown) rather than ending the process. */
bool machine_control_shutdown_pauses(void);

void qemu_system_reset_request(ShutdownCause cause);
void qemu_system_guest_shutdown(ShutdownCause cause);
void qemu_system_powerdown_request(void);

guint machine_cpu_count(void);
int64_t machine_cpu_thread_id(guint index);
/* False if there is no such CPU. */
bool machine_cpu_dump(guint index, GString *out);
/* `info jit` of the machine's CPU; false without a machine. */
bool machine_jit_info(GString *out);
/* 0 without a machine. */
uint64_t machine_ram_size(void);
/* query-pci's reply (PciInfo); empty without a machine or a PCI bus, as upstream's -M none. */
GPtrArray *machine_query_pci(void);
/* The running VM's one VMStateSet; NULL without a machine. Use it with the VM stopped. */
VMStateSet *machine_vmstate_set(void);

#endif
