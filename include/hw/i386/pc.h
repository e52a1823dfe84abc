/*
 * The `pc` machine: what -M pc assembles around one CPU, and what it hands to the CPU.
 *
 *   ISA IRQs / GSIs 0-15 ──► i8259 pair ──► LAPIC LINT0 (virtual wire) ─┐
 *                       └──► IOAPIC pins (IRQ0 on pin 2) ──► LAPIC ──────┴─► hooks.cpu_set_irq
 *   port I/O  0x20 PIC  0x40 PIT  0x60/0x64 i8042  0x61  0x70 RTC  0x92  0x3f8 COM1
 *             0xcf8/0xcfc PCI  0xcf9 reset  0x4d0 ELCR  0xafe0 GPE0  + quiet legacy ports
 *             ACPI PM block where 00:01.3's PMBA puts it (0x600), its SMBus (0x700; 0xb100
 *             until firmware moves it)
 *             0x510/0x511/0x514 fw_cfg (with firmware: no -kernel; hw/i386/pc-firmware.h)
 *   MMIO      0xfec00000 IOAPIC  0xfee00000 LAPIC  PCI BARs from 0xfe000000
 *   PCI 00:00.0 i440FX host bridge, 00:01.0 PIIX3 ISA bridge, 00:01.1 PIIX3 IDE (with the
 *       first IDE drive), 00:01.3 PIIX4 PM (with ACPI; hw/acpi/piix4-pm.h), then -device ...
 *       in slot order from 2
 *   -device isa-debug-exit (0x501), pc-testdev (0xe0-0xeb, 0x2000, MMIO 0xff000000)
 *   RAM       below 4 GiB up to low_size, the rest at 4 GiB (pc_ram_split)
 *   firmware  ROM at 4 GiB - its size; 0xc0000-0xfffff shadowed through PAM (memory/rom.h)
 *
 * Life cycle, driven by the composition root (system/vl.c):
 *
 *   hw_register_types()                 once, before -device help
 *   pc_machine_new(opts, hooks)         devices, interrupt wiring, I/O spaces
 *   pc_machine_device_add(m, -device)   for every -device, in command-line order
 *   pc_machine_add_nic_requests(m)      the NICs of -nic options
 *   pc_machine_add_drive(m, blk)        the device of a -drive if=virtio|ide (after -device's,
 *                                       but upstream's default CD-ROM before them; the first
 *                                       IDE drive brings the PIIX3 IDE function)
 *   pc_machine_realize(m)               with -kernel, firmware's work: PCI BARs, the PM
 *                                       block, ACPI tables, the kernel; without, fw_cfg's
 *                                       items for SeaBIOS
 *   pc_machine_attach(m, NULL)          timers on the main loop (big lock: hw/core/biglock.h)
 *   CPU: x86_cpu_new(ram, &pc_machine_cpu_bus, m), then pc_machine_boot_cpu
 *   guest reset request (i8042 0xfe, 0xcf9, 0x92, triple fault) ─► hooks.reset_request
 *        ─► the root calls pc_machine_reset(m) and resets the CPU to the boot state again
 *   ACPI S5 ─► hooks.poweroff_request
 *   isa-debug-exit write ─► hooks.guest_exit(status), on the vCPU thread: the process ends
 *   pc_machine_add_vmstate(m, set)      a section per device, in the device list's order
 *
 * Every device is one entry of the machine's device list (hw/core/device.h): mapped when
 * created, reset, saved and freed by loops over it. -device types reach the machine through
 * its DeviceHost (hw/virtio/virtio-net-pci.c).
 *
 * The machine does not own guest RAM: hooks.ram gives the accessors of memory/'s RAM block
 * (whose writes mark pages dirty), used for the loader, the ACPI tables and device DMA.
 */
#ifndef HW_I386_PC_H
#define HW_I386_PC_H

#include "block/block-backend.h"
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/char/serial.h"
#include "hw/core/dma.h"
#include "hw/core/iospace.h"
#include "hw/core/timer.h"
#include "hw/i386/linux-boot.h"
#include "hw/pci/pci.h"
#include "hw/virtio/virtio-net.h"
#include "memory/ram.h"
#include "migration/vmstate.h"
#include "util/keyval.h"

#define PC_DEFAULT_RAM_SIZE (128ull << 20)
#define PC_PCI_MEM_BASE     0xfe000000ull
#define PC_PCI_IO_BASE      0xc000

typedef struct PcMachine PcMachine;

typedef struct PcMachineOptions {
    uint64_t ram_size;      /* -m, bytes */
    const char *kernel;     /* -kernel, or NULL */
    const char *initrd;     /* -initrd */
    const char *append;     /* -append */
    bool acpi;              /* -M pc,acpi=on (the default) */
    bool no_hpet;           /* -M pc,hpet=off or -no-hpet: no HPET (upstream's default is on) */
    bool no_jit;            /* -accel tcg,jit=off (ours): the interpreter only, no translator */
    bool firmware;          /* SeaBIOS runs (pc_system without -kernel); else direct boot */
    const char *bios;       /* -bios, or NULL: bios-256k.bin */
    bool graphics;          /* false with -nographic: SeaBIOS's console on COM1 */
    const char *boot_order; /* -boot order= (NULL: "cad"), into the RTC's CMOS for SeaBIOS */
    const char *boot_once;  /* -boot once=: the first boot's order, order after a reset */
    gboolean boot_strict;   /* -boot strict=on: bootorder ends in HALT (with bootindex=) */
    int boot_menu;          /* -boot menu=on */
    int splash_time;        /* -boot splash-time (ms) */
    int reboot_timeout;     /* -boot reboot-timeout (ms), when reboot_timeout_set */
    bool reboot_timeout_set;
} PcMachineOptions;

typedef struct PcMachineHooks {
    const DmaSpace *ram; /* memory/'s RAM accessors */
    GuestRam *guest_ram; /* the block itself: the PAM registers shadow its BIOS area */
    void (*cpu_set_irq)(void *opaque, bool level); /* x86_cpu_set_irq */
    void (*cpu_nmi)(void *opaque);                 /* x86_cpu_inject_nmi */
    void (*reset_request)(void *opaque);           /* the guest asked for a reset */
    void (*poweroff_request)(void *opaque);        /* the guest powered off (ACPI S5) */
    /* isa-debug-exit: end the process now with status (tests record it; NULL: exit()). */
    void (*guest_exit)(void *opaque, int status);
    /* Connects a NIC to -netdev ID; NULL: through the net core (hw/virtio/virtio-net-nc.h).
     * Tests replace it. On failure it reports upstream's "can't find value" error. */
    bool (*nic_attach)(void *opaque, VirtIONet *nic, const char *netdev, const char *nic_name,
                       GError **errp);
    void *opaque;
} PcMachineHooks;

void hw_register_types(void);

/* -machine help lines for the pc machine (upstream's spelling; `pc` is an alias). */
#define PC_MACHINE_HELP                                                                            \
    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"            \
    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
/* True for "pc" and "pc-i440fx-7.2". */
bool pc_machine_type_is_pc(const char *name);
/* The -machine properties after the type: acpi=on|off (others: upstream's "not found"
 * naming pc-i440fx-7.2-machine). Fills opts->acpi; keys the root handles itself (accel,
 * type) are left to it and skipped here. */
bool pc_machine_parse_props(KeyvalList *machine_opts, PcMachineOptions *opts, GError **errp);

/*
 * -m: "512", "512M", "2G", "size=1G[,slots=N,maxmem=SIZE]"; plain numbers are MiB, sizes are
 * rounded up to 8 KiB, 0 is the default. slots and maxmem are checked as upstream checks them
 * (no memory hotplug here). Upstream's errors.
 */
bool pc_parse_ram_size(const char *arg, uint64_t *out, GError **errp);
/* The pc's split: everything below 4 GiB unless -m >= 3.5 GiB, then 3 GiB low, rest high. */
void pc_ram_split(uint64_t ram_size, uint64_t *low, uint64_t *high);

PcMachine *pc_machine_new(const PcMachineOptions *opts, const PcMachineHooks *hooks, GError **errp);
void pc_machine_free(PcMachine *m);
bool pc_machine_device_add(PcMachine *m, KeyvalList *opts, bool *help_printed, GError **errp);
/* -nic requests recorded by the net core (net_nic_list): a virtio-net-pci for each (model
 * virtio-net-pci, virtio, or none given). */
bool pc_machine_add_nic_requests(PcMachine *m, GError **errp);
/* The device a -drive's if= asks for: a virtio-blk-pci for if=virtio, a disk on the PIIX3
 * IDE's primary channel for if=ide (bus 0 only); nothing for if=none. */
bool pc_machine_add_drive(PcMachine *m, BlockBackend *blk, GError **errp);
bool pc_machine_realize(PcMachine *m, GError **errp);
/* Device reset plus firmware work (tables, kernel reloaded): system_reset and guest reboots. */
bool pc_machine_reset(PcMachine *m, GError **errp);
/* Where the CPU starts: the PVH entry (false if there is no -kernel). */
bool pc_machine_boot_info(PcMachine *m, LinuxBootInfo *out);

/* How a CPU reaches this machine: x86_cpu_new(ram, &pc_machine_cpu_bus, m). */
extern const struct X86BusOps pc_machine_cpu_bus;

/* X86BusOps-compatible entry points; opaque is the PcMachine. They take the big lock. */
uint32_t pc_machine_pio_read(void *opaque, uint16_t port, int size);
void pc_machine_pio_write(void *opaque, uint16_t port, uint32_t val, int size);
uint64_t pc_machine_mmio_read(void *opaque, uint64_t gpa, int size);
void pc_machine_mmio_write(void *opaque, uint64_t gpa, uint64_t val, int size);
int pc_machine_irq_ack(void *opaque);
/* A write to the CPU's IA32_APIC_BASE: its bit 11 enables or disables the local APIC. */
void pc_machine_apic_base_write(void *opaque, uint64_t val);
/* The CPU's IA32_APIC_BASE global-enable bit changed. */
void pc_machine_apic_enable(PcMachine *m, bool on);

/* Device timers run from ctx's loop (NULL: the default context), whose thread holds the big
 * lock except while polling (hw/core/biglock.h: bql_attach_context). */
guint pc_machine_attach(PcMachine *m, GMainContext *ctx);
/* The virtual clock follows the run state: stopped VMs see no time pass (stop/cont). */
void pc_machine_set_running(PcMachine *m, bool running);
HwClock *pc_machine_clock(PcMachine *m);
IoSpace *pc_machine_io(PcMachine *m);
IoSpace *pc_machine_mmio(PcMachine *m);
SerialState *pc_machine_serial(PcMachine *m);
/* PCI bus 0 (query-pci reads it). */
PCIBus *pc_machine_pci_bus(PcMachine *m);
/* system_powerdown: the ACPI power button. */
void pc_machine_powerdown(PcMachine *m);
/* NICs created by -device, in order; for info/query commands and net glue. */
guint pc_machine_nic_count(PcMachine *m);
VirtIONet *pc_machine_nic(PcMachine *m, guint i, const char **id);

/* Adds a section for every device of the machine, in its list's order (the root then adds
 * the CPU; the virtual clock, vmstate_hw_clock on pc_machine_clock(), goes first). */
void pc_machine_add_vmstate(PcMachine *m, VMStateSet *set);

#endif
