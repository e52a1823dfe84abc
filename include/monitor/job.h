/*
 * The monitor's side of block jobs: block/job.c reports status changes and ends through a
 * hook, and the composition root (system/vl.c) points that hook here, so block/ never calls up.
 *
 *   job transition / ready / end --job_set_notify hook--> monitor_job_event --> QMP events
 *     (JOB_STATUS_CHANGE, BLOCK_JOB_READY, BLOCK_JOB_PENDING, BLOCK_JOB_COMPLETED,
 *      BLOCK_JOB_CANCELLED)
 */
#ifndef MONITOR_JOB_H
#define MONITOR_JOB_H

#include "block/job.h"

void monitor_job_event(Job *job, JobEventKind kind);
/* block-job-* lookup: "Block job 'x' not found" (DeviceNotActive) when there is none. */
Job *monitor_find_block_job(const char *id, GError **errp);

#endif
