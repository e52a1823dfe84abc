/*
 * The PIIX3 IDE function in legacy mode, as the pc machine's disk controller for
 * -drive if=ide: the IDE function (8086:7010, prog-if 0x80) beside the machine's PIIX3 ISA
 * bridge (hw/pci/pci.h, 00:01.0) on bus 0, at 00:01.1: the primary channel (bus ide.0) at
 * 0x1f0/0x3f6 on IRQ 14, the secondary (ide.1) at 0x170/0x376 on IRQ 15, and both bus masters' 16
 * ports in BAR4 (I/O), so Linux's ata_piix uses DMA (MWDMA2). state: "ide" instances 0 and 1 (each
 * channel's registers, transfer buffer and bus master, drained first)
 */
#ifndef HW_IDE_PIIX_H
#define HW_IDE_PIIX_H

#include "hw/core/device.h"
#include "hw/ide/ide.h"
#include "hw/pci/pci.h"

typedef struct PiixIde PiixIde;

extern const DeviceContract piix3_ide_device;

/* The function at devfn on bus; map with the contract (ports), then attach drives. */
PiixIde *piix3_ide_new(PCIBus *bus, int devfn, IrqLine *irq[2], const DmaSpace *dma, GError **errp);
/* Channel 0 (primary) or 1 (secondary). */
IdeChannel *piix3_ide_channel(PiixIde *p, int n);
/* The IDE function's devfn (01.1 on pc, as upstream's). */
int piix3_ide_devfn(PiixIde *p);
/* -device ide-hd,drive=ID[,bus=ide.0|ide.1][,unit=0|1][,serial=] and ide-cd (drive= optional:
 * an empty drive): DeviceHost.ide_attach. */
void ide_hd_register_type(void);
void ide_cd_register_type(void);

#endif
