/*
 * The virtio-blk request parser and device, from guest-controlled bytes.
 *
 * Part 1: virtio_blk_plan / virtio_blk_plan_segment on a header, chain sizes and a capacity
 * taken from the input; a request they let through must lie inside the disk, be whole sectors
 * and no bigger than the device takes.
 * Part 2: the whole input is guest RAM of a virtio-blk device on a small raw image, whose queue
 * the "driver" placed at fixed addresses; it is kicked and drained. Whatever the descriptors
 * say, the device must not touch memory outside RAM or the image, nor crash or hang.
 */
#include "block/block-backend.h"
#include "hw/virtio/virtio-blk.h"
#include "tests/include/flat-ram.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE  0x4000
#define DISK_SIZE 0x10000

static uint8_t ram[RAM_SIZE];
static FlatRam flat = {.base = ram, .size = RAM_SIZE};
static const DmaSpace dma = {.read = flat_ram_read, .write = flat_ram_write, .opaque = &flat};
static BlockBackend *blk;

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static void check_plan(const uint8_t *data, size_t size)
{
    if (size < 16 + 16 + 8 * 3 + 1) {
        return;
    }
    uint64_t out_total = le64(data + 32) & 0xffffffffffull;
    uint64_t in_total = le64(data + 40) & 0xffffffffffull;
    uint64_t capacity = le64(data + 48);
    bool ro = data[56] & 1;
    VirtIOBlkPlan p;
    if (!virtio_blk_plan(data, out_total, in_total, capacity, ro, &p)) {
        if (out_total >= 16 && in_total >= 1) {
            __builtin_trap();
        }
        return;
    }
    if (p.status == VIRTIO_BLK_S_OK && (p.type == VIRTIO_BLK_T_IN || p.type == VIRTIO_BLK_T_OUT)) {
        if (p.len % 512 || p.offset > capacity || p.len > capacity - p.offset ||
            p.len > VIRTIO_BLK_MAX_REQUEST || (ro && p.type == VIRTIO_BLK_T_OUT)) {
            __builtin_trap();
        }
    }
    if (p.type == VIRTIO_BLK_T_DISCARD || p.type == VIRTIO_BLK_T_WRITE_ZEROES) {
        int flags;
        virtio_blk_plan_segment(data + 16, capacity, ro, &p, &flags);
        if (p.status == VIRTIO_BLK_S_OK &&
            (p.offset > capacity || p.len > capacity - p.offset || ro)) {
            __builtin_trap();
        }
    }
}

static void setup_backend(void)
{
    char path[] = "/tmp/fuzz-virtio-blk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0) {
        abort();
    }
    close(fd);
    block_register_types();
    GHashTable *o = bdrv_opts_new();
    g_hash_table_insert(o, g_strdup("driver"), g_strdup("raw"));
    g_hash_table_insert(o, g_strdup("file.driver"), g_strdup("file"));
    g_hash_table_insert(o, g_strdup("file.filename"), g_strdup(path));
    BlockDriverState *bs = bdrv_open_opts(o, NULL, NULL);
    g_hash_table_unref(o);
    unlink(path); /* the descriptor keeps it */
    if (!bs) {
        abort();
    }
    blk = blk_new("fuzz0", NULL);
    if (!blk_insert_bs(blk, bs, 0, BLK_PERM_ALL, NULL)) {
        abort();
    }
    bdrv_unref(bs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_plan(data, size);
    if (!blk) {
        setup_backend();
    }
    memset(ram, 0, sizeof(ram));
    memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
    VirtIOBlock *dev = virtio_blk_new(&dma, blk, "fuzz", NULL);
    if (!dev) {
        abort();
    }
    VirtIODevice *vdev = virtio_blk_vdev(dev);
    virtio_set_guest_features(vdev, vdev->host_features);
    VirtQueue *vq = &vdev->vq[0];
    vq->size = 1u << (ram[RAM_SIZE - 1] % 5 + 1); /* 2..32 */
    vq->desc = 0x0000;
    vq->avail = 0x1000;
    vq->used = 0x2000;
    vq->enabled = true;
    virtio_set_status(vdev, 0x0f);
    for (int kick = 0; kick < 3 && !vdev->broken; kick++) {
        virtio_queue_notify(vdev, 0);
        virtio_blk_drain(dev);
    }
    virtio_blk_free(dev);
    return 0;
}
