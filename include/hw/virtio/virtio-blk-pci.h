/*
 * -device virtio-blk-pci: a virtio-blk device behind the modern virtio-pci transport, on a
 * drive (a -drive id, or a node-name of -blockdev), as one device of the machine's list.
 *
 *   -device virtio-blk-pci,drive=ID[,id=][,addr=][,serial=]
 *        ─► create(DeviceHost) ─► the drive's backend (block/blockdev.h), the device's
 *           permissions taken on it ─► virtio-blk + virtio-pci function ─► host->plug()
 *   -drive if=virtio: the machine makes one for each such drive after the -device ones
 *   state: "virtio-blk" (device, queues; drained first) and "virtio-blk-pci" (transport)
 */
#ifndef HW_VIRTIO_VIRTIO_BLK_PCI_H
#define HW_VIRTIO_VIRTIO_BLK_PCI_H

#include <glib.h>

#include "block/block-backend.h"
#include "hw/core/device.h"

typedef struct VirtIOBlkPCI VirtIOBlkPCI;

extern const DeviceContract virtio_blk_pci_device;

void virtio_blk_pci_register_type(void);
/* The device of a -drive if=virtio. */
bool virtio_blk_pci_create_for_drive(DeviceHost *host, BlockBackend *blk, GError **errp);

#endif
