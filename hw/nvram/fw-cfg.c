/* QEMU's fw_cfg device (include/hw/nvram/fw-cfg.h). */
#include "hw/nvram/fw-cfg.h"
#include "util/error.h"

#include <string.h>

#define FW_CFG_INVALID       0xffff
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ull /* "QEMU CFG" */
#define FW_CFG_VERSION       1                     /* the traditional interface */
#define FW_CFG_VERSION_DMA   2

typedef struct FwCfgFile {
    char *name;
    GBytes *data;
} FwCfgFile;

struct FwCfg {
    const DmaSpace *dma;
    GHashTable *items; /* key (uint) → GBytes: numbered items and, once built, files */
    GPtrArray *files;  /* FwCfgFile, sorted by name when the directory is built */
    bool dir_built;
    uint16_t cur_entry;
    uint32_t cur_offset;
    uint64_t dma_addr;
};

static void file_free(gpointer p)
{
    FwCfgFile *f = p;
    g_free(f->name);
    g_bytes_unref(f->data);
    g_free(f);
}

FwCfg *fw_cfg_new(const DmaSpace *dma)
{
    FwCfg *s = g_new0(FwCfg, 1);
    s->dma = dma;
    s->items =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)g_bytes_unref);
    s->files = g_ptr_array_new_with_free_func(file_free);
    s->cur_entry = FW_CFG_INVALID;
    fw_cfg_add_bytes(s, FW_CFG_SIGNATURE, "QEMU", 4);
    fw_cfg_add_i32(s, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    return s;
}

void fw_cfg_free(FwCfg *s)
{
    if (!s) {
        return;
    }
    g_hash_table_destroy(s->items);
    g_ptr_array_free(s->files, TRUE);
    g_free(s);
}

void fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len)
{
    g_hash_table_replace(s->items, GUINT_TO_POINTER(key), g_bytes_new(data, len));
}

void fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v)
{
    uint16_t le = GUINT16_TO_LE(v);
    fw_cfg_add_bytes(s, key, &le, sizeof(le));
}

void fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);
    fw_cfg_add_bytes(s, key, &le, sizeof(le));
}

void fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v)
{
    uint64_t le = GUINT64_TO_LE(v);
    fw_cfg_add_bytes(s, key, &le, sizeof(le));
}

void fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len)
{
    g_assert(strlen(name) < FW_CFG_MAX_FILE_PATH);
    for (guint i = 0; i < s->files->len; i++) {
        FwCfgFile *f = s->files->pdata[i];
        if (!strcmp(f->name, name)) {
            g_bytes_unref(f->data);
            f->data = g_bytes_new(data, len);
            s->dir_built = false;
            return;
        }
    }
    FwCfgFile *f = g_new0(FwCfgFile, 1);
    f->name = g_strdup(name);
    f->data = g_bytes_new(data, len);
    g_ptr_array_add(s->files, f);
    s->dir_built = false;
}

static gint file_cmp(gconstpointer a, gconstpointer b)
{
    const FwCfgFile *fa = *(FwCfgFile *const *)a, *fb = *(FwCfgFile *const *)b;
    return strcmp(fa->name, fb->name);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    uint32_t be = GUINT32_TO_BE(v);
    memcpy(p, &be, 4);
}

/* Upstream keeps its files sorted by name, each file's key its place in that order. */
static void build_dir(FwCfg *s)
{
    if (s->dir_built) {
        return;
    }
    g_ptr_array_sort(s->files, file_cmp);
    size_t len = 4 + s->files->len * 64;
    uint8_t *dir = g_malloc0(len);
    put_be32(dir, s->files->len);
    for (guint i = 0; i < s->files->len; i++) {
        FwCfgFile *f = s->files->pdata[i];
        uint8_t *e = dir + 4 + i * 64;
        uint16_t key = FW_CFG_FILE_FIRST + i;
        put_be32(e, g_bytes_get_size(f->data));
        e[4] = key >> 8;
        e[5] = key & 0xff;
        memcpy(e + 8, f->name, strlen(f->name));
        g_hash_table_replace(s->items, GUINT_TO_POINTER(key), g_bytes_ref(f->data));
    }
    g_hash_table_replace(s->items, GUINT_TO_POINTER(FW_CFG_FILE_DIR), g_bytes_new_take(dir, len));
    s->dir_built = true;
}

uint16_t fw_cfg_file_key(FwCfg *s, const char *name)
{
    build_dir(s);
    for (guint i = 0; i < s->files->len; i++) {
        if (!strcmp(((FwCfgFile *)s->files->pdata[i])->name, name)) {
            return FW_CFG_FILE_FIRST + i;
        }
    }
    return 0;
}

static GBytes *cur_item(FwCfg *s)
{
    if (s->cur_entry == FW_CFG_INVALID) {
        return NULL;
    }
    build_dir(s);
    return g_hash_table_lookup(s->items, GUINT_TO_POINTER(s->cur_entry));
}

static void fw_cfg_select(FwCfg *s, uint16_t key)
{
    s->cur_offset = 0;
    key &= ~FW_CFG_WRITE_CHAN;
    build_dir(s);
    s->cur_entry = g_hash_table_contains(s->items, GUINT_TO_POINTER(key)) ? key : FW_CFG_INVALID;
}

static uint8_t read_byte(FwCfg *s)
{
    GBytes *b = cur_item(s);
    gsize len;
    const uint8_t *p = b ? g_bytes_get_data(b, &len) : NULL;
    if (!p || s->cur_offset >= len) {
        return 0;
    }
    return p[s->cur_offset++];
}

/* --- ports ----------------------------------------------------------------------------- */

static uint64_t io_read(void *opaque, uint64_t addr, unsigned size)
{
    FwCfg *s = opaque;
    if (addr != 1) {
        return 0; /* the selector reads as 0 */
    }
    /* wider reads of the data port give consecutive bytes, first byte most significant */
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v = (v << 8) | read_byte(s);
    }
    return v;
}

static void io_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    FwCfg *s = opaque;
    if (addr == 0) {
        fw_cfg_select(s, val);
    }
}

/* One DMA access descriptor at s->dma_addr. */
static void dma_transfer(FwCfg *s)
{
    uint8_t d[16];
    uint64_t desc = s->dma_addr;
    s->dma_addr = 0;
    if (!dma_read(s->dma, desc, d, sizeof(d))) {
        return;
    }
    uint32_t control, length;
    uint64_t address;
    memcpy(&control, d, 4);
    memcpy(&length, d + 4, 4);
    memcpy(&address, d + 8, 8);
    control = GUINT32_FROM_BE(control);
    length = GUINT32_FROM_BE(length);
    address = GUINT64_FROM_BE(address);
    if (control & FW_CFG_DMA_CTL_SELECT) {
        fw_cfg_select(s, control >> 16);
    }
    bool read = control & FW_CFG_DMA_CTL_READ, write = control & FW_CFG_DMA_CTL_WRITE;
    bool skip = control & FW_CFG_DMA_CTL_SKIP;
    uint32_t result = 0;
    if (read || write || skip) {
        GBytes *b = cur_item(s);
        gsize have = 0;
        const uint8_t *p = b ? g_bytes_get_data(b, &have) : NULL;
        while (length > 0) {
            uint32_t len;
            if (!p || s->cur_offset >= have) {
                /* past the end: a read fills zeros, a write fails */
                len = length;
                if (read && !write) {
                    uint8_t zero[256] = {0};
                    for (uint32_t o = 0; o < len; o += sizeof(zero)) {
                        if (!dma_write(s->dma, address + o, zero, MIN(sizeof(zero), len - o))) {
                            result = FW_CFG_DMA_CTL_ERROR;
                        }
                    }
                } else if (write) {
                    result = FW_CFG_DMA_CTL_ERROR;
                }
            } else {
                len = MIN(length, have - s->cur_offset);
                if (write) {
                    result = FW_CFG_DMA_CTL_ERROR; /* no item here is writable */
                } else if (read && !dma_write(s->dma, address, p + s->cur_offset, len)) {
                    result = FW_CFG_DMA_CTL_ERROR;
                }
                s->cur_offset += len;
            }
            address += len;
            length -= len;
        }
    }
    uint32_t done = GUINT32_TO_BE(result);
    dma_write(s->dma, desc, &done, 4);
}

static uint64_t dma_io_read(void *opaque, uint64_t addr, unsigned size)
{
    /* the signature, big-endian across the 8 ports */
    unsigned shift = (8 - addr - size) * 8;
    uint64_t v = FW_CFG_DMA_SIGNATURE >> shift;
    return size == 8 ? v : v & ((1ull << (size * 8)) - 1);
}

static void dma_io_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    FwCfg *s = opaque;
    /* the port is big-endian: swap what the CPU wrote little-endian */
    if (size == 8 && addr == 0) {
        s->dma_addr = GUINT64_FROM_BE(val);
        dma_transfer(s);
    } else if (size == 4 && addr == 0) {
        s->dma_addr = (uint64_t)GUINT32_FROM_BE((uint32_t)val) << 32;
    } else if (size == 4 && addr == 4) {
        s->dma_addr |= GUINT32_FROM_BE((uint32_t)val);
        dma_transfer(s);
    }
}

static const IoRegionOps io_ops = {.read = io_read, .write = io_write};
static const IoRegionOps dma_ops = {.read = dma_io_read, .write = dma_io_write};

static bool fw_cfg_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return io_space_add(io, "fwcfg", FW_CFG_IO_BASE, 2, &io_ops, dev, errp) &&
           io_space_add(io, "fwcfg.dma", FW_CFG_DMA_BASE, 8, &dma_ops, dev, errp);
}

static void fw_cfg_reset(void *dev)
{
    FwCfg *s = dev;
    s->cur_entry = FW_CFG_INVALID;
    s->cur_offset = 0;
    s->dma_addr = 0;
}

static void fw_cfg_free_dev(void *dev)
{
    fw_cfg_free(dev);
}

static const VMStateDescription vmstate_fw_cfg = {
    .name = "fw_cfg",
    .version = 1,
    .size = sizeof(FwCfg),
    .fields = (const VMStateField[]){VMSTATE_U16(FwCfg, cur_entry), VMSTATE_U32(FwCfg, cur_offset),
                                     VMSTATE_U64(FwCfg, dma_addr), VMSTATE_END},
};

const DeviceContract fw_cfg_device = {
    .name = "fw_cfg",
    .map = fw_cfg_map,
    .reset = fw_cfg_reset,
    .free = fw_cfg_free_dev,
    .vmsd = &vmstate_fw_cfg,
};
