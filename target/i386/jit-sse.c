/*
 * The translator's SSE/SSE2 forms (the moves and integer operations glibc's string and memory
 * functions run): host SSE2 on the guest's xmm registers in X86CPUState, through xmm0 and xmm1
 * (caller-saved on the host, so nothing lives in them across instructions). Guest and host are
 * both x86-64, so an integer operation is the same opcode on the host: no lane arithmetic here.
 *
 * What the interpreter checks (sse.c) and the order it raises in: CR0.EM or no CR4.OSFXSR
 * #UD, CR0.TS #NM, then a misaligned operand of an aligned form #GP(0), then the access's
 * #PF. The code tests the mode once per block (nothing a translated or handler-called
 * instruction does changes CR0 or CR4), the alignment, and the TLB inline; any of them
 * failing goes out of line to the instruction's interpreter handler (jit_cold_handler), which
 * raises exactly as the interpreter does, or does the access the slow way (a TLB miss, a page
 * crossing) and comes back after the instruction.
 */
#include "target/i386/jit-internal.h"
#include "target/i386/optab.h"

#include <stddef.h>

#define XMM_OFF(x) ((int32_t)offsetof(X86CPU, env.xmm[0]) + 16 * (x))
#define CR0_OFF    ((int32_t)offsetof(X86CPU, env.cr0))
#define CR4_OFF    ((int32_t)offsetof(X86CPU, env.cr4))

enum {
    SF_NONE,
    SF_LOAD16,     /* xmm = xmm/m128 (movups movaps movdqu movdqa, ...pd) */
    SF_STORE16,    /* xmm/m128 = xmm (the store forms, movnt* memory only) */
    SF_OP16,       /* xmm = xmm op xmm/m128, the host's own opcode (integer, logic, pshufd) */
    SF_SHIFT,      /* 66 0f 71-73 /g ib on a register */
    SF_MOVMSK,     /* pmovmskb r32, xmm */
    SF_MOVD_TO,    /* 66 0f 6e: xmm = r/m32 or r/m64, zero-extended */
    SF_MOVD_FROM,  /* 66 0f 7e: r/m32 or r/m64 = xmm's low bits */
    SF_MOVQ_LOAD,  /* f3 0f 7e: xmm = xmm/m64, high quadword cleared */
    SF_MOVQ_STORE, /* 66 0f d6: xmm/m64 = xmm's low quadword (a register's high cleared) */
    SF_MOVS_LOAD,  /* f3/f2 0f 10 movss/movsd: xmm's low 4/8 bytes = xmm's (the rest kept) or
                    * m32/m64's (the rest cleared) */
    SF_MOVS_STORE, /* f3/f2 0f 11: xmm/m32/m64 = xmm's low 4/8 bytes (a register's rest kept) */
    SF_HALF_LOAD,  /* 0f 12/16 movlps/movhps (66: pd): xmm's low/high quadword = m64; on a
                    * register (no prefix) movhlps/movlhps, the other half of xmm/rm */
    SF_HALF_STORE, /* 0f 13/17 movlps/movhps (66: pd): m64 = xmm's low/high quadword */
};

typedef struct SseForm {
    int kind;
    bool aligned; /* a memory operand must be 16-byte aligned (#GP(0)) */
    bool imm;     /* an imm8 follows (pshufd) */
    uint8_t hpfx; /* SF_OP16: the host's mandatory prefix (0x66 or none) */
    uint8_t hop;  /* SF_OP16: the host's opcode after 0f */
    uint8_t size; /* SF_MOVS_*: the scalar's bytes */
    uint8_t half; /* SF_HALF_*: the quadword of xmm (0 low, 1 high) */
} SseForm;

/* 66 0f xx: the integer operations x86_simd_int does, which are the host's own */
static bool int_op(int b)
{
    switch (b) {
    case 0x60 ... 0x6d:
    case 0x74 ... 0x76:
    case 0xd1 ... 0xd5:
    case 0xd8 ... 0xdf:
    case 0xe0 ... 0xe5:
    case 0xe8 ... 0xef:
    case 0xf1 ... 0xf6:
    case 0xf8 ... 0xfe:
        return true;
    }
    return false;
}

/* the form of in, from its opcode and its one mandatory prefix (none for the ps forms) */
static SseForm sse_form(const X86Insn *in)
{
    SseForm f = {SF_NONE};
    int pfx = in->prefix & (PFX_DATA | PFX_REPZ | PFX_REPNZ | PFX_LOCK);
    bool p66 = pfx == PFX_DATA, pf3 = pfx == PFX_REPZ, pf2 = pfx == PFX_REPNZ, none = pfx == 0;
    bool reg = in->mod == 3;
    if (in->op < 0x100 || in->op >= 0x200) {
        return f;
    }
    int b = in->op & 0xff;
    switch (b) {
    case 0x10: /* movups, movupd */
    case 0x28: /* movaps, movapd */
        if (none || p66) {
            f = (SseForm){SF_LOAD16, .aligned = b == 0x28};
        } else if (b == 0x10 && (pf3 || pf2)) {
            f = (SseForm){SF_MOVS_LOAD, .size = pf3 ? 4 : 8};
        }
        break;
    case 0x11:
    case 0x29:
        if (none || p66) {
            f = (SseForm){SF_STORE16, .aligned = b == 0x29};
        } else if (b == 0x11 && (pf3 || pf2)) {
            f = (SseForm){SF_MOVS_STORE, .size = pf3 ? 4 : 8};
        }
        break;
    case 0x12:
    case 0x16:
        if (none || (p66 && !reg)) {
            f = (SseForm){SF_HALF_LOAD, .half = b == 0x16};
        }
        break;
    case 0x13:
    case 0x17:
        if ((none || p66) && !reg) {
            f = (SseForm){SF_HALF_STORE, .half = b == 0x17};
        }
        break;
    case 0x2b: /* movntps, movntpd */
        if ((none || p66) && !reg) {
            f = (SseForm){SF_STORE16, .aligned = true};
        }
        break;
    case 0x54 ... 0x57: /* and andn or xor, ps and pd: bitwise, the same either way */
        if (none || p66) {
            f = (SseForm){SF_OP16, .aligned = true, .hpfx = p66 ? 0x66 : 0, .hop = b};
        }
        break;
    case 0x6f: /* movdqa, movdqu */
        if (p66 || pf3) {
            f = (SseForm){SF_LOAD16, .aligned = p66};
        }
        break;
    case 0x7f:
        if (p66 || pf3) {
            f = (SseForm){SF_STORE16, .aligned = p66};
        }
        break;
    case 0xe7: /* movntdq */
        if (p66 && !reg) {
            f = (SseForm){SF_STORE16, .aligned = true};
        }
        break;
    case 0x70: /* pshufd */
        if (p66) {
            f = (SseForm){SF_OP16, .aligned = true, .imm = true, .hpfx = 0x66, .hop = b};
        }
        break;
    case 0x71:
    case 0x72:
    case 0x73: { /* psrl psra psll by an immediate; psrldq pslldq */
        int g = in->reg & 7;
        bool ok = g == 2 || g == 6 || (b != 0x73 ? g == 4 : g == 3 || g == 7);
        if (p66 && reg && ok) {
            f = (SseForm){SF_SHIFT};
        }
        break;
    }
    case 0xd7:
        if (p66 && reg) {
            f = (SseForm){SF_MOVMSK};
        }
        break;
    case 0x6e:
        if (p66) {
            f = (SseForm){SF_MOVD_TO};
        }
        break;
    case 0x7e:
        if (p66) {
            f = (SseForm){SF_MOVD_FROM};
        } else if (pf3) {
            f = (SseForm){SF_MOVQ_LOAD};
        }
        break;
    case 0xd6:
        if (p66) {
            f = (SseForm){SF_MOVQ_STORE};
        }
        break;
    default:
        if (p66 && int_op(b)) {
            f = (SseForm){SF_OP16, .aligned = true, .hpfx = 0x66, .hop = b};
        }
        break;
    }
    if (!reg && !jit_mem_ok(in)) {
        f.kind = SF_NONE;
    }
    return f;
}

bool jit_sse_ok(const X86Insn *in)
{
    return x86_optab[in->op].exec == x86_exec_sse && sse_form(in).kind != SF_NONE;
}

/* [prefix] 0f op, ModRM for host xmm hx and [base + disp] */
static void sse_mem(JitEmit *e, uint8_t pfx, uint8_t op, int hx, int base, int32_t disp)
{
    if (pfx) {
        je_byte(e, pfx);
    }
    je_op_mem(e, 4, (const uint8_t[]){0x0f, op}, 2, hx, base, H_NOINDEX, 0, disp);
}

/* host xmm hx = the 16 bytes at [base + disp], and back (movdqu: env.xmm is not 16-aligned
 * for sure, guest memory even less) */
static void xmm_load(JitEmit *e, int hx, int base, int32_t disp)
{
    sse_mem(e, 0xf3, 0x6f, hx, base, disp);
}

static void xmm_store(JitEmit *e, int base, int32_t disp, int hx)
{
    sse_mem(e, 0xf3, 0x7f, hx, base, disp);
}

/* CR0.EM, CR0.TS, no CR4.OSFXSR: the handler raises #UD or #NM (once per block) */
static void emit_mode_check(JitCtx *c, const X86Insn *in)
{
    bool *checked = jit_sse_checked(c);
    if (*checked) {
        return;
    }
    JitEmit *e = jit_emitter(c);
    static const uint8_t test = 0xf7; /* test dword [rbx + off], imm32 */
    je_op_mem(e, 4, &test, 1, 0, H_RBX, H_NOINDEX, 0, CR0_OFF);
    je_u32(e, CR0_EM | CR0_TS);
    jit_cold_handler(c, in, je_jcc_fwd(e, 5 /* ne */));
    je_op_mem(e, 4, &test, 1, 0, H_RBX, H_NOINDEX, 0, CR4_OFF);
    je_u32(e, CR4_OSFXSR);
    jit_cold_handler(c, in, je_jcc_fwd(e, 4 /* e */));
    *checked = true;
}

/* rsi = the host address of in's memory operand (size bytes, write or not), past the mode,
 * the alignment and the TLB; each failing goes to the handler */
static void emit_mem_operand(JitCtx *c, const X86Insn *in, int size, bool write, bool aligned)
{
    JitEmit *e = jit_emitter(c);
    jit_emit_ea(c, in); /* first: its register loads are in the state the handler starts from */
    emit_mode_check(c, in);
    if (aligned) {
        je_byte(e, 0xf7); /* test esi, 15 */
        je_byte(e, 0xc6);
        je_u32(e, 15);
        jit_cold_handler(c, in, je_jcc_fwd(e, 5 /* ne */));
    }
    jit_cold_handler(c, in, jit_emit_tlb(c, size, write));
}

/* the end of a form that stored to memory at rsi: the dirty check, then the join */
static void emit_stored(JitCtx *c, int size)
{
    jit_emit_store_mark(c, size);
    jit_cold_rejoin(c);
    jit_emit_tb_exit_check(c);
}

/* rax = size bytes of in's memory operand (4: zero-extended) */
static void emit_load_scalar(JitCtx *c, const X86Insn *in, int size)
{
    emit_mem_operand(c, in, size, false, false);
    je_load(jit_emitter(c), size, H_RAX, H_RSI, 0);
}

/* in's memory operand = size bytes of env at off (an xmm register's low or high quadword), and
 * the form's end */
static void emit_store_scalar(JitCtx *c, const X86Insn *in, int size, int32_t off)
{
    JitEmit *e = jit_emitter(c);
    emit_mem_operand(c, in, size, true, false);
    je_load(e, size, H_RAX, H_RBX, off);
    je_store(e, size, H_RSI, 0, H_RAX);
    emit_stored(c, size);
}

/* xmm x = rax, zero-extended to 128 bits */
static void xmm_set_low(JitEmit *e, int x)
{
    je_store(e, 8, H_RBX, XMM_OFF(x), H_RAX);
    je_store_imm(e, 8, H_RBX, XMM_OFF(x) + 8, 0);
}

/* size bytes of env at dst = those at src (xmm registers' parts), the rest of dst kept */
static void xmm_copy(JitEmit *e, int size, int32_t dst, int32_t src)
{
    je_load(e, size, H_RAX, H_RBX, src);
    je_store(e, size, H_RBX, dst, H_RAX);
}

void jit_sse_emit(JitCtx *c, const X86Insn *in)
{
    JitEmit *e = jit_emitter(c);
    SseForm f = sse_form(in);
    bool reg = in->mod == 3;
    int sz = in->opsize == 8 ? 8 : 4;
    g_assert(f.kind != SF_NONE);
    if (reg) {
        emit_mode_check(c, in);
    }
    switch (f.kind) {
    case SF_LOAD16:
        if (reg) {
            xmm_load(e, 0, H_RBX, XMM_OFF(in->rm));
        } else {
            emit_mem_operand(c, in, 16, false, f.aligned);
            xmm_load(e, 0, H_RSI, 0);
        }
        xmm_store(e, H_RBX, XMM_OFF(in->reg), 0);
        break;
    case SF_STORE16:
        xmm_load(e, 0, H_RBX, XMM_OFF(in->reg));
        if (reg) {
            xmm_store(e, H_RBX, XMM_OFF(in->rm), 0);
            break;
        }
        emit_mem_operand(c, in, 16, true, f.aligned);
        xmm_store(e, H_RSI, 0, 0);
        emit_stored(c, 16);
        return;
    case SF_OP16:
        if (reg) {
            xmm_load(e, 1, H_RBX, XMM_OFF(in->rm));
        } else {
            emit_mem_operand(c, in, 16, false, f.aligned);
            xmm_load(e, 1, H_RSI, 0);
        }
        xmm_load(e, 0, H_RBX, XMM_OFF(in->reg));
        if (f.hpfx) {
            je_byte(e, f.hpfx);
        }
        je_op_rr(e, 4, (const uint8_t[]){0x0f, f.hop}, 2, 0, 1); /* op xmm0, xmm1 */
        if (f.imm) {
            je_byte(e, (uint8_t)in->imm);
        }
        xmm_store(e, H_RBX, XMM_OFF(in->reg), 0);
        break;
    case SF_SHIFT:
        xmm_load(e, 0, H_RBX, XMM_OFF(in->rm));
        je_byte(e, 0x66);
        je_byte(e, 0x0f);
        je_byte(e, in->op & 0xff);
        je_byte(e, 0xc0 | ((in->reg & 7) << 3)); /* /g xmm0 */
        je_byte(e, (uint8_t)in->imm);
        xmm_store(e, H_RBX, XMM_OFF(in->rm), 0);
        break;
    case SF_MOVMSK:
        xmm_load(e, 0, H_RBX, XMM_OFF(in->rm));
        je_byte(e, 0x66);
        je_op_rr(e, 4, (const uint8_t[]){0x0f, 0xd7}, 2, H_RAX, 0); /* pmovmskb eax, xmm0 */
        jit_gpr_write(c, in->reg, H_RAX);
        break;
    case SF_MOVD_TO:
        if (reg) {
            jit_gpr_read(c, H_RAX, in->rm, sz);
        } else {
            emit_load_scalar(c, in, sz);
        }
        xmm_set_low(e, in->reg);
        break;
    case SF_MOVD_FROM:
        if (reg) {
            je_load(e, sz, H_RAX, H_RBX, XMM_OFF(in->reg));
            jit_gpr_write(c, in->rm, H_RAX);
            break;
        }
        emit_store_scalar(c, in, sz, XMM_OFF(in->reg));
        return;
    case SF_MOVQ_LOAD:
        if (reg) {
            je_load(e, 8, H_RAX, H_RBX, XMM_OFF(in->rm));
        } else {
            emit_load_scalar(c, in, 8);
        }
        xmm_set_low(e, in->reg);
        break;
    case SF_MOVQ_STORE:
        if (reg) {
            je_load(e, 8, H_RAX, H_RBX, XMM_OFF(in->reg));
            xmm_set_low(e, in->rm);
            break;
        }
        emit_store_scalar(c, in, 8, XMM_OFF(in->reg));
        return;
    case SF_MOVS_LOAD:
        if (reg) {
            xmm_copy(e, f.size, XMM_OFF(in->reg), XMM_OFF(in->rm));
            break;
        }
        emit_load_scalar(c, in, f.size);
        xmm_set_low(e, in->reg);
        break;
    case SF_MOVS_STORE:
        if (reg) {
            xmm_copy(e, f.size, XMM_OFF(in->rm), XMM_OFF(in->reg));
            break;
        }
        emit_store_scalar(c, in, f.size, XMM_OFF(in->reg));
        return;
    case SF_HALF_LOAD:
        if (reg) {
            xmm_copy(e, 8, XMM_OFF(in->reg) + 8 * f.half, XMM_OFF(in->rm) + 8 * !f.half);
            break;
        }
        emit_load_scalar(c, in, 8);
        je_store(e, 8, H_RBX, XMM_OFF(in->reg) + 8 * f.half, H_RAX);
        break;
    case SF_HALF_STORE:
        emit_store_scalar(c, in, 8, XMM_OFF(in->reg) + 8 * f.half);
        return;
    }
    jit_cold_rejoin(c);
}
