/*
 * A boot sector for tests/functional/test_firmware.py: reads its disk's second sector through
 * the BIOS (int 13h), prints the text found there through int 10h (SeaBIOS's serial console),
 * then leaves through isa-debug-exit (status (0x10 << 1) | 1).
 */
    .include "start16.inc"
    mov $0x0201, %ax        /* read one sector */
    mov $0x0002, %cx        /* cylinder 0, sector 2 */
    xor %dh, %dh            /* head 0; dl: the boot drive, from the BIOS */
    mov $0x7e00, %bx
    int $0x13
    mov $0x7e00, %si
    jnc print
    mov $failed, %si
print:
    lodsb
    test %al, %al
    jz done
    mov $0x0e, %ah
    mov $7, %bx
    int $0x10
    jmp print
done:
    mov $0x501, %dx
    mov $0x10, %al
    out %al, %dx
1:  hlt
    jmp 1b
failed:
    .asciz "MBR: int 13h failed\r\n"
    .org 510
    .byte 0x55, 0xaa
    .asciz "MBR-MARKER: the second sector, read through int 13h\r\n.\r\n"
    .org 1024
