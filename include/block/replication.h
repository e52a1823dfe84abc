/*
 * The replication filter driver (block/replication.c), COLO's disk half, and its API for the
 * checkpoint frame (migration/colo.c) and Xen's QMP commands (monitor/qmp-cmds-xen-colo.c).
 *
 * Primary: the guest's quorum writes to its local image and, through this node, to the NBD
 * client reaching the secondary's disk. Reads fail (EIO); errors on the NBD child are recorded
 * and reported by replication_get_error_all(), never returned to the guest.
 *
 *   quorum colo-disk0 ──children.0──► local image
 *                     └─children.1──► replication (primary) ──file──► nbd ──► secondary parent0
 *
 * Secondary: the secondary guest reads and writes the active overlay; the primary's writes
 * arrive over NBD on parent0, whose old data a sync=none backup first copies into hidden.
 *
 *   quorum colo-disk0 ──► replication (secondary) ──file──► active.qcow2
 *                                                              │ backing
 *                                                           hidden.qcow2
 *                                                              │ backing
 *                              nbd-server-add (writable) ──► parent0 (the secondary's disk)
 *
 * Stages, as upstream:
 *
 *   none ──start──► running ──checkpoint──► running
 *                      │ stop(failover=false): checkpoint ──► done
 *                      └─stop(failover=true) (secondary): commit active+hidden into parent0
 *                                 ──► failover ──► done | failover-failed
 */
#ifndef BLOCK_REPLICATION_H
#define BLOCK_REPLICATION_H

#include "block/block.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    REPLICATION_MODE_PRIMARY,
    REPLICATION_MODE_SECONDARY,
} ReplicationMode;

typedef struct ReplicationCheckpointStats {
    uint64_t bytes_written; /* guest/NBD bytes written to replication nodes since last ckpt */
    uint64_t empty_ns;      /* time spent emptying active+hidden in this checkpoint */
} ReplicationCheckpointStats;

/* Each call acts on every replication node, main thread. Errors in upstream's wording. */
void replication_start_all(ReplicationMode mode, GError **errp);
/* st may be NULL. */
void replication_do_checkpoint_all(ReplicationCheckpointStats *st, GError **errp);
/* Sets errp if a node recorded an I/O error ("I/O error occurred"). */
void replication_get_error_all(GError **errp);
void replication_stop_all(bool failover, GError **errp);
/* A replication node exists. */
bool replication_any(void);

/* One replicated disk as its guest reads it (x-colo-disk-digests). */
#define REPLICATION_DIGEST_CHUNK (1u << 20)
typedef struct ReplicationDigest {
    char *device; /* the root above the node: its drive id, else its node name */
    GArray *crc;  /* guint32: CRC-32 of each REPLICATION_DIGEST_CHUNK bytes, in disk order */
    char *error;  /* why they could not be read (crc then empty), or NULL */
} ReplicationDigest;

void replication_digest_free(ReplicationDigest *d);
/* One digest per started node, main thread, with no request in flight (a checkpoint's stopped
 * VM, drained). The root is read, as the guest reads it: on the primary its quorum's fifo
 * read is the local image; on the secondary top-id's quorum reads active -> hidden -> the
 * secondary disk. A GPtrArray of ReplicationDigest*, freed with it. */
GPtrArray *replication_digest_all(void);

/* The driver, registered by block_register_types(). */
extern const BlockDriver bdrv_replication;

#endif
