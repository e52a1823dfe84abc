/*
 * The opcode table: one row per opcode, read by the decoder (ModRM, immediate, 64-bit
 * validity, lock validity), by the interpreter (the general handler of each opcode) and by the
 * translator (operand form and size).
 *
 *   index = X86Insn.op:  0x000-0x0ff  one-byte opcodes
 *                        0x100-0x1ff  0F xx
 *                        0x200-0x2ff  0F 38 xx
 *                        0x300-0x3ff  0F 3A xx
 *
 * A group opcode (80-83, c0-c1, d0-d3, f6-f7, fe-ff, 0F 00/01/ba/c7...) is one row: its
 * handler reads ModRM.reg, and `lock` says per ModRM.reg value whether a lock prefix is valid.
 */
#ifndef TARGET_I386_OPTAB_H
#define TARGET_I386_OPTAB_H

#include <stdint.h>

#include "target/i386/decode.h"

/* Immediate operand that follows ModRM/displacement */
enum {
    X86_IMM_NONE,
    X86_IMM_B,     /* 8 bits, sign-extended */
    X86_IMM_W,     /* 16 bits (ret imm16) */
    X86_IMM_Z,     /* 16 or 32 bits by operand size, sign-extended */
    X86_IMM_V,     /* operand size (mov r, imm64) */
    X86_IMM_AP,    /* far pointer: offset then selector */
    X86_IMM_MOFFS, /* address size (mov al, [moffs]) */
    X86_IMM_ENTER, /* imm16, imm8 */
    X86_IMM_GRP3,  /* f6/f7: test /0 /1 only */
};

/* Operand form: where the operands come from */
enum {
    X86_FORM_NONE,  /* implicit operands only */
    X86_FORM_E_G,   /* r/m destination, ModRM.reg source */
    X86_FORM_G_E,   /* ModRM.reg destination, r/m source */
    X86_FORM_E,     /* r/m; ModRM.reg selects the operation (groups) or is unused */
    X86_FORM_E_I,   /* r/m, immediate */
    X86_FORM_G_E_I, /* ModRM.reg, r/m, immediate (imul) */
    X86_FORM_A_I,   /* accumulator, immediate */
    X86_FORM_O,     /* register in the opcode's low three bits (with REX.B) */
    X86_FORM_O_I,   /* that register, immediate */
    X86_FORM_I,     /* immediate only */
    X86_FORM_J,     /* relative branch target */
    X86_FORM_M,     /* ModRM memory operand only */
};

/* Operand size */
enum {
    X86_SZ_NONE,
    X86_SZ_B,   /* byte */
    X86_SZ_W,   /* word */
    X86_SZ_V,   /* the operand size (X86Insn.opsize) */
    X86_SZ_D64, /* the operand size, 64 by default in long mode (stack, near branches) */
};

/* Row flags */
#define X86_OPF_MODRM  0x01 /* a ModRM byte follows */
#define X86_OPF_INV64  0x02 /* #UD in 64-bit mode */
#define X86_OPF_BRANCH 0x04 /* may set rip to something other than the next instruction */
#define X86_OPF_REGRM  0x08 /* ModRM.rm is always a register: mod reads as 3 (mov cr/dr) */

typedef struct X86OpInfo {
    X86InsnFn *exec;  /* the interpreter's general handler */
    const char *name; /* mnemonic (a group's name for group opcodes) */
    uint8_t form;     /* X86_FORM_* */
    uint8_t size;     /* X86_SZ_* */
    uint8_t imm;      /* X86_IMM_* */
    uint8_t flags;    /* X86_OPF_* */
    uint8_t lock;     /* bit n: lock is valid with a memory operand and ModRM.reg == n */
} X86OpInfo;

#define X86_OPTAB_SIZE 0x400
extern const X86OpInfo x86_optab[X86_OPTAB_SIZE];

#endif
