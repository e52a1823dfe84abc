/* QMP and HMP commands for network backends and filters (qapi/net.json). */
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "net/announce.h"
#include "net/backends.h"
#include "net/filter.h"
#include "qapi-commands.h"
#include "util/error.h"

/* netdev_add takes the backend's own members, so its marshaller is written here ('gen': false). */
void qmp_marshal_netdev_add(JsonObject *args, JsonNode **ret, GError **errp)
{
    g_autoptr(NetOpts) opts = net_opts_from_json(args, errp);
    const char *id = json_object_has_member(args, "id") &&
                             JSON_NODE_HOLDS_VALUE(json_object_get_member(args, "id"))
                         ? json_object_get_string_member(args, "id")
                         : NULL;

    /* Upstream's QMP path words a taken id without the "for netdev" of -netdev. */
    if (opts && id && qemu_find_netdev(id)) {
        error_setg(errp, "Duplicate ID '%s'", id);
        return;
    }
    if (opts && net_client_init(opts, true, errp)) {
        *ret = json_node_init_object(json_node_alloc(), json_object_new());
    }
}

void qmp_netdev_del(const char *id, GError **errp)
{
    net_client_del(id, errp);
}

void qmp_announce_self(AnnounceParameters *params, GError **errp)
{
    announce_self_named(params);
}

void qmp_set_link(const char *name, bool up, GError **errp)
{
    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;

        if (!g_strcmp0(nc->name, name)) {
            qemu_set_link(nc, up);
            return;
        }
    }
    error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", name);
}

GPtrArray *qmp_x_query_net_counters(GError **errp)
{
    GPtrArray *list = qapi_list_new_NetClientCounters();

    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;
        NetClientCounters *c = g_new0(NetClientCounters, 1);
        const NetQueueStats *qs = qemu_net_queue_stats(nc->incoming_queue);

        c->name = g_strdup(nc->name);
        c->type = g_strdup(NetClientDriver_str(nc->info->type));
        c->tx_packets = nc->stats.tx_packets;
        c->tx_bytes = nc->stats.tx_bytes;
        c->rx_packets = nc->stats.rx_packets;
        c->rx_bytes = nc->stats.rx_bytes;
        c->tx_dropped = nc->stats.tx_dropped;
        c->rx_dropped = nc->stats.rx_dropped;
        c->queued = qemu_net_queue_len(nc->incoming_queue);
        c->queue_dropped = qs->dropped;
        c->filters = qapi_list_new_NetFilterCounters();
        for (GList *f = nc->filters; f; f = f->next) {
            NetFilterNode *node = f->data;
            NetFilterCounters *fc = g_new0(NetFilterCounters, 1);

            fc->id = g_strdup(node->id);
            fc->type = g_strdup(node->type_name ? node->type_name : "netfilter");
            if (G_TYPE_CHECK_INSTANCE_TYPE(node->opaque, TYPE_NETFILTER)) {
                NetFilterStats *st = net_filter_stats(NET_FILTER(node->opaque));

                fc->packets = st->packets;
                fc->bytes = st->bytes;
                fc->dropped = st->dropped;
                fc->injected = st->injected;
            }
            g_ptr_array_add(c->filters, fc);
        }
        g_ptr_array_add(list, c);
    }
    return list;
}

void hmp_info_network(Monitor *mon, const HmpArgs *args)
{
    g_autofree char *text = net_info_network();

    monitor_printf(mon, "%s", text);
}

void hmp_netdev_add(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    KeyvalList *kv =
        keyval_parse(hmp_args_get_str(args, "netdev"), "type", KEYVAL_OPTS | KEYVAL_REPEAT, &err);

    if (kv) {
        net_client_init_from_opts(kv, true, &err);
        keyval_list_free(kv);
    }
    hmp_handle_error(mon, err);
}

void hmp_netdev_del(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;

    qmp_netdev_del(hmp_args_get_str(args, "id"), &err);
    hmp_handle_error(mon, err);
}

void hmp_set_link(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;

    qmp_set_link(hmp_args_get_str(args, "name"), hmp_args_get_bool(args, "up", false), &err);
    hmp_handle_error(mon, err);
}
