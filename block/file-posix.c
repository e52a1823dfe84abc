/*
 * The "file" protocol driver: a host file or block device, read and written with
 * pread/pwrite on the block layer's worker threads.
 *
 * cache.direct=on opens with O_DIRECT (cache=none, directsync); a request that is not aligned
 * for it (its offset or length) goes through a second, buffered descriptor instead, and an
 * unaligned memory buffer through an aligned bounce buffer.
 *
 * Image locking as upstream's file-posix (locking=auto|on): one OFD read lock per byte,
 *   byte 100+i  held while this process takes permission bit i (1: write)
 *   byte 200+i  held while this process does NOT share permission bit i
 * A permission can be taken only if nobody holds its 200+i byte, and not shared only if
 * nobody holds 100+i, so our locks and Debian's QEMU's see each other.
 */
#include "block/block.h"
#include "util/error.h"
#include "util/iov.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOCK_PERM_BASE   100
#define LOCK_SHARED_BASE 200
#define PERM_BITS        4

typedef struct FileState {
    char *filename;
    int fd;          /* O_DIRECT when cache.direct */
    int fd_buffered; /* -1 unless cache.direct: unaligned requests */
    uint32_t align;  /* O_DIRECT alignment of offsets, lengths and buffers */
    bool locking;
    bool is_blockdev;
    /* A regular file's length, read at open and kept by our own writes and truncates (as
     * upstream's total_sectors), so that a request's range check costs no fstat. Atomic:
     * workers extend it in parallel. */
    int64_t length;
    uint64_t locked_perm, locked_unshared; /* bits whose bytes we hold */
} FileState;

static const char *const file_options[] = {"filename",      "aio",        "locking",
                                           "aio-max-batch", "drop-cache", "x-check-cache-dropped",
                                           "pr-manager",    NULL};

static const char *const perm_names[PERM_BITS] = {"consistent read", "write", "write unchanged",
                                                  "resize"};

static int lock_byte(int fd, off_t byte, short type)
{
    struct flock fl = {.l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = type};
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1: another open file description holds the byte; 0: free; -errno. */
static int byte_taken(int fd, off_t byte)
{
    struct flock fl = {.l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type != F_UNLCK;
}

/* Whether another open file description's locks forbid taking perm and not sharing unshared
 * (bits already held, have_*, were checked when they were taken). */
static bool check_lock_bytes(int fd, const char *filename, uint64_t perm, uint64_t unshared,
                             uint64_t have_perm, uint64_t have_unshared, GError **errp)
{
    for (int i = 0; i < PERM_BITS; i++) {
        uint64_t bit = 1ull << i;
        if ((perm & bit) && !(have_perm & bit) && byte_taken(fd, LOCK_SHARED_BASE + i) > 0) {
            error_setg(errp, "Failed to get \"%s\" lock", perm_names[i]);
            error_append_hint(errp, "Is another process using the image [%s]?", filename);
            return false;
        }
        if ((unshared & bit) && !(have_unshared & bit) && byte_taken(fd, LOCK_PERM_BASE + i) > 0) {
            error_setg(errp, "Failed to get shared \"%s\" lock", perm_names[i]);
            error_append_hint(errp, "Is another process using the image [%s]?", filename);
            return false;
        }
    }
    return true;
}

static bool file_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared, GError **errp)
{
    FileState *s = bs->opaque;
    if (!s->locking) {
        return true;
    }
    uint64_t unshared = ~shared & BLK_PERM_ALL;
    if (!check_lock_bytes(s->fd, s->filename, perm, unshared, s->locked_perm, s->locked_unshared,
                          errp)) {
        return false;
    }
    for (int i = 0; i < PERM_BITS; i++) {
        uint64_t bit = 1ull << i;
        int r1 = lock_byte(s->fd, LOCK_PERM_BASE + i, (perm & bit) ? F_RDLCK : F_UNLCK);
        int r2 = lock_byte(s->fd, LOCK_SHARED_BASE + i, (unshared & bit) ? F_RDLCK : F_UNLCK);
        if (r1 < 0 || r2 < 0) {
            error_setg_errno(errp, -(r1 < 0 ? r1 : r2), "Failed to lock byte %d",
                             (r1 < 0 ? LOCK_PERM_BASE : LOCK_SHARED_BASE) + i);
            return false;
        }
    }
    s->locked_perm = perm & BLK_PERM_ALL;
    s->locked_unshared = unshared;
    return true;
}

int file_create(const char *filename, int64_t size, GError **errp)
{
    int fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_setg(errp, "Could not create '%s': %s", filename, g_strerror(errno));
        return -1;
    }
    /* Upstream's creation takes write and resize and shares nothing while it empties the
     * file: an image some process (this one included) has open is left alone. */
    int ret = -1;
    if (check_lock_bytes(fd, filename, BLK_PERM_WRITE | BLK_PERM_RESIZE, BLK_PERM_ALL, 0, 0,
                         errp)) {
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, size) < 0) {
            error_setg(errp, "Could not resize file: %s", g_strerror(errno));
        } else {
            ret = 0;
        }
    }
    close(fd);
    return ret;
}

static uint32_t probe_direct_alignment(int fd)
{
    /* The smallest read O_DIRECT accepts: 512 on most devices, 4096 on 4Kn ones. */
    static const uint32_t sizes[] = {512, 1024, 2048, 4096};
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, 4096)) {
        return 4096;
    }
    uint32_t align = 4096;
    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        if (pread(fd, buf, sizes[i], 0) >= 0) {
            align = sizes[i];
            break;
        }
    }
    free(buf);
    return align;
}

static bool file_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    FileState *s = bs->opaque;
    const char *filename = g_hash_table_lookup(opts, "filename");
    const char *aio = g_hash_table_lookup(opts, "aio");
    const char *locking = g_hash_table_lookup(opts, "locking");
    s->fd = s->fd_buffered = -1;
    if (!filename) {
        error_set_missing_param(errp, "filename");
        return false;
    }
    if (aio && strcmp(aio, "threads") && strcmp(aio, "native") && strcmp(aio, "io_uring")) {
        error_setg(errp, "Parameter 'aio' does not accept value '%s'", aio);
        return false;
    }
    if (aio && strcmp(aio, "native") == 0 && !bs->cache_direct) {
        error_setg(errp, "aio=native was specified, but it requires cache.direct=on, which was "
                         "not specified.");
        return false;
    }
    if (locking && strcmp(locking, "auto") && strcmp(locking, "on") && strcmp(locking, "off")) {
        error_setg(errp, "Parameter 'locking' does not accept value '%s'", locking);
        return false;
    }
    s->locking = !locking || strcmp(locking, "off") != 0;
    s->filename = g_strdup(filename);
    int flags = (bs->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    s->fd = open(filename, flags | (bs->cache_direct ? O_DIRECT : 0));
    if (s->fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", filename);
        return false;
    }
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", filename);
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        error_setg_errno(errp, EISDIR, "Could not open '%s'", filename);
        return false;
    }
    /* Upstream's 'file' takes regular files only; a -drive naming a device node gets its
     * host_device driver, which this build folds in here. */
    bool device_node = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode);
    if (!S_ISREG(st.st_mode) && !(device_node && bs->probed_protocol)) {
        error_setg(errp, "'file' driver requires '%s' to be a regular file", filename);
        return false;
    }
    s->is_blockdev = S_ISBLK(st.st_mode);
    s->length = st.st_size;
    if (bs->cache_direct) {
        s->align = probe_direct_alignment(s->fd);
        s->fd_buffered = open(filename, flags);
        if (s->fd_buffered < 0) {
            error_setg_errno(errp, errno, "Could not open '%s'", filename);
            return false;
        }
    }
    return true;
}

static void refresh_length(FileState *s)
{
    struct stat st;
    if (fstat(s->fd, &st) == 0) {
        __atomic_store_n(&s->length, (int64_t)st.st_size, __ATOMIC_RELAXED);
    }
}

/* After a write: the file reaches at least `end` when it succeeded; after a failure, part of
 * it may have landed, so ask the file itself. */
static void note_written(FileState *s, uint64_t end, int ret)
{
    if (ret < 0) {
        refresh_length(s);
        return;
    }
    int64_t old = __atomic_load_n(&s->length, __ATOMIC_RELAXED);
    while (old < (int64_t)end && !__atomic_compare_exchange_n(&s->length, &old, (int64_t)end, true,
                                                              __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* fd's open file description is replaced by a new one of `filename` (flags), at the same
 * number so that requests never see a closed descriptor. */
static bool replace_fd(int fd, const char *filename, int flags, GError **errp)
{
    int nfd = open(filename, flags);
    if (nfd < 0) {
        error_setg_errno(errp, errno, "Could not reopen '%s'", filename);
        return false;
    }
    int r = dup3(nfd, fd, O_CLOEXEC);
    int err = errno;
    close(nfd);
    if (r < 0) {
        error_setg_errno(errp, err, "Could not reopen '%s'", filename);
        return false;
    }
    return true;
}

/* Read-only <-> read-write: new descriptors, and the image locks taken again on them (the
 * old description carried them away). */
static bool file_reopen(BlockDriverState *bs, GError **errp)
{
    FileState *s = bs->opaque;
    int flags = (bs->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (!replace_fd(s->fd, s->filename, flags | (bs->cache_direct ? O_DIRECT : 0), errp) ||
        (s->fd_buffered >= 0 && !replace_fd(s->fd_buffered, s->filename, flags, errp))) {
        return false;
    }
    /* Read-only, the node did not follow a writer's changes: the new descriptor's length. */
    refresh_length(s);
    uint64_t perm = s->locked_perm, unshared = s->locked_unshared;
    s->locked_perm = s->locked_unshared = 0;
    if (bdrv_is_inactive()) {
        return true; /* no locks while migration has the images; activation takes them */
    }
    return file_set_perm(bs, perm, ~unshared & BLK_PERM_ALL, errp);
}

static void file_close(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    if (s->fd >= 0) {
        close(s->fd); /* drops our OFD locks */
    }
    if (s->fd_buffered >= 0) {
        close(s->fd_buffered);
    }
    g_free(s->filename);
}

/* The descriptor for a request, and whether its buffer needs an aligned bounce. */
static int pick_fd(FileState *s, uint64_t offset, uint64_t bytes, const void *buf, bool *bounce)
{
    *bounce = false;
    if (s->fd_buffered < 0) {
        return s->fd;
    }
    if ((offset | bytes) & (s->align - 1)) {
        return s->fd_buffered;
    }
    *bounce = ((uintptr_t)buf & (s->align - 1)) != 0;
    return s->fd;
}

static int file_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    FileState *s = bs->opaque;
    bool bounce;
    int fd = pick_fd(s, offset, bytes, buf, &bounce);
    void *io = buf;
    if (bounce && posix_memalign(&io, s->align, bytes)) {
        return -ENOMEM;
    }
    uint64_t done = 0;
    int ret = 0;
    while (done < bytes) {
        ssize_t n = pread(fd, (char *)io + done, bytes - done, offset + done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        if (n == 0) {
            /* Past the end of the file reads as zeroes, as upstream's raw files do. */
            memset((char *)io + done, 0, bytes - done);
            break;
        }
        done += n;
    }
    if (bounce) {
        if (ret == 0) {
            memcpy(buf, io, bytes);
        }
        free(io);
    }
    return ret;
}

static int file_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                       int flags)
{
    FileState *s = bs->opaque;
    bool bounce;
    int fd = pick_fd(s, offset, bytes, buf, &bounce);
    const void *io = buf;
    void *tmp = NULL;
    if (bounce) {
        if (posix_memalign(&tmp, s->align, bytes)) {
            return -ENOMEM;
        }
        memcpy(tmp, buf, bytes);
        io = tmp;
    }
    uint64_t done = 0;
    int ret = 0;
    while (done < bytes) {
        ssize_t n = pwrite(fd, (const char *)io + done, bytes - done, offset + done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        done += n;
    }
    free(tmp);
    note_written(s, offset + bytes, ret);
    if (ret == 0 && (flags & BDRV_REQ_FUA) && fdatasync(s->fd) < 0) {
        ret = -errno;
    }
    return ret;
}

/* Whether the segments can go to the O_DIRECT descriptor as they are (a linear request
 * bounces through an aligned buffer otherwise). */
static bool iov_aligned(const FileState *s, const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (s->align - 1)) {
            return false;
        }
    }
    return true;
}

/* preadv/pwritev until every segment is done (short transfers resume where they stopped). */
static int rw_vec(int fd, uint64_t offset, const struct iovec *iov, int iovcnt, bool write)
{
    struct iovec *own = NULL; /* a copy once a segment must be cut */
    const struct iovec *v = iov;
    int ret = 0;
    while (iovcnt > 0) {
        int cnt = MIN(iovcnt, IOV_MAX);
        ssize_t n = write ? pwritev(fd, v, cnt, offset) : preadv(fd, v, cnt, offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            ret = -errno;
            break;
        }
        if (n == 0) {
            if (write) {
                ret = -EIO;
            } else {
                /* Past the end of the file reads as zeroes, as upstream's raw files do. */
                for (int i = 0; i < iovcnt; i++) {
                    memset(v[i].iov_base, 0, v[i].iov_len);
                }
            }
            break;
        }
        offset += n;
        while (iovcnt > 0 && (size_t)n >= v->iov_len) {
            n -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (n) {
            if (!own) {
                own = g_memdup2(v, iovcnt * sizeof(*v));
                v = own;
            }
            own[v - own].iov_base = (char *)v->iov_base + n;
            own[v - own].iov_len -= n;
        }
    }
    g_free(own);
    return ret;
}

static int file_preadv(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    FileState *s = bs->opaque;
    size_t bytes = iov_size(iov, iovcnt);
    bool bounce;
    int fd = pick_fd(s, offset, bytes, NULL, &bounce);
    if (fd == s->fd && s->fd_buffered >= 0 && !iov_aligned(s, iov, iovcnt)) {
        void *buf;
        if (posix_memalign(&buf, s->align, MAX(bytes, 1))) {
            return -ENOMEM;
        }
        int ret = file_pread(bs, offset, bytes, buf);
        if (ret == 0) {
            iov_from_buf(iov, iovcnt, 0, buf, bytes);
        }
        free(buf);
        return ret;
    }
    return rw_vec(fd, offset, iov, iovcnt, false);
}

/*
 * RWF_NOWAIT: the kernel copies from its page cache and returns EAGAIN rather than start a
 * read from the disk. Only whole requests count: a short one is done again on a worker. An
 * O_DIRECT descriptor always goes to the disk, so it is never tried.
 */
static int file_preadv_nowait(BlockDriverState *bs, uint64_t offset, const struct iovec *iov,
                              int iovcnt)
{
    FileState *s = bs->opaque;
    if (bs->cache_direct || iovcnt <= 0 || iovcnt > IOV_MAX) {
        return -EAGAIN;
    }
    ssize_t n = preadv2(s->fd, iov, iovcnt, offset, RWF_NOWAIT);
    return n >= 0 && (size_t)n == iov_size(iov, iovcnt) ? 0 : -EAGAIN;
}

static int file_pwritev(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt,
                        int flags)
{
    FileState *s = bs->opaque;
    size_t bytes = iov_size(iov, iovcnt);
    bool bounce;
    int fd = pick_fd(s, offset, bytes, NULL, &bounce);
    int ret;
    if (fd == s->fd && s->fd_buffered >= 0 && !iov_aligned(s, iov, iovcnt)) {
        void *buf;
        if (posix_memalign(&buf, s->align, MAX(bytes, 1))) {
            return -ENOMEM;
        }
        iov_to_buf(iov, iovcnt, 0, buf, bytes);
        ret = file_pwrite(bs, offset, bytes, buf, flags);
        free(buf);
        return ret;
    }
    ret = rw_vec(fd, offset, iov, iovcnt, true);
    note_written(s, offset + bytes, ret);
    if (ret == 0 && (flags & BDRV_REQ_FUA) && fdatasync(s->fd) < 0) {
        ret = -errno;
    }
    return ret;
}

static int file_flush(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    return fdatasync(s->fd) < 0 ? -errno : 0;
}

static int file_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    FileState *s = bs->opaque;
    if (s->is_blockdev) {
        uint64_t range[2] = {offset, bytes};
        ioctl(s->fd, BLKDISCARD, range); /* discard is advisory: a refusal is no error */
        return 0;
    }
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, bytes) < 0 &&
        errno != EOPNOTSUPP) {
        return -errno;
    }
    return 0;
}

static int file_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    FileState *s = bs->opaque;
    if (s->is_blockdev) {
        return -ENOTSUP;
    }
    if (fallocate(s->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, bytes) == 0) {
        return 0;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) &&
        fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, bytes) == 0) {
        return 0;
    }
    return -ENOTSUP;
}

static int64_t file_getlength(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    if (s->is_blockdev) {
        off_t end = lseek(s->fd, 0, SEEK_END);
        return end < 0 ? -errno : end;
    }
    return __atomic_load_n(&s->length, __ATOMIC_RELAXED);
}

static int file_truncate(BlockDriverState *bs, uint64_t size)
{
    FileState *s = bs->opaque;
    if (s->is_blockdev) {
        return -ENOTSUP;
    }
    if (ftruncate(s->fd, (off_t)size) < 0) {
        return -errno;
    }
    __atomic_store_n(&s->length, (int64_t)size, __ATOMIC_RELAXED);
    return 0;
}

static int64_t file_allocated_size(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

static const char *file_filename(BlockDriverState *bs)
{
    FileState *s = bs->opaque;
    return s->filename;
}

const BlockDriver bdrv_file = {
    .format_name = "file",
    .kind = BLOCK_DRIVER_PROTOCOL,
    .options = file_options,
    .state_size = sizeof(FileState),
    .open = file_open,
    .close = file_close,
    .pread = file_pread,
    .pwrite = file_pwrite,
    .preadv = file_preadv,
    .preadv_nowait = file_preadv_nowait,
    .pwritev = file_pwritev,
    .flush = file_flush,
    .discard = file_discard,
    .write_zeroes = file_write_zeroes,
    .getlength = file_getlength,
    .truncate = file_truncate,
    .allocated_size = file_allocated_size,
    .set_perm = file_set_perm,
    .reopen = file_reopen,
    .filename = file_filename,
};
