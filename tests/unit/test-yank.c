/* util/yank: instances and their functions, all-or-nothing yank, and a yank racing an
 * unregister on another thread. */
#include "util/error.h"
#include "util/yank.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void count_fn(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_register_and_list(void)
{
    GError *err = NULL;
    g_assert_true(yank_register_instance(YANK_KIND_CHARDEV, "c0", &err));
    g_assert_true(yank_register_instance(YANK_KIND_MIGRATION, NULL, &err));
    g_assert_true(yank_register_instance(YANK_KIND_BLOCK_NODE, "n0", &err));
    g_assert_no_error(err);
    g_assert_false(yank_register_instance(YANK_KIND_CHARDEV, "c0", &err));
    g_assert_error(err, QEMU_ERROR, ERROR_CLASS_GENERIC_ERROR);
    g_assert_cmpstr(err->message, ==, "duplicate yank instance");
    g_clear_error(&err);
    /* same name, another kind: another instance */
    g_assert_true(yank_register_instance(YANK_KIND_BLOCK_NODE, "c0", &err));

    g_autoptr(GArray) l = yank_list();
    g_assert_cmpuint(l->len, ==, 4);
    YankKey *k = (YankKey *)l->data;
    g_assert_cmpint(k[0].kind, ==, YANK_KIND_CHARDEV);
    g_assert_cmpstr(k[0].name, ==, "c0");
    g_assert_cmpint(k[1].kind, ==, YANK_KIND_MIGRATION);
    g_assert_null(k[1].name);
    g_assert_cmpstr(k[2].name, ==, "n0");
    g_assert_cmpint(k[3].kind, ==, YANK_KIND_BLOCK_NODE);

    yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
    yank_unregister_instance(YANK_KIND_CHARDEV, "c0");
    yank_unregister_instance(YANK_KIND_BLOCK_NODE, "n0");
    yank_unregister_instance(YANK_KIND_BLOCK_NODE, "c0");
    g_assert_false(yank_instance_exists(YANK_KIND_CHARDEV, "c0"));
    g_autoptr(GArray) empty = yank_list();
    g_assert_cmpuint(empty->len, ==, 0);
}

static void test_run_all_or_nothing(void)
{
    int a = 0, b = 0;
    g_assert_true(yank_register_instance(YANK_KIND_CHARDEV, "a", NULL));
    g_assert_true(yank_register_instance(YANK_KIND_MIGRATION, NULL, NULL));
    yank_register_function(YANK_KIND_CHARDEV, "a", count_fn, &a);
    yank_register_function(YANK_KIND_MIGRATION, NULL, count_fn, &b);
    yank_register_function(YANK_KIND_MIGRATION, NULL, count_fn, &b);

    YankKey keys[] = {{YANK_KIND_CHARDEV, "a"}, {YANK_KIND_CHARDEV, "nosuch"}};
    GError *err = NULL;
    g_assert_false(yank_run(keys, 2, &err));
    g_assert_error(err, QEMU_ERROR, ERROR_CLASS_DEVICE_NOT_FOUND);
    g_assert_cmpstr(err->message, ==, "Instance not found");
    g_clear_error(&err);
    g_assert_cmpint(a, ==, 0);

    YankKey ok[] = {{YANK_KIND_MIGRATION, NULL}, {YANK_KIND_CHARDEV, "a"}};
    g_assert_true(yank_run(ok, 2, &err));
    g_assert_no_error(err);
    g_assert_cmpint(a, ==, 1);
    g_assert_cmpint(b, ==, 2);
    g_assert_true(yank_run(NULL, 0, &err));

    /* an instance with no function left is still there, and yanking it does nothing */
    yank_unregister_function(YANK_KIND_CHARDEV, "a", count_fn, &a);
    g_assert_true(yank_run(ok + 1, 1, &err));
    g_assert_cmpint(a, ==, 1);

    yank_unregister_instance(YANK_KIND_CHARDEV, "a");
    yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
    g_assert_false(yank_run(ok, 1, &err));
    g_clear_error(&err);
    g_assert_cmpint(b, ==, 2);
}

/* A yank shuts down a socket that its owner closes at the same time: the owner unregisters
 * before closing, so the function never sees a closed (or reused) descriptor. */
typedef struct {
    int fds[2];
    gint fd; /* -1 once closed; the function checks it is still open */
    gint bad;
} Conn;

static void conn_yank(void *opaque)
{
    Conn *c = opaque;
    int fd = g_atomic_int_get(&c->fd);
    if (fd < 0 || shutdown(fd, SHUT_RDWR) < 0) {
        g_atomic_int_inc(&c->bad);
    }
}

static gpointer yanker(gpointer data)
{
    gint *stop = data;
    YankKey k = {YANK_KIND_CHARDEV, "race"};
    while (!g_atomic_int_get(stop)) {
        yank_run(&k, 1, NULL);
    }
    return NULL;
}

static void test_unregister_races_yank(void)
{
    gint stop = 0;
    g_assert_true(yank_register_instance(YANK_KIND_CHARDEV, "race", NULL));
    GThread *t = g_thread_new("yanker", yanker, &stop);
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        Conn c;
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, c.fds), ==, 0);
        c.fd = c.fds[0];
        c.bad = 0;
        yank_register_function(YANK_KIND_CHARDEV, "race", conn_yank, &c);
        yank_unregister_function(YANK_KIND_CHARDEV, "race", conn_yank, &c);
        g_atomic_int_set(&c.fd, -1);
        close(c.fds[0]);
        close(c.fds[1]);
        bad += g_atomic_int_get(&c.bad);
    }
    g_atomic_int_set(&stop, 1);
    g_thread_join(t);
    yank_unregister_instance(YANK_KIND_CHARDEV, "race");
    g_assert_cmpint(bad, ==, 0);
}

/* What a yank does to a socket blocked in a read on another thread: it returns at once. */
static gpointer blocked_reader(gpointer data)
{
    int fd = GPOINTER_TO_INT(data);
    char b;
    return GINT_TO_POINTER((int)read(fd, &b, 1));
}

static void sock_yank(void *opaque)
{
    shutdown(GPOINTER_TO_INT(opaque), SHUT_RDWR);
}

static void test_yank_wakes_blocked_read(void)
{
    int fds[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
    g_assert_true(yank_register_instance(YANK_KIND_MIGRATION, NULL, NULL));
    yank_register_function(YANK_KIND_MIGRATION, NULL, sock_yank, GINT_TO_POINTER(fds[0]));
    GThread *t = g_thread_new("reader", blocked_reader, GINT_TO_POINTER(fds[0]));
    g_usleep(50 * 1000);
    YankKey k = {YANK_KIND_MIGRATION, NULL};
    g_assert_true(yank_run(&k, 1, NULL));
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(t)), ==, 0); /* EOF, not a hang */
    yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/yank/register-and-list", test_register_and_list);
    g_test_add_func("/yank/run-all-or-nothing", test_run_all_or_nothing);
    g_test_add_func("/yank/unregister-races-yank", test_unregister_races_yank);
    g_test_add_func("/yank/wakes-blocked-read", test_yank_wakes_blocked_read);
    return g_test_run();
}
