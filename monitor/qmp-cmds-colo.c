/*
 * QMP for the COLO proxy (qapi/colo-proxy.json): the passthrough commands, the queries and the
 * COLO_COMPARE_MISCOMPARE event. HMP (monitor/hmp-cmds-colo.c) calls these same functions; the
 * objects and their passthrough lists are net/'s, which knows nothing of this file.
 */
#include <arpa/inet.h>
#include <string.h>

#include "monitor/colo.h"
#include "net/colo-compare.h"
#include "net/colo-rewriter.h"
#include "net/filter.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "qom/object.h"
#include "util/error.h"

/* ---- passthrough ---- */

/* The colo-compare a passthrough command names: @id, or the only one when @id is NULL. */
static ColoCompare *compare_lookup(const char *id, const char *param, GError **errp)
{
    if (!id) {
        GPtrArray *all = colo_compare_list();
        ColoCompare *only = all->len == 1 ? all->pdata[0] : NULL;
        g_ptr_array_unref(all);
        if (!only) {
            error_set_missing_param(errp, param);
        }
        return only;
    }
    ColoCompare *s = colo_compare_find(id);
    if (s) {
        return s;
    }
    if (qom_user_find(id, NULL)) {
        error_setg(errp, "object '%s' is not a colo-compare", id);
    } else {
        error_setg(errp, "colo-compare '%s' not found", id);
    }
    return NULL;
}

static void apply(gboolean add, const char *id, const char *param, const ColoPassthroughRule *rule,
                  GError **errp)
{
    ColoCompare *s = compare_lookup(id, param, errp);
    if (!s || !colo_passthrough_rule_check(rule, errp)) {
        return;
    }
    ColoPassthrough *pt = colo_compare_get_passthrough(s);
    if (add) {
        colo_passthrough_add(pt, rule, errp);
    } else {
        colo_passthrough_del(pt, rule, errp);
    }
}

static void passthrough_v4(gboolean add, L4_Connection *arg, GError **errp)
{
    ColoPassthroughRule rule;
    if (colo_passthrough_rule_from_v4(&rule, IP_PROTOCOL_str(arg->protocol), arg->src_ip,
                                      arg->dst_ip, arg->has_src_port ? &arg->src_port : NULL,
                                      arg->has_dst_port ? &arg->dst_port : NULL, errp)) {
        apply(add, arg->id, "id", &rule, errp);
    }
}

void qmp_colo_passthrough_add(L4_Connection *arg, GError **errp)
{
    passthrough_v4(TRUE, arg, errp);
}

void qmp_colo_passthrough_del(L4_Connection *arg, GError **errp)
{
    passthrough_v4(FALSE, arg, errp);
}

static void passthrough_flow(gboolean add, IPFlowSpec *arg, GError **errp)
{
    IPFlowEndpoint *src = arg->source, *dst = arg->destination;
    ColoPassthroughRule rule;
    if (!colo_passthrough_rule_from_flow(&rule, arg->protocol, src ? src->host : NULL,
                                         src ? src->port : NULL, dst ? dst->host : NULL,
                                         dst ? dst->port : NULL, errp)) {
        return;
    }
    if (!arg->object_name) {
        error_set_missing_param(errp, "object-name");
        return;
    }
    apply(add, arg->object_name, "object-name", &rule, errp);
}

void qmp_passthrough_filter_add(IPFlowSpec *arg, GError **errp)
{
    passthrough_flow(TRUE, arg, errp);
}

void qmp_passthrough_filter_del(IPFlowSpec *arg, GError **errp)
{
    passthrough_flow(FALSE, arg, errp);
}

/* The objects a query covers: the one named, or all of them (borrowed pointers). */
static GPtrArray *query_targets(const char *id, GError **errp)
{
    if (!id) {
        return colo_compare_list();
    }
    ColoCompare *s = compare_lookup(id, "id", errp);
    if (!s) {
        return NULL;
    }
    GPtrArray *one = g_ptr_array_new();
    g_ptr_array_add(one, s);
    return one;
}

static char *ip_str(guint32 be)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a = {.s_addr = be};
    return g_strdup(inet_ntop(AF_INET, &a, buf, sizeof(buf)));
}

GPtrArray *qmp_query_colo_passthrough(const char *id, GError **errp)
{
    GPtrArray *targets = query_targets(id, errp);
    if (!targets) {
        return NULL;
    }
    GPtrArray *list = qapi_list_new_ColoPassthroughInfo();
    for (guint i = 0; i < targets->len; i++) {
        ColoCompare *s = targets->pdata[i];
        ColoPassthroughInfo *info = g_new0(ColoPassthroughInfo, 1);
        info->id = g_strdup(colo_compare_get_id(s));
        info->rules = qapi_list_new_ColoPassthroughRuleInfo();
        ColoPassthroughSnapshot *snap = colo_passthrough_get(colo_compare_get_passthrough(s));
        for (guint r = 0; r < snap->n_rules; r++) {
            const ColoPassthroughRule *rule = snap->rules[r];
            ColoPassthroughRuleInfo *ri = g_new0(ColoPassthroughRuleInfo, 1);
            if (rule->has_proto) {
                char buf[16];
                ri->protocol = g_strdup(colo_proto_name(rule->proto, buf, sizeof(buf)));
            }
            ri->src_ip = ip_str(rule->src_ip);
            ri->dst_ip = ip_str(rule->dst_ip);
            ri->src_port = rule->src_port;
            ri->dst_port = rule->dst_port;
            ri->packets = (int64_t)__atomic_load_n(&rule->packets, __ATOMIC_RELAXED);
            ri->bytes = (int64_t)__atomic_load_n(&rule->bytes, __ATOMIC_RELAXED);
            g_ptr_array_add(info->rules, ri);
        }
        colo_passthrough_snapshot_unref(snap);
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(targets);
    return list;
}

/* ---- statistics ---- */

/* {"name": count, ...} for one counter array and its names. */
static JsonNode *counters(const guint64 *v, guint n, const char *(*name)(guint))
{
    JsonObject *o = json_object_new();
    for (guint i = 0; i < n; i++) {
        json_object_set_int_member(o, name(i), (gint64)v[i]);
    }
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, o);
    return node;
}

static const char *release_name(guint i)
{
    return colo_release_reason_str(i);
}

static const char *drop_name(guint i)
{
    return colo_drop_reason_str(i);
}

static const char *class_name(guint i)
{
    return colo_proto_class_str(i);
}

static const char *checkpoint_name(guint i)
{
    return colo_checkpoint_reason_str(i);
}

/* Drop reasons that can happen to a primary packet (the others are secondary-only). */
static JsonNode *primary_drops(const guint64 *v)
{
    JsonObject *o = json_object_new();
    json_object_set_int_member(o, "empty", (gint64)v[COLO_DROP_EMPTY]);
    json_object_set_int_member(o, "queue-full", (gint64)v[COLO_DROP_QUEUE_FULL]);
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, o);
    return node;
}

GPtrArray *qmp_query_colo_compare(const char *id, GError **errp)
{
    GPtrArray *targets = query_targets(id, errp);
    if (!targets) {
        return NULL;
    }
    GPtrArray *list = qapi_list_new_ColoCompareInfo();
    for (guint i = 0; i < targets->len; i++) {
        ColoCompare *s = targets->pdata[i];
        ColoCompareObjStats st;
        colo_compare_get_stats(s, &st);
        const ColoCompareStats *e = &st.engine;
        ColoCompareInfo *info = g_new0(ColoCompareInfo, 1);
        info->id = g_strdup(colo_compare_get_id(s));
        info->primary_in = e->in_packets[COLO_SIDE_PRIMARY];
        info->secondary_in = e->in_packets[COLO_SIDE_SECONDARY];
        info->out = e->out_packets;
        guint64 compared = 0;
        for (int c = 0; c < COLO_PROTO_CLASS__MAX; c++) {
            compared += e->compared[c];
        }
        info->compared = compared;
        info->released = counters(e->released, COLO_RELEASE__MAX, release_name);
        info->dropped_primary = primary_drops(e->dropped[COLO_SIDE_PRIMARY]);
        info->dropped_secondary =
            counters(e->dropped[COLO_SIDE_SECONDARY], COLO_DROP__MAX, drop_name);
        info->mismatches = counters(e->mismatches, COLO_PROTO_CLASS__MAX, class_name);
        info->checkpoint_requests =
            counters(e->checkpoint_requests, COLO_CHECKPOINT__MAX, checkpoint_name);
        info->flushes = e->flushes;
        info->primary_queued = st.queued[COLO_SIDE_PRIMARY];
        info->secondary_queued = st.queued[COLO_SIDE_SECONDARY];
        info->connections = st.connections;
        info->passthrough_hits = e->passthrough_hits;
        info->send_failures = st.send_failures;
        info->oversized_frames =
            st.frames_oversized[0] + st.frames_oversized[1] + st.frames_oversized[2];
        info->malformed_frames =
            st.frames_malformed[0] + st.frames_malformed[1] + st.frames_malformed[2];
        info->notify_failures = st.notify_failures;
        info->notify_unsupported = st.notify_unsupported;
        info->events_suppressed = st.events_suppressed;
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(targets);
    return list;
}

/* ---- filter-rewriter ---- */

static void add_connection(const ColoConnKey *key, ColoTcpState state, guint32 offset,
                           gpointer opaque)
{
    char buf[80];
    ColoRewriterConnection *c = g_new0(ColoRewriterConnection, 1);

    c->connection = g_strdup(colo_conn_key_str(key, buf, sizeof(buf)));
    c->state = g_strdup(colo_tcp_state_str(state));
    c->offset = offset;
    g_ptr_array_add(opaque, c);
}

static ColoRewriterInfo *rewriter_info(QomObject *obj)
{
    ColoRewriterInfo *info = g_new0(ColoRewriterInfo, 1);
    ColoRewriter *rw = filter_rewriter_get(NET_FILTER(obj));

    info->id = g_strdup(qom_object_get_name(obj));
    info->connections = qapi_list_new_ColoRewriterConnection();
    if (rw) { /* NULL while the filter is not set up */
        const ColoRewriterStats *st = colo_rewriter_stats(rw);
        info->failover_mode = colo_rewriter_in_failover_mode(rw);
        info->packets = (int64_t)st->packets;
        info->rewritten = (int64_t)st->rewritten;
        info->passed = (int64_t)st->passed;
        info->connections_created = (int64_t)st->connections_created;
        info->connections_closed = (int64_t)st->connections_closed;
        colo_rewriter_foreach(rw, add_connection, info->connections);
    }
    return info;
}

GPtrArray *qmp_x_query_colo_rewriter(const char *id, GError **errp)
{
    GType type = qom_type_lookup(TYPE_FILTER_REWRITER);
    GPtrArray *list = qapi_list_new_ColoRewriterInfo();

    if (id) {
        QomObject *obj = qom_user_find(id, NULL);
        if (!obj || !G_TYPE_CHECK_INSTANCE_TYPE(obj, type)) {
            error_setg(errp, "filter-rewriter '%s' not found", id);
            g_ptr_array_unref(list);
            return NULL;
        }
        g_ptr_array_add(list, rewriter_info(obj));
        return list;
    }
    GPtrArray *objects = qom_object_children(qom_container_get("/objects"));
    for (guint i = 0; i < objects->len; i++) {
        if (G_TYPE_CHECK_INSTANCE_TYPE(objects->pdata[i], type)) {
            g_ptr_array_add(list, rewriter_info(objects->pdata[i]));
        }
    }
    g_ptr_array_unref(objects);
    return list;
}

/* ---- the event ---- */

typedef struct MiscompareEvent {
    char *id;
    const char *reason;
    const char *protocol;
    char *connection;
} MiscompareEvent;

/* Monitors live on the main loop: the event is sent from there, not from the iothread. */
static gboolean emit_on_main(gpointer opaque)
{
    MiscompareEvent *ev = opaque;
    qapi_event_send_colo_compare_miscompare(ev->id, ev->reason, ev->protocol, ev->connection);
    g_free(ev->id);
    g_free(ev->connection);
    g_free(ev);
    return G_SOURCE_REMOVE;
}

void monitor_colo_compare_event(const char *id, ColoCheckpointReason reason, ColoProtoClass cls,
                                const ColoConnKey *key)
{
    MiscompareEvent *ev = g_new0(MiscompareEvent, 1);
    ev->id = g_strdup(id);
    ev->reason = colo_checkpoint_reason_str(reason);
    ev->protocol = colo_proto_class_str(cls);
    if (key) {
        char buf[96];
        ev->connection = g_strdup(colo_conn_key_str(key, buf, sizeof(buf)));
    }
    /* Not g_main_context_invoke(): that may run the callback right here on the iothread. */
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, emit_on_main, ev, NULL);
    g_source_attach(idle, NULL);
    g_source_unref(idle);
}
