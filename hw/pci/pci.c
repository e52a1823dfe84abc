/* PCI bus 0, config mechanism #1, BARs and INTx (include/hw/pci/pci.h). */
#include "hw/pci/pci.h"
#include "util/error.h"
#include "util/log.h"

#include <string.h>

struct PCIBus {
    IoSpace *io, *mmio;
    PCIDevice *devices[256];
    uint32_t config_addr;
    IrqLine *pirq_lines[4];
    uint8_t pirq_isa_irq[4];
    int pirq_count[4]; /* devices asserting each PIRQ */
};

PCIBus *pci_bus_new(IoSpace *io, IoSpace *mmio, IrqLine *pirq_lines[4],
                    const uint8_t pirq_isa_irq[4])
{
    PCIBus *bus = g_new0(PCIBus, 1);
    bus->io = io;
    bus->mmio = mmio;
    for (int i = 0; i < 4; i++) {
        bus->pirq_lines[i] = pirq_lines ? pirq_lines[i] : NULL;
        bus->pirq_isa_irq[i] = pirq_isa_irq ? pirq_isa_irq[i] : 0;
    }
    return bus;
}

static void unmap_bar(PCIDevice *dev, int i)
{
    PCIBar *b = &dev->bars[i];
    if (b->mapped_addr == UINT64_MAX) {
        return;
    }
    io_space_del(b->type == PCI_BAR_IO ? dev->bus->io : dev->bus->mmio, b->mapped_addr);
    b->mapped_addr = UINT64_MAX;
}

void pci_bus_free(PCIBus *bus)
{
    if (!bus) {
        return;
    }
    for (int i = 0; i < 256; i++) {
        PCIDevice *dev = bus->devices[i];
        if (!dev) {
            continue;
        }
        for (int b = 0; b < PCI_NUM_BARS; b++) {
            unmap_bar(dev, b);
        }
        g_free(dev->name);
        g_free(dev->id);
        g_free(dev);
    }
    g_free(bus);
}

PCIDevice *pci_bus_find(PCIBus *bus, int devfn)
{
    return devfn >= 0 && devfn < 256 ? bus->devices[devfn] : NULL;
}

PCIDevice *pci_device_new(PCIBus *bus, const char *name, int devfn, uint16_t vendor,
                          uint16_t device, uint32_t class_rev, GError **errp)
{
    if (devfn < 0) {
        for (devfn = PCI_DEVFN(1, 0); devfn < 256 && bus->devices[devfn]; devfn += 8) {
        }
        if (devfn >= 256) {
            error_setg(errp, "PCI: no slot/function available for %s, all in use or reserved",
                       name);
            return NULL;
        }
    } else if (devfn >= 256) {
        error_setg(errp, "PCI: slot %d function %d not available for %s", devfn >> 3, devfn & 7,
                   name);
        return NULL;
    } else if (bus->devices[devfn]) {
        PCIDevice *other = bus->devices[devfn];
        /* upstream prints the occupant's id with %s, "(null)" when it has none */
        error_setg(errp, "PCI: slot %d function %d not available for %s, in use by %s,id=%s",
                   devfn >> 3, devfn & 7, name, other->name, other->id ? other->id : "(null)");
        return NULL;
    }
    PCIDevice *dev = g_new0(PCIDevice, 1);
    dev->bus = bus;
    dev->name = g_strdup(name);
    dev->devfn = devfn;
    pci_set_word(dev->config + PCI_VENDOR_ID, vendor);
    pci_set_word(dev->config + PCI_DEVICE_ID, device);
    pci_set_long(dev->config + PCI_REVISION_ID, class_rev);
    pci_set_word(dev->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                                               PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
    dev->wmask[0x0c] = 0xff; /* cache line size */
    dev->wmask[0x0d] = 0xff; /* latency timer */
    dev->next_cap = 0x40;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        dev->bars[i].mapped_addr = UINT64_MAX;
    }
    bus->devices[devfn] = dev;
    return dev;
}

void pci_device_set_id(PCIDevice *dev, const char *id)
{
    g_free(dev->id);
    dev->id = g_strdup(id);
}

void pci_register_bar(PCIDevice *dev, int bar, PCIBarType type, bool prefetch, uint64_t size,
                      const IoRegionOps *ops, void *opaque)
{
    g_assert(bar >= 0 && bar < PCI_NUM_BARS && size && !(size & (size - 1)));
    g_assert(type != PCI_BAR_MEM64 || bar < PCI_NUM_BARS - 1);
    PCIBar *b = &dev->bars[bar];
    b->type = type;
    b->prefetch = prefetch;
    b->size = size;
    b->ops = ops;
    b->opaque = opaque;
    uint8_t *cfg = dev->config + PCI_BASE_ADDRESS_0 + 4 * bar;
    uint8_t *wm = dev->wmask + PCI_BASE_ADDRESS_0 + 4 * bar;
    uint32_t flags =
        type == PCI_BAR_IO ? 0x1 : (type == PCI_BAR_MEM64 ? 0x4 : 0) | (prefetch ? 0x8 : 0);
    uint64_t mask = ~(size - 1);
    pci_set_long(cfg, flags);
    pci_set_long(wm, (uint32_t)mask & (type == PCI_BAR_IO ? ~0x3u : ~0xfu));
    if (type == PCI_BAR_MEM64) {
        pci_set_long(cfg + 4, 0);
        pci_set_long(wm + 4, mask >> 32);
    }
}

uint8_t pci_add_capability(PCIDevice *dev, uint8_t cap_id, uint8_t len)
{
    uint8_t off = dev->next_cap;
    if (off + len > PCI_CONFIG_SPACE_SIZE || len < 2) {
        return 0;
    }
    /* link: the new capability heads the list, as upstream's pci_add_capability() puts it,
     * so the list runs from the last added to the first */
    dev->config[off] = cap_id;
    dev->config[off + 1] = dev->config[PCI_CAPABILITY_LIST];
    dev->config[PCI_CAPABILITY_LIST] = off;
    dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    dev->next_cap = (off + len + 3) & ~3;
    return off;
}

/*
 * The address a BAR decodes now, or UINT64_MAX: upstream's rules, which query-pci reports.
 * Decoding off, address 0, a region that wraps or (32-bit BARs) ends at or past 4 GiB, which
 * covers a BAR still holding its sizing pattern, is not mapped.
 */
uint64_t pci_bar_address(PCIDevice *dev, int i)
{
    PCIBar *b = &dev->bars[i];
    uint16_t cmd = pci_get_word(dev->config + PCI_COMMAND);
    uint8_t *cfg = dev->config + PCI_BASE_ADDRESS_0 + 4 * i;
    bool io = b->type == PCI_BAR_IO;
    if (b->type == PCI_BAR_NONE || !(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY))) {
        return UINT64_MAX;
    }
    uint64_t addr = pci_get_long(cfg);
    if (b->type == PCI_BAR_MEM64) {
        addr |= (uint64_t)pci_get_long(cfg + 4) << 32;
    }
    addr &= ~(b->size - 1);
    uint64_t last = addr + b->size - 1;
    if (addr == 0 || last <= addr || last == UINT64_MAX ||
        (b->type != PCI_BAR_MEM64 && last >= UINT32_MAX)) {
        return UINT64_MAX;
    }
    return addr;
}

static void update_mappings(PCIDevice *dev)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &dev->bars[i];
        if (b->type == PCI_BAR_NONE) {
            continue;
        }
        uint64_t addr = pci_bar_address(dev, i);
        if (b->type == PCI_BAR_IO && addr != UINT64_MAX && addr + b->size > 0x10000) {
            addr = UINT64_MAX; /* decoded, as upstream's, but past the 64 KiB port space */
        }
        if (addr == b->mapped_addr) {
            continue;
        }
        unmap_bar(dev, i);
        if (addr == UINT64_MAX) {
            continue;
        }
        IoSpace *space = b->type == PCI_BAR_IO ? dev->bus->io : dev->bus->mmio;
        g_autofree char *name =
            g_strdup_printf("%s@%02x.%x-bar%d", dev->name, dev->devfn >> 3, dev->devfn & 7, i);
        GError *err = NULL;
        if (io_space_add(space, name, addr, b->size, b->ops, b->opaque, &err)) {
            b->mapped_addr = addr;
        } else {
            /* a guest placing BARs on top of each other: the BAR stays unmapped */
            qemu_log_mask(LOG_GUEST_ERROR, "pci: %s\n", err->message);
            g_error_free(err);
        }
    }
}

uint32_t pci_config_read(PCIDevice *dev, uint32_t addr, int len)
{
    uint32_t v = 0;
    if (dev->config_reading) {
        dev->config_reading(dev, addr, len);
    }
    for (int i = 0; i < len && addr + i < PCI_CONFIG_SPACE_SIZE; i++) {
        v |= (uint32_t)dev->config[addr + i] << (8 * i);
    }
    return v;
}

void pci_config_write(PCIDevice *dev, uint32_t addr, uint32_t val, int len)
{
    bool remap = false;
    for (int i = 0; i < len && addr + i < PCI_CONFIG_SPACE_SIZE; i++) {
        uint32_t a = addr + i;
        uint8_t wm = dev->wmask[a];
        uint8_t b = val >> (8 * i);
        dev->config[a] = (dev->config[a] & ~wm) | (b & wm);
        if ((a >= PCI_BASE_ADDRESS_0 && a < PCI_BASE_ADDRESS_0 + 24) || a == PCI_COMMAND) {
            remap = true;
        }
    }
    if (remap) {
        update_mappings(dev);
    }
    if (addr <= PCI_COMMAND + 1 && addr + len > PCI_COMMAND + 1) {
        /* INTx disable toggled: re-evaluate the line */
        pci_set_irq(dev, dev->intx_level);
    }
    if (dev->config_written) {
        dev->config_written(dev, addr, val, len);
    }
}

/* The i440FX's swizzle (upstream's and SeaBIOS's): slot s, pin p (1 = INTA) drives PIRQ
 * (s - 1 + p - 1) & 3, so slot 1's INTA is PIRQA; the DSDT's _PRT says the same. */
static int slot_pirq(int devfn, int pin)
{
    return ((devfn >> 3) + pin - 2) & 3;
}

static void pirq_update(PCIBus *bus, int pirq, int delta)
{
    int old = bus->pirq_count[pirq];
    bus->pirq_count[pirq] += delta;
    if (!old != !bus->pirq_count[pirq]) {
        irq_set_level(bus->pirq_lines[pirq], bus->pirq_count[pirq] > 0);
    }
}

void pci_set_irq(PCIDevice *dev, int level)
{
    int pin = dev->config[PCI_INTERRUPT_PIN];
    if (!pin) {
        return;
    }
    dev->intx_level = level;
    if (level) {
        dev->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    } else {
        dev->config[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
    }
    /* the status bit shows the device's request; the line follows it unless disabled */
    bool disabled = pci_get_word(dev->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
    bool drive = level && !disabled;
    if (drive != dev->intx_applied) {
        dev->intx_applied = drive;
        pirq_update(dev->bus, slot_pirq(dev->devfn, pin), drive ? 1 : -1);
    }
}

void pci_msi_send(PCIDevice *dev, uint64_t addr, uint32_t data)
{
    /* a message is a memory write by the function: nothing leaves it without bus mastering */
    if (!(pci_get_word(dev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        return;
    }
    io_space_write(dev->bus->mmio, addr, data, 4);
}

void pci_bus_assign_resources(PCIBus *bus, uint32_t io_base, uint64_t mem_base)
{
    uint64_t io = io_base, mem = mem_base;
    for (int devfn = 0; devfn < 256; devfn++) {
        PCIDevice *dev = bus->devices[devfn];
        if (!dev) {
            continue;
        }
        uint16_t cmd = 0;
        /* largest BAR first, as SeaBIOS places them: less lost to alignment */
        int order[PCI_NUM_BARS];
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            int j = i;
            for (; j > 0 && dev->bars[order[j - 1]].size < dev->bars[i].size; j--) {
                order[j] = order[j - 1];
            }
            order[j] = i;
        }
        for (int k = 0; k < PCI_NUM_BARS; k++) {
            int i = order[k];
            PCIBar *b = &dev->bars[i];
            uint8_t *cfg = dev->config + PCI_BASE_ADDRESS_0 + 4 * i;
            if (b->type == PCI_BAR_IO) {
                io = (io + b->size - 1) & ~(b->size - 1);
                pci_set_long(cfg, (uint32_t)io | 1);
                io += b->size;
                cmd |= PCI_COMMAND_IO;
            } else if (b->type != PCI_BAR_NONE) {
                mem = (mem + b->size - 1) & ~(b->size - 1);
                uint32_t flags = pci_get_long(cfg) & 0xf;
                pci_set_long(cfg, (uint32_t)mem | flags);
                if (b->type == PCI_BAR_MEM64) {
                    pci_set_long(cfg + 4, mem >> 32);
                }
                mem += b->size;
                cmd |= PCI_COMMAND_MEMORY;
            }
        }
        int pin = dev->config[PCI_INTERRUPT_PIN];
        if (pin) {
            dev->config[PCI_INTERRUPT_LINE] = bus->pirq_isa_irq[slot_pirq(devfn, pin)];
        }
        if (devfn) {
            cmd |= PCI_COMMAND_MASTER;
        }
        pci_config_write(dev, PCI_COMMAND, cmd, 2);
    }
}

void pci_bus_reset(PCIBus *bus)
{
    for (int devfn = 0; devfn < 256; devfn++) {
        PCIDevice *dev = bus->devices[devfn];
        if (dev) {
            pci_set_irq(dev, 0);
            pci_config_write(dev, PCI_COMMAND, 0, 2);
        }
    }
}

/* --- the host bridge's configuration mechanism #1 --------------------------------------- */

static PCIDevice *addressed_device(PCIBus *bus)
{
    uint32_t a = bus->config_addr;
    if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0) {
        return NULL;
    }
    return bus->devices[(a >> 8) & 0xff];
}

static uint64_t cfg_addr_read(void *opaque, uint64_t addr, unsigned size)
{
    PCIBus *bus = opaque;
    return bus->config_addr >> (8 * addr);
}

static void cfg_addr_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PCIBus *bus = opaque;
    if (addr != 0 || size != 4) {
        return; /* only dword accesses at 0xcf8 hit the address latch */
    }
    bus->config_addr = val & 0x80fffffcu;
}

static uint64_t cfg_data_read(void *opaque, uint64_t addr, unsigned size)
{
    PCIBus *bus = opaque;
    PCIDevice *dev = addressed_device(bus);
    if (!dev) {
        return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    }
    return pci_config_read(dev, (bus->config_addr & 0xfc) + addr, size);
}

static void cfg_data_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PCIBus *bus = opaque;
    PCIDevice *dev = addressed_device(bus);
    if (dev) {
        pci_config_write(dev, (bus->config_addr & 0xfc) + addr, val, size);
    }
}

static uint64_t cfg_addr_hi_read(void *opaque, uint64_t addr, unsigned size)
{
    return cfg_addr_read(opaque, addr + 2, size);
}

static void cfg_addr_hi_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
}

static const IoRegionOps cfg_addr_ops = {.read = cfg_addr_read, .write = cfg_addr_write};
static const IoRegionOps cfg_addr_hi_ops = {.read = cfg_addr_hi_read, .write = cfg_addr_hi_write};
static const IoRegionOps cfg_data_ops = {.read = cfg_data_read, .write = cfg_data_write};

bool pci_host_register_ports(PCIBus *bus, IoSpace *io, GError **errp)
{
    /* 0xcf9 between them is the PIIX reset control register (hw/i386/pc-sysctl.c); a dword
     * access at 0xcf8 still reaches the address latch whole */
    return io_space_add(io, "pci-conf-idx", 0xcf8, 1, &cfg_addr_ops, bus, errp) &&
           io_space_add(io, "pci-conf-idx-hi", 0xcfa, 2, &cfg_addr_hi_ops, bus, errp) &&
           io_space_add(io, "pci-conf-data", 0xcfc, 4, &cfg_data_ops, bus, errp);
}

void pci_set_default_subsystem(PCIDevice *dev)
{
    pci_set_word(dev->config + PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
    pci_set_word(dev->config + PCI_SUBSYSTEM_ID, 0x1100);
}

PCIDevice *pci_host_bridge_new(PCIBus *bus, GError **errp)
{
    /* i440FX: Intel 82441FX, host bridge class, revision 2 */
    PCIDevice *d = pci_device_new(bus, "i440FX", PCI_DEVFN(0, 0), 0x8086, 0x1237, 0x06000002, errp);
    if (d) {
        pci_set_default_subsystem(d);
        /* PAM0-6: the BIOS area's shadowing (the machine acts on them) */
        memset(d->wmask + 0x59, 0xff, 7);
    }
    return d;
}

PCIDevice *pci_piix3_isa_new(PCIBus *bus, int devfn, GError **errp)
{
    PCIDevice *d = pci_device_new(bus, "PIIX3", devfn, 0x8086, 0x7000, 0x06010000, errp);
    if (d) {
        d->config[PCI_HEADER_TYPE] = 0x80; /* multi-function: IDE at .1, PM at .3 */
        pci_set_default_subsystem(d);
        /* upstream's device-specific config space is writable; PIRQRC A-D start disabled
         * until SeaBIOS routes them (the machine's routing is fixed: pirq_isa_irq) */
        memset(d->wmask + 0x40, 0xff, PCI_CONFIG_SPACE_SIZE - 0x40);
        memset(d->config + 0x60, 0x80, 4);
    }
    return d;
}

/* --- state ------------------------------------------------------------------------------ */

/* Identity bytes (vendor, device, class) must match: a section for another device is refused. */
static bool pci_device_state_check(const void *scratch, const void *live, int version,
                                   GError **errp)
{
    const PCIDevice *d = scratch, *l = live;
    if (memcmp(d->config, l->config, 4) || memcmp(d->config + 9, l->config + 9, 3)) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "config space of %04x:%04x where %s (%04x:%04x) is", pci_get_word(d->config),
                    pci_get_word(d->config + 2), l->name, pci_get_word(l->config),
                    pci_get_word(l->config + 2));
        return false;
    }
    return true;
}

/* BARs are mapped where the loaded config space puts them. */
static void pci_device_post_load(void *opaque, int version)
{
    update_mappings(opaque);
}

const VMStateDescription vmstate_pci_device = {
    .name = "pci-device",
    .version = 1,
    .size = sizeof(PCIDevice),
    .check = pci_device_state_check,
    .post_load = pci_device_post_load,
    .fields = (const VMStateField[]){VMSTATE_BUFFER(PCIDevice, config),
                                     VMSTATE_I32(PCIDevice, intx_level),
                                     VMSTATE_BOOL(PCIDevice, intx_applied), VMSTATE_END},
};

static const VMStateDescription vmstate_pci_bus = {
    .name = "pci-host",
    .version = 1,
    .size = sizeof(PCIBus),
    .fields = (const VMStateField[]){VMSTATE_U32(PCIBus, config_addr),
                                     VMSTATE_I32_ARRAY(PCIBus, pirq_count), VMSTATE_END},
};

void pci_bus_add_vmstate(PCIBus *bus, VMStateSet *set)
{
    for (int devfn = 0; devfn < 256; devfn++) {
        if (bus->devices[devfn]) {
            vmstate_set_add(set, "pci-device", devfn, &vmstate_pci_device, bus->devices[devfn]);
        }
    }
}

static bool bus_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return pci_host_register_ports(dev, io, errp);
}

static void bus_reset(void *dev)
{
    pci_bus_reset(dev);
}

static void bus_free(void *dev)
{
    pci_bus_free(dev);
}

/* The bus and its host bridge's ports; each device's config space is a section of its own. */
static void bus_add_state(void *dev, guint32 instance, VMStateSet *set)
{
    vmstate_set_add(set, "pci-host", instance, &vmstate_pci_bus, dev);
    pci_bus_add_vmstate(dev, set);
}

const DeviceContract pci_host_device = {
    .name = "pci-host",
    .map = bus_map,
    .reset = bus_reset,
    .free = bus_free,
    .add_state = bus_add_state,
};
