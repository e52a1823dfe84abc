/* virtio-net offloads in software (include/net/vnet-hdr.h). */
#include "net/vnet-hdr.h"
#include "net/checksum.h"
#include "util/be.h"

#include <string.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define PROTO_TCP      6
#define PROTO_UDP      17
#define TCP_FIN        0x01
#define TCP_PSH        0x08
#define TCP_CWR        0x80

void net_vnet_hdr_parse(NetVnetHdr *h, const uint8_t raw[10])
{
    h->flags = raw[0];
    h->gso_type = raw[1];
    h->hdr_len = raw[2] | (raw[3] << 8);
    h->gso_size = raw[4] | (raw[5] << 8);
    h->csum_start = raw[6] | (raw[7] << 8);
    h->csum_offset = raw[8] | (raw[9] << 8);
}

/* Offset of the network header and its ethertype (one 802.1Q tag allowed). */
static bool find_l3(const uint8_t *f, size_t len, size_t *l3, uint16_t *ethertype)
{
    if (len < 14) {
        return false;
    }
    *ethertype = ld16_be(f + 12);
    *l3 = 14;
    if (*ethertype == ETHERTYPE_VLAN) {
        if (len < 18) {
            return false;
        }
        *ethertype = ld16_be(f + 16);
        *l3 = 18;
    }
    return true;
}

/* The pseudo-header's addresses and protocol; the L4 length is added by the caller. */
static uint32_t pseudo_sum(const uint8_t *ip, bool v6, uint8_t proto)
{
    uint32_t sum = v6 ? net_checksum_add(0, ip + 8, 32) : net_checksum_add(0, ip + 12, 8);
    return sum + proto;
}

static uint32_t add_len(uint32_t sum, uint32_t l4_len)
{
    return sum + (l4_len >> 16) + (l4_len & 0xffff);
}

static int tx_csum(const NetVnetHdr *h, uint8_t *f, size_t len, NetFrameEmit emit, void *opaque)
{
    /* The field already holds the pseudo-header sum (the partial-checksum convention). */
    size_t at = (size_t)h->csum_start + h->csum_offset;
    if (h->csum_start >= len || at + 2 > len) {
        return -1;
    }
    uint16_t c = net_checksum_finish(net_checksum_add(0, f + h->csum_start, len - h->csum_start));
    st16_be(f + at, c ? c : 0xffff);
    emit(opaque, f, len);
    return 1;
}

static int tx_tso(const NetVnetHdr *h, const uint8_t *f, size_t len, uint8_t *s,
                  size_t scratch_size, NetFrameEmit emit, void *opaque)
{
    size_t l3, l4 = h->csum_start;
    uint16_t ethertype;
    bool v6 = (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6;

    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || !find_l3(f, len, &l3, &ethertype) ||
        l4 + 20 > len) {
        return -1;
    }
    const uint8_t *ip = f + l3;
    if (v6) {
        if (ethertype != ETHERTYPE_IPV6 || l4 < l3 + 40 || ip[0] >> 4 != 6) {
            return -1;
        }
    } else if (ethertype != ETHERTYPE_IPV4 || l4 < l3 + 20 || ip[0] >> 4 != 4 ||
               (size_t)(ip[0] & 0xf) * 4 != l4 - l3 || ip[9] != PROTO_TCP ||
               (ld16_be(ip + 6) & 0x3fff)) {
        return -1;
    }
    size_t doff = (size_t)(f[l4 + 12] >> 4) * 4;
    size_t hl = l4 + doff;
    size_t mss = h->gso_size;
    if (doff < 20 || hl > len || !mss || hl + mss > scratch_size) {
        return -1;
    }
    size_t payload = len - hl;
    uint32_t seq = ld32_be(f + l4 + 4);
    uint16_t ip_id = v6 ? 0 : ld16_be(ip + 4);
    uint8_t tcp_flags = f[l4 + 13];
    uint32_t pseudo = pseudo_sum(ip, v6, PROTO_TCP);
    int n = 0;

    for (size_t off = 0; off < payload || n == 0; off += mss, n++) {
        size_t seg = payload - off < mss ? payload - off : mss;
        uint8_t *sip = s + l3, *tcp = s + l4;
        uint32_t l4_len = doff + seg;
        uint8_t fl = tcp_flags;

        memcpy(s, f, hl);
        memcpy(s + hl, f + hl + off, seg);
        if (v6) {
            st16_be(sip + 4, (uint16_t)(l4 - l3 - 40 + l4_len));
        } else {
            st16_be(sip + 2, (uint16_t)(l4 - l3 + l4_len));
            st16_be(sip + 4, (uint16_t)(ip_id + n));
            st16_be(sip + 10, 0);
            st16_be(sip + 10, net_checksum_finish(net_checksum_add(0, sip, l4 - l3)));
        }
        st32_be(tcp + 4, seq + (uint32_t)off);
        if (off + seg < payload) {
            fl &= ~(TCP_FIN | TCP_PSH);
        }
        if (n > 0) {
            fl &= ~TCP_CWR;
        }
        tcp[13] = fl;
        st16_be(tcp + 16, 0);
        st16_be(tcp + 16,
                net_checksum_finish(net_checksum_add(add_len(pseudo, l4_len), tcp, l4_len)));
        emit(opaque, s, hl + seg);
    }
    return n;
}

int net_vnet_hdr_complete(const NetVnetHdr *h, uint8_t *frame, size_t len, uint8_t *scratch,
                          size_t scratch_size, NetFrameEmit emit, void *opaque)
{
    switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
            emit(opaque, frame, len);
            return 1;
        }
        return tx_csum(h, frame, len, emit, opaque);
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
        return tx_tso(h, frame, len, scratch, scratch_size, emit, opaque);
    default:
        return -1; /* UDP fragmentation offload is not offered */
    }
}

bool net_frame_csum_ok(const uint8_t *f, size_t len)
{
    size_t l3, l4;
    uint16_t ethertype;
    uint32_t l4_len;
    uint8_t proto;
    bool v6;

    if (!find_l3(f, len, &l3, &ethertype)) {
        return false;
    }
    const uint8_t *ip = f + l3;
    if (ethertype == ETHERTYPE_IPV4) {
        if (len < l3 + 20 || ip[0] >> 4 != 4) {
            return false;
        }
        size_t ihl = (size_t)(ip[0] & 0xf) * 4;
        size_t total = ld16_be(ip + 2);
        if (ihl < 20 || total < ihl || l3 + total > len || (ld16_be(ip + 6) & 0x3fff)) {
            return false;
        }
        l4 = l3 + ihl;
        l4_len = total - ihl;
        proto = ip[9];
        v6 = false;
    } else if (ethertype == ETHERTYPE_IPV6) {
        /* Extension headers are left to the guest. */
        if (len < l3 + 40 || ip[0] >> 4 != 6 || l3 + 40 + ld16_be(ip + 4) > len) {
            return false;
        }
        l4 = l3 + 40;
        l4_len = ld16_be(ip + 4);
        proto = ip[6];
        v6 = true;
    } else {
        return false;
    }
    if (proto == PROTO_TCP) {
        if (l4_len < 20) {
            return false;
        }
    } else if (proto == PROTO_UDP) {
        if (l4_len < 8) {
            return false;
        }
        if (!v6 && ld16_be(f + l4 + 6) == 0) {
            return true; /* IPv4 UDP without a checksum: nothing to verify */
        }
    } else {
        return false;
    }
    uint32_t sum = add_len(pseudo_sum(ip, v6, proto), l4_len);
    return net_checksum_finish(net_checksum_add(sum, f + l4, l4_len)) == 0;
}
