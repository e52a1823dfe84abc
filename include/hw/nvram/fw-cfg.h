/*
 * QEMU's firmware configuration interface (fw_cfg), as the pc machine has it: numbered items
 * and named files the firmware reads, through I/O ports or DMA.
 *
 *   0x510 (16-bit write)  selector: item key (0x8000: arch-local items), offset back to 0
 *   0x511 (8-bit read)    the selected item's next byte (0 past its end)
 *   0x514..0x51b          DMA: the big-endian address of an FwCfgDmaAccess, written as the
 *                         high then the low 32 bits (the low write starts it) or as one
 *                         64-bit write; reads give the signature "QEMU CFG"
 *
 *   DMA access (big-endian, in guest RAM):  u32 control | u32 length | u64 address
 *     control: SELECT (key in the high 16 bits) → READ / SKIP / WRITE of length bytes at
 *     address from the current offset; done: control becomes 0 (or ERROR, bit 0)
 *
 *   key 0x19, the file directory:  u32 count | count × { u32 size, u16 key, u16 0, name[56] }
 *   (big-endian; files sorted by name, keys from 0x20 in that order)
 */
#ifndef HW_NVRAM_FW_CFG_H
#define HW_NVRAM_FW_CFG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/dma.h"

#define FW_CFG_IO_BASE  0x510
#define FW_CFG_DMA_BASE 0x514

#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_MACHINE_ID    0x06
#define FW_CFG_BOOT_DEVICE   0x0c
#define FW_CFG_NUMA          0x0d
#define FW_CFG_BOOT_MENU     0x0e
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_FILE_FIRST    0x20
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_WRITE_CHAN    0x4000
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)
#define FW_CFG_E820_TABLE    (FW_CFG_ARCH_LOCAL + 3)

#define FW_CFG_MAX_FILE_PATH 56

#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

typedef struct FwCfg FwCfg;

/* dma: guest RAM for DMA accesses. */
FwCfg *fw_cfg_new(const DmaSpace *dma);
void fw_cfg_free(FwCfg *s);
/* Items and files take a copy of data. A second add of the same key or name replaces it. */
void fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len);
void fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v);
void fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v);
void fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v);
void fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len);
/* The key a file is read by (after every file is added), or 0. */
uint16_t fw_cfg_file_key(FwCfg *s, const char *name);

/* Ports 0x510/0x511 and 0x514; the selector and offset are its state ("fw_cfg"). */
extern const DeviceContract fw_cfg_device;

#endif
