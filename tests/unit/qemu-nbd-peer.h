/*
 * Debian's qemu-nbd as a live peer for unit tests: one raw image exported as "disk" on a unix
 * socket, started and stopped by the test.
 */
#ifndef TESTS_UNIT_QEMU_NBD_PEER_H
#define TESTS_UNIT_QEMU_NBD_PEER_H

#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* A failed test must not leave qemu-nbd behind holding the test's output pipe open. */
static inline void qemu_nbd_die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Serves @img (read-only with @readonly) at @sock; returns once the socket is there. */
static inline GPid qemu_nbd_start(const char *img, const char *sock, bool readonly)
{
    const char *argv[] = {
        "qemu-nbd", "-t", "-f", "raw", "-x", "disk", "-k", sock, img, readonly ? "-r" : NULL, NULL};
    GPid pid;
    GError *err = NULL;
    unlink(sock);
    g_assert_true(
        g_spawn_async(NULL, (char **)argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL,
                      qemu_nbd_die_with_parent, NULL, &pid, &err));
    g_assert_no_error(err);
    for (int i = 0; i < 200 && !g_file_test(sock, G_FILE_TEST_EXISTS); i++) {
        g_usleep(50 * 1000);
    }
    g_assert_true(g_file_test(sock, G_FILE_TEST_EXISTS));
    return pid;
}

/* Ends it with @sig and reaps it. */
static inline void qemu_nbd_stop(GPid pid, int sig)
{
    kill(pid, sig);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
}

#endif
