/*
 * Interpreter against translator: the same guest code runs on two CPUs, one with
 * `jit=on`, from the same state and memory, and the whole result is compared -- registers,
 * rip, flags, CR2, and every byte of the data and stack area. Used by test-cpu-jit and
 * fuzz-jit-diff.
 *
 *   generated body (random instructions, most in the translated subset, some not)
 *   LOOP: <body> ; sub r15, 1 ; jnz LOOP ; hlt          (r15 = JD_LOOPS: blocks get hot)
 *   IDT: every vector -> hlt                              (a fault ends the run comparably)
 *
 * Registers r13 (a small index), r14 (data base) and r15 (loop count) and rsp are never
 * destinations of the
 * generated code, except through push/pop and call/ret, which keep rsp inside the stack area.
 *
 * With mode32 set the same loop is 32-bit flat protected-mode code (jd_one32: no REX; esi and
 * ebp point into the data area, edi is the loop count, `dec edi; jnz LOOP; hlt`), paging off or
 * (paging32) on with 4 MiB pages over the 16 MiB, and 32-bit interrupt gates.
 *
 * The TSC's time base is a counter per side, restarted by every load and advanced by each
 * read: code that stores into itself can turn into rdtsc (0f 31), and host time would differ
 * between the two runs. Equal results also say both sides read the clock equally often.
 */
#ifndef TESTS_JIT_DIFF_H
#define TESTS_JIT_DIFF_H

#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "memory/ram.h"
#include "target/i386/cpu.h"

#define JD_RAM      (16u << 20)
#define JD_PT       0x1000ull /* PML4, PDPT, PD: 8 x 2 MiB user pages = 16 MiB */
#define JD_IDT      0x4000ull
#define JD_GDT      0x5000ull /* null, null, 64-bit code at 0x10, data at 0x18 */
#define JD_HALT     0x6000ull /* every vector lands on a hlt */
#define JD_CODE     0x100000ull
#define JD_DATA     0x200000ull /* r14 points in the middle of it */
#define JD_DATA_SZ  0x4000u
#define JD_STACK    0x300000ull /* top of the stack area */
#define JD_STACK_SZ 0x2000u
#define JD_LOOPS    24 /* well past JIT_HOT_RUNS: the loop gets translated */
#define JD_CODE_MAX 2048
#define JD_PD32     0x7000ull /* 32-bit paging: four 4 MiB pages */

typedef struct JitDiffCPU {
    GuestRam *ram;
    X86CPU *cpu;
    uint64_t clock_ns; /* the side's TSC time base */
} JitDiffCPU;

#define JD_CLOCK_START 1000000000ull

static inline uint64_t jd_clock_ns(void *opaque)
{
    JitDiffCPU *c = opaque;
    c->clock_ns += 1000;
    return c->clock_ns;
}

static const X86BusOps jd_bus = {.clock_ns = jd_clock_ns};

typedef struct JitDiff {
    JitDiffCPU side[2]; /* 0: interpreter, 1: translator */
    uint8_t code[JD_CODE_MAX];
    int len;
    uint64_t regs[16];
    X86Xmm xmm[16]; /* from the data's generator: the SSE forms start from random vectors */
    uint8_t data[JD_DATA_SZ];
    bool mode32, paging32; /* 32-bit flat code (jd_one32), with paging on */
} JitDiff;

static inline void jd_tables(GuestRam *ram)
{
    uint64_t e = 0x2000 | 7;
    guest_ram_write(ram, 0x1000, &e, 8);
    e = 0x3000 | 7;
    guest_ram_write(ram, 0x2000, &e, 8);
    for (uint64_t i = 0; i < JD_RAM >> 21; i++) {
        e = (i << 21) | 0x87;
        guest_ram_write(ram, 0x3000 + i * 8, &e, 8);
    }
    for (int v = 0; v < 256; v++) {
        uint64_t lo = (JD_HALT & 0xffff) | (0x10ull << 16) | (0x8eull << 40) |
                      ((uint64_t)(JD_HALT >> 16) << 48);
        uint64_t hi = 0;
        guest_ram_write(ram, JD_IDT + v * 16, &lo, 8);
        guest_ram_write(ram, JD_IDT + v * 16 + 8, &hi, 8);
    }
    uint64_t gdt[4] = {0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull};
    guest_ram_write(ram, JD_GDT, gdt, sizeof(gdt));
    uint8_t loop[3] = {0xf4, 0xeb, 0xfd}; /* hlt; jmp hlt */
    guest_ram_write(ram, JD_HALT, loop, sizeof(loop));
}

static inline void jd_init(JitDiff *d)
{
    memset(d, 0, sizeof(*d));
    for (int s = 0; s < 2; s++) {
        d->side[s].ram = guest_ram_new(JD_RAM, 0, NULL);
        g_assert_nonnull(d->side[s].ram);
        d->side[s].clock_ns = JD_CLOCK_START;
        d->side[s].cpu = x86_cpu_new(d->side[s].ram, &jd_bus, &d->side[s]);
        g_assert_true(x86_cpu_set_jit(d->side[s].cpu, s == 1, NULL));
    }
}

static inline void jd_fini(JitDiff *d)
{
    for (int s = 0; s < 2; s++) {
        x86_cpu_free(d->side[s].cpu);
        guest_ram_free(d->side[s].ram);
    }
}

/* ---- the generator: a byte source turned into instructions ---- */

typedef struct JdGen {
    const uint8_t *in;
    size_t n, pos;
    uint8_t *out;
    int len, max;
} JdGen;

static inline unsigned jd_take(JdGen *g, unsigned range)
{
    unsigned v = g->pos < g->n ? g->in[g->pos] : (unsigned)(g->pos * 37u);
    g->pos++;
    return range ? v % range : v;
}

static inline void jd_put(JdGen *g, const uint8_t *b, int n)
{
    if (g->len + n <= g->max) {
        memcpy(g->out + g->len, b, n);
        g->len += n;
    }
}

/* destinations: anything but rsp, r14, r15 */
static inline int jd_dst(JdGen *g)
{
    static const uint8_t r[] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12};
    return r[jd_take(g, sizeof(r))];
}

static inline int jd_src(JdGen *g)
{
    return jd_take(g, 16);
}

static inline uint8_t jd_rex(bool w, int reg, int index, int rm)
{
    return 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) | ((rm & 8) ? 1 : 0);
}

/* ModRM memory operand: [r14 + disp8], [r14 + idx * s + disp8], or [rip + disp32] into the
 * code (a read; a write there is self-modifying code, which both CPUs must agree on) */
static inline int jd_mem_form(JdGen *g, uint8_t *b, int reg, int *index_out, unsigned forms)
{
    unsigned form = jd_take(g, forms);
    int n = 0;
    *index_out = 0;
    if (form < 4) {
        b[n++] = 0x40 | ((reg & 7) << 3) | 6; /* [r14 + disp8] (rm 6 with REX.B) */
        b[n++] = (uint8_t)(jd_take(g, 0) & 0xf8);
    } else if (form < 7) {
        /* mostly r13 (small, never written) or r15 (the loop count); now and then any
         * register, which usually faults */
        int idx = jd_take(g, 16) == 0 ? jd_src(g) : jd_take(g, 2) ? 13 : 15;
        if (idx == 4 || idx == 14) {
            idx = 0;
        }
        *index_out = idx;
        b[n++] = 0x44 | ((reg & 7) << 3);
        b[n++] = (uint8_t)((jd_take(g, 4) << 6) | ((idx & 7) << 3) | 6);
        b[n++] = (uint8_t)jd_take(g, 0);
    } else {
        b[n++] = 0x05 | ((reg & 7) << 3);
        int32_t disp = -(int32_t)jd_take(g, 64);
        memcpy(b + n, &disp, 4);
        n += 4;
    }
    return n;
}

/* The SSE/SSE2 forms drawn (64- and 32-bit code): prefix (0: none), opcode after 0f, form:
 * 0 xmm, xmm; 1 xmm, mem; 2 mem, xmm; 3 gpr dst; 4 gpr src; 5 xmm, xmm, imm8; 6 xmm, imm8 (the
 * shift groups). jit-sse.c's and a few run by their handlers. */
static const uint8_t jd_sse_ops[][3] = {
    {0xf3, 0x6f, 1}, {0xf3, 0x7f, 2}, {0x66, 0xef, 0}, {0x66, 0xfe, 0}, {0x66, 0x74, 0},
    {0x66, 0xfb, 0}, {0x66, 0xd7, 3}, {0x66, 0x7e, 3}, {0x66, 0x6e, 4}, {0x66, 0x2e, 0},
    {0x66, 0x70, 5}, {0x66, 0xd4, 1}, {0x66, 0x6f, 1}, {0x66, 0x7f, 2}, {0x66, 0x6f, 0},
    {0xf3, 0x7f, 0}, {0x00, 0x10, 1}, {0x00, 0x11, 2}, {0x00, 0x28, 1}, {0x66, 0x29, 2},
    {0x00, 0x57, 0}, {0x66, 0x54, 1}, {0x66, 0xda, 1}, {0x66, 0xeb, 1}, {0x66, 0xdb, 0},
    {0x66, 0xdf, 0}, {0x66, 0xf8, 0}, {0x66, 0x60, 0}, {0x66, 0x74, 1}, {0x66, 0x64, 0},
    {0x66, 0x63, 0}, {0x66, 0xd1, 0}, {0x66, 0xf5, 0}, {0x66, 0xe4, 0}, {0x66, 0x6c, 0},
    {0x66, 0x73, 6}, {0x66, 0x71, 6}, {0x66, 0x72, 6}, {0xf3, 0x7e, 1}, {0xf3, 0x7e, 0},
    {0x66, 0xd6, 2}, {0x66, 0xd6, 0}, {0x66, 0x6e, 1}, {0x66, 0x7e, 2}, {0x66, 0xe7, 2},
    {0x00, 0x2b, 2}, {0x66, 0x70, 1}, {0x66, 0xf6, 1}, {0xf3, 0x10, 1}, {0xf2, 0x10, 1},
    {0xf3, 0x10, 0}, {0xf2, 0x10, 0}, {0xf3, 0x11, 2}, {0xf2, 0x11, 2}, {0xf2, 0x11, 0},
    {0x00, 0x12, 1}, {0x00, 0x16, 1}, {0x66, 0x12, 1}, {0x66, 0x16, 1}, {0x00, 0x12, 0},
    {0x00, 0x16, 0}, {0x00, 0x13, 2}, {0x00, 0x17, 2}, {0x66, 0x13, 2}, {0x66, 0x17, 2},
    {0xf3, 0x11, 0},
};

/* 66 0f 71-73 /g ib: one of the group's valid members */
static inline int jd_sse_shift_group(JdGen *g, uint8_t op)
{
    static const uint8_t grp[3][4] = {{2, 4, 6, 2}, {2, 4, 6, 6}, {2, 3, 6, 7}};
    return grp[op - 0x71][jd_take(g, 4)];
}

static inline int jd_mem(JdGen *g, uint8_t *b, int reg, int *index_out)
{
    return jd_mem_form(g, b, reg, index_out, 8);
}

/* the data forms only: a read-modify-write of the code would turn it, more often than a
 * store does, into a loop that runs to the budget (slow, and not compared); test-cpu-jit's
 * smc rows patch code through those instructions */
static inline int jd_mem_data(JdGen *g, uint8_t *b, int reg, int *index_out)
{
    return jd_mem_form(g, b, reg, index_out, 7);
}

/* At b + n: a jcc over one more instruction that `one` generates (rel8 when asked and it
 * fits), or a jcc rel32 of 0 before it (taken or not, it goes on there); returns the new n. */
static inline int jd_jcc_over(JdGen *g, uint8_t *b, int n, void (*one)(JdGen *), bool rel8)
{
    JdGen sub = *g;
    uint8_t next[40];
    sub.out = next;
    sub.len = 0;
    sub.max = sizeof(next);
    sub.pos++;
    one(&sub);
    g->pos = sub.pos;
    int cc = jd_take(g, 16);
    if (sub.len > 0 && sub.len < 120 && rel8) {
        b[n++] = 0x70 | cc;
        b[n++] = (uint8_t)sub.len;
    } else {
        memcpy(b + n, "\x0f\x80\x00\x00\x00\x00", 6);
        b[n + 1] |= cc;
        n += 6;
    }
    memcpy(b + n, next, sub.len);
    return n + sub.len;
}

static inline void jd_one(JdGen *g)
{
    uint8_t b[64]; /* a jcc and the instruction it skips (at most 40 bytes) */
    int n = 0, idx;
    bool w = jd_take(g, 3) != 0;
    unsigned kind = jd_take(g, 36);
    static const uint8_t alu[] = {0x01, 0x03, 0x09, 0x0b, 0x21, 0x23, 0x29, 0x2b, 0x31,
                                  0x33, 0x39, 0x3b, 0x11, 0x19, 0x85, 0x87, 0x63};
    switch (kind) {
    case 0:
    case 1:
    case 2: { /* ALU between registers, adc/sbb, xchg (the interpreter's, mixed in), movsxd */
        uint8_t op = alu[jd_take(g, sizeof(alu))];
        bool to_reg = (op & 2) || op == 0x85;
        int d = jd_dst(g), s = jd_src(g);
        int reg = to_reg ? d : s, rm = to_reg ? s : d;
        if (op == 0x87) {
            reg = jd_dst(g);
        }
        b[n++] = jd_rex(w, reg, 0, rm);
        b[n++] = op;
        b[n++] = 0xc0 | ((reg & 7) << 3) | (rm & 7);
        break;
    }
    case 3:
    case 4: { /* ALU or mov with a memory source; the ALU forms a word (66) now and then */
        static const uint8_t ops[] = {0x03, 0x0b, 0x23, 0x2b, 0x33, 0x3b, 0x8b, 0x8b, 0x13, 0x63};
        int d = jd_dst(g);
        uint8_t m[8];
        int mn = jd_mem(g, m, d, &idx);
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        bool word = op < 0x40 && jd_take(g, 4) == 0;
        if (word) {
            b[n++] = 0x66;
        }
        b[n++] = jd_rex(w && !word, d, idx, 14);
        b[n++] = op;
        memcpy(b + n, m, mn);
        n += mn;
        break;
    }
    case 5:
    case 6: { /* store a register, or an immediate; a word (66) now and then */
        int s = jd_src(g);
        uint8_t m[8];
        bool imm = jd_take(g, 3) == 0;
        bool word = jd_take(g, 4) == 0;
        int mn = jd_mem(g, m, imm ? 0 : s, &idx);
        if (word) {
            b[n++] = 0x66;
        }
        b[n++] = jd_rex(w && !word, imm ? 0 : s, idx, 14);
        b[n++] = imm ? 0xc7 : 0x89;
        memcpy(b + n, m, mn);
        n += mn;
        if (imm) {
            uint32_t v = jd_take(g, 0) * 0x01010101u;
            memcpy(b + n, &v, word ? 2 : 4);
            n += word ? 2 : 4;
        }
        break;
    }
    case 7: { /* mov r, imm */
        int d = jd_dst(g);
        b[n++] = jd_rex(w, 0, 0, d);
        b[n++] = 0xb8 + (d & 7);
        uint64_t v = (uint64_t)jd_take(g, 0) << (jd_take(g, 8) * 8);
        if (jd_take(g, 2)) {
            v = ~v;
        }
        memcpy(b + n, &v, w ? 8 : 4);
        n += w ? 8 : 4;
        break;
    }
    case 8:
    case 9: { /* ALU r, imm8 / imm32 */
        int d = jd_dst(g);
        static const uint8_t ext[] = {0, 1, 4, 5, 6, 7, 2, 3};
        bool i8 = jd_take(g, 2);
        b[n++] = jd_rex(w, 0, 0, d);
        b[n++] = i8 ? 0x83 : 0x81;
        b[n++] = 0xc0 | (ext[jd_take(g, 8)] << 3) | (d & 7);
        uint32_t v = jd_take(g, 0) * (i8 ? 1 : 0x01000001u);
        memcpy(b + n, &v, i8 ? 1 : 4);
        n += i8 ? 1 : 4;
        break;
    }
    case 10: { /* lea */
        int d = jd_dst(g);
        uint8_t m[8];
        int mn = jd_mem(g, m, d, &idx);
        b[n++] = jd_rex(w, d, idx, 14);
        b[n++] = 0x8d;
        memcpy(b + n, m, mn);
        n += mn;
        break;
    }
    case 11: { /* push r / pop r, in pairs so that rsp stays in the stack area */
        int s = jd_src(g), d = jd_dst(g);
        if (s >= 8) {
            b[n++] = 0x41;
        }
        b[n++] = 0x50 + (s & 7);
        if (d >= 8) {
            b[n++] = 0x41;
        }
        b[n++] = 0x58 + (d & 7);
        break;
    }
    case 12: /* call the next instruction, then drop the return address */
        memcpy(b, "\xe8\x00\x00\x00\x00\x48\x83\xc4\x08", 9);
        n = 9;
        break;
    case 13: /* call a ret two bytes on, which returns to a jmp over it */
        memcpy(b, "\xe8\x02\x00\x00\x00\xeb\x01\xc3", 8);
        n = 8;
        break;
    case 14:
    case 15: /* jcc over the next instruction (rel8), or a not-taken/taken jcc rel32 of 0 */
        n = jd_jcc_over(g, b, n, jd_one, kind == 14);
        break;
    case 16: { /* test/cmp r, r */
        int a = jd_src(g), c = jd_src(g);
        b[n++] = jd_rex(w, a, 0, c);
        b[n++] = jd_take(g, 2) ? 0x85 : 0x39;
        b[n++] = 0xc0 | ((a & 7) << 3) | (c & 7);
        break;
    }
    case 17: { /* shifts by an immediate or 1, test with an immediate, inc, rol, neg and not
                * (also of a byte register) */
        static const uint8_t forms[][3] = {
            {0xc1, 0xe0, 1}, {0xc1, 0xe8, 1}, {0xc1, 0xf8, 1}, {0xd1, 0xe0, 0}, {0xd1, 0xe8, 0},
            {0xd1, 0xf8, 0}, {0xf7, 0xc0, 4}, {0xff, 0xc0, 0}, {0xf7, 0xd8, 0}, {0xc1, 0xc0, 1},
            {0xf6, 0xd8, 0}, {0xf7, 0xd0, 0}, {0xf6, 0xd0, 0}, {0xc0, 0xe0, 1}, {0xc0, 0xe8, 1},
            {0xc0, 0xf8, 1}, {0xd0, 0xe8, 0},
        };
        int d = jd_dst(g);
        unsigned f = jd_take(g, G_N_ELEMENTS(forms));
        b[n++] = jd_rex(w, 0, 0, d);
        b[n++] = forms[f][0];
        b[n++] = forms[f][1] | (d & 7);
        for (int k = 0; k < forms[f][2]; k++) {
            /* counts 0 to 70: 0 and past the width are masked cases too */
            b[n++] = (uint8_t)(k ? jd_take(g, 0) : jd_take(g, 71));
        }
        break;
    }
    case 20: { /* movzx/movsx from a byte or word register (REX or not) or memory */
        static const uint8_t ops[] = {0xb6, 0xb7, 0xbe, 0xbf};
        int d = jd_dst(g);
        uint8_t op = ops[jd_take(g, 4)];
        if (jd_take(g, 2)) {
            int s = jd_src(g);
            bool rex = w || d >= 8 || s >= 8 || jd_take(g, 2);
            if (rex) {
                b[n++] = jd_rex(w, d, 0, s);
            }
            b[n++] = 0x0f;
            b[n++] = op;
            b[n++] = 0xc0 | ((d & 7) << 3) | (s & 7);
        } else {
            uint8_t m[8];
            int mn = jd_mem(g, m, d, &idx);
            b[n++] = jd_rex(w, d, idx, 14);
            b[n++] = 0x0f;
            b[n++] = op;
            memcpy(b + n, m, mn);
            n += mn;
        }
        break;
    }
    case 18: /* nop, pause, or 66 90 */
        if (jd_take(g, 2)) {
            b[n++] = jd_take(g, 2) ? 0xf3 : 0x66;
        }
        b[n++] = 0x90;
        break;
    case 19: { /* the flags so far into a register: every lazily kept flag is compared; or
                * some of CF PF AF ZF changed through popfq after a cmp whose flags popfq
                * overwrites: translated code runs popfq by its handler and goes on after it
                * (the flags then as popf left them: CC_OP_EFLAGS, not the cmp's) */
        if (jd_take(g, 4) == 0) {
            static const uint8_t xor_top[] = {0x9c, 0x83, 0x34, 0x24}; /* xor dword [rsp], i8 */
            memcpy(b + n, xor_top, sizeof(xor_top));
            n += sizeof(xor_top);
            b[n++] = (uint8_t)(jd_take(g, 0) & 0x55);
            b[n++] = 0x48; /* cmp r64, r64 (rax-rdi) */
            b[n++] = 0x39;
            b[n++] = (uint8_t)(0xc0 | (jd_take(g, 8) << 3) | jd_take(g, 8));
            b[n++] = 0x9d; /* popfq */
            break;
        }
        int d = jd_dst(g);
        b[n++] = 0x9c; /* pushfq */
        if (d >= 8) {
            b[n++] = 0x41;
        }
        b[n++] = 0x58 + (d & 7);
        break;
    }
    case 22: { /* byte forms: ALU, test, mov between registers, with an immediate, inc/dec;
                * without REX, registers 4-7 are ah-bh */
        static const uint8_t ops[] = {0x00, 0x02, 0x08, 0x0a, 0x20, 0x22, 0x28,
                                      0x2a, 0x30, 0x32, 0x38, 0x3a, 0x84, 0x88,
                                      0x8a, 0x10, 0x80, 0xf6, 0xfe, 0xb0, 0xc6};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        bool rex = jd_take(g, 2);
        int d = rex ? jd_dst(g) : (int)jd_take(g, 8), s = rex ? jd_src(g) : (int)jd_take(g, 8);
        bool to_reg = op < 0x80 ? (op & 2) != 0 : op == 0x8a;
        int reg = to_reg ? d : s, rm = to_reg ? s : d;
        if (rex) {
            b[n++] = jd_rex(false, reg, 0, rm);
        }
        if (op == 0xb0) {
            b[n++] = 0xb0 + (d & 7);
            b[n++] = (uint8_t)jd_take(g, 0);
        } else if (op >= 0x80 && op != 0x84 && op != 0x88 && op != 0x8a) {
            static const uint8_t ext80[] = {0, 1, 4, 5, 6, 7, 2};
            int ext = op == 0x80   ? ext80[jd_take(g, sizeof(ext80))]
                      : op == 0xfe ? jd_take(g, 2)
                                   : 0;
            b[n++] = op;
            b[n++] = 0xc0 | (ext << 3) | (d & 7);
            if (op != 0xfe) {
                b[n++] = (uint8_t)jd_take(g, 0);
            }
        } else {
            b[n++] = op;
            b[n++] = 0xc0 | ((reg & 7) << 3) | (rm & 7);
        }
        break;
    }
    case 23: { /* imul r, r/m and imul r, r/m, imm8 / imm32 */
        int d = jd_dst(g);
        unsigned f = jd_take(g, 3);
        bool mem = jd_take(g, 3) == 0;
        uint8_t m[8];
        int mn = 0;
        idx = 0;
        if (mem) {
            mn = jd_mem(g, m, d, &idx);
        } else {
            int s = jd_src(g);
            m[mn++] = 0xc0 | ((d & 7) << 3) | (s & 7);
            idx = s; /* its REX bit goes in REX.B */
        }
        b[n++] = mem ? jd_rex(w, d, idx, 14) : jd_rex(w, d, 0, idx);
        if (f == 0) {
            b[n++] = 0x0f;
            b[n++] = 0xaf;
        } else {
            b[n++] = f == 1 ? 0x6b : 0x69;
        }
        memcpy(b + n, m, mn);
        n += mn;
        if (f) {
            uint32_t v = jd_take(g, 0) * (f == 1 ? 1 : 0x00010101u);
            if (jd_take(g, 2)) {
                v = -v;
            }
            memcpy(b + n, &v, f == 1 ? 1 : 4);
            n += f == 1 ? 1 : 4;
        }
        break;
    }
    case 24: { /* cmovcc from a register or memory, setcc into a byte register */
        int cc = jd_take(g, 16);
        if (jd_take(g, 3) == 0) {
            bool rex = jd_take(g, 2);
            int d = rex ? jd_dst(g) : (int)jd_take(g, 8);
            if (rex) {
                b[n++] = jd_rex(false, 0, 0, d);
            }
            b[n++] = 0x0f;
            b[n++] = 0x90 | cc;
            b[n++] = 0xc0 | (d & 7);
        } else if (jd_take(g, 2)) {
            int d = jd_dst(g), s = jd_src(g);
            b[n++] = jd_rex(w, d, 0, s);
            b[n++] = 0x0f;
            b[n++] = 0x40 | cc;
            b[n++] = 0xc0 | ((d & 7) << 3) | (s & 7);
        } else {
            int d = jd_dst(g);
            uint8_t m[8];
            int mn = jd_mem(g, m, d, &idx);
            b[n++] = jd_rex(w, d, idx, 14);
            b[n++] = 0x0f;
            b[n++] = 0x40 | cc;
            memcpy(b + n, m, mn);
            n += mn;
        }
        break;
    }
    case 25: { /* rol/ror by an immediate or 1, inc/dec of a register */
        static const uint8_t forms[][3] = {
            {0xc1, 0xc0, 1}, {0xc1, 0xc8, 1}, {0xd1, 0xc0, 0},
            {0xd1, 0xc8, 0}, {0xff, 0xc0, 0}, {0xff, 0xc8, 0},
        };
        int d = jd_dst(g);
        unsigned f = jd_take(g, G_N_ELEMENTS(forms));
        b[n++] = jd_rex(w, 0, 0, d);
        b[n++] = forms[f][0];
        b[n++] = forms[f][1] | (d & 7);
        if (forms[f][2]) {
            b[n++] = (uint8_t)jd_take(g, 71);
        }
        break;
    }
    case 26: { /* al/eax/rax with an immediate, adc/sbb too */
        static const uint8_t ops[] = {0x04, 0x05, 0x0c, 0x0d, 0x24, 0x25, 0x2c, 0x2d,
                                      0x34, 0x35, 0x3c, 0x3d, 0xa8, 0xa9, 0x14, 0x1d};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        if (w && (op & 1)) {
            b[n++] = 0x48;
        }
        b[n++] = op;
        uint32_t v = jd_take(g, 0) * ((op & 1) ? 0x01000001u : 1);
        memcpy(b + n, &v, (op & 1) ? 4 : 1);
        n += (op & 1) ? 4 : 1;
        break;
    }
    case 27: { /* cmp and test with a memory operand: r/m, reg; r/m, imm (byte, word or
                * not) */
        static const uint8_t ops[][3] = {
            {0x38, 0, 0}, {0x39, 0, 0}, {0x84, 0, 0}, {0x85, 0, 0}, {0x80, 7, 1},
            {0x81, 7, 4}, {0x83, 7, 1}, {0xf6, 0, 1}, {0xf7, 0, 4},
        };
        unsigned f = jd_take(g, G_N_ELEMENTS(ops));
        bool has_reg = ops[f][0] < 0x80;
        bool word = (ops[f][0] & 1) && jd_take(g, 4) == 0;
        int s = has_reg ? jd_src(g) : ops[f][1];
        uint8_t m[8];
        int mn = jd_mem(g, m, s, &idx);
        if (word) {
            b[n++] = 0x66;
        }
        b[n++] = jd_rex(w && !word, has_reg ? s : 0, idx, 14);
        b[n++] = ops[f][0];
        memcpy(b + n, m, mn);
        n += mn;
        uint32_t v = jd_take(g, 0) * (ops[f][2] == 4 ? 0x01000001u : 1);
        if (jd_take(g, 2)) {
            v = -v;
        }
        int isz = word && ops[f][2] == 4 ? 2 : ops[f][2];
        memcpy(b + n, &v, isz);
        n += isz;
        break;
    }
    case 28: { /* ALU with a memory destination, locked or not, word-sized or not */
        static const uint8_t ops[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29,
                                      0x31, 0x00, 0x30, 0x83, 0x81, 0x80};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        bool word = jd_take(g, 4) == 0;
        if (jd_take(g, 2)) {
            b[n++] = 0xf0; /* lock */
        }
        if (word) {
            b[n++] = 0x66;
        }
        int reg = op < 0x80 ? jd_src(g) : (int)jd_take(g, 7); /* /0-/6: not cmp */
        uint8_t m[8];
        int mn = jd_mem_data(g, m, reg, &idx);
        b[n++] = jd_rex(w && !word, op < 0x80 ? reg : 0, idx, 14);
        b[n++] = op;
        memcpy(b + n, m, mn);
        n += mn;
        int isz = op == 0x81 ? (word ? 2 : 4) : op >= 0x80 ? 1 : 0;
        uint32_t v = jd_take(g, 0) * 0x01010101u;
        memcpy(b + n, &v, isz);
        n += isz;
        break;
    }
    case 29: { /* unary forms: inc/dec/not/neg of memory (locked or not), mul/imul of a
                * register or memory, div/idiv of memory after xor edx / cqo, shifts by cl
                * and shifts of memory by an immediate */
        unsigned f = jd_take(g, 6);
        uint8_t m[8];
        int mn = jd_mem_data(g, m, 0, &idx);
        if (f == 0 || f == 1) { /* inc dec not neg of memory */
            bool grp3 = f == 1;
            int dg = (grp3 ? 2 : 0) + jd_take(g, 2); /* fe/ff /0 /1, f6/f7 /2 /3 */
            if (jd_take(g, 2)) {
                b[n++] = 0xf0;
            }
            b[n++] = jd_rex(w, 0, idx, 14);
            b[n++] = (grp3 ? 0xf6 : 0xfe) | jd_take(g, 2);
            m[0] |= dg << 3;
        } else if (f == 2) { /* mul/imul of a register or memory */
            int dg = 4 + jd_take(g, 2);
            if (jd_take(g, 2)) {
                int s = jd_src(g);
                m[0] = 0xc0 | (s & 7);
                mn = 1;
                idx = s; /* REX.B below */
                b[n++] = jd_rex(w, 0, 0, s);
            } else {
                b[n++] = jd_rex(w, 0, idx, 14);
            }
            b[n++] = 0xf6 | jd_take(g, 2);
            m[0] |= dg << 3;
        } else if (f == 3) { /* xor edx, edx; div / cqo; idiv (of memory: rarely #DE) */
            bool sgn = jd_take(g, 2);
            if (sgn) {
                b[n++] = jd_rex(w, 0, 0, 0);
                b[n++] = 0x99;
            } else {
                memcpy(b + n, "\x31\xd2", 2);
                n += 2;
            }
            b[n++] = jd_rex(w, 0, idx, 14);
            b[n++] = 0xf7;
            m[0] |= (sgn ? 7 : 6) << 3;
        } else if (f == 4) { /* shifts and rotates by cl: a register or memory */
            int dg = jd_take(g, 8);
            if (jd_take(g, 2)) {
                int d = jd_dst(g);
                m[0] = 0xc0 | (d & 7);
                mn = 1;
                b[n++] = jd_rex(w, 0, 0, d);
            } else {
                b[n++] = jd_rex(w, 0, idx, 14);
            }
            b[n++] = 0xd2 | jd_take(g, 2);
            m[0] |= dg << 3;
        } else { /* shift or rotate of memory by an immediate */
            b[n++] = jd_rex(w, 0, idx, 14);
            b[n++] = 0xc1;
            m[0] |= jd_take(g, 8) << 3;
            m[mn++] = (uint8_t)jd_take(g, 70);
        }
        memcpy(b + n, m, mn); /* c1's count is the last byte of m */
        n += mn;
        break;
    }
    case 30: { /* xadd, cmpxchg, xchg with memory (locked or not); bts/btr of memory */
        static const uint8_t ops[][2] = {{0x0f, 0xc1}, {0x0f, 0xb1}, {0x87, 0},
                                         {0x0f, 0xc0}, {0x0f, 0xb0}, {0x0f, 0xba}};
        unsigned f = jd_take(g, G_N_ELEMENTS(ops));
        bool byte = f == 3 || f == 4;
        int r = f == 5 ? 5 + jd_take(g, 3) : jd_dst(g); /* ba: /5 bts /6 btr /7 btc */
        uint8_t m[8];
        int mn = jd_mem_data(g, m, r, &idx);
        if (jd_take(g, 2)) {
            b[n++] = 0xf0;
        }
        if (f <= 1 && jd_take(g, 4) == 0) {
            b[n++] = 0x66; /* a word xadd or cmpxchg */
            w = false;
        }
        b[n++] = jd_rex(w && !byte, f == 5 ? 0 : r, idx, 14);
        b[n++] = ops[f][0];
        if (ops[f][1]) {
            b[n++] = ops[f][1];
        }
        memcpy(b + n, m, mn);
        n += mn;
        if (f == 5) {
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    case 31: { /* cbw/cwd families, rdtsc, bswap, push imm and pop, a frame and leave,
                * word-sized ALU and moves between registers, indirect call and jmp, cli and
                * sti (CPL 0; no interrupt comes, IF is compared through pushfq) */
        unsigned f = jd_take(g, 9);
        int d = jd_dst(g), s = jd_src(g);
        if (f == 8) {
            unsigned k = jd_take(g, 3);
            if (k != 1) {
                b[n++] = 0xfa;
            }
            if (k != 0) {
                b[n++] = 0xfb;
            }
        } else if (f == 7) {
            /* lea rax, [rip + 4]; call rax; jmp +1; ret; lea rcx, [rip + 2]; jmp rcx */
            static const uint8_t ind[] = {0x48, 0x8d, 0x05, 0x04, 0x00, 0x00, 0x00,
                                          0xff, 0xd0, 0xeb, 0x01, 0xc3, 0x48, 0x8d,
                                          0x0d, 0x02, 0x00, 0x00, 0x00, 0xff, 0xe1};
            /* a ret going back to two call sites in turn: jmp +1; F: ret; call F; call F */
            static const uint8_t two[] = {0xeb, 0x01, 0xc3, 0xe8, 0xfa, 0xff, 0xff,
                                          0xff, 0xe8, 0xf5, 0xff, 0xff, 0xff};
            /* an indirect call to one of two functions by the loop count's parity (the
             * exits that miss their linked target and take the inline lookup, jit.c):
             * lea rax, [rip + A]; lea rcx, [rip + B]; test r15b, 1; cmovnz rax, rcx;
             * call rax; jmp +5; A: not rax; ret; B: ret */
            static const uint8_t alt[] = {0x48, 0x8d, 0x05, 0x13, 0x00, 0x00, 0x00, 0x48,
                                          0x8d, 0x0d, 0x10, 0x00, 0x00, 0x00, 0x41, 0xf6,
                                          0xc7, 0x01, 0x48, 0x0f, 0x45, 0xc1, 0xff, 0xd0,
                                          0xeb, 0x05, 0x48, 0xf7, 0xd0, 0xc3, 0xc3};
            unsigned k = jd_take(g, 3);
            const uint8_t *form = k == 0 ? ind : k == 1 ? two : alt;
            n = k == 0 ? sizeof(ind) : k == 1 ? sizeof(two) : sizeof(alt);
            memcpy(b, form, n);
        } else if (f == 0) {
            b[n++] = jd_rex(w, 0, 0, 0);
            b[n++] = jd_take(g, 2) ? 0x98 : 0x99;
        } else if (f == 1) {
            memcpy(b + n, "\x0f\x31", 2); /* rdtsc: the harness's clock (jit-diff.h) */
            n += 2;
        } else if (f == 2) {
            b[n++] = jd_rex(w, 0, 0, d);
            b[n++] = 0x0f;
            b[n++] = 0xc8 + (d & 7);
        } else if (f == 3) {
            bool i8 = jd_take(g, 2);
            b[n++] = i8 ? 0x6a : 0x68;
            uint32_t v = jd_take(g, 0) * 0x01000001u;
            memcpy(b + n, &v, i8 ? 1 : 4);
            n += i8 ? 1 : 4;
            if (d >= 8) {
                b[n++] = 0x41;
            }
            b[n++] = 0x58 + (d & 7);
        } else if (f == 4) {
            memcpy(b + n, "\x55\x48\x89\xe5\xc9", 5); /* push rbp; mov rbp, rsp; leave */
            n += 5;
        } else if (f == 5) { /* 66: add or adc sbb and sub xor cmp mov test, into r16 d */
            static const uint8_t ops[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29,
                                          0x31, 0x39, 0x89, 0x3b, 0x85};
            b[n++] = 0x66;
            b[n++] = jd_rex(false, s, 0, d);
            b[n++] = ops[jd_take(g, sizeof(ops))];
            b[n++] = 0xc0 | ((s & 7) << 3) | (d & 7);
        } else { /* 66: group 1 with imm8, cmp word [mem], imm8 */
            uint8_t m[8];
            int mn = jd_mem(g, m, 7, &idx);
            b[n++] = 0x66;
            if (jd_take(g, 2)) {
                b[n++] = jd_rex(false, 0, idx, 14);
                b[n++] = 0x83;
                memcpy(b + n, m, mn);
                n += mn;
            } else {
                b[n++] = jd_rex(false, 0, 0, d);
                b[n++] = 0x83;
                b[n++] = 0xc0 | (jd_take(g, 8) << 3) | (d & 7);
            }
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    case 32: { /* stos and movs into the data area, one or rep with a small count; now and
                * then std; pushfq; pop r; cld instead */
        if (jd_take(g, 5) == 0) {
            int d = jd_dst(g);
            b[n++] = 0xfd;
            b[n++] = 0x9c;
            b[n++] = jd_rex(false, 0, 0, d);
            b[n++] = 0x58 | (d & 7);
            b[n++] = 0xfc;
            break;
        }
        int32_t dd = (int32_t)(jd_take(g, 64) * 8) - 256;
        int32_t sd = (int32_t)(jd_take(g, 64) * 8) - 256;
        b[n++] = 0x49; /* lea rdi, [r14 + dd] */
        b[n++] = 0x8d;
        b[n++] = 0xbe;
        memcpy(b + n, &dd, 4);
        n += 4;
        b[n++] = 0x49; /* lea rsi, [r14 + sd] */
        b[n++] = 0x8d;
        b[n++] = 0xb6;
        memcpy(b + n, &sd, 4);
        n += 4;
        bool rep = jd_take(g, 2);
        if (rep) {
            b[n++] = 0xb9; /* mov ecx, small */
            uint32_t cnt = jd_take(g, 20);
            memcpy(b + n, &cnt, 4);
            n += 4;
            b[n++] = 0xf3;
        }
        static const uint8_t ops[] = {0xaa, 0xab, 0xa4, 0xa5};
        uint8_t op = ops[jd_take(g, 4)];
        if (w && (op & 1)) {
            b[n++] = 0x48;
        }
        b[n++] = op;
        break;
    }
    case 33: { /* bsf, bsr, popcnt, shld/shrd, bt bts btr btc of registers (a register or an
                * immediate offset); now and then bsf, bsr (f3 too), popcnt of memory and
                * bt bts btr btc of memory by a register offset; setcc into memory; mov from a
                * segment register */
        static const uint8_t ops[][3] = {
            {0, 0xbc, 0}, {0, 0xbd, 0}, {0xf3, 0xb8, 0}, {0, 0xa4, 1}, {0, 0xac, 1},
            {0, 0xa5, 0}, {0, 0xad, 0}, {0, 0xa3, 0},    {0, 0x94, 0}, {0, 0xab, 0},
            {0, 0xb3, 0}, {0, 0xbb, 0}, {0, 0xba, 1},    {0, 0x8c, 0},
        };
        unsigned f = jd_take(g, G_N_ELEMENTS(ops));
        int d = jd_dst(g), s = jd_src(g);
        if (ops[f][1] == 0x8c) { /* mov r, es/cs/ss/ds/fs/gs */
            b[n++] = jd_rex(w, 0, 0, d);
            b[n++] = 0x8c;
            b[n++] = 0xc0 | jd_take(g, 6) << 3 | (d & 7);
            break;
        }
        if (ops[f][1] == 0xba) {   /* bt bts btr btc r, imm8 */
            s = 4 + jd_take(g, 4); /* the ModRM.reg digit */
        }
        if (ops[f][0]) {
            b[n++] = ops[f][0];
        }
        if (f == 8) { /* sete [mem] */
            uint8_t m[8];
            int mn = jd_mem(g, m, 0, &idx);
            b[n++] = jd_rex(false, 0, idx, 14);
            b[n++] = 0x0f;
            b[n++] = 0x90 | jd_take(g, 16);
            memcpy(b + n, m, mn);
            n += mn;
            break;
        }
        bool g_e = f < 3; /* bsf bsr popcnt: reg is the destination */
        bool bt_reg = f == 7 || f == 9 || f == 10 || f == 11;
        if ((g_e || bt_reg) && jd_take(g, 3) == 0) { /* on memory (tzcnt/lzcnt: bsf/bsr) */
            uint8_t m[8];
            if (bt_reg) { /* the bit offset in d, -128..127: the operand moves by it */
                b[n++] = jd_rex(true, 0, 0, d);
                b[n++] = 0xc7;
                b[n++] = 0xc0 | (d & 7);
                int32_t off = (int8_t)jd_take(g, 0);
                memcpy(b + n, &off, 4);
                n += 4;
                if (jd_take(g, 2) && f != 7) {
                    b[n++] = 0xf0; /* lock bts btr btc */
                }
            } else if (f < 2 && jd_take(g, 2)) {
                b[n++] = 0xf3;
            }
            int mn = jd_mem_data(g, m, d, &idx);
            b[n++] = jd_rex(w, d, idx, 14);
            b[n++] = 0x0f;
            b[n++] = ops[f][1];
            memcpy(b + n, m, mn);
            n += mn;
            break;
        }
        int reg = g_e ? d : s, rm = g_e ? s : d;
        b[n++] = jd_rex(w, reg, 0, rm);
        b[n++] = 0x0f;
        b[n++] = ops[f][1];
        b[n++] = 0xc0 | ((reg & 7) << 3) | (rm & 7);
        if (ops[f][2]) {
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    case 34:
    case 35: { /* SSE/SSE2 moves and integer operations (jit-sse.c's, and a few run by their
                * handlers), xmm to and from general registers and memory, ucomisd's flags */
        const uint8_t(*ops)[3] = jd_sse_ops;
        unsigned f = jd_take(g, G_N_ELEMENTS(jd_sse_ops));
        int x = jd_take(g, 16), form = ops[f][2];
        if (form == 6) { /* 66 0f 71-73 /g ib on xmm x: the groups' valid members */
            int gr = jd_sse_shift_group(g, ops[f][1]);
            b[n++] = 0x66;
            b[n++] = jd_rex(false, 0, 0, x);
            b[n++] = 0x0f;
            b[n++] = ops[f][1];
            b[n++] = 0xc0 | (gr << 3) | (x & 7);
            b[n++] = (uint8_t)jd_take(g, 0) % 20; /* counts past the lanes now and then */
            break;
        }
        if (ops[f][0]) {
            b[n++] = ops[f][0];
        }
        if (form == 1 || form == 2) {
            uint8_t m[8];
            int mn = jd_mem(g, m, x, &idx);
            /* movd/movq r/m: REX.W picks the size */
            b[n++] = jd_rex(w && (ops[f][1] == 0x6e || ops[f][1] == 0x7e) && ops[f][0] == 0x66, x,
                            idx, 14);
            b[n++] = 0x0f;
            b[n++] = ops[f][1];
            memcpy(b + n, m, mn);
            n += mn;
            if (ops[f][1] == 0x70) {
                b[n++] = (uint8_t)jd_take(g, 0);
            }
            break;
        }
        int rm = form == 3 ? jd_dst(g) : form == 4 ? jd_src(g) : (int)jd_take(g, 16);
        if (form == 3 && ops[f][1] == 0xd7) { /* pmovmskb r32, xmm: the gpr is ModRM.reg */
            int t = x;
            x = rm;
            rm = t;
        }
        b[n++] = jd_rex(w && (form == 3 || form == 4) && ops[f][1] != 0xd7, x, 0, rm);
        b[n++] = 0x0f;
        b[n++] = ops[f][1];
        b[n++] = 0xc0 | ((x & 7) << 3) | (rm & 7);
        if (form == 5) {
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    case 21:
    default: { /* fs/gs-relative load */
        int d = jd_dst(g);
        b[n++] = jd_take(g, 2) ? 0x64 : 0x65;
        b[n++] = jd_rex(w, d, 0, 14);
        b[n++] = 0x8b;
        b[n++] = 0x40 | ((d & 7) << 3) | 6;
        b[n++] = (uint8_t)(jd_take(g, 0) & 0xf8);
        break;
    }
    }
    jd_put(g, b, n);
}

/* 32-bit code: interrupt gates of 8 bytes, a 32-bit code segment at 0x10, 4 MiB pages */
static inline void jd_tables32(GuestRam *ram)
{
    for (int v = 0; v < 256; v++) {
        uint64_t gate = (JD_HALT & 0xffff) | (0x10ull << 16) | (0x8eull << 40) |
                        ((uint64_t)(JD_HALT >> 16) << 48);
        guest_ram_write(ram, JD_IDT + v * 8, &gate, 8);
    }
    /* and for the mode tests: data based at 0x1000 (0x20), 16-bit code based at JD_CODE (0x28) */
    uint64_t gdt[6] = {0,
                       0,
                       0x00cf9b000000ffffull,
                       0x00cf93000000ffffull,
                       0x00cf93001000ffffull,
                       0x00009b100000ffffull};
    G_STATIC_ASSERT(JD_CODE == 0x100000);
    guest_ram_write(ram, JD_GDT, gdt, sizeof(gdt));
    for (uint32_t i = 0; i < 1024; i++) {
        uint32_t pde = i < (JD_RAM >> 22) ? (i << 22) | 0x87 : 0;
        guest_ram_write(ram, JD_PD32 + i * 4, &pde, 4);
    }
}

/* a 32-bit destination: eax ecx edx ebx (esp, the data pointers and the count never) */
static inline int jd_dst32(JdGen *g)
{
    return jd_take(g, 4);
}

/* ModRM memory operand in 32-bit code: [esi + disp8], [ebp + disp8] (SS), [esi + edi * s +
 * disp8], an absolute address in the data area, or now and then [esi + any * s + disp8]
 * (which may fault, or wrap at 4 GiB); an fs/gs prefix may come before the instruction */
static inline int jd_mem32(JdGen *g, uint8_t *b, int reg)
{
    unsigned form = jd_take(g, 9);
    int n = 0;
    if (form < 4 || form == 4) {
        b[n++] = 0x40 | ((reg & 7) << 3) | (form == 4 ? 5 : 6);
        b[n++] = (uint8_t)(jd_take(g, 0) & 0xfc);
    } else if (form < 8) {
        int idx = form == 7 ? (int)jd_take(g, 4) : 7;
        b[n++] = 0x44 | ((reg & 7) << 3);
        b[n++] = (uint8_t)((jd_take(g, 4) << 6) | (idx << 3) | 6);
        b[n++] = (uint8_t)jd_take(g, 0);
    } else {
        b[n++] = 0x05 | ((reg & 7) << 3);
        uint32_t a = (uint32_t)(JD_DATA + jd_take(g, JD_DATA_SZ / 4) * 4 - 8);
        memcpy(b + n, &a, 4);
        n += 4;
    }
    return n;
}

static inline void jd_one32(JdGen *g)
{
    uint8_t b[64];
    int n = 0;
    if (jd_take(g, 12) == 0) {
        b[n++] = jd_take(g, 2) ? 0x64 : 0x65; /* fs or gs: their bases are added */
    }
    unsigned kind = jd_take(g, 22);
    switch (kind) {
    case 0:
    case 1: { /* ALU, test, xchg between registers (byte forms: al-bh) */
        static const uint8_t ops[] = {0x01, 0x03, 0x09, 0x0b, 0x21, 0x23, 0x29, 0x2b, 0x31,
                                      0x33, 0x39, 0x3b, 0x11, 0x19, 0x85, 0x87, 0x00, 0x02,
                                      0x28, 0x32, 0x38, 0x84, 0x88, 0x8a, 0x89, 0x8b};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        bool byte = !(op & 1);
        int d = byte ? (int)jd_take(g, 8) : jd_dst32(g), s = jd_take(g, 8);
        bool to_reg = (op & 2) != 0;
        int reg = to_reg ? d : s, rm = to_reg ? s : d;
        if (op == 0x87 || op == 0x85 || op == 0x84) {
            reg = jd_dst32(g);
        }
        b[n++] = op;
        b[n++] = 0xc0 | ((reg & 7) << 3) | (rm & 7);
        break;
    }
    case 2:
    case 3: { /* ALU, mov, movzx/movsx, imul, cmp with a memory source */
        static const uint8_t ops[] = {0x03, 0x0b, 0x23, 0x2b, 0x33, 0x3b, 0x8b, 0x8b,
                                      0x13, 0x39, 0x85, 0x02, 0x8a, 0xb6, 0xbf, 0xaf};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        int d = jd_dst32(g);
        if (op >= 0xaf) {
            b[n++] = 0x0f;
        }
        b[n++] = op;
        n += jd_mem32(g, b + n, d);
        break;
    }
    case 4:
    case 5: { /* store a register or an immediate (dword, word or byte) */
        unsigned f = jd_take(g, 4);
        static const uint8_t ops[] = {0x89, 0x88, 0xc7, 0xc6};
        bool word = (f == 0 || f == 2) && jd_take(g, 4) == 0;
        if (word) {
            b[n++] = 0x66;
        }
        b[n++] = ops[f];
        n += jd_mem32(g, b + n, f >= 2 ? 0 : (int)jd_take(g, 8));
        if (f >= 2) {
            uint32_t v = jd_take(g, 0) * 0x01010101u;
            int isz = f == 3 ? 1 : word ? 2 : 4;
            memcpy(b + n, &v, isz);
            n += isz;
        }
        break;
    }
    case 6: { /* mov r, imm32; mov r8, imm8 */
        if (jd_take(g, 2)) {
            b[n++] = 0xb8 + jd_dst32(g);
            uint32_t v = jd_take(g, 0) << (jd_take(g, 4) * 8);
            if (jd_take(g, 2)) {
                v = ~v;
            }
            memcpy(b + n, &v, 4);
            n += 4;
        } else {
            b[n++] = 0xb0 + jd_take(g, 8);
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    case 7: { /* ALU r, imm8 / imm32; al/eax forms */
        int d = jd_dst32(g);
        unsigned f = jd_take(g, 3);
        if (f == 2) {
            static const uint8_t ops[] = {0x04, 0x05, 0x2c, 0x2d, 0x3c, 0x3d, 0xa8, 0xa9, 0x15};
            uint8_t op = ops[jd_take(g, sizeof(ops))];
            b[n++] = op;
            uint32_t v = jd_take(g, 0) * 0x01000001u;
            memcpy(b + n, &v, (op & 1) ? 4 : 1);
            n += (op & 1) ? 4 : 1;
            break;
        }
        b[n++] = f ? 0x83 : 0x81;
        b[n++] = 0xc0 | (jd_take(g, 8) << 3) | d;
        uint32_t v = jd_take(g, 0) * (f ? 1 : 0x01000001u);
        memcpy(b + n, &v, f ? 1 : 4);
        n += f ? 1 : 4;
        break;
    }
    case 8: { /* lea, also of an address past 4 GiB (wrapped) */
        b[n++] = 0x8d;
        n += jd_mem32(g, b + n, jd_dst32(g));
        break;
    }
    case 9: { /* push r / pop r, push imm / pop, pushf / pop: esp stays in the stack area */
        unsigned f = jd_take(g, 3);
        if (f == 0) {
            b[n++] = 0x50 + jd_take(g, 8);
        } else if (f == 1) {
            b[n++] = 0x6a;
            b[n++] = (uint8_t)jd_take(g, 0);
        } else {
            b[n++] = 0x9c;
        }
        b[n++] = 0x58 + jd_dst32(g);
        break;
    }
    case 10: /* call the next instruction, then drop the return address */
        memcpy(b + n, "\xe8\x00\x00\x00\x00\x83\xc4\x04", 8);
        n += 8;
        break;
    case 11: /* call a ret two bytes on, which returns to a jmp over it */
        memcpy(b + n, "\xe8\x02\x00\x00\x00\xeb\x01\xc3", 8);
        n += 8;
        break;
    case 12: { /* jcc over the next instruction, or a jcc rel32 of 0 */
        bool rel8 = jd_take(g, 2);
        n = jd_jcc_over(g, b, n, jd_one32, rel8);
        break;
    }
    case 13: { /* inc/dec (40-4f and fe/ff), neg, not, shifts and rotates by an immediate */
        static const uint8_t forms[][3] = {
            {0xc1, 0xe0, 1}, {0xc1, 0xe8, 1}, {0xc1, 0xf8, 1}, {0xd1, 0xe0, 0},
            {0xc1, 0xc0, 1}, {0xd1, 0xc8, 0}, {0xf7, 0xd8, 0}, {0xf7, 0xd0, 0},
            {0xff, 0xc0, 0}, {0xfe, 0xc8, 0}, {0xf7, 0xc0, 4},
        };
        int d = jd_dst32(g);
        unsigned f = jd_take(g, G_N_ELEMENTS(forms) + 2);
        if (f >= G_N_ELEMENTS(forms)) {
            b[n++] = (f == G_N_ELEMENTS(forms) ? 0x40 : 0x48) + d;
            break;
        }
        b[n++] = forms[f][0];
        b[n++] = forms[f][1] | d;
        for (int k = 0; k < forms[f][2]; k++) {
            b[n++] = (uint8_t)(k ? jd_take(g, 0) : jd_take(g, 40));
        }
        break;
    }
    case 14: { /* cmovcc from a register or memory, setcc */
        int cc = jd_take(g, 16), d = jd_dst32(g);
        unsigned f = jd_take(g, 3);
        b[n++] = 0x0f;
        b[n++] = (f == 0 ? 0x90 : 0x40) | cc;
        if (f == 2) {
            n += jd_mem32(g, b + n, d);
        } else {
            b[n++] = 0xc0 | (f ? d << 3 : 0) | (f ? jd_take(g, 8) : (unsigned)d);
        }
        break;
    }
    case 15: { /* imul r, r, imm; test/cmp r, r; adc/sbb */
        static const uint8_t ops[] = {0x6b, 0x69, 0x85, 0x39, 0x13, 0x1b};
        uint8_t op = ops[jd_take(g, sizeof(ops))];
        b[n++] = op;
        b[n++] = 0xc0 | (jd_dst32(g) << 3) | jd_take(g, 8);
        if (op == 0x6b || op == 0x69) {
            uint32_t v = jd_take(g, 0) * (op == 0x69 ? 0x00010101u : 1);
            memcpy(b + n, &v, op == 0x69 ? 4 : 1);
            n += op == 0x69 ? 4 : 1;
        }
        break;
    }
    case 16: { /* memory-destination ALU, inc of memory, leave, cli/sti, cmpxchg of memory */
        unsigned f = jd_take(g, 5);
        if (f == 3) {
            b[n++] = jd_take(g, 2) ? 0xfa : 0xfb;
            break;
        }
        if (f == 4) {
            if (jd_take(g, 2)) {
                b[n++] = 0xf0;
            }
            b[n++] = 0x0f;
            b[n++] = jd_take(g, 3) ? 0xb1 : 0xb0;
            n += jd_mem32(g, b + n, (int)jd_take(g, 8));
            break;
        }
        if (f == 2) {
            memcpy(b + n, "\x55\x89\xe5\xc9", 4); /* push ebp; mov ebp, esp; leave */
            n += 4;
            break;
        }
        b[n++] = f ? 0x01 : 0xff;
        n += jd_mem32(g, b + n, f ? (int)jd_take(g, 8) : 0);
        break;
    }
    case 17: { /* an address past 4 GiB: eax = -k, then [esi + eax] wraps to esi - k */
        uint32_t k = 4 + jd_take(g, 64) * 4;
        uint32_t v = -k;
        b[n++] = 0xb8;
        memcpy(b + n, &v, 4);
        n += 4;
        static const uint8_t ops[] = {0x8b, 0x89, 0x3b, 0x8d};
        b[n++] = ops[jd_take(g, sizeof(ops))];
        b[n++] = 0x04 | (jd_take(g, 4) << 3); /* reg, [esi + eax] */
        b[n++] = 0x06;
        break;
    }
    case 18: /* nop, pause, 66 90 */
        if (jd_take(g, 2)) {
            b[n++] = jd_take(g, 2) ? 0xf3 : 0x66;
        }
        b[n++] = 0x90;
        break;
    case 19:
    case 20: { /* SSE/SSE2 (the 64-bit table's, xmm0-7, no REX.W) */
        unsigned f = jd_take(g, G_N_ELEMENTS(jd_sse_ops));
        const uint8_t *op = jd_sse_ops[f];
        int x = jd_take(g, 8), form = op[2];
        if (op[0]) {
            b[n++] = op[0];
        }
        b[n++] = 0x0f;
        b[n++] = op[1];
        if (form == 1 || form == 2) {
            n += jd_mem32(g, b + n, x);
            if (op[1] == 0x70) {
                b[n++] = (uint8_t)jd_take(g, 0);
            }
            break;
        }
        if (form == 6) {
            b[n++] = 0xc0 | (jd_sse_shift_group(g, op[1]) << 3) | x;
            b[n++] = (uint8_t)jd_take(g, 0) % 20;
            break;
        }
        int rm = form == 3 ? jd_dst32(g) : (int)jd_take(g, 8);
        if (form == 3 && op[1] == 0xd7) { /* pmovmskb r32, xmm: the gpr is ModRM.reg */
            int t = x;
            x = rm;
            rm = t;
        }
        b[n++] = 0xc0 | (x << 3) | rm;
        if (form == 5) {
            b[n++] = (uint8_t)jd_take(g, 0);
        }
        break;
    }
    default: { /* 16-bit operands (66): the interpreter's handlers */
        b[n++] = 0x66;
        b[n++] = 0x01 + (jd_take(g, 4) << 3);
        b[n++] = 0xc0 | (jd_dst32(g) << 3) | jd_take(g, 4);
        break;
    }
    }
    jd_put(g, b, n);
}

/* The data area from a generator seeded by rax, so that the rest of the input is the
 * instructions (and a case is reproduced from its registers and code alone) */
static inline void jd_fill_data(JitDiff *d)
{
    uint64_t x = 0x9e3779b97f4a7c15ull ^ d->regs[0];
    for (unsigned i = 0; i < JD_DATA_SZ; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d->data[i] = (uint8_t)x;
    }
    for (unsigned i = 0; i < sizeof(d->xmm); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((uint8_t *)d->xmm)[i] = (uint8_t)x;
    }
}

/* 32-bit: registers zero-extended, esi and ebp the data pointers, edi the count; the tail is
 * dec edi; jnz LOOP; hlt */
static inline void jd_generate32(JitDiff *d, JdGen *g, int ninsns)
{
    for (int r = 0; r < 16; r++) {
        d->regs[r] = r < 8 ? (uint32_t)d->regs[r] : 0;
    }
    d->regs[R_ESI] = d->regs[R_EBP] = JD_DATA + JD_DATA_SZ / 2;
    d->regs[R_EDI] = JD_LOOPS;
    jd_fill_data(d);
    for (int i = 0; i < ninsns; i++) {
        jd_one32(g);
    }
    static const uint8_t tail[] = {0x4f, 0x0f, 0x85};
    jd_put(g, tail, sizeof(tail));
    int32_t back = -(g->len + 4);
    jd_put(g, (const uint8_t *)&back, 4);
    static const uint8_t hlt = 0xf4;
    jd_put(g, &hlt, 1);
    d->len = g->len;
}

/* Builds the looped body from `in` (and the registers and data from it too). */
static inline void jd_generate(JitDiff *d, const uint8_t *in, size_t n, int ninsns)
{
    JdGen g = {.in = in, .n = n, .out = d->code, .max = JD_CODE_MAX - 16};
    for (int r = 0; r < 16; r++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) {
            v = (v << 8) | jd_take(&g, 0);
        }
        d->regs[r] = (jd_take(&g, 8) == 0) ? v : (v & 0xff);
    }
    d->regs[R_ESP] = JD_STACK - 0x800;
    d->regs[13] &= 0xff;
    d->regs[14] = JD_DATA + JD_DATA_SZ / 2;
    d->regs[15] = JD_LOOPS;
    if (d->mode32) {
        jd_generate32(d, &g, ninsns);
        return;
    }
    jd_fill_data(d);
    for (int i = 0; i < ninsns; i++) {
        jd_one(&g);
    }
    /* sub r15, 1 ; jnz LOOP ; hlt */
    static const uint8_t tail[] = {0x49, 0x83, 0xef, 0x01, 0x0f, 0x85};
    jd_put(&g, tail, sizeof(tail));
    int32_t back = -(g.len + 4);
    jd_put(&g, (const uint8_t *)&back, 4);
    static const uint8_t hlt = 0xf4;
    jd_put(&g, &hlt, 1);
    d->len = g.len;
}

typedef struct JdResult {
    uint64_t regs[16], rip, eflags, cr2;
    X86Xmm xmm[16];
    uint64_t exceptions;
    uint64_t clock_reads; /* rdtsc, rdtscp, rdmsr of the TSC, and the state read at the end */
    X86ExitReason why;
    uint8_t data[JD_DATA_SZ], stack[JD_STACK_SZ], code[JD_CODE_MAX];
} JdResult;

/* Loads jd's code, data and registers into side s, ready to run from the loop's start. */
static inline void jd_load_side(JitDiff *d, int s)
{
    JitDiffCPU *c = &d->side[s];
    X86CPU *cpu = c->cpu;
    static const uint8_t zero[JD_STACK_SZ > JD_CODE_MAX ? JD_STACK_SZ : JD_CODE_MAX];
    guest_ram_write(c->ram, JD_STACK - JD_STACK_SZ, zero, JD_STACK_SZ);
    guest_ram_write(c->ram, JD_CODE, zero, JD_CODE_MAX);
    jd_tables(c->ram);
    guest_ram_write(c->ram, JD_CODE, d->code, d->len);
    guest_ram_write(c->ram, JD_DATA, d->data, JD_DATA_SZ);
    x86_cpu_reset(cpu);
    c->clock_ns = JD_CLOCK_START;
    X86CPUState *env = x86_cpu_env(cpu);
    if (d->mode32) {
        jd_tables32(c->ram);
        x86_cpu_setup_flat32(cpu);
        if (d->paging32) {
            env->cr4 |= CR4_PSE;
            env->cr3 = JD_PD32;
            env->cr0 |= CR0_PG | CR0_WP;
        }
    } else {
        x86_cpu_setup_long_mode(cpu, JD_PT, 0);
        /* selectors apart (never reloaded), so that mov r, sreg shows which it read */
        env->segs[R_FS].selector = 0;
        env->segs[R_GS].selector = 0x2b;
    }
    env->idt.base = JD_IDT;
    env->idt.limit = d->mode32 ? 0x7ff : 0xfff;
    env->gdt.base = JD_GDT;
    env->gdt.limit = d->mode32 ? 0x2f : 0x1f;
    /* fs/gs-relative accesses land in the data area too, shifted */
    env->segs[R_FS].base = 0x100;
    env->segs[R_GS].base = (uint64_t)-0x200;
    env->cr4 |= CR4_OSFXSR; /* SSE enabled, as an OS enables it */
    memcpy(env->regs, d->regs, sizeof(env->regs));
    memcpy(env->xmm, d->xmm, sizeof(env->xmm));
    env->rip = JD_CODE;
    x86_cpu_state_changed(cpu);
}

static inline void jd_run_side(JitDiff *d, int s, JdResult *r)
{
    JitDiffCPU *c = &d->side[s];
    X86CPU *cpu = c->cpu;
    jd_load_side(d, s);
    X86CPUStats before, after;
    x86_cpu_get_stats(cpu, &before);
    r->why = x86_cpu_exec(cpu, 200000);
    x86_cpu_get_stats(cpu, &after);
    X86CPUState st;
    x86_cpu_get_state(cpu, &st);
    memcpy(r->regs, st.regs, sizeof(r->regs));
    memcpy(r->xmm, st.xmm, sizeof(r->xmm));
    r->rip = st.rip;
    r->eflags = st.eflags;
    r->cr2 = st.cr2;
    r->exceptions = after.exceptions - before.exceptions;
    r->clock_reads = (c->clock_ns - JD_CLOCK_START) / 1000;
    guest_ram_read(c->ram, JD_DATA, r->data, JD_DATA_SZ);
    guest_ram_read(c->ram, JD_STACK - JD_STACK_SZ, r->stack, JD_STACK_SZ);
    guest_ram_read(c->ram, JD_CODE, r->code, JD_CODE_MAX);
}

/* Runs both sides; returns NULL when they agree, else a description of the first difference
 * (g_free it). A run that ends on the instruction budget (code that wrote itself into an
 * endless loop) is not compared: the two stop at different block boundaries. *ran tells. */
static JdResult jd_last[2]; /* the last comparison's results: interpreter, translator */

static inline char *jd_compare(JitDiff *d, bool *ran)
{
    JdResult *r = jd_last;
    jd_run_side(d, 0, &r[0]);
    jd_run_side(d, 1, &r[1]);
    *ran = r[0].why != X86_EXIT_BUDGET && r[1].why != X86_EXIT_BUDGET;
    if (!*ran) {
        return NULL;
    }
    if (r[0].why != r[1].why) {
        return g_strdup_printf("exit reason %d vs %d", r[0].why, r[1].why);
    }
    for (int i = 0; i < 16; i++) {
        if (r[0].regs[i] != r[1].regs[i]) {
            return g_strdup_printf("reg %d: %#" G_GINT64_MODIFIER "x vs %#" G_GINT64_MODIFIER "x",
                                   i, r[0].regs[i], r[1].regs[i]);
        }
    }
    for (int i = 0; i < 16; i++) {
        if (memcmp(&r[0].xmm[i], &r[1].xmm[i], sizeof(X86Xmm))) {
            return g_strdup_printf("xmm%d: %016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER
                                   "x vs %016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x",
                                   i, r[0].xmm[i].q[1], r[0].xmm[i].q[0], r[1].xmm[i].q[1],
                                   r[1].xmm[i].q[0]);
        }
    }
    if (r[0].rip != r[1].rip || r[0].eflags != r[1].eflags || r[0].cr2 != r[1].cr2 ||
        r[0].exceptions != r[1].exceptions) {
        return g_strdup_printf("rip %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER
                               "x eflags %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER
                               "x cr2 %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER
                               "x exceptions %" G_GINT64_MODIFIER "u/%" G_GINT64_MODIFIER "u",
                               r[0].rip, r[1].rip, r[0].eflags, r[1].eflags, r[0].cr2, r[1].cr2,
                               r[0].exceptions, r[1].exceptions);
    }
    if (r[0].clock_reads != r[1].clock_reads) {
        return g_strdup_printf("TSC read %" G_GUINT64_FORMAT " vs %" G_GUINT64_FORMAT " times",
                               r[0].clock_reads, r[1].clock_reads);
    }
    if (memcmp(r[0].data, r[1].data, JD_DATA_SZ)) {
        return g_strdup("data area differs");
    }
    if (memcmp(r[0].stack, r[1].stack, JD_STACK_SZ)) {
        return g_strdup("stack area differs");
    }
    if (memcmp(r[0].code, r[1].code, JD_CODE_MAX)) {
        return g_strdup("code area differs");
    }
    return NULL;
}

/*
 * The same run one block at a time: x86_cpu_exec with a budget of one instruction returns at
 * the end of the block it entered. The translator may end a block where the interpreter's goes
 * on (a translated prefix), so the side behind steps on until both have retired as many
 * instructions: at every such common block end the two must agree on registers, rip, flags,
 * CR2, exceptions and every byte of the data, stack and code areas. Returns NULL or the first
 * difference with its block number; *ran as jd_compare's.
 */
static inline char *jd_compare_blocks(JitDiff *d, bool *ran)
{
    X86CPU *cpu[2] = {d->side[0].cpu, d->side[1].cpu};
    uint64_t start[2];
    for (int s = 0; s < 2; s++) {
        jd_load_side(d, s);
        X86CPUStats st;
        x86_cpu_get_stats(cpu[s], &st);
        start[s] = st.insns;
    }
    static const struct {
        uint64_t gpa, len;
    } areas[] = {
        {JD_DATA, JD_DATA_SZ}, {JD_STACK - JD_STACK_SZ, JD_STACK_SZ}, {JD_CODE, JD_CODE_MAX}};
    *ran = false;
    X86ExitReason why[2] = {X86_EXIT_BUDGET, X86_EXIT_BUDGET};
    uint64_t n[2] = {0, 0};
    X86CPUStats st[2];
    X86CPUState env[2];
    int steps = 0;
    for (int block = 0;; block++) {
        /* both sides one block on, then the one behind until they meet */
        for (bool both = true; both || n[0] != n[1]; both = false) {
            for (int k = 0; k < 2; k++) {
                if (!both && n[k] >= n[!k]) {
                    continue;
                }
                if (why[k] != X86_EXIT_BUDGET) { /* stopped, the other one went past it */
                    return g_strdup_printf("block %d: exit %d vs %d after %" G_GUINT64_FORMAT
                                           " vs %" G_GUINT64_FORMAT " instructions",
                                           block, why[0], why[1], n[0], n[1]);
                }
                if (++steps > 40000 || n[k] > 200000) {
                    return NULL; /* a loop that wrote itself endless: not compared */
                }
                why[k] = x86_cpu_exec(cpu[k], 1);
                x86_cpu_get_stats(cpu[k], &st[k]);
                n[k] = st[k].insns - start[k];
            }
        }
        if (why[0] != why[1]) {
            return g_strdup_printf("block %d: exit %d vs %d after %" G_GUINT64_FORMAT
                                   " instructions",
                                   block, why[0], why[1], n[0]);
        }
        for (int s = 0; s < 2; s++) {
            x86_cpu_get_state(cpu[s], &env[s]);
        }
        uint64_t n0 = n[0];
        if (memcmp(env[0].regs, env[1].regs, sizeof(env[0].regs)) || env[0].rip != env[1].rip ||
            env[0].eflags != env[1].eflags || env[0].cr2 != env[1].cr2 ||
            st[0].exceptions != st[1].exceptions) {
            int r = 0;
            while (r < 15 && env[0].regs[r] == env[1].regs[r]) {
                r++;
            }
            return g_strdup_printf(
                "block %d (%" G_GUINT64_FORMAT " instructions): reg %d %#" G_GINT64_MODIFIER
                "x/%#" G_GINT64_MODIFIER "x rip %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER
                "x eflags %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER
                "x cr2 %#" G_GINT64_MODIFIER "x/%#" G_GINT64_MODIFIER "x",
                block, n0, r, env[0].regs[r], env[1].regs[r], env[0].rip, env[1].rip, env[0].eflags,
                env[1].eflags, env[0].cr2, env[1].cr2);
        }
        if (memcmp(env[0].xmm, env[1].xmm, sizeof(env[0].xmm))) {
            return g_strdup_printf("block %d (%" G_GUINT64_FORMAT " instructions): xmm differ",
                                   block, n0);
        }
        for (size_t a = 0; a < G_N_ELEMENTS(areas); a++) {
            const uint8_t *m0 = guest_ram_host_ptr(d->side[0].ram, areas[a].gpa, areas[a].len);
            const uint8_t *m1 = guest_ram_host_ptr(d->side[1].ram, areas[a].gpa, areas[a].len);
            if (memcmp(m0, m1, areas[a].len)) {
                return g_strdup_printf("block %d: memory at %#" G_GINT64_MODIFIER "x differs",
                                       block, areas[a].gpa);
            }
        }
        if (why[0] != X86_EXIT_BUDGET) {
            *ran = true;
            return NULL;
        }
    }
}

#endif
