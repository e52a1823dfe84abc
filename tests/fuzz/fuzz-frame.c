/*
 * Arbitrary byte streams into the frame reader, cut into arbitrary reads. Checks that every frame
 * delivered is within bounds and that re-encoding the delivered frames and reading them back in
 * one buffer gives the same frames (the reader and writer agree).
 */
#include "net/frame.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    GByteArray *reencoded;
    gboolean vnet;
    guint frames;
    guint64 bytes;
} State;

static void on_frame(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    State *st = opaque;
    if (len > NET_FRAME_MAX_LEN || vhdr > len) {
        abort();
    }
    st->frames++;
    st->bytes += len;
    if (st->reencoded) {
        net_frame_append(st->reencoded, data, len, st->vnet, vhdr);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    gboolean vnet = data[0] & 1;
    gsize chunk = 1 + data[1] * 37;
    data += 2;
    size -= 2;

    State first = {.reencoded = g_byte_array_new(), .vnet = vnet};
    NetFrameReader r;
    net_frame_reader_init(&r, vnet, on_frame, &first);
    for (gsize off = 0; off < size; off += chunk) {
        net_frame_reader_feed(&r, data + off, MIN(chunk, size - off));
    }
    if (r.stats.frames != first.frames || r.stats.bytes != first.bytes ||
        r.buf_size > NET_FRAME_MAX_LEN) {
        abort();
    }
    net_frame_reader_destroy(&r);

    State second = {.vnet = vnet};
    net_frame_reader_init(&r, vnet, on_frame, &second);
    net_frame_reader_feed(&r, first.reencoded->data, first.reencoded->len);
    if (second.frames != first.frames || second.bytes != first.bytes ||
        !net_frame_reader_at_boundary(&r) || r.stats.oversized || r.stats.malformed) {
        abort();
    }
    net_frame_reader_destroy(&r);
    g_byte_array_unref(first.reencoded);
    return 0;
}
