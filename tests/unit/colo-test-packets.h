/*
 * Crafted Ethernet frames for the COLO proxy unit tests. Their checksums come from a plain
 * RFC 1071 sum written here, not from the product's colo_packet_update_checksums: a test that
 * took both sides from the product would pass whatever that function computed.
 */
#ifndef TESTS_COLO_TEST_PACKETS_H
#define TESTS_COLO_TEST_PACKETS_H

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include "net/colo.h"

typedef struct TestPkt {
    const char *src, *dst; /* dotted IPv4; default 10.0.0.1 -> 10.0.0.2 */
    guint16 sport, dport;
    guint8 proto; /* default TCP */
    guint32 seq, ack;
    guint8 flags; /* TCP flags; default ACK */
    guint16 ip_id;
    guint8 ttl;
    const void *payload;
    gsize plen;
    guint32 vhdr;      /* bytes of (zeroed) virtio-net header in front */
    guint16 ethertype; /* default IPv4 */
} TestPkt;

static inline guint32 test_ip(const char *s)
{
    guint a, b, c, d;
    g_assert_cmpint(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), ==, 4);
    guint8 bytes[4] = {a, b, c, d};
    guint32 v;
    memcpy(&v, bytes, 4);
    return v;
}

/* The ones' complement sum of @len bytes as big-endian 16-bit words, added to @sum. */
static inline guint32 test_sum16(guint32 sum, const guint8 *p, gsize len)
{
    for (gsize i = 0; i + 1 < len; i += 2) {
        sum += (guint32)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (guint32)p[len - 1] << 8;
    }
    return sum;
}

static inline guint16 test_fold(guint32 sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* Where the TCP or UDP checksum of an IPv4 packet lies in its L4 header; 0 for other protocols. */
static inline guint test_l4_csum_offset(const guint8 *ip)
{
    return ip[9] == COLO_IPPROTO_TCP ? 16 : ip[9] == COLO_IPPROTO_UDP ? 6 : 0;
}

/* The TCP/UDP pseudo-header sum plus the whole L4 segment, checksum field as it stands. */
static inline guint32 test_l4_sum(const guint8 *ip)
{
    guint ihl = (ip[0] & 15) * 4, l4len = colo_ld_be16(ip + 2) - ihl;
    guint32 sum = test_sum16(0, ip + 12, 8) + ip[9] + l4len;
    return test_sum16(sum, ip + ihl, l4len);
}

/* Fills in the IPv4 header checksum and the TCP or UDP checksum of the IPv4 packet at @ip. */
static inline void test_fill_checksums(guint8 *ip)
{
    guint ihl = (ip[0] & 15) * 4, off = test_l4_csum_offset(ip);
    colo_st_be16(ip + 10, 0);
    colo_st_be16(ip + 10, ~test_fold(test_sum16(0, ip, ihl)) & 0xffff);
    if (off) {
        colo_st_be16(ip + ihl + off, 0);
        guint16 c = ~test_fold(test_l4_sum(ip)) & 0xffff;
        /* UDP sends a zero sum as all ones: zero means "no checksum" there. */
        colo_st_be16(ip + ihl + off, c == 0 && ip[9] == COLO_IPPROTO_UDP ? 0xffff : c);
    }
}

/* TRUE if the IPv4 header checksum and the TCP or UDP checksum of the packet at @ip verify. */
static inline gboolean test_checksums_ok(const guint8 *ip)
{
    guint ihl = (ip[0] & 15) * 4, off = test_l4_csum_offset(ip);
    if (test_fold(test_sum16(0, ip, ihl)) != 0xffff) {
        return FALSE;
    }
    if (off == 6 && colo_ld_be16(ip + ihl + off) == 0) {
        return TRUE;
    }
    return !off || test_fold(test_l4_sum(ip)) == 0xffff;
}

/* A frame with correct IPv4 and L4 checksums. Caller frees with g_byte_array_unref. */
static inline GByteArray *test_pkt(const TestPkt *t)
{
    guint8 proto = t->proto ? t->proto : COLO_IPPROTO_TCP;
    guint l4h = proto == COLO_IPPROTO_TCP ? 20 : (proto == COLO_IPPROTO_UDP ? 8 : 0);
    if (proto == COLO_IPPROTO_ICMP) {
        l4h = 8;
    }
    guint total = 20 + l4h + t->plen;
    GByteArray *b = g_byte_array_sized_new(t->vhdr + 14 + total);
    g_byte_array_set_size(b, t->vhdr + 14 + total);
    guint8 *p = b->data;
    memset(p, 0, b->len);
    guint8 *eth = p + t->vhdr;
    static const guint8 dmac[6] = {0x52, 0x54, 0, 0, 0, 2}, smac[6] = {0x52, 0x54, 0, 0, 0, 1};
    memcpy(eth, dmac, 6);
    memcpy(eth + 6, smac, 6);
    colo_st_be16(eth + 12, t->ethertype ? t->ethertype : COLO_ETHERTYPE_IP);
    guint8 *ip = eth + 14;
    ip[0] = 0x45;
    colo_st_be16(ip + 2, total);
    colo_st_be16(ip + 4, t->ip_id);
    ip[8] = t->ttl ? t->ttl : 64;
    ip[9] = proto;
    guint32 s = test_ip(t->src ? t->src : "10.0.0.1"), d = test_ip(t->dst ? t->dst : "10.0.0.2");
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    guint8 *l4 = ip + 20;
    if (proto == COLO_IPPROTO_TCP) {
        colo_st_be16(l4, t->sport);
        colo_st_be16(l4 + 2, t->dport);
        colo_st_be32(l4 + 4, t->seq);
        colo_st_be32(l4 + 8, t->ack);
        l4[12] = 5 << 4;
        l4[13] = t->flags ? t->flags : COLO_TCP_ACK;
        colo_st_be16(l4 + 14, 65535);
    } else if (proto == COLO_IPPROTO_UDP) {
        colo_st_be16(l4, t->sport);
        colo_st_be16(l4 + 2, t->dport);
        colo_st_be16(l4 + 4, 8 + t->plen);
        colo_st_be16(l4 + 6, 1); /* non-zero: the checksum gets computed below */
    } else if (proto == COLO_IPPROTO_ICMP) {
        l4[0] = 8; /* echo request */
        colo_st_be16(l4 + 4, t->sport);
        colo_st_be16(l4 + 6, t->seq);
    }
    if (t->plen) {
        memcpy(l4 + l4h, t->payload, t->plen);
    }
    if (!t->ethertype || t->ethertype == COLO_ETHERTYPE_IP) {
        test_fill_checksums(ip);
    }
    return b;
}

/* A TCP segment with DATA (or none), behind VHDR bytes of zeroed virtio-net header. */
static inline GByteArray *test_tcp_segment(const char *src, guint16 sport, const char *dst,
                                           guint16 dport, guint8 flags, guint32 seq, guint32 ack,
                                           const char *data, guint32 vhdr)
{
    TestPkt t = {.src = src,
                 .dst = dst,
                 .sport = sport,
                 .dport = dport,
                 .seq = seq,
                 .ack = ack,
                 .flags = flags,
                 .payload = data,
                 .plen = data ? strlen(data) : 0,
                 .vhdr = vhdr};
    return test_pkt(&t);
}

#endif
