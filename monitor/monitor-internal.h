/* State shared by the monitor's files; not part of the API. */
#ifndef MONITOR_MONITOR_INTERNAL_H
#define MONITOR_MONITOR_INTERNAL_H

#include "monitor/monitor.h"
#include "monitor/json-streamer.h"

#define HMP_LINE_MAX 4095

struct Monitor {
    gboolean is_qmp;
    MonitorWriteFn write;
    void *write_opaque;
    GMutex out_lock;
    void *chardev_fe; /* CharFrontend*, when on a chardev */
    gboolean open;    /* a client is connected */
    gboolean mux_out; /* on a mux that gave the focus to another front-end: output is held */

    /* QMP */
    JsonStreamer *js;
    GQueue *held;         /* parsed input waiting while output is congested */
    gboolean dispatching; /* running held input (guards against nested main loops) */
    gboolean pretty;
    gboolean negotiated; /* command mode */
    gboolean oob;        /* the oob capability was enabled */

    /* HMP */
    GString *line;
    guint echoed_len;   /* what the terminal shows of line, for the redraw */
    int esc_state;      /* inside an escape sequence: 1 after ESC, 2 after ESC [ */
    gboolean suspended; /* quit was given: no prompt, no more input */
};

void monitor_common_init(Monitor *mon, gboolean is_qmp, MonitorWriteFn write, void *opaque);
void monitor_register(Monitor *mon);
void monitor_unregister(Monitor *mon);
/* Raw bytes, no newline conversion. */
void monitor_write_raw(Monitor *mon, const char *buf, size_t len);
void monitor_set_cur(Monitor *mon, Monitor **saved);

/*
 * Output back-pressure (monitor-chardev.c): while a chardev monitor's queued output is over its
 * pause mark, QMP requests already read are held and no more input is read.
 */
gboolean monitor_output_congested(Monitor *mon);
/* Runs held requests while output allows (called when the queue drains). */
void monitor_resume(Monitor *mon);
gboolean monitor_has_held_input(Monitor *mon);
/* Frees the chardev link of a chardev monitor (no-op for custom ones). */
void monitor_chardev_detach(Monitor *mon);

/* Runs one parsed request; returns the response (caller unrefs). */
JsonNode *qmp_dispatch(Monitor *mon, JsonNode *request);
void qmp_session_init(Monitor *mon);
void qmp_session_open(Monitor *mon);
void qmp_session_close(Monitor *mon);
void qmp_session_feed(Monitor *mon, const char *buf, size_t len);
void qmp_session_destroy(Monitor *mon);
void qmp_session_resume(Monitor *mon);
/* Sends an event to @mon if it is in command mode. */
void qmp_send_event(Monitor *mon, JsonNode *event);

void hmp_session_init(Monitor *mon);
void hmp_session_open(Monitor *mon);
void hmp_session_feed(Monitor *mon, const char *buf, size_t len);
void hmp_session_destroy(Monitor *mon);
/* A mux gave (TRUE) or took the focus: the prompt again, or the line ended. */
void hmp_session_focus(Monitor *mon, gboolean in);

#endif
