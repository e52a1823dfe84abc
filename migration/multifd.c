/* Pages over several connections (include/migration/multifd.h). */
#include "migration/multifd.h"

#include <string.h>

#include "migration/stream.h"
#include "util/error.h"

guint multifd_channel_of(uint64_t index, guint n)
{
    return (index >> MULTIFD_BLOCK_BITS) % n;
}

/* ---- sending ---- */

struct MultifdSend {
    MigChannel **chans;
    guint n;
    uint32_t seq;
};

MultifdSend *multifd_send_new(MigChannel *main, MigChannel **chans, guint n)
{
    MultifdSend *m = g_new0(MultifdSend, 1);
    m->chans = g_memdup2(chans, n * sizeof(*chans));
    m->n = n;
    for (guint i = 0; i < n; i++) {
        mig_channel_follow(main, chans[i]);
        mig_channel_put(chans[i], MULTIFD_MAGIC, MULTIFD_MAGIC_LEN);
        mig_channel_put_be32(chans[i], i);
        mig_channel_put_be32(chans[i], n);
        /* out at once: the receiver reads every header before any page (errors stay on the
         * channel for multifd_send_error) */
        mig_channel_flush(chans[i], NULL);
    }
    return m;
}

void multifd_send_free(MultifdSend *m)
{
    if (!m) {
        return;
    }
    for (guint i = 0; i < m->n; i++) {
        mig_channel_free(m->chans[i]);
    }
    g_free(m->chans);
    g_free(m);
}

void multifd_put_page(MultifdSend *m, MigChannel *main, uint64_t index, const void *data)
{
    mig_stream_put_page(m ? m->chans[multifd_channel_of(index, m->n)] : main, index, data);
}

void multifd_put_zero_run(MultifdSend *m, MigChannel *main, uint64_t first, uint32_t count)
{
    if (!m) {
        mig_stream_put_zero_run(main, first, count);
        return;
    }
    /* cut at block boundaries: each piece goes to its block's channel */
    uint64_t end = first + count;
    while (first < end) {
        uint64_t block_end = ((first >> MULTIFD_BLOCK_BITS) + 1) << MULTIFD_BLOCK_BITS;
        uint64_t piece = MIN(block_end, end) - first;
        mig_stream_put_zero_run(m->chans[multifd_channel_of(first, m->n)], first, piece);
        first += piece;
    }
}

void multifd_send_sync(MultifdSend *m, MigChannel *main)
{
    if (!m) {
        return;
    }
    m->seq++;
    for (guint i = 0; i < m->n; i++) {
        mig_stream_put_sync(m->chans[i], m->seq);
        mig_channel_put_be32(m->chans[i], mig_channel_crc(m->chans[i]));
        /* errors stay on the channel: multifd_send_error() tells */
        mig_channel_flush(m->chans[i], NULL);
    }
    mig_stream_put_sync(main, m->seq);
}

void multifd_send_set_rate_limit(MultifdSend *m, uint64_t bytes_per_second)
{
    for (guint i = 0; m && i < m->n; i++) {
        mig_channel_set_rate_limit(m->chans[i],
                                   bytes_per_second ? MAX(bytes_per_second / m->n, 1) : 0);
    }
}

uint64_t multifd_send_bytes(const MultifdSend *m)
{
    uint64_t total = 0;
    for (guint i = 0; m && i < m->n; i++) {
        total += mig_channel_bytes(m->chans[i]);
    }
    return total;
}

const GError *multifd_send_error(const MultifdSend *m)
{
    for (guint i = 0; m && i < m->n; i++) {
        const GError *e = mig_channel_error(m->chans[i]);
        if (e) {
            return e;
        }
    }
    return NULL;
}

/* ---- receiving ---- */

typedef struct RecvChannel {
    MultifdRecv *m;
    MigChannel *chan;
    guint index;
    GThread *thread;
    uint32_t reached; /* under m->lock: the last SYNC read */
    GError *error;    /* under m->lock: why the thread ended (EOF after a SYNC is normal) */
} RecvChannel;

struct MultifdRecv {
    MigChannel *main;
    RecvChannel *chans;
    guint n;
    GMutex lock; /* the target, reached, error */
    GCond cond;
    MultifdTarget target;
    uint64_t pages; /* atomic */
};

static bool check_block(RecvChannel *rc, const MultifdTarget *t, uint64_t first, uint64_t count,
                        GError **errp)
{
    if (first >= t->npages || count > t->npages - first || count == 0) {
        error_setg(errp, "Multifd channel %u: page %" G_GUINT64_FORMAT " is beyond RAM", rc->index,
                   first);
        return false;
    }
    uint64_t last = first + count - 1;
    if (multifd_channel_of(first, rc->m->n) != rc->index ||
        (first >> MULTIFD_BLOCK_BITS) != (last >> MULTIFD_BLOCK_BITS)) {
        error_setg(errp, "Multifd channel %u: page %" G_GUINT64_FORMAT " is not its own", rc->index,
                   first);
        return false;
    }
    return true;
}

static void mark(const MultifdTarget *t, uint64_t pi)
{
    if (t->received) {
        __atomic_fetch_or(&t->received[pi / 64], 1ull << (pi % 64), __ATOMIC_RELAXED);
    }
}

static bool read_page(RecvChannel *rc, GError **errp)
{
    MultifdRecv *m = rc->m;
    uint64_t pi;
    if (!mig_channel_get_be64(rc->chan, &pi, errp)) {
        return false;
    }
    g_mutex_lock(&m->lock);
    MultifdTarget t = m->target;
    g_mutex_unlock(&m->lock);
    if (!check_block(rc, &t, pi, 1, errp)) {
        return false;
    }
    uint64_t off = pi << GUEST_PAGE_BITS;
    if (!mig_channel_get(rc->chan, t.mem + off, GUEST_PAGE_SIZE, errp)) {
        return false;
    }
    if (t.ram) {
        guest_ram_note_store_range(t.ram, off, GUEST_PAGE_SIZE);
    }
    mark(&t, pi);
    __atomic_fetch_add(&m->pages, 1, __ATOMIC_RELAXED);
    return true;
}

static bool read_zero_run(RecvChannel *rc, GError **errp)
{
    MultifdRecv *m = rc->m;
    uint64_t first;
    uint32_t count;
    if (!mig_channel_get_be64(rc->chan, &first, errp) ||
        !mig_channel_get_be32(rc->chan, &count, errp)) {
        return false;
    }
    g_mutex_lock(&m->lock);
    MultifdTarget t = m->target;
    g_mutex_unlock(&m->lock);
    if (!check_block(rc, &t, first, count, errp)) {
        return false;
    }
    for (uint64_t pi = first; pi < first + count; pi++) {
        guint8 *page = t.mem + (pi << GUEST_PAGE_BITS);
        /* pages never written stay unbacked */
        if (!mig_page_is_zero(page)) {
            memset(page, 0, GUEST_PAGE_SIZE);
            if (t.ram) {
                guest_ram_note_store_range(t.ram, pi << GUEST_PAGE_BITS, GUEST_PAGE_SIZE);
            }
        }
        mark(&t, pi);
    }
    __atomic_fetch_add(&m->pages, count, __ATOMIC_RELAXED);
    return true;
}

static bool read_sync(RecvChannel *rc, GError **errp)
{
    MultifdRecv *m = rc->m;
    uint32_t seq;
    if (!mig_channel_get_be32(rc->chan, &seq, errp) ||
        !mig_stream_check_crc(rc->chan, "Multifd channel", errp)) {
        return false;
    }
    g_mutex_lock(&m->lock);
    bool in_order = seq == rc->reached + 1;
    if (in_order) {
        rc->reached = seq;
        g_cond_broadcast(&m->cond);
    }
    g_mutex_unlock(&m->lock);
    if (!in_order) {
        error_setg(errp, "Multifd channel %u: sync %u out of order", rc->index, seq);
    }
    return in_order;
}

static gpointer recv_thread(gpointer opaque)
{
    RecvChannel *rc = opaque;
    GError *err = NULL;
    for (;;) {
        uint8_t tag;
        if (!mig_channel_get_u8(rc->chan, &tag, &err)) {
            break;
        }
        bool ok;
        switch (tag) {
        case MIG_REC_PAGE:
            ok = read_page(rc, &err);
            break;
        case MIG_REC_ZERO:
            ok = read_zero_run(rc, &err);
            break;
        case MIG_REC_SYNC:
            ok = read_sync(rc, &err);
            break;
        default:
            error_setg(&err, "Unknown record 0x%02x on multifd channel %u", tag, rc->index);
            ok = false;
            break;
        }
        if (!ok) {
            break;
        }
    }
    g_mutex_lock(&rc->m->lock);
    rc->error = err;
    g_cond_broadcast(&rc->m->cond);
    g_mutex_unlock(&rc->m->lock);
    return NULL;
}

static bool read_header(MigChannel *c, guint n, guint *index, GError **errp)
{
    char magic[MULTIFD_MAGIC_LEN];
    uint32_t i, count;
    if (!mig_channel_get(c, magic, sizeof(magic), errp) || !mig_channel_get_be32(c, &i, errp) ||
        !mig_channel_get_be32(c, &count, errp)) {
        g_prefix_error(errp, "Multifd channel header: ");
        return false;
    }
    if (memcmp(magic, MULTIFD_MAGIC, MULTIFD_MAGIC_LEN) != 0) {
        error_setg(errp, "Not a multifd channel");
        return false;
    }
    if (count != n || i >= n) {
        error_setg(errp, "Multifd channel %u of %u, expected one of %u", i, count, n);
        return false;
    }
    *index = i;
    return true;
}

MultifdRecv *multifd_recv_new(MigChannel *main, MigChannel **chans, guint n, const MultifdTarget *t,
                              GError **errp)
{
    MultifdRecv *m = g_new0(MultifdRecv, 1);
    m->main = main;
    m->n = n;
    m->target = *t;
    m->chans = g_new0(RecvChannel, n);
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    bool ok = true;
    for (guint k = 0; k < n; k++) {
        mig_channel_follow(main, chans[k]);
    }
    for (guint k = 0; k < n; k++) {
        guint i;
        if (!ok || !read_header(chans[k], n, &i, errp)) {
            ok = false;
            mig_channel_free(chans[k]);
            continue;
        }
        if (m->chans[i].chan) {
            error_setg(errp, "Multifd channel %u came twice", i);
            ok = false;
            mig_channel_free(chans[k]);
            continue;
        }
        m->chans[i] = (RecvChannel){.m = m, .chan = chans[k], .index = i};
    }
    if (!ok) {
        multifd_recv_free(m);
        return NULL;
    }
    for (guint i = 0; i < n; i++) {
        g_autofree char *name = g_strdup_printf("mig/dst/mfd%u", i);
        m->chans[i].thread = g_thread_new(name, recv_thread, &m->chans[i]);
    }
    return m;
}

void multifd_recv_set_target(MultifdRecv *m, const MultifdTarget *t)
{
    g_mutex_lock(&m->lock);
    m->target = *t;
    g_mutex_unlock(&m->lock);
}

bool multifd_recv_sync(MultifdRecv *m, uint32_t seq, GError **errp)
{
    g_mutex_lock(&m->lock);
    for (;;) {
        guint behind = 0;
        const GError *failed = NULL;
        for (guint i = 0; i < m->n; i++) {
            if (m->chans[i].reached < seq) {
                behind++;
                /* only a channel that ended before this SYNC fails it */
                failed = failed ? failed : m->chans[i].error;
            }
        }
        if (!behind) {
            break;
        }
        if (failed) {
            g_propagate_error(errp, g_error_copy(failed));
            g_mutex_unlock(&m->lock);
            return false;
        }
        if (mig_channel_cancelled(m->main)) {
            g_mutex_unlock(&m->lock);
            error_setg(errp, "Migration cancelled");
            return false;
        }
        /* a cancel of main does not signal cond: look again now and then */
        g_cond_wait_until(&m->cond, &m->lock, g_get_monotonic_time() + 50 * 1000);
    }
    g_mutex_unlock(&m->lock);
    return true;
}

uint64_t multifd_recv_pages(MultifdRecv *m)
{
    return __atomic_load_n(&m->pages, __ATOMIC_RELAXED);
}

void multifd_recv_free(MultifdRecv *m)
{
    if (!m) {
        return;
    }
    for (guint i = 0; i < m->n; i++) {
        if (m->chans[i].chan) {
            mig_channel_cancel(m->chans[i].chan);
        }
    }
    for (guint i = 0; i < m->n; i++) {
        if (m->chans[i].thread) {
            g_thread_join(m->chans[i].thread);
        }
        mig_channel_free(m->chans[i].chan);
        g_clear_error(&m->chans[i].error);
    }
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    g_free(m->chans);
    g_free(m);
}
