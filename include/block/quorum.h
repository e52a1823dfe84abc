/*
 * The quorum filter driver: N children holding the same data.
 *
 *   parent ──► quorum ──children.0──► node A
 *                     ──children.1──► node B      writes: every child, in parallel
 *                     ──children.2──► node C      reads:  read-pattern=quorum: every child,
 *                                                         the version with >= vote-threshold
 *                                                         votes wins; fifo: the first child
 *                                                         that answers, in order
 *
 * A child that fails or reads differently is reported (QUORUM_REPORT_BAD); a request that does
 * not reach vote-threshold fails (QUORUM_FAILURE). Children come and go at run time through
 * x-blockdev-change (COLO's primary adds its replication child that way).
 */
#ifndef BLOCK_QUORUM_H
#define BLOCK_QUORUM_H

#include "block/block.h"

extern const BlockDriver bdrv_quorum;

typedef enum {
    QUORUM_EVENT_REPORT_BAD,
    QUORUM_EVENT_FAILURE,
} QuorumEventKind;

/* upstream's QuorumOpType order */
typedef enum {
    QUORUM_OP_READ,
    QUORUM_OP_WRITE,
    QUORUM_OP_FLUSH,
} QuorumOp;

typedef struct QuorumEvent {
    QuorumEventKind kind;
    QuorumOp op;        /* REPORT_BAD */
    char *error;        /* REPORT_BAD: strerror of the child's error, NULL for a bad version */
    char *node_name;    /* REPORT_BAD: the child; FAILURE: the quorum's device or node name */
    int64_t sector_num; /* in 512-byte sectors, as upstream */
    int64_t sectors_count;
} QuorumEvent;

/* Where the events go (the monitor). It runs on the default main context, never on the worker
 * thread that saw the problem. */
void quorum_set_event_handler(void (*fn)(const QuorumEvent *ev));

#endif
