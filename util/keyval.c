/* Option strings as QEMU spells them: keyval and QemuOpts grammars, and the JSON form. */
#include "util/keyval.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

static void pair_free(gpointer p)
{
    KeyvalPair *pair = p;
    g_free(pair->key);
    g_free(pair->value);
    g_free(pair);
}

static KeyvalList *keyval_list_new(void)
{
    KeyvalList *list = g_new0(KeyvalList, 1);
    list->pairs = g_ptr_array_new_with_free_func(pair_free);
    return list;
}

void keyval_list_free(KeyvalList *list)
{
    if (list) {
        g_ptr_array_unref(list->pairs);
        g_free(list);
    }
}

static KeyvalPair *find_pair(const KeyvalList *list, const char *key, guint *index)
{
    for (guint i = 0; i < list->pairs->len; i++) {
        KeyvalPair *pair = g_ptr_array_index(list->pairs, i);
        if (strcmp(pair->key, key) == 0) {
            if (index) {
                *index = i;
            }
            return pair;
        }
    }
    return NULL;
}

const char *keyval_get(const KeyvalList *list, const char *key)
{
    KeyvalPair *pair = find_pair(list, key, NULL);
    return pair ? pair->value : NULL;
}

char *keyval_take(KeyvalList *list, const char *key)
{
    guint index;
    KeyvalPair *pair = find_pair(list, key, &index);
    if (!pair) {
        return NULL;
    }
    char *value = g_steal_pointer(&pair->value);
    g_ptr_array_remove_index(list->pairs, index);
    return value;
}

static void keyval_append(KeyvalList *list, const char *key, const char *value)
{
    KeyvalPair *pair = g_new(KeyvalPair, 1);
    pair->key = g_strdup(key);
    pair->value = g_strdup(value);
    g_ptr_array_add(list->pairs, pair);
}

void keyval_set(KeyvalList *list, const char *key, const char *value)
{
    KeyvalPair *pair = find_pair(list, key, NULL);
    if (pair) {
        g_free(pair->value);
        pair->value = g_strdup(value);
        return;
    }
    pair = g_new(KeyvalPair, 1);
    pair->key = g_strdup(key);
    pair->value = g_strdup(value);
    g_ptr_array_add(list->pairs, pair);
}

static gboolean key_char_ok(char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
}

/*
 * Reads one value starting at *pos up to an unescaped ',' (",," is a literal comma) and leaves *pos
 * on the separator or the terminating NUL.
 */
static char *read_value(const char **pos)
{
    GString *value = g_string_new(NULL);
    const char *p = *pos;
    while (*p) {
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;
        }
        g_string_append_c(value, *p++);
    }
    *pos = p;
    return g_string_free(value, FALSE);
}

KeyvalList *keyval_parse(const char *str, const char *implied_key, KeyvalFlags flags, GError **errp)
{
    g_autoptr(KeyvalList) list = keyval_list_new();
    const char *p = str;
    gboolean first = TRUE;

    while (*p) {
        /* The key runs to '=' or ','; a key never contains an escaped comma. */
        const char *key_start = p;
        while (*p && *p != '=' && *p != ',') {
            p++;
        }
        g_autofree char *key = g_strndup(key_start, p - key_start);

        if (*p == '=') {
            p++;
            if (key[0] == '\0') {
                error_setg(errp, "Invalid parameter ''");
                return NULL;
            }
            for (const char *k = key; *k; k++) {
                if (!key_char_ok(*k)) {
                    error_setg(errp, "Invalid parameter '%s'", key);
                    return NULL;
                }
            }
            g_autofree char *value = read_value(&p);
            if (flags & KEYVAL_REPEAT) {
                keyval_append(list, key, value);
            } else {
                keyval_set(list, key, value);
            }
        } else if (first && implied_key) {
            /* The implied key's value may itself hold escaped commas. */
            p = key_start;
            g_autofree char *value = read_value(&p);
            if (strcmp(value, "help") == 0 || strcmp(value, "?") == 0) {
                list->help = TRUE;
            }
            keyval_set(list, implied_key, value);
        } else if (strcmp(key, "help") == 0 || strcmp(key, "?") == 0) {
            list->help = TRUE;
        } else if (key[0] == '\0') {
            if (*p == ',' && p[1] == '\0') {
                /* A single trailing comma is tolerated, as QEMU does. */
            } else {
                error_setg(errp, "Invalid parameter ''");
                return NULL;
            }
        } else {
            const char *name = key;
            const char *value = "on";
            if ((flags & KEYVAL_OPTS) && g_str_has_prefix(key, "no") && key[2]) {
                name = key + 2;
                value = "off";
            }
            for (const char *k = name; *k; k++) {
                if (!key_char_ok(*k)) {
                    error_setg(errp, "Invalid parameter '%s'", name);
                    return NULL;
                }
            }
            if (!(flags & KEYVAL_QUIET)) {
                warn_report("short-form boolean option '%s' deprecated\x1e"
                            "Please use %s=%s instead",
                            name, name, value);
            }
            keyval_set(list, name, value);
        }
        first = FALSE;
        if (*p == ',') {
            p++;
        }
    }
    return g_steal_pointer(&list);
}

/* True when @str ends inside a string or with an object/array still open. */
static gboolean json_truncated(const char *str)
{
    int depth = 0;
    gboolean in_string = FALSE;
    for (const char *p = str; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1]) {
                p++;
            } else if (*p == '"') {
                in_string = FALSE;
            }
        } else if (*p == '"') {
            in_string = TRUE;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    return in_string || depth > 0;
}

JsonObject *keyval_parse_json(const char *str, GError **errp)
{
    if (json_truncated(str)) {
        error_setg(errp, "JSON parse error, premature EOI");
        return NULL;
    }
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *local = NULL;
    if (!json_parser_load_from_data(parser, str, -1, &local)) {
        error_setg(errp, "JSON parse error, %s", local->message);
        g_error_free(local);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "Invalid JSON object given");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

gboolean id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return FALSE;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean keyval_parse_bool(const char *name, const char *value, gboolean *out, GError **errp)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};
    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (strcmp(value, yes[i]) == 0) {
            *out = TRUE;
            return TRUE;
        }
        if (strcmp(value, no[i]) == 0) {
            *out = FALSE;
            return TRUE;
        }
    }
    error_set_param_value(errp, name, "'on' or 'off'");
    return FALSE;
}

/* A suffix letter's power of two: b 0, k 10, M 20 ... E 60 (any case); -1 if none. */
static int size_suffix_shift(char c)
{
    static const char letters[] = "bkmgtpe";
    const char *hit = c ? strchr(letters, g_ascii_tolower(c)) : NULL;
    return hit ? (int)(hit - letters) * 10 : -1;
}

int keyval_strtosz(const char *s, int default_shift, guint64 *out)
{
    const char *p = s;
    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p == '+') {
        p++;
    }
    if (!g_ascii_isdigit(*p)) {
        return -EINVAL; /* also '-': sizes are never negative */
    }
    char *end;
    gboolean hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    errno = 0;
    guint64 whole = g_ascii_strtoull(p, &end, hex ? 16 : 10);
    if (errno || (hex && end == p + 1)) {
        return -EINVAL;
    }
    double fraction = 0;
    if (*end == '.') {
        if (hex) {
            return -EINVAL;
        }
        /* digits only: an exponent ("1.5e3") is no size */
        double scale = 0.1;
        for (end++; g_ascii_isdigit(*end); end++) {
            fraction += (*end - '0') * scale;
            scale /= 10;
        }
    }
    int shift = size_suffix_shift(*end);
    if (shift >= 0) {
        if (hex) {
            warn_report("Using a multiplier suffix on hex numbers is deprecated: %s", s);
        }
        end++;
    } else {
        shift = default_shift;
    }
    if (*end || (shift == 0 && fraction != 0)) {
        return -EINVAL;
    }
    guint64 mult = 1ull << shift;
    guint64 part = (guint64)(fraction * (double)mult);
    if (whole > (G_MAXUINT64 - part) / mult) {
        return -ERANGE;
    }
    *out = whole * mult + part;
    return 0;
}

gboolean keyval_parse_size(const char *name, const char *value, guint64 *out, GError **errp)
{
    int ret = keyval_strtosz(value, 0, out);
    if (ret == -ERANGE) {
        error_setg(errp, "Value '%s' is too large for parameter '%s'", value, name);
        return FALSE;
    }
    if (ret) {
        error_setg(errp,
                   "Parameter '%s' expects a non-negative number below 2^64\x1e"
                   "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                   "and exabytes, respectively.",
                   name);
        return FALSE;
    }
    return TRUE;
}
