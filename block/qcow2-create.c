/*
 * qcow2 image creation, laid out as `qemu-img create` lays it out: the header (with its
 * extensions and the backing file name) in cluster 0, the refcount table in cluster 1, its
 * first refcount block in cluster 2, the L1 table from cluster 3 on. Everything else is
 * allocated on first write.
 */
#include "block/qcow2-internal.h"

#include <errno.h>
#include <string.h>

#include "util/error.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* Appends a header extension (type, length, data padded to 8 bytes); false when it won't fit. */
static bool put_ext(uint8_t *cluster, uint64_t limit, uint64_t *pos, uint32_t type,
                    const void *data, uint32_t len)
{
    uint64_t padded = ((uint64_t)len + 7) & ~UINT64_C(7);
    if (*pos + 8 + padded > limit) {
        return false;
    }
    put_be32(cluster + *pos, type);
    put_be32(cluster + *pos + 4, len);
    if (len) {
        memcpy(cluster + *pos + 8, data, len);
    }
    *pos += 8 + padded;
    return true;
}

bool qcow2_create(const Qcow2File *file, const Qcow2CreateOpts *opts, GError **errp)
{
    uint64_t cs = opts->cluster_size ? opts->cluster_size : 65536;
    int version = opts->version ? opts->version : 3;

    if (cs < 512 || cs > (UINT64_C(1) << QCOW2_MAX_CLUSTER_BITS) || (cs & (cs - 1))) {
        error_setg(errp, "Cluster size must be a power of two between 512 and 2048k");
        return false;
    }
    if (version != 2 && version != 3) {
        error_setg(errp, "Unsupported qcow2 version %d", version);
        return false;
    }
    if (opts->backing_format && !opts->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing file");
        return false;
    }
    unsigned cluster_bits = __builtin_ctzll(cs);
    unsigned l1_shift = cluster_bits + cluster_bits - 3;
    uint64_t l1_size =
        (opts->size >> l1_shift) + ((opts->size & ((UINT64_C(1) << l1_shift) - 1)) != 0);
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "The image size is too large for file format 'qcow2' (try using a "
                         "larger cluster size)");
        return false;
    }
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    uint64_t n_meta = 3 + l1_clusters;
    uint64_t per_block = cs * 8 / 16;
    if (n_meta > per_block) {
        error_setg(errp, "The image size is too large for file format 'qcow2' (try using a "
                         "larger cluster size)");
        return false;
    }

    g_autofree uint8_t *c0 = g_malloc0(cs);
    uint32_t header_length = version == 2 ? QCOW2_V2_HEADER_BYTES : 112;
    put_be32(c0, QCOW2_MAGIC);
    put_be32(c0 + 4, version);
    put_be32(c0 + 20, cluster_bits);
    qcow2_put_be64(c0 + 24, opts->size);
    put_be32(c0 + 36, (uint32_t)l1_size);
    qcow2_put_be64(c0 + 40, 3 * cs);
    qcow2_put_be64(c0 + 48, cs);
    put_be32(c0 + 56, 1);
    if (version == 3) {
        put_be32(c0 + 96, 4); /* refcount_order: 16-bit counts */
        put_be32(c0 + 100, header_length);
    }
    uint64_t pos = header_length;
    size_t name_len = opts->backing_file ? strlen(opts->backing_file) : 0;
    uint64_t limit = cs - name_len;
    bool fits = name_len <= 1023 && name_len < cs;
    if (fits && opts->backing_format) {
        fits = strlen(opts->backing_format) < 16 &&
               put_ext(c0, limit, &pos, QCOW2_EXT_BACKING_FMT, opts->backing_format,
                       strlen(opts->backing_format));
    }
    fits = fits && put_ext(c0, limit, &pos, QCOW2_EXT_END, NULL, 0);
    if (!fits) {
        error_setg(errp, "Backing file name too long");
        return false;
    }
    if (opts->backing_file) {
        memcpy(c0 + pos, opts->backing_file, name_len);
        qcow2_put_be64(c0 + 8, pos);
        put_be32(c0 + 16, (uint32_t)name_len);
    }

    g_autofree uint8_t *meta = g_malloc0(n_meta * cs);
    memcpy(meta, c0, cs);
    qcow2_put_be64(meta + cs, 2 * cs); /* reftable[0] = the refcount block */
    for (uint64_t i = 0; i < n_meta; i++) {
        meta[2 * cs + i * 2 + 1] = 1; /* 16-bit big-endian count of 1 */
    }
    int ret = file->truncate ? file->truncate(file->opaque, 0) : 0;
    if (ret == 0) {
        /* The file ends with the L1 table's last entry, as qemu-img leaves it (the rest of
         * its cluster reads as zeros all the same). */
        ret = file->pwrite(file->opaque, 0, meta, 3 * cs + l1_size * 8);
    }
    if (ret == 0) {
        ret = file->flush(file->opaque);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 header");
        return false;
    }
    return true;
}
