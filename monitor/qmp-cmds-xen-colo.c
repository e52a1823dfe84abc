/*
 * QMP for Xen's COLO (qapi/migration.json): xen-set-replication, query-xen-replication-status
 * and xen-colo-do-checkpoint. Xen runs the checkpoint frame itself and asks QEMU to checkpoint
 * block replication and the network filters. qemu-colo has no block replication node yet, so
 * replication starts, stops and checkpoints nothing and never reports an error: 7.2's answers
 * on a machine without such a node (docs/colo.md).
 */
#include "net/filter.h"
#include "qapi-commands.h"
#include "util/error.h"

void qmp_xen_set_replication(bool enable, bool primary, bool has_failover, bool failover,
                             GError **errp)
{
    /* 7.2 checks the argument before anything else, whatever the value of @failover. */
    if (enable && has_failover) {
        error_setg(errp, "Parameter 'failover' is only for stopping replication");
    }
}

ReplicationStatus *qmp_query_xen_replication_status(GError **errp)
{
    return g_new0(ReplicationStatus, 1);
}

void qmp_xen_colo_do_checkpoint(GError **errp)
{
    /* The filters' side of a checkpoint: filter-rewriter starts its offsets over. */
    colo_notify_filters_event(COLO_EVENT_CHECKPOINT, errp);
}
