/*
 * MMX: the integer SIMD instructions on mm0-mm7 (0F 60-7F, C4, C5, D1-FF without a 66, F2 or
 * F3 prefix), including the forms SSE and SSE2 added (pshufw, pinsrw, pextrw, pmovmskb,
 * pavg, pmin/pmax, pmulhuw, psadbw, movntq, maskmovq, paddq, psubq, pmuludq).
 *
 * mm i is the 64-bit mantissa of physical x87 register i, so fxsave, fxrstor and migration
 * carry it with the x87 state. Every MMX instruction leaves TOP = 0 and all tags valid; a
 * write also sets the register's sign and exponent bits to ones. emms (in sse.c) empties
 * the tags again.
 */
#include "target/i386/cpu-internal.h"

#define ENV    (&cpu->env)
#define REG(n) (cpu->env.regs[(n)])

uint64_t x86_mm_get(X86CPU *cpu, int i)
{
    return ENV->st[i & 7].raw.mant;
}

void x86_mm_set(X86CPU *cpu, int i, uint64_t v)
{
    X86FpReg *r = &ENV->st[i & 7];
    memset(r, 0, sizeof(*r));
    r->raw.mant = v;
    r->raw.exp = 0xffff;
}

void x86_mm_enter(X86CPU *cpu)
{
    ENV->fpstt = 0;
    ENV->fptags = 0;
}

/* The source operand: mm register or 8 bytes of memory (no alignment rule). */
static uint64_t mm_src(X86CPU *cpu, const X86Insn *in)
{
    return in->mod == 3 ? x86_mm_get(cpu, in->rm) : x86_ld(cpu, x86_ea(cpu, in), 8);
}

static void mm_store(X86CPU *cpu, const X86Insn *in, uint64_t v)
{
    if (in->mod == 3) {
        x86_mm_set(cpu, in->rm, v);
    } else {
        x86_st(cpu, x86_ea(cpu, in), v, 8);
    }
}

/* maskmovq writes through DS:rDI (or the override segment) */
static uint64_t rdi_la(X86CPU *cpu, const X86Insn *in)
{
    int seg = in->seg == X86_SEG_NONE ? R_DS : in->seg;
    uint64_t off = REG(R_EDI) & size_mask(in->addrsize);
    if (cpu->code64) {
        return (seg == R_FS || seg == R_GS) ? off + ENV->segs[seg].base : off;
    }
    return (uint32_t)(off + ENV->segs[seg].base);
}

static bool is_mmx_op(int b)
{
    return (b >= 0x60 && b <= 0x6b) || (b >= 0x6e && b <= 0x76) || b == 0x7e || b == 0x7f ||
           b == 0xc4 || b == 0xc5 || (b >= 0xd1 && b != 0xd6 && b != 0xe6 && b != 0xf0);
}

bool x86_exec_mmx(X86CPU *cpu, const X86Insn *in)
{
    int b = in->op & 0xff;
    if (in->op < 0x100 || in->op > 0x1ff || !is_mmx_op(b)) {
        return false;
    }
    if (ENV->cr0 & CR0_EM) {
        x86_raise_ud(cpu);
    }
    if (ENV->cr0 & CR0_TS) {
        x86_raise(cpu, EXCP_NM, -1);
    }
    X86Xmm d = {.q = {x86_mm_get(cpu, in->reg), 0}}, s = {.q = {0, 0}};

    switch (b) {
    case 0x6e: /* movd/movq mm, r/m */
        if (in->opsize == 8) {
            d.q[0] = in->mod == 3 ? REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), 8);
        } else {
            d.q[0] = in->mod == 3 ? (uint32_t)REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), 4);
        }
        break;
    case 0x7e: { /* movd/movq r/m, mm */
        int sz = in->opsize == 8 ? 8 : 4;
        if (in->mod == 3) {
            REG(in->rm) = d.q[0] & size_mask(sz);
        } else {
            x86_st(cpu, x86_ea(cpu, in), d.q[0], sz);
        }
        goto done_no_write;
    }
    case 0x6f: /* movq mm, mm/m64 */
        d.q[0] = mm_src(cpu, in);
        break;
    case 0x7f: /* movq mm/m64, mm */
        mm_store(cpu, in, d.q[0]);
        goto done_no_write;
    case 0xe7: /* movntq m64, mm */
        if (in->mod == 3) {
            x86_raise_ud(cpu);
        }
        x86_st(cpu, x86_ea(cpu, in), d.q[0], 8);
        goto done_no_write;
    case 0x70: { /* pshufw mm, mm/m64, imm8 */
        s.q[0] = mm_src(cpu, in);
        for (int i = 0; i < 4; i++) {
            d.w[i] = s.w[(in->imm >> (2 * i)) & 3];
        }
        break;
    }
    case 0x71:
    case 0x72:
    case 0x73: /* shifts by an immediate: mm is the r/m operand */
        if (in->mod != 3) {
            x86_raise_ud(cpu);
        }
        d.q[0] = x86_mm_get(cpu, in->rm);
        x86_simd_shift_imm(cpu, &d, 8, in, b);
        x86_mm_set(cpu, in->rm, d.q[0]);
        goto done_no_write;
    case 0xc4: /* pinsrw mm, r32/m16, imm8 */
        d.w[in->imm & 3] = in->mod == 3 ? REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), 2);
        break;
    case 0xc5: /* pextrw r32, mm, imm8 */
        if (in->mod != 3) {
            x86_raise_ud(cpu);
        }
        s.q[0] = x86_mm_get(cpu, in->rm);
        REG(in->reg) = s.w[in->imm & 3];
        goto done_no_write;
    case 0xd7: /* pmovmskb r32, mm */
        if (in->mod != 3) {
            x86_raise_ud(cpu);
        }
        s.q[0] = x86_mm_get(cpu, in->rm);
        REG(in->reg) = x86_simd_byte_signs(&s, 8);
        goto done_no_write;
    case 0xf7: { /* maskmovq mm, mm: store the bytes whose mask byte has its top bit set */
        if (in->mod != 3) {
            x86_raise_ud(cpu);
        }
        s.q[0] = x86_mm_get(cpu, in->rm);
        uint64_t la = rdi_la(cpu, in);
        for (int i = 0; i < 8; i++) {
            if (s.b[i] & 0x80) {
                x86_st(cpu, la + i, d.b[i], 1);
            }
        }
        goto done_no_write;
    }
    default:
        s.q[0] = mm_src(cpu, in);
        if (!x86_simd_int(&d, &s, b, 8)) {
            x86_raise_ud(cpu);
        }
        break;
    }
    x86_mm_set(cpu, in->reg, d.q[0]);
done_no_write:
    x86_mm_enter(cpu);
    return true;
}
