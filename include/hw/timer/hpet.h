/*
 * The HPET at 0xfed00000 (1 KiB of MMIO), as a clock: its 64-bit main counter runs at QEMU's
 * 100 MHz (a 10 ns period) on the machine's virtual clock, so it agrees with the TSC, which
 * counts the same clock. Linux takes it as its clocksource watchdog: without it the watchdog
 * is the jiffies count, which falls behind whenever the host is too busy to deliver every PIT
 * tick, and Linux then marks the TSC unstable and reads the time through the ACPI PM timer's
 * port for the rest of the boot.
 *
 * Registers (64 bits each, read and written 4 or 8 bytes at a time):
 *
 *   0x000 capabilities   rev 1, 3 comparators, 64-bit counter, period 10 000 000 fs; no legacy
 *                        replacement route (LEG_RT_CAP clear)
 *   0x010 configuration  ENABLE_CNF starts and stops the counter
 *   0x020 interrupt status (write 1 to clear)
 *   0x0f0 main counter   written while stopped
 *   0x100 + 0x20*n       comparator n: configuration, value, FSB route
 *
 * Unlike upstream's, the comparators raise no interrupts (they keep what is written, and offer
 * no interrupt route), so Linux keeps the PIT as its tick.
 */
#ifndef HW_TIMER_HPET_H
#define HW_TIMER_HPET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/timer.h"

#define HPET_BASE      0xfed00000u
#define HPET_LEN       0x400
#define HPET_TIMERS    3
#define HPET_PERIOD_NS 10
#define HPET_PERIOD_FS (HPET_PERIOD_NS * 1000000u)
/* The capabilities register's low half: the ACPI HPET table's event timer block id. */
#define HPET_BLOCK_ID (0x80862001u | ((HPET_TIMERS - 1) << 8))

typedef struct HpetState HpetState;

HpetState *hpet_new(HwClock *clock);
void hpet_free(HpetState *s);
void hpet_reset(HpetState *s);
bool hpet_register_mmio(HpetState *s, IoSpace *mmio, GError **errp);
/* The HPET as one machine device (hw/core/device.h). */
extern const DeviceContract hpet_device;

#endif
