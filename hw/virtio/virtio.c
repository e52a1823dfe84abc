/* Virtio device core and split virtqueues (include/hw/virtio/virtio.h). */
#include "hw/virtio/virtio.h"
#include "util/log.h"

#include <stdarg.h>
#include <string.h>

#define DESC_SIZE 16

typedef struct VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;

void virtio_init(VirtIODevice *vdev, const char *name, uint16_t device_id,
                 const VirtIODeviceOps *ops, const DmaSpace *dma, int num_queues)
{
    vdev->name = name;
    vdev->device_id = device_id;
    vdev->ops = ops;
    vdev->dma = dma;
    g_assert(num_queues <= VIRTIO_QUEUE_MAX);
    vdev->num_queues = num_queues;
    /* Indirect tables let a driver post big buffers without eating the ring (virtio-net's
     * big-packet mode uses 18 descriptors per buffer otherwise). */
    vdev->host_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                          (1ull << VIRTIO_RING_F_EVENT_IDX);
    for (int i = 0; i < num_queues; i++) {
        vdev->vq[i].vdev = vdev;
        vdev->vq[i].index = i;
        vdev->vq[i].notification = true;
    }
}

void virtio_cleanup(VirtIODevice *vdev)
{
}

VirtQueue *virtio_add_queue(VirtIODevice *vdev, int index, uint16_t max_size,
                            VirtQueueHandler handler)
{
    g_assert(index < vdev->num_queues && max_size <= VIRTQUEUE_MAX_SIZE);
    VirtQueue *vq = &vdev->vq[index];
    vq->max_size = max_size;
    vq->size = max_size;
    vq->handler = handler;
    return vq;
}

TRACE_POINT(trace_virtio_notify, "virtio_notify");
TRACE_POINT(trace_virtio_queue_notify, "virtio_queue_notify");

/* queue: the queue whose used buffers the interrupt is for, -1 for a configuration change */
static void raise_irq(VirtIODevice *vdev, uint8_t isr_bit, int queue)
{
    vdev->isr |= isr_bit;
    vdev->stats.interrupts++;
    if (queue >= 0 && vdev->notify_queue) {
        vdev->notify_queue(vdev->notify_opaque, queue);
    } else if (vdev->notify) {
        vdev->notify(vdev->notify_opaque, isr_bit & 2);
    }
}

void virtio_error(VirtIODevice *vdev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vdev->stats.bad_chains++;
    qemu_log_mask(LOG_GUEST_ERROR, "%s: %s (device needs reset)\n", vdev->name, msg);
    if (vdev->broken) {
        return;
    }
    vdev->broken = true;
    /* virtio 1.x 2.1.2: signal NEEDS_RESET with a configuration change interrupt */
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    raise_irq(vdev, 2, -1);
}

void virtio_reset(VirtIODevice *vdev)
{
    vdev->status = 0;
    vdev->isr = 0;
    vdev->guest_features = 0;
    vdev->broken = false;
    for (int i = 0; i < vdev->num_queues; i++) {
        VirtQueue *vq = &vdev->vq[i];
        vq->size = vq->max_size;
        vq->enabled = false;
        vq->desc = vq->avail = vq->used = 0;
        vq->last_avail_idx = vq->used_idx = 0;
        vq->signalled_used_valid = false;
        vq->notification = true;
    }
    if (vdev->ops->reset) {
        vdev->ops->reset(vdev);
    }
    if (vdev->notify) {
        vdev->notify(vdev->notify_opaque, false); /* lets the transport lower its line */
    }
}

void virtio_set_status(VirtIODevice *vdev, uint8_t status)
{
    if (status == 0) {
        virtio_reset(vdev);
        return;
    }
    /* NEEDS_RESET is the device's to set; keep it while broken */
    status = (status & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
    vdev->status = status;
    if (vdev->ops->status_changed) {
        vdev->ops->status_changed(vdev, status);
    }
}

bool virtio_set_guest_features(VirtIODevice *vdev, uint64_t features)
{
    if (features & ~vdev->host_features) {
        return false;
    }
    vdev->guest_features = features;
    if (vdev->ops->set_features) {
        vdev->ops->set_features(vdev, features);
    }
    return true;
}

bool virtio_has_feature(VirtIODevice *vdev, int bit)
{
    return vdev->guest_features & (1ull << bit);
}

void virtio_offer_feature(VirtIODevice *vdev, int bit, bool on)
{
    if (on) {
        vdev->host_features |= 1ull << bit;
    } else {
        vdev->host_features &= ~(1ull << bit);
    }
}

void virtio_queue_notify(VirtIODevice *vdev, int index)
{
    if (index < 0 || index >= vdev->num_queues) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: notify of queue %d that does not exist\n", vdev->name,
                      index);
        return;
    }
    VirtQueue *vq = &vdev->vq[index];
    vdev->stats.kicks++;
    trace_fire(trace_virtio_queue_notify, "vdev %s n %d", vdev->name, index);
    if (vq->handler && !vdev->broken && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        vq->handler(vdev, vq);
    }
}

/* --- ring access ------------------------------------------------------------------------ */

static bool ring_read16(VirtQueue *vq, uint64_t gpa, uint16_t *out)
{
    uint8_t b[2];
    if (!dma_read(vq->vdev->dma, gpa, b, 2)) {
        virtio_error(vq->vdev, "queue %d: ring at 0x%" G_GINT64_MODIFIER "x outside RAM", vq->index,
                     gpa);
        return false;
    }
    *out = b[0] | (b[1] << 8);
    return true;
}

static bool ring_write16(VirtQueue *vq, uint64_t gpa, uint16_t v)
{
    uint8_t b[2] = {v & 0xff, v >> 8};
    if (!dma_write(vq->vdev->dma, gpa, b, 2)) {
        virtio_error(vq->vdev, "queue %d: used ring outside RAM", vq->index);
        return false;
    }
    return true;
}

/* The event fields follow each ring's entries. */
static uint64_t used_event_addr(VirtQueue *vq)
{
    return vq->avail + 4 + 2 * (uint64_t)vq->size;
}

static uint64_t avail_event_addr(VirtQueue *vq)
{
    return vq->used + 4 + 8 * (uint64_t)vq->size;
}

static bool read_desc(VirtQueue *vq, uint64_t table, unsigned i, VringDesc *d)
{
    uint8_t b[DESC_SIZE];
    if (!dma_read(vq->vdev->dma, table + (uint64_t)i * DESC_SIZE, b, DESC_SIZE)) {
        virtio_error(vq->vdev, "queue %d: descriptor table outside RAM", vq->index);
        return false;
    }
    uint64_t addr;
    memcpy(&addr, b, 8);
    d->addr = GUINT64_FROM_LE(addr);
    d->len = b[8] | (b[9] << 8) | (b[10] << 16) | ((uint32_t)b[11] << 24);
    d->flags = b[12] | (b[13] << 8);
    d->next = b[14] | (b[15] << 8);
    return true;
}

bool virtqueue_ready(VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    return !vdev->broken && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vq->enabled && vq->size &&
           vq->desc;
}

/*
 * Ready, and each ring wholly below 2^64: a ring whose end wraps would alias low guest RAM
 * (upstream's mapping of such a ring fails), so it is a guest error like a ring outside RAM.
 */
static bool queue_usable(VirtQueue *vq)
{
    if (!virtqueue_ready(vq)) {
        return false;
    }
    uint64_t n = vq->size;
    if (vq->desc + DESC_SIZE * n < vq->desc || vq->avail + 6 + 2 * n < vq->avail ||
        vq->used + 6 + 8 * n < vq->used) {
        virtio_error(vq->vdev, "queue %d: ring wraps the address space", vq->index);
        return false;
    }
    return true;
}

unsigned virtqueue_avail(VirtQueue *vq)
{
    uint16_t idx;
    if (!queue_usable(vq) || !ring_read16(vq, vq->avail + 2, &idx)) {
        return 0;
    }
    return (uint16_t)(idx - vq->last_avail_idx);
}

bool virtqueue_empty(VirtQueue *vq)
{
    return virtqueue_avail(vq) == 0;
}

/* Adds one buffer to the element; false (device broken) if the chain breaks a rule. */
static bool add_buffer(VirtQueue *vq, VirtQueueElement *e, const VringDesc *d)
{
    if (e->out_num + e->in_num >= VIRTQUEUE_MAX_SG) {
        virtio_error(vq->vdev, "queue %d: chain longer than %d buffers", vq->index,
                     VIRTQUEUE_MAX_SG);
        return false;
    }
    if (d->len && d->addr + d->len < d->addr) {
        virtio_error(vq->vdev, "queue %d: buffer wraps the address space", vq->index);
        return false;
    }
    if (d->flags & VRING_DESC_F_WRITE) {
        e->in_addr[e->in_num] = d->addr;
        e->in_len[e->in_num++] = d->len;
        e->in_total += d->len;
    } else {
        if (e->in_num) {
            virtio_error(vq->vdev, "queue %d: readable descriptor after a writable one", vq->index);
            return false;
        }
        e->out_addr[e->out_num] = d->addr;
        e->out_len[e->out_num++] = d->len;
        e->out_total += d->len;
    }
    return true;
}

static bool walk_indirect(VirtQueue *vq, VirtQueueElement *e, const VringDesc *id)
{
    if (id->len == 0 || id->len % DESC_SIZE || id->len / DESC_SIZE > VIRTQUEUE_MAX_SG) {
        virtio_error(vq->vdev, "queue %d: indirect table of %u bytes", vq->index, id->len);
        return false;
    }
    if (id->flags & VRING_DESC_F_NEXT) {
        virtio_error(vq->vdev, "queue %d: indirect descriptor with NEXT set", vq->index);
        return false;
    }
    unsigned max = id->len / DESC_SIZE;
    unsigned i = 0;
    for (unsigned n = 0;; n++) {
        VringDesc d;
        if (n >= max) {
            virtio_error(vq->vdev, "queue %d: loop in indirect table", vq->index);
            return false;
        }
        if (!read_desc(vq, id->addr, i, &d)) {
            return false;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            virtio_error(vq->vdev, "queue %d: nested indirect table", vq->index);
            return false;
        }
        if (!add_buffer(vq, e, &d)) {
            return false;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            return true;
        }
        if (d.next >= max) {
            virtio_error(vq->vdev, "queue %d: indirect next %u out of range", vq->index, d.next);
            return false;
        }
        i = d.next;
    }
}

bool virtqueue_pop(VirtQueue *vq, VirtQueueElement *e)
{
    uint16_t avail_idx, head;
    if (!queue_usable(vq) || !ring_read16(vq, vq->avail + 2, &avail_idx)) {
        return false;
    }
    if (avail_idx == vq->last_avail_idx) {
        return false;
    }
    if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size) {
        virtio_error(vq->vdev, "queue %d: avail index %u is %u ahead of %u (size %u)", vq->index,
                     avail_idx, (uint16_t)(avail_idx - vq->last_avail_idx), vq->last_avail_idx,
                     vq->size);
        return false;
    }
    /* read the ring entry only after the index that published it */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!ring_read16(vq, vq->avail + 4 + 2 * (uint64_t)(vq->last_avail_idx % vq->size), &head)) {
        return false;
    }
    if (head >= vq->size) {
        virtio_error(vq->vdev, "queue %d: head %u out of range (size %u)", vq->index, head,
                     vq->size);
        return false;
    }
    e->head = head;
    e->out_num = e->in_num = 0;
    e->out_total = e->in_total = 0;
    unsigned i = head;
    for (unsigned n = 0;; n++) {
        VringDesc d;
        if (n >= vq->size) {
            virtio_error(vq->vdev, "queue %d: loop in descriptor chain from %u", vq->index, head);
            return false;
        }
        if (!read_desc(vq, vq->desc, i, &d)) {
            return false;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (n != 0 || (d.flags & VRING_DESC_F_NEXT)) {
                virtio_error(vq->vdev, "queue %d: indirect descriptor inside a chain", vq->index);
                return false;
            }
            if (!walk_indirect(vq, e, &d)) {
                return false;
            }
            break;
        }
        if (!add_buffer(vq, e, &d)) {
            return false;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            break;
        }
        if (d.next >= vq->size) {
            virtio_error(vq->vdev, "queue %d: next %u out of range (size %u)", vq->index, d.next,
                         vq->size);
            return false;
        }
        i = d.next;
    }
    vq->last_avail_idx++;
    vq->vdev->stats.chains++;
    if (vq->notification && virtio_has_feature(vq->vdev, VIRTIO_RING_F_EVENT_IDX)) {
        /* the next chain the driver adds is one the device has not seen: kick for it */
        ring_write16(vq, avail_event_addr(vq), vq->last_avail_idx);
    }
    return true;
}

void virtqueue_unpop(VirtQueue *vq, unsigned count)
{
    vq->last_avail_idx -= count;
    vq->vdev->stats.chains -= count;
}

void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned idx)
{
    VirtIODevice *vdev = vq->vdev;
    uint8_t ent[8];
    uint32_t id = elem->head;
    for (int i = 0; i < 4; i++) {
        ent[i] = id >> (8 * i);
        ent[4 + i] = len >> (8 * i);
    }
    uint16_t at = vq->used_idx + idx;
    uint64_t slot = vq->used + 4 + 8 * (uint64_t)(at % vq->size);
    if (!dma_write(vdev->dma, slot, ent, sizeof(ent))) {
        virtio_error(vdev, "queue %d: used ring outside RAM", vq->index);
    }
}

void virtqueue_flush(VirtQueue *vq, unsigned count)
{
    if (vq->vdev->broken) {
        return;
    }
    vq->used_idx += count;
    /* the entries must be visible before the index that publishes them */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ring_write16(vq, vq->used + 2, vq->used_idx);
}

void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len)
{
    virtqueue_fill(vq, elem, len, 0);
    virtqueue_flush(vq, 1);
}

/* Whether the driver wants an interrupt for what was pushed since the last decision. */
static bool should_notify(VirtQueue *vq)
{
    uint16_t v;
    if (!virtio_has_feature(vq->vdev, VIRTIO_RING_F_EVENT_IDX)) {
        return ring_read16(vq, vq->avail, &v) && !(v & VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (!ring_read16(vq, used_event_addr(vq), &v)) {
        return false;
    }
    bool known = vq->signalled_used_valid;
    uint16_t old = vq->signalled_used;
    vq->signalled_used = vq->used_idx;
    vq->signalled_used_valid = true;
    /* unknown (after a reset or a load): one interrupt too many rather than one lost */
    return !known || vring_need_event(v, vq->used_idx, old);
}

void virtqueue_notify(VirtQueue *vq)
{
    /*
     * The used index stored by virtqueue_push must be visible before the driver's flags or
     * used_event are read, as the driver's "write them, then read the used index" needs from
     * the other side (virtio 1.x 2.7.7.2). The vCPU runs the driver on another thread: without
     * this fence both loads could see the old values, and the interrupt for the last buffers
     * could be lost.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!should_notify(vq)) {
        vq->vdev->stats.suppressed++;
        return;
    }
    trace_fire(trace_virtio_notify, "vdev %s vq %d", vq->vdev->name, vq->index);
    raise_irq(vq->vdev, 1, vq->index);
}

void virtqueue_set_notification(VirtQueue *vq, bool enable)
{
    vq->notification = enable;
    if (!queue_usable(vq)) {
        return;
    }
    if (virtio_has_feature(vq->vdev, VIRTIO_RING_F_EVENT_IDX)) {
        /* Off: avail_event stays where it is, so the driver kicks at most once more. */
        uint16_t idx;
        if (enable && ring_read16(vq, vq->avail + 2, &idx)) {
            ring_write16(vq, avail_event_addr(vq), idx);
        }
    } else {
        uint16_t flags;
        if (!ring_read16(vq, vq->used, &flags)) {
            return;
        }
        uint16_t want = enable ? flags & ~VRING_USED_F_NO_NOTIFY : flags | VRING_USED_F_NO_NOTIFY;
        if (want != flags) {
            ring_write16(vq, vq->used, want);
        }
    }
    if (enable) {
        /* our request before the caller's next read of the avail index (the driver: its avail
         * index before its read of our request) */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

/* Calls fn on each guest piece of [offset, offset+len) of a chain part, in order, with how
 * many bytes came before it; stops at the first false. Returns the bytes walked, or -1. */
typedef bool SgPieceFn(VirtQueue *vq, void *ctx, uint64_t gpa, uint64_t n, uint64_t done);

static int64_t walk_sg(VirtQueue *vq, unsigned num, const uint64_t *addr, const uint32_t *lens,
                       uint64_t offset, uint64_t len, SgPieceFn *fn, void *ctx)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < num && done < len; i++) {
        if (offset >= lens[i]) {
            offset -= lens[i];
            continue;
        }
        uint64_t n = MIN(lens[i] - offset, len - done);
        if (!fn(vq, ctx, addr[i] + offset, n, done)) {
            return -1;
        }
        done += n;
        offset = 0;
    }
    return done;
}

typedef struct CopyCtx {
    uint8_t *buf;
    bool to_guest;
} CopyCtx;

static bool copy_piece(VirtQueue *vq, void *opaque, uint64_t gpa, uint64_t n, uint64_t done)
{
    CopyCtx *c = opaque;
    bool ok = c->to_guest ? dma_write(vq->vdev->dma, gpa, c->buf + done, n)
                          : dma_read(vq->vdev->dma, gpa, c->buf + done, n);
    if (!ok) {
        virtio_error(vq->vdev,
                     "queue %d: buffer 0x%" G_GINT64_MODIFIER "x+%" G_GUINT64_FORMAT " outside RAM",
                     vq->index, gpa, n);
    }
    return ok;
}

static int64_t copy_sg(VirtQueue *vq, unsigned num, const uint64_t *addr, const uint32_t *lens,
                       uint64_t offset, void *buf, uint64_t len, bool to_guest)
{
    CopyCtx c = {buf, to_guest};
    return walk_sg(vq, num, addr, lens, offset, len, copy_piece, &c);
}

int64_t virtqueue_read_out(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset, void *buf,
                           uint64_t len)
{
    return copy_sg(vq, elem->out_num, elem->out_addr, elem->out_len, offset, buf, len, false);
}

int64_t virtqueue_write_in(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset,
                           const void *buf, uint64_t len)
{
    return copy_sg(vq, elem->in_num, elem->in_addr, elem->in_len, offset, (void *)buf, len, true);
}

typedef struct MapCtx {
    struct iovec *iov;
    int count, max;
} MapCtx;

static bool map_piece(VirtQueue *vq, void *opaque, uint64_t gpa, uint64_t n, uint64_t done)
{
    MapCtx *m = opaque;
    void *host = m->count < m->max ? dma_map(vq->vdev->dma, gpa, n) : NULL;
    if (!host) {
        return false;
    }
    m->iov[m->count++] = (struct iovec){host, n};
    return true;
}

int virtqueue_map(VirtQueue *vq, const VirtQueueElement *elem, bool in, uint64_t offset,
                  uint64_t len, struct iovec *iov, int max)
{
    MapCtx m = {iov, 0, max};
    int64_t got =
        in ? walk_sg(vq, elem->in_num, elem->in_addr, elem->in_len, offset, len, map_piece, &m)
           : walk_sg(vq, elem->out_num, elem->out_addr, elem->out_len, offset, len, map_piece, &m);
    return got == (int64_t)len ? m.count : -1;
}

static bool mark_piece(VirtQueue *vq, void *opaque, uint64_t gpa, uint64_t n, uint64_t done)
{
    dma_written(vq->vdev->dma, gpa, n);
    return true;
}

void virtqueue_written_in(VirtQueue *vq, const VirtQueueElement *elem, uint64_t offset,
                          uint64_t len)
{
    walk_sg(vq, elem->in_num, elem->in_addr, elem->in_len, offset, len, mark_piece, NULL);
}

/* --- state ------------------------------------------------------------------------------ */

static const VMStateDescription vmstate_virtqueue = {
    .name = "virtqueue",
    .version = 1,
    .size = sizeof(VirtQueue),
    .fields =
        (const VMStateField[]){VMSTATE_U16(VirtQueue, size), VMSTATE_BOOL(VirtQueue, enabled),
                               VMSTATE_U64(VirtQueue, desc), VMSTATE_U64(VirtQueue, avail),
                               VMSTATE_U64(VirtQueue, used), VMSTATE_U16(VirtQueue, last_avail_idx),
                               VMSTATE_U16(VirtQueue, used_idx), VMSTATE_END},
};

/* Chains are taken and returned within one notification, so nothing is in flight between
 * them: the rings in guest RAM plus these indexes are the whole queue. */
const VMStateDescription vmstate_virtio_device = {
    .name = "virtio-device",
    .version = 1,
    .size = sizeof(VirtIODevice),
    .fields =
        (const VMStateField[]){
            VMSTATE_U8(VirtIODevice, status), VMSTATE_U8(VirtIODevice, isr),
            VMSTATE_U8(VirtIODevice, config_generation), VMSTATE_U64(VirtIODevice, guest_features),
            VMSTATE_BOOL(VirtIODevice, broken),
            VMSTATE_STRUCT_ARRAY(VirtIODevice, vq, VirtQueue, vmstate_virtqueue), VMSTATE_END},
};

void virtio_device_post_load(VirtIODevice *vdev)
{
    for (int i = 0; i < VIRTIO_QUEUE_MAX; i++) {
        /* as 7.2: the last interrupt decision is not in the stream; the next push interrupts */
        vdev->vq[i].signalled_used_valid = false;
        /* kicks wanted until the device says otherwise: a kick too many, never one missing */
        vdev->vq[i].notification = true;
    }
}

bool virtio_device_check(const VirtIODevice *loaded, const VirtIODevice *live, GError **errp)
{
    if (loaded->guest_features & ~live->host_features) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "features 0x%" G_GINT64_MODIFIER "x not offered by this device",
                    loaded->guest_features & ~live->host_features);
        return false;
    }
    for (int i = 0; i < VIRTIO_QUEUE_MAX; i++) {
        const VirtQueue *vq = &loaded->vq[i];
        uint16_t max = i < live->num_queues ? live->vq[i].max_size : 0;
        if (vq->size > max || (vq->size & (vq->size - 1))) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "queue %d: size %u (this device takes a power of two up to %u)", i,
                        vq->size, max);
            return false;
        }
    }
    return true;
}
