/* The KVM probe: a missing device, a device that is not KVM, and the host's real /dev/kvm
 * (whatever it answers, the probe ends within its time limit with a clear verdict). */
#include "accel/kvm-probe.h"

static void test_missing_device(void)
{
    GError *err = NULL;
    g_assert_false(kvm_probe("/nonexistent/kvm", 2000, &err));
    g_assert_cmpstr(err->message, ==,
                    "Could not access KVM kernel module: No such file or directory");
    g_error_free(err);
}

static void test_not_kvm(void)
{
    GError *err = NULL;
    g_assert_false(kvm_probe("/dev/null", 2000, &err));
    g_assert_true(g_str_has_prefix(err->message, "KVM cannot run guests on this host: "));
    g_error_free(err);
}

static void test_host_kvm(void)
{
    if (!g_file_test("/dev/kvm", G_FILE_TEST_EXISTS)) {
        g_test_skip("no /dev/kvm");
        return;
    }
    GError *err = NULL;
    gint64 t0 = g_get_monotonic_time();
    bool ok = kvm_probe("/dev/kvm", 3000, &err);
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    g_assert_cmpint(ms, <, 3500);
    g_test_message("host KVM: %s (%" G_GINT64_FORMAT " ms)", ok ? "runs guests" : err->message, ms);
    g_assert_true(ok || g_str_has_prefix(err->message, "KVM cannot run guests on this host: ") ||
                  g_str_has_prefix(err->message, "Could not access KVM kernel module: "));
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-probe/missing-device", test_missing_device);
    g_test_add_func("/kvm-probe/not-kvm", test_not_kvm);
    g_test_add_func("/kvm-probe/host", test_host_kvm);
    return g_test_run();
}
