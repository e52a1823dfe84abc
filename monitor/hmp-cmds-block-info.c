/*
 * HMP `info block [-n] [-v] [device]`, as QEMU 7.2 prints it: the backends of query-block (or,
 * with -n or a name no backend has, the nodes of query-named-block-nodes), one paragraph each.
 */
#include "monitor/hmp.h"

#include "qapi-commands.h"

#include <inttypes.h>
#include <string.h>

void hmp_info_block(Monitor *mon, const HmpArgs *args);

/* One backend (info, NULL for a bare node) with its medium or node (inserted, may be NULL). */
static void print_block_info(Monitor *mon, BlockInfo *info, BlockDeviceInfo *inserted)
{
    if (info && *info->device) {
        monitor_printf(mon, "%s", info->device);
        if (inserted && inserted->node_name) {
            monitor_printf(mon, " (%s)", inserted->node_name);
        }
    } else if (inserted && inserted->node_name) {
        monitor_printf(mon, "%s", inserted->node_name);
    } else {
        monitor_printf(mon, "%s", info && info->qdev ? info->qdev : "<anonymous>");
    }
    if (inserted) {
        monitor_printf(mon, ": %s (%s%s%s)\n", inserted->file, inserted->drv,
                       inserted->ro ? ", read-only" : "", inserted->encrypted ? ", encrypted" : "");
    } else {
        monitor_printf(mon, ": [not inserted]\n");
    }
    if (info) {
        if (info->qdev) {
            monitor_printf(mon, "    Attached to:      %s\n", info->qdev);
        }
        if (info->has_io_status && info->io_status != BLOCK_DEVICE_IO_STATUS_OK) {
            monitor_printf(mon, "    I/O status:       %s\n",
                           BlockDeviceIoStatus_str(info->io_status));
        }
        if (info->removable) {
            monitor_printf(mon, "    Removable device: %slocked, tray %s\n",
                           info->locked ? "" : "not ", info->tray_open ? "open" : "closed");
        }
    }
    if (!inserted) {
        return;
    }
    monitor_printf(mon, "    Cache mode:       %s%s%s\n",
                   inserted->cache->writeback ? "writeback" : "writethrough",
                   inserted->cache->direct ? ", direct" : "",
                   inserted->cache->no_flush ? ", ignore flushes" : "");
    if (inserted->backing_file) {
        monitor_printf(mon, "    Backing file:     %s (chain depth: %" PRId64 ")\n",
                       inserted->backing_file, inserted->backing_file_depth);
    }
    /* detect-zeroes and I/O throttling are always off here: upstream prints nothing then. */
}

void hmp_info_block(Monitor *mon, const HmpArgs *args)
{
    const char *device = hmp_args_get_str(args, "device");
    bool nodes = hmp_args_get_bool(args, "nodes", FALSE);
    if (hmp_args_get_bool(args, "verbose", FALSE)) {
        /* upstream's image dump (qemu-img info's) is not built here */
        monitor_printf(mon, "info block -v is not supported by qemu-colo\n");
        return;
    }
    bool printed = false;
    if (!nodes) {
        g_autoptr(GPtrArray) list = qmp_query_block(NULL);
        for (guint i = 0; i < list->len; i++) {
            BlockInfo *info = list->pdata[i];
            if (device && strcmp(device, info->device) != 0) {
                continue;
            }
            /* as upstream: a blank line before every entry but the list's first */
            if (i) {
                monitor_printf(mon, "\n");
            }
            print_block_info(mon, info, info->inserted);
            printed = true;
        }
    }
    if ((!device && !nodes) || printed) {
        return;
    }
    g_autoptr(GPtrArray) list = qmp_query_named_block_nodes(false, false, NULL);
    for (guint i = 0; i < list->len; i++) {
        BlockDeviceInfo *node = list->pdata[i];
        if (device && strcmp(device, node->node_name) != 0) {
            continue;
        }
        if (i) {
            monitor_printf(mon, "\n");
        }
        print_block_info(mon, NULL, node);
    }
}
