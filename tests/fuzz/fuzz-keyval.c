/* Feeds arbitrary strings to both option grammars and the JSON form. */
#include "util/keyval.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = g_strndup((const char *)data, size);
    GError *err = NULL;
    static const KeyvalFlags modes[] = {KEYVAL_STRICT | KEYVAL_QUIET, KEYVAL_OPTS | KEYVAL_QUIET};
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        KeyvalList *kv = keyval_parse(str, i ? "backend" : NULL, modes[i], &err);
        if (kv) {
            for (guint j = 0; j < kv->pairs->len; j++) {
                KeyvalPair *p = g_ptr_array_index(kv->pairs, j);
                /* A key never contains a separator; a lookup finds what was stored. */
                if (strchr(p->key, ',') || strchr(p->key, '=') ||
                    keyval_get(kv, p->key) != p->value) {
                    __builtin_trap();
                }
            }
            keyval_list_free(kv);
        } else {
            if (!err) {
                __builtin_trap();
            }
            g_clear_error(&err);
        }
    }
    if (size && data[0] == '{') {
        JsonObject *o = keyval_parse_json(str, &err);
        if (o) {
            json_object_unref(o);
        }
        g_clear_error(&err);
    }
    g_free(str);
    return 0;
}
