/* The colo-compare engine with crafted frames and an injected clock (net/colo-compare-engine.c). */
#include "net/colo-compare-engine.h"

#include <stdio.h>
#include "colo-test-packets.h"

typedef struct {
    ColoCompareEngine *e;
    ColoPassthrough pt;
    GPtrArray *out; /* released frames, GBytes */
    GArray *cps;    /* checkpoint reasons */
    gint64 now;
} Fx;

static void on_release(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    Fx *f = opaque;
    g_ptr_array_add(f->out, g_bytes_new(data, len));
}

static void on_checkpoint(void *opaque, ColoCheckpointReason why, ColoProtoClass cls,
                          const ColoConnKey *key)
{
    Fx *f = opaque;
    int v = why;
    g_array_append_val(f->cps, v);
}

static const ColoCompareOps ops = {on_release, on_checkpoint};

static void fx_init(Fx *f, guint32 max_queue, guint32 max_conns)
{
    ColoCompareConfig cfg = {.max_queue_size = max_queue, .max_connections = max_conns};
    colo_passthrough_init(&f->pt);
    f->e = colo_compare_engine_new(&cfg, &ops, f, &f->pt);
    f->out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    f->cps = g_array_new(FALSE, FALSE, sizeof(int));
    f->now = 1000000;
}

static void fx_free(Fx *f)
{
    colo_compare_engine_free(f->e);
    colo_passthrough_destroy(&f->pt);
    g_ptr_array_unref(f->out);
    g_array_unref(f->cps);
}

/* Builds @t and feeds it; returns the frame (for comparing with the output). */
static GBytes *feed(Fx *f, ColoSide side, const TestPkt *t)
{
    GByteArray *b = test_pkt(t);
    colo_compare_engine_input(f->e, side, b->data, b->len, t->vhdr, f->now);
    return g_byte_array_free_to_bytes(b);
}

static void feed_raw(Fx *f, ColoSide side, const guint8 *data, gsize len)
{
    colo_compare_engine_input(f->e, side, data, len, 0, f->now);
}

static void assert_out(Fx *f, guint i, GBytes *expect)
{
    g_assert_cmpuint(i, <, f->out->len);
    g_assert_true(g_bytes_equal(g_ptr_array_index(f->out, i), expect));
}

#define P COLO_SIDE_PRIMARY
#define S COLO_SIDE_SECONDARY

static const char payload[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?";

static TestPkt tcp(guint32 seq, guint off, gsize len)
{
    return (TestPkt){.sport = 80,
                     .dport = 40000,
                     .seq = seq,
                     .ack = 5000,
                     .flags = COLO_TCP_ACK | COLO_TCP_PSH,
                     .payload = payload + off,
                     .plen = len};
}

static void test_tcp_identical(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    GBytes *p[4];
    for (int i = 0; i < 4; i++) {
        TestPkt t = tcp(1000 + i * 16, i * 16, 16);
        p[i] = feed(&f, P, &t);
        t.ip_id = 77; /* the secondary's IP header differs: not compared for TCP */
        g_bytes_unref(feed(&f, S, &t));
    }
    g_assert_cmpuint(f.out->len, ==, 4);
    for (int i = 0; i < 4; i++) {
        assert_out(&f, i, p[i]);
        g_bytes_unref(p[i]);
    }
    g_assert_cmpuint(f.cps->len, ==, 0);
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(st->compared[COLO_PROTO_CLASS_TCP], ==, 4);
    g_assert_cmpuint(colo_compare_engine_queued(f.e, P), ==, 0);
    g_assert_cmpuint(colo_compare_engine_queued(f.e, S), ==, 0);
    g_assert_cmpuint(colo_compare_engine_connections(f.e), ==, 1);
    fx_free(&f);
}

/* The primary sends one 48-byte segment, the secondary three of 16: the same byte stream. */
static void test_tcp_resegmented(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt t = tcp(1000, 0, 48);
    GBytes *big = feed(&f, P, &t);
    for (int i = 0; i < 3; i++) {
        TestPkt s = tcp(1000 + 16 * i, 16 * i, 16);
        g_bytes_unref(feed(&f, S, &s));
    }
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, big);
    g_bytes_unref(big);

    /* And the other way round: three primary segments against one secondary segment. */
    GBytes *small[3];
    for (int i = 0; i < 3; i++) {
        TestPkt s = tcp(2000 + 16 * i, 16 * i, 16);
        small[i] = feed(&f, P, &s);
    }
    g_assert_cmpuint(f.out->len, ==, 1);
    t = tcp(2000, 0, 48);
    g_bytes_unref(feed(&f, S, &t));
    g_assert_cmpuint(f.out->len, ==, 4);
    for (int i = 0; i < 3; i++) {
        assert_out(&f, 1 + i, small[i]);
        g_bytes_unref(small[i]);
    }
    g_assert_cmpuint(f.cps->len, ==, 0);
    fx_free(&f);
}

static void test_tcp_one_byte_differs(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt t = tcp(1000, 0, 32);
    GBytes *pb = feed(&f, P, &t);
    char changed[32];
    memcpy(changed, payload, 32);
    changed[17] ^= 1;
    t.payload = changed;
    g_bytes_unref(feed(&f, S, &t));
    g_assert_cmpuint(f.out->len, ==, 0);
    g_assert_cmpuint(f.cps->len, ==, 1);
    g_assert_cmpint(g_array_index(f.cps, int, 0), ==, COLO_CHECKPOINT_MISMATCH);
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(st->mismatches[COLO_PROTO_CLASS_TCP], ==, 1);

    /* The checkpoint's flush lets the primary's packet out and discards the secondary's. */
    colo_compare_engine_flush(f.e);
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, pb);
    g_assert_cmpuint(st->dropped[S][COLO_DROP_FLUSHED], ==, 1);
    g_assert_cmpuint(st->released[COLO_RELEASE_FLUSHED], ==, 1);
    g_bytes_unref(pb);
    fx_free(&f);
}

/* Secondary segments arrive out of order: they are sorted by sequence number. */
static void test_tcp_reordered(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt s2 = tcp(1016, 16, 16), s1 = tcp(1000, 0, 16);
    g_bytes_unref(feed(&f, S, &s2));
    g_bytes_unref(feed(&f, S, &s1));
    TestPkt p1 = tcp(1000, 0, 16), p2 = tcp(1016, 16, 16);
    GBytes *b1 = feed(&f, P, &p1);
    GBytes *b2 = feed(&f, P, &p2);
    g_assert_cmpuint(f.out->len, ==, 2);
    assert_out(&f, 0, b1);
    assert_out(&f, 1, b2);
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_bytes_unref(b1);
    g_bytes_unref(b2);
    fx_free(&f);
}

/* A retransmission of data both sides already agreed on goes out without comparison. */
static void test_tcp_retransmitted(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt t = tcp(1000, 0, 16);
    g_bytes_unref(feed(&f, P, &t));
    g_bytes_unref(feed(&f, S, &t));
    g_assert_cmpuint(f.out->len, ==, 1);
    GBytes *again = feed(&f, P, &t);
    /* Held until a secondary packet comes, as upstream: then released as already matched. */
    g_assert_cmpuint(f.out->len, ==, 1);
    TestPkt next = tcp(1016, 16, 16);
    g_bytes_unref(feed(&f, S, &next));
    g_assert_cmpuint(f.out->len, ==, 2);
    assert_out(&f, 1, again);
    g_assert_cmpuint(f.cps->len, ==, 0);
    /* The secondary retransmits too: dropped quietly. */
    g_bytes_unref(feed(&f, S, &t));
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_bytes_unref(again);
    fx_free(&f);
}

/* Pure ACKs carry no guest output: released once the secondary is heard from, never compared. */
static void test_tcp_pure_ack_fin_rst(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt ack = {.sport = 80, .dport = 40000, .seq = 1000, .ack = 7000, .flags = COLO_TCP_ACK};
    GBytes *a = feed(&f, P, &ack);
    g_assert_cmpuint(f.out->len, ==, 0);
    TestPkt sack = ack;
    sack.ack = 6000; /* a different ack number: still no payload, so no mismatch */
    g_bytes_unref(feed(&f, S, &sack));
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, a);

    TestPkt fin = ack;
    fin.flags = COLO_TCP_FIN | COLO_TCP_ACK;
    GBytes *fb = feed(&f, P, &fin);
    TestPkt rst = ack;
    rst.flags = COLO_TCP_RST;
    g_bytes_unref(feed(&f, S, &rst));
    g_assert_cmpuint(f.out->len, ==, 2);
    assert_out(&f, 1, fb);
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_bytes_unref(a);
    g_bytes_unref(fb);
    fx_free(&f);
}

/* The primary acknowledges data the secondary has not acknowledged yet: not released. */
static void test_tcp_ack_ahead(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt s = tcp(1000, 0, 32);
    s.ack = 5000;
    g_bytes_unref(feed(&f, S, &s));
    TestPkt p = tcp(1000, 0, 16);
    p.ack = 5100;
    g_bytes_unref(feed(&f, P, &p));
    g_assert_cmpuint(f.out->len, ==, 0);
    g_assert_cmpuint(f.cps->len, ==, 1);
    fx_free(&f);
}

static TestPkt udp(const void *data, gsize len)
{
    return (TestPkt){
        .proto = COLO_IPPROTO_UDP, .sport = 53, .dport = 3000, .payload = data, .plen = len};
}

static void test_udp(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt p = udp("response-1", 10);
    GBytes *pb = feed(&f, P, &p);
    p.ip_id = 999; /* IP header differences are ignored for UDP */
    p.ttl = 3;
    g_bytes_unref(feed(&f, S, &p));
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, pb);
    g_bytes_unref(pb);

    TestPkt q = udp("response-2", 10), d = udp("response-X", 10);
    g_bytes_unref(feed(&f, P, &q));
    g_bytes_unref(feed(&f, S, &d));
    g_assert_cmpuint(f.out->len, ==, 1);
    g_assert_cmpuint(f.cps->len, ==, 1);
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(st->mismatches[COLO_PROTO_CLASS_UDP], ==, 1);
    fx_free(&f);
}

/* Pipelined datagrams: upstream matches the newest primary first and asks for a checkpoint. */
static void test_udp_pipelined_fifo(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt a = udp("first", 5), b = udp("second", 6);
    GBytes *pa = feed(&f, P, &a);
    GBytes *pb = feed(&f, P, &b);
    g_bytes_unref(feed(&f, S, &a));
    g_bytes_unref(feed(&f, S, &b));
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_assert_cmpuint(f.out->len, ==, 2);
    assert_out(&f, 0, pa);
    assert_out(&f, 1, pb);
    g_bytes_unref(pa);
    g_bytes_unref(pb);
    fx_free(&f);
}

static void test_icmp(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt p = {.proto = COLO_IPPROTO_ICMP, .sport = 1, .seq = 1, .payload = "ping", .plen = 4};
    GBytes *pb = feed(&f, P, &p);
    p.ip_id = 5;
    g_bytes_unref(feed(&f, S, &p));
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, pb);
    TestPkt q = p;
    q.payload = "pong";
    g_bytes_unref(feed(&f, P, &p));
    g_bytes_unref(feed(&f, S, &q));
    g_assert_cmpuint(f.cps->len, ==, 1);
    g_assert_cmpuint(colo_compare_engine_stats(f.e)->mismatches[COLO_PROTO_CLASS_ICMP], ==, 1);
    g_bytes_unref(pb);
    fx_free(&f);
}

/* Other IPv4 protocols are compared on the whole frame: even the IP header. */
static void test_other_proto_whole_frame(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt p = {.proto = 47, .payload = "gre!", .plen = 4};
    g_bytes_unref(feed(&f, P, &p));
    g_bytes_unref(feed(&f, S, &p));
    g_assert_cmpuint(f.out->len, ==, 1);
    TestPkt q = p;
    q.ttl = 9;
    g_bytes_unref(feed(&f, P, &p));
    g_bytes_unref(feed(&f, S, &q));
    g_assert_cmpuint(f.cps->len, ==, 1);
    g_assert_cmpuint(colo_compare_engine_stats(f.e)->mismatches[COLO_PROTO_CLASS_OTHER], ==, 1);
    fx_free(&f);
}

/* ARP, IPv6 and VLAN frames are not compared: primary out at once, secondary dropped. */
static void test_unsupported(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    static const guint16 types[] = {0x0806, 0x86dd, COLO_ETHERTYPE_VLAN};
    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        TestPkt t = {.ethertype = types[i], .proto = COLO_IPPROTO_UDP, .payload = "x", .plen = 1};
        GBytes *b = feed(&f, P, &t);
        assert_out(&f, i, b);
        g_bytes_unref(b);
        g_bytes_unref(feed(&f, S, &t));
    }
    /* A runt that claims IPv4 but has no room for its header. */
    static const guint8 runt[20] = {[12] = 0x08, [13] = 0x00, [14] = 0x45};
    feed_raw(&f, P, runt, sizeof(runt));
    feed_raw(&f, S, runt, sizeof(runt));
    feed_raw(&f, S, runt, 0);
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(f.out->len, ==, 4);
    g_assert_cmpuint(st->released[COLO_RELEASE_UNSUPPORTED], ==, 3);
    g_assert_cmpuint(st->released[COLO_RELEASE_MALFORMED], ==, 1);
    g_assert_cmpuint(st->dropped[S][COLO_DROP_UNSUPPORTED], ==, 3);
    g_assert_cmpuint(st->dropped[S][COLO_DROP_MALFORMED], ==, 1);
    g_assert_cmpuint(st->dropped[S][COLO_DROP_EMPTY], ==, 1);
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_assert_cmpuint(colo_compare_engine_connections(f.e), ==, 0);
    fx_free(&f);
}

/* With a virtio-net header in front, the same rules apply past it. */
static void test_vnet_hdr(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt t = tcp(1, 0, 10);
    t.vhdr = 12;
    GBytes *b = feed(&f, P, &t);
    g_bytes_unref(feed(&f, S, &t));
    g_assert_cmpuint(f.out->len, ==, 1);
    assert_out(&f, 0, b);
    g_assert_cmpuint(f.cps->len, ==, 0);
    /* A VHDR above 20 bytes is no virtio-net header: unsupported. */
    t.vhdr = 24;
    g_bytes_unref(feed(&f, P, &t));
    g_assert_cmpuint(colo_compare_engine_stats(f.e)->released[COLO_RELEASE_UNSUPPORTED], ==, 1);
    g_bytes_unref(b);
    fx_free(&f);
}

/* A full queue drops and counts the packet, and asks for the checkpoint that drains it. */
static void test_queue_overflow(void)
{
    Fx f;
    fx_init(&f, 4, 0);
    for (int i = 0; i < 6; i++) {
        TestPkt t = udp(payload + i, 4);
        g_bytes_unref(feed(&f, P, &t));
    }
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(colo_compare_engine_queued(f.e, P), ==, 4);
    g_assert_cmpuint(st->dropped[P][COLO_DROP_QUEUE_FULL], ==, 2);
    g_assert_cmpuint(st->checkpoint_requests[COLO_CHECKPOINT_QUEUE_FULL], ==, 2);
    colo_compare_engine_flush(f.e);
    g_assert_cmpuint(f.out->len, ==, 4);
    /* Flushed in arrival order. */
    for (int i = 0; i < 4; i++) {
        TestPkt t = udp(payload + i, 4);
        GByteArray *b = test_pkt(&t);
        GBytes *exp = g_byte_array_free_to_bytes(b);
        assert_out(&f, i, exp);
        g_bytes_unref(exp);
    }
    fx_free(&f);
}

/* compare_timeout with the clock injected: a packet strictly older than it asks once per scan. */
static void test_timeout(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    TestPkt t = udp("lonely", 6);
    g_bytes_unref(feed(&f, P, &t));
    g_assert_false(colo_compare_engine_scan(f.e, f.now + 3000));
    g_assert_cmpuint(f.cps->len, ==, 0);
    g_assert_true(colo_compare_engine_scan(f.e, f.now + 3001));
    g_assert_cmpuint(f.cps->len, ==, 1);
    g_assert_cmpint(g_array_index(f.cps, int, 0), ==, COLO_CHECKPOINT_TIMEOUT);
    colo_compare_engine_flush(f.e);
    g_assert_cmpuint(f.out->len, ==, 1);
    g_assert_false(colo_compare_engine_scan(f.e, f.now + 10000));
    fx_free(&f);
}

/* A full table forgets idle connections; if none is idle the packet passes and a flush is asked. */
static void test_table_full(void)
{
    Fx f;
    fx_init(&f, 0, 2);
    for (int i = 0; i < 3; i++) {
        TestPkt t = udp("x", 1);
        t.sport = 1000 + i;
        g_bytes_unref(feed(&f, P, &t));
        g_bytes_unref(feed(&f, S, &t));
    }
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(f.out->len, ==, 3);
    g_assert_cmpuint(st->connections_evicted, ==, 2);
    /* Two connections with queued packets, then a third. */
    for (int i = 0; i < 3; i++) {
        TestPkt t = udp("y", 1);
        t.sport = 2000 + i;
        g_bytes_unref(feed(&f, P, &t));
    }
    g_assert_cmpuint(colo_compare_engine_connections(f.e), ==, 2);
    g_assert_cmpuint(st->released[COLO_RELEASE_TABLE_FULL], ==, 1);
    g_assert_cmpuint(st->checkpoint_requests[COLO_CHECKPOINT_TABLE_FULL], ==, 1);
    g_assert_cmpuint(colo_compare_engine_queued(f.e, P), ==, 2);
    fx_free(&f);
}

/* A flow whose payload always differs: checkpoints without a rule, none with one. */
static void test_passthrough(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    char pbuf[32], sbuf[32];
    for (int i = 0; i < 3; i++) {
        g_snprintf(pbuf, sizeof(pbuf), "time=10:01.%03d", i);
        g_snprintf(sbuf, sizeof(sbuf), "time=10:01.%03d", i + 1);
        TestPkt p = udp(pbuf, strlen(pbuf)), s = udp(sbuf, strlen(sbuf));
        g_bytes_unref(feed(&f, P, &p));
        g_bytes_unref(feed(&f, S, &s));
        colo_compare_engine_flush(f.e); /* the checkpoint that the request led to */
    }
    g_assert_cmpuint(f.cps->len, ==, 3);
    guint before = f.out->len;

    ColoPassthroughRule r = {.has_proto = TRUE, .proto = COLO_IPPROTO_UDP, .src_port = 53};
    g_assert_true(colo_passthrough_add(&f.pt, &r, NULL));
    for (int i = 0; i < 3; i++) {
        g_snprintf(pbuf, sizeof(pbuf), "time=10:02.%03d", i);
        g_snprintf(sbuf, sizeof(sbuf), "time=10:02.%03d", i + 1);
        TestPkt p = udp(pbuf, strlen(pbuf)), s = udp(sbuf, strlen(sbuf));
        GBytes *pb = feed(&f, P, &p);
        assert_out(&f, before + i, pb); /* out at once */
        g_bytes_unref(pb);
        g_bytes_unref(feed(&f, S, &s));
    }
    g_assert_cmpuint(f.cps->len, ==, 3);
    const ColoCompareStats *st = colo_compare_engine_stats(f.e);
    g_assert_cmpuint(st->passthrough_hits, ==, 6);
    g_assert_cmpuint(st->dropped[S][COLO_DROP_PASSTHROUGH], ==, 3);
    ColoPassthroughSnapshot *snap = colo_passthrough_get(&f.pt);
    g_assert_cmpuint(snap->rules[0]->packets, ==, 6);
    colo_passthrough_snapshot_unref(snap);

    /* Deleted: the very next packet is compared again. */
    g_assert_true(colo_passthrough_del(&f.pt, &r, NULL));
    TestPkt p = udp("a", 1), s = udp("b", 1);
    g_bytes_unref(feed(&f, P, &p));
    g_bytes_unref(feed(&f, S, &s));
    g_assert_cmpuint(f.cps->len, ==, 4);
    fx_free(&f);
}

/* Sequence numbers that wrap around 2^32 inside a stream. */
static void test_tcp_seq_wrap(void)
{
    Fx f;
    fx_init(&f, 0, 0);
    guint32 base = 0xfffffff0u;
    TestPkt s2 = tcp(base + 16, 16, 16), s1 = tcp(base, 0, 16);
    g_bytes_unref(feed(&f, S, &s2));
    g_bytes_unref(feed(&f, S, &s1));
    TestPkt p1 = tcp(base, 0, 32);
    g_bytes_unref(feed(&f, P, &p1));
    g_assert_cmpuint(f.out->len, ==, 1);
    g_assert_cmpuint(f.cps->len, ==, 0);
    fx_free(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-compare/tcp/identical", test_tcp_identical);
    g_test_add_func("/colo-compare/tcp/resegmented", test_tcp_resegmented);
    g_test_add_func("/colo-compare/tcp/one-byte-differs", test_tcp_one_byte_differs);
    g_test_add_func("/colo-compare/tcp/reordered", test_tcp_reordered);
    g_test_add_func("/colo-compare/tcp/retransmitted", test_tcp_retransmitted);
    g_test_add_func("/colo-compare/tcp/pure-ack-fin-rst", test_tcp_pure_ack_fin_rst);
    g_test_add_func("/colo-compare/tcp/ack-ahead", test_tcp_ack_ahead);
    g_test_add_func("/colo-compare/tcp/seq-wrap", test_tcp_seq_wrap);
    g_test_add_func("/colo-compare/udp/differs", test_udp);
    g_test_add_func("/colo-compare/udp/pipelined-fifo", test_udp_pipelined_fifo);
    g_test_add_func("/colo-compare/icmp", test_icmp);
    g_test_add_func("/colo-compare/other-proto", test_other_proto_whole_frame);
    g_test_add_func("/colo-compare/unsupported", test_unsupported);
    g_test_add_func("/colo-compare/vnet-hdr", test_vnet_hdr);
    g_test_add_func("/colo-compare/queue-overflow", test_queue_overflow);
    g_test_add_func("/colo-compare/timeout", test_timeout);
    g_test_add_func("/colo-compare/table-full", test_table_full);
    g_test_add_func("/colo-compare/passthrough", test_passthrough);
    return g_test_run();
}
