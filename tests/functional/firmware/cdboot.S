/*
 * An El Torito no-emulation boot image for tests/functional/test_firmware.py: prints the
 * BIOS's drive number for the CD, reads the ISO's primary volume descriptor (sector 16, 2048
 * bytes) through the int 13h extensions and prints its "CD001" identifier, then leaves
 * through isa-debug-exit (status (0x10 << 1) | 1). SeaBIOS loads it at 0x7c00 (07c0:0000).
 */
    .include "start16.inc"
    mov %dl, drive
    mov $booted, %si
    call puts
    mov drive, %al
    shr $4, %al
    call puthex
    mov drive, %al
    call puthex
    mov $crlf, %si
    call puts
    mov $dap, %si
    mov $0x42, %ah          /* extended read: the CD's 2048-byte sectors */
    mov drive, %dl
    int $0x13
    mov $failed, %si
    jc last
    movb $0, 0x8006         /* after "CD001" */
    mov $pvd, %si
    call puts
    mov $0x8001, %si
    call puts
    mov $tail, %si
last:
    call puts
    mov $0x501, %dx
    mov $0x10, %al
    out %al, %dx
1:  hlt
    jmp 1b

/* Prints the NUL-terminated text at %si through int 10h (SeaBIOS's serial console). */
puts:
    lodsb
    test %al, %al
    jz 2f
    mov $0x0e, %ah
    mov $7, %bx
    int $0x10
    jmp puts
2:  ret

/* Prints the low nibble of %al as a hex digit. */
puthex:
    and $0x0f, %al
    add $'0', %al
    cmp $'9', %al
    jbe 3f
    add $('a' - '9' - 1), %al
3:  mov $0x0e, %ah
    mov $7, %bx
    int $0x10
    ret

dap:
    .byte 0x10, 0
    .word 1                 /* one sector */
    .word 0x8000, 0         /* to 0000:8000 */
    .quad 16                /* the primary volume descriptor */
drive:
    .byte 0
booted:
    .asciz "CD-MARKER: booted from El Torito, drive 0x"
pvd:
    .asciz "CD-MARKER: volume descriptor "
failed:
    .asciz "CD: int 13h failed\r\n"
crlf:
    .asciz "\r\n"
tail: /* SeaBIOS's serial console holds back the last characters: a line to lose */
    .asciz "\r\n.\r\n"
