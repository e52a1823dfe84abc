/*
 * Differential testing of user-level instructions: the same bytes run on our CPU (64-bit
 * mode, CPL 3, identity-mapped) and natively on the host in a forked child, from the same
 * registers, flags and memory; every register, the flags and the data area are compared.
 *
 *   host child: fixed mapping at DIFF_DATA (data + stack) ─► stub: load regs, popfq,
 *               <insn>, save regs + flags ─► results over a pipe
 *   our CPU:    guest RAM 1 GiB, identity 2 MiB pages, the insn at DIFF_CODE, budget 1
 */
#ifndef TESTS_CPU_DIFF_H
#define TESTS_CPU_DIFF_H

#include <glib.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memory/ram.h"
#include "target/i386/cpu.h"

#define DIFF_DATA      0x30000000ull /* data area, same address in both worlds */
#define DIFF_DATA_SIZE 0x2000u
#define DIFF_STATE     (DIFF_DATA + 0x10000) /* native stub's in/out blocks (not compared) */
#define DIFF_CODE      0x100000ull
#define DIFF_PT        0x1000ull
#define DIFF_RAM       (1ull << 30)

typedef struct DiffState {
    uint64_t regs[16];
    uint64_t flags;
    int faulted;
    uint8_t data[DIFF_DATA_SIZE];
} DiffState;

typedef struct DiffCase {
    uint8_t code[48];
    int len;
    int ninsns; /* instructions in code (0 means 1) */
    DiffState in;
} DiffCase;

/* ---- our CPU ---- */

typedef struct DiffCPU {
    GuestRam *ram;
    X86CPU *cpu;
} DiffCPU;

static inline void diff_cpu_init(DiffCPU *d)
{
    d->ram = guest_ram_new(DIFF_RAM, 0, NULL);
    g_assert_nonnull(d->ram);
    /* PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000: 512 x 2 MiB user pages */
    uint64_t e = 0x2000 | 7;
    guest_ram_write(d->ram, 0x1000, &e, 8);
    e = 0x3000 | 7;
    guest_ram_write(d->ram, 0x2000, &e, 8);
    for (uint64_t i = 0; i < 512; i++) {
        e = (i << 21) | 0x87;
        guest_ram_write(d->ram, 0x3000 + i * 8, &e, 8);
    }
    d->cpu = x86_cpu_new(d->ram, NULL, NULL);
    x86_cpu_set_cache_enabled(d->cpu, false);
}

static inline void diff_cpu_fini(DiffCPU *d)
{
    x86_cpu_free(d->cpu);
    guest_ram_free(d->ram);
}

static inline void diff_run_ours(DiffCPU *d, const DiffCase *c, DiffState *out)
{
    X86CPU *cpu = d->cpu;
    x86_cpu_reset(cpu);
    x86_cpu_setup_long_mode(cpu, DIFF_PT, 3);
    X86CPUState *env = x86_cpu_env(cpu);
    memcpy(env->regs, c->in.regs, sizeof(env->regs));
    env->eflags = (c->in.flags & 0xcd5) | 2 | IF_MASK;
    env->rip = DIFF_CODE;
    guest_ram_write(d->ram, DIFF_CODE, c->code, c->len);
    guest_ram_write(d->ram, DIFF_DATA, c->in.data, DIFF_DATA_SIZE);
    X86CPUStats before, after;
    x86_cpu_get_stats(cpu, &before);
    X86ExitReason why = x86_cpu_exec(cpu, c->ninsns ? c->ninsns : 1);
    x86_cpu_get_stats(cpu, &after);
    X86CPUState st;
    x86_cpu_get_state(cpu, &st);
    memcpy(out->regs, st.regs, sizeof(out->regs));
    out->flags = st.eflags;
    out->faulted = why == X86_EXIT_RESET || after.exceptions != before.exceptions;
    guest_ram_read(d->ram, DIFF_DATA, out->data, DIFF_DATA_SIZE);
}

/* ---- native ---- */

static sigjmp_buf diff_native_jmp;

static void diff_native_signal(int sig)
{
    siglongjmp(diff_native_jmp, 1);
}

static inline uint8_t *emit(uint8_t *p, const void *b, int n)
{
    memcpy(p, b, n);
    return p + n;
}

static inline uint8_t *emit64(uint8_t *p, const void *op, int n, uint64_t imm)
{
    p = emit(p, op, n);
    memcpy(p, &imm, 8);
    return p + 8;
}

/* Builds the native stub around the instruction; returns the entry point. */
static inline void *diff_build_stub(uint8_t *buf, const uint8_t *insn, int len)
{
    uint64_t in = DIFF_STATE, out = DIFF_STATE + 0x100, save = DIFF_STATE + 0x200;
    uint8_t *p = buf;
    p = emit(p, "\x53\x55\x41\x54\x41\x55\x41\x56\x41\x57", 10); /* push callee-saved */
    p = emit64(p, "\x48\xb8", 2, save);                          /* movabs rax, save */
    p = emit(p, "\x48\x89\x20", 3);                              /* mov [rax], rsp */
    p = emit64(p, "\x48\xbc", 2, in);                            /* movabs rsp, in */
    p = emit(p, "\x58\x59\x5a\x5b\x48\x8d\x64\x24\x08\x5d\x5e\x5f", 12);
    p = emit(p, "\x41\x58\x41\x59\x41\x5a\x41\x5b\x41\x5c\x41\x5d\x41\x5e\x41\x5f", 16);
    p = emit(p, "\x9d", 1);                 /* popfq */
    p = emit(p, "\x48\x8b\x64\x24\x98", 5); /* mov rsp, [rsp-0x68] */
    p = emit(p, insn, len);
    p = emit64(p, "\x48\xa3", 2, out);          /* mov [out], rax */
    p = emit(p, "\x48\x89\xe0", 3);             /* mov rax, rsp */
    p = emit64(p, "\x48\xbc", 2, out + 17 * 8); /* movabs rsp, end */
    p = emit(p, "\x9c\xfc", 2);                 /* pushfq; cld */
    p = emit(p, "\x41\x57\x41\x56\x41\x55\x41\x54\x41\x53\x41\x52\x41\x51\x41\x50", 16);
    p = emit(p, "\x57\x56\x55\x50\x53\x52\x51", 7);
    p = emit64(p, "\x48\xa1", 2, save); /* mov rax, [save] */
    p = emit(p, "\x48\x89\xc4", 3);     /* mov rsp, rax */
    p = emit(p, "\x41\x5f\x41\x5e\x41\x5d\x41\x5c\x5d\x5b\xc3", 11);
    return buf;
}

/*
 * Runs all cases natively in a child process; out[i] receives the results. Returns false if
 * the fixed data mapping is unavailable (the test is then skipped).
 */
static inline bool diff_run_native(const DiffCase *cases, DiffState *out, int n)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(fds[0]);
        void *m = mmap((void *)DIFF_DATA, 0x11000, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != (void *)DIFF_DATA || code == MAP_FAILED) {
            _exit(77);
        }
        static uint8_t altstack[65536];
        stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
        sigaltstack(&ss, NULL);
        struct sigaction sa = {.sa_handler = diff_native_signal,
                               .sa_flags = SA_ONSTACK | SA_NODEFER};
        sigaction(SIGFPE, &sa, NULL);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        sigaction(SIGILL, &sa, NULL);
        sigaction(SIGTRAP, &sa, NULL);
        for (int i = 0; i < n; i++) {
            static DiffState r;
            memset(&r, 0, sizeof(r));
            memcpy((void *)DIFF_DATA, cases[i].in.data, DIFF_DATA_SIZE);
            uint64_t *inb = (uint64_t *)DIFF_STATE;
            memcpy(inb, cases[i].in.regs, 16 * 8);
            inb[16] = (cases[i].in.flags & 0xcd5) | 2 | IF_MASK;
            void (*fn)(void) = (void (*)(void))diff_build_stub(code, cases[i].code, cases[i].len);
            if (sigsetjmp(diff_native_jmp, 1) == 0) {
                fn();
                memcpy(r.regs, (void *)(DIFF_STATE + 0x100), 16 * 8);
                r.flags = ((uint64_t *)(DIFF_STATE + 0x100))[16];
            } else {
                r.faulted = 1;
            }
            memcpy(r.data, (void *)DIFF_DATA, DIFF_DATA_SIZE);
            if (write(fds[1], &r, sizeof(r)) != sizeof(r)) {
                _exit(1);
            }
        }
        _exit(0);
    }
    close(fds[1]);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        size_t got = 0;
        while (got < sizeof(DiffState)) {
            ssize_t k = read(fds[0], (uint8_t *)&out[i] + got, sizeof(DiffState) - got);
            if (k <= 0) {
                ok = false;
                break;
            }
            got += k;
        }
        if (!ok) {
            break;
        }
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        return false;
    }
    g_assert_true(ok);
    return true;
}

/* Compares; flag_mask selects the flags that are architecturally defined for the case. */
static inline void diff_compare(const DiffCase *c, const DiffState *ours, const DiffState *host,
                                uint64_t flag_mask, bool compare_regs_on_fault)
{
    GString *code = g_string_new("");
    for (int i = 0; i < c->len; i++) {
        g_string_append_printf(code, "%02x ", c->code[i]);
    }
    if (ours->faulted != host->faulted) {
        g_error("insn %s: faulted ours=%d host=%d", code->str, ours->faulted, host->faulted);
    }
    if (!host->faulted) {
        for (int r = 0; r < 16; r++) {
            if (ours->regs[r] != host->regs[r]) {
                g_error("insn %s: reg %d ours=%016" G_GINT64_MODIFIER
                        "x host=%016" G_GINT64_MODIFIER "x (in %016" G_GINT64_MODIFIER
                        "x, flags in %03" G_GINT64_MODIFIER "x)",
                        code->str, r, ours->regs[r], host->regs[r], c->in.regs[r], c->in.flags);
            }
        }
        uint64_t fm = flag_mask & 0xcd5;
        if ((ours->flags & fm) != (host->flags & fm)) {
            g_error("insn %s: flags ours=%03" G_GINT64_MODIFIER "x host=%03" G_GINT64_MODIFIER
                    "x mask %03" G_GINT64_MODIFIER "x (rax %" G_GINT64_MODIFIER
                    "x rcx %" G_GINT64_MODIFIER "x rdx %" G_GINT64_MODIFIER
                    "x flags in %03" G_GINT64_MODIFIER "x)",
                    code->str, ours->flags & fm, host->flags & fm, fm, c->in.regs[0], c->in.regs[1],
                    c->in.regs[2], c->in.flags);
        }
        for (unsigned i = 0; i < DIFF_DATA_SIZE; i++) {
            if (ours->data[i] != host->data[i]) {
                g_error("insn %s: data byte %u ours=%02x host=%02x", code->str, i, ours->data[i],
                        host->data[i]);
            }
        }
    }
    (void)compare_regs_on_fault;
    g_string_free(code, TRUE);
}

/* Runs every case on the host and on our CPU and compares them under one flag mask; the test is
 * skipped where the host cannot map the fixed code address. */
static inline void diff_run_and_compare(DiffCPU *d, const DiffCase *cases, DiffState *host, int n,
                                        uint64_t flag_mask)
{
    if (!diff_run_native(cases, host, n)) {
        g_test_skip("fixed host mapping unavailable");
        return;
    }
    DiffState ours;
    for (int i = 0; i < n; i++) {
        diff_run_ours(d, &cases[i], &ours);
        diff_compare(&cases[i], &ours, &host[i], flag_mask, false);
    }
}

#endif
