/* HMP handlers for the core commands; each calls the QMP command's C function. */
#include "config-host.h"
#include "monitor/hmp.h"
#include "qapi-commands.h"

void hmp_quit(Monitor *mon, const HmpArgs *args)
{
    /* As upstream, no prompt after quit: the monitor takes no more input. */
    hmp_suspend(mon);
    qmp_quit(NULL);
}

void hmp_stop(Monitor *mon, const HmpArgs *args)
{
    qmp_stop(NULL);
}

void hmp_cont(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_cont(&err);
    hmp_handle_error(mon, err);
}

void hmp_info_version(Monitor *mon, const HmpArgs *args)
{
    VersionInfo *info = qmp_query_version(NULL);
    monitor_printf(mon, "%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT "%s\n",
                   info->qemu->major, info->qemu->minor, info->qemu->micro, info->package);
    qapi_free_VersionInfo(info);
}

void hmp_info_status(Monitor *mon, const HmpArgs *args)
{
    StatusInfo *info = qmp_query_status(NULL);
    monitor_printf(mon, "VM status: %s", info->running ? "running" : "paused");
    if (!info->running && info->status != RUN_STATE_PAUSED) {
        monitor_printf(mon, " (%s)", RunState_str(info->status));
    }
    monitor_printf(mon, "\n");
    qapi_free_StatusInfo(info);
}

void hmp_info_name(Monitor *mon, const HmpArgs *args)
{
    NameInfo *info = qmp_query_name(NULL);
    if (info->name) {
        monitor_printf(mon, "%s\n", info->name);
    }
    qapi_free_NameInfo(info);
}
