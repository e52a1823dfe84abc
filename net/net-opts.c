/* Netdev option lists; see include/net/net-opts.h. */
#include "net/net-opts.h"
#include "util/error.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct NetOpt {
    char *key;
    char *value;
    bool read;
} NetOpt;

struct NetOpts {
    GPtrArray *pairs; /* of NetOpt* */
};

static void net_opt_free(gpointer p)
{
    NetOpt *opt = p;

    g_free(opt->key);
    g_free(opt->value);
    g_free(opt);
}

NetOpts *net_opts_new(void)
{
    NetOpts *opts = g_new0(NetOpts, 1);

    opts->pairs = g_ptr_array_new_with_free_func(net_opt_free);
    return opts;
}

void net_opts_free(NetOpts *opts)
{
    if (opts) {
        g_ptr_array_free(opts->pairs, TRUE);
        g_free(opts);
    }
}

void net_opts_add(NetOpts *opts, const char *key, const char *value)
{
    NetOpt *opt = g_new0(NetOpt, 1);

    opt->key = g_strdup(key);
    opt->value = g_strdup(value);
    g_ptr_array_add(opts->pairs, opt);
}

NetOpts *net_opts_from_keyval(const KeyvalList *list)
{
    NetOpts *opts = net_opts_new();

    for (guint i = 0; i < list->pairs->len; i++) {
        const KeyvalPair *pair = g_ptr_array_index(list->pairs, i);

        net_opts_add(opts, pair->key, pair->value);
    }
    return opts;
}

static bool json_scalar_to_string(const char *key, JsonNode *node, char **out, GError **errp)
{
    if (JSON_NODE_HOLDS_VALUE(node)) {
        GType t = json_node_get_value_type(node);

        if (t == G_TYPE_STRING) {
            *out = g_strdup(json_node_get_string(node));
            return true;
        }
        if (t == G_TYPE_BOOLEAN) {
            *out = g_strdup(json_node_get_boolean(node) ? "on" : "off");
            return true;
        }
        if (t == G_TYPE_INT64) {
            *out = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
            return true;
        }
    }
    error_setg(errp, "Invalid parameter type for '%s', expected: string", key);
    return false;
}

NetOpts *net_opts_from_json(JsonObject *args, GError **errp)
{
    g_autoptr(NetOpts) opts = net_opts_new();
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        const char *key = l->data;
        JsonNode *node = json_object_get_member(args, key);

        if (JSON_NODE_HOLDS_ARRAY(node)) {
            JsonArray *array = json_node_get_array(node);

            for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonNode *elem = json_array_get_element(array, i);
                JsonNode *str = NULL;
                char *value;

                if (JSON_NODE_HOLDS_OBJECT(elem)) {
                    str = json_object_get_member(json_node_get_object(elem), "str");
                }
                if (!str) {
                    error_setg(errp, "Parameter '%s.str' is missing", key);
                    return NULL;
                }
                if (!json_scalar_to_string(key, str, &value, errp)) {
                    return NULL;
                }
                net_opts_add(opts, key, value);
                g_free(value);
            }
        } else {
            char *value;

            if (!json_scalar_to_string(key, node, &value, errp)) {
                return NULL;
            }
            net_opts_add(opts, key, value);
            g_free(value);
        }
    }
    return g_steal_pointer(&opts);
}

const char *net_opts_get(NetOpts *opts, const char *key)
{
    const char *value = NULL;

    for (guint i = 0; i < opts->pairs->len; i++) {
        NetOpt *opt = g_ptr_array_index(opts->pairs, i);

        if (!strcmp(opt->key, key)) {
            opt->read = true;
            value = opt->value;
        }
    }
    return value;
}

GPtrArray *net_opts_get_all(NetOpts *opts, const char *key)
{
    GPtrArray *values = g_ptr_array_new();

    for (guint i = 0; i < opts->pairs->len; i++) {
        NetOpt *opt = g_ptr_array_index(opts->pairs, i);

        if (!strcmp(opt->key, key)) {
            opt->read = true;
            g_ptr_array_add(values, opt->value);
        }
    }
    return values;
}

bool net_opts_has(NetOpts *opts, const char *key)
{
    for (guint i = 0; i < opts->pairs->len; i++) {
        NetOpt *opt = g_ptr_array_index(opts->pairs, i);

        if (!strcmp(opt->key, key)) {
            return true;
        }
    }
    return false;
}

bool net_opts_get_bool(NetOpts *opts, const char *key, bool def, bool *out, GError **errp)
{
    const char *value = net_opts_get(opts, key);

    if (!value) {
        *out = def;
        return true;
    }
    if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true") ||
        !strcmp(value, "y")) {
        *out = true;
        return true;
    }
    if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false") ||
        !strcmp(value, "n")) {
        *out = false;
        return true;
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
    return false;
}

bool net_opts_get_int(NetOpts *opts, const char *key, int64_t def, int64_t *out, GError **errp)
{
    const char *value = net_opts_get(opts, key);
    char *end;

    if (!value) {
        *out = def;
        return true;
    }
    errno = 0;
    *out = strtoll(value, &end, 0);
    if (errno || end == value || *end) {
        error_setg(errp, "Parameter '%s' expects a number", key);
        return false;
    }
    return true;
}

bool net_opts_check_all_read(NetOpts *opts, GError **errp)
{
    for (guint i = 0; i < opts->pairs->len; i++) {
        NetOpt *opt = g_ptr_array_index(opts->pairs, i);

        if (!opt->read) {
            error_setg(errp, "Invalid parameter '%s'", opt->key);
            return false;
        }
    }
    return true;
}

bool net_opts_read(NetOpts *opts, const NetOptDesc *table, size_t rows, void *out, GError **errp)
{
    for (size_t i = 0; i < rows; i++) {
        const NetOptDesc *d = &table[i];
        void *field = (char *)out + d->offset;

        switch (d->kind) {
        case NET_OPT_STR:
            *(const char **)field = net_opts_get(opts, d->key);
            break;
        case NET_OPT_BOOL:
            if (!net_opts_get_bool(opts, d->key, d->def, field, errp)) {
                return false;
            }
            break;
        case NET_OPT_INT:
            if (!net_opts_get_int(opts, d->key, d->def, field, errp)) {
                return false;
            }
            break;
        }
    }
    return net_opts_check_all_read(opts, errp);
}
