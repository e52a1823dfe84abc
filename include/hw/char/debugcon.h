/*
 * -device isa-debugcon[,iobase=0xe9][,readback=0xe9],chardev=ID: one port whose writes go to a
 * chardev byte by byte, and whose reads give readback, as upstream's. SeaBIOS writes its debug
 * log to 0x402 (-device isa-debugcon,iobase=0x402,chardev=ID shows it). No state to save.
 */
#ifndef HW_CHAR_DEBUGCON_H
#define HW_CHAR_DEBUGCON_H

#include "hw/core/device.h"

extern const DeviceContract isa_debugcon_device;

void isa_debugcon_register_type(void);

#endif
