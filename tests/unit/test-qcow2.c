/*
 * block/qcow2: images made by Debian's qemu-img are read byte for byte; after our writes
 * (random, partial, over compressed and snapshot-shared clusters, zeroes, discards, emptying)
 * `qemu-img check` is clean and `qemu-img compare` agrees with a raw file holding what we meant
 * to write; hostile headers are refused with upstream's own message, checked live against
 * qemu-img.
 */
#include "block/qcow2.h"
#include "util/iov.h"

#include <json-glib/json-glib.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;

/* A Qcow2File over a POSIX file descriptor; reads past the end give zeros. */
static int fd_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    int fd = GPOINTER_TO_INT(opaque);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            memset((char *)buf + done, 0, len - done);
            break;
        }
        done += r;
    }
    return 0;
}

static int fd_pwrite(void *opaque, uint64_t off, const void *buf, size_t len)
{
    int fd = GPOINTER_TO_INT(opaque);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        done += r;
    }
    return 0;
}

static int fd_flush(void *opaque)
{
    return fdatasync(GPOINTER_TO_INT(opaque)) < 0 ? -errno : 0;
}

static int fd_truncate(void *opaque, uint64_t size)
{
    return ftruncate(GPOINTER_TO_INT(opaque), (off_t)size) < 0 ? -errno : 0;
}

static int64_t fd_length(void *opaque)
{
    struct stat st;
    return fstat(GPOINTER_TO_INT(opaque), &st) < 0 ? -errno : (int64_t)st.st_size;
}

typedef struct Img {
    int fd;
    Qcow2Image *q;
    struct Img *backing;
} Img;

static Qcow2File fd_file(int fd)
{
    return (Qcow2File){.opaque = GINT_TO_POINTER(fd),
                       .pread = fd_pread,
                       .pwrite = fd_pwrite,
                       .flush = fd_flush,
                       .truncate = fd_truncate,
                       .length = fd_length};
}

static Qcow2Image *try_open(const char *path, int flags, int *fd, GError **errp)
{
    *fd = open(path, (flags & QCOW2_OPEN_RDWR) ? O_RDWR : O_RDONLY);
    g_assert_cmpint(*fd, >=, 0);
    Qcow2File f = fd_file(*fd);
    Qcow2Image *q = qcow2_open(&f, flags, errp);
    if (!q) {
        close(*fd);
    }
    return q;
}

/* Opens a qcow2 image and its whole chain of qcow2 backing files (names relative to tmpdir). */
static Img *img_open(const char *path, int flags)
{
    Img *img = g_new0(Img, 1);
    GError *err = NULL;
    img->q = try_open(path, flags, &img->fd, &err);
    g_assert_no_error(err);
    Qcow2Info info;
    qcow2_get_info(img->q, &info);
    if (info.backing_file) {
        g_autofree char *bpath = g_path_is_absolute(info.backing_file)
                                     ? g_strdup(info.backing_file)
                                     : g_build_filename(tmpdir, info.backing_file, NULL);
        img->backing = img_open(bpath, 0);
        Qcow2Backing b = qcow2_backing_from_image(img->backing->q);
        qcow2_set_backing(img->q, &b);
    }
    qcow2_info_clear(&info);
    return img;
}

static void img_close(Img *img)
{
    if (img->backing) {
        img_close(img->backing);
    }
    qcow2_close(img->q);
    close(img->fd);
    g_free(img);
}

static char *path_of(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Runs a command; returns its exit status and keeps its output. */
static int run(char **out, char **err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int run(char **out, char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *o = NULL, *e = NULL;
    int status = -1;
    GError *gerr = NULL;
    gchar *argv[] = {"/bin/sh", "-c", cmd, NULL};
    g_assert_true(
        g_spawn_sync(tmpdir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, &gerr));
    g_assert_no_error(gerr);
    if (out) {
        *out = g_steal_pointer(&o);
    }
    if (err) {
        *err = g_steal_pointer(&e);
    }
    return g_spawn_check_wait_status(status, NULL) ? 0
                                                   : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void run_ok(const char *cmd)
{
    g_autofree char *out = NULL, *err = NULL;
    int rc = run(&out, &err, "%s", cmd);
    if (rc != 0) {
        g_printerr("command failed (%d): %s\n%s%s", rc, cmd, out, err);
    }
    g_assert_cmpint(rc, ==, 0);
}

/* `qemu-img check` finds nothing wrong: no corruption, no leak. */
static void assert_check_clean(const char *name)
{
    g_autofree char *out = NULL, *err = NULL;
    int rc = run(&out, &err, "qemu-img check -f qcow2 %s", name);
    if (rc != 0 || !strstr(out, "No errors were found on the image.")) {
        g_printerr("qemu-img check %s (%d):\n%s%s", name, rc, out, err);
    }
    g_assert_cmpint(rc, ==, 0);
    g_assert_nonnull(strstr(out, "No errors were found on the image."));
}

static void write_file(const char *name, const void *data, size_t len)
{
    g_autofree char *p = path_of(name);
    GError *err = NULL;
    g_file_set_contents(p, data, len, &err);
    g_assert_no_error(err);
}

/* `qemu-img compare` agrees that the raw reference and the image read the same. */
static void assert_compare(const char *raw_name, const guint8 *ref, size_t len, const char *img)
{
    write_file(raw_name, ref, len);
    g_autofree char *out = NULL, *err = NULL;
    int rc = run(&out, &err, "qemu-img compare -f raw -F qcow2 %s %s", raw_name, img);
    if (rc != 0) {
        g_printerr("qemu-img compare %s %s (%d):\n%s%s", raw_name, img, rc, out, err);
    }
    g_assert_cmpint(rc, ==, 0);
}

static void assert_reads(Img *img, const guint8 *ref, size_t len)
{
    g_autofree guint8 *buf = g_malloc(len);
    g_assert_cmpint(qcow2_read(img->q, 0, buf, len), ==, 0);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != ref[i]) {
            g_printerr("first difference at byte %zu: %02x, want %02x\n", i, buf[i], ref[i]);
            g_assert_not_reached();
        }
    }
}

static guint8 *random_bytes(GRand *r, size_t len)
{
    guint8 *p = g_malloc(len);
    for (size_t i = 0; i < len; i++) {
        /* Runs of zeros too, so that converted images have holes and compress. */
        p[i] = (i / 4096) % 5 == 0 ? 0 : (guint8)g_rand_int(r);
    }
    return p;
}

/* Reads images that qemu-img wrote: v2, v3, compressed, small and large clusters. */
static void test_read_converted(void)
{
    static const char *const opts[] = {
        "-o compat=0.10",
        "-o compat=1.1",
        "-c -o compat=1.1",
        "-c -o compat=0.10,cluster_size=4096",
        "-o compat=1.1,cluster_size=512,refcount_bits=1",
        "-c -o cluster_size=2M",
    };
    const size_t len = 3 * 1024 * 1024 + 1536;
    g_autoptr(GRand) r = g_rand_new_with_seed(1);
    g_autofree guint8 *data = random_bytes(r, len);
    write_file("conv.raw", data, len);

    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_autofree char *cmd =
            g_strdup_printf("qemu-img convert -f raw -O qcow2 %s conv.raw conv.qcow2", opts[i]);
        run_ok(cmd);
        g_autofree char *p = path_of("conv.qcow2");
        Img *img = img_open(p, 0);
        g_assert_cmpuint(qcow2_virtual_size(img->q), ==, len);
        assert_reads(img, data, len);
        /* Unaligned reads cross cluster boundaries. */
        guint8 piece[7000];
        g_assert_cmpint(qcow2_read(img->q, 12345, piece, sizeof(piece)), ==, 0);
        g_assert_cmpmem(piece, sizeof(piece), data + 12345, sizeof(piece));
        g_assert_cmpint(qcow2_read(img->q, len - 10, piece, 11), ==, -EINVAL);
        img_close(img);
    }
}

static void test_info(void)
{
    run_ok("qemu-img create -q -f qcow2 -o compat=0.10 info-base.qcow2 1M");
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 -b info-base.qcow2 -F qcow2 "
           "info.qcow2 3M");
    g_autofree char *p = path_of("info.qcow2");
    Img *img = img_open(p, 0);
    Qcow2Info info;
    qcow2_get_info(img->q, &info);
    g_assert_cmpuint(info.virtual_size, ==, 3 * 1024 * 1024);
    g_assert_cmpuint(info.cluster_size, ==, 4096);
    g_assert_cmpint(info.version, ==, 3);
    g_assert_cmpint(info.refcount_bits, ==, 16);
    g_assert_cmpstr(info.backing_file, ==, "info-base.qcow2");
    g_assert_cmpstr(info.backing_format, ==, "qcow2");
    g_assert_false(info.dirty);
    g_assert_false(info.corrupt);
    qcow2_info_clear(&info);
    qcow2_get_info(img->backing->q, &info);
    g_assert_cmpint(info.version, ==, 2);
    g_assert_null(info.backing_file);
    qcow2_info_clear(&info);
    /* Probing tells the image from a raw file. */
    guint8 head[16];
    g_assert_cmpint(pread(img->fd, head, sizeof(head), 0), ==, sizeof(head));
    g_assert_true(qcow2_probe(head, sizeof(head)));
    g_assert_false(qcow2_probe(head, 4));
    head[0] ^= 1;
    g_assert_false(qcow2_probe(head, sizeof(head)));
    /* A read-only image refuses writes. */
    guint8 b = 1;
    g_assert_cmpint(qcow2_write(img->q, 0, &b, 1), ==, -EACCES);
    img_close(img);
}

typedef struct Scenario {
    const char *name;
    const char *create; /* qemu-img create options for the image */
    const char *base;   /* qemu-img create options for a backing file, or NULL */
    uint64_t size;
    int ops;
    bool reftable_moves; /* the writes outgrow the refcount table that qemu-img made */
    bool ours;           /* the image comes from qcow2_create(), not from qemu-img */
} Scenario;

static void create_ours(const char *name, uint64_t size, uint32_t cluster_size, int version,
                        const char *backing, const char *backing_fmt)
{
    g_autofree char *p = path_of(name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    g_assert_cmpint(fd, >=, 0);
    Qcow2File f = fd_file(fd);
    Qcow2CreateOpts o = {.size = size,
                         .cluster_size = cluster_size,
                         .version = version,
                         .backing_file = backing,
                         .backing_format = backing_fmt};
    GError *err = NULL;
    g_assert_true(qcow2_create(&f, &o, &err));
    g_assert_no_error(err);
    close(fd);
}

static uint64_t header_u64(const char *name, uint64_t off)
{
    g_autofree char *p = path_of(name);
    int fd = open(p, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    guint8 be[8];
    g_assert_cmpint(pread(fd, be, 8, off), ==, 8);
    close(fd);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | be[i];
    }
    return v;
}

/*
 * The differential test: the same random writes, zeroes and discards go into our image and
 * into a model of the disk; the model is written as a raw file and compared by qemu-img.
 */
static void run_scenario(const Scenario *sc, GRand *r)
{
    g_autofree char *img_name = g_strdup_printf("%s.qcow2", sc->name);
    g_autofree char *raw_name = g_strdup_printf("%s.raw", sc->name);
    g_autofree char *base_name = g_strdup_printf("%s-base.qcow2", sc->name);
    g_autofree guint8 *model = g_malloc0(sc->size);
    g_autofree guint8 *base = g_malloc0(sc->size);
    g_autofree char *cmd = NULL;

    if (sc->base) {
        /* The backing file gets qemu-img's own data, half as large as the overlay. */
        g_autofree guint8 *bdata = random_bytes(r, sc->size / 2);
        g_autofree char *braw = g_strdup_printf("%s-base.raw", sc->name);
        write_file(braw, bdata, sc->size / 2);
        cmd =
            g_strdup_printf("qemu-img convert -f raw -O qcow2 %s %s %s", sc->base, braw, base_name);
        run_ok(cmd);
        memcpy(base, bdata, sc->size / 2);
        memcpy(model, bdata, sc->size / 2);
        g_free(cmd);
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s -b %s -F qcow2 %s %" PRIu64,
                              sc->create, base_name, img_name, sc->size);
    } else {
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s %s %" PRIu64, sc->create, img_name,
                              sc->size);
    }
    if (sc->ours) {
        create_ours(img_name, sc->size, 4096, 3, sc->base ? base_name : NULL,
                    sc->base ? "qcow2" : NULL);
    } else {
        run_ok(cmd);
    }

    g_autofree char *p = path_of(img_name);
    uint64_t reftable_offset = header_u64(img_name, 48);
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    Qcow2Info info;
    qcow2_get_info(img->q, &info);
    uint64_t cs = info.cluster_size;
    bool v3 = info.version >= 3;
    qcow2_info_clear(&info);

    if (sc->reftable_moves) {
        /* Every cluster allocated once, in order, before the random phase. */
        for (uint64_t i = 0; i < sc->size; i++) {
            model[i] = (guint8)g_rand_int(r);
        }
        for (uint64_t off = 0; off < sc->size; off += 3 * cs + 7) {
            uint64_t n = MIN(3 * cs + 7, sc->size - off);
            g_assert_cmpint(qcow2_write(img->q, off, model + off, n), ==, 0);
        }
    }
    for (int op = 0; op < sc->ops; op++) {
        uint64_t off = g_rand_int_range(r, 0, (gint32)sc->size);
        uint64_t max = MIN(sc->size - off, 4 * cs + 100);
        uint64_t len = 1 + g_rand_int_range(r, 0, (gint32)max);
        int kind = g_rand_int_range(r, 0, 10);
        if (kind < 7) {
            g_autofree guint8 *d = g_malloc(len);
            for (uint64_t i = 0; i < len; i++) {
                d[i] = (guint8)g_rand_int(r);
            }
            g_assert_cmpint(qcow2_write(img->q, off, d, len), ==, 0);
            memcpy(model + off, d, len);
        } else if (kind < 9) {
            g_assert_cmpint(qcow2_write_zeroes(img->q, off, len), ==, 0);
            memset(model + off, 0, len);
        } else {
            g_assert_cmpint(qcow2_discard(img->q, off, len), ==, 0);
            /* Whole clusters read as zeros (v3) or as the backing file (v2) afterwards. */
            uint64_t s = (off + cs - 1) / cs * cs, e = (off + len) / cs * cs;
            for (uint64_t c = s; c < e; c += cs) {
                if (v3) {
                    memset(model + c, 0, cs);
                } else {
                    memcpy(model + c, base + c, cs);
                }
            }
        }
    }
    assert_reads(img, model, sc->size);
    g_assert_cmpint(qcow2_flush(img->q), ==, 0);
    img_close(img);
    assert_check_clean(img_name);
    assert_compare(raw_name, model, sc->size, img_name);
    if (sc->reftable_moves) {
        g_assert_cmpuint(header_u64(img_name, 48), !=, reftable_offset);
    }

    /* Reopened, it reads the same; emptied, it reads as its backing file again. */
    img = img_open(p, QCOW2_OPEN_RDWR);
    assert_reads(img, model, sc->size);
    struct stat before, after;
    g_assert_cmpint(fstat(img->fd, &before), ==, 0);
    g_assert_cmpint(qcow2_make_empty(img->q), ==, 0);
    g_assert_cmpint(fstat(img->fd, &after), ==, 0);
    g_assert_cmpint(after.st_size, <, before.st_size);
    assert_reads(img, base, sc->size);
    img_close(img);
    assert_check_clean(img_name);
    assert_compare(raw_name, base, sc->size, img_name);
}

static void test_random_writes(gconstpointer data)
{
    const Scenario *sc = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(g_str_hash(sc->name));
    run_scenario(sc, r);
}

static const Scenario scenarios[] = {
    {"v3", "-o compat=1.1", NULL, 8 << 20, 300},
    {"v2", "-o compat=0.10", NULL, 8 << 20, 300},
    {"v3-backing", "-o compat=1.1", "-o compat=1.1", 8 << 20, 300},
    {"v2-backing", "-o compat=0.10", "-o compat=0.10,cluster_size=4096", 8 << 20, 300},
    {"compressed-backing", "-o cluster_size=4096", "-c -o cluster_size=65536", 4 << 20, 300},
    /* 512-byte clusters: the refcount table outgrows its cluster many times over. */
    {"small-clusters", "-o cluster_size=512", NULL, 10 << 20, 1500, true},
    {"small-clusters-64", "-o cluster_size=512,refcount_bits=64", "-o compat=1.1", 6 << 20, 1500,
     true},
    {"refcount-bits-1", "-o cluster_size=4096,refcount_bits=1", "-o compat=1.1", 4 << 20, 300},
    {"refcount-bits-64", "-o cluster_size=4096,refcount_bits=64", NULL, 4 << 20, 300},
    {"refcount-bits-8", "-o cluster_size=1024,refcount_bits=8", NULL, 4 << 20, 600},
    {"created-by-us", "", "-o compat=0.10", 4 << 20, 300, false, true},
    {"prealloc-metadata", "-o preallocation=metadata,cluster_size=4096", NULL, 4 << 20, 300},
    {"prealloc-full", "-o preallocation=full,compat=0.10", NULL, 4 << 20, 300},
    {"lazy-refcounts", "-o lazy_refcounts=on,cluster_size=2048", NULL, 4 << 20, 300},
};

/* NAME.qcow2 converted by qemu-img (with `opts`) from random data, which is returned. */
static guint8 *converted_image(const char *name, GRand *r, size_t len, const char *opts)
{
    guint8 *data = random_bytes(r, len);
    g_autofree char *raw = g_strdup_printf("%s.raw", name);
    write_file(raw, data, len);
    g_autofree char *cmd =
        g_strdup_printf("qemu-img convert -f raw -O qcow2 %s %s.raw %s.qcow2", opts, name, name);
    run_ok(cmd);
    return data;
}

/* Rewriting every cluster of a compressed image frees the compressed runs it replaces. */
static void test_overwrite_compressed(void)
{
    const size_t len = 2 << 20;
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    g_autofree guint8 *data = converted_image("zover", r, len, "-c -o cluster_size=4096");
    g_autofree char *p = path_of("zover.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    for (size_t off = 100; off < len; off += 4096) {
        size_t n = MIN(300, len - off);
        memset(data + off, 0x5a, n);
        g_assert_cmpint(qcow2_write(img->q, off, data + off, n), ==, 0);
    }
    assert_reads(img, data, len);
    img_close(img);
    assert_check_clean("zover.qcow2");
    assert_compare("zover.raw", data, len, "zover.qcow2");
}

/*
 * NAME.qcow2 (closed) reads `now` for qemu-img compare, check clean; then its snapshot s1,
 * applied by qemu-img, still reads `orig`.
 */
static void assert_snapshot_restores(const char *name, const guint8 *now, const guint8 *orig,
                                     size_t len)
{
    g_autofree char *img = g_strdup_printf("%s.qcow2", name);
    g_autofree char *raw = g_strdup_printf("%s.raw", name);
    g_autofree char *apply = g_strdup_printf("qemu-img snapshot -a s1 %s", img);
    assert_check_clean(img);
    assert_compare(raw, now, len, img);
    run_ok(apply);
    assert_check_clean(img);
    assert_compare(raw, orig, len, img);
}

/* snap.qcow2 reads `now` through us too, then is closed and checked as above. */
static void assert_then_restore_snapshot(Img *img, const guint8 *now, const guint8 *orig,
                                         size_t len)
{
    assert_reads(img, now, len);
    img_close(img);
    assert_snapshot_restores("snap", now, orig, len);
}

/* Clusters shared with an internal snapshot are copied, never written in place. */
static void test_snapshot_shared(void)
{
    const size_t len = 2 << 20;
    g_autoptr(GRand) r = g_rand_new_with_seed(9);
    g_autofree guint8 *orig = converted_image("snap", r, len, "-o cluster_size=4096");
    run_ok("qemu-img snapshot -c s1 snap.qcow2");
    g_autofree char *p = path_of("snap.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    g_autofree guint8 *now = g_memdup2(orig, len);
    for (int i = 0; i < 200; i++) {
        size_t off = g_rand_int_range(r, 0, len - 9000), n = g_rand_int_range(r, 1, 9000);
        memset(now + off, i + 1, n);
        g_assert_cmpint(qcow2_write(img->q, off, now + off, n), ==, 0);
    }
    g_assert_cmpint(qcow2_write_zeroes(img->q, 65536, 65536), ==, 0);
    memset(now + 65536, 0, 65536);
    assert_then_restore_snapshot(img, now, orig, len);

    /* Emptied, the active layer reads zeros; the snapshot's clusters stay its own. */
    img = img_open(p, QCOW2_OPEN_RDWR);
    g_assert_cmpint(qcow2_write(img->q, 4096, now, 70000), ==, 0);
    g_assert_cmpint(qcow2_make_empty(img->q), ==, 0);
    memset(now, 0, len);
    assert_then_restore_snapshot(img, now, orig, len);
}

/* A file that dies at its Nth write (every write from then on fails), like a killed process. */
typedef struct DyingFile {
    int fd;
    bool slow_reads; /* widens the window of races between reads and writes */
    long writes, die_at;
    GArray *header_writes; /* indexes of writes into the header (refcount table moves) */
} DyingFile;

static int dying_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    if (((DyingFile *)opaque)->slow_reads) {
        g_usleep(100);
    }
    return fd_pread(GINT_TO_POINTER(((DyingFile *)opaque)->fd), off, buf, len);
}

static int dying_pwrite(void *opaque, uint64_t off, const void *buf, size_t len)
{
    DyingFile *d = opaque;
    long n = d->writes++;
    if (d->header_writes && off < 512) {
        g_array_append_val(d->header_writes, n);
    }
    if (d->die_at >= 0 && n >= d->die_at) {
        return -EIO;
    }
    return fd_pwrite(GINT_TO_POINTER(d->fd), off, buf, len);
}

static int dying_flush(void *opaque)
{
    return 0;
}

static int dying_truncate(void *opaque, uint64_t size)
{
    DyingFile *d = opaque;
    return d->die_at >= 0 && d->writes >= d->die_at ? -EIO
                                                    : fd_truncate(GINT_TO_POINTER(d->fd), size);
}

static int64_t dying_length(void *opaque)
{
    return fd_length(GINT_TO_POINTER(((DyingFile *)opaque)->fd));
}

/* Opens the image in d's file read-write; d must outlive the image. */
static Qcow2Image *dying_open(DyingFile *d)
{
    Qcow2File f = {.opaque = d,
                   .pread = dying_pread,
                   .pwrite = dying_pwrite,
                   .flush = dying_flush,
                   .truncate = dying_truncate,
                   .length = dying_length};
    GError *err = NULL;
    Qcow2Image *q = qcow2_open(&f, QCOW2_OPEN_RDWR, &err);
    g_assert_no_error(err);
    return q;
}

/*
 * Writes that outgrow the refcount table, zeroes, discards and an emptying, on a file that dies
 * at write `die_at` (-1: never). Returns how many writes the file saw.
 */
static long dying_workload(long die_at, GArray *header_writes)
{
    run_ok("cp crash-template.qcow2 crash.qcow2");
    g_autofree char *p = path_of("crash.qcow2");
    DyingFile d = {.fd = open(p, O_RDWR), .die_at = die_at, .header_writes = header_writes};
    Qcow2Image *q = dying_open(&d);
    static guint8 buf[3000];
    memset(buf, 0x3c, sizeof(buf));
    int failed = 0;
    for (uint64_t off = 0; off + sizeof(buf) <= (2 << 20); off += sizeof(buf) - 100) {
        failed |= qcow2_write(q, off, buf, sizeof(buf));
    }
    failed |= qcow2_write_zeroes(q, 4096, 100000);
    failed |= qcow2_discard(q, 300000, 200000);
    failed |= qcow2_write(q, 310000, buf, sizeof(buf));
    failed |= qcow2_make_empty(q);
    g_assert_true(die_at >= 0 || failed == 0);
    qcow2_close(q);
    close(d.fd);
    return d.writes;
}

/*
 * Every metadata update is ordered so that stopping after any write leaves an image whose
 * worst fault is a leaked cluster: qemu-img check finds no corruption (exit 0, or 3 for leaks).
 */
static void test_crash_consistency(void)
{
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 "
           "crash-template.qcow2 3M");
    g_autoptr(GArray) header_writes = g_array_new(FALSE, FALSE, sizeof(long));
    long total = dying_workload(-1, header_writes);
    assert_check_clean("crash.qcow2");
    g_assert_cmpuint(header_writes->len, >, 0); /* the refcount table did move */

    g_autoptr(GArray) points = g_array_new(FALSE, FALSE, sizeof(long));
    for (guint i = 0; i < header_writes->len; i++) {
        long h = g_array_index(header_writes, long, i);
        for (long k = MAX(0, h - 12); k <= MIN(total - 1, h + 3); k++) {
            g_array_append_val(points, k);
        }
    }
    g_autoptr(GRand) r = g_rand_new_with_seed(17);
    for (int i = 0; i < 16; i++) {
        long k = g_rand_int_range(r, 0, (gint32)total);
        g_array_append_val(points, k);
    }
    for (guint i = 0; i < points->len; i++) {
        long die_at = g_array_index(points, long, i);
        dying_workload(die_at, NULL);
        g_autofree char *out = NULL, *errs = NULL;
        int rc = run(&out, &errs, "qemu-img check -f qcow2 crash.qcow2");
        if (rc != 0 && rc != 3) {
            g_printerr("dead at write %ld of %ld: qemu-img check says (%d):\n%s%s", die_at, total,
                       rc, out, errs);
        }
        g_assert_true(rc == 0 || rc == 3);
    }
}

typedef struct ThreadJob {
    Qcow2Image *q;
    guint8 *model;
    uint64_t base, span;
    guint32 seed;
} ThreadJob;

static gpointer writer_thread(gpointer opaque)
{
    ThreadJob *job = opaque;
    g_autoptr(GRand) r = g_rand_new_with_seed(job->seed);
    for (int i = 0; i < 200; i++) {
        uint64_t off = job->base + g_rand_int_range(r, 0, (gint32)job->span - 5000);
        uint64_t n = g_rand_int_range(r, 1, 5000);
        for (uint64_t k = 0; k < n; k++) {
            job->model[off + k] = (guint8)g_rand_int(r);
        }
        if (qcow2_write(job->q, off, job->model + off, n) != 0) {
            return GINT_TO_POINTER(1);
        }
    }
    return NULL;
}

/* Worker threads write at once (the block layer calls from its pool): one lock keeps order. */
static void test_threads(void)
{
    const uint64_t size = 8 << 20;
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 threads.qcow2 8M");
    g_autofree char *p = path_of("threads.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    g_autofree guint8 *model = g_malloc0(size);
    GThread *t[4];
    ThreadJob jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (ThreadJob){img->q, model, i * (size / 4), size / 4, 100 + i};
        t[i] = g_thread_new("writer", writer_thread, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_assert_null(g_thread_join(t[i]));
    }
    assert_reads(img, model, size);
    img_close(img);
    assert_check_clean("threads.qcow2");
    assert_compare("threads.raw", model, size, "threads.qcow2");
}

typedef struct RaceJob {
    Qcow2Image *q;
    uint64_t clusters;
    volatile gint *stop;
    gint bad;
} RaceJob;

#define RACE_CS 4096

/* Writes cluster c of the race area with words that name c (and a generation). */
static gpointer race_writer(gpointer opaque)
{
    RaceJob *job = opaque;
    g_autoptr(GRand) r = g_rand_new_with_seed(23);
    static uint64_t words[RACE_CS / 8];
    for (uint32_t gen = 1; gen < 1500; gen++) {
        uint64_t c = g_rand_int_range(r, 0, (gint32)job->clusters);
        if (gen % 3 == 0) {
            uint64_t n = g_rand_int_range(r, 1, 8);
            n = MIN(job->clusters - c, n);
            g_assert_cmpint(qcow2_discard(job->q, c * RACE_CS, n * RACE_CS), ==, 0);
            continue;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
            words[i] = c << 32 | gen;
        }
        uint64_t at = gen % 2 ? 0 : g_rand_int_range(r, 0, RACE_CS / 8) * 8;
        g_assert_cmpint(qcow2_write(job->q, c * RACE_CS + at, words, RACE_CS - at), ==, 0);
    }
    g_atomic_int_set(job->stop, 1);
    return NULL;
}

/* Every word read from cluster c is zero or names c: never another cluster's data. */
static gpointer race_reader(gpointer opaque)
{
    RaceJob *job = opaque;
    g_autoptr(GRand) r = g_rand_new();
    g_autofree uint64_t *words = g_malloc(8 * RACE_CS);
    while (!g_atomic_int_get(job->stop)) {
        uint64_t c = g_rand_int_range(r, 0, (gint32)job->clusters - 8);
        if (qcow2_read(job->q, c * RACE_CS, words, 8 * RACE_CS) != 0) {
            job->bad = 1;
            break;
        }
        for (size_t i = 0; i < 8 * RACE_CS / 8; i++) {
            uint64_t owner = c + i / (RACE_CS / 8);
            if (words[i] && words[i] >> 32 != owner) {
                job->bad = 1;
            }
        }
    }
    return NULL;
}

/* Reads of data clusters run outside the lock: discards and rewrites must not hand them a
 * cluster that has meanwhile gone to another place of the disk. */
static void test_read_write_race(void)
{
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 race.qcow2 2M");
    g_autofree char *p = path_of("race.qcow2");
    DyingFile d = {.fd = open(p, O_RDWR), .slow_reads = true, .die_at = -1};
    Qcow2Image *q = dying_open(&d);
    volatile gint stop = 0;
    RaceJob wjob = {q, (2 << 20) / RACE_CS, &stop, 0};
    RaceJob rjobs[3];
    GThread *readers[3];
    for (int i = 0; i < 3; i++) {
        rjobs[i] = wjob;
        readers[i] = g_thread_new("reader", race_reader, &rjobs[i]);
    }
    GThread *writer = g_thread_new("writer", race_writer, &wjob);
    g_thread_join(writer);
    for (int i = 0; i < 3; i++) {
        g_thread_join(readers[i]);
        g_assert_cmpint(rjobs[i].bad, ==, 0);
    }
    qcow2_close(q);
    close(d.fd);
    assert_check_clean("race.qcow2");
}

/* Patches a big-endian field of a fresh image's header. */
static void patch(const char *name, uint64_t off, uint64_t value, int bytes)
{
    g_autofree char *p = path_of(name);
    int fd = open(p, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    guint8 be[8];
    for (int i = 0; i < bytes; i++) {
        be[i] = value >> (8 * (bytes - 1 - i));
    }
    g_assert_cmpint(pwrite(fd, be, bytes, off), ==, bytes);
    close(fd);
}

typedef struct BadHeader {
    uint64_t off;
    uint64_t value;
    int bytes;
    int flags;
    const char *message; /* ours, which must also be qemu-img's */
} BadHeader;

/* A damaged header is refused with the message qemu-img gives for the same file. */
static void test_bad_headers(void)
{
    static const BadHeader bad[] = {
        {0, 0x51464900, 4, 0, "Image is not in qcow2 format"},
        {4, 4, 4, 0, "Unsupported qcow2 version 4"},
        {4, 1, 4, 0, "Unsupported qcow2 version 1"},
        {20, 30, 4, 0, "Unsupported cluster size: 2^30"},
        {20, 8, 4, 0, "Unsupported cluster size: 2^8"},
        {100, 96, 4, 0, "qcow2 header too short"},
        {100, 1 << 17, 4, 0, "qcow2 header exceeds cluster size"},
        {96, 7, 4, 0, "Reference count entry width too large; may not exceed 64 bits"},
        {72, 1ull << 63, 8, 0,
         "Unsupported qcow2 feature(s): Unknown incompatible feature: 8000000000000000"},
        {72, 2, 8, QCOW2_OPEN_RDWR, "qcow2: Image is corrupt; cannot be opened read/write"},
        {36, 0, 4, 0, "L1 table is too small"},
        {40, 12345, 8, 0, "Active L1 table offset invalid"},
        {36, 0x10000000, 4, 0, "Active L1 table too large"},
        {48, 777, 8, 0, "Reference count table offset invalid"},
        {56, 0, 4, 0, "Image does not contain a reference count table"},
        {56, 1000, 4, 0, "Reference count table too large"},
        {60, 70000, 4, 0, "Snapshot table too large"},
        {8, 70000, 8, 0, "Invalid backing file offset"},
        {8, 65000, 8, 0, "Backing file name too long"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        run_ok("qemu-img create -q -f qcow2 -o compat=1.1 bad.qcow2 64M");
        patch("bad.qcow2", bad[i].off, bad[i].value, bad[i].bytes);
        if (bad[i].off == 8) {
            patch("bad.qcow2", 16, 1000, 4);
        }
        g_autofree char *p = path_of("bad.qcow2");
        GError *err = NULL;
        int fd;
        Qcow2Image *q = try_open(p, bad[i].flags, &fd, &err);
        g_assert_null(q);
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, bad[i].message);
        g_clear_error(&err);

        /* The same file through Debian's qemu-img. */
        g_autofree char *out = NULL, *errs = NULL;
        const char *cmd = bad[i].flags ? "qemu-io -f qcow2 -c quit" : "qemu-img info -f qcow2";
        g_assert_cmpint(run(&out, &errs, "%s bad.qcow2", cmd), !=, 0);
        g_autofree char *want = g_strdup_printf(": %s\n", bad[i].message);
        if (!strstr(errs, want)) {
            g_printerr("qemu-img said: %s", errs);
        }
        g_assert_nonnull(strstr(errs, want));
    }
}

/* Images we create are what qemu-img would make: it checks them clean and reads their fields. */
static void test_create(void)
{
    static const struct {
        uint64_t size;
        uint32_t cluster_size;
        int version;
        const char *backing, *fmt, *want;
    } cases[] = {
        {1 << 20, 0, 0, NULL, NULL, "\"cluster-size\": 65536"},
        {(uint64_t)100 << 30, 65536, 2, NULL, NULL, "\"compat\": \"0.10\""},
        {3 << 20, 512, 3, "create-base.qcow2", "qcow2", "\"backing-filename-format\": \"qcow2\""},
        {12345 * 512, 2 << 20, 3, "create-base.qcow2", NULL,
         "\"backing-filename\": "
         "\"create-base.qcow2\""},
    };
    run_ok("qemu-img create -q -f qcow2 create-base.qcow2 1M");
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        create_ours("created.qcow2", cases[i].size, cases[i].cluster_size, cases[i].version,
                    cases[i].backing, cases[i].fmt);
        assert_check_clean("created.qcow2");
        g_autofree char *out = NULL;
        g_assert_cmpint(run(&out, NULL, "qemu-img info --output=json created.qcow2"), ==, 0);
        g_autofree char *vsize = g_strdup_printf("\"virtual-size\": %" PRIu64 ",", cases[i].size);
        g_assert_nonnull(strstr(out, vsize));
        g_assert_nonnull(strstr(out, cases[i].want));
    }
    g_autofree char *p = path_of("created.qcow2");
    int fd = open(p, O_RDWR);
    Qcow2File f = fd_file(fd);
    GError *err = NULL;
    Qcow2CreateOpts bad = {.size = 1 << 20, .cluster_size = 1000};
    g_assert_false(qcow2_create(&f, &bad, &err));
    g_assert_cmpstr(err->message, ==, "Cluster size must be a power of two between 512 and 2048k");
    g_clear_error(&err);
    Qcow2CreateOpts nofile = {.size = 1 << 20, .backing_format = "raw"};
    g_assert_false(qcow2_create(&f, &nofile, &err));
    g_assert_cmpstr(err->message, ==, "Backing format cannot be used without backing file");
    g_clear_error(&err);
    close(fd);
}

static int raw_backing_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    return fd_pread(opaque, off, buf, len);
}

/*
 * qemu-io writes into an overlay on a raw backing file (our backing reader is a plain file
 * here); we read what qemu-img convert reads through the chain.
 */
static void test_read_qemu_overlay(void)
{
    const size_t len = 3 << 20;
    g_autoptr(GRand) r = g_rand_new_with_seed(11);
    g_autofree guint8 *base = random_bytes(r, len - 12345);
    write_file("ovl-base.raw", base, len - 12345);
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=8192 -b ovl-base.raw -F raw ovl.qcow2 3M");
    g_autoptr(GString) cmd = g_string_new("qemu-io -f qcow2");
    for (int i = 0; i < 60; i++) {
        uint64_t off = g_rand_int_range(r, 0, len - 20000), n = g_rand_int_range(r, 1, 20000);
        const char *op = i % 7 == 3 ? "write -z" : i % 11 == 5 ? "discard" : "write -P 0x77";
        if (i % 11 == 5) {
            off &= ~UINT64_C(8191);
            n = 16384;
        }
        g_string_append_printf(cmd, " -c '%s %" PRIu64 " %" PRIu64 "'", op, off, n);
    }
    g_string_append(cmd, " ovl.qcow2 >/dev/null");
    run_ok(cmd->str);
    run_ok("qemu-img convert -O raw ovl.qcow2 ovl-ref.raw");
    g_autofree char *ref_path = path_of("ovl-ref.raw");
    g_autofree char *ref = NULL;
    gsize ref_len;
    GError *err = NULL;
    g_assert_true(g_file_get_contents(ref_path, &ref, &ref_len, &err));
    g_assert_cmpuint(ref_len, ==, len);

    g_autofree char *p = path_of("ovl.qcow2");
    g_autofree char *bp = path_of("ovl-base.raw");
    int fd, bfd = open(bp, O_RDONLY);
    Qcow2Image *q = try_open(p, 0, &fd, &err);
    g_assert_no_error(err);
    Qcow2Backing b = {
        .opaque = GINT_TO_POINTER(bfd), .pread = raw_backing_pread, .length = fd_length};
    qcow2_set_backing(q, &b);
    Img img = {.fd = fd, .q = q};
    assert_reads(&img, (const guint8 *)ref, len);
    qcow2_close(q);
    close(fd);
    close(bfd);
}

/* Appends (start, length, status) to runs, merged with the previous run of the same status. */
static void add_run(GArray *runs, uint64_t start, uint64_t len, int status)
{
    if (runs->len) {
        uint64_t *last = &g_array_index(runs, uint64_t, runs->len - 3);
        if (last[2] == (uint64_t)status && last[0] + last[1] == start) {
            last[1] += len;
            return;
        }
    }
    uint64_t run[3] = {start, len, (uint64_t)status};
    g_array_append_vals(runs, run, 3);
}

/* Our block status walks the image as `qemu-img map` maps it: data, zero, unallocated. */
static void test_block_status(void)
{
    const size_t len = 3 << 20;
    g_autoptr(GRand) r = g_rand_new_with_seed(13);
    g_autofree guint8 *data = converted_image("map", r, len, "-c -o cluster_size=4096");
    g_autofree char *p = path_of("map.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    for (int i = 0; i < 40; i++) {
        uint64_t off = g_rand_int_range(r, 0, len - 40000), n = g_rand_int_range(r, 1, 40000);
        if (i % 2) {
            g_assert_cmpint(qcow2_write_zeroes(img->q, off, n), ==, 0);
        } else {
            g_assert_cmpint(qcow2_write(img->q, off, data, n), ==, 0);
        }
    }
    g_autoptr(GArray) ours = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    for (uint64_t off = 0, pnum; off < len; off += pnum) {
        int st = qcow2_block_status(img->q, off, len - off, &pnum);
        g_assert_cmpint(st, >=, 0);
        g_assert_cmpuint(pnum, >, 0);
        add_run(ours, off, pnum, st);
    }
    img_close(img);

    g_autofree char *out = NULL;
    g_assert_cmpint(run(&out, NULL, "qemu-img map --output=json map.qcow2"), ==, 0);
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *err = NULL;
    g_assert_true(json_parser_load_from_data(parser, out, -1, &err));
    JsonArray *map = json_node_get_array(json_parser_get_root(parser));
    g_autoptr(GArray) theirs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    for (guint i = 0; i < json_array_get_length(map); i++) {
        JsonObject *o = json_array_get_object_element(map, i);
        int st = !json_object_get_boolean_member(o, "present") ? QCOW2_STATUS_UNALLOCATED
                 : json_object_get_boolean_member(o, "data")   ? QCOW2_STATUS_DATA
                                                               : QCOW2_STATUS_ZERO;
        add_run(theirs, json_object_get_int_member(o, "start"),
                json_object_get_int_member(o, "length"), st);
    }
    g_assert_cmpuint(ours->len, >, 9); /* holes, data and zeros all took part */
    g_assert_cmpmem(ours->data, ours->len * sizeof(uint64_t), theirs->data,
                    theirs->len * sizeof(uint64_t));
}

static void record_corruption(void *opaque, const char *msg, bool fatal)
{
    g_assert_true(fatal);
    *(char **)opaque = g_strdup(msg);
}

/*
 * Metadata found inconsistent (an L2 table at an unaligned offset) fails the request, reports
 * once, and marks a v3 image corrupt on disk, as qemu-img then sees it.
 */
static void test_corruption_found(void)
{
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 found.qcow2 1M");
    run_ok("qemu-io -f qcow2 -c 'write -P 0x42 0 4096' found.qcow2 >/dev/null");
    uint64_t l1_offset = header_u64("found.qcow2", 40);
    uint64_t l1_entry = header_u64("found.qcow2", l1_offset);
    patch("found.qcow2", l1_offset, l1_entry + 512, 8);
    g_autofree char *p = path_of("found.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    g_autofree char *msg = NULL;
    qcow2_set_corruption_handler(img->q, record_corruption, &msg);
    guint8 buf[512];
    g_assert_cmpint(qcow2_read(img->q, 0, buf, sizeof(buf)), ==, -EIO);
    g_autofree char *want = g_strdup_printf("L2 table offset %#" PRIx64 " unaligned (L1 index: 0)",
                                            (l1_entry + 512) & ~(UINT64_C(1) << 63));
    g_assert_cmpstr(msg, ==, want);
    g_assert_cmpint(qcow2_write(img->q, 65536, buf, sizeof(buf)), ==, -EIO);
    Qcow2Info info;
    qcow2_get_info(img->q, &info);
    g_assert_true(info.corrupt);
    qcow2_info_clear(&info);
    img_close(img);
    g_autofree char *out = NULL;
    g_assert_cmpint(run(&out, NULL, "qemu-img info --output=json found.qcow2"), ==, 0);
    g_assert_nonnull(strstr(out, "\"corrupt\": true"));
    GError *err = NULL;
    int fd;
    g_assert_null(try_open(p, QCOW2_OPEN_RDWR, &fd, &err));
    g_assert_cmpstr(err->message, ==, "qcow2: Image is corrupt; cannot be opened read/write");
    g_clear_error(&err);
}

/* Features upstream has and we have not are refused by name, never misread. */
static void test_unsupported_features(void)
{
    run_ok("qemu-img create -q -f qcow2 -o extended_l2=on ext.qcow2 1M");
    g_autofree char *p = path_of("ext.qcow2");
    GError *err = NULL;
    int fd;
    g_assert_null(try_open(p, 0, &fd, &err));
    g_assert_cmpstr(err->message, ==, "Unsupported qcow2 feature(s): extended L2 entries");
    g_clear_error(&err);
    run_ok("qemu-img create -q -f qcow2 -o data_file=ext.data ext.qcow2 1M");
    g_assert_null(try_open(p, 0, &fd, &err));
    g_assert_cmpstr(err->message, ==, "Unsupported qcow2 feature(s): external data file");
    g_clear_error(&err);
    run_ok("qemu-img create -q -f qcow2 -o compression_type=zstd ext.qcow2 1M");
    g_assert_null(try_open(p, 0, &fd, &err));
    g_assert_cmpstr(err->message, ==, "qcow2: zstd compression is not supported");
    g_clear_error(&err);
}

/* v3 write-zeroes leaves zero clusters, without data clusters behind them. */
static void test_zero_clusters(void)
{
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=65536 zero.qcow2 4M");
    g_autofree char *p = path_of("zero.qcow2");
    Img *img = img_open(p, QCOW2_OPEN_RDWR);
    g_autofree guint8 *d = g_malloc(4 << 20);
    memset(d, 0xee, 4 << 20);
    g_assert_cmpint(qcow2_write(img->q, 0, d, 4 << 20), ==, 0);
    g_assert_cmpint(qcow2_write_zeroes(img->q, 65536, 3 << 20), ==, 0);
    memset(d + 65536, 0, 3 << 20);
    assert_reads(img, d, 4 << 20);
    img_close(img);
    assert_check_clean("zero.qcow2");
    assert_compare("zero.raw", d, 4 << 20, "zero.qcow2");
    g_autofree char *out = NULL;
    g_assert_cmpint(run(&out, NULL, "qemu-img map --output=json zero.qcow2"), ==, 0);
    g_assert_nonnull(strstr(out, "\"start\": 65536, \"length\": 3145728, \"depth\": 0, "
                                 "\"present\": true, \"zero\": true, \"data\": false"));
}

/*
 * A Qcow2File with preadv/pwritev/preadv_nowait that checks every segment it is handed lies
 * inside the caller's own segments (no bounce buffer in between) and counts the bytes it
 * moved, and the writes and page-cache reads it was asked for.
 */
typedef struct VecFile {
    int fd;
    const struct iovec *caller; /* NULL: no check, no byte counts */
    int caller_cnt;
    uint64_t vec_read, vec_written;
    uint64_t own_written; /* bytes of vectored writes from the image's own buffers */
    long writes;          /* pwrite and pwritev calls */
    long reads;           /* pread calls */
    long nowait_reads;
} VecFile;

/* Segments outside the caller's are the image's own (old contents around an allocating write):
 * never for a read. */
static void count_in_caller(VecFile *v, const struct iovec *iov, int iovcnt, bool write)
{
    for (int i = 0; v->caller && i < iovcnt; i++) {
        const guint8 *b = iov[i].iov_base;
        bool inside = false;
        for (int j = 0; j < v->caller_cnt && !inside; j++) {
            const guint8 *c = v->caller[j].iov_base;
            inside = b >= c && b + iov[i].iov_len <= c + v->caller[j].iov_len;
        }
        g_assert_true(inside || write);
        *(inside ? (write ? &v->vec_written : &v->vec_read) : &v->own_written) += iov[i].iov_len;
    }
}

static int vec_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    ((VecFile *)opaque)->reads++;
    return fd_pread(GINT_TO_POINTER(((VecFile *)opaque)->fd), off, buf, len);
}

static int vec_pwrite(void *opaque, uint64_t off, const void *buf, size_t len)
{
    ((VecFile *)opaque)->writes++;
    return fd_pwrite(GINT_TO_POINTER(((VecFile *)opaque)->fd), off, buf, len);
}

static int vec_io(VecFile *v, uint64_t off, const struct iovec *iov, int iovcnt, bool write)
{
    count_in_caller(v, iov, iovcnt, write);
    v->writes += write;
    for (int i = 0; i < iovcnt; i++) {
        int ret = write ? fd_pwrite(GINT_TO_POINTER(v->fd), off, iov[i].iov_base, iov[i].iov_len)
                        : vec_pread(v, off, iov[i].iov_base, iov[i].iov_len);
        if (ret < 0) {
            return ret;
        }
        off += iov[i].iov_len;
    }
    return 0;
}

static int vec_preadv(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return vec_io(opaque, off, iov, iovcnt, false);
}

static int vec_pwritev(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return vec_io(opaque, off, iov, iovcnt, true);
}

static int vec_preadv_nowait(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    VecFile *v = opaque;
    count_in_caller(v, iov, iovcnt, false);
    v->nowait_reads++;
    ssize_t n = preadv2(v->fd, iov, iovcnt, (off_t)off, RWF_NOWAIT);
    return n >= 0 && (size_t)n == iov_size(iov, iovcnt) ? 0 : -EAGAIN;
}

static int vec_flush(void *opaque)
{
    return fd_flush(GINT_TO_POINTER(((VecFile *)opaque)->fd));
}

static int vec_truncate(void *opaque, uint64_t size)
{
    return fd_truncate(GINT_TO_POINTER(((VecFile *)opaque)->fd), size);
}

static int64_t vec_length(void *opaque)
{
    return fd_length(GINT_TO_POINTER(((VecFile *)opaque)->fd));
}

static Qcow2File vec_file(VecFile *v)
{
    return (Qcow2File){.opaque = v,
                       .pread = vec_pread,
                       .pwrite = vec_pwrite,
                       .preadv = vec_preadv,
                       .pwritev = vec_pwritev,
                       .preadv_nowait = vec_preadv_nowait,
                       .flush = vec_flush,
                       .truncate = vec_truncate,
                       .length = vec_length};
}

/* Cuts buf into segments of the given sizes (the last takes the rest). */
static int cut(guint8 *buf, size_t len, const size_t *sizes, int n, struct iovec *iov)
{
    int cnt = 0;
    for (size_t done = 0; done < len; cnt++) {
        size_t piece = cnt < n - 1 ? MIN(sizes[cnt], len - done) : len - done;
        iov[cnt] = (struct iovec){.iov_base = buf + done, .iov_len = piece};
        done += piece;
    }
    return cnt;
}

/*
 * Vectored requests over an overlay (4 KiB clusters) on a raw backing file shorter than it:
 * reads across backing, data, zero and past-the-backing ranges, writes that allocate two
 * clusters with copy-on-write around them (the old bytes from our buffers, the new ones from
 * the caller's, in one write) and writes in place, all in odd-sized segments.
 */
static void test_vectored(void)
{
    const size_t len = 1 << 20, base_len = len - 5000;
    g_autoptr(GRand) r = g_rand_new_with_seed(17);
    g_autofree guint8 *ref = random_bytes(r, len);
    memset(ref + base_len, 0, len - base_len);
    write_file("vec-base.raw", ref, base_len);
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 -b vec-base.raw -F raw vec.qcow2 1M");
    run_ok("qemu-io -f qcow2 -c 'write -P 0x11 8192 8192' -c 'write -z 20480 4096' vec.qcow2"
           " >/dev/null");
    memset(ref + 8192, 0x11, 8192);
    memset(ref + 20480, 0, 4096);

    g_autofree char *p = path_of("vec.qcow2");
    g_autofree char *bp = path_of("vec-base.raw");
    VecFile v = {.fd = open(p, O_RDWR)};
    int bfd = open(bp, O_RDONLY);
    g_assert_cmpint(v.fd, >=, 0);
    g_assert_cmpint(bfd, >=, 0);
    Qcow2File f = vec_file(&v);
    GError *err = NULL;
    Qcow2Image *q = qcow2_open(&f, QCOW2_OPEN_RDWR, &err);
    g_assert_no_error(err);
    Qcow2Backing b = {
        .opaque = GINT_TO_POINTER(bfd), .pread = raw_backing_pread, .length = fd_length};
    qcow2_set_backing(q, &b);

    /* Backing, 8 KiB of data, backing, a zero cluster, backing: only the data is vectored. */
    static const size_t read_cuts[] = {1, 4095, 7000, 3, 333};
    struct iovec iov[64];
    g_autofree guint8 *got = g_malloc(20000);
    memset(got, 0xa5, 20000);
    int cnt = cut(got, 20000, read_cuts, G_N_ELEMENTS(read_cuts), iov);
    v.caller = iov;
    v.caller_cnt = cnt;
    g_assert_cmpint(qcow2_readv(q, 6000, iov, cnt), ==, 0);
    g_assert_cmpmem(got, 20000, ref + 6000, 20000);
    g_assert_cmpuint(v.vec_read, ==, 8192);

    /* The tail: past the backing file's end reads as zeros. */
    v.vec_read = 0;
    cnt = cut(got, 9000, read_cuts, G_N_ELEMENTS(read_cuts), iov);
    g_assert_cmpint(qcow2_readv(q, len - 9000, iov, cnt), ==, 0);
    g_assert_cmpmem(got, 9000, ref + len - 9000, 9000);
    g_assert_cmpuint(v.vec_read, ==, 0);

    /* Allocates clusters 7 and 8: the backing's bytes around the new ones are ours. */
    static const size_t write_cuts[] = {100, 2900, 17};
    g_autofree guint8 *data = random_bytes(r, 6000);
    cnt = cut(data, 5000, write_cuts, G_N_ELEMENTS(write_cuts), iov);
    v.caller = iov;
    v.caller_cnt = cnt;
    g_assert_cmpint(qcow2_writev(q, 30000, iov, cnt), ==, 0);
    memcpy(ref + 30000, data, 5000);
    g_assert_cmpuint(v.vec_written, ==, 5000);
    g_assert_cmpuint(v.own_written, ==, (30000 - 28672) + (36864 - 35000));

    /* In place over the data clusters 2 and 3 and the new 7 and 8: straight from the caller. */
    cnt = cut(data, 6000, write_cuts, G_N_ELEMENTS(write_cuts), iov);
    g_assert_cmpint(qcow2_writev(q, 9000, iov, cnt), ==, 0);
    memcpy(ref + 9000, data, 6000);
    g_assert_cmpuint(v.vec_written, ==, 11000);
    g_assert_cmpint(qcow2_writev(q, 29000, iov, cnt), ==, 0);
    memcpy(ref + 29000, data, 6000);
    /* 28672..36864 are now ours; 29000..34999 lies in them. */
    g_assert_cmpuint(v.vec_written, ==, 17000);
    g_assert_cmpuint(v.own_written, ==, (30000 - 28672) + (36864 - 35000));

    /* A segment list longer than the stack slice: single bytes. */
    struct iovec *many = g_new(struct iovec, 40);
    for (int i = 0; i < 40; i++) {
        many[i] = (struct iovec){.iov_base = got + i, .iov_len = 1};
    }
    v.caller = many;
    v.caller_cnt = 40;
    g_assert_cmpint(qcow2_readv(q, 16364, many, 40), ==, 0);
    g_assert_cmpmem(got, 40, ref + 16364, 40);
    g_free(many);

    qcow2_close(q);
    close(v.fd);
    close(bfd);
    assert_check_clean("vec.qcow2");
    assert_compare("vec-ref.raw", ref, len, "vec.qcow2");
}

/* NAME read and written through a VecFile (fresh counts, no caller to check). */
static Qcow2Image *count_open(VecFile *v, const char *name, const Qcow2Backing *backing)
{
    g_autofree char *p = path_of(name);
    *v = (VecFile){.fd = open(p, O_RDWR)};
    g_assert_cmpint(v->fd, >=, 0);
    Qcow2File f = vec_file(v);
    GError *err = NULL;
    Qcow2Image *q = qcow2_open(&f, QCOW2_OPEN_RDWR, &err);
    g_assert_no_error(err);
    qcow2_set_backing(q, backing);
    return q;
}

/* Writes len bytes of fresh random data at off into the image and the model. */
static void write_random(Qcow2Image *q, guint8 *model, GRand *r, uint64_t off, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++) {
        model[off + i] = (guint8)g_rand_int(r);
    }
    g_assert_cmpint(qcow2_write(q, off, model + off, len), ==, 0);
}

/*
 * A write that allocates many clusters does it as one run: on a fresh 64 KiB-cluster image a
 * 1 MiB write is one refcount write, one data write and one L2 write once the L2 table exists,
 * as upstream maps a request's clusters at once.
 */
static void test_alloc_write_counts(void)
{
    run_ok("qemu-img create -q -f qcow2 counts.qcow2 64M");
    VecFile c;
    Qcow2Image *q = count_open(&c, "counts.qcow2", NULL);
    g_autoptr(GRand) r = g_rand_new_with_seed(23);
    const uint64_t mib = 1 << 20;
    g_autofree guint8 *model = g_malloc0(8 * mib);

    write_random(q, model, r, 0, mib);
    long first = c.writes;
    /* The L2 table (its cluster, its refcount, the L1 entry) and the run's three writes. */
    g_assert_cmpint(first, <=, 6);
    for (uint64_t off = mib; off < 8 * mib; off += mib) {
        long before = c.writes;
        write_random(q, model, r, off, mib);
        g_assert_cmpint(c.writes - before, ==, 3);
    }
    /* In place: the data only. */
    long before = c.writes;
    write_random(q, model, r, 3 * mib + 4096, 2 * mib);
    g_assert_cmpint(c.writes - before, ==, 1);

    /* Reads of mapped clusters whose L2 table is cached go straight to the page cache. */
    g_autofree guint8 *got = g_malloc(2 * mib);
    struct iovec iov[2] = {{.iov_base = got, .iov_len = mib - 512},
                           {.iov_base = got + mib - 512, .iov_len = mib + 512}};
    g_assert_cmpint(qcow2_readv_nowait(q, 5 * mib + 512, iov, 2), ==, 0);
    g_assert_cmpmem(got, 2 * mib, model + 5 * mib + 512, 2 * mib);
    g_assert_cmpint(c.nowait_reads, ==, 1); /* contiguous on the host: one read */
    /* Unallocated clusters, and a range past the end, are left to qcow2_readv. */
    g_assert_cmpint(qcow2_readv_nowait(q, 8 * mib - 4096, iov, 1), ==, -EAGAIN);
    g_assert_cmpint(qcow2_readv_nowait(q, 64 * mib - 512, iov, 1), ==, -EAGAIN);
    g_assert_cmpint(c.nowait_reads, ==, 1);
    qcow2_close(q);
    close(c.fd);

    /* A fresh handle has no L2 table cached: the first read goes the slow way. */
    q = count_open(&c, "counts.qcow2", NULL);
    g_assert_cmpint(qcow2_readv_nowait(q, 0, iov, 1), ==, -EAGAIN);
    g_assert_cmpint(qcow2_readv(q, 0, iov, 1), ==, 0);
    g_assert_cmpint(qcow2_readv_nowait(q, mib, iov, 2), ==, 0);
    g_assert_cmpmem(got, 2 * mib, model + mib, 2 * mib);
    qcow2_close(q);
    close(c.fd);
    assert_check_clean("counts.qcow2");
    assert_compare("counts.raw", model, 8 * mib, "counts.qcow2");
}

/*
 * Writes that allocate runs of clusters around everything a run can meet: unaligned ends over a
 * backing file and over compressed and zero clusters, allocated clusters in the middle (the run
 * splits around them), L2 table boundaries (4 KiB clusters: 2 MiB per table), snapshot-shared
 * clusters; then qemu-img check is clean and compare agrees with the model.
 */
static void test_alloc_runs(void)
{
    const uint64_t len = 6 << 20, cs = 4096;
    g_autoptr(GRand) r = g_rand_new_with_seed(29);
    /* A compressed base with holes, an overlay with some data and zero clusters of its own. */
    g_autofree guint8 *model = converted_image("runs-base", r, len, "-c -o cluster_size=4096");
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 -b runs-base.qcow2 -F qcow2 "
           "runs.qcow2 6M");
    run_ok("qemu-io -f qcow2 -c 'write -P 0x21 40960 8192' -c 'write -z 65536 16384' "
           "-c 'write -P 0x22 2093056 8192' runs.qcow2 >/dev/null");
    memset(model + 40960, 0x21, 8192);
    memset(model + 65536, 0, 16384);
    memset(model + 2093056, 0x22, 8192);
    g_autofree char *bp = path_of("runs-base.qcow2");
    Img *base = img_open(bp, 0);
    Qcow2Backing b = qcow2_backing_from_image(base->q);
    VecFile c;
    Qcow2Image *q = count_open(&c, "runs.qcow2", &b);

    /* Unaligned at both ends over backing clusters, with the data clusters inside it. */
    write_random(q, model, r, 30000, 60000);
    /* Across the first L2 table's end, over the data clusters just before it. */
    write_random(q, model, r, 2 * 1048576 - 3 * cs - 10, 5 * cs + 20);
    /* Whole clusters only, far from anything allocated: one run. */
    write_random(q, model, r, 3 << 20, 64 * cs);
    /* Runs across three L2 tables. */
    write_random(q, model, r, (4 << 20) - 100, (2 << 20) + 50);
    /* Zero clusters of the overlay at both ends (head and tail read as zeros). */
    write_random(q, model, r, 65536 + 100, cs);
    write_random(q, model, r, 65536 + 3 * cs + 5, cs);
    assert_reads(&(Img){.q = q}, model, len);
    g_assert_cmpint(qcow2_flush(q), ==, 0);
    qcow2_close(q);
    close(c.fd);
    img_close(base);
    assert_check_clean("runs.qcow2");
    assert_compare("runs.raw", model, len, "runs.qcow2");

    /* Over clusters shared with an internal snapshot: copies in runs, the snapshot intact. */
    run_ok("qemu-img snapshot -c s1 runs.qcow2");
    g_autofree guint8 *orig = g_memdup2(model, len);
    base = img_open(bp, 0);
    b = qcow2_backing_from_image(base->q);
    q = count_open(&c, "runs.qcow2", &b);
    write_random(q, model, r, 20000, 200000);
    write_random(q, model, r, (2 << 20) - 7000, 30000);
    assert_reads(&(Img){.q = q}, model, len);
    qcow2_close(q);
    close(c.fd);
    img_close(base);
    assert_snapshot_restores("runs", model, orig, len);
}

/*
 * The L2 cache holds every table of the image, as upstream's default does up to 32 MiB: with
 * 4 KiB clusters each table maps 2 MiB, so a 64 MiB image has 32 of them; a second pass over
 * the whole image reads no L2 table again, and reads finish on the caller's thread.
 */
static void test_l2_cache_size(void)
{
    const uint64_t len = 64 << 20, per_table = 2 << 20;
    run_ok("qemu-img create -q -f qcow2 -o cluster_size=4096 l2cache.qcow2 64M");
    VecFile c;
    Qcow2Image *q = count_open(&c, "l2cache.qcow2", NULL);
    g_autoptr(GRand) r = g_rand_new_with_seed(31);
    g_autofree guint8 *model = g_malloc0(len);
    for (uint64_t off = 0; off < len; off += per_table) {
        write_random(q, model, r, off + 8192, 4096);
    }
    qcow2_close(q);
    close(c.fd);

    q = count_open(&c, "l2cache.qcow2", NULL);
    guint8 got[4096];
    for (int pass = 0; pass < 2; pass++) {
        long before = c.reads;
        for (uint64_t off = 0; off < len; off += per_table) {
            g_assert_cmpint(qcow2_read(q, off + 8192, got, sizeof(got)), ==, 0);
            g_assert_cmpmem(got, sizeof(got), model + off + 8192, sizeof(got));
        }
        /* The data, and on the first pass each table once. */
        g_assert_cmpint(c.reads - before, ==, (pass == 0 ? 2 : 1) * (long)(len / per_table));
    }
    struct iovec iov = {.iov_base = got, .iov_len = sizeof(got)};
    for (uint64_t off = 0; off < len; off += per_table) {
        g_assert_cmpint(qcow2_readv_nowait(q, off + 8192, &iov, 1), ==, 0);
        g_assert_cmpmem(got, sizeof(got), model + off + 8192, sizeof(got));
    }
    qcow2_close(q);
    close(c.fd);
    assert_check_clean("l2cache.qcow2");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    GError *err = NULL;
    tmpdir = g_dir_make_tmp("test-qcow2-XXXXXX", &err);
    g_assert_no_error(err);

    g_test_add_func("/qcow2/read-converted", test_read_converted);
    g_test_add_func("/qcow2/info", test_info);
    g_test_add_func("/qcow2/read-qemu-overlay", test_read_qemu_overlay);
    g_test_add_func("/qcow2/bad-headers", test_bad_headers);
    g_test_add_func("/qcow2/corruption-found", test_corruption_found);
    g_test_add_func("/qcow2/create", test_create);
    g_test_add_func("/qcow2/block-status", test_block_status);
    g_test_add_func("/qcow2/unsupported-features", test_unsupported_features);
    g_test_add_func("/qcow2/zero-clusters", test_zero_clusters);
    g_test_add_func("/qcow2/vectored", test_vectored);
    g_test_add_func("/qcow2/alloc-write-counts", test_alloc_write_counts);
    g_test_add_func("/qcow2/alloc-runs", test_alloc_runs);
    g_test_add_func("/qcow2/l2-cache-size", test_l2_cache_size);
    g_test_add_func("/qcow2/overwrite-compressed", test_overwrite_compressed);
    g_test_add_func("/qcow2/snapshot-shared", test_snapshot_shared);
    g_test_add_func("/qcow2/threads", test_threads);
    g_test_add_func("/qcow2/crash-consistency", test_crash_consistency);
    g_test_add_func("/qcow2/read-write-race", test_read_write_race);
    for (size_t i = 0; i < G_N_ELEMENTS(scenarios); i++) {
        g_autofree char *name = g_strdup_printf("/qcow2/random-writes/%s", scenarios[i].name);
        g_test_add_data_func(name, &scenarios[i], test_random_writes);
    }
    int rc = g_test_run();

    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0) {
        g_printerr("could not remove %s\n", tmpdir);
    }
    g_free(tmpdir);
    return rc;
}
