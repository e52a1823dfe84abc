/* Background jobs: ids, upstream's status machine and verb table, reports to the monitor
 * (include/block/job.h). */
#include "block/job.h"
#include "util/error.h"
#include "util/keyval.h"

#include <string.h>

static GPtrArray *jobs; /* Job*, creation order */
static JobNotify notify_fn;

static const char *const status_names[JOB_ST__MAX] = {
    "undefined", "created", "running",  "paused",    "ready", "standby",
    "waiting",   "pending", "aborting", "concluded", "null",
};

static const char *const verb_names[JOB_V__MAX] = {
    "cancel", "pause", "resume", "set-speed", "complete", "dismiss", "finalize",
};

/* Which status accepts which verb: upstream 7.2's table. Columns: U C R P Y S W D X E N. */
static const bool verb_ok[JOB_V__MAX][JOB_ST__MAX] = {
    [JOB_V_CANCEL] = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    [JOB_V_PAUSE] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_V_RESUME] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_V_SET_SPEED] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_V_COMPLETE] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0},
    [JOB_V_DISMISS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
    [JOB_V_FINALIZE] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0},
};

void job_set_notify(JobNotify notify)
{
    notify_fn = notify;
}

static void report(Job *job, JobEventKind kind)
{
    if (notify_fn) {
        notify_fn(job, kind);
    }
}

const char *job_status_name(JobStatusCode st)
{
    return st < JOB_ST__MAX ? status_names[st] : "undefined";
}

static void transition(Job *job, JobStatusCode st)
{
    job->status = st;
    report(job, JOB_EV_STATUS);
}

static bool apply_verb(Job *job, JobVerbCode verb, GError **errp)
{
    if (verb_ok[verb][job->status]) {
        return true;
    }
    error_setg(errp, "Job '%s' in state '%s' cannot accept command verb '%s'", job->id,
               status_names[job->status], verb_names[verb]);
    return false;
}

Job *job_find(const char *id)
{
    for (guint i = 0; jobs && id && i < jobs->len; i++) {
        Job *job = jobs->pdata[i];
        if (strcmp(job->id, id) == 0) {
            return job;
        }
    }
    return NULL;
}

GPtrArray *job_all(void)
{
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; jobs && i < jobs->len; i++) {
        g_ptr_array_add(out, jobs->pdata[i]);
    }
    return out;
}

static void job_unref(Job *job)
{
    /* Workers take references (post) while the main loop drops them. */
    if (!g_atomic_int_dec_and_test(&job->refcnt)) {
        return;
    }
    g_mutex_clear(&job->end_lock);
    g_queue_clear(&job->errors);
    g_free(job->end_err);
    g_free(job->error);
    g_free(job->id);
    g_free(job);
}

Job *job_create(const char *id, const JobDriver *drv, void *opaque, int64_t speed,
                bool auto_finalize, bool auto_dismiss, GError **errp)
{
    job_flush_finished();
    if (!id_wellformed(id)) {
        error_setg(errp, "Invalid job ID '%s'", id);
        return NULL;
    }
    if (job_find(id)) {
        error_setg(errp, "Job ID '%s' already in use", id);
        return NULL;
    }
    Job *job = g_new0(Job, 1);
    job->refcnt = 1;
    g_mutex_init(&job->end_lock);
    g_queue_init(&job->errors);
    job->id = g_strdup(id);
    job->drv = drv;
    job->opaque = opaque;
    job->speed = speed;
    job->auto_finalize = auto_finalize;
    job->auto_dismiss = auto_dismiss;
    if (!jobs) {
        jobs = g_ptr_array_new();
    }
    g_ptr_array_add(jobs, job);
    transition(job, JOB_ST_CREATED);
    if (speed < 0) {
        /* Upstream sets the speed once the job exists: it is created, then gone. */
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        transition(job, JOB_ST_NULL);
        g_ptr_array_remove(jobs, job);
        job_unref(job);
        return NULL;
    }
    return job;
}

void job_start(Job *job)
{
    transition(job, JOB_ST_RUNNING);
    g_atomic_int_set(&job->busy, 1);
    job->drv->start(job);
}

static void job_free(Job *job)
{
    g_ptr_array_remove(jobs, job);
    if (job->drv->free) {
        job->drv->free(job);
    }
    job_unref(job);
}

static void conclude(Job *job)
{
    transition(job, JOB_ST_CONCLUDED);
    if (job->auto_dismiss) {
        transition(job, JOB_ST_NULL);
        job_free(job);
    }
}

static void do_abort(Job *job)
{
    transition(job, JOB_ST_ABORTING);
    if (job->drv->abort) {
        job->drv->abort(job);
    }
    if (job->cancelled) {
        if (!job->error) {
            job->error = g_strdup("Operation canceled");
        }
        report(job, JOB_EV_CANCELLED);
    } else {
        report(job, JOB_EV_COMPLETED);
    }
    conclude(job);
}

static void do_finalize(Job *job)
{
    GError *err = NULL;
    if (job->drv->commit && job->drv->commit(job, &err) < 0) {
        job->error = g_strdup(err ? err->message : "Input/output error");
        g_clear_error(&err);
    }
    report(job, JOB_EV_COMPLETED);
    conclude(job);
}

/* The work has ended (main loop). */
static void work_ended(Job *job)
{
    g_atomic_int_set(&job->busy, 0);
    if (job->ret < 0 || job->cancelled) {
        do_abort(job);
        return;
    }
    transition(job, JOB_ST_WAITING);
    transition(job, JOB_ST_PENDING);
    if (!job->auto_finalize) {
        report(job, JOB_EV_PENDING);
        return;
    }
    do_finalize(job);
}

/* The worker's end, taken on the main loop once (from the posted message, or earlier by
 * job_flush_finished). */
/* The worker's I/O errors not yet reported (main loop), each as BLOCK_JOB_ERROR. */
static void report_errors(Job *job)
{
    for (;;) {
        g_mutex_lock(&job->end_lock);
        gpointer e = g_queue_pop_head(&job->errors);
        g_mutex_unlock(&job->end_lock);
        if (!e) {
            return;
        }
        job->error_is_read = GPOINTER_TO_INT(e) & 2;
        job->error_ignored = GPOINTER_TO_INT(e) & 4;
        report(job, JOB_EV_ERROR);
    }
}

static void take_end(Job *job)
{
    report_errors(job);
    g_mutex_lock(&job->end_lock);
    bool take = job->work_done && !job->work_taken;
    job->work_taken |= take;
    char *err = g_steal_pointer(&job->end_err);
    g_mutex_unlock(&job->end_lock);
    if (!take) {
        g_free(err);
        return;
    }
    job->ret = job->end_ret;
    if (err && !job->error) {
        job->error = g_steal_pointer(&err);
    }
    g_free(err);
    work_ended(job);
}

typedef enum {
    MSG_READY,
    MSG_FINISHED,
    MSG_ERROR,
} JobMsgKind;

typedef struct JobMsg {
    Job *job;
    JobMsgKind kind;
} JobMsg;

static gboolean deliver(gpointer data)
{
    JobMsg *m = data;
    Job *job = m->job;
    if (job->status == JOB_ST_NULL) {
        /* dismissed meanwhile */
    } else if (m->kind == MSG_ERROR) {
        report_errors(job);
    } else if (m->kind == MSG_READY) {
        /* A cancel may have come first: only a running job becomes ready. */
        if (job->status == JOB_ST_RUNNING) {
            transition(job, JOB_ST_READY);
            report(job, JOB_EV_READY);
        }
    } else {
        take_end(job);
    }
    job_unref(job);
    g_free(m);
    return G_SOURCE_REMOVE;
}

/* Any thread: the main loop learns it later. The message holds a reference on the job, which
 * only the main loop changes. */
static void post(Job *job, JobMsgKind kind)
{
    JobMsg *m = g_new0(JobMsg, 1);
    m->job = job;
    m->kind = kind;
    g_atomic_int_inc(&job->refcnt);
    /* Always later, also when called on the main thread (g_main_context_invoke would not). */
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, deliver, m, NULL);
    g_source_attach(src, g_main_context_default());
    g_source_unref(src);
}

void job_ready(Job *job)
{
    post(job, MSG_READY);
}

void job_io_error(Job *job, bool is_read, bool ignored)
{
    g_mutex_lock(&job->end_lock);
    /* 1 keeps the pointer non-NULL. */
    g_queue_push_tail(&job->errors, GINT_TO_POINTER(1 | (is_read ? 2 : 0) | (ignored ? 4 : 0)));
    g_mutex_unlock(&job->end_lock);
    post(job, MSG_ERROR);
}

void job_finished(Job *job, int ret, char *err)
{
    g_mutex_lock(&job->end_lock);
    job->end_ret = ret;
    job->end_err = err;
    job->work_done = true;
    g_mutex_unlock(&job->end_lock);
    post(job, MSG_FINISHED);
}

void job_flush_finished(void)
{
    g_autoptr(GPtrArray) all = job_all();
    for (guint i = 0; i < all->len; i++) {
        take_end(all->pdata[i]);
    }
}

bool job_cancel(Job *job, bool force, GError **errp)
{
    if (!apply_verb(job, JOB_V_CANCEL, errp)) {
        return false;
    }
    if (job->status == JOB_ST_PENDING || job->status == JOB_ST_WAITING) {
        /* The work is over; only the finalization is left to refuse. */
        job->cancelled = true;
        job->force = force;
        do_abort(job);
        return true;
    }
    bool real = job->drv->cancel ? job->drv->cancel(job, force) : true;
    if (real) {
        job->cancelled = true;
        job->force |= force;
    }
    if (job->drv->wait_stopped) {
        /* So that the id and the source are free for the next command, as upstream's are. */
        job->drv->wait_stopped(job);
    }
    return true;
}

bool job_complete(Job *job, GError **errp)
{
    if (!apply_verb(job, JOB_V_COMPLETE, errp)) {
        return false;
    }
    if (job->cancelled || !job->drv->complete) {
        error_setg(errp, "The active block job '%s' cannot be completed", job->id);
        return false;
    }
    return job->drv->complete(job, errp);
}

bool job_set_speed(Job *job, int64_t speed, GError **errp)
{
    if (!apply_verb(job, JOB_V_SET_SPEED, errp)) {
        return false;
    }
    if (speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        return false;
    }
    job->speed = speed;
    if (job->drv->set_speed) {
        job->drv->set_speed(job);
    }
    return true;
}

bool job_finalize(Job *job, GError **errp)
{
    if (!apply_verb(job, JOB_V_FINALIZE, errp)) {
        return false;
    }
    do_finalize(job);
    return true;
}

bool job_dismiss(Job *job, GError **errp)
{
    if (!apply_verb(job, JOB_V_DISMISS, errp)) {
        return false;
    }
    transition(job, JOB_ST_NULL);
    job_free(job);
    return true;
}

bool job_shows_paused(Job *job)
{
    return job->status == JOB_ST_PENDING && !job->auto_finalize;
}

void job_cancel_all_sync(void)
{
    g_autoptr(GPtrArray) all = job_all();
    for (guint i = 0; i < all->len; i++) {
        Job *job = all->pdata[i];
        if (verb_ok[JOB_V_CANCEL][job->status]) {
            job_cancel(job, true, NULL);
        }
    }
    /* Each cancelled job's worker posts its end to the main context: run it until every job
     * has concluded (a job that is not dismissed automatically is dropped here). */
    while (jobs && jobs->len) {
        Job *job = jobs->pdata[0];
        if (job->status == JOB_ST_CONCLUDED) {
            transition(job, JOB_ST_NULL);
            job_free(job);
            continue;
        }
        g_main_context_iteration(g_main_context_default(), TRUE);
    }
}
