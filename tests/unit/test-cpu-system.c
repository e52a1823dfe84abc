/*
 * System-level CPU tests: a freestanding guest (tests/guest/cpu/systest.c) switches to long
 * mode and exercises exceptions, paging, interrupts and privilege changes; plus triple fault
 * and state save/restore checks driven from here.
 */
#include "cpu-guest.h"
#include <glib/gstdio.h>
#include <unistd.h>

/* jit: with the translator on (its hot blocks: the guest's loops) */
static void test_systest_guest(gconstpointer jit)
{
    CpuGuest g;
    GError *err = NULL;
    g_assert_true(cpu_guest_load(&g, CPU_SYSTEST_BIN, "systest", &err));
    g_assert_no_error(err);
    g_assert_true(x86_cpu_set_jit(g.cpu, jit != NULL, &err));
    X86ExitReason why = cpu_guest_run(&g, 50000000);
    if (g_test_verbose()) {
        g_printerr("%s", g.out->str);
    }
    g_assert_cmpint(why, !=, X86_EXIT_RESET);
    g_assert_null(strstr(g.out->str, "FAIL"));
    g_assert_nonnull(strstr(g.out->str, "ok   long mode active"));
    g_assert_nonnull(strstr(g.out->str, "ok   #DF delivered on IST1 stack"));
    g_assert_nonnull(strstr(g.out->str, "ALL OK"));
    g_assert_cmpint(g.exit_code, ==, 0);
    X86JitStats js;
    if (x86_cpu_get_jit_stats(g.cpu, &js)) {
        g_assert_cmpuint(js.blocks, >, 0);
    }
    cpu_guest_free(&g);
}

/* Same guest with the decoded-code cache off must behave identically. */
static void test_systest_uncached(void)
{
    CpuGuest g;
    g_assert_true(cpu_guest_load(&g, CPU_SYSTEST_BIN, "systest", NULL));
    x86_cpu_set_cache_enabled(g.cpu, false);
    cpu_guest_run(&g, 50000000);
    g_assert_nonnull(strstr(g.out->str, "ALL OK"));
    g_assert_cmpint(g.exit_code, ==, 0);
    cpu_guest_free(&g);
}

/* A CPU in flat 32-bit protected mode on 1 MiB of RAM, for the tests that write their code. */
static X86CPU *flat32_cpu_new(GuestRam **ram)
{
    *ram = guest_ram_new(1 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(*ram, NULL, NULL);
    x86_cpu_setup_flat32(cpu);
    return cpu;
}

static void test_triple_fault(void)
{
    GuestRam *ram;
    X86CPU *cpu = flat32_cpu_new(&ram);
    X86CPUState *env = x86_cpu_env(cpu);
    env->idt.limit = 0; /* every exception faults again: #UD -> #GP -> #DF -> reset */
    env->rip = 0x1000;
    const uint8_t ud2[] = {0x0f, 0x0b};
    guest_ram_write(ram, 0x1000, ud2, 2);
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_RESET);
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/* Real mode: an IVT-dispatched software interrupt and iret. */
static void test_real_mode_int(void)
{
    GuestRam *ram = guest_ram_new(1 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
    X86CPUState *env = x86_cpu_env(cpu);
    env->segs[R_CS].base = 0;
    env->segs[R_CS].selector = 0;
    env->idt.base = 0;
    env->idt.limit = 0x3ff;
    env->regs[R_ESP] = 0x8000;
    env->rip = 0x7c00;
    /* int 0x21; hlt   handler at 0x0500: mov ax, 0x1234; iret */
    const uint8_t main_code[] = {0xcd, 0x21, 0xf4};
    const uint8_t handler[] = {0xb8, 0x34, 0x12, 0xcf};
    const uint16_t vec[2] = {0x0500, 0x0000};
    guest_ram_write(ram, 0x7c00, main_code, sizeof(main_code));
    guest_ram_write(ram, 0x0500, handler, sizeof(handler));
    guest_ram_write(ram, 0x21 * 4, vec, sizeof(vec));
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->regs[R_EAX] & 0xffff, ==, 0x1234);
    g_assert_cmphex(env->rip, ==, 0x7c03);
    g_assert_cmphex(env->regs[R_ESP], ==, 0x8000);
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * Real mode: rep movsw and rep stosw whose si/di wrap at 64 KiB inside their segments (the
 * linear address goes on past the segment's end; the register starts again at its base), both
 * directions, against the element-by-element result worked out here.
 */
static void test_real_mode_rep_wrap(void)
{
    enum { N = 40, SRC = 0x10010, DST = 0x20120 }; /* the wraps fall inside pages */
    static const struct {
        uint8_t op;
        bool back;
        uint16_t si, di;
    } cases[] = {
        {0xa5, false, 0xfff0, 0xfff8}, {0xa5, true, 0x0008, 0x0004},  {0xab, false, 0, 0xffe0},
        {0xab, true, 0, 0x0010},       {0xa5, false, 0x1000, 0x0ffe},
    };
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        GuestRam *ram = guest_ram_new(1 << 20, 0, NULL);
        X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
        X86CPUState *env = x86_cpu_env(cpu);
        uint8_t *src = (uint8_t *)ram->host + SRC, *dst = (uint8_t *)ram->host + DST;
        for (int i = 0; i < 0x10000; i++) {
            src[i] = (uint8_t)(i * 7 + 3);
            dst[i] = (uint8_t)(i * 13 + 1);
        }
        uint8_t want[0x10000];
        memcpy(want, dst, sizeof(want));
        for (int i = 0; i < N; i++) {
            uint16_t d = cases[c].back ? -2 * i : 2 * i;
            uint16_t so = cases[c].si + d, dof = cases[c].di + d;
            want[dof] = cases[c].op == 0xa5 ? src[so] : 0x34;
            want[(uint16_t)(dof + 1)] = cases[c].op == 0xa5 ? src[(uint16_t)(so + 1)] : 0x12;
        }
        const uint8_t code[] = {cases[c].back ? 0xfd : 0xfc, 0xf3, cases[c].op, 0xf4};
        guest_ram_write(ram, 0x7c00, code, sizeof(code));
        env->segs[R_CS].base = 0;
        env->segs[R_CS].selector = 0;
        env->segs[R_DS].base = SRC;
        env->segs[R_DS].selector = SRC >> 4;
        env->segs[R_ES].base = DST;
        env->segs[R_ES].selector = DST >> 4;
        env->regs[R_ESI] = cases[c].si;
        env->regs[R_EDI] = cases[c].di;
        env->regs[R_ECX] = N;
        env->regs[R_EAX] = 0x1234;
        env->rip = 0x7c00;
        g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
        g_assert_cmphex(env->regs[R_ECX], ==, 0);
        uint16_t moved = cases[c].back ? -2 * N : 2 * N;
        g_assert_cmphex(env->regs[R_EDI], ==, (uint16_t)(cases[c].di + moved));
        if (cases[c].op == 0xa5) {
            g_assert_cmphex(env->regs[R_ESI], ==, (uint16_t)(cases[c].si + moved));
        }
        for (int i = 0; i < 0x10000; i++) {
            if (dst[i] != want[i]) {
                g_error("case %zu: byte 0x%x of the destination segment is 0x%02x, not 0x%02x", c,
                        i, dst[i], want[i]);
            }
        }
        /* nothing past the segment's end was written */
        g_assert_cmphex(((uint8_t *)ram->host)[DST + 0x10000], ==, 0);
        x86_cpu_free(cpu);
        guest_ram_free(ram);
    }
}

/* Saving the state mid-run and loading it into a fresh CPU continues identically. */
/* jit: `a` runs with the translator, and `b`, loaded with a's state, on the interpreter: the
 * state saved from translated code is whole */
static void test_state_roundtrip(gconstpointer jit)
{
    CpuGuest a, b;
    g_assert_true(cpu_guest_load(&a, CPU_BENCH_BIN, "1", NULL));
    g_assert_true(cpu_guest_load(&b, CPU_BENCH_BIN, "1", NULL));
    g_assert_true(x86_cpu_set_jit(a.cpu, jit != NULL, NULL));
    x86_cpu_exec(a.cpu, 1500000);
    X86CPUState *st = g_new(X86CPUState, 1);
    x86_cpu_get_state(a.cpu, st);
    /* RAM travels separately (migration); copy it */
    memcpy(b.ram->host, a.ram->host, a.ram->size);
    x86_cpu_set_state(b.cpu, st);
    /* the TSC continues from the saved value */
    X86CPUState *st2 = g_new(X86CPUState, 1);
    x86_cpu_get_state(b.cpu, st2);
    g_assert_cmpuint(st2->tsc_offset, >=, st->tsc_offset);
    g_assert_cmpuint(st2->tsc_offset - st->tsc_offset, <, 1000000000ull);
    g_free(st2);
    cpu_guest_run(&a, 500000000);
    cpu_guest_run(&b, 500000000);
    g_assert_cmpint(a.exit_code, ==, 0);
    g_assert_cmpstr(a.out->str, ==, b.out->str);
    g_free(st);
    cpu_guest_free(&a);
    cpu_guest_free(&b);
}

/* Every CPU store marks its page dirty; code pages written get their decoded code dropped. */
static void test_dirty_tracking(void)
{
    CpuGuest g;
    g_assert_true(cpu_guest_load(&g, CPU_BENCH_BIN, "1", NULL));
    uint64_t *bm = g_new0(uint64_t, guest_ram_bitmap_words(g.ram));
    DirtyReader *r = guest_ram_dirty_reader_new(g.ram, "test");
    x86_cpu_exec(g.cpu, 3000000);
    uint64_t n = guest_ram_dirty_reader_sync(r, bm);
    /* the guest wrote page tables, its stack and data: some pages, not all */
    g_assert_cmpuint(n, >, 3);
    g_assert_cmpuint(n, <, g.ram->npages / 2);
    /* the stack page (stack_top is in .bss above 1 MiB) is among them */
    X86CPUState *env = x86_cpu_env(g.cpu);
    uint64_t sp_page = (env->regs[R_ESP] - 8) >> GUEST_PAGE_BITS;
    g_assert_true(bm[sp_page / 64] & (1ull << (sp_page % 64)));
    guest_ram_dirty_reader_free(r);
    g_free(bm);
    cpu_guest_free(&g);
}

static void test_self_modifying_code(void)
{
    GuestRam *ram;
    X86CPU *cpu = flat32_cpu_new(&ram);
    X86CPUState *env = x86_cpu_env(cpu);
    env->regs[R_ESP] = 0x8000;
    env->rip = 0x1000;
    /* mov byte [0x1008], 0x42 ; (0x1007) nop ; (0x1008) mov al, 0x11 ... patched imm */
    const uint8_t code[] = {0xc6, 0x05, 0x0a, 0x10, 0x00, 0x00, 0x42, /* mov [0x100a], 0x42 */
                            0x90,                                     /* nop */
                            0x90, 0xb0, 0x11,                         /* nop; mov al, 0x11 */
                            0xf4};                                    /* hlt */
    guest_ram_write(ram, 0x1000, code, sizeof(code));
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->regs[R_EAX] & 0xff, ==, 0x42);
    X86CPUStats st;
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(ram->code_invalidations, >=, 1);
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * Two blocks a loop alternates between, at RAM offsets 0x1000 and 0x9001, which share a set of
 * the block cache (target/i386/cpu.c's tb_set_of): both stay cached. With one entry per set
 * each evicted the other, and every iteration decoded both again.
 */
static void test_colliding_blocks_stay_cached(void)
{
    GuestRam *ram;
    X86CPU *cpu = flat32_cpu_new(&ram);
    X86CPUState *env = x86_cpu_env(cpu);
    env->rip = 0x1000;
    env->regs[R_ECX] = 1000;
    /* 0x1000: dec ecx; jz 0x1008; jmp 0x9001; (0x1008) hlt     0x9001: jmp 0x1000 */
    const uint8_t a[] = {0x49, 0x74, 0x05, 0xe9, 0xf9, 0x7f, 0x00, 0x00, 0xf4};
    const uint8_t b[] = {0xe9, 0xfa, 0x7f, 0xff, 0xff};
    guest_ram_write(ram, 0x1000, a, sizeof(a));
    guest_ram_write(ram, 0x9001, b, sizeof(b));
    g_assert_cmpint(x86_cpu_exec(cpu, 100000), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->rip, ==, 0x1009);
    g_assert_cmpuint(env->regs[R_ECX], ==, 0);
    X86CPUStats st;
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(st.tb_translations, <=, 3); /* the two blocks and the hlt */
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/* Runs the loop around the instruction across 0x2000 (below) from rip: 1000 passes. */
static uint64_t run_straddle_loop(X86CPU *cpu, uint64_t rip)
{
    X86CPUState *env = x86_cpu_env(cpu);
    env->halted = 0;
    env->rip = rip;
    env->regs[R_ECX] = 1000;
    env->regs[R_EBX] = 0;
    x86_cpu_state_changed(cpu);
    g_assert_cmpint(x86_cpu_exec(cpu, 100000), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->rip, ==, 0x2008);
    return env->regs[R_EBX];
}

/*
 * An instruction across a page end is decoded once, not on every run, and decoded again when
 * either of its pages changes (a device write into the second, a store by the guest into the
 * first).
 */
static void test_straddling_insn_cached(void)
{
    GuestRam *ram;
    X86CPU *cpu = flat32_cpu_new(&ram);
    /* 0x1ffd: mov eax, imm32 (up to 0x2001); add ebx, eax; dec ecx; jnz 0x1ffd; hlt */
    const uint8_t code[] = {0xb8, 0x03, 0x00, 0x00, 0x00, 0x01, 0xc3, 0x49, 0x75, 0xf6, 0xf4};
    guest_ram_write(ram, 0x1ffd, code, sizeof(code));
    X86CPUStats before, after;
    x86_cpu_get_stats(cpu, &before);
    g_assert_cmpuint(run_straddle_loop(cpu, 0x1ffd), ==, 3000);
    x86_cpu_get_stats(cpu, &after);
    /* the mov, the loop's block and the hlt: not 1000 decodes of the mov */
    g_assert_cmpuint(after.tb_translations - before.tb_translations, <=, 3);

    const uint8_t hi = 0x01; /* imm32 = 0x01000003: its top bytes are in the second page */
    guest_ram_write(ram, 0x2001, &hi, 1);
    g_assert_cmpuint(run_straddle_loop(cpu, 0x1ffd), ==, (uint32_t)(1000 * 0x01000003ull));

    /* mov esi, 0x1ffe; mov byte [esi], 5; jmp 0x1ffd -- the guest patches the first page */
    const uint8_t patch[] = {0xbe, 0xfe, 0x1f, 0x00, 0x00, 0xc6, 0x06,
                             0x05, 0xe9, 0xf0, 0x0f, 0x00, 0x00};
    guest_ram_write(ram, 0x1000, patch, sizeof(patch));
    g_assert_cmpuint(run_straddle_loop(cpu, 0x1000), ==, (uint32_t)(1000 * 0x01000005ull));
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * A state load (a COLO secondary's at every checkpoint, an incoming migration's) keeps the
 * decoded code of pages it did not change, and drops the code of a page written before it.
 */
static void test_state_load_keeps_code(void)
{
    GuestRam *ram;
    X86CPU *cpu = flat32_cpu_new(&ram);
    X86CPUState *env = x86_cpu_env(cpu);
    env->regs[R_ESP] = 0x8000;
    env->rip = 0x1000;
    uint8_t code[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4}; /* mov eax, 1; hlt */
    guest_ram_write(ram, 0x1000, code, sizeof(code));
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->regs[R_EAX], ==, 1);
    X86CPUState *st = g_new(X86CPUState, 1);
    x86_cpu_get_state(cpu, st);
    st->rip = 0x1000;
    st->halted = 0;
    st->regs[R_EAX] = 0;
    X86CPUStats before, after;
    x86_cpu_get_stats(cpu, &before);

    x86_cpu_set_state(cpu, st);
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->regs[R_EAX], ==, 1);
    x86_cpu_get_stats(cpu, &after);
    g_assert_cmpuint(after.tb_flushes, ==, before.tb_flushes);
    g_assert_cmpuint(after.tb_translations, ==, before.tb_translations);

    /* the page changed (as a checkpoint's RAM is written before its devices load) */
    code[1] = 0x02;
    guest_ram_write(ram, 0x1000, code, sizeof(code));
    x86_cpu_set_state(cpu, st);
    g_assert_cmpint(x86_cpu_exec(cpu, 100), ==, X86_EXIT_HALTED);
    g_assert_cmphex(env->regs[R_EAX], ==, 2);
    x86_cpu_get_stats(cpu, &after);
    g_assert_cmpuint(after.tb_translations, ==, before.tb_translations + 1);
    g_free(st);
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * "info registers" text: the bench guest ends in cli; hlt in long mode, deterministically,
 * on our CPU and on Debian's QEMU; the dumps must agree line for line (except the IDT, which
 * QEMU's firmware set before the guest ran).
 */
static void test_dump_vs_qemu(void)
{
    /* scripts/install-deps installs it: its absence is a broken set-up, not a skip. */
    const char *qemu = "/usr/bin/qemu-system-x86_64";
    if (!g_file_test(qemu, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_message("Debian's QEMU is not installed (scripts/install-deps)");
    }
    g_assert_true(g_file_test(qemu, G_FILE_TEST_IS_EXECUTABLE));
    CpuGuest g;
    g_assert_true(cpu_guest_load(&g, CPU_BENCH_BIN, "int 0", NULL));
    cpu_guest_run(&g, 10000000);
    g_assert_cmpint(g.exit_code, ==, 0);
    g_assert_cmpint(x86_cpu_exec(g.cpu, 1000), ==, X86_EXIT_HALTED);
    GString *ours = g_string_new("");
    x86_cpu_dump_state(g.cpu, ours);

    /*
     * The registers are read once the guest has printed its checksum line (it halts right
     * after): a fixed wait lost the race on a loaded host, with QEMU still in its firmware.
     */
    g_autofree char *con = g_build_filename(g_get_tmp_dir(), "test-cpu-system-XXXXXX", NULL);
    int fd = g_mkstemp(con);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    char *cmd = g_strdup_printf("(i=0; until grep -q 'checksum.*$' %s || [ $i -ge 600 ]; do "
                                "sleep 0.1; i=$((i+1)); done; sleep 0.3; "
                                "echo 'info registers'; sleep 0.5; echo quit) | "
                                "%s -M pc -m 256 -nodefaults -display none -kernel %s "
                                "-append 'int 0' -debugcon file:%s -monitor stdio",
                                con, qemu, CPU_BENCH_BIN, con);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                               NULL, NULL));
    char *start = strstr(out, "CPU#0");
    g_assert_nonnull(start);
    char **theirs = g_strsplit(start + strlen("CPU#0") + 2, "\n", -1);
    char **mine = g_strsplit(ours->str, "\n", -1);
    int compared = 0;
    for (int i = 0; mine[i] && mine[i][0]; i++) {
        g_assert_nonnull(theirs[i]);
        g_strchomp(theirs[i]);
        g_strchomp(mine[i]);
        if (g_str_has_prefix(mine[i], "IDT=")) {
            continue;
        }
        g_assert_cmpstr(mine[i], ==, theirs[i]);
        compared++;
    }
    g_assert_cmpint(compared, >=, 30);
    g_strfreev(theirs);
    g_strfreev(mine);
    g_free(out);
    g_free(cmd);
    g_unlink(con);
    g_string_free(ours, TRUE);
    cpu_guest_free(&g);
}

static void put64(GuestRam *ram, uint64_t gpa, uint64_t v)
{
    guest_ram_write(ram, gpa, &v, 8);
}

static void put32(GuestRam *ram, uint64_t gpa, uint32_t v)
{
    guest_ram_write(ram, gpa, &v, 4);
}

/* The page walker in each paging mode, through x86_cpu_translate (no side effects). */
static void test_paging_modes(void)
{
    GuestRam *ram = guest_ram_new(16 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
    X86CPUState *env = x86_cpu_env(cpu);
    uint64_t gpa;

    /* 32-bit paging: PD at 0x1000; 4 KiB page 0x00401000 -> 0x5000; 4 MiB page at 0x00800000 */
    x86_cpu_setup_flat32(cpu);
    put32(ram, 0x1000 + 1 * 4, 0x2000 | 3);        /* PDE 1 -> PT at 0x2000 */
    put32(ram, 0x2000 + 1 * 4, 0x5000 | 3);        /* PTE 1 */
    put32(ram, 0x1000 + 2 * 4, 0x00c00000 | 0x83); /* PDE 2: 4 MiB page at 12 MiB */
    env->cr3 = 0x1000;
    env->cr4 = CR4_PSE;
    env->cr0 |= CR0_PG;
    x86_cpu_state_changed(cpu);
    g_assert_true(x86_cpu_translate(cpu, 0x00401abc, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x5abc);
    g_assert_true(x86_cpu_translate(cpu, 0x00812345, true, &gpa));
    g_assert_cmphex(gpa, ==, 0x00c12345);
    g_assert_false(x86_cpu_translate(cpu, 0x00001000, false, &gpa)); /* PDE 0 not present */

    /* PAE: PDPT at 0x3000 (32-byte aligned), PD at 0x4000, 2 MiB page */
    memset(ram->host, 0, 0x10000);
    put64(ram, 0x3000 + 1 * 8, 0x4000 | 1);        /* PDPTE 1: 1-2 GiB */
    put64(ram, 0x4000 + 3 * 8, 0x00600000 | 0x83); /* 2 MiB page at 6 MiB */
    env->cr3 = 0x3000;
    env->cr4 = CR4_PAE;
    x86_cpu_state_changed(cpu);
    g_assert_true(x86_cpu_translate(cpu, 0x40600000 + 0x1234, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x00601234);
    g_assert_false(x86_cpu_translate(cpu, 0x00000000, false, &gpa));

    /* 4-level: 1 GiB page, 2 MiB page and 4 KiB page; NX without EFER.NXE is reserved */
    memset(ram->host, 0, 0x10000);
    x86_cpu_setup_long_mode(cpu, 0x1000, 0);
    put64(ram, 0x1000 + 0 * 8, 0x2000 | 3);                /* PML4E 0 */
    put64(ram, 0x1000 + 511 * 8, 0x6000 | 3);              /* PML4E 511: the top 512 GiB */
    put64(ram, 0x2000 + 1 * 8, 0x40000000ull | 0x83);      /* PDPTE 1: 1 GiB page -> 1 GiB */
    put64(ram, 0x2000 + 0 * 8, 0x3000 | 3);                /* PDPTE 0 -> PD */
    put64(ram, 0x3000 + 4 * 8, 0x00a00000 | 0x83);         /* PDE 4: 2 MiB page -> 10 MiB */
    put64(ram, 0x3000 + 5 * 8, 0x4000 | 3);                /* PDE 5 -> PT */
    put64(ram, 0x4000 + 7 * 8, 0x9000 | 3 | (1ull << 63)); /* PTE 7, NX */
    put64(ram, 0x6000 + 510 * 8, 0x7000 | 3);              /* kernel half: PDPTE 510 -> PD */
    put64(ram, 0x7000 + 0 * 8, 0x00200000 | 0x83);
    x86_cpu_state_changed(cpu);
    g_assert_true(x86_cpu_translate(cpu, 0x40000000ull + 0x123456, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x40123456);
    g_assert_true(x86_cpu_translate(cpu, 0x00800000 + 0x5678, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x00a05678);
    g_assert_true(x86_cpu_translate(cpu, 0x00a07000 + 0x9a, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x909a);
    g_assert_true(x86_cpu_translate(cpu, 0xffffffff80000000ull + 0x42, false, &gpa));
    g_assert_cmphex(gpa, ==, 0x00200042);
    env->efer &= ~(uint64_t)EFER_NXE;
    x86_cpu_state_changed(cpu);
    g_assert_false(x86_cpu_translate(cpu, 0x00a07000, false, &gpa));
    /* nothing above set A or D: translate has no side effects */
    uint64_t pte;
    guest_ram_read(ram, 0x4000 + 7 * 8, &pte, 8);
    g_assert_cmphex(pte & 0x60, ==, 0);

    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * TLB flushes, seen from guest code. A load loop reads four linear pages; the test rewrites
 * their page-table entries without telling the CPU, so that a load still returning the old
 * value proves the entry was kept, and the new value that it was flushed. Flushing more than
 * the architecture asks is allowed but costs page walks; flushing less is a stale mapping.
 */
enum {
    TLB_CODE = 0x10000,    /* the load loop */
    TLB_INVLPG = 0x11000,  /* invlpg [r10]; hlt  (32-bit: invlpg [edx]) */
    TLB_MOV_CR3 = 0x11010, /* mov cr3, r10; hlt */
    TLB_MOV_CR4 = 0x11020, /* mov cr4, r10; hlt */
    TLB_SWEEP = 0x12000,   /* reads ecx pages from r11 up */
    TLB_PD = 0x3000,
    TLB_PT = 0x4000,
};

static void tlb_run(X86CPU *cpu, uint64_t rip, uint64_t r10)
{
    X86CPUState *env = x86_cpu_env(cpu);
    env->regs[10] = r10;
    env->regs[R_EDX] = r10;
    env->rip = rip;
    env->halted = 0;
    g_assert_cmpint(x86_cpu_exec(cpu, 1000000), ==, X86_EXIT_HALTED);
}

/* Runs the load loop 32 times (the translator takes a block after 16 runs) and checks the
 * values it read last, one per page. */
static void tlb_expect(X86CPU *cpu, int n, const uint64_t *want)
{
    static const int reg[4] = {R_EAX, R_EBX, R_EDX, R_EBP};
    X86CPUState *env = x86_cpu_env(cpu);
    env->regs[R_ECX] = 32;
    tlb_run(cpu, TLB_CODE, 0);
    for (int i = 0; i < n; i++) {
        g_assert_cmphex(env->regs[reg[i]] & 0xffffffff, ==, want[i]);
    }
}

/* The 64-bit code at TLB_CODE, TLB_INVLPG, TLB_MOV_CR3, TLB_MOV_CR4 and TLB_SWEEP. */
static void tlb_write_code64(GuestRam *ram)
{
    /* mov rax,[rsi]; mov rbx,[rdi]; mov rdx,[r8]; mov rbp,[r9]; dec ecx; jnz; hlt */
    const uint8_t loop[] = {0x48, 0x8b, 0x06, 0x48, 0x8b, 0x1f, 0x49, 0x8b, 0x10,
                            0x49, 0x8b, 0x29, 0xff, 0xc9, 0x75, 0xf0, 0xf4};
    const uint8_t invlpg[] = {0x41, 0x0f, 0x01, 0x3a, 0xf4};
    const uint8_t mov_cr3[] = {0x41, 0x0f, 0x22, 0xda, 0xf4};
    const uint8_t mov_cr4[] = {0x41, 0x0f, 0x22, 0xe2, 0xf4};
    guest_ram_write(ram, TLB_CODE, loop, sizeof(loop));
    guest_ram_write(ram, TLB_INVLPG, invlpg, sizeof(invlpg));
    guest_ram_write(ram, TLB_MOV_CR3, mov_cr3, sizeof(mov_cr3));
    guest_ram_write(ram, TLB_MOV_CR4, mov_cr4, sizeof(mov_cr4));
    /* mov rax,[r11]; add r11, 0x1000; dec ecx; jnz; hlt */
    const uint8_t sweep[] = {0x49, 0x8b, 0x03, 0x49, 0x81, 0xc3, 0x00, 0x10,
                             0x00, 0x00, 0xff, 0xc9, 0x75, 0xf2, 0xf4};
    guest_ram_write(ram, TLB_SWEEP, sweep, sizeof(sweep));
}

/*
 * 4-level paging, CR4.PGE on. Linear pages (value at the first mapping / at the second):
 *   L1 0x201000 in a 2 MiB page           0x200000 -> 0xa1 / 0x400000 -> 0xb1
 *   L2 0x402000 in a global 2 MiB page    0x600000 -> 0xa2 / 0x800000 -> 0xb2
 *   P  0x005000, 4 KiB                    0x5000   -> 0xa3 / 0x6000   -> 0xb3
 *   PG 0x007000, 4 KiB global             0x7000   -> 0xa4 / 0x8000   -> 0xb4
 */
static void test_tlb_flushes_long(gconstpointer jit)
{
    GuestRam *ram = guest_ram_new(16 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
    X86CPUState *env = x86_cpu_env(cpu);
    const uint64_t pd1a = 0x200000 | 0x83, pd1b = 0x400000 | 0x83;
    const uint64_t pd2a = 0x600000 | 0x183, pd2b = 0x800000 | 0x183;
    const uint64_t pt5a = 0x5000 | 3, pt5b = 0x6000 | 3, pt7a = 0x7000 | 0x103,
                   pt7b = 0x8000 | 0x103;

    put64(ram, 0x1000, 0x2000 | 3);
    put64(ram, 0x2000, TLB_PD | 3);
    put64(ram, TLB_PD, TLB_PT | 3);
    for (int i = 0; i < 512; i++) {
        put64(ram, TLB_PT + i * 8, (uint64_t)i << 12 | 3);
    }
    put64(ram, TLB_PD + 8, pd1a);
    put64(ram, TLB_PD + 16, pd2a);
    put64(ram, TLB_PD + 24, 0xa00000 | 0x83); /* 6-8 MiB: more pages for the sweep below */
    put64(ram, TLB_PT + 5 * 8, pt5a);
    put64(ram, TLB_PT + 7 * 8, pt7a);
    const uint64_t val[][2] = {
        {0x201000, 0xa1}, {0x401000, 0xb1}, {0x602000, 0xa2}, {0x802000, 0xb2},
        {0x5000, 0xa3},   {0x6000, 0xb3},   {0x7000, 0xa4},   {0x8000, 0xb4},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(val); i++) {
        put64(ram, val[i][0], val[i][1]);
    }
    tlb_write_code64(ram);
    x86_cpu_setup_long_mode(cpu, 0x1000, 0);
    g_assert_true(env->cr4 & CR4_PGE);
    g_assert_true(x86_cpu_set_jit(cpu, jit != NULL, NULL));
    env->regs[R_ESI] = 0x201000;
    env->regs[R_EDI] = 0x402000;
    env->regs[8] = 0x5000;
    env->regs[9] = 0x7000;

    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xa3, 0xa4});
    /* every mapping moves, unannounced: all four entries are kept */
    put64(ram, TLB_PD + 8, pd1b);
    put64(ram, TLB_PD + 16, pd2b);
    put64(ram, TLB_PT + 5 * 8, pt5b);
    put64(ram, TLB_PT + 7 * 8, pt7b);
    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xa3, 0xa4});
    X86CPUStats st;
    x86_cpu_get_stats(cpu, &st);
    uint64_t full = st.tlb_flushes;

    /* invlpg of another 4 KiB page inside L1's 2 MiB page drops L1, and only L1 */
    tlb_run(cpu, TLB_INVLPG, 0x3ff000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xa4});
    /* invlpg of P: its new PTE is seen */
    tlb_run(cpu, TLB_INVLPG, 0x5000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xb3, 0xa4});

    /* CR3 write with PGE: P (moved back) is walked again, the global pages are kept */
    put64(ram, TLB_PT + 5 * 8, pt5a);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xb3, 0xa4});
    tlb_run(cpu, TLB_MOV_CR3, 0x1000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xa4});
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(st.tlb_flushes, ==, full); /* no whole flush so far */
    g_assert_cmpuint(st.tlb_large_page_flushes, ==, 1);
    g_assert_cmpuint(st.tlb_globals_kept, >=, 2);
    /* the same after more fills (8 MiB of pages) than the CR3 flush's log of them holds */
    put64(ram, TLB_PT + 5 * 8, pt5b);
    env->regs[11] = 0;
    env->regs[R_ECX] = 2048;
    tlb_run(cpu, TLB_SWEEP, 0);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xa4});
    tlb_run(cpu, TLB_MOV_CR3, 0x1000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xb3, 0xa4});
    put64(ram, TLB_PT + 5 * 8, pt5a);
    tlb_run(cpu, TLB_INVLPG, 0x5000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xa4});

    /* invlpg inside the global 2 MiB page drops it too */
    tlb_run(cpu, TLB_INVLPG, 0x5ff000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xb2, 0xa3, 0xa4});

    /* clearing CR4.PGE flushes the global entries */
    put64(ram, TLB_PD + 16, pd2a);
    tlb_run(cpu, TLB_MOV_CR4, env->cr4 & ~(uint64_t)CR4_PGE);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xb4});
    /* without PGE the G bit means nothing: a CR3 write drops those pages as well */
    put64(ram, TLB_PD + 16, pd2b);
    put64(ram, TLB_PT + 7 * 8, pt7a);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xa2, 0xa3, 0xb4});
    tlb_run(cpu, TLB_MOV_CR3, 0x1000);
    tlb_expect(cpu, 4, (uint64_t[]){0xb1, 0xb2, 0xa3, 0xa4});
    /* setting PGE again flushes everything */
    put64(ram, TLB_PD + 8, pd1a);
    tlb_run(cpu, TLB_MOV_CR4, env->cr4 | CR4_PGE);
    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xb2, 0xa3, 0xa4});
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(st.tlb_flush_cause[X86_TLB_FLUSH_CR4], ==, 2);

    X86JitStats js;
    if (x86_cpu_get_jit_stats(cpu, &js)) {
        g_assert_cmpuint(js.blocks, >, 0); /* the loads ran as translated code */
    }
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/*
 * 4-level paging, a 1 GiB page beside 2 MiB pages. Linear pages (value at the first mapping /
 * at the second):
 *   A 0x201000 and D 0x202000 in a 2 MiB page   0x200000 -> 0xa1, 0xa4 / 0x400000 -> 0xb1
 *   B 0xa01000 in a 2 MiB page, 8 MiB above A   0xa00000 -> 0xa2
 *   G 0x40805000 in a 1 GiB page                0 -> 0xa3 / a 4 KiB page -> 0xb3
 * A and B share a slot in a TLB of 2048 entries: bench/net's guest kernel lost most of its
 * TLB entries that way. invlpg at the top of G's 1 GiB page must find G's entry, more than a
 * 2 MiB page's 512 slots from the page's first, though a 2 MiB page was filled after it.
 */
static void test_tlb_large_pages(gconstpointer jit)
{
    GuestRam *ram = guest_ram_new(16 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
    put64(ram, 0x1000, 0x2000 | 3);
    put64(ram, 0x2000, TLB_PD | 3);
    put64(ram, 0x2000 + 8, 0x83);             /* PDPTE 1: 1 GiB page -> 0 */
    put64(ram, TLB_PD, 0x83);                 /* the code's 2 MiB page */
    put64(ram, TLB_PD + 8, 0x200000 | 0x83);  /* A, D */
    put64(ram, TLB_PD + 40, 0xa00000 | 0x83); /* B */
    put64(ram, 0x7000 + 4 * 8, 0x8000 | 3);   /* the 4 KiB tables G moves to */
    put64(ram, 0x8000 + 5 * 8, 0x6000 | 3);
    const uint64_t val[][2] = {{0x201000, 0xa1}, {0x401000, 0xb1}, {0xa01000, 0xa2},
                               {0x805000, 0xa3}, {0x6000, 0xb3},   {0x202000, 0xa4}};
    for (size_t i = 0; i < G_N_ELEMENTS(val); i++) {
        put64(ram, val[i][0], val[i][1]);
    }
    tlb_write_code64(ram);
    x86_cpu_setup_long_mode(cpu, 0x1000, 0);
    g_assert_true(x86_cpu_set_jit(cpu, jit != NULL, NULL));
    X86CPUState *env = x86_cpu_env(cpu);
    env->regs[R_ESI] = 0x201000;
    env->regs[R_EDI] = 0xa01000;
    env->regs[8] = 0x40805000;
    env->regs[9] = 0x202000;

    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xa3, 0xa4});
    X86CPUStats st;
    x86_cpu_get_stats(cpu, &st);
    uint64_t walks = st.tlb_walks;
    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xa3, 0xa4});
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(st.tlb_walks, ==, walks); /* A and B both stayed */

    /* A and G move, unannounced: kept */
    put64(ram, TLB_PD + 8, 0x400000 | 0x83);
    put64(ram, 0x2000 + 8, 0x7000 | 3);
    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xa3, 0xa4});
    /* invlpg in G's 1 GiB page drops G and keeps the 2 MiB pages' entries */
    tlb_run(cpu, TLB_INVLPG, 0x7ffff000);
    tlb_expect(cpu, 4, (uint64_t[]){0xa1, 0xa2, 0xb3, 0xa4});
    x86_cpu_get_stats(cpu, &st);
    g_assert_cmpuint(st.tlb_large_page_flushes, ==, 1);
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

/* 32-bit paging with CR4.PSE: invlpg inside a 4 MiB page drops that page's entries only. */
static void test_tlb_flushes_4m(void)
{
    GuestRam *ram = guest_ram_new(16 << 20, 0, NULL);
    X86CPU *cpu = x86_cpu_new(ram, NULL, NULL);
    X86CPUState *env = x86_cpu_env(cpu);
    x86_cpu_setup_flat32(cpu);
    put32(ram, 0x1000, 0x2000 | 3);            /* PDE 0 -> PT: identity 4 KiB pages */
    put32(ram, 0x1000 + 4, 0x00400000 | 0x83); /* PDE 1: 4 MiB page */
    for (int i = 0; i < 1024; i++) {
        put32(ram, 0x2000 + i * 4, (uint32_t)i << 12 | 3);
    }
    put32(ram, 0x00401000, 0xa1);
    put32(ram, 0x00801000, 0xb1);
    put32(ram, 0x5000, 0xa3);
    put32(ram, 0x6000, 0xb3);
    /* mov eax,[esi]; mov ebx,[edi]; dec ecx; jnz; hlt */
    const uint8_t loop[] = {0x8b, 0x06, 0x8b, 0x1f, 0xff, 0xc9, 0x75, 0xf8, 0xf4};
    const uint8_t invlpg[] = {0x0f, 0x01, 0x3a, 0xf4};
    guest_ram_write(ram, TLB_CODE, loop, sizeof(loop));
    guest_ram_write(ram, TLB_INVLPG, invlpg, sizeof(invlpg));
    env->cr3 = 0x1000;
    env->cr4 = CR4_PSE;
    env->cr0 |= CR0_PG;
    x86_cpu_state_changed(cpu);
    env->regs[R_ESI] = 0x00401000;
    env->regs[R_EDI] = 0x5000;

    tlb_expect(cpu, 2, (uint64_t[]){0xa1, 0xa3});
    put32(ram, 0x1000 + 4, 0x00800000 | 0x83);
    put32(ram, 0x2000 + 5 * 4, 0x6000 | 3);
    tlb_expect(cpu, 2, (uint64_t[]){0xa1, 0xa3});
    tlb_run(cpu, TLB_INVLPG, 0x007ff000);
    tlb_expect(cpu, 2, (uint64_t[]){0xb1, 0xa3});
    tlb_run(cpu, TLB_INVLPG, 0x5000);
    tlb_expect(cpu, 2, (uint64_t[]){0xb1, 0xb3});
    x86_cpu_free(cpu);
    guest_ram_free(ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/cpu/system/guest", NULL, test_systest_guest);
    g_test_add_data_func("/cpu/system/guest-jit", "jit", test_systest_guest);
    g_test_add_func("/cpu/system/guest-uncached", test_systest_uncached);
    g_test_add_func("/cpu/system/triple-fault", test_triple_fault);
    g_test_add_func("/cpu/system/real-mode-int", test_real_mode_int);
    g_test_add_func("/cpu/system/real-mode-rep-wrap", test_real_mode_rep_wrap);
    g_test_add_data_func("/cpu/system/state-roundtrip", NULL, test_state_roundtrip);
    g_test_add_data_func("/cpu/system/state-roundtrip-jit", "jit", test_state_roundtrip);
    g_test_add_func("/cpu/system/dirty-tracking", test_dirty_tracking);
    g_test_add_func("/cpu/system/self-modifying-code", test_self_modifying_code);
    g_test_add_func("/cpu/system/state-load-keeps-code", test_state_load_keeps_code);
    g_test_add_func("/cpu/system/colliding-blocks-stay-cached", test_colliding_blocks_stay_cached);
    g_test_add_func("/cpu/system/straddling-insn-cached", test_straddling_insn_cached);
    g_test_add_func("/cpu/system/info-registers-vs-qemu", test_dump_vs_qemu);
    g_test_add_func("/cpu/system/paging-modes", test_paging_modes);
    g_test_add_data_func("/cpu/system/tlb-flushes", NULL, test_tlb_flushes_long);
    g_test_add_data_func("/cpu/system/tlb-flushes-jit", "jit", test_tlb_flushes_long);
    g_test_add_func("/cpu/system/tlb-flushes-4m", test_tlb_flushes_4m);
    g_test_add_data_func("/cpu/system/tlb-large-pages", NULL, test_tlb_large_pages);
    g_test_add_data_func("/cpu/system/tlb-large-pages-jit", "jit", test_tlb_large_pages);
    return g_test_run();
}
