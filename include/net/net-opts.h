/*
 * Netdev options as the backends read them: ordered key=value pairs from -netdev/-nic (keyval,
 * QemuOpts grammar) or from QMP netdev_add (JSON). A key may repeat (hostfwd=...,hostfwd=...).
 * Every key a backend reads is marked; what is left unread is an "Invalid parameter".
 */
#ifndef NET_NET_OPTS_H
#define NET_NET_OPTS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/keyval.h"

typedef struct NetOpts NetOpts;

NetOpts *net_opts_new(void);
void net_opts_free(NetOpts *opts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetOpts, net_opts_free)
void net_opts_add(NetOpts *opts, const char *key, const char *value);
NetOpts *net_opts_from_keyval(const KeyvalList *list);
/*
 * From netdev_add's arguments: strings, numbers and booleans become their keyval spelling; a
 * list of {"str": ...} (hostfwd, guestfwd) becomes repeated keys.
 */
NetOpts *net_opts_from_json(JsonObject *args, GError **errp);

/* The last value of @key (marks it read), or NULL. */
const char *net_opts_get(NetOpts *opts, const char *key);
/* Every value of @key in order (marks them read); caller frees the array, not the strings. */
GPtrArray *net_opts_get_all(NetOpts *opts, const char *key);
bool net_opts_has(NetOpts *opts, const char *key);
/* on/off and friends; "Parameter '%s' expects 'on' or 'off'". */
bool net_opts_get_bool(NetOpts *opts, const char *key, bool def, bool *out, GError **errp);
/* A decimal number; "Parameter '%s' expects a number". */
bool net_opts_get_int(NetOpts *opts, const char *key, int64_t def, int64_t *out, GError **errp);
/* Fails with "Invalid parameter 'x'" for the first key nobody read. */
bool net_opts_check_all_read(NetOpts *opts, GError **errp);

/*
 * A backend's options as one table: each row names a key, how it is read and where its value
 * goes in the backend's own option struct. net_opts_read() reads the rows in order (so errors
 * come in that order), then rejects any key the table (or an earlier net_opts_get_all) did not
 * name, so that every backend reads its options, reports bad values and unknown keys alike.
 */
typedef enum {
    NET_OPT_STR,  /* const char *, NULL when absent */
    NET_OPT_BOOL, /* bool, the row's default when absent */
    NET_OPT_INT,  /* int64_t, the row's default when absent */
} NetOptKind;

typedef struct NetOptDesc {
    const char *key;
    NetOptKind kind;
    size_t offset;
    int64_t def;
} NetOptDesc;

#define NET_OPT_STR(type, member, key)                                                             \
    {                                                                                              \
        key, NET_OPT_STR, offsetof(type, member), 0                                                \
    }
#define NET_OPT_BOOL(type, member, key, def)                                                       \
    {                                                                                              \
        key, NET_OPT_BOOL, offsetof(type, member), def                                             \
    }
#define NET_OPT_INT(type, member, key, def)                                                        \
    {                                                                                              \
        key, NET_OPT_INT, offsetof(type, member), def                                              \
    }

bool net_opts_read(NetOpts *opts, const NetOptDesc *table, size_t rows, void *out, GError **errp);

#endif
