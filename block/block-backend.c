/* BlockBackend: named handles for devices, asynchronous requests on a worker pool, drain
 * (include/block/block-backend.h). */
#include "block/block-backend.h"
#include "util/error.h"
#include "util/iov.h"

#include <errno.h>
#include <string.h>

#define WORKERS_MAX 16
/* How long a worker keeps trying a busy completion lock before handing the completion to the
 * context (see lock_completion). */
#define COMPLETION_SPIN_US 50

typedef enum {
    REQ_READ,
    REQ_WRITE,
    REQ_FLUSH,
    REQ_DISCARD,
    REQ_WRITE_ZEROES,
} ReqOp;

typedef struct BlkRequest {
    BlockBackend *blk;
    BlockDriverState *bs; /* the root when submitted; ref held until completion */
    ReqOp op;
    uint64_t offset, bytes;
    void *buf;
    struct iovec *iov; /* instead of buf, owned */
    int iovcnt;
    int flags;
    bool writethrough;
    BlockCompletionFunc *cb;
    void *opaque;
    int ret;
} BlkRequest;

struct BlockBackend {
    char *name; /* "" when anonymous */
    BlockDriverState *root;
    GMainContext *ctx;
    uint64_t perm, shared;
    char *dev;
    const BlockDevOps *dev_ops;
    void *dev_opaque;
    bool wce;
    bool root_read_only; /* the last medium's, for blockdev-change-medium's "retain" */
    bool iostatus_off;   /* its -drive was deleted under the device, or a device without it */
    BlockInterfaceType if_type;
    int bus, unit;
    bool cdrom;
    gint in_flight;                             /* atomic: submitted, callback not yet run */
    GQueue done;                                /* completed requests, under done_lock */
    GSource *wakeup;                            /* pending idle source on ctx, under done_lock */
    const BlockCompletionLock *completion_lock; /* atomic pointer */
    BlockAcctStats stats;
};

static GPtrArray *backends; /* every backend, named or not */
static GThreadPool *pool;
static GMutex done_lock;
static GCond done_cond;

BlockBackend *blk_new(const char *name, GMainContext *ctx)
{
    BlockBackend *blk = g_new0(BlockBackend, 1);
    blk->name = g_strdup(name ? name : "");
    blk->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
    blk->shared = BLK_PERM_ALL;
    blk->wce = true;
    g_queue_init(&blk->done);
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, blk);
    return blk;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    blk_remove_bs(blk);
    g_mutex_lock(&done_lock);
    if (blk->wakeup) {
        g_source_destroy(blk->wakeup);
        g_source_unref(blk->wakeup);
        blk->wakeup = NULL;
    }
    g_mutex_unlock(&done_lock);
    g_ptr_array_remove(backends, blk);
    g_main_context_unref(blk->ctx);
    g_free(blk->dev);
    g_free(blk->name);
    g_free(blk);
}

BlockBackend *blk_by_name(const char *name)
{
    for (guint i = 0; backends && name && *name && i < backends->len; i++) {
        BlockBackend *blk = backends->pdata[i];
        if (strcmp(blk->name, name) == 0) {
            return blk;
        }
    }
    return NULL;
}

GPtrArray *blk_all(void)
{
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *blk = backends->pdata[i];
        /* Upstream's monitor list: named backends, and anonymous ones a device uses. */
        if (*blk->name || blk->dev) {
            g_ptr_array_add(out, blk);
        }
    }
    return out;
}

void blk_drive_deleted(BlockBackend *blk)
{
    g_free(blk->name);
    blk->name = g_strdup("");
    blk->iostatus_off = true;
}

void blk_iostatus_disable(BlockBackend *blk)
{
    blk->iostatus_off = true;
}

bool blk_iostatus_enabled(BlockBackend *blk)
{
    return blk->dev && !blk->iostatus_off;
}

const char *blk_name(BlockBackend *blk)
{
    return blk->name;
}

/* Upstream's words for a backend as a parent of its root. */
static char *backend_desc(BlockBackend *blk)
{
    return *blk->name ? g_strdup_printf("block device '%s'", blk->name)
                      : g_strdup("an unnamed block device");
}

/* A backend on a root respects what a device's backend there does not share (a writable NBD
 * export of a disk a device uses, say), in upstream's words; the newest is the one refused.
 * Only devices' backends are checked: the block layer's own (a mirror's, which hands its
 * target over after a cancel) keep their old, looser arrangement. */
static bool backends_compatible(BlockDriverState *root, GError **errp)
{
    static const char *const names[] = {"consistent read", "write", "write unchanged", "resize"};
    for (guint i = backends->len; i-- > 0;) {
        BlockBackend *a = backends->pdata[i];
        for (guint j = 0; a->root == root && j < backends->len; j++) {
            BlockBackend *b = backends->pdata[j];
            uint64_t clash = a->perm & ~b->shared;
            if (b == a || b->root != root || !b->dev || !clash) {
                continue;
            }
            g_autoptr(GString) perms = g_string_new(NULL);
            for (guint k = 0; k < G_N_ELEMENTS(names); k++) {
                if (clash & (1u << k)) {
                    g_string_append_printf(perms, "%s%s", perms->len ? ", " : "", names[k]);
                }
            }
            g_autofree char *da = backend_desc(a), *db = backend_desc(b);
            error_setg(errp,
                       "Permission conflict on node '%s': permissions '%s' are both required "
                       "by %s (uses node '%s' as 'root' child) and unshared by %s (uses node "
                       "'%s' as 'root' child).",
                       root->node_name, perms->str, da, root->node_name, db, root->node_name);
            return false;
        }
    }
    return true;
}

/* The root's backend permissions, recomputed from every backend on it. */
static bool recompute_root(BlockDriverState *root, GError **errp)
{
    if (errp && !backends_compatible(root, errp)) {
        return false;
    }
    root->backend_perm = 0;
    root->backend_shared = BLK_PERM_ALL;
    for (guint i = 0; i < backends->len; i++) {
        BlockBackend *b = backends->pdata[i];
        if (b->root == root) {
            root->backend_perm |= b->perm;
            root->backend_shared &= b->shared;
        }
    }
    return bdrv_refresh_perms(root, errp);
}

bool blk_insert_bs(BlockBackend *blk, BlockDriverState *root, uint64_t perm, uint64_t shared,
                   GError **errp)
{
    g_assert(!blk->root);
    blk->root = root;
    blk->perm = perm;
    blk->shared = shared;
    blk->root_read_only = root->read_only;
    root->backends++;
    if (!recompute_root(root, errp)) {
        blk->root = NULL;
        root->backends--;
        recompute_root(root, NULL);
        return false;
    }
    bdrv_ref(root);
    return true;
}

bool blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared, GError **errp)
{
    if (!blk->root) {
        blk->perm = perm;
        blk->shared = shared;
        return true;
    }
    uint64_t old_perm = blk->perm, old_shared = blk->shared;
    blk->perm = perm;
    blk->shared = shared;
    if (!recompute_root(blk->root, errp)) {
        blk->perm = old_perm;
        blk->shared = old_shared;
        recompute_root(blk->root, NULL);
        return false;
    }
    return true;
}

bool blk_insert_medium(BlockBackend *blk, BlockDriverState *root, GError **errp)
{
    return blk_insert_bs(blk, root, blk->perm, blk->shared, errp);
}

void blk_set_root_read_only(BlockBackend *blk, bool read_only)
{
    blk->root_read_only = read_only;
}

bool blk_root_read_only(BlockBackend *blk)
{
    return blk->root_read_only;
}

void blk_remove_bs(BlockBackend *blk)
{
    if (!blk->root) {
        return;
    }
    blk_drain(blk);
    BlockDriverState *root = blk->root;
    blk->root = NULL;
    root->backends--;
    recompute_root(root, NULL);
    bdrv_unref(root);
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->root;
}

bool blk_replace_root(BlockDriverState *from, BlockDriverState *to, GError **errp)
{
    g_autoptr(GPtrArray) moved = g_ptr_array_new();
    for (guint i = 0; i < backends->len; i++) {
        BlockBackend *blk = backends->pdata[i];
        if (blk->root == from) {
            blk_drain(blk);
            g_ptr_array_add(moved, blk);
        }
    }
    for (guint i = 0; i < moved->len; i++) {
        BlockBackend *blk = moved->pdata[i];
        blk->root = to;
        from->backends--;
        to->backends++;
    }
    recompute_root(from, NULL);
    if (!recompute_root(to, errp)) {
        for (guint i = 0; i < moved->len; i++) {
            BlockBackend *blk = moved->pdata[i];
            blk->root = from;
            from->backends++;
            to->backends--;
        }
        recompute_root(to, NULL);
        recompute_root(from, NULL);
        return false;
    }
    for (guint i = 0; i < moved->len; i++) {
        bdrv_ref(to);
        bdrv_unref(from);
    }
    return true;
}

const char *blk_name_of_root(BlockDriverState *bs)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *blk = backends->pdata[i];
        if (blk->root == bs && *blk->name) {
            return blk->name;
        }
    }
    return "";
}

bool blk_attach_dev(BlockBackend *blk, const char *dev_name)
{
    if (blk->dev) {
        return false;
    }
    blk->dev = g_strdup(dev_name);
    return true;
}

void blk_detach_dev(BlockBackend *blk)
{
    g_clear_pointer(&blk->dev, g_free);
    blk->dev_ops = NULL;
    blk->dev_opaque = NULL;
}

void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops, void *opaque)
{
    blk->dev_ops = ops;
    blk->dev_opaque = opaque;
}

bool blk_dev_has_removable_media(BlockBackend *blk)
{
    return !blk->dev || (blk->dev_ops && blk->dev_ops->change_media_cb);
}

bool blk_dev_has_tray(BlockBackend *blk)
{
    return blk->dev_ops && blk->dev_ops->is_tray_open;
}

bool blk_dev_is_tray_open(BlockBackend *blk)
{
    return blk_dev_has_tray(blk) && blk->dev_ops->is_tray_open(blk->dev_opaque);
}

bool blk_dev_is_medium_locked(BlockBackend *blk)
{
    return blk->dev_ops && blk->dev_ops->is_medium_locked &&
           blk->dev_ops->is_medium_locked(blk->dev_opaque);
}

static BlockTrayMovedFunc *tray_moved_handler;

void blk_set_tray_moved_handler(BlockTrayMovedFunc *fn)
{
    tray_moved_handler = fn;
}

void blk_tray_moved(BlockBackend *blk, bool open)
{
    if (tray_moved_handler) {
        tray_moved_handler(blk, open);
    }
}

bool blk_dev_medium_acceptable(BlockBackend *blk, GError **errp)
{
    return !blk->dev_ops || !blk->dev_ops->medium_acceptable ||
           blk->dev_ops->medium_acceptable(blk->dev_opaque, errp);
}

void blk_dev_change_media(BlockBackend *blk, bool load)
{
    if (!blk->dev_ops || !blk->dev_ops->change_media_cb) {
        return;
    }
    bool was_open = blk_dev_is_tray_open(blk);
    blk->dev_ops->change_media_cb(blk->dev_opaque, load);
    bool is_open = blk_dev_is_tray_open(blk);
    if (was_open != is_open) {
        blk_tray_moved(blk, is_open);
    }
}

void blk_dev_eject_request(BlockBackend *blk, bool force)
{
    if (blk->dev_ops && blk->dev_ops->eject_request_cb) {
        blk->dev_ops->eject_request_cb(blk->dev_opaque, force);
    }
}

const char *blk_dev_name(BlockBackend *blk)
{
    return blk->dev;
}

void blk_set_legacy(BlockBackend *blk, BlockInterfaceType type, int bus, int unit, bool cdrom)
{
    blk->if_type = type;
    blk->bus = bus;
    blk->unit = unit;
    blk->cdrom = cdrom;
}

BlockInterfaceType blk_legacy_type(BlockBackend *blk, int *bus, int *unit, bool *cdrom)
{
    if (bus) {
        *bus = blk->bus;
    }
    if (unit) {
        *unit = blk->unit;
    }
    if (cdrom) {
        *cdrom = blk->cdrom;
    }
    return blk->if_type;
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->wce = wce;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->wce;
}

bool blk_is_read_only(BlockBackend *blk)
{
    return !blk->root || blk->root->read_only;
}

bool blk_is_inserted(BlockBackend *blk)
{
    return blk->root != NULL;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return blk->root ? bdrv_getlength(blk->root) : -ENOMEDIUM;
}

/* ---- requests ---- */

static gboolean run_completions_cb(gpointer data);

/* Accounts a finished request and runs its callback (the context's thread, or a worker under
 * the backend's completion lock). */
static void finish_request(BlockBackend *blk, BlkRequest *req)
{
    BlockAcctStats *st = &blk->stats;
    if (req->ret < 0) {
        st->failed_ops++;
    } else if (req->op == REQ_READ) {
        st->rd_ops++;
        st->rd_bytes += req->bytes;
    } else if (req->op == REQ_WRITE || req->op == REQ_WRITE_ZEROES) {
        st->wr_ops++;
        st->wr_bytes += req->op == REQ_WRITE ? req->bytes : 0;
    } else if (req->op == REQ_FLUSH) {
        st->flush_ops++;
    } else {
        st->discard_ops++;
    }
    bdrv_unref(req->bs);
    req->cb(req->opaque, req->ret);
    g_atomic_int_dec_and_test(&blk->in_flight);
    g_free(req->iov);
    g_free(req);
}

/* Runs the callbacks of blk's completed requests, on its context's thread. */
static void run_completions(BlockBackend *blk)
{
    for (;;) {
        g_mutex_lock(&done_lock);
        BlkRequest *req = g_queue_pop_head(&blk->done);
        g_mutex_unlock(&done_lock);
        if (!req) {
            return;
        }
        finish_request(blk, req);
    }
}

static gboolean run_completions_cb(gpointer data)
{
    BlockBackend *blk = data;
    g_mutex_lock(&done_lock);
    g_source_unref(blk->wakeup);
    blk->wakeup = NULL;
    g_mutex_unlock(&done_lock);
    run_completions(blk);
    return G_SOURCE_REMOVE;
}

static int run_request(BlkRequest *req)
{
    BlockDriverState *bs = req->bs;
    int ret;
    switch (req->op) {
    case REQ_READ:
        return req->iov ? bdrv_preadv(bs, req->offset, req->iov, req->iovcnt)
                        : bdrv_pread(bs, req->offset, req->bytes, req->buf);
    case REQ_WRITE:
        ret = req->iov ? bdrv_pwritev(bs, req->offset, req->iov, req->iovcnt, req->flags)
                       : bdrv_pwrite(bs, req->offset, req->bytes, req->buf, req->flags);
        break;
    case REQ_FLUSH:
        return bdrv_flush(bs);
    case REQ_DISCARD:
        return bdrv_discard(bs, req->offset, req->bytes);
    case REQ_WRITE_ZEROES:
        ret = bdrv_write_zeroes(bs, req->offset, req->bytes, req->flags);
        break;
    default:
        return -EINVAL;
    }
    if (ret == 0 && req->writethrough && !(req->flags & BDRV_REQ_FUA)) {
        ret = bdrv_flush(bs);
    }
    return ret;
}

/* Hands a finished request to its backend's context (from any thread). */
static void queue_completion(BlkRequest *req)
{
    BlockBackend *blk = req->blk;
    g_mutex_lock(&done_lock);
    g_queue_push_tail(&blk->done, req);
    if (!blk->wakeup) {
        blk->wakeup = g_idle_source_new();
        g_source_set_priority(blk->wakeup, G_PRIORITY_DEFAULT);
        g_source_set_callback(blk->wakeup, run_completions_cb, blk, NULL);
        g_source_attach(blk->wakeup, blk->ctx);
    }
    g_cond_broadcast(&done_cond);
    g_mutex_unlock(&done_lock);
}

/*
 * The completion lock (the machine's big lock) is mostly free, and when it is not, it is
 * mostly held for a moment by the thread that submitted the request: the vCPU, still inside
 * the guest's notification, in the very g_thread_pool_push that woke this worker (the kernel
 * tends to run the woken worker on the waker's CPU, so the vCPU waits for it there, holding
 * the lock). Handing the completion to the context then costs a third thread's wake-up and a
 * main loop iteration before the guest hears of it: measured with perf probes, 40-80 % of the
 * 4 KiB random writes went that way. So yield the CPU to the holder and try again, for a
 * few tens of microseconds and at least once: a drain that holds the lock makes us give up
 * after that.
 */
static bool lock_completion(const BlockCompletionLock *lock)
{
    if (lock->trylock()) {
        return true;
    }
    gint64 until = g_get_monotonic_time() + COMPLETION_SPIN_US;
    do {
        g_thread_yield();
        if (lock->trylock()) {
            return true;
        }
    } while (g_get_monotonic_time() < until);
    return false;
}

static void worker(gpointer data, gpointer user_data)
{
    BlkRequest *req = data;
    BlockBackend *blk = req->blk;
    req->ret = run_request(req);
    /* blk outlives the request: freeing it drains first, under the same lock. */
    const BlockCompletionLock *lock = g_atomic_pointer_get(&blk->completion_lock);
    if (lock && lock_completion(lock)) {
        finish_request(blk, req);
        lock->unlock();
        return;
    }
    queue_completion(req);
}

void blk_set_completion_lock(BlockBackend *blk, const BlockCompletionLock *lock)
{
    g_atomic_pointer_set(&blk->completion_lock, lock);
}

static BlkRequest *new_request(BlockBackend *blk, ReqOp op, uint64_t offset, uint64_t bytes,
                               void *buf, int flags, BlockCompletionFunc *cb, void *opaque)
{
    BlkRequest *req = g_new0(BlkRequest, 1);
    req->blk = blk;
    req->op = op;
    req->offset = offset;
    req->bytes = bytes;
    req->buf = buf;
    req->flags = flags;
    req->writethrough = !blk->wce;
    req->cb = cb;
    req->opaque = opaque;
    return req;
}

static void submit_request(BlkRequest *req)
{
    BlockBackend *blk = req->blk;
    ReqOp op = req->op;
    uint64_t offset = req->offset, bytes = req->bytes;
    g_atomic_int_inc(&blk->in_flight);
    if (!blk->root) {
        req->ret = -ENOMEDIUM;
        req->bs = NULL;
    } else {
        req->bs = blk->root;
        bdrv_ref(req->bs);
        int64_t len = bdrv_getlength(req->bs);
        if ((op == REQ_WRITE || op == REQ_WRITE_ZEROES || op == REQ_DISCARD) &&
            !(blk->perm & BLK_PERM_WRITE)) {
            req->ret = -EPERM; /* the device did not take write permission */
        } else if (op != REQ_FLUSH &&
                   (len < 0 || offset > (uint64_t)len || bytes > (uint64_t)len - offset)) {
            req->ret = -EIO;
        } else {
            if (!pool) {
                pool = g_thread_pool_new(worker, NULL, WORKERS_MAX, FALSE, NULL);
            }
            g_thread_pool_push(pool, req, NULL);
            return;
        }
    }
    /* Refused at once: still completed on the context, never inside this call. */
    queue_completion(req);
}

static void submit(BlockBackend *blk, ReqOp op, uint64_t offset, uint64_t bytes, void *buf,
                   int flags, BlockCompletionFunc *cb, void *opaque)
{
    submit_request(new_request(blk, op, offset, bytes, buf, flags, cb, opaque));
}

static void submit_vec(BlockBackend *blk, ReqOp op, uint64_t offset, const struct iovec *iov,
                       int iovcnt, int flags, BlockCompletionFunc *cb, void *opaque)
{
    BlkRequest *req = new_request(blk, op, offset, iov_size(iov, iovcnt), NULL, flags, cb, opaque);
    req->iov = iovcnt > 0 ? g_memdup2(iov, iovcnt * sizeof(*iov)) : g_new0(struct iovec, 1);
    req->iovcnt = iovcnt;
    submit_request(req);
}

void blk_aio_pread(BlockBackend *blk, uint64_t offset, uint64_t bytes, void *buf,
                   BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, REQ_READ, offset, bytes, buf, 0, cb, opaque);
}

void blk_aio_pwrite(BlockBackend *blk, uint64_t offset, uint64_t bytes, const void *buf, int flags,
                    BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, REQ_WRITE, offset, bytes, (void *)buf, flags, cb, opaque);
}

void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                    BlockCompletionFunc *cb, void *opaque)
{
    submit_vec(blk, REQ_READ, offset, iov, iovcnt, 0, cb, opaque);
}

void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                     int flags, BlockCompletionFunc *cb, void *opaque)
{
    submit_vec(blk, REQ_WRITE, offset, iov, iovcnt, flags, cb, opaque);
}

void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, REQ_FLUSH, 0, 0, NULL, 0, cb, opaque);
}

void blk_aio_discard(BlockBackend *blk, uint64_t offset, uint64_t bytes, BlockCompletionFunc *cb,
                     void *opaque)
{
    submit(blk, REQ_DISCARD, offset, bytes, NULL, 0, cb, opaque);
}

void blk_aio_write_zeroes(BlockBackend *blk, uint64_t offset, uint64_t bytes, int flags,
                          BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, REQ_WRITE_ZEROES, offset, bytes, NULL, flags, cb, opaque);
}

int blk_preadv_nowait(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    BlockDriverState *bs = blk->root;
    if (!bs || g_atomic_int_get(&blk->in_flight) > 0) {
        return -EAGAIN;
    }
    uint64_t bytes = iov_size(iov, iovcnt);
    int64_t len = bdrv_getlength(bs);
    if (len < 0 || offset > (uint64_t)len || bytes > (uint64_t)len - offset ||
        bdrv_preadv_nowait(bs, offset, iov, iovcnt) < 0) {
        return -EAGAIN;
    }
    blk->stats.rd_ops++;
    blk->stats.rd_bytes += bytes;
    return 0;
}

guint blk_in_flight(BlockBackend *blk)
{
    return g_atomic_int_get(&blk->in_flight);
}

void blk_drain(BlockBackend *blk)
{
    while (g_atomic_int_get(&blk->in_flight) > 0) {
        g_mutex_lock(&done_lock);
        while (g_queue_is_empty(&blk->done)) {
            g_cond_wait(&done_cond, &done_lock);
        }
        g_mutex_unlock(&done_lock);
        run_completions(blk);
    }
}

void blk_drain_all(void)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        blk_drain(backends->pdata[i]);
    }
}

BlockAcctStats blk_stats(BlockBackend *blk)
{
    return blk->stats;
}

void block_cleanup(void)
{
    while (backends && backends->len) {
        blk_unref(backends->pdata[backends->len - 1]);
    }
    /* Nodes made by -blockdev / blockdev-add hold their own reference until here. Roots go
     * first (a backing chain is listed after the node above it), their children with them. */
    GPtrArray *nodes = bdrv_all_nodes();
    while (nodes->len) {
        guint i = nodes->len - 1;
        while (i > 0 && ((BlockDriverState *)nodes->pdata[i])->parents->len) {
            i--;
        }
        BlockDriverState *bs = nodes->pdata[i];
        while (bs->refcnt > 1) {
            bdrv_unref(bs);
        }
        bdrv_unref(bs);
    }
}
