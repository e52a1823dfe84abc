/*
 * The ACPI tables the pc machine gives a Linux guest, built into a buffer that the machine
 * copies to guest physical `base` (inside the reserved BIOS area):
 *
 *   RSDP (v2) ──► RSDT ─┬─► FACP (FADT) ──► DSDT (PCI0 with _CRS/_PRT, \_S5), FACS
 *            └─► XSDT ─┼─► APIC (MADT: one LAPIC, one IOAPIC, ISA overrides, LINT1 NMI)
 *                      └─► HPET (the HPET's block id and address, include/hw/timer/hpet.h)
 *
 * The FADT points at the PIIX4 PM block where firmware places it (PM1a event 0x600, control
 * 0x604, timer 0x608, SCI on IRQ 9), GPE0 at 0xafe0 and the reset register (I/O 0xcf9,
 * value 6). The DSDT's PCI0 holds the PIIX3 ISA bridge (ISA, 00:01.0) with the PS/2
 * keyboard (KBD, PNP0303: ports 0x60/0x64, IRQ 1) and mouse (MOU, PNP0F13: IRQ 12), as 7.2's:
 * SeaBIOS enables its keyboard only when the DSDT has PNP0303. Every table carries a
 * valid checksum; the RSDP has both the 20-byte and the extended checksum.
 */
#ifndef HW_ACPI_ACPI_TABLES_H
#define HW_ACPI_ACPI_TABLES_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_BASE     0x600 /* where SeaBIOS puts the PIIX4 PM block (PMBA) */
#define ACPI_PM1_EVT     (ACPI_PM_BASE + 0)
#define ACPI_PM1_CNT     (ACPI_PM_BASE + 4)
#define ACPI_PM_TMR      (ACPI_PM_BASE + 8)
#define ACPI_GPE0_BLK    0xafe0
#define ACPI_GPE0_LEN    4
#define ACPI_SCI_IRQ     9
#define ACPI_RESET_PORT  0xcf9
#define ACPI_RESET_VALUE 0x06

typedef struct AcpiTables {
    GByteArray *blob; /* the bytes to place at base */
    uint64_t base;
    uint64_t rsdp; /* guest physical addresses of the tables */
    uint64_t rsdt, xsdt, fadt, facs, dsdt, madt, hpet;
} AcpiTables;

/* Builds the tables for a machine with one CPU (APIC id 0) to be placed at base (16-byte
 * aligned); PCI memory is decoded from low_ram_end up to the IOAPIC. With hpet false (the
 * machine's hpet=off) there is no HPET table and t->hpet is 0. */
AcpiTables *acpi_build_pc_tables(uint64_t base, uint64_t low_ram_end, bool hpet);
void acpi_tables_free(AcpiTables *t);
/* Sum of len bytes modulo 256 (0 for a valid table). */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

#endif
