/*
 * The qcow2 format driver (block/qcow2-format.c) in the node graph: a chain made by Debian's
 * qemu-img opened from the overlay's recorded backing name, read and written through the
 * nodes (then qemu-img check and compare agree), vectored and, for mapped clusters, on the
 * caller's thread (preadv_nowait); backing=null and backing=NODE; the lock bytes
 * a chain holds under a device; discard, write-zeroes and make-empty through the node;
 * concurrent requests from the worker pool; temporary overlays made by bdrv_qcow2_create; the
 * errors of a bad image, a missing backing file and a read-only node.
 */
#include "block/block-backend.h"
#include "block/block.h"
#include "block-opts.h"
#include "block/qcow2-format.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define IMG_SIZE (1 << 20)

typedef struct {
    char *dir;
} Fixture;

static uint8_t base_byte(uint64_t i)
{
    return (uint8_t)(i % 251);
}

/* Runs a shell command line in the fixture's directory; its exit status. */
static int sh(Fixture *f, char **out, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int sh(Fixture *f, char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    g_autofree char *o = NULL, *e = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(f->dir, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e,
                               &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_printerr("%s:\n%s%s", cmd, o, e);
    }
    if (out) {
        *out = g_steal_pointer(&o);
    }
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

static char *path_of(Fixture *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

/* base.raw (byte i = i % 251), base.qcow2 converted from it by qemu-img, ov.qcow2 over it. */
static void fixture_setup(Fixture *f, gconstpointer unused)
{
    f->dir = g_dir_make_tmp("test-qcow2-format-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    g_autofree char *raw = path_of(f, "base.raw");
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    for (guint i = 0; i < IMG_SIZE; i++) {
        buf[i] = base_byte(i);
    }
    g_assert_true(g_file_set_contents(raw, (const char *)buf, IMG_SIZE, NULL));
    g_assert_cmpint(sh(f, NULL,
                       "qemu-img convert -f raw -O qcow2 base.raw base.qcow2 && "
                       "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2"),
                    ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer unused)
{
    block_cleanup();
    g_assert_cmpint(sh(f, NULL, "rm -rf -- '%s'", f->dir), ==, 0);
    g_free(f->dir);
}

static BlockDriverState *open_qcow2(Fixture *f, const char *name, GError **errp)
{
    g_autofree char *p = path_of(f, name);
    g_autoptr(GHashTable) o =
        opts_of("driver", "qcow2", "file.driver", "file", "file.filename", p, NULL);
    return bdrv_open_opts(o, NULL, errp);
}

static void assert_base_bytes(const uint8_t *buf, uint64_t off, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++) {
        if (buf[i] != base_byte(off + i)) {
            g_error("byte %" PRIu64 ": %u, not %u", off + i, buf[i], base_byte(off + i));
        }
    }
}

/* 1: another open file description holds the lock byte. */
static int lock_held(const char *path, off_t byte)
{
    int fd = open(path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    struct flock fl = {.l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK};
    g_assert_cmpint(fcntl(fd, F_OFD_GETLK, &fl), ==, 0);
    close(fd);
    return fl.l_type != F_UNLCK;
}

static void test_chain_read_write(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    BlockDriverState *ov = open_qcow2(f, "ov.qcow2", &err);
    g_assert_no_error(err);
    BlockDriverState *base = bdrv_backing_child(ov);
    g_assert_nonnull(base);
    g_assert_cmpstr(base->drv->format_name, ==, "qcow2");
    g_assert_true(base->read_only);
    g_assert_false(ov->read_only);
    g_assert_cmpstr(ov->backing_file, ==, "base.qcow2");
    g_assert_cmpstr(ov->backing_format, ==, "qcow2");
    g_autofree char *base_path = path_of(f, "base.qcow2");
    g_assert_cmpstr(bdrv_filename(base), ==, base_path);
    g_assert_cmpint(bdrv_getlength(ov), ==, IMG_SIZE);

    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    g_assert_cmpint(bdrv_pread(ov, 0, IMG_SIZE, buf), ==, 0);
    assert_base_bytes(buf, 0, IMG_SIZE);
    /* A write straddling two clusters, unaligned: copy-on-write from the base around it. */
    uint8_t data[5000];
    memset(data, 0xa5, sizeof(data));
    g_assert_cmpint(bdrv_pwrite(ov, 65536 - 1000, sizeof(data), data, 0), ==, 0);
    g_assert_cmpint(bdrv_flush(ov), ==, 0);
    g_assert_cmpint(bdrv_pread(ov, 0, IMG_SIZE, buf), ==, 0);
    g_assert_cmpmem(buf + 65536 - 1000, sizeof(data), data, sizeof(data));
    assert_base_bytes(buf, 0, 65536 - 1000);
    assert_base_bytes(buf + 65536 + 4000, 65536 + 4000, IMG_SIZE - 65536 - 4000);
    /* The base is not written, and cannot be. */
    g_assert_cmpint(bdrv_pwrite(base, 0, 512, data, 0), ==, -EPERM);
    g_assert_cmpint(bdrv_pread(base, 65536 - 1000, 1000, buf), ==, 0);
    assert_base_bytes(buf, 65536 - 1000, 1000);
    bdrv_unref(ov);

    /* qemu-img agrees: clean, and the image reads as the base with our bytes over it. */
    g_assert_cmpint(sh(f, NULL,
                       "qemu-img check -q ov.qcow2 && cp base.raw want.raw && "
                       "printf '\\245%%.0s' $(seq 5000) | "
                       "dd of=want.raw bs=1 seek=64536 conv=notrunc status=none && "
                       "qemu-img compare -q -f qcow2 -F raw ov.qcow2 want.raw && "
                       "qemu-img compare -q -f qcow2 -F raw base.qcow2 base.raw"),
                    ==, 0);
}

/*
 * Vectored requests through the nodes (a device's guest pages): the driver takes them itself,
 * a write in three segments allocates two clusters over the qcow2 base, and a read in segments
 * spans the base, the new clusters and the base again.
 */
static void test_vectored(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    BlockDriverState *ov = open_qcow2(f, "ov.qcow2", &err);
    g_assert_no_error(err);
    g_assert_nonnull(ov->drv->preadv);
    g_assert_nonnull(ov->drv->pwritev);

    uint8_t data[5000];
    memset(data, 0x5a, sizeof(data));
    struct iovec wv[] = {{data, 1}, {data + 1, 2999}, {data + 3000, 2000}};
    g_assert_cmpint(bdrv_pwritev(ov, 65536 - 1000, wv, G_N_ELEMENTS(wv), 0), ==, 0);
    /* In place, over what the write above allocated. */
    g_assert_cmpint(bdrv_pwritev(ov, 65536 - 1000, wv, 2, BDRV_REQ_FUA), ==, 0);

    g_autofree uint8_t *buf = g_malloc0(3 * 65536);
    struct iovec rv[] = {{buf, 7}, {buf + 7, 65536}, {buf + 65543, 3 * 65536 - 65543}};
    g_assert_cmpint(bdrv_preadv(ov, 0, rv, G_N_ELEMENTS(rv)), ==, 0);
    assert_base_bytes(buf, 0, 65536 - 1000);
    g_assert_cmpmem(buf + 65536 - 1000, sizeof(data), data, sizeof(data));
    assert_base_bytes(buf + 65536 + 4000, 65536 + 4000, 2 * 65536 - 4000);

    /* The clusters it allocated (0 and 1) are mapped and in the page cache: read on this
     * thread; cluster 2 is the base's, left to a worker. */
    memset(buf, 0, 2 * 65536);
    struct iovec nv[] = {{buf, 100}, {buf + 100, 2 * 65536 - 100}};
    g_assert_cmpint(bdrv_preadv_nowait(ov, 65536, nv, 2), ==, -EAGAIN);
    g_assert_cmpint(bdrv_preadv_nowait(ov, 0, nv, 2), ==, 0);
    assert_base_bytes(buf, 0, 65536 - 1000);
    g_assert_cmpmem(buf + 65536 - 1000, sizeof(data), data, sizeof(data));
    assert_base_bytes(buf + 65536 + 4000, 65536 + 4000, 65536 - 4000);
    bdrv_unref(ov);

    g_assert_cmpint(sh(f, NULL,
                       "qemu-img check -q ov.qcow2 && cp base.raw want.raw && "
                       "printf 'Z%%.0s' $(seq 5000) | "
                       "dd of=want.raw bs=1 seek=64536 conv=notrunc status=none && "
                       "qemu-img compare -q -f qcow2 -F raw ov.qcow2 want.raw"),
                    ==, 0);
}

static void test_backing_options(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    g_autofree char *ov_path = path_of(f, "ov.qcow2");
    uint8_t buf[512];

    /* backing=null (a NULL value, as the JSON form gives it): unallocated reads as zeros. */
    g_autoptr(GHashTable) o1 =
        opts_of("driver", "qcow2", "file.driver", "file", "file.filename", ov_path, NULL);
    g_hash_table_insert(o1, g_strdup("backing"), NULL);
    BlockDriverState *alone = bdrv_open_opts(o1, NULL, &err);
    g_assert_no_error(err);
    g_assert_null(bdrv_backing_child(alone));
    g_assert_true(g_str_has_prefix(bdrv_filename(alone), "json:{\"backing\": null, "));
    g_assert_cmpint(bdrv_pread(alone, 4096, sizeof(buf), buf), ==, 0);
    for (guint i = 0; i < sizeof(buf); i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }
    bdrv_unref(alone);

    /* backing=NODE: a raw node of the base's bytes. */
    g_autofree char *raw_path = path_of(f, "base.raw");
    g_autoptr(GHashTable) o2 = opts_of("driver", "raw", "node-name", "rawbase", "read-only", "on",
                                       "file.driver", "file", "file.filename", raw_path, NULL);
    BlockDriverState *raw = bdrv_open_opts(o2, NULL, &err);
    g_assert_no_error(err);
    g_autoptr(GHashTable) o3 = opts_of("driver", "qcow2", "file.driver", "file", "file.filename",
                                       ov_path, "backing", "rawbase", NULL);
    BlockDriverState *ov = bdrv_open_opts(o3, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_backing_child(ov) == raw);
    g_assert_cmpint(bdrv_pread(ov, 4096, sizeof(buf), buf), ==, 0);
    assert_base_bytes(buf, 4096, sizeof(buf));
    bdrv_unref(ov);
    bdrv_unref(raw);

    /* backing.<key>: the recorded name's defaults with the options over them. */
    g_autoptr(GHashTable) o4 = opts_of("driver", "qcow2", "file.driver", "file", "file.filename",
                                       ov_path, "backing.node-name", "b0", NULL);
    BdrvOpenFlags drive = {.drive_style = true};
    ov = bdrv_open_opts(o4, &drive, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_backing_child(ov) == bdrv_find_node("b0"));
    bdrv_unref(ov);
    g_assert_null(bdrv_find_node("b0"));
}

static void test_errors(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    g_assert_null(open_qcow2(f, "base.raw", &err));
    g_assert_cmpstr(err->message, ==, "Image is not in qcow2 format");
    g_clear_error(&err);

    g_assert_cmpint(sh(f, NULL,
                       "qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 "
                       "orphan.qcow2 1M"),
                    ==, 0);
    g_assert_null(open_qcow2(f, "orphan.qcow2", &err));
    g_autofree char *gone = path_of(f, "gone.qcow2");
    g_autofree char *want =
        g_strdup_printf("Could not open backing file: Could not open '%s': No such file or "
                        "directory",
                        gone);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
    g_assert_cmpuint(bdrv_all_nodes()->len, ==, 0); /* nothing left half-open */

    /* A read-only qcow2 node refuses writes; a writable one on a read-only file cannot open. */
    g_autofree char *p = path_of(f, "ov.qcow2");
    g_autoptr(GHashTable) o = opts_of("driver", "qcow2", "read-only", "on", "file.driver", "file",
                                      "file.filename", p, NULL);
    BlockDriverState *ro = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    uint8_t buf[512] = {0};
    g_assert_cmpint(bdrv_pwrite(ro, 0, sizeof(buf), buf, 0), ==, -EPERM);
    g_assert_cmpint(bdrv_make_empty(ro), ==, -EPERM);
    bdrv_unref(ro);
    g_autoptr(GHashTable) of =
        opts_of("driver", "file", "node-name", "f", "read-only", "on", "filename", p, NULL);
    BlockDriverState *file = bdrv_open_opts(of, NULL, &err);
    g_autoptr(GHashTable) oq = opts_of("driver", "qcow2", "file", "f", NULL);
    g_assert_null(bdrv_open_opts(oq, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Block node is read-only");
    g_clear_error(&err);
    bdrv_unref(file);
}

static void test_locks_under_device(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    g_autofree char *ov_path = path_of(f, "ov.qcow2");
    g_autofree char *base_path = path_of(f, "base.qcow2");
    BlockDriverState *ov = open_qcow2(f, "ov.qcow2", &err);
    g_assert_no_error(err);
    /* A writable qcow2 node writes and resizes its file and lets nobody else. */
    g_assert_cmpint(lock_held(ov_path, 101), ==, 1); /* write */
    g_assert_cmpint(lock_held(ov_path, 103), ==, 1); /* resize */
    g_assert_cmpint(lock_held(ov_path, 201), ==, 1); /* write not shared */
    /* The base is only read; its metadata must not change under it, so nobody writes it. */
    g_assert_cmpint(lock_held(base_path, 101), ==, 0);
    g_assert_cmpint(lock_held(base_path, 201), ==, 1);
    g_assert_cmpint(lock_held(base_path, 100), ==, 1); /* its metadata is read */

    BlockBackend *blk = blk_new("d0", NULL);
    g_assert_true(blk_insert_bs(blk, ov, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    g_assert_no_error(err);
    bdrv_unref(ov);
    /* With a device above that does not share write, the base stays shared for reading
     * only. */
    g_assert_cmpint(lock_held(base_path, 101), ==, 0);
    g_assert_cmpint(lock_held(base_path, 201), ==, 1);
    g_assert_cmpint(lock_held(base_path, 203), ==, 1); /* resize not shared */
    /* So a writer of the base is refused, in upstream's words. */
    g_autoptr(GHashTable) o =
        opts_of("driver", "qcow2", "file.driver", "file", "file.filename", base_path, NULL);
    BlockDriverState *again = bdrv_open_opts(o, NULL, &err);
    g_assert_null(again);
    g_assert_true(g_str_has_prefix(err->message, "Failed to get \"write\" lock"));
    g_clear_error(&err);
    blk_unref(blk);
    g_assert_cmpint(lock_held(ov_path, 101), ==, 0);
    g_assert_cmpint(lock_held(base_path, 100), ==, 0);
}

static void test_discard_zeroes_empty(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    g_autofree uint8_t *buf = g_malloc(4 * 65536);
    memset(buf, 0x5c, 4 * 65536);
    /* By default a discard does nothing (upstream's discard=ignore). */
    BlockDriverState *ov = open_qcow2(f, "ov.qcow2", &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(ov, 0, 4 * 65536, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_discard(ov, 0, 4 * 65536), ==, 0);
    g_assert_cmpint(bdrv_pread(ov, 0, 4 * 65536, buf), ==, 0);
    for (guint i = 0; i < 4 * 65536; i++) {
        g_assert_cmpuint(buf[i], ==, 0x5c);
    }
    bdrv_unref(ov);

    g_autofree char *p = path_of(f, "ov.qcow2");
    g_autoptr(GHashTable) o = opts_of("driver", "qcow2", "discard", "unmap", "file.driver", "file",
                                      "file.filename", p, NULL);
    ov = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_file_child(ov)->discard_unmap); /* inherited */
    /* Discard of whole clusters: reads as zeros on a v3 image, not as the base. */
    g_assert_cmpint(bdrv_discard(ov, 65536, 65536), ==, 0);
    /* Write-zeroes of part of a cluster and a whole one. */
    g_assert_cmpint(bdrv_write_zeroes(ov, 2 * 65536 + 100, 65536 + 65436, BDRV_REQ_MAY_UNMAP), ==,
                    0);
    g_assert_cmpint(bdrv_pread(ov, 0, 4 * 65536, buf), ==, 0);
    for (guint i = 0; i < 4 * 65536; i++) {
        bool zero = (i >= 65536 && i < 2 * 65536) || i >= 2 * 65536 + 100;
        g_assert_cmpuint(buf[i], ==, zero ? 0 : 0x5c);
    }
    g_assert_cmpint(bdrv_flush(ov), ==, 0);
    g_assert_cmpint(sh(f, NULL, "qemu-img check -q -U ov.qcow2"), ==, 0);
    /* Emptied, the overlay reads as its base again (what replication does to its disks). */
    g_assert_cmpint(bdrv_make_empty(ov), ==, 0);
    g_assert_cmpint(bdrv_pread(ov, 0, 4 * 65536, buf), ==, 0);
    assert_base_bytes(buf, 0, 4 * 65536);
    bdrv_unref(ov);
    g_assert_cmpint(sh(f, NULL,
                       "qemu-img check -q ov.qcow2 && "
                       "qemu-img compare -q -f qcow2 -F raw ov.qcow2 base.raw"),
                    ==, 0);
}

typedef struct {
    int pending, failed;
} Batch;

static void batch_done(void *opaque, int ret)
{
    Batch *b = opaque;
    b->pending--;
    b->failed += ret != 0;
}

static void test_concurrent_requests(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    BlockDriverState *ov = open_qcow2(f, "ov.qcow2", &err);
    g_assert_no_error(err);
    BlockBackend *blk = blk_new("d0", NULL);
    g_assert_true(blk_insert_bs(blk, ov, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    bdrv_unref(ov);
    /* 32 writes of 6000 bytes at 16000-byte steps (allocating and copying on write from the
     * base in clusters they share) and 32 reads of the base beside them, all at once. */
    enum { N = 32, LEN = 6000, STEP = 16000 };
    static uint8_t wbuf[N][LEN], rbuf[N][LEN];
    Batch b = {0};
    for (int i = 0; i < N; i++) {
        memset(wbuf[i], 0x80 + i, LEN);
        b.pending += 2;
        blk_aio_pwrite(blk, (uint64_t)i * STEP, LEN, wbuf[i], 0, batch_done, &b);
        blk_aio_pread(blk, IMG_SIZE - (uint64_t)(i + 1) * LEN, LEN, rbuf[i], batch_done, &b);
    }
    blk_drain(blk);
    g_assert_cmpint(b.pending, ==, 0);
    g_assert_cmpint(b.failed, ==, 0);
    for (int i = 0; i < N; i++) {
        assert_base_bytes(rbuf[i], IMG_SIZE - (uint64_t)(i + 1) * LEN, LEN);
    }
    g_autofree uint8_t *all = g_malloc(IMG_SIZE);
    g_assert_cmpint(bdrv_pread(blk_bs(blk), 0, IMG_SIZE, all), ==, 0);
    for (uint64_t i = 0; i < IMG_SIZE; i++) {
        uint64_t k = i / STEP;
        uint8_t want = k < N && i % STEP < LEN ? 0x80 + k : base_byte(i);
        if (all[i] != want) {
            g_error("byte %" PRIu64 ": %u, not %u", i, all[i], want);
        }
    }
    blk_unref(blk);
    g_assert_cmpint(sh(f, NULL, "qemu-img check -q ov.qcow2"), ==, 0);
}

static void test_temporary_overlay(Fixture *f, gconstpointer unused)
{
    GError *err = NULL;
    g_autofree char *tmp = path_of(f, "tmp.qcow2");
    g_assert_true(g_file_set_contents(tmp, "", 0, NULL));
    g_autoptr(GHashTable) of = opts_of("driver", "file", "node-name", "t", "filename", tmp, NULL);
    BlockDriverState *file = bdrv_open_opts(of, NULL, &err);
    g_assert_no_error(err);
    Qcow2CreateOpts create = {.size = IMG_SIZE};
    g_assert_true(bdrv_qcow2_create(file, &create, &err));
    g_autofree char *base_path = path_of(f, "base.qcow2");
    g_autoptr(GHashTable) ob = opts_of("driver", "qcow2", "node-name", "b", "read-only", "on",
                                       "file.driver", "file", "file.filename", base_path, NULL);
    BlockDriverState *base = bdrv_open_opts(ob, NULL, &err);
    g_assert_no_error(err);
    g_autoptr(GHashTable) oo = opts_of("driver", "qcow2", "file", "t", "backing", "b", NULL);
    BlockDriverState *ov = bdrv_open_opts(oo, NULL, &err);
    g_assert_no_error(err);
    bdrv_unref(file);
    bdrv_unref(base);
    uint8_t data[4096];
    memset(data, 0xee, sizeof(data));
    g_assert_cmpint(bdrv_pwrite(ov, 8192, sizeof(data), data, 0), ==, 0);
    uint8_t buf[3 * 4096];
    g_assert_cmpint(bdrv_pread(ov, 4096, sizeof(buf), buf), ==, 0);
    assert_base_bytes(buf, 4096, 4096);
    g_assert_cmpmem(buf + 4096, 4096, data, sizeof(data));
    assert_base_bytes(buf + 8192, 12288, 4096);
    g_autofree char *json =
        g_strdup_printf("json:{\"backing\": {\"driver\": \"qcow2\", \"file\": "
                        "{\"driver\": \"file\", \"filename\": \"%s\"}}, \"driver\": "
                        "\"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": "
                        "\"%s\"}}",
                        base_path, tmp);
    g_assert_cmpstr(bdrv_filename(ov), ==, json);
    bdrv_unref(ov);
    /* Only the overlay changed; qemu-img finds it a clean image with our bytes. */
    g_assert_cmpint(sh(f, NULL,
                       "qemu-img check -q tmp.qcow2 && "
                       "qemu-img compare -q -f qcow2 -F raw base.qcow2 base.raw && "
                       "qemu-img info tmp.qcow2 | grep -q '^virtual size: 1 MiB'"),
                    ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/qcow2-format/chain-read-write", test_chain_read_write);
    ADD("/qcow2-format/vectored", test_vectored);
    ADD("/qcow2-format/backing-options", test_backing_options);
    ADD("/qcow2-format/errors", test_errors);
    ADD("/qcow2-format/locks-under-device", test_locks_under_device);
    ADD("/qcow2-format/discard-zeroes-empty", test_discard_zeroes_empty);
    ADD("/qcow2-format/concurrent-requests", test_concurrent_requests);
    ADD("/qcow2-format/temporary-overlay", test_temporary_overlay);
    return g_test_run();
}
