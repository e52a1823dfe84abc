/*
 * x87 floating point on the host's 80-bit long double.
 *
 * ST(i) is physical register (TOP + i) & 7; fptags bit r set means register r is empty.
 * Condition codes C0/C1/C2/C3 live in fpus (bits 8, 9, 10, 14). Precision control is
 * ignored (results keep 64 mantissa bits); rounding control applies to integer stores
 * and frndint. Exceptions are masked by default and not delivered (#MF is not raised).
 */
#include "target/i386/cpu-internal.h"

#include <math.h>

#define ENV    (&cpu->env)
#define REG(n) (cpu->env.regs[(n)])

#define C0 0x0100
#define C1 0x0200
#define C2 0x0400
#define C3 0x4000

/*
 * Host x87 arithmetic with the guest's rounding and precision control (exceptions masked).
 * Only pure computations run under it: nothing inside may fault back to the exec loop.
 */
static inline uint16_t fpu_enter(X86CPU *cpu)
{
    uint16_t old, cw = (cpu->env.fpuc & 0x0f00) | 0x3f;
    __asm__ volatile("fnstcw %0" : "=m"(old) : : "memory");
    __asm__ volatile("fldcw %0" : : "m"(cw) : "memory");
    return old;
}

static inline void fpu_leave(uint16_t old)
{
    __asm__ volatile("fldcw %0" : : "m"(old) : "memory");
}

#define GUEST_FPU(expr)                                                                            \
    ({                                                                                             \
        uint16_t _o = fpu_enter(cpu);                                                              \
        __typeof__(expr) _v = (expr);                                                              \
        fpu_leave(_o);                                                                             \
        _v;                                                                                        \
    })

/*
 * The computations GUEST_FPU wraps are out-of-line calls: the compiler keeps calls in order
 * with the memory-clobbering fldcw, which it would not do for inline arithmetic.
 */
static __attribute__((noinline)) long double hw_fsqrt(long double v)
{
    __asm__ volatile("fsqrt" : "+t"(v));
    return v;
}

static __attribute__((noinline)) float to_f32(long double v)
{
    return (float)v;
}

static __attribute__((noinline)) double to_f64(long double v)
{
    return (double)v;
}

static inline long double *st(X86CPU *cpu, int i)
{
    return &ENV->st[(ENV->fpstt + i) & 7].d;
}

static void fpush(X86CPU *cpu, long double v)
{
    ENV->fpstt = (ENV->fpstt - 1) & 7;
    X86FpReg *r = &ENV->st[ENV->fpstt];
    memset(r, 0, sizeof(*r));
    r->d = v;
    ENV->fptags &= ~(1u << ENV->fpstt);
}

static void fpop(X86CPU *cpu)
{
    ENV->fptags |= 1u << ENV->fpstt;
    ENV->fpstt = (ENV->fpstt + 1) & 7;
}

static void set_st(X86CPU *cpu, int i, long double v)
{
    X86FpReg *r = &ENV->st[(ENV->fpstt + i) & 7];
    memset(r, 0, sizeof(*r));
    r->d = v;
}

static void set_cc(X86CPU *cpu, uint16_t c)
{
    ENV->fpus = (ENV->fpus & ~(C0 | C1 | C2 | C3)) | c;
}

static uint16_t cmp_cc(long double a, long double b)
{
    if (isnan(a) || isnan(b)) {
        return C0 | C2 | C3;
    }
    return a < b ? C0 : a == b ? C3 : 0;
}

static long double round_rc(X86CPU *cpu, long double v)
{
    switch ((ENV->fpuc >> 10) & 3) {
    case 0:
        return nearbyintl(v);
    case 1:
        return floorl(v);
    case 2:
        return ceill(v);
    default:
        return truncl(v);
    }
}

/* Integer store with the x87's "integer indefinite" on overflow or NaN. */
static int64_t to_int(long double v, int bytes)
{
    long double lim = bytes == 2 ? 32768.0L : bytes == 4 ? 2147483648.0L : 9223372036854775808.0L;
    if (isnan(v) || v >= lim || v < -lim) {
        return bytes == 2 ? INT16_MIN : bytes == 4 ? INT32_MIN : INT64_MIN;
    }
    return (int64_t)v;
}

static long double ld_m80(X86CPU *cpu, uint64_t la)
{
    X86FpReg r;
    memset(&r, 0, sizeof(r));
    r.raw.mant = x86_ld(cpu, la, 8);
    r.raw.exp = x86_ld(cpu, la + 8, 2);
    return r.d;
}

static void st_m80(X86CPU *cpu, uint64_t la, long double v)
{
    X86FpReg r;
    memset(&r, 0, sizeof(r));
    r.d = v;
    (void)x86_ld(cpu, la + 9, 1);
    x86_st(cpu, la, r.raw.mant, 8);
    x86_st(cpu, la + 8, r.raw.exp, 2);
}

static long double ld_bcd(X86CPU *cpu, uint64_t la)
{
    long double v = 0;
    for (int i = 8; i >= 0; i--) {
        uint8_t b = x86_ld(cpu, la + i, 1);
        v = v * 100 + (b >> 4) * 10 + (b & 15);
    }
    return (x86_ld(cpu, la + 9, 1) & 0x80) ? -v : v;
}

static void st_bcd(X86CPU *cpu, uint64_t la, long double v)
{
    long double a = fabsl(round_rc(cpu, v));
    uint8_t out[10] = {0};
    if (isnan(v) || a >= 1e18L) {
        /* packed BCD indefinite */
        memset(out, 0, sizeof(out));
        out[7] = 0xc0;
        out[8] = 0xff;
        out[9] = 0xff;
    } else {
        uint64_t n = (uint64_t)a;
        for (int i = 0; i < 9; i++) {
            out[i] = (n % 10) | ((n / 10 % 10) << 4);
            n /= 100;
        }
        out[9] = signbit(v) ? 0x80 : 0;
    }
    (void)x86_ld(cpu, la + 9, 1);
    for (int i = 0; i < 10; i++) {
        x86_st(cpu, la + i, out[i], 1);
    }
}

static uint16_t full_tag_word(X86CPU *cpu)
{
    uint16_t tw = 0;
    for (int r = 0; r < 8; r++) {
        uint16_t t;
        if (ENV->fptags & (1u << r)) {
            t = 3;
        } else {
            long double v = ENV->st[r].d;
            t = v == 0 ? 1 : (isnan(v) || isinf(v) || !isnormal(v)) ? 2 : 0;
        }
        tw |= t << (2 * r);
    }
    return tw;
}

static uint16_t fsw(X86CPU *cpu)
{
    return (ENV->fpus & ~0x3800) | ((ENV->fpstt & 7) << 11);
}

/* fnstenv / fldenv (protected-mode 32-bit layout, 28 bytes) */
static void store_env(X86CPU *cpu, uint64_t la)
{
    x86_st(cpu, la, ENV->fpuc | 0xffff0000u, 4);
    x86_st(cpu, la + 4, fsw(cpu) | 0xffff0000u, 4);
    x86_st(cpu, la + 8, full_tag_word(cpu) | 0xffff0000u, 4);
    x86_st(cpu, la + 12, (uint32_t)ENV->fpip, 4);
    x86_st(cpu, la + 16, 0, 4);
    x86_st(cpu, la + 20, (uint32_t)ENV->fpdp, 4);
    x86_st(cpu, la + 24, 0, 4);
}

static void load_env(X86CPU *cpu, uint64_t la)
{
    ENV->fpuc = x86_ld(cpu, la, 2);
    uint16_t sw = x86_ld(cpu, la + 4, 2);
    uint16_t tw = x86_ld(cpu, la + 8, 2);
    ENV->fpstt = (sw >> 11) & 7;
    ENV->fpus = sw & ~0x3800;
    ENV->fptags = 0;
    for (int r = 0; r < 8; r++) {
        if (((tw >> (2 * r)) & 3) == 3) {
            ENV->fptags |= 1u << r;
        }
    }
}

static __attribute__((noinline)) long double arith(int op, long double a, long double b)
{
    switch (op) {
    case 0:
        return a + b;
    case 1:
        return a * b;
    case 4:
        return a - b;
    case 5:
        return b - a;
    case 6:
        return a / b;
    default:
        return b / a;
    }
}

static void fcomi(X86CPU *cpu, long double a, long double b)
{
    uint32_t f;
    if (isnan(a) || isnan(b)) {
        f = CC_Z | CC_P | CC_C;
    } else {
        f = a < b ? CC_C : a == b ? CC_Z : 0;
    }
    ENV->eflags = (ENV->eflags & ~(uint64_t)CC_ALL) | f;
    ENV->cc_op = CC_OP_EFLAGS;
}

static void fxam(X86CPU *cpu)
{
    long double v = *st(cpu, 0);
    uint16_t c = signbit(v) ? C1 : 0;
    if (ENV->fptags & (1u << ENV->fpstt)) {
        c |= C3 | C0;
    } else if (isnan(v)) {
        c |= C0;
    } else if (isinf(v)) {
        c |= C2 | C0;
    } else if (v == 0) {
        c |= C3;
    } else if (!isnormal(v)) {
        c |= C3 | C2;
    } else {
        c |= C2;
    }
    set_cc(cpu, c);
}

/* D9 with a register operand: constants, fxch, unary functions */
static void d9_reg(X86CPU *cpu, const X86Insn *in)
{
    int r = in->reg & 7, i = in->rm & 7;
    long double *t = st(cpu, 0);
    switch (r) {
    case 0: {
        long double v = *st(cpu, i);
        fpush(cpu, v);
        return;
    }
    case 1: {
        long double v = *st(cpu, i);
        set_st(cpu, i, *t);
        set_st(cpu, 0, v);
        return;
    }
    case 2:
        if (i == 0) {
            return;
        }
        break; /* fnop */
    case 4:
        switch (i) {
        case 0:
            set_st(cpu, 0, -*t);
            return;
        case 1:
            set_st(cpu, 0, fabsl(*t));
            return;
        case 4:
            set_cc(cpu, cmp_cc(*t, 0));
            return;
        case 5:
            fxam(cpu);
            return;
        }
        break;
    case 5: {
        static const long double k[7] = {1.0L,
                                         3.321928094887362347870L,
                                         1.442695040888963407360L,
                                         3.141592653589793238463L,
                                         0.301029995663981195214L,
                                         0.693147180559945309417L,
                                         0.0L};
        if (i < 7) {
            fpush(cpu, k[i]);
            return;
        }
        break;
    }
    case 6:
        switch (i) {
        case 0:
            set_st(cpu, 0, exp2l(*t) - 1);
            return; /* f2xm1 */
        case 1:
            set_st(cpu, 1, *st(cpu, 1) * log2l(*t));
            fpop(cpu);
            return; /* fyl2x */
        case 2:
            set_st(cpu, 0, tanl(*t));
            fpush(cpu, 1.0L);
            set_cc(cpu, 0);
            return;
        case 3:
            set_st(cpu, 1, atan2l(*st(cpu, 1), *t));
            fpop(cpu);
            return;
        case 4: { /* fxtract */
            long double v = *t;
            int e;
            long double m = frexpl(v, &e);
            set_st(cpu, 0, (long double)(e - 1));
            fpush(cpu, m * 2);
            return;
        }
        case 5:
        case 0x8:
            break;
        case 6:
            ENV->fpstt = (ENV->fpstt - 1) & 7;
            return; /* fdecstp */
        case 7:
            ENV->fpstt = (ENV->fpstt + 1) & 7;
            return; /* fincstp */
        }
        if (i == 5) { /* fprem1 */
            set_st(cpu, 0, remainderl(*t, *st(cpu, 1)));
            set_cc(cpu, 0);
            return;
        }
        break;
    case 7:
        switch (i) {
        case 0: { /* fprem: truncating remainder, complete in one step */
            long double q = truncl(*t / *st(cpu, 1));
            set_st(cpu, 0, fmodl(*t, *st(cpu, 1)));
            uint64_t qi = (uint64_t)fabsl(q);
            set_cc(cpu, ((qi & 1) ? C1 : 0) | ((qi & 2) ? C3 : 0) | ((qi & 4) ? C0 : 0));
            return;
        }
        case 1:
            set_st(cpu, 1, *st(cpu, 1) * log2l(*t + 1));
            fpop(cpu);
            return;
        case 2:
            set_st(cpu, 0, GUEST_FPU(hw_fsqrt(*t)));
            return;
        case 3: {
            long double v = *t;
            set_st(cpu, 0, sinl(v));
            fpush(cpu, cosl(v));
            set_cc(cpu, 0);
            return;
        }
        case 4:
            set_st(cpu, 0, round_rc(cpu, *t));
            return;
        case 5:
            set_st(cpu, 0, scalbnl(*t, (int)truncl(*st(cpu, 1))));
            return;
        case 6:
            set_st(cpu, 0, sinl(*t));
            set_cc(cpu, 0);
            return;
        case 7:
            set_st(cpu, 0, cosl(*t));
            set_cc(cpu, 0);
            return;
        }
        break;
    }
    x86_unimplemented(cpu, in);
}

void x86_exec_x87(X86CPU *cpu, const X86Insn *in)
{
    if (ENV->cr0 & (CR0_EM | CR0_TS)) {
        x86_raise(cpu, EXCP_NM, -1);
    }
    int esc = in->op - 0xd8, r = in->reg & 7, i = in->rm & 7;
    if (in->mod != 3) {
        uint64_t la = x86_ea(cpu, in);
        ENV->fpdp = la;
        ENV->fpip = cpu->cur_rip;
        switch (esc) {
        case 0:
        case 2:
        case 4:
        case 6: {
            /* arithmetic with m32fp, m32int, m64fp, m16int */
            long double v;
            if (esc == 0) {
                uint32_t b = x86_ld(cpu, la, 4);
                float f;
                memcpy(&f, &b, 4);
                v = f;
            } else if (esc == 4) {
                uint64_t b = x86_ld(cpu, la, 8);
                double d;
                memcpy(&d, &b, 8);
                v = d;
            } else if (esc == 2) {
                v = (int32_t)x86_ld(cpu, la, 4);
            } else {
                v = (int16_t)x86_ld(cpu, la, 2);
            }
            if (r == 2 || r == 3) {
                set_cc(cpu, cmp_cc(*st(cpu, 0), v));
                if (r == 3) {
                    fpop(cpu);
                }
            } else {
                set_st(cpu, 0, GUEST_FPU(arith(r, *st(cpu, 0), v)));
            }
            return;
        }
        case 1:
            switch (r) {
            case 0: {
                uint32_t b = x86_ld(cpu, la, 4);
                float f;
                memcpy(&f, &b, 4);
                fpush(cpu, f);
                return;
            }
            case 2:
            case 3: {
                float f = GUEST_FPU(to_f32(*st(cpu, 0)));
                uint32_t b;
                memcpy(&b, &f, 4);
                x86_st(cpu, la, b, 4);
                if (r == 3) {
                    fpop(cpu);
                }
                return;
            }
            case 4:
                load_env(cpu, la);
                return;
            case 5:
                ENV->fpuc = x86_ld(cpu, la, 2);
                return;
            case 6:
                store_env(cpu, la);
                return;
            case 7:
                x86_st(cpu, la, ENV->fpuc, 2);
                return;
            }
            break;
        case 3:
            switch (r) {
            case 0:
                fpush(cpu, (int32_t)x86_ld(cpu, la, 4));
                return;
            case 1:
                x86_st(cpu, la, (uint32_t)to_int(truncl(*st(cpu, 0)), 4), 4);
                fpop(cpu);
                return;
            case 2:
            case 3:
                x86_st(cpu, la, (uint32_t)to_int(round_rc(cpu, *st(cpu, 0)), 4), 4);
                if (r == 3) {
                    fpop(cpu);
                }
                return;
            case 5:
                fpush(cpu, ld_m80(cpu, la));
                return;
            case 7:
                st_m80(cpu, la, *st(cpu, 0));
                fpop(cpu);
                return;
            }
            break;
        case 5:
            switch (r) {
            case 0: {
                uint64_t b = x86_ld(cpu, la, 8);
                double d;
                memcpy(&d, &b, 8);
                fpush(cpu, d);
                return;
            }
            case 1:
                x86_st(cpu, la, (uint64_t)to_int(truncl(*st(cpu, 0)), 8), 8);
                fpop(cpu);
                return;
            case 2:
            case 3: {
                double d = GUEST_FPU(to_f64(*st(cpu, 0)));
                uint64_t b;
                memcpy(&b, &d, 8);
                x86_st(cpu, la, b, 8);
                if (r == 3) {
                    fpop(cpu);
                }
                return;
            }
            case 4: /* frstor */
                load_env(cpu, la);
                for (int k = 0; k < 8; k++) {
                    set_st(cpu, k, ld_m80(cpu, la + 28 + 10 * k));
                }
                return;
            case 6: /* fnsave */
                store_env(cpu, la);
                for (int k = 0; k < 8; k++) {
                    st_m80(cpu, la + 28 + 10 * k, *st(cpu, k));
                }
                x86_fpu_reset(cpu);
                return;
            case 7:
                x86_st(cpu, la, fsw(cpu), 2);
                return;
            }
            break;
        case 7:
            switch (r) {
            case 0:
                fpush(cpu, (int16_t)x86_ld(cpu, la, 2));
                return;
            case 1:
                x86_st(cpu, la, (uint16_t)to_int(truncl(*st(cpu, 0)), 2), 2);
                fpop(cpu);
                return;
            case 2:
            case 3:
                x86_st(cpu, la, (uint16_t)to_int(round_rc(cpu, *st(cpu, 0)), 2), 2);
                if (r == 3) {
                    fpop(cpu);
                }
                return;
            case 4:
                fpush(cpu, ld_bcd(cpu, la));
                return;
            case 5:
                fpush(cpu, (int64_t)x86_ld(cpu, la, 8));
                return;
            case 6:
                st_bcd(cpu, la, *st(cpu, 0));
                fpop(cpu);
                return;
            case 7:
                x86_st(cpu, la, (uint64_t)to_int(round_rc(cpu, *st(cpu, 0)), 8), 8);
                fpop(cpu);
                return;
            }
            break;
        }
        x86_unimplemented(cpu, in);
        return;
    }

    ENV->fpip = cpu->cur_rip;
    switch (esc) {
    case 0: /* st0 op st(i) */
        if (r == 2 || r == 3) {
            set_cc(cpu, cmp_cc(*st(cpu, 0), *st(cpu, i)));
            if (r == 3) {
                fpop(cpu);
            }
        } else {
            set_st(cpu, 0, GUEST_FPU(arith(r, *st(cpu, 0), *st(cpu, i))));
        }
        return;
    case 1:
        d9_reg(cpu, in);
        return;
    case 2:
        if (r < 4) { /* fcmovb/e/be/u */
            static const int cc[4] = {2, 4, 6, 10};
            if (x86_cond(cpu, cc[r])) {
                set_st(cpu, 0, *st(cpu, i));
            }
            return;
        }
        if (r == 5 && i == 1) { /* fucompp */
            set_cc(cpu, cmp_cc(*st(cpu, 0), *st(cpu, 1)));
            fpop(cpu);
            fpop(cpu);
            return;
        }
        break;
    case 3:
        if (r < 4) { /* fcmovnb/ne/nbe/nu */
            static const int cc[4] = {3, 5, 7, 11};
            if (x86_cond(cpu, cc[r])) {
                set_st(cpu, 0, *st(cpu, i));
            }
            return;
        }
        if (r == 4) {
            switch (i) {
            case 0:
            case 1:
            case 4:
                return; /* feni fdisi fsetpm */
            case 2:
                ENV->fpus &= ~0x80ff;
                return; /* fnclex */
            case 3:
                x86_fpu_reset(cpu);
                return; /* fninit */
            }
        }
        if (r == 5 || r == 6) {
            fcomi(cpu, *st(cpu, 0), *st(cpu, i));
            return;
        }
        break;
    case 4: /* st(i) op st0 */
        if (r == 2 || r == 3) {
            set_cc(cpu, cmp_cc(*st(cpu, 0), *st(cpu, i)));
            if (r == 3) {
                fpop(cpu);
            }
            return;
        }
        /* the reversed forms swap sub/subr and div/divr relative to D8 */
        set_st(cpu, i, GUEST_FPU(arith(r < 4 ? r : (r ^ 1), *st(cpu, i), *st(cpu, 0))));
        return;
    case 5:
        switch (r) {
        case 0:
            ENV->fptags |= 1u << ((ENV->fpstt + i) & 7);
            return; /* ffree */
        case 2:
            set_st(cpu, i, *st(cpu, 0));
            return; /* fst */
        case 3:
            set_st(cpu, i, *st(cpu, 0));
            fpop(cpu);
            return; /* fstp */
        case 4:
        case 5:
            set_cc(cpu, cmp_cc(*st(cpu, 0), *st(cpu, i)));
            if (r == 5) {
                fpop(cpu);
            }
            return;
        }
        break;
    case 6:
        if (r == 3) {
            if (i == 1) { /* fcompp */
                set_cc(cpu, cmp_cc(*st(cpu, 0), *st(cpu, 1)));
                fpop(cpu);
                fpop(cpu);
                return;
            }
            break;
        }
        if (r == 2) {
            break;
        }
        set_st(cpu, i, GUEST_FPU(arith(r < 4 ? r : (r ^ 1), *st(cpu, i), *st(cpu, 0))));
        fpop(cpu);
        return;
    case 7:
        if (r == 4 && i == 0) { /* fnstsw ax */
            REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | fsw(cpu);
            return;
        }
        if (r == 5 || r == 6) { /* fucomip / fcomip */
            fcomi(cpu, *st(cpu, 0), *st(cpu, i));
            fpop(cpu);
            return;
        }
        if (r == 0) { /* ffreep */
            ENV->fptags |= 1u << ((ENV->fpstt + i) & 7);
            fpop(cpu);
            return;
        }
        break;
    }
    x86_unimplemented(cpu, in);
}
