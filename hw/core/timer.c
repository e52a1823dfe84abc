/* The virtual clock and device timers (include/hw/core/timer.h). */
#include "hw/core/timer.h"
#include "hw/core/biglock.h"
#include "migration/vmstate.h"

#include <time.h>

struct HwTimer {
    HwClock *clock;
    HwTimerCb cb;
    void *opaque;
    int64_t deadline; /* -1: not armed */
};

struct HwClock {
    bool manual;
    bool running;
    int64_t offset;     /* virtual = host monotonic + offset while running */
    int64_t stopped_at; /* virtual time frozen while stopped */
    int64_t manual_now;
    GPtrArray *timers; /* of HwTimer*, every timer of the clock, armed or not */
    void (*notify)(void *opaque);
    void *notify_opaque;
    int64_t saved_ns; /* the state table's copy of hw_clock_ns() */
};

/* In ns, not GLib's us: the guest's TSC counts this clock at 1 GHz. */
static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

HwClock *hw_clock_new(void)
{
    HwClock *c = g_new0(HwClock, 1);
    c->running = true;
    c->offset = -host_ns();
    c->timers = g_ptr_array_new();
    return c;
}

HwClock *hw_clock_new_manual(void)
{
    HwClock *c = hw_clock_new();
    c->manual = true;
    return c;
}

void hw_clock_free(HwClock *clock)
{
    if (!clock) {
        return;
    }
    /* Timers still registered belong to devices already torn down; detach them. */
    for (guint i = 0; i < clock->timers->len; i++) {
        HwTimer *t = g_ptr_array_index(clock->timers, i);
        t->clock = NULL;
    }
    g_ptr_array_free(clock->timers, TRUE);
    g_free(clock);
}

int64_t hw_clock_ns(HwClock *clock)
{
    if (clock->manual) {
        return clock->manual_now;
    }
    if (!clock->running) {
        return clock->stopped_at;
    }
    return host_ns() + clock->offset;
}

void hw_clock_pause(HwClock *clock)
{
    if (clock->manual || !clock->running) {
        return;
    }
    clock->stopped_at = hw_clock_ns(clock);
    clock->running = false;
}

void hw_clock_resume(HwClock *clock)
{
    if (clock->manual || clock->running) {
        return;
    }
    clock->offset = clock->stopped_at - host_ns();
    clock->running = true;
    if (clock->notify) {
        clock->notify(clock->notify_opaque); /* deadlines count again */
    }
}

bool hw_clock_is_running(HwClock *clock)
{
    return clock->manual || clock->running;
}

void hw_clock_set_notify(HwClock *clock, void (*notify)(void *opaque), void *opaque)
{
    clock->notify = notify;
    clock->notify_opaque = opaque;
}

int64_t hw_clock_next_deadline(HwClock *clock)
{
    int64_t next = INT64_MAX;
    for (guint i = 0; i < clock->timers->len; i++) {
        HwTimer *t = g_ptr_array_index(clock->timers, i);
        if (t->deadline >= 0 && t->deadline < next) {
            next = t->deadline;
        }
    }
    return next;
}

/* The earliest timer expired at `now`, or NULL. */
static HwTimer *earliest_expired(HwClock *clock, int64_t now)
{
    HwTimer *best = NULL;
    for (guint i = 0; i < clock->timers->len; i++) {
        HwTimer *t = g_ptr_array_index(clock->timers, i);
        if (t->deadline >= 0 && t->deadline <= now && (!best || t->deadline < best->deadline)) {
            best = t;
        }
    }
    return best;
}

int64_t hw_clock_run_timers(HwClock *clock)
{
    int64_t now = hw_clock_ns(clock);
    HwTimer *t;
    /* A callback may re-arm its timer in the past (a guest programming a tiny period); the
     * bound keeps one call from spinning forever on it. */
    for (int budget = 1000; budget > 0 && (t = earliest_expired(clock, now)); budget--) {
        t->deadline = -1;
        t->cb(t->opaque);
    }
    return hw_clock_next_deadline(clock);
}

void hw_clock_advance(HwClock *clock, int64_t ns)
{
    int64_t target = clock->manual_now + ns;
    HwTimer *t;
    while ((t = earliest_expired(clock, target))) {
        if (t->deadline > clock->manual_now) {
            clock->manual_now = t->deadline;
        }
        t->deadline = -1;
        t->cb(t->opaque);
    }
    clock->manual_now = target;
}

HwTimer *hw_timer_new(HwClock *clock, HwTimerCb cb, void *opaque)
{
    HwTimer *t = g_new0(HwTimer, 1);
    t->clock = clock;
    t->cb = cb;
    t->opaque = opaque;
    t->deadline = -1;
    g_ptr_array_add(clock->timers, t);
    return t;
}

void hw_timer_free(HwTimer *timer)
{
    if (!timer) {
        return;
    }
    if (timer->clock) {
        g_ptr_array_remove(timer->clock->timers, timer);
    }
    g_free(timer);
}

void hw_timer_mod(HwTimer *timer, int64_t deadline_ns)
{
    HwClock *c = timer->clock;
    if (deadline_ns < 0) {
        deadline_ns = 0;
    }
    bool earlier = c && deadline_ns < hw_clock_next_deadline(c);
    timer->deadline = deadline_ns;
    if (earlier && c->notify) {
        c->notify(c->notify_opaque);
    }
}

void hw_timer_del(HwTimer *timer)
{
    timer->deadline = -1;
}

bool hw_timer_pending(HwTimer *timer)
{
    return timer->deadline >= 0;
}

int64_t hw_timer_expire_time(HwTimer *timer)
{
    return timer->deadline;
}

/* --- running timers from a GMainContext ------------------------------------------------- */

typedef struct ClockSource {
    GSource source;
    HwClock *clock;
} ClockSource;

static gboolean clock_prepare(GSource *source, gint *timeout)
{
    ClockSource *cs = (ClockSource *)source;
    int64_t next = hw_clock_next_deadline(cs->clock);
    if (next == INT64_MAX || !hw_clock_is_running(cs->clock)) {
        *timeout = -1;
        return FALSE;
    }
    int64_t now = hw_clock_ns(cs->clock);
    if (next <= now) {
        *timeout = 0;
        return TRUE;
    }
    /* poll has millisecond resolution: round up, the timers fire on the next pass */
    int64_t ms = (next - now + 999999) / 1000000;
    *timeout = ms > G_MAXINT ? G_MAXINT : (gint)ms;
    return FALSE;
}

static gboolean clock_check(GSource *source)
{
    ClockSource *cs = (ClockSource *)source;
    return hw_clock_is_running(cs->clock) &&
           hw_clock_next_deadline(cs->clock) <= hw_clock_ns(cs->clock);
}

static gboolean clock_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    ClockSource *cs = (ClockSource *)source;
    hw_clock_run_timers(cs->clock);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs clock_source_funcs = {
    .prepare = clock_prepare,
    .check = clock_check,
    .dispatch = clock_dispatch,
};

static void wake_context(void *opaque)
{
    /* The loop's own thread (a timer callback re-arming, a frame from the tap raising the
     * LAPIC's) is not in poll: its next prepare sees the new deadline. Waking it would cost
     * an eventfd write, one extra iteration and the read that drains it. */
    bql_wake_context(opaque);
}

guint hw_clock_attach(HwClock *clock, GMainContext *ctx)
{
    GSource *s = g_source_new(&clock_source_funcs, sizeof(ClockSource));
    ((ClockSource *)s)->clock = clock;
    g_source_set_name(s, "hw-clock");
    guint id = g_source_attach(s, ctx);
    g_source_unref(s);
    hw_clock_set_notify(clock, wake_context, ctx ? ctx : g_main_context_default());
    return id;
}

/* --- state ------------------------------------------------------------------------------ */

static void clock_pre_save(void *opaque)
{
    HwClock *clock = opaque;
    clock->saved_ns = hw_clock_ns(clock);
}

/* The loaded time becomes now, running or not; device timers armed on the old time are
 * re-armed by their devices' post_load, which come after this section. */
static void clock_post_load(void *opaque, int version)
{
    HwClock *clock = opaque;
    if (clock->manual) {
        clock->manual_now = clock->saved_ns;
    } else if (!clock->running) {
        clock->stopped_at = clock->saved_ns;
    } else {
        clock->offset = clock->saved_ns - host_ns();
    }
    if (clock->notify) {
        clock->notify(clock->notify_opaque);
    }
}

static bool clock_state_check(const void *scratch, const void *live, int version, GError **errp)
{
    if (((const HwClock *)scratch)->saved_ns < 0) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "negative virtual time");
        return false;
    }
    return true;
}

const VMStateDescription vmstate_hw_clock = {
    .name = "clock",
    .version = 1,
    .size = sizeof(HwClock),
    .pre_save = clock_pre_save,
    .check = clock_state_check,
    .post_load = clock_post_load,
    .fields = (const VMStateField[]){VMSTATE_I64(HwClock, saved_ns), VMSTATE_END},
};
