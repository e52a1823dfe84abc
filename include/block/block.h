/*
 * The block layer's node graph: every disk image is a tree of nodes, each run by a driver.
 *
 *   device (virtio-blk, IDE) ──► BlockBackend "drive0"          (block/block-backend.h)
 *                                   │ root
 *                                   ▼
 *                         node "#block123"  driver raw   (format: interprets the bytes below)
 *                                   │ child "file"
 *                                   ▼
 *                         node "#block045"  driver file  (protocol: the host file, its lock)
 *
 * Driver kinds: a protocol driver (file, nbd) reaches storage and has no children; a
 * format driver (raw, qcow2) sits on a protocol node through its "file" child; a filter
 * (quorum, replication) passes requests on to its children.
 *
 * Backing chains (drivers with supports_backing, i.e. qcow2): the driver's open reads the
 * image's backing file name into bs->backing_file; the graph then opens the "backing" child
 * from it (relative to the image's directory, read-only, the format recorded in the image or
 * probed), unless the options say otherwise: "backing=NODE", "backing=null" (JSON) / "" (none),
 * "backing.<key>=..." (opened inline over the recorded name's defaults).
 *
 *   node qcow2 "ov" ──file──► node file (ov.qcow2)     takes write+resize, shares neither
 *        │ backing
 *        ▼
 *   node qcow2 (read-only) ──file──► node file (base.qcow2)
 *        backing edge: takes consistent read at most; shares write only if the parents do
 *
 * Nodes are opened from upstream's flat option dictionaries ("driver=raw,file.driver=file,
 * file.filename=a.raw"): keys "<child>.<key>" describe a child opened inline, "<child>=NAME"
 * refers to an existing node. Each node has a node-name (given, or "#blockNNN").
 *
 * Permissions as upstream: each parent (a backend, or a parent node through its child edge)
 * takes some permissions on a node and shares others; a file node turns the union into byte
 * locks in the image (OFD locks at 100+bit for what it takes and 200+bit for what it does not
 * share), so another process (ours or upstream's QEMU) that conflicts is refused with
 * "Failed to get "write" lock".
 *
 * I/O through the graph is synchronous (bdrv_pread & co.): it runs on the block layer's worker
 * threads (block-backend.h submits there), never on a vCPU or the main loop. Drivers must be
 * safe for concurrent requests, or set BlockDriver.serialize to get one request at a time.
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BDRV_SECTOR_SIZE 512

/* Permission bits, upstream's numbering (the lock byte of bit i is 100+i / 200+i). */
enum {
    BLK_PERM_CONSISTENT_READ = 1 << 0,
    BLK_PERM_WRITE = 1 << 1,
    BLK_PERM_WRITE_UNCHANGED = 1 << 2,
    BLK_PERM_RESIZE = 1 << 3,
    BLK_PERM_ALL = 0x0f,
};

/* Request flags. */
enum {
    BDRV_REQ_FUA = 1 << 0,       /* write through to stable storage */
    BDRV_REQ_MAY_UNMAP = 1 << 1, /* write-zeroes may deallocate */
};

typedef enum {
    BLOCK_DRIVER_PROTOCOL,
    BLOCK_DRIVER_FORMAT,
    BLOCK_DRIVER_FILTER,
} BlockDriverKind;

typedef struct BlockDriverState BlockDriverState;
typedef struct BdrvChild BdrvChild;

/* Told of every successful write, zeroing or discard on a node, on the worker thread that made
 * it, before the request completes: buf holds the bytes written, NULL for zeroes or a discard. */
typedef void BdrvWriteNotify(void *opaque, uint64_t offset, uint64_t bytes, const void *buf);
/* Called before a write, zeroing or discard reaches a node's driver, on the worker thread
 * making it (a backup's copy-before-write); a negative return fails the request unwritten. */
typedef int BdrvBeforeWrite(void *opaque, uint64_t offset, uint64_t bytes);

typedef struct BlockDriver {
    const char *format_name;
    BlockDriverKind kind;
    /* Option keys the driver reads (besides the generic node options and its children). */
    const char *const *options;
    /* Child roles it opens, NULL-terminated ("file", "backing"); NULL for none. */
    const char *const *children;
    /* Whether a child role must be given (formats: "file"). */
    const char *required_child;
    bool serialize; /* one request at a time on this node (metadata-keeping formats) */
    /* The "file" child holds metadata: a writable node takes write and resize on it and lets
     * nobody else write or resize it (upstream's BDRV_CHILD_METADATA). */
    bool file_has_metadata;
    /* Has a "backing" child opened as described at the top (bs->backing_file). */
    bool supports_backing;
    size_t state_size;

    /* opts: the node's own keys (children removed, already opened as bs->children).
     * Called on the main thread. */
    bool (*open)(BlockDriverState *bs, GHashTable *opts, GError **errp);
    void (*close)(BlockDriverState *bs);
    /* Blocking I/O, on a worker thread; return 0 or -errno. */
    int (*pread)(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf);
    int (*pwrite)(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                  int flags);
    /* Optional: the same, straight into or out of the caller's segments (a device's guest
     * pages); without them bdrv_preadv()/bdrv_pwritev() go through one bounce buffer. */
    int (*preadv)(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt);
    int (*pwritev)(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt,
                   int flags);
    /* Optional: preadv only if it can finish without waiting for the disk (the bytes are in
     * the host's page cache), on the caller's thread; -EAGAIN otherwise, or for any failure
     * (the caller then queues the request as usual, which reports the real error). */
    int (*preadv_nowait)(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                         int iovcnt);
    int (*flush)(BlockDriverState *bs);
    int (*discard)(BlockDriverState *bs, uint64_t offset, uint64_t bytes);
    int (*write_zeroes)(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags);
    int64_t (*getlength)(BlockDriverState *bs);
    int (*truncate)(BlockDriverState *bs, uint64_t size);
    /* Drops everything the node holds so that it reads as its backing child (replication). */
    int (*make_empty)(BlockDriverState *bs);
    /* The "backing" child was attached or removed (main thread). */
    void (*backing_changed)(BlockDriverState *bs);
    /* Protocol nodes holding host resources: apply the cumulative permissions (perm taken,
     * shared) -- the file driver's image locks. */
    bool (*set_perm)(BlockDriverState *bs, uint64_t perm, uint64_t shared, GError **errp);
    /* URI schemes a -drive file name may start with ("nbd" for "nbd://..."), NULL-terminated;
     * such a file name opens this protocol instead of "file". */
    const char *const *protocols;
    /* Migration handed the image back (bdrv_activate_all): forget what was read of it
     * before, another process may have written it since. Main thread, no request in flight. */
    bool (*activate)(BlockDriverState *bs, GError **errp);
    /* What the node takes on the host's disk (query-block's actual-size), or -errno. */
    int64_t (*allocated_size)(BlockDriverState *bs);
    /* For query-named-block-nodes' "file" (the image's name as the user knows it). */
    const char *(*filename)(BlockDriverState *bs);
    /* Children named "<indexed_children>.0", ".1", ... as many as the options give (quorum's
     * "children"); at least one. */
    const char *indexed_children;
    /* x-blockdev-change: a child added or removed at run time (main thread); NULL when the
     * driver cannot. del_child releases the edge with bdrv_unref_child(). */
    bool (*add_child)(BlockDriverState *bs, BlockDriverState *child, GError **errp);
    bool (*del_child)(BlockDriverState *bs, BdrvChild *child, GError **errp);
    /* The permissions bs takes and shares on its child `role`, given what its parents take
     * and share (perm, shared); NULL for the defaults described at bdrv_refresh_perms. */
    void (*child_perm)(BlockDriverState *bs, const char *role, uint64_t perm, uint64_t shared,
                       uint64_t *nperm, uint64_t *nshared);
    /* bs->read_only changed (bdrv_reopen_writable): take the host file or image again in the
     * new mode. Main thread, no request in flight on the node. */
    bool (*reopen)(BlockDriverState *bs, GError **errp);
    /* -blockdev / blockdev-add: upstream's schema check of the driver's own keys (enum
     * values, required members), which comes before any other error; NULL if none. */
    bool (*check_schema)(GHashTable *opts, GError **errp);
} BlockDriver;

struct BdrvChild {
    char *name; /* role: "file", "backing", "children.0" */
    BlockDriverState *bs;
    BlockDriverState *parent;
    uint64_t perm, shared;
};

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque; /* driver state, state_size bytes */
    char *node_name;
    bool auto_named; /* "#blockNNN": not in the user's namespace */
    bool read_only;
    bool detect_zeroes;
    bool cache_direct, cache_no_flush;
    bool drive_style;     /* opened by -drive: drivers word some errors as QemuOpts does */
    bool auto_read_only;  /* BdrvOpenFlags.auto_read_only */
    bool discard_unmap;   /* discard=unmap: discards reach the driver (else they do nothing) */
    bool probed_protocol; /* BdrvOpenFlags.probed_protocol */
    int refcnt;
    GPtrArray *children; /* BdrvChild*, owned */
    GPtrArray *parents;  /* BdrvChild* pointing at this node (not owned) */
    /* Permissions that backends (block-backend.c) hold on this node. */
    uint64_t backend_perm, backend_shared;
    int backends;
    uint64_t cur_perm, cur_shared; /* what set_perm last applied */
    GMutex serial_lock;            /* held around a request when drv->serialize */
    GRWLock notify_lock;           /* readers: requests calling notifiers; writer: (un)register */
    GArray *write_notifiers;       /* write notifiers (block.c's BdrvHook) */
    GArray *before_write;          /* before-write hooks, under notify_lock as well */
    /* Backing file name and format as the image records them (drivers with backing). */
    char *backing_file, *backing_format;
    /* The backing child is the options' choice (a node, or none), not the image's. */
    bool backing_overridden;
    /* What query-block shows as the node's file name when it is not its file child's (then
     * upstream's "json:{...}" of its options); NULL otherwise. */
    char *display_name;
};

extern const BlockDriver bdrv_file, bdrv_raw, bdrv_qcow2;

/* Creates a host file of size bytes (emptied if it exists), as upstream's file-posix create:
 * refused while another open image holds it ("Failed to get shared "consistent read" lock"). */
int file_create(const char *filename, int64_t size, GError **errp);

const BlockDriver *bdrv_find_driver(const char *name);
void bdrv_register_driver(const BlockDriver *drv);
/* Registers file, raw and qcow2 (once; from block_register_types). */
void block_register_types(void);
/* Upstream's BlockdevDriver names, so that one we do not have gets "Unknown driver". */
bool bdrv_driver_name_known_upstream(const char *name);

/* Flat option dictionaries: string keys and values, as upstream's QDict after flattening. */
GHashTable *bdrv_opts_new(void);
/* Moves "prefix.key" entries of src into a new dictionary as "key". */
GHashTable *bdrv_opts_extract(GHashTable *src, const char *prefix);
bool bdrv_opts_has_prefix(GHashTable *opts, const char *prefix);

/*
 * Opens a node from flat options (driver, node-name, read-only, cache.*, children). Consumes
 * the keys it understands; unknown keys are refused with "Parameter 'K' is unexpected"
 * (-blockdev) or through `unknown_fmt` (-drive: "Block format 'raw' does not support the option
 * 'K'"). Returns a node with one reference.
 */
typedef struct BdrvOpenFlags {
    bool drive_style; /* -drive's wording and defaults */
    bool read_only;   /* inherited by children opened inline */
    /* Upstream's auto-read-only (inherited too): a node that can only be read (an NBD export
     * marked read-only) becomes read-only instead of failing to open. -drive and HMP drive_add
     * set it, `drive_add -n` and -blockdev only when the option says so. */
    bool auto_read_only;
    bool cache_direct, cache_no_flush;
    bool discard_unmap;
    bool probed_protocol; /* a -drive file child whose driver nobody named (upstream probes it:
                           * host_device for a device node) */
} BdrvOpenFlags;
BlockDriverState *bdrv_open_opts(GHashTable *opts, const BdrvOpenFlags *flags, GError **errp);

void bdrv_ref(BlockDriverState *bs);
void bdrv_unref(BlockDriverState *bs);

/* Nodes by node-name, including auto-named ones. */
BlockDriverState *bdrv_find_node(const char *node_name);
/* Every node, in creation order (query-named-block-nodes). */
GPtrArray *bdrv_all_nodes(void);
/* Node names in user's namespace must be identifiers and unique; also checked against
 * BlockBackend names by the caller. */
bool bdrv_node_name_ok(const char *name, GError **errp);

/*
 * Migration hands the images over as upstream (shared storage, no block migration): the
 * destination opens them inactive (-incoming), holding no image locks; the source, stopped and
 * drained, flushes and drops its locks after the device state (inactivate), and the destination
 * takes them once the state is loaded (activate), before its VM runs. So the two never write
 * at once, and a source that takes its images back (failed migration, cont) is refused while
 * the destination has them:
 *
 *   source:  active --stop, drain, save--> inactive --(failed / cont)--> active
 *   dest:    inactive (opened at -incoming) --loaded--> active (locks, formats re-read)
 */
void bdrv_start_inactive(void);
bool bdrv_is_inactive(void);
/* Flushes every node and drops every image lock; false + errp if a flush fails (nothing
 * dropped then). */
bool bdrv_inactivate_all(GError **errp);
/* Takes the locks back (all or none: false + errp, e.g. "Failed to get "write" lock") and lets
 * formats re-read their metadata. */
bool bdrv_activate_all(GError **errp);

/* A child edge from parent to child, taking perm/shared on child. */
BdrvChild *bdrv_attach_child(BlockDriverState *parent, BlockDriverState *child, const char *name,
                             GError **errp);
BdrvChild *bdrv_child(BlockDriverState *bs, const char *name);
/* The node's primary child (formats' "file"), or NULL. */
BlockDriverState *bdrv_file_child(BlockDriverState *bs);
/* Recomputes the permissions of bs and below from their parents; false + errp on a lock
 * conflict (nothing changed then). */
bool bdrv_refresh_perms(BlockDriverState *bs, GError **errp);
/* True if some parent (backend or node) holds a reference that blockdev-del must respect. */
bool bdrv_has_parents(BlockDriverState *bs);
/* Drops the edge (and the reference it held); the child's permissions relax. */
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);
/* x-blockdev-change's two halves, upstream's checks and wording (main thread). */
bool bdrv_add_child(BlockDriverState *parent, BlockDriverState *child, GError **errp);
bool bdrv_del_child(BlockDriverState *parent, BdrvChild *child, GError **errp);
/* The name of the backend on bs if a named one sits there, else its node-name. */
const char *bdrv_get_device_or_node_name(BlockDriverState *bs);

/* A block job watching the guest's writes on a node (mirror). Removal waits for notifications
 * in progress; the caller drains the node's backends first so that none is left behind. */
void bdrv_add_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque);
void bdrv_remove_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque);

/* A copy-before-write hook (a replication's backup) on a node; removal waits as above. */
void bdrv_add_before_write(BlockDriverState *bs, BdrvBeforeWrite *fn, void *opaque);
void bdrv_remove_before_write(BlockDriverState *bs, BdrvBeforeWrite *fn, void *opaque);

/* Makes bs and its file child read-write (writable) or read-only again, as upstream's reopen
 * of a backing chain's nodes (replication writes its hidden disk); main thread, no request in
 * flight. False + errp if a node cannot (the image's file is read-only, a lock conflicts). */
bool bdrv_reopen_writable(BlockDriverState *bs, bool writable, GError **errp);

/* Synchronous I/O through the graph; worker threads only (or tests). 0 or -errno. */
int bdrv_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf);
int bdrv_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf, int flags);
/* Vectored: iov_size(iov, iovcnt) bytes at offset. Drivers without preadv/pwritev get one
 * linear copy; write notifiers are told the bytes as one buffer either way. */
int bdrv_preadv(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt);
/* The driver's preadv_nowait, or -EAGAIN without one. Any thread. */
int bdrv_preadv_nowait(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt);
int bdrv_pwritev(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt,
                 int flags);
int bdrv_flush(BlockDriverState *bs);
int bdrv_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes);
int bdrv_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags);
int64_t bdrv_getlength(BlockDriverState *bs);
int bdrv_truncate(BlockDriverState *bs, uint64_t size);
/* -ENOTSUP unless the driver can (qcow2). */
int bdrv_make_empty(BlockDriverState *bs);
/* The image's file name as query-block shows it (the protocol node's). */
const char *bdrv_filename(BlockDriverState *bs);
/* What the node's storage takes on the host (its file child's, down to the protocol). */
int64_t bdrv_allocated_size(BlockDriverState *bs);
/* The node's backing child, or NULL. */
BlockDriverState *bdrv_backing_child(BlockDriverState *bs);
/* Upstream's probe of a host file's format: "qcow2" for its magic, else "raw" (also when the
 * file cannot be read: opening it reports that). */
const char *bdrv_probe_format(const char *filename);
/* A relative backing file name is relative to the directory of the image naming it. */
char *bdrv_backing_path(const char *image_filename, const char *backing_file);

#endif
