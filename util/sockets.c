/* Stream sockets: address parsing, listen, connect, accept and socket options. */
#include "util/sockets.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the address ---- */

static SocketAddr *socket_addr_new(SocketAddrKind kind)
{
    SocketAddr *addr = g_new0(SocketAddr, 1);
    addr->kind = kind;
    addr->ipv4 = addr->ipv6 = addr->keep_alive = SOCKET_FLAG_UNSET;
    addr->tight = TRUE;
    return addr;
}

SocketAddr *socket_addr_new_inet(const char *host, const char *port)
{
    SocketAddr *addr = socket_addr_new(SOCKET_ADDR_INET);
    addr->host = g_strdup(host);
    addr->port = g_strdup(port);
    return addr;
}

SocketAddr *socket_addr_new_unix(const char *path)
{
    SocketAddr *addr = socket_addr_new(SOCKET_ADDR_UNIX);
    addr->path = g_strdup(path);
    return addr;
}

SocketAddr *socket_addr_new_fd(const char *fd)
{
    SocketAddr *addr = socket_addr_new(SOCKET_ADDR_FD);
    addr->fd = g_strdup(fd);
    return addr;
}

SocketAddr *socket_addr_copy(const SocketAddr *addr)
{
    SocketAddr *c = g_memdup2(addr, sizeof(*addr));
    c->host = g_strdup(addr->host);
    c->port = g_strdup(addr->port);
    c->path = g_strdup(addr->path);
    c->fd = g_strdup(addr->fd);
    return c;
}

void socket_addr_free(SocketAddr *addr)
{
    if (addr) {
        g_free(addr->host);
        g_free(addr->port);
        g_free(addr->path);
        g_free(addr->fd);
        g_free(addr);
    }
}

/* ---- parsing ---- */

/* Length of the run of 1..max characters at s that are not in stop; 0 if there is none. */
static size_t scan_run(const char *s, const char *stop, size_t max)
{
    size_t n = strcspn(s, stop);
    return MIN(n, max);
}

/* A ",name[=on|off]" flag whose text after the name is opt. */
static gboolean parse_flag(const char *name, const char *opt, SocketFlag *out, GError **errp)
{
    const char *comma = strchr(opt, ',');
    size_t len = comma ? (size_t)(comma - opt) : strlen(opt);

    /* "ipv6=on,,x" is refused: ",," would be an escaped comma in an option string. */
    if (!(comma && comma[1] == ',')) {
        if (len == 0 || (len == 3 && !strncmp(opt, "=on", 3))) {
            *out = SOCKET_FLAG_ON;
            return TRUE;
        }
        if (len == 4 && !strncmp(opt, "=off", 4)) {
            *out = SOCKET_FLAG_OFF;
            return TRUE;
        }
    }
    error_setg(errp, "error parsing '%s' flag '%s'", name, opt);
    return FALSE;
}

/* Upstream reads host and port with sscanf field widths; these are the same limits. */
#define HOST_MAX 64
#define PORT_MAX 32

gboolean socket_split_host_port(const char *str, char **host, char **port, const char **rest,
                                GError **errp)
{
    const char *p = str;
    size_t hlen, plen;

    if (*p == ':') {
        hlen = 0;
        plen = scan_run(p + 1, ",", PORT_MAX);
        if (!plen) {
            error_setg(errp, "error parsing port in address '%s'", str);
            return FALSE;
        }
        p += 1;
    } else if (*p == '[') {
        hlen = scan_run(p + 1, "]", HOST_MAX);
        plen = hlen && p[1 + hlen] == ']' && p[2 + hlen] == ':'
                   ? scan_run(p + 3 + hlen, ",", PORT_MAX)
                   : 0;
        if (!plen) {
            error_setg(errp, "error parsing IPv6 address '%s'", str);
            return FALSE;
        }
        *host = g_strndup(p + 1, hlen);
        p += hlen + 3;
    } else {
        hlen = scan_run(p, ":", HOST_MAX);
        plen = hlen && p[hlen] == ':' ? scan_run(p + hlen + 1, ",", PORT_MAX) : 0;
        if (!plen) {
            error_setg(errp, "error parsing address '%s'", str);
            return FALSE;
        }
        *host = g_strndup(p, hlen);
        p += hlen + 1;
    }
    if (!hlen) {
        *host = g_strdup("");
    }
    *port = g_strndup(p, plen);
    *rest = p + plen;
    return TRUE;
}

SocketAddr *socket_inet_parse(const char *str, GError **errp)
{
    g_autoptr(SocketAddr) addr = socket_addr_new(SOCKET_ADDR_INET);
    const char *opts, *o;

    if (!socket_split_host_port(str, &addr->host, &addr->port, &opts, errp)) {
        return NULL;
    }
    if ((o = strstr(opts, ",to="))) {
        char *end;
        errno = 0;
        long to = strtol(o + 4, &end, 10);
        if (end == o + 4 || errno || to < G_MININT || to > G_MAXINT || (*end && *end != ',')) {
            error_setg(errp, "error parsing to= argument");
            return NULL;
        }
        addr->to = to;
    }
    if ((o = strstr(opts, ",ipv4")) && !parse_flag("ipv4", o + 5, &addr->ipv4, errp)) {
        return NULL;
    }
    if ((o = strstr(opts, ",ipv6")) && !parse_flag("ipv6", o + 5, &addr->ipv6, errp)) {
        return NULL;
    }
    if ((o = strstr(opts, ",keep-alive")) &&
        !parse_flag("keep-alive", o + strlen(",keep-alive"), &addr->keep_alive, errp)) {
        return NULL;
    }
    return g_steal_pointer(&addr);
}

SocketAddr *socket_addr_parse(const char *str, GError **errp)
{
    if (g_str_has_prefix(str, "unix:")) {
        if (!str[5]) {
            error_setg(errp, "invalid Unix socket address");
            return NULL;
        }
        return socket_addr_new_unix(str + 5);
    }
    if (g_str_has_prefix(str, "fd:")) {
        if (!str[3]) {
            error_setg(errp, "invalid file descriptor address");
            return NULL;
        }
        return socket_addr_new_fd(str + 3);
    }
    return socket_inet_parse(g_str_has_prefix(str, "tcp:") ? str + 4 : str, errp);
}

char *socket_host_bracketed(const char *host)
{
    return strchr(host, ':') ? g_strdup_printf("[%s]", host) : g_strdup(host);
}

char *socket_addr_to_string(const SocketAddr *addr)
{
    switch (addr->kind) {
    case SOCKET_ADDR_INET: {
        g_autofree char *h = socket_host_bracketed(addr->host);
        return g_strdup_printf("tcp:%s:%s", h, addr->port);
    }
    case SOCKET_ADDR_UNIX:
        /* Upstream names tight only beside abstract, and only when on. */
        return g_strdup_printf("unix:%s%s%s", addr->path, addr->abstract ? ",abstract=on" : "",
                               addr->abstract && addr->tight ? ",tight=on" : "");
    default:
        return g_strdup_printf("fd:%s", addr->fd);
    }
}

int socket_addr_family(const SocketAddr *addr, GError **errp)
{
    gboolean v4 = addr->ipv4 == SOCKET_FLAG_ON, v6 = addr->ipv6 == SOCKET_FLAG_ON;

    if (addr->ipv4 == SOCKET_FLAG_OFF && addr->ipv6 == SOCKET_FLAG_OFF) {
        error_setg(errp, "Cannot disable IPv4 and IPv6 at same time");
        return -1;
    }
    /* Only an "on" narrows the family: ipv4=off alone still resolves both, as upstream. */
    if (v4 != v6) {
        return v4 ? AF_INET : AF_INET6;
    }
    return AF_UNSPEC;
}

int socket_addr_get_fd(const SocketAddr *addr, GError **errp)
{
    char *end = NULL;
    struct stat st;

    errno = 0;
    long v = strtol(addr->fd, &end, 10);
    if (!*addr->fd || *end || errno || v < 0 || v > G_MAXINT) {
        error_setg(errp, "Unable to parse FD number %s", addr->fd);
        return -1;
    }
    if (fstat(v, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        error_setg(errp, "File descriptor '%s' is not a socket", addr->fd);
        return -1;
    }
    return v;
}

/* ---- building blocks ---- */

int socket_open(int family, int type, gboolean nonblocking)
{
    return socket(family, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
}

int socket_bind_reuse(int fd, const struct sockaddr *sa, socklen_t len)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    return bind(fd, sa, len);
}

gboolean socket_set_nodelay(int fd, GError **errp)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        error_setg_errno(errp, errno, "Unable to set NODELAY");
        return FALSE;
    }
    return TRUE;
}

gboolean socket_set_keepalive(int fd, gboolean on, GError **errp)
{
    int v = on;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)) < 0) {
        error_setg_errno(errp, errno, "Unable to set KEEPALIVE");
        return FALSE;
    }
    return TRUE;
}

gboolean socket_sockaddr_host_port(const struct sockaddr *sa, socklen_t len, char **host,
                                   char **port)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV)) {
        return FALSE;
    }
    *host = g_strdup(h);
    *port = g_strdup(p);
    return TRUE;
}

gboolean socket_parse_host_port(const char *str, struct sockaddr_storage *ss, socklen_t *len,
                                GError **errp)
{
    const char *sep = strrchr(str, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    g_autofree char *host = NULL;
    char *end;
    long port;

    if (!sep) {
        error_setg(errp, "host address '%s' doesn't contain ':' separating host from port", str);
        return FALSE;
    }
    host = g_strndup(str, sep - str);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        char *inner = g_strndup(host + 1, strlen(host) - 2);
        g_free(host);
        host = inner;
    }
    errno = 0;
    port = strtol(sep + 1, &end, 10);
    if (errno || end == sep + 1 || *end || port < 0 || port > 65535) {
        error_setg(errp, "port number '%s' is invalid", sep + 1);
        return FALSE;
    }
    memset(ss, 0, sizeof(*ss));
    if (!host[0]) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return TRUE;
    }
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
        error_setg(errp, "can't resolve host address '%s'", host);
        return FALSE;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET) {
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    } else if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    }
    return TRUE;
}

/* ---- resolution ---- */

static struct addrinfo *inet_resolve(const SocketAddr *addr, const char *port, gboolean passive,
                                     GError **errp)
{
    int family = socket_addr_family(addr, errp);
    if (family < 0) {
        return NULL;
    }
    struct addrinfo hints = {
        .ai_family = family,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = passive ? AI_PASSIVE : 0,
    };
    struct addrinfo *res = NULL;
    const char *host = addr->host && *addr->host ? addr->host : NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        error_setg(errp, "address resolution failed for %s:%s: %s", addr->host ? addr->host : "",
                   port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

/* The sockaddr of a unix address; abstract names start with a NUL byte. */
static gboolean unix_sockaddr(const SocketAddr *addr, struct sockaddr_un *un, socklen_t *len,
                              GError **errp)
{
    size_t n = strlen(addr->path);

    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    if (n >= sizeof(un->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", addr->path);
        return FALSE;
    }
    *len = sizeof(*un);
    if (addr->abstract) {
        memcpy(un->sun_path + 1, addr->path, n);
        if (addr->tight) {
            *len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
        }
    } else {
        memcpy(un->sun_path, addr->path, n);
    }
    return TRUE;
}

/* ---- listen and accept ---- */

static gboolean inet_listen(SocketAddr *addr, int backlog, GArray *fds, GError **errp)
{
    int port_min = atoi(addr->port);
    int port_max = MAX(addr->to, port_min);
    int family = socket_addr_family(addr, errp);
    int last_errno = 0;

    if (family < 0) {
        return FALSE;
    }
    for (int p = port_min; p <= port_max; p++) {
        char pstr[16];
        g_snprintf(pstr, sizeof(pstr), "%d", p);
        struct addrinfo *res = inet_resolve(addr, pstr, TRUE, errp);
        if (!res) {
            return FALSE;
        }
        for (struct addrinfo *e = res; e; e = e->ai_next) {
            int fd = socket_open(e->ai_family, SOCK_STREAM, TRUE);
            if (fd < 0) {
                last_errno = errno;
                continue;
            }
            if (e->ai_family == AF_INET6) {
                /* ipv6=on alone means only IPv6; otherwise accept mapped IPv4 too. */
                int v6only = family == AF_INET6;
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
            }
            if (socket_bind_reuse(fd, e->ai_addr, e->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
                last_errno = errno;
                close(fd);
                continue;
            }
            g_array_append_val(fds, fd);
        }
        freeaddrinfo(res);
        if (fds->len) {
            /* Tell the caller the address actually bound (port 0 picks one). */
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            char *h, *pt;
            if (getsockname(g_array_index(fds, int, 0), (struct sockaddr *)&ss, &len) == 0 &&
                socket_sockaddr_host_port((struct sockaddr *)&ss, len, &h, &pt)) {
                g_free(addr->host);
                g_free(addr->port);
                addr->host = h;
                addr->port = pt;
            }
            return TRUE;
        }
    }
    error_setg_errno(errp, last_errno ? last_errno : EADDRINUSE,
                     "Failed to find an available port");
    return FALSE;
}

static gboolean unix_listen(const SocketAddr *addr, int backlog, GArray *fds, GError **errp)
{
    struct sockaddr_un un;
    socklen_t len;

    if (!unix_sockaddr(addr, &un, &len, errp)) {
        return FALSE;
    }
    int fd = socket_open(AF_UNIX, SOCK_STREAM, TRUE);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return FALSE;
    }
    if (!addr->abstract) {
        unlink(addr->path);
    }
    if (bind(fd, (struct sockaddr *)&un, len) < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s", addr->path);
        close(fd);
        return FALSE;
    }
    if (listen(fd, backlog) < 0) {
        error_setg_errno(errp, errno, "Failed to listen on socket");
        close(fd);
        return FALSE;
    }
    g_array_append_val(fds, fd);
    return TRUE;
}

GArray *socket_listen(SocketAddr *addr, int backlog, GError **errp)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    gboolean ok;

    switch (addr->kind) {
    case SOCKET_ADDR_INET:
        ok = inet_listen(addr, backlog, fds, errp);
        break;
    case SOCKET_ADDR_UNIX:
        ok = unix_listen(addr, backlog, fds, errp);
        break;
    default: {
        int fd = socket_addr_get_fd(addr, errp);
        ok = fd >= 0 && g_unix_set_fd_nonblocking(fd, TRUE, NULL);
        if (fd >= 0 && !ok) {
            error_setg(errp, "File descriptor '%s' is not a socket", addr->fd);
        }
        if (ok) {
            g_array_append_val(fds, fd);
        }
        break;
    }
    }
    if (!ok) {
        g_array_free(fds, TRUE);
        return NULL;
    }
    return fds;
}

void socket_listen_close(GArray *fds, const SocketAddr *addr)
{
    if (!fds) {
        return;
    }
    for (guint i = 0; i < fds->len; i++) {
        close(g_array_index(fds, int, i));
    }
    if (fds->len && addr->kind == SOCKET_ADDR_UNIX && !addr->abstract) {
        unlink(addr->path);
    }
    g_array_free(fds, TRUE);
}

int socket_accept(int listen_fd, gboolean nonblocking, struct sockaddr_storage *peer,
                  socklen_t *peer_len)
{
    int fd;
    do {
        fd = accept4(listen_fd, (struct sockaddr *)peer, peer ? peer_len : NULL,
                     SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int socket_accept_wait(GArray *listen_fds, gboolean nonblocking, GError **errp)
{
    guint n = listen_fds->len;
    g_autofree struct pollfd *pfd = g_new0(struct pollfd, n);

    for (guint i = 0; i < n; i++) {
        pfd[i].fd = g_array_index(listen_fds, int, i);
        pfd[i].events = POLLIN;
    }
    for (;;) {
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "Failed to wait for a connection");
            return -1;
        }
        for (guint i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN)) {
                continue;
            }
            /* Another process may have taken the client first: then wait on. */
            int fd = socket_accept(pfd[i].fd, nonblocking, NULL, NULL);
            if (fd >= 0) {
                return fd;
            }
            if (errno != EAGAIN && errno != ECONNABORTED) {
                error_setg_errno(errp, errno, "Failed to accept a connection");
                return -1;
            }
        }
    }
}

int socket_listen_accept_one(SocketAddr *addr, GError **errp)
{
    GArray *fds = socket_listen(addr, 1, errp);
    if (!fds) {
        return -1;
    }
    int fd = socket_accept_wait(fds, FALSE, errp);
    socket_listen_close(fds, addr);
    return fd;
}

/* ---- connect ---- */

static int pending_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    return err;
}

/*
 * Connects a new non-blocking socket to one resolved address. wait: until the connect is done.
 * Returns the socket (with *in_progress when not waiting and not done), or -1 with errno.
 */
static int connect_sockaddr(const struct sockaddr *sa, socklen_t len, gboolean wait,
                            gboolean *in_progress)
{
    int fd = socket_open(sa->sa_family, SOCK_STREAM, TRUE);
    int err = 0;

    *in_progress = FALSE;
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, sa, len) < 0) {
        err = errno;
        if (err == EINPROGRESS && !wait) {
            *in_progress = TRUE;
            return fd;
        }
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
                continue;
            }
            err = pending_error(fd);
        }
    }
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void set_connect_error(GError **errp, int err, const SocketAddr *addr)
{
    if (addr->kind == SOCKET_ADDR_UNIX) {
        error_setg_errno(errp, err, "Failed to connect to '%s'", addr->path);
    } else {
        error_setg_errno(errp, err, "Failed to connect to '%s:%s'", addr->host, addr->port);
    }
}

/* Options an address asks for on its connected socket. */
static gboolean connected_options(int fd, const SocketAddr *addr, GError **errp)
{
    if (addr->kind == SOCKET_ADDR_INET && addr->keep_alive == SOCKET_FLAG_ON) {
        return socket_set_keepalive(fd, TRUE, errp);
    }
    return TRUE;
}

static int connect_any(const SocketAddr *addr, gboolean wait, gboolean *in_progress, GError **errp)
{
    int fd = -1;

    *in_progress = FALSE;
    if (addr->kind == SOCKET_ADDR_FD) {
        return socket_addr_get_fd(addr, errp);
    }
    if (addr->kind == SOCKET_ADDR_UNIX) {
        struct sockaddr_un un;
        socklen_t len;
        if (!unix_sockaddr(addr, &un, &len, errp)) {
            return -1;
        }
        fd = connect_sockaddr((struct sockaddr *)&un, len, wait, in_progress);
        if (fd < 0) {
            set_connect_error(errp, errno, addr);
        }
        return fd;
    }

    struct addrinfo *res = inet_resolve(addr, addr->port, FALSE, errp);
    int last_errno = ECONNREFUSED;
    if (!res) {
        return -1;
    }
    /* Without waiting only the first address that starts is tried, as a watch has one fd. */
    for (struct addrinfo *e = res; e && fd < 0; e = e->ai_next) {
        fd = connect_sockaddr(e->ai_addr, e->ai_addrlen, wait, in_progress);
        if (fd < 0) {
            last_errno = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_connect_error(errp, last_errno, addr);
        return -1;
    }
    if (!*in_progress && !connected_options(fd, addr, errp)) {
        close(fd);
        return -1;
    }
    return fd;
}

int socket_connect(const SocketAddr *addr, GError **errp)
{
    gboolean in_progress;
    int fd = connect_any(addr, TRUE, &in_progress, errp);
    if (fd >= 0 && addr->kind != SOCKET_ADDR_FD) {
        g_unix_set_fd_nonblocking(fd, FALSE, NULL);
    }
    return fd;
}

int socket_connect_start(const SocketAddr *addr, gboolean *in_progress, GError **errp)
{
    int fd = connect_any(addr, FALSE, in_progress, errp);
    if (fd >= 0 && addr->kind == SOCKET_ADDR_FD && !g_unix_set_fd_nonblocking(fd, TRUE, NULL)) {
        error_setg(errp, "File descriptor '%s' is not a socket", addr->fd);
        return -1;
    }
    return fd;
}

GSource *socket_connect_source_new(int fd)
{
    return g_unix_fd_source_new(fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
}

gboolean socket_connect_finish(int fd, const SocketAddr *addr, GError **errp)
{
    int err = pending_error(fd);
    if (err) {
        set_connect_error(errp, err, addr);
        return FALSE;
    }
    return connected_options(fd, addr, errp);
}
