/*
 * The vCPU thread: start, halt and wake on an interrupt, pause/resume, reset on triple
 * fault.
 */
#include "accel/tcg.h"

#include <string.h>

typedef struct Board {
    GuestRam *ram;
    X86CPU *cpu;
    AccelVCPU *vcpu;
    int resets; /* atomic */
} Board;

static int irq_ack(void *opaque)
{
    Board *b = opaque;
    x86_cpu_set_irq(b->cpu, false); /* edge: acknowledged once */
    return 0x08;
}

static const X86BusOps bus = {.irq_ack = irq_ack};

static void on_reset(void *opaque)
{
    Board *b = opaque;
    __atomic_fetch_add(&b->resets, 1, __ATOMIC_SEQ_CST);
    x86_cpu_reset(b->cpu);
    /* park the reset CPU in a hlt loop with interrupts off */
    X86CPUState *env = x86_cpu_env(b->cpu);
    env->segs[R_CS].base = 0;
    env->segs[R_CS].selector = 0;
    env->rip = 0x7d00;
    x86_cpu_state_changed(b->cpu);
}

static uint16_t counter(Board *b)
{
    uint16_t v;
    guest_ram_read(b->ram, 0x600, &v, 2);
    return v;
}

static void wait_for(Board *b, AccelVCPUState st)
{
    for (int i = 0; i < 5000 && accel_vcpu_state(b->vcpu) != st; i++) {
        g_usleep(1000);
    }
    g_assert_cmpint(accel_vcpu_state(b->vcpu), ==, st);
}

static void board_init(Board *b)
{
    memset(b, 0, sizeof(*b));
    b->ram = guest_ram_new(1 << 20, 0, NULL);
    b->cpu = x86_cpu_new(b->ram, &bus, b);
    X86CPUState *env = x86_cpu_env(b->cpu);
    env->segs[R_CS].base = 0;
    env->segs[R_CS].selector = 0;
    env->idt.base = 0;
    env->idt.limit = 0x3ff;
    env->regs[R_ESP] = 0x7000;
    env->rip = 0x7c00;
    x86_cpu_state_changed(b->cpu);
    /* 7c00: sti; hlt; jmp $-3    handler 0500: inc word [0x600]; iret */
    const uint8_t main_code[] = {0xfb, 0xf4, 0xeb, 0xfd};
    const uint8_t handler[] = {0xff, 0x06, 0x00, 0x06, 0xcf};
    const uint8_t park[] = {0xfa, 0xf4, 0xeb, 0xfd};
    const uint16_t vec[2] = {0x0500, 0};
    guest_ram_write(b->ram, 0x7c00, main_code, sizeof(main_code));
    guest_ram_write(b->ram, 0x7d00, park, sizeof(park));
    guest_ram_write(b->ram, 0x0500, handler, sizeof(handler));
    guest_ram_write(b->ram, 0x08 * 4, vec, sizeof(vec));
    b->vcpu = accel_vcpu_new(b->cpu, on_reset, b, NULL);
    g_assert_nonnull(b->vcpu);
}

static void board_fini(Board *b)
{
    accel_vcpu_free(b->vcpu);
    x86_cpu_free(b->cpu);
    guest_ram_free(b->ram);
}

static void test_halt_wake(void)
{
    Board b;
    board_init(&b);
    g_assert_cmpint(accel_vcpu_state(b.vcpu), ==, ACCEL_VCPU_STOPPED);
    accel_vcpu_start(b.vcpu);
    wait_for(&b, ACCEL_VCPU_HALTED);
    g_assert_cmpuint(counter(&b), ==, 0);
    for (int n = 1; n <= 3; n++) {
        accel_vcpu_set_irq(b.vcpu, true);
        for (int i = 0; i < 5000 && counter(&b) != n; i++) {
            g_usleep(1000);
        }
        g_assert_cmpuint(counter(&b), ==, n);
        wait_for(&b, ACCEL_VCPU_HALTED);
    }
    /* Halting and waking changed the state each time, and nobody waits for those changes:
     * no broadcast (a futex syscall each) until the stop that accel_vcpu_pause waits for. */
    AccelVCPUStats st;
    accel_vcpu_get_stats(b.vcpu, &st);
    g_assert_cmpuint(st.state_changes, >=, 8);
    g_assert_cmpuint(st.broadcasts, ==, 0);
    /* Each interrupt came to a sleeping vCPU: four halts slept in (the first and one after
     * each handler), every one the end of a slice. */
    g_assert_cmpuint(st.halted_waits, ==, 4);
    g_assert_cmpuint(st.hlt_exits, >=, st.halted_waits);
    accel_vcpu_pause(b.vcpu);
    accel_vcpu_get_stats(b.vcpu, &st);
    g_assert_cmpuint(st.broadcasts, ==, 1);
    board_fini(&b);
}

static void test_pause_resume(void)
{
    Board b;
    board_init(&b);
    /* a busy loop instead of hlt: 7c00: inc word [0x600]; jmp $-6 */
    const uint8_t loop[] = {0xff, 0x06, 0x00, 0x06, 0xeb, 0xfa};
    guest_ram_write(b.ram, 0x7c00, loop, sizeof(loop));
    accel_vcpu_start(b.vcpu);
    for (int i = 0; i < 5000 && counter(&b) == 0; i++) {
        g_usleep(1000);
    }
    accel_vcpu_pause(b.vcpu);
    g_assert_cmpint(accel_vcpu_state(b.vcpu), ==, ACCEL_VCPU_STOPPED);
    uint16_t c1 = counter(&b);
    g_assert_cmpuint(c1, >, 0);
    g_usleep(20000);
    g_assert_cmpuint(counter(&b), ==, c1); /* nothing runs while paused */
    accel_vcpu_resume(b.vcpu);
    for (int i = 0; i < 5000 && counter(&b) == c1; i++) {
        g_usleep(1000);
    }
    g_assert_cmpuint(counter(&b), !=, c1);
    g_assert_cmpuint(accel_vcpu_icount(b.vcpu), >, 0);
    board_fini(&b);
}

/* Slice after slice of a busy guest publishes no state change: nobody is woken for them. */
static void test_quiet_slices(void)
{
    Board b;
    board_init(&b);
    const uint8_t loop[] = {0xff, 0x06, 0x00, 0x06, 0xeb, 0xfa}; /* inc word [0x600]; jmp */
    guest_ram_write(b.ram, 0x7c00, loop, sizeof(loop));
    accel_vcpu_start(b.vcpu);
    AccelVCPUStats st = {0};
    for (int i = 0; i < 20000 && st.slices < 20; i++) {
        g_usleep(1000);
        accel_vcpu_get_stats(b.vcpu, &st);
    }
    accel_vcpu_pause(b.vcpu);
    accel_vcpu_get_stats(b.vcpu, &st);
    g_assert_cmpuint(st.slices, >=, 20);
    g_assert_cmpuint(st.state_changes, ==, 2); /* to RUNNING, back to STOPPED */
    g_assert_cmpuint(st.hlt_exits, ==, 0);
    g_assert_cmpuint(st.halted_waits, ==, 0); /* a stop is no halt */
    board_fini(&b);
}

static void test_triple_fault_reset(void)
{
    Board b;
    board_init(&b);
    /* no IDT in protected mode: ud2 triple-faults */
    x86_cpu_setup_flat32(b.cpu);
    X86CPUState *env = x86_cpu_env(b.cpu);
    env->idt.limit = 0;
    env->rip = 0x7e00;
    const uint8_t ud2[] = {0x0f, 0x0b};
    guest_ram_write(b.ram, 0x7e00, ud2, 2);
    accel_vcpu_start(b.vcpu);
    wait_for(&b, ACCEL_VCPU_HALTED);
    g_assert_cmpint(__atomic_load_n(&b.resets, __ATOMIC_SEQ_CST), ==, 1);
    board_fini(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/accel/tcg/halt-wake", test_halt_wake);
    g_test_add_func("/accel/tcg/pause-resume", test_pause_resume);
    g_test_add_func("/accel/tcg/triple-fault-reset", test_triple_fault_reset);
    g_test_add_func("/accel/tcg/quiet-slices", test_quiet_slices);
    return g_test_run();
}
