/*
 * The i8254 PIT at 0x40..0x43 (1.193182 MHz) and port 0x61 (channel 2 gate, speaker enable,
 * OUT2 and the refresh toggle), as Linux uses them: channel 0 as the tick in mode 2/3 or a
 * one-shot in mode 0 on IRQ 0, channel 2 gated through port 0x61 for TSC calibration.
 *
 * Per-channel access state for 16-bit counts (rw mode 3):
 *
 *   write: LSB ─► MSB ─► (count loaded, counting restarts) ─► LSB ...
 *   read:  LSB ─► MSB ─► LSB ...   a latch command freezes the value until both bytes are read
 *
 * Counts are not stepped: they are computed from the virtual clock at the time of the access.
 */
#ifndef HW_TIMER_I8254_H
#define HW_TIMER_I8254_H

#include <glib.h>
#include <stdbool.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"
#include "hw/core/timer.h"

#define PIT_FREQ 1193182

typedef struct I8254State I8254State;

I8254State *i8254_new(HwClock *clock, IrqLine *irq0);
void i8254_free(I8254State *pit);
void i8254_reset(I8254State *pit);
bool i8254_register_ports(I8254State *pit, IoSpace *io, GError **errp);
/* The PIT and port 0x61 as one machine device (hw/core/device.h). */
extern const DeviceContract i8254_device;

typedef struct I8254ChannelInfo {
    int mode;
    int count; /* reload value, 0x10000 for 0 */
    int gate;
    int out;
    int current; /* counter value now */
} I8254ChannelInfo;
void i8254_get_channel(I8254State *pit, int ch, I8254ChannelInfo *out);
/* IRQ 0 edges raised so far (statistics). */
uint64_t i8254_irq_count(I8254State *pit);

#endif
