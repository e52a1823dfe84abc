/* QMP sessions: greeting, capabilities negotiation, request checking and dispatch. */
#include "config-host.h"
#include "monitor-internal.h"
#include "monitor/json-streamer.h"
#include "qapi-commands.h"
#include "qapi/qjson.h"
#include "util/error.h"

#include <string.h>

/*
 * In-band requests wait in a short queue, as upstream's: the client's input is read no further
 * while it is full (with oob: QMP_REQ_QUEUE_LEN_MAX requests; without: one, counting the one
 * running, so that every reply keeps its request's order).
 */
#define QMP_REQ_QUEUE_LEN_MAX 8

typedef struct QmpSession {
    Monitor mon;
    QmpIoMode io;
    JsonStreamer *js;      /* fed on the thread that reads the client */
    GMutex queue_lock;     /* held, inflight, dispatch_src */
    GQueue *held;          /* in-band input waiting for the main loop or for output to drain */
    guint inflight;        /* in-band requests taken from held and running */
    GSource *dispatch_src; /* QMP_IO_THREAD: the main loop's run of held is scheduled */
    gboolean dispatching;  /* running held input (guards against nested main loops) */
    gboolean pretty;
    gint negotiated; /* command mode (atomic: read on the I/O thread) */
    gint oob;        /* the oob capability was enabled (atomic) */
} QmpSession;

static const MonitorOps qmp_ops;

/* @mon's QMP session, or NULL for another kind of monitor. */
static QmpSession *qmp_session(Monitor *mon)
{
    return mon && mon->ops == &qmp_ops ? (QmpSession *)mon : NULL;
}

gboolean monitor_is_qmp(const Monitor *mon)
{
    return mon->ops == &qmp_ops;
}

static void qmp_send(QmpSession *qs, JsonNode *msg)
{
    char *text = qjson_to_string(msg, qs->pretty);
    GString *line = g_string_new(text);
    g_string_append_c(line, '\n');
    monitor_puts(&qs->mon, line->str);
    g_string_free(line, TRUE);
    g_free(text);
}

/* Only in command mode. */
static void qmp_session_event(Monitor *mon, JsonNode *event)
{
    QmpSession *qs = qmp_session(mon);
    if (mon->open && g_atomic_int_get(&qs->negotiated)) {
        qmp_send(qs, event);
    }
}

static JsonNode *greeting(void)
{
    JsonObject *ver = json_object_new();
    json_object_set_int_member(ver, "major", QEMU_VERSION_MAJOR);
    json_object_set_int_member(ver, "minor", QEMU_VERSION_MINOR);
    json_object_set_int_member(ver, "micro", QEMU_VERSION_MICRO);
    JsonObject *version = json_object_new();
    json_object_set_object_member(version, "qemu", ver);
    json_object_set_string_member(version, "package", QEMU_PKGVERSION);
    JsonArray *caps = json_array_new();
    json_array_add_string_element(caps, "oob");
    JsonObject *qmp = json_object_new();
    json_object_set_object_member(qmp, "version", version);
    json_object_set_array_member(qmp, "capabilities", caps);
    JsonObject *top = json_object_new();
    json_object_set_object_member(top, "QMP", qmp);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, top);
    return n;
}

static JsonNode *error_response(const GError *err, JsonNode *id)
{
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "class", error_class_name(error_get_class(err)));
    char *desc = error_get_desc(err);
    json_object_set_string_member(e, "desc", desc);
    g_free(desc);
    JsonObject *top = json_object_new();
    json_object_set_object_member(top, "error", e);
    if (id) {
        json_object_set_member(top, "id", json_node_copy(id));
    }
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, top);
    return n;
}

static const QmpCommandDef *find_command(const char *name)
{
    for (const QmpCommandDef *c = qmp_command_table; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* The member checks QEMU makes, in the order its QDict iterates them. */
static gboolean check_request(QmpSession *qs, JsonObject *req, GError **errp)
{
    GPtrArray *order = qjson_object_member_order(req);
    gboolean ok = TRUE;
    for (guint i = 0; i < order->len && ok; i++) {
        const char *key = g_ptr_array_index(order, i);
        JsonNode *v = json_object_get_member(req, key);
        gboolean is_str = JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING;
        if (strcmp(key, "execute") == 0 ||
            (strcmp(key, "exec-oob") == 0 && g_atomic_int_get(&qs->oob))) {
            if (!is_str) {
                error_setg(errp, "QMP input member '%s' must be a string", key);
                ok = FALSE;
            }
        } else if (strcmp(key, "arguments") == 0) {
            if (!JSON_NODE_HOLDS_OBJECT(v)) {
                error_setg(errp, "QMP input member 'arguments' must be an object");
                ok = FALSE;
            }
        } else if (strcmp(key, "id") != 0) {
            error_setg(errp, "QMP input member '%s' is unexpected", key);
            ok = FALSE;
        }
    }
    g_ptr_array_unref(order);
    if (!ok) {
        return FALSE;
    }
    gboolean has_exec = json_object_has_member(req, "execute");
    gboolean has_oob = json_object_has_member(req, "exec-oob");
    if (!has_exec && !has_oob) {
        error_setg(errp, "QMP input lacks member 'execute'");
        return FALSE;
    }
    if (has_exec && has_oob) {
        error_setg(errp, "QMP input member 'execute' clashes with 'exec-oob'");
        return FALSE;
    }
    return TRUE;
}

/* Runs one parsed request; returns the response (caller unrefs). */
static JsonNode *qmp_dispatch(QmpSession *qs, JsonNode *request)
{
    GError *err = NULL;
    JsonNode *id = NULL;
    JsonNode *ret = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(request)) {
        error_setg(&err, "QMP input must be a JSON object");
        goto out;
    }
    JsonObject *req = json_node_get_object(request);
    id = json_object_get_member(req, "id");
    if (!check_request(qs, req, &err)) {
        goto out;
    }
    gboolean oob = json_object_has_member(req, "exec-oob");
    const char *name = json_object_get_string_member(req, oob ? "exec-oob" : "execute");
    const QmpCommandDef *cmd = find_command(name);
    if (!g_atomic_int_get(&qs->negotiated) && (!cmd || strcmp(name, "qmp_capabilities") != 0)) {
        error_set(&err, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Expecting capabilities negotiation with 'qmp_capabilities'");
        goto out;
    }
    if (!cmd) {
        error_set(&err, ERROR_CLASS_COMMAND_NOT_FOUND, "The command %s has not been found", name);
        goto out;
    }
    if (oob && !(cmd->flags & QMP_CMD_ALLOW_OOB)) {
        error_setg(&err, "The command %s does not support OOB", name);
        goto out;
    }
    JsonNode *args = json_object_get_member(req, "arguments");
    Monitor *saved;
    monitor_set_cur(&qs->mon, &saved);
    cmd->fn(args ? json_node_get_object(args) : NULL, &ret, &err);
    monitor_set_cur(saved, NULL);
    if (!err && !ret) {
        ret = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(ret, json_object_new());
    }

out:
    if (err) {
        if (ret) {
            json_node_unref(ret);
        }
        JsonNode *rsp = error_response(err, id);
        g_error_free(err);
        return rsp;
    }
    JsonObject *top = json_object_new();
    json_object_set_member(top, "return", ret);
    if (id) {
        json_object_set_member(top, "id", json_node_copy(id));
    }
    JsonNode *rsp = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(rsp, top);
    return rsp;
}

static void qmp_handle_one(QmpSession *qs, JsonNode *value, GError *err)
{
    JsonNode *rsp;
    if (err) {
        rsp = error_response(err, NULL);
        g_error_free(err);
    } else {
        rsp = qmp_dispatch(qs, value);
        json_node_unref(value);
    }
    qmp_send(qs, rsp);
    json_node_unref(rsp);
}

/* Input parsed while output was congested, run in order once it drains. */
typedef struct {
    JsonNode *value;
    GError *err;
} HeldInput;

static void held_input_free(gpointer p)
{
    HeldInput *h = p;
    if (h->value) {
        json_node_unref(h->value);
    }
    if (h->err) {
        g_error_free(h->err);
    }
    g_free(h);
}

/* Upstream's test: such a request runs at once, whatever the capability (it then fails). */
static gboolean is_oob_request(JsonNode *value)
{
    if (!value || !JSON_NODE_HOLDS_OBJECT(value)) {
        return FALSE;
    }
    JsonObject *o = json_node_get_object(value);
    return json_object_has_member(o, "exec-oob") && !json_object_has_member(o, "execute");
}

static void schedule_dispatch_locked(QmpSession *qs);

static void qmp_handle_input(void *opaque, JsonNode *value, GError *err)
{
    QmpSession *qs = opaque;
    if (qs->io == QMP_IO_THREAD) {
        /* On the monitor I/O thread: out of band now, in band on the main loop. */
        if (!err && is_oob_request(value)) {
            qmp_handle_one(qs, value, NULL);
            return;
        }
    } else if (g_queue_is_empty(qs->held) && !monitor_output_congested(&qs->mon)) {
        qmp_handle_one(qs, value, err);
        return;
    }
    /* Bounded: holding() stops the reading while the queue is full. */
    HeldInput *h = g_new(HeldInput, 1);
    h->value = value;
    h->err = err;
    g_mutex_lock(&qs->queue_lock);
    g_queue_push_tail(qs->held, h);
    if (qs->io == QMP_IO_THREAD) {
        schedule_dispatch_locked(qs);
    }
    g_mutex_unlock(&qs->queue_lock);
}

/* Runs held input in order while output flows; on the main loop. */
static void run_held(QmpSession *qs)
{
    if (qs->dispatching) {
        return;
    }
    qs->dispatching = TRUE;
    for (;;) {
        if (monitor_output_congested(&qs->mon)) {
            break;
        }
        g_mutex_lock(&qs->queue_lock);
        HeldInput *h = g_queue_pop_head(qs->held);
        if (h) {
            qs->inflight++;
        }
        g_mutex_unlock(&qs->queue_lock);
        if (!h) {
            break;
        }
        qmp_handle_one(qs, h->value, h->err);
        g_free(h);
        g_mutex_lock(&qs->queue_lock);
        qs->inflight--;
        g_mutex_unlock(&qs->queue_lock);
        /* The queue has room again: the reader may go on. */
        monitor_wake_input(&qs->mon);
    }
    qs->dispatching = FALSE;
}

static gboolean dispatch_cb(gpointer opaque)
{
    QmpSession *qs = opaque;
    g_mutex_lock(&qs->queue_lock);
    g_source_unref(qs->dispatch_src);
    qs->dispatch_src = NULL;
    g_mutex_unlock(&qs->queue_lock);
    run_held(qs);
    return G_SOURCE_REMOVE;
}

static void schedule_dispatch_locked(QmpSession *qs)
{
    if (qs->dispatch_src) {
        return;
    }
    qs->dispatch_src = g_idle_source_new();
    /* Among the main loop's other sources, where the chardev's read handler used to run. */
    g_source_set_priority(qs->dispatch_src, G_PRIORITY_DEFAULT);
    g_source_set_callback(qs->dispatch_src, dispatch_cb, qs, NULL);
    g_source_attach(qs->dispatch_src, NULL);
}

static void qmp_session_resume(Monitor *mon)
{
    QmpSession *qs = qmp_session(mon);
    if (qs->io == QMP_IO_THREAD) {
        /* from the I/O thread (output drained): the main loop runs what waits */
        g_mutex_lock(&qs->queue_lock);
        if (!g_queue_is_empty(qs->held)) {
            schedule_dispatch_locked(qs);
        }
        g_mutex_unlock(&qs->queue_lock);
        return;
    }
    run_held(qs);
}

static gboolean qmp_session_holding(Monitor *mon)
{
    QmpSession *qs = qmp_session(mon);
    g_mutex_lock(&qs->queue_lock);
    guint n = g_queue_get_length(qs->held);
    guint limit = qs->io == QMP_IO_THREAD && g_atomic_int_get(&qs->oob) ? QMP_REQ_QUEUE_LEN_MAX : 1;
    if (qs->io == QMP_IO_THREAD && !g_atomic_int_get(&qs->oob)) {
        n += qs->inflight;
    }
    g_mutex_unlock(&qs->queue_lock);
    return n >= limit;
}

/* A new client starts from negotiation mode, with nothing of the last one's input. */
static void qmp_session_reset(QmpSession *qs)
{
    HeldInput *h;
    json_streamer_reset(qs->js);
    g_mutex_lock(&qs->queue_lock);
    while ((h = g_queue_pop_head(qs->held))) {
        held_input_free(h);
    }
    g_mutex_unlock(&qs->queue_lock);
    g_atomic_int_set(&qs->negotiated, FALSE);
    g_atomic_int_set(&qs->oob, FALSE);
}

static void qmp_session_open(Monitor *mon)
{
    QmpSession *qs = qmp_session(mon);
    qmp_session_reset(qs);
    JsonNode *g = greeting();
    qmp_send(qs, g);
    json_node_unref(g);
}

static void qmp_session_close(Monitor *mon)
{
    qmp_session_reset(qmp_session(mon));
}

static void qmp_session_feed(Monitor *mon, const char *buf, size_t len)
{
    json_streamer_feed(qmp_session(mon)->js, buf, len);
}

static void qmp_session_destroy(Monitor *mon)
{
    QmpSession *qs = qmp_session(mon);
    json_streamer_free(qs->js);
    qs->js = NULL;
    if (qs->dispatch_src) {
        g_source_destroy(qs->dispatch_src);
        g_source_unref(qs->dispatch_src);
        qs->dispatch_src = NULL;
    }
    g_queue_free_full(qs->held, held_input_free);
    qs->held = NULL;
    g_mutex_clear(&qs->queue_lock);
}

static const MonitorOps qmp_ops = {
    .open = qmp_session_open,
    .close = qmp_session_close,
    .feed = qmp_session_feed,
    .resume = qmp_session_resume,
    .holding = qmp_session_holding,
    .event = qmp_session_event,
    .destroy = qmp_session_destroy,
};

Monitor *monitor_new_qmp_custom(MonitorWriteFn write, void *opaque, gboolean pretty)
{
    QmpSession *qs = g_new0(QmpSession, 1);
    monitor_init(&qs->mon, &qmp_ops, write, opaque);
    qs->pretty = pretty;
    qs->io = QMP_IO_SYNC;
    g_mutex_init(&qs->queue_lock);
    qs->js = json_streamer_new(qmp_handle_input, qs);
    qs->held = g_queue_new();
    monitor_register(&qs->mon);
    return &qs->mon;
}

void monitor_qmp_set_io_mode(Monitor *mon, QmpIoMode io)
{
    qmp_session(mon)->io = io;
}

guint64 monitor_qmp_parse_errors(const Monitor *mon)
{
    QmpSession *qs = qmp_session((Monitor *)mon);
    return qs && qs->js ? json_streamer_error_count(qs->js) : 0;
}

/* qmp_capabilities: leaves negotiation mode. */
void qmp_qmp_capabilities(GPtrArray *enable, GError **errp)
{
    QmpSession *qs = qmp_session(monitor_cur());
    if (!qs) {
        error_setg(errp, "qmp_capabilities is only valid on a QMP monitor");
        return;
    }
    if (g_atomic_int_get(&qs->negotiated)) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command ignored");
        return;
    }
    gboolean oob = FALSE;
    for (guint i = 0; enable && i < enable->len; i++) {
        QMPCapability cap = *(QMPCapability *)g_ptr_array_index(enable, i);
        oob = oob || cap == QMP_CAPABILITY_OOB;
    }
    g_atomic_int_set(&qs->oob, oob);
    g_atomic_int_set(&qs->negotiated, TRUE);
}
