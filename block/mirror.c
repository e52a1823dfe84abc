/* The mirror job: a dirty map over the source, a worker thread that copies, write-through
 * once in sync, and the pivot (include/block/mirror.h). */
#include "block/mirror.h"
#include "block/block-backend.h"
#include "util/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_GRANULARITY (64 * 1024)
#define DEFAULT_BUF_SIZE    (16 << 20)
#define MAX_COPY            (1 << 20) /* bytes per read/write of the copy loop */
#define SPEED_SLICE_US      (100 * 1000)

enum {
    CHUNK_DIRTY = 1,
    CHUNK_COPIED = 2, /* written to the target at least once */
};

typedef struct Range {
    uint64_t start, end;
} Range;

typedef struct Mirror {
    Job *job;
    BlockDriverState *source, *target;
    BlockBackend *src_blk, *tgt_blk; /* hold the job's permissions */
    MirrorSync sync;
    MirrorOnError on_source_error, on_target_error;
    bool target_zeroed; /* a new image: chunks never copied read as zeroes already */
    uint64_t size, gran, max_copy;
    GThread *thread;
    bool notifier_on;

    /* Shared with the worker and the notifiers, under lock. */
    GMutex lock;
    GCond cond;
    guint8 *dirty; /* one byte per chunk of gran bytes: CHUNK_DIRTY, CHUNK_COPIED */
    uint64_t nchunks, dirty_bytes, cursor;
    GArray *inflight; /* Range: copies and write-throughs under way */
    bool ready;       /* in sync: writes go through to the target */
    bool stop;        /* a real cancel: end now */
    bool finish;      /* complete, or a cancel without force on a ready job: end in sync */
    bool pivot;       /* complete: the backends move to the target at the end */
    bool exited;      /* the worker has reported its end */
    int64_t speed;
} Mirror;

static const JobDriver mirror_driver;

bool mirror_check_source(BlockDriverState *bs, GError **errp)
{
    job_flush_finished();
    g_autoptr(GPtrArray) all = job_all();
    for (guint i = 0; i < all->len; i++) {
        Job *job = all->pdata[i];
        if (job->drv == &mirror_driver && job->status != JOB_ST_CONCLUDED &&
            ((Mirror *)job->opaque)->source == bs) {
            /* Upstream's mirror has put its filter node above bs by now. */
            error_setg(errp, "Need a root block node");
            return false;
        }
    }
    return true;
}

static uint64_t chunk_len(Mirror *m, uint64_t i)
{
    return MIN(m->gran, m->size - i * m->gran);
}

static void update_progress(Mirror *m)
{
    m->job->len = m->job->offset + (gint64)m->dirty_bytes;
}

/* Under lock. */
static void mark_dirty(Mirror *m, uint64_t off, uint64_t bytes)
{
    if (!bytes || off >= m->size) {
        return;
    }
    uint64_t last = (MIN(off + bytes, m->size) - 1) / m->gran;
    for (uint64_t i = off / m->gran; i <= last; i++) {
        if (!(m->dirty[i] & CHUNK_DIRTY)) {
            m->dirty[i] |= CHUNK_DIRTY;
            m->dirty_bytes += chunk_len(m, i);
        }
    }
    update_progress(m);
    g_cond_broadcast(&m->cond);
}

static bool overlaps_inflight(Mirror *m, uint64_t start, uint64_t end)
{
    for (guint i = 0; i < m->inflight->len; i++) {
        Range *r = &g_array_index(m->inflight, Range, i);
        if (start < r->end && r->start < end) {
            return true;
        }
    }
    return false;
}

static void remove_inflight(Mirror *m, uint64_t start, uint64_t end)
{
    for (guint i = 0; i < m->inflight->len; i++) {
        Range *r = &g_array_index(m->inflight, Range, i);
        if (r->start == start && r->end == end) {
            g_array_remove_index_fast(m->inflight, i);
            break;
        }
    }
    g_cond_broadcast(&m->cond);
}

/* Under lock: the next run of dirty chunks that nothing in flight covers; clears them and
 * marks the run in flight. */
static bool take_dirty(Mirror *m, uint64_t *off, uint64_t *bytes, bool *first)
{
    for (uint64_t n = 0; n < m->nchunks; n++) {
        uint64_t i = (m->cursor + n) % m->nchunks;
        uint64_t start = i * m->gran;
        if (!(m->dirty[i] & CHUNK_DIRTY) || overlaps_inflight(m, start, start + chunk_len(m, i))) {
            continue;
        }
        uint64_t len = 0;
        uint64_t j = i;
        bool fresh = !(m->dirty[i] & CHUNK_COPIED);
        while (j < m->nchunks && (m->dirty[j] & CHUNK_DIRTY) &&
               !(m->dirty[j] & CHUNK_COPIED) == fresh && len + chunk_len(m, j) <= m->max_copy &&
               !overlaps_inflight(m, j * m->gran, j * m->gran + chunk_len(m, j))) {
            m->dirty[j] = CHUNK_COPIED;
            m->dirty_bytes -= chunk_len(m, j);
            len += chunk_len(m, j);
            j++;
        }
        m->cursor = j % m->nchunks;
        Range r = {start, start + len};
        g_array_append_val(m->inflight, r);
        *off = start;
        *bytes = len;
        *first = fresh;
        return true;
    }
    return false;
}

/* The guest (or an NBD client) changed the source: see mirror.h. */
static void on_source_write(void *opaque, uint64_t off, uint64_t bytes, const void *buf)
{
    Mirror *m = opaque;
    g_mutex_lock(&m->lock);
    if (!m->ready || !buf || m->stop || overlaps_inflight(m, off, off + bytes)) {
        mark_dirty(m, off, bytes);
        g_mutex_unlock(&m->lock);
        return;
    }
    Range r = {off, off + bytes};
    g_array_append_val(m->inflight, r);
    g_mutex_unlock(&m->lock);

    int ret = bdrv_pwrite(m->target, off, bytes, buf, 0);

    g_mutex_lock(&m->lock);
    remove_inflight(m, r.start, r.end);
    if (ret < 0) {
        mark_dirty(m, off, bytes); /* the worker meets the error again and reports it */
    } else {
        uint64_t last = (MIN(off + bytes, m->size) - 1) / m->gran;
        for (uint64_t i = off / m->gran; i <= last; i++) {
            m->dirty[i] |= CHUNK_COPIED;
        }
        m->job->offset += bytes;
        update_progress(m);
    }
    g_mutex_unlock(&m->lock);
}

/* One copy of [off, off+bytes): 0, or -errno with *which: 's'ource or 't'arget. */
static int copy_range(Mirror *m, uint64_t off, uint64_t bytes, bool first, void *buf, char *which)
{
    int ret = bdrv_pread(m->source, off, bytes, buf);
    if (ret < 0) {
        *which = 's';
        return ret;
    }
    /* Zeroes are written as zeroes: the target stays as sparse as the source. */
    const uint8_t *b = buf;
    if (b[0] == 0 && memcmp(b, b + 1, bytes - 1) == 0) {
        if (first && m->target_zeroed) {
            return 0;
        }
        ret = bdrv_write_zeroes(m->target, off, bytes, BDRV_REQ_MAY_UNMAP);
    } else {
        ret = bdrv_pwrite(m->target, off, bytes, buf, 0);
    }
    if (ret < 0) {
        *which = 't';
    }
    return ret;
}

/* Under lock: waits for a change (or the deadline, monotonic us; 0: none). */
static void wait_change(Mirror *m, gint64 deadline)
{
    if (!deadline) {
        deadline = g_get_monotonic_time() + G_TIME_SPAN_SECOND;
    }
    g_cond_wait_until(&m->cond, &m->lock, deadline);
}

static gpointer mirror_worker(gpointer opaque)
{
    Mirror *m = opaque;
    Job *job = m->job;
    g_autofree void *buf = g_malloc(m->max_copy);
    int64_t tlen = bdrv_getlength(m->target);
    int ret = 0;
    char *err = NULL;
    gint64 slice_start = g_get_monotonic_time();
    uint64_t slice_bytes = 0;

    g_mutex_lock(&m->lock);
    if (tlen < 0 || (uint64_t)tlen != m->size) {
        job->len = job->offset = 0;
        ret = -EINVAL;
        err = g_strdup("Source and target image have different sizes");
    }
    while (!err) {
        uint64_t off, bytes;
        if (m->stop) {
            ret = -ECANCELED;
            break;
        }
        if (m->speed && slice_bytes >= (uint64_t)m->speed * SPEED_SLICE_US / G_USEC_PER_SEC) {
            gint64 next = slice_start + SPEED_SLICE_US;
            if (g_get_monotonic_time() < next) {
                g_atomic_int_set(&job->busy, 0);
                wait_change(m, next);
                continue;
            }
            slice_start = g_get_monotonic_time();
            slice_bytes = 0;
        }
        bool first;
        if (!take_dirty(m, &off, &bytes, &first)) {
            if (m->dirty_bytes || m->inflight->len) {
                wait_change(m, 0); /* what is left is in flight: wait for it */
                continue;
            }
            if (!m->ready) {
                g_mutex_unlock(&m->lock);
                ret = bdrv_flush(m->target);
                g_mutex_lock(&m->lock);
                if (ret < 0) {
                    err = g_strdup(g_strerror(-ret));
                    break;
                }
                if (!m->dirty_bytes && !m->inflight->len) {
                    m->ready = true;
                    job_ready(job);
                }
                continue;
            }
            if (m->finish) {
                break;
            }
            g_atomic_int_set(&job->busy, 0);
            wait_change(m, 0);
            continue;
        }
        g_atomic_int_set(&job->busy, 1);
        g_mutex_unlock(&m->lock);
        char which = 0;
        ret = copy_range(m, off, bytes, first, buf, &which);
        g_mutex_lock(&m->lock);
        remove_inflight(m, off, off + bytes);
        if (ret < 0) {
            mark_dirty(m, off, bytes);
            MirrorOnError act = which == 's' ? m->on_source_error : m->on_target_error;
            job_io_error(job, which == 's', act == MIRROR_ERR_IGNORE);
            if (act == MIRROR_ERR_IGNORE) {
                ret = 0;
                wait_change(m, g_get_monotonic_time() + G_TIME_SPAN_SECOND / 10);
                continue;
            }
            err = g_strdup(g_strerror(-ret));
            break;
        }
        job->offset += bytes;
        update_progress(m);
        slice_bytes += bytes;
    }
    g_atomic_int_set(&job->busy, 0);
    job_finished(job, ret, err);
    m->exited = true;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return NULL;
}

static void mirror_job_start(Job *job)
{
    Mirror *m = job->opaque;
    bdrv_add_write_notifier(m->source, on_source_write, m);
    m->notifier_on = true;
    m->thread = g_thread_new("mirror", mirror_worker, m);
}

static void wake(Mirror *m)
{
    g_mutex_lock(&m->lock);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

static bool mirror_job_complete(Job *job, GError **errp)
{
    Mirror *m = job->opaque;
    g_mutex_lock(&m->lock);
    m->finish = true;
    m->pivot = true;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return true;
}

static bool mirror_job_cancel(Job *job, bool force)
{
    Mirror *m = job->opaque;
    g_mutex_lock(&m->lock);
    /* Upstream's mirror: a job in sync cancelled without force ends in sync, not pivoted. */
    bool real = force || !m->ready;
    if (real) {
        m->stop = true;
    } else {
        m->finish = true;
        m->pivot = false;
    }
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return real;
}

static void mirror_job_wait_stopped(Job *job)
{
    Mirror *m = job->opaque;
    gint64 deadline = g_get_monotonic_time() + G_TIME_SPAN_SECOND / 2;
    g_mutex_lock(&m->lock);
    while (!m->exited && g_cond_wait_until(&m->cond, &m->lock, deadline)) {
    }
    g_mutex_unlock(&m->lock);
}

static void mirror_job_set_speed(Job *job)
{
    Mirror *m = job->opaque;
    g_mutex_lock(&m->lock);
    m->speed = job->speed;
    g_mutex_unlock(&m->lock);
    wake(m);
}

/* The worker has ended: no request on the source is left in flight, and the notifier is gone
 * (main loop). copy_rest: copy what the last guest requests dirtied (the job ends in sync). */
static int settle(Mirror *m, bool copy_rest, GError **errp)
{
    if (m->thread) {
        g_thread_join(m->thread);
        m->thread = NULL;
    }
    blk_drain_all();
    if (m->notifier_on) {
        bdrv_remove_write_notifier(m->source, on_source_write, m);
        m->notifier_on = false;
    }
    if (!copy_rest) {
        return 0;
    }
    g_autofree void *buf = g_malloc(m->max_copy);
    uint64_t off, bytes;
    bool first;
    while (take_dirty(m, &off, &bytes, &first)) {
        char which = 0;
        int ret = copy_range(m, off, bytes, first, buf, &which);
        remove_inflight(m, off, off + bytes);
        if (ret < 0) {
            error_setg(errp, "%s", g_strerror(-ret));
            return ret;
        }
        m->job->offset += bytes;
    }
    update_progress(m);
    int ret = bdrv_flush(m->target);
    if (ret < 0) {
        error_setg(errp, "%s", g_strerror(-ret));
    }
    return ret;
}

static int mirror_job_commit(Job *job, GError **errp)
{
    Mirror *m = job->opaque;
    int ret = settle(m, true, errp);
    if (ret < 0 || !m->pivot) {
        return ret;
    }
    /* The job's own handles go first, so that the target takes the devices' permissions. */
    g_clear_pointer(&m->src_blk, blk_unref);
    g_clear_pointer(&m->tgt_blk, blk_unref);
    return blk_replace_root(m->source, m->target, errp) ? 0 : -EPERM;
}

static void mirror_job_abort(Job *job)
{
    settle(job->opaque, false, NULL);
}

static void mirror_job_free(Job *job)
{
    Mirror *m = job->opaque;
    settle(m, false, NULL);
    g_clear_pointer(&m->src_blk, blk_unref);
    g_clear_pointer(&m->tgt_blk, blk_unref);
    bdrv_unref(m->source);
    bdrv_unref(m->target);
    g_array_free(m->inflight, TRUE);
    g_free(m->dirty);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    g_free(m);
}

static const JobDriver mirror_driver = {
    .type = "mirror",
    .start = mirror_job_start,
    .complete = mirror_job_complete,
    .cancel = mirror_job_cancel,
    .wait_stopped = mirror_job_wait_stopped,
    .set_speed = mirror_job_set_speed,
    .commit = mirror_job_commit,
    .abort = mirror_job_abort,
    .free = mirror_job_free,
};

bool mirror_check_granularity(int64_t gran, GError **errp)
{
    if (gran != 0 && (gran < 512 || gran > 64 * 1024 * 1024)) {
        error_setg(errp, "Parameter 'granularity' expects a value in range [512B, 64MB]");
        return false;
    }
    if (gran & (gran - 1)) {
        error_setg(errp, "Parameter 'granularity' expects a power of 2");
        return false;
    }
    return true;
}

Job *mirror_start(const MirrorParams *p, GError **errp)
{
    int64_t gran = p->granularity;
    if (!mirror_check_granularity(gran, errp)) {
        return NULL;
    }
    if (p->source == p->target) {
        error_setg(errp, "Can't mirror node into itself");
        return NULL;
    }
    if (p->buf_size < 0) {
        error_set_invalid_param(errp, "buf-size");
        return NULL;
    }
    int64_t size = bdrv_getlength(p->source);
    if (size < 0) {
        error_setg(errp, "Device has no medium");
        return NULL;
    }

    Mirror *m = g_new0(Mirror, 1);
    m->source = p->source;
    m->target = p->target;
    m->sync = p->sync;
    m->on_source_error = p->on_source_error;
    m->on_target_error = p->on_target_error;
    m->target_zeroed = p->target_zeroed;
    m->size = size;
    m->gran = gran ? (uint64_t)gran : DEFAULT_GRANULARITY;
    uint64_t buf_size = p->buf_size ? (uint64_t)p->buf_size : DEFAULT_BUF_SIZE;
    m->max_copy = MAX(m->gran, MIN(buf_size, (uint64_t)MAX_COPY) / m->gran * m->gran);
    m->nchunks = (m->size + m->gran - 1) / m->gran;
    m->dirty = g_malloc0(MAX(m->nchunks, 1));
    m->inflight = g_array_new(FALSE, FALSE, sizeof(Range));
    m->speed = p->speed;
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);

    /* The job reads the source beside its device and owns writing to the target. */
    m->src_blk = blk_new("", NULL);
    m->tgt_blk = blk_new("", NULL);
    const char *id = p->job_id ? p->job_id : blk_name_of_root(p->source);
    Job *job = NULL;
    if (blk_insert_bs(m->src_blk, p->source, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, errp) &&
        blk_insert_bs(m->tgt_blk, p->target, BLK_PERM_WRITE | BLK_PERM_CONSISTENT_READ,
                      BLK_PERM_ALL & ~BLK_PERM_WRITE, errp)) {
        job = job_create(id, &mirror_driver, m, p->speed, p->auto_finalize, p->auto_dismiss, errp);
    }
    if (!job) {
        blk_unref(m->src_blk);
        blk_unref(m->tgt_blk);
        g_array_free(m->inflight, TRUE);
        g_free(m->dirty);
        g_mutex_clear(&m->lock);
        g_cond_clear(&m->cond);
        g_free(m);
        return NULL;
    }
    m->job = job;
    bdrv_ref(m->source);
    bdrv_ref(m->target);
    if (m->sync != MIRROR_SYNC_NONE) {
        mark_dirty(m, 0, m->size);
    }
    job->offset = 0;
    update_progress(m);
    job_start(job);
    return job;
}

static void put(GHashTable *opts, const char *key, const char *value)
{
    g_hash_table_insert(opts, g_strdup(key), g_strdup(value));
}

/*
 * Upstream opens a drive-mirror target by its file name and picks the protocol from it: NBD's
 * URIs ("nbd://H[:P]/EXPORT", "nbd+tcp://...", "nbd+unix:///EXPORT?socket=PATH") and its
 * legacy "nbd:H:P[:exportname=E]" / "nbd:unix:PATH[:exportname=E]" go to the nbd driver
 * (the re-protect runbook's target). Anything else is left to be a host file.
 */
static bool nbd_target_opts(const char *target, GHashTable *opts, GError **errp)
{
    /* The URI's own checks come when the node opens: put the driver in first. */
    if (g_str_has_prefix(target, "nbd:") && !g_str_has_prefix(target, "nbd://")) {
        g_auto(GStrv) parts = g_strsplit(target + 4, ":", -1);
        guint n = g_strv_length(parts);
        const char *export = NULL;
        if (n && g_str_has_prefix(parts[n - 1], "exportname=")) {
            export = parts[n - 1] + strlen("exportname=");
            n--;
        }
        put(opts, "file.driver", "nbd");
        if (n == 2 && strcmp(parts[0], "unix") == 0) {
            put(opts, "file.path", parts[1]);
        } else if (n == 2 || n == 1) {
            put(opts, "file.host", parts[0]);
            if (n == 2) {
                put(opts, "file.port", parts[1]);
            }
        } else {
            error_setg(errp, "No valid URL specified");
            return false;
        }
        if (export) {
            put(opts, "file.export", export);
        }
        return true;
    }
    if (!g_str_has_prefix(target, "nbd://") && !g_str_has_prefix(target, "nbd+tcp://") &&
        !g_str_has_prefix(target, "nbd+unix://")) {
        return true;
    }
    g_autoptr(GUri) uri = g_uri_parse(target, G_URI_FLAGS_NONE, NULL);
    bool is_unix = g_str_has_prefix(target, "nbd+unix://");
    const char *query = uri ? g_uri_get_query(uri) : NULL;
    const char *host = uri ? g_uri_get_host(uri) : NULL;
    if (!uri || (is_unix ? !query || !g_str_has_prefix(query, "socket=") || (host && *host)
                         : query != NULL || !host || !*host)) {
        error_setg(errp, "No valid URL specified");
        return false;
    }
    put(opts, "file.driver", "nbd");
    if (is_unix) {
        put(opts, "file.path", query + strlen("socket="));
    } else {
        put(opts, "file.host", g_uri_get_host(uri));
        if (g_uri_get_port(uri) > 0) {
            g_autofree char *port = g_strdup_printf("%d", g_uri_get_port(uri));
            put(opts, "file.port", port);
        }
    }
    const char *path = g_uri_get_path(uri);
    if (path && path[0] == '/' && path[1]) {
        put(opts, "file.export", path + 1);
    }
    return true;
}

BlockDriverState *mirror_open_target(BlockDriverState *source, const char *target,
                                     const char *format, bool existing, MirrorSync sync,
                                     const char *node_name, bool *zeroed, GError **errp)
{
    *zeroed = false;
    g_autoptr(GHashTable) opts = bdrv_opts_new();
    GError *uri_err = NULL;
    bool uri_ok = nbd_target_opts(target, opts, &uri_err);
    bool is_nbd = g_hash_table_contains(opts, "file.driver") || !uri_ok;
    const char *fmt = format;
    if (!existing) {
        if (!fmt) {
            fmt = source->drv->format_name;
        }
        if (!bdrv_find_driver(fmt)) {
            error_setg(errp, "Unknown file format '%s'", fmt);
            g_clear_error(&uri_err);
            return NULL;
        }
        const char *why = NULL;
        if (sync == MIRROR_SYNC_NONE) {
            /* The new image would have the source as its backing file. */
            why = strcmp(fmt, "raw") == 0 ? "Backing file not supported for file format '%s'"
                                          : "Creating a '%s' image with a backing file is "
                                            "not supported";
        } else if (strcmp(fmt, "raw") != 0) {
            why = "Creating a '%s' image is not supported";
        }
        if (why) {
            error_setg(errp, why, fmt);
            g_clear_error(&uri_err);
            return NULL;
        }
        int64_t size = bdrv_getlength(source);
        /* Upstream prints this before it creates the image, also when that fails. */
        printf("Formatting '%s', fmt=raw size=%" PRId64 "\n", target, size);
        fflush(stdout);
        if (!is_nbd) {
            if (file_create(target, size, errp) < 0) {
                return NULL;
            }
            *zeroed = true;
        }
    }
    BlockDriverState *bs = NULL;
    if (uri_ok) {
        put(opts, "driver", fmt ? fmt : "raw");
        if (!is_nbd) {
            put(opts, "file.filename", target);
        }
        if (node_name) {
            put(opts, "node-name", node_name);
        }
        BdrvOpenFlags flags = {.drive_style = true, .auto_read_only = true};
        bs = bdrv_open_opts(opts, &flags, &uri_err);
    }
    if (!bs) {
        if (is_nbd && !existing) {
            /* Upstream's fallback for a protocol that cannot create: open what is there. */
            error_prepend(&uri_err, "Protocol driver 'nbd' does not support image creation, "
                                    "and opening the image failed: ");
        }
        g_propagate_error(errp, uri_err);
    }
    return bs;
}
