/*
 * Feeds bytes to a negotiated QMP session in pieces whose sizes come from the input, so that
 * split tokens and merged messages are exercised. Whatever the input, every line the monitor
 * writes is one JSON object: a reply (return or error) or an event.
 *
 * Input, first byte below 0x80 ("raw"): the stream itself, each piece preceded by a byte that
 * chooses its length (1..64).
 * First byte 0x80 or above ("commands"): the rest is turned into a sequence of well-formed
 * JSON values (commands with arguments, other objects, arrays, scalars) separated by
 * whitespace, fed in pieces of 1..(first byte & 0x7f) + 1 bytes. Every value is one complete
 * request, so there must be exactly one reply for each, in order: every top-level object
 * carries a distinct "id", which its reply echoes. Names come from query-commands, "quit"
 * included (it changes the run state, not the process).
 */
#include "monitor/monitor.h"
#include "system/runstate.h"

#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void sink(void *opaque, const char *buf, size_t len)
{
    g_string_append_len(opaque, buf, len);
}

/* Every output line parsed; aborts on one that is not a JSON object. */
static GPtrArray *output_objects(const GString *out)
{
    GPtrArray *objs = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    gchar **lines = g_strsplit(out->str, "\n", -1);
    for (gchar **l = lines; *l; l++) {
        g_strstrip(*l);
        if (!**l) {
            continue;
        }
        JsonParser *p = json_parser_new();
        if (!json_parser_load_from_data(p, *l, -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
            abort();
        }
        g_ptr_array_add(objs, json_object_ref(json_node_get_object(json_parser_get_root(p))));
        g_object_unref(p);
    }
    g_strfreev(lines);
    return objs;
}

static Monitor *session(GString *out)
{
    Monitor *mon = monitor_new_qmp_custom(sink, out, FALSE);
    monitor_open(mon);
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";
    monitor_feed(mon, caps, strlen(caps));
    return mon;
}

static void session_end(Monitor *mon)
{
    monitor_close(mon);
    monitor_free(mon);
}

/* The command names the monitor offers. */
static GPtrArray *command_names(void)
{
    GString *out = g_string_new(NULL);
    Monitor *mon = session(out);
    static const char q[] = "{\"execute\": \"query-commands\"}";
    monitor_feed(mon, q, strlen(q));
    session_end(mon);
    GPtrArray *objs = output_objects(out);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    JsonObject *last = objs->pdata[objs->len - 1];
    JsonArray *cmds = json_object_get_array_member(last, "return");
    for (guint i = 0; i < json_array_get_length(cmds); i++) {
        JsonObject *c = json_array_get_object_element(cmds, i);
        g_ptr_array_add(names, g_strdup(json_object_get_string_member(c, "name")));
    }
    g_ptr_array_unref(objs);
    g_string_free(out, TRUE);
    if (names->len < 10) {
        abort();
    }
    return names;
}

/* ---- the generator: input bytes to JSON text ---- */

typedef struct {
    const uint8_t *p;
    size_t left;
    GString *text;
    GPtrArray *names;
    guint next_id;
} Gen;

static uint8_t take(Gen *g)
{
    if (!g->left) {
        return 0;
    }
    g->left--;
    return *g->p++;
}

static void gen_value(Gen *g, int depth);

static void gen_string(Gen *g, const char *s, size_t len)
{
    g_string_append_c(g->text, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            g_string_append_printf(g->text, "\\%c", c);
        } else if (c < 0x20 || c >= 0x7f) {
            g_string_append_printf(g->text, "\\u%04x", c);
        } else {
            g_string_append_c(g->text, c);
        }
    }
    g_string_append_c(g->text, '"');
}

static void gen_name(Gen *g)
{
    const char *name = g->names->pdata[take(g) % g->names->len];
    gen_string(g, name, strlen(name));
}

/* An object whose keys are distinct (a duplicate key is a parse error, without id). */
static void gen_object(Gen *g, int depth, gboolean top)
{
    static const char *const keys[] = {"execute", "arguments", "exec-oob", "command-line",
                                       "id-like", "name",      "value",    "x"};
    guint8 used = 0;
    guint n = take(g) % 4;
    gboolean comma = FALSE;
    g_string_append_c(g->text, '{');
    if (top) {
        g_string_append_printf(g->text, "\"id\": %u", g->next_id++);
        comma = TRUE;
    }
    for (guint i = 0; i < n; i++) {
        guint k = take(g) % G_N_ELEMENTS(keys);
        if (used & (1u << k)) {
            continue;
        }
        used |= 1u << k;
        g_string_append(g->text, comma ? ", " : "");
        comma = TRUE;
        gen_string(g, keys[k], strlen(keys[k]));
        g_string_append(g->text, ": ");
        if (k == 0) {
            gen_name(g);
        } else {
            gen_value(g, depth + 1);
        }
    }
    g_string_append_c(g->text, '}');
}

/* {"execute": NAME, "id": N} with arguments most of the time. */
static void gen_command(Gen *g, int depth)
{
    g_string_append_printf(g->text, "{\"id\": %u, \"execute\": ", g->next_id++);
    gen_name(g);
    if (take(g) & 3) {
        g_string_append(g->text, ", \"arguments\": ");
        gen_object(g, depth + 1, FALSE);
    }
    g_string_append_c(g->text, '}');
}

static void gen_value(Gen *g, int depth)
{
    uint8_t kind = take(g) % 9;
    if (depth > 5 && kind <= 4) {
        kind = 8; /* far below the nesting limit, whose error carries no id */
    }
    switch (kind) {
    case 0:
    case 1:
    case 2:
        if (depth == 0) {
            gen_command(g, depth);
        } else {
            gen_object(g, depth, FALSE);
        }
        break;
    case 3:
        gen_object(g, depth, depth == 0);
        break;
    case 4: {
        guint n = take(g) % 4;
        g_string_append_c(g->text, '[');
        for (guint i = 0; i < n; i++) {
            g_string_append(g->text, i ? ", " : "");
            gen_value(g, depth + 1);
        }
        g_string_append_c(g->text, ']');
        break;
    }
    case 5: {
        size_t len = take(g) % 24;
        len = MIN(len, g->left);
        gen_string(g, (const char *)g->p, len);
        g->p += len;
        g->left -= len;
        break;
    }
    case 6: {
        uint64_t v = 0;
        int bytes = 1 + take(g) % 8;
        for (int i = 0; i < bytes; i++) {
            v = (v << 8) | take(g);
        }
        const char *sign = take(g) & 1 ? "-" : "";
        g_string_append_printf(g->text, "%s%" G_GUINT64_FORMAT, sign, v);
        break;
    }
    case 7: {
        int whole = (int8_t)take(g);
        int frac = take(g);
        int exp = (int8_t)take(g) % 20;
        g_string_append_printf(g->text, "%d.%de%d", whole, frac, exp);
        break;
    }
    default: {
        static const char *const words[] = {"true", "false", "null"};
        g_string_append(g->text, words[take(g) % 3]);
        break;
    }
    }
}

static void feed_pieces(Monitor *mon, const GString *text, size_t max_piece, uint32_t seed)
{
    for (size_t pos = 0; pos < text->len;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = MIN(1 + (seed >> 16) % max_piece, text->len - pos);
        monitor_feed(mon, text->str + pos, n);
        pos += n;
    }
}

static void run_commands(const uint8_t *data, size_t size, GPtrArray *names)
{
    static const char *const spaces[] = {" ", "\n", "\r\n", "\t", "  "};
    Gen g = {data + 1, size - 1, g_string_new(NULL), names, 0};
    guint values = 0;
    while (g.left && values < 64) {
        gen_value(&g, 0);
        g_string_append(g.text, spaces[take(&g) % G_N_ELEMENTS(spaces)]);
        values++;
    }

    GString *out = g_string_new(NULL);
    Monitor *mon = session(out);
    gsize after_caps = out->len;
    feed_pieces(mon, g.text, (data[0] & 0x7f) + 1, size);
    session_end(mon);

    GString *replies = g_string_new(out->str + after_caps);
    GPtrArray *objs = output_objects(replies);
    guint got = 0, next_id = 0;
    for (guint i = 0; i < objs->len; i++) {
        JsonObject *o = objs->pdata[i];
        if (json_object_has_member(o, "event")) {
            continue;
        }
        if (json_object_has_member(o, "return") == json_object_has_member(o, "error")) {
            abort();
        }
        got++;
        if (json_object_has_member(o, "id")) {
            /* ids come back once each, in the order they were sent */
            if (json_object_get_int_member(o, "id") != next_id) {
                abort();
            }
            next_id++;
        }
    }
    if (got != values || next_id != g.next_id) {
        abort();
    }
    g_ptr_array_unref(objs);
    g_string_free(replies, TRUE);
    g_string_free(out, TRUE);
    g_string_free(g.text, TRUE);
}

static void run_raw(const uint8_t *data, size_t size)
{
    GString *out = g_string_new(NULL);
    Monitor *mon = session(out);
    size_t pos = 0;
    while (pos < size) {
        size_t n = (data[pos] & 63) + 1;
        pos++;
        if (n > size - pos) {
            n = size - pos;
        }
        monitor_feed(mon, (const char *)data + pos, n);
        pos += n;
    }
    session_end(mon);
    GPtrArray *objs = output_objects(out);
    for (guint i = 0; i < objs->len; i++) {
        JsonObject *o = objs->pdata[i];
        guint kinds = json_object_has_member(o, "return") + json_object_has_member(o, "error") +
                      json_object_has_member(o, "event") + json_object_has_member(o, "QMP");
        if (kinds != 1) {
            abort();
        }
    }
    g_ptr_array_unref(objs);
    g_string_free(out, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static GPtrArray *names;
    if (!names) {
        monitor_init_globals();
        names = command_names();
    }
    if (size >= 1 && data[0] >= 0x80) {
        run_commands(data, size, names);
    } else {
        run_raw(data, size);
    }
    return 0;
}
