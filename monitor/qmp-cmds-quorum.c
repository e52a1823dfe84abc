/*
 * QMP's x-blockdev-change (a quorum child added or removed at run time) and the quorum
 * driver's events QUORUM_REPORT_BAD and QUORUM_FAILURE, with QEMU 7.2's checks and wording.
 */
#include "block/block-backend.h"
#include "monitor/quorum.h"

#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

static void send_now(const QuorumEvent *ev)
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

/*
 * Upstream rate-limits both events to one a second (QUORUM_REPORT_BAD per node-name): the first
 * goes out at once; within the second that follows, each new one replaces the one waiting, which
 * goes out when the second is over, and starts another.
 *
 *   idle --event--> sent, window open --event--> pending (latest kept)
 *                       ^                            |
 *                       +------ window ends: sent ---+     window ends, nothing pending: idle
 */
#define QUORUM_EVENT_RATE_MS 1000

typedef struct Throttle {
    char *key;
    QuorumEvent *pending;
} Throttle;

static GHashTable *throttles; /* key -> Throttle* */

static QuorumEvent *event_copy(const QuorumEvent *ev)
{
    QuorumEvent *c = g_memdup2(ev, sizeof(*ev));
    c->error = g_strdup(ev->error);
    c->node_name = g_strdup(ev->node_name);
    return c;
}

static void event_free(QuorumEvent *ev)
{
    if (ev) {
        g_free(ev->error);
        g_free(ev->node_name);
        g_free(ev);
    }
}

static gboolean window_ends(gpointer opaque)
{
    Throttle *t = opaque;
    if (t->pending) {
        send_now(t->pending);
        g_clear_pointer(&t->pending, event_free);
        return G_SOURCE_CONTINUE;
    }
    g_hash_table_remove(throttles, t->key);
    g_free(t->key);
    g_free(t);
    return G_SOURCE_REMOVE;
}

void monitor_quorum_event(const QuorumEvent *ev)
{
    g_autofree char *key = ev->kind == QUORUM_EVENT_FAILURE
                               ? g_strdup("QUORUM_FAILURE")
                               : g_strdup_printf("QUORUM_REPORT_BAD/%s", ev->node_name);
    if (!throttles) {
        throttles = g_hash_table_new(g_str_hash, g_str_equal);
    }
    Throttle *t = g_hash_table_lookup(throttles, key);
    if (t) {
        event_free(t->pending);
        t->pending = event_copy(ev);
        return;
    }
    send_now(ev);
    t = g_new0(Throttle, 1);
    t->key = g_steal_pointer(&key);
    g_hash_table_insert(throttles, t->key, t);
    g_timeout_add(QUORUM_EVENT_RATE_MS, window_ends, t);
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
