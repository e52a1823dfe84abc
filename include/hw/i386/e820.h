/*
 * The pc machine's physical memory map as firmware reports it (e820 / PVH memmap):
 *
 *   0x00000000-0x0009fbff  RAM
 *   0x0009fc00-0x0009ffff  reserved (EBDA)
 *   0x000e0000-0x000fffff  reserved (BIOS area; holds the ACPI tables)
 *   0x00100000-low_end     RAM
 *   0xfffc0000-0xffffffff  reserved (BIOS flash)
 *   4 GiB-4 GiB+high       RAM (the part of -m that does not fit below the PCI hole)
 */
#ifndef HW_I386_E820_H
#define HW_I386_E820_H

#include <stdint.h>

#define E820_RAM         1
#define E820_RESERVED    2
#define E820_ACPI        3
#define E820_MAX_ENTRIES 16

typedef struct E820Entry {
    uint64_t addr, size;
    uint32_t type;
} E820Entry;

typedef struct E820Table {
    E820Entry entries[E820_MAX_ENTRIES];
    unsigned count;
} E820Table;

void e820_add(E820Table *t, uint64_t addr, uint64_t size, uint32_t type);
/* The pc layout above for low_size bytes below 4 GiB and high_size above. */
void e820_build_pc(E820Table *t, uint64_t low_size, uint64_t high_size);

#endif
