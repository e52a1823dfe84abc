/*
 * The virtio-net header's offloads (partial checksum, TCP segmentation) completed in software,
 * wherever a frame that still carries them must become plain frames: a guest's TX frame that no
 * peer can take as it is, or a host frame read from a vnet_hdr tap on its way to a filter or a
 * guest that did not negotiate the offload. Filters, colo-compare and every backend thus always
 * see whole frames with correct checksums, as with upstream's vnet_hdr=off:
 *
 *   [virtio-net hdr][frame]
 *     gso_type NONE, NEEDS_CSUM    ──► checksum from csum_start stored at +csum_offset ──► 1 frame
 *     gso_type TCPV4 / TCPV6       ──► cut into gso_size segments: IP lengths and id, TCP seq,
 *                                      FIN/PSH on the last, CWR on the first, all checksums ──► N
 *     anything inconsistent        ──► nothing (the caller counts the drop)
 *
 * net_frame_csum_ok() lets a device tell its guest (DATA_VALID) that a frame's checksum is
 * already verified, so the guest does not compute it again.
 */
#ifndef NET_VNET_HDR_H
#define NET_VNET_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE     0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN      0x80

/* The virtio-net header's fields (VIRTIO_NET_HDR_LEN bytes, little-endian in the queue). */
typedef struct NetVnetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
} NetVnetHdr;

void net_vnet_hdr_parse(NetVnetHdr *h, const uint8_t raw[10]);

typedef void (*NetFrameEmit)(void *opaque, const uint8_t *frame, size_t len);

/*
 * Completes the guest's frame as its header asks and hands the result to @emit, one call per
 * frame on the wire. @frame is modified in place; @scratch (@scratch_size bytes) holds each
 * segment. Returns the number of frames emitted, or -1 when the header does not fit the frame
 * (nothing emitted).
 */
int net_vnet_hdr_complete(const NetVnetHdr *h, uint8_t *frame, size_t len, uint8_t *scratch,
                          size_t scratch_size, NetFrameEmit emit, void *opaque);

/* True for an IPv4 (not fragmented) or IPv6 TCP/UDP frame whose checksum is correct. */
bool net_frame_csum_ok(const uint8_t *frame, size_t len);

#endif
