/*
 * qcow2 guest-to-host mapping: L1/L2 lookups, reads (data, zeros, backing, compressed), writes
 * with copy-on-write of partial and shared clusters, discard and zero clusters.
 *
 * A write into a cluster that is not exclusively ours (unallocated, zero, compressed, or shared
 * with a snapshot: no COPIED flag) goes to a new cluster:
 *
 *   old content (backing / zeros / inflated / shared copy) + new bytes
 *     -> allocate (refcount 1) -> write data -> point the L2 entry at it -> drop the old ref
 *
 * A request's neighbouring clusters of that kind under one L2 table go through these steps
 * together: contiguous host clusters, one data write (old content only at the run's two ends),
 * one write of their L2 entries.
 */
#include "block/qcow2-internal.h"
#include "util/iov.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

void qcow2_cache_init(Qcow2Cache *c, unsigned n_slots, uint64_t table_size)
{
    *c = (Qcow2Cache){.slots = g_new0(Qcow2CacheSlot, n_slots),
                      .n_slots = n_slots,
                      .table_size = table_size,
                      .index = g_hash_table_new(g_int64_hash, g_int64_equal)};
    g_queue_init(&c->lru);
    for (unsigned i = 0; i < n_slots; i++) {
        c->slots[i].link.data = &c->slots[i];
    }
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    for (unsigned i = 0; c->slots && i < c->n_slots; i++) {
        g_free(c->slots[i].data);
    }
    g_free(c->slots);
    g_clear_pointer(&c->index, g_hash_table_destroy);
    c->slots = NULL;
}

static void cache_touch(Qcow2Cache *c, Qcow2CacheSlot *slot)
{
    g_queue_unlink(&c->lru, &slot->link);
    g_queue_push_head_link(&c->lru, &slot->link);
}

uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t offset)
{
    Qcow2CacheSlot *slot = offset ? g_hash_table_lookup(c->index, &offset) : NULL;
    if (!slot) {
        return NULL;
    }
    cache_touch(c, slot);
    return slot->data;
}

int qcow2_cache_get(Qcow2Image *s, Qcow2Cache *c, uint64_t offset, uint8_t **table)
{
    *table = qcow2_cache_peek(c, offset);
    if (*table) {
        return 0;
    }
    Qcow2CacheSlot *victim;
    if (c->n_used < c->n_slots) {
        victim = &c->slots[c->n_used++];
        victim->data = g_malloc(c->table_size);
    } else {
        victim = g_queue_pop_tail_link(&c->lru)->data;
        if (victim->offset) {
            g_hash_table_remove(c->index, &victim->offset);
            victim->offset = 0;
        }
    }
    /* Least recently used until it holds the table: the next victim if the read fails. */
    g_queue_push_tail_link(&c->lru, &victim->link);
    int ret = s->file.pread(s->file.opaque, offset, victim->data, c->table_size);
    if (ret < 0) {
        return ret;
    }
    victim->offset = offset;
    g_hash_table_add(c->index, &victim->offset);
    cache_touch(c, victim);
    *table = victim->data;
    return 0;
}

void qcow2_cache_forget(Qcow2Cache *c, uint64_t offset)
{
    Qcow2CacheSlot *slot = offset ? g_hash_table_lookup(c->index, &offset) : NULL;
    if (slot) {
        g_hash_table_remove(c->index, &slot->offset);
        slot->offset = 0;
        g_queue_unlink(&c->lru, &slot->link);
        g_queue_push_tail_link(&c->lru, &slot->link);
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
                      Qcow2IoKind kind)
{
    bool write = kind == QCOW2_IO_WRITE;
    if (b->buf) {
        return write ? s->file.pwrite(s->file.opaque, host, b->buf + rel, len)
                     : s->file.pread(s->file.opaque, host, b->buf + rel, len);
    }
    /* The caller's own segments, cut to the range: the file moves the bytes, we copy none. */
    struct iovec stack[16];
    g_autofree struct iovec *heap = b->iovcnt > 16 ? g_new(struct iovec, b->iovcnt) : NULL;
    struct iovec *part = heap ? heap : stack;
    int cnt = iov_slice(b->iov, b->iovcnt, rel, len, part);
    if (kind == QCOW2_IO_READ_NOWAIT) {
        return s->file.preadv_nowait(s->file.opaque, host, part, cnt);
    }
    if (write) {
        return s->file.pwritev ? s->file.pwritev(s->file.opaque, host, part, cnt)
                               : file_io_each(s, host, part, cnt, true);
    }
    return s->file.preadv ? s->file.preadv(s->file.opaque, host, part, cnt)
                          : file_io_each(s, host, part, cnt, false);
}

/* Appends n guest bytes at host to the reads, merged with the last one if they follow it. */
static void add_read(GArray *reads, bool *merge, uint64_t host, uint64_t rel, uint64_t n)
{
    Qcow2Read *last = reads->len ? &g_array_index(reads, Qcow2Read, reads->len - 1) : NULL;
    if (*merge && last && last->host + last->len == host) {
        last->len += n;
    } else {
        Qcow2Read r = {.host = host, .rel = rel, .len = n};
        g_array_append_val(reads, r);
    }
    *merge = true;
}

int qcow2_map_read(Qcow2Image *s, uint64_t off, const Qcow2Buf *dst, size_t len, GArray *reads)
{
    /* Neighbouring normal clusters that are neighbours on the host too make one read. */
    bool merge = false;

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
            add_read(reads, &merge, host, rel, n);
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
            merge = false;
        }
        pos += n;
    }
    return 0;
}

int qcow2_map_read_cached(Qcow2Image *s, uint64_t off, size_t len, GArray *reads)
{
    bool merge = false;
    for (uint64_t pos = off; pos < off + len;) {
        uint64_t n = MIN(s->cluster_size - qcow2_offset_in_cluster(s, pos), off + len - pos);
        uint64_t l1i = l1_index(s, pos);
        uint64_t l2_off = l1i < s->l1_size ? s->l1[l1i] & QCOW2_OFFSET_MASK : 0;
        uint8_t *table = l2_off ? qcow2_cache_peek(&s->l2_cache, l2_off) : NULL;
        if (!table) {
            return -EAGAIN;
        }
        uint64_t entry = qcow2_be64(table + l2_index(s, pos) * 8);
        uint64_t host = entry & QCOW2_OFFSET_MASK;
        if (qcow2_entry_type(s, entry) != QCOW2_CLUSTER_NORMAL ||
            qcow2_offset_in_cluster(s, host)) {
            return -EAGAIN;
        }
        add_read(reads, &merge, host + qcow2_offset_in_cluster(s, pos), pos - off, n);
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

/* Zeros surround new bytes in a cluster of this type (no backing file shows through). */
static bool reads_as_zeros(const Qcow2Image *s, uint64_t entry)
{
    Qcow2ClusterType type = qcow2_entry_type(s, entry);
    return type == QCOW2_CLUSTER_ZERO || (type == QCOW2_CLUSTER_UNALLOCATED && !s->has_backing);
}

/* Writes head, bytes [rel, rel + len) of src, then tail, to the file at host in one call. */
static int write_joined(Qcow2Image *s, uint64_t host, const uint8_t *head, uint64_t head_len,
                        const Qcow2Buf *src, uint64_t rel, uint64_t len, const uint8_t *tail,
                        uint64_t tail_len)
{
    if (!head_len && !tail_len) {
        return qcow2_buf_file_io(s, host, src, rel, len, QCOW2_IO_WRITE);
    }
    int room = (src->buf ? 1 : src->iovcnt) + 2;
    struct iovec stack[18];
    g_autofree struct iovec *heap = room > 18 ? g_new(struct iovec, room) : NULL;
    struct iovec *iov = heap ? heap : stack;
    int cnt = 0;
    if (head_len) {
        iov[cnt++] = (struct iovec){.iov_base = (void *)head, .iov_len = head_len};
    }
    if (src->buf) {
        iov[cnt++] = (struct iovec){.iov_base = src->buf + rel, .iov_len = len};
    } else {
        cnt += iov_slice(src->iov, src->iovcnt, rel, len, iov + cnt);
    }
    if (tail_len) {
        iov[cnt++] = (struct iovec){.iov_base = (void *)tail, .iov_len = tail_len};
    }
    return s->file.pwritev ? s->file.pwritev(s->file.opaque, host, iov, cnt)
                           : file_io_each(s, host, iov, cnt, true);
}

/*
 * Guest bytes [guest, end) into clusters we may not write in place, all under one L2 table: see
 * the diagram at the top, done for the whole run at once. One allocation of contiguous host
 * clusters (one refcount write per refcount block), one write of the data with the old contents
 * around it in the first and last cluster, one write of the run's L2 entries, then the old
 * clusters' references are dropped.
 */
static int alloc_write(Qcow2Image *s, uint64_t guest, uint64_t end, const Qcow2Buf *src,
                       uint64_t rel, uint64_t first_entry, uint64_t last_entry)
{
    uint64_t cs = s->cluster_size;
    uint64_t start = guest - qcow2_offset_in_cluster(s, guest);
    uint64_t n = (end - start + cs - 1) / cs;
    uint64_t head_len = guest - start;
    uint64_t tail_len = start + n * cs - end;
    uint8_t *head = s->cluster_buf, *tail = s->tail_buf;
    int ret;

    /* The old contents around the new bytes, read before anything changes. */
    if (head_len) {
        ret = read_entry(s, first_entry, start, head, head_len);
        if (ret < 0) {
            return ret;
        }
    }
    if (tail_len) {
        ret = read_entry(s, last_entry, end, tail, tail_len);
        if (ret < 0) {
            return ret;
        }
    }

    /* The L2 table first: allocating it must not land between data and entry. */
    uint64_t l2_off;
    uint8_t *table;
    ret = writable_l2(s, l1_index(s, guest), &l2_off, &table);
    if (ret < 0) {
        return ret;
    }
    int64_t host = qcow2_alloc_clusters(s, n);
    if (host < 0) {
        return (int)host;
    }
    /*
     * Clusters past the file's end read as zeros already: where zeros surround the new bytes,
     * they are not written (upstream zeroes such clusters with fallocate instead).
     */
    uint64_t at = (uint64_t)host;
    if ((head_len && reads_as_zeros(s, first_entry)) ||
        (tail_len && reads_as_zeros(s, last_entry))) {
        int64_t flen = s->file.length(s->file.opaque);
        if (flen >= 0 && (uint64_t)host >= (uint64_t)flen) {
            if (head_len && reads_as_zeros(s, first_entry)) {
                at += head_len;
                head_len = 0;
            }
            if (tail_len && reads_as_zeros(s, last_entry)) {
                tail_len = 0;
            }
        }
    }
    ret = write_joined(s, at, head, head_len, src, rel, end - guest, tail, tail_len);
    if (ret < 0) {
        return ret;
    }

    /* The table is still ours and cached (writable_l2 finds it at once). */
    ret = writable_l2(s, l1_index(s, guest), &l2_off, &table);
    if (ret < 0) {
        return ret;
    }
    uint64_t i0 = l2_index(s, guest);
    g_autofree uint64_t *old = g_new(uint64_t, n);
    for (uint64_t j = 0; j < n; j++) {
        old[j] = qcow2_be64(table + (i0 + j) * 8);
        qcow2_put_be64(table + (i0 + j) * 8, ((uint64_t)host + j * cs) | QCOW2_OFLAG_COPIED);
    }
    ret = s->file.pwrite(s->file.opaque, l2_off + i0 * 8, table + i0 * 8, n * 8);
    if (ret < 0) {
        qcow2_cache_forget(&s->l2_cache, l2_off);
        return ret;
    }
    for (uint64_t j = 0; ret == 0 && j < n; j++) {
        ret = qcow2_free_l2_entry(s, old[j]);
    }
    return ret;
}

/* A data cluster that only this image's active L2 table refers to (COPIED all the way). */
static bool writable_in_place(const Qcow2Image *s, uint64_t guest, uint64_t entry)
{
    return qcow2_entry_type(s, entry) == QCOW2_CLUSTER_NORMAL && (entry & QCOW2_OFLAG_COPIED) &&
           (s->l1[l1_index(s, guest)] & QCOW2_OFLAG_COPIED);
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
        bool in_place = writable_in_place(s, pos, entry);
        if (in_place) {
            uint64_t host = (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, pos);
            if (run_len && run_host + run_len == host) {
                run_len += n;
                pos += n;
                continue;
            }
        }
        if (run_len) {
            ret = qcow2_buf_file_io(s, run_host, src, run_rel, run_len, QCOW2_IO_WRITE);
            if (ret < 0) {
                return ret;
            }
            run_len = 0;
        }
        if (in_place) {
            run_host = (entry & QCOW2_OFFSET_MASK) + qcow2_offset_in_cluster(s, pos);
            run_len = n;
            run_rel = rel;
            pos += n;
            continue;
        }
        /* The clusters after this one, up to the L2 table's end, that need allocating too. */
        uint64_t end = pos + n, last_entry = entry;
        while (end < off + len && l1_index(s, end) == l1_index(s, pos)) {
            uint64_t next;
            ret = get_entry(s, end, &next);
            if (ret < 0) {
                return ret;
            }
            if (writable_in_place(s, end, next)) {
                break;
            }
            last_entry = next;
            end = MIN(end + s->cluster_size, off + len);
        }
        ret = alloc_write(s, pos, end, src, rel, entry, last_entry);
        if (ret < 0) {
            return ret;
        }
        pos = end;
    }
    return run_len ? qcow2_buf_file_io(s, run_host, src, run_rel, run_len, QCOW2_IO_WRITE) : 0;
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
