/* Multiboot v1 entry for the bare-metal test kernels (README in this folder). */
#define MB_MAGIC 0x1badb002
#ifdef AOUT_KLUDGE
#define MB_FLAGS 0x00010003 /* page-aligned modules, memory info, addresses in the header */
#else
#define MB_FLAGS 0x00000003
#endif

    .section .multiboot, "a"
    .align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
    .long mb_header
    .long _load_start
    .long _load_end
    .long _bss_end
    .long _start
#endif

    .text
    .globl _start
_start:
    /* the loader's state, before anything changes it */
    mov %eax, entry_eax
    mov %ebx, entry_ebx
    mov %cs, entry_cs
    mov %ds, entry_ds
    mov %ss, entry_ss
    pushf
    pop entry_eflags
    mov %cr0, %ecx
    mov %ecx, entry_cr0
    mov $stack_top, %esp
    call kmain
1:  hlt
    jmp 1b

    .bss
    .align 16
    .globl entry_eax, entry_ebx, entry_cs, entry_ds, entry_ss, entry_eflags, entry_cr0
entry_eax: .long 0
entry_ebx: .long 0
entry_cs: .long 0
entry_ds: .long 0
entry_ss: .long 0
entry_eflags: .long 0
entry_cr0: .long 0
    .space 16384
stack_top:
