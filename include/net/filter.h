/*
 * Net filters: QOM objects ("netfilter", abstract) that sit in a netdev's chain and see every
 * packet the netdev sends (tx) or receives (rx). See net/net.h for the traversal order.
 *
 *   -object filter-X,id=f0,netdev=n0[,queue=all|rx|tx][,status=on|off]
 *                          [,position=head|tail|id=<filter>][,insert=before|behind]
 *
 * Life of a filter:
 *
 *   properties set --> complete(): netdev looked up, position resolved, class setup()
 *                         |  error: nothing linked
 *                         v
 *                   linked in the chain --status=off/on--> status_changed()
 *                         |
 *                   object-del / netdev_del --> class cleanup(), unlinked
 *
 * A COLO event (checkpoint, failover) reaches every filter through handle_event(); the default
 * turns a filter off on failover, as upstream does.
 */
#ifndef NET_FILTER_H
#define NET_FILTER_H

#include "net/net.h"
#include "qom/object.h"

G_BEGIN_DECLS

/* Upstream's COLO event numbers (include/migration/colo.h). */
enum {
    COLO_EVENT_NONE = 0,
    COLO_EVENT_CHECKPOINT = 1,
    COLO_EVENT_FAILOVER = 2,
};

#define TYPE_NETFILTER (net_filter_get_type())
G_DECLARE_DERIVABLE_TYPE(NetFilter, net_filter, NET, FILTER, QomObject)

struct _NetFilterClass {
    QomObjectClass parent_class;
    /* Starts the filter (open files, chardevs); on error the filter is not linked. */
    gboolean (*setup)(NetFilter *nf, GError **errp);
    void (*cleanup)(NetFilter *nf);
    /* status changed at run time while linked. */
    void (*status_changed)(NetFilter *nf, GError **errp);
    void (*handle_event)(NetFilter *nf, int event, GError **errp);
    /* 0: the packet goes on; otherwise the filter took it (that value goes to the sender). */
    ssize_t (*receive_iov)(NetFilter *nf, NetClientState *sender, unsigned flags,
                           const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb);
    /* Subclass properties shown by info network, in upstream's order. */
    const char *const *info_props;
};

/* The state every filter shares; subclasses read it, only filter.c writes it. */
typedef struct NetFilterCommon {
    NetFilterNode node; /* the packet path's view: direction, on, netdev */
    char *netdev_id;
    char *position; /* "head", "tail" or "id=<filter>" */
    NetFilterInsert insert;
} NetFilterCommon;

NetFilterCommon *net_filter_common(NetFilter *nf);
/* The netdev while linked, else NULL. */
NetClientState *net_filter_netdev(NetFilter *nf);
NetFilterDirection net_filter_direction(NetFilter *nf);
gboolean net_filter_is_on(NetFilter *nf);
const char *net_filter_id(NetFilter *nf);

/* Hands a taken packet to the rest of the path after @nf (see qemu_netfilter_pass_to_next). */
ssize_t net_filter_pass_to_next(NetFilter *nf, NetClientState *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt);
ssize_t net_filter_pass_to_next_async(NetFilter *nf, NetClientState *sender, unsigned flags,
                                      const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb);

/* Sends @event to every filter of every netdev; stops at the first error. */
void colo_notify_filters_event(int event, GError **errp);

/* GEnum types behind the "queue" and "insert" properties. */
GType net_filter_direction_get_type(void);
GType net_filter_insert_get_type(void);

/* The concrete filters. */
#define TYPE_FILTER_MIRROR     "filter-mirror"
#define TYPE_FILTER_REDIRECTOR "filter-redirector"
#define TYPE_FILTER_DUMP       "filter-dump"
#define TYPE_FILTER_BUFFER     "filter-buffer"
#define TYPE_FILTER_REWRITER   "filter-rewriter"

GType filter_mirror_get_type(void);
GType filter_redirector_get_type(void);
GType filter_dump_get_type(void);
GType filter_buffer_get_type(void);
GType filter_rewriter_get_type(void);

typedef struct ColoRewriter ColoRewriter;
/* A filter-rewriter's algorithm state (net/colo-rewriter.h), NULL while not set up. */
ColoRewriter *filter_rewriter_get(NetFilter *nf);

/* Counters every filter keeps (shown by query-netfilter style stats and tests). */
typedef struct NetFilterStats {
    guint64 packets; /* packets this filter handled */
    guint64 bytes;
    guint64 dropped;  /* packets lost here (write failures, no receiver) */
    guint64 injected; /* packets read from an input and put on the path */
} NetFilterStats;
NetFilterStats *net_filter_stats(NetFilter *nf);

G_END_DECLS

#endif
