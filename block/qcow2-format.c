/*
 * The "qcow2" format driver: hosts the qcow2 module (include/block/qcow2.h) in the node graph.
 *
 *   node qcow2 ── Qcow2Image ──Qcow2File────► bdrv_* on the "file" child
 *                            └─Qcow2Backing─► bdrv_* on the "backing" child (if any)
 *
 * The module takes its own lock and lets reads run in parallel, so the node does not serialize
 * requests. The backing child is opened by the graph after this driver's open (block.c reads
 * the name the image records, bs->backing_file); backing_changed() hands it to the image.
 * Corruption is reported by the module itself, in upstream's words (no BLOCK_IMAGE_CORRUPTED
 * event yet).
 */
#include "block/qcow2-format.h"
#include "block/qcow2.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

typedef struct Qcow2NodeState {
    Qcow2Image *img;
} Qcow2NodeState;

/* Upstream's BlockdevOptionsQcow2 (cache sizes and overlap checks tune upstream's metadata
 * cache; ours writes metadata through, so they are accepted and have nothing to tune). */
static const char *const qcow2_options[] = {"lazy-refcounts",
                                            "pass-discard-request",
                                            "pass-discard-snapshot",
                                            "pass-discard-other",
                                            "overlap-check",
                                            "cache-size",
                                            "l2-cache-size",
                                            "l2-cache-entry-size",
                                            "refcount-cache-size",
                                            "cache-clean-interval",
                                            NULL};
static const char *const qcow2_children[] = {"file", NULL};

/* The Qcow2File over a node (the qcow2 node's "file" child, which stays for its lifetime). */
static int file_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    return bdrv_pread(opaque, off, len, buf);
}

static int file_pwrite(void *opaque, uint64_t off, const void *buf, size_t len)
{
    return bdrv_pwrite(opaque, off, len, buf, 0);
}

static int file_preadv(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return bdrv_preadv(opaque, off, iov, iovcnt);
}

static int file_pwritev(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return bdrv_pwritev(opaque, off, iov, iovcnt, 0);
}

static int file_preadv_nowait(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt)
{
    return bdrv_preadv_nowait(opaque, off, iov, iovcnt);
}

static int file_flush(void *opaque)
{
    return bdrv_flush(opaque);
}

static int file_truncate(void *opaque, uint64_t size)
{
    return bdrv_truncate(opaque, size);
}

static int64_t file_length(void *opaque)
{
    return bdrv_getlength(opaque);
}

static Qcow2File node_file(BlockDriverState *file_node)
{
    return (Qcow2File){.opaque = file_node,
                       .pread = file_pread,
                       .pwrite = file_pwrite,
                       .preadv = file_preadv,
                       .pwritev = file_pwritev,
                       .preadv_nowait = file_preadv_nowait,
                       .flush = file_flush,
                       .truncate = file_truncate,
                       .length = file_length};
}

/* The Qcow2Backing of a qcow2 node: its "backing" child, looked up per request. */
static int backing_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    return bdrv_pread(bdrv_backing_child(opaque), off, len, buf);
}

static int64_t backing_length(void *opaque)
{
    return bdrv_getlength(bdrv_backing_child(opaque));
}

static bool qcow2_node_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    Qcow2NodeState *s = bs->opaque;
    Qcow2File file = node_file(bdrv_file_child(bs));
    s->img = qcow2_open(&file, bs->read_only ? 0 : QCOW2_OPEN_RDWR, errp);
    if (!s->img) {
        return false;
    }
    Qcow2Info info;
    qcow2_get_info(s->img, &info);
    bs->backing_file = g_steal_pointer(&info.backing_file);
    bs->backing_format = g_steal_pointer(&info.backing_format);
    qcow2_info_clear(&info);
    return true;
}

static void qcow2_node_close(BlockDriverState *bs)
{
    Qcow2NodeState *s = bs->opaque;
    g_clear_pointer(&s->img, qcow2_close);
}

static void qcow2_node_backing_changed(BlockDriverState *bs)
{
    Qcow2NodeState *s = bs->opaque;
    if (!bdrv_backing_child(bs)) {
        qcow2_set_backing(s->img, NULL);
        return;
    }
    Qcow2Backing backing = {.opaque = bs, .pread = backing_pread, .length = backing_length};
    qcow2_set_backing(s->img, &backing);
}

/* The image as the previous owner left it (upstream's invalidate_cache): L2 and refcount
 * tables cached before it was written are dropped with the old handle. */
static bool qcow2_node_activate(BlockDriverState *bs, GError **errp)
{
    Qcow2NodeState *s = bs->opaque;
    Qcow2File file = node_file(bdrv_file_child(bs));
    Qcow2Image *img = qcow2_open(&file, bs->read_only ? 0 : QCOW2_OPEN_RDWR, errp);
    if (!img) {
        return false;
    }
    qcow2_close(s->img);
    s->img = img;
    qcow2_node_backing_changed(bs);
    return true;
}

static int qcow2_node_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_read(s->img, offset, buf, bytes);
}

/* A write that asked for FUA is on stable storage when it completes. */
static int done_writing(Qcow2NodeState *s, int ret, int flags)
{
    return ret == 0 && (flags & BDRV_REQ_FUA) ? qcow2_flush(s->img) : ret;
}

static int qcow2_node_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                             int flags)
{
    Qcow2NodeState *s = bs->opaque;
    return done_writing(s, qcow2_write(s->img, offset, buf, bytes), flags);
}

/* Data clusters go between the file and the caller's segments (guest pages) with no copy. */
static int qcow2_node_preadv(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                             int iovcnt)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_readv(s->img, offset, iov, iovcnt);
}

/* Data clusters already mapped and in the host's page cache, on the caller's thread. */
static int qcow2_node_preadv_nowait(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                                    int iovcnt)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_readv_nowait(s->img, offset, iov, iovcnt);
}

static int qcow2_node_pwritev(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                              int iovcnt, int flags)
{
    Qcow2NodeState *s = bs->opaque;
    return done_writing(s, qcow2_writev(s->img, offset, iov, iovcnt), flags);
}

static int qcow2_node_flush(BlockDriverState *bs)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_flush(s->img);
}

static int qcow2_node_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_discard(s->img, offset, bytes);
}

static int qcow2_node_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    Qcow2NodeState *s = bs->opaque;
    return done_writing(s, qcow2_write_zeroes(s->img, offset, bytes), flags);
}

static int qcow2_node_make_empty(BlockDriverState *bs)
{
    Qcow2NodeState *s = bs->opaque;
    return qcow2_make_empty(s->img);
}

static int64_t qcow2_node_getlength(BlockDriverState *bs)
{
    Qcow2NodeState *s = bs->opaque;
    return (int64_t)qcow2_virtual_size(s->img);
}

const BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .kind = BLOCK_DRIVER_FORMAT,
    .options = qcow2_options,
    .children = qcow2_children,
    .required_child = "file",
    .file_has_metadata = true,
    .supports_backing = true,
    .state_size = sizeof(Qcow2NodeState),
    .open = qcow2_node_open,
    .close = qcow2_node_close,
    .backing_changed = qcow2_node_backing_changed,
    .activate = qcow2_node_activate,
    .reopen = qcow2_node_activate, /* the image again, in the node's new mode */
    .pread = qcow2_node_pread,
    .pwrite = qcow2_node_pwrite,
    .preadv = qcow2_node_preadv,
    .pwritev = qcow2_node_pwritev,
    .preadv_nowait = qcow2_node_preadv_nowait,
    .flush = qcow2_node_flush,
    .discard = qcow2_node_discard,
    .write_zeroes = qcow2_node_write_zeroes,
    .make_empty = qcow2_node_make_empty,
    .getlength = qcow2_node_getlength,
};

Qcow2Image *bdrv_qcow2_image(BlockDriverState *bs)
{
    if (!bs || bs->drv != &bdrv_qcow2) {
        return NULL;
    }
    Qcow2NodeState *s = bs->opaque;
    return s->img;
}

bool bdrv_qcow2_create(BlockDriverState *file_node, const Qcow2CreateOpts *opts, GError **errp)
{
    Qcow2File file = node_file(file_node);
    return qcow2_create(&file, opts, errp);
}
