/*
 * HMP for the COLO proxy: thin wrappers that parse HMP arguments and call the QMP functions of
 * qapi/colo-proxy.json (monitor/qmp-cmds-colo.c), so both monitors share one implementation.
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "monitor/hmp.h"
#include "qapi-commands.h"
#include "qapi/qapi-runtime.h"
#include "util/error.h"

void hmp_colo_passthrough_add(Monitor *mon, const HmpArgs *args);
void hmp_colo_passthrough_del(Monitor *mon, const HmpArgs *args);
void hmp_passthrough_filter_add(Monitor *mon, const HmpArgs *args);
void hmp_passthrough_filter_del(Monitor *mon, const HmpArgs *args);
void hmp_info_colo_passthrough(Monitor *mon, const HmpArgs *args);
void hmp_info_colo_compare(Monitor *mon, const HmpArgs *args);

static void passthrough_v4(Monitor *mon, const HmpArgs *args, gboolean add)
{
    GError *err = NULL;
    const char *proto = hmp_args_get_str(args, "protocol");
    int p = qapi_enum_parse(IP_PROTOCOL_lookup, proto);
    if (p < 0) {
        error_setg(&err, "Invalid protocol '%s'", proto);
        hmp_handle_error(mon, err);
        return;
    }
    L4_Connection c = {
        .protocol = p,
        .id = (char *)hmp_args_get_str(args, "id"),
        .src_ip = (char *)hmp_args_get_str(args, "src_ip"),
        .dst_ip = (char *)hmp_args_get_str(args, "dst_ip"),
        .has_src_port = hmp_args_has(args, "src_port"),
        .src_port = hmp_args_get_int(args, "src_port", 0),
        .has_dst_port = hmp_args_has(args, "dst_port"),
        .dst_port = hmp_args_get_int(args, "dst_port", 0),
    };
    if (add) {
        qmp_colo_passthrough_add(&c, &err);
    } else {
        qmp_colo_passthrough_del(&c, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_colo_passthrough_add(Monitor *mon, const HmpArgs *args)
{
    passthrough_v4(mon, args, TRUE);
}

void hmp_colo_passthrough_del(Monitor *mon, const HmpArgs *args)
{
    passthrough_v4(mon, args, FALSE);
}

/* "host:port" (either part may be empty) into @addr; FALSE if there is no colon. */
static gboolean split_host_port(const char *str, IPFlowEndpoint *addr, char **buf)
{
    const char *colon = strrchr(str, ':');
    if (!colon) {
        return FALSE;
    }
    *buf = g_strdup(str);
    (*buf)[colon - str] = '\0';
    addr->host = *buf;
    addr->port = *buf + (colon - str) + 1;
    return TRUE;
}

static void passthrough_flow(Monitor *mon, const HmpArgs *args, gboolean add)
{
    GError *err = NULL;
    IPFlowEndpoint src = {0}, dst = {0};
    char *sbuf = NULL, *dbuf = NULL;
    const char *s = hmp_args_get_str(args, "src"), *d = hmp_args_get_str(args, "dst");
    IPFlowSpec spec = {
        .protocol = (char *)hmp_args_get_str(args, "protocol"),
        .object_name = (char *)hmp_args_get_str(args, "object-name"),
    };
    if (s && !split_host_port(s, &src, &sbuf)) {
        error_setg(&err, "Incorrect passthrough src address");
    } else if (d && !split_host_port(d, &dst, &dbuf)) {
        error_setg(&err, "Incorrect passthrough dst address");
    } else {
        spec.source = s ? &src : NULL;
        spec.destination = d ? &dst : NULL;
        if (add) {
            qmp_passthrough_filter_add(&spec, &err);
        } else {
            qmp_passthrough_filter_del(&spec, &err);
        }
    }
    g_free(sbuf);
    g_free(dbuf);
    hmp_handle_error(mon, err);
}

void hmp_passthrough_filter_add(Monitor *mon, const HmpArgs *args)
{
    passthrough_flow(mon, args, TRUE);
}

void hmp_passthrough_filter_del(Monitor *mon, const HmpArgs *args)
{
    passthrough_flow(mon, args, FALSE);
}

void hmp_info_colo_passthrough(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    GPtrArray *list = qmp_query_colo_passthrough(hmp_args_get_str(args, "id"), &err);
    if (!list) {
        hmp_handle_error(mon, err);
        return;
    }
    for (guint i = 0; i < list->len; i++) {
        ColoPassthroughInfo *info = list->pdata[i];
        monitor_printf(mon, "%s: %u rule%s\n", info->id, info->rules->len,
                       info->rules->len == 1 ? "" : "s");
        for (guint r = 0; r < info->rules->len; r++) {
            ColoPassthroughRuleInfo *ri = info->rules->pdata[r];
            monitor_printf(mon,
                           "  %s %s:%" G_GINT64_FORMAT " -> %s:%" G_GINT64_FORMAT
                           " packets=%" G_GINT64_FORMAT " bytes=%" G_GINT64_FORMAT "\n",
                           ri->protocol ? ri->protocol : "any", ri->src_ip, ri->src_port,
                           ri->dst_ip, ri->dst_port, ri->packets, ri->bytes);
        }
    }
    g_ptr_array_unref(list);
}

/* "a=1 b=2" from a JSON object of counters. */
static void print_counters(Monitor *mon, const char *label, JsonNode *node)
{
    monitor_printf(mon, "  %s:", label);
    JsonObject *o = json_node_get_object(node);
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        monitor_printf(mon, " %s=%" G_GINT64_FORMAT, (const char *)l->data,
                       json_object_get_int_member(o, l->data));
    }
    g_list_free(members);
    monitor_printf(mon, "\n");
}

void hmp_info_colo_compare(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    GPtrArray *list = qmp_query_colo_compare(hmp_args_get_str(args, "id"), &err);
    if (!list) {
        hmp_handle_error(mon, err);
        return;
    }
    for (guint i = 0; i < list->len; i++) {
        ColoCompareInfo *c = list->pdata[i];
        monitor_printf(mon, "%s:\n", c->id);
        monitor_printf(mon,
                       "  primary-in=%" G_GINT64_FORMAT " secondary-in=%" G_GINT64_FORMAT
                       " out=%" G_GINT64_FORMAT " compared=%" G_GINT64_FORMAT
                       " flushes=%" G_GINT64_FORMAT "\n",
                       c->primary_in, c->secondary_in, c->out, c->compared, c->flushes);
        monitor_printf(mon,
                       "  connections=%" G_GINT64_FORMAT " primary-queued=%" G_GINT64_FORMAT
                       " secondary-queued=%" G_GINT64_FORMAT " passthrough-hits=%" G_GINT64_FORMAT
                       "\n",
                       c->connections, c->primary_queued, c->secondary_queued, c->passthrough_hits);
        print_counters(mon, "released", c->released);
        print_counters(mon, "dropped-primary", c->dropped_primary);
        print_counters(mon, "dropped-secondary", c->dropped_secondary);
        print_counters(mon, "mismatches", c->mismatches);
        print_counters(mon, "checkpoint-requests", c->checkpoint_requests);
        monitor_printf(mon,
                       "  send-failures=%" G_GINT64_FORMAT " oversized-frames=%" G_GINT64_FORMAT
                       " malformed-frames=%" G_GINT64_FORMAT " notify-failures=%" G_GINT64_FORMAT
                       " notify-unsupported=%" G_GINT64_FORMAT
                       " events-suppressed=%" G_GINT64_FORMAT "\n",
                       c->send_failures, c->oversized_frames, c->malformed_frames,
                       c->notify_failures, c->notify_unsupported, c->events_suppressed);
    }
    g_ptr_array_unref(list);
}
