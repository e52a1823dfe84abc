/*
 * virtio-net: queue 0 receives, queue 1 transmits; features VERSION_1, MAC, STATUS, MRG_RXBUF
 * (property mrg_rxbuf, default on as upstream) and the offloads CSUM, GUEST_CSUM, GUEST_TSO4/6,
 * HOST_TSO4/6. A guest's offloaded frame goes to a peer that takes it as it is (send_offload),
 * else the device completes it in software (include/net/vnet-hdr.h) and sends plain frames; an
 * offloaded host frame is handed to the guest as it is when the guest negotiated that offload
 * (virtio_net_receive_offload). Every frame carries the 12-byte virtio-net header (virtio 1.x:
 * num_buffers always present, 1 without MRG_RXBUF).
 *
 *   kick of queue 1 ──► its kicks off, a flush scheduled on the default GMainContext
 *   flush (main loop, VM running) ──► up to VIRTIO_NET_TX_BURST chains: header's offloads ──►
 *        peer->send(frame) x N ──► one interrupt decision ──► a full burst: again; else kicks
 *        back on and the ring looked at once more
 *   peer frame ──► virtio_net_receive() ──► header + frame into the RX chains ──► used ring
 *        without MRG_RXBUF: one chain, which must hold it all (else the frame is dropped)
 *        with it: as many chains as it takes (Linux posts 1.5-4 KiB buffers), each one used
 *        entry, all published at once; num_buffers in the first chain's header counts them
 *        not enough posted yet: nothing is written or used, returns 0 (the peer queues the
 *        frame and waits for peer->rx_ready, which the driver's next kick brings)
 *
 * The device does not know the network core: its peer is a pair of callbacks, which the
 * machine's glue sets up as a NetClientState peered with the -netdev (include/net/net.h).
 * Frames dropped anywhere (too big, chain too small, link down, device broken) are counted.
 */
#ifndef HW_VIRTIO_VIRTIO_NET_H
#define HW_VIRTIO_VIRTIO_NET_H

#include "hw/virtio/virtio.h"

#define VIRTIO_ID_NET           1
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_S_LINK_UP    1
#define VIRTIO_NET_HDR_LEN      12
/* The largest frame either direction (64 KiB, as upstream's NET_BUFSIZE allows). */
#define VIRTIO_NET_MAX_FRAME 65536
/* A guest TSO frame: 64 KiB of IP packet plus link headers (upstream's NET_BUFSIZE). */
#define VIRTIO_NET_MAX_TX     (4096 + 65536)
#define VIRTIO_NET_QUEUE_SIZE 256
/* Frames one TX flush sends at most (upstream's x-txburst default). */
#define VIRTIO_NET_TX_BURST 256

typedef struct VirtIONet VirtIONet;

typedef struct VirtIONetPeer {
    /* A frame (without virtio-net header) the guest transmitted. */
    void (*send)(void *opaque, const uint8_t *buf, size_t len);
    /* RX buffers became available after virtio_net_receive() returned 0. May be NULL. */
    void (*rx_ready)(void *opaque);
    /*
     * A frame whose offloads (the 12-byte virtio-net header @hdr asks for them) the peer can
     * do itself: true if it took it, false to have the device do them and send() the result.
     * May be NULL.
     */
    bool (*send_offload)(void *opaque, const uint8_t *hdr, const uint8_t *buf, size_t len);
    void *opaque;
} VirtIONetPeer;

typedef struct VirtIONetStats {
    uint64_t tx_packets, tx_bytes, tx_dropped;
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t rx_no_buffer;     /* receive attempts that found no buffer (peer queued them) */
    uint64_t tx_segmented;     /* guest TSO frames cut into segments here */
    uint64_t tx_offloaded;     /* frames whose offloads the peer took over */
    uint64_t rx_csum_verified; /* frames handed over with DATA_VALID */
    uint64_t rx_offloaded;     /* frames handed over with offloads left to the guest */
    uint64_t rx_merged;        /* frames spread over several receive chains (MRG_RXBUF) */
    uint64_t tx_flushes;       /* TX flushes that sent something (one interrupt decision each) */
} VirtIONetStats;

VirtIONet *virtio_net_new(const DmaSpace *dma, const uint8_t mac[6]);
void virtio_net_free(VirtIONet *n);
/* The device and its queues (the transport has its own section). */
extern const VMStateDescription vmstate_virtio_net;
VirtIODevice *virtio_net_vdev(VirtIONet *n);
void virtio_net_set_peer(VirtIONet *n, const VirtIONetPeer *peer);
void virtio_net_set_link(VirtIONet *n, bool up);
/*
 * Whether the VM runs (default true). Stopped, a due TX flush waits (the guest's RAM and rings
 * must not change while a migration or a COLO checkpoint copies them); it runs on resume.
 */
void virtio_net_set_running(VirtIONet *n, bool running);
/* Frames a TX flush sends before it yields to the main loop (x-txburst; 0 counts as 1). */
void virtio_net_set_tx_burst(VirtIONet *n, uint32_t burst);

/* Whether a frame could be delivered now. */
bool virtio_net_can_receive(VirtIONet *n);
/* Delivers a frame: len on success, 0 if no RX buffer is available (retry after rx_ready),
 * -1 if it was dropped (and counted). */
ssize_t virtio_net_receive(VirtIONet *n, const uint8_t *buf, size_t len);
/*
 * Delivers a frame with the offloads its 12-byte virtio-net header @hdr describes left for the
 * guest (partial checksum, a TSO frame): len, or 0 if the guest did not negotiate them or has
 * no buffer big enough now (nothing is consumed: the caller completes the frame itself).
 */
ssize_t virtio_net_receive_offload(VirtIONet *n, const uint8_t *hdr, const uint8_t *buf,
                                   size_t len);
void virtio_net_get_stats(VirtIONet *n, VirtIONetStats *out);

/* "52:54:00:12:34:56" -> bytes; false on anything else. */
bool virtio_net_parse_mac(const char *str, uint8_t mac[6]);

#endif
