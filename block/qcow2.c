/*
 * qcow2: the header, its extensions and the checks that make a hostile image safe to open, and
 * the locked entry points of include/block/qcow2.h.
 */
#include "block/qcow2-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/iov.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool qcow2_probe(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    return len >= 8 && be32(p) == QCOW2_MAGIC && be32(p + 4) >= 2;
}

int qcow2_signal_corruption(Qcow2Image *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (!s->corrupt) {
        /* Upstream's wording; a read-only image is only reported, as upstream does. */
        if (s->writable) {
            fprintf(stderr,
                    "qcow2: Marking image as corrupt: %s; further corruption events "
                    "will be suppressed\n",
                    msg);
        } else {
            fprintf(stderr,
                    "qcow2: Image is corrupt: %s; further non-fatal corruption events "
                    "will be suppressed\n",
                    msg);
        }
        s->corrupt = true;
        if (s->writable && s->version >= 3) {
            s->incompatible |= QCOW2_INCOMPAT_CORRUPT;
            qcow2_write_header_features(s);
        }
        if (s->on_corruption) {
            s->on_corruption(s->on_corruption_opaque, msg, s->writable);
        }
    }
    return -EIO;
}

void qcow2_set_corruption_handler(Qcow2Image *s, Qcow2CorruptionFn *fn, void *opaque)
{
    g_mutex_lock(&s->lock);
    s->on_corruption = fn;
    s->on_corruption_opaque = opaque;
    g_mutex_unlock(&s->lock);
}

int qcow2_write_header_features(Qcow2Image *s)
{
    uint8_t buf[24];

    if (s->version < 3) {
        return 0;
    }
    qcow2_put_be64(buf, s->incompatible);
    qcow2_put_be64(buf + 8, s->compatible);
    qcow2_put_be64(buf + 16, s->autoclear);
    int ret = s->file.pwrite(s->file.opaque, 72, buf, sizeof(buf));
    if (ret < 0) {
        return ret;
    }
    return s->file.flush(s->file.opaque);
}

/* Upstream's table check: an entry count within its limit, at a cluster-aligned offset. */
static bool validate_table(Qcow2Image *s, uint64_t offset, uint64_t entries, uint64_t entry_len,
                           uint64_t max_bytes, const char *name, GError **errp)
{
    if (entries > max_bytes / entry_len) {
        error_setg(errp, "%s too large", name);
        return false;
    }
    if ((uint64_t)INT64_MAX - entries * entry_len < offset ||
        qcow2_offset_in_cluster(s, offset) != 0) {
        error_setg(errp, "%s offset invalid", name);
        return false;
    }
    return true;
}

typedef struct FeatureName {
    uint8_t type;
    uint8_t bit;
    char name[47];
} FeatureName;

/* Names of incompatible features upstream would print, from the image's own table first. */
static void report_unsupported_features(GError **errp, GArray *table, uint64_t mask)
{
    static const char *const known[] = {"dirty bit", "corrupt bit", "external data file",
                                        "compression type", "extended L2 entries"};
    g_autoptr(GString) list = g_string_new(NULL);

    for (guint i = 0; table && i < table->len; i++) {
        FeatureName *f = &g_array_index(table, FeatureName, i);
        if (f->type == 0 && f->bit < 64 && (mask & (UINT64_C(1) << f->bit))) {
            g_string_append_printf(list, "%s%s", list->len ? ", " : "", f->name);
            mask &= ~(UINT64_C(1) << f->bit);
        }
    }
    for (unsigned bit = 0; bit < G_N_ELEMENTS(known); bit++) {
        if (mask & (UINT64_C(1) << bit)) {
            g_string_append_printf(list, "%s%s", list->len ? ", " : "", known[bit]);
            mask &= ~(UINT64_C(1) << bit);
        }
    }
    if (mask) {
        g_string_append_printf(list, "%sUnknown incompatible feature: %" PRIx64 "",
                               list->len ? ", " : "", mask);
    }
    error_setg(errp, "Unsupported qcow2 feature(s): %s", list->str);
}

/*
 * Header extensions live between the header and `end` (the backing file name, or the end of
 * the first cluster): type, length, data padded to 8 bytes.
 */
static bool read_extensions(Qcow2Image *s, const uint8_t *cluster0, uint64_t start, uint64_t end,
                            GArray *features, GError **errp)
{
    uint64_t off = start;

    while (off < end) {
        if (end - off < 8) {
            error_setg(errp, "Header extension too large");
            return false;
        }
        uint32_t type = be32(cluster0 + off);
        uint32_t len = be32(cluster0 + off + 4);
        off += 8;
        if (len > end - off) {
            error_setg(errp, "Header extension too large");
            return false;
        }
        const uint8_t *data = cluster0 + off;
        switch (type) {
        case QCOW2_EXT_END:
            return true;
        case QCOW2_EXT_BACKING_FMT:
            if (len >= 16) {
                error_setg(errp, "ERROR: ext_backing_format: len=%u too large (>=16)", len);
                return false;
            }
            g_free(s->backing_format);
            s->backing_format = g_strndup((const char *)data, len);
            break;
        case QCOW2_EXT_FEATURE_NAME:
            for (uint32_t i = 0; features && i + 48 <= len; i += 48) {
                FeatureName f = {.type = data[i], .bit = data[i + 1]};
                memcpy(f.name, data + i + 2, 46);
                g_array_append_val(features, f);
            }
            break;
        default:
            break; /* bitmaps, encryption, ...: unknown extensions are kept untouched */
        }
        off += ((uint64_t)len + 7) & ~7ull;
    }
    return true;
}

static int read_l1(Qcow2Image *s)
{
    if (s->l1_size == 0) {
        return 0;
    }
    return qcow2_read_table(s, s->l1_offset, s->l1_size, &s->l1);
}

int qcow2_read_table(Qcow2Image *s, uint64_t off, uint64_t n, uint64_t **table)
{
    /* calloc hands out fresh mappings for big tables: zero pages never touched */
    *table = g_new0(uint64_t, n);
    uint64_t in_file = n;
    int64_t flen = s->file.length(s->file.opaque);
    if (flen >= 0) {
        in_file = (uint64_t)flen > off ? MIN(n, ((uint64_t)flen - off + 7) / 8) : 0;
    }
    if (in_file) {
        int ret = s->file.pread(s->file.opaque, off, *table, (size_t)in_file * 8);
        if (ret < 0) {
            return ret;
        }
    }
    qcow2_be64_to_host(*table, in_file);
    return 0;
}

static bool parse_header(Qcow2Image *s, int flags, GError **errp)
{
    int64_t flen = s->file.length(s->file.opaque);
    if (flen < 0) {
        error_setg_errno(errp, (int)-flen, "Could not read qcow2 header");
        return false;
    }
    uint8_t hdr[QCOW2_V3_HEADER_BYTES + 8] = {0};
    size_t want = MIN((uint64_t)flen, sizeof(hdr));
    int ret = want ? s->file.pread(s->file.opaque, 0, hdr, want) : 0;
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return false;
    }
    if (want < QCOW2_V2_HEADER_BYTES || be32(hdr) != QCOW2_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return false;
    }
    uint32_t version = be32(hdr + 4);
    if (version < 2 || version > 3) {
        error_setg(errp, "Unsupported qcow2 version %u", version);
        return false;
    }
    s->version = version;
    uint32_t cluster_bits = be32(hdr + 20);
    if (cluster_bits < QCOW2_MIN_CLUSTER_BITS || cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        error_setg(errp, "Unsupported cluster size: 2^%u", cluster_bits);
        return false;
    }
    s->cluster_bits = cluster_bits;
    s->cluster_size = UINT64_C(1) << cluster_bits;
    s->l2_bits = cluster_bits - 3;

    uint64_t backing_off = qcow2_be64(hdr + 8);
    uint32_t backing_len = be32(hdr + 16);
    s->virtual_size = qcow2_be64(hdr + 24);
    uint32_t crypt = be32(hdr + 32);
    s->l1_size = be32(hdr + 36);
    s->l1_offset = qcow2_be64(hdr + 40);
    s->reftable_offset = qcow2_be64(hdr + 48);
    s->reftable_clusters = be32(hdr + 56);
    s->nb_snapshots = be32(hdr + 60);
    s->snapshots_offset = qcow2_be64(hdr + 64);

    uint32_t compression = 0;
    if (version == 2) {
        s->refcount_order = 4;
        s->header_length = QCOW2_V2_HEADER_BYTES;
    } else {
        s->incompatible = qcow2_be64(hdr + 72);
        s->compatible = qcow2_be64(hdr + 80);
        s->autoclear = qcow2_be64(hdr + 88);
        s->refcount_order = be32(hdr + 96);
        s->header_length = be32(hdr + 100);
        if (s->header_length < QCOW2_V3_HEADER_BYTES) {
            error_setg(errp, "qcow2 header too short");
            return false;
        }
        if (s->header_length > QCOW2_V3_HEADER_BYTES) {
            compression = hdr[104];
        }
    }
    if (s->header_length > s->cluster_size) {
        error_setg(errp, "qcow2 header exceeds cluster size");
        return false;
    }
    if (backing_off > s->cluster_size) {
        error_setg(errp, "Invalid backing file offset");
        return false;
    }
    uint64_t ext_end = backing_off ? backing_off : s->cluster_size;

    /* The first cluster holds the header, its extensions and the backing file name. */
    g_autofree uint8_t *cluster0 = g_malloc0(s->cluster_size);
    ret = s->file.pread(s->file.opaque, 0, cluster0, MIN((uint64_t)flen, s->cluster_size));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return false;
    }

    if (compression != 0) {
        error_setg(errp,
                   compression == 1 ? "qcow2: zstd compression is not supported"
                                    : "qcow2: unknown compression type: %u",
                   compression);
        return false;
    }
    /* Known to upstream, not (yet) to us: external data files, extended L2 entries, zstd. */
    uint64_t unsupported = s->incompatible & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
    if (unsupported) {
        g_autoptr(GArray) features = g_array_new(FALSE, TRUE, sizeof(FeatureName));
        g_autoptr(GError) ignored = NULL;
        read_extensions(s, cluster0, s->header_length, ext_end, features, &ignored);
        report_unsupported_features(errp, features, unsupported);
        return false;
    }
    if ((s->incompatible & QCOW2_INCOMPAT_CORRUPT) && (flags & QCOW2_OPEN_RDWR)) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened read/write");
        return false;
    }
    if (s->refcount_order > 6) {
        error_setg(errp, "Reference count entry width too large; may not exceed 64 bits");
        return false;
    }
    if (crypt) {
        error_setg(errp,
                   crypt == 1 ? "Use of AES-CBC encrypted qcow2 images is no longer "
                                "supported in system emulators"
                              : "Missing CRYPTO header for crypt method %u",
                   crypt);
        return false;
    }
    if ((s->incompatible & QCOW2_INCOMPAT_DIRTY) && (flags & QCOW2_OPEN_RDWR)) {
        /* Upstream repairs the refcounts here; we have no repair, so we refuse to write. */
        error_setg(errp, "qcow2: Image is dirty (lazy refcounts); repair it with "
                         "'qemu-img check -r all' before opening it read/write");
        return false;
    }

    s->refblock_bits = cluster_bits + 3 - s->refcount_order;
    s->csize_shift = 62 - (cluster_bits - 8);
    s->csize_mask = (UINT64_C(1) << (cluster_bits - 8)) - 1;
    s->coffset_mask = (UINT64_C(1) << s->csize_shift) - 1;
    s->reftable_size = (uint64_t)s->reftable_clusters << (cluster_bits - 3);

    if (s->reftable_clusters == 0) {
        error_setg(errp, "Image does not contain a reference count table");
        return false;
    }
    if (!validate_table(s, s->reftable_offset, s->reftable_clusters, s->cluster_size,
                        QCOW2_MAX_REFTABLE_BYTES, "Reference count table", errp) ||
        !validate_table(s, s->snapshots_offset, s->nb_snapshots, QCOW2_SNAPSHOT_HDR_BYTES,
                        QCOW2_SNAPSHOT_HDR_BYTES * QCOW2_MAX_SNAPSHOTS, "Snapshot table", errp) ||
        !validate_table(s, s->l1_offset, s->l1_size, 8, QCOW2_MAX_L1_BYTES, "Active L1 table",
                        errp)) {
        return false;
    }
    /* Guest bytes covered by one L1 entry: 2^(cluster_bits + l2_bits). */
    unsigned l1_shift = cluster_bits + s->l2_bits;
    uint64_t l1_needed =
        (s->virtual_size >> l1_shift) + ((s->virtual_size & ((UINT64_C(1) << l1_shift) - 1)) != 0);
    if (l1_needed > INT32_MAX) {
        error_setg(errp, "Image is too big");
        return false;
    }
    if (s->l1_size < l1_needed) {
        error_setg(errp, "L1 table is too small");
        return false;
    }
    ret = read_l1(s);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read L1 table");
        return false;
    }
    ret = qcow2_refcount_init(s);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not initialize refcount handling");
        return false;
    }
    if (!read_extensions(s, cluster0, s->header_length, ext_end, NULL, errp)) {
        return false;
    }
    if (backing_off) {
        if (backing_len > MIN(1023, s->cluster_size - backing_off)) {
            error_setg(errp, "Backing file name too long");
            return false;
        }
        s->backing_file = g_strndup((const char *)cluster0 + backing_off, backing_len);
    }
    return true;
}

Qcow2Image *qcow2_open(const Qcow2File *file, int flags, GError **errp)
{
    Qcow2Image *s = g_new0(Qcow2Image, 1);
    g_mutex_init(&s->lock);
    g_cond_init(&s->io_cond);
    s->file = *file;
    s->writable = (flags & QCOW2_OPEN_RDWR) != 0;

    if (!parse_header(s, flags, errp)) {
        qcow2_close(s);
        return NULL;
    }
    s->corrupt = (s->incompatible & QCOW2_INCOMPAT_CORRUPT) != 0;
    /* Every L2 table the image can have (each maps 2^(cluster_bits + l2_bits) guest bytes). */
    unsigned map_bits = s->cluster_bits + s->l2_bits;
    uint64_t tables =
        (s->virtual_size >> map_bits) + ((s->virtual_size & ((UINT64_C(1) << map_bits) - 1)) != 0);
    tables = MIN(tables, QCOW2_L2_CACHE_MAX_BYTES / s->cluster_size);
    qcow2_cache_init(&s->l2_cache, (unsigned)MAX(tables, QCOW2_L2_CACHE_MIN_TABLES),
                     s->cluster_size);
    qcow2_cache_init(&s->refblock_cache, QCOW2_REFBLOCK_CACHE_TABLES, s->cluster_size);
    s->zcache = g_malloc(s->cluster_size);
    s->cluster_buf = g_malloc(s->cluster_size);
    s->tail_buf = g_malloc(s->cluster_size);

    /* Autoclear features we do not maintain (bitmaps) are cleared once we may write. */
    if (s->writable && s->autoclear) {
        s->autoclear = 0;
        int ret = qcow2_write_header_features(s);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            qcow2_close(s);
            return NULL;
        }
    }
    return s;
}

void qcow2_close(Qcow2Image *s)
{
    if (!s) {
        return;
    }
    qcow2_cache_destroy(&s->l2_cache);
    qcow2_cache_destroy(&s->refblock_cache);
    g_free(s->l1);
    g_free(s->reftable);
    g_free(s->backing_file);
    g_free(s->backing_format);
    g_free(s->zcache);
    g_free(s->cluster_buf);
    g_free(s->tail_buf);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->io_cond);
    g_free(s);
}

void qcow2_set_backing(Qcow2Image *s, const Qcow2Backing *backing)
{
    g_mutex_lock(&s->lock);
    s->has_backing = backing != NULL;
    if (backing) {
        s->backing = *backing;
    }
    g_mutex_unlock(&s->lock);
}

static int image_backing_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    return qcow2_read(opaque, off, buf, len);
}

static int64_t image_backing_length(void *opaque)
{
    return (int64_t)qcow2_virtual_size(opaque);
}

Qcow2Backing qcow2_backing_from_image(Qcow2Image *img)
{
    return (Qcow2Backing){
        .opaque = img, .pread = image_backing_pread, .length = image_backing_length};
}

static bool range_ok(Qcow2Image *s, uint64_t off, uint64_t len)
{
    return off <= s->virtual_size && len <= s->virtual_size - off;
}

/*
 * Reads the data clusters a mapping listed, with the lock dropped (held on entry and on
 * return): a change to the image waits until they are done, so their clusters cannot move.
 */
static int read_unlocked(Qcow2Image *s, const Qcow2Buf *dst, GArray *reads, Qcow2IoKind kind)
{
    int ret = 0;
    s->reads_in_flight++;
    g_mutex_unlock(&s->lock);
    for (guint i = 0; ret == 0 && i < reads->len; i++) {
        Qcow2Read *r = &g_array_index(reads, Qcow2Read, i);
        ret = qcow2_buf_file_io(s, r->host, dst, r->rel, r->len, kind);
    }
    g_mutex_lock(&s->lock);
    if (--s->reads_in_flight == 0) {
        g_cond_broadcast(&s->io_cond);
    }
    return ret;
}

static int read_buf(Qcow2Image *s, uint64_t off, const Qcow2Buf *dst, size_t len)
{
    if (!range_ok(s, off, len)) {
        return -EINVAL;
    }
    g_autoptr(GArray) reads = g_array_new(FALSE, FALSE, sizeof(Qcow2Read));
    g_mutex_lock(&s->lock);
    while (s->writers_waiting) {
        g_cond_wait(&s->io_cond, &s->lock);
    }
    int ret = qcow2_map_read(s, off, dst, len, reads);
    if (ret == 0 && reads->len) {
        ret = read_unlocked(s, dst, reads, QCOW2_IO_READ);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_read(Qcow2Image *s, uint64_t off, void *buf, size_t len)
{
    return read_buf(s, off, &(Qcow2Buf){.buf = buf}, len);
}

int qcow2_readv(Qcow2Image *s, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return read_buf(s, off, &(Qcow2Buf){.iov = iov, .iovcnt = iovcnt}, iov_size(iov, iovcnt));
}

int qcow2_readv_nowait(Qcow2Image *s, uint64_t off, const struct iovec *iov, int iovcnt)
{
    size_t len = iov_size(iov, iovcnt);
    if (!s->file.preadv_nowait || !range_ok(s, off, len) || !g_mutex_trylock(&s->lock)) {
        return -EAGAIN;
    }
    g_autoptr(GArray) reads = g_array_new(FALSE, FALSE, sizeof(Qcow2Read));
    int ret = s->writers_waiting ? -EAGAIN : qcow2_map_read_cached(s, off, len, reads);
    if (ret == 0) {
        ret = read_unlocked(s, &(Qcow2Buf){.iov = iov, .iovcnt = iovcnt}, reads,
                            QCOW2_IO_READ_NOWAIT);
    }
    g_mutex_unlock(&s->lock);
    return ret < 0 ? -EAGAIN : 0;
}

/* Takes the lock for a change to the image, once no read of data clusters is in flight. */
static void lock_for_change(Qcow2Image *s)
{
    g_mutex_lock(&s->lock);
    s->writers_waiting++;
    while (s->reads_in_flight) {
        g_cond_wait(&s->io_cond, &s->lock);
    }
    s->writers_waiting--;
    g_cond_broadcast(&s->io_cond);
}

int qcow2_block_status(Qcow2Image *s, uint64_t off, uint64_t len, uint64_t *pnum)
{
    *pnum = 0;
    if (!range_ok(s, off, len)) {
        return -EINVAL;
    }
    g_mutex_lock(&s->lock);
    int ret = qcow2_status_clusters(s, off, len, pnum);
    g_mutex_unlock(&s->lock);
    return ret;
}

/* Writes need a writable image that has not been found corrupt. */
static int may_write(Qcow2Image *s, uint64_t off, uint64_t len)
{
    if (!range_ok(s, off, len)) {
        return -EINVAL;
    }
    if (!s->writable) {
        return -EACCES;
    }
    return s->corrupt ? -EIO : 0;
}

static int write_buf(Qcow2Image *s, uint64_t off, const Qcow2Buf *src, size_t len)
{
    lock_for_change(s);
    int ret = may_write(s, off, len);
    if (ret == 0) {
        ret = qcow2_write_clusters(s, off, src, len);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_write(Qcow2Image *s, uint64_t off, const void *buf, size_t len)
{
    return write_buf(s, off, &(Qcow2Buf){.buf = (uint8_t *)buf}, len);
}

int qcow2_writev(Qcow2Image *s, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return write_buf(s, off, &(Qcow2Buf){.iov = iov, .iovcnt = iovcnt}, iov_size(iov, iovcnt));
}

int qcow2_flush(Qcow2Image *s)
{
    g_mutex_lock(&s->lock);
    int ret = s->writable ? s->file.flush(s->file.opaque) : 0;
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_discard(Qcow2Image *s, uint64_t off, uint64_t len)
{
    lock_for_change(s);
    int ret = may_write(s, off, len);
    if (ret == 0) {
        /* Upstream keeps a discarded cluster reading as zeros on v3 images. */
        ret = qcow2_discard_clusters(s, off, len, s->version >= 3);
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_write_zeroes(Qcow2Image *s, uint64_t off, uint64_t len)
{
    lock_for_change(s);
    int ret = may_write(s, off, len);
    uint64_t cs = s->cluster_size;
    uint64_t end = off + len;
    g_autofree uint8_t *zeros = g_malloc0(cs);

    /* Whole clusters of a v3 image become zero clusters; the rest is written as zeros. */
    for (uint64_t pos = off; ret == 0 && pos < end;) {
        uint64_t n = MIN(cs - qcow2_offset_in_cluster(s, pos), end - pos);
        if (n == cs && s->version >= 3) {
            n = (end - pos) & ~(cs - 1);
            ret = qcow2_discard_clusters(s, pos, n, true);
        } else {
            ret = qcow2_write_clusters(s, pos, &(Qcow2Buf){.buf = zeros}, n);
        }
        pos += n;
    }
    g_mutex_unlock(&s->lock);
    return ret;
}

int qcow2_make_empty(Qcow2Image *s)
{
    lock_for_change(s);
    int ret = s->writable ? (s->corrupt ? -EIO : qcow2_drop_all(s)) : -EACCES;
    g_mutex_unlock(&s->lock);
    return ret;
}

uint64_t qcow2_virtual_size(Qcow2Image *s)
{
    return s->virtual_size; /* fixed at open */
}

void qcow2_get_info(Qcow2Image *s, Qcow2Info *info)
{
    g_mutex_lock(&s->lock);
    *info = (Qcow2Info){
        .virtual_size = s->virtual_size,
        .cluster_size = (uint32_t)s->cluster_size,
        .version = s->version,
        .refcount_bits = 1 << s->refcount_order,
        .backing_file = g_strdup(s->backing_file),
        .backing_format = g_strdup(s->backing_format),
        .dirty = (s->incompatible & QCOW2_INCOMPAT_DIRTY) != 0,
        .corrupt = s->corrupt,
        .lazy_refcounts = (s->compatible & QCOW2_COMPAT_LAZY) != 0,
        .nb_snapshots = s->nb_snapshots,
    };
    g_mutex_unlock(&s->lock);
}

void qcow2_info_clear(Qcow2Info *info)
{
    g_free(info->backing_file);
    g_free(info->backing_format);
    info->backing_file = info->backing_format = NULL;
}
