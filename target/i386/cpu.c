/*
 * CPU object, power-on state, state save/load, and the execution loop over cached decoded
 * blocks.
 *
 *   loop:  exit request? ─► return
 *          NMI / IRQ (IF=1, no shadow) ─► deliver through the IDT
 *          halted? ─► return X86_EXIT_HALTED
 *          pc = CS.base + rip ─► code TLB ─► RAM offset ─► TB hash
 *               miss or stale (page code generation changed) ─► decode up to 64 insns
 *          run the block; leave it early on a taken branch, a fault, or tb_exit
 *               (self-modifying store, mode change, sti, I/O)
 */
#include "target/i386/cpu-internal.h"
#include "util/huge-alloc.h"

#include <stdio.h>

#define ENV (&cpu->env)

static void tb_flush(X86CPU *cpu)
{
    for (uint32_t i = 0; i < (1u << TB_HASH_BITS); i++) {
        cpu->tb_hash[i].ram_off = UINT64_MAX;
        cpu->tb_hash[i].pc = UINT64_MAX;
    }
    for (uint32_t i = 0; i < STRADDLE_SLOTS; i++) {
        cpu->straddle[i].pc = UINT64_MAX;
    }
    cpu->tlb_epoch++;
    cpu->epoch_cause = X86_EPOCH_WHOLE;
    cpu->leave_flushed = 1;
    cpu->prev_tb = NULL;
    cpu->pool_used = 0;
    cpu->stats.tb_flushes++;
}

X86CPU *x86_cpu_new(GuestRam *ram, const X86BusOps *bus, void *opaque)
{
    X86CPU *cpu = g_new0(X86CPU, 1);
    cpu->ram = ram;
    cpu->bus = bus;
    cpu->opaque = opaque;
    cpu->cache_on = true;
    /* the two big tables on huge pages: first written at the flush below and as blocks are
     * decoded, they faulted 4 KiB at a time (~11 000 faults in the test guest's boot) */
    cpu->tb_hash = huge_alloc0(sizeof(TB) << TB_HASH_BITS);
    cpu->tb_victim = g_new0(uint8_t, (1u << TB_HASH_BITS) / TB_WAYS);
    cpu->pool = huge_alloc0(sizeof(X86Insn) * TB_POOL_INSNS);
    tb_flush(cpu);
    cpu->stats.tb_flushes = 0;
    cpu->tsc_base_ns = x86_clock_ns(cpu);
    x86_cpu_reset(cpu);
    return cpu;
}

void x86_cpu_free(X86CPU *cpu)
{
    if (!cpu) {
        return;
    }
    huge_free(cpu->tb_hash, sizeof(TB) << TB_HASH_BITS);
    g_free(cpu->tb_victim);
    huge_free(cpu->pool, sizeof(X86Insn) * TB_POOL_INSNS);
    x86_jit_free(cpu->jit);
    g_free(cpu);
}

bool x86_cpu_set_jit(X86CPU *cpu, bool on, GError **errp)
{
    if (on && !cpu->jit) {
        cpu->jit = x86_jit_new(errp);
        if (!cpu->jit) {
            return false;
        }
        x86_jit_forget_jumps(cpu); /* none of a translator before, nor zeros read as entries */
    } else if (!on && cpu->jit) {
        x86_jit_free(cpu->jit);
        cpu->jit = NULL;
    }
    tb_flush(cpu);
    return true;
}

bool x86_cpu_jit_enabled(const X86CPU *cpu)
{
    return cpu->jit != NULL;
}

bool x86_cpu_get_jit_stats(const X86CPU *cpu, X86JitStats *out)
{
    memset(out, 0, sizeof(*out));
    if (!cpu->jit) {
        return false;
    }
    x86_jit_get_stats(cpu->jit, out);
    out->jump_hits = cpu->jit_jump_hits;
    out->jump_tlb = cpu->jit_jump_tlb;
    return true;
}

void x86_cpu_set_apic_present(X86CPU *cpu, bool on)
{
    cpu->apic_present = on;
}

void x86_cpu_set_trace(X86CPU *cpu, unsigned mask)
{
    cpu->trace = mask;
}

void x86_cpu_reset(X86CPU *cpu)
{
    X86CPUState *env = ENV;
    memset(env, 0, sizeof(*env));
    env->eflags = 2;
    env->cc_op = CC_OP_EFLAGS;
    env->cr0 = CR0_ET | CR0_NE | (1u << 30) | (1u << 29); /* CD NW as at power-on */
    env->rip = 0xfff0;
    uint32_t data = DESC_P | DESC_S | DESC_RW | DESC_A;
    for (int s = R_ES; s <= R_GS; s++) {
        env->segs[s].limit = 0xffff;
        env->segs[s].flags = data;
    }
    env->segs[R_CS].selector = 0xf000;
    env->segs[R_CS].base = 0xffff0000;
    env->segs[R_CS].flags = data | DESC_CODE;
    env->segs[R_LDTR].limit = 0xffff;
    env->segs[R_LDTR].flags = DESC_P | (2u << 8);
    env->segs[R_TR].limit = 0xffff;
    env->segs[R_TR].flags = DESC_P | (11u << 8);
    env->gdt.limit = 0xffff;
    env->idt.limit = 0xffff;
    env->regs[R_EDX] = 0x00060fb1;
    env->dr[6] = 0xffff0ff0;
    env->dr[7] = 0x400;
    env->pat = 0x0007040600070406ull;
    env->apic_base = 0xfee00000ull | (1u << 8) | (1u << 11);
    env->misc_enable = 1;
    env->mxcsr = 0x1f80;
    x86_fpu_reset(cpu);
    cpu->nesting = 0;
    cpu->reset_pending = 0;
    x86_tlb_flush(cpu, X86_TLB_FLUSH_STATE);
    x86_update_mode(cpu);
}

X86CPUState *x86_cpu_env(X86CPU *cpu)
{
    return ENV;
}

void x86_cpu_state_changed(X86CPU *cpu)
{
    x86_tlb_flush(cpu, X86_TLB_FLUSH_STATE);
    x86_update_mode(cpu);
}

void x86_cpu_get_state(X86CPU *cpu, X86CPUState *out)
{
    ENV->eflags = x86_get_eflags(cpu);
    ENV->cc_op = CC_OP_EFLAGS;
    ENV->cc_size = 0;
    ENV->cc_res = ENV->cc_src1 = ENV->cc_src2 = ENV->cc_carry = 0;
    *out = *ENV;
    /* in the saved form tsc_offset is the guest TSC itself, so it continues after a load */
    out->tsc_offset = x86_rdtsc(cpu);
}

void x86_cpu_set_state(X86CPU *cpu, const X86CPUState *in)
{
    *ENV = *in;
    cpu->tsc_base_ns = x86_clock_ns(cpu);
    ENV->cc_op = CC_OP_EFLAGS;
    /* The TLB flush's new epoch unlinks every block; the decoded blocks themselves stay, as
     * they are keyed by RAM offset, pc, mode and their page's code generation, and a load
     * writes RAM through the store path. A COLO secondary loads a state at every checkpoint:
     * flushing here threw all its translated code away each time. */
    x86_cpu_state_changed(cpu);
    cpu->prev_tb = NULL;
    cpu->jit_link_req = NULL; /* made for the state before */
}

/* after the flag: run_tb clears the word, then reads the flags */
static void leave_soon(X86CPU *cpu)
{
    __atomic_store_n(&cpu->leave_async, 1, __ATOMIC_SEQ_CST);
}

void x86_cpu_exit_request(X86CPU *cpu)
{
    __atomic_store_n(&cpu->exit_request, 1, __ATOMIC_SEQ_CST);
    leave_soon(cpu);
}

void x86_cpu_set_irq(X86CPU *cpu, bool level)
{
    /* IF_MASK, not 1: the checks in C and in translated code and it with eflags */
    __atomic_store_n(&cpu->irq_level, level ? IF_MASK : 0, __ATOMIC_SEQ_CST);
    if (level) { /* every raise, not only a change: one the main loop could not ack yet */
        leave_soon(cpu);
    }
}

void x86_cpu_inject_nmi(X86CPU *cpu)
{
    __atomic_store_n(&ENV->nmi_pending, 1, __ATOMIC_SEQ_CST);
    leave_soon(cpu);
}

bool x86_cpu_wakeup_pending(X86CPU *cpu)
{
    return __atomic_load_n(&ENV->nmi_pending, __ATOMIC_SEQ_CST) ||
           (__atomic_load_n(&cpu->irq_level, __ATOMIC_SEQ_CST) && (ENV->eflags & IF_MASK));
}

uint64_t x86_cpu_icount(const X86CPU *cpu)
{
    return cpu->stats.insns;
}

void x86_cpu_get_stats(const X86CPU *cpu, X86CPUStats *out)
{
    *out = cpu->stats;
}

void x86_cpu_set_cache_enabled(X86CPU *cpu, bool on)
{
    cpu->cache_on = on;
    tb_flush(cpu);
}

#define TB_SET_BITS (TB_HASH_BITS - 1) /* log2 of the sets */
G_STATIC_ASSERT(TB_WAYS == 2);         /* tb_victim flips between two ways */

static uint32_t tb_set_of(uint64_t off)
{
    return (uint32_t)((off ^ (off >> TB_SET_BITS)) & ((1u << TB_SET_BITS) - 1));
}

static bool tb_matches(const X86CPU *cpu, const TB *tb, uint64_t pc, uint64_t off)
{
    return tb->ram_off == off && tb->pc == pc && tb->flags == cpu->decode_flags &&
           tb->gen == guest_ram_code_gen(cpu->ram, off);
}

/* The cached block for pc (RAM offset off), or the entry a new one is to be decoded into. */
static TB *tb_lookup(X86CPU *cpu, uint64_t pc, uint64_t off, bool *hit)
{
    uint32_t set = tb_set_of(off);
    TB *ways = &cpu->tb_hash[set * TB_WAYS];
    for (uint32_t w = 0; w < TB_WAYS; w++) {
        if (tb_matches(cpu, &ways[w], pc, off)) {
            cpu->tb_victim[set] = w ^ 1;
            *hit = true;
            return &ways[w];
        }
    }
    /* A stale copy of this very block is replaced in place, not kept beside the new one. */
    uint32_t w = ways[1].ram_off == off ? 1 : ways[0].ram_off == off ? 0 : cpu->tb_victim[set];
    cpu->tb_victim[set] = w ^ 1;
    *hit = false;
    return &ways[w];
}

/* Whether decoding stops after this instruction: control never falls through. */
static bool ends_block(const X86Insn *in)
{
    if (in->bad) {
        return true;
    }
    switch (in->op) {
    case 0xc2:
    case 0xc3:
    case 0xca:
    case 0xcb:
    case 0xcc:
    case 0xcd:
    case 0xcf:
    case 0xe9:
    case 0xea:
    case 0xeb:
    case 0xe8:
    case 0xf4:
    case 0x9a:
    case 0x105:
    case 0x107:
    case 0x10b:
        return true;
    case 0xff:
        return (in->reg & 7) >= 2 && (in->reg & 7) <= 5;
    }
    return false;
}

/* Whether an instruction sets every arithmetic flag without reading any, and cannot fault
 * (register operands only): the flags of the instruction before it are then dead. */
static bool kills_flags(const X86Insn *in)
{
    int op = in->op, r = in->reg & 7;
    if (in->bad) {
        return false;
    }
    if (op < 0x40) {
        int form = op & 7, aop = op >> 3;
        if (form >= 6 || aop == 2 || aop == 3) {
            return false;
        }
        return form >= 4 || in->mod == 3; /* 4, 5: accumulator and immediate */
    }
    switch (op) {
    case 0xa8:
    case 0xa9:
        return true;
    case 0x80:
    case 0x81:
    case 0x83:
        return in->mod == 3 && r != 2 && r != 3;
    case 0x84:
    case 0x85:
        return in->mod == 3;
    case 0xf6:
    case 0xf7:
        return in->mod == 3 && (r == 0 || r == 1 || r == 3);
    case 0xd0:
    case 0xd1:
        return in->mod == 3 && r >= 4;
    case 0xc0:
    case 0xc1:
        return in->mod == 3 && r >= 4 &&
               (in->imm & ((op == 0xc1 && in->opsize == 8) ? 63 : 31)) != 0;
    }
    return false;
}

/* The RAM offset of the page after pc's (a fault there is the instruction's), and its pc. */
static uint8_t *next_page_code(X86CPU *cpu, uint64_t pc, int n1, uint64_t *off2)
{
    uint64_t pc2 = cpu->code64 ? pc + n1 : (uint32_t)(pc + n1);
    uint8_t *p2 = x86_code_ptr(cpu, pc2, off2);
    if (!p2) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    return p2;
}

/*
 * Decodes the instruction at pc when it does not decode within its page into *in; off2 is
 * set to the RAM offset of the second page's start when the instruction reaches into it, else
 * UINT64_MAX.
 */
static void decode_straddling_into(X86CPU *cpu, uint64_t pc, uint8_t *p, X86Insn *in,
                                   uint64_t *off2)
{
    uint8_t buf[16];
    int n1 = GUEST_PAGE_SIZE - (pc & (GUEST_PAGE_SIZE - 1));
    if (n1 > 15) {
        n1 = 15;
    }
    memcpy(buf, p, n1);
    *off2 = UINT64_MAX;
    int len = x86_decode(buf, n1, cpu->decode_flags, in);
    if (len == 0) {
        memcpy(buf + n1, next_page_code(cpu, pc, n1, off2), 15 - n1);
        len = x86_decode(buf, 15, cpu->decode_flags, in);
    }
    if (len <= 0) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    x86_select_handler(in);
}

/* Decodes the instruction at pc when it straddles a page (uncached: the cache is off). */
static X86Insn *decode_straddling(X86CPU *cpu, uint64_t pc, uint8_t *p)
{
    uint64_t off2;
    decode_straddling_into(cpu, pc, p, &cpu->scratch[0], &off2);
    return &cpu->scratch[0];
}

/*
 * The instruction at pc (RAM offset off) that does not decode within its page, from its slot
 * when neither page changed. The first page is checked before the second is looked up: with
 * other bytes there, the instruction might not reach the second page, nor fault on it.
 */
static X86Insn *straddling_insn(X86CPU *cpu, uint64_t pc, uint8_t *p, uint64_t off)
{
    StraddleInsn *s = &cpu->straddle[(pc >> GUEST_PAGE_BITS) & (STRADDLE_SLOTS - 1)];
    if (s->pc == pc && s->flags == cpu->decode_flags && s->off1 == off &&
        s->gen1 == guest_ram_code_gen(cpu->ram, off)) {
        uint64_t off2;
        int n1 = GUEST_PAGE_SIZE - (pc & (GUEST_PAGE_SIZE - 1));
        next_page_code(cpu, pc, n1, &off2);
        if (s->off2 == off2 && s->gen2 == guest_ram_code_gen(cpu->ram, off2)) {
            return &s->insn;
        }
    }
    uint64_t off2;
    s->pc = UINT64_MAX; /* a fault in the decoding leaves the slot empty */
    decode_straddling_into(cpu, pc, p, &s->insn, &off2);
    cpu->stats.tb_translations++;
    if (off2 == UINT64_MAX) {
        return &s->insn; /* too long within its page: #GP raised above, or an oddity kept out */
    }
    /* stores into either page now bump its generation, as for a cached block */
    guest_ram_mark_code(cpu->ram, off);
    guest_ram_mark_code(cpu->ram, off2);
    s->pc = pc;
    s->flags = cpu->decode_flags;
    s->off1 = off;
    s->off2 = off2;
    s->gen1 = guest_ram_code_gen(cpu->ram, off);
    s->gen2 = guest_ram_code_gen(cpu->ram, off2);
    return &s->insn;
}

/*
 * Decodes into *in the instruction at pc whose first n1 bytes (p) end their page, when the
 * next page is mapped for execution in RAM now (nothing is faulted, walked for good or filled:
 * the instruction may never run). Returns that page's RAM offset, or UINT64_MAX: not decoded.
 */
static uint64_t decode_across(X86CPU *cpu, uint64_t pc, const uint8_t *p, int n1, X86Insn *in)
{
    uint8_t buf[15];
    uint64_t off2;
    const uint8_t *p2 = x86_code_probe(cpu, cpu->code64 ? pc + n1 : (uint32_t)(pc + n1), &off2);
    if (!p2) {
        return UINT64_MAX;
    }
    memcpy(buf, p, n1);
    memcpy(buf + n1, p2, sizeof(buf) - n1);
    return x86_decode(buf, sizeof(buf), cpu->decode_flags, in) > n1 ? off2 : UINT64_MAX;
}

/* Translate a block starting at pc (host pointer p, RAM offset off). */
static TB *translate(X86CPU *cpu, TB *tb, uint64_t pc, uint8_t *p, uint64_t off)
{
    if (cpu->pool_used + TB_MAX_INSNS > TB_POOL_INSNS) {
        tb_flush(cpu);
    }
    guest_ram_mark_code(cpu->ram, off);
    uint32_t gen = guest_ram_code_gen(cpu->ram, off);
    X86Insn *insns = &cpu->pool[cpu->pool_used];
    uint32_t n = 0;
    uint32_t pos = off & (GUEST_PAGE_SIZE - 1);
    uint64_t off2 = UINT64_MAX;
    while (n < TB_MAX_INSNS) {
        int avail = GUEST_PAGE_SIZE - pos;
        int len = x86_decode(p, avail, cpu->decode_flags, &insns[n]);
        if (len <= 0) {
            /* Across the page end: the block ends with it when the next page maps now (then
             * it runs in the block while that page is as decoded, run_xpage); else, or too
             * long, it runs on its own from a slot (straddling_insn). */
            if (len == 0 && avail < 15) {
                uint64_t ipc = pc + (pos - (off & (GUEST_PAGE_SIZE - 1)));
                off2 = decode_across(cpu, cpu->code64 ? ipc : (uint32_t)ipc, p, avail, &insns[n]);
                n += off2 != UINT64_MAX;
            }
            break;
        }
        n++;
        p += len;
        pos += len;
        if (ends_block(&insns[n - 1]) || pos >= GUEST_PAGE_SIZE) {
            break;
        }
    }
    if (n == 0) {
        return NULL;
    }
    tb->xpage_off2 = off2;
    if (off2 != UINT64_MAX) {
        guest_ram_mark_code(cpu->ram, off2); /* a store into it ends the block there */
        tb->xpage_gen2 = guest_ram_code_gen(cpu->ram, off2);
        tb->xpage_pos = pos;
    }
    /* An instruction across the page end may not run as decoded (run_xpage): the flags before
     * it are seen by a fetch fault, or by what the next page holds then. */
    uint32_t killers = n - (off2 != UINT64_MAX);
    for (uint32_t i = 0; i < n; i++) {
        insns[i].flags_dead = i + 1 < killers && kills_flags(&insns[i + 1]);
        x86_select_handler(&insns[i]);
    }
    tb->pc = pc;
    tb->ram_off = off;
    tb->link_pc[0] = tb->link_pc[1] = UINT64_MAX;
    tb->flags = cpu->decode_flags;
    tb->gen = gen;
    tb->first = cpu->pool_used;
    tb->count = n;
    tb->code = NULL;
    tb->code_epoch = 0;
    tb->runs = 0;
    cpu->pool_used += n;
    cpu->stats.tb_translations++;
    return tb;
}

/* Runs n decoded instructions in order, leaving early on a taken branch or tb_exit. */
static inline void run_insns(X86CPU *cpu, const X86Insn *insns, uint32_t n)
{
    X86CPUState *env = ENV;
    const X86Insn *in = insns, *end = insns + n;
    uint64_t rip = env->rip;
    cpu->tb_end = end;
    cpu->run_first = insns;
    do {
        cpu->cur_rip = rip;
        env->rip = rip + in->len;
        cpu->cur_in = in;
        in->fn(cpu, in); /* may run on through the block (x86_next) */
        in = cpu->cur_in;
        uint64_t next = cpu->cur_rip + in->len;
        rip = env->rip;
        in++;
        if (unlikely((rip != next) | cpu->tb_exit)) {
            break;
        }
    } while (in < end);
    cpu->run_first = NULL;
    cpu->stats.insns += in - insns;
}

/* The linear address of the next instruction */
static inline uint64_t cur_pc(X86CPU *cpu)
{
    uint64_t pc = ENV->segs[R_CS].base + ENV->rip;
    return cpu->code64 ? pc : (uint32_t)pc;
}

/*
 * Runs in, tb's last instruction, which runs on into the next page, when the block reached it:
 * as decoded while that page's code TLB entry maps it to the RAM it was decoded from and its
 * code there is unchanged (a store into it from this block ended the block, as a page marked
 * as code). Else it runs from its slot, which walks the page (a fetch fault is raised there,
 * after the last retired instruction) and decodes it again if it changed; a block whose next
 * page changed or maps elsewhere is decoded again at its next lookup.
 */
static void run_xpage(X86CPU *cpu, TB *tb, const X86Insn *in)
{
    uint64_t pc = cur_pc(cpu);
    if (cpu->tb_exit || pc != (tb->pc & GUEST_PAGE_MASK) + tb->xpage_pos) {
        return; /* left the block before it */
    }
    uint64_t pc2 = (pc | (GUEST_PAGE_SIZE - 1)) + 1;
    pc2 = cpu->code64 ? pc2 : (uint32_t)pc2;
    TLBEntry *ce = x86_tlbe(cpu, pc2, cpu->mmu_user);
    bool mapped = ce->code == pc2;
    bool same = (uint8_t *)(ce->addend + pc2) == cpu->ram->host + tb->xpage_off2 &&
                tb->xpage_gen2 == guest_ram_code_gen(cpu->ram, tb->xpage_off2);
    if (likely(mapped && same)) {
        cpu->stats.xpage_runs++;
        run_insns(cpu, in, 1);
        return;
    }
    cpu->stats.xpage_slow++;
    if (mapped || tb->xpage_gen2 != guest_ram_code_gen(cpu->ram, tb->xpage_off2)) {
        tb->gen = ~guest_ram_code_gen(cpu->ram, tb->ram_off);
    }
    cpu->cur_rip = ENV->rip; /* a fault's rip: threaded handlers leave it behind */
    uint64_t off;
    uint8_t *p = x86_code_ptr(cpu, pc, &off);
    if (!p) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    run_insns(cpu, straddling_insn(cpu, pc, p, off), 1);
}

/* Interprets tb from its instruction i on. */
static void run_from(X86CPU *cpu, TB *tb, const X86Insn *insns, uint32_t i)
{
    uint32_t end = tb->count - (tb->xpage_off2 != UINT64_MAX);
    if (i < end) {
        run_insns(cpu, insns + i, end - i);
    }
    if (end < tb->count) {
        run_xpage(cpu, tb, &insns[end]);
    }
}

/* A block runs interpreted this many times before it is translated: code that runs once
 * (most of a boot) is not worth compiling. Each interpreted run costs two turns of the main
 * loop (no translated exit links to or from it): at 16, bench/net's http still ran ~1 300
 * blocks a MB cold after 4 MiB, 1 460 of its 3 800 turns; at 8, 440 and 620 of 2 740, for 13%
 * more blocks translated in the test guest's boot and 39% more in the Debian image's (at 4,
 * 2x: its code cache flushed 11 times against 5; docs/cpu.md, session 14). */
#define JIT_HOT_RUNS 8

/* The block's host code, translating it once it is hot; NULL: interpret it. */
static X86JitBlockFn *jit_code(X86CPU *cpu, TB *tb)
{
    if (tb->code_epoch != x86_jit_epoch(cpu->jit)) {
        if (tb->runs < JIT_HOT_RUNS) {
            tb->runs++;
            cpu->stats.interp[X86_INTERP_COLD]++;
            return NULL;
        }
        tb->code = x86_jit_translate(cpu, cpu->jit, tb);
        tb->code_epoch = x86_jit_epoch(cpu->jit); /* after a flush the translation made */
        tb->code_user = cpu->mmu_user;
    }
    if (unlikely(!tb->code)) {
        cpu->stats.interp[X86_INTERP_REFUSED]++;
    } else if (unlikely(tb->code_user != cpu->mmu_user)) {
        cpu->stats.interp[X86_INTERP_PRIV]++;
    } else if (unlikely(!x86_jit_mode_ok(cpu, tb))) {
        cpu->stats.interp[X86_INTERP_MODE]++;
    } else {
        return tb->code;
    }
    return NULL;
}

/* Before host code runs: what it counts down (the budget left) and leaves on (leave_async
 * cleared unless the main loop still has something to take). */
static void jit_enter(X86CPU *cpu)
{
    uint64_t left = cpu->stats.insns < cpu->budget_end ? cpu->budget_end - cpu->stats.insns : 0;
    cpu->jit_left = left > INT64_MAX ? INT64_MAX : (int64_t)left;
    cpu->jit_left_at_entry = cpu->jit_left;
    cpu->leave_flushed = 0; /* the code's links within a page hold from here */
    if (unlikely(__atomic_load_n(&cpu->leave_async, __ATOMIC_RELAXED))) {
        __atomic_store_n(&cpu->leave_async, 0, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&cpu->exit_request, __ATOMIC_SEQ_CST) ||
            __atomic_load_n(&ENV->nmi_pending, __ATOMIC_SEQ_CST) ||
            (__atomic_load_n(&cpu->irq_level, __ATOMIC_SEQ_CST) & ENV->eflags)) {
            __atomic_store_n(&cpu->leave_async, 1, __ATOMIC_RELAXED);
        }
    }
    cpu->jit_running = true;
}

/*
 * Runs a block, and again as long as it jumps back to its own start (a loop within one block)
 * with nothing for the main loop to look at: no exit request, interrupt line, NMI, interrupt
 * shadow, halt, budget end, TLB flush or code change. Any of those goes round the main loop.
 */
static void run_tb(X86CPU *cpu, TB *tb, bool shadow)
{
    X86CPUState *env = ENV;
    const X86Insn *insns = &cpu->pool[tb->first];
    if (shadow) {
        cpu->stats.interp[X86_INTERP_SHADOW] += cpu->jit != NULL;
        if (tb->count == 1) {
            run_from(cpu, tb, insns, 0);
        } else {
            run_insns(cpu, insns, 1);
        }
        cpu->stats.turns_after_interp++;
        return;
    }
    uint64_t epoch = cpu->tlb_epoch;
    for (;;) {
        X86JitBlockFn *code = cpu->jit ? jit_code(cpu, tb) : NULL;
        bool interpreted = code == NULL;
        if (unlikely(cpu->jit_link_req != NULL)) {
            if (code) {
                x86_jit_link(cpu, cpu->jit, cpu->jit_link_req, tb);
            }
            cpu->jit_link_req = NULL;
        }
        if (code) {
            jit_enter(cpu);
            uint32_t n = code(cpu);
            cpu->jit_running = false;
            cpu->stats.insns += n + (uint64_t)(cpu->jit_left_at_entry - cpu->jit_left);
            /* the translated prefix ran to its end: the interpreter goes on in this block */
            if (n == tb->code_len && n < tb->count && env->rip == tb->code_end && !cpu->tb_exit) {
                x86_jit_note_fallback(cpu->jit, &insns[n]);
                run_from(cpu, tb, insns, n);
                interpreted = true;
            } else if (tb->xpage_off2 != UINT64_MAX) {
                /* left before the instruction across the page end (its next page not as
                 * decoded, or not in the code TLB): the slot's walk takes it */
                run_xpage(cpu, tb, &insns[tb->count - 1]);
            }
        } else {
            if (cpu->jit && !tb->code && tb->code_epoch == x86_jit_epoch(cpu->jit)) {
                x86_jit_note_fallback(cpu->jit, &insns[0]); /* hot, not translatable */
            }
            run_from(cpu, tb, insns, 0);
        }
        uint64_t pc = cur_pc(cpu);
        if (pc != tb->pc || cpu->tb_exit || cpu->tlb_epoch != epoch ||
            __atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED) ||
            (__atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED) & env->eflags) ||
            __atomic_load_n(&env->nmi_pending, __ATOMIC_RELAXED) || env->inhibit_irq ||
            env->halted || cpu->stats.insns >= cpu->budget_end ||
            tb->gen != guest_ram_code_gen(cpu->ram, tb->ram_off)) {
            cpu->stats.turns_after_interp += interpreted;
            return;
        }
    }
}

/* Before an exception, NMI or interrupt moves rip: the block that runs next is not where the
 * last block's exit went, so neither the C link from that block nor the exit's link request
 * may be made to it (a ret's exit relinked to a handler would use up its relinks). */
static void break_chain(X86CPU *cpu)
{
    cpu->prev_tb = NULL;
    cpu->jit_link_req = NULL;
}

/* Runs the block the loop found. The next turn links from it, also after a tb_exit (sti, a
 * store into code or a rep chunk leave it mid-block, always at the same place), but not after
 * one instruction in an interrupt shadow, nor across a privilege change: a link checks the
 * TLB epoch, not the privilege, and a user-mode pc reached through the link of a kernel-mode
 * block would not be checked for it. */
static inline void run_found(X86CPU *cpu, TB *tb, bool shadow, X86TurnKind kind)
{
    bool user = cpu->mmu_user;
    cpu->stats.turns[kind]++;
    /* the next block is most likely one of this one's successors: have their descriptors in
     * the cache by the time this block ends */
    __builtin_prefetch(tb->link[0]);
    __builtin_prefetch(tb->link[1]);
    run_tb(cpu, tb, shadow);
    cpu->prev_tb = shadow || cpu->mmu_user != user ? NULL : tb;
}

static bool irq_deliverable(X86CPU *cpu)
{
    return __atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED) && (ENV->eflags & IF_MASK) &&
           !ENV->inhibit_irq;
}

X86ExitReason x86_cpu_exec(X86CPU *cpu, uint64_t budget)
{
    X86CPUState *env = ENV;
    /* the end mark lives in the object: locals are not reliable after siglongjmp */
    cpu->budget_end = cpu->stats.insns + budget;

    cpu->prev_tb = NULL;
    if (sigsetjmp(cpu->jmp, 0)) {
        break_chain(cpu);
        /* a fault in the instruction after a translated sti (which goes on in its block when
         * nothing is pending): delivered as the interpreter delivers it, with no shadow left
         * (the interpreter ran that instruction in a turn of its own, the shadow cleared) */
        env->inhibit_irq = 0;
        if (cpu->run_first) {
            cpu->stats.insns += cpu->cur_in - cpu->run_first;
        } else if (cpu->jit_running) {
            cpu->stats.insns += cpu->jit_done + (uint64_t)(cpu->jit_left_at_entry - cpu->jit_left);
        }
        cpu->run_first = NULL;
        cpu->jit_running = false;
        x86_deliver_pending(cpu);
        if (cpu->reset_pending) {
            cpu->reset_pending = 0;
            return X86_EXIT_RESET;
        }
    }
    for (;;) {
        cpu->nesting = 0;
        cpu->stats.turns_after_tb_exit += cpu->tb_exit != 0;
        if (unlikely(__atomic_load_n(&cpu->exit_request, __ATOMIC_RELAXED))) {
            __atomic_store_n(&cpu->exit_request, 0, __ATOMIC_RELAXED);
            return X86_EXIT_REQUEST;
        }
        if (cpu->stats.insns >= cpu->budget_end) {
            return X86_EXIT_BUDGET;
        }
        if (unlikely(env->nmi_pending) && !env->inhibit_irq) {
            break_chain(cpu);
            env->nmi_pending = 0;
            cpu->cur_rip = env->rip;
            x86_do_interrupt(cpu, EXCP_NMI, 0, -1, env->rip, 1);
            cpu->stats.interrupts++;
        }
        if (unlikely(irq_deliverable(cpu))) {
            int vec = cpu->bus && cpu->bus->irq_ack ? cpu->bus->irq_ack(cpu->opaque) : -1;
            if (vec >= 0) {
                break_chain(cpu);
                cpu->cur_rip = env->rip;
                x86_do_interrupt(cpu, vec, 0, -1, env->rip, 1);
                cpu->stats.interrupts++;
            }
        }
        /* An interrupt shadow (sti, mov ss) covers exactly the next instruction; it matters
         * only when an interrupt or NMI is pending now. One raised later is taken where the
         * block ends, after that instruction, as at any block end: so the block runs whole. */
        bool shadow = env->inhibit_irq &&
                      (__atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED) || env->nmi_pending);
        env->inhibit_irq = 0;
        if (unlikely(env->halted)) {
            return X86_EXIT_HALTED;
        }
        cpu->tb_exit = 0;

        cpu->cur_rip = env->rip;
        uint64_t pc = cur_pc(cpu);
        TB *prev = cpu->prev_tb, *tb = NULL;
        cpu->prev_tb = NULL;
        cpu->stats.turns_unlinked += prev == NULL;
        int k = -1;
        if (prev) {
            k = prev->link_pc[0] == pc ? 0 : prev->link_pc[1] == pc ? 1 : -1;
            if (k >= 0 && prev->link_epoch[k] == cpu->tlb_epoch) {
                TB *c = prev->link[k];
                if (c->pc == pc && c->flags == cpu->decode_flags &&
                    c->gen == guest_ram_code_gen(cpu->ram, c->ram_off)) {
                    tb = c;
                }
            }
        }
        if (likely(tb)) {
            run_found(cpu, tb, shadow, X86_TURN_LINKED);
            continue;
        }
        uint64_t off;
        uint8_t *p;
        TLBEntry *ce = x86_tlbe(cpu, pc, cpu->mmu_user);
        if (likely(ce->code == (pc & GUEST_PAGE_MASK))) {
            p = (uint8_t *)(ce->addend + pc);
            off = p - cpu->ram->host;
        } else {
            p = x86_code_ptr(cpu, pc, &off);
        }
        if (!p) {
            if (!cpu->warned_exec_mmio) {
                cpu->warned_exec_mmio = true;
                fprintf(stderr,
                        "qemu-system-x86_64: guest executes outside RAM at 0x%" PRIx64
                        " (raising #GP; reported once)\n",
                        pc);
            }
            x86_raise(cpu, EXCP_GP, 0);
        }
        if (!cpu->cache_on) {
            X86Insn *in = &cpu->scratch[0];
            int len = x86_decode(p, GUEST_PAGE_SIZE - (pc & (GUEST_PAGE_SIZE - 1)),
                                 cpu->decode_flags, in);
            if (len <= 0) {
                in = decode_straddling(cpu, pc, p);
            } else {
                x86_select_handler(in);
            }
            cpu->stats.turns[X86_TURN_UNCACHED]++;
            run_insns(cpu, in, 1);
            continue;
        }
        /* A link from before a TLB flush (a CR3 write, an invlpg: ~12 a MB of bench/net's
         * http, each stranding every C link) still names the block when the page maps to
         * the RAM it was decoded from: the table's own key, without its cache misses. */
        if (k >= 0 && tb_matches(cpu, prev->link[k], pc, off)) {
            prev->link_epoch[k] = cpu->tlb_epoch;
            run_found(cpu, prev->link[k], shadow, X86_TURN_RELINKED);
            continue;
        }
        bool hit;
        tb = tb_lookup(cpu, pc, off, &hit);
        if (unlikely(!hit)) {
            if (!translate(cpu, tb, pc, p, off)) {
                /* An instruction across the page end is never cached: the entry keeps the
                 * block it held, which a miss here on every run would otherwise evict. */
                cpu->stats.turns[X86_TURN_STRADDLE]++;
                bool user = cpu->mmu_user;
                run_insns(cpu, straddling_insn(cpu, pc, p, off), 1);
                /* The block before ended where this instruction begins (its decoding stopped
                 * there): the block after is linked from it. */
                cpu->prev_tb = shadow || cpu->mmu_user != user ? NULL : prev;
                continue;
            }
        }
        if (prev) {
            uint32_t k = prev->link_next;
            prev->link[k] = tb;
            prev->link_pc[k] = pc;
            prev->link_epoch[k] = cpu->tlb_epoch;
            prev->link_next = k ^ 1;
        }
        run_found(cpu, tb, shadow, hit ? X86_TURN_TABLE : X86_TURN_DECODED);
    }
}

void x86_dispatch_info(const X86CPUStats *cs, GString *out)
{
    uint64_t all = 0;
    for (int k = 0; k < X86_TURN_KINDS; k++) {
        all += cs->turns[k];
    }
    g_string_append_printf(
        out,
        "main loop turns     %" PRIu64 " (C link %" PRIu64 ", C link after a TLB flush %" PRIu64
        ", block table %" PRIu64 ", decoded %" PRIu64 ", across a page end %" PRIu64
        ", uncached %" PRIu64 "; no block before %" PRIu64 "; after tb_exit %" PRIu64
        "; after an interpreted block %" PRIu64 ")\n",
        all, cs->turns[X86_TURN_LINKED], cs->turns[X86_TURN_RELINKED], cs->turns[X86_TURN_TABLE],
        cs->turns[X86_TURN_DECODED], cs->turns[X86_TURN_STRADDLE], cs->turns[X86_TURN_UNCACHED],
        cs->turns_unlinked, cs->turns_after_tb_exit, cs->turns_after_interp);
    g_string_append_printf(
        out,
        "blocks interpreted  cold %" PRIu64 ", not translated %" PRIu64 ", other privilege %" PRIu64
        ", segments not flat %" PRIu64 ", interrupt shadow %" PRIu64 "\n",
        cs->interp[X86_INTERP_COLD], cs->interp[X86_INTERP_REFUSED], cs->interp[X86_INTERP_PRIV],
        cs->interp[X86_INTERP_MODE], cs->interp[X86_INTERP_SHADOW]);
    g_string_append_printf(out,
                           "across a page end   %" PRIu64 " run in their block, %" PRIu64
                           " from a slot (next page not as decoded)\n",
                           cs->xpage_runs, cs->xpage_slow);
}

static void set_flat(X86CPU *cpu, int seg, uint16_t sel, uint32_t flags)
{
    X86Segment *s = &ENV->segs[seg];
    s->selector = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->flags = flags;
}

void x86_cpu_setup_flat32(X86CPU *cpu)
{
    uint32_t code = DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_B | DESC_G;
    uint32_t data = DESC_P | DESC_S | DESC_RW | DESC_A | DESC_B | DESC_G;
    ENV->cr0 = CR0_PE | CR0_ET;
    ENV->efer = 0;
    set_flat(cpu, R_CS, 0x10, code);
    for (int s = R_ES; s <= R_GS; s++) {
        if (s != R_CS) {
            set_flat(cpu, s, 0x18, data);
        }
    }
    ENV->eflags = 2;
    ENV->cc_op = CC_OP_EFLAGS;
    x86_cpu_state_changed(cpu);
}

void x86_cpu_setup_long_mode(X86CPU *cpu, uint64_t cr3, int cpl)
{
    uint32_t dpl = (uint32_t)cpl << DESC_DPL_SHIFT;
    uint32_t code = DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_L | DESC_G | dpl;
    uint32_t data = DESC_P | DESC_S | DESC_RW | DESC_A | DESC_B | DESC_G | dpl;
    ENV->cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_WP | CR0_NE | CR0_MP;
    ENV->cr4 = CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    ENV->cr3 = cr3;
    ENV->efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
    set_flat(cpu, R_CS, cpl == 3 ? 0x33 : 0x10, code);
    for (int s = R_ES; s <= R_GS; s++) {
        if (s != R_CS) {
            set_flat(cpu, s, cpl == 3 ? 0x2b : 0x18, data);
        }
    }
    ENV->eflags = 2;
    ENV->cc_op = CC_OP_EFLAGS;
    x86_cpu_state_changed(cpu);
}
