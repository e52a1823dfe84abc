/* The CPU's state as a table (vmstate_x86_cpu in include/target/i386/cpu.h). */
#include "cpu-internal.h"
#include "migration/vmstate.h"

static const VMStateDescription vmstate_segment = {
    .name = "segment",
    .version = 1,
    .size = sizeof(X86Segment),
    .fields = (const VMStateField[]){VMSTATE_U16(X86Segment, selector),
                                     VMSTATE_U32(X86Segment, limit), VMSTATE_U64(X86Segment, base),
                                     VMSTATE_U32(X86Segment, flags), VMSTATE_END},
};

static const VMStateDescription vmstate_desc_table = {
    .name = "desc-table",
    .version = 1,
    .size = sizeof(X86DescTable),
    .fields = (const VMStateField[]){VMSTATE_U64(X86DescTable, base),
                                     VMSTATE_U32(X86DescTable, limit), VMSTATE_END},
};

/* The 80-bit register as mantissa and sign+exponent, not as the host's long double. */
static const VMStateDescription vmstate_fpreg = {
    .name = "fpreg",
    .version = 1,
    .size = sizeof(X86FpReg),
    .fields = (const VMStateField[]){VMSTATE_U64(X86FpReg, raw.mant),
                                     VMSTATE_U16(X86FpReg, raw.exp), VMSTATE_END},
};

static const VMStateDescription vmstate_xmm = {
    .name = "xmm",
    .version = 1,
    .size = sizeof(X86Xmm),
    .fields = (const VMStateField[]){VMSTATE_U64_ARRAY(X86Xmm, q), VMSTATE_END},
};

/* Lazy flags are folded into eflags by x86_cpu_get_state, so cc_* are not state. */
static const VMStateDescription vmstate_x86_cpu_state = {
    .name = "x86-cpu-state",
    .version = 1,
    .size = sizeof(X86CPUState),
    .fields =
        (const VMStateField[]){
            VMSTATE_U64_ARRAY(X86CPUState, regs),
            VMSTATE_U64(X86CPUState, rip),
            VMSTATE_U64(X86CPUState, eflags),
            VMSTATE_STRUCT_ARRAY(X86CPUState, segs, X86Segment, vmstate_segment),
            VMSTATE_STRUCT(X86CPUState, gdt, X86DescTable, vmstate_desc_table),
            VMSTATE_STRUCT(X86CPUState, idt, X86DescTable, vmstate_desc_table),
            VMSTATE_U64(X86CPUState, cr0),
            VMSTATE_U64(X86CPUState, cr2),
            VMSTATE_U64(X86CPUState, cr3),
            VMSTATE_U64(X86CPUState, cr4),
            VMSTATE_U64(X86CPUState, cr8),
            VMSTATE_U64_ARRAY(X86CPUState, dr),
            VMSTATE_U64(X86CPUState, efer),
            VMSTATE_U64(X86CPUState, star),
            VMSTATE_U64(X86CPUState, lstar),
            VMSTATE_U64(X86CPUState, cstar),
            VMSTATE_U64(X86CPUState, fmask),
            VMSTATE_U64(X86CPUState, kernel_gs_base),
            VMSTATE_U64(X86CPUState, sysenter_cs),
            VMSTATE_U64(X86CPUState, sysenter_esp),
            VMSTATE_U64(X86CPUState, sysenter_eip),
            VMSTATE_U64(X86CPUState, pat),
            VMSTATE_U64(X86CPUState, apic_base),
            VMSTATE_U64(X86CPUState, tsc_offset), /* the guest TSC itself in the saved form */
            VMSTATE_U64(X86CPUState, tsc_aux),
            VMSTATE_U64(X86CPUState, misc_enable),
            VMSTATE_STRUCT_ARRAY(X86CPUState, st, X86FpReg, vmstate_fpreg),
            VMSTATE_U32(X86CPUState, fpstt),
            VMSTATE_U16(X86CPUState, fpuc),
            VMSTATE_U16(X86CPUState, fpus),
            VMSTATE_U8(X86CPUState, fptags),
            VMSTATE_U16(X86CPUState, fpop),
            VMSTATE_U64(X86CPUState, fpip),
            VMSTATE_U64(X86CPUState, fpdp),
            VMSTATE_U32(X86CPUState, mxcsr),
            VMSTATE_STRUCT_ARRAY(X86CPUState, xmm, X86Xmm, vmstate_xmm),
            VMSTATE_U32(X86CPUState, halted),
            VMSTATE_U32(X86CPUState, inhibit_irq),
            VMSTATE_U32(X86CPUState, nmi_pending),
            VMSTATE_END,
        },
};

static void cpu_pre_save(void *opaque)
{
    X86CPU *cpu = opaque;
    x86_cpu_get_state(cpu, &cpu->saved);
}

/* fpstt indexes st[]; everything else is a value the guest could have written itself. */
static bool cpu_check(const void *scratch, const void *live, int version, GError **errp)
{
    const X86CPU *cpu = scratch;
    if (cpu->saved.fpstt > 7) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "x87 stack top %u out of range",
                    cpu->saved.fpstt);
        return false;
    }
    return true;
}

static void cpu_post_load(void *opaque, int version)
{
    X86CPU *cpu = opaque;
    cpu->saved.cc_op = CC_OP_EFLAGS; /* eflags holds the flags, as in the saved form */
    cpu->saved.cc_size = 0;
    cpu->saved.cc_res = cpu->saved.cc_src1 = cpu->saved.cc_src2 = cpu->saved.cc_carry = 0;
    x86_cpu_set_state(cpu, &cpu->saved);
}

const VMStateDescription vmstate_x86_cpu = {
    .name = "cpu",
    .version = 1,
    .size = sizeof(X86CPU),
    .pre_save = cpu_pre_save,
    .check = cpu_check,
    .post_load = cpu_post_load,
    .fields =
        (const VMStateField[]){VMSTATE_STRUCT(X86CPU, saved, X86CPUState, vmstate_x86_cpu_state),
                               VMSTATE_END},
};
