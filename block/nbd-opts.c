/*
 * The nbd protocol driver's address options, as upstream 7.2 reads them from a flat option
 * dictionary: "server.type=inet,server.host=H,server.port=P" (or unix/fd), or the legacy
 * "host=H[,port=P]" / "path=P" spelling (which "file.driver=nbd,file.host=..." reaches as the
 * child's own keys), plus "export" and "tls-creds". Errors in upstream's words.
 */
#include "block/nbd-client.h"

#include "util/error.h"

#include <string.h>

static const char *const inet_keys[] = {"host", "port",       "numeric", "to", "ipv4",
                                        "ipv6", "keep-alive", "mptcp",   NULL};
static const char *const unix_keys[] = {"path", "abstract", "tight", NULL};
static const char *const fd_keys[] = {"str", NULL};

static bool parse_flag(GHashTable *server, const char *key, SocketFlag *out, GError **errp)
{
    const char *v = g_hash_table_lookup(server, key);
    if (!v) {
        return true;
    }
    if (!strcmp(v, "on")) {
        *out = SOCKET_FLAG_ON;
    } else if (!strcmp(v, "off")) {
        *out = SOCKET_FLAG_OFF;
    } else {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    return true;
}

/* Every key of @server but "type" must be in @allowed. */
static bool check_keys(GHashTable *server, const char *const *allowed, GError **errp)
{
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, server);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!strcmp(key, "type") || g_strv_contains(allowed, key)) {
            continue;
        }
        error_setg(errp, "Parameter '%s' is unexpected", (const char *)key);
        return false;
    }
    return true;
}

static const char *require(GHashTable *server, const char *key, GError **errp)
{
    const char *v = g_hash_table_lookup(server, key);
    if (!v) {
        error_setg(errp, "Parameter '%s' is missing", key);
    }
    return v;
}

/* The "server.*" keys, prefix removed. */
static SocketAddr *parse_server(GHashTable *server, GError **errp)
{
    const char *type = require(server, "type", errp);
    if (!type) {
        return NULL;
    }
    if (!strcmp(type, "inet")) {
        const char *host, *port;
        if (!check_keys(server, inet_keys, errp) || !(host = require(server, "host", errp)) ||
            !(port = require(server, "port", errp))) {
            return NULL;
        }
        g_autoptr(SocketAddr) addr = socket_addr_new_inet(host, port);
        if (!parse_flag(server, "ipv4", &addr->ipv4, errp) ||
            !parse_flag(server, "ipv6", &addr->ipv6, errp) ||
            !parse_flag(server, "keep-alive", &addr->keep_alive, errp)) {
            return NULL;
        }
        return g_steal_pointer(&addr);
    }
    if (!strcmp(type, "unix")) {
        const char *path;
        if (!check_keys(server, unix_keys, errp) || !(path = require(server, "path", errp))) {
            return NULL;
        }
        g_autoptr(SocketAddr) addr = socket_addr_new_unix(path);
        SocketFlag abstract = SOCKET_FLAG_UNSET, tight = SOCKET_FLAG_UNSET;
        if (!parse_flag(server, "abstract", &abstract, errp) ||
            !parse_flag(server, "tight", &tight, errp)) {
            return NULL;
        }
        addr->abstract = abstract == SOCKET_FLAG_ON;
        addr->tight = tight != SOCKET_FLAG_OFF;
        return g_steal_pointer(&addr);
    }
    if (!strcmp(type, "fd")) {
        const char *str;
        if (!check_keys(server, fd_keys, errp) || !(str = require(server, "str", errp))) {
            return NULL;
        }
        return socket_addr_new_fd(str);
    }
    if (!strcmp(type, "vsock")) {
        error_setg(errp, "socket family vsock unsupported");
        return NULL;
    }
    error_setg(errp, "Parameter 'type' does not accept value '%s'", type);
    return NULL;
}

/* nbd://H[:P][/E], nbd+tcp://..., nbd+unix:///E?socket=S into host/port/path/export. */
static bool parse_uri(GHashTable *opts, const char *filename)
{
    g_autoptr(GUri) uri = g_uri_parse(filename, G_URI_FLAGS_ENCODED_QUERY, NULL);
    if (!uri) {
        return false;
    }
    const char *scheme = g_uri_get_scheme(uri);
    bool is_unix = !strcmp(scheme, "nbd+unix");
    if (!is_unix && strcmp(scheme, "nbd") && strcmp(scheme, "nbd+tcp")) {
        return false;
    }
    const char *query = g_uri_get_query(uri);
    const char *host = g_uri_get_host(uri);
    if (is_unix) {
        if (!query || !g_str_has_prefix(query, "socket=") || strchr(query, '&') ||
            (host && *host)) {
            return false;
        }
        g_autofree char *sock = g_uri_unescape_string(query + 7, NULL);
        g_hash_table_insert(opts, g_strdup("path"), g_steal_pointer(&sock));
    } else {
        if (query || !host || !*host) {
            return false;
        }
        g_hash_table_insert(opts, g_strdup("host"), g_strdup(host));
        if (g_uri_get_port(uri) > 0) {
            g_hash_table_insert(opts, g_strdup("port"), g_strdup_printf("%d", g_uri_get_port(uri)));
        }
    }
    const char *export = g_uri_get_path(uri);
    export += *export == '/';
    if (*export) {
        g_hash_table_insert(opts, g_strdup("export"), g_uri_unescape_string(export, NULL));
    }
    return true;
}

/* The legacy nbd:H:P[:exportname=E] and nbd:unix:S[:exportname=E]. */
static bool parse_legacy(GHashTable *opts, const char *filename)
{
    g_autofree char *rest = g_strdup(filename + 4);
    char *name = strstr(rest, ":exportname=");
    if (name) {
        g_hash_table_insert(opts, g_strdup("export"), g_strdup(name + 12));
        *name = '\0';
    }
    if (g_str_has_prefix(rest, "unix:")) {
        g_hash_table_insert(opts, g_strdup("path"), g_strdup(rest + 5));
        return true;
    }
    char *colon = strrchr(rest, ':');
    if (colon) {
        g_hash_table_insert(opts, g_strdup("port"), g_strdup(colon + 1));
        *colon = '\0';
    }
    g_hash_table_insert(opts, g_strdup("host"), g_strdup(rest));
    return true;
}

bool nbd_client_parse_filename(GHashTable *opts, GError **errp)
{
    g_autofree char *filename = NULL;
    if (!g_hash_table_steal_extended(opts, "filename", NULL, (gpointer *)&filename)) {
        return true;
    }
    static const char *const conflicts[] = {"host", "port", "path", "export", NULL};
    for (const char *const *k = conflicts; *k; k++) {
        if (g_hash_table_contains(opts, *k)) {
            error_setg(errp, "Option '%s' cannot be used with a file name", *k);
            return false;
        }
    }
    if (strstr(filename, "://")) {
        if (!parse_uri(opts, filename)) {
            error_setg(errp, "No valid URL specified");
            return false;
        }
        return true;
    }
    if (!g_str_has_prefix(filename, "nbd:")) {
        error_setg(errp, "File name string must start with 'nbd:'");
        return false;
    }
    return parse_legacy(opts, filename);
}

SocketAddr *nbd_client_parse_options(GHashTable *opts, char **export, GError **errp)
{
    const char *host = g_hash_table_lookup(opts, "host");
    const char *port = g_hash_table_lookup(opts, "port");
    const char *path = g_hash_table_lookup(opts, "path");
    const char *tls = g_hash_table_lookup(opts, "tls-creds");
    g_autoptr(GHashTable) server = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_str_has_prefix(key, "server.")) {
            g_hash_table_insert(server, g_strdup((char *)key + 7), value);
        }
    }
    SocketAddr *addr = NULL;
    if (g_hash_table_size(server)) {
        if (host || port || path) {
            error_setg(errp, "Cannot use 'server' and path/host/port at the same time");
            return NULL;
        }
        addr = parse_server(server, errp);
    } else if (path && host) {
        error_setg(errp, "path and host may not be used at the same time");
    } else if (path) {
        if (port) {
            error_setg(errp, "port may not be used without host");
            return NULL;
        }
        addr = socket_addr_new_unix(path);
    } else if (host) {
        g_autofree char *dflt = g_strdup_printf("%d", NBD_DEFAULT_PORT);
        addr = socket_addr_new_inet(host, port ? port : dflt);
    } else {
        error_setg(errp, "NBD server address missing");
    }
    if (addr && tls) {
        error_setg(errp, "No TLS credentials with id '%s'", tls);
        g_clear_pointer(&addr, socket_addr_free);
    }
    if (addr) {
        const char *name = g_hash_table_lookup(opts, "export");
        *export = g_strdup(name ? name : "");
    }
    return addr;
}
