/*
 * The translator: a decoded block (TB) of 64-bit code becomes host x86-64 code.
 *
 *   decoded TB ──► x86_jit_translate ──► code in the cache (written through the RW mapping)
 *                                          │
 *   run_tb (cpu.c) ── calls through the RX mapping ──► JitBlockFn(cpu) ──► instructions retired
 *
 * The code cache is one memfd mapped twice: writable and executable, never both at one
 * address (W^X). It fills up front to back and is flushed whole when a block does not fit; a
 * flush bumps the cache epoch, which every block's code pointer is stamped with.
 *
 * What generated code keeps exactly as the interpreter does:
 * - guest state lives in X86CPUState (host rbx holds the X86CPU), flags as the lazy cc_* fields;
 * - memory goes through the software TLB inline (same tags, same addends) and calls
 *   x86_ld_slow / x86_st_slow on a miss, with cur_rip and rip set first, so a fault leaves the
 *   state as after the last retired instruction (the helper's siglongjmp unwinds the block);
 * - every store tests the page's state byte after the data store and calls
 *   x86_note_store_slow unless the page is just dirty; a store that hits a code page sets
 *   tb_exit, and the block ends after that instruction, as the interpreter's does (a load
 *   whose page walk sets an A/D bit in a code page is not checked: the block runs to its end);
 * - the block returns the number of instructions it retired; a taken branch ends it.
 * A block whose first instruction is outside the translated subset is not translated: the
 * interpreter runs it. Otherwise the longest translatable prefix is translated and the block
 * ends at the first instruction the translator does not handle.
 */
#include "target/i386/cpu-internal.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/i386/jit-emit.h"

#define JIT_CACHE_SIZE  (32u << 20)
#define JIT_BLOCK_SPACE (24u << 10) /* worst case for TB_MAX_INSNS instructions */

struct X86Jit {
    int fd;
    uint8_t *rw, *rx;
    size_t size, used;
    uint32_t epoch;
    X86JitStats stats;
};

G_STATIC_ASSERT(sizeof(TLBEntry) == 32);

#define CPU_OFF(field) ((int32_t)offsetof(X86CPU, field))
#define REG_OFF(r)     (CPU_OFF(env.regs) + 8 * (r))

X86Jit *x86_jit_new(GError **errp)
{
    X86Jit *j = g_new0(X86Jit, 1);
    j->size = JIT_CACHE_SIZE;
    j->fd = memfd_create("qemu-colo-jit", MFD_CLOEXEC);
    if (j->fd < 0 || ftruncate(j->fd, j->size) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot create the translator's code cache: %s", g_strerror(errno));
        goto fail;
    }
    j->rw = mmap(NULL, j->size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
    j->rx = mmap(NULL, j->size, PROT_READ | PROT_EXEC, MAP_SHARED, j->fd, 0);
    if (j->rw == MAP_FAILED || j->rx == MAP_FAILED) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot map the translator's code cache: %s", g_strerror(errno));
        goto fail;
    }
    j->epoch = 1;
    j->stats.cache_size = j->size;
    return j;
fail:
    if (j->rw && j->rw != MAP_FAILED) {
        munmap(j->rw, j->size);
    }
    if (j->rx && j->rx != MAP_FAILED) {
        munmap(j->rx, j->size);
    }
    if (j->fd >= 0) {
        close(j->fd);
    }
    g_free(j);
    return NULL;
}

void x86_jit_free(X86Jit *j)
{
    if (!j) {
        return;
    }
    munmap(j->rw, j->size);
    munmap(j->rx, j->size);
    close(j->fd);
    g_free(j);
}

uint32_t x86_jit_epoch(const X86Jit *j)
{
    return j->epoch;
}

void x86_jit_get_stats(const X86Jit *j, X86JitStats *out)
{
    *out = j->stats;
    out->cache_used = j->used;
}

void x86_cpu_jit_info(X86CPU *cpu, GString *out)
{
    X86JitStats js;
    X86CPUStats cs;
    bool on = x86_cpu_get_jit_stats(cpu, &js);
    x86_cpu_get_stats(cpu, &cs);
    g_string_append_printf(out, "Translation buffer state:\n");
    g_string_append_printf(out, "gen code size       %" PRIu64 "/%" PRIu64 "\n", js.cache_used,
                           js.cache_size);
    g_string_append_printf(out, "TB count            %" PRIu64 "\n", js.blocks);
    g_string_append_printf(out, "TB avg target size  %.1f instructions\n",
                           js.blocks ? (double)js.insns / js.blocks : 0.0);
    g_string_append_printf(
        out, "TB interpreted      %" PRIu64 " (first instruction not translated)\n", js.refused);
    g_string_append_printf(out, "\nStatistics:\n");
    g_string_append_printf(out, "TB flush count      %" PRIu64 "\n", js.flushes);
    g_string_append_printf(out, "decoded blocks      %" PRIu64 "\n", cs.tb_translations);
    g_string_append_printf(out, "decode cache flushes %" PRIu64 "\n", cs.tb_flushes);
    g_string_append_printf(out, "TLB full flushes    %" PRIu64 "\n", cs.tlb_flushes);
    g_string_append_printf(out, "translator          %s\n",
                           on ? "on (-accel tcg,jit=on)" : "off (-accel tcg,jit=off)");
}

/* x86_cond for generated code that cannot read the condition from the host's flags */
static uint64_t jit_cond(X86CPU *cpu, uint64_t cc)
{
    return x86_cond(cpu, (int)cc);
}

/* ---- what the translator handles ---- */

enum {
    K_NONE,
    K_MOV_RR,    /* 89 8b, register operands */
    K_LOAD,      /* 8b, memory source */
    K_STORE,     /* 89, memory destination */
    K_MOV_IMM,   /* b8+r, c7 /0 register */
    K_STORE_IMM, /* c7 /0 memory */
    K_LEA,       /* 8d */
    K_ALU_RR,    /* add or and sub xor cmp between registers */
    K_ALU_RM,    /* the same with a memory source */
    K_ALU_RI,    /* 81 83 with a register destination */
    K_TEST_RR,   /* 85 between registers */
    K_PUSH,      /* 50+r */
    K_POP,       /* 58+r */
    K_JCC,       /* 70+cc, 0f 80+cc */
    K_JMP,       /* e9 eb */
    K_CALL,      /* e8 */
    K_RET,       /* c3 */
    K_NOP,       /* 90, 0f 1f */
    K_SHIFT_RI,  /* c1 d1 /4 /5 /7 (shl shr sar) on a register, count not 0 */
    K_TEST_RI,   /* f7 /0 on a register */
    K_MOVX,      /* 0f b6 b7 be bf (movzx movsx), register or memory source */
};

/* add or adc sbb and sub xor cmp: the lazy-flags operation, or -1 (adc, sbb: not here) */
static const int alu_ccop[8] = {CC_OP_ADD,   CC_OP_LOGIC, -1,          -1,
                                CC_OP_LOGIC, CC_OP_SUB,   CC_OP_LOGIC, CC_OP_SUB};

/* c1: the immediate, d1: 1; masked as the CPU masks it */
static unsigned shift_count(const X86Insn *in)
{
    unsigned cnt = in->op == 0xd1 ? 1 : (unsigned)in->imm;
    return cnt & (in->opsize == 8 ? 63 : 31);
}

static bool mem_ok(const X86Insn *in)
{
    return in->addrsize == 8 && (in->seg == X86_SEG_NONE || in->seg == R_FS || in->seg == R_GS);
}

static int classify(const X86Insn *in)
{
    int op = in->op;
    bool big = in->opsize == 4 || in->opsize == 8;
    bool reg = in->mod == 3;
    if (in->bad || in->mode != X86_MODE64 ||
        (in->prefix & (PFX_LOCK | PFX_REPZ | PFX_REPNZ | PFX_DATA))) {
        return K_NONE;
    }
    if (op < 0x40 && (op & 7) < 4 && (op & 1) && alu_ccop[op >> 3] >= 0) {
        if (reg) {
            return K_ALU_RR;
        }
        return (op & 2) && mem_ok(in) ? K_ALU_RM : K_NONE;
    }
    switch (op) {
    case 0x89:
    case 0x8b:
        if (!big) {
            return K_NONE;
        }
        if (reg) {
            return K_MOV_RR;
        }
        return mem_ok(in) ? (op == 0x8b ? K_LOAD : K_STORE) : K_NONE;
    case 0xb8 ... 0xbf:
        return K_MOV_IMM;
    case 0xc7:
        if ((in->reg & 7) != 0) {
            return K_NONE;
        }
        return reg ? K_MOV_IMM : mem_ok(in) ? K_STORE_IMM : K_NONE;
    case 0x8d:
        return !reg && in->addrsize == 8 ? K_LEA : K_NONE;
    case 0x81:
    case 0x83:
        return reg && alu_ccop[in->reg & 7] >= 0 ? K_ALU_RI : K_NONE;
    case 0x85:
        return reg ? K_TEST_RR : K_NONE;
    case 0x50 ... 0x57:
        return K_PUSH;
    case 0x58 ... 0x5f:
        return K_POP;
    case 0x70 ... 0x7f:
    case 0x180 ... 0x18f:
        return K_JCC;
    case 0xe9:
    case 0xeb:
        return K_JMP;
    case 0xe8:
        return K_CALL;
    case 0xc3:
        return K_RET;
    case 0x90:
        return (in->rex & REX_B) ? K_NONE : K_NOP;
    case 0x11f:
        return K_NOP;
    case 0xc1:
    case 0xd1: {
        int g = in->reg & 7;
        unsigned cnt = shift_count(in);
        return reg && (g == 4 || g == 5 || g == 7) && cnt ? K_SHIFT_RI : K_NONE;
    }
    case 0xf7:
        return reg && (in->reg & 7) == 0 ? K_TEST_RI : K_NONE;
    case 0x1b6:
    case 0x1b7:
    case 0x1be:
    case 0x1bf:
        if (reg) {
            /* a byte register without REX in 4-7 is ah-bh */
            bool high = in->op & 1 ? false : !(in->prefix & PFX_REX) && in->rm >= 4 && in->rm < 8;
            return high ? K_NONE : K_MOVX;
        }
        return mem_ok(in) ? K_MOVX : K_NONE;
    }
    return K_NONE;
}

/* ---- emission ---- */

typedef struct JitCtx {
    JitEmit e;
    X86CPU *cpu;
    int user;        /* TLB privilege the block was translated for */
    uint64_t rip;    /* start of the instruction being translated */
    uint64_t next;   /* the instruction after it */
    uint32_t done;   /* instructions before it in the block */
    bool flags_live; /* the host's flags are the guest's (an ALU operation just ran) */
} JitCtx;

/* Leaves the block with rip = value and `count` instructions retired. */
static void emit_exit_imm(JitCtx *c, uint64_t rip, uint32_t count)
{
    je_mov_imm(&c->e, H_RAX, rip);
    je_store(&c->e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
    je_mov_imm(&c->e, H_RAX, count);
    je_pop(&c->e, H_RBX);
    je_ret(&c->e);
}

/* Where the interpreter has them while an instruction runs: for a helper that may fault. */
static void emit_sync_rip(JitCtx *c)
{
    je_mov_imm(&c->e, H_RAX, c->rip);
    je_store(&c->e, 8, H_RBX, CPU_OFF(cur_rip), H_RAX);
    je_mov_imm(&c->e, H_RAX, c->next);
    je_store(&c->e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
}

/* rsi = the linear address of the memory operand (with_seg: FS/GS base added) */
static void emit_ea(JitCtx *c, const X86Insn *in, bool with_seg)
{
    JitEmit *e = &c->e;
    int32_t disp = in->disp;
    if (in->base < 16) {
        je_load(e, 8, H_RSI, H_RBX, REG_OFF(in->base));
    } else {
        je_mov_imm(e, H_RSI,
                   in->base == X86_RIP ? c->next + (int64_t)disp : (uint64_t)(int64_t)disp);
        disp = 0;
    }
    if (in->index < 16) {
        je_load(e, 8, H_RAX, H_RBX, REG_OFF(in->index));
        je_lea(e, H_RSI, H_RSI, H_RAX, in->scale, disp);
    } else if (disp) {
        je_lea(e, H_RSI, H_RSI, H_NOINDEX, 0, disp);
    }
    if (with_seg && in->seg != X86_SEG_NONE) {
        je_alu_rm(e, 8, 0, H_RSI, H_RBX, CPU_OFF(env.segs[in->seg].base));
    }
}

/* rdx = the TLB entry of la (rsi); jumps to the returned patch point when the tag (read or
 * write) does not cover [la, la + size) */
static uint8_t *emit_tlb_check(JitCtx *c, int size, bool write)
{
    JitEmit *e = &c->e;
    je_mov_rr(e, 8, H_RAX, H_RSI);
    je_shift_ri(e, 8, 5, H_RAX, GUEST_PAGE_BITS);
    je_alu_ri(e, 4, 4, H_RAX, TLB_SIZE - 1);
    je_shift_ri(e, 4, 4, H_RAX, 5);
    je_lea(e, H_RDX, H_RBX, H_RAX, 0, CPU_OFF(tlb[c->user]));
    je_lea(e, H_RCX, H_RSI, H_NOINDEX, 0, size - 1);
    je_alu_ri(e, 8, 4, H_RCX, (int32_t)GUEST_PAGE_MASK);
    static const uint8_t cmp = 0x3b;
    je_op_mem(e, 8, &cmp, 1, H_RCX, H_RDX, H_NOINDEX, 0,
              write ? (int32_t)offsetof(TLBEntry, write) : (int32_t)offsetof(TLBEntry, read));
    return je_jcc_fwd(e, 5 /* ne */);
}

/* rax = the `size`-byte value at la (rsi), zero-extended */
static void emit_load(JitCtx *c, int size)
{
    JitEmit *e = &c->e;
    uint8_t *miss = emit_tlb_check(c, size, false);
    je_alu_rm(e, 8, 0, H_RSI, H_RDX, (int32_t)offsetof(TLBEntry, addend));
    if (size < 4) {
        uint8_t movzx[2] = {0x0f, size == 1 ? 0xb6 : 0xb7};
        je_op_mem(e, 4, movzx, 2, H_RAX, H_RSI, H_NOINDEX, 0, 0);
    } else {
        je_load(e, size, H_RAX, H_RSI, 0);
    }
    uint8_t *done = je_jmp_fwd(e);
    je_patch_here(e, miss);
    emit_sync_rip(c);
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_mov_imm(e, H_RDX, size);
    je_mov_imm(e, H_RCX, c->user);
    je_call(e, x86_ld_slow);
    je_patch_here(e, done);
}

/* stores the `size` low bytes of rdi at la (rsi), then marks the page as the store path does */
static void emit_store(JitCtx *c, int size)
{
    JitEmit *e = &c->e;
    GuestRam *ram = c->cpu->ram;
    uint8_t *miss = emit_tlb_check(c, size, true);
    je_alu_rm(e, 8, 0, H_RSI, H_RDX, (int32_t)offsetof(TLBEntry, addend));
    je_store(e, size, H_RSI, 0, H_RDI);
    /* the state byte is read after the data store (include/memory/ram.h's ordering) */
    je_mov_rr(e, 8, H_RAX, H_RSI);
    je_mov_imm(e, H_RCX, (uint64_t)(uintptr_t)ram->host);
    static const uint8_t sub = 0x2b;
    je_op_rr(e, 8, &sub, 1, H_RAX, H_RCX);
    je_shift_ri(e, 8, 5, H_RAX, GUEST_PAGE_BITS);
    je_mov_imm(e, H_RCX, (uint64_t)(uintptr_t)ram->page_state);
    je_cmp_byte_mem(e, H_RCX, H_RAX, 0, PAGE_DIRTY);
    uint8_t *mark = je_jcc_fwd(e, 5 /* ne */);
    uint8_t *done = je_jmp_fwd(e);
    je_patch_here(e, mark);
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_mov_rr(e, 8, H_RSI, H_RAX);
    je_call(e, x86_note_store_slow);
    uint8_t *done2 = je_jmp_fwd(e);
    je_patch_here(e, miss);
    emit_sync_rip(c);
    je_mov_rr(e, 8, H_RDX, H_RDI);
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_mov_imm(e, H_RCX, size);
    je_mov_imm(e, H_R8, c->user);
    je_call(e, x86_st_slow);
    je_patch_here(e, done);
    je_patch_here(e, done2);
}

/* after an instruction that stored: a store into a code page ends the block there */
static void emit_tb_exit_check(JitCtx *c)
{
    je_cmp_dword_imm(&c->e, H_RBX, CPU_OFF(tb_exit), 0);
    uint8_t *stay = je_jcc_fwd(&c->e, 4 /* e */);
    emit_exit_imm(c, c->next, c->done + 1);
    je_patch_here(&c->e, stay);
}

/* rax (destination) op rcx (source), lazy flags as the interpreter writes them */
static void emit_alu(JitCtx *c, int aop, int size, int dst_reg)
{
    JitEmit *e = &c->e;
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RCX);
    /* cmp is a sub and test an and whose result is kept only in cc_res, as the interpreter
     * keeps it (ZF and SF come from there) */
    je_alu_rr(e, size, aop == 8 ? 4 : aop == 7 ? 5 : aop, H_RAX, H_RCX);
    /* only moves from here on: the host's flags stay the guest's for a following jcc */
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
    je_store_imm(e, 4, H_RBX, CPU_OFF(env.cc_op), aop == 8 ? CC_OP_LOGIC : alu_ccop[aop]);
    je_store_imm(e, 4, H_RBX, CPU_OFF(env.cc_size), size);
    if (aop != 7 && aop != 8) {
        je_store(e, 8, H_RBX, REG_OFF(dst_reg), H_RAX);
    }
    c->flags_live = true;
}

/* push rdi (64-bit): the store first, rsp only once it succeeded */
static void emit_push_rdi(JitCtx *c)
{
    JitEmit *e = &c->e;
    je_load(e, 8, H_RSI, H_RBX, REG_OFF(R_ESP));
    je_lea(e, H_RSI, H_RSI, H_NOINDEX, 0, -8);
    emit_store(c, 8);
    je_load(e, 8, H_RAX, H_RBX, REG_OFF(R_ESP));
    je_lea(e, H_RAX, H_RAX, H_NOINDEX, 0, -8);
    je_store(e, 8, H_RBX, REG_OFF(R_ESP), H_RAX);
}

/* pop into rax (64-bit): the load first, rsp only once it succeeded */
static void emit_pop_rax(JitCtx *c)
{
    JitEmit *e = &c->e;
    je_load(e, 8, H_RSI, H_RBX, REG_OFF(R_ESP));
    emit_load(c, 8);
    je_load(e, 8, H_RCX, H_RBX, REG_OFF(R_ESP));
    je_lea(e, H_RCX, H_RCX, H_NOINDEX, 0, 8);
    je_store(e, 8, H_RBX, REG_OFF(R_ESP), H_RCX);
}

static int opcode_reg(const X86Insn *in)
{
    return (in->op & 7) | ((in->rex & REX_B) ? 8 : 0);
}

/* Emits one instruction; false: it ended the block. */
static bool emit_insn(JitCtx *c, const X86Insn *in, int kind)
{
    JitEmit *e = &c->e;
    int size = in->opsize;
    bool flags_live = c->flags_live;
    c->flags_live = false;
    switch (kind) {
    case K_MOV_RR: {
        int dst = in->op == 0x8b ? in->reg : in->rm, src = in->op == 0x8b ? in->rm : in->reg;
        je_load(e, size, H_RAX, H_RBX, REG_OFF(src));
        je_store(e, 8, H_RBX, REG_OFF(dst), H_RAX);
        c->flags_live = flags_live; /* moves only: the host's flags survive */
        return true;
    }
    case K_LOAD:
        emit_ea(c, in, true);
        emit_load(c, size);
        je_store(e, 8, H_RBX, REG_OFF(in->reg), H_RAX);
        return true;
    case K_STORE:
        je_load(e, 8, H_RDI, H_RBX, REG_OFF(in->reg));
        emit_ea(c, in, true);
        emit_store(c, size);
        emit_tb_exit_check(c);
        return true;
    case K_MOV_IMM: {
        int r = in->op == 0xc7 ? in->rm : opcode_reg(in);
        je_mov_imm(e, H_RAX, size == 8 ? in->imm : (uint32_t)in->imm);
        je_store(e, 8, H_RBX, REG_OFF(r), H_RAX);
        c->flags_live = flags_live;
        return true;
    }
    case K_STORE_IMM:
        je_mov_imm(e, H_RDI, in->imm);
        emit_ea(c, in, true);
        emit_store(c, size);
        emit_tb_exit_check(c);
        return true;
    case K_LEA:
        emit_ea(c, in, false);
        if (size == 4) {
            je_mov_rr(e, 4, H_RSI, H_RSI);
        }
        je_store(e, 8, H_RBX, REG_OFF(in->reg), H_RSI);
        c->flags_live = flags_live; /* emit_ea without a segment base: lea and mov only */
        return true;
    case K_ALU_RR: {
        bool to_reg = in->op & 2;
        int dst = to_reg ? in->reg : in->rm, src = to_reg ? in->rm : in->reg;
        je_load(e, size, H_RAX, H_RBX, REG_OFF(dst));
        je_load(e, size, H_RCX, H_RBX, REG_OFF(src));
        emit_alu(c, in->op >> 3, size, dst);
        return true;
    }
    case K_ALU_RM:
        emit_ea(c, in, true);
        emit_load(c, size);
        je_mov_rr(e, 8, H_RCX, H_RAX);
        je_load(e, size, H_RAX, H_RBX, REG_OFF(in->reg));
        emit_alu(c, in->op >> 3, size, in->reg);
        return true;
    case K_ALU_RI:
        je_load(e, size, H_RAX, H_RBX, REG_OFF(in->rm));
        je_mov_imm(e, H_RCX, size == 8 ? in->imm : (uint32_t)in->imm);
        emit_alu(c, in->reg & 7, size, in->rm);
        return true;
    case K_TEST_RR:
        je_load(e, size, H_RAX, H_RBX, REG_OFF(in->rm));
        je_load(e, size, H_RCX, H_RBX, REG_OFF(in->reg));
        emit_alu(c, 8, size, in->rm);
        return true;
    case K_PUSH:
        je_load(e, 8, H_RDI, H_RBX, REG_OFF(opcode_reg(in)));
        emit_push_rdi(c);
        emit_tb_exit_check(c);
        return true;
    case K_POP:
        emit_pop_rax(c);
        je_store(e, 8, H_RBX, REG_OFF(opcode_reg(in)), H_RAX);
        return true;
    case K_JCC: {
        int cc = in->op & 15;
        uint8_t *stay;
        if (flags_live) {
            stay = je_jcc_fwd(e, cc ^ 1);
        } else {
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_imm(e, H_RSI, cc);
            je_call(e, jit_cond);
            je_test_rr(e, 4, H_RAX, H_RAX);
            stay = je_jcc_fwd(e, 4 /* e */);
        }
        emit_exit_imm(c, c->next + in->imm, c->done + 1);
        je_patch_here(e, stay);
        return true;
    }
    case K_JMP:
        emit_exit_imm(c, c->next + in->imm, c->done + 1);
        return false;
    case K_CALL:
        je_mov_imm(e, H_RDI, c->next);
        emit_push_rdi(c);
        emit_exit_imm(c, c->next + in->imm, c->done + 1);
        return false;
    case K_RET:
        emit_pop_rax(c);
        je_store(e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
        je_mov_imm(e, H_RAX, c->done + 1);
        je_pop(e, H_RBX);
        je_ret(e);
        return false;
    case K_NOP:
        c->flags_live = flags_live;
        return true;
    case K_SHIFT_RI: {
        int g = in->reg & 7, bits = size * 8;
        unsigned cnt = shift_count(in);
        je_load(e, size, H_RAX, H_RBX, REG_OFF(in->rm));
        if (g == 5) { /* shr: OF is the operand's sign */
            je_mov_rr(e, 8, H_RDX, H_RAX);
            je_shift_ri(e, 8, 5, H_RDX, bits - 1);
        }
        je_shift_ri(e, size, g, H_RAX, cnt); /* the host's CF is the guest's */
        static const uint8_t setc_movzx[] = {0x0f, 0x92, 0xc1, 0x0f, 0xb6, 0xc9};
        for (size_t k = 0; k < sizeof(setc_movzx); k++) {
            je_byte(e, setc_movzx[k]);
        }
        if (g == 4) { /* shl: OF = the result's sign xor CF */
            je_mov_rr(e, 8, H_RDX, H_RAX);
            je_shift_ri(e, 8, 5, H_RDX, bits - 1);
            je_alu_rr(e, 8, 6, H_RDX, H_RCX);
        } else if (g == 7) {
            je_mov_imm(e, H_RDX, 0);
        }
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_carry), H_RCX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RDX);
        je_store_imm(e, 4, H_RBX, CPU_OFF(env.cc_op), CC_OP_SHIFT);
        je_store_imm(e, 4, H_RBX, CPU_OFF(env.cc_size), size);
        je_store(e, 8, H_RBX, REG_OFF(in->rm), H_RAX);
        return true;
    }
    case K_TEST_RI:
        je_load(e, size, H_RAX, H_RBX, REG_OFF(in->rm));
        je_mov_imm(e, H_RCX, size == 8 ? in->imm : (uint32_t)in->imm);
        emit_alu(c, 8, size, in->rm);
        return true;
    case K_MOVX: {
        int ssz = (in->op & 1) ? 2 : 1;
        if (in->mod == 3) {
            uint8_t movzx[2] = {0x0f, ssz == 1 ? 0xb6 : 0xb7};
            je_op_mem(e, 4, movzx, 2, H_RAX, H_RBX, H_NOINDEX, 0, REG_OFF(in->rm));
        } else {
            emit_ea(c, in, true);
            emit_load(c, ssz);
        }
        if (in->op >= 0x1be) { /* movsx rax, al / ax */
            uint8_t movsx[2] = {0x0f, ssz == 1 ? 0xbe : 0xbf};
            je_op_rr(e, 8, movsx, 2, H_RAX, H_RAX);
        }
        if (size == 4) {
            je_mov_rr(e, 4, H_RAX, H_RAX);
        }
        je_store(e, 8, H_RBX, REG_OFF(in->reg), H_RAX);
        return true;
    }
    }
    g_assert_not_reached();
}

void *x86_jit_translate(X86CPU *cpu, X86Jit *j, TB *tb)
{
    const X86Insn *insns = &cpu->pool[tb->first];
    if (tb->flags != X86_MODE64 || !cpu->code64 || classify(&insns[0]) == K_NONE) {
        j->stats.refused++;
        return NULL;
    }
    if (j->size - j->used < JIT_BLOCK_SPACE) {
        j->used = 0;
        j->epoch++;
        j->stats.flushes++;
    }
    JitCtx c = {.cpu = cpu, .user = cpu->mmu_user};
    c.e.p = j->rw + j->used;
    c.e.end = c.e.p + JIT_BLOCK_SPACE;
    uint8_t *start = c.e.p;
    je_push(&c.e, H_RBX); /* also aligns the stack for the helpers */
    je_mov_rr(&c.e, 8, H_RBX, H_RDI);
    uint64_t rip = tb->pc;
    bool open = true;
    uint32_t i;
    for (i = 0; i < tb->count && open; i++) {
        int kind = classify(&insns[i]);
        if (kind == K_NONE) {
            break;
        }
        c.rip = rip;
        c.next = rip + insns[i].len;
        c.done = i;
        open = emit_insn(&c, &insns[i], kind);
        rip = c.next;
    }
    if (open) {
        emit_exit_imm(&c, rip, i);
    }
    if (c.e.overflow) {
        j->stats.refused++;
        return NULL;
    }
    j->used += c.e.p - start;
    j->used = (j->used + 15) & ~(size_t)15;
    j->stats.blocks++;
    j->stats.insns += i;
    tb->code_len = i;
    tb->code_end = rip;
    return j->rx + (start - j->rw);
}
