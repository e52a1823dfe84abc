/*
 * QMP's block jobs: drive-mirror, blockdev-mirror, query-block-jobs, query-jobs, the block-job-*
 * and job-* verbs, and the events a job reports through the hook vl.c points at
 * monitor_job_event (qapi/block-core.json, qapi/job.json).
 */
#include "block/block-backend.h"
#include "block/blockdev.h"
#include "block/mirror.h"
#include "monitor/job.h"

#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

#include <string.h>

G_STATIC_ASSERT((int)JOB_ST_NULL == (int)JOB_STATUS_NULL);
G_STATIC_ASSERT((int)JOB_ST__MAX == (int)JOB_STATUS__MAX);

static JobType job_type(Job *job)
{
    for (int i = 0; i < JOB_TYPE__MAX; i++) {
        if (strcmp(JobType_lookup[i], job->drv->type) == 0) {
            return i;
        }
    }
    return JOB_TYPE_MIRROR;
}

void monitor_job_event(Job *job, JobEventKind kind)
{
    switch (kind) {
    case JOB_EV_STATUS:
        qapi_event_send_job_status_change(job->id, (JobStatus)job->status);
        break;
    case JOB_EV_READY:
        qapi_event_send_block_job_ready(job_type(job), job->id, job->len, job->offset, job->speed);
        break;
    case JOB_EV_PENDING:
        qapi_event_send_block_job_pending(job_type(job), job->id);
        break;
    case JOB_EV_COMPLETED:
        qapi_event_send_block_job_completed(job_type(job), job->id, job->len, job->offset,
                                            job->speed, job->error);
        break;
    case JOB_EV_CANCELLED:
        qapi_event_send_block_job_cancelled(job_type(job), job->id, job->len, job->offset,
                                            job->speed);
        break;
    case JOB_EV_ERROR:
        /* stop and enospc are not done here: such a job reports the error and ends. */
        qapi_event_send_block_job_error(
            job->id, job->error_is_read ? IO_OPERATION_TYPE_READ : IO_OPERATION_TYPE_WRITE,
            job->error_ignored ? BLOCK_ERROR_ACTION_IGNORE : BLOCK_ERROR_ACTION_REPORT);
        break;
    }
}

/* upstream's qmp_get_root_bs: a backend's root or a node no other node sits on. */
static BlockDriverState *root_bs(const char *name, GError **errp)
{
    BlockBackend *blk = blk_by_name(name);
    BlockDriverState *bs = blk ? blk_bs(blk) : bdrv_find_node(name);
    if (!blk && !bs) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'", name, name);
        return NULL;
    }
    if (!bs) {
        error_setg(errp, "Device '%s' has no medium", name);
        return NULL;
    }
    if (bs->parents->len) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    return mirror_check_source(bs, errp) ? bs : NULL;
}

static MirrorSync sync_of(MirrorSyncMode mode)
{
    return mode == MIRROR_SYNC_MODE_NONE  ? MIRROR_SYNC_NONE
           : mode == MIRROR_SYNC_MODE_TOP ? MIRROR_SYNC_TOP
                                          : MIRROR_SYNC_FULL;
}

/* What drive-mirror and blockdev-mirror share: upstream's blockdev_mirror_common. */
static void mirror_common(const char *job_id, BlockDriverState *bs, BlockDriverState *target,
                          MirrorSyncMode sync, bool has_speed, int64_t speed, bool has_granularity,
                          uint32_t granularity, bool has_buf_size, int64_t buf_size,
                          bool has_on_source_error, BlockdevOnError on_source,
                          bool has_on_target_error, BlockdevOnError on_target,
                          bool has_auto_finalize, bool auto_finalize, bool has_auto_dismiss,
                          bool auto_dismiss, bool target_zeroed, GError **errp)
{
    if (!mirror_check_granularity(has_granularity ? granularity : 0, errp)) {
        return;
    }
    if (sync == MIRROR_SYNC_MODE_INCREMENTAL || sync == MIRROR_SYNC_MODE_BITMAP) {
        error_setg(errp, "Sync mode '%s' not supported", MirrorSyncMode_str(sync));
        return;
    }
    MirrorParams p = {
        .job_id = job_id,
        .source = bs,
        .target = target,
        .sync = sync_of(sync),
        .speed = has_speed ? speed : 0,
        .granularity = has_granularity ? granularity : 0,
        .buf_size = has_buf_size ? buf_size : 0,
        /* BlockdevOnError and MirrorOnError list the same actions in the same order. */
        .on_source_error = has_on_source_error ? (MirrorOnError)on_source : MIRROR_ERR_REPORT,
        .on_target_error = has_on_target_error ? (MirrorOnError)on_target : MIRROR_ERR_REPORT,
        .auto_finalize = has_auto_finalize ? auto_finalize : true,
        .auto_dismiss = has_auto_dismiss ? auto_dismiss : true,
        .target_zeroed = target_zeroed,
    };
    mirror_start(&p, errp);
}

void qmp_drive_mirror(DriveMirror *arg, GError **errp)
{
    BlockDriverState *bs = root_bs(arg->device, errp);
    if (!bs) {
        return;
    }
    if (arg->replaces && !arg->node_name) {
        error_setg(errp, "a node-name must be provided when replacing a named node of the graph");
        return;
    }
    if (arg->replaces) {
        error_setg(errp, "Parameter 'replaces' is not supported");
        return;
    }
    bool existing = arg->has_mode && arg->mode == NEW_IMAGE_MODE_EXISTING;
    bool zeroed;
    BlockDriverState *target = mirror_open_target(
        bs, arg->target, arg->format, existing, sync_of(arg->sync), arg->node_name, &zeroed, errp);
    if (!target) {
        return;
    }
    mirror_common(arg->job_id, bs, target, arg->sync, arg->has_speed, arg->speed,
                  arg->has_granularity, arg->granularity, arg->has_buf_size, arg->buf_size,
                  arg->has_on_source_error, arg->on_source_error, arg->has_on_target_error,
                  arg->on_target_error, arg->has_auto_finalize, arg->auto_finalize,
                  arg->has_auto_dismiss, arg->auto_dismiss, zeroed, errp);
    bdrv_unref(target); /* the job holds it now, or it failed */
}

void qmp_blockdev_mirror(const char *job_id, const char *device, const char *target,
                         const char *replaces, MirrorSyncMode sync, bool has_speed, int64_t speed,
                         bool has_granularity, uint32_t granularity, bool has_buf_size,
                         int64_t buf_size, bool has_on_source_error,
                         BlockdevOnError on_source_error, bool has_on_target_error,
                         BlockdevOnError on_target_error, const char *filter_node_name,
                         bool has_copy_mode, MirrorCopyMode copy_mode, bool has_auto_finalize,
                         bool auto_finalize, bool has_auto_dismiss, bool auto_dismiss,
                         GError **errp)
{
    BlockDriverState *bs = root_bs(device, errp);
    if (!bs) {
        return;
    }
    BlockBackend *tblk = blk_by_name(target);
    BlockDriverState *tbs = tblk ? blk_bs(tblk) : bdrv_find_node(target);
    if (!tbs) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'", target, target);
        return;
    }
    if (replaces) {
        error_setg(errp, "Parameter 'replaces' is not supported");
        return;
    }
    mirror_common(job_id, bs, tbs, sync, has_speed, speed, has_granularity, granularity,
                  has_buf_size, buf_size, has_on_source_error, on_source_error, has_on_target_error,
                  on_target_error, has_auto_finalize, auto_finalize, has_auto_dismiss, auto_dismiss,
                  false, errp);
}

GPtrArray *qmp_query_block_jobs(GError **errp)
{
    GPtrArray *list = qapi_list_new_BlockJobInfo();
    g_autoptr(GPtrArray) all = job_all();
    for (guint i = 0; i < all->len; i++) {
        Job *job = all->pdata[i];
        BlockJobInfo *info = g_new0(BlockJobInfo, 1);
        info->type = g_strdup(job->drv->type);
        info->device = g_strdup(job->id);
        info->len = job->len;
        info->offset = job->offset;
        info->busy = g_atomic_int_get(&job->busy) && job->status == JOB_ST_RUNNING;
        info->paused = job_shows_paused(job);
        info->speed = job->speed;
        info->io_status = BLOCK_DEVICE_IO_STATUS_OK;
        info->ready = job->status == JOB_ST_READY || job->status == JOB_ST_STANDBY;
        info->status = (JobStatus)job->status;
        info->auto_finalize = job->auto_finalize;
        info->auto_dismiss = job->auto_dismiss;
        info->error = g_strdup(job->error);
        g_ptr_array_add(list, info);
    }
    return list;
}

GPtrArray *qmp_query_jobs(GError **errp)
{
    GPtrArray *list = qapi_list_new_JobInfo();
    g_autoptr(GPtrArray) all = job_all();
    for (guint i = 0; i < all->len; i++) {
        Job *job = all->pdata[i];
        JobInfo *info = g_new0(JobInfo, 1);
        info->id = g_strdup(job->id);
        info->type = job_type(job);
        info->status = (JobStatus)job->status;
        info->current_progress = job->offset;
        info->total_progress = job->len;
        info->error = g_strdup(job->error);
        g_ptr_array_add(list, info);
    }
    return list;
}

Job *monitor_find_block_job(const char *id, GError **errp)
{
    Job *job = job_find(id);
    if (!job) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_ACTIVE, "Block job '%s' not found", id);
    }
    return job;
}

static Job *find_job(const char *id, GError **errp)
{
    Job *job = job_find(id);
    if (!job) {
        error_setg(errp, "Job not found");
    }
    return job;
}

void qmp_block_job_set_speed(const char *device, int64_t speed, GError **errp)
{
    Job *job = monitor_find_block_job(device, errp);
    if (job) {
        job_set_speed(job, speed, errp);
    }
}

void qmp_block_job_cancel(const char *device, bool has_force, bool force, GError **errp)
{
    Job *job = monitor_find_block_job(device, errp);
    if (job) {
        job_cancel(job, has_force && force, errp);
    }
}

void qmp_block_job_complete(const char *device, GError **errp)
{
    Job *job = monitor_find_block_job(device, errp);
    if (job) {
        job_complete(job, errp);
    }
}

void qmp_block_job_dismiss(const char *id, GError **errp)
{
    Job *job = monitor_find_block_job(id, errp);
    if (job) {
        job_dismiss(job, errp);
    }
}

void qmp_block_job_finalize(const char *id, GError **errp)
{
    Job *job = monitor_find_block_job(id, errp);
    if (job) {
        job_finalize(job, errp);
    }
}

void qmp_job_cancel(const char *id, GError **errp)
{
    Job *job = find_job(id, errp);
    if (job) {
        job_cancel(job, true, errp); /* upstream's job-cancel always forces */
    }
}

void qmp_job_complete(const char *id, GError **errp)
{
    Job *job = find_job(id, errp);
    if (job) {
        job_complete(job, errp);
    }
}

void qmp_job_dismiss(const char *id, GError **errp)
{
    Job *job = find_job(id, errp);
    if (job) {
        job_dismiss(job, errp);
    }
}

void qmp_job_finalize(const char *id, GError **errp)
{
    Job *job = find_job(id, errp);
    if (job) {
        job_finalize(job, errp);
    }
}
