/* The net core: queues, back-pressure, hubs, the filter chain order and the socket netdev. */
#include "net/backends.h"
#include "net/hub.h"
#include "net/net.h"
#include "loop-probe.h"
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a test client that records what it receives and can be made full ---- */

typedef struct Sink {
    NetClientState nc;
    bool full;
    GPtrArray *got; /* of GBytes */
} Sink;

static ssize_t sink_receive(NetClientState *nc, const uint8_t *buf, size_t size)
{
    Sink *s = (Sink *)nc;

    if (s->full) {
        return 0;
    }
    g_ptr_array_add(s->got, g_bytes_new(buf, size));
    return size;
}

static void sink_cleanup(NetClientState *nc)
{
    g_ptr_array_unref(((Sink *)nc)->got);
}

static const NetClientInfo sink_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(Sink),
    .receive = sink_receive,
    .cleanup = sink_cleanup,
};

static Sink *sink_new(const char *name, NetClientState *peer)
{
    Sink *s = (Sink *)qemu_new_net_client(&sink_info, peer, "sink", name);

    s->got = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    return s;
}

static void assert_got(Sink *s, guint i, const char *data)
{
    gsize len;
    const void *p;

    g_assert_cmpuint(i, <, s->got->len);
    p = g_bytes_get_data(g_ptr_array_index(s->got, i), &len);
    g_assert_cmpmem(p, len, data, strlen(data));
}

static int sent_calls;

static void count_sent(NetClientState *nc, ssize_t ret)
{
    sent_calls++;
}

static void test_backpressure(void)
{
    Sink *a = sink_new("a", NULL);
    Sink *b = sink_new("b", &a->nc);

    sent_calls = 0;
    g_assert_cmpint(qemu_send_packet_async(&a->nc, (const uint8_t *)"one", 3, count_sent), ==, 3);
    assert_got(b, 0, "one");

    b->full = true;
    g_assert_cmpint(qemu_send_packet_async(&a->nc, (const uint8_t *)"two", 3, count_sent), ==, 0);
    g_assert_false(qemu_can_send_packet(&a->nc));
    /* Later packets queue behind, in order. */
    g_assert_cmpint(qemu_send_packet_async(&a->nc, (const uint8_t *)"three", 5, count_sent), ==, 0);
    g_assert_cmpuint(b->got->len, ==, 1);
    g_assert_cmpuint(qemu_net_queue_len(b->nc.incoming_queue), ==, 2);

    b->full = false;
    qemu_flush_queued_packets(&b->nc);
    g_assert_cmpuint(b->got->len, ==, 3);
    assert_got(b, 1, "two");
    assert_got(b, 2, "three");
    g_assert_cmpint(sent_calls, ==, 2);
    g_assert_true(qemu_can_send_packet(&a->nc));
    g_assert_cmpuint(b->nc.stats.rx_packets, ==, 3);
    net_cleanup();
}

static void test_queue_limit_counts_drops(void)
{
    Sink *a = sink_new("a", NULL);
    Sink *b = sink_new("b", &a->nc);

    b->full = true;
    qemu_net_queue_set_maxlen(b->nc.incoming_queue, 2);
    for (int i = 0; i < 5; i++) {
        qemu_send_packet(&a->nc, (const uint8_t *)"x", 1);
    }
    g_assert_cmpuint(qemu_net_queue_len(b->nc.incoming_queue), ==, 2);
    /* 1 refused by the full receiver and kept, 1 more kept, 3 over the limit. */
    g_assert_cmpuint(qemu_net_queue_stats(b->nc.incoming_queue)->dropped, ==, 3);
    net_cleanup();
}

/* A stopped VM's NIC takes nothing: packets wait in its queue until the VM runs again. */
static void test_nic_waits_while_vm_stopped(void)
{
    static const NetClientInfo wire_info = {
        .type = NET_CLIENT_DRIVER_SOCKET,
        .size = sizeof(Sink),
        .receive = sink_receive,
        .cleanup = sink_cleanup,
    };
    Sink *wire = (Sink *)qemu_new_net_client(&wire_info, NULL, "wire", "wire");
    Sink *nic = sink_new("nic", &wire->nc);

    wire->got = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    sent_calls = 0;
    qemu_net_set_vm_running(false);
    g_assert_false(qemu_can_send_packet(&wire->nc));
    g_assert_cmpint(qemu_send_packet_async(&wire->nc, (const uint8_t *)"held", 4, count_sent), ==,
                    0);
    g_assert_cmpuint(nic->got->len, ==, 0);
    /* A flush while stopped (the NIC added buffers) still delivers nothing. */
    qemu_flush_queued_packets(&nic->nc);
    g_assert_cmpuint(nic->got->len, ==, 0);
    /* What the NIC sends still goes out. */
    qemu_send_packet(&nic->nc, (const uint8_t *)"out", 3);
    assert_got(wire, 0, "out");

    qemu_net_set_vm_running(true);
    g_assert_cmpuint(nic->got->len, ==, 1);
    assert_got(nic, 0, "held");
    g_assert_cmpint(sent_calls, ==, 1);
    g_assert_true(qemu_can_send_packet(&wire->nc));
    net_cleanup();
}

static void test_link_down(void)
{
    Sink *a = sink_new("a", NULL);
    Sink *b = sink_new("b", &a->nc);

    qemu_set_link(&a->nc, false);
    qemu_send_packet(&a->nc, (const uint8_t *)"lost", 4);
    g_assert_cmpuint(b->got->len, ==, 0);
    g_assert_cmpuint(a->nc.stats.tx_dropped, ==, 1);
    qemu_set_link(&a->nc, true);
    qemu_send_packet(&a->nc, (const uint8_t *)"back", 4);
    assert_got(b, 0, "back");
    net_cleanup();
}

static void test_hub(void)
{
    Sink *a = sink_new("a", NULL);
    Sink *b = sink_new("b", NULL);
    Sink *c = sink_new("c", NULL);
    g_autofree char *info = NULL;

    net_hub_add_port(3, "p0", &a->nc);
    net_hub_add_port(3, "p1", &b->nc);
    net_hub_add_port(3, "p2", &c->nc);
    qemu_send_packet(&a->nc, (const uint8_t *)"bcast", 5);
    g_assert_cmpuint(a->got->len, ==, 0);
    assert_got(b, 0, "bcast");
    assert_got(c, 0, "bcast");

    info = net_info_network();
    g_assert_nonnull(strstr(info, "hub 3\n \\ p2: c: index=0,type=nic,\n"));
    g_assert_nonnull(strstr(info, " \\ p0: a: index=0,type=nic,\n"));
    g_assert_cmpint(net_hub_id_for_client(&a->nc), ==, 3);
    net_cleanup();
}

/* Alone on its hub, a port takes every packet and counts it dropped: nothing waits for good. */
static void test_hub_lone_port(void)
{
    Sink *a = sink_new("a", NULL);
    NetClientState *port = net_hub_add_port(4, "p0", &a->nc);

    sent_calls = 0;
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(qemu_send_packet_async(&a->nc, (const uint8_t *)"nowhere", 7, count_sent),
                        ==, 7);
    }
    g_assert_true(qemu_can_send_packet(&a->nc));
    g_assert_cmpuint(qemu_net_queue_len(port->incoming_queue), ==, 0);
    g_assert_cmpuint(port->stats.rx_dropped, ==, 3);
    g_assert_cmpuint(a->nc.stats.tx_packets, ==, 3);
    /* Delivered (and dropped) at once: no sent callback is pending. */
    g_assert_cmpint(sent_calls, ==, 0);
    net_cleanup();
}

/*
 * The port a packet waited for leaves, or the netdev behind it does: the packet is dropped
 * (counted) and its sender resumes.
 */
static void hub_stuck_then(bool port_goes)
{
    Sink *a = sink_new("a", NULL);
    Sink *b = sink_new("b", NULL);
    NetClientState *pa = net_hub_add_port(5, "pa", &a->nc);
    NetClientState *pb = net_hub_add_port(5, "pb", &b->nc);

    sent_calls = 0;
    b->full = true;
    /* The first waits in b's queue, which then refuses more: the second waits in the hub. */
    qemu_send_packet_async(&a->nc, (const uint8_t *)"first", 5, count_sent);
    g_assert_cmpint(qemu_send_packet_async(&a->nc, (const uint8_t *)"stuck", 5, count_sent), ==, 0);
    g_assert_cmpuint(qemu_net_queue_len(pa->incoming_queue), ==, 1);
    g_assert_false(qemu_can_send_packet(&a->nc));
    if (port_goes) {
        qemu_del_net_client(pb);
        g_assert_cmpuint(pa->stats.rx_dropped, ==, 1);
    } else {
        qemu_del_net_client(&b->nc);
        g_assert_cmpuint(pb->stats.tx_dropped, ==, 1);
    }
    g_assert_cmpuint(qemu_net_queue_len(pa->incoming_queue), ==, 0);
    g_assert_cmpint(sent_calls, ==, 1);
    g_assert_true(qemu_can_send_packet(&a->nc));
    net_cleanup();
}

static void test_hub_port_leaves(void)
{
    hub_stuck_then(true);
}

static void test_hub_netdev_leaves(void)
{
    hub_stuck_then(false);
}

/* ---- the filter chain ---- */

typedef struct TagFilter {
    NetFilterNode node;
    GString *trace;
    bool steal;
} TagFilter;

static ssize_t tag_receive(NetFilterNode *node, NetClientState *sender, unsigned flags,
                           const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    TagFilter *f = node->opaque;

    g_string_append(f->trace, node->id);
    return f->steal ? (ssize_t)iov_size(iov, iovcnt) : 0;
}

static void tag_init(TagFilter *f, const char *id, NetFilterDirection dir, GString *trace)
{
    memset(f, 0, sizeof(*f));
    f->node.receive_iov = tag_receive;
    f->node.opaque = f;
    f->node.id = id;
    f->node.direction = dir;
    f->node.on = true;
    f->trace = trace;
}

static void test_filter_order(void)
{
    Sink *nd = sink_new("nd", NULL);
    Sink *nic = sink_new("nic", &nd->nc);
    GString *trace = g_string_new(NULL);
    TagFilter f1, f2, f3, f4;

    tag_init(&f1, "1", NET_FILTER_DIRECTION_ALL, trace);
    tag_init(&f2, "2", NET_FILTER_DIRECTION_ALL, trace);
    tag_init(&f3, "3", NET_FILTER_DIRECTION_TX, trace);
    tag_init(&f4, "4", NET_FILTER_DIRECTION_ALL, trace);
    net_filter_chain_insert(&nd->nc, &f1.node, false, NULL, 0); /* 1 */
    net_filter_chain_insert(&nd->nc, &f2.node, true, NULL, 0);  /* 2 1 */
    net_filter_chain_insert(&nd->nc, &f3.node, false, &f2.node,
                            NET_FILTER_INSERT_BEHIND); /* 2 3 1 */
    net_filter_chain_insert(&nd->nc, &f4.node, false, &f2.node,
                            NET_FILTER_INSERT_BEFORE); /* 4 2 3 1 */

    /* Sent by the netdev: tx, head to tail. */
    qemu_send_packet(&nd->nc, (const uint8_t *)"tx", 2);
    g_assert_cmpstr(trace->str, ==, "4231");
    assert_got(nic, 0, "tx");

    /* Sent to the netdev: rx, tail to head; the tx-only filter is skipped. */
    g_string_truncate(trace, 0);
    qemu_send_packet(&nic->nc, (const uint8_t *)"rx", 2);
    g_assert_cmpstr(trace->str, ==, "124");
    assert_got(nd, 0, "rx");

    /* status=off is skipped; a filter that takes the packet stops the walk. */
    g_string_truncate(trace, 0);
    f2.node.on = false;
    f3.steal = true;
    qemu_send_packet(&nd->nc, (const uint8_t *)"stolen", 6);
    g_assert_cmpstr(trace->str, ==, "43");
    g_assert_cmpuint(nic->got->len, ==, 1);

    /* Re-injection continues after the filter, in its direction, then reaches the peer. */
    g_string_truncate(trace, 0);
    struct iovec iov = {.iov_base = "again", .iov_len = 5};
    qemu_netfilter_pass_to_next(&nd->nc, 0, &iov, 1, &f3.node);
    g_assert_cmpstr(trace->str, ==, "1");
    assert_got(nic, 1, "again");

    net_filter_chain_remove(&f3.node);
    g_string_truncate(trace, 0);
    qemu_send_packet(&nd->nc, (const uint8_t *)"x", 1);
    g_assert_cmpstr(trace->str, ==, "41");
    net_cleanup();
    g_string_free(trace, TRUE);
}

/* ---- frames with offloads still to do ---- */

typedef struct OffloadSink {
    Sink sink;
    bool refuse;
    unsigned offloaded;
} OffloadSink;

static ssize_t offload_receive(NetClientState *nc, const uint8_t *hdr, const uint8_t *buf,
                               size_t size)
{
    OffloadSink *o = (OffloadSink *)nc;

    if (o->refuse) {
        return 0;
    }
    o->offloaded++;
    return size;
}

static const NetClientInfo offload_sink_info = {
    .type = NET_CLIENT_DRIVER_TAP,
    .size = sizeof(OffloadSink),
    .receive = sink_receive,
    .receive_offload = offload_receive,
    .cleanup = sink_cleanup,
};

static void test_offload_only_on_a_bare_path(void)
{
    static const uint8_t hdr[12] = {1};
    OffloadSink *tap = (OffloadSink *)qemu_new_net_client(&offload_sink_info, NULL, "tap", "t");
    Sink *nic = sink_new("nic", &tap->sink.nc);
    GString *trace = g_string_new(NULL);
    TagFilter f;

    tap->sink.got = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    /* Nothing between: the peer takes it with its header, counted like any packet. */
    g_assert_cmpint(qemu_send_packet_offload(&nic->nc, hdr, (const uint8_t *)"big", 3), ==, 3);
    g_assert_cmpuint(tap->offloaded, ==, 1);
    g_assert_cmpuint(nic->nc.stats.tx_packets, ==, 1);
    g_assert_cmpuint(tap->sink.nc.stats.rx_bytes, ==, 3);
    /* A peer that refuses, a filter on either end, a packet waiting in the queue: 0, nothing
     * sent, so that the sender completes the frame and sends it the ordinary way. */
    tap->refuse = true;
    g_assert_cmpint(qemu_send_packet_offload(&nic->nc, hdr, (const uint8_t *)"big", 3), ==, 0);
    tap->refuse = false;
    tag_init(&f, "f", NET_FILTER_DIRECTION_ALL, trace);
    net_filter_chain_insert(&tap->sink.nc, &f.node, false, NULL, 0);
    g_assert_cmpint(qemu_send_packet_offload(&nic->nc, hdr, (const uint8_t *)"big", 3), ==, 0);
    net_filter_chain_remove(&f.node);
    tap->sink.full = true;
    qemu_send_packet(&nic->nc, (const uint8_t *)"plain", 5);
    tap->sink.full = false;
    g_assert_cmpuint(qemu_net_queue_len(tap->sink.nc.incoming_queue), ==, 1);
    g_assert_cmpint(qemu_send_packet_offload(&nic->nc, hdr, (const uint8_t *)"big", 3), ==, 0);
    g_assert_cmpuint(tap->offloaded, ==, 1);
    g_assert_cmpstr(trace->str, ==, "");
    qemu_flush_queued_packets(&tap->sink.nc);
    assert_got(&tap->sink, 0, "plain");
    g_assert_cmpint(qemu_send_packet_offload(&nic->nc, hdr, (const uint8_t *)"big", 3), ==, 3);
    net_cleanup();
    g_string_free(trace, TRUE);
}

/* ---- the socket netdev ---- */

static void iterate_until(bool (*cond)(void *), void *opaque)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (!cond(opaque)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, TRUE);
    }
}

static bool sink_has(void *opaque)
{
    Sink *s = opaque;

    return s->got->len > 0;
}

static bool create(const char *const *kv, GError **errp)
{
    g_autoptr(NetOpts) opts = net_opts_new();

    for (; kv[0]; kv += 2) {
        net_opts_add(opts, kv[0], kv[1]);
    }
    return net_client_init(opts, true, errp);
}

static void read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);

        g_assert_cmpint(n, >, 0);
        done += n;
    }
}

static void test_socket_fd_stream(void)
{
    int sv[2];
    g_autofree char *fdstr = NULL;
    GError *err = NULL;
    Sink *nic;
    NetClientState *nd;
    /* Two frames in one write, the second split at an odd place. */
    static const uint8_t wire[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 2, 'd', 'e'};
    uint8_t hdr[4], body[5];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    fdstr = g_strdup_printf("%d", sv[1]);
    g_assert_true(create((const char *[]){"type", "socket", "id", "s0", "fd", fdstr, NULL}, &err));
    g_assert_no_error(err);
    nd = qemu_find_netdev("s0");
    g_assert_nonnull(nd);
    g_autofree char *expect_info = g_strdup_printf("socket: fd=%d", sv[1]);
    g_assert_cmpstr(nd->info_str, ==, expect_info);
    nic = sink_new("nic", nd);

    g_assert_cmpint(write(sv[0], wire, 9), ==, 9);
    iterate_until(sink_has, nic);
    g_assert_cmpint(write(sv[0], wire + 9, 4), ==, 4);
    while (nic->got->len < 2) {
        g_main_context_iteration(NULL, TRUE);
    }
    assert_got(nic, 0, "abc");
    assert_got(nic, 1, "de");

    /* The other way: the netdev frames what its peer sends. */
    qemu_send_packet(&nic->nc, (const uint8_t *)"hello", 5);
    read_full(sv[0], hdr, 4);
    read_full(sv[0], body, 5);
    g_assert_cmpmem(hdr, 4, "\0\0\0\5", 4);
    g_assert_cmpmem(body, 5, "hello", 5);

    close(sv[0]);
    net_cleanup();
}

static void test_socket_errors(void)
{
    GError *err = NULL;

    g_assert_false(create((const char *[]){"type", "socket", "id", "s0", NULL}, &err));
    g_assert_cmpstr(err->message, ==,
                    "exactly one of listen=, connect=, mcast= or udp= is required");
    g_clear_error(&err);
    g_assert_false(create((const char *[]){"type", "socket", "id", "s0", "foo", "1", NULL}, &err));
    g_assert_cmpstr(err->message, ==, "Invalid parameter 'foo'");
    g_clear_error(&err);
    g_assert_false(
        create((const char *[]){"type", "socket", "id", "s0", "listen", "1234", NULL}, &err));
    g_assert_cmpstr(err->message, ==,
                    "host address '1234' doesn't contain ':' separating host from port");
    g_clear_error(&err);
    g_assert_false(create(
        (const char *[]){"type", "socket", "id", "s0", "udp", "127.0.0.1:5000", NULL}, &err));
    g_assert_cmpstr(err->message, ==, "localaddr= is mandatory with udp=");
    g_clear_error(&err);
    g_assert_false(create((const char *[]){"type", "bogus", "id", "x", NULL}, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'type' does not accept value 'bogus'");
    g_clear_error(&err);
    g_assert_false(create((const char *[]){"type", "hubport", "id", "h", NULL}, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'hubid' is missing");
    g_clear_error(&err);
    g_assert_false(create(
        (const char *[]){"type", "hubport", "id", "h", "hubid", "0", "netdev", "zz", NULL}, &err));
    g_assert_cmpstr(err->message, ==, "netdev 'zz' not found");
    g_clear_error(&err);
    g_assert_false(
        create((const char *[]){"type", "user", "id", "u", "hostfwd", "tcp::bad", NULL}, &err));
    g_assert_cmpstr(err->message, ==,
                    "Invalid host forwarding rule 'tcp::bad' "
                    "(Bad host port separator)");
    g_clear_error(&err);
    g_assert_null(qemu_net_clients());
}

/* listen= and connect= joined by a hub: a frame crosses two TCP connections. */
static void test_socket_listen_connect_hub(void)
{
    GError *err = NULL;
    int lfd, cfd, port;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    g_autofree char *listen_addr = NULL, *connect_addr = NULL;
    uint8_t buf[9];
    int one = 1;

    /* A plain TCP listener stands in for the far end of connect=. */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    connect_addr = g_strdup_printf("127.0.0.1:%d", ntohs(sin.sin_port));
    g_assert_true(create(
        (const char *[]){"type", "socket", "id", "out", "connect", connect_addr, NULL}, &err));
    g_assert_no_error(err);
    int far = accept(lfd, NULL, NULL);
    g_assert_cmpint(far, >=, 0);

    /* listen= on a port picked by binding 0 first. */
    sin.sin_port = 0;
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    bind(probe, (struct sockaddr *)&sin, sizeof(sin));
    getsockname(probe, (struct sockaddr *)&sin, &len);
    port = ntohs(sin.sin_port);
    close(probe);
    listen_addr = g_strdup_printf("127.0.0.1:%d", port);
    g_assert_true(
        create((const char *[]){"type", "socket", "id", "in", "listen", listen_addr, NULL}, &err));
    g_assert_no_error(err);
    g_assert_true(create(
        (const char *[]){"type", "hubport", "id", "h0", "hubid", "1", "netdev", "in", NULL}, &err));
    g_assert_true(
        create((const char *[]){"type", "hubport", "id", "h1", "hubid", "1", "netdev", "out", NULL},
               &err));
    g_assert_no_error(err);

    cfd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    while (!strstr(qemu_find_netdev("in")->info_str, "connection from")) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpint(write(cfd, "\0\0\0\5hello", 9), ==, 9);
    size_t got = 0;
    g_unix_set_fd_nonblocking(far, TRUE, NULL);
    while (got < 9) {
        ssize_t n = read(far, buf + got, 9 - got);

        if (n > 0) {
            got += n;
        } else {
            g_assert_true(n < 0 && errno == EAGAIN);
            g_main_context_iteration(NULL, TRUE);
        }
    }
    g_assert_cmpmem(buf, 9, "\0\0\0\5hello", 9);

    /* The listener takes a new client after the first goes. */
    close(cfd);
    while (qemu_find_netdev("in")->info_str[0]) {
        g_main_context_iteration(NULL, TRUE);
    }
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    while (!strstr(qemu_find_netdev("in")->info_str, "connection from")) {
        g_main_context_iteration(NULL, TRUE);
    }

    g_assert_false(net_client_del("nope", &err));
    g_assert_cmpstr(err->message, ==, "Device 'nope' not found");
    g_clear_error(&err);
    g_assert_true(net_client_del("in", &err));
    g_assert_null(qemu_find_netdev("in"));
    close(cfd);
    close(far);
    close(lfd);
    net_cleanup();
}

static gboolean watch_drain(gint fd, GIOCondition cond, gpointer opaque)
{
    char c;
    g_assert_cmpint(read(fd, &c, 1), ==, 1);
    (*(int *)opaque)++;
    return G_SOURCE_CONTINUE;
}

/* A backend's fd watch dispatched with its fd left in the poll set: no wake-up of its own. */
static void test_fd_watch_no_wakeup(void)
{
    int p[2];
    int hits = 0;
    g_assert_cmpint(pipe(p), ==, 0);
    guint id = net_fd_watch(p[0], G_IO_IN, watch_drain, &hits);
    g_assert_cmpint(write(p[1], "x", 1), ==, 1);
    while (hits < 1) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpint(hits, ==, 1);
    g_assert_false(loop_probe_woken(g_main_context_default()));
    g_assert_cmpint(write(p[1], "y", 1), ==, 1); /* and it still watches */
    while (hits < 2) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpint(hits, ==, 2);
    g_source_remove(id);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net/queue/backpressure", test_backpressure);
    g_test_add_func("/net/queue/limit-counts-drops", test_queue_limit_counts_drops);
    g_test_add_func("/net/link-down", test_link_down);
    g_test_add_func("/net/nic-waits-while-vm-stopped", test_nic_waits_while_vm_stopped);
    g_test_add_func("/net/hub/broadcast", test_hub);
    g_test_add_func("/net/hub/lone-port", test_hub_lone_port);
    g_test_add_func("/net/hub/port-leaves", test_hub_port_leaves);
    g_test_add_func("/net/hub/netdev-leaves", test_hub_netdev_leaves);
    g_test_add_func("/net/filter/order", test_filter_order);
    g_test_add_func("/net/offload/bare-path-only", test_offload_only_on_a_bare_path);
    g_test_add_func("/net/socket/fd-stream", test_socket_fd_stream);
    g_test_add_func("/net/fd-watch/no-wakeup", test_fd_watch_no_wakeup);
    g_test_add_func("/net/socket/errors", test_socket_errors);
    g_test_add_func("/net/socket/listen-connect-hub", test_socket_listen_connect_hub);
    return g_test_run();
}
