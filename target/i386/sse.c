/*
 * SSE/SSE2 instructions on the xmm registers: moves, integer SIMD, scalar and packed
 * single/double arithmetic, conversions and compares (what glibc and the kernel use).
 * The MMX forms (no 66 prefix on integer ops) go to mmx.c, which shares the lane arithmetic
 * below.
 */
#include "target/i386/cpu-internal.h"

#include <math.h>

#define ENV    (&cpu->env)
#define REG(n) (cpu->env.regs[(n)])

static void sse_check(X86CPU *cpu)
{
    if ((ENV->cr0 & CR0_EM) || !(ENV->cr4 & CR4_OSFXSR)) {
        x86_raise_ud(cpu);
    }
    if (ENV->cr0 & CR0_TS) {
        x86_raise(cpu, EXCP_NM, -1);
    }
}

/* The xmm source operand (register or 16/8/4 bytes of memory). */
static X86Xmm src_xmm(X86CPU *cpu, const X86Insn *in, int bytes, bool aligned)
{
    X86Xmm v;
    if (in->mod == 3) {
        return ENV->xmm[in->rm];
    }
    uint64_t la = x86_ea(cpu, in);
    if (aligned && (la & 15)) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    memset(&v, 0, sizeof(v));
    if (bytes == 16) {
        v.q[0] = x86_ld(cpu, la, 8);
        v.q[1] = x86_ld(cpu, la + 8, 8);
    } else {
        v.q[0] = x86_ld(cpu, la, bytes);
    }
    return v;
}

static void store_xmm(X86CPU *cpu, const X86Insn *in, const X86Xmm *v, int bytes, bool aligned)
{
    if (in->mod == 3) {
        if (bytes == 16) {
            ENV->xmm[in->rm] = *v;
        } else if (bytes == 8) {
            ENV->xmm[in->rm].q[0] = v->q[0];
        } else {
            ENV->xmm[in->rm].l[0] = v->l[0];
        }
        return;
    }
    uint64_t la = x86_ea(cpu, in);
    if (aligned && (la & 15)) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    if (bytes == 16) {
        (void)x86_ld(cpu, la + 15, 1);
        x86_st(cpu, la, v->q[0], 8);
        x86_st(cpu, la + 8, v->q[1], 8);
    } else {
        x86_st(cpu, la, v->q[0], bytes);
    }
}

static inline uint8_t sat_u8(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}
static inline int8_t sat_s8(int v)
{
    return v < -128 ? -128 : v > 127 ? 127 : v;
}
static inline uint16_t sat_u16(int v)
{
    return v < 0 ? 0 : v > 65535 ? 65535 : v;
}
static inline int16_t sat_s16(int v)
{
    return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}

/*
 * Shift each w-bit lane of the first n bytes of v by c: g is the ModRM group number of the
 * immediate forms (2 logical right, 4 arithmetic right, 6 left). Counts past the lane width
 * clear it (or fill it with the sign).
 */
static void shift_lanes(X86Xmm *v, int n, int w, int g, uint64_t c)
{
    for (int i = 0; i < n * 8 / w; i++) {
        uint64_t x = w == 16 ? v->w[i] : w == 32 ? v->l[i] : v->q[i];
        if (g == 4) {
            int64_t sx = w == 16 ? (int16_t)x : (int32_t)x;
            x = (uint64_t)(sx >> (c >= (uint64_t)w ? (uint64_t)w - 1 : c));
        } else if (c >= (uint64_t)w) {
            x = 0;
        } else {
            x = g == 2 ? x >> c : x << c;
        }
        if (w == 16)
            v->w[i] = x;
        else if (w == 32)
            v->l[i] = x;
        else
            v->q[i] = x;
    }
}

/*
 * Integer SIMD ops 0F 60-6F, 74-76, D1-FF on one vector of n bytes: 16 for an xmm register
 * (66 prefix), 8 for an mm register (held in the low half). Returns false for an opcode that
 * has no such form.
 */
bool x86_simd_int(X86Xmm *d, const X86Xmm *sp, int op, int n)
{
    const X86Xmm s = *sp;
    const int nw = n / 2, nl = n / 4, nq = n / 8;
    X86Xmm r = *d;
    int i;
    switch (op) {
    case 0x60:
        for (i = 0; i < n; i++)
            r.b[i] = i & 1 ? s.b[i / 2] : d->b[i / 2];
        break;
    case 0x61:
        for (i = 0; i < nw; i++)
            r.w[i] = i & 1 ? s.w[i / 2] : d->w[i / 2];
        break;
    case 0x62:
        for (i = 0; i < nl; i++)
            r.l[i] = i & 1 ? s.l[i / 2] : d->l[i / 2];
        break;
    case 0x68:
        for (i = 0; i < n; i++)
            r.b[i] = i & 1 ? s.b[nw + i / 2] : d->b[nw + i / 2];
        break;
    case 0x69:
        for (i = 0; i < nw; i++)
            r.w[i] = i & 1 ? s.w[nl + i / 2] : d->w[nl + i / 2];
        break;
    case 0x6a:
        for (i = 0; i < nl; i++)
            r.l[i] = i & 1 ? s.l[nq + i / 2] : d->l[nq + i / 2];
        break;
    case 0x6c:
    case 0x6d:
        if (n != 16) {
            return false;
        }
        r.q[0] = op == 0x6c ? d->q[0] : d->q[1];
        r.q[1] = op == 0x6c ? s.q[0] : s.q[1];
        break;
    case 0x63:
        for (i = 0; i < nw; i++) {
            r.b[i] = sat_s8((int16_t)d->w[i]);
            r.b[nw + i] = sat_s8((int16_t)s.w[i]);
        }
        break;
    case 0x67:
        for (i = 0; i < nw; i++) {
            r.b[i] = sat_u8((int16_t)d->w[i]);
            r.b[nw + i] = sat_u8((int16_t)s.w[i]);
        }
        break;
    case 0x6b:
        for (i = 0; i < nl; i++) {
            r.w[i] = sat_s16((int32_t)d->l[i]);
            r.w[nl + i] = sat_s16((int32_t)s.l[i]);
        }
        break;
    case 0x64:
        for (i = 0; i < n; i++)
            r.b[i] = (int8_t)d->b[i] > (int8_t)s.b[i] ? 0xff : 0;
        break;
    case 0x65:
        for (i = 0; i < nw; i++)
            r.w[i] = (int16_t)d->w[i] > (int16_t)s.w[i] ? 0xffff : 0;
        break;
    case 0x66:
        for (i = 0; i < nl; i++)
            r.l[i] = (int32_t)d->l[i] > (int32_t)s.l[i] ? ~0u : 0;
        break;
    case 0x74:
        for (i = 0; i < n; i++)
            r.b[i] = d->b[i] == s.b[i] ? 0xff : 0;
        break;
    case 0x75:
        for (i = 0; i < nw; i++)
            r.w[i] = d->w[i] == s.w[i] ? 0xffff : 0;
        break;
    case 0x76:
        for (i = 0; i < nl; i++)
            r.l[i] = d->l[i] == s.l[i] ? ~0u : 0;
        break;
    case 0xd4:
        for (i = 0; i < nq; i++)
            r.q[i] = d->q[i] + s.q[i];
        break;
    case 0xd5:
        for (i = 0; i < nw; i++)
            r.w[i] = (uint16_t)((int16_t)d->w[i] * (int16_t)s.w[i]);
        break;
    case 0xd8:
        for (i = 0; i < n; i++)
            r.b[i] = sat_u8(d->b[i] - s.b[i]);
        break;
    case 0xd9:
        for (i = 0; i < nw; i++)
            r.w[i] = sat_u16(d->w[i] - s.w[i]);
        break;
    case 0xda:
        for (i = 0; i < n; i++)
            r.b[i] = d->b[i] < s.b[i] ? d->b[i] : s.b[i];
        break;
    case 0xdb:
        for (i = 0; i < nq; i++)
            r.q[i] = d->q[i] & s.q[i];
        break;
    case 0xdc:
        for (i = 0; i < n; i++)
            r.b[i] = sat_u8(d->b[i] + s.b[i]);
        break;
    case 0xdd:
        for (i = 0; i < nw; i++)
            r.w[i] = sat_u16(d->w[i] + s.w[i]);
        break;
    case 0xde:
        for (i = 0; i < n; i++)
            r.b[i] = d->b[i] > s.b[i] ? d->b[i] : s.b[i];
        break;
    case 0xdf:
        for (i = 0; i < nq; i++)
            r.q[i] = ~d->q[i] & s.q[i];
        break;
    case 0xe0:
        for (i = 0; i < n; i++)
            r.b[i] = (d->b[i] + s.b[i] + 1) >> 1;
        break;
    case 0xe3:
        for (i = 0; i < nw; i++)
            r.w[i] = (d->w[i] + s.w[i] + 1) >> 1;
        break;
    case 0xe4:
        for (i = 0; i < nw; i++)
            r.w[i] = ((uint32_t)d->w[i] * s.w[i]) >> 16;
        break;
    case 0xe5:
        for (i = 0; i < nw; i++)
            r.w[i] = ((int32_t)(int16_t)d->w[i] * (int16_t)s.w[i]) >> 16;
        break;
    case 0xe8:
        for (i = 0; i < n; i++)
            r.b[i] = sat_s8((int8_t)d->b[i] - (int8_t)s.b[i]);
        break;
    case 0xe9:
        for (i = 0; i < nw; i++)
            r.w[i] = sat_s16((int16_t)d->w[i] - (int16_t)s.w[i]);
        break;
    case 0xea:
        for (i = 0; i < nw; i++)
            r.w[i] = (int16_t)d->w[i] < (int16_t)s.w[i] ? d->w[i] : s.w[i];
        break;
    case 0xeb:
        for (i = 0; i < nq; i++)
            r.q[i] = d->q[i] | s.q[i];
        break;
    case 0xec:
        for (i = 0; i < n; i++)
            r.b[i] = sat_s8((int8_t)d->b[i] + (int8_t)s.b[i]);
        break;
    case 0xed:
        for (i = 0; i < nw; i++)
            r.w[i] = sat_s16((int16_t)d->w[i] + (int16_t)s.w[i]);
        break;
    case 0xee:
        for (i = 0; i < nw; i++)
            r.w[i] = (int16_t)d->w[i] > (int16_t)s.w[i] ? d->w[i] : s.w[i];
        break;
    case 0xef:
        for (i = 0; i < nq; i++)
            r.q[i] = d->q[i] ^ s.q[i];
        break;
    case 0xf4:
        for (i = 0; i < nq; i++)
            r.q[i] = (uint64_t)d->l[2 * i] * s.l[2 * i];
        break;
    case 0xf5:
        for (i = 0; i < nl; i++) {
            r.l[i] = (int32_t)(int16_t)d->w[2 * i] * (int16_t)s.w[2 * i] +
                     (int32_t)(int16_t)d->w[2 * i + 1] * (int16_t)s.w[2 * i + 1];
        }
        break;
    case 0xf6:
        for (i = 0; i < nq; i++) {
            unsigned sum = 0;
            for (int k = 0; k < 8; k++) {
                int t = d->b[8 * i + k] - s.b[8 * i + k];
                sum += t < 0 ? -t : t;
            }
            r.q[i] = sum;
        }
        break;
    case 0xf8:
        for (i = 0; i < n; i++)
            r.b[i] = d->b[i] - s.b[i];
        break;
    case 0xf9:
        for (i = 0; i < nw; i++)
            r.w[i] = d->w[i] - s.w[i];
        break;
    case 0xfa:
        for (i = 0; i < nl; i++)
            r.l[i] = d->l[i] - s.l[i];
        break;
    case 0xfb:
        for (i = 0; i < nq; i++)
            r.q[i] = d->q[i] - s.q[i];
        break;
    case 0xfc:
        for (i = 0; i < n; i++)
            r.b[i] = d->b[i] + s.b[i];
        break;
    case 0xfd:
        for (i = 0; i < nw; i++)
            r.w[i] = d->w[i] + s.w[i];
        break;
    case 0xfe:
        for (i = 0; i < nl; i++)
            r.l[i] = d->l[i] + s.l[i];
        break;
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xe1:
    case 0xe2:
    case 0xf1:
    case 0xf2:
    case 0xf3: {
        int w = (op & 0xf) == 1 ? 16 : (op & 0xf) == 2 ? 32 : 64;
        int g = op < 0xe0 ? 2 : op < 0xf0 ? 4 : 6;
        shift_lanes(&r, n, w, g, s.q[0]);
        break;
    }
    default:
        return false;
    }
    *d = r;
    return true;
}

/* pmovmskb: the top bit of each of the n bytes */
uint32_t x86_simd_byte_signs(const X86Xmm *v, int n)
{
    uint32_t m = 0;
    for (int i = 0; i < n; i++) {
        m |= (uint32_t)(v->b[i] >> 7) << i;
    }
    return m;
}

/* 0F 71/72/73 (66 for xmm): shifts by an immediate on n bytes; /3 and /7 exist only for xmm */
void x86_simd_shift_imm(X86CPU *cpu, X86Xmm *d, int n, const X86Insn *in, int op)
{
    unsigned c = in->imm & 0xff;
    int g = in->reg & 7;
    if (op == 0x73 && (g == 3 || g == 7) && n == 16) {
        X86Xmm r;
        memset(&r, 0, sizeof(r));
        if (c < 16) {
            for (int i = 0; i < 16; i++) {
                int s = g == 3 ? i + (int)c : i - (int)c;
                if (s >= 0 && s < 16) {
                    r.b[i] = d->b[s];
                }
            }
        }
        *d = r;
        return;
    }
    int w = op == 0x71 ? 16 : op == 0x72 ? 32 : 64;
    if ((g != 2 && g != 4 && g != 6) || (g == 4 && w == 64)) {
        x86_raise_ud(cpu);
    }
    shift_lanes(d, n, w, g, c);
}

static void set_flags_cmp(X86CPU *cpu, double a, double b)
{
    uint32_t f;
    if (isnan(a) || isnan(b)) {
        f = CC_Z | CC_P | CC_C;
    } else if (a < b) {
        f = CC_C;
    } else if (a == b) {
        f = CC_Z;
    } else {
        f = 0;
    }
    ENV->eflags = (ENV->eflags & ~(uint64_t)CC_ALL) | f;
    ENV->cc_op = CC_OP_EFLAGS;
}

static bool cmp_pred(double a, double b, int p)
{
    switch (p & 7) {
    case 0:
        return a == b;
    case 1:
        return a < b;
    case 2:
        return a <= b;
    case 3:
        return isnan(a) || isnan(b);
    case 4:
        return !(a == b);
    case 5:
        return !(a < b);
    case 6:
        return !(a <= b);
    default:
        return !isnan(a) && !isnan(b);
    }
}

static double fp_op(int op, double a, double b)
{
    switch (op) {
    case 0x58:
        return a + b;
    case 0x59:
        return a * b;
    case 0x5c:
        return a - b;
    case 0x5d:
        return a < b ? a : b;
    case 0x5e:
        return a / b;
    case 0x5f:
        return a > b ? a : b;
    default:
        return sqrt(b);
    }
}

static int64_t cvt_to_int(X86CPU *cpu, double v, bool chop, bool q)
{
    double r = chop ? trunc(v) : nearbyint(v);
    if (isnan(r) || r >= (q ? 9223372036854775808.0 : 2147483648.0) ||
        r < (q ? -9223372036854775808.0 : -2147483648.0)) {
        return q ? INT64_MIN : INT32_MIN; /* the "integer indefinite" value */
    }
    return (int64_t)r;
}

void x86_exec_sse(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    bool p66 = in->prefix & PFX_DATA, pf3 = in->prefix & PFX_REPZ, pf2 = in->prefix & PFX_REPNZ;
    int b = op & 0xff;

    if (op == 0x177) { /* emms: MMX state is the x87 tag word */
        if (ENV->cr0 & (CR0_EM | CR0_TS)) {
            x86_raise(cpu, (ENV->cr0 & CR0_EM) ? EXCP_UD : EXCP_NM, -1);
        }
        ENV->fptags = 0xff;
        return;
    }
    if (op == 0x1c3) { /* movnti: an integer store */
        if (in->mod == 3) {
            x86_raise_ud(cpu);
        }
        x86_st(cpu, x86_ea(cpu, in), REG(in->reg), in->opsize == 8 ? 8 : 4);
        return;
    }
    if (op >= 0x200) {
        x86_unimplemented(cpu, in);
        return;
    }
    if (!p66 && !pf3 && !pf2 && x86_exec_mmx(cpu, in)) {
        return;
    }
    sse_check(cpu);
    X86Xmm *d = &ENV->xmm[in->reg];

    switch (b) {
    case 0x10:
    case 0x11: { /* movups/movupd/movss/movsd */
        int bytes = pf3 ? 4 : pf2 ? 8 : 16;
        if (b == 0x10) {
            X86Xmm s = src_xmm(cpu, in, bytes, false);
            if (bytes == 16 || in->mod != 3) {
                if (bytes == 16) {
                    *d = s;
                } else {
                    memset(d, 0, sizeof(*d));
                    memcpy(d, &s, bytes);
                }
            } else {
                memcpy(d, &s, bytes);
            }
        } else {
            X86Xmm s = *d;
            store_xmm(cpu, in, &s, bytes, false);
        }
        return;
    }
    case 0x12:
    case 0x13:
    case 0x16:
    case 0x17: { /* movlps/movlpd/movhps/movhpd/movhlps */
        int half = (b == 0x16 || b == 0x17) ? 1 : 0;
        if (pf3 || pf2) {
            break;
        }
        if (b == 0x12 || b == 0x16) {
            if (in->mod == 3) {
                /* movhlps / movlhps */
                if (b == 0x12) {
                    d->q[0] = ENV->xmm[in->rm].q[1];
                } else {
                    d->q[1] = ENV->xmm[in->rm].q[0];
                }
            } else {
                d->q[half] = x86_ld(cpu, x86_ea(cpu, in), 8);
            }
        } else {
            if (in->mod == 3) {
                x86_raise_ud(cpu);
            }
            x86_st(cpu, x86_ea(cpu, in), d->q[half], 8);
        }
        return;
    }
    case 0x14:
    case 0x15: { /* unpcklps/pd unpckhps/pd */
        X86Xmm s = src_xmm(cpu, in, 16, true), r;
        if (p66) {
            r.q[0] = b == 0x14 ? d->q[0] : d->q[1];
            r.q[1] = b == 0x14 ? s.q[0] : s.q[1];
        } else {
            int o = b == 0x14 ? 0 : 2;
            r.l[0] = d->l[o];
            r.l[1] = s.l[o];
            r.l[2] = d->l[o + 1];
            r.l[3] = s.l[o + 1];
        }
        *d = r;
        return;
    }
    case 0x28:
    case 0x29: /* movaps/movapd */
        if (b == 0x28) {
            *d = src_xmm(cpu, in, 16, true);
        } else {
            X86Xmm s = *d;
            store_xmm(cpu, in, &s, 16, true);
        }
        return;
    case 0x2b: /* movntps/movntpd */
        if (in->mod == 3) {
            x86_raise_ud(cpu);
        } else {
            X86Xmm s = *d;
            store_xmm(cpu, in, &s, 16, true);
        }
        return;
    case 0x2a: /* cvtpi2ps / cvtpi2pd: two int32 from mm or m64 */
        if (!pf3 && !pf2) {
            uint64_t v = in->mod == 3 ? x86_mm_get(cpu, in->rm) : x86_ld(cpu, x86_ea(cpu, in), 8);
            int32_t lo = (int32_t)v, hi = (int32_t)(v >> 32);
            if (p66) {
                d->d[0] = lo;
                d->d[1] = hi;
            } else {
                d->s[0] = (float)lo;
                d->s[1] = (float)hi;
            }
            if (in->mod == 3 || !p66) {
                x86_mm_enter(cpu);
            }
            return;
        }
        /* cvtsi2ss/sd */
        if (pf3 || pf2) {
            bool q = in->opsize == 8;
            uint64_t raw = in->mod == 3 ? REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), q ? 8 : 4);
            int64_t v = q ? (int64_t)raw : (int32_t)raw;
            if (pf2) {
                d->d[0] = (double)v;
            } else {
                d->s[0] = (float)v;
            }
            return;
        }
        break;
    case 0x2c:
    case 0x2d: /* cvt(t)ps2pi / cvt(t)pd2pi: two int32 to mm */
        if (!pf3 && !pf2) {
            X86Xmm s = src_xmm(cpu, in, p66 ? 16 : 8, p66);
            uint64_t lo, hi;
            lo = (uint32_t)cvt_to_int(cpu, p66 ? s.d[0] : s.s[0], b == 0x2c, false);
            hi = (uint32_t)cvt_to_int(cpu, p66 ? s.d[1] : s.s[1], b == 0x2c, false);
            x86_mm_set(cpu, in->reg, lo | hi << 32);
            x86_mm_enter(cpu);
            return;
        }
        /* cvt(t)ss2si / cvt(t)sd2si */
        if (pf3 || pf2) {
            X86Xmm s = src_xmm(cpu, in, pf2 ? 8 : 4, false);
            double v = pf2 ? s.d[0] : s.s[0];
            int64_t r = cvt_to_int(cpu, v, b == 0x2c, in->opsize == 8);
            if (in->opsize == 8) {
                REG(in->reg) = r;
            } else {
                REG(in->reg) = (uint32_t)r;
            }
            return;
        }
        break;
    case 0x2e:
    case 0x2f: { /* (u)comiss / (u)comisd */
        X86Xmm s = src_xmm(cpu, in, p66 ? 8 : 4, false);
        if (p66) {
            set_flags_cmp(cpu, d->d[0], s.d[0]);
        } else {
            set_flags_cmp(cpu, d->s[0], s.s[0]);
        }
        return;
    }
    case 0x50: /* movmskps/pd */
        if (in->mod == 3 && !pf3 && !pf2) {
            X86Xmm *s = &ENV->xmm[in->rm];
            uint32_t m = 0;
            if (p66) {
                m = (s->q[0] >> 63) | ((s->q[1] >> 63) << 1);
            } else {
                for (int i = 0; i < 4; i++) {
                    m |= (s->l[i] >> 31) << i;
                }
            }
            REG(in->reg) = m;
            return;
        }
        break;
    case 0x51:
    case 0x58:
    case 0x59:
    case 0x5c:
    case 0x5d:
    case 0x5e:
    case 0x5f: {
        if (pf3 || pf2) {
            X86Xmm s = src_xmm(cpu, in, pf2 ? 8 : 4, false);
            if (pf2) {
                d->d[0] = fp_op(b, d->d[0], s.d[0]);
            } else {
                d->s[0] = (float)fp_op(b, d->s[0], s.s[0]);
            }
        } else {
            X86Xmm s = src_xmm(cpu, in, 16, true);
            if (p66) {
                for (int i = 0; i < 2; i++) {
                    d->d[i] = fp_op(b, d->d[i], s.d[i]);
                }
            } else {
                for (int i = 0; i < 4; i++) {
                    d->s[i] = (float)fp_op(b, d->s[i], s.s[i]);
                }
            }
        }
        return;
    }
    case 0x54:
    case 0x55:
    case 0x56:
    case 0x57: { /* and/andn/or/xor ps/pd */
        if (pf3 || pf2) {
            break;
        }
        X86Xmm s = src_xmm(cpu, in, 16, true);
        for (int i = 0; i < 2; i++) {
            uint64_t x = d->q[i], y = s.q[i];
            d->q[i] = b == 0x54 ? x & y : b == 0x55 ? ~x & y : b == 0x56 ? x | y : x ^ y;
        }
        return;
    }
    case 0x5a: { /* cvtss2sd / cvtsd2ss / cvtps2pd / cvtpd2ps */
        if (pf3) {
            X86Xmm s = src_xmm(cpu, in, 4, false);
            d->d[0] = s.s[0];
        } else if (pf2) {
            X86Xmm s = src_xmm(cpu, in, 8, false);
            d->s[0] = (float)s.d[0];
        } else if (p66) {
            X86Xmm s = src_xmm(cpu, in, 16, true);
            d->s[0] = (float)s.d[0];
            d->s[1] = (float)s.d[1];
            d->q[1] = 0;
        } else {
            X86Xmm s = src_xmm(cpu, in, 8, false);
            double a = s.s[0], c = s.s[1];
            d->d[0] = a;
            d->d[1] = c;
        }
        return;
    }
    case 0x5b: { /* cvtdq2ps / cvtps2dq / cvttps2dq */
        X86Xmm s = src_xmm(cpu, in, 16, true);
        for (int i = 0; i < 4; i++) {
            if (!p66 && !pf3) {
                d->s[i] = (float)(int32_t)s.l[i];
            } else {
                d->l[i] = (uint32_t)cvt_to_int(cpu, s.s[i], pf3, false);
            }
        }
        return;
    }
    case 0xe6: { /* cvtdq2pd (F3) / cvttpd2dq (66) / cvtpd2dq (F2) */
        if (pf3) {
            X86Xmm s = src_xmm(cpu, in, 8, false);
            int32_t a = s.l[0], c = s.l[1];
            d->d[0] = a;
            d->d[1] = c;
            return;
        }
        if (p66 || pf2) {
            X86Xmm s = src_xmm(cpu, in, 16, true);
            d->l[0] = (uint32_t)cvt_to_int(cpu, s.d[0], p66, false);
            d->l[1] = (uint32_t)cvt_to_int(cpu, s.d[1], p66, false);
            d->q[1] = 0;
            return;
        }
        break;
    }
    case 0xc2: { /* cmpps/pd/ss/sd */
        int pred = in->imm & 7;
        if (pf3 || pf2) {
            X86Xmm s = src_xmm(cpu, in, pf2 ? 8 : 4, false);
            if (pf2) {
                d->q[0] = cmp_pred(d->d[0], s.d[0], pred) ? ~0ull : 0;
            } else {
                d->l[0] = cmp_pred(d->s[0], s.s[0], pred) ? ~0u : 0;
            }
        } else {
            X86Xmm s = src_xmm(cpu, in, 16, true);
            if (p66) {
                for (int i = 0; i < 2; i++) {
                    d->q[i] = cmp_pred(d->d[i], s.d[i], pred) ? ~0ull : 0;
                }
            } else {
                for (int i = 0; i < 4; i++) {
                    d->l[i] = cmp_pred(d->s[i], s.s[i], pred) ? ~0u : 0;
                }
            }
        }
        return;
    }
    case 0xc6: { /* shufps / shufpd */
        X86Xmm s = src_xmm(cpu, in, 16, true), r;
        unsigned sel = in->imm;
        if (p66) {
            r.q[0] = d->q[sel & 1];
            r.q[1] = s.q[(sel >> 1) & 1];
        } else {
            r.l[0] = d->l[sel & 3];
            r.l[1] = d->l[(sel >> 2) & 3];
            r.l[2] = s.l[(sel >> 4) & 3];
            r.l[3] = s.l[(sel >> 6) & 3];
        }
        *d = r;
        return;
    }
    case 0x6e: /* movd/movq xmm, r/m */
        if (p66) {
            uint64_t la = 0, v;
            int sz = in->opsize == 8 ? 8 : 4;
            v = in->mod == 3 ? REG(in->rm) & size_mask(sz)
                             : (la = x86_ea(cpu, in), x86_ld(cpu, la, sz));
            memset(d, 0, sizeof(*d));
            d->q[0] = v;
            return;
        }
        break;
    case 0x7e:
        if (p66) { /* movd/movq r/m, xmm */
            int sz = in->opsize == 8 ? 8 : 4;
            uint64_t v = d->q[0] & size_mask(sz);
            if (in->mod == 3) {
                REG(in->rm) = v;
            } else {
                x86_st(cpu, x86_ea(cpu, in), v, sz);
            }
            return;
        }
        if (pf3) { /* movq xmm, xmm/m64 */
            X86Xmm s = src_xmm(cpu, in, 8, false);
            d->q[0] = s.q[0];
            d->q[1] = 0;
            return;
        }
        break;
    case 0xd6:
        if ((pf3 || pf2) && in->mod == 3) {
            if (pf3) { /* movq2dq xmm, mm */
                d->q[0] = x86_mm_get(cpu, in->rm);
                d->q[1] = 0;
            } else { /* movdq2q mm, xmm */
                x86_mm_set(cpu, in->reg, ENV->xmm[in->rm].q[0]);
            }
            x86_mm_enter(cpu);
            return;
        }
        if (p66) { /* movq xmm/m64, xmm */
            if (in->mod == 3) {
                ENV->xmm[in->rm].q[0] = d->q[0];
                ENV->xmm[in->rm].q[1] = 0;
            } else {
                x86_st(cpu, x86_ea(cpu, in), d->q[0], 8);
            }
            return;
        }
        break;
    case 0x6f:
    case 0x7f: /* movdqa (66) / movdqu (F3) */
        if (p66 || pf3) {
            if (b == 0x6f) {
                *d = src_xmm(cpu, in, 16, p66);
            } else {
                X86Xmm s = *d;
                store_xmm(cpu, in, &s, 16, p66);
            }
            return;
        }
        break;
    case 0xe7: /* movntdq */
        if (p66 && in->mod != 3) {
            X86Xmm s = *d;
            store_xmm(cpu, in, &s, 16, true);
            return;
        }
        break;
    case 0x70: { /* pshufd / pshufhw / pshuflw */
        if (!p66 && !pf3 && !pf2) {
            break;
        }
        X86Xmm s = src_xmm(cpu, in, 16, p66), r = s;
        unsigned sel = in->imm;
        if (p66) {
            for (int i = 0; i < 4; i++) {
                r.l[i] = s.l[(sel >> (2 * i)) & 3];
            }
        } else {
            int o = pf3 ? 4 : 0;
            for (int i = 0; i < 4; i++) {
                r.w[o + i] = s.w[o + ((sel >> (2 * i)) & 3)];
            }
        }
        *d = r;
        return;
    }
    case 0x71:
    case 0x72:
    case 0x73:
        if (p66 && in->mod == 3) {
            x86_simd_shift_imm(cpu, &ENV->xmm[in->rm], 16, in, b);
            return;
        }
        break;
    case 0xd7: /* pmovmskb */
        if (p66 && in->mod == 3) {
            REG(in->reg) = x86_simd_byte_signs(&ENV->xmm[in->rm], 16);
            return;
        }
        break;
    case 0xc4: /* pinsrw */
        if (p66) {
            uint64_t la = 0;
            uint16_t v = in->mod == 3 ? REG(in->rm) : (la = x86_ea(cpu, in), x86_ld(cpu, la, 2));
            d->w[in->imm & 7] = v;
            return;
        }
        break;
    case 0xc5: /* pextrw */
        if (p66 && in->mod == 3) {
            REG(in->reg) = ENV->xmm[in->rm].w[in->imm & 7];
            return;
        }
        break;
    default:
        if (p66 && ((b >= 0x60 && b <= 0x6d) || (b >= 0x74 && b <= 0x76) || b >= 0xd1)) {
            X86Xmm s = src_xmm(cpu, in, 16, true);
            if (x86_simd_int(d, &s, b, 16)) {
                return;
            }
        }
        break;
    }
    x86_unimplemented(cpu, in);
}
