/*
 * MSI-X (hw/pci/msix.c): the capability as upstream lays it out, the table and PBA through the
 * BAR, function and vector masks with pending bits, bus mastering, reset; messages land in a
 * recorder mapped where the local APIC decodes them.
 */
#include "hw/pci/msix.h"
#include "io-helpers.h"

#define BAR_ADDR 0xfebd1000ull
#define NVEC     4

typedef struct Message {
    uint64_t addr;
    uint32_t data;
} Message;

typedef struct Fixture {
    IoSpace *io, *mmio;
    PCIBus *bus;
    PCIDevice *dev;
    PCIMsix msix;
    GArray *msgs;
} Fixture;

static uint64_t apic_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void apic_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    Fixture *f = opaque;
    g_assert_cmpint(size, ==, 4);
    Message m = {0xfee00000ull + addr, val};
    g_array_append_val(f->msgs, m);
}

static const IoRegionOps apic_ops = {.read = apic_read, .write = apic_write};

static void config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    Fixture *f = d->opaque;
    msix_config_written(&f->msix, addr, len);
}

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    f->mmio = io_space_new("mmio", 1ull << 40);
    f->bus = pci_bus_new(f->io, f->mmio, NULL, NULL);
    f->msgs = g_array_new(FALSE, TRUE, sizeof(Message));
    g_assert_true(io_space_add(f->mmio, "apic", 0xfee00000ull, 0x100000, &apic_ops, f, NULL));
    f->dev =
        pci_device_new(f->bus, "virtio-net-pci", PCI_DEVFN(3, 0), 0x1af4, 0x1000, 0x02000000, NULL);
    g_assert_nonnull(f->dev);
    f->dev->opaque = f;
    f->dev->config_written = config_written;
    g_assert_true(msix_init(&f->msix, f->dev, NVEC, 1));
    pci_config_write(f->dev, PCI_BASE_ADDRESS_0 + 4, BAR_ADDR, 4);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void teardown(Fixture *f, gconstpointer data)
{
    pci_bus_free(f->bus);
    io_space_free(f->io);
    io_space_free(f->mmio);
    g_array_free(f->msgs, TRUE);
}

static uint16_t ctrl(Fixture *f)
{
    return pci_config_read(f->dev, f->msix.cap + PCI_MSIX_FLAGS, 2);
}

static void set_ctrl(Fixture *f, uint16_t v)
{
    pci_config_write(f->dev, f->msix.cap + PCI_MSIX_FLAGS, v, 2);
}

/* What Linux's msix_setup_msi_descs / __pci_write_msi_msg do for one entry. */
static void program(Fixture *f, unsigned n, uint32_t addr, uint32_t data, bool masked)
{
    uint64_t e = BAR_ADDR + n * PCI_MSIX_ENTRY_SIZE;
    mmio_writel(f->mmio, e, addr);
    mmio_writel(f->mmio, e + 4, 0);
    mmio_writel(f->mmio, e + 8, data);
    mmio_writel(f->mmio, e + 12, masked);
}

static uint32_t pba(Fixture *f)
{
    return mmio_readl(f->mmio, BAR_ADDR + MSIX_PBA_OFFSET);
}

static void assert_messages(Fixture *f, guint n)
{
    g_assert_cmpuint(f->msgs->len, ==, n);
}

static Message msg(Fixture *f, guint i)
{
    return g_array_index(f->msgs, Message, i);
}

static void test_capability_layout(Fixture *f, gconstpointer data)
{
    /* upstream's exclusive BAR: the table at 0 and the PBA at 0x800 of BAR 1, 12 bytes of
     * capability with the table size read only, mask and enable writable */
    uint8_t c = f->msix.cap;
    g_assert_cmphex(f->dev->config[PCI_CAPABILITY_LIST], ==, c);
    g_assert_cmphex(f->dev->config[c], ==, PCI_CAP_ID_MSIX);
    g_assert_cmphex(ctrl(f), ==, NVEC - 1);
    g_assert_cmphex(pci_config_read(f->dev, c + 4, 4), ==, 0x00000001);
    g_assert_cmphex(pci_config_read(f->dev, c + 8, 4), ==, 0x00000801);
    set_ctrl(f, 0xffff);
    g_assert_cmphex(ctrl(f), ==, 0xc000 | (NVEC - 1));
    /* BAR 1: 32-bit, non-prefetchable memory, 4 KiB */
    pci_config_write(f->dev, PCI_BASE_ADDRESS_0 + 4, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(f->dev, PCI_BASE_ADDRESS_0 + 4, 4), ==, 0xfffff000);
    /* every vector starts masked, nothing pending */
    for (unsigned n = 0; n < NVEC; n++) {
        g_assert_cmphex(f->msix.table[n * 16 + 12], ==, 1);
    }
    g_assert_false(msix_init(&(PCIMsix){0}, f->dev, 0, 2));
    g_assert_false(msix_init(&(PCIMsix){0}, f->dev, MSIX_MAX_VECTORS + 1, 2));
}

static void test_disabled_sends_nothing(Fixture *f, gconstpointer data)
{
    program(f, 0, 0xfee00000, 0x41, false);
    msix_notify(&f->msix, 0);
    assert_messages(f, 0);
    g_assert_cmphex(pba(f), ==, 0);
    g_assert_false(msix_enabled(&f->msix));
}

static void test_unmasked_vector_sends(Fixture *f, gconstpointer data)
{
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    program(f, 2, 0xfee01004, 0x8152, false);
    msix_notify(&f->msix, 2);
    assert_messages(f, 1);
    g_assert_cmphex(msg(f, 0).addr, ==, 0xfee01004);
    g_assert_cmphex(msg(f, 0).data, ==, 0x8152);
    /* table reads back what was written; vector control keeps the mask bit alone */
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR + 32), ==, 0xfee01004);
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR + 40), ==, 0x8152);
    mmio_writel(f->mmio, BAR_ADDR + 44, 0xfffffffe);
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR + 44), ==, 0);
    /* beyond the table: nothing */
    msix_notify(&f->msix, NVEC);
    mmio_writel(f->mmio, BAR_ADDR + NVEC * 16, 0x1234);
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR + NVEC * 16), ==, 0);
    assert_messages(f, 1);
}

static void test_masked_vector_pends_until_unmask(Fixture *f, gconstpointer data)
{
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    program(f, 1, 0xfee00000, 0x42, true);
    msix_notify(&f->msix, 1);
    msix_notify(&f->msix, 1);
    assert_messages(f, 0);
    g_assert_cmphex(pba(f), ==, 0x2);
    g_assert_true(msix_vector_pending(&f->msix, 1));
    /* the PBA is read only */
    mmio_writel(f->mmio, BAR_ADDR + MSIX_PBA_OFFSET, 0);
    g_assert_cmphex(pba(f), ==, 0x2);
    /* unmasking delivers the held message once and clears the bit */
    mmio_writel(f->mmio, BAR_ADDR + 16 + 12, 0);
    assert_messages(f, 1);
    g_assert_cmphex(msg(f, 0).data, ==, 0x42);
    g_assert_cmphex(pba(f), ==, 0);
    /* a vector masked again holds the next one */
    mmio_writel(f->mmio, BAR_ADDR + 16 + 12, 1);
    msix_notify(&f->msix, 1);
    assert_messages(f, 1);
    g_assert_cmphex(pba(f), ==, 0x2);
}

static void test_function_mask(Fixture *f, gconstpointer data)
{
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    program(f, 0, 0xfee00000, 0x41, false);
    program(f, 3, 0xfee00000, 0x44, true);
    msix_notify(&f->msix, 0);
    msix_notify(&f->msix, 3);
    assert_messages(f, 0);
    g_assert_cmphex(pba(f), ==, 0x9);
    /* clearing the function mask sends what the vector's own mask no longer holds */
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    assert_messages(f, 1);
    g_assert_cmphex(msg(f, 0).data, ==, 0x41);
    g_assert_cmphex(pba(f), ==, 0x8);
}

static void test_enable_while_pending(Fixture *f, gconstpointer data)
{
    /* pending bits survive MSI-X off and go out once it is on and the vector unmasked */
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    msix_notify(&f->msix, 0);
    g_assert_cmphex(pba(f), ==, 1);
    set_ctrl(f, 0);
    program(f, 0, 0xfee00000, 0x41, false);
    assert_messages(f, 0);
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    assert_messages(f, 1);
    g_assert_cmphex(pba(f), ==, 0);
}

static void test_no_bus_master_no_message(Fixture *f, gconstpointer data)
{
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    program(f, 0, 0xfee00000, 0x41, false);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    msix_notify(&f->msix, 0);
    assert_messages(f, 0);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    msix_notify(&f->msix, 0);
    assert_messages(f, 1);
}

static void test_enable_lowers_intx(Fixture *f, gconstpointer data)
{
    f->dev->config[PCI_INTERRUPT_PIN] = 1;
    pci_set_irq(f->dev, 1);
    g_assert_cmphex(f->dev->config[PCI_STATUS] & PCI_STATUS_INTERRUPT, !=, 0);
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
    g_assert_cmphex(f->dev->config[PCI_STATUS] & PCI_STATUS_INTERRUPT, ==, 0);
}

static void test_reset(Fixture *f, gconstpointer data)
{
    set_ctrl(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    program(f, 0, 0xfee00000, 0x41, false);
    msix_notify(&f->msix, 0);
    msix_reset(&f->msix);
    g_assert_cmphex(ctrl(f), ==, NVEC - 1);
    g_assert_cmphex(pba(f), ==, 0);
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR), ==, 0);
    g_assert_cmphex(mmio_readl(f->mmio, BAR_ADDR + 12), ==, 1);
    assert_messages(f, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/msix/capability-layout", test_capability_layout);
    ADD("/msix/disabled-sends-nothing", test_disabled_sends_nothing);
    ADD("/msix/unmasked-vector-sends", test_unmasked_vector_sends);
    ADD("/msix/masked-vector-pends-until-unmask", test_masked_vector_pends_until_unmask);
    ADD("/msix/function-mask", test_function_mask);
    ADD("/msix/enable-while-pending", test_enable_while_pending);
    ADD("/msix/no-bus-master-no-message", test_no_bus_master_no_message);
    ADD("/msix/enable-lowers-intx", test_enable_lowers_intx);
    ADD("/msix/reset", test_reset);
    return g_test_run();
}
