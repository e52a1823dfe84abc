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
    GRand *rnd = g_rand_new_with_seed(1234);
    int compared = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t bytes[512];
        for (size_t k = 0; k < sizeof(bytes); k++) {
            bytes[k] = g_rand_int(rnd);
        }
        jd_generate(&jd, bytes, sizeof(bytes), 4 + i % 40);
        g_autofree char *what = g_strdup_printf("case %d", i);
        compared += check(what);
    }
    g_rand_free(rnd);
    X86JitStats st;
    x86_cpu_get_jit_stats(jd.side[1].cpu, &st);
    g_test_message("%d of 2000 compared; %" G_GUINT64_FORMAT " blocks, %" G_GUINT64_FORMAT
                   " instructions translated, %" G_GUINT64_FORMAT " refused",
                   compared, st.blocks, st.insns, st.refused);
    g_assert_cmpint(compared, >, 1500);
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
    int rc = g_test_run();
    jd_fini(&jd);
    return rc;
}
