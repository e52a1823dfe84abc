/*
 * Big-endian (network order) loads and stores on byte buffers: packet headers, SCSI command
 * blocks and replies, independent of the host's byte order and of alignment.
 */
#ifndef UTIL_BE_H
#define UTIL_BE_H

#include <stdint.h>

static inline uint16_t ld16_be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ld32_be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void st16_be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void st32_be(uint8_t *p, uint32_t v)
{
    st16_be(p, (uint16_t)(v >> 16));
    st16_be(p + 2, (uint16_t)v);
}

#endif
