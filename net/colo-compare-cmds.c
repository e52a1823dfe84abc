/* The passthrough commands behind QMP and HMP (include/net/colo-compare.h). */
#include "net/colo-compare.h"

#include "util/error.h"

ColoCompare *colo_compare_lookup(const char *id, const char *param, GError **errp)
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

static gboolean apply(gboolean add, ColoCompare *s, const ColoPassthroughRule *rule, GError **errp)
{
    if (!colo_passthrough_rule_check(rule, errp)) {
        return FALSE;
    }
    ColoPassthrough *pt = colo_compare_get_passthrough(s);
    return add ? colo_passthrough_add(pt, rule, errp) : colo_passthrough_del(pt, rule, errp);
}

gboolean colo_passthrough_cmd_v4(gboolean add, const char *protocol, const char *id,
                                 const char *src_ip, const char *dst_ip, gint64 src_port,
                                 gint64 dst_port, GError **errp)
{
    ColoPassthroughRule rule = {.has_proto = TRUE};
    if (!colo_passthrough_parse_proto(protocol, &rule.proto, errp) ||
        !colo_passthrough_parse_ip("src_ip", src_ip, &rule.src_ip, errp) ||
        !colo_passthrough_parse_ip("dst_ip", dst_ip, &rule.dst_ip, errp)) {
        return FALSE;
    }
    if (src_port >= 0) {
        if (!colo_passthrough_check_port("src_port", src_port, errp)) {
            return FALSE;
        }
        rule.src_port = src_port;
    }
    if (dst_port >= 0) {
        if (!colo_passthrough_check_port("dst_port", dst_port, errp)) {
            return FALSE;
        }
        rule.dst_port = dst_port;
    }
    ColoCompare *s = colo_compare_lookup(id, "id", errp);
    return s && apply(add, s, &rule, errp);
}

gboolean colo_passthrough_cmd_flow(gboolean add, const char *protocol, const char *object_name,
                                   const char *src_host, const char *src_port, const char *dst_host,
                                   const char *dst_port, GError **errp)
{
    ColoPassthroughRule rule = {0};
    if (protocol) {
        rule.has_proto = TRUE;
        if (!colo_passthrough_parse_proto(protocol, &rule.proto, errp)) {
            return FALSE;
        }
    }
    if (!colo_passthrough_parse_ip("source.host", src_host, &rule.src_ip, errp) ||
        !colo_passthrough_parse_port("source.port", src_port, &rule.src_port, errp) ||
        !colo_passthrough_parse_ip("destination.host", dst_host, &rule.dst_ip, errp) ||
        !colo_passthrough_parse_port("destination.port", dst_port, &rule.dst_port, errp)) {
        return FALSE;
    }
    if (!object_name) {
        error_set_missing_param(errp, "object-name");
        return FALSE;
    }
    ColoCompare *s = colo_compare_lookup(object_name, "object-name", errp);
    return s && apply(add, s, &rule, errp);
}
