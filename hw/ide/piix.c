/* The PIIX3 IDE function (include/hw/ide/piix.h). */
#include "hw/ide/piix.h"
#include "hw/core/qdev.h"
#include "util/error.h"

#include <string.h>

struct PiixIde {
    PCIDevice *ide;
    IdeChannel *ch[2];
};

/* Each channel's legacy ports. */
static const uint16_t channel_base[2] = {0x1f0, 0x170};
static const uint16_t channel_ctl[2] = {0x3f6, 0x376};

/* BAR4: the primary channel's bus master at 0-7, the secondary's at 8-15. */
static uint64_t bmdma_read(void *opaque, uint64_t addr, unsigned size)
{
    PiixIde *p = opaque;
    return ide_bmdma_read(p->ch[addr >= 8], addr & 7, size);
}

static void bmdma_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PiixIde *p = opaque;
    ide_bmdma_write(p->ch[addr >= 8], addr & 7, val, size);
}

static const IoRegionOps bmdma_ops = {.read = bmdma_read, .write = bmdma_write};

PiixIde *piix3_ide_new(PCIBus *bus, int devfn, IrqLine *irq[2], const DmaSpace *dma, GError **errp)
{
    PCIDevice *ide = pci_device_new(bus, "piix3-ide", devfn, 0x8086, 0x7010, 0x010180 << 8, errp);
    if (!ide) {
        return NULL;
    }
    pci_set_default_subsystem(ide);
    /* IDETIM of each channel: decode enabled, as firmware leaves it (ata_piix checks bit 15). */
    ide->config[0x41] = 0x80;
    ide->config[0x43] = 0x80;
    PiixIde *p = g_new0(PiixIde, 1);
    p->ide = ide;
    for (int i = 0; i < 2; i++) {
        p->ch[i] = ide_channel_new(irq[i]);
        ide_channel_set_bus_index(p->ch[i], i);
        ide_channel_set_dma(p->ch[i], dma);
    }
    pci_register_bar(ide, 4, PCI_BAR_IO, false, 16, &bmdma_ops, p);
    return p;
}

IdeChannel *piix3_ide_channel(PiixIde *p, int n)
{
    return p->ch[n];
}

int piix3_ide_devfn(PiixIde *p)
{
    return p->ide->devfn;
}

static bool piix_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    PiixIde *p = dev;
    for (int i = 0; i < 2; i++) {
        /* The machine keeps these ports quiet while nothing owns them. */
        io_space_del(io, channel_base[i]);
        io_space_del(io, channel_ctl[i]);
        if (!ide_channel_map(p->ch[i], io, channel_base[i], channel_ctl[i], errp)) {
            return false;
        }
    }
    return true;
}

static void piix_reset(void *dev)
{
    PiixIde *p = dev;
    for (int i = 0; i < 2; i++) {
        ide_channel_reset(p->ch[i]);
    }
}

static void piix_free(void *dev)
{
    PiixIde *p = dev;
    for (int i = 0; i < 2; i++) {
        ide_channel_free(p->ch[i]);
    }
    g_free(p); /* the PCI functions belong to the bus */
}

/* The state is the channels' (the device is their holder, not a table of its own): instance
 * 2n is the primary channel of controller n, 2n + 1 its secondary. */
static void piix_add_state(void *dev, guint32 instance, VMStateSet *set)
{
    PiixIde *p = dev;
    for (int i = 0; i < 2; i++) {
        vmstate_set_add(set, "ide", instance * 2 + i, &vmstate_ide_channel, p->ch[i]);
    }
}

const DeviceContract piix3_ide_device = {
    .name = "ide",
    .map = piix_map,
    .reset = piix_reset,
    .free = piix_free,
    .add_state = piix_add_state,
};

/* --- -device ide-hd ------------------------------------------------------------------------ */

static const DevicePropInfo ide_hd_props[] = {
    {"drive", DEV_PROP_LINK, NULL, "Node name or ID of a block device to use as a backend", NULL},
    {"bus", DEV_PROP_STR, NULL, NULL, NULL},
    {"unit", DEV_PROP_UINT32, NULL, NULL, "4294967295"},
    {"serial", DEV_PROP_STR, NULL, NULL, NULL},
    {"bootindex", DEV_PROP_INT32, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static bool ide_create(void *machine, const char *id, GHashTable *props, bool cd, GError **errp)
{
    DeviceHost *host = machine;
    const char *drive = g_hash_table_lookup(props, "drive");
    const char *unit = g_hash_table_lookup(props, "unit");
    const char *bus = g_hash_table_lookup(props, "bus");
    if (host->realized) {
        error_setg(errp, "Bus '%s' does not support hotplugging",
                   bus && strcmp(bus, "ide.1") == 0 ? "ide.1" : "ide.0");
        return false;
    }
    if (!drive && !cd) {
        error_setg(errp, "No drive specified");
        return false;
    }
    if (!host->ide_attach) {
        error_setg(errp, "No 'IDE' bus found for device '%s'", cd ? "ide-cd" : "ide-hd");
        return false;
    }
    return host->ide_attach(host, bus, unit ? (int)g_ascii_strtoll(unit, NULL, 0) : -1, drive, cd,
                            g_hash_table_lookup(props, "serial"), id,
                            g_hash_table_lookup(props, "bootindex"), errp);
}

static bool ide_hd_create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    return ide_create(machine, id, props, false, errp);
}

static bool ide_cd_create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    return ide_create(machine, id, props, true, errp);
}

static const DeviceTypeInfo ide_hd_type = {
    .name = "ide-hd",
    .bus = "IDE",
    .desc = "virtual IDE disk",
    .category = "Storage devices",
    .props = ide_hd_props,
    .create = ide_hd_create,
};

void ide_hd_register_type(void)
{
    device_type_register(&ide_hd_type);
}

static const DeviceTypeInfo ide_cd_type = {
    .name = "ide-cd",
    .bus = "IDE",
    .desc = "virtual IDE CD-ROM",
    .category = "Storage devices",
    .props = ide_hd_props,
    .create = ide_cd_create,
};

void ide_cd_register_type(void)
{
    device_type_register(&ide_cd_type);
}
