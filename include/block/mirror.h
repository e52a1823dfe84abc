/*
 * The mirror job (drive-mirror, blockdev-mirror): copies a source node to a target node while
 * the guest keeps writing to the source, then keeps the target in sync until complete (pivot:
 * the source's backends move to the target) or cancel (no pivot).
 *
 *   guest write ─► source node ─► notifier (worker thread, before the write completes)
 *                                   ├─ not ready yet, or the range is being copied:
 *                                   │    mark its chunks dirty
 *                                   └─ ready and the range is idle: write the same bytes to the
 *                                        target too (write-through), then complete
 *   mirror worker thread: take dirty chunks (clearing them first), read the source, write the
 *     target; no dirty chunk left -> flush the target, READY; then copy whatever becomes dirty
 *     until complete/cancel; a complete drains the source's backends and copies any last chunk
 *     before the pivot.
 *
 * A chunk is "in flight" while a copy or a write-through covers it; a write landing on a chunk
 * in flight only marks it dirty, so a copy that read older bytes is always copied again.
 */
#ifndef BLOCK_MIRROR_H
#define BLOCK_MIRROR_H

#include "block/block.h"
#include "block/job.h"

typedef enum {
    MIRROR_SYNC_TOP,
    MIRROR_SYNC_FULL,
    MIRROR_SYNC_NONE,
} MirrorSync;

typedef enum {
    MIRROR_ERR_REPORT,
    MIRROR_ERR_IGNORE,
    MIRROR_ERR_ENOSPC,
    MIRROR_ERR_STOP,
    MIRROR_ERR_AUTO,
} MirrorOnError;

typedef struct MirrorParams {
    const char *job_id; /* NULL: the name of the source's backend */
    BlockDriverState *source, *target;
    MirrorSync sync;
    int64_t speed;       /* bytes/s, 0: unlimited */
    int64_t granularity; /* 0: 64 KiB; else a power of 2 in [512, 64 MiB] */
    int64_t buf_size;    /* 0: 16 MiB */
    MirrorOnError on_source_error, on_target_error;
    bool auto_finalize, auto_dismiss;
    bool target_zeroed; /* a new image that reads as zeroes: zero chunks need no write */
} MirrorParams;

/*
 * Checks the parameters in upstream's order and wording ("Parameter 'granularity' expects a
 * power of 2", "Can't mirror node into itself", "Invalid job ID ''", "Need a root block node"
 * for a source already mirrored, ...), then creates and starts the job. The sizes are
 * compared by the job itself, as upstream's ("Source and target image have different sizes"
 * in BLOCK_JOB_COMPLETED).
 */
Job *mirror_start(const MirrorParams *p, GError **errp);
/* The first of those checks, which upstream makes before the sync mode's. */
bool mirror_check_granularity(int64_t granularity, GError **errp);

/*
 * drive-mirror's target: with mode=existing the image is opened as it is; otherwise it is
 * created first (raw: a host file of the source's size; "Formatting 'T', fmt=raw size=N" on
 * stdout as upstream prints it). An NBD URI ("nbd://H:P/E", "nbd+unix:///E?socket=S", or
 * legacy "nbd:H:P") opens the nbd driver, which cannot create: the export must be there.
 * format NULL: the source's format (existing: raw). *zeroed: a new image reading as zeroes.
 * Returns a node with one reference.
 */
BlockDriverState *mirror_open_target(BlockDriverState *source, const char *target,
                                     const char *format, bool existing, MirrorSync sync,
                                     const char *node_name, bool *zeroed, GError **errp);

/* Whether bs may become a mirror's source: not while a mirror of it runs ("Need a root block
 * node", as upstream says once its mirror filter sits above bs). */
bool mirror_check_source(BlockDriverState *bs, GError **errp);

#endif
