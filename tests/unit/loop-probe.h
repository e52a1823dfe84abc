/*
 * Whether a GMainContext has a wake-up pending, without waiting: the tests of main-loop
 * paths that must not signal the context's eventfd (each signal costs the loop a write, an
 * extra iteration and a read) check it right after the dispatch that could have.
 */
#ifndef TESTS_UNIT_LOOP_PROBE_H
#define TESTS_UNIT_LOOP_PROBE_H

#include <glib.h>
#include <stdbool.h>

/* True if any fd the context would poll (its wake-up eventfd among them) is ready now. */
static inline bool loop_probe_woken(GMainContext *ctx)
{
    GPollFD fds[16];
    gint prio, timeout;

    g_assert_true(g_main_context_acquire(ctx));
    g_main_context_prepare(ctx, &prio);
    gint n = g_main_context_query(ctx, prio, &timeout, fds, G_N_ELEMENTS(fds));
    g_assert_cmpint(n, <=, (gint)G_N_ELEMENTS(fds));
    bool woken = g_poll(fds, n, 0) > 0;
    g_main_context_release(ctx);
    return woken;
}

#endif
