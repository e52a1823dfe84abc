/*
 * Monitors on chardevs, and the -qmp / -monitor / -mon command-line forms: the top of the
 * monitor library (monitor-internal.h). It creates sessions and drives them through the
 * monitor API; the sessions reach back only through the MonitorLinkOps it installs.
 */
#include "monitor-internal.h"
#include "chardev/char.h"
#include "qapi/qapi-runtime.h"
#include "util/error.h"

#include <string.h>

/*
 * Output never blocks the main loop: it is queued per monitor and written as the client takes it.
 *
 *   write --> queue --char_fe_write (what fits)--> client
 *               |  socket full: a writable notification resumes the flush
 *               |  queue >= MON_OUT_PAUSE: input and held requests wait (back-pressure)
 *               |  queue >  MON_OUT_MAX:   queue dropped, client disconnected and counted
 */
/*
 * The pause mark leaves room for one reply on top; the drop mark is far above any one reply
 * (query-qmp-schema is ~22 KiB) and holds tens of thousands of events for a slow client.
 */
#define MON_OUT_PAUSE  (64 * 1024)
#define MON_OUT_MAX    (4 * 1024 * 1024)
#define MON_READ_CHUNK 4096

typedef struct {
    Monitor *mon;
    CharFrontend *fe;
    /* Under mon->out_lock: the queue is out->data[head..len). */
    GByteArray *out;
    gsize head;
    gboolean watch_armed; /* a writable notification is pending */
    gboolean overflowed;  /* dropped; discarding output until the client is gone */
    GSource *drop_idle;   /* disconnects an overflowed client on the main loop */
    gboolean paused;      /* can_read said 0 last time */
    gboolean held;        /* out of a mux's focus: output queued, not written */
    MonitorOutputStats stats;
} ChardevLink;

static gsize link_queued(ChardevLink *link)
{
    return link->out->len - link->head;
}

static void link_discard_locked(ChardevLink *link)
{
    link->stats.dropped_bytes += link_queued(link);
    /* A queue that grew large gives its memory back. */
    if (link->out->len > MON_OUT_PAUSE) {
        g_byte_array_unref(link->out);
        link->out = g_byte_array_new();
    } else {
        g_byte_array_set_size(link->out, 0);
    }
    link->head = 0;
}

static void link_writable(void *opaque);

static void link_flush_locked(ChardevLink *link)
{
    while (link_queued(link)) {
        gsize want = MIN(link_queued(link), G_MAXINT);
        int n = char_fe_write(link->fe, link->out->data + link->head, want);
        if (n > 0) {
            link->head += n;
            continue;
        }
        if (n == 0 && !link->watch_armed) {
            link->watch_armed = char_fe_notify_writable(link->fe, link_writable, link);
        }
        if (n < 0 || !link->watch_armed) {
            /* No client (or it went away): the read side reports the hang-up. */
            link_discard_locked(link);
        }
        break;
    }
    if (!link_queued(link)) {
        link_discard_locked(link);
    } else if (link->head > link->out->len / 2) {
        g_byte_array_remove_range(link->out, 0, link->head);
        link->head = 0;
    }
}

static gboolean link_drop_cb(gpointer data)
{
    ChardevLink *link = data;
    g_mutex_lock(&link->mon->out_lock);
    gboolean mine = link->drop_idle && !g_source_is_destroyed(g_main_current_source());
    if (mine) {
        g_source_unref(link->drop_idle);
        link->drop_idle = NULL;
    }
    g_mutex_unlock(&link->mon->out_lock);
    if (mine) {
        char_fe_disconnect(link->fe);
        /* A backend that cannot drop its client (stdio, file) goes on with what comes next. */
        g_mutex_lock(&link->mon->out_lock);
        link->overflowed = FALSE;
        g_mutex_unlock(&link->mon->out_lock);
    }
    return G_SOURCE_REMOVE;
}

static void chr_write(void *opaque, const char *buf, size_t len)
{
    ChardevLink *link = opaque;
    /* Called with mon->out_lock held, from any thread. */
    if (link->overflowed) {
        link->stats.dropped_bytes += len;
        return;
    }
    g_byte_array_append(link->out, (const guint8 *)buf, len);
    link->stats.peak = MAX(link->stats.peak, link_queued(link));
    if (!link->watch_armed && !link->held) {
        link_flush_locked(link);
    }
    if (link_queued(link) > MON_OUT_MAX) {
        /* The client stopped reading long ago: drop it rather than grow without bound. */
        link_discard_locked(link);
        link->overflowed = TRUE;
        link->stats.clients_dropped++;
        char_fe_cancel_writable(link->fe);
        link->watch_armed = FALSE;
        /* Not from here: we may be inside this monitor's own read handler or another thread. */
        link->drop_idle = g_idle_source_new();
        /* Not behind a busy loop's input: the client must go before more piles up. */
        g_source_set_priority(link->drop_idle, G_PRIORITY_DEFAULT);
        g_source_set_callback(link->drop_idle, link_drop_cb, link, NULL);
        g_source_attach(link->drop_idle, NULL);
    }
}

static void link_writable(void *opaque)
{
    ChardevLink *link = opaque;
    g_mutex_lock(&link->mon->out_lock);
    link->watch_armed = FALSE;
    /* Out of a mux's focus: the output waits for the focus, not for the terminal. */
    if (!link->held) {
        link_flush_locked(link);
    }
    gboolean congested = link_queued(link) >= MON_OUT_PAUSE;
    g_mutex_unlock(&link->mon->out_lock);
    if (!congested) {
        monitor_resume(link->mon);
        char_fe_accept_input(link->fe);
    }
}

static gboolean link_congested(void *opaque)
{
    ChardevLink *link = opaque;
    g_mutex_lock(&link->mon->out_lock);
    gboolean congested = link_queued(link) >= MON_OUT_PAUSE;
    g_mutex_unlock(&link->mon->out_lock);
    return congested;
}

static int chr_can_read(void *opaque)
{
    ChardevLink *link = opaque;
    gboolean pause = link_congested(link) || monitor_has_held_input(link->mon);
    if (pause && !link->paused) {
        g_mutex_lock(&link->mon->out_lock);
        link->stats.input_pauses++;
        g_mutex_unlock(&link->mon->out_lock);
    }
    link->paused = pause;
    return pause ? 0 : MON_READ_CHUNK;
}

static void chr_read(void *opaque, const guint8 *buf, int size)
{
    ChardevLink *link = opaque;
    /* Input can come before the chardev's deferred OPENED event (stdio): greet first. */
    if (!link->mon->open) {
        monitor_open(link->mon);
    }
    monitor_feed(link->mon, (const char *)buf, size);
}

static void link_reset_output(ChardevLink *link)
{
    g_mutex_lock(&link->mon->out_lock);
    link_discard_locked(link);
    link->overflowed = FALSE;
    link->watch_armed = FALSE;
    g_mutex_unlock(&link->mon->out_lock);
}

static void chr_event(void *opaque, ChrEvent event)
{
    ChardevLink *link = opaque;
    if (event == CHR_EVENT_OPENED) {
        /* What was queued for an earlier client (or dropped with it) is not this one's. */
        link_reset_output(link);
        if (!link->mon->open) {
            monitor_open(link->mon);
        }
    } else if (event == CHR_EVENT_CLOSED) {
        monitor_close(link->mon);
        link_reset_output(link);
    } else if (event == CHR_EVENT_MUX_OUT) {
        /* As upstream: the line ends on screen, then output waits for the focus to return. */
        monitor_focus(link->mon, FALSE);
        g_mutex_lock(&link->mon->out_lock);
        link->held = TRUE;
        g_mutex_unlock(&link->mon->out_lock);
    } else if (event == CHR_EVENT_MUX_IN) {
        g_mutex_lock(&link->mon->out_lock);
        link->held = FALSE;
        g_mutex_unlock(&link->mon->out_lock);
        monitor_focus(link->mon, TRUE);
        g_mutex_lock(&link->mon->out_lock);
        if (!link->watch_armed) {
            link_flush_locked(link);
        }
        g_mutex_unlock(&link->mon->out_lock);
    }
}

static void link_detach(void *opaque);

static void link_wake(void *opaque)
{
    ChardevLink *link = opaque;
    char_fe_accept_input(link->fe);
}

static const MonitorLinkOps chardev_link_ops = {
    .congested = link_congested,
    .detach = link_detach,
    .wake = link_wake,
};

/* The link of a monitor on a chardev, else NULL. */
static ChardevLink *link_of(Monitor *mon)
{
    return mon->link == &chardev_link_ops ? mon->write_opaque : NULL;
}

void monitor_chardev_get_stats(Monitor *mon, MonitorOutputStats *stats)
{
    ChardevLink *link = link_of(mon);
    memset(stats, 0, sizeof(*stats));
    if (!link) {
        return;
    }
    g_mutex_lock(&mon->out_lock);
    *stats = link->stats;
    stats->pending = link_queued(link);
    g_mutex_unlock(&mon->out_lock);
}

const char *monitor_chardev_id(Monitor *mon)
{
    ChardevLink *link = link_of(mon);
    return link ? chardev_get_id(char_fe_get_chardev(link->fe)) : NULL;
}

/* monitor_free(): the monitor writes nothing more here. */
static void link_detach(void *opaque)
{
    ChardevLink *link = opaque;
    Monitor *mon = link->mon;
    char_fe_free(link->fe);
    g_mutex_lock(&mon->out_lock);
    if (link->drop_idle) {
        g_source_destroy(link->drop_idle);
        g_source_unref(link->drop_idle);
    }
    g_byte_array_unref(link->out);
    g_mutex_unlock(&mon->out_lock);
    g_free(link);
}

static Monitor *monitor_new_on_chardev(Chardev *chr, gboolean qmp, gboolean pretty, GError **errp)
{
    CharFrontend *fe = char_fe_new(chr, errp);
    if (!fe) {
        return NULL;
    }
    ChardevLink *link = g_new0(ChardevLink, 1);
    link->fe = fe;
    link->out = g_byte_array_new();
    link->mon = qmp ? monitor_new_qmp_custom(chr_write, link, pretty)
                    : monitor_new_hmp_custom(chr_write, link);
    monitor_set_link(link->mon, &chardev_link_ops);
    /* As upstream: QMP is read on the monitor I/O thread where the chardev can run there. */
    GMainContext *ctx = NULL;
    if (qmp) {
        gboolean threaded = chardev_has_feature(chr, CHARDEV_FEATURE_GCONTEXT);
        monitor_qmp_set_io_mode(link->mon, threaded ? QMP_IO_THREAD : QMP_IO_MAIN);
        ctx = threaded ? monitor_io_context() : NULL;
    }
    char_fe_set_handlers(fe, chr_can_read, chr_read, chr_event, link, ctx);
    return link->mon;
}

Monitor *monitor_new_qmp(Chardev *chr, gboolean pretty, GError **errp)
{
    return monitor_new_on_chardev(chr, TRUE, pretty, errp);
}

Monitor *monitor_new_hmp(Chardev *chr, GError **errp)
{
    return monitor_new_on_chardev(chr, FALSE, FALSE, errp);
}

gboolean monitor_init_legacy(const char *spec, gboolean qmp, gboolean pretty, GError **errp)
{
    static int counter;
    if (!qmp && strcmp(spec, "none") == 0) {
        return TRUE;
    }
    g_autofree char *label = g_strdup_printf("compat_monitor%d", counter++);
    GError *err = NULL;
    Chardev *chr = chardev_new_from_legacy(label, spec, &err);
    if (!chr) {
        /* A spec that names no backend fails upstream's parse step, which says so twice. */
        if (g_str_has_suffix(err->message, "is not a valid char driver")) {
            error_report_err(err);
            error_setg(errp, "parse error: %s", spec);
        } else {
            g_propagate_error(errp, err);
        }
        return FALSE;
    }
    return (qmp ? monitor_new_qmp(chr, pretty, errp) : monitor_new_hmp(chr, errp)) != NULL;
}

gboolean monitor_init_from_opts(KeyvalList *opts, GError **errp)
{
    const char *id = keyval_get(opts, "chardev");
    const char *mode = keyval_get(opts, "mode");
    const char *pretty_s = keyval_get(opts, "pretty");
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(opts->pairs, i);
        if (strcmp(p->key, "chardev") && strcmp(p->key, "mode") && strcmp(p->key, "pretty") &&
            strcmp(p->key, "id")) {
            error_setg(errp, "Invalid parameter '%s'", p->key);
            return FALSE;
        }
    }
    if (!id) {
        error_set_missing_param(errp, "chardev");
        return FALSE;
    }
    /* -mon ids only have to be unique among -mon options, as QemuOpts ids are. */
    static GHashTable *mon_ids;
    const char *mon_id = keyval_get(opts, "id");
    if (mon_id) {
        if (!mon_ids) {
            mon_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        }
        if (g_hash_table_contains(mon_ids, mon_id)) {
            error_setg(errp, "Duplicate ID '%s' for mon", mon_id);
            return FALSE;
        }
        g_hash_table_add(mon_ids, g_strdup(mon_id));
    }
    gboolean qmp;
    if (!mode || strcmp(mode, "readline") == 0) {
        qmp = FALSE;
    } else if (strcmp(mode, "control") == 0) {
        qmp = TRUE;
    } else {
        error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode);
        return FALSE;
    }
    gboolean pretty = FALSE;
    if (pretty_s && !keyval_parse_bool("pretty", pretty_s, &pretty, errp)) {
        return FALSE;
    }
    if (pretty && !qmp) {
        error_setg(errp, "'pretty' is not compatible with HMP monitors");
        return FALSE;
    }
    Chardev *chr = chardev_find(id);
    if (!chr) {
        error_setg(errp, "chardev \"%s\" not found", id);
        return FALSE;
    }
    return (qmp ? monitor_new_qmp(chr, pretty, errp) : monitor_new_hmp(chr, errp)) != NULL;
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
