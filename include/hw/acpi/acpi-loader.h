/*
 * The ACPI tables handed to firmware through fw_cfg, as upstream's BIOS linker/loader does:
 * the firmware allocates the files, patches their pointers with the addresses it chose and
 * fixes the checksums those patches break.
 *
 *   etc/acpi/tables  the tables of acpi_build_pc_tables(), built at address 0, so every pointer
 *                    field holds an offset into this file (allocated high, 64-byte aligned)
 *   etc/acpi/rsdp    the RSDP (allocated in the F segment, 16-byte aligned)
 *   etc/table-loader 128-byte commands, little-endian:
 *     ALLOCATE     (1) file[56] align:u32 zone:u8 (1 high, 2 F segment)
 *     ADD_POINTER  (2) dest[56] src[56] offset:u32 size:u8   dest[offset] += address of src
 *     ADD_CHECKSUM (3) file[56] offset:u32 start:u32 length:u32
 *                      file[offset] -= sum of file[start, start + length)
 */
#ifndef HW_ACPI_ACPI_LOADER_H
#define HW_ACPI_ACPI_LOADER_H

#include "hw/nvram/fw-cfg.h"

#define ACPI_LOADER_ALLOCATE     1
#define ACPI_LOADER_ADD_POINTER  2
#define ACPI_LOADER_ADD_CHECKSUM 3
#define ACPI_LOADER_ZONE_HIGH    1
#define ACPI_LOADER_ZONE_FSEG    2
#define ACPI_LOADER_CMD_SIZE     128

/* Adds the three files for the pc tables (PCI memory from low_ram_end). */
void acpi_loader_add_pc_tables(FwCfg *s, uint64_t low_ram_end, bool hpet);

#endif
