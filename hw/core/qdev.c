/* -device type registry, property checking and creation (include/hw/core/qdev.h). */
#include "hw/core/qdev.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GPtrArray *types; /* of const DeviceTypeInfo* */
static GHashTable *ids;  /* device ids in use */

void device_type_register(const DeviceTypeInfo *info)
{
    if (!types) {
        types = g_ptr_array_new();
    }
    if (!device_type_find(info->name)) {
        g_ptr_array_add(types, (gpointer)info);
    }
}

const DeviceTypeInfo *device_type_find(const char *name)
{
    for (guint i = 0; types && i < types->len; i++) {
        const DeviceTypeInfo *t = g_ptr_array_index(types, i);
        if (!strcmp(t->name, name)) {
            return t;
        }
    }
    return NULL;
}

void device_types_clear(void)
{
    if (types) {
        g_ptr_array_free(types, TRUE);
        types = NULL;
    }
    if (ids) {
        g_hash_table_destroy(ids);
        ids = NULL;
    }
}

bool device_id_in_use(const char *id)
{
    return ids && g_hash_table_contains(ids, id);
}

bool qdev_parse_mac(const char *str, uint8_t mac[6])
{
    if (strlen(str) != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        const char *p = str + 3 * i;
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) || (i < 5 && p[2] != ':')) {
            return false;
        }
        mac[i] = g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]);
    }
    return true;
}

bool qdev_parse_devfn(const char *str, int *devfn)
{
    char *end;
    unsigned long slot = strtoul(str, &end, 16);
    unsigned long fn = 0;
    if (end == str || slot > 31) {
        return false;
    }
    if (*end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 16);
        if (end == f || fn > 7) {
            return false;
        }
    }
    if (*end) {
        return false;
    }
    *devfn = (int)(slot << 3 | fn);
    return true;
}

static bool check_value(const DevicePropInfo *p, const char *value)
{
    gboolean b;
    uint8_t mac[6];
    int devfn;
    char *end;
    switch (p->kind) {
    case DEV_PROP_BOOL:
        return keyval_parse_bool(p->name, value, &b, NULL);
    case DEV_PROP_UINT32: {
        errno = 0;
        unsigned long long v = strtoull(value, &end, 0);
        return *value && !*end && !errno && v <= UINT32_MAX && value[0] != '-';
    }
    case DEV_PROP_MACADDR:
        return qdev_parse_mac(value, mac);
    case DEV_PROP_PCI_DEVFN:
        return qdev_parse_devfn(value, &devfn);
    default:
        return true;
    }
}

static const DevicePropInfo *find_prop(const DeviceTypeInfo *t, const char *name)
{
    for (const DevicePropInfo *p = t->props; p && p->name; p++) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

static const char *kind_name(DevicePropKind k)
{
    switch (k) {
    case DEV_PROP_BOOL:
        return "bool";
    case DEV_PROP_UINT32:
        return "uint32";
    case DEV_PROP_MACADDR:
        return "str";
    case DEV_PROP_PCI_DEVFN:
        return "int32";
    default:
        return "str";
    }
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    const DeviceTypeInfo *x = *(const DeviceTypeInfo *const *)a;
    const DeviceTypeInfo *y = *(const DeviceTypeInfo *const *)b;
    int c = g_strcmp0(x->category, y->category);
    return c ? c : strcmp(x->name, y->name);
}

static gint prop_by_name(gconstpointer a, gconstpointer b)
{
    const DevicePropInfo *x = *(const DevicePropInfo *const *)a;
    const DevicePropInfo *y = *(const DevicePropInfo *const *)b;
    return strcmp(x->name, y->name);
}

char *device_help_text(const char *type, GError **errp)
{
    GString *s = g_string_new(NULL);
    if (!type) {
        g_autoptr(GPtrArray) sorted = g_ptr_array_new();
        for (guint i = 0; types && i < types->len; i++) {
            g_ptr_array_add(sorted, g_ptr_array_index(types, i));
        }
        g_ptr_array_sort(sorted, by_name);
        const char *cat = NULL;
        for (guint i = 0; i < sorted->len; i++) {
            const DeviceTypeInfo *t = g_ptr_array_index(sorted, i);
            if (g_strcmp0(cat, t->category)) {
                g_string_append_printf(s, "%s%s:\n", cat ? "\n" : "",
                                       t->category ? t->category : "Uncategorized devices");
                cat = t->category;
            }
            g_string_append_printf(s, "name \"%s\"", t->name);
            if (t->bus) {
                g_string_append_printf(s, ", bus %s", t->bus);
            }
            if (t->desc) {
                g_string_append_printf(s, ", desc \"%s\"", t->desc);
            }
            g_string_append_c(s, '\n');
        }
        return g_string_free(s, FALSE);
    }
    const DeviceTypeInfo *t = device_type_find(type);
    if (!t) {
        g_string_free(s, TRUE);
        error_setg(errp, "'%s' is not a valid device model name", type);
        return NULL;
    }
    g_string_append_printf(s, "%s options:\n", t->name);
    g_autoptr(GPtrArray) props = g_ptr_array_new();
    for (const DevicePropInfo *p = t->props; p && p->name; p++) {
        g_ptr_array_add(props, (gpointer)p);
    }
    g_ptr_array_sort(props, prop_by_name);
    for (guint i = 0; i < props->len; i++) {
        const DevicePropInfo *p = g_ptr_array_index(props, i);
        g_autofree char *left = g_strdup_printf("%s=<%s>", p->name, kind_name(p->kind));
        g_string_append_printf(s, "  %-22s", left);
        if (p->help || p->default_str) {
            g_string_append_printf(s, " - %s", p->help ? p->help : "");
            if (p->default_str) {
                g_string_append_printf(s, "%s(default: %s)", p->help ? " " : "", p->default_str);
            }
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

bool device_create_from_opts(void *machine, KeyvalList *opts, bool *help_printed, GError **errp)
{
    const char *driver = keyval_get(opts, "driver");
    *help_printed = false;
    if (!driver) {
        if (opts->help) {
            g_autofree char *txt = device_help_text(NULL, NULL);
            fputs(txt, stdout);
            *help_printed = true;
            return true;
        }
        error_set_missing_param(errp, "driver");
        return false;
    }
    if (!strcmp(driver, "help") || !strcmp(driver, "?")) {
        g_autofree char *txt = device_help_text(NULL, NULL);
        fputs(txt, stdout);
        *help_printed = true;
        return true;
    }
    const DeviceTypeInfo *t = device_type_find(driver);
    if (!t) {
        error_setg(errp, "'%s' is not a valid device model name", driver);
        return false;
    }
    if (opts->help) {
        g_autofree char *txt = device_help_text(driver, errp);
        fputs(txt, stdout);
        *help_printed = true;
        return true;
    }
    const char *id = keyval_get(opts, "id");
    if (id && !id_wellformed(id)) {
        error_set_param_value(errp, "id", "an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, '-', '.', '_', "
                                "starting with a letter.\n");
        return false;
    }
    if (id && device_id_in_use(id)) {
        error_setg(errp, "Duplicate ID '%s' for device", id);
        return false;
    }
    g_autoptr(GHashTable) props = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(opts->pairs, i);
        if (!strcmp(kv->key, "driver") || !strcmp(kv->key, "id")) {
            continue;
        }
        const DevicePropInfo *p = find_prop(t, kv->key);
        if (!p) {
            error_setg(errp, "Property '%s.%s' not found", t->name, kv->key);
            return false;
        }
        if (!check_value(p, kv->value)) {
            error_setg(errp, "Property '%s.%s' doesn't take value '%s'",
                       p->owner ? p->owner : t->name, p->name, kv->value);
            return false;
        }
        g_hash_table_insert(props, (gpointer)p->name, kv->value);
    }
    if (!t->create(machine, id, props, errp)) {
        return false;
    }
    if (id) {
        if (!ids) {
            ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        }
        g_hash_table_add(ids, g_strdup(id));
    }
    return true;
}
