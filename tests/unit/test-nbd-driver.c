/*
 * block/nbd-driver.c: the nbd protocol node against Debian's qemu-nbd (through a BlockBackend,
 * the image then compared with qemu-img), a drain on the main thread with requests in flight,
 * a peer that dies with a request in flight (EIO, without the main loop's help), and the
 * read-only export.
 */
#include "block/block-backend.h"
#include "block/nbd-driver.h"
#include "qemu-nbd-peer.h"
#include "util/error.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (4 * 1024 * 1024)

static char *dir;

/* raw over nbd: -drive's legacy file.path=S or -blockdev's file.server.type=unix,
 * file.server.path=S; export "disk". */
static BlockDriverState *open_nbd(const char *sock, bool drive_style, bool read_only, GError **errp)
{
    g_autoptr(GHashTable) opts = bdrv_opts_new();
    g_hash_table_insert(opts, g_strdup("driver"), g_strdup("raw"));
    g_hash_table_insert(opts, g_strdup("file.driver"), g_strdup("nbd"));
    if (drive_style) {
        g_hash_table_insert(opts, g_strdup("file.path"), g_strdup(sock));
    } else {
        g_hash_table_insert(opts, g_strdup("file.server.type"), g_strdup("unix"));
        g_hash_table_insert(opts, g_strdup("file.server.path"), g_strdup(sock));
    }
    g_hash_table_insert(opts, g_strdup("file.export"), g_strdup("disk"));
    if (read_only) {
        g_hash_table_insert(opts, g_strdup("read-only"), g_strdup("on"));
    }
    BdrvOpenFlags f = {.drive_style = drive_style, .auto_read_only = drive_style};
    return bdrv_open_opts(opts, &f, errp);
}

typedef struct Done {
    int ret;
    bool done;
} Done;

static void on_done(void *opaque, int ret)
{
    Done *d = opaque;
    d->ret = ret;
    d->done = true;
}

static int wait_done(Done *d)
{
    while (!d->done) {
        g_main_context_iteration(NULL, TRUE);
    }
    d->done = false;
    return d->ret;
}

static void fill(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7 + seed);
    }
}

static void run_cmd(const char *cmd, int want)
{
    int status;
    g_autofree char *out = NULL, *errs = NULL;
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &errs, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL) != (want != 0)) {
        g_test_message("%s: %s%s", cmd, out, errs);
    }
    g_assert_cmpint(WIFEXITED(status) ? WEXITSTATUS(status) : -1, ==, want);
}

/*
 * Reads, writes (one larger than an NBD request may carry), FUA, zeroes, discard and flush
 * through a backend; then the image must equal a model file written the same way.
 */
static void test_qemu_nbd(void)
{
    GError *err = NULL;
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *model = g_build_filename(dir, "model.img", NULL);
    g_autofree char *sock = g_build_filename(dir, "s", NULL);
    g_autofree uint8_t *m = g_malloc0(SIZE);
    g_assert_true(g_file_set_contents(img, (char *)m, SIZE, NULL));
    GPid pid = qemu_nbd_start(img, sock, false);

    BlockDriverState *bs = open_nbd(sock, true, false, &err);
    g_assert_no_error(err);
    g_autofree char *want_name = g_strdup_printf("nbd+unix:///disk?socket=%s", sock);
    g_assert_cmpstr(bdrv_filename(bs), ==, want_name);
    BlockBackend *blk = blk_new("nbd0", NULL);
    g_assert_true(
        blk_insert_bs(blk, bs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE, BLK_PERM_ALL, &err));
    g_assert_no_error(err);
    bdrv_unref(bs);
    g_assert_cmpint(blk_getlength(blk), ==, SIZE);

    Done d = {0};
    /* Two writes in flight at once, one of them with FUA. */
    g_autofree uint8_t *big = g_malloc(3 * 1024 * 1024);
    fill(big, 3 * 1024 * 1024, 1);
    Done ds[4] = {{0}};
    blk_aio_pwrite(blk, 4096, 3 * 1024 * 1024, big, 0, on_done, &ds[0]);
    uint8_t small[1000];
    fill(small, sizeof(small), 2);
    blk_aio_pwrite(blk, SIZE - 1000, sizeof(small), small, BDRV_REQ_FUA, on_done, &ds[1]);
    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(wait_done(&ds[i]), ==, 0);
    }
    memcpy(m + 4096, big, 3 * 1024 * 1024);
    memcpy(m + SIZE - 1000, small, sizeof(small));
    blk_aio_write_zeroes(blk, 8192, 5000, 0, on_done, &d);
    g_assert_cmpint(wait_done(&d), ==, 0);
    memset(m + 8192, 0, 5000);
    blk_aio_flush(blk, on_done, &d);
    g_assert_cmpint(wait_done(&d), ==, 0);
    g_autofree uint8_t *back = g_malloc(SIZE);
    blk_aio_pread(blk, 0, SIZE, back, on_done, &d);
    g_assert_cmpint(wait_done(&d), ==, 0);
    g_assert_cmpmem(back, SIZE, m, SIZE);
    /* Past the end: refused before it reaches the server. */
    blk_aio_pread(blk, SIZE - 512, 1024, back, on_done, &d);
    g_assert_cmpint(wait_done(&d), ==, -EIO);

    /* A drain on the main thread while requests wait for the network: the client does not
     * need the main loop, so the drain completes. */
    for (int i = 0; i < 4; i++) {
        blk_aio_pwrite(blk, i * 65536, 65536, big, 0, on_done, &ds[i]);
        memcpy(m + i * 65536, big, 65536);
    }
    blk_drain(blk);
    for (int i = 0; i < 4; i++) {
        g_assert_true(ds[i].done);
        g_assert_cmpint(ds[i].ret, ==, 0);
    }
    blk_unref(blk);
    qemu_nbd_stop(pid, SIGTERM);

    g_assert_true(g_file_set_contents(model, (char *)m, SIZE, NULL));
    g_autofree char *cmp = g_strdup_printf("qemu-img compare -f raw -F raw %s %s", img, model);
    run_cmd(cmp, 0);
}

typedef struct Reader {
    BlockDriverState *bs;
    uint8_t buf[4096];
    int ret;
} Reader;

static gpointer reader(gpointer opaque)
{
    Reader *r = opaque;
    r->ret = bdrv_pread(r->bs, 0, sizeof(r->buf), r->buf);
    return NULL;
}

/* The server killed with a read in flight: EIO, with no help from the main loop, and every
 * later request fails at once. */
static void test_peer_lost(void)
{
    GError *err = NULL;
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *sock = g_build_filename(dir, "s", NULL);
    g_autofree uint8_t *zero = g_malloc0(SIZE);
    g_assert_true(g_file_set_contents(img, (char *)zero, SIZE, NULL));
    GPid pid = qemu_nbd_start(img, sock, false);
    BlockDriverState *bs = open_nbd(sock, false, false, &err);
    g_assert_no_error(err);
    Reader r = {.bs = bs, .ret = 1};
    g_assert_cmpint(bdrv_pread(bs, 0, sizeof(r.buf), r.buf), ==, 0);
    /* Stopped first, so that the read is surely waiting for its reply when the peer dies. */
    kill(pid, SIGSTOP);
    GThread *t = g_thread_new("reader", reader, &r);
    g_usleep(200 * 1000);
    g_assert_cmpint(r.ret, ==, 1);
    qemu_nbd_stop(pid, SIGKILL);
    g_thread_join(t);
    g_assert_cmpint(r.ret, ==, -EIO);
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(bdrv_pread(bs, 0, sizeof(r.buf), r.buf), ==, -EIO);
    g_assert_cmpint(bdrv_pwrite(bs, 0, sizeof(r.buf), r.buf, 0), ==, -EIO);
    g_assert_cmpint(bdrv_flush(bs), ==, -EIO);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    bdrv_unref(bs);
}

/* A request larger than one NBD request may carry (32 MiB) is split, in order. */
static void test_large_request(void)
{
    GError *err = NULL;
    const uint64_t len = 33 * 1024 * 1024 + 4096, size = 40 * 1024 * 1024;
    g_autofree char *img = g_build_filename(dir, "big.img", NULL);
    g_autofree char *sock = g_build_filename(dir, "s", NULL);
    g_assert_true(g_file_set_contents(img, "", 0, NULL));
    g_assert_cmpint(truncate(img, size), ==, 0);
    GPid pid = qemu_nbd_start(img, sock, false);
    BlockDriverState *bs = open_nbd(sock, false, false, &err);
    g_assert_no_error(err);
    g_autofree uint8_t *buf = g_malloc(len);
    g_autofree uint8_t *back = g_malloc0(len);
    fill(buf, len, 3);
    g_assert_cmpint(bdrv_pwrite(bs, 1024 * 1024, len, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 1024 * 1024, len, back), ==, 0);
    g_assert_true(memcmp(back, buf, len) == 0);
    g_assert_cmpint(bdrv_write_zeroes(bs, 1024 * 1024, len, 0), ==, 0);
    g_assert_cmpint(bdrv_pread(bs, 1024 * 1024, len, back), ==, 0);
    memset(buf, 0, len);
    g_assert_true(memcmp(back, buf, len) == 0);
    bdrv_unref(bs);
    qemu_nbd_stop(pid, SIGTERM);
    unlink(img);
}

static void test_read_only_export(void)
{
    GError *err = NULL;
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *sock = g_build_filename(dir, "s", NULL);
    GPid pid = qemu_nbd_start(img, sock, true);
    /* -blockdev: refused as upstream refuses it; -drive: read-only (auto-read-only). */
    g_assert_null(open_nbd(sock, false, false, &err));
    g_assert_cmpstr(err->message, ==, "Could not open image: Permission denied");
    g_clear_error(&err);
    BlockDriverState *bs = open_nbd(sock, true, false, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_file_child(bs)->read_only);
    bdrv_unref(bs);
    bs = open_nbd(sock, false, true, &err);
    g_assert_no_error(err);
    bdrv_unref(bs);
    qemu_nbd_stop(pid, SIGTERM);

    /* Nobody listening: QEMU's wording. */
    g_assert_null(open_nbd(sock, false, false, &err));
    g_autofree char *want = g_strdup_printf("Failed to connect to '%s': ", sock);
    g_assert_true(g_str_has_prefix(err->message, want));
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    bdrv_register_driver(&bdrv_nbd);
    dir = g_dir_make_tmp("nbd-driver-XXXXXX", NULL);
    g_test_add_func("/nbd-driver/qemu-nbd", test_qemu_nbd);
    g_test_add_func("/nbd-driver/peer-lost", test_peer_lost);
    g_test_add_func("/nbd-driver/large-request", test_large_request);
    g_test_add_func("/nbd-driver/read-only-export", test_read_only_export);
    int ret = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf %s", dir);
    (void)!system(cmd);
    return ret;
}
