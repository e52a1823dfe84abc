/* virtio-net (include/hw/virtio/virtio-net.h). */
#include "hw/virtio/virtio-net.h"
#include "hw/core/biglock.h"
#include "net/vnet-hdr.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct VirtIONet {
    VirtIODevice vdev;
    uint8_t mac[6];
    bool link_up;
    VirtIONetPeer peer;
    bool has_peer;
    /* Scratch elements, too big for the stack; one per direction because a peer may deliver
     * a reply (an ARP answer from slirp) from inside the send of a transmitted frame. */
    VirtQueueElement *tx_elem, *rx_elem;
    GPtrArray *rx_more; /* the chains after the first of a merged frame (MRG_RXBUF) */
    uint8_t *txbuf;
    uint8_t *segbuf; /* one TSO segment at a time */
    /*
     * Transmission runs in the main loop, not in the guest's kick (upstream's tx=bh): the kick
     * turns the TX queue's notifications off and schedules tx_source; its flush sends up to
     * tx_burst frames and interrupts once for them. The vCPU does not wait for the host's tap
     * write, and the guest's frames queued meanwhile cost neither a kick nor an interrupt each.
     */
    GSource *tx_source;
    bool tx_waiting;   /* a flush is due (the TX queue's kicks are off meanwhile) */
    bool running;      /* the VM runs: a stopped VM's RAM and rings must not change */
    uint32_t tx_burst; /* frames a flush sends before it lets the main loop run again */
    VirtIONetStats stats;
};

#define RX_QUEUE 0
#define TX_QUEUE 1

static VirtIONet *to_net(VirtIODevice *vdev)
{
    return (VirtIONet *)vdev;
}

static uint64_t net_get_features(VirtIODevice *vdev)
{
    return vdev->host_features;
}

static uint32_t net_config_read(VirtIODevice *vdev, uint32_t off, int size)
{
    VirtIONet *n = to_net(vdev);
    uint8_t cfg[8] = {0};
    memcpy(cfg, n->mac, 6);
    uint16_t status = n->link_up ? VIRTIO_NET_S_LINK_UP : 0;
    cfg[6] = status;
    cfg[7] = status >> 8;
    uint32_t v = 0;
    for (int i = 0; i < size; i++) {
        if (off + i < sizeof(cfg)) {
            v |= (uint32_t)cfg[off + i] << (8 * i);
        }
    }
    return v;
}

static void net_config_write(VirtIODevice *vdev, uint32_t off, uint32_t val, int size)
{
    /* With VERSION_1 the MAC is read-only (changes go through the control queue). */
}

static void tx_emit(void *opaque, const uint8_t *frame, size_t len)
{
    VirtIONet *n = opaque;

    n->peer.send(n->peer.opaque, frame, len);
    n->stats.tx_packets++;
    n->stats.tx_bytes += len;
}

/* One guest frame: its header's offloads done here, then to the peer. */
static void tx_one(VirtIONet *n, VirtQueue *vq, const VirtQueueElement *e)
{
    VirtIODevice *vdev = &n->vdev;
    uint8_t raw[VIRTIO_NET_HDR_LEN];
    NetVnetHdr h;
    size_t len = e->out_total - VIRTIO_NET_HDR_LEN;

    if (virtqueue_read_out(vq, e, 0, raw, sizeof(raw)) < 0 ||
        virtqueue_read_out(vq, e, VIRTIO_NET_HDR_LEN, n->txbuf, len) < 0) {
        return; /* device broken */
    }
    if (!n->has_peer || !n->link_up) {
        n->stats.tx_dropped++;
        return;
    }
    net_vnet_hdr_parse(&h, raw);
    if (!virtio_has_feature(vdev, VIRTIO_NET_F_CSUM)) {
        h.flags = 0;
        h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    } else if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
               !virtio_has_feature(vdev, VIRTIO_NET_F_HOST_TSO4) &&
               !virtio_has_feature(vdev, VIRTIO_NET_F_HOST_TSO6)) {
        n->stats.tx_dropped++;
        return;
    }
    bool needs_work =
        (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
    if (needs_work && n->peer.send_offload &&
        n->peer.send_offload(n->peer.opaque, raw, n->txbuf, len)) {
        n->stats.tx_packets++;
        n->stats.tx_bytes += len;
        n->stats.tx_offloaded++;
        return;
    }
    int frames = net_vnet_hdr_complete(&h, n->txbuf, len, n->segbuf, VIRTIO_NET_MAX_TX, tx_emit, n);
    if (frames < 0) {
        n->stats.tx_dropped++;
    } else if (frames > 1) {
        n->stats.tx_segmented++;
    }
}

/* Sends up to tx_burst frames, one interrupt decision for them all; the number sent. */
static uint32_t tx_send_burst(VirtIONet *n, VirtQueue *vq)
{
    VirtIODevice *vdev = &n->vdev;
    uint32_t sent = 0;

    while (sent < n->tx_burst && virtqueue_pop(vq, n->tx_elem)) {
        VirtQueueElement *e = n->tx_elem;
        if (e->out_total < VIRTIO_NET_HDR_LEN ||
            e->out_total - VIRTIO_NET_HDR_LEN > VIRTIO_NET_MAX_TX) {
            n->stats.tx_dropped++;
        } else {
            tx_one(n, vq, e);
            if (vdev->broken) {
                return sent;
            }
        }
        virtqueue_push(vq, e, 0);
        sent++;
    }
    if (sent) {
        virtqueue_notify(vq);
        n->stats.tx_flushes++;
    }
    return sent;
}

/* The source is ready while a flush is due (tx_source_ready), so scheduling is a flag and a
 * wake-up of the loop; a ready time set from the vCPU woke the loop inside the kick's MMIO
 * write, while the vCPU still held the big lock the loop then had to sleep on. */
static void tx_schedule(VirtIONet *n)
{
    n->tx_waiting = true;
    if (n->running) {
        bql_wake_context(g_source_get_context(n->tx_source));
    }
}

/*
 * The flush: a full burst leaves the kicks off and comes back; a shorter one has emptied the
 * ring, so the kicks go back on and the ring is looked at once more, for chains the driver
 * added while it was not kicking (upstream's virtio_net_tx_bh).
 */
static void tx_flush(VirtIONet *n)
{
    VirtIODevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vq[TX_QUEUE];

    if (!n->running || !n->tx_waiting) {
        return; /* stopped: the flush stays due until the VM runs again */
    }
    n->tx_waiting = false;
    if (vdev->broken || !virtqueue_ready(vq)) {
        return;
    }
    if (tx_send_burst(n, vq) >= n->tx_burst) {
        tx_schedule(n);
        return;
    }
    if (vdev->broken) {
        return;
    }
    virtqueue_set_notification(vq, true);
    if (!virtqueue_empty(vq)) {
        virtqueue_set_notification(vq, false);
        tx_schedule(n);
    }
}

typedef struct TxSource {
    GSource source;
    VirtIONet *n;
} TxSource;

static gboolean tx_source_ready(GSource *source)
{
    VirtIONet *n = ((TxSource *)source)->n;
    return n->running && n->tx_waiting;
}

static gboolean tx_source_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return tx_source_ready(source);
}

static gboolean tx_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    tx_flush(((TxSource *)source)->n);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs tx_source_funcs = {
    .prepare = tx_source_prepare,
    .check = tx_source_ready,
    .dispatch = tx_source_dispatch,
};

static void handle_tx(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIONet *n = to_net(vdev);

    virtqueue_set_notification(vq, false);
    tx_schedule(n);
}

static void handle_rx(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIONet *n = to_net(vdev);
    /* The driver added receive buffers: frames the peer held back (after a refused receive,
     * or because can_receive said no) can come now. */
    if (n->has_peer && n->peer.rx_ready) {
        n->peer.rx_ready(n->peer.opaque);
    }
}

static const VirtIODeviceOps net_ops = {
    .get_features = net_get_features,
    .config_read = net_config_read,
    .config_write = net_config_write,
};

VirtIONet *virtio_net_new(const DmaSpace *dma, const uint8_t mac[6])
{
    VirtIONet *n = g_new0(VirtIONet, 1);
    virtio_init(&n->vdev, "virtio-net", VIRTIO_ID_NET, &net_ops, dma, 2);
    n->vdev.host_features |= (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
                             (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
                             (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
                             (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                             (1ull << VIRTIO_NET_F_MRG_RXBUF);
    virtio_add_queue(&n->vdev, RX_QUEUE, VIRTIO_NET_QUEUE_SIZE, handle_rx);
    virtio_add_queue(&n->vdev, TX_QUEUE, VIRTIO_NET_QUEUE_SIZE, handle_tx);
    memcpy(n->mac, mac, 6);
    n->link_up = true;
    n->tx_elem = g_new0(VirtQueueElement, 1);
    n->rx_elem = g_new0(VirtQueueElement, 1);
    n->rx_more = g_ptr_array_new_with_free_func(g_free);
    n->txbuf = g_malloc(VIRTIO_NET_MAX_TX);
    n->segbuf = g_malloc(VIRTIO_NET_MAX_TX);
    n->running = true;
    n->tx_burst = VIRTIO_NET_TX_BURST;
    n->tx_source = g_source_new(&tx_source_funcs, sizeof(TxSource));
    ((TxSource *)n->tx_source)->n = n;
    g_source_set_name(n->tx_source, "virtio-net-tx");
    g_source_attach(n->tx_source, NULL);
    return n;
}

void virtio_net_free(VirtIONet *n)
{
    if (!n) {
        return;
    }
    g_source_destroy(n->tx_source);
    g_source_unref(n->tx_source);
    virtio_cleanup(&n->vdev);
    g_free(n->tx_elem);
    g_free(n->rx_elem);
    g_ptr_array_free(n->rx_more, true);
    g_free(n->txbuf);
    g_free(n->segbuf);
    g_free(n);
}

VirtIODevice *virtio_net_vdev(VirtIONet *n)
{
    return &n->vdev;
}

void virtio_net_set_peer(VirtIONet *n, const VirtIONetPeer *peer)
{
    n->has_peer = peer != NULL;
    if (peer) {
        n->peer = *peer;
    }
}

void virtio_net_set_running(VirtIONet *n, bool running)
{
    n->running = running;
    if (running && n->tx_waiting) {
        tx_schedule(n);
    }
}

void virtio_net_set_tx_burst(VirtIONet *n, uint32_t burst)
{
    n->tx_burst = MAX(burst, 1);
}

void virtio_net_set_link(VirtIONet *n, bool up)
{
    if (n->link_up == up) {
        return;
    }
    n->link_up = up;
    n->vdev.config_generation++;
    if (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) {
        n->vdev.isr |= 2;
        if (n->vdev.notify) {
            n->vdev.notify(n->vdev.notify_opaque, true);
        }
    }
}

/*
 * Whether the driver has receive buffers posted. While it has, its kicks for more are not
 * wanted (each is a vCPU exit); once they run out the device asks for the next kick and looks
 * again, so that buffers added meanwhile are not missed (upstream's virtio_net_has_buffers).
 */
static bool rx_has_buffers(VirtQueue *vq)
{
    if (virtqueue_empty(vq)) {
        virtqueue_set_notification(vq, true);
        if (virtqueue_empty(vq)) {
            return false;
        }
    }
    if (vq->notification) {
        virtqueue_set_notification(vq, false);
    }
    return true;
}

bool virtio_net_can_receive(VirtIONet *n)
{
    VirtQueue *vq = &n->vdev.vq[RX_QUEUE];
    return n->link_up && virtqueue_ready(vq) && rx_has_buffers(vq);
}

/* The receive scratch element i (0 is rx_elem), allocated when a merged frame first needs it. */
static VirtQueueElement *rx_elem_at(VirtIONet *n, unsigned i)
{
    if (i == 0) {
        return n->rx_elem;
    }
    while (n->rx_more->len < i) {
        g_ptr_array_add(n->rx_more, g_new(VirtQueueElement, 1));
    }
    return g_ptr_array_index(n->rx_more, i - 1);
}

typedef enum RxTake {
    RX_TAKEN,   /* chains popped, enough for the frame */
    RX_WAIT,    /* not enough posted yet: nothing consumed, the driver's next kick is wanted */
    RX_TOO_BIG, /* no buffer the driver posts can hold it: nothing consumed */
    RX_BROKEN,  /* the device is broken now */
} RxTake;

/*
 * Pops the chains that will hold @need bytes (header and frame) into rx_elem_at(0..*count-1):
 * one chain without MRG_RXBUF, as many as it takes with it. With MRG_RXBUF every chain but the
 * last is filled whole, the first must hold the header, and when the driver has not posted
 * enough yet everything popped goes back, so that a frame is never written in part.
 */
static RxTake rx_take(VirtIONet *n, VirtQueue *vq, uint64_t need, unsigned *count)
{
    VirtIODevice *vdev = &n->vdev;
    bool merge = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
    uint64_t have = 0;
    unsigned i = 0, retries = 0;

    *count = 0;
    while (have < need) {
        if (!rx_has_buffers(vq) || !virtqueue_pop(vq, rx_elem_at(n, i))) {
            if (vdev->broken) {
                return RX_BROKEN;
            }
            if (i >= vq->size) {
                /* every chain the ring can hold was posted, and still too little */
                virtqueue_unpop(vq, i);
                return RX_TOO_BIG;
            }
            /*
             * Give the chains back and ask for a kick: the pops may have moved avail_event past
             * them. Chains the driver added before it could see that request are looked for
             * once more after it (the request's fence), as rx_has_buffers() does.
             */
            virtqueue_unpop(vq, i);
            virtqueue_set_notification(vq, true);
            /* a driver's avail index only grows, so this retries at most once per chain; the
             * bound holds one that moves it back and forth to keep the device here */
            if (virtqueue_avail(vq) <= i || ++retries > vq->size) {
                return vdev->broken ? RX_BROKEN : RX_WAIT;
            }
            have = 0;
            i = 0;
            continue;
        }
        VirtQueueElement *e = rx_elem_at(n, i);
        if (merge && e->in_total < (i == 0 ? VIRTIO_NET_HDR_LEN : 1)) {
            virtio_error(vdev, "virtio-net receive buffer %u of a frame too small (%" PRIu64 ")", i,
                         e->in_total);
            return RX_BROKEN;
        }
        have += e->in_total;
        i++;
        if (!merge) {
            break;
        }
    }
    *count = i;
    if (have < need) {
        virtqueue_unpop(vq, i);
        return RX_TOO_BIG;
    }
    return RX_TAKEN;
}

/* Copies stream bytes [off, off+len) of header-then-frame into chain e from its offset eoff. */
static bool rx_write(VirtQueue *vq, const VirtQueueElement *e, uint64_t eoff, const uint8_t *hdr,
                     const uint8_t *buf, uint64_t off, uint64_t len)
{
    if (off < VIRTIO_NET_HDR_LEN) {
        uint64_t h = MIN(len, VIRTIO_NET_HDR_LEN - off);
        if (virtqueue_write_in(vq, e, eoff, hdr + off, h) < 0) {
            return false;
        }
        eoff += h;
        off += h;
        len -= h;
    }
    return len == 0 || virtqueue_write_in(vq, e, eoff, buf + off - VIRTIO_NET_HDR_LEN, len) >= 0;
}

/*
 * Writes header and frame over the @count chains rx_take() popped, sets num_buffers, and
 * publishes them as one unit (the driver reads num_buffers from the first and then expects
 * the others used right behind it); false if the device broke on the way.
 */
static bool rx_deliver(VirtIONet *n, VirtQueue *vq, uint8_t hdr[VIRTIO_NET_HDR_LEN],
                       const uint8_t *buf, size_t len, unsigned count)
{
    uint64_t total = VIRTIO_NET_HDR_LEN + len;
    uint64_t off = 0;

    hdr[10] = count;
    hdr[11] = count >> 8;
    for (unsigned i = 0; i < count; i++) {
        VirtQueueElement *e = rx_elem_at(n, i);
        uint64_t chunk = MIN(e->in_total, total - off);
        if (!rx_write(vq, e, 0, hdr, buf, off, chunk)) {
            return false;
        }
        virtqueue_fill(vq, e, chunk, i);
        off += chunk;
    }
    virtqueue_flush(vq, count);
    if (n->vdev.broken) {
        return false;
    }
    virtqueue_notify(vq);
    n->stats.rx_packets++;
    n->stats.rx_bytes += len;
    if (count > 1) {
        n->stats.rx_merged++;
    }
    return true;
}

ssize_t virtio_net_receive(VirtIONet *n, const uint8_t *buf, size_t len)
{
    VirtQueue *vq = &n->vdev.vq[RX_QUEUE];
    unsigned count;

    if (!n->link_up || len > VIRTIO_NET_MAX_FRAME || n->vdev.broken) {
        n->stats.rx_dropped++;
        return -1;
    }
    if (!virtqueue_ready(vq)) {
        /* the driver is not up (yet): nothing will ever take this frame */
        n->stats.rx_dropped++;
        return -1;
    }
    switch (rx_take(n, vq, VIRTIO_NET_HDR_LEN + len, &count)) {
    case RX_TAKEN:
        break;
    case RX_WAIT:
        n->stats.rx_no_buffer++;
        return 0;
    case RX_TOO_BIG:
        if (count == 1 && !virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF)) {
            /* a buffer too small for the frame: return it empty (7.2 does too) */
            virtqueue_pop(vq, n->rx_elem);
            virtqueue_push(vq, n->rx_elem, 0);
            virtqueue_notify(vq);
        }
        n->stats.rx_dropped++;
        return -1;
    case RX_BROKEN:
        n->stats.rx_dropped++;
        return -1;
    }
    /* gso none, lengths 0; a checksum verified here is not verified again */
    uint8_t hdr[VIRTIO_NET_HDR_LEN] = {0};
    if (virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_CSUM) && net_frame_csum_ok(buf, len)) {
        hdr[0] = VIRTIO_NET_HDR_F_DATA_VALID;
        n->stats.rx_csum_verified++;
    }
    if (!rx_deliver(n, vq, hdr, buf, len, count)) {
        n->stats.rx_dropped++;
        return -1;
    }
    return len;
}

ssize_t virtio_net_receive_offload(VirtIONet *n, const uint8_t *hdr, const uint8_t *buf, size_t len)
{
    VirtIODevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vq[RX_QUEUE];
    NetVnetHdr h;
    int feature;
    unsigned count;

    net_vnet_hdr_parse(&h, hdr);
    switch (h.gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        feature = VIRTIO_NET_F_GUEST_CSUM;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        feature = VIRTIO_NET_F_GUEST_TSO4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        feature = VIRTIO_NET_F_GUEST_TSO6;
        break;
    default:
        return 0; /* ECN and UDP offloads are not offered */
    }
    if (!n->link_up || len > VIRTIO_NET_MAX_TX || vdev->broken || !virtqueue_ready(vq) ||
        !virtio_has_feature(vdev, feature) ||
        ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
         !virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))) {
        return 0;
    }
    switch (rx_take(n, vq, VIRTIO_NET_HDR_LEN + len, &count)) {
    case RX_TAKEN:
        break;
    case RX_BROKEN:
        n->stats.rx_dropped++;
        return len; /* the device is broken: the frame is gone, counted */
    default:
        return 0; /* not taken: the caller completes it into frames that fit or wait */
    }
    uint8_t out[VIRTIO_NET_HDR_LEN];
    memcpy(out, hdr, 10);
    if (!rx_deliver(n, vq, out, buf, len, count)) {
        n->stats.rx_dropped++;
        return len; /* the device is broken now: the frame is gone, counted */
    }
    n->stats.rx_offloaded++;
    return len;
}

void virtio_net_get_stats(VirtIONet *n, VirtIONetStats *out)
{
    *out = n->stats;
}

bool virtio_net_parse_mac(const char *str, uint8_t mac[6])
{
    unsigned v[6];
    char extra;
    if (!str || strlen(str) != 17 ||
        sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &extra) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (str[i * 3] == ' ' || str[i * 3] == '+' || str[i * 3] == '-') {
            return false;
        }
        mac[i] = v[i];
    }
    return true;
}

/* --- state ------------------------------------------------------------------------------ */

static bool net_state_check(const void *scratch, const void *live, int version, GError **errp)
{
    return virtio_device_check(&((const VirtIONet *)scratch)->vdev,
                               &((const VirtIONet *)live)->vdev, errp);
}

/*
 * A loaded device may have receive buffers the peer never heard of (on a migration's
 * destination it stopped offering frames while the driver was not up): wake it. A flush that
 * was due when the state was saved is not in the stream; its chains are, past the saved
 * last_avail_idx, and the TX kicks may have been off in the rings: a flush is due after every
 * load (it runs once the VM does), which sends them and asks for kicks again.
 */
static void net_post_load(void *opaque, int version)
{
    VirtIONet *n = opaque;
    virtio_device_post_load(&n->vdev);
    handle_rx(&n->vdev, NULL);
    tx_schedule(n);
}

/* The MAC is config space the driver may have written; link state follows the peer. */
const VMStateDescription vmstate_virtio_net = {
    .name = "virtio-net",
    .version = 1,
    .size = sizeof(VirtIONet),
    .check = net_state_check,
    .post_load = net_post_load,
    .fields =
        (const VMStateField[]){VMSTATE_STRUCT(VirtIONet, vdev, VirtIODevice, vmstate_virtio_device),
                               VMSTATE_BUFFER(VirtIONet, mac), VMSTATE_BOOL(VirtIONet, link_up),
                               VMSTATE_END},
};
