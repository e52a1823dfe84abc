/*
 * The pc machine's firmware (SeaBIOS) and what it reads from the machine, as upstream's pc
 * gives them: the image at the top of 4 GiB (its last 128 KiB also at 0xe0000, through the
 * i440FX PAM registers), and fw_cfg's items.
 *
 *   PAM (host bridge config 0x59-0x5f): one nibble per segment, bit 0 reads RAM, bit 1 writes
 *   RAM (else the ROM, which drops writes)
 *     0x59 high nibble  0xf0000-0xfffff
 *     0x5a..0x5f        0xc0000-0xeffff in 16 KiB segments, low nibble first
 *
 *   fw_cfg: signature, ID (DMA), RAM size, CPU counts, NUMA (none), boot menu, e820 (legacy
 *   item and etc/e820), bootorder, etc/boot-fail-wait, etc/sercon-port without graphics, and
 *   the ACPI tables through the table loader (etc/table-loader, etc/acpi/tables,
 *   etc/acpi/rsdp; hw/acpi/acpi-loader.h).
 */
#ifndef HW_I386_PC_FIRMWARE_H
#define HW_I386_PC_FIRMWARE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/nvram/fw-cfg.h"
#include "memory/ram.h"
#include "migration/vmstate.h"

#define PC_DEFAULT_BIOS "bios-256k.bin"
#define PC_PAM0         0x59
#define PC_PAM_REGS     7

/* Loads -bios NAME (NULL: the default) into the ROM window below 4 GiB, as upstream finds it
 * (the name as given, then the data directories). Upstream's error for a missing file or a
 * size that is not a multiple of 64 KiB. */
bool pc_firmware_map(GuestRam *ram, const char *name, GError **errp);

/* The shadowing the PAM registers pam[0..6] (config 0x59-0x5f) select. */
void pc_pam_apply(GuestRam *ram, const uint8_t *pam);
/* The BIOS area's page modes and hidden RAM (memory/rom.h's GuestShadow), loaded as they are:
 * the RAM block, migrated apart, already holds what the pages read. */
extern const VMStateDescription vmstate_pc_shadow;

typedef struct PcFwCfgInfo {
    uint64_t low_ram, high_ram;
    bool acpi;
    bool hpet;             /* the machine's hpet=on: an HPET table */
    bool graphics;         /* false: -nographic, SeaBIOS's serial console on COM1 */
    const char *bootorder; /* the bootorder file */
    size_t bootorder_len;  /* its bytes (with the NUL upstream counts), 0: empty */
    int boot_menu;         /* -boot menu=on: 1 */
    int splash_time;       /* -boot splash-time, -1: none given */
    int boot_fail_wait;    /* -boot reboot-timeout, -1: none given */
} PcFwCfgInfo;

/* Fills s with the items above. */
void pc_fw_cfg_fill(FwCfg *s, const PcFwCfgInfo *info);

#endif
