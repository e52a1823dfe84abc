/*
 * Guest-controlled virtqueues: the input is the whole guest RAM of a virtio-net device whose
 * rings the "driver" placed at fixed addresses; the first bytes choose the queue size and
 * how many kicks and receives happen. Whatever the descriptors say, the device must never
 * touch memory outside guest RAM, loop, or crash: bad chains end with the device broken.
 *
 * Then the same RAM drives the bare virtio core, without a device model: the last 32 bytes of
 * RAM (CORE_PARAMS) give any queue size up to 300 (powers of two or not) and ring addresses
 * anywhere, in RAM, past its end or wrapping 2^64; every chain popped is read, written and
 * given back at offsets the input chooses, and what the core reports must add up.
 */
#include "hw/virtio/virtio-net.h"
#include "tests/include/flat-ram.h"

#include <stdint.h>
#include <string.h>

#define RAM_SIZE 0x4000
#define DESC     0x0000
#define AVAIL    0x1000
#define USED     0x2000
/* 3 ring addresses (u64) and the queue size (u16), little-endian, at RAM's end */
#define CORE_PARAMS (RAM_SIZE - 32)

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

static uint64_t le_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Mostly in or just past RAM, so that rings meet real descriptors; anywhere when bit 63 is set. */
static uint64_t pick_addr(const uint8_t *p)
{
    uint64_t v = le_u64(p);
    return (v >> 63) ? v : v % (RAM_SIZE + 0x40);
}

static void core_reset(VirtIODevice *vdev)
{
}

static const VirtIODeviceOps core_ops = {.reset = core_reset};

/* One chain's checks: its buffers are what the core said, and copies never overrun. */
static void check_chain(VirtQueue *vq, const VirtQueueElement *e, uint8_t knob)
{
    uint64_t out = 0, in = 0;
    if (e->out_num + e->in_num > VIRTQUEUE_MAX_SG || e->head >= vq->size) {
        __builtin_trap();
    }
    for (unsigned i = 0; i < e->out_num; i++) {
        if (e->out_len[i] && e->out_addr[i] + e->out_len[i] < e->out_addr[i]) {
            __builtin_trap();
        }
        out += e->out_len[i];
    }
    for (unsigned i = 0; i < e->in_num; i++) {
        if (e->in_len[i] && e->in_addr[i] + e->in_len[i] < e->in_addr[i]) {
            __builtin_trap();
        }
        in += e->in_len[i];
    }
    if (out != e->out_total || in != e->in_total) {
        __builtin_trap();
    }
    static uint8_t buf[2048];
    uint64_t off = knob * 7;
    uint64_t len = 1 + knob * 8;
    int64_t got = virtqueue_read_out(vq, e, off, buf, len);
    uint64_t avail_out = e->out_total > off ? e->out_total - off : 0;
    if (got > (int64_t)MIN(len, avail_out) || (got >= 0 && got != (int64_t)MIN(len, avail_out)) ||
        (got < 0 && !vq->vdev->broken)) {
        __builtin_trap();
    }
    memset(buf, knob, len);
    int64_t put = virtqueue_write_in(vq, e, off, buf, len);
    uint64_t avail_in = e->in_total > off ? e->in_total - off : 0;
    if ((put >= 0 && put != (int64_t)MIN(len, avail_in)) || (put < 0 && !vq->vdev->broken)) {
        __builtin_trap();
    }
}

static void fuzz_bare_core(uint8_t knob)
{
    VirtIODevice vdev = {0};
    virtio_init(&vdev, "fuzz-core", 1, &core_ops, &dma, 1);
    VirtQueue *vq = virtio_add_queue(&vdev, 0, VIRTQUEUE_MAX_SIZE, NULL);
    const uint8_t *p = ram + CORE_PARAMS;
    vq->desc = pick_addr(p);
    vq->avail = pick_addr(p + 8);
    vq->used = pick_addr(p + 16);
    vq->size = 1 + (p[24] | p[25] << 8) % 300;
    vq->enabled = true;
    virtio_set_status(&vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    uint64_t pops = 0;
    /* pushes may land on the avail index and publish more: bounded, not "until empty" */
    for (int i = 0; i < 600 && virtqueue_pop(vq, e); i++) {
        pops++;
        check_chain(vq, e, knob + i);
        virtqueue_push(vq, e, MIN(e->in_total, 0xffffffffu));
    }
    if (vdev.stats.chains != pops || (vdev.broken != (vdev.stats.bad_chains > 0)) ||
        (vdev.broken && !(vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET))) {
        __builtin_trap();
    }
    g_free(e);
    virtio_cleanup(&vdev);
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
    /* bit 7 of the second byte: the offloads too, so that TX frames go through vnet-hdr.c;
     * bit 6: merged receive buffers, so that a frame may spread over several chains */
    uint64_t offloads = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
                        (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6);
    virtio_set_guest_features(vdev, (1ull << VIRTIO_F_VERSION_1) | (data[1] & 0x80 ? offloads : 0) |
                                        (data[1] & 0x40 ? 1ull << VIRTIO_NET_F_MRG_RXBUF : 0));
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
            size_t len = 60 + (data[3] % 1400);
            ssize_t got = virtio_net_receive(n, frame, len);
            /* taken whole, waiting for buffers, or dropped: never part of it */
            if (got != (ssize_t)len && got != 0 && got != -1) {
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
    memset(ram, 0, sizeof(ram));
    memcpy(ram, data + 4, MIN(size - 4, sizeof(ram)));
    fuzz_bare_core(data[3]);
    return 0;
}
