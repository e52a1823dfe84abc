/*
 * The monitor's side of the NBD server: block/ reports an export that is gone through a hook,
 * and the composition root (system/vl.c) points that hook here, so block/ never calls up.
 *
 *   nbd-server-remove / nbd-server-stop --hook--> monitor_nbd_export_deleted --> QMP clients
 */
#ifndef MONITOR_NBD_H
#define MONITOR_NBD_H

/* Sends BLOCK_EXPORT_DELETED for the export @name. */
void monitor_nbd_export_deleted(const char *name);

#endif
