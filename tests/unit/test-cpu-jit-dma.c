/*
 * Self-modifying code by DMA: a virtio-blk read lands on the page of a loop that the CPU has
 * run hot (translated, with jit=on), and the next run executes the code read from the disk,
 * on the interpreter and on the translator alike. The device writes guest RAM both ways the
 * pc machine lets it: copied through the DmaSpace's write, and read straight into a mapping
 * then marked written (the path of Linux's large reads).
 *
 *   CODE: mov eax, IMM ; add rdx, rax ; sub r15, 1 ; jnz CODE ; hlt     (IMM 1, then 2 from disk)
 */
#include "block/block-backend.h"
#include "hw/virtio/virtio-blk.h"
#include "jit-diff.h"
#include "tests/include/test-image.h"
#include "tests/include/virtio-driver.h"
#include "tests/include/vring.h"

#define QSZ       8
#define Q_BASE    0x400000ull
#define HDR_ADDR  0x401000ull
#define STAT_ADDR 0x402000ull
#define DISK_SIZE (64u << 10)

typedef struct Fixture {
    GuestRam *ram;
    X86CPU *cpu;
    DmaSpace dma;
    TestImage img;
    VirtIOBlock *dev;
    uint16_t avail;
} Fixture;

static bool ram_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    return guest_ram_read(((Fixture *)opaque)->ram, gpa, buf, len);
}

static bool ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    return guest_ram_write(((Fixture *)opaque)->ram, gpa, buf, len);
}

/* As the pc machine maps RAM for a device: the write goes straight in, then written() notes it */
static void *ram_map(void *opaque, uint64_t gpa, uint64_t len)
{
    return guest_ram_host_ptr(((Fixture *)opaque)->ram, gpa, len);
}

static void ram_written(void *opaque, uint64_t gpa, uint64_t len)
{
    GuestRam *ram = ((Fixture *)opaque)->ram;
    guest_ram_note_store_range(ram, guest_ram_offset(ram, gpa), len);
}

static void loop_code(uint8_t *b, uint32_t imm)
{
    static const uint8_t code[] = {
        0xb8, 0,    0,    0,    0, /* mov eax, imm32 */
        0x48, 0x01, 0xc2,          /* add rdx, rax */
        0x49, 0x83, 0xef, 0x01,    /* sub r15, 1 */
        0x75, 0xf2,                /* jnz CODE */
        0xf4,                      /* hlt */
    };
    memcpy(b, code, sizeof(code));
    memcpy(b + 1, &imm, 4);
}

/* Runs the loop JD_LOOPS times from CODE without resetting the CPU (its caches stay); rdx. */
static uint64_t run_loop(Fixture *f)
{
    X86CPUState *env = x86_cpu_env(f->cpu);
    env->regs[R_EDX] = 0;
    env->regs[15] = JD_LOOPS;
    env->rip = JD_CODE;
    env->halted = 0;
    x86_cpu_state_changed(f->cpu);
    g_assert_cmpint(x86_cpu_exec(f->cpu, 100000), ==, X86_EXIT_HALTED);
    g_assert_cmpuint(env->rip, ==, JD_CODE + 15);
    return env->regs[R_EDX];
}

/* One virtio-blk read of the disk's first page onto CODE's page; waits for its completion. */
static void read_onto_code(Fixture *f)
{
    uint8_t h[16] = {VIRTIO_BLK_T_IN}; /* type, reserved, sector 0 */
    g_assert_true(guest_ram_write(f->ram, HDR_ADDR, h, sizeof(h)));
    uint8_t *ram = f->ram->host;
    vring_set_desc(ram, Q_BASE, 0, HDR_ADDR, 16, VRING_DESC_F_NEXT, 1);
    vring_set_desc(ram, Q_BASE, 1, JD_CODE, GUEST_PAGE_SIZE, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                   2);
    vring_set_desc(ram, Q_BASE, 2, STAT_ADDR, 1, VRING_DESC_F_WRITE, 0);
    ram[STAT_ADDR] = 0xee;
    put_le16(ram, Q_BASE + 0x100 + 4 + 2 * (f->avail % QSZ), 0);
    f->avail++;
    put_le16(ram, Q_BASE + 0x100 + 2, f->avail);
    virtio_queue_notify(virtio_blk_vdev(f->dev), 0);
    while (get_le16(ram, Q_BASE + 0x200 + 2) != f->avail) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpuint(ram[STAT_ADDR], ==, VIRTIO_BLK_S_OK);
}

static void test_dma_onto_code(gconstpointer data)
{
    const char *how = data;
    bool jit = strstr(how, "jit") != NULL, map = strstr(how, "map") != NULL;
    Fixture f = {0};
    f.ram = guest_ram_new(JD_RAM, 0, NULL);
    g_assert_nonnull(f.ram);
    f.cpu = x86_cpu_new(f.ram, NULL, NULL);
    g_assert_true(x86_cpu_set_jit(f.cpu, jit, NULL));
    jd_tables(f.ram);
    x86_cpu_reset(f.cpu);
    x86_cpu_setup_long_mode(f.cpu, JD_PT, 0);
    X86CPUState *env = x86_cpu_env(f.cpu);
    env->idt.base = JD_IDT;
    env->idt.limit = 0xfff;
    env->gdt.base = JD_GDT;
    env->gdt.limit = 0x1f;
    env->regs[R_ESP] = JD_STACK - 0x800;

    uint8_t code[GUEST_PAGE_SIZE] = {0};
    loop_code(code, 1);
    g_assert_true(guest_ram_write(f.ram, JD_CODE, code, sizeof(code)));
    g_autofree uint8_t *disk = g_malloc0(DISK_SIZE);
    loop_code(disk, 2);
    test_image_open(&f.img, "drive0", disk, DISK_SIZE, false);
    f.dma = (DmaSpace){.read = ram_read, .write = ram_write, .opaque = &f};
    if (map) {
        f.dma.map = ram_map;
        f.dma.written = ram_written;
    }
    GError *err = NULL;
    f.dev = virtio_blk_new(&f.dma, f.img.blk, "qc-smc", &err);
    g_assert_no_error(err);
    VirtIODevice *vdev = virtio_blk_vdev(f.dev);
    virtio_driver_ready(vdev, vdev->host_features, 0, QSZ, Q_BASE, Q_BASE + 0x100, Q_BASE + 0x200);

    g_assert_cmpuint(run_loop(&f), ==, JD_LOOPS);
    g_assert_cmpuint(run_loop(&f), ==, JD_LOOPS); /* the same code again, from the caches */
    X86JitStats js = {0};
    if (jit) {
        g_assert_true(x86_cpu_get_jit_stats(f.cpu, &js));
        g_assert_cmpuint(js.blocks, >, 0); /* the loop runs as host code */
    }
    uint32_t gen = guest_ram_code_gen(f.ram, JD_CODE);
    read_onto_code(&f);
    g_assert_cmpuint(guest_ram_code_gen(f.ram, JD_CODE), !=, gen);
    g_assert_cmpuint(run_loop(&f), ==, 2 * JD_LOOPS);
    if (jit) {
        X86JitStats after;
        g_assert_true(x86_cpu_get_jit_stats(f.cpu, &after));
        g_assert_cmpuint(after.blocks, >, js.blocks); /* the new code was translated in turn */
    }

    virtio_blk_free(f.dev);
    test_image_close(&f.img);
    x86_cpu_free(f.cpu);
    guest_ram_free(f.ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    g_test_add_data_func("/cpu/jit-dma/copied", "interp", test_dma_onto_code);
    g_test_add_data_func("/cpu/jit-dma/mapped", "interp map", test_dma_onto_code);
    g_test_add_data_func("/cpu/jit-dma/copied-jit", "jit", test_dma_onto_code);
    g_test_add_data_func("/cpu/jit-dma/mapped-jit", "jit map", test_dma_onto_code);
    return g_test_run();
}
