/*
 * Multiboot (v1) kernels for -kernel, laid out in guest RAM where upstream's loader and its
 * option ROM put them, so that test kernels written for QEMU see the same addresses.
 *
 *   -kernel file: not a bzImage, and a header {0x1BADB002, flags, checksum} with
 *   magic + flags + checksum == 0 in the first 8 KiB (4-byte aligned) ─► multiboot
 *     flags bit 16 (a.out kludge): header_addr/load_addr/load_end_addr/bss_end_addr/entry
 *                                  place the file's bytes themselves
 *     otherwise: a 32-bit ELF (EM_386), PT_LOAD segments at p_paddr, entry e_entry
 *
 *   guest RAM   0x9000  memory map: {u32 size = 20, u64 base, u64 length, u32 type} per e820 entry
 *               0x9500  multiboot info (88 bytes): flags 0x24f (mem, boot device, cmdline,
 *                       modules, mmap, boot loader name), mem_lower/upper in KiB
 *               0x9580  a GDT: 0x08 flat 32-bit code, 0x10 flat data (the option ROM's)
 *               load_addr ─► kernel image, bss zeroed            (page aligned from here)
 *                            module list {start, end, cmdline, 0} per module
 *                            command lines: each module's "file args", then "kernel append"
 *                            boot loader name "qemu"
 *                            modules, each page aligned
 *   entry: EAX = 0x2BADB002, EBX = 0x9500, ECX = entry, CS 0x08 / others 0x10 flat,
 *          CR0.PE, no paging, IF clear
 *
 * -initrd "a arg,b" gives modules a (command line "a arg") and b; ",," is a literal comma.
 * Errors use upstream's wording ("invalid load_addr address", "Cannot load x86-64 image, give
 * a 32bit one.", "Error while loading elf kernel", "Failed to open file 'x'", ...).
 */
#ifndef HW_I386_MULTIBOOT_H
#define HW_I386_MULTIBOOT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/dma.h"
#include "hw/i386/e820.h"
#include "hw/i386/linux-boot.h"

#define MULTIBOOT_HEADER_MAGIC 0x1badb002u
#define MULTIBOOT_BOOT_MAGIC   0x2badb002u
#define MULTIBOOT_SEARCH_LEN   8192 /* the header lies in the file's first 8 KiB */
#define MULTIBOOT_MMAP_ADDR    0x9000
#define MULTIBOOT_INFO_ADDR    0x9500
#define MULTIBOOT_INFO_SIZE    88
#define MULTIBOOT_GDT_ADDR     0x9580
#define MULTIBOOT_CODE_SEL     0x08
#define MULTIBOOT_DATA_SEL     0x10

#define MULTIBOOT_FLAG_VIDEO_MODE  0x00000004u
#define MULTIBOOT_FLAG_AOUT_KLUDGE 0x00010000u

typedef struct MultibootHeader {
    uint32_t offset; /* in the file */
    uint32_t flags;
    /* the a.out kludge's fields, valid with MULTIBOOT_FLAG_AOUT_KLUDGE */
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
} MultibootHeader;

typedef struct MultibootKernel {
    uint32_t load_addr; /* where image goes */
    uint32_t entry;
    GBytes *image; /* the kernel as it lies in memory from load_addr, bss included */
} MultibootKernel;

/* True and *h filled when image carries a multiboot header (magic and checksum). */
bool multiboot_find_header(const uint8_t *image, size_t len, MultibootHeader *h);

/*
 * The kernel's memory image from the file and its header. ram_end bounds what may be built
 * (nothing is allocated for a kernel that could not fit anyway).
 */
MultibootKernel *multiboot_kernel_parse(GBytes *file, const MultibootHeader *h, uint64_t ram_end,
                                        GError **errp);
void multiboot_kernel_free(MultibootKernel *k);

/* Splits -initrd's module list at ',' (",," is a comma). */
GPtrArray *multiboot_split_modules(const char *arg);

/*
 * Writes kernel, modules, command lines, info block, memory map and GDT through dma, and
 * fills *out for the CPU. cmdline may be NULL (""); modules may be NULL.
 */
bool multiboot_load(const MultibootKernel *k, const char *kernel_path, const char *cmdline,
                    const char *modules, const DmaSpace *dma, uint64_t low_ram_end,
                    const E820Table *e820, LinuxBootInfo *out, GError **errp);

#endif
