/* Flat option dictionaries for the block layer's tests: opts_of("driver", "raw", ..., NULL). */
#ifndef TESTS_UNIT_BLOCK_OPTS_H
#define TESTS_UNIT_BLOCK_OPTS_H

#include "block/block.h"

#include <stdarg.h>

/* Key/value pairs up to a NULL key; a NULL value is a key without one (JSON null). */
static inline GHashTable *opts_of(const char *first, ...)
{
    GHashTable *o = bdrv_opts_new();
    va_list ap;
    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        g_hash_table_insert(o, g_strdup(k), g_strdup(v));
    }
    va_end(ap);
    return o;
}

#endif
