/* -object / object-add / object-del: creating user objects from options and deleting them. */
#include "qom/object.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

/* Newest last, so that deletion at exit can go newest first. */
static GPtrArray *creation_order;

static QomObject *objects_container(void)
{
    return qom_container_get("/objects");
}

/* A property source: either keyval strings or JSON members. */
typedef struct {
    KeyvalList *kv;
    JsonObject *json;
} PropSource;

static gboolean source_has(const PropSource *src, const char *name)
{
    return src->kv ? keyval_get(src->kv, name) != NULL : json_object_has_member(src->json, name);
}

static gboolean source_apply(QomObject *obj, const PropSource *src, const char *name, GError **errp)
{
    if (src->kv) {
        return qom_object_set_str(obj, name, keyval_get(src->kv, name), errp);
    }
    return qom_object_set_json(obj, name, json_object_get_member(src->json, name), errp);
}

static gboolean check_type(const char *type, GError **errp)
{
    if (!type) {
        error_set_missing_param(errp, "qom-type");
        return FALSE;
    }
    if (!qom_type_is_user_creatable(type)) {
        error_setg(errp, "Parameter 'qom-type' does not accept value '%s'", type);
        return FALSE;
    }
    return TRUE;
}

static gboolean check_id(const char *id, GError **errp)
{
    if (!id) {
        error_set_missing_param(errp, "id");
        return FALSE;
    }
    if (!id_wellformed(id)) {
        error_set_param_value(errp, "id", "an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, '-', '.', '_', "
                                "starting with a letter.");
        return FALSE;
    }
    return TRUE;
}

static QomObject *create(const char *type, const char *id, const PropSource *src, GError **errp)
{
    GType gtype = qom_type_lookup(type);
    g_autoptr(GPtrArray) props = qom_type_properties(type);
    QomObject *obj = g_object_new(gtype, NULL);

    /* Members in declaration order, as QEMU's visitor walks them: type errors and missing
     * required members are reported in that order, unknown members after. */
    for (guint i = 0; i < props->len; i++) {
        QomPropertyInfo *info = props->pdata[i];
        if (source_has(src, info->name)) {
            if (!source_apply(obj, src, info->name, errp)) {
                goto fail;
            }
        } else if (info->required) {
            error_set_missing_param(errp, info->name);
            goto fail;
        }
    }
    if (src->kv) {
        for (guint i = 0; i < src->kv->pairs->len; i++) {
            KeyvalPair *pair = g_ptr_array_index(src->kv->pairs, i);
            if (strcmp(pair->key, "qom-type") && strcmp(pair->key, "id") &&
                !qom_object_find_property(obj, pair->key)) {
                error_set_invalid_param(errp, pair->key);
                goto fail;
            }
        }
    } else {
        g_autoptr(GList) members = json_object_get_members(src->json);
        for (GList *m = members; m; m = m->next) {
            const char *key = m->data;
            if (strcmp(key, "qom-type") && strcmp(key, "id") &&
                !qom_object_find_property(obj, key)) {
                error_set_invalid_param(errp, key);
                goto fail;
            }
        }
    }
    if (qom_object_get_child(objects_container(), id)) {
        error_setg(errp, "Duplicate ID '%s' for object", id);
        goto fail;
    }
    QomObjectClass *klass = QOM_OBJECT_GET_CLASS(obj);
    if (!qom_object_add_child(objects_container(), id, obj, errp)) {
        goto fail;
    }
    if (klass->complete && !klass->complete(obj, errp)) {
        qom_object_unparent(obj);
        goto fail;
    }
    if (!creation_order) {
        creation_order = g_ptr_array_new_with_free_func(g_free);
    }
    g_ptr_array_add(creation_order, g_strdup(id));
    g_object_unref(obj); /* the container holds it now */
    return obj;
fail:
    g_object_unref(obj);
    return NULL;
}

QomObject *qom_user_create_keyval(KeyvalList *opts, gboolean *help_printed, GError **errp)
{
    const char *type = keyval_get(opts, "qom-type");
    if (help_printed) {
        *help_printed = FALSE;
    }
    if (opts->help) {
        const char *what = (type && strcmp(type, "help") && strcmp(type, "?")) ? type : NULL;
        g_autofree char *text = qom_user_help_text(what, errp);
        if (!text) {
            return NULL;
        }
        fputs(text, stdout);
        if (help_printed) {
            *help_printed = TRUE;
        }
        return NULL;
    }
    if (!check_type(type, errp) || !check_id(keyval_get(opts, "id"), errp)) {
        return NULL;
    }
    PropSource src = {.kv = opts};
    return create(type, keyval_get(opts, "id"), &src, errp);
}

QomObject *qom_user_create_json(JsonObject *args, GError **errp)
{
    JsonNode *type_node = json_object_get_member(args, "qom-type");
    JsonNode *id_node = json_object_get_member(args, "id");
    if (type_node && (!JSON_NODE_HOLDS_VALUE(type_node) ||
                      json_node_get_value_type(type_node) != G_TYPE_STRING)) {
        error_setg(errp, "Invalid parameter type for 'qom-type', expected: string");
        return NULL;
    }
    if (!check_type(type_node ? json_node_get_string(type_node) : NULL, errp)) {
        return NULL;
    }
    if (id_node &&
        (!JSON_NODE_HOLDS_VALUE(id_node) || json_node_get_value_type(id_node) != G_TYPE_STRING)) {
        error_setg(errp, "Invalid parameter type for 'id', expected: string");
        return NULL;
    }
    const char *id = id_node ? json_node_get_string(id_node) : NULL;
    if (!check_id(id, errp)) {
        return NULL;
    }
    PropSource src = {.json = args};
    return create(json_node_get_string(type_node), id, &src, errp);
}

char *qom_user_help_text(const char *type, GError **errp)
{
    GString *out = g_string_new(NULL);
    if (!type) {
        g_autoptr(GPtrArray) names = qom_type_names(TRUE, NULL, FALSE);
        g_string_append(out, "List of user creatable objects:\n");
        for (guint i = 0; i < names->len; i++) {
            g_string_append_printf(out, "  %s\n", (const char *)names->pdata[i]);
        }
        return g_string_free(out, FALSE);
    }
    if (!qom_type_is_user_creatable(type)) {
        g_string_free(out, TRUE);
        error_setg(errp, "Parameter 'qom-type' does not accept value '%s'", type);
        return NULL;
    }
    g_autoptr(GPtrArray) props = qom_type_properties(type);
    if (props->len == 0) {
        g_string_append_printf(out, "There are no options for %s.\n", type);
        return g_string_free(out, FALSE);
    }
    g_string_append_printf(out, "%s options:\n", type);
    for (guint i = 0; i < props->len; i++) {
        QomPropertyInfo *info = props->pdata[i];
        if (!info->writable) {
            continue;
        }
        GString *line = g_string_new(NULL);
        g_string_append_printf(line, "  %s=<%s>", info->name, info->type);
        if (info->description || info->default_value || info->required) {
            while (line->len < 24) {
                g_string_append_c(line, ' ');
            }
            g_string_append(line, " -");
            if (info->description) {
                g_string_append_printf(line, " %s", info->description);
            }
            if (info->required) {
                g_string_append(line, " (required)");
            } else if (info->default_value) {
                g_string_append_printf(line, " (default: %s)", info->default_value);
            }
        }
        g_string_append_printf(out, "%s\n", line->str);
        g_string_free(line, TRUE);
    }
    return g_string_free(out, FALSE);
}

QomObject *qom_user_find(const char *id, const char *type_name)
{
    QomObject *obj = qom_object_get_child(objects_container(), id);
    if (!obj || !type_name) {
        return obj;
    }
    GType t = qom_type_lookup(type_name);
    return (t && g_type_is_a(G_OBJECT_TYPE(obj), t)) ? obj : NULL;
}

gboolean qom_user_delete(const char *id, GError **errp)
{
    QomObject *obj = qom_object_get_child(objects_container(), id);
    if (!obj) {
        error_setg(errp, "object '%s' not found", id);
        return FALSE;
    }
    QomObjectClass *klass = QOM_OBJECT_GET_CLASS(obj);
    if (klass->can_be_deleted && !klass->can_be_deleted(obj, errp)) {
        return FALSE;
    }
    qom_object_unparent(obj);
    if (creation_order) {
        for (guint i = 0; i < creation_order->len; i++) {
            if (strcmp(creation_order->pdata[i], id) == 0) {
                g_ptr_array_remove_index(creation_order, i);
                break;
            }
        }
    }
    return TRUE;
}

void qom_user_delete_all(void)
{
    while (creation_order && creation_order->len) {
        g_autofree char *id = g_strdup(creation_order->pdata[creation_order->len - 1]);
        g_ptr_array_remove_index(creation_order, creation_order->len - 1);
        QomObject *obj = qom_object_get_child(objects_container(), id);
        if (obj) {
            qom_object_unparent(obj);
        }
    }
}
