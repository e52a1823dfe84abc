/* ACPI tables through fw_cfg's table loader (include/hw/acpi/acpi-loader.h). */
#include "hw/acpi/acpi-loader.h"
#include "hw/acpi/acpi-tables.h"

#include <string.h>

#define TABLES_FILE "etc/acpi/tables"
#define RSDP_FILE   "etc/acpi/rsdp"
#define RSDP_LEN    36

static uint8_t *new_cmd(GByteArray *script, uint32_t command)
{
    guint at = script->len;
    g_byte_array_set_size(script, at + ACPI_LOADER_CMD_SIZE);
    uint8_t *c = script->data + at;
    memset(c, 0, ACPI_LOADER_CMD_SIZE);
    uint32_t le = GUINT32_TO_LE(command);
    memcpy(c, &le, 4);
    return c;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);
    memcpy(p, &le, 4);
}

static void cmd_allocate(GByteArray *script, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *c = new_cmd(script, ACPI_LOADER_ALLOCATE);
    strncpy((char *)c + 4, file, FW_CFG_MAX_FILE_PATH - 1);
    put_le32(c + 4 + 56, align);
    c[4 + 60] = zone;
}

static void cmd_pointer(GByteArray *script, const char *dest, const char *src, uint32_t offset,
                        uint8_t size)
{
    uint8_t *c = new_cmd(script, ACPI_LOADER_ADD_POINTER);
    strncpy((char *)c + 4, dest, FW_CFG_MAX_FILE_PATH - 1);
    strncpy((char *)c + 4 + 56, src, FW_CFG_MAX_FILE_PATH - 1);
    put_le32(c + 4 + 112, offset);
    c[4 + 116] = size;
}

static void cmd_checksum(GByteArray *script, const char *file, uint32_t offset, uint32_t start,
                         uint32_t length)
{
    uint8_t *c = new_cmd(script, ACPI_LOADER_ADD_CHECKSUM);
    strncpy((char *)c + 4, file, FW_CFG_MAX_FILE_PATH - 1);
    put_le32(c + 4 + 56, offset);
    put_le32(c + 4 + 60, start);
    put_le32(c + 4 + 64, length);
}

static uint32_t table_len(const GByteArray *blob, uint64_t off)
{
    uint32_t v;
    memcpy(&v, blob->data + off + 4, 4);
    return GUINT32_FROM_LE(v);
}

/* A table whose pointer fields (offset, size) point into the tables file. */
static void patch_table(GByteArray *script, const GByteArray *blob, uint64_t table,
                        const uint32_t (*ptrs)[2], int n)
{
    for (int i = 0; i < n; i++) {
        cmd_pointer(script, TABLES_FILE, TABLES_FILE, table + ptrs[i][0], ptrs[i][1]);
    }
    cmd_checksum(script, TABLES_FILE, table + 9, table, table_len(blob, table));
}

void acpi_loader_add_pc_tables(FwCfg *s, uint64_t low_ram_end, bool hpet)
{
    AcpiTables *t = acpi_build_pc_tables(0, low_ram_end, hpet);
    g_assert(t->rsdp == 0);
    GByteArray *script = g_byte_array_new();
    cmd_allocate(script, TABLES_FILE, 64, ACPI_LOADER_ZONE_HIGH);
    cmd_allocate(script, RSDP_FILE, 16, ACPI_LOADER_ZONE_FSEG);

    /* FADT: FIRMWARE_CTRL, DSDT, X_FIRMWARE_CTRL, X_DSDT */
    static const uint32_t fadt_ptrs[][2] = {{36, 4}, {40, 4}, {132, 8}, {140, 8}};
    /* RSDT and XSDT: FADT, MADT, HPET (when the machine has one) */
    static const uint32_t rsdt_ptrs[][2] = {{36, 4}, {40, 4}, {44, 4}};
    static const uint32_t xsdt_ptrs[][2] = {{36, 8}, {44, 8}, {52, 8}};
    patch_table(script, t->blob, t->fadt, fadt_ptrs, G_N_ELEMENTS(fadt_ptrs));
    int entries = hpet ? 3 : 2;
    patch_table(script, t->blob, t->rsdt, rsdt_ptrs, entries);
    patch_table(script, t->blob, t->xsdt, xsdt_ptrs, entries);

    /* RSDP: RsdtAddress, XsdtAddress; the 20-byte checksum before the extended one */
    cmd_pointer(script, RSDP_FILE, TABLES_FILE, 16, 4);
    cmd_pointer(script, RSDP_FILE, TABLES_FILE, 24, 8);
    cmd_checksum(script, RSDP_FILE, 8, 0, 20);
    cmd_checksum(script, RSDP_FILE, 32, 0, RSDP_LEN);

    fw_cfg_add_file(s, TABLES_FILE, t->blob->data, t->blob->len);
    fw_cfg_add_file(s, RSDP_FILE, t->blob->data, RSDP_LEN);
    fw_cfg_add_file(s, "etc/table-loader", script->data, script->len);
    g_byte_array_unref(script);
    acpi_tables_free(t);
}
