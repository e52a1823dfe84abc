/*
 * The translator: a decoded block (TB) of 64-bit code, or of flat 32-bit protected-mode code
 * (x86_jit_mode_ok), becomes host x86-64 code.
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
 *   up to eight guest registers have a copy in host registers (callee-saved, or r9-r11, which
 *   je_call saves), written back before every exit and every helper that may fault (a loop's
 *   registers stay there from pass to pass); flags that only a fault or an exit could see are
 *   stored only on those paths (JitPend);
 * - memory goes through the software TLB inline (same tags, same addends) and calls
 *   x86_ld_slow / x86_st_slow on a miss, with cur_rip and rip set first, so a fault leaves the
 *   state as after the last retired instruction (the helper's siglongjmp unwinds the block,
 *   and the exec loop counts the jit_done instructions the slow path stored as retired);
 * - every store tests the page's state byte after the data store and calls
 *   x86_note_store_slow unless the page is just dirty; a store that hits a code page sets
 *   tb_exit, and the block ends after that instruction, as the interpreter's does (a load
 *   whose page walk sets an A/D bit in a code page is not checked: the block runs to its end);
 * - the block returns the number of instructions it retired; a taken branch ends it;
 * - a data-only instruction outside the inline subset (interp_ok) calls its interpreter
 *   handler with the state made exact first, as for a slow path, so the block goes on in host
 *   code after it; an indirect call or jmp does so too and leaves through a chained exit.
 * A block whose first instruction is outside the translated subset is not translated: the
 * interpreter runs it. Otherwise the longest translatable prefix is translated and the block
 * ends at the first instruction the translator does not handle.
 */
#include "target/i386/cpu-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/i386/jit-emit.h"
#include "target/i386/jit-internal.h"
#include "target/i386/optab.h"

/* ~1.9 KB of host code per block: 32 MiB held bench/net's working set for ~5 s, and each flush
 * sends every hot block back through 16 interpreted runs. Pages are touched only as used. */
#define JIT_CACHE_SIZE  (128u << 20)
#define JIT_BLOCK_SPACE (24u << 10) /* worst case for TB_MAX_INSNS instructions */
/* A ret site whose return address changed this many times (a function called from many
 * places) stays linked to its last target: every patch of live code costs the host a pipeline
 * flush, and each further miss leaves through the stub as it did. */
#define JIT_RET_RELINKS 16

/* fallback counters: one per opcode and ModRM.reg (a group's members apart) */
#define JIT_FALLBACK_KEYS (X86_OPTAB_SIZE * 8)
/* SSE handler counters: one per mandatory prefix (none 66 f3 f2), opcode after 0f and
 * operand (register, memory) */
#define JIT_SSE_KEYS (4 * 256 * 2)

struct X86Jit {
    int fd;
    uint8_t *rw, *rx;
    size_t size, used;
    size_t populated; /* bytes from the start mapped in both views (jit_populate_ahead) */
    uint32_t epoch;
    uint32_t entry_off; /* from a block's start to its chain entry (the same for every block) */
    X86JitStats stats;
    uint64_t fallback[JIT_FALLBACK_KEYS]; /* runs of the interpreter after or instead of code */
    /* per opcode, the ModRM.reg bits that name a group member (7) or none (0): counting a
     * fallback runs on every interpreted hot block, too often to compare the row's name */
    uint8_t group_reg[X86_OPTAB_SIZE];
    /* x86_exec_sse's rows that translated code ran through their handler (not translated, or
     * a slow path: a TLB miss, a page crossing, a fault): what jit-sse.c leaves to do */
    uint64_t sse_handled[JIT_SSE_KEYS];
    /* the other instructions translated code ran through their handler (K_INTERP), keyed as
     * fallback and then by operand (register, memory): the integer forms the translator
     * leaves to the interpreter, by how often */
    uint64_t handled[JIT_FALLBACK_KEYS * 2];
    /* QEMU_COLO_JIT_PERFMAP: /tmp/perf-PID.map (start size guest_PC_INSNS per block) and
     * /tmp/perf-PID.jitcode (the cache's bytes, at their offsets) for reading a profile */
    FILE *perf_map;
    int perf_code;
};

G_STATIC_ASSERT(sizeof(TLBEntry) == 32);

#define CPU_OFF(field) ((int32_t)offsetof(X86CPU, field))
#define REG_OFF(r)     (CPU_OFF(env.regs) + 8 * (r))

/* a group opcode: ModRM.reg picks the operation */
static bool is_group(unsigned op)
{
    const X86OpInfo *row = &x86_optab[op];
    return (row->flags & X86_OPF_MODRM) && row->name && g_str_has_prefix(row->name, "grp");
}

X86Jit *x86_jit_new(GError **errp)
{
    X86Jit *j = g_new0(X86Jit, 1);
    j->size = JIT_CACHE_SIZE;
    j->perf_code = -1;
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
    for (unsigned op = 0; op < X86_OPTAB_SIZE; op++) {
        j->group_reg[op] = is_group(op) ? 7 : 0;
    }
    if (g_getenv("QEMU_COLO_JIT_PERFMAP")) {
        g_autofree char *path = g_strdup_printf("/tmp/perf-%d.map", (int)getpid());
        g_autofree char *code = g_strdup_printf("/tmp/perf-%d.jitcode", (int)getpid());
        j->perf_map = fopen(path, "a");
        j->perf_code = open(code, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (!j->perf_map || j->perf_code < 0) {
            g_warning("translator: cannot write %s or %s: %s", path, code, g_strerror(errno));
        }
    }
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
    if (j->perf_map) {
        fclose(j->perf_map);
    }
    if (j->perf_code >= 0) {
        close(j->perf_code);
    }
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
    out->cache_populated = j->populated;
    out->sse_handled = 0;
    for (guint k = 0; k < JIT_SSE_KEYS; k++) {
        out->sse_handled += j->sse_handled[k];
    }
    out->handled = 0;
    for (guint k = 0; k < G_N_ELEMENTS(j->handled); k++) {
        out->handled += j->handled[k];
    }
}

void x86_jit_note_fallback(X86Jit *j, const X86Insn *in)
{
    unsigned op = in->op & (X86_OPTAB_SIZE - 1);
    j->fallback[op * 8 + (in->reg & j->group_reg[op])]++;
}

static gint cmp_fallback(gconstpointer a, gconstpointer b, gpointer data)
{
    const uint64_t *f = data;
    uint64_t x = f[*(const guint *)a], y = f[*(const guint *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

/* the keys of counts[0, n) that are not 0, the largest count first; *total = their sum */
static GArray *busiest_keys(const uint64_t *counts, guint n, uint64_t *total)
{
    GArray *keys = g_array_new(FALSE, FALSE, sizeof(guint));
    *total = 0;
    for (guint k = 0; k < n; k++) {
        if (counts[k]) {
            g_array_append_val(keys, k);
            *total += counts[k];
        }
    }
    g_array_sort_with_data(keys, cmp_fallback, (gpointer)counts);
    return keys;
}

/* the SSE forms translated code ran through their handler most often */
static void sse_handled_info(const X86Jit *j, GString *out)
{
    uint64_t total;
    g_autoptr(GArray) keys = busiest_keys(j->sse_handled, JIT_SSE_KEYS, &total);
    g_string_append_printf(out, "SSE handler-called in translated code %" PRIu64 "\n", total);
    for (guint i = 0; i < keys->len && i < 8; i++) {
        guint k = g_array_index(keys, guint, i);
        static const char *const pfx[] = {"", "66 ", "f3 ", "f2 "};
        g_string_append_printf(out, "  %s0f %02x %s %" PRIu64 "\n", pfx[k / 512], (k / 2) & 0xff,
                               k & 1 ? "mem" : "reg", j->sse_handled[k]);
    }
}

/*
 * The `limit` opcodes counted in counts most often, busiest first, under title: fallback's
 * keys, or (by_operand) those keys times two plus 1 for a memory operand, as handled's are.
 */
static void opcode_info(const uint64_t *counts, bool by_operand, guint limit, const char *title,
                        GString *out)
{
    uint64_t total;
    guint per_key = by_operand ? 2 : 1;
    g_autoptr(GArray) keys = busiest_keys(counts, JIT_FALLBACK_KEYS * per_key, &total);
    g_string_append_printf(out, "%s %" PRIu64 " (by opcode, busiest first)\n", title, total);
    for (guint i = 0; i < keys->len && i < limit; i++) {
        guint key = g_array_index(keys, guint, i), k = key / per_key, op = k / 8;
        const X86OpInfo *row = &x86_optab[op];
        static const char *const map[] = {"", "0f ", "0f 38 ", "0f 3a "};
        g_string_append_printf(out, "  %s%02x", map[op >> 8], op & 0xff);
        if (is_group(op)) {
            g_string_append_printf(out, " /%u", k & 7);
        }
        g_string_append_printf(out, " %-8s", row->name);
        if (by_operand && (row->flags & X86_OPF_MODRM)) {
            g_string_append_printf(out, " %s", key & 1 ? "mem" : "reg");
        }
        g_string_append_printf(out, " %" PRIu64 "\n", counts[key]);
    }
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
    g_string_append_printf(out,
                           "TB chained jumps    %" PRIu64 " (first %" PRIu64
                           "; again after a TLB flush: whole %" PRIu64 ", CR3 %" PRIu64
                           ", invlpg %" PRIu64 "; ret/indirect new target %" PRIu64 ")\n",
                           js.links, js.links_first, js.links_epoch[X86_EPOCH_WHOLE],
                           js.links_epoch[X86_EPOCH_CR3], js.links_epoch[X86_EPOCH_INVLPG],
                           js.links_retarget);
    g_string_append_printf(out,
                           "ret sites not relinked %" PRIu64 " (return address changed %d times)\n",
                           js.ret_sites_fixed, JIT_RET_RELINKS);
    g_string_append_printf(out,
                           "TB exits to main loop %" PRIu64 " direct, %" PRIu64
                           " ret/indirect (then on in translated code; %" PRIu64
                           " of them linked as they were: left for a leave check)\n",
                           js.exits_direct, js.exits_dynamic, js.exits_checks);
    g_string_append_printf(out,
                           "leave checks taken with the interrupt line up and IF=0 %" PRIu64
                           ", up and IF=1 %" PRIu64 ", down %" PRIu64 "\n",
                           js.checks_irq_masked, js.checks_irq_open, js.checks_other);
    g_string_append_printf(out,
                           "ret/indirect lookups %" PRIu64 " taken inline (%" PRIu64
                           " slots kept across a TLB flush by their TLB entry); missed %" PRIu64
                           " (slot flushed) %" PRIu64 " (slot empty or another target's)\n",
                           js.jump_hits, js.jump_tlb, js.jump_stale, js.jump_other);
    g_string_append_printf(out, "\nStatistics:\n");
    g_string_append_printf(out, "TB flush count      %" PRIu64 "\n", js.flushes);
    g_string_append_printf(out, "decoded blocks      %" PRIu64 "\n", cs.tb_translations);
    g_string_append_printf(out, "decode cache flushes %" PRIu64 "\n", cs.tb_flushes);
    x86_tlb_info(&cs, out);
    x86_dispatch_info(&cs, out);
    g_string_append_printf(out, "translator          %s\n",
                           on ? "on (the default)" : "off (-accel tcg,jit=off)");
    if (on) {
        opcode_info(cpu->jit->fallback, false, 12, "interpreted in hot code", out);
        /* 24: more than half of bench/net's calls were in forms below the busiest 12 */
        opcode_info(cpu->jit->handled, true, 24, "handler-called in translated code", out);
        sse_handled_info(cpu->jit, out);
    }
}

/* ---- what the translator handles ---- */

enum {
    K_NONE,
    K_MOV_RR,    /* 88 89 8a 8b, register operands */
    K_LOAD,      /* 8a 8b, memory source */
    K_STORE,     /* 88 89, memory destination */
    K_MOV_IMM,   /* b0+r, b8+r, c6/c7 /0 register */
    K_STORE_IMM, /* c6/c7 /0 memory */
    K_LEA,       /* 8d */
    K_ALU_RR,    /* add or and sub xor cmp between registers, byte or not */
    K_ALU_RM,    /* the same with a memory source */
    K_ALU_RI,    /* 80 81 83 with a register destination; 04 05 0c 0d ... 3c 3d */
    K_TEST_RR,   /* 84 85 between registers */
    K_PUSH,      /* 50+r */
    K_POP,       /* 58+r */
    K_JCC,       /* 70+cc, 0f 80+cc */
    K_JMP,       /* e9 eb */
    K_CALL,      /* e8 */
    K_RET,       /* c3 */
    K_NOP,       /* 90, 0f 1f */
    K_SHIFT_RI,  /* c1 d1 /4 /5 /7 (shl shr sar) on a register, count not 0 */
    K_TEST_RI,   /* f6 f7 /0 on a register; a8 a9 */
    K_MOVX,      /* 0f b6 b7 be bf (movzx movsx), register or memory source */
    K_ROT_RI,    /* c1 d1 /0 /1 (rol ror) on a register, count not 0 */
    K_INCDEC,    /* fe ff /0 /1 on a register; 40-4f in 32-bit code */
    K_IMUL,      /* 0f af, register or memory source */
    K_IMUL_I,    /* 69 6b, register or memory source */
    K_CMOV,      /* 0f 40+cc, register or memory source */
    K_SETCC,     /* 0f 90+cc on a register */
    K_MOVSXD,    /* 63 in 64-bit code, register or memory source */
    K_CMP_MEM,   /* 38 39 84 85 with a memory r/m; 80 81 83 /7, f6 f7 /0 on memory: a load only */
    K_NEG,       /* f6 f7 /3 on a register */
    K_ADC,       /* adc sbb between registers, with an immediate, or the al/eax/rax forms */
    K_NOT,       /* f6 f7 /2 on a register (no flags) */
    K_INTERP,    /* a data-only instruction run by its interpreter handler (interp_ok) */
    K_INDIRECT,  /* ff /2 /4: call or jmp through a register or memory (its handler), chained */
    K_SYS,       /* 9d 8e 0f 01 /7: popf, mov to sreg, swapgs by their handler; the block goes
                  * on when the state the code was made for still holds (jit_sys) */
    K_SSE,       /* the SSE/SSE2 moves and integer operations jit-sse.c emits */
    K_ALU_MEM,   /* add or and sub xor (00-31, 80 81 83), inc dec (fe ff /0 /1) on memory */
    K_SHIFT_CL,  /* d3 /4 /5 /7 (shl shr sar by cl) on a 32- or 64-bit register */
    K_CWDE,      /* 98: cwde, cdqe */
    K_CMPXCHG,   /* 0f b0 b1 on memory, with or without lock, any operand size */
    K_CLI_STI,   /* fa fb */
    K_PUSHF,     /* 9c with the stack's operand size */
    K_XADD,      /* 0f c0 c1 on memory, with or without lock */
    K_BSWAP,     /* 0f c8+r, 32 or 64 bits */
    K_PUSH_IMM,  /* 68 6a with the stack's operand size */
    K_PUSH_MEM,  /* ff /6 on memory, with the stack's operand size */
    K_FENCE,     /* 0f ae /5 /6 /7 register forms: lfence mfence sfence */
    K_MUL,       /* f7 /4 on a register: rdx:rax = rax * r, 32 or 64 bits */
    K_BT,        /* 0f a3 ab b3 bb on registers; 0f ba /4-/7 on a register or memory (lock) */
    K_MOV_SREG,  /* 8c to a register: the selector zero-extended (66: merged as a word) */
    K_DIV,       /* f7 /6 on a register: rdx:rax / r, 32 or 64 bits */
    K_BSF,       /* 0f bc bd: bsf, bsr of a register or memory, 32 or 64 bits */
    K_CLD,       /* fc fd: cld, std */
    K_XCHG,      /* 86 87 with memory: the host's xchg (atomic) */
};

/* add or adc sbb and sub xor cmp: the lazy-flags operation, or -1 (adc, sbb: not here) */
static const int alu_ccop[8] = {CC_OP_ADD,   CC_OP_LOGIC, -1,          -1,
                                CC_OP_LOGIC, CC_OP_SUB,   CC_OP_LOGIC, CC_OP_SUB};

/* the operand size: 1 for the byte rows of the opcode table */
static int osize(const X86Insn *in)
{
    return x86_optab[in->op].size == X86_SZ_B ? 1 : in->opsize;
}

/* c0 c1: the immediate, d0 d1: 1; masked as the CPU masks it */
static unsigned shift_count(const X86Insn *in)
{
    unsigned cnt = in->op == 0xd0 || in->op == 0xd1 ? 1 : (unsigned)in->imm;
    return cnt & (in->opsize == 8 ? 63 : 31);
}

static bool mem_ok(const X86Insn *in)
{
    if (in->mode == X86_MODE32) {
        return in->addrsize == 4; /* CS DS ES SS based at 0 (x86_jit_mode_ok), FS GS added */
    }
    return in->addrsize == 8 && (in->seg == X86_SEG_NONE || in->seg == R_FS || in->seg == R_GS);
}

/* the modes translated: 64-bit code, and 32-bit code under x86_jit_mode_ok's conditions */
static bool mode_ok(const X86Insn *in)
{
    return in->mode == X86_MODE64 || in->mode == X86_MODE32;
}

/* the instruction's immediate as an operand of `size` bytes (zero-extended to 64 bits) */
static uint64_t imm_sized(const X86Insn *in, int size)
{
    return size == 8 ? in->imm : in->imm & ((1ull << (size * 8)) - 1);
}

/* inc/dec of a register: fe ff /0 /1, or 40-4f outside 64-bit mode */
static bool incdec_short(const X86Insn *in)
{
    return in->op >= 0x40 && in->op <= 0x4f;
}

/* a register or a memory operand the translator can address */
static bool rm_ok(const X86Insn *in)
{
    return in->mod == 3 || mem_ok(in);
}

static int classify_inline(const X86Insn *in);

/*
 * Instructions that only compute on registers, flags and memory, never branch, change mode,
 * privilege or the TLB, nor touch I/O or interrupts: generated code calls their interpreter
 * handler (jit_interp) rather than leaving the block there. A rep string operation may restart
 * itself (rip back at the instruction, tb_exit set): the code leaves after it, as run_insns.
 */
static bool interp_ok(const X86Insn *in)
{
    int op = in->op, g = in->reg & 7;
    if (x86_optab[op].exec == x86_exec_sse) {
        return true; /* SSE and MMX: xmm/mm registers, memory, flags (#UD, #NM, #GP raised) */
    }
    if (op < 0x40) {
        return (op & 7) < 6; /* the eight ALU operations, any form, any prefix */
    }
    if (op == 0x63 && in->mode != X86_MODE64) {
        return false; /* arpl */
    }
    switch (op) {
    case 0x63:
    case 0x68 ... 0x6b: /* push imm, imul imm */
    case 0x80 ... 0x8b: /* group 1, test, xchg, mov */
    case 0x8d:
    case 0x90 ... 0x99: /* xchg with rax, cbw/cwde/cdqe, cwd/cdq/cqo */
    case 0x9c:          /* pushf */
    case 0xa4 ... 0xa5: /* movs */
    case 0xa8 ... 0xab: /* test, stos */
    case 0xb0 ... 0xbf:
    case 0xc0 ... 0xc1: /* group 2 */
    case 0xc9:          /* leave */
    case 0xd0 ... 0xd3:
    case 0xf6 ... 0xf7: /* group 3: test not neg mul imul div idiv */
    case 0x131:         /* rdtsc */
    case 0x140 ... 0x14f:
    case 0x190 ... 0x19f:
    case 0x1a3:
    case 0x1a4 ... 0x1a5: /* shld */
    case 0x1ab:
    case 0x1ac ... 0x1af: /* shrd, imul */
    case 0x1b0 ... 0x1b1: /* cmpxchg */
    case 0x1b3:
    case 0x1b6 ... 0x1b7:
    case 0x1ba ... 0x1bf: /* group 8, btc, bsf, bsr, movsx */
    case 0x1c0 ... 0x1c1: /* xadd */
    case 0x1c8 ... 0x1cf: /* bswap */
    case 0x11f:
        return true;
    case 0x8c:            /* mov r/m, sreg */
    case 0xfa ... 0xfb:   /* cli, sti (which sets tb_exit: its interrupt shadow) */
    case 0xfc ... 0xfd:   /* cld, std: the kernel's interrupt and exception entry starts with
                           * cld, which left that whole block interpreted */
    case 0x10d:           /* prefetch */
    case 0x118 ... 0x11e: /* hint nops */
    case 0x120:           /* mov from cr (#GP at CPL > 0) */
        return true;
    case 0x8f: /* pop r/m */
    case 0xc6:
    case 0xc7:
        return g == 0;
    case 0xfe:
        return g <= 1;
    case 0xff: /* inc, dec, push r/m (not the indirect branches) */
        return g <= 1 || g == 6;
    }
    return false;
}

/* swapgs (#GP at CPL > 0): it changes the GS base, which translated code reads from env */
static bool is_swapgs(const X86Insn *in)
{
    return in->op == 0x101 && in->mod == 3 && (in->reg & 7) == 7 && (in->rm & 7) == 0 &&
           in->mode == X86_MODE64;
}

static int classify(const X86Insn *in)
{
    int k = classify_inline(in);
    if (k == K_NONE && !in->bad && mode_ok(in)) {
        if (in->op == 0xff && ((in->reg & 7) == 2 || (in->reg & 7) == 4)) {
            return K_INDIRECT;
        }
        if (jit_sse_ok(in)) {
            return K_SSE;
        }
        if (interp_ok(in)) {
            return K_INTERP;
        }
        if (in->op == 0x9d || in->op == 0x8e || is_swapgs(in)) {
            return K_SYS;
        }
    }
    return k;
}

/* a 16-bit operand (66) in a translated mode, without lock or rep */
static bool word_ok(const X86Insn *in)
{
    return in->opsize == 2 && !in->bad && mode_ok(in) &&
           !(in->prefix & (PFX_LOCK | PFX_REPZ | PFX_REPNZ));
}

/* 66 89 and 66 c7 /0 to memory: a word store, the one 16-bit form translated (the kernel's
 * network headers: ports, lengths, checksums) */
static bool word_store(const X86Insn *in)
{
    return (in->op == 0x89 || (in->op == 0xc7 && (in->reg & 7) == 0)) && in->mod != 3 &&
           word_ok(in) && mem_ok(in);
}

/* 66 39, 66 85, 66 81/83 /7 and 66 f7 /0, on memory or a register: a word compare or test
 * (the lazy flags mask their operands and result by size; the host's operation is a word one
 * too, its operands zero-extended by ld_greg) */
static bool word_cmp(const X86Insn *in)
{
    int op = in->op, g = in->reg & 7;
    bool form = op == 0x39 || op == 0x85 || ((op == 0x81 || op == 0x83) && g == 7) ||
                (op == 0xf7 && g == 0);
    return form && word_ok(in) && (in->mod == 3 || mem_ok(in));
}

/* 66 add/or/and/sub/xor/cmp between registers or with an immediate (the 66 05-3d accumulator
 * forms and 66 a9 too), 66 89/8b between registers and 66 8b from memory, and since session 14
 * add/or/and/sub/xor/cmp from memory and add/or/and/sub/xor/inc/dec into it: word host
 * operations on operands ld_greg zero-extends, a result merged into the register's low word
 * (st_greg); K_NONE for any other form */
static int word_reg_form(const X86Insn *in)
{
    int op = in->op;
    if (!word_ok(in)) {
        return K_NONE;
    }
    if (op < 0x40 && (op & 7) < 6 && alu_ccop[op >> 3] >= 0) {
        if ((op & 7) == 5) {
            return K_ALU_RI;
        }
        if (!(op & 1) || (op & 7) >= 4) {
            return K_NONE;
        }
        if (in->mod == 3) {
            return K_ALU_RR;
        }
        if (!mem_ok(in)) {
            return K_NONE;
        }
        /* from memory into the register (the kernel's skb header offsets, 66 2b), or into
         * memory (66 39, cmp, is word_cmp's) */
        return op & 2 ? K_ALU_RM : (op >> 3) != 7 ? K_ALU_MEM : K_NONE;
    }
    switch (op) {
    case 0x81:
    case 0x83: /* on memory: the kernel's flag words (orw, andw); 66 81/83 /7: word_cmp */
        if (alu_ccop[in->reg & 7] < 0) {
            return K_NONE;
        }
        return in->mod == 3 ? K_ALU_RI : mem_ok(in) && (in->reg & 7) != 7 ? K_ALU_MEM : K_NONE;
    case 0xff:
        return in->mod != 3 && (in->reg & 7) <= 1 && mem_ok(in) ? K_ALU_MEM : K_NONE;
    case 0xa9:
        return K_TEST_RI;
    case 0x89:
        return in->mod == 3 ? K_MOV_RR : K_NONE;
    case 0x8b:
        return in->mod == 3 ? K_MOV_RR : mem_ok(in) ? K_LOAD : K_NONE;
    }
    return K_NONE;
}

/* the prefetches and hint nops (0f 18-1f, endbr64 among them; 0f 0d on memory): the opcode
 * table's hint_nop rows, which neither access memory nor fault, whatever the prefixes */
static bool hint_nop(const X86Insn *in)
{
    bool row = (in->op >= 0x118 && in->op <= 0x11f) || (in->op == 0x10d && in->mod != 3);
    return row && !in->bad && mode_ok(in) && !(in->prefix & PFX_LOCK);
}

/* cmpxchg or xadd with a memory operand: the host's locked instruction on the guest's RAM,
 * which keeps it atomic for the other writers of guest RAM (DMA workers, the main loop) with
 * or without the guest's lock; a word operand too */
static bool locked_rmw(const X86Insn *in)
{
    return (in->op == 0x1b0 || in->op == 0x1b1 || in->op == 0x1c0 || in->op == 0x1c1) &&
           in->mod != 3 && !in->bad && mode_ok(in) && !(in->prefix & (PFX_REPZ | PFX_REPNZ)) &&
           mem_ok(in);
}

/* bts btr btc on memory, with an immediate or a register bit offset, with or without lock:
 * the host's locked instruction, as locked_rmw's */
static bool locked_bt(const X86Insn *in)
{
    bool form = (in->op == 0x1ba && (in->reg & 7) >= 5) || in->op == 0x1ab || in->op == 0x1b3 ||
                in->op == 0x1bb;
    return form && in->mod != 3 && !in->bad && mode_ok(in) &&
           !(in->prefix & (PFX_REPZ | PFX_REPNZ | PFX_DATA)) && mem_ok(in);
}

/* lock add/or/and/sub/xor of memory (00-31, 80/81/83 but /2 /3 /7) and lock inc/dec (fe/ff
 * /0 /1), byte, dword or qword: K_ALU_MEM with the host's lock cmpxchg (the kernel's atomic
 * counters and flag words) */
static bool locked_alu(const X86Insn *in)
{
    int op = in->op, g = in->reg & 7;
    bool form = (op < 0x40 && (op & 7) < 2 && (op >> 3) != 7 && alu_ccop[op >> 3] >= 0) ||
                ((op == 0x80 || op == 0x81 || op == 0x83) && g != 7 && alu_ccop[g] >= 0) ||
                ((op == 0xfe || op == 0xff) && g <= 1);
    return form && (in->prefix & PFX_LOCK) && in->mod != 3 && !in->bad && mode_ok(in) &&
           !(in->prefix & (PFX_REPZ | PFX_REPNZ | PFX_DATA)) && mem_ok(in);
}

static int classify_inline(const X86Insn *in)
{
    int op = in->op;
    bool reg = in->mod == 3;
    int g = in->reg & 7;
    if (locked_bt(in)) {
        return K_BT;
    }
    if (op == 0x8c && reg && g <= 5 && !in->bad && mode_ok(in) &&
        !(in->prefix & (PFX_LOCK | PFX_REPZ | PFX_REPNZ))) {
        return K_MOV_SREG; /* 66 too: the word merged into the register */
    }
    if (locked_rmw(in)) {
        return in->op < 0x1c0 ? K_CMPXCHG : K_XADD;
    }
    if (locked_alu(in)) {
        return K_ALU_MEM;
    }
    if ((op == 0x1bc || op == 0x1bd) && !in->bad && mode_ok(in) && rm_ok(in) &&
        !(in->prefix & (PFX_LOCK | PFX_REPNZ | PFX_DATA))) {
        return K_BSF; /* f3 too: tzcnt and lzcnt are bsf and bsr without BMI1 and ABM */
    }
    if (op == 0x90 && in->prefix == PFX_REPZ && !(in->rex & REX_B) && !in->bad && mode_ok(in)) {
        return K_NOP; /* pause: a hint, which the interpreter also runs as a nop */
    }
    if (op == 0x90 && in->prefix == PFX_DATA && !(in->rex & REX_B) && !in->bad && mode_ok(in)) {
        return K_NOP; /* 66 90: xchg ax, ax, a two-byte nop */
    }
    if (word_store(in)) {
        return in->op == 0x89 ? K_STORE : K_STORE_IMM;
    }
    if (word_cmp(in)) {
        if (in->mod != 3) {
            return K_CMP_MEM;
        }
        return op == 0x85 ? K_TEST_RR : op == 0x39 ? K_ALU_RR : op == 0xf7 ? K_TEST_RI : K_ALU_RI;
    }
    if (hint_nop(in)) {
        return K_NOP;
    }
    if (word_reg_form(in) != K_NONE) {
        return word_reg_form(in);
    }
    if (in->bad || !mode_ok(in) || (in->prefix & (PFX_LOCK | PFX_REPZ | PFX_REPNZ | PFX_DATA))) {
        return K_NONE;
    }
    if (incdec_short(in)) {
        return in->mode == X86_MODE32 ? K_INCDEC : K_NONE;
    }
    if (op < 0x40 && (op & 7) < 6 && ((op >> 3) == 2 || (op >> 3) == 3)) {
        return (op & 7) >= 4 || reg ? K_ADC : K_NONE;
    }
    if (op < 0x40 && (op & 7) < 6 && alu_ccop[op >> 3] >= 0) {
        if ((op & 7) >= 4) {
            return K_ALU_RI; /* al/eax/rax, immediate */
        }
        if (reg) {
            return K_ALU_RR;
        }
        if (!mem_ok(in)) {
            return K_NONE;
        }
        return op & 2 ? K_ALU_RM : (op >> 3) == 7 ? K_CMP_MEM : K_ALU_MEM;
    }
    switch (op) {
    case 0x88 ... 0x8b:
        if (reg) {
            return K_MOV_RR;
        }
        return mem_ok(in) ? (op & 2 ? K_LOAD : K_STORE) : K_NONE;
    case 0xb0 ... 0xbf:
        return K_MOV_IMM;
    case 0xc6:
    case 0xc7:
        if (g != 0) {
            return K_NONE;
        }
        return reg ? K_MOV_IMM : mem_ok(in) ? K_STORE_IMM : K_NONE;
    case 0x8d:
        return !reg && (in->addrsize == 8 || (in->mode == X86_MODE32 && in->addrsize == 4))
                   ? K_LEA
                   : K_NONE;
    case 0x80:
    case 0x81:
    case 0x83:
        if (reg) {
            return alu_ccop[g] >= 0 ? K_ALU_RI : K_ADC;
        }
        if (!mem_ok(in)) {
            return K_NONE;
        }
        return g == 7 ? K_CMP_MEM : alu_ccop[g] >= 0 ? K_ALU_MEM : K_NONE;
    case 0x84:
    case 0x85:
        return reg ? K_TEST_RR : mem_ok(in) ? K_CMP_MEM : K_NONE;
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
    case 0xc0: /* a byte: shifts by 1-7 (the lazy flags of a longer one differ) */
    case 0xd0:
        return reg && shift_count(in) && shift_count(in) < 8 && (g == 4 || g == 5 || g == 7)
                   ? K_SHIFT_RI
                   : K_NONE;
    case 0xc1:
    case 0xd1:
        if (!reg || !shift_count(in)) {
            return K_NONE;
        }
        return g == 4 || g == 5 || g == 7 ? K_SHIFT_RI : g <= 1 ? K_ROT_RI : K_NONE;
    case 0xd3:
        return reg && (g == 4 || g == 5 || g == 7) ? K_SHIFT_CL : K_NONE;
    case 0x98:
        return in->opsize >= 4 ? K_CWDE : K_NONE;
    case 0xfa:
    case 0xfb:
        return K_CLI_STI;
    case 0xfc:
    case 0xfd:
        return K_CLD;
    case 0x86:
    case 0x87:
        return !reg && mem_ok(in) ? K_XCHG : K_NONE;
    case 0x9c: /* no 66 (above): the stack's size, pushfq in 64-bit code, pushfd in 32-bit */
        return K_PUSHF;
    case 0x68:
    case 0x6a:
        return K_PUSH_IMM;
    case 0x1c8 ... 0x1cf:
        return K_BSWAP;
    case 0xf6:
    case 0xf7:
        if (op == 0xf7 && (g == 4 || g == 6) && reg) {
            return g == 4 ? K_MUL : K_DIV;
        }
        if (g == 2 || g == 3) {
            return !reg ? K_NONE : g == 2 ? K_NOT : K_NEG;
        }
        return g != 0 ? K_NONE : reg ? K_TEST_RI : mem_ok(in) ? K_CMP_MEM : K_NONE;
    case 0xa8:
    case 0xa9:
        return K_TEST_RI;
    case 0xfe:
    case 0xff:
        if (op == 0xff && g == 6 && !reg && mem_ok(in)) {
            return K_PUSH_MEM;
        }
        if (g > 1) {
            return K_NONE;
        }
        return reg ? K_INCDEC : mem_ok(in) ? K_ALU_MEM : K_NONE;
    case 0x1ae:
        return reg && g >= 5 ? K_FENCE : K_NONE;
    case 0x1a3:
    case 0x1ab:
    case 0x1b3:
    case 0x1bb: /* a register bit offset on memory moves the address (emit_bt) */
        return rm_ok(in) ? K_BT : K_NONE;

    case 0x1ba:
        return g >= 4 && rm_ok(in) ? K_BT : K_NONE;
    case 0x1af:
        return rm_ok(in) ? K_IMUL : K_NONE;
    case 0x69:
    case 0x6b:
        return rm_ok(in) ? K_IMUL_I : K_NONE;
    case 0x140 ... 0x14f:
        return rm_ok(in) ? K_CMOV : K_NONE;
    case 0x190 ... 0x19f:
        return reg ? K_SETCC : K_NONE;
    case 0x63:
        return rm_ok(in) && in->mode == X86_MODE64 ? K_MOVSXD : K_NONE;
    case 0x1b6:
    case 0x1b7:
    case 0x1be:
    case 0x1bf:
        return rm_ok(in) ? K_MOVX : K_NONE;
    }
    return K_NONE;
}

/*
 * Flags liveness over the translated prefix. Before an instruction that reads the flags, may
 * fault or may leave the block they must be exact (in the lazy fields); an instruction that
 * overwrites them all without reading them, and cannot fault, makes them dead before it. An
 * instruction whose flags are dead after it does not store them. Flags that only a fault or
 * an exit can see before they are overwritten (soft) may be kept pending: stored in the slow
 * paths and exits that come before the overwrite, not on the straight path (JitPend).
 */
enum {
    FX_OPAQUE,    /* may read the lazy fields (a helper, the interpreter) */
    FX_NONE,      /* neither reads nor writes them, cannot fault */
    FX_KILL,      /* overwrites them all, cannot fault */
    FX_PARTIAL,   /* overwrites some (rol/ror, inc/dec), reading the rest when live */
    FX_LEAVE,     /* may fault or leave the block, reads none of them */
    FX_LOAD_KILL, /* a load that may fault, then overwrites them all */
};

/* the flags after an instruction: overwritten unread, seen only by a fault or an exit, read */
enum { FS_DEAD, FS_SOFT, FS_LIVE };

/* What the host's flags hold: nothing of the guest's, all its arithmetic flags, all but CF
 * (after inc/dec, which leave the host's CF as it was), or ZF, SF and PF alone (a compare of
 * the lazy result with 0 after an add, sub, inc or dec on memory: emit_alu_mem) */
enum { FL_NONE, FL_ALL, FL_NOCF, FL_ZSP };

/* the host's flags (FL_*) answer condition cc as the guest's would */
static bool host_answers(int flags, int cc)
{
    int t = cc >> 1; /* 0 o, 1 b, 2 e, 3 be, 4 s, 5 p, 6 l, 7 le */
    return flags == FL_ALL || (flags == FL_NOCF && t != 1 && t != 3) ||
           (flags == FL_ZSP && (t == 2 || t == 4 || t == 5));
}

/*
 * K_ALU_MEM's dirty check overwrites the host's flags after the operation. When the next
 * instruction reads a condition from the host's flags, a compare of cc_res (which every path,
 * the handler's too, leaves as the result) with 0 brings back ZF, SF and PF, and for and/or/
 * xor all of them (CF and OF are 0): one instruction where x86_cond's call took a dozen.
 * next: the instruction after in (NULL at the prefix's end). Returns FL_* after the compare,
 * FL_NONE when no compare is worth it.
 */
static int alu_mem_host_flags(const X86Insn *in, const X86Insn *next, int next_kind)
{
    bool incdec = in->op == 0xfe || in->op == 0xff;
    int aop = in->op < 0x40 ? in->op >> 3 : in->reg & 7;
    int fl = !incdec && (aop == 1 || aop == 4 || aop == 6) ? FL_ALL : FL_ZSP;
    if (!next || !(next_kind == K_JCC ||
                   ((next_kind == K_SETCC || next_kind == K_CMOV) && next->mod == 3))) {
        return FL_NONE;
    }
    return host_answers(fl, next->op & 15) ? fl : FL_NONE;
}

/*
 * What the host's flags hold after instruction i, given what they held before: as emit_insn
 * leaves JitCtx.flags, or less (FL_NONE when unsure), never more.
 */
static int host_flags_after(const X86Insn *in, int kind, int before, const X86Insn *next,
                            int next_kind)
{
    switch (kind) {
    case K_ALU_MEM:
        return alu_mem_host_flags(in, next, next_kind);
    case K_MOV_RR:
    case K_MOV_IMM:
    case K_LEA:
    case K_NOP:
    case K_NOT:
    case K_CWDE:
    case K_BSWAP:
    case K_FENCE:
    case K_MOV_SREG:
        return before;
    case K_MOVX:
    case K_MOVSXD:
        return in->mod == 3 ? before : FL_NONE;
    case K_ALU_RR:
    case K_ALU_RM:
    case K_ALU_RI:
    case K_TEST_RR:
    case K_TEST_RI:
    case K_CMP_MEM:
    case K_NEG:
    case K_ADC:
        return FL_ALL;
    case K_CMOV:
        return in->mod == 3 && host_answers(before, in->op & 15) ? before : FL_NONE;
    case K_SETCC:
    case K_JCC:
        return host_answers(before, in->op & 15) ? before : FL_NONE;
    }
    return FL_NONE;
}

/* host: the host's flags before the instruction (a reader answered by them needs no lazy
 * fields) */
static int flags_effect(const X86Insn *in, int kind, int host)
{
    switch (kind) {
    case K_CMOV: /* register source: reads the host's flags, changes nothing, cannot fault */
    case K_SETCC:
        return (in->mod == 3 && host_answers(host, in->op & 15)) ? FX_NONE : FX_OPAQUE;
    case K_MOV_RR:
    case K_MOV_IMM:
    case K_LEA:
    case K_NOP:
    case K_NOT:
    case K_CWDE:
    case K_BSWAP:
    case K_FENCE:
    case K_MOV_SREG:
    case K_CLD: /* DF is no lazy flag; the host's flags change (host_flags_after) */
        return FX_NONE;
    case K_MOVX:
    case K_MOVSXD:
        return in->mod == 3 ? FX_NONE : FX_LEAVE;
    case K_ALU_RR:
    case K_ALU_RI:
    case K_TEST_RR:
    case K_TEST_RI:
    case K_SHIFT_RI: /* count not 0 */
    case K_NEG:
    case K_MUL:
        return FX_KILL;
    case K_IMUL:
    case K_IMUL_I:
    case K_BSF: /* all of them, eagerly, none read */
        return in->mod == 3 ? FX_KILL : FX_LOAD_KILL;
    case K_ALU_RM:
    case K_CMP_MEM:
    case K_CMPXCHG: /* its handler's path stores pending flags before anything runs */
    case K_XADD:
        return FX_LOAD_KILL;
    case K_ALU_MEM: /* inc/dec keep CF, from the lazy fields made exact before (it may fault) */
        return in->op == 0xfe || in->op == 0xff ? FX_OPAQUE : FX_LOAD_KILL;
    case K_SHIFT_CL: /* a count of 0 keeps them all: live after, the handler computes them */
    case K_ROT_RI:   /* CF and OF, merged with the rest only when they are live */
    case K_INCDEC:   /* all but CF, which it reads only when they are live */
        return FX_PARTIAL;
    case K_BT: /* CF, merged with the rest when they are live; on memory it may fault */
        return in->mod == 3 ? FX_PARTIAL : FX_OPAQUE;
    case K_LOAD:
    case K_STORE:
    case K_STORE_IMM:
    case K_PUSH:
    case K_PUSH_IMM:
    case K_PUSH_MEM:
    case K_POP:
    case K_JMP:
    case K_CALL:
    case K_RET:
    case K_SSE: /* may fault (its slow path stores pending flags), no flags */
    case K_XCHG:
    case K_DIV:     /* #DE by its handler, out of line; the flags stay */
    case K_CLI_STI: /* #GP by its handler, out of line; IF is not one of the lazy flags */
        return FX_LEAVE;
    case K_JCC: /* reads the host's flags when they answer it, else x86_cond's lazy fields */
        return host_answers(host, in->op & 15) ? FX_LEAVE : FX_OPAQUE;
    }
    return FX_OPAQUE;
}

/*
 * Per instruction i: fs[i] (FS_*), what becomes of the flags it sets; reads[i], the lazy fields
 * must be exact before it; kills[i], the flags before it are never seen once it starts
 * (KILL_BEFORE) or once it has run (KILL_AFTER: a load that may fault comes first). Returns
 * the state of the flags at the block's start (what a loop's back edge must leave there).
 */
enum { KILL_NONE, KILL_BEFORE, KILL_AFTER };
static int flags_liveness(const X86Insn *insns, const int *kinds, uint32_t n, bool last_leaves,
                          uint8_t *fs, bool *reads, uint8_t *kills)
{
    int host[TB_MAX_INSNS]; /* the host's flags before each instruction */
    int fl = FL_NONE;       /* nothing at the block's entry */
    for (uint32_t i = 0; i < n; i++) {
        host[i] = fl;
        fl = host_flags_after(&insns[i], kinds[i], fl, i + 1 < n ? &insns[i + 1] : NULL,
                              i + 1 < n ? kinds[i + 1] : K_NONE);
    }
    int st = FS_SOFT; /* the block's exit stores them for the interpreter or the next block */
    for (uint32_t i = n; i-- > 0;) {
        fs[i] = st;
        int fx = last_leaves && i + 1 == n ? FX_OPAQUE : flags_effect(&insns[i], kinds[i], host[i]);
        reads[i] = fx == FX_OPAQUE || (fx == FX_PARTIAL && st != FS_DEAD);
        kills[i] = fx == FX_KILL || (fx == FX_PARTIAL && st == FS_DEAD) ? KILL_BEFORE
                   : fx == FX_LOAD_KILL                                 ? KILL_AFTER
                                                                        : KILL_NONE;
        switch (fx) {
        case FX_OPAQUE:
            st = FS_LIVE;
            break;
        case FX_KILL:
            st = FS_DEAD;
            break;
        case FX_LOAD_KILL:
            st = FS_SOFT;
            break;
        case FX_LEAVE:
            st = MAX(st, FS_SOFT);
            break;
        case FX_PARTIAL:
            st = st == FS_DEAD ? FS_DEAD : FS_LIVE;
            break;
        }
    }
    return st;
}

/* ---- emission ---- */

/* guest registers with a copy in a host register at once (slot_reg) */
#define JIT_SLOTS 8

/*
 * Soft flags kept pending: an ALU operation on the copies (aop: x86's /digit, 8 test) whose
 * lazy fields are stored only where something may see them before the next instruction that
 * overwrites them: an exit, a slow path's helper, or a write to hd or hs (the copies they are
 * computed from: the first operand, or the result when the operation wrote it in place; the
 * second operand or the immediate).
 */
typedef struct JitPend {
    bool on;
    int8_t aop, size, hd, hs; /* hs -1: imm */
    uint64_t imm;
} JitPend;

/* a memory access's slow path: where it branches from, and where it rejoins the block */
enum {
    COLD_LOAD,
    COLD_STORE,
    COLD_MARK,
    COLD_EXIT,
    COLD_STALE,
    COLD_HANDLER,
    COLD_XPAGE,
    COLD_EMITTED
};
typedef struct JitCold {
    int kind, size;
    uint64_t rip, next; /* the instruction, for a fault's state */
    uint32_t done;      /* and the block's instructions before it (not counted yet) */
    uint8_t *from, *resume;
    int8_t held[JIT_SLOTS]; /* the register copies at the branch, stored before a helper */
    uint8_t dirty;
    /* a slow path that rejoins where its instruction's tb_exit check would be: 1 + the index
     * of the COLD_EXIT that its helper's return checks tb_exit for (0: none) */
    uint16_t exit_at;
    int8_t sp_delta; /* a push's store: rsp's copy moved by this after the helper (4: wrapped) */
    int8_t load_to;  /* COLD_LOAD: the host register the value goes to (rax: left there) */
    JitPend pend;    /* flags pending at the branch, stored before a helper that may fault */
    const X86Insn *insn; /* COLD_HANDLER: the instruction whose handler runs */
} JitCold;

typedef struct JitCtx {
    JitEmit e;
    X86CPU *cpu;
    const TB *tb;
    int user;        /* TLB privilege the block was translated for */
    uint64_t rip;    /* start of the instruction being translated */
    uint64_t next;   /* the instruction after it */
    uint32_t done;   /* instructions before it in the block */
    int flags;       /* FL_*: what the host's flags are */
    bool dead;       /* the flags this instruction sets are overwritten unread (flags_liveness) */
    bool soft;       /* or seen only by a fault or an exit before that */
    bool entry_live; /* the flags at the block's start may be seen: a back edge stores them */
    JitPend pend;    /* the soft flags of an earlier instruction, not stored yet */
    bool pend_made;  /* the instruction being translated made c->pend */
    bool load_kills; /* and overwrites the flags once its load is done (KILL_AFTER) */
    uint8_t *top;    /* the chain entry */
    /* a block that loops to its own start: the registers loaded into the slots after the
     * chain entry's check, and where its back edge jumps (they stay in the host registers) */
    int8_t entry_held[JIT_SLOTS];
    uint8_t *loop_top;
    uint8_t *rw_base, *rx_base; /* the cache's two mappings */
    /* guest registers with a copy in a callee-saved host register (write-back: a written copy
     * is dirty until stored to X86CPUState, which every exit, every helper that may fault and
     * every direct memory access to the register does first; empty at the chain entry) */
    int8_t slot_of[16];     /* guest register -> slot, or -1 */
    int8_t held[JIT_SLOTS]; /* slot -> guest register, or -1 */
    uint8_t dirty;          /* slots whose copy is newer than X86CPUState */
    uint8_t victim;         /* the slot to take next */
    /* rax holds guest register rax_reg (all 64 bits) at rax_at, where st_reg left it: a load
     * of it right there, no jump landing in between, is skipped */
    int rax_reg;
    uint8_t *rax_at;
    JitCold cold[4 * TB_MAX_INSNS]; /* slow paths and side exits to emit after the block */
    unsigned ncold;
    unsigned insn_cold; /* ncold when the instruction being translated began */
    /* K_INTERP: the instructions whose handlers the code calls, copied after the block (the
     * decoded pool is recycled while code may live on), and their address's patch point */
    const X86Insn *interp[3 * TB_MAX_INSNS]; /* and COLD_HANDLER's: <= 2 + 2 per insn */
    uint8_t *interp_imm[3 * TB_MAX_INSNS];
    unsigned ninterp;
    bool sse_checked; /* jit-sse.c's mode check is on every path to here */
    bool shadow_next; /* the next instruction is translated here and is no branch */
    bool shadow_open; /* an sti's shadow covers the next instruction: clear it after that */
    /* the next instruction translated here (NULL: none) and its kind */
    const X86Insn *after;
    int after_kind;
} JitCtx;

/* the host registers of the slots: callee-saved, or r9-r11, which je_call saves, so helper
 * calls keep them (rax, rcx, rdx, rsi, rdi and r8 are the scratch and argument registers) */
static const int slot_reg[JIT_SLOTS] = {H_RBP, H_R12, H_R13, H_R14, H_R15, H_R9, H_R10, H_R11};

/* the frame: rbx rbp r12-r15 saved, then [rsp] the TLB epoch at entry, [rsp + 8] scratch,
 * [rsp + 16] nonzero once a slow path called a helper (which may have flushed the TLB, set
 * tb_exit or changed a code page): a loop's back edge looks at those only then. 24 bytes keep
 * the stack 16-byte aligned for the helpers. Chained blocks share the frame. */
#define FRAME_EPOCH 0
#define FRAME_TMP   8
#define FRAME_SLOW  16
#define FRAME_SIZE  24
static const int saved_regs[6] = {H_RBX, H_RBP, H_R12, H_R13, H_R14, H_R15};

static void emit_cc_op(JitEmit *e, uint32_t op, int size);

/* stores pending flags p to the lazy fields as emit_alu would have (clobbers rax, rdx) */
static void emit_pend_store(JitEmit *e, const JitPend *p)
{
    int sz = p->size;
    if (p->hs >= 0) {
        je_mov_rr(e, sz, H_RDX, p->hs);
    } else {
        je_mov_imm(e, H_RDX, p->imm);
    }
    if (sz == 1) { /* a byte test with an immediate: movzx eax, the copy's low byte */
        je_rex(e, false, H_RAX, 0, p->hd, true);
        je_byte(e, 0x0f);
        je_byte(e, 0xb6);
        je_byte(e, 0xc0 | (p->hd & 7));
    } else {
        je_mov_rr(e, sz, H_RAX, p->hd);
    }
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RDX);
    int op = CC_OP_LOGIC;
    switch (p->aop) {
    case 7: /* cmp, test: hd is the first operand */
    case 8:
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
        je_alu_rr(e, sz, p->aop == 7 ? 5 : 4, H_RAX, H_RDX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        op = p->aop == 7 ? CC_OP_SUB : CC_OP_LOGIC;
        break;
    default: /* in place: hd is the result; the first operand is computed back from it */
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        if (p->aop == 0 || p->aop == 5 || p->aop == 6) { /* - (add), + (sub), ^ (xor) */
            je_alu_rr(e, sz, p->aop == 0 ? 5 : p->aop == 5 ? 0 : 6, H_RAX, H_RDX);
            op = p->aop == 0 ? CC_OP_ADD : p->aop == 5 ? CC_OP_SUB : CC_OP_LOGIC;
        } /* or, and: CC_OP_LOGIC reads the result alone */
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
        break;
    }
    emit_cc_op(e, op, sz);
}

/* pending flags stored now, keeping everything else as it was (this may come in the middle of
 * an instruction's code, with values in rax or rdx and the host's flags answering a jcc) */
static void pend_flush(JitCtx *c)
{
    if (c->pend.on) {
        JitEmit *e = &c->e;
        je_byte(e, 0x9c); /* pushfq */
        je_push(e, H_RAX);
        je_push(e, H_RDX);
        emit_pend_store(e, &c->pend);
        je_pop(e, H_RDX);
        je_pop(e, H_RAX);
        je_byte(e, 0x9d); /* popfq */
        c->pend.on = false;
    }
}

/* host register h is about to be written: pending flags computed from it are stored first */
static void pend_guard(JitCtx *c, int h)
{
    if (c->pend.on && (c->pend.hd == h || c->pend.hs == h)) {
        pend_flush(c);
    }
}

/* an exit or a helper that may read the lazy fields: pending flags stored on its path only
 * (the straight path goes on with them pending) */
static void pend_store_here(JitCtx *c)
{
    if (c->pend.on) {
        emit_pend_store(&c->e, &c->pend);
    }
}

static void cache_reset(JitCtx *c)
{
    memset(c->slot_of, -1, sizeof(c->slot_of));
    memset(c->held, -1, sizeof(c->held));
    c->dirty = 0;
    c->victim = 0;
}

/* stores the dirty copies among `held` to X86CPUState (moves only: the host's flags stay) */
static void emit_write_back(JitEmit *e, const int8_t *held, uint8_t dirty)
{
    for (int s = 0; s < (int)G_N_ELEMENTS(slot_reg); s++) {
        if (dirty & (1u << s)) {
            je_store(e, 8, H_RBX, REG_OFF(held[s]), slot_reg[s]);
        }
    }
}

/* guest register r is current in X86CPUState (its copy, if any, stays) */
static void cache_clean(JitCtx *c, int r)
{
    int s = c->slot_of[r];
    if (s >= 0 && (c->dirty & (1u << s))) {
        je_store(&c->e, 8, H_RBX, REG_OFF(r), slot_reg[s]);
        c->dirty &= ~(1u << s);
    }
}

/* before guest register r is changed in X86CPUState directly: written back, copy dropped */
static void cache_drop(JitCtx *c, int r)
{
    cache_clean(c, r);
    if (c->slot_of[r] >= 0) {
        c->held[c->slot_of[r]] = -1;
        c->slot_of[r] = -1;
    }
}

/* the slot's host register for guest register r, taking one when it has none (not one of
 * the slots in the mask `keep`: another operand of the same instruction) */
static int cache_take_keep(JitCtx *c, int r, unsigned keep)
{
    if (c->slot_of[r] < 0) {
        int s = c->victim;
        while (keep & (1u << s)) {
            s = (s + 1) % G_N_ELEMENTS(slot_reg);
        }
        c->victim = (s + 1) % G_N_ELEMENTS(slot_reg);
        pend_guard(c, slot_reg[s]);
        if (c->held[s] >= 0) {
            cache_clean(c, c->held[s]);
            c->slot_of[c->held[s]] = -1;
        }
        c->held[s] = r;
        c->slot_of[r] = s;
    }
    return slot_reg[c->slot_of[r]];
}

static int cache_take(JitCtx *c, int r)
{
    return cache_take_keep(c, r, 0);
}

/* the host register holding guest register r's copy, loaded when it has none */
static int slot_read(JitCtx *c, int r, unsigned keep)
{
    if (c->slot_of[r] < 0) {
        je_load(&c->e, 8, cache_take_keep(c, r, keep), H_RBX, REG_OFF(r));
    }
    return slot_reg[c->slot_of[r]];
}

/* the mask of the slot holding guest register r (0: none) */
static unsigned slot_bit(const JitCtx *c, int r)
{
    return c->slot_of[r] >= 0 ? 1u << c->slot_of[r] : 0;
}

/* the copy of guest register r (which has one) is about to be written in place */
static void slot_written(JitCtx *c, int r)
{
    pend_guard(c, slot_reg[c->slot_of[r]]);
    c->dirty |= 1u << c->slot_of[r];
}

/* host h = guest register r (size 4: zero-extended) */
static void ld_reg(JitCtx *c, int h, int r, int size)
{
    if (h == H_RAX && size == 8 && r == c->rax_reg && c->rax_at == c->e.p && c->e.label != c->e.p) {
        return;
    }
    if (c->slot_of[r] < 0) {
        je_load(&c->e, 8, cache_take(c, r), H_RBX, REG_OFF(r));
    }
    je_mov_rr(&c->e, size, h, slot_reg[c->slot_of[r]]);
}

/* guest register r = host h (all 64 bits), in its copy, stored to memory later */
static void st_reg(JitCtx *c, int r, int h)
{
    int copy = cache_take(c, r);
    pend_guard(c, copy);
    je_mov_rr(&c->e, 8, copy, h);
    c->dirty |= 1u << c->slot_of[r];
    if (h == H_RAX) {
        c->rax_reg = r;
        c->rax_at = c->e.p;
    }
}

static void emit_exit_imm(JitCtx *c, uint64_t rip, uint32_t count);

/*
 * The frame, then the chain entry, where a loop's back edge and other blocks' chained exits
 * come in (rdx: the exit's JitLinkRec, or 0): it checks that the page still holds the code
 * this block was made from.
 */
static void add_cold(JitCtx *c, int kind, int size, uint8_t *from);

/* compares the block's page's code generation with the one it was made from (eax, flags) */
static void emit_gen_cmp(JitCtx *c)
{
    const GuestRam *ram = c->cpu->ram;
    je_load_eax_abs(&c->e, (uint64_t)(uintptr_t)&ram->code_gen[c->tb->ram_off >> GUEST_PAGE_BITS]);
    je_alu_ri(&c->e, 4, 7, H_RAX, (int32_t)c->tb->gen);
}

static void emit_prologue(JitCtx *c)
{
    JitEmit *e = &c->e;
    for (size_t k = 0; k < G_N_ELEMENTS(saved_regs); k++) {
        je_push(e, saved_regs[k]);
    }
    je_mov_rr(e, 8, H_RBX, H_RDI);
    je_alu_ri(e, 8, 5, H_RSP, FRAME_SIZE);
    je_load(e, 8, H_RAX, H_RBX, CPU_OFF(tlb_epoch));
    je_store(e, 8, H_RSP, FRAME_EPOCH, H_RAX);
    je_store_imm(e, 8, H_RSP, FRAME_SLOW, 0);
    je_mov_imm(e, H_RDX, 0); /* not entered through a chained exit */
    c->top = e->p;
    je_label(e);
    cache_reset(c);
    emit_gen_cmp(c);
    /* stale code, reached through a link made before the page changed: that exit (rdx, its
     * record) asks to be linked again, to the code the main loop makes now (out of line) */
    add_cold(c, COLD_STALE, 0, je_jcc_fwd(e, 5 /* ne */));
    for (int s = 0; s < (int)G_N_ELEMENTS(slot_reg); s++) {
        int r = c->entry_held[s];
        if (r >= 0) {
            je_load(e, 8, slot_reg[s], H_RBX, REG_OFF(r));
            c->held[s] = r;
            c->slot_of[r] = s;
            /* taken as dirty: the back edge jumps here without storing them */
            c->dirty |= 1u << s;
        }
    }
    c->loop_top = e->p;
    je_label(e);
}

/* the guest registers a loop's body (up to its last branch back to the start) uses most, for
 * the slots at its start (entry_held) */
static void pick_loop_regs(JitCtx *c, const X86Insn *insns, const int *kinds, uint32_t n)
{
    memset(c->entry_held, -1, sizeof(c->entry_held));
    unsigned uses[16] = {0};
    uint32_t end = 0; /* instructions up to the last back edge */
    uint64_t rip = c->tb->pc;
    for (uint32_t i = 0; i < n; i++) {
        rip += insns[i].len;
        if ((kinds[i] == K_JCC || kinds[i] == K_JMP) && rip + insns[i].imm == c->tb->pc) {
            end = i + 1;
        }
    }
    for (uint32_t i = 0; i < end; i++) {
        const X86Insn *in = &insns[i];
        if (x86_optab[in->op].flags & X86_OPF_MODRM) {
            uses[in->reg & 15] += !is_group(in->op); /* a group's reg field is an opcode */
            if (in->mod == 3) {
                uses[in->rm & 15]++;
            } else {
                uses[in->base & 15] += in->base < 16;
                uses[in->index & 15] += in->index < 16;
            }
        }
    }
    /* the busiest in the last slot: the round robin, starting at slot 0, evicts it last */
    for (int s = G_N_ELEMENTS(slot_reg); s-- > 0;) {
        int best = -1;
        for (int r = 0; r < 16; r++) {
            if (uses[r] && (best < 0 || uses[r] > uses[best])) {
                best = r;
            }
        }
        if (best < 0) {
            break;
        }
        c->entry_held[s] = best;
        uses[best] = 0;
    }
}

/* returns rax to run_tb */
static void emit_epilogue(JitCtx *c)
{
    je_alu_ri(&c->e, 8, 0, H_RSP, FRAME_SIZE);
    for (size_t k = G_N_ELEMENTS(saved_regs); k-- > 0;) {
        je_pop(&c->e, saved_regs[k]);
    }
    je_ret(&c->e);
}

/* Leaves the block with rip = value and `count` instructions retired. */
static void emit_exit_imm(JitCtx *c, uint64_t rip, uint32_t count)
{
    pend_store_here(c);
    emit_write_back(&c->e, c->held, c->dirty);
    je_mov_imm(&c->e, H_RAX, rip);
    je_store(&c->e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
    je_mov_imm(&c->e, H_RAX, count);
    emit_epilogue(c);
}

/* Where the interpreter has them while an instruction runs: for a helper that may fault
 * (with the count of the pass's instructions before it, which the fault's unwinding adds). */
static void emit_sync_rip(JitCtx *c, uint32_t done)
{
    je_mov_imm(&c->e, H_RAX, done);
    je_store(&c->e, 4, H_RBX, CPU_OFF(jit_done), H_RAX);
    je_mov_imm(&c->e, H_RAX, c->rip);
    je_store(&c->e, 8, H_RBX, CPU_OFF(cur_rip), H_RAX);
    je_mov_imm(&c->e, H_RAX, c->next);
    je_store(&c->e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
}

/* host h = guest register r of `size` bytes, zero-extended (a byte register without REX in
 * 4-7 is ah-bh) */
static void ld_greg(JitCtx *c, const X86Insn *in, int h, int r, int size)
{
    if (size == 1) {
        bool high = !(in->prefix & PFX_REX) && r >= 4 && r < 8;
        int full = high ? r - 4 : r;
        static const uint8_t movzx[2] = {0x0f, 0xb6};
        if (!high && c->slot_of[full] >= 0) { /* from the copy: no store-to-load on the way */
            int src = slot_reg[c->slot_of[full]];
            je_rex(&c->e, false, h, 0, src, true); /* movzx h, src's low byte (REX: not ah-bh) */
            je_byte(&c->e, movzx[0]);
            je_byte(&c->e, movzx[1]);
            je_byte(&c->e, 0xc0 | ((h & 7) << 3) | (src & 7));
            return;
        }
        cache_clean(c, full); /* from memory (ah-bh: a shift would change the flags) */
        je_op_mem(&c->e, 4, movzx, 2, h, H_RBX, H_NOINDEX, 0,
                  high ? REG_OFF(r - 4) + 1 : REG_OFF(r));
    } else if (size == 2) { /* movzx h, the copy's word (a word mov would keep h's bits 16-63) */
        static const uint8_t movzx16[2] = {0x0f, 0xb7};
        je_op_rr(&c->e, 4, movzx16, 2, h, slot_read(c, r, 0));
    } else {
        ld_reg(c, h, r, size);
    }
}

/* guest register r of `size` bytes = host h (h zero-extended already for 4; a byte or a word
 * merges) */
static void st_greg(JitCtx *c, const X86Insn *in, int r, int size, int h)
{
    if (size <= 2) {
        bool high = size == 1 && !(in->prefix & PFX_REX) && r >= 4 && r < 8;
        cache_drop(c, high ? r - 4 : r); /* merged in memory only */
        je_store(&c->e, size, H_RBX, high ? REG_OFF(r - 4) + 1 : REG_OFF(r), h);
    } else {
        st_reg(c, r, h);
    }
}

/*
 * 32-bit code: the offset wraps at 4 GiB, and so does the linear address. CS, DS, ES and SS are
 * based at 0 while translated code runs (x86_jit_mode_ok); FS and GS bases are added.
 */
static void emit_ea32_tail(JitCtx *c, const X86Insn *in, bool with_seg)
{
    je_mov_rr(&c->e, 4, H_RSI, H_RSI);
    if (with_seg && (in->seg == R_FS || in->seg == R_GS)) {
        je_alu_rm(&c->e, 8, 0, H_RSI, H_RBX, CPU_OFF(env.segs[in->seg].base));
        je_mov_rr(&c->e, 4, H_RSI, H_RSI);
    }
}

/* rsi = the linear address of the memory operand (with_seg: FS/GS base added) */
static void emit_ea(JitCtx *c, const X86Insn *in, bool with_seg)
{
    JitEmit *e = &c->e;
    int32_t disp = in->disp;
    if (in->base < 16) { /* one lea from the copies */
        int hb = slot_read(c, in->base, 0);
        int hi = in->index < 16 ? slot_read(c, in->index, slot_bit(c, in->base)) : H_NOINDEX;
        if (hi != H_NOINDEX || disp) {
            je_lea(e, H_RSI, hb, hi, in->scale, disp);
        } else {
            je_mov_rr(e, 8, H_RSI, hb);
        }
    } else {
        je_mov_imm(e, H_RSI,
                   in->base == X86_RIP ? c->next + (int64_t)disp : (uint64_t)(int64_t)disp);
        if (in->index < 16) {
            je_lea(e, H_RSI, H_RSI, slot_read(c, in->index, 0), in->scale, 0);
        }
    }
    if (in->mode == X86_MODE32) {
        emit_ea32_tail(c, in, with_seg);
        return;
    }
    if (with_seg && in->seg != X86_SEG_NONE) {
        je_alu_rm(e, 8, 0, H_RSI, H_RBX, CPU_OFF(env.segs[in->seg].base));
    }
}

/* dst = the offset of the TLB entry of the linear address in la,
 * ((la >> page bits) & (TLB_SIZE - 1)) * 32, in two operations after the copy */
static void emit_tlb_index(JitEmit *e, int dst, int la)
{
    G_STATIC_ASSERT(GUEST_PAGE_BITS + TLB_BITS <= 32);
    G_STATIC_ASSERT(sizeof(TLBEntry) == 32);
    je_mov_rr(e, 4, dst, la);
    je_shift_ri(e, 4, 5 /* shr */, dst, GUEST_PAGE_BITS - 5);
    je_alu_ri(e, 4, 4 /* and */, dst, (TLB_SIZE - 1) << 5);
}

/* rax = the offset of la's (rsi) TLB entry; jumps to the returned patch point when the tag
 * (read or write) does not cover [la, la + size), or (aligned) when la is not a multiple of
 * size: its low bits kept, the page compared never matches a tag */
static uint8_t *emit_tlb_check_as(JitCtx *c, int size, bool write, bool aligned)
{
    JitEmit *e = &c->e;
    emit_tlb_index(e, H_RAX, H_RSI);
    if (aligned) {
        je_mov_rr(e, 8, H_RCX, H_RSI);
        je_alu_ri(e, 8, 4, H_RCX, (int32_t)GUEST_PAGE_MASK | (size - 1));
    } else {
        je_lea(e, H_RCX, H_RSI, H_NOINDEX, 0, size - 1);
        je_alu_ri(e, 8, 4, H_RCX, (int32_t)GUEST_PAGE_MASK);
    }
    static const uint8_t cmp = 0x3b;
    int32_t tag = write ? (int32_t)offsetof(TLBEntry, write) : (int32_t)offsetof(TLBEntry, read);
    je_op_mem(e, 8, &cmp, 1, H_RCX, H_RBX, H_RAX, 0, CPU_OFF(tlb[c->user]) + tag);
    return je_jcc_fwd(e, 5 /* ne */);
}

static uint8_t *emit_tlb_check(JitCtx *c, int size, bool write)
{
    return emit_tlb_check_as(c, size, write, false);
}

/* rsi = the host address of la (rsi), through the entry emit_tlb_check found (rax) */
static void emit_tlb_addend(JitCtx *c)
{
    static const uint8_t add = 0x03;
    je_op_mem(&c->e, 8, &add, 1, H_RSI, H_RBX, H_RAX, 0,
              CPU_OFF(tlb[c->user]) + (int32_t)offsetof(TLBEntry, addend));
}

/* rax = the `size`-byte value at la (rsi), zero-extended */
/* a slow path, emitted out of line after the block's code (a TLB miss, a page to mark) */
static void add_cold(JitCtx *c, int kind, int size, uint8_t *from)
{
    if (c->ncold == G_N_ELEMENTS(c->cold)) {
        c->e.overflow = true; /* never with TB_MAX_INSNS instructions: refuse the block */
        return;
    }
    je_label(&c->e); /* the slow path comes back here */
    JitCold *s = &c->cold[c->ncold++];
    *s = (JitCold){.kind = kind,
                   .size = size,
                   .rip = c->rip,
                   .next = c->next,
                   .done = c->done,
                   .from = from,
                   .resume = c->e.p,
                   .dirty = c->dirty,
                   .pend = c->pend};
    memcpy(s->held, c->held, sizeof(s->held));
}

static void emit_handler_call(JitCtx *c, const X86Insn *in);

/* a push's slow path, once its store is done: rsp's copy as the straight path moves it */
static void emit_cold_sp_add(JitCtx *c, const JitCold *s)
{
    for (int i = 0; i < JIT_SLOTS; i++) {
        if (s->held[i] == R_ESP) {
            je_lea(&c->e, slot_reg[i], slot_reg[i], H_NOINDEX, 0, s->sp_delta);
            if (s->sp_delta == -4) {
                je_mov_rr(&c->e, 4, slot_reg[i], slot_reg[i]);
            }
            return;
        }
    }
    g_assert_not_reached(); /* the push read rsp's copy before its store */
}

/* COLD_EXIT's and COLD_STALE's exit, from the state at their branch */
static void emit_cold_exit(JitCtx *c, const JitCold *s)
{
    int8_t held[JIT_SLOTS];
    uint8_t dirty = c->dirty;
    JitPend pend = c->pend;
    memcpy(held, c->held, sizeof(held));
    memcpy(c->held, s->held, sizeof(held));
    c->dirty = s->dirty;
    c->pend = s->pend;
    if (s->kind == COLD_STALE) {
        emit_exit_imm(c, c->tb->pc, 0);
    } else if (s->kind == COLD_XPAGE) {
        emit_exit_imm(c, s->rip, s->done); /* before the instruction: run_xpage takes it */
    } else {
        emit_exit_imm(c, s->next, s->done + 1);
    }
    memcpy(c->held, held, sizeof(held));
    c->dirty = dirty;
    c->pend = pend;
}

static void emit_cold(JitCtx *c)
{
    JitEmit *e = &c->e;
    for (unsigned k = 0; k < c->ncold; k++) {
        const JitCold *s = &c->cold[k];
        if (s->exit_at && c->cold[s->exit_at - 1].kind == COLD_EXIT) {
            /* the exit first, so that this slow path and the instruction's others after it
             * branch back to it */
            JitCold *x = &c->cold[s->exit_at - 1];
            x->resume = e->p;
            emit_cold_exit(c, x);
            x->kind = COLD_EMITTED;
        }
        if (s->kind == COLD_EMITTED) {
            continue;
        }
        je_patch_here(e, s->from);
        c->rip = s->rip;
        c->next = s->next;
        switch (s->kind) {
        case COLD_LOAD: /* rax = the value, as the inline path leaves it */
            emit_write_back(e, s->held, s->dirty); /* a fault leaves the state exact */
            if (s->pend.on) {
                emit_pend_store(e, &s->pend); /* rsi stays */
            }
            emit_sync_rip(c, s->done);
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_imm(e, H_RDX, s->size);
            je_mov_imm(e, H_RCX, c->user);
            je_call(e, x86_ld_slow);
            if (s->load_to != H_RAX) { /* after je_call's pops: r9-r11 may be the copy */
                je_mov_rr(e, 8, s->load_to, H_RAX);
            }
            break;
        case COLD_STORE: /* rsi = la, rdi = the value */
            emit_write_back(e, s->held, s->dirty);
            if (s->pend.on) {
                emit_pend_store(e, &s->pend); /* rsi and rdi stay */
            }
            emit_sync_rip(c, s->done);
            je_mov_rr(e, 8, H_RDX, H_RDI);
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_imm(e, H_RCX, s->size);
            je_mov_imm(e, H_R8, c->user);
            je_call(e, x86_st_slow);
            break;
        case COLD_STALE: /* the chain entry's: nothing run, the copies empty */
            je_store(e, 8, H_RBX, CPU_OFF(jit_link_req), H_RDX);
            /* fall through */
        case COLD_EXIT: /* after the instruction, with the state it leaves */
        case COLD_XPAGE:
            emit_cold_exit(c, s);
            continue;      /* no way back */
        case COLD_HANDLER: /* jit-sse.c's: the whole instruction by its handler, as K_INTERP */
            emit_write_back(e, s->held, s->dirty);
            if (s->pend.on) {
                emit_pend_store(e, &s->pend);
            }
            emit_sync_rip(c, s->done);
            emit_handler_call(c, s->insn);
            g_assert(s->resume); /* jit_cold_rejoin set where it comes back */
            break;
        case COLD_MARK: /* rax = the host address's page number; the RAM page index: */
            je_mov_imm(e, H_RCX, (uintptr_t)c->cpu->ram->host >> GUEST_PAGE_BITS);
            je_op_rr(e, 8, (const uint8_t[]){0x2b}, 1, H_RAX, H_RCX); /* sub rax, rcx */
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_rr(e, 8, H_RSI, H_RAX);
            je_call(e, x86_note_store_slow);
            break;
        }
        if (s->sp_delta) {
            emit_cold_sp_add(c, s);
        }
        je_store_imm(e, 4, H_RSP, FRAME_SLOW, 1); /* moves only: rax is the loaded value */
        if (s->exit_at) { /* only a helper sets tb_exit: the check is here, not inline */
            je_cmp_dword_imm(e, H_RBX, CPU_OFF(leave), 0);
            je_jcc_back(e, 5 /* ne */, c->cold[s->exit_at - 1].resume);
        }
        je_jmp_back(e, s->resume);
    }
}

/* host register dst = the `size`-byte value at la (rsi), zero-extended (dst not rsi; rax and
 * rcx are the TLB check's, free after it); the slow path moves x86_ld_slow's result there */
static void emit_load_into(JitCtx *c, int size, int dst)
{
    JitEmit *e = &c->e;
    uint8_t *miss = emit_tlb_check(c, size, false);
    emit_tlb_addend(c);
    je_load_zx(e, size, dst, H_RSI, 0);
    add_cold(c, COLD_LOAD, size, miss);
    if (!e->overflow) {
        c->cold[c->ncold - 1].load_to = (int8_t)dst;
    }
    if (c->load_kills) { /* nothing can see the flags before the instruction's own now */
        c->pend.on = false;
    }
}

static void emit_load(JitCtx *c, int size)
{
    emit_load_into(c, size, H_RAX);
}

/* guest register r (all of it) = the 4- or 8-byte value at la (rsi), zero-extended, loaded
 * straight into r's copy: one move fewer than through rax. The copy is taken before the TLB
 * check (its eviction store inline) and marked written only after the load, so that a fault
 * in the slow path finds r's old value where it was. */
static void emit_load_copy(JitCtx *c, int r, int size)
{
    int h = cache_take(c, r);
    pend_guard(c, h);
    emit_load_into(c, size, h);
    c->dirty |= 1u << c->slot_of[r];
}

static void emit_store_mark(JitCtx *c, int size);

/* stores the `size` low bytes of rdi at la (rsi), then marks the page as the store path does */
static void emit_store(JitCtx *c, int size)
{
    JitEmit *e = &c->e;
    uint8_t *miss = emit_tlb_check(c, size, true);
    emit_tlb_addend(c);
    je_store(e, size, H_RSI, 0, H_RDI);
    emit_store_mark(c, size);
    add_cold(c, COLD_STORE, size, miss);
}

/* after a store at host address rsi: marks the page unless it is just dirty */
static void emit_store_mark(JitCtx *c, int size)
{
    JitEmit *e = &c->e;
    GuestRam *ram = c->cpu->ram;
    /* the state byte is read after the data store (include/memory/ram.h's ordering); RAM is
     * page aligned, so page_state[(host - ram) >> 12] is (page_state - (ram >> 12))[host >> 12] */
    je_mov_rr(e, 8, H_RAX, H_RSI);
    je_shift_ri(e, 8, 5, H_RAX, GUEST_PAGE_BITS);
    je_mov_imm(e, H_RCX,
               (uint64_t)(uintptr_t)ram->page_state - ((uintptr_t)ram->host >> GUEST_PAGE_BITS));
    je_cmp_byte_mem(e, H_RCX, H_RAX, 0, PAGE_DIRTY);
    uint8_t *mark = je_jcc_fwd(e, 5 /* ne */);
    add_cold(c, COLD_MARK, size, mark);
}

/* the instruction's slow paths all rejoin here (each calls a helper and comes back) */
static bool cold_all_rejoin_here(const JitCtx *c)
{
    unsigned n = c->ncold - c->insn_cold;
    if (n == 0) {
        return false;
    }
    for (unsigned k = c->insn_cold; k < c->ncold; k++) {
        const JitCold *s = &c->cold[k];
        if (s->resume != c->e.p || s->exit_at ||
            (s->kind != COLD_LOAD && s->kind != COLD_STORE && s->kind != COLD_MARK &&
             s->kind != COLD_HANDLER)) {
            return false;
        }
    }
    return true;
}

/* after an instruction that set tb_exit or may have: the block ends there (also for the rest
 * of the leave word: any instruction boundary is a good place to leave) */
static void emit_tb_exit_check(JitCtx *c)
{
    je_cmp_dword_imm(&c->e, H_RBX, CPU_OFF(leave), 0);
    add_cold(c, COLD_EXIT, 0, je_jcc_fwd(&c->e, 5 /* ne */)); /* the exit, out of line */
}

/* after an instruction that stored: a store into a code page ends the block there. Only a
 * helper sets tb_exit then (x86_note_store_slow for a code page, x86_st_slow, a handler), so
 * when every helper the instruction may call runs in a slow path that rejoins here, each of
 * those checks it after its call and the straight path checks nothing */
static void emit_stored_exit_check(JitCtx *c)
{
    if (!cold_all_rejoin_here(c)) {
        emit_tb_exit_check(c);
        return;
    }
    unsigned first = c->insn_cold, exit = c->ncold;
    add_cold(c, COLD_EXIT, 0, NULL);
    for (unsigned k = first; k < exit && !c->e.overflow; k++) {
        c->cold[k].exit_at = exit + 1;
    }
}

/* cc_op and cc_size in one store, through rdx (moves only: the host's flags stay) */
G_STATIC_ASSERT(offsetof(X86CPUState, cc_size) == offsetof(X86CPUState, cc_op) + 4);
static void emit_cc_op(JitEmit *e, uint32_t op, int size)
{
    je_mov_imm(e, H_RDX, (uint64_t)size << 32 | op);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_op), H_RDX);
}

/* rax (destination) op rcx (source), lazy flags as the interpreter writes them (unless the
 * next instruction overwrites them unread) */
static void emit_alu(JitCtx *c, const X86Insn *in, int aop, int size, int dst_reg)
{
    JitEmit *e = &c->e;
    if (!c->dead) {
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RCX);
    }
    /* cmp is a sub and test an and whose result is kept only in cc_res, as the interpreter
     * keeps it (ZF and SF come from there) */
    je_alu_rr(e, size, aop == 8 ? 4 : aop == 7 ? 5 : aop, H_RAX, H_RCX);
    /* only moves from here on: the host's flags stay the guest's for a following jcc */
    if (!c->dead) {
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        emit_cc_op(e, aop == 8 ? CC_OP_LOGIC : alu_ccop[aop], size);
    }
    if (aop != 7 && aop != 8 && dst_reg >= 0) {
        st_greg(c, in, dst_reg, size, H_RAX);
    }
    c->flags = FL_ALL;
}

/* before an inc/dec whose flags are not dead: CF survives it, kept in cc_carry (after an
 * inc/dec it is there already); flags: what the host's flags hold */
static void emit_keep_carry(JitCtx *c, int flags)
{
    JitEmit *e = &c->e;
    if (c->dead || flags == FL_NOCF) {
        return;
    }
    if (flags == FL_ALL) {
        je_mov_imm(e, H_RCX, 0);
        je_setcc(e, 2 /* c */, H_RCX);
    } else {
        je_mov_rr(e, 8, H_RDI, H_RBX);
        je_call(e, x86_compute_cf);
        je_mov_rr(e, 4, H_RCX, H_RAX);
    }
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_carry), H_RCX);
}

/* rax = rax + 1 or - 1 (dec) of `size` bytes, with inc/dec's lazy flags unless dead */
static void emit_incdec_rax(JitCtx *c, int size, int dec)
{
    JitEmit *e = &c->e;
    if (!c->dead) {
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
        je_store_imm(e, 8, H_RBX, CPU_OFF(env.cc_src2), 1);
    }
    je_incdec(e, size, dec, H_RAX); /* 32-bit: zero-extends */
    if (!c->dead) {
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        emit_cc_op(e, dec ? CC_OP_DEC : CC_OP_INC, size);
    }
}

static void emit_locked_op(JitCtx *c, int size, uint8_t op, int reg);

/*
 * K_ALU_MEM: load, operate, store under one TLB check for writing (an entry that allows the
 * write maps a present, writable page: the load cannot fault either). A miss, a page crossing
 * or a fault runs the instruction's handler out of line (COLD_HANDLER), from the state at the
 * branch: so every register the operation reads is read before it. With lock (on an aligned
 * operand, as K_CMPXCHG's: else the handler), the store is a host lock cmpxchg of the result
 * against the value loaded, computed again from what memory holds until it takes: one atomic
 * step for the DMA workers and the main loop, the old value known for the lazy flags.
 */
static void emit_alu_mem(JitCtx *c, const X86Insn *in, int size, int flags)
{
    JitEmit *e = &c->e;
    bool incdec = in->op == 0xfe || in->op == 0xff;
    bool locked = in->prefix & PFX_LOCK;
    int aop = in->op < 0x40 ? in->op >> 3 : in->reg & 7;
    if (incdec) {
        emit_keep_carry(c, flags);
    } else if (in->op < 0x40) {
        ld_greg(c, in, H_RDI, in->reg, size);
    } else {
        je_mov_imm(e, H_RDI, imm_sized(in, size));
    }
    emit_ea(c, in, true);
    uint8_t *miss = emit_tlb_check_as(c, size, true, locked);
    emit_tlb_addend(c);
    jit_cold_handler(c, in, miss);
    if (c->load_kills) { /* the handler's path stores them: nothing else sees them now */
        c->pend.on = false;
    }
    je_load_zx(e, size, H_RAX, H_RSI, 0); /* zero-extended: the lazy fields as the interpreter's */
    if (locked) { /* rcx = rax op rdx (dl: dil would need a REX), stored if memory holds rax */
        je_mov_rr(e, 8, H_RDX, H_RDI);
        je_label(e);
        const uint8_t *retry = e->p;
        je_mov_rr(e, 8, H_RCX, H_RAX);
        if (incdec) {
            je_incdec(e, size, in->reg & 1, H_RCX);
        } else {
            je_alu_rr(e, size, aop, H_RCX, H_RDX);
        }
        emit_locked_op(c, size, 0xb0, H_RCX); /* a failed one loads memory's value into rax */
        je_jcc_back(e, 5 /* ne */, retry);
    }
    if (incdec) {
        emit_incdec_rax(c, size, in->reg & 1);
    } else {
        je_mov_rr(e, 8, H_RCX, H_RDI);
        emit_alu(c, in, aop, size, -1);
    }
    if (!locked) {
        je_store(e, size, H_RSI, 0, H_RAX);
    }
    int host = alu_mem_host_flags(in, c->after, c->after_kind);
    if (host != FL_NONE && c->dead) { /* the compare below reads it */
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
    }
    emit_store_mark(c, size);
    jit_cold_rejoin(c);
    emit_stored_exit_check(c);
    /* the dirty check's compare, or the handler, changed the host's flags */
    if (host != FL_NONE) {
        if (size == 1) {
            je_cmp_byte_mem(e, H_RBX, H_NOINDEX, CPU_OFF(env.cc_res), 0);
        } else {
            je_cmp_mem_imm8(e, size, H_RBX, CPU_OFF(env.cc_res), 0);
        }
    }
    c->flags = host;
}

/*
 * K_CMPXCHG and K_XADD: the host's locked instruction at the host address under one TLB check
 * for writing, on a naturally aligned operand (a misaligned one would be a split lock on the
 * host): one atomic step for DMA workers and the main loop too, with or without the guest's
 * lock. A miss, a misaligned operand or a fault runs the handler out of line (COLD_HANDLER)
 * from the state at the branch. Guest register `written` (rax, or xadd's register: full, as
 * greg_full names it) has no copy from there on either path (the handler writes X86CPUState):
 * the code stores it there too. rdi = the register operand, rsi = the host address.
 */
static void emit_locked_start(JitCtx *c, const X86Insn *in, int size, int written)
{
    ld_greg(c, in, H_RDI, in->reg, size);
    emit_ea(c, in, true);
    cache_drop(c, written);
    uint8_t *miss = emit_tlb_check_as(c, size, true, true);
    emit_tlb_addend(c);
    jit_cold_handler(c, in, miss);
    if (c->load_kills) { /* the handler's path stores them: nothing else sees them now */
        c->pend.on = false;
    }
}

/* lock 0f op [rsi], reg: op the byte form's second opcode byte, op + 1 the others' */
static void emit_locked_op(JitCtx *c, int size, uint8_t op, int reg)
{
    je_byte(&c->e, 0xf0);
    je_op_mem(&c->e, size, (const uint8_t[]){0x0f, op + (size != 1)}, 2, reg, H_RSI, H_NOINDEX, 0,
              0);
}

/* the page marked (as the interpreter's forms mark it, even a failed cmpxchg's: its unlocked
 * form writes memory back), the handler's path rejoined, a store into a code page ends the
 * block */
static void emit_locked_end(JitCtx *c, int size)
{
    emit_store_mark(c, size);
    jit_cold_rejoin(c);
    emit_stored_exit_check(c);
}

/* the lazy fields: operands src1 and src2, the result rcx zero-extended from `size` bytes as
 * the interpreter keeps it, and cc_op (moves only: the host's flags stay) */
static void emit_lazy_flags(JitCtx *c, int size, uint32_t op, int src1, int src2)
{
    JitEmit *e = &c->e;
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), src1);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), src2);
    if (size < 4) {
        je_op_rr(e, 4, (const uint8_t[]){0x0f, size == 1 ? 0xb6 : 0xb7}, 2, H_RCX, H_RCX);
    } else if (size == 4) {
        je_mov_rr(e, 4, H_RCX, H_RCX);
    }
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RCX);
    emit_cc_op(e, op, size);
}

/* the full register that guest register r of `size` bytes is part of (ah-bh: rax-rbx) */
static int greg_full(const X86Insn *in, int r, int size)
{
    return size == 1 && !(in->prefix & PFX_REX) && r >= 4 && r < 8 ? r - 4 : r;
}

/* cmpxchg: cmp's lazy flags (accumulator - memory), as the interpreter's; rax is written
 * only when the compare failed (a 32-bit one then zero-extends) */
static void emit_cmpxchg(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    ld_greg(c, in, H_RDX, R_EAX, size);
    emit_locked_start(c, in, size, R_EAX);
    je_mov_rr(e, 8, H_RAX, H_RDX);
    emit_locked_op(c, size, 0xb0, H_RDI);
    /* rax = the memory's value, zero-extended (rdx's when they were equal); only moves, not
     * and lea from here to the jump: the host's flags are cmp's */
    if (!c->dead) {
        je_mov_rr(e, 8, H_RCX, H_RAX);
        je_op_rr(e, 8, (const uint8_t[]){0xf7}, 1, 2, H_RCX); /* not rcx */
        je_lea(e, H_RCX, H_RDX, H_RCX, 0, 1);                 /* rdx - rax */
        emit_lazy_flags(c, size, CC_OP_SUB, H_RDX, H_RAX);
    }
    uint8_t *equal = je_jcc_fwd(e, 4 /* e */);
    je_store(e, size == 4 ? 8 : size, H_RBX, REG_OFF(R_EAX), H_RAX);
    je_patch_here(e, equal);
    emit_locked_end(c, size);
}

/* xadd: add's lazy flags (memory + register); the register takes the memory's old value */
static void emit_xadd(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    int full = greg_full(in, in->reg, size);
    emit_locked_start(c, in, size, full);
    je_mov_rr(e, 8, H_RAX, H_RDI);
    emit_locked_op(c, size, 0xc0, H_RAX);
    /* rax = the memory's old value, zero-extended (rdi's upper bits are 0) */
    if (!c->dead) {
        je_lea(e, H_RCX, H_RAX, H_RDI, 0, 0);
        emit_lazy_flags(c, size, CC_OP_ADD, H_RAX, H_RDI);
    }
    je_store(e, size == 4 ? 8 : size, H_RBX, REG_OFF(full) + (full != in->reg), H_RAX);
    emit_locked_end(c, size);
}

/* xchg of memory: the host's, atomic as the interpreter's, under K_XADD's checks; the register
 * takes the memory's old value */
static void emit_xchg(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    int full = greg_full(in, in->reg, size);
    emit_locked_start(c, in, size, full);
    je_mov_rr(e, 8, H_RAX, H_RDI);
    je_op_mem(e, size, (const uint8_t[]){size == 1 ? 0x86 : 0x87}, 1, H_RAX, H_RSI, H_NOINDEX, 0,
              0);
    je_store(e, size == 4 ? 8 : size, H_RBX, REG_OFF(full) + (full != in->reg), H_RAX);
    emit_locked_end(c, size);
}

/*
 * K_CLI_STI at CPL 0 (where IOPL cannot refuse them); at another CPL the handler runs out of
 * line, which raises #GP or does the same. sti that sets IF (IF was 0) starts the interrupt
 * shadow as the interpreter does (inhibit_irq). With an interrupt line up or an NMI pending
 * the block leaves after it (tb_exit), so the main loop's next turn runs exactly one
 * instruction before it delivers anything. Otherwise, when the next instruction is translated
 * here and is no branch (shadow_next), the block goes on: that instruction is the shadow, and
 * inhibit_irq is cleared after it (the caller), so that a line raised meanwhile is taken at
 * the next leave check, not before the shadow's instruction ran (sti; hlt). Leaving for the
 * main loop after every such sti was ~520 of bench/net http's ~5 800 turns a MB. An sti with
 * IF already set changes nothing and the block goes on.
 */
static void emit_cli_sti(JitCtx *c, const X86Insn *in, bool shadow_next)
{
    JitEmit *e = &c->e;
    je_cmp_dword_imm(e, H_RBX, CPU_OFF(cpl), 0);
    jit_cold_handler(c, in, je_jcc_fwd(e, 5 /* ne */));
    if (in->op == 0xfa) {
        je_alu_mem_imm(e, 8, 4 /* and */, H_RBX, CPU_OFF(env.eflags), ~(int32_t)IF_MASK);
        jit_cold_rejoin(c);
        return;
    }
    je_op_mem(e, 4, (const uint8_t[]){0xf7}, 1, 0, H_RBX, H_NOINDEX, 0, CPU_OFF(env.eflags));
    je_u32(e, IF_MASK); /* test dword [eflags], IF */
    uint8_t *open = je_jcc_fwd(e, 5 /* ne */);
    je_store_imm(e, 4, H_RBX, CPU_OFF(env.inhibit_irq), 1);
    je_alu_mem_imm(e, 4, 1 /* or */, H_RBX, CPU_OFF(env.eflags), IF_MASK);
    uint8_t *quiet = NULL;
    if (shadow_next) {
        static const uint8_t or_ = 0x0b;
        je_load(e, 4, H_RAX, H_RBX, CPU_OFF(irq_level));
        je_op_mem(e, 4, &or_, 1, H_RAX, H_RBX, H_NOINDEX, 0, CPU_OFF(env.nmi_pending));
        quiet = je_jcc_fwd(e, 4 /* e */);
    }
    je_store_imm(e, 1, H_RBX, CPU_OFF(tb_exit), 1); /* a byte: leave_async is another thread's */
    je_patch_here(e, open);
    if (quiet) {
        je_patch_here(e, quiet);
    }
    jit_cold_rejoin(c);
    emit_tb_exit_check(c);
}

/* pushf's value: eflags with the lazy flags folded in, VM and RF read as 0 (VM is never set
 * in translated code: virtual-8086 segments are 16-bit) */
static uint64_t jit_pushf_value(X86CPU *cpu)
{
    return x86_get_eflags(cpu) & ~(uint64_t)(VM_MASK | RF_MASK);
}

/*
 * An ALU operation whose flags are dead, on 32- or 64-bit registers (src -1: the immediate
 * imm), done on their copies themselves, loaded first when they have none (a 32-bit operation
 * zero-extends, as the guest's); false: not this form, emitted nothing. cmp and test (7, 8)
 * write no register; test also takes a low byte register and an immediate.
 */
static bool emit_alu_in_place(JitCtx *c, const X86Insn *in, int aop, int size, int dst, int src,
                              uint64_t imm)
{
    bool byte_test = size == 1 && aop == 8 && src < 0 &&
                     ((in->prefix & PFX_REX) || dst < 4 || dst >= 8); /* not ah-bh */
    if ((!c->dead && !c->soft) || (size < 4 && !byte_test) ||
        (src < 0 && size == 8 && !je_fits_i32((int64_t)imm))) {
        return false;
    }
    /* soft flags are kept pending, computed back from the copies: not one whose result
     * overwrites its second operand */
    bool pend = !c->dead;
    if (pend && ((size < 4 && !byte_test) || (src == dst && aop != 7 && aop != 8))) {
        return false;
    }
    JitEmit *e = &c->e;
    int hs = src >= 0 ? slot_read(c, src, 0) : -1;
    int d = slot_read(c, dst, src >= 0 ? slot_bit(c, src) : 0);
    if (aop != 7 && aop != 8) {
        slot_written(c, dst);
    }
    if (aop == 8) {
        if (hs >= 0) {
            je_test_rr(e, size, d, hs);
        } else { /* test r/m, imm: f6 /0 ib, f7 /0 id (REX: a low byte, never ah-bh) */
            je_rex(e, size == 8, 0, 0, d, size == 1);
            je_byte(e, size == 1 ? 0xf6 : 0xf7);
            je_byte(e, 0xc0 | (d & 7));
            if (size == 1) {
                je_byte(e, (uint8_t)imm);
            } else {
                je_u32(e, (uint32_t)imm);
            }
        }
    } else if (hs >= 0) {
        je_alu_rr(e, size, aop, d, hs);
    } else {
        je_alu_ri(e, size, aop, d, (int32_t)imm);
    }
    if (pend) {
        c->pend = (JitPend){.on = true, .aop = aop, .size = size, .hd = d, .hs = hs, .imm = imm};
        c->pend_made = true;
    }
    c->flags = FL_ALL; /* the host's flags are the guest's, as after emit_alu */
    return true;
}

/* CF as the lazy flags give it, for adc and sbb */
static uint64_t jit_carry(X86CPU *cpu)
{
    return x86_compute_cf(cpu);
}

/* adc or sbb: the carry in (from the host's CF when it is the guest's, else computed), then
 * the host's adc/sbb, with the lazy fields the interpreter's alu() writes (cc_carry the carry
 * in) */
static void emit_adc(JitCtx *c, const X86Insn *in, int flags)
{
    JitEmit *e = &c->e;
    int size = osize(in);
    bool acc = in->op < 0x40 && (in->op & 7) >= 4;
    int aop = in->op < 0x40 ? in->op >> 3 : in->reg & 7;
    if (flags == FL_ALL) {
        static const uint8_t setc_movzx[] = {0x0f, 0x92, 0xc2, 0x0f, 0xb6, 0xd2}; /* edx = CF */
        for (size_t k = 0; k < sizeof(setc_movzx); k++) {
            je_byte(e, setc_movzx[k]);
        }
    } else {
        je_mov_rr(e, 8, H_RDI, H_RBX);
        je_call(e, jit_carry);
        je_mov_rr(e, 8, H_RDX, H_RAX);
    }
    int dst;
    if (in->op >= 0x80 || acc) {
        uint64_t imm = imm_sized(in, size);
        dst = acc ? R_EAX : in->rm;
        ld_greg(c, in, H_RAX, dst, size);
        je_mov_imm(e, H_RCX, imm);
    } else {
        bool to_reg = in->op & 2;
        dst = to_reg ? in->reg : in->rm;
        ld_greg(c, in, H_RAX, dst, size);
        ld_greg(c, in, H_RCX, to_reg ? in->rm : in->reg, size);
    }
    if (!c->dead) {
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src1), H_RAX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RCX);
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_carry), H_RDX);
    }
    static const uint8_t bt_edx_0[] = {0x0f, 0xba, 0xe2, 0x00}; /* the host's CF = the carry */
    for (size_t k = 0; k < sizeof(bt_edx_0); k++) {
        je_byte(e, bt_edx_0[k]);
    }
    je_alu_rr(e, size, aop, H_RAX, H_RCX);
    if (!c->dead) { /* moves only from here: the host's flags are the guest's */
        je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
        emit_cc_op(e, aop == 2 ? CC_OP_ADC : CC_OP_SBB, size);
    }
    st_greg(c, in, dst, size, H_RAX);
    c->flags = FL_ALL;
}

/* rsp's copy moved by delta in place (lea: the host's flags stay), wrapped at 4 GiB and
 * zero-extended with a 32-bit stack; rax stays (a pop's value) */
static void emit_sp_add(JitCtx *c, int delta, bool wrap32)
{
    int sp = slot_read(c, R_ESP, 0);
    slot_written(c, R_ESP);
    je_lea(&c->e, sp, sp, H_NOINDEX, 0, delta);
    if (wrap32) {
        je_mov_rr(&c->e, 4, sp, sp);
    }
}

/* after a push's store (its slow paths from `first` on): rsp moved on either path, the slow
 * paths rejoining after it, so that a tb_exit check can sit in them (emit_stored_exit_check) */
static void emit_push_sp(JitCtx *c, unsigned first, int delta)
{
    emit_sp_add(c, delta, delta == -4);
    je_label(&c->e);
    for (unsigned k = first; k < c->ncold && !c->e.overflow; k++) {
        c->cold[k].resume = c->e.p;
        c->cold[k].sp_delta = (int8_t)delta;
    }
}

/* push rdi (64-bit): the store first, rsp only once it succeeded */
static void emit_push_rdi(JitCtx *c)
{
    unsigned first = c->ncold;
    je_lea(&c->e, H_RSI, slot_read(c, R_ESP, 0), H_NOINDEX, 0, -8);
    emit_store(c, 8);
    emit_push_sp(c, first, -8);
}

/* pop into rax (64-bit): the load first, rsp only once it succeeded */
static void emit_pop_rax(JitCtx *c)
{
    ld_reg(c, H_RSI, R_ESP, 8);
    emit_load(c, 8);
    emit_sp_add(c, 8, false);
}

/* push edi with a 32-bit stack (SS based at 0): esp wraps at 4 GiB and is zero-extended */
static void emit_push32_rdi(JitCtx *c)
{
    unsigned first = c->ncold;
    je_lea(&c->e, H_RSI, slot_read(c, R_ESP, 0), H_NOINDEX, 0, -4);
    je_mov_rr(&c->e, 4, H_RSI, H_RSI);
    emit_store(c, 4);
    emit_push_sp(c, first, -4);
}

/* pop into rax (zero-extended) with a 32-bit stack */
static void emit_pop32_rax(JitCtx *c)
{
    ld_reg(c, H_RSI, R_ESP, 8);
    je_mov_rr(&c->e, 4, H_RSI, H_RSI);
    emit_load(c, 4);
    emit_sp_add(c, 4, true);
}

/* the stack operations of the block's mode */
static void emit_push_mode(JitCtx *c)
{
    if (c->tb->flags == X86_MODE32) {
        emit_push32_rdi(c);
    } else {
        emit_push_rdi(c);
    }
}

static void emit_pop_mode(JitCtx *c)
{
    if (c->tb->flags == X86_MODE32) {
        emit_pop32_rax(c);
    } else {
        emit_pop_rax(c);
    }
}

/* pop into guest register r (not rsp) in the block's mode, the value loaded straight into r's
 * copy (as emit_load_copy; rsp's copy kept in its slot) */
static void emit_pop_copy(JitCtx *c, int r)
{
    bool m32 = c->tb->flags == X86_MODE32;
    ld_reg(c, H_RSI, R_ESP, 8);
    if (m32) {
        je_mov_rr(&c->e, 4, H_RSI, H_RSI);
    }
    int h = cache_take_keep(c, r, slot_bit(c, R_ESP));
    pend_guard(c, h);
    emit_load_into(c, m32 ? 4 : 8, h);
    c->dirty |= 1u << c->slot_of[r];
    emit_sp_add(c, m32 ? 4 : 8, m32);
}

/* a branch target: eip wraps at 4 GiB in 32-bit code */
static uint64_t jit_wrap(const JitCtx *c, uint64_t rip)
{
    return c->tb->flags == X86_MODE32 ? (uint32_t)rip : rip;
}

static int opcode_reg(const X86Insn *in)
{
    return (in->op & 7) | ((in->rex & REX_B) ? 8 : 0);
}

/* x86_cond for generated code that cannot read the condition from the host's flags */
static uint64_t jit_cond(X86CPU *cpu, uint64_t cc)
{
    return x86_cond(cpu, (int)cc);
}

/* the host's flags answer condition cc as the guest's would */
static bool host_cc(const JitCtx *c, int cc)
{
    return host_answers(c->flags, cc);
}

/* rax = condition cc (0 or 1); keeps the host's flags when they answer it */
static void emit_cond_rax(JitCtx *c, int cc)
{
    JitEmit *e = &c->e;
    if (host_cc(c, cc)) {
        je_mov_imm(e, H_RAX, 0); /* a mov: the flags survive */
        je_setcc(e, cc, H_RAX);
        return;
    }
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_mov_imm(e, H_RSI, cc);
    je_call(e, jit_cond);
    c->flags = FL_NONE;
}

/* rcx = the r/m source operand of `size` bytes, zero-extended (a load may fault) */
static void emit_rm_source(JitCtx *c, const X86Insn *in, int size)
{
    if (in->mod == 3) {
        ld_greg(c, in, H_RCX, in->rm, size);
    } else {
        emit_ea(c, in, true);
        emit_load_into(c, size, H_RCX);
        c->flags = FL_NONE;
    }
}

/* rol/ror fold CF and OF into eflags eagerly, as the interpreter's shift_op does; SZAP stay */
static void jit_rot_flags(X86CPU *cpu, uint64_t r, uint64_t what)
{
    int size = (int)(what >> 1);
    uint64_t sb = sign_bit(size);
    bool msb = (r & sb) != 0, c, of;
    if (what & 1) { /* ror */
        c = msb;
        of = msb ^ ((r & (sb >> 1)) != 0);
    } else {
        c = r & 1;
        of = msb ^ c;
    }
    uint32_t f = x86_compute_eflags(cpu) & ~(CC_C | CC_O);
    f |= (c ? CC_C : 0) | (of ? CC_O : 0);
    cpu->env.eflags = (cpu->env.eflags & ~(uint64_t)CC_ALL) | f;
    cpu->env.cc_op = CC_OP_EFLAGS;
}

/* bt bts btr btc: CF = the bit as it was, the other flags as they were (eager, as the
 * interpreter's bitop leaves them) */
static void jit_bt_flags(X86CPU *cpu, uint64_t carry)
{
    uint32_t f = (x86_compute_eflags(cpu) & ~CC_C) | (carry ? CC_C : 0);
    cpu->env.eflags = (cpu->env.eflags & ~(uint64_t)CC_ALL) | f;
    cpu->env.cc_op = CC_OP_EFLAGS;
}

/* rax = the host's CF (0 or 1) */
static void emit_setc_rax(JitCtx *c)
{
    static const uint8_t movzx[2] = {0x0f, 0xb6};
    je_setcc(&c->e, 2 /* c */, H_RAX);
    je_op_rr(&c->e, 4, movzx, 2, H_RAX, H_RAX);
}

/* the flags after a bt* from the carry in rax, unless they are dead */
static void emit_bt_flags(JitCtx *c)
{
    if (c->dead) {
        return;
    }
    je_mov_rr(&c->e, 8, H_RDI, H_RBX);
    je_mov_rr(&c->e, 8, H_RSI, H_RAX);
    je_call(&c->e, jit_bt_flags);
}

/*
 * K_BT: the host's bt, bts, btr or btc. On a register, on its copy (the offset masked by the
 * operand size, a 32-bit write zero-extended, as the guest's). On memory with an immediate,
 * under one TLB check (bts btr btc: for writing, on an aligned operand, and locked on the
 * host whether or not the guest wrote lock, as K_CMPXCHG); a miss, a misaligned operand or a
 * fault runs the handler out of line from the state at the branch.
 */
static void emit_bt(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    bool imm = in->op == 0x1ba;
    int op = imm ? (in->reg & 7) - 4 : (in->op >> 3) & 3; /* bt bts btr btc */
    const uint8_t opc[2] = {0x0f, imm ? 0xba : 0xa3 | op << 3};
    if (in->mod == 3) {
        int h = slot_read(c, in->rm, 0);
        int hs = imm ? 4 + op : slot_read(c, in->reg, slot_bit(c, in->rm));
        if (op) {
            slot_written(c, in->rm);
        }
        je_op_rr(e, size, opc, 2, hs, h);
        if (imm) {
            je_byte(e, (uint8_t)in->imm);
        }
        if (!c->dead) {
            emit_setc_rax(c);
            emit_bt_flags(c);
        }
        return;
    }
    if (!imm) { /* rdi = the offset, sign-extended (32: zero-extended first) */
        ld_greg(c, in, H_RDI, in->reg, size);
        if (size == 4) {
            je_op_rr(e, 8, (const uint8_t[]){0x63}, 1, H_RDI, H_RDI); /* movsxd */
        }
    }
    emit_ea(c, in, true);
    if (!imm) { /* the operand floor(offset / bits) operands on, the offset then its bit */
        je_mov_rr(e, 8, H_RAX, H_RDI);
        je_shift_ri(e, 8, 7 /* sar */, H_RAX, 3);
        je_alu_ri(e, 8, 4 /* and */, H_RAX, -size);
        je_alu_rr(e, 8, 0 /* add */, H_RSI, H_RAX);
        if (in->mode == X86_MODE32) {
            je_mov_rr(e, 4, H_RSI, H_RSI); /* the linear address wraps at 4 GiB */
        }
        je_alu_ri(e, 4, 4 /* and */, H_RDI, size * 8 - 1);
    }
    uint8_t *miss = emit_tlb_check_as(c, size, op != 0, op != 0);
    emit_tlb_addend(c);
    jit_cold_handler(c, in, miss);
    if (op) {
        je_byte(e, 0xf0);
    }
    if (imm) {
        je_op_mem(e, size, opc, 2, 4 + op, H_RSI, H_NOINDEX, 0, 0);
        je_byte(e, (uint8_t)in->imm);
    } else { /* the offset within the operand: the host's address does not move */
        je_op_mem(e, size, opc, 2, H_RDI, H_RSI, H_NOINDEX, 0, 0);
    }
    if (!c->dead) { /* the carry kept in the frame across the page's mark */
        emit_setc_rax(c);
        je_store(e, 8, H_RSP, FRAME_TMP, H_RAX);
    }
    if (op) {
        emit_store_mark(c, size);
    }
    if (!c->dead) {
        je_load(e, 8, H_RAX, H_RSP, FRAME_TMP);
        emit_bt_flags(c);
    }
    jit_cold_rejoin(c);
    if (op) {
        emit_tb_exit_check(c);
    }
}

/* bsf bsr: ZF and PF set for a zero source, else PF from the index's low byte; the other
 * arithmetic flags cleared (eager, as the interpreter's bsf_bsr leaves them) */
static void jit_bsf_flags(X86CPU *cpu, uint64_t src, uint64_t index)
{
    uint32_t f = !src ? CC_Z | CC_P : __builtin_parity((unsigned)index & 0xff) ? 0 : CC_P;
    cpu->env.eflags = (cpu->env.eflags & ~(uint64_t)CC_ALL) | f;
    cpu->env.cc_op = CC_OP_EFLAGS;
}

/*
 * K_BSF: the host's bsf or bsr of the source (rcx) into rdx, moved into the destination only
 * when the source is not 0: a zero source leaves the whole register as it was (32 bits too,
 * not zero-extended), as the interpreter does.
 */
static void emit_bsf(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    emit_rm_source(c, in, size);
    ld_reg(c, H_RAX, in->reg, 8);
    je_op_rr(e, size, (const uint8_t[]){0x0f, (uint8_t)in->op}, 2, H_RDX, H_RCX);
    je_cmov(e, 8, 5 /* ne */, H_RAX, H_RDX);
    st_reg(c, in->reg, H_RAX);
    if (!c->dead) {
        je_mov_rr(e, 8, H_RDI, H_RBX);
        je_mov_rr(e, 8, H_RSI, H_RCX);
        je_call(e, jit_bsf_flags);
    }
    c->flags = FL_NONE;
}

/* imul's flags in the lazy form of a shift: CF = OF = rcx, SZP from the result (rax), AF 0 */
static void emit_imul_flags(JitCtx *c, const X86Insn *in, int size)
{
    JitEmit *e = &c->e;
    if (c->dead) {
        return;
    }
    je_setcc(e, 2 /* c */, H_RCX);
    static const uint8_t movzx[2] = {0x0f, 0xb6};
    je_op_rr(e, 4, movzx, 2, H_RCX, H_RCX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_carry), H_RCX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RCX);
    emit_cc_op(e, CC_OP_SHIFT, size);
}

/* shl/shr/sar (g) of `size` bytes just done on rax (the host's CF the guest's; shr: rdx = the
 * operand's sign): the lazy flags of a shift, as the interpreter's shift_op stores them */
static void emit_shift_flags(JitCtx *c, int g, int size)
{
    JitEmit *e = &c->e;
    static const uint8_t setc_movzx[] = {0x0f, 0x92, 0xc1, 0x0f, 0xb6, 0xc9};
    for (size_t k = 0; k < sizeof(setc_movzx); k++) {
        je_byte(e, setc_movzx[k]);
    }
    if (g == 4) { /* shl: OF = the result's sign xor CF */
        je_mov_rr(e, 8, H_RDX, H_RAX);
        je_shift_ri(e, 8, 5, H_RDX, size * 8 - 1);
        je_alu_rr(e, 8, 6, H_RDX, H_RCX);
    } else if (g == 7) {
        je_mov_imm(e, H_RDX, 0);
    }
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_res), H_RAX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_carry), H_RCX);
    je_store(e, 8, H_RBX, CPU_OFF(env.cc_src2), H_RDX);
    emit_cc_op(e, CC_OP_SHIFT, size);
}

/*
 * Counts `count` retired instructions down from the budget left and jumps to the patch points
 * it stores in out[] (and returns how many) when the main loop must look at something before
 * more code runs: the budget's end, or the leave word (tb_exit: a store into a code page, a
 * handler's; leave_async: an exit request, an NMI, the interrupt line raised). 4 host
 * instructions; until session 14, 14: the count added to stats.insns through rax and compared
 * with budget_end, exit_request, the line and-ed with eflags, nmi_pending and tb_exit each
 * compared. The line with IF=0 leaves once when raised (run_tb then clears the word), not at
 * every exit: most chained exits of a boot ran so.
 */
static int emit_leave_checks(JitCtx *c, uint32_t count, uint8_t **out)
{
    JitEmit *e = &c->e;
    int n = 0;
    je_alu_mem_imm(e, 8, 5 /* sub */, H_RBX, CPU_OFF(jit_left), (int32_t)count);
    out[n++] = je_jcc_fwd(e, 0xe /* le */);
    je_cmp_dword_imm(e, H_RBX, CPU_OFF(leave), 0);
    out[n++] = je_jcc_fwd(e, 5 /* ne */);
    return n;
}

/* pc's set of slots in the table of privilege user */
static JitJump *jump_set(X86CPU *cpu, int user, uint64_t pc)
{
    return &cpu->jit_jump[user][x86_jit_jump_set(pc) * JIT_JUMP_WAYS];
}

/* The slot of pc's set that holds pc's block of decode mode `mode`, or NULL */
static const JitJump *jump_find(X86CPU *cpu, int user, uint64_t pc, uint32_t mode)
{
    const JitJump *set = jump_set(cpu, user, pc);
    for (int w = 0; w < JIT_JUMP_WAYS; w++) {
        if (set[w].pc == x86_jit_jump_key(pc, mode)) {
            return &set[w];
        }
    }
    return NULL;
}

/* Enters tb's code in the CPU's table of ret and indirect branch targets. */
static void note_jump(X86CPU *cpu, X86Jit *j, const TB *tb)
{
    G_STATIC_ASSERT(JIT_JUMP_WAYS == 2);
    /* A target already in its set is refreshed where it is; a new one takes way 0 and the
     * one there moves to way 1, so the set keeps the two targets entered last. */
    uint64_t key = x86_jit_jump_key(tb->pc, tb->flags);
    JitJump *set = jump_set(cpu, tb->code_user, tb->pc);
    JitJump *s = &set[0];
    if (set[1].pc == key) {
        s = &set[1];
    } else if (set[0].pc != key) {
        set[1] = set[0];
    }
    const TLBEntry *te = x86_tlbe(cpu, tb->pc, tb->code_user);
    s->pc = key;
    s->entry = (const uint8_t *)tb->code + j->entry_off;
    s->epoch = cpu->tlb_epoch;
    /* an addend is a difference of page-aligned addresses: never UINT64_MAX */
    s->addend = te->code == (tb->pc & GUEST_PAGE_MASK) ? te->addend : UINT64_MAX;
}

void x86_jit_forget_jumps(X86CPU *cpu)
{
    for (int u = 0; u < 2; u++) {
        for (uint32_t k = 0; k < JIT_JUMP_SLOTS; k++) {
            /* no addend either: the TLB path must not find the chain entry of code that
             * a cache flush dropped */
            cpu->jit_jump[u][k].epoch = UINT64_MAX;
            cpu->jit_jump[u][k].addend = UINT64_MAX;
        }
    }
}

/*
 * A ret or indirect jmp/call whose linked target missed (rdi = the target, the copies written
 * back, the leave checks passed): the slot of rdi's set in the CPU's table, when it holds rdi's
 * block for the mapping the block was found with, jumps to its chain entry, which checks the
 * page's code generation; rdx = the exit's record: a stale block's exit asks for this exit to
 * be linked to the code made again, which enters that in the slot too. The mapping holds
 * while the TLB epoch is the slot's, or else while rdi's code TLB entry maps its page at the
 * host address the slot recorded (the kernel's pages are global: a CR3 write keeps them); the
 * slot then takes the new epoch, so that the next lookup is the short one.
 *
 *   rax = set of rdi * 64; cmp rdi, way0.pc; je slot ──────┐          │
 *   cmp rdi, way1.pc; jne ─────────────────────────────────┼─────────┤
 *   rax += 32 (way 1)                                       │         │
 *   slot: cmp slot.epoch, tlb_epoch; je hit ◄────────────────┘         │
 *   rsi = TLB slot of rdi * 32; cmp rdi & page mask, tlb.code; jne ─┤
 *   cmp tlb.addend, slot.addend; jne ───────────────────────────────┤
 *   slot.epoch = tlb_epoch; kept++                                  │
 *   hit: hits++; rdx = &record; jmp [slot.entry]                    └──► the exit's stub
 *
 * Same privilege: the table is the code's own (c->user), and note_jump enters only
 * blocks translated for the privilege the CPU ran them with.
 */
static int emit_jump_lookup(JitCtx *c, uint8_t **out, int n, uint8_t **rdx_imm)
{
    JitEmit *e = &c->e;
    static const uint8_t cmp = 0x3b, mov = 0x8b, store = 0x89, jmp = 0xff;
    int32_t table = CPU_OFF(jit_jump[c->user]);
    G_STATIC_ASSERT(sizeof(JitJump) == 32 && JIT_JUMP_WAYS == 2);
    int key = H_RDI; /* x86_jit_jump_key(rdi, the block's mode) */
    if (c->tb->flags != X86_MODE64) {
        je_movabs(e, H_RCX, JIT_JUMP_MODE32);
        je_alu_rr(e, 8, 1 /* or */, H_RCX, H_RDI);
        key = H_RCX;
    }
    /* x86_jit_jump_set(rdi) */
    je_mov_rr(e, 8, H_RAX, H_RDI);
    je_shift_ri(e, 8, 5 /* shr */, H_RAX, 10);
    je_alu_rr(e, 8, 6 /* xor */, H_RAX, H_RDI);
    je_alu_ri(e, 4, 4 /* and */, H_RAX, (1 << JIT_JUMP_SET_BITS) - 1);
    je_shift_ri(e, 4, 4 /* shl */, H_RAX, 6);
    je_op_mem(e, 8, &cmp, 1, key, H_RBX, H_RAX, 0, table + (int32_t)offsetof(JitJump, pc));
    uint8_t *way0 = je_jcc_fwd(e, 4 /* e */);
    je_op_mem(e, 8, &cmp, 1, key, H_RBX, H_RAX, 0,
              table + (int32_t)(sizeof(JitJump) + offsetof(JitJump, pc)));
    out[n++] = je_jcc_fwd(e, 5 /* ne */);
    je_alu_ri(e, 4, 0 /* add */, H_RAX, (int32_t)sizeof(JitJump));
    je_patch_here(e, way0);
    je_op_mem(e, 8, &mov, 1, H_RCX, H_RBX, H_RAX, 0, table + (int32_t)offsetof(JitJump, epoch));
    je_op_mem(e, 8, &cmp, 1, H_RCX, H_RBX, H_NOINDEX, 0, CPU_OFF(tlb_epoch));
    uint8_t *hit = je_jcc_fwd(e, 4 /* e */);
    int32_t tlb = CPU_OFF(tlb[c->user]);
    emit_tlb_index(e, H_RSI, H_RDI);
    je_mov_rr(e, 8, H_RCX, H_RDI);
    je_alu_ri(e, 8, 4 /* and */, H_RCX, (int32_t)GUEST_PAGE_MASK);
    je_op_mem(e, 8, &cmp, 1, H_RCX, H_RBX, H_RSI, 0, tlb + (int32_t)offsetof(TLBEntry, code));
    out[n++] = je_jcc_fwd(e, 5 /* ne */);
    je_op_mem(e, 8, &mov, 1, H_RCX, H_RBX, H_RSI, 0, tlb + (int32_t)offsetof(TLBEntry, addend));
    je_op_mem(e, 8, &cmp, 1, H_RCX, H_RBX, H_RAX, 0, table + (int32_t)offsetof(JitJump, addend));
    out[n++] = je_jcc_fwd(e, 5 /* ne */);
    je_load(e, 8, H_RCX, H_RBX, CPU_OFF(tlb_epoch));
    je_op_mem(e, 8, &store, 1, H_RCX, H_RBX, H_RAX, 0, table + (int32_t)offsetof(JitJump, epoch));
    je_alu_mem_imm(e, 8, 0 /* add */, H_RBX, CPU_OFF(jit_jump_tlb), 1);
    je_patch_here(e, hit);
    je_alu_mem_imm(e, 8, 0 /* add */, H_RBX, CPU_OFF(jit_jump_hits), 1);
    je_movabs(e, H_RDX, 0); /* the exit's record (patched) */
    *rdx_imm = e->p - 8;
    je_op_mem(e, 4, &jmp, 1, 4 /* jmp r/m64 */, H_RBX, H_RAX, 0,
              table + (int32_t)offsetof(JitJump, entry));
    return n;
}

/* what a chained exit records after its code, for x86_jit_link */
typedef struct JitLinkRec {
    uint64_t pc;       /* where the exit leaves for */
    int32_t epoch_at;  /* from the record to the imm64 of the TLB epoch the link is valid in;
                        * 0: a target in the block's page, valid while the frame's epoch is */
    int32_t addend_at; /* a target in another page, a ret's in 64-bit code: to the imm64 of
                        * its TLB entry's addend */
    int32_t jmp_at;    /* from the record to the rel32 of the jump to patch */
    int32_t pc_at;     /* a ret's: from the record to the imm64 of the target it is linked to */
    int32_t user;      /* the TLB privilege the code runs with */
    uint32_t misses;   /* a ret's: times it was linked to another target */
    uint32_t mode;     /* the block's X86_MODE_*: never linked to code of another mode */
    uint32_t linked;   /* patched at least once (`info jit` counts first links apart) */
} JitLinkRec;

/*
 *   add insns, count; leave checks ──fail──────────────────────────────┐
 *   (ret: movabs rax, target (patched); cmp rax, rip; jne) ─────────────┤
 *   movabs rax, epoch (patched); cmp rax, tlb_epoch; jne ──────────────┤
 *     (a target in the block's page: nothing, leave_flushed was tested;│
 *      in another page, or a ret's or indirect exit's in 64-bit code:  │
 *      the epoch's je, else its TLB entry's code tag and addend        │
 *      (patched) compared; a ret's failing goes to the lookup)         │
 *   movabs rdx, &record                                                 │
 *   jmp rel32 (patched: the next block's chain entry; first: the stub) ┤
 *   stub: rip = target; jit_link_req = &record; return 0  ◄────────────┘
 *   record (JitLinkRec)
 * A TLB flush since the link was made (the epoch differs) leaves through the stub, and the
 * main loop links it again to the block the new mapping gives; a link within the block's
 * page holds across flushes, and only one since this frame began leaves (leave_flushed); a
 * link to another page holds while that page's TLB entry maps it where it did. A ret or indirect
 * exit whose linked target misses looks the target up in the CPU's table first
 * (emit_jump_lookup). A ret is linked to the last
 * return address that missed: a call site that keeps calling the same function hits; after
 * JIT_RET_RELINKS different targets it stays linked to the last one.
 */
static void emit_chain_exit(JitCtx *c, uint64_t target, bool dynamic, uint32_t count)
{
    JitEmit *e = &c->e;
    uint8_t *out[9];
    uint8_t *pc_imm = NULL;
    pend_store_here(c);                    /* rdi stays */
    emit_write_back(e, c->held, c->dirty); /* the next block starts with no copies */
    int n = emit_leave_checks(c, count, out);
    static const uint8_t cmp = 0x3b;
    uint8_t *lookup = NULL, *lookup_rdx_imm = NULL;
    if (dynamic) { /* rip (and rdi) hold the target: linked to one target, the last one seen */
        je_movabs(e, H_RCX, UINT64_MAX);
        pc_imm = e->p - 8;
        je_alu_rr(e, 8, 7, H_RCX, H_RDI);
        lookup = je_jcc_fwd(e, 5 /* ne */);
    }
    uint8_t *epoch_imm = NULL, *addend_imm = NULL, *linked = NULL;
    /* keyed on pages in 64-bit code only, where the target is a linear address (CS base 0) */
    bool paged = !dynamic && c->tb->flags == X86_MODE64;
    bool same_page = paged && (target >> GUEST_PAGE_BITS) == (c->tb->pc >> GUEST_PAGE_BITS);
    if (same_page) {
        /* A target in this block's page is in its physical page too, as long as the mapping
         * this code was entered with holds: the link outlives TLB flushes (a guest with
         * page-table isolation writes CR3 at every kernel entry and exit), and a flush since
         * the frame began set leave_flushed, which the leave checks above tested (until
         * session 14 the TLB epoch was compared with the frame's here). Until linked, the
         * jump below goes to the stub. */
    } else if (paged) {
        /* A target in another page: linked while the TLB epoch is the one of the link, or
         * else while the TLB entry of that page holds it, for execution, at the host address
         * it had when linked (both patched in): a flush or an invlpg that dropped or remapped
         * the entry leaves, one that did not keeps the link (the entry alone would leave
         * whenever a data access took its slot). */
        je_movabs(e, H_RAX, UINT64_MAX);
        epoch_imm = e->p - 8;
        je_op_mem(e, 8, &cmp, 1, H_RAX, H_RBX, H_NOINDEX, 0, CPU_OFF(tlb_epoch));
        linked = je_jcc_fwd(e, 4 /* e */);
        int32_t ent = CPU_OFF(tlb[c->user]) +
                      (int32_t)(((target >> GUEST_PAGE_BITS) & (TLB_SIZE - 1)) * sizeof(TLBEntry));
        je_movabs(e, H_RAX, target & GUEST_PAGE_MASK);
        je_op_mem(e, 8, &cmp, 1, H_RAX, H_RBX, H_NOINDEX, 0,
                  ent + (int32_t)offsetof(TLBEntry, code));
        out[n++] = je_jcc_fwd(e, 5 /* ne */);
        je_movabs(e, H_RAX, 0); /* until linked, the jump below goes to the stub */
        addend_imm = e->p - 8;
        je_op_mem(e, 8, &cmp, 1, H_RAX, H_RBX, H_NOINDEX, 0,
                  ent + (int32_t)offsetof(TLBEntry, addend));
    } else {
        je_movabs(e, H_RAX, UINT64_MAX); /* no epoch is UINT64_MAX: never taken until linked */
        epoch_imm = e->p - 8;
        je_op_mem(e, 8, &cmp, 1, H_RAX, H_RBX, H_NOINDEX, 0, CPU_OFF(tlb_epoch));
    }
    /* a ret or indirect exit linked before a TLB flush: its target may still be in the
     * lookup table, kept there while its page's TLB entry is */
    uint8_t *lookup_epoch = same_page ? NULL : je_jcc_fwd(e, 5 /* ne */);
    if (!lookup) {
        if (lookup_epoch) {
            out[n++] = lookup_epoch;
        }
        lookup_epoch = NULL;
    }
    uint8_t *lookup_page = NULL;
    if (dynamic && c->tb->flags == X86_MODE64) {
        /* Or its own link holds, as a direct link to another page does, while the target's
         * TLB entry maps its page for execution at the host address it had when linked
         * (patched in): a CR3 write keeps the global (kernel) pages' entries, an invlpg all
         * but one page's. The table's slot may have gone to another target meanwhile (~400
         * exits a MB of bench/net http left for the main loop so, and were linked again as
         * they were). rdi stays: the lookup's key. */
        linked = je_jmp_fwd(e);
        je_patch_here(e, lookup_epoch);
        static const uint8_t mov = 0x8b;
        int32_t tlb = CPU_OFF(tlb[c->user]);
        emit_tlb_index(e, H_RSI, H_RDI);
        je_mov_rr(e, 8, H_RCX, H_RDI);
        je_alu_ri(e, 8, 4 /* and */, H_RCX, (int32_t)GUEST_PAGE_MASK);
        je_op_mem(e, 8, &cmp, 1, H_RCX, H_RBX, H_RSI, 0, tlb + (int32_t)offsetof(TLBEntry, code));
        lookup_epoch = je_jcc_fwd(e, 5 /* ne */);
        je_movabs(e, H_RAX, UINT64_MAX); /* no addend is UINT64_MAX: not taken until linked */
        addend_imm = e->p - 8;
        je_op_mem(e, 8, &mov, 1, H_RCX, H_RBX, H_RSI, 0, tlb + (int32_t)offsetof(TLBEntry, addend));
        je_alu_rr(e, 8, 7 /* cmp */, H_RCX, H_RAX);
        lookup_page = je_jcc_fwd(e, 5 /* ne */);
    }
    if (linked) {
        je_patch_here(e, linked);
    }
    je_movabs(e, H_RDX, 0); /* the record, for the chain entry's stale-code path */
    uint8_t *rdx_imm = e->p - 8;
    out[n++] = je_jmp_fwd(e);
    uint8_t *jmp_rel = out[n - 1];
    if (lookup) {
        je_patch_here(e, lookup);
        je_patch_here(e, lookup_epoch);
        if (lookup_page) {
            je_patch_here(e, lookup_page);
        }
        n = emit_jump_lookup(c, out, n, &lookup_rdx_imm);
    }
    for (int k = 0; k < n; k++) {
        je_patch_here(e, out[k]);
    }
    if (!dynamic) {
        je_mov_imm(e, H_RAX, target);
        je_store(e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
    }
    je_movabs(e, H_RAX, 0); /* the record's address in the executable mapping, below */
    uint8_t *rec_imm = e->p - 8;
    je_store(e, 8, H_RBX, CPU_OFF(jit_link_req), H_RAX);
    je_mov_imm(e, H_RAX, 0);
    emit_epilogue(c);
    JitLinkRec rec = {.pc = target,
                      .epoch_at = epoch_imm ? (int32_t)(epoch_imm - e->p) : 0,
                      .addend_at = addend_imm ? (int32_t)(addend_imm - e->p) : 0,
                      .jmp_at = (int32_t)(jmp_rel - e->p),
                      .pc_at = dynamic ? (int32_t)(pc_imm - e->p) : 0,
                      .user = c->user,
                      .mode = c->tb->flags};
    uint8_t *at = e->p;
    for (size_t k = 0; k < sizeof(rec); k++) {
        je_byte(e, ((const uint8_t *)&rec)[k]);
    }
    if (!e->overflow) {
        uint64_t rx = (uint64_t)(uintptr_t)(c->rx_base + (at - c->rw_base));
        memcpy(rec_imm, &rx, 8);
        memcpy(rdx_imm, &rx, 8);
        if (lookup_rdx_imm) {
            memcpy(lookup_rdx_imm, &rx, 8);
        }
    }
}

void x86_jit_link(X86CPU *cpu, X86Jit *j, const void *req, TB *tb)
{
    const uint8_t *rx = req;
    if (rx < j->rx || rx + sizeof(JitLinkRec) > j->rx + j->used) {
        return; /* made before a flush */
    }
    uint8_t *rw = j->rw + (rx - j->rx);
    JitLinkRec rec;
    memcpy(&rec, rw, sizeof(rec));
    if (rec.pc_at) {
        j->stats.exits_dynamic++;
        /* before note_jump enters tb: did the lookup miss a slot that held it (the
         * slot of this epoch: the exit left for a leave check before the lookup)? */
        const JitJump *s = jump_find(cpu, rec.user, tb->pc, rec.mode);
        bool held = s && s->epoch != UINT64_MAX;
        if (!(held && s->epoch == cpu->tlb_epoch)) {
            j->stats.jump_stale += held;
            j->stats.jump_other += !held;
        }
        /* only the targets of such exits: a direct exit's is never looked up, and took
         * slots from them (bench/net's http missed ~8% more) */
        note_jump(cpu, j, tb);
    } else {
        j->stats.exits_direct++;
    }
    if ((!rec.pc_at && rec.pc != tb->pc) || rec.user != tb->code_user || tb->flags != rec.mode) {
        return;
    }
    G_STATIC_ASSERT(X86_EPOCH_CAUSES == G_N_ELEMENTS(j->stats.links_epoch));
    bool retarget = rec.pc_at && rec.pc != tb->pc;
    if (retarget) { /* a ret: now linked to this target */
        if (rec.misses >= JIT_RET_RELINKS) {
            return;
        }
        if (++rec.misses == JIT_RET_RELINKS) {
            j->stats.ret_sites_fixed++;
        }
        rec.pc = tb->pc;
        memcpy(rw, &rec, sizeof(rec));
        memcpy(rw + rec.pc_at, &tb->pc, 8);
    }
    uint8_t *entry = (uint8_t *)tb->code + j->entry_off;
    const uint8_t *jmp_rx = rx + rec.jmp_at;
    int32_t rel = (int32_t)(entry - (jmp_rx + 4));
    uint64_t addend = 0, was_addend = 0, was_epoch = cpu->tlb_epoch;
    if (rec.addend_at) {
        const TLBEntry *te = x86_tlbe(cpu, rec.pc, rec.user);
        if (te->code == (rec.pc & GUEST_PAGE_MASK)) {
            addend = te->addend;
        } else if (!rec.pc_at) {
            return; /* the main loop fetched it past the TLB: nothing to key the link on */
        } else {
            addend = UINT64_MAX; /* a ret's (its target patched above): by the epoch alone */
        }
        memcpy(&was_addend, rw + rec.addend_at, 8);
    }
    int32_t was_rel;
    memcpy(&was_rel, rw + rec.jmp_at, 4);
    if (rec.epoch_at) {
        memcpy(&was_epoch, rw + rec.epoch_at, 8);
    }
    if (was_rel == rel && was_epoch == cpu->tlb_epoch && was_addend == addend) {
        j->stats.exits_checks++;
        if (!__atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED)) {
            j->stats.checks_other++;
        } else if (cpu->env.eflags & IF_MASK) {
            j->stats.checks_irq_open++;
        } else {
            j->stats.checks_irq_masked++;
        }
        return; /* linked so already (it left for a leave check): no write into live code */
    }
    if (rec.epoch_at) {
        memcpy(rw + rec.epoch_at, &cpu->tlb_epoch, 8);
    }
    if (rec.addend_at) {
        memcpy(rw + rec.addend_at, &addend, 8);
    }
    memcpy(rw + rec.jmp_at, &rel, 4);
    j->stats.links++;
    if (!rec.linked) {
        j->stats.links_first++;
        rec.linked = 1;
        memcpy(rw, &rec, sizeof(rec));
    } else if (retarget) {
        j->stats.links_retarget++;
    } else {
        j->stats.links_epoch[cpu->epoch_cause]++;
    }
}

/*
 * A taken branch back to the block's first instruction: the pass's instructions are counted,
 * then the block runs again in host code while the loop in run_tb (cpu.c) would run it again:
 * no exit request, interrupt line, NMI, budget end, store into a code page, TLB flush or
 * code change. Otherwise it leaves with rip at the block's start and nothing more retired.
 */
static void emit_loop_back(JitCtx *c)
{
    JitEmit *e = &c->e;
    uint8_t *out[8];
    if (c->entry_live) { /* else pending flags are stored only if the loop leaves here */
        pend_store_here(c);
    }
    /* the loop's start takes its registers' copies as dirty: only a copy of another register
     * (whose slot the start reloads) is stored */
    for (int s = 0; s < (int)G_N_ELEMENTS(slot_reg); s++) {
        if ((c->dirty & (1u << s)) && c->held[s] != c->entry_held[s]) {
            je_store(e, 8, H_RBX, REG_OFF(c->held[s]), slot_reg[s]);
        }
    }
    int n = emit_leave_checks(c, c->done + 1, out);
    /* a store into a code page, a TLB flush or a code change happen only in a helper, which
     * a slow path calls after marking the frame: the common pass skips those checks */
    je_cmp_dword_imm(e, H_RSP, FRAME_SLOW, 0);
    uint8_t *slow = je_jcc_fwd(e, 5 /* ne */);
    uint8_t *again = e->p;
    je_label(e);
    /* the slots as the loop's start has them: a register whose copy moved or was evicted is
     * loaded again (memory is current: its copy was stored above or when it was evicted); the
     * bookkeeping stays, since the code after a conditional back edge goes on with it */
    for (int s = 0; s < (int)G_N_ELEMENTS(slot_reg); s++) {
        int r = c->entry_held[s];
        if (r >= 0 && c->slot_of[r] != s) {
            je_load(e, 8, slot_reg[s], H_RBX, REG_OFF(r));
        }
    }
    je_jmp_back(e, c->loop_top);
    je_patch_here(e, slow); /* tb_exit is in the leave word, tested above */
    static const uint8_t cmp = 0x3b;
    je_load(e, 8, H_RAX, H_RBX, CPU_OFF(tlb_epoch));
    je_op_mem(e, 8, &cmp, 1, H_RAX, H_RSP, H_NOINDEX, 0, FRAME_EPOCH);
    out[n++] = je_jcc_fwd(e, 5);
    /* the page's code generation, as the chain entry checks it */
    emit_gen_cmp(c);
    out[n++] = je_jcc_fwd(e, 5);
    je_store_imm(e, 4, H_RSP, FRAME_SLOW, 0);
    je_jmp_back(e, again);
    for (int k = 0; k < n; k++) {
        je_patch_here(e, out[k]);
    }
    emit_exit_imm(c, c->tb->pc, 0);
}

/* Runs one instruction through its interpreter handler, as run_insns would (env.rip is the
 * next instruction's, cur_rip its own); tb_end stops the handler's threaded x86_next there. */
static void jit_interp(X86CPU *cpu, const X86Insn *in)
{
    if (x86_optab[in->op].exec == x86_exec_sse) {
        int p = in->prefix & PFX_DATA    ? 1
                : in->prefix & PFX_REPZ  ? 2
                : in->prefix & PFX_REPNZ ? 3
                                         : 0;
        cpu->jit->sse_handled[(p * 256 + (in->op & 0xff)) * 2 + (in->mod != 3)]++;
    } else {
        unsigned op = in->op & (X86_OPTAB_SIZE - 1);
        cpu->jit->handled[(op * 8 + (in->reg & cpu->jit->group_reg[op])) * 2 +
                          ((x86_optab[op].flags & X86_OPF_MODRM) && in->mod != 3)]++;
    }
    cpu->tb_end = in + 1;
    cpu->cur_in = in;
    in->fn(cpu, in);
    /* a handler that set IF with the line up (iret, popf, sti at CPL 3): the leave word is not
     * set by IF, so the block leaves here, where the main loop would take the interrupt */
    if (unlikely(__atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED) & cpu->env.eflags)) {
        __atomic_store_n(&cpu->leave_async, 1, __ATOMIC_RELAXED);
    }
}

/*
 * K_INTERP: the state made exact (registers written back, rip and cur_rip set, the lazy
 * flags are already: flags_effect makes it opaque), the handler called, the copies dropped
 * (it may write any register). A fault unwinds as from a slow path. Afterwards the block
 * leaves when the handler stored into a code page or did not end at the next instruction (a
 * rep restarting itself sets both): the instruction counts as retired, as in run_insns.
 */
static void emit_interp_call_to(JitCtx *c, const X86Insn *in, const void *fn)
{
    JitEmit *e = &c->e;
    emit_write_back(e, c->held, c->dirty);
    cache_reset(c);
    emit_sync_rip(c, c->done);
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_movabs(e, H_RSI, 0); /* the copy's address, patched in emit_interp_copies */
    c->interp[c->ninterp] = in;
    c->interp_imm[c->ninterp++] = e->p - 8;
    je_call(e, fn);
}

static void emit_interp_call(JitCtx *c, const X86Insn *in)
{
    emit_interp_call_to(c, in, jit_interp);
}

/*
 * K_SYS: popf, mov to sreg or swapgs by its handler, then whether the code may go on. None
 * changes the privilege; mov ss starts an interrupt shadow (tb_exit, kept). A segment load may
 * leave 32-bit code's segments not flat: the block leaves (tb_exit), as run_tb would not enter
 * it. The handlers of popf and of group 7 set tb_exit whatever they did: swapgs changes only the
 * GS base, read from env by translated code; after popf, with TF clear and no interrupt
 * deliverable, the main loop would only run the next instruction, which the code does itself
 * (an interrupt popf unmasks while the line is up is taken right after it, as interpreted;
 * one raised later at the block's end, as after any block).
 */
static void jit_sys(X86CPU *cpu, const X86Insn *in)
{
    jit_interp(cpu, in);
    const TB mode = {.flags = in->mode};
    X86CPUState *env = &cpu->env;
    if (!x86_jit_mode_ok(cpu, &mode)) {
        cpu->tb_exit = 1;
    } else if (is_swapgs(in)) {
        cpu->tb_exit = 0;
    } else if (in->op == 0x9d && !(env->eflags & TF_MASK) &&
               !(__atomic_load_n(&cpu->irq_level, __ATOMIC_RELAXED) & env->eflags) &&
               !__atomic_load_n(&env->nmi_pending, __ATOMIC_RELAXED)) {
        cpu->tb_exit = 0;
    }
}

static void emit_interp_to(JitCtx *c, const X86Insn *in, const void *fn)
{
    JitEmit *e = &c->e;
    emit_interp_call_to(c, in, fn);
    je_cmp_dword_imm(e, H_RBX, CPU_OFF(leave), 0);
    uint8_t *out = je_jcc_fwd(e, 5 /* ne */);
    je_mov_imm(e, H_RAX, c->next);
    static const uint8_t cmp = 0x3b;
    je_op_mem(e, 8, &cmp, 1, H_RAX, H_RBX, H_NOINDEX, 0, CPU_OFF(env.rip));
    uint8_t *stay = je_jcc_fwd(e, 4 /* e */);
    je_patch_here(e, out);
    je_mov_imm(e, H_RAX, c->done + 1); /* rip as the handler left it */
    emit_epilogue(c);
    je_patch_here(e, stay);
}

static void emit_interp(JitCtx *c, const X86Insn *in)
{
    emit_interp_to(c, in, jit_interp);
}

/* the copies of the K_INTERP instructions, after the block's code (read through the
 * executable mapping, which is readable) */
static void emit_interp_copies(JitCtx *c)
{
    JitEmit *e = &c->e;
    while ((uintptr_t)e->p & 7) {
        je_byte(e, 0xcc);
    }
    for (unsigned k = 0; k < c->ninterp; k++) {
        uint8_t *at = e->p;
        for (size_t b = 0; b < sizeof(X86Insn); b++) {
            je_byte(e, ((const uint8_t *)c->interp[k])[b]);
        }
        if (!e->overflow) {
            uint64_t rx = (uint64_t)(uintptr_t)(c->rx_base + (at - c->rw_base));
            memcpy(c->interp_imm[k], &rx, 8);
        }
    }
}

/* ---- what jit-sse.c's emitters call (jit-internal.h) ---- */

/* COLD_HANDLER's call: jit_interp on a copy of in kept after the block, as K_INTERP's (one
 * copy per slow path: the patch point is the path's own) */
static void emit_handler_call(JitCtx *c, const X86Insn *in)
{
    JitEmit *e = &c->e;
    if (c->ninterp == G_N_ELEMENTS(c->interp)) {
        e->overflow = true; /* refuse the block */
        return;
    }
    je_mov_rr(e, 8, H_RDI, H_RBX);
    je_movabs(e, H_RSI, 0); /* the copy's address, patched in emit_interp_copies */
    c->interp[c->ninterp] = in;
    c->interp_imm[c->ninterp++] = e->p - 8;
    je_call(e, jit_interp);
}

JitEmit *jit_emitter(JitCtx *c)
{
    return &c->e;
}

bool jit_mem_ok(const X86Insn *in)
{
    return mem_ok(in);
}

void jit_emit_ea(JitCtx *c, const X86Insn *in)
{
    emit_ea(c, in, true);
}

uint8_t *jit_emit_tlb(JitCtx *c, int size, bool write)
{
    uint8_t *miss = emit_tlb_check(c, size, write);
    emit_tlb_addend(c);
    return miss;
}

void jit_emit_store_mark(JitCtx *c, int size)
{
    emit_store_mark(c, size);
}

void jit_emit_tb_exit_check(JitCtx *c)
{
    emit_stored_exit_check(c);
}

/* the slow path's state is taken now; where it comes back (resume) is set by jit_cold_rejoin */
void jit_cold_handler(JitCtx *c, const X86Insn *in, uint8_t *from)
{
    add_cold(c, COLD_HANDLER, 0, from);
    if (!c->e.overflow) {
        c->cold[c->ncold - 1].insn = in;
        c->cold[c->ncold - 1].resume = NULL;
    }
}

void jit_cold_rejoin(JitCtx *c)
{
    je_label(&c->e);
    for (unsigned k = 0; k < c->ncold; k++) {
        if (c->cold[k].kind == COLD_HANDLER && !c->cold[k].resume) {
            c->cold[k].resume = c->e.p;
        }
    }
}

void jit_gpr_read(JitCtx *c, int h, int r, int size)
{
    ld_reg(c, h, r, size);
}

void jit_gpr_write(JitCtx *c, int r, int h)
{
    st_reg(c, r, h);
}

bool *jit_sse_checked(JitCtx *c)
{
    return &c->sse_checked;
}

/* Emits one instruction; false: it ended the block. */
static bool emit_insn(JitCtx *c, const X86Insn *in, int kind)
{
    JitEmit *e = &c->e;
    int size = osize(in);
    int flags = c->flags;
    c->flags = FL_NONE;
    c->insn_cold = c->ncold;
    switch (kind) {
    case K_MOV_RR: {
        int dst = in->op & 2 ? in->reg : in->rm, src = in->op & 2 ? in->rm : in->reg;
        c->flags = flags; /* moves only: the host's flags survive */
        if (size >= 4) {  /* copy to copy (4: zero-extends) */
            int hs = slot_read(c, src, 0);
            int hd = cache_take_keep(c, dst, slot_bit(c, src));
            slot_written(c, dst);
            if (hd != hs || size == 4) {
                je_mov_rr(e, size, hd, hs);
            }
            return true;
        }
        ld_greg(c, in, H_RAX, src, size);
        st_greg(c, in, dst, size, H_RAX);
        c->flags = flags; /* moves only: the host's flags survive */
        return true;
    }
    case K_LOAD:
        emit_ea(c, in, true);
        if (size >= 4) {
            emit_load_copy(c, in->reg, size);
            return true;
        }
        emit_load(c, size);
        st_greg(c, in, in->reg, size, H_RAX);
        return true;
    case K_STORE:
        ld_greg(c, in, H_RDI, in->reg, size);
        emit_ea(c, in, true);
        emit_store(c, size);
        emit_stored_exit_check(c);
        return true;
    case K_MOV_IMM: {
        int r = in->op >= 0xc6 ? in->rm : opcode_reg(in);
        je_mov_imm(e, H_RAX, size == 8 ? in->imm : (uint32_t)in->imm);
        st_greg(c, in, r, size, H_RAX);
        c->flags = flags;
        return true;
    }
    case K_STORE_IMM:
        je_mov_imm(e, H_RDI, in->imm);
        emit_ea(c, in, true);
        emit_store(c, size);
        emit_stored_exit_check(c);
        return true;
    case K_LEA:
        if (in->base < 16) {
            /* between copies: lea dst, [base + index * scale + disp] (4: truncated) */
            int hb = slot_read(c, in->base, 0);
            int hi = in->index < 16 ? slot_read(c, in->index, slot_bit(c, in->base)) : H_NOINDEX;
            unsigned keep = slot_bit(c, in->base) | (in->index < 16 ? slot_bit(c, in->index) : 0);
            int hd = cache_take_keep(c, in->reg, keep);
            slot_written(c, in->reg);
            je_lea(e, hd, hb, hi, in->scale, in->disp);
            if (size == 4) {
                je_mov_rr(e, 4, hd, hd);
            }
            c->flags = flags;
            return true;
        }
        emit_ea(c, in, false);
        if (size == 4) {
            je_mov_rr(e, 4, H_RSI, H_RSI);
        }
        st_reg(c, in->reg, H_RSI);
        c->flags = flags; /* emit_ea without a segment base: lea and mov only */
        return true;
    case K_ALU_RR: {
        bool to_reg = in->op & 2;
        int dst = to_reg ? in->reg : in->rm, src = to_reg ? in->rm : in->reg;
        if (emit_alu_in_place(c, in, in->op >> 3, size, dst, src, 0)) {
            return true;
        }
        ld_greg(c, in, H_RAX, dst, size);
        ld_greg(c, in, H_RCX, src, size);
        emit_alu(c, in, in->op >> 3, size, dst);
        return true;
    }
    case K_ALU_RM:
        emit_rm_source(c, in, size);
        ld_greg(c, in, H_RAX, in->reg, size);
        emit_alu(c, in, in->op >> 3, size, in->reg);
        return true;
    case K_ALU_RI:
    case K_TEST_RI: {
        uint64_t imm = imm_sized(in, size);
        bool acc = in->op < 0x40 || in->op == 0xa8 || in->op == 0xa9; /* al/eax/rax forms */
        int dst = acc ? R_EAX : in->rm;
        int aop = kind == K_TEST_RI ? 8 : acc ? in->op >> 3 : in->reg & 7;
        if (emit_alu_in_place(c, in, aop, size, dst, -1, imm)) {
            return true;
        }
        ld_greg(c, in, H_RAX, dst, size);
        je_mov_imm(e, H_RCX, imm);
        emit_alu(c, in, aop, size, dst);
        return true;
    }
    case K_TEST_RR:
        if (emit_alu_in_place(c, in, 8, size, in->rm, in->reg, 0)) {
            return true;
        }
        ld_greg(c, in, H_RAX, in->rm, size);
        ld_greg(c, in, H_RCX, in->reg, size);
        emit_alu(c, in, 8, size, in->rm);
        return true;
    case K_CMP_MEM: { /* the memory operand is the destination, which cmp and test keep */
        bool test = in->op == 0x84 || in->op == 0x85 || in->op == 0xf6 || in->op == 0xf7;
        emit_ea(c, in, true);
        emit_load(c, size);
        if (in->op < 0x80 || in->op == 0x84 || in->op == 0x85) {
            ld_greg(c, in, H_RCX, in->reg, size);
        } else {
            je_mov_imm(e, H_RCX, imm_sized(in, size));
        }
        emit_alu(c, in, test ? 8 : 7, size, in->rm);
        return true;
    }
    case K_ADC:
        emit_adc(c, in, flags);
        return true;
    case K_NOT: /* the host's not leaves its flags alone, as the guest's */
        ld_greg(c, in, H_RAX, in->rm, size);
        je_rex(e, size == 8, 0, 0, H_RAX, false);
        je_byte(e, 0xf7);
        je_byte(e, 0xd0); /* not rax / eax (a byte result is stored alone) */
        st_greg(c, in, in->rm, size, H_RAX);
        c->flags = flags;
        return true;
    case K_NEG: /* 0 - the operand, as the interpreter computes it (a sub's lazy flags) */
        ld_greg(c, in, H_RCX, in->rm, size);
        je_mov_imm(e, H_RAX, 0);
        emit_alu(c, in, 5, size, in->rm);
        return true;
    case K_PUSH:
        ld_reg(c, H_RDI, opcode_reg(in), 8);
        emit_push_mode(c);
        emit_stored_exit_check(c);
        return true;
    case K_POP:
        if (opcode_reg(in) != R_ESP) {
            emit_pop_copy(c, opcode_reg(in));
            return true;
        }
        emit_pop_mode(c);
        st_reg(c, opcode_reg(in), H_RAX);
        return true;
    case K_JCC: {
        int cc = in->op & 15;
        uint64_t target = jit_wrap(c, c->next + in->imm);
        uint8_t *stay;
        c->flags = flags;
        bool host = host_cc(c, cc);
        if (host) {
            stay = je_jcc_fwd(e, cc ^ 1);
        } else {
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_imm(e, H_RSI, cc);
            je_call(e, jit_cond);
            je_test_rr(e, 4, H_RAX, H_RAX);
            stay = je_jcc_fwd(e, 4 /* e */);
        }
        if (target == c->tb->pc) {
            emit_loop_back(c);
        } else {
            emit_chain_exit(c, target, false, c->done + 1);
        }
        je_patch_here(e, stay);
        c->flags = host ? flags : FL_NONE; /* falling through, the flags are as they were */
        return true;
    }
    case K_JMP:
        if (jit_wrap(c, c->next + in->imm) == c->tb->pc) {
            emit_loop_back(c);
        } else {
            emit_chain_exit(c, jit_wrap(c, c->next + in->imm), false, c->done + 1);
        }
        return false;
    case K_CALL:
        je_mov_imm(e, H_RDI, c->next);
        emit_push_mode(c);
        emit_chain_exit(c, jit_wrap(c, c->next + in->imm), false, c->done + 1);
        return false;
    case K_RET:
        emit_pop_mode(c);
        je_store(e, 8, H_RBX, CPU_OFF(env.rip), H_RAX);
        je_mov_rr(e, 8, H_RDI, H_RAX); /* compared in a register, not through the store */
        emit_chain_exit(c, 0, true, c->done + 1);
        return false;
    case K_NOP:
        c->flags = flags;
        return true;
    case K_SSE:
        jit_sse_emit(c, in);
        return true;
    case K_ALU_MEM:
        emit_alu_mem(c, in, size, flags);
        return true;
    case K_CMPXCHG:
        emit_cmpxchg(c, in, size);
        return true;
    case K_XADD:
        emit_xadd(c, in, size);
        return true;
    case K_BSWAP: { /* on the copy (32 bits: zero-extended, as the interpreter's) */
        int r = opcode_reg(in);
        int h = slot_read(c, r, 0);
        slot_written(c, r);
        je_bswap(e, size, h);
        c->flags = flags;
        return true;
    }
    case K_PUSH_IMM: /* the immediate sign-extended to the stack's size */
        je_mov_imm(e, H_RDI, in->imm);
        emit_push_mode(c);
        emit_stored_exit_check(c);
        return true;
    case K_PUSH_MEM: /* the load first (its fault first), then the push */
        emit_ea(c, in, true);
        emit_load(c, c->tb->flags == X86_MODE32 ? 4 : 8);
        je_mov_rr(e, 8, H_RDI, H_RAX);
        emit_push_mode(c);
        emit_stored_exit_check(c);
        return true;
    case K_FENCE: /* as the interpreter's: a sequentially consistent fence, whichever of the three
                   */
        je_byte(e, 0x0f);
        je_byte(e, 0xae);
        je_byte(e, 0xf0); /* mfence */
        c->flags = flags;
        return true;
    case K_CLI_STI:
        emit_cli_sti(c, in, c->shadow_next);
        c->shadow_open = in->op == 0xfb && c->shadow_next;
        return true;
    case K_PUSHF: /* the value from the lazy flags (opaque: exact before), then a push */
        je_mov_rr(e, 8, H_RDI, H_RBX);
        je_call(e, jit_pushf_value);
        je_mov_rr(e, 8, H_RDI, H_RAX);
        emit_push_mode(c);
        emit_stored_exit_check(c);
        return true;
    case K_CWDE: { /* on rax's copy: movsxd (cdqe) or movsx r32, r16 (cwde, zero-extended) */
        static const uint8_t movsxd = 0x63, movsx16[2] = {0x0f, 0xbf};
        int h = slot_read(c, R_EAX, 0);
        slot_written(c, R_EAX);
        je_op_rr(e, size, size == 8 ? &movsxd : movsx16, size == 8 ? 1 : 2, h, h);
        c->flags = flags; /* no flags */
        return true;
    }
    case K_SHIFT_CL: {
        static const uint8_t shift_cl = 0xd3;
        if (!c->dead) { /* flags seen: made exact before (FX_PARTIAL), a count of 0 keeps them */
            int g = in->reg & 7;
            ld_reg(c, H_RCX, R_ECX, 4);
            ld_reg(c, H_RAX, in->rm, size); /* 4: zero-extended, as even a count of 0 leaves it */
            je_alu_ri(e, 4, 4 /* and */, H_RCX, size == 8 ? 63 : 31);
            uint8_t *zero = je_jcc_fwd(e, 4 /* e */);
            if (g == 5) { /* shr: OF is the operand's sign */
                je_mov_rr(e, 8, H_RDX, H_RAX);
                je_shift_ri(e, 8, 5, H_RDX, size * 8 - 1);
            }
            je_op_rr(e, size, &shift_cl, 1, g, H_RAX);
            emit_shift_flags(c, g, size);
            je_patch_here(e, zero);
            st_reg(c, in->rm, H_RAX);
            return true;
        }
        ld_reg(c, H_RCX, R_ECX, 4);
        int h = slot_read(c, in->rm, 0);
        slot_written(c, in->rm);
        /* shl/shr/sar h, cl: the guest's instruction, so the count's masking and a 32-bit
         * result zero-extended even with a count of 0 are the host's too */
        je_op_rr(e, size, &shift_cl, 1, in->reg & 7, h);
        return true;
    }
    case K_INTERP:
        emit_interp(c, in);
        return true;
    case K_MUL: /* the source first (it may be rax or rdx); CF = OF = the high half's not 0 */
        ld_reg(c, H_RCX, in->rm, size);
        ld_reg(c, H_RAX, R_EAX, size);
        je_op_rr(e, size, (const uint8_t[]){0xf7}, 1, 4, H_RCX); /* mul rcx: 32 bits zero-extend */
        st_reg(c, R_EDX, H_RDX); /* moves only: the host's CF stays for the flags */
        emit_imul_flags(c, in, size);
        st_reg(c, R_EAX, H_RAX);
        return true;
    case K_BT:
        emit_bt(c, in, size);
        return true;
    case K_BSF:
        emit_bsf(c, in, size);
        return true;
    case K_CLD: /* DF in the eflags word, as the handler leaves it */
        je_alu_mem_imm(e, 8, in->op == 0xfc ? 4 : 1, H_RBX, CPU_OFF(env.eflags),
                       in->op == 0xfc ? ~(int32_t)DF_MASK : (int32_t)DF_MASK);
        return true;
    case K_XCHG:
        emit_xchg(c, in, size);
        return true;
    case K_DIV: {
        /* rdx >= the divisor (unsigned) is exactly when the guest's div raises #DE: a divisor
         * of 0 or a quotient too wide; the handler raises it out of line. rax and rdx have no
         * copy from the branch on, on either path. */
        ld_reg(c, H_RCX, in->rm, size);
        ld_reg(c, H_RDX, R_EDX, size);
        ld_reg(c, H_RAX, R_EAX, size);
        cache_drop(c, R_EAX);
        cache_drop(c, R_EDX);
        je_alu_rr(e, size, 7 /* cmp */, H_RDX, H_RCX);
        jit_cold_handler(c, in, je_jcc_fwd(e, 3 /* ae */));
        je_op_rr(e, size, (const uint8_t[]){0xf7}, 1, 6, H_RCX); /* div rcx: 32 bits zero-extend */
        je_store(e, 8, H_RBX, REG_OFF(R_EAX), H_RAX);
        je_store(e, 8, H_RBX, REG_OFF(R_EDX), H_RDX);
        jit_cold_rejoin(c);
        return true;
    }
    case K_MOV_SREG: /* movzx eax, the selector: no flags, no fault (the register is 0-5) */
        je_op_mem(e, 4, (const uint8_t[]){0x0f, 0xb7}, 2, H_RAX, H_RBX, H_NOINDEX, 0,
                  CPU_OFF(env.segs[in->reg & 7].selector));
        st_greg(c, in, in->rm, size, H_RAX);
        c->flags = flags;
        return true;
    case K_SYS:
        emit_interp_to(c, in, jit_sys);
        return true;
    case K_INDIRECT: /* the handler pushes (call) and sets rip; chained to its last target */
        emit_interp_call(c, in);
        je_load(e, 8, H_RDI, H_RBX, CPU_OFF(env.rip));
        emit_chain_exit(c, 0, true, c->done + 1);
        return false;
    case K_SHIFT_RI: {
        int g = in->reg & 7, bits = size * 8;
        unsigned cnt = shift_count(in);
        if (c->dead && size >= 4) { /* on the copy itself (4: zero-extends) */
            int h = slot_read(c, in->rm, 0);
            slot_written(c, in->rm);
            je_shift_ri(e, size, g, h, cnt);
            return true;
        }
        ld_greg(c, in, H_RAX, in->rm, size);
        if (g == 5) { /* shr: OF is the operand's sign */
            je_mov_rr(e, 8, H_RDX, H_RAX);
            je_shift_ri(e, 8, 5, H_RDX, bits - 1);
        }
        if (size == 1) { /* shl/shr/sar al, cnt: the byte zero-extended, bits 8-63 stay 0 */
            je_byte(e, 0xc0);
            je_byte(e, 0xc0 | g << 3);
            je_byte(e, cnt);
        } else {
            je_shift_ri(e, size, g, H_RAX, cnt); /* the host's CF is the guest's */
        }
        if (!c->dead) {
            emit_shift_flags(c, g, size);
        }
        st_greg(c, in, in->rm, size, H_RAX);
        return true;
    }
    case K_ROT_RI:
        if (c->dead && size >= 4) { /* on the copy itself (4: zero-extends) */
            int h = slot_read(c, in->rm, 0);
            slot_written(c, in->rm);
            je_shift_ri(e, size, in->reg & 7, h, shift_count(in));
            return true;
        }
        ld_reg(c, H_RAX, in->rm, size);
        je_shift_ri(e, size, in->reg & 7, H_RAX, shift_count(in));
        st_reg(c, in->rm, H_RAX);
        if (!c->dead) {
            je_mov_rr(e, 8, H_RDI, H_RBX);
            je_mov_rr(e, 8, H_RSI, H_RAX);
            je_mov_imm(e, H_RDX, (uint64_t)size << 1 | (in->reg & 1));
            je_call(e, jit_rot_flags);
        }
        return true;
    case K_INCDEC: {
        int dec = incdec_short(in) ? (in->op >> 3) & 1 : in->reg & 1;
        int r = incdec_short(in) ? in->op & 7 : in->rm;
        emit_keep_carry(c, flags);
        ld_greg(c, in, H_RAX, r, size);
        emit_incdec_rax(c, size, dec);
        st_greg(c, in, r, size, H_RAX);
        c->flags = c->dead ? FL_NONE : FL_NOCF;
        return true;
    }
    case K_IMUL:
        emit_rm_source(c, in, size);
        ld_reg(c, H_RAX, in->reg, size);
        je_imul_rr(e, size, H_RAX, H_RCX);
        emit_imul_flags(c, in, size);
        st_reg(c, in->reg, H_RAX);
        return true;
    case K_IMUL_I:
        emit_rm_source(c, in, size);
        je_imul_rri(e, size, H_RAX, H_RCX, (int32_t)in->imm);
        emit_imul_flags(c, in, size);
        st_reg(c, in->reg, H_RAX);
        return true;
    case K_CMOV: {
        int cc = in->op & 15;
        c->flags = flags;
        if (in->mod == 3 && host_cc(c, cc)) { /* on the copies */
            int hs = slot_read(c, in->rm, 0);
            int hd = slot_read(c, in->reg, slot_bit(c, in->rm));
            slot_written(c, in->reg);
            je_cmov(e, size, cc, hd, hs);
            return true; /* moves only: the host's flags survive */
        }
        /* the condition first (into the frame), then the source, which may fault */
        emit_cond_rax(c, cc);
        je_store(e, 8, H_RSP, FRAME_TMP, H_RAX);
        emit_rm_source(c, in, size);
        ld_reg(c, H_RAX, in->reg, 8);
        je_cmp_dword_imm(e, H_RSP, FRAME_TMP, 0);
        je_cmov(e, size, 5 /* ne */, H_RAX, H_RCX);
        st_reg(c, in->reg, H_RAX);
        c->flags = FL_NONE;
        return true;
    }
    case K_MOVSXD: /* the 32-bit source sign-extended; without REX.W a 32-bit move */
        c->flags = flags;
        emit_rm_source(c, in, 4);
        if (size == 8) {
            static const uint8_t movsxd = 0x63;
            je_op_rr(e, 8, &movsxd, 1, H_RAX, H_RCX);
        } else {
            je_mov_rr(e, 4, H_RAX, H_RCX);
        }
        st_reg(c, in->reg, H_RAX);
        return true; /* emit_rm_source left c->flags as the host's flags are */
    case K_SETCC:
        c->flags = flags;
        emit_cond_rax(c, in->op & 15);
        st_greg(c, in, in->rm, 1, H_RAX);
        return true; /* emit_cond_rax left c->flags as the host's flags are */
    case K_MOVX: {
        int ssz = (in->op & 1) ? 2 : 1;
        if (in->mod == 3) {
            if (ssz == 1) {
                ld_greg(c, in, H_RAX, in->rm, 1);
            } else {
                cache_clean(c, in->rm);
                je_op_mem(e, 4, (const uint8_t[]){0x0f, 0xb7}, 2, H_RAX, H_RBX, H_NOINDEX, 0,
                          REG_OFF(in->rm));
            }
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
        st_reg(c, in->reg, H_RAX);
        c->flags = in->mod == 3 ? flags : FL_NONE;
        return true;
    }
    }
    g_assert_not_reached();
}

/*
 * Maps the cache's next 2 MiB in both views before code is written there: else each new 4 KiB
 * page faults twice, once written through rw and once first run through rx (~18 000 faults in
 * the test guest's boot, microseconds each on a virtualised host). A kernel without
 * MADV_POPULATE_* leaves the pages to fault as before. The memfd keeps its pages, so a cache
 * that wrapped around needs nothing more.
 */
static void jit_populate_ahead(X86Jit *j)
{
    const size_t chunk = 2u << 20;
    while (j->populated < j->size && j->used + JIT_BLOCK_SPACE > j->populated) {
        size_t len = MIN(chunk, j->size - j->populated);
        if (madvise(j->rw + j->populated, len, MADV_POPULATE_WRITE) == 0) {
            madvise(j->rx + j->populated, len, MADV_POPULATE_READ);
        }
        j->populated += len;
    }
}

/*
 * Before the block's last instruction, which runs on into the next page: that page's code TLB
 * entry (of the privilege the code is made for) must map it to the RAM it was decoded from, and
 * its code generation be as then; else the block leaves before the instruction, for run_xpage.
 */
static void emit_xpage_check(JitCtx *c)
{
    JitEmit *e = &c->e;
    const TB *tb = c->tb;
    uint64_t pc2 = ((tb->pc & GUEST_PAGE_MASK) + tb->xpage_pos + GUEST_PAGE_SIZE) & GUEST_PAGE_MASK;
    pc2 = tb->flags == X86_MODE64 ? pc2 : (uint32_t)pc2;
    int32_t ent = CPU_OFF(tlb[c->user][(pc2 >> GUEST_PAGE_BITS) & (TLB_SIZE - 1)]);
    static const uint8_t cmp[] = {0x3b};
    je_load(e, 8, H_RAX, H_RBX, ent + (int32_t)offsetof(TLBEntry, code));
    je_mov_imm(e, H_RCX, pc2);
    je_op_rr(e, 8, cmp, 1, H_RAX, H_RCX);
    add_cold(c, COLD_XPAGE, 0, je_jcc_fwd(e, 5 /* ne */));
    je_load(e, 8, H_RAX, H_RBX, ent + (int32_t)offsetof(TLBEntry, addend));
    je_mov_imm(e, H_RCX, (uintptr_t)(c->cpu->ram->host + tb->xpage_off2) - pc2);
    je_op_rr(e, 8, cmp, 1, H_RAX, H_RCX);
    add_cold(c, COLD_XPAGE, 0, je_jcc_fwd(e, 5 /* ne */));
    je_load_eax_abs(e,
                    (uint64_t)(uintptr_t)&c->cpu->ram->code_gen[tb->xpage_off2 >> GUEST_PAGE_BITS]);
    je_alu_ri(e, 4, 7, H_RAX, (int32_t)tb->xpage_gen2);
    add_cold(c, COLD_XPAGE, 0, je_jcc_fwd(e, 5 /* ne */));
    c->flags = FL_NONE;
}

/* a kind whose code leaves the block through a chained exit (its leave checks) */
static bool branch_kind(int kind)
{
    return kind == K_JCC || kind == K_JMP || kind == K_CALL || kind == K_RET || kind == K_INDIRECT;
}

void *x86_jit_translate(X86CPU *cpu, X86Jit *j, TB *tb)
{
    const X86Insn *insns = &cpu->pool[tb->first];
    if (!x86_jit_mode_ok(cpu, tb) || classify(&insns[0]) == K_NONE) {
        j->stats.refused++;
        return NULL;
    }
    if (j->size - j->used < JIT_BLOCK_SPACE) {
        j->used = 0;
        j->epoch++;
        j->stats.flushes++;
        cpu->jit_link_req = NULL; /* its code is gone */
        x86_jit_forget_jumps(cpu);
    }
    jit_populate_ahead(j);
    /* all but the slow paths' records, which are written before they are read (ncold): a
     * whole JitCtx is ~26 KB to zero, half the host instructions of a translation */
    JitCtx c;
    memset(&c, 0, offsetof(JitCtx, cold));
    memset(&c.ncold, 0, sizeof(c) - offsetof(JitCtx, ncold));
    c.cpu = cpu;
    c.tb = tb;
    c.user = cpu->mmu_user;
    c.rw_base = j->rw;
    c.rx_base = j->rx;
    c.e.p = j->rw + j->used;
    c.e.end = c.e.p + JIT_BLOCK_SPACE;
    uint8_t *start = c.e.p;
    int kinds[TB_MAX_INSNS] = {K_NONE}; /* only [0, n) is read; gcc 12 cannot tell */
    uint8_t fs[TB_MAX_INSNS];
    bool reads[TB_MAX_INSNS];
    uint8_t kills[TB_MAX_INSNS];
    uint32_t n = 0;
    while (n < tb->count && (kinds[n] = classify(&insns[n])) != K_NONE) {
        n++;
    }
    /* the check before an instruction across the page end may leave: the flags are seen */
    bool xpage = n == tb->count && tb->xpage_off2 != UINT64_MAX;
    c.entry_live = flags_liveness(insns, kinds, n, xpage, fs, reads, kills) != FS_DEAD;
    pick_loop_regs(&c, insns, kinds, n);
    emit_prologue(&c);
    j->entry_off = c.top - start; /* the frame's length is the same for every block */
    uint64_t rip = tb->pc;
    bool open = true;
    uint32_t i;
    for (i = 0; i < n && open; i++) {
        c.rip = rip;
        c.next = jit_wrap(&c, rip + insns[i].len);
        c.done = i;
        c.dead = fs[i] == FS_DEAD;
        c.soft = fs[i] == FS_SOFT;
        if (reads[i]) { /* never after soft flags (a reader makes them live): a safety net */
            pend_flush(&c);
        }
        if (kills[i] == KILL_BEFORE) {
            c.pend.on = false;
        }
        c.pend_made = false;
        c.load_kills = kills[i] == KILL_AFTER;
        c.shadow_next = i + 1 < n && !branch_kind(kinds[i + 1]);
        c.after = i + 1 < n ? &insns[i + 1] : NULL;
        c.after_kind = i + 1 < n ? kinds[i + 1] : K_NONE;
        bool shadowed = c.shadow_open;
        c.shadow_open = false;
        if (xpage && i + 1 == n) {
            emit_xpage_check(&c);
        }
        open = emit_insn(&c, &insns[i], kinds[i]);
        if (shadowed && open) {
            je_store_imm(&c.e, 4, H_RBX, CPU_OFF(env.inhibit_irq), 0);
        }
        if (kills[i] == KILL_AFTER && !c.pend_made) {
            c.pend.on = false;
        }
        rip = c.next;
    }
    if (open && i == tb->count) {
        emit_chain_exit(&c, rip, false, i); /* the block ended at a page end or its size limit */
    } else if (open) {
        emit_exit_imm(&c, rip, i); /* the interpreter goes on with the rest of the block */
    }
    emit_cold(&c);
    emit_interp_copies(&c);
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
    if (j->perf_map &&
        j->perf_code >= 0) { /* perf's JIT map: start size name, one line per block */
        fprintf(j->perf_map, "%" PRIxPTR " %zx guest_%" PRIx64 "_%u\n",
                (uintptr_t)(j->rx + (start - j->rw)), (size_t)(c.e.p - start), tb->pc, i);
        fflush(j->perf_map);
        /* and the code at its offset in the cache, which is how perf names a sample in the
         * memfd mapping: objdump -D -b binary -mi386:x86-64 --start-address=OFFSET */
        if (pwrite(j->perf_code, start, c.e.p - start, start - j->rw) < 0) {
            g_warning("translator: cannot write the perf code dump: %s", g_strerror(errno));
        }
    }
    return j->rx + (start - j->rw);
}
