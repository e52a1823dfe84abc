/*
 * filter-rewriter (secondary side): the netfilter around net/colo-rewriter.c. TCP packets of its
 * netdev are rewritten in place so that the SVM's sequence numbers look like the PVM's:
 *
 *   sent by the netdev (network -> SVM, "primary side"):   ack moved into the SVM's space
 *   sent to the netdev (SVM -> network, "secondary side"): seq moved into the PVM's space
 *
 * A rewritten packet is taken off the path and handed on after this filter; anything else goes on
 * untouched. A COLO checkpoint resets every offset; failover stops tracking new connections but,
 * unlike the other filters, leaves the rewriter on: connections opened before failover still need
 * their offsets.
 */
#include <string.h>

#include "net/colo-rewriter.h"
#include "net/filter.h"

#define FILTER_REWRITER(obj)                                                                       \
    G_TYPE_CHECK_INSTANCE_CAST((obj), filter_rewriter_get_type(), FilterRewriter)

typedef struct FilterRewriter {
    NetFilter parent;
    gboolean vnet_hdr;
    ColoRewriter *rw;
    GByteArray *buf; /* the packet being rewritten */
} FilterRewriter;

typedef struct FilterRewriterClass {
    NetFilterClass parent_class;
} FilterRewriterClass;

enum { PROP_0, PROP_VNET_HDR };

G_DEFINE_TYPE(FilterRewriter, filter_rewriter, TYPE_NETFILTER)

static ssize_t rewriter_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                    const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    FilterRewriter *s = FILTER_REWRITER(nf);
    NetClientState *nd = net_filter_netdev(nf);
    size_t size = iov_size(iov, iovcnt);
    guint32 vhdr = s->vnet_hdr && nd ? nd->vnet_hdr_len : 0;

    if (!s->rw || !size || size > NET_BUFSIZE) {
        return 0;
    }
    g_byte_array_set_size(s->buf, size);
    iov_to_buf(iov, iovcnt, 0, s->buf->data, size);
    if (!colo_rewriter_process(s->rw, s->buf->data, size, vhdr, sender == nd)) {
        return 0;
    }
    struct iovec out = {.iov_base = s->buf->data, .iov_len = size};
    ssize_t ret = net_filter_pass_to_next(nf, sender, flags, &out, 1);
    return ret == 0 ? (ssize_t)size : ret;
}

static gboolean rewriter_setup(NetFilter *nf, GError **errp)
{
    FilterRewriter *s = FILTER_REWRITER(nf);
    s->rw = colo_rewriter_new();
    return TRUE;
}

static void rewriter_cleanup(NetFilter *nf)
{
    FilterRewriter *s = FILTER_REWRITER(nf);
    g_clear_pointer(&s->rw, colo_rewriter_free);
}

typedef gboolean (*QueuedFn)(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len);

typedef struct QueuedVisit {
    FilterRewriter *s;
    QueuedFn fn;
} QueuedVisit;

static void visit_queued(NetClientState *sender, uint8_t *data, size_t size, void *opaque)
{
    QueuedVisit *v = opaque;
    NetClientState *nd = net_filter_netdev(NET_FILTER(v->s));

    if (sender == nd && size <= NET_BUFSIZE) {
        v->fn(v->s->rw, data, size, v->s->vnet_hdr ? nd->vnet_hdr_len : 0);
    }
}

/* @fn on each packet from the network side that waits in the NIC's queue for the SVM. */
static void foreach_queued(FilterRewriter *s, NetClientState *nd, QueuedFn fn)
{
    QueuedVisit v = {.s = s, .fn = fn};

    if (nd && nd->peer) {
        qemu_net_queue_foreach(nd->peer->incoming_queue, visit_queued, &v);
    }
}

static void rewriter_handle_event(NetFilter *nf, int event, GError **errp)
{
    FilterRewriter *s = FILTER_REWRITER(nf);
    NetClientState *nd = net_filter_netdev(nf);

    if (!s->rw) {
        return;
    }
    if (event == COLO_EVENT_CHECKPOINT) {
        /*
         * The stopped SVM's NIC holds packets that were moved into the SVM's space of the state
         * the load replaces: the SVM would take their acks as acknowledging data it never sent
         * and drop them (or answer a handshake's with a reset).
         */
        foreach_queued(s, nd, colo_rewriter_restore);
        colo_rewriter_checkpoint(s->rw);
        /*
         * A SYN among them that the PVM took after its snapshot (it arrived while the VMs
         * were stopped) is new to the loaded SVM too: it answers with an ISN of its own,
         * which the client never sees. Untracked, the client's ACK of the PVM's ISN makes the
         * SVM reset the connection; colo-compare hides that until a failover hands the
         * client to the SVM, whose next SYN|ACK draws the client's ACK and the reset.
         */
        foreach_queued(s, nd, colo_rewriter_reopen);
    } else if (event == COLO_EVENT_FAILOVER) {
        colo_rewriter_failover(s->rw);
    }
}

ColoRewriter *filter_rewriter_get(NetFilter *nf)
{
    return FILTER_REWRITER(nf)->rw;
}

static void rewriter_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    if (id == PROP_VNET_HDR) {
        FILTER_REWRITER(obj)->vnet_hdr = g_value_get_boolean(v);
    }
}

static void rewriter_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    if (id == PROP_VNET_HDR) {
        g_value_set_boolean(v, FILTER_REWRITER(obj)->vnet_hdr);
    }
}

static void rewriter_finalize(GObject *obj)
{
    FilterRewriter *s = FILTER_REWRITER(obj);
    g_clear_pointer(&s->rw, colo_rewriter_free);
    g_byte_array_unref(s->buf);
    G_OBJECT_CLASS(filter_rewriter_parent_class)->finalize(obj);
}

static void filter_rewriter_init(FilterRewriter *s)
{
    s->buf = g_byte_array_new();
}

static void filter_rewriter_class_init(FilterRewriterClass *klass)
{
    static const char *const info_props[] = {"vnet_hdr_support", NULL};
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    oc->set_property = rewriter_set_property;
    oc->get_property = rewriter_get_property;
    oc->finalize = rewriter_finalize;
    nfc->setup = rewriter_setup;
    nfc->cleanup = rewriter_cleanup;
    nfc->handle_event = rewriter_handle_event;
    nfc->receive_iov = rewriter_receive_iov;
    nfc->info_props = info_props;
    qom_class_install_property(
        oc, PROP_VNET_HDR,
        g_param_spec_boolean("vnet_hdr_support", "vnet_hdr_support", NULL, FALSE, QOM_PARAM_RW),
        "bool", FALSE);
}
