/* The pc memory map (include/hw/i386/e820.h). */
#include "hw/i386/e820.h"

void e820_add(E820Table *t, uint64_t addr, uint64_t size, uint32_t type)
{
    if (t->count < E820_MAX_ENTRIES && size) {
        t->entries[t->count++] = (E820Entry){.addr = addr, .size = size, .type = type};
    }
}

void e820_build_pc(E820Table *t, uint64_t low_size, uint64_t high_size)
{
    t->count = 0;
    e820_add(t, 0, 0x9fc00, E820_RAM);
    e820_add(t, 0x9fc00, 0x400, E820_RESERVED);
    e820_add(t, 0xe0000, 0x20000, E820_RESERVED);
    if (low_size > 0x100000) {
        e820_add(t, 0x100000, low_size - 0x100000, E820_RAM);
    }
    e820_add(t, 0xfffc0000, 0x40000, E820_RESERVED);
    if (high_size) {
        e820_add(t, 1ull << 32, high_size, E820_RAM);
    }
}
