/* Migration URIs to byte streams: tcp: and unix: sockets (util/sockets), exec: commands. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migration-internal.h"
#include "util/error.h"
#include "util/sockets.h"

static bool is_socket_uri(const char *uri)
{
    return g_str_has_prefix(uri, "tcp:") || g_str_has_prefix(uri, "unix:");
}

/* /bin/sh -c COMMAND, as upstream runs it; the unused end of its stdio is /dev/null. */
static bool spawn_command(const char *cmd, bool writer, MigTransport *t, GError **errp)
{
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES;
    flags |= writer ? G_SPAWN_STDOUT_TO_DEV_NULL : G_SPAWN_STDIN_FROM_DEV_NULL;
    GError *err = NULL;
    int fd = -1;
    if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL, flags, NULL, NULL, &t->pid,
                                  writer ? &fd : NULL, writer ? NULL : &fd, NULL, &err)) {
        error_setg(errp, "%s", err->message);
        g_error_free(err);
        return false;
    }
    /* A larger pipe: fewer switches between us and the command per MiB of stream. */
    fcntl(fd, F_SETPIPE_SZ, 1 << 20);
    t->fd = fd;
    t->what = "command";
    return true;
}

static void transport_init(MigTransport *t)
{
    *t = (MigTransport)MIG_TRANSPORT_INIT;
}

bool mig_transport_connect(const char *uri, MigTransport *t, GError **errp)
{
    transport_init(t);
    if (g_str_has_prefix(uri, "exec:")) {
        return spawn_command(uri + 5, true, t, errp);
    }
    if (is_socket_uri(uri)) {
        g_autoptr(SocketAddr) addr = socket_addr_parse(uri, errp);
        if (!addr) {
            return false;
        }
        t->fd = socket_connect(addr, errp);
        t->what = "socket";
        return t->fd >= 0;
    }
    error_set_param_value(errp, "uri", "a valid migration protocol");
    return false;
}

bool mig_transport_listen(const char *uri, MigTransport *t, GError **errp)
{
    transport_init(t);
    if (g_str_has_prefix(uri, "exec:")) {
        return spawn_command(uri + 5, false, t, errp);
    }
    if (is_socket_uri(uri)) {
        t->addr = socket_addr_parse(uri, errp);
        if (!t->addr) {
            return false;
        }
        /* room for the main connection and multifd's, which come one after the other */
        t->listen_fds = socket_listen(t->addr, MIG_TRANSPORT_BACKLOG, errp);
        if (!t->listen_fds) {
            socket_addr_free(t->addr);
            t->addr = NULL;
            return false;
        }
        t->what = "socket";
        t->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        return true;
    }
    error_setg(errp, "unknown migration protocol: %s", uri);
    return false;
}

void mig_transport_stop_listening(MigTransport *t)
{
    if (t->listen_fds) {
        socket_listen_close(t->listen_fds, t->addr);
        t->listen_fds = NULL;
    }
    g_clear_pointer(&t->addr, socket_addr_free);
}

/* Waits for a connection, or for mig_transport_cancel_accept() at exit; -1 then. */
static int accept_one(MigTransport *t, GError **errp)
{
    guint n = t->listen_fds->len;
    g_autofree struct pollfd *p = g_new0(struct pollfd, n + 1);
    for (guint i = 0; i < n; i++) {
        p[i] = (struct pollfd){.fd = g_array_index(t->listen_fds, int, i), .events = POLLIN};
    }
    p[n] = (struct pollfd){.fd = t->cancel_fd, .events = POLLIN};
    int fd = -1;
    while (fd < 0) {
        if (poll(p, n + 1, -1) < 0 && errno != EINTR) {
            error_setg_errno(errp, errno, "poll");
            break;
        }
        if (p[n].revents) {
            error_setg(errp, "Migration cancelled");
            break;
        }
        for (guint i = 0; i < n && fd < 0; i++) {
            if (p[i].revents) {
                fd = socket_accept(p[i].fd, FALSE, NULL, NULL);
            }
        }
    }
    return fd;
}

bool mig_transport_accept(MigTransport *t, GError **errp)
{
    if (!t->listen_fds) {
        return t->fd >= 0;
    }
    t->fd = accept_one(t, errp);
    return t->fd >= 0;
}

int mig_transport_accept_extra(MigTransport *t, GError **errp)
{
    if (!t->listen_fds) {
        error_setg(errp, "multifd needs a tcp: or unix: migration URI");
        return -1;
    }
    return accept_one(t, errp);
}

void mig_transport_cancel_accept(MigTransport *t)
{
    if (t->cancel_fd >= 0) {
        uint64_t one = 1;
        if (write(t->cancel_fd, &one, sizeof(one)) < 0) {
            /* an eventfd write of 1 cannot fail but by overflow, which one write never is */
        }
    }
}

GPtrArray *mig_transport_listen_addresses(const MigTransport *t)
{
    if (!t->listen_fds) {
        return NULL;
    }
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)qapi_free_SocketAddress);
    for (guint i = 0; i < t->listen_fds->len; i++) {
        int fd = g_array_index(t->listen_fds, int, i);
        SocketAddress *a = g_new0(SocketAddress, 1);
        if (t->addr->kind == SOCKET_ADDR_UNIX) {
            a->type = SOCKET_ADDRESS_TYPE_Q_UNIX;
            a->u.q_unix.path = g_strdup(t->addr->path);
        } else {
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            char *host = NULL, *port = NULL;
            if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
                !socket_sockaddr_host_port((struct sockaddr *)&ss, len, &host, &port)) {
                g_free(a);
                continue;
            }
            a->type = SOCKET_ADDRESS_TYPE_INET;
            a->u.inet.host = host;
            a->u.inet.port = port;
            if (ss.ss_family == AF_INET6) {
                a->u.inet.has_ipv6 = a->u.inet.ipv6 = true;
            } else {
                a->u.inet.has_ipv4 = a->u.inet.ipv4 = true;
            }
        }
        g_ptr_array_add(list, a);
    }
    return list;
}

/* Reaps the command: gives it up to @grace_ms to exit (cut short when @abandoned says so),
 * then SIGTERM, then SIGKILL. */
static void reap_command(GPid pid, int grace_ms, bool (*abandoned)(void))
{
    int status;
    for (int waited = 0, step = 0;; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            return;
        }
        if (step == 0 && abandoned && abandoned()) {
            grace_ms = 0;
        }
        if (waited >= grace_ms && step < 2) {
            kill(pid, step == 0 ? SIGTERM : SIGKILL);
            step++;
            grace_ms = waited + 1000;
        }
        g_usleep(10 * 1000);
    }
}

void mig_transport_close(MigTransport *t, bool finished)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    mig_transport_stop_listening(t);
    if (t->cancel_fd >= 0) {
        close(t->cancel_fd);
        t->cancel_fd = -1;
    }
    if (t->pid > 0) {
        /* A command that took a whole stream (save to a file) gets 5 s to finish writing it;
         * one that will never be used again is ended at once. */
        reap_command(t->pid, finished ? 5000 : 0, t->abandoned);
        t->pid = 0;
    }
}
