/*
 * The Chardev base type: the registry under /chardevs, creation from -chardev options, QMP
 * chardev-add and the legacy one-string form, and the front-end API.
 */
#include "chardev-internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sockets.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

/* How long char_fe_write_all waits for a full socket to drain before giving up. */
#define CHR_WRITE_STALL_MS 10000

struct CharFrontend {
    Chardev *chr;
    ChrCanReadHandler can_read;
    ChrReadHandler read;
    ChrEventHandler event;
    void *opaque;
    GMainContext *context; /* referenced; NULL = default */
    GSource *open_idle;    /* pending OPENED for an already-open stream */
    gboolean opened_sent;  /* the front-end saw OPENED and not yet CLOSED */
    /* char_fe_notify_writable's watch and what it calls: under the write lock */
    GSource *write_watch;
    ChrWritableHandler writable;
    void *writable_opaque;
};

static void write_watch_drop_locked(CharFrontend *fe);

typedef struct ChardevPrivate {
    char *label;
    GRecMutex state_lock;
    GMutex write_lock;
    CharFrontend *fe;      /* the one input goes to (a mux's focus) */
    GPtrArray *fes;        /* every attached front-end, in attach order */
    GMainContext *context; /* the front-ends', referenced; NULL = default */
    gboolean be_open;
    ChardevStats stats; /* counters: under write_lock (out) / state lock (in, events) */
} ChardevPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE(Chardev, chardev, QOM_TYPE_OBJECT)

static ChardevPrivate *priv(Chardev *chr)
{
    return chardev_get_instance_private(chr);
}

static void chardev_unparent(QomObject *obj)
{
    Chardev *chr = CHARDEV(obj);
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    chardev_lock(chr);
    if (cc->close) {
        cc->close(chr);
    }
    chardev_unlock(chr);
}

static void chardev_dispose(GObject *obj)
{
    Chardev *chr = CHARDEV(obj);
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    if (cc->close) {
        cc->close(chr);
    }
    G_OBJECT_CLASS(chardev_parent_class)->dispose(obj);
}

static void chardev_finalize(GObject *obj)
{
    Chardev *chr = CHARDEV(obj);
    ChardevPrivate *p = priv(chr);
    if (p->context) {
        g_main_context_unref(p->context);
    }
    g_free(p->label);
    g_ptr_array_free(p->fes, TRUE);
    g_rec_mutex_clear(&p->state_lock);
    g_mutex_clear(&p->write_lock);
    G_OBJECT_CLASS(chardev_parent_class)->finalize(obj);
}

static gboolean chardev_can_be_deleted(QomObject *obj, GError **errp)
{
    Chardev *chr = CHARDEV(obj);
    if (chardev_is_busy(chr)) {
        error_setg(errp, "Chardev '%s' is busy", chardev_label(chr));
        return FALSE;
    }
    return TRUE;
}

static void chardev_class_init(ChardevClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = chardev_dispose;
    G_OBJECT_CLASS(klass)->finalize = chardev_finalize;
    QOM_OBJECT_CLASS(klass)->unparent = chardev_unparent;
    QOM_OBJECT_CLASS(klass)->can_be_deleted = chardev_can_be_deleted;
}

static void chardev_init(Chardev *chr)
{
    ChardevPrivate *p = priv(chr);
    g_rec_mutex_init(&p->state_lock);
    g_mutex_init(&p->write_lock);
    p->fes = g_ptr_array_new();
}

/* ---- backend side ---- */

GMainContext *chardev_context(Chardev *chr)
{
    ChardevPrivate *p = priv(chr);
    return p->context ? p->context : g_main_context_default();
}

void chardev_lock(Chardev *chr)
{
    g_rec_mutex_lock(&priv(chr)->state_lock);
}

void chardev_unlock(Chardev *chr)
{
    g_rec_mutex_unlock(&priv(chr)->state_lock);
}

void chardev_write_lock(Chardev *chr)
{
    g_mutex_lock(&priv(chr)->write_lock);
}

void chardev_write_unlock(Chardev *chr)
{
    g_mutex_unlock(&priv(chr)->write_lock);
}

const char *chardev_label(Chardev *chr)
{
    return priv(chr)->label;
}

TRACE_POINT(trace_chardev_event, "chardev_event");

void chardev_be_event(Chardev *chr, ChrEvent event)
{
    ChardevPrivate *p = priv(chr);

    static const char *const names[] = {
        [CHR_EVENT_OPENED] = "opened", [CHR_EVENT_CLOSED] = "closed",   [CHR_EVENT_BREAK] = "break",
        [CHR_EVENT_MUX_IN] = "mux-in", [CHR_EVENT_MUX_OUT] = "mux-out",
    };
    trace_fire(trace_chardev_event, "chardev %s %s", p->label ? p->label : "?", names[event]);

    chardev_lock(chr);
    if (event == CHR_EVENT_OPENED) {
        p->be_open = TRUE;
        p->stats.connects++;
    } else if (event == CHR_EVENT_CLOSED) {
        p->be_open = FALSE;
        p->stats.disconnects++;
        /* The descriptor they watched is gone (and its number may be reused). */
        chardev_write_lock(chr);
        for (guint i = 0; i < p->fes->len; i++) {
            write_watch_drop_locked(g_ptr_array_index(p->fes, i));
        }
        chardev_write_unlock(chr);
    }
    if (event == CHR_EVENT_OPENED || event == CHR_EVENT_CLOSED) {
        /* Every front-end of a mux sees the stream open and close; a copy, as handlers may
         * detach. */
        g_autoptr(GPtrArray) fes = g_ptr_array_copy(p->fes, NULL, NULL);
        for (guint i = 0; i < fes->len; i++) {
            if (g_ptr_array_find(p->fes, fes->pdata[i], NULL)) {
                chardev_fe_event(fes->pdata[i], event);
            }
        }
    } else if (p->fe) {
        chardev_fe_event(p->fe, event);
    }
    chardev_unlock(chr);
}

void chardev_fe_event(CharFrontend *fe, ChrEvent event)
{
    if (event == CHR_EVENT_OPENED) {
        chr_source_clear(&fe->open_idle);
        if (fe->event) {
            fe->opened_sent = TRUE;
            fe->event(fe->opaque, event);
        }
    } else if (event == CHR_EVENT_CLOSED) {
        chr_source_clear(&fe->open_idle);
        if (fe->opened_sent && fe->event) {
            fe->opened_sent = FALSE;
            fe->event(fe->opaque, event);
        }
    } else if (fe->event) {
        fe->event(fe->opaque, event);
    }
}

CharFrontend *chardev_focus(Chardev *chr)
{
    return priv(chr)->fe;
}

void chardev_set_focus(Chardev *chr, CharFrontend *fe)
{
    priv(chr)->fe = fe;
}

guint chardev_frontend_count(Chardev *chr)
{
    return priv(chr)->fes->len;
}

CharFrontend *chardev_frontend_at(Chardev *chr, guint index)
{
    return g_ptr_array_index(priv(chr)->fes, index);
}

gboolean chardev_be_is_open(Chardev *chr)
{
    return priv(chr)->be_open;
}

void chardev_count_input_dropped(Chardev *chr, guint64 bytes)
{
    priv(chr)->stats.input_dropped += bytes;
}

int chardev_write_fd(Chardev *chr)
{
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    chardev_write_lock(chr);
    int fd = cc->write_fd ? cc->write_fd(chr) : -1;
    chardev_write_unlock(chr);
    return fd;
}

int chardev_be_can_read(Chardev *chr)
{
    CharFrontend *fe = priv(chr)->fe;
    if (!fe || !fe->read) {
        return 0;
    }
    if (!fe->can_read) {
        return CHR_READ_BUF_LEN;
    }
    int n = fe->can_read(fe->opaque);
    return n > 0 ? n : 0;
}

void chardev_be_read(Chardev *chr, const guint8 *buf, int len)
{
    ChardevPrivate *p = priv(chr);
    p->stats.bytes_in += len;
    if (p->fe && p->fe->read) {
        p->fe->read(p->fe->opaque, buf, len);
    }
}

/* ---- fd read source ---- */

typedef struct ChrFdSource {
    GSource source;
    Chardev *chr;
    gpointer tag;
    GIOCondition events; /* what the fd is polled for now */
    ChrFdReadyFunc ready;
} ChrFdSource;

static gboolean chr_fd_source_prepare(GSource *source, gint *timeout)
{
    ChrFdSource *s = (ChrFdSource *)source;
    chardev_lock(s->chr);
    if (g_source_is_destroyed(source)) {
        chardev_unlock(s->chr);
        return FALSE;
    }
    int can = chardev_be_can_read(s->chr);
    CharFrontend *fe = priv(s->chr)->fe;
    gboolean paused = can == 0 && fe && fe->read;
    gboolean unread = !fe || !fe->read;
    chardev_unlock(s->chr);
    GIOCondition events =
        G_IO_HUP | G_IO_ERR | (can > 0 ? G_IO_IN : 0) | (unread ? CHR_IO_RDHUP : 0);
    /* Modifying the fd wakes the context up: doing it on every prepare spins the loop. */
    if (events != s->events) {
        g_source_modify_unix_fd(source, s->tag, events);
        s->events = events;
    }
    /*
     * A front-end that paused reading (can_read 0) may become ready without anything on this
     * context happening; look again shortly rather than depend on it waking us.
     */
    *timeout = paused ? 50 : -1;
    return FALSE;
}

static gboolean chr_fd_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    ChrFdSource *s = (ChrFdSource *)source;
    GIOCondition revents = g_source_query_unix_fd(source, s->tag);
    if (!revents) {
        return G_SOURCE_CONTINUE;
    }
    chardev_lock(s->chr);
    /* Destroyed by another thread while we waited for the lock: the chardev moved on. */
    gboolean keep = !g_source_is_destroyed(source) && s->ready(s->chr, revents);
    chardev_unlock(s->chr);
    return keep;
}

static void chr_fd_source_finalize(GSource *source)
{
    g_object_unref(((ChrFdSource *)source)->chr);
}

static GSourceFuncs chr_fd_source_funcs = {
    .prepare = chr_fd_source_prepare,
    .dispatch = chr_fd_source_dispatch,
    .finalize = chr_fd_source_finalize,
};

GSource *chr_fd_source_new(Chardev *chr, int fd, ChrFdReadyFunc ready)
{
    GSource *source = g_source_new(&chr_fd_source_funcs, sizeof(ChrFdSource));
    ChrFdSource *s = (ChrFdSource *)source;
    /* Another thread may still be inside prepare/dispatch when the chardev goes away. */
    s->chr = g_object_ref(chr);
    s->ready = ready;
    s->events = G_IO_HUP | G_IO_ERR;
    s->tag = g_source_add_unix_fd(source, fd, s->events);
    g_source_set_name(source, "chardev-read");
    /*
     * GLib blocks a non-recursive source while it dispatches by removing its fds from the
     * context and adding them back afterwards, which signals the context's wakeup fd: two extra
     * syscalls and a spurious wakeup per read. Handlers never iterate their own context.
     */
    g_source_set_can_recurse(source, TRUE);
    g_source_attach(source, chardev_context(chr));
    return source;
}

void chr_source_clear(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

gboolean chr_fd_set_nonblock(int fd, GError **errp)
{
    GError *err = NULL;
    if (!g_unix_set_fd_nonblocking(fd, TRUE, &err)) {
        error_setg(errp, "%s", err->message);
        g_error_free(err);
        return FALSE;
    }
    return TRUE;
}

/* ---- option and JSON helpers ---- */

gboolean chr_opt_bool(KeyvalList *opts, const char *key, gboolean dflt, gboolean *out,
                      GError **errp)
{
    const char *v = keyval_get(opts, key);
    if (!v) {
        *out = dflt;
        return TRUE;
    }
    if (!strcmp(v, "on")) {
        *out = TRUE;
    } else if (!strcmp(v, "off")) {
        *out = FALSE;
    } else {
        /* QemuOpts booleans take on/off only. */
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return FALSE;
    }
    return TRUE;
}

gboolean chr_opts_check_known(KeyvalList *opts, const char *const *known, GError **errp)
{
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(opts->pairs, i);
        gboolean ok = FALSE;
        for (const char *const *k = known; *k; k++) {
            if (!strcmp(kv->key, *k)) {
                ok = TRUE;
                break;
            }
        }
        if (!ok) {
            error_set_invalid_param(errp, kv->key);
            return FALSE;
        }
    }
    return TRUE;
}

const char *chr_json_str(JsonObject *obj, const char *member)
{
    JsonNode *n = obj ? json_object_get_member(obj, member) : NULL;
    if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

gboolean chr_json_bool(JsonObject *obj, const char *member, gboolean dflt)
{
    JsonNode *n = obj ? json_object_get_member(obj, member) : NULL;
    if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
        json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        return dflt;
    }
    return json_node_get_boolean(n);
}

gint64 chr_json_int(JsonObject *obj, const char *member, gint64 dflt)
{
    JsonNode *n = obj ? json_object_get_member(obj, member) : NULL;
    if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_INT64) {
        return dflt;
    }
    return json_node_get_int(n);
}

/* ---- registry and creation ---- */

typedef struct BackendType {
    const char *name;
    GType (*get_type)(void);
} BackendType;

static const BackendType backend_types[] = {
    {"file", chardev_file_get_type},     {"mux", chardev_mux_get_type},
    {"null", chardev_null_get_type},     {"pty", chardev_pty_get_type},
    {"socket", chardev_socket_get_type}, {"stdio", chardev_stdio_get_type},
};

static const BackendType *backend_lookup(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(backend_types); i++) {
        if (!strcmp(backend_types[i].name, name)) {
            return &backend_types[i];
        }
    }
    return NULL;
}

void chardev_register_types(void)
{
    static gsize done;
    if (g_once_init_enter(&done)) {
        qom_register_type("chardev", TYPE_CHARDEV, NULL, FALSE);
        for (guint i = 0; i < G_N_ELEMENTS(backend_types); i++) {
            char *qname = g_strdup_printf("chardev-%s", backend_types[i].name);
            qom_register_type(qname, backend_types[i].get_type(), "chardev", FALSE);
            g_free(qname);
        }
        g_once_init_leave(&done, 1);
    }
}

const char *const *chardev_backend_names(void)
{
    static const char *names[G_N_ELEMENTS(backend_types) + 1];
    for (guint i = 0; i < G_N_ELEMENTS(backend_types); i++) {
        names[i] = backend_types[i].name;
    }
    return names;
}

static QomObject *chardevs_container(void)
{
    return qom_container_get("/chardevs");
}

Chardev *chardev_find(const char *id)
{
    QomObject *obj = qom_object_get_child(chardevs_container(), id);
    return obj && CHARDEV_IS_CHARDEV(obj) ? CHARDEV(obj) : NULL;
}

/* Creates, opens and registers; errors are the backend's own (no "Failed to add" prefix). */
static Chardev *chardev_create(const char *id, const BackendType *bt, JsonObject *data,
                               GError **errp)
{
    chardev_register_types();
    Chardev *chr = g_object_new(bt->get_type(), NULL);
    ChardevPrivate *p = priv(chr);
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    gboolean be_opened = FALSE;

    p->label = g_strdup(id);
    if (!cc->open(chr, data, &be_opened, errp)) {
        /* Sources hold references: close drops them before the last unref. */
        chardev_unparent(QOM_OBJECT(chr));
        g_object_unref(chr);
        return NULL;
    }
    if (be_opened) {
        p->be_open = TRUE;
    }
    if (!qom_object_add_child(chardevs_container(), id, QOM_OBJECT(chr), errp)) {
        chardev_unparent(QOM_OBJECT(chr));
        g_object_unref(chr);
        return NULL;
    }
    /* The container holds the reference from here on. */
    g_object_unref(chr);
    return chr;
}

static gboolean check_id(const char *id, GError **errp)
{
    if (!id_wellformed(id)) {
        error_setg(errp, "Parameter 'id' expects an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, '-', '.', '_', "
                                "starting with a letter.");
        return FALSE;
    }
    return TRUE;
}

JsonObject *chardev_opts_to_backend(KeyvalList *opts, GError **errp)
{
    const char *backend = keyval_get(opts, "backend");
    const char *id = keyval_get(opts, "id");
    if (!backend) {
        error_setg(errp, "chardev: \"%s\" missing backend", id ? id : "");
        return NULL;
    }
    const BackendType *bt = backend_lookup(backend);
    if (!bt) {
        error_setg(errp, "'%s' is not a valid char driver name", backend);
        return NULL;
    }

    /* The backend sees only its own options. */
    KeyvalList rest = {.pairs = g_ptr_array_new(), .help = FALSE};
    GError *err = NULL;
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(opts->pairs, i);
        if (!strcmp(kv->key, "backend") || !strcmp(kv->key, "id")) {
            continue;
        }
        if (!strcmp(kv->key, "mux")) {
            gboolean mux = FALSE;
            if (!keyval_parse_bool("mux", kv->value, &mux, &err)) {
                break;
            }
            /* The caller puts a mux in front (chardev_new_from_opts). */
            continue;
        }
        g_ptr_array_add(rest.pairs, kv);
    }

    JsonObject *result = NULL;
    if (!err) {
        chardev_register_types();
        ChardevClass *cc = g_type_class_ref(bt->get_type());
        JsonObject *data = json_object_new();
        if (cc->parse_opts(&rest, data, &err)) {
            result = json_object_new();
            json_object_set_string_member(result, "type", bt->name);
            json_object_set_object_member(result, "data", json_object_ref(data));
        }
        json_object_unref(data);
        g_type_class_unref(cc);
    }
    g_ptr_array_free(rest.pairs, TRUE);
    if (err) {
        g_propagate_error(errp, err);
    }
    return result;
}

static Chardev *chardev_new_from_opts_id(KeyvalList *opts, const char *id, GError **errp)
{
    if (!id) {
        error_setg(errp, "chardev: no id specified");
        return NULL;
    }
    if (!check_id(id, errp)) {
        return NULL;
    }
    if (chardev_find(id)) {
        error_setg(errp, "Duplicate ID '%s' for chardev", id);
        return NULL;
    }
    if (!keyval_get(opts, "id")) {
        keyval_set(opts, "id", id);
    }
    gboolean mux = FALSE;
    if (keyval_get(opts, "mux") && !keyval_parse_bool("mux", keyval_get(opts, "mux"), &mux, errp)) {
        return NULL;
    }
    JsonObject *backend = chardev_opts_to_backend(opts, errp);
    if (!backend) {
        return NULL;
    }
    const BackendType *bt = backend_lookup(chr_json_str(backend, "type"));
    JsonObject *data = json_object_get_object_member(backend, "data");
    /* mux=on: the backend is ID-base, and ID the mux in front of it, as upstream names them. */
    g_autofree char *base_id = mux ? g_strdup_printf("%s-base", id) : g_strdup(id);
    Chardev *chr = chardev_create(base_id, bt, data, errp);
    json_object_unref(backend);
    if (chr && mux) {
        Chardev *base = chr;
        JsonObject *mux_data = json_object_new();
        json_object_set_string_member(mux_data, "chardev", base_id);
        chr = chardev_create(id, backend_lookup("mux"), mux_data, errp);
        json_object_unref(mux_data);
        if (!chr) {
            qom_object_unparent(QOM_OBJECT(base));
        }
    }
    return chr;
}

Chardev *chardev_new_from_opts(KeyvalList *opts, GError **errp)
{
    return chardev_new_from_opts_id(opts, keyval_get(opts, "id"), errp);
}

Chardev *chardev_new_from_json(const char *id, JsonObject *backend, GError **errp)
{
    const char *type = chr_json_str(backend, "type");
    if (!type) {
        error_set_missing_param(errp, "backend.type");
        return NULL;
    }
    const BackendType *bt = backend_lookup(type);
    if (!bt) {
        error_setg(errp, "Parameter 'type' does not accept value '%s'", type);
        return NULL;
    }
    if (chardev_find(id)) {
        error_setg(errp, "Chardev with id '%s' already exists", id);
        return NULL;
    }
    JsonNode *dn = json_object_get_member(backend, "data");
    if (!dn || JSON_NODE_TYPE(dn) != JSON_NODE_OBJECT) {
        error_set_missing_param(errp, "backend.data");
        return NULL;
    }
    GError *err = NULL;
    Chardev *chr = chardev_create(id, bt, json_node_get_object(dn), &err);
    if (!chr) {
        /* Schema-level problems keep their own wording; open failures are prefixed. */
        if (g_str_has_prefix(err->message, "Parameter 'backend.")) {
            g_propagate_error(errp, err);
        } else {
            error_setg(errp, "Failed to add chardev '%s': %s", id, err->message);
            g_error_free(err);
        }
    }
    return chr;
}

KeyvalList *chardev_legacy_to_opts(const char *spec, KeyvalFlags flags, GError **errp)
{
    KeyvalList *opts = NULL;
    const char *rest;
    GError *err = NULL;

    if (!strcmp(spec, "stdio") || !strcmp(spec, "null") || !strcmp(spec, "pty")) {
        opts = keyval_parse("", NULL, KEYVAL_OPTS | KEYVAL_QUIET, &err);
        if (opts) {
            keyval_set(opts, "backend", spec);
        }
    } else if ((rest = g_str_has_prefix(spec, "file:") ? spec + 5 : NULL)) {
        opts = keyval_parse("", NULL, KEYVAL_OPTS | KEYVAL_QUIET, &err);
        if (opts) {
            keyval_set(opts, "backend", "file");
            keyval_set(opts, "path", rest);
        }
    } else if ((rest = g_str_has_prefix(spec, "unix:") ? spec + 5 : NULL)) {
        opts = keyval_parse(rest, "path", KEYVAL_OPTS | flags, &err);
        if (opts) {
            keyval_set(opts, "backend", "socket");
        }
    } else if ((rest = g_str_has_prefix(spec, "tcp:") ? spec + 4 : NULL)) {
        char *host = NULL, *port = NULL;
        const char *after;
        if (socket_split_host_port(rest, &host, &port, &after, NULL)) {
            opts = keyval_parse(*after == ',' ? after + 1 : "", NULL, KEYVAL_OPTS | flags, &err);
            if (opts) {
                keyval_set(opts, "backend", "socket");
                keyval_set(opts, "host", host);
                keyval_set(opts, "port", port);
            }
        }
        g_free(host);
        g_free(port);
    }
    if (err) {
        g_propagate_error(errp, err);
        return NULL;
    }
    if (!opts) {
        error_setg(errp, "'%s' is not a valid char driver", spec);
    }
    return opts;
}

static ChardevMonitorHook mux_monitor_hook;

void chardev_set_mux_monitor_hook(ChardevMonitorHook hook)
{
    mux_monitor_hook = hook;
}

gboolean chardev_run_mux_monitor_hook(Chardev *chr, GError **errp)
{
    return mux_monitor_hook ? mux_monitor_hook(chr, errp) : TRUE;
}

Chardev *chardev_new_from_legacy(const char *label, const char *spec, GError **errp)
{
    const char *mon_spec = g_str_has_prefix(spec, "mon:") ? spec + strlen("mon:") : NULL;
    if (mon_spec) {
        KeyvalList *opts = chardev_legacy_to_opts(mon_spec, 0, errp);
        if (!opts) {
            return NULL;
        }
        keyval_set(opts, "mux", "on");
        /* The monitor shares the terminal: Ctrl-C goes to the guest, not to us. */
        if (!strcmp(mon_spec, "stdio")) {
            keyval_set(opts, "signal", "off");
        }
        Chardev *chr = chardev_new_from_opts_id(opts, label, errp);
        keyval_list_free(opts);
        if (chr && !chardev_run_mux_monitor_hook(chr, errp)) {
            chardev_remove(label, NULL);
            return NULL;
        }
        return chr;
    }
    if (g_str_has_prefix(spec, "chardev:")) {
        Chardev *chr = chardev_find(spec + strlen("chardev:"));
        if (!chr) {
            error_setg(errp, "chardev '%s' not found", spec + strlen("chardev:"));
        }
        return chr;
    }
    KeyvalList *opts = chardev_legacy_to_opts(spec, 0, errp);
    if (!opts) {
        return NULL;
    }
    Chardev *chr = chardev_new_from_opts_id(opts, label, errp);
    keyval_list_free(opts);
    return chr;
}

gboolean chardev_remove(const char *id, GError **errp)
{
    Chardev *chr = chardev_find(id);
    if (!chr) {
        error_setg(errp, "Chardev '%s' not found", id);
        return FALSE;
    }
    if (chardev_is_busy(chr)) {
        error_setg(errp, "Chardev '%s' is busy", id);
        return FALSE;
    }
    qom_object_unparent(QOM_OBJECT(chr));
    return TRUE;
}

void chardev_remove_all(void)
{
    GPtrArray *all = chardev_list();
    for (guint i = 0; i < all->len; i++) {
        qom_object_unparent(QOM_OBJECT(g_ptr_array_index(all, i)));
    }
    g_ptr_array_free(all, TRUE);
}

const char *chardev_get_id(Chardev *chr)
{
    return priv(chr)->label;
}

const char *chardev_backend_name(Chardev *chr)
{
    return CHARDEV_GET_CLASS(chr)->backend_name;
}

char *chardev_filename(Chardev *chr)
{
    chardev_lock(chr);
    char *s = CHARDEV_GET_CLASS(chr)->filename(chr);
    chardev_unlock(chr);
    return s;
}

gboolean chardev_has_feature(Chardev *chr, ChardevFeature feature)
{
    return (CHARDEV_GET_CLASS(chr)->features & feature) == feature;
}

gboolean chardev_is_busy(Chardev *chr)
{
    /* QEMU 7.2 counts a mux as busy whether or not anything uses it: it cannot be removed. */
    return priv(chr)->fes->len > 0 || CHARDEV_GET_CLASS(chr)->max_frontends > 1;
}

gboolean chardev_is_connected(Chardev *chr)
{
    return priv(chr)->be_open;
}

gboolean chardev_frontend_open(Chardev *chr)
{
    CharFrontend *fe = priv(chr)->fe;
    return fe && (fe->read || fe->event);
}

void chardev_get_stats(Chardev *chr, ChardevStats *stats)
{
    ChardevPrivate *p = priv(chr);
    chardev_lock(chr);
    chardev_write_lock(chr);
    *stats = p->stats;
    chardev_write_unlock(chr);
    chardev_unlock(chr);
}

GPtrArray *chardev_list(void)
{
    GPtrArray *children = qom_object_children(chardevs_container());
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < children->len; i++) {
        QomObject *o = g_ptr_array_index(children, i);
        if (CHARDEV_IS_CHARDEV(o)) {
            g_ptr_array_add(out, o);
        }
    }
    g_ptr_array_free(children, TRUE);
    return out;
}

/* ---- front-end ---- */

CharFrontend *char_fe_new(Chardev *chr, GError **errp)
{
    ChardevPrivate *p = priv(chr);
    guint max = MAX(CHARDEV_GET_CLASS(chr)->max_frontends, 1);
    chardev_lock(chr);
    if (p->fes->len >= max) {
        chardev_unlock(chr);
        error_setg(errp, "Device '%s' is in use", p->label);
        return NULL;
    }
    CharFrontend *fe = g_new0(CharFrontend, 1);
    fe->chr = g_object_ref(chr);
    chardev_write_lock(chr);
    g_ptr_array_add(p->fes, fe);
    chardev_write_unlock(chr);
    if (!p->fe) {
        p->fe = fe;
    }
    chardev_unlock(chr);
    return fe;
}

void char_fe_free(CharFrontend *fe)
{
    if (!fe) {
        return;
    }
    Chardev *chr = fe->chr;
    char_fe_set_handlers(fe, NULL, NULL, NULL, NULL, NULL);
    chardev_write_lock(chr);
    write_watch_drop_locked(fe);
    chardev_write_unlock(chr);
    chardev_lock(chr);
    ChardevPrivate *p = priv(chr);
    chardev_write_lock(chr);
    g_ptr_array_remove(p->fes, fe);
    chardev_write_unlock(chr);
    if (p->fe == fe) {
        p->fe = p->fes->len ? g_ptr_array_index(p->fes, 0) : NULL;
    }
    if (CHARDEV_GET_CLASS(chr)->frontend_gone) {
        CHARDEV_GET_CLASS(chr)->frontend_gone(chr, fe);
    }
    chardev_unlock(chr);
    g_object_unref(chr);
    g_free(fe);
}

Chardev *char_fe_get_chardev(CharFrontend *fe)
{
    return fe->chr;
}

/* The front-end whose open_idle (state lock held) or write_watch (write lock held) is @src; the
 * list changes under both locks. */
static CharFrontend *chardev_fe_by_source(Chardev *chr, GSource *src, gboolean write_watch)
{
    GPtrArray *fes = priv(chr)->fes;
    for (guint i = 0; i < fes->len; i++) {
        CharFrontend *fe = g_ptr_array_index(fes, i);
        if ((write_watch ? fe->write_watch : fe->open_idle) == src) {
            return fe;
        }
    }
    return NULL;
}

static gboolean fe_open_idle_cb(gpointer data)
{
    Chardev *chr = data;
    GSource *self = g_main_current_source();
    chardev_lock(chr);
    CharFrontend *fe = chardev_fe_by_source(chr, self, FALSE);
    /* Cancelled (handlers changed, front-end freed) while we waited for the lock. */
    if (!g_source_is_destroyed(self) && fe && fe->open_idle) {
        /* Dropping our own pointer first: the handler may reinstall handlers. */
        g_source_unref(fe->open_idle);
        fe->open_idle = NULL;
        if (priv(chr)->be_open && fe->event && !fe->opened_sent) {
            fe->opened_sent = TRUE;
            fe->event(fe->opaque, CHR_EVENT_OPENED);
        }
    }
    chardev_unlock(chr);
    return G_SOURCE_REMOVE;
}

void char_fe_set_handlers(CharFrontend *fe, ChrCanReadHandler can_read, ChrReadHandler read,
                          ChrEventHandler event, void *opaque, GMainContext *context)
{
    Chardev *chr = fe->chr;
    ChardevPrivate *p = priv(chr);
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);

    chardev_lock(chr);
    chr_source_clear(&fe->open_idle);
    gboolean had_handlers = fe->read || fe->event;
    fe->can_read = can_read;
    fe->read = read;
    fe->event = event;
    fe->opaque = opaque;
    if (!had_handlers) {
        fe->opened_sent = FALSE;
    }
    if (context == g_main_context_default()) {
        context = NULL;
    }
    if (context != p->context) {
        if (p->context) {
            g_main_context_unref(p->context);
        }
        p->context = context ? g_main_context_ref(context) : NULL;
        fe->context = p->context;
        /* A pending write notification moves along to the new context. */
        chardev_write_lock(chr);
        ChrWritableHandler wfunc = fe->write_watch ? fe->writable : NULL;
        void *wopaque = fe->writable_opaque;
        chardev_write_unlock(chr);
        if (wfunc) {
            char_fe_notify_writable(fe, wfunc, wopaque);
        }
    }
    if (cc->update_sources) {
        cc->update_sources(chr);
    }
    if ((event || read) && cc->frontend_ready) {
        cc->frontend_ready(chr, fe);
    }
    if (!event && !read) {
        fe->opened_sent = FALSE;
    } else if (p->be_open && event && !fe->opened_sent) {
        fe->open_idle = g_idle_source_new();
        /* Before any input on the same context: the front-end must see OPENED first. */
        g_source_set_priority(fe->open_idle, G_PRIORITY_HIGH);
        g_source_set_callback(fe->open_idle, fe_open_idle_cb, g_object_ref(chr), g_object_unref);
        g_source_attach(fe->open_idle, chardev_context(chr));
    }
    chardev_unlock(chr);
    /* A paused reader may now take bytes: let the context re-evaluate. */
    g_main_context_wakeup(chardev_context(chr));
}

/* ---- write readiness ---- */

static void write_watch_drop_locked(CharFrontend *fe)
{
    chr_source_clear(&fe->write_watch);
    fe->writable = NULL;
    fe->writable_opaque = NULL;
}

static gboolean fe_writable_cb(gint fd, GIOCondition cond, gpointer data)
{
    Chardev *chr = data;
    GSource *self = g_main_current_source();
    ChrWritableHandler func = NULL;
    void *opaque = NULL;

    chardev_write_lock(chr);
    CharFrontend *fe = chardev_fe_by_source(chr, self, TRUE);
    /* Replaced or dropped by another thread while we waited for the lock: not ours to run. */
    if (fe && !g_source_is_destroyed(self)) {
        func = fe->writable;
        opaque = fe->writable_opaque;
        g_source_unref(fe->write_watch);
        fe->write_watch = NULL;
        fe->writable = NULL;
        fe->writable_opaque = NULL;
    }
    chardev_write_unlock(chr);
    /* Unlocked: the handler typically writes, which takes the write lock again. */
    if (func) {
        func(opaque);
    }
    return G_SOURCE_REMOVE;
}

gboolean char_fe_notify_writable(CharFrontend *fe, ChrWritableHandler func, void *opaque)
{
    Chardev *chr = fe->chr;
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);

    chardev_write_lock(chr);
    write_watch_drop_locked(fe);
    int fd = cc->write_fd ? cc->write_fd(chr) : -1;
    if (fd >= 0 && func) {
        fe->writable = func;
        fe->writable_opaque = opaque;
        fe->write_watch = g_unix_fd_source_new(fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
        g_source_set_name(fe->write_watch, "chardev-writable");
        g_source_set_callback(fe->write_watch, G_SOURCE_FUNC(fe_writable_cb), g_object_ref(chr),
                              g_object_unref);
        g_source_attach(fe->write_watch, chardev_context(chr));
    }
    chardev_write_unlock(chr);
    return fd >= 0 && func;
}

void char_fe_cancel_writable(CharFrontend *fe)
{
    chardev_write_lock(fe->chr);
    write_watch_drop_locked(fe);
    chardev_write_unlock(fe->chr);
}

void char_fe_accept_input(CharFrontend *fe)
{
    ChardevClass *cc = CHARDEV_GET_CLASS(fe->chr);
    if (cc->accept_input) {
        cc->accept_input(fe->chr);
    }
    g_main_context_wakeup(chardev_context(fe->chr));
}

int char_fe_write(CharFrontend *fe, const guint8 *buf, int len)
{
    Chardev *chr = fe->chr;
    ChardevPrivate *p = priv(chr);
    chardev_write_lock(chr);
    int n = CHARDEV_GET_CLASS(chr)->write(chr, buf, len);
    if (n > 0) {
        p->stats.bytes_out += n;
    } else if (n < 0 && errno == EAGAIN) {
        n = 0;
    } else if (n < 0) {
        p->stats.write_errors++;
    }
    chardev_write_unlock(chr);
    return n;
}

int char_fe_write_all(CharFrontend *fe, const guint8 *buf, int len)
{
    Chardev *chr = fe->chr;
    ChardevPrivate *p = priv(chr);
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    int done = 0;
    gint64 stall_start = -1;
    int saved_errno = 0;

    chardev_write_lock(chr);
    while (done < len) {
        int n = cc->write(chr, buf + done, len - done);
        if (n > 0) {
            done += n;
            p->stats.bytes_out += n;
            stall_start = -1;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            gint64 now = g_get_monotonic_time();
            if (stall_start < 0) {
                stall_start = now;
            }
            gint64 left_ms = CHR_WRITE_STALL_MS - (now - stall_start) / 1000;
            int fd = cc->write_fd ? cc->write_fd(chr) : -1;
            if (left_ms <= 0 || fd < 0) {
                saved_errno = fd < 0 ? EIO : ETIMEDOUT;
                if (fd >= 0) {
                    p->stats.write_timeouts++;
                }
                break;
            }
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, MIN(left_ms, 100));
            continue;
        }
        saved_errno = n < 0 ? errno : EIO;
        break;
    }
    if (done < len) {
        p->stats.write_errors++;
    }
    chardev_write_unlock(chr);
    if (done < len) {
        errno = saved_errno;
        return -1;
    }
    return len;
}

gboolean char_fe_backend_connected(CharFrontend *fe)
{
    return fe && fe->chr;
}

void char_fe_disconnect(CharFrontend *fe)
{
    Chardev *chr = fe->chr;
    ChardevClass *cc = CHARDEV_GET_CLASS(chr);
    chardev_lock(chr);
    if (cc->disconnect) {
        cc->disconnect(chr);
    }
    chardev_unlock(chr);
}
