/*
 * The "nbd" protocol driver (block/nbd-driver.c): -blockdev driver=nbd,server.type=inet,
 * server.host=H,server.port=P,export=E (or unix, fd), and -drive's legacy
 * file.driver=nbd,file.host=H,file.port=P,file.export=E. It lives beside the NBD code, so the
 * program registers it (bdrv_register_driver) where it sets the NBD server's device hooks.
 */
#ifndef BLOCK_NBD_DRIVER_H
#define BLOCK_NBD_DRIVER_H

#include "block/block.h"

extern const BlockDriver bdrv_nbd;

#endif
