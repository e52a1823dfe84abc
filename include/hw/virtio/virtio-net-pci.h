/*
 * -device virtio-net-pci: a virtio-net device behind the modern virtio-pci transport, peered
 * with a -netdev, as one device of the machine's list (hw/core/device.h).
 *
 *   -device virtio-net-pci,netdev=ID[,mac=][,addr=][,id=]
 *        ─► create(DeviceHost) ─► virtio-net + virtio-pci function on host->pci
 *                               ─► NIC client peered with the netdev ─► host->plug()
 *   state: "virtio-net" (device, queues) and "virtio-pci" (transport) sections, instance =
 *          its position among the machine's NICs; its config space is the bus's "pci-device"
 */
#ifndef HW_VIRTIO_VIRTIO_NET_PCI_H
#define HW_VIRTIO_VIRTIO_NET_PCI_H

#include <glib.h>

#include "hw/core/device.h"
#include "hw/virtio/virtio-net.h"
#include "hw/virtio/virtio-pci.h"

typedef struct VirtIONetPCI VirtIONetPCI;

extern const DeviceContract virtio_net_pci_device;

/* Registers the -device type (once, from hw_register_types). */
void virtio_net_pci_register_type(void);
/* The same device from a property table (-nic requests); host as for -device. */
bool virtio_net_pci_create(DeviceHost *host, const char *id, GHashTable *props, GError **errp);

VirtIONet *virtio_net_pci_net(VirtIONetPCI *d);
/* The NIC's name: its id, or "virtio-net-pci.N" when none was given. */
const char *virtio_net_pci_name(VirtIONetPCI *d);

#endif
