/*
 * SSE/SSE2 (and MMX) instructions.
 */
#include "target/i386/cpu-internal.h"

void x86_exec_sse(X86CPU *cpu, const X86Insn *in)
{
    x86_unimplemented(cpu, in);
}
