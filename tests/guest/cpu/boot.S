/*
 * Freestanding test guest: multiboot (a.out kludge) entry in 32-bit protected mode, switch
 * to long mode with 1 GiB identity-mapped by 2 MiB pages, then kmain(). Loadable by Debian's
 * QEMU with -kernel and by our test harness at the same address.
 *
 * GDT: 0x08 kernel code64, 0x10 kernel data, 0x18 user code32 (sysret base), 0x20 user
 * data, 0x28 user code64, 0x30 TSS (16 bytes).
 */
    .section .multiboot, "a"
    .align 4
mb_header:
    .long 0x1BADB002
    .long 0x00010002
    .long -(0x1BADB002 + 0x00010002)
    .long mb_header
    .long _load_start
    .long _load_end
    .long _bss_end
    .long _start32

    .text
    .code32
    .globl _start32
_start32:
    cli
    movl %ebx, mb_info
    /* 512 x 2 MiB user-accessible pages in pd */
    movl $pd, %edi
    movl $0x87, %eax
    movl $512, %ecx
1:  movl %eax, (%edi)
    movl $0, 4(%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b
    movl $pdpt + 7, pml4
    movl $pd + 7, pdpt
    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x620, %eax            /* PAE OSFXSR OSXMMEXCPT */
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x901, %eax            /* SCE LME NXE */
    wrmsr
    movl %cr0, %eax
    andl $~0xc, %eax            /* EM TS off */
    orl $0x80010023, %eax       /* PG WP NE MP PE */
    movl %eax, %cr0
    lgdt gdt_ptr
    ljmp $0x08, $start64

    .code64
start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    leaq stack_top(%rip), %rsp
    call kmain
2:  hlt
    jmp 2b

/* interrupt stubs: push a dummy error code where the CPU pushes none */
    .macro ISR n
isr\n:
    .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17)
    .else
    pushq $0
    .endif
    pushq $\n
    jmp isr_common
    .endm

    .altmacro
    .set i, 0
    .rept 64
    ISR %i
    .set i, i + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call trap
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    .macro ISRADDR n
    .quad isr\n
    .endm
    .section .rodata
    .globl isr_table
isr_table:
    .set i, 0
    .rept 64
    ISRADDR %i
    .set i, i + 1
    .endr

    .text
    .globl syscall_entry
syscall_entry:
    movq %rsp, user_rsp(%rip)
    leaq syscall_stack_top(%rip), %rsp
    pushq %rcx
    pushq %r11
    movq %rax, %rdi
    call do_syscall
    popq %r11
    popq %rcx
    movq user_rsp(%rip), %rsp
    sysretq

/* enter_user(fn, stack): iretq to ring 3 */
    .globl enter_user
enter_user:
    pushq $0x23
    pushq %rsi
    pushq $0x202
    pushq $0x2b
    pushq %rdi
    iretq

    .data
    .align 16
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08 kernel code64 */
    .quad 0x00cf92000000ffff    /* 0x10 kernel data */
    .quad 0x00cffa000000ffff    /* 0x18 user code32 */
    .quad 0x00cff2000000ffff    /* 0x20 user data */
    .quad 0x00affa000000ffff    /* 0x28 user code64 */
    .globl gdt_tss
gdt_tss:
    .quad 0                     /* 0x30 TSS, filled by kmain */
    .quad 0
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
    .globl mb_info
mb_info:
    .quad 0
user_rsp:
    .quad 0

    .bss
    .align 4096
pml4: .skip 4096
pdpt: .skip 4096
    .globl pd
pd: .skip 4096
    .skip 16384
stack_top:
    .skip 8192
syscall_stack_top:
    .section .note.GNU-stack, "", @progbits
