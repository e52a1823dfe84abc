/* HMP migration commands; each calls the QMP command's C function. `info migrate` prints
 * what upstream 7.2 prints, line for line. */
#include <string.h>

#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi-commands.h"
#include "util/error.h"

void hmp_migrate(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    /* Without -d upstream suspends the monitor until the end; this one returns at once. */
    qmp_migrate(hmp_args_get_str(args, "uri"), true, hmp_args_get_bool(args, "blk", FALSE), true,
                hmp_args_get_bool(args, "inc", FALSE), false, false, true,
                hmp_args_get_bool(args, "resume", FALSE), &err);
    hmp_handle_error(mon, err);
}

void hmp_migrate_cancel(Monitor *mon, const HmpArgs *args)
{
    qmp_migrate_cancel(NULL);
}

void hmp_migrate_continue(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *name = hmp_args_get_str(args, "state");
    int state = -1;
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        if (strcmp(MigrationStatus_str(i), name) == 0) {
            state = i;
        }
    }
    if (state < 0) {
        error_setg(&err, "invalid parameter value: %s", name);
    } else {
        qmp_migrate_continue(state, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_migrate_incoming(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_migrate_incoming(hmp_args_get_str(args, "uri"), &err);
    hmp_handle_error(mon, err);
}

void hmp_info_migrate(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(MigrationInfo) info = qmp_query_migrate(NULL);
    /* upstream's migration globals, fixed values in 7.2's pc machine */
    monitor_printf(mon, "globals:\nstore-global-state: on\nonly-migratable: off\n"
                        "send-configuration: on\nsend-section-footer: on\n"
                        "decompress-error-check: on\nclear-bitmap-shift: 18\n");
    if (info->has_status) {
        monitor_printf(mon, "Migration status: %s", MigrationStatus_str(info->status));
        if (info->status == MIGRATION_STATUS_FAILED && info->error_desc) {
            monitor_printf(mon, " (%s)\n", info->error_desc);
        } else {
            monitor_printf(mon, "\n");
        }
        monitor_printf(mon, "total time: %" G_GINT64_FORMAT " ms\n", info->total_time);
        if (info->has_expected_downtime) {
            monitor_printf(mon, "expected downtime: %" G_GINT64_FORMAT " ms\n",
                           info->expected_downtime);
        }
        if (info->has_downtime) {
            monitor_printf(mon, "downtime: %" G_GINT64_FORMAT " ms\n", info->downtime);
        }
        if (info->has_setup_time) {
            monitor_printf(mon, "setup: %" G_GINT64_FORMAT " ms\n", info->setup_time);
        }
    }
    MigrationStats *r = info->ram;
    if (!r) {
        return;
    }
    monitor_printf(mon, "transferred ram: %" G_GINT64_FORMAT " kbytes\n", r->transferred >> 10);
    monitor_printf(mon, "throughput: %0.2f mbps\n", r->mbps);
    monitor_printf(mon, "remaining ram: %" G_GINT64_FORMAT " kbytes\n", r->remaining >> 10);
    monitor_printf(mon, "total ram: %" G_GINT64_FORMAT " kbytes\n", r->total >> 10);
    monitor_printf(mon, "duplicate: %" G_GINT64_FORMAT " pages\n", r->duplicate);
    monitor_printf(mon, "skipped: %" G_GINT64_FORMAT " pages\n", r->skipped);
    monitor_printf(mon, "normal: %" G_GINT64_FORMAT " pages\n", r->normal);
    monitor_printf(mon, "normal bytes: %" G_GINT64_FORMAT " kbytes\n", r->normal_bytes >> 10);
    monitor_printf(mon, "dirty sync count: %" G_GINT64_FORMAT "\n", r->dirty_sync_count);
    monitor_printf(mon, "page size: %" G_GINT64_FORMAT " kbytes\n", r->page_size >> 10);
    monitor_printf(mon, "multifd bytes: %" G_GUINT64_FORMAT " kbytes\n", r->multifd_bytes >> 10);
    monitor_printf(mon, "pages-per-second: %" G_GUINT64_FORMAT "\n", r->pages_per_second);
    if (r->dirty_pages_rate) {
        monitor_printf(mon, "dirty pages rate: %" G_GINT64_FORMAT " pages\n", r->dirty_pages_rate);
    }
    if (r->precopy_bytes) {
        monitor_printf(mon, "precopy ram: %" G_GUINT64_FORMAT " kbytes\n", r->precopy_bytes >> 10);
    }
    if (r->downtime_bytes) {
        monitor_printf(mon, "downtime ram: %" G_GUINT64_FORMAT " kbytes\n",
                       r->downtime_bytes >> 10);
    }
}
