/*
 * block/replication.c over images made by qemu-img: the secondary's chain (active and hidden
 * qcow2 over a raw secondary disk with its backend), checkpoints emptying the overlays, the
 * backup saving old data before the NBD side's writes (also against guest reads racing it),
 * failover commit, the stages' errors, the checkpoint digests (what the chain reads, started
 * nodes only); the primary's node over Debian's qemu-nbd, killed under it (errors recorded,
 * never returned).
 */
#include "block/block-backend.h"
#include "block/block.h"
#include "block/nbd-driver.h"
#include "block/qcow2-format.h"
#include "block/replication.h"
#include "util/error.h"
#include "qemu-nbd-peer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define SIZE    (1024 * 1024)
#define CLUSTER 65536

static char *dir;

static char *path(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

static void qemu_img_create(const char *name, const char *fmt, int64_t size)
{
    g_autofree char *p = path(name);
    g_autofree char *sz = g_strdup_printf("%" G_GINT64_FORMAT, size);
    const char *argv[] = {"qemu-img", "create", "-q", "-f", fmt, p, sz, NULL};
    gint status;
    GError *err = NULL;
    g_autofree char *out = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               &out, &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_error("qemu-img create %s: %s", name, out);
    }
}

/* qemu-img check on a closed image: no leaks, no corruption. */
static void assert_image_clean(const char *name)
{
    g_autofree char *p = path(name);
    const char *argv[] = {"qemu-img", "check", "-q", p, NULL};
    gint status;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

static void fill(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7 + seed);
    }
}

static void set_opts(GHashTable *opts, const char *const (*kv)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_hash_table_insert(opts, g_strdup(kv[i][0]), g_strdup(kv[i][1]));
    }
}

/* The secondary, as the runbook builds it: parent0 (raw, a backend of that name), and the
 * replication node "rep" over active -> hidden -> parent0, under a backend "top". */
typedef struct Secondary {
    BlockBackend *parent_blk, *top_blk;
    BlockDriverState *parent0, *rep;
} Secondary;

static void fresh_images(int64_t hidden_size)
{
    qemu_img_create("active.qcow2", "qcow2", SIZE);
    qemu_img_create("hidden.qcow2", "qcow2", hidden_size);
    g_autofree char *sec = path("sec.img");
    g_autofree uint8_t *data = g_malloc(SIZE);
    fill(data, SIZE, 1);
    g_assert_true(g_file_set_contents(sec, (char *)data, SIZE, NULL));
}

static BlockDriverState *open_parent0(Secondary *s, bool backend)
{
    GError *err = NULL;
    g_autofree char *sec = path("sec.img");
    GHashTable *opts = bdrv_opts_new();
    const char *const kv[][2] = {
        {"driver", "raw"}, {"node-name", "parent0"}, {"file.driver", "file"}};
    set_opts(opts, kv, G_N_ELEMENTS(kv));
    g_hash_table_insert(opts, g_strdup("file.filename"), g_strdup(sec));
    s->parent0 = bdrv_open_opts(opts, NULL, &err);
    g_hash_table_unref(opts);
    g_assert_no_error(err);
    if (backend) {
        s->parent_blk = blk_new("parent0", NULL);
        g_assert_true(blk_insert_bs(s->parent_blk, s->parent0,
                                    BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE, BLK_PERM_ALL, &err));
        g_assert_no_error(err);
    }
    return s->parent0;
}

static BlockDriverState *open_rep(const char *top_id, GError **errp)
{
    g_autofree char *active = path("active.qcow2");
    g_autofree char *hidden = path("hidden.qcow2");
    GHashTable *opts = bdrv_opts_new();
    const char *const kv[][2] = {{"driver", "replication"},
                                 {"node-name", "rep"},
                                 {"mode", "secondary"},
                                 {"file.driver", "qcow2"},
                                 {"file.node-name", "active"},
                                 {"file.file.driver", "file"},
                                 {"file.backing.driver", "qcow2"},
                                 {"file.backing.node-name", "hidden"},
                                 {"file.backing.file.driver", "file"},
                                 {"file.backing.backing", "parent0"}};
    set_opts(opts, kv, G_N_ELEMENTS(kv));
    g_hash_table_insert(opts, g_strdup("top-id"), g_strdup(top_id));
    g_hash_table_insert(opts, g_strdup("file.file.filename"), g_strdup(active));
    g_hash_table_insert(opts, g_strdup("file.backing.file.filename"), g_strdup(hidden));
    BlockDriverState *bs = bdrv_open_opts(opts, NULL, errp);
    g_hash_table_unref(opts);
    return bs;
}

static void open_secondary(Secondary *s)
{
    GError *err = NULL;
    open_parent0(s, true);
    s->rep = open_rep("top", &err);
    g_assert_no_error(err);
    s->top_blk = blk_new("top", NULL);
    g_assert_true(blk_insert_bs(s->top_blk, s->rep, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL, &err));
    g_assert_no_error(err);
}

/* Every image of the test directory is closed (no node or descriptor left behind). */
static void assert_no_open_image(void)
{
    g_autoptr(GDir) fds = g_dir_open("/proc/self/fd", 0, NULL);
    const char *fd;
    while ((fd = g_dir_read_name(fds))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", fd);
        g_autofree char *target = g_file_read_link(link, NULL);
        if (target && g_str_has_prefix(target, dir)) {
            g_error("%s still open", target);
        }
    }
}

/* Fresh images, the runbook's secondary, replication started. */
static void start_secondary(Secondary *s)
{
    GError *err = NULL;
    fresh_images(SIZE);
    open_secondary(s);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    g_assert_no_error(err);
}

static void close_secondary(Secondary *s)
{
    if (s->top_blk) {
        blk_unref(s->top_blk);
    }
    bdrv_unref(s->rep);
    if (s->parent_blk) {
        blk_unref(s->parent_blk);
    }
    bdrv_unref(s->parent0);
    g_assert_false(replication_any());
    assert_no_open_image();
    assert_image_clean("active.qcow2");
    assert_image_clean("hidden.qcow2");
}

/* 1: the qcow2 node holds data at offset; 0: it reads from below. */
static int holds(const char *node, uint64_t offset)
{
    uint64_t n;
    int st = qcow2_block_status(bdrv_qcow2_image(bdrv_find_node(node)), offset, 512, &n);
    g_assert_cmpint(st, >=, 0);
    return st != QCOW2_STATUS_UNALLOCATED;
}

static void assert_reads(BlockDriverState *bs, uint64_t off, size_t len, const uint8_t *want)
{
    g_autofree uint8_t *got = g_malloc(len);
    g_assert_cmpint(bdrv_pread(bs, off, len, got), ==, 0);
    g_assert_cmpmem(got, len, want, len);
}

/* What sec.img held when made, for a range. */
static uint8_t *original(uint64_t off, size_t len)
{
    g_autofree uint8_t *all = g_malloc(SIZE);
    fill(all, SIZE, 1);
    return g_memdup2(all + off, len);
}

static void test_checkpoint_empties_overlays(void)
{
    GError *err = NULL;
    Secondary s = {0};
    fresh_images(SIZE);
    open_secondary(&s);
    g_assert_true(replication_any());
    /* Before start, the node refuses I/O as upstream's does. */
    uint8_t buf[8192];
    g_assert_cmpint(bdrv_pread(s.rep, 0, sizeof(buf), buf), ==, -EIO);

    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    g_assert_no_error(err);
    fill(buf, sizeof(buf), 9);
    g_assert_cmpint(bdrv_pwrite(s.rep, 4096, sizeof(buf), buf, 0), ==, 0);
    assert_reads(s.rep, 4096, sizeof(buf), buf);
    g_assert_cmpint(holds("active", 4096), ==, 1);
    g_autofree uint8_t *old = original(4096, sizeof(buf));
    assert_reads(s.parent0, 4096, sizeof(buf), old); /* the guest's write stays in active */

    ReplicationCheckpointStats st = {0};
    replication_do_checkpoint_all(&st, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st.bytes_written, ==, sizeof(buf));
    g_assert_cmpuint(st.empty_ns, >, 0);
    g_assert_cmpint(holds("active", 4096), ==, 0);
    assert_reads(s.rep, 4096, sizeof(buf), old); /* back to the secondary disk's view */

    memset(&st, 0, sizeof(st));
    replication_do_checkpoint_all(&st, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st.bytes_written, ==, 0);
    replication_get_error_all(&err);
    g_assert_no_error(err);
    close_secondary(&s); /* closing a running node stops it */
}

/* replication_digest_all() finds one started node and gives what its top reads. */
static void assert_digest(const char *device, const uint8_t *want)
{
    g_autoptr(GPtrArray) all = replication_digest_all();
    g_assert_cmpuint(all->len, ==, 1);
    ReplicationDigest *d = all->pdata[0];
    g_assert_cmpstr(d->device, ==, device);
    g_assert_null(d->error);
    g_assert_cmpuint(SIZE, ==, REPLICATION_DIGEST_CHUNK);
    g_assert_cmpuint(d->crc->len, ==, 1);
    g_assert_cmphex(g_array_index(d->crc, guint32, 0), ==, crc32(0, want, SIZE));
}

static void test_digests(void)
{
    GError *err = NULL;
    Secondary s = {0};
    fresh_images(SIZE);
    open_secondary(&s);
    g_autoptr(GPtrArray) none = replication_digest_all();
    g_assert_cmpuint(none->len, ==, 0); /* not started */
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    g_assert_no_error(err);
    g_autofree uint8_t *view = original(0, SIZE);
    assert_digest("top", view);

    /* the guest's write (in active) and the primary's (on parent0, the old data saved in
     * hidden first): the chain reads the first over the old data of the second */
    uint8_t guest[4096], primary[CLUSTER];
    fill(guest, sizeof(guest), 5);
    fill(primary, sizeof(primary), 6);
    g_assert_cmpint(bdrv_pwrite(s.rep, 8192, sizeof(guest), guest, 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(s.parent0, 3 * CLUSTER, sizeof(primary), primary, 0), ==, 0);
    memcpy(view + 8192, guest, sizeof(guest));
    assert_digest("top", view);

    /* after the checkpoint the chain is parent0: the primary's disk */
    replication_do_checkpoint_all(NULL, &err);
    g_assert_no_error(err);
    g_autofree uint8_t *disk = original(0, SIZE);
    memcpy(disk + 3 * CLUSTER, primary, sizeof(primary));
    assert_digest("top", disk);

    replication_stop_all(false, &err); /* 7.2's: the backup's end refuses the checkpoint */
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_autoptr(GPtrArray) stopped = replication_digest_all();
    g_assert_cmpuint(stopped->len, ==, 0);
    close_secondary(&s);
}

static void test_backup_before_nbd_write(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);

    /* The primary's write arrives on parent0 (as the NBD server makes it): 3 clusters. */
    const uint64_t off = CLUSTER + 1000;
    const size_t len = 2 * CLUSTER;
    g_autofree uint8_t *new1 = g_malloc(len), *new2 = g_malloc(len);
    fill(new1, len, 33);
    fill(new2, len, 44);
    g_autofree uint8_t *old = original(off, len);
    g_assert_cmpint(bdrv_pwrite(s.parent0, off, len, new1, 0), ==, 0);
    assert_reads(s.parent0, off, len, new1);
    assert_reads(s.rep, off, len, old); /* the secondary still sees the checkpoint */
    g_assert_cmpint(holds("hidden", CLUSTER), ==, 1);
    g_assert_cmpint(holds("hidden", 3 * CLUSTER), ==, 1);
    g_assert_cmpint(holds("hidden", 0), ==, 0);
    g_assert_cmpint(holds("hidden", 4 * CLUSTER), ==, 0);

    /* Copied once per interval: a second write does not replace the saved data. */
    g_assert_cmpint(bdrv_pwrite(s.parent0, off, len, new2, 0), ==, 0);
    assert_reads(s.rep, off, len, old);

    ReplicationCheckpointStats st = {0};
    replication_do_checkpoint_all(&st, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st.bytes_written, ==, 2 * len);
    g_assert_cmpint(holds("hidden", CLUSTER), ==, 0);
    assert_reads(s.rep, off, len, new2); /* the primary's view now */

    /* The next interval saves the then-current data. */
    g_assert_cmpint(bdrv_pwrite(s.parent0, off, 512, new1, 0), ==, 0);
    assert_reads(s.rep, off, len, new2);
    close_secondary(&s);
}

/* The secondary guest reads while the NBD side writes the same clusters: a read that finds
 * hidden unallocated reads parent0 under hidden's own lock, so the backup's copy into hidden
 * (and the primary's write after it) waits for it; a read after the copy finds the old data in
 * hidden. Either way the guest sees the checkpoint's disk, never the primary's newer bytes. */
/* The writer waits for a finished read after each of its writes rather than sleeping: on a
 * loaded host the readers may otherwise not be scheduled until the writes are all done, and
 * the round would race nothing. */
typedef struct RaceReader {
    BlockDriverState *bs;
    const uint8_t *want; /* the disk at the last checkpoint */
    GMutex lock;
    GCond read_done;
    bool stop;
    int reads, wrong; /* under lock */
} RaceReader;

static gpointer race_reader(gpointer opaque)
{
    RaceReader *r = opaque;
    g_autofree uint8_t *got = g_malloc(CLUSTER);
    bool stop = false;
    for (uint64_t c = 0; !stop; c = (c + 1) % (SIZE / CLUSTER)) {
        g_assert_cmpint(bdrv_pread(r->bs, c * CLUSTER, CLUSTER, got), ==, 0);
        bool wrong = memcmp(got, r->want + c * CLUSTER, CLUSTER) != 0;
        g_mutex_lock(&r->lock);
        r->wrong += wrong;
        r->reads++;
        g_cond_broadcast(&r->read_done);
        stop = r->stop;
        g_mutex_unlock(&r->lock);
    }
    return NULL;
}

static void race_wait_read_after(RaceReader *r, int reads)
{
    g_mutex_lock(&r->lock);
    while (r->reads <= reads) {
        g_cond_wait(&r->read_done, &r->lock);
    }
    g_mutex_unlock(&r->lock);
}

static int race_reads(RaceReader *r)
{
    g_mutex_lock(&r->lock);
    int reads = r->reads;
    g_mutex_unlock(&r->lock);
    return reads;
}

static void test_guest_read_racing_backup(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);
    g_autofree uint8_t *disk = original(0, SIZE), *buf = g_malloc(CLUSTER);
    for (int round = 0; round < 4; round++) {
        RaceReader r = {.bs = s.rep, .want = disk};
        g_mutex_init(&r.lock);
        g_cond_init(&r.read_done);
        GThread *t[2] = {g_thread_new("reader", race_reader, &r),
                         g_thread_new("reader", race_reader, &r)};
        race_wait_read_after(&r, 0);
        for (uint64_t c = 0; c < SIZE / CLUSTER; c++) {
            fill(buf, CLUSTER, 100 + round * 20 + (int)c);
            int before = race_reads(&r);
            g_assert_cmpint(bdrv_pwrite(s.parent0, c * CLUSTER, CLUSTER, buf, 0), ==, 0);
            race_wait_read_after(&r, before);
        }
        g_mutex_lock(&r.lock);
        r.stop = true;
        g_mutex_unlock(&r.lock);
        g_thread_join(t[0]);
        g_thread_join(t[1]);
        g_assert_cmpint(r.reads, >, SIZE / CLUSTER);
        g_assert_cmpint(r.wrong, ==, 0);
        g_cond_clear(&r.read_done);
        g_mutex_clear(&r.lock);
        /* The checkpoint shows the NBD side's disk: what the next round's reads must see. */
        replication_do_checkpoint_all(NULL, &err);
        g_assert_no_error(err);
        g_assert_cmpint(bdrv_pread(s.parent0, 0, SIZE, disk), ==, 0);
        assert_reads(s.rep, 0, SIZE, disk);
    }
    close_secondary(&s);
}

static void test_failover_commit(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);

    uint8_t mine[4096], theirs[4096], after[4096];
    fill(mine, sizeof(mine), 50);
    fill(theirs, sizeof(theirs), 60);
    fill(after, sizeof(after), 70);
    /* A checkpointed write of the primary, then the secondary guest's own write, then an
     * uncheckpointed write of the primary over a range the guest reads as original. */
    g_assert_cmpint(bdrv_pwrite(s.parent0, 0, sizeof(theirs), theirs, 0), ==, 0);
    replication_do_checkpoint_all(NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(s.rep, 200000, sizeof(mine), mine, 0), ==, 0);
    g_assert_cmpint(bdrv_pwrite(s.parent0, 500000, sizeof(theirs), theirs, 0), ==, 0);

    g_autofree uint8_t *view = g_malloc(SIZE);
    g_assert_cmpint(bdrv_pread(s.rep, 0, SIZE, view), ==, 0);
    replication_stop_all(true, &err);
    g_assert_no_error(err);
    /* parent0 holds exactly what the secondary saw. */
    assert_reads(s.parent0, 0, SIZE, view);
    assert_reads(s.parent0, 200000, sizeof(mine), mine);
    g_autofree uint8_t *old = original(500000, sizeof(theirs));
    assert_reads(s.parent0, 500000, sizeof(theirs), old);
    /* The node now works on the secondary disk itself, the overlays left the graph. */
    g_assert_true(bdrv_file_child(s.rep) == s.parent0);
    g_assert_null(bdrv_find_node("active"));
    g_assert_cmpint(bdrv_pwrite(s.rep, 700000, sizeof(after), after, 0), ==, 0);
    assert_reads(s.parent0, 700000, sizeof(after), after);
    replication_get_error_all(&err);
    g_assert_no_error(err);
    /* Done: start, checkpoint and stop are ignored, as after upstream's failover. */
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    g_assert_no_error(err);
    replication_do_checkpoint_all(NULL, &err);
    g_assert_no_error(err);
    replication_stop_all(false, &err);
    g_assert_no_error(err);
    close_secondary(&s);
}

/* Writers on both sides at once: two threads write the secondary disk as the NBD server would
 * (random ranges), two write their own region through the node as the secondary guest. The
 * backup must have saved every old byte: afterwards the view is the original disk outside the
 * guest's regions; a checkpoint then shows the NBD side's disk; failover keeps the view. */
#define GUEST_REGION (128 * 1024)

typedef struct Writer {
    BlockDriverState *bs;
    int id;
    int rounds;
} Writer;

static gpointer nbd_writer(gpointer opaque)
{
    Writer *w = opaque;
    GRand *rand = g_rand_new_with_seed(w->id);
    g_autofree uint8_t *buf = g_malloc(2 * CLUSTER);
    for (int i = 0; i < w->rounds; i++) {
        uint64_t len = g_rand_int_range(rand, 1, 2 * CLUSTER / 512) * 512;
        uint64_t off = g_rand_int_range(rand, 0, (SIZE - len) / 512) * 512;
        fill(buf, len, w->id * 1000 + i);
        g_assert_cmpint(bdrv_pwrite(w->bs, off, len, buf, 0), ==, 0);
    }
    g_rand_free(rand);
    return NULL;
}

static gpointer guest_writer(gpointer opaque)
{
    Writer *w = opaque;
    g_autofree uint8_t *buf = g_malloc(GUEST_REGION);
    for (int i = 0; i < w->rounds; i++) {
        fill(buf, GUEST_REGION, w->id * 1000 + i);
        g_assert_cmpint(bdrv_pwrite(w->bs, w->id * GUEST_REGION, GUEST_REGION, buf, 0), ==, 0);
    }
    return NULL;
}

static void test_concurrent_writers(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);
    Writer w[4] = {{s.parent0, 11, 200}, {s.parent0, 12, 200}, {s.rep, 0, 40}, {s.rep, 1, 40}};
    GThread *t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = g_thread_new("writer", i < 2 ? nbd_writer : guest_writer, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(t[i]);
    }
    g_autofree uint8_t *view = g_malloc(SIZE), *want = original(0, SIZE);
    g_assert_cmpint(bdrv_pread(s.rep, 0, SIZE, view), ==, 0);
    for (int g = 0; g < 2; g++) {
        fill(want + g * GUEST_REGION, GUEST_REGION, g * 1000 + w[2 + g].rounds - 1);
    }
    g_assert_cmpmem(view, SIZE, want, SIZE);

    replication_do_checkpoint_all(NULL, &err);
    g_assert_no_error(err);
    g_autofree uint8_t *disk = g_malloc(SIZE);
    g_assert_cmpint(bdrv_pread(s.parent0, 0, SIZE, disk), ==, 0);
    assert_reads(s.rep, 0, SIZE, disk);

    t[0] = g_thread_new("writer", guest_writer, &w[2]);
    t[1] = g_thread_new("writer", nbd_writer, &w[0]);
    g_thread_join(t[0]);
    g_thread_join(t[1]);
    g_assert_cmpint(bdrv_pread(s.rep, 0, SIZE, view), ==, 0);
    replication_stop_all(true, &err);
    g_assert_no_error(err);
    assert_reads(s.parent0, 0, SIZE, view);
    close_secondary(&s);
}

static void expect_error(GError **err, const char *msg)
{
    g_assert_nonnull(*err);
    g_assert_cmpstr((*err)->message, ==, msg);
    g_clear_error(err);
}

static int refuse_write(void *opaque, uint64_t offset, uint64_t bytes)
{
    return -ENOSPC;
}

/* The secondary disk refuses writes during the commit (full): failover-failed, an I/O error;
 * then, as upstream, a write lands on active where the overlays hold its range and on the
 * secondary disk elsewhere. */
static void test_failover_failed(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);
    uint8_t mine[4096], more[4096], plain[4096];
    fill(mine, sizeof(mine), 90);
    fill(more, sizeof(more), 91);
    fill(plain, sizeof(plain), 92);
    g_assert_cmpint(bdrv_pwrite(s.rep, 0, sizeof(mine), mine, 0), ==, 0);
    bdrv_add_before_write(s.parent0, refuse_write, NULL);
    replication_stop_all(true, &err);
    g_assert_nonnull(err);
    g_assert_true(strstr(err->message, "No space left on device"));
    g_clear_error(&err);
    replication_get_error_all(&err);
    expect_error(&err, "I/O error occurred");
    bdrv_remove_before_write(s.parent0, refuse_write, NULL);
    g_autofree uint8_t *old = original(0, sizeof(more));

    g_assert_cmpint(bdrv_pwrite(s.rep, 0, sizeof(more), more, 0), ==, 0);
    assert_reads(s.rep, 0, sizeof(more), more);
    assert_reads(s.parent0, 0, sizeof(more), old); /* held by active: written there */
    g_assert_cmpint(bdrv_pwrite(s.rep, 300000, sizeof(plain), plain, 0), ==, 0);
    assert_reads(s.parent0, 300000, sizeof(plain), plain); /* nobody's: the disk itself */
    g_assert_cmpint(holds("active", 300000), ==, 0);
    assert_reads(s.rep, 300000, sizeof(plain), plain);
    g_assert_cmpint(bdrv_write_zeroes(s.rep, 300000, 512, 0), ==, 0);
    uint8_t zeroes[512] = {0};
    assert_reads(s.parent0, 300000, sizeof(zeroes), zeroes);
    close_secondary(&s);
}

/* The hidden disk refuses the backup's copy (full): the write on parent0 is refused and leaves
 * it as it was; as 7.2, whose backup job runs on, the secondary records no error. */
static void test_backup_copy_refused(void)
{
    GError *err = NULL;
    Secondary s = {0};
    start_secondary(&s);
    BlockDriverState *hidden = bdrv_find_node("hidden");
    uint8_t buf[4096];
    fill(buf, sizeof(buf), 55);
    g_autofree uint8_t *old = original(CLUSTER, sizeof(buf));
    bdrv_add_before_write(hidden, refuse_write, NULL);
    g_assert_cmpint(bdrv_pwrite(s.parent0, CLUSTER, sizeof(buf), buf, 0), ==, -ENOSPC);
    bdrv_remove_before_write(hidden, refuse_write, NULL);
    assert_reads(s.parent0, CLUSTER, sizeof(buf), old);
    replication_get_error_all(&err);
    g_assert_no_error(err);
    replication_do_checkpoint_all(NULL, &err);
    g_assert_no_error(err);
    /* Room again: the copy is made and the write lands. */
    g_assert_cmpint(bdrv_pwrite(s.parent0, CLUSTER, sizeof(buf), buf, 0), ==, 0);
    assert_reads(s.rep, CLUSTER, sizeof(buf), old);
    assert_reads(s.parent0, CLUSTER, sizeof(buf), buf);
    close_secondary(&s);
}

static void test_stage_errors(void)
{
    GError *err = NULL;
    Secondary s = {0};
    fresh_images(SIZE);
    open_secondary(&s);
    replication_get_error_all(&err);
    expect_error(&err, "Block replication is not running");
    replication_do_checkpoint_all(NULL, &err);
    expect_error(&err, "Backup job was cancelled unexpectedly");
    replication_stop_all(false, &err);
    expect_error(&err, "Block replication is not running");
    replication_start_all(REPLICATION_MODE_PRIMARY, &err);
    expect_error(&err, "The parameter mode's value is invalid, needs 1, but got 0");
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    g_assert_no_error(err);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    expect_error(&err, "Block replication is running or done");
    /* 7.2's stop without failover: the backup's end is an I/O error, the checkpoint refused. */
    replication_stop_all(false, &err);
    expect_error(&err, "Backup job was cancelled unexpectedly");
    replication_get_error_all(&err);
    expect_error(&err, "I/O error occurred");
    replication_stop_all(false, &err);
    g_assert_no_error(err);
    close_secondary(&s);
}

static void test_start_checks(void)
{
    GError *err = NULL;
    /* The secondary disk without a backend. */
    Secondary s = {0};
    fresh_images(SIZE);
    open_parent0(&s, false);
    s.rep = open_rep("rep", &err);
    g_assert_no_error(err);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    expect_error(&err, "The secondary disk doesn't have block backend");
    close_secondary(&s);

    /* top-id naming nothing, then a node that is not a root. */
    memset(&s, 0, sizeof(s));
    fresh_images(SIZE);
    open_parent0(&s, true);
    s.rep = open_rep("nope", &err);
    g_assert_no_error(err);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    expect_error(&err, "No top_bs or it is invalid");
    replication_get_error_all(&err);
    expect_error(&err, "Block replication is not running");
    close_secondary(&s);
    memset(&s, 0, sizeof(s));
    open_parent0(&s, true);
    s.rep = open_rep("hidden", &err);
    g_assert_no_error(err);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    expect_error(&err, "No top_bs or it is invalid");
    /* After a refused start the hidden disk is read-only again, as the user opened it. */
    g_assert_true(bdrv_find_node("hidden")->read_only);
    close_secondary(&s);

    /* A hidden disk of another length. */
    memset(&s, 0, sizeof(s));
    fresh_images(2 * SIZE);
    open_parent0(&s, true);
    s.rep = open_rep("rep", &err);
    g_assert_no_error(err);
    replication_start_all(REPLICATION_MODE_SECONDARY, &err);
    expect_error(&err, "Active disk, hidden disk, secondary disk's length are not the same");
    close_secondary(&s);

    /* Chains too short: active straight on parent0, and active with no backing at all. */
    static const char *const backing[] = {"parent0", NULL}; /* NULL: the image names none */
    static const char *const want[] = {"Hidden disk doesn't have backing file",
                                       "Active disk doesn't have backing file"};
    for (guint i = 0; i < G_N_ELEMENTS(backing); i++) {
        memset(&s, 0, sizeof(s));
        fresh_images(SIZE);
        open_parent0(&s, true);
        g_autofree char *active = path("active.qcow2");
        GHashTable *opts = bdrv_opts_new();
        const char *const kv[][2] = {{"driver", "replication"}, {"node-name", "rep"},
                                     {"mode", "secondary"},     {"top-id", "rep"},
                                     {"file.driver", "qcow2"},  {"file.file.driver", "file"}};
        set_opts(opts, kv, G_N_ELEMENTS(kv));
        g_hash_table_insert(opts, g_strdup("file.file.filename"), g_strdup(active));
        if (backing[i]) {
            g_hash_table_insert(opts, g_strdup("file.backing"), g_strdup(backing[i]));
        }
        s.rep = bdrv_open_opts(opts, NULL, &err);
        g_hash_table_unref(opts);
        g_assert_no_error(err);
        replication_start_all(REPLICATION_MODE_SECONDARY, &err);
        expect_error(&err, want[i]);
        close_secondary(&s);
    }
}

static void test_open_errors(void)
{
    static const char *const cases[][3] = {
        {NULL, NULL, "Missing the option mode"},
        {"primary", "x", "The primary side does not support option top-id"},
        {"secondary", NULL, "Missing the option top-id"},
        {"bogus", NULL, "The option mode's value should be primary or secondary"},
    };
    g_autofree char *sec = path("sec.img");
    fresh_images(SIZE);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *err = NULL;
        GHashTable *opts = bdrv_opts_new();
        g_hash_table_insert(opts, g_strdup("driver"), g_strdup("replication"));
        g_hash_table_insert(opts, g_strdup("file.driver"), g_strdup("file"));
        g_hash_table_insert(opts, g_strdup("file.filename"), g_strdup(sec));
        if (cases[i][0]) {
            g_hash_table_insert(opts, g_strdup("mode"), g_strdup(cases[i][0]));
        }
        if (cases[i][1]) {
            g_hash_table_insert(opts, g_strdup("top-id"), g_strdup(cases[i][1]));
        }
        BdrvOpenFlags drive = {.drive_style = true};
        g_assert_null(bdrv_open_opts(opts, &drive, &err));
        g_hash_table_unref(opts);
        expect_error(&err, cases[i][2]);
        g_assert_false(replication_any());
    }
}

static void test_primary_nbd_lost(void)
{
    GError *err = NULL;
    fresh_images(SIZE);
    g_autofree char *sec = path("sec.img");
    g_autofree char *sock = path("nbd.sock");
    GPid pid = qemu_nbd_start(sec, sock, false);
    GHashTable *opts = bdrv_opts_new();
    const char *const kv[][2] = {{"driver", "replication"},    {"node-name", "replication0"},
                                 {"mode", "primary"},          {"file.driver", "nbd"},
                                 {"file.server.type", "unix"}, {"file.export", "disk"}};
    set_opts(opts, kv, G_N_ELEMENTS(kv));
    g_hash_table_insert(opts, g_strdup("file.server.path"), g_strdup(sock));
    BlockDriverState *rep = bdrv_open_opts(opts, NULL, &err);
    g_hash_table_unref(opts);
    g_assert_no_error(err);
    uint8_t buf[4096];
    fill(buf, sizeof(buf), 80);
    /* Not started: refused, as upstream. */
    g_assert_cmpint(bdrv_pwrite(rep, 0, sizeof(buf), buf, 0), ==, -EIO);
    replication_start_all(REPLICATION_MODE_PRIMARY, &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(rep, 8192, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(bdrv_pread(rep, 8192, sizeof(buf), buf), ==, -EIO); /* only forwards */
    g_assert_cmpint(bdrv_flush(rep), ==, 0);
    ReplicationCheckpointStats st = {0};
    replication_do_checkpoint_all(&st, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(st.bytes_written, ==, sizeof(buf));
    replication_get_error_all(&err);
    g_assert_no_error(err);

    qemu_nbd_stop(pid, SIGKILL);
    /* The write fails on the child: recorded, and the guest is told it succeeded. */
    g_assert_cmpint(bdrv_pwrite(rep, 0, sizeof(buf), buf, 0), ==, 0);
    replication_get_error_all(&err);
    expect_error(&err, "I/O error occurred");
    /* Stopping (failover) clears it; the node then refuses I/O. */
    replication_stop_all(true, &err);
    g_assert_no_error(err);
    replication_get_error_all(&err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_pwrite(rep, 0, sizeof(buf), buf, 0), ==, -EIO);
    bdrv_unref(rep);
    unlink(sock);

    g_autofree char *data = NULL;
    gsize n;
    g_assert_true(g_file_get_contents(sec, &data, &n, NULL));
    fill(buf, sizeof(buf), 80);
    g_assert_cmpmem(data + 8192, sizeof(buf), buf, sizeof(buf)); /* the forwarded write */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    bdrv_register_driver(&bdrv_nbd);
    dir = g_dir_make_tmp("replication-XXXXXX", NULL);
    g_test_add_func("/replication/checkpoint-empties-overlays", test_checkpoint_empties_overlays);
    g_test_add_func("/replication/backup-before-nbd-write", test_backup_before_nbd_write);
    g_test_add_func("/replication/digests", test_digests);
    g_test_add_func("/replication/failover-commit", test_failover_commit);
    g_test_add_func("/replication/concurrent-writers", test_concurrent_writers);
    g_test_add_func("/replication/guest-read-racing-backup", test_guest_read_racing_backup);
    g_test_add_func("/replication/failover-failed", test_failover_failed);
    g_test_add_func("/replication/backup-copy-refused", test_backup_copy_refused);
    g_test_add_func("/replication/stage-errors", test_stage_errors);
    g_test_add_func("/replication/start-checks", test_start_checks);
    g_test_add_func("/replication/open-errors", test_open_errors);
    g_test_add_func("/replication/primary-nbd-lost", test_primary_nbd_lost);
    int ret = g_test_run();
    const char *files[] = {"active.qcow2", "hidden.qcow2", "sec.img"};
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = path(files[i]);
        unlink(p);
    }
    rmdir(dir);
    return ret;
}
