/*
 * The NBD server on the main loop: the listener, the exports by name, and the connections that
 * carry one NbdSession each (include/block/nbd-server.h has the picture).
 */
#include "block/nbd-server.h"

#include "util/error.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

typedef struct NbdConn {
    int fd;
    NbdSession *session;
    guint in_tag;
    guint out_tag;
    bool peer_gone;
} NbdConn;

typedef struct NbdServer {
    SocketAddr *addr;
    GArray *listen_fds;
    GArray *listen_tags;
    uint32_t max_connections;
    GPtrArray *conns;
} NbdServer;

static NbdServer *server;
static GPtrArray *exports; /* NbdExport *, in the order they were added */
static const NbdDeviceHooks *device_hooks;
static void (*deleted_notify)(const char *name);

static void conn_update(NbdConn *c);
static gboolean conn_writable(int fd, GIOCondition cond, gpointer opaque);
static void listen_update(void);

void nbd_server_set_device_hooks(const NbdDeviceHooks *hooks)
{
    device_hooks = hooks;
}

GPtrArray *nbd_server_list_devices(void)
{
    if (device_hooks && device_hooks->list) {
        return device_hooks->list();
    }
    return g_ptr_array_new_with_free_func(g_free);
}

void nbd_server_set_deleted_notify(void (*fn)(const char *name))
{
    deleted_notify = fn;
}

gboolean nbd_server_is_running(void)
{
    return server != NULL;
}

const SocketAddr *nbd_server_addr(void)
{
    return server ? server->addr : NULL;
}

guint nbd_server_connection_count(void)
{
    return server ? server->conns->len : 0;
}

static NbdExport *export_find(const char *name)
{
    for (guint i = 0; exports && i < exports->len; i++) {
        NbdExport *exp = g_ptr_array_index(exports, i);
        if (!strcmp(exp->name, name)) {
            return exp;
        }
    }
    return NULL;
}

/* ---- a connection ---- */

static NbdExport *hook_lookup(void *opaque, const char *name)
{
    NbdExport *exp = export_find(name);
    return exp ? nbd_export_ref(exp) : NULL;
}

static GPtrArray *hook_list(void *opaque)
{
    GPtrArray *all = g_ptr_array_new();
    for (guint i = 0; exports && i < exports->len; i++) {
        g_ptr_array_add(all, nbd_export_ref(g_ptr_array_index(exports, i)));
    }
    return all;
}

/* Only adds the write watch: this runs inside session calls, where the connection must stay. */
static void hook_output_ready(void *opaque)
{
    NbdConn *c = opaque;
    nbd_fd_watch(&c->out_tag, c->fd, true, G_IO_OUT, conn_writable, c);
}

static const NbdSessionHooks session_hooks = {
    .lookup = hook_lookup,
    .list = hook_list,
    .output_ready = hook_output_ready,
};

static void conn_drop(NbdConn *c)
{
    if (c->in_tag) {
        g_source_remove(c->in_tag);
    }
    if (c->out_tag) {
        g_source_remove(c->out_tag);
    }
    close(c->fd);
    /* Requests still in flight finish inside the session; their replies go nowhere. */
    nbd_session_free(c->session);
    g_ptr_array_remove(server->conns, c);
    g_free(c);
    listen_update();
}

static gboolean conn_readable(int fd, GIOCondition cond, gpointer opaque)
{
    NbdConn *c = opaque;
    g_autofree uint8_t *buf = g_malloc(READ_CHUNK);
    ssize_t n = recv(fd, buf, READ_CHUNK, MSG_DONTWAIT);

    if (n > 0) {
        nbd_session_feed(c->session, buf, n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->peer_gone = true;
        nbd_session_eof(c->session);
    }
    conn_update(c);
    return G_SOURCE_CONTINUE; /* conn_update() removed the source if it is no longer wanted */
}

static gboolean conn_writable(int fd, GIOCondition cond, gpointer opaque)
{
    NbdConn *c = opaque;
    size_t len;
    const uint8_t *out;

    /* Piece after piece until the socket is full. */
    while ((out = nbd_session_output(c->session, &len)) && len) {
        ssize_t n = send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                c->peer_gone = true;
            }
            break;
        }
        nbd_session_consume_output(c->session, n);
        if ((size_t)n < len) {
            break;
        }
    }
    conn_update(c);
    return G_SOURCE_CONTINUE;
}

/* Watches what the session needs now; drops the connection once it is over. */
static void conn_update(NbdConn *c)
{
    size_t pending;
    nbd_session_output(c->session, &pending);

    if (c->peer_gone || (nbd_session_closing(c->session) && nbd_session_idle(c->session))) {
        conn_drop(c);
        return;
    }
    nbd_fd_watch(&c->in_tag, c->fd, nbd_session_wants_input(c->session),
                 G_IO_IN | G_IO_HUP | G_IO_ERR, conn_readable, c);
    nbd_fd_watch(&c->out_tag, c->fd, pending, G_IO_OUT, conn_writable, c);
}

static gboolean server_accept(int fd, GIOCondition cond, gpointer opaque)
{
    int cfd = socket_accept(fd, TRUE, NULL, NULL);
    if (cfd < 0) {
        return G_SOURCE_CONTINUE;
    }
    socket_set_nodelay(cfd, NULL);
    NbdConn *c = g_new0(NbdConn, 1);
    c->fd = cfd;
    c->session = nbd_session_new(&session_hooks, c);
    g_ptr_array_add(server->conns, c);
    conn_update(c);
    listen_update();
    return G_SOURCE_CONTINUE;
}

/* Accepts while under max-connections, as upstream stops listening at the limit. */
static void listen_update(void)
{
    bool full = server->max_connections && server->conns->len >= server->max_connections;
    bool listening = server->listen_tags->len > 0;

    if (!full && !listening) {
        for (guint i = 0; i < server->listen_fds->len; i++) {
            guint tag = g_unix_fd_add(g_array_index(server->listen_fds, int, i), G_IO_IN,
                                      server_accept, NULL);
            g_array_append_val(server->listen_tags, tag);
        }
    } else if (full && listening) {
        for (guint i = 0; i < server->listen_tags->len; i++) {
            g_source_remove(g_array_index(server->listen_tags, guint, i));
        }
        g_array_set_size(server->listen_tags, 0);
    }
}

/* ---- the server and its exports ---- */

gboolean nbd_server_start(const SocketAddr *addr, const char *tls_creds, const char *tls_authz,
                          uint32_t max_connections, GError **errp)
{
    if (server) {
        error_setg(errp, "NBD server already running");
        return FALSE;
    }
    if (tls_creds) {
        error_setg(errp, "No TLS credentials with id '%s'", tls_creds);
        return FALSE;
    }
    if (tls_authz) {
        error_setg(errp, "TLS authorization is incompatible with a non-TLS server");
        return FALSE;
    }
    SocketAddr *copy = socket_addr_copy(addr);
    GArray *fds = socket_listen(copy, 16, errp);
    if (!fds) {
        socket_addr_free(copy);
        return FALSE;
    }
    server = g_new0(NbdServer, 1);
    server->addr = copy;
    server->listen_fds = fds;
    server->listen_tags = g_array_new(FALSE, FALSE, sizeof(guint));
    server->max_connections = max_connections;
    server->conns = g_ptr_array_new();
    if (!exports) {
        exports = g_ptr_array_new();
    }
    listen_update();
    return TRUE;
}

gboolean nbd_server_add_export(NbdExport *exp, GError **errp)
{
    if (!server) {
        error_setg(errp, "NBD server not running");
        nbd_export_unref(exp);
        return FALSE;
    }
    if (export_find(exp->name)) {
        error_setg(errp, "Block export id '%s' is already in use", exp->name);
        nbd_export_unref(exp);
        return FALSE;
    }
    if (strlen(exp->name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name '%s' too long", exp->name);
        nbd_export_unref(exp);
        return FALSE;
    }
    g_ptr_array_add(exports, exp);
    return TRUE;
}

gboolean nbd_server_add(const char *device, const char *name, const char *description,
                        bool writable, GError **errp)
{
    if (!device_hooks || !device_hooks->open) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'", device, device);
        return FALSE;
    }
    NbdExport *exp = device_hooks->open(device, name ? name : device, description, writable, errp);
    return exp && nbd_server_add_export(exp, errp);
}

static guint export_users(NbdExport *exp)
{
    guint n = 0;
    for (guint i = 0; i < server->conns->len; i++) {
        NbdConn *c = g_ptr_array_index(server->conns, i);
        n += nbd_session_export(c->session) == exp;
    }
    return n;
}

static void export_delete(NbdExport *exp)
{
    /* Connections still open on it were dropped by the caller. */
    g_autofree char *name = g_strdup(exp->name);
    exp->removed = true;
    g_ptr_array_remove(exports, exp);
    nbd_export_unref(exp);
    if (deleted_notify) {
        deleted_notify(name);
    }
}

static void drop_users(NbdExport *exp)
{
    for (guint i = server->conns->len; i-- > 0;) {
        NbdConn *c = g_ptr_array_index(server->conns, i);
        if (!exp || nbd_session_export(c->session) == exp) {
            nbd_session_abort(c->session);
            conn_drop(c);
        }
    }
}

gboolean nbd_server_remove(const char *name, bool hard, GError **errp)
{
    NbdExport *exp = server ? export_find(name) : NULL;
    if (!exp) {
        error_setg(errp, "Export '%s' is not found", name);
        return FALSE;
    }
    if (!hard && export_users(exp)) {
        error_setg(errp, "export '%s' still in use", name);
        error_append_hint(errp, "Use mode='hard' to force client disconnect\n");
        return FALSE;
    }
    drop_users(exp);
    export_delete(exp);
    return TRUE;
}

gboolean nbd_server_stop(GError **errp)
{
    if (!server) {
        error_setg(errp, "NBD server not running");
        return FALSE;
    }
    drop_users(NULL);
    while (exports->len) {
        export_delete(g_ptr_array_index(exports, 0));
    }
    for (guint i = 0; i < server->listen_tags->len; i++) {
        g_source_remove(g_array_index(server->listen_tags, guint, i));
    }
    g_array_unref(server->listen_tags);
    socket_listen_close(server->listen_fds, server->addr);
    socket_addr_free(server->addr);
    g_ptr_array_unref(server->conns);
    g_clear_pointer(&server, g_free);
    return TRUE;
}
