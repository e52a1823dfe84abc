/*
 * -device pc-testdev: QEMU's x86 test device, used by CPU and interrupt test kernels
 * (kvm-unit-tests style). What a guest sees:
 *
 *   port 0xe0-0xe3    a 32-bit scratch register, any width at any offset
 *   port 0xe4-0xe7    "flush page": a 32-bit write of a guest address; nothing to flush here,
 *                     reads 0
 *   port 0xe8-0xeb    the same register, taken a byte at a time
 *   port 0x2000-0x2017  byte writes set ISA IRQ (port - 0x2000) to (value != 0); reads 0
 *   MMIO 0xff000000   64 KiB of scratch memory
 *
 * The scratch register and memory are state, saved in the "pc-testdev" section.
 */
#ifndef HW_MISC_PC_TESTDEV_H
#define HW_MISC_PC_TESTDEV_H

#include "hw/core/device.h"

#define PC_TESTDEV_IOPORT    0xe0
#define PC_TESTDEV_FLUSH     0xe4
#define PC_TESTDEV_BYTEPORT  0xe8
#define PC_TESTDEV_IRQ       0x2000
#define PC_TESTDEV_IRQ_LINES 24
#define PC_TESTDEV_IOMEM     0xff000000ull
#define PC_TESTDEV_IOMEM_LEN 0x10000

extern const DeviceContract pc_testdev_device;

void pc_testdev_register_type(void);

#endif
