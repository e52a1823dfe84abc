/* The virtual clock: timer order, re-arming, pause/resume, and timers run from a main loop
 * woken by a timer armed from another thread under the big lock, once it lets the lock go. */
#include "hw/core/biglock.h"
#include "hw/core/timer.h"
#include "loop-probe.h"

typedef struct Hit {
    GArray *order;
    int id;
    HwTimer *rearm;
    int64_t rearm_at;
} Hit;

static void hit_cb(void *opaque)
{
    Hit *h = opaque;
    g_array_append_val(h->order, h->id);
    if (h->rearm) {
        hw_timer_mod(h->rearm, h->rearm_at);
        h->rearm = NULL;
    }
}

static void test_order_and_rearm(void)
{
    HwClock *c = hw_clock_new_manual();
    GArray *order = g_array_new(FALSE, FALSE, sizeof(int));
    Hit h[3] = {{order, 1}, {order, 2}, {order, 3}};
    HwTimer *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = hw_timer_new(c, hit_cb, &h[i]);
    }
    hw_timer_mod(t[0], 300);
    hw_timer_mod(t[1], 100);
    hw_timer_mod(t[2], 200);
    h[1].rearm = t[1];
    h[1].rearm_at = 250;
    g_assert_cmpint(hw_clock_next_deadline(c), ==, 100);
    hw_clock_advance(c, 1000);
    g_assert_cmpuint(order->len, ==, 4);
    int want[] = {2, 3, 2, 1};
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(g_array_index(order, int, i), ==, want[i]);
    }
    g_assert_false(hw_timer_pending(t[0]));
    hw_timer_mod(t[0], 2000);
    hw_timer_del(t[0]);
    hw_clock_advance(c, 5000);
    g_assert_cmpuint(order->len, ==, 4);
    for (int i = 0; i < 3; i++) {
        hw_timer_free(t[i]);
    }
    g_array_free(order, TRUE);
    hw_clock_free(c);
}

static void test_pause_resume(void)
{
    HwClock *c = hw_clock_new();
    hw_clock_pause(c);
    int64_t a = hw_clock_ns(c);
    g_usleep(20000);
    g_assert_cmpint(hw_clock_ns(c), ==, a);
    g_assert_false(hw_clock_is_running(c));
    int64_t host_before = g_get_monotonic_time();
    hw_clock_resume(c);
    g_usleep(5000);
    int64_t b = hw_clock_ns(c);
    int64_t host_after = g_get_monotonic_time();
    /* the stopped 20 ms are not counted: the clock advanced no more than the host did since
     * the resume, however long a loaded host made the sleep */
    g_assert_cmpint(b - a, >=, 5000000);
    g_assert_cmpint(b - a, <=, (host_after - host_before + 1) * 1000);
    hw_clock_free(c);
}

typedef struct LoopTest {
    HwClock *clock;
    HwTimer *timer;
    gint fired;
} LoopTest;

static void loop_cb(void *opaque)
{
    LoopTest *lt = opaque;
    g_assert_true(bql_locked());
    g_atomic_int_inc(&lt->fired);
}

static gpointer arm_thread(gpointer data)
{
    LoopTest *lt = data;
    g_usleep(10000);
    bql_lock(); /* as a vCPU does around a device access */
    hw_timer_mod(lt->timer, hw_clock_ns(lt->clock) + 1000000);
    bql_unlock();
    return NULL;
}

static void test_main_loop(void)
{
    GMainContext *ctx = g_main_context_new();
    LoopTest lt = {0};
    lt.clock = hw_clock_new();
    lt.timer = hw_timer_new(lt.clock, loop_cb, &lt);
    hw_clock_attach(lt.clock, ctx);
    bql_attach_context(ctx);
    bql_lock();
    /* nothing armed: the loop would sleep forever, until the other thread arms a timer */
    GThread *th = g_thread_new("arm", arm_thread, &lt);
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (!g_atomic_int_get(&lt.fired) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_thread_join(th);
    g_assert_cmpint(g_atomic_int_get(&lt.fired), ==, 1);
    bql_unlock();
    hw_timer_free(lt.timer);
    hw_clock_free(lt.clock);
    g_main_context_unref(ctx);
}

static void test_loop_rearm_no_wakeup(void)
{
    GMainContext *ctx = g_main_context_new();
    HwClock *clock = hw_clock_new();
    GArray *order = g_array_new(FALSE, FALSE, sizeof(int));
    HwTimer *later = hw_timer_new(clock, hit_cb, &(Hit){.order = order, .id = 2});
    Hit first = {.order = order, .id = 1, .rearm = later};
    HwTimer *due = hw_timer_new(clock, hit_cb, &first);
    /* armed before the clock has a loop to wake; its callback, on the loop's thread, arms a
     * timer earlier than any other (the case that wakes a loop sleeping in poll) */
    first.rearm_at = hw_clock_ns(clock) + 3600 * G_GINT64_CONSTANT(1000000000);
    hw_timer_mod(due, 0);
    hw_clock_attach(clock, ctx);
    bql_attach_context(ctx);
    bql_lock();
    while (order->len == 0) {
        g_main_context_iteration(ctx, FALSE);
    }
    g_assert_true(hw_timer_pending(later));
    g_assert_false(loop_probe_woken(ctx));
    /* the probe sees a real wake-up */
    g_main_context_wakeup(ctx);
    g_assert_true(loop_probe_woken(ctx));
    bql_unlock();
    hw_timer_free(due);
    hw_timer_free(later);
    hw_clock_free(clock);
    g_array_free(order, TRUE);
    g_main_context_unref(ctx);
}

/* A timer armed under the big lock by a thread that does not run the loop (a vCPU's LAPIC
 * write) wakes the loop when that thread lets the lock go, not while the loop would only
 * sleep again on the lock. */
static void test_wake_after_unlock(void)
{
    GMainContext *ctx = g_main_context_new();
    HwClock *clock = hw_clock_new();
    GArray *order = g_array_new(FALSE, FALSE, sizeof(int));
    HwTimer *t = hw_timer_new(clock, hit_cb, &(Hit){.order = order, .id = 1});
    hw_clock_attach(clock, ctx);
    bql_lock();
    bql_lock();
    hw_timer_mod(t, hw_clock_ns(clock) + 3600 * G_GINT64_CONSTANT(1000000000));
    bql_unlock();
    g_assert_false(loop_probe_woken(ctx)); /* still held once */
    bql_unlock();
    g_assert_true(loop_probe_woken(ctx));
    /* without the lock the wake-up is at once */
    while (g_main_context_iteration(ctx, FALSE)) {
    }
    g_assert_false(loop_probe_woken(ctx));
    hw_timer_mod(t, hw_clock_ns(clock) + 60 * G_GINT64_CONSTANT(1000000000));
    g_assert_true(loop_probe_woken(ctx));
    hw_timer_free(t);
    hw_clock_free(clock);
    g_array_free(order, TRUE);
    g_main_context_unref(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hw-timer/order-rearm", test_order_and_rearm);
    g_test_add_func("/hw-timer/pause-resume", test_pause_resume);
    g_test_add_func("/hw-timer/main-loop", test_main_loop);
    g_test_add_func("/hw-timer/loop-rearm-no-wakeup", test_loop_rearm_no_wakeup);
    g_test_add_func("/hw-timer/wake-after-unlock", test_wake_after_unlock);
    return g_test_run();
}
