/*
 * What a device unit test does in the CPU's place: port and MMIO accesses of each width
 * through an IoSpace, index/data register pairs, PCI configuration mechanism #1, and a probe
 * on an interrupt line that keeps its level and counts what happened to it.
 *
 *   test ──outb(io, 0x70, idx)──► io_space_write ──► device ──irq_set_level──► IrqProbe
 *
 * Header only (static inline): every device test includes it, none links anything more.
 */
#ifndef TESTS_UNIT_IO_HELPERS_H
#define TESTS_UNIT_IO_HELPERS_H

#include "hw/core/iospace.h"
#include "hw/core/irq.h"

#include <stdint.h>

static inline void outb(IoSpace *io, uint64_t port, uint8_t v)
{
    io_space_write(io, port, v, 1);
}

static inline uint8_t inb(IoSpace *io, uint64_t port)
{
    return io_space_read(io, port, 1);
}

static inline void outw(IoSpace *io, uint64_t port, uint16_t v)
{
    io_space_write(io, port, v, 2);
}

static inline uint16_t inw(IoSpace *io, uint64_t port)
{
    return io_space_read(io, port, 2);
}

static inline void outl(IoSpace *io, uint64_t port, uint32_t v)
{
    io_space_write(io, port, v, 4);
}

static inline uint32_t inl(IoSpace *io, uint64_t port)
{
    return io_space_read(io, port, 4);
}

/* MMIO registers are 32-bit wide in every device tested so far (LAPIC, IOAPIC, BARs). */
static inline void mmio_writel(IoSpace *mmio, uint64_t addr, uint32_t v)
{
    io_space_write(mmio, addr, v, 4);
}

static inline uint32_t mmio_readl(IoSpace *mmio, uint64_t addr)
{
    return io_space_read(mmio, addr, 4);
}

/* An index/data pair (CMOS 0x70/0x71, IOAPIC IOREGSEL/IOWIN): select idx, then access data. */
static inline uint64_t indexed_read(IoSpace *s, uint64_t index_addr, uint64_t data_addr,
                                    uint32_t idx, unsigned size)
{
    io_space_write(s, index_addr, idx, size);
    return io_space_read(s, data_addr, size);
}

static inline void indexed_write(IoSpace *s, uint64_t index_addr, uint64_t data_addr, uint32_t idx,
                                 uint64_t v, unsigned size)
{
    io_space_write(s, index_addr, idx, size);
    io_space_write(s, data_addr, v, size);
}

/* Configuration mechanism #1: the dword address at 0xcf8, then size bytes at 0xcfc + reg%4. */
static inline uint32_t pci_cfg_read(IoSpace *io, int devfn, int reg, unsigned size)
{
    outl(io, 0xcf8, 0x80000000u | (devfn << 8) | (reg & 0xfc));
    return io_space_read(io, 0xcfc + (reg & 3), size);
}

static inline void pci_cfg_write(IoSpace *io, int devfn, int reg, uint32_t v, unsigned size)
{
    outl(io, 0xcf8, 0x80000000u | (devfn << 8) | (reg & 0xfc));
    io_space_write(io, 0xcfc + (reg & 3), v, size);
}

/* The receiving end of an interrupt line: hand &probe->line to the device under test. */
typedef struct IrqProbe {
    IrqLine line;
    int level;  /* as last set */
    int sets;   /* every irq_set_level, whatever the level */
    int raises; /* sets to a non-zero level, asserted already or not (NMI-style counting) */
    int edges;  /* transitions from 0 to non-zero */
} IrqProbe;

static inline void irq_probe_handler(void *opaque, int n, int level)
{
    IrqProbe *p = opaque;
    p->sets++;
    if (level) {
        p->raises++;
        if (!p->level) {
            p->edges++;
        }
    }
    p->level = level;
}

/* n is the input number the device's line carries (a probe ignores it). */
static inline void irq_probe_init(IrqProbe *p, int n)
{
    *p = (IrqProbe){0};
    irq_init(&p->line, irq_probe_handler, p, n);
}

#endif
