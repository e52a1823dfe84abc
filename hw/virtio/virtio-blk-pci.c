/* -device virtio-blk-pci (include/hw/virtio/virtio-blk-pci.h). */
#include "hw/virtio/virtio-blk-pci.h"
#include "block/blockdev.h"
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-pci.h"
#include "util/error.h"

struct VirtIOBlkPCI {
    char *id;
    VirtIOBlock *blk_dev;
    VirtIOPCIProxy *proxy;
    BlockBackend *blk;
    bool own_blk; /* an anonymous backend made for a node-name */
};

static const DevicePropInfo virtio_blk_pci_props[] = {
    {"drive", DEV_PROP_LINK, "virtio-blk-device",
     "Node name or ID of a block device to use as a backend", NULL},
    {"serial", DEV_PROP_STR, "virtio-blk-device", NULL, NULL},
    {"addr", DEV_PROP_PCI_DEVFN, NULL, "Slot and optional function number, example: 06.0 or 06",
     "-1"},
    {"share-rw", DEV_PROP_BOOL, "virtio-blk-device", NULL, "false"},
    {"write-cache", DEV_PROP_STR, "virtio-blk-device", "on/off/auto", "auto"},
    {"bootindex", DEV_PROP_INT32, NULL, NULL, NULL},
    {"romfile", DEV_PROP_STR, NULL, NULL, NULL},
    {"vectors", DEV_PROP_INT_U32, NULL, NULL, "4294967295"},
    {"event_idx", DEV_PROP_BOOL, "virtio-blk-device", "on/off", "true"},
    {NULL, 0, NULL, NULL, NULL},
};

static const BlockCompletionLock bql_completion = {.trylock = bql_trylock, .unlock = bql_unlock};

static bool create(DeviceHost *host, const char *id, const char *drive, const char *serial,
                   const char *addr, const char *bootindex, const char *vectors, bool event_idx,
                   bool automatic, GError **errp)
{
    if (host->realized) {
        error_setg(errp, "Bus 'pci.0' does not support hotplugging");
        return false;
    }
    if (!drive) {
        error_setg(errp, "drive property not set");
        return false;
    }
    BlockBackend *blk = blockdev_backend_for_device(drive, "virtio-blk-device", automatic, errp);
    if (!blk) {
        return false;
    }
    bool own_blk = *blk_name(blk) == '\0';
    int devfn = -1;
    if (addr) {
        qdev_parse_devfn(addr, &devfn);
    }
    VirtIOBlock *dev = virtio_blk_new(host->dma, blk, serial, errp);
    if (!dev) {
        if (own_blk) {
            blk_unref(blk);
        }
        return false;
    }
    virtio_offer_feature(virtio_blk_vdev(dev), VIRTIO_RING_F_EVENT_IDX, event_idx);
    /* unset (all-ones): upstream's num-queues + 1 (one queue here: one vCPU) */
    uint32_t nvectors = vectors ? qdev_parse_u32(vectors) : UINT32_MAX;
    if (nvectors == UINT32_MAX) {
        nvectors = virtio_blk_vdev(dev)->num_queues + 1;
    }
    VirtIOPCIProxy *proxy = virtio_pci_new(host->pci, "virtio-blk-pci", devfn, virtio_blk_vdev(dev),
                                           0x010000, nvectors, errp);
    if (!proxy) {
        virtio_blk_free(dev);
        if (own_blk) {
            blk_unref(blk);
        }
        return false;
    }
    pci_device_set_id(virtio_pci_device(proxy), id);
    guint index = host->count(host, &virtio_blk_pci_device);
    g_autofree char *qdev =
        id ? g_strdup(id)
           : g_strdup_printf("/machine/peripheral-anon/device[%u]/virtio-backend", index);
    blk_attach_dev(blk, qdev);
    /* Completions run on the worker under the big lock when it is free, instead of waking the
     * main loop to run them: one thread hand-off less per request. */
    blk_set_completion_lock(blk, &bql_completion);
    VirtIOBlkPCI *d = g_new0(VirtIOBlkPCI, 1);
    d->id = g_strdup(id);
    d->blk_dev = dev;
    d->proxy = proxy;
    d->blk = blk;
    d->own_blk = own_blk;
    host->plug(host, &virtio_blk_pci_device, d);
    if (bootindex && host->boot_device) {
        /* upstream's path: the PCI function by its class (SCSI storage), then the disk */
        int devfn = virtio_pci_device(proxy)->devfn;
        char *path = devfn & 7
                         ? g_strdup_printf("/pci@i0cf8/scsi@%x,%x/disk@0,0", devfn >> 3, devfn & 7)
                         : g_strdup_printf("/pci@i0cf8/scsi@%x/disk@0,0", devfn >> 3);
        return host->boot_device(host, bootindex, path, errp);
    }
    return true;
}

static bool create_from_device_opts(void *machine, const char *id, GHashTable *props, GError **errp)
{
    return create(machine, id, g_hash_table_lookup(props, "drive"),
                  g_hash_table_lookup(props, "serial"), g_hash_table_lookup(props, "addr"),
                  g_hash_table_lookup(props, "bootindex"), g_hash_table_lookup(props, "vectors"),
                  qdev_prop_bool(props, "event_idx", true), false, errp);
}

static const DeviceTypeInfo virtio_blk_pci_type = {
    .name = "virtio-blk-pci",
    .bus = "PCI",
    .category = "Storage devices",
    .props = virtio_blk_pci_props,
    .create = create_from_device_opts,
};

bool virtio_blk_pci_create_for_drive(DeviceHost *host, BlockBackend *blk, GError **errp)
{
    /* upstream makes -drive if=virtio a device, so -global virtio-blk-pci.* reaches it */
    g_autoptr(GHashTable) props = g_hash_table_new(g_str_hash, g_str_equal);
    if (!device_apply_globals(&virtio_blk_pci_type, props, errp)) {
        return false;
    }
    return create(host, NULL, blk_name(blk), NULL, NULL, NULL,
                  g_hash_table_lookup(props, "vectors"), qdev_prop_bool(props, "event_idx", true),
                  true, errp);
}

void virtio_blk_pci_register_type(void)
{
    device_type_register(&virtio_blk_pci_type);
}

static void blk_pci_reset(void *dev)
{
    VirtIOBlkPCI *d = dev;
    virtio_reset(virtio_blk_vdev(d->blk_dev));
    virtio_pci_reset(d->proxy);
}

static void blk_pci_free(void *dev)
{
    VirtIOBlkPCI *d = dev;
    virtio_blk_free(d->blk_dev); /* drained */
    virtio_pci_free(d->proxy);
    blk_set_completion_lock(d->blk, NULL);
    blk_detach_dev(d->blk);
    if (d->own_blk) {
        blk_unref(d->blk);
    }
    g_free(d->id);
    g_free(d);
}

static void blk_pci_add_state(void *dev, guint32 instance, VMStateSet *set)
{
    VirtIOBlkPCI *d = dev;
    vmstate_set_add(set, "virtio-blk", instance, &vmstate_virtio_blk, d->blk_dev);
    /* Its own id: "virtio-pci" instance N is already virtio-net-pci's transport. */
    vmstate_set_add(set, "virtio-blk-pci", instance, &vmstate_virtio_pci, d->proxy);
}

const DeviceContract virtio_blk_pci_device = {
    .name = "virtio-blk-pci",
    .reset = blk_pci_reset,
    .free = blk_pci_free,
    .add_state = blk_pci_add_state,
};
