/*
 * qcow2 guest-to-host mapping: L1/L2 lookups, reads (data, zeros, backing, compressed), writes
 * with copy-on-write of partial and shared clusters, discard and zero clusters.
 *
 * A write into a cluster that is not exclusively ours (unallocated, zero, compressed, or shared
 * with a snapshot: no COPIED flag) goes to a new cluster:
 *
 *   old content (backing / zeros / inflated / shared copy) + new bytes
 *     -> allocate (refcount 1) -> write data -> point the L2 entry at it -> drop the old ref
 */
#include "block/qcow2-internal.h"
#include "util/iov.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

void qcow2_cache_init(Qcow2Cache *c, unsigned n_slots, uint64_t table_size)
{
    c->slots = g_new0(Qcow2CacheSlot, n_slots);
    c->n_slots = n_slots;
    for (unsigned i = 0; i < n_slots; i++) {
        c->slots[i].data = g_malloc(table_size);
    }
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    for (unsigned i = 0; c->slots && i < c->n_slots; i++) {
        g_free(c->slots[i].data);
    }
    g_free(c->slots);
    c->slots = NULL;
}

int qcow2_cache_get(Qcow2Image *s, Qcow2Cache *c, uint64_t offset, uint8_t **table)
{
    Qcow2CacheSlot *victim = &c->slots[0];
    for (unsigned i = 0; i < c->n_slots; i++) {
        Qcow2CacheSlot *slot = &c->slots[i];
        if (slot->offset == offset) {
            slot->last_use = ++c->clock;
            *table = slot->data;
            return 0;
        }
        if (slot->last_use < victim->last_use) {
            victim = slot;
        }
    }
    victim->offset = 0;
    int ret = s->file.pread(s->file.opaque, offset, victim->data, s->cluster_size);
    if (ret < 0) {
        return ret;
    }
    victim->offset = offset;
    victim->last_use = ++c->clock;
    *table = victim->data;
    return 0;
}

void qcow2_cache_forget(Qcow2Cache *c, uint64_t offset)
{
    for (unsigned i = 0; i < c->n_slots; i++) {
        if (c->slots[i].offset == offset) {
            c->slots[i].offset = 0;
            c->slots[i].last_use = 0;
        }
    }
}

Qcow2ClusterType qcow2_entry_type(const Qcow2Image *s, uint64_t entry)
{
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if (entry & QCOW2_OFLAG_ZERO) {
        return QCOW2_CLUSTER_ZERO;
    }
    return (entry & QCOW2_OFFSET_MASK) ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
}

static uint64_t l1_index(const Qcow2Image *s, uint64_t guest)
{
    return guest >> (s->cluster_bits + s->l2_bits);
}

static uint64_t l2_index(const Qcow2Image *s, uint64_t guest)
{
    return (guest >> s->cluster_bits) & ((UINT64_C(1) << s->l2_bits) - 1);
}

/* The L2 table for an L1 entry, or NULL when the entry is empty. */
static int load_l2(Qcow2Image *s, uint64_t l1i, uint8_t **table)
{
    *table = NULL;
    if (l1i >= s->l1_size) {
        return qcow2_signal_corruption(s, "L1 index %#" PRIx64 " out of range", l1i);
    }
    uint64_t l2_off = s->l1[l1i] & QCOW2_OFFSET_MASK;
    if (l2_off == 0) {
        return 0;
    }
    if (qcow2_offset_in_cluster(s, l2_off)) {
        return qcow2_signal_corruption(
            s, "L2 table offset %#" PRIx64 " unaligned (L1 index: %#" PRIx64 ")", l2_off, l1i);
    }
    return qcow2_cache_get(s, &s->l2_cache, l2_off, table);
}

static int get_entry(Qcow2Image *s, uint64_t guest, uint64_t *entry)
{
    uint8_t *table;
    int ret = load_l2(s, l1_index(s, guest), &table);
    if (ret < 0) {
        return ret;
    }
    *entry = table ? qcow2_be64(table + l2_index(s, guest) * 8) : 0;
    if (qcow2_entry_type(s, *entry) == QCOW2_CLUSTER_NORMAL &&
        qcow2_offset_in_cluster(s, *entry & QCOW2_OFFSET_MASK)) {
        return qcow2_signal_corruption(
            s, "Cluster allocation offset %#" PRIx64 " unaligned (guest offset: %#" PRIx64 ")",
            *entry & QCOW2_OFFSET_MASK, guest);
    }
    return 0;
}

/* Inflates a compressed cluster (raw deflate, as upstream writes it) into s->zcache. */
static int inflate_cluster(Qcow2Image *s, uint64_t entry)
{
    if (s->zcache_offset == entry) {
        return 0;
    }
    uint64_t coff = entry & s->coffset_mask;
    uint64_t sectors = ((entry >> s->csize_shift) & s->csize_mask) + 1;
    size_t csize = sectors * 512 - (coff & 511);
    g_autofree uint8_t *in = g_malloc(csize);
    int ret = s->file.pread(s->file.opaque, coff, in, csize);
    if (ret < 0) {
        return ret;
    }
    z_stream z = {0};
    if (inflateInit2(&z, -12) != Z_OK) {
        return -ENOMEM;
    }
    z.next_in = in;
    z.avail_in = csize;
    z.next_out = s->zcache;
    z.avail_out = s->cluster_size;
    int zr = inflate(&z, Z_FINISH);
    bool ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR) && z.avail_out == 0;
    inflateEnd(&z);
    s->zcache_offset = ok ? entry : 0;
    return ok ? 0 : -EIO;
}

static int read_backing(Qcow2Image *s, uint64_t guest, uint8_t *buf, uint64_t n)
{
    uint64_t have = 0;
    if (s->has_backing) {
        int64_t blen = s->backing.length(s->backing.opaque);
        if (blen < 0) {
            return (int)blen;
        }
        if (guest < (uint64_t)blen) {
            have = MIN(n, (uint64_t)blen - guest);
            int ret = s->backing.pread(s->backing.opaque, guest, buf, have);
            if (ret < 0) {
                return ret;
            }
        }
    }
    memset(buf + have, 0, n - have);
    return 0;
}

/* Reads n bytes of one cluster whose L2 entry is `entry`, other than a normal cluster's. */
static int read_entry(Qcow2Image *s, uint64_t entry, uint64_t guest, uint8_t *buf, uint64_t n)
{
    switch (qcow2_entry_type(s, entry)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return read_backing(s, guest, buf, n);
    case QCOW2_CLUSTER_ZERO:
        memset(buf, 0, n);
        return 0;
    case QCOW2_CLUSTER_COMPRESSED: {
        int ret = inflate_cluster(s, entry);
        if (ret == 0) {
            memcpy(buf, s->zcache + qcow2_offset_in_cluster(s, guest), n);
        }
        return ret;
    }
    case QCOW2_CLUSTER_NORMAL:
        return s->file.pread(s->file.opaque,
                             (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, guest), buf,
                             n);
    }
    return -EIO;
}

/* Each segment on its own, for a Qcow2File without preadv/pwritev. */
static int file_io_each(Qcow2Image *s, uint64_t host, const struct iovec *iov, int cnt, bool write)
{
    int ret = 0;
    for (int i = 0; ret == 0 && i < cnt; i++) {
        ret = write ? s->file.pwrite(s->file.opaque, host, iov[i].iov_base, iov[i].iov_len)
                    : s->file.pread(s->file.opaque, host, iov[i].iov_base, iov[i].iov_len);
        host += iov[i].iov_len;
    }
    return ret;
}

int qcow2_buf_file_io(Qcow2Image *s, uint64_t host, const Qcow2Buf *b, uint64_t rel, uint64_t len,
                      bool write)
{
    if (b->buf) {
        return write ? s->file.pwrite(s->file.opaque, host, b->buf + rel, len)
                     : s->file.pread(s->file.opaque, host, b->buf + rel, len);
    }
    /* The caller's own segments, cut to the range: the file moves the bytes, we copy none. */
    struct iovec stack[16];
    g_autofree struct iovec *heap = b->iovcnt > 16 ? g_new(struct iovec, b->iovcnt) : NULL;
    struct iovec *part = heap ? heap : stack;
    int cnt = iov_slice(b->iov, b->iovcnt, rel, len, part);
    if (write) {
        return s->file.pwritev ? s->file.pwritev(s->file.opaque, host, part, cnt)
                               : file_io_each(s, host, part, cnt, true);
    }
    return s->file.preadv ? s->file.preadv(s->file.opaque, host, part, cnt)
                          : file_io_each(s, host, part, cnt, false);
}

int qcow2_map_read(Qcow2Image *s, uint64_t off, const Qcow2Buf *dst, size_t len, GArray *reads)
{
    /* Neighbouring normal clusters that are neighbours on the host too make one read. */
    Qcow2Read *run = NULL;

    for (uint64_t pos = off; pos < off + len;) {
        uint64_t n = MIN(s->cluster_size - qcow2_offset_in_cluster(s, pos), off + len - pos);
        uint64_t rel = pos - off;
        uint64_t entry;
        int ret = get_entry(s, pos, &entry);
        if (ret < 0) {
            return ret;
        }
        if (qcow2_entry_type(s, entry) == QCOW2_CLUSTER_NORMAL) {
            uint64_t host = (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, pos);
            if (run && run->host + run->len == host) {
                run->len += n;
            } else {
                Qcow2Read r = {.host = host, .rel = rel, .len = n};
                g_array_append_val(reads, r);
                run = &g_array_index(reads, Qcow2Read, reads->len - 1);
            }
        } else {
            /* Segments get the cluster through the scratch buffer (ours while we hold the
             * lock); the backing is read under the lock, as before. */
            uint8_t *to = dst->buf ? dst->buf + rel : s->cluster_buf;
            ret = read_entry(s, entry, pos, to, n);
            if (ret < 0) {
                return ret;
            }
            if (!dst->buf) {
                iov_from_buf(dst->iov, dst->iovcnt, rel, to, n);
            }
            /* A gap in the guest range: the next data cluster starts a new read. */
            run = NULL;
        }
        pos += n;
    }
    return 0;
}

static Qcow2Status entry_status(const Qcow2Image *s, uint64_t entry)
{
    switch (qcow2_entry_type(s, entry)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return QCOW2_STATUS_UNALLOCATED;
    case QCOW2_CLUSTER_ZERO:
        return QCOW2_STATUS_ZERO;
    default:
        return QCOW2_STATUS_DATA;
    }
}

int qcow2_status_clusters(Qcow2Image *s, uint64_t off, uint64_t len, uint64_t *pnum)
{
    int status = -1;
    uint64_t pos = off;

    while (pos < off + len) {
        uint64_t n = MIN(s->cluster_size - qcow2_offset_in_cluster(s, pos), off + len - pos);
        uint64_t entry;
        int ret = get_entry(s, pos, &entry);
        if (ret < 0) {
            return ret;
        }
        int st = entry_status(s, entry);
        if (status >= 0 && st != status) {
            break;
        }
        status = st;
        pos += n;
    }
    *pnum = pos - off;
    return status < 0 ? QCOW2_STATUS_UNALLOCATED : status;
}

static int write_l1_entry(Qcow2Image *s, uint64_t l1i)
{
    uint8_t be[8];
    qcow2_put_be64(be, s->l1[l1i]);
    return s->file.pwrite(s->file.opaque, s->l1_offset + l1i * 8, be, 8);
}

/*
 * The L2 table for l1i, ours alone: a missing table is allocated empty, a table shared with a
 * snapshot is copied (its entries keep their shared counts, so they lose nothing).
 */
static int writable_l2(Qcow2Image *s, uint64_t l1i, uint64_t *l2_off, uint8_t **table)
{
    int ret = load_l2(s, l1i, table);
    if (ret < 0) {
        return ret;
    }
    uint64_t old = s->l1[l1i] & QCOW2_OFFSET_MASK;
    if (*table && (s->l1[l1i] & QCOW2_OFLAG_COPIED)) {
        *l2_off = old;
        return 0;
    }
    g_autofree uint8_t *copy = g_malloc0(s->cluster_size);
    if (*table) {
        memcpy(copy, *table, s->cluster_size);
    }
    int64_t new_off = qcow2_alloc_clusters(s, 1);
    if (new_off < 0) {
        return (int)new_off;
    }
    ret = s->file.pwrite(s->file.opaque, (uint64_t)new_off, copy, s->cluster_size);
    if (ret < 0) {
        return ret;
    }
    s->l1[l1i] = (uint64_t)new_off | QCOW2_OFLAG_COPIED;
    ret = write_l1_entry(s, l1i);
    if (ret < 0) {
        return ret;
    }
    if (old) {
        ret = qcow2_update_refcount(s, old, s->cluster_size, -1);
        if (ret < 0) {
            return ret;
        }
    }
    *l2_off = (uint64_t)new_off;
    return qcow2_cache_get(s, &s->l2_cache, *l2_off, table);
}

/* Points the L2 entry for `guest` at `entry` on disk; returns the entry it replaced. */
static int set_entry(Qcow2Image *s, uint64_t guest, uint64_t entry, uint64_t *old)
{
    uint64_t l2_off;
    uint8_t *table;
    int ret = writable_l2(s, l1_index(s, guest), &l2_off, &table);
    if (ret < 0) {
        return ret;
    }
    uint64_t i = l2_index(s, guest);
    *old = qcow2_be64(table + i * 8);
    qcow2_put_be64(table + i * 8, entry);
    ret = s->file.pwrite(s->file.opaque, l2_off + i * 8, table + i * 8, 8);
    if (ret < 0) {
        qcow2_cache_forget(&s->l2_cache, l2_off);
    }
    return ret;
}

/* A write into a cluster we may not write in place: see the diagram at the top. */
static int cow_write(Qcow2Image *s, uint64_t entry, uint64_t guest, const Qcow2Buf *src,
                     uint64_t rel, uint64_t n)
{
    uint64_t start = guest - qcow2_offset_in_cluster(s, guest);
    uint8_t *cluster = s->cluster_buf;
    Qcow2ClusterType type = qcow2_entry_type(s, entry);
    bool zeros_around =
        type == QCOW2_CLUSTER_ZERO || (type == QCOW2_CLUSTER_UNALLOCATED && !s->has_backing);
    int ret;

    if (n < s->cluster_size) {
        ret = read_entry(s, entry, start, cluster, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
    }
    uint8_t *data = cluster + (guest - start);
    if (src->buf) {
        memcpy(data, src->buf + rel, n);
    } else {
        iov_to_buf(src->iov, src->iovcnt, rel, data, n);
    }

    /* The L2 table first: allocating it must not land between data and entry. */
    uint64_t l2_off;
    uint8_t *table;
    ret = writable_l2(s, l1_index(s, guest), &l2_off, &table);
    if (ret < 0) {
        return ret;
    }
    int64_t host = qcow2_alloc_clusters(s, 1);
    if (host < 0) {
        return (int)host;
    }
    /*
     * A cluster past the file's end reads as zeros already: when zeros surround the new bytes,
     * only those are written (upstream zeroes such a cluster with fallocate instead).
     */
    int64_t flen = zeros_around ? s->file.length(s->file.opaque) : -1;
    if (flen >= 0 && (uint64_t)host >= (uint64_t)flen) {
        ret = s->file.pwrite(s->file.opaque, (uint64_t)host + (guest - start), data, n);
    } else {
        ret = s->file.pwrite(s->file.opaque, (uint64_t)host, cluster, s->cluster_size);
    }
    if (ret < 0) {
        return ret;
    }
    uint64_t old;
    ret = set_entry(s, guest, (uint64_t)host | QCOW2_OFLAG_COPIED, &old);
    if (ret < 0) {
        return ret;
    }
    return qcow2_free_l2_entry(s, old);
}

int qcow2_write_clusters(Qcow2Image *s, uint64_t off, const Qcow2Buf *src, size_t len)
{
    uint64_t run_host = 0, run_len = 0, run_rel = 0;
    int ret;

    for (uint64_t pos = off; pos < off + len;) {
        uint64_t n = MIN(s->cluster_size - qcow2_offset_in_cluster(s, pos), off + len - pos);
        uint64_t rel = pos - off;
        uint64_t entry;
        ret = get_entry(s, pos, &entry);
        if (ret < 0) {
            return ret;
        }
        bool in_place = qcow2_entry_type(s, entry) == QCOW2_CLUSTER_NORMAL &&
                        (entry & QCOW2_OFLAG_COPIED) &&
                        (s->l1[l1_index(s, pos)] & QCOW2_OFLAG_COPIED);
        if (in_place) {
            uint64_t host = (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, pos);
            if (run_len && run_host + run_len == host) {
                run_len += n;
                pos += n;
                continue;
            }
        }
        if (run_len) {
            ret = qcow2_buf_file_io(s, run_host, src, run_rel, run_len, true);
            if (ret < 0) {
                return ret;
            }
            run_len = 0;
        }
        if (in_place) {
            run_host = (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, pos);
            run_len = n;
            run_rel = rel;
        } else {
            ret = cow_write(s, entry, pos, src, rel, n);
            if (ret < 0) {
                return ret;
            }
        }
        pos += n;
    }
    return run_len ? qcow2_buf_file_io(s, run_host, src, run_rel, run_len, true) : 0;
}

static bool has_backing(const Qcow2Image *s)
{
    return s->has_backing || s->backing_file;
}

int qcow2_discard_clusters(Qcow2Image *s, uint64_t off, uint64_t len, bool zero)
{
    uint64_t cs = s->cluster_size;
    uint64_t start = (off + cs - 1) & ~(cs - 1);
    uint64_t end = (off + len) & ~(cs - 1);

    for (uint64_t pos = start; pos < end; pos += cs) {
        uint64_t entry;
        int ret = get_entry(s, pos, &entry);
        if (ret < 0) {
            return ret;
        }
        uint64_t want = zero ? QCOW2_OFLAG_ZERO : 0;
        Qcow2ClusterType type = qcow2_entry_type(s, entry);
        if (entry == want || (type == QCOW2_CLUSTER_UNALLOCATED && !has_backing(s))) {
            continue; /* already reads as it should */
        }
        uint64_t old;
        ret = set_entry(s, pos, want, &old);
        if (ret == 0) {
            ret = qcow2_free_l2_entry(s, old);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Frees what one L2 table of ours points at (a shared table's entries stay with its owners). */
static int free_l2_contents(Qcow2Image *s, uint64_t l1_entry)
{
    uint64_t l2_off = l1_entry & QCOW2_OFFSET_MASK;
    if (!(l1_entry & QCOW2_OFLAG_COPIED)) {
        return 0;
    }
    g_autofree uint8_t *table = g_malloc(s->cluster_size);
    int ret = s->file.pread(s->file.opaque, l2_off, table, s->cluster_size);
    for (uint64_t i = 0; ret == 0 && i < (UINT64_C(1) << s->l2_bits); i++) {
        ret = qcow2_free_l2_entry(s, qcow2_be64(table + i * 8));
    }
    return ret;
}

int qcow2_drop_all(Qcow2Image *s)
{
    int ret = 0;
    for (uint64_t l1i = 0; l1i < s->l1_size; l1i++) {
        uint64_t l1_entry = s->l1[l1i];
        uint64_t l2_off = l1_entry & QCOW2_OFFSET_MASK;
        if (!l2_off) {
            continue;
        }
        if (qcow2_offset_in_cluster(s, l2_off)) {
            return qcow2_signal_corruption(s, "L2 table offset %#" PRIx64 " unaligned", l2_off);
        }
        /* Unhook the table first: a crash then leaks clusters, it never shares them. */
        s->l1[l1i] = 0;
        ret = write_l1_entry(s, l1i);
        if (ret == 0) {
            ret = free_l2_contents(s, l1_entry);
        }
        if (ret == 0) {
            ret = qcow2_update_refcount(s, l2_off, s->cluster_size, -1);
        }
        if (ret < 0) {
            return ret;
        }
    }
    ret = s->file.flush(s->file.opaque);
    if (ret < 0) {
        return ret;
    }
    /* Give the freed tail back to the file system. */
    int64_t used = qcow2_used_end(s);
    int64_t flen = s->file.length(s->file.opaque);
    if (used < 0 || flen < 0) {
        return used < 0 ? (int)used : (int)flen;
    }
    if ((uint64_t)used < (uint64_t)flen && s->file.truncate) {
        ret = s->file.truncate(s->file.opaque, (uint64_t)used);
        if (ret == 0) {
            s->host_end = (uint64_t)used;
        }
    }
    return ret;
}
