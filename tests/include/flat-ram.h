/*
 * Guest RAM for unit tests and fuzz targets: a DmaSpace over one flat host buffer that, like
 * RAM without holes, refuses any range not wholly inside it (nothing is copied then).
 */
#ifndef TESTS_FLAT_RAM_H
#define TESTS_FLAT_RAM_H

#include "hw/core/dma.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct FlatRam {
    uint8_t *base;
    uint64_t size;
} FlatRam;

static inline bool flat_ram_contains(const FlatRam *r, uint64_t gpa, uint64_t len)
{
    return gpa <= r->size && len <= r->size - gpa;
}

static inline bool flat_ram_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    FlatRam *r = opaque;
    if (!flat_ram_contains(r, gpa, len)) {
        return false;
    }
    memcpy(buf, r->base + gpa, len);
    return true;
}

static inline bool flat_ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    FlatRam *r = opaque;
    if (!flat_ram_contains(r, gpa, len)) {
        return false;
    }
    memcpy(r->base + gpa, buf, len);
    return true;
}

/* The DmaSpace a device model under test is handed; r must outlive it. */
static inline DmaSpace flat_ram_dma(FlatRam *r)
{
    return (DmaSpace){.read = flat_ram_read, .write = flat_ram_write, .opaque = r};
}

#endif
