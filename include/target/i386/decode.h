/*
 * x86 instruction decoder: bytes -> X86Insn, a fixed-size record the interpreter executes.
 * Decoded once per guest code page and cached (target/i386/tb.c).
 *
 *   [prefixes] [REX] opcode(1-3 bytes) [ModRM [SIB] [disp]] [imm]   (at most 15 bytes)
 */
#ifndef TARGET_I386_DECODE_H
#define TARGET_I386_DECODE_H

#include <stdint.h>

enum { X86_MODE16 = 0, X86_MODE32 = 1, X86_MODE64 = 2 };

/* prefix bits */
#define PFX_REPZ  0x01 /* F3 */
#define PFX_REPNZ 0x02 /* F2 */
#define PFX_LOCK  0x04
#define PFX_DATA  0x08 /* 66 */
#define PFX_ADDR  0x10 /* 67 */
#define PFX_REX   0x20
#define PFX_SEG   0x40 /* explicit segment override */

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

#define X86_NOREG    16
#define X86_RIP      17
#define X86_SEG_NONE 8 /* 64-bit mode: no segment base */

/* op: 0x000-0x0ff one-byte opcodes, 0x100-0x1ff 0F xx, 0x200 0F 38 xx, 0x300 0F 3A xx */
struct X86CPU;
struct X86Insn;
/* The interpreter's handler for a decoded instruction (chosen by x86_select_handler). */
typedef void X86InsnFn(struct X86CPU *cpu, const struct X86Insn *in);

typedef struct X86Insn {
    X86InsnFn *fn;
    uint16_t op;
    uint8_t len;
    uint8_t opsize;   /* 2, 4 or 8 (the "v" size) */
    uint8_t addrsize; /* 2, 4 or 8 */
    uint8_t prefix;   /* PFX_* */
    uint8_t seg;      /* effective segment of the memory operand (R_* or X86_SEG_NONE) */
    uint8_t rex;
    uint8_t mod;        /* 3: register operand */
    uint8_t reg;        /* ModRM.reg with REX.R */
    uint8_t rm;         /* ModRM.rm with REX.B */
    uint8_t base;       /* 0-15, X86_NOREG, X86_RIP */
    uint8_t index;      /* 0-15, X86_NOREG */
    uint8_t scale;      /* shift 0-3 */
    uint8_t mode;       /* X86_MODE* it was decoded for */
    uint8_t bad;        /* decodes as invalid: #UD when executed */
    uint8_t flags_dead; /* the next instruction overwrites every arithmetic flag unread */
    int32_t disp;
    uint16_t imm2; /* enter's level; far pointer selector */
    uint16_t pad;
    uint64_t imm;
} X86Insn;

/*
 * Decodes one instruction from buf[0..avail). Returns its length, 0 if more bytes are needed
 * (avail too small), or -1 if it exceeds 15 bytes (#GP). Unknown opcodes decode with bad=1.
 */
int x86_decode(const uint8_t *buf, int avail, int mode, X86Insn *in);

#endif
