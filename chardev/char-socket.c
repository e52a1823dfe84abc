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

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

typedef enum {
    ADDR_INET,
    ADDR_UNIX,
    ADDR_FD,
} AddrKind;

typedef enum {
    SOCK_DISCONNECTED,
    SOCK_CONNECTING,
    SOCK_CONNECTED,
} SockState;

struct _ChardevSocket {
    Chardev parent_instance;

    /* configuration */
    AddrKind kind;
    char *host, *port, *path, *fd_str;
    int port_to;
    int family; /* AF_UNSPEC, AF_INET or AF_INET6 */
    gboolean is_listen;
    gboolean nodelay;
    gint64 reconnect_ms; /* clients only; 0 = never */

    /* runtime, under the state lock */
    SockState state;
    GArray *listen_fds;     /* of int */
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

static char *host_bracketed(const char *host)
{
    return strchr(host, ':') ? g_strdup_printf("[%s]", host) : g_strdup(host);
}

static gboolean sockaddr_host_port(const struct sockaddr_storage *ss, socklen_t len, char **host,
                                   char **port)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)ss, len, h, sizeof(h), p, sizeof(p),
                    NI_NUMERICHOST | NI_NUMERICSERV)) {
        return FALSE;
    }
    *host = host_bracketed(h);
    *port = g_strdup(p);
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
    char *addr;
    g_free(s->disconnected_name);
    switch (s->kind) {
    case ADDR_INET: {
        char *h = host_bracketed(s->host);
        addr = g_strdup_printf("tcp:%s:%s", h, s->port);
        g_free(h);
        break;
    }
    case ADDR_UNIX:
        addr = g_strdup_printf("unix:%s", s->path);
        break;
    default:
        addr = g_strdup_printf("fd:%s", s->fd_str);
        break;
    }
    s->disconnected_name =
        g_strdup_printf("disconnected:%s%s", addr, s->is_listen ? ",server=on" : "");
    g_free(addr);
}

/* ---- connection life ---- */

static void sock_set_connected(ChardevSocket *s, int fd)
{
    Chardev *chr = CHARDEV(s);
    if (s->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
    } else if (!(cond & (G_IO_HUP | G_IO_ERR))) {
        return G_SOURCE_CONTINUE;
    }
    /* EOF, error, or hang-up with nothing the front-end can take. */
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
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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

/* ---- address resolution, listen, connect ---- */

static struct addrinfo *resolve(ChardevSocket *s, const char *port, gboolean passive, GError **errp)
{
    struct addrinfo hints = {
        .ai_family = s->family,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = passive ? AI_PASSIVE : 0,
    };
    struct addrinfo *res = NULL;
    const char *host = s->host && *s->host ? s->host : NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        error_setg(errp, "address resolution failed for %s:%s: %s", s->host ? s->host : "", port,
                   gai_strerror(rc));
        return NULL;
    }
    return res;
}

static int unix_addr(const char *path, struct sockaddr_un *un, GError **errp)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(un->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -1;
    }
    strcpy(un->sun_path, path);
    return 0;
}

static gboolean listen_inet(ChardevSocket *s, GError **errp)
{
    int port_min = atoi(s->port);
    int port_max = s->port_to > port_min ? s->port_to : port_min;
    int last_errno = 0;

    for (int p = port_min; p <= port_max; p++) {
        char pstr[16];
        g_snprintf(pstr, sizeof(pstr), "%d", p);
        struct addrinfo *res = resolve(s, pstr, TRUE, errp);
        if (!res) {
            return FALSE;
        }
        for (struct addrinfo *e = res; e; e = e->ai_next) {
            int fd =
                socket(e->ai_family, e->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, e->ai_protocol);
            if (fd < 0) {
                last_errno = errno;
                continue;
            }
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (e->ai_family == AF_INET6) {
                /* ipv6=on alone means only IPv6; otherwise accept mapped IPv4 too. */
                int v6only = s->family == AF_INET6;
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
            }
            if (bind(fd, e->ai_addr, e->ai_addrlen) < 0 || listen(fd, 1) < 0) {
                last_errno = errno;
                close(fd);
                continue;
            }
            g_array_append_val(s->listen_fds, fd);
        }
        freeaddrinfo(res);
        if (s->listen_fds->len) {
            /* Report the address actually bound (port 0 picks one). */
            int fd0 = g_array_index(s->listen_fds, int, 0);
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            char *h = NULL, *pt = NULL;
            if (getsockname(fd0, (struct sockaddr *)&ss, &len) == 0 &&
                sockaddr_host_port(&ss, len, &h, &pt)) {
                g_free(s->host);
                g_free(s->port);
                /* Stored unbracketed; names add brackets. */
                if (h[0] == '[') {
                    s->host = g_strndup(h + 1, strlen(h) - 2);
                    g_free(h);
                } else {
                    s->host = h;
                }
                s->port = pt;
            }
            return TRUE;
        }
    }
    error_setg_errno(errp, last_errno ? last_errno : EADDRINUSE,
                     "Failed to find an available port");
    return FALSE;
}

static gboolean listen_unix(ChardevSocket *s, GError **errp)
{
    struct sockaddr_un un;
    if (unix_addr(s->path, &un, errp) < 0) {
        return FALSE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return FALSE;
    }
    unlink(s->path);
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s", s->path);
        close(fd);
        return FALSE;
    }
    if (listen(fd, 1) < 0) {
        error_setg_errno(errp, errno, "Failed to listen on socket");
        close(fd);
        return FALSE;
    }
    g_array_append_val(s->listen_fds, fd);
    return TRUE;
}

static gboolean take_fd(ChardevSocket *s, int *out, GError **errp)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s->fd_str, &end, 10);
    struct stat st;
    if (!*s->fd_str || *end || errno || v < 0 || v > G_MAXINT) {
        error_setg(errp, "Unable to parse FD number %s", s->fd_str);
        return FALSE;
    }
    if (fstat(v, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        error_setg(errp, "File descriptor '%s' is not a socket", s->fd_str);
        return FALSE;
    }
    if (!g_unix_set_fd_nonblocking(v, TRUE, NULL)) {
        error_setg(errp, "File descriptor '%s' is not a socket", s->fd_str);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

/*
 * Starts a non-blocking connect. Returns the socket with *done set when it finished at once,
 * the socket with *done clear while in progress, or -1 with errp set.
 */
static int connect_start(ChardevSocket *s, gboolean *done, GError **errp)
{
    *done = FALSE;
    if (s->kind == ADDR_UNIX) {
        struct sockaddr_un un;
        if (unix_addr(s->path, &un, errp) < 0) {
            return -1;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
            int e = errno;
            if (fd >= 0 && e == EINPROGRESS) {
                return fd;
            }
            if (fd >= 0) {
                close(fd);
            }
            error_setg_errno(errp, e, "Failed to connect to '%s'", s->path);
            return -1;
        }
        *done = TRUE;
        return fd;
    }

    struct addrinfo *res = resolve(s, s->port, FALSE, errp);
    if (!res) {
        return -1;
    }
    int last_errno = ECONNREFUSED;
    int fd = -1;
    for (struct addrinfo *e = res; e; e = e->ai_next) {
        fd = socket(e->ai_family, e->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, e->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, e->ai_addr, e->ai_addrlen) == 0) {
            *done = TRUE;
            break;
        }
        if (errno == EINPROGRESS) {
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, last_errno, "Failed to connect to '%s:%s'", s->host, s->port);
    }
    return fd;
}

/* The outcome of a connect that was in progress; -1 with errp set if it failed. */
static gboolean connect_finish(ChardevSocket *s, int fd, GError **errp)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err) {
        if (s->kind == ADDR_UNIX) {
            error_setg_errno(errp, err, "Failed to connect to '%s'", s->path);
        } else {
            error_setg_errno(errp, err, "Failed to connect to '%s:%s'", s->host, s->port);
        }
        return FALSE;
    }
    return TRUE;
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
    if (connect_finish(s, cfd, &err)) {
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
    gboolean done;
    int fd = connect_start(s, &done, &err);
    if (fd < 0) {
        sock_connect_failed(s, err);
        return;
    }
    if (done) {
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
        s->connect_src = g_unix_fd_source_new(s->connecting_fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
        g_source_set_callback(s->connect_src, G_SOURCE_FUNC(sock_connect_ready_cb), g_object_ref(s),
                              g_object_unref);
        g_source_attach(s->connect_src, ctx);
        break;
    case SOCK_DISCONNECTED:
        for (guint i = 0; i < s->listen_fds->len; i++) {
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
        "path",   "host", "port",    "to",    "ipv4",      "ipv6",         "fd",
        "server", "wait", "nodelay", "delay", "reconnect", "reconnect-ms", NULL,
    };
    const char *path = keyval_get(opts, "path");
    const char *host = keyval_get(opts, "host");
    const char *port = keyval_get(opts, "port");
    const char *fd = keyval_get(opts, "fd");
    gboolean server, wait, nodelay = FALSE, delay = TRUE, b;
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
        !chr_opt_bool(opts, "delay", TRUE, &delay, errp) || !opt_uint(opts, "to", &to, errp) ||
        !opt_uint(opts, "reconnect", &reconnect, errp) ||
        !opt_uint(opts, "reconnect-ms", &reconnect_ms, errp)) {
        return FALSE;
    }

    JsonObject *addr = json_object_new();
    JsonObject *ad = json_object_new();
    if (path) {
        json_object_set_string_member(addr, "type", "unix");
        json_object_set_string_member(ad, "path", path);
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
        s->kind = ADDR_INET;
        if (!json_member_is(ad, "host", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.host");
            return FALSE;
        }
        if (!json_member_is(ad, "port", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.port");
            return FALSE;
        }
        s->host = g_strdup(chr_json_str(ad, "host"));
        s->port = g_strdup(chr_json_str(ad, "port"));
        s->port_to = chr_json_int(ad, "to", 0);
        gboolean v4 = chr_json_bool(ad, "ipv4", FALSE), v6 = chr_json_bool(ad, "ipv6", FALSE);
        s->family = v4 && !v6 ? AF_INET : v6 && !v4 ? AF_INET6 : AF_UNSPEC;
    } else if (!strcmp(type, "unix")) {
        s->kind = ADDR_UNIX;
        if (!json_member_is(ad, "path", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.path");
            return FALSE;
        }
        s->path = g_strdup(chr_json_str(ad, "path"));
    } else if (!strcmp(type, "fd")) {
        s->kind = ADDR_FD;
        if (!json_member_is(ad, "str", G_TYPE_STRING)) {
            error_set_missing_param(errp, "backend.data.addr.data.str");
            return FALSE;
        }
        s->fd_str = g_strdup(chr_json_str(ad, "str"));
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
        int fd;
        gboolean ok;
        if (s->kind == ADDR_FD) {
            ok = take_fd(s, &fd, errp);
            if (ok) {
                g_array_append_val(s->listen_fds, fd);
            }
        } else {
            ok = s->kind == ADDR_INET ? listen_inet(s, errp) : listen_unix(s, errp);
        }
        if (!ok) {
            return FALSE;
        }
        update_disconnected_name(s);
        if (wait) {
            info_report("QEMU waiting for connection on: %s", s->disconnected_name);
            /* Block, as QEMU does, until the first client arrives. */
            while (s->state != SOCK_CONNECTED) {
                guint n = s->listen_fds->len;
                struct pollfd *pfd = g_new0(struct pollfd, n);
                for (guint i = 0; i < n; i++) {
                    pfd[i].fd = g_array_index(s->listen_fds, int, i);
                    pfd[i].events = POLLIN;
                }
                if (poll(pfd, n, -1) > 0) {
                    for (guint i = 0; i < n && s->state != SOCK_CONNECTED; i++) {
                        if (pfd[i].revents & POLLIN) {
                            int cfd = accept4(pfd[i].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                            if (cfd >= 0) {
                                sock_set_connected(s, cfd);
                            }
                        }
                    }
                }
                g_free(pfd);
            }
        } else {
            sock_update_sources(chr);
        }
        *be_opened = s->state == SOCK_CONNECTED;
        return TRUE;
    }

    if (s->kind == ADDR_FD) {
        int fd;
        if (!take_fd(s, &fd, errp)) {
            return FALSE;
        }
        sock_set_connected(s, fd);
    } else if (s->reconnect_ms > 0) {
        /* Reconnecting clients connect in the background, failures are only reported. */
        sock_start_connect(s);
    } else {
        gboolean done;
        int fd = connect_start(s, &done, errp);
        if (fd < 0) {
            return FALSE;
        }
        if (!done) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
                continue;
            }
            if (!connect_finish(s, fd, errp)) {
                close(fd);
                return FALSE;
            }
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
    for (guint i = 0; i < s->listen_fds->len; i++) {
        close(g_array_index(s->listen_fds, int, i));
    }
    if (s->listen_fds->len && s->kind == ADDR_UNIX) {
        unlink(s->path);
    }
    g_array_set_size(s->listen_fds, 0);
    s->state = SOCK_DISCONNECTED;
}

static void chardev_socket_finalize(GObject *obj)
{
    ChardevSocket *s = CHARDEV_SOCKET(obj);
    sock_close(CHARDEV(s));
    g_array_free(s->listen_fds, TRUE);
    g_ptr_array_free(s->listen_srcs, TRUE);
    g_free(s->host);
    g_free(s->port);
    g_free(s->path);
    g_free(s->fd_str);
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
    s->listen_fds = g_array_new(FALSE, FALSE, sizeof(int));
    s->listen_srcs = g_ptr_array_new();
}
