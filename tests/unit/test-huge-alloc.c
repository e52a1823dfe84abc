/* huge_alloc0: zeroed, writable, 2 MiB aligned when that large, unmapped again by huge_free. */
#include "util/huge-alloc.h"

#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Whether the page at @p is mapped (mincore fails with ENOMEM on an unmapped range). */
static bool mapped(const void *p)
{
    unsigned char vec;
    long page = sysconf(_SC_PAGESIZE);
    void *base = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
    return mincore(base, 1, &vec) == 0;
}

static void check_block(size_t size)
{
    uint8_t *p = huge_alloc0(size);
    g_assert_nonnull(p);
    if (size >= HUGE_ALLOC_ALIGN) {
        g_assert_cmpuint((uintptr_t)p % HUGE_ALLOC_ALIGN, ==, 0);
    }
    for (size_t i = 0; i < size; i += 4093) {
        g_assert_cmpuint(p[i], ==, 0);
        p[i] = (uint8_t)(i | 1);
    }
    g_assert_cmpuint(p[size - 1], ==, 0);
    p[size - 1] = 0x5a;
    for (size_t i = 0; i < size; i += 4093) {
        g_assert_cmpuint(p[i], ==, (uint8_t)(i | 1));
    }
    g_assert_true(mapped(p));
    g_assert_true(mapped(p + size - 1));
    huge_free(p, size);
    g_assert_false(mapped(p));
    g_assert_false(mapped(p + size - 1));
}

static void test_sizes(void)
{
    check_block(100);
    check_block(HUGE_ALLOC_ALIGN);
    /* not a page multiple: the tail trimmed after it must not cut into its last page */
    check_block(3 * HUGE_ALLOC_ALIGN + 12345);
    huge_free(NULL, 4096);
}

/* The bytes this process has mapped, from /proc/self/maps. */
static uint64_t mapped_total(void)
{
    /* read without allocating: a heap grown by the read itself would count as a mapping */
    static char maps[1 << 20];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0) {
        len += n;
    }
    close(fd);
    g_assert_cmpuint(len, <, sizeof(maps) - 1);
    maps[len] = 0;
    uint64_t total = 0;
    for (char *line = maps; *line;) {
        unsigned long long lo, hi;
        g_assert_cmpint(sscanf(line, "%llx-%llx", &lo, &hi), ==, 2);
        total += hi - lo;
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    return total;
}

/* Whether the mapping that starts at @p is marked for huge pages (VmFlags "hg" in smaps). */
static bool marked_huge(const void *p)
{
    g_autofree char *smaps = NULL;
    g_assert_true(g_file_get_contents("/proc/self/smaps", &smaps, NULL, NULL));
    g_autofree char *head = g_strdup_printf("%llx-", (unsigned long long)(uintptr_t)p);
    char *at = strstr(smaps, head);
    g_assert_nonnull(at);
    char *flags = strstr(at, "VmFlags:");
    g_assert_nonnull(flags);
    char *eol = strchr(flags, '\n');
    if (eol) {
        *eol = 0;
    }
    return strstr(flags, " hg") != NULL;
}

/* The block is marked for huge pages whenever this host's kernel takes the advice. */
static void test_marked(void)
{
    size_t size = 2 * HUGE_ALLOC_ALIGN;
    void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(probe != MAP_FAILED);
    bool thp = madvise(probe, 4096, MADV_HUGEPAGE) == 0;
    munmap(probe, 4096);
    if (!thp) {
        g_test_skip("this kernel has no transparent huge pages");
        return;
    }
    void *p = huge_alloc0(size);
    g_assert_true(marked_huge(p));
    huge_free(p, size);
}

/* What stays mapped is the block alone: the slack mapped to find an aligned start is given
 * back, and huge_free gives back all of it. */
static void test_no_slack(void)
{
    size_t size = 5 * HUGE_ALLOC_ALIGN + 4096 + 100;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t before = mapped_total();
    uint8_t *p = huge_alloc0(size);
    g_assert_cmpuint(mapped_total() - before, ==, (size + page - 1) / page * page);
    huge_free(p, size);
    g_assert_cmpuint(mapped_total(), ==, before);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/huge-alloc/sizes", test_sizes);
    g_test_add_func("/huge-alloc/no-slack", test_no_slack);
    g_test_add_func("/huge-alloc/marked", test_marked);
    return g_test_run();
}
