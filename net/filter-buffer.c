/*
 * filter-buffer: holds every packet of its direction(s) and releases them all every
 * `interval` microseconds, in order, to the rest of the path. Switching it off releases what
 * it holds at once; object-del does the same.
 */
#include "net/filter.h"
#include "util/error.h"

#define FILTER_BUFFER(obj) G_TYPE_CHECK_INSTANCE_CAST((obj), filter_buffer_get_type(), FilterBuffer)

typedef struct FilterBuffer {
    NetFilter parent;
    guint32 interval; /* microseconds */
    NetQueue *queue;
    guint timer;
} FilterBuffer;

typedef struct FilterBufferClass {
    NetFilterClass parent_class;
} FilterBufferClass;

enum { PROP_0, PROP_INTERVAL };

G_DEFINE_TYPE(FilterBuffer, filter_buffer, TYPE_NETFILTER)

static ssize_t buffer_deliver(NetClientState *sender, unsigned flags, const struct iovec *iov,
                              int iovcnt, void *opaque)
{
    FilterBuffer *s = opaque;
    ssize_t ret = net_filter_pass_to_next(NET_FILTER(s), sender, flags, iov, iovcnt);

    /* A packet the receiver queued is gone from here too; never hand it out twice. */
    return ret == 0 ? (ssize_t)iov_size(iov, iovcnt) : ret;
}

static void buffer_release(FilterBuffer *s)
{
    qemu_net_queue_flush(s->queue);
}

static void buffer_arm(FilterBuffer *s);

static gboolean buffer_timer(gpointer opaque)
{
    FilterBuffer *s = opaque;

    s->timer = 0;
    buffer_release(s);
    buffer_arm(s);
    return G_SOURCE_REMOVE;
}

static void buffer_arm(FilterBuffer *s)
{
    GSource *src;

    if (s->timer || !net_filter_is_on(NET_FILTER(s))) {
        return;
    }
    /* Microsecond resolution: a GLib timeout counts milliseconds, a ready-time source does not. */
    src = g_timeout_source_new(0);
    g_source_set_ready_time(src, g_get_monotonic_time() + s->interval);
    g_source_set_callback(src, buffer_timer, s, NULL);
    s->timer = g_source_attach(src, NULL);
    g_source_unref(src);
}

static void buffer_disarm(FilterBuffer *s)
{
    if (s->timer) {
        g_source_remove(s->timer);
        s->timer = 0;
    }
}

static ssize_t buffer_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    FilterBuffer *s = FILTER_BUFFER(nf);
    size_t size = iov_size(iov, iovcnt);

    if (!size) {
        return 0;
    }
    /* Kept without the sender's callback: the sender goes on, as with upstream. */
    qemu_net_queue_send_iov(s->queue, sender, flags, iov, iovcnt, false, NULL);
    return size;
}

static gboolean buffer_setup(NetFilter *nf, GError **errp)
{
    FilterBuffer *s = FILTER_BUFFER(nf);

    if (!s->interval) {
        error_setg(errp, "Property 'filter-buffer.interval' requires a positive value");
        return FALSE;
    }
    s->queue = qemu_new_net_queue(buffer_deliver, s);
    buffer_arm(s);
    return TRUE;
}

static void buffer_cleanup(NetFilter *nf)
{
    FilterBuffer *s = FILTER_BUFFER(nf);

    buffer_disarm(s);
    if (s->queue) {
        buffer_release(s);
        net_filter_stats(nf)->dropped += qemu_net_queue_len(s->queue);
        qemu_del_net_queue(s->queue);
        s->queue = NULL;
    }
}

static void buffer_status_changed(NetFilter *nf, GError **errp)
{
    FilterBuffer *s = FILTER_BUFFER(nf);

    if (net_filter_is_on(nf)) {
        buffer_arm(s);
    } else {
        buffer_disarm(s);
        buffer_release(s);
    }
}

static void buffer_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    if (id == PROP_INTERVAL) {
        FILTER_BUFFER(obj)->interval = g_value_get_uint(v);
    }
}

static void buffer_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    if (id == PROP_INTERVAL) {
        g_value_set_uint(v, FILTER_BUFFER(obj)->interval);
    }
}

static void filter_buffer_init(FilterBuffer *s)
{
}

static void filter_buffer_class_init(FilterBufferClass *klass)
{
    static const char *const info_props[] = {"interval", NULL};
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    oc->set_property = buffer_set_property;
    oc->get_property = buffer_get_property;
    nfc->setup = buffer_setup;
    nfc->cleanup = buffer_cleanup;
    nfc->status_changed = buffer_status_changed;
    nfc->receive_iov = buffer_receive_iov;
    nfc->info_props = info_props;
    qom_class_install_property(
        oc, PROP_INTERVAL,
        g_param_spec_uint("interval", "interval", NULL, 0, G_MAXUINT32, 0, QOM_PARAM_RW), "uint32",
        TRUE);
}
