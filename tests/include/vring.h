/*
 * Writing a split virtqueue by hand, as a test driver does, into guest RAM seen as one host
 * buffer (see flat-ram.h): little-endian fields and 16-byte descriptors
 * {addr u64, len u32, flags u16, next u16} (include/hw/virtio/virtio.h has the ring layout).
 */
#ifndef TESTS_VRING_H
#define TESTS_VRING_H

#include <stdint.h>

static inline void put_le16(uint8_t *ram, uint64_t gpa, uint16_t v)
{
    ram[gpa] = v;
    ram[gpa + 1] = v >> 8;
}

static inline uint16_t get_le16(const uint8_t *ram, uint64_t gpa)
{
    return ram[gpa] | (ram[gpa + 1] << 8);
}

static inline uint32_t get_le32(const uint8_t *ram, uint64_t gpa)
{
    return get_le16(ram, gpa) | ((uint32_t)get_le16(ram, gpa + 2) << 16);
}

/* Descriptor i of the table at gpa table. */
static inline void vring_set_desc(uint8_t *ram, uint64_t table, int i, uint64_t addr, uint32_t len,
                                  uint16_t flags, uint16_t next)
{
    uint8_t *d = ram + table + 16 * i;
    for (int b = 0; b < 8; b++) {
        d[b] = addr >> (8 * b);
    }
    for (int b = 0; b < 4; b++) {
        d[8 + b] = len >> (8 * b);
    }
    put_le16(d, 12, flags);
    put_le16(d, 14, next);
}

#endif
