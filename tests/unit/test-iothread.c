/* The iothread object: start/stop, run_sync, properties, many create/delete cycles. */
#include "qom/iothread.h"
#include "util/error.h"

#include <sys/syscall.h>
#include <unistd.h>

static IOThread *create(const char *opts, GError **errp)
{
    KeyvalList *kv = keyval_parse(opts, "qom-type", KEYVAL_QUIET, errp);
    if (!kv) {
        return NULL;
    }
    QomObject *obj = qom_user_create_keyval(kv, NULL, errp);
    keyval_list_free(kv);
    return obj ? IO_THREAD(obj) : NULL;
}

static void delete_ok(const char *id)
{
    GError *err = NULL;
    g_assert_true(qom_user_delete(id, &err));
    g_assert_no_error(err);
    g_assert_null(iothread_find(id));
}

typedef struct {
    int tid;
    GMainContext *thread_default;
    int calls;
} Probe;

static gboolean probe(gpointer data)
{
    Probe *p = data;
    p->tid = syscall(SYS_gettid);
    p->thread_default = g_main_context_get_thread_default();
    p->calls++;
    return G_SOURCE_CONTINUE; /* run_sync runs it once whatever it answers */
}

static void test_start_stop(void)
{
    GError *err = NULL;
    IOThread *iot = create("iothread,id=io0", &err);
    g_assert_no_error(err);
    g_assert_true(iothread_find("io0") == iot);
    int tid = iothread_get_thread_id(iot);
    g_assert_cmpint(tid, >, 0);
    g_assert_cmpint(tid, !=, (int)syscall(SYS_gettid));
    g_assert_nonnull(iothread_get_context(iot));
    g_assert_true(iothread_get_context(iot) != g_main_context_default());

    /* The thread exists in this process under that id. */
    char *task = g_strdup_printf("/proc/self/task/%d", tid);
    g_assert_true(g_file_test(task, G_FILE_TEST_IS_DIR));

    delete_ok("io0");
    /* Joined: the kernel thread is gone. */
    g_assert_false(g_file_test(task, G_FILE_TEST_EXISTS));
    g_free(task);
}

static void test_run_sync(void)
{
    GError *err = NULL;
    IOThread *iot = create("iothread,id=io1", &err);
    g_assert_no_error(err);
    Probe p = {0};
    for (int i = 0; i < 50; i++) {
        iothread_run_sync(iot, probe, &p);
    }
    g_assert_cmpint(p.calls, ==, 50);
    g_assert_cmpint(p.tid, ==, iothread_get_thread_id(iot));
    g_assert_true(p.thread_default == iothread_get_context(iot));
    delete_ok("io1");
}

static void test_properties(void)
{
    GError *err = NULL;
    IOThread *iot = create("iothread,id=io2,poll-max-ns=1000,aio-max-batch=8", &err);
    g_assert_no_error(err);
    QomObject *obj = QOM_OBJECT(iot);
    static const struct {
        const char *name, *value;
    } want[] = {
        {"poll-max-ns", "1000"}, {"poll-grow", "0"},       {"poll-shrink", "0"},
        {"aio-max-batch", "8"},  {"thread-pool-min", "0"}, {"thread-pool-max", "64"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        char *v = qom_object_get_str(obj, want[i].name, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(v, ==, want[i].value);
        g_free(v);
    }

    g_assert_false(qom_object_set_str(obj, "poll-grow", "-1", &err));
    g_assert_cmpstr(err->message, ==, "poll-grow value must be in range [0, 9223372036854775807]");
    g_clear_error(&err);
    g_assert_false(qom_object_set_str(obj, "thread-pool-min", "100", &err));
    g_assert_cmpstr(err->message, ==, "bad thread-pool-min/thread-pool-max values");
    g_clear_error(&err);
    g_assert_true(qom_object_set_str(obj, "poll-shrink", "2", &err));
    g_assert_no_error(err);
    char *v = qom_object_get_str(obj, "poll-shrink", &err);
    g_assert_cmpstr(v, ==, "2");
    g_free(v);
    delete_ok("io2");

    g_assert_null(create("iothread,id=io3,thread-pool-min=10,thread-pool-max=5", &err));
    g_assert_cmpstr(err->message, ==, "bad thread-pool-min/thread-pool-max values");
    g_clear_error(&err);
    g_assert_null(iothread_find("io3"));
    g_assert_null(create("iothread,id=io3,poll-max-ns=-5", &err));
    g_assert_cmpstr(err->message, ==,
                    "poll-max-ns value must be in range [0, 9223372036854775807]");
    g_clear_error(&err);
}

static void test_many_cycles(void)
{
    GError *err = NULL;
    for (int i = 0; i < 200; i++) {
        char *id = g_strdup_printf("cyc%d", i % 3);
        char *opts = g_strdup_printf("iothread,id=%s", id);
        IOThread *iot = create(opts, &err);
        g_assert_no_error(err);
        Probe p = {0};
        iothread_run_sync(iot, probe, &p);
        g_assert_cmpint(p.tid, ==, iothread_get_thread_id(iot));
        delete_ok(id);
        g_free(opts);
        g_free(id);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    iothread_register_types();
    g_test_add_func("/iothread/start-stop", test_start_stop);
    g_test_add_func("/iothread/run-sync", test_run_sync);
    g_test_add_func("/iothread/properties", test_properties);
    g_test_add_func("/iothread/many-cycles", test_many_cycles);
    return g_test_run();
}
