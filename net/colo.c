/* Packet parsing, connection keys and checksums for the COLO proxy (include/net/colo.h). */
#include "net/colo.h"
#include "net/checksum.h"

#include <stdio.h>
#include <string.h>

gboolean colo_proto_has_ports(guint8 proto)
{
    switch (proto) {
    case COLO_IPPROTO_TCP:
    case COLO_IPPROTO_UDP:
    case COLO_IPPROTO_DCCP:
    case COLO_IPPROTO_SCTP:
    case COLO_IPPROTO_UDPLITE:
        return TRUE;
    default:
        return FALSE;
    }
}

const char *colo_parse_result_str(ColoParseResult r)
{
    switch (r) {
    case COLO_PARSE_OK:
        return "ok";
    case COLO_PARSE_UNSUPPORTED:
        return "unsupported";
    default:
        return "malformed";
    }
}

/* The 4 L4 bytes upstream uses as "ports", if the frame has them (else zeros). */
static void fill_ports(ColoPacketInfo *info, const guint8 *data)
{
    guint32 at;
    switch (info->ip_proto) {
    case COLO_IPPROTO_TCP:
    case COLO_IPPROTO_UDP:
    case COLO_IPPROTO_DCCP:
    case COLO_IPPROTO_ESP:
    case COLO_IPPROTO_SCTP:
    case COLO_IPPROTO_UDPLITE:
        at = info->l4_off;
        break;
    case COLO_IPPROTO_AH:
        at = info->l4_off + 4;
        break;
    default:
        return;
    }
    if (info->size < at + 4) {
        return;
    }
    info->key.src_port = colo_ld_be16(data + at);
    info->key.dst_port = colo_ld_be16(data + at + 2);
}

ColoParseResult colo_packet_parse(ColoPacketInfo *info, const guint8 *data, guint32 size,
                                  guint32 vnet_hdr_len)
{
    memset(info, 0, sizeof(*info));
    info->size = size;
    info->vnet_hdr_len = vnet_hdr_len;

    if (vnet_hdr_len > COLO_VNET_HDR_MAX || size < COLO_ETH_HLEN + 4 + vnet_hdr_len) {
        return COLO_PARSE_UNSUPPORTED;
    }
    guint16 ethertype = colo_ld_be16(data + vnet_hdr_len + 12);
    if (ethertype != COLO_ETHERTYPE_IP) {
        /* VLAN-tagged, ARP, IPv6, ...: upstream never looks inside them. */
        return COLO_PARSE_UNSUPPORTED;
    }
    info->l3_off = vnet_hdr_len + COLO_ETH_HLEN;
    if (size < info->l3_off + 20) {
        return COLO_PARSE_MALFORMED;
    }
    const guint8 *ip = data + info->l3_off;
    guint ihl = (ip[0] & 0x0f) * 4;
    if (ihl < 20 || size < info->l3_off + ihl) {
        return COLO_PARSE_MALFORMED;
    }
    info->l4_off = info->l3_off + ihl;
    info->ip_proto = ip[9];
    info->key.proto = ip[9];
    memcpy(&info->key.src, ip + 12, 4);
    memcpy(&info->key.dst, ip + 16, 4);
    fill_ports(info, data);

    if (info->ip_proto == COLO_IPPROTO_TCP) {
        if (size < info->l4_off + 20) {
            return COLO_PARSE_MALFORMED;
        }
        const guint8 *tcp = data + info->l4_off;
        guint doff = (tcp[12] >> 4) * 4;
        if (doff < 20 || size < info->l4_off + doff) {
            return COLO_PARSE_MALFORMED;
        }
        info->seq = colo_ld_be32(tcp + 4);
        info->ack = colo_ld_be32(tcp + 8);
        info->tcp_flags = tcp[13];
        info->header_size = info->l4_off + doff;
        info->payload_size = size - info->header_size;
    }
    return COLO_PARSE_OK;
}

/* A 64-bit mix (the MurmurHash3 finaliser) over the tuple packed into two words. */
static inline guint64 mix64(guint64 x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

guint colo_conn_key_hash(gconstpointer p)
{
    const ColoConnKey *k = p;
    guint64 a = ((guint64)k->src << 32) | k->dst;
    guint64 b = ((guint64)k->src_port << 24) | ((guint64)k->dst_port << 8) | k->proto;
    return (guint)mix64(a ^ mix64(b));
}

gboolean colo_conn_key_equal(gconstpointer pa, gconstpointer pb)
{
    const ColoConnKey *a = pa, *b = pb;
    return a->src == b->src && a->dst == b->dst && a->src_port == b->src_port &&
           a->dst_port == b->dst_port && a->proto == b->proto;
}

void colo_conn_key_reverse(ColoConnKey *dst, const ColoConnKey *src)
{
    ColoConnKey tmp = *src;
    dst->src = tmp.dst;
    dst->dst = tmp.src;
    dst->src_port = tmp.dst_port;
    dst->dst_port = tmp.src_port;
    dst->proto = tmp.proto;
    memset(dst->pad, 0, sizeof(dst->pad));
}

const char *colo_proto_name(guint8 proto, char *buf, gsize size)
{
    switch (proto) {
    case COLO_IPPROTO_TCP:
        return "tcp";
    case COLO_IPPROTO_UDP:
        return "udp";
    case COLO_IPPROTO_ICMP:
        return "icmp";
    case COLO_IPPROTO_IGMP:
        return "igmp";
    case COLO_IPPROTO_DCCP:
        return "dccp";
    case COLO_IPPROTO_SCTP:
        return "sctp";
    case COLO_IPPROTO_UDPLITE:
        return "udplite";
    case COLO_IPPROTO_IPV6:
        return "ipv6";
    default:
        g_snprintf(buf, size, "%u", proto);
        return buf;
    }
}

const char *colo_conn_key_str(const ColoConnKey *key, char *buf, gsize size)
{
    char pbuf[8];
    const guint8 *s = (const guint8 *)&key->src, *d = (const guint8 *)&key->dst;
    g_snprintf(buf, size, "%s %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u",
               colo_proto_name(key->proto, pbuf, sizeof(pbuf)), s[0], s[1], s[2], s[3],
               key->src_port, d[0], d[1], d[2], d[3], key->dst_port);
    return buf;
}

void colo_packet_update_checksums(guint8 *data, const ColoPacketInfo *info)
{
    guint8 *ip = data + info->l3_off;
    guint ihl = info->l4_off - info->l3_off;
    guint32 total = colo_ld_be16(ip + 2);
    if (total < ihl || info->l3_off + total > info->size) {
        return;
    }
    colo_st_be16(ip + 10, 0);
    colo_st_be16(ip + 10, net_checksum_finish(net_checksum_add(0, ip, ihl)));

    /* A fragment's L4 checksum covers the whole datagram: not ours to fix. */
    if (colo_ld_be16(ip + 6) & 0x3fff) {
        return;
    }
    guint32 l4_len = total - ihl;
    guint8 *l4 = ip + ihl;
    guint csum_at;
    if (info->ip_proto == COLO_IPPROTO_TCP && l4_len >= 20) {
        csum_at = 16;
    } else if (info->ip_proto == COLO_IPPROTO_UDP && l4_len >= 8) {
        csum_at = 6;
        if (colo_ld_be16(l4 + 6) == 0) {
            return; /* UDP without checksum stays without */
        }
    } else {
        return;
    }
    colo_st_be16(l4 + csum_at, 0);
    guint32 sum = net_checksum_add(0, ip + 12, 8);
    sum += info->ip_proto;
    sum += l4_len;
    sum = net_checksum_add(sum, l4, l4_len);
    guint16 c = net_checksum_finish(sum);
    if (info->ip_proto == COLO_IPPROTO_UDP && c == 0) {
        c = 0xffff;
    }
    colo_st_be16(l4 + csum_at, c);
}
