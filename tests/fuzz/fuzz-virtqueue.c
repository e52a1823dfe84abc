/*
 * Guest-controlled virtqueues: the input is the whole guest RAM of a virtio-net device whose
 * rings the "driver" placed at fixed addresses; the first bytes choose the queue size and
 * how many kicks and receives happen. Whatever the descriptors say, the device must never
 * touch memory outside guest RAM, loop, or crash: bad chains end with the device broken.
 */
#include "hw/virtio/virtio-net.h"
#include "tests/include/flat-ram.h"

#include <stdint.h>
#include <string.h>

#define RAM_SIZE 0x4000
#define DESC     0x0000
#define AVAIL    0x1000
#define USED     0x2000

static uint8_t ram[RAM_SIZE];

static FlatRam flat = {.base = ram, .size = RAM_SIZE};
static const DmaSpace dma = {.read = flat_ram_read, .write = flat_ram_write, .opaque = &flat};
static size_t sent_bytes;

static void peer_send(void *opaque, const uint8_t *buf, size_t len)
{
    if (len > VIRTIO_NET_MAX_TX) {
        __builtin_trap();
    }
    sent_bytes += len;
}

static void setup_queue(VirtQueue *vq, uint16_t size, uint64_t off)
{
    vq->size = size;
    vq->desc = DESC + off;
    vq->avail = AVAIL + off;
    vq->used = USED + off;
    vq->enabled = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return 0;
    }
    memset(ram, 0, sizeof(ram));
    memcpy(ram, data + 4, MIN(size - 4, sizeof(ram)));
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    VirtIONet *n = virtio_net_new(&dma, mac);
    VirtIONetPeer peer = {.send = peer_send};
    virtio_net_set_peer(n, &peer);
    VirtIODevice *vdev = virtio_net_vdev(n);
    uint16_t qsize = 1u << (data[0] % 9);    /* 1..256 */
    setup_queue(&vdev->vq[0], qsize, 0x800); /* RX rings share the pages, offset */
    setup_queue(&vdev->vq[1], qsize, 0);
    /* bit 7 of the second byte: the offloads too, so that TX frames go through vnet-hdr.c */
    uint64_t offloads = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
                        (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6);
    virtio_set_guest_features(vdev, (1ull << VIRTIO_F_VERSION_1) | (data[1] & 0x80 ? offloads : 0));
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    int kicks = 1 + data[1] % 4;
    int receives = data[2] % 4;
    uint8_t frame[1514];
    memset(frame, data[3], sizeof(frame));
    for (int i = 0; i < kicks; i++) {
        virtio_queue_notify(vdev, 1);
        virtio_queue_notify(vdev, 0);
        for (int r = 0; r < receives; r++) {
            ssize_t got = virtio_net_receive(n, frame, 60 + (data[3] % 1400));
            if (got > 1514) {
                __builtin_trap();
            }
        }
    }
    /* a broken device says so, and a reset brings it back */
    if (vdev->broken && !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
        __builtin_trap();
    }
    virtio_set_status(vdev, 0);
    if (vdev->broken || vdev->status) {
        __builtin_trap();
    }
    virtio_net_free(n);
    return 0;
}
