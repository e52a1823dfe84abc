/*
 * Incremental, bounded JSON reader for QMP input.
 *
 * Bytes arrive in arbitrary pieces (a message split across reads, several messages in one read).
 * A lexer turns them into tokens; the streamer collects tokens until the braces and brackets
 * balance, then parses that run into a JsonNode. Each top-level value, or each error, is handed
 * to the emit callback in input order; input after an error is read afresh.
 *
 *   bytes --lexer--> tokens --streamer (depth count)--> balanced run --parser--> JsonNode
 *                      |  stray char                      |  limits hit          | syntax error
 *                      +---------------> error "JSON parse error, ..." <---------+
 *
 * Memory is bounded: a run may hold at most JSON_MAX_TOKEN_BYTES bytes, JSON_MAX_TOKENS tokens
 * and JSON_MAX_NESTING open braces/brackets (QEMU's limits and error messages); past them the
 * run is dropped with an error and reading continues. Upstream's syntax is accepted, including
 * single-quoted strings.
 */
#ifndef MONITOR_JSON_STREAMER_H
#define MONITOR_JSON_STREAMER_H

#include <glib.h>
#include <json-glib/json-glib.h>

#define JSON_MAX_TOKEN_BYTES (64u << 20)
#define JSON_MAX_TOKENS      (2u << 20)
#define JSON_MAX_NESTING     1024

/* Exactly one of @value and @err is set; the callee owns it. */
typedef void (*JsonStreamerEmit)(void *opaque, JsonNode *value, GError *err);

typedef struct JsonStreamer JsonStreamer;

JsonStreamer *json_streamer_new(JsonStreamerEmit emit, void *opaque);
void json_streamer_feed(JsonStreamer *js, const char *buf, size_t len);
/* End of input: a pending number or keyword is completed, an unfinished run is dropped. */
void json_streamer_flush(JsonStreamer *js);
/* Forgets any partial input (a new client connected). */
void json_streamer_reset(JsonStreamer *js);
void json_streamer_free(JsonStreamer *js);
/* Errors emitted so far (each one is input dropped). */
guint64 json_streamer_error_count(JsonStreamer *js);

/* Parses one complete JSON text with the same grammar and messages; for tests and HMP. */
JsonNode *json_parse_string(const char *text, GError **errp);

#endif
