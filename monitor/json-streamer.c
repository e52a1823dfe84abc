/* Incremental bounded JSON reader for QMP (see include/monitor/json-streamer.h). */
#include "monitor/json-streamer.h"
#include "util/error.h"
#include "util/mod-utf8.h"
#include "qapi/qapi-runtime.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

typedef enum {
    TOK_LBRACE,
    TOK_RBRACE,
    TOK_LBRACKET,
    TOK_RBRACKET,
    TOK_COLON,
    TOK_COMMA,
    TOK_STRING,
    TOK_INTEGER,
    TOK_FLOAT,
    TOK_KEYWORD,
} TokenType;

/*
 * A token as stored in the run's arena. A run may hold millions of tokens: they live in two
 * contiguous buffers (records and their offsets), not one allocation each, so that a huge run
 * costs ~16 bytes a token and its memory goes back to the system as a whole.
 */
typedef struct {
    TokenType type;
    char text[];
} Token;

typedef enum {
    LEX_START,
    LEX_STRING,
    LEX_KEYWORD,
    /* number states: what was read last */
    LEX_NUM_MINUS,
    LEX_NUM_ZERO,
    LEX_NUM_INT,
    LEX_NUM_DOT,
    LEX_NUM_FRAC,
    LEX_NUM_E,
    LEX_NUM_ESIGN,
    LEX_NUM_EXP,
} LexState;

struct JsonStreamer {
    JsonStreamerEmit emit;
    void *opaque;
    LexState state;
    GString *tok;        /* text of the token being lexed */
    char quote;          /* of the string being lexed */
    gboolean escape;     /* last string char was a backslash */
    gboolean discarding; /* the string passed the size limit: skipped up to its end */
    GByteArray *arena;   /* the current run's Token records, each aligned */
    GArray *offsets;     /* guint32: where each token of the run starts in arena */
    size_t run_bytes;
    int braces, brackets;
    guint64 errors;
};

JsonStreamer *json_streamer_new(JsonStreamerEmit emit, void *opaque)
{
    JsonStreamer *js = g_new0(JsonStreamer, 1);
    js->emit = emit;
    js->opaque = opaque;
    js->tok = g_string_new(NULL);
    js->arena = g_byte_array_new();
    js->offsets = g_array_new(FALSE, FALSE, sizeof(guint32));
    return js;
}

/* Past this, buffers are given back rather than kept for the next input. */
#define JSON_KEEP_BYTES (64 * 1024)

/*
 * After a huge input is freed: glibc raises its mmap threshold once a big mmapped block is
 * freed, so the next huge buffer lands on the heap and is not returned by free() alone.
 */
static void give_back_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void run_reset(JsonStreamer *js)
{
    gboolean big = js->arena->len > JSON_KEEP_BYTES;
    if (big) {
        g_byte_array_unref(js->arena);
        js->arena = g_byte_array_new();
    } else {
        g_byte_array_set_size(js->arena, 0);
    }
    if (js->offsets->len > JSON_KEEP_BYTES / sizeof(guint32)) {
        g_array_unref(js->offsets);
        js->offsets = g_array_new(FALSE, FALSE, sizeof(guint32));
    } else {
        g_array_set_size(js->offsets, 0);
    }
    if (big) {
        give_back_memory();
    }
    js->run_bytes = 0;
    js->braces = js->brackets = 0;
}

static void tok_reset(JsonStreamer *js)
{
    if (js->tok->allocated_len > JSON_KEEP_BYTES) {
        g_string_free(js->tok, TRUE);
        js->tok = g_string_new(NULL);
        give_back_memory();
    } else {
        g_string_truncate(js->tok, 0);
    }
}

void json_streamer_reset(JsonStreamer *js)
{
    run_reset(js);
    tok_reset(js);
    js->state = LEX_START;
    js->escape = FALSE;
    js->discarding = FALSE;
}

void json_streamer_free(JsonStreamer *js)
{
    if (!js) {
        return;
    }
    g_byte_array_unref(js->arena);
    g_array_unref(js->offsets);
    g_string_free(js->tok, TRUE);
    g_free(js);
}

guint64 json_streamer_error_count(JsonStreamer *js)
{
    return js->errors;
}

static void emit_error(JsonStreamer *js, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void emit_error(JsonStreamer *js, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *err = NULL;
    error_setg(&err, "%s", msg);
    g_free(msg);
    js->errors++;
    run_reset(js);
    js->emit(js->opaque, NULL, err);
}

/* ---- parser over a balanced run of tokens ---- */

typedef struct {
    const guint8 *arena;
    const guint32 *offsets;
    guint n, pos;
    GError *err;
} Parser;

static void parse_error(Parser *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void parse_error(Parser *p, const char *fmt, ...)
{
    if (p->err) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->err = g_error_new(QEMU_ERROR, ERROR_CLASS_GENERIC_ERROR, "JSON parse error, %s", msg);
    g_free(msg);
}

static Token *peek(Parser *p)
{
    return p->pos < p->n ? (Token *)(p->arena + p->offsets[p->pos]) : NULL;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = g_ascii_xdigit_value(s[i]);
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/*
 * Decodes a quoted string token (either quote style) with JSON escapes into modified UTF-8
 * (include/util/mod-utf8.h), refusing what upstream refuses.
 */
static char *decode_string(Parser *p, const char *text)
{
    GString *out = g_string_new(NULL);
    const char *s = text + 1;
    const char *stop = text + strlen(text) - 1; /* the closing quote */
    while (s < stop) {
        if ((unsigned char)*s < 0x80 && *s != '\\') {
            g_string_append_c(out, *s++);
            continue;
        }
        if (*s != '\\') {
            const char *end;
            if (mod_utf8_decode(s, stop - s, &end) < 0) {
                parse_error(p, "invalid UTF-8 sequence in string");
                g_string_free(out, TRUE);
                return NULL;
            }
            g_string_append_len(out, s, end - s);
            s = end;
            continue;
        }
        const char *esc = s;
        s++;
        switch (*s) {
        case '"':
        case '\'':
        case '\\':
        case '/':
            g_string_append_c(out, *s);
            break;
        case 'b':
            g_string_append_c(out, '\b');
            break;
        case 'f':
            g_string_append_c(out, '\f');
            break;
        case 'n':
            g_string_append_c(out, '\n');
            break;
        case 'r':
            g_string_append_c(out, '\r');
            break;
        case 't':
            g_string_append_c(out, '\t');
            break;
        case 'u': {
            /* One escape, or two for a surrogate pair; the message quotes what was read. */
            int used = 6;
            int cp = stop - s >= 5 ? hex4(s + 1) : -1;
            if (cp >= 0xD800 && cp <= 0xDBFF && stop - s >= 11 && s[5] == '\\' && s[6] == 'u') {
                int lo = hex4(s + 7);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    used = 12;
                }
            }
            if (!mod_utf8_valid_codepoint(cp)) {
                parse_error(p, "%.*s is not a valid Unicode character",
                            (int)MIN(used, stop - esc + 1), esc);
                g_string_free(out, TRUE);
                return NULL;
            }
            mod_utf8_append(out, cp);
            s = esc + used - 1;
            break;
        }
        default:
            parse_error(p, "invalid escape sequence in string");
            g_string_free(out, TRUE);
            return NULL;
        }
        s++;
    }
    return g_string_free(out, FALSE);
}

static JsonNode *parse_value(Parser *p);

static JsonNode *parse_object(Parser *p)
{
    JsonObject *obj = json_object_new();
    p->pos++; /* '{' */
    Token *t = peek(p);
    if (t && t->type == TOK_RBRACE) {
        p->pos++;
        goto done;
    }
    for (;;) {
        JsonNode *key = parse_value(p);
        if (!key) {
            goto fail;
        }
        if (!JSON_NODE_HOLDS_VALUE(key) || json_node_get_value_type(key) != G_TYPE_STRING) {
            json_node_unref(key);
            parse_error(p, "key is not a string in object");
            goto fail;
        }
        t = peek(p);
        if (!t || t->type != TOK_COLON) {
            json_node_unref(key);
            parse_error(p, "missing : in object pair");
            goto fail;
        }
        p->pos++;
        JsonNode *val = parse_value(p);
        if (!val) {
            json_node_unref(key);
            goto fail;
        }
        /* A repeated key keeps the last value, as QDict does. */
        json_object_set_member(obj, json_node_get_string(key), val);
        json_node_unref(key);
        t = peek(p);
        if (t && t->type == TOK_COMMA) {
            p->pos++;
            continue;
        }
        if (t && t->type == TOK_RBRACE) {
            p->pos++;
            break;
        }
        parse_error(p, "expected separator in dict");
        goto fail;
    }
done : {
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, obj);
    return n;
}
fail:
    json_object_unref(obj);
    return NULL;
}

static JsonNode *parse_array(Parser *p)
{
    JsonArray *arr = json_array_new();
    p->pos++; /* '[' */
    Token *t = peek(p);
    if (t && t->type == TOK_RBRACKET) {
        p->pos++;
        goto done;
    }
    for (;;) {
        JsonNode *val = parse_value(p);
        if (!val) {
            goto fail;
        }
        json_array_add_element(arr, val);
        t = peek(p);
        if (t && t->type == TOK_COMMA) {
            p->pos++;
            continue;
        }
        if (t && t->type == TOK_RBRACKET) {
            p->pos++;
            break;
        }
        parse_error(p, "expected separator in list");
        goto fail;
    }
done : {
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, arr);
    return n;
}
fail:
    json_array_unref(arr);
    return NULL;
}

static JsonNode *parse_number(Token *t)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    if (t->type == TOK_INTEGER) {
        errno = 0;
        gint64 v = g_ascii_strtoll(t->text, NULL, 10);
        if (errno == 0) {
            json_node_set_int(n, v);
            return n;
        }
        /* Past INT64_MAX, QEMU tries unsigned before falling back to a double. */
        errno = 0;
        guint64 u = t->text[0] == '-' ? 0 : g_ascii_strtoull(t->text, NULL, 10);
        if (errno == 0 && u) {
            json_node_unref(n);
            return qapi_json_uint(u);
        }
    }
    json_node_set_double(n, g_ascii_strtod(t->text, NULL));
    return n;
}

static JsonNode *parse_value(Parser *p)
{
    Token *t = peek(p);
    if (!t) {
        parse_error(p, "expecting value");
        return NULL;
    }
    switch (t->type) {
    case TOK_LBRACE:
        return parse_object(p);
    case TOK_LBRACKET:
        return parse_array(p);
    case TOK_STRING: {
        char *s = decode_string(p, t->text);
        if (!s) {
            return NULL;
        }
        p->pos++;
        JsonNode *n = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(n, s);
        g_free(s);
        return n;
    }
    case TOK_INTEGER:
    case TOK_FLOAT:
        p->pos++;
        return parse_number(t);
    case TOK_KEYWORD: {
        JsonNode *n;
        if (strcmp(t->text, "true") == 0 || strcmp(t->text, "false") == 0) {
            n = json_node_new(JSON_NODE_VALUE);
            json_node_set_boolean(n, t->text[0] == 't');
        } else if (strcmp(t->text, "null") == 0) {
            n = json_node_new(JSON_NODE_NULL);
        } else {
            parse_error(p, "invalid keyword '%s'", t->text);
            return NULL;
        }
        p->pos++;
        return n;
    }
    default:
        parse_error(p, "expecting value");
        return NULL;
    }
}

static void run_complete(JsonStreamer *js)
{
    Parser p = {
        .arena = js->arena->data,
        .offsets = (const guint32 *)js->offsets->data,
        .n = js->offsets->len,
    };
    JsonNode *value = parse_value(&p);
    gboolean big = js->arena->len > JSON_KEEP_BYTES;
    run_reset(js);
    if (!value) {
        js->errors++;
    }
    js->emit(js->opaque, value, p.err);
    if (big) {
        /* The consumer has usually freed the value by now: its many small blocks too. */
        give_back_memory();
    }
}

/* ---- streamer: collects tokens until braces and brackets balance ---- */

static void push_token(JsonStreamer *js, TokenType type)
{
    switch (type) {
    case TOK_LBRACE:
        js->braces++;
        break;
    case TOK_RBRACE:
        js->braces--;
        break;
    case TOK_LBRACKET:
        js->brackets++;
        break;
    case TOK_RBRACKET:
        js->brackets--;
        break;
    default:
        break;
    }
    guint32 off = js->arena->len;
    gsize size = sizeof(Token) + js->tok->len + 1;
    size = (size + G_ALIGNOF(Token) - 1) & ~(gsize)(G_ALIGNOF(Token) - 1);
    g_byte_array_set_size(js->arena, off + size);
    Token *t = (Token *)(js->arena->data + off);
    t->type = type;
    memcpy(t->text, js->tok->str, js->tok->len + 1);
    g_array_append_val(js->offsets, off);
    js->run_bytes += js->tok->len;
    tok_reset(js);

    if ((js->braces > 0 || js->brackets > 0) && js->braces >= 0 && js->brackets >= 0) {
        if (js->run_bytes > JSON_MAX_TOKEN_BYTES) {
            emit_error(js, "JSON token size limit exceeded");
        } else if (js->offsets->len > JSON_MAX_TOKENS) {
            emit_error(js, "JSON token count limit exceeded");
        } else if (js->braces + js->brackets > JSON_MAX_NESTING) {
            emit_error(js, "JSON nesting depth limit exceeded");
        }
        return;
    }
    run_complete(js);
}

static void lex_stray(JsonStreamer *js, char c)
{
    g_string_append_c(js->tok, c);
    char *text = g_strndup(js->tok->str, js->tok->len);
    g_string_truncate(js->tok, 0);
    js->state = LEX_START;
    emit_error(js, "JSON parse error, stray '%s'", text);
    g_free(text);
}

static gboolean number_is_complete(LexState s)
{
    return s == LEX_NUM_ZERO || s == LEX_NUM_INT || s == LEX_NUM_FRAC || s == LEX_NUM_EXP;
}

/* Returns TRUE if @c was consumed, FALSE if it must be read again from LEX_START. */
static gboolean lex_char(JsonStreamer *js, char c)
{
    switch (js->state) {
    case LEX_START:
        switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            return TRUE;
        case '{':
        case '}':
        case '[':
        case ']':
        case ':':
        case ',': {
            static const char punct[] = "{}[]:,";
            static const TokenType types[] = {TOK_LBRACE,   TOK_RBRACE, TOK_LBRACKET,
                                              TOK_RBRACKET, TOK_COLON,  TOK_COMMA};
            g_string_append_c(js->tok, c);
            push_token(js, types[strchr(punct, c) - punct]);
            return TRUE;
        }
        case '"':
        case '\'':
            js->quote = c;
            js->escape = FALSE;
            js->state = LEX_STRING;
            g_string_append_c(js->tok, c);
            return TRUE;
        case '-':
            js->state = LEX_NUM_MINUS;
            g_string_append_c(js->tok, c);
            return TRUE;
        case '0':
            js->state = LEX_NUM_ZERO;
            g_string_append_c(js->tok, c);
            return TRUE;
        default:
            if (c >= '1' && c <= '9') {
                js->state = LEX_NUM_INT;
                g_string_append_c(js->tok, c);
            } else if (c >= 'a' && c <= 'z') {
                js->state = LEX_KEYWORD;
                g_string_append_c(js->tok, c);
            } else {
                lex_stray(js, c);
            }
            return TRUE;
        }
    case LEX_STRING:
        if (!js->discarding) {
            g_string_append_c(js->tok, c);
        }
        if (js->escape) {
            js->escape = FALSE;
        } else if (c == '\\') {
            js->escape = TRUE;
        } else if (c == js->quote) {
            js->state = LEX_START;
            if (js->discarding) {
                /* Upstream sees the size only once the token ends; so do we. */
                js->discarding = FALSE;
                emit_error(js, "JSON token size limit exceeded");
            } else {
                push_token(js, TOK_STRING);
            }
        } else if (!js->discarding && js->tok->len + js->run_bytes > JSON_MAX_TOKEN_BYTES) {
            /* Not kept: memory stays bounded however long the string goes on. */
            js->discarding = TRUE;
            tok_reset(js);
        }
        return TRUE;
    case LEX_KEYWORD:
        if (c >= 'a' && c <= 'z' && js->tok->len < 64) {
            g_string_append_c(js->tok, c);
            return TRUE;
        }
        js->state = LEX_START;
        push_token(js, TOK_KEYWORD);
        return FALSE;
    default:
        break;
    }

    /* Numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    gboolean digit = c >= '0' && c <= '9';
    LexState next = LEX_START;
    switch (js->state) {
    case LEX_NUM_MINUS:
        next = c == '0' ? LEX_NUM_ZERO : (digit ? LEX_NUM_INT : LEX_START);
        break;
    case LEX_NUM_ZERO:
    case LEX_NUM_INT:
        if (digit && js->state == LEX_NUM_INT) {
            next = LEX_NUM_INT;
        } else if (c == '.') {
            next = LEX_NUM_DOT;
        } else if (c == 'e' || c == 'E') {
            next = LEX_NUM_E;
        }
        break;
    case LEX_NUM_DOT:
    case LEX_NUM_FRAC:
        if (digit) {
            next = LEX_NUM_FRAC;
        } else if (js->state == LEX_NUM_FRAC && (c == 'e' || c == 'E')) {
            next = LEX_NUM_E;
        }
        break;
    case LEX_NUM_E:
        next = (c == '+' || c == '-') ? LEX_NUM_ESIGN : (digit ? LEX_NUM_EXP : LEX_START);
        break;
    case LEX_NUM_ESIGN:
    case LEX_NUM_EXP:
        next = digit ? LEX_NUM_EXP : LEX_START;
        break;
    default:
        break;
    }
    if (next != LEX_START && js->tok->len < 1024) {
        js->state = next;
        g_string_append_c(js->tok, c);
        return TRUE;
    }
    if (number_is_complete(js->state)) {
        gboolean is_int = js->state == LEX_NUM_ZERO || js->state == LEX_NUM_INT;
        js->state = LEX_START;
        push_token(js, is_int ? TOK_INTEGER : TOK_FLOAT);
        return FALSE;
    }
    lex_stray(js, c);
    return TRUE;
}

void json_streamer_feed(JsonStreamer *js, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (!lex_char(js, buf[i])) {
            /* the character ended a token and is read again */
        }
    }
}

void json_streamer_flush(JsonStreamer *js)
{
    /* A space ends a pending number or keyword; an open string or run is dropped. */
    if (js->state != LEX_STRING) {
        json_streamer_feed(js, " ", 1);
    }
    tok_reset(js);
    js->state = LEX_START;
    js->discarding = FALSE;
    run_reset(js);
}

typedef struct {
    JsonNode *value;
    GError *err;
    int count;
} ParseOne;

static void parse_one_emit(void *opaque, JsonNode *value, GError *err)
{
    ParseOne *po = opaque;
    if (po->count++ == 0) {
        po->value = value;
        po->err = err;
        return;
    }
    if (value) {
        json_node_unref(value);
    }
    if (err) {
        g_error_free(err);
    }
}

JsonNode *json_parse_string(const char *text, GError **errp)
{
    ParseOne po = {0};
    JsonStreamer *js = json_streamer_new(parse_one_emit, &po);
    json_streamer_feed(js, text, strlen(text));
    json_streamer_flush(js);
    json_streamer_free(js);
    if (po.count > 1 && po.value) {
        json_node_unref(po.value);
        po.value = NULL;
        error_setg(&po.err, "JSON parse error, trailing characters");
    }
    if (!po.value && !po.err) {
        error_setg(&po.err, "JSON parse error, expecting value");
    }
    if (po.err) {
        g_propagate_error(errp, po.err);
    }
    return po.value;
}
