/*
 * The local APIC of the single CPU (xAPIC, MMIO at 0xfee00000) and the IOAPIC (0xfec00000).
 *
 *   ISA/PCI line ──► IOAPIC pin ──redirection entry──► lapic_deliver(vector, trigger)
 *   PIC INT ──► LINT0 (ExtINT in virtual-wire mode) ─┐
 *   LAPIC timer / self-IPI ──► IRR ──────────────────┴─► CPU INTR line (level)
 *   CPU INTA ──► lapic_ack(): IRR→ISR vector, or LAPIC_ACK_EXTINT ("ask the PIC")
 *   EOI register write ──► ISR bit cleared; level-triggered vector ──► IOAPIC remote IRR
 *
 * MSI: a 32-bit write to 0xfee00000-0xfeefffff (the LAPIC's 4 KiB of registers and the rest of
 * that megabyte, as upstream maps them) whose address holds the destination APIC ID (bits
 * 19:12) and destination mode (bit 2: logical) and whose data holds the vector (7:0), delivery
 * mode (10:8: fixed, lowest priority, NMI) and trigger (bit 15: level):
 *
 *   PCI function ──pci_msi_send()──► MMIO write ──► lapic_msi() ──► IRR, as an IOAPIC entry
 *
 * Timer: counts down at LAPIC_BUS_FREQ divided by the divide configuration, one-shot or
 * periodic; TSC-deadline mode is not offered (CPUID does not advertise it), so selecting it
 * stops the timer. The bus runs at 1 GHz, upstream's rate, so one count is one nanosecond
 * before division.
 */
#ifndef HW_INTC_APIC_H
#define HW_INTC_APIC_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"
#include "hw/core/timer.h"

#define LAPIC_BASE       0xfee00000ull
#define IOAPIC_BASE      0xfec00000ull
#define IOAPIC_NUM_PINS  24
#define LAPIC_BUS_FREQ   1000000000ull
#define LAPIC_ACK_EXTINT (-2)
#define LAPIC_REGS_SIZE  0x1000
#define LAPIC_MSI_SIZE   0x100000

#define MSI_ADDR_DEST_SHIFT   12
#define MSI_ADDR_DEST_LOGICAL (1u << 2)
#define MSI_DATA_LEVEL        (1u << 15)

typedef struct LapicState LapicState;
typedef struct IoapicState IoapicState;

typedef void (*LapicEoiNotify)(void *opaque, int vector);

/* cpu_intr: the CPU's INTR line; nmi: raised for NMI delivery (LINT1, ICR). */
LapicState *lapic_new(HwClock *clock, uint8_t apic_id, IrqLine *cpu_intr, IrqLine *nmi);
void lapic_free(LapicState *s);
void lapic_reset(LapicState *s);
/* The state firmware leaves: LINT0 ExtINT, LINT1 NMI (virtual-wire mode for the PIC). */
void lapic_set_virtual_wire(LapicState *s);
bool lapic_register_mmio(LapicState *s, IoSpace *mmio, GError **errp);
/* The local APIC as a machine device (hw/core/device.h); its timer is re-armed on load. */
extern const DeviceContract lapic_device;
void lapic_set_eoi_notify(LapicState *s, LapicEoiNotify cb, void *opaque);

/* LINT0 input (the PIC's INT output), as an IrqLine for i8259_new(). */
IrqLine *lapic_lint0(LapicState *s);
/* A fixed interrupt from the IOAPIC (or an MSI). */
void lapic_deliver(LapicState *s, int vector, bool level_triggered);
/* An MSI write of data to addr (0xfeeXXXXX), decoded as the diagram says. */
void lapic_msi(LapicState *s, uint64_t addr, uint32_t data);
/* INTA: the vector to run (now in service), LAPIC_ACK_EXTINT, or -1 if nothing is pending. */
int lapic_ack(LapicState *s);
bool lapic_intr_pending(LapicState *s);
/* IA32_APIC_BASE global enable (bit 11) as the CPU's MSR holds it. */
void lapic_set_global_enable(LapicState *s, bool on);

typedef struct LapicInfo {
    uint32_t id, tpr, svr, lvt_timer, lvt_lint0, lvt_lint1, initial_count, current_count;
    uint32_t divide;
    uint32_t isr[8], irr[8], tmr[8];
    uint64_t timer_fires, delivered, msi_received;
} LapicInfo;
void lapic_get_info(LapicState *s, LapicInfo *out);

IoapicState *ioapic_new(LapicState *lapic);
void ioapic_free(IoapicState *s);
void ioapic_reset(IoapicState *s);
bool ioapic_register_mmio(IoapicState *s, IoSpace *mmio, GError **errp);
extern const DeviceContract ioapic_device;
IrqLine *ioapic_input(IoapicState *s, int pin);
void ioapic_set_irq(IoapicState *s, int pin, int level);
/* The LAPIC's EOI broadcast for a level-triggered vector. */
void ioapic_eoi(IoapicState *s, int vector);
uint64_t ioapic_redirection(IoapicState *s, int pin);

#endif
