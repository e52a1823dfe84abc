/*
 * Differential tests of x87 instructions against the host FPU: short sequences that load
 * operands from the data area and store results (80-bit, double, integer, BCD, status
 * word) back to it.
 */
#include "cpu-diff.h"

#define N_CASES 80

static DiffCPU dcpu;

typedef struct Seq {
    const char *name;
    uint8_t code[40];
    int len;
    int ninsns;
} Seq;

#define SEQ(name, n, ...)                                                                          \
    {                                                                                              \
        name, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), n                                   \
    }

/* every sequence starts with fninit (db e3) and fldcw 16(%rbx) (d9 6b 10) */
static const Seq seqs[] = {
    SEQ("fadd m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x43, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fmul m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x4b, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fsub m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x63, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fsubr m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x6b, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fdiv m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x73, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fdivr m64", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdc, 0x7b, 0x08, 0xdb, 0x7b,
        0x20),
    SEQ("fild/fistp m32", 4, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdb, 0x03, 0xdb, 0x5b, 0x20),
    SEQ("fld/fistp m64", 4, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdf, 0x7b, 0x20),
    SEQ("fld/fistp m16", 4, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdf, 0x5b, 0x20),
    SEQ("fildll/fbstp", 4, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdf, 0x2b, 0xdf, 0x73, 0x20),
    SEQ("fsqrt", 6, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0xe1, 0xd9, 0xfa, 0xdb, 0x7b,
        0x20),
    SEQ("fcompp/fnstsw", 6, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdd, 0x43, 0x08, 0xde, 0xd9,
        0xdf, 0xe0),
    SEQ("fucomip", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdd, 0x43, 0x08, 0xdf, 0xe9),
    SEQ("fxch/fsubp", 7, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdd, 0x43, 0x08, 0xd9, 0xc9,
        0xde, 0xe9, 0xdb, 0x7b, 0x20),
    SEQ("fdivrp", 6, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xdd, 0x43, 0x08, 0xde, 0xf1, 0xdb,
        0x7b, 0x20),
    SEQ("constants", 7, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xd9, 0xee, 0xd9, 0xe8, 0xd9, 0xeb, 0xde,
        0xc1, 0xdb, 0x7b, 0x20),
    SEQ("frndint/fchs", 6, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0xfc, 0xd9, 0xe0, 0xdd,
        0x5b, 0x20),
    SEQ("fst m32/fnstcw", 6, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0x53, 0x20, 0xd9, 0x7b,
        0x28, 0xdd, 0xd8),
    SEQ("fxam", 5, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0xe5, 0xdf, 0xe0),
    SEQ("fprem", 7, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xd9, 0xe8, 0xdd, 0x03, 0xd9, 0xe1, 0xd9, 0xf8,
        0xdb, 0x7b, 0x20),
    SEQ("fnstenv", 4, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0x73, 0x40),
    /* fld; fld1; fxsave64 0x200(%rbx); fninit; fxrstor64 0x200(%rbx); faddp; fstpt */
    SEQ("fxsave/fxrstor", 9, 0xdb, 0xe3, 0xd9, 0x6b, 0x10, 0xdd, 0x03, 0xd9, 0xe8, 0x48, 0x0f, 0xae,
        0x83, 0x00, 0x02, 0x00, 0x00, 0xdb, 0xe3, 0x48, 0x0f, 0xae, 0x8b, 0x00, 0x02, 0x00, 0x00,
        0xde, 0xc1, 0xdb, 0x7b, 0x20),
};

static void test_x87(void)
{
    GRand *r = g_rand_new_with_seed(8);
    int ns = G_N_ELEMENTS(seqs), n = ns * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        const Seq *s = &seqs[i / N_CASES];
        DiffCase *c = &cases[i];
        for (int k = 0; k < 16; k++) {
            c->in.regs[k] = g_rand_int(r);
        }
        c->in.regs[4] = DIFF_DATA + 0x1800;
        c->in.regs[3] = DIFF_DATA + 0x100;
        c->in.flags = g_rand_int(r) & 0x8d5;
        for (int k = 0; k < 2; k++) {
            double d;
            switch (g_rand_int_range(r, 0, 5)) {
            case 0:
                d = g_rand_int_range(r, -100000, 100000);
                break;
            case 1:
                d = g_rand_double_range(r, -1e12, 1e12);
                break;
            case 2:
                d = g_rand_int_range(r, -4, 5) + 0.5;
                break;
            case 3:
                d = g_rand_double_range(r, -3, 3);
                break;
            default:
                d = g_rand_double_range(r, 0, 1e30);
                break;
            }
            if (s->code[5] == 0xdf && s->code[6] == 0x2b) {
                int64_t v = (int64_t)g_rand_int(r) * g_rand_int_range(r, 0, 100000);
                memcpy(c->in.data + 0x100, &v, 8);
                continue;
            }
            if (s->code[s->len - 4] == 0xf8) {
                /* fprem is only complete (C2=0) within 63 exponent steps */
                d = g_rand_double_range(r, -1e6, 1e6);
            }
            memcpy(c->in.data + 0x100 + 8 * k, &d, 8);
        }
        uint16_t cw = 0x037f | (g_rand_int_range(r, 0, 4) << 10);
        memcpy(c->in.data + 0x110, &cw, 2);
        memcpy(c->code, s->code, s->len);
        c->len = s->len;
        c->ninsns = s->ninsns;
    }
    if (!diff_run_native(cases, host, n)) {
        g_test_skip("fixed host mapping unavailable");
    } else {
        DiffState ours;
        for (int i = 0; i < n; i++) {
            diff_run_ours(&dcpu, &cases[i], &ours);
            /* fnstenv stores the instruction pointer: not comparable across worlds */
            if (seqs[i / N_CASES].code[8] == 0x73) {
                memset(ours.data + 0x140 + 12, 0, 16);
                memset(host[i].data + 0x140 + 12, 0, 16);
            }
            if (seqs[i / N_CASES].code[9] == 0x48) {
                /* fxsave image: FIP/FDP, MXCSR (host flags), its mask and the xmm registers
                 * (whatever the host's C code left there) are not comparable */
                uint8_t *a = ours.data + 0x300, *b = host[i].data + 0x300;
                memset(a + 8, 0, 16);
                memset(b + 8, 0, 16);
                memset(a + 24, 0, 8);
                memset(b + 24, 0, 8);
                memset(a + 64, 0, 448); /* empty ST(2..7) hold stale host values */
                memset(b + 64, 0, 448);
            }
            diff_compare(&cases[i], &ours, &host[i], 0xcd5, false);
        }
    }
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    diff_cpu_init(&dcpu);
    g_test_add_func("/cpu/diff/x87", test_x87);
    int rc = g_test_run();
    diff_cpu_fini(&dcpu);
    return rc;
}
