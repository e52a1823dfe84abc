/*
 * The command line's disks, as upstream 7.2 spells them.
 *
 *   -drive  [file=F][,format=|driver=][,if=none|ide|virtio][,id=][,index=|bus=,unit=]
 *           [,media=disk|cdrom][,cache=][,readonly=on][,snapshot=on][,node-name=]
 *           [,<driver options, nested with dots>]
 *        ─► a node tree (format over file, or the driver given) + a BlockBackend named id
 *           (default: "virtio0", "ide0-hd0", "none0"...); the machine makes the device of if=.
 *   -blockdev driver=D,node-name=N[,<options>]   (or its JSON form)
 *        ─► a node tree owned by the monitor, no backend: -device ...,drive=N finds it.
 *
 * Options -drive keeps for itself are taken out first; everything else goes to the node, whose
 * driver refuses what it does not know in upstream's words.
 */
#ifndef BLOCK_BLOCKDEV_H
#define BLOCK_BLOCKDEV_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "block/block-backend.h"
#include "util/keyval.h"

/* -drive: returns the backend (named), or NULL + errp. *help_printed: format=help.
 * default_if: the machine's interface when if= is not given (pc: ide). */
BlockBackend *drive_new(KeyvalList *opts, BlockInterfaceType default_if, bool *help_printed,
                        GError **errp);
/* -blockdev keyval form / JSON form (and blockdev-add). The node stays until blockdev_del. */
BlockDriverState *blockdev_add_keyval(KeyvalList *opts, GError **errp);
BlockDriverState *blockdev_add_json(JsonObject *obj, GError **errp);
/* blockdev-del: only nodes made by blockdev-add/-blockdev, and only when nothing uses them. */
bool blockdev_del(const char *node_name, GError **errp);
/* HMP drive_add -n: a node tree from -drive-style options (node-name required), owned by the
 * monitor as a -blockdev node is, so that drive_del / blockdev-del remove it. */
BlockDriverState *blockdev_add_legacy(KeyvalList *opts, GError **errp);
/* HMP drive_del: a monitor-owned node (as blockdev-del), or a -drive's backend; errors as
 * upstream ("Device 'x' not found"). */
bool drive_del(const char *id, GError **errp);
/* The machine's interface for a drive without if= (pc: ide), for drive_add. */
void drive_set_machine_default_if(BlockInterfaceType type);
BlockInterfaceType drive_machine_default_if(void);
/* Whether the monitor holds this node (made by -blockdev / blockdev-add). */
bool blockdev_is_monitor_owned(BlockDriverState *bs);

/*
 * What a device's drive= names: a backend by name, else a node by node-name (then an anonymous
 * backend is made on it, owned by the caller when blk_name() is ""). Errors as upstream:
 * "Property 'virtio-blk-device.drive' can't find value 'x'", "Drive 'x' is already in use by
 * another device", "Device needs media, but drive is empty", and a -drive if=virtio|ide
 * named by -device. automatic: the machine making the device of such a -drive.
 */
BlockBackend *blockdev_backend_for_device(const char *drive, const char *owner_type, bool automatic,
                                          GError **errp);

/* The machine making the automatic device of a -drive (if=ide): marks it used. */
bool blockdev_claim_for_device(BlockBackend *blk, const char *owner_type, GError **errp);

/* A new medium for a removable device (blockdev-change-medium): filename in format (NULL:
 * probed, silently), over a file node, as a -drive file= would open it. */
BlockDriverState *blockdev_open_medium(const char *filename, const char *format, bool read_only,
                                       GError **errp);

/* A JSON object as flat keys ("file": {"filename": ...} -> "file.filename"). */
bool blockdev_flatten_json(JsonObject *obj, const char *prefix, GHashTable *out, GError **errp);

/* Forgets every drive and monitor-owned node, then block_cleanup(). */
void blockdev_cleanup(void);

#endif
