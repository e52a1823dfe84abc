/*
 * Private to the translator: what jit.c lends its SSE emitters (jit-sse.c). The context is
 * jit.c's; jit-sse.c reaches the register copies, the address and TLB paths, the dirty check
 * and the slow paths only through these calls, so that both keep the same contracts (exact
 * state at a fault, every store marking its page, a store into code ending the block).
 *
 *   jit.c emit_insn ── K_SSE ──► jit_sse_emit ──► inline host SSE2 on env.xmm
 *                                      │ mode, alignment or TLB miss
 *                                      └──► jit_cold_handler: the instruction's interpreter
 *                                           handler out of line, rejoining after it
 */
#ifndef TARGET_I386_JIT_INTERNAL_H
#define TARGET_I386_JIT_INTERNAL_H

#include "target/i386/cpu-internal.h"
#include "target/i386/jit-emit.h"

typedef struct JitCtx JitCtx;

/* jit.c's services */
JitEmit *jit_emitter(JitCtx *c);
/* in's memory operand is one jit_emit_ea addresses: 64-bit code's with a 64-bit address and
 * FS, GS or no segment override, 32-bit flat code's with a 32-bit address (the rule every
 * translated memory form follows) */
bool jit_mem_ok(const X86Insn *in);
/* rsi = the linear address of in's memory operand (FS/GS base added) */
void jit_emit_ea(JitCtx *c, const X86Insn *in);
/* rsi (a linear address) = its host address when the TLB covers [la, la + size) for the
 * access; else jumps to the returned branch (clobbers rax, rcx) */
uint8_t *jit_emit_tlb(JitCtx *c, int size, bool write);
/* after a store at host address rsi: the page's dirty check (clobbers rax, rcx) */
void jit_emit_store_mark(JitCtx *c, int size);
/* after an instruction that stored: a store into a code page ends the block there */
void jit_emit_tb_exit_check(JitCtx *c);
/* the branch `from` goes to a slow path that runs in's interpreter handler from the state
 * as it is now (register copies written back, pending flags stored, rip set), which may
 * fault; it comes back at the next jit_cold_rejoin */
void jit_cold_handler(JitCtx *c, const X86Insn *in, uint8_t *from);
void jit_cold_rejoin(JitCtx *c);
/* host h = guest register r (size 4: zero-extended); guest register r = host h (64 bits) */
void jit_gpr_read(JitCtx *c, int h, int r, int size);
void jit_gpr_write(JitCtx *c, int r, int h);
/* whether the block's code has checked CR0.EM/TS and CR4.OSFXSR on every path to here */
bool *jit_sse_checked(JitCtx *c);

/* jit-sse.c: in is an SSE/SSE2 form it translates (64-bit or 32-bit flat code, decoded as
 * valid) */
bool jit_sse_ok(const X86Insn *in);
void jit_sse_emit(JitCtx *c, const X86Insn *in);

#endif
