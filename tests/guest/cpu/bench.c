/*
 * CPU benchmark guest: an integer loop, a memory loop and string operations, repeated
 * N times (N from the multiboot command line). Prints a checksum so both CPUs can be
 * checked to have done the same work, then exits through isa-debug-exit.
 */
#include "guest.h"

static uint64_t buf_a[4096], buf_b[4096];

static uint64_t integer_loop(uint64_t n, uint64_t x)
{
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x += i * 3;
        if (x & 1) {
            x = (x >> 1) | (x << 63);
        }
    }
    return x;
}

static uint64_t memory_loop(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t k = 0; k < n; k++) {
        for (int i = 0; i < 4096; i++) {
            buf_a[i] = buf_a[(i * 7) & 4095] + i + k;
            s += buf_a[i];
        }
    }
    return s;
}

static uint64_t string_loop(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t cnt = sizeof(buf_a);
        void *d = buf_b, *src = buf_a;
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(cnt) : : "memory");
        cnt = sizeof(buf_a) / 8;
        d = buf_a;
        uint64_t val = k;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(cnt) : "a"(val) : "memory");
        s += buf_b[k & 4095];
    }
    return s;
}

/* Branchy code with calls and short blocks, the shape of kernel code. */
static __attribute__((noinline)) uint64_t classify(uint64_t v)
{
    if (v & 1) {
        return v * 3 + 1;
    }
    if ((v & 6) == 2) {
        return v >> 1;
    }
    return v ^ 0x55;
}

static uint64_t call_loop(uint64_t n)
{
    uint64_t s = 0, v = 7;
    for (uint64_t i = 0; i < n; i++) {
        v = classify(v + i);
        if (v > 1000000) {
            v &= 0xffff;
        }
        s += v;
    }
    return s;
}

/*
 * The command line is "[int|mem|str|call|all] N"; Debian's QEMU puts the kernel's path before
 * it, so only a whole word counts (a worktree named cpu-mem ran the memory loop in every row).
 */
static int has_word(const char *w)
{
    struct mb_info *mb = (struct mb_info *)mb_info;
    if (!mb || !(mb->flags & 4) || !mb->cmdline) {
        return 0;
    }
    const char *s = (const char *)(uint64_t)mb->cmdline;
    while (*s) {
        int i = 0;
        while (w[i] && s[i] == w[i]) {
            i++;
        }
        if (!w[i] && (s[i] == ' ' || !s[i])) {
            return 1;
        }
        while (*s && *s != ' ') {
            s++;
        }
        while (*s == ' ') {
            s++;
        }
    }
    return 0;
}

void kmain(void)
{
    uint64_t n = cmdline_number(10);
    int all = !has_word("int") && !has_word("mem") && !has_word("str") && !has_word("call");
    uint64_t x = 0, m = 0, s = 0, c = 0;
    if (all || has_word("int")) {
        x = integer_loop(n * 1000000, 88172645463325252ul);
    }
    if (all || has_word("mem")) {
        m = memory_loop(n * 250);
    }
    if (all || has_word("str")) {
        s = string_loop(n * 2000);
    }
    if (all || has_word("call")) {
        c = call_loop(n * 1000000);
    }
    puts_("bench n=");
    putdec(n);
    puts_(" checksum ");
    puthex(x ^ m ^ s ^ c);
    puts_("\n");
    guest_exit(0);
}

/* the benchmark takes no exceptions or system calls: any is a failure */
void trap(void *frame)
{
    puts_("unexpected exception\n");
    guest_exit(2);
}

uint64_t do_syscall(uint64_t nr)
{
    return 0;
}
