/*
 * How devices reach guest memory: copies through the machine's guest-RAM accessors, which
 * mark every written page dirty (memory/'s one store path), so a checkpoint never loses a
 * device write.
 *
 * A disk request may instead map its guest segments (dma_map) and hand the host pointers to
 * preadv/pwritev, to spare a bounce buffer and a copy. Such a pointer lives only until the
 * request completes, and a device that stored through it calls dma_written() for the range
 * afterwards, on its own thread: the data first, then the mark, as the store path's ordering
 * needs (include/memory/ram.h). A space without map (test fixtures) makes devices copy.
 */
#ifndef HW_CORE_DMA_H
#define HW_CORE_DMA_H

#include <stdbool.h>
#include <stdint.h>

typedef struct DmaSpace {
    /* false (nothing copied) if any byte of the range is not RAM */
    bool (*read)(void *opaque, uint64_t gpa, void *buf, uint64_t len);
    bool (*write)(void *opaque, uint64_t gpa, const void *buf, uint64_t len);
    /* optional: the host memory of [gpa, gpa+len) if all of it is RAM, else NULL */
    void *(*map)(void *opaque, uint64_t gpa, uint64_t len);
    /* with map: [gpa, gpa+len) was stored into through its host pointer */
    void (*written)(void *opaque, uint64_t gpa, uint64_t len);
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

static inline void *dma_map(const DmaSpace *dma, uint64_t gpa, uint64_t len)
{
    if (!dma->map || !len || gpa + len < gpa) {
        return NULL;
    }
    return dma->map(dma->opaque, gpa, len);
}

static inline void dma_written(const DmaSpace *dma, uint64_t gpa, uint64_t len)
{
    if (len) {
        dma->written(dma->opaque, gpa, len);
    }
}

#endif
