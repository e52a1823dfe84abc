/*
 * virtio-net offloads done in software by the device, so that frames reach the network core
 * (filters, colo-compare, every backend) whole and with correct checksums, as they would with
 * upstream's vnet_hdr=off, while the guest is spared the per-byte and per-segment work:
 *
 *   guest TX  [virtio-net hdr][frame]
 *     gso_type NONE, NEEDS_CSUM    ──► checksum from csum_start stored at +csum_offset ──► 1 frame
 *     gso_type TCPV4 / TCPV6       ──► cut into gso_size segments: IP lengths and id, TCP seq,
 *                                      FIN/PSH on the last, CWR on the first, all checksums ──► N
 *     anything inconsistent        ──► dropped (counted by the caller)
 *
 *   guest RX  an IPv4/IPv6 TCP or UDP frame whose checksum the device verified gets
 *             DATA_VALID, so the guest does not checksum it again
 */
#ifndef HW_VIRTIO_VIRTIO_NET_OFFLOAD_H
#define HW_VIRTIO_VIRTIO_NET_OFFLOAD_H

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
typedef struct VirtIONetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
} VirtIONetHdr;

void virtio_net_hdr_parse(VirtIONetHdr *h, const uint8_t raw[10]);

typedef void (*VirtIONetEmit)(void *opaque, const uint8_t *frame, size_t len);

/*
 * Completes the guest's frame as its header asks and hands the result to @emit, one call per
 * frame on the wire. @frame is modified in place; @scratch (@scratch_size bytes) holds each
 * segment. Returns the number of frames emitted, or -1 when the header does not fit the frame
 * (nothing emitted).
 */
int virtio_net_tx_offload(const VirtIONetHdr *h, uint8_t *frame, size_t len, uint8_t *scratch,
                          size_t scratch_size, VirtIONetEmit emit, void *opaque);

/* True for an IPv4 (not fragmented) or IPv6 TCP/UDP frame whose checksum is correct. */
bool virtio_net_rx_csum_ok(const uint8_t *frame, size_t len);

#endif
