/*
 * Background jobs (block jobs): an id, a status machine as upstream 7.2's, progress, and the
 * reports the monitor turns into JOB_STATUS_CHANGE and BLOCK_JOB_* events.
 *
 *   job_create ──► created ──job_start──► running ──job_ready──► ready
 *                                            │                     │ complete, or cancel without
 *                  (work ends: ret == 0) ◄───┘◄────────────────────┘ force (mirror: no pivot)
 *                         │
 *                      waiting ──► pending ──(auto-finalize, or job-finalize)──► concluded
 *                                    │ commit: BLOCK_JOB_COMPLETED                   │
 *   (error, or cancel)  aborting ────┴─ abort: BLOCK_JOB_CANCELLED, or              (auto-dismiss,
 *                                       BLOCK_JOB_COMPLETED with "error" ──► concluded   dismiss)
 *                                                                                   ▼
 *                                                                                 null (freed)
 *
 * Every transition and every report runs on the main loop (which holds the big lock). The
 * work itself runs on a worker thread of the job's driver; it reports back through
 * job_ready() and job_finished(), which may be called from any thread.
 */
#ifndef BLOCK_JOB_H
#define BLOCK_JOB_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Upstream's JobStatus, in its order (the monitor maps it one to one). */
typedef enum {
    JOB_ST_UNDEFINED,
    JOB_ST_CREATED,
    JOB_ST_RUNNING,
    JOB_ST_PAUSED,
    JOB_ST_READY,
    JOB_ST_STANDBY,
    JOB_ST_WAITING,
    JOB_ST_PENDING,
    JOB_ST_ABORTING,
    JOB_ST_CONCLUDED,
    JOB_ST_NULL,
    JOB_ST__MAX,
} JobStatusCode;

/* Upstream's JobVerb (the commands a status accepts). */
typedef enum {
    JOB_V_CANCEL,
    JOB_V_PAUSE,
    JOB_V_RESUME,
    JOB_V_SET_SPEED,
    JOB_V_COMPLETE,
    JOB_V_DISMISS,
    JOB_V_FINALIZE,
    JOB_V__MAX,
} JobVerbCode;

/* What the monitor is told (one per event upstream sends). */
typedef enum {
    JOB_EV_STATUS,    /* JOB_STATUS_CHANGE */
    JOB_EV_READY,     /* BLOCK_JOB_READY */
    JOB_EV_PENDING,   /* BLOCK_JOB_PENDING (only without auto-finalize) */
    JOB_EV_COMPLETED, /* BLOCK_JOB_COMPLETED, with job->error on failure */
    JOB_EV_CANCELLED, /* BLOCK_JOB_CANCELLED */
    JOB_EV_ERROR,     /* BLOCK_JOB_ERROR: job->error_is_read, job->error_ignored */
} JobEventKind;

typedef struct Job Job;

typedef struct JobDriver {
    const char *type; /* JobType: "mirror" */
    /* Starts the work (main loop). The work ends with job_finished(). */
    void (*start)(Job *job);
    /* block-job-complete on a ready job (main loop); false + errp to refuse. */
    bool (*complete)(Job *job, GError **errp);
    /* A cancel request (main loop). Returns whether it is a real cancel (ends in aborting);
     * false: the job ends successfully instead (a ready mirror cancelled without force). The
     * driver's work must end soon after either way. */
    bool (*cancel)(Job *job, bool force);
    /* After a cancel (main loop): waits a little for the worker to report its end, bounded. */
    void (*wait_stopped)(Job *job);
    /* The speed changed (main loop). */
    void (*set_speed)(Job *job);
    /* After the work ended well and the job is finalized: make its result visible (mirror: the
     * pivot). Main loop; ret < 0 + errp turns the job into a failure. */
    int (*commit)(Job *job, GError **errp);
    /* After an error or a cancel (main loop). */
    void (*abort)(Job *job);
    /* Last: release what the driver holds (main loop); the worker has stopped. */
    void (*free)(Job *job);
} JobDriver;

struct Job {
    char *id;
    const JobDriver *drv;
    void *opaque; /* the driver's state */
    JobStatusCode status;
    bool auto_finalize, auto_dismiss;
    bool cancelled; /* ends in aborting */
    bool force;     /* cancel with force */
    char *error;    /* set once the job failed ("Operation canceled" after a cancel) */
    int64_t speed;  /* bytes/s, 0: unlimited */
    /* Progress, written by the worker, read by the monitor. */
    gint64 offset, len;
    gint busy;
    int ret; /* the work's result, once the main loop has taken it */

    /* The worker's end (job_finished), under end_lock until the main loop takes it. */
    GMutex end_lock;
    bool work_done, work_taken;
    int end_ret;
    char *end_err;
    GQueue errors; /* I/O errors the worker met, not yet reported (under end_lock) */
    bool error_is_read, error_ignored; /* the one being reported */
    int refcnt; /* the job list's, and one per message posted to the main loop */
};

/* The monitor's listener (one; vl.c points it at the monitor's event senders). */
typedef void (*JobNotify)(Job *job, JobEventKind kind);
void job_set_notify(JobNotify notify);

/*
 * A new job in status "created", reported. Errors as upstream: "Invalid job ID 'x'",
 * "Job ID 'x' already in use".
 */
Job *job_create(const char *id, const JobDriver *drv, void *opaque, int64_t speed,
                bool auto_finalize, bool auto_dismiss, GError **errp);
/* created -> running, then the driver's start(). */
void job_start(Job *job);
Job *job_find(const char *id);
/* Every job, in creation order (query-block-jobs, query-jobs). */
GPtrArray *job_all(void);
const char *job_status_name(JobStatusCode st);

/* From the driver's worker (any thread): the job is in sync (running -> ready), or its work
 * has ended with ret (0 or -errno; err: the failure's message, owned by the job then). */
void job_ready(Job *job);
void job_finished(Job *job, int ret, char *err);
/* From the worker: an I/O error (a read of the source, or a write of the target), ignored
 * (the chunk is tried again) or reported (the job ends with it); BLOCK_JOB_ERROR. */
void job_io_error(Job *job, bool is_read, bool ignored);

/* Takes the end of every job whose worker has finished but whose message has not been handled
 * yet (main loop): a new job, or a check for a busy source, sees the state a client expects. */
void job_flush_finished(void);

/* Monitor verbs, with upstream's checks and wording ("Job 'x' in state 'running' cannot
 * accept command verb 'complete'"). */
bool job_cancel(Job *job, bool force, GError **errp);
bool job_complete(Job *job, GError **errp);
bool job_set_speed(Job *job, int64_t speed, GError **errp);
bool job_finalize(Job *job, GError **errp);
bool job_dismiss(Job *job, GError **errp);
/* Whether query-block-jobs shows the job as paused (pending without auto-finalize). */
bool job_shows_paused(Job *job);

/* Cancels every job with force and waits for them (end of the program, tests). */
void job_cancel_all_sync(void);

#endif
