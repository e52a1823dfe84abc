/* The colo-compare user object (include/net/colo-compare.h). */
#include "net/colo-compare.h"

#include <string.h>

#include "chardev/char.h"
#include "net/colo-notify.h"
#include "net/frame.h"
#include "qom/iothread.h"
#include "util/error.h"
#include "util/log.h"

enum { IN_PRIMARY, IN_SECONDARY, IN_NOTIFY, IN__MAX };

/* Miscompare events leave at most this often per object (checkpoint requests are not limited). */
#define EVENT_MIN_INTERVAL_MS 200

enum {
    PROP_0,
    PROP_PRIMARY_IN,
    PROP_SECONDARY_IN,
    PROP_OUTDEV,
    PROP_IOTHREAD,
    PROP_NOTIFY_DEV,
    PROP_COMPARE_TIMEOUT,
    PROP_EXPIRED_SCAN_CYCLE,
    PROP_MAX_QUEUE_SIZE,
    PROP_VNET_HDR_SUPPORT,
};

typedef struct Input {
    ColoCompare *s;
    int which;
    CharFrontend *fe;
    NetFrameReader reader;
} Input;

struct _ColoCompare {
    QomObject parent_instance;

    char *chr_name[IN__MAX]; /* primary_in, secondary_in, notify_dev */
    char *outdev;
    char *iothread_id;
    guint32 compare_timeout;
    guint32 expired_scan_cycle;
    guint64 max_queue_size;
    gboolean vnet_hdr;

    IOThread *iothread;
    GMainContext *ctx;
    Input in[IN__MAX];
    CharFrontend *out_fe;
    GSource *scan_timer;
    ColoCompareEngine *engine;
    ColoPassthrough pt;
    GByteArray *out_batch;
    guint batch_frames;
    gboolean running;

    gint64 last_event_ms;
    guint64 send_failures;
    guint64 notify_failures;
    guint64 notify_unsupported;
    guint64 events_suppressed;
};

G_DEFINE_TYPE(ColoCompare, colo_compare, QOM_TYPE_OBJECT)

/* ---- process-wide registry: checkpoint notifiers, the event hook, live objects ---- */

typedef struct Notifier {
    ColoCompareNotifyFunc fn;
    void *opaque;
} Notifier;

static GMutex registry_lock;
static GArray *notifiers; /* of Notifier */
static GPtrArray *compares;
static ColoCompareEventFunc event_hook;

void colo_compare_register_notifier(ColoCompareNotifyFunc fn, void *opaque)
{
    g_mutex_lock(&registry_lock);
    if (!notifiers) {
        notifiers = g_array_new(FALSE, FALSE, sizeof(Notifier));
    }
    Notifier n = {fn, opaque};
    g_array_append_val(notifiers, n);
    g_mutex_unlock(&registry_lock);
}

void colo_compare_unregister_notifier(ColoCompareNotifyFunc fn, void *opaque)
{
    g_mutex_lock(&registry_lock);
    for (guint i = 0; notifiers && i < notifiers->len; i++) {
        Notifier *n = &g_array_index(notifiers, Notifier, i);
        if (n->fn == fn && n->opaque == opaque) {
            g_array_remove_index(notifiers, i);
            break;
        }
    }
    g_mutex_unlock(&registry_lock);
}

void colo_compare_set_event_hook(ColoCompareEventFunc fn)
{
    g_mutex_lock(&registry_lock);
    event_hook = fn;
    g_mutex_unlock(&registry_lock);
}

ColoCompare *colo_compare_find(const char *id)
{
    QomObject *obj = qom_user_find(id, "colo-compare");
    return obj ? COLO_COMPARE(obj) : NULL;
}

GPtrArray *colo_compare_list(void)
{
    GPtrArray *out = g_ptr_array_new();
    g_mutex_lock(&registry_lock);
    for (guint i = 0; compares && i < compares->len; i++) {
        g_ptr_array_add(out, compares->pdata[i]);
    }
    g_mutex_unlock(&registry_lock);
    return out;
}

const char *colo_compare_get_id(ColoCompare *s)
{
    return qom_object_get_name(QOM_OBJECT(s));
}

ColoPassthrough *colo_compare_get_passthrough(ColoCompare *s)
{
    return &s->pt;
}

/* ---- output (iothread) ---- */

static void out_flush(ColoCompare *s)
{
    if (!s->out_batch->len) {
        return;
    }
    if (char_fe_write_all(s->out_fe, s->out_batch->data, s->out_batch->len) < 0) {
        s->send_failures += s->batch_frames;
        error_report("colo send primary packet failed");
    }
    g_byte_array_set_size(s->out_batch, 0);
    s->batch_frames = 0;
}

static void on_release(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    ColoCompare *s = opaque;
    net_frame_append(s->out_batch, data, len, s->vnet_hdr, vhdr);
    s->batch_frames++;
    /* Bound the batch: a flush of thousands of packets leaves in slices. */
    if (s->out_batch->len >= 256 * 1024) {
        out_flush(s);
    }
}

static gboolean notify_send(ColoCompare *s, const char *msg)
{
    GByteArray *b = g_byte_array_new();
    colo_notify_append(b, msg);
    int ret = char_fe_write_all(s->in[IN_NOTIFY].fe, b->data, b->len);
    g_byte_array_unref(b);
    return ret >= 0;
}

TRACE_POINT(trace_colo_compare_main, "colo_compare_main");
TRACE_POINT(trace_colo_compare_miscompare, "colo_compare_miscompare");

static void on_checkpoint(void *opaque, ColoCheckpointReason reason, ColoProtoClass cls,
                          const ColoConnKey *key)
{
    ColoCompare *s = opaque;
    if (G_UNLIKELY(g_atomic_int_get(&trace_colo_compare_miscompare.enabled))) {
        char conn[96] = "";
        if (key) {
            colo_conn_key_str(key, conn, sizeof(conn));
        }
        trace_emit(&trace_colo_compare_miscompare, "id %s reason %s protocol %s %s",
                   colo_compare_get_id(s), colo_checkpoint_reason_str(reason),
                   colo_proto_class_str(cls), conn);
    }
    /* Packets released before the request leave before it. */
    out_flush(s);
    if (s->in[IN_NOTIFY].fe) {
        if (!notify_send(s, COLO_NOTIFY_DO_CHECKPOINT)) {
            s->notify_failures++;
            error_report("Notify Xen COLO-frame failed");
        }
    } else {
        g_mutex_lock(&registry_lock);
        for (guint i = 0; notifiers && i < notifiers->len; i++) {
            Notifier *n = &g_array_index(notifiers, Notifier, i);
            n->fn(n->opaque, s, reason);
        }
        g_mutex_unlock(&registry_lock);
    }

    gint64 now = g_get_monotonic_time() / 1000;
    g_mutex_lock(&registry_lock);
    ColoCompareEventFunc hook = event_hook;
    g_mutex_unlock(&registry_lock);
    if (hook) {
        if (s->last_event_ms && now - s->last_event_ms < EVENT_MIN_INTERVAL_MS) {
            s->events_suppressed++;
        } else {
            s->last_event_ms = now;
            hook(colo_compare_get_id(s), reason, cls, key);
        }
    }
}

/* ---- input (iothread) ---- */

static void on_packet(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    Input *in = opaque;
    trace_fire(trace_colo_compare_main, "%s len %u",
               in->which == IN_PRIMARY ? "primary_in" : "secondary_in", len);
    colo_compare_engine_input(in->s->engine,
                              in->which == IN_PRIMARY ? COLO_SIDE_PRIMARY : COLO_SIDE_SECONDARY,
                              data, len, vhdr, g_get_monotonic_time() / 1000);
}

static void on_notify(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    Input *in = opaque;
    ColoCompare *s = in->s;
    switch (colo_notify_parse(data, len)) {
    case COLO_NOTIFY_MSG_PROXY_INIT:
        if (!notify_send(s, COLO_NOTIFY_PROXY_INIT_REPLY)) {
            s->notify_failures++;
            error_report("Notify Xen COLO-frame INIT failed");
        }
        break;
    case COLO_NOTIFY_MSG_CHECKPOINT_DONE:
        colo_compare_engine_flush(s->engine);
        break;
    default:
        s->notify_unsupported++;
        error_report("COLO compare got unsupported instruction");
        break;
    }
}

static int can_read(void *opaque)
{
    return 64 * 1024;
}

static void on_read(void *opaque, const guint8 *buf, int size)
{
    Input *in = opaque;
    net_frame_reader_feed(&in->reader, buf, size);
    out_flush(in->s);
}

static void on_event(void *opaque, ChrEvent event)
{
    Input *in = opaque;
    /* A new peer starts on a frame boundary; upstream kept the old partial frame. */
    if (event == CHR_EVENT_OPENED || event == CHR_EVENT_CLOSED) {
        net_frame_reader_reset(&in->reader);
    }
}

static gboolean on_scan(gpointer opaque)
{
    ColoCompare *s = opaque;
    colo_compare_engine_scan(s->engine, g_get_monotonic_time() / 1000);
    out_flush(s);
    return G_SOURCE_CONTINUE;
}

/* ---- life cycle ---- */

static gboolean attach_chardev(const char *name, CharFrontend **fe, GError **errp)
{
    Chardev *chr = chardev_find(name);
    if (!chr) {
        error_setg(errp, "Device '%s' not found", name);
        return FALSE;
    }
    if (!chardev_has_feature(chr, CHARDEV_FEATURE_RECONNECTABLE)) {
        error_setg(errp, "chardev \"%s\" is not reconnectable", name);
        return FALSE;
    }
    if (!chardev_has_feature(chr, CHARDEV_FEATURE_GCONTEXT)) {
        error_setg(errp, "chardev \"%s\" cannot switch context", name);
        return FALSE;
    }
    *fe = char_fe_new(chr, errp);
    return *fe != NULL;
}

static void detach_all(ColoCompare *s)
{
    for (int i = 0; i < IN__MAX; i++) {
        if (s->in[i].fe) {
            char_fe_free(s->in[i].fe);
            s->in[i].fe = NULL;
        }
    }
    if (s->out_fe) {
        char_fe_free(s->out_fe);
        s->out_fe = NULL;
    }
}

static gboolean start_on_iothread(gpointer opaque)
{
    ColoCompare *s = opaque;
    for (int i = 0; i < IN__MAX; i++) {
        if (s->in[i].fe) {
            char_fe_set_handlers(s->in[i].fe, can_read, on_read, on_event, &s->in[i], s->ctx);
        }
    }
    s->scan_timer = g_timeout_source_new(s->expired_scan_cycle);
    g_source_set_callback(s->scan_timer, on_scan, s, NULL);
    g_source_attach(s->scan_timer, s->ctx);
    return G_SOURCE_REMOVE;
}

static gboolean colo_compare_complete(QomObject *obj, GError **errp)
{
    ColoCompare *s = COLO_COMPARE(obj);
    const char *pri = s->chr_name[IN_PRIMARY], *sec = s->chr_name[IN_SECONDARY];

    if (!pri || !*pri || !sec || !*sec || !s->outdev || !*s->outdev || !s->iothread_id ||
        !*s->iothread_id) {
        error_setg(errp, "colo compare needs 'primary_in' ,'secondary_in','outdev','iothread' "
                         "property set");
        return FALSE;
    }
    if (!strcmp(pri, sec) || !strcmp(pri, s->outdev) || !strcmp(sec, s->outdev)) {
        error_setg(errp, "'indev' and 'outdev' could not be same for compare module");
        return FALSE;
    }
    s->iothread = iothread_find(s->iothread_id);
    if (!s->iothread) {
        error_setg(errp, "Device '%s' not found", s->iothread_id);
        return FALSE;
    }
    for (int i = 0; i < IN__MAX; i++) {
        if (s->chr_name[i] && !attach_chardev(s->chr_name[i], &s->in[i].fe, errp)) {
            detach_all(s);
            return FALSE;
        }
    }
    if (!attach_chardev(s->outdev, &s->out_fe, errp)) {
        detach_all(s);
        return FALSE;
    }

    g_object_ref(s->iothread);
    qom_object_use(QOM_OBJECT(s->iothread));
    s->ctx = iothread_get_context(s->iothread);
    ColoCompareConfig cfg = {
        .compare_timeout_ms = s->compare_timeout,
        .max_queue_size = (guint32)MIN(s->max_queue_size, G_MAXUINT32),
    };
    static const ColoCompareOps ops = {on_release, on_checkpoint};
    s->engine = colo_compare_engine_new(&cfg, &ops, s, &s->pt);
    for (int i = 0; i < IN__MAX; i++) {
        s->in[i].s = s;
        s->in[i].which = i;
        net_frame_reader_init(&s->in[i].reader, s->vnet_hdr, i == IN_NOTIFY ? on_notify : on_packet,
                              &s->in[i]);
    }
    s->running = TRUE;
    iothread_run_sync(s->iothread, start_on_iothread, s);

    g_mutex_lock(&registry_lock);
    if (!compares) {
        compares = g_ptr_array_new();
    }
    g_ptr_array_add(compares, s);
    g_mutex_unlock(&registry_lock);
    return TRUE;
}

/* Deletion: stop reading, then release what is still queued (as upstream does). */
static gboolean stop_on_iothread(gpointer opaque)
{
    ColoCompare *s = opaque;
    for (int i = 0; i < IN__MAX; i++) {
        if (s->in[i].fe) {
            char_fe_set_handlers(s->in[i].fe, NULL, NULL, NULL, NULL, s->ctx);
        }
    }
    if (s->scan_timer) {
        g_source_destroy(s->scan_timer);
        g_source_unref(s->scan_timer);
        s->scan_timer = NULL;
    }
    colo_compare_engine_flush(s->engine);
    out_flush(s);
    return G_SOURCE_REMOVE;
}

static void colo_compare_unparent(QomObject *obj)
{
    ColoCompare *s = COLO_COMPARE(obj);
    if (!s->running) {
        return;
    }
    g_mutex_lock(&registry_lock);
    g_ptr_array_remove(compares, s);
    g_mutex_unlock(&registry_lock);
    iothread_run_sync(s->iothread, stop_on_iothread, s);
    s->running = FALSE;
    detach_all(s);
    qom_object_unuse(QOM_OBJECT(s->iothread));
}

static gboolean snapshot_on_iothread(gpointer opaque)
{
    void **args = opaque;
    ColoCompare *s = args[0];
    ColoCompareObjStats *out = args[1];
    out->engine = *colo_compare_engine_stats(s->engine);
    out->connections = colo_compare_engine_connections(s->engine);
    for (int side = 0; side < COLO_SIDE__MAX; side++) {
        out->queued[side] = colo_compare_engine_queued(s->engine, side);
    }
    for (int i = 0; i < IN__MAX; i++) {
        out->frames_oversized[i] = s->in[i].reader.stats.oversized;
        out->frames_malformed[i] = s->in[i].reader.stats.malformed;
    }
    out->send_failures = s->send_failures;
    out->notify_failures = s->notify_failures;
    out->notify_unsupported = s->notify_unsupported;
    out->events_suppressed = s->events_suppressed;
    return G_SOURCE_REMOVE;
}

void colo_compare_get_stats(ColoCompare *s, ColoCompareObjStats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s->running) {
        return;
    }
    void *args[2] = {s, out};
    iothread_run_sync(s->iothread, snapshot_on_iothread, args);
}

static gboolean flush_on_iothread(gpointer opaque)
{
    ColoCompare *s = opaque;
    colo_compare_engine_flush(s->engine);
    out_flush(s);
    return G_SOURCE_REMOVE;
}

void colo_compare_checkpoint_all(void)
{
    GPtrArray *list = colo_compare_list();
    for (guint i = 0; i < list->len; i++) {
        ColoCompare *s = list->pdata[i];
        iothread_run_sync(s->iothread, flush_on_iothread, s);
    }
    g_ptr_array_unref(list);
}

/* ---- properties ---- */

static void set_positive(ColoCompare *s, const char *name, guint64 v, guint64 *dst64,
                         guint32 *dst32)
{
    if (v == 0) {
        GError *err = NULL;
        error_setg(&err, "Property 'colo-compare.%s' requires a positive value", name);
        qom_object_set_error(QOM_OBJECT(s), err);
        return;
    }
    if (dst64) {
        *dst64 = v;
    } else {
        *dst32 = (guint32)v;
    }
}

static void colo_compare_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *ps)
{
    ColoCompare *s = COLO_COMPARE(obj);
    char **str = NULL;
    switch (id) {
    case PROP_PRIMARY_IN:
        str = &s->chr_name[IN_PRIMARY];
        break;
    case PROP_SECONDARY_IN:
        str = &s->chr_name[IN_SECONDARY];
        break;
    case PROP_NOTIFY_DEV:
        str = &s->chr_name[IN_NOTIFY];
        break;
    case PROP_OUTDEV:
        str = &s->outdev;
        break;
    case PROP_IOTHREAD:
        str = &s->iothread_id;
        break;
    case PROP_COMPARE_TIMEOUT:
        set_positive(s, "compare_timeout", g_value_get_uint64(v), NULL, &s->compare_timeout);
        return;
    case PROP_EXPIRED_SCAN_CYCLE:
        set_positive(s, "expired_scan_cycle", g_value_get_uint(v), NULL, &s->expired_scan_cycle);
        return;
    case PROP_MAX_QUEUE_SIZE:
        set_positive(s, "max_queue_size", g_value_get_uint64(v), &s->max_queue_size, NULL);
        return;
    case PROP_VNET_HDR_SUPPORT:
        s->vnet_hdr = g_value_get_boolean(v);
        return;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
        return;
    }
    g_free(*str);
    *str = g_value_dup_string(v);
}

static void colo_compare_get_property(GObject *obj, guint id, GValue *v, GParamSpec *ps)
{
    ColoCompare *s = COLO_COMPARE(obj);
    switch (id) {
    case PROP_PRIMARY_IN:
        g_value_set_string(v, s->chr_name[IN_PRIMARY]);
        break;
    case PROP_SECONDARY_IN:
        g_value_set_string(v, s->chr_name[IN_SECONDARY]);
        break;
    case PROP_NOTIFY_DEV:
        g_value_set_string(v, s->chr_name[IN_NOTIFY]);
        break;
    case PROP_OUTDEV:
        g_value_set_string(v, s->outdev);
        break;
    case PROP_IOTHREAD:
        g_value_set_string(v, s->iothread_id);
        break;
    case PROP_COMPARE_TIMEOUT:
        g_value_set_uint64(v, s->compare_timeout);
        break;
    case PROP_EXPIRED_SCAN_CYCLE:
        g_value_set_uint(v, s->expired_scan_cycle);
        break;
    case PROP_MAX_QUEUE_SIZE:
        g_value_set_uint64(v, s->max_queue_size);
        break;
    case PROP_VNET_HDR_SUPPORT:
        g_value_set_boolean(v, s->vnet_hdr);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
        break;
    }
}

static void colo_compare_finalize(GObject *obj)
{
    ColoCompare *s = COLO_COMPARE(obj);
    for (int i = 0; i < IN__MAX; i++) {
        net_frame_reader_destroy(&s->in[i].reader);
        g_free(s->chr_name[i]);
    }
    colo_compare_engine_free(s->engine);
    colo_passthrough_destroy(&s->pt);
    g_byte_array_unref(s->out_batch);
    if (s->iothread) {
        g_object_unref(s->iothread);
    }
    g_free(s->outdev);
    g_free(s->iothread_id);
    G_OBJECT_CLASS(colo_compare_parent_class)->finalize(obj);
}

static void colo_compare_init(ColoCompare *s)
{
    s->compare_timeout = COLO_COMPARE_DEFAULT_TIMEOUT_MS;
    s->expired_scan_cycle = COLO_COMPARE_DEFAULT_SCAN_MS;
    s->max_queue_size = COLO_COMPARE_DEFAULT_MAX_QUEUE;
    s->out_batch = g_byte_array_new();
    colo_passthrough_init(&s->pt);
}

static void colo_compare_class_init(ColoCompareClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    QomObjectClass *qc = QOM_OBJECT_CLASS(klass);
    oc->set_property = colo_compare_set_property;
    oc->get_property = colo_compare_get_property;
    oc->finalize = colo_compare_finalize;
    qc->complete = colo_compare_complete;
    qc->unparent = colo_compare_unparent;

    GParamFlags rw = QOM_PARAM_RW;
    static const struct {
        guint id;
        const char *name;
        const char *qom_type;
        gboolean required;
    } strs[] = {
        {PROP_PRIMARY_IN, "primary_in", NULL, TRUE},
        {PROP_SECONDARY_IN, "secondary_in", NULL, TRUE},
        {PROP_OUTDEV, "outdev", NULL, TRUE},
        {PROP_IOTHREAD, "iothread", "link<iothread>", TRUE},
        {PROP_NOTIFY_DEV, "notify_dev", NULL, FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(strs); i++) {
        qom_class_install_property(oc, strs[i].id,
                                   g_param_spec_string(strs[i].name, strs[i].name, NULL, NULL, rw),
                                   strs[i].qom_type, strs[i].required);
    }
    /* Upstream declares compare_timeout uint64 but accepts only 32-bit values. */
    qom_class_install_property(oc, PROP_COMPARE_TIMEOUT,
                               g_param_spec_uint64("compare_timeout", "compare_timeout", NULL, 0,
                                                   G_MAXUINT32, COLO_COMPARE_DEFAULT_TIMEOUT_MS,
                                                   rw),
                               "uint64", FALSE);
    qom_class_install_property(oc, PROP_EXPIRED_SCAN_CYCLE,
                               g_param_spec_uint("expired_scan_cycle", "expired_scan_cycle", NULL,
                                                 0, G_MAXUINT32, COLO_COMPARE_DEFAULT_SCAN_MS, rw),
                               "uint32", FALSE);
    qom_class_install_property(oc, PROP_MAX_QUEUE_SIZE,
                               g_param_spec_uint64("max_queue_size", "max_queue_size", NULL, 0,
                                                   G_MAXUINT64, COLO_COMPARE_DEFAULT_MAX_QUEUE, rw),
                               "uint32", FALSE);
    qom_class_install_property(
        oc, PROP_VNET_HDR_SUPPORT,
        g_param_spec_boolean("vnet_hdr_support", "vnet_hdr_support", NULL, FALSE, rw), "bool",
        FALSE);
}

void colo_compare_register_types(void)
{
    qom_register_type("colo-compare", TYPE_COLO_COMPARE, NULL, TRUE);
}
