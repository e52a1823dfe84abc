/*
 * Differential tests of integer instructions: our CPU against the host CPU.
 */
#include "cpu-diff.h"

#define N_CASES   200
#define ALL_FLAGS 0xcd5ull
#define F_CF      0x001ull
#define F_PF      0x004ull
#define F_AF      0x010ull
#define F_ZF      0x040ull
#define F_SF      0x080ull
#define F_OF      0x800ull

static DiffCPU dcpu;

typedef struct Form {
    const char *name;
    const uint8_t *op; /* opcode bytes */
    int oplen;
    int modrm_reg;  /* fixed ModRM.reg (group opcodes), or -1 */
    int imm;        /* immediate bytes */
    int sizes;      /* bit 0: byte op (no 66/REX.W), bit 1: 16, bit 2: 32, bit 3: 64 */
    bool mem;       /* memory operand form allowed */
    bool reg_only;  /* register form only */
    uint64_t flags; /* defined flags */
    int prefix;     /* mandatory prefix byte (F3 for popcnt), or 0 */
} Form;

static uint64_t rnd64(GRand *r)
{
    uint64_t v = ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);
    switch (g_rand_int_range(r, 0, 8)) {
    case 0:
        return 0;
    case 1:
        return v & 0xff;
    case 2:
        return (uint64_t) - (int64_t)(v & 0xf);
    case 3:
        return 0x8000000000000000ull >> g_rand_int_range(r, 0, 64);
    case 4:
        return v & 0xffffffff;
    default:
        return v;
    }
}

static void random_state(GRand *r, DiffState *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 16; i++) {
        s->regs[i] = rnd64(r);
    }
    s->regs[4] = DIFF_DATA + 0x1800;  /* rsp */
    s->regs[3] = DIFF_DATA + 0x100;   /* rbx: memory operand base */
    s->flags = g_rand_int(r) & 0x8d5; /* no DF by default */
    for (unsigned i = 0; i < DIFF_DATA_SIZE; i++) {
        s->data[i] = g_rand_int(r);
    }
}

static int pick_reg(GRand *r, bool mem)
{
    for (;;) {
        int x = g_rand_int_range(r, 0, 16);
        if (x != 4 && !(mem && x == 3)) {
            return x;
        }
    }
}

static void make_case(GRand *r, const Form *f, DiffCase *c)
{
    random_state(r, &c->in);
    int sizes[4], ns = 0;
    for (int i = 0; i < 4; i++) {
        if (f->sizes & (1 << i)) {
            sizes[ns++] = i;
        }
    }
    int sz = sizes[g_rand_int_range(r, 0, ns)];
    /* a lock prefix is only legal with a memory destination */
    bool locked = f->prefix == 0xf0;
    bool mem = locked || (f->mem && !f->reg_only && g_rand_boolean(r));
    int reg = f->modrm_reg >= 0 ? f->modrm_reg : pick_reg(r, mem);
    int rm = pick_reg(r, mem);
    uint8_t *p = c->code;
    if (f->prefix == 0x66 || sz == 1) {
        *p++ = 0x66;
    }
    if (f->prefix && f->prefix != 0x66) {
        *p++ = f->prefix;
    }
    int rex = 0x40 | (sz == 3 ? 8 : 0) | ((reg & 8) ? 4 : 0) | (!mem && (rm & 8) ? 1 : 0);
    if (rex != 0x40 || (sz == 0 && g_rand_boolean(r))) {
        *p++ = rex;
    }
    memcpy(p, f->op, f->oplen);
    p += f->oplen;
    if (f->modrm_reg != -2) {
        if (mem) {
            *p++ = 0x40 | ((reg & 7) << 3) | 3;
            /* xchg with memory is locked: keep it aligned (a split lock stalls the host) */
            *p++ = g_rand_int_range(r, 0, 0x70) & (f->op[0] == 0x87 || locked ? 0x78 : 0xff);
        } else {
            *p++ = 0xc0 | ((reg & 7) << 3) | (rm & 7);
        }
    }
    for (int i = 0; i < f->imm; i++) {
        *p++ = g_rand_int(r);
    }
    c->len = p - c->code;
    if (mem && f->oplen == 2 && f->op[0] == 0x0f && (f->op[1] & 0xc7) == 0x83) {
        /* bt family: a register bit offset reaches +-256 bytes around the operand */
        c->in.regs[reg] = (uint64_t)(int64_t)g_rand_int_range(r, -2048, 2048);
    }
}

static void run_forms(const Form *forms, int nforms, uint32_t seed)
{
    GRand *r = g_rand_new_with_seed(seed);
    int n = nforms * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        make_case(r, &forms[i / N_CASES], &cases[i]);
    }
    if (!diff_run_native(cases, host, n)) {
        g_test_skip("fixed host mapping unavailable");
    } else {
        DiffState ours;
        for (int i = 0; i < n; i++) {
            diff_run_ours(&dcpu, &cases[i], &ours);
            diff_compare(&cases[i], &ours, &host[i], forms[i / N_CASES].flags, false);
        }
    }
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

#define OP(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static void test_alu(void)
{
    const Form forms[] = {
        {"add", OP(0x00), -1, 0, 1, true, false, ALL_FLAGS},
        {"add", OP(0x01), -1, 0, 14, true, false, ALL_FLAGS},
        {"or", OP(0x0b), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"adc", OP(0x11), -1, 0, 14, true, false, ALL_FLAGS},
        {"adc", OP(0x12), -1, 0, 1, true, false, ALL_FLAGS},
        {"sbb", OP(0x19), -1, 0, 14, true, false, ALL_FLAGS},
        {"sbb", OP(0x1a), -1, 0, 1, true, false, ALL_FLAGS},
        {"and", OP(0x21), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"sub", OP(0x29), -1, 0, 14, true, false, ALL_FLAGS},
        {"sub", OP(0x2a), -1, 0, 1, true, false, ALL_FLAGS},
        {"xor", OP(0x31), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"cmp", OP(0x39), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmp", OP(0x3a), -1, 0, 1, true, false, ALL_FLAGS},
        {"test", OP(0x85), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"add imm8", OP(0x83), 0, 1, 14, true, false, ALL_FLAGS},
        {"adc imm8", OP(0x83), 2, 1, 14, true, false, ALL_FLAGS},
        {"sub imm", OP(0x81), 5, 4, 12, true, false, ALL_FLAGS},
        {"cmp imm", OP(0x81), 7, 4, 12, true, false, ALL_FLAGS},
        {"and imm8", OP(0x80), 4, 1, 1, true, false, ALL_FLAGS & ~F_AF},
        {"sbb imm8", OP(0x80), 3, 1, 1, true, false, ALL_FLAGS},
        {"inc", OP(0xff), 0, 0, 14, true, false, ALL_FLAGS},
        {"dec", OP(0xfe), 1, 0, 1, true, false, ALL_FLAGS},
        {"not", OP(0xf7), 2, 0, 14, true, false, ALL_FLAGS},
        {"neg", OP(0xf7), 3, 0, 14, true, false, ALL_FLAGS},
        {"neg8", OP(0xf6), 3, 0, 1, true, false, ALL_FLAGS},
        {"test imm", OP(0xf7), 0, 4, 12, true, false, ALL_FLAGS & ~F_AF},
    };
    run_forms(forms, G_N_ELEMENTS(forms), 1);
}

/* Lock-prefixed read-modify-writes on aligned RAM: ours take the compare-and-swap path */
static void test_locked(void)
{
    const Form forms[] = {
        {"lock add", OP(0x01), -1, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock or8", OP(0x08), -1, 0, 1, true, false, ALL_FLAGS & ~F_AF, 0xf0},
        {"lock adc", OP(0x11), -1, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock sbb", OP(0x19), -1, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock and", OP(0x21), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF, 0xf0},
        {"lock sub", OP(0x29), -1, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock xor", OP(0x31), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF, 0xf0},
        {"lock add imm8", OP(0x83), 0, 1, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock sub imm", OP(0x81), 5, 4, 12, true, false, ALL_FLAGS, 0xf0},
        {"lock and imm8 b", OP(0x80), 4, 1, 1, true, false, ALL_FLAGS & ~F_AF, 0xf0},
        {"lock inc", OP(0xff), 0, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock dec8", OP(0xfe), 1, 0, 1, true, false, ALL_FLAGS, 0xf0},
        {"lock not", OP(0xf7), 2, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock neg", OP(0xf7), 3, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock neg8", OP(0xf6), 3, 0, 1, true, false, ALL_FLAGS, 0xf0},
        {"lock xadd", OP(0x0f, 0xc1), -1, 0, 14, true, false, ALL_FLAGS, 0xf0},
        {"lock xadd8", OP(0x0f, 0xc0), -1, 0, 1, true, false, ALL_FLAGS, 0xf0},
    };
    run_forms(forms, G_N_ELEMENTS(forms), 7);
}

/* The forms the Linux boot runs most, which have specialised handlers (exec.c) */
static void test_kernel_forms(void)
{
    const Form forms[] = {
        {"add r,m", OP(0x03), -1, 0, 14, true, false, ALL_FLAGS},
        {"or r,m", OP(0x0b), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"adc r,m", OP(0x13), -1, 0, 14, true, false, ALL_FLAGS},
        {"sbb r,m", OP(0x1b), -1, 0, 14, true, false, ALL_FLAGS},
        {"and r,m", OP(0x23), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"sub r,m", OP(0x2b), -1, 0, 14, true, false, ALL_FLAGS},
        {"xor r,m", OP(0x33), -1, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"cmp r,m", OP(0x3b), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmp m8,r8", OP(0x38), -1, 0, 1, true, false, ALL_FLAGS},
        {"cmp al", OP(0x3c), -2, 1, 1, false, true, ALL_FLAGS},
        {"test r8", OP(0x84), -1, 0, 1, true, false, ALL_FLAGS & ~F_AF},
        {"cmp imm8 b", OP(0x80), 7, 1, 1, true, false, ALL_FLAGS},
        {"cmp imm8", OP(0x83), 7, 1, 14, true, false, ALL_FLAGS},
        {"test imm8", OP(0xf6), 0, 1, 1, true, false, ALL_FLAGS & ~F_AF},
        {"test imm m", OP(0xf7), 0, 4, 12, true, false, ALL_FLAGS & ~F_AF},
        {"mov r8 to m", OP(0x88), -1, 0, 1, true, false, ALL_FLAGS},
        {"mov m to r", OP(0x8b), -1, 0, 14, true, false, ALL_FLAGS},
        {"mov imm8", OP(0xc6), 0, 1, 1, true, false, ALL_FLAGS},
        {"mov imm", OP(0xc7), 0, 4, 12, true, false, ALL_FLAGS},
        {"mov eax imm", OP(0xb8), -2, 4, 4, false, true, ALL_FLAGS},
        {"mov r11 imm", OP(0x41, 0xbb), -2, 4, 4, false, true, ALL_FLAGS},
        {"imul r,m", OP(0x0f, 0xaf), -1, 0, 12, true, false, F_CF | F_OF},
        {"movsx8 r,m", OP(0x0f, 0xbe), -1, 0, 12, true, false, ALL_FLAGS},
        {"movzx16 r,m", OP(0x0f, 0xb7), -1, 0, 12, true, false, ALL_FLAGS},
        {"setne", OP(0x0f, 0x95), -1, 0, 1, true, false, ALL_FLAGS},
    };
    run_forms(forms, G_N_ELEMENTS(forms), 6);
}

/*
 * Every condition after every kind of flag-setting operation, reading the lazy flags the
 * operation left: setcc cl; cmovcc rdx, rbx; jcc over one of two equally long tails
 * (inc esi; jmp end / dec edi; nop), so both paths run six instructions.
 */
static void test_conditions(void)
{
    /* opcode, ModRM.reg for group opcodes (-1: a register operand), byte form */
    static const struct {
        uint8_t op;
        int reg;
        bool byte;
    } ops[] = {
        {0x01, -1, false}, {0x09, -1, false}, {0x11, -1, false}, {0x19, -1, false},
        {0x21, -1, false}, {0x29, -1, false}, {0x31, -1, false}, {0x39, -1, false},
        {0x85, -1, false}, {0xff, 0, false},  {0xff, 1, false},  {0xf7, 3, false},
        {0xd1, 4, false},  {0xd1, 7, false},  {0x00, -1, true},  {0x28, -1, true},
        {0x38, -1, true},  {0x20, -1, true},  {0x84, -1, true},  {0xfe, 0, true},
        {0xfe, 1, true},
    };
    GRand *r = g_rand_new_with_seed(8);
    int n = G_N_ELEMENTS(ops) * 16 * 4;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        int o = i / 64, cc = (i / 4) % 16;
        DiffCase *c = &cases[i];
        random_state(r, &c->in);
        if (g_rand_boolean(r)) {
            c->in.regs[0] = c->in.regs[1]; /* equal operands: ZF and the equal cases */
        }
        uint8_t *p = c->code;
        int sz = ops[o].byte ? 1 : (int[]){2, 4, 8}[g_rand_int_range(r, 0, 3)];
        if (sz == 2) {
            *p++ = 0x66;
        } else if (sz == 8) {
            *p++ = 0x48;
        }
        int reg = ops[o].reg >= 0 ? ops[o].reg : 1; /* rcx, rax: */
        *p++ = ops[o].op;
        *p++ = 0xc0 | (reg << 3);
        const uint8_t tail[] = {0x0f,      0x90 | cc, 0xc1,            /* setcc cl */
                                0x48,      0x0f,      0x40 | cc, 0xd3, /* cmovcc rdx, rbx */
                                0x70 | cc, 0x04,                       /* jcc +4 */
                                0xff,      0xc6,      0xeb,      0x03, /* inc esi; jmp end */
                                0xff,      0xcf,      0x90};           /* dec edi; nop */
        memcpy(p, tail, sizeof(tail));
        c->len = p - c->code + sizeof(tail);
        c->ninsns = 6;
    }
    diff_run_and_compare(&dcpu, cases, host, n, ALL_FLAGS);
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

/* Loads and stores through base + index * scale + disp (the SIB forms of mov 8b / 89) */
static void test_sib_moves(void)
{
    static const uint8_t ops[][2] = {{0x48, 0x8b}, {0x40, 0x8b}, {0x48, 0x89}, {0x40, 0x89}};
    GRand *r = g_rand_new_with_seed(9);
    int n = 4 * N_CASES;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        DiffCase *c = &cases[i];
        random_state(r, &c->in);
        int scale = g_rand_int_range(r, 0, 4);
        int reg = g_rand_int_range(r, 0, 3) == 0 ? 8 : 0; /* rax or r8 */
        c->in.regs[R_ECX] = g_rand_int_range(r, 0, 0x100);
        uint8_t *p = c->code;
        *p++ = ops[i % 4][0] | (reg ? 4 : 0);
        *p++ = ops[i % 4][1];
        *p++ = 0x44;                        /* mod 01, rm 100: SIB + disp8 */
        *p++ = (scale << 6) | (1 << 3) | 3; /* rbx + rcx << scale */
        *p++ = g_rand_int_range(r, -0x80, 0x80);
        c->len = p - c->code;
    }
    diff_run_and_compare(&dcpu, cases, host, n, ALL_FLAGS);
    g_free(cases);
    g_free(host);
    g_rand_free(r);
}

static void test_shift(void)
{
    /* OF is only defined for 1-bit shifts, AF never; CF beyond the width is undefined */
    const Form forms[] = {
        {"shl1", OP(0xd1), 4, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"shr1", OP(0xd1), 5, 0, 14, true, false, ALL_FLAGS & ~F_AF},
        {"sar1", OP(0xd0), 7, 0, 1, true, false, ALL_FLAGS & ~F_AF},
        {"rol1", OP(0xd1), 0, 0, 14, true, false, F_CF | F_OF},
        {"ror1", OP(0xd1), 1, 0, 14, true, false, F_CF | F_OF},
        {"rcl1", OP(0xd1), 2, 0, 14, true, false, F_CF | F_OF},
        {"rcr1", OP(0xd0), 3, 0, 1, true, false, F_CF | F_OF},
        {"shl imm", OP(0xc1), 4, 1, 12, true, false, F_ZF | F_SF | F_PF},
        {"shr imm", OP(0xc1), 5, 1, 12, true, false, F_ZF | F_SF | F_PF},
        {"sar imm", OP(0xc1), 7, 1, 12, true, false, F_ZF | F_SF | F_PF | F_CF},
        {"rol imm", OP(0xc1), 0, 1, 12, true, false, F_CF},
        {"ror imm", OP(0xc1), 1, 1, 12, true, false, F_CF},
        {"rcl imm", OP(0xc1), 2, 1, 12, true, false, F_CF},
        {"rcr imm", OP(0xc1), 3, 1, 12, true, false, F_CF},
        {"rcr8 imm", OP(0xc0), 3, 1, 1, true, false, F_CF},
        {"rcl16 imm", OP(0xc1), 2, 1, 2, true, false, F_CF},
        {"shld imm", OP(0x0f, 0xa4), -1, 1, 12, true, false, F_ZF | F_SF | F_PF},
        {"shrd imm", OP(0x0f, 0xac), -1, 1, 12, true, false, F_ZF | F_SF | F_PF},
    };
    run_forms(forms, G_N_ELEMENTS(forms), 2);
}

static void test_muldiv(void)
{
    const Form forms[] = {
        {"mul", OP(0xf7), 4, 0, 14, true, false, F_CF | F_OF},
        {"mul8", OP(0xf6), 4, 0, 1, true, false, F_CF | F_OF},
        {"imul1", OP(0xf7), 5, 0, 14, true, false, F_CF | F_OF},
        {"imul2", OP(0x0f, 0xaf), -1, 0, 14, true, false, F_CF | F_OF},
        {"imul3", OP(0x69), -1, 4, 12, true, false, F_CF | F_OF},
        {"imul3b", OP(0x6b), -1, 1, 14, true, false, F_CF | F_OF},
        {"div", OP(0xf7), 6, 0, 14, true, false, 0},
        {"div8", OP(0xf6), 6, 0, 1, true, false, 0},
        {"idiv", OP(0xf7), 7, 0, 14, true, false, 0},
        {"idiv8", OP(0xf6), 7, 0, 1, true, false, 0},
    };
    run_forms(forms, G_N_ELEMENTS(forms), 3);
}

static void test_bits(void)
{
    const Form forms[] = {
        {"bt", OP(0x0f, 0xa3), -1, 0, 14, true, false, F_CF},
        {"bts", OP(0x0f, 0xab), -1, 0, 14, true, false, F_CF},
        {"btr", OP(0x0f, 0xb3), -1, 0, 14, false, false, F_CF},
        {"btc", OP(0x0f, 0xbb), -1, 0, 14, false, false, F_CF},
        {"bt imm", OP(0x0f, 0xba), 4, 1, 14, true, false, F_CF},
        {"btc imm", OP(0x0f, 0xba), 7, 1, 14, true, false, F_CF},
        {"bsf", OP(0x0f, 0xbc), -1, 0, 14, true, false, F_ZF},
        {"bsr", OP(0x0f, 0xbd), -1, 0, 14, true, false, F_ZF},
        {"popcnt", OP(0x0f, 0xb8), -1, 0, 14, true, false, ALL_FLAGS, 0xf3},
        {"movzx8", OP(0x0f, 0xb6), -1, 0, 14, true, false, ALL_FLAGS},
        {"movzx16", OP(0x0f, 0xb7), -1, 0, 12, true, false, ALL_FLAGS},
        {"movsx8", OP(0x0f, 0xbe), -1, 0, 14, true, false, ALL_FLAGS},
        {"movsx16", OP(0x0f, 0xbf), -1, 0, 12, true, false, ALL_FLAGS},
        {"movsxd", OP(0x63), -1, 0, 8, true, false, ALL_FLAGS},
        {"cmovb", OP(0x0f, 0x42), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmovle", OP(0x0f, 0x4e), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmovp", OP(0x0f, 0x4a), -1, 0, 14, true, false, ALL_FLAGS},
        {"seto", OP(0x0f, 0x90), -1, 0, 1, true, false, ALL_FLAGS},
        {"setg", OP(0x0f, 0x9f), -1, 0, 1, true, false, ALL_FLAGS},
        {"setbe", OP(0x0f, 0x96), -1, 0, 1, true, false, ALL_FLAGS},
        {"xchg", OP(0x87), -1, 0, 14, true, false, ALL_FLAGS},
        {"xadd", OP(0x0f, 0xc1), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmpxchg", OP(0x0f, 0xb1), -1, 0, 14, true, false, ALL_FLAGS},
        {"cmpxchg8", OP(0x0f, 0xb0), -1, 0, 1, true, false, ALL_FLAGS},
        {"lea", OP(0x8d), -1, 0, 14, true, false, ALL_FLAGS},
        {"mov", OP(0x89), -1, 0, 14, true, false, ALL_FLAGS},
        {"mov8", OP(0x8a), -1, 0, 1, true, false, ALL_FLAGS},
    };
    Form fixed[G_N_ELEMENTS(forms)];
    memcpy(fixed, forms, sizeof(forms));
    for (unsigned i = 0; i < G_N_ELEMENTS(fixed); i++) {
        if (fixed[i].op[0] == 0x8d) {
            fixed[i].mem = true;
            fixed[i].reg_only = false;
        }
    }
    run_forms(fixed, G_N_ELEMENTS(fixed), 4);
}

static void test_misc(void)
{
    /* one-byte forms without ModRM (modrm_reg -2) */
    const Form forms[] = {
        {"cbw/cwde/cdqe", OP(0x98), -2, 0, 14, false, true, ALL_FLAGS},
        {"cwd/cdq/cqo", OP(0x99), -2, 0, 14, false, true, ALL_FLAGS},
        {"lahf", OP(0x9f), -2, 0, 4, false, true, ALL_FLAGS},
        {"sahf", OP(0x9e), -2, 0, 4, false, true, ALL_FLAGS},
        {"cmc", OP(0xf5), -2, 0, 4, false, true, ALL_FLAGS},
        {"bswap", OP(0x0f, 0xc9), -2, 0, 12, false, true, ALL_FLAGS},
        {"push/pop", OP(0x52, 0x41, 0x5b), -2, 0, 4, false, true, ALL_FLAGS},
        {"pushf", OP(0x9c), -2, 0, 4, false, true, ALL_FLAGS},
        {"popf", OP(0x9d), -2, 0, 4, false, true, F_CF | F_ZF | F_SF | F_OF | F_PF | F_AF},
        {"add al", OP(0x04), -2, 1, 4, false, true, ALL_FLAGS},
        {"sub eax imm", OP(0x2d), -2, 4, 12, false, true, ALL_FLAGS},
        {"rep stosb", OP(0xf3, 0xaa), -2, 0, 4, false, true, ALL_FLAGS},
        {"rep movsq", OP(0xf3, 0x48, 0xa5), -2, 0, 4, false, true, ALL_FLAGS},
        {"repe cmpsb", OP(0xf3, 0xa6), -2, 0, 4, false, true, ALL_FLAGS},
        {"repne scasb", OP(0xf2, 0xae), -2, 0, 4, false, true, ALL_FLAGS},
        {"lodsw", OP(0x66, 0xad), -2, 0, 4, false, true, ALL_FLAGS},
        {"std; movsd", OP(0xfd, 0xa5), -2, 0, 4, false, true, ALL_FLAGS},
        /* rep's page-at-a-time path backwards, and overlapping runs both ways (an element
         * reads what an earlier one wrote) */
        {"std; rep movsb", OP(0xfd, 0xf3, 0xa4), -2, 0, 4, false, true, ALL_FLAGS},
        {"std; rep movsd", OP(0xfd, 0xf3, 0xa5), -2, 0, 4, false, true, ALL_FLAGS},
        {"std; rep stosw", OP(0xfd, 0xf3, 0x66, 0xab), -2, 0, 4, false, true, ALL_FLAGS},
        {"rep movsb overlapping", OP(0xf3, 0xa4), -2, 0, 4, false, true, ALL_FLAGS},
        {"rep movsd overlapping", OP(0xf3, 0xa5), -2, 0, 4, false, true, ALL_FLAGS},
        {"std; rep movsb overlapping", OP(0xfd, 0xf3, 0xa4), -2, 0, 4, false, true, ALL_FLAGS},
        {"std; rep movsd overlapping", OP(0xfd, 0xf3, 0xa5), -2, 0, 4, false, true, ALL_FLAGS},
    };
    GRand *r = g_rand_new_with_seed(5);
    int nf = G_N_ELEMENTS(forms), n = nf * 50;
    DiffCase *cases = g_new0(DiffCase, n);
    DiffState *host = g_new0(DiffState, n);
    for (int i = 0; i < n; i++) {
        const Form *f = &forms[i / 50];
        DiffCase *c = &cases[i];
        random_state(r, &c->in);
        uint8_t *p = c->code;
        if ((f->sizes & 8) && (f->sizes & 4) && g_rand_boolean(r)) {
            *p++ = 0x48;
        } else if ((f->sizes & 2) && g_rand_boolean(r)) {
            *p++ = 0x66;
        }
        memcpy(p, f->op, f->oplen);
        p += f->oplen;
        for (int k = 0; k < f->imm; k++) {
            *p++ = g_rand_int(r);
        }
        c->len = p - c->code;
        /* popf must not set TF/AC/DF in the host child: only arithmetic flags on top */
        uint64_t top = g_rand_int(r) & 0x8d5;
        memcpy(c->in.data + 0x1800, &top, 8);
        /* strings: pointers into the data area, short counts */
        c->in.regs[6] = DIFF_DATA + 0x400 + g_rand_int_range(r, 0, 0x100);
        c->in.regs[7] = DIFF_DATA + 0x800 + g_rand_int_range(r, 0, 0x100);
        c->in.regs[1] = g_rand_int_range(r, 0, 40);
        if (strstr(f->name, "overlapping")) {
            c->in.regs[7] = c->in.regs[6] + g_rand_int_range(r, -9, 10);
        }
        if (g_rand_int_range(r, 0, 4) == 0) {
            memmove(c->in.data + (c->in.regs[7] - DIFF_DATA),
                    c->in.data + (c->in.regs[6] - DIFF_DATA), 20); /* equal runs for cmps */
        }
    }
    if (!diff_run_native(cases, host, n)) {
        g_test_skip("fixed host mapping unavailable");
    } else {
        DiffState ours;
        for (int i = 0; i < n; i++) {
            const Form *f = &forms[i / 50];
            /* multi-instruction cases run on our CPU one instruction at a time */
            DiffCase one = cases[i];
            diff_run_ours(&dcpu, &one, &ours);
            if (f->op[0] == 0x52 || f->op[0] == 0xfd) {
                X86CPUState *env = x86_cpu_env(dcpu.cpu);
                (void)env;
                x86_cpu_exec(dcpu.cpu, 1);
                X86CPUState st;
                x86_cpu_get_state(dcpu.cpu, &st);
                memcpy(ours.regs, st.regs, sizeof(ours.regs));
                ours.flags = st.eflags;
                guest_ram_read(dcpu.ram, DIFF_DATA, ours.data, DIFF_DATA_SIZE);
            }
            diff_compare(&cases[i], &ours, &host[i], f->flags, false);
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
    g_test_add_func("/cpu/diff/alu", test_alu);
    g_test_add_func("/cpu/diff/locked", test_locked);
    g_test_add_func("/cpu/diff/kernel-forms", test_kernel_forms);
    g_test_add_func("/cpu/diff/shift", test_shift);
    g_test_add_func("/cpu/diff/conditions", test_conditions);
    g_test_add_func("/cpu/diff/sib-moves", test_sib_moves);
    g_test_add_func("/cpu/diff/muldiv", test_muldiv);
    g_test_add_func("/cpu/diff/bits-moves", test_bits);
    g_test_add_func("/cpu/diff/misc-strings-stack", test_misc);
    int rc = g_test_run();
    diff_cpu_fini(&dcpu);
    return rc;
}
