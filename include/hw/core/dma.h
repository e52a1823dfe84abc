/*
 * How devices reach guest memory: copies through the machine's guest-RAM accessors, which
 * mark every written page dirty (memory/'s one store path), so a checkpoint never loses a
 * device write. Devices never hold host pointers into guest RAM.
 */
#ifndef HW_CORE_DMA_H
#define HW_CORE_DMA_H

#include <stdbool.h>
#include <stdint.h>

typedef struct DmaSpace {
    /* false (nothing copied) if any byte of the range is not RAM */
    bool (*read)(void *opaque, uint64_t gpa, void *buf, uint64_t len);
    bool (*write)(void *opaque, uint64_t gpa, const void *buf, uint64_t len);
    void *opaque;
} DmaSpace;

static inline bool dma_read(const DmaSpace *dma, uint64_t gpa, void *buf, uint64_t len)
{
    if (len && gpa + len < gpa) {
        return false;
    }
    return dma->read(dma->opaque, gpa, buf, len);
}

static inline bool dma_write(const DmaSpace *dma, uint64_t gpa, const void *buf, uint64_t len)
{
    if (len && gpa + len < gpa) {
        return false;
    }
    return dma->write(dma->opaque, gpa, buf, len);
}

#endif
