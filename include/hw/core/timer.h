/*
 * The machine's virtual clock and device timers.
 *
 * The clock counts nanoseconds of guest time: it follows the host's monotonic clock while the
 * VM runs and stands still while it is stopped (QEMU_CLOCK_VIRTUAL's rule). Tests use a manual
 * clock that only moves when told.
 *
 * Timers fire from hw_clock_run_timers(), which the vCPU loop calls between instruction
 * slices (and after a halt's sleep), with the machine's big lock held:
 *
 *   vCPU loop: run slice ─► hw_clock_run_timers() ─► expired callbacks (PIT, RTC, LAPIC...)
 *              halted?  ─► sleep until hw_clock_next_deadline() or a kick
 *
 * When a timer is armed earlier than the current next deadline, the notify callback runs so
 * that a sleeping vCPU loop can recompute its sleep.
 */
#ifndef HW_CORE_TIMER_H
#define HW_CORE_TIMER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define NANOSECONDS_PER_SECOND 1000000000LL

typedef struct HwClock HwClock;
typedef struct HwTimer HwTimer;
typedef void (*HwTimerCb)(void *opaque);

HwClock *hw_clock_new(void);
/* A clock that moves only through hw_clock_advance() (unit tests). */
HwClock *hw_clock_new_manual(void);
void hw_clock_free(HwClock *clock);

int64_t hw_clock_ns(HwClock *clock);
void hw_clock_pause(HwClock *clock);
void hw_clock_resume(HwClock *clock);
bool hw_clock_is_running(HwClock *clock);
/* Manual clocks: moves time forward and fires every timer that expires on the way, in order. */
void hw_clock_advance(HwClock *clock, int64_t ns);
void hw_clock_set_notify(HwClock *clock, void (*notify)(void *opaque), void *opaque);

/* Fires every expired timer; returns the next deadline (ns) or INT64_MAX if none is armed. */
int64_t hw_clock_run_timers(HwClock *clock);
int64_t hw_clock_next_deadline(HwClock *clock);

HwTimer *hw_timer_new(HwClock *clock, HwTimerCb cb, void *opaque);
void hw_timer_free(HwTimer *timer);
/* Arms the timer for absolute clock time deadline_ns (re-arming replaces the old deadline). */
void hw_timer_mod(HwTimer *timer, int64_t deadline_ns);
void hw_timer_del(HwTimer *timer);
bool hw_timer_pending(HwTimer *timer);
int64_t hw_timer_expire_time(HwTimer *timer);

/* Runs the clock's timers from ctx's main loop (under the big lock, which the loop's thread
 * holds): a GSource whose timeout is the next deadline, woken when a timer is armed earlier
 * from another thread. Returns the source id. */
guint hw_clock_attach(HwClock *clock, GMainContext *ctx);

/* The virtual clock's state: its time in ns. Loading it sets the clock's time (running or
 * not), so it is loaded before the devices whose timers and timestamps count on it. */
struct VMStateDescription;
extern const struct VMStateDescription vmstate_hw_clock;

/* a * b / c without overflow for the clock conversions devices do (ticks <-> ns). */
static inline uint64_t muldiv64(uint64_t a, uint32_t b, uint32_t c)
{
    return (uint64_t)(((unsigned __int128)a * b) / c);
}

#endif
