/*
 * QMP for Xen's COLO (qapi/migration.json): xen-set-replication, query-xen-replication-status
 * and xen-colo-do-checkpoint. Xen runs the checkpoint frame itself and asks QEMU to start,
 * checkpoint and stop block replication (block/replication.c) and the network filters, as
 * 7.2's migration/colo.c does; without a replication node each is a no-op.
 */
#include "block/replication.h"
#include "net/filter.h"
#include "qapi-commands.h"
#include "util/error.h"

void qmp_xen_set_replication(bool enable, bool primary, bool has_failover, bool failover,
                             GError **errp)
{
    /* 7.2 checks the argument before anything else, whatever the value of @failover. */
    if (enable && has_failover) {
        error_setg(errp, "Parameter 'failover' is only for stopping replication");
        return;
    }
    if (enable) {
        replication_start_all(primary ? REPLICATION_MODE_PRIMARY : REPLICATION_MODE_SECONDARY,
                              errp);
        return;
    }
    failover = has_failover && failover;
    /* 7.2 ignores what a failover's stop reports (the survivor goes on regardless). */
    replication_stop_all(failover, failover ? NULL : errp);
}

ReplicationStatus *qmp_query_xen_replication_status(GError **errp)
{
    ReplicationStatus *s = g_new0(ReplicationStatus, 1);
    GError *err = NULL;
    replication_get_error_all(&err);
    if (err) {
        s->error = true;
        s->desc = g_strdup(err->message);
        g_error_free(err);
    }
    return s;
}

void qmp_xen_colo_do_checkpoint(GError **errp)
{
    GError *err = NULL;
    replication_do_checkpoint_all(NULL, &err);
    if (err) {
        g_propagate_error(errp, err);
        return;
    }
    /* The filters' side of a checkpoint: filter-rewriter starts its offsets over. */
    colo_notify_filters_event(COLO_EVENT_CHECKPOINT, errp);
}
