/*
 * filter-rewriter's algorithm (net/colo-rewriter.c) on crafted handshakes where the secondary's
 * ISN differs from the primary's: after the rewriter, the secondary's output equals the
 * primary's byte for byte.
 */
#include "net/colo-rewriter.h"

#include "colo-test-packets.h"

#define CLIENT "192.168.1.100"
#define GUEST  "10.0.0.2"
#define CPORT  50000
#define GPORT  80

static const guint32 C_ISN = 7000, P_ISN = 1000, S_ISN = 0x90000000u;

static GByteArray *segment(const char *src, guint16 sport, const char *dst, guint16 dport,
                           guint8 flags, guint32 seq, guint32 ack, const char *data)
{
    return test_tcp_segment(src, sport, dst, dport, flags, seq, ack, data, 0);
}

/* From the client to the guest (the primary side, through the mirror). */
static GByteArray *to_guest(guint8 flags, guint32 seq, guint32 ack, const char *data)
{
    return segment(CLIENT, CPORT, GUEST, GPORT, flags, seq, ack, data);
}

/* From the guest to the client (the VM's output). */
static GByteArray *from_guest(guint8 flags, guint32 seq, guint32 ack, const char *data)
{
    return segment(GUEST, GPORT, CLIENT, CPORT, flags, seq, ack, data);
}

static guint32 seq_of(GByteArray *b)
{
    return colo_ld_be32(b->data + 14 + 20 + 4);
}

static guint32 ack_of(GByteArray *b)
{
    return colo_ld_be32(b->data + 14 + 20 + 8);
}

static gboolean process(ColoRewriter *rw, GByteArray *b, gboolean primary_side)
{
    return colo_rewriter_process(rw, b->data, b->len, 0, primary_side);
}

/* Checks that the IPv4 and TCP checksums of @b verify (colo-test-packets.h's own sum). */
static void assert_checksums_ok(GByteArray *b)
{
    g_assert_true(test_checksums_ok(b->data + 14));
}

#define U(b) g_byte_array_unref(b)

/* The connection of handshake(), as the rewriter keys it (from the guest's point of view). */
static ColoConnKey conn_key(void)
{
    return (ColoConnKey){.proto = COLO_IPPROTO_TCP,
                         .src = test_ip(GUEST),
                         .dst = test_ip(CLIENT),
                         .src_port = GPORT,
                         .dst_port = CPORT};
}

/* Brings a guest-as-server connection to ESTABLISHED with offset S_ISN - P_ISN. */
static void handshake(ColoRewriter *rw)
{
    GByteArray *syn = to_guest(COLO_TCP_SYN, C_ISN, 0, NULL);
    g_assert_false(process(rw, syn, TRUE));
    GByteArray *synack = from_guest(COLO_TCP_SYN | COLO_TCP_ACK, S_ISN, C_ISN + 1, NULL);
    g_assert_false(process(rw, synack, FALSE));
    g_assert_cmpuint(seq_of(synack), ==, S_ISN);
    /* The client acks the primary's SYN|ACK: that ack moves into the secondary's space. */
    GByteArray *ack = to_guest(COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, NULL);
    g_assert_true(process(rw, ack, TRUE));
    g_assert_cmpuint(ack_of(ack), ==, S_ISN + 1);
    assert_checksums_ok(ack);
    U(syn);
    U(synack);
    U(ack);
}

static void test_server_stream_equal(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    handshake(rw);
    ColoConnKey k = conn_key();
    guint32 off;
    ColoTcpState st;
    g_assert_true(colo_rewriter_lookup(rw, &k, &off, &st));
    g_assert_cmpuint(off, ==, S_ISN - P_ISN);
    g_assert_cmpint(st, ==, COLO_TCPS_ESTABLISHED);

    static const char *const chunks[] = {"HTTP/1.1 200 OK\r\n", "Content-Length: 5\r\n\r\n",
                                         "hello"};
    guint32 p_seq = P_ISN + 1, s_seq = S_ISN + 1;
    for (guint i = 0; i < G_N_ELEMENTS(chunks); i++) {
        GByteArray *pvm = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, p_seq, C_ISN + 1, chunks[i]);
        GByteArray *svm = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, s_seq, C_ISN + 1, chunks[i]);
        g_assert_true(process(rw, svm, FALSE));
        g_assert_cmpmem(svm->data, svm->len, pvm->data, pvm->len);
        p_seq += strlen(chunks[i]);
        s_seq += strlen(chunks[i]);
        U(pvm);
        U(svm);
        /* The client's ack of it reaches the SVM in the SVM's space. */
        GByteArray *cack = to_guest(COLO_TCP_ACK, C_ISN + 1, p_seq, NULL);
        g_assert_true(process(rw, cack, TRUE));
        g_assert_cmpuint(ack_of(cack), ==, s_seq);
        assert_checksums_ok(cack);
        U(cack);
    }

    /* Passive close: client FIN, guest FIN|ACK, client's last ACK forgets the connection. */
    GByteArray *fin = to_guest(COLO_TCP_FIN | COLO_TCP_ACK, C_ISN + 1, p_seq, NULL);
    process(rw, fin, TRUE);
    g_assert_cmpuint(ack_of(fin), ==, s_seq);
    g_assert_true(colo_rewriter_lookup(rw, &k, NULL, &st));
    g_assert_cmpint(st, ==, COLO_TCPS_CLOSE_WAIT);
    GByteArray *pfin = from_guest(COLO_TCP_FIN | COLO_TCP_ACK, p_seq, C_ISN + 2, NULL);
    GByteArray *sfin = from_guest(COLO_TCP_FIN | COLO_TCP_ACK, s_seq, C_ISN + 2, NULL);
    g_assert_true(process(rw, sfin, FALSE));
    g_assert_cmpmem(sfin->data, sfin->len, pfin->data, pfin->len);
    g_assert_true(colo_rewriter_lookup(rw, &k, NULL, &st));
    g_assert_cmpint(st, ==, COLO_TCPS_LAST_ACK);
    GByteArray *last = to_guest(COLO_TCP_ACK, C_ISN + 2, p_seq + 1, NULL);
    g_assert_true(process(rw, last, TRUE));
    g_assert_cmpuint(ack_of(last), ==, s_seq + 1);
    /* Upstream compares the rewritten ack here and keeps the entry; we forget it. */
    g_assert_false(colo_rewriter_lookup(rw, &k, NULL, NULL));
    g_assert_cmpuint(colo_rewriter_stats(rw)->connections_closed, ==, 1);
    U(fin);
    U(pfin);
    U(sfin);
    U(last);
    colo_rewriter_free(rw);
}

/*
 * The guest closes first (an HTTP server does): its FIN carries an ACK, as every FIN of an
 * established connection does, and the SVM's ack of the client's FIN still needs the offset.
 * Upstream waits for a FIN without ACK and keeps such connections for good.
 */
static void test_guest_closes_first(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    handshake(rw);
    ColoConnKey k = conn_key();
    ColoTcpState st;
    GByteArray *sfin = from_guest(COLO_TCP_FIN | COLO_TCP_ACK, S_ISN + 1, C_ISN + 1, NULL);
    g_assert_true(process(rw, sfin, FALSE));
    g_assert_cmpuint(seq_of(sfin), ==, P_ISN + 1);
    g_assert_true(colo_rewriter_lookup(rw, &k, NULL, &st));
    g_assert_cmpint(st, ==, COLO_TCPS_FIN_WAIT_1);
    GByteArray *cfin = to_guest(COLO_TCP_FIN | COLO_TCP_ACK, C_ISN + 1, P_ISN + 2, NULL);
    g_assert_true(process(rw, cfin, TRUE));
    g_assert_cmpuint(ack_of(cfin), ==, S_ISN + 2);
    g_assert_true(colo_rewriter_lookup(rw, &k, NULL, &st));
    g_assert_cmpint(st, ==, COLO_TCPS_TIME_WAIT);
    GByteArray *last = from_guest(COLO_TCP_ACK, S_ISN + 2, C_ISN + 2, NULL);
    g_assert_true(process(rw, last, FALSE));
    g_assert_cmpuint(seq_of(last), ==, P_ISN + 2);
    assert_checksums_ok(last);
    g_assert_false(colo_rewriter_lookup(rw, &k, NULL, NULL));
    g_assert_cmpuint(colo_rewriter_stats(rw)->connections_closed, ==, 1);
    /* A late retransmission does not bring the connection back. */
    GByteArray *again = to_guest(COLO_TCP_FIN | COLO_TCP_ACK, C_ISN + 1, P_ISN + 2, NULL);
    g_assert_false(process(rw, again, TRUE));
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
    U(sfin);
    U(cfin);
    U(last);
    U(again);
    colo_rewriter_free(rw);
}

/* A reset ends the connection from either side; only a SYN starts tracking one. */
static void test_reset_and_untracked(void)
{
    for (int from_guest_side = 0; from_guest_side < 2; from_guest_side++) {
        ColoRewriter *rw = colo_rewriter_new();
        handshake(rw);
        g_assert_cmpuint(colo_rewriter_connections(rw), ==, 1);
        GByteArray *rst = from_guest_side
                              ? from_guest(COLO_TCP_RST | COLO_TCP_ACK, S_ISN + 1, C_ISN + 1, NULL)
                              : to_guest(COLO_TCP_RST | COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, NULL);
        g_assert_true(process(rw, rst, !from_guest_side));
        g_assert_cmpuint(from_guest_side ? seq_of(rst) : ack_of(rst), ==,
                         from_guest_side ? P_ISN + 1 : S_ISN + 1);
        g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
        /* Data of a connection it never saw open passes untouched and untracked. */
        GByteArray *mid = to_guest(COLO_TCP_ACK | COLO_TCP_PSH, C_ISN + 9, P_ISN + 9, "late");
        g_assert_false(process(rw, mid, TRUE));
        g_assert_false(colo_rewriter_restore(rw, mid->data, mid->len, 0));
        g_assert_cmpuint(ack_of(mid), ==, P_ISN + 9);
        g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
        g_assert_cmpuint(colo_rewriter_stats(rw)->connections_created, ==, 1);
        U(rst);
        U(mid);
        colo_rewriter_free(rw);
    }
}

/* A segment of the test's connection carrying only NOP, NOP, Timestamps(TSval, TSecr). */
static GByteArray *ts_segment(gboolean guest, guint8 flags, guint32 seq, guint32 ack, guint32 tsval,
                              guint32 tsecr)
{
    GByteArray *b = guest ? from_guest(flags, seq, ack, "optionsoptio")
                          : to_guest(flags, seq, ack, "optionsoptio");
    guint8 *tcp = b->data + 14 + 20;
    tcp[12] = 8 << 4;
    tcp[20] = tcp[21] = 1;
    tcp[22] = 8;
    tcp[23] = 10;
    colo_st_be32(tcp + 24, tsval);
    colo_st_be32(tcp + 28, tsecr);
    test_fill_checksums(b->data + 14);
    return b;
}

static guint32 tsval_of(GByteArray *b)
{
    return colo_ld_be32(b->data + 14 + 20 + 24);
}

static guint32 tsecr_of(GByteArray *b)
{
    return colo_ld_be32(b->data + 14 + 20 + 28);
}

/*
 * TCP timestamps: each VM has its own clock and random per-connection offset. After a failover
 * the client would drop the SVM's segments whose TSval is behind the PVM's (PAWS), so TSvals
 * move into the PVM's space and the client's echoes into the SVM's, like sequence numbers.
 */
static void test_timestamps(void)
{
    static const guint32 C_TS = 500, P_TS = 0x70000000u, S_TS = 0x10000000u;
    for (int guest_connects = 0; guest_connects < 2; guest_connects++) {
        ColoRewriter *rw = colo_rewriter_new();
        GByteArray *a, *b, *c;
        if (guest_connects) {
            a = ts_segment(TRUE, COLO_TCP_SYN, S_ISN, 0, S_TS, 0);
            process(rw, a, FALSE);
            /* The peer's SYN|ACK echoes the PVM's SYN: the SVM gets its own TSval back. */
            b = ts_segment(FALSE, COLO_TCP_SYN | COLO_TCP_ACK, C_ISN, P_ISN + 1, C_TS, P_TS);
            g_assert_true(process(rw, b, TRUE));
            g_assert_cmpuint(tsecr_of(b), ==, S_TS);
            g_assert_cmpuint(ack_of(b), ==, S_ISN + 1);
            c = NULL;
        } else {
            a = ts_segment(FALSE, COLO_TCP_SYN, C_ISN, 0, C_TS, 0);
            process(rw, a, TRUE);
            b = ts_segment(TRUE, COLO_TCP_SYN | COLO_TCP_ACK, S_ISN, C_ISN + 1, S_TS, C_TS);
            process(rw, b, FALSE);
            g_assert_cmpuint(tsval_of(b), ==, S_TS); /* the SYN|ACK goes nowhere: untouched */
            c = ts_segment(FALSE, COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, C_TS + 1, P_TS);
            g_assert_true(process(rw, c, TRUE));
            g_assert_cmpuint(tsecr_of(c), ==, S_TS);
            assert_checksums_ok(c);
        }
        GByteArray *data =
            ts_segment(TRUE, COLO_TCP_ACK | COLO_TCP_PSH, S_ISN + 1, C_ISN + 1, S_TS + 7, C_TS + 1);
        g_assert_true(process(rw, data, FALSE));
        g_assert_cmpuint(tsval_of(data), ==, P_TS + 7);
        g_assert_cmpuint(tsecr_of(data), ==, C_TS + 1);
        g_assert_cmpuint(seq_of(data), ==, P_ISN + 1);
        assert_checksums_ok(data);
        GByteArray *echo =
            ts_segment(FALSE, COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, C_TS + 2, P_TS + 7);
        g_assert_true(process(rw, echo, TRUE));
        g_assert_cmpuint(tsecr_of(echo), ==, S_TS + 7);
        g_assert_cmpuint(tsval_of(echo), ==, C_TS + 2);
        assert_checksums_ok(echo);
        /* Undone (the packet waited for a checkpoint's load): the peer's own numbers again. */
        g_assert_true(colo_rewriter_restore(rw, echo->data, echo->len, 0));
        g_assert_cmpuint(ack_of(echo), ==, P_ISN + 1);
        g_assert_cmpuint(tsecr_of(echo), ==, P_TS + 7);
        g_assert_cmpuint(tsval_of(echo), ==, C_TS + 2);
        assert_checksums_ok(echo);
        g_assert_cmpuint(colo_rewriter_stats(rw)->restored, ==, 1);
        /* An offset of timestamps alone keeps the rewriter tracking at failover. */
        colo_rewriter_failover(rw);
        g_assert_false(colo_rewriter_in_failover_mode(rw));
        U(a);
        U(b);
        if (c) {
            U(c);
        }
        U(data);
        U(echo);
        colo_rewriter_free(rw);
    }
}

/* After a checkpoint the SVM's TCP state is the PVM's: nothing to rewrite any more. */
static void test_checkpoint_and_failover(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    handshake(rw);
    colo_rewriter_failover(rw);
    g_assert_false(colo_rewriter_in_failover_mode(rw)); /* an offset is still in use */

    colo_rewriter_checkpoint(rw);
    GByteArray *data = from_guest(COLO_TCP_ACK, P_ISN + 1, C_ISN + 1, "same");
    GByteArray *copy = g_byte_array_new();
    g_byte_array_append(copy, data->data, data->len);
    g_assert_false(process(rw, data, FALSE));
    g_assert_cmpmem(data->data, data->len, copy->data, copy->len);

    colo_rewriter_failover(rw);
    g_assert_true(colo_rewriter_in_failover_mode(rw));
    /* A new connection after failover is not tracked. */
    guint before = colo_rewriter_connections(rw);
    TestPkt t = {.src = CLIENT, .dst = GUEST, .sport = 1234, .dport = 22, .flags = COLO_TCP_SYN};
    GByteArray *syn = test_pkt(&t);
    g_assert_false(process(rw, syn, TRUE));
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, before);
    U(data);
    U(copy);
    U(syn);
    colo_rewriter_free(rw);
}

/*
 * A connection whose handshake no checkpoint followed before the failover: the survivor's guest
 * keeps its own ISN, so the rewriter translates it on, both ways, for good (spec §4.4). A fresh
 * rewriter, the one of a new secondary after re-protection, never saw it open and passes the
 * survivor guest's numbers untouched: the client cannot take them after the next failover
 * (docs/colo.md, "What a second failover keeps").
 */
static void test_failover_keeps_translating(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    handshake(rw);
    colo_rewriter_failover(rw);
    g_assert_false(colo_rewriter_in_failover_mode(rw));

    GByteArray *reply = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, S_ISN + 1, C_ISN + 5, "echo");
    g_assert_true(process(rw, reply, FALSE));
    g_assert_cmpuint(seq_of(reply), ==, P_ISN + 1);
    assert_checksums_ok(reply);
    GByteArray *cack = to_guest(COLO_TCP_ACK, C_ISN + 5, P_ISN + 5, NULL);
    g_assert_true(process(rw, cack, TRUE));
    g_assert_cmpuint(ack_of(cack), ==, S_ISN + 5);
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, 1);

    ColoRewriter *fresh = colo_rewriter_new();
    GByteArray *again = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, S_ISN + 5, C_ISN + 5, "more");
    g_assert_false(process(fresh, again, FALSE));
    g_assert_cmpuint(seq_of(again), ==, S_ISN + 5);
    g_assert_cmpuint(colo_rewriter_connections(fresh), ==, 0);
    U(reply);
    U(cack);
    U(again);
    colo_rewriter_free(fresh);
    colo_rewriter_free(rw);
}

/* The guest connects out: the peer's SYN|ACK acks the primary's ISN (upstream never fixes it). */
static void test_guest_initiated(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    const guint32 P2 = 111, S2 = 0xfffffff0u, PEER = 5555;
    GByteArray *ssyn = from_guest(COLO_TCP_SYN, S2, 0, NULL);
    g_assert_false(process(rw, ssyn, FALSE));
    GByteArray *synack = to_guest(COLO_TCP_SYN | COLO_TCP_ACK, PEER, P2 + 1, NULL);
    g_assert_true(process(rw, synack, TRUE));
    g_assert_cmpuint(ack_of(synack), ==, S2 + 1);
    assert_checksums_ok(synack);

    GByteArray *pvm = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, P2 + 1, PEER + 1, "GET /");
    GByteArray *svm = from_guest(COLO_TCP_ACK | COLO_TCP_PSH, S2 + 1, PEER + 1, "GET /");
    g_assert_true(process(rw, svm, FALSE));
    g_assert_cmpmem(svm->data, svm->len, pvm->data, pvm->len);
    U(ssyn);
    U(synack);
    U(pvm);
    U(svm);
    colo_rewriter_free(rw);
}

static gboolean reopen(ColoRewriter *rw, GByteArray *b)
{
    return colo_rewriter_reopen(rw, b->data, b->len, 0);
}

/*
 * What a checkpoint leaves tracked from the packets still queued for the SVM: a client's SYN
 * opens its connection (once), in the state the SYN itself would have left; anything else, or
 * anything after failover, opens none.
 */
static void test_reopen_after_checkpoint(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    GByteArray *ack = to_guest(COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, NULL);
    GByteArray *synack = to_guest(COLO_TCP_SYN | COLO_TCP_ACK, C_ISN, P_ISN + 1, NULL);
    GByteArray *syn = to_guest(COLO_TCP_SYN, C_ISN, 0, NULL);
    GByteArray *copy = g_byte_array_new();
    TestPkt t = {.proto = COLO_IPPROTO_UDP, .sport = 1, .dport = 2, .payload = "u", .plen = 1};
    GByteArray *udp = test_pkt(&t);
    ColoConnKey key = conn_key();
    ColoTcpState state;

    g_byte_array_append(copy, syn->data, syn->len);
    g_assert_false(reopen(rw, ack));
    g_assert_false(reopen(rw, synack));
    g_assert_false(reopen(rw, udp));
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
    g_assert_true(reopen(rw, syn));
    g_assert_false(reopen(rw, syn));
    g_assert_cmpmem(syn->data, syn->len, copy->data, copy->len);
    g_assert_true(colo_rewriter_lookup(rw, &key, NULL, &state));
    g_assert_cmpint(state, ==, COLO_TCPS_SYN_RECEIVED);
    /* the SVM's answer and the client's ACK of the PVM's: the offset of a handshake */
    GByteArray *svm = from_guest(COLO_TCP_SYN | COLO_TCP_ACK, S_ISN, C_ISN + 1, NULL);
    g_assert_false(process(rw, svm, FALSE));
    g_assert_true(process(rw, ack, TRUE));
    g_assert_cmpuint(ack_of(ack), ==, S_ISN + 1);
    /* no answer from the SVM before the client's ACK: it has the PVM's ISN, no offset */
    colo_rewriter_checkpoint(rw);
    g_assert_true(reopen(rw, syn));
    GByteArray *ack2 = to_guest(COLO_TCP_ACK, C_ISN + 1, P_ISN + 1, NULL);
    g_assert_false(process(rw, ack2, TRUE));
    g_assert_cmpuint(ack_of(ack2), ==, P_ISN + 1);
    g_assert_true(colo_rewriter_lookup(rw, &key, NULL, &state));
    g_assert_cmpint(state, ==, COLO_TCPS_ESTABLISHED);
    colo_rewriter_failover(rw);
    g_assert_true(colo_rewriter_in_failover_mode(rw));
    U(ack2);

    colo_rewriter_checkpoint(rw);
    g_assert_false(reopen(rw, syn));
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
    U(ack);
    U(synack);
    U(syn);
    U(copy);
    U(udp);
    U(svm);
    colo_rewriter_free(rw);
}

static void test_non_tcp_untouched(void)
{
    ColoRewriter *rw = colo_rewriter_new();
    TestPkt t = {.proto = COLO_IPPROTO_UDP, .sport = 1, .dport = 2, .payload = "u", .plen = 1};
    GByteArray *b = test_pkt(&t);
    g_assert_false(process(rw, b, FALSE));
    TestPkt arp = {.ethertype = 0x0806};
    GByteArray *a = test_pkt(&arp);
    g_assert_false(process(rw, a, TRUE));
    g_assert_cmpuint(colo_rewriter_connections(rw), ==, 0);
    g_assert_cmpuint(colo_rewriter_stats(rw)->passed, ==, 2);
    U(b);
    U(a);
    colo_rewriter_free(rw);
}

/*
 * The tests' own checksum against a known answer (the IPv4 header of RFC 1071's usual worked
 * example, sum 0xb861), and the product's colo_packet_update_checksums against the tests' own.
 */
static void test_checksum_references(void)
{
    static const guint8 known[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    g_assert_cmphex(test_fold(test_sum16(0, known, sizeof(known))), ==, 0xffff);

    static const guint8 proto[] = {COLO_IPPROTO_TCP, COLO_IPPROTO_UDP};
    for (gsize i = 0; i < G_N_ELEMENTS(proto); i++) {
        TestPkt t = {.proto = proto[i],
                     .sport = 4000,
                     .dport = 80,
                     .seq = 12345,
                     .ip_id = 77,
                     .payload = "odd-length payload",
                     .plen = 18};
        GByteArray *want = test_pkt(&t);
        GByteArray *got = g_byte_array_new();
        g_byte_array_append(got, want->data, want->len);
        guint8 *ip = got->data + 14;
        guint off = 20 + test_l4_csum_offset(ip);
        colo_st_be16(ip + 10, 0x1234);
        colo_st_be16(ip + off, 0x5678);
        ColoPacketInfo info;
        g_assert_cmpint(colo_packet_parse(&info, got->data, got->len, 0), ==, COLO_PARSE_OK);
        colo_packet_update_checksums(got->data, &info);
        g_assert_cmpmem(got->data, got->len, want->data, want->len);
        g_assert_true(test_checksums_ok(ip));
        colo_st_be16(ip + off, colo_ld_be16(ip + off) ^ 0x0100);
        g_assert_false(test_checksums_ok(ip));
        U(got);
        U(want);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-rewriter/server-stream-equal", test_server_stream_equal);
    g_test_add_func("/colo-rewriter/guest-closes-first", test_guest_closes_first);
    g_test_add_func("/colo-rewriter/reset-and-untracked", test_reset_and_untracked);
    g_test_add_func("/colo-rewriter/timestamps", test_timestamps);
    g_test_add_func("/colo-rewriter/checkpoint-and-failover", test_checkpoint_and_failover);
    g_test_add_func("/colo-rewriter/failover-keeps-translating", test_failover_keeps_translating);
    g_test_add_func("/colo-rewriter/guest-initiated", test_guest_initiated);
    g_test_add_func("/colo-rewriter/reopen-after-checkpoint", test_reopen_after_checkpoint);
    g_test_add_func("/colo-rewriter/non-tcp-untouched", test_non_tcp_untouched);
    g_test_add_func("/colo-rewriter/checksum-references", test_checksum_references);
    return g_test_run();
}
