/*
 * What every monitor has, whatever its session and transport: the monitor list, output, the
 * current monitor, events. Sessions and transports are reached through their tables only.
 */
#include "monitor-internal.h"
#include "qapi/qapi-runtime.h"
#include "qapi/qjson.h"

#include <malloc.h>
#include <string.h>

static GMutex monitors_lock;
static GPtrArray *monitors;  /* every live monitor */
static GPrivate cur_mon_key; /* the monitor running a command on this thread */

void monitor_init(Monitor *mon, const MonitorOps *ops, MonitorWriteFn write, void *opaque)
{
    mon->ops = ops;
    mon->write = write;
    mon->write_opaque = opaque;
    g_mutex_init(&mon->out_lock);
}

void monitor_set_link(Monitor *mon, const MonitorLinkOps *link)
{
    mon->link = link;
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

void monitor_open(Monitor *mon)
{
    mon->open = TRUE;
    mon->ops->open(mon);
}

void monitor_close(Monitor *mon)
{
    mon->open = FALSE;
    if (mon->ops->close) {
        mon->ops->close(mon);
    }
}

void monitor_feed(Monitor *mon, const char *buf, size_t len)
{
    mon->ops->feed(mon, buf, len);
}

void monitor_focus(Monitor *mon, gboolean in)
{
    if (mon->ops->focus) {
        mon->ops->focus(mon, in);
    }
}

void monitor_resume(Monitor *mon)
{
    if (mon->ops->resume) {
        mon->ops->resume(mon);
    }
}

gboolean monitor_has_held_input(Monitor *mon)
{
    return mon->ops->holding && mon->ops->holding(mon);
}

gboolean monitor_output_congested(Monitor *mon)
{
    return mon->link && mon->link->congested(mon->write_opaque);
}

void monitor_wake_input(Monitor *mon)
{
    if (mon->link && mon->link->wake) {
        mon->link->wake(mon->write_opaque);
    }
}

/* The monitor I/O thread: QMP input and out-of-band commands, whatever the main loop does. */
static GMutex io_lock;
static GMainContext *io_ctx;
static GMainLoop *io_loop;
static GThread *io_thread;

static gpointer io_thread_fn(gpointer opaque)
{
    g_main_context_push_thread_default(io_ctx);
    g_main_loop_run(io_loop);
    g_main_context_pop_thread_default(io_ctx);
    return NULL;
}

GMainContext *monitor_io_context(void)
{
    g_mutex_lock(&io_lock);
    if (!io_ctx) {
        /*
         * QMP input is parsed on this thread, in its own malloc arena, and glibc gives back
         * neither the top of a thread's arena (malloc_trim does not reach it) nor, once it
         * raised its thresholds after a first big free, any big block: fixed thresholds keep
         * a huge request's buffers mmapped, so that its memory goes when it is refused.
         */
        mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
        mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
        io_ctx = g_main_context_new();
        io_loop = g_main_loop_new(io_ctx, FALSE);
        io_thread = g_thread_new("mon_iothread", io_thread_fn, NULL);
    }
    g_mutex_unlock(&io_lock);
    return io_ctx;
}

static void io_thread_stop(void)
{
    g_mutex_lock(&io_lock);
    GThread *t = io_thread;
    io_thread = NULL;
    g_mutex_unlock(&io_lock);
    if (t) {
        g_main_loop_quit(io_loop);
        g_thread_join(t);
    }
}

void monitor_free(Monitor *mon)
{
    if (!mon) {
        return;
    }
    monitor_unregister(mon);
    if (mon->link) {
        /* No more output to the link from here on, then the link goes. */
        g_mutex_lock(&mon->out_lock);
        mon->write = NULL;
        g_mutex_unlock(&mon->out_lock);
        mon->link->detach(mon->write_opaque);
        mon->link = NULL;
    }
    mon->ops->destroy(mon);
    g_mutex_clear(&mon->out_lock);
    g_free(mon);
}

void monitor_cleanup(void)
{
    /* No handler runs on the I/O thread while its monitors go. */
    io_thread_stop();
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

/* Events go to every monitor whose session takes them, stamped with the wall-clock time. */
void monitor_emit_event(const char *name, JsonObject *data)
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
        if (mon->ops->event) {
            mon->ops->event(mon, node);
        }
    }
    g_mutex_unlock(&monitors_lock);
    json_node_unref(node);
}
