/* util/sockets: address spellings and their errors, listen/connect/accept on real sockets. */
#include "util/error.h"
#include "util/sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static SocketAddr *parse_ok(const char *str)
{
    GError *err = NULL;
    SocketAddr *addr = socket_addr_parse(str, &err);
    g_assert_no_error(err);
    g_assert_nonnull(addr);
    return addr;
}

static void test_parse_inet(void)
{
    g_autoptr(SocketAddr) a = parse_ok("tcp:127.0.0.1:4444");
    g_assert_cmpint(a->kind, ==, SOCKET_ADDR_INET);
    g_assert_cmpstr(a->host, ==, "127.0.0.1");
    g_assert_cmpstr(a->port, ==, "4444");
    g_assert_cmpint(a->to, ==, 0);
    g_assert_cmpint(a->ipv4, ==, SOCKET_FLAG_UNSET);

    g_autoptr(SocketAddr) b = parse_ok("localhost:http");
    g_assert_cmpstr(b->host, ==, "localhost");
    g_assert_cmpstr(b->port, ==, "http");

    g_autoptr(SocketAddr) c = parse_ok("[::1]:5");
    g_assert_cmpstr(c->host, ==, "::1");
    g_assert_cmpstr(c->port, ==, "5");
    g_autofree char *cs = socket_addr_to_string(c);
    g_assert_cmpstr(cs, ==, "tcp:[::1]:5");

    g_autoptr(SocketAddr) d = parse_ok(":6000,to=6010,ipv4,ipv6=off,keep-alive=on");
    g_assert_cmpstr(d->host, ==, "");
    g_assert_cmpstr(d->port, ==, "6000");
    g_assert_cmpint(d->to, ==, 6010);
    g_assert_cmpint(d->ipv4, ==, SOCKET_FLAG_ON);
    g_assert_cmpint(d->ipv6, ==, SOCKET_FLAG_OFF);
    g_assert_cmpint(d->keep_alive, ==, SOCKET_FLAG_ON);
    g_assert_cmpint(socket_addr_family(d, NULL), ==, AF_INET);

    g_autoptr(SocketAddr) e = socket_addr_copy(d);
    g_assert_cmpstr(e->port, ==, "6000");
    g_assert_true(e->port != d->port);
}

static void test_parse_unix_fd(void)
{
    g_autoptr(SocketAddr) u = parse_ok("unix:/run/x.sock");
    g_assert_cmpint(u->kind, ==, SOCKET_ADDR_UNIX);
    g_assert_cmpstr(u->path, ==, "/run/x.sock");
    g_assert_false(u->abstract);
    g_assert_true(u->tight);
    g_autofree char *us = socket_addr_to_string(u);
    g_assert_cmpstr(us, ==, "unix:/run/x.sock");

    g_autoptr(SocketAddr) f = parse_ok("fd:7");
    g_assert_cmpint(f->kind, ==, SOCKET_ADDR_FD);
    g_assert_cmpstr(f->fd, ==, "7");
    g_autofree char *fs = socket_addr_to_string(f);
    g_assert_cmpstr(fs, ==, "fd:7");
}

/* Upstream QEMU 7.2's wording for each (checked against Debian's -incoming). */
static void test_parse_errors(void)
{
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"abc", "error parsing address 'abc'"},
        {"tcp:abc", "error parsing address 'abc'"},
        {"host:", "error parsing address 'host:'"},
        {":", "error parsing port in address ':'"},
        {":,to=3", "error parsing port in address ':,to=3'"},
        {"[::1", "error parsing IPv6 address '[::1'"},
        {"[::1]5", "error parsing IPv6 address '[::1]5'"},
        {"[]:5", "error parsing IPv6 address '[]:5'"},
        {"1.2.3.4:5,to=x", "error parsing to= argument"},
        {"1.2.3.4:5,to=9x", "error parsing to= argument"},
        {"h:1,ipv4=x", "error parsing 'ipv4' flag '=x'"},
        {"h:1,ipv6=on,,x", "error parsing 'ipv6' flag '=on,,x'"},
        {"h:1,keep-alive=yes", "error parsing 'keep-alive' flag '=yes'"},
        {"unix:", "invalid Unix socket address"},
        {"fd:", "invalid file descriptor address"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *err = NULL;
        g_assert_null(socket_addr_parse(cases[i].in, &err));
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_error_free(err);
    }

    /* Host and port are as long as upstream's sscanf fields allow, no longer. */
    g_autofree char *host64 = g_strnfill(64, 'h');
    g_autofree char *ok = g_strdup_printf("%s:1", host64);
    g_autoptr(SocketAddr) a = parse_ok(ok);
    g_assert_cmpstr(a->host, ==, host64);
    g_autofree char *bad = g_strdup_printf("h%s:1", host64);
    GError *err = NULL;
    g_assert_null(socket_addr_parse(bad, &err));
    g_autofree char *want = g_strdup_printf("error parsing address '%s'", bad);
    g_assert_cmpstr(err->message, ==, want);
    g_error_free(err);
}

static void test_family(void)
{
    static const struct {
        const char *in;
        int family;
    } cases[] = {
        {"h:1", AF_UNSPEC},
        {"h:1,ipv4", AF_INET},
        {"h:1,ipv6", AF_INET6},
        {"h:1,ipv4,ipv6", AF_UNSPEC},
        {"h:1,ipv4=off", AF_UNSPEC},
        {"h:1,ipv6=off", AF_UNSPEC},
        {"h:1,ipv4,ipv6=off", AF_INET},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(SocketAddr) a = parse_ok(cases[i].in);
        g_assert_cmpint(socket_addr_family(a, NULL), ==, cases[i].family);
    }
    g_autoptr(SocketAddr) none = parse_ok("h:1,ipv4=off,ipv6=off");
    GError *err = NULL;
    g_assert_cmpint(socket_addr_family(none, &err), ==, -1);
    g_assert_cmpstr(err->message, ==, "Cannot disable IPv4 and IPv6 at same time");
    g_error_free(err);
}

static void test_parse_host_port(void)
{
    struct sockaddr_storage ss;
    socklen_t len;
    GError *err = NULL;

    g_assert_true(socket_parse_host_port("127.0.0.1:99", &ss, &len, &err));
    g_assert_no_error(err);
    g_assert_cmpint(ss.ss_family, ==, AF_INET);
    g_assert_cmpint(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 99);
    g_assert_true(socket_parse_host_port(":7", &ss, &len, NULL));
    g_assert_cmpint(((struct sockaddr_in *)&ss)->sin_addr.s_addr, ==, htonl(INADDR_ANY));

    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"1234", "host address '1234' doesn't contain ':' separating host from port"},
        {":abc", "port number 'abc' is invalid"},
        {"h:70000", "port number '70000' is invalid"},
        {"no.such.host.invalid:1", "can't resolve host address 'no.such.host.invalid'"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_false(socket_parse_host_port(cases[i].in, &ss, &len, &err));
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_clear_error(&err);
    }
}

static gboolean is_nonblocking(int fd)
{
    return fcntl(fd, F_GETFL) & O_NONBLOCK;
}

static gboolean is_cloexec(int fd)
{
    return fcntl(fd, F_GETFD) & FD_CLOEXEC;
}

/* Bytes written at one end arrive at the other, both ways. */
static void assert_stream(int a, int b)
{
    char buf[8] = {0};
    g_assert_cmpint(write(a, "ping", 4), ==, 4);
    g_assert_cmpint(read(b, buf, sizeof(buf)), ==, 4);
    g_assert_cmpstr(buf, ==, "ping");
    g_assert_cmpint(write(b, "pong", 4), ==, 4);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(read(a, buf, sizeof(buf)), ==, 4);
    g_assert_cmpstr(buf, ==, "pong");
}

/* listen, blocking connect, accept; returns the listener's address as bound. */
static void listen_connect_accept(SocketAddr *addr)
{
    GError *err = NULL;
    GArray *lfds = socket_listen(addr, 1, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(lfds->len, >=, 1);
    int lfd = g_array_index(lfds, int, 0);
    g_assert_true(is_nonblocking(lfd));
    g_assert_true(is_cloexec(lfd));

    /* Nobody yet: a non-blocking accept says so. */
    g_assert_cmpint(socket_accept(lfd, TRUE, NULL, NULL), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);

    int c = socket_connect(addr, &err);
    g_assert_no_error(err);
    g_assert_cmpint(c, >=, 0);
    g_assert_false(is_nonblocking(c));
    g_assert_true(is_cloexec(c));

    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    int s = socket_accept_wait(lfds, FALSE, &err);
    g_assert_no_error(err);
    g_assert_cmpint(s, >=, 0);
    g_assert_false(is_nonblocking(s));
    g_assert_true(is_cloexec(s));
    g_assert_cmpint(getpeername(s, (struct sockaddr *)&peer, &plen), ==, 0);
    assert_stream(c, s);
    close(c);
    close(s);
    socket_listen_close(lfds, addr);
}

static void test_tcp_v4(void)
{
    g_autoptr(SocketAddr) addr = parse_ok("tcp:127.0.0.1:0");
    listen_connect_accept(addr);
    /* The port bound is told back. */
    g_assert_cmpstr(addr->host, ==, "127.0.0.1");
    g_assert_cmpint(atoi(addr->port), >, 0);
}

static gboolean host_has_ipv6_loopback(void)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    gboolean ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static void test_tcp_v6(void)
{
    if (!host_has_ipv6_loopback()) {
        g_test_skip("this host has no ::1");
        return;
    }
    g_autoptr(SocketAddr) addr = parse_ok("[::1]:0,ipv6");
    listen_connect_accept(addr);
    g_assert_cmpstr(addr->host, ==, "::1");
    g_autofree char *name = socket_addr_to_string(addr);
    g_assert_true(g_str_has_prefix(name, "tcp:[::1]:"));
}

static void test_unix(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-sockets-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    g_autoptr(SocketAddr) addr = socket_addr_new_unix(path);
    struct stat st;

    /* A stale file where the socket goes is replaced, as upstream does. */
    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    listen_connect_accept(addr);
    /* Closing the listener removes its file. */
    g_assert_cmpint(stat(path, &st), ==, -1);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_unix_abstract(void)
{
    g_autofree char *name = g_strdup_printf("qemu-colo-test-sockets-%d", getpid());
    g_autoptr(SocketAddr) addr = socket_addr_new_unix(name);
    addr->abstract = TRUE;
    g_autofree char *str = socket_addr_to_string(addr);
    g_autofree char *want = g_strdup_printf("unix:%s,abstract=on,tight=on", name);
    g_assert_cmpstr(str, ==, want);
    listen_connect_accept(addr);
    g_assert_false(g_file_test(name, G_FILE_TEST_EXISTS));
}

static void test_unix_errors(void)
{
    g_autofree char *longpath = g_strnfill(200, 'p');
    g_autoptr(SocketAddr) too_long = socket_addr_new_unix(longpath);
    g_autoptr(SocketAddr) missing = socket_addr_new_unix("/nonexistent/dir/s");
    GError *err = NULL;

    g_assert_null(socket_listen(too_long, 1, &err));
    g_autofree char *want = g_strdup_printf("UNIX socket path '%s' is too long", longpath);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    g_assert_cmpint(socket_connect(missing, &err), ==, -1);
    g_assert_cmpstr(err->message, ==,
                    "Failed to connect to '/nonexistent/dir/s': No such file or directory");
    g_clear_error(&err);
    g_assert_null(socket_listen(missing, 1, &err));
    g_assert_cmpstr(err->message, ==,
                    "Failed to bind socket to /nonexistent/dir/s: No such file or directory");
    g_clear_error(&err);
}

/* A port nobody listens on: bound, then closed. */
static char *closed_port(void)
{
    g_autoptr(SocketAddr) addr = parse_ok("127.0.0.1:0");
    GArray *fds = socket_listen(addr, 1, NULL);
    g_assert_nonnull(fds);
    socket_listen_close(fds, addr);
    return g_strdup(addr->port);
}

static void test_connect_refused(void)
{
    g_autofree char *port = closed_port();
    g_autoptr(SocketAddr) addr = socket_addr_new_inet("127.0.0.1", port);
    GError *err = NULL;

    g_assert_cmpint(socket_connect(addr, &err), ==, -1);
    g_autofree char *want =
        g_strdup_printf("Failed to connect to '127.0.0.1:%s': Connection refused", port);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    /* The same refusal reached without waiting. */
    gboolean in_progress;
    int fd = socket_connect_start(addr, &in_progress, &err);
    if (fd >= 0) {
        g_assert_true(in_progress);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
        g_assert_false(socket_connect_finish(fd, addr, &err));
        close(fd);
    }
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
}

static void test_resolution_failure(void)
{
    g_autoptr(SocketAddr) addr = socket_addr_new_inet("no.such.host.invalid", "1");
    GError *err = NULL;
    g_assert_cmpint(socket_connect(addr, &err), ==, -1);
    g_assert_true(
        g_str_has_prefix(err->message, "address resolution failed for no.such.host.invalid:1: "));
    g_clear_error(&err);
}

static void test_port_in_use(void)
{
    g_autoptr(SocketAddr) a = parse_ok("127.0.0.1:0");
    GArray *fds = socket_listen(a, 1, NULL);
    g_assert_nonnull(fds);
    g_autoptr(SocketAddr) b = socket_addr_new_inet("127.0.0.1", a->port);
    GError *err = NULL;
    g_assert_null(socket_listen(b, 1, &err));
    g_assert_cmpstr(err->message, ==, "Failed to find an available port: Address already in use");
    g_clear_error(&err);

    /* With a range the next free port is taken. */
    b->to = atoi(a->port) + 20;
    GArray *fds2 = socket_listen(b, 1, &err);
    g_assert_no_error(err);
    g_assert_cmpint(atoi(b->port), >, atoi(a->port));
    g_assert_cmpint(atoi(b->port), <=, b->to);
    socket_listen_close(fds2, b);
    socket_listen_close(fds, a);
}

static gboolean connect_done(gint fd, GIOCondition cond, gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static void test_connect_nonblocking(void)
{
    g_autoptr(SocketAddr) addr = parse_ok("127.0.0.1:0");
    GArray *lfds = socket_listen(addr, 1, NULL);
    GError *err = NULL;
    gboolean in_progress, done = FALSE;
    g_assert_nonnull(lfds);

    int fd = socket_connect_start(addr, &in_progress, &err);
    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(is_nonblocking(fd));
    /* Linux finishes even a loopback TCP handshake after connect() returns. */
    g_assert_true(in_progress);

    GMainContext *ctx = g_main_context_new();
    GSource *src = socket_connect_source_new(fd);
    g_source_set_callback(src, G_SOURCE_FUNC(connect_done), &done, NULL);
    g_source_attach(src, ctx);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!done && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_assert_true(done);
    g_assert_true(socket_connect_finish(fd, addr, &err));
    g_assert_no_error(err);

    int s = socket_accept(g_array_index(lfds, int, 0), TRUE, NULL, NULL);
    g_assert_cmpint(s, >=, 0);
    g_assert_true(is_nonblocking(s));
    g_unix_set_fd_nonblocking(fd, FALSE, NULL);
    g_unix_set_fd_nonblocking(s, FALSE, NULL);
    assert_stream(fd, s);
    close(s);
    close(fd);
    g_source_unref(src);
    g_main_context_unref(ctx);
    socket_listen_close(lfds, addr);
}

static int get_int_opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    g_assert_cmpint(getsockopt(fd, level, name, &v, &len), ==, 0);
    return v;
}

static void test_options(void)
{
    g_autoptr(SocketAddr) addr = parse_ok("127.0.0.1:0");
    GArray *lfds = socket_listen(addr, 1, NULL);
    g_assert_nonnull(lfds);
    int lfd = g_array_index(lfds, int, 0);
    g_assert_cmpint(get_int_opt(lfd, SOL_SOCKET, SO_REUSEADDR), !=, 0);

    int fd = socket_connect(addr, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE), ==, 0);
    g_assert_cmpint(get_int_opt(fd, IPPROTO_TCP, TCP_NODELAY), ==, 0);
    g_assert_true(socket_set_nodelay(fd, NULL));
    g_assert_true(socket_set_keepalive(fd, TRUE, NULL));
    g_assert_cmpint(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE), !=, 0);
    g_assert_cmpint(get_int_opt(fd, IPPROTO_TCP, TCP_NODELAY), !=, 0);
    g_assert_true(socket_set_keepalive(fd, FALSE, NULL));
    g_assert_cmpint(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE), ==, 0);
    close(fd);

    /* keep-alive=on in the address is applied by connect. */
    addr->keep_alive = SOCKET_FLAG_ON;
    fd = socket_connect(addr, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(get_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE), !=, 0);
    close(fd);

    /* Not a socket: the setters say why. */
    GError *err = NULL;
    int devnull = open("/dev/null", O_RDONLY);
    g_assert_false(socket_set_keepalive(devnull, TRUE, &err));
    g_assert_cmpstr(err->message, ==, "Unable to set KEEPALIVE: Socket operation on non-socket");
    g_clear_error(&err);
    close(devnull);
    socket_listen_close(lfds, addr);
}

static void test_fd_address(void)
{
    int sv[2], pipefd[2];
    GError *err = NULL;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(pipe(pipefd), ==, 0);

    g_autofree char *s0 = g_strdup_printf("%d", sv[0]);
    g_autoptr(SocketAddr) good = socket_addr_new_fd(s0);
    g_assert_cmpint(socket_addr_get_fd(good, &err), ==, sv[0]);
    g_assert_no_error(err);
    /* A client on an inherited fd: connect gives the descriptor itself. */
    g_assert_cmpint(socket_connect(good, &err), ==, sv[0]);
    g_assert_no_error(err);

    g_autofree char *p0 = g_strdup_printf("%d", pipefd[0]);
    g_autoptr(SocketAddr) pipe_addr = socket_addr_new_fd(p0);
    g_assert_cmpint(socket_addr_get_fd(pipe_addr, &err), ==, -1);
    g_autofree char *want = g_strdup_printf("File descriptor '%s' is not a socket", p0);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    g_autoptr(SocketAddr) word = socket_addr_new_fd("abc");
    g_assert_cmpint(socket_addr_get_fd(word, &err), ==, -1);
    g_assert_cmpstr(err->message, ==, "Unable to parse FD number abc");
    g_clear_error(&err);

    close(sv[0]);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* A client that retries until the server listens, as a migration source would. */
static gpointer late_client(gpointer data)
{
    SocketAddr *addr = data;
    for (int i = 0; i < 500; i++) {
        int fd = socket_connect(addr, NULL);
        if (fd >= 0) {
            g_assert_cmpint(write(fd, "ping", 4), ==, 4);
            close(fd);
            return GINT_TO_POINTER(TRUE);
        }
        g_usleep(10000);
    }
    return GINT_TO_POINTER(FALSE);
}

static void test_listen_accept_one(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-sockets-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "incoming", NULL);
    g_autoptr(SocketAddr) addr = socket_addr_new_unix(path);
    GThread *t = g_thread_new("client", late_client, addr);
    GError *err = NULL;
    char buf[8] = {0};

    int fd = socket_listen_accept_one(addr, &err);
    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    g_assert_false(is_nonblocking(fd));
    g_assert_cmpint(read(fd, buf, sizeof(buf)), ==, 4);
    g_assert_cmpstr(buf, ==, "ping");
    g_assert_true(GPOINTER_TO_INT(g_thread_join(t)));
    close(fd);
    /* The listener is gone with its file. */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sockets/parse/inet", test_parse_inet);
    g_test_add_func("/sockets/parse/unix-fd", test_parse_unix_fd);
    g_test_add_func("/sockets/parse/errors", test_parse_errors);
    g_test_add_func("/sockets/parse/family", test_family);
    g_test_add_func("/sockets/parse/host-port", test_parse_host_port);
    g_test_add_func("/sockets/tcp/v4", test_tcp_v4);
    g_test_add_func("/sockets/tcp/v6", test_tcp_v6);
    g_test_add_func("/sockets/tcp/refused", test_connect_refused);
    g_test_add_func("/sockets/tcp/resolution-failure", test_resolution_failure);
    g_test_add_func("/sockets/tcp/port-in-use", test_port_in_use);
    g_test_add_func("/sockets/tcp/connect-nonblocking", test_connect_nonblocking);
    g_test_add_func("/sockets/tcp/options", test_options);
    g_test_add_func("/sockets/unix/path", test_unix);
    g_test_add_func("/sockets/unix/abstract", test_unix_abstract);
    g_test_add_func("/sockets/unix/errors", test_unix_errors);
    g_test_add_func("/sockets/fd", test_fd_address);
    g_test_add_func("/sockets/listen-accept-one", test_listen_accept_one);
    return g_test_run();
}
