/*
 * Address spaces for device accesses that leave the CPU: the 64 KiB port-I/O space and the
 * MMIO map (guest physical ranges that are not RAM).
 *
 *   CPU in/out ──► io_space_read/write(pio, port) ──► region->ops (offset from region base)
 *   CPU mmio   ──► io_space_read/write(mmio, gpa)  ──┘
 *                     │ no region
 *                     └─► writes dropped; reads give what upstream's give: all-ones from an
 *                         aligned port access, 0 otherwise (unaligned port, any MMIO);
 *                         counted, logged once per address under -d guest_errors / unimp
 *
 * Regions never overlap; a lookup is a binary search over the sorted regions with a one-entry
 * cache in front, cheap enough for the port I/O a serial console does per character.
 * Accesses are not thread-safe by themselves: callers hold the machine's big lock.
 */
#ifndef HW_CORE_IOSPACE_H
#define HW_CORE_IOSPACE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct IoRegionOps {
    /* addr is the offset from the region's base; size is 1, 2, 4 or 8 */
    uint64_t (*read)(void *opaque, uint64_t addr, unsigned size);
    void (*write)(void *opaque, uint64_t addr, uint64_t val, unsigned size);
} IoRegionOps;

typedef struct IoSpace IoSpace;

typedef struct IoSpaceStats {
    uint64_t reads, writes;
    uint64_t unassigned_reads, unassigned_writes;
} IoSpaceStats;

/* name is "io" (the port space) or "mmio" (logs); limit is one past the highest address. */
IoSpace *io_space_new(const char *name, uint64_t limit);
void io_space_free(IoSpace *space);

/* Fails (QEMU-style message) if [base, base+len) is out of the space or overlaps a region. */
bool io_space_add(IoSpace *space, const char *name, uint64_t base, uint64_t len,
                  const IoRegionOps *ops, void *opaque, GError **errp);
/* Removes the region starting at base; false if there is none. */
bool io_space_del(IoSpace *space, uint64_t base);
/* Moves a region (PCI BAR programming); false if there is none or it would overlap. */
bool io_space_move(IoSpace *space, uint64_t old_base, uint64_t new_base);
/* The region name covering addr, or NULL. */
const char *io_space_lookup(IoSpace *space, uint64_t addr);

/* The region covering addr: its range, ops and opaque; false if none. */
bool io_space_region(IoSpace *space, uint64_t addr, uint64_t *base, uint64_t *len,
                     const IoRegionOps **ops, void **opaque);
uint64_t io_space_read(IoSpace *space, uint64_t addr, unsigned size);
void io_space_write(IoSpace *space, uint64_t addr, uint64_t val, unsigned size);

void io_space_get_stats(IoSpace *space, IoSpaceStats *out);
/* "name [start-end]" lines, for info mtree style listings; caller frees. */
char *io_space_describe(IoSpace *space);

#endif
