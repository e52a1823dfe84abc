/* -device isa-debug-exit (include/hw/misc/isa-debug-exit.h). */
#include "hw/misc/isa-debug-exit.h"
#include "hw/core/qdev.h"
#include "util/error.h"

#include <stdlib.h>

typedef struct IsaDebugExit {
    DeviceHost *host;
    uint32_t iobase, iosize;
} IsaDebugExit;

static const DevicePropInfo isa_debug_exit_props[] = {
    {"iobase", DEV_PROP_INT_U32, NULL, NULL, "1281"},
    {"iosize", DEV_PROP_INT_U32, NULL, NULL, "2"},
    {NULL, 0, NULL, NULL, NULL},
};

static uint64_t debug_exit_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void debug_exit_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    IsaDebugExit *d = opaque;
    /* upstream's exit() takes an int: the status wraps the same way */
    int status = (int)(((uint32_t)val << 1) | 1);
    if (d->host->guest_exit) {
        d->host->guest_exit(d->host, status);
    } else {
        exit(status);
    }
}

static const IoRegionOps debug_exit_ops = {.read = debug_exit_read, .write = debug_exit_write};

/* The ports the guest can reach: the range, cut at the end of the 64 KiB port space. */
static uint64_t port_span(const IsaDebugExit *d)
{
    uint64_t end = MIN((uint64_t)d->iobase + d->iosize, 0x10000);
    return d->iobase < end ? end - d->iobase : 0;
}

static bool debug_exit_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    IsaDebugExit *d = dev;
    uint64_t len = port_span(d);
    /* nothing to map: upstream's region is empty or lies past the port space, unreachable */
    return !len || io_space_add(io, "isa-debug-exit", d->iobase, len, &debug_exit_ops, d, errp);
}

static void debug_exit_free(void *dev)
{
    g_free(dev);
}

const DeviceContract isa_debug_exit_device = {
    .name = "isa-debug-exit",
    .map = debug_exit_map,
    .free = debug_exit_free,
};

static bool create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    DeviceHost *host = machine;
    IsaDebugExit *d = g_new0(IsaDebugExit, 1);
    d->host = host;
    d->iobase = ISA_DEBUG_EXIT_IOBASE;
    d->iosize = ISA_DEBUG_EXIT_IOSIZE;
    const char *v;
    if ((v = g_hash_table_lookup(props, "iobase"))) {
        d->iobase = qdev_parse_u32(v);
    }
    if ((v = g_hash_table_lookup(props, "iosize"))) {
        d->iosize = qdev_parse_u32(v);
    }
    if (host->isa_claim) {
        host->isa_claim(host, d->iobase, port_span(d));
    }
    if (!debug_exit_map(d, host->io, host->mmio, 0, errp)) {
        g_free(d);
        return false;
    }
    host->plug(host, &isa_debug_exit_device, d);
    return true;
}

static const DeviceTypeInfo isa_debug_exit_type = {
    .name = "isa-debug-exit",
    .bus = "ISA",
    .category = "Misc devices",
    .props = isa_debug_exit_props,
    .create = create,
};

void isa_debug_exit_register_type(void)
{
    device_type_register(&isa_debug_exit_type);
}
