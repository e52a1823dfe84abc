/* -device isa-debugcon (include/hw/char/debugcon.h). */
#include "hw/char/debugcon.h"
#include "chardev/char.h"
#include "hw/core/qdev.h"
#include "util/error.h"

typedef struct Debugcon {
    CharFrontend *fe;
    uint32_t iobase, readback;
} Debugcon;

static const DevicePropInfo debugcon_props[] = {
    {"chardev", DEV_PROP_LINK, NULL, "ID of a chardev to use as a backend", NULL},
    {"iobase", DEV_PROP_INT_U32, NULL, NULL, "233"},
    {"readback", DEV_PROP_INT_U32, NULL, NULL, "233"},
    {NULL, 0, NULL, NULL, NULL},
};

static uint64_t debugcon_read(void *opaque, uint64_t addr, unsigned size)
{
    Debugcon *d = opaque;
    return d->readback;
}

static void debugcon_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    Debugcon *d = opaque;
    uint8_t ch = val; /* a wider write sends its low byte, as upstream's */
    char_fe_write_all(d->fe, &ch, 1);
}

static const IoRegionOps debugcon_ops = {.read = debugcon_read, .write = debugcon_write};

static void debugcon_free(void *dev)
{
    Debugcon *d = dev;
    char_fe_free(d->fe);
    g_free(d);
}

const DeviceContract isa_debugcon_device = {
    .name = "isa-debugcon",
    .free = debugcon_free,
};

static bool create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    DeviceHost *host = machine;
    const char *chr_id = g_hash_table_lookup(props, "chardev");
    const char *v;
    Chardev *chr = NULL;
    if (chr_id && !(chr = chardev_find(chr_id))) {
        error_setg(errp, "Property 'isa-debugcon.chardev' can't find value '%s'", chr_id);
        return false;
    }
    if (!chr) {
        error_setg(errp, "Can't create debugcon device, empty char device");
        return false;
    }
    Debugcon *d = g_new0(Debugcon, 1);
    d->iobase = (v = g_hash_table_lookup(props, "iobase")) ? qdev_parse_u32(v) : 0xe9;
    d->readback = (v = g_hash_table_lookup(props, "readback")) ? qdev_parse_u32(v) : 0xe9;
    if (!(d->fe = char_fe_new(chr, errp))) {
        g_free(d);
        return false;
    }
    if (host->isa_claim) {
        host->isa_claim(host, d->iobase, 1);
    }
    if (d->iobase > 0xffff ||
        !io_space_add(host->io, "isa-debugcon", d->iobase, 1, &debugcon_ops, d, errp)) {
        if (d->iobase > 0xffff) {
            error_setg(errp, "isa-debugcon: iobase 0x%x is past the port space", d->iobase);
        }
        debugcon_free(d);
        return false;
    }
    host->plug(host, &isa_debugcon_device, d);
    return true;
}

static const DeviceTypeInfo debugcon_type = {
    .name = "isa-debugcon",
    .bus = "ISA",
    .category = "Misc devices",
    .props = debugcon_props,
    .create = create,
};

void isa_debugcon_register_type(void)
{
    device_type_register(&debugcon_type);
}
