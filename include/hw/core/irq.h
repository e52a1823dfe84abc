/*
 * Interrupt lines between devices: a line is a callback into the receiving controller with
 * the input number; devices hold a pointer to the line and set its level.
 *
 *   device ──irq_set_level(line, 1)──► handler(opaque, n, 1)  (PIC input, IOAPIC pin, ...)
 *
 * A line with no handler is a line to nowhere (unconnected pin): setting it does nothing.
 */
#ifndef HW_CORE_IRQ_H
#define HW_CORE_IRQ_H

#include <stdbool.h>

typedef void (*IrqHandler)(void *opaque, int n, int level);

typedef struct IrqLine {
    IrqHandler handler;
    void *opaque;
    int n;
} IrqLine;

static inline void irq_init(IrqLine *line, IrqHandler handler, void *opaque, int n)
{
    line->handler = handler;
    line->opaque = opaque;
    line->n = n;
}

static inline void irq_set_level(IrqLine *line, int level)
{
    if (line && line->handler) {
        line->handler(line->opaque, line->n, level);
    }
}

static inline void irq_raise(IrqLine *line)
{
    irq_set_level(line, 1);
}

static inline void irq_lower(IrqLine *line)
{
    irq_set_level(line, 0);
}

/* Edge for edge-triggered inputs: up then down. */
static inline void irq_pulse(IrqLine *line)
{
    irq_set_level(line, 1);
    irq_set_level(line, 0);
}

#endif
