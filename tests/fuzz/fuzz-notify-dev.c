/*
 * colo-compare's notify_dev input: a byte stream cut into arbitrary reads goes through the frame
 * reader that colo-compare gives notify_dev, and each frame through colo_notify_parse, as
 * colo-compare's handler does. A plain decoder below (written from upstream-colo.md 1.1 and 1.2,
 * not from the product) reads the same stream in one piece. Checks:
 *  - both see the same messages in the same order: each complete frame is exactly one message,
 *    and it is a command only when its DATA is exactly that command's text;
 *  - every COLO_USERSPACE_PROXY_INIT gets one reply, which is a frame without VHDR word whose
 *    DATA is exactly COLO_COMPARE_GET_XEN_INIT, whatever vnet_hdr_support says.
 *
 * Input: byte 0 bit 0 is vnet_hdr_support; byte 1 sets the read size (1 + 13 * byte); the rest
 * is the stream.
 */
#include "net/colo-notify.h"
#include "net/frame.h"

#include <stdlib.h>
#include <string.h>

/* upstream's NET_BUFSIZE: longer frames are skipped (our documented deviation: not fatal) */
#define MAX_FRAME (4096 + 65536)

enum { MSG_INIT, MSG_CHECKPOINT, MSG_OTHER };

typedef struct {
    GArray *msgs; /* the message kinds, in order */
    GByteArray *replies;
} Seen;

static void on_frame(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    Seen *seen = opaque;
    int kind;
    switch (colo_notify_parse(data, len)) {
    case COLO_NOTIFY_MSG_PROXY_INIT:
        kind = MSG_INIT;
        colo_notify_append(seen->replies, COLO_NOTIFY_PROXY_INIT_REPLY);
        break;
    case COLO_NOTIFY_MSG_CHECKPOINT_DONE:
        kind = MSG_CHECKPOINT;
        break;
    case COLO_NOTIFY_MSG_UNSUPPORTED:
        kind = MSG_OTHER;
        break;
    default:
        abort();
    }
    g_array_append_val(seen->msgs, kind);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int classify(const uint8_t *d, size_t len)
{
    static const char init[] = "COLO_USERSPACE_PROXY_INIT";
    static const char ckpt[] = "COLO_CHECKPOINT";
    if (len == sizeof(init) - 1 && memcmp(d, init, len) == 0) {
        return MSG_INIT;
    }
    if (len == sizeof(ckpt) - 1 && memcmp(d, ckpt, len) == 0) {
        return MSG_CHECKPOINT;
    }
    return MSG_OTHER;
}

/* The reference: LEN, [VHDR], DATA; an oversized LEN or a VHDR past LEN skips LEN bytes. */
static GArray *reference(const uint8_t *p, size_t size, gboolean vnet)
{
    GArray *msgs = g_array_new(FALSE, FALSE, sizeof(int));
    size_t hdr = vnet ? 8 : 4;
    while (size >= hdr) {
        uint32_t len = be32(p);
        gboolean skip = len > MAX_FRAME || (vnet && be32(p + 4) > len);
        p += hdr;
        size -= hdr;
        if (len > size) {
            break; /* incomplete: nothing delivered */
        }
        if (!skip) {
            int kind = classify(p, len);
            g_array_append_val(msgs, kind);
        }
        p += len;
        size -= len;
    }
    return msgs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    gboolean vnet = data[0] & 1;
    size_t chunk = 1 + data[1] * 13;
    data += 2;
    size -= 2;

    Seen seen = {g_array_new(FALSE, FALSE, sizeof(int)), g_byte_array_new()};
    NetFrameReader r;
    net_frame_reader_init(&r, vnet, on_frame, &seen);
    for (size_t off = 0; off < size; off += chunk) {
        /* Each read in a buffer of its own size, so that ASan sees a read past it. */
        size_t n = MIN(chunk, size - off);
        uint8_t *piece = g_memdup2(data + off, n);
        net_frame_reader_feed(&r, piece, n);
        g_free(piece);
    }
    net_frame_reader_destroy(&r);

    GArray *want = reference(data, size, vnet);
    if (want->len != seen.msgs->len ||
        (want->len && memcmp(want->data, seen.msgs->data, want->len * sizeof(int)) != 0)) {
        abort();
    }

    /* The replies: one per init, no VHDR word, exact text. */
    static const char reply[] = "COLO_COMPARE_GET_XEN_INIT";
    guint inits = 0;
    for (guint i = 0; i < want->len; i++) {
        inits += g_array_index(want, int, i) == MSG_INIT;
    }
    const size_t one = 4 + sizeof(reply) - 1;
    if (seen.replies->len != inits * one) {
        abort();
    }
    for (guint i = 0; i < inits; i++) {
        const uint8_t *f = seen.replies->data + i * one;
        if (be32(f) != sizeof(reply) - 1 || memcmp(f + 4, reply, sizeof(reply) - 1) != 0) {
            abort();
        }
    }

    g_array_unref(want);
    g_array_unref(seen.msgs);
    g_byte_array_unref(seen.replies);
    return 0;
}
