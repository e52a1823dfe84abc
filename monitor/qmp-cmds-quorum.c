/*
 * QMP's x-blockdev-change (a quorum child added or removed at run time) and the quorum
 * driver's events QUORUM_REPORT_BAD and QUORUM_FAILURE, with QEMU 7.2's checks and wording.
 */
#include "block/block-backend.h"
#include "monitor/quorum.h"

#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

void monitor_quorum_event(const QuorumEvent *ev)
{
    if (ev->kind == QUORUM_EVENT_FAILURE) {
        qapi_event_send_quorum_failure(ev->node_name, ev->sector_num, ev->sectors_count);
        return;
    }
    static const QuorumOpType types[] = {
        [QUORUM_OP_READ] = QUORUM_OP_TYPE_READ,
        [QUORUM_OP_WRITE] = QUORUM_OP_TYPE_WRITE,
        [QUORUM_OP_FLUSH] = QUORUM_OP_TYPE_FLUSH,
    };
    qapi_event_send_quorum_report_bad(types[ev->op], ev->error, ev->node_name, ev->sector_num,
                                      ev->sectors_count);
}

/* upstream's bdrv_lookup_bs(name, name): a device first, then a node */
static BlockDriverState *lookup_bs(const char *name, GError **errp)
{
    BlockBackend *blk = blk_by_name(name);
    if (blk) {
        if (!blk_bs(blk)) {
            error_setg(errp, "Device '%s' has no medium", name);
        }
        return blk_bs(blk);
    }
    BlockDriverState *bs = bdrv_find_node(name);
    if (!bs) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'", name, name);
    }
    return bs;
}

void qmp_x_blockdev_change(const char *parent, const char *child, const char *node, GError **errp)
{
    BlockDriverState *parent_bs = lookup_bs(parent, errp);
    if (!parent_bs) {
        return;
    }
    if (!child == !node) {
        error_setg(errp, child ? "The parameters child and node are in conflict"
                               : "Either child or node must be specified");
        return;
    }
    if (child) {
        BdrvChild *c = bdrv_child(parent_bs, child);
        if (!c) {
            error_setg(errp, "Node '%s' does not have child '%s'", parent, child);
            return;
        }
        bdrv_del_child(parent_bs, c, errp);
        return;
    }
    BlockDriverState *new_bs = bdrv_find_node(node);
    if (!new_bs) {
        error_setg(errp, "Node '%s' not found", node);
        return;
    }
    bdrv_add_child(parent_bs, new_bs, errp);
}
