/* Reset, power-off and vCPU queries for the monitor (include/system/machine-control.h). */
#include "system/machine-control.h"
#include "qapi-events.h"
#include "system/runstate.h"
#include "util/error.h"

static MachineOps ops;
static bool have_ops;
static bool no_reboot, no_shutdown;
static MachineLifecycleHook lifecycle_hook;
static void *lifecycle_opaque;

void machine_control_set_ops(const MachineOps *o)
{
    have_ops = o != NULL;
    ops = o ? *o : (MachineOps){0};
}

void machine_control_set_actions(bool reboot_is_shutdown, bool shutdown_is_pause)
{
    no_reboot = reboot_is_shutdown;
    no_shutdown = shutdown_is_pause;
}

void machine_control_set_lifecycle_hook(MachineLifecycleHook hook, void *opaque)
{
    lifecycle_hook = hook;
    lifecycle_opaque = opaque;
}

bool machine_control_shutdown_pauses(void)
{
    return no_shutdown;
}

static bool lifecycle(MachineLifecycle what, ShutdownCause cause)
{
    return lifecycle_hook && lifecycle_hook(lifecycle_opaque, what, cause);
}

static bool caused_by_guest(ShutdownCause cause)
{
    return cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN || cause == SHUTDOWN_CAUSE_GUEST_RESET ||
           cause == SHUTDOWN_CAUSE_GUEST_PANIC;
}

void qemu_system_guest_shutdown(ShutdownCause cause)
{
    if (lifecycle(MACHINE_SHUTDOWN_REQUESTED, cause)) {
        return;
    }
    if (no_shutdown) {
        /* Upstream's "pause" shutdown action: the event, then the VM waits for a reset. */
        qapi_event_send_shutdown(caused_by_guest(cause), cause);
        vm_stop(RUN_STATE_SHUTDOWN);
        return;
    }
    qemu_system_shutdown_request(cause);
}

void qemu_system_reset_request(ShutdownCause cause)
{
    if (no_reboot && cause != SHUTDOWN_CAUSE_SUBSYSTEM_RESET) {
        qemu_system_guest_shutdown(cause);
        return;
    }
    if (lifecycle(MACHINE_RESET_REQUESTED, cause)) {
        return;
    }
    if (have_ops && ops.reset) {
        GError *err = NULL;
        if (!ops.reset(ops.opaque, &err)) {
            error_report_err(err);
        }
    }
    qapi_event_send_reset(caused_by_guest(cause), cause);
    /* A reset VM that was not running (paused, shut down) starts over from prelaunch; one
     * stopped for a COLO checkpoint stays in it (the checkpoint resumes it; upstream moves it to
     * prelaunch, an invalid transition that aborts). */
    if (!runstate_is_running() && !runstate_check(RUN_STATE_INMIGRATE) &&
        !runstate_check(RUN_STATE_FINISH_MIGRATE) && !runstate_check(RUN_STATE_COLO)) {
        runstate_set(RUN_STATE_PRELAUNCH);
    }
    lifecycle(MACHINE_RESET_DONE, cause);
}

void qemu_system_powerdown_request(void)
{
    qapi_event_send_powerdown();
    if (have_ops && ops.powerdown) {
        ops.powerdown(ops.opaque);
    }
}

guint machine_cpu_count(void)
{
    return have_ops && ops.cpu_count ? ops.cpu_count(ops.opaque) : 0;
}

int64_t machine_cpu_thread_id(guint index)
{
    return index < machine_cpu_count() && ops.cpu_thread_id ? ops.cpu_thread_id(ops.opaque, index)
                                                            : 0;
}

bool machine_cpu_dump(guint index, GString *out)
{
    if (index >= machine_cpu_count() || !ops.cpu_dump) {
        return false;
    }
    ops.cpu_dump(ops.opaque, index, out);
    return true;
}

bool machine_jit_info(GString *out)
{
    if (!have_ops || !ops.jit_info) {
        return false;
    }
    ops.jit_info(ops.opaque, out);
    return true;
}

uint64_t machine_ram_size(void)
{
    return have_ops && ops.ram_size ? ops.ram_size(ops.opaque) : 0;
}

GPtrArray *machine_query_pci(void)
{
    return have_ops && ops.query_pci ? ops.query_pci(ops.opaque) : qapi_list_new_PciInfo();
}

VMStateSet *machine_vmstate_set(void)
{
    return have_ops && ops.vmstate_set ? ops.vmstate_set(ops.opaque) : NULL;
}
