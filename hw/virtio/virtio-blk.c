/* virtio-blk (include/hw/virtio/virtio-blk.h). */
#include "hw/virtio/virtio-blk.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

struct VirtIOBlock {
    VirtIODevice vdev;
    BlockBackend *blk;
    char *serial;
    bool read_only;
    uint64_t capacity; /* bytes, fixed at creation (no resize yet) */
    bool wce;          /* the write cache mode, for the state table (pre_save, post_load) */
    VirtIOBlkStats stats;
};

typedef struct VirtIOBlkReq {
    VirtIOBlock *s;
    VirtQueue *vq;
    VirtIOBlkPlan plan;
    uint8_t *buf; /* a bounce buffer, when the data could not be mapped */
    bool mapped;  /* the data went straight between the file and guest RAM */
    VirtQueueElement elem;
} VirtIOBlkReq;

static VirtIOBlock *to_blk(VirtIODevice *vdev)
{
    return (VirtIOBlock *)vdev;
}

static uint32_t ld32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* A sector range inside the disk, in bytes; false if it is not. */
static bool range_ok(uint64_t sector, uint64_t bytes, uint64_t capacity)
{
    if (sector > capacity / BDRV_SECTOR_SIZE) {
        return false;
    }
    uint64_t offset = sector * BDRV_SECTOR_SIZE;
    return bytes <= capacity - offset;
}

bool virtio_blk_plan(const uint8_t hdr[VIRTIO_BLK_HDR_LEN], uint64_t out_total, uint64_t in_total,
                     uint64_t capacity, bool read_only, VirtIOBlkPlan *plan)
{
    memset(plan, 0, sizeof(*plan));
    if (out_total < VIRTIO_BLK_HDR_LEN || in_total < 1) {
        return false;
    }
    plan->type = ld32(hdr) & ~VIRTIO_BLK_T_BARRIER;
    uint64_t sector = ld64(hdr + 8);
    plan->status = VIRTIO_BLK_S_OK;
    switch (plan->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        plan->len = plan->type == VIRTIO_BLK_T_IN ? in_total - 1 : out_total - VIRTIO_BLK_HDR_LEN;
        plan->offset = sector * BDRV_SECTOR_SIZE;
        if (plan->len % BDRV_SECTOR_SIZE || !range_ok(sector, plan->len, capacity) ||
            plan->len > VIRTIO_BLK_MAX_REQUEST || (plan->type == VIRTIO_BLK_T_OUT && read_only)) {
            plan->status = VIRTIO_BLK_S_IOERR;
        }
        break;
    case VIRTIO_BLK_T_FLUSH:
        break;
    case VIRTIO_BLK_T_GET_ID:
        plan->len = MIN(in_total - 1, VIRTIO_BLK_ID_BYTES);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        /* One segment per request, as the configuration space says (max_*_seg = 1). */
        if (out_total - VIRTIO_BLK_HDR_LEN != VIRTIO_BLK_SEG_LEN) {
            plan->status = VIRTIO_BLK_S_UNSUPP;
        }
        break;
    default:
        plan->status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    return true;
}

void virtio_blk_plan_segment(const uint8_t seg[VIRTIO_BLK_SEG_LEN], uint64_t capacity,
                             bool read_only, VirtIOBlkPlan *plan, int *bdrv_flags)
{
    uint64_t sector = ld64(seg);
    uint64_t bytes = (uint64_t)ld32(seg + 8) * BDRV_SECTOR_SIZE;
    uint32_t flags = ld32(seg + 12);
    *bdrv_flags = 0;
    plan->offset = sector * BDRV_SECTOR_SIZE;
    plan->len = bytes;
    if (plan->type == VIRTIO_BLK_T_DISCARD ? flags != 0 : (flags & ~1u) != 0) {
        plan->status = VIRTIO_BLK_S_UNSUPP;
    } else if (bytes / BDRV_SECTOR_SIZE > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
               !range_ok(sector, bytes, capacity) || read_only) {
        plan->status = VIRTIO_BLK_S_IOERR;
    } else if (plan->type == VIRTIO_BLK_T_WRITE_ZEROES && (flags & 1)) {
        *bdrv_flags = BDRV_REQ_MAY_UNMAP;
    }
}

/* --- requests ------------------------------------------------------------------------ */

/* Status byte, used ring, interrupt; written bytes counts the data put in the in part. */
static void complete(VirtIOBlkReq *req, uint8_t status, uint64_t written)
{
    VirtIOBlock *s = req->s;
    VirtIODevice *vdev = &s->vdev;
    s->stats.completed++;
    if (status == VIRTIO_BLK_S_IOERR) {
        s->stats.errors++;
    } else if (status == VIRTIO_BLK_S_UNSUPP) {
        s->stats.unsupported++;
    }
    /* A device reset or broken meanwhile: the chain is no longer the driver's to get back. */
    if (!vdev->broken && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
        virtqueue_write_in(req->vq, &req->elem, req->elem.in_total - 1, &status, 1) == 1) {
        virtqueue_push(req->vq, &req->elem, written + 1);
        virtqueue_notify(req->vq);
    }
    g_free(req->buf);
    g_free(req);
}

static void rw_done(void *opaque, int ret)
{
    VirtIOBlkReq *req = opaque;
    uint64_t written = 0;
    uint8_t status = ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    if (req->mapped && req->plan.type == VIRTIO_BLK_T_IN) {
        /* preadv stored into guest RAM (maybe partly, on an error): mark all of it dirty. */
        virtqueue_written_in(req->vq, &req->elem, 0, req->plan.len);
        written = ret == 0 ? req->plan.len : 0;
    } else if (ret == 0 && req->plan.type == VIRTIO_BLK_T_IN) {
        /* Into guest RAM through the DMA store path: the pages get marked dirty. */
        if (virtqueue_write_in(req->vq, &req->elem, 0, req->buf, req->plan.len) < 0) {
            g_free(req->buf);
            g_free(req);
            return; /* device broken */
        }
        written = req->plan.len;
    }
    complete(req, status, written);
}

static void start_request(VirtIOBlock *s, VirtIOBlkReq *req)
{
    uint8_t hdr[VIRTIO_BLK_HDR_LEN];
    VirtQueueElement *e = &req->elem;
    uint64_t capacity = s->capacity;
    if (e->out_total < VIRTIO_BLK_HDR_LEN ||
        virtqueue_read_out(req->vq, e, 0, hdr, sizeof(hdr)) != sizeof(hdr) ||
        !virtio_blk_plan(hdr, e->out_total, e->in_total, capacity, s->read_only, &req->plan)) {
        virtio_error(&s->vdev, "virtio-blk missing headers");
        g_free(req);
        return;
    }
    VirtIOBlkPlan *p = &req->plan;
    if (p->status != VIRTIO_BLK_S_OK) {
        complete(req, p->status, 0);
        return;
    }
    struct iovec iov[VIRTQUEUE_MAX_SG];
    int iovcnt;
    switch (p->type) {
    case VIRTIO_BLK_T_IN:
        iovcnt = virtqueue_map(req->vq, e, true, 0, p->len, iov, VIRTQUEUE_MAX_SG);
        if (iovcnt >= 0) {
            req->mapped = true;
            /* From the host's page cache at once, if it is there: the guest's interrupt comes
             * with its notification's return instead of after two thread hand-offs. */
            if (blk_preadv_nowait(s->blk, p->offset, iov, iovcnt) == 0) {
                s->stats.inline_reads++;
                rw_done(req, 0);
                return;
            }
            blk_aio_preadv(s->blk, p->offset, iov, iovcnt, rw_done, req);
            return;
        }
        req->buf = g_try_malloc(MAX(p->len, 1));
        if (!req->buf) {
            complete(req, VIRTIO_BLK_S_IOERR, 0);
            return;
        }
        blk_aio_pread(s->blk, p->offset, p->len, req->buf, rw_done, req);
        return;
    case VIRTIO_BLK_T_OUT:
        iovcnt =
            virtqueue_map(req->vq, e, false, VIRTIO_BLK_HDR_LEN, p->len, iov, VIRTQUEUE_MAX_SG);
        if (iovcnt >= 0) {
            req->mapped = true;
            blk_aio_pwritev(s->blk, p->offset, iov, iovcnt, 0, rw_done, req);
            return;
        }
        req->buf = g_try_malloc(MAX(p->len, 1));
        if (!req->buf) {
            complete(req, VIRTIO_BLK_S_IOERR, 0);
            return;
        }
        if (virtqueue_read_out(req->vq, e, VIRTIO_BLK_HDR_LEN, req->buf, p->len) < 0) {
            g_free(req->buf);
            g_free(req);
            return; /* device broken */
        }
        blk_aio_pwrite(s->blk, p->offset, p->len, req->buf, 0, rw_done, req);
        return;
    case VIRTIO_BLK_T_FLUSH:
        blk_aio_flush(s->blk, rw_done, req);
        return;
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = {0};
        if (s->serial) {
            memcpy(id, s->serial, MIN(strlen(s->serial), sizeof(id))); /* no NUL when 20 long */
        }
        if (virtqueue_write_in(req->vq, e, 0, id, p->len) < 0) {
            g_free(req);
            return;
        }
        complete(req, VIRTIO_BLK_S_OK, p->len);
        return;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        uint8_t seg[VIRTIO_BLK_SEG_LEN];
        int flags;
        if (virtqueue_read_out(req->vq, e, VIRTIO_BLK_HDR_LEN, seg, sizeof(seg)) < 0) {
            g_free(req);
            return;
        }
        virtio_blk_plan_segment(seg, capacity, s->read_only, p, &flags);
        if (p->status != VIRTIO_BLK_S_OK) {
            complete(req, p->status, 0);
        } else if (p->type == VIRTIO_BLK_T_DISCARD) {
            blk_aio_discard(s->blk, p->offset, p->len, rw_done, req);
        } else {
            blk_aio_write_zeroes(s->blk, p->offset, p->len, flags, rw_done, req);
        }
        return;
    }
    default:
        complete(req, VIRTIO_BLK_S_UNSUPP, 0);
        return;
    }
}

static void handle_requests(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBlock *s = to_blk(vdev);
    for (;;) {
        VirtIOBlkReq *req = g_new(VirtIOBlkReq, 1);
        req->s = s;
        req->vq = vq;
        req->buf = NULL;
        req->mapped = false;
        if (!virtqueue_pop(vq, &req->elem)) {
            g_free(req);
            return;
        }
        s->stats.requests++;
        start_request(s, req);
        if (vdev->broken) {
            return;
        }
    }
}

/* --- configuration ---------------------------------------------------------------------- */

static void st16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void st32(uint8_t *p, uint32_t v)
{
    st16(p, v);
    st16(p + 2, v >> 16);
}

static uint32_t blk_config_read(VirtIODevice *vdev, uint32_t off, int size)
{
    VirtIOBlock *s = to_blk(vdev);
    uint8_t cfg[VIRTIO_BLK_CONFIG_LEN] = {0};
    uint64_t capacity = s->capacity / BDRV_SECTOR_SIZE;
    st32(cfg, capacity);
    st32(cfg + 4, capacity >> 32);
    st32(cfg + 12, VIRTIO_BLK_QUEUE_SIZE - 2); /* seg_max */
    st32(cfg + 20, BDRV_SECTOR_SIZE);          /* blk_size */
    cfg[32] = blk_enable_write_cache(s->blk);  /* writeback */
    st16(cfg + 34, 1);                         /* num_queues */
    st32(cfg + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    st32(cfg + 40, 1); /* max_discard_seg */
    st32(cfg + 44, 1); /* discard_sector_alignment */
    st32(cfg + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    st32(cfg + 52, 1); /* max_write_zeroes_seg */
    cfg[56] = 1;       /* write_zeroes_may_unmap */
    uint32_t v = 0;
    for (int i = 0; i < size; i++) {
        if (off + i < sizeof(cfg)) {
            v |= (uint32_t)cfg[off + i] << (8 * i);
        }
    }
    return v;
}

static void blk_config_write(VirtIODevice *vdev, uint32_t off, uint32_t val, int size)
{
    VirtIOBlock *s = to_blk(vdev);
    /* Only the writeback byte is the driver's to change, and only with CONFIG_WCE. */
    if (off == 32 && size == 1 && virtio_has_feature(vdev, VIRTIO_BLK_F_CONFIG_WCE)) {
        blk_drain(s->blk); /* requests already taken keep the mode they were taken with */
        blk_set_enable_write_cache(s->blk, val & 1);
    }
}

static uint64_t blk_get_features(VirtIODevice *vdev)
{
    return vdev->host_features;
}

static void blk_reset(VirtIODevice *vdev)
{
    /* Completions must not reach the rings of a driver that starts over. virtio_reset has
     * cleared the status, so completions of drained requests are dropped. */
    blk_drain(to_blk(vdev)->blk);
}

static const VirtIODeviceOps blk_ops = {
    .get_features = blk_get_features,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .reset = blk_reset,
};

VirtIOBlock *virtio_blk_new(const DmaSpace *dma, BlockBackend *blk, const char *serial,
                            GError **errp)
{
    bool read_only = blk_is_read_only(blk);
    uint64_t perm = BLK_PERM_CONSISTENT_READ | (read_only ? 0 : BLK_PERM_WRITE);
    /* share-rw=off, as upstream's default: nobody else writes under the guest. */
    if (!blk_set_perm(blk, perm, BLK_PERM_ALL & ~BLK_PERM_WRITE, errp)) {
        return NULL;
    }
    VirtIOBlock *s = g_new0(VirtIOBlock, 1);
    virtio_init(&s->vdev, "virtio-blk", VIRTIO_ID_BLOCK, &blk_ops, dma, 1);
    s->vdev.host_features |= (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                             (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_TOPOLOGY) |
                             (1ull << VIRTIO_BLK_F_CONFIG_WCE) | (1ull << VIRTIO_BLK_F_DISCARD) |
                             (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    if (read_only) {
        s->vdev.host_features |= 1ull << VIRTIO_BLK_F_RO;
    }
    virtio_add_queue(&s->vdev, 0, VIRTIO_BLK_QUEUE_SIZE, handle_requests);
    s->blk = blk;
    s->read_only = read_only;
    s->capacity = MAX(blk_getlength(blk), 0);
    s->serial = g_strdup(serial);
    return s;
}

void virtio_blk_free(VirtIOBlock *s)
{
    if (!s) {
        return;
    }
    blk_drain(s->blk);
    blk_set_perm(s->blk, 0, BLK_PERM_ALL, NULL);
    virtio_cleanup(&s->vdev);
    g_free(s->serial);
    g_free(s);
}

VirtIODevice *virtio_blk_vdev(VirtIOBlock *s)
{
    return &s->vdev;
}

BlockBackend *virtio_blk_backend(VirtIOBlock *s)
{
    return s->blk;
}

VirtIOBlkStats virtio_blk_stats(VirtIOBlock *s)
{
    return s->stats;
}

void virtio_blk_drain(VirtIOBlock *s)
{
    blk_drain(s->blk);
}

/* --- state ---------------------------------------------------------------------------- */

/* Saved drained: every request taken has completed into the rings, so the queue indexes are
 * the whole story (as for virtio-net). */
static void blk_pre_save(void *opaque)
{
    VirtIOBlock *s = opaque;
    virtio_blk_drain(s);
    s->wce = blk_enable_write_cache(s->blk);
}

/* The driver may have turned the write cache off through the config space. */
static void blk_post_load(void *opaque, int version)
{
    VirtIOBlock *s = opaque;
    virtio_device_post_load(&s->vdev);
    blk_set_enable_write_cache(s->blk, s->wce);
}

static bool blk_state_check(const void *scratch, const void *live, int version, GError **errp)
{
    const VirtIOBlock *l = scratch, *d = live;
    return virtio_device_check(&l->vdev, &d->vdev, errp);
}

const VMStateDescription vmstate_virtio_blk = {
    .name = "virtio-blk",
    .version = 1,
    .size = sizeof(VirtIOBlock),
    .pre_save = blk_pre_save,
    .check = blk_state_check,
    .post_load = blk_post_load,
    .fields =
        (const VMStateField[]){
            VMSTATE_STRUCT(VirtIOBlock, vdev, VirtIODevice, vmstate_virtio_device), VMSTATE_END},
};
