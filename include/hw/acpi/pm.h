/*
 * The ACPI PM registers of the PIIX4-style power management block the FADT describes:
 * PM1a event (status + enable, 0xb000), PM1a control (0xb004: SCI_EN, SLP_TYP, SLP_EN) and
 * the 32-bit PM timer (0xb008, 3.579545 MHz, from the virtual clock).
 *
 * Writing SLP_EN with SLP_TYP 0 (the DSDT's \_S5) is a power-off request; the power button
 * (system_powerdown) sets PWRBTN_STS and raises SCI (IRQ 9) when the guest enabled it.
 */
#ifndef HW_ACPI_PM_H
#define HW_ACPI_PM_H

#include <glib.h>
#include <stdbool.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"
#include "hw/core/timer.h"

#define ACPI_PM_TIMER_FREQ 3579545

typedef struct AcpiPmState AcpiPmState;
typedef void (*AcpiPmPowerOffFn)(void *opaque);

AcpiPmState *acpi_pm_new(HwClock *clock, IrqLine *sci, AcpiPmPowerOffFn poweroff, void *opaque);
void acpi_pm_free(AcpiPmState *s);
void acpi_pm_reset(AcpiPmState *s);
bool acpi_pm_register_ports(AcpiPmState *s, IoSpace *io, uint16_t base, GError **errp);
/* The PM block as a machine device; its map base is the block's port. */
extern const DeviceContract acpi_pm_device;
/* system_powerdown: press the power button. */
void acpi_pm_power_button(AcpiPmState *s);

#endif
