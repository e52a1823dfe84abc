/*
 * Inside the monitor library; not part of the API.
 *
 * Calls go one way, downwards; upward news travels only through the two tables a monitor
 * holds (its session's MonitorOps, its transport's MonitorLinkOps):
 *
 *   monitor-chardev.c   monitors on chardevs (-qmp, -monitor, -mon, mon:), the output queue
 *        |                 creates sessions, then drives them: monitor_open/feed/close,
 *        |                 monitor_focus, monitor_resume
 *        v
 *   qmp.c    hmp.c      the two sessions; each fills a MonitorOps table
 *        |                 monitor_init, monitor_puts, monitor_set_cur,
 *        |                 monitor_output_congested
 *        v
 *   monitor.c           what every monitor has: the list, output, the current monitor, events.
 *                          It knows neither QMP nor HMP nor chardevs: it calls mon->ops and
 *                          mon->link.
 *
 * The command files (qmp-cmds-*.c, hmp-cmds*.c) sit beside monitor-chardev.c and use only
 * monitor/monitor.h, monitor/hmp.h and, for human-monitor-command, monitor_set_cur.
 */
#ifndef MONITOR_MONITOR_INTERNAL_H
#define MONITOR_MONITOR_INTERNAL_H

#include <json-glib/json-glib.h>
#include "monitor/monitor.h"

/*
 * A session: what the client's bytes mean and what it is told. A NULL entry means the session
 * has nothing to do there.
 */
typedef struct MonitorOps {
    /* A client arrived: greeting or banner. */
    void (*open)(Monitor *mon);
    /* It left: back to the state a new client finds. */
    void (*close)(Monitor *mon);
    /* Input bytes from the client. */
    void (*feed)(Monitor *mon, const char *buf, size_t len);
    /* Output drained below the pause mark: run the input held meanwhile. */
    void (*resume)(Monitor *mon);
    /* TRUE while parsed input waits: the transport reads no more. */
    gboolean (*holding)(Monitor *mon);
    /* A mux gave the focus (@in) or took it away. */
    void (*focus)(Monitor *mon, gboolean in);
    /* An event for this client (QMP). */
    void (*event)(Monitor *mon, JsonNode *event);
    /* Frees the session's own state; monitor.c frees the Monitor itself after. */
    void (*destroy)(Monitor *mon);
} MonitorOps;

/* A transport's answers beyond where output goes; @opaque is the monitor's write opaque. */
typedef struct MonitorLinkOps {
    /* Queued output is past its pause mark. */
    gboolean (*congested)(void *opaque);
    /* monitor_free(): the transport lets go of the monitor and frees its link. */
    void (*detach)(void *opaque);
    /* The session can take input again (any thread). */
    void (*wake)(void *opaque);
} MonitorLinkOps;

/* The part every session embeds first. */
struct Monitor {
    const MonitorOps *ops;
    MonitorWriteFn write; /* under out_lock */
    void *write_opaque;
    const MonitorLinkOps *link; /* NULL for custom monitors */
    GMutex out_lock;
    gboolean open; /* a client is connected */
};

void monitor_init(Monitor *mon, const MonitorOps *ops, MonitorWriteFn write, void *opaque);
void monitor_set_link(Monitor *mon, const MonitorLinkOps *link);
void monitor_register(Monitor *mon);
void monitor_unregister(Monitor *mon);
/* Raw bytes, no newline conversion. */
void monitor_write_raw(Monitor *mon, const char *buf, size_t len);
void monitor_set_cur(Monitor *mon, Monitor **saved);
/* Sends a QMP event to every monitor whose session takes events (qapi's emitter). */
void monitor_emit_event(const char *name, JsonObject *data);

/* The session table, for the transport. */
void monitor_focus(Monitor *mon, gboolean in);
void monitor_resume(Monitor *mon);
gboolean monitor_has_held_input(Monitor *mon);
/*
 * Output back-pressure: while a chardev monitor's queued output is over its pause mark, QMP
 * requests already read are held and no more input is read.
 */
gboolean monitor_output_congested(Monitor *mon);
/* A session that held input runs it now: the transport may read again. */
void monitor_wake_input(Monitor *mon);

/*
 * Where a QMP session reads and runs requests:
 *   SYNC   everything at once, on the caller's thread (custom monitors: tests, fuzzing)
 *   MAIN   on the main loop, its chardev cannot run elsewhere (stdio, mux): oob is offered as
 *          upstream offers it there, but exec-oob runs in order with the rest
 *   THREAD the chardev is read on the monitor I/O thread: out-of-band requests run there at
 *          once, in-band ones are queued to the main loop (qmp.c draws the queue)
 */
typedef enum { QMP_IO_SYNC, QMP_IO_MAIN, QMP_IO_THREAD } QmpIoMode;
/* Before the session gets any input. */
void monitor_qmp_set_io_mode(Monitor *mon, QmpIoMode io);
/* The monitor I/O thread's context, the thread started on first use; stopped by
 * monitor_cleanup() before any monitor is freed. */
GMainContext *monitor_io_context(void);

#endif
