/*
 * Packet parsing and connection keys shared by colo-compare and filter-rewriter.
 *
 * A packet is DATA as framed on a chardev (include/net/frame.h): an optional virtio-net header of
 * vnet_hdr_len bytes, then an Ethernet frame without FCS:
 *
 *   [vnet hdr][dst mac|src mac|ethertype][IPv4 header (IHL*4)][L4 header][payload]
 *   0         vnet_hdr_len               l3_off               l4_off     header_size (TCP)
 *
 * Only untagged IPv4 is tracked; everything else is "unsupported" (released from the primary
 * unchanged, dropped from the secondary), as upstream decides in parse_packet_early.
 */
#ifndef NET_COLO_H
#define NET_COLO_H

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define COLO_ETH_HLEN 14
/* sizeof(struct virtio_net_hdr_v1_hash): a larger VHDR is not a virtio-net header. */
#define COLO_VNET_HDR_MAX   20
#define COLO_ETHERTYPE_IP   0x0800
#define COLO_ETHERTYPE_VLAN 0x8100

#define COLO_IPPROTO_ICMP    1
#define COLO_IPPROTO_IGMP    2
#define COLO_IPPROTO_TCP     6
#define COLO_IPPROTO_UDP     17
#define COLO_IPPROTO_DCCP    33
#define COLO_IPPROTO_IPV6    41
#define COLO_IPPROTO_ESP     50
#define COLO_IPPROTO_AH      51
#define COLO_IPPROTO_SCTP    132
#define COLO_IPPROTO_UDPLITE 136

#define COLO_TCP_FIN 0x01
#define COLO_TCP_SYN 0x02
#define COLO_TCP_RST 0x04
#define COLO_TCP_PSH 0x08
#define COLO_TCP_ACK 0x10

/*
 * The 5-tuple. Addresses in network byte order (as on the wire), ports in host order. For
 * protocols without ports both port fields are 0; ESP and AH carry their SPI split in two.
 */
typedef struct ColoConnKey {
    guint32 src;
    guint32 dst;
    guint16 src_port;
    guint16 dst_port;
    guint8 proto;
    guint8 pad[3]; /* always zero, so that keys compare as bytes */
} ColoConnKey;

typedef enum {
    COLO_PARSE_OK,
    COLO_PARSE_UNSUPPORTED, /* not untagged IPv4, or VHDR too large: upstream's rules */
    COLO_PARSE_MALFORMED,   /* claims IPv4 but the headers do not fit in the frame */
} ColoParseResult;

/* Where things are in one packet; offsets count from the start of DATA. */
typedef struct ColoPacketInfo {
    guint32 size;
    guint32 vnet_hdr_len;
    guint32 l3_off;
    guint32 l4_off;
    guint8 ip_proto;
    guint8 tcp_flags;
    ColoConnKey key;
    /* TCP only */
    guint32 seq;
    guint32 ack;
    guint32 header_size;  /* up to the end of the TCP header (options included) */
    guint32 payload_size; /* the rest of the frame, Ethernet padding included (as upstream) */
} ColoPacketInfo;

ColoParseResult colo_packet_parse(ColoPacketInfo *info, const guint8 *data, guint32 size,
                                  guint32 vnet_hdr_len);
/* "unsupported" / "malformed" / "ok" */
const char *colo_parse_result_str(ColoParseResult r);

/* TRUE if the IP protocol carries 16-bit ports in its first 4 bytes. */
gboolean colo_proto_has_ports(guint8 proto);

/* Key functions for GHashTable. */
guint colo_conn_key_hash(gconstpointer key);
gboolean colo_conn_key_equal(gconstpointer a, gconstpointer b);
/* The same flow seen from the other end. */
void colo_conn_key_reverse(ColoConnKey *dst, const ColoConnKey *src);
/* "tcp 10.0.0.1:80 -> 10.0.0.2:4321" into @buf (at least 64 bytes). */
const char *colo_conn_key_str(const ColoConnKey *key, char *buf, gsize size);
/* The protocol's name ("tcp", "udp", ...) or its number as a string. */
const char *colo_proto_name(guint8 proto, char *buf, gsize size);

/* Wrap-aware sequence comparison: TRUE if @a comes after @b. */
static inline gboolean colo_seq_after(guint32 a, guint32 b)
{
    return (gint32)(a - b) > 0;
}

/*
 * Recomputes the IPv4 header checksum and the TCP/UDP checksum of a parsed packet in place (after
 * a rewrite). Does nothing for fragments or frames whose IP total length does not fit.
 */
void colo_packet_update_checksums(guint8 *data, const ColoPacketInfo *info);

static inline guint32 colo_ld_be32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static inline guint16 colo_ld_be16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static inline void colo_st_be32(guint8 *p, guint32 v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static inline void colo_st_be16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

G_END_DECLS

#endif
