/*
 * Option strings as QEMU spells them on the command line.
 *
 *   keyval (-object, -blockdev style):   [implied-value,]key=value[,key=value]...
 *   opts   (-chardev, -netdev, -mon ...): the same, plus bare flags: "server" means server=on,
 *                                        "nowait" means wait=off (with QEMU's deprecation warning)
 *
 * A ",," inside a value is a literal comma. "help" or "?" as a bare word asks for help.
 * Key order is kept; a repeated key keeps its last value (QEMU's rule for both grammars).
 * Both grammars also accept the JSON object form '{"qom-type": "iothread", "id": "io0"}'
 * through keyval_parse_json(), which keeps the JSON types of the values.
 */
#ifndef UTIL_KEYVAL_H
#define UTIL_KEYVAL_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct KeyvalPair {
    char *key;
    char *value;
} KeyvalPair;

typedef struct KeyvalList {
    GPtrArray *pairs; /* of KeyvalPair*, in order of first appearance */
    gboolean help;    /* "help" or "?" was given */
} KeyvalList;

typedef enum {
    KEYVAL_STRICT = 0,     /* -object: a bare word is key=on with a deprecation warning */
    KEYVAL_OPTS = 1 << 0,  /* QemuOpts: bare "flag" -> on, "noflag" -> off (warned) */
    KEYVAL_QUIET = 1 << 1, /* no deprecation warnings (tests, internal strings) */
    /* A repeated key=value adds a pair instead of replacing (-netdev user,hostfwd=..,hostfwd=..);
     * the consumer takes the last one for single-valued keys. */
    KEYVAL_REPEAT = 1 << 2,
} KeyvalFlags;

/*
 * Parses @str. @implied_key names the key of a first element without '=' ("qom-type",
 * "backend", "type"), or NULL if there is none. Errors use QEMU's wording.
 */
KeyvalList *keyval_parse(const char *str, const char *implied_key, KeyvalFlags flags,
                         GError **errp);
void keyval_list_free(KeyvalList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KeyvalList, keyval_list_free)

/* The value of @key, or NULL. */
const char *keyval_get(const KeyvalList *list, const char *key);
/* Removes @key and returns its value (caller frees), or NULL. */
char *keyval_take(KeyvalList *list, const char *key);
void keyval_set(KeyvalList *list, const char *key, const char *value);

/* Parses a JSON object string ("{...}") into a JsonObject (caller unrefs). */
JsonObject *keyval_parse_json(const char *str, GError **errp);

/* QEMU identifiers: letters, digits, '-', '.', '_', starting with a letter. */
gboolean id_wellformed(const char *id);

/* Booleans as QEMU accepts them: on/off, yes/no, true/false, y/n. */
gboolean keyval_parse_bool(const char *name, const char *value, gboolean *out, GError **errp);
/*
 * Upstream's size grammar (qemu_strtosz): blanks and '+' allowed in front, then decimal digits
 * with an optional fraction, or 0x and hex digits without one, then at most one suffix b, k, M,
 * G, T, P or E (powers of 1024, any case; 2^default_shift when there is none). A fraction needs
 * a scale other than bytes; a hex number with a suffix is warned about (deprecated upstream).
 * Returns 0, -EINVAL (not a size) or -ERANGE (2^64 or more).
 */
int keyval_strtosz(const char *s, int default_shift, guint64 *out);
/* Sizes with optional k/M/G/T/P/E suffix (powers of 1024); plain numbers are bytes. */
gboolean keyval_parse_size(const char *name, const char *value, guint64 *out, GError **errp);

#endif
