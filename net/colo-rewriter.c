/* filter-rewriter's TCP sequence-offset algorithm (include/net/colo-rewriter.h). */
#include "net/colo-rewriter.h"

typedef struct RwConn {
    ColoConnKey key;
    ColoTcpState state;
    guint32 offset;      /* secondary ISN - primary ISN, mod 2^32 */
    guint32 fin_ack_seq; /* seq of the SVM's FIN|ACK, in the primary's space */
    /*
     * TCP timestamps (RFC 7323): the SVM's TSval minus the PVM's. Each guest adds its own
     * random per-connection offset and its own clock, so after a failover the peer would
     * drop the SVM's segments as old (PAWS) whenever its TSval is behind the PVM's.
     */
    guint32 ts_offset;
    guint32 svm_handshake_ts; /* the TSval of the SVM's SYN or SYN|ACK */
    gboolean has_svm_handshake_ts;
    /*
     * @offset holds the SVM's ISN (its SYN or SYN|ACK came through). Not yet on the client's
     * ACK: the SVM answered before a checkpoint, whose load gave it the PVM's ISN.
     */
    gboolean has_svm_isn;
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

/* The timestamp option's TSval (at +2) and TSecr (at +6) in a TCP header of @len bytes. */
static guint8 *find_timestamps(guint8 *tcp, guint32 len)
{
    for (guint32 i = 20; i < len;) {
        guint8 kind = tcp[i];
        if (kind == 0) {
            break;
        }
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || tcp[i + 1] < 2 || i + tcp[i + 1] > len) {
            break;
        }
        if (kind == 8 && tcp[i + 1] == 10) {
            return tcp + i;
        }
        i += tcp[i + 1];
    }
    return NULL;
}

/* The SVM's handshake TSval against the PVM's, which the peer echoes in its TSecr. */
static void learn_ts_offset(RwConn *c, const guint8 *ts)
{
    if (c->has_svm_handshake_ts && ts) {
        c->ts_offset = c->svm_handshake_ts - colo_ld_be32(ts + 6);
    }
}

/* The peer's echo of a TSval moved by @by (0: none to make; a zero TSecr echoes nothing). */
static gboolean move_tsecr(guint8 *ts, guint32 by)
{
    if (!ts || !by || !colo_ld_be32(ts + 6)) {
        return FALSE;
    }
    colo_st_be32(ts + 6, colo_ld_be32(ts + 6) + by);
    return TRUE;
}

/* The peer's echo of a PVM TSval, moved into the SVM's space. */
static gboolean rewrite_tsecr(RwConn *c, guint8 *ts)
{
    return move_tsecr(ts, c->ts_offset);
}

static void forget(ColoRewriter *rw, RwConn *c)
{
    rw->stats.connections_closed++;
    g_hash_table_remove(rw->conns, &c->key);
}

/* Network -> SVM: acks and timestamp echoes move into the SVM's space. */
static gboolean primary_side(ColoRewriter *rw, RwConn *c, guint8 *tcp, guint32 tcp_len)
{
    guint8 syn_ack = flags_of(tcp) & (COLO_TCP_SYN | COLO_TCP_ACK);
    guint32 ack = colo_ld_be32(tcp + 8);
    guint8 *ts = find_timestamps(tcp, tcp_len);
    gboolean changed = FALSE;

    if (syn_ack == (COLO_TCP_SYN | COLO_TCP_ACK) && c->state == COLO_TCPS_SYN_SENT) {
        /*
         * The guest connected out. Upstream leaves such connections at offset 0, so the SVM
         * never accepts the peer's SYN|ACK; we learn the primary's ISN from its ack here.
         */
        c->offset -= ack - 1;
        c->state = COLO_TCPS_ESTABLISHED;
        learn_ts_offset(c, ts);
        changed = rewrite_tsecr(c, ts);
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
            c->offset = c->has_svm_isn ? c->offset - (ack - 1) : 0;
            c->state = COLO_TCPS_ESTABLISHED;
            learn_ts_offset(c, ts);
        }
        if (c->offset) {
            set_ack(tcp, ack + c->offset);
            changed = TRUE;
        }
        changed |= rewrite_tsecr(c, ts);
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

/* SVM -> network: seqs and timestamps move back into the primary's space. */
static gboolean secondary_side(ColoRewriter *rw, RwConn *c, guint8 *tcp, guint32 tcp_len)
{
    guint8 flags = flags_of(tcp);
    guint8 syn_ack = flags & (COLO_TCP_SYN | COLO_TCP_ACK);
    guint32 seq = colo_ld_be32(tcp + 4);
    guint8 *ts = find_timestamps(tcp, tcp_len);
    gboolean changed = FALSE;

    if ((c->state == COLO_TCPS_SYN_RECEIVED && syn_ack == (COLO_TCP_SYN | COLO_TCP_ACK)) ||
        (c->state == COLO_TCPS_CLOSED && syn_ack == COLO_TCP_SYN)) {
        c->offset = seq;
        c->has_svm_isn = TRUE;
        c->has_svm_handshake_ts = ts != NULL;
        c->svm_handshake_ts = ts ? colo_ld_be32(ts + 2) : 0;
        if (syn_ack == COLO_TCP_SYN) {
            c->state = COLO_TCPS_SYN_SENT;
        }
    }
    if (syn_ack == COLO_TCP_ACK && c->offset) {
        seq -= c->offset;
        set_seq(tcp, seq);
        changed = TRUE;
    }
    if (syn_ack == COLO_TCP_ACK && ts && c->ts_offset) {
        colo_st_be32(ts + 2, colo_ld_be32(ts + 2) - c->ts_offset);
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

static RwConn *conn_open(ColoRewriter *rw, const ColoConnKey *key)
{
    RwConn *c = g_new0(RwConn, 1);
    c->key = *key;
    c->state = COLO_TCPS_CLOSED;
    g_hash_table_insert(rw->conns, &c->key, c);
    rw->stats.connections_created++;
    return c;
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
        c = conn_open(rw, &key);
    }

    guint8 *tcp = data + info.l4_off;
    /* The handlers may free @c: nothing touches it afterwards. */
    guint32 tcp_len = info.header_size - info.l4_off;
    gboolean changed =
        from_primary ? primary_side(rw, c, tcp, tcp_len) : secondary_side(rw, c, tcp, tcp_len);
    if (changed) {
        rw->stats.rewritten++;
        colo_packet_update_checksums(data, &info);
    }
    return changed;
}

/*
 * What primary_side() did to a packet, undone: the ack and the TSecr back in the peer's numbers.
 * The offsets in use are those it was moved by, as they only change on the handshake's ACK,
 * which itself is moved by the new one.
 */
gboolean colo_rewriter_restore(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len)
{
    ColoPacketInfo info;
    if (colo_packet_parse(&info, data, len, vnet_hdr_len) != COLO_PARSE_OK ||
        info.ip_proto != COLO_IPPROTO_TCP) {
        return FALSE;
    }
    ColoConnKey key;
    colo_conn_key_reverse(&key, &info.key);
    RwConn *c = g_hash_table_lookup(rw->conns, &key);
    guint8 *tcp = data + info.l4_off;
    if (!c || !(flags_of(tcp) & COLO_TCP_ACK)) {
        return FALSE;
    }
    gboolean changed = FALSE;
    if (c->offset) {
        set_ack(tcp, colo_ld_be32(tcp + 8) - c->offset);
        changed = TRUE;
    }
    changed |= move_tsecr(find_timestamps(tcp, info.header_size - info.l4_off), -c->ts_offset);
    if (changed) {
        rw->stats.restored++;
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

gboolean colo_rewriter_reopen(ColoRewriter *rw, guint8 *data, guint32 len, guint32 vnet_hdr_len)
{
    ColoPacketInfo info;
    if (rw->failover_mode || colo_packet_parse(&info, data, len, vnet_hdr_len) != COLO_PARSE_OK ||
        info.ip_proto != COLO_IPPROTO_TCP ||
        (flags_of(data + info.l4_off) & (COLO_TCP_SYN | COLO_TCP_ACK)) != COLO_TCP_SYN) {
        return FALSE;
    }
    ColoConnKey key;
    colo_conn_key_reverse(&key, &info.key);
    if (g_hash_table_lookup(rw->conns, &key)) {
        return FALSE; /* a retransmitted SYN queued behind the first */
    }
    conn_open(rw, &key)->state = COLO_TCPS_SYN_RECEIVED;
    return TRUE;
}

static gboolean has_offset(gpointer key, gpointer value, gpointer data)
{
    return ((RwConn *)value)->offset != 0 || ((RwConn *)value)->ts_offset != 0;
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
