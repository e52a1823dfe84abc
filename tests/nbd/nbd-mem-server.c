/*
 * The NBD server (block/nbd-server.c) on its own, for the interop tests while the block layer is
 * not yet under it: each export is a file read into memory and written back when the process
 * gets SIGTERM, so that tests can check with qemu-img what clients wrote.
 *
 *   nbd-mem-server ADDRESS NAME=FILE[,ro] ...
 *
 * ADDRESS as -incoming spells one ("127.0.0.1:0", "unix:/path"). Prints "port N" (or "ready")
 * once it accepts, then serves until SIGTERM.
 */
#include "block/nbd-server.h"
#include "util/error.h"

#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

typedef struct Backing {
    char *path;
    uint8_t *data; /* owned by the export; valid until the server stops */
    gsize size;
} Backing;

static void backing_free(gpointer p)
{
    Backing *b = p;
    g_free(b->path);
    g_free(b);
}

static gboolean on_term(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDRESS NAME=FILE[,ro] ...\n", argv[0]);
        return 2;
    }
    g_autoptr(SocketAddr) addr = socket_addr_parse(argv[1], &err);
    if (!addr || !nbd_server_start(addr, NULL, NULL, 0, &err)) {
        error_report_err(err);
        return 1;
    }
    g_autoptr(GPtrArray) backings = g_ptr_array_new_with_free_func(backing_free);
    for (int i = 2; i < argc; i++) {
        g_auto(GStrv) kv = g_strsplit(argv[i], "=", 2);
        if (!kv[1]) {
            fprintf(stderr, "bad export '%s'\n", argv[i]);
            return 2;
        }
        bool ro = g_str_has_suffix(kv[1], ",ro");
        if (ro) {
            kv[1][strlen(kv[1]) - 3] = 0;
        }
        Backing *b = g_new0(Backing, 1);
        b->path = g_strdup(kv[1]);
        if (!g_file_get_contents(b->path, (char **)&b->data, &b->size, &err)) {
            error_report_err(err);
            return 1;
        }
        if (!nbd_server_add_export(nbd_memory_export_new(kv[0], b->data, b->size, !ro), &err)) {
            error_report_err(err);
            return 1;
        }
        g_ptr_array_add(backings, b);
    }
    const SocketAddr *bound = nbd_server_addr();
    if (bound->kind == SOCKET_ADDR_INET) {
        printf("port %s\n", bound->port);
    } else {
        printf("ready\n");
    }
    fflush(stdout);

    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_term, loop);
    g_main_loop_run(loop);
    for (guint i = 0; i < backings->len; i++) {
        Backing *b = g_ptr_array_index(backings, i);
        if (!g_file_set_contents(b->path, (const char *)b->data, b->size, &err)) {
            error_report_err(err);
            return 1;
        }
    }
    nbd_server_stop(NULL);
    g_main_loop_unref(loop);
    return 0;
}
