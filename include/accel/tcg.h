/*
 * The tcg accelerator: one thread per vCPU running the software CPU (target/i386), with
 * pause/resume for the monitor, migration and COLO checkpoints, and halt/wake on
 * interrupts.
 *
 *             accel_vcpu_start()
 *   STOPPED ───────────────────────► RUNNING ◄──────────┐
 *      ▲  ◄─── accel_vcpu_pause() ────┘  │ hlt          │ interrupt line raised (IF=1),
 *      │       (returns once stopped at   ▼             │ NMI, or pause/quit request
 *      │        an instruction boundary)  HALTED ────────┘
 *      └── accel_vcpu_resume() moves STOPPED back to RUNNING
 *
 * Triple faults call the reset callback on the vCPU thread (the machine resets itself and
 * the CPU there). Device access happens inside the CPU's bus callbacks, which take the
 * machine's big lock themselves.
 */
#ifndef ACCEL_TCG_H
#define ACCEL_TCG_H

#include <glib.h>
#include <stdbool.h>

#include "target/i386/cpu.h"

typedef struct AccelVCPU AccelVCPU;

typedef enum {
    ACCEL_VCPU_STOPPED,
    ACCEL_VCPU_RUNNING,
    ACCEL_VCPU_HALTED,
} AccelVCPUState;

/* Called on the vCPU thread after a triple fault. */
typedef void (*AccelResetFn)(void *opaque);

/* The vCPU starts stopped; the thread exists from here on. */
AccelVCPU *accel_vcpu_new(X86CPU *cpu, AccelResetFn reset, void *opaque, GError **errp);
/* Stops the thread and frees the vCPU (not the X86CPU). */
void accel_vcpu_free(AccelVCPU *v);

void accel_vcpu_start(AccelVCPU *v);
/* Synchronous: when it returns the CPU executes nothing until accel_vcpu_resume(). */
void accel_vcpu_pause(AccelVCPU *v);
void accel_vcpu_resume(AccelVCPU *v);
AccelVCPUState accel_vcpu_state(AccelVCPU *v);

/* The machine's interrupt line for this CPU (wakes it from hlt), and NMI. Thread-safe. */
void accel_vcpu_set_irq(AccelVCPU *v, bool level);
void accel_vcpu_nmi(AccelVCPU *v);

/* Instructions executed so far (approximate while running). */
uint64_t accel_vcpu_icount(AccelVCPU *v);

/* x86_cpu_exec calls (slices of at most 200 000 instructions), state changes, and the
 * broadcasts they made to wake a thread waiting for one (only a stop is waited for); slices
 * that ended in hlt, and the halts the thread slept in (the others found an interrupt already
 * pending: the guest reached its idle loop after the device had completed). */
typedef struct AccelVCPUStats {
    uint64_t slices, state_changes, broadcasts;
    uint64_t hlt_exits, halted_waits;
} AccelVCPUStats;
void accel_vcpu_get_stats(AccelVCPU *v, AccelVCPUStats *out);
/* The host thread id (gettid) of the vCPU thread, for query-cpus-fast and info cpus. */
int64_t accel_vcpu_thread_id(AccelVCPU *v);

#endif
