/* JSON text in QEMU's spelling (see include/qapi/qjson.h for why the member order matters). */
#include "qapi/qjson.h"
#include "qapi/qapi-runtime.h"
#include "util/mod-utf8.h"

#include <stdlib.h>
#include <string.h>

#define QDICT_BUCKETS 512

/* QDict's bucket hash, so that members come out in the order upstream prints them. */
static unsigned qdict_bucket(const char *name)
{
    unsigned value = 0x238F13AFu * (unsigned)strlen(name);
    for (unsigned i = 0; name[i]; i++) {
        value += (unsigned)(unsigned char)name[i] << (i * 5 % 24);
    }
    return (1103515243u * value + 12345u) % QDICT_BUCKETS;
}

typedef struct {
    const char *name;
    unsigned bucket;
    unsigned index;
} MemberSlot;

static int slot_cmp(const void *a, const void *b)
{
    const MemberSlot *x = a, *y = b;
    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* Within a bucket the newest member comes first. */
    return x->index > y->index ? -1 : (x->index < y->index ? 1 : 0);
}

GPtrArray *qjson_object_member_order(JsonObject *obj)
{
    GList *names = json_object_get_members(obj);
    guint n = g_list_length(names);
    MemberSlot *slots = g_new(MemberSlot, n ? n : 1);
    guint i = 0;
    for (GList *l = names; l; l = l->next, i++) {
        slots[i] = (MemberSlot){l->data, qdict_bucket(l->data), i};
    }
    qsort(slots, n, sizeof(*slots), slot_cmp);
    GPtrArray *out = g_ptr_array_sized_new(n);
    for (i = 0; i < n; i++) {
        g_ptr_array_add(out, (gpointer)slots[i].name);
    }
    g_free(slots);
    g_list_free(names);
    return out;
}

/* Strings hold modified UTF-8: C0 80 is written as \u0000, anything invalid as U+FFFD. */
static void append_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    const char *p = s;
    const char *stop = s + strlen(s);
    while (p < stop) {
        const char *next;
        int32_t cp = mod_utf8_decode(p, stop - p, &next);
        if (cp < 0) {
            cp = 0xFFFD;
        }
        switch (cp) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (cp > 0xFFFF) {
                cp -= 0x10000;
                g_string_append_printf(out, "\\u%04X\\u%04X", 0xD800 | (cp >> 10),
                                       0xDC00 | (cp & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                g_string_append_printf(out, "\\u%04X", cp);
            } else {
                g_string_append_c(out, (char)cp);
            }
        }
        p = next;
    }
    g_string_append_c(out, '"');
}

static void newline_indent(GString *out, gboolean pretty, int level)
{
    if (pretty) {
        g_string_append_c(out, '\n');
        for (int i = 0; i < level; i++) {
            g_string_append(out, "    ");
        }
    }
}

static void append_node(GString *out, JsonNode *node, gboolean pretty, int level);

static void append_object(GString *out, JsonObject *obj, gboolean pretty, int level)
{
    GPtrArray *order = qjson_object_member_order(obj);
    g_string_append_c(out, '{');
    for (guint i = 0; i < order->len; i++) {
        const char *name = g_ptr_array_index(order, i);
        if (i) {
            g_string_append(out, pretty ? "," : ", ");
        }
        newline_indent(out, pretty, level + 1);
        append_string(out, name);
        g_string_append(out, ": ");
        append_node(out, json_object_get_member(obj, name), pretty, level + 1);
    }
    newline_indent(out, pretty, level);
    g_string_append_c(out, '}');
    g_ptr_array_unref(order);
}

static void append_array(GString *out, JsonArray *arr, gboolean pretty, int level)
{
    guint n = json_array_get_length(arr);
    g_string_append_c(out, '[');
    for (guint i = 0; i < n; i++) {
        if (i) {
            g_string_append(out, pretty ? "," : ", ");
        }
        newline_indent(out, pretty, level + 1);
        append_node(out, json_array_get_element(arr, i), pretty, level + 1);
    }
    newline_indent(out, pretty, level);
    g_string_append_c(out, ']');
}

static void append_node(GString *out, JsonNode *node, gboolean pretty, int level)
{
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        g_string_append(out, "null");
        return;
    }
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT:
        append_object(out, json_node_get_object(node), pretty, level);
        return;
    case JSON_NODE_ARRAY:
        append_array(out, json_node_get_array(node), pretty, level);
        return;
    default:
        break;
    }
    GType t = json_node_get_value_type(node);
    if (t == G_TYPE_STRING) {
        append_string(out, json_node_get_string(node));
    } else if (t == G_TYPE_BOOLEAN) {
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
    } else if (t == G_TYPE_DOUBLE) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append(out,
                        g_ascii_formatd(buf, sizeof(buf), "%.17g", json_node_get_double(node)));
    } else if (qapi_json_is_uint(node)) {
        g_string_append_printf(out, "%" G_GUINT64_FORMAT, (guint64)json_node_get_int(node));
    } else {
        g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(node));
    }
}

void qjson_append(GString *out, JsonNode *node, gboolean pretty)
{
    append_node(out, node, pretty, 0);
}

char *qjson_to_string(JsonNode *node, gboolean pretty)
{
    GString *out = g_string_new(NULL);
    append_node(out, node, pretty, 0);
    return g_string_free(out, FALSE);
}
