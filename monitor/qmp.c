/* QMP sessions: greeting, capabilities negotiation, request checking and dispatch. */
#include "config-host.h"
#include "monitor-internal.h"
#include "qapi-commands.h"
#include "qapi/qjson.h"
#include "util/error.h"

#include <string.h>

static void qmp_send(Monitor *mon, JsonNode *msg)
{
    char *text = qjson_to_string(msg, mon->pretty);
    GString *line = g_string_new(text);
    g_string_append_c(line, '\n');
    monitor_puts(mon, line->str);
    g_string_free(line, TRUE);
    g_free(text);
}

void qmp_send_event(Monitor *mon, JsonNode *event)
{
    if (mon->open && mon->negotiated) {
        qmp_send(mon, event);
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
static gboolean check_request(Monitor *mon, JsonObject *req, GError **errp)
{
    GPtrArray *order = qjson_object_member_order(req);
    gboolean ok = TRUE;
    for (guint i = 0; i < order->len && ok; i++) {
        const char *key = g_ptr_array_index(order, i);
        JsonNode *v = json_object_get_member(req, key);
        gboolean is_str = JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING;
        if (strcmp(key, "execute") == 0 || (strcmp(key, "exec-oob") == 0 && mon->oob)) {
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
        error_setg(errp, "QMP input must have either 'execute' or 'exec-oob', not both");
        return FALSE;
    }
    return TRUE;
}

JsonNode *qmp_dispatch(Monitor *mon, JsonNode *request)
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
    if (!check_request(mon, req, &err)) {
        goto out;
    }
    gboolean oob = json_object_has_member(req, "exec-oob");
    const char *name = json_object_get_string_member(req, oob ? "exec-oob" : "execute");
    const QmpCommandDef *cmd = find_command(name);
    if (!mon->negotiated && (!cmd || strcmp(name, "qmp_capabilities") != 0)) {
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
    monitor_set_cur(mon, &saved);
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

static void qmp_handle_one(Monitor *mon, JsonNode *value, GError *err)
{
    JsonNode *rsp;
    if (err) {
        rsp = error_response(err, NULL);
        g_error_free(err);
    } else {
        rsp = qmp_dispatch(mon, value);
        json_node_unref(value);
    }
    qmp_send(mon, rsp);
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

static void qmp_handle_input(void *opaque, JsonNode *value, GError *err)
{
    Monitor *mon = opaque;
    if (g_queue_is_empty(mon->held) && !monitor_output_congested(mon)) {
        qmp_handle_one(mon, value, err);
        return;
    }
    /* Bounded: no more input is read while anything is held. */
    HeldInput *h = g_new(HeldInput, 1);
    h->value = value;
    h->err = err;
    g_queue_push_tail(mon->held, h);
}

void qmp_session_resume(Monitor *mon)
{
    if (mon->dispatching) {
        return;
    }
    mon->dispatching = TRUE;
    while (!g_queue_is_empty(mon->held) && !monitor_output_congested(mon)) {
        HeldInput *h = g_queue_pop_head(mon->held);
        qmp_handle_one(mon, h->value, h->err);
        g_free(h);
    }
    mon->dispatching = FALSE;
}

static void qmp_drop_held(Monitor *mon)
{
    HeldInput *h;
    while ((h = g_queue_pop_head(mon->held))) {
        held_input_free(h);
    }
}

void qmp_session_init(Monitor *mon)
{
    mon->js = json_streamer_new(qmp_handle_input, mon);
    mon->held = g_queue_new();
}

void qmp_session_open(Monitor *mon)
{
    json_streamer_reset(mon->js);
    qmp_drop_held(mon);
    mon->negotiated = FALSE;
    mon->oob = FALSE;
    JsonNode *g = greeting();
    qmp_send(mon, g);
    json_node_unref(g);
}

void qmp_session_close(Monitor *mon)
{
    json_streamer_reset(mon->js);
    qmp_drop_held(mon);
    mon->negotiated = FALSE;
    mon->oob = FALSE;
}

void qmp_session_feed(Monitor *mon, const char *buf, size_t len)
{
    json_streamer_feed(mon->js, buf, len);
}

void qmp_session_destroy(Monitor *mon)
{
    json_streamer_free(mon->js);
    mon->js = NULL;
    g_queue_free_full(mon->held, held_input_free);
    mon->held = NULL;
}

guint64 monitor_qmp_parse_errors(const Monitor *mon)
{
    return mon->is_qmp && mon->js ? json_streamer_error_count(mon->js) : 0;
}

/* qmp_capabilities: leaves negotiation mode. */
void qmp_qmp_capabilities(GPtrArray *enable, GError **errp)
{
    Monitor *mon = monitor_cur();
    if (!mon || !mon->is_qmp) {
        error_setg(errp, "qmp_capabilities is only valid on a QMP monitor");
        return;
    }
    if (mon->negotiated) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command ignored");
        return;
    }
    gboolean oob = FALSE;
    for (guint i = 0; enable && i < enable->len; i++) {
        if (*(QMPCapability *)g_ptr_array_index(enable, i) == QMP_CAPABILITY_OOB) {
            oob = TRUE;
        }
    }
    mon->oob = oob;
    mon->negotiated = TRUE;
}
