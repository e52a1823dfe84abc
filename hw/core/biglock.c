/* The machine's big lock (include/hw/core/biglock.h). */
#include "hw/core/biglock.h"

static GRecMutex big_lock;
static __thread int depth;
/* Contexts this thread is to wake once it no longer holds the lock (bql_wake_context). */
static __thread GMainContext *wake_after[4];
static __thread int n_wake_after;

void bql_lock(void)
{
    g_rec_mutex_lock(&big_lock);
    depth++;
}

bool bql_trylock(void)
{
    if (!g_rec_mutex_trylock(&big_lock)) {
        return false;
    }
    depth++;
    return true;
}

void bql_unlock(void)
{
    g_assert(depth > 0);
    depth--;
    g_rec_mutex_unlock(&big_lock);
    if (depth == 0) {
        while (n_wake_after > 0) {
            GMainContext *ctx = wake_after[--n_wake_after];
            g_main_context_wakeup(ctx);
            g_main_context_unref(ctx);
        }
    }
}

void bql_wake_context(GMainContext *ctx)
{
    if (!ctx) {
        ctx = g_main_context_default();
    }
    if (g_main_context_is_owner(ctx)) {
        return; /* not in poll: its next prepare sees what changed */
    }
    if (depth == 0) {
        g_main_context_wakeup(ctx);
        return;
    }
    for (int i = 0; i < n_wake_after; i++) {
        if (wake_after[i] == ctx) {
            return;
        }
    }
    if (n_wake_after == G_N_ELEMENTS(wake_after)) {
        g_main_context_wakeup(ctx);
        return;
    }
    wake_after[n_wake_after++] = g_main_context_ref(ctx);
}

bool bql_locked(void)
{
    return depth > 0;
}

int bql_unlock_all(void)
{
    int held = depth;
    for (int i = 0; i < held; i++) {
        bql_unlock();
    }
    return held;
}

void bql_relock(int levels)
{
    for (int i = 0; i < levels; i++) {
        bql_lock();
    }
}

static gint unlocked_poll(GPollFD *fds, guint nfds, gint timeout)
{
    /* Release every level this thread holds while it sleeps, and take them back after. */
    int held = bql_unlock_all();
    gint r = g_poll(fds, nfds, timeout);
    bql_relock(held);
    return r;
}

void bql_attach_context(GMainContext *ctx)
{
    g_main_context_set_poll_func(ctx, unlocked_poll);
}
