/* The pc machine's firmware: image, shadowing, fw_cfg items (include/hw/i386/pc-firmware.h). */
#include "hw/i386/pc-firmware.h"
#include "hw/acpi/acpi-loader.h"
#include "hw/acpi/acpi-tables.h"
#include "hw/i386/e820.h"
#include "memory/rom.h"
#include "util/error.h"

#include <string.h>
#include <unistd.h>

/* Where Debian's QEMU finds its firmware: its data directory, which links SeaBIOS's. */
static const char *const data_dirs[] = {"/usr/share/qemu", "/usr/share/seabios"};

static char *find_file(const char *name)
{
    if (access(name, R_OK) == 0) {
        return g_strdup(name);
    }
    for (guint i = 0; i < G_N_ELEMENTS(data_dirs); i++) {
        char *p = g_build_filename(data_dirs[i], name, NULL);
        if (access(p, R_OK) == 0) {
            return p;
        }
        g_free(p);
    }
    return NULL;
}

bool pc_firmware_map(GuestRam *ram, const char *name, GError **errp)
{
    name = name ? name : PC_DEFAULT_BIOS;
    g_autofree char *path = find_file(name);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!path || !g_file_get_contents(path, &data, &len, NULL) || len == 0 || len % 65536 ||
        len > 0x1000000) {
        error_setg(errp, "qemu: could not load PC BIOS '%s'", name);
        return false;
    }
    return guest_rom_add(ram, 0x100000000ull - len, data, len, errp);
}

void pc_pam_apply(GuestRam *ram, const uint8_t *pam)
{
    if (!ram->shadow) {
        return;
    }
    guest_shadow_set(ram, 0xf0000, 0x10000, (pam[0] >> 4) & 3);
    for (int i = 0; i < 12; i++) {
        int mode = (pam[1 + i / 2] >> (4 * (i & 1))) & 3;
        guest_shadow_set(ram, 0xc0000 + i * 0x4000, 0x4000, mode);
    }
}

const VMStateDescription vmstate_pc_shadow = {
    .name = "pc-shadow",
    .version = 1,
    .size = sizeof(GuestShadow),
    .fields = (const VMStateField[]){VMSTATE_BUFFER(GuestShadow, mode),
                                     VMSTATE_BUFFER(GuestShadow, hidden), VMSTATE_END},
};

/* etc/e820: what upstream's pc lists (RAM below and above 4 GiB); SeaBIOS adds its own
 * reservations. 20 bytes per entry: u64 address, u64 length, u32 type, little-endian. */
static GByteArray *e820_file(uint64_t low, uint64_t high)
{
    GByteArray *b = g_byte_array_new();
    uint64_t ranges[2][2] = {{0, low}, {0x100000000ull, high}};
    for (int i = 0; i < 2; i++) {
        if (!ranges[i][1]) {
            continue;
        }
        uint8_t e[20];
        uint64_t addr = GUINT64_TO_LE(ranges[i][0]), len = GUINT64_TO_LE(ranges[i][1]);
        uint32_t type = GUINT32_TO_LE(E820_RAM);
        memcpy(e, &addr, 8);
        memcpy(e + 8, &len, 8);
        memcpy(e + 16, &type, 4);
        g_byte_array_append(b, e, sizeof(e));
    }
    return b;
}

void pc_fw_cfg_fill(FwCfg *s, const PcFwCfgInfo *info)
{
    fw_cfg_add_i64(s, FW_CFG_RAM_SIZE, info->low_ram + info->high_ram);
    fw_cfg_add_i16(s, FW_CFG_NOGRAPHIC, !info->graphics);
    fw_cfg_add_i16(s, FW_CFG_NB_CPUS, 1);
    fw_cfg_add_i16(s, FW_CFG_MAX_CPUS, 1);
    fw_cfg_add_i16(s, FW_CFG_MACHINE_ID, 0);
    uint8_t uuid[16] = {0};
    fw_cfg_add_bytes(s, FW_CFG_UUID, uuid, sizeof(uuid));
    /* NUMA: no nodes; then one word per CPU */
    uint64_t numa[2] = {0, 0};
    fw_cfg_add_bytes(s, FW_CFG_NUMA, numa, sizeof(numa));
    fw_cfg_add_i16(s, FW_CFG_BOOT_MENU, info->boot_menu);
    fw_cfg_add_i32(s, FW_CFG_IRQ0_OVERRIDE, 1);
    /* the legacy e820 item: no entries (etc/e820 has them) */
    fw_cfg_add_i32(s, FW_CFG_E820_TABLE, 0);

    g_autoptr(GByteArray) e820 = e820_file(info->low_ram, info->high_ram);
    fw_cfg_add_file(s, "etc/e820", e820->data, e820->len);
    fw_cfg_add_file(s, "bootorder", info->bootorder, info->bootorder_len);
    /* always there, as upstream has it: -1 (no -boot reboot-timeout) means wait forever */
    uint32_t w = GUINT32_TO_LE((uint32_t)info->boot_fail_wait);
    fw_cfg_add_file(s, "etc/boot-fail-wait", &w, sizeof(w));
    if (info->splash_time >= 0) {
        uint16_t t = GUINT16_TO_LE(info->splash_time);
        fw_cfg_add_file(s, "etc/boot-menu-wait", &t, sizeof(t));
    }
    if (!info->graphics) {
        uint16_t port = GUINT16_TO_LE(0x3f8);
        fw_cfg_add_file(s, "etc/sercon-port", &port, sizeof(port));
    }
    if (info->acpi) {
        acpi_loader_add_pc_tables(s, info->low_ram, info->hpet);
    }
}
