/*
 * Firmware ROM and the legacy BIOS area's shadow RAM (the pc machine when firmware runs).
 *
 *   guest physical          reads see                     writes go to
 *   [rom_gpa, +rom_size)    the firmware image            nowhere (dropped)
 *   0xc0000-0xfffff, each 4 KiB page in one of the modes the i440FX PAM registers select:
 *     SHADOW_READ_RAM off   the ROM view: zeros, then      SHADOW_WRITE_RAM on: RAM
 *                           the image's last 128 KiB       off: nowhere (dropped)
 *     SHADOW_READ_RAM on    RAM
 *
 * The CPU executes from both, so both are host memory in the RAM block: the ROM follows RAM
 * (guest_ram_offset() maps its window), and a BIOS-area page that reads as ROM holds the ROM's
 * bytes in the block while its RAM content waits in a hidden copy, swapped back when the page
 * reads RAM again. Every swap goes through the store path, so decoded code and dirty pages
 * follow. The CPU stores into neither directly (guest_ram_direct_store()): ROM stores are
 * dropped and BIOS-area stores go through guest_shadow_store(), which applies the page's mode.
 * Device DMA into the BIOS area reaches the block as it is (nothing does that on a pc).
 */
#ifndef MEMORY_ROM_H
#define MEMORY_ROM_H

#include "memory/ram.h"

#define SHADOW_BASE  0xc0000u
#define SHADOW_SIZE  0x40000u
#define SHADOW_PAGES (SHADOW_SIZE / GUEST_PAGE_SIZE)

enum {
    SHADOW_READ_RAM = 1,
    SHADOW_WRITE_RAM = 2,
};

typedef struct GuestShadow {
    uint8_t mode[SHADOW_PAGES];  /* SHADOW_READ_RAM | SHADOW_WRITE_RAM per page */
    uint8_t view[SHADOW_SIZE];   /* what the area reads as ROM */
    uint8_t hidden[SHADOW_SIZE]; /* RAM of the pages that read as ROM */
} GuestShadow;

/* Maps a firmware image of len bytes (a multiple of 4 KiB) at gpa; once, before the CPU. */
bool guest_rom_add(GuestRam *ram, uint64_t gpa, const void *image, uint64_t len, GError **errp);
/* Turns shadowing of the BIOS area on, every page reading the ROM view and dropping writes. */
void guest_shadow_enable(GuestRam *ram);
/* Sets the mode of the pages of [gpa, gpa + len) inside the area, swapping their contents. */
void guest_shadow_set(GuestRam *ram, uint64_t gpa, uint64_t len, int mode);
int guest_shadow_mode(const GuestRam *ram, uint64_t gpa);
/* A CPU store of size bytes (not crossing a page) into the area. */
void guest_shadow_store(GuestRam *ram, uint64_t gpa, uint64_t val, int size);
/* Frees the shadow state (guest_ram_free calls it). */
void guest_rom_fini(GuestRam *ram);

#endif
