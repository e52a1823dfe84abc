/*
 * Booting Linux directly (-kernel/-initrd/-append) through the kernel's PVH entry point, which
 * starts in 32-bit flat protected mode with paging off: the simplest state for our CPU, and
 * no decompressor to run in the guest (Debian's bzImage payload is LZ4, unpacked on the host).
 *
 *   -kernel file ─► bzImage? ("HdrS", protocol >= 2.08) ─► payload (LZ4 legacy frames) ─► ELF
 *                └► ELF vmlinux as is
 *   ELF ─► PT_LOAD segments at p_paddr, PVH entry from the "Xen" note type 18
 *   guest RAM:  0x6000 hvm_start_info (magic 0x336ec578, version 1)
 *               0x6040 module list (the initrd), 0x6100 memory map (e820)
 *               0x20000 command line
 *               top of low RAM: initrd (page aligned)
 *   entry: EIP = PVH entry, EBX = 0x6000, 32-bit flat segments, CR0.PE, no paging
 *
 * Errors use upstream's wording ("qemu: could not open kernel file ...", "qemu: invalid kernel
 * header", "qemu: error reading initrd ...", "qemu: initrd is too large, ...").
 */
#ifndef HW_I386_LINUX_BOOT_H
#define HW_I386_LINUX_BOOT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/dma.h"
#include "hw/i386/e820.h"

#define PVH_START_INFO_ADDR      0x6000
#define PVH_MODLIST_ADDR         0x6040
#define PVH_MEMMAP_ADDR          0x6100
#define LINUX_CMDLINE_ADDR       0x20000
#define LINUX_CMDLINE_MAX        0x10000
#define XEN_HVM_START_MAGIC      0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

typedef struct ElfSegment {
    uint64_t paddr, offset, filesz, memsz;
} ElfSegment;

typedef struct PvhKernel {
    GBytes *elf;        /* the ELF image (decompressed if it came from a bzImage) */
    uint32_t entry;     /* PVH entry, physical */
    GArray *segments;   /* of ElfSegment */
    uint64_t low, high; /* physical range the segments occupy */
    bool from_bzimage;
    uint16_t boot_protocol; /* the bzImage's, 0 for a bare ELF */
} PvhKernel;

/* What a loader leaves for the CPU: registers at entry, and what it put where. */
typedef struct LinuxBootInfo {
    uint32_t entry;
    uint32_t start_info; /* EBX at entry */
    uint32_t eax, ecx;   /* multiboot's magic and entry; 0 for PVH */
    bool multiboot;      /* segments and GDT as multiboot's loader sets them */
    uint64_t kernel_low, kernel_high;
    uint64_t initrd_addr, initrd_size;
} LinuxBootInfo;

/* Unpacks a bzImage to its ELF, or takes an ELF as is; finds segments and the PVH entry. */
PvhKernel *pvh_kernel_parse(GBytes *image, GError **errp);
void pvh_kernel_free(PvhKernel *k);

/* Writes kernel, initrd, command line, start info and memory map into guest RAM through dma.
 * low_ram_end: end of RAM below 4 GiB. initrd may be NULL. */
bool pvh_kernel_load(const PvhKernel *k, const DmaSpace *dma, uint64_t low_ram_end,
                     const E820Table *e820, uint64_t rsdp, GBytes *initrd, const char *cmdline,
                     LinuxBootInfo *out, GError **errp);

/* The whole of -kernel/-initrd/-append: reads the files, parses, loads; a multiboot kernel
 * (hw/i386/multiboot.h) goes to the multiboot loader, as upstream decides. */
bool linux_boot_load_files(const char *kernel_path, const char *initrd_path, const char *cmdline,
                           const DmaSpace *dma, uint64_t low_ram_end, const E820Table *e820,
                           uint64_t rsdp, LinuxBootInfo *out, GError **errp);

#endif
