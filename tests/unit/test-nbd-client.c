/*
 * block/nbd-client.c against real servers: Debian's qemu-nbd and our own server (in this
 * process, on the same main loop), and against a peer that dies with requests in flight.
 */
#include "block/nbd-client.h"
#include "block/nbd-server.h"
#include "util/error.h"
#include "qemu-nbd-peer.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (1024 * 1024)

typedef struct Wait {
    int ret;
    bool done;
} Wait;

static void on_done(void *opaque, int ret)
{
    Wait *w = opaque;
    g_assert_false(w->done);
    w->ret = ret;
    w->done = true;
}

/* Runs the main loop until @w completes; fails after 10 s (the loop itself never blocks). */
static int wait_for(Wait *w)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!w->done) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, TRUE);
    }
    int ret = w->ret;
    *w = (Wait){0};
    return ret;
}

/* Writes, reads back, zeroes, trims and flushes through @c; checks the data on the way. */
static void exercise(NbdClient *c)
{
    Wait w = {0};
    g_autofree uint8_t *buf = g_malloc(65536);
    g_autofree uint8_t *back = g_malloc(65536);
    for (int i = 0; i < 65536; i++) {
        buf[i] = i * 31 + 7;
    }
    g_assert_cmpuint(nbd_client_size(c), ==, SIZE);
    g_assert_false(nbd_client_flags(c) & NBD_FLAG_READ_ONLY);
    /* Several requests in flight at once, completed by cookie. */
    Wait ws[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        nbd_client_write(c, 8192 + i * 16384, 16384, buf + i * 16384, i == 3, on_done, &ws[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(wait_for(&ws[i]), ==, 0);
    }
    nbd_client_read(c, 8192, 65536, back, on_done, &w);
    g_assert_false(w.done); /* never completed inside the call */
    g_assert_cmpint(wait_for(&w), ==, 0);
    g_assert_cmpmem(back, 65536, buf, 65536);
    nbd_client_write_zeroes(c, 8192, 100, false, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0);
    nbd_client_trim(c, 65536, 4096, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0);
    nbd_client_flush(c, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0);
    nbd_client_read(c, 8190, 104, back, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0);
    static const uint8_t zero[100];
    g_assert_cmpmem(back + 2, 100, zero, 100);
    g_assert_cmpuint(back[102], ==, buf[100]);
    /* The server's refusal comes back as an errno. */
    nbd_client_read(c, SIZE - 1, 2, back, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, -EINVAL);
    nbd_client_read(c, 0, 1, back, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0);
}

/*
 * Our server in a child process: the client's handshake blocks, so the server cannot share
 * this process's main loop. SIGUSR1 makes it remove the export, first safely (which must be
 * refused while the client is on), then hard; it exits non-zero if either went otherwise or
 * the removal was not reported (the hook behind BLOCK_EXPORT_DELETED).
 */
static char *deleted_name;

static void child_deleted(const char *name)
{
    g_free(deleted_name);
    deleted_name = g_strdup(name);
}

static gboolean child_remove(gpointer data)
{
    GError *err = NULL;
    if (nbd_server_remove("mem", false, &err) ||
        !g_str_has_prefix(err->message, "export 'mem' still in use")) {
        _exit(3);
    }
    g_clear_error(&err);
    if (!nbd_server_remove("mem", true, &err)) {
        _exit(4);
    }
    if (g_strcmp0(deleted_name, "mem")) {
        _exit(5); /* BLOCK_EXPORT_DELETED would not have been sent */
    }
    return G_SOURCE_CONTINUE;
}

static gboolean child_quit(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static pid_t fork_our_server(const SocketAddr *addr)
{
    int ready[2];
    g_assert_cmpint(pipe(ready), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        /* Never outlive a failed test: the child holds the test's output pipe open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        GMainLoop *loop = g_main_loop_new(NULL, FALSE);
        GError *err = NULL;
        if (!nbd_server_start(addr, NULL, NULL, 0, &err) ||
            !nbd_server_add_export(nbd_memory_export_new("mem", g_malloc0(SIZE), SIZE, true),
                                   &err)) {
            _exit(2);
        }
        nbd_server_set_deleted_notify(child_deleted);
        g_unix_signal_add(SIGUSR1, child_remove, NULL);
        g_unix_signal_add(SIGTERM, child_quit, loop);
        (void)!write(ready[1], "r", 1);
        g_main_loop_run(loop);
        nbd_server_stop(NULL);
        _exit(0);
    }
    char r;
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &r, 1), ==, 1);
    close(ready[0]);
    return pid;
}

static void test_against_our_server(void)
{
    GError *err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nbd-client-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autoptr(SocketAddr) addr = socket_addr_new_unix(path);
    pid_t pid = fork_our_server(addr);

    NbdClient *c = nbd_client_connect(addr, "mem", &err);
    g_assert_no_error(err);
    exercise(c);
    nbd_client_close(c);

    /* An unknown export is refused in QEMU's words, with the server's own message. */
    c = nbd_client_connect(addr, "nope", &err);
    g_assert_null(c);
    g_assert_true(g_str_has_prefix(err->message, "Requested export not available"));
    g_assert_nonnull(strstr(err->message, "server reported: export 'nope' not present"));
    g_clear_error(&err);

    /* nbd-server-remove mode=hard while a client is on: its requests fail with EIO. */
    c = nbd_client_connect(addr, "mem", &err);
    g_assert_no_error(err);
    Wait w = {0};
    uint8_t b[8];
    nbd_client_read(c, 0, 8, b, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, 0); /* the server has surely seen this connection */
    kill(pid, SIGUSR1);
    /* Reads succeed until the child has handled the signal, then fail. */
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int ret;
    do {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        nbd_client_read(c, 0, 8, b, on_done, &w);
        ret = wait_for(&w);
    } while (ret == 0);
    g_assert_cmpint(ret, ==, -EIO);
    g_assert_false(nbd_client_connected(c));
    nbd_client_close(c);

    int status;
    kill(pid, SIGTERM);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    rmdir(dir);
}

static void test_against_qemu_nbd(void)
{
    GError *err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nbd-client-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *sock = g_build_filename(dir, "s", NULL);
    g_autofree uint8_t *zeroes = g_malloc0(SIZE);
    g_assert_true(g_file_set_contents(img, (char *)zeroes, SIZE, NULL));
    GPid pid = qemu_nbd_start(img, sock, false);
    g_autoptr(SocketAddr) addr = socket_addr_new_unix(sock);

    NbdClient *c = nbd_client_connect(addr, "nope", &err);
    g_assert_null(c);
    g_assert_true(g_str_has_prefix(err->message, "Requested export not available"));
    g_clear_error(&err);

    c = nbd_client_connect(addr, "disk", &err);
    g_assert_no_error(err);
    exercise(c);
    nbd_client_close(c);
    qemu_nbd_stop(pid, SIGTERM);

    /* What the client wrote is in the image file. */
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(img, &data, &len, NULL));
    g_assert_cmpuint(len, ==, SIZE);
    for (int i = 100; i < 65536; i++) {
        g_assert_cmpuint((uint8_t)data[8192 + i], ==, (uint8_t)(i * 31 + 7));
    }
    g_assert_cmpuint((uint8_t)data[8192], ==, 0);

    /* The peer killed with requests in flight: they fail with EIO, and so do later ones. */
    unlink(sock);
    pid = qemu_nbd_start(img, sock, false);
    c = nbd_client_connect(addr, "disk", &err);
    g_assert_no_error(err);
    Wait w = {0};
    qemu_nbd_stop(pid, SIGKILL);
    uint8_t b[512];
    nbd_client_read(c, 0, sizeof(b), b, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, -EIO);
    nbd_client_write(c, 0, sizeof(b), b, false, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, -EIO);
    nbd_client_close(c);

    /* Nobody listening: QEMU's wording. */
    c = nbd_client_connect(addr, "disk", &err);
    g_assert_null(c);
    g_autofree char *want = g_strdup_printf("Failed to connect to '%s': ", sock);
    g_assert_true(g_str_has_prefix(err->message, want));
    g_clear_error(&err);
    unlink(img);
    rmdir(dir);
}

/*
 * A peer on a socket pair that has already sent @script (its half of the handshake and more):
 * the client's blocking handshake reads it. Returns the client's address; *@peer is the
 * peer's end.
 */
static SocketAddr *scripted_peer(const GByteArray *script, int *peer)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(write(sv[1], script->data, script->len), ==, script->len);
    *peer = sv[1];
    g_autofree char *fdname = g_strdup_printf("%d", sv[0]);
    return socket_addr_new_fd(fdname);
}

static GByteArray *greeting(uint16_t flags)
{
    GByteArray *s = g_byte_array_new();
    nbd_put_u64(s, NBD_INIT_MAGIC);
    nbd_put_u64(s, NBD_OPTS_MAGIC);
    nbd_put_u16(s, flags);
    return s;
}

/* A peer that answers the handshake, then drops the connection halfway through a reply. */
static void test_peer_dies_mid_reply(void)
{
    GError *err = NULL;
    int peer;
    g_autoptr(GByteArray) s = greeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    g_autoptr(GByteArray) info = g_byte_array_new();
    nbd_put_u16(info, NBD_INFO_EXPORT);
    nbd_put_u64(info, SIZE);
    nbd_put_u16(info, NBD_FLAG_HAS_FLAGS);
    nbd_encode_opt_reply(s, NBD_OPT_GO, NBD_REP_INFO, info->data, info->len);
    nbd_encode_opt_reply(s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
    g_autoptr(SocketAddr) addr = scripted_peer(s, &peer);
    NbdClient *c = nbd_client_connect(addr, "x", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(nbd_client_size(c), ==, SIZE);

    Wait w = {0};
    uint8_t b[4096];
    nbd_client_read(c, 0, sizeof(b), b, on_done, &w);
    /* Half a reply: header and 100 bytes of data, then the peer is gone. */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_autoptr(GByteArray) r = g_byte_array_new();
    nbd_encode_simple_reply(r, 0, 1);
    g_byte_array_set_size(r, r->len + 100);
    g_assert_cmpint(write(peer, r->data, r->len), ==, r->len);
    close(peer);
    g_assert_cmpint(wait_for(&w), ==, -EIO);
    nbd_client_close(c);
}

/* A reply with a cookie that was never sent breaks the stream: everything fails. */
static void test_unknown_cookie(void)
{
    GError *err = NULL;
    int peer;
    g_autoptr(GByteArray) s = greeting(0); /* not even fixed newstyle: EXPORT_NAME, 124 zeroes */
    nbd_put_u64(s, 4096);
    nbd_put_u16(s, NBD_FLAG_HAS_FLAGS);
    g_byte_array_set_size(s, s->len + 124);
    nbd_encode_simple_reply(s, 0, 0xdead);
    g_autoptr(SocketAddr) addr = scripted_peer(s, &peer);
    NbdClient *c = nbd_client_connect(addr, "", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(nbd_client_size(c), ==, 4096);
    Wait w = {0};
    nbd_client_flush(c, on_done, &w);
    g_assert_cmpint(wait_for(&w), ==, -EIO);
    nbd_client_close(c);
    close(peer);
}

static void test_bad_greeting(void)
{
    GError *err = NULL;
    int peer;
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_byte_array_append(s, (const guint8 *)"NBDMAGICXXXXXXXXXX", 18);
    g_autoptr(SocketAddr) addr = scripted_peer(s, &peer);
    g_assert_null(nbd_client_connect(addr, "x", &err));
    g_assert_cmpstr(err->message, ==, "Bad server magic received: 0x5858585858585858");
    g_clear_error(&err);
    close(peer);

    g_byte_array_set_size(s, 0);
    g_autoptr(SocketAddr) addr2 = scripted_peer(s, &peer);
    close(peer);
    g_assert_null(nbd_client_connect(addr2, "x", &err));
    g_assert_cmpstr(err->message, ==,
                    "Failed to read initial magic: Unexpected end-of-file before all data were "
                    "read");
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/nbd-client/our-server", test_against_our_server);
    g_test_add_func("/nbd-client/qemu-nbd", test_against_qemu_nbd);
    g_test_add_func("/nbd-client/peer-dies-mid-reply", test_peer_dies_mid_reply);
    g_test_add_func("/nbd-client/unknown-cookie", test_unknown_cookie);
    g_test_add_func("/nbd-client/bad-greeting", test_bad_greeting);
    return g_test_run();
}
