/*
 * Removable media over the monitor (a CD drive's): QMP eject, blockdev-open-tray,
 * blockdev-close-tray, blockdev-change-medium; HMP eject and change; the DEVICE_TRAY_MOVED
 * event. As upstream, a change is: open the new image, open the tray, take the old medium
 * out, put the new one in, close the tray; each step that moves the tray is one event.
 *
 *   open tray ── guest locked it? ── no, or force ──► device told (medium gone), event
 *                                 └─ yes: the guest is asked (GET EVENT STATUS shows it);
 *                                    the command fails ("... is locked and force was not
 *                                    specified, wait for tray to open and try again")
 */
#ifndef MONITOR_MEDIA_H
#define MONITOR_MEDIA_H

#include <stdbool.h>

#include "block/block-backend.h"

/* blk_set_tray_moved_handler()'s handler: emits DEVICE_TRAY_MOVED. */
void monitor_tray_moved(BlockBackend *blk, bool open);

#endif
