/* filter-rewriter's TCP sequence-offset algorithm (include/net/colo-rewriter.h). */
#include "net/colo-rewriter.h"

typedef struct RwConn {
    ColoConnKey key;
    ColoTcpState state;
    guint32 offset;      /* secondary ISN - primary ISN, mod 2^32 */
    guint32 fin_ack_seq; /* seq of the SVM's FIN|ACK, in the primary's space */
} RwConn;

struct ColoRewriter {
    GHashTable *conns; /* ColoConnKey* (inside RwConn) -> RwConn* */
    gboolean failover_mode;
    ColoRewriterStats stats;
};

ColoRewriter *colo_rewriter_new(void)
{
    ColoRewriter *rw = g_new0(ColoRewriter, 1);
    rw->conns = g_hash_table_new_full(colo_conn_key_hash, colo_conn_key_equal, NULL, g_free);
    return rw;
}

void colo_rewriter_free(ColoRewriter *rw)
{
    if (rw) {
        g_hash_table_destroy(rw->conns);
        g_free(rw);
    }
}

static guint8 flags_of(const guint8 *tcp)
{
    return tcp[13];
}

static void set_ack(guint8 *tcp, guint32 v)
{
    colo_st_be32(tcp + 8, v);
}

static void set_seq(guint8 *tcp, guint32 v)
{
    colo_st_be32(tcp + 4, v);
}

static void forget(ColoRewriter *rw, RwConn *c)
{
    rw->stats.connections_closed++;
    g_hash_table_remove(rw->conns, &c->key);
}

/* Network -> SVM: acks move into the SVM's sequence space. */
static gboolean primary_side(ColoRewriter *rw, RwConn *c, guint8 *tcp)
{
    guint8 syn_ack = flags_of(tcp) & (COLO_TCP_SYN | COLO_TCP_ACK);
    guint32 ack = colo_ld_be32(tcp + 8);
    gboolean changed = FALSE;

    if (syn_ack == (COLO_TCP_SYN | COLO_TCP_ACK) && c->state == COLO_TCPS_SYN_SENT) {
        /*
         * The guest connected out. Upstream leaves such connections at offset 0, so the SVM
         * never accepts the peer's SYN|ACK; we learn the primary's ISN from its ack here.
         */
        c->offset -= ack - 1;
        c->state = COLO_TCPS_ESTABLISHED;
        if (c->offset) {
            set_ack(tcp, ack + c->offset);
            changed = TRUE;
        }
    }
    if (syn_ack == COLO_TCP_SYN) {
        c->state = COLO_TCPS_SYN_RECEIVED;
    }
    if (syn_ack == COLO_TCP_ACK) {
        if (c->state == COLO_TCPS_SYN_RECEIVED) {
            c->offset -= ack - 1;
            c->state = COLO_TCPS_ESTABLISHED;
        }
        if (c->offset) {
            set_ack(tcp, ack + c->offset);
            changed = TRUE;
        }
        /* Compared in the primary's space on both sides (upstream mixes the two). */
        if (c->state == COLO_TCPS_LAST_ACK && ack == c->fin_ack_seq + 1) {
            forget(rw, c);
            return changed;
        }
    }
    if (flags_of(tcp) & COLO_TCP_FIN) {
        if (c->state == COLO_TCPS_ESTABLISHED) {
            c->state = COLO_TCPS_CLOSE_WAIT;
        } else if (c->state == COLO_TCPS_FIN_WAIT_1) {
            /* Upstream forgets it here, before the SVM's ack of this FIN needs its offset. */
            c->state = COLO_TCPS_TIME_WAIT;
        }
    }
    if (flags_of(tcp) & COLO_TCP_RST) {
        forget(rw, c);
    }
    return changed;
}

/* SVM -> network: seqs move back into the primary's space. */
static gboolean secondary_side(ColoRewriter *rw, RwConn *c, guint8 *tcp)
{
    guint8 flags = flags_of(tcp);
    guint8 syn_ack = flags & (COLO_TCP_SYN | COLO_TCP_ACK);
    guint32 seq = colo_ld_be32(tcp + 4);
    gboolean changed = FALSE;

    if (c->state == COLO_TCPS_SYN_RECEIVED && syn_ack == (COLO_TCP_SYN | COLO_TCP_ACK)) {
        c->offset = seq;
    }
    if (c->state == COLO_TCPS_CLOSED && syn_ack == COLO_TCP_SYN) {
        c->state = COLO_TCPS_SYN_SENT;
        c->offset = seq;
    }
    if (syn_ack == COLO_TCP_ACK && c->offset) {
        seq -= c->offset;
        set_seq(tcp, seq);
        changed = TRUE;
    }
    if (c->state == COLO_TCPS_CLOSE_WAIT &&
        (flags & (COLO_TCP_ACK | COLO_TCP_FIN)) == (COLO_TCP_ACK | COLO_TCP_FIN)) {
        c->fin_ack_seq = seq;
        c->state = COLO_TCPS_LAST_ACK;
    }
    /*
     * The guest closes first. Upstream waits for a FIN without ACK, which a TCP stack never
     * sends once established, so such connections were never forgotten.
     */
    if (c->state == COLO_TCPS_ESTABLISHED && (flags & COLO_TCP_FIN)) {
        c->state = COLO_TCPS_FIN_WAIT_1;
    } else if (c->state == COLO_TCPS_TIME_WAIT && syn_ack == COLO_TCP_ACK &&
               !(flags & COLO_TCP_FIN)) {
        forget(rw, c); /* the SVM acked the peer's FIN: nothing more to rewrite */
        return changed;
    }
    if (flags & COLO_TCP_RST) {
        forget(rw, c);
    }
    return changed;
}

gboolean colo_rewriter_process(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len,
                               gboolean from_primary)
{
    ColoPacketInfo info;
    if (colo_packet_parse(&info, data, len, vnet_hdr_len) != COLO_PARSE_OK ||
        info.ip_proto != COLO_IPPROTO_TCP) {
        rw->stats.passed++;
        return FALSE;
    }
    rw->stats.packets++;

    ColoConnKey key;
    if (from_primary) {
        colo_conn_key_reverse(&key, &info.key);
    } else {
        key = info.key;
    }
    RwConn *c = g_hash_table_lookup(rw->conns, &key);
    if (!c) {
        /*
         * Only a SYN opens a connection. Upstream tracks any packet; an entry made from the
         * middle or the end of a connection stays CLOSED at offset 0 and is never forgotten.
         */
        guint8 flags = flags_of(data + info.l4_off);
        if (rw->failover_mode || (flags & (COLO_TCP_SYN | COLO_TCP_ACK)) != COLO_TCP_SYN) {
            rw->stats.passed++;
            return FALSE;
        }
        c = g_new0(RwConn, 1);
        c->key = key;
        c->state = COLO_TCPS_CLOSED;
        g_hash_table_insert(rw->conns, &c->key, c);
        rw->stats.connections_created++;
    }

    guint8 *tcp = data + info.l4_off;
    /* The handlers may free @c: nothing touches it afterwards. */
    gboolean changed = from_primary ? primary_side(rw, c, tcp) : secondary_side(rw, c, tcp);
    if (changed) {
        rw->stats.rewritten++;
        colo_packet_update_checksums(data, &info);
    }
    return changed;
}

/*
 * The SVM's TCP state is now the PVM's: every offset is 0 and stays 0 (only a handshake sets
 * one). Upstream keeps the entries with their offsets zeroed, but their states may no longer
 * be the SVM's: a FIN the PVM sent before the checkpoint is never sent by the SVM, so such a
 * connection was never forgotten, and a handshake cut by the checkpoint got a wrong offset
 * from the client's ACK. A connection forgotten here needs nothing: its packets pass as they
 * are, and a retransmitted SYN starts it again at offset 0.
 */
void colo_rewriter_checkpoint(ColoRewriter *rw)
{
    g_hash_table_remove_all(rw->conns);
}

static gboolean has_offset(gpointer key, gpointer value, gpointer data)
{
    return ((RwConn *)value)->offset != 0;
}

void colo_rewriter_failover(ColoRewriter *rw)
{
    if (!g_hash_table_find(rw->conns, has_offset, NULL)) {
        rw->failover_mode = TRUE;
    }
}

gboolean colo_rewriter_in_failover_mode(ColoRewriter *rw)
{
    return rw->failover_mode;
}

const ColoRewriterStats *colo_rewriter_stats(ColoRewriter *rw)
{
    return &rw->stats;
}

guint colo_rewriter_connections(ColoRewriter *rw)
{
    return g_hash_table_size(rw->conns);
}

gboolean colo_rewriter_lookup(ColoRewriter *rw, const ColoConnKey *key, guint32 *offset,
                              ColoTcpState *state)
{
    RwConn *c = g_hash_table_lookup(rw->conns, key);
    if (!c) {
        return FALSE;
    }
    if (offset) {
        *offset = c->offset;
    }
    if (state) {
        *state = c->state;
    }
    return TRUE;
}

void colo_rewriter_foreach(ColoRewriter *rw, ColoRewriterConnFn fn, gpointer opaque)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, rw->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const RwConn *c = value;
        fn(&c->key, c->state, c->offset, opaque);
    }
}

const char *colo_tcp_state_str(ColoTcpState state)
{
    static const char *const names[] = {
        [COLO_TCPS_CLOSED] = "closed",
        [COLO_TCPS_SYN_SENT] = "syn-sent",
        [COLO_TCPS_SYN_RECEIVED] = "syn-received",
        [COLO_TCPS_ESTABLISHED] = "established",
        [COLO_TCPS_CLOSE_WAIT] = "close-wait",
        [COLO_TCPS_LAST_ACK] = "last-ack",
        [COLO_TCPS_FIN_WAIT_1] = "fin-wait-1",
        [COLO_TCPS_TIME_WAIT] = "time-wait",
    };
    return (guint)state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}
