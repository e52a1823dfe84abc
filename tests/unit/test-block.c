/* The block layer: opening nodes from options, raw on file, asynchronous requests completing
 * on the main context, drain, image locks, read-only nodes. */
#include "block/block-backend.h"
#include "block/block.h"
#include "block-opts.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define IMG_SIZE (4 << 20)

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("test-block-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->path = g_build_filename(f->dir, "disk.raw", NULL);
    int fd = open(f->path, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    /* A recognisable pattern: byte i is i % 251. */
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    for (guint i = 0; i < IMG_SIZE; i++) {
        buf[i] = i % 251;
    }
    g_assert_cmpint(pwrite(fd, buf, IMG_SIZE, 0), ==, IMG_SIZE);
    close(fd);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    block_cleanup();
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static BlockDriverState *open_raw(const char *path, const char *extra_key, const char *extra,
                                  GError **errp)
{
    g_autoptr(GHashTable) o = opts_of("driver", "raw", "file.driver", "file", "file.filename", path,
                                      extra_key, extra, NULL);
    return bdrv_open_opts(o, NULL, errp);
}

typedef struct {
    int ret;
    int done;
    GThread *thread;
} Completion;

static void complete(void *opaque, int ret)
{
    Completion *c = opaque;
    c->ret = ret;
    c->thread = g_thread_self();
    g_atomic_int_inc(&c->done); /* last: a worker may run it (test_completion_lock) */
}

static void wait_done(Completion *c)
{
    while (!c->done) {
        g_main_context_iteration(NULL, TRUE);
    }
}

static void test_open_errors(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    g_autoptr(GHashTable) o1 = opts_of("driver", "bogus", "node-name", "x", NULL);
    g_assert_null(bdrv_open_opts(o1, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'driver' does not accept value 'bogus'");
    g_clear_error(&err);

    g_autoptr(GHashTable) o2 = opts_of("driver", "vmdk", "file.driver", "file", NULL);
    g_assert_null(bdrv_open_opts(o2, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Unknown driver 'vmdk'");
    g_clear_error(&err);

    g_autoptr(GHashTable) o3 = opts_of("driver", "raw", NULL);
    g_assert_null(bdrv_open_opts(o3, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'file' is missing");
    g_clear_error(&err);

    g_autoptr(GHashTable) o4 = opts_of("driver", "raw", "file.filename", f->path, NULL);
    g_assert_null(bdrv_open_opts(o4, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'file.driver' is missing");
    g_clear_error(&err);

    g_assert_null(open_raw(f->path, "file.bogus", "1", &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'file.bogus' is unexpected");
    g_clear_error(&err);

    g_assert_null(open_raw("/nonexistent/x.raw", NULL, NULL, &err));
    g_assert_cmpstr(err->message, ==,
                    "Could not open '/nonexistent/x.raw': No such file or directory");
    g_clear_error(&err);

    g_assert_null(open_raw(f->path, "offset", "99999999", &err));
    g_assert_cmpstr(err->message, ==,
                    "Offset (99999999) cannot be greater than size of the containing file "
                    "(4194304)");
    g_clear_error(&err);

    g_assert_null(open_raw(f->path, "size", "100", &err));
    g_assert_cmpstr(err->message, ==, "Specified size is not multiple of 512");
    g_clear_error(&err);

    BdrvOpenFlags drive = {.drive_style = true};
    g_autoptr(GHashTable) o5 =
        opts_of("driver", "raw", "file.filename", f->path, "bogus", "1", NULL);
    g_assert_null(bdrv_open_opts(o5, &drive, &err));
    g_assert_cmpstr(err->message, ==, "Block format 'raw' does not support the option 'bogus'");
    g_clear_error(&err);
    /* Nothing half-opened stays behind. */
    g_assert_cmpuint(bdrv_all_nodes()->len, ==, 0);
}

static void test_graph_and_names(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    g_autoptr(GHashTable) of =
        opts_of("driver", "file", "node-name", "f0", "filename", f->path, NULL);
    BlockDriverState *file = bdrv_open_opts(of, NULL, &err);
    g_assert_no_error(err);
    g_autoptr(GHashTable) orw = opts_of("driver", "raw", "node-name", "r0", "file", "f0", NULL);
    BlockDriverState *raw = bdrv_open_opts(orw, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(bdrv_file_child(raw) == file);
    g_assert_true(bdrv_find_node("r0") == raw);
    g_assert_true(bdrv_has_parents(file));
    g_assert_cmpstr(bdrv_filename(raw), ==, f->path);
    g_assert_cmpint(bdrv_getlength(raw), ==, IMG_SIZE);

    g_autoptr(GHashTable) dup = opts_of("driver", "raw", "node-name", "f0", "file", "f0", NULL);
    g_assert_null(bdrv_open_opts(dup, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Duplicate nodes with node-name='f0'");
    g_clear_error(&err);
    g_autoptr(GHashTable) bad = opts_of("driver", "raw", "node-name", "1x", "file", "f0", NULL);
    g_assert_null(bdrv_open_opts(bad, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Invalid node-name: '1x'");
    g_clear_error(&err);
    g_autoptr(GHashTable) missing = opts_of("driver", "raw", "file", "nope", NULL);
    g_assert_null(bdrv_open_opts(missing, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Cannot find device='nope' nor node-name='nope'");
    g_clear_error(&err);

    bdrv_unref(raw);
    g_assert_false(bdrv_has_parents(file));
    bdrv_unref(file);
    g_assert_cmpuint(bdrv_all_nodes()->len, ==, 0);
}

/* A raw node on path and a backend "name" on it taking what a writable disk device takes. */
static BlockBackend *open_writer(const char *path, const char *name, BlockDriverState **bsp)
{
    GError *err = NULL;
    BlockDriverState *bs = open_raw(path, NULL, NULL, &err);
    g_assert_no_error(err);
    BlockBackend *blk = blk_new(name, NULL);
    g_assert_true(blk_insert_bs(blk, bs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    g_assert_no_error(err);
    *bsp = bs;
    return blk;
}

static void test_async_rw(Fixture *f, gconstpointer data)
{
    BlockDriverState *bs;
    BlockBackend *blk = open_writer(f->path, "drive0", &bs);
    bdrv_unref(bs);
    g_assert_true(blk_by_name("drive0") == blk);

    uint8_t buf[4096];
    Completion c = {0};
    blk_aio_pread(blk, 8192, sizeof(buf), buf, complete, &c);
    /* Never completed inside the call. */
    g_assert_cmpint(c.done, ==, 0);
    g_assert_cmpuint(blk_in_flight(blk), ==, 1);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_true(c.thread == g_thread_self());
    for (guint i = 0; i < sizeof(buf); i++) {
        g_assert_cmpuint(buf[i], ==, (8192 + i) % 251);
    }

    memset(buf, 0xab, sizeof(buf));
    c = (Completion){0};
    blk_aio_pwrite(blk, 4096, sizeof(buf), buf, 0, complete, &c);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, 0);
    c = (Completion){0};
    blk_aio_flush(blk, complete, &c);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, 0);

    /* On the host, the write is there. */
    int fd = open(f->path, O_RDONLY);
    uint8_t host[4096];
    g_assert_cmpint(pread(fd, host, sizeof(host), 4096), ==, sizeof(host));
    close(fd);
    g_assert_cmpmem(host, sizeof(host), buf, sizeof(buf));

    /* Past the end: an I/O error, still through the callback. */
    c = (Completion){0};
    blk_aio_pread(blk, IMG_SIZE - 512, 1024, buf, complete, &c);
    g_assert_cmpint(c.done, ==, 0);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, -EIO);

    /* Zeroes and discard read back as zeroes. */
    c = (Completion){0};
    blk_aio_write_zeroes(blk, 65536, 65536, BDRV_REQ_MAY_UNMAP, complete, &c);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, 0);
    g_autofree uint8_t *big = g_malloc(65536);
    c = (Completion){0};
    blk_aio_pread(blk, 65536, 65536, big, complete, &c);
    wait_done(&c);
    for (guint i = 0; i < 65536; i++) {
        g_assert_cmpuint(big[i], ==, 0);
    }
    BlockAcctStats st = blk_stats(blk);
    g_assert_cmpuint(st.rd_ops, ==, 2);
    g_assert_cmpuint(st.wr_ops, ==, 2);
    g_assert_cmpuint(st.rd_bytes, ==, 4096 + 65536);
    g_assert_cmpuint(st.failed_ops, ==, 1);
    blk_unref(blk);
}

static void test_drain(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    BlockDriverState *bs = open_raw(f->path, NULL, NULL, &err);
    g_assert_no_error(err);
    BlockBackend *blk = blk_new("drive0", NULL);
    g_assert_true(
        blk_insert_bs(blk, bs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE, BLK_PERM_ALL, &err));
    bdrv_unref(bs);
    enum { N = 64 };
    static uint8_t bufs[N][4096];
    Completion c[N] = {0};
    for (int i = 0; i < N; i++) {
        memset(bufs[i], i, sizeof(bufs[i]));
        blk_aio_pwrite(blk, (uint64_t)i * 4096, 4096, bufs[i], 0, complete, &c[i]);
    }
    /* Drain runs every callback here, without the main loop. */
    blk_drain(blk);
    g_assert_cmpuint(blk_in_flight(blk), ==, 0);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(c[i].done, ==, 1);
        g_assert_cmpint(c[i].ret, ==, 0);
    }
    /* Nothing is left for the main loop to run twice. */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(c[i].done, ==, 1);
    }
    int fd = open(f->path, O_RDONLY);
    for (int i = 0; i < N; i++) {
        uint8_t b[4096];
        g_assert_cmpint(pread(fd, b, sizeof(b), (off_t)i * 4096), ==, sizeof(b));
        g_assert_cmpmem(b, sizeof(b), bufs[i], sizeof(bufs[i]));
    }
    close(fd);
    blk_unref(blk);
}

static int lock_holder_count(const char *path, int byte)
{
    int fd = open(path, O_RDONLY);
    struct flock fl = {.l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK};
    g_assert_cmpint(fcntl(fd, F_OFD_GETLK, &fl), ==, 0);
    close(fd);
    return fl.l_type != F_UNLCK;
}

static void test_locking(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    BlockDriverState *a = open_raw(f->path, NULL, NULL, &err);
    g_assert_no_error(err);
    /* Upstream's bytes: a format on the file takes consistent read (100), shares all. */
    g_assert_true(lock_holder_count(f->path, 100));
    g_assert_false(lock_holder_count(f->path, 101));
    g_assert_false(lock_holder_count(f->path, 201));
    BlockBackend *ba = blk_new("a", NULL);
    g_assert_true(blk_insert_bs(ba, a, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    g_assert_true(lock_holder_count(f->path, 101));
    g_assert_true(lock_holder_count(f->path, 201));

    /* A second opening (another open file description, as another process would be). */
    BlockDriverState *b = open_raw(f->path, NULL, NULL, &err);
    g_assert_no_error(err);
    BlockBackend *bb = blk_new("b", NULL);
    g_assert_false(blk_insert_bs(bb, b, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                 BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    g_autofree char *desc = error_get_desc(err);
    g_assert_cmpstr(desc, ==, "Failed to get \"write\" lock");
    g_assert_nonnull(strstr(err->message, "Is another process using the image ["));
    g_clear_error(&err);
    blk_unref(bb);
    bdrv_unref(b);
    blk_unref(ba);
    bdrv_unref(a);
    g_assert_false(lock_holder_count(f->path, 100));
}

/* Migration's hand-over: the locks go and come back; a node opened meanwhile takes none. */
static void test_inactivate_activate(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    BlockDriverState *a;
    BlockBackend *ba = open_writer(f->path, "a", &a);
    g_assert_true(bdrv_activate_all(&err)); /* nothing to do when active */
    g_assert_true(bdrv_inactivate_all(&err));
    g_assert_true(bdrv_is_inactive());
    g_assert_false(lock_holder_count(f->path, 100));
    g_assert_false(lock_holder_count(f->path, 101));
    g_assert_false(lock_holder_count(f->path, 201));

    /* Another process writing (its write byte, as Debian's QEMU takes it) keeps them away. */
    int other = open(f->path, O_RDWR);
    struct flock fl = {.l_whence = SEEK_SET, .l_start = 101, .l_len = 1, .l_type = F_RDLCK};
    g_assert_cmpint(fcntl(other, F_OFD_SETLK, &fl), ==, 0);
    g_assert_false(bdrv_activate_all(&err));
    g_autofree char *desc = error_get_desc(err);
    g_assert_cmpstr(desc, ==, "Failed to get shared \"write\" lock");
    g_clear_error(&err);
    g_assert_true(bdrv_is_inactive());
    g_assert_false(lock_holder_count(f->path, 100));
    g_assert_false(lock_holder_count(f->path, 201));

    /* A node opened now takes no lock until activated. */
    BlockDriverState *b = open_raw(f->path, "read-only", "on", &err);
    g_assert_no_error(err);
    close(other);
    g_assert_false(lock_holder_count(f->path, 100));
    g_assert_true(bdrv_activate_all(&err));
    g_assert_false(bdrv_is_inactive());
    g_assert_true(lock_holder_count(f->path, 100));
    g_assert_true(lock_holder_count(f->path, 101));
    g_assert_true(lock_holder_count(f->path, 201));
    bdrv_unref(b);
    blk_unref(ba);
    bdrv_unref(a);
    g_assert_false(lock_holder_count(f->path, 100));
}

static void test_read_only(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    BlockDriverState *bs = open_raw(f->path, "read-only", "on", &err);
    g_assert_no_error(err);
    g_assert_true(bs->read_only);
    g_assert_true(bdrv_file_child(bs)->read_only); /* inherited by the inline child */
    BlockBackend *blk = blk_new("ro", NULL);
    g_assert_false(
        blk_insert_bs(blk, bs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE, BLK_PERM_ALL, &err));
    g_assert_cmpstr(err->message, ==, "Block node is read-only");
    g_clear_error(&err);
    g_assert_true(blk_insert_bs(blk, bs, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &err));
    uint8_t buf[512] = {0};
    Completion c = {0};
    blk_aio_pwrite(blk, 0, sizeof(buf), buf, 0, complete, &c);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, -EPERM);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_raw_window(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    g_autoptr(GHashTable) o = opts_of("driver", "raw", "file.driver", "file", "file.filename",
                                      f->path, "offset", "1024", "size", "4096", NULL);
    BlockDriverState *bs = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, 4096);
    uint8_t buf[512];
    g_assert_cmpint(bdrv_pread(bs, 512, sizeof(buf), buf), ==, 0);
    for (guint i = 0; i < sizeof(buf); i++) {
        g_assert_cmpuint(buf[i], ==, (1024 + 512 + i) % 251);
    }
    g_assert_cmpint(bdrv_pread(bs, 4096, 512, buf), ==, -EINVAL);
    bdrv_unref(bs);
}

static void test_direct(Fixture *f, gconstpointer data)
{
    /* O_DIRECT where the file system has it (tmpfs does not: upstream then fails the same). */
    GError *err = NULL;
    g_autoptr(GHashTable) o = opts_of("driver", "raw", "file.driver", "file", "file.filename",
                                      f->path, "cache.direct", "on", NULL);
    BlockDriverState *bs = bdrv_open_opts(o, NULL, &err);
    if (!bs) {
        g_assert_cmpstr(err->message, ==,
                        g_strdup_printf("Could not open '%s': Invalid argument", f->path));
        g_clear_error(&err);
        return;
    }
    g_assert_true(bs->cache_direct);
    /* Unaligned buffer, unaligned offset: both still right. */
    g_autofree uint8_t *mem = g_malloc(8192 + 1);
    g_assert_cmpint(bdrv_pread(bs, 4096, 4096, mem + 1), ==, 0);
    for (guint i = 0; i < 4096; i++) {
        g_assert_cmpuint(mem[1 + i], ==, (4096 + i) % 251);
    }
    g_assert_cmpint(bdrv_pread(bs, 100, 10, mem), ==, 0);
    g_assert_cmpuint(mem[0], ==, 100 % 251);
    bdrv_unref(bs);
}

/* preadv/pwritev through raw on file: segments of any size and alignment land where they
 * belong, with O_DIRECT too (aligned segments straight, others through a bounce buffer). */
static void check_vectored(BlockDriverState *bs, uint64_t base)
{
    g_autofree uint8_t *mem = g_malloc0(5 * 4096);
    uint8_t *aligned = (uint8_t *)(((uintptr_t)mem + 4095) & ~(uintptr_t)4095);
    const struct iovec pieces[][3] = {
        /* page-aligned pieces: the O_DIRECT descriptor takes them as they are */
        {{aligned, 4096}, {aligned + 8192, 4096}, {aligned + 4096, 4096}},
        /* odd bases and lengths, 12 KiB in all */
        {{mem + 1, 1000}, {mem + 5000, 3096}, {mem + 9000, 8192}},
    };
    for (guint k = 0; k < G_N_ELEMENTS(pieces); k++) {
        const struct iovec *iov = pieces[k];
        uint64_t off = base + 65536 * (k + 1);
        memset(mem, 0xee, 5 * 4096);
        g_assert_cmpint(bdrv_preadv(bs, off, iov, 3), ==, 0);
        uint64_t pos = off;
        for (int i = 0; i < 3; i++) {
            for (size_t j = 0; j < iov[i].iov_len; j++, pos++) {
                g_assert_cmpuint(((uint8_t *)iov[i].iov_base)[j], ==, pos % 251);
            }
        }
        for (int i = 0; i < 3; i++) {
            memset(iov[i].iov_base, 0x40 + i, iov[i].iov_len);
        }
        g_assert_cmpint(bdrv_pwritev(bs, off, iov, 3, 0), ==, 0);
        g_autofree uint8_t *back = g_malloc(12288);
        g_assert_cmpint(bdrv_pread(bs, off, 12288, back), ==, 0);
        pos = 0;
        for (int i = 0; i < 3; i++) {
            for (size_t j = 0; j < iov[i].iov_len; j++, pos++) {
                g_assert_cmpuint(back[pos], ==, 0x40 + i);
            }
        }
    }
}

static void test_vectored(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    BlockDriverState *bs = open_raw(f->path, NULL, NULL, &err);
    g_assert_no_error(err);
    check_vectored(bs, 0);
    bdrv_unref(bs);
    g_autoptr(GHashTable) o = opts_of("driver", "raw", "file.driver", "file", "file.filename",
                                      f->path, "cache.direct", "on", NULL);
    bs = bdrv_open_opts(o, NULL, &err);
    if (!bs) {
        g_clear_error(&err); /* no O_DIRECT on this file system: test_direct checks why */
        return;
    }
    check_vectored(bs, 1 << 20);
    bdrv_unref(bs);
}

/* A read the page cache can answer is done inside the call; anything else says -EAGAIN and
 * leaves the request to the workers, accounting nothing. */
static void test_read_nowait(Fixture *f, gconstpointer data)
{
    BlockDriverState *bs;
    BlockBackend *blk = open_writer(f->path, "drive0", &bs);
    bdrv_unref(bs);
    uint8_t a[1000], b[3096];
    const struct iovec iov[] = {{a, sizeof(a)}, {b, sizeof(b)}};
    /* The fixture has just written the file: its pages are in the host's cache. */
    g_assert_cmpint(blk_preadv_nowait(blk, 8192, iov, 2), ==, 0);
    for (guint i = 0; i < sizeof(a); i++) {
        g_assert_cmpuint(a[i], ==, (8192 + i) % 251);
    }
    for (guint i = 0; i < sizeof(b); i++) {
        g_assert_cmpuint(b[i], ==, (8192 + sizeof(a) + i) % 251);
    }
    BlockAcctStats st = blk_stats(blk);
    g_assert_cmpuint(st.rd_ops, ==, 1);
    g_assert_cmpuint(st.rd_bytes, ==, 4096);

    /* Past the end. */
    g_assert_cmpint(blk_preadv_nowait(blk, IMG_SIZE - 1024, iov, 2), ==, -EAGAIN);
    /* Behind a request in flight, which completes first. */
    uint8_t w[4096];
    memset(w, 0x5a, sizeof(w));
    Completion c = {0};
    blk_aio_pwrite(blk, 8192, sizeof(w), w, 0, complete, &c);
    g_assert_cmpint(blk_preadv_nowait(blk, 8192, iov, 2), ==, -EAGAIN);
    wait_done(&c);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_cmpint(blk_preadv_nowait(blk, 8192, iov, 2), ==, 0);
    g_assert_cmpuint(a[0], ==, 0x5a);
    g_assert_cmpuint(b[sizeof(b) - 1], ==, 0x5a);
    st = blk_stats(blk);
    g_assert_cmpuint(st.rd_ops, ==, 2);
    g_assert_cmpuint(st.failed_ops, ==, 0);
    blk_unref(blk);

    /* A raw window reads its own bytes. */
    GError *err = NULL;
    g_autoptr(GHashTable) o = opts_of("driver", "raw", "file.driver", "file", "file.filename",
                                      f->path, "offset", "65536", NULL);
    bs = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_preadv_nowait(bs, 512, iov, 1), ==, 0);
    g_assert_cmpuint(a[0], ==, (65536 + 512) % 251);
    bdrv_unref(bs);

    /* O_DIRECT always waits for the disk: never tried. */
    g_autoptr(GHashTable) od = opts_of("driver", "raw", "file.driver", "file", "file.filename",
                                       f->path, "cache.direct", "on", NULL);
    bs = bdrv_open_opts(od, NULL, &err);
    if (!bs) {
        g_clear_error(&err); /* no O_DIRECT on this file system: test_direct checks why */
        return;
    }
    g_assert_cmpint(bdrv_preadv_nowait(bs, 0, iov, 1), ==, -EAGAIN);
    bdrv_unref(bs);
}

/* A completion lock that is free only when the test says so. */
static gint lock_free, lock_taken;

/* Failures to give before the lock is free (a lock held for a moment elsewhere). */
static gint lock_busy_tries;

static bool test_trylock(void)
{
    if (g_atomic_int_get(&lock_busy_tries) > 0) {
        g_atomic_int_add(&lock_busy_tries, -1);
        return false;
    }
    if (!g_atomic_int_get(&lock_free)) {
        return false;
    }
    g_atomic_int_inc(&lock_taken);
    return true;
}

static void test_unlock(void)
{
}

static const BlockCompletionLock test_lock = {.trylock = test_trylock, .unlock = test_unlock};

/* With a completion lock the worker runs the callback itself when it gets the lock, and hands
 * it to the context as before when it does not. */
static void test_completion_lock(Fixture *f, gconstpointer data)
{
    BlockDriverState *bs;
    BlockBackend *blk = open_writer(f->path, "drive0", &bs);
    bdrv_unref(bs);
    blk_set_completion_lock(blk, &test_lock);
    uint8_t buf[4096];
    memset(buf, 0x77, sizeof(buf));

    g_atomic_int_set(&lock_free, 1);
    Completion c = {0};
    blk_aio_pwrite(blk, 0, sizeof(buf), buf, 0, complete, &c);
    /* No main loop iteration: the worker completes it. */
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&c.done) == 0 && g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    g_assert_cmpint(g_atomic_int_get(&c.done), ==, 1);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_true(c.thread != g_thread_self());
    g_assert_cmpint(g_atomic_int_get(&lock_taken), ==, 1);
    g_assert_cmpuint(blk_in_flight(blk), ==, 0);
    g_assert_cmpuint(blk_stats(blk).wr_ops, ==, 1);

    /* Busy for a moment: the worker tries again and still runs the callback itself. */
    g_atomic_int_set(&lock_busy_tries, 1);
    c = (Completion){0};
    blk_aio_pwrite(blk, 4096, sizeof(buf), buf, 0, complete, &c);
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&c.done) == 0 && g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    g_assert_cmpint(g_atomic_int_get(&c.done), ==, 1);
    g_assert_true(c.thread != g_thread_self());
    g_assert_cmpint(g_atomic_int_get(&lock_busy_tries), ==, 0);
    g_assert_cmpint(g_atomic_int_get(&lock_taken), ==, 2);

    /* Lock held elsewhere: the context runs it, and a drain does too. */
    g_atomic_int_set(&lock_free, 0);
    c = (Completion){0};
    blk_aio_pread(blk, 0, sizeof(buf), buf, complete, &c);
    wait_done(&c);
    g_assert_true(c.thread == g_thread_self());
    g_assert_cmpuint(buf[0], ==, 0x77);
    c = (Completion){0};
    blk_aio_flush(blk, complete, &c);
    blk_drain(blk);
    g_assert_cmpint(c.done, ==, 1);
    g_assert_true(c.thread == g_thread_self());
    g_assert_cmpint(g_atomic_int_get(&lock_taken), ==, 2);
    blk_set_completion_lock(blk, NULL);
    blk_unref(blk);
}

/* A file node's length is read at open and then follows the node's own writes and truncates,
 * as upstream's total_sectors: range checks cost no fstat per request. */
static void test_file_length(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    g_autoptr(GHashTable) o = opts_of("driver", "file", "filename", f->path, NULL);
    BlockDriverState *bs = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(bs), ==, IMG_SIZE);
    /* Another writer's growth is not followed (nobody may write under a node upstream either). */
    g_assert_cmpint(truncate(f->path, 2 * IMG_SIZE), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, IMG_SIZE);
    uint8_t buf[4096];
    memset(buf, 0xab, sizeof(buf));
    g_assert_cmpint(bdrv_pwrite(bs, 3 * IMG_SIZE, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 3 * IMG_SIZE + 4096);
    struct iovec iov[2] = {{buf, 512}, {buf + 512, 1024}};
    g_assert_cmpint(bdrv_pwritev(bs, 3 * IMG_SIZE + 4096, iov, 2, 0), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 3 * IMG_SIZE + 4096 + 1536);
    g_assert_cmpint(bdrv_pwrite(bs, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 3 * IMG_SIZE + 4096 + 1536);
    g_assert_cmpint(bdrv_truncate(bs, 8192), ==, 0);
    g_assert_cmpint(bdrv_getlength(bs), ==, 8192);
    GStatBuf st;
    g_assert_cmpint(g_stat(f->path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 8192);
    bdrv_unref(bs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/block/open-errors", test_open_errors);
    ADD("/block/graph-and-names", test_graph_and_names);
    ADD("/block/async-rw", test_async_rw);
    ADD("/block/drain", test_drain);
    ADD("/block/locking", test_locking);
    ADD("/block/inactivate-activate", test_inactivate_activate);
    ADD("/block/read-only", test_read_only);
    ADD("/block/raw-window", test_raw_window);
    ADD("/block/direct", test_direct);
    ADD("/block/vectored", test_vectored);
    ADD("/block/read-nowait", test_read_nowait);
    ADD("/block/completion-lock", test_completion_lock);
    ADD("/block/file-length", test_file_length);
    return g_test_run();
}
