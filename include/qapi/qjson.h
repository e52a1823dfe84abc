/*
 * JSON text exactly as QEMU writes it on QMP: ", " and ": " separators, non-ASCII and control
 * characters as \uXXXX escapes, and object members in the iteration order of QEMU's QDict (a
 * 512-bucket hash table, newest first within a bucket), so that replies match upstream byte
 * for byte. The pretty form indents by four spaces.
 */
#ifndef QAPI_QJSON_H
#define QAPI_QJSON_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Caller frees. A NULL node is written as null. */
char *qjson_to_string(JsonNode *node, gboolean pretty);
void qjson_append(GString *out, JsonNode *node, gboolean pretty);

/* The member names of @obj in QDict iteration order (the strings belong to @obj). */
GPtrArray *qjson_object_member_order(JsonObject *obj);

#endif
