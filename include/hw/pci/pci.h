/*
 * PCI bus 0 behind an i440FX-like host bridge: configuration mechanism #1 at 0xcf8/0xcfc,
 * 256-byte configuration spaces, BAR sizing and programming, INTx routing.
 *
 *   0xcf8 ← 0x80000000 | bus<<16 | dev<<11 | fn<<8 | reg      (enable bit, address latch)
 *   0xcfc..0xcff ↔ config[reg + (port & 3)] of that function; absent functions read ~0
 *
 * A BAR's writable bits are those above its size (wmask), so writing all-ones and reading
 * back gives the size as the guest's sizing code expects. When the command register enables
 * I/O or memory decoding, each programmed BAR's region is mapped in the port-I/O or MMIO
 * space; reprogramming moves it, disabling removes it.
 *
 * INTx: device pin (INTA..INTD) on slot s goes to PIRQ (s + pin) & 3, and PIRQ n to the ISA
 * IRQ given by the machine (10, 10, 11, 11 as SeaBIOS sets PIIX's routing), shared as a
 * level: the line stays up while any device on it asserts.
 */
#ifndef HW_PCI_PCI_H
#define HW_PCI_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/core/device.h"
#include "hw/core/iospace.h"
#include "hw/core/irq.h"

#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_NUM_BARS          6
#define PCI_DEVFN(slot, fn)   (((slot) << 3) | (fn))

#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CLASS_DEVICE        0x0a
#define PCI_HEADER_TYPE         0x0e
#define PCI_BASE_ADDRESS_0      0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO           0x1
#define PCI_COMMAND_MEMORY       0x2
#define PCI_COMMAND_MASTER       0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT     0x08
#define PCI_STATUS_CAP_LIST      0x10

typedef enum {
    PCI_BAR_NONE = 0,
    PCI_BAR_IO,
    PCI_BAR_MEM32,
    PCI_BAR_MEM64, /* occupies this BAR and the next */
} PCIBarType;

typedef struct PCIBus PCIBus;
typedef struct PCIDevice PCIDevice;

typedef struct PCIBar {
    PCIBarType type;
    bool prefetch;
    uint64_t size; /* power of two */
    const IoRegionOps *ops;
    void *opaque;
    uint64_t mapped_addr; /* where it is mapped, or UINT64_MAX */
} PCIBar;

struct PCIDevice {
    PCIBus *bus;
    char *name; /* the type ("virtio-net-pci"), in messages and region names */
    char *id;   /* -device id=, or NULL */
    int devfn;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE]; /* bits the guest may write */
    PCIBar bars[PCI_NUM_BARS];
    uint8_t next_cap; /* where the next capability goes */
    int intx_level;
    bool intx_applied; /* counted on its PIRQ line */
    /* Optional hooks run after the generic config-space handling. */
    void (*config_written)(PCIDevice *dev, uint32_t addr, uint32_t val, int len);
    /* Optional, before a config read: bytes that mirror other state are refreshed. */
    void (*config_reading)(PCIDevice *dev, uint32_t addr, int len);
    void *opaque;
};

/* pirq_to_irq: the four PIRQ lines' interrupt lines (the machine's GSIs), in order. */
PCIBus *pci_bus_new(IoSpace *io, IoSpace *mmio, IrqLine *pirq_lines[4],
                    const uint8_t pirq_isa_irq[4]);
void pci_bus_free(PCIBus *bus);
bool pci_host_register_ports(PCIBus *bus, IoSpace *io, GError **errp);
/* The bus (config address, PIRQ counts) with its host ports, as a machine device. Its state
 * is a "pci-host" section and one "pci-device" section (instance devfn) per device. */
extern const DeviceContract pci_host_device;
/* A device's config space and INTx state; loading it maps BARs where the config puts them. */
extern const VMStateDescription vmstate_pci_device;
void pci_bus_add_vmstate(PCIBus *bus, VMStateSet *set);
/* The i440FX host bridge function at 00:00.0. */
PCIDevice *pci_host_bridge_new(PCIBus *bus, GError **errp);
/* Upstream's subsystem for a function without its own: 1af4:1100 (Red Hat, QEMU). */
void pci_set_default_subsystem(PCIDevice *dev);
/* The PIIX3 PCI-to-ISA bridge, function 0 of the southbridge's slot (00:01.0 on pc). */
PCIDevice *pci_piix3_isa_new(PCIBus *bus, int devfn, GError **errp);

/* devfn < 0: the first free slot from 1 on. The device is zeroed and owned by the bus. */
PCIDevice *pci_device_new(PCIBus *bus, const char *name, int devfn, uint16_t vendor,
                          uint16_t device, uint32_t class_rev, GError **errp);
PCIDevice *pci_bus_find(PCIBus *bus, int devfn);
void pci_device_set_id(PCIDevice *dev, const char *id);
void pci_register_bar(PCIDevice *dev, int bar, PCIBarType type, bool prefetch, uint64_t size,
                      const IoRegionOps *ops, void *opaque);
/* Where BAR bar decodes now (upstream's rules), or UINT64_MAX when it does not decode. */
uint64_t pci_bar_address(PCIDevice *dev, int bar);
/* Adds a capability of len bytes with ID cap_id after the last one in config space, at the
 * head of the list (upstream's order); returns its config offset, 0 if full. */
uint8_t pci_add_capability(PCIDevice *dev, uint8_t cap_id, uint8_t len);
void pci_set_irq(PCIDevice *dev, int level);
/* An MSI or MSI-X message: a 32-bit write of data to addr in the bus's memory space (the local
 * APIC decodes 0xfee00000-0xfeefffff), dropped while the function's bus mastering is off. */
void pci_msi_send(PCIDevice *dev, uint64_t addr, uint32_t data);

/* Firmware's job done by the machine: BARs placed from io_base / mem_base upwards,
 * decoding and bus mastering enabled, interrupt line set. */
void pci_bus_assign_resources(PCIBus *bus, uint32_t io_base, uint64_t mem_base);
/* Device reset: command register off (regions unmapped), BARs and interrupt kept. */
void pci_bus_reset(PCIBus *bus);

/* Config accessors (the host bridge's data port ends here; tests use them directly). */
uint32_t pci_config_read(PCIDevice *dev, uint32_t addr, int len);
void pci_config_write(PCIDevice *dev, uint32_t addr, uint32_t val, int len);

static inline void pci_set_word(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static inline void pci_set_long(uint8_t *p, uint32_t v)
{
    pci_set_word(p, v);
    pci_set_word(p + 2, v >> 16);
}

static inline uint16_t pci_get_word(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

static inline uint32_t pci_get_long(const uint8_t *p)
{
    return pci_get_word(p) | ((uint32_t)pci_get_word(p + 2) << 16);
}

#endif
