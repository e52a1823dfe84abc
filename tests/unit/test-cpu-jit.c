/*
 * The translator against the interpreter (jit-diff.h): random blocks of the translated subset
 * mixed with instructions it leaves to the interpreter, and fixed cases for self-modifying
 * code and for exceptions in the middle of a translated block.
 */
#include "jit-diff.h"

static JitDiff jd;

/* Compares the two CPUs on jd's code; returns whether the run was compared (not budget-bound). */
static bool check(const char *what)
{
    bool ran;
    g_autofree char *diff = jd_compare(&jd, &ran);
    if (diff) {
        GString *hex = g_string_new(NULL);
        for (int i = 0; i < jd.len; i++) {
            g_string_append_printf(hex, "%02x", jd.code[i]);
        }
        g_error("%s: interpreter and translator differ: %s\ncode: %s", what, diff, hex->str);
    }
    return ran;
}

static void test_random(void)
{
    /* JIT_DIFF_SEED=n runs another 2000 cases (the fuzz target explores further) */
    const char *seed = g_getenv("JIT_DIFF_SEED");
    GRand *rnd = g_rand_new_with_seed(seed ? (guint32)g_ascii_strtoull(seed, NULL, 10) : 1234);
    int compared = 0, stepped = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t bytes[512];
        for (size_t k = 0; k < sizeof(bytes); k++) {
            bytes[k] = g_rand_int(rnd);
        }
        jd_generate(&jd, bytes, sizeof(bytes), 4 + i % 40);
        g_autofree char *what = g_strdup_printf("case %d", i);
        compared += check(what);
        if (i % 8 == 0) { /* and block by block (the fuzz target does every input so) */
            bool ran;
            g_autofree char *diff = jd_compare_blocks(&jd, &ran);
            if (diff) {
                g_error("%s, block by block: interpreter and translator differ: %s", what, diff);
            }
            stepped += ran;
        }
    }
    g_rand_free(rnd);
    X86JitStats st;
    x86_cpu_get_jit_stats(jd.side[1].cpu, &st);
    g_test_message("%d of 2000 compared; %" G_GUINT64_FORMAT " blocks, %" G_GUINT64_FORMAT
                   " instructions translated, %" G_GUINT64_FORMAT " refused",
                   compared, st.blocks, st.insns, st.refused);
    g_assert_cmpint(compared, >, 1500);
    g_assert_cmpint(stepped, >, 1500 / 8);
}

/* Runs hand-written code looped as jd_generate loops it. */
static void run_fixed(const char *what, const uint8_t *body, int n)
{
    uint8_t none[1] = {0};
    jd_generate(&jd, none, 0, 0);
    int tail = jd.len;
    uint8_t t[16];
    memcpy(t, jd.code, tail);
    memcpy(jd.code, body, n);
    memcpy(jd.code + n, t, tail);
    int32_t back = -(n + tail - 1);
    memcpy(jd.code + n + tail - 5, &back, 4);
    jd.len = n + tail;
    check(what);
}

static void test_smc(void)
{
    /* the block patches its own next instruction's immediate: mov byte [rip+1], al would be a
     * byte store; a 32-bit store of eax over "mov ecx, imm32"'s immediate */
    static const uint8_t self[] = {
        0x48, 0x83, 0xc0, 0x01,             /* add rax, 1 */
        0x89, 0x05, 0x01, 0x00, 0x00, 0x00, /* mov [rip+1], eax: imm of the mov below */
        0x90,                               /* nop */
        0xb9, 0x00, 0x00, 0x00, 0x00,       /* mov ecx, imm32 (patched) */
        0x48, 0x01, 0xca,                   /* add rdx, rcx */
    };
    run_fixed("self-patching block", self, sizeof(self));
    /* another page's code: the store goes to the hlt stub's page (not this block) */
    static const uint8_t other[] = {
        0x48, 0xc7, 0xc6, 0x00, 0x60, 0x00, 0x00, /* mov rsi, JD_HALT */
        0x8b, 0x06,                               /* mov eax, [rsi] */
        0x89, 0x06,                               /* mov [rsi], eax: same bytes */
        0x48, 0x01, 0xc2,                         /* add rdx, rax */
    };
    run_fixed("store into another code page", other, sizeof(other));
}

/* rsi = r14 (the data area) on every pass but the last, where it is `bad`; then a
 * translated instruction, the faulting one, and one after it */
static int bad_rsi(uint8_t *b, uint64_t bad, const uint8_t *insn, int len)
{
    static const uint8_t pre[] = {0x4c, 0x89, 0xf6, 0x49, 0x83, 0xff, 0x01, 0x75, 0x0a, 0x48, 0xbe};
    int n = 0;
    memcpy(b, pre, sizeof(pre));
    n += sizeof(pre);
    memcpy(b + n, &bad, 8);
    n += 8;
    memcpy(b + n, "\x48\x01\xc3", 3); /* add rbx, rax */
    n += 3;
    memcpy(b + n, insn, len);
    n += len;
    memcpy(b + n, "\x48\x01\xc1", 3); /* add rcx, rax */
    return n + 3;
}

/* stack_bad: the fault is on the stack, so its delivery faults too (#DF, triple fault) */
static void fault_case(const char *what, const uint8_t *body, int n, bool stack_bad)
{
    X86JitStats before, after;
    x86_cpu_get_jit_stats(jd.side[1].cpu, &before);
    run_fixed(what, body, n);
    x86_cpu_get_jit_stats(jd.side[1].cpu, &after);
    /* one fault, on the last pass, after the block was translated */
    if (stack_bad ? jd_last[0].exceptions < 1 : jd_last[0].exceptions != 1) {
        g_error("%s: %" G_GUINT64_FORMAT " exceptions", what, jd_last[0].exceptions);
    }
    g_assert_cmpuint(jd_last[1].regs[15], ==, 1);
    g_assert_cmpuint(after.blocks, >, before.blocks);
}

static void test_faults(void)
{
    static const struct {
        const char *name;
        const char *insn;
        int len;
        bool stack; /* the bad address is rsp */
    } mem_forms[] = {
        {"load", "\x48\x8b\x16", 3},                   /* mov rdx, [rsi] */
        {"store", "\x48\x89\x16", 3},                  /* mov [rsi], rdx */
        {"store imm", "\xc7\x06\x01\0\0\0", 6},        /* mov dword [rsi], 1 */
        {"alu source", "\x48\x03\x56\x08", 4},         /* add rdx, [rsi + 8] */
        {"indexed", "\x48\x8b\x54\xae\x10", 5},        /* mov rdx, [rsi + rbp * 4 + 16] */
        {"push", "\x48\x89\xf4\x52", 4, true},         /* mov rsp, rsi; push rdx */
        {"pop", "\x48\x89\xf4\x5a", 4, true},          /* mov rsp, rsi; pop rdx */
        {"call", "\x48\x89\xf4\xe8\0\0\0\0", 8, true}, /* mov rsp, rsi; call next */
        {"byte load", "\x8a\x36", 2},                  /* mov dh, [rsi] */
        {"byte store", "\x88\x36", 2},                 /* mov [rsi], dh */
        {"byte store imm", "\xc6\x06\x05", 3},         /* mov byte [rsi], 5 */
        {"imul source", "\x48\x0f\xaf\x56\x08", 5},    /* imul rdx, [rsi + 8] */
        {"movsxd source", "\x48\x63\x56\x08", 4},      /* movsxd rdx, [rsi + 8] */
        {"cmov source", "\x48\x0f\x40\x16", 4},        /* cmovo rdx, [rsi]: loads if false too */
        {"cmp mem, imm", "\x48\x83\x3e\x05", 4},       /* cmp qword [rsi], 5 */
        {"test mem8, imm", "\xf6\x06\x01", 3},         /* test byte [rsi], 1 */
        {"cmp mem, reg", "\x48\x39\x16", 3},           /* cmp [rsi], rdx */
        {"adc source", "\x48\x13\x56\x08", 4},         /* adc rdx, [rsi + 8] */
        {"movzx source", "\x0f\xb6\x16", 3},           /* movzx edx, byte [rsi] */
        {"inc mem", "\x48\xff\x06", 3},                /* inc qword [rsi] */
        {"add mem, reg", "\x48\x01\x16", 3},           /* add [rsi], rdx */
    };
    static const struct {
        const char *name;
        uint64_t addr;
    } bad[] = {{"#PF", 0x40000000}, {"#GP", 0x8000000000000000ull}};
    for (size_t f = 0; f < G_N_ELEMENTS(bad); f++) {
        for (size_t i = 0; i < G_N_ELEMENTS(mem_forms); i++) {
            uint8_t b[64];
            g_autofree char *what = g_strdup_printf("%s %s", bad[f].name, mem_forms[i].name);
            int n = bad_rsi(b, bad[f].addr, (const uint8_t *)mem_forms[i].insn, mem_forms[i].len);
            fault_case(what, b, n, mem_forms[i].stack);
        }
    }
    /* #UD and #DE on the last pass, after translated instructions of the same block */
    static const uint8_t ud[] = {0x48, 0x01, 0xc3, 0x49, 0x83, 0xff, 0x01, 0x75, 0x02, 0x0f, 0x0b};
    fault_case("#UD", ud, sizeof(ud), false);
    static const uint8_t de[] = {0x48, 0x01, 0xc3, 0xb9, 0x01, 0,    0,    0,    0x49, 0x83, 0xff,
                                 0x01, 0x75, 0x02, 0x31, 0xc9, 0x31, 0xd2, 0x48, 0xf7, 0xf1};
    fault_case("#DE", de, sizeof(de), false);
}

/* Each form the translator handles, in loops whose whole body is translated, with the flags
 * each leaves read back by pushfq and by adc. */
static void test_forms(void)
{
    static const struct {
        const char *name;
        const char *code;
        int len, insns;
    } forms[] = {
        /* add rbx, rax; inc rax; dec ecx; adc rdx, 0: CF from the add through inc and dec */
        {"inc dec carry", "\x48\x01\xc3\x48\xff\xc0\xff\xc9\x48\x83\xd2\x00", 12, 3},
        /* dec rsi; jnz over nothing; inc bl; pushfq; pop rdi */
        {"dec jnz, inc byte", "\x48\xff\xce\x75\x00\xfe\xc3\x9c\x5f", 9, 3},
        /* ror rdx; pushfq; pop rsi; rol eax, 5; test sil, 1; ror r9, 63 */
        {"rotates", "\x48\xd1\xca\x9c\x5e\xc1\xc0\x05\x40\xf6\xc6\x01\x49\xc1\xc9\x3f", 16, 1},
        /* imul rax, rcx; setc dl; imul edx, ebx, 7; seto bh; imul rsi, [r14 + 8], 0x12345 */
        {"imul setcc",
         "\x48\x0f\xaf\xc1\x0f\x92\xc2\x6b\xd3\x07\x0f\x90\xc7\x49\x69\x76\x08\x45\x23\x01\x00", 21,
         5},
        /* cmp rax, rcx; cmova rdx, rbx; cmovb esi, [r14 + 8]; sete al; cmovl edi, eax */
        {"cmov", "\x48\x39\xc8\x48\x0f\x47\xd3\x41\x0f\x42\x76\x08\x0f\x94\xc0\x0f\x4c\xf8", 18, 5},
        /* cmp eax, 0x7000; jne over nothing; and al, 0x35; sub rax, -5; test al, 0x81;
         * pushfq; pop rsi */
        {"accumulator",
         "\x3d\x00\x70\x00\x00\x75\x00\x24\x35\x48\x2d\xfb\xff\xff\xff\xa8\x81\x9c\x5e", 19, 5},
        /* movsxd rax, ecx; movsxd rdx, [r14 + 8]; movsxd esi, edi (a 32-bit move) */
        {"movsxd", "\x48\x63\xc1\x49\x63\x56\x08\x63\xf7", 9, 3},
        /* add al, ah; sub bh, cl; xor dil, r9b; cmp al, 7; sbb al, al */
        {"byte alu", "\x00\xe0\x28\xcf\x44\x30\xcf\x80\xf8\x07\x18\xc0", 12, 4},
        /* mov ch, dl; mov [r14 + 16], bh; mov r9b, [r14 + 8]; mov ah, 5; mov byte [r14], 3;
         * test ch, bl; pushfq; pop rsi */
        {"byte mov",
         "\x88\xd5\x41\x88\x7e\x10\x45\x8a\x4e\x08\xb4\x05\x41\xc6\x06\x03\x84\xdd\x9c\x5e", 20, 6},
        /* test [r14 + 8], eax; setne cl; cmp byte [r14 + 16], 5; setb dl;
         * cmp qword [r14 + 8], -16; setl bl; test dword [r14 + 8], 0xff00; sete bh;
         * test [r14 + 9], ah; pause; neg rax; neg r9b; cmp eax, ecx; not rdx; not bh; 66 90;
         * jb over nothing (the host's flags kept through not); pushfq; pop rsi */
        /* cmp rax, rcx; adc rdx, rbx (CF from the host); sbb esi, 5; adc al, 0x7f; inc rdi;
         * sbb r8, r9 (CF computed from the lazy fields); pushfq; pop rsi */
        {"adc sbb", "\x48\x39\xc8\x48\x11\xda\x83\xde\x05\x14\x7f\x48\xff\xc7\x4d\x19\xc8\x9c\x5e",
         19, 6},
        {"cmp test memory, neg",
         "\x41\x85\x46\x08\x0f\x95\xc1\x41\x80\x7e\x10\x05\x0f\x92\xc2\x49\x83\x7e\x08\xf0\x0f\x9c"
         "\xc3\x41\xf7\x46\x08\x00\xff\x00\x00\x0f\x94\xc7\x41\x84\x66\x09\xf3\x90\x48\xf7\xd8\x41"
         "\xf6\xd9\x39\xc8\x48\xf7\xd2\xf6\xd7\x66\x90\x72\x00\x9c\x5e",
         59, 17},
        /* a loop over eleven registers (the slots evict, the back edge reloads the loop's
         * registers): mov rax, rcx; add rax, rdx; test al, 1 (the low byte of a written copy);
         * cmovne rbx, rax and setne dl (the host's flags: test stores no lazy flags);
         * add rsi, rdi; add r8, r9; mov ch, ah (a high byte of a written copy); xor r10, r11;
         * add r12, r9 */
        {"loop slots",
         "\x48\x89\xc8\x48\x01\xd0\xa8\x01\x48\x0f\x45\xd8\x0f\x95\xc2\x48\x01\xfe\x4d"
         "\x01\xc8\x88\xe5\x4d\x31\xda\x4d\x01\xcc",
         29, 10},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        X86JitStats before, after;
        x86_cpu_get_jit_stats(jd.side[1].cpu, &before);
        run_fixed(forms[i].name, (const uint8_t *)forms[i].code, forms[i].len);
        x86_cpu_get_jit_stats(jd.side[1].cpu, &after);
        /* the leading instructions were translated, not left to the interpreter */
        if (after.insns - before.insns < (uint64_t)forms[i].insns) {
            g_error("%s: %" G_GUINT64_FORMAT " instructions translated", forms[i].name,
                    after.insns - before.insns);
        }
    }
}

static gpointer request_exit_later(gpointer cpu)
{
    g_usleep(50000);
    x86_cpu_exit_request(cpu);
    return NULL;
}

/* A loop inside one translated block runs in host code, and still stops on the budget, an
 * and an exit request within one pass, with every instruction counted. */
static void test_loop_exits(void)
{
    static const uint8_t spin[] = {0x48, 0xff, 0xc0, 0xeb, 0xfb}; /* inc rax; jmp back */
    X86CPU *cpu = jd.side[1].cpu;
    uint8_t none[1] = {0};
    jd_generate(&jd, none, 0, 0);
    memcpy(jd.code, spin, sizeof(spin));
    jd.len = sizeof(spin);
    JdResult r;
    for (int round = 0; round < 2; round++) {
        jd_run_side(&jd, 1, &r); /* 200000 instructions: budget */
        g_assert_cmpint(r.why, ==, X86_EXIT_BUDGET);
        X86CPUStats st;
        x86_cpu_get_stats(cpu, &st);
        /* rax counts the passes: every instruction retired was counted */
        uint64_t passes = r.regs[0] - jd.regs[0];
        g_assert_cmpuint(passes, >=, 200000 / 2 - 1);
        g_assert_cmpuint(passes, <=, 200000 / 2 + 1);
    }
    X86JitStats js;
    x86_cpu_get_jit_stats(cpu, &js);
    g_assert_cmpuint(js.blocks, >, 0);
    /* an exit request from another thread while the loop spins in host code stops it (the
     * budget alone would take minutes) */
    GThread *t = g_thread_new("exit-request", request_exit_later, cpu);
    g_assert_cmpint(x86_cpu_exec(cpu, 20000000000ull), ==, X86_EXIT_REQUEST);
    g_thread_join(t);
}

/* One ret returning to 24 call sites in turn: every return lands where the interpreter's does,
 * and the ret's exit stops being relinked once its return address has changed
 * JIT_RET_RELINKS times. */
static void test_ret_relinks(void)
{
    uint8_t body[3 + 24 * 9];
    int n = 0;
    body[n++] = 0xeb; /* jmp over the function: inc rax; ret */
    body[n++] = 0x04;
    body[n++] = 0x48;
    body[n++] = 0xff;
    body[n++] = 0xc0;
    body[n++] = 0xc3;
    for (int k = 0; k < 24; k++) {
        int32_t rel = 2 - (n + 5);
        body[n++] = 0xe8;
        memcpy(body + n, &rel, 4);
        n += 4;
        body[n++] = 0x48; /* add rbx, rax */
        body[n++] = 0x01;
        body[n++] = 0xc3;
    }
    X86JitStats before, after;
    x86_cpu_get_jit_stats(jd.side[1].cpu, &before);
    run_fixed("ret to many sites", body, n);
    x86_cpu_get_jit_stats(jd.side[1].cpu, &after);
    g_assert_cmpuint(after.ret_sites_fixed, >, before.ret_sites_fixed);
}

/* The translator really runs: after a hot loop its statistics count translated blocks. */
static void test_translates(void)
{
    static const uint8_t body[] = {0x48, 0x01, 0xc3, 0x48, 0x83, 0xc1, 0x05};
    run_fixed("plain loop", body, sizeof(body));
    X86JitStats st;
    g_assert_true(x86_cpu_get_jit_stats(jd.side[1].cpu, &st));
    g_assert_cmpuint(st.blocks, >, 0);
    g_assert_cmpuint(st.cache_used, >, 0);
    g_assert_false(x86_cpu_get_jit_stats(jd.side[0].cpu, &st));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    jd_init(&jd);
    g_test_add_func("/cpu/jit/translates", test_translates);
    g_test_add_func("/cpu/jit/random", test_random);
    g_test_add_func("/cpu/jit/smc", test_smc);
    g_test_add_func("/cpu/jit/faults", test_faults);
    g_test_add_func("/cpu/jit/forms", test_forms);
    g_test_add_func("/cpu/jit/loop-exits", test_loop_exits);
    g_test_add_func("/cpu/jit/ret-relinks", test_ret_relinks);
    int rc = g_test_run();
    jd_fini(&jd);
    return rc;
}
