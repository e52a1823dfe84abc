/*
 * Differential tests of the MMX instructions: mm0 and mm1 are loaded from the data area, the
 * instruction runs, mm0 is stored back and emms closes; general registers, flags and memory
 * are compared with the host CPU. Further cases check the x87 aliasing (TOP, tags, the
 * exponent bits a write sets) and the moves between mm and general registers.
 */
#include "cpu-diff.h"
#include "target/i386/cpu-internal.h"

#define N_CASES 40

static DiffCPU dcpu;

typedef struct MmxOp {
    const char *name;
    uint8_t op;
    bool imm;
    uint8_t reg; /* ModRM reg field for the 71-73 immediate shifts (mm0 is the r/m operand) */
} MmxOp;

static const MmxOp ops[] = {
    {"punpcklbw", 0x60},
    {"punpcklwd", 0x61},
    {"punpckldq", 0x62},
    {"packsswb", 0x63},
    {"pcmpgtb", 0x64},
    {"pcmpgtw", 0x65},
    {"pcmpgtd", 0x66},
    {"packuswb", 0x67},
    {"punpckhbw", 0x68},
    {"punpckhwd", 0x69},
    {"punpckhdq", 0x6a},
    {"packssdw", 0x6b},
    {"movq", 0x6f},
    {"pshufw", 0x70, true},
    {"psrlw i", 0x71, true, 2},
    {"psraw i", 0x71, true, 4},
    {"psllw i", 0x71, true, 6},
    {"psrld i", 0x72, true, 2},
    {"psrad i", 0x72, true, 4},
    {"pslld i", 0x72, true, 6},
    {"psrlq i", 0x73, true, 2},
    {"psllq i", 0x73, true, 6},
    {"pcmpeqb", 0x74},
    {"pcmpeqw", 0x75},
    {"pcmpeqd", 0x76},
    {"pinsrw", 0xc4, true},
    {"psrlw", 0xd1},
    {"psrld", 0xd2},
    {"psrlq", 0xd3},
    {"paddq", 0xd4},
    {"pmullw", 0xd5},
    {"psubusb", 0xd8},
    {"psubusw", 0xd9},
    {"pminub", 0xda},
    {"pand", 0xdb},
    {"paddusb", 0xdc},
    {"paddusw", 0xdd},
    {"pmaxub", 0xde},
    {"pandn", 0xdf},
    {"pavgb", 0xe0},
    {"psraw", 0xe1},
    {"psrad", 0xe2},
    {"pavgw", 0xe3},
    {"pmulhuw", 0xe4},
    {"pmulhw", 0xe5},
    {"psubsb", 0xe8},
    {"psubsw", 0xe9},
    {"pminsw", 0xea},
    {"por", 0xeb},
    {"paddsb", 0xec},
    {"paddsw", 0xed},
    {"pmaxsw", 0xee},
    {"pxor", 0xef},
    {"psllw", 0xf1},
    {"pslld", 0xf2},
    {"psllq", 0xf3},
    {"pmuludq", 0xf4},
    {"pmaddwd", 0xf5},
    {"psadbw", 0xf6},
    {"psubb", 0xf8},
    {"psubw", 0xf9},
    {"psubd", 0xfa},
    {"psubq", 0xfb},
    {"paddb", 0xfc},
    {"paddw", 0xfd},
    {"paddd", 0xfe},
};

/* Lane values that hit saturation and sign edges half of the time. */
static void fill_mm(GRand *r, uint8_t *p, bool shift_count)
{
    if (shift_count) {
        uint64_t c = g_rand_int_range(r, 0, 70);
        if (g_rand_int_range(r, 0, 8) == 0) {
            c |= (uint64_t)g_rand_int(r) << 32;
        }
        memcpy(p, &c, 8);
        return;
    }
    for (int i = 0; i < 8; i++) {
        p[i] = g_rand_boolean(r) ? g_rand_int(r)
                                 : (uint8_t[]){0, 0x7f, 0x80, 0xff, 1}[g_rand_int_range(r, 0, 5)];
    }
}

static uint8_t *put(uint8_t *p, const void *b, int n)
{
    memcpy(p, b, n);
    return p + n;
}

static const uint8_t load0[] = {0x0f, 0x6f, 0x03};        /* movq mm0,[rbx] */
static const uint8_t load1[] = {0x0f, 0x6f, 0x4b, 0x08};  /* movq mm1,[rbx+8] */
static const uint8_t store0[] = {0x0f, 0x7f, 0x43, 0x10}; /* movq [rbx+16],mm0 */
static const uint8_t emms[] = {0x0f, 0x77};

static void init_case(GRand *r, DiffCase *c)
{
    memset(&c->in, 0, sizeof(c->in));
    for (int k = 0; k < 16; k++) {
        c->in.regs[k] = ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);
    }
    c->in.regs[4] = DIFF_DATA + 0x1800;
    c->in.regs[3] = DIFF_DATA + 0x100;
    c->in.regs[7] = DIFF_DATA + 0x200;
    c->in.flags = g_rand_int(r) & 0x8d5;
}

/* Runs the cases on both CPUs, compares them and frees them. */
static void run_cases(DiffCase *cases, int n)
{
    DiffState *host = g_new0(DiffState, n);
    diff_run_and_compare(&dcpu, cases, host, n, 0xcd5);
    g_free(cases);
    g_free(host);
}

static void test_mmx(void)
{
    GRand *r = g_rand_new_with_seed(17);
    int nops = G_N_ELEMENTS(ops), n = nops * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    for (int i = 0; i < n; i++) {
        const MmxOp *o = &ops[i / N_CASES];
        DiffCase *c = &cases[i];
        init_case(r, c);
        bool count = (o->op & 0xf0) >= 0xd0 &&
                     ((o->op & 0xf) == 1 || (o->op & 0xf) == 2 || (o->op & 0xf) == 3) &&
                     o->op != 0xe3;
        fill_mm(r, c->in.data + 0x100, false);
        fill_mm(r, c->in.data + 0x108, count);
        if (o->op == 0xc4 && g_rand_boolean(r)) {
            c->in.regs[1] = c->in.regs[2]; /* pinsrw also takes a general register */
        }
        /* the immediate shifts and pinsrw/pshufw take no mm1; the rest use it or memory */
        bool imm_shift = o->op >= 0x71 && o->op <= 0x73;
        bool mem = !imm_shift && g_rand_boolean(r);
        uint8_t *p = put(c->code, load0, sizeof(load0));
        int ninsns = 4;
        if (!mem && !imm_shift && o->op != 0xc4) {
            p = put(p, load1, sizeof(load1));
            ninsns++;
        }
        *p++ = 0x0f;
        *p++ = o->op;
        if (imm_shift) {
            *p++ = 0xc0 | (o->reg << 3); /* mm0 */
        } else if (o->op == 0xc4) {
            *p++ = mem ? 0x43 : 0xc1; /* [rbx+8] or ecx */
            if (mem) {
                *p++ = 0x08;
            }
        } else if (mem) {
            *p++ = 0x43; /* mm0, [rbx+8] */
            *p++ = 0x08;
        } else {
            *p++ = 0xc1; /* mm0, mm1 */
        }
        if (o->imm) {
            *p++ = g_rand_int_range(r, 0, 3) == 0 ? g_rand_int_range(r, 0, 70) : g_rand_int(r);
        }
        p = put(p, store0, sizeof(store0));
        p = put(p, emms, sizeof(emms));
        c->len = p - c->code;
        c->ninsns = ninsns;
    }
    run_cases(cases, n);
    g_rand_free(r);
}

/* mm0 and mm1's values at [rbx] and [rbx+8] */
static void fill_two_mm(GRand *r, DiffCase *c)
{
    fill_mm(r, c->in.data + 0x100, false);
    fill_mm(r, c->in.data + 0x108, false);
}

/* xmm0's value at [rbx] (doubles, floats or bytes), mm1's and mm0's at [rbx+16] and [rbx+24] */
static void fill_xmm_and_mm(GRand *r, DiffCase *c)
{
    int kind = g_rand_int_range(r, 0, 3);
    for (int k = 0; k < 2; k++) {
        double dv = g_rand_double_range(r, -3e9, 3e9);
        float fv[2] = {(float)g_rand_double_range(r, -3e9, 3e9),
                       (float)g_rand_double_range(r, -1e3, 1e3)};
        if (kind == 0) {
            memcpy(c->in.data + 0x100 + 8 * k, &dv, 8);
        } else if (kind == 1) {
            memcpy(c->in.data + 0x100 + 8 * k, fv, 8);
        } else {
            fill_mm(r, c->in.data + 0x100 + 8 * k, false);
        }
    }
    fill_mm(r, c->in.data + 0x110, false);
    fill_mm(r, c->in.data + 0x118, false);
}

/* N_CASES cases per tail (length byte, then the instruction), each as head, tail, foot. */
static void run_tails(int seed, const uint8_t (*tails)[8], int nt, const uint8_t *head, int hl,
                      const uint8_t *foot, int fl, int ninsns, void (*fill)(GRand *, DiffCase *))
{
    GRand *r = g_rand_new_with_seed(seed);
    int n = nt * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    for (int i = 0; i < n; i++) {
        DiffCase *c = &cases[i];
        const uint8_t *t = tails[i / N_CASES];
        init_case(r, c);
        fill(r, c);
        uint8_t *p = put(c->code, head, hl);
        p = put(p, t + 1, t[0]);
        p = put(p, foot, fl);
        c->len = p - c->code;
        c->ninsns = ninsns;
    }
    run_cases(cases, n);
    g_rand_free(r);
}

/* Moves between mm and general registers or memory, pextrw, pmovmskb, maskmovq, movntq. */
static void test_mmx_moves(void)
{
    static const uint8_t tails[][8] = {
        {3, 0x0f, 0x7e, 0xc2},             /* movd edx, mm0 */
        {4, 0x48, 0x0f, 0x7e, 0xc2},       /* movq rdx, mm0 */
        {3, 0x0f, 0x6e, 0xc6},             /* movd mm0, esi (then stored) */
        {4, 0x48, 0x0f, 0x6e, 0xc6},       /* movq mm0, rsi (then stored) */
        {4, 0x0f, 0x7e, 0x43, 0x18},       /* movd [rbx+24], mm0 */
        {5, 0x48, 0x0f, 0x6e, 0x43, 0x04}, /* movq mm0, [rbx+4] (then stored) */
        {4, 0x0f, 0xc5, 0xc1, 2},          /* pextrw eax, mm1, 2 */
        {4, 0x0f, 0xc5, 0xd0, 7},          /* pextrw edx, mm0, 7 (index mod 4) */
        {3, 0x0f, 0xd7, 0xc1},             /* pmovmskb eax, mm1 */
        {3, 0x0f, 0xf7, 0xc1},             /* maskmovq mm0, mm1: bytes to [rdi] */
        {4, 0x0f, 0xe7, 0x43, 0x20},       /* movntq [rbx+32], mm0 */
        {3, 0x0f, 0x7f, 0xc8},             /* movq mm0, mm1 (store form, then stored) */
    };
    static const uint8_t head[] = {0x0f, 0x6f, 0x03, 0x0f, 0x6f, 0x4b, 0x08}; /* mm0, mm1 */
    static const uint8_t foot[] = {0x0f, 0x7f, 0x43, 0x10, 0x0f, 0x77};       /* store mm0; emms */
    run_tails(18, tails, G_N_ELEMENTS(tails), head, sizeof(head), foot, sizeof(foot), 5,
              fill_two_mm);
}

/*
 * The x87 view of an MMX instruction: fninit; fld1 (TOP=7); an MMX write to mm0; fnstsw ax
 * (TOP back to 0); fstp tword [rbx+0x20] stores physical register 0 = mm0 with the exponent
 * ones; fnstsw then shows TOP=1. After emms, fxam finds st0 empty.
 */
static void test_mmx_x87_alias(void)
{
    GRand *r = g_rand_new_with_seed(19);
    int n = N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    for (int i = 0; i < n; i++) {
        DiffCase *c = &cases[i];
        init_case(r, c);
        fill_mm(r, c->in.data + 0x100, false);
        /* a quiet NaN to the x87: our fstp goes through the host's long double, which would
         * quieten a signalling NaN or turn an unnormal into the indefinite */
        c->in.data[0x107] |= 0xc0;
        uint8_t *p = put(c->code, (uint8_t[]){0xdb, 0xe3, 0xd9, 0xe8}, 4); /* fninit; fld1 */
        p = put(p, load0, sizeof(load0));
        p = put(p, (uint8_t[]){0xdf, 0xe0}, 2);             /* fnstsw ax */
        p = put(p, (uint8_t[]){0xdb, 0x7b, 0x20}, 3);       /* fstp tword [rbx+0x20] */
        p = put(p, (uint8_t[]){0x89, 0xc1, 0xdf, 0xe0}, 4); /* mov ecx, eax; fnstsw ax */
        p = put(p, emms, sizeof(emms));
        /* fxam; mov edx, eax; fnstsw ax; and eax, C3|C2|C0 (C1 is the stale sign) */
        p = put(p, (uint8_t[]){0xd9, 0xe5, 0x89, 0xc2, 0xdf, 0xe0, 0x25, 0x00, 0x45, 0, 0}, 11);
        c->len = p - c->code;
        c->ninsns = 12;
    }
    run_cases(cases, n);
    g_rand_free(r);
}

/* Conversions and moves between mm and xmm: xmm0 from [rbx], mm1 and mm0 from [rbx+16/24]. */
static void test_mmx_xmm(void)
{
    static const uint8_t tails[][8] = {
        {3, 0x0f, 0x2a, 0xc1},       /* cvtpi2ps xmm0, mm1 */
        {4, 0x66, 0x0f, 0x2a, 0xc1}, /* cvtpi2pd xmm0, mm1 */
        {3, 0x0f, 0x2d, 0xc0},       /* cvtps2pi mm0, xmm0 */
        {3, 0x0f, 0x2c, 0xc0},       /* cvttps2pi mm0, xmm0 */
        {4, 0x66, 0x0f, 0x2d, 0xc0}, /* cvtpd2pi mm0, xmm0 */
        {4, 0x66, 0x0f, 0x2c, 0xc0}, /* cvttpd2pi mm0, xmm0 */
        {4, 0xf3, 0x0f, 0xd6, 0xc1}, /* movq2dq xmm0, mm1 */
        {4, 0xf2, 0x0f, 0xd6, 0xc0}, /* movdq2q mm0, xmm0 */
    };
    static const uint8_t head[] = {0xf3, 0x0f, 0x6f, 0x03,       /* movdqu xmm0,[rbx] */
                                   0x0f, 0x6f, 0x4b, 0x10,       /* movq mm1,[rbx+16] */
                                   0x0f, 0x6f, 0x43, 0x18};      /* movq mm0,[rbx+24] */
    static const uint8_t foot[] = {0xf3, 0x0f, 0x7f, 0x43, 0x20, /* movdqu [rbx+32],xmm0 */
                                   0x0f, 0x7f, 0x43, 0x30,       /* movq [rbx+48],mm0 */
                                   0x0f, 0x77};
    run_tails(20, tails, G_N_ELEMENTS(tails), head, sizeof(head), foot, sizeof(foot), 7,
              fill_xmm_and_mm);
}

/*
 * CR0.EM makes an MMX instruction (and emms) #UD, CR0.TS makes it #NM, before anything
 * changes; CPUID.1:EDX and its AMD mirror advertise MMX. The #UD and #NM handlers are hlt
 * at different addresses.
 */
static void test_mmx_faults(void)
{
    X86CPU *cpu = dcpu.cpu;
    static const uint8_t insns[][3] = {
        {0x0f, 0xfc, 0xc1}, /* paddb mm0, mm1 */
        {0x0f, 0x77, 0x90}, /* emms */
    };
    const uint64_t gdt = DIFF_DATA + 0x1100, idt = DIFF_DATA + 0x1000;
    const uint64_t h_ud = DIFF_CODE + 0x100, h_nm = DIFF_CODE + 0x200;
    uint32_t o[4];
    x86_cpuid(cpu, 1, 0, o);
    g_assert_true(o[3] & (1u << 23));
    x86_cpuid(cpu, 0x80000001, 0, o);
    g_assert_true(o[3] & (1u << 23));

    uint64_t code64 = 0x00af9a000000ffffull;
    guest_ram_write(dcpu.ram, gdt + 0x10, &code64, 8);
    for (int v = 6; v <= 7; v++) {
        uint64_t h = v == 6 ? h_ud : h_nm;
        uint64_t gate[2] = {(h & 0xffff) | (0x10ull << 16) | (0x8e00ull << 32) |
                                ((h >> 16 & 0xffff) << 48),
                            h >> 32};
        guest_ram_write(dcpu.ram, idt + 16 * v, gate, 16);
    }
    guest_ram_write(dcpu.ram, h_ud, (uint8_t[]){0xf4}, 1);
    guest_ram_write(dcpu.ram, h_nm, (uint8_t[]){0xf4}, 1);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 3; k++) {
            x86_cpu_reset(cpu);
            x86_cpu_setup_long_mode(cpu, DIFF_PT, 0);
            X86CPUState *env = x86_cpu_env(cpu);
            env->cr0 |= k == 1 ? CR0_EM : k == 2 ? CR0_TS : 0;
            env->gdt.base = gdt;
            env->gdt.limit = 0x1f;
            env->idt.base = idt;
            env->idt.limit = 0xff;
            env->regs[R_ESP] = DIFF_DATA + 0x1800;
            env->rip = DIFF_CODE;
            env->fpstt = 5;
            env->fptags = 0x3c;
            guest_ram_write(dcpu.ram, DIFF_CODE, insns[i], 3);
            x86_cpu_state_changed(cpu);
            x86_cpu_exec(cpu, k ? 2 : 1);
            env = x86_cpu_env(cpu);
            uint64_t want = k == 1 ? h_ud + 1 : k == 2 ? h_nm + 1 : DIFF_CODE + (i ? 2 : 3);
            g_assert_cmphex(env->rip, ==, want);
            g_assert_cmpuint(env->fpstt, ==, k || i ? 5 : 0);
            g_assert_cmphex(env->fptags, ==, k ? 0x3c : i ? 0xff : 0);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    diff_cpu_init(&dcpu);
    g_test_add_func("/cpu/diff/mmx", test_mmx);
    g_test_add_func("/cpu/diff/mmx-moves", test_mmx_moves);
    g_test_add_func("/cpu/diff/mmx-x87-alias", test_mmx_x87_alias);
    g_test_add_func("/cpu/diff/mmx-xmm", test_mmx_xmm);
    g_test_add_func("/cpu/mmx/faults", test_mmx_faults);
    int rc = g_test_run();
    diff_cpu_fini(&dcpu);
    return rc;
}
