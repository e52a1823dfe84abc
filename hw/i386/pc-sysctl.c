/* Port 0x92, the 0xcf9 reset register and the quietly ignored ports (pc-sysctl.h). */
#include "hw/i386/pc-sysctl.h"

struct PcSysctl {
    PcResetFn reset;
    void *opaque;
    uint8_t port92;
    uint8_t rcr;
    uint64_t ignored;
};

static uint64_t port92_read(void *opaque, uint64_t addr, unsigned size)
{
    PcSysctl *s = opaque;
    return s->port92 | 0x02; /* A20 is always enabled */
}

static void port92_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcSysctl *s = opaque;
    s->port92 = val & ~1u;
    if (val & 1) {
        s->reset(s->opaque);
    }
}

static uint64_t rcr_read(void *opaque, uint64_t addr, unsigned size)
{
    PcSysctl *s = opaque;
    return s->rcr;
}

static void rcr_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcSysctl *s = opaque;
    /* bit 2: reset CPU (bit 1 chooses a hard reset, which for us is the same) */
    if (val & 0x04) {
        s->rcr = 0;
        s->reset(s->opaque);
        return;
    }
    s->rcr = val & 0x02;
}

static uint64_t ignored_read(void *opaque, uint64_t addr, unsigned size)
{
    PcSysctl *s = opaque;
    s->ignored++;
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static void ignored_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PcSysctl *s = opaque;
    s->ignored++;
}

static const IoRegionOps port92_ops = {.read = port92_read, .write = port92_write};
static const IoRegionOps rcr_ops = {.read = rcr_read, .write = rcr_write};
static const IoRegionOps ignored_ops = {.read = ignored_read, .write = ignored_write};

static const struct {
    const char *name;
    uint16_t base, len;
} quiet_ports[] = {
    {"dma1", 0x00, 0x20},     {"post", 0x80, 1},
    {"dma-page", 0x81, 0x0f}, {"dma2", 0xc0, 0x20},
    {"delay", 0xed, 1},       {"fpu", 0xf0, 0x10},
    {"ide1", 0x170, 8},       {"ide0", 0x1f0, 8},
    {"lpt2", 0x278, 8},       {"com4", 0x2e8, 8},
    {"com2", 0x2f8, 8},       {"ide1-ctl", 0x376, 1},
    {"lpt1", 0x378, 8},       {"lpt0", 0x3bc, 3},
    {"vga", 0x3c0, 0x20},     {"com3", 0x3e8, 8},
    {"fdc", 0x3f0, 6},        {"ide0-ctl", 0x3f6, 1},
    {"debugcon", 0x402, 1},   {"isa-debug-exit", 0x501, 1},
    {"fw_cfg", 0x510, 0x0c},
};

PcSysctl *pc_sysctl_new(PcResetFn reset, void *opaque)
{
    PcSysctl *s = g_new0(PcSysctl, 1);
    s->reset = reset;
    s->opaque = opaque;
    return s;
}

void pc_sysctl_free(PcSysctl *s)
{
    g_free(s);
}

bool pc_sysctl_register_ports(PcSysctl *s, IoSpace *io, GError **errp)
{
    if (!io_space_add(io, "port92", 0x92, 1, &port92_ops, s, errp) ||
        !io_space_add(io, "reset-control", 0xcf9, 1, &rcr_ops, s, errp)) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(quiet_ports); i++) {
        if (!io_space_add(io, quiet_ports[i].name, quiet_ports[i].base, quiet_ports[i].len,
                          &ignored_ops, s, errp)) {
            return false;
        }
    }
    return true;
}

void pc_sysctl_yield_ports(PcSysctl *s, IoSpace *io, uint64_t base, uint64_t len)
{
    for (uint64_t addr = base; addr < base + len; addr++) {
        uint64_t rbase, rlen;
        const IoRegionOps *ops;
        void *opaque;
        if (!io_space_region(io, addr, &rbase, &rlen, &ops, &opaque) || ops != &ignored_ops ||
            opaque != s) {
            continue;
        }
        g_autofree char *name = g_strdup(io_space_lookup(io, addr));
        uint64_t rend = rbase + rlen;
        io_space_del(io, rbase);
        /* what is left on either side stays quiet; re-adding into freed room cannot fail */
        if (rbase < base) {
            io_space_add(io, name, rbase, base - rbase, &ignored_ops, s, NULL);
        }
        if (rend > base + len) {
            io_space_add(io, name, base + len, rend - base - len, &ignored_ops, s, NULL);
        }
    }
}

uint64_t pc_sysctl_ignored_accesses(PcSysctl *s)
{
    return s->ignored;
}

/* --- device contract -------------------------------------------------------------------- */

/* The ignored-access counter is a host-side statistic: not saved. */
static const VMStateDescription vmstate_pc_sysctl = {
    .name = "pc-sysctl",
    .version = 1,
    .size = sizeof(PcSysctl),
    .fields = (const VMStateField[]){VMSTATE_U8(PcSysctl, port92), VMSTATE_U8(PcSysctl, rcr),
                                     VMSTATE_END},
};

static bool sysctl_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return pc_sysctl_register_ports(dev, io, errp);
}

static void sysctl_free_dev(void *dev)
{
    pc_sysctl_free(dev);
}

const DeviceContract pc_sysctl_device = {
    .name = "pc-sysctl",
    .map = sysctl_map,
    .free = sysctl_free_dev,
    .vmsd = &vmstate_pc_sysctl,
};
