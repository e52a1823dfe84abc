/*
 * The i8259 PIC pair of the PC: master at 0x20/0x21 (vector base from ICW2), slave at
 * 0xa0/0xa1 cascaded on master input 2, and the PIIX ELCR at 0x4d0/0x4d1 that makes an input
 * level-triggered (PCI INTx) instead of edge-triggered (ISA).
 *
 *   ISA/PCI lines 0..7 ──► master ──INT──► out (LAPIC LINT0 in virtual-wire mode, or the CPU)
 *   lines 8..15 ──► slave ──► master input 2
 *
 * Initialisation state machine per chip (writes to the data port after ICW1):
 *
 *   ICW1 (cmd port, bit4) ─► ICW2 (vector base) ─► [ICW3 unless single] ─► [ICW4 if IC4] ─► OCWs
 *
 * After that, data-port writes set the mask (OCW1) and command-port writes are OCW2 (EOI,
 * rotation) or OCW3 (read IRR/ISR, poll, special mask).
 */
#ifndef HW_INTC_I8259_H
#define HW_INTC_I8259_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"

typedef struct I8259State I8259State;

/* out: the pair's INT output, set to the level of "an interrupt is pending". */
I8259State *i8259_new(IrqLine *out);
void i8259_free(I8259State *pic);
void i8259_reset(I8259State *pic);
bool i8259_register_ports(I8259State *pic, IoSpace *io, GError **errp);
/* The pair and its ELCR as one machine device (hw/core/device.h). */
extern const DeviceContract i8259_device;

/* The input lines 0..15, for devices to hold. */
IrqLine *i8259_input(I8259State *pic, int n);
void i8259_set_irq(I8259State *pic, int n, int level);

/* The INTA cycle: acknowledges the highest-priority request and returns its vector
 * (a spurious IRQ 7/15 vector if the request went away). */
int i8259_read_irq(I8259State *pic);
bool i8259_pending(I8259State *pic);

typedef struct I8259ChipInfo {
    uint8_t irr, imr, isr, elcr, irq_base;
} I8259ChipInfo;
void i8259_get_info(I8259State *pic, int chip, I8259ChipInfo *out);

#endif
