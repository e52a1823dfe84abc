/*
 * Control registers, MSRs, CPUID and the time-stamp counter.
 *
 * CPUID is honest: it advertises exactly what this CPU implements (no CX16, no XSAVE, no
 * SSE3+, no BMI), so a guest kernel takes its fallback paths instead of faulting.
 */
#include "target/i386/cpu-internal.h"

#include <time.h>

#define ENV (&cpu->env)

void x86_update_mode(X86CPU *cpu)
{
    X86CPUState *env = ENV;
    cpu->pe = env->cr0 & CR0_PE;
    cpu->lma = (env->efer & EFER_LMA) != 0;
    if (!cpu->pe) {
        cpu->cpl = 0;
    } else if (env->eflags & VM_MASK) {
        cpu->cpl = 3;
    } else {
        cpu->cpl = env->segs[R_CS].selector & 3;
    }
    cpu->mmu_user = cpu->cpl == 3;
    cpu->code64 = cpu->lma && (env->segs[R_CS].flags & DESC_L);
    cpu->code32 = !cpu->code64 && (env->segs[R_CS].flags & DESC_B);
    cpu->stack32 = (env->segs[R_SS].flags & DESC_B) != 0;
    cpu->decode_flags = cpu->code64 ? X86_MODE64 : cpu->code32 ? X86_MODE32 : X86_MODE16;
    cpu->tb_exit = 1;
}

uint64_t x86_read_cr(X86CPU *cpu, int cr)
{
    switch (cr) {
    case 0:
        return ENV->cr0;
    case 2:
        return ENV->cr2;
    case 3:
        return ENV->cr3;
    case 4:
        return ENV->cr4;
    default:
        return ENV->cr8;
    }
}

/* CR4 bits we implement: VME(0)? no. PSE, PAE, PGE, OSFXSR, OSXMMEXCPT, TSD, DE */
#define CR4_SUPPORTED                                                                              \
    (CR4_PSE | CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | (1u << 2) | (1u << 3) | (1u << 8))

void x86_write_cr(X86CPU *cpu, int cr, uint64_t val)
{
    X86CPUState *env = ENV;
    switch (cr) {
    case 0: {
        if (val >> 32) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        if ((val & CR0_PG) && !(val & CR0_PE)) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        uint64_t old = env->cr0;
        if ((val & CR0_PG) && !(old & CR0_PG) && (env->efer & EFER_LME)) {
            if (!(env->cr4 & CR4_PAE)) {
                x86_raise(cpu, EXCP_GP, 0);
            }
            env->efer |= EFER_LMA;
        }
        if (!(val & CR0_PG) && (old & CR0_PG) && (env->efer & EFER_LMA)) {
            if (cpu->code64) {
                x86_raise(cpu, EXCP_GP, 0);
            }
            env->efer &= ~(uint64_t)EFER_LMA;
        }
        env->cr0 = val | CR0_ET;
        /* PE alone changes no translation (paging needs it; without paging the TLB maps
         * linear to physical in either mode), and SeaBIOS and GRUB toggle it around every
         * BIOS call: 128 000 whole flushes in a Debian image boot (docs/cpu.md) */
        if ((old ^ val) & (CR0_PG | CR0_WP)) {
            x86_tlb_flush(cpu, X86_TLB_FLUSH_CR0);
        }
        break;
    }
    case 2:
        env->cr2 = val;
        break;
    case 3:
        if (cpu->lma && (val >> 52)) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        env->cr3 = val;
        x86_tlb_flush_cr3(cpu);
        break;
    case 4:
        if (val & ~(uint64_t)CR4_SUPPORTED) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        if (cpu->lma && !(val & CR4_PAE)) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        if ((env->cr4 ^ val) & (CR4_PAE | CR4_PGE | CR4_PSE)) {
            x86_tlb_flush(cpu, X86_TLB_FLUSH_CR4);
        }
        env->cr4 = val;
        break;
    case 8:
        env->cr8 = val & 0xf;
        break;
    }
    x86_update_mode(cpu);
}

uint64_t x86_clock_ns(X86CPU *cpu)
{
    if (cpu->bus && cpu->bus->clock_ns) {
        return cpu->bus->clock_ns(cpu->opaque);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The TSC ticks at 1 GHz of the time base. */
uint64_t x86_rdtsc(X86CPU *cpu)
{
    return x86_clock_ns(cpu) - cpu->tsc_base_ns + ENV->tsc_offset;
}

bool x86_rdmsr(X86CPU *cpu, uint32_t msr, uint64_t *val)
{
    X86CPUState *env = ENV;
    switch (msr) {
    case MSR_IA32_TSC:
        *val = x86_rdtsc(cpu);
        return true;
    case MSR_IA32_APICBASE:
        *val = env->apic_base;
        return true;
    case MSR_IA32_SYSENTER_CS:
        *val = env->sysenter_cs;
        return true;
    case MSR_IA32_SYSENTER_ESP:
        *val = env->sysenter_esp;
        return true;
    case MSR_IA32_SYSENTER_EIP:
        *val = env->sysenter_eip;
        return true;
    case MSR_IA32_MISC_ENABLE:
        *val = env->misc_enable;
        return true;
    case MSR_PAT:
        *val = env->pat;
        return true;
    case MSR_EFER:
        *val = env->efer;
        return true;
    case MSR_STAR:
        *val = env->star;
        return true;
    case MSR_LSTAR:
        *val = env->lstar;
        return true;
    case MSR_CSTAR:
        *val = env->cstar;
        return true;
    case MSR_FMASK:
        *val = env->fmask;
        return true;
    case MSR_FSBASE:
        *val = env->segs[R_FS].base;
        return true;
    case MSR_GSBASE:
        *val = env->segs[R_GS].base;
        return true;
    case MSR_KERNELGSBASE:
        *val = env->kernel_gs_base;
        return true;
    case MSR_TSC_AUX:
        *val = env->tsc_aux;
        return true;
    }
    /* Unknown MSRs read as 0, as QEMU's TCG does: guests probe many model-specific ones. */
    *val = 0;
    return true;
}

static bool canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

bool x86_wrmsr(X86CPU *cpu, uint32_t msr, uint64_t val)
{
    X86CPUState *env = ENV;
    switch (msr) {
    case MSR_IA32_TSC:
        env->tsc_offset += val - x86_rdtsc(cpu);
        return true;
    case MSR_IA32_APICBASE:
        env->apic_base = val;
        if (cpu->bus && cpu->bus->apic_base_write) {
            cpu->bus->apic_base_write(cpu->opaque, val);
        }
        return true;
    case MSR_IA32_SYSENTER_CS:
        env->sysenter_cs = val & 0xffff;
        return true;
    case MSR_IA32_SYSENTER_ESP:
        env->sysenter_esp = val;
        return true;
    case MSR_IA32_SYSENTER_EIP:
        env->sysenter_eip = val;
        return true;
    case MSR_IA32_MISC_ENABLE:
        env->misc_enable = val;
        return true;
    case MSR_PAT:
        env->pat = val;
        return true;
    case MSR_EFER: {
        uint64_t allowed = EFER_SCE | EFER_LME | EFER_NXE;
        if (val & ~(allowed | EFER_LMA)) {
            return false;
        }
        if ((env->cr0 & CR0_PG) && ((val ^ env->efer) & EFER_LME)) {
            return false;
        }
        uint64_t old = env->efer;
        env->efer = (val & allowed) | (env->efer & EFER_LMA);
        if ((old ^ env->efer) & EFER_NXE) {
            x86_tlb_flush(cpu, X86_TLB_FLUSH_EFER);
        }
        x86_update_mode(cpu);
        return true;
    }
    case MSR_STAR:
        env->star = val;
        return true;
    case MSR_LSTAR:
        if (!canonical(val)) {
            return false;
        }
        env->lstar = val;
        return true;
    case MSR_CSTAR:
        if (!canonical(val)) {
            return false;
        }
        env->cstar = val;
        return true;
    case MSR_FMASK:
        env->fmask = val & 0xffffffff;
        return true;
    case MSR_FSBASE:
        if (!canonical(val)) {
            return false;
        }
        env->segs[R_FS].base = val;
        return true;
    case MSR_GSBASE:
        if (!canonical(val)) {
            return false;
        }
        env->segs[R_GS].base = val;
        return true;
    case MSR_KERNELGSBASE:
        if (!canonical(val)) {
            return false;
        }
        env->kernel_gs_base = val;
        return true;
    case MSR_TSC_AUX:
        env->tsc_aux = val & 0xffffffff;
        return true;
    }
    return true; /* ignored, as QEMU's TCG does */
}

static void str4(uint32_t *out, const char *s)
{
    memcpy(out, s, 4);
}

void x86_cpuid(X86CPU *cpu, uint32_t leaf, uint32_t sub, uint32_t o[4])
{
    memset(o, 0, 16);
    switch (leaf) {
    case 0:
        o[0] = 1;
        str4(&o[1], "Auth");
        str4(&o[3], "enti");
        str4(&o[2], "cAMD");
        break;
    case 1:
        o[0] = 0x00060fb1; /* family 15, model 107, stepping 1 (as qemu64) */
        o[1] = 0x00010800; /* clflush 64 bytes, 1 logical CPU, APIC id 0 */
        o[2] = (1u << 23); /* POPCNT */
        o[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 13) |
               (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) | (1u << 23) | (1u << 24) |
               (1u << 25) | (1u << 26);
        /* FPU PSE TSC MSR PAE CX8 PGE CMOV PAT PSE36 CLFLUSH MMX FXSR SSE SSE2 */
        if (cpu->apic_present) {
            o[3] |= 1u << 9;
        }
        break;
    case 0x80000000:
        o[0] = 0x80000008;
        str4(&o[1], "Auth");
        str4(&o[3], "enti");
        str4(&o[2], "cAMD");
        break;
    case 0x80000001: {
        uint32_t b[4];
        x86_cpuid(cpu, 1, 0, b);
        o[0] = b[0];
        o[2] = 1u << 0; /* LAHF/SAHF in 64-bit mode */
        /* the AMD mirror of the basic bits, plus SYSCALL, NX, LM */
        o[3] = (b[3] & 0x0183f3ff) | (1u << 11) | (1u << 20) | (1u << 29);
        break;
    }
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
        static const char brand[48] = "qemu-colo software x86-64 CPU";
        memcpy(o, brand + (leaf - 0x80000002) * 16, 16);
        break;
    }
    case 0x80000008:
        o[0] = 0x3028; /* 40 physical, 48 virtual address bits */
        break;
    }
}
