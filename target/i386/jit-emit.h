/*
 * Private to the translator (jit.c): a small x86-64 encoder for the handful of instruction
 * shapes the translator emits -- register/memory moves, ALU operations, shifts, compares,
 * conditional and unconditional jumps with patchable displacements, and calls.
 *
 * Memory operands are [base + index * scale + disp] with any base but no base-less form; the
 * encoder picks disp8 or disp32 and adds the SIB byte that rsp/r12 bases need.
 */
#ifndef TARGET_I386_JIT_EMIT_H
#define TARGET_I386_JIT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    H_RAX,
    H_RCX,
    H_RDX,
    H_RBX,
    H_RSP,
    H_RBP,
    H_RSI,
    H_RDI,
    H_R8,
    H_R9,
    H_R10,
    H_R11,
    H_R12,
    H_R13,
    H_R14,
    H_R15
};
#define H_NOINDEX (-1)

typedef struct JitEmit {
    uint8_t *p;     /* next byte (in the writable mapping) */
    uint8_t *end;   /* end of the space reserved for this block */
    uint8_t *label; /* the last position a jump was pointed at (je_patch_here, je_label) */
    bool overflow;
} JitEmit;

static inline void je_byte(JitEmit *e, uint8_t b)
{
    if (e->p < e->end) {
        *e->p++ = b;
    } else {
        e->overflow = true;
    }
}

static inline void je_u32(JitEmit *e, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        je_byte(e, v >> (8 * i));
    }
}

static inline void je_u64(JitEmit *e, uint64_t v)
{
    je_u32(e, (uint32_t)v);
    je_u32(e, v >> 32);
}

static inline bool je_fits_i8(int64_t v)
{
    return v >= -128 && v <= 127;
}

static inline bool je_fits_i32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

/* REX when needed: w (64-bit operand), r (ModRM.reg), x (SIB.index), b (ModRM.rm/SIB.base).
 * byte_regs: a byte operand in sil/dil/spl/bpl needs a REX even without bits. */
static inline void je_rex(JitEmit *e, bool w, int r, int x, int b, bool force)
{
    uint8_t rex =
        0x40 | (w ? 8 : 0) | ((r & 8) ? 4 : 0) | ((x > 0 && (x & 8)) ? 2 : 0) | ((b & 8) ? 1 : 0);
    if (rex != 0x40 || force) {
        je_byte(e, rex);
    }
}

/* the operand-size prefix of a word operand (66, which must come before the REX), then the REX
 * when needed: every form with an operand size goes through here */
static inline void je_prefix(JitEmit *e, int opsz, int r, int x, int b, bool force)
{
    if (opsz == 2) {
        je_byte(e, 0x66);
    }
    je_rex(e, opsz == 8, r, x, b, force);
}

/* ModRM (+SIB, +disp) for reg, [base + index * (1 << scale) + disp] */
static inline void je_mem(JitEmit *e, int reg, int base, int index, int scale, int32_t disp)
{
    int mod = disp == 0 && (base & 7) != H_RBP ? 0 : je_fits_i8(disp) ? 1 : 2;
    if (index == H_NOINDEX && (base & 7) != H_RSP) {
        je_byte(e, (mod << 6) | ((reg & 7) << 3) | (base & 7));
    } else {
        je_byte(e, (mod << 6) | ((reg & 7) << 3) | 4);
        int idx = index == H_NOINDEX ? 4 : (index & 7);
        je_byte(e, (scale << 6) | (idx << 3) | (base & 7));
    }
    if (mod == 1) {
        je_byte(e, (uint8_t)disp);
    } else if (mod == 2) {
        je_u32(e, (uint32_t)disp);
    }
}

/* op reg, [mem] (or [mem], reg: the direction is in the opcode). opsz 1, 2, 4 or 8. */
static inline void je_op_mem(JitEmit *e, int opsz, const uint8_t *op, int oplen, int reg, int base,
                             int index, int scale, int32_t disp)
{
    je_prefix(e, opsz, reg, index, base, opsz == 1 && reg >= 4 && reg < 8);
    for (int i = 0; i < oplen; i++) {
        je_byte(e, op[i]);
    }
    je_mem(e, reg, base, index, scale, disp);
}

/* op reg, rm (register direct; opsz 2: a word operation, which leaves bits 16-63 alone) */
static inline void je_op_rr(JitEmit *e, int opsz, const uint8_t *op, int oplen, int reg, int rm)
{
    je_prefix(e, opsz, reg, 0, rm, false);
    for (int i = 0; i < oplen; i++) {
        je_byte(e, op[i]);
    }
    je_byte(e, 0xc0 | ((reg & 7) << 3) | (rm & 7));
}

/* mov reg, [base + disp] (4: zero-extends; 8) */
static inline void je_load(JitEmit *e, int opsz, int reg, int base, int32_t disp)
{
    static const uint8_t op = 0x8b;
    je_op_mem(e, opsz, &op, 1, reg, base, H_NOINDEX, 0, disp);
}

/* reg = the opsz-byte value at [base + disp], zero-extended to 64 bits (movzx below 4 bytes) */
static inline void je_load_zx(JitEmit *e, int opsz, int reg, int base, int32_t disp)
{
    if (opsz < 4) {
        const uint8_t movzx[2] = {0x0f, opsz == 1 ? 0xb6 : 0xb7};
        je_op_mem(e, 4, movzx, 2, reg, base, H_NOINDEX, 0, disp);
    } else {
        je_load(e, opsz, reg, base, disp);
    }
}

/* mov [base + disp], reg */
static inline void je_store(JitEmit *e, int opsz, int base, int32_t disp, int reg)
{
    static const uint8_t op8 = 0x88, op = 0x89;
    je_op_mem(e, opsz, opsz == 1 ? &op8 : &op, 1, reg, base, H_NOINDEX, 0, disp);
}

/* mov qword/dword/word/byte [base + disp], imm32 (sign-extended for 8; imm16 for 2, imm8
 * for 1) */
static inline void je_store_imm(JitEmit *e, int opsz, int base, int32_t disp, int32_t imm)
{
    static const uint8_t op8 = 0xc6, op = 0xc7;
    je_op_mem(e, opsz, opsz == 1 ? &op8 : &op, 1, 0, base, H_NOINDEX, 0, disp);
    if (opsz == 1) {
        je_byte(e, (uint8_t)imm);
    } else if (opsz == 2) {
        je_byte(e, (uint8_t)imm);
        je_byte(e, (uint8_t)(imm >> 8));
    } else {
        je_u32(e, (uint32_t)imm);
    }
}

/* mov reg, imm64 (the shortest form that gives the same 64-bit value) */
static inline void je_mov_imm(JitEmit *e, int reg, uint64_t imm)
{
    if (imm <= UINT32_MAX) {
        je_rex(e, false, 0, 0, reg, false);
        je_byte(e, 0xb8 + (reg & 7));
        je_u32(e, (uint32_t)imm);
    } else if (je_fits_i32((int64_t)imm)) {
        je_rex(e, true, 0, 0, reg, false);
        je_byte(e, 0xc7);
        je_byte(e, 0xc0 | (reg & 7));
        je_u32(e, (uint32_t)imm);
    } else {
        je_rex(e, true, 0, 0, reg, false);
        je_byte(e, 0xb8 + (reg & 7));
        je_u64(e, imm);
    }
}

/* mov reg, imm64 in its 10-byte form (an immediate patched later) */
static inline void je_movabs(JitEmit *e, int reg, uint64_t imm)
{
    je_rex(e, true, 0, 0, reg, false);
    je_byte(e, 0xb8 + (reg & 7));
    je_u64(e, imm);
}

/* mov eax, dword [addr]: one instruction (a1 moffs64) for an address beyond rip's reach */
static inline void je_load_eax_abs(JitEmit *e, uint64_t addr)
{
    je_byte(e, 0xa1);
    je_u64(e, addr);
}

/* mov dst, src (4 zero-extends) */
static inline void je_mov_rr(JitEmit *e, int opsz, int dst, int src)
{
    static const uint8_t op = 0x89;
    je_op_rr(e, opsz, &op, 1, src, dst);
}

/* lea dst, [base + index * scale + disp] */
static inline void je_lea(JitEmit *e, int dst, int base, int index, int scale, int32_t disp)
{
    static const uint8_t op = 0x8d;
    je_op_mem(e, 8, &op, 1, dst, base, index, scale, disp);
}

/* ALU operation number (x86's /digit: add 0, or 1, and 4, sub 5, xor 6, cmp 7); opsz 1 only
 * between rax, rcx, rdx and rbx (al-bl, no REX) */
static inline void je_alu_rr(JitEmit *e, int opsz, int aop, int dst, int src)
{
    uint8_t op = (uint8_t)(aop << 3) | (opsz == 1 ? 0 : 1); /* op r/m, r */
    je_op_rr(e, opsz, &op, 1, src, dst);
}

/* cmovcc dst, src (4 zero-extends dst whatever the condition, as the CPU does) */
static inline void je_cmov(JitEmit *e, int opsz, int cc, int dst, int src)
{
    uint8_t op[2] = {0x0f, (uint8_t)(0x40 | cc)};
    je_op_rr(e, opsz, op, 2, dst, src);
}

/* setcc al..bl (reg < 4: no REX) */
static inline void je_setcc(JitEmit *e, int cc, int reg)
{
    je_byte(e, 0x0f);
    je_byte(e, 0x90 | cc);
    je_byte(e, 0xc0 | (reg & 7));
}

/* bswap reg (4: zero-extends) */
static inline void je_bswap(JitEmit *e, int opsz, int reg)
{
    je_prefix(e, opsz, 0, 0, reg, false);
    je_byte(e, 0x0f);
    je_byte(e, 0xc8 | (reg & 7));
}

/* imul dst, src */
static inline void je_imul_rr(JitEmit *e, int opsz, int dst, int src)
{
    static const uint8_t op[2] = {0x0f, 0xaf};
    je_op_rr(e, opsz, op, 2, dst, src);
}

/* imul dst, src, imm32 */
static inline void je_imul_rri(JitEmit *e, int opsz, int dst, int src, int32_t imm)
{
    static const uint8_t op = 0x69;
    je_op_rr(e, opsz, &op, 1, dst, src);
    je_u32(e, (uint32_t)imm);
}

/* inc (digit 0) / dec (digit 1) reg */
static inline void je_incdec(JitEmit *e, int opsz, int digit, int reg)
{
    static const uint8_t op8 = 0xfe, op = 0xff;
    je_op_rr(e, opsz, opsz == 1 ? &op8 : &op, 1, digit, reg);
}

/* opsz 2, 4 or 8 */
static inline void je_alu_ri(JitEmit *e, int opsz, int aop, int dst, int32_t imm)
{
    je_prefix(e, opsz, 0, 0, dst, false);
    if (je_fits_i8(imm)) {
        je_byte(e, 0x83);
        je_byte(e, 0xc0 | (aop << 3) | (dst & 7));
        je_byte(e, (uint8_t)imm);
    } else {
        je_byte(e, 0x81);
        je_byte(e, 0xc0 | (aop << 3) | (dst & 7));
        if (opsz == 2) {
            je_byte(e, (uint8_t)imm);
            je_byte(e, (uint8_t)(imm >> 8));
        } else {
            je_u32(e, (uint32_t)imm);
        }
    }
}

/* aop dword or qword [base + disp], imm32 (sign-extended for 8) */
static inline void je_alu_mem_imm(JitEmit *e, int opsz, int aop, int base, int32_t disp,
                                  int32_t imm)
{
    static const uint8_t op = 0x81;
    je_op_mem(e, opsz, &op, 1, aop, base, H_NOINDEX, 0, disp);
    je_u32(e, (uint32_t)imm);
}

/* aop reg, [base + disp] */
static inline void je_alu_rm(JitEmit *e, int opsz, int aop, int reg, int base, int32_t disp)
{
    uint8_t op = (uint8_t)(aop << 3) | 3; /* op r, r/m */
    je_op_mem(e, opsz, &op, 1, reg, base, H_NOINDEX, 0, disp);
}

static inline void je_test_rr(JitEmit *e, int opsz, int a, int b)
{
    static const uint8_t op = 0x85;
    je_op_rr(e, opsz, &op, 1, b, a);
}

/* shl/shr reg, imm8 (digit 4 / 5; opsz 2, 4 or 8) */
static inline void je_shift_ri(JitEmit *e, int opsz, int digit, int reg, uint8_t cnt)
{
    je_prefix(e, opsz, 0, 0, reg, false);
    je_byte(e, 0xc1);
    je_byte(e, 0xc0 | (digit << 3) | (reg & 7));
    je_byte(e, cnt);
}

/* cmp byte [base + index + disp], imm8 */
static inline void je_cmp_byte_mem(JitEmit *e, int base, int index, int32_t disp, uint8_t imm)
{
    static const uint8_t op = 0x80;
    je_op_mem(e, 4, &op, 1, 7, base, index, 0, disp);
    je_byte(e, imm);
}

/* cmp word, dword or qword (opsz 2, 4, 8) [base + disp], imm8 (sign-extended) */
static inline void je_cmp_mem_imm8(JitEmit *e, int opsz, int base, int32_t disp, int8_t imm)
{
    static const uint8_t op = 0x83;
    je_op_mem(e, opsz, &op, 1, 7, base, H_NOINDEX, 0, disp);
    je_byte(e, (uint8_t)imm);
}

static inline void je_cmp_dword_imm(JitEmit *e, int base, int32_t disp, int8_t imm)
{
    je_cmp_mem_imm8(e, 4, base, disp, imm);
}

/* jcc rel32 to be patched; returns the displacement's position */
static inline uint8_t *je_jcc_fwd(JitEmit *e, int cc)
{
    je_byte(e, 0x0f);
    je_byte(e, 0x80 | cc);
    uint8_t *at = e->p;
    je_u32(e, 0);
    return at;
}

static inline uint8_t *je_jmp_fwd(JitEmit *e)
{
    je_byte(e, 0xe9);
    uint8_t *at = e->p;
    je_u32(e, 0);
    return at;
}

/* jmp rel32 to an address already emitted (a loop's start) */
static inline void je_jmp_back(JitEmit *e, const uint8_t *to)
{
    je_byte(e, 0xe9);
    je_u32(e, (uint32_t)(int32_t)(to - (e->p + 4)));
}

/* jcc rel32 to an address already emitted */
static inline void je_jcc_back(JitEmit *e, int cc, const uint8_t *to)
{
    je_byte(e, 0x0f);
    je_byte(e, 0x80 | cc);
    je_u32(e, (uint32_t)(int32_t)(to - (e->p + 4)));
}

/* the current position is a jump's target (code reaches it from elsewhere too) */
static inline void je_label(JitEmit *e)
{
    e->label = e->p;
}

/* points a forward jump's rel32 at the current position */
static inline void je_patch_here(JitEmit *e, uint8_t *at)
{
    je_label(e);
    if (at && !e->overflow) {
        int32_t rel = (int32_t)(e->p - (at + 4));
        memcpy(at, &rel, 4);
    }
}

static inline void je_push(JitEmit *e, int reg);
static inline void je_pop(JitEmit *e, int reg);

/* call an absolute address through rax (helpers are anywhere in the address space); r9-r11,
 * which the translator keeps guest registers in, are saved around it (three pushes and 8
 * bytes keep the stack 16-byte aligned) */
static inline void je_call(JitEmit *e, const void *fn)
{
    je_push(e, H_R9);
    je_push(e, H_R10);
    je_push(e, H_R11);
    je_byte(e, 0x48); /* sub rsp, 8 */
    je_byte(e, 0x83);
    je_byte(e, 0xec);
    je_byte(e, 8);
    je_mov_imm(e, H_RAX, (uint64_t)(uintptr_t)fn);
    je_byte(e, 0xff);
    je_byte(e, 0xd0);
    je_byte(e, 0x48); /* add rsp, 8: moves only from here, the helper's flags stay */
    je_byte(e, 0x8d);
    je_byte(e, 0x64);
    je_byte(e, 0x24);
    je_byte(e, 8);
    je_pop(e, H_R11);
    je_pop(e, H_R10);
    je_pop(e, H_R9);
}

static inline void je_push(JitEmit *e, int reg)
{
    je_rex(e, false, 0, 0, reg, false);
    je_byte(e, 0x50 + (reg & 7));
}

static inline void je_pop(JitEmit *e, int reg)
{
    je_rex(e, false, 0, 0, reg, false);
    je_byte(e, 0x58 + (reg & 7));
}

static inline void je_ret(JitEmit *e)
{
    je_byte(e, 0xc3);
}

#endif
