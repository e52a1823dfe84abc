/*
 * The ACPI tables the pc machine gives a Linux guest, built into a buffer that the machine
 * copies to guest physical `base` (inside the reserved BIOS area):
 *
 *   RSDP (v2) ──► RSDT ─┬─► FACP (FADT) ──► DSDT (PCI0 with _CRS/_PRT, \_S5), FACS
 *            └─► XSDT ─┼─► APIC (MADT: one LAPIC, one IOAPIC, ISA overrides, LINT1 NMI)
 *                      └─► HPET (the HPET's block id and address, include/hw/timer/hpet.h)
 *
 * The FADT points at the PIIX4-style PM block (PM1a event 0xb000, control 0xb004, timer
 * 0xb008, SCI on IRQ 9) and the reset register (I/O 0xcf9, value 6). Every table carries a
 * valid checksum; the RSDP has both the 20-byte and the extended checksum.
 */
#ifndef HW_ACPI_ACPI_TABLES_H
#define HW_ACPI_ACPI_TABLES_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_BASE     0xb000
#define ACPI_PM1_EVT     (ACPI_PM_BASE + 0)
#define ACPI_PM1_CNT     (ACPI_PM_BASE + 4)
#define ACPI_PM_TMR      (ACPI_PM_BASE + 8)
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
