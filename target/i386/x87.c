/*
 * x87 floating point.
 */
#include "target/i386/cpu-internal.h"

void x86_exec_x87(X86CPU *cpu, const X86Insn *in)
{
    if (cpu->env.cr0 & (CR0_EM | CR0_TS)) {
        x86_raise(cpu, (cpu->env.cr0 & CR0_EM) ? EXCP_NM : EXCP_NM, -1);
    }
    x86_unimplemented(cpu, in);
}
