/*
 * The machine's big lock: device state is touched by the vCPU thread (port/MMIO accesses,
 * interrupt acknowledge) and by the main loop (timers, network and chardev input, monitor
 * commands). Whoever touches a device holds this lock; it is recursive.
 *
 *   main loop thread: holds the lock all the time, except inside poll() (bql_attach_context)
 *   vCPU thread:      takes it around each bus callback (pc_machine_pio_read & co.)
 *
 * So main-loop handlers (a netdev delivering a frame to virtio-net, a serial chardev read)
 * run with the lock held without knowing it, and the vCPU gets the lock while the main loop
 * sleeps in poll.
 */
#ifndef HW_CORE_BIGLOCK_H
#define HW_CORE_BIGLOCK_H

#include <glib.h>
#include <stdbool.h>

void bql_lock(void);
void bql_unlock(void);
/* Takes the lock only if nobody else holds it; true if it did (then bql_unlock() it). */
bool bql_trylock(void);
/* True if the calling thread holds the lock. */
bool bql_locked(void);
/* Drops every level the calling thread holds (to wait for a vCPU that may be blocked on the
 * lock) and returns how many; bql_relock() takes them back. */
int bql_unlock_all(void);
void bql_relock(int levels);
/* Wakes ctx's thread from poll, unless the caller runs ctx (it is not in poll then). A
 * caller holding the lock wakes it only when it lets the lock go: woken at once, that thread
 * left poll only to sleep again on the lock (a vCPU's MMIO write holds it) and be woken a
 * second time by the unlock, a futex syscall on each side per virtio kick or timer write. */
void bql_wake_context(GMainContext *ctx);
/* The thread running ctx holds the lock except while it polls; call bql_lock() once on that
 * thread before running the loop. */
void bql_attach_context(GMainContext *ctx);

#endif
