/*
 * filter-rewriter's algorithm, without the filter: moves the secondary VM's TCP sequence numbers
 * into the primary's space so that colo-compare sees equal streams.
 *
 * The secondary picks its own initial sequence number (ISN). For a connection to the guest:
 *
 *   client --SYN--------------> SVM            (primary side: state SYN_RECEIVED)
 *   client <--SYN|ACK seq=S---- SVM            (secondary side: offset = S)
 *   client --ACK ack=P+1------> SVM            (primary side: offset -= P, so offset = S - P;
 *                                               ack += offset from now on)
 *   client <--data seq=x------- SVM            (secondary side: seq -= offset)
 *
 * "Primary side" packets travel from the network into the SVM; "secondary side" packets are the
 * SVM's output. Both directions share one entry, keyed from the guest's point of view. A
 * checkpoint makes the SVM's TCP state the PVM's, so every offset returns to 0 and stays there:
 * the rewriter forgets every connection.
 *
 * Connection states follow upstream (CLOSED, SYN_SENT, SYN_RECEIVED, ESTABLISHED, CLOSE_WAIT,
 * LAST_ACK, FIN_WAIT_1), and every closed connection is forgotten:
 *
 *   the peer closes first:  ESTABLISHED --peer FIN--> CLOSE_WAIT --SVM FIN--> LAST_ACK
 *                           --peer's ack of that FIN--> forgotten
 *   the guest closes first: ESTABLISHED --SVM FIN--> FIN_WAIT_1 --peer FIN--> TIME_WAIT
 *                           --SVM's ack of that FIN--> forgotten
 *   either side's RST:      forgotten
 *
 * Only a SYN starts tracking a connection.
 */
#ifndef NET_COLO_REWRITER_H
#define NET_COLO_REWRITER_H

#include <glib.h>
#include "net/colo.h"

G_BEGIN_DECLS

typedef enum {
    COLO_TCPS_CLOSED,
    COLO_TCPS_SYN_SENT,
    COLO_TCPS_SYN_RECEIVED,
    COLO_TCPS_ESTABLISHED,
    COLO_TCPS_CLOSE_WAIT,
    COLO_TCPS_LAST_ACK,
    COLO_TCPS_FIN_WAIT_1,
    COLO_TCPS_TIME_WAIT, /* ours: both FINs seen, the SVM's last ACK still to come */
} ColoTcpState;

typedef struct ColoRewriterStats {
    guint64 packets;   /* TCP packets seen */
    guint64 rewritten; /* of which a seq or ack was changed */
    guint64 passed;    /* non-TCP, unsupported or untracked after failover */
    guint64 restored;  /* rewritten, then given back their own numbers (colo_rewriter_restore) */
    guint64 connections_created;
    guint64 connections_closed;
} ColoRewriterStats;

typedef struct ColoRewriter ColoRewriter;

ColoRewriter *colo_rewriter_new(void);
void colo_rewriter_free(ColoRewriter *rw);

/*
 * Processes one packet in place (@data is writable, @len bytes, @vnet_hdr_len leading bytes of
 * virtio-net header). @primary_side: the packet goes from the network to the SVM. Checksums are
 * recomputed when a field changes. Returns TRUE if the packet was modified.
 */
gboolean colo_rewriter_process(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len,
                               gboolean primary_side);
/*
 * Undoes what colo_rewriter_process() did to @data, a packet from the network side that it
 * rewrote and that has not reached the SVM yet. Before a checkpoint's load, for the packets
 * waiting in the stopped SVM's NIC queue: delivered after it, they must carry the client's own
 * numbers, which are the PVM's and so the loaded guest's. Returns TRUE if @data changed.
 */
gboolean colo_rewriter_restore(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len);
/* COLO checkpoint: every offset is 0 from now on, so every connection is forgotten. */
void colo_rewriter_checkpoint(ColoRewriter *rw);
/*
 * After colo_rewriter_checkpoint(), for each packet still waiting in the stopped SVM's NIC
 * queue: a SYN there reaches the loaded guest after the load. If the PVM's guest took it after
 * its snapshot, the SVM answers with an ISN of its own while the client goes on with the PVM's;
 * so the connection is tracked again from that SYN on. If the PVM's guest had answered it
 * before, the SVM holds that answer and the client's ACK comes before any SYN|ACK of the SVM:
 * no offset then. Returns TRUE if @data opened a connection.
 */
gboolean colo_rewriter_reopen(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len);
/* COLO failover: stop tracking new connections, unless some connection still needs an offset. */
void colo_rewriter_failover(ColoRewriter *rw);
gboolean colo_rewriter_in_failover_mode(ColoRewriter *rw);

const ColoRewriterStats *colo_rewriter_stats(ColoRewriter *rw);
guint colo_rewriter_connections(ColoRewriter *rw);
/* The offset of the connection @key (guest's point of view); FALSE if not tracked. */
gboolean colo_rewriter_lookup(ColoRewriter *rw, const ColoConnKey *key, guint32 *offset,
                              ColoTcpState *state);
/* Calls @fn for every tracked connection, in no particular order. */
typedef void (*ColoRewriterConnFn)(const ColoConnKey *key, ColoTcpState state, guint32 offset,
                                   gpointer opaque);
void colo_rewriter_foreach(ColoRewriter *rw, ColoRewriterConnFn fn, gpointer opaque);
/* "established", "syn-sent", ...: the state's name in x-query-colo-rewriter. */
const char *colo_tcp_state_str(ColoTcpState state);

G_END_DECLS

#endif
