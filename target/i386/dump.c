/*
 * The CPU state as text, in the layout of QEMU's "info registers".
 */
#include "target/i386/cpu-internal.h"

#define ENV (&cpu->env)

static const char *sys_type(int type, bool lma)
{
    static const char *const legacy[16] = {"Reserved",   "TSS16-avl",  "LDT",       "TSS16-busy",
                                           "CallGate16", "TaskGate16", "IntGate16", "TrapGate16",
                                           "Reserved",   "TSS32-avl",  "Reserved",  "TSS32-busy",
                                           "CallGate32", "Reserved",   "IntGate32", "TrapGate32"};
    static const char *const longmode[16] = {"<hiword>",   "Reserved",  "LDT",       "Reserved",
                                             "Reserved",   "Reserved",  "Reserved",  "Reserved",
                                             "Reserved",   "TSS64-avl", "Reserved",  "TSS64-busy",
                                             "CallGate64", "Reserved",  "IntGate64", "TrapGate64"};
    return (lma ? longmode : legacy)[type & 15];
}

static void dump_seg(X86CPU *cpu, GString *out, const char *name, const X86Segment *s)
{
    uint32_t f = s->flags & 0x00ffff00;
    if (cpu->lma) {
        g_string_append_printf(out, "%-3s=%04x %016" PRIx64 " %08x %08x", name, s->selector,
                               s->base, s->limit, f);
    } else {
        g_string_append_printf(out, "%-3s=%04x %08x %08x %08x", name, s->selector,
                               (uint32_t)s->base, s->limit, f);
    }
    if (cpu->pe && (f & DESC_P)) {
        g_string_append_printf(out, " DPL=%d ", (f >> DESC_DPL_SHIFT) & 3);
        if (f & DESC_S) {
            if (f & DESC_CODE) {
                g_string_append(out, (f & DESC_L) ? "CS64" : (f & DESC_B) ? "CS32" : "CS16");
                g_string_append_printf(out, " [%c%c", (f & (1u << 10)) ? 'C' : '-',
                                       (f & DESC_RW) ? 'R' : '-');
            } else {
                g_string_append(out, ((f & DESC_B) || cpu->lma) ? "DS  " : "DS16");
                g_string_append_printf(out, " [%c%c", (f & (1u << 10)) ? 'E' : '-',
                                       (f & DESC_RW) ? 'W' : '-');
            }
            g_string_append_printf(out, "%c]", (f & DESC_A) ? 'A' : '-');
        } else {
            g_string_append(out, sys_type((f >> 8) & 15, cpu->lma));
        }
    }
    g_string_append_c(out, '\n');
}

void x86_cpu_dump_state(X86CPU *cpu, GString *out)
{
    X86CPUState *env = ENV;
    uint64_t fl = x86_get_eflags(cpu);
    static const char *const names64[16] = {"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
                                            "R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15"};
    static const int order[16] = {0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15};
    char flags[8] = {(fl & DF_MASK) ? 'D' : '-', (fl & CC_O) ? 'O' : '-',
                     (fl & CC_S) ? 'S' : '-',    (fl & CC_Z) ? 'Z' : '-',
                     (fl & CC_A) ? 'A' : '-',    (fl & CC_P) ? 'P' : '-',
                     (fl & CC_C) ? 'C' : '-',    0};

    if (cpu->lma) {
        for (int i = 0; i < 16; i++) {
            int r = order[i];
            g_string_append_printf(out, "%s=%016" PRIx64 "%c", names64[r], env->regs[r],
                                   (i & 3) == 3 ? '\n' : ' ');
        }
        g_string_append_printf(out, "RIP=%016" PRIx64 " RFL=%08x", env->rip, (uint32_t)fl);
    } else {
        static const char *const names32[8] = {"EAX", "ECX", "EDX", "EBX",
                                               "ESP", "EBP", "ESI", "EDI"};
        for (int i = 0; i < 8; i++) {
            int r = order[i];
            g_string_append_printf(out, "%s=%08x%c", names32[r], (uint32_t)env->regs[r],
                                   (i & 3) == 3 ? '\n' : ' ');
        }
        g_string_append_printf(out, "EIP=%08x EFL=%08x", (uint32_t)env->rip, (uint32_t)fl);
    }
    g_string_append_printf(out, " [%s] CPL=%d II=%d A20=1 SMM=0 HLT=%d\n", flags, cpu->cpl,
                           env->inhibit_irq ? 1 : 0, env->halted ? 1 : 0);
    static const char *const segn[6] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    for (int s = 0; s < 6; s++) {
        dump_seg(cpu, out, segn[s], &env->segs[s]);
    }
    dump_seg(cpu, out, "LDT", &env->segs[R_LDTR]);
    dump_seg(cpu, out, "TR", &env->segs[R_TR]);
    if (cpu->lma) {
        g_string_append_printf(out, "GDT=     %016" PRIx64 " %08x\n", env->gdt.base,
                               env->gdt.limit);
        g_string_append_printf(out, "IDT=     %016" PRIx64 " %08x\n", env->idt.base,
                               env->idt.limit);
        g_string_append_printf(out, "CR0=%08x CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08x\n",
                               (uint32_t)env->cr0, env->cr2, env->cr3, (uint32_t)env->cr4);
    } else {
        g_string_append_printf(out, "GDT=     %08x %08x\n", (uint32_t)env->gdt.base,
                               env->gdt.limit);
        g_string_append_printf(out, "IDT=     %08x %08x\n", (uint32_t)env->idt.base,
                               env->idt.limit);
        g_string_append_printf(out, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", (uint32_t)env->cr0,
                               (uint32_t)env->cr2, (uint32_t)env->cr3, (uint32_t)env->cr4);
    }
    for (int i = 0; i < 4; i++) {
        g_string_append_printf(out, "DR%d=%016" PRIx64 " ", i, env->dr[i]);
    }
    g_string_append_printf(out, "\nDR6=%016" PRIx64 " DR7=%016" PRIx64 "\n",
                           env->dr[6] | 0xffff0ff0, env->dr[7] | 0x400);
    g_string_append_printf(out, "EFER=%016" PRIx64 "\n", env->efer);
    g_string_append_printf(out, "FCW=%04x FSW=%04x [ST=%d] FTW=%02x MXCSR=%08x\n", env->fpuc,
                           (env->fpus & ~0x3800) | ((env->fpstt & 7) << 11), env->fpstt & 7,
                           (uint8_t)~env->fptags, env->mxcsr);
    for (int i = 0; i < 8; i++) {
        const X86FpReg *r = &env->st[(env->fpstt + i) & 7];
        g_string_append_printf(out, "FPR%d=%016" PRIx64 " %04x%c", i, r->raw.mant, r->raw.exp,
                               (i & 1) ? '\n' : ' ');
    }
    int nx = cpu->lma ? 16 : 8;
    for (int i = 0; i < nx; i++) {
        g_string_append_printf(out, "XMM%02d=%016" PRIx64 " %016" PRIx64 "%c", i, env->xmm[i].q[1],
                               env->xmm[i].q[0], (i & 1) ? '\n' : ' ');
    }
}
