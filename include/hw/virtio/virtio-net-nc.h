/*
 * virtio-net as a net client: the NIC end of a -netdev's packet path (include/net/net.h).
 *
 *   netdev ──► filters ──► NIC client receive ──► virtio_net_receive (0: queued in the core)
 *   guest TX ──► virtio-net peer.send ──► qemu_send_packet(NIC client) ──► filters ──► netdev
 *   guest adds RX buffers ──► peer.rx_ready ──► qemu_flush_queued_packets(NIC client)
 *   set_link on the netdev ──► link_status_changed ──► virtio-net link bit + config interrupt
 *
 * Frames cross without a virtio-net header (vnet_hdr_len 0), so filters and colo-compare see
 * plain Ethernet frames, as with upstream's vnet_hdr=off.
 */
#ifndef HW_VIRTIO_VIRTIO_NET_NC_H
#define HW_VIRTIO_VIRTIO_NET_NC_H

#include "hw/virtio/virtio-net.h"

typedef struct VirtIONetClient VirtIONetClient;

/* Peers nic with -netdev netdev_id under the client name `name`; upstream's errors. */
VirtIONetClient *virtio_net_nc_attach(VirtIONet *nic, const char *netdev_id, const char *name,
                                      const uint8_t mac[6], GError **errp);
void virtio_net_nc_detach(VirtIONetClient *c);

#endif
