/*
 * Keeps dirtying guest memory at a fixed rate, so that checkpoint and migration tests see a
 * known, steady stream of dirty pages.
 *
 * Usage: qc-dirty MIB_PER_SECOND [WORKING_SET_MIB]   (working set default 64 MiB)
 *
 * Every 10 ms tick it writes one 64-bit word into each of the next rate/100 pages of a
 * working set, cycling through it. The word changes on every pass (pass number, starting at 1,
 * and page index), so a page's content really differs each time it is written: QEMU's
 * page-sampling dirty-rate estimate hashes page contents and would not see a rewrite of the
 * same value.
 * Deadlines are absolute; a late tick catches up at most one second of backlog, so a guest that
 * was stopped does not burst afterwards.
 *
 * Progress goes to /run/qc-dirty.stats once a second: rate, working set, pages written, passes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE       4096u
#define TICK_NS    10000000ll
#define STATS_PATH "/run/qc-dirty.stats"

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void write_stats(double rate, uint64_t set_pages, uint64_t written, uint64_t passes,
                        double elapsed)
{
    FILE *f = fopen(STATS_PATH ".tmp", "w");

    if (!f) {
        return;
    }
    fprintf(f,
            "rate_mib_s %.3f\nworking_set_pages %llu\npages_written %llu\npasses %llu\n"
            "elapsed_s %.3f\n",
            rate, (unsigned long long)set_pages, (unsigned long long)written,
            (unsigned long long)passes, elapsed);
    fclose(f);
    rename(STATS_PATH ".tmp", STATS_PATH);
}

int main(int argc, char **argv)
{
    double rate, set_mib = 64;
    char *end;
    uint64_t set_pages, written = 0, pass = 1, next = 0;
    double pages_per_tick, owed = 0;
    unsigned char *mem;
    int64_t start, deadline, last_stats;

    if (argc < 2) {
        fprintf(stderr, "usage: qc-dirty MIB_PER_SECOND [WORKING_SET_MIB]\n");
        return 1;
    }
    rate = strtod(argv[1], &end);
    if (*end || rate < 0 || rate > 65536) {
        fprintf(stderr, "qc-dirty: bad rate '%s'\n", argv[1]);
        return 1;
    }
    if (argc > 2) {
        set_mib = strtod(argv[2], &end);
        if (*end || set_mib < 1 || set_mib > 65536) {
            fprintf(stderr, "qc-dirty: bad working set '%s'\n", argv[2]);
            return 1;
        }
    }
    set_pages = (uint64_t)(set_mib * 1024 * 1024 / PAGE);
    mem = mmap(NULL, set_pages * PAGE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("qc-dirty: mmap");
        return 1;
    }
    pages_per_tick = rate * 1024 * 1024 / PAGE / (1000000000.0 / TICK_NS);

    start = now_ns();
    deadline = start;
    last_stats = start;
    for (;;) {
        int64_t t = now_ns();

        if (t < deadline) {
            struct timespec ts = {
                .tv_sec = (deadline - t) / 1000000000ll,
                .tv_nsec = (deadline - t) % 1000000000ll,
            };
            nanosleep(&ts, NULL);
            continue;
        }
        if (t - deadline > 100 * TICK_NS) {
            deadline = t - 100 * TICK_NS;
        }
        owed += pages_per_tick;
        while (owed >= 1) {
            uint64_t word = (pass << 32) | next;

            memcpy(mem + next * PAGE, &word, sizeof(word));
            written++;
            owed -= 1;
            if (++next == set_pages) {
                next = 0;
                pass++;
            }
        }
        deadline += TICK_NS;
        if (t - last_stats >= 1000000000ll) {
            write_stats(rate, set_pages, written, pass - 1, (t - start) / 1e9);
            last_stats = t;
        }
    }
}
