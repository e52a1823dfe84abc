/*
 * NBD exports of block nodes: nbd-server-add's device is a drive id (a named BlockBackend) or a
 * node name, as upstream looks it up. Each export has its own anonymous BlockBackend on that node,
 * so requests go through the block layer's worker pool and complete on the main loop, where the
 * server runs.
 */
#include "block/nbd-export-block.h"

#include "block/block-backend.h"
#include "util/error.h"

static void blk_export_read(void *opaque, uint64_t offset, uint32_t length, void *buf,
                            NbdIoDone done, void *done_opaque)
{
    blk_aio_pread(opaque, offset, length, buf, done, done_opaque);
}

static void blk_export_write(void *opaque, uint64_t offset, uint32_t length, const void *buf,
                             bool fua, NbdIoDone done, void *done_opaque)
{
    blk_aio_pwrite(opaque, offset, length, buf, fua ? BDRV_REQ_FUA : 0, done, done_opaque);
}

static void blk_export_flush(void *opaque, NbdIoDone done, void *done_opaque)
{
    blk_aio_flush(opaque, done, done_opaque);
}

static void blk_export_trim(void *opaque, uint64_t offset, uint32_t length, NbdIoDone done,
                            void *done_opaque)
{
    blk_aio_discard(opaque, offset, length, done, done_opaque);
}

static void blk_export_zeroes(void *opaque, uint64_t offset, uint32_t length, bool may_trim,
                              NbdIoDone done, void *done_opaque)
{
    blk_aio_write_zeroes(opaque, offset, length, may_trim ? BDRV_REQ_MAY_UNMAP : 0, done,
                         done_opaque);
}

static void blk_export_release(void *opaque)
{
    blk_unref(opaque);
}

static const NbdExportOps blk_export_ops = {
    .read = blk_export_read,
    .write = blk_export_write,
    .flush = blk_export_flush,
    .trim = blk_export_trim,
    .write_zeroes = blk_export_zeroes,
    .release = blk_export_release,
};

static NbdExport *blk_export_open(const char *device, const char *name, const char *description,
                                  bool writable, GError **errp)
{
    BlockBackend *dev = blk_by_name(device);
    BlockDriverState *bs = dev ? blk_bs(dev) : bdrv_find_node(device);
    if (!bs) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'", device, device);
        return NULL;
    }
    /* As 7.2's nbd-server-add: a read-only node is exported read-only, writable or not. */
    writable = writable && !bs->read_only;
    BlockBackend *blk = blk_new(NULL, NULL);
    uint64_t perm = BLK_PERM_CONSISTENT_READ | (writable ? BLK_PERM_WRITE : 0);
    if (!blk_insert_bs(blk, bs, perm, BLK_PERM_ALL, errp)) {
        blk_unref(blk);
        return NULL;
    }
    int64_t size = blk_getlength(blk);
    if (size < 0) {
        error_setg_errno(errp, -size, "Failed to determine the NBD export's length");
        blk_unref(blk);
        return NULL;
    }
    return nbd_export_new(name, description, size, writable, &blk_export_ops, blk);
}

/* Drives with a medium, by their ids (nbd_server_start -a). */
static GPtrArray *blk_export_list(void)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) all = blk_all();
    for (guint i = 0; i < all->len; i++) {
        BlockBackend *blk = g_ptr_array_index(all, i);
        if (blk_name(blk) && *blk_name(blk) && blk_bs(blk)) {
            g_ptr_array_add(names, g_strdup(blk_name(blk)));
        }
    }
    return names;
}

const NbdDeviceHooks nbd_block_device_hooks = {
    .open = blk_export_open,
    .list = blk_export_list,
};
