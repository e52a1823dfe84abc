/*
 * The MC146818 CMOS RTC at 0x70 (index; bit 7 is the NMI mask) / 0x71 (data) on IRQ 8: the
 * clock registers 0-9 and the century (0x32) in BCD or binary, 12 or 24 hour, registers A-D
 * with the update-in-progress flag, periodic / alarm / update-ended interrupts, and the CMOS
 * bytes the pc machine fills (memory sizes at 0x15-0x18, 0x30/0x31, 0x34/0x35, 0x5b-0x5d).
 *
 * The time is kept as "guest seconds at virtual-clock time base_ns": it advances with the
 * virtual clock and stands still while the VM is stopped (upstream's -rtc clock=vm); the
 * starting point is given at creation (the host's UTC time for -rtc base=utc).
 *
 * Interrupt flags (register C) latch until C is read; the IRQ line is high while IRQF is set.
 */
#ifndef HW_TIMER_MC146818RTC_H
#define HW_TIMER_MC146818RTC_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"
#include "hw/core/timer.h"

#define RTC_REG_A   10
#define RTC_REG_B   11
#define RTC_REG_C   12
#define RTC_REG_D   13
#define RTC_CENTURY 0x32

typedef struct RtcState RtcState;

/* start: the wall-clock time (UTC seconds) the guest sees at creation. */
RtcState *mc146818_new(HwClock *clock, IrqLine *irq, time_t start);
void mc146818_free(RtcState *rtc);
bool mc146818_register_ports(RtcState *rtc, IoSpace *io, GError **errp);
/* The RTC as a machine device (hw/core/device.h); its timers are re-armed on load. */
extern const DeviceContract mc146818_device;
void mc146818_reset(RtcState *rtc);

/* CMOS bytes outside the clock (memory sizes, equipment) as the firmware would set them. */
void mc146818_set_cmos(RtcState *rtc, int addr, uint8_t val);
uint8_t mc146818_get_cmos(RtcState *rtc, int addr);
/* The pc machine's memory-size bytes for RAM below 4 GiB (low) and above it (high). */
void mc146818_set_memory_size(RtcState *rtc, uint64_t low, uint64_t high);
/* The guest's current time (UTC seconds), as the registers would read now. */
time_t mc146818_get_time(RtcState *rtc);
uint64_t mc146818_irq_count(RtcState *rtc);

#endif
