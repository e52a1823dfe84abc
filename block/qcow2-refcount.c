/*
 * qcow2 host cluster accounting: the refcount table points at refcount blocks, each holding
 * 2^refblock_bits counts of refcount_bits (1..64) bits. A count of 0 is a free cluster.
 *
 * Allocation order keeps the image consistent after every write: a cluster's count is raised
 * (and its refcount block written) before anything points at it, and lowered only after the
 * last pointer to it is gone. A crash in between leaks a cluster at worst, never shares one.
 */
#include "block/qcow2-internal.h"

#include <errno.h>
#include <string.h>

#define MAX_REFBLOCK_DEPTH  8
#define MAX_LEAKED_PAST_END 65536

static uint64_t refcount_max(const Qcow2Image *s)
{
    unsigned bits = 1u << s->refcount_order;
    return bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/* Sub-byte widths pack from the least significant bit, as upstream does. */
static uint64_t rb_get(const Qcow2Image *s, const uint8_t *b, uint64_t i)
{
    switch (s->refcount_order) {
    case 0:
    case 1:
    case 2: {
        unsigned bits = 1u << s->refcount_order;
        uint64_t bit = i * bits;
        return (b[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3:
        return b[i];
    default: {
        unsigned bytes = 1u << (s->refcount_order - 3);
        uint64_t v = 0;
        for (unsigned k = 0; k < bytes; k++) {
            v = (v << 8) | b[i * bytes + k];
        }
        return v;
    }
    }
}

/* Stores entry i; returns the byte range of the block that changed. */
static void rb_set(const Qcow2Image *s, uint8_t *b, uint64_t i, uint64_t v, uint64_t *first,
                   unsigned *len)
{
    if (s->refcount_order < 3) {
        unsigned bits = 1u << s->refcount_order;
        uint64_t bit = i * bits;
        uint8_t mask = ((1u << bits) - 1) << (bit % 8);
        b[bit / 8] = (b[bit / 8] & ~mask) | ((v << (bit % 8)) & mask);
        *first = bit / 8;
        *len = 1;
        return;
    }
    unsigned bytes = 1u << (s->refcount_order - 3);
    for (unsigned k = bytes; k-- > 0;) {
        b[i * bytes + k] = v & 0xff;
        v >>= 8;
    }
    *first = i * bytes;
    *len = bytes;
}

int qcow2_refcount_init(Qcow2Image *s)
{
    int ret = qcow2_read_table(s, s->reftable_offset, s->reftable_size, &s->reftable);
    if (ret < 0) {
        return ret;
    }
    int64_t flen = s->file.length(s->file.opaque);
    if (flen < 0) {
        return (int)flen;
    }
    s->host_end = ((uint64_t)flen + s->cluster_size - 1) & ~(s->cluster_size - 1);
    return 0;
}

/* The refcount block for table index rt, or NULL when the table has none (all counts 0). */
static int get_refblock(Qcow2Image *s, uint64_t rt, uint8_t **block, uint64_t *block_off)
{
    *block = NULL;
    *block_off = 0;
    if (rt >= s->reftable_size) {
        return 0;
    }
    uint64_t off = s->reftable[rt] & QCOW2_REFT_OFFSET_MASK;
    if (off == 0) {
        return 0;
    }
    if (qcow2_offset_in_cluster(s, off)) {
        return qcow2_signal_corruption(
            s, "Refblock offset %#" PRIx64 " unaligned (reftable index: %#" PRIx64 ")", off, rt);
    }
    *block_off = off;
    return qcow2_cache_get(s, &s->refblock_cache, off, block);
}

int qcow2_get_refcount(Qcow2Image *s, uint64_t cluster_index, uint64_t *refcount)
{
    uint8_t *block;
    uint64_t block_off;
    int ret = get_refblock(s, cluster_index >> s->refblock_bits, &block, &block_off);
    if (ret < 0) {
        return ret;
    }
    *refcount =
        block ? rb_get(s, block, cluster_index & ((UINT64_C(1) << s->refblock_bits) - 1)) : 0;
    return 0;
}

/* Clusters that hold the in-memory metadata must never look free. */
static bool overlaps_metadata(Qcow2Image *s, uint64_t idx, uint64_t n)
{
    uint64_t start = idx * s->cluster_size, end = (idx + n) * s->cluster_size;
    uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
    uint64_t rt_end = s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size;
    return start < s->cluster_size || (s->l1_size && start < l1_end && s->l1_offset < end) ||
           (start < rt_end && s->reftable_offset < end);
}

/* The first run of n free clusters at or past free_hint. */
static int64_t find_free(Qcow2Image *s, uint64_t n)
{
    uint64_t max_index = (QCOW2_OFFSET_MASK >> s->cluster_bits) - n;
    uint64_t end_index = s->host_end >> s->cluster_bits;
    uint64_t idx = s->free_hint, run = 0;
    int64_t first_free = -1;

    while (run < n) {
        if (idx + run > max_index) {
            return -EFBIG;
        }
        /* Counts past the end of the image are leaks at best; a hostile table is all of them. */
        if (idx + run > end_index + MAX_LEAKED_PAST_END) {
            return qcow2_signal_corruption(s, "Refcounts claim clusters far past the end of "
                                              "the image");
        }
        uint64_t rc;
        int ret = qcow2_get_refcount(s, idx + run, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc == 0) {
            if (first_free < 0) {
                first_free = idx + run;
            }
            run++;
        } else {
            idx += run + 1;
            run = 0;
        }
    }
    if (overlaps_metadata(s, idx, n)) {
        return qcow2_signal_corruption(s,
                                       "Preventing invalid allocation of metadata cluster at "
                                       "%#" PRIx64 "",
                                       idx * s->cluster_size);
    }
    /* Short free runs skipped for n > 1 stay reachable through the hint. */
    s->free_hint = (uint64_t)first_free == idx ? idx + n : (uint64_t)first_free;
    return (int64_t)idx;
}

static int write_reftable_entry(Qcow2Image *s, uint64_t rt)
{
    uint8_t be[8];
    qcow2_put_be64(be, s->reftable[rt]);
    return s->file.pwrite(s->file.opaque, s->reftable_offset + rt * 8, be, 8);
}

static int set_refcount(Qcow2Image *s, uint64_t idx, int delta, int depth);

/*
 * A new refcount block for table index rt. It may describe itself (it lies inside the range it
 * counts); otherwise its own count goes into another block, allocated the same way.
 */
static int alloc_refblock(Qcow2Image *s, uint64_t rt, int depth)
{
    if (depth > MAX_REFBLOCK_DEPTH) {
        return -EIO;
    }
    int64_t c = find_free(s, 1);
    if (c < 0) {
        return (int)c;
    }
    uint64_t off = (uint64_t)c * s->cluster_size;
    g_autofree uint8_t *block = g_malloc0(s->cluster_size);
    bool self = ((uint64_t)c >> s->refblock_bits) == rt;
    if (self) {
        uint64_t first;
        unsigned len;
        rb_set(s, block, (uint64_t)c & ((UINT64_C(1) << s->refblock_bits) - 1), 1, &first, &len);
    }
    s->host_end = MAX(s->host_end, off + s->cluster_size);
    int ret = s->file.pwrite(s->file.opaque, off, block, s->cluster_size);
    if (ret < 0) {
        return ret;
    }
    if (!self) {
        ret = set_refcount(s, (uint64_t)c, 1, depth + 1);
        if (ret < 0) {
            return ret;
        }
    }
    qcow2_cache_forget(&s->refblock_cache, off);
    s->reftable[rt] = off;
    return write_reftable_entry(s, rt);
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/*
 * Moves the refcount table to a larger one at the end of the image. The new table and the
 * refcount blocks that count it (and themselves) are written first, then the header is switched
 * over in one write, then the old table is freed.
 */
static int grow_reftable(Qcow2Image *s, uint64_t need_rt)
{
    uint64_t cs = s->cluster_size, per_block = UINT64_C(1) << s->refblock_bits;
    /* Nothing we allocated lies past host_end (allocations raise it before they are counted). */
    uint64_t area = s->host_end / cs;
    uint64_t entries = 0, table_clusters = 0, blocks = 0;

    /* The table and the blocks count each other: size them until neither changes. */
    for (int iter = 0;; iter++) {
        if (iter > 16) {
            return -EIO;
        }
        uint64_t end = area + blocks + table_clusters;
        uint64_t want = MAX(MAX(need_rt + 1, div_round_up(end, per_block)), s->reftable_size * 2);
        uint64_t n_table = div_round_up(want * 8, cs);
        uint64_t n_blocks = 0;
        end = area + blocks + n_table;
        for (uint64_t r = area / per_block; r <= (end - 1) / per_block; r++) {
            if (r >= s->reftable_size || (s->reftable[r] & QCOW2_REFT_OFFSET_MASK) == 0) {
                n_blocks++;
            }
        }
        entries = n_table * cs / 8;
        if (n_table == table_clusters && n_blocks == blocks) {
            break;
        }
        table_clusters = n_table;
        blocks = n_blocks;
    }
    if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES) {
        return -EFBIG;
    }

    /* Blocks first (clusters area..area+blocks-1), then the table. */
    uint64_t area_end = area + blocks + table_clusters;
    g_autofree uint64_t *table = g_new0(uint64_t, entries);
    memcpy(table, s->reftable, s->reftable_size * 8);
    g_autofree uint8_t *blockbuf = g_malloc0(blocks * cs);
    uint64_t next_block = 0;
    for (uint64_t r = area / per_block; r <= (area_end - 1) / per_block; r++) {
        if ((table[r] & QCOW2_REFT_OFFSET_MASK) == 0) {
            g_assert(next_block < blocks);
            table[r] = (area + next_block++) * cs;
        }
    }
    for (uint64_t c = area; c < area_end; c++) {
        uint64_t r = c / per_block;
        uint64_t boff = table[r] & QCOW2_REFT_OFFSET_MASK;
        uint64_t first;
        unsigned len;
        if (boff >= area * cs) {
            rb_set(s, blockbuf + (boff / cs - area) * cs, c % per_block, 1, &first, &len);
        } else {
            /* An existing block counts this cluster: it already lies below the new area. */
            int ret = set_refcount(s, c, 1, MAX_REFBLOCK_DEPTH);
            if (ret < 0) {
                return ret;
            }
        }
    }
    int ret = blocks ? s->file.pwrite(s->file.opaque, area * cs, blockbuf, blocks * cs) : 0;
    if (ret < 0) {
        return ret;
    }
    g_autofree uint8_t *raw = g_malloc(table_clusters * cs);
    memset(raw, 0, table_clusters * cs);
    for (uint64_t i = 0; i < entries; i++) {
        qcow2_put_be64(raw + i * 8, table[i]);
    }
    uint64_t table_off = (area + blocks) * cs;
    ret = s->file.pwrite(s->file.opaque, table_off, raw, table_clusters * cs);
    if (ret == 0) {
        ret = s->file.flush(s->file.opaque);
    }
    if (ret < 0) {
        return ret;
    }
    uint8_t hdr[12];
    qcow2_put_be64(hdr, table_off);
    hdr[8] = table_clusters >> 24;
    hdr[9] = table_clusters >> 16;
    hdr[10] = table_clusters >> 8;
    hdr[11] = table_clusters;
    ret = s->file.pwrite(s->file.opaque, 48, hdr, sizeof(hdr));
    if (ret == 0) {
        ret = s->file.flush(s->file.opaque);
    }
    if (ret < 0) {
        return ret;
    }

    uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
    g_free(s->reftable);
    s->reftable = g_steal_pointer(&table);
    s->reftable_size = entries;
    s->reftable_offset = table_off;
    s->reftable_clusters = (uint32_t)table_clusters;
    s->host_end = MAX(s->host_end, area_end * cs);
    return qcow2_update_refcount(s, old_off, old_clusters * cs, -1);
}

/*
 * Adds delta to the counts of clusters [idx, idx + n), which one refcount block holds: every
 * count is checked before any changes, and the block's changed bytes go out in one write.
 */
static int update_in_block(Qcow2Image *s, uint64_t idx, uint64_t n, int delta, int depth)
{
    uint64_t rt = idx >> s->refblock_bits;
    int ret;

    if (rt >= s->reftable_size) {
        if (delta < 0) {
            return qcow2_signal_corruption(s, "Freeing a cluster beyond the refcount table");
        }
        ret = grow_reftable(s, rt);
        if (ret < 0) {
            return ret;
        }
    }
    if ((s->reftable[rt] & QCOW2_REFT_OFFSET_MASK) == 0) {
        if (delta < 0) {
            return qcow2_signal_corruption(s, "Freeing a cluster without a refcount block");
        }
        ret = alloc_refblock(s, rt, depth);
        if (ret < 0) {
            return ret;
        }
    }
    uint8_t *block;
    uint64_t block_off;
    ret = get_refblock(s, rt, &block, &block_off);
    if (ret < 0) {
        return ret;
    }
    uint64_t i0 = idx & ((UINT64_C(1) << s->refblock_bits) - 1);
    for (uint64_t i = i0; i < i0 + n; i++) {
        uint64_t rc = rb_get(s, block, i);
        if ((delta < 0 && rc == 0) || (delta > 0 && rc == refcount_max(s))) {
            return qcow2_signal_corruption(
                s, "Refcount of cluster %#" PRIx64 " out of range (%" PRIu64 " %+d)",
                (idx + (i - i0)) * s->cluster_size, rc, delta);
        }
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t i = i0; i < i0 + n; i++) {
        uint64_t rc = rb_get(s, block, i) + delta;
        uint64_t first;
        unsigned len;
        rb_set(s, block, i, rc, &first, &len);
        lo = MIN(lo, first);
        hi = MAX(hi, first + len);
        if (rc == 0) {
            qcow2_cache_forget(&s->l2_cache, (idx + (i - i0)) * s->cluster_size);
            s->zcache_offset = 0;
            s->free_hint = MIN(s->free_hint, idx + (i - i0));
        }
    }
    ret = s->file.pwrite(s->file.opaque, block_off + lo, block + lo, hi - lo);
    if (ret < 0) {
        qcow2_cache_forget(&s->refblock_cache, block_off);
    }
    return ret;
}

static int set_refcount(Qcow2Image *s, uint64_t idx, int delta, int depth)
{
    return update_in_block(s, idx, 1, delta, depth);
}

int qcow2_update_refcount(Qcow2Image *s, uint64_t off, uint64_t len, int delta)
{
    if (len == 0) {
        return 0;
    }
    uint64_t first = off >> s->cluster_bits;
    uint64_t last = (off + len - 1) >> s->cluster_bits;
    uint64_t per_block = UINT64_C(1) << s->refblock_bits;
    /* One write per refcount block the range touches. */
    for (uint64_t idx = first; idx <= last;) {
        uint64_t n = MIN(last - idx + 1, per_block - (idx & (per_block - 1)));
        int ret = update_in_block(s, idx, n, delta, 0);
        if (ret < 0) {
            return ret;
        }
        idx += n;
    }
    return 0;
}

int64_t qcow2_alloc_clusters(Qcow2Image *s, uint64_t n)
{
    int64_t idx = find_free(s, n);
    if (idx < 0) {
        return idx;
    }
    uint64_t off = (uint64_t)idx << s->cluster_bits;
    /* Counted before use: blocks allocated meanwhile start past this run (free_hint). */
    /* host_end too: a refcount table that moves goes past this run, not onto it. */
    uint64_t hint = s->free_hint;
    s->free_hint = MAX(s->free_hint, (uint64_t)idx + n);
    s->host_end = MAX(s->host_end, off + n * s->cluster_size);
    int ret = qcow2_update_refcount(s, off, n * s->cluster_size, 1);
    s->free_hint = MIN(s->free_hint, hint);
    if (ret < 0) {
        return ret;
    }
    return (int64_t)off;
}

int qcow2_free_l2_entry(Qcow2Image *s, uint64_t entry)
{
    switch (qcow2_entry_type(s, entry)) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coff = entry & s->coffset_mask;
        uint64_t sectors = ((entry >> s->csize_shift) & s->csize_mask) + 1;
        return qcow2_update_refcount(s, coff & ~511ull, sectors * 512, -1);
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO:
        if (entry & QCOW2_OFFSET_MASK) {
            return qcow2_update_refcount(s, entry & QCOW2_OFFSET_MASK, s->cluster_size, -1);
        }
        return 0;
    default:
        return 0;
    }
}

int64_t qcow2_used_end(Qcow2Image *s)
{
    /* Only up to host_end: counts past it are leaks, and the scan must stay bounded. */
    uint64_t last_rt = (s->host_end >> s->cluster_bits) >> s->refblock_bits;
    for (uint64_t rt = MIN(s->reftable_size, last_rt + 1); rt-- > 0;) {
        uint8_t *block;
        uint64_t block_off;
        int ret = get_refblock(s, rt, &block, &block_off);
        if (ret < 0) {
            return ret;
        }
        if (!block) {
            continue;
        }
        for (uint64_t i = UINT64_C(1) << s->refblock_bits; i-- > 0;) {
            if (rb_get(s, block, i)) {
                return (int64_t)(((rt << s->refblock_bits) + i + 1) << s->cluster_bits);
            }
        }
    }
    return 0;
}
