/* The chardev packet framing (include/net/frame.h): a resumable reader and the frame writer. */
#include "net/frame.h"

#include <string.h>

static inline guint32 load_be32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static inline void store_be32(guint8 *p, guint32 v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

void net_frame_reader_init(NetFrameReader *r, gboolean vnet_hdr, NetFrameHandler handler,
                           void *opaque)
{
    memset(r, 0, sizeof(*r));
    r->vnet_hdr = vnet_hdr;
    r->max_len = NET_FRAME_MAX_LEN;
    r->handler = handler;
    r->opaque = opaque;
    r->state = NET_FRAME_STATE_LEN;
}

void net_frame_reader_destroy(NetFrameReader *r)
{
    g_free(r->buf);
    r->buf = NULL;
    r->buf_size = 0;
    net_frame_reader_reset(r);
}

void net_frame_reader_reset(NetFrameReader *r)
{
    r->state = NET_FRAME_STATE_LEN;
    r->word_fill = 0;
    r->len = 0;
    r->vhdr = 0;
    r->fill = 0;
    r->skip = 0;
}

void net_frame_reader_set_max_len(NetFrameReader *r, guint32 max_len)
{
    r->max_len = MIN(max_len, NET_FRAME_MAX_LEN);
}

gboolean net_frame_reader_at_boundary(const NetFrameReader *r)
{
    return r->state == NET_FRAME_STATE_LEN && r->word_fill == 0;
}

static void deliver(NetFrameReader *r, const guint8 *data, guint32 len)
{
    r->stats.frames++;
    r->stats.bytes += len;
    if (r->handler) {
        r->handler(r->opaque, data, len, r->vhdr);
    }
}

/* Both header words are in: decide whether the DATA part is kept, skipped or empty. */
static guint header_done(NetFrameReader *r)
{
    r->fill = 0;
    if (r->len > r->max_len || r->vhdr > r->len) {
        if (r->len > r->max_len) {
            r->stats.oversized++;
        } else {
            r->stats.malformed++;
        }
        r->skip = r->len;
        r->state = r->skip ? NET_FRAME_STATE_SKIP : NET_FRAME_STATE_LEN;
        return 0;
    }
    if (r->len == 0) {
        /* Upstream hands zero-length packets on too; consumers decide what they mean. */
        r->state = NET_FRAME_STATE_LEN;
        deliver(r, (const guint8 *)"", 0);
        return 1;
    }
    r->state = NET_FRAME_STATE_DATA;
    return 0;
}

static void reserve(NetFrameReader *r, guint32 need)
{
    if (r->buf_size >= need) {
        return;
    }
    guint32 size = MAX(r->buf_size, 2048u);
    while (size < need) {
        size *= 2;
    }
    size = MIN(size, r->max_len);
    /* Contents need not survive: this is only called before the first byte of a frame. */
    g_free(r->buf);
    r->buf = g_malloc(size);
    r->buf_size = size;
}

guint net_frame_reader_feed(NetFrameReader *r, const guint8 *buf, gsize size)
{
    guint delivered = 0;

    while (size > 0) {
        switch (r->state) {
        case NET_FRAME_STATE_LEN:
        case NET_FRAME_STATE_VHDR: {
            guint32 value;
            if (r->word_fill == 0 && size >= 4) {
                value = load_be32(buf);
                buf += 4;
                size -= 4;
            } else {
                gsize take = MIN(4 - r->word_fill, size);
                memcpy(r->word + r->word_fill, buf, take);
                r->word_fill += take;
                buf += take;
                size -= take;
                if (r->word_fill < 4) {
                    break;
                }
                r->word_fill = 0;
                value = load_be32(r->word);
            }
            if (r->state == NET_FRAME_STATE_LEN) {
                r->len = value;
                r->vhdr = 0;
                if (r->vnet_hdr) {
                    r->state = NET_FRAME_STATE_VHDR;
                    break;
                }
            } else {
                r->vhdr = value;
            }
            delivered += header_done(r);
            break;
        }
        case NET_FRAME_STATE_DATA:
            if (r->fill == 0 && size >= r->len) {
                /* The whole frame is in the caller's buffer: no copy. */
                r->state = NET_FRAME_STATE_LEN;
                deliver(r, buf, r->len);
                delivered++;
                buf += r->len;
                size -= r->len;
                break;
            }
            if (r->fill == 0) {
                reserve(r, r->len);
            }
            {
                gsize take = MIN((gsize)(r->len - r->fill), size);
                memcpy(r->buf + r->fill, buf, take);
                r->fill += take;
                buf += take;
                size -= take;
            }
            if (r->fill == r->len) {
                r->state = NET_FRAME_STATE_LEN;
                r->fill = 0;
                deliver(r, r->buf, r->len);
                delivered++;
            }
            break;
        case NET_FRAME_STATE_SKIP: {
            gsize take = MIN((gsize)r->skip, size);
            r->skip -= take;
            r->stats.skipped_bytes += take;
            buf += take;
            size -= take;
            if (r->skip == 0) {
                r->state = NET_FRAME_STATE_LEN;
            }
            break;
        }
        }
    }
    return delivered;
}

guint net_frame_header(guint8 hdr[NET_FRAME_HDR_MAX], guint32 len, gboolean vnet_hdr,
                       guint32 vnet_hdr_len)
{
    store_be32(hdr, len);
    if (!vnet_hdr) {
        return 4;
    }
    store_be32(hdr + 4, vnet_hdr_len);
    return 8;
}

void net_frame_append(GByteArray *out, const guint8 *data, guint32 len, gboolean vnet_hdr,
                      guint32 vnet_hdr_len)
{
    guint8 hdr[NET_FRAME_HDR_MAX];
    guint n = net_frame_header(hdr, len, vnet_hdr, vnet_hdr_len);
    g_byte_array_append(out, hdr, n);
    if (len) {
        g_byte_array_append(out, data, len);
    }
}
