/* Migration URIs to byte streams: exec: commands (and, with util/sockets, tcp: and unix:). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migration-internal.h"
#include "util/error.h"

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
    t->fd = fd;
    t->what = "command";
    return true;
}

static void transport_init(MigTransport *t)
{
    *t = (MigTransport){.fd = -1, .listen_fd = -1};
}

bool mig_transport_connect(const char *uri, MigTransport *t, GError **errp)
{
    transport_init(t);
    if (g_str_has_prefix(uri, "exec:")) {
        return spawn_command(uri + 5, true, t, errp);
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
    error_setg(errp, "unknown migration protocol: %s", uri);
    return false;
}

bool mig_transport_accept(MigTransport *t, GError **errp)
{
    return t->fd >= 0;
}

void mig_transport_close(MigTransport *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->listen_fd >= 0) {
        close(t->listen_fd);
        t->listen_fd = -1;
    }
    if (t->pid > 0) {
        /* The command gets 5 s to finish writing what it received (save to a file), then it is
         * killed: a stuck command must not hold the migration. */
        int status;
        for (int i = 0; i < 500; i++) {
            pid_t r = waitpid(t->pid, &status, WNOHANG);
            if (r == t->pid || (r < 0 && errno != EINTR)) {
                t->pid = 0;
                return;
            }
            g_usleep(10 * 1000);
        }
        kill(t->pid, SIGKILL);
        waitpid(t->pid, &status, 0);
        t->pid = 0;
    }
}
