/*
 * BlockBackend: what a device sits on -- a named handle ("drive0" of -drive id=drive0) on a
 * root node, with the device's permissions and asynchronous requests.
 *
 *   device thread (vCPU, holding the big lock)        worker threads (GThreadPool)
 *     blk_aio_pread(blk, off, len, buf, cb) ──────────► bdrv_pread(root...)  pread(2)
 *                                                                  │ done
 *     cb(opaque, ret) on the backend's GMainContext ◄── completion queue + wake-up
 *
 * The vCPU thread never waits for the disk: it hands the request over and returns. A
 * completion runs on the backend's context (the main loop unless set otherwise), which is
 * where the device touches guest memory again. blk_drain() waits until every request of the
 * backend has completed and its callback has run (before a migration or checkpoint stops the
 * VM, or before the device resets).
 */
#ifndef BLOCK_BLOCK_BACKEND_H
#define BLOCK_BLOCK_BACKEND_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

typedef struct BlockBackend BlockBackend;

/* ret: 0 or -errno. */
typedef void BlockCompletionFunc(void *opaque, int ret);

/* A backend named name ("" or NULL: anonymous, as a -device drive=NODE creates). */
BlockBackend *blk_new(const char *name, GMainContext *ctx);
void blk_unref(BlockBackend *blk);
BlockBackend *blk_by_name(const char *name);
/* Named backends and anonymous ones a device uses, in creation order (query-block). */
GPtrArray *blk_all(void);
const char *blk_name(BlockBackend *blk);
/* drive_del of a drive a device uses, as upstream: the backend stays the device's but loses
 * its name (query-block shows it as "") and, its error policy now "report", its I/O status. */
void blk_drive_deleted(BlockBackend *blk);
/* Whether query-block shows an I/O status: a device's backend with the default policy. */
bool blk_iostatus_enabled(BlockBackend *blk);
/* For a device that keeps no I/O status (upstream's floppy): query-block shows none. */
void blk_iostatus_disable(BlockBackend *blk);

/* Inserts root with the given permissions (a device's); false on a lock conflict. */
bool blk_insert_bs(BlockBackend *blk, BlockDriverState *root, uint64_t perm, uint64_t shared,
                   GError **errp);
void blk_remove_bs(BlockBackend *blk);
/* A new medium into an empty backend, under the permissions its device already has. */
bool blk_insert_medium(BlockBackend *blk, BlockDriverState *root, GError **errp);
/* Whether the backend's medium is (or the last one was) read-only; -drive sets it for an empty
 * drive (media=cdrom: read-only). */
void blk_set_root_read_only(BlockBackend *blk, bool read_only);
bool blk_root_read_only(BlockBackend *blk);
BlockDriverState *blk_bs(BlockBackend *blk);
/* Moves every backend on `from` onto `to`, keeping their permissions (a mirror's pivot); each
 * backend is drained first. False + errp on a lock conflict (nothing moved then). */
bool blk_replace_root(BlockDriverState *from, BlockDriverState *to, GError **errp);
/* The name of a backend on bs ("" if none), as upstream's bdrv_get_device_name. */
const char *blk_name_of_root(BlockDriverState *bs);
/* Changes the device's permissions (a device attaching, or detaching with 0/ALL). */
bool blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared, GError **errp);

/* Which device uses it (query-block's "qdev"); NULL: none. A backend has at most one. */
bool blk_attach_dev(BlockBackend *blk, const char *dev_name);
void blk_detach_dev(BlockBackend *blk);
const char *blk_dev_name(BlockBackend *blk);

/*
 * A device with a removable medium (ide-cd) and its tray, as upstream's BlockDevOps: the
 * monitor's eject / change / tray commands go through these; the device answers where its
 * tray is and whether the guest locked it.
 */
typedef struct BlockDevOps {
    void (*change_media_cb)(void *opaque, bool load); /* medium inserted/removed, tray moved */
    void (*eject_request_cb)(void *opaque, bool force);
    bool (*is_tray_open)(void *opaque);
    bool (*is_medium_locked)(void *opaque);
    /* Optional: false + errp when the device cannot take a medium at all (a drive slot
     * without its controller). */
    bool (*medium_acceptable)(void *opaque, GError **errp);
} BlockDevOps;
void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops, void *opaque);
/* True without a device, as upstream: only a device without removable media says no. */
bool blk_dev_has_removable_media(BlockBackend *blk);
bool blk_dev_has_tray(BlockBackend *blk);
bool blk_dev_is_tray_open(BlockBackend *blk);
bool blk_dev_is_medium_locked(BlockBackend *blk);
bool blk_dev_medium_acceptable(BlockBackend *blk, GError **errp);
/* Tells the device; a tray that moved is reported (blk_tray_moved). */
void blk_dev_change_media(BlockBackend *blk, bool load);
void blk_dev_eject_request(BlockBackend *blk, bool force);
/* The tray moved (the guest's START STOP UNIT, or the monitor): the handler the monitor sets
 * emits DEVICE_TRAY_MOVED. */
typedef void BlockTrayMovedFunc(BlockBackend *blk, bool open);
void blk_set_tray_moved_handler(BlockTrayMovedFunc *fn);
void blk_tray_moved(BlockBackend *blk, bool open);

/* -drive's extra: the bus it was meant for (if=) and its index, for the machine to claim. */
typedef enum {
    BLK_IF_NONE,
    BLK_IF_IDE,
    BLK_IF_VIRTIO,
    BLK_IF_FLOPPY,
    BLK_IF_SD,
    BLK_IF_COUNT
} BlockInterfaceType;
void blk_set_legacy(BlockBackend *blk, BlockInterfaceType type, int bus, int unit, bool cdrom);
BlockInterfaceType blk_legacy_type(BlockBackend *blk, int *bus, int *unit, bool *cdrom);

/* Write cache on (writeback): flushes are the guest's job. Off: every write is followed by a
 * flush (cache=writethrough / directsync). */
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);
bool blk_enable_write_cache(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
bool blk_is_inserted(BlockBackend *blk);
int64_t blk_getlength(BlockBackend *blk);

/* Asynchronous requests: buf stays the caller's until cb runs. cb runs on the backend's
 * context, never inside the call. */
void blk_aio_pread(BlockBackend *blk, uint64_t offset, uint64_t bytes, void *buf,
                   BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwrite(BlockBackend *blk, uint64_t offset, uint64_t bytes, const void *buf, int flags,
                    BlockCompletionFunc *cb, void *opaque);
/* Vectored: the segments' memory (a device's guest pages) is read into or written from
 * directly when the node's drivers can (raw on file); iov itself is copied at once. */
void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                    BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                     int flags, BlockCompletionFunc *cb, void *opaque);
/*
 * A read done at once, on the caller's thread, when that cannot wait for the disk: nothing of
 * the backend is in flight (so completions keep their order), the range is inside the medium
 * and the node's drivers find every byte in the host's page cache (raw on a file without
 * cache.direct; bdrv_preadv_nowait). Returns 0 (read, accounted as a completed request) or
 * -EAGAIN: then nothing is accounted and the caller queues it with blk_aio_preadv. Spares a
 * disk read that hits the cache two thread hand-offs (to a worker and back).
 */
int blk_preadv_nowait(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt);
void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque);
void blk_aio_discard(BlockBackend *blk, uint64_t offset, uint64_t bytes, BlockCompletionFunc *cb,
                     void *opaque);
void blk_aio_write_zeroes(BlockBackend *blk, uint64_t offset, uint64_t bytes, int flags,
                          BlockCompletionFunc *cb, void *opaque);
/* Requests submitted and not yet completed (callback not yet run). */
/*
 * The lock under which the backend's callbacks may run on the worker that finished the
 * request, instead of being handed to the backend's context (one wake-up of its thread less):
 * trylock() takes the lock that the context's thread holds while it runs them (the machine's
 * big lock, for a disk device), unlock() drops it. When trylock() fails the completion goes to
 * the context as usual, so a thread that holds the lock and drains the backend runs them
 * itself. Whoever drains such a backend must hold the lock. NULL: every completion goes to the
 * context (the default).
 */
typedef struct BlockCompletionLock {
    bool (*trylock)(void);
    void (*unlock)(void);
} BlockCompletionLock;
void blk_set_completion_lock(BlockBackend *blk, const BlockCompletionLock *lock);
guint blk_in_flight(BlockBackend *blk);
/* Waits until blk_in_flight() is 0, running the backend's completions on this thread. Call it
 * on the thread that owns the backend's context (the main loop, under the big lock). */
void blk_drain(BlockBackend *blk);
void blk_drain_all(void);

/* Statistics for query-blockstats-like reports and tests. */
typedef struct BlockAcctStats {
    uint64_t rd_bytes, wr_bytes, rd_ops, wr_ops, flush_ops, discard_ops, failed_ops;
} BlockAcctStats;
BlockAcctStats blk_stats(BlockBackend *blk);

/* Removes every backend and node (end of the program, tests). */
void block_cleanup(void);

#endif
