/* Resets and guest power-offs (system/machine-control.c): the actions, and the lifecycle hook
 * that COLO uses to hold, follow or take them over. */
#include "system/machine-control.h"
#include "system/runstate.h"

static int resets;
static int shutdown_requests;

static bool fake_reset(void *opaque, GError **errp)
{
    resets++;
    return true;
}

static void on_shutdown(void *opaque)
{
    shutdown_requests++;
}

typedef struct Seen {
    GArray *what; /* MachineLifecycle */
    bool take;    /* the answer to *_REQUESTED */
} Seen;

static bool hook(void *opaque, MachineLifecycle what, ShutdownCause cause)
{
    Seen *s = opaque;
    g_array_append_val(s->what, what);
    return what != MACHINE_RESET_DONE && s->take;
}

static void setup(Seen *seen, bool take)
{
    static const MachineOps ops = {.reset = fake_reset};
    machine_control_set_ops(&ops);
    machine_control_set_actions(false, false);
    qemu_system_set_shutdown_handler(on_shutdown, NULL);
    seen->what = g_array_new(FALSE, FALSE, sizeof(MachineLifecycle));
    seen->take = take;
    machine_control_set_lifecycle_hook(hook, seen);
    resets = shutdown_requests = 0;
}

static void teardown(Seen *seen)
{
    machine_control_set_lifecycle_hook(NULL, NULL);
    machine_control_set_ops(NULL);
    g_array_unref(seen->what);
}

static MachineLifecycle at(Seen *s, guint i)
{
    g_assert_cmpuint(i, <, s->what->len);
    return g_array_index(s->what, MachineLifecycle, i);
}

static void test_reset_seen_before_and_after(void)
{
    Seen seen;
    setup(&seen, false);
    runstate_set(RUN_STATE_RUNNING);
    qemu_system_reset_request(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    g_assert_cmpint(resets, ==, 1);
    g_assert_cmpuint(seen.what->len, ==, 2);
    g_assert_cmpint(at(&seen, 0), ==, MACHINE_RESET_REQUESTED);
    g_assert_cmpint(at(&seen, 1), ==, MACHINE_RESET_DONE);
    g_assert_true(runstate_check(RUN_STATE_RUNNING));
    teardown(&seen);
}

static void test_reset_held(void)
{
    Seen seen;
    setup(&seen, true);
    runstate_set(RUN_STATE_RUNNING);
    qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET);
    g_assert_cmpint(resets, ==, 0);
    g_assert_cmpuint(seen.what->len, ==, 1);
    teardown(&seen);
}

static void test_reset_in_colo_pause_keeps_colo(void)
{
    Seen seen;
    setup(&seen, false);
    runstate_set(RUN_STATE_COLO);
    qemu_system_reset_request(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    g_assert_cmpint(resets, ==, 1);
    g_assert_true(runstate_check(RUN_STATE_COLO));
    /* a paused VM still starts over from prelaunch, as upstream */
    runstate_set(RUN_STATE_PAUSED);
    qemu_system_reset_request(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    g_assert_true(runstate_check(RUN_STATE_PRELAUNCH));
    teardown(&seen);
}

static void test_guest_poweroff_taken_over(void)
{
    Seen seen;
    setup(&seen, true);
    runstate_set(RUN_STATE_RUNNING);
    qemu_system_guest_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    g_assert_cmpint(shutdown_requests, ==, 0);
    g_assert_cmpuint(seen.what->len, ==, 1);
    g_assert_cmpint(at(&seen, 0), ==, MACHINE_SHUTDOWN_REQUESTED);
    g_assert_true(runstate_check(RUN_STATE_RUNNING));
    teardown(&seen);
}

static void test_guest_poweroff_actions(void)
{
    Seen seen;
    setup(&seen, false);
    g_assert_false(machine_control_shutdown_pauses());
    machine_control_set_actions(false, true);
    g_assert_true(machine_control_shutdown_pauses());
    runstate_set(RUN_STATE_RUNNING);
    qemu_system_guest_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    g_assert_true(runstate_check(RUN_STATE_SHUTDOWN));
    g_assert_cmpint(shutdown_requests, ==, 0);
    /* -no-reboot: a reset is a power-off, and the hook hears it as one */
    machine_control_set_actions(true, false);
    runstate_set(RUN_STATE_RUNNING);
    qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET);
    g_assert_cmpint(resets, ==, 0);
    g_assert_cmpint(shutdown_requests, ==, 1);
    g_assert_cmpint(at(&seen, seen.what->len - 1), ==, MACHINE_SHUTDOWN_REQUESTED);
    teardown(&seen);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/machine-control/reset-seen-before-and-after",
                    test_reset_seen_before_and_after);
    g_test_add_func("/machine-control/reset-held", test_reset_held);
    g_test_add_func("/machine-control/reset-in-colo-pause-keeps-colo",
                    test_reset_in_colo_pause_keeps_colo);
    g_test_add_func("/machine-control/guest-poweroff-taken-over", test_guest_poweroff_taken_over);
    g_test_add_func("/machine-control/guest-poweroff-actions", test_guest_poweroff_actions);
    return g_test_run();
}
