/*
 * The device contract: what every device of a machine declares once, so that the machine
 * keeps one list of devices and maps, resets, frees and saves them in one loop each.
 *
 *   machine: dev = xxx_new(wiring...)           construction stays typed (its lines, clock)
 *            lists (&xxx_device, dev)           pc.c's add_device(); -device: DeviceHost.plug
 *                 ├─ map(dev, io, mmio, base)   ports / MMIO, at creation
 *                 ├─ reset(dev)                 machine reset, in list order
 *                 ├─ vmsd                       its state table: a section "name" in the set
 *                 └─ free(dev)                  machine teardown, in reverse list order
 *
 * A device with several instances (NICs) gets the instance number of its position among the
 * devices of the same name.
 */
#ifndef HW_CORE_DEVICE_H
#define HW_CORE_DEVICE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/iospace.h"
#include "migration/vmstate.h"

typedef struct DeviceContract {
    const char *name; /* the state section's id */
    /* Claims its ports or MMIO; base is the machine's choice where the device has one (COM1's
     * 0x3f8, the ACPI PM block), else ignored. NULL: nothing to map. */
    bool (*map)(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp);
    void (*reset)(void *dev); /* NULL: nothing to reset */
    void (*free)(void *dev);
    const VMStateDescription *vmsd; /* NULL: no guest-visible state */
    /* Instead of vmsd, for a device made of parts with their own tables (a bus and its
     * functions, a transport and its device): adds one section per part. */
    void (*add_state)(void *dev, guint32 instance, VMStateSet *set);
} DeviceContract;

struct PCIBus;
struct VirtIONet;

/* What a machine offers the devices that -device creates on it (DeviceTypeInfo.create's
 * `machine` argument), and how a created device joins the machine's list. */
typedef struct DeviceHost {
    struct PCIBus *pci;
    const struct DmaSpace *dma; /* guest RAM, for DMA */
    IoSpace *io, *mmio;         /* for ISA devices' ports and fixed MMIO */
    struct IrqLine *isa_irq;    /* ISA IRQs 0-15 */
    /* An ISA device is about to take these ports: the machine frees any placeholder there. */
    void (*isa_claim)(struct DeviceHost *host, uint64_t base, uint64_t len);
    /* The guest asked the process to exit with status (isa-debug-exit); the machine ends it
     * (tests record it instead). NULL: exit(). */
    void (*guest_exit)(struct DeviceHost *host, int status);
    bool realized; /* past this, no hotplug */
    /* Connects a NIC to -netdev ID; NULL: through the net core (hw/virtio/virtio-net-nc.h). */
    bool (*nic_attach)(void *opaque, struct VirtIONet *nic, const char *netdev,
                       const char *nic_name, GError **errp);
    void *nic_opaque;
    void (*plug)(struct DeviceHost *host, const DeviceContract *contract, void *dev);
    /* -device ide-hd / ide-cd: a disk or (cd) a CD-ROM on the machine's IDE bus (unit < 0:
     * the first free one; a CD's drive may be NULL: an empty drive; bootindex as given or
     * NULL); NULL: no IDE. */
    bool (*ide_attach)(struct DeviceHost *host, const char *bus, int unit, const char *drive,
                       bool cd, const char *serial, const char *id, const char *bootindex,
                       GError **errp);
    /* A device with bootindex= (a number, as given; negative: not in the list, as upstream):
     * path is its firmware device path (the host takes it). Upstream's error for an index
     * already used. NULL: no boot order. */
    bool (*boot_device)(struct DeviceHost *host, const char *bootindex, char *path, GError **errp);
    /* Devices of this contract plugged so far. */
    guint (*count)(struct DeviceHost *host, const DeviceContract *contract);
} DeviceHost;

#endif
