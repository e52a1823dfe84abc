/*
 * Segmentation and privilege changes: descriptor loads, far jmp/call/ret, iret,
 * syscall/sysret, and interrupt/exception delivery through the IDT (real, protected and
 * long mode, with TSS stack switches and IST).
 *
 *   fault inside an instruction ─► x86_raise() ─► siglongjmp to the exec loop
 *        ─► x86_deliver_pending(): contributory + contributory, or #PF + (#PF or
 *           contributory) while delivering ─► #DF; a fault while delivering #DF ─► reset
 */
#include "target/i386/cpu-internal.h"

#include <stdio.h>

#define ENV    (&cpu->env)
#define REG(n) (cpu->env.regs[(n)])

G_NORETURN void x86_raise(X86CPU *cpu, int vector, int err)
{
    cpu->exc_vector = vector;
    cpu->exc_err = err;
    cpu->exc_soft = 0;
    siglongjmp(cpu->jmp, 1);
}

G_NORETURN void x86_raise_soft(X86CPU *cpu, int vector, uint64_t next_rip)
{
    cpu->exc_vector = vector;
    cpu->exc_err = -1;
    cpu->exc_soft = 1;
    cpu->exc_next_rip = next_rip;
    siglongjmp(cpu->jmp, 1);
}

G_NORETURN void x86_raise_ud(X86CPU *cpu)
{
    x86_raise(cpu, EXCP_UD, -1);
}

void x86_set_seg_cache(X86CPU *cpu, int seg, uint16_t sel, uint64_t base, uint32_t limit,
                       uint32_t flags)
{
    X86Segment *s = &ENV->segs[seg];
    s->selector = sel;
    s->base = base;
    s->limit = limit;
    s->flags = flags;
    if (seg == R_CS || seg == R_SS) {
        x86_update_mode(cpu);
    }
}

static uint64_t desc_base(uint32_t lo, uint32_t hi)
{
    return (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);
}

static uint32_t desc_limit(uint32_t lo, uint32_t hi)
{
    uint32_t l = (lo & 0xffff) | (hi & 0xf0000);
    return (hi & DESC_G) ? (l << 12) | 0xfff : l;
}

bool x86_read_desc(X86CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
    uint64_t base;
    uint32_t limit;
    if (sel & 4) {
        base = ENV->segs[R_LDTR].base;
        limit = ENV->segs[R_LDTR].limit;
        if (!(ENV->segs[R_LDTR].flags & DESC_P)) {
            return false;
        }
    } else {
        base = ENV->gdt.base;
        limit = ENV->gdt.limit;
    }
    uint32_t idx = sel & ~7u;
    if (idx + 7 > limit) {
        return false;
    }
    *lo = x86_lds(cpu, base + idx, 4);
    *hi = x86_lds(cpu, base + idx + 4, 4);
    return true;
}

void x86_load_seg_real(X86CPU *cpu, int seg, uint16_t sel)
{
    X86Segment *s = &ENV->segs[seg];
    uint32_t flags = s->flags;
    if (ENV->eflags & VM_MASK) {
        flags = DESC_P | DESC_S | DESC_RW | DESC_A | (3u << DESC_DPL_SHIFT) |
                (seg == R_CS ? DESC_CODE : 0);
    }
    x86_set_seg_cache(cpu, seg, sel, (uint64_t)sel << 4,
                      (ENV->eflags & VM_MASK) ? 0xffff : s->limit, flags);
}

/* mov/pop to a data or stack segment register in protected mode */
void x86_load_seg(X86CPU *cpu, int seg, uint16_t sel)
{
    uint32_t lo, hi;
    int rpl = sel & 3, cpl = cpu->cpl;

    if ((sel & ~3) == 0) {
        if (seg == R_SS && (!cpu->code64 || rpl != cpl)) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        /* null selector: unusable segment (base kept 0 for fs/gs users of wrfsbase) */
        x86_set_seg_cache(cpu, seg, sel, 0, 0, seg == R_SS ? (uint32_t)(cpl << DESC_DPL_SHIFT) : 0);
        return;
    }
    if (!x86_read_desc(cpu, sel, &lo, &hi)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    int dpl = (hi >> DESC_DPL_SHIFT) & 3;
    if (!(hi & DESC_S)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (seg == R_SS) {
        if ((hi & DESC_CODE) || !(hi & DESC_RW) || rpl != cpl || dpl != cpl) {
            x86_raise(cpu, EXCP_GP, sel & ~3);
        }
        if (!(hi & DESC_P)) {
            x86_raise(cpu, EXCP_SS, sel & ~3);
        }
    } else {
        if ((hi & DESC_CODE) && !(hi & DESC_RW)) {
            x86_raise(cpu, EXCP_GP, sel & ~3);
        }
        bool conforming = (hi & DESC_CODE) && (hi & (1u << 10));
        if (!conforming && (dpl < cpl || dpl < rpl)) {
            x86_raise(cpu, EXCP_GP, sel & ~3);
        }
        if (!(hi & DESC_P)) {
            x86_raise(cpu, EXCP_NP, sel & ~3);
        }
    }
    if (!(hi & DESC_A)) {
        /* loading a data or stack segment marks its descriptor accessed */
        hi |= DESC_A;
        uint64_t table = (sel & 4) ? ENV->segs[R_LDTR].base : ENV->gdt.base;
        x86_sts(cpu, table + (sel & ~7) + 4, hi, 4);
    }
    x86_set_seg_cache(cpu, seg, sel, desc_base(lo, hi), desc_limit(lo, hi), hi & 0x00ffff00);
}

/* Loads CS for a far transfer to a code segment; cpl becomes `new_cpl`. */
static void load_cs(X86CPU *cpu, uint16_t sel, uint32_t lo, uint32_t hi, int new_cpl)
{
    x86_set_seg_cache(cpu, R_CS, (sel & ~3) | new_cpl, desc_base(lo, hi), desc_limit(lo, hi),
                      hi & 0x00ffff00);
}

static void check_code_desc(X86CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
    if ((sel & ~3) == 0 || !x86_read_desc(cpu, sel, lo, hi)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (!(*hi & DESC_S) || !(*hi & DESC_CODE)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (!(*hi & DESC_P)) {
        x86_raise(cpu, EXCP_NP, sel & ~3);
    }
}

static bool real_mode(X86CPU *cpu)
{
    return !cpu->pe || (ENV->eflags & VM_MASK);
}

static uint64_t stack_la(X86CPU *cpu, uint64_t sp)
{
    if (cpu->code64) {
        return sp;
    }
    return (uint32_t)(ENV->segs[R_SS].base + (cpu->stack32 ? (uint32_t)sp : (sp & 0xffff)));
}

static uint64_t sp_wrap(X86CPU *cpu, uint64_t sp)
{
    return cpu->code64 ? sp : cpu->stack32 ? (uint32_t)sp : (sp & 0xffff);
}

static void set_sp_sized(X86CPU *cpu, uint64_t sp)
{
    if (cpu->code64) {
        REG(R_ESP) = sp;
    } else if (cpu->stack32) {
        REG(R_ESP) = (uint32_t)sp;
    } else {
        REG(R_ESP) = (REG(R_ESP) & ~0xffffull) | (sp & 0xffff);
    }
}

/* A direct far jmp/call stays at the current level: the target must be a code segment that
 * is conforming and no more privileged, or non-conforming at exactly this level (RPL too). */
static void check_far_target(X86CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
    check_code_desc(cpu, sel, lo, hi);
    int dpl = (*hi >> DESC_DPL_SHIFT) & 3;
    bool conforming = *hi & (1u << 10);
    if (conforming ? dpl > cpu->cpl : (dpl != cpu->cpl || (sel & 3) > cpu->cpl)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
}

void x86_far_jmp(X86CPU *cpu, uint16_t sel, uint64_t off, uint64_t next_rip)
{
    if (real_mode(cpu)) {
        x86_load_seg_real(cpu, R_CS, sel);
        ENV->rip = off;
        return;
    }
    uint32_t lo, hi;
    check_far_target(cpu, sel, &lo, &hi);
    load_cs(cpu, sel, lo, hi, cpu->cpl);
    ENV->rip = cpu->code64 ? off : (uint32_t)off;
}

void x86_far_call(X86CPU *cpu, uint16_t sel, uint64_t off, int opsize, uint64_t next_rip)
{
    uint64_t sp = REG(R_ESP);
    uint16_t old_cs = ENV->segs[R_CS].selector;
    if (real_mode(cpu)) {
        sp = sp_wrap(cpu, sp - opsize);
        x86_st(cpu, stack_la(cpu, sp), old_cs, opsize);
        sp = sp_wrap(cpu, sp - opsize);
        x86_st(cpu, stack_la(cpu, sp), next_rip, opsize);
        set_sp_sized(cpu, sp);
        x86_load_seg_real(cpu, R_CS, sel);
        ENV->rip = opsize == 2 ? (off & 0xffff) : (uint32_t)off;
        return;
    }
    uint32_t lo, hi;
    check_far_target(cpu, sel, &lo, &hi);
    sp = sp_wrap(cpu, sp - opsize);
    x86_st(cpu, stack_la(cpu, sp), old_cs, opsize);
    sp = sp_wrap(cpu, sp - opsize);
    x86_st(cpu, stack_la(cpu, sp), next_rip, opsize);
    set_sp_sized(cpu, sp);
    load_cs(cpu, sel, lo, hi, cpu->cpl);
    ENV->rip = opsize == 8 ? off : opsize == 4 ? (uint32_t)off : (off & 0xffff);
}

/* Data segments the new (outer) privilege level may not use become null. */
static void clear_inaccessible_segs(X86CPU *cpu)
{
    static const int segs[] = {R_ES, R_DS, R_FS, R_GS};
    for (unsigned i = 0; i < G_N_ELEMENTS(segs); i++) {
        X86Segment *s = &ENV->segs[segs[i]];
        int dpl = (s->flags >> DESC_DPL_SHIFT) & 3;
        bool conforming_code = (s->flags & DESC_CODE) && (s->flags & (1u << 10));
        if ((s->flags & DESC_S) && !conforming_code && dpl < cpu->cpl) {
            s->selector = 0;
            s->flags = 0;
            if (segs[i] != R_FS && segs[i] != R_GS) {
                s->base = 0;
            }
        }
    }
}

void x86_far_ret(X86CPU *cpu, int opsize, uint16_t pop_extra)
{
    uint64_t sp = REG(R_ESP);
    uint64_t off = x86_ld(cpu, stack_la(cpu, sp), opsize);
    uint16_t sel = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + opsize)), opsize);
    sp = sp + 2 * opsize;
    if (real_mode(cpu)) {
        x86_load_seg_real(cpu, R_CS, sel);
        ENV->rip = off & size_mask(opsize);
        set_sp_sized(cpu, sp + pop_extra);
        return;
    }
    uint32_t lo, hi;
    check_code_desc(cpu, sel, &lo, &hi);
    int rpl = sel & 3;
    if (rpl < cpu->cpl) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (rpl == cpu->cpl) {
        load_cs(cpu, sel, lo, hi, rpl);
        set_sp_sized(cpu, sp + pop_extra);
        ENV->rip = off & size_mask(opsize);
        return;
    }
    /* return to an outer level: pop ss:sp too */
    sp += pop_extra;
    uint64_t nsp = x86_ld(cpu, stack_la(cpu, sp), opsize);
    uint16_t nss = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + opsize)), opsize);
    load_cs(cpu, sel, lo, hi, rpl);
    if ((nss & ~3) == 0 && cpu->code64) {
        x86_set_seg_cache(cpu, R_SS, nss, 0, 0, rpl << DESC_DPL_SHIFT);
    } else {
        x86_load_seg(cpu, R_SS, nss);
    }
    REG(R_ESP) = (nsp + pop_extra) & size_mask(opsize == 8 ? 8 : cpu->stack32 ? 4 : 2);
    ENV->rip = off & size_mask(opsize);
    clear_inaccessible_segs(cpu);
}

void x86_iret(X86CPU *cpu, int opsize)
{
    uint64_t sp = REG(R_ESP);
    if (real_mode(cpu)) {
        if ((ENV->eflags & VM_MASK) && ((ENV->eflags & IOPL_MASK) >> 12) != 3) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        uint64_t ip = x86_ld(cpu, stack_la(cpu, sp), opsize);
        uint16_t cs = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + opsize)), opsize);
        uint64_t fl = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + 2 * opsize)), opsize);
        set_sp_sized(cpu, sp + 3 * opsize);
        x86_load_seg_real(cpu, R_CS, cs);
        ENV->rip = ip;
        uint64_t mask = CC_ALL | TF_MASK | IF_MASK | DF_MASK | NT_MASK | 0x800 |
                        (opsize == 4 ? (AC_MASK | ID_MASK | RF_MASK) : 0);
        if (!(ENV->eflags & VM_MASK)) {
            mask |= IOPL_MASK;
        }
        x86_set_eflags(cpu, fl, mask);
        return;
    }
    if (ENV->eflags & NT_MASK && !cpu->lma) {
        fprintf(stderr, "qemu-system-x86_64: iret with NT (task return) is not supported\n");
        x86_raise(cpu, EXCP_GP, 0);
    }
    uint64_t ip = x86_ld(cpu, stack_la(cpu, sp), opsize);
    uint16_t cs = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + opsize)), opsize);
    uint64_t fl = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + 2 * opsize)), opsize);
    int rpl = cs & 3;
    uint32_t lo, hi;
    check_code_desc(cpu, cs, &lo, &hi);
    if (rpl < cpu->cpl) {
        x86_raise(cpu, EXCP_GP, cs & ~3);
    }
    bool outer = rpl > cpu->cpl;
    uint64_t nsp = 0;
    uint16_t nss = 0;
    if (outer || cpu->code64) {
        nsp = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + 3 * opsize)), opsize);
        nss = x86_ld(cpu, stack_la(cpu, sp_wrap(cpu, sp + 4 * opsize)), opsize);
    }
    int old_cpl = cpu->cpl;
    uint64_t mask = CC_ALL | TF_MASK | DF_MASK | NT_MASK | 0x800 | RF_MASK | AC_MASK | ID_MASK;
    if (old_cpl == 0) {
        mask |= IOPL_MASK | VIF_MASK | VIP_MASK;
    }
    if (old_cpl <= (int)((ENV->eflags & IOPL_MASK) >> 12)) {
        mask |= IF_MASK;
    }
    if (opsize == 2) {
        mask &= 0xffff;
    }
    load_cs(cpu, cs, lo, hi, rpl);
    if (outer || cpu->lma) {
        if (outer || (nss & ~3)) {
            if ((nss & ~3) == 0 && cpu->lma && (cpu->code64 || rpl != 3)) {
                x86_set_seg_cache(cpu, R_SS, nss, 0, 0, rpl << DESC_DPL_SHIFT);
            } else {
                /* SS checks run at the new privilege level */
                x86_load_seg(cpu, R_SS, nss);
            }
        } else if (cpu->lma) {
            x86_set_seg_cache(cpu, R_SS, nss, 0, 0, rpl << DESC_DPL_SHIFT);
        }
        REG(R_ESP) = opsize == 8   ? nsp
                     : opsize == 4 ? (uint32_t)nsp
                                   : ((REG(R_ESP) & ~0xffffull) | (nsp & 0xffff));
    } else {
        set_sp_sized(cpu, sp + 3 * opsize);
    }
    ENV->rip = opsize == 8 ? ip : opsize == 4 ? (uint32_t)ip : (ip & 0xffff);
    x86_set_eflags(cpu, fl, mask);
    if (outer) {
        clear_inaccessible_segs(cpu);
    }
}

void x86_lldt(X86CPU *cpu, uint16_t sel)
{
    if ((sel & ~3) == 0) {
        x86_set_seg_cache(cpu, R_LDTR, 0, 0, 0, 0);
        return;
    }
    if (sel & 4) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    uint32_t lo, hi;
    if (!x86_read_desc(cpu, sel, &lo, &hi) || (hi & DESC_S) || ((hi >> 8) & 0xf) != 2) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (!(hi & DESC_P)) {
        x86_raise(cpu, EXCP_NP, sel & ~3);
    }
    uint64_t base = desc_base(lo, hi);
    if (cpu->lma) {
        base |= x86_lds(cpu, ENV->gdt.base + (sel & ~7) + 8, 4) << 32;
    }
    x86_set_seg_cache(cpu, R_LDTR, sel, base, desc_limit(lo, hi), hi & 0x00ffff00);
}

void x86_ltr(X86CPU *cpu, uint16_t sel)
{
    if ((sel & ~3) == 0 || (sel & 4)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    uint32_t lo, hi;
    int type;
    if (!x86_read_desc(cpu, sel, &lo, &hi) || (hi & DESC_S) ||
        ((type = (hi >> 8) & 0xf) != 1 && type != 9)) {
        x86_raise(cpu, EXCP_GP, sel & ~3);
    }
    if (!(hi & DESC_P)) {
        x86_raise(cpu, EXCP_NP, sel & ~3);
    }
    uint64_t base = desc_base(lo, hi);
    if (cpu->lma) {
        base |= x86_lds(cpu, ENV->gdt.base + (sel & ~7) + 8, 4) << 32;
    }
    /* mark busy */
    x86_sts(cpu, ENV->gdt.base + (sel & ~7) + 4, hi | (2u << 8), 4);
    x86_set_seg_cache(cpu, R_TR, sel, base, desc_limit(lo, hi), (hi | (2u << 8)) & 0x00ffff00);
}

/* ---- syscall / sysret ---- */

#define FLAT_CODE64 (DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_L | DESC_G)
#define FLAT_CODE32 (DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_A | DESC_B | DESC_G)
#define FLAT_DATA   (DESC_P | DESC_S | DESC_RW | DESC_A | DESC_B | DESC_G)

void x86_syscall(X86CPU *cpu, uint64_t next_rip)
{
    if (!(ENV->efer & EFER_SCE)) {
        x86_raise_ud(cpu);
    }
    uint16_t sel = (ENV->star >> 32) & 0xffff;
    if (cpu->lma) {
        REG(R_ECX) = next_rip;
        REG(11) = x86_get_eflags(cpu) & ~(uint64_t)RF_MASK;
        bool to64 = cpu->code64;
        x86_set_eflags(cpu, 0, ENV->fmask | RF_MASK);
        x86_set_seg_cache(cpu, R_CS, sel & ~3, 0, 0xffffffff, FLAT_CODE64);
        x86_set_seg_cache(cpu, R_SS, (sel + 8) & ~3, 0, 0xffffffff, FLAT_DATA);
        ENV->rip = to64 ? ENV->lstar : ENV->cstar;
    } else {
        REG(R_ECX) = (uint32_t)next_rip;
        x86_set_eflags(cpu, 0, IF_MASK | RF_MASK | VM_MASK);
        x86_set_seg_cache(cpu, R_CS, sel & ~3, 0, 0xffffffff, FLAT_CODE32);
        x86_set_seg_cache(cpu, R_SS, (sel + 8) & ~3, 0, 0xffffffff, FLAT_DATA);
        ENV->rip = (uint32_t)ENV->star;
    }
}

void x86_sysret(X86CPU *cpu, int opsize)
{
    if (!(ENV->efer & EFER_SCE)) {
        x86_raise_ud(cpu);
    }
    if (cpu->cpl != 0 || !cpu->pe) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    uint16_t sel = (ENV->star >> 48) & 0xffff;
    if (cpu->lma) {
        if (opsize == 8) {
            uint64_t rcx = REG(R_ECX);
            if ((uint64_t)((int64_t)(rcx << 16) >> 16) != rcx) {
                x86_raise(cpu, EXCP_GP, 0);
            }
            x86_set_seg_cache(cpu, R_CS, (sel + 16) | 3, 0, 0xffffffff,
                              FLAT_CODE64 | (3u << DESC_DPL_SHIFT));
            ENV->rip = rcx;
        } else {
            x86_set_seg_cache(cpu, R_CS, sel | 3, 0, 0xffffffff,
                              FLAT_CODE32 | (3u << DESC_DPL_SHIFT));
            ENV->rip = (uint32_t)REG(R_ECX);
        }
        x86_set_seg_cache(cpu, R_SS, (sel + 8) | 3, 0, 0xffffffff,
                          FLAT_DATA | (3u << DESC_DPL_SHIFT));
        x86_set_eflags(cpu, REG(11), 0x3c7fd7);
    } else {
        x86_set_seg_cache(cpu, R_CS, sel | 3, 0, 0xffffffff, FLAT_CODE32 | (3u << DESC_DPL_SHIFT));
        x86_set_seg_cache(cpu, R_SS, (sel + 8) | 3, 0, 0xffffffff,
                          FLAT_DATA | (3u << DESC_DPL_SHIFT));
        ENV->rip = (uint32_t)REG(R_ECX);
        ENV->eflags |= IF_MASK;
    }
}

void x86_sysenter(X86CPU *cpu)
{
    /* SEP is not advertised in CPUID */
    x86_raise_ud(cpu);
}

void x86_sysexit(X86CPU *cpu, int opsize)
{
    x86_raise_ud(cpu);
}

/* ---- interrupt and exception delivery ---- */

static bool has_error_code(int vec)
{
    return vec == EXCP_DF || (vec >= EXCP_TS && vec <= EXCP_PF) || vec == EXCP_AC;
}

static void do_interrupt_real(X86CPU *cpu, int vec, uint64_t ret_ip)
{
    uint32_t off = vec * 4;
    if (off + 3 > ENV->idt.limit) {
        x86_raise(cpu, EXCP_GP, vec * 8 + 2);
    }
    uint16_t ip = x86_lds(cpu, ENV->idt.base + off, 2);
    uint16_t cs = x86_lds(cpu, ENV->idt.base + off + 2, 2);
    uint64_t sp = REG(R_ESP);
    sp = sp_wrap(cpu, sp - 2);
    x86_st(cpu, stack_la(cpu, sp), x86_get_eflags(cpu), 2);
    sp = sp_wrap(cpu, sp - 2);
    x86_st(cpu, stack_la(cpu, sp), ENV->segs[R_CS].selector, 2);
    sp = sp_wrap(cpu, sp - 2);
    x86_st(cpu, stack_la(cpu, sp), ret_ip, 2);
    set_sp_sized(cpu, sp);
    ENV->eflags &= ~(uint64_t)(IF_MASK | TF_MASK | AC_MASK | RF_MASK);
    x86_load_seg_real(cpu, R_CS, cs);
    ENV->rip = ip;
}

/*
 * What protected- and long-mode interrupt delivery check alike once the gate type is known:
 * a software interrupt may not go through a gate more privileged than the caller, the gate
 * must be present, and its selector must name a present code segment (in long mode a 64-bit
 * one) no less privileged than the current level. idt_err is the vector's IDT error code
 * without its flag bits (vector * 8). Returns the level the handler runs at.
 */
static int check_gate(X86CPU *cpu, uint32_t gate_hi, uint16_t sel, uint32_t idt_err, int is_soft,
                      bool long_mode, uint32_t *clo, uint32_t *chi)
{
    int ext = is_soft ? 0 : 1;
    if (is_soft && ((gate_hi >> DESC_DPL_SHIFT) & 3) < cpu->cpl) {
        x86_raise(cpu, EXCP_GP, idt_err + 2);
    }
    if (!(gate_hi & DESC_P)) {
        x86_raise(cpu, EXCP_NP, idt_err + 2 + ext);
    }
    if ((sel & ~3) == 0 || !x86_read_desc(cpu, sel, clo, chi) || !(*chi & DESC_S) ||
        !(*chi & DESC_CODE) || (long_mode && (!(*chi & DESC_L) || (*chi & DESC_B)))) {
        x86_raise(cpu, EXCP_GP, (sel & ~3) + ext);
    }
    if (!(*chi & DESC_P)) {
        x86_raise(cpu, EXCP_NP, (sel & ~3) + ext);
    }
    int cdpl = (*chi >> DESC_DPL_SHIFT) & 3;
    if (cdpl > cpu->cpl) {
        x86_raise(cpu, EXCP_GP, (sel & ~3) + ext);
    }
    bool conforming = *chi & (1u << 10);
    return conforming ? cpu->cpl : cdpl;
}

static void do_interrupt_prot(X86CPU *cpu, int vec, int is_soft, int err, uint64_t ret_ip,
                              int is_hw)
{
    uint32_t off = vec * 8;
    int ext = is_soft ? 0 : 1;
    if (off + 7 > ENV->idt.limit) {
        x86_raise(cpu, EXCP_GP, off + 2 + ext);
    }
    uint32_t lo = x86_lds(cpu, ENV->idt.base + off, 4);
    uint32_t hi = x86_lds(cpu, ENV->idt.base + off + 4, 4);
    int type = (hi >> 8) & 0x1f;
    bool gate32;
    switch (type) {
    case 6:
    case 7:
        gate32 = false;
        break;
    case 14:
    case 15:
        gate32 = true;
        break;
    default:
        x86_raise(cpu, EXCP_GP, off + 2 + ext);
    }
    uint16_t sel = lo >> 16;
    uint32_t target = (lo & 0xffff) | (hi & 0xffff0000);
    uint32_t clo, chi;
    int new_cpl = check_gate(cpu, hi, sel, off, is_soft, false, &clo, &chi);
    int psz = gate32 ? 4 : 2;
    uint64_t flags = x86_get_eflags(cpu);
    uint16_t old_ss = ENV->segs[R_SS].selector, old_cs = ENV->segs[R_CS].selector;
    uint64_t old_sp = REG(R_ESP);
    bool vm86 = flags & VM_MASK;

    if (new_cpl < cpu->cpl || vm86) {
        /* inner privilege: stack from the TSS */
        X86Segment *tr = &ENV->segs[R_TR];
        bool tss32 = ((tr->flags >> 8) & 0xf) == 9 || ((tr->flags >> 8) & 0xf) == 11;
        uint32_t idx = tss32 ? 4 + 8 * new_cpl : 2 + 4 * new_cpl;
        if (idx + (tss32 ? 7 : 3) > tr->limit) {
            x86_raise(cpu, EXCP_TS, tr->selector & ~3);
        }
        uint32_t nsp = tss32 ? x86_lds(cpu, tr->base + idx, 4) : x86_lds(cpu, tr->base + idx, 2);
        uint16_t nss = x86_lds(cpu, tr->base + idx + (tss32 ? 4 : 2), 2);
        uint32_t slo, shi;
        if ((nss & ~3) == 0 || !x86_read_desc(cpu, nss, &slo, &shi)) {
            x86_raise(cpu, EXCP_TS, nss & ~3);
        }
        uint64_t sbase = desc_base(slo, shi);
        bool s32 = shi & DESC_B;
        uint64_t sp = nsp;
#define PUSHX(v)                                                                                   \
    do {                                                                                           \
        sp = s32 ? (uint32_t)(sp - psz) : ((sp - psz) & 0xffff);                                   \
        x86_sts(cpu, (uint32_t)(sbase + sp), (v), psz);                                            \
    } while (0)
        if (vm86) {
            PUSHX(ENV->segs[R_GS].selector);
            PUSHX(ENV->segs[R_FS].selector);
            PUSHX(ENV->segs[R_DS].selector);
            PUSHX(ENV->segs[R_ES].selector);
        }
        PUSHX(old_ss);
        PUSHX(old_sp);
        PUSHX(flags);
        PUSHX(old_cs);
        PUSHX(ret_ip);
        if (err >= 0) {
            PUSHX(err);
        }
#undef PUSHX
        load_cs(cpu, sel, clo, chi, new_cpl);
        x86_set_seg_cache(cpu, R_SS, (nss & ~3) | new_cpl, sbase, desc_limit(slo, shi),
                          shi & 0x00ffff00);
        REG(R_ESP) = s32 ? (uint32_t)sp : ((REG(R_ESP) & ~0xffffull) | (sp & 0xffff));
        if (vm86) {
            for (int s = R_ES; s <= R_GS; s++) {
                if (s != R_CS && s != R_SS) {
                    x86_set_seg_cache(cpu, s, 0, 0, 0, 0);
                }
            }
        }
    } else {
        uint64_t sp = old_sp;
#define PUSHS(v)                                                                                   \
    do {                                                                                           \
        sp = sp_wrap(cpu, sp - psz);                                                               \
        x86_st_user(cpu, stack_la(cpu, sp), (v), psz, 0);                                          \
    } while (0)
        PUSHS(flags);
        PUSHS(old_cs);
        PUSHS(ret_ip);
        if (err >= 0) {
            PUSHS(err);
        }
#undef PUSHS
        set_sp_sized(cpu, sp);
        load_cs(cpu, sel, clo, chi, new_cpl);
    }
    ENV->rip = gate32 ? target : (target & 0xffff);
    uint64_t clear = TF_MASK | VM_MASK | RF_MASK | NT_MASK;
    if (!(type & 1)) {
        clear |= IF_MASK;
    }
    x86_set_eflags(cpu, 0, clear);
    x86_update_mode(cpu);
}

static void do_interrupt_long(X86CPU *cpu, int vec, int is_soft, int err, uint64_t ret_ip,
                              int is_hw)
{
    uint32_t off = vec * 16;
    int ext = is_soft ? 0 : 1;
    if (off + 15 > ENV->idt.limit) {
        x86_raise(cpu, EXCP_GP, vec * 8 + 2 + ext);
    }
    uint32_t w0 = x86_lds(cpu, ENV->idt.base + off, 4);
    uint32_t w1 = x86_lds(cpu, ENV->idt.base + off + 4, 4);
    uint32_t w2 = x86_lds(cpu, ENV->idt.base + off + 8, 4);
    int type = (w1 >> 8) & 0x1f, ist = w1 & 7;
    if (type != 14 && type != 15) {
        x86_raise(cpu, EXCP_GP, vec * 8 + 2 + ext);
    }
    uint16_t sel = w0 >> 16;
    uint64_t target = (w0 & 0xffff) | (w1 & 0xffff0000) | ((uint64_t)w2 << 32);
    uint32_t clo, chi;
    int new_cpl = check_gate(cpu, w1, sel, vec * 8, is_soft, true, &clo, &chi);
    uint64_t flags = x86_get_eflags(cpu);
    uint16_t old_ss = ENV->segs[R_SS].selector, old_cs = ENV->segs[R_CS].selector;
    uint64_t old_sp = REG(R_ESP);
    uint64_t sp;
    X86Segment *tr = &ENV->segs[R_TR];
    if (ist || new_cpl < cpu->cpl) {
        uint32_t idx = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
        if (idx + 7 > tr->limit) {
            x86_raise(cpu, EXCP_TS, tr->selector & ~3);
        }
        sp = x86_lds(cpu, tr->base + idx, 8);
    } else {
        sp = old_sp;
    }
    sp &= ~0xfull;
    uint64_t frame[6] = {
        err >= 0 ? (uint64_t)(uint32_t)err : 0, ret_ip, old_cs, flags, old_sp, old_ss};
    int first = err >= 0 ? 0 : 1;
    for (int i = 5; i >= first; i--) {
        sp -= 8;
        x86_sts(cpu, sp, frame[i], 8);
    }
    if (new_cpl < cpu->cpl) {
        x86_set_seg_cache(cpu, R_SS, new_cpl, 0, 0, new_cpl << DESC_DPL_SHIFT);
    }
    load_cs(cpu, sel, clo, chi, new_cpl);
    REG(R_ESP) = sp;
    ENV->rip = target;
    uint64_t clear = TF_MASK | VM_MASK | RF_MASK | NT_MASK;
    if (!(type & 1)) {
        clear |= IF_MASK;
    }
    x86_set_eflags(cpu, 0, clear);
    x86_update_mode(cpu);
}

void x86_do_interrupt(X86CPU *cpu, int vector, int is_soft, int err, uint64_t next_rip, int is_hw)
{
    uint64_t ret_ip = (is_soft || is_hw) ? next_rip : cpu->cur_rip;
    if (!cpu->pe) {
        do_interrupt_real(cpu, vector, ret_ip);
    } else if (cpu->lma) {
        do_interrupt_long(cpu, vector, is_soft, err, ret_ip, is_hw);
    } else {
        do_interrupt_prot(cpu, vector, is_soft, err, ret_ip, is_hw);
    }
    ENV->halted = 0;
}

static bool contributory(int v)
{
    return v == EXCP_DE || (v >= EXCP_TS && v <= EXCP_GP);
}

static void trace_exception(X86CPU *cpu, int vec, int err)
{
    uint8_t bytes[8] = {0};
    uint64_t pc = ENV->segs[R_CS].base + cpu->cur_rip, gpa;
    if (!cpu->code64) {
        pc = (uint32_t)pc;
    }
    bool have = x86_cpu_translate(cpu, pc, false, &gpa) &&
                guest_ram_read(cpu->ram, gpa, bytes, sizeof(bytes));
    fprintf(stderr,
            "exception %d err %d at rip=%#" PRIx64 " cpl %d cr2=%#" PRIx64 " nesting %d bytes", vec,
            err, cpu->cur_rip, cpu->cpl, ENV->cr2, cpu->nesting);
    for (int i = 0; have && i < (int)sizeof(bytes); i++) {
        fprintf(stderr, " %02x", bytes[i]);
    }
    fprintf(stderr, "\n");
}

void x86_deliver_pending(X86CPU *cpu)
{
    int vec = cpu->exc_vector;
    int err = cpu->exc_err;
    cpu->stats.exceptions++;
    if (unlikely(cpu->trace & X86_TRACE_EXCEPTIONS)) {
        trace_exception(cpu, vec, err);
    }
    /* the faulting instruction counts against the budget: a guest that faults in a loop
     * still returns to its caller */
    cpu->stats.insns++;
    if (cpu->nesting > 0) {
        int first = cpu->first_vec;
        if (first == EXCP_DF) {
            cpu->reset_pending = 1;
            cpu->nesting = 0;
            return;
        }
        if ((contributory(first) && contributory(vec)) ||
            (first == EXCP_PF && (contributory(vec) || vec == EXCP_PF))) {
            vec = EXCP_DF;
            err = 0;
        }
    }
    if (!cpu->exc_soft && has_error_code(vec) && err < 0) {
        err = 0;
    }
    if (cpu->exc_soft || !cpu->pe) {
        err = -1;
    }
    cpu->nesting++;
    cpu->first_vec = vec;
    ENV->rip = cpu->cur_rip;
    x86_do_interrupt(cpu, vec, cpu->exc_soft, err, cpu->exc_next_rip, 0);
    cpu->nesting = 0;
}
