/*
 * The replication filter driver (include/block/replication.h has the picture and the stages).
 *
 * Requests run on the block workers under the node's io_lock as readers; start, checkpoint and
 * stop change the overlays or the graph on the main thread as its writer, so no guest request
 * sees an overlay half emptied. The secondary's backup runs in the NBD server's writes to the
 * secondary disk (a before-write hook), under backup_lock, which a checkpoint also takes.
 */
#include "block/replication.h"
#include "block/block-backend.h"
#include "block/qcow2-format.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

typedef enum {
    STAGE_NONE,            /* not started */
    STAGE_RUNNING,         /* started */
    STAGE_FAILOVER,        /* secondary: committing the overlays into the secondary disk */
    STAGE_FAILOVER_FAILED, /* secondary: that commit failed */
    STAGE_DONE,            /* stopped; a secondary reads and writes its former secondary disk */
} ReplicationStage;

/* The backup copies the secondary disk's old data in clusters of this size. */
#define BACKUP_CLUSTER (64 * 1024)

typedef struct ReplicationNode {
    BlockDriverState *bs;
    ReplicationMode mode;
    int stage; /* ReplicationStage; read by workers */
    char *top_id;
    GRWLock io_lock;
    int error;              /* -errno recorded on the primary's child, or of the backup; atomic */
    uint64_t bytes_written; /* since the last checkpoint; atomic */

    /* Secondary, while started: edges to the overlays' lower layers (upstream's children). */
    BdrvChild *hidden_disk, *secondary_disk;
    bool orig_hidden_read_only, orig_secondary_read_only;
    bool backup_running;
    GMutex backup_lock;
    uint8_t *copied;     /* bitmap of BACKUP_CLUSTERs saved in hidden since the last checkpoint */
    uint64_t copied_len; /* the secondary disk's length */
    size_t copied_size;  /* bytes of the bitmap */
} ReplicationNode;

static const char *const replication_options[] = {"mode", "top-id", NULL};
static const char *const replication_children[] = {"file", NULL};

static GPtrArray *replication_nodes; /* ReplicationNode*, main thread */

static int stage_get(ReplicationNode *s)
{
    return g_atomic_int_get(&s->stage);
}

static void stage_set(ReplicationNode *s, ReplicationStage stage)
{
    g_atomic_int_set(&s->stage, stage);
}

/* ---- open and close ---- */

/* BlockdevOptionsReplication: mode is a required ReplicationMode. */
static bool replication_check_schema(GHashTable *opts, GError **errp)
{
    const char *mode = g_hash_table_lookup(opts, "mode");
    if (!mode) {
        error_set_missing_param(errp, "mode");
        return false;
    }
    if (strcmp(mode, "primary") && strcmp(mode, "secondary")) {
        error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode);
        return false;
    }
    return true;
}

static bool replication_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    ReplicationNode *s = bs->opaque;
    s->bs = bs;
    g_rw_lock_init(&s->io_lock);
    g_mutex_init(&s->backup_lock);
    const char *mode = g_hash_table_lookup(opts, "mode");
    const char *top_id = g_hash_table_lookup(opts, "top-id");
    if (!bs->drive_style && !replication_check_schema(opts, errp)) {
        return false;
    }
    if (!mode) {
        error_setg(errp, "Missing the option mode");
        return false;
    }
    if (strcmp(mode, "primary") == 0) {
        s->mode = REPLICATION_MODE_PRIMARY;
        if (top_id) {
            error_setg(errp, "The primary side does not support option top-id");
            return false;
        }
    } else if (strcmp(mode, "secondary") == 0) {
        s->mode = REPLICATION_MODE_SECONDARY;
        if (!top_id) {
            error_setg(errp, "Missing the option top-id");
            return false;
        }
        s->top_id = g_strdup(top_id);
    } else {
        error_setg(errp, "The option mode's value should be primary or secondary");
        return false;
    }
    if (!replication_nodes) {
        replication_nodes = g_ptr_array_new();
    }
    g_ptr_array_add(replication_nodes, s);
    return true;
}

static void replication_stop(ReplicationNode *s, bool failover, GError **errp);

static void replication_close(BlockDriverState *bs)
{
    ReplicationNode *s = bs->opaque;
    if (!s->bs) {
        return; /* open failed before anything was set up */
    }
    if (stage_get(s) == STAGE_RUNNING) {
        replication_stop(s, false, NULL);
    }
    if (replication_nodes) {
        g_ptr_array_remove(replication_nodes, s);
    }
    g_free(s->top_id);
    g_free(s->copied);
    g_rw_lock_clear(&s->io_lock);
    g_mutex_clear(&s->backup_lock);
}

/* Upstream's replication_child_perm: the node lets anyone read and write below it (the NBD
 * server writes the secondary disk, the backup the hidden one); it writes when writable. */
static void replication_child_perm(BlockDriverState *bs, const char *role, uint64_t perm,
                                   uint64_t shared, uint64_t *nperm, uint64_t *nshared)
{
    *nperm = strcmp(role, "file") == 0 ? BLK_PERM_CONSISTENT_READ : 0;
    if (!bs->read_only) {
        *nperm |= BLK_PERM_WRITE;
    }
    *nshared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED;
}

/* ---- requests ---- */

/* Whether a request may go on in this stage: 0 yes, -EIO no (upstream's io status). */
static int io_status(ReplicationNode *s)
{
    switch (stage_get(s)) {
    case STAGE_RUNNING:
        return 0;
    case STAGE_NONE:
        return -EIO;
    default:
        return s->mode == REPLICATION_MODE_PRIMARY ? -EIO : 0;
    }
}

/* The primary never fails the guest for its replica: the error is kept for
 * replication_get_error_all(). */
static int io_result(ReplicationNode *s, int ret)
{
    if (s->mode == REPLICATION_MODE_PRIMARY && ret < 0) {
        g_atomic_int_set(&s->error, ret);
        return 0;
    }
    return ret;
}

static int replication_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    ReplicationNode *s = bs->opaque;
    if (s->mode == REPLICATION_MODE_PRIMARY) {
        return -EIO; /* the node only forwards the primary's writes */
    }
    g_rw_lock_reader_lock(&s->io_lock);
    int ret = io_status(s);
    if (ret == 0) {
        ret = bdrv_pread(bdrv_file_child(bs), offset, bytes, buf);
    }
    g_rw_lock_reader_unlock(&s->io_lock);
    return ret;
}

/* Whether [offset, offset + *pnum) is held by the qcow2 overlay bs (1) or read from below
 * (0); any other driver holds everything. */
static int overlay_status(BlockDriverState *bs, uint64_t offset, uint64_t len, uint64_t *pnum)
{
    Qcow2Image *img = bdrv_qcow2_image(bs);
    if (!img) {
        *pnum = len;
        return 1;
    }
    int ret = qcow2_block_status(img, offset, len, pnum);
    return ret < 0 ? ret : ret != QCOW2_STATUS_UNALLOCATED;
}

/* Whether active or hidden holds [offset, offset + *pnum) (1) or neither does (0): the
 * longest run from offset (at most len) over which the answer holds; or -errno. */
static int overlays_hold(ReplicationNode *s, uint64_t offset, uint64_t len, uint64_t *pnum)
{
    uint64_t n_active, n_hidden;
    int a = overlay_status(bdrv_file_child(s->bs), offset, len, &n_active);
    int h = a < 0 ? a : overlay_status(s->hidden_disk->bs, offset, len, &n_hidden);
    if (a < 0 || h < 0) {
        return a < 0 ? a : h;
    }
    *pnum = MIN(n_active, n_hidden);
    return *pnum ? a || h : -EIO;
}

/* After a failed failover, upstream's rule: a range the overlays hold is written to active,
 * any other straight to the secondary disk (part of the commit may have reached it). */
static int write_after_failed_failover(ReplicationNode *s, uint64_t offset, uint64_t bytes,
                                       const void *buf, int flags)
{
    g_autofree uint8_t *zeroes = buf ? NULL : g_malloc0(bytes);
    const uint8_t *data = buf ? buf : zeroes;
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n;
        int held = overlays_hold(s, offset + done, bytes - done, &n);
        if (held < 0) {
            return held;
        }
        BlockDriverState *target = held ? bdrv_file_child(s->bs) : s->secondary_disk->bs;
        int ret = bdrv_pwrite(target, offset + done, n, data + done, flags & BDRV_REQ_FUA);
        if (ret < 0) {
            return ret;
        }
        done += n;
    }
    return 0;
}

typedef enum { OP_WRITE, OP_ZEROES, OP_DISCARD, OP_FLUSH } ReplicationOp;

static int forward(BlockDriverState *bs, ReplicationOp op, uint64_t offset, uint64_t bytes,
                   const void *buf, int flags)
{
    ReplicationNode *s = bs->opaque;
    g_rw_lock_reader_lock(&s->io_lock);
    int ret = io_status(s);
    bool failed_over =
        s->mode == REPLICATION_MODE_SECONDARY && stage_get(s) == STAGE_FAILOVER_FAILED;
    if (ret == 0 && failed_over && op != OP_FLUSH) {
        /* Zeroes are written as such, discards dropped (upstream's node has neither). */
        ret = op == OP_DISCARD ? 0 : write_after_failed_failover(s, offset, bytes, buf, flags);
    } else if (ret == 0) {
        BlockDriverState *file = bdrv_file_child(bs);
        switch (op) {
        case OP_WRITE:
            ret = bdrv_pwrite(file, offset, bytes, buf, flags);
            break;
        case OP_ZEROES:
            ret = bdrv_write_zeroes(file, offset, bytes, flags);
            break;
        case OP_DISCARD:
            ret = bdrv_discard(file, offset, bytes);
            break;
        case OP_FLUSH:
            ret = bdrv_flush(file);
            break;
        }
        if (ret == 0 && op != OP_FLUSH) {
            __atomic_fetch_add(&s->bytes_written, bytes, __ATOMIC_RELAXED);
        }
        ret = io_result(s, ret);
    }
    g_rw_lock_reader_unlock(&s->io_lock);
    return ret;
}

static int replication_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                              const void *buf, int flags)
{
    return forward(bs, OP_WRITE, offset, bytes, buf, flags);
}

static int replication_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                                    int flags)
{
    return forward(bs, OP_ZEROES, offset, bytes, NULL, flags);
}

static int replication_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    return forward(bs, OP_DISCARD, offset, bytes, NULL, 0);
}

static int replication_flush(BlockDriverState *bs)
{
    ReplicationNode *s = bs->opaque;
    if (io_status(s) < 0) {
        return 0; /* nothing was written through a stopped node */
    }
    return forward(bs, OP_FLUSH, 0, 0, NULL, 0);
}

static int64_t replication_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bdrv_file_child(bs));
}

/* ---- the secondary's sync=none backup: secondary disk -> hidden disk ---- */

/* Before the NBD server writes the secondary disk: its old data for the clusters touched,
 * unless saved already since the last checkpoint, goes into the hidden disk first. */
static int backup_before_write(void *opaque, uint64_t offset, uint64_t bytes)
{
    ReplicationNode *s = opaque;
    int ret = 0;
    g_mutex_lock(&s->backup_lock);
    if (!s->backup_running) {
        g_mutex_unlock(&s->backup_lock);
        return 0;
    }
    BlockDriverState *disk = s->secondary_disk->bs, *hidden = s->hidden_disk->bs;
    g_autofree uint8_t *buf = g_malloc(BACKUP_CLUSTER);
    uint64_t end = MIN(offset + bytes, s->copied_len);
    for (uint64_t c = offset / BACKUP_CLUSTER; c * BACKUP_CLUSTER < end; c++) {
        if (s->copied[c / 8] & (1u << (c % 8))) {
            continue;
        }
        uint64_t pos = c * BACKUP_CLUSTER, n = MIN(BACKUP_CLUSTER, s->copied_len - pos);
        ret = bdrv_pread(disk, pos, n, buf);
        if (ret == 0) {
            ret = bdrv_pwrite(hidden, pos, n, buf, 0);
        }
        if (ret < 0) {
            /* The write is refused, so that the secondary disk keeps what the hidden one
             * lacks; as 7.2's copy-before-write filter, whose backup job runs on: the
             * secondary records nothing, the primary's node the refused write. */
            break;
        }
        s->copied[c / 8] |= 1u << (c % 8);
    }
    if (ret == 0) {
        __atomic_fetch_add(&s->bytes_written, bytes, __ATOMIC_RELAXED);
    }
    g_mutex_unlock(&s->backup_lock);
    return ret;
}

static void backup_start(ReplicationNode *s, uint64_t length)
{
    g_mutex_lock(&s->backup_lock);
    s->copied_len = length;
    uint64_t clusters = (length + BACKUP_CLUSTER - 1) / BACKUP_CLUSTER;
    g_free(s->copied);
    s->copied_size = (clusters + 7) / 8;
    s->copied = g_malloc0(s->copied_size);
    s->backup_running = true;
    g_mutex_unlock(&s->backup_lock);
    bdrv_add_before_write(s->secondary_disk->bs, backup_before_write, s);
}

static void backup_cancel(ReplicationNode *s)
{
    if (!s->backup_running) {
        return;
    }
    /* Returns once no hook call is in progress: no write is left half-saved. */
    bdrv_remove_before_write(s->secondary_disk->bs, backup_before_write, s);
    g_mutex_lock(&s->backup_lock);
    s->backup_running = false;
    g_mutex_unlock(&s->backup_lock);
}

/* ---- start, checkpoint, stop ---- */

static bool make_empty(BlockDriverState *bs, GError **errp)
{
    int ret = bdrv_make_empty(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to empty %s", bdrv_filename(bs));
        return false;
    }
    return true;
}

/* Active and hidden read as the secondary disk again, the backup starts over. The caller
 * holds io_lock as writer. */
static void secondary_do_checkpoint(ReplicationNode *s, ReplicationCheckpointStats *st,
                                    GError **errp)
{
    if (!s->backup_running) {
        error_setg(errp, "Backup job was cancelled unexpectedly");
        return;
    }
    g_mutex_lock(&s->backup_lock);
    gint64 t0 = g_get_monotonic_time();
    bool ok = make_empty(bdrv_file_child(s->bs), errp) && make_empty(s->hidden_disk->bs, errp);
    if (ok) {
        memset(s->copied, 0, s->copied_size);
    }
    if (st) {
        st->empty_ns += (uint64_t)(g_get_monotonic_time() - t0) * 1000;
    }
    g_mutex_unlock(&s->backup_lock);
}

static bool has_backend(BlockDriverState *bs)
{
    g_autoptr(GPtrArray) all = blk_all();
    for (guint i = 0; i < all->len; i++) {
        if (blk_bs(all->pdata[i]) == bs) {
            return true;
        }
    }
    return false;
}

/* Whether bs is top or below it. */
static bool below(BlockDriverState *top, BlockDriverState *bs)
{
    if (top == bs) {
        return true;
    }
    for (guint i = 0; i < top->children->len; i++) {
        BdrvChild *c = top->children->pdata[i];
        if (below(c->bs, bs)) {
            return true;
        }
    }
    return false;
}

static BlockDriverState *find_top(const char *id)
{
    BlockBackend *blk = blk_by_name(id);
    BlockDriverState *top = blk ? blk_bs(blk) : bdrv_find_node(id);
    /* A root: nothing in the graph above it. */
    return top && top->parents->len == 0 ? top : NULL;
}

/* Undoes a start: the edges to hidden and disk go, and both return to the modes the user
 * opened them in (best effort, as upstream). */
static void secondary_release(ReplicationNode *s, BlockDriverState *hidden, BlockDriverState *disk)
{
    bdrv_ref(hidden);
    bdrv_ref(disk);
    if (s->secondary_disk) {
        bdrv_unref_child(s->bs, s->secondary_disk);
        s->secondary_disk = NULL;
    }
    if (s->hidden_disk) {
        bdrv_unref_child(s->bs, s->hidden_disk);
        s->hidden_disk = NULL;
    }
    if (s->orig_hidden_read_only) {
        bdrv_reopen_writable(hidden, false, NULL);
    }
    if (s->orig_secondary_read_only) {
        bdrv_reopen_writable(disk, false, NULL);
    }
    bdrv_unref(hidden);
    bdrv_unref(disk);
}

static void secondary_start(ReplicationNode *s, GError **errp)
{
    BlockDriverState *bs = s->bs;
    BlockDriverState *active = bdrv_file_child(bs);
    BlockDriverState *hidden = active ? bdrv_backing_child(active) : NULL;
    if (!hidden) {
        error_setg(errp, "Active disk doesn't have backing file");
        return;
    }
    BlockDriverState *disk = bdrv_backing_child(hidden);
    if (!disk) {
        error_setg(errp, "Hidden disk doesn't have backing file");
        return;
    }
    if (!has_backend(disk)) {
        error_setg(errp, "The secondary disk doesn't have block backend");
        return;
    }
    int64_t active_len = bdrv_getlength(active), hidden_len = bdrv_getlength(hidden);
    int64_t disk_len = bdrv_getlength(disk);
    if (active_len < 0 || hidden_len < 0 || disk_len < 0 || active_len != hidden_len ||
        hidden_len != disk_len) {
        error_setg(errp, "Active disk, hidden disk, secondary disk's length are not the same");
        return;
    }
    if (!active->drv->make_empty || !hidden->drv->make_empty) {
        error_setg(errp, "Active disk or hidden disk doesn't support make_empty");
        return;
    }
    s->orig_hidden_read_only = hidden->read_only;
    s->orig_secondary_read_only = disk->read_only;
    if (!bdrv_reopen_writable(hidden, true, errp) || !bdrv_reopen_writable(disk, true, errp)) {
        secondary_release(s, hidden, disk);
        return;
    }
    s->hidden_disk = bdrv_attach_child(bs, hidden, "hidden disk", errp);
    if (!s->hidden_disk) {
        secondary_release(s, hidden, disk);
        return;
    }
    s->secondary_disk = bdrv_attach_child(bs, disk, "secondary disk", errp);
    if (!s->secondary_disk) {
        secondary_release(s, hidden, disk);
        return;
    }
    BlockDriverState *top = find_top(s->top_id);
    if (!top || !below(top, bs)) {
        error_setg(errp, "No top_bs or it is invalid");
        secondary_release(s, hidden, disk);
        return;
    }
    backup_start(s, (uint64_t)disk_len);
}

static void replication_start(ReplicationNode *s, ReplicationMode mode, GError **errp)
{
    int stage = stage_get(s);
    if (stage == STAGE_DONE || stage == STAGE_FAILOVER) {
        return; /* a secondary promoted to primary has nothing left to do */
    }
    if (stage != STAGE_NONE) {
        error_setg(errp, "Block replication is running or done");
        return;
    }
    if (s->mode != mode) {
        error_setg(errp, "The parameter mode's value is invalid, needs %d, but got %d", s->mode,
                   mode);
        return;
    }
    g_rw_lock_writer_lock(&s->io_lock);
    GError *err = NULL;
    if (s->mode == REPLICATION_MODE_SECONDARY) {
        secondary_start(s, &err);
    }
    if (!err) {
        stage_set(s, STAGE_RUNNING);
        if (s->mode == REPLICATION_MODE_SECONDARY) {
            secondary_do_checkpoint(s, NULL, &err);
        }
        g_atomic_int_set(&s->error, 0);
        __atomic_store_n(&s->bytes_written, 0, __ATOMIC_RELAXED);
    }
    g_rw_lock_writer_unlock(&s->io_lock);
    if (err) {
        g_propagate_error(errp, err);
    }
}

static void replication_do_checkpoint(ReplicationNode *s, ReplicationCheckpointStats *st,
                                      GError **errp)
{
    int stage = stage_get(s);
    if (stage == STAGE_DONE || stage == STAGE_FAILOVER) {
        return;
    }
    if (st) {
        st->bytes_written += __atomic_exchange_n(&s->bytes_written, 0, __ATOMIC_RELAXED);
    }
    if (s->mode == REPLICATION_MODE_SECONDARY) {
        g_rw_lock_writer_lock(&s->io_lock);
        secondary_do_checkpoint(s, st, errp);
        g_rw_lock_writer_unlock(&s->io_lock);
    }
}

static void replication_get_error(ReplicationNode *s, GError **errp)
{
    if (stage_get(s) == STAGE_NONE) {
        error_setg(errp, "Block replication is not running");
        return;
    }
    if (g_atomic_int_get(&s->error)) {
        error_setg(errp, "I/O error occurred");
    }
}

/* Upstream's active commit: whatever active or hidden holds is written into the secondary
 * disk as the secondary guest reads it (through active). The caller holds io_lock. */
static int commit_overlays(ReplicationNode *s)
{
    BlockDriverState *active = bdrv_file_child(s->bs), *disk = s->secondary_disk->bs;
    int64_t len = bdrv_getlength(active);
    if (len < 0) {
        return (int)len;
    }
    const uint64_t chunk = 1 << 20;
    g_autofree uint8_t *buf = g_malloc(chunk);
    for (uint64_t off = 0; off < (uint64_t)len;) {
        uint64_t n;
        int held = overlays_hold(s, off, MIN(chunk, (uint64_t)len - off), &n);
        if (held < 0) {
            return held;
        }
        if (held) {
            int ret = bdrv_pread(active, off, n, buf);
            if (ret == 0) {
                ret = bdrv_pwrite(disk, off, n, buf, 0);
            }
            if (ret < 0) {
                return ret;
            }
        }
        off += n;
    }
    return bdrv_flush(disk);
}

/* After the commit: the node's file is the secondary disk itself, the overlays leave the
 * graph (upstream swaps them out when its commit job completes). */
static void swap_in_secondary_disk(ReplicationNode *s)
{
    BdrvChild *old_file = bdrv_child(s->bs, "file");
    BdrvChild *disk = s->secondary_disk;
    s->secondary_disk = NULL;
    g_free(disk->name);
    disk->name = g_strdup("file");
    bdrv_unref_child(s->bs, old_file);
    bdrv_unref_child(s->bs, s->hidden_disk);
    s->hidden_disk = NULL;
    bdrv_refresh_perms(s->bs, NULL);
}

static void replication_stop(ReplicationNode *s, bool failover, GError **errp)
{
    int stage = stage_get(s);
    if (stage == STAGE_DONE || stage == STAGE_FAILOVER) {
        return;
    }
    if (stage != STAGE_RUNNING) {
        error_setg(errp, "Block replication is not running");
        return;
    }
    if (s->mode == REPLICATION_MODE_PRIMARY) {
        stage_set(s, STAGE_DONE);
        g_atomic_int_set(&s->error, 0);
        return;
    }
    g_rw_lock_writer_lock(&s->io_lock);
    backup_cancel(s);
    if (!failover) {
        /* 7.2 cancels the backup before its checkpoint: the backup's end counts as an I/O
         * error and the checkpoint is refused, leaving the overlays as they are. */
        g_atomic_int_set(&s->error, -EIO);
        secondary_do_checkpoint(s, NULL, errp);
        secondary_release(s, s->hidden_disk->bs, s->secondary_disk->bs);
        stage_set(s, STAGE_DONE);
        g_rw_lock_writer_unlock(&s->io_lock);
        return;
    }
    stage_set(s, STAGE_FAILOVER);
    int ret = commit_overlays(s);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to commit the active disk into the secondary disk");
        g_atomic_int_set(&s->error, -EIO);
        stage_set(s, STAGE_FAILOVER_FAILED);
    } else {
        swap_in_secondary_disk(s);
        g_atomic_int_set(&s->error, 0);
        stage_set(s, STAGE_DONE);
    }
    g_rw_lock_writer_unlock(&s->io_lock);
}

/* ---- every node at once ---- */

/* What each API call does to one node. */
typedef struct NodeCall {
    enum { CALL_START, CALL_CHECKPOINT, CALL_GET_ERROR, CALL_STOP } what;
    ReplicationMode mode;
    ReplicationCheckpointStats *st;
    bool failover;
} NodeCall;

/* Calls every node in turn until one fails, as upstream's replication_*_all(). The nodes are
 * held for the walk: a stop may drop nodes from the graph. */
static void for_each_node(const NodeCall *call, GError **errp)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func((GDestroyNotify)bdrv_unref);
    for (guint i = 0; replication_nodes && i < replication_nodes->len; i++) {
        ReplicationNode *s = replication_nodes->pdata[i];
        bdrv_ref(s->bs);
        g_ptr_array_add(all, s->bs);
    }
    GError *err = NULL;
    for (guint i = 0; i < all->len && !err; i++) {
        ReplicationNode *s = ((BlockDriverState *)all->pdata[i])->opaque;
        switch (call->what) {
        case CALL_START:
            replication_start(s, call->mode, &err);
            break;
        case CALL_CHECKPOINT:
            replication_do_checkpoint(s, call->st, &err);
            break;
        case CALL_GET_ERROR:
            replication_get_error(s, &err);
            break;
        case CALL_STOP:
            replication_stop(s, call->failover, &err);
            break;
        }
    }
    if (err) {
        g_propagate_error(errp, err);
    }
}

void replication_start_all(ReplicationMode mode, GError **errp)
{
    for_each_node(&(NodeCall){.what = CALL_START, .mode = mode}, errp);
}

void replication_do_checkpoint_all(ReplicationCheckpointStats *st, GError **errp)
{
    for_each_node(&(NodeCall){.what = CALL_CHECKPOINT, .st = st}, errp);
}

void replication_get_error_all(GError **errp)
{
    for_each_node(&(NodeCall){.what = CALL_GET_ERROR}, errp);
}

void replication_stop_all(bool failover, GError **errp)
{
    for_each_node(&(NodeCall){.what = CALL_STOP, .failover = failover}, errp);
}

bool replication_any(void)
{
    return replication_nodes && replication_nodes->len > 0;
}

/* ---- digests (x-colo-disk-digests) ---- */

void replication_digest_free(ReplicationDigest *d)
{
    if (d) {
        g_free(d->device);
        g_array_unref(d->crc);
        g_free(d->error);
        g_free(d);
    }
}

/* The node the guest's device reads: the root of the graph above bs. */
static BlockDriverState *guest_root(BlockDriverState *bs)
{
    while (bs->parents->len) {
        bs = ((BdrvChild *)bs->parents->pdata[0])->parent;
    }
    return bs;
}

/* CRC-32 rather than a cryptographic hash: it is read while the VMs stand still, and a
 * SHA-256 of 16 MiB took 0.3-1.2 s on the loaded test host. */
static void digest_of(BlockDriverState *bs, ReplicationDigest *d)
{
    int64_t len = bdrv_getlength(bs);
    if (len < 0) {
        d->error = g_strdup(g_strerror((int)-len));
        return;
    }
    g_autofree uint8_t *buf = g_malloc(REPLICATION_DIGEST_CHUNK);
    for (uint64_t off = 0; off < (uint64_t)len;) {
        uint64_t n = MIN(REPLICATION_DIGEST_CHUNK, (uint64_t)len - off);
        int ret = bdrv_pread(bs, off, n, buf);
        if (ret < 0) {
            d->error = g_strdup_printf("offset %" G_GUINT64_FORMAT ": %s", off, g_strerror(-ret));
            g_array_set_size(d->crc, 0);
            return;
        }
        guint32 v = crc32(0, buf, n);
        g_array_append_val(d->crc, v);
        off += n;
    }
}

GPtrArray *replication_digest_all(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)replication_digest_free);
    for (guint i = 0; replication_nodes && i < replication_nodes->len; i++) {
        ReplicationNode *s = replication_nodes->pdata[i];
        if (stage_get(s) != STAGE_RUNNING) {
            continue;
        }
        BlockDriverState *root = guest_root(s->bs);
        const char *name = blk_name_of_root(root);
        ReplicationDigest *d = g_new0(ReplicationDigest, 1);
        d->device = g_strdup(*name ? name : root->node_name);
        d->crc = g_array_new(FALSE, FALSE, sizeof(guint32));
        digest_of(root, d);
        g_ptr_array_add(out, d);
    }
    return out;
}

const BlockDriver bdrv_replication = {
    .format_name = "replication",
    .kind = BLOCK_DRIVER_FILTER,
    .options = replication_options,
    .children = replication_children,
    .required_child = "file",
    .state_size = sizeof(ReplicationNode),
    .open = replication_open,
    .close = replication_close,
    .child_perm = replication_child_perm,
    .check_schema = replication_check_schema,
    .pread = replication_pread,
    .pwrite = replication_pwrite,
    .flush = replication_flush,
    .discard = replication_discard,
    .write_zeroes = replication_write_zeroes,
    .getlength = replication_getlength,
};
