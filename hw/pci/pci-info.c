/* query-pci's reply built from the bus's config spaces (include/hw/pci/pci-info.h). */
#include "hw/pci/pci-info.h"

/* The class names upstream's monitor prints, by base class and sub-class. */
static const struct {
    uint16_t class;
    const char *desc;
} class_names[] = {
    {0x0001, "VGA controller"},
    {0x0100, "SCSI controller"},
    {0x0101, "IDE controller"},
    {0x0102, "Floppy controller"},
    {0x0103, "IPI controller"},
    {0x0104, "RAID controller"},
    {0x0106, "SATA controller"},
    {0x0107, "SAS controller"},
    {0x0180, "Storage controller"},
    {0x0200, "Ethernet controller"},
    {0x0201, "Token Ring controller"},
    {0x0202, "FDDI controller"},
    {0x0203, "ATM controller"},
    {0x0280, "Network controller"},
    {0x0300, "VGA controller"},
    {0x0301, "XGA controller"},
    {0x0302, "3D controller"},
    {0x0380, "Display controller"},
    {0x0400, "Video controller"},
    {0x0401, "Audio controller"},
    {0x0402, "Phone"},
    {0x0403, "Audio controller"},
    {0x0480, "Multimedia controller"},
    {0x0500, "RAM controller"},
    {0x0501, "Flash controller"},
    {0x0580, "Memory controller"},
    {0x0600, "Host bridge"},
    {0x0601, "ISA bridge"},
    {0x0602, "EISA bridge"},
    {0x0603, "MC bridge"},
    {0x0604, "PCI bridge"},
    {0x0605, "PCMCIA bridge"},
    {0x0606, "NUBUS bridge"},
    {0x0607, "CARDBUS bridge"},
    {0x0608, "RACEWAY bridge"},
    {0x0680, "Bridge"},
    {0x0700, "Serial port"},
    {0x0701, "Parallel port"},
    {0x0800, "Interrupt controller"},
    {0x0801, "DMA controller"},
    {0x0802, "Timer"},
    {0x0803, "RTC"},
    {0x0900, "Keyboard"},
    {0x0901, "Pen"},
    {0x0902, "Mouse"},
    {0x0a00, "Dock station"},
    {0x0b00, "i386 cpu"},
    {0x0c00, "Firewire controller"},
    {0x0c01, "Access bus controller"},
    {0x0c02, "SSA controller"},
    {0x0c03, "USB controller"},
    {0x0c04, "Fibre channel controller"},
    {0x0c05, "SMBus"},
};

const char *pci_class_desc(uint16_t class)
{
    for (gsize i = 0; i < G_N_ELEMENTS(class_names); i++) {
        if (class_names[i].class == class) {
            return class_names[i].desc;
        }
    }
    return NULL;
}

static GPtrArray *device_regions(PCIDevice *dev)
{
    GPtrArray *regions = qapi_list_new_PciMemoryRegion();
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &dev->bars[i];
        if (b->type == PCI_BAR_NONE) {
            continue;
        }
        PciMemoryRegion *r = g_new0(PciMemoryRegion, 1);
        r->bar = i;
        if (b->type == PCI_BAR_IO) {
            r->type = g_strdup("io");
        } else {
            r->type = g_strdup("memory");
            r->has_prefetch = true;
            r->prefetch = b->prefetch;
            r->has_mem_type_64 = true;
            r->mem_type_64 = b->type == PCI_BAR_MEM64;
        }
        /* unmapped is all ones, which the signed member carries as -1 */
        r->address = (int64_t)pci_bar_address(dev, i);
        r->size = b->size;
        g_ptr_array_add(regions, r);
    }
    return regions;
}

static PciDeviceInfo *device_info(PCIDevice *dev, int bus_num)
{
    const uint8_t *cfg = dev->config;
    PciDeviceInfo *info = g_new0(PciDeviceInfo, 1);
    info->bus = bus_num;
    info->slot = dev->devfn >> 3;
    info->function = dev->devfn & 7;

    info->class_info = g_new0(PciDeviceClass, 1);
    info->class_info->class = pci_get_word(cfg + PCI_CLASS_DEVICE);
    const char *desc = pci_class_desc(info->class_info->class);
    info->class_info->desc = g_strdup(desc);

    info->id = g_new0(PciDeviceId, 1);
    info->id->vendor = pci_get_word(cfg + PCI_VENDOR_ID);
    info->id->device = pci_get_word(cfg + PCI_DEVICE_ID);
    /* a type 0 header holds the subsystem IDs (this machine has no bridge, whose type 1
     * header would be reported as pci_bridge instead) */
    if ((cfg[PCI_HEADER_TYPE] & 0x7f) == 0) {
        info->id->has_subsystem = info->id->has_subsystem_vendor = true;
        info->id->subsystem = pci_get_word(cfg + PCI_SUBSYSTEM_ID);
        info->id->subsystem_vendor = pci_get_word(cfg + PCI_SUBSYSTEM_VENDOR_ID);
    }

    info->irq_pin = cfg[PCI_INTERRUPT_PIN];
    if (info->irq_pin) {
        info->has_irq = true;
        info->irq = cfg[PCI_INTERRUPT_LINE];
    }
    info->qdev_id = g_strdup(dev->id ? dev->id : "");
    info->regions = device_regions(dev);
    return info;
}

GPtrArray *pci_bus_query(PCIBus *bus)
{
    GPtrArray *list = qapi_list_new_PciInfo();
    if (!bus) {
        return list;
    }
    PciInfo *info = g_new0(PciInfo, 1);
    info->bus = 0;
    info->devices = qapi_list_new_PciDeviceInfo();
    for (int devfn = 0; devfn < 256; devfn++) {
        PCIDevice *dev = pci_bus_find(bus, devfn);
        if (dev) {
            g_ptr_array_add(info->devices, device_info(dev, 0));
        }
    }
    g_ptr_array_add(list, info);
    return list;
}
