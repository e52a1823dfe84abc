/*
 * Feeds random bytes to the CPU as guest code in real, 32-bit protected and 64-bit long
 * mode. The monitor must not crash, hang or touch host memory outside guest RAM (ASan).
 * Each input runs twice from the same start, the second time with the decoded-code cache
 * warm from the first: the final registers, RAM and exit reasons must be the same. The TSC
 * runs on a clock of the target's own that advances per read, so that time is no input.
 *
 * Input: byte 0 selects the mode and whether the decoded-code cache is on; the rest is
 * copied into guest RAM at the entry point (and, repeated, over the first 64 KiB so that
 * wild jumps land on fuzzer bytes too).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/ram.h"
#include "target/i386/cpu.h"

#define RAM_SIZE (2u << 20)
#define ENTRY    0x10000
/* Instructions a slice, five slices a run, two runs an input. A rep string instruction the fast
 * path does not take (cmps, scas, lods, ins, outs; movs/stos outside the TLB) retires once for
 * every REP_CHUNK elements, each 2-3 us under ASan with coverage: at 1000 a slice, one input ran
 * 40 s, past run-fuzzer's 10 s timeout (CI, stop 26). At 50 the worst case is ~1.5 s. */
#define SLICE 50

static uint32_t pio_read(void *opaque, uint16_t port, int size)
{
    return 0xffffffffu >> (32 - size * 8);
}

static void pio_write(void *opaque, uint16_t port, uint32_t val, int size)
{
}

static uint64_t mmio_read(void *opaque, uint64_t gpa, int size)
{
    return 0;
}

static void mmio_write(void *opaque, uint64_t gpa, uint64_t val, int size)
{
}

static int irq_ack(void *opaque)
{
    return 0x20;
}

/* A deterministic time base: every read moves it on by 1 us, from 0 at each run's start. */
static uint64_t fake_ns;

static uint64_t clock_ns(void *opaque)
{
    return fake_ns += 1000;
}

static const X86BusOps bus = {.pio_read = pio_read,
                              .pio_write = pio_write,
                              .mmio_read = mmio_read,
                              .mmio_write = mmio_write,
                              .irq_ack = irq_ack,
                              .clock_ns = clock_ns};

static GuestRam *ram;
static X86CPU *cpu;

typedef struct {
    X86CPUState state;
    X86ExitReason why[5];
    int runs;
    uint64_t insns;
    uint8_t *ram;
} RunResult;

/* 1 GiB identity map (2 MiB pages) at 0x1000..0x3fff, IDT of 256 gates to ENTRY */
static void build_tables(void)
{
    uint64_t e = 0x2000 | 7;
    guest_ram_write(ram, 0x1000, &e, 8);
    e = 0x3000 | 7;
    guest_ram_write(ram, 0x2000, &e, 8);
    for (uint64_t i = 0; i < 512; i++) {
        e = (i << 21) | 0x87;
        guest_ram_write(ram, 0x3000 + i * 8, &e, 8);
    }
    for (int v = 0; v < 256; v++) {
        uint64_t lo =
            (ENTRY & 0xffff) | (0x10ull << 16) | (0x8eull << 40) | ((uint64_t)(ENTRY >> 16) << 48);
        uint64_t hi = 0;
        guest_ram_write(ram, 0x4000 + v * 16, &lo, 8);
        guest_ram_write(ram, 0x4000 + v * 16 + 8, &hi, 8);
    }
}

static void run(const uint8_t *data, size_t size, RunResult *res)
{
    memset(ram->host, 0, RAM_SIZE);
    /* behind the CPU's back: it must drop what it decoded there */
    guest_ram_note_store_range(ram, 0, RAM_SIZE);
    fake_ns = 0;
    build_tables();
    for (size_t off = 0x10000; off < 0x20000; off += size - 1) {
        size_t n = size - 1 < 0x20000 - off ? size - 1 : 0x20000 - off;
        guest_ram_write(ram, off, data + 1, n);
    }
    x86_cpu_reset(cpu);
    static int cache_state = -1;
    if (cache_state != !(data[0] & 4)) {
        cache_state = !(data[0] & 4);
        x86_cpu_set_cache_enabled(cpu, cache_state);
    }
    X86CPUState *env = x86_cpu_env(cpu);
    switch (data[0] & 3) {
    case 0: /* real mode at 0000:ENTRY-ish */
        env->segs[R_CS].base = 0x10000;
        env->segs[R_CS].selector = 0x1000;
        env->rip = 0;
        env->idt.base = 0;
        env->idt.limit = 0x3ff;
        x86_cpu_state_changed(cpu);
        break;
    case 1:
        x86_cpu_setup_flat32(cpu);
        env->rip = ENTRY;
        break;
    default:
        x86_cpu_setup_long_mode(cpu, 0x1000, (data[0] & 3) == 3 ? 3 : 0);
        env->idt.base = 0x4000;
        env->idt.limit = 0xfff;
        env->regs[R_ESP] = 0x80000;
        env->rip = ENTRY;
        break;
    }
    x86_cpu_set_irq(cpu, data[0] & 8);
    uint64_t icount = x86_cpu_icount(cpu);
    res->runs = 0;
    while (res->runs < 5) {
        X86ExitReason why = x86_cpu_exec(cpu, SLICE);
        res->why[res->runs++] = why;
        if (why == X86_EXIT_RESET || why == X86_EXIT_HALTED) {
            break;
        }
    }
    res->insns = x86_cpu_icount(cpu) - icount;
    memset(&res->state, 0, sizeof(res->state));
    x86_cpu_get_state(cpu, &res->state);
    memcpy(res->ram, ram->host, RAM_SIZE);
}

/*
 * An x87 register is its 80 bits (mantissa, sign and exponent); the other 6 bytes of the
 * slot hold whatever the host left there.
 */
static bool same_state(const X86CPUState *a, const X86CPUState *b)
{
    for (int i = 0; i < 8; i++) {
        if (a->st[i].raw.mant != b->st[i].raw.mant || a->st[i].raw.exp != b->st[i].raw.exp) {
            return false;
        }
    }
    X86CPUState x = *a, y = *b;
    memset(x.st, 0, sizeof(x.st));
    memset(y.st, 0, sizeof(y.st));
    return memcmp(&x, &y, sizeof(x)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static RunResult first, second;
    if (!ram) {
        ram = guest_ram_new(RAM_SIZE, 0, NULL);
        cpu = x86_cpu_new(ram, &bus, NULL);
        first.ram = g_malloc(RAM_SIZE);
        second.ram = g_malloc(RAM_SIZE);
    }
    if (size < 2) {
        return 0;
    }
    run(data, size, &first);
    run(data, size, &second);
    if (first.runs != second.runs ||
        memcmp(first.why, second.why, sizeof(first.why[0]) * first.runs) ||
        first.insns != second.insns || !same_state(&first.state, &second.state) ||
        memcmp(first.ram, second.ram, RAM_SIZE) != 0) {
        abort();
    }
    return 0;
}
