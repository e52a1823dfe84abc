/*
 * The ACPI PM registers of the PIIX4 power management block the FADT describes, 12 ports
 * from the block's base (where the PIIX4 PM function's PMBA puts it, hw/acpi/piix4-pm.h):
 * PM1a event (status + enable, +0), PM1a control (+4: SCI_EN, SLP_TYP, SLP_EN) and the 32-bit
 * PM timer (+8, 3.579545 MHz, from the virtual clock).
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

typedef void (*AcpiPmPowerOffFn)(void *opaque);

typedef struct AcpiPmState {
    HwClock *clock;
    IrqLine *sci;
    AcpiPmPowerOffFn poweroff;
    void *opaque;
    uint16_t sts, en, cnt;
    int32_t sci_level;
} AcpiPmState;

/* The registers inside a device that holds them (the PIIX4 PM function). */
void acpi_pm_init(AcpiPmState *s, HwClock *clock, IrqLine *sci, AcpiPmPowerOffFn poweroff,
                  void *opaque);
/* The registers' state, for the holder's table (VMSTATE_STRUCT). */
extern const VMStateDescription vmstate_acpi_pm;
AcpiPmState *acpi_pm_new(HwClock *clock, IrqLine *sci, AcpiPmPowerOffFn poweroff, void *opaque);
void acpi_pm_free(AcpiPmState *s);
void acpi_pm_reset(AcpiPmState *s);
bool acpi_pm_register_ports(AcpiPmState *s, IoSpace *io, uint16_t base, GError **errp);
#define ACPI_PM_BLOCK_LEN 12
/* The block's ports, opaque the AcpiPmState: for a holder that moves them. */
extern const IoRegionOps acpi_pm_ops;
/* A read of size bytes at addr from a little register file of len bytes (0 past its end). */
uint64_t acpi_regs_read(const uint8_t *regs, size_t len, uint64_t addr, unsigned size);
/* system_powerdown: press the power button. */
void acpi_pm_power_button(AcpiPmState *s);

#endif
