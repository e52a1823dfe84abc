/* The colo-compare engine (include/net/colo-compare-engine.h). */
#include "net/colo-compare-engine.h"
#include "util/log.h"

#include <string.h>

typedef struct ColoPacket {
    GList link; /* in a connection queue; link.data points back here */
    ColoPacketInfo info;
    gint64 arrival_ms;
    guint32 seq_end; /* TCP: seq + payload_size */
    guint32 offset;  /* TCP: payload bytes already matched */
    guint8 data[];
} ColoPacket;

typedef struct ColoConn {
    ColoConnKey key;
    GList link; /* in the engine's connection list (creation order) */
    GQueue queue[COLO_SIDE__MAX];
    guint8 ip_proto;
    /* TCP */
    guint32 last_ack[COLO_SIDE__MAX]; /* latest ack queued per side (upstream pack/sack) */
    guint32 compare_seq;              /* end of what both sides agreed on */
    gboolean compare_seq_set;
    /* passthrough decision, valid while pt_gen equals the engine's */
    guint pt_gen;
    ColoPassthroughRule *pt_rule;
} ColoConn;

struct ColoCompareEngine {
    ColoCompareConfig cfg;
    ColoCompareOps ops;
    void *opaque;
    GHashTable *conns; /* ColoConnKey* (inside ColoConn) -> ColoConn* */
    GQueue conn_list;
    guint queued[COLO_SIDE__MAX];
    ColoPassthrough *pt;
    ColoPassthroughSnapshot *pt_snap;
    guint pt_gen;
    ColoCompareStats stats;
};

static const char *const drop_names[COLO_DROP__MAX] = {
    [COLO_DROP_EMPTY] = "empty",           [COLO_DROP_UNSUPPORTED] = "unsupported",
    [COLO_DROP_MALFORMED] = "malformed",   [COLO_DROP_PASSTHROUGH] = "passthrough",
    [COLO_DROP_QUEUE_FULL] = "queue-full", [COLO_DROP_TABLE_FULL] = "table-full",
    [COLO_DROP_FLUSHED] = "flushed",
};

static const char *const release_names[COLO_RELEASE__MAX] = {
    [COLO_RELEASE_COMPARED] = "compared",     [COLO_RELEASE_UNSUPPORTED] = "unsupported",
    [COLO_RELEASE_MALFORMED] = "malformed",   [COLO_RELEASE_PASSTHROUGH] = "passthrough",
    [COLO_RELEASE_TABLE_FULL] = "table-full", [COLO_RELEASE_FLUSHED] = "flushed",
};

static const char *const checkpoint_names[COLO_CHECKPOINT__MAX] = {
    [COLO_CHECKPOINT_MISMATCH] = "mismatch",
    [COLO_CHECKPOINT_TIMEOUT] = "timeout",
    [COLO_CHECKPOINT_QUEUE_FULL] = "queue-full",
    [COLO_CHECKPOINT_TABLE_FULL] = "table-full",
};

static const char *const class_names[COLO_PROTO_CLASS__MAX] = {
    [COLO_PROTO_CLASS_TCP] = "tcp",
    [COLO_PROTO_CLASS_UDP] = "udp",
    [COLO_PROTO_CLASS_ICMP] = "icmp",
    [COLO_PROTO_CLASS_OTHER] = "other",
};

const char *colo_drop_reason_str(ColoDropReason r)
{
    return r < COLO_DROP__MAX ? drop_names[r] : "unknown";
}

const char *colo_release_reason_str(ColoReleaseReason r)
{
    return r < COLO_RELEASE__MAX ? release_names[r] : "unknown";
}

const char *colo_checkpoint_reason_str(ColoCheckpointReason r)
{
    return r < COLO_CHECKPOINT__MAX ? checkpoint_names[r] : "unknown";
}

const char *colo_proto_class_str(ColoProtoClass c)
{
    return c < COLO_PROTO_CLASS__MAX ? class_names[c] : "unknown";
}

ColoProtoClass colo_proto_class(guint8 ip_proto)
{
    switch (ip_proto) {
    case COLO_IPPROTO_TCP:
        return COLO_PROTO_CLASS_TCP;
    case COLO_IPPROTO_UDP:
        return COLO_PROTO_CLASS_UDP;
    case COLO_IPPROTO_ICMP:
        return COLO_PROTO_CLASS_ICMP;
    default:
        return COLO_PROTO_CLASS_OTHER;
    }
}

/* ---- packets and queues ---- */

static ColoPacket *packet_new(const ColoPacketInfo *info, const guint8 *data, gint64 now)
{
    ColoPacket *p = g_malloc(sizeof(*p) + info->size);
    p->link.data = p;
    p->link.next = p->link.prev = NULL;
    p->info = *info;
    p->arrival_ms = now;
    p->seq_end = info->seq + info->payload_size;
    p->offset = 0;
    memcpy(p->data, data, info->size);
    return p;
}

static ColoPacket *queue_pop(ColoCompareEngine *e, ColoConn *c, ColoSide side)
{
    GList *l = g_queue_peek_head_link(&c->queue[side]);
    if (!l) {
        return NULL;
    }
    g_queue_unlink(&c->queue[side], l);
    e->queued[side]--;
    return l->data;
}

/* Puts back a packet just popped, where it was. */
static void queue_unpop(ColoCompareEngine *e, ColoConn *c, ColoSide side, ColoPacket *p)
{
    g_queue_push_head_link(&c->queue[side], &p->link);
    e->queued[side]++;
}

/*
 * TCP queues are sorted by sequence number (wrap-aware), oldest first among equals: upstream's
 * order. Packets nearly always arrive in order, so the scan starts at the tail.
 */
static void queue_insert(ColoCompareEngine *e, ColoConn *c, ColoSide side, ColoPacket *p)
{
    GQueue *q = &c->queue[side];
    e->queued[side]++;
    if (p->info.ip_proto != COLO_IPPROTO_TCP) {
        g_queue_push_tail_link(q, &p->link);
        return;
    }
    GList *at = q->tail;
    while (at && colo_seq_after(((ColoPacket *)at->data)->info.seq, p->info.seq)) {
        at = at->prev;
    }
    if (!at) {
        g_queue_push_head_link(q, &p->link);
        return;
    }
    /* Insert after @at. */
    p->link.prev = at;
    p->link.next = at->next;
    if (at->next) {
        at->next->prev = &p->link;
    } else {
        q->tail = &p->link;
    }
    at->next = &p->link;
    q->length++;
}

static void release(ColoCompareEngine *e, const guint8 *data, guint32 len, guint32 vhdr,
                    ColoReleaseReason why)
{
    e->stats.out_packets++;
    e->stats.out_bytes += len;
    e->stats.released[why]++;
    if (e->ops.release) {
        e->ops.release(e->opaque, data, len, vhdr);
    }
}

static void release_packet(ColoCompareEngine *e, ColoPacket *p, ColoReleaseReason why)
{
    release(e, p->data, p->info.size, p->info.vnet_hdr_len, why);
    g_free(p);
}

static void request_checkpoint(ColoCompareEngine *e, ColoCheckpointReason why, ColoProtoClass cls,
                               const ColoConnKey *key)
{
    e->stats.checkpoint_requests[why]++;
    if (e->ops.checkpoint) {
        e->ops.checkpoint(e->opaque, why, cls, key);
    }
}

/* ---- connections ---- */

static void conn_free(gpointer data)
{
    ColoConn *c = data;
    for (int side = 0; side < COLO_SIDE__MAX; side++) {
        GList *l;
        while ((l = g_queue_peek_head_link(&c->queue[side]))) {
            g_queue_unlink(&c->queue[side], l);
            g_free(l->data);
        }
    }
    g_free(c);
}

static gboolean conn_idle(ColoConn *c)
{
    return g_queue_is_empty(&c->queue[COLO_SIDE_PRIMARY]) &&
           g_queue_is_empty(&c->queue[COLO_SIDE_SECONDARY]);
}

/*
 * Upstream empties the whole table (queued packets included) when it overflows. We forget only
 * connections that hold nothing, oldest first.
 */
static void evict_idle(ColoCompareEngine *e)
{
    GList *l = e->conn_list.head;
    while (l) {
        GList *next = l->next;
        ColoConn *c = l->data;
        if (conn_idle(c)) {
            g_queue_unlink(&e->conn_list, l);
            g_hash_table_remove(e->conns, &c->key);
            e->stats.connections_evicted++;
        }
        l = next;
    }
}

static ColoConn *conn_get(ColoCompareEngine *e, const ColoPacketInfo *info)
{
    ColoConn *c = g_hash_table_lookup(e->conns, &info->key);
    if (c) {
        return c;
    }
    if (g_hash_table_size(e->conns) >= e->cfg.max_connections) {
        evict_idle(e);
        if (g_hash_table_size(e->conns) >= e->cfg.max_connections) {
            return NULL;
        }
    }
    c = g_new0(ColoConn, 1);
    c->key = info->key;
    c->ip_proto = info->ip_proto;
    c->link.data = c;
    g_queue_init(&c->queue[0]);
    g_queue_init(&c->queue[1]);
    g_queue_push_tail_link(&e->conn_list, &c->link);
    g_hash_table_insert(e->conns, &c->key, c);
    e->stats.connections_created++;
    return c;
}

/* The rule this connection's packets match now, using the cached decision when still valid. */
static ColoPassthroughRule *passthrough_rule(ColoCompareEngine *e, ColoConn *c)
{
    if (!e->pt) {
        return NULL;
    }
    guint gen = colo_passthrough_generation(e->pt);
    if (gen != e->pt_gen) {
        colo_passthrough_snapshot_unref(e->pt_snap);
        e->pt_snap = colo_passthrough_get(e->pt);
        e->pt_gen = e->pt_snap->generation;
    }
    if (c->pt_gen != e->pt_gen) {
        c->pt_rule = e->pt_snap->n_rules ? colo_passthrough_match(e->pt_snap, &c->key) : NULL;
        c->pt_gen = e->pt_gen;
    }
    return c->pt_rule;
}

/* ---- comparison ---- */

typedef enum {
    TCP_MISMATCH,
    TCP_FREE_PRIMARY,
    TCP_FREE_SECONDARY,
    TCP_FREE_BOTH,
} TcpMark;

static TcpMark tcp_mark(ColoPacket *p, ColoPacket *s, guint32 min_ack)
{
    const guint8 *pp = p->data + p->info.header_size;
    const guint8 *sp = s->data + s->info.header_size;
    guint32 p_left = p->info.payload_size - p->offset;
    guint32 s_left = s->info.payload_size - s->offset;

    if (p->info.seq == s->info.seq && p->seq_end == s->seq_end &&
        p->info.payload_size == s->info.payload_size && !memcmp(pp, sp, p->info.payload_size)) {
        return TCP_FREE_BOTH;
    }
    /*
     * Segments are lined up by the bytes each side has matched so far. Upstream compares without
     * checking that the other side has that many bytes left; a shortfall is a mismatch here.
     */
    if (!colo_seq_after(p->seq_end, s->seq_end)) {
        if (p_left <= s_left && !memcmp(pp + p->offset, sp + s->offset, p_left)) {
            /* The secondary must have acknowledged what the primary acknowledges. */
            if (!colo_seq_after(p->info.ack, min_ack)) {
                s->offset += p_left;
                return TCP_FREE_PRIMARY;
            }
        }
    } else if (s_left <= p_left && !memcmp(pp + p->offset, sp + s->offset, s_left)) {
        p->offset += s_left;
        return TCP_FREE_SECONDARY;
    }
    return TCP_MISMATCH;
}

static gboolean tcp_already_matched(ColoConn *c, ColoPacket *pkt)
{
    return c->compare_seq_set && !colo_seq_after(pkt->seq_end, c->compare_seq);
}

static void set_compare_seq(ColoConn *c, guint32 seq)
{
    c->compare_seq = seq;
    c->compare_seq_set = TRUE;
}

/* A primary packet is decided only against secondary ones; the secondary queue empty, it waits. */
static void compare_tcp(ColoCompareEngine *e, ColoConn *c)
{
    guint32 pack = c->last_ack[COLO_SIDE_PRIMARY], sack = c->last_ack[COLO_SIDE_SECONDARY];
    guint32 min_ack = colo_seq_after(pack, sack) ? sack : pack;
    ColoPacket *p = NULL;

    for (;;) {
        if (!p) {
            p = queue_pop(e, c, COLO_SIDE_PRIMARY);
            if (!p) {
                return;
            }
        }
        ColoPacket *s = queue_pop(e, c, COLO_SIDE_SECONDARY);
        if (!s) {
            queue_unpop(e, c, COLO_SIDE_PRIMARY, p);
            return;
        }
        if (p->info.payload_size == 0 || tcp_already_matched(c, p)) {
            e->stats.compared[COLO_PROTO_CLASS_TCP]++;
            release_packet(e, p, COLO_RELEASE_COMPARED);
            p = NULL;
        }
        if (s->info.payload_size == 0 || tcp_already_matched(c, s)) {
            g_free(s);
            continue;
        }
        if (!p) {
            queue_unpop(e, c, COLO_SIDE_SECONDARY, s);
            continue;
        }
        switch (tcp_mark(p, s, min_ack)) {
        case TCP_FREE_BOTH:
            set_compare_seq(c, p->seq_end);
            e->stats.compared[COLO_PROTO_CLASS_TCP]++;
            release_packet(e, p, COLO_RELEASE_COMPARED);
            g_free(s);
            p = NULL;
            break;
        case TCP_FREE_PRIMARY:
            set_compare_seq(c, p->seq_end);
            e->stats.compared[COLO_PROTO_CLASS_TCP]++;
            release_packet(e, p, COLO_RELEASE_COMPARED);
            queue_unpop(e, c, COLO_SIDE_SECONDARY, s);
            p = NULL;
            break;
        case TCP_FREE_SECONDARY:
            set_compare_seq(c, s->seq_end);
            g_free(s);
            break;
        case TCP_MISMATCH:
            queue_unpop(e, c, COLO_SIDE_PRIMARY, p);
            queue_unpop(e, c, COLO_SIDE_SECONDARY, s);
            e->stats.mismatches[COLO_PROTO_CLASS_TCP]++;
            request_checkpoint(e, COLO_CHECKPOINT_MISMATCH, COLO_PROTO_CLASS_TCP, &c->key);
            return;
        }
    }
}

static gboolean same_from(const ColoPacket *p, const ColoPacket *s, guint32 offset)
{
    if (p->info.size != s->info.size) {
        return FALSE;
    }
    if (offset > p->info.size) {
        offset = p->info.size;
    }
    return !memcmp(p->data + offset, s->data + offset, p->info.size - offset);
}

static gboolean same_packet(ColoProtoClass cls, const ColoPacket *p, const ColoPacket *s)
{
    switch (cls) {
    case COLO_PROTO_CLASS_UDP:
    case COLO_PROTO_CLASS_ICMP:
        /* IP header ignored (ID, TTL, checksum differ legitimately); fixed 14-byte L2. */
        return same_from(p, s, p->info.l4_off);
    default:
        return same_from(p, s, p->info.vnet_hdr_len);
    }
}

/*
 * Non-TCP: the oldest primary packet against the secondary queue, oldest first (upstream takes
 * the newest primary packet, which mis-pairs pipelined requests).
 */
static void compare_other(ColoCompareEngine *e, ColoConn *c)
{
    ColoProtoClass cls = colo_proto_class(c->ip_proto);
    GQueue *sq = &c->queue[COLO_SIDE_SECONDARY];

    while (!g_queue_is_empty(&c->queue[COLO_SIDE_PRIMARY]) && !g_queue_is_empty(sq)) {
        ColoPacket *p = g_queue_peek_head(&c->queue[COLO_SIDE_PRIMARY]);
        GList *l;
        for (l = sq->head; l; l = l->next) {
            if (same_packet(cls, p, l->data)) {
                break;
            }
        }
        if (!l) {
            e->stats.mismatches[cls]++;
            request_checkpoint(e, COLO_CHECKPOINT_MISMATCH, cls, &c->key);
            return;
        }
        g_queue_unlink(sq, l);
        e->queued[COLO_SIDE_SECONDARY]--;
        g_free(l->data);
        queue_pop(e, c, COLO_SIDE_PRIMARY);
        e->stats.compared[cls]++;
        release_packet(e, p, COLO_RELEASE_COMPARED);
    }
}

/* ---- input ---- */

TRACE_POINT(trace_colo_compare_drop_packet, "colo_compare_drop_packet");

static void drop(ColoCompareEngine *e, ColoSide side, ColoDropReason why)
{
    e->stats.dropped[side][why]++;
    trace_fire(trace_colo_compare_drop_packet, "%s reason %s",
               side == COLO_SIDE_PRIMARY ? "primary" : "secondary", colo_drop_reason_str(why));
}

void colo_compare_engine_input(ColoCompareEngine *e, ColoSide side, const guint8 *data, guint32 len,
                               guint32 vnet_hdr_len, gint64 now_ms)
{
    gboolean primary = side == COLO_SIDE_PRIMARY;
    e->stats.in_packets[side]++;
    e->stats.in_bytes[side] += len;

    if (len == 0) {
        drop(e, side, COLO_DROP_EMPTY);
        return;
    }
    ColoPacketInfo info;
    ColoParseResult pr = colo_packet_parse(&info, data, len, vnet_hdr_len);
    if (pr != COLO_PARSE_OK) {
        gboolean unsup = pr == COLO_PARSE_UNSUPPORTED;
        if (primary) {
            release(e, data, len, vnet_hdr_len,
                    unsup ? COLO_RELEASE_UNSUPPORTED : COLO_RELEASE_MALFORMED);
        } else {
            drop(e, side, unsup ? COLO_DROP_UNSUPPORTED : COLO_DROP_MALFORMED);
        }
        return;
    }

    ColoConn *c = conn_get(e, &info);
    if (!c) {
        /* Every tracked connection holds packets: let this one by and ask for a flush. */
        if (primary) {
            release(e, data, len, vnet_hdr_len, COLO_RELEASE_TABLE_FULL);
        } else {
            drop(e, side, COLO_DROP_TABLE_FULL);
        }
        request_checkpoint(e, COLO_CHECKPOINT_TABLE_FULL, colo_proto_class(info.ip_proto),
                           &info.key);
        return;
    }

    ColoPassthroughRule *rule = passthrough_rule(e, c);
    if (rule) {
        colo_passthrough_rule_count(rule, len);
        e->stats.passthrough_hits++;
        if (primary) {
            release(e, data, len, vnet_hdr_len, COLO_RELEASE_PASSTHROUGH);
        } else {
            drop(e, side, COLO_DROP_PASSTHROUGH);
        }
        return;
    }

    if (g_queue_get_length(&c->queue[side]) >= e->cfg.max_queue_size) {
        /* Upstream drops silently; we count it and ask for the checkpoint that drains the queue. */
        drop(e, side, COLO_DROP_QUEUE_FULL);
        request_checkpoint(e, COLO_CHECKPOINT_QUEUE_FULL, colo_proto_class(info.ip_proto), &c->key);
        return;
    }

    ColoPacket *p = packet_new(&info, data, now_ms);
    if (info.ip_proto == COLO_IPPROTO_TCP) {
        c->last_ack[side] = info.ack;
    }
    queue_insert(e, c, side, p);

    if (c->ip_proto == COLO_IPPROTO_TCP) {
        compare_tcp(e, c);
    } else {
        compare_other(e, c);
    }
}

gboolean colo_compare_engine_scan(ColoCompareEngine *e, gint64 now_ms)
{
    for (GList *l = e->conn_list.head; l; l = l->next) {
        ColoConn *c = l->data;
        for (int side = 0; side < COLO_SIDE__MAX; side++) {
            for (GList *pl = c->queue[side].head; pl; pl = pl->next) {
                ColoPacket *p = pl->data;
                if (now_ms - p->arrival_ms > (gint64)e->cfg.compare_timeout_ms) {
                    request_checkpoint(e, COLO_CHECKPOINT_TIMEOUT, colo_proto_class(c->ip_proto),
                                       &c->key);
                    return TRUE;
                }
            }
        }
    }
    return FALSE;
}

void colo_compare_engine_flush(ColoCompareEngine *e)
{
    e->stats.flushes++;
    for (GList *l = e->conn_list.head; l; l = l->next) {
        ColoConn *c = l->data;
        ColoPacket *p;
        while ((p = queue_pop(e, c, COLO_SIDE_PRIMARY))) {
            release_packet(e, p, COLO_RELEASE_FLUSHED);
        }
        while ((p = queue_pop(e, c, COLO_SIDE_SECONDARY))) {
            drop(e, COLO_SIDE_SECONDARY, COLO_DROP_FLUSHED);
            g_free(p);
        }
    }
}

/* ---- life cycle ---- */

static void apply_config(ColoCompareEngine *e, const ColoCompareConfig *cfg)
{
    e->cfg.compare_timeout_ms =
        cfg && cfg->compare_timeout_ms ? cfg->compare_timeout_ms : COLO_COMPARE_DEFAULT_TIMEOUT_MS;
    e->cfg.max_queue_size =
        cfg && cfg->max_queue_size ? cfg->max_queue_size : COLO_COMPARE_DEFAULT_MAX_QUEUE;
    e->cfg.max_connections =
        cfg && cfg->max_connections ? cfg->max_connections : COLO_COMPARE_DEFAULT_MAX_CONNS;
}

ColoCompareEngine *colo_compare_engine_new(const ColoCompareConfig *cfg, const ColoCompareOps *ops,
                                           void *opaque, ColoPassthrough *pt)
{
    ColoCompareEngine *e = g_new0(ColoCompareEngine, 1);
    apply_config(e, cfg);
    if (ops) {
        e->ops = *ops;
    }
    e->opaque = opaque;
    e->conns = g_hash_table_new_full(colo_conn_key_hash, colo_conn_key_equal, NULL, conn_free);
    g_queue_init(&e->conn_list);
    e->pt = pt;
    return e;
}

void colo_compare_engine_set_config(ColoCompareEngine *e, const ColoCompareConfig *cfg)
{
    apply_config(e, cfg);
}

void colo_compare_engine_free(ColoCompareEngine *e)
{
    if (!e) {
        return;
    }
    g_hash_table_destroy(e->conns);
    colo_passthrough_snapshot_unref(e->pt_snap);
    g_free(e);
}

const ColoCompareStats *colo_compare_engine_stats(ColoCompareEngine *e)
{
    return &e->stats;
}

guint colo_compare_engine_connections(ColoCompareEngine *e)
{
    return g_hash_table_size(e->conns);
}

guint colo_compare_engine_queued(ColoCompareEngine *e, ColoSide side)
{
    return e->queued[side];
}
