/*
 * System-level CPU test guest: exceptions with their error codes and CR2, page faults that
 * are fixed up and restarted, NX, write protection, an external interrupt, ring 3 with
 * syscall/sysret, a fault from ring 3 onto the TSS stack, and a double fault on an IST stack.
 * Prints one line per check on the debug port; "ALL OK" at the end, exit status 0.
 */
#include "guest.h"

struct frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vec, err, rip, cs, rflags, rsp, ss;
};

struct idt_entry {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
} __attribute__((packed));

extern uint64_t isr_table[64];
extern uint64_t pd[512];
extern uint64_t gdt_tss[2];
extern void syscall_entry(void);
extern void enter_user(void (*fn)(void), uint64_t stack);

static struct idt_entry idt[64];
static struct {
    uint32_t r0;
    uint64_t rsp[3];
    uint64_t r1;
    uint64_t ist[7];
    uint64_t r2;
    uint16_t r3, iomap;
} __attribute__((packed)) tss;

static uint8_t ist1_stack[4096] __attribute__((aligned(16)));
static uint8_t ring0_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static volatile uint64_t last_vec, last_err, last_cr2, last_cs, last_rsp, count[64];
static volatile int skip_bytes;
static int failures;
static void *resume_point[5];

static void check(const char *what, int ok)
{
    puts_(ok ? "ok   " : "FAIL ");
    puts_(what);
    puts_("\n");
    if (!ok) {
        failures++;
    }
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline void invlpg(uint64_t a)
{
    __asm__ volatile("invlpg (%0)" : : "r"(a) : "memory");
}

static void set_gate(int v, int ist, int dpl)
{
    uint64_t a = isr_table[v];
    idt[v].off0 = a;
    idt[v].sel = 0x08;
    idt[v].ist = ist;
    idt[v].type = 0x8e | (dpl << 5);
    idt[v].off1 = a >> 16;
    idt[v].off2 = a >> 32;
    idt[v].zero = 0;
}

void trap(struct frame *f)
{
    last_vec = f->vec;
    last_err = f->err;
    last_cs = f->cs;
    last_rsp = (uint64_t)f;
    count[f->vec & 63]++;
    switch (f->vec) {
    case 14:
        last_cr2 = read_cr2();
        /* fix the mapping: the faulting instruction is restarted */
        pd[last_cr2 >> 21] = ((last_cr2 >> 21) << 21) | 0x87;
        invlpg(last_cr2);
        return;
    case 8:
        __builtin_longjmp(resume_point, 1);
    default:
        if (f->vec < 32) {
            f->rip += skip_bytes;
        }
        return;
    }
}

uint64_t do_syscall(uint64_t nr)
{
    if (nr == 1) {
        puts_("syscall from ring 3\n");
        return 42;
    }
    if (nr == 99) {
        __builtin_longjmp(resume_point, 1);
    }
    return (uint64_t)-1;
}

static volatile uint64_t user_result, user_pf_err, user_gp;

static void user_main(void)
{
    uint64_t r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1ul) : "rcx", "r11", "memory");
    user_result = r;
    /* a not-present page from ring 3: delivered on the TSS rsp0 stack */
    volatile uint64_t *p = (uint64_t *)(103ul << 21);
    (void)*p;
    user_pf_err = last_err;
    /* cli at CPL 3 with IOPL 0: #GP(0), skipped by the handler */
    skip_bytes = 1;
    __asm__ volatile("cli");
    user_gp = count[13];
    __asm__ volatile("syscall" : : "a"(99ul) : "rcx", "r11", "memory");
}

void kmain(void)
{
    puts_("cpu systest\n");
    for (int v = 0; v < 64; v++) {
        set_gate(v, 0, 0);
    }
    set_gate(3, 0, 3);
    set_gate(8, 1, 0);
    struct {
        uint16_t lim;
        uint64_t base;
    } __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));

    tss.rsp[0] = (uint64_t)(ring0_stack + sizeof(ring0_stack));
    tss.ist[0] = (uint64_t)(ist1_stack + sizeof(ist1_stack));
    tss.iomap = sizeof(tss);
    uint64_t base = (uint64_t)&tss, lim = sizeof(tss) - 1;
    gdt_tss[0] =
        (lim & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) | (((base >> 24) & 0xff) << 56);
    gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(0x30));

    check("long mode active (EFER.LMA)", (rdmsr(0xc0000080) & 0x400) != 0);

    __asm__ volatile("int3");
    check("int3 -> #BP handler", last_vec == 3 && count[3] == 1);

    skip_bytes = 2;
    __asm__ volatile("ud2");
    check("ud2 -> #UD", last_vec == 6);

    skip_bytes = 3;
    __asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; .byte 0x48, 0xf7, 0xf1"
                     :
                     :
                     : "rax", "rcx", "rdx");
    check("div by zero -> #DE", last_vec == 0);

    /* not-present page: #PF err 0 (read, supervisor), CR2, restart succeeds */
    uint64_t addr = (100ul << 21) + 0x123;
    pd[100] = 0;
    invlpg(addr);
    volatile uint8_t *p8 = (volatile uint8_t *)addr;
    uint8_t v = *p8;
    (void)v;
    check("#PF not present: err=0", last_vec == 14 && last_err == 0);
    check("#PF CR2 = faulting address", last_cr2 == addr);

    /* write to a read-only page with CR0.WP: err = P|W */
    pd[101] = (101ul << 21) | 0x85;
    invlpg(101ul << 21);
    *(volatile uint64_t *)((101ul << 21) + 8) = 7;
    check("#PF write protect: err=3", last_vec == 14 && last_err == 3);
    check("store after fixup landed", *(volatile uint64_t *)((101ul << 21) + 8) == 7);

    /* NX: execute from a no-execute page: err = P|I */
    uint8_t *code = (uint8_t *)(102ul << 21);
    code[0] = 0xc3;
    pd[102] = (102ul << 21) | 0x87 | (1ul << 63);
    invlpg((uint64_t)code);
    ((void (*)(void))code)();
    check("#PF NX fetch: err=0x11", last_vec == 14 && last_err == 0x11);

    /* accessed/dirty bits set by the walk */
    pd[104] = (104ul << 21) | 0x87;
    invlpg(104ul << 21);
    *(volatile uint64_t *)(104ul << 21) = 1;
    check("A and D bits set on write", (*(volatile uint64_t *)&pd[104] & 0x60) == 0x60);

    /* an external interrupt, taken when IF=1 */
    outb(IRQ_PORT, 0x30);
    check("no interrupt while IF=0", count[0x30] == 0);
    __asm__ volatile("sti; nop; nop; cli");
    check("external interrupt 0x30 delivered", count[0x30] == 1);

    /* ring 3, syscall/sysret, #PF and #GP from ring 3 */
    wrmsr(0xc0000081, (0x18ul << 48) | (0x08ul << 32));
    wrmsr(0xc0000082, (uint64_t)syscall_entry);
    wrmsr(0xc0000084, 0x200);
    pd[103] = 0;
    invlpg(103ul << 21);
    if (!__builtin_setjmp(resume_point)) {
        enter_user(user_main, (uint64_t)(user_stack + sizeof(user_stack)));
    }
    __asm__ volatile("mov $0x10, %%ax; mov %%ax, %%ds; mov %%ax, %%es" : : : "rax");
    check("syscall returned 42 to ring 3", user_result == 42);
    check("#PF from ring 3: err=U (4)", user_pf_err == 4);
    check("#PF from ring 3 on TSS rsp0 stack",
          last_rsp >= (uint64_t)ring0_stack && last_rsp < (uint64_t)ring0_stack + 4096);
    check("cli at CPL 3 -> #GP", user_gp == 1);

    /* double fault: #GP whose gate is not present -> #NP -> #DF on IST1 */
    idt[13].type &= 0x7f;
    if (!__builtin_setjmp(resume_point)) {
        __asm__ volatile("mov %0, %%ds" : : "r"(0x1234)); /* #GP: bad selector */
    }
    check("#DF delivered on IST1 stack", last_vec == 8 && last_rsp >= (uint64_t)ist1_stack &&
                                             last_rsp < (uint64_t)ist1_stack + 4096);

    puts_(failures ? "FAILED\n" : "ALL OK\n");
    guest_exit(failures ? 1 : 0);
}
