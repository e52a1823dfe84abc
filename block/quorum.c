/*
 * The quorum filter driver (include/block/quorum.h has the picture). Requests arrive on a block
 * worker thread; the children of one request run in parallel on quorum's own pool (unbounded,
 * so that a quorum inside a quorum cannot starve), and the worker waits for them all.
 */
#include "block/quorum.h"
#include "block/block-backend.h"
#include "util/error.h"
#include "util/keyval.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct QuorumState {
    /* Readers: requests; writer: x-blockdev-change on the main thread, which so waits for the
     * requests in flight, as upstream drains before changing the graph. */
    GRWLock lock;
    unsigned next_child_index;
    int threshold;
    bool blkverify;
    bool rewrite_corrupted;
    bool fifo;
} QuorumState;

static const char *const quorum_options[] = {"vote-threshold", "blkverify", "rewrite-corrupted",
                                             "read-pattern", NULL};

static void (*event_handler)(const QuorumEvent *ev);

void quorum_set_event_handler(void (*fn)(const QuorumEvent *ev))
{
    event_handler = fn;
}

/* ---- events: built on the worker, delivered on the main context ---- */

static void event_free(QuorumEvent *ev)
{
    g_free(ev->error);
    g_free(ev->node_name);
    g_free(ev);
}

static gboolean deliver_event(gpointer data)
{
    QuorumEvent *ev = data;
    if (ev->kind == QUORUM_EVENT_FAILURE) {
        /* The reference is the device's name when a named backend sits on the quorum: found
         * here, where the graph does not change under us. */
        BlockDriverState *bs = bdrv_find_node(ev->node_name);
        if (bs) {
            char *name = g_strdup(bdrv_get_device_or_node_name(bs));
            g_free(ev->node_name);
            ev->node_name = name;
        }
    }
    if (event_handler) {
        event_handler(ev);
    }
    event_free(ev);
    return G_SOURCE_REMOVE;
}

static void send_event(QuorumEventKind kind, QuorumOp op, int ret, const char *node,
                       uint64_t offset, uint64_t bytes)
{
    QuorumEvent *ev = g_new0(QuorumEvent, 1);
    ev->kind = kind;
    ev->op = op;
    ev->error = ret < 0 ? g_strdup(g_strerror(-ret)) : NULL;
    ev->node_name = g_strdup(node);
    ev->sector_num = offset / BDRV_SECTOR_SIZE;
    ev->sectors_count = (offset + bytes + BDRV_SECTOR_SIZE - 1) / BDRV_SECTOR_SIZE - ev->sector_num;
    /* Always through an idle source: g_main_context_invoke() would run it right here on a
     * worker whenever the main thread does not hold the context at that moment. */
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, deliver_event, ev, NULL);
    g_source_attach(idle, NULL);
    g_source_unref(idle);
}

static void report_bad(QuorumOp op, BdrvChild *c, int ret, uint64_t offset, uint64_t bytes)
{
    send_event(QUORUM_EVENT_REPORT_BAD, op, ret, c->bs->node_name, offset, bytes);
}

/* ---- children in parallel ---- */

typedef enum { CHILD_READ, CHILD_WRITE, CHILD_ZEROES } ChildOp;

typedef struct ChildJob ChildJob;
typedef struct Batch {
    GMutex lock;
    GCond cond;
    int pending;
} Batch;

struct ChildJob {
    Batch *batch;
    BdrvChild *child;
    ChildOp op;
    uint64_t offset, bytes;
    void *buf; /* READ: its own buffer; WRITE: the caller's */
    int flags;
    int ret;
};

static GThreadPool *child_pool;
static GOnce child_pool_once = G_ONCE_INIT;

static void run_job(ChildJob *j)
{
    switch (j->op) {
    case CHILD_READ:
        j->ret = bdrv_pread(j->child->bs, j->offset, j->bytes, j->buf);
        break;
    case CHILD_WRITE:
        j->ret = bdrv_pwrite(j->child->bs, j->offset, j->bytes, j->buf, j->flags);
        break;
    case CHILD_ZEROES:
        j->ret = bdrv_write_zeroes(j->child->bs, j->offset, j->bytes, j->flags);
        break;
    }
}

static void pool_job(gpointer data, gpointer user_data)
{
    ChildJob *j = data;
    run_job(j);
    g_mutex_lock(&j->batch->lock);
    if (--j->batch->pending == 0) {
        g_cond_signal(&j->batch->cond);
    }
    g_mutex_unlock(&j->batch->lock);
}

static gpointer make_pool(gpointer unused)
{
    child_pool = g_thread_pool_new(pool_job, NULL, -1, FALSE, NULL);
    return NULL;
}

/* Runs every job, the first on this thread, and returns when all are done. */
static void run_jobs(ChildJob *jobs, int n)
{
    Batch b;
    g_mutex_init(&b.lock);
    g_cond_init(&b.cond);
    b.pending = n - 1;
    g_once(&child_pool_once, make_pool, NULL);
    for (int i = 0; i < n; i++) {
        jobs[i].batch = &b;
    }
    for (int i = 1; i < n; i++) {
        g_thread_pool_push(child_pool, &jobs[i], NULL);
    }
    run_job(&jobs[0]);
    g_mutex_lock(&b.lock);
    while (b.pending > 0) {
        g_cond_wait(&b.cond, &b.lock);
    }
    g_mutex_unlock(&b.lock);
    g_mutex_clear(&b.lock);
    g_cond_clear(&b.cond);
}

/* ---- voting ---- */

/*
 * The winner among values, as upstream elects it: its list of versions grows at the head, and
 * the first version with a strictly larger count wins, so on a tie the version first seen last
 * wins. votes[i] is child i's version number (-1: no vote); returns the winning version and its
 * count.
 */
static int elect(const int *votes, int n, int *count)
{
    int versions = 0;
    for (int i = 0; i < n; i++) {
        versions = MAX(versions, votes[i] + 1);
    }
    int best = -1, max = 0;
    for (int v = versions - 1; v >= 0; v--) {
        int c = 0;
        for (int i = 0; i < n; i++) {
            c += votes[i] == v;
        }
        if (c > max) {
            max = c;
            best = v;
        }
    }
    *count = max;
    return best;
}

/* The error most children agree on (upstream's error vote). */
static int vote_error(const int *rets, int n)
{
    g_autofree int *votes = g_new(int, n);
    for (int i = 0; i < n; i++) {
        votes[i] = -1;
        if (!rets[i]) {
            continue;
        }
        for (int j = 0; j <= i; j++) {
            if (rets[j] == rets[i]) {
                votes[i] = j;
                break;
            }
        }
    }
    int count, winner = elect(votes, n, &count);
    return winner < 0 ? 0 : rets[winner];
}

/* Children by their order of attachment, under s->lock. */
static int children_of(BlockDriverState *bs, BdrvChild ***out)
{
    *out = (BdrvChild **)bs->children->pdata;
    return bs->children->len;
}

static void report_failure(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    send_event(QUORUM_EVENT_FAILURE, QUORUM_OP_READ, 0, bs->node_name, offset, bytes);
}

/* success below the threshold: QUORUM_FAILURE and the voted error. */
static int check_failed(BlockDriverState *bs, ChildJob *jobs, int n, uint64_t offset,
                        uint64_t bytes, bool *failed)
{
    QuorumState *s = bs->opaque;
    g_autofree int *rets = g_new(int, n);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        rets[i] = jobs[i].ret;
        ok += jobs[i].ret == 0;
    }
    *failed = ok < s->threshold;
    if (*failed) {
        report_failure(bs, offset, bytes);
        return vote_error(rets, n);
    }
    return 0;
}

static int read_fifo(BlockDriverState *bs, BdrvChild **kids, int n, uint64_t offset, uint64_t bytes,
                     void *buf)
{
    int ret = -EIO;
    for (int i = 0; i < n; i++) {
        ret = bdrv_pread(kids[i]->bs, offset, bytes, buf);
        if (ret == 0) {
            break;
        }
        report_bad(QUORUM_OP_READ, kids[i], ret, offset, bytes);
    }
    return ret;
}

static void blkverify_mismatch(ChildJob *a, ChildJob *b)
{
    uint64_t at = 0;
    while (at < a->bytes && ((uint8_t *)a->buf)[at] == ((uint8_t *)b->buf)[at]) {
        at++;
    }
    fprintf(stderr,
            "quorum: offset=%" PRIu64 " bytes=%" PRIu64 " contents mismatch at offset %" PRIu64
            "\n",
            a->offset, a->bytes, a->offset + at);
    exit(1);
}

static int read_quorum(BlockDriverState *bs, BdrvChild **kids, int n, uint64_t offset,
                       uint64_t bytes, void *buf)
{
    QuorumState *s = bs->opaque;
    g_autofree ChildJob *jobs = g_new0(ChildJob, n);
    g_autofree int *votes = g_new(int, n);
    g_autofree int *version = g_new(int, n);
    for (int i = 0; i < n; i++) {
        jobs[i] = (ChildJob){.child = kids[i], .op = CHILD_READ, .offset = offset, .bytes = bytes};
        jobs[i].buf = g_malloc(bytes ? bytes : 1);
    }
    run_jobs(jobs, n);
    for (int i = 0; i < n; i++) {
        if (jobs[i].ret) {
            report_bad(QUORUM_OP_READ, kids[i], jobs[i].ret, offset, bytes);
        }
    }
    bool failed;
    int ret = check_failed(bs, jobs, n, offset, bytes, &failed);
    if (failed) {
        goto out;
    }
    /* Versions: child i votes for the first child with the same bytes. */
    int first = -1;
    bool all_agree = true;
    for (int i = 0; i < n; i++) {
        votes[i] = -1;
        if (jobs[i].ret) {
            continue;
        }
        if (first < 0) {
            first = i;
        }
        for (int j = 0; j <= i; j++) {
            if (!jobs[j].ret && memcmp(jobs[j].buf, jobs[i].buf, bytes) == 0) {
                votes[i] = votes[j] < 0 ? j : votes[j];
                break;
            }
        }
        if (votes[i] != first) {
            if (s->blkverify) {
                blkverify_mismatch(&jobs[first], &jobs[i]);
            }
            all_agree = false;
        }
    }
    if (all_agree) {
        memcpy(buf, jobs[first].buf, bytes);
        goto out;
    }
    /* Renumber versions by first appearance, as upstream's list of hashes sees them. */
    int nversions = 0;
    for (int i = 0; i < n; i++) {
        version[i] = -1;
        if (votes[i] == i) {
            version[i] = nversions++;
        } else if (votes[i] >= 0) {
            version[i] = version[votes[i]];
        }
    }
    int count, winner = elect(version, n, &count);
    if (count < s->threshold) {
        report_failure(bs, offset, bytes);
        ret = -EIO;
        goto out;
    }
    int wi = 0;
    while (version[wi] != winner) {
        wi++;
    }
    memcpy(buf, jobs[wi].buf, bytes);
    for (int i = 0; i < n; i++) {
        if (version[i] >= 0 && version[i] != winner) {
            report_bad(QUORUM_OP_READ, kids[i], 0, offset, bytes);
        }
    }
    if (s->rewrite_corrupted) {
        /* A correction attempt only: its errors are ignored, as upstream's. */
        for (int i = 0; i < n; i++) {
            if (version[i] >= 0 && version[i] != winner) {
                bdrv_pwrite(kids[i]->bs, offset, bytes, buf, 0);
            }
        }
    }
out:
    for (int i = 0; i < n; i++) {
        g_free(jobs[i].buf);
    }
    return ret;
}

static int quorum_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    QuorumState *s = bs->opaque;
    BdrvChild **kids;
    g_rw_lock_reader_lock(&s->lock);
    int n = children_of(bs, &kids);
    int ret = s->fifo ? read_fifo(bs, kids, n, offset, bytes, buf)
                      : read_quorum(bs, kids, n, offset, bytes, buf);
    g_rw_lock_reader_unlock(&s->lock);
    return ret;
}

static int write_all(BlockDriverState *bs, ChildOp op, uint64_t offset, uint64_t bytes,
                     const void *buf, int flags)
{
    QuorumState *s = bs->opaque;
    BdrvChild **kids;
    g_rw_lock_reader_lock(&s->lock);
    int n = children_of(bs, &kids);
    g_autofree ChildJob *jobs = g_new0(ChildJob, n);
    for (int i = 0; i < n; i++) {
        jobs[i] = (ChildJob){.child = kids[i],
                             .op = op,
                             .offset = offset,
                             .bytes = bytes,
                             .buf = (void *)buf,
                             .flags = flags};
    }
    run_jobs(jobs, n);
    for (int i = 0; i < n; i++) {
        if (jobs[i].ret) {
            report_bad(QUORUM_OP_WRITE, kids[i], jobs[i].ret, offset, bytes);
        }
    }
    bool failed;
    int ret = check_failed(bs, jobs, n, offset, bytes, &failed);
    g_rw_lock_reader_unlock(&s->lock);
    return ret;
}

static int quorum_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                         int flags)
{
    return write_all(bs, CHILD_WRITE, offset, bytes, buf, flags);
}

static int quorum_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    return write_all(bs, CHILD_ZEROES, offset, bytes, NULL, flags);
}

static int quorum_flush(BlockDriverState *bs)
{
    QuorumState *s = bs->opaque;
    BdrvChild **kids;
    g_rw_lock_reader_lock(&s->lock);
    int n = children_of(bs, &kids);
    g_autofree int *rets = g_new0(int, n);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        rets[i] = bdrv_flush(kids[i]->bs);
        if (rets[i]) {
            report_bad(QUORUM_OP_FLUSH, kids[i], rets[i], 0, 0);
        } else {
            ok++;
        }
    }
    int ret = ok >= s->threshold ? 0 : vote_error(rets, n);
    g_rw_lock_reader_unlock(&s->lock);
    return ret;
}

static int64_t quorum_getlength(BlockDriverState *bs)
{
    /* Called on workers (request checks) and on the main thread (queries, opening). */
    QuorumState *s = bs->opaque;
    BdrvChild **kids;
    g_rw_lock_reader_lock(&s->lock);
    int n = children_of(bs, &kids);
    int64_t len = n ? bdrv_getlength(kids[0]->bs) : -ENOMEDIUM;
    for (int i = 1; i < n && len >= 0; i++) {
        int64_t l = bdrv_getlength(kids[i]->bs);
        len = l < 0 ? l : (l != len ? -EIO : len);
    }
    g_rw_lock_reader_unlock(&s->lock);
    return len;
}

/* ---- opening, children at run time ---- */

static bool parse_bool(GHashTable *opts, const char *key, bool *out, GError **errp)
{
    const char *v = g_hash_table_lookup(opts, key);
    gboolean b;
    if (v && !keyval_parse_bool(key, v, &b, errp)) {
        return false;
    }
    if (v) {
        *out = b;
    }
    return true;
}

static bool quorum_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    QuorumState *s = bs->opaque;
    g_rw_lock_init(&s->lock);
    int n = bs->children->len;
    if (n < 1) {
        if (bs->drive_style) {
            error_setg(errp, "Number of provided children must be 1 or more");
        } else {
            error_setg(errp, "Parameter 'children' is missing"); /* the schema's check */
        }
        return false;
    }
    const char *t = g_hash_table_lookup(opts, "vote-threshold");
    if (!t && !bs->drive_style) {
        error_setg(errp, "Parameter 'vote-threshold' is missing");
        return false;
    }
    if (t) {
        char *end;
        errno = 0;
        gint64 v = g_ascii_strtoll(t, &end, 0);
        if (!*t || *end || errno || v < G_MININT || v > G_MAXINT) {
            error_setg(errp, "Parameter 'vote-threshold' expects %s",
                       bs->drive_style ? "a number" : "integer");
            return false;
        }
        s->threshold = (int)v;
    }
    if (s->threshold < 1) {
        error_setg(errp, "Parameter 'vote-threshold' expects a value >= 1");
        return false;
    }
    if (s->threshold > n) {
        error_setg(errp, "threshold may not exceed children count");
        return false;
    }
    const char *pattern = g_hash_table_lookup(opts, "read-pattern");
    if (pattern && strcmp(pattern, "fifo") && strcmp(pattern, "quorum")) {
        if (bs->drive_style) {
            error_setg(errp, "Please set read-pattern as fifo or quorum");
        } else {
            error_setg(errp, "Parameter 'read-pattern' does not accept value '%s'", pattern);
        }
        return false;
    }
    s->fifo = pattern && !strcmp(pattern, "fifo");
    bool blkverify = false, rewrite = false;
    if (!parse_bool(opts, "blkverify", &blkverify, errp) ||
        !parse_bool(opts, "rewrite-corrupted", &rewrite, errp)) {
        return false;
    }
    /* Upstream reads these two only for read-pattern=quorum. */
    if (!s->fifo) {
        s->blkverify = blkverify;
        if (s->blkverify && (n != 2 || s->threshold != 2)) {
            error_setg(errp, "blkverify=on can only be set if there are exactly two files and "
                             "vote-threshold is 2");
            return false;
        }
        s->rewrite_corrupted = rewrite;
        if (s->rewrite_corrupted && s->blkverify) {
            error_setg(errp, "rewrite-corrupted=on cannot be used with blkverify=on");
            return false;
        }
    }
    s->next_child_index = n;
    int64_t len = quorum_getlength(bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not refresh total sector count");
        return false;
    }
    return true;
}

static void quorum_close(BlockDriverState *bs)
{
    QuorumState *s = bs->opaque;
    g_rw_lock_clear(&s->lock);
}

static bool quorum_add_child(BlockDriverState *bs, BlockDriverState *child, GError **errp)
{
    QuorumState *s = bs->opaque;
    if (s->blkverify) {
        error_setg(errp, "Cannot add a child to a quorum in blkverify mode");
        return false;
    }
    if (s->next_child_index == G_MAXUINT) {
        error_setg(errp, "Too many children");
        return false;
    }
    g_autofree char *name = g_strdup_printf("children.%u", s->next_child_index);
    g_rw_lock_writer_lock(&s->lock);
    BdrvChild *c = bdrv_attach_child(bs, child, name, errp);
    if (c) {
        s->next_child_index++;
    }
    g_rw_lock_writer_unlock(&s->lock);
    return c != NULL;
}

static bool quorum_del_child(BlockDriverState *bs, BdrvChild *child, GError **errp)
{
    QuorumState *s = bs->opaque;
    if (s->blkverify) {
        error_setg(errp, "Cannot remove a child from a quorum in blkverify mode");
        return false;
    }
    if ((int)bs->children->len <= s->threshold) {
        error_setg(errp, "The number of children cannot be lower than the vote threshold %d",
                   s->threshold);
        return false;
    }
    g_autofree char *last = g_strdup_printf("children.%u", s->next_child_index - 1);
    g_rw_lock_writer_lock(&s->lock);
    if (!strcmp(child->name, last)) {
        s->next_child_index--;
    }
    bdrv_unref_child(bs, child);
    g_rw_lock_writer_unlock(&s->lock);
    return true;
}

const BlockDriver bdrv_quorum = {
    .format_name = "quorum",
    .kind = BLOCK_DRIVER_FILTER,
    .options = quorum_options,
    .indexed_children = "children",
    .state_size = sizeof(QuorumState),
    .open = quorum_open,
    .close = quorum_close,
    .pread = quorum_pread,
    .pwrite = quorum_pwrite,
    .write_zeroes = quorum_write_zeroes,
    .flush = quorum_flush,
    .getlength = quorum_getlength,
    .add_child = quorum_add_child,
    .del_child = quorum_del_child,
};
