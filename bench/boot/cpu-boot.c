/*
 * cpu-boot: Debian's Linux on our CPU and the pc machine's device models, without the
 * monitor: one thread runs the CPU in slices and the device timers between them, and COM1
 * prints on stdout. For bringing the kernel up on the CPU and for profiling its boot.
 *
 *   loop: x86_cpu_exec(slice) ─► hw_clock_run_timers ─► halted? sleep to the next deadline
 *         stop at --until's text on the console, the instruction budget or the timeout
 *
 * Usage: cpu-boot --kernel vmlinux [--initrd initrd.img] [--append "..."] [--mem MiB]
 *                 [--budget N] [--timeout S] [--until TEXT] [-d exc]
 * Exit status: 0 when --until was seen (or none was asked), 1 otherwise.
 */
#include "hw/core/biglock.h"
#include "hw/core/timer.h"
#include "hw/i386/pc.h"
#include "memory/ram.h"
#include "target/i386/cpu.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLICE         50000
#define PROFILE_SLICE 5000
#define PROFILE_TOP   25

typedef struct Harness {
    GuestRam *ram;
    DmaSpace dma;
    PcMachine *machine;
    X86CPU *cpu;
    const char *until;
    GString *tail; /* the console's last bytes, to find --until across writes */
    bool seen;
    bool reset_requested;
    bool poweroff_requested;
} Harness;

static bool ram_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    return guest_ram_read(((Harness *)opaque)->ram, gpa, buf, len);
}

static bool ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    return guest_ram_write(((Harness *)opaque)->ram, gpa, buf, len);
}

static void cpu_set_irq(void *opaque, bool level)
{
    Harness *h = opaque;
    if (h->cpu) {
        x86_cpu_set_irq(h->cpu, level);
    }
}

static void cpu_nmi(void *opaque)
{
    Harness *h = opaque;
    if (h->cpu) {
        x86_cpu_inject_nmi(h->cpu);
    }
}

static void reset_request(void *opaque)
{
    Harness *h = opaque;
    h->reset_requested = true;
    if (h->cpu) {
        x86_cpu_exit_request(h->cpu);
    }
}

static void poweroff_request(void *opaque)
{
    Harness *h = opaque;
    h->poweroff_requested = true;
    if (h->cpu) {
        x86_cpu_exit_request(h->cpu);
    }
}

static void console_write(void *opaque, const uint8_t *buf, int len)
{
    Harness *h = opaque;
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    if (!h->until || h->seen) {
        return;
    }
    g_string_append_len(h->tail, (const char *)buf, len);
    if (strstr(h->tail->str, h->until)) {
        h->seen = true;
        x86_cpu_exit_request(h->cpu);
    }
    size_t keep = strlen(h->until);
    if (h->tail->len > keep) {
        g_string_erase(h->tail, 0, h->tail->len - keep);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static gint by_count(gconstpointer a, gconstpointer b, gpointer table)
{
    guint ca = GPOINTER_TO_UINT(g_hash_table_lookup(table, a));
    guint cb = GPOINTER_TO_UINT(g_hash_table_lookup(table, b));
    return ca < cb ? 1 : ca > cb ? -1 : 0;
}

/* The hottest sampled addresses with the code bytes there (for objdump -b binary). */
static void print_profile(Harness *h, GHashTable *prof)
{
    GList *keys = g_list_sort_with_data(g_hash_table_get_keys(prof), by_count, prof);
    guint total = 0, n = 0;
    for (GList *l = keys; l; l = l->next) {
        total += GPOINTER_TO_UINT(g_hash_table_lookup(prof, l->data));
    }
    fprintf(stderr, "cpu-boot: %u samples; hottest addresses:\n", total);
    for (GList *l = keys; l && n < PROFILE_TOP; l = l->next, n++) {
        uint64_t la = (uintptr_t)l->data, gpa;
        uint8_t code[16] = {0};
        bool have = x86_cpu_translate(h->cpu, la, false, &gpa) &&
                    guest_ram_read(h->ram, gpa, code, sizeof(code));
        fprintf(stderr, "  %5.2f%% %#" PRIx64 " ",
                100.0 * GPOINTER_TO_UINT(g_hash_table_lookup(prof, l->data)) / total, la);
        for (int i = 0; have && i < (int)sizeof(code); i++) {
            fprintf(stderr, "%02x", code[i]);
        }
        fprintf(stderr, "\n");
    }
    g_list_free(keys);
}

int main(int argc, char **argv)
{
    g_autofree char *kernel = NULL, *initrd = NULL, *append = NULL, *until = NULL;
    g_autofree char *debug = NULL;
    gint64 mem_mib = 256, budget = 0;
    double timeout = 120;
    gboolean jit = TRUE, no_jit = FALSE, info_jit = FALSE;
    GOptionEntry entries[] = {
        {"kernel", 0, 0, G_OPTION_ARG_FILENAME, &kernel, "vmlinux or bzImage", "FILE"},
        {"initrd", 0, 0, G_OPTION_ARG_FILENAME, &initrd, "initial ramdisk", "FILE"},
        {"append", 0, 0, G_OPTION_ARG_STRING, &append, "kernel command line", "TEXT"},
        {"mem", 0, 0, G_OPTION_ARG_INT64, &mem_mib, "guest RAM in MiB (256)", "MIB"},
        {"budget", 0, 0, G_OPTION_ARG_INT64, &budget, "stop after N instructions", "N"},
        {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &timeout, "stop after S seconds (120)", "S"},
        {"until", 0, 0, G_OPTION_ARG_STRING, &until, "stop when the console prints TEXT", "TEXT"},
        {"jit", 0, 0, G_OPTION_ARG_NONE, &jit, "translate hot blocks (the default)", NULL},
        {"no-jit", 0, 0, G_OPTION_ARG_NONE, &no_jit, "the interpreter only (-accel tcg,jit=off)",
         NULL},
        {"info-jit", 0, 0, G_OPTION_ARG_NONE, &info_jit,
         "print `info jit` at the end (the main loop's turns among its counters)", NULL},
        {"debug", 'd', 0, G_OPTION_ARG_STRING, &debug,
         "exc: log every exception; halt: long halts; prof: hottest guest addresses", "ITEMS"},
        {NULL},
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("- boot Linux on the software CPU");
    g_option_context_add_main_entries(oc, entries, NULL);
    GError *err = NULL;
    if (!g_option_context_parse(oc, &argc, &argv, &err) || !kernel) {
        fprintf(stderr, "cpu-boot: %s\n", err ? err->message : "--kernel is required");
        return 2;
    }

    Harness h = {.until = until, .tail = g_string_new(NULL)};
    uint64_t size = (uint64_t)mem_mib << 20, low, high;
    pc_ram_split(size, &low, &high);
    h.ram = guest_ram_new(size, low, &err);
    if (!h.ram) {
        fprintf(stderr, "cpu-boot: %s\n", err->message);
        return 2;
    }
    h.dma = (DmaSpace){.read = ram_read, .write = ram_write, .opaque = &h};
    hw_register_types();
    bql_lock(); /* this thread is the machine's only one: it holds the lock throughout */
    PcMachineOptions opts = {.ram_size = size,
                             .kernel = kernel,
                             .initrd = initrd,
                             .append = append ? append : "console=ttyS0",
                             .acpi = true};
    PcMachineHooks hooks = {.ram = &h.dma,
                            .cpu_set_irq = cpu_set_irq,
                            .cpu_nmi = cpu_nmi,
                            .reset_request = reset_request,
                            .poweroff_request = poweroff_request,
                            .opaque = &h};
    h.machine = pc_machine_new(&opts, &hooks, &err);
    if (!h.machine || !pc_machine_realize(h.machine, &err)) {
        fprintf(stderr, "cpu-boot: %s\n", err->message);
        return 2;
    }
    SerialBackend console = {.write = console_write, .opaque = &h};
    serial_set_backend(pc_machine_serial(h.machine), &console);

    h.cpu = x86_cpu_new(h.ram, &pc_machine_cpu_bus, h.machine);
    x86_cpu_set_apic_present(h.cpu, true);
    if (!no_jit && !x86_cpu_set_jit(h.cpu, true, &err)) {
        fprintf(stderr, "cpu-boot: %s\n", err->message);
        return 1;
    }
    if (debug && strstr(debug, "exc")) {
        x86_cpu_set_trace(h.cpu, X86_TRACE_EXCEPTIONS);
    }
    LinuxBootInfo bi;
    if (!pc_machine_boot_info(h.machine, &bi)) {
        fprintf(stderr, "cpu-boot: no PVH entry\n");
        return 2;
    }
    x86_cpu_setup_flat32(h.cpu);
    X86CPUState *env = x86_cpu_env(h.cpu);
    env->rip = bi.entry;
    env->regs[R_EBX] = bi.start_info;
    x86_cpu_state_changed(h.cpu);

    HwClock *clock = pc_machine_clock(h.machine);
    pc_machine_set_running(h.machine, true);
    double t0 = now_s(), c0 = cpu_s();
    const char *why = "timeout";
    uint64_t halts = 0;
    double halted_s = 0;
    bool trace_halts = debug && strstr(debug, "halt");
    /* -d prof: where the guest spends its instructions, sampled at slice ends */
    GHashTable *prof = debug && strstr(debug, "prof") ? g_hash_table_new(NULL, NULL) : NULL;
    for (;;) {
        uint64_t slice = prof ? PROFILE_SLICE : SLICE;
        uint64_t done = x86_cpu_icount(h.cpu);
        if (budget && done + slice > (uint64_t)budget) {
            slice = budget - done;
        }
        X86ExitReason r = slice ? x86_cpu_exec(h.cpu, slice) : X86_EXIT_BUDGET;
        int64_t next = hw_clock_run_timers(clock);
        if (prof && r == X86_EXIT_BUDGET) {
            gpointer key = (gpointer)(uintptr_t)(env->segs[R_CS].base + env->rip);
            g_hash_table_insert(
                prof, key, GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(prof, key)) + 1));
        }
        if (h.seen) {
            why = "until";
            break;
        }
        if (h.poweroff_requested) {
            why = "poweroff";
            break;
        }
        if (r == X86_EXIT_RESET || h.reset_requested) {
            why = "reset";
            break;
        }
        if (budget && x86_cpu_icount(h.cpu) >= (uint64_t)budget) {
            why = "budget";
            break;
        }
        if (now_s() - t0 > timeout) {
            break;
        }
        if (r == X86_EXIT_HALTED && !x86_cpu_wakeup_pending(h.cpu)) {
            int64_t wait = next == INT64_MAX ? 1000000 : next - hw_clock_ns(clock);
            double s0 = now_s();
            if (wait > 0) {
                g_usleep(MIN(wait / 1000 + 1, 10000));
            }
            hw_clock_run_timers(clock);
            halts++;
            halted_s += now_s() - s0;
            if (trace_halts && wait > 50000000) {
                fprintf(stderr,
                        "cpu-boot: halted at rip=%#" PRIx64 " for %.3f s, next timer "
                        "in %" PRId64 " ns\n",
                        env->rip, now_s() - s0, wait);
            }
        }
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    X86CPUStats st;
    x86_cpu_get_stats(h.cpu, &st);
    fprintf(stderr,
            "\ncpu-boot: stopped (%s) after %" PRIu64 " instructions, %.2f s wall, "
            "%.2f s CPU, %.1f M instructions/s; exceptions %" PRIu64 ", interrupts %" PRIu64
            ", blocks translated %" PRIu64 ", cache flushes %" PRIu64 ", TLB flushes %" PRIu64
            ", unimplemented %" PRIu64 "; %" PRIu64 " halts, %.2f s halted\n",
            why, st.insns, wall, cpu, st.insns / (cpu > 0 ? cpu : 1) / 1e6, st.exceptions,
            st.interrupts, st.tb_translations, st.tb_flushes, st.tlb_flushes, st.unimplemented,
            halts, halted_s);
    X86JitStats js;
    if (x86_cpu_get_jit_stats(h.cpu, &js)) {
        fprintf(stderr,
                "cpu-boot: jit: %" PRIu64 " blocks, %" PRIu64 " instructions translated, %" PRIu64
                " blocks refused, %" PRIu64 " cache flushes, %" PRIu64 " of %" PRIu64
                " cache bytes used, %" PRIu64 " links, %" PRIu64 " ret sites not relinked\n",
                js.blocks, js.insns, js.refused, js.flushes, js.cache_used, js.cache_size, js.links,
                js.ret_sites_fixed);
    }
    if (info_jit) {
        g_autoptr(GString) info = g_string_new(NULL);
        x86_cpu_jit_info(h.cpu, info);
        fprintf(stderr, "%s", info->str);
    }
    if (strcmp(why, "until") && strcmp(why, "poweroff")) {
        GString *dump = g_string_new(NULL);
        x86_cpu_dump_state(h.cpu, dump);
        fprintf(stderr, "%s", dump->str);
        g_string_free(dump, TRUE);
    }
    if (prof) {
        print_profile(&h, prof);
        g_hash_table_destroy(prof);
    }
    bool ok = until ? h.seen : true;
    x86_cpu_free(h.cpu);
    pc_machine_free(h.machine);
    guest_ram_free(h.ram);
    g_string_free(h.tail, TRUE);
    bql_unlock();
    return ok ? 0 : 1;
}
