/* The passthrough list: immutable rule snapshots swapped under a mutex. */
#include "net/colo-passthrough.h"

#include "util/error.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

static ColoPassthroughSnapshot *snapshot_new(guint n, guint generation)
{
    ColoPassthroughSnapshot *s = g_malloc0(sizeof(*s) + (gsize)n * sizeof(ColoPassthroughRule *));
    s->ref = 1;
    s->n_rules = n;
    s->generation = generation;
    return s;
}

/* Lists up to this long are scanned; longer ones go through the index. */
#define INDEX_MIN_RULES 8

enum {
    FIELD_PROTO = 1 << 0,
    FIELD_SRC_IP = 1 << 1,
    FIELD_DST_IP = 1 << 2,
    FIELD_SRC_PORT = 1 << 3,
    FIELD_DST_PORT = 1 << 4,
    FIELD__COMBINATIONS = 1 << 5,
};

typedef struct IndexGroup {
    guint fields;      /* which fields the rules of this group specify */
    GHashTable *first; /* masked ColoConnKey -> position + 1 of the first rule with that key */
} IndexGroup;

struct ColoPassthroughIndex {
    guint n_groups;
    IndexGroup groups[FIELD__COMBINATIONS];
    ColoConnKey *keys; /* storage for the tables' keys, one per rule */
};

static guint rule_fields(const ColoPassthroughRule *r)
{
    return (r->has_proto ? FIELD_PROTO : 0) | (r->src_ip ? FIELD_SRC_IP : 0) |
           (r->dst_ip ? FIELD_DST_IP : 0) | (r->src_port ? FIELD_SRC_PORT : 0) |
           (r->dst_port ? FIELD_DST_PORT : 0);
}

/* @key with the fields outside @fields zeroed: what a rule specifying @fields would store. */
static void mask_key(ColoConnKey *out, const ColoConnKey *key, guint fields)
{
    memset(out, 0, sizeof(*out));
    out->proto = fields & FIELD_PROTO ? key->proto : 0;
    out->src = fields & FIELD_SRC_IP ? key->src : 0;
    out->dst = fields & FIELD_DST_IP ? key->dst : 0;
    out->src_port = fields & FIELD_SRC_PORT ? key->src_port : 0;
    out->dst_port = fields & FIELD_DST_PORT ? key->dst_port : 0;
}

static ColoPassthroughIndex *index_build(const ColoPassthroughSnapshot *snap)
{
    ColoPassthroughIndex *ix = g_new0(ColoPassthroughIndex, 1);
    gint group_of[FIELD__COMBINATIONS];
    for (guint f = 0; f < FIELD__COMBINATIONS; f++) {
        group_of[f] = -1;
    }
    ix->keys = g_new0(ColoConnKey, snap->n_rules);
    for (guint i = 0; i < snap->n_rules; i++) {
        const ColoPassthroughRule *r = snap->rules[i];
        guint f = rule_fields(r);
        if (group_of[f] < 0) {
            group_of[f] = ix->n_groups++;
            ix->groups[group_of[f]].fields = f;
            ix->groups[group_of[f]].first =
                g_hash_table_new(colo_conn_key_hash, colo_conn_key_equal);
        }
        ColoConnKey *k = &ix->keys[i];
        k->proto = r->has_proto ? r->proto : 0;
        k->src = r->src_ip;
        k->dst = r->dst_ip;
        k->src_port = r->src_port;
        k->dst_port = r->dst_port;
        GHashTable *t = ix->groups[group_of[f]].first;
        /* Rules are distinct, but keep the earliest should two ever share a key. */
        if (!g_hash_table_contains(t, k)) {
            g_hash_table_insert(t, k, GUINT_TO_POINTER(i + 1));
        }
    }
    return ix;
}

static void index_free(ColoPassthroughIndex *ix)
{
    if (!ix) {
        return;
    }
    for (guint g = 0; g < ix->n_groups; g++) {
        g_hash_table_destroy(ix->groups[g].first);
    }
    g_free(ix->keys);
    g_free(ix);
}

static void rule_unref(ColoPassthroughRule *r)
{
    if (g_atomic_int_dec_and_test(&r->ref)) {
        g_free(r);
    }
}

void colo_passthrough_snapshot_unref(ColoPassthroughSnapshot *snap)
{
    if (snap && g_atomic_int_dec_and_test(&snap->ref)) {
        for (guint i = 0; i < snap->n_rules; i++) {
            rule_unref(snap->rules[i]);
        }
        index_free(snap->index);
        g_free(snap);
    }
}

void colo_passthrough_init(ColoPassthrough *pt)
{
    g_mutex_init(&pt->lock);
    pt->generation = 1;
    pt->snap = snapshot_new(0, 1);
}

void colo_passthrough_destroy(ColoPassthrough *pt)
{
    colo_passthrough_snapshot_unref(pt->snap);
    pt->snap = NULL;
    g_mutex_clear(&pt->lock);
}

ColoPassthroughSnapshot *colo_passthrough_get(ColoPassthrough *pt)
{
    g_mutex_lock(&pt->lock);
    ColoPassthroughSnapshot *s = pt->snap;
    g_atomic_int_inc(&s->ref);
    g_mutex_unlock(&pt->lock);
    return s;
}

gboolean colo_passthrough_rule_same(const ColoPassthroughRule *a, const ColoPassthroughRule *b)
{
    return a->has_proto == b->has_proto && (!a->has_proto || a->proto == b->proto) &&
           a->src_ip == b->src_ip && a->dst_ip == b->dst_ip && a->src_port == b->src_port &&
           a->dst_port == b->dst_port;
}

/* Installs @next (which holds references to its rules) as current; called with the lock held. */
static void install(ColoPassthrough *pt, ColoPassthroughSnapshot *next)
{
    ColoPassthroughSnapshot *old = pt->snap;
    pt->snap = next;
    g_atomic_int_set(&pt->generation, next->generation);
    colo_passthrough_snapshot_unref(old);
}

gboolean colo_passthrough_add(ColoPassthrough *pt, const ColoPassthroughRule *rule, GError **errp)
{
    g_mutex_lock(&pt->lock);
    ColoPassthroughSnapshot *cur = pt->snap;
    for (guint i = 0; i < cur->n_rules; i++) {
        if (colo_passthrough_rule_same(cur->rules[i], rule)) {
            g_mutex_unlock(&pt->lock);
            error_setg(errp, "The pass through connection already exists");
            return FALSE;
        }
    }
    ColoPassthroughSnapshot *next = snapshot_new(cur->n_rules + 1, cur->generation + 1);
    for (guint i = 0; i < cur->n_rules; i++) {
        next->rules[i] = cur->rules[i];
        g_atomic_int_inc(&next->rules[i]->ref);
    }
    ColoPassthroughRule *r = g_new0(ColoPassthroughRule, 1);
    r->has_proto = rule->has_proto;
    r->proto = rule->has_proto ? rule->proto : 0;
    r->src_ip = rule->src_ip;
    r->dst_ip = rule->dst_ip;
    r->src_port = rule->src_port;
    r->dst_port = rule->dst_port;
    r->ref = 1;
    next->rules[cur->n_rules] = r;
    install(pt, next);
    g_mutex_unlock(&pt->lock);
    return TRUE;
}

gboolean colo_passthrough_del(ColoPassthrough *pt, const ColoPassthroughRule *rule, GError **errp)
{
    g_mutex_lock(&pt->lock);
    ColoPassthroughSnapshot *cur = pt->snap;
    guint found = cur->n_rules;
    for (guint i = 0; i < cur->n_rules; i++) {
        if (colo_passthrough_rule_same(cur->rules[i], rule)) {
            found = i;
            break;
        }
    }
    if (found == cur->n_rules) {
        g_mutex_unlock(&pt->lock);
        if (cur->n_rules == 0) {
            error_setg(errp, "The pass through connection list is empty");
        } else {
            error_setg(errp, "The pass through list can't find the connection");
        }
        return FALSE;
    }
    ColoPassthroughSnapshot *next = snapshot_new(cur->n_rules - 1, cur->generation + 1);
    for (guint i = 0, j = 0; i < cur->n_rules; i++) {
        if (i != found) {
            next->rules[j] = cur->rules[i];
            g_atomic_int_inc(&next->rules[j]->ref);
            j++;
        }
    }
    install(pt, next);
    g_mutex_unlock(&pt->lock);
    return TRUE;
}

static ColoPassthroughRule *match_indexed(ColoPassthroughSnapshot *snap, const ColoConnKey *key)
{
    if (g_once_init_enter(&snap->index)) {
        g_once_init_leave(&snap->index, index_build(snap));
    }
    const ColoPassthroughIndex *ix = snap->index;
    guint best = 0; /* position + 1 */
    for (guint g = 0; g < ix->n_groups; g++) {
        ColoConnKey masked;
        mask_key(&masked, key, ix->groups[g].fields);
        guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(ix->groups[g].first, &masked));
        if (pos && (!best || pos < best)) {
            best = pos;
        }
    }
    return best ? snap->rules[best - 1] : NULL;
}

ColoPassthroughRule *colo_passthrough_match(ColoPassthroughSnapshot *snap, const ColoConnKey *key)
{
    if (snap->n_rules > INDEX_MIN_RULES) {
        return match_indexed(snap, key);
    }
    for (guint i = 0; i < snap->n_rules; i++) {
        ColoPassthroughRule *r = snap->rules[i];
        if ((!r->has_proto || r->proto == key->proto) && (!r->src_ip || r->src_ip == key->src) &&
            (!r->dst_ip || r->dst_ip == key->dst) &&
            (!r->src_port || r->src_port == key->src_port) &&
            (!r->dst_port || r->dst_port == key->dst_port)) {
            return r;
        }
    }
    return NULL;
}

void colo_passthrough_rule_count(ColoPassthroughRule *rule, guint32 bytes)
{
    __atomic_fetch_add(&rule->packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&rule->bytes, bytes, __ATOMIC_RELAXED);
}

gboolean colo_passthrough_parse_proto(const char *name, guint8 *proto, GError **errp)
{
    static const struct {
        const char *name;
        guint8 num;
    } known[] = {
        {"tcp", COLO_IPPROTO_TCP},   {"udp", COLO_IPPROTO_UDP},         {"dccp", COLO_IPPROTO_DCCP},
        {"sctp", COLO_IPPROTO_SCTP}, {"udplite", COLO_IPPROTO_UDPLITE}, {"icmp", COLO_IPPROTO_ICMP},
        {"igmp", COLO_IPPROTO_IGMP}, {"ipv6", COLO_IPPROTO_IPV6},
    };
    for (guint i = 0; i < G_N_ELEMENTS(known); i++) {
        if (!g_ascii_strcasecmp(name, known[i].name)) {
            *proto = known[i].num;
            return TRUE;
        }
    }
    guint64 num;
    if (g_ascii_string_to_unsigned(name, 10, 0, 255, &num, NULL)) {
        *proto = num;
        return TRUE;
    }
    struct protoent result, *found = NULL;
    char buf[1024];
    if (*name && getprotobyname_r(name, &result, buf, sizeof(buf), &found) == 0 && found) {
        *proto = found->p_proto;
        return TRUE;
    }
    error_setg(errp, "Invalid protocol '%s'", name);
    return FALSE;
}

gboolean colo_passthrough_parse_ip(const char *param, const char *str, guint32 *ip, GError **errp)
{
    struct in_addr a;
    if (!str || !*str) {
        *ip = 0;
        return TRUE;
    }
    if (inet_pton(AF_INET, str, &a) != 1) {
        error_setg(errp, "Parameter '%s' expects an IPv4 address", param);
        return FALSE;
    }
    *ip = a.s_addr;
    return TRUE;
}

gboolean colo_passthrough_check_port(const char *param, gint64 port, GError **errp)
{
    if (port < 0 || port > 65535) {
        error_setg(errp, "Parameter '%s' expects a port number (0-65535)", param);
        return FALSE;
    }
    return TRUE;
}

gboolean colo_passthrough_parse_port(const char *param, const char *str, guint16 *port,
                                     GError **errp)
{
    guint64 v;
    if (!str || !*str) {
        *port = 0;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(str, 10, 0, 65535, &v, NULL)) {
        error_setg(errp, "Parameter '%s' expects a port number (0-65535)", param);
        return FALSE;
    }
    *port = v;
    return TRUE;
}

gboolean colo_passthrough_rule_check(const ColoPassthroughRule *rule, GError **errp)
{
    if (rule->has_proto && !colo_proto_has_ports(rule->proto) &&
        (rule->src_port || rule->dst_port)) {
        char buf[8];
        error_setg(errp, "Protocol '%s' has no ports", colo_proto_name(rule->proto, buf, 8));
        return FALSE;
    }
    return TRUE;
}

char *colo_passthrough_rule_str(const ColoPassthroughRule *rule)
{
    char pbuf[8], sbuf[INET_ADDRSTRLEN], dbuf[INET_ADDRSTRLEN];
    struct in_addr s = {.s_addr = rule->src_ip}, d = {.s_addr = rule->dst_ip};
    inet_ntop(AF_INET, &s, sbuf, sizeof(sbuf));
    inet_ntop(AF_INET, &d, dbuf, sizeof(dbuf));
    return g_strdup_printf("%s %s:%u -> %s:%u",
                           rule->has_proto ? colo_proto_name(rule->proto, pbuf, sizeof(pbuf))
                                           : "any",
                           sbuf, rule->src_port, dbuf, rule->dst_port);
}

gboolean colo_passthrough_rule_from_v4(ColoPassthroughRule *rule, const char *protocol,
                                       const char *src_ip, const char *dst_ip,
                                       const gint64 *src_port, const gint64 *dst_port,
                                       GError **errp)
{
    *rule = (ColoPassthroughRule){.has_proto = TRUE};
    if ((src_port && !colo_passthrough_check_port("src_port", *src_port, errp)) ||
        (dst_port && !colo_passthrough_check_port("dst_port", *dst_port, errp)) ||
        !colo_passthrough_parse_proto(protocol, &rule->proto, errp) ||
        !colo_passthrough_parse_ip("src_ip", src_ip, &rule->src_ip, errp) ||
        !colo_passthrough_parse_ip("dst_ip", dst_ip, &rule->dst_ip, errp)) {
        return FALSE;
    }
    rule->src_port = src_port ? *src_port : 0;
    rule->dst_port = dst_port ? *dst_port : 0;
    return TRUE;
}

gboolean colo_passthrough_rule_from_flow(ColoPassthroughRule *rule, const char *protocol,
                                         const char *src_host, const char *src_port,
                                         const char *dst_host, const char *dst_port, GError **errp)
{
    *rule = (ColoPassthroughRule){0};
    if (protocol) {
        rule->has_proto = TRUE;
        if (!colo_passthrough_parse_proto(protocol, &rule->proto, errp)) {
            return FALSE;
        }
    }
    return colo_passthrough_parse_ip("source.host", src_host, &rule->src_ip, errp) &&
           colo_passthrough_parse_port("source.port", src_port, &rule->src_port, errp) &&
           colo_passthrough_parse_ip("destination.host", dst_host, &rule->dst_ip, errp) &&
           colo_passthrough_parse_port("destination.port", dst_port, &rule->dst_port, errp);
}
