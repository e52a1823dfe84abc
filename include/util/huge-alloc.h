/* Large zeroed tables backed by transparent huge pages where the host allows them. */
#ifndef UTIL_HUGE_ALLOC_H
#define UTIL_HUGE_ALLOC_H

#include <stddef.h>

#define HUGE_ALLOC_ALIGN ((size_t)2 << 20)

/* @size zeroed bytes, committed as touched, starting on a 2 MiB boundary when @size is at
 * least that (so every whole 2 MiB of it can be one huge page); aborts when the host has no
 * address space left, as g_malloc does. */
void *huge_alloc0(size_t size);
/* Gives back what huge_alloc0(@size) returned; NULL is ignored. */
void huge_free(void *p, size_t size);

#endif
