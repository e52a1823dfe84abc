/* -device virtio-net-pci (include/hw/virtio/virtio-net-pci.h). */
#include "hw/virtio/virtio-net-pci.h"
#include "hw/core/qdev.h"
#include "hw/virtio/virtio-net-nc.h"
#include "util/error.h"

struct VirtIONetPCI {
    char *id;
    char *name;
    VirtIONet *net;
    VirtIOPCIProxy *proxy;
    VirtIONetClient *client; /* the net-core peer, when attached through the net core */
};

static const DevicePropInfo virtio_net_pci_props[] = {
    {"netdev", DEV_PROP_LINK, "virtio-net-device", "ID of a netdev to use as a backend", NULL},
    {"mac", DEV_PROP_MACADDR, "virtio-net-device",
     "Ethernet 6-byte MAC Address, example: "
     "52:54:00:12:34:56",
     NULL},
    {"addr", DEV_PROP_PCI_DEVFN, NULL,
     "Slot and optional function number, example: 06.0 or "
     "06",
     "-1"},
    {"romfile", DEV_PROP_STR, NULL, NULL, NULL},
    {"bootindex", DEV_PROP_INT32, NULL, NULL, NULL},
    {"vectors", DEV_PROP_INT_U32, NULL, NULL, "4294967295"},
    {"event_idx", DEV_PROP_BOOL, "virtio-net-device", "on/off", "true"},
    {"mrg_rxbuf", DEV_PROP_BOOL, "virtio-net-device", "on/off", "true"},
    {NULL, 0, NULL, NULL, NULL},
};

bool virtio_net_pci_create(DeviceHost *host, const char *id, GHashTable *props, GError **errp)
{
    const char *netdev = g_hash_table_lookup(props, "netdev");
    const char *mac_str = g_hash_table_lookup(props, "mac");
    const char *addr = g_hash_table_lookup(props, "addr");
    const char *vectors = g_hash_table_lookup(props, "vectors");
    if (host->realized) {
        error_setg(errp, "Bus 'pci.0' does not support hotplugging");
        return false;
    }
    guint index = host->count(host, &virtio_net_pci_device);
    uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    mac[5] += index; /* upstream's default: one past the previous NIC's */
    if (mac_str) {
        qdev_parse_mac(mac_str, mac);
    }
    int devfn = -1;
    if (addr) {
        qdev_parse_devfn(addr, &devfn);
    }
    g_autofree char *name = id ? g_strdup(id) : g_strdup_printf("virtio-net-pci.%u", index);
    VirtIONet *net = virtio_net_new(host->dma, mac);
    virtio_offer_feature(virtio_net_vdev(net), VIRTIO_RING_F_EVENT_IDX,
                         qdev_prop_bool(props, "event_idx", true));
    virtio_offer_feature(virtio_net_vdev(net), VIRTIO_NET_F_MRG_RXBUF,
                         qdev_prop_bool(props, "mrg_rxbuf", true));
    VirtIONetClient *client = NULL;
    if (netdev) {
        bool ok;
        if (host->nic_attach) {
            ok = host->nic_attach(host->nic_opaque, net, netdev, name, errp);
        } else {
            client = virtio_net_nc_attach(net, netdev, name, mac, errp);
            ok = client != NULL;
        }
        if (!ok) {
            virtio_net_free(net);
            return false;
        }
    }
    /* unset (all-ones), upstream's 7.2 count for one queue pair: config, rx, tx, control */
    uint32_t nvectors = vectors ? qdev_parse_u32(vectors) : UINT32_MAX;
    if (nvectors == UINT32_MAX) {
        nvectors = 4;
    }
    VirtIOPCIProxy *proxy = virtio_pci_new(host->pci, "virtio-net-pci", devfn, virtio_net_vdev(net),
                                           0x020000, nvectors, errp);
    if (!proxy) {
        virtio_net_nc_detach(client);
        virtio_net_free(net);
        return false;
    }
    pci_device_set_id(virtio_pci_device(proxy), id);
    if (!netdev) {
        warn_report("nic %s has no peer", name);
    }
    VirtIONetPCI *d = g_new0(VirtIONetPCI, 1);
    d->id = g_strdup(id);
    d->name = g_steal_pointer(&name);
    d->net = net;
    d->proxy = proxy;
    d->client = client;
    host->plug(host, &virtio_net_pci_device, d);
    return true;
}

static bool create_from_device_opts(void *machine, const char *id, GHashTable *props, GError **errp)
{
    return virtio_net_pci_create(machine, id, props, errp);
}

static const DeviceTypeInfo virtio_net_pci_type = {
    .name = "virtio-net-pci",
    .bus = "PCI",
    .category = "Network devices",
    .props = virtio_net_pci_props,
    .create = create_from_device_opts,
};

void virtio_net_pci_register_type(void)
{
    device_type_register(&virtio_net_pci_type);
}

VirtIONet *virtio_net_pci_net(VirtIONetPCI *d)
{
    return d->net;
}

const char *virtio_net_pci_name(VirtIONetPCI *d)
{
    return d->name;
}

/* The PCI function itself is reset by the bus, after this. */
static void net_pci_reset(void *dev)
{
    VirtIONetPCI *d = dev;
    virtio_reset(virtio_net_vdev(d->net));
    virtio_pci_reset(d->proxy);
}

static void net_pci_free(void *dev)
{
    VirtIONetPCI *d = dev;
    virtio_net_nc_detach(d->client);
    virtio_pci_free(d->proxy);
    virtio_net_free(d->net);
    g_free(d->id);
    g_free(d->name);
    g_free(d);
}

static void net_pci_add_state(void *dev, guint32 instance, VMStateSet *set)
{
    VirtIONetPCI *d = dev;
    vmstate_set_add(set, "virtio-net", instance, &vmstate_virtio_net, d->net);
    vmstate_set_add(set, "virtio-pci", instance, &vmstate_virtio_pci, d->proxy);
}

const DeviceContract virtio_net_pci_device = {
    .name = "virtio-net-pci",
    .reset = net_pci_reset,
    .free = net_pci_free,
    .add_state = net_pci_add_state,
};
