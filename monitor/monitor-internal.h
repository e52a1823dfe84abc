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
    void *chardev_fe;      /* CharFrontend*, when on a chardev */
    gboolean open;         /* a client is connected */

    /* QMP */
    JsonStreamer *js;
    gboolean pretty;
    gboolean negotiated;   /* command mode */
    gboolean oob;          /* the oob capability was enabled */

    /* HMP */
    GString *line;
    guint echoed_len;      /* what the terminal shows of line, for the redraw */
    int esc_state;         /* inside an escape sequence: 1 after ESC, 2 after ESC [ */
};

void monitor_common_init(Monitor *mon, gboolean is_qmp, MonitorWriteFn write, void *opaque);
void monitor_register(Monitor *mon);
void monitor_unregister(Monitor *mon);
/* Raw bytes, no newline conversion. */
void monitor_write_raw(Monitor *mon, const char *buf, size_t len);
void monitor_set_cur(Monitor *mon, Monitor **saved);

/* Runs one parsed request; returns the response (caller unrefs). */
JsonNode *qmp_dispatch(Monitor *mon, JsonNode *request);
void qmp_session_init(Monitor *mon);
void qmp_session_open(Monitor *mon);
void qmp_session_close(Monitor *mon);
void qmp_session_feed(Monitor *mon, const char *buf, size_t len);
void qmp_session_destroy(Monitor *mon);
/* Sends an event to @mon if it is in command mode. */
void qmp_send_event(Monitor *mon, JsonNode *event);

void hmp_session_init(Monitor *mon);
void hmp_session_open(Monitor *mon);
void hmp_session_feed(Monitor *mon, const char *buf, size_t len);
void hmp_session_destroy(Monitor *mon);

#endif
