/*
 * Support code for the C that scripts/qapi-gen.py generates: checked JSON -> C conversion in
 * QEMU's error wording, C -> JSON node builders, the command table entry type and the event
 * hook that the monitor installs.
 */
#ifndef QAPI_QAPI_RUNTIME_H
#define QAPI_QAPI_RUNTIME_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A marshaller checks @args (NULL: none given), runs the handler and sets *ret or *errp. */
typedef void (*QmpMarshalFn)(JsonObject *args, JsonNode **ret, GError **errp);

typedef enum {
    QMP_CMD_ALLOW_OOB = 1 << 0,
    QMP_CMD_ALLOW_PRECONFIG = 1 << 1,
} QmpCommandFlags;

typedef struct QmpCommandDef {
    const char *name;
    QmpMarshalFn fn;
    unsigned flags;
} QmpCommandDef;

/* ---- JSON -> C (errors name the member by its full path: "backend.data.addr") ---- */

/* "path.name", or "name" when @path is NULL; caller frees. */
char *qapi_member_path(const char *path, const char *name);
int qapi_enum_parse(const char *const lookup[], const char *str);
/* The node's object, or NULL and "Invalid parameter type for 'x', expected: object". */
JsonObject *qapi_json_get_object(JsonNode *node, const char *path, GError **errp);
char *qapi_json_get_str(JsonNode *node, const char *path, GError **errp);
gboolean qapi_json_get_bool(JsonNode *node, const char *path, bool *out, GError **errp);
gboolean qapi_json_get_double(JsonNode *node, const char *path, double *out, GError **errp);
/* Integers in [@min, @max]; out of range: "Parameter 'x' expects @ctype". */
gboolean qapi_json_get_int(JsonNode *node, const char *path, int64_t min, int64_t max,
                           const char *ctype, int64_t *out, GError **errp);
gboolean qapi_json_get_uint64(JsonNode *node, const char *path, uint64_t *out, GError **errp);
/* The enum value's index, or -1 and "Parameter 'x' does not accept value 'y'". */
int qapi_json_get_enum(JsonNode *node, const char *path, const char *const lookup[], GError **errp);
/* Fails with "Parameter 'x' is unexpected" for a member of @in not in @used (NULL: none). */
gboolean qapi_check_unused(JsonObject *in, const char *path, GHashTable *used, GError **errp);

/* Which branch of an alternate a JSON value selects (QEMU's QType, as the generator uses it). */
typedef enum {
    QAPI_ALT_NONE,
    QAPI_ALT_STRING,
    QAPI_ALT_NUMBER,
    QAPI_ALT_INT,
    QAPI_ALT_BOOLEAN,
    QAPI_ALT_NULL,
    QAPI_ALT_OBJECT,
    QAPI_ALT_ARRAY,
} QapiAltType;
QapiAltType qapi_json_alt_type(JsonNode *node);

/* ---- C -> JSON ---- */

JsonNode *qapi_json_string(const char *s);
JsonNode *qapi_json_bool(bool b);
JsonNode *qapi_json_int(int64_t v);
/*
 * json-glib keeps integers as gint64 only. A value above INT64_MAX (QEMU parses and echoes them
 * exactly, as its QNum has an unsigned kind) is stored as its two's-complement bit pattern in a
 * sealed node: a sealed, negative integer node reads as unsigned. json_node_copy() keeps the
 * seal, so the value survives copies; qjson_to_string() writes it unsigned.
 */
JsonNode *qapi_json_uint(uint64_t v);
gboolean qapi_json_is_uint(JsonNode *node);
JsonNode *qapi_json_double(double v);
/* Wraps @obj (taking the reference) in a node. */
JsonNode *qapi_json_object_node(JsonObject *obj);

/* ---- events ---- */

/* Called by every qapi_event_send_*(); @data may be NULL. The emitter must not keep @data. */
typedef void (*QapiEventEmitter)(const char *event, JsonObject *data);
void qapi_event_set_emitter(QapiEventEmitter fn);
void qapi_event_emit(const char *event, JsonObject *data);

#endif
