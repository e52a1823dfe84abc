/*
 * HMP's drive_add (a -drive if=none, or with -n a node without a device, as COLO's runbook adds
 * its replication child) and drive_del, as QEMU 7.2 words them.
 */
#include "block/blockdev.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "util/error.h"

void hmp_drive_add(Monitor *mon, const HmpArgs *args);
void hmp_drive_del(Monitor *mon, const HmpArgs *args);

/* Upstream reports these with error_report(): the message alone, on the monitor. */
static void report(Monitor *mon, GError *err)
{
    if (err) {
        char *desc = error_get_desc(err);
        monitor_printf(mon, "%s\n", desc);
        g_free(desc);
        g_error_free(err);
    }
}

/* upstream's IF_* numbers, which its refusal prints */
static int upstream_if_number(BlockInterfaceType type)
{
    static const int numbers[BLK_IF_COUNT] = {
        [BLK_IF_IDE] = 1, [BLK_IF_FLOPPY] = 3, [BLK_IF_SD] = 6, [BLK_IF_VIRTIO] = 7};
    return numbers[type];
}

void hmp_drive_add(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    /* The PCI address is a leftover upstream ignores; the options are QemuOpts-style. */
    g_autoptr(KeyvalList) kv =
        keyval_parse(hmp_args_get_str(args, "opts"), NULL, KEYVAL_OPTS | KEYVAL_QUIET, &err);
    if (!kv) {
        report(mon, err);
        return;
    }
    if (hmp_args_get_bool(args, "node", FALSE)) {
        blockdev_add_legacy(kv, &err);
        report(mon, err);
        return;
    }
    bool help = false;
    BlockBackend *blk = drive_new(kv, drive_machine_default_if(), &help, &err);
    if (!blk) {
        report(mon, err);
        return;
    }
    BlockInterfaceType type = blk_legacy_type(blk, NULL, NULL, NULL);
    if (type != BLK_IF_NONE) {
        monitor_printf(mon, "Can't hot-add drive to type %d\n", upstream_if_number(type));
        drive_del(blk_name(blk), NULL);
        return;
    }
    monitor_printf(mon, "OK\n");
}

void hmp_drive_del(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    drive_del(hmp_args_get_str(args, "id"), &err);
    report(mon, err);
}
