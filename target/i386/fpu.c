/*
 * x87 and SSE state, fxsave/fxrstor. (Arithmetic lives in x87.c and sse.c.)
 */
#include "target/i386/cpu-internal.h"

#define ENV (&cpu->env)

void x86_fpu_reset(X86CPU *cpu)
{
    ENV->fpuc = 0x37f;
    ENV->fpus = 0;
    ENV->fpstt = 0;
    ENV->fptags = 0xff;
    ENV->fpop = 0;
    ENV->fpip = 0;
    ENV->fpdp = 0;
    memset(ENV->st, 0, sizeof(ENV->st));
}

static void fx_check(X86CPU *cpu, uint64_t la)
{
    if (ENV->cr0 & CR0_EM) {
        x86_raise_ud(cpu);
    }
    if (ENV->cr0 & CR0_TS) {
        x86_raise(cpu, EXCP_NM, -1);
    }
    if (la & 15) {
        x86_raise(cpu, EXCP_GP, 0);
    }
}

void x86_fxsave(X86CPU *cpu, uint64_t la, bool rex_w)
{
    fx_check(cpu, la);
    /* probe the whole area first so a fault leaves memory untouched */
    (void)x86_ld(cpu, la, 1);
    (void)x86_ld(cpu, la + 511, 1);
    x86_st(cpu, la + 511, x86_ld(cpu, la + 511, 1), 1);
    uint16_t fsw = (ENV->fpus & ~0x3800) | ((ENV->fpstt & 7) << 11);
    uint8_t ftw = ~ENV->fptags;
    x86_st(cpu, la + 0, ENV->fpuc, 2);
    x86_st(cpu, la + 2, fsw, 2);
    x86_st(cpu, la + 4, ftw, 1);
    x86_st(cpu, la + 5, 0, 1);
    x86_st(cpu, la + 6, ENV->fpop, 2);
    if (rex_w) {
        x86_st(cpu, la + 8, ENV->fpip, 8);
        x86_st(cpu, la + 16, ENV->fpdp, 8);
    } else {
        x86_st(cpu, la + 8, (uint32_t)ENV->fpip, 4);
        x86_st(cpu, la + 12, 0, 4);
        x86_st(cpu, la + 16, (uint32_t)ENV->fpdp, 4);
        x86_st(cpu, la + 20, 0, 4);
    }
    x86_st(cpu, la + 24, ENV->mxcsr, 4);
    x86_st(cpu, la + 28, 0xffff, 4);
    for (int i = 0; i < 8; i++) {
        /* the image holds ST(i), i.e. physical register (top + i) */
        X86FpReg *r = &ENV->st[(ENV->fpstt + i) & 7];
        x86_st(cpu, la + 32 + i * 16, r->raw.mant, 8);
        x86_st(cpu, la + 40 + i * 16, r->raw.exp, 2);
        x86_st(cpu, la + 42 + i * 16, 0, 2);
        x86_st(cpu, la + 44 + i * 16, 0, 4);
    }
    int nx = cpu->code64 ? 16 : 8;
    if (ENV->cr4 & CR4_OSFXSR) {
        for (int i = 0; i < nx; i++) {
            x86_st(cpu, la + 160 + i * 16, ENV->xmm[i].q[0], 8);
            x86_st(cpu, la + 168 + i * 16, ENV->xmm[i].q[1], 8);
        }
    }
}

void x86_fxrstor(X86CPU *cpu, uint64_t la, bool rex_w)
{
    fx_check(cpu, la);
    (void)x86_ld(cpu, la + 511, 1);
    uint32_t mxcsr = x86_ld(cpu, la + 24, 4);
    if (mxcsr & 0xffff0000) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    uint16_t fsw = x86_ld(cpu, la + 2, 2);
    ENV->fpuc = x86_ld(cpu, la, 2);
    ENV->fpstt = (fsw >> 11) & 7;
    ENV->fpus = fsw & ~0x3800;
    ENV->fptags = ~(uint8_t)x86_ld(cpu, la + 4, 1);
    ENV->fpop = x86_ld(cpu, la + 6, 2) & 0x7ff;
    if (rex_w) {
        ENV->fpip = x86_ld(cpu, la + 8, 8);
        ENV->fpdp = x86_ld(cpu, la + 16, 8);
    } else {
        ENV->fpip = x86_ld(cpu, la + 8, 4);
        ENV->fpdp = x86_ld(cpu, la + 16, 4);
    }
    for (int i = 0; i < 8; i++) {
        X86FpReg *r = &ENV->st[(ENV->fpstt + i) & 7];
        memset(r, 0, sizeof(*r));
        r->raw.mant = x86_ld(cpu, la + 32 + i * 16, 8);
        r->raw.exp = x86_ld(cpu, la + 40 + i * 16, 2);
    }
    if (ENV->cr4 & CR4_OSFXSR) {
        ENV->mxcsr = mxcsr;
        int nx = cpu->code64 ? 16 : 8;
        for (int i = 0; i < nx; i++) {
            ENV->xmm[i].q[0] = x86_ld(cpu, la + 160 + i * 16, 8);
            ENV->xmm[i].q[1] = x86_ld(cpu, la + 168 + i * 16, 8);
        }
    }
}
