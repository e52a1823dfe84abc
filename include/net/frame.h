/*
 * Packet framing on chardev byte streams, as filter-mirror, filter-redirector and colo-compare
 * exchange packets with each other and with upstream QEMU:
 *
 *   frame := LEN:be32 [VHDR:be32, only when vnet_hdr_support=on] DATA[LEN]
 *
 * LEN counts every DATA byte (a virtio-net header included); VHDR says how many leading DATA bytes
 * are that header. There is no magic and no negotiation: both ends must agree on vnet_hdr.
 *
 * Reader state machine (one per input stream):
 *
 *        +--------------------------------------------------------------+
 *        v                                                              |
 *   [LEN] --4 bytes--> [VHDR] --4 bytes--> [DATA] --LEN bytes--> deliver +
 *     |   (vnet only)     |
 *     |                   +-- VHDR > LEN: malformed --+
 *     +-- LEN > max: oversized -----------------------+--> [SKIP] --LEN bytes--> [LEN]
 *
 * Upstream stops reading an input for good after an oversized LEN. We skip the announced bytes
 * instead, count the frame and stay in sync with the sender (docs/colo-proxy.md). Memory is bounded
 * by the maximum frame length: only a frame split across reads is copied; a frame that arrives
 * whole inside one read buffer is handed to the consumer in place.
 */
#ifndef NET_FRAME_H
#define NET_FRAME_H

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* NET_BUFSIZE upstream: 4096 + 65536. */
#define NET_FRAME_MAX_LEN 69632u
/* LEN word plus the optional VHDR word. */
#define NET_FRAME_HDR_MAX 8u

/*
 * Called once per complete frame. @data is valid only during the call (it may point into the
 * caller's read buffer). @vnet_hdr_len is the VHDR word, 0 when the stream has none.
 */
typedef void (*NetFrameHandler)(void *opaque, const guint8 *data, guint32 len,
                                guint32 vnet_hdr_len);

typedef struct NetFrameStats {
    guint64 frames;        /* frames delivered */
    guint64 bytes;         /* DATA bytes delivered */
    guint64 oversized;     /* frames whose LEN exceeded the maximum, skipped */
    guint64 malformed;     /* frames whose VHDR exceeded LEN, skipped */
    guint64 skipped_bytes; /* DATA bytes thrown away with those frames */
} NetFrameStats;

typedef enum {
    NET_FRAME_STATE_LEN,
    NET_FRAME_STATE_VHDR,
    NET_FRAME_STATE_DATA,
    NET_FRAME_STATE_SKIP,
} NetFrameState;

typedef struct NetFrameReader {
    gboolean vnet_hdr;
    guint32 max_len;
    NetFrameHandler handler;
    void *opaque;

    NetFrameState state;
    guint8 word[4]; /* a LEN or VHDR word being collected */
    guint word_fill;
    guint32 len;  /* LEN of the current frame */
    guint32 vhdr; /* VHDR of the current frame */
    guint8 *buf;  /* partial frame copy, grown on demand up to max_len */
    guint32 buf_size;
    guint32 fill; /* DATA bytes collected so far */
    guint32 skip; /* DATA bytes still to discard */

    NetFrameStats stats;
} NetFrameReader;

void net_frame_reader_init(NetFrameReader *r, gboolean vnet_hdr, NetFrameHandler handler,
                           void *opaque);
/* Frees the partial-frame buffer; the reader can be initialised again afterwards. */
void net_frame_reader_destroy(NetFrameReader *r);
/* Forgets a partially received frame (the peer reconnected); counters are kept. */
void net_frame_reader_reset(NetFrameReader *r);
/* Lowers the accepted maximum (tests, callers with smaller needs); capped at NET_FRAME_MAX_LEN. */
void net_frame_reader_set_max_len(NetFrameReader *r, guint32 max_len);
/*
 * Consumes @size bytes of stream, delivering every frame they complete, in order. Never fails:
 * bad lengths are counted in the stats and skipped. Returns the number of frames delivered.
 */
guint net_frame_reader_feed(NetFrameReader *r, const guint8 *buf, gsize size);
/* TRUE when no frame is partially received (the stream sits on a frame boundary). */
gboolean net_frame_reader_at_boundary(const NetFrameReader *r);

/* ---- writing ---- */

/* Writes the LEN (and VHDR) words for a frame of @len bytes into @hdr; returns 4 or 8. */
guint net_frame_header(guint8 hdr[NET_FRAME_HDR_MAX], guint32 len, gboolean vnet_hdr,
                       guint32 vnet_hdr_len);
/*
 * Appends a whole frame to @out, so that several frames leave in one write: header and data are
 * never split into two writes.
 */
void net_frame_append(GByteArray *out, const guint8 *data, guint32 len, gboolean vnet_hdr,
                      guint32 vnet_hdr_len);

G_END_DECLS

#endif
