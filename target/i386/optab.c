/*
 * The opcode table (include/target/i386/optab.h). Rows are written one per opcode, or one per
 * run of opcodes that differ only in a register or condition number in their low bits.
 */
#include "target/i386/optab.h"

#include "target/i386/cpu-internal.h"
#include "target/i386/ops.h"

#define M   X86_OPF_MODRM
#define I64 X86_OPF_INV64
#define BR  X86_OPF_BRANCH
#define RM  X86_OPF_REGRM
#define LK  0xff /* lock valid whatever ModRM.reg is */

/* handler, name, form, size, immediate, flags, lock */
#define OP(fn, nm, form, sz, imm, fl, lk)                                                          \
    {                                                                                              \
        x86_op_##fn, nm, X86_FORM_##form, X86_SZ_##sz, X86_IMM_##imm, fl, lk                       \
    }
/* a prefix or escape byte: never an X86Insn.op, still a row so that every index has a handler */
#define PREFIX(nm)                                                                                 \
    {                                                                                              \
        x86_unimplemented, nm, X86_FORM_NONE, X86_SZ_NONE, X86_IMM_NONE, 0, 0                      \
    }
#define UNDEF(nm, fl)                                                                              \
    {                                                                                              \
        x86_unimplemented, nm, X86_FORM_NONE, X86_SZ_NONE, X86_IMM_NONE, fl, 0                     \
    }
/* an SSE, MMX or other 0F opcode executed by sse.c (which also raises #UD for the unknown ones) */
#define SSE(nm, fl, imm)                                                                           \
    {                                                                                              \
        x86_exec_sse, nm, X86_FORM_G_E, X86_SZ_NONE, X86_IMM_##imm, fl, 0                          \
    }

/* add or adc and sbb and sub xor cmp: six rows each, r/m forms lockable except cmp */
/* clang-format off */
#define ALU(base, nm, lk)                                                                          \
    [base + 0] = OP(alu, nm, E_G, B, NONE, M, lk),                                                 \
    [base + 1] = OP(alu, nm, E_G, V, NONE, M, lk),                                                 \
    [base + 2] = OP(alu, nm, G_E, B, NONE, M, 0),                                                  \
    [base + 3] = OP(alu, nm, G_E, V, NONE, M, 0),                                                  \
    [base + 4] = OP(alu, nm, A_I, B, B, 0, 0),                                                     \
    [base + 5] = OP(alu, nm, A_I, V, Z, 0, 0)
/* clang-format on */

const X86OpInfo x86_optab[X86_OPTAB_SIZE] = {
    /* one-byte opcodes */
    ALU(0x00, "add", LK),
    [0x06] = OP(push_sreg, "push es", NONE, D64, NONE, I64, 0),
    [0x07] = OP(pop_sreg, "pop es", NONE, D64, NONE, I64, 0),
    ALU(0x08, "or", LK),
    [0x0e] = OP(push_sreg, "push cs", NONE, D64, NONE, I64, 0),
    [0x0f] = PREFIX("0f escape"),
    ALU(0x10, "adc", LK),
    [0x16] = OP(push_sreg, "push ss", NONE, D64, NONE, I64, 0),
    [0x17] = OP(pop_sreg, "pop ss", NONE, D64, NONE, I64, 0),
    ALU(0x18, "sbb", LK),
    [0x1e] = OP(push_sreg, "push ds", NONE, D64, NONE, I64, 0),
    [0x1f] = OP(pop_sreg, "pop ds", NONE, D64, NONE, I64, 0),
    ALU(0x20, "and", LK),
    [0x26] = PREFIX("es"),
    [0x27] = OP(bcd, "daa", NONE, B, NONE, I64, 0),
    ALU(0x28, "sub", LK),
    [0x2e] = PREFIX("cs"),
    [0x2f] = OP(bcd, "das", NONE, B, NONE, I64, 0),
    ALU(0x30, "xor", LK),
    [0x36] = PREFIX("ss"),
    [0x37] = OP(bcd, "aaa", NONE, B, NONE, I64, 0),
    ALU(0x38, "cmp", 0),
    [0x3e] = PREFIX("ds"),
    [0x3f] = OP(bcd, "aas", NONE, B, NONE, I64, 0),
    [0x40 ... 0x47] = OP(incdec_r, "inc", O, V, NONE, 0, 0), /* REX in 64-bit mode */
    [0x48 ... 0x4f] = OP(incdec_r, "dec", O, V, NONE, 0, 0),
    [0x50 ... 0x57] = OP(push_r, "push", O, D64, NONE, 0, 0),
    [0x58 ... 0x5f] = OP(pop_r, "pop", O, D64, NONE, 0, 0),
    [0x60] = OP(pusha, "pusha", NONE, V, NONE, I64, 0),
    [0x61] = OP(popa, "popa", NONE, V, NONE, I64, 0),
    [0x62] = UNDEF("bound", M | I64),
    [0x63] = OP(movsxd, "movsxd", G_E, V, NONE, M, 0), /* arpl outside 64-bit mode */
    [0x64] = PREFIX("fs"),
    [0x65] = PREFIX("gs"),
    [0x66] = PREFIX("data16"),
    [0x67] = PREFIX("addr32"),
    [0x68] = OP(push_imm, "push", I, D64, Z, 0, 0),
    [0x69] = OP(imul_imm, "imul", G_E_I, V, Z, M, 0),
    [0x6a] = OP(push_imm, "push", I, D64, B, 0, 0),
    [0x6b] = OP(imul_imm, "imul", G_E_I, V, B, M, 0),
    [0x6c] = OP(ins_outs_b, "insb", NONE, B, NONE, 0, 0),
    [0x6d] = OP(ins_outs_v, "ins", NONE, V, NONE, 0, 0),
    [0x6e] = OP(ins_outs_b, "outsb", NONE, B, NONE, 0, 0),
    [0x6f] = OP(ins_outs_v, "outs", NONE, V, NONE, 0, 0),
    [0x70 ... 0x7f] = OP(jcc, "jcc", J, D64, B, BR, 0),
    [0x80] = OP(grp1, "grp1", E_I, B, B, M, 0x7f),
    [0x81] = OP(grp1, "grp1", E_I, V, Z, M, 0x7f),
    [0x82] = OP(grp1, "grp1", E_I, B, B, M | I64, 0x7f),
    [0x83] = OP(grp1, "grp1", E_I, V, B, M, 0x7f),
    [0x84] = OP(test_rm, "test", E_G, B, NONE, M, 0),
    [0x85] = OP(test_rm, "test", E_G, V, NONE, M, 0),
    [0x86] = OP(xchg_rm, "xchg", E_G, B, NONE, M, LK),
    [0x87] = OP(xchg_rm, "xchg", E_G, V, NONE, M, LK),
    [0x88] = OP(mov_to_rm, "mov", E_G, B, NONE, M, 0),
    [0x89] = OP(mov_to_rm, "mov", E_G, V, NONE, M, 0),
    [0x8a] = OP(mov_from_rm, "mov", G_E, B, NONE, M, 0),
    [0x8b] = OP(mov_from_rm, "mov", G_E, V, NONE, M, 0),
    [0x8c] = OP(mov_from_sreg, "mov", E, V, NONE, M, 0),
    [0x8d] = OP(lea, "lea", G_E, V, NONE, M, 0),
    [0x8e] = OP(mov_to_sreg, "mov", E, W, NONE, M, 0),
    [0x8f] = OP(pop_rm, "pop", E, D64, NONE, M, 0),
    [0x90] = OP(nop, "nop", NONE, NONE, NONE, 0, 0), /* xchg r8, rax with REX.B */
    [0x91 ... 0x97] = OP(xchg_ax, "xchg", O, V, NONE, 0, 0),
    [0x98] = OP(cbw, "cbw", NONE, V, NONE, 0, 0),
    [0x99] = OP(cwd, "cwd", NONE, V, NONE, 0, 0),
    [0x9a] = OP(call_far, "call far", I, V, AP, I64 | BR, 0),
    [0x9b] = OP(fwait, "fwait", NONE, NONE, NONE, 0, 0),
    [0x9c] = OP(pushf, "pushf", NONE, D64, NONE, 0, 0),
    [0x9d] = OP(popf, "popf", NONE, D64, NONE, 0, 0),
    [0x9e] = OP(sahf, "sahf", NONE, B, NONE, 0, 0),
    [0x9f] = OP(lahf, "lahf", NONE, B, NONE, 0, 0),
    [0xa0] = OP(mov_moffs, "mov", A_I, B, MOFFS, 0, 0),
    [0xa1] = OP(mov_moffs, "mov", A_I, V, MOFFS, 0, 0),
    [0xa2] = OP(mov_moffs, "mov", A_I, B, MOFFS, 0, 0),
    [0xa3] = OP(mov_moffs, "mov", A_I, V, MOFFS, 0, 0),
    [0xa4] = OP(string_b, "movsb", NONE, B, NONE, 0, 0),
    [0xa5] = OP(string_v, "movs", NONE, V, NONE, 0, 0),
    [0xa6] = OP(string_b, "cmpsb", NONE, B, NONE, 0, 0),
    [0xa7] = OP(string_v, "cmps", NONE, V, NONE, 0, 0),
    [0xa8] = OP(test_al, "test", A_I, B, B, 0, 0),
    [0xa9] = OP(test_ax, "test", A_I, V, Z, 0, 0),
    [0xaa] = OP(string_b, "stosb", NONE, B, NONE, 0, 0),
    [0xab] = OP(string_v, "stos", NONE, V, NONE, 0, 0),
    [0xac] = OP(string_b, "lodsb", NONE, B, NONE, 0, 0),
    [0xad] = OP(string_v, "lods", NONE, V, NONE, 0, 0),
    [0xae] = OP(string_b, "scasb", NONE, B, NONE, 0, 0),
    [0xaf] = OP(string_v, "scas", NONE, V, NONE, 0, 0),
    [0xb0 ... 0xb7] = OP(mov_r8_imm, "mov", O_I, B, B, 0, 0),
    [0xb8 ... 0xbf] = OP(mov_r_imm, "mov", O_I, V, V, 0, 0),
    [0xc0] = OP(shift, "grp2", E_I, B, B, M, 0),
    [0xc1] = OP(shift, "grp2", E_I, V, B, M, 0),
    [0xc2] = OP(ret, "ret", I, D64, W, BR, 0),
    [0xc3] = OP(ret, "ret", NONE, D64, NONE, BR, 0),
    [0xc4] = OP(les_lds, "les", G_E, V, NONE, M | I64, 0),
    [0xc5] = OP(les_lds, "lds", G_E, V, NONE, M | I64, 0),
    [0xc6] = OP(mov_rm_imm, "mov", E_I, B, B, M, 0),
    [0xc7] = OP(mov_rm_imm, "mov", E_I, V, Z, M, 0),
    [0xc8] = OP(enter, "enter", I, D64, ENTER, 0, 0),
    [0xc9] = OP(leave, "leave", NONE, D64, NONE, 0, 0),
    [0xca] = OP(ret_far, "retf", I, V, W, BR, 0),
    [0xcb] = OP(ret_far, "retf", NONE, V, NONE, BR, 0),
    [0xcc] = OP(int3, "int3", NONE, NONE, NONE, BR, 0),
    [0xcd] = OP(int_imm, "int", I, NONE, B, BR, 0),
    [0xce] = OP(into, "into", NONE, NONE, NONE, I64 | BR, 0),
    [0xcf] = OP(iret, "iret", NONE, V, NONE, BR, 0),
    [0xd0] = OP(shift, "grp2", E, B, NONE, M, 0),
    [0xd1] = OP(shift, "grp2", E, V, NONE, M, 0),
    [0xd2] = OP(shift, "grp2", E, B, NONE, M, 0),
    [0xd3] = OP(shift, "grp2", E, V, NONE, M, 0),
    [0xd4] = OP(aam_aad, "aam", I, B, B, I64, 0),
    [0xd5] = OP(aam_aad, "aad", I, B, B, I64, 0),
    [0xd6] = OP(salc, "salc", NONE, B, NONE, I64, 0),
    [0xd7] = OP(xlat, "xlat", NONE, B, NONE, 0, 0),
    [0xd8 ... 0xdf] = OP(x87, "x87", E, NONE, NONE, M, 0),
    [0xe0] = OP(loop, "loopnz", J, D64, B, BR, 0),
    [0xe1] = OP(loop, "loopz", J, D64, B, BR, 0),
    [0xe2] = OP(loop, "loop", J, D64, B, BR, 0),
    [0xe3] = OP(jcxz, "jcxz", J, D64, B, BR, 0),
    [0xe4] = OP(in, "in", A_I, B, B, 0, 0),
    [0xe5] = OP(in, "in", A_I, V, B, 0, 0),
    [0xe6] = OP(out, "out", A_I, B, B, 0, 0),
    [0xe7] = OP(out, "out", A_I, V, B, 0, 0),
    [0xe8] = OP(call, "call", J, D64, Z, BR, 0),
    [0xe9] = OP(jmp, "jmp", J, D64, Z, BR, 0),
    [0xea] = OP(jmp_far, "jmp far", I, V, AP, I64 | BR, 0),
    [0xeb] = OP(jmp, "jmp", J, D64, B, BR, 0),
    [0xec] = OP(in, "in", NONE, B, NONE, 0, 0),
    [0xed] = OP(in, "in", NONE, V, NONE, 0, 0),
    [0xee] = OP(out, "out", NONE, B, NONE, 0, 0),
    [0xef] = OP(out, "out", NONE, V, NONE, 0, 0),
    [0xf0] = PREFIX("lock"),
    [0xf1] = OP(icebp, "icebp", NONE, NONE, NONE, BR, 0),
    [0xf2] = PREFIX("repnz"),
    [0xf3] = PREFIX("repz"),
    [0xf4] = OP(hlt, "hlt", NONE, NONE, NONE, 0, 0),
    [0xf5] = OP(cmc, "cmc", NONE, NONE, NONE, 0, 0),
    [0xf6] = OP(grp3, "grp3", E, B, GRP3, M, 0x0c),
    [0xf7] = OP(grp3, "grp3", E, V, GRP3, M, 0x0c),
    [0xf8] = OP(clc_stc, "clc", NONE, NONE, NONE, 0, 0),
    [0xf9] = OP(clc_stc, "stc", NONE, NONE, NONE, 0, 0),
    [0xfa] = OP(cli_sti, "cli", NONE, NONE, NONE, 0, 0),
    [0xfb] = OP(cli_sti, "sti", NONE, NONE, NONE, 0, 0),
    [0xfc] = OP(cld, "cld", NONE, NONE, NONE, 0, 0),
    [0xfd] = OP(std, "std", NONE, NONE, NONE, 0, 0),
    [0xfe] = OP(grp45, "grp4", E, B, NONE, M, 0x03),
    [0xff] = OP(grp45, "grp5", E, V, NONE, M | BR, 0x03),

    /* 0F xx */
    [0x100] = OP(grp6, "grp6", E, W, NONE, M, 0),
    [0x101] = OP(grp7, "grp7", E, NONE, NONE, M, 0),
    [0x102] = OP(lar, "lar", G_E, V, NONE, M, 0),
    [0x103] = OP(lsl, "lsl", G_E, V, NONE, M, 0),
    [0x104] = SSE("(bad)", M, NONE),
    [0x105] = OP(syscall, "syscall", NONE, NONE, NONE, BR, 0),
    [0x106] = OP(clts, "clts", NONE, NONE, NONE, 0, 0),
    [0x107] = OP(sysret, "sysret", NONE, V, NONE, BR, 0),
    [0x108] = OP(invd, "invd", NONE, NONE, NONE, 0, 0),
    [0x109] = OP(invd, "wbinvd", NONE, NONE, NONE, 0, 0),
    [0x10a] = SSE("(bad)", M, NONE),
    [0x10b] = OP(ud, "ud2", NONE, NONE, NONE, 0, 0),
    [0x10c] = SSE("(bad)", M, NONE),
    [0x10d] = OP(hint_nop, "prefetch", M, NONE, NONE, M, 0),
    [0x10e] = SSE("femms", 0, NONE),
    [0x10f] = SSE("3dnow", M, NONE),
    [0x110 ... 0x117] = SSE("sse", M, NONE),
    [0x118 ... 0x11f] = OP(hint_nop, "nop", E, NONE, NONE, M, 0),
    [0x120] = OP(mov_cr, "mov", E, NONE, NONE, M | RM, 0),
    [0x121] = OP(mov_dr, "mov", E, NONE, NONE, M | RM, 0),
    [0x122] = OP(mov_cr, "mov", E, NONE, NONE, M | RM, 0),
    [0x123] = OP(mov_dr, "mov", E, NONE, NONE, M | RM, 0),
    [0x124 ... 0x12f] = SSE("sse", M, NONE),
    [0x130] = OP(wrmsr, "wrmsr", NONE, NONE, NONE, 0, 0),
    [0x131] = OP(rdtsc, "rdtsc", NONE, NONE, NONE, 0, 0),
    [0x132] = OP(rdmsr, "rdmsr", NONE, NONE, NONE, 0, 0),
    [0x133] = SSE("rdpmc", 0, NONE),
    [0x134] = OP(sysenter, "sysenter", NONE, NONE, NONE, BR, 0),
    [0x135] = OP(sysexit, "sysexit", NONE, V, NONE, BR, 0),
    [0x136 ... 0x137] = SSE("(bad)", 0, NONE),
    [0x138 ... 0x13f] = SSE("(bad)", M, NONE), /* 38 and 3a are escapes, never an op */
    [0x140 ... 0x14f] = OP(cmovcc, "cmovcc", G_E, V, NONE, M, 0),
    [0x150 ... 0x16f] = SSE("sse", M, NONE),
    [0x170 ... 0x173] = SSE("sse", M, B),
    [0x174 ... 0x176] = SSE("sse", M, NONE),
    [0x177] = SSE("emms", 0, NONE),
    [0x178 ... 0x17f] = SSE("sse", M, NONE),
    [0x180 ... 0x18f] = OP(jcc_rel32, "jcc", J, D64, Z, BR, 0),
    [0x190 ... 0x19f] = OP(setcc, "setcc", E, B, NONE, M, 0),
    [0x1a0] = OP(push_fs_gs, "push fs", NONE, D64, NONE, 0, 0),
    [0x1a1] = OP(pop_fs_gs, "pop fs", NONE, D64, NONE, 0, 0),
    [0x1a2] = OP(cpuid, "cpuid", NONE, NONE, NONE, 0, 0),
    [0x1a3] = OP(bt, "bt", E_G, V, NONE, M, 0),
    [0x1a4] = OP(shld_shrd, "shld", E_G, V, B, M, 0),
    [0x1a5] = OP(shld_shrd, "shld", E_G, V, NONE, M, 0),
    [0x1a6 ... 0x1a7] = SSE("(bad)", M, NONE),
    [0x1a8] = OP(push_fs_gs, "push gs", NONE, D64, NONE, 0, 0),
    [0x1a9] = OP(pop_fs_gs, "pop gs", NONE, D64, NONE, 0, 0),
    [0x1aa] = SSE("rsm", 0, NONE),
    [0x1ab] = OP(bt, "bts", E_G, V, NONE, M, LK),
    [0x1ac] = OP(shld_shrd, "shrd", E_G, V, B, M, 0),
    [0x1ad] = OP(shld_shrd, "shrd", E_G, V, NONE, M, 0),
    [0x1ae] = OP(grp15, "grp15", E, NONE, NONE, M, 0),
    [0x1af] = OP(imul_rm, "imul", G_E, V, NONE, M, 0),
    [0x1b0] = OP(cmpxchg_b, "cmpxchg", E_G, B, NONE, M, LK),
    [0x1b1] = OP(cmpxchg_v, "cmpxchg", E_G, V, NONE, M, LK),
    [0x1b2] = OP(lss_lfs_lgs, "lss", G_E, V, NONE, M, 0),
    [0x1b3] = OP(bt, "btr", E_G, V, NONE, M, LK),
    [0x1b4] = OP(lss_lfs_lgs, "lfs", G_E, V, NONE, M, 0),
    [0x1b5] = OP(lss_lfs_lgs, "lgs", G_E, V, NONE, M, 0),
    [0x1b6] = OP(movx, "movzx", G_E, V, NONE, M, 0),
    [0x1b7] = OP(movx, "movzx", G_E, V, NONE, M, 0),
    [0x1b8] = OP(popcnt, "popcnt", G_E, V, NONE, M, 0),
    [0x1b9] = OP(ud, "ud1", NONE, NONE, NONE, M, 0),
    [0x1ba] = OP(grp8, "grp8", E_I, V, B, M, 0xe0),
    [0x1bb] = OP(bt, "btc", E_G, V, NONE, M, LK),
    [0x1bc] = OP(bsf, "bsf", G_E, V, NONE, M, 0),
    [0x1bd] = OP(bsr, "bsr", G_E, V, NONE, M, 0),
    [0x1be] = OP(movx, "movsx", G_E, V, NONE, M, 0),
    [0x1bf] = OP(movx, "movsx", G_E, V, NONE, M, 0),
    [0x1c0] = OP(xadd, "xadd", E_G, B, NONE, M, LK),
    [0x1c1] = OP(xadd, "xadd", E_G, V, NONE, M, LK),
    [0x1c2] = SSE("cmpps", M, B),
    [0x1c3] = SSE("movnti", M, NONE),
    [0x1c4 ... 0x1c6] = SSE("sse", M, B),
    [0x1c7] = OP(grp9, "grp9", E, NONE, NONE, M, 0x02),
    [0x1c8 ... 0x1cf] = OP(bswap, "bswap", O, V, NONE, 0, 0),
    [0x1d0 ... 0x1fe] = SSE("sse", M, NONE),
    [0x1ff] = OP(ud, "ud0", NONE, NONE, NONE, M, 0),

    /* 0F 38 xx and 0F 3A xx: nothing beyond SSE2 is advertised; sse.c raises #UD */
    [0x200 ... 0x2ff] = SSE("0f38", M, NONE),
    [0x300 ... 0x3ff] = SSE("0f3a", M, B),
};
