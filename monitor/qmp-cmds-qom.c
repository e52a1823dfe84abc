/* QMP and HMP commands over the object model (built once qom/ provides its library). */
#include "monitor/monitor.h"
#include "monitor/hmp.h"
#include "qapi-commands.h"
#include "qom/iothread.h"
#include "qom/object.h"
#include "util/error.h"
#include "util/keyval.h"

#include <string.h>

static QomObject *resolve(const char *path, GError **errp)
{
    gboolean ambiguous = FALSE;
    QomObject *obj = qom_resolve_path(path, &ambiguous);
    if (!obj) {
        if (ambiguous) {
            error_setg(errp, "Path '%s' is ambiguous", path);
        } else {
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", path);
        }
    }
    return obj;
}

GPtrArray *qmp_qom_list(const char *path, GError **errp)
{
    QomObject *obj = resolve(path, errp);
    if (!obj) {
        return NULL;
    }
    GPtrArray *list = qapi_list_new_ObjectPropertyInfo();
    /* "type" first, then properties, then children, as QEMU lists them. */
    ObjectPropertyInfo *type = g_new0(ObjectPropertyInfo, 1);
    type->name = g_strdup("type");
    type->type = g_strdup("string");
    g_ptr_array_add(list, type);
    GPtrArray *props = qom_type_properties(qom_object_type_name(obj));
    for (guint i = 0; i < props->len; i++) {
        QomPropertyInfo *pi = g_ptr_array_index(props, i);
        ObjectPropertyInfo *info = g_new0(ObjectPropertyInfo, 1);
        info->name = g_strdup(pi->name);
        info->type = g_strdup(pi->type);
        g_ptr_array_add(list, info);
    }
    g_ptr_array_set_free_func(props, (GDestroyNotify)qom_property_info_free);
    g_ptr_array_unref(props);
    GPtrArray *children = qom_object_children(obj);
    for (guint i = 0; i < children->len; i++) {
        QomObject *child = g_ptr_array_index(children, i);
        ObjectPropertyInfo *info = g_new0(ObjectPropertyInfo, 1);
        info->name = g_strdup(qom_object_get_name(child));
        info->type = g_strdup_printf("child<%s>", qom_object_type_name(child));
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(children);
    return list;
}

JsonNode *qmp_qom_get(const char *path, const char *property, GError **errp)
{
    QomObject *obj = resolve(path, errp);
    if (!obj) {
        return NULL;
    }
    if (strcmp(property, "type") == 0) {
        JsonNode *n = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(n, qom_object_type_name(obj));
        return n;
    }
    return qom_object_get_json(obj, property, errp);
}

void qmp_qom_set(const char *path, const char *property, JsonNode *value, GError **errp)
{
    QomObject *obj = resolve(path, errp);
    if (!obj) {
        return;
    }
    /* Past INT64_MAX only an unsigned 64-bit property can take the value (upstream's QNum). */
    GParamSpec *ps = qom_object_find_property(obj, property);
    if (ps && qapi_json_is_uint(value) && G_PARAM_SPEC_VALUE_TYPE(ps) != G_TYPE_UINT64) {
        error_setg(errp, "Invalid parameter type for '%s', expected: integer", property);
        return;
    }
    qom_object_set_json(obj, property, value, errp);
}

GPtrArray *qmp_qom_list_types(const char *implements, bool has_abstract, bool abstract,
                              GError **errp)
{
    GPtrArray *names = qom_type_names(FALSE, implements, has_abstract && abstract);
    GPtrArray *list = qapi_list_new_ObjectTypeInfo();
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        ObjectTypeInfo *info = g_new0(ObjectTypeInfo, 1);
        info->name = g_strdup(name);
        if (qom_type_is_abstract(name)) {
            info->has_abstract = true;
            info->abstract = true;
        }
        info->parent = g_strdup(qom_type_parent_name(name));
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(names);
    return list;
}

/*
 * The command line reports a taken id as "Duplicate ID"; object-add and object_add report what
 * upstream's object tree says when the new child's name is taken.
 */
static gboolean object_id_free(const char *id, GError **errp)
{
    if (id && qom_user_find(id, NULL)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object (type 'container')", id);
        return FALSE;
    }
    return TRUE;
}

/*
 * object-add ('gen': false): for the types the schema describes, the arguments are first checked
 * against ObjectOptions, so that their errors are upstream's (unexpected and missing members,
 * JSON types, in upstream's order); the object model then creates the object from the same
 * JSON, with its own checks. Types the schema does not describe go to the object model alone.
 */
void qmp_marshal_object_add(JsonObject *args, JsonNode **ret, GError **errp)
{
    JsonObject *in = args ? json_object_ref(args) : json_object_new();
    JsonNode *type = json_object_get_member(in, "qom-type");
    if (type && JSON_NODE_HOLDS_VALUE(type) && json_node_get_value_type(type) == G_TYPE_STRING &&
        ObjectType_parse(json_node_get_string(type)) >= 0) {
        JsonNode *node = qapi_json_object_node(json_object_ref(in));
        ObjectOptions *opts = qapi_ObjectOptions_from_json(node, NULL, errp);
        json_node_unref(node);
        if (!opts) {
            json_object_unref(in);
            return;
        }
        qapi_free_ObjectOptions(opts);
    } else if (!type) {
        error_set_missing_param(errp, "qom-type");
    } else if (!json_object_has_member(in, "id")) {
        error_set_missing_param(errp, "id");
    }
    JsonNode *id = json_object_get_member(in, "id");
    if (!(errp && *errp) &&
        object_id_free(id && JSON_NODE_HOLDS_VALUE(id) &&
                               json_node_get_value_type(id) == G_TYPE_STRING
                           ? json_node_get_string(id)
                           : NULL,
                       errp) &&
        qom_user_create_json(in, errp)) {
        *ret = qapi_json_object_node(json_object_new());
    }
    json_object_unref(in);
}

void qmp_object_del(const char *id, GError **errp)
{
    qom_user_delete(id, errp);
}

static int64_t int_property(QomObject *obj, const char *name)
{
    JsonNode *n = qom_object_get_json(obj, name, NULL);
    int64_t v = n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : 0;
    if (n) {
        json_node_unref(n);
    }
    return v;
}

GPtrArray *qmp_query_iothreads(GError **errp)
{
    GPtrArray *list = qapi_list_new_IOThreadInfo();
    QomObject *objects = qom_container_get("/objects");
    GPtrArray *children = qom_object_children(objects);
    for (guint i = 0; i < children->len; i++) {
        QomObject *child = g_ptr_array_index(children, i);
        if (!IO_IS_THREAD(child)) {
            continue;
        }
        IOThreadInfo *info = g_new0(IOThreadInfo, 1);
        info->id = g_strdup(qom_object_get_name(child));
        info->thread_id = iothread_get_thread_id(IO_THREAD(child));
        info->poll_max_ns = int_property(child, "poll-max-ns");
        info->poll_grow = int_property(child, "poll-grow");
        info->poll_shrink = int_property(child, "poll-shrink");
        info->aio_max_batch = int_property(child, "aio-max-batch");
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(children);
    return list;
}

void hmp_object_add(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    KeyvalList *opts =
        keyval_parse(hmp_args_get_str(args, "object"), "qom-type", KEYVAL_STRICT, &err);
    if (opts && object_id_free(keyval_get(opts, "id"), &err)) {
        gboolean help = FALSE;
        qom_user_create_keyval(opts, &help, &err);
    }
    keyval_list_free(opts);
    hmp_handle_error(mon, err);
}

void hmp_object_del(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_object_del(hmp_args_get_str(args, "id"), &err);
    hmp_handle_error(mon, err);
}

void hmp_info_iothreads(Monitor *mon, const HmpArgs *args)
{
    GPtrArray *list = qmp_query_iothreads(NULL);
    for (guint i = 0; list && i < list->len; i++) {
        IOThreadInfo *t = g_ptr_array_index(list, i);
        monitor_printf(mon, "%s:\n", t->id);
        monitor_printf(mon, "  thread_id=%" G_GINT64_FORMAT "\n", t->thread_id);
        monitor_printf(mon, "  poll-max-ns=%" G_GINT64_FORMAT "\n", t->poll_max_ns);
        monitor_printf(mon, "  poll-grow=%" G_GINT64_FORMAT "\n", t->poll_grow);
        monitor_printf(mon, "  poll-shrink=%" G_GINT64_FORMAT "\n", t->poll_shrink);
        monitor_printf(mon, "  aio-max-batch=%" G_GINT64_FORMAT "\n", t->aio_max_batch);
    }
    if (list) {
        g_ptr_array_unref(list);
    }
}

static void print_tree(Monitor *mon, QomObject *obj, int indent)
{
    const char *name = qom_object_get_name(obj);
    monitor_printf(mon, "%*s/%s (%s)\n", indent, "", name ? name : "", qom_object_type_name(obj));
    GPtrArray *children = qom_object_children(obj);
    for (guint i = 0; i < children->len; i++) {
        print_tree(mon, g_ptr_array_index(children, i), indent + 2);
    }
    g_ptr_array_unref(children);
}

void hmp_info_qom_tree(Monitor *mon, const HmpArgs *args)
{
    const char *path = hmp_args_get_str(args, "path");
    GError *err = NULL;
    QomObject *obj = path ? resolve(path, &err) : qom_container_get("/machine");
    if (!obj) {
        hmp_handle_error(mon, err);
        return;
    }
    print_tree(mon, obj, 0);
}
