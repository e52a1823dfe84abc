/*
 * The "raw" format driver: the bytes of its "file" child as they are, optionally a window of
 * them (offset=, size=: a partition inside an image, as upstream's raw-format).
 */
#include "block/block.h"
#include "util/error.h"
#include "util/iov.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct RawState {
    uint64_t offset;
    uint64_t size; /* 0: to the end of the child */
    bool has_size;
} RawState;

static const char *const raw_options[] = {"offset", "size", NULL};
static const char *const raw_children[] = {"file", NULL};

static bool parse_u64(GHashTable *opts, const char *key, uint64_t *out, bool *given, GError **errp)
{
    const char *v = g_hash_table_lookup(opts, key);
    if (given) {
        *given = v != NULL;
    }
    if (!v) {
        return true;
    }
    char *end;
    errno = 0;
    guint64 n = g_ascii_strtoull(v, &end, 0);
    if (!*v || *end || errno || v[0] == '-') {
        error_setg(errp, "Parameter '%s' expects integer", key);
        return false;
    }
    *out = n;
    return true;
}

static bool raw_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    RawState *s = bs->opaque;
    if (!parse_u64(opts, "offset", &s->offset, NULL, errp) ||
        !parse_u64(opts, "size", &s->size, &s->has_size, errp)) {
        return false;
    }
    BlockDriverState *file = bdrv_file_child(bs);
    int64_t real = bdrv_getlength(file);
    if (real < 0) {
        error_setg_errno(errp, (int)-real, "Could not get the size of the image");
        return false;
    }
    if (s->offset > (uint64_t)real) {
        error_setg(errp,
                   "Offset (%" PRIu64 ") cannot be greater than size of the containing file "
                   "(%" PRId64 ")",
                   s->offset, real);
        return false;
    }
    if (s->has_size && s->offset + s->size > (uint64_t)real) {
        /* Upstream's message, double space included. */
        error_setg(errp,
                   "The sum of offset (%" PRIu64 ") and size (%" PRIu64 ") has to be smaller or "
                   "equal to the  actual size of the containing file (%" PRId64 ")",
                   s->offset, s->size, real);
        return false;
    }
    if (s->has_size && s->size % BDRV_SECTOR_SIZE) {
        error_setg(errp, "Specified size is not multiple of %u", BDRV_SECTOR_SIZE);
        return false;
    }
    return true;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    RawState *s = bs->opaque;
    if (s->has_size) {
        return s->size;
    }
    int64_t len = bdrv_getlength(bdrv_file_child(bs));
    if (len < 0) {
        return len;
    }
    return (uint64_t)len > s->offset ? len - (int64_t)s->offset : 0;
}

/* A request must stay inside the window when one is set. */
static int raw_bounds(BlockDriverState *bs, uint64_t offset, uint64_t bytes, uint64_t *real)
{
    RawState *s = bs->opaque;
    if (s->has_size && (offset > s->size || bytes > s->size - offset)) {
        return -EINVAL;
    }
    *real = offset + s->offset;
    return 0;
}

static int raw_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, bytes, &real);
    return ret < 0 ? ret : bdrv_pread(bdrv_file_child(bs), real, bytes, buf);
}

static int raw_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                      int flags)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, bytes, &real);
    return ret < 0 ? ret : bdrv_pwrite(bdrv_file_child(bs), real, bytes, buf, flags);
}

static int raw_preadv(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, iov_size(iov, iovcnt), &real);
    return ret < 0 ? ret : bdrv_preadv(bdrv_file_child(bs), real, iov, iovcnt);
}

static int raw_preadv_nowait(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                             int iovcnt)
{
    uint64_t real;
    if (raw_bounds(bs, offset, iov_size(iov, iovcnt), &real) < 0) {
        return -EAGAIN;
    }
    return bdrv_preadv_nowait(bdrv_file_child(bs), real, iov, iovcnt);
}

static int raw_pwritev(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt,
                       int flags)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, iov_size(iov, iovcnt), &real);
    return ret < 0 ? ret : bdrv_pwritev(bdrv_file_child(bs), real, iov, iovcnt, flags);
}

static int raw_flush(BlockDriverState *bs)
{
    return bdrv_flush(bdrv_file_child(bs));
}

static int raw_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, bytes, &real);
    return ret < 0 ? ret : bdrv_discard(bdrv_file_child(bs), real, bytes);
}

static int raw_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    uint64_t real;
    int ret = raw_bounds(bs, offset, bytes, &real);
    return ret < 0 ? ret : bdrv_write_zeroes(bdrv_file_child(bs), real, bytes, flags);
}

const BlockDriver bdrv_raw = {
    .format_name = "raw",
    .kind = BLOCK_DRIVER_FORMAT,
    .options = raw_options,
    .children = raw_children,
    .required_child = "file",
    .state_size = sizeof(RawState),
    .open = raw_open,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .preadv = raw_preadv,
    .preadv_nowait = raw_preadv_nowait,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .getlength = raw_getlength,
};
