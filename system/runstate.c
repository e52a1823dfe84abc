/* Run state and shutdown requests (see include/system/runstate.h). */
#include "system/runstate.h"
#include "qapi-events.h"

static RunState current_state = RUN_STATE_PRELAUNCH;
static char *vm_name;

typedef struct {
    guint id;
    VMChangeStateHandler cb;
    void *opaque;
} ChangeHandler;

static GArray *change_handlers;
static guint next_handler_id = 1;

static ShutdownRequestHandler shutdown_cb;
static void *shutdown_opaque;
static ShutdownCause shutdown_cause = SHUTDOWN_CAUSE_NONE;
static gboolean shutdown_done;

RunState runstate_get(void)
{
    return current_state;
}

gboolean runstate_check(RunState state)
{
    return current_state == state;
}

gboolean runstate_is_running(void)
{
    /* colo is a COLO checkpoint's pause, as upstream: not running */
    return current_state == RUN_STATE_RUNNING;
}

const char *runstate_name(RunState state)
{
    return RunState_str(state);
}

static void notify_change(void)
{
    if (!change_handlers) {
        return;
    }
    /* Handlers may remove themselves: iterate over a copy. */
    GArray *copy = g_array_copy(change_handlers);
    for (guint i = 0; i < copy->len; i++) {
        ChangeHandler *h = &g_array_index(copy, ChangeHandler, i);
        h->cb(h->opaque, runstate_is_running(), current_state);
    }
    g_array_unref(copy);
}

void runstate_set(RunState state)
{
    if (state == current_state) {
        return;
    }
    current_state = state;
    notify_change();
}

guint runstate_add_change_handler(VMChangeStateHandler cb, void *opaque)
{
    if (!change_handlers) {
        change_handlers = g_array_new(FALSE, FALSE, sizeof(ChangeHandler));
    }
    ChangeHandler h = {next_handler_id++, cb, opaque};
    g_array_append_val(change_handlers, h);
    return h.id;
}

void runstate_remove_change_handler(guint id)
{
    for (guint i = 0; change_handlers && i < change_handlers->len; i++) {
        if (g_array_index(change_handlers, ChangeHandler, i).id == id) {
            g_array_remove_index(change_handlers, i);
            return;
        }
    }
}

void vm_stop(RunState state)
{
    gboolean was_running = runstate_is_running();
    runstate_set(state);
    if (was_running) {
        qapi_event_send_stop();
    }
}

void vm_start(void)
{
    if (runstate_is_running()) {
        /* QEMU reports a redundant cont as a stop/resume pair. */
        qapi_event_send_stop();
        qapi_event_send_resume();
        return;
    }
    runstate_set(RUN_STATE_RUNNING);
    qapi_event_send_resume();
}

void qemu_set_vm_name(const char *name)
{
    g_free(vm_name);
    vm_name = g_strdup(name);
}

const char *qemu_get_vm_name(void)
{
    return vm_name;
}

void qemu_system_set_shutdown_handler(ShutdownRequestHandler cb, void *opaque)
{
    shutdown_cb = cb;
    shutdown_opaque = opaque;
}

void qemu_system_shutdown_request(ShutdownCause cause)
{
    if (shutdown_cause == SHUTDOWN_CAUSE_NONE) {
        shutdown_cause = cause == SHUTDOWN_CAUSE_NONE ? SHUTDOWN_CAUSE_HOST_ERROR : cause;
    }
    if (shutdown_cb) {
        shutdown_cb(shutdown_opaque);
    }
}

ShutdownCause qemu_system_shutdown_requested(void)
{
    return shutdown_cause;
}

void qemu_system_shutdown_finish(void)
{
    if (shutdown_done) {
        return;
    }
    shutdown_done = TRUE;
    gboolean guest = shutdown_cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN ||
                     shutdown_cause == SHUTDOWN_CAUSE_GUEST_RESET ||
                     shutdown_cause == SHUTDOWN_CAUSE_GUEST_PANIC;
    qapi_event_send_shutdown(guest, shutdown_cause);
    runstate_set(RUN_STATE_SHUTDOWN);
}
