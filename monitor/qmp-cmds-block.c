/* QMP commands on block devices: query-block, query-named-block-nodes, blockdev-add,
 * blockdev-del (qapi/block-core.json). */
#include "block/blockdev.h"
#include "qapi-commands.h"
#include "util/error.h"

#include <sys/stat.h>

/* What the host file takes on disk, as upstream's actual-size (allocated bytes). */
static bool actual_size(BlockDriverState *bs, int64_t *out)
{
    struct stat st;
    const char *name = bdrv_filename(bs);
    if (!*name || stat(name, &st) < 0) {
        return false;
    }
    *out = (int64_t)st.st_blocks * 512;
    return true;
}

static BlockDeviceInfo *node_info(BlockDriverState *bs, bool writeback)
{
    BlockDeviceInfo *info = g_new0(BlockDeviceInfo, 1);
    int64_t len = bdrv_getlength(bs);
    info->file = g_strdup(bdrv_filename(bs));
    info->node_name = g_strdup(bs->node_name);
    info->ro = bs->read_only;
    info->drv = g_strdup(bs->drv->format_name);
    info->backing_file_depth = 0;
    info->detect_zeroes = BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    info->image = g_new0(ImageInfo, 1);
    info->image->filename = g_strdup(info->file);
    info->image->format = g_strdup(info->drv);
    info->image->virtual_size = len < 0 ? 0 : len;
    info->image->has_dirty_flag = true;
    info->image->has_actual_size = actual_size(bs, &info->image->actual_size);
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
        info->removable = dev == NULL;
        info->locked = false;
        if (dev) {
            info->has_io_status = true;
            info->io_status = BLOCK_DEVICE_IO_STATUS_OK;
        }
        if (blk_is_inserted(blk)) {
            info->inserted = node_info(blk_bs(blk), blk_enable_write_cache(blk));
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
        g_ptr_array_add(list, node_info(nodes->pdata[i], true));
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
