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
 */
#include "chardev/char.h"
#include "net/filter.h"
#include "net/frame.h"
#include "util/error.h"
#include <string.h>

#define FILTER_MIRROR(obj) G_TYPE_CHECK_INSTANCE_CAST((obj), filter_mirror_get_type(), MirrorState)
#define FILTER_REDIRECTOR(obj) \
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
    GByteArray *out;          /* one frame, written in one call */
    guint64 reader_lost_seen; /* reader drops already added to the filter's count */
} MirrorState;

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

/* Writes one frame to outdev; false if the chardev refused it. */
static bool send_frame(MirrorState *s, const struct iovec *iov, int iovcnt)
{
    NetClientState *nd = net_filter_netdev(NET_FILTER(s));
    size_t size = iov_size(iov, iovcnt);
    guint8 hdr[NET_FRAME_HDR_MAX];
    guint hlen = net_frame_header(hdr, size, s->vnet_hdr, nd ? nd->vnet_hdr_len : 0);

    g_byte_array_set_size(s->out, hlen + size);
    memcpy(s->out->data, hdr, hlen);
    iov_to_buf(iov, iovcnt, 0, s->out->data + hlen, size);
    return char_fe_write_all(s->chr_out, s->out->data, s->out->len) == (int)s->out->len;
}

/* ---- filter-mirror ---- */

static ssize_t mirror_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    MirrorState *s = FILTER_MIRROR(nf);

    if (iov_size(iov, iovcnt) && !send_frame(s, iov, iovcnt)) {
        /* Upstream reports the raw -1 as an errno, hence its fixed reason. */
        error_report("filter mirror send failed(%s)", g_strerror(1));
        net_filter_stats(nf)->dropped++;
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

    g_clear_pointer(&s->chr_out, char_fe_free);
    g_clear_pointer(&s->chr_in, char_fe_free);
    if (s->reader_ready) {
        net_frame_reader_destroy(&s->reader);
        s->reader_ready = false;
    }
}

/* ---- filter-redirector ---- */

static ssize_t redirector_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                      const struct iovec *iov, int iovcnt,
                                      NetPacketSent *sent_cb)
{
    MirrorState *s = FILTER_REDIRECTOR(nf);

    if (!s->chr_out || !char_fe_backend_connected(s->chr_out)) {
        return 0;
    }
    if (!send_frame(s, iov, iovcnt)) {
        error_report("filter redirector send failed(%s)", g_strerror(1));
        net_filter_stats(nf)->dropped++;
        return -1;
    }
    return iov_size(iov, iovcnt) ? (ssize_t)iov_size(iov, iovcnt) : 1;
}

static void redirector_inject(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    MirrorState *s = opaque;
    NetFilter *nf = NET_FILTER(s);
    NetClientState *nd = net_filter_netdev(nf);
    NetFilterDirection dir = net_filter_direction(nf);
    /* The VHDR word is not used here: the whole DATA is one packet, as upstream does. */
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    NetFilterStats *stats = net_filter_stats(nf);

    if (!nd) {
        stats->dropped++;
        return;
    }
    if (dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_TX) {
        net_filter_pass_to_next(nf, nd, 0, &iov, 1);
        stats->injected++;
    }
    if (dir == NET_FILTER_DIRECTION_ALL || dir == NET_FILTER_DIRECTION_RX) {
        if (nd->peer) {
            net_filter_pass_to_next(nf, nd->peer, 0, &iov, 1);
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
    return net_filter_is_on(NET_FILTER(s)) ? NET_FRAME_MAX_LEN : 0;
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

    net_frame_reader_feed(&s->reader, buf, size);
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
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "OUT Device '%s' not found",
                      s->outdev);
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

static void redirector_status_changed(NetFilter *nf, GError **errp)
{
    MirrorState *s = FILTER_REDIRECTOR(nf);

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
        qom_class_install_property(oc, PROP_INDEV,
                                   g_param_spec_string("indev", "indev", NULL, NULL, rw),
                                   "string", FALSE);
    }
    qom_class_install_property(oc, PROP_VNET_HDR,
                               g_param_spec_boolean("vnet_hdr_support", "vnet_hdr_support", NULL,
                                                    FALSE, rw),
                               "bool", FALSE);
}

static void filter_mirror_class_init(MirrorStateClass *klass)
{
    static const char *const info_props[] = { "vnet_hdr_support", "outdev", NULL };
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
    static const char *const info_props[] = { "vnet_hdr_support", "indev", "outdev", NULL };
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = filter_redirector_finalize;
    install_props(G_OBJECT_CLASS(klass), true, false);
    nfc->setup = redirector_setup;
    nfc->cleanup = mirror_cleanup;
    nfc->status_changed = redirector_status_changed;
    nfc->receive_iov = redirector_receive_iov;
    nfc->info_props = info_props;
}
