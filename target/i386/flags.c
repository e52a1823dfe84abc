/*
 * Lazy arithmetic flags. ALU operations record their operands and result; the flags are
 * only computed when something reads them (jcc, pushf, adc, ...).
 */
#include "target/i386/cpu-internal.h"

static inline uint32_t pf(uint64_t res)
{
    return __builtin_parity(res & 0xff) ? 0 : CC_P;
}

static inline uint32_t zs(uint64_t res, int size)
{
    uint64_t m = size_mask(size);
    return ((res & m) == 0 ? CC_Z : 0) | ((res & sign_bit(size)) ? CC_S : 0);
}

uint32_t x86_compute_eflags(X86CPU *cpu)
{
    X86CPUState *env = &cpu->env;
    if (env->cc_op == CC_OP_EFLAGS) {
        return env->eflags & CC_ALL;
    }
    int sz = env->cc_size;
    uint64_t m = size_mask(sz), sb = sign_bit(sz);
    uint64_t a = env->cc_src1, b = env->cc_src2, r = env->cc_res;
    uint32_t f = 0;

    switch (env->cc_op) {
    case CC_OP_EFLAGS:
        return env->eflags & CC_ALL;
    case CC_OP_ADD:
    case CC_OP_ADC:
        f = (env->cc_op == CC_OP_ADC && env->cc_carry) ? ((r & m) <= (a & m)) : ((r & m) < (a & m));
        f |= (((a ^ ~b) & (a ^ r)) & sb) ? CC_O : 0;
        f |= (a ^ b ^ r) & CC_A;
        break;
    case CC_OP_SUB:
    case CC_OP_SBB:
        f = (env->cc_op == CC_OP_SBB && env->cc_carry) ? ((a & m) <= (b & m)) : ((a & m) < (b & m));
        f |= (((a ^ b) & (a ^ r)) & sb) ? CC_O : 0;
        f |= (a ^ b ^ r) & CC_A;
        break;
    case CC_OP_LOGIC:
        break;
    case CC_OP_SHIFT:
        f = (env->cc_carry ? CC_C : 0) | (env->cc_src2 ? CC_O : 0);
        break;
    case CC_OP_INC:
        f = env->cc_carry ? CC_C : 0;
        f |= ((r & m) == sb) ? CC_O : 0;
        f |= (r & 0xf) == 0 ? CC_A : 0;
        break;
    case CC_OP_DEC:
        f = env->cc_carry ? CC_C : 0;
        f |= ((r & m) == sb - 1) ? CC_O : 0;
        f |= (r & 0xf) == 0xf ? CC_A : 0;
        break;
    }
    return f | pf(r) | zs(r, sz);
}

uint32_t x86_compute_cf(X86CPU *cpu)
{
    X86CPUState *env = &cpu->env;
    uint64_t m = size_mask(env->cc_size);
    switch (env->cc_op) {
    case CC_OP_EFLAGS:
        return env->eflags & CC_C;
    case CC_OP_ADD:
        return (env->cc_res & m) < (env->cc_src1 & m);
    case CC_OP_SUB:
        return (env->cc_src1 & m) < (env->cc_src2 & m);
    case CC_OP_LOGIC:
        return 0;
    case CC_OP_INC:
    case CC_OP_DEC:
    case CC_OP_SHIFT:
        return env->cc_carry ? 1 : 0;
    default:
        return x86_compute_eflags(cpu) & CC_C;
    }
}

uint64_t x86_get_eflags(X86CPU *cpu)
{
    return (cpu->env.eflags & ~(uint64_t)CC_ALL) | x86_compute_eflags(cpu) | 2;
}

void x86_set_eflags(X86CPU *cpu, uint64_t val, uint64_t mask)
{
    uint64_t cur = x86_get_eflags(cpu);
    cpu->env.eflags = ((cur & ~mask) | (val & mask) | 2) & 0x3f7fd7;
    cpu->env.cc_op = CC_OP_EFLAGS;
}

/* Condition codes 0-15 as in jcc/setcc/cmovcc. */
bool x86_cond_slow(X86CPU *cpu, int cc)
{
    X86CPUState *env = &cpu->env;
    bool r;

    if (env->cc_op == CC_OP_SUB) {
        /* cmp a, b: the common case, decided without materialising flags */
        int sz = env->cc_size;
        uint64_t m = size_mask(sz);
        uint64_t a = env->cc_src1 & m, b = env->cc_src2 & m;
        switch (cc >> 1) {
        case 1:
            r = a < b;
            goto done; /* b */
        case 2:
            r = a == b;
            goto done; /* z */
        case 3:
            r = a <= b;
            goto done; /* be */
        case 6:
            r = sext(a, sz) < sext(b, sz);
            goto done; /* l */
        case 7:
            r = sext(a, sz) <= sext(b, sz);
            goto done; /* le */
        }
    } else if (env->cc_op == CC_OP_LOGIC) {
        int sz = env->cc_size;
        uint64_t v = env->cc_res & size_mask(sz);
        switch (cc >> 1) {
        case 0:
        case 1:
            r = false;
            goto done; /* o, b */
        case 2:
        case 3:
            r = v == 0;
            goto done; /* z, be */
        case 4:
            r = (v & sign_bit(sz)) != 0;
            goto done; /* s */
        case 6:
            r = (v & sign_bit(sz)) != 0;
            goto done; /* l: SF != OF(0) */
        case 7:
            r = v == 0 || (v & sign_bit(sz));
            goto done; /* le */
        }
    }
    uint32_t f = x86_compute_eflags(cpu);
    switch (cc >> 1) {
    case 0:
        r = f & CC_O;
        break;
    case 1:
        r = f & CC_C;
        break;
    case 2:
        r = f & CC_Z;
        break;
    case 3:
        r = f & (CC_C | CC_Z);
        break;
    case 4:
        r = f & CC_S;
        break;
    case 5:
        r = f & CC_P;
        break;
    case 6:
        r = !(f & CC_S) != !(f & CC_O);
        break;
    default:
        r = (f & CC_Z) || (!(f & CC_S) != !(f & CC_O));
        break;
    }
done:
    return (cc & 1) ? !r : r;
}
