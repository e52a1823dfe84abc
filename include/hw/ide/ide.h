/*
 * An ATA channel with up to two hard disks or CD-ROMs, PIO and bus-master DMA (the PIIX's, as
 * Linux's ata_piix/libata-sff drive it): task-file registers at base (8 ports), the device control
 * / alternate status port at ctl, one ISA interrupt line, and the bus master's 8 registers
 * (command, status, PRD table address) that the PCI function maps in its BAR4.
 *
 *   command ──► READ: BSY, disk read of up to 256 sectors on the block workers
 *                     ─► DRQ + IRQ; the guest reads 256 words per sector, IRQ per sector
 *               WRITE: DRQ at once; the guest writes sectors, IRQ per sector; when the
 *                     buffer is full: BSY, disk write ─► next sectors, or DRDY + IRQ
 *               READ/WRITE DMA: DRQ, waits for the bus master's start bit ─► BSY, per buffer
 *                     (256 sectors): disk read then scatter over the PRD regions (DMA store
 *                     path) / gather then disk write ─► next buffer, or DRDY + IRQ with the
 *                     bus master's INT set and ACTIVE cleared
 *               IDENTIFY: 512 bytes of data in; FLUSH: disk flush ─► IRQ; others: done at once
 *   ATAPI unit: PACKET ─► DRQ for 12 bytes ─► the MMC command (hw/ide/atapi.c) ─► status, or
 *               data in DRQ blocks of the guest's byte count limit (IRQ each) or over the bus
 *               master ─► status + IRQ (interrupt reason in the sector count register)
 *   status read lowers the interrupt; device control: nIEN masks it, SRST resets the channel
 *
 * A request in flight is drained before a reset and before the state is saved.
 */
#ifndef HW_IDE_IDE_H
#define HW_IDE_IDE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block-backend.h"
#include "hw/core/dma.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"
#include "migration/vmstate.h"

#define ATA_SECTOR      512
#define ATA_BUF_SECTORS 256

typedef struct IdeChannel IdeChannel;

IdeChannel *ide_channel_new(IrqLine *irq);
void ide_channel_free(IdeChannel *ch);
/* The channel's bus number on its controller (0 unless set): upstream numbers the default
 * serials of all four units, QM00001 to QM00004. */
void ide_channel_set_bus_index(IdeChannel *ch, int bus);
/* Unit 0 (master) or 1 (slave): a disk (ide-hd) or, cd, an ATAPI CD/DVD-ROM (ide-cd, whose
 * blk may be empty and whose medium the monitor changes through blk's device ops); takes the
 * device's permissions on blk. */
bool ide_channel_attach(IdeChannel *ch, int unit, BlockBackend *blk, const char *serial, bool cd,
                        GError **errp);
bool ide_channel_has_drive(IdeChannel *ch, int unit);
bool ide_channel_map(IdeChannel *ch, IoSpace *io, uint16_t base, uint16_t ctl, GError **errp);
void ide_channel_reset(IdeChannel *ch);
void ide_channel_drain(IdeChannel *ch);

/* The channel's bus master (8 registers: command, status, PRD table address) reaching RAM
 * through dma; without one, DMA commands abort. */
void ide_channel_set_dma(IdeChannel *ch, const DmaSpace *dma);
uint32_t ide_bmdma_read(IdeChannel *ch, unsigned reg, unsigned size);
void ide_bmdma_write(IdeChannel *ch, unsigned reg, uint32_t val, unsigned size);

extern const VMStateDescription vmstate_ide_channel;

#endif
