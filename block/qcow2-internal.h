/*
 * qcow2 internals shared by qcow2.c (header, open, API), qcow2-refcount.c (host cluster
 * accounting) and qcow2-cluster.c (guest to host mapping, read and write paths).
 * Every function here expects the image lock held.
 */
#ifndef BLOCK_QCOW2_INTERNAL_H
#define BLOCK_QCOW2_INTERNAL_H

#include "block/qcow2.h"

#include <string.h>

#define QCOW2_MAGIC              0x514649fbu /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS   9
#define QCOW2_MAX_CLUSTER_BITS   21
#define QCOW2_MAX_L1_BYTES       (32u * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (8u * 1024 * 1024)
#define QCOW2_MAX_SNAPSHOTS      65536
#define QCOW2_SNAPSHOT_HDR_BYTES 40
#define QCOW2_V2_HEADER_BYTES    72
#define QCOW2_V3_HEADER_BYTES    104

#define QCOW2_INCOMPAT_DIRTY     (UINT64_C(1) << 0)
#define QCOW2_INCOMPAT_CORRUPT   (UINT64_C(1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE (UINT64_C(1) << 2)
#define QCOW2_INCOMPAT_COMPRESS  (UINT64_C(1) << 3)
#define QCOW2_INCOMPAT_EXTL2     (UINT64_C(1) << 4)
#define QCOW2_COMPAT_LAZY        (UINT64_C(1) << 0)

#define QCOW2_EXT_END          0x00000000u
#define QCOW2_EXT_BACKING_FMT  0xe2792acau
#define QCOW2_EXT_FEATURE_NAME 0x6803f857u

/* L1 and L2 entries. */
#define QCOW2_OFLAG_COPIED     (UINT64_C(1) << 63) /* refcount is exactly 1: write in place */
#define QCOW2_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO       (UINT64_C(1) << 0)
#define QCOW2_OFFSET_MASK      UINT64_C(0x00fffffffffffe00) /* bits 9-55 */
#define QCOW2_L1_RESERVED      UINT64_C(0x7f000000000001ff)
#define QCOW2_L2_RESERVED      UINT64_C(0x3f000000000001fe)
#define QCOW2_REFT_OFFSET_MASK UINT64_C(0xfffffffffffffe00)

typedef enum {
    QCOW2_CLUSTER_UNALLOCATED, /* reads from the backing file, or zeros */
    QCOW2_CLUSTER_ZERO,        /* reads as zeros; may still hold a host cluster */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

/*
 * Cluster-sized tables (L2 tables, refcount blocks) kept in memory, written through: found by
 * offset in a hash table, the least recently used one replaced; a slot's buffer is allocated
 * when it is first filled, so a large cache costs memory only as the image is used.
 */
typedef struct Qcow2CacheSlot {
    uint64_t offset; /* 0: empty */
    uint8_t *data;
    GList link; /* in the cache's lru queue */
} Qcow2CacheSlot;

typedef struct Qcow2Cache {
    Qcow2CacheSlot *slots;
    unsigned n_slots;
    unsigned n_used; /* slots [0, n_used) have been filled once */
    uint64_t table_size;
    /* &slot->offset (its first member, so the slot itself) of each slot holding a table */
    GHashTable *index;
    GQueue lru; /* filled slots, most recently used first; emptied ones last */
} Qcow2Cache;

struct Qcow2Image {
    /*
     * Reads map under the lock and read data clusters without it; anything that may move or
     * free a cluster first waits until no such read is in flight (and new reads wait for it).
     */
    GMutex lock;
    GCond io_cond;
    unsigned reads_in_flight;
    unsigned writers_waiting;
    Qcow2File file;
    Qcow2Backing backing;
    bool has_backing;
    bool writable;
    bool corrupt; /* found corrupt since open (or flagged): no more writes */
    Qcow2CorruptionFn *on_corruption;
    void *on_corruption_opaque;

    int version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    unsigned l2_bits; /* entries per L2 table = 2^l2_bits */
    uint64_t virtual_size;
    uint32_t header_length;
    uint64_t incompatible, compatible, autoclear;
    unsigned refcount_order;
    unsigned refblock_bits; /* entries per refcount block = 2^refblock_bits */
    unsigned csize_shift;
    uint64_t csize_mask;
    uint64_t coffset_mask;

    uint64_t *l1; /* host order */
    uint32_t l1_size;
    uint64_t l1_offset;

    uint64_t *reftable;     /* host order */
    uint64_t reftable_size; /* entries */
    uint64_t reftable_offset;
    uint32_t reftable_clusters;

    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    char *backing_file;
    char *backing_format;

    Qcow2Cache l2_cache;
    Qcow2Cache refblock_cache;

    uint64_t free_hint; /* no free cluster below this index */
    uint64_t host_end;  /* first byte past every allocated cluster and the file's end */

    /* The last compressed cluster inflated, for sequential reads of compressed images. */
    uint64_t zcache_offset; /* 0: empty */
    uint8_t *zcache;
    uint8_t *cluster_buf; /* scratch: one cluster */
    uint8_t *tail_buf;    /* scratch: the last cluster of an allocating write */
};

static inline uint64_t qcow2_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_BE(v);
}

static inline void qcow2_put_be64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

/*
 * Big-endian table entries read from the file, turned to host order in place. Not traced for
 * the fuzzer: a hostile header may ask for a 32 MiB L1 table, and a trace call per entry makes
 * one input take seconds while nothing here depends on the data.
 */
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
static inline void
qcow2_be64_to_host(uint64_t *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        table[i] = GUINT64_FROM_BE(table[i]);
    }
}

static inline uint64_t qcow2_offset_in_cluster(const Qcow2Image *s, uint64_t off)
{
    return off & (s->cluster_size - 1);
}

/* Reads a table of n big-endian 64-bit entries at off into *table (g_free it), in host order.
 * A hostile header may put up to 32 MiB of table behind a file of a few KB; the part past the
 * file's end reads as zeroes, so it is left as the untouched pages of a zeroed allocation and
 * only the part inside the file is read and converted: the cost follows the file, not the
 * header. */
int qcow2_read_table(Qcow2Image *s, uint64_t off, uint64_t n, uint64_t **table);

/* Marks the image corrupt (on disk too when it is v3 and writable); returns -EIO. */
int qcow2_signal_corruption(Qcow2Image *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Table cache (qcow2-cluster.c). Upstream's default L2 cache holds the tables of the whole
 * image, up to 32 MiB of them; ours never fewer than 16. */
#define QCOW2_L2_CACHE_MAX_BYTES    (32u * 1024 * 1024)
#define QCOW2_L2_CACHE_MIN_TABLES   16
#define QCOW2_REFBLOCK_CACHE_TABLES 8
void qcow2_cache_init(Qcow2Cache *c, unsigned n_slots, uint64_t table_size);
void qcow2_cache_destroy(Qcow2Cache *c);
int qcow2_cache_get(Qcow2Image *s, Qcow2Cache *c, uint64_t offset, uint8_t **table);
void qcow2_cache_forget(Qcow2Cache *c, uint64_t offset);
/* The cached table at offset, or NULL: never reads the file. */
uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t offset);

/* Refcounts (qcow2-refcount.c). */
int qcow2_refcount_init(Qcow2Image *s);
int qcow2_get_refcount(Qcow2Image *s, uint64_t cluster_index, uint64_t *refcount);
/* Allocates `n` contiguous free clusters with refcount 1; returns the host offset or -errno. */
int64_t qcow2_alloc_clusters(Qcow2Image *s, uint64_t n);
/* Adds `delta` (+1 or -1) to the refcount of every cluster touching [off, off + len). */
int qcow2_update_refcount(Qcow2Image *s, uint64_t off, uint64_t len, int delta);
/* Drops the reference that an L2 entry holds (normal or compressed cluster). */
int qcow2_free_l2_entry(Qcow2Image *s, uint64_t entry);
/* The first byte past the last cluster in use. */
int64_t qcow2_used_end(Qcow2Image *s);

/* Mapping and I/O (qcow2-cluster.c). */
Qcow2ClusterType qcow2_entry_type(const Qcow2Image *s, uint64_t entry);
/* A request's guest bytes: one buffer (buf), or else the caller's segments (iov). Offsets
 * into it ("rel") count from the request's first byte. */
typedef struct Qcow2Buf {
    uint8_t *buf;
    const struct iovec *iov;
    int iovcnt;
} Qcow2Buf;
typedef enum {
    QCOW2_IO_READ,
    QCOW2_IO_WRITE,
    QCOW2_IO_READ_NOWAIT, /* the file's preadv_nowait, on segments only */
} Qcow2IoKind;
/* Moves bytes [rel, rel + len) of b to or from the image file at host. */
int qcow2_buf_file_io(Qcow2Image *s, uint64_t host, const Qcow2Buf *b, uint64_t rel, uint64_t len,
                      Qcow2IoKind kind);
/* A read of data clusters, done after the lock is dropped (see qcow2_read). */
typedef struct Qcow2Read {
    uint64_t host;
    uint64_t rel;
    uint64_t len;
} Qcow2Read;
/* Fills what is not in data clusters (zeros, backing, compressed) and lists the reads left. */
int qcow2_map_read(Qcow2Image *s, uint64_t off, const Qcow2Buf *dst, size_t len, GArray *reads);
/* The reads of a range made of data clusters under cached L2 tables only, else -EAGAIN; reads
 * nothing from the file and reports nothing. */
int qcow2_map_read_cached(Qcow2Image *s, uint64_t off, size_t len, GArray *reads);
int qcow2_write_clusters(Qcow2Image *s, uint64_t off, const Qcow2Buf *src, size_t len);
/* Whole clusters only: full drops the mapping (reads the backing), else it reads as zero. */
int qcow2_discard_clusters(Qcow2Image *s, uint64_t off, uint64_t len, bool zero);
int qcow2_drop_all(Qcow2Image *s);
int qcow2_status_clusters(Qcow2Image *s, uint64_t off, uint64_t len, uint64_t *pnum);
/* Writes the header fields that change at run time (features, refcount table). */
int qcow2_write_header_features(Qcow2Image *s);

#endif
