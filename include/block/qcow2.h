/*
 * qcow2 image format: a self-contained format driver over any byte store.
 *
 * The block layer hosts it as the `qcow2` format driver; this module knows nothing of nodes or
 * requests. It reads and writes the image through a Qcow2File (the node under it) and reads
 * unallocated clusters from an optional backing reader (another image, or any callback).
 *
 * Every operation is synchronous and takes the image's own lock, so worker threads may call in
 * at once; reads of data clusters run outside it, in parallel with each other. Metadata is
 * written through (no write-back cache): after each call returns, the image file holds a
 * consistent image; qcow2_flush() only adds the file's own flush.
 *
 * Image layout (all integers big-endian, offsets in bytes, "cluster" = 2^cluster_bits):
 *
 *   guest offset --L1 index--> L1 table --L2 offset--> L2 table --entry--> data cluster
 *                                                          |            or compressed run
 *                                                          |            or "reads as zero"
 *                                                          `-- 0: backing file (or zeros)
 *   host cluster --refcount table--> refcount block --> count of references (0 = free)
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * What qcow2 needs from the node under it. Every call returns 0 (length: the size) or -errno.
 * pread fills zeros past the end of the file and may be called from several threads at once.
 * preadv/pwritev are optional (the same, on segments; without them each segment is one
 * pread/pwrite): the vectored requests below hand them slices of the caller's own segments.
 * preadv_nowait is optional too: a preadv that fails with -EAGAIN rather than wait for the disk
 * (for qcow2_readv_nowait).
 */
typedef struct Qcow2File {
    void *opaque;
    int (*pread)(void *opaque, uint64_t off, void *buf, size_t len);
    int (*pwrite)(void *opaque, uint64_t off, const void *buf, size_t len);
    int (*preadv)(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*pwritev)(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*preadv_nowait)(void *opaque, uint64_t off, const struct iovec *iov, int iovcnt);
    int (*flush)(void *opaque);
    int (*truncate)(void *opaque, uint64_t size);
    int64_t (*length)(void *opaque);
} Qcow2File;

/*
 * Where unallocated clusters read from. `pread` never sees a range past `length()`: the part of
 * a cluster beyond the backing image's end reads as zeros, as upstream does.
 */
typedef struct Qcow2Backing {
    void *opaque;
    int (*pread)(void *opaque, uint64_t off, void *buf, size_t len);
    int64_t (*length)(void *opaque);
} Qcow2Backing;

typedef struct Qcow2Image Qcow2Image;

enum {
    QCOW2_OPEN_RDWR = 1 << 0,
};

typedef struct Qcow2Info {
    uint64_t virtual_size;
    uint32_t cluster_size;
    int version; /* 2 (compat=0.10) or 3 (compat=1.1) */
    int refcount_bits;
    char *backing_file;   /* NULL without a backing file */
    char *backing_format; /* NULL when the image does not name one */
    bool dirty;           /* incompatible bit 0: refcounts may be stale (lazy refcounts) */
    bool corrupt;         /* incompatible bit 1, or corruption found since open */
    bool lazy_refcounts;
    uint32_t nb_snapshots;
} Qcow2Info;

/* True when the first bytes of a file carry the qcow2 magic (for format probing). */
bool qcow2_probe(const void *buf, size_t len);

/*
 * Opens the image in `file` (copied; its opaque must outlive the image). Errors in upstream's
 * wording: "Image is not in qcow2 format", "Unsupported qcow2 version 4", ...
 */
Qcow2Image *qcow2_open(const Qcow2File *file, int flags, GError **errp);
void qcow2_close(Qcow2Image *img);

/* Sets or replaces (NULL: none) the reader of unallocated clusters. */
void qcow2_set_backing(Qcow2Image *img, const Qcow2Backing *backing);
/* A backing reader that reads through another opened image (a chain of qcow2 images). */
Qcow2Backing qcow2_backing_from_image(Qcow2Image *img);

/*
 * Called (under the image lock, once per image) when its metadata turns out inconsistent, with
 * upstream's message and whether the image was marked corrupt (fatal: it was writable); for
 * the BLOCK_IMAGE_CORRUPTED event. Requests that met it fail with -EIO.
 */
typedef void Qcow2CorruptionFn(void *opaque, const char *msg, bool fatal);
void qcow2_set_corruption_handler(Qcow2Image *img, Qcow2CorruptionFn *fn, void *opaque);

/* Guest-visible I/O; ranges past the virtual size are refused with -EINVAL. */
int qcow2_read(Qcow2Image *img, uint64_t off, void *buf, size_t len);
int qcow2_write(Qcow2Image *img, uint64_t off, const void *buf, size_t len);
/* The same on segments (a device's guest pages): data clusters move between the file and the
 * segments directly; zeros, backing and compressed clusters are copied in through a cluster. */
int qcow2_readv(Qcow2Image *img, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_writev(Qcow2Image *img, uint64_t off, const struct iovec *iov, int iovcnt);
/*
 * qcow2_readv if it can finish at once, else -EAGAIN (also for any failure: the caller then
 * does qcow2_readv, which reports it): never waits for the image lock, reads only data clusters
 * whose L2 table is cached, through the file's preadv_nowait. For a device's vCPU thread.
 */
int qcow2_readv_nowait(Qcow2Image *img, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_flush(Qcow2Image *img);
/* Drops whole clusters inside the range (the rest is left as is, as upstream allows). */
int qcow2_discard(Qcow2Image *img, uint64_t off, uint64_t len);
/* The range reads as zeros afterwards; whole clusters become zero clusters on v3 images. */
int qcow2_write_zeroes(Qcow2Image *img, uint64_t off, uint64_t len);
/* Drops every allocation of the active layer: the image then reads as its backing file. */
int qcow2_make_empty(Qcow2Image *img);

typedef struct Qcow2CreateOpts {
    uint64_t size;              /* virtual size in bytes */
    uint32_t cluster_size;      /* 0: 65536 */
    int version;                /* 0: 3 (compat=1.1); 2 is compat=0.10 */
    const char *backing_file;   /* NULL: none */
    const char *backing_format; /* NULL: not recorded */
} Qcow2CreateOpts;

/*
 * Writes a new empty image into `file` (truncated first), as `qemu-img create -f qcow2` would:
 * 16-bit refcounts, the backing file recorded as given. For -drive snapshot=on's overlays too.
 */
bool qcow2_create(const Qcow2File *file, const Qcow2CreateOpts *opts, GError **errp);

/* What the active layer holds for a range (for block status: mirror, NBD, map). */
typedef enum {
    QCOW2_STATUS_UNALLOCATED, /* reads from the backing file, or zeros without one */
    QCOW2_STATUS_ZERO,        /* reads as zeros */
    QCOW2_STATUS_DATA,        /* data in this image (plain or compressed) */
} Qcow2Status;

/*
 * The status of the byte at `off`; *pnum gets how many bytes from there (at most len) share it.
 * Returns the Qcow2Status, or -errno.
 */
int qcow2_block_status(Qcow2Image *img, uint64_t off, uint64_t len, uint64_t *pnum);

/* Fills `info` (free it with qcow2_info_clear). */
void qcow2_get_info(Qcow2Image *img, Qcow2Info *info);
void qcow2_info_clear(Qcow2Info *info);
uint64_t qcow2_virtual_size(Qcow2Image *img);

#endif
