/*
 * Dirty-map test guest: writes RAM by every path the CPU has, forever, with values that keep
 * changing, so that a host that syncs its dirty readers at arbitrary points can check that each
 * changed page was reported. Paths: plain stores of each width (aligned, unaligned, straddling
 * pages), push/call, SSE stores, rep stos/movs both ways, locked and implicit atomics (bt* too),
 * cmpxchg8b, fxsave, page-table accessed/dirty bits set by the MMU's walk, and a segment
 * descriptor's accessed bit set by a segment load. Nothing is printed: the host stops it.
 *
 * Each path writes its own 64-page window above 16 MiB (identity-mapped by boot.S's 2 MiB
 * pages); the host checks that every window changed.
 */
#include "guest.h"

#define WIN_PAGES 64
#define WIN_SIZE  (WIN_PAGES * 4096ul)
#define WIN(n)    ((uint8_t *)(0x1000000ul + (n)*WIN_SIZE))
/* The A/D path uses 2 MiB pages from 64 MiB up: pd entries 32..63. */
#define AD_FIRST 32
#define AD_COUNT 32

extern uint64_t pd[512];

static uint64_t seed = 0x9e3779b97f4a7c15ul;

static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static void plain_stores(uint8_t *w)
{
    uint64_t v = rnd();
    uint64_t off = rnd() % (WIN_SIZE - 16);
    switch (v & 7) {
    case 0:
        *(volatile uint8_t *)(w + off) = v >> 8;
        break;
    case 1:
        *(volatile uint16_t *)(w + (off & ~1ul)) = v >> 8;
        break;
    case 2:
        *(volatile uint32_t *)(w + (off & ~3ul)) = v >> 8;
        break;
    case 3:
        *(volatile uint64_t *)(w + (off & ~7ul)) = v >> 8;
        break;
    case 4:
        /* straddles two pages: the CPU's split-store path */
        *(volatile uint64_t *)(w + (rnd() % (WIN_PAGES - 1)) * 4096 + 4092) = v;
        break;
    case 5:
        *(volatile uint32_t *)(w + off + 1) = v >> 3; /* unaligned */
        break;
    case 6: {
        /* 16-byte SSE store */
        uint64_t pair[2] = {v, ~v};
        __asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqu %%xmm0, (%1)"
                         :
                         : "r"(pair), "r"(w + off)
                         : "memory"); /* no xmm clobber: this guest's C never uses SSE */
        break;
    }
    default:
        /* a push into a page of the window, then back */
        __asm__ volatile("mov %%rsp, %%rbx\n\t"
                         "mov %0, %%rsp\n\t"
                         "push %1\n\t"
                         "mov %%rbx, %%rsp"
                         :
                         : "r"(w + (off & ~7ul) + 8), "r"(v)
                         : "rbx", "memory");
        break;
    }
}

static void string_stores(uint8_t *w)
{
    uint64_t v = rnd();
    uint64_t len = 1 + rnd() % 9000; /* up to three pages */
    uint64_t off = rnd() % (WIN_SIZE / 2 - len);
    uint8_t *dst = w + off;
    switch (v & 3) {
    case 0:
        __asm__ volatile("rep stosb" : "+D"(dst), "+c"(len) : "a"(v >> 8) : "memory");
        break;
    case 1:
        len /= 8;
        dst = (uint8_t *)((uint64_t)dst & ~7ul);
        __asm__ volatile("rep stosq" : "+D"(dst), "+c"(len) : "a"(v) : "memory");
        break;
    case 2: {
        /* copy from the other half of the window, which keeps changing */
        uint8_t *src = w + WIN_SIZE / 2 + rnd() % (WIN_SIZE / 2 - len);
        *(volatile uint64_t *)((uint64_t)src & ~7ul) = v;
        __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(len) : : "memory");
        break;
    }
    default: {
        /* backwards: std; rep movsq from the top */
        uint64_t n = len / 8 + 1;
        uint64_t *s = (uint64_t *)(w + WIN_SIZE / 2) + (rnd() % (WIN_SIZE / 16 - n)) + n - 1;
        uint64_t *d = (uint64_t *)((uint64_t)dst & ~7ul) + n - 1;
        *s = v;
        __asm__ volatile("std\n\trep movsq\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
        break;
    }
    }
}

static void atomic_stores(uint8_t *w)
{
    uint64_t v = rnd();
    uint64_t *p = (uint64_t *)(w + (rnd() % WIN_SIZE & ~7ul));
    switch (v % 9) {
    case 0:
        __asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
        break;
    case 1: {
        uint64_t old = *p;
        __asm__ volatile("lock cmpxchgq %2, %1" : "+a"(old), "+m"(*p) : "r"(v) : "memory");
        break;
    }
    case 2:
        __asm__ volatile("xchgq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
        break;
    case 3:
        __asm__ volatile("lock orq %1, %0" : "+m"(*p) : "r"(v) : "memory");
        __asm__ volatile("lock incq %0" : "+m"(*p) : : "memory");
        break;
    case 4: {
        uint32_t lo = *(uint32_t *)p, hi = *((uint32_t *)p + 1);
        __asm__ volatile("lock cmpxchg8b %0"
                         : "+m"(*p), "+a"(lo), "+d"(hi)
                         : "b"((uint32_t)v), "c"((uint32_t)(v >> 32))
                         : "memory");
        break;
    }
    case 5:
        __asm__ volatile("lock btcq %1, %0" : "+m"(*p) : "r"(v & 63) : "memory");
        break;
    case 6: /* an immediate bit offset: the translator's own form (the host's locked btc) */
        __asm__ volatile("lock btcq $37, %0" : "+m"(*p) : : "memory");
        break;
    case 7:
        __asm__ volatile("btcl $5, %0" : "+m"(*(uint32_t *)p) : : "memory");
        break;
    default:
        __asm__ volatile("lock xaddl %k0, %1" : "+r"(v), "+m"(*(uint32_t *)p) : : "memory");
        break;
    }
}

static void fxsave_stores(uint8_t *w)
{
    uint64_t v = rnd();
    uint8_t *area = w + (rnd() % (WIN_SIZE / 512)) * 512;
    /* change the saved state first: st0 and xmm1 take v */
    __asm__ volatile("fninit\n\tfildq %0" : : "m"(v));
    __asm__ volatile("movq %0, %%xmm1" : : "r"(v));
    if (v & 1) {
        __asm__ volatile("fxsave64 (%0)" : : "r"(area) : "memory");
    } else {
        __asm__ volatile("fxsave (%0)" : : "r"(area) : "memory");
    }
}

/*
 * Clears a 2 MiB page's accessed and dirty bits, then touches the page: the MMU's walk sets
 * them again, a store into the page-table page that no instruction makes.
 */
static void ad_bits(void)
{
    uint64_t i = AD_FIRST + rnd() % AD_COUNT;
    volatile uint8_t *page = (volatile uint8_t *)(i << 21);
    pd[i] &= ~0x60ul;
    __asm__ volatile("invlpg (%0)" : : "r"(page) : "memory");
    if (rnd() & 1) {
        (void)page[rnd() % 4096];
    } else {
        page[rnd() % (1 << 21)] = rnd();
    }
}

/* Clears the kernel data descriptor's accessed bit and reloads %ds: the CPU sets it again. */
static void segment_accessed(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    volatile uint64_t *data = (volatile uint64_t *)(gdtr.base + 0x10);
    *data &= ~(1ul << 40);
    __asm__ volatile("mov %0, %%ds" : : "r"(0x10) : "memory");
}

/* boot.S's entry points; this guest takes no exceptions or system calls */
void trap(void *frame)
{
    puts_("unexpected exception\n");
    guest_exit(2);
}

uint64_t do_syscall(uint64_t nr)
{
    return 0;
}

void kmain(void)
{
    for (;;) {
        switch (rnd() % 8) {
        case 0:
        case 1:
            plain_stores(WIN(0));
            break;
        case 2:
            string_stores(WIN(1));
            break;
        case 3:
        case 4:
            atomic_stores(WIN(2));
            break;
        case 5:
            fxsave_stores(WIN(3));
            break;
        case 6:
            ad_bits();
            break;
        default:
            segment_accessed();
            break;
        }
    }
}
