/*
 * The "iothread" user object: one thread running a GMainLoop on its own GMainContext.
 * The polling properties are accepted and reported as QEMU 7.2 does; the loop is plain GLib.
 */
#include "qom/iothread.h"
#include "util/error.h"

#include <sys/syscall.h>
#include <unistd.h>

/* QEMU 7.2's defaults (IOTHREAD_POLL_MAX_NS_DEFAULT, thread pool max). */
#define POLL_MAX_NS_DEFAULT     32768
#define THREAD_POOL_MAX_DEFAULT 64

enum {
    PROP_0,
    PROP_POLL_MAX_NS,
    PROP_POLL_GROW,
    PROP_POLL_SHRINK,
    PROP_AIO_MAX_BATCH,
    PROP_THREAD_POOL_MIN,
    PROP_THREAD_POOL_MAX,
    N_PROPS
};

struct _IOThread {
    QomObject parent_instance;
    gint64 props[N_PROPS];

    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    GMutex lock;
    GCond cond;
    int thread_id; /* 0 until the thread has started */
};

G_DEFINE_TYPE(IOThread, iothread, QOM_TYPE_OBJECT)

static const struct {
    const char *name;
    const char *blurb;
    gint64 dflt;
} prop_info[N_PROPS] = {
    [PROP_POLL_MAX_NS] = {"poll-max-ns", "maximum polling time in ns", POLL_MAX_NS_DEFAULT},
    [PROP_POLL_GROW] = {"poll-grow", "polling time growth factor", 0},
    [PROP_POLL_SHRINK] = {"poll-shrink", "polling time shrink divisor", 0},
    [PROP_AIO_MAX_BATCH] = {"aio-max-batch", "maximum requests in a batch", 0},
    [PROP_THREAD_POOL_MIN] = {"thread-pool-min", "minimum worker threads", 0},
    [PROP_THREAD_POOL_MAX] = {"thread-pool-max", "maximum worker threads", THREAD_POOL_MAX_DEFAULT},
};

/*
 * Announces the thread from inside the running loop: a g_main_loop_quit() issued before
 * g_main_loop_run() started would be forgotten, so nobody may stop us before this point.
 */
static gboolean iothread_started(gpointer data)
{
    IOThread *iot = data;
    g_mutex_lock(&iot->lock);
    iot->thread_id = syscall(SYS_gettid);
    g_cond_broadcast(&iot->cond);
    g_mutex_unlock(&iot->lock);
    return G_SOURCE_REMOVE;
}

static gpointer iothread_run(gpointer data)
{
    IOThread *iot = data;
    g_main_context_push_thread_default(iot->context);
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_HIGH);
    g_source_set_callback(src, iothread_started, iot, NULL);
    g_source_attach(src, iot->context);
    g_source_unref(src);

    g_main_loop_run(iot->loop);

    g_main_context_pop_thread_default(iot->context);
    return NULL;
}

static gboolean iothread_complete(QomObject *obj, GError **errp)
{
    IOThread *iot = IO_THREAD(obj);
    if (iot->props[PROP_THREAD_POOL_MIN] > iot->props[PROP_THREAD_POOL_MAX]) {
        error_setg(errp, "bad thread-pool-min/thread-pool-max values");
        return FALSE;
    }
    if (iot->thread) {
        return TRUE;
    }
    iot->context = g_main_context_new();
    iot->loop = g_main_loop_new(iot->context, FALSE);
    char *name =
        g_strdup_printf("IO %s", qom_object_get_name(obj) ? qom_object_get_name(obj) : "iothread");
    iot->thread = g_thread_new(name, iothread_run, iot);
    g_free(name);
    g_mutex_lock(&iot->lock);
    while (!iot->thread_id) {
        g_cond_wait(&iot->cond, &iot->lock);
    }
    g_mutex_unlock(&iot->lock);
    return TRUE;
}

static void iothread_stop(IOThread *iot)
{
    if (!iot->thread) {
        return;
    }
    g_main_loop_quit(iot->loop);
    g_thread_join(iot->thread);
    iot->thread = NULL;
}

static void iothread_unparent(QomObject *obj)
{
    iothread_stop(IO_THREAD(obj));
}

static void iothread_finalize(GObject *obj)
{
    IOThread *iot = IO_THREAD(obj);
    iothread_stop(iot);
    if (iot->loop) {
        g_main_loop_unref(iot->loop);
    }
    if (iot->context) {
        g_main_context_unref(iot->context);
    }
    g_mutex_clear(&iot->lock);
    g_cond_clear(&iot->cond);
    G_OBJECT_CLASS(iothread_parent_class)->finalize(obj);
}

static void iothread_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    IOThread *iot = IO_THREAD(obj);
    if (id > PROP_0 && id < N_PROPS) {
        gint64 val = g_value_get_int64(v);
        if (val < 0) {
            GError *err = NULL;
            error_setg(&err, "%s value must be in range [0, %" G_GINT64_FORMAT "]",
                       prop_info[id].name, G_MAXINT64);
            qom_object_set_error(QOM_OBJECT(obj), err);
            return;
        }
        gint64 pmin = id == PROP_THREAD_POOL_MIN ? val : iot->props[PROP_THREAD_POOL_MIN];
        gint64 pmax = id == PROP_THREAD_POOL_MAX ? val : iot->props[PROP_THREAD_POOL_MAX];
        if (iot->thread && pmin > pmax) {
            /* Before complete() the pair is checked as a whole, once both are set. */
            GError *err = NULL;
            error_setg(&err, "bad thread-pool-min/thread-pool-max values");
            qom_object_set_error(QOM_OBJECT(obj), err);
            return;
        }
        iot->props[id] = val;
    } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void iothread_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    IOThread *iot = IO_THREAD(obj);
    if (id > PROP_0 && id < N_PROPS) {
        g_value_set_int64(v, iot->props[id]);
    } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void iothread_class_init(IOThreadClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    QomObjectClass *qc = QOM_OBJECT_CLASS(klass);
    oc->finalize = iothread_finalize;
    oc->set_property = iothread_set_property;
    oc->get_property = iothread_get_property;
    qc->complete = iothread_complete;
    qc->unparent = iothread_unparent;
    for (guint id = PROP_0 + 1; id < N_PROPS; id++) {
        /* The setter refuses negative values in QEMU's words, so the pspec takes any. */
        GParamSpec *ps =
            g_param_spec_int64(prop_info[id].name, prop_info[id].name, prop_info[id].blurb,
                               G_MININT64, G_MAXINT64, prop_info[id].dflt, QOM_PARAM_RW);
        qom_class_install_property(oc, id, ps, "int", FALSE);
    }
}

static void iothread_init(IOThread *iot)
{
    g_mutex_init(&iot->lock);
    g_cond_init(&iot->cond);
    for (guint id = PROP_0 + 1; id < N_PROPS; id++) {
        iot->props[id] = prop_info[id].dflt;
    }
}

GMainContext *iothread_get_context(IOThread *iot)
{
    return iot->context;
}

int iothread_get_thread_id(IOThread *iot)
{
    return iot->thread_id;
}

IOThread *iothread_find(const char *id)
{
    QomObject *obj = qom_user_find(id, "iothread");
    return obj ? IO_THREAD(obj) : NULL;
}

typedef struct RunSync {
    GSourceFunc fn;
    gpointer data;
    GMutex lock;
    GCond cond;
    gboolean done;
} RunSync;

static gboolean run_sync_cb(gpointer opaque)
{
    RunSync *rs = opaque;
    rs->fn(rs->data);
    g_mutex_lock(&rs->lock);
    rs->done = TRUE;
    g_cond_signal(&rs->cond);
    g_mutex_unlock(&rs->lock);
    return G_SOURCE_REMOVE;
}

void iothread_run_sync(IOThread *iot, GSourceFunc fn, gpointer data)
{
    if (!iot->thread || g_main_context_is_owner(iot->context)) {
        /* Not started, or already on it: waiting for ourselves would never end. */
        fn(data);
        return;
    }
    RunSync rs = {.fn = fn, .data = data};
    g_mutex_init(&rs.lock);
    g_cond_init(&rs.cond);
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_HIGH);
    g_source_set_callback(src, run_sync_cb, &rs, NULL);
    g_source_attach(src, iot->context);
    g_source_unref(src);
    g_mutex_lock(&rs.lock);
    while (!rs.done) {
        g_cond_wait(&rs.cond, &rs.lock);
    }
    g_mutex_unlock(&rs.lock);
    g_mutex_clear(&rs.lock);
    g_cond_clear(&rs.cond);
}

void iothread_register_types(void)
{
    static gsize done;
    if (g_once_init_enter(&done)) {
        qom_register_type("iothread", TYPE_IOTHREAD, NULL, TRUE);
        g_once_init_leave(&done, 1);
    }
}
