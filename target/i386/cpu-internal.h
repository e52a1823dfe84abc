/*
 * Private to target/i386: the runtime CPU object, the software TLB and the inline memory
 * accessors used by the interpreter.
 */
#ifndef TARGET_I386_CPU_INTERNAL_H
#define TARGET_I386_CPU_INTERNAL_H

#include <inttypes.h>
#include <string.h>

#include "target/i386/cpu.h"
#include "target/i386/decode.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* 8192 entries per privilege: the Debian image's boot walked the page tables 29.4 million
 * times at 512, 17.3 million at 1024, 7.4 million at 2048; bench/net's http, its kernel's
 * pages colliding (87% of walks), 1 800 times a MB at 2048, 420 at 8192 (docs/cpu.md) */
#define TLB_BITS      13
#define TLB_SIZE      (1u << TLB_BITS)
#define TLB_INVALID   UINT64_MAX
#define TLB_LOCAL_LOG 1024

/*
 * One direct-mapped entry per (privilege, page slot). A tag equals the linear page address
 * when that kind of access may use host = addend + la without a page walk. Writes are only
 * allowed through a tag once the PTE's D bit is set; MMIO pages never get a tag.
 */
typedef struct TLBEntry {
    uint64_t read, write, code;
    uintptr_t addend;
} TLBEntry;

/*
 * What the flushes need to know about an entry, kept beside it so that the entry translated
 * code reads keeps its layout: the linear page it was filled for, the mask of the page that
 * mapped it (a 2 MiB, 4 MiB or 1 GiB page's when large: invlpg of any address in that page
 * drops it), and whether that page is global (CR4.PGE and the G bit: a CR3 write keeps it).
 */
typedef struct TLBSide {
    uint64_t page; /* TLB_INVALID: the entry holds nothing */
    uint64_t mask;
    bool global;
} TLBSide;

/* A translated block: decoded instructions from one guest page, executed in order. */
/* Two cache lines: what a lookup compares and a run reads in the first, the links (read when
 * the block ends) in the second. At 120 bytes unaligned a lookup's compare and the run's read
 * of the code pointer fell in different lines, and only the first was prefetched. */
typedef struct TB {
    uint64_t pc;      /* linear address of the first instruction */
    uint64_t ram_off; /* RAM offset of the first instruction */
    uint32_t flags;   /* decode mode the block was made for */
    uint32_t gen;     /* the page's code generation when decoded */
    uint32_t first;   /* index into the instruction pool */
    uint32_t count;
    /* translated code (jit.c): valid while code_epoch is the cache's epoch and the CPU runs
     * with the TLB privilege code_user; code NULL: not translatable, the interpreter runs it */
    void *code;
    uint32_t code_epoch;
    uint16_t code_user;
    uint16_t runs;     /* interpreted runs before translation */
    uint32_t code_len; /* instructions translated (a prefix of the block) */
    uint32_t link_next;
    uint64_t code_end; /* rip after them, where the interpreter takes over */
    /* the blocks that followed this one (taken and fall-through, most recent two), valid
     * while the TLB epoch is unchanged: the linear-to-physical mapping is then the same */
    struct TB *link[2] __attribute__((aligned(64)));
    uint64_t link_pc[2];
    uint64_t link_epoch[2];
    /* the block's last instruction runs on into the next page (xpage_off2, the RAM offset of
     * that page, UINT64_MAX: it does not): it runs in the block while that page is mapped for
     * execution there with the code generation xpage_gen2 (x86_xpage_holds) */
    uint64_t xpage_off2;
    uint32_t xpage_gen2;
    uint16_t xpage_pos; /* that instruction's offset in the block's first page */
} TB;
G_STATIC_ASSERT(sizeof(TB) == 128);

/* jit.c: the translator and its code cache */
typedef struct X86Jit X86Jit;
/* A translated block: runs it and returns the number of instructions retired. */
typedef uint32_t X86JitBlockFn(X86CPU *cpu);
X86Jit *x86_jit_new(GError **errp);
void x86_jit_free(X86Jit *j);
uint32_t x86_jit_epoch(const X86Jit *j);
void x86_jit_get_stats(const X86Jit *j, X86JitStats *out);
/* Host code for tb (which cpu just decoded), or NULL when its first instruction is not one
 * the translator handles; sets tb->code_len and tb->code_end. */
void *x86_jit_translate(X86CPU *cpu, X86Jit *j, TB *tb);
/* Patches the exit that made `req` (cpu->jit_link_req) to jump straight to tb's code, when tb
 * is the block that exit leaves for and its code runs with the same TLB privilege; a ret's or
 * indirect jmp/call's exit also enters tb's code in the CPU's table of such targets, which
 * x86_jit_forget_jumps empties. */
void x86_jit_link(X86CPU *cpu, X86Jit *j, const void *req, TB *tb);
void x86_jit_forget_jumps(X86CPU *cpu);
/* Counts an instruction the interpreter ran in a hot block (for `info jit`). */
void x86_jit_note_fallback(X86Jit *j, const X86Insn *in);

/* The block cache: 1 << TB_HASH_BITS blocks in sets of TB_WAYS, a set chosen by RAM offset.
 * Two ways because a direct-mapped table let two hot blocks whose offsets share a slot evict
 * each other on every call: the guest kernel's network path had a dozen such pairs, each
 * decoded and interpreted again thousands of times a second (bench/net). The pool of decoded
 * instructions is filled front to back and flushed whole when full, and a flush drops every
 * block's translation with it: at 1 << 18 instructions and 1 << 16 blocks bench/net's guest
 * refilled it every 4 s and the Debian image's boot flushed it 180 times (4 million blocks
 * decoded, 1.3 million translated); at these sizes 22 times (1.8 million, 0.8 million;
 * docs/cpu.md, docs/firmware.md). The pool's pages are touched only as it fills; the table is
 * written whole at every flush (15 MiB). */
#define TB_HASH_BITS  17
#define TB_WAYS       2
#define TB_POOL_INSNS (1u << 20)
#define TB_MAX_INSNS  64

/* An instruction across a page end, decoded once and kept while both pages' RAM offsets and
 * code generations hold: a hot one was decoded again on every run (~12 000 a second in
 * bench/net's guest). Slots by the first page's number. */
#define STRADDLE_SLOTS 64
typedef struct StraddleInsn {
    uint64_t pc; /* UINT64_MAX: empty */
    uint64_t off1, off2;
    uint32_t gen1, gen2, flags;
    X86Insn insn;
} StraddleInsn;

/* A ret or indirect branch target's code for the generated lookup (jit.c), 32 bytes. A ret
 * site that keeps returning to many call sites (a function called from everywhere) left the
 * generated code for the main loop on almost every run; a slot by pc is a few instructions.
 * A slot holds while the TLB epoch is its own, or else while pc's code TLB entry still maps
 * the page at the host address it had when entered: a CR3 write keeps the kernel's global
 * entries and an invlpg drops one page's, so only the slots into the pages dropped fail.
 * Sets of two slots: bench/net's http missed ~4 900 targets per MB (each a return to the main
 * loop and a patch of the exit) with 1024 slots direct-mapped, 2 700-3 000 with 2048, 1 600
 * with 4096; 1 900 with 1024 sets of two, ~820 with 2048 sets of two. */
#define JIT_JUMP_SET_BITS 11
#define JIT_JUMP_WAYS     2
#define JIT_JUMP_SLOTS    (JIT_JUMP_WAYS << JIT_JUMP_SET_BITS)
typedef struct JitJump {
    uint64_t pc;
    const void *entry; /* the block's chain entry */
    uint64_t epoch;    /* tlb_epoch when entered: UINT64_MAX, empty */
    uint64_t addend;   /* pc's TLB entry's addend then; UINT64_MAX: none (never an addend) */
} JitJump;

/* The set of a ret or indirect target's slots: JIT_JUMP_WAYS slots from set * JIT_JUMP_WAYS */
static inline uint32_t x86_jit_jump_set(uint64_t pc)
{
    return (uint32_t)((pc ^ (pc >> 10)) & ((1u << JIT_JUMP_SET_BITS) - 1));
}

/* What a slot's pc holds for a block of decode mode `mode`: 32-bit code's pc with bit 63 set,
 * never a 64-bit pc (not canonical), so that neither mode's exit finds the other's block. */
#define JIT_JUMP_MODE32 (1ull << 63)
static inline uint64_t x86_jit_jump_key(uint64_t pc, uint32_t mode)
{
    return mode == X86_MODE64 ? pc : pc | JIT_JUMP_MODE32;
}

/* What bumped the TLB epoch last, for `info jit`'s relinks by cause */
typedef enum X86EpochCause {
    X86_EPOCH_WHOLE, /* a whole TLB flush or a decoded-block cache flush */
    X86_EPOCH_CR3,
    X86_EPOCH_INVLPG,
    X86_EPOCH_CAUSES
} X86EpochCause;

struct X86CPU {
    X86CPUState env;
    GuestRam *ram;
    const X86BusOps *bus;
    void *opaque;

    /* derived mode (x86_update_mode) */
    int cpl;
    int mmu_user; /* index into tlb: CPL 3 */
    int code64;   /* 64-bit code segment in long mode */
    int code32;   /* default operand/address size 32 (non-64) */
    int stack32;  /* SS.B */
    int lma;
    int pe;
    uint32_t decode_flags; /* X86_MODE_* for the decoder */

    TLBEntry tlb[2][TLB_SIZE];
    TLBSide tlb_side[2][TLB_SIZE];
    uint32_t tlb_large;      /* entries from large pages: invlpg then looks for those it covers */
    uint64_t tlb_large_mask; /* while tlb_large: the mask of the largest of those pages */
    uint32_t tlb_global;     /* entries from global pages */
    /* the slots (privilege * TLB_SIZE + index) filled with non-global pages since the last
     * CR3 write or whole flush, which the next CR3 write drops; TLB_LOCAL_LOG + 1: more */
    uint32_t tlb_local_n;
    uint16_t tlb_local_log[TLB_LOCAL_LOG];

    /* exception raised inside an instruction, delivered by the exec loop */
    sigjmp_buf jmp;
    int exc_vector;
    int exc_err;  /* -1: no error code */
    int exc_soft; /* int n / int3 / into: return address after the instruction */
    uint64_t exc_next_rip;
    int nesting; /* exceptions being delivered; 3rd fault in #DF = triple */
    int first_vec;
    uint64_t cur_rip; /* start of the executing instruction */

    /* What makes translated code leave for the main loop, tested as one word at every chained
     * exit and back edge (with the budget: jit_left). tb_exit is this thread's: stop the
     * current block after this instruction. leave_async is set by whatever may give the main
     * loop something to do (an exit request, an NMI, the interrupt line raised: stored after
     * the flag itself, seq_cst); run_tb clears it before it enters host code, and sets it
     * again when one of them is still there to take. The line with IF=0 is not (the main loop
     * would find nothing to deliver): what sets IF in translated code leaves when the line is
     * up (sti, popf, a handler: jit_interp). leave_flushed is this thread's too: set by
     * every bump of tlb_epoch, cleared by run_tb before it enters host code, so that a link
     * within one page needs no epoch compare. Stores into the word's bytes are bytes. */
    union {
        uint32_t leave;
        struct {
            uint8_t tb_exit;
            uint8_t leave_async;
            uint8_t leave_flushed;
        };
    };
    /* jit.c: translated code left through an exit that asks to be chained to the block that
     * runs next (consumed by the next run_tb) */
    const void *jit_link_req;
    /* jit.c: the chain entries of blocks that ret and indirect jmp/call exits went to, by
     * TLB privilege and guest pc, which such an exit looks up inline when the one target it
     * is linked to misses; an entry holds while its epoch is tlb_epoch, or its page's TLB
     * entry is as then (JitJump) */
    JitJump jit_jump[2][JIT_JUMP_SLOTS];
    uint64_t jit_jump_hits; /* counted by the generated lookup */
    uint64_t jit_jump_tlb;  /* of them, slots of another epoch that the TLB entry kept */
    /* the block being run: its end, and the instruction running now (x86_next) */
    const X86Insn *tb_end;
    const X86Insn *cur_in;
    /* a fault's siglongjmp skips the counting at a run's end: what the exec loop then adds to
     * stats.insns for the instructions retired before the faulting one -- cur_in - run_first
     * in an interpreted run, jit_done (stored by translated code before a helper that may
     * fault) while jit_running */
    const X86Insn *run_first;
    bool jit_running;
    uint32_t jit_done;
    int exit_request; /* atomic */
    int irq_level;    /* atomic: IF_MASK when the line is up, else 0 */
    int reset_pending;

    /* decoded-code cache */
    bool cache_on;
    X86Jit *jit;        /* the translator, when on (x86_cpu_set_jit) */
    TB *tb_hash;        /* [1 << TB_HASH_BITS], TB_WAYS consecutive entries per set */
    uint8_t *tb_victim; /* per set: the way a miss replaces (the one not used last) */
    X86Insn *pool;
    uint32_t pool_used;
    X86Insn scratch[TB_MAX_INSNS];
    StraddleInsn straddle[STRADDLE_SLOTS];

    unsigned trace; /* X86_TRACE_* */
    bool warned_exec_mmio;
    bool apic_present;  /* CPUID advertises a local APIC (the machine says) */
    uint64_t tlb_epoch; /* bumped by every TLB or block-cache flush */
    TB *prev_tb;        /* the block that just ran, for chaining; NULL after any event */
    /* what bumped tlb_epoch last (`info jit`'s relinks by cause) */
    X86EpochCause epoch_cause;
    uint64_t budget_end;
    /* translated code counts retired instructions down in jit_left, from jit_left_at_entry
     * (budget_end - stats.insns when run_tb entered it), and leaves when it reaches 0; run_tb
     * adds what it counted to stats.insns */
    int64_t jit_left;
    int64_t jit_left_at_entry;
    X86CPUStats stats;
    uint64_t tsc_base_ns;
    uint8_t unimpl_logged[0x800 / 8];
    X86CPUState saved; /* vmstate_x86_cpu's copy: x86_cpu_get_state() at save, set at load */
};

/* mode.c / misc */
void x86_update_mode(X86CPU *cpu);

/*
 * Whether tb's host code may run in the CPU's present mode: 64-bit code, or 32-bit code with a
 * 32-bit stack and CS, DS, ES and SS based at 0 (the translator adds only FS and GS bases, and
 * takes the block's pc for eip). Checked before the main loop enters host code, and at
 * translation: translated code never loads a segment, so a chained exit keeps it true.
 */
static inline bool x86_jit_mode_ok(const X86CPU *cpu, const TB *tb)
{
    if (tb->flags == X86_MODE64) {
        return cpu->code64;
    }
    const X86CPUState *env = &cpu->env;
    return tb->flags == X86_MODE32 && cpu->code32 && cpu->stack32 &&
           !(env->segs[R_CS].base | env->segs[R_DS].base | env->segs[R_ES].base |
             env->segs[R_SS].base);
}

/* mmu.c */
/* The whole TLB, global entries included */
void x86_tlb_flush(X86CPU *cpu, X86TlbFlushCause why);
/* A CR3 write: every entry but the global ones */
void x86_tlb_flush_cr3(X86CPU *cpu);
/* invlpg: whatever translates la (its page's entries, and those of a large page holding it) */
void x86_tlb_flush_page(X86CPU *cpu, uint64_t la);
/* The TLB's counters, for `info jit` */
void x86_tlb_info(const X86CPUStats *cs, GString *out);
/* `info jit`'s lines on the main loop's turns (cpu.c). */
void x86_dispatch_info(const X86CPUStats *cs, GString *out);
uint64_t x86_ld_slow(X86CPU *cpu, uint64_t la, int size, int user);
void x86_st_slow(X86CPU *cpu, uint64_t la, uint64_t val, int size, int user);
/* host pointer to a code byte, filling the code TLB; raises #PF */
uint8_t *x86_code_ptr(X86CPU *cpu, uint64_t la, uint64_t *ram_off);
/* As x86_code_ptr, without a fault, a page walk's accessed bits or a TLB fill: NULL when la is
 * not mapped for execution in RAM now (for decoding ahead what may never run). */
uint8_t *x86_code_probe(X86CPU *cpu, uint64_t la, uint64_t *ram_off);
/* host pointer for a read-modify-write of `size` bytes that stays in one RAM page, or NULL */
void *x86_rmw_ptr(X86CPU *cpu, uint64_t la, int size);
void x86_note_store_slow(X86CPU *cpu, uint64_t pi);

/* excp.c */
G_NORETURN void x86_raise(X86CPU *cpu, int vector, int err);
G_NORETURN void x86_raise_soft(X86CPU *cpu, int vector, uint64_t next_rip);
G_NORETURN void x86_raise_ud(X86CPU *cpu);
void x86_deliver_pending(X86CPU *cpu);
void x86_do_interrupt(X86CPU *cpu, int vector, int is_soft, int err, uint64_t next_rip, int is_hw);

static inline void x86_note_store(X86CPU *cpu, void *host)
{
    uint64_t pi = (uint64_t)((uint8_t *)host - cpu->ram->host) >> GUEST_PAGE_BITS;
    if (guest_ram_store_needs_mark(cpu->ram, pi)) {
        x86_note_store_slow(cpu, pi);
    }
}

static inline TLBEntry *x86_tlbe(X86CPU *cpu, uint64_t la, int user)
{
    return &cpu->tlb[user][(la >> GUEST_PAGE_BITS) & (TLB_SIZE - 1)];
}

static inline uint64_t x86_ld_user(X86CPU *cpu, uint64_t la, int size, int user)
{
    TLBEntry *e = x86_tlbe(cpu, la, user);
    if (likely(e->read == (la & GUEST_PAGE_MASK) &&
               (la & (GUEST_PAGE_SIZE - 1)) <= GUEST_PAGE_SIZE - size)) {
        const void *p = (const void *)(e->addend + la);
        switch (size) {
        case 1:
            return *(const uint8_t *)p;
        case 2: {
            uint16_t v;
            memcpy(&v, p, 2);
            return v;
        }
        case 4: {
            uint32_t v;
            memcpy(&v, p, 4);
            return v;
        }
        default: {
            uint64_t v;
            memcpy(&v, p, 8);
            return v;
        }
        }
    }
    return x86_ld_slow(cpu, la, size, user);
}

static inline void x86_st_user(X86CPU *cpu, uint64_t la, uint64_t v, int size, int user)
{
    TLBEntry *e = x86_tlbe(cpu, la, user);
    if (likely(e->write == (la & GUEST_PAGE_MASK) &&
               (la & (GUEST_PAGE_SIZE - 1)) <= GUEST_PAGE_SIZE - size)) {
        void *p = (void *)(e->addend + la);
        switch (size) {
        case 1:
            *(uint8_t *)p = v;
            break;
        case 2: {
            uint16_t t = v;
            memcpy(p, &t, 2);
            break;
        }
        case 4: {
            uint32_t t = v;
            memcpy(p, &t, 4);
            break;
        }
        default:
            memcpy(p, &v, 8);
            break;
        }
        x86_note_store(cpu, p);
        return;
    }
    x86_st_slow(cpu, la, v, size, user);
}

static inline uint64_t x86_ld(X86CPU *cpu, uint64_t la, int size)
{
    return x86_ld_user(cpu, la, size, cpu->mmu_user);
}

static inline void x86_st(X86CPU *cpu, uint64_t la, uint64_t v, int size)
{
    x86_st_user(cpu, la, v, size, cpu->mmu_user);
}

/* Supervisor-privilege accesses to system structures (GDT, IDT, TSS). */
static inline uint64_t x86_lds(X86CPU *cpu, uint64_t la, int size)
{
    return x86_ld_user(cpu, la, size, 0);
}

static inline void x86_sts(X86CPU *cpu, uint64_t la, uint64_t v, int size)
{
    x86_st_user(cpu, la, v, size, 0);
}

/* flags.c */
uint32_t x86_compute_eflags(X86CPU *cpu); /* arithmetic flags only */
uint32_t x86_compute_cf(X86CPU *cpu);
/* Full eflags with the lazy flags folded in, and the reverse. */
uint64_t x86_get_eflags(X86CPU *cpu);
void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask);
bool x86_cond_slow(X86CPU *cpu, int cc);

static inline uint64_t size_mask(int size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t sign_bit(int size)
{
    return 1ull << (size * 8 - 1);
}

static inline int64_t sext(uint64_t v, int size)
{
    switch (size) {
    case 1:
        return (int8_t)v;
    case 2:
        return (int16_t)v;
    case 4:
        return (int32_t)v;
    default:
        return (int64_t)v;
    }
}

/* Condition codes 0-15 (jcc/setcc/cmovcc); the compare and logic cases inline. */
static inline bool x86_cond(X86CPU *cpu, int cc)
{
    X86CPUState *env = &cpu->env;
    if (likely(env->cc_op == CC_OP_SUB)) {
        int sz = env->cc_size;
        uint64_t m = size_mask(sz);
        uint64_t a = env->cc_src1 & m, b = env->cc_src2 & m;
        bool r;
        switch (cc >> 1) {
        case 1:
            r = a < b;
            break;
        case 2:
            r = a == b;
            break;
        case 3:
            r = a <= b;
            break;
        case 6:
            r = sext(a, sz) < sext(b, sz);
            break;
        case 7:
            r = sext(a, sz) <= sext(b, sz);
            break;
        default:
            return x86_cond_slow(cpu, cc);
        }
        return (cc & 1) ? !r : r;
    }
    if (env->cc_op == CC_OP_LOGIC && ((cc >> 1) == 2)) {
        bool r = (env->cc_res & size_mask(env->cc_size)) == 0;
        return (cc & 1) ? !r : r;
    }
    return x86_cond_slow(cpu, cc);
}

/*
 * Threaded dispatch: a handler that never branches ends by starting the next instruction of
 * the block itself (a tail call, so each handler's indirect jump learns its own successors)
 * instead of returning to the loop. It stops at the block's end or a tb_exit; cur_in then
 * tells run_insns how far the chain got. A handler that returns early simply ends the chain.
 */
static inline __attribute__((always_inline)) void x86_next(X86CPU *cpu, const X86Insn *in)
{
    const X86Insn *n = in + 1;
    if (unlikely(n == cpu->tb_end || cpu->tb_exit)) {
        return;
    }
    uint64_t rip = cpu->env.rip;
    cpu->cur_rip = rip;
    cpu->env.rip = rip + n->len;
    cpu->cur_in = n;
    n->fn(cpu, n);
}

/* x86_cond for a condition known when the handler is compiled (one handler per condition):
 * the switch folds away, leaving no jump table, and Z/S read the result of any operation. */
static inline __attribute__((always_inline)) bool x86_cond_k(X86CPU *cpu, const int cc)
{
    X86CPUState *env = &cpu->env;
    const int k = cc >> 1;
    int op = env->cc_op;
    int sz = env->cc_size;
    bool r;
    if (k == 2 || k == 4) {
        if (unlikely(op == CC_OP_EFLAGS)) {
            return x86_cond_slow(cpu, cc);
        }
        r = k == 2 ? (env->cc_res & size_mask(sz)) == 0 : (env->cc_res & sign_bit(sz)) != 0;
    } else if (op == CC_OP_SUB && k != 0 && k != 5) {
        uint64_t m = size_mask(sz);
        uint64_t a = env->cc_src1 & m, b = env->cc_src2 & m;
        if (k == 1) {
            r = a < b;
        } else if (k == 3) {
            r = a <= b;
        } else if (k == 6) {
            r = sext(a, sz) < sext(b, sz);
        } else {
            r = sext(a, sz) <= sext(b, sz);
        }
    } else if (op == CC_OP_LOGIC && k != 5) {
        uint64_t v = env->cc_res & size_mask(sz);
        if (k <= 1) {
            r = false; /* o, b */
        } else if (k == 3) {
            r = v == 0; /* be */
        } else if (k == 6) {
            r = (v & sign_bit(sz)) != 0; /* l: SF != OF(0) */
        } else {
            r = v == 0 || (v & sign_bit(sz)); /* le */
        }
    } else {
        return x86_cond_slow(cpu, cc);
    }
    return (cc & 1) ? !r : r;
}

/* The linear address of an instruction's memory operand (inline: every memory access of the
 * fast handlers starts here). */
static inline uint64_t x86_ea(X86CPU *cpu, const X86Insn *in)
{
    X86CPUState *env = &cpu->env;
    uint64_t ea = (int64_t)in->disp;
    if (in->base < 16) {
        ea += env->regs[in->base];
    } else if (in->base == X86_RIP) {
        ea += env->rip;
    }
    if (in->index < 16) {
        ea += env->regs[in->index] << in->scale;
    }
    if (unlikely(in->addrsize != 8)) {
        ea = in->addrsize == 4 ? (uint32_t)ea : ea & 0xffff;
    }
    if (in->seg != X86_SEG_NONE) {
        ea += env->segs[in->seg].base;
        if (!cpu->code64) {
            ea = (uint32_t)ea;
        }
    }
    return ea;
}

/* seg.c: segment loads, descriptor tables, far transfers */
void x86_load_seg(X86CPU *cpu, int seg, uint16_t sel);
void x86_load_seg_real(X86CPU *cpu, int seg, uint16_t sel);
void x86_set_seg_cache(X86CPU *cpu, int seg, uint16_t sel, uint64_t base, uint32_t limit,
                       uint32_t flags);
void x86_far_jmp(X86CPU *cpu, uint16_t sel, uint64_t off, uint64_t next_rip);
void x86_far_call(X86CPU *cpu, uint16_t sel, uint64_t off, int opsize, uint64_t next_rip);
void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_extra);
void x86_iret(X86CPU *cpu, int opsize);
void x86_lldt(X86CPU *cpu, uint16_t sel);
void x86_ltr(X86CPU *cpu, uint16_t sel);
void x86_syscall(X86CPU *cpu, uint64_t next_rip);
void x86_sysret(X86CPU *cpu, int opsize);
void x86_sysenter(X86CPU *cpu);
void x86_sysexit(X86CPU *cpu, int opsize);
bool x86_read_desc(X86CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi);

/* sys.c: control registers, MSRs, cpuid, tsc */
void x86_write_cr(X86CPU *cpu, int cr, uint64_t val);
uint64_t x86_read_cr(X86CPU *cpu, int cr);
bool x86_rdmsr(X86CPU *cpu, uint32_t msr, uint64_t *val);
bool x86_wrmsr(X86CPU *cpu, uint32_t msr, uint64_t val);
void x86_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);
uint64_t x86_rdtsc(X86CPU *cpu);
/* The TSC's time base (X86BusOps.clock_ns), in ns. */
uint64_t x86_clock_ns(X86CPU *cpu);

/* fpu.c */
void x86_fpu_reset(X86CPU *cpu);
void x86_exec_x87(X86CPU *cpu, const X86Insn *in);
void x86_exec_sse(X86CPU *cpu, const X86Insn *in);
/* sse.c: integer lane arithmetic on n bytes of a vector (16: xmm, 8: mm), shared with mmx.c */
bool x86_simd_int(X86Xmm *d, const X86Xmm *s, int op, int n);
void x86_simd_shift_imm(X86CPU *cpu, X86Xmm *d, int n, const X86Insn *in, int op);
uint32_t x86_simd_byte_signs(const X86Xmm *v, int n);
/* mmx.c: false when the opcode has no MMX form */
bool x86_exec_mmx(X86CPU *cpu, const X86Insn *in);
/* mmx.c: mm i, and the x87 state every MMX access leaves (TOP 0, all tags valid) */
uint64_t x86_mm_get(X86CPU *cpu, int i);
void x86_mm_set(X86CPU *cpu, int i, uint64_t v);
void x86_mm_enter(X86CPU *cpu);
void x86_fxsave(X86CPU *cpu, uint64_t la, bool rex_w);
void x86_fxrstor(X86CPU *cpu, uint64_t la, bool rex_w);

/* exec.c */
void x86_exec_insn(X86CPU *cpu, const X86Insn *in);
/* Sets in->fn: a specialised fast handler for common forms, else the x86_optab row's handler. */
void x86_select_handler(X86Insn *in);
void x86_unimplemented(X86CPU *cpu, const X86Insn *in);

#endif
