/*
 * Run state of the virtual machine and the shutdown request that ends the main loop.
 *
 *   prelaunch --vm_start--> running <--vm_start/vm_stop--> paused
 *       |                      |  (STOP / RESUME events)
 *       +--- inmigrate --------+--> colo, postmigrate, shutdown ...
 *
 * State names are upstream's (RunState in qapi/run-state.json). vl.c calls vm_start() once the
 * machine is built unless -S was given. quit calls qemu_system_shutdown_request(); the main
 * loop learns of it through the handler it installed (or by polling
 * qemu_system_shutdown_requested()) and exits after emitting SHUTDOWN via
 * qemu_system_shutdown_finish().
 */
#ifndef SYSTEM_RUNSTATE_H
#define SYSTEM_RUNSTATE_H

#include <glib.h>
#include "qapi-types.h"

RunState runstate_get(void);
/* Changes the state without events (migration, COLO); change handlers run. */
void runstate_set(RunState state);
gboolean runstate_check(RunState state);
gboolean runstate_is_running(void);
const char *runstate_name(RunState state);

/* Called with the new running flag and state after each change; returns an id for removal. */
typedef void (*VMChangeStateHandler)(void *opaque, gboolean running, RunState state);
guint runstate_add_change_handler(VMChangeStateHandler cb, void *opaque);
void runstate_remove_change_handler(guint id);

/* Pauses into @state (usually RUN_STATE_PAUSED) and emits STOP if the VM was running. */
void vm_stop(RunState state);
/* Resumes: emits RESUME (and STOP first if it was already running, as QEMU does). */
void vm_start(void);

/* -name */
void qemu_set_vm_name(const char *name);
const char *qemu_get_vm_name(void);

/* Shutdown: quit, signals. The handler (the main loop's) is called at once, on this thread. */
typedef void (*ShutdownRequestHandler)(void *opaque);
void qemu_system_set_shutdown_handler(ShutdownRequestHandler cb, void *opaque);
void qemu_system_shutdown_request(ShutdownCause cause);
/* SHUTDOWN_CAUSE_NONE while no shutdown was requested. */
ShutdownCause qemu_system_shutdown_requested(void);
/* Emits SHUTDOWN {guest, reason} and enters the shutdown state; the main loop calls it once. */
void qemu_system_shutdown_finish(void);

#endif
