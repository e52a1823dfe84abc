/*
 * The "socket" chardev: TCP or unix stream, server or client, or an inherited descriptor.
 *
 *   server:  LISTENING --accept--> CONNECTED --hang-up--> LISTENING (accepting again)
 *   client:  CONNECTING --ok--> CONNECTED --hang-up--> DISCONNECTED
 *                 | fail                                   |
 *                 v                                        v  (reconnect > 0)
 *            DISCONNECTED --reconnect timer--> CONNECTING <+
 *
 * While CONNECTED the listeners are not polled: a second client waits in the backlog until
 * the first one leaves, as in QEMU.
 */
#include "chardev-internal.h"
#include "util/error.h"
#include "util/sockets.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef enum {
    SOCK_DISCONNECTED,
    SOCK_CONNECTING,
    SOCK_CONNECTED,
} SockState;

struct _ChardevSocket {
    Chardev parent_instance;

    /* configuration; a listener's inet address becomes the one bound */
    SocketAddr *addr;
    gboolean is_listen;
    gboolean nodelay;
    gint64 reconnect_ms; /* clients only; 0 = never */

    /* runtime, under the state lock */
    SockState state;
    GArray *listen_fds;     /* of int, from socket_listen(); NULL unless a server */
    GPtrArray *listen_srcs; /* of GSource*, while accepting */
    int fd;                 /* the connected stream; also under the write lock */
    GSource *io_src;
    int connecting_fd;
    GSource *connect_src;
    GSource *reconnect_src;
    char *connected_name;
    char *disconnected_name;
    gboolean connect_err_reported;
    gboolean closed;
};

G_DECLARE_FINAL_TYPE(ChardevSocket, chardev_socket, CHARDEV, SOCKET, Chardev)
G_DEFINE_TYPE(ChardevSocket, chardev_socket, TYPE_CHARDEV)

static void sock_update_sources(Chardev *chr);
static void sock_start_connect(ChardevSocket *s);

/* ---- names ---- */

static gboolean sockaddr_host_port(const struct sockaddr_storage *ss, socklen_t len, char **host,
                                   char **port)
{
    g_autofree char *h = NULL;
    if (!socket_sockaddr_host_port((const struct sockaddr *)ss, len, &h, port)) {
        return FALSE;
    }
    *host = socket_host_bracketed(h);
    return TRUE;
}

/* The query-chardev filename of a connected stream, from the addresses of both ends. */
static char *connected_filename(ChardevSocket *s)
{
    struct sockaddr_storage local = {0}, peer = {0};
    socklen_t llen = sizeof(local), plen = sizeof(peer);
    const char *srv = s->is_listen ? ",server=on" : "";

    if (getsockname(s->fd, (struct sockaddr *)&local, &llen) < 0) {
        return g_strdup_printf("fd:%d", s->fd);
    }
    if (local.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&local;
        gsize n = llen > offsetof(struct sockaddr_un, sun_path)
                      ? llen - offsetof(struct sockaddr_un, sun_path)
                      : 0;
        char *path = g_strndup(un->sun_path, MIN(n, sizeof(un->sun_path)));
        char *r = g_strdup_printf("unix:%s%s", path, srv);
        g_free(path);
        return r;
    }
    if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) < 0) {
        return g_strdup_printf("fd:%d", s->fd);
    }
    char *lh = NULL, *lp = NULL, *ph = NULL, *pp = NULL;
    char *r;
    if (sockaddr_host_port(&local, llen, &lh, &lp) && sockaddr_host_port(&peer, plen, &ph, &pp)) {
        r = g_strdup_printf("tcp:%s:%s%s <-> %s:%s", lh, lp, srv, ph, pp);
    } else {
        r = g_strdup_printf("fd:%d", s->fd);
    }
    g_free(lh);
    g_free(lp);
    g_free(ph);
    g_free(pp);
    return r;
}

static void update_disconnected_name(ChardevSocket *s)
{
    g_autofree char *addr = socket_addr_to_string(s->addr);
    g_free(s->disconnected_name);
    s->disconnected_name =
        g_strdup_printf("disconnected:%s%s", addr, s->is_listen ? ",server=on" : "");
}

/* ---- connection life ---- */

static void sock_set_connected(ChardevSocket *s, int fd)
{
    Chardev *chr = CHARDEV(s);
    if (s->nodelay) {
        socket_set_nodelay(fd, NULL);
    }
    chardev_write_lock(chr);
    s->fd = fd;
    chardev_write_unlock(chr);
    s->state = SOCK_CONNECTED;
    s->connect_err_reported = FALSE;
    g_free(s->connected_name);
    s->connected_name = connected_filename(s);
    sock_update_sources(chr);
    chardev_be_event(chr, CHR_EVENT_OPENED);
}

static void sock_close_stream(ChardevSocket *s)
{
    Chardev *chr = CHARDEV(s);
    chr_source_clear(&s->io_src);
    chardev_write_lock(chr);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    chardev_write_unlock(chr);
    g_clear_pointer(&s->connected_name, g_free);
}

static void sock_hangup(ChardevSocket *s)
{
    if (s->state != SOCK_CONNECTED) {
        return;
    }
    sock_close_stream(s);
    s->state = SOCK_DISCONNECTED;
    sock_update_sources(CHARDEV(s));
    chardev_be_event(CHARDEV(s), CHR_EVENT_CLOSED);
}

/*
 * A front-end that asks for more than CHR_READ_BUF_LEN (packet streams such as colo-compare) gets
 * up to this much per read: one syscall per 4 KiB would dominate their cost.
 */
#define SOCK_READ_BUF_LEN (64 * 1024)

static gboolean sock_read_ready(Chardev *chr, GIOCondition cond)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    guint8 buf[SOCK_READ_BUF_LEN];

    if (s->fd < 0) {
        return G_SOURCE_REMOVE;
    }
    int want = chardev_be_can_read(chr);
    if ((cond & G_IO_IN) && want > 0) {
        ssize_t n = recv(s->fd, buf, MIN(want, (int)sizeof(buf)), 0);
        if (n > 0) {
            chardev_be_read(chr, buf, n);
            return s->io_src ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return G_SOURCE_CONTINUE;
        }
    } else if (!(cond & (G_IO_HUP | G_IO_ERR | CHR_IO_RDHUP))) {
        return G_SOURCE_CONTINUE;
    }
    /*
     * EOF, error, or hang-up with nothing the front-end can take; or the peer's end of stream
     * with no front-end reading (polled only then): a COLO secondary's redirector to a primary
     * that died must pass its frames on from now, not write the next one into a dead socket.
     */
    g_source_ref(s->io_src);
    GSource *self = s->io_src;
    sock_hangup(s);
    g_source_unref(self);
    return G_SOURCE_REMOVE;
}

static gboolean sock_accept_cb(gint lfd, GIOCondition cond, gpointer data)
{
    ChardevSocket *s = data;
    Chardev *chr = CHARDEV(s);
    chardev_lock(chr);
    if (s->state != SOCK_CONNECTED && !g_source_is_destroyed(g_main_current_source())) {
        int fd = socket_accept(lfd, TRUE, NULL, NULL);
        if (fd >= 0) {
            sock_set_connected(s, fd);
        }
    }
    chardev_unlock(chr);
    return G_SOURCE_CONTINUE;
}

static void report_connect_error(ChardevSocket *s, GError *err)
{
    if (!s->connect_err_reported) {
        error_report("Unable to connect character device %s: %s", chardev_label(CHARDEV(s)),
                     err->message);
        s->connect_err_reported = TRUE;
    }
    g_error_free(err);
}

static gboolean sock_reconnect_cb(gpointer data)
{
    ChardevSocket *s = data;
    chardev_lock(CHARDEV(s));
    if (g_source_is_destroyed(g_main_current_source())) {
        chardev_unlock(CHARDEV(s));
        return G_SOURCE_REMOVE;
    }
    g_clear_pointer(&s->reconnect_src, g_source_unref);
    if (s->state == SOCK_DISCONNECTED && !s->closed) {
        sock_start_connect(s);
    }
    chardev_unlock(CHARDEV(s));
    return G_SOURCE_REMOVE;
}

static void sock_connect_failed(ChardevSocket *s, GError *err)
{
    s->state = SOCK_DISCONNECTED;
    report_connect_error(s, err);
    sock_update_sources(CHARDEV(s));
}

static gboolean sock_connect_ready_cb(gint fd, GIOCondition cond, gpointer data)
{
    ChardevSocket *s = data;
    Chardev *chr = CHARDEV(s);
    GError *err = NULL;
    chardev_lock(chr);
    if (g_source_is_destroyed(g_main_current_source())) {
        /* Moved to another context or closed while we waited for the lock. */
        chardev_unlock(chr);
        return G_SOURCE_REMOVE;
    }
    g_clear_pointer(&s->connect_src, g_source_unref);
    int cfd = s->connecting_fd;
    s->connecting_fd = -1;
    if (socket_connect_finish(cfd, s->addr, &err)) {
        sock_set_connected(s, cfd);
    } else {
        close(cfd);
        sock_connect_failed(s, err);
    }
    chardev_unlock(chr);
    return G_SOURCE_REMOVE;
}

static void sock_start_connect(ChardevSocket *s)
{
    GError *err = NULL;
    gboolean in_progress;
    int fd = socket_connect_start(s->addr, &in_progress, &err);
    if (fd < 0) {
        sock_connect_failed(s, err);
        return;
    }
    if (!in_progress) {
        sock_set_connected(s, fd);
        return;
    }
    s->state = SOCK_CONNECTING;
    s->connecting_fd = fd;
    sock_update_sources(CHARDEV(s));
}

/* ---- sources ---- */

static void clear_listen_srcs(ChardevSocket *s)
{
    for (guint i = 0; i < s->listen_srcs->len; i++) {
        GSource *src = g_ptr_array_index(s->listen_srcs, i);
        g_source_destroy(src);
        g_source_unref(src);
    }
    g_ptr_array_set_size(s->listen_srcs, 0);
}

/* Makes the sources match the state, on the chardev's current context. */
static void sock_update_sources(Chardev *chr)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    GMainContext *ctx = chardev_context(chr);

    clear_listen_srcs(s);
    chr_source_clear(&s->io_src);
    chr_source_clear(&s->connect_src);
    chr_source_clear(&s->reconnect_src);
    if (s->closed) {
        return;
    }
    switch (s->state) {
    case SOCK_CONNECTED:
        s->io_src = chr_fd_source_new(chr, s->fd, sock_read_ready);
        break;
    case SOCK_CONNECTING:
        s->connect_src = socket_connect_source_new(s->connecting_fd);
        g_source_set_callback(s->connect_src, G_SOURCE_FUNC(sock_connect_ready_cb), g_object_ref(s),
                              g_object_unref);
        g_source_attach(s->connect_src, ctx);
        break;
    case SOCK_DISCONNECTED:
        for (guint i = 0; s->listen_fds && i < s->listen_fds->len; i++) {
            GSource *src = g_unix_fd_source_new(g_array_index(s->listen_fds, int, i), G_IO_IN);
            g_source_set_callback(src, G_SOURCE_FUNC(sock_accept_cb), g_object_ref(s),
                                  g_object_unref);
            g_source_attach(src, ctx);
            g_ptr_array_add(s->listen_srcs, src);
        }
        if (!s->is_listen && s->reconnect_ms > 0) {
            s->reconnect_src = g_timeout_source_new(s->reconnect_ms);
            g_source_set_callback(s->reconnect_src, sock_reconnect_cb, g_object_ref(s),
                                  g_object_unref);
            g_source_attach(s->reconnect_src, ctx);
        }
        break;
    }
}

/* ---- class methods ---- */

static gboolean opt_uint(KeyvalList *opts, const char *key, gint64 *out, GError **errp)
{
    const char *v = keyval_get(opts, key);
    char *end = NULL;
    if (!v) {
        return TRUE;
    }
    errno = 0;
    guint64 n = g_ascii_strtoull(v, &end, 0);
    if (!*v || *end || errno || n > G_MAXINT64) {
        error_setg(errp, "Parameter '%s' expects a number", key);
        return FALSE;
    }
    *out = n;
    return TRUE;
}

static gboolean sock_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {
        "path", "host",    "port",  "to",        "ipv4",         "ipv6",     "fd",    "server",
        "wait", "nodelay", "delay", "reconnect", "reconnect-ms", "abstract", "tight", NULL,
    };
    const char *path = keyval_get(opts, "path");
    const char *host = keyval_get(opts, "host");
    const char *port = keyval_get(opts, "port");
    const char *fd = keyval_get(opts, "fd");
    gboolean server, wait, nodelay = FALSE, delay = TRUE, abstract, tight, b;
    gint64 to = 0, reconnect = -1, reconnect_ms = -1;

    if (!chr_opts_check_known(opts, known, errp)) {
        return FALSE;
    }
    if (!!path + !!host + !!fd > 1) {
        error_setg(errp, "None or one of 'path', 'fd' or 'host' option required.");
        return FALSE;
    }
    if (host && !port) {
        error_setg(errp, "chardev: socket: no port given");
        return FALSE;
    }
    if (keyval_get(opts, "delay") && keyval_get(opts, "nodelay")) {
        error_setg(errp, "'delay' and 'nodelay' are mutually exclusive");
        return FALSE;
    }
    if (!chr_opt_bool(opts, "server", FALSE, &server, errp) ||
        !chr_opt_bool(opts, "wait", TRUE, &wait, errp) ||
        !chr_opt_bool(opts, "nodelay", FALSE, &nodelay, errp) ||
        !chr_opt_bool(opts, "delay", TRUE, &delay, errp) ||
        !chr_opt_bool(opts, "abstract", FALSE, &abstract, errp) ||
        !chr_opt_bool(opts, "tight", TRUE, &tight, errp) || !opt_uint(opts, "to", &to, errp) ||
        !opt_uint(opts, "reconnect", &reconnect, errp) ||
        !opt_uint(opts, "reconnect-ms", &reconnect_ms, errp)) {
        return FALSE;
    }

    JsonObject *addr = json_object_new();
    JsonObject *ad = json_object_new();
    if (path) {
        json_object_set_string_member(addr, "type", "unix");
        json_object_set_string_member(ad, "path", path);
        /* As upstream: given only when they differ from the defaults. */
        if (abstract) {
            json_object_set_boolean_member(ad, "abstract", TRUE);
        }
        if (!tight) {
            json_object_set_boolean_member(ad, "tight", FALSE);
        }
    } else if (host) {
        json_object_set_string_member(addr, "type", "inet");
        json_object_set_string_member(ad, "host", host);
        json_object_set_string_member(ad, "port", port);
        if (keyval_get(opts, "to")) {
            json_object_set_int_member(ad, "to", to);
        }
        if (keyval_get(opts, "ipv4") && chr_opt_bool(opts, "ipv4", FALSE, &b, NULL)) {
            json_object_set_boolean_member(ad, "ipv4", b);
        }
        if (keyval_get(opts, "ipv6") && chr_opt_bool(opts, "ipv6", FALSE, &b, NULL)) {
            json_object_set_boolean_member(ad, "ipv6", b);
        }
    } else {
        json_object_set_string_member(addr, "type", "fd");
        json_object_set_string_member(ad, "str", fd ? fd : "");
    }
    json_object_set_object_member(addr, "data", ad);
    json_object_set_object_member(data, "addr", addr);
    json_object_set_boolean_member(data, "server", server);
    /* -chardev servers wait by default; a client given "wait" is refused at open. */
    if (server) {
        json_object_set_boolean_member(data, "wait", wait);
    } else if (keyval_get(opts, "wait")) {
        json_object_set_boolean_member(data, "wait", wait);
    }
    json_object_set_boolean_member(data, "nodelay", nodelay || !delay);
    if (reconnect >= 0) {
        json_object_set_int_member(data, "reconnect", reconnect);
    }
    if (reconnect_ms >= 0) {
        json_object_set_int_member(data, "reconnect-ms", reconnect_ms);
    }
    return TRUE;
}

static gboolean json_member_is(JsonObject *obj, const char *member, GType type)
{
    JsonNode *n = json_object_get_member(obj, member);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

static gboolean sock_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    JsonNode *an = json_object_get_member(data, "addr");
    if (!an || !JSON_NODE_HOLDS_OBJECT(an)) {
        error_set_missing_param(errp, "backend.data.addr");
        return FALSE;
    }
    JsonObject *addr = json_node_get_object(an);
    const char *type = chr_json_str(addr, "type");
    JsonNode *adn = json_object_get_member(addr, "data");
    if (!type) {
        error_set_missing_param(errp, "backend.data.addr.type");
        return FALSE;
    }
    if (!adn || !JSON_NODE_HOLDS_OBJECT(adn)) {
        error_set_missing_param(errp, "backend.data.addr.data");
        return FALSE;
    }
    JsonObject *ad = json_node_get_object(adn);

    if (!strcmp(type, "inet")) {
        if (!json_member_is(ad, "host", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.host");
            return FALSE;
        }
        if (!json_member_is(ad, "port", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.port");
            return FALSE;
        }
        s->addr = socket_addr_new_inet(chr_json_str(ad, "host"), chr_json_str(ad, "port"));
        s->addr->to = chr_json_int(ad, "to", 0);
        if (json_object_has_member(ad, "ipv4")) {
            s->addr->ipv4 = chr_json_bool(ad, "ipv4", FALSE) ? SOCKET_FLAG_ON : SOCKET_FLAG_OFF;
        }
        if (json_object_has_member(ad, "ipv6")) {
            s->addr->ipv6 = chr_json_bool(ad, "ipv6", FALSE) ? SOCKET_FLAG_ON : SOCKET_FLAG_OFF;
        }
    } else if (!strcmp(type, "unix")) {
        if (!json_member_is(ad, "path", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.path");
            return FALSE;
        }
        s->addr = socket_addr_new_unix(chr_json_str(ad, "path"));
        s->addr->abstract = chr_json_bool(ad, "abstract", FALSE);
        s->addr->tight = chr_json_bool(ad, "tight", TRUE);
    } else if (!strcmp(type, "fd")) {
        if (!json_member_is(ad, "str", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.str");
            return FALSE;
        }
        s->addr = socket_addr_new_fd(chr_json_str(ad, "str"));
    } else {
        error_setg(errp, "Parameter 'backend.data.addr.type' does not accept value '%s'", type);
        return FALSE;
    }

    s->is_listen = chr_json_bool(data, "server", TRUE);
    gboolean has_wait = json_object_has_member(data, "wait");
    gboolean wait = chr_json_bool(data, "wait", FALSE);
    s->nodelay = chr_json_bool(data, "nodelay", FALSE);
    gint64 rs = chr_json_int(data, "reconnect", 0);
    gint64 rms = chr_json_int(data, "reconnect-ms", 0);
    s->reconnect_ms = rms > 0 ? rms : rs * 1000;

    if (s->is_listen && s->reconnect_ms > 0) {
        error_setg(errp, "'reconnect' option is incompatible with socket in server listen mode");
        return FALSE;
    }
    if (!s->is_listen && has_wait) {
        error_setg(errp, "'wait' option is incompatible with socket in client connect mode");
        return FALSE;
    }
    update_disconnected_name(s);

    if (s->is_listen) {
        s->listen_fds = socket_listen(s->addr, 1, errp);
        if (!s->listen_fds) {
            return FALSE;
        }
        update_disconnected_name(s);
        if (wait) {
            info_report("QEMU waiting for connection on: %s", s->disconnected_name);
            /* Block, as QEMU does, until the first client arrives. */
            int fd = socket_accept_wait(s->listen_fds, TRUE, errp);
            if (fd < 0) {
                return FALSE;
            }
            sock_set_connected(s, fd);
        } else {
            sock_update_sources(chr);
        }
        *be_opened = s->state == SOCK_CONNECTED;
        return TRUE;
    }

    if (s->reconnect_ms > 0 && s->addr->kind != SOCKET_ADDR_FD) {
        /* Reconnecting clients connect in the background, failures are only reported. */
        sock_start_connect(s);
    } else {
        int fd = socket_connect(s->addr, errp);
        if (fd < 0) {
            return FALSE;
        }
        if (!g_unix_set_fd_nonblocking(fd, TRUE, NULL)) {
            error_setg(errp, "File descriptor '%s' is not a socket", s->addr->fd);
            return FALSE;
        }
        sock_set_connected(s, fd);
    }
    *be_opened = s->state == SOCK_CONNECTED;
    return TRUE;
}

static int sock_write(Chardev *chr, const guint8 *buf, int len)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    if (s->fd < 0) {
        errno = EIO;
        return -1;
    }
    ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EWOULDBLOCK) {
        errno = EAGAIN;
    }
    return n;
}

static int sock_write_fd(Chardev *chr)
{
    return CHARDEV_SOCKET(chr)->fd;
}

static void sock_disconnect(Chardev *chr)
{
    sock_hangup(CHARDEV_SOCKET(chr));
}

static char *sock_filename(Chardev *chr)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    if (s->state == SOCK_CONNECTED && s->connected_name) {
        return g_strdup(s->connected_name);
    }
    return g_strdup(s->disconnected_name ? s->disconnected_name : "disconnected:");
}

static void sock_close(Chardev *chr)
{
    ChardevSocket *s = CHARDEV_SOCKET(chr);
    if (s->closed) {
        return;
    }
    s->closed = TRUE;
    sock_update_sources(chr);
    sock_close_stream(s);
    if (s->connecting_fd >= 0) {
        close(s->connecting_fd);
        s->connecting_fd = -1;
    }
    socket_listen_close(s->listen_fds, s->addr);
    s->listen_fds = NULL;
    s->state = SOCK_DISCONNECTED;
}

static void chardev_socket_finalize(GObject *obj)
{
    ChardevSocket *s = CHARDEV_SOCKET(obj);
    sock_close(CHARDEV(s));
    g_ptr_array_free(s->listen_srcs, TRUE);
    socket_addr_free(s->addr);
    g_free(s->connected_name);
    g_free(s->disconnected_name);
    G_OBJECT_CLASS(chardev_socket_parent_class)->finalize(obj);
}

enum { PROP_0, PROP_CONNECTED };

static void chardev_socket_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    ChardevSocket *s = CHARDEV_SOCKET(obj);
    if (id == PROP_CONNECTED) {
        g_value_set_boolean(v, s->state == SOCK_CONNECTED);
    } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void chardev_socket_class_init(ChardevSocketClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->finalize = chardev_socket_finalize;
    oc->get_property = chardev_socket_get_property;
    /* qom-get /chardevs/<id> connected, as upstream's socket chardev offers. */
    qom_class_install_property(oc, PROP_CONNECTED,
                               g_param_spec_boolean("connected", "connected",
                                                    "the stream has a peer", FALSE, QOM_PARAM_RO),
                               "bool", FALSE);
    cc->backend_name = "socket";
    cc->features = CHARDEV_FEATURE_RECONNECTABLE | CHARDEV_FEATURE_GCONTEXT;
    cc->parse_opts = sock_parse_opts;
    cc->open = sock_open;
    cc->write = sock_write;
    cc->write_fd = sock_write_fd;
    cc->update_sources = sock_update_sources;
    cc->disconnect = sock_disconnect;
    cc->filename = sock_filename;
    cc->close = sock_close;
}

static void chardev_socket_init(ChardevSocket *s)
{
    s->fd = -1;
    s->connecting_fd = -1;
    s->listen_srcs = g_ptr_array_new();
}
