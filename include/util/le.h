/*
 * Little-endian loads and stores on byte buffers, for file formats and guest structures
 * (boot headers, info blocks) that must not depend on the host's byte order or alignment.
 */
#ifndef UTIL_LE_H
#define UTIL_LE_H

#include <stdint.h>

static inline uint16_t ld16_le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ld32_le(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void st32_le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void st64_le(uint8_t *p, uint64_t v)
{
    st32_le(p, (uint32_t)v);
    st32_le(p + 4, (uint32_t)(v >> 32));
}

#endif
