/* Hubs; see include/net/hub.h. */
#include "net/hub.h"
#include "util/error.h"

typedef struct NetHub NetHub;

typedef struct NetHubPort {
    NetClientState nc;
    NetHub *hub;
    int id;
} NetHubPort;

struct NetHub {
    int id;
    GList *ports; /* newest first, as upstream lists them */
    int num_ports;
};

static GList *hubs; /* newest first */

static NetHub *hub_find(int id)
{
    for (GList *l = hubs; l; l = l->next) {
        NetHub *hub = l->data;

        if (hub->id == id) {
            return hub;
        }
    }
    return NULL;
}

/* No other port on the hub: nothing will ever take what this port receives. */
static bool hub_port_alone(NetHubPort *port)
{
    return !port->hub->ports->next;
}

static bool hub_port_can_receive(NetClientState *nc)
{
    NetHubPort *src = (NetHubPort *)nc;

    /*
     * Alone, the port takes the packet to drop it: queued, it would wait for a port that may
     * never come, and its sender (a socket netdev) would stop reading until then, leaving the
     * rest of a burst unread, unmirrored and uncounted.
     */
    if (hub_port_alone(src)) {
        return true;
    }
    /* Take the packet if at least one other port can pass it on now. */
    for (GList *l = src->hub->ports; l; l = l->next) {
        NetHubPort *port = l->data;

        if (port != src && qemu_can_send_packet(&port->nc)) {
            return true;
        }
    }
    return false;
}

static ssize_t hub_port_receive_iov(NetClientState *nc, const struct iovec *iov, int iovcnt)
{
    NetHubPort *src = (NetHubPort *)nc;

    if (hub_port_alone(src)) {
        nc->stats.rx_dropped++;
        return iov_size(iov, iovcnt);
    }
    /* Flushes come here without asking can_receive: keep the packet until a port can take it. */
    if (!hub_port_can_receive(nc)) {
        return 0;
    }
    for (GList *l = src->hub->ports; l; l = l->next) {
        NetHubPort *port = l->data;

        if (port != src) {
            qemu_sendv_packet_async(&port->nc, iov, iovcnt, NULL);
        }
    }
    return iov_size(iov, iovcnt);
}

static void hub_port_cleanup(NetClientState *nc)
{
    NetHubPort *port = (NetHubPort *)nc;
    NetHub *hub = port->hub;

    hub->ports = g_list_remove(hub->ports, port);
    if (hub->ports) {
        /* What waited for the port that left may go elsewhere now, or be dropped if alone. */
        net_hub_flush(nc);
    }
    if (!hub->ports) {
        hubs = g_list_remove(hubs, hub);
        g_free(hub);
    }
}

static const NetClientInfo hub_port_info = {
    .type = NET_CLIENT_DRIVER_HUBPORT,
    .size = sizeof(NetHubPort),
    .can_receive = hub_port_can_receive,
    .receive_iov = hub_port_receive_iov,
    .cleanup = hub_port_cleanup,
};

NetClientState *net_hub_add_port(int hub_id, const char *name, NetClientState *hubpeer)
{
    NetHub *hub = hub_find(hub_id);
    g_autofree char *default_name = NULL;
    NetHubPort *port;

    if (!hub) {
        hub = g_new0(NetHub, 1);
        hub->id = hub_id;
        hubs = g_list_prepend(hubs, hub);
    }
    if (!name) {
        default_name = g_strdup_printf("hub%dport%d", hub_id, hub->num_ports);
        name = default_name;
    }
    port = (NetHubPort *)qemu_new_net_client(&hub_port_info, hubpeer, "hub", name);
    port->hub = hub;
    port->id = hub->num_ports++;
    hub->ports = g_list_prepend(hub->ports, port);
    return &port->nc;
}

bool net_hub_flush(NetClientState *nc)
{
    NetHubPort *src = (NetHubPort *)nc;
    bool moved = false;

    for (GList *l = src->hub->ports; l; l = l->next) {
        NetHubPort *port = l->data;

        if (port != src && qemu_net_queue_len(port->nc.incoming_queue)) {
            port->nc.receive_disabled = false;
            qemu_net_queue_flush(port->nc.incoming_queue);
            moved = true;
        }
    }
    return moved;
}

int net_hub_id_for_client(NetClientState *nc)
{
    if (nc->info->type == NET_CLIENT_DRIVER_HUBPORT) {
        return ((NetHubPort *)nc)->hub->id;
    }
    if (nc->peer && nc->peer->info->type == NET_CLIENT_DRIVER_HUBPORT) {
        return ((NetHubPort *)nc->peer)->hub->id;
    }
    return -1;
}

void net_hub_info(GString *out, void (*print_client)(GString *, NetClientState *))
{
    for (GList *h = hubs; h; h = h->next) {
        NetHub *hub = h->data;

        g_string_append_printf(out, "hub %d\n", hub->id);
        for (GList *l = hub->ports; l; l = l->next) {
            NetHubPort *port = l->data;

            g_string_append_printf(out, " \\ %s", port->nc.name);
            if (port->nc.peer) {
                g_string_append(out, ": ");
                print_client(out, port->nc.peer);
            } else {
                g_string_append(out, "\n");
            }
        }
    }
}

void net_hub_check_clients(void)
{
    for (GList *h = hubs; h; h = h->next) {
        NetHub *hub = h->data;
        bool has_nic = false, has_host_dev = false;

        for (GList *l = hub->ports; l; l = l->next) {
            NetClientState *peer = ((NetHubPort *)l->data)->nc.peer;

            if (!peer) {
                continue;
            }
            if (peer->info->type == NET_CLIENT_DRIVER_NIC) {
                has_nic = true;
            } else {
                has_host_dev = true;
            }
        }
        if (has_host_dev && !has_nic) {
            warn_report("hub %d with no nics", hub->id);
        }
        if (has_nic && !has_host_dev) {
            warn_report("hub %d is not connected to host network", hub->id);
        }
    }
}
