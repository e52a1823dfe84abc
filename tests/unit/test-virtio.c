/*
 * The virtio core (hw/virtio/virtio.c) under a hostile driver, with no device model in the
 * way: a bare two-queue device over a small guest RAM, rings written by hand. Every bad ring
 * or chain must end with the device broken (NEEDS_RESET, one config interrupt, counted,
 * logged), nothing read or written outside guest RAM, and a reset bringing the device back.
 */
#include "hw/virtio/virtio.h"
#include "tests/include/flat-ram.h"
#include "tests/include/vring.h"
#include "util/log.h"

#include <glib/gstdio.h>
#include <string.h>

#define RAM_SIZE 0x10000
#define QSZ      8
#define DESC     0x1000
#define AVAIL    0x2000
#define USED     0x3000
#define INDIRECT 0x4000
#define BUF      0x8000

typedef struct Fixture {
    uint8_t *ram;
    FlatRam flat;
    DmaSpace dma;
    VirtIODevice vdev;
    int handler_calls;
    int popped; /* chains the queue handler took */
    int config_irqs, queue_irqs;
    uint16_t avail_idx;
} Fixture;

static void reset_op(VirtIODevice *vdev)
{
}

static const VirtIODeviceOps bare_ops = {.reset = reset_op};

static void notify_cb(void *opaque, bool config_change)
{
    Fixture *f = opaque;
    if (config_change) {
        f->config_irqs++;
    } else if (f->vdev.isr & 1) {
        f->queue_irqs++;
    }
}

/* What a device does on a kick: take every chain, give each back with nothing written. */
static void drain_handler(VirtIODevice *vdev, VirtQueue *vq)
{
    Fixture *f = vdev->notify_opaque;
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    f->handler_calls++;
    while (virtqueue_pop(vq, e)) {
        f->popped++;
        virtqueue_push(vq, e, 0);
    }
    g_free(e);
}

static void setup_queue(Fixture *f, int q, uint16_t size, uint64_t desc, uint64_t avail,
                        uint64_t used)
{
    VirtQueue *vq = &f->vdev.vq[q];
    vq->size = size;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->enabled = true;
}

/* The driver's side of bring-up with these features, queue 0 only (queue 1 exists but is
 * never set up). */
static void driver_ok_with(Fixture *f, uint64_t features)
{
    VirtIODevice *vdev = &f->vdev;
    virtio_set_status(vdev, 0);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    g_assert_true(virtio_set_guest_features(vdev, features));
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK);
    setup_queue(f, 0, QSZ, DESC, AVAIL, USED);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    f->avail_idx = 0;
    memset(f->ram + AVAIL, 0, 0x1000);
    memset(f->ram + USED, 0, 0x1000);
}

static void driver_ok(Fixture *f)
{
    driver_ok_with(f, 1ull << VIRTIO_F_VERSION_1);
}

static void setup(Fixture *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    f->flat = (FlatRam){.base = f->ram, .size = RAM_SIZE};
    f->dma = flat_ram_dma(&f->flat);
    virtio_init(&f->vdev, "virtio-test", 1, &bare_ops, &f->dma, 3);
    virtio_add_queue(&f->vdev, 0, QSZ, drain_handler);
    virtio_add_queue(&f->vdev, 1, QSZ, drain_handler);
    /* queue 2 is never added: no handler, size 0 */
    f->vdev.notify = notify_cb;
    f->vdev.notify_opaque = f;
    driver_ok(f);
}

static void teardown(Fixture *f, gconstpointer data)
{
    virtio_cleanup(&f->vdev);
    g_free(f->ram);
}

/* Makes head available on queue 0 and kicks it. */
static void kick(Fixture *f, uint16_t head)
{
    put_le16(f->ram, AVAIL + 4 + 2 * (f->avail_idx % QSZ), head);
    f->avail_idx++;
    put_le16(f->ram, AVAIL + 2, f->avail_idx);
    virtio_queue_notify(&f->vdev, 0);
}

static void expect_broken(Fixture *f)
{
    g_assert_true(f->vdev.broken);
    g_assert_cmphex(f->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET, !=, 0);
    g_assert_cmphex(f->vdev.isr & 2, ==, 2);
    g_assert_cmpint(f->config_irqs, ==, 1);
    g_assert_cmpuint(f->vdev.stats.bad_chains, >=, 1);
    /* a broken device leaves its queues alone: further kicks do nothing */
    int calls = f->handler_calls;
    virtio_queue_notify(&f->vdev, 0);
    g_assert_cmpint(f->handler_calls, ==, calls);
    g_assert_false(virtqueue_ready(&f->vdev.vq[0]));
    /* the driver's reset brings it back */
    driver_ok(f);
    g_assert_false(f->vdev.broken);
    g_assert_cmphex(f->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET, ==, 0);
    f->config_irqs = 0;
}

/* A good chain after recovery still works: proves the reset left nothing half-done. */
static void expect_healthy(Fixture *f)
{
    int popped = f->popped;
    vring_set_desc(f->ram, DESC, 0, BUF, 64, 0, 0);
    kick(f, 0);
    g_assert_cmpint(f->popped, ==, popped + 1);
    g_assert_false(f->vdev.broken);
}

static void test_valid_chains(Fixture *f, gconstpointer data)
{
    /* two readable buffers then one writable, through NEXT links in any order */
    memcpy(f->ram + BUF, "hello, ", 7);
    memcpy(f->ram + BUF + 0x100, "world", 5);
    vring_set_desc(f->ram, DESC, 3, BUF, 7, VRING_DESC_F_NEXT, 6);
    vring_set_desc(f->ram, DESC, 6, BUF + 0x100, 5, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, DESC, 1, BUF + 0x200, 32, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, AVAIL + 4, 3);
    put_le16(f->ram, AVAIL + 2, 1);
    VirtQueue *vq = &f->vdev.vq[0];
    g_assert_false(virtqueue_empty(vq));
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    g_assert_true(virtqueue_pop(vq, e));
    g_assert_cmpint(e->head, ==, 3);
    g_assert_cmpuint(e->out_num, ==, 2);
    g_assert_cmpuint(e->in_num, ==, 1);
    g_assert_cmpuint(e->out_total, ==, 12);
    g_assert_cmpuint(e->in_total, ==, 32);
    char got[12];
    g_assert_cmpint(virtqueue_read_out(vq, e, 0, got, sizeof(got)), ==, 12);
    g_assert_cmpmem(got, 12, "hello, world", 12);
    g_assert_cmpint(virtqueue_read_out(vq, e, 5, got, 4), ==, 4);
    g_assert_cmpmem(got, 4, ", wo", 4);
    g_assert_cmpint(virtqueue_write_in(vq, e, 0, "reply", 5), ==, 5);
    g_assert_cmpmem(f->ram + BUF + 0x200, 5, "reply", 5);
    virtqueue_push(vq, e, 5);
    g_assert_cmpint(get_le16(f->ram, USED + 2), ==, 1);
    g_assert_cmpint(get_le16(f->ram, USED + 4), ==, 3);
    g_assert_cmpint(get_le16(f->ram, USED + 8), ==, 5);
    virtqueue_notify(vq);
    g_assert_cmpint(f->queue_irqs, ==, 1);
    /* the driver asked for no interrupts: none */
    put_le16(f->ram, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    virtqueue_notify(vq);
    g_assert_cmpint(f->queue_irqs, ==, 1);
    g_assert_true(virtqueue_empty(vq));
    g_assert_false(virtqueue_pop(vq, e));

    /* a valid indirect table: one readable, one writable */
    vring_set_desc(f->ram, INDIRECT, 0, BUF, 7, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, INDIRECT, 1, BUF + 0x200, 16, VRING_DESC_F_WRITE, 0);
    vring_set_desc(f->ram, DESC, 2, INDIRECT, 32, VRING_DESC_F_INDIRECT, 0);
    put_le16(f->ram, AVAIL + 4 + 2, 2);
    put_le16(f->ram, AVAIL + 2, 2);
    g_assert_true(virtqueue_pop(vq, e));
    g_assert_cmpint(e->head, ==, 2);
    g_assert_cmpuint(e->out_num, ==, 1);
    g_assert_cmpuint(e->in_num, ==, 1);
    g_assert_cmpuint(f->vdev.stats.chains, ==, 2);
    g_assert_cmpuint(f->vdev.stats.bad_chains, ==, 0);
    g_free(e);
}

static void test_loops(Fixture *f, gconstpointer data)
{
    /* a direct chain that comes back to its head */
    vring_set_desc(f->ram, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, DESC, 1, BUF, 16, VRING_DESC_F_NEXT, 2);
    vring_set_desc(f->ram, DESC, 2, BUF, 16, VRING_DESC_F_NEXT, 0);
    kick(f, 0);
    g_assert_cmpint(f->popped, ==, 0);
    g_assert_cmpint(get_le16(f->ram, USED + 2), ==, 0); /* nothing given back */
    expect_broken(f);
    /* a descriptor that names itself */
    vring_set_desc(f->ram, DESC, 5, BUF, 16, VRING_DESC_F_NEXT, 5);
    kick(f, 5);
    expect_broken(f);
    /* a loop inside an indirect table */
    vring_set_desc(f->ram, INDIRECT, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, INDIRECT, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
    vring_set_desc(f->ram, DESC, 0, INDIRECT, 32, VRING_DESC_F_INDIRECT, 0);
    kick(f, 0);
    expect_broken(f);
    /* the longest legal chain (every descriptor once) is not a loop */
    for (int i = 0; i < QSZ - 1; i++) {
        vring_set_desc(f->ram, DESC, i, BUF, 16, VRING_DESC_F_NEXT, i + 1);
    }
    vring_set_desc(f->ram, DESC, QSZ - 1, BUF, 16, 0, 0);
    kick(f, 0);
    g_assert_cmpint(f->popped, ==, 1);
    g_assert_false(f->vdev.broken);
}

static void test_indirect_out_of_ram(Fixture *f, gconstpointer data)
{
    /* the table itself beyond RAM */
    vring_set_desc(f->ram, DESC, 0, RAM_SIZE + 0x1000, 32, VRING_DESC_F_INDIRECT, 0);
    kick(f, 0);
    expect_broken(f);
    /* the table straddling RAM's end: its second entry is outside */
    vring_set_desc(f->ram, RAM_SIZE - 16, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, DESC, 0, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
    kick(f, 0);
    expect_broken(f);
    /* a table whose address wraps the 64-bit space */
    vring_set_desc(f->ram, DESC, 0, 0xfffffffffffffff0ull, 32, VRING_DESC_F_INDIRECT, 0);
    kick(f, 0);
    expect_broken(f);
    /* an indirect table larger than any chain may be */
    vring_set_desc(f->ram, DESC, 0, INDIRECT, 16 * (VIRTQUEUE_MAX_SG + 1), VRING_DESC_F_INDIRECT,
                   0);
    kick(f, 0);
    expect_broken(f);
    /* an indirect descriptor in the middle of a direct chain */
    vring_set_desc(f->ram, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, DESC, 1, INDIRECT, 16, VRING_DESC_F_INDIRECT, 0);
    kick(f, 0);
    expect_broken(f);
    expect_healthy(f);
}

static void test_lengths_past_ram_end(Fixture *f, gconstpointer data)
{
    VirtQueue *vq = &f->vdev.vq[0];
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    /* the chain is well formed; its buffer runs 56 bytes past RAM's end */
    vring_set_desc(f->ram, DESC, 0, RAM_SIZE - 8, 64, 0, 0);
    put_le16(f->ram, AVAIL + 4, 0);
    put_le16(f->ram, AVAIL + 2, 1);
    g_assert_true(virtqueue_pop(vq, e));
    uint8_t buf[64];
    /* the part inside RAM is readable, the copy that crosses the end is refused */
    g_assert_cmpint(virtqueue_read_out(vq, e, 0, buf, 8), ==, 8);
    g_assert_false(f->vdev.broken);
    g_assert_cmpint(virtqueue_read_out(vq, e, 0, buf, 64), ==, -1);
    expect_broken(f);

    /* a writable buffer of 4 GiB - 1 at the top of RAM */
    vring_set_desc(f->ram, DESC, 0, RAM_SIZE - 0x100, 0xffffffff, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, AVAIL + 4, 0);
    put_le16(f->ram, AVAIL + 2, 1);
    g_assert_true(virtqueue_pop(vq, e));
    memset(buf, 0xa5, sizeof(buf));
    g_assert_cmpint(virtqueue_write_in(vq, e, 0x100 - 8, buf, 64), ==, -1);
    for (int i = 0; i < 0x100; i++) {
        g_assert_cmpint(f->ram[RAM_SIZE - 0x100 + i], ==, 0); /* nothing written, not even part */
    }
    expect_broken(f);

    /* a buffer whose end wraps the address space is refused when popped */
    vring_set_desc(f->ram, DESC, 0, 0xffffffffffffff00ull, 0x200, 0, 0);
    put_le16(f->ram, AVAIL + 4, 0);
    put_le16(f->ram, AVAIL + 2, 1);
    g_assert_false(virtqueue_pop(vq, e));
    expect_broken(f);
    g_free(e);
    expect_healthy(f);
}

static void test_avail_idx_jump(Fixture *f, gconstpointer data)
{
    for (int i = 0; i < QSZ; i++) {
        vring_set_desc(f->ram, DESC, i, BUF, 16, 0, 0);
        put_le16(f->ram, AVAIL + 4 + 2 * i, i);
    }
    /* exactly a full ring ahead is legal */
    put_le16(f->ram, AVAIL + 2, QSZ);
    virtio_queue_notify(&f->vdev, 0);
    g_assert_cmpint(f->popped, ==, QSZ);
    g_assert_cmpint(get_le16(f->ram, USED + 2), ==, QSZ);
    g_assert_false(f->vdev.broken);
    /* one more than the queue holds */
    put_le16(f->ram, AVAIL + 2, 2 * QSZ + 1);
    virtio_queue_notify(&f->vdev, 0);
    g_assert_cmpint(f->popped, ==, QSZ);
    g_assert_true(f->vdev.broken);
    g_assert_cmpint(f->config_irqs, ==, 1);
    driver_ok(f);
    f->config_irqs = 0;
    /* the index running backwards looks like 65535 - n new chains */
    put_le16(f->ram, AVAIL + 2, 0xfff0);
    virtio_queue_notify(&f->vdev, 0);
    expect_broken(f);
    /* a head index beyond the table */
    kick(f, QSZ);
    expect_broken(f);
    kick(f, 0xffff);
    expect_broken(f);
    /* a next index beyond the table */
    vring_set_desc(f->ram, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, QSZ);
    kick(f, 0);
    expect_broken(f);
    expect_healthy(f);
}

static void test_queue_size_not_power_of_two(Fixture *f, gconstpointer data)
{
    /*
     * The transport refuses such sizes (test-virtio-net); the core must still stay inside the
     * rings it was given. The avail ring ends exactly at RAM's end: reading a slot >= size
     * would leave RAM and break the device.
     */
    const uint16_t size = 5;
    const uint64_t avail = RAM_SIZE - (4 + 2 * size);
    setup_queue(f, 0, size, DESC, avail, USED);
    for (int i = 0; i < size; i++) {
        vring_set_desc(f->ram, DESC, i, BUF, 16, 0, 0);
    }
    uint16_t idx = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < size; i++) {
            put_le16(f->ram, avail + 4 + 2 * (idx % size), (idx + round) % size);
            idx++;
        }
        put_le16(f->ram, avail + 2, idx);
        virtio_queue_notify(&f->vdev, 0);
        g_assert_false(f->vdev.broken);
        g_assert_cmpint(f->popped, ==, idx);
        g_assert_cmpint(get_le16(f->ram, USED + 2), ==, idx);
    }
    /* the last round's heads came back in ring order */
    for (int i = 0; i < size; i++) {
        g_assert_cmpint(get_le16(f->ram, USED + 4 + 8 * i), ==, (i + 2) % size);
    }
    /* a chain as long as the odd-sized table is fine, one longer is a loop */
    for (int i = 0; i < size; i++) {
        vring_set_desc(f->ram, DESC, i, BUF, 16, i + 1 < size ? VRING_DESC_F_NEXT : 0, i + 1);
    }
    put_le16(f->ram, avail + 4 + 2 * (idx % size), 0);
    put_le16(f->ram, avail + 2, ++idx);
    virtio_queue_notify(&f->vdev, 0);
    g_assert_cmpint(f->popped, ==, idx);
    vring_set_desc(f->ram, DESC, size - 1, BUF, 16, VRING_DESC_F_NEXT, 0);
    put_le16(f->ram, avail + 4 + 2 * (idx % size), 0);
    put_le16(f->ram, avail + 2, ++idx);
    virtio_queue_notify(&f->vdev, 0);
    expect_broken(f);
}

static void test_notify_unset_queues(Fixture *f, gconstpointer data)
{
    VirtIODevice *vdev = &f->vdev;
    /* queues that do not exist */
    virtio_queue_notify(vdev, -1);
    virtio_queue_notify(vdev, 3);
    virtio_queue_notify(vdev, 0x7fff);
    /* queue 2 was never added (no handler); queue 1 was, but the driver never set it up */
    virtio_queue_notify(vdev, 2);
    g_assert_cmpint(f->handler_calls, ==, 0);
    virtio_queue_notify(vdev, 1);
    g_assert_cmpint(f->handler_calls, ==, 1);
    g_assert_false(virtqueue_ready(&vdev->vq[1]));
    g_assert_true(virtqueue_empty(&vdev->vq[1]));
    g_assert_true(virtqueue_empty(&vdev->vq[2]));
    g_assert_cmpint(f->popped, ==, 0);
    /* kicks before DRIVER_OK never reach the device */
    virtio_set_status(vdev, 0);
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    setup_queue(f, 0, QSZ, DESC, AVAIL, USED);
    virtio_queue_notify(vdev, 0);
    g_assert_cmpint(f->handler_calls, ==, 1);
    /* none of it is a guest error that breaks the device */
    g_assert_false(vdev->broken);
    g_assert_cmpuint(vdev->stats.bad_chains, ==, 0);
    g_assert_cmpint(f->config_irqs, ==, 0);
    driver_ok(f);
    expect_healthy(f);
}

static void test_rings_out_of_ram(Fixture *f, gconstpointer data)
{
    /* the avail ring outside RAM */
    setup_queue(f, 0, QSZ, DESC, RAM_SIZE + 0x100, USED);
    virtio_queue_notify(&f->vdev, 0);
    expect_broken(f);
    /* the descriptor table straddling RAM's end: entry 1 is outside */
    setup_queue(f, 0, QSZ, RAM_SIZE - 16, AVAIL, USED);
    vring_set_desc(f->ram, RAM_SIZE - 16, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    kick(f, 0);
    expect_broken(f);
    /* the used ring outside RAM: the chain is taken, giving it back breaks the device */
    setup_queue(f, 0, QSZ, DESC, AVAIL, 0xfffffffffff00000ull);
    vring_set_desc(f->ram, DESC, 0, BUF, 16, 0, 0);
    kick(f, 0);
    g_assert_cmpint(f->popped, ==, 1);
    g_assert_true(f->vdev.broken);
    g_assert_cmpint(f->config_irqs, ==, 1);
    driver_ok(f);
    f->config_irqs = 0;
    /* rings whose end wraps the 64-bit space (the wrapped part would land in low RAM) */
    vring_set_desc(f->ram, DESC, 0, BUF, 16, 0, 0);
    put_le16(f->ram, 2, 1); /* what a wrapped avail ring would see as its index and first entry */
    put_le16(f->ram, 4, 0);
    int popped = f->popped;
    setup_queue(f, 0, QSZ, DESC, 0xfffffffffffffffeull, USED);
    virtio_queue_notify(&f->vdev, 0);
    g_assert_cmpint(f->popped, ==, popped);
    expect_broken(f);
    setup_queue(f, 0, QSZ, 0xfffffffffffffff0ull, AVAIL, USED);
    kick(f, 1);
    expect_broken(f);
    setup_queue(f, 0, QSZ, DESC, AVAIL, 0xfffffffffffffffcull);
    vring_set_desc(f->ram, DESC, 3, BUF, 16, 0, 0);
    kick(f, 3);
    g_assert_cmpint(f->popped, ==, popped);
    g_assert_cmphex(f->ram[0], ==, 0); /* no used entry {id 3} landed in low RAM */
    expect_broken(f);
    expect_healthy(f);
}

static void test_errors_logged_once_broken(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("test-virtio-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_autofree char *path = g_build_filename(dir, "log", NULL);
    int saved = qemu_loglevel;
    g_assert_true(qemu_log_set_file(path, NULL));
    qemu_loglevel = LOG_GUEST_ERROR;
    vring_set_desc(f->ram, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 0);
    kick(f, 0);
    kick(f, 0); /* broken already: the queue is not looked at again */
    qemu_loglevel = saved;
    qemu_log_close();
    g_autofree char *log = NULL;
    g_assert_true(g_file_get_contents(path, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "virtio-test: queue 0: loop in descriptor chain from 0"));
    g_assert_nonnull(strstr(log, "(device needs reset)"));
    g_assert_null(strstr(strstr(log, "loop") + 1, "loop")); /* once */
    g_assert_cmpuint(f->vdev.stats.bad_chains, ==, 1);
    g_unlink(path);
    g_rmdir(dir);
}

/* --- notification suppression (EVENT_IDX) ---------------------------------------------- */

#define USED_EVENT  (AVAIL + 4 + 2 * QSZ)
#define AVAIL_EVENT (USED + 4 + 8 * QSZ)

static void test_need_event(Fixture *f, gconstpointer data)
{
    /* event in [old, new): the indexes just passed, modulo 2^16 */
    g_assert_true(vring_need_event(0, 1, 0));
    g_assert_false(vring_need_event(1, 1, 0));
    g_assert_true(vring_need_event(4, 8, 2));
    g_assert_true(vring_need_event(7, 8, 2));
    g_assert_false(vring_need_event(8, 8, 2));
    g_assert_false(vring_need_event(1, 8, 2));
    /* nothing passed: never */
    g_assert_false(vring_need_event(5, 5, 5));
    g_assert_false(vring_need_event(4, 5, 5));
    /* across the wrap: old 0xfffe, new 2 passed 0xfffe, 0xffff, 0, 1 */
    g_assert_true(vring_need_event(0xfffe, 2, 0xfffe));
    g_assert_true(vring_need_event(0xffff, 2, 0xfffe));
    g_assert_true(vring_need_event(0, 2, 0xfffe));
    g_assert_true(vring_need_event(1, 2, 0xfffe));
    g_assert_false(vring_need_event(2, 2, 0xfffe));
    g_assert_false(vring_need_event(0xfffd, 2, 0xfffe));
    /* a whole ring of 2^15 at once, event just behind it */
    g_assert_true(vring_need_event(0x8000, 0, 0x8000));
    g_assert_false(vring_need_event(0x7fff, 0, 0x8000));
}

static void driver_ok_event_idx(Fixture *f)
{
    driver_ok_with(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
}

/* One chain made available, popped and pushed by the test; returns the interrupts raised. */
static int round_trip(Fixture *f)
{
    VirtQueue *vq = &f->vdev.vq[0];
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    int irqs = f->queue_irqs;
    vring_set_desc(f->ram, DESC, 0, BUF, 16, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, AVAIL + 4 + 2 * (f->avail_idx % QSZ), 0);
    put_le16(f->ram, AVAIL + 2, ++f->avail_idx);
    g_assert_true(virtqueue_pop(vq, e));
    virtqueue_push(vq, e, 16);
    virtqueue_notify(vq);
    g_free(e);
    return f->queue_irqs - irqs;
}

static void test_event_idx_interrupts(Fixture *f, gconstpointer data)
{
    g_assert_true(f->vdev.host_features & (1ull << VIRTIO_RING_F_EVENT_IDX));
    driver_ok_event_idx(f);
    VirtQueue *vq = &f->vdev.vq[0];
    /* A driver that never writes used_event (0): the first push after the reset interrupts
     * (nothing signalled yet), later ones only when the used index passes 0 again. */
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 0);
    g_assert_cmpint(round_trip(f), ==, 0);
    g_assert_cmpuint(f->vdev.stats.suppressed, ==, 2);
    /* the driver re-arms at the used index it has seen (3): the next push interrupts */
    put_le16(f->ram, USED_EVENT, 3);
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 0);
    /* NO_INTERRUPT means nothing with EVENT_IDX */
    put_le16(f->ram, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    put_le16(f->ram, USED_EVENT, 5);
    g_assert_cmpint(round_trip(f), ==, 1);
    put_le16(f->ram, AVAIL, 0);
    /* delayed: "interrupt me once 3 more are used" (used_event = used + 2) */
    put_le16(f->ram, USED_EVENT, vq->used_idx + 2);
    g_assert_cmpint(round_trip(f), ==, 0);
    g_assert_cmpint(round_trip(f), ==, 0);
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 0);
    /* several pushes, one decision: interrupts if used_event is anywhere among them */
    VirtQueueElement *e = g_new(VirtQueueElement, 1);
    put_le16(f->ram, USED_EVENT, vq->used_idx + 1);
    for (int i = 0; i < 3; i++) {
        vring_set_desc(f->ram, DESC, i, BUF, 16, VRING_DESC_F_WRITE, 0);
        put_le16(f->ram, AVAIL + 4 + 2 * (f->avail_idx % QSZ), i);
        put_le16(f->ram, AVAIL + 2, ++f->avail_idx);
        g_assert_true(virtqueue_pop(vq, e));
        virtqueue_push(vq, e, 16);
    }
    int irqs = f->queue_irqs;
    virtqueue_notify(vq);
    g_assert_cmpint(f->queue_irqs, ==, irqs + 1);
    g_free(e);
    /* a load forgets the last decision: the next push interrupts whatever used_event says */
    virtio_device_post_load(&f->vdev);
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 0);
    /* so does a reset */
    driver_ok_event_idx(f);
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 0);
}

static void test_event_idx_wraps(Fixture *f, gconstpointer data)
{
    driver_ok_event_idx(f);
    VirtQueue *vq = &f->vdev.vq[0];
    /* as a loaded queue deep into its life: every index 3 short of the wrap */
    vq->last_avail_idx = vq->used_idx = f->avail_idx = 0xfffd;
    put_le16(f->ram, AVAIL + 2, f->avail_idx);
    put_le16(f->ram, USED + 2, vq->used_idx);
    virtio_device_post_load(&f->vdev);
    put_le16(f->ram, USED_EVENT, 0x0001);
    g_assert_cmpint(round_trip(f), ==, 1); /* used 0xfffe: unknown after the load */
    g_assert_cmpint(round_trip(f), ==, 0); /* used 0xffff */
    g_assert_cmpint(round_trip(f), ==, 0); /* used 0 */
    g_assert_cmpint(round_trip(f), ==, 0); /* used 1: entry 1 not used yet */
    g_assert_cmpint(round_trip(f), ==, 1); /* used 2: entry 1 used, across the wrap */
    g_assert_cmpint(round_trip(f), ==, 0);
    g_assert_cmpuint(get_le16(f->ram, USED + 2), ==, 3);
    g_assert_cmpuint(get_le16(f->ram, AVAIL_EVENT), ==, 3);
}

static void test_event_idx_avail_event(Fixture *f, gconstpointer data)
{
    driver_ok_event_idx(f);
    VirtQueue *vq = &f->vdev.vq[0];
    /* each pop asks for a kick at the next chain */
    round_trip(f);
    round_trip(f);
    g_assert_cmpuint(get_le16(f->ram, AVAIL_EVENT), ==, 2);
    g_assert_true(vq->notification);
    /* kicks off: avail_event stays, however many chains are taken */
    virtqueue_set_notification(vq, false);
    round_trip(f);
    round_trip(f);
    g_assert_cmpuint(get_le16(f->ram, AVAIL_EVENT), ==, 2);
    g_assert_cmphex(get_le16(f->ram, USED), ==, 0); /* no NO_NOTIFY with EVENT_IDX */
    /* the driver adds two the device has not taken; kicks back on: at the avail index */
    put_le16(f->ram, AVAIL + 2, f->avail_idx + 2);
    virtqueue_set_notification(vq, true);
    g_assert_cmpuint(get_le16(f->ram, AVAIL_EVENT), ==, f->avail_idx + 2);
    g_assert_false(virtqueue_empty(vq)); /* and the look after it sees them */
    /* a reset wants kicks again */
    virtqueue_set_notification(vq, false);
    driver_ok_event_idx(f);
    g_assert_true(vq->notification);
}

static void test_no_notify_flag(Fixture *f, gconstpointer data)
{
    /* without EVENT_IDX: the used ring's NO_NOTIFY flag, avail_event untouched */
    VirtQueue *vq = &f->vdev.vq[0];
    put_le16(f->ram, AVAIL_EVENT, 0x1234);
    virtqueue_set_notification(vq, false);
    g_assert_cmphex(get_le16(f->ram, USED), ==, VRING_USED_F_NO_NOTIFY);
    round_trip(f);
    g_assert_cmphex(get_le16(f->ram, USED), ==, VRING_USED_F_NO_NOTIFY);
    virtqueue_set_notification(vq, true);
    g_assert_cmphex(get_le16(f->ram, USED), ==, 0);
    g_assert_cmphex(get_le16(f->ram, AVAIL_EVENT), ==, 0x1234);
    /* interrupts follow NO_INTERRUPT alone, used_event is not looked at */
    put_le16(f->ram, USED_EVENT, 0x4000);
    g_assert_cmpint(round_trip(f), ==, 1);
    g_assert_cmpint(round_trip(f), ==, 1);
    /* kicks are counted whether or not the queue takes them */
    uint64_t kicks = f->vdev.stats.kicks;
    virtio_queue_notify(&f->vdev, 0);
    virtio_queue_notify(&f->vdev, 1);
    g_assert_cmpuint(f->vdev.stats.kicks, ==, kicks + 2);
}

static void test_event_idx_withdrawn(Fixture *f, gconstpointer data)
{
    /* event_idx=off: the feature is not offered, a driver asking for it is refused */
    virtio_offer_feature(&f->vdev, VIRTIO_RING_F_EVENT_IDX, false);
    g_assert_false(virtio_set_guest_features(&f->vdev, (1ull << VIRTIO_F_VERSION_1) |
                                                           (1ull << VIRTIO_RING_F_EVENT_IDX)));
    /* and a stream that negotiated it does not load here */
    VirtIODevice loaded = {0};
    loaded.guest_features = 1ull << VIRTIO_RING_F_EVENT_IDX;
    g_autoptr(GError) err = NULL;
    g_assert_false(virtio_device_check(&loaded, &f->vdev, &err));
    g_assert_nonnull(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/virtio/valid-chains", test_valid_chains);
    ADD("/virtio/hostile/loops", test_loops);
    ADD("/virtio/hostile/indirect-out-of-ram", test_indirect_out_of_ram);
    ADD("/virtio/hostile/lengths-past-ram-end", test_lengths_past_ram_end);
    ADD("/virtio/hostile/avail-idx-jump", test_avail_idx_jump);
    ADD("/virtio/hostile/queue-size-not-power-of-two", test_queue_size_not_power_of_two);
    ADD("/virtio/hostile/notify-unset-queues", test_notify_unset_queues);
    ADD("/virtio/hostile/rings-out-of-ram", test_rings_out_of_ram);
    ADD("/virtio/hostile/errors-logged", test_errors_logged_once_broken);
    ADD("/virtio/event-idx/need-event", test_need_event);
    ADD("/virtio/event-idx/interrupts", test_event_idx_interrupts);
    ADD("/virtio/event-idx/wraps", test_event_idx_wraps);
    ADD("/virtio/event-idx/avail-event", test_event_idx_avail_event);
    ADD("/virtio/event-idx/withdrawn", test_event_idx_withdrawn);
    ADD("/virtio/no-notify-flag", test_no_notify_flag);
    return g_test_run();
}
