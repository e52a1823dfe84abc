/*
 * Runs the CPU benchmark guest (tests/guest/cpu/bench.c) on our CPU and prints
 * "insns=<n> seconds=<s> mips=<m>" plus the guest's output line.
 * Usage: cpu-bench-runner [--jit] IMAGE "CMDLINE"   (--jit: the translator on)
 * With CPU_BENCH_INFO set in the environment, `info jit` is printed on stderr at the end.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../tests/unit/cpu-guest.h"

int main(int argc, char **argv)
{
    bool jit = argc > 1 && strcmp(argv[1], "--jit") == 0;
    if (jit) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s [--jit] IMAGE CMDLINE\n", argv[0]);
        return 2;
    }
    CpuGuest g;
    GError *err = NULL;
    if (!cpu_guest_load(&g, argv[1], argv[2], &err) || !x86_cpu_set_jit(g.cpu, jit, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cpu_guest_run(&g, UINT64_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t n = x86_cpu_icount(g.cpu);
    printf("insns=%" G_GUINT64_FORMAT " seconds=%.4f mips=%.1f exit=%d\n", n, secs, n / secs / 1e6,
           g.exit_code);
    printf("%s", g.out->str);
    if (g_getenv("CPU_BENCH_INFO")) { /* the translator's statistics (info jit) on stderr */
        g_autoptr(GString) info = g_string_new(NULL);
        x86_cpu_jit_info(g.cpu, info);
        fprintf(stderr, "%s", info->str);
    }
    int rc = g.exit_code == 0 ? 0 : 1;
    cpu_guest_free(&g);
    return rc;
}
