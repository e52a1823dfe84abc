/*
 * Netdev options as the backends read them: ordered key=value pairs from -netdev/-nic (keyval,
 * QemuOpts grammar) or from QMP netdev_add (JSON). A key may repeat (hostfwd=...,hostfwd=...).
 * Every key a backend reads is marked; what is left unread is an "Invalid parameter".
 */
#ifndef NET_NET_OPTS_H
#define NET_NET_OPTS_H

#include <glib.h>
#include <json-glib/json-glib.h>
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

#endif
