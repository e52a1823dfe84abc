/*
 * virtio-blk: request planning from headers alone, then the device over a fake guest RAM and a
 * real raw image, requests completing on the main context as Linux's driver posts them.
 */
#include "block/block-backend.h"
#include "hw/virtio/virtio-blk.h"
#include "tests/include/flat-ram.h"
#include "tests/include/test-image.h"
#include "tests/include/virtio-driver.h"
#include "tests/include/vring.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE  (1 << 20)
#define QSZ       16
#define Q_BASE    0x1000
#define HDR_ADDR  0x8000
#define DATA_ADDR 0x10000
#define STAT_ADDR 0x9000
#define DISK_SIZE (1 << 20)
#define MAP_LIMIT (RAM_SIZE / 2) /* the mapping DmaSpace maps no higher: like MMIO */

/* --- planning --------------------------------------------------------------------------- */

static void hdr(uint8_t h[16], uint32_t type, uint64_t sector)
{
    memset(h, 0, 16);
    for (int i = 0; i < 4; i++) {
        h[i] = type >> (8 * i);
    }
    for (int i = 0; i < 8; i++) {
        h[8 + i] = sector >> (8 * i);
    }
}

static void test_plan(void)
{
    uint8_t h[16];
    VirtIOBlkPlan p;
    const uint64_t cap = DISK_SIZE;

    hdr(h, VIRTIO_BLK_T_IN, 2);
    g_assert_true(virtio_blk_plan(h, 16, 4097, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(p.offset, ==, 1024);
    g_assert_cmpuint(p.len, ==, 4096);

    hdr(h, VIRTIO_BLK_T_OUT | VIRTIO_BLK_T_BARRIER, 0);
    g_assert_true(virtio_blk_plan(h, 16 + 512, 1, cap, false, &p));
    g_assert_cmpuint(p.type, ==, VIRTIO_BLK_T_OUT);
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(p.len, ==, 512);
    /* Read-only disk, unaligned length, past the end, sector overflowing 64 bits. */
    g_assert_true(virtio_blk_plan(h, 16 + 512, 1, cap, true, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_true(virtio_blk_plan(h, 16 + 100, 1, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_IOERR);
    hdr(h, VIRTIO_BLK_T_IN, cap / 512 - 1);
    g_assert_true(virtio_blk_plan(h, 16, 1025, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_true(virtio_blk_plan(h, 16, 513, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_OK);
    hdr(h, VIRTIO_BLK_T_IN, UINT64_MAX / 256);
    g_assert_true(virtio_blk_plan(h, 16, 513, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_IOERR);

    hdr(h, VIRTIO_BLK_T_GET_ID, 0);
    g_assert_true(virtio_blk_plan(h, 16, 100, cap, false, &p));
    g_assert_cmpuint(p.len, ==, VIRTIO_BLK_ID_BYTES);
    hdr(h, VIRTIO_BLK_T_DISCARD, 0);
    g_assert_true(virtio_blk_plan(h, 16 + 32, 1, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_UNSUPP); /* two segments */
    hdr(h, 99, 0);
    g_assert_true(virtio_blk_plan(h, 16, 1, cap, false, &p));
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_UNSUPP);

    /* Malformed chains: no header, no status byte. */
    g_assert_false(virtio_blk_plan(h, 15, 1, cap, false, &p));
    g_assert_false(virtio_blk_plan(h, 16, 0, cap, false, &p));

    /* Segments. */
    uint8_t seg[16] = {0};
    int flags;
    seg[0] = 8;  /* sector 8 */
    seg[8] = 16; /* 16 sectors */
    p = (VirtIOBlkPlan){.type = VIRTIO_BLK_T_WRITE_ZEROES, .status = VIRTIO_BLK_S_OK};
    seg[12] = 1; /* unmap */
    virtio_blk_plan_segment(seg, cap, false, &p, &flags);
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(p.offset, ==, 4096);
    g_assert_cmpuint(p.len, ==, 8192);
    g_assert_cmpint(flags, ==, BDRV_REQ_MAY_UNMAP);
    p = (VirtIOBlkPlan){.type = VIRTIO_BLK_T_DISCARD, .status = VIRTIO_BLK_S_OK};
    virtio_blk_plan_segment(seg, cap, false, &p, &flags);
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_UNSUPP); /* discard takes no flags */
    seg[12] = 0;
    p = (VirtIOBlkPlan){.type = VIRTIO_BLK_T_DISCARD, .status = VIRTIO_BLK_S_OK};
    virtio_blk_plan_segment(seg, 4096, false, &p, &flags);
    g_assert_cmpuint(p.status, ==, VIRTIO_BLK_S_IOERR); /* past a 4 KiB disk */
}

/* --- the device ------------------------------------------------------------------------- */

typedef struct Fixture {
    uint8_t *ram;
    FlatRam flat;
    DmaSpace dma;
    uint64_t dma_written; /* bytes the device wrote into guest RAM (copied or marked) */
    uint64_t dma_copied;  /* of which copied through the DmaSpace's write */
    bool mapping;         /* the DmaSpace maps RAM (below MAP_LIMIT) for direct preadv */
    GByteArray *marked;   /* pages the device said it wrote through a mapping, one byte each */
    TestImage img;
    BlockBackend *blk;
    VirtIOBlock *dev;
    uint16_t avail;
    int interrupts;
} Fixture;

static bool counting_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    Fixture *f = opaque;
    f->dma_written += len;
    f->dma_copied += len;
    return flat_ram_write(&f->flat, gpa, buf, len);
}

static void *counting_map(void *opaque, uint64_t gpa, uint64_t len)
{
    Fixture *f = opaque;
    return gpa < MAP_LIMIT && len <= MAP_LIMIT - gpa ? f->ram + gpa : NULL;
}

static void counting_marked(void *opaque, uint64_t gpa, uint64_t len)
{
    Fixture *f = opaque;
    g_assert_cmpuint(gpa + len, <=, MAP_LIMIT);
    f->dma_written += len;
    for (uint64_t pg = gpa / 4096; pg <= (gpa + len - 1) / 4096; pg++) {
        f->marked->data[pg] = 1;
    }
}

/* Whether every page of [gpa, gpa+len) was marked written. */
static bool all_marked(Fixture *f, uint64_t gpa, uint64_t len)
{
    bool all = true;
    for (uint64_t pg = gpa / 4096; pg <= (gpa + len - 1) / 4096; pg++) {
        all = all && f->marked->data[pg];
    }
    return all;
}

static bool counting_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    Fixture *f = opaque;
    return flat_ram_read(&f->flat, gpa, buf, len);
}

static void notify_cb(void *opaque, bool config)
{
    ((Fixture *)opaque)->interrupts++;
}

static void make_device(Fixture *f)
{
    GError *err = NULL;
    f->dev = virtio_blk_new(&f->dma, f->blk, "qc-serial-123", &err);
    g_assert_no_error(err);
    VirtIODevice *vdev = virtio_blk_vdev(f->dev);
    vdev->notify = notify_cb;
    vdev->notify_opaque = f;
    /* What Linux's driver leaves behind after probing. */
    virtio_driver_ready(vdev, vdev->host_features, 0, QSZ, Q_BASE, Q_BASE + 0x100, Q_BASE + 0x200);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    f->flat = (FlatRam){.base = f->ram, .size = RAM_SIZE};
    f->dma = (DmaSpace){.read = counting_read, .write = counting_write, .opaque = f};
    f->mapping = data && strcmp(data, "map") == 0;
    if (f->mapping) {
        f->dma.map = counting_map;
        f->dma.written = counting_marked;
    }
    f->marked = g_byte_array_new();
    g_byte_array_set_size(f->marked, RAM_SIZE / 4096);
    memset(f->marked->data, 0, f->marked->len);
    g_autofree uint8_t *img = g_malloc(DISK_SIZE);
    for (int i = 0; i < DISK_SIZE; i++) {
        img[i] = (i * 7) % 253;
    }
    test_image_open(&f->img, "drive0", img, DISK_SIZE, data && strcmp(data, "ro") == 0);
    f->blk = f->img.blk;
    make_device(f);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    virtio_blk_free(f->dev);
    test_image_close(&f->img);
    g_byte_array_unref(f->marked);
    g_free(f->ram);
}

static uint16_t used_idx(Fixture *f)
{
    return get_le16(f->ram, Q_BASE + 0x200 + 2);
}

/* Posts one chain: header (out), optional out data, optional in data, status (in). */
static void post(Fixture *f, uint32_t type, uint64_t sector, uint32_t out_len, uint32_t in_len)
{
    uint8_t h[16];
    hdr(h, type, sector);
    memcpy(f->ram + HDR_ADDR, h, 16);
    int n = 0;
    int head = 0;
    vring_set_desc(f->ram, Q_BASE, n, HDR_ADDR, 16, VRING_DESC_F_NEXT, n + 1);
    n++;
    if (out_len) {
        vring_set_desc(f->ram, Q_BASE, n, DATA_ADDR, out_len, VRING_DESC_F_NEXT, n + 1);
        n++;
    }
    if (in_len) {
        vring_set_desc(f->ram, Q_BASE, n, DATA_ADDR, in_len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                       n + 1);
        n++;
    }
    f->ram[STAT_ADDR] = 0xee;
    vring_set_desc(f->ram, Q_BASE, n, STAT_ADDR, 1, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, Q_BASE + 0x100 + 4 + 2 * (f->avail % QSZ), head);
    f->avail++;
    put_le16(f->ram, Q_BASE + 0x100 + 2, f->avail);
    virtio_queue_notify(virtio_blk_vdev(f->dev), 0);
}

/* Runs the main loop until the request completes; returns its status byte, *used_len. */
static uint8_t wait_request(Fixture *f, uint32_t *used_len)
{
    while (used_idx(f) != f->avail) {
        g_main_context_iteration(NULL, TRUE);
    }
    uint16_t slot = (f->avail - 1) % QSZ;
    if (used_len) {
        *used_len = get_le32(f->ram, Q_BASE + 0x200 + 4 + 8 * slot + 4);
    }
    return f->ram[STAT_ADDR];
}

static void test_read_write(Fixture *f, gconstpointer data)
{
    uint32_t len;
    f->dma_written = 0;
    post(f, VIRTIO_BLK_T_IN, 8, 0, 8192);
    if (f->mapping) {
        /* The image was just written, so its pages are in the host's cache: the read was
         * answered within the kick, with its interrupt. */
        g_assert_cmpuint(used_idx(f), ==, 1);
        g_assert_cmpuint(virtio_blk_stats(f->dev).inline_reads, ==, 1);
        g_assert_cmpint(f->interrupts, ==, 1);
    } else {
        /* The vCPU's kick returned before the disk answered: nothing written yet. */
        g_assert_cmpuint(used_idx(f), ==, 0);
    }
    g_assert_cmpuint(wait_request(f, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, 8193);
    for (int i = 0; i < 8192; i++) {
        g_assert_cmpuint(f->ram[DATA_ADDR + i], ==, ((4096 + i) * 7) % 253);
    }
    /* Every byte read reached RAM through the DMA path, plus the status and used ring. */
    g_assert_cmpuint(f->dma_written, >=, 8192 + 1);
    if (f->mapping) {
        /* Read straight into the mapped RAM, every page of it marked; no data copied. */
        g_assert_true(all_marked(f, DATA_ADDR, 8192));
        g_assert_cmpuint(f->dma_copied, <, 512);
    }
    g_assert_cmpint(f->interrupts, >=, 1);

    memset(f->ram + DATA_ADDR, 0x5a, 4096);
    post(f, VIRTIO_BLK_T_OUT, 100, 4096, 0);
    g_assert_cmpuint(wait_request(f, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, 1);
    post(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);
    g_autofree char *img = NULL;
    gsize size;
    g_assert_true(g_file_get_contents(f->img.path, &img, &size, NULL));
    for (int i = 0; i < 4096; i++) {
        g_assert_cmpuint((uint8_t)img[100 * 512 + i], ==, 0x5a);
    }

    post(f, VIRTIO_BLK_T_GET_ID, 0, 0, 20);
    g_assert_cmpuint(wait_request(f, &len), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(len, ==, 21);
    g_assert_cmpmem(f->ram + DATA_ADDR, 13, "qc-serial-123", 13);

    /* Write zeroes over 8 KiB from sector 16, then read them back as zeroes. */
    uint8_t seg[16] = {16, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0};
    memcpy(f->ram + DATA_ADDR, seg, sizeof(seg));
    post(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 0);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);
    memset(f->ram + DATA_ADDR, 0xff, 8192);
    post(f, VIRTIO_BLK_T_IN, 16, 0, 8192);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);
    for (int i = 0; i < 8192; i++) {
        g_assert_cmpuint(f->ram[DATA_ADDR + i], ==, 0);
    }
    memcpy(f->ram + DATA_ADDR, seg, sizeof(seg));
    f->ram[DATA_ADDR + 12] = 0;
    post(f, VIRTIO_BLK_T_DISCARD, 0, 16, 0);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);

    /* Refused requests complete with their status, the device keeps working. */
    post(f, 77, 0, 0, 0);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_UNSUPP);
    post(f, VIRTIO_BLK_T_IN, DISK_SIZE / 512, 0, 512);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_IOERR);
    VirtIOBlkStats st = virtio_blk_stats(f->dev);
    g_assert_cmpuint(st.requests, ==, 9);
    g_assert_cmpuint(st.completed, ==, 9);
    g_assert_cmpuint(st.unsupported, ==, 1);
    g_assert_cmpuint(st.errors, ==, 1);
    g_assert_false(virtio_blk_vdev(f->dev)->broken);

    /* Configuration space: capacity in sectors, writeback on. */
    VirtIODevice *vdev = virtio_blk_vdev(f->dev);
    g_assert_cmpuint(vdev->ops->config_read(vdev, 0, 4), ==, DISK_SIZE / 512);
    g_assert_cmpuint(vdev->ops->config_read(vdev, 20, 4), ==, 512);
    g_assert_cmpuint(vdev->ops->config_read(vdev, 32, 1), ==, 1);
    vdev->ops->config_write(vdev, 32, 0, 1);
    g_assert_false(blk_enable_write_cache(f->blk));
}

/* A read and a write whose data is cut into pieces that straddle pages, one of them above
 * MAP_LIMIT (which the mapping space will not map: the request copies instead). */
static void test_scattered(Fixture *f, gconstpointer data)
{
    static const uint64_t addr[] = {0x20f00, 0x30000, 0x48200, 0x70000};
    static const uint32_t len[] = {1536, 2560, 7680, 4608};
    const int n = G_N_ELEMENTS(addr);
    for (int high = 0; high < 2; high++) {
        /* addr[3] + high*MAP_LIMIT: above the limit in the second pass */
        uint64_t a[G_N_ELEMENTS(addr)];
        uint32_t total = 0;
        for (int i = 0; i < n; i++) {
            a[i] = addr[i] + (i == n - 1 && high ? MAP_LIMIT : 0);
            total += len[i];
        }
        for (int write = 0; write < 2; write++) {
            uint8_t h[16];
            hdr(h, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 24);
            memcpy(f->ram + HDR_ADDR, h, 16);
            vring_set_desc(f->ram, Q_BASE, 0, HDR_ADDR, 16, VRING_DESC_F_NEXT, 1);
            for (int i = 0; i < n; i++) {
                vring_set_desc(f->ram, Q_BASE, 1 + i, a[i], len[i],
                               (write ? 0 : VRING_DESC_F_WRITE) | VRING_DESC_F_NEXT, 2 + i);
                memset(f->ram + a[i], write ? 0x30 + i : 0xee, len[i]);
            }
            vring_set_desc(f->ram, Q_BASE, 1 + n, STAT_ADDR, 1, VRING_DESC_F_WRITE, 0);
            put_le16(f->ram, Q_BASE + 0x100 + 4 + 2 * (f->avail % QSZ), 0);
            f->avail++;
            put_le16(f->ram, Q_BASE + 0x100 + 2, f->avail);
            f->dma_copied = 0;
            virtio_queue_notify(virtio_blk_vdev(f->dev), 0);
            uint32_t used;
            g_assert_cmpuint(wait_request(f, &used), ==, VIRTIO_BLK_S_OK);
            g_assert_cmpuint(used, ==, write ? 1 : total + 1);
            g_autofree char *img = NULL;
            gsize size;
            g_assert_true(g_file_get_contents(f->img.path, &img, &size, NULL));
            uint64_t pos = 24 * 512;
            for (int i = 0; i < n; i++) {
                for (uint32_t j = 0; j < len[i]; j++, pos++) {
                    uint8_t want = write ? 0x30 + i : ((pos * 7) % 253);
                    g_assert_cmpuint(f->ram[a[i] + j], ==, want);
                    if (write) {
                        g_assert_cmpuint((uint8_t)img[pos], ==, want);
                    }
                }
            }
            if (!write && f->mapping && !high) {
                /* Exactly the data's pages marked (the status byte went through a copy). */
                g_autoptr(GByteArray) want = g_byte_array_new();
                g_byte_array_set_size(want, f->marked->len);
                memset(want->data, 0, want->len);
                for (int i = 0; i < n; i++) {
                    g_assert_true(all_marked(f, a[i], len[i]));
                    memset(want->data + a[i] / 4096, 1,
                           (a[i] + len[i] - 1) / 4096 - a[i] / 4096 + 1);
                }
                g_assert_cmpmem(f->marked->data, f->marked->len, want->data, want->len);
            }
            memset(f->marked->data, 0, f->marked->len);
            /* Mapped whole or copied whole: never a mix. */
            bool copied = !f->mapping || high;
            g_assert_cmpuint(f->dma_copied, >=, copied && !write ? total : 0);
            if (!copied) {
                g_assert_cmpuint(f->dma_copied, <, 512);
            }
            /* Put the disk's bytes back for the next pass. */
            if (write) {
                int fd = open(f->img.path, O_WRONLY);
                g_assert_cmpint(fd, >=, 0);
                for (uint64_t p = 24 * 512; p < 24 * 512 + total; p++) {
                    uint8_t b = (p * 7) % 253;
                    g_assert_cmpint(pwrite(fd, &b, 1, p), ==, 1);
                }
                close(fd);
            }
        }
    }
}

static void test_read_only(Fixture *f, gconstpointer data)
{
    VirtIODevice *vdev = virtio_blk_vdev(f->dev);
    g_assert_true(vdev->host_features & (1ull << VIRTIO_BLK_F_RO));
    post(f, VIRTIO_BLK_T_OUT, 0, 512, 0);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_IOERR);
    post(f, VIRTIO_BLK_T_IN, 0, 0, 512);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);
}

static void test_missing_header_breaks(Fixture *f, gconstpointer data)
{
    /* A chain of one writable byte: no header. */
    vring_set_desc(f->ram, Q_BASE, 0, STAT_ADDR, 1, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, Q_BASE + 0x100 + 4, 0);
    put_le16(f->ram, Q_BASE + 0x100 + 2, 1);
    virtio_queue_notify(virtio_blk_vdev(f->dev), 0);
    g_assert_true(virtio_blk_vdev(f->dev)->broken);
    g_assert_cmpuint(used_idx(f), ==, 0);
}

static void test_drain_and_reset(Fixture *f, gconstpointer data)
{
    /* In flight, then drained (pre_save's job): completed into the ring without the loop.
     * Writes, as a read of cached bytes may be answered within the kick. */
    post(f, VIRTIO_BLK_T_OUT, 0, 65536, 0);
    g_assert_cmpuint(blk_in_flight(f->blk), ==, 1);
    virtio_blk_drain(f->dev);
    g_assert_cmpuint(blk_in_flight(f->blk), ==, 0);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_cmpuint(f->ram[STAT_ADDR], ==, VIRTIO_BLK_S_OK);

    /* In flight across a reset: the request finishes but the reset driver never sees it. */
    post(f, VIRTIO_BLK_T_OUT, 0, 65536, 0);
    virtio_reset(virtio_blk_vdev(f->dev));
    g_assert_cmpuint(blk_in_flight(f->blk), ==, 0);
    g_assert_cmpuint(used_idx(f), ==, 1);
    g_assert_cmpuint(f->ram[STAT_ADDR], ==, 0xee);
}

static void test_state_round_trip(Fixture *f, gconstpointer data)
{
    /* A request in flight when the state is saved: pre_save drains it into the ring first. */
    VirtIODevice *vdev = virtio_blk_vdev(f->dev);
    vdev->ops->config_write(vdev, 32, 0, 1); /* the driver turns the write cache off */
    post(f, VIRTIO_BLK_T_IN, 0, 0, 65536);
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "virtio-blk", 0, &vmstate_virtio_blk, f->dev);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(set, stream, &err));
    g_assert_cmpuint(blk_in_flight(f->blk), ==, 0);
    g_assert_cmpuint(used_idx(f), ==, 1);

    /* Loaded into a fresh device on the same drive: same queue, same cache mode. */
    VirtIOBlock *other = virtio_blk_new(&f->dma, f->blk, NULL, &err);
    g_assert_no_error(err);
    virtio_blk_free(f->dev); /* hands the drive's permissions over */
    f->dev = other;
    blk_set_enable_write_cache(f->blk, true);
    g_autoptr(VMStateSet) set2 = vmstate_set_new();
    vmstate_set_add(set2, "virtio-blk", 0, &vmstate_virtio_blk, other);
    g_assert_true(vmstate_set_load(set2, stream->data, stream->len, &err));
    g_assert_no_error(err);
    g_assert_false(blk_enable_write_cache(f->blk));
    VirtQueue *vq = &virtio_blk_vdev(other)->vq[0];
    g_assert_cmpuint(vq->last_avail_idx, ==, 1);
    g_assert_cmpuint(vq->used_idx, ==, 1);
    g_assert_cmpuint(vq->desc, ==, Q_BASE);
    virtio_blk_vdev(other)->notify = notify_cb;
    virtio_blk_vdev(other)->notify_opaque = f;
    /* And it carries on where the first left off. */
    post(f, VIRTIO_BLK_T_IN, 1, 0, 512);
    g_assert_cmpuint(wait_request(f, NULL), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_idx(f), ==, 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    g_test_add_func("/virtio-blk/plan", test_plan);
#define ADD(path, ro, fn) g_test_add(path, Fixture, ro, fixture_setup, fn, fixture_teardown)
    ADD("/virtio-blk/read-write", NULL, test_read_write);
    ADD("/virtio-blk/read-write-mapped", "map", test_read_write);
    ADD("/virtio-blk/scattered", NULL, test_scattered);
    ADD("/virtio-blk/scattered-mapped", "map", test_scattered);
    ADD("/virtio-blk/drain-and-reset-mapped", "map", test_drain_and_reset);
    ADD("/virtio-blk/read-only", "ro", test_read_only);
    ADD("/virtio-blk/missing-header", NULL, test_missing_header_breaks);
    ADD("/virtio-blk/drain-and-reset", NULL, test_drain_and_reset);
    ADD("/virtio-blk/state-round-trip", NULL, test_state_round_trip);
    return g_test_run();
}
