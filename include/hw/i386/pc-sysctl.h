/*
 * The pc's small system-control ports: port 0x92 (fast A20 and INIT/reset), the PIIX reset
 * control register 0xcf9 (the FADT's reset register), and the ports Linux and firmware poke
 * on every pc without the devices behind them (POST code 0x80, delay port 0xed, DMA
 * controllers, absent COM2-4 / LPT / floppy / IDE / VGA, fw_cfg, debug-exit): these read as
 * all-ones and ignore writes without being logged as unassigned.
 */
#ifndef HW_I386_PC_SYSCTL_H
#define HW_I386_PC_SYSCTL_H

#include <glib.h>
#include <stdbool.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"

typedef struct PcSysctl PcSysctl;
typedef void (*PcResetFn)(void *opaque);

PcSysctl *pc_sysctl_new(PcResetFn reset, void *opaque);
void pc_sysctl_free(PcSysctl *s);
bool pc_sysctl_register_ports(PcSysctl *s, IoSpace *io, GError **errp);
extern const DeviceContract pc_sysctl_device;
/* A device created later (-device isa-debug-exit,iobase=0xf4) takes these ports from the
 * quietly ignored ones, as upstream's devices cover its unassigned ones. */
void pc_sysctl_yield_ports(PcSysctl *s, IoSpace *io, uint64_t base, uint64_t len);
/* How many accesses went to the quietly ignored ports. */
uint64_t pc_sysctl_ignored_accesses(PcSysctl *s);

#endif
