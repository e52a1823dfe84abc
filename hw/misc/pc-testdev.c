/* -device pc-testdev (include/hw/misc/pc-testdev.h). */
#include "hw/misc/pc-testdev.h"
#include "hw/core/irq.h"
#include "hw/core/qdev.h"
#include "util/error.h"
#include "util/log.h"

#include <string.h>

typedef struct PcTestdev {
    IrqLine *isa_irq;
    uint32_t ioport_data;
    uint8_t iomem[PC_TESTDEV_IOMEM_LEN];
} PcTestdev;

/* The scratch register seen through a window of `size` bytes at byte offset addr & 3. */
static uint64_t ioport_read(void *opaque, uint64_t addr, unsigned size)
{
    PcTestdev *d = opaque;
    unsigned shift = (addr & 3) * 8;
    uint64_t mask = size >= 4 ? 0xffffffffull : (1ull << (size * 8)) - 1;
    return (d->ioport_data >> shift) & mask;
}

static void ioport_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcTestdev *d = opaque;
    unsigned shift = (addr & 3) * 8;
    uint64_t mask = (size >= 4 ? 0xffffffffull : (1ull << (size * 8)) - 1) << shift;
    d->ioport_data = (uint32_t)((d->ioport_data & ~mask) | ((val << shift) & mask));
}

static const IoRegionOps ioport_ops = {.read = ioport_read, .write = ioport_write};

/* Upstream splits wider accesses to this window into bytes: the same bytes, lower first. */
static uint64_t byteport_read(void *opaque, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && addr + i < 4; i++) {
        v |= ioport_read(opaque, addr + i, 1) << (8 * i);
    }
    return v;
}

static void byteport_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    for (unsigned i = 0; i < size && addr + i < 4; i++) {
        ioport_write(opaque, addr + i, (val >> (8 * i)) & 0xff, 1);
    }
}

static const IoRegionOps byteport_ops = {.read = byteport_read, .write = byteport_write};

/* Upstream unmaps and remaps the host page behind the address; guests see nothing of it. */
static uint64_t flush_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void flush_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
}

static const IoRegionOps flush_ops = {.read = flush_read, .write = flush_write};

static uint64_t irq_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void irq_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcTestdev *d = opaque;
    if (size != 1) {
        return; /* byte accesses only, as upstream's */
    }
    if (addr >= 16) {
        /* ISA has 16 lines; upstream asserts on these, we only log */
        qemu_log_mask(LOG_GUEST_ERROR, "pc-testdev: no ISA IRQ %u\n", (unsigned)addr);
        return;
    }
    irq_set_level(&d->isa_irq[addr], val != 0);
}

static const IoRegionOps irq_ops = {.read = irq_read, .write = irq_write};

static uint64_t iomem_read(void *opaque, uint64_t addr, unsigned size)
{
    PcTestdev *d = opaque;
    uint64_t v = 0;
    for (unsigned i = 0; i < size && addr + i < PC_TESTDEV_IOMEM_LEN; i++) {
        v |= (uint64_t)d->iomem[addr + i] << (8 * i);
    }
    return v;
}

static void iomem_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcTestdev *d = opaque;
    for (unsigned i = 0; i < size && addr + i < PC_TESTDEV_IOMEM_LEN; i++) {
        d->iomem[addr + i] = val >> (8 * i);
    }
}

static const IoRegionOps iomem_ops = {.read = iomem_read, .write = iomem_write};

static const struct {
    const char *name;
    bool mmio;
    uint64_t base, len;
    const IoRegionOps *ops;
} testdev_regions[] = {
    {"pc-testdev-ioport", false, PC_TESTDEV_IOPORT, 4, &ioport_ops},
    {"pc-testdev-flush-page", false, PC_TESTDEV_FLUSH, 4, &flush_ops},
    {"pc-testdev-ioport-byte", false, PC_TESTDEV_BYTEPORT, 4, &byteport_ops},
    {"pc-testdev-irq-line", false, PC_TESTDEV_IRQ, PC_TESTDEV_IRQ_LINES, &irq_ops},
    {"pc-testdev-iomem", true, PC_TESTDEV_IOMEM, PC_TESTDEV_IOMEM_LEN, &iomem_ops},
};

/* All regions or none: a region left behind would point at a device that is gone. */
static bool testdev_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(testdev_regions); i++) {
        IoSpace *space = testdev_regions[i].mmio ? mmio : io;
        if (!io_space_add(space, testdev_regions[i].name, testdev_regions[i].base,
                          testdev_regions[i].len, testdev_regions[i].ops, dev, errp)) {
            while (i-- > 0) {
                io_space_del(testdev_regions[i].mmio ? mmio : io, testdev_regions[i].base);
            }
            return false;
        }
    }
    return true;
}

static void testdev_free(void *dev)
{
    g_free(dev);
}

static const VMStateDescription vmstate_pc_testdev = {
    .name = "pc-testdev",
    .version = 1,
    .size = sizeof(PcTestdev),
    .fields = (const VMStateField[]){VMSTATE_U32(PcTestdev, ioport_data),
                                     VMSTATE_BUFFER(PcTestdev, iomem), VMSTATE_END},
};

const DeviceContract pc_testdev_device = {
    .name = "pc-testdev",
    .map = testdev_map,
    .free = testdev_free,
    .vmsd = &vmstate_pc_testdev,
};

static bool create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    DeviceHost *host = machine;
    PcTestdev *d = g_new0(PcTestdev, 1);
    d->isa_irq = host->isa_irq;
    for (size_t i = 0; host->isa_claim && i < G_N_ELEMENTS(testdev_regions); i++) {
        if (!testdev_regions[i].mmio) {
            host->isa_claim(host, testdev_regions[i].base, testdev_regions[i].len);
        }
    }
    if (!testdev_map(d, host->io, host->mmio, 0, errp)) {
        g_free(d);
        return false;
    }
    host->plug(host, &pc_testdev_device, d);
    return true;
}

static const DeviceTypeInfo pc_testdev_type = {
    .name = "pc-testdev",
    .bus = "ISA",
    .category = "Misc devices",
    .create = create,
};

void pc_testdev_register_type(void)
{
    device_type_register(&pc_testdev_type);
}
