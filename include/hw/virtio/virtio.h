/*
 * Virtio devices (spec 1.x) independent of their transport: feature negotiation, device
 * status, split virtqueues whose every descriptor chain is validated before use.
 *
 * Device status as the driver walks it (DEVICE_NEEDS_RESET is ours to set):
 *
 *   0 ─► ACKNOWLEDGE ─► DRIVER ─► FEATURES_OK ─► DRIVER_OK ─────► (running)
 *   │      any write of 0 resets ◄──────────────────────────────────┘
 *   └─ a malformed ring or chain: NEEDS_RESET set, config interrupt, the device stops
 *      touching its queues until the driver resets it (virtio 1.x 2.1.2)
 *
 * Split ring, one queue (all little-endian in guest RAM):
 *   desc[size]  {addr u64, len u32, flags u16 (NEXT, WRITE, INDIRECT), next u16}
 *   avail       {flags u16, idx u16, ring[size] u16, used_event u16}       driver ─► device
 *   used        {flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16}
 *                                                                           device ─► driver
 *
 * Notification suppression (virtio 1.x 2.7.7, 2.7.10). Without EVENT_IDX each side has a flag:
 * the driver's NO_INTERRUPT (avail.flags), the device's NO_NOTIFY (used.flags). With EVENT_IDX
 * (bit 29) each side publishes the index at which it wants to hear from the other:
 *
 *   device pushes used entries old..new-1 ─► full fence ─► reads used_event
 *       interrupt iff used_event is in [old, new)            (vring_need_event)
 *   driver adds avail entries  old..new-1 ─► full fence ─► reads avail_event
 *       kick iff avail_event is in [old, new)
 *
 * "old" on the device's side is the used index at the last interrupt decision
 * (signalled_used); it is unknown after a reset or a load, and then the next push interrupts.
 * A device that wants kicks again writes avail_event (or clears NO_NOTIFY), then a full fence,
 * then looks at the avail index once more (virtqueue_set_notification).
 *
 * Chain checks: head and next indexes < size, at most size descriptors (loops), readable
 * descriptors before writable ones, indirect tables 16-byte multiples not nested and not
 * chained, every buffer inside guest RAM, the avail index no more than size ahead, each ring
 * wholly below 2^64 (a wrapping ring would alias low RAM).
 */
#ifndef HW_VIRTIO_VIRTIO_H
#define HW_VIRTIO_VIRTIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hw/core/dma.h"
#include "migration/vmstate.h"

#define VIRTIO_QUEUE_MAX 8 /* queues a device may have */

#define VIRTIO_CONFIG_S_ACKNOWLEDGE 1
#define VIRTIO_CONFIG_S_DRIVER      2
#define VIRTIO_CONFIG_S_DRIVER_OK   4
#define VIRTIO_CONFIG_S_FEATURES_OK 8
#define VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define VIRTIO_CONFIG_S_FAILED      0x80

#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VRING_DESC_F_NEXT          1
#define VRING_DESC_F_WRITE         2
#define VRING_DESC_F_INDIRECT      4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY     1

#define VIRTQUEUE_MAX_SIZE 1024
/* Buffers in one chain, direct or indirect. */
#define VIRTQUEUE_MAX_SG 1024

typedef struct VirtIODevice VirtIODevice;
typedef struct VirtQueue VirtQueue;

typedef struct VirtQueueElement {
    uint16_t head;
    unsigned out_num, in_num; /* readable (driver → device), then writable */
    uint64_t out_addr[VIRTQUEUE_MAX_SG];
    uint32_t out_len[VIRTQUEUE_MAX_SG];
    uint64_t in_addr[VIRTQUEUE_MAX_SG];
    uint32_t in_len[VIRTQUEUE_MAX_SG];
    uint64_t out_total, in_total;
} VirtQueueElement;

typedef void (*VirtQueueHandler)(VirtIODevice *vdev, VirtQueue *vq);

struct VirtQueue {
    VirtIODevice *vdev;
    int index;
    uint16_t size; /* set by the driver, at most max_size */
    uint16_t max_size;
    bool enabled;
    uint64_t desc, avail, used;
    uint16_t last_avail_idx;
    uint16_t used_idx;
    /* The used index at the last interrupt decision, when valid (EVENT_IDX). */
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool notification; /* the device wants kicks (virtqueue_set_notification) */
    VirtQueueHandler handler;
};

typedef struct VirtIOStats {
    uint64_t chains;     /* chains popped */
    uint64_t bad_chains; /* malformed rings or chains (device then needs reset) */
    uint64_t interrupts; /* raised (queue and configuration) */
    uint64_t kicks;      /* driver notifications of a queue */
    uint64_t suppressed; /* queue interrupts the driver asked not to get */
} VirtIOStats;

/* What a device model provides. */
typedef struct VirtIODeviceOps {
    uint64_t (*get_features)(VirtIODevice *vdev);
    void (*set_features)(VirtIODevice *vdev, uint64_t features);
    /* device-specific configuration space */
    uint32_t (*config_read)(VirtIODevice *vdev, uint32_t off, int size);
    void (*config_write)(VirtIODevice *vdev, uint32_t off, uint32_t val, int size);
    void (*reset)(VirtIODevice *vdev);
    void (*status_changed)(VirtIODevice *vdev, uint8_t status);
} VirtIODeviceOps;

/* What the transport provides: raising its interrupt (config_change false with the ISR
 * cleared: lowering it). A transport that routes each queue to its own interrupt (MSI-X) also
 * sets VirtIOQueueNotify, which then gets the queues' notifications instead. */
typedef void (*VirtIONotify)(void *opaque, bool config_change);
typedef void (*VirtIOQueueNotify)(void *opaque, int queue);

struct VirtIODevice {
    const char *name;
    uint16_t device_id; /* virtio device type (1: net) */
    const VirtIODeviceOps *ops;
    const DmaSpace *dma;
    uint8_t status;
    uint8_t isr; /* bit 0: used buffers, bit 1: configuration change */
    uint8_t config_generation;
    uint64_t host_features, guest_features;
    int num_queues;
    VirtQueue vq[VIRTIO_QUEUE_MAX]; /* the first num_queues are the device's */
    bool broken;
    VirtIONotify notify;
    VirtIOQueueNotify notify_queue;
    void *notify_opaque;
    VirtIOStats stats;
};

/*
 * The split ring's event index test (virtio 1.x 2.7.7.2): true if event_idx is one of the
 * indexes old..new_idx-1 that were just passed, counted modulo 2^16.
 */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* The transport-independent state (status, ISR, features, every queue's addresses and
 * indexes), for a device's table to nest; its check refuses queue sizes and features the live
 * device does not offer. */
extern const VMStateDescription vmstate_virtio_device;
bool virtio_device_check(const VirtIODevice *loaded, const VirtIODevice *live, GError **errp);
/* For the device's post_load: what the ring logic keeps outside the stream, re-derived. */
void virtio_device_post_load(VirtIODevice *vdev);

void virtio_init(VirtIODevice *vdev, const char *name, uint16_t device_id,
                 const VirtIODeviceOps *ops, const DmaSpace *dma, int num_queues);
void virtio_cleanup(VirtIODevice *vdev);
VirtQueue *virtio_add_queue(VirtIODevice *vdev, int index, uint16_t max_size,
                            VirtQueueHandler handler);
void virtio_reset(VirtIODevice *vdev);
void virtio_set_status(VirtIODevice *vdev, uint8_t status);
/* Driver features acknowledged; false (FEATURES_OK refused) if it asked for unknown ones. */
bool virtio_set_guest_features(VirtIODevice *vdev, uint64_t features);
bool virtio_has_feature(VirtIODevice *vdev, int bit);
/* Offers (or withdraws) a feature before the driver sees the device (a -device property). */
void virtio_offer_feature(VirtIODevice *vdev, int bit, bool on);
void virtio_queue_notify(VirtIODevice *vdev, int index);

/* Marks the device broken (guest error, logged once per cause, counted). */
void virtio_error(VirtIODevice *vdev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Chains ready: true if the driver has made buffers available (and the queue is usable). */
bool virtqueue_ready(VirtQueue *vq);
bool virtqueue_empty(VirtQueue *vq);
/* Chains the driver has made available that the device has not popped yet. */
unsigned virtqueue_avail(VirtQueue *vq);
/* Takes the next chain into *elem; false if none or the chain is bad (device now broken). */
bool virtqueue_pop(VirtQueue *vq, VirtQueueElement *elem);
/*
 * Gives the last count chains popped back to the queue, unused (they will be popped again).
 * With EVENT_IDX and kicks wanted, avail_event may now be past them: a caller that waits for a
 * kick asks for it again (virtqueue_set_notification).
 */
void virtqueue_unpop(VirtQueue *vq, unsigned count);
/* Returns a chain to the driver with len bytes written into its writable part. */
void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len);
/*
 * A push in two steps, for a device that returns several chains as one unit (virtio-net's
 * merged receive buffers): fill writes the used entry idx places past the used index, flush
 * then publishes count entries at once, so that the driver never sees part of the unit.
 */
void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned idx);
void virtqueue_flush(VirtQueue *vq, unsigned count);
/* Interrupts the driver unless it asked not to be (NO_INTERRUPT, or used_event not passed). */
void virtqueue_notify(VirtQueue *vq);
/*
 * Whether the device wants the driver's kicks for this queue: off while it will look at the
 * queue anyway; on, when it goes idle, followed by a fence so that the caller's next look at
 * the avail index (virtqueue_empty) sees what the driver added before it read our request.
 * While on, every pop moves avail_event past the chain taken (EVENT_IDX).
 */
void virtqueue_set_notification(VirtQueue *vq, bool enable);

/* Copies between a chain's buffers and host memory; return bytes copied or -1 (broken). */
int64_t virtqueue_read_out(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset, void *buf,
                           uint64_t len);
int64_t virtqueue_write_in(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset,
                           const void *buf, uint64_t len);

/* Host pointers for len bytes of a chain's out (in=false) or in part from offset, at most max
 * segments: their count, or -1 if some piece is not mappable RAM or max is too small (then
 * copy instead; the device is not broken by it). See dma_map(): a device that stores into the
 * in part through them calls virtqueue_written_in() once done. */
int virtqueue_map(VirtQueue *vq, const VirtQueueElement *elem, bool in, uint64_t offset,
                  uint64_t len, struct iovec *iov, int max);
void virtqueue_written_in(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset,
                          uint64_t len);

#endif
