/* Freestanding helpers for the CPU test guests: debug port output, exit, CPU access. */
#ifndef TESTS_GUEST_CPU_GUEST_H
#define TESTS_GUEST_CPU_GUEST_H

typedef unsigned long uint64_t;
typedef unsigned int uint32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;

#define DEBUG_PORT 0xe9 /* QEMU isa-debugcon */
#define EXIT_PORT  0xf4 /* QEMU isa-debug-exit: exit status (v << 1) | 1 */
#define IRQ_PORT   0xe8 /* test harness: raise the interrupt line with this vector */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline void puts_(const char *s)
{
    while (*s) {
        outb(DEBUG_PORT, *s++);
    }
}

static inline void puthex(uint64_t v)
{
    char buf[19];
    buf[0] = '0';
    buf[1] = 'x';
    int n = 2;
    int started = 0;
    for (int i = 60; i >= 0; i -= 4) {
        int d = (v >> i) & 15;
        if (d || started || i == 0) {
            buf[n++] = "0123456789abcdef"[d];
            started = 1;
        }
    }
    buf[n] = 0;
    puts_(buf);
}

static inline void putdec(uint64_t v)
{
    char buf[21];
    int n = 20;
    buf[n] = 0;
    do {
        buf[--n] = '0' + v % 10;
        v /= 10;
    } while (v);
    puts_(buf + n);
}

static inline void guest_exit(uint32_t code)
{
    outl(EXIT_PORT, code);
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* Multiboot info: the command line (flags bit 2) */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

extern uint64_t mb_info;

static inline uint64_t cmdline_number(uint64_t dflt)
{
    struct mb_info *mb = (struct mb_info *)mb_info;
    if (!mb || !(mb->flags & 4) || !mb->cmdline) {
        return dflt;
    }
    const char *s = (const char *)(uint64_t)mb->cmdline;
    /* the last word of the command line */
    const char *w = s;
    for (const char *p = s; *p; p++) {
        if (*p == ' ') {
            w = p + 1;
        }
    }
    uint64_t v = 0;
    int any = 0;
    for (; *w >= '0' && *w <= '9'; w++) {
        v = v * 10 + (*w - '0');
        any = 1;
    }
    return any ? v : dflt;
}

#endif
