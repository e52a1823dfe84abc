/*
 * No dirty page lost: guest code on our CPU, a virtio-net device and the pc machine's loaders
 * write guest RAM by every path they have, while two dirty readers sync at arbitrary points. At
 * every sync each reader compares RAM with its own snapshot from its previous sync: a page that
 * changed and was not reported is a write that migration or a COLO checkpoint would lose.
 */
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc-system.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-net.h"
#include "memory/ram.h"
#include "tests/include/test-image.h"
#include "tests/include/virtio-driver.h"
#include "tests/include/vring.h"

#include "cpu-guest.h"
#include "pvh-kernel.h"
#include <glib/gstdio.h>
#include <string.h>

/* The sanitizer tree runs the interpreter several times slower: fewer rounds there keep the
 * test within its time limit, and every path is still written many times over. */
#ifdef DIRTY_MAP_LIGHT
#define DIRTY_MAP_ROUNDS     80
#define DIRTY_MAP_LIVE_INSNS 4000000
#else
#define DIRTY_MAP_ROUNDS     300
#define DIRTY_MAP_LIVE_INSNS 20000000
#endif

/* dirty.c's windows, one per write path, and the pages its MMU path maps */
#define WIN_BASE    0x1000000ull
#define WIN_SIZE    (64ull * GUEST_PAGE_SIZE)
#define N_WINDOWS   4
#define AD_PD_FIRST 32
#define AD_PD_COUNT 32

/* One reader and the RAM contents as of its previous sync. */
typedef struct Watch {
    GuestRam *ram;
    DirtyReader *r;
    uint8_t *snap; /* lazily zeroed like RAM: untouched pages cost nothing */
    uint64_t *bm;
    uint64_t syncs, changed;
} Watch;

static void watch_init(Watch *w, GuestRam *ram, const char *name)
{
    *w = (Watch){.ram = ram, .r = guest_ram_dirty_reader_new(ram, name)};
    w->snap = g_malloc0(ram->size);
    w->bm = g_new0(uint64_t, guest_ram_bitmap_words(ram));
    for (uint64_t pi = 0; pi < ram->npages; pi++) {
        uint64_t off = pi * GUEST_PAGE_SIZE;
        if (memcmp(ram->host + off, w->snap + off, GUEST_PAGE_SIZE)) {
            memcpy(w->snap + off, ram->host + off, GUEST_PAGE_SIZE);
        }
    }
}

static void watch_free(Watch *w)
{
    guest_ram_dirty_reader_free(w->r);
    g_free(w->snap);
    g_free(w->bm);
}

/*
 * Syncs w's reader and fails on any page that differs from the snapshot without being
 * reported; brings the snapshot up to date. `changed_in` (may be NULL) counts changed pages
 * per [lo, hi) RAM range of `ranges`.
 */
static void watch_check(Watch *w, const char *when, const uint64_t (*ranges)[2], int nranges,
                        uint64_t *changed_in)
{
    GuestRam *ram = w->ram;
    memset(w->bm, 0, guest_ram_bitmap_words(ram) * sizeof(uint64_t));
    guest_ram_dirty_reader_sync(w->r, w->bm);
    w->syncs++;
    for (uint64_t pi = 0; pi < ram->npages; pi++) {
        uint64_t off = pi * GUEST_PAGE_SIZE;
        if (!memcmp(ram->host + off, w->snap + off, GUEST_PAGE_SIZE)) {
            continue;
        }
        if (!(w->bm[pi / 64] & (1ull << (pi % 64)))) {
            g_error("%s: %s: RAM page 0x%" G_GINT64_MODIFIER "x changed but was not reported",
                    guest_ram_dirty_reader_name(w->r), when, off);
        }
        memcpy(w->snap + off, ram->host + off, GUEST_PAGE_SIZE);
        w->changed++;
        for (int i = 0; i < nranges; i++) {
            if (off >= ranges[i][0] && off < ranges[i][1]) {
                changed_in[i]++;
            }
        }
    }
}

/*
 * The CPU: dirty.c writes by each of its paths; the host stops it after budgets of 1 to
 * ~100000 instructions, so syncs fall between any two instructions of any path. Reader "a"
 * syncs every time, "b" every third time (its view accumulates across a's syncs).
 */
/* After device step i: reader a checks (counting changes in ranges), and b too when asked. */
static void watch_step(Watch *a, Watch *b, bool check_b, const char *what, int i,
                       const uint64_t (*ranges)[2], int nranges, uint64_t *changed_in)
{
    char *when = g_strdup_printf("%s %d", what, i);
    watch_check(a, when, ranges, nranges, changed_in);
    if (check_b) {
        watch_check(b, when, NULL, 0, NULL);
    }
    g_free(when);
}

static void test_cpu_paths(gconstpointer jit)
{
    CpuGuest g;
    g_assert_true(cpu_guest_load(&g, CPU_DIRTY_BIN, "", NULL));
    g_assert_true(x86_cpu_set_jit(g.cpu, jit != NULL, NULL));
    Watch a, b;
    watch_init(&a, g.ram, "a");
    watch_init(&b, g.ram, "b");
    /* the windows of dirty.c, and the page-table page its MMU path changes */
    uint64_t ranges[N_WINDOWS + 1][2];
    for (int i = 0; i < N_WINDOWS; i++) {
        ranges[i][0] = WIN_BASE + i * WIN_SIZE;
        ranges[i][1] = ranges[i][0] + WIN_SIZE;
    }
    uint64_t changed[N_WINDOWS + 1] = {0}, ad_changes = 0;
    X86CPUState *env = x86_cpu_env(g.cpu);
    GRand *rnd = g_rand_new_with_seed(12);
    uint8_t *pd = NULL;
    for (int round = 0; round < DIRTY_MAP_ROUNDS; round++) {
        uint64_t budget = 1 + g_rand_int_range(rnd, 0, 1 << g_rand_int_range(rnd, 0, 17));
        g_assert_cmpint(x86_cpu_exec(g.cpu, budget), ==, X86_EXIT_BUDGET);
        if (!pd) {
            /* boot.S's page directory, found through CR3 -> PML4 -> PDPT once in long mode */
            uint64_t pml4 = env->cr3 & ~0xfffull, pdpt, pdp;
            if (pml4 && (env->efer & (1 << 10))) {
                memcpy(&pdpt, g.ram->host + pml4, 8);
                memcpy(&pdp, g.ram->host + (pdpt & ~0xfffull), 8);
                pd = g.ram->host + (pdp & 0xffffffff000ull);
                ranges[N_WINDOWS][0] = pd - g.ram->host;
                ranges[N_WINDOWS][1] = ranges[N_WINDOWS][0] + GUEST_PAGE_SIZE;
            }
        }
        uint8_t ad_before[AD_PD_COUNT] = {0};
        for (int i = 0; pd && i < AD_PD_COUNT; i++) {
            ad_before[i] = a.snap[(pd - g.ram->host) + 8 * (AD_PD_FIRST + i)] & 0x60;
        }
        char *when = g_strdup_printf("round %d (%" G_GUINT64_FORMAT
                                     " instructions, rip %#" G_GINT64_MODIFIER "x"
                                     ")",
                                     round, budget, env->rip);
        watch_check(&a, when, ranges, pd ? N_WINDOWS + 1 : N_WINDOWS, changed);
        if (round % 3 == 2) {
            watch_check(&b, when, NULL, 0, NULL);
        }
        g_free(when);
        for (int i = 0; pd && i < AD_PD_COUNT; i++) {
            /* A or D newly set since the previous sync: the MMU's walk did it */
            uint8_t now = pd[8 * (AD_PD_FIRST + i)] & 0x60;
            ad_changes += (now & ~ad_before[i]) != 0;
        }
    }
    watch_check(&b, "end", NULL, 0, NULL);
    g_test_message("%" G_GUINT64_FORMAT " instructions; reader a: %" G_GUINT64_FORMAT
                   " syncs, %" G_GUINT64_FORMAT " changed pages; b: %" G_GUINT64_FORMAT
                   " syncs, %" G_GUINT64_FORMAT "; windows %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                   "/%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT ", page directory %" G_GUINT64_FORMAT
                   ", A/D set by the MMU %" G_GUINT64_FORMAT,
                   x86_cpu_icount(g.cpu), a.syncs, a.changed, b.syncs, b.changed, changed[0],
                   changed[1], changed[2], changed[3], changed[4], ad_changes);
    /* every path really wrote between syncs (plain, string, atomic, fxsave, MMU) */
    for (int i = 0; i <= N_WINDOWS; i++) {
        g_assert_cmpuint(changed[i], >, 10);
    }
    g_assert_cmpuint(ad_changes, >, 10);
    g_assert_cmpstr(g.out->str, ==, "");
    X86JitStats js;
    if (x86_cpu_get_jit_stats(g.cpu, &js)) {
        /* the translator ran the guest's 64-bit store loops */
        g_test_message("translated: %" G_GUINT64_FORMAT " blocks, %" G_GUINT64_FORMAT " refused",
                       js.blocks, js.refused);
        g_assert_cmpuint(js.blocks, >, 0);
    }
    g_rand_free(rnd);
    watch_free(&a);
    watch_free(&b);
    cpu_guest_free(&g);
}

typedef struct LiveRun {
    CpuGuest *g;
    uint64_t insns;
    gint done;
    X86ExitReason why;
} LiveRun;

static gpointer live_vcpu(gpointer opaque)
{
    LiveRun *lr = opaque;
    lr->why = x86_cpu_exec(lr->g->cpu, lr->insns);
    g_atomic_int_set(&lr->done, 1);
    return NULL;
}

/* Precopy's shape: copy the reported pages while the vCPU runs, and once it has stopped one
 * more sync and copy leaves each reader's copy equal to RAM. */
static void test_cpu_live(gconstpointer jit)
{
    CpuGuest g;
    g_assert_true(cpu_guest_load(&g, CPU_DIRTY_BIN, "", NULL));
    g_assert_true(x86_cpu_set_jit(g.cpu, jit != NULL, NULL));
    Watch w[2];
    watch_init(&w[0], g.ram, "a");
    watch_init(&w[1], g.ram, "b");
    uint64_t *bm = g_new0(uint64_t, guest_ram_bitmap_words(g.ram));
    LiveRun lr = {.g = &g, .insns = DIRTY_MAP_LIVE_INSNS};
    GThread *t = g_thread_new("vcpu", live_vcpu, &lr);
    /* after the vCPU has stopped, one last round for each reader */
    for (int n = 0, after_stop = 0; after_stop < 2; n++) {
        bool stopped = g_atomic_int_get(&lr.done);
        Watch *cur = &w[n % 2];
        memset(bm, 0, guest_ram_bitmap_words(g.ram) * sizeof(uint64_t));
        guest_ram_dirty_reader_sync(cur->r, bm);
        cur->syncs++;
        for (uint64_t pi = 0; pi < g.ram->npages; pi++) {
            if (bm[pi / 64] & (1ull << (pi % 64))) {
                memcpy(cur->snap + pi * GUEST_PAGE_SIZE, g.ram->host + pi * GUEST_PAGE_SIZE,
                       GUEST_PAGE_SIZE);
            }
        }
        after_stop += stopped;
    }
    g_thread_join(t);
    g_assert_cmpint(lr.why, ==, X86_EXIT_BUDGET);
    for (int i = 0; i < 2; i++) {
        /* the stopped vCPU left nothing unreported: the copies are exact */
        watch_check(&w[i], "after stop", NULL, 0, NULL);
        g_assert_cmpuint(w[i].changed, ==, 0);
        g_test_message("reader %d: %" G_GUINT64_FORMAT " syncs while running", i, w[i].syncs);
        g_assert_cmpuint(w[i].syncs, >, 2);
        watch_free(&w[i]);
    }
    g_free(bm);
    cpu_guest_free(&g);
}

/* A DmaSpace over GuestRam, as pc-system gives its devices. */
static bool ram_dma_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    return guest_ram_read(opaque, gpa, buf, len);
}

static bool ram_dma_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    return guest_ram_write(opaque, gpa, buf, len);
}

#define RXQ_DESC  0x10000
#define RXQ_AVAIL 0x11000
#define RXQ_USED  0x12000
#define RX_BUFS   0x20000
#define RXQ_SIZE  8

static void le_put(GuestRam *ram, uint64_t gpa, uint64_t v, int size)
{
    uint8_t b[8];
    for (int i = 0; i < size; i++) {
        b[i] = v >> (8 * i);
    }
    g_assert_true(guest_ram_write(ram, gpa, b, size));
}

/*
 * Virtio DMA: the driver (this test, through guest_ram_write) posts receive buffers, the
 * device writes frames into them and the used ring; both readers check after each step.
 */
static void test_virtio_rx(void)
{
    GuestRam *ram = guest_ram_new(4u << 20, 0, NULL);
    DmaSpace dma = {.read = ram_dma_read, .write = ram_dma_write, .opaque = ram};
    const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    VirtIONet *n = virtio_net_new(&dma, mac);
    VirtIODevice *vdev = virtio_net_vdev(n);
    Watch a, b;
    watch_init(&a, ram, "a");
    watch_init(&b, ram, "b");

    virtio_driver_ready(vdev, 1ull << VIRTIO_F_VERSION_1, 0, RXQ_SIZE, RXQ_DESC, RXQ_AVAIL,
                        RXQ_USED);
    for (int i = 0; i < RXQ_SIZE; i++) {
        /* one buffer a page, each starting 100 bytes before a page end: frames straddle */
        uint64_t buf = RX_BUFS + (2 * i + 1) * GUEST_PAGE_SIZE - 100;
        le_put(ram, RXQ_DESC + 16 * i, buf, 8);
        le_put(ram, RXQ_DESC + 16 * i + 8, 1526, 4);
        le_put(ram, RXQ_DESC + 16 * i + 12, VRING_DESC_F_WRITE, 2);
    }
    watch_check(&a, "driver set-up", NULL, 0, NULL);
    uint64_t ranges[2][2] = {{RXQ_USED, RXQ_USED + GUEST_PAGE_SIZE},
                             {RX_BUFS, RX_BUFS + 2 * RXQ_SIZE * GUEST_PAGE_SIZE}};
    uint64_t changed[2] = {0};
    uint16_t avail = 0;
    for (int i = 0; i < 40; i++) {
        le_put(ram, RXQ_AVAIL + 4 + 2 * (avail % RXQ_SIZE), avail % RXQ_SIZE, 2);
        avail++;
        le_put(ram, RXQ_AVAIL + 2, avail, 2);
        watch_check(&a, "buffer posted", NULL, 0, NULL);
        uint8_t frame[600];
        for (unsigned j = 0; j < sizeof(frame); j++) {
            frame[j] = i * 7 + j;
        }
        g_assert_cmpint(virtio_net_receive(n, frame, sizeof(frame)), ==, sizeof(frame));
        watch_step(&a, &b, i % 3 == 0, "frame received", i, ranges, 2, changed);
    }
    watch_check(&b, "end", NULL, 0, NULL);
    /* the device's writes were seen: each frame changed the used ring and its buffer pages */
    g_assert_cmpuint(changed[0], ==, 40);
    g_assert_cmpuint(changed[1], >=, 40);
    watch_free(&a);
    watch_free(&b);
    virtio_net_free(n);
    guest_ram_free(ram);
}

/* The mapping half of pc-system's DmaSpace: virtio-blk reads the file straight into RAM. */
static uint64_t blk_copied; /* bytes virtio-blk wrote through the copying path */

static bool ram_dma_write_counted(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    blk_copied += len;
    return guest_ram_write(opaque, gpa, buf, len);
}

static void *ram_dma_map(void *opaque, uint64_t gpa, uint64_t len)
{
    return guest_ram_host_ptr(opaque, gpa, len);
}

static void ram_dma_written(void *opaque, uint64_t gpa, uint64_t len)
{
    GuestRam *ram = opaque;
    guest_ram_note_store_range(ram, guest_ram_offset(ram, gpa), len);
}

#define BLKQ      0x10000
#define BLK_HDR   0x13000
#define BLK_STAT  0x13100
#define BLK_BUFS  0x40000
#define BLK_QSIZE 16

/* Driver-side stores into RAM by the test itself, through the store path. */
static void driver_wrote(GuestRam *ram, uint64_t gpa, uint64_t len)
{
    guest_ram_note_store_range(ram, guest_ram_offset(ram, gpa), len);
}

/*
 * Virtio-blk reads land in guest RAM through preadv, not the copying store path: each page
 * they change must still be reported, to every reader. Each read is three segments that
 * straddle pages, at a new place each time.
 */
static void test_virtio_blk_read(void)
{
    GuestRam *ram = guest_ram_new(4u << 20, 0, NULL);
    DmaSpace dma = {.read = ram_dma_read,
                    .write = ram_dma_write_counted,
                    .map = ram_dma_map,
                    .written = ram_dma_written,
                    .opaque = ram};
    g_autofree uint8_t *disk = g_malloc(1 << 20);
    for (int i = 0; i < 1 << 20; i++) {
        disk[i] = 1 + i % 249; /* never zero: every page a read lands in changes */
    }
    TestImage img;
    test_image_open(&img, "drive0", disk, 1 << 20, false);
    GError *err = NULL;
    VirtIOBlock *dev = virtio_blk_new(&dma, img.blk, NULL, &err);
    g_assert_no_error(err);
    VirtIODevice *vdev = virtio_blk_vdev(dev);
    virtio_driver_ready(vdev, 1ull << VIRTIO_F_VERSION_1, 0, BLK_QSIZE, BLKQ, BLKQ + 0x1000,
                        BLKQ + 0x2000);
    Watch a, b;
    watch_init(&a, ram, "a");
    watch_init(&b, ram, "b");
    const uint32_t len[3] = {1536, 5120, 2560};
    uint64_t ranges[1][2] = {{BLK_BUFS, 4u << 20}};
    uint64_t changed[1] = {0};
    blk_copied = 0;
    for (int r = 0; r < 24; r++) {
        uint8_t *h = ram->host;
        memset(h + BLK_HDR, 0, 16);
        h[BLK_HDR] = VIRTIO_BLK_T_IN;
        h[BLK_HDR + 8] = r * 3; /* sector */
        vring_set_desc(h, BLKQ, 0, BLK_HDR, 16, VRING_DESC_F_NEXT, 1);
        uint64_t at = BLK_BUFS + r * 0x10000 + 0x300;
        for (int i = 0; i < 3; i++) {
            vring_set_desc(h, BLKQ, 1 + i, at, len[i], VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                           2 + i);
            at += len[i] + 0x1100;
        }
        vring_set_desc(h, BLKQ, 4, BLK_STAT, 1, VRING_DESC_F_WRITE, 0);
        put_le16(h, BLKQ + 0x1000 + 4 + 2 * (r % BLK_QSIZE), 0);
        put_le16(h, BLKQ + 0x1000 + 2, r + 1);
        driver_wrote(ram, BLKQ, 0x2000);
        driver_wrote(ram, BLK_HDR, 16);
        watch_check(&a, "request posted", NULL, 0, NULL);
        virtio_queue_notify(vdev, 0);
        while (get_le16(h, BLKQ + 0x2000 + 2) != r + 1) {
            g_main_context_iteration(NULL, TRUE);
        }
        g_assert_cmpuint(h[BLK_STAT], ==, VIRTIO_BLK_S_OK);
        watch_step(&a, &b, r % 5 == 0, "read completed", r, ranges, 1, changed);
    }
    watch_check(&b, "end", NULL, 0, NULL);
    /* Each read changed the pages of its three segments (5 or 6 pages), none copied. */
    g_assert_cmpuint(changed[0], >=, 24 * 5);
    g_assert_cmpuint(blk_copied, <, 24 * 64);
    watch_free(&a);
    watch_free(&b);
    virtio_blk_free(dev);
    test_image_close(&img);
    guest_ram_free(ram);
}

/*
 * The loaders: a pc machine puts a PVH kernel, an initrd, the command line, the boot
 * information and the ACPI tables into RAM that was all zeros when the readers were created.
 */
static void test_loaders(void)
{
    device_types_clear();
    hw_register_types();
    bql_attach_context(NULL);
    bql_lock();
    char *dir = g_dir_make_tmp(NULL, NULL);
    char *kernel = g_build_filename(dir, "vmlinux", NULL);
    char *initrd = g_build_filename(dir, "initrd", NULL);
    const guint8 code[] = {0xf4, 0xeb, 0xfd}; /* hlt; jmp $-1 */
    pvh_kernel_write(kernel, code, sizeof(code));
    g_autofree char *initrd_data = g_strnfill(3 * GUEST_PAGE_SIZE + 5, 'i');
    g_assert_true(g_file_set_contents(initrd, initrd_data, -1, NULL));
    PcMachineOptions opts = {.ram_size = 64u << 20,
                             .kernel = kernel,
                             .initrd = initrd,
                             .append = "console=ttyS0 dirty=map",
                             .acpi = true};
    GError *err = NULL;
    PcSystem *sys = pc_system_new(&opts, NULL, &err);
    g_assert_no_error(err);
    GuestRam *ram = pc_system_ram(sys);
    Watch a, b;
    watch_init(&a, ram, "a");
    watch_init(&b, ram, "b");
    g_assert_true(pc_system_realize(sys, &err));
    g_assert_no_error(err);
    watch_check(&a, "after the loaders", NULL, 0, NULL);
    watch_check(&b, "after the loaders", NULL, 0, NULL);
    g_test_message("the loaders changed %" G_GUINT64_FORMAT " pages", a.changed);
    /* kernel, initrd (4 pages), command line, start info and ACPI tables at least */
    g_assert_cmpuint(a.changed, >=, 8);
    g_assert_cmpuint(b.changed, ==, a.changed);
    watch_free(&a);
    watch_free(&b);
    pc_system_free(sys);
    bql_unlock();
    device_types_clear();
    g_unlink(kernel);
    g_unlink(initrd);
    g_rmdir(dir);
    g_free(kernel);
    g_free(initrd);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    g_test_add_data_func("/dirty-map/cpu-paths", NULL, test_cpu_paths);
    g_test_add_data_func("/dirty-map/cpu-live", NULL, test_cpu_live);
    g_test_add_data_func("/dirty-map/cpu-paths-jit", "jit", test_cpu_paths);
    g_test_add_data_func("/dirty-map/cpu-live-jit", "jit", test_cpu_live);
    g_test_add_func("/dirty-map/virtio-rx", test_virtio_rx);
    g_test_add_func("/dirty-map/virtio-blk-read", test_virtio_blk_read);
    g_test_add_func("/dirty-map/loaders", test_loaders);
    return g_test_run();
}
