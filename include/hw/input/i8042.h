/*
 * The i8042 keyboard controller at 0x60 (data) / 0x64 (status, command), as much as a Linux
 * guest needs to probe it quickly and to reset the machine: controller self-test, the command
 * byte, the output port (bit 0 low = reset, bit 1 = A20), pulse-reset commands (0xfe), AUX
 * loopback, and a keyboard that acknowledges its commands (reset, identify, LEDs, rates).
 * There is no mouse: commands sent to the AUX device are refused (0xfe), which Linux's psmouse
 * takes as "nothing there" at once instead of timing out.
 *
 * Output buffer: a byte queue; OBF (status bit 0) while non-empty, AUX bit 5 for AUX bytes;
 * IRQ 1 (keyboard bytes) / IRQ 12 (AUX bytes) while the head byte waits and the command byte
 * enables that interrupt.
 */
#ifndef HW_INPUT_I8042_H
#define HW_INPUT_I8042_H

#include <glib.h>
#include <stdbool.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"

typedef struct I8042State I8042State;
typedef void (*I8042ResetFn)(void *opaque);

I8042State *i8042_new(IrqLine *kbd_irq, IrqLine *aux_irq, I8042ResetFn reset, void *opaque);
void i8042_free(I8042State *s);
void i8042_reset(I8042State *s);
bool i8042_register_ports(I8042State *s, IoSpace *io, GError **errp);
extern const DeviceContract i8042_device;

#endif
