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

/* strtoull as QOM's integer parsers take it: any base, no sign, nothing after. */
static bool parse_u64(const char *value, guint64 *out)
{
    char *end;
    errno = 0;
    *out = g_ascii_strtoull(value, &end, 0);
    return *value && !*end && !errno && value[0] != '-';
}

bool qdev_prop_bool(GHashTable *props, const char *name, bool def)
{
    const char *v = props ? g_hash_table_lookup(props, name) : NULL;
    gboolean b;
    return v && keyval_parse_bool(name, v, &b, NULL) ? b : def;
}

uint32_t qdev_parse_u32(const char *str)
{
    guint64 v = 0;
    parse_u64(str, &v);
    return (uint32_t)v;
}

/*
 * Checks value for p of type t. A -global's value goes through another parser upstream than a
 * -device's, which words some errors differently (from_global).
 */
static bool check_value(const DeviceTypeInfo *t, const DevicePropInfo *p, const char *value,
                        bool from_global, GError **errp)
{
    gboolean b;
    uint8_t mac[6];
    int devfn;
    guint64 v;
    bool ok = true;
    switch (p->kind) {
    case DEV_PROP_BOOL:
        return keyval_parse_bool(p->name, value, &b, errp); /* upstream's bool wording */
    case DEV_PROP_UINT32:
        ok = parse_u64(value, &v) && v <= UINT32_MAX;
        break;
    case DEV_PROP_INT_U32: {
        char *end;
        (void)g_ascii_strtoll(value, &end, 0);
        bool negative = value[0] == '-' && value[1] && !*end;
        if (!negative && !parse_u64(value, &v)) {
            error_setg(errp, "Parameter '%s' expects %s", p->name,
                       from_global ? "uint64" : "integer");
            return false;
        }
        if (negative || v > UINT32_MAX) {
            error_setg(errp, "Parameter '%s' expects uint32_t", p->name);
            return false;
        }
        return true;
    }
    case DEV_PROP_INT32: {
        char *end;
        errno = 0;
        gint64 n = g_ascii_strtoll(value, &end, 0);
        if (!value[0] || *end || g_ascii_isspace(value[0])) {
            error_setg(errp, "Parameter '%s' expects integer", p->name);
            return false;
        }
        if (errno || n < G_MININT32 || n > G_MAXINT32) {
            error_setg(errp, "Parameter '%s' expects int32_t", p->name);
            return false;
        }
        return true;
    }
    case DEV_PROP_MACADDR:
        ok = qdev_parse_mac(value, mac);
        break;
    case DEV_PROP_PCI_DEVFN:
        ok = qdev_parse_devfn(value, &devfn);
        break;
    default:
        break;
    }
    if (!ok) {
        error_setg(errp, "Property '%s.%s' doesn't take value '%s'", p->owner ? p->owner : t->name,
                   p->name, value);
    }
    return ok;
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
    case DEV_PROP_INT_U32:
        return "uint32";
    case DEV_PROP_MACADDR:
        return "str";
    case DEV_PROP_PCI_DEVFN:
    case DEV_PROP_INT32:
        return "int32";
    default:
        return "str";
    }
}

/* -device help lists categories in upstream's order, not alphabetically. */
static int category_rank(const char *category)
{
    static const char *const order[] = {
        "Controller/Bridge/Hub devices",
        "USB devices",
        "Storage devices",
        "Network devices",
        "Input devices",
        "Display devices",
        "Sound devices",
        "Misc devices",
        "CPU devices",
        "Watchdog devices",
    };
    for (size_t i = 0; category && i < G_N_ELEMENTS(order); i++) {
        if (!strcmp(order[i], category)) {
            return (int)i;
        }
    }
    return (int)G_N_ELEMENTS(order); /* Uncategorized devices */
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    const DeviceTypeInfo *x = *(const DeviceTypeInfo *const *)a;
    const DeviceTypeInfo *y = *(const DeviceTypeInfo *const *)b;
    int c = category_rank(x->category) - category_rank(y->category);
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
    if (!t->props || !t->props->name) {
        g_string_append_printf(s, "There are no options for %s.\n", t->name);
        return g_string_free(s, FALSE);
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
                g_string_append_printf(s, " (default: %s)", p->default_str);
            }
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

/* --- -global ------------------------------------------------------------------------- */

typedef struct GlobalProp {
    char *driver, *property, *value;
    bool used;
} GlobalProp;

static GPtrArray *globals; /* of GlobalProp, in command-line order */

static void global_prop_free(gpointer data)
{
    GlobalProp *g = data;
    g_free(g->driver);
    g_free(g->property);
    g_free(g->value);
    g_free(g);
}

static void global_push(const char *driver, const char *property, const char *value)
{
    if (!globals) {
        globals = g_ptr_array_new_with_free_func(global_prop_free);
    }
    GlobalProp *g = g_new0(GlobalProp, 1);
    g->driver = g_strdup(driver);
    g->property = g_strdup(property);
    g->value = g_strdup(value);
    g_ptr_array_add(globals, g);
}

/* The short form, as upstream's sscanf("%63[^.=].%63[^=]%n") reads it. */
static bool global_short_form(const char *arg)
{
    size_t dlen = strcspn(arg, ".=");
    if (dlen == 0 || dlen > 63 || arg[dlen] != '.') {
        return false;
    }
    const char *prop = arg + dlen + 1;
    size_t plen = strcspn(prop, "=");
    if (plen == 0 || prop[plen] != '=') {
        return false;
    }
    /* longer names are cut at 63 characters, and then the '=' is not where it must be */
    if (plen > 63) {
        return false;
    }
    g_autofree char *driver = g_strndup(arg, dlen);
    g_autofree char *property = g_strndup(prop, plen);
    global_push(driver, property, prop + plen + 1);
    return true;
}

bool qdev_global_add(const char *arg, GError **errp)
{
    if (global_short_form(arg)) {
        return true;
    }
    g_autoptr(KeyvalList) kv = keyval_parse(arg, NULL, KEYVAL_OPTS, errp);
    if (!kv) {
        return false;
    }
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        if (strcmp(p->key, "driver") && strcmp(p->key, "property") && strcmp(p->key, "value")) {
            error_set_invalid_param(errp, p->key);
            return false;
        }
    }
    const char *driver = keyval_get(kv, "driver");
    const char *property = keyval_get(kv, "property");
    const char *value = keyval_get(kv, "value");
    if (!driver || !property || !value) {
        error_setg(errp, "options 'driver', 'property', and 'value' are required");
        return false;
    }
    global_push(driver, property, value);
    return true;
}

void qdev_globals_check(void)
{
    for (guint i = 0; globals && i < globals->len; i++) {
        GlobalProp *g = g_ptr_array_index(globals, i);
        /* upstream's devices are hotpluggable, so an unused global is not worth a word */
        if (!g->used && !device_type_find(g->driver)) {
            warn_report("global %s.%s has invalid class name", g->driver, g->property);
        }
    }
}

void qdev_globals_clear(void)
{
    if (globals) {
        g_ptr_array_free(globals, TRUE);
        globals = NULL;
    }
}

bool device_apply_globals(const DeviceTypeInfo *t, GHashTable *props, GError **errp)
{
    for (guint i = 0; globals && i < globals->len; i++) {
        GlobalProp *g = g_ptr_array_index(globals, i);
        if (strcmp(g->driver, t->name)) {
            continue;
        }
        g->used = true;
        const DevicePropInfo *p = find_prop(t, g->property);
        GError *err = NULL;
        if (!p) {
            error_setg(&err, "Property '%s.%s' not found", t->name, g->property);
        } else if (check_value(t, p, g->value, true, &err)) {
            g_hash_table_insert(props, (gpointer)p->name, g->value);
            continue;
        }
        error_setg(errp, "can't apply global %s.%s=%s: %s", g->driver, g->property, g->value,
                   err->message);
        g_error_free(err);
        return false;
    }
    return true;
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
    if (!device_apply_globals(t, props, errp)) {
        return false;
    }
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
        if (!check_value(t, p, kv->value, false, errp)) {
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
