/* Large zeroed tables on transparent huge pages (include/util/huge-alloc.h). */
#include "util/huge-alloc.h"

#include <glib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Why not g_malloc0: a table of tens of MiB (the vCPU's block table and decoded-instruction
 * pool) then faults one 4 KiB page at a time as it is first written, and a fault costs
 * microseconds on a virtualised host: ~11 000 of them in a test guest's boot. A 2 MiB huge
 * page takes one fault for the same memory.
 */
void *huge_alloc0(size_t size)
{
    size_t span = size >= HUGE_ALLOC_ALIGN ? size + HUGE_ALLOC_ALIGN : size;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        g_error("huge_alloc0: cannot map %zu bytes", size);
    }
    if (span == size) {
        return raw;
    }
    /* keep the aligned part alone mapped, so huge_free needs only its size */
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_ALLOC_ALIGN - 1) & ~(HUGE_ALLOC_ALIGN - 1));
    if (p > raw) {
        munmap(raw, p - raw);
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *end = p + ((size + page - 1) & ~(page - 1));
    if (raw + span > end) {
        munmap(end, raw + span - end);
    }
    madvise(p, size, MADV_HUGEPAGE);
    return p;
}

void huge_free(void *p, size_t size)
{
    if (p) {
        munmap(p, size);
    }
}
