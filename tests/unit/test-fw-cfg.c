/* fw_cfg: the selector and data ports, DMA, the file directory, the pc's items and the ACPI
 * table loader (its script run here as SeaBIOS runs it). */
#include "hw/acpi/acpi-loader.h"
#include "hw/acpi/acpi-tables.h"
#include "hw/i386/pc-firmware.h"
#include "hw/nvram/fw-cfg.h"
#include "io-helpers.h"
#include "tests/include/flat-ram.h"

#include <string.h>

#define RAM_SIZE (1u << 20)

typedef struct Fixture {
    IoSpace *io;
    FlatRam ram;
    DmaSpace dma;
    FwCfg *s;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    f->ram = (FlatRam){.base = g_malloc0(RAM_SIZE), .size = RAM_SIZE};
    f->dma = flat_ram_dma(&f->ram);
    f->s = fw_cfg_new(&f->dma);
    g_assert_true(fw_cfg_device.map(f->s, f->io, NULL, 0, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    fw_cfg_free(f->s);
    io_space_free(f->io);
    g_free(f->ram.base);
}

static void read_item(Fixture *f, uint16_t key, void *buf, size_t len)
{
    outw(f->io, FW_CFG_IO_BASE, key);
    for (size_t i = 0; i < len; i++) {
        ((uint8_t *)buf)[i] = inb(f->io, FW_CFG_IO_BASE + 1);
    }
}

static void test_signature_and_id(Fixture *f, gconstpointer data)
{
    char sig[5] = {0};
    read_item(f, FW_CFG_SIGNATURE, sig, 4);
    g_assert_cmpstr(sig, ==, "QEMU");
    uint32_t id;
    read_item(f, FW_CFG_ID, &id, 4);
    g_assert_cmphex(GUINT32_FROM_LE(id), ==, 3);            /* traditional interface and DMA */
    g_assert_cmphex(inb(f->io, FW_CFG_IO_BASE + 1), ==, 0); /* past the end */
    /* the DMA ports read as the big-endian "QEMU CFG" */
    g_assert_cmphex(inl(f->io, FW_CFG_DMA_BASE), ==, 0x51454d55);
    g_assert_cmphex(inl(f->io, FW_CFG_DMA_BASE + 4), ==, 0x20434647);
    /* an unknown key reads as zeros; the write-channel bit is ignored */
    read_item(f, 0x1234, &id, 4);
    g_assert_cmphex(id, ==, 0);
    read_item(f, FW_CFG_SIGNATURE | FW_CFG_WRITE_CHAN, sig, 4);
    g_assert_cmpstr(sig, ==, "QEMU");
}

static void test_directory(Fixture *f, gconstpointer data)
{
    fw_cfg_add_file(f->s, "zeta", "zz", 2);
    fw_cfg_add_file(f->s, "etc/alpha", "alpha!", 6);
    fw_cfg_add_file(f->s, "zeta", "ZZZ", 3); /* replaces */
    uint8_t dir[4 + 2 * 64];
    read_item(f, FW_CFG_FILE_DIR, dir, sizeof(dir));
    g_assert_cmpuint(dir[3], ==, 2);
    g_assert_cmpuint(dir[0] | dir[1] | dir[2], ==, 0);
    /* sorted by name, keys from 0x20 in that order, sizes and keys big-endian */
    g_assert_cmpstr((char *)dir + 4 + 8, ==, "etc/alpha");
    g_assert_cmpuint(dir[4 + 3], ==, 6);
    g_assert_cmphex((dir[4 + 4] << 8) | dir[4 + 5], ==, 0x20);
    g_assert_cmpstr((char *)dir + 68 + 8, ==, "zeta");
    g_assert_cmpuint(dir[68 + 3], ==, 3);
    g_assert_cmphex((dir[68 + 4] << 8) | dir[68 + 5], ==, 0x21);
    g_assert_cmphex(fw_cfg_file_key(f->s, "zeta"), ==, 0x21);
    g_assert_cmphex(fw_cfg_file_key(f->s, "nope"), ==, 0);
    char buf[4] = {0};
    read_item(f, 0x21, buf, 3);
    g_assert_cmpstr(buf, ==, "ZZZ");
}

/* A DMA access descriptor at gpa 0x1000, started with two 32-bit writes as SeaBIOS does. */
static uint32_t dma(Fixture *f, uint32_t control, uint32_t len, uint64_t addr)
{
    uint32_t d[4] = {GUINT32_TO_BE(control), GUINT32_TO_BE(len), GUINT32_TO_BE(addr >> 32),
                     GUINT32_TO_BE((uint32_t)addr)};
    memcpy(f->ram.base + 0x1000, d, sizeof(d));
    outl(f->io, FW_CFG_DMA_BASE, GUINT32_TO_BE(0));
    outl(f->io, FW_CFG_DMA_BASE + 4, GUINT32_TO_BE(0x1000));
    uint32_t done;
    memcpy(&done, f->ram.base + 0x1000, 4);
    return GUINT32_FROM_BE(done);
}

static void test_dma(Fixture *f, gconstpointer data)
{
    fw_cfg_add_file(f->s, "etc/data", "0123456789", 10);
    uint16_t key = fw_cfg_file_key(f->s, "etc/data");
    uint8_t *out = f->ram.base + 0x2000;
    memset(out, 0xaa, 32);
    /* select and read past the end: the rest is zeros */
    g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ | (key << 16), 4, 0x2000),
                    ==, 0);
    g_assert_cmpmem(out, 4, "0123", 4);
    g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_SKIP, 3, 0), ==, 0);
    g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_READ, 8, 0x2000), ==, 0);
    g_assert_cmpmem(out, 8, "789\0\0\0\0\0", 8);
    g_assert_cmphex(out[8], ==, 0xaa);
    /* nothing is writable: the error bit */
    g_assert_cmphex(dma(f, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE | (key << 16), 2, 0x2000),
                    ==, FW_CFG_DMA_CTL_ERROR);
    /* a read into memory that is not there fails too */
    g_assert_cmphex(
        dma(f, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ | (key << 16), 4, 1ull << 40), ==,
        FW_CFG_DMA_CTL_ERROR);
    /* the ports read the same item after a DMA select */
    dma(f, FW_CFG_DMA_CTL_SELECT | (key << 16), 0, 0);
    g_assert_cmphex(inb(f->io, FW_CFG_IO_BASE + 1), ==, '0');
}

static GBytes *file_bytes(Fixture *f, const char *name)
{
    uint16_t key = fw_cfg_file_key(f->s, name);
    g_assert_cmphex(key, !=, 0);
    uint8_t dir[4 + 64 * 32];
    read_item(f, FW_CFG_FILE_DIR, dir, sizeof(dir));
    uint32_t size = 0;
    for (guint i = 0; i < dir[3]; i++) {
        uint8_t *e = dir + 4 + i * 64;
        if (((e[4] << 8) | e[5]) == key) {
            size = (e[0] << 24) | (e[1] << 16) | (e[2] << 8) | e[3];
        }
    }
    uint8_t *buf = g_malloc(size);
    read_item(f, key, buf, size);
    return g_bytes_new_take(buf, size);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The loader script run as SeaBIOS runs it: tables at 0x80000, the RSDP at 0xf0000. */
static void test_pc_items_and_table_loader(Fixture *f, gconstpointer data)
{
    PcFwCfgInfo info = {.low_ram = 0xc0000000ull,
                        .high_ram = 1ull << 30,
                        .acpi = true,
                        .graphics = false,
                        .bootorder = "",
                        .splash_time = -1,
                        .boot_fail_wait = -1};
    pc_fw_cfg_fill(f->s, &info);
    uint64_t ram;
    read_item(f, FW_CFG_RAM_SIZE, &ram, 8);
    g_assert_cmphex(GUINT64_FROM_LE(ram), ==, 0x100000000ull);
    g_autoptr(GBytes) e820 = file_bytes(f, "etc/e820");
    g_assert_cmpuint(g_bytes_get_size(e820), ==, 40);
    const uint8_t *e = g_bytes_get_data(e820, NULL);
    g_assert_cmphex(le32(e + 8), ==, 0xc0000000u); /* RAM 0 - 3 GiB */
    g_assert_cmphex(le32(e + 20 + 4), ==, 1);      /* then at 4 GiB */
    g_autoptr(GBytes) sercon = file_bytes(f, "etc/sercon-port");
    const uint8_t *port = g_bytes_get_data(sercon, NULL);
    g_assert_cmpuint(g_bytes_get_size(sercon), ==, 2);
    g_assert_cmphex(port[0] | (port[1] << 8), ==, 0x3f8);
    g_autoptr(GBytes) wait = file_bytes(f, "etc/boot-fail-wait");
    g_assert_cmphex(le32(g_bytes_get_data(wait, NULL)), ==, 0xffffffffu);

    g_autoptr(GBytes) script = file_bytes(f, "etc/table-loader");
    g_autoptr(GBytes) tables = file_bytes(f, "etc/acpi/tables");
    g_autoptr(GBytes) rsdp = file_bytes(f, "etc/acpi/rsdp");
    gsize slen;
    const uint8_t *cmd = g_bytes_get_data(script, &slen);
    g_assert_cmpuint(slen % ACPI_LOADER_CMD_SIZE, ==, 0);
    struct {
        const char *name;
        GBytes *b;
        uint64_t addr;
    } files[] = {{"etc/acpi/tables", tables, 0}, {"etc/acpi/rsdp", rsdp, 0}};
    uint8_t *mem = f->ram.base;
    for (gsize off = 0; off < slen; off += ACPI_LOADER_CMD_SIZE) {
        const uint8_t *c = cmd + off;
        const char *name = (const char *)c + 4;
        int fi = !strcmp(name, "etc/acpi/rsdp");
        g_assert_true(fi || !strcmp(name, "etc/acpi/tables"));
        switch (le32(c)) {
        case ACPI_LOADER_ALLOCATE: {
            uint64_t at = c[64] == ACPI_LOADER_ZONE_FSEG ? 0xf0000 : 0x80000;
            g_assert_cmpuint(at % le32(c + 60), ==, 0);
            gsize n;
            const void *p = g_bytes_get_data(files[fi].b, &n);
            memcpy(mem + at, p, n);
            files[fi].addr = at;
            break;
        }
        case ACPI_LOADER_ADD_POINTER: {
            int si = !strcmp((const char *)c + 60, "etc/acpi/rsdp");
            uint8_t *field = mem + files[fi].addr + le32(c + 116);
            uint64_t v = 0;
            memcpy(&v, field, c[120]);
            v += files[si].addr;
            memcpy(field, &v, c[120]);
            break;
        }
        case ACPI_LOADER_ADD_CHECKSUM: {
            uint8_t *base = mem + files[fi].addr;
            base[le32(c + 60)] -= acpi_checksum(base + le32(c + 64), le32(c + 68));
            break;
        }
        default:
            g_assert_not_reached();
        }
    }
    /* RSDP → RSDT/XSDT → FADT → DSDT/FACS, every checksum right */
    uint8_t *r = mem + 0xf0000;
    g_assert_cmpmem(r, 8, "RSD PTR ", 8);
    g_assert_cmpuint(acpi_checksum(r, 20), ==, 0);
    g_assert_cmpuint(acpi_checksum(r, 36), ==, 0);
    uint8_t *rsdt = mem + le32(r + 16), *xsdt = mem + le32(r + 24);
    g_assert_cmpmem(rsdt, 4, "RSDT", 4);
    g_assert_cmpmem(xsdt, 4, "XSDT", 4);
    g_assert_cmpuint(acpi_checksum(rsdt, le32(rsdt + 4)), ==, 0);
    g_assert_cmpuint(acpi_checksum(xsdt, le32(xsdt + 4)), ==, 0);
    uint8_t *fadt = mem + le32(rsdt + 36);
    g_assert_cmpmem(fadt, 4, "FACP", 4);
    g_assert_true(fadt == mem + le32(xsdt + 36));
    g_assert_cmpuint(acpi_checksum(fadt, le32(fadt + 4)), ==, 0);
    g_assert_cmpmem(mem + le32(fadt + 40), 4, "DSDT", 4);
    g_assert_cmpmem(mem + le32(fadt + 140), 4, "DSDT", 4);
    g_assert_cmpmem(mem + le32(fadt + 36), 4, "FACS", 4);
    g_assert_cmpuint(le32(fadt + 36) % 64, ==, 0);
    g_assert_cmpmem(mem + le32(rsdt + 40), 4, "APIC", 4);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/fw-cfg/signature-and-id", Fixture, NULL, setup, test_signature_and_id, teardown);
    g_test_add("/fw-cfg/directory", Fixture, NULL, setup, test_directory, teardown);
    g_test_add("/fw-cfg/dma", Fixture, NULL, setup, test_dma, teardown);
    g_test_add("/fw-cfg/pc-items-and-table-loader", Fixture, NULL, setup,
               test_pc_items_and_table_loader, teardown);
    return g_test_run();
}
