/*
 * Monitors: QMP (JSON, for management tools) and HMP (text, for people), each on a chardev.
 *
 * QMP session:
 *
 *   client connects --> greeting {"QMP": {version, capabilities}}
 *        |
 *   negotiation mode: only qmp_capabilities; others get CommandNotFound
 *        |  qmp_capabilities ok
 *   command mode: every command; events are delivered; a 2nd qmp_capabilities is refused
 *        |  client leaves
 *   back to negotiation mode, waiting for the next client
 *
 * HMP session: banner and "(qemu) " prompt on connect; each line is echoed as QEMU's readline
 * echoes it, then parsed per the command's args_type (hmp-commands.hx) and run.
 *
 * Threads, as upstream: a QMP monitor on a chardev that can run on another GMainContext (a
 * socket) is read on the monitor I/O thread. There, out-of-band requests ("exec-oob", once the
 * oob capability is on; only commands that allow it: yank, query-yank) run at once, even while
 * the main loop is blocked, and their replies may overtake in-band ones; in-band requests queue
 * for the main loop (at most 8 with oob, else one at a time), and the client's input is read no
 * further while the queue is full. Other monitors (HMP, QMP on stdio or a mux) run on the main
 * loop; there exec-oob is accepted but runs in order with the rest. Events may be emitted from any
 * thread (the monitor list and each monitor's output are locked).
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <glib.h>
#include "chardev/char.h"
#include "util/keyval.h"

typedef struct Monitor Monitor;

/* Transport-independent monitors (tests, fuzzing, human-monitor-command). */
typedef void (*MonitorWriteFn)(void *opaque, const char *buf, size_t len);
Monitor *monitor_new_qmp_custom(MonitorWriteFn write, void *opaque, gboolean pretty);
Monitor *monitor_new_hmp_custom(MonitorWriteFn write, void *opaque);
/* A client arrived (greeting/banner is written) or left (session state is reset). */
void monitor_open(Monitor *mon);
void monitor_close(Monitor *mon);
/* Input bytes from the client. */
void monitor_feed(Monitor *mon, const char *buf, size_t len);
void monitor_free(Monitor *mon);

/*
 * Monitors on chardevs, as the command line creates them (vl.c calls these):
 *   -qmp SPEC / -qmp-pretty SPEC  -> monitor_init_legacy(SPEC, TRUE, pretty, errp)
 *   -monitor SPEC                 -> monitor_init_legacy(SPEC, FALSE, FALSE, errp)
 *   -mon chardev=ID,mode=control|readline[,pretty=on] -> monitor_init_from_opts(opts, errp)
 * SPEC is the legacy chardev string ("stdio", "unix:PATH,server=on,wait=off", "tcp:H:P,...");
 * "none" creates nothing. Chardevs get the ids "compat_monitor0", "compat_monitor1", ...
 */
Monitor *monitor_new_qmp(Chardev *chr, gboolean pretty, GError **errp);
Monitor *monitor_new_hmp(Chardev *chr, GError **errp);
gboolean monitor_init_legacy(const char *spec, gboolean qmp, gboolean pretty, GError **errp);
gboolean monitor_init_from_opts(KeyvalList *opts, GError **errp);

/*
 * Installs the QMP event emitter and the mux's monitor for "mon:" chardevs; vl.c calls it before
 * creating monitors.
 */
void monitor_init_globals(void);
/* Frees every monitor (at exit). */
void monitor_cleanup(void);

/* The monitor whose command is running (NULL outside commands). */
Monitor *monitor_cur(void);
gboolean monitor_is_qmp(const Monitor *mon);
/* Text output ('\n' becomes "\r\n", as QEMU writes it). Returns the bytes formatted. */
int monitor_printf(Monitor *mon, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int monitor_vprintf(Monitor *mon, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);
void monitor_puts(Monitor *mon, const char *s);

/* Statistics for query/tests: QMP inputs rejected as malformed JSON on this monitor. */
guint64 monitor_qmp_parse_errors(const Monitor *mon);

/*
 * Output queueing of a monitor on a chardev (all zero for custom monitors). Output is never
 * written blocking: it queues, is flushed as the client reads, pauses the client's input past
 * 64 KiB, and past 4 MiB is dropped with the client.
 */
typedef struct MonitorOutputStats {
    guint64 pending;         /* bytes queued now */
    guint64 peak;            /* most bytes ever queued at once */
    guint64 dropped_bytes;   /* output discarded: no client, client gone or dropped */
    guint64 clients_dropped; /* clients disconnected for not reading their output */
    guint64 input_pauses;    /* times input reading paused for back-pressure */
} MonitorOutputStats;
void monitor_chardev_get_stats(Monitor *mon, MonitorOutputStats *stats);
/* The chardev id of a monitor on a chardev, else NULL. */
const char *monitor_chardev_id(Monitor *mon);
/* Calls @fn for every monitor (under the monitor list lock: @fn must not create or free one). */
void monitor_foreach(void (*fn)(Monitor *mon, void *opaque), void *opaque);

#endif
