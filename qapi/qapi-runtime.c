/* Checked JSON <-> C conversion for generated QAPI code, in QEMU's error wording. */
#include "qapi/qapi-runtime.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

char *qapi_member_path(const char *path, const char *name)
{
    return path ? g_strdup_printf("%s.%s", path, name) : g_strdup(name);
}

int qapi_enum_parse(const char *const lookup[], const char *str)
{
    for (int i = 0; str && lookup[i]; i++) {
        if (strcmp(lookup[i], str) == 0) {
            return i;
        }
    }
    return -1;
}

/*
 * Upstream names the member by its full path in type errors but by its bare name in range and
 * enum errors (a list element has no name there: "null").
 */
static const char *bare_name(const char *path)
{
    if (!path || !*path || path[strlen(path) - 1] == ']') {
        return "null";
    }
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static void type_error(GError **errp, const char *path, const char *expected)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s", path ? path : "null",
               expected);
}

JsonObject *qapi_json_get_object(JsonNode *node, const char *path, GError **errp)
{
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        type_error(errp, path, "object");
        return NULL;
    }
    return json_node_get_object(node);
}

static gboolean holds(JsonNode *node, GType type)
{
    return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

char *qapi_json_get_str(JsonNode *node, const char *path, GError **errp)
{
    if (!holds(node, G_TYPE_STRING)) {
        type_error(errp, path, "string");
        return NULL;
    }
    return g_strdup(json_node_get_string(node));
}

gboolean qapi_json_get_bool(JsonNode *node, const char *path, bool *out, GError **errp)
{
    if (!holds(node, G_TYPE_BOOLEAN)) {
        type_error(errp, path, "boolean");
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

gboolean qapi_json_is_uint(JsonNode *node)
{
    return holds(node, G_TYPE_INT64) && json_node_is_immutable(node) && json_node_get_int(node) < 0;
}

gboolean qapi_json_get_double(JsonNode *node, const char *path, double *out, GError **errp)
{
    if (holds(node, G_TYPE_INT64)) {
        int64_t v = json_node_get_int(node);
        *out = qapi_json_is_uint(node) ? (double)(uint64_t)v : (double)v;
        return TRUE;
    }
    if (!holds(node, G_TYPE_DOUBLE)) {
        type_error(errp, path, "number");
        return FALSE;
    }
    *out = json_node_get_double(node);
    return TRUE;
}

gboolean qapi_json_get_int(JsonNode *node, const char *path, int64_t min, int64_t max,
                           const char *ctype, int64_t *out, GError **errp)
{
    if (!holds(node, G_TYPE_INT64)) {
        /* QEMU reads every unsigned type as a uint64 first */
        if (min == 0) {
            error_set_param_value(errp, path ? path : "null", "uint64");
        } else {
            type_error(errp, path, "integer");
        }
        return FALSE;
    }
    int64_t v = json_node_get_int(node);
    if (qapi_json_is_uint(node) && min < 0) {
        type_error(errp, path, "integer");
        return FALSE;
    }
    if (qapi_json_is_uint(node) || v < min || v > max) {
        error_set_param_value(errp, bare_name(path), ctype);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean qapi_json_get_uint64(JsonNode *node, const char *path, uint64_t *out, GError **errp)
{
    /* QEMU accepts negative numbers for uint64 and wraps them; so do we. */
    if (!holds(node, G_TYPE_INT64)) {
        error_set_param_value(errp, path ? path : "null", "uint64");
        return FALSE;
    }
    *out = (uint64_t)json_node_get_int(node);
    return TRUE;
}

int qapi_json_get_enum(JsonNode *node, const char *path, const char *const lookup[], GError **errp)
{
    if (!holds(node, G_TYPE_STRING)) {
        type_error(errp, path, "string");
        return -1;
    }
    const char *s = json_node_get_string(node);
    int v = qapi_enum_parse(lookup, s);
    if (v < 0) {
        error_setg(errp, "Parameter '%s' does not accept value '%s'", bare_name(path), s);
    }
    return v;
}

gboolean qapi_check_unused(JsonObject *in, const char *path, GHashTable *used, GError **errp)
{
    if (!in) {
        return TRUE;
    }
    gboolean ok = TRUE;
    GList *names = json_object_get_members(in);
    for (GList *l = names; l; l = l->next) {
        if (!used || !g_hash_table_contains(used, l->data)) {
            g_autofree char *p = qapi_member_path(path, l->data);
            error_setg(errp, "Parameter '%s' is unexpected", p);
            ok = FALSE;
            break;
        }
    }
    g_list_free(names);
    return ok;
}

QapiAltType qapi_json_alt_type(JsonNode *node)
{
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT:
        return QAPI_ALT_OBJECT;
    case JSON_NODE_ARRAY:
        return QAPI_ALT_ARRAY;
    case JSON_NODE_NULL:
        return QAPI_ALT_NULL;
    default:
        break;
    }
    GType t = json_node_get_value_type(node);
    if (t == G_TYPE_STRING) {
        return QAPI_ALT_STRING;
    }
    if (t == G_TYPE_BOOLEAN) {
        return QAPI_ALT_BOOLEAN;
    }
    return t == G_TYPE_DOUBLE ? QAPI_ALT_NUMBER : QAPI_ALT_INT;
}

JsonNode *qapi_json_string(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s ? s : "");
    return n;
}

JsonNode *qapi_json_bool(bool b)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_boolean(n, b);
    return n;
}

JsonNode *qapi_json_int(int64_t v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, v);
    return n;
}

JsonNode *qapi_json_uint(uint64_t v)
{
    JsonNode *n = qapi_json_int((int64_t)v);
    if (v > INT64_MAX) {
        json_node_seal(n);
    }
    return n;
}

JsonNode *qapi_json_double(double v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_double(n, v);
    return n;
}

JsonNode *qapi_json_object_node(JsonObject *obj)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, obj);
    return n;
}

static QapiEventEmitter event_emitter;

void qapi_event_set_emitter(QapiEventEmitter fn)
{
    event_emitter = fn;
}

void qapi_event_emit(const char *event, JsonObject *data)
{
    if (event_emitter) {
        event_emitter(event, data);
    }
}
