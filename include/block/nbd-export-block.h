/*
 * The block layer behind the NBD server's exports: system/vl.c hands these hooks to
 * nbd_server_set_device_hooks(), so that nbd-server-add finds drives and nodes.
 */
#ifndef BLOCK_NBD_EXPORT_BLOCK_H
#define BLOCK_NBD_EXPORT_BLOCK_H

#include "block/nbd-server.h"

extern const NbdDeviceHooks nbd_block_device_hooks;

#endif
