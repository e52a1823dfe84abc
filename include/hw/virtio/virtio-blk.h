/*
 * virtio-blk (virtio 1.x 5.2): one request queue; every request is a chain
 *
 *   out: header {type le32, ioprio le32, sector le64} [data to write | discard segments]
 *   in:  [data read | id string] status u8 (the chain's last writable byte)
 *
 * Types: IN 0, OUT 1, FLUSH 4, GET_ID 8, DISCARD 11, WRITE_ZEROES 13; segments for the last
 * two are {sector le64, num_sectors le32, flags le32 (bit 0: unmap)}, one per request.
 * Status: OK 0, IOERR 1, UNSUPP 2. A chain without room for the header and the status byte is
 * a broken driver: the device needs reset.
 *
 *   vCPU: queue kick ─► pop chain ─► plan (virtio_blk_plan) ─► copy write data out of guest
 *         RAM ─► blk_aio_*(...) ─► returns at once
 *   main loop: completion ─► read data into guest RAM through the DMA store path (dirty
 *         tracking) ─► status byte ─► used ring ─► interrupt
 *
 * Requests still in flight are drained (blk_drain) before a reset and before the device's
 * state is saved, so a saved device never has requests in flight.
 */
#ifndef HW_VIRTIO_VIRTIO_BLK_H
#define HW_VIRTIO_VIRTIO_BLK_H

#include "block/block-backend.h"
#include "hw/virtio/virtio.h"

#define VIRTIO_ID_BLOCK 2

#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_BARRIER      0x80000000u /* legacy flag, ignored */

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_HDR_LEN    16
#define VIRTIO_BLK_SEG_LEN    16
#define VIRTIO_BLK_ID_BYTES   20
#define VIRTIO_BLK_CONFIG_LEN 60
#define VIRTIO_BLK_QUEUE_SIZE 256
/* The largest request taken: bigger ones fail with IOERR instead of a huge host buffer. */
#define VIRTIO_BLK_MAX_REQUEST (64u << 20)
/* Discard / write-zeroes limits offered (sectors), upstream's defaults. */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS 4194303u

/* What one request asks for, decided from its header and its chain's sizes alone. */
typedef struct VirtIOBlkPlan {
    uint32_t type;   /* barrier flag removed */
    uint64_t offset; /* bytes, IN/OUT */
    uint64_t len;    /* data bytes: IN read into the in part, OUT taken from the out part,
                      * GET_ID the id bytes written */
    uint8_t status;  /* not OK: complete at once with it, no I/O */
} VirtIOBlkPlan;

/*
 * Plans a request: false if the chain is malformed (no 16-byte header or no status byte).
 * capacity in bytes.
 */
bool virtio_blk_plan(const uint8_t hdr[VIRTIO_BLK_HDR_LEN], uint64_t out_total, uint64_t in_total,
                     uint64_t capacity, bool read_only, VirtIOBlkPlan *plan);
/* A discard / write-zeroes segment: its byte range and flags into plan (plan->type set),
 * status not OK when refused. */
void virtio_blk_plan_segment(const uint8_t seg[VIRTIO_BLK_SEG_LEN], uint64_t capacity,
                             bool read_only, VirtIOBlkPlan *plan, int *bdrv_flags);

typedef struct VirtIOBlock VirtIOBlock;

typedef struct VirtIOBlkStats {
    uint64_t requests, completed, errors, unsupported;
    uint64_t inline_reads; /* completed within their notification (blk_preadv_nowait) */
} VirtIOBlkStats;

/* serial: the GET_ID string (NULL: empty). The device takes the backend's permissions. */
VirtIOBlock *virtio_blk_new(const DmaSpace *dma, BlockBackend *blk, const char *serial,
                            GError **errp);
void virtio_blk_free(VirtIOBlock *s);
VirtIODevice *virtio_blk_vdev(VirtIOBlock *s);
BlockBackend *virtio_blk_backend(VirtIOBlock *s);
VirtIOBlkStats virtio_blk_stats(VirtIOBlock *s);
/* Waits for every request in flight to complete into the guest's rings. */
void virtio_blk_drain(VirtIOBlock *s);

extern const VMStateDescription vmstate_virtio_blk;

#endif
