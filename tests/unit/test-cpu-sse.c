/*
 * Differential tests of SSE/SSE2 instructions: xmm0 and xmm1 are loaded from the data area,
 * the instruction runs, xmm0 is stored back; registers, flags and memory are compared with
 * the host CPU.
 */
#include "cpu-diff.h"

#define N_CASES 60

static DiffCPU dcpu;

typedef struct SseOp {
    const char *name;
    uint8_t bytes[6];
    int len;
    bool imm;
} SseOp;

#define OPB(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

static const SseOp ops[] = {
    /* integer */
    {"paddb", OPB(0x66, 0x0f, 0xfc)},
    {"paddw", OPB(0x66, 0x0f, 0xfd)},
    {"paddd", OPB(0x66, 0x0f, 0xfe)},
    {"paddq", OPB(0x66, 0x0f, 0xd4)},
    {"psubb", OPB(0x66, 0x0f, 0xf8)},
    {"psubq", OPB(0x66, 0x0f, 0xfb)},
    {"paddusb", OPB(0x66, 0x0f, 0xdc)},
    {"psubusw", OPB(0x66, 0x0f, 0xd9)},
    {"paddsw", OPB(0x66, 0x0f, 0xed)},
    {"psubsb", OPB(0x66, 0x0f, 0xe8)},
    {"pand", OPB(0x66, 0x0f, 0xdb)},
    {"pandn", OPB(0x66, 0x0f, 0xdf)},
    {"por", OPB(0x66, 0x0f, 0xeb)},
    {"pxor", OPB(0x66, 0x0f, 0xef)},
    {"pcmpeqb", OPB(0x66, 0x0f, 0x74)},
    {"pcmpeqd", OPB(0x66, 0x0f, 0x76)},
    {"pcmpgtb", OPB(0x66, 0x0f, 0x64)},
    {"pcmpgtw", OPB(0x66, 0x0f, 0x65)},
    {"pminub", OPB(0x66, 0x0f, 0xda)},
    {"pmaxub", OPB(0x66, 0x0f, 0xde)},
    {"pminsw", OPB(0x66, 0x0f, 0xea)},
    {"pmaxsw", OPB(0x66, 0x0f, 0xee)},
    {"pavgb", OPB(0x66, 0x0f, 0xe0)},
    {"psadbw", OPB(0x66, 0x0f, 0xf6)},
    {"pmullw", OPB(0x66, 0x0f, 0xd5)},
    {"pmulhw", OPB(0x66, 0x0f, 0xe5)},
    {"pmulhuw", OPB(0x66, 0x0f, 0xe4)},
    {"pmuludq", OPB(0x66, 0x0f, 0xf4)},
    {"pmaddwd", OPB(0x66, 0x0f, 0xf5)},
    {"punpcklbw", OPB(0x66, 0x0f, 0x60)},
    {"punpcklwd", OPB(0x66, 0x0f, 0x61)},
    {"punpckldq", OPB(0x66, 0x0f, 0x62)},
    {"punpcklqdq", OPB(0x66, 0x0f, 0x6c)},
    {"punpckhbw", OPB(0x66, 0x0f, 0x68)},
    {"punpckhdq", OPB(0x66, 0x0f, 0x6a)},
    {"punpckhqdq", OPB(0x66, 0x0f, 0x6d)},
    {"packsswb", OPB(0x66, 0x0f, 0x63)},
    {"packuswb", OPB(0x66, 0x0f, 0x67)},
    {"packssdw", OPB(0x66, 0x0f, 0x6b)},
    {"psllw", OPB(0x66, 0x0f, 0xf1)},
    {"psrld", OPB(0x66, 0x0f, 0xd2)},
    {"psraw", OPB(0x66, 0x0f, 0xe1)},
    {"psrlq", OPB(0x66, 0x0f, 0xd3)},
    {"pshufd", OPB(0x66, 0x0f, 0x70), true},
    {"pshuflw", OPB(0xf2, 0x0f, 0x70), true},
    {"pshufhw", OPB(0xf3, 0x0f, 0x70), true},
    {"shufps", OPB(0x0f, 0xc6), true},
    {"shufpd", OPB(0x66, 0x0f, 0xc6), true},
    /* floating point */
    {"addsd", OPB(0xf2, 0x0f, 0x58)},
    {"mulsd", OPB(0xf2, 0x0f, 0x59)},
    {"subsd", OPB(0xf2, 0x0f, 0x5c)},
    {"divsd", OPB(0xf2, 0x0f, 0x5e)},
    {"minsd", OPB(0xf2, 0x0f, 0x5d)},
    {"maxsd", OPB(0xf2, 0x0f, 0x5f)},
    {"sqrtsd", OPB(0xf2, 0x0f, 0x51)},
    {"addss", OPB(0xf3, 0x0f, 0x58)},
    {"mulps", OPB(0x0f, 0x59)},
    {"addpd", OPB(0x66, 0x0f, 0x58)},
    {"divps", OPB(0x0f, 0x5e)},
    {"sqrtps", OPB(0x0f, 0x51)},
    {"andps", OPB(0x0f, 0x54)},
    {"xorpd", OPB(0x66, 0x0f, 0x57)},
    {"andnps", OPB(0x0f, 0x55)},
    {"orpd", OPB(0x66, 0x0f, 0x56)},
    {"unpcklps", OPB(0x0f, 0x14)},
    {"unpckhpd", OPB(0x66, 0x0f, 0x15)},
    {"cvtss2sd", OPB(0xf3, 0x0f, 0x5a)},
    {"cvtsd2ss", OPB(0xf2, 0x0f, 0x5a)},
    {"cvtdq2ps", OPB(0x0f, 0x5b)},
    {"cvttps2dq", OPB(0xf3, 0x0f, 0x5b)},
    {"cvtdq2pd", OPB(0xf3, 0x0f, 0xe6)},
    {"cvttpd2dq", OPB(0x66, 0x0f, 0xe6)},
    {"cmppd", OPB(0x66, 0x0f, 0xc2), true},
    {"cmpss", OPB(0xf3, 0x0f, 0xc2), true},
    {"movss", OPB(0xf3, 0x0f, 0x10)},
    {"movsd", OPB(0xf2, 0x0f, 0x10)},
    {"movhlps", OPB(0x0f, 0x12)},
    {"movlhps", OPB(0x0f, 0x16)},
};

/* Values that exercise saturation, signs, NaN and infinities. */
static void fill_vector(GRand *r, uint8_t *p)
{
    switch (g_rand_int_range(r, 0, 4)) {
    case 0:
        for (int i = 0; i < 16; i++) {
            p[i] = g_rand_int(r);
        }
        break;
    case 1:
        for (int i = 0; i < 2; i++) {
            double d = g_rand_double_range(r, -1e6, 1e6);
            if (g_rand_int_range(r, 0, 8) == 0) {
                d = g_rand_boolean(r) ? 1.0 / 0.0 : -0.0;
            }
            memcpy(p + 8 * i, &d, 8);
        }
        break;
    case 2:
        for (int i = 0; i < 4; i++) {
            float f = (float)g_rand_double_range(r, -1e4, 1e4);
            memcpy(p + 4 * i, &f, 4);
        }
        break;
    default:
        for (int i = 0; i < 16; i++) {
            p[i] = (uint8_t[]){0, 0x7f, 0x80, 0xff, 1}[g_rand_int_range(r, 0, 5)];
        }
        break;
    }
}

static void test_sse(void)
{
    GRand *r = g_rand_new_with_seed(6);
    int nops = G_N_ELEMENTS(ops), n = nops * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    static const uint8_t load0[] = {0xf3, 0x0f, 0x6f, 0x03};        /* movdqu xmm0,[rbx] */
    static const uint8_t load1[] = {0xf3, 0x0f, 0x6f, 0x4b, 0x10};  /* movdqu xmm1,[rbx+16] */
    static const uint8_t store0[] = {0xf3, 0x0f, 0x7f, 0x43, 0x20}; /* movdqu [rbx+32],xmm0 */
    for (int i = 0; i < n; i++) {
        const SseOp *o = &ops[i / N_CASES];
        DiffCase *c = &cases[i];
        memset(&c->in, 0, sizeof(c->in));
        for (int k = 0; k < 16; k++) {
            c->in.regs[k] = g_rand_int(r);
        }
        c->in.regs[4] = DIFF_DATA + 0x1800;
        c->in.regs[3] = DIFF_DATA + 0x100;
        c->in.flags = g_rand_int(r) & 0x8d5;
        fill_vector(r, c->in.data + 0x100);
        fill_vector(r, c->in.data + 0x110);
        /* movhlps/movlhps exist only as register forms */
        bool reg_only = o->bytes[o->len - 1] == 0x12 || o->bytes[o->len - 1] == 0x16;
        bool mem = !reg_only && g_rand_boolean(r);
        uint8_t *p = c->code;
        memcpy(p, load0, sizeof(load0));
        p += sizeof(load0);
        if (!mem) {
            memcpy(p, load1, sizeof(load1));
            p += sizeof(load1);
        }
        memcpy(p, o->bytes, o->len);
        p += o->len;
        if (mem) {
            *p++ = 0x43; /* xmm0, [rbx+16] */
            *p++ = 0x10;
        } else {
            *p++ = 0xc1; /* xmm0, xmm1 */
        }
        if (o->imm) {
            *p++ = g_rand_int(r);
        }
        memcpy(p, store0, sizeof(store0));
        p += sizeof(store0);
        c->len = p - c->code;
        c->ninsns = mem ? 3 : 4;
    }
    diff_run_and_compare(&dcpu, cases, host, n, 0xcd5);
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

/* comisd/ucomisd set ZF/PF/CF; cvttsd2si and movd/movq/pmovmskb move to integer registers */
static void test_sse_to_int(void)
{
    GRand *r = g_rand_new_with_seed(7);
    static const uint8_t tails[][8] = {
        {4, 0x66, 0x0f, 0x2f, 0xc1},       /* comisd xmm0, xmm1 */
        {3, 0x0f, 0x2e, 0xc1},             /* ucomiss xmm0, xmm1 */
        {5, 0xf2, 0x48, 0x0f, 0x2c, 0xc0}, /* cvttsd2si rax, xmm0 */
        {4, 0xf3, 0x0f, 0x2d, 0xc1},       /* cvtss2si eax, xmm1 */
        {4, 0x66, 0x0f, 0xd7, 0xc0},       /* pmovmskb eax, xmm0 */
        {5, 0x66, 0x48, 0x0f, 0x7e, 0xc2}, /* movq rdx, xmm0 */
        {3, 0x0f, 0x50, 0xc1},             /* movmskps eax, xmm1 */
        {5, 0x66, 0x0f, 0xc5, 0xc0, 3},    /* pextrw eax, xmm0, 3 */
    };
    int nt = G_N_ELEMENTS(tails), n = nt * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        DiffCase *c = &cases[i];
        const uint8_t *t = tails[i / N_CASES];
        for (int k = 0; k < 16; k++) {
            c->in.regs[k] = g_rand_int(r);
        }
        c->in.regs[4] = DIFF_DATA + 0x1800;
        c->in.regs[3] = DIFF_DATA + 0x100;
        c->in.flags = g_rand_int(r) & 0x8d5;
        fill_vector(r, c->in.data + 0x100);
        if (g_rand_boolean(r)) {
            memcpy(c->in.data + 0x110, c->in.data + 0x100, 16);
        } else {
            fill_vector(r, c->in.data + 0x110);
        }
        uint8_t *p = c->code;
        memcpy(p, (uint8_t[]){0xf3, 0x0f, 0x6f, 0x03, 0xf3, 0x0f, 0x6f, 0x4b, 0x10}, 9);
        p += 9;
        memcpy(p, t + 1, t[0]);
        p += t[0];
        c->len = p - c->code;
        c->ninsns = 3;
    }
    diff_run_and_compare(&dcpu, cases, host, n, 0xcd5);
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    diff_cpu_init(&dcpu);
    g_test_add_func("/cpu/diff/sse", test_sse);
    g_test_add_func("/cpu/diff/sse-to-int", test_sse_to_int);
    int rc = g_test_run();
    diff_cpu_fini(&dcpu);
    return rc;
}
