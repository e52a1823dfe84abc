/*
 * The PIIX4 power management function, PCI 00:01.3 (upstream's PIIX4_PM: 8086:7113,
 * revision 3, class 0680, interrupt pin A, SCI wired to IRQ 9).
 *
 *   config 0x40 PMBA     (bits 15:6)  ─┐ the ACPI PM block (hw/acpi/pm.h: PM1a event, PM1a
 *   config 0x80 PMREGMISC bit 0      ─┴─ control, PM timer) decodes at PMBA while bit 0 is set
 *   config 0x90 SMBBA    (bits 15:6)  ─┐ the SMBus host controller (no devices behind it: a
 *   config 0xd2 SMBHSTCFG bit 0      ─┴─ started transaction ends with DEV_ERR)
 *   GPE0 (status, enable: 2 + 2 bytes) at the fixed port ACPI_GPE0_BLK (0xafe0), as 7.2
 *
 * At reset PMBA reads 0x0001 and PMREGMISC 0: the block is off until firmware places it.
 * SeaBIOS writes PMBA 0x601, PMREGMISC 1, SMBBA 0x701, SMBHSTCFG 0x09, interrupt line 9;
 * without firmware (-kernel) the machine does the same (piix4_pm_firmware_setup), so the
 * block is where the FADT says (ACPI_PM_BASE, 0x600) in both cases. SMM is not emulated:
 * DEVACTB's APMC_EN (config 0x5b bit 1) reads set, as upstream's with smm=off, so SeaBIOS
 * skips its SMM set-up.
 */
#ifndef HW_ACPI_PIIX4_PM_H
#define HW_ACPI_PIIX4_PM_H

#include <glib.h>
#include <stdbool.h>

#include "hw/acpi/pm.h"
#include "hw/core/device.h"
#include "hw/pci/pci.h"

#define PIIX4_PM_PMBA      0x40
#define PIIX4_PM_PMREGMISC 0x80
#define PIIX4_PM_SMBBA     0x90
#define PIIX4_PM_SMBHSTCFG 0xd2
#define PIIX4_SMB_LEN      64
#define PIIX4_SMB_DEFAULT  0xb100 /* the machine's smb_io_base before firmware moves it */

typedef struct Piix4Pm Piix4Pm;

/* The function at devfn (00:01.3 on pc) with its PM registers raising sci. */
Piix4Pm *piix4_pm_new(PCIBus *bus, int devfn, IoSpace *io, HwClock *clock, IrqLine *sci,
                      AcpiPmPowerOffFn poweroff, void *opaque, GError **errp);
/* What SeaBIOS's piix4_pm_setup writes, for a machine that boots without firmware. */
void piix4_pm_firmware_setup(Piix4Pm *p);
/* system_powerdown */
void piix4_pm_power_button(Piix4Pm *p);
/* The port the PM block decodes at now, or -1 while it is off. */
int piix4_pm_block_base(Piix4Pm *p);
/* Its state is one "piix4_pm" section (the config space is the bus's "pci-device"). */
extern const DeviceContract piix4_pm_device;

#endif
