/*
 * The software x86-64 CPU: architectural state as a plain struct, and the interface through
 * which the machine runs it.
 *
 *   machine (hw/)                      CPU (target/i386/)
 *   ─────────────                      ──────────────────
 *   x86_cpu_new(ram, bus, opaque) ──►  X86CPU { X86CPUState env; TLB; decoded-code cache }
 *   x86_cpu_exec(cpu, budget)     ──►  runs decoded blocks until budget / hlt / exit request
 *        ◄── bus->pio_read/pio_write   port I/O
 *        ◄── bus->mmio_read/write      guest physical accesses that are not RAM
 *        ◄── bus->irq_ack              when IF=1 and x86_cpu_set_irq(cpu, true) was called
 *   x86_cpu_get_state/set_state        the whole state, for migration and COLO checkpoints
 *
 * The CPU knows no device. Every RAM store goes through the memory layer's store path
 * (include/memory/ram.h), which marks the page dirty and invalidates decoded code.
 */
#ifndef TARGET_I386_CPU_H
#define TARGET_I386_CPU_H

#include <glib.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/ram.h"

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };
enum { R_ES, R_CS, R_SS, R_DS, R_FS, R_GS, R_LDTR, R_TR, SEG_COUNT };

/* EFLAGS bits */
#define CC_C      0x0001u
#define CC_P      0x0004u
#define CC_A      0x0010u
#define CC_Z      0x0040u
#define CC_S      0x0080u
#define CC_O      0x0800u
#define CC_ALL    (CC_C | CC_P | CC_A | CC_Z | CC_S | CC_O)
#define TF_MASK   0x00100u
#define IF_MASK   0x00200u
#define DF_MASK   0x00400u
#define IOPL_MASK 0x03000u
#define NT_MASK   0x04000u
#define RF_MASK   0x10000u
#define VM_MASK   0x20000u
#define AC_MASK   0x40000u
#define VIF_MASK  0x80000u
#define VIP_MASK  0x100000u
#define ID_MASK   0x200000u

/* Segment descriptor attribute bits, at their place in the descriptor's high dword. */
#define DESC_TYPE_SHIFT 8
#define DESC_S          (1u << 12)
#define DESC_DPL_SHIFT  13
#define DESC_P          (1u << 15)
#define DESC_L          (1u << 21)
#define DESC_B          (1u << 22)
#define DESC_G          (1u << 23)
#define DESC_CODE       (1u << 11)
#define DESC_RW         (1u << 9) /* readable code / writable data */
#define DESC_A          (1u << 8)

#define CR0_PE         (1u << 0)
#define CR0_MP         (1u << 1)
#define CR0_EM         (1u << 2)
#define CR0_TS         (1u << 3)
#define CR0_ET         (1u << 4)
#define CR0_NE         (1u << 5)
#define CR0_WP         (1u << 16)
#define CR0_AM         (1u << 18)
#define CR0_PG         (1u << 31)
#define CR4_PSE        (1u << 4)
#define CR4_PAE        (1u << 5)
#define CR4_PGE        (1u << 7)
#define CR4_OSFXSR     (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_FSGSBASE   (1u << 16)
#define EFER_SCE       (1u << 0)
#define EFER_LME       (1u << 8)
#define EFER_LMA       (1u << 10)
#define EFER_NXE       (1u << 11)

#define MSR_IA32_TSC          0x10
#define MSR_IA32_APICBASE     0x1b
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_PAT               0x277
#define MSR_EFER              0xc0000080
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_FMASK             0xc0000084
#define MSR_FSBASE            0xc0000100
#define MSR_GSBASE            0xc0000101
#define MSR_KERNELGSBASE      0xc0000102
#define MSR_TSC_AUX           0xc0000103

enum {
    EXCP_DE = 0,
    EXCP_DB,
    EXCP_NMI,
    EXCP_BP,
    EXCP_OF,
    EXCP_BR,
    EXCP_UD,
    EXCP_NM,
    EXCP_DF,
    EXCP_09,
    EXCP_TS,
    EXCP_NP,
    EXCP_SS,
    EXCP_GP,
    EXCP_PF,
    EXCP_0F,
    EXCP_MF,
    EXCP_AC,
    EXCP_MC,
    EXCP_XM,
};

/* Page-fault error code bits */
#define PF_P    1u
#define PF_W    2u
#define PF_U    4u
#define PF_RSVD 8u
#define PF_I    16u

typedef struct X86Segment {
    uint16_t selector;
    uint16_t pad0;
    uint32_t limit; /* byte granular, already expanded */
    uint64_t base;
    uint32_t flags; /* DESC_* attribute bits */
    uint32_t pad1;
} X86Segment;

typedef struct X86DescTable {
    uint64_t base;
    uint32_t limit;
    uint32_t pad;
} X86DescTable;

typedef union X86FpReg {
    long double d; /* host x87 80-bit format */
    struct {
        uint64_t mant;
        uint16_t exp;
        uint16_t pad[3];
    } raw;
} X86FpReg;

typedef union X86Xmm {
    uint8_t b[16];
    uint16_t w[8];
    uint32_t l[4];
    uint64_t q[2];
    float s[4];
    double d[2];
} X86Xmm;

/* Lazy flag operations: flags are derived from (cc_op, cc_size, cc_res, cc_src1, cc_src2). */
enum {
    CC_OP_EFLAGS = 0, /* eflags holds the arithmetic flags */
    CC_OP_ADD,
    CC_OP_ADC,
    CC_OP_SUB,
    CC_OP_SBB,
    CC_OP_LOGIC,
    CC_OP_INC,
    CC_OP_DEC,
    CC_OP_SHIFT, /* CF = cc_carry, OF = cc_src2, SZP from cc_res */
};

/*
 * Everything architectural. Plain data: x86_cpu_get_state() hands out a copy with the lazy
 * flags folded into eflags, x86_cpu_set_state() takes one back.
 */
typedef struct X86CPUState {
    uint64_t regs[16];
    uint64_t rip;
    uint64_t eflags;
    uint32_t cc_op, cc_size;
    uint64_t cc_res, cc_src1, cc_src2, cc_carry;

    X86Segment segs[SEG_COUNT];
    X86DescTable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t dr[8];
    uint64_t efer, star, lstar, cstar, fmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat, apic_base, tsc_offset, tsc_aux, misc_enable;

    /* x87 / SSE */
    X86FpReg st[8]; /* st[i] is physical register i; top is in fpstt */
    uint32_t fpstt;
    uint16_t fpuc, fpus; /* control word; status word without TOP */
    uint8_t fptags;      /* bit i set: physical register i empty */
    uint8_t pad2;
    uint16_t fpop;
    uint64_t fpip, fpdp;
    uint32_t mxcsr, pad3;
    X86Xmm xmm[16];

    /* pending events */
    uint32_t halted;
    uint32_t inhibit_irq; /* interrupt shadow after sti / mov ss */
    uint32_t nmi_pending;
    uint32_t pad4;
} X86CPUState;

/* What the machine gives the CPU to reach devices. Any callback may be NULL. */
typedef struct X86BusOps {
    uint32_t (*pio_read)(void *opaque, uint16_t port, int size);
    void (*pio_write)(void *opaque, uint16_t port, uint32_t val, int size);
    uint64_t (*mmio_read)(void *opaque, uint64_t gpa, int size);
    void (*mmio_write)(void *opaque, uint64_t gpa, uint64_t val, int size);
    /* The vector of the highest-priority pending external interrupt, acknowledged; -1: none */
    int (*irq_ack)(void *opaque);
    /* A write to IA32_APIC_BASE (its global enable bit gates the local APIC); may be NULL */
    void (*apic_base_write)(void *opaque, uint64_t val);
    /* The TSC's time base in ns, e.g. a clock a test controls; NULL: host monotonic time */
    uint64_t (*clock_ns)(void *opaque);
} X86BusOps;

/* Why x86_cpu_exec returned */
typedef enum {
    X86_EXIT_BUDGET,   /* instruction budget used up */
    X86_EXIT_HALTED,   /* hlt with nothing to wake it */
    X86_EXIT_REQUEST,  /* x86_cpu_exit_request() */
    X86_EXIT_RESET,    /* triple fault: the machine should reset */
    X86_EXIT_SHUTDOWN, /* reserved for the machine */
} X86ExitReason;

typedef struct X86CPU X86CPU;

X86CPU *x86_cpu_new(GuestRam *ram, const X86BusOps *bus, void *opaque);
void x86_cpu_free(X86CPU *cpu);
/* Power-on state: real mode, CS:IP = f000:fff0 */
void x86_cpu_reset(X86CPU *cpu);

/* Direct access to the live state; after changing control registers, segments or
 * paging structures through it call x86_cpu_state_changed(). */
X86CPUState *x86_cpu_env(X86CPU *cpu);
void x86_cpu_state_changed(X86CPU *cpu);
/* In the saved copy tsc_offset holds the guest's TSC at the time of the save; loading it
 * makes the TSC continue from there. */
void x86_cpu_get_state(X86CPU *cpu, X86CPUState *out);
void x86_cpu_set_state(X86CPU *cpu, const X86CPUState *in);
/* The same state field by field for a VMStateSet (opaque: the X86CPU); never the raw struct,
 * which has padding and host-format floats. */
struct VMStateDescription;
extern const struct VMStateDescription vmstate_x86_cpu;

/* Runs up to `budget` instructions. */
X86ExitReason x86_cpu_exec(X86CPU *cpu, uint64_t budget);
/* Thread-safe: make x86_cpu_exec return soon (X86_EXIT_REQUEST). */
void x86_cpu_exit_request(X86CPU *cpu);
/* Thread-safe: the machine's interrupt line (level). */
void x86_cpu_set_irq(X86CPU *cpu, bool level);
void x86_cpu_inject_nmi(X86CPU *cpu);
/* Whether an NMI, or an external interrupt with IF=1, would wake the CPU from hlt. */
bool x86_cpu_wakeup_pending(X86CPU *cpu);

uint64_t x86_cpu_icount(const X86CPU *cpu);
/* Why the whole TLB was flushed (X86CPUStats.tlb_flush_cause) */
typedef enum X86TlbFlushCause {
    X86_TLB_FLUSH_CR0,   /* PG, PE or WP changed */
    X86_TLB_FLUSH_CR4,   /* PAE, PSE or PGE changed */
    X86_TLB_FLUSH_EFER,  /* NXE changed */
    X86_TLB_FLUSH_STATE, /* reset, state load */
    X86_TLB_FLUSH_CAUSES
} X86TlbFlushCause;

/* How x86_cpu_exec's loop found the block it ran: a C link from the block before (made in
 * the current TLB epoch, or older and checked against the page's RAM offset), the block
 * table, decoded anew, an instruction across a page end, the decoded-code cache off. */
typedef enum {
    X86_TURN_LINKED,
    X86_TURN_RELINKED,
    X86_TURN_TABLE,
    X86_TURN_DECODED,
    X86_TURN_STRADDLE,
    X86_TURN_UNCACHED,
    X86_TURN_KINDS
} X86TurnKind;

/* Why a block ran interpreted with the translator on: it had not yet run JIT_HOT_RUNS
 * times, its first instruction is not translated, its code was made for the other TLB
 * privilege, its segments are not flat, or one instruction in an interrupt shadow. */
typedef enum {
    X86_INTERP_COLD,
    X86_INTERP_REFUSED,
    X86_INTERP_PRIV,
    X86_INTERP_MODE,
    X86_INTERP_SHADOW,
    X86_INTERP_KINDS
} X86InterpKind;

/* Statistics for queries */
typedef struct X86CPUStats {
    uint64_t insns, exceptions, interrupts, tb_translations, tb_flushes, tlb_flushes;
    uint64_t unimplemented;
    /* the software TLB: tlb_flushes (whole, globals included) by cause; CR3 writes, which
     * keep global entries, and the entries they kept; invlpg, and those of them that also
     * dropped a large page's entries; page walks (every miss that fills an entry, or faults) */
    uint64_t tlb_flush_cause[X86_TLB_FLUSH_CAUSES];
    uint64_t tlb_cr3_flushes, tlb_globals_kept;
    uint64_t tlb_page_flushes, tlb_large_page_flushes;
    uint64_t tlb_walks;
    /* the main loop's turns by how the block was found; of all turns, those with no block
     * before to link from, and of those the turns after a block that ended on tb_exit (sti,
     * a store into code, a mode change, a rep chunk), and those after a block (or its
     * untranslated tail) the interpreter ran: a translated exit never leads to nor follows
     * such a block in host code; blocks run interpreted, by why */
    uint64_t turns[X86_TURN_KINDS];
    uint64_t turns_unlinked, turns_after_tb_exit, turns_after_interp;
    uint64_t interp[X86_INTERP_KINDS];
    /* instructions across a page end that ended a block: run in it, and run from their slot
     * as the next page was not mapped as decoded (or had changed) */
    uint64_t xpage_runs, xpage_slow;
} X86CPUStats;
void x86_cpu_get_stats(const X86CPU *cpu, X86CPUStats *out);

/* CPUID advertises a local APIC only when the machine has one. */
void x86_cpu_set_apic_present(X86CPU *cpu, bool on);

/* Diagnostics on stderr for bringing guests up (`-d` style). */
#define X86_TRACE_EXCEPTIONS 1u /* every exception: vector, error code, rip, cr2, bytes */
void x86_cpu_set_trace(X86CPU *cpu, unsigned mask);

/*
 * The translator (`-accel tcg,jit=on`): decoded blocks of 64-bit code compiled to host code.
 * Off: every block is interpreted. Fails only when the code cache cannot be mapped.
 */
bool x86_cpu_set_jit(X86CPU *cpu, bool on, GError **errp);
bool x86_cpu_jit_enabled(const X86CPU *cpu);
typedef struct X86JitStats {
    uint64_t blocks;          /* blocks translated */
    uint64_t insns;           /* guest instructions in them */
    uint64_t refused;         /* blocks left to the interpreter (first instruction not handled) */
    uint64_t links;           /* exits patched to jump straight to the next block's code */
    uint64_t ret_sites_fixed; /* ret exits no longer relinked (JIT_RET_RELINKS targets seen) */
    uint64_t flushes;         /* code cache flushes (full) */
    uint64_t cache_used;      /* bytes of code in the cache now */
    uint64_t cache_size;
    uint64_t cache_populated; /* bytes of it mapped ahead of the code written (2 MiB steps) */
    /* exits that left translated code for the main loop and went on in translated code: to
     * a known target (not linked yet, or after a TLB flush), from a ret or indirect jmp/call */
    uint64_t exits_direct, exits_dynamic;
    uint64_t exits_checks; /* of them, exits linked to that block already (a leave check) */
    uint64_t jump_hits;    /* ret and indirect jmp/call targets found by the inline lookup */
    uint64_t jump_tlb;     /* of them, in a slot entered before the last TLB flush (kept: the
                            * target page's TLB entry was as then) */
    /* lookup misses of targets whose slot held them, made before a flush that dropped the
     * page's TLB entry (else the slot held another target or none) */
    uint64_t jump_stale, jump_other;
    /* of exits_checks, by what the main loop found: the interrupt line up with IF=0, up with
     * IF=1 (in a shadow, or the controller had no vector); none of them (budget, request) */
    uint64_t checks_irq_masked, checks_irq_open, checks_other;
    /* link patches (`links`): an exit's first; again after a TLB epoch change (by its cause:
     * whole flush, CR3 write, invlpg); a ret or indirect exit's new target */
    uint64_t links_first, links_epoch[3], links_retarget;
    /* SSE/SSE2/MMX instructions (x86_exec_sse's rows) that translated code ran through their
     * interpreter handler: not translated, or a slow path of one that is */
    uint64_t sse_handled;
    /* the other instructions translated code ran through their handler (K_INTERP, and the
     * slow path of a memory-destination ALU operation) */
    uint64_t handled;
} X86JitStats;
/* False (and zeros) when the translator is off. */
bool x86_cpu_get_jit_stats(const X86CPU *cpu, X86JitStats *out);
/* `info jit`: upstream's first lines with our counters. */
void x86_cpu_jit_info(X86CPU *cpu, GString *out);

/* Turns the decoded-code cache off (every instruction decoded each time), for testing. */
void x86_cpu_set_cache_enabled(X86CPU *cpu, bool on);

/* Puts the CPU in 64-bit mode with paging from `cr3`, flat segments at CPL `cpl`. */
void x86_cpu_setup_long_mode(X86CPU *cpu, uint64_t cr3, int cpl);
/* 32-bit flat protected mode, paging off (multiboot / PVH entry state). */
void x86_cpu_setup_flat32(X86CPU *cpu);

/* Appends the state as QEMU's "info registers" prints it. */
void x86_cpu_dump_state(X86CPU *cpu, GString *out);

/* Linear address translation with the current paging mode (no side effects); false: fault */
bool x86_cpu_translate(X86CPU *cpu, uint64_t la, bool write, uint64_t *gpa);

#endif
