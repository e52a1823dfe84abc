/* QMP commands on block devices: query-block, query-named-block-nodes, blockdev-add,
 * blockdev-del (qapi/block-core.json). */
#include "block/blockdev.h"
#include "block/qcow2-format.h"
#include "qapi-commands.h"
#include "util/error.h"

/* qcow2's format-specific data, as upstream's qcow2_get_specific_info fills it. */
static ImageInfoSpecific *qcow2_specific(const Qcow2Info *q)
{
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificQCow2 *d = g_new0(ImageInfoSpecificQCow2, 1);
    spec->type = IMAGE_INFO_SPECIFIC_KIND_QCOW2;
    spec->u.qcow2.data = d;
    d->refcount_bits = q->refcount_bits;
    d->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
    if (q->version == 2) {
        d->compat = g_strdup("0.10");
        return spec;
    }
    d->compat = g_strdup("1.1");
    d->has_lazy_refcounts = true;
    d->lazy_refcounts = q->lazy_refcounts;
    d->has_corrupt = true;
    d->corrupt = q->corrupt;
    d->has_extended_l2 = true;
    d->extended_l2 = false;
    return spec;
}

/* The image of a node and, unless flat, the chain below it (ImageInfo.backing-image). */
static ImageInfo *image_info(BlockDriverState *bs, bool flat)
{
    ImageInfo *info = g_new0(ImageInfo, 1);
    int64_t len = bdrv_getlength(bs);
    int64_t allocated = bdrv_allocated_size(bs);
    info->filename = g_strdup(bdrv_filename(bs));
    info->format = g_strdup(bs->drv->format_name);
    /* Upstream counts lengths in whole sectors. */
    info->virtual_size =
        len < 0 ? 0 : (len + BDRV_SECTOR_SIZE - 1) / BDRV_SECTOR_SIZE * BDRV_SECTOR_SIZE;
    info->has_dirty_flag = true;
    info->has_actual_size = allocated >= 0;
    info->actual_size = allocated;
    Qcow2Image *img = bdrv_qcow2_image(bs);
    if (img) {
        Qcow2Info q;
        qcow2_get_info(img, &q);
        info->has_cluster_size = true;
        info->cluster_size = q.cluster_size;
        info->dirty_flag = q.dirty;
        info->format_specific = qcow2_specific(&q);
        if (q.backing_file) {
            info->backing_filename = g_strdup(q.backing_file);
            info->full_backing_filename = bdrv_backing_path(bdrv_filename(bs), q.backing_file);
            info->backing_filename_format = g_strdup(q.backing_format);
        }
        qcow2_info_clear(&q);
    }
    BlockDriverState *backing = bdrv_backing_child(bs);
    if (backing && !flat) {
        info->backing_image = image_info(backing, flat);
    }
    return info;
}

static BlockDeviceInfo *node_info(BlockDriverState *bs, bool writeback, bool flat)
{
    BlockDeviceInfo *info = g_new0(BlockDeviceInfo, 1);
    info->file = g_strdup(bdrv_filename(bs));
    info->node_name = g_strdup(bs->node_name);
    info->ro = bs->read_only;
    info->drv = g_strdup(bs->drv->format_name);
    BlockDriverState *backing = bdrv_backing_child(bs);
    if (backing) {
        info->backing_file = g_strdup(bdrv_filename(backing));
    }
    /* Upstream counts the depth along the backing-image it reports, so flat gives 0. */
    for (; backing && !flat; backing = bdrv_backing_child(backing)) {
        info->backing_file_depth++;
    }
    info->detect_zeroes = BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    info->image = image_info(bs, flat);
    info->cache = g_new0(BlockdevCacheInfo, 1);
    info->cache->writeback = writeback;
    info->cache->direct = bs->cache_direct;
    info->cache->no_flush = bs->cache_no_flush;
    return info;
}

GPtrArray *qmp_query_block(GError **errp)
{
    GPtrArray *list = qapi_list_new_BlockInfo();
    g_autoptr(GPtrArray) all = blk_all();
    for (guint i = 0; i < all->len; i++) {
        BlockBackend *blk = all->pdata[i];
        BlockInfo *info = g_new0(BlockInfo, 1);
        const char *dev = blk_dev_name(blk);
        info->device = g_strdup(blk_name(blk));
        info->qdev = g_strdup(dev);
        info->type = g_strdup("unknown");
        /* Upstream: media is removable unless a device without removable media sits on it. */
        info->removable = blk_dev_has_removable_media(blk);
        info->locked = blk_dev_is_medium_locked(blk);
        if (blk_dev_has_tray(blk)) {
            info->has_tray_open = true;
            info->tray_open = blk_dev_is_tray_open(blk);
        }
        if (blk_iostatus_enabled(blk)) {
            info->has_io_status = true;
            info->io_status = BLOCK_DEVICE_IO_STATUS_OK;
        }
        if (blk_is_inserted(blk)) {
            info->inserted = node_info(blk_bs(blk), blk_enable_write_cache(blk), false);
        }
        g_ptr_array_add(list, info);
    }
    return list;
}

GPtrArray *qmp_query_named_block_nodes(bool has_flat, bool flat, GError **errp)
{
    GPtrArray *list = qapi_list_new_BlockDeviceInfo();
    GPtrArray *nodes = bdrv_all_nodes();
    /* Newest first, as upstream walks its node list. */
    for (guint i = nodes->len; i-- > 0;) {
        g_ptr_array_add(list, node_info(nodes->pdata[i], true, has_flat && flat));
    }
    return list;
}

void qmp_marshal_blockdev_add(JsonObject *args, JsonNode **ret, GError **errp)
{
    if (blockdev_add_json(args, errp)) {
        *ret = json_node_init_object(json_node_alloc(), json_object_new());
    }
}

void qmp_blockdev_del(const char *node_name, GError **errp)
{
    blockdev_del(node_name, errp);
}
