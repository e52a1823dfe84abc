/* virtio-net as a net client (include/hw/virtio/virtio-net-nc.h). */
#include <string.h>

#include "hw/virtio/virtio-net-nc.h"
#include "net/net.h"
#include "util/error.h"

struct VirtIONetClient {
    NetClientState nc; /* first: the core allocates info->size bytes around it */
    VirtIONet *nic;
};

static ssize_t nc_receive(NetClientState *nc, const uint8_t *buf, size_t size)
{
    VirtIONetClient *c = (VirtIONetClient *)nc;
    ssize_t r = virtio_net_receive(c->nic, buf, size);
    /* dropped frames are counted by virtio-net; to the core they are consumed */
    return r < 0 ? (ssize_t)size : r;
}

static ssize_t nc_receive_offload(NetClientState *nc, const uint8_t *hdr, const uint8_t *buf,
                                  size_t size)
{
    VirtIONetClient *c = (VirtIONetClient *)nc;
    return virtio_net_receive_offload(c->nic, hdr, buf, size);
}

static bool nc_can_receive(NetClientState *nc)
{
    VirtIONetClient *c = (VirtIONetClient *)nc;
    return virtio_net_can_receive(c->nic);
}

static void nc_link_changed(NetClientState *nc)
{
    VirtIONetClient *c = (VirtIONetClient *)nc;
    virtio_net_set_link(c->nic, !nc->link_down);
}

static void nc_vm_state_changed(NetClientState *nc, bool running)
{
    VirtIONetClient *c = (VirtIONetClient *)nc;
    virtio_net_set_running(c->nic, running);
}

static const NetClientInfo nic_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(VirtIONetClient),
    .receive = nc_receive,
    .can_receive = nc_can_receive,
    .receive_offload = nc_receive_offload,
    .link_status_changed = nc_link_changed,
    .vm_state_changed = nc_vm_state_changed,
};

static void peer_send(void *opaque, const uint8_t *buf, size_t len)
{
    VirtIONetClient *c = opaque;
    qemu_send_packet(&c->nc, buf, len);
}

static bool peer_send_offload(void *opaque, const uint8_t *hdr, const uint8_t *buf, size_t len)
{
    VirtIONetClient *c = opaque;
    return qemu_send_packet_offload(&c->nc, hdr, buf, len) > 0;
}

static void peer_rx_ready(void *opaque)
{
    VirtIONetClient *c = opaque;
    qemu_flush_queued_packets(&c->nc);
}

VirtIONetClient *virtio_net_nc_attach(VirtIONet *nic, const char *netdev_id, const char *name,
                                      const uint8_t mac[6], GError **errp)
{
    NetClientState *peer = qemu_find_netdev(netdev_id);
    if (!peer) {
        error_setg(errp, "Property 'virtio-net-device.netdev' can't find value '%s'", netdev_id);
        return NULL;
    }
    if (peer->peer) {
        error_setg(errp, "Property 'virtio-net-device.netdev' can't take value '%s', it's in use",
                   netdev_id);
        return NULL;
    }
    VirtIONetClient *c =
        (VirtIONetClient *)qemu_new_net_client(&nic_info, peer, "virtio-net-pci", name);
    c->nic = nic;
    c->nc.has_macaddr = true;
    memcpy(c->nc.macaddr, mac, 6);
    qemu_format_nic_info_str(&c->nc,
                             "model=virtio-net-pci,macaddr=%02x:%02x:%02x:%02x:%02x:"
                             "%02x",
                             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    VirtIONetPeer p = {
        .send = peer_send,
        .rx_ready = peer_rx_ready,
        .send_offload = peer_send_offload,
        .opaque = c,
    };
    virtio_net_set_peer(nic, &p);
    virtio_net_set_link(nic, !peer->link_down);
    virtio_net_set_running(nic, qemu_net_vm_running());
    return c;
}

void virtio_net_nc_detach(VirtIONetClient *c)
{
    if (!c) {
        return;
    }
    virtio_net_set_peer(c->nic, NULL);
    qemu_del_net_client(&c->nc);
}
