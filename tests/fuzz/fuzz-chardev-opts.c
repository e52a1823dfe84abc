/*
 * Feeds arbitrary strings to the -chardev option translation and to the legacy one-string form
 * of -serial/-monitor; nothing is opened, only the parsing runs.
 */
#include "chardev/char.h"

#include <stdint.h>
#include <string.h>

/* A successful translation names a backend and carries its data object. */
static void check_backend(JsonObject *backend)
{
    const char *const *names = chardev_backend_names();
    const char *type = json_object_get_string_member_with_default(backend, "type", NULL);
    gboolean known = FALSE;
    for (guint i = 0; type && names[i]; i++) {
        known |= !strcmp(names[i], type);
    }
    JsonNode *data = json_object_get_member(backend, "data");
    if (!known || !data || !JSON_NODE_HOLDS_OBJECT(data)) {
        __builtin_trap();
    }
    if (!strcmp(type, "socket") && !json_object_has_member(json_node_get_object(data), "addr")) {
        __builtin_trap();
    }
}

static void translate(KeyvalList *opts)
{
    GError *err = NULL;
    JsonObject *backend = chardev_opts_to_backend(opts, &err);
    if (backend) {
        check_backend(backend);
        json_object_unref(backend);
    } else if (!err) {
        __builtin_trap();
    }
    g_clear_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = g_strndup((const char *)data, size);
    GError *err = NULL;

    KeyvalList *opts = keyval_parse(str, "backend", KEYVAL_OPTS | KEYVAL_QUIET, &err);
    if (opts) {
        translate(opts);
        keyval_list_free(opts);
    }
    g_clear_error(&err);

    opts = chardev_legacy_to_opts(str, KEYVAL_QUIET, &err);
    if (opts) {
        if (!keyval_get(opts, "backend")) {
            __builtin_trap();
        }
        translate(opts);
        keyval_list_free(opts);
    } else if (!err) {
        __builtin_trap();
    }
    g_clear_error(&err);
    g_free(str);
    return 0;
}
