/* What QMP and HMP monitors share: the monitor list, output, the current monitor, events. */
#include "monitor-internal.h"
#include "monitor/hmp.h"
#include "qapi/qapi-runtime.h"
#include "qapi/qjson.h"

#include <string.h>

static GMutex monitors_lock;
static GPtrArray *monitors;  /* every live monitor */
static GPrivate cur_mon_key; /* the monitor running a command on this thread */

void monitor_common_init(Monitor *mon, gboolean is_qmp, MonitorWriteFn write, void *opaque)
{
    mon->is_qmp = is_qmp;
    mon->write = write;
    mon->write_opaque = opaque;
    g_mutex_init(&mon->out_lock);
}

void monitor_register(Monitor *mon)
{
    g_mutex_lock(&monitors_lock);
    if (!monitors) {
        monitors = g_ptr_array_new();
    }
    g_ptr_array_add(monitors, mon);
    g_mutex_unlock(&monitors_lock);
}

void monitor_unregister(Monitor *mon)
{
    g_mutex_lock(&monitors_lock);
    if (monitors) {
        g_ptr_array_remove(monitors, mon);
    }
    g_mutex_unlock(&monitors_lock);
}

Monitor *monitor_new_qmp_custom(MonitorWriteFn write, void *opaque, gboolean pretty)
{
    Monitor *mon = g_new0(Monitor, 1);
    monitor_common_init(mon, TRUE, write, opaque);
    mon->pretty = pretty;
    qmp_session_init(mon);
    monitor_register(mon);
    return mon;
}

Monitor *monitor_new_hmp_custom(MonitorWriteFn write, void *opaque)
{
    Monitor *mon = g_new0(Monitor, 1);
    monitor_common_init(mon, FALSE, write, opaque);
    hmp_session_init(mon);
    monitor_register(mon);
    return mon;
}

void monitor_open(Monitor *mon)
{
    mon->open = TRUE;
    if (mon->is_qmp) {
        qmp_session_open(mon);
    } else {
        hmp_session_open(mon);
    }
}

void monitor_close(Monitor *mon)
{
    mon->open = FALSE;
    if (mon->is_qmp) {
        qmp_session_close(mon);
    }
}

void monitor_feed(Monitor *mon, const char *buf, size_t len)
{
    if (mon->is_qmp) {
        qmp_session_feed(mon, buf, len);
    } else {
        hmp_session_feed(mon, buf, len);
    }
}

void monitor_free(Monitor *mon)
{
    if (!mon) {
        return;
    }
    monitor_unregister(mon);
    monitor_chardev_detach(mon);
    if (mon->is_qmp) {
        qmp_session_destroy(mon);
    } else {
        hmp_session_destroy(mon);
    }
    g_mutex_clear(&mon->out_lock);
    g_free(mon);
}

void monitor_cleanup(void)
{
    for (;;) {
        g_mutex_lock(&monitors_lock);
        Monitor *mon = monitors && monitors->len ? g_ptr_array_index(monitors, 0) : NULL;
        g_mutex_unlock(&monitors_lock);
        if (!mon) {
            break;
        }
        monitor_free(mon);
    }
    g_mutex_lock(&monitors_lock);
    if (monitors) {
        g_ptr_array_unref(monitors);
        monitors = NULL;
    }
    g_mutex_unlock(&monitors_lock);
}

void monitor_foreach(void (*fn)(Monitor *mon, void *opaque), void *opaque)
{
    g_mutex_lock(&monitors_lock);
    for (guint i = 0; monitors && i < monitors->len; i++) {
        fn(g_ptr_array_index(monitors, i), opaque);
    }
    g_mutex_unlock(&monitors_lock);
}

void monitor_resume(Monitor *mon)
{
    if (mon->is_qmp) {
        qmp_session_resume(mon);
    }
}

gboolean monitor_has_held_input(Monitor *mon)
{
    return mon->is_qmp && mon->held && !g_queue_is_empty(mon->held);
}

Monitor *monitor_cur(void)
{
    return g_private_get(&cur_mon_key);
}

void monitor_set_cur(Monitor *mon, Monitor **saved)
{
    if (saved) {
        *saved = g_private_get(&cur_mon_key);
    }
    g_private_set(&cur_mon_key, mon);
}

gboolean monitor_is_qmp(const Monitor *mon)
{
    return mon->is_qmp;
}

void monitor_write_raw(Monitor *mon, const char *buf, size_t len)
{
    g_mutex_lock(&mon->out_lock);
    if (mon->write && len) {
        mon->write(mon->write_opaque, buf, len);
    }
    g_mutex_unlock(&mon->out_lock);
}

void monitor_puts(Monitor *mon, const char *s)
{
    GString *out = g_string_sized_new(strlen(s) + 16);
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
    monitor_write_raw(mon, out->str, out->len);
    g_string_free(out, TRUE);
}

int monitor_vprintf(Monitor *mon, const char *fmt, va_list ap)
{
    char *s = g_strdup_vprintf(fmt, ap);
    int n = strlen(s);
    if (mon) {
        monitor_puts(mon, s);
    }
    g_free(s);
    return n;
}

int monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = monitor_vprintf(mon, fmt, ap);
    va_end(ap);
    return n;
}

/* Events go to every QMP monitor in command mode, stamped with the wall-clock time. */
static void monitor_emit_event(const char *name, JsonObject *data)
{
    gint64 now = g_get_real_time();
    JsonObject *ts = json_object_new();
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    JsonObject *ev = json_object_new();
    json_object_set_object_member(ev, "timestamp", ts);
    json_object_set_string_member(ev, "event", name);
    if (data) {
        json_object_set_object_member(ev, "data", json_object_ref(data));
    }
    JsonNode *node = qapi_json_object_node(ev);

    g_mutex_lock(&monitors_lock);
    for (guint i = 0; monitors && i < monitors->len; i++) {
        Monitor *mon = g_ptr_array_index(monitors, i);
        if (mon->is_qmp) {
            qmp_send_event(mon, node);
        }
    }
    g_mutex_unlock(&monitors_lock);
    json_node_unref(node);
}

/* "-serial mon:..." : the HMP monitor that shares the new mux. */
static gboolean mux_monitor_hook(Chardev *chr, GError **errp)
{
    return monitor_new_hmp(chr, errp) != NULL;
}

void monitor_init_globals(void)
{
    qapi_event_set_emitter(monitor_emit_event);
    chardev_set_mux_monitor_hook(mux_monitor_hook);
}
