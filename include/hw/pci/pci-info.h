/*
 * query-pci's reply, as upstream's 7.2 builds it: one PciInfo for bus 0 with every function
 * in devfn order; each function's class (named where upstream names it), IDs, interrupt pin
 * and line, id= and BARs at the address they decode now (-1 when they do not decode).
 */
#ifndef HW_PCI_PCI_INFO_H
#define HW_PCI_PCI_INFO_H

#include "hw/pci/pci.h"
#include "qapi-types.h"

/* A GPtrArray of PciInfo; empty without a bus. */
GPtrArray *pci_bus_query(PCIBus *bus);
/* Upstream's name for a class code (base class << 8 | sub-class), or NULL. */
const char *pci_class_desc(uint16_t class);

#endif
