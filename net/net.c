/* Net clients, the send path and the filter chain; see include/net/net.h. */
#include "net/net.h"
#include "net/hub.h"
#include "util/error.h"
#include <stdarg.h>
#include <string.h>

/* Every client in creation order. */
static GQueue net_clients = G_QUEUE_INIT;

/* ---- clients ---- */

NetClientState *qemu_new_net_client(const NetClientInfo *info, NetClientState *peer,
                                    const char *model, const char *name)
{
    NetClientState *nc;

    g_assert(info->size >= sizeof(NetClientState));
    nc = g_malloc0(info->size);
    nc->info = info;
    nc->model = g_strdup(model);
    nc->name = g_strdup(name ? name : model);
    nc->incoming_queue = qemu_new_net_queue(qemu_deliver_packet_iov, nc);
    if (peer) {
        qemu_net_client_set_peer(nc, peer);
    }
    g_queue_push_tail(&net_clients, nc);
    return nc;
}

void qemu_net_client_set_peer(NetClientState *a, NetClientState *b)
{
    g_assert(!a->peer && !b->peer);
    a->peer = b;
    b->peer = a;
}

void qemu_del_net_client(NetClientState *nc)
{
    NetClientState *peer = nc->peer;

    /* Filters outlive nothing they point at: unlink them first (their objects stay). */
    while (nc->filters) {
        NetFilterNode *node = nc->filters->data;

        net_filter_chain_remove(node);
        if (node->netdev_gone) {
            node->netdev_gone(node);
        }
    }
    if (peer) {
        qemu_net_queue_purge(peer->incoming_queue, nc);
        peer->peer = NULL;
        nc->peer = NULL;
    }
    g_queue_remove(&net_clients, nc);
    if (peer && peer->info->type == NET_CLIENT_DRIVER_HUBPORT) {
        /* Packets that waited in the hub for @nc now go to the other ports, or are dropped. */
        net_hub_flush(peer);
    }
    if (nc->info->cleanup) {
        nc->info->cleanup(nc);
    }
    qemu_del_net_queue(nc->incoming_queue);
    g_free(nc->model);
    g_free(nc->name);
    g_free(nc);
}

GList *qemu_net_clients(void)
{
    return net_clients.head;
}

NetClientState *qemu_find_netdev(const char *id)
{
    for (GList *l = net_clients.head; l; l = l->next) {
        NetClientState *nc = l->data;

        if (nc->info->type != NET_CLIENT_DRIVER_NIC && !g_strcmp0(nc->name, id)) {
            return nc;
        }
    }
    return NULL;
}

void qemu_format_nic_info_str(NetClientState *nc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_vsnprintf(nc->info_str, sizeof(nc->info_str), fmt, ap);
    va_end(ap);
}

/* ---- receiving ---- */

/*
 * A stopped VM's RAM must not change (upstream's virtio-net refuses packets while the VM is
 * stopped, and its net core flushes the queues on resume): a frame a NIC wrote into RAM after a
 * migration or a COLO checkpoint took its snapshot is in neither side's copy. In COLO the
 * primary then acknowledged data the secondary never saw, and the connection stood still until
 * colo-compare's timeout forced another checkpoint.
 */
static bool vm_running = true;

static bool nic_stopped(NetClientState *nc)
{
    return !vm_running && nc->info->type == NET_CLIENT_DRIVER_NIC;
}

void qemu_net_set_vm_running(bool running)
{
    vm_running = running;
    for (GList *l = net_clients.head; l; l = l->next) {
        NetClientState *nc = l->data;

        if (nc->info->vm_state_changed) {
            nc->info->vm_state_changed(nc, running);
        }
        if (running && nc->info->type == NET_CLIENT_DRIVER_NIC) {
            qemu_flush_queued_packets(nc);
        }
    }
}

bool qemu_net_vm_running(void)
{
    return vm_running;
}

bool qemu_can_receive_packet(NetClientState *nc)
{
    if (nc->receive_disabled || nic_stopped(nc)) {
        return false;
    }
    if (nc->info->can_receive && !nc->info->can_receive(nc)) {
        return false;
    }
    return true;
}

bool qemu_can_send_packet(NetClientState *sender)
{
    if (!sender->peer) {
        return true;
    }
    return qemu_can_receive_packet(sender->peer);
}

ssize_t qemu_deliver_packet_iov(NetClientState *sender, unsigned flags, const struct iovec *iov,
                                int iovcnt, void *opaque)
{
    NetClientState *nc = opaque;
    size_t size = iov_size(iov, iovcnt);
    ssize_t ret;

    if (nc->link_down) {
        nc->stats.rx_dropped++;
        return size;
    }
    if (nc->receive_disabled || nic_stopped(nc)) {
        return 0;
    }
    if (nc->info->receive_iov) {
        ret = nc->info->receive_iov(nc, iov, iovcnt);
    } else if (nc->info->receive) {
        if (iovcnt == 1) {
            ret = nc->info->receive(nc, iov[0].iov_base, iov[0].iov_len);
        } else {
            g_autofree uint8_t *buf = g_malloc(size ? size : 1);

            iov_to_buf(iov, iovcnt, 0, buf, size);
            ret = nc->info->receive(nc, buf, size);
        }
    } else {
        /* A client that takes nothing: the packet ends here, counted. */
        nc->stats.rx_dropped++;
        return size;
    }
    if (ret == 0 && size > 0) {
        nc->receive_disabled = true;
    } else if (ret > 0 || size == 0) {
        nc->stats.rx_packets++;
        nc->stats.rx_bytes += size;
    } else {
        nc->stats.rx_dropped++;
    }
    return ret;
}

void qemu_flush_queued_packets(NetClientState *nc)
{
    nc->receive_disabled = false;
    /* Our own queue first: it holds the older packets. */
    if (!qemu_net_queue_flush(nc->incoming_queue)) {
        return;
    }
    if (nc->peer && nc->peer->info->type == NET_CLIENT_DRIVER_HUBPORT &&
        qemu_can_receive_packet(nc)) {
        /* A hub holds packets for us in its other ports' queues. */
        net_hub_flush(nc->peer);
    }
}

/* ---- sending ---- */

static ssize_t deliver_to_peer(NetClientState *sender, unsigned flags, const struct iovec *iov,
                               int iovcnt, NetPacketSent *sent_cb)
{
    NetClientState *peer = sender->peer;

    if (!peer) {
        /* The path ends at a filter's re-injection with nobody behind it. */
        sender->stats.tx_dropped++;
        return iov_size(iov, iovcnt);
    }
    return qemu_net_queue_send_iov(peer->incoming_queue, sender, flags, iov, iovcnt,
                                   qemu_can_receive_packet(peer), sent_cb);
}

static ssize_t sendv_packet(NetClientState *sender, unsigned flags, const struct iovec *iov,
                            int iovcnt, NetPacketSent *sent_cb)
{
    size_t size = iov_size(iov, iovcnt);
    ssize_t ret;

    if (sender->link_down || !sender->peer) {
        sender->stats.tx_dropped++;
        return size;
    }
    sender->stats.tx_packets++;
    sender->stats.tx_bytes += size;
    ret = net_filter_chain_run(sender, NET_FILTER_DIRECTION_TX, NULL, sender, flags, iov, iovcnt,
                               sent_cb);
    if (ret) {
        return ret;
    }
    ret = net_filter_chain_run(sender->peer, NET_FILTER_DIRECTION_RX, NULL, sender, flags, iov,
                               iovcnt, sent_cb);
    if (ret) {
        return ret;
    }
    return deliver_to_peer(sender, flags, iov, iovcnt, sent_cb);
}

ssize_t qemu_sendv_packet_async(NetClientState *sender, const struct iovec *iov, int iovcnt,
                                NetPacketSent *sent_cb)
{
    return sendv_packet(sender, QEMU_NET_PACKET_FLAG_NONE, iov, iovcnt, sent_cb);
}

ssize_t qemu_send_packet_async(NetClientState *sender, const uint8_t *buf, int size,
                               NetPacketSent *sent_cb)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return sendv_packet(sender, QEMU_NET_PACKET_FLAG_NONE, &iov, 1, sent_cb);
}

void qemu_send_packet(NetClientState *nc, const uint8_t *buf, int size)
{
    qemu_send_packet_async(nc, buf, size, NULL);
}

ssize_t qemu_send_packet_offload(NetClientState *sender, const uint8_t *vnet_hdr,
                                 const uint8_t *buf, size_t size)
{
    NetClientState *peer = sender->peer;
    ssize_t ret;

    if (!peer || sender->link_down || peer->link_down || sender->filters || peer->filters ||
        !peer->info->receive_offload || qemu_net_queue_len(peer->incoming_queue) ||
        !qemu_can_receive_packet(peer)) {
        return 0;
    }
    ret = peer->info->receive_offload(peer, vnet_hdr, buf, size);
    if (ret <= 0) {
        return 0;
    }
    sender->stats.tx_packets++;
    sender->stats.tx_bytes += size;
    peer->stats.rx_packets++;
    peer->stats.rx_bytes += size;
    return ret;
}

/* ---- write batching ---- */

typedef struct NetBatchEntry {
    NetBatchFlushFunc *fn;
    void *opaque;
} NetBatchEntry;

static unsigned batch_depth;
static GArray *batch_pending; /* of NetBatchEntry */

guint net_fd_watch(int fd, GIOCondition cond, GUnixFDSourceFunc fn, void *opaque)
{
    GSource *src = g_unix_fd_source_new(fd, cond);

    g_source_set_can_recurse(src, TRUE);
    g_source_set_callback(src, G_SOURCE_FUNC(fn), opaque, NULL);
    guint id = g_source_attach(src, NULL);
    g_source_unref(src);
    return id;
}

void net_batch_begin(void)
{
    batch_depth++;
}

bool net_batch_active(void)
{
    return batch_depth > 0;
}

void net_batch_defer(NetBatchFlushFunc *fn, void *opaque)
{
    NetBatchEntry e = {.fn = fn, .opaque = opaque};

    if (!batch_pending) {
        batch_pending = g_array_new(FALSE, FALSE, sizeof(NetBatchEntry));
    }
    for (guint i = 0; i < batch_pending->len; i++) {
        NetBatchEntry *p = &g_array_index(batch_pending, NetBatchEntry, i);

        if (p->fn == fn && p->opaque == opaque) {
            return;
        }
    }
    g_array_append_val(batch_pending, e);
}

void net_batch_cancel(void *opaque)
{
    for (guint i = 0; batch_pending && i < batch_pending->len; i++) {
        NetBatchEntry *p = &g_array_index(batch_pending, NetBatchEntry, i);

        if (p->opaque == opaque) {
            p->fn = NULL;
        }
    }
}

void net_batch_end(void)
{
    g_assert(batch_depth > 0);
    if (--batch_depth > 0) {
        return;
    }
    /* A flush may send packets that defer more flushes: loop until nothing is left. */
    batch_depth++;
    for (guint i = 0; batch_pending && i < batch_pending->len; i++) {
        NetBatchEntry e = g_array_index(batch_pending, NetBatchEntry, i);

        if (e.fn) {
            e.fn(e.opaque);
        }
    }
    if (batch_pending) {
        g_array_set_size(batch_pending, 0);
    }
    batch_depth--;
}

/* ---- link and header ---- */

void qemu_set_link(NetClientState *nc, bool up)
{
    nc->link_down = !up;
    if (nc->info->link_status_changed) {
        nc->info->link_status_changed(nc);
    }
    if (nc->peer) {
        /*
         * A link on a backend is also the link of the NIC facing it (upstream changes both
         * when the peer is a NIC); a hub port keeps its own.
         */
        if (nc->peer->info->type == NET_CLIENT_DRIVER_NIC) {
            nc->peer->link_down = !up;
            if (nc->peer->info->link_status_changed) {
                nc->peer->info->link_status_changed(nc->peer);
            }
        }
    }
    if (up) {
        qemu_flush_queued_packets(nc);
        if (nc->peer) {
            qemu_flush_queued_packets(nc->peer);
        }
    }
}

void qemu_set_vnet_hdr_len(NetClientState *nc, int len)
{
    nc->vnet_hdr_len = len;
}

/* ---- the filter chain ---- */

void net_filter_chain_insert(NetClientState *nc, NetFilterNode *node, bool head, NetFilterNode *ref,
                             NetFilterInsert insert)
{
    g_assert(!node->netdev);
    if (ref) {
        g_assert(ref->netdev == nc);
        GList *sibling = insert == NET_FILTER_INSERT_BEFORE ? ref->link : ref->link->next;

        nc->filters = g_list_insert_before(nc->filters, sibling, node);
        node->link = sibling ? sibling->prev : g_list_last(nc->filters);
    } else if (head) {
        nc->filters = g_list_prepend(nc->filters, node);
        node->link = nc->filters;
    } else {
        nc->filters = g_list_append(nc->filters, node);
        node->link = g_list_last(nc->filters);
    }
    node->netdev = nc;
}

void net_filter_chain_remove(NetFilterNode *node)
{
    NetClientState *nc = node->netdev;

    if (!nc) {
        return;
    }
    nc->filters = g_list_delete_link(nc->filters, node->link);
    node->link = NULL;
    node->netdev = NULL;
}

static inline bool filter_applies(const NetFilterNode *node, NetFilterDirection dir)
{
    return node->on && (node->direction == NET_FILTER_DIRECTION_ALL || node->direction == dir);
}

ssize_t net_filter_chain_run(NetClientState *nc, NetFilterDirection dir, NetFilterNode *after,
                             NetClientState *sender, unsigned flags, const struct iovec *iov,
                             int iovcnt, NetPacketSent *sent_cb)
{
    GList *l;

    if (dir == NET_FILTER_DIRECTION_TX) {
        l = after ? after->link->next : nc->filters;
    } else {
        l = after ? after->link->prev : g_list_last(nc->filters);
    }
    while (l) {
        NetFilterNode *node = l->data;
        /* The filter may unlink itself while it runs; step first. */
        GList *next = dir == NET_FILTER_DIRECTION_TX ? l->next : l->prev;

        if (filter_applies(node, dir)) {
            ssize_t ret = node->receive_iov(node, sender, flags, iov, iovcnt, sent_cb);

            if (ret) {
                return ret;
            }
        }
        l = next;
    }
    return 0;
}

ssize_t qemu_netfilter_pass_to_next(NetClientState *sender, unsigned flags, const struct iovec *iov,
                                    int iovcnt, NetFilterNode *node)
{
    return qemu_netfilter_pass_to_next_async(sender, flags, iov, iovcnt, node, NULL);
}

ssize_t qemu_netfilter_pass_to_next_async(NetClientState *sender, unsigned flags,
                                          const struct iovec *iov, int iovcnt, NetFilterNode *node,
                                          NetPacketSent *sent_cb)
{
    NetClientState *netdev = node->netdev;
    NetFilterDirection dir = node->direction;
    ssize_t ret;

    if (!netdev || !sender) {
        /* Filter unlinked, or nobody on that side (no NIC): the packet ends here. */
        return iov_size(iov, iovcnt);
    }
    if (dir == NET_FILTER_DIRECTION_ALL) {
        dir = sender == netdev ? NET_FILTER_DIRECTION_TX : NET_FILTER_DIRECTION_RX;
    }
    ret = net_filter_chain_run(netdev, dir, node, sender, flags, iov, iovcnt, sent_cb);
    if (ret) {
        return ret;
    }
    return deliver_to_peer(sender, flags, iov, iovcnt, sent_cb);
}
