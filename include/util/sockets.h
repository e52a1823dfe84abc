/*
 * Stream sockets as QEMU addresses them: tcp (inet), unix and inherited descriptors.
 *
 * One parsed address (SocketAddr) feeds listen, connect and accept. Errors are worded as
 * upstream's util/qemu-sockets.c words them, so that every caller prints the same text.
 *
 *   server:  socket_listen() --> listening fds --(G_IO_IN)--> socket_accept() --> stream fd
 *            socket_listen_accept_one(): all of that in one blocking call
 *   client:  socket_connect()                          blocking, one call
 *            socket_connect_start() --in progress--> watch socket_connect_source_new(fd)
 *                      |                                  on any GMainContext, then
 *                      +--done at once--> fd              socket_connect_finish()
 *
 * Every descriptor returned is close-on-exec. Listening and accepted sockets are non-blocking
 * unless the function says otherwise.
 */
#ifndef UTIL_SOCKETS_H
#define UTIL_SOCKETS_H

#include <glib.h>
#include <sys/socket.h>

typedef enum {
    SOCKET_ADDR_INET,
    SOCKET_ADDR_UNIX,
    SOCKET_ADDR_FD,
} SocketAddrKind;

/* A flag the user may leave out: ipv4=, ipv6=, keep-alive=. */
typedef enum {
    SOCKET_FLAG_UNSET = -1,
    SOCKET_FLAG_OFF = 0,
    SOCKET_FLAG_ON = 1,
} SocketFlag;

typedef struct SocketAddr {
    SocketAddrKind kind;
    /* SOCKET_ADDR_INET */
    char *host; /* without brackets; "" is any address */
    char *port; /* a number or a service name */
    int to;     /* a listener tries port..to; 0 for the port alone */
    SocketFlag ipv4, ipv6, keep_alive;
    /* SOCKET_ADDR_UNIX */
    char *path;
    gboolean abstract; /* Linux abstract namespace: nothing in the file system */
    gboolean tight;    /* abstract only: the address is as long as the name (upstream default) */
    /* SOCKET_ADDR_FD: a descriptor number */
    char *fd;
} SocketAddr;

SocketAddr *socket_addr_new_inet(const char *host, const char *port);
SocketAddr *socket_addr_new_unix(const char *path);
SocketAddr *socket_addr_new_fd(const char *fd);
SocketAddr *socket_addr_copy(const SocketAddr *addr);
void socket_addr_free(SocketAddr *addr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SocketAddr, socket_addr_free)

/*
 * "unix:PATH", "fd:N", "tcp:HOST:PORT" or "HOST:PORT" (host may be "[v6]" or empty), the inet
 * forms followed by ",to=N", ",ipv4[=on|off]", ",ipv6[=on|off]", ",keep-alive[=on|off]".
 * As upstream's socket_parse() and inet_parse().
 */
SocketAddr *socket_addr_parse(const char *str, GError **errp);
/*
 * "HOST:PORT" at the start of str, up to the first comma after the port; *rest points there.
 * Host and port are as long as upstream's sscanf fields allow (64 and 32 characters).
 */
gboolean socket_split_host_port(const char *str, char **host, char **port, const char **rest,
                                GError **errp);
/* The inet part alone: "HOST:PORT[,options]". */
SocketAddr *socket_inet_parse(const char *str, GError **errp);
/* "tcp:HOST:PORT" (a v6 host in brackets), "unix:PATH[,abstract=on[,tight=on]]" or "fd:N". */
char *socket_addr_to_string(const SocketAddr *addr);

/* AF_INET or AF_INET6 when only that flag is on, else AF_UNSPEC; -1 if both are off. */
int socket_addr_family(const SocketAddr *addr, GError **errp);

/* The descriptor an fd address names, checked to be a socket. */
int socket_addr_get_fd(const SocketAddr *addr, GError **errp);

/*
 * Listens with SO_REUSEADDR and the given backlog. An inet address gives one socket per resolved
 * address (IPv4 and IPv6 of one name) on the first port of port..to that binds, and is updated
 * to the address bound (so port 0 tells the port chosen). A unix path is unlinked first. An fd
 * address is taken as a socket that already listens. Returns a GArray of int.
 */
GArray *socket_listen(SocketAddr *addr, int backlog, GError **errp);
/* Closes what socket_listen() opened and removes a unix socket's file. */
void socket_listen_close(GArray *fds, const SocketAddr *addr);

/* One pending connection, or -1 with errno (EAGAIN: none yet). peer may be NULL. */
int socket_accept(int listen_fd, gboolean nonblocking, struct sockaddr_storage *peer,
                  socklen_t *peer_len);
/* Blocks until a client connects to any of the listening fds. */
int socket_accept_wait(GArray *listen_fds, gboolean nonblocking, GError **errp);
/* Listens, waits for one client, stops listening: a blocking stream (-incoming tcp:/unix:). */
int socket_listen_accept_one(SocketAddr *addr, GError **errp);

/* Connects and waits: a blocking stream, trying each resolved address in turn. */
int socket_connect(const SocketAddr *addr, GError **errp);
/*
 * Starts a connect without waiting. Returns a non-blocking socket, with *in_progress set while
 * the connect goes on; or -1 with errp set.
 */
int socket_connect_start(const SocketAddr *addr, gboolean *in_progress, GError **errp);
/* Dispatches once the connect in progress on fd has completed, well or not. */
GSource *socket_connect_source_new(int fd);
/* The outcome of that connect, worded as socket_connect() words it. */
gboolean socket_connect_finish(int fd, const SocketAddr *addr, GError **errp);

gboolean socket_set_nodelay(int fd, GError **errp);
gboolean socket_set_keepalive(int fd, gboolean on, GError **errp);

/*
 * Building blocks for callers that word their own errors (-netdev socket keeps upstream
 * net/socket.c's messages). Each returns -1 with errno set.
 */
int socket_open(int family, int type, gboolean nonblocking);
/* Binds with SO_REUSEADDR, so a restarted server does not wait for TIME_WAIT to pass. */
int socket_bind_reuse(int fd, const struct sockaddr *sa, socklen_t len);

/*
 * "HOST:PORT" into a socket address, as -netdev socket's listen=, connect=, udp= and localaddr=
 * take it (upstream's parse_host_port() wording). An empty host is INADDR_ANY.
 */
gboolean socket_parse_host_port(const char *str, struct sockaddr_storage *ss, socklen_t *len,
                                GError **errp);
/* Numeric host (no brackets) and port of a socket address; FALSE if it has none. */
gboolean socket_sockaddr_host_port(const struct sockaddr *sa, socklen_t len, char **host,
                                   char **port);
/* host, or "[host]" when it is an IPv6 literal. */
char *socket_host_bracketed(const char *host);

#endif
