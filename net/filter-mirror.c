/*
 * filter-mirror and filter-redirector: packets to and from chardevs, framed as upstream frames
 * them (include/net/frame.h), so that they interoperate with upstream QEMU's filters and with
 * colo-compare.
 *
 *   filter-mirror:     packet --copy--> outdev (frame)        packet goes on
 *   filter-redirector: packet --------> outdev (frame)        packet taken off the path
 *                      indev (frames) --> injected after this filter (tx: toward the NIC,
 *                                         rx: toward the netdev, all: both)
 *
 * The redirector's input survives its peer going away and coming back: a frame cut by the
 * disconnect is counted as dropped and the reader starts clean on the next connection.
 *
 * While its outdev has no peer the redirector holds what it would send (upstream drops it) and
 * lets it through when it is switched off: on a COLO secondary whose primary died, the guest's
 * frames between the death and the failover then reach the client at the failover instead of
 * costing each TCP connection a retransmission timeout. A checkpoint, or the peer coming back,
 * drops them: they belong to a state that is gone.
 *
 *   outdev connected --write--> peer      outdev without peer --hold--> [held] --status off--> on
 */
#include "chardev/char.h"
#include "net/filter.h"
#include "net/frame.h"
#include "util/error.h"
#include <string.h>

#define FILTER_MIRROR(obj) G_TYPE_CHECK_INSTANCE_CAST((obj), filter_mirror_get_type(), MirrorState)
#define FILTER_REDIRECTOR(obj)                                                                     \
    G_TYPE_CHECK_INSTANCE_CAST((obj), filter_redirector_get_type(), MirrorState)

/* One state for both types: they differ in which end they use and in what they return. */
typedef struct MirrorState {
    NetFilter parent;
    char *indev;
    char *outdev;
    gboolean vnet_hdr;
    CharFrontend *chr_in;
    CharFrontend *chr_out;
    NetFrameReader reader;
    bool reader_ready;
    GByteArray *out;          /* frames not yet written: one, or a batch's worth */
    guint out_frames;         /* frames in out */
    guint64 reader_lost_seen; /* reader drops already added to the filter's count */
    bool congested;           /* an injected packet is waiting in a queue: stop reading */
    guint congestion_timer;
    GQueue held; /* of HeldFrame: what outdev could not take, for want of a peer */
} MirrorState;

/* A frame the redirector holds; from_netdev: it came from the netdev, not from its peer. */
typedef struct HeldFrame {
    bool from_netdev;
    unsigned flags;
    GBytes *data;
} HeldFrame;

/* The most frames held; older ones are dropped past it. */
#define REDIRECTOR_HELD_MAX 256

typedef struct MirrorStateClass {
    NetFilterClass parent_class;
} MirrorStateClass;

typedef MirrorState FilterMirror;
typedef MirrorStateClass FilterMirrorClass;
typedef MirrorState FilterRedirector;
typedef MirrorStateClass FilterRedirectorClass;

enum { PROP_0, PROP_INDEV, PROP_OUTDEV, PROP_VNET_HDR };

G_DEFINE_TYPE(FilterMirror, filter_mirror, TYPE_NETFILTER)
G_DEFINE_TYPE(FilterRedirector, filter_redirector, TYPE_NETFILTER)

/* Bytes of gathered output that make a batch write at once rather than at the batch's end. */
#define MIRROR_BATCH_MAX (256 * 1024)

static void append_frame(MirrorState *s, const struct iovec *iov, int iovcnt)
{
    NetClientState *nd = net_filter_netdev(NET_FILTER(s));
    size_t size = iov_size(iov, iovcnt);
    guint8 hdr[NET_FRAME_HDR_MAX];
    guint hlen = net_frame_header(hdr, size, s->vnet_hdr, nd ? nd->vnet_hdr_len : 0);
    guint old = s->out->len;

    g_byte_array_set_size(s->out, old + hlen + size);
    memcpy(s->out->data + old, hdr, hlen);
    iov_to_buf(iov, iovcnt, 0, s->out->data + old + hlen, size);
    s->out_frames++;
}

/* Writes what was gathered; false (and the frames counted as dropped) if the chardev refused. */
static bool flush_out(MirrorState *s)
{
    bool ok = true;

    if (s->out->len) {
        ok = char_fe_write_all(s->chr_out, s->out->data, s->out->len) == (int)s->out->len;
        if (!ok) {
            net_filter_stats(NET_FILTER(s))->dropped += s->out_frames;
        }
    }
    g_byte_array_set_size(s->out, 0);
    s->out_frames = 0;
    return ok;
}

static void batch_flush(void *opaque)
{
    MirrorState *s = opaque;
    bool redirector = G_TYPE_CHECK_INSTANCE_TYPE(s, filter_redirector_get_type());

    if (s->chr_out && !flush_out(s)) {
        /* Upstream reports the raw -1 as an errno, hence its fixed reason. */
        error_report("filter %s send failed(%s)", redirector ? "redirector" : "mirror",
                     g_strerror(1));
    }
}

/*
 * Sends one frame to outdev: at once, or at the end of the current batch. Returns false if an
 * immediate write failed.
 */
static bool send_frame(MirrorState *s, const struct iovec *iov, int iovcnt)
{
    append_frame(s, iov, iovcnt);
    if (net_batch_active() && s->out->len < MIRROR_BATCH_MAX) {
        net_batch_defer(batch_flush, s);
        return true;
    }
    return flush_out(s);
}

/* ---- filter-mirror ---- */

static ssize_t mirror_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    MirrorState *s = FILTER_MIRROR(nf);

    if (iov_size(iov, iovcnt) && !send_frame(s, iov, iovcnt)) {
        /* Upstream reports the raw -1 as an errno, hence its fixed reason. */
        error_report("filter mirror send failed(%s)", g_strerror(1));
    }
    return 0;
}

static gboolean mirror_setup(NetFilter *nf, GError **errp)
{
    MirrorState *s = FILTER_MIRROR(nf);
    Chardev *chr;

    if (!s->outdev) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "filter-mirror parameter 'outdev' cannot be empty");
        return FALSE;
    }
    chr = chardev_find(s->outdev);
    if (!chr) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", s->outdev);
        return FALSE;
    }
    s->chr_out = char_fe_new(chr, errp);
    return s->chr_out != NULL;
}

static void mirror_cleanup(NetFilter *nf)
{
    MirrorState *s = (MirrorState *)nf;

    if (s->chr_out) {
        batch_flush(s);
    }
    net_batch_cancel(s);
    if (s->congestion_timer) {
        g_source_remove(s->congestion_timer);
        s->congestion_timer = 0;
    }
    s->congested = false;
    g_clear_pointer(&s->chr_out, char_fe_free);
    g_clear_pointer(&s->chr_in, char_fe_free);
    if (s->reader_ready) {
        net_frame_reader_destroy(&s->reader);
        s->reader_ready = false;
    }
}

/* ---- filter-redirector ---- */

static void held_frame_free(gpointer p)
{
    HeldFrame *h = p;

    g_bytes_unref(h->data);
    g_free(h);
}

static void redirector_drop_held(MirrorState *s)
{
    net_filter_stats(NET_FILTER(s))->dropped += g_queue_get_length(&s->held);
    g_queue_clear_full(&s->held, held_frame_free);
}

static void redirector_hold(MirrorState *s, NetClientState *sender, unsigned flags,
                            const struct iovec *iov, int iovcnt)
{
    NetClientState *nd = net_filter_netdev(NET_FILTER(s));
    size_t size = iov_size(iov, iovcnt);
    guint8 *buf = g_malloc(MAX(size, 1));
    HeldFrame *h = g_new0(HeldFrame, 1);

    iov_to_buf(iov, iovcnt, 0, buf, size);
    h->from_netdev = sender == nd;
    h->flags = flags;
    h->data = g_bytes_new_take(buf, size);
    if (g_queue_get_length(&s->held) >= REDIRECTOR_HELD_MAX) {
        held_frame_free(g_queue_pop_head(&s->held));
        net_filter_stats(NET_FILTER(s))->dropped++;
    }
    g_queue_push_tail(&s->held, h);
}

/* Switched off: what was held goes on along the path, in order. */
static void redirector_release_held(MirrorState *s)
{
    NetFilter *nf = NET_FILTER(s);
    NetClientState *nd = net_filter_netdev(nf);
    HeldFrame *h;

    while ((h = g_queue_pop_head(&s->held))) {
        NetClientState *sender = h->from_netdev ? nd : nd ? nd->peer : NULL;
        gsize len;
        struct iovec iov = {.iov_base = (void *)g_bytes_get_data(h->data, &len)};

        iov.iov_len = len;
        if (sender) {
            net_filter_pass_to_next(nf, sender, h->flags, &iov, 1);
        } else {
            net_filter_stats(nf)->dropped++;
        }
        held_frame_free(h);
    }
}

static ssize_t redirector_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                      const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    MirrorState *s = FILTER_REDIRECTOR(nf);

    if (!s->chr_out || !char_fe_backend_connected(s->chr_out)) {
        return 0;
    }
    if (!chardev_is_connected(char_fe_get_chardev(s->chr_out))) {
        redirector_hold(s, sender, flags, iov, iovcnt);
        return iov_size(iov, iovcnt) ? (ssize_t)iov_size(iov, iovcnt) : 1;
    }
    if (!g_queue_is_empty(&s->held)) {
        redirector_drop_held(s);
    }
    if (!send_frame(s, iov, iovcnt)) {
        error_report("filter redirector send failed(%s)", g_strerror(1));
        return -1;
    }
    return iov_size(iov, iovcnt) ? (ssize_t)iov_size(iov, iovcnt) : 1;
}

/* Nothing waits any more in the queues that injected packets go to. */
static bool redirector_path_clear(MirrorState *s)
{
    NetClientState *nd = net_filter_netdev(NET_FILTER(s));
    NetFilterDirection dir = net_filter_direction(NET_FILTER(s));

    if (!nd) {
        return true;
    }
    if ((dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_TX) && nd->peer &&
        (qemu_net_queue_len(nd->peer->incoming_queue) || !qemu_can_receive_packet(nd->peer))) {
        return false;
    }
    if ((dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_RX) &&
        (qemu_net_queue_len(nd->incoming_queue) || !qemu_can_receive_packet(nd))) {
        return false;
    }
    return true;
}

static gboolean redirector_congestion_check(gpointer opaque)
{
    MirrorState *s = opaque;

    if (!redirector_path_clear(s)) {
        return G_SOURCE_CONTINUE;
    }
    s->congested = false;
    s->congestion_timer = 0;
    if (s->chr_in) {
        char_fe_accept_input(s->chr_in);
    }
    return G_SOURCE_REMOVE;
}

/* An injected packet that waited has left: resume the congested redirectors of that netdev. */
static void redirector_sent_to(NetClientState *nc)
{
    for (GList *l = nc ? nc->filters : NULL; l; l = l->next) {
        NetFilterNode *node = l->data;
        GObject *obj = node->opaque;

        if (G_TYPE_CHECK_INSTANCE_TYPE(obj, filter_redirector_get_type())) {
            MirrorState *s = (MirrorState *)obj;

            if (s->congested && redirector_path_clear(s)) {
                g_source_remove(s->congestion_timer);
                s->congestion_timer = 0;
                s->congested = false;
                char_fe_accept_input(s->chr_in);
            }
        }
    }
}

static void redirector_sent(NetClientState *sender, ssize_t ret)
{
    /* tx injections are sent by the netdev, rx injections by its peer. */
    redirector_sent_to(sender);
    if (sender->peer) {
        redirector_sent_to(sender->peer);
    }
}

/*
 * An injected packet had to wait: the receiver is slower than the indev stream. Reading stops
 * until the queue drains, so that packets wait in the socket (the peer's problem) rather than
 * pile up here and overflow a queue.
 */
static void redirector_congested(MirrorState *s)
{
    s->congested = true;
    if (!s->congestion_timer) {
        /* Normally redirector_sent resumes reading; this catches packets that never leave. */
        s->congestion_timer = g_timeout_add(50, redirector_congestion_check, s);
    }
}

static void redirector_inject(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    MirrorState *s = opaque;
    NetFilter *nf = NET_FILTER(s);
    NetClientState *nd = net_filter_netdev(nf);
    NetFilterDirection dir = net_filter_direction(nf);
    /* The VHDR word is not used here: the whole DATA is one packet, as upstream does. */
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    NetFilterStats *stats = net_filter_stats(nf);

    if (!nd) {
        stats->dropped++;
        return;
    }
    if (dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_TX) {
        if (net_filter_pass_to_next_async(nf, nd, 0, &iov, 1, redirector_sent) == 0 && len) {
            redirector_congested(s);
        }
        stats->injected++;
    }
    if (dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_RX) {
        if (nd->peer) {
            if (net_filter_pass_to_next_async(nf, nd->peer, 0, &iov, 1, redirector_sent) == 0 &&
                len) {
                redirector_congested(s);
            }
            stats->injected++;
        } else {
            /* Nothing faces the netdev (no NIC): the packet has nowhere to come from. */
            stats->dropped++;
        }
    }
}

static int redirector_can_read(void *opaque)
{
    MirrorState *s = opaque;

    /* Off: leave the bytes in the socket until the filter is switched on again. */
    if (!net_filter_is_on(NET_FILTER(s)) || s->congested) {
        return 0;
    }
    return NET_FRAME_MAX_LEN;
}

static void redirector_account_reader(MirrorState *s)
{
    guint64 lost = s->reader.stats.oversized + s->reader.stats.malformed;

    net_filter_stats(NET_FILTER(s))->dropped += lost - s->reader_lost_seen;
    s->reader_lost_seen = lost;
}

static void redirector_read(void *opaque, const guint8 *buf, int size)
{
    MirrorState *s = opaque;

    net_batch_begin();
    net_frame_reader_feed(&s->reader, buf, size);
    net_batch_end();
    redirector_account_reader(s);
}

static void redirector_event(void *opaque, ChrEvent event)
{
    MirrorState *s = opaque;

    if (event == CHR_EVENT_CLOSED) {
        if (!net_frame_reader_at_boundary(&s->reader)) {
            net_filter_stats(NET_FILTER(s))->dropped++;
        }
        net_frame_reader_reset(&s->reader);
    }
}

static gboolean redirector_setup(NetFilter *nf, GError **errp)
{
    MirrorState *s = FILTER_REDIRECTOR(nf);
    Chardev *chr;

    if (!s->indev && !s->outdev) {
        error_setg(errp, "filter redirector needs 'indev' or 'outdev' at least one property set");
        return FALSE;
    }
    if (s->indev && s->outdev && !strcmp(s->indev, s->outdev)) {
        error_setg(errp, "'indev' and 'outdev' could not be same for filter redirector");
        return FALSE;
    }
    if (s->indev) {
        chr = chardev_find(s->indev);
        if (!chr) {
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "IN Device '%s' not found", s->indev);
            return FALSE;
        }
        s->chr_in = char_fe_new(chr, errp);
        if (!s->chr_in) {
            return FALSE;
        }
        net_frame_reader_init(&s->reader, s->vnet_hdr, redirector_inject, s);
        s->reader_ready = true;
        char_fe_set_handlers(s->chr_in, redirector_can_read, redirector_read, redirector_event, s,
                             NULL);
    }
    if (s->outdev) {
        chr = chardev_find(s->outdev);
        if (!chr) {
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "OUT Device '%s' not found", s->outdev);
            mirror_cleanup(nf);
            return FALSE;
        }
        s->chr_out = char_fe_new(chr, errp);
        if (!s->chr_out) {
            mirror_cleanup(nf);
            return FALSE;
        }
    }
    return TRUE;
}

static void redirector_handle_event(NetFilter *nf, int event, GError **errp)
{
    if (event == COLO_EVENT_CHECKPOINT) {
        redirector_drop_held(FILTER_REDIRECTOR(nf));
    }
    NET_FILTER_CLASS(filter_redirector_parent_class)->handle_event(nf, event, errp);
}

static void redirector_status_changed(NetFilter *nf, GError **errp)
{
    MirrorState *s = FILTER_REDIRECTOR(nf);

    if (!net_filter_is_on(nf)) {
        redirector_release_held(s);
    }

    if (s->chr_in && net_filter_is_on(nf)) {
        /* Re-installing makes the chardev ask can_read again and resume reading. */
        char_fe_set_handlers(s->chr_in, redirector_can_read, redirector_read, redirector_event, s,
                             NULL);
    }
}

/* ---- properties, shared ---- */

static void mirror_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    MirrorState *s = (MirrorState *)obj;

    switch (id) {
    case PROP_INDEV:
        g_free(s->indev);
        s->indev = g_value_dup_string(v);
        break;
    case PROP_OUTDEV:
        g_free(s->outdev);
        s->outdev = g_value_dup_string(v);
        break;
    case PROP_VNET_HDR:
        s->vnet_hdr = g_value_get_boolean(v);
        break;
    }
}

static void mirror_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    MirrorState *s = (MirrorState *)obj;

    switch (id) {
    case PROP_INDEV:
        g_value_set_string(v, s->indev);
        break;
    case PROP_OUTDEV:
        g_value_set_string(v, s->outdev);
        break;
    case PROP_VNET_HDR:
        g_value_set_boolean(v, s->vnet_hdr);
        break;
    }
}

static void mirror_finalize(GObject *obj)
{
    MirrorState *s = (MirrorState *)obj;

    mirror_cleanup(NET_FILTER(obj));
    g_free(s->indev);
    g_free(s->outdev);
    g_byte_array_unref(s->out);
}

static void filter_mirror_finalize(GObject *obj)
{
    mirror_finalize(obj);
    G_OBJECT_CLASS(filter_mirror_parent_class)->finalize(obj);
}

static void filter_redirector_finalize(GObject *obj)
{
    g_queue_clear_full(&((MirrorState *)obj)->held, held_frame_free);
    mirror_finalize(obj);
    G_OBJECT_CLASS(filter_redirector_parent_class)->finalize(obj);
}

static void filter_mirror_init(MirrorState *s)
{
    s->out = g_byte_array_new();
}

static void filter_redirector_init(MirrorState *s)
{
    s->out = g_byte_array_new();
    g_queue_init(&s->held);
}

static void install_props(GObjectClass *oc, bool with_indev, bool outdev_required)
{
    GParamFlags rw = QOM_PARAM_RW;

    oc->set_property = mirror_set_property;
    oc->get_property = mirror_get_property;
    qom_class_install_property(oc, PROP_OUTDEV,
                               g_param_spec_string("outdev", "outdev", NULL, NULL, rw), "string",
                               outdev_required);
    if (with_indev) {
        qom_class_install_property(
            oc, PROP_INDEV, g_param_spec_string("indev", "indev", NULL, NULL, rw), "string", FALSE);
    }
    qom_class_install_property(
        oc, PROP_VNET_HDR,
        g_param_spec_boolean("vnet_hdr_support", "vnet_hdr_support", NULL, FALSE, rw), "bool",
        FALSE);
}

static void filter_mirror_class_init(MirrorStateClass *klass)
{
    static const char *const info_props[] = {"vnet_hdr_support", "outdev", NULL};
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = filter_mirror_finalize;
    install_props(G_OBJECT_CLASS(klass), false, true);
    nfc->setup = mirror_setup;
    nfc->cleanup = mirror_cleanup;
    nfc->receive_iov = mirror_receive_iov;
    nfc->info_props = info_props;
}

static void filter_redirector_class_init(MirrorStateClass *klass)
{
    static const char *const info_props[] = {"vnet_hdr_support", "indev", "outdev", NULL};
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = filter_redirector_finalize;
    install_props(G_OBJECT_CLASS(klass), true, false);
    nfc->setup = redirector_setup;
    nfc->cleanup = mirror_cleanup;
    nfc->status_changed = redirector_status_changed;
    nfc->handle_event = redirector_handle_event;
    nfc->receive_iov = redirector_receive_iov;
    nfc->info_props = info_props;
}
