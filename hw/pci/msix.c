/* MSI-X table, PBA and Message Control (include/hw/pci/msix.h). */
#include "hw/pci/msix.h"
#include "util/log.h"

#include <string.h>

static uint16_t msg_ctrl(const PCIMsix *m)
{
    return pci_get_word(m->dev->config + m->cap + PCI_MSIX_FLAGS);
}

bool msix_present(const PCIMsix *m)
{
    return m->cap != 0;
}

bool msix_enabled(const PCIMsix *m)
{
    return m->cap && (msg_ctrl(m) & PCI_MSIX_FLAGS_ENABLE);
}

static bool vector_masked(const PCIMsix *m, unsigned n)
{
    if (msg_ctrl(m) & PCI_MSIX_FLAGS_MASKALL) {
        return true;
    }
    return m->table[n * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL] & PCI_MSIX_ENTRY_MASKBIT;
}

bool msix_vector_pending(const PCIMsix *m, unsigned n)
{
    return n < m->nentries && (m->pba[n / 8] & (1u << (n % 8)));
}

static void set_pending(PCIMsix *m, unsigned n, bool on)
{
    if (on) {
        m->pba[n / 8] |= 1u << (n % 8);
    } else {
        m->pba[n / 8] &= ~(1u << (n % 8));
    }
}

static void send(PCIMsix *m, unsigned n)
{
    const uint8_t *e = m->table + n * PCI_MSIX_ENTRY_SIZE;
    uint64_t addr = pci_get_long(e) | (uint64_t)pci_get_long(e + 4) << 32;
    m->sent++;
    pci_msi_send(m->dev, addr, pci_get_long(e + 8));
}

void msix_notify(PCIMsix *m, unsigned n)
{
    if (!msix_enabled(m) || n >= m->nentries) {
        return;
    }
    if (vector_masked(m, n)) {
        m->pended++;
        set_pending(m, n, true);
        return;
    }
    send(m, n);
}

/* A mask bit or the function mask was cleared: what was held goes out now. */
static void deliver_unmasked(PCIMsix *m, unsigned first, unsigned count)
{
    if (!msix_enabled(m)) {
        return;
    }
    for (unsigned n = first; n < first + count; n++) {
        if (msix_vector_pending(m, n) && !vector_masked(m, n)) {
            set_pending(m, n, false);
            send(m, n);
        }
    }
}

bool msix_config_written(PCIMsix *m, uint32_t addr, int len)
{
    uint32_t ctrl_hi = m->cap + PCI_MSIX_FLAGS + 1; /* the byte with the mask and enable bits */
    if (!m->cap || addr > ctrl_hi || addr + len <= ctrl_hi) {
        return false;
    }
    if (msix_enabled(m)) {
        pci_set_irq(m->dev, 0); /* the function signals by message alone now */
    }
    deliver_unmasked(m, 0, m->nentries);
    return true;
}

static uint64_t table_read(PCIMsix *m, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && addr + i < sizeof(m->table); i++) {
        v |= (uint64_t)m->table[addr + i] << (8 * i);
    }
    return v;
}

static void table_write(PCIMsix *m, uint64_t addr, uint64_t val, unsigned size)
{
    unsigned n = addr / PCI_MSIX_ENTRY_SIZE;
    if (n >= m->nentries) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: MSI-X table write beyond entry %u\n", m->dev->name,
                      m->nentries - 1);
        return;
    }
    for (unsigned i = 0; i < size && addr + i < (n + 1u) * PCI_MSIX_ENTRY_SIZE; i++) {
        m->table[addr + i] = val >> (8 * i);
    }
    /* vector control: only the mask bit is defined, the rest reads as zero */
    uint8_t *ctrl = m->table + n * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL;
    pci_set_long(ctrl, pci_get_long(ctrl) & PCI_MSIX_ENTRY_MASKBIT);
    deliver_unmasked(m, n, 1);
}

static uint64_t bar_read(void *opaque, uint64_t addr, unsigned size)
{
    PCIMsix *m = opaque;
    if (addr < MSIX_PBA_OFFSET) {
        return table_read(m, addr, size);
    }
    uint64_t v = 0;
    addr -= MSIX_PBA_OFFSET;
    for (unsigned i = 0; i < size && addr + i < sizeof(m->pba); i++) {
        v |= (uint64_t)m->pba[addr + i] << (8 * i);
    }
    return v;
}

static void bar_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    PCIMsix *m = opaque;
    if (addr < MSIX_PBA_OFFSET) {
        table_write(m, addr, val, size);
    }
    /* the PBA is read only */
}

static const IoRegionOps msix_bar_ops = {.read = bar_read, .write = bar_write};

void msix_reset(PCIMsix *m)
{
    if (!m->cap) {
        return;
    }
    uint8_t *ctrl = m->dev->config + m->cap + PCI_MSIX_FLAGS;
    pci_set_word(ctrl, pci_get_word(ctrl) & PCI_MSIX_FLAGS_QSIZE);
    memset(m->table, 0, sizeof(m->table));
    for (unsigned n = 0; n < m->nentries; n++) {
        m->table[n * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL] = PCI_MSIX_ENTRY_MASKBIT;
    }
    memset(m->pba, 0, sizeof(m->pba));
}

bool msix_init(PCIMsix *m, PCIDevice *dev, unsigned nentries, int bar)
{
    m->dev = dev;
    m->cap = 0;
    m->nentries = 0;
    if (nentries == 0 || nentries > MSIX_MAX_VECTORS) {
        return false;
    }
    uint8_t cap = pci_add_capability(dev, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);
    if (!cap) {
        return false;
    }
    m->cap = cap;
    m->nentries = nentries;
    pci_register_bar(dev, bar, PCI_BAR_MEM32, false, MSIX_BAR_SIZE, &msix_bar_ops, m);
    pci_set_word(dev->config + cap + PCI_MSIX_FLAGS, nentries - 1);
    pci_set_word(dev->wmask + cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_MASKALL | PCI_MSIX_FLAGS_ENABLE);
    pci_set_long(dev->config + cap + 4, 0 | bar);
    pci_set_long(dev->config + cap + 8, MSIX_PBA_OFFSET | bar);
    msix_reset(m);
    return true;
}
