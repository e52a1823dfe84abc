/*
 * block/nbd-opts.c beside Debian's QEMU: each option string goes to `qemu-io --image-opts
 * driver=nbd,...`, whose "can't open" message must be ours word for word. Where the options
 * are good, both then fail to connect (nothing listens on the addresses used), so the address
 * itself is compared through socket_connect()'s message.
 */
#include "block/nbd-client.h"
#include "util/error.h"

#include <string.h>

static const char *const cases[] = {
    "",
    "export=x",
    "host=127.0.0.1,port=1,export=x",
    "host=127.0.0.1",
    "port=1",
    "path=/nonexistent/nbd.sock",
    "path=/x,host=h",
    "path=/x,port=1",
    "host=h,port=1,server.type=inet",
    "server.type=inet,server.host=127.0.0.1,server.port=1,host=x",
    "server.type=inet,server.host=127.0.0.1",
    "server.type=inet,server.port=1",
    "server.host=127.0.0.1,server.port=1",
    "server.type=inet,server.host=127.0.0.1,server.port=1,server.path=x",
    "server.type=inet,server.host=127.0.0.1,server.port=1,server.ipv4=maybe",
    "server.type=inet,server.host=127.0.0.1,server.port=1",
    "server.type=inet,server.host=127.0.0.1,server.port=1,tls-creds=t0",
    "server.type=unix,server.path=/nonexistent/nbd.sock,export=x",
    "server.type=unix,server.path=/x,server.host=1",
    "server.type=unix",
    "server.type=bogus",
};

/* What Debian's qemu-io says after "can't open: " for driver=nbd,@opts. */
static char *upstream_says(const char *opts)
{
    g_autofree char *image = g_strdup_printf("driver=nbd%s%s", *opts ? "," : "", opts);
    const char *argv[] = {"qemu-io", "-r", "--image-opts", image, "-c", "read 0 1", NULL};
    g_autofree char *out = NULL, *err = NULL;
    GError *error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, NULL, &error));
    g_assert_no_error(error);
    const char *at = strstr(err, "can't open: ");
    g_assert_nonnull(at);
    at += strlen("can't open: ");
    return g_strndup(at, strcspn(at, "\n"));
}

static char *we_say(const char *opts)
{
    g_autoptr(GHashTable) dict = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) items = g_strsplit(opts, ",", -1);
    for (char **i = items; *i && **i; i++) {
        char *eq = strchr(*i, '=');
        g_assert_nonnull(eq);
        g_hash_table_insert(dict, g_strndup(*i, eq - *i), g_strdup(eq + 1));
    }
    GError *err = NULL;
    g_autofree char *export = NULL;
    g_autoptr(SocketAddr) addr = nbd_client_parse_options(dict, &export, &err);
    if (!addr) {
        return g_strdup(err->message);
    }
    int fd = socket_connect(addr, &err);
    g_assert_cmpint(fd, <, 0);
    char *msg = g_strdup(err->message);
    g_error_free(err);
    return msg;
}

static void test_case(gconstpointer data)
{
    const char *opts = data;
    g_autofree char *theirs = upstream_says(opts);
    g_autofree char *ours = we_say(opts);
    g_assert_cmpstr(ours, ==, theirs);
}

static void test_export_default(void)
{
    g_autoptr(GHashTable) dict = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(dict, "host", "localhost");
    GError *err = NULL;
    g_autofree char *export = NULL;
    g_autoptr(SocketAddr) addr = nbd_client_parse_options(dict, &export, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(export, ==, "");
    g_assert_cmpstr(addr->port, ==, "10809");
    g_free(export);
    g_hash_table_insert(dict, "export", "parent0");
    g_autoptr(SocketAddr) addr2 = nbd_client_parse_options(dict, &export, &err);
    g_assert_cmpstr(export, ==, "parent0");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/nbd-opts/as-upstream/%u", i);
        g_test_add_data_func(path, cases[i], test_case);
    }
    g_test_add_func("/nbd-opts/export-default", test_export_default);
    return g_test_run();
}
