/*
 * The virtio PCI transport, modern interface (virtio 1.x 4.1): vendor capabilities in config
 * space pointing into one 64-bit prefetchable memory BAR (BAR 4, 16 KiB, upstream's layout):
 *
 *   BAR4 +0x0000  common configuration (features, status, queue setup)
 *        +0x1000  ISR status (read clears, lowers INTx)
 *        +0x2000  device-specific configuration (virtio-net: mac, status)
 *        +0x3000  notifications: queue n at +4n (notify_off_multiplier 4)
 *
 * A fifth vendor capability, the PCI configuration access window (virtio 1.x 4.1.4.9), reaches
 * the same registers through config space: the driver sets bar (4), offset and length (1, 2,
 * 4), then reads or writes its data field. Capabilities are listed as upstream lists them: MSI-X
 * (0x98), the window (0x84), notify, device, ISR, common (0x40).
 *
 * PCI IDs as upstream: vendor 0x1af4, device 0x1000 + type - 1 (transitional numbering),
 * subsystem id = virtio type.
 *
 * Interrupts: with vectors > 0 an MSI-X capability and its table and PBA in BAR 1 (4 KiB,
 * hw/pci/msix.h), upstream's layout. The driver points msix_config and each queue's
 * queue_msix_vector at table entries; once it enables MSI-X each queue's notification is that
 * vector's message and the ISR goes unread. Until then (and with vectors=0) the device raises
 * INTx and the driver reads the ISR to learn why:
 *
 *   virtqueue_notify(q) ─► MSI-X enabled? ─yes─► queue_vector[q] != NO_VECTOR ─► msix_notify
 *                            └no─► ISR |= 1, INTx up until the ISR is read
 */
#ifndef HW_VIRTIO_VIRTIO_PCI_H
#define HW_VIRTIO_VIRTIO_PCI_H

#include "hw/pci/msix.h"
#include "hw/pci/pci.h"
#include "hw/virtio/virtio.h"

#define VIRTIO_PCI_BAR         4
#define VIRTIO_PCI_BAR_SIZE    0x4000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_BAR    1
#define VIRTIO_NO_VECTOR       0xffff

typedef struct VirtIOPCIProxy VirtIOPCIProxy;

/* devfn < 0: first free slot. class_code: e.g. 0x020000 for a network controller. nvectors:
 * the MSI-X table's size (0: INTx only; above MSIX_MAX_VECTORS: upstream's warning, INTx). */
VirtIOPCIProxy *virtio_pci_new(PCIBus *bus, const char *name, int devfn, VirtIODevice *vdev,
                               uint32_t class_code, uint32_t nvectors, GError **errp);
void virtio_pci_free(VirtIOPCIProxy *proxy);
/* The modern transport's registers (feature selectors, queue select). */
extern const VMStateDescription vmstate_virtio_pci;
PCIDevice *virtio_pci_device(VirtIOPCIProxy *proxy);
/* Device reset of the transport: vectors NO_VECTOR, MSI-X off and masked (after virtio_reset). */
void virtio_pci_reset(VirtIOPCIProxy *proxy);
const PCIMsix *virtio_pci_msix(VirtIOPCIProxy *proxy);

#endif
