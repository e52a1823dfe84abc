/* Big-endian fields appended to a GByteArray: the migration and COLO streams that fuzz
 * targets build around their input. */
#ifndef TESTS_STREAM_BYTES_H
#define TESTS_STREAM_BYTES_H

#include <glib.h>
#include <stdint.h>

static inline void put_be32(GByteArray *b, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    g_byte_array_append(b, (guint8 *)&v, 4);
}

static inline void put_be64(GByteArray *b, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    g_byte_array_append(b, (guint8 *)&v, 8);
}

#endif
