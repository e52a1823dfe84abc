/* The object tree, the type registry and typed property access over GObject properties. */
#include "qom/object.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

typedef struct {
    char *name;
    char *parent_name;
    GType gtype;
    gboolean user_creatable;
} TypeEntry;

typedef struct {
    char *qom_type;
    gboolean required;
    guint order;
} PropMeta;

typedef struct {
    char *name;
    QomObject *parent;    /* weak: the parent owns us */
    GHashTable *children; /* name -> QomObject* (strong) */
    guint use_count;
} QomObjectPrivate;

G_DEFINE_TYPE_WITH_PRIVATE(QomObject, qom_object, G_TYPE_OBJECT)

static GHashTable *types_by_name;  /* name -> TypeEntry* */
static GHashTable *types_by_gtype; /* GType -> TypeEntry* */
static GHashTable *class_props;    /* GType -> GPtrArray of GParamSpec* in declaration order */
static GQuark prop_meta_quark;
static QomObject *root_object;

static gboolean default_can_be_deleted(QomObject *obj, GError **errp)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    if (priv->use_count > 0) {
        error_setg(errp, "object '%s' is in use, can not be deleted", priv->name ? priv->name : "");
        return FALSE;
    }
    return TRUE;
}

static void qom_object_dispose(GObject *gobj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(QOM_OBJECT(gobj));
    if (priv->children) {
        /* Children go newest-last; order does not matter for containers. */
        GHashTable *children = g_steal_pointer(&priv->children);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, children);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            QomObject *child = value;
            QomObjectPrivate *cpriv = qom_object_get_instance_private(child);
            QomObjectClass *klass = QOM_OBJECT_GET_CLASS(child);
            if (klass->unparent) {
                klass->unparent(child);
            }
            cpriv->parent = NULL;
        }
        g_hash_table_unref(children);
    }
    G_OBJECT_CLASS(qom_object_parent_class)->dispose(gobj);
}

static void qom_object_finalize(GObject *gobj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(QOM_OBJECT(gobj));
    g_free(priv->name);
    G_OBJECT_CLASS(qom_object_parent_class)->finalize(gobj);
}

static void qom_object_class_init(QomObjectClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = qom_object_dispose;
    G_OBJECT_CLASS(klass)->finalize = qom_object_finalize;
    klass->can_be_deleted = default_can_be_deleted;
}

static void qom_object_init(QomObject *obj)
{
}

/* ---- types ---- */

static void ensure_tables(void)
{
    if (!types_by_name) {
        types_by_name = g_hash_table_new(g_str_hash, g_str_equal);
        types_by_gtype = g_hash_table_new(g_direct_hash, g_direct_equal);
        class_props = g_hash_table_new(g_direct_hash, g_direct_equal);
        prop_meta_quark = g_quark_from_static_string("qom-prop-meta");
    }
}

/* The "container" type: a plain node of the tree. */
static GType container_get_type(void)
{
    static gsize type;
    if (g_once_init_enter(&type)) {
        GType t =
            g_type_register_static_simple(QOM_TYPE_OBJECT, "QomContainer", sizeof(QomObjectClass),
                                          NULL, sizeof(QomObject), NULL, 0);
        g_once_init_leave(&type, t);
    }
    return type;
}

void qom_register_type(const char *name, GType gtype, const char *parent_name,
                       gboolean user_creatable)
{
    ensure_tables();
    if (g_hash_table_lookup(types_by_name, name)) {
        return;
    }
    TypeEntry *entry = g_new0(TypeEntry, 1);
    entry->name = g_strdup(name);
    entry->parent_name = g_strdup(parent_name);
    entry->gtype = gtype;
    entry->user_creatable = user_creatable;
    g_hash_table_insert(types_by_name, entry->name, entry);
    g_hash_table_insert(types_by_gtype, GSIZE_TO_POINTER(gtype), entry);
}

static void register_builtin_types(void)
{
    ensure_tables();
    if (!g_hash_table_lookup(types_by_name, "container")) {
        qom_register_type("container", container_get_type(), NULL, FALSE);
    }
}

GType qom_type_lookup(const char *name)
{
    register_builtin_types();
    TypeEntry *entry = g_hash_table_lookup(types_by_name, name);
    return entry ? entry->gtype : G_TYPE_INVALID;
}

static TypeEntry *entry_for_gtype(GType gtype)
{
    ensure_tables();
    for (GType t = gtype; t && t != G_TYPE_OBJECT; t = g_type_parent(t)) {
        TypeEntry *entry = g_hash_table_lookup(types_by_gtype, GSIZE_TO_POINTER(t));
        if (entry) {
            return entry;
        }
    }
    return NULL;
}

const char *qom_object_type_name(QomObject *obj)
{
    TypeEntry *entry = entry_for_gtype(G_OBJECT_TYPE(obj));
    return entry ? entry->name : "object";
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *qom_type_names(gboolean user_creatable_only, const char *implements, gboolean abstract)
{
    register_builtin_types();
    GPtrArray *names = g_ptr_array_new();
    GType base = implements ? qom_type_lookup(implements) : G_TYPE_INVALID;
    if (implements && !base) {
        return names;
    }
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, types_by_name);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        TypeEntry *entry = value;
        if (user_creatable_only && !entry->user_creatable) {
            continue;
        }
        if (!abstract && G_TYPE_IS_ABSTRACT(entry->gtype)) {
            continue;
        }
        if (base && !g_type_is_a(entry->gtype, base)) {
            continue;
        }
        g_ptr_array_add(names, entry->name);
    }
    g_ptr_array_sort(names, compare_strings);
    return names;
}

const char *qom_type_parent_name(const char *name)
{
    register_builtin_types();
    TypeEntry *entry = g_hash_table_lookup(types_by_name, name);
    return entry && entry->parent_name ? entry->parent_name : NULL;
}

gboolean qom_type_is_abstract(const char *name)
{
    GType t = qom_type_lookup(name);
    return t && G_TYPE_IS_ABSTRACT(t);
}

gboolean qom_type_is_user_creatable(const char *name)
{
    register_builtin_types();
    TypeEntry *entry = g_hash_table_lookup(types_by_name, name);
    return entry && entry->user_creatable && !G_TYPE_IS_ABSTRACT(entry->gtype);
}

/* ---- properties ---- */

static void prop_meta_free(gpointer p)
{
    PropMeta *meta = p;
    g_free(meta->qom_type);
    g_free(meta);
}

static const char *derive_qom_type(GParamSpec *pspec)
{
    GType vt = G_PARAM_SPEC_VALUE_TYPE(pspec);
    switch (G_TYPE_FUNDAMENTAL(vt)) {
    case G_TYPE_STRING:
        return "string";
    case G_TYPE_BOOLEAN:
        return "bool";
    case G_TYPE_INT:
        return "int32";
    case G_TYPE_UINT:
        return "uint32";
    case G_TYPE_INT64:
        return "int";
    case G_TYPE_UINT64:
        return "uint64";
    case G_TYPE_DOUBLE:
        return "number";
    case G_TYPE_ENUM:
        return g_type_name(vt);
    default:
        return "any";
    }
}

void qom_class_install_property(GObjectClass *klass, guint prop_id, GParamSpec *pspec,
                                const char *qom_type, gboolean required)
{
    ensure_tables();
    GType gtype = G_OBJECT_CLASS_TYPE(klass);
    GPtrArray *list = g_hash_table_lookup(class_props, GSIZE_TO_POINTER(gtype));
    if (!list) {
        list = g_ptr_array_new();
        g_hash_table_insert(class_props, GSIZE_TO_POINTER(gtype), list);
    }
    PropMeta *meta = g_new0(PropMeta, 1);
    meta->qom_type = g_strdup(qom_type ? qom_type : derive_qom_type(pspec));
    meta->required = required;
    meta->order = list->len;
    g_param_spec_set_qdata_full(pspec, prop_meta_quark, meta, prop_meta_free);
    g_object_class_install_property(klass, prop_id, pspec);
    g_ptr_array_add(list, pspec);
}

static PropMeta *meta_of(GParamSpec *pspec)
{
    return g_param_spec_get_qdata(pspec, prop_meta_quark);
}

static const char *qemu_name_of(GParamSpec *pspec)
{
    return g_param_spec_get_nick(pspec);
}

/* Properties of @gtype and its ancestors in declaration order, base first. */
static GPtrArray *collect_pspecs(GType gtype)
{
    ensure_tables();
    GPtrArray *chain = g_ptr_array_new();
    for (GType t = gtype; t && t != G_TYPE_OBJECT; t = g_type_parent(t)) {
        g_ptr_array_insert(chain, 0, GSIZE_TO_POINTER(t));
    }
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < chain->len; i++) {
        GPtrArray *list = g_hash_table_lookup(class_props, chain->pdata[i]);
        for (guint j = 0; list && j < list->len; j++) {
            g_ptr_array_add(out, list->pdata[j]);
        }
    }
    g_ptr_array_unref(chain);
    return out;
}

static char *default_string(GParamSpec *pspec)
{
    const GValue *def = g_param_spec_get_default_value(pspec);
    GType vt = G_PARAM_SPEC_VALUE_TYPE(pspec);
    switch (G_TYPE_FUNDAMENTAL(vt)) {
    case G_TYPE_STRING:
        return g_value_get_string(def) ? g_strdup(g_value_get_string(def)) : NULL;
    case G_TYPE_BOOLEAN:
        return g_strdup(g_value_get_boolean(def) ? "true" : "false");
    case G_TYPE_INT:
        return g_strdup_printf("%d", g_value_get_int(def));
    case G_TYPE_UINT:
        return g_strdup_printf("%u", g_value_get_uint(def));
    case G_TYPE_INT64:
        return g_strdup_printf("%" G_GINT64_FORMAT, g_value_get_int64(def));
    case G_TYPE_UINT64:
        return g_strdup_printf("%" G_GUINT64_FORMAT, g_value_get_uint64(def));
    case G_TYPE_ENUM: {
        GEnumClass *ec = g_type_class_ref(vt);
        GEnumValue *ev = g_enum_get_value(ec, g_value_get_enum(def));
        char *s = ev ? g_strdup(ev->value_nick) : NULL;
        g_type_class_unref(ec);
        return s;
    }
    default:
        return NULL;
    }
}

GPtrArray *qom_type_properties(const char *name)
{
    GType gtype = qom_type_lookup(name);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)qom_property_info_free);
    if (!gtype) {
        return out;
    }
    g_type_class_unref(g_type_class_ref(gtype)); /* make sure class_init ran */
    GPtrArray *pspecs = collect_pspecs(gtype);
    for (guint i = 0; i < pspecs->len; i++) {
        GParamSpec *pspec = pspecs->pdata[i];
        PropMeta *meta = meta_of(pspec);
        QomPropertyInfo *info = g_new0(QomPropertyInfo, 1);
        info->name = qemu_name_of(pspec);
        info->type = meta->qom_type;
        info->description = g_param_spec_get_blurb(pspec);
        if (info->description && !info->description[0]) {
            info->description = NULL;
        }
        info->required = meta->required;
        info->readable = (pspec->flags & G_PARAM_READABLE) != 0;
        info->writable = (pspec->flags & G_PARAM_WRITABLE) != 0;
        info->default_value = default_string(pspec);
        info->pspec = pspec;
        g_ptr_array_add(out, info);
    }
    g_ptr_array_unref(pspecs);
    return out;
}

void qom_property_info_free(QomPropertyInfo *info)
{
    if (info) {
        g_free(info->default_value);
        g_free(info);
    }
}

GParamSpec *qom_object_find_property(QomObject *obj, const char *name)
{
    GPtrArray *pspecs = collect_pspecs(G_OBJECT_TYPE(obj));
    GParamSpec *found = NULL;
    for (guint i = 0; i < pspecs->len && !found; i++) {
        if (strcmp(qemu_name_of(pspecs->pdata[i]), name) == 0) {
            found = pspecs->pdata[i];
        }
    }
    g_ptr_array_unref(pspecs);
    return found;
}

static gboolean parse_u64(const char *s, guint64 *out)
{
    if (!*s || *s == '-' || g_ascii_isspace(*s)) {
        return FALSE;
    }
    char *end;
    errno = 0;
    guint64 v = g_ascii_strtoull(s, &end, 0);
    if (errno || *end) {
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean parse_i64(const char *s, gint64 *out)
{
    if (!*s || g_ascii_isspace(*s)) {
        return FALSE;
    }
    char *end;
    errno = 0;
    gint64 v = g_ascii_strtoll(s, &end, 0);
    if (errno || *end) {
        return FALSE;
    }
    *out = v;
    return TRUE;
}

/*
 * Stores an integer into @value (of type int, uint, int64 or uint64) with QEMU's range errors.
 * @is_signed tells which of @sval/@uval holds the number as it was written.
 */
static gboolean set_integer(GValue *value, const char *name, gboolean is_signed, gint64 sval,
                            guint64 uval, GError **errp)
{
    switch (G_TYPE_FUNDAMENTAL(G_VALUE_TYPE(value))) {
    case G_TYPE_UINT:
        if ((is_signed && sval < 0) || uval > G_MAXUINT32) {
            error_set_param_value(errp, name, "uint32_t");
            return FALSE;
        }
        g_value_set_uint(value, (guint)uval);
        return TRUE;
    case G_TYPE_UINT64:
        if (is_signed && sval < 0) {
            error_set_param_value(errp, name, "uint64_t");
            return FALSE;
        }
        g_value_set_uint64(value, uval);
        return TRUE;
    case G_TYPE_INT:
        if ((!is_signed && uval > G_MAXINT32) || sval < G_MININT32 || sval > G_MAXINT32) {
            error_set_param_value(errp, name, "int32_t");
            return FALSE;
        }
        g_value_set_int(value, (gint)sval);
        return TRUE;
    default:
        if (!is_signed && uval > G_MAXINT64) {
            error_set_param_value(errp, name, "int64_t");
            return FALSE;
        }
        g_value_set_int64(value, sval);
        return TRUE;
    }
}

/* Converts the keyval string form into @value (initialised to the property's type). */
static gboolean value_from_string(GParamSpec *pspec, const char *name, const char *str,
                                  GValue *value, GError **errp)
{
    GType vt = G_PARAM_SPEC_VALUE_TYPE(pspec);
    guint64 u;
    gint64 i;
    switch (G_TYPE_FUNDAMENTAL(vt)) {
    case G_TYPE_STRING:
        g_value_set_string(value, str);
        return TRUE;
    case G_TYPE_BOOLEAN: {
        gboolean b;
        if (!keyval_parse_bool(name, str, &b, errp)) {
            return FALSE;
        }
        g_value_set_boolean(value, b);
        return TRUE;
    }
    case G_TYPE_UINT:
    case G_TYPE_UINT64:
        if (!parse_u64(str, &u)) {
            error_set_param_value(errp, name, "a uint64 value");
            return FALSE;
        }
        return set_integer(value, name, FALSE, (gint64)u, u, errp);
    case G_TYPE_INT:
    case G_TYPE_INT64:
        if (!parse_i64(str, &i)) {
            error_set_param_value(errp, name, "an int64 value");
            return FALSE;
        }
        return set_integer(value, name, TRUE, i, (guint64)i, errp);
    case G_TYPE_ENUM: {
        GEnumClass *ec = g_type_class_ref(vt);
        GEnumValue *ev = g_enum_get_value_by_nick(ec, str);
        if (ev) {
            g_value_set_enum(value, ev->value);
        }
        g_type_class_unref(ec);
        if (!ev) {
            error_setg(errp, "Parameter '%s' does not accept value '%s'", name, str);
            return FALSE;
        }
        return TRUE;
    }
    default:
        error_setg(errp, "Property '%s' cannot be set from a string", name);
        return FALSE;
    }
}

/* Checks a GParamSpec's own range (GObject would only warn and clamp). */
static gboolean value_validate(GParamSpec *pspec, const char *name, GValue *value, GError **errp)
{
    GValue copy = G_VALUE_INIT;
    g_value_init(&copy, G_VALUE_TYPE(value));
    g_value_copy(value, &copy);
    gboolean changed = g_param_value_validate(pspec, &copy);
    g_value_unset(&copy);
    if (changed) {
        g_autofree char *contents = g_strdup_value_contents(value);
        error_setg(errp, "Parameter '%s' does not accept value %s", name, contents);
        return FALSE;
    }
    return TRUE;
}

static gboolean set_gvalue(QomObject *obj, GParamSpec *pspec, const char *name, GValue *value,
                           GError **errp)
{
    if (!(pspec->flags & G_PARAM_WRITABLE)) {
        error_setg(errp, "Property '%s' is read-only", name);
        return FALSE;
    }
    if (!value_validate(pspec, name, value, errp)) {
        return FALSE;
    }
    /* Setters report semantic errors through this side channel (GObject setters cannot fail). */
    qom_object_clear_set_error(obj);
    g_object_set_property(G_OBJECT(obj), pspec->name, value);
    GError *err = qom_object_take_set_error(obj);
    if (err) {
        g_propagate_error(errp, err);
        return FALSE;
    }
    return TRUE;
}

/* The property spelt @name, or NULL with QEMU's "not found" error. */
static GParamSpec *find_or_error(QomObject *obj, const char *name, GError **errp)
{
    GParamSpec *pspec = qom_object_find_property(obj, name);
    if (!pspec) {
        error_setg(errp, "Property '%s.%s' not found", qom_object_type_name(obj), name);
    }
    return pspec;
}

/* Converts @source (a string or a JsonNode) into @value, or fails with a QEMU-worded error. */
typedef gboolean (*ValueConverter)(GParamSpec *pspec, const char *name, gconstpointer source,
                                   GValue *value, GError **errp);

static gboolean set_converted(QomObject *obj, const char *name, ValueConverter convert,
                              gconstpointer source, GError **errp)
{
    GParamSpec *pspec = find_or_error(obj, name, errp);
    if (!pspec) {
        return FALSE;
    }
    GValue value = G_VALUE_INIT;
    g_value_init(&value, G_PARAM_SPEC_VALUE_TYPE(pspec));
    gboolean ok =
        convert(pspec, name, source, &value, errp) && set_gvalue(obj, pspec, name, &value, errp);
    g_value_unset(&value);
    return ok;
}

static gboolean convert_string(GParamSpec *pspec, const char *name, gconstpointer source,
                               GValue *value, GError **errp)
{
    return value_from_string(pspec, name, source, value, errp);
}

gboolean qom_object_set_str(QomObject *obj, const char *name, const char *str, GError **errp)
{
    return set_converted(obj, name, convert_string, str, errp);
}

static gboolean value_from_json(GParamSpec *pspec, const char *name, JsonNode *node, GValue *value,
                                GError **errp)
{
    GType vt = G_PARAM_SPEC_VALUE_TYPE(pspec);
    GType fund = G_TYPE_FUNDAMENTAL(vt);
    GType jt = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;
    const char *expected;

    switch (fund) {
    case G_TYPE_STRING:
        expected = "string";
        if (jt != G_TYPE_STRING) {
            goto type_error;
        }
        g_value_set_string(value, json_node_get_string(node));
        return TRUE;
    case G_TYPE_ENUM: {
        expected = "string";
        if (jt != G_TYPE_STRING) {
            goto type_error;
        }
        return value_from_string(pspec, name, json_node_get_string(node), value, errp);
    }
    case G_TYPE_BOOLEAN:
        expected = "boolean";
        if (jt != G_TYPE_BOOLEAN) {
            goto type_error;
        }
        g_value_set_boolean(value, json_node_get_boolean(node));
        return TRUE;
    case G_TYPE_INT:
    case G_TYPE_UINT:
    case G_TYPE_INT64:
    case G_TYPE_UINT64: {
        expected = "integer";
        if (jt != G_TYPE_INT64) {
            goto type_error;
        }
        gint64 v = json_node_get_int(node);
        return set_integer(value, name, TRUE, v, (guint64)v, errp);
    }
    default:
        expected = "value";
        goto type_error;
    }
type_error:
    error_setg(errp, "Invalid parameter type for '%s', expected: %s", name, expected);
    return FALSE;
}

static gboolean convert_json(GParamSpec *pspec, const char *name, gconstpointer source,
                             GValue *value, GError **errp)
{
    return value_from_json(pspec, name, (JsonNode *)source, value, errp);
}

gboolean qom_object_set_json(QomObject *obj, const char *name, JsonNode *node, GError **errp)
{
    return set_converted(obj, name, convert_json, node, errp);
}

JsonNode *qom_object_get_json(QomObject *obj, const char *name, GError **errp)
{
    if (strcmp(name, "type") == 0) {
        JsonNode *node = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(node, qom_object_type_name(obj));
        return node;
    }
    GParamSpec *pspec = find_or_error(obj, name, errp);
    if (!pspec) {
        return NULL;
    }
    if (!(pspec->flags & G_PARAM_READABLE)) {
        error_setg(errp, "Property '%s' is not readable", name);
        return NULL;
    }
    GValue value = G_VALUE_INIT;
    g_value_init(&value, G_PARAM_SPEC_VALUE_TYPE(pspec));
    g_object_get_property(G_OBJECT(obj), pspec->name, &value);
    JsonNode *node = NULL;
    GType vt = G_PARAM_SPEC_VALUE_TYPE(pspec);
    switch (G_TYPE_FUNDAMENTAL(vt)) {
    case G_TYPE_STRING:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(node, g_value_get_string(&value) ? g_value_get_string(&value) : "");
        break;
    case G_TYPE_BOOLEAN:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_boolean(node, g_value_get_boolean(&value));
        break;
    case G_TYPE_INT:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_int(node, g_value_get_int(&value));
        break;
    case G_TYPE_UINT:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_int(node, g_value_get_uint(&value));
        break;
    case G_TYPE_INT64:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_int(node, g_value_get_int64(&value));
        break;
    case G_TYPE_UINT64:
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_int(node, (gint64)g_value_get_uint64(&value));
        break;
    case G_TYPE_ENUM: {
        GEnumClass *ec = g_type_class_ref(vt);
        GEnumValue *ev = g_enum_get_value(ec, g_value_get_enum(&value));
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(node, ev ? ev->value_nick : "");
        g_type_class_unref(ec);
        break;
    }
    default:
        node = json_node_new(JSON_NODE_NULL);
        break;
    }
    g_value_unset(&value);
    return node;
}

char *qom_object_get_str(QomObject *obj, const char *name, GError **errp)
{
    JsonNode *node = qom_object_get_json(obj, name, errp);
    if (!node) {
        return NULL;
    }
    char *out;
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
        out = g_strdup(json_node_get_boolean(node) ? "on" : "off");
    } else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        out = g_strdup(json_node_get_string(node));
    } else {
        out = json_to_string(node, FALSE);
    }
    json_node_unref(node);
    return out;
}

/* ---- setter errors ---- */

static GQuark set_error_quark(void)
{
    return g_quark_from_static_string("qom-set-error");
}

void qom_object_set_error(QomObject *obj, GError *err)
{
    GError *old = g_object_steal_qdata(G_OBJECT(obj), set_error_quark());
    if (old) {
        g_error_free(err);
        err = old;
    }
    g_object_set_qdata_full(G_OBJECT(obj), set_error_quark(), err, (GDestroyNotify)g_error_free);
}

void qom_object_clear_set_error(QomObject *obj)
{
    g_object_set_qdata(G_OBJECT(obj), set_error_quark(), NULL);
}

GError *qom_object_take_set_error(QomObject *obj)
{
    return g_object_steal_qdata(G_OBJECT(obj), set_error_quark());
}

/* ---- the tree ---- */

QomObject *qom_root(void)
{
    if (!root_object) {
        root_object = g_object_new(container_get_type(), NULL);
        QomObjectPrivate *priv = qom_object_get_instance_private(root_object);
        priv->name = g_strdup("");
    }
    return root_object;
}

static GHashTable *children_of(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    if (!priv->children) {
        priv->children = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    }
    return priv->children;
}

QomObject *qom_container_get(const char *path)
{
    QomObject *node = qom_root();
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    for (char **p = parts; *p; p++) {
        if (!**p) {
            continue;
        }
        QomObject *child = qom_object_get_child(node, *p);
        if (!child) {
            child = g_object_new(container_get_type(), NULL);
            qom_object_add_child(node, *p, child, NULL);
            g_object_unref(child);
        }
        node = child;
    }
    return node;
}

gboolean qom_object_add_child(QomObject *parent, const char *name, QomObject *child, GError **errp)
{
    GHashTable *children = children_of(parent);
    if (g_hash_table_contains(children, name)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object (type '%s')", name,
                   qom_object_type_name(parent));
        return FALSE;
    }
    QomObjectPrivate *cpriv = qom_object_get_instance_private(child);
    g_free(cpriv->name);
    cpriv->name = g_strdup(name);
    cpriv->parent = parent;
    g_hash_table_insert(children, g_strdup(name), g_object_ref(child));
    return TRUE;
}

void qom_object_unparent(QomObject *child)
{
    QomObjectPrivate *cpriv = qom_object_get_instance_private(child);
    QomObject *parent = cpriv->parent;
    QomObjectClass *klass = QOM_OBJECT_GET_CLASS(child);
    if (klass->unparent) {
        klass->unparent(child);
    }
    if (parent) {
        QomObjectPrivate *ppriv = qom_object_get_instance_private(parent);
        cpriv->parent = NULL;
        if (ppriv->children) {
            g_hash_table_remove(ppriv->children, cpriv->name);
        }
    }
}

QomObject *qom_object_get_parent(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    return priv->parent;
}

const char *qom_object_get_name(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    return priv->name;
}

char *qom_object_get_path(QomObject *obj)
{
    if (obj == root_object) {
        return g_strdup("/");
    }
    GString *path = g_string_new(NULL);
    for (QomObject *o = obj; o && o != root_object; o = qom_object_get_parent(o)) {
        const char *name = qom_object_get_name(o);
        g_string_prepend(path, name ? name : "");
        g_string_prepend_c(path, '/');
    }
    return g_string_free(path, FALSE);
}

QomObject *qom_object_get_child(QomObject *obj, const char *name)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    return priv->children ? g_hash_table_lookup(priv->children, name) : NULL;
}

static gint compare_by_name(gconstpointer a, gconstpointer b)
{
    QomObject *x = *(QomObject *const *)a;
    QomObject *y = *(QomObject *const *)b;
    return strcmp(qom_object_get_name(x), qom_object_get_name(y));
}

GPtrArray *qom_object_children(QomObject *obj)
{
    GPtrArray *out = g_ptr_array_new();
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    if (priv->children) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, priv->children);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            g_ptr_array_add(out, value);
        }
    }
    g_ptr_array_sort(out, compare_by_name);
    return out;
}

static void find_partial(QomObject *node, char **parts, guint nparts, QomObject **found,
                         guint *count)
{
    /* Does the path end at @node? Compare the trailing components upward. */
    QomObject *o = node;
    gboolean match = TRUE;
    for (gint i = (gint)nparts - 1; i >= 0; i--) {
        if (!o || o == root_object || g_strcmp0(qom_object_get_name(o), parts[i]) != 0) {
            match = FALSE;
            break;
        }
        o = qom_object_get_parent(o);
    }
    if (match) {
        *found = node;
        (*count)++;
    }
    GPtrArray *children = qom_object_children(node);
    for (guint i = 0; i < children->len; i++) {
        find_partial(children->pdata[i], parts, nparts, found, count);
    }
    g_ptr_array_unref(children);
}

QomObject *qom_resolve_path(const char *path, gboolean *ambiguous)
{
    if (ambiguous) {
        *ambiguous = FALSE;
    }
    g_auto(GStrv) raw = g_strsplit(path, "/", -1);
    GPtrArray *parts = g_ptr_array_new();
    for (char **p = raw; *p; p++) {
        if (**p) {
            g_ptr_array_add(parts, *p);
        }
    }
    QomObject *result = NULL;
    if (path[0] == '/') {
        result = qom_root();
        for (guint i = 0; i < parts->len && result; i++) {
            result = qom_object_get_child(result, parts->pdata[i]);
        }
    } else if (parts->len > 0) {
        guint count = 0;
        find_partial(qom_root(), (char **)parts->pdata, parts->len, &result, &count);
        if (count > 1) {
            result = NULL;
            if (ambiguous) {
                *ambiguous = TRUE;
            }
        }
    }
    g_ptr_array_unref(parts);
    return result;
}

/* ---- users ---- */

void qom_object_use(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    g_atomic_int_inc(&priv->use_count);
}

void qom_object_unuse(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    if (priv->use_count > 0) {
        g_atomic_int_dec_and_test(&priv->use_count);
    }
}

guint qom_object_use_count(QomObject *obj)
{
    QomObjectPrivate *priv = qom_object_get_instance_private(obj);
    return g_atomic_int_get(&priv->use_count);
}
