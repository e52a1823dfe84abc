/* Removable media over QMP and HMP (include/monitor/media.h). */
#include "monitor/media.h"

#include "block/blockdev.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

void hmp_eject(Monitor *mon, const HmpArgs *args);
void hmp_change(Monitor *mon, const HmpArgs *args);

void monitor_tray_moved(BlockBackend *blk, bool open)
{
    const char *dev = blk_dev_name(blk);
    qapi_event_send_device_tray_moved(blk_name(blk), dev ? dev : "", open);
}

/* The backend named by exactly one of device (its name) and id (its device's). */
static BlockBackend *find_backend(const char *device, const char *id, GError **errp)
{
    if (!device == !id) {
        error_setg(errp, "Need exactly one of 'device' and 'id'");
        return NULL;
    }
    g_autoptr(GPtrArray) all = blk_all();
    for (guint i = 0; i < all->len; i++) {
        BlockBackend *blk = all->pdata[i];
        const char *dev = blk_dev_name(blk);
        if (device ? strcmp(blk_name(blk), device) == 0 && *device : dev && strcmp(dev, id) == 0) {
            return blk;
        }
    }
    error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", device ? device : id);
    return NULL;
}

/* 0, or -ENOSYS for a device without a tray (the caller goes on), or -errno with errp. */
static int open_tray(BlockBackend *blk, const char *name, bool force, GError **errp)
{
    if (!blk_dev_has_removable_media(blk)) {
        error_setg(errp, "Device '%s' is not removable", name);
        return -ENOTSUP;
    }
    if (!blk_dev_has_tray(blk)) {
        error_setg(errp, "Device '%s' does not have a tray", name);
        return -ENOSYS;
    }
    if (blk_dev_is_tray_open(blk)) {
        return 0;
    }
    bool locked = blk_dev_is_medium_locked(blk);
    if (locked) {
        blk_dev_eject_request(blk, force);
    }
    if (!locked || force) {
        blk_dev_change_media(blk, false);
    }
    if (locked && !force) {
        error_setg(errp,
                   "Device '%s' is locked and force was not specified, wait for tray to open "
                   "and try again",
                   name);
        return -EINPROGRESS;
    }
    return 0;
}

static bool remove_medium(BlockBackend *blk, const char *name, GError **errp)
{
    bool has_device = blk_dev_name(blk) != NULL;
    if (has_device && !blk_dev_has_removable_media(blk)) {
        error_setg(errp, "Device '%s' is not removable", name);
        return false;
    }
    if (has_device && blk_dev_has_tray(blk) && !blk_dev_is_tray_open(blk)) {
        error_setg(errp, "Tray of device '%s' is not open", name);
        return false;
    }
    if (!blk_bs(blk)) {
        return true;
    }
    blk_remove_bs(blk);
    if (!blk_dev_has_tray(blk)) {
        blk_dev_change_media(blk, false); /* no tray to open: the medium is simply gone */
    }
    return true;
}

static bool insert_medium(BlockBackend *blk, const char *name, BlockDriverState *bs, GError **errp)
{
    if (blk_dev_has_tray(blk) && !blk_dev_is_tray_open(blk)) {
        error_setg(errp, "Tray of device '%s' is not open", name);
        return false;
    }
    if (blk_bs(blk)) {
        error_setg(errp, "There already is a medium in device '%s'", name);
        return false;
    }
    if (!blk_dev_medium_acceptable(blk, errp)) {
        return false;
    }
    if (!blk_insert_medium(blk, bs, errp)) {
        return false;
    }
    if (!blk_dev_has_tray(blk)) {
        blk_dev_change_media(blk, true);
    }
    return true;
}

static void close_tray(BlockBackend *blk, const char *name, GError **errp)
{
    if (!blk_dev_has_removable_media(blk)) {
        error_setg(errp, "Device '%s' is not removable", name);
        return;
    }
    if (blk_dev_has_tray(blk) && blk_dev_is_tray_open(blk)) {
        blk_dev_change_media(blk, true);
    }
}

void qmp_blockdev_open_tray(const char *device, const char *id, bool has_force, bool force,
                            GError **errp)
{
    BlockBackend *blk = find_backend(device, id, errp);
    if (!blk) {
        return;
    }
    GError *err = NULL;
    int rc = open_tray(blk, device ? device : id, has_force && force, &err);
    if (rc && rc != -ENOSYS && rc != -EINPROGRESS) {
        g_propagate_error(errp, err);
        return;
    }
    /* Upstream: a tray-less device ignores it, and a locked tray only asks the guest. */
    g_clear_error(&err);
}

void qmp_blockdev_close_tray(const char *device, const char *id, GError **errp)
{
    BlockBackend *blk = find_backend(device, id, errp);
    if (blk) {
        close_tray(blk, device ? device : id, errp);
    }
}

void qmp_eject(const char *device, const char *id, bool has_force, bool force, GError **errp)
{
    BlockBackend *blk = find_backend(device, id, errp);
    if (!blk) {
        return;
    }
    const char *name = device ? device : id;
    GError *err = NULL;
    int rc = open_tray(blk, name, has_force && force, &err);
    if (rc && rc != -ENOSYS) {
        g_propagate_error(errp, err);
        return;
    }
    g_clear_error(&err);
    remove_medium(blk, name, errp);
}

void qmp_blockdev_change_medium(const char *device, const char *id, const char *filename,
                                const char *format, bool has_force, bool force,
                                bool has_read_only_mode, BlockdevChangeReadOnlyMode read_only_mode,
                                GError **errp)
{
    BlockBackend *blk = find_backend(device, id, errp);
    if (!blk) {
        return;
    }
    const char *name = device ? device : id;
    bool read_only = blk_bs(blk) ? blk_is_read_only(blk) : blk_root_read_only(blk);
    if (has_read_only_mode && read_only_mode != BLOCKDEV_CHANGE_READ_ONLY_MODE_RETAIN) {
        read_only = read_only_mode == BLOCKDEV_CHANGE_READ_ONLY_MODE_READ_ONLY;
    }
    BlockDriverState *bs = blockdev_open_medium(filename, format, read_only, errp);
    if (!bs) {
        return;
    }
    GError *err = NULL;
    int rc = open_tray(blk, name, has_force && force, &err);
    if (rc && rc != -ENOSYS) {
        g_propagate_error(errp, err);
    } else {
        g_clear_error(&err);
        if (remove_medium(blk, name, errp) && insert_medium(blk, name, bs, errp)) {
            close_tray(blk, name, errp);
        }
    }
    bdrv_unref(bs); /* the backend holds its own reference once inserted */
}

/* --- HMP --------------------------------------------------------------------------------- */

void hmp_eject(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_eject(hmp_args_get_str(args, "device"), NULL, true, hmp_args_get_bool(args, "force", FALSE),
              &err);
    hmp_handle_error(mon, err);
}

void hmp_change(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *mode = hmp_args_get_str(args, "read-only-mode");
    int ro_mode = BLOCKDEV_CHANGE_READ_ONLY_MODE_RETAIN;
    if (mode) {
        ro_mode = -1;
        for (int i = 0; i < BLOCKDEV_CHANGE_READ_ONLY_MODE__MAX; i++) {
            if (strcmp(mode, BlockdevChangeReadOnlyMode_lookup[i]) == 0) {
                ro_mode = i;
            }
        }
        if (ro_mode < 0) {
            error_setg(&err, "invalid parameter value: %s", mode);
            hmp_handle_error(mon, err);
            return;
        }
    }
    qmp_blockdev_change_medium(hmp_args_get_str(args, "device"), NULL,
                               hmp_args_get_str(args, "target"), hmp_args_get_str(args, "arg"),
                               true, hmp_args_get_bool(args, "force", FALSE), mode != NULL, ro_mode,
                               &err);
    hmp_handle_error(mon, err);
}
