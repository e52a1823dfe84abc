/*
 * MSI-X (PCI Local Bus 3.0 6.8.2) for a PCI function, in an exclusive 4 KiB memory BAR laid out
 * as upstream's msix_init_exclusive_bar(): the table at offset 0, the pending bit array (PBA) at
 * 0x800.
 *
 *   capability (12 bytes, ID 0x11):  +2 Message Control: bits 10:0 table size - 1 (read only),
 *                                        bit 14 function mask, bit 15 enable (guest-writable)
 *                                    +4 table offset | BIR    +8 PBA offset | BIR
 *   table entry n (16 bytes):        address lo, address hi, data, vector control (bit 0 mask)
 *
 * A vector's message goes out as a 32-bit write of data to address in the bus's memory space
 * (0xfee0_0000.. reaches the local APIC), only while bus mastering is on:
 *
 *   msix_notify(n) ─► enabled? ─no─► dropped (the transport uses INTx instead)
 *                       │yes
 *                       ├─ function or vector n masked ─► PBA bit n set
 *                       └─ otherwise ─► message sent
 *   unmask (function mask cleared or vector control written) ─► each pending bit of a vector
 *   now unmasked: cleared, message sent
 *
 * The table and PBA are the device's state (msix_vmstate fields); Message Control is in the
 * config space the PCI device section already saves.
 */
#ifndef HW_PCI_MSIX_H
#define HW_PCI_MSIX_H

#include "hw/pci/pci.h"

#define PCI_CAP_ID_MSIX        0x11
#define PCI_MSIX_CAP_LEN       12
#define PCI_MSIX_FLAGS         2 /* Message Control, from the capability */
#define PCI_MSIX_FLAGS_QSIZE   0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE  0x8000
#define PCI_MSIX_ENTRY_SIZE    16
#define PCI_MSIX_ENTRY_CTRL    12
#define PCI_MSIX_ENTRY_MASKBIT 1

/* The exclusive BAR's size and where the PBA sits in it. */
#define MSIX_BAR_SIZE   0x1000
#define MSIX_PBA_OFFSET 0x800
/* Vectors that fit the 4 KiB BAR; upstream grows the BAR for more (up to 2048), we do not. */
#define MSIX_MAX_VECTORS 128

typedef struct PCIMsix {
    PCIDevice *dev;
    uint8_t cap;       /* config offset of the capability, 0: no MSI-X */
    uint16_t nentries; /* table size */
    uint8_t table[MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE];
    uint8_t pba[MSIX_MAX_VECTORS / 8];
    uint64_t sent, pended; /* messages sent, notifications held by a mask */
} PCIMsix;

/* Adds the capability and registers bar as its 4 KiB memory BAR. False (and nothing added) if
 * nentries is 0 or above MSIX_MAX_VECTORS. */
bool msix_init(PCIMsix *m, PCIDevice *dev, unsigned nentries, int bar);
bool msix_present(const PCIMsix *m);
bool msix_enabled(const PCIMsix *m);
/* Signals vector n (see the diagram); an unknown vector or MSI-X disabled does nothing. */
void msix_notify(PCIMsix *m, unsigned vector);
/* The device's config_written hook calls it: a Message Control write may unmask vectors or
 * turn MSI-X on (INTx lowered) or off. True if the write reached Message Control's mask and
 * enable bits (the device re-evaluates its INTx line then). */
bool msix_config_written(PCIMsix *m, uint32_t addr, int len);
/* Device reset: MSI-X disabled, every vector masked and not pending. */
void msix_reset(PCIMsix *m);
bool msix_vector_pending(const PCIMsix *m, unsigned vector);

/* The table and PBA fields, for the owning device's table (since version v). */
#define VMSTATE_MSIX(S, f, v)                                                                      \
    {.name = #f ".table",                                                                          \
     .offset = offsetof(S, f) + offsetof(PCIMsix, table),                                          \
     .type = VMS_BUFFER,                                                                           \
     .size = sizeof(((PCIMsix *)0)->table),                                                        \
     .since = v},                                                                                  \
    {                                                                                              \
        .name = #f ".pba", .offset = offsetof(S, f) + offsetof(PCIMsix, pba), .type = VMS_BUFFER,  \
        .size = sizeof(((PCIMsix *)0)->pba), .since = v                                            \
    }

#endif
