/*
 * -device isa-debug-exit[,iobase=0x501][,iosize=2]: a port range whose writes end the process
 * with status (value << 1) | 1, so that test kernels report pass or fail through QEMU's exit
 * status. Reads give 0, as upstream's do. No state to save: the
 * device has none.
 *
 *   guest: out iobase, V ─► DeviceHost.guest_exit((V << 1) | 1) ─► exit, output flushed
 */
#ifndef HW_MISC_ISA_DEBUG_EXIT_H
#define HW_MISC_ISA_DEBUG_EXIT_H

#include "hw/core/device.h"

#define ISA_DEBUG_EXIT_IOBASE 0x501
#define ISA_DEBUG_EXIT_IOSIZE 2

extern const DeviceContract isa_debug_exit_device;

void isa_debug_exit_register_type(void);

#endif
