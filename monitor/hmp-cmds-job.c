/*
 * HMP's block jobs, as QEMU 7.2 spells them: info block-jobs, drive_mirror, block_job_cancel,
 * block_job_complete, block_job_set_speed -- thin wrappers over the QMP commands.
 */
#include "monitor/hmp.h"
#include "monitor/job.h"

#include "qapi-commands.h"
#include "util/error.h"

#include <inttypes.h>

void hmp_info_block_jobs(Monitor *mon, const HmpArgs *args);
void hmp_drive_mirror(Monitor *mon, const HmpArgs *args);
void hmp_block_job_cancel(Monitor *mon, const HmpArgs *args);
void hmp_block_job_complete(Monitor *mon, const HmpArgs *args);
void hmp_block_job_set_speed(Monitor *mon, const HmpArgs *args);

void hmp_info_block_jobs(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(GPtrArray) all = job_all();
    if (!all->len) {
        monitor_printf(mon, "No active jobs\n");
        return;
    }
    for (guint i = 0; i < all->len; i++) {
        Job *job = all->pdata[i];
        monitor_printf(mon,
                       "Type %s, device %s: Completed %" PRId64 " of %" PRId64
                       " bytes, speed limit %" PRId64 " bytes/s\n",
                       job->drv->type, job->id, (int64_t)job->offset, (int64_t)job->len,
                       job->speed);
    }
}

void hmp_drive_mirror(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    DriveMirror mirror = {
        .device = (char *)hmp_args_get_str(args, "device"),
        .target = (char *)hmp_args_get_str(args, "target"),
        .format = (char *)hmp_args_get_str(args, "format"),
        .sync =
            hmp_args_get_bool(args, "full", FALSE) ? MIRROR_SYNC_MODE_FULL : MIRROR_SYNC_MODE_TOP,
        .has_mode = true,
        .mode = hmp_args_get_bool(args, "reuse", FALSE) ? NEW_IMAGE_MODE_EXISTING
                                                        : NEW_IMAGE_MODE_ABSOLUTE_PATHS,
    };
    qmp_drive_mirror(&mirror, &err);
    hmp_handle_error(mon, err);
}

void hmp_block_job_cancel(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_block_job_cancel(hmp_args_get_str(args, "device"), true,
                         hmp_args_get_bool(args, "force", FALSE), &err);
    hmp_handle_error(mon, err);
}

void hmp_block_job_complete(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_block_job_complete(hmp_args_get_str(args, "device"), &err);
    hmp_handle_error(mon, err);
}

void hmp_block_job_set_speed(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_block_job_set_speed(hmp_args_get_str(args, "device"), hmp_args_get_int(args, "speed", 0),
                            &err);
    hmp_handle_error(mon, err);
}
