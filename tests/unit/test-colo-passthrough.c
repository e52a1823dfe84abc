/* The passthrough list (net/colo-passthrough.c): rules, matching, errors, snapshots. */
#include "net/colo-passthrough.h"

#include <arpa/inet.h>

#include "colo-test-packets.h"
#include "util/error.h"

static ColoConnKey key(guint8 proto, const char *src, guint16 sport, const char *dst, guint16 dport)
{
    ColoConnKey k = {0};
    k.proto = proto;
    k.src = test_ip(src);
    k.dst = test_ip(dst);
    k.src_port = sport;
    k.dst_port = dport;
    return k;
}

static void test_add_del_errors(void)
{
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    GError *err = NULL;
    ColoPassthroughRule r = {.has_proto = TRUE, .proto = COLO_IPPROTO_TCP, .dst_port = 3389};

    g_assert_false(colo_passthrough_del(&pt, &r, &err));
    g_assert_cmpstr(err->message, ==, "The pass through connection list is empty");
    g_clear_error(&err);

    guint gen = colo_passthrough_generation(&pt);
    g_assert_true(colo_passthrough_add(&pt, &r, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(colo_passthrough_generation(&pt), ==, gen + 1);

    g_assert_false(colo_passthrough_add(&pt, &r, &err));
    g_assert_cmpstr(err->message, ==, "The pass through connection already exists");
    g_clear_error(&err);
    g_assert_cmpuint(colo_passthrough_generation(&pt), ==, gen + 1);

    /* Differs in dst_port only: another rule (upstream V4 ignored dst_port here). */
    ColoPassthroughRule r2 = r;
    r2.dst_port = 3390;
    g_assert_true(colo_passthrough_add(&pt, &r2, &err));
    /* The same ports without a protocol: another rule too. */
    ColoPassthroughRule r3 = r;
    r3.has_proto = FALSE;
    g_assert_true(colo_passthrough_add(&pt, &r3, &err));

    ColoPassthroughRule missing = r;
    missing.src_port = 1;
    g_assert_false(colo_passthrough_del(&pt, &missing, &err));
    g_assert_cmpstr(err->message, ==, "The pass through list can't find the connection");
    g_clear_error(&err);

    ColoPassthroughSnapshot *snap = colo_passthrough_get(&pt);
    g_assert_cmpuint(snap->n_rules, ==, 3);
    g_assert_true(colo_passthrough_del(&pt, &r, &err));
    /* A reader's old snapshot stays valid after the rule left the list. */
    g_assert_cmpuint(snap->rules[0]->dst_port, ==, 3389);
    colo_passthrough_rule_count(snap->rules[0], 100);
    colo_passthrough_snapshot_unref(snap);

    snap = colo_passthrough_get(&pt);
    g_assert_cmpuint(snap->n_rules, ==, 2);
    g_assert_cmpuint(snap->rules[0]->dst_port, ==, 3390);
    colo_passthrough_snapshot_unref(snap);
    colo_passthrough_destroy(&pt);
}

static void test_match(void)
{
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    ColoPassthroughRule rdp = {.has_proto = TRUE, .proto = COLO_IPPROTO_TCP, .src_port = 3389};
    ColoPassthroughRule icmp = {
        .has_proto = TRUE, .proto = COLO_IPPROTO_ICMP, .dst_ip = test_ip("10.0.0.9")};
    ColoPassthroughRule any = {.src_ip = test_ip("10.0.0.7")};
    g_assert_true(colo_passthrough_add(&pt, &rdp, NULL));
    g_assert_true(colo_passthrough_add(&pt, &icmp, NULL));
    g_assert_true(colo_passthrough_add(&pt, &any, NULL));
    ColoPassthroughSnapshot *s = colo_passthrough_get(&pt);

    ColoConnKey k = key(COLO_IPPROTO_TCP, "10.0.0.1", 3389, "192.168.1.5", 50000);
    g_assert_true(colo_passthrough_match(s, &k) == s->rules[0]);
    k = key(COLO_IPPROTO_UDP, "10.0.0.1", 3389, "192.168.1.5", 50000);
    g_assert_null(colo_passthrough_match(s, &k));
    k = key(COLO_IPPROTO_TCP, "10.0.0.1", 50000, "192.168.1.5", 3389);
    g_assert_null(colo_passthrough_match(s, &k));
    k = key(COLO_IPPROTO_ICMP, "10.0.0.1", 0, "10.0.0.9", 0);
    g_assert_true(colo_passthrough_match(s, &k) == s->rules[1]);
    k = key(COLO_IPPROTO_ICMP, "10.0.0.1", 0, "10.0.0.8", 0);
    g_assert_null(colo_passthrough_match(s, &k));
    /* Rules apply to every IP protocol. */
    k = key(47, "10.0.0.7", 0, "10.0.0.8", 0);
    g_assert_true(colo_passthrough_match(s, &k) == s->rules[2]);
    colo_passthrough_snapshot_unref(s);
    colo_passthrough_destroy(&pt);
}

static void test_parse(void)
{
    GError *err = NULL;
    guint8 proto;
    g_assert_true(colo_passthrough_parse_proto("tcp", &proto, NULL));
    g_assert_cmpuint(proto, ==, 6);
    g_assert_true(colo_passthrough_parse_proto("udplite", &proto, NULL));
    g_assert_cmpuint(proto, ==, 136);
    g_assert_true(colo_passthrough_parse_proto("47", &proto, NULL));
    g_assert_cmpuint(proto, ==, 47);
    g_assert_false(colo_passthrough_parse_proto("nosuchproto", &proto, &err));
    g_assert_cmpstr(err->message, ==, "Invalid protocol 'nosuchproto'");
    g_clear_error(&err);
    g_assert_false(colo_passthrough_parse_proto("256", &proto, &err));
    g_clear_error(&err);

    guint32 ip;
    g_assert_true(colo_passthrough_parse_ip("src_ip", "10.1.2.3", &ip, NULL));
    g_assert_cmpuint(ip, ==, test_ip("10.1.2.3"));
    g_assert_true(colo_passthrough_parse_ip("src_ip", NULL, &ip, NULL));
    g_assert_cmpuint(ip, ==, 0);
    g_assert_false(colo_passthrough_parse_ip("dst_ip", "10.1.2", &ip, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'dst_ip' expects an IPv4 address");
    g_clear_error(&err);
    g_assert_false(colo_passthrough_parse_ip("dst_ip", "host.example", &ip, &err));
    g_clear_error(&err);

    g_assert_true(colo_passthrough_check_port("src_port", 65535, NULL));
    g_assert_false(colo_passthrough_check_port("src_port", 65536, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'src_port' expects a port number (0-65535)");
    g_clear_error(&err);
    g_assert_false(colo_passthrough_check_port("src_port", -1, &err));
    g_clear_error(&err);
    guint16 port;
    g_assert_true(colo_passthrough_parse_port("port", "3389", &port, NULL));
    g_assert_cmpuint(port, ==, 3389);
    g_assert_false(colo_passthrough_parse_port("port", "33a", &port, &err));
    g_clear_error(&err);

    ColoPassthroughRule r = {.has_proto = TRUE, .proto = COLO_IPPROTO_ICMP, .dst_port = 1};
    g_assert_false(colo_passthrough_rule_check(&r, &err));
    g_assert_cmpstr(err->message, ==, "Protocol 'icmp' has no ports");
    g_clear_error(&err);
    r.proto = COLO_IPPROTO_SCTP;
    g_assert_true(colo_passthrough_rule_check(&r, NULL));

    char *str = colo_passthrough_rule_str(&r);
    g_assert_cmpstr(str, ==, "sctp 0.0.0.0:0 -> 0.0.0.0:1");
    g_free(str);
}

/* A writer thread adds and deletes while a reader matches: no torn snapshot, no leak. */
typedef struct {
    ColoPassthrough *pt;
    volatile gint stop;
} Race;

static gpointer writer(gpointer data)
{
    Race *r = data;
    for (int i = 0; i < 2000; i++) {
        ColoPassthroughRule rule = {
            .has_proto = TRUE, .proto = COLO_IPPROTO_UDP, .dst_port = (guint16)(1 + i % 50)};
        if (!colo_passthrough_add(r->pt, &rule, NULL)) {
            g_assert_true(colo_passthrough_del(r->pt, &rule, NULL));
        }
    }
    g_atomic_int_set(&r->stop, 1);
    return NULL;
}

/* passthrough-filter-add's shape: a host or a port alone is a rule (spec/passthrough.md). */
static void test_flow_host_or_port_alone(void)
{
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    GError *err = NULL;
    ColoPassthroughRule host_only, port_only, empty;

    /* Only a source host, no protocol: every port of that host, any protocol. */
    g_assert_true(
        colo_passthrough_rule_from_flow(&host_only, NULL, "10.0.0.7", NULL, NULL, NULL, &err));
    g_assert_no_error(err);
    g_assert_false(host_only.has_proto);
    g_assert_cmpuint(host_only.src_ip, ==, test_ip("10.0.0.7"));
    g_assert_cmpuint(host_only.src_port, ==, 0);
    g_assert_cmpuint(host_only.dst_ip, ==, 0);
    g_assert_cmpuint(host_only.dst_port, ==, 0);
    /* Only a destination port, for tcp: that port on every host. */
    g_assert_true(
        colo_passthrough_rule_from_flow(&port_only, "tcp", NULL, NULL, NULL, "3389", &err));
    g_assert_true(port_only.has_proto);
    g_assert_cmpuint(port_only.proto, ==, COLO_IPPROTO_TCP);
    g_assert_cmpuint(port_only.dst_port, ==, 3389);
    g_assert_cmpuint(port_only.src_ip | port_only.dst_ip | port_only.src_port, ==, 0);
    /* Empty strings are wildcards too (HMP's "host:" and ":port"). */
    g_assert_true(colo_passthrough_rule_from_flow(&empty, NULL, "", "", "10.0.0.7", "", &err));
    g_assert_cmpuint(empty.dst_ip, ==, test_ip("10.0.0.7"));
    g_assert_cmpuint(empty.src_ip | empty.src_port | empty.dst_port, ==, 0);
    g_assert_true(colo_passthrough_rule_check(&host_only, NULL));
    g_assert_true(colo_passthrough_rule_check(&port_only, NULL));

    g_assert_true(colo_passthrough_add(&pt, &host_only, &err));
    g_assert_true(colo_passthrough_add(&pt, &port_only, &err));
    g_assert_no_error(err);
    ColoPassthroughSnapshot *s = colo_passthrough_get(&pt);
    guint16 ports[] = {1, 22, 3389, 65535};
    for (guint i = 0; i < G_N_ELEMENTS(ports); i++) {
        ColoConnKey k = key(COLO_IPPROTO_TCP, "10.0.0.7", ports[i], "10.0.0.1", ports[i]);
        g_assert_true(colo_passthrough_match(s, &k) == s->rules[0]);
        k = key(COLO_IPPROTO_UDP, "10.0.0.7", ports[i], "192.168.0.9", 53);
        g_assert_true(colo_passthrough_match(s, &k) == s->rules[0]);
        /* The host is the source: the same host as destination is another flow. */
        k = key(COLO_IPPROTO_UDP, "10.0.0.8", ports[i], "10.0.0.7", ports[i] == 3389 ? 1 : 2);
        g_assert_null(colo_passthrough_match(s, &k));
    }
    const char *hosts[] = {"10.0.0.1", "172.16.5.5", "192.168.1.200"};
    for (guint i = 0; i < G_N_ELEMENTS(hosts); i++) {
        ColoConnKey k = key(COLO_IPPROTO_TCP, hosts[i], 50000 + i, hosts[(i + 1) % 3], 3389);
        g_assert_true(colo_passthrough_match(s, &k) == s->rules[1]);
        /* The port rule is tcp's and the destination's. */
        k = key(COLO_IPPROTO_UDP, hosts[i], 50000 + i, hosts[(i + 1) % 3], 3389);
        g_assert_null(colo_passthrough_match(s, &k));
        k = key(COLO_IPPROTO_TCP, hosts[i], 3389, hosts[(i + 1) % 3], 50000 + i);
        g_assert_null(colo_passthrough_match(s, &k));
    }
    colo_passthrough_snapshot_unref(s);

    /* Delete takes the same partial spelling. */
    ColoPassthroughRule again;
    g_assert_true(colo_passthrough_rule_from_flow(&again, NULL, "10.0.0.7", "", "", NULL, &err));
    g_assert_true(colo_passthrough_del(&pt, &again, &err));
    g_assert_no_error(err);
    s = colo_passthrough_get(&pt);
    g_assert_cmpuint(s->n_rules, ==, 1);
    ColoConnKey k = key(COLO_IPPROTO_TCP, "10.0.0.7", 22, "10.0.0.1", 22);
    g_assert_null(colo_passthrough_match(s, &k));
    colo_passthrough_snapshot_unref(s);

    /* What is given is still checked. */
    g_assert_false(colo_passthrough_rule_from_flow(&again, NULL, "10.0.0", NULL, NULL, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'source.host' expects an IPv4 address");
    g_clear_error(&err);
    g_assert_false(colo_passthrough_rule_from_flow(&again, NULL, NULL, NULL, NULL, "65536", &err));
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'destination.port' expects a port number (0-65535)");
    g_clear_error(&err);
    g_assert_true(colo_passthrough_rule_from_flow(&again, "icmp", NULL, "7", NULL, NULL, NULL));
    g_assert_false(colo_passthrough_rule_check(&again, &err));
    g_assert_cmpstr(err->message, ==, "Protocol 'icmp' has no ports");
    g_clear_error(&err);
    colo_passthrough_destroy(&pt);
}

/* colo-passthrough-add's shape: absent ports are wildcards, given ones are range-checked. */
static void test_v4_ports(void)
{
    GError *err = NULL;
    ColoPassthroughRule r;
    gint64 port = 3389, bad = -1;
    g_assert_true(colo_passthrough_rule_from_v4(&r, "udp", "10.0.0.2", NULL, NULL, &port, &err));
    g_assert_no_error(err);
    g_assert_true(r.has_proto);
    g_assert_cmpuint(r.proto, ==, COLO_IPPROTO_UDP);
    g_assert_cmpuint(r.src_ip, ==, test_ip("10.0.0.2"));
    g_assert_cmpuint(r.src_port, ==, 0);
    g_assert_cmpuint(r.dst_port, ==, 3389);
    g_assert_false(colo_passthrough_rule_from_v4(&r, "udp", NULL, NULL, &bad, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'src_port' expects a port number (0-65535)");
    g_clear_error(&err);
    g_assert_false(colo_passthrough_rule_from_v4(&r, "nosuch", NULL, NULL, NULL, NULL, &err));
    g_assert_cmpstr(err->message, ==, "Invalid protocol 'nosuch'");
    g_clear_error(&err);
}

static void test_concurrent(void)
{
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    Race race = {.pt = &pt};
    GThread *t = g_thread_new("writer", writer, &race);
    guint gen = 0, refreshes = 0;
    ColoPassthroughSnapshot *snap = NULL;
    ColoConnKey k = key(COLO_IPPROTO_UDP, "1.1.1.1", 5, "2.2.2.2", 7);
    /* At least one pass: on a loaded machine the writer may finish before the reader starts. */
    do {
        if (colo_passthrough_generation(&pt) != gen) {
            colo_passthrough_snapshot_unref(snap);
            snap = colo_passthrough_get(&pt);
            gen = snap->generation;
            refreshes++;
        }
        ColoPassthroughRule *m = colo_passthrough_match(snap, &k);
        if (m) {
            g_assert_cmpuint(m->dst_port, ==, 7);
            colo_passthrough_rule_count(m, 1);
        }
    } while (!g_atomic_int_get(&race.stop));
    g_thread_join(t);
    colo_passthrough_snapshot_unref(snap);
    g_assert_cmpuint(refreshes, >, 0);
    snap = colo_passthrough_get(&pt);
    /* 2000 toggles of 50 rules: each was added 20 times and deleted 20 times. */
    g_assert_cmpuint(snap->n_rules, ==, 0);
    colo_passthrough_snapshot_unref(snap);
    colo_passthrough_destroy(&pt);
}

/* The plain definition of a match: the first rule whose given fields all equal the packet's. */
static ColoPassthroughRule *reference_match(ColoPassthroughSnapshot *snap, const ColoConnKey *k)
{
    for (guint i = 0; i < snap->n_rules; i++) {
        ColoPassthroughRule *r = snap->rules[i];
        if ((!r->has_proto || r->proto == k->proto) && (!r->src_ip || r->src_ip == k->src) &&
            (!r->dst_ip || r->dst_ip == k->dst) && (!r->src_port || r->src_port == k->src_port) &&
            (!r->dst_port || r->dst_port == k->dst_port)) {
            return r;
        }
    }
    return NULL;
}

/*
 * Long lists go through the hash index: it must pick exactly the rule the linear definition
 * picks, wildcards and list order included. Small value domains make overlaps common.
 */
static void test_index_matches_linear(void)
{
    static const guint8 protos[] = {COLO_IPPROTO_TCP, COLO_IPPROTO_UDP, COLO_IPPROTO_ICMP};
    GRand *rng = g_rand_new_with_seed(42);
    guint misses = 0;
    for (guint n_rules = 9; n_rules <= 300; n_rules += 97) {
        ColoPassthrough pt;
        colo_passthrough_init(&pt);
        while (TRUE) {
            ColoPassthroughSnapshot *cur = colo_passthrough_get(&pt);
            guint have = cur->n_rules;
            colo_passthrough_snapshot_unref(cur);
            if (have >= n_rules) {
                break;
            }
            ColoPassthroughRule r = {0};
            r.has_proto = g_rand_boolean(rng);
            r.proto = r.has_proto ? protos[g_rand_int_range(rng, 0, 2)] : 0;
            r.src_ip = g_rand_boolean(rng) ? htonl(0x0a000000 | g_rand_int_range(rng, 1, 4)) : 0;
            r.dst_ip = g_rand_boolean(rng) ? htonl(0x0a000000 | g_rand_int_range(rng, 1, 4)) : 0;
            r.src_port = g_rand_boolean(rng) ? g_rand_int_range(rng, 1, 5) : 0;
            r.dst_port = g_rand_boolean(rng) ? g_rand_int_range(rng, 1, 5) : 0;
            colo_passthrough_add(&pt, &r, NULL); /* duplicates are refused, that is fine */
        }
        ColoPassthroughSnapshot *snap = colo_passthrough_get(&pt);
        guint hits = 0;
        for (guint i = 0; i < 3000; i++) {
            ColoConnKey k = {0};
            k.proto = protos[g_rand_int_range(rng, 0, 3)];
            k.src = htonl(0x0a000000 | g_rand_int_range(rng, 1, 5));
            k.dst = htonl(0x0a000000 | g_rand_int_range(rng, 1, 5));
            k.src_port = g_rand_int_range(rng, 1, 6);
            k.dst_port = g_rand_int_range(rng, 1, 6);
            ColoPassthroughRule *want = reference_match(snap, &k);
            g_assert_true(colo_passthrough_match(snap, &k) == want);
            hits += want != NULL;
        }
        g_assert_cmpuint(hits, >, 0);
        misses += 3000 - hits;
        colo_passthrough_snapshot_unref(snap);
        colo_passthrough_destroy(&pt);
    }
    g_assert_cmpuint(misses, >, 0);
    g_rand_free(rng);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-passthrough/add-del-errors", test_add_del_errors);
    g_test_add_func("/colo-passthrough/match", test_match);
    g_test_add_func("/colo-passthrough/parse", test_parse);
    g_test_add_func("/colo-passthrough/flow-host-or-port-alone", test_flow_host_or_port_alone);
    g_test_add_func("/colo-passthrough/v4-ports", test_v4_ports);
    g_test_add_func("/colo-passthrough/concurrent", test_concurrent);
    g_test_add_func("/colo-passthrough/index-matches-linear", test_index_matches_linear);
    return g_test_run();
}
