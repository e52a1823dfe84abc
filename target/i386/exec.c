/*
 * The interpreter: executes one decoded instruction (integer ISA and system instructions;
 * x87/SSE are in fpu.c, descriptor-table work in seg.c, MSRs/CPUID in sys.c).
 *
 * Conventions: env->rip already points at the next instruction when a handler runs
 * (cpu->cur_rip holds the start, for faults); a handler finishes every memory access that
 * may fault before it changes any register, so a faulting instruction restarts cleanly.
 */
#include "target/i386/cpu-internal.h"
#include "target/i386/ops.h"
#include "target/i386/optab.h"

#include <stdio.h>

#define ENV    (&cpu->env)
#define REG(n) (cpu->env.regs[(n)])

static inline uint64_t get_reg(X86CPU *cpu, const X86Insn *in, int r, int size)
{
    if (size == 1) {
        if (!(in->prefix & PFX_REX) && r >= 4 && r < 8) {
            return (REG(r - 4) >> 8) & 0xff;
        }
        return REG(r) & 0xff;
    }
    return REG(r) & size_mask(size);
}

static inline void set_reg(X86CPU *cpu, const X86Insn *in, int r, uint64_t v, int size)
{
    switch (size) {
    case 1:
        if (!(in->prefix & PFX_REX) && r >= 4 && r < 8) {
            REG(r - 4) = (REG(r - 4) & ~0xff00ull) | ((v & 0xff) << 8);
        } else {
            REG(r) = (REG(r) & ~0xffull) | (v & 0xff);
        }
        break;
    case 2:
        REG(r) = (REG(r) & ~0xffffull) | (v & 0xffff);
        break;
    case 4:
        REG(r) = (uint32_t)v;
        break;
    default:
        REG(r) = v;
        break;
    }
}

/* Linear address of a segment:offset pair the instruction forms itself (stack, strings). */
static inline uint64_t seg_la(X86CPU *cpu, int seg, uint64_t off)
{
    if (cpu->code64) {
        return (seg == R_FS || seg == R_GS) ? off + ENV->segs[seg].base : off;
    }
    return (uint32_t)(off + ENV->segs[seg].base);
}

static inline uint64_t rm_read(X86CPU *cpu, const X86Insn *in, int size, uint64_t *la)
{
    if (in->mod == 3) {
        return get_reg(cpu, in, in->rm, size);
    }
    *la = x86_ea(cpu, in);
    return x86_ld(cpu, *la, size);
}

static inline void rm_write(X86CPU *cpu, const X86Insn *in, int size, uint64_t la, uint64_t v)
{
    if (in->mod == 3) {
        set_reg(cpu, in, in->rm, v, size);
    } else {
        x86_st(cpu, la, v, size);
    }
}

static inline int stack_size(X86CPU *cpu)
{
    return cpu->code64 ? 8 : cpu->stack32 ? 4 : 2;
}

/* Operand size of push/pop and near branches: 64-bit by default in long mode. */
static inline int stack_opsize(X86CPU *cpu, const X86Insn *in)
{
    if (cpu->code64) {
        return (in->prefix & PFX_DATA) ? 2 : 8;
    }
    return in->opsize;
}

static inline void set_sp(X86CPU *cpu, uint64_t sp)
{
    int ss = stack_size(cpu);
    if (ss == 8) {
        REG(R_ESP) = sp;
    } else if (ss == 4) {
        REG(R_ESP) = (uint32_t)sp;
    } else {
        REG(R_ESP) = (REG(R_ESP) & ~0xffffull) | (sp & 0xffff);
    }
}

static inline uint64_t sp_mask(X86CPU *cpu, uint64_t sp)
{
    int ss = stack_size(cpu);
    return ss == 8 ? sp : ss == 4 ? (uint32_t)sp : (sp & 0xffff);
}

static inline void push(X86CPU *cpu, uint64_t v, int size)
{
    uint64_t sp = sp_mask(cpu, REG(R_ESP) - size);
    x86_st(cpu, seg_la(cpu, R_SS, sp), v, size);
    set_sp(cpu, sp);
}

static inline uint64_t pop(X86CPU *cpu, int size)
{
    uint64_t sp = sp_mask(cpu, REG(R_ESP));
    uint64_t v = x86_ld(cpu, seg_la(cpu, R_SS, sp), size);
    set_sp(cpu, sp + size);
    return v;
}

static inline void set_cc(X86CPU *cpu, int op, int size, uint64_t a, uint64_t b, uint64_t r)
{
    ENV->cc_op = op;
    ENV->cc_size = size;
    ENV->cc_src1 = a;
    ENV->cc_src2 = b;
    ENV->cc_res = r;
}

/* The eight classic ALU operations: add or adc sbb and sub xor cmp. */
static inline uint64_t alu(X86CPU *cpu, int op, int size, uint64_t a, uint64_t b)
{
    uint64_t r, c;
    switch (op) {
    case 0:
        r = a + b;
        set_cc(cpu, CC_OP_ADD, size, a, b, r);
        break;
    case 1:
        r = a | b;
        set_cc(cpu, CC_OP_LOGIC, size, a, b, r);
        break;
    case 2:
        c = x86_compute_cf(cpu);
        r = a + b + c;
        set_cc(cpu, CC_OP_ADC, size, a, b, r);
        ENV->cc_carry = c;
        break;
    case 3:
        c = x86_compute_cf(cpu);
        r = a - b - c;
        set_cc(cpu, CC_OP_SBB, size, a, b, r);
        ENV->cc_carry = c;
        break;
    case 4:
        r = a & b;
        set_cc(cpu, CC_OP_LOGIC, size, a, b, r);
        break;
    case 6:
        r = a ^ b;
        set_cc(cpu, CC_OP_LOGIC, size, a, b, r);
        break;
    default:
        r = a - b;
        set_cc(cpu, CC_OP_SUB, size, a, b, r);
        break;
    }
    return r & size_mask(size);
}

static inline uint64_t atomic_ld(void *p, int size)
{
    switch (size) {
    case 1:
        return __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST);
    case 2:
        return __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST);
    case 4:
        return __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
    default:
        return __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
    }
}

/*
 * Compare-and-swap of @size bytes at @p: stores @nv if the memory holds *@expected. Either way
 * *@expected receives the value the memory held.
 */
static inline bool atomic_cmpxchg(void *p, int size, uint64_t *expected, uint64_t nv)
{
    bool ok;
    switch (size) {
    case 1: {
        uint8_t o = *expected;
        ok = __atomic_compare_exchange_n((uint8_t *)p, &o, (uint8_t)nv, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
        *expected = o;
        break;
    }
    case 2: {
        uint16_t o = *expected;
        ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)nv, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
        *expected = o;
        break;
    }
    case 4: {
        uint32_t o = *expected;
        ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)nv, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
        *expected = o;
        break;
    }
    default: {
        uint64_t o = *expected;
        ok = __atomic_compare_exchange_n((uint64_t *)p, &o, nv, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
        *expected = o;
        break;
    }
    }
    return ok;
}

static inline bool atomic_cas(void *p, int size, uint64_t old, uint64_t nv)
{
    return atomic_cmpxchg(p, size, &old, nv);
}

/* Host pointer for a lock-prefixed RMW on a naturally aligned RAM operand, else NULL. */
static inline void *lock_ptr(X86CPU *cpu, const X86Insn *in, uint64_t la, int size)
{
    if (!(in->prefix & PFX_LOCK) || in->mod == 3 || (la & (size - 1))) {
        return NULL;
    }
    return x86_rmw_ptr(cpu, la, size);
}

/* What a read-modify-write does to its destination: an alu() operation (0-7, cmp being 7,
 * which stores nothing) or one of the unary group 3/4/5 operations below. */
enum { RMW_CMP = 7, RMW_NOT = 8, RMW_NEG, RMW_INC, RMW_DEC };

static inline __attribute__((always_inline)) uint64_t rmw_apply(X86CPU *cpu, int kind, int size,
                                                                uint64_t a, uint64_t b)
{
    switch (kind) {
    case RMW_NOT:
        return ~a & size_mask(size);
    case RMW_NEG:
        return alu(cpu, 5, size, 0, a);
    case RMW_INC: /* flags are the caller's: inc/dec keep CF */
        return (a + 1) & size_mask(size);
    case RMW_DEC:
        return (a - 1) & size_mask(size);
    default:
        return alu(cpu, kind, size, a, b);
    }
}

/*
 * Applies `kind` with source b to the r/m operand: a register, a lock-prefixed RAM operand
 * (compare-and-swap until no other vCPU raced us), or a plain load and store. Returns the old
 * value and puts the new one in *res. Always inlined so the interpreter's hot path pays no
 * call, and where `kind` is a constant (not, neg, inc, dec, xadd) the switch folds away.
 */
static inline __attribute__((always_inline)) uint64_t
rmw_rm(X86CPU *cpu, const X86Insn *in, int kind, int size, uint64_t b, uint64_t *res)
{
    uint64_t a, r;
    if (in->mod == 3) {
        a = get_reg(cpu, in, in->rm, size);
        r = rmw_apply(cpu, kind, size, a, b);
        if (kind != RMW_CMP) {
            set_reg(cpu, in, in->rm, r, size);
        }
    } else {
        uint64_t la = x86_ea(cpu, in);
        void *lp = lock_ptr(cpu, in, la, size);
        if (lp) {
            do {
                a = atomic_ld(lp, size);
                r = rmw_apply(cpu, kind, size, a, b);
            } while (!atomic_cas(lp, size, a, r));
            x86_note_store(cpu, lp);
        } else {
            a = x86_ld(cpu, la, size);
            r = rmw_apply(cpu, kind, size, a, b);
            if (kind != RMW_CMP) {
                x86_st(cpu, la, r, size);
            }
        }
    }
    *res = r;
    return a;
}

/* Rotates and shifts (group 2). Shifts keep their flags lazily; rotates, which leave SZAP
 * alone, fold them eagerly unless the next instruction overwrites them anyway. */
static uint64_t shift_op(X86CPU *cpu, const X86Insn *in, int op, int size, uint64_t v,
                         unsigned count)
{
    int bits = size * 8;
    uint64_t m = size_mask(size), sb = sign_bit(size);
    count &= size == 8 ? 63 : 31;
    if (count == 0) {
        return v & m;
    }
    uint64_t r, cf, of;
    v &= m;
    switch (op) {
    case 4:
    case 6: /* shl */
        r = count < 64 ? (v << count) & m : 0;
        cf = count <= (unsigned)bits && ((v >> (bits - count)) & 1);
        of = ((r & sb) != 0) ^ cf;
        goto shift_done;
    case 5: /* shr */
        r = count < 64 ? v >> count : 0;
        cf = (v >> (count - 1)) & 1;
        of = (v & sb) != 0;
        goto shift_done;
    case 7: { /* sar */
        int64_t s = sext(v, size);
        r = (uint64_t)(s >> (count > 63 ? 63 : count)) & m;
        cf = (s >> (count - 1 > 63 ? 63 : count - 1)) & 1;
        of = 0;
        goto shift_done;
    }
    }

    uint64_t c = 0;
    switch (op) {
    case 0: { /* rol */
        unsigned k = count % bits;
        r = k ? ((v << k) | (v >> (bits - k))) & m : v;
        c = r & 1;
        of = ((r & sb) != 0) ^ c;
        break;
    }
    case 1: { /* ror */
        unsigned k = count % bits;
        r = k ? ((v >> k) | (v << (bits - k))) & m : v;
        c = (r & sb) != 0;
        of = ((r & sb) != 0) ^ ((r & (sb >> 1)) != 0);
        break;
    }
    case 2: { /* rcl */
        unsigned k = count % (bits + 1);
        c = x86_compute_cf(cpu);
        r = v;
        for (unsigned i = 0; i < k; i++) {
            uint64_t out = (r & sb) != 0;
            r = ((r << 1) | c) & m;
            c = out;
        }
        of = ((r & sb) != 0) ^ c;
        break;
    }
    default: { /* rcr */
        unsigned k = count % (bits + 1);
        c = x86_compute_cf(cpu);
        of = ((v & sb) != 0) ^ (c != 0);
        r = v;
        for (unsigned i = 0; i < k; i++) {
            uint64_t out = r & 1;
            r = (r >> 1) | (c ? sb : 0);
            c = out;
        }
        break;
    }
    }
    if (!in->flags_dead) {
        uint32_t f = x86_compute_eflags(cpu) & ~(CC_C | CC_O);
        f |= (c ? CC_C : 0) | (of ? CC_O : 0);
        ENV->eflags = (ENV->eflags & ~(uint64_t)CC_ALL) | f;
        ENV->cc_op = CC_OP_EFLAGS;
    }
    return r;

shift_done:
    ENV->cc_op = CC_OP_SHIFT;
    ENV->cc_size = size;
    ENV->cc_res = r;
    ENV->cc_carry = cf;
    ENV->cc_src2 = of;
    return r;
}

/* shld/shrd */
static uint64_t shiftd(X86CPU *cpu, bool left, int size, uint64_t dst, uint64_t src, unsigned count)
{
    int bits = size * 8;
    uint64_t m = size_mask(size), sb = sign_bit(size);
    count &= size == 8 ? 63 : 31;
    if (count == 0) {
        return dst & m;
    }
    dst &= m;
    src &= m;
    uint64_t r, cf;
    if (size == 2 && count > 16) {
        /* Intel: the 16-bit result is undefined; follow the 32-bit concatenation */
        uint64_t wide = left ? (dst << 16 | src) : (src << 16 | dst);
        wide = (wide << 32) | wide;
        if (left) {
            r = (wide << count) >> 48 & m;
            cf = (wide >> (64 - count)) & 1;
        } else {
            r = (wide >> count) & m;
            cf = (wide >> (count - 1)) & 1;
        }
    } else if (left) {
        r = ((dst << count) | (count == bits ? src : src >> (bits - count))) & m;
        cf = (dst >> (bits - count)) & 1;
    } else {
        r = ((dst >> count) | (count == bits ? src : src << (bits - count))) & m;
        cf = (dst >> (count - 1)) & 1;
    }
    uint32_t f = x86_compute_eflags(cpu) & ~CC_ALL;
    f |= cf ? CC_C : 0;
    f |= (((r ^ dst) & sb) != 0) ? CC_O : 0;
    f |= (r == 0 ? CC_Z : 0) | ((r & sb) ? CC_S : 0) | (__builtin_parity(r & 0xff) ? 0 : CC_P);
    ENV->eflags = (ENV->eflags & ~(uint64_t)CC_ALL) | f;
    ENV->cc_op = CC_OP_EFLAGS;
    return r;
}

static void set_flags_eager(X86CPU *cpu, uint32_t f)
{
    ENV->eflags = (ENV->eflags & ~(uint64_t)CC_ALL) | (f & CC_ALL);
    ENV->cc_op = CC_OP_EFLAGS;
}

static uint32_t szp(uint64_t r, int size)
{
    r &= size_mask(size);
    return (r == 0 ? CC_Z : 0) | ((r & sign_bit(size)) ? CC_S : 0) |
           (__builtin_parity(r & 0xff) ? 0 : CC_P);
}

/* mul/imul/div/idiv on rDX:rAX (group 3, /4-/7) */
static void muldiv(X86CPU *cpu, const X86Insn *in, int size, uint64_t src)
{
    int op = in->reg & 7;
    uint64_t m = size_mask(size);
    uint64_t a = REG(R_EAX) & m;
    uint64_t d = REG(R_EDX) & m;
    uint32_t f = x86_compute_eflags(cpu) & ~CC_ALL;

    switch (op) {
    case 4: { /* mul */
        unsigned __int128 p = (unsigned __int128)a * src;
        uint64_t lo = (uint64_t)p & m;
        uint64_t hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> (size * 8)) & m;
        if (size == 1) {
            REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | (hi << 8) | lo;
        } else {
            set_reg(cpu, in, R_EAX, lo, size);
            set_reg(cpu, in, R_EDX, hi, size);
        }
        f |= hi ? (CC_C | CC_O) : 0;
        f |= szp(lo, size);
        break;
    }
    case 5: { /* imul */
        __int128 p = (__int128)sext(a, size) * sext(src, size);
        uint64_t lo = (uint64_t)p & m;
        uint64_t hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> (size * 8)) & m;
        if (size == 1) {
            REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | (hi << 8) | lo;
        } else {
            set_reg(cpu, in, R_EAX, lo, size);
            set_reg(cpu, in, R_EDX, hi, size);
        }
        f |= (p != (__int128)sext(lo, size)) ? (CC_C | CC_O) : 0;
        f |= szp(lo, size);
        break;
    }
    case 6: { /* div */
        if (src == 0) {
            x86_raise(cpu, EXCP_DE, -1);
        }
        unsigned __int128 n;
        if (size == 1) {
            n = REG(R_EAX) & 0xffff;
        } else {
            n = ((unsigned __int128)d << (size * 8)) | a;
        }
        unsigned __int128 q = n / src, r = n % src;
        if (q > m) {
            x86_raise(cpu, EXCP_DE, -1);
        }
        if (size == 1) {
            REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | ((uint64_t)r << 8) | (uint64_t)q;
        } else {
            set_reg(cpu, in, R_EAX, (uint64_t)q, size);
            set_reg(cpu, in, R_EDX, (uint64_t)r, size);
        }
        return; /* flags undefined: left unchanged */
    }
    default: { /* idiv */
        if (src == 0) {
            x86_raise(cpu, EXCP_DE, -1);
        }
        __int128 n;
        if (size == 1) {
            n = (int16_t)(REG(R_EAX) & 0xffff);
        } else if (size == 8) {
            n = (__int128)(((unsigned __int128)d << 64) | a);
        } else if (size == 4) {
            n = (int64_t)((d << 32) | a);
        } else {
            n = (int32_t)((d << 16) | a);
        }
        __int128 dv = sext(src, size);
        if (dv == -1 && n == (__int128)((unsigned __int128)1 << 127)) {
            x86_raise(cpu, EXCP_DE, -1); /* the host would trap on this division */
        }
        __int128 q = n / dv, r = n % dv;
        if (q != (__int128)sext((uint64_t)q & m, size)) {
            x86_raise(cpu, EXCP_DE, -1);
        }
        if (size == 1) {
            REG(R_EAX) =
                (REG(R_EAX) & ~0xffffull) | (((uint64_t)r & 0xff) << 8) | ((uint64_t)q & 0xff);
        } else {
            set_reg(cpu, in, R_EAX, (uint64_t)q & m, size);
            set_reg(cpu, in, R_EDX, (uint64_t)r & m, size);
        }
        return;
    }
    }
    set_flags_eager(cpu, f);
}

static inline uint64_t branch_target(X86CPU *cpu, const X86Insn *in, uint64_t t)
{
    if (cpu->code64) {
        return t;
    }
    return in->opsize == 2 ? (t & 0xffff) : (uint32_t)t;
}

static void check_cpl0(X86CPU *cpu)
{
    if (cpu->cpl != 0) {
        x86_raise(cpu, EXCP_GP, 0);
    }
}

static void check_io(X86CPU *cpu)
{
    if (cpu->pe && (cpu->cpl > (int)((ENV->eflags & IOPL_MASK) >> 12) || (ENV->eflags & VM_MASK))) {
        x86_raise(cpu, EXCP_GP, 0);
    }
}

static uint32_t io_in(X86CPU *cpu, uint16_t port, int size)
{
    if (cpu->bus && cpu->bus->pio_read) {
        return cpu->bus->pio_read(cpu->opaque, port, size);
    }
    return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffff;
}

static void io_out(X86CPU *cpu, uint16_t port, uint32_t v, int size)
{
    if (cpu->bus && cpu->bus->pio_write) {
        cpu->bus->pio_write(cpu->opaque, port, v, size);
    }
}

void x86_unimplemented(X86CPU *cpu, const X86Insn *in)
{
    unsigned idx = in->op & 0x7ff;
    cpu->stats.unimplemented++;
    if (!(cpu->unimpl_logged[idx / 8] & (1u << (idx % 8)))) {
        cpu->unimpl_logged[idx / 8] |= 1u << (idx % 8);
        char hex[64] = "";
        int n = 0;
        for (int i = 0; i < in->len && n < 60; i++) {
            uint64_t la = seg_la(cpu, R_CS, cpu->cur_rip + i);
            uint64_t gpa;
            uint8_t b = 0;
            if (x86_cpu_translate(cpu, la, false, &gpa)) {
                guest_ram_read(cpu->ram, gpa, &b, 1);
            }
            n += snprintf(hex + n, sizeof(hex) - n, "%s%02x", i ? " " : "", b);
        }
        fprintf(stderr,
                "qemu-system-x86_64: unimplemented instruction at rip=0x%" PRIx64
                " (op 0x%x): %s\n",
                cpu->cur_rip, in->op, hex);
    }
    x86_raise_ud(cpu);
}

/* ---- string instructions ---- */

static inline uint64_t areg(X86CPU *cpu, const X86Insn *in, int r)
{
    return REG(r) & size_mask(in->addrsize);
}

static inline void areg_add(X86CPU *cpu, const X86Insn *in, int r, int64_t d)
{
    uint64_t v = REG(r) + d;
    if (in->addrsize == 8) {
        REG(r) = v;
    } else if (in->addrsize == 4) {
        REG(r) = (uint32_t)v;
    } else {
        REG(r) = (REG(r) & ~0xffffull) | (v & 0xffff);
    }
}

/* Source segment of string instructions: DS unless overridden (decode resolved it). */
static inline int src_seg(const X86Insn *in)
{
    return in->seg == X86_SEG_NONE ? R_DS : in->seg;
}

/* Elements per slow-path chunk, a retired instruction each: small enough that an interrupt
 * waits a few microseconds, and that a budget of instructions bounds the work (fuzz-cpu). */
#define REP_CHUNK      1024
#define REP_FAST_PAGES 64 /* pages per fast-path chunk */

/* Elements of `size` bytes from off on before end (backwards: down to 0, off's element
 * included); 0 when off's element itself reaches past end. */
static uint64_t rep_elems_before(uint64_t off, int size, uint64_t end, bool back)
{
    if (off + size > end) {
        return 0;
    }
    return back ? off / size + 1 : (end - off) / size;
}

/* Elements of one side of a run from its string register's value reg (linear address la): within
 * la's page, and before the register wraps at its address size. A 16-bit si/di wraps inside the
 * segment while the linear address goes on, so a run must stop there; a 32-bit one wraps with
 * the linear address, except beside an fs/gs base in 64-bit mode. */
static uint64_t rep_elems(uint64_t reg, uint64_t la, int size, int addrsize, bool back)
{
    uint64_t n = rep_elems_before(la & (GUEST_PAGE_SIZE - 1), size, GUEST_PAGE_SIZE, back);
    if (addrsize < 8) {
        n = MIN(n, rep_elems_before(reg, size, size_mask(addrsize) + 1, back));
    }
    return n;
}

/* n elements from sp to dp (both the lowest addresses) as rep movs moves them one at a time:
 * one memmove, unless an element would read what an earlier one of the same run wrote (the
 * destination just after the source going forwards, just before it going backwards) */
static void rep_copy(uint8_t *dp, const uint8_t *sp, uint64_t n, int size, bool back)
{
    uint64_t len = n * size;
    bool smear = back ? (dp < sp && sp < dp + len) : (sp < dp && dp < sp + len);
    if (!smear) {
        memmove(dp, sp, len);
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = back ? n - 1 - i : i;
        uint8_t t[8];
        memcpy(t, sp + k * size, size);
        memcpy(dp + k * size, t, size);
    }
}

/* rep stos: n elements of `size` bytes of v from dp on */
static void rep_fill(uint8_t *dp, uint64_t v, uint64_t n, int size)
{
    if (size == 1) {
        memset(dp, (uint8_t)v, n);
        return;
    }
    /* typed stores: a variable-size memcpy per element becomes a slow rep movs */
    if (size == 8) {
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dp + i * 8, &v, 8);
        }
    } else if (size == 4) {
        uint32_t w = v;
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dp + i * 4, &w, 4);
        }
    } else {
        uint16_t w = v;
        for (uint64_t i = 0; i < n; i++) {
            memcpy(dp + i * 2, &w, 2);
        }
    }
}

/*
 * rep movs/stos fast path: host copies a page at a time while both sides stay in RAM pages
 * the TLB holds, forwards or (DF set) backwards. An element that crosses a page, or whose
 * page the TLB does not hold, goes the slow way alone (which fills the TLB or faults).
 */
static bool fast_rep(X86CPU *cpu, const X86Insn *in, int size, bool movs)
{
    bool back = (ENV->eflags & DF_MASK) != 0;
    int64_t d = back ? -size : size;
    int sseg = src_seg(in);
    uint64_t count = areg(cpu, in, R_ECX);
    unsigned rounds = 0;
    while (count) {
        if (++rounds > REP_FAST_PAGES) {
            ENV->rip = cpu->cur_rip; /* continue in the next execution */
            cpu->tb_exit = 1;
            return true;
        }
        uint64_t di = areg(cpu, in, R_EDI), dla = seg_la(cpu, R_ES, di), sla = 0;
        uint64_t n = MIN(count, rep_elems(di, dla, size, in->addrsize, back));
        if (movs) {
            uint64_t si = areg(cpu, in, R_ESI);
            sla = seg_la(cpu, sseg, si);
            n = MIN(n, rep_elems(si, sla, size, in->addrsize, back));
        }
        /* the lowest addresses of the n elements on the host, when the TLB holds both */
        uint64_t low = back && n ? (n - 1) * size : 0;
        TLBEntry *de = x86_tlbe(cpu, dla, cpu->mmu_user);
        bool hit = n && de->write == (dla & GUEST_PAGE_MASK);
        uint8_t *dp = hit ? (uint8_t *)(de->addend + dla - low) : NULL;
        const uint8_t *sp = NULL;
        if (hit && movs) {
            TLBEntry *se = x86_tlbe(cpu, sla, cpu->mmu_user);
            hit = se->read == (sla & GUEST_PAGE_MASK);
            sp = (const uint8_t *)(se->addend + sla - low);
        }
        if (!hit) {
            x86_st(cpu, dla, movs ? x86_ld(cpu, sla, size) : REG(R_EAX), size);
            n = 1;
        } else {
            if (movs) {
                rep_copy(dp, sp, n, size, back);
            } else {
                rep_fill(dp, REG(R_EAX), n, size);
            }
            x86_note_store(cpu, dp);
        }
        if (movs) {
            areg_add(cpu, in, R_ESI, n * d);
        }
        areg_add(cpu, in, R_EDI, n * d);
        count -= n;
        areg_add(cpu, in, R_ECX, -(int64_t)n);
        if (cpu->tb_exit && count) {
            /* it stored into code: restart to pick up the new instructions */
            ENV->rip = cpu->cur_rip;
            return true;
        }
    }
    return true;
}

static void string_op(X86CPU *cpu, const X86Insn *in, int op, int size)
{
    bool rep = in->prefix & (PFX_REPZ | PFX_REPNZ);
    int64_t d = (ENV->eflags & DF_MASK) ? -size : size;
    int sseg = src_seg(in);

    if (rep && (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab)) {
        if (fast_rep(cpu, in, size, op < 0xaa) &&
            (areg(cpu, in, R_ECX) == 0 || ENV->rip == cpu->cur_rip)) {
            return;
        }
    }
    /* A long rep runs in chunks: the instruction restarts itself, so interrupts and the
     * instruction budget are honoured as on hardware. */
    unsigned chunk = 0;
    for (;;) {
        if (rep && areg(cpu, in, R_ECX) == 0) {
            return;
        }
        if (rep && ++chunk > REP_CHUNK) {
            ENV->rip = cpu->cur_rip;
            cpu->tb_exit = 1;
            return;
        }
        switch (op) {
        case 0xa4:
        case 0xa5: {
            uint64_t v = x86_ld(cpu, seg_la(cpu, sseg, areg(cpu, in, R_ESI)), size);
            x86_st(cpu, seg_la(cpu, R_ES, areg(cpu, in, R_EDI)), v, size);
            areg_add(cpu, in, R_ESI, d);
            areg_add(cpu, in, R_EDI, d);
            break;
        }
        case 0xa6:
        case 0xa7: {
            uint64_t a = x86_ld(cpu, seg_la(cpu, sseg, areg(cpu, in, R_ESI)), size);
            uint64_t b = x86_ld(cpu, seg_la(cpu, R_ES, areg(cpu, in, R_EDI)), size);
            alu(cpu, 7, size, a, b);
            areg_add(cpu, in, R_ESI, d);
            areg_add(cpu, in, R_EDI, d);
            break;
        }
        case 0xaa:
        case 0xab:
            x86_st(cpu, seg_la(cpu, R_ES, areg(cpu, in, R_EDI)), REG(R_EAX), size);
            areg_add(cpu, in, R_EDI, d);
            break;
        case 0xac:
        case 0xad: {
            uint64_t v = x86_ld(cpu, seg_la(cpu, sseg, areg(cpu, in, R_ESI)), size);
            set_reg(cpu, in, R_EAX, v, size);
            areg_add(cpu, in, R_ESI, d);
            break;
        }
        case 0xae:
        case 0xaf: {
            uint64_t b = x86_ld(cpu, seg_la(cpu, R_ES, areg(cpu, in, R_EDI)), size);
            alu(cpu, 7, size, REG(R_EAX) & size_mask(size), b);
            areg_add(cpu, in, R_EDI, d);
            break;
        }
        case 0x6c:
        case 0x6d: {
            check_io(cpu);
            uint64_t la = seg_la(cpu, R_ES, areg(cpu, in, R_EDI));
            (void)x86_ld(cpu, la, size); /* fault before the port is read */
            x86_st(cpu, la, io_in(cpu, REG(R_EDX) & 0xffff, size), size);
            areg_add(cpu, in, R_EDI, d);
            break;
        }
        default: { /* outs */
            check_io(cpu);
            uint64_t v = x86_ld(cpu, seg_la(cpu, sseg, areg(cpu, in, R_ESI)), size);
            io_out(cpu, REG(R_EDX) & 0xffff, v, size);
            areg_add(cpu, in, R_ESI, d);
            break;
        }
        }
        if (!rep) {
            return;
        }
        areg_add(cpu, in, R_ECX, -1);
        if (op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf) {
            bool z = x86_cond(cpu, 4);
            if ((in->prefix & PFX_REPZ) ? !z : z) {
                return;
            }
        }
    }
}

/* ---- bit operations ---- */

/* bt/bts/btr/btc: op 0-3. Memory forms with a register offset may address outside the
 * operand (signed bit offset). */
static void bitop(X86CPU *cpu, const X86Insn *in, int op, uint64_t off, bool imm)
{
    int size = in->opsize, bits = size * 8;
    uint64_t la = 0, v;
    if (in->mod == 3) {
        v = get_reg(cpu, in, in->rm, size);
        off &= bits - 1;
    } else {
        la = x86_ea(cpu, in);
        if (!imm) {
            int64_t so = sext(off, size);
            int64_t word = so >= 0 ? so / bits : -((-so + bits - 1) / bits);
            la += word * size;
            if (!cpu->code64) {
                la = (uint32_t)la;
            }
        }
        off &= bits - 1;
        void *lp = op ? lock_ptr(cpu, in, la, size) : NULL;
        if (lp) {
            uint64_t old, nv;
            do {
                old = atomic_ld(lp, size);
                nv = op == 1   ? old | (1ull << off)
                     : op == 2 ? old & ~(1ull << off)
                               : old ^ (1ull << off);
            } while (!atomic_cas(lp, size, old, nv));
            x86_note_store(cpu, lp);
            uint32_t f = x86_compute_eflags(cpu) & ~CC_C;
            set_flags_eager(cpu, f | (((old >> off) & 1) ? CC_C : 0));
            return;
        }
        v = x86_ld(cpu, la, size);
    }
    uint64_t bit = 1ull << off, nv = v;
    switch (op) {
    case 1:
        nv = v | bit;
        break;
    case 2:
        nv = v & ~bit;
        break;
    case 3:
        nv = v ^ bit;
        break;
    }
    if (op) {
        rm_write(cpu, in, size, la, nv);
    }
    uint32_t f = x86_compute_eflags(cpu) & ~CC_C;
    set_flags_eager(cpu, f | ((v & bit) ? CC_C : 0));
}

static void cmpxchg(X86CPU *cpu, const X86Insn *in, int size)
{
    uint64_t la = 0, acc = REG(R_EAX) & size_mask(size);
    uint64_t src = get_reg(cpu, in, in->reg, size);
    if (in->mod != 3) {
        la = x86_ea(cpu, in);
        void *lp = lock_ptr(cpu, in, la, size);
        if (lp) {
            uint64_t old = acc;
            bool ok = atomic_cmpxchg(lp, size, &old, src);
            if (ok) {
                x86_note_store(cpu, lp);
            }
            alu(cpu, 7, size, acc, old);
            if (!ok) {
                set_reg(cpu, in, R_EAX, old, size);
            }
            return;
        }
    }
    uint64_t dst = in->mod == 3 ? get_reg(cpu, in, in->rm, size) : x86_ld(cpu, la, size);
    if (dst == acc) {
        rm_write(cpu, in, size, la, src);
    } else {
        /* memory is written back even when the compare fails; a register is left alone
         * (its upper half is not zero-extended) */
        if (in->mod != 3) {
            x86_st(cpu, la, dst, size);
        }
        set_reg(cpu, in, R_EAX, dst, size);
    }
    alu(cpu, 7, size, acc, dst);
}

static void cmpxchg8b16b(X86CPU *cpu, const X86Insn *in)
{
    bool q = in->opsize == 8;
    if (in->mod == 3 || q) {
        /* cmpxchg16b is not advertised (no CX16 in CPUID) */
        x86_raise_ud(cpu);
    }
    uint64_t la = x86_ea(cpu, in);
    uint64_t cmp = ((REG(R_EDX) & 0xffffffff) << 32) | (REG(R_EAX) & 0xffffffff);
    uint64_t nv = ((REG(R_ECX) & 0xffffffff) << 32) | (REG(R_EBX) & 0xffffffff);
    void *lp = (la & 7) ? NULL : x86_rmw_ptr(cpu, la, 8);
    uint64_t old;
    bool ok;
    if (lp) {
        old = cmp;
        ok = __atomic_compare_exchange_n((uint64_t *)lp, &old, nv, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST);
        if (ok) {
            x86_note_store(cpu, lp);
        }
    } else {
        old = x86_ld(cpu, la, 8);
        ok = old == cmp;
        x86_st(cpu, la, ok ? nv : old, 8);
    }
    uint32_t f = x86_compute_eflags(cpu) & ~CC_Z;
    set_flags_eager(cpu, f | (ok ? CC_Z : 0));
    if (!ok) {
        REG(R_EAX) = (uint32_t)old;
        REG(R_EDX) = old >> 32;
    }
}

static void bsf_bsr(X86CPU *cpu, const X86Insn *in, bool rev)
{
    int size = in->opsize;
    uint64_t la, v = rm_read(cpu, in, size, &la);
    uint32_t f = x86_compute_eflags(cpu) & ~CC_ALL;
    if (v == 0) {
        /* destination unchanged (as AMD documents and Intel does) */
        set_flags_eager(cpu, f | CC_Z | CC_P);
        return;
    }
    int r = rev ? 63 - __builtin_clzll(v) : __builtin_ctzll(v);
    set_reg(cpu, in, in->reg, r, size);
    set_flags_eager(cpu, f | (__builtin_parity(r & 0xff) ? 0 : CC_P));
}

static void enter_op(X86CPU *cpu, const X86Insn *in)
{
    int size = stack_opsize(cpu, in);
    uint64_t frame_size = in->imm & 0xffff;
    int level = in->imm2 & 31;
    uint64_t bp = REG(R_EBP);
    uint64_t sp = sp_mask(cpu, REG(R_ESP) - size);
    x86_st(cpu, seg_la(cpu, R_SS, sp), bp, size);
    uint64_t frame = sp;
    for (int i = 1; i < level; i++) {
        bp = sp_mask(cpu, bp - size);
        uint64_t v = x86_ld(cpu, seg_la(cpu, R_SS, bp), size);
        sp = sp_mask(cpu, sp - size);
        x86_st(cpu, seg_la(cpu, R_SS, sp), v, size);
    }
    if (level) {
        sp = sp_mask(cpu, sp - size);
        x86_st(cpu, seg_la(cpu, R_SS, sp), frame, size);
    }
    sp = sp_mask(cpu, sp - frame_size);
    set_reg(cpu, in, R_EBP, frame, size == 8 ? 8 : stack_size(cpu) == 2 ? 2 : size);
    set_sp(cpu, sp);
}

static void load_seg_checked(X86CPU *cpu, int seg, uint16_t sel)
{
    if (cpu->pe && !(ENV->eflags & VM_MASK)) {
        x86_load_seg(cpu, seg, sel);
    } else {
        x86_load_seg_real(cpu, seg, sel);
    }
}

/* group 6: sldt str lldt ltr verr verw */
static void grp6(X86CPU *cpu, const X86Insn *in)
{
    uint64_t la = 0;
    if (!cpu->pe || (ENV->eflags & VM_MASK)) {
        x86_raise_ud(cpu);
    }
    switch (in->reg & 7) {
    case 0:
    case 1: {
        uint16_t v = ENV->segs[(in->reg & 7) == 0 ? R_LDTR : R_TR].selector;
        if (in->mod == 3) {
            set_reg(cpu, in, in->rm, v, in->opsize);
        } else {
            x86_st(cpu, x86_ea(cpu, in), v, 2);
        }
        return;
    }
    case 2:
    case 3: {
        check_cpl0(cpu);
        uint16_t sel = rm_read(cpu, in, 2, &la);
        if ((in->reg & 7) == 2) {
            x86_lldt(cpu, sel);
        } else {
            x86_ltr(cpu, sel);
        }
        return;
    }
    case 4:
    case 5: {
        uint16_t sel = rm_read(cpu, in, 2, &la);
        uint32_t lo, hi;
        bool ok = false;
        if ((sel & ~3) && x86_read_desc(cpu, sel, &lo, &hi) && (hi & DESC_S)) {
            int dpl = (hi >> DESC_DPL_SHIFT) & 3;
            bool code = hi & DESC_CODE, conf = code && (hi & (1u << 10));
            if (conf || (dpl >= cpu->cpl && dpl >= (sel & 3))) {
                ok = (in->reg & 7) == 4 ? (!code || (hi & DESC_RW)) : (!code && (hi & DESC_RW));
            }
        }
        uint32_t f = x86_compute_eflags(cpu) & ~CC_Z;
        set_flags_eager(cpu, f | (ok ? CC_Z : 0));
        return;
    }
    }
    x86_raise_ud(cpu);
}

/* group 7: sgdt sidt lgdt lidt smsw lmsw invlpg swapgs rdtscp */
static void grp7(X86CPU *cpu, const X86Insn *in)
{
    int r = in->reg & 7;
    if (in->mod == 3) {
        int rm = in->rm & 7;
        if (r == 7 && rm == 0 && cpu->code64) { /* swapgs */
            check_cpl0(cpu);
            uint64_t t = ENV->segs[R_GS].base;
            ENV->segs[R_GS].base = ENV->kernel_gs_base;
            ENV->kernel_gs_base = t;
            return;
        }
        if (r == 7 && rm == 1) { /* rdtscp */
            if ((ENV->cr4 & (1u << 2)) && cpu->cpl) {
                x86_raise(cpu, EXCP_GP, 0);
            }
            uint64_t t = x86_rdtsc(cpu);
            REG(R_EAX) = (uint32_t)t;
            REG(R_EDX) = t >> 32;
            REG(R_ECX) = (uint32_t)ENV->tsc_aux;
            return;
        }
        if (r == 4) { /* smsw reg */
            set_reg(cpu, in, in->rm, ENV->cr0, in->opsize);
            return;
        }
        if (r == 6) { /* lmsw reg */
            check_cpl0(cpu);
            uint64_t v = REG(in->rm) & 0xf;
            x86_write_cr(cpu, 0, (ENV->cr0 & ~0xeull) | v | (ENV->cr0 & 1));
            return;
        }
        x86_raise_ud(cpu);
    }
    uint64_t la = x86_ea(cpu, in);
    switch (r) {
    case 0:
    case 1: {
        X86DescTable *t = r == 0 ? &ENV->gdt : &ENV->idt;
        x86_st(cpu, la, t->limit, 2);
        x86_st(cpu, la + 2, cpu->code64 ? t->base : (uint32_t)t->base, cpu->code64 ? 8 : 4);
        return;
    }
    case 2:
    case 3: {
        check_cpl0(cpu);
        X86DescTable *t = r == 2 ? &ENV->gdt : &ENV->idt;
        uint16_t lim = x86_ld(cpu, la, 2);
        uint64_t base = cpu->code64 ? x86_ld(cpu, la + 2, 8) : x86_ld(cpu, la + 2, 4);
        if (!cpu->code64 && in->opsize == 2) {
            base &= 0xffffff;
        }
        t->limit = lim;
        t->base = base;
        return;
    }
    case 4:
        x86_st(cpu, la, ENV->cr0 & 0xffff, 2);
        return;
    case 6: {
        check_cpl0(cpu);
        uint64_t v = x86_ld(cpu, la, 2) & 0xf;
        x86_write_cr(cpu, 0, (ENV->cr0 & ~0xeull) | v | (ENV->cr0 & 1));
        cpu->tb_exit = 1;
        return;
    }
    case 7:
        check_cpl0(cpu);
        x86_tlb_flush_page(cpu, la);
        return;
    }
    x86_raise_ud(cpu);
}

/* lar / lsl */
static void lar_lsl(X86CPU *cpu, const X86Insn *in, bool lsl)
{
    uint64_t la;
    if (!cpu->pe) {
        x86_raise_ud(cpu);
    }
    uint16_t sel = rm_read(cpu, in, 2, &la);
    uint32_t lo, hi;
    bool ok = false;
    if ((sel & ~3) && x86_read_desc(cpu, sel, &lo, &hi)) {
        int dpl = (hi >> DESC_DPL_SHIFT) & 3;
        int type = (hi >> 8) & 0xf;
        bool conf = (hi & DESC_S) && (hi & DESC_CODE) && (hi & (1u << 10));
        if (!(hi & DESC_S)) {
            /* system descriptors: LDT, TSS (and call gates for lar) */
            ok = type == 1 || type == 2 || type == 3 || type == 9 || type == 11 ||
                 (!lsl && (type == 4 || type == 12));
        } else {
            ok = true;
        }
        if (ok && !conf && (dpl < cpu->cpl || dpl < (sel & 3))) {
            ok = false;
        }
        if (ok) {
            uint64_t v;
            if (lsl) {
                v = (lo & 0xffff) | (hi & 0xf0000);
                if (hi & DESC_G) {
                    v = (v << 12) | 0xfff;
                }
            } else {
                v = hi & 0x00f0ff00;
            }
            set_reg(cpu, in, in->reg, v, in->opsize);
        }
    }
    uint32_t f = x86_compute_eflags(cpu) & ~CC_Z;
    set_flags_eager(cpu, f | (ok ? CC_Z : 0));
}

/* ---- the general handlers, one per row (or run of rows) of x86_optab ---- */

/* The ALU block 00-3f: add or adc sbb and sub xor cmp, op >> 3, in six operand forms. */
void x86_op_alu(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op, aop = op >> 3, size = in->opsize;
    uint64_t la = 0, a, b, r;
    switch (op & 7) {
    case 0:
    case 1: {
        int sz = (op & 1) ? size : 1;
        rmw_rm(cpu, in, aop, sz, get_reg(cpu, in, in->reg, sz), &r);
        return;
    }
    case 2:
    case 3: {
        int sz = (op & 1) ? size : 1;
        b = rm_read(cpu, in, sz, &la);
        a = get_reg(cpu, in, in->reg, sz);
        r = alu(cpu, aop, sz, a, b);
        if (aop != 7) {
            set_reg(cpu, in, in->reg, r, sz);
        }
        return;
    }
    case 4:
        r = alu(cpu, aop, 1, REG(R_EAX) & 0xff, in->imm & 0xff);
        if (aop != 7) {
            set_reg(cpu, in, R_EAX, r, 1);
        }
        return;
    default:
        r = alu(cpu, aop, size, REG(R_EAX) & size_mask(size), in->imm & size_mask(size));
        if (aop != 7) {
            set_reg(cpu, in, R_EAX, r, size);
        }
        return;
    }
}

/* imul r, r/m, imm */
void x86_op_imul_imm(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t la = 0;
    uint64_t a = rm_read(cpu, in, size, &la);
    __int128 p = (__int128)sext(a, size) * sext(in->imm, size);
    uint64_t r = (uint64_t)p & size_mask(size);
    uint32_t f = x86_compute_eflags(cpu) & ~CC_ALL;
    f |= (p != (__int128)sext(r, size)) ? (CC_C | CC_O) : 0;
    set_flags_eager(cpu, f | szp(r, size));
    set_reg(cpu, in, in->reg, r, size);
}

/* push es/cs/ss/ds */
void x86_op_push_sreg(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    push(cpu, ENV->segs[op >> 3].selector, stack_opsize(cpu, in));
}

/* pop es/ss/ds */
void x86_op_pop_sreg(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int sz = stack_opsize(cpu, in);
    uint64_t sp = REG(R_ESP);
    uint16_t sel = pop(cpu, sz);
    uint64_t newsp = REG(R_ESP);
    REG(R_ESP) = sp;
    load_seg_checked(cpu, op >> 3, sel);
    REG(R_ESP) = newsp;
    if (op == 0x17) {
        ENV->inhibit_irq = 1;
        cpu->tb_exit = 1;
    }
}

void x86_op_bcd(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    /* daa das aaa aas */
    uint32_t f = x86_compute_eflags(cpu);
    uint8_t al = REG(R_EAX) & 0xff, old_al = al;
    bool cf = f & CC_C, af = f & CC_A;
    if (op == 0x27 || op == 0x2f) {
        bool sub = op == 0x2f;
        uint32_t nf = 0;
        if ((al & 0xf) > 9 || af) {
            al = sub ? al - 6 : al + 6;
            nf |= CC_A;
            if (sub ? old_al < 6 : old_al > 0xf9) {
                nf |= cf ? CC_C : 0;
            }
        }
        if (old_al > 0x99 || cf) {
            al = sub ? al - 0x60 : al + 0x60;
            nf |= CC_C;
        }
        set_reg(cpu, in, R_EAX, al, 1);
        set_flags_eager(cpu, nf | szp(al, 1) | (f & CC_O));
    } else {
        bool sub = op == 0x3f;
        uint64_t ax = REG(R_EAX) & 0xffff;
        uint32_t nf = f & ~(CC_A | CC_C);
        if ((al & 0xf) > 9 || af) {
            ax = sub ? ax - 6 : ax + 0x106;
            if (sub) {
                ax = (ax & 0xff) | (((ax >> 8) - 1) & 0xff) << 8;
            }
            nf |= CC_A | CC_C;
        }
        ax = (ax & 0xff0f);
        REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | ax;
        set_flags_eager(cpu, nf);
    }
}

/* inc/dec r (not 64-bit mode: those are REX) */
void x86_op_incdec_r(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t a, r;
    int rn = op & 7;
    uint64_t c = x86_compute_cf(cpu);
    a = REG(rn) & size_mask(size);
    r = (op < 0x48) ? a + 1 : a - 1;
    set_cc(cpu, op < 0x48 ? CC_OP_INC : CC_OP_DEC, size, a, 1, r);
    ENV->cc_carry = c;
    set_reg(cpu, in, rn, r, size);
}

void x86_op_push_r(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    push(cpu, REG((op & 7) | ((in->rex & REX_B) ? 8 : 0)), stack_opsize(cpu, in));
}

void x86_op_pop_r(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    uint64_t r;
    int sz = stack_opsize(cpu, in);
    r = pop(cpu, sz);
    set_reg(cpu, in, (op & 7) | ((in->rex & REX_B) ? 8 : 0), r, sz);
}

/* pusha */
void x86_op_pusha(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t sp = REG(R_ESP);
    for (int i = 0; i < 8; i++) {
        push(cpu, i == R_ESP ? sp : REG(i), size);
    }
}

/* popa */
void x86_op_popa(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t r;
    for (int i = 7; i >= 0; i--) {
        r = pop(cpu, size);
        if (i != R_ESP) {
            set_reg(cpu, in, i, r, size);
        }
    }
}

void x86_op_movsxd(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t la = 0, r;
    if (cpu->code64) { /* movsxd */
        r = rm_read(cpu, in, 4, &la);
        set_reg(cpu, in, in->reg, size == 8 ? (uint64_t)(int32_t)r : r, size);
        return;
    }
    x86_unimplemented(cpu, in); /* arpl */
}

void x86_op_push_imm(X86CPU *cpu, const X86Insn *in)
{
    push(cpu, in->imm, stack_opsize(cpu, in));
}

void x86_op_ins_outs_b(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    string_op(cpu, in, op, 1);
}

void x86_op_ins_outs_v(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    string_op(cpu, in, op, size == 8 ? 4 : size);
}

void x86_op_jcc(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    if (x86_cond(cpu, op & 15)) {
        ENV->rip = branch_target(cpu, in, ENV->rip + in->imm);
    }
}

void x86_op_grp1(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t r;
    int sz = (op & 1) ? size : 1;
    rmw_rm(cpu, in, in->reg & 7, sz, in->imm & size_mask(sz), &r);
}

void x86_op_test_rm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, a;
    int sz = (op & 1) ? size : 1;
    a = rm_read(cpu, in, sz, &la);
    alu(cpu, 4, sz, a, get_reg(cpu, in, in->reg, sz));
}

void x86_op_xchg_rm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, a, b;
    int sz = (op & 1) ? size : 1;
    b = get_reg(cpu, in, in->reg, sz);
    if (in->mod == 3) {
        a = get_reg(cpu, in, in->rm, sz);
        set_reg(cpu, in, in->rm, b, sz);
    } else {
        la = x86_ea(cpu, in);
        void *lp = (la & (sz - 1)) ? NULL : x86_rmw_ptr(cpu, la, sz);
        if (lp) {
            switch (sz) {
            case 1:
                a = __atomic_exchange_n((uint8_t *)lp, (uint8_t)b, __ATOMIC_SEQ_CST);
                break;
            case 2:
                a = __atomic_exchange_n((uint16_t *)lp, (uint16_t)b, __ATOMIC_SEQ_CST);
                break;
            case 4:
                a = __atomic_exchange_n((uint32_t *)lp, (uint32_t)b, __ATOMIC_SEQ_CST);
                break;
            default:
                a = __atomic_exchange_n((uint64_t *)lp, b, __ATOMIC_SEQ_CST);
                break;
            }
            x86_note_store(cpu, lp);
        } else {
            a = x86_ld(cpu, la, sz);
            x86_st(cpu, la, b, sz);
        }
    }
    set_reg(cpu, in, in->reg, a, sz);
}

void x86_op_mov_to_rm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t r;
    int sz = (op & 1) ? size : 1;
    r = get_reg(cpu, in, in->reg, sz);
    if (in->mod == 3) {
        set_reg(cpu, in, in->rm, r, sz);
    } else {
        x86_st(cpu, x86_ea(cpu, in), r, sz);
    }
}

void x86_op_mov_from_rm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, r;
    int sz = (op & 1) ? size : 1;
    r = rm_read(cpu, in, sz, &la);
    set_reg(cpu, in, in->reg, r, sz);
}

void x86_op_mov_from_sreg(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    if ((in->reg & 7) > 5) {
        x86_raise_ud(cpu);
    }
    uint16_t sel = ENV->segs[in->reg & 7].selector;
    if (in->mod == 3) {
        set_reg(cpu, in, in->rm, sel, size == 2 ? 2 : size);
    } else {
        x86_st(cpu, x86_ea(cpu, in), sel, 2);
    }
}

void x86_op_lea(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    if (in->mod == 3) {
        x86_raise_ud(cpu);
    } else {
        X86Insn t = *in;
        t.seg = X86_SEG_NONE;
        uint64_t ea = x86_ea(cpu, &t);
        if (!cpu->code64 && in->addrsize == 2) {
            ea &= 0xffff;
        }
        set_reg(cpu, in, in->reg, ea, size);
    }
}

void x86_op_mov_to_sreg(X86CPU *cpu, const X86Insn *in)
{
    uint64_t la = 0;
    int s = in->reg & 7;
    if (s == R_CS || s > 5) {
        x86_raise_ud(cpu);
    }
    uint16_t sel = rm_read(cpu, in, 2, &la);
    load_seg_checked(cpu, s, sel);
    if (s == R_SS) {
        ENV->inhibit_irq = 1;
        cpu->tb_exit = 1;
    }
}

void x86_op_pop_rm(X86CPU *cpu, const X86Insn *in)
{
    uint64_t la = 0, r;
    int sz = stack_opsize(cpu, in);
    if (in->mod == 3) {
        r = pop(cpu, sz);
        set_reg(cpu, in, in->rm, r, sz);
    } else {
        /* the address is computed with rsp already incremented */
        uint64_t sp = REG(R_ESP);
        r = pop(cpu, sz);
        uint64_t newsp = REG(R_ESP);
        la = x86_ea(cpu, in);
        REG(R_ESP) = sp;
        x86_st(cpu, la, r, sz);
        REG(R_ESP) = newsp;
    }
}

/* xchg rax with the register in the opcode (90 is xchg r8, rax with REX.B) */
void x86_op_xchg_ax(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    int rn = (in->op & 7) | ((in->rex & REX_B) ? 8 : 0);
    uint64_t a = REG(rn);
    set_reg(cpu, in, rn, REG(R_EAX), size);
    set_reg(cpu, in, R_EAX, a, size);
}

/* nop, and pause with F3 */
void x86_op_nop(X86CPU *cpu, const X86Insn *in)
{
    if (in->rex & REX_B) {
        x86_op_xchg_ax(cpu, in);
    }
}

/* cbw/cwde/cdqe */
void x86_op_cbw(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t r;
    r = size == 2   ? (uint64_t)(int8_t)REG(R_EAX)
        : size == 4 ? (uint64_t)(int16_t)REG(R_EAX)
                    : (uint64_t)(int32_t)REG(R_EAX);
    set_reg(cpu, in, R_EAX, r, size);
}

/* cwd/cdq/cqo */
void x86_op_cwd(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t r;
    r = (REG(R_EAX) & sign_bit(size)) ? ~0ull : 0;
    set_reg(cpu, in, R_EDX, r, size);
}

void x86_op_call_far(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    x86_far_call(cpu, in->imm2, in->imm, size, ENV->rip);
    cpu->tb_exit = 1;
}

/* fwait */
void x86_op_fwait(X86CPU *cpu, const X86Insn *in)
{
    if ((ENV->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
        x86_raise(cpu, EXCP_NM, -1);
    }
}

/* pushf */
void x86_op_pushf(X86CPU *cpu, const X86Insn *in)
{
    int sz = stack_opsize(cpu, in);
    if ((ENV->eflags & VM_MASK) && ((ENV->eflags & IOPL_MASK) >> 12) != 3) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    push(cpu, x86_get_eflags(cpu) & ~(uint64_t)(VM_MASK | RF_MASK), sz);
}

/* popf */
void x86_op_popf(X86CPU *cpu, const X86Insn *in)
{
    uint64_t r;
    int sz = stack_opsize(cpu, in);
    if ((ENV->eflags & VM_MASK) && ((ENV->eflags & IOPL_MASK) >> 12) != 3) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    r = pop(cpu, sz);
    uint64_t mask = CC_ALL | TF_MASK | DF_MASK | NT_MASK | AC_MASK | ID_MASK | 0x800;
    int iopl = (ENV->eflags & IOPL_MASK) >> 12;
    if (cpu->cpl == 0 || !cpu->pe) {
        mask |= IOPL_MASK | IF_MASK;
    } else if (cpu->cpl <= iopl) {
        mask |= IF_MASK;
    }
    if (sz == 2) {
        mask &= 0xffff;
    }
    x86_set_eflags(cpu, r, mask);
    cpu->tb_exit = 1;
}

/* sahf */
void x86_op_sahf(X86CPU *cpu, const X86Insn *in)
{
    uint32_t f = x86_compute_eflags(cpu);
    uint32_t ah = (REG(R_EAX) >> 8) & (CC_S | CC_Z | CC_A | CC_P | CC_C);
    set_flags_eager(cpu, (f & CC_O) | ah);
}

/* lahf */
void x86_op_lahf(X86CPU *cpu, const X86Insn *in)
{
    REG(R_EAX) = (REG(R_EAX) & ~0xff00ull) | ((x86_get_eflags(cpu) & 0xff) << 8);
}

void x86_op_mov_moffs(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    int sz = (op & 1) ? size : 1;
    uint64_t off = in->imm;
    uint64_t sla = in->seg == X86_SEG_NONE ? off : seg_la(cpu, in->seg, off);
    if (op < 0xa2) {
        set_reg(cpu, in, R_EAX, x86_ld(cpu, sla, sz), sz);
    } else {
        x86_st(cpu, sla, REG(R_EAX), sz);
    }
}

void x86_op_string_b(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    string_op(cpu, in, op, 1);
}

void x86_op_string_v(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    string_op(cpu, in, op, size);
}

void x86_op_test_al(X86CPU *cpu, const X86Insn *in)
{
    alu(cpu, 4, 1, REG(R_EAX) & 0xff, in->imm & 0xff);
}

void x86_op_test_ax(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    alu(cpu, 4, size, REG(R_EAX) & size_mask(size), in->imm & size_mask(size));
}

void x86_op_mov_r8_imm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    set_reg(cpu, in, (op & 7) | ((in->rex & REX_B) ? 8 : 0), in->imm, 1);
}

void x86_op_mov_r_imm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    set_reg(cpu, in, (op & 7) | ((in->rex & REX_B) ? 8 : 0), in->imm, size);
}

void x86_op_shift(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, a, r;
    int sz = (op & 1) ? size : 1;
    unsigned cnt = op <= 0xc1 ? (unsigned)in->imm : op <= 0xd1 ? 1 : (REG(R_ECX) & 0xff);
    a = rm_read(cpu, in, sz, &la);
    r = shift_op(cpu, in, in->reg & 7, sz, a, cnt);
    rm_write(cpu, in, sz, la, r);
}

void x86_op_ret(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int sz = stack_opsize(cpu, in);
    uint64_t t = pop(cpu, sz);
    if (op == 0xc2) {
        set_sp(cpu, sp_mask(cpu, REG(R_ESP)) + (in->imm & 0xffff));
    }
    ENV->rip = sz == 2 ? (t & 0xffff) : sz == 4 ? (uint32_t)t : t;
}

void x86_op_les_lds(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0;
    if (in->mod == 3) {
        x86_raise_ud(cpu);
    }
    la = x86_ea(cpu, in);
    uint64_t off = x86_ld(cpu, la, size == 2 ? 2 : 4);
    uint16_t sel = x86_ld(cpu, la + (size == 2 ? 2 : 4), 2);
    load_seg_checked(cpu, op == 0xc4 ? R_ES : R_DS, sel);
    set_reg(cpu, in, in->reg, off, size);
}

void x86_op_mov_rm_imm(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    int sz = (op & 1) ? size : 1;
    if ((in->reg & 7) != 0) {
        x86_raise_ud(cpu);
    }
    if (in->mod == 3) {
        set_reg(cpu, in, in->rm, in->imm, sz);
    } else {
        x86_st(cpu, x86_ea(cpu, in), in->imm, sz);
    }
}

void x86_op_enter(X86CPU *cpu, const X86Insn *in)
{
    enter_op(cpu, in);
}

/* leave */
void x86_op_leave(X86CPU *cpu, const X86Insn *in)
{
    uint64_t r;
    int sz = stack_opsize(cpu, in);
    uint64_t bp = sp_mask(cpu, REG(R_EBP));
    r = x86_ld(cpu, seg_la(cpu, R_SS, bp), sz);
    set_sp(cpu, bp + sz);
    set_reg(cpu, in, R_EBP, r, sz);
}

void x86_op_ret_far(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    x86_far_ret(cpu, size, op == 0xca ? in->imm & 0xffff : 0);
    cpu->tb_exit = 1;
}

void x86_op_int3(X86CPU *cpu, const X86Insn *in)
{
    x86_raise_soft(cpu, EXCP_BP, ENV->rip);
}

void x86_op_int_imm(X86CPU *cpu, const X86Insn *in)
{
    if ((ENV->eflags & VM_MASK) && ((ENV->eflags & IOPL_MASK) >> 12) != 3) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    x86_raise_soft(cpu, in->imm & 0xff, ENV->rip);
}

void x86_op_into(X86CPU *cpu, const X86Insn *in)
{
    if (x86_cond(cpu, 0)) {
        x86_raise_soft(cpu, EXCP_OF, ENV->rip);
    }
}

void x86_op_iret(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    x86_iret(cpu, size);
    cpu->tb_exit = 1;
}

/* aam / aad */
void x86_op_aam_aad(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    uint8_t al = REG(R_EAX), ah = REG(R_EAX) >> 8, base = in->imm;
    if (op == 0xd4) {
        if (base == 0) {
            x86_raise(cpu, EXCP_DE, -1);
        }
        ah = al / base;
        al = al % base;
    } else {
        al = (uint8_t)(al + ah * base);
        ah = 0;
    }
    REG(R_EAX) = (REG(R_EAX) & ~0xffffull) | ((uint64_t)ah << 8) | al;
    set_flags_eager(cpu, szp(al, 1));
}

/* salc */
void x86_op_salc(X86CPU *cpu, const X86Insn *in)
{
    set_reg(cpu, in, R_EAX, x86_compute_cf(cpu) ? 0xff : 0, 1);
}

/* xlat */
void x86_op_xlat(X86CPU *cpu, const X86Insn *in)
{
    uint64_t off = (REG(R_EBX) + (REG(R_EAX) & 0xff)) & size_mask(in->addrsize);
    int s = in->seg == X86_SEG_NONE ? R_DS : in->seg;
    set_reg(cpu, in, R_EAX, x86_ld(cpu, seg_la(cpu, s, off), 1), 1);
}

void x86_op_x87(X86CPU *cpu, const X86Insn *in)
{
    x86_exec_x87(cpu, in);
}

/* loopnz loopz loop */
void x86_op_loop(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    uint64_t c = (REG(R_ECX) - 1) & size_mask(in->addrsize);
    areg_add(cpu, in, R_ECX, -1);
    bool take = c != 0;
    if (op == 0xe0) {
        take = take && !x86_cond(cpu, 4);
    } else if (op == 0xe1) {
        take = take && x86_cond(cpu, 4);
    }
    if (take) {
        ENV->rip = branch_target(cpu, in, ENV->rip + in->imm);
    }
}

void x86_op_jcxz(X86CPU *cpu, const X86Insn *in)
{
    if (areg(cpu, in, R_ECX) == 0) {
        ENV->rip = branch_target(cpu, in, ENV->rip + in->imm);
    }
}

void x86_op_in(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    int sz = (op & 1) ? (size == 2 ? 2 : 4) : 1;
    check_io(cpu);
    uint16_t port = op < 0xec ? (in->imm & 0xff) : (REG(R_EDX) & 0xffff);
    set_reg(cpu, in, R_EAX, io_in(cpu, port, sz), sz);
    cpu->tb_exit = 1;
}

void x86_op_out(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    int sz = (op & 1) ? (size == 2 ? 2 : 4) : 1;
    check_io(cpu);
    uint16_t port = op < 0xee ? (in->imm & 0xff) : (REG(R_EDX) & 0xffff);
    io_out(cpu, port, REG(R_EAX) & size_mask(sz), sz);
    cpu->tb_exit = 1;
}

/* call rel */
void x86_op_call(X86CPU *cpu, const X86Insn *in)
{
    int sz = stack_opsize(cpu, in);
    uint64_t t = branch_target(cpu, in, ENV->rip + in->imm);
    push(cpu, ENV->rip, sz);
    ENV->rip = t;
}

void x86_op_jmp(X86CPU *cpu, const X86Insn *in)
{
    ENV->rip = branch_target(cpu, in, ENV->rip + in->imm);
}

void x86_op_jmp_far(X86CPU *cpu, const X86Insn *in)
{
    x86_far_jmp(cpu, in->imm2, in->imm, ENV->rip);
    cpu->tb_exit = 1;
}

/* icebp */
void x86_op_icebp(X86CPU *cpu, const X86Insn *in)
{
    x86_raise_soft(cpu, EXCP_DB, ENV->rip);
}

/* hlt */
void x86_op_hlt(X86CPU *cpu, const X86Insn *in)
{
    check_cpl0(cpu);
    ENV->halted = 1;
    cpu->tb_exit = 1;
}

void x86_op_cmc(X86CPU *cpu, const X86Insn *in)
{
    set_flags_eager(cpu, x86_compute_eflags(cpu) ^ CC_C);
}

void x86_op_grp3(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, a, r;
    int sz = (op & 1) ? size : 1;
    int g = in->reg & 7;
    switch (g) {
    case 0:
    case 1:
        a = rm_read(cpu, in, sz, &la);
        alu(cpu, 4, sz, a, in->imm & size_mask(sz));
        return;
    case 2:
        rmw_rm(cpu, in, RMW_NOT, sz, 0, &r);
        return;
    case 3:
        rmw_rm(cpu, in, RMW_NEG, sz, 0, &r);
        return;
    default:
        muldiv(cpu, in, sz, rm_read(cpu, in, sz, &la));
        return;
    }
}

void x86_op_clc_stc(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    set_flags_eager(cpu, (x86_compute_eflags(cpu) & ~CC_C) | (op & 1));
}

void x86_op_cli_sti(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int iopl = (ENV->eflags & IOPL_MASK) >> 12;
    if (cpu->pe && cpu->cpl > iopl) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    if (op == 0xfa) {
        ENV->eflags &= ~(uint64_t)IF_MASK;
    } else {
        if (!(ENV->eflags & IF_MASK)) {
            ENV->inhibit_irq = 1;
        }
        ENV->eflags |= IF_MASK;
        cpu->tb_exit = 1;
    }
}

void x86_op_cld(X86CPU *cpu, const X86Insn *in)
{
    ENV->eflags &= ~(uint64_t)DF_MASK;
}

void x86_op_std(X86CPU *cpu, const X86Insn *in)
{
    ENV->eflags |= DF_MASK;
}

void x86_op_grp45(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op;
    int size = in->opsize;
    uint64_t la = 0, a, r;
    int g = in->reg & 7;
    int sz = (op & 1) ? size : 1;
    if (g < 2) {
        uint64_t c = x86_compute_cf(cpu);
        a = g == 0 ? rmw_rm(cpu, in, RMW_INC, sz, 0, &r) : rmw_rm(cpu, in, RMW_DEC, sz, 0, &r);
        set_cc(cpu, g == 0 ? CC_OP_INC : CC_OP_DEC, sz, a, 1, r);
        ENV->cc_carry = c;
        return;
    }
    if (op == 0xfe) {
        x86_raise_ud(cpu);
    }
    switch (g) {
    case 2: { /* call near indirect */
        int ssz = stack_opsize(cpu, in);
        uint64_t t = rm_read(cpu, in, cpu->code64 ? 8 : size, &la);
        push(cpu, ENV->rip, ssz);
        ENV->rip = branch_target(cpu, in, t);
        return;
    }
    case 3:
    case 5: { /* far call / far jmp through memory */
        if (in->mod == 3) {
            x86_raise_ud(cpu);
        }
        la = x86_ea(cpu, in);
        int osz = size;
        uint64_t off = x86_ld(cpu, la, osz);
        uint16_t sel = x86_ld(cpu, la + osz, 2);
        if (g == 3) {
            x86_far_call(cpu, sel, off, osz, ENV->rip);
        } else {
            x86_far_jmp(cpu, sel, off, ENV->rip);
        }
        cpu->tb_exit = 1;
        return;
    }
    case 4: { /* jmp near indirect */
        uint64_t t = rm_read(cpu, in, cpu->code64 ? 8 : size, &la);
        ENV->rip = branch_target(cpu, in, t);
        return;
    }
    case 6:
        a = rm_read(cpu, in, stack_opsize(cpu, in), &la);
        push(cpu, a, stack_opsize(cpu, in));
        return;
    }
    x86_raise_ud(cpu);
}

void x86_op_grp6(X86CPU *cpu, const X86Insn *in)
{
    grp6(cpu, in);
}

void x86_op_grp7(X86CPU *cpu, const X86Insn *in)
{
    grp7(cpu, in);
    cpu->tb_exit = 1;
}

void x86_op_lar(X86CPU *cpu, const X86Insn *in)
{
    lar_lsl(cpu, in, false);
}

void x86_op_lsl(X86CPU *cpu, const X86Insn *in)
{
    lar_lsl(cpu, in, true);
}

void x86_op_syscall(X86CPU *cpu, const X86Insn *in)
{
    x86_syscall(cpu, ENV->rip);
    cpu->tb_exit = 1;
}

void x86_op_clts(X86CPU *cpu, const X86Insn *in)
{
    check_cpl0(cpu);
    ENV->cr0 &= ~(uint64_t)CR0_TS;
}

void x86_op_sysret(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    x86_sysret(cpu, size);
    cpu->tb_exit = 1;
}

void x86_op_invd(X86CPU *cpu, const X86Insn *in)
{
    check_cpl0(cpu);
}

void x86_op_ud(X86CPU *cpu, const X86Insn *in)
{
    x86_raise_ud(cpu);
}

/* prefetch and hint nops */
void x86_op_hint_nop(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    if (op == 0x0d && in->mod == 3) {
        x86_raise_ud(cpu);
    }
}

/* mov r, crN / mov crN, r */
void x86_op_mov_cr(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    check_cpl0(cpu);
    int cr = in->reg;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8) {
        x86_raise_ud(cpu);
    }
    int rsz = cpu->code64 ? 8 : 4;
    if (op == 0x20) {
        set_reg(cpu, in, in->rm, x86_read_cr(cpu, cr), rsz);
    } else {
        x86_write_cr(cpu, cr, REG(in->rm) & size_mask(rsz));
        cpu->tb_exit = 1;
    }
}

/* debug registers: stored, breakpoints not armed */
void x86_op_mov_dr(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    check_cpl0(cpu);
    int dr = in->reg & 7;
    if (dr == 4 || dr == 5) {
        if (ENV->cr4 & (1u << 3)) {
            x86_raise_ud(cpu);
        }
        dr += 2;
    }
    int rsz = cpu->code64 ? 8 : 4;
    if (op == 0x21) {
        uint64_t v = ENV->dr[dr];
        if (dr == 6) {
            v |= 0xffff0ff0;
        } else if (dr == 7) {
            v |= 0x400;
        }
        set_reg(cpu, in, in->rm, v, rsz);
    } else {
        ENV->dr[dr] = REG(in->rm) & size_mask(rsz);
    }
}

/* wrmsr */
void x86_op_wrmsr(X86CPU *cpu, const X86Insn *in)
{
    check_cpl0(cpu);
    uint64_t v = ((REG(R_EDX) & 0xffffffff) << 32) | (REG(R_EAX) & 0xffffffff);
    if (!x86_wrmsr(cpu, (uint32_t)REG(R_ECX), v)) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    cpu->tb_exit = 1;
}

/* rdtsc */
void x86_op_rdtsc(X86CPU *cpu, const X86Insn *in)
{
    if ((ENV->cr4 & (1u << 2)) && cpu->cpl) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    uint64_t t = x86_rdtsc(cpu);
    REG(R_EAX) = (uint32_t)t;
    REG(R_EDX) = t >> 32;
}

/* rdmsr */
void x86_op_rdmsr(X86CPU *cpu, const X86Insn *in)
{
    check_cpl0(cpu);
    uint64_t v;
    if (!x86_rdmsr(cpu, (uint32_t)REG(R_ECX), &v)) {
        x86_raise(cpu, EXCP_GP, 0);
    }
    REG(R_EAX) = (uint32_t)v;
    REG(R_EDX) = v >> 32;
}

void x86_op_sysenter(X86CPU *cpu, const X86Insn *in)
{
    x86_sysenter(cpu);
    cpu->tb_exit = 1;
}

void x86_op_sysexit(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    x86_sysexit(cpu, size);
    cpu->tb_exit = 1;
}

/* cmovcc: the 32-bit form zero-extends even when not moving */
void x86_op_cmovcc(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    uint64_t la = 0, a;
    a = rm_read(cpu, in, size, &la);
    if (x86_cond(cpu, op & 15)) {
        set_reg(cpu, in, in->reg, a, size);
    } else if (size == 4) {
        REG(in->reg) = (uint32_t)REG(in->reg);
    }
}

void x86_op_jcc_rel32(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    if (x86_cond(cpu, op & 15)) {
        ENV->rip = branch_target(cpu, in, ENV->rip + in->imm);
    }
}

void x86_op_setcc(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    uint64_t r;
    r = x86_cond(cpu, op & 15);
    if (in->mod == 3) {
        set_reg(cpu, in, in->rm, r, 1);
    } else {
        x86_st(cpu, x86_ea(cpu, in), r, 1);
    }
}

void x86_op_push_fs_gs(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    push(cpu, ENV->segs[op == 0xa0 ? R_FS : R_GS].selector, stack_opsize(cpu, in));
}

void x86_op_pop_fs_gs(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int sz = stack_opsize(cpu, in);
    uint64_t sp = REG(R_ESP);
    uint16_t sel = pop(cpu, sz);
    uint64_t newsp = REG(R_ESP);
    REG(R_ESP) = sp;
    load_seg_checked(cpu, op == 0xa1 ? R_FS : R_GS, sel);
    REG(R_ESP) = newsp;
}

void x86_op_cpuid(X86CPU *cpu, const X86Insn *in)
{
    uint32_t o[4];
    x86_cpuid(cpu, (uint32_t)REG(R_EAX), (uint32_t)REG(R_ECX), o);
    REG(R_EAX) = o[0];
    REG(R_EBX) = o[1];
    REG(R_ECX) = o[2];
    REG(R_EDX) = o[3];
}

/* bt bts btr btc with a register bit offset (0F a3 ab b3 bb: the operation is op >> 3 & 3) */
void x86_op_bt(X86CPU *cpu, const X86Insn *in)
{
    bitop(cpu, in, (in->op >> 3) & 3, get_reg(cpu, in, in->reg, in->opsize), false);
}

void x86_op_grp8(X86CPU *cpu, const X86Insn *in)
{
    if ((in->reg & 7) < 4) {
        x86_raise_ud(cpu);
    }
    bitop(cpu, in, (in->reg & 7) - 4, in->imm & 0xff, true);
}

void x86_op_shld_shrd(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    uint64_t la = 0, a, r;
    unsigned cnt = (op & 1) ? (REG(R_ECX) & 0xff) : (unsigned)(in->imm & 0xff);
    a = rm_read(cpu, in, size, &la);
    r = shiftd(cpu, op < 0xac, size, a, get_reg(cpu, in, in->reg, size), cnt);
    rm_write(cpu, in, size, la, r);
}

void x86_op_grp15(X86CPU *cpu, const X86Insn *in)
{
    uint64_t la;
    int g = in->reg & 7;
    if (in->mod == 3) {
        if (g >= 5 && !(in->prefix & (PFX_REPZ | PFX_REPNZ | PFX_DATA))) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST); /* lfence mfence sfence */
            return;
        }
        x86_raise_ud(cpu);
    }
    la = x86_ea(cpu, in);
    switch (g) {
    case 0:
        x86_fxsave(cpu, la, in->rex & REX_W);
        return;
    case 1:
        x86_fxrstor(cpu, la, in->rex & REX_W);
        return;
    case 2: { /* ldmxcsr */
        if (!(ENV->cr4 & CR4_OSFXSR) || (ENV->cr0 & CR0_EM)) {
            x86_raise_ud(cpu);
        }
        if (ENV->cr0 & CR0_TS) {
            x86_raise(cpu, EXCP_NM, -1);
        }
        uint32_t v = x86_ld(cpu, la, 4);
        if (v & 0xffff0000) {
            x86_raise(cpu, EXCP_GP, 0);
        }
        ENV->mxcsr = v;
        return;
    }
    case 3:
        if (!(ENV->cr4 & CR4_OSFXSR) || (ENV->cr0 & CR0_EM)) {
            x86_raise_ud(cpu);
        }
        if (ENV->cr0 & CR0_TS) {
            x86_raise(cpu, EXCP_NM, -1);
        }
        x86_st(cpu, la, ENV->mxcsr, 4);
        return;
    case 7: /* clflush: memory is coherent here; still faults on a bad address */
        (void)x86_ld(cpu, la, 1);
        return;
    }
    x86_raise_ud(cpu); /* xsave family: not advertised */
}

void x86_op_imul_rm(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t la = 0, a, r;
    a = rm_read(cpu, in, size, &la);
    __int128 p = (__int128)sext(a, size) * sext(REG(in->reg), size);
    r = (uint64_t)p & size_mask(size);
    uint32_t f = x86_compute_eflags(cpu) & ~CC_ALL;
    f |= (p != (__int128)sext(r, size)) ? (CC_C | CC_O) : 0;
    set_flags_eager(cpu, f | szp(r, size));
    set_reg(cpu, in, in->reg, r, size);
}

void x86_op_cmpxchg_b(X86CPU *cpu, const X86Insn *in)
{
    cmpxchg(cpu, in, 1);
}

void x86_op_cmpxchg_v(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    cmpxchg(cpu, in, size);
}

void x86_op_lss_lfs_lgs(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    uint64_t la = 0;
    if (in->mod == 3) {
        x86_raise_ud(cpu);
    }
    la = x86_ea(cpu, in);
    uint64_t off = x86_ld(cpu, la, size);
    uint16_t sel = x86_ld(cpu, la + size, 2);
    load_seg_checked(cpu, op == 0xb2 ? R_SS : op == 0xb4 ? R_FS : R_GS, sel);
    set_reg(cpu, in, in->reg, off, size);
}

void x86_op_movx(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    uint64_t la = 0, a;
    int ssz = (op & 1) ? 2 : 1;
    a = rm_read(cpu, in, ssz, &la);
    if (op >= 0xbe) {
        a = (uint64_t)sext(a, ssz);
    }
    set_reg(cpu, in, in->reg, a, size);
}

/* popcnt (F3) */
void x86_op_popcnt(X86CPU *cpu, const X86Insn *in)
{
    int size = in->opsize;
    uint64_t la = 0, a, r;
    if (!(in->prefix & PFX_REPZ)) {
        x86_raise_ud(cpu);
    }
    a = rm_read(cpu, in, size, &la);
    r = __builtin_popcountll(a);
    set_reg(cpu, in, in->reg, r, size);
    set_flags_eager(cpu, a ? 0 : CC_Z);
}

void x86_op_bsf(X86CPU *cpu, const X86Insn *in)
{
    bsf_bsr(cpu, in, false);
    return; /* also F3 (tzcnt): no BMI1 here */
}

void x86_op_bsr(X86CPU *cpu, const X86Insn *in)
{
    bsf_bsr(cpu, in, true);
    return; /* also F3 (lzcnt): no ABM here */
}

void x86_op_xadd(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    uint64_t a, r;
    int sz = op == 0xc0 ? 1 : size;
    uint64_t b = get_reg(cpu, in, in->reg, sz);
    if (in->mod == 3) {
        a = get_reg(cpu, in, in->rm, sz);
        r = alu(cpu, 0, sz, a, b);
        set_reg(cpu, in, in->reg, a, sz);
        set_reg(cpu, in, in->rm, r, sz);
        return;
    }
    /* memory form: the register takes the old value once the sum is stored */
    a = rmw_rm(cpu, in, 0, sz, b, &r);
    set_reg(cpu, in, in->reg, a, sz);
}

void x86_op_grp9(X86CPU *cpu, const X86Insn *in)
{
    if ((in->reg & 7) == 1) {
        cmpxchg8b16b(cpu, in);
        return;
    }
    x86_raise_ud(cpu); /* rdrand/rdseed/vmx: not advertised */
}

void x86_op_bswap(X86CPU *cpu, const X86Insn *in)
{
    int op = in->op & 0xff;
    int size = in->opsize;
    int rn = (op & 7) | ((in->rex & REX_B) ? 8 : 0);
    if (size == 8) {
        REG(rn) = __builtin_bswap64(REG(rn));
    } else if (size == 4) {
        REG(rn) = __builtin_bswap32((uint32_t)REG(rn));
    } else {
        REG(rn) &= ~0xffffull; /* undefined; real CPUs clear the low word */
    }
}

/* The general path: the opcode's row in x86_optab names its handler. */
void x86_exec_insn(X86CPU *cpu, const X86Insn *in)
{
    if (unlikely(in->bad)) {
        x86_raise_ud(cpu);
    }
    x86_optab[in->op].exec(cpu, in);
}

/* ---- fast handlers for the most frequent forms (64-bit and 32-bit operands) ---- */

static void h_mov_rm_to_reg(X86CPU *cpu, const X86Insn *in) /* 8b, register source */
{
    uint64_t v = REG(in->rm);
    REG(in->reg) = in->opsize == 8 ? v : (uint32_t)v;
    x86_next(cpu, in);
}

static void h_mov_reg_to_rm(X86CPU *cpu, const X86Insn *in) /* 89, register dest */
{
    uint64_t v = REG(in->reg);
    REG(in->rm) = in->opsize == 8 ? v : (uint32_t)v;
    x86_next(cpu, in);
}

static void h_load(X86CPU *cpu, const X86Insn *in) /* 8b, memory source */
{
    uint64_t v = x86_ld(cpu, x86_ea(cpu, in), in->opsize);
    REG(in->reg) = v;
    x86_next(cpu, in);
}

static void h_store(X86CPU *cpu, const X86Insn *in) /* 89, memory dest */
{
    x86_st(cpu, x86_ea(cpu, in), REG(in->reg), in->opsize);
    x86_next(cpu, in);
}

/*
 * The most frequent memory forms with the address form fixed per handler (64-bit mode, no
 * segment base, 64-bit addressing): _b base + disp, _bi base + index * scale + disp, _rip
 * rip-relative; so is the size. Chosen by mem_form(); anything else takes h_load / h_store.
 */
#define MEM_FORMS(name, body)                                                                      \
    static void name##_b(X86CPU *cpu, const X86Insn *in)                                           \
    {                                                                                              \
        uint64_t la = REG(in->base) + (int64_t)in->disp;                                           \
        body x86_next(cpu, in);                                                                    \
    }                                                                                              \
    static void name##_bi(X86CPU *cpu, const X86Insn *in)                                          \
    {                                                                                              \
        uint64_t la = REG(in->base) + (REG(in->index) << in->scale) + (int64_t)in->disp;           \
        body x86_next(cpu, in);                                                                    \
    }                                                                                              \
    static void name##_rip(X86CPU *cpu, const X86Insn *in)                                         \
    {                                                                                              \
        uint64_t la = ENV->rip + (int64_t)in->disp;                                                \
        body x86_next(cpu, in);                                                                    \
    }
MEM_FORMS(h_load64, REG(in->reg) = x86_ld(cpu, la, 8);)
MEM_FORMS(h_load32m, REG(in->reg) = (uint32_t)x86_ld(cpu, la, 4);)
MEM_FORMS(h_store64, x86_st(cpu, la, REG(in->reg), 8);)
MEM_FORMS(h_store32, x86_st(cpu, la, REG(in->reg), 4);)
#undef MEM_FORMS

/* One of the three fixed address forms above, or the generic handler. */
static X86InsnFn *mem_form(const X86Insn *in, X86InsnFn *b, X86InsnFn *bi, X86InsnFn *rip,
                           X86InsnFn *generic)
{
    if (in->mode != X86_MODE64 || in->addrsize != 8 || in->seg != X86_SEG_NONE) {
        return generic;
    }
    if (in->base < 16) {
        return in->index < 16 ? bi : b;
    }
    return in->base == X86_RIP && in->index >= 16 ? rip : generic;
}

static void h_lea(X86CPU *cpu, const X86Insn *in)
{
    uint64_t ea = (int64_t)in->disp;
    if (in->base < 16) {
        ea += REG(in->base);
    } else if (in->base == X86_RIP) {
        ea += ENV->rip;
    }
    if (in->index < 16) {
        ea += REG(in->index) << in->scale;
    }
    REG(in->reg) = in->opsize == 8 ? ea : (uint32_t)ea;
    x86_next(cpu, in);
}

static void h_jmp(X86CPU *cpu, const X86Insn *in)
{
    ENV->rip += in->imm;
}

/* c1 / d1 with a register operand */
static void h_shift_r(X86CPU *cpu, const X86Insn *in)
{
    unsigned cnt = in->op == 0xc1 ? (unsigned)in->imm : in->op == 0xd1 ? 1 : (REG(R_ECX) & 0xff);
    uint64_t r = shift_op(cpu, in, in->reg & 7, in->opsize, REG(in->rm), cnt);
    REG(in->rm) = r;
    x86_next(cpu, in);
}

/* jcc, setcc and cmovcc with the condition fixed per handler (x86_cond_k) */
#define COND_HANDLERS(cc)                                                                          \
    static void h_jcc_##cc(X86CPU *cpu, const X86Insn *in)                                         \
    {                                                                                              \
        if (x86_cond_k(cpu, cc)) {                                                                 \
            ENV->rip += in->imm;                                                                   \
        } else {                                                                                   \
            x86_next(cpu, in);                                                                     \
        }                                                                                          \
    }                                                                                              \
    static void h_setcc_r_##cc(X86CPU *cpu, const X86Insn *in)                                     \
    {                                                                                              \
        set_reg(cpu, in, in->rm, x86_cond_k(cpu, cc), 1);                                          \
        x86_next(cpu, in);                                                                         \
    }                                                                                              \
    static void h_cmov_rr_##cc(X86CPU *cpu, const X86Insn *in)                                     \
    {                                                                                              \
        uint64_t v = REG(in->rm);                                                                  \
        if (x86_cond_k(cpu, cc)) {                                                                 \
            REG(in->reg) = in->opsize == 8 ? v : (uint32_t)v;                                      \
        } else if (in->opsize == 4) {                                                              \
            REG(in->reg) = (uint32_t)REG(in->reg);                                                 \
        }                                                                                          \
        x86_next(cpu, in);                                                                         \
    }
COND_HANDLERS(0)
COND_HANDLERS(1)
COND_HANDLERS(2)
COND_HANDLERS(3)
COND_HANDLERS(4)
COND_HANDLERS(5)
COND_HANDLERS(6)
COND_HANDLERS(7)
COND_HANDLERS(8)
COND_HANDLERS(9)
COND_HANDLERS(10)
COND_HANDLERS(11)
COND_HANDLERS(12)
COND_HANDLERS(13)
COND_HANDLERS(14)
COND_HANDLERS(15)
#undef COND_HANDLERS

#define COND_TABLE(name)                                                                           \
    static X86InsnFn *const name##_fns[16] = {                                                     \
        name##_0, name##_1, name##_2,  name##_3,  name##_4,  name##_5,  name##_6,  name##_7,       \
        name##_8, name##_9, name##_10, name##_11, name##_12, name##_13, name##_14, name##_15,      \
    }
COND_TABLE(h_jcc);
COND_TABLE(h_setcc_r);
COND_TABLE(h_cmov_rr);
#undef COND_TABLE

static void h_push_r64(X86CPU *cpu, const X86Insn *in)
{
    uint64_t sp = REG(R_ESP) - 8;
    x86_st(cpu, sp, REG(in->rm), 8);
    REG(R_ESP) = sp;
    x86_next(cpu, in);
}

static void h_pop_r64(X86CPU *cpu, const X86Insn *in)
{
    uint64_t sp = REG(R_ESP);
    uint64_t v = x86_ld(cpu, sp, 8);
    REG(R_ESP) = sp + 8;
    REG(in->rm) = v;
    x86_next(cpu, in);
}

static void h_call64(X86CPU *cpu, const X86Insn *in)
{
    uint64_t sp = REG(R_ESP) - 8;
    x86_st(cpu, sp, ENV->rip, 8);
    REG(R_ESP) = sp;
    ENV->rip += in->imm;
}

static void h_ret64(X86CPU *cpu, const X86Insn *in)
{
    uint64_t sp = REG(R_ESP);
    uint64_t t = x86_ld(cpu, sp, 8);
    REG(R_ESP) = sp + 8;
    ENV->rip = t;
}

static void h_inc_dec_r(X86CPU *cpu, const X86Insn *in)
{
    int sz = in->opsize, dec = in->reg & 1;
    uint64_t c = x86_compute_cf(cpu);
    uint64_t a = REG(in->rm) & size_mask(sz);
    uint64_t r = (dec ? a - 1 : a + 1) & size_mask(sz);
    set_cc(cpu, dec ? CC_OP_DEC : CC_OP_INC, sz, a, 1, r);
    ENV->cc_carry = c;
    REG(in->rm) = r;
    x86_next(cpu, in);
}

static void h_movzx_rr(X86CPU *cpu, const X86Insn *in)
{
    uint64_t v = get_reg(cpu, in, in->rm, in->op == 0x1b6 ? 1 : 2);
    REG(in->reg) = in->opsize == 8 ? v : (uint32_t)v;
    x86_next(cpu, in);
}

static void h_nop(X86CPU *cpu, const X86Insn *in)
{
    x86_next(cpu, in);
}

/*
 * Specialised reg-reg / reg-imm ALU handlers: operation and size fixed at decode time, the
 * destination register in `base` and the source in `index` (unused for register forms).
 */
#define ALU_HANDLER(NAME, SZ, CCOP, EXPR, WRITE)                                                   \
    static void h_##NAME##_rr##SZ(X86CPU *cpu, const X86Insn *in)                                  \
    {                                                                                              \
        uint64_t m = size_mask(SZ / 8), a = REG(in->base) & m, b = REG(in->index) & m;             \
        uint64_t r = (EXPR);                                                                       \
        set_cc(cpu, CCOP, SZ / 8, a, b, r);                                                        \
        if (WRITE) {                                                                               \
            REG(in->base) = r & m;                                                                 \
        }                                                                                          \
        x86_next(cpu, in);                                                                         \
    }                                                                                              \
    static void h_##NAME##_ri##SZ(X86CPU *cpu, const X86Insn *in)                                  \
    {                                                                                              \
        uint64_t m = size_mask(SZ / 8), a = REG(in->rm) & m, b = in->imm & m, r = (EXPR);          \
        set_cc(cpu, CCOP, SZ / 8, a, b, r);                                                        \
        if (WRITE) {                                                                               \
            REG(in->rm) = r & m;                                                                   \
        }                                                                                          \
        x86_next(cpu, in);                                                                         \
    }
#define ALU_HANDLERS(NAME, CCOP, EXPR, WRITE)                                                      \
    ALU_HANDLER(NAME, 64, CCOP, EXPR, WRITE)                                                       \
    ALU_HANDLER(NAME, 32, CCOP, EXPR, WRITE)

/* The operations with specialised handlers: name, lazy-flags op, result, whether it is kept */
#define FOR_EACH_FAST_ALU_OP(X)                                                                    \
    X(add, CC_OP_ADD, a + b, true)                                                                 \
    X(or, CC_OP_LOGIC, a | b, true)                                                                \
    X(and, CC_OP_LOGIC, a &b, true)                                                                \
    X(sub, CC_OP_SUB, a - b, true)                                                                 \
    X(xor, CC_OP_LOGIC, a ^ b, true)                                                               \
    X(cmp, CC_OP_SUB, a - b, false)

FOR_EACH_FAST_ALU_OP(ALU_HANDLERS)
ALU_HANDLERS(test, CC_OP_LOGIC, a &b, false)

static X86InsnFn *const alu_rr_fn[2][8] = {
    {h_add_rr32, h_or_rr32, NULL, NULL, h_and_rr32, h_sub_rr32, h_xor_rr32, h_cmp_rr32},
    {h_add_rr64, h_or_rr64, NULL, NULL, h_and_rr64, h_sub_rr64, h_xor_rr64, h_cmp_rr64},
};
static X86InsnFn *const alu_ri_fn[2][8] = {
    {h_add_ri32, h_or_ri32, NULL, NULL, h_and_ri32, h_sub_ri32, h_xor_ri32, h_cmp_ri32},
    {h_add_ri64, h_or_ri64, NULL, NULL, h_and_ri64, h_sub_ri64, h_xor_ri64, h_cmp_ri64},
};

/* shl/shr by an immediate (1..bits-1) on a 32/64-bit register: flags kept lazily */
#define SHIFT_HANDLERS(SZ)                                                                         \
    static void h_shl_ri##SZ(X86CPU *cpu, const X86Insn *in)                                       \
    {                                                                                              \
        unsigned cnt = in->imm & (SZ - 1);                                                         \
        uint64_t m = size_mask(SZ / 8), v = REG(in->rm) & m;                                       \
        uint64_t r = (v << cnt) & m, cf = (v >> (SZ - cnt)) & 1;                                   \
        ENV->cc_op = CC_OP_SHIFT;                                                                  \
        ENV->cc_size = SZ / 8;                                                                     \
        ENV->cc_res = r;                                                                           \
        ENV->cc_carry = cf;                                                                        \
        ENV->cc_src2 = ((r >> (SZ - 1)) & 1) ^ cf;                                                 \
        REG(in->rm) = r;                                                                           \
        x86_next(cpu, in);                                                                         \
    }                                                                                              \
    static void h_shr_ri##SZ(X86CPU *cpu, const X86Insn *in)                                       \
    {                                                                                              \
        unsigned cnt = in->imm & (SZ - 1);                                                         \
        uint64_t m = size_mask(SZ / 8), v = REG(in->rm) & m;                                       \
        uint64_t r = v >> cnt;                                                                     \
        ENV->cc_op = CC_OP_SHIFT;                                                                  \
        ENV->cc_size = SZ / 8;                                                                     \
        ENV->cc_res = r;                                                                           \
        ENV->cc_carry = (v >> (cnt - 1)) & 1;                                                      \
        ENV->cc_src2 = (v >> (SZ - 1)) & 1;                                                        \
        REG(in->rm) = r;                                                                           \
        x86_next(cpu, in);                                                                         \
    }                                                                                              \
    /* rol/ror by a constant whose flags the next instruction overwrites */                        \
    static void h_rot_dead##SZ(X86CPU *cpu, const X86Insn *in)                                     \
    {                                                                                              \
        unsigned cnt = in->imm & (SZ - 1);                                                         \
        uint64_t m = size_mask(SZ / 8), v = REG(in->rm) & m;                                       \
        if ((in->reg & 7) == 1) {                                                                  \
            cnt = (SZ - cnt) & (SZ - 1);                                                           \
        }                                                                                          \
        REG(in->rm) = cnt ? ((v << cnt) | (v >> (SZ - cnt))) & m : v;                              \
        x86_next(cpu, in);                                                                         \
    }

SHIFT_HANDLERS(64)
SHIFT_HANDLERS(32)

/* test r8, imm8 (f6 /0) */
static void h_test_ri8(X86CPU *cpu, const X86Insn *in)
{
    uint64_t a = get_reg(cpu, in, in->rm, 1), b = in->imm & 0xff;
    set_cc(cpu, CC_OP_LOGIC, 1, a, b, a & b);
    x86_next(cpu, in);
}

/* ALU with a memory operand, 32/64-bit: "reg op= [mem]" (03 0b 23 2b 33 3b), and the
 * compares that only read memory: cmp/test [mem], reg (39 85) and cmp [mem], imm (81 83 /7) */
#define ALU_MEM_HANDLER(NAME, SZ, CCOP, EXPR, WRITE)                                               \
    static void h_##NAME##_rm##SZ(X86CPU *cpu, const X86Insn *in)                                  \
    {                                                                                              \
        uint64_t m = size_mask(SZ / 8), a = REG(in->reg) & m;                                      \
        uint64_t b = x86_ld(cpu, x86_ea(cpu, in), SZ / 8), r = (EXPR);                             \
        set_cc(cpu, CCOP, SZ / 8, a, b, r);                                                        \
        if (WRITE) {                                                                               \
            REG(in->reg) = r & m;                                                                  \
        }                                                                                          \
        x86_next(cpu, in);                                                                         \
    }
#define ALU_MEM_HANDLERS(NAME, CCOP, EXPR, WRITE)                                                  \
    ALU_MEM_HANDLER(NAME, 64, CCOP, EXPR, WRITE)                                                   \
    ALU_MEM_HANDLER(NAME, 32, CCOP, EXPR, WRITE)

FOR_EACH_FAST_ALU_OP(ALU_MEM_HANDLERS)

static X86InsnFn *const alu_rm_fn[2][8] = {
    {h_add_rm32, h_or_rm32, NULL, NULL, h_and_rm32, h_sub_rm32, h_xor_rm32, h_cmp_rm32},
    {h_add_rm64, h_or_rm64, NULL, NULL, h_and_rm64, h_sub_rm64, h_xor_rm64, h_cmp_rm64},
};

/* cmp [mem], reg / test [mem], reg / cmp [mem], imm: any size, memory read only */
static void h_cmp_mr(X86CPU *cpu, const X86Insn *in)
{
    int sz = in->op == 0x38 ? 1 : in->opsize;
    uint64_t a = x86_ld(cpu, x86_ea(cpu, in), sz), b = get_reg(cpu, in, in->reg, sz);
    set_cc(cpu, CC_OP_SUB, sz, a, b, a - b);
    x86_next(cpu, in);
}

static void h_cmp_rm8(X86CPU *cpu, const X86Insn *in) /* 3a: cmp r8, [mem] */
{
    uint64_t a = get_reg(cpu, in, in->reg, 1), b = x86_ld(cpu, x86_ea(cpu, in), 1);
    set_cc(cpu, CC_OP_SUB, 1, a, b, a - b);
    x86_next(cpu, in);
}

static void h_test_mr(X86CPU *cpu, const X86Insn *in)
{
    int sz = in->op == 0x84 ? 1 : in->opsize;
    uint64_t a = x86_ld(cpu, x86_ea(cpu, in), sz), b = get_reg(cpu, in, in->reg, sz);
    set_cc(cpu, CC_OP_LOGIC, sz, a, b, a & b);
    x86_next(cpu, in);
}

static void h_test_rr8(X86CPU *cpu, const X86Insn *in) /* 84, register operand */
{
    uint64_t a = get_reg(cpu, in, in->rm, 1), b = get_reg(cpu, in, in->reg, 1);
    set_cc(cpu, CC_OP_LOGIC, 1, a, b, a & b);
    x86_next(cpu, in);
}

static void h_cmp_mi(X86CPU *cpu, const X86Insn *in) /* 80 81 83 /7 with memory */
{
    int sz = in->op == 0x80 ? 1 : in->opsize;
    uint64_t m = size_mask(sz);
    uint64_t a = x86_ld(cpu, x86_ea(cpu, in), sz), b = in->imm & m;
    set_cc(cpu, CC_OP_SUB, sz, a, b, a - b);
    x86_next(cpu, in);
}

static void h_cmp_ri8(X86CPU *cpu, const X86Insn *in) /* 80 /7 register, 3c */
{
    int r = in->op == 0x3c ? R_EAX : in->rm;
    uint64_t a = get_reg(cpu, in, r, 1), b = in->imm & 0xff;
    set_cc(cpu, CC_OP_SUB, 1, a, b, a - b);
    x86_next(cpu, in);
}

static void h_test_mi(X86CPU *cpu, const X86Insn *in) /* f6 f7 /0 with memory */
{
    int sz = in->op == 0xf6 ? 1 : in->opsize;
    uint64_t m = size_mask(sz);
    uint64_t a = x86_ld(cpu, x86_ea(cpu, in), sz), b = in->imm & m;
    set_cc(cpu, CC_OP_LOGIC, sz, a, b, a & b);
    x86_next(cpu, in);
}

/* adc / sbb between 32/64-bit registers: the carry in is the only flag read */
static void h_adc_sbb_rr(X86CPU *cpu, const X86Insn *in)
{
    int sz = in->opsize;
    bool to_reg = in->op & 2;
    int d = to_reg ? in->reg : in->rm, s = to_reg ? in->rm : in->reg;
    uint64_t m = size_mask(sz), a = REG(d) & m, b = REG(s) & m;
    uint64_t c = x86_compute_cf(cpu);
    bool sbb = (in->op >> 3) == 3;
    uint64_t r = sbb ? a - b - c : a + b + c;
    set_cc(cpu, sbb ? CC_OP_SBB : CC_OP_ADC, sz, a, b, r);
    ENV->cc_carry = c;
    REG(d) = r & m;
    x86_next(cpu, in);
}

/* imul r, r/m (0f af), 32/64-bit: CF = OF = the product did not fit; S Z P from the
 * truncated result, A clear (the generic path's choice) */
static void h_imul_r(X86CPU *cpu, const X86Insn *in)
{
    int sz = in->opsize;
    uint64_t b = in->mod == 3 ? REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), sz);
    uint64_t a = REG(in->reg), r;
    bool ovf;
    if (sz == 8) {
        __int128 p = (__int128)(int64_t)a * (int64_t)b;
        r = (uint64_t)p;
        ovf = p != (__int128)(int64_t)r;
    } else {
        int64_t p = (int64_t)(int32_t)a * (int32_t)b;
        r = (uint32_t)p;
        ovf = p != (int64_t)(int32_t)r;
    }
    ENV->cc_op = CC_OP_SHIFT;
    ENV->cc_size = sz;
    ENV->cc_res = r;
    ENV->cc_carry = ovf;
    ENV->cc_src2 = ovf;
    REG(in->reg) = r;
    x86_next(cpu, in);
}

/* imul r64, r64 (0f af, register source): the crypto self-tests' multiply loops */
static void h_imul_rr64(X86CPU *cpu, const X86Insn *in)
{
    int64_t r;
    bool ovf = __builtin_mul_overflow((int64_t)REG(in->reg), (int64_t)REG(in->rm), &r);
    ENV->cc_op = CC_OP_SHIFT;
    ENV->cc_size = 8;
    ENV->cc_res = r;
    ENV->cc_carry = ovf;
    ENV->cc_src2 = ovf;
    REG(in->reg) = r;
    x86_next(cpu, in);
}

static void h_movsxd(X86CPU *cpu, const X86Insn *in) /* 63 in 64-bit mode */
{
    uint64_t v = in->mod == 3 ? REG(in->rm) : x86_ld(cpu, x86_ea(cpu, in), 4);
    REG(in->reg) = in->opsize == 8 ? (uint64_t)(int64_t)(int32_t)v : (uint32_t)v;
    x86_next(cpu, in);
}

/* movzx / movsx from memory (0f b6 b7 be bf), movsx from a register */
static void h_movx(X86CPU *cpu, const X86Insn *in)
{
    int ssz = (in->op & 1) ? 2 : 1;
    uint64_t v = in->mod == 3 ? get_reg(cpu, in, in->rm, ssz) : x86_ld(cpu, x86_ea(cpu, in), ssz);
    if (in->op >= 0x1be) {
        v = (uint64_t)sext(v, ssz);
    }
    REG(in->reg) = in->opsize == 8 ? v : (uint32_t)v;
    x86_next(cpu, in);
}

static void h_load32(X86CPU *cpu, const X86Insn *in) /* 8b, memory source, 32-bit */
{
    REG(in->reg) = (uint32_t)x86_ld(cpu, x86_ea(cpu, in), 4);
    x86_next(cpu, in);
}

static void h_store8(X86CPU *cpu, const X86Insn *in) /* 88, memory destination */
{
    x86_st(cpu, x86_ea(cpu, in), get_reg(cpu, in, in->reg, 1), 1);
    x86_next(cpu, in);
}

static void h_store_imm(X86CPU *cpu, const X86Insn *in) /* c6 c7 /0, memory destination */
{
    x86_st(cpu, x86_ea(cpu, in), in->imm, in->op == 0xc6 ? 1 : in->opsize);
    x86_next(cpu, in);
}

static void h_mov_ri(X86CPU *cpu, const X86Insn *in) /* c7 /0 register, b8+r */
{
    REG(in->rm) = in->opsize == 8 ? in->imm : (uint32_t)in->imm;
    x86_next(cpu, in);
}

void x86_select_handler(X86Insn *in)
{
    int op = in->op;
    bool big = in->opsize == 8 || in->opsize == 4;
    bool reg = in->mod == 3;
    bool plain = !(in->prefix & (PFX_LOCK | PFX_REPZ | PFX_REPNZ)) && !in->bad;
    bool mode64 = in->mode == X86_MODE64;

    /* the row's general handler unless a fast form below applies */
    in->fn = in->bad ? x86_exec_insn : x86_optab[op].exec;
    if (!plain) {
        return;
    }
    if (op < 0x40 && big && reg && ((op & 7) == 1 || (op & 7) == 3) && (op >> 3) != 2 &&
        (op >> 3) != 3) {
        bool to_reg = op & 2;
        in->base = to_reg ? in->reg : in->rm;
        in->index = to_reg ? in->rm : in->reg;
        in->fn = alu_rr_fn[in->opsize == 8][op >> 3];
        return;
    }
    switch (op) {
    case 0x03:
    case 0x0b:
    case 0x23:
    case 0x2b:
    case 0x33:
    case 0x3b:
        if (big && !reg) {
            in->fn = alu_rm_fn[in->opsize == 8][op >> 3];
        }
        return;
    case 0x11:
    case 0x13:
    case 0x19:
    case 0x1b:
        if (big && reg) {
            in->fn = h_adc_sbb_rr;
        }
        return;
    case 0x38:
    case 0x39:
        if (!reg) {
            in->fn = h_cmp_mr;
        }
        return;
    case 0x3a:
        if (!reg) {
            in->fn = h_cmp_rm8;
        }
        return;
    case 0x3c:
        in->fn = h_cmp_ri8;
        return;
    case 0x84:
        in->fn = reg ? h_test_rr8 : h_test_mr;
        return;
    case 0x80:
        if ((in->reg & 7) == 7) {
            in->fn = reg ? h_cmp_ri8 : h_cmp_mi;
        }
        return;
    case 0x63:
        if (mode64 && big) {
            in->fn = h_movsxd;
        }
        return;
    case 0x1af:
        if (big) {
            in->fn = reg && in->opsize == 8 ? h_imul_rr64 : h_imul_r;
        }
        return;
    case 0x190 ... 0x19f:
        if (reg) {
            in->fn = h_setcc_r_fns[op & 15];
        }
        return;
    case 0x1be:
    case 0x1bf:
        if (big) {
            in->fn = h_movx;
        }
        return;
    case 0x88:
        if (!reg) {
            in->fn = h_store8;
        }
        return;
    case 0xc6:
        if (!reg && (in->reg & 7) == 0) {
            in->fn = h_store_imm;
        }
        return;
    case 0xc7:
        if (big && (in->reg & 7) == 0) {
            in->fn = reg ? h_mov_ri : h_store_imm;
        }
        return;
    case 0xb8 ... 0xbf:
        if (big) {
            in->rm = (op & 7) | ((in->rex & REX_B) ? 8 : 0);
            in->fn = h_mov_ri;
        }
        return;
    case 0x85:
        if (big && reg) {
            in->base = in->rm;
            in->index = in->reg;
            in->fn = in->opsize == 8 ? h_test_rr64 : h_test_rr32;
        } else if (!reg) {
            in->fn = h_test_mr;
        }
        return;
    case 0x81:
    case 0x83:
        if (big && reg && (in->reg & 7) != 2 && (in->reg & 7) != 3) {
            in->fn = alu_ri_fn[in->opsize == 8][in->reg & 7];
        } else if (!reg && (in->reg & 7) == 7) {
            in->fn = h_cmp_mi;
        }
        return;
    case 0x89:
        if (big && reg) {
            in->fn = h_mov_reg_to_rm;
        } else if (in->opsize == 8) {
            in->fn = mem_form(in, h_store64_b, h_store64_bi, h_store64_rip, h_store);
        } else if (big) {
            in->fn = mem_form(in, h_store32_b, h_store32_bi, h_store32_rip, h_store);
        }
        return;
    case 0x8b:
        if (reg && big) {
            in->fn = h_mov_rm_to_reg;
        } else if (in->opsize == 8) {
            in->fn = mem_form(in, h_load64_b, h_load64_bi, h_load64_rip, h_load);
        } else if (big) {
            in->fn = mem_form(in, h_load32m_b, h_load32m_bi, h_load32m_rip, h_load32);
        }
        return;
    case 0x8d:
        if (big && !reg && in->addrsize == 8) {
            in->fn = h_lea;
        }
        return;
    case 0x70 ... 0x7f:
    case 0x180 ... 0x18f:
        if (mode64) {
            in->fn = h_jcc_fns[op & 15];
        }
        return;
    case 0xe9:
    case 0xeb:
        if (mode64) {
            in->fn = h_jmp;
        }
        return;
    case 0xc1:
    case 0xd1:
    case 0xd3:
        if (big && reg) {
            bool q = in->opsize == 8;
            unsigned cnt = op == 0xd1 ? 1 : in->imm & (q ? 63 : 31);
            int g = in->reg & 7;
            if (op != 0xd3 && cnt && g == 4) {
                in->imm = cnt;
                in->fn = q ? h_shl_ri64 : h_shl_ri32;
            } else if (op != 0xd3 && cnt && g == 5) {
                in->imm = cnt;
                in->fn = q ? h_shr_ri64 : h_shr_ri32;
            } else if (op != 0xd3 && g < 2 && in->flags_dead) {
                in->imm = cnt;
                in->fn = q ? h_rot_dead64 : h_rot_dead32;
            } else {
                in->fn = h_shift_r;
            }
        }
        return;
    case 0x140 ... 0x14f:
        if (big && reg) {
            in->fn = h_cmov_rr_fns[op & 15];
        }
        return;
    case 0x50 ... 0x57:
        if (mode64 && !(in->prefix & PFX_DATA)) {
            in->rm = (op & 7) | ((in->rex & REX_B) ? 8 : 0);
            in->fn = h_push_r64;
        }
        return;
    case 0x58 ... 0x5f:
        if (mode64 && !(in->prefix & PFX_DATA)) {
            in->rm = (op & 7) | ((in->rex & REX_B) ? 8 : 0);
            in->fn = h_pop_r64;
        }
        return;
    case 0xe8:
        if (mode64 && !(in->prefix & PFX_DATA)) {
            in->fn = h_call64;
        }
        return;
    case 0xc3:
        if (mode64 && !(in->prefix & PFX_DATA)) {
            in->fn = h_ret64;
        }
        return;
    case 0xff:
        if (big && reg && (in->reg & 7) < 2) {
            in->fn = h_inc_dec_r;
        }
        return;
    case 0x1b6:
    case 0x1b7:
        if (big) {
            in->fn = reg ? h_movzx_rr : h_movx;
        }
        return;
    case 0xf6:
        if ((in->reg & 7) == 0) {
            in->fn = reg ? h_test_ri8 : h_test_mi;
        }
        return;
    case 0xf7:
        if (big && (in->reg & 7) == 0) {
            in->fn = !reg ? h_test_mi : in->opsize == 8 ? h_test_ri64 : h_test_ri32;
        }
        return;
    case 0x90:
        if (!(in->rex & REX_B)) {
            in->fn = h_nop;
        }
        return;
    case 0x11f:
        in->fn = h_nop;
        return;
    }
}
