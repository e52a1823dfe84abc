/*
 * A bare-metal test kernel: reports on COM1 what the multiboot loader handed over, exercises
 * pc-testdev and a few CPU operations, and leaves through isa-debug-exit. Everything it prints
 * must be the same under Debian's QEMU and ours, so it prints facts both machines share (not
 * the BIOS's exact memory map, which differs).
 *
 * Command line words: exit=N (value written to the exit port), port=N (the port, default
 * 0x501), testdev (exercise pc-testdev), fault (divide by zero with no IDT: a triple fault).
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

extern u32 entry_eax, entry_ebx, entry_cs, entry_ds, entry_ss, entry_eflags, entry_cr0;

static inline void outb(u16 port, u8 v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(u16 port, u16 v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(u16 port, u32 v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline u16 inw(u16 port)
{
    u16 v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline u32 inl(u16 port)
{
    u32 v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void putc(char c)
{
    while (!(inb(0x3fd) & 0x20)) {
    }
    outb(0x3f8, c);
}

static void puts(const char *s)
{
    while (*s) {
        putc(*s++);
    }
}

static void puthex(u32 v)
{
    puts("0x");
    for (int i = 28; i >= 0; i -= 4) {
        putc("0123456789abcdef"[(v >> i) & 15]);
    }
}

static void putdec(u32 v)
{
    char buf[12];
    int n = 0;
    do {
        buf[n++] = '0' + v % 10;
        v /= 10;
    } while (v);
    while (n) {
        putc(buf[--n]);
    }
}

static void field(const char *name, u32 v)
{
    puts(name);
    puts("=");
    puthex(v);
    puts("\n");
}

/* The value of word "key=N" in s (decimal or 0x hex), or dflt. */
static u32 word_value(const char *s, const char *key, u32 dflt)
{
    for (const char *p = s; *p; p++) {
        if (p != s && p[-1] != ' ') {
            continue;
        }
        const char *k = key, *q = p;
        while (*k && *q == *k) {
            k++, q++;
        }
        if (*k || *q != '=') {
            continue;
        }
        q++;
        u32 v = 0, base = 10;
        if (q[0] == '0' && q[1] == 'x') {
            base = 16;
            q += 2;
        }
        for (;; q++) {
            u32 d;
            if (*q >= '0' && *q <= '9') {
                d = *q - '0';
            } else if (base == 16 && *q >= 'a' && *q <= 'f') {
                d = *q - 'a' + 10;
            } else {
                break;
            }
            v = v * base + d;
        }
        return v;
    }
    return dflt;
}

static int has_word(const char *s, const char *w)
{
    for (const char *p = s; *p; p++) {
        if (p != s && p[-1] != ' ') {
            continue;
        }
        const char *k = w, *q = p;
        while (*k && *q == *k) {
            k++, q++;
        }
        if (!*k && (*q == ' ' || !*q)) {
            return 1;
        }
    }
    return 0;
}

static u32 crc32(const u8 *p, u32 n)
{
    u32 c = 0xffffffff;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320 & -(c & 1));
        }
    }
    return ~c;
}

static void report_boot(const u32 *mbi)
{
    field("eax", entry_eax);
    field("ebx", entry_ebx);
    field("cs", entry_cs);
    field("ds", entry_ds);
    field("ss", entry_ss);
    field("eflags.if", entry_eflags & 0x200);
    field("cr0.pe_pg", entry_cr0 & 0x80000001);
    field("flags", mbi[0]);
    field("mem_lower", mbi[1]);
    puts("mem_upper_plausible=");
    putdec(mbi[2] > 100000 && mbi[2] < 140000);
    puts("\n");
    field("boot_device", mbi[3]);
    puts("cmdline=");
    puts((const char *)mbi[4]);
    puts("\n");
    u32 count = mbi[5];
    const u32 *mods = (const u32 *)mbi[6];
    field("mods_count", count);
    for (u32 i = 0; i < count; i++) {
        const u32 *m = mods + 4 * i;
        puts("mod ");
        putdec(i);
        puts(" cmdline=");
        puts((const char *)m[2]);
        puts(" size=");
        putdec(m[1] - m[0]);
        puts(" page_aligned=");
        putdec((m[0] & 0xfff) == 0);
        puts(" after_kernel=");
        putdec(m[0] > (u32)&entry_eax);
        puts(" crc=");
        puthex(crc32((const u8 *)m[0], m[1] - m[0]));
        puts("\n");
    }
    /* the map: RAM from 0 and RAM from 1 MiB, whatever else the BIOS reserves */
    u32 len = mbi[11], addr = mbi[12];
    int low = 0, high = 0, sizes_ok = 1;
    for (u32 off = 0; off < len;) {
        const u8 *e = (const u8 *)(addr + off);
        u32 size = *(const u32 *)e;
        u64 base = *(const u64 *)(e + 4);
        u32 type = *(const u32 *)(e + 20);
        sizes_ok &= size == 20;
        low |= type == 1 && base == 0;
        high |= type == 1 && base == 0x100000;
        off += size + 4;
    }
    puts("mmap low_ram=");
    putdec(low);
    puts(" ram_1m=");
    putdec(high);
    puts(" entry_sizes_20=");
    putdec(sizes_ok);
    puts("\n");
    puts("loader=");
    puts((const char *)mbi[16]);
    puts("\n");
}

static void check(const char *what, u32 got, u32 want)
{
    puts(what);
    puts(got == want ? " ok " : " BAD ");
    puthex(got);
    puts("\n");
}

static void exercise_testdev(void)
{
    outl(0xe0, 0x12345678);
    check("testdev inb(0xe1)", inb(0xe1), 0x56);
    check("testdev inw(0xe2)", inw(0xe2), 0x1234);
    outw(0xe2, 0xabcd);
    check("testdev inl(0xe0)", inl(0xe0), 0xabcd5678);
    outb(0xe3, 0x01);
    check("testdev inl(0xe8)", inl(0xe8), 0x01cd5678);
    outl(0xe8, 0xdeadbeef);
    check("testdev inl(0xe0) after 0xe8", inl(0xe0), 0xdeadbeef);
    check("testdev inb(0xea)", inb(0xea), 0xad);
    check("testdev flush read", inl(0xe4), 0);
    outl(0xe4, 0x100000);
    volatile u32 *mem = (volatile u32 *)0xff000000;
    mem[0] = 0xcafebabe;
    mem[0x3fff] = 0x11223344;
    check("testdev iomem[0]", mem[0], 0xcafebabe);
    check("testdev iomem u16", *(volatile u16 *)0xff000002, 0xcafe);
    check("testdev iomem end", mem[0x3fff], 0x11223344);
    check("testdev irq read", inb(0x2000), 0);
}

static void exercise_cpu(void)
{
    volatile u32 a = 0x9e3779b9, b = 12345;
    u64 p = (u64)a * b;
    check("mul hi", (u32)(p >> 32), 0x1dcd);
    check("mul lo", (u32)p, 0xa12cca31);
    check("div", a / b, 215021);
    check("mod", a % b, 1524);
    u32 bsf, bsr;
    __asm__("bsf %1, %0" : "=r"(bsf) : "r"(0x00f00000u));
    __asm__("bsr %1, %0" : "=r"(bsr) : "r"(0x00f00000u));
    check("bsf", bsf, 20);
    check("bsr", bsr, 23);
    static char src[64] = "the quick brown fox jumps over the lazy dog";
    static char dst[64];
    char *s = src, *d = dst;
    u32 n = 44;
    __asm__ volatile("rep movsb" : "+S"(s), "+D"(d), "+c"(n) : : "memory");
    check("rep movsb crc", crc32((const u8 *)dst, 44), crc32((const u8 *)src, 44));
}

void kmain(void)
{
    const u32 *mbi = (const u32 *)entry_ebx;
    const char *cmdline = (const char *)mbi[4];
    puts("baremetal test kernel\n");
    report_boot(mbi);
    exercise_cpu();
    if (has_word(cmdline, "testdev")) {
        exercise_testdev();
    }
    if (has_word(cmdline, "fault")) {
        puts("dividing by zero\n");
        u32 z = 0, q, r;
        /* in assembly: C's 1 / z may be folded into z == 1 */
        __asm__ volatile("divl %2" : "=a"(q), "=d"(r) : "rm"(z), "a"(1), "d"(0));
        putdec(q);
    }
    u32 port = word_value(cmdline, "port", 0x501);
    u32 code = word_value(cmdline, "exit", 0);
    puts("exit ");
    putdec(code);
    puts("\n");
    outb((u16)port, (u8)code);
    puts("still running after the exit port\n");
}
