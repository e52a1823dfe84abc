/*
 * Net clients: the two ends of every packet path.
 *
 * A NetClientState is one end (a -netdev backend, a hub port, later a guest NIC); its peer is
 * the other end. Sending goes through the sender's filters (tx, head to tail), then the peer's
 * filters (rx, tail to head), then the peer's incoming queue:
 *
 *   backend ---send---> [backend filters: tx head->tail] --> [peer filters: rx tail->head]
 *                                                                  |
 *                                           peer->incoming_queue --+--> peer->info->receive
 *
 * A receiver that returns 0 from receive (or false from can_receive) is full: packets wait in
 * its queue, and the sender is told through its sent callback when they leave, so it stops
 * reading its own input meanwhile. A guest NIC model plugs in by being a peer with receive /
 * can_receive callbacks and by setting vnet_hdr_len.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <glib.h>
#include <glib-unix.h>
#include "qapi-types.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "net/queue.h"
#include "util/keyval.h"

/* Upstream's largest packet: 64 KiB of payload plus room for headers. */
#define NET_BUFSIZE (4096 + 65536)

/* NetClientDriver and NetClientDriver_str() are generated from qapi/net.json. */

/* NetFilterDirection (all/rx/tx: rx = sent to the netdev, tx = sent by it) is generated from
 * qapi/qom.json, with NetFilterDirection_str() and NetFilterDirection_parse(). */

typedef struct NetClientInfo {
    NetClientDriver type;
    size_t size; /* of the backend's struct, which starts with a NetClientState */
    ssize_t (*receive)(NetClientState *nc, const uint8_t *buf, size_t size);
    /* Preferred over receive when set. */
    ssize_t (*receive_iov)(NetClientState *nc, const struct iovec *iov, int iovcnt);
    bool (*can_receive)(NetClientState *nc);
    void (*cleanup)(NetClientState *nc);
    void (*link_status_changed)(NetClientState *nc);
    /*
     * Takes a frame still carrying its guest's offloads, described by a 12-byte virtio-net
     * header (partial checksum, TSO): bytes taken, 0 if it cannot now (the sender then does the
     * offloads itself and sends plain frames). See qemu_send_packet_offload().
     */
    ssize_t (*receive_offload)(NetClientState *nc, const uint8_t *vnet_hdr, const uint8_t *buf,
                               size_t size);
    /* Vhost acceleration is on (filters refuse such netdevs). */
    bool (*has_vhost)(NetClientState *nc);
    /* The VM stopped or resumed (qemu_net_set_vm_running); a NIC's device follows it. */
    void (*vm_state_changed)(NetClientState *nc, bool running);
} NetClientInfo;

typedef struct NetFilterNode NetFilterNode;

/*
 * One filter in a netdev's chain, as the packet path sees it. The QOM object (net/filter.h)
 * owns it; keeping the per-packet data plain keeps the hot path free of type checks.
 */
typedef ssize_t NetFilterReceiveFunc(NetFilterNode *node, NetClientState *sender, unsigned flags,
                                     const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb);
struct NetFilterNode {
    NetFilterReceiveFunc *receive_iov;
    void *opaque; /* the owning filter object */
    const char *id;
    NetFilterDirection direction;
    bool on;                /* status=on */
    NetClientState *netdev; /* set while linked */
    GList *link;            /* position in netdev->filters */
    /* The netdev is being deleted: the filter must go (upstream deletes the object). */
    void (*netdev_gone)(NetFilterNode *node);
    /* Appends ",prop=value..." for info network. */
    void (*describe)(NetFilterNode *node, GString *out);
    const char *type_name; /* "filter-mirror" */
};

typedef struct NetClientStats {
    uint64_t tx_packets, tx_bytes; /* sent by this client */
    uint64_t rx_packets, rx_bytes; /* delivered to this client */
    uint64_t tx_dropped;           /* sent with no peer, or with the link down */
    uint64_t rx_dropped;           /* arrived while the link was down, or refused */
} NetClientStats;

struct NetClientState {
    const NetClientInfo *info;
    NetClientState *peer;
    NetQueue *incoming_queue;
    char *model;
    char *name;
    char info_str[256];
    bool link_down;
    bool receive_disabled; /* the last receive returned 0: wait for a flush */
    bool is_netdev;        /* created by -netdev / netdev_add (not a NIC or hub-internal) */
    int queue_index;
    int vnet_hdr_len; /* bytes of virtio-net header in front of every frame */
    GList *filters;   /* of NetFilterNode*, head first */
    /* NICs: the MAC address the guest was given (self-announce sends from it). */
    bool has_macaddr;
    uint8_t macaddr[6];
    NetClientStats stats;
};

/* ---- clients ---- */

/* Allocates info->size bytes, links it to @peer (may be NULL) and registers it by @name. */
NetClientState *qemu_new_net_client(const NetClientInfo *info, NetClientState *peer,
                                    const char *model, const char *name);
/* Unlinks from its peer, purges what it sent, runs cleanup, frees. */
void qemu_del_net_client(NetClientState *nc);
/* Every client (netdevs, hub ports, NICs) in creation order; do not free the list. */
GList *qemu_net_clients(void);
NetClientState *qemu_find_netdev(const char *id);
void qemu_format_nic_info_str(NetClientState *nc, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Links two unpeered clients. */
void qemu_net_client_set_peer(NetClientState *a, NetClientState *b);
/*
 * Whether the VM runs (the composition root follows the run state; true until told). While it
 * does not, NICs take no packet: they wait in the queues and come in once it runs again.
 */
void qemu_net_set_vm_running(bool running);
bool qemu_net_vm_running(void);

/* ---- sending ---- */

/* The peer can take a packet now. */
bool qemu_can_send_packet(NetClientState *sender);
/* Returns bytes taken, or 0 if the packet was kept: @sent_cb runs when it leaves. */
ssize_t qemu_sendv_packet_async(NetClientState *sender, const struct iovec *iov, int iovcnt,
                                NetPacketSent *sent_cb);
ssize_t qemu_send_packet_async(NetClientState *sender, const uint8_t *buf, int size,
                               NetPacketSent *sent_cb);
void qemu_send_packet(NetClientState *nc, const uint8_t *buf, int size);
/*
 * Hands a frame with its virtio-net header (@vnet_hdr, 12 bytes) straight to the peer, when
 * nothing on the path needs plain frames: no filter on either end, both links up, nothing
 * waiting in the peer's queue (order is kept) and a peer with receive_offload that takes it.
 * Returns the bytes taken, or 0: then nothing was sent and the caller must complete the frame
 * itself (checksum, segmentation) and use qemu_send_packet().
 */
ssize_t qemu_send_packet_offload(NetClientState *sender, const uint8_t *vnet_hdr,
                                 const uint8_t *buf, size_t size);
/* @nc can take packets again: deliver what waits in its queue. */
void qemu_flush_queued_packets(NetClientState *nc);
bool qemu_can_receive_packet(NetClientState *nc);
/* Delivers straight to @nc's receive callback (used by queues and hubs). */
ssize_t qemu_deliver_packet_iov(NetClientState *sender, unsigned flags, const struct iovec *iov,
                                int iovcnt, void *opaque);

/*
 * Write batching (main loop only). A backend that hands many packets to the path in one go
 * (a read that held many frames) brackets them with begin/end; writers on the path (socket
 * netdevs, mirror and redirector outputs) may then gather their output and write it once at
 * the end instead of once per packet. Order within each output is kept.
 */
typedef void NetBatchFlushFunc(void *opaque);
void net_batch_begin(void);
void net_batch_end(void);
bool net_batch_active(void);
/* Runs @fn(@opaque) at the end of the current batch (once per pair, in registration order). */
void net_batch_defer(NetBatchFlushFunc *fn, void *opaque);
/* Forgets a deferred flush (its owner is going away). */
void net_batch_cancel(void *opaque);

/*
 * g_unix_fd_add() for a backend's hot fd, on the default context. GLib takes the fds of a
 * source that may not recurse out of the poll set for its dispatch and puts them back after,
 * and each change signals the context's wake-up eventfd: two writes, a read and one more loop
 * iteration per readable frame batch. This source may recurse (no nested main loop runs on
 * the network path), so its fd stays put. Remove it with g_source_remove().
 */
guint net_fd_watch(int fd, GIOCondition cond, GUnixFDSourceFunc fn, void *opaque);

/* ---- link and header ---- */

void qemu_set_link(NetClientState *nc, bool up);
void qemu_set_vnet_hdr_len(NetClientState *nc, int len);

/* ---- filters (the chain; the QOM side is net/filter.h) ---- */

typedef enum { NET_FILTER_INSERT_BEFORE, NET_FILTER_INSERT_BEHIND } NetFilterInsert;

/* Links @node into @nc's chain at the head, the tail, or before/behind @ref. */
void net_filter_chain_insert(NetClientState *nc, NetFilterNode *node, bool head, NetFilterNode *ref,
                             NetFilterInsert insert);
void net_filter_chain_remove(NetFilterNode *node);
/*
 * Runs @nc's chain for a packet travelling in @dir (TX: head to tail, RX: tail to head),
 * starting after @after (NULL: from the start). Returns 0 to continue, else the value of the
 * filter that took the packet.
 */
ssize_t net_filter_chain_run(NetClientState *nc, NetFilterDirection dir, NetFilterNode *after,
                             NetClientState *sender, unsigned flags, const struct iovec *iov,
                             int iovcnt, NetPacketSent *sent_cb);
/*
 * Re-injects a packet that @node took: continues with the filters after it, then delivers to
 * @sender's peer. Returns what the rest of the path returned.
 */
ssize_t qemu_netfilter_pass_to_next(NetClientState *sender, unsigned flags, const struct iovec *iov,
                                    int iovcnt, NetFilterNode *node);
/* The same, with a callback for when a packet that had to wait (returned 0) leaves. */
ssize_t qemu_netfilter_pass_to_next_async(NetClientState *sender, unsigned flags,
                                          const struct iovec *iov, int iovcnt, NetFilterNode *node,
                                          NetPacketSent *sent_cb);

/* ---- backends ---- */

/*
 * -netdev TYPE,id=ID,... (@is_netdev) or -net / -nic style options. The options are KEYVAL_OPTS
 * pairs with the implied key "type"; a key given more than once (hostfwd) is kept each time.
 */
bool net_client_init_from_opts(KeyvalList *opts, bool is_netdev, GError **errp);
/* -nic TYPE,...: the netdev half; the NIC itself is recorded for the machine (net_nic_list). */
bool net_nic_init_from_opts(KeyvalList *opts, GError **errp);
/* -net: upstream's legacy hub 0 form (nic, a backend, none). */
bool net_legacy_init_from_opts(KeyvalList *opts, GError **errp);
/* netdev_del */
bool net_client_del(const char *id, GError **errp);
/* Deletes every client (at exit). */
void net_cleanup(void);
/* Warnings for netdevs with no peer and hubs with no NIC, as upstream prints at start. */
void net_check_clients(void);
/* HMP "info network" text. */
char *net_info_network(void);

/* NIC requests from -nic, for the machine to create (model may be NULL). */
typedef struct NICRequest {
    char *model;
    char *netdev; /* id of the netdev the NIC must peer with */
    char *mac;    /* may be NULL */
    bool created; /* the machine made a device for it */
} NICRequest;
GList *net_nic_list(void);

/* Registers the filter QOM types. */
void net_register_types(void);

#endif
