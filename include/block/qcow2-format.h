/*
 * The qcow2 format driver (block/qcow2-format.c): the qcow2 module (block/qcow2.h) as a node
 * of the graph, its "file" child the image's bytes and its "backing" child the chain below.
 */
#ifndef BLOCK_QCOW2_FORMAT_H
#define BLOCK_QCOW2_FORMAT_H

#include "block/block.h"
#include "block/qcow2.h"

/* The image of a qcow2 node (for query-block's format-specific data), or NULL for another
 * driver's node. */
Qcow2Image *bdrv_qcow2_image(BlockDriverState *bs);

/* Writes a new empty qcow2 image into a writable node (truncated first), as qemu-img create
 * does: -drive snapshot=on's temporary overlays. */
bool bdrv_qcow2_create(BlockDriverState *file_node, const Qcow2CreateOpts *opts, GError **errp);

#endif
