/*
 * virtio-net's software offloads and the Internet checksum they use: TSO cut into segments a
 * receiver accepts, partial checksums completed, headers that do not fit the frame refused.
 */
#include "net/vnet-hdr.h"
#include "net/checksum.h"

#include <glib.h>
#include <string.h>

#define SCRATCH 70000

typedef struct Sink {
    GPtrArray *frames;
} Sink;

static void sink_emit(void *opaque, const uint8_t *frame, size_t len)
{
    g_ptr_array_add(((Sink *)opaque)->frames, g_byte_array_append(g_byte_array_new(), frame, len));
}

static void st16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t ld32(const uint8_t *p)
{
    return ((uint32_t)ld16(p) << 16) | ld16(p + 2);
}

/* Ethernet + IPv4 or IPv6 + TCP (20 bytes) + @payload bytes counting up; returns the length. */
static size_t make_tcp(uint8_t *f, bool v6, size_t payload, uint8_t flags)
{
    size_t l3 = 14, ihl = v6 ? 40 : 20, l4 = l3 + ihl;
    memset(f, 0, l4 + 20);
    memcpy(f, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\x12\x34\x57", 12);
    st16(f + 12, v6 ? 0x86dd : 0x0800);
    if (v6) {
        f[l3] = 0x60;
        st16(f + l3 + 4, 20 + payload);
        f[l3 + 6] = 6;
        f[l3 + 7] = 64;
        f[l3 + 23] = 1; /* ::1 -> ::2 */
        f[l3 + 39] = 2;
    } else {
        f[l3] = 0x45;
        st16(f + l3 + 2, (uint16_t)(20 + 20 + payload));
        st16(f + l3 + 4, 0x1234);
        f[l3 + 8] = 64;
        f[l3 + 9] = 6;
        memcpy(f + l3 + 12, "\x0a\x00\x03\x0f\x0a\x00\x03\x01", 8);
    }
    st16(f + l4, 80);
    st16(f + l4 + 2, 40000);
    st16(f + l4 + 4, 0xfff0); /* seq 0xfffff000: the segments wrap it */
    st16(f + l4 + 6, 0xf000);
    f[l4 + 12] = 5 << 4;
    f[l4 + 13] = flags;
    for (size_t i = 0; i < payload; i++) {
        f[l4 + 20 + i] = (uint8_t)(i * 7);
    }
    return l4 + 20 + payload;
}

static void test_checksum_vectors(void)
{
    /* RFC 1071's example: the words sum to 0xddf2 */
    static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    g_assert_cmphex(net_checksum_add(0, rfc, sizeof(rfc)), ==, 0xddf2);
    g_assert_cmphex(net_checksum_finish(net_checksum_add(0, rfc, sizeof(rfc))), ==, 0x220d);
    /* an odd byte is the high half of a last word; sums of ranges add up */
    static const uint8_t odd[] = {0x12, 0x34, 0x56};
    g_assert_cmphex(net_checksum_add(0, odd, 3), ==, 0x1234 + 0x5600);
    g_assert_cmphex(net_checksum_add(net_checksum_add(0, rfc, 4), rfc + 4, 4), ==, 0xddf2);
    /* carries wrap around: 0xffff + 0x0001 is 0x0001 in ones' complement */
    static const uint8_t wrap[] = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00};
    g_assert_cmphex(net_checksum_finish(net_checksum_add(0, wrap, 6)), ==, 0xfffe);
}

static void check_tso(bool v6)
{
    g_autofree uint8_t *f = g_malloc(SCRATCH), *scratch = g_malloc(SCRATCH);
    size_t payload = 3500, mss = 1448, l4 = 14 + (v6 ? 40 : 20);
    size_t len = make_tcp(f, v6, payload, 0x18 | 0x80 | 0x01); /* PSH ACK CWR FIN */
    g_autofree uint8_t *orig = g_memdup2(f, len);
    NetVnetHdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                    .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
                    .gso_size = mss,
                    .csum_start = l4,
                    .csum_offset = 16};
    Sink sink = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};

    g_assert_cmpint(net_vnet_hdr_complete(&h, f, len, scratch, SCRATCH, sink_emit, &sink), ==, 3);
    g_assert_cmpuint(sink.frames->len, ==, 3);
    size_t off = 0;
    for (guint i = 0; i < 3; i++) {
        GByteArray *seg = g_ptr_array_index(sink.frames, i);
        size_t seg_payload = i < 2 ? mss : payload - 2 * mss;
        g_assert_cmpuint(seg->len, ==, l4 + 20 + seg_payload);
        g_assert_true(net_frame_csum_ok(seg->data, seg->len));
        if (v6) {
            g_assert_cmpuint(ld16(seg->data + 14 + 4), ==, 20 + seg_payload);
        } else {
            g_assert_cmpuint(ld16(seg->data + 14 + 2), ==, 40 + seg_payload);
            g_assert_cmphex(ld16(seg->data + 14 + 4), ==, 0x1234 + i);
            g_assert_cmphex(net_checksum_finish(net_checksum_add(0, seg->data + 14, 20)), ==, 0);
        }
        g_assert_cmphex(ld32(seg->data + l4 + 4), ==, (uint32_t)(0xfff0f000u + off));
        uint8_t fl = seg->data[l4 + 13];
        g_assert_cmphex(fl & 0x80, ==, i == 0 ? 0x80 : 0); /* CWR on the first only */
        g_assert_cmphex(fl & 0x09, ==, i == 2 ? 0x09 : 0); /* FIN, PSH on the last only */
        g_assert_cmphex(fl & 0x10, ==, 0x10);              /* ACK on every one */
        g_assert_cmpmem(seg->data + l4 + 20, seg_payload, orig + l4 + 20 + off, seg_payload);
        off += seg_payload;
    }
    g_ptr_array_unref(sink.frames);
}

static void test_tso_v4(void)
{
    check_tso(false);
}

static void test_tso_v6(void)
{
    check_tso(true);
}

static void test_partial_csum(void)
{
    uint8_t f[200], scratch[256];
    size_t len = make_tcp(f, false, 100, 0x18);
    Sink sink = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
    /* as Linux leaves it: the field holds the pseudo-header sum, not complemented */
    uint32_t pseudo = net_checksum_add(0, f + 14 + 12, 8) + 6 + (len - 34);
    st16(f + 34 + 16, (uint16_t)~net_checksum_finish(pseudo));
    g_assert_false(net_frame_csum_ok(f, len));
    NetVnetHdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};

    g_assert_cmpint(net_vnet_hdr_complete(&h, f, len, scratch, sizeof(scratch), sink_emit, &sink),
                    ==, 1);
    GByteArray *out = g_ptr_array_index(sink.frames, 0);
    g_assert_cmpuint(out->len, ==, len);
    g_assert_true(net_frame_csum_ok(out->data, out->len));
    /* a flipped payload bit is caught */
    out->data[len - 1] ^= 1;
    g_assert_false(net_frame_csum_ok(out->data, out->len));
    /* no flags: the frame goes as it is */
    NetVnetHdr none = {0};
    g_assert_cmpint(
        net_vnet_hdr_complete(&none, f, len, scratch, sizeof(scratch), sink_emit, &sink), ==, 1);
    g_assert_cmpmem(((GByteArray *)g_ptr_array_index(sink.frames, 1))->data, len, f, len);
    g_ptr_array_unref(sink.frames);
}

static void test_bad_headers(void)
{
    uint8_t f[2000], scratch[2100];
    size_t len = make_tcp(f, false, 1500, 0x10);
    Sink sink = {g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
    const NetVnetHdr bad[] = {
        /* checksum start or field past the end */
        {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 2000, .csum_offset = 0},
        {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 65000},
        /* TSO without a partial checksum, with no segment size, or a wrong transport offset */
        {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 500, .csum_start = 34},
        {.flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 0, .csum_start = 34},
        {.flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 500, .csum_start = 30},
        /* IPv6 TSO of an IPv4 frame, UDP fragmentation (not offered), segments too big */
        {.flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 500, .csum_start = 34},
        {.flags = 1, .gso_type = 3, .gso_size = 500, .csum_start = 34},
        {.flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 60000, .csum_start = 34},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(
            net_vnet_hdr_complete(&bad[i], f, len, scratch, sizeof(scratch), sink_emit, &sink), ==,
            -1);
    }
    g_assert_cmpuint(sink.frames->len, ==, 0);
    /* truncated or non-IP frames are never claimed valid */
    for (size_t cut = 0; cut < 60; cut++) {
        g_assert_false(net_frame_csum_ok(f, cut));
    }
    uint8_t arp[60] = {0};
    st16(arp + 12, 0x0806);
    g_assert_false(net_frame_csum_ok(arp, sizeof(arp)));
    g_ptr_array_unref(sink.frames);
}

static void test_hdr_parse(void)
{
    static const uint8_t raw[10] = {1, 4, 0x36, 0, 0xa8, 0x05, 0x36, 0, 0x10, 0};
    NetVnetHdr h;
    net_vnet_hdr_parse(&h, raw);
    g_assert_cmpuint(h.flags, ==, 1);
    g_assert_cmpuint(h.gso_type, ==, VIRTIO_NET_HDR_GSO_TCPV6);
    g_assert_cmpuint(h.hdr_len, ==, 0x36);
    g_assert_cmpuint(h.gso_size, ==, 1448);
    g_assert_cmpuint(h.csum_start, ==, 0x36);
    g_assert_cmpuint(h.csum_offset, ==, 16);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net-checksum/vectors", test_checksum_vectors);
    g_test_add_func("/vnet-hdr/hdr-parse", test_hdr_parse);
    g_test_add_func("/vnet-hdr/tso-v4", test_tso_v4);
    g_test_add_func("/vnet-hdr/tso-v6", test_tso_v6);
    g_test_add_func("/vnet-hdr/partial-csum", test_partial_csum);
    g_test_add_func("/vnet-hdr/bad-headers", test_bad_headers);
    return g_test_run();
}
