/* PCI host bridge config mechanism #1, BAR sizing/programming/mapping, INTx sharing. */
#include "hw/pci/pci-info.h"
#include "hw/pci/pci.h"
#include "io-helpers.h"

typedef struct Fixture {
    IoSpace *io, *mmio;
    PCIBus *bus;
    IrqProbe pirq[4];
    int bar_reads;
    GPtrArray *query; /* the last pci_bus_query() */
} Fixture;

static uint64_t dummy_read(void *opaque, uint64_t addr, unsigned size)
{
    ((Fixture *)opaque)->bar_reads++;
    return 0x1234 + addr;
}

static void dummy_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
}

static const IoRegionOps dummy_ops = {.read = dummy_read, .write = dummy_write};

static void setup(Fixture *f, gconstpointer data)
{
    f->io = io_space_new("io", 0x10000);
    f->mmio = io_space_new("mmio", 1ull << 40);
    IrqLine *lines[4];
    for (int i = 0; i < 4; i++) {
        irq_probe_init(&f->pirq[i], i);
        lines[i] = &f->pirq[i].line;
    }
    static const uint8_t isa[4] = {10, 10, 11, 11};
    f->bus = pci_bus_new(f->io, f->mmio, lines, isa);
    g_assert_true(pci_host_register_ports(f->bus, f->io, NULL));
    g_assert_nonnull(pci_host_bridge_new(f->bus, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->query, g_ptr_array_unref);
    pci_bus_free(f->bus);
    io_space_free(f->io);
    io_space_free(f->mmio);
}

static void test_conf1_probe(Fixture *f, gconstpointer data)
{
    /* Linux's pci_check_type1 */
    outb(f->io, 0xcfb, 0x01);
    uint32_t tmp = inl(f->io, 0xcf8);
    outl(f->io, 0xcf8, 0x80000000u);
    g_assert_cmphex(inl(f->io, 0xcf8), ==, 0x80000000u);
    outl(f->io, 0xcf8, tmp);
    g_assert_cmphex(pci_cfg_read(f->io, 0, 0, 4), ==, 0x12378086);
    g_assert_cmphex(pci_cfg_read(f->io, 0, 0x0a, 2), ==, 0x0600);
    /* absent functions and other buses read all-ones */
    g_assert_cmphex(pci_cfg_read(f->io, PCI_DEVFN(5, 0), 0, 4), ==, 0xffffffff);
    outl(f->io, 0xcf8, 0x80010000u);
    g_assert_cmphex(inl(f->io, 0xcfc), ==, 0xffffffff);
    /* without the enable bit nothing is addressed */
    outl(f->io, 0xcf8, 0x00000000u);
    g_assert_cmphex(inw(f->io, 0xcfc), ==, 0xffff);
}

static void test_bar_sizing_and_mapping(Fixture *f, gconstpointer data)
{
    PCIDevice *d = pci_device_new(f->bus, "dummy", -1, 0x1af4, 0x1000, 0x02000000, NULL);
    g_assert_nonnull(d);
    g_assert_cmpint(d->devfn, ==, PCI_DEVFN(1, 0));
    pci_register_bar(d, 0, PCI_BAR_IO, false, 0x20, &dummy_ops, f);
    pci_register_bar(d, 4, PCI_BAR_MEM64, true, 0x4000, &dummy_ops, f);
    int fn = d->devfn;
    pci_cfg_write(f->io, fn, 0x10, 0xffffffff, 4);
    g_assert_cmphex(pci_cfg_read(f->io, fn, 0x10, 4), ==, 0xffffffe1);
    pci_cfg_write(f->io, fn, 0x20, 0xffffffff, 4);
    pci_cfg_write(f->io, fn, 0x24, 0xffffffff, 4);
    g_assert_cmphex(pci_cfg_read(f->io, fn, 0x20, 4), ==, 0xffffc00c);
    g_assert_cmphex(pci_cfg_read(f->io, fn, 0x24, 4), ==, 0xffffffff);
    /* program, then enable decoding */
    pci_cfg_write(f->io, fn, 0x10, 0xc040, 4);
    pci_cfg_write(f->io, fn, 0x20, 0xfe000000, 4);
    pci_cfg_write(f->io, fn, 0x24, 0, 4);
    g_assert_null(io_space_lookup(f->mmio, 0xfe000000));
    pci_cfg_write(f->io, fn, 0x04, 0x3, 2);
    g_assert_cmpstr(io_space_lookup(f->io, 0xc040), ==, "dummy@01.0-bar0");
    g_assert_cmpstr(io_space_lookup(f->mmio, 0xfe003fff), ==, "dummy@01.0-bar4");
    g_assert_cmphex(mmio_readl(f->mmio, 0xfe000010), ==, 0x1244);
    /* move it */
    pci_cfg_write(f->io, fn, 0x20, 0xfd000000, 4);
    g_assert_null(io_space_lookup(f->mmio, 0xfe000000));
    g_assert_cmpstr(io_space_lookup(f->mmio, 0xfd000000), ==, "dummy@01.0-bar4");
    /* disable memory decoding: gone */
    pci_cfg_write(f->io, fn, 0x04, 0x1, 2);
    g_assert_null(io_space_lookup(f->mmio, 0xfd000000));
    g_assert_cmphex(mmio_readl(f->mmio, 0xfd000000), ==, 0); /* unassigned memory, as upstream */
}

static void test_assign_and_intx(Fixture *f, gconstpointer data)
{
    PCIDevice *a = pci_device_new(f->bus, "a", PCI_DEVFN(3, 0), 0x1af4, 0x1000, 0, NULL);
    PCIDevice *b = pci_device_new(f->bus, "b", PCI_DEVFN(7, 0), 0x1af4, 0x1000, 0, NULL);
    a->config[PCI_INTERRUPT_PIN] = 1;
    b->config[PCI_INTERRUPT_PIN] = 1;
    pci_register_bar(a, 0, PCI_BAR_MEM32, false, 0x1000, &dummy_ops, f);
    pci_register_bar(b, 0, PCI_BAR_MEM32, false, 0x1000, &dummy_ops, f);
    pci_bus_assign_resources(f->bus, 0xc000, 0xfebf0000);
    g_assert_cmpstr(io_space_lookup(f->mmio, 0xfebf0000), ==, "a@03.0-bar0");
    g_assert_cmpstr(io_space_lookup(f->mmio, 0xfebf1000), ==, "b@07.0-bar0");
    /* slot 3 INTA -> PIRQ C (irq 11), (3 - 1 + 0) & 3; slot 7 INTA -> PIRQ C as well: shared */
    g_assert_cmpint(a->config[PCI_INTERRUPT_LINE], ==, 11);
    g_assert_cmpint(b->config[PCI_INTERRUPT_LINE], ==, 11);
    pci_set_irq(a, 1);
    pci_set_irq(b, 1);
    g_assert_cmpint(f->pirq[2].level, ==, 1);
    pci_set_irq(a, 0);
    g_assert_cmpint(f->pirq[2].level, ==, 1);
    pci_set_irq(b, 0);
    g_assert_cmpint(f->pirq[2].level, ==, 0);
    /* INTx disable in the command register holds the line down */
    pci_set_irq(a, 1);
    pci_cfg_write(f->io, a->devfn, 0x04, 0x402, 2);
    g_assert_cmpint(f->pirq[2].level, ==, 0);
    g_assert_cmphex(pci_cfg_read(f->io, a->devfn, 0x06, 2) & 0x08, ==, 0x08);
    pci_cfg_write(f->io, a->devfn, 0x04, 0x002, 2);
    g_assert_cmpint(f->pirq[2].level, ==, 1);
}

/* Slot s, pin p raises PIRQ (s - 1 + p - 1) & 3, the i440FX's swizzle that SeaBIOS writes into
 * the Interrupt Line register and the DSDT's _PRT describes: a guest that trusts either must
 * get the line the device drives. */
static void test_intx_swizzle(Fixture *f, gconstpointer data)
{
    for (int slot = 1; slot <= 8; slot++) {
        PCIDevice *d = pci_device_new(f->bus, "d", PCI_DEVFN(slot, 0), 0x1af4, 0x1000, 0, NULL);
        for (int pin = 1; pin <= 4; pin++) {
            d->config[PCI_INTERRUPT_PIN] = pin;
            pci_set_irq(d, 1);
            for (int k = 0; k < 4; k++) {
                g_assert_cmpint(f->pirq[k].level, ==, k == ((slot - 1 + pin - 1) & 3));
            }
            pci_set_irq(d, 0);
        }
    }
}

static void test_bad_input_contained(Fixture *f, gconstpointer data)
{
    PCIDevice *a = pci_device_new(f->bus, "a", -1, 0x1af4, 0x1000, 0, NULL);
    PCIDevice *b = pci_device_new(f->bus, "b", -1, 0x1af4, 0x1000, 0, NULL);
    pci_register_bar(a, 0, PCI_BAR_MEM32, false, 0x1000, &dummy_ops, f);
    pci_register_bar(b, 0, PCI_BAR_MEM32, false, 0x1000, &dummy_ops, f);
    /* both BARs at the same address: the second stays unmapped, nothing crashes */
    pci_cfg_write(f->io, a->devfn, 0x10, 0xe0000000, 4);
    pci_cfg_write(f->io, b->devfn, 0x10, 0xe0000000, 4);
    pci_cfg_write(f->io, a->devfn, 0x04, 2, 2);
    pci_cfg_write(f->io, b->devfn, 0x04, 2, 2);
    g_assert_cmpstr(io_space_lookup(f->mmio, 0xe0000000), ==, "a@01.0-bar0");
    /* read-only identity bytes stay, garbage everywhere is survived */
    for (int reg = 0; reg < 256; reg++) {
        pci_cfg_write(f->io, a->devfn, reg, 0xffffffff, 1);
    }
    g_assert_cmphex(pci_cfg_read(f->io, a->devfn, 0, 4), ==, 0x10001af4);
    GError *err = NULL;
    g_assert_null(pci_device_new(f->bus, "dup", a->devfn, 1, 1, 0, &err));
    g_assert_cmpstr(err->message, ==,
                    "PCI: slot 1 function 0 not available for dup, in use by a,id=(null)");
    g_clear_error(&err);
    pci_device_set_id(a, "n0");
    g_assert_null(pci_device_new(f->bus, "dup", a->devfn, 1, 1, 0, &err));
    g_assert_cmpstr(err->message, ==,
                    "PCI: slot 1 function 0 not available for dup, in use by a,id=n0");
    g_clear_error(&err);
}

static PciDeviceInfo *queried(Fixture *f, int index)
{
    g_clear_pointer(&f->query, g_ptr_array_unref);
    f->query = pci_bus_query(f->bus);
    g_assert_cmpuint(f->query->len, ==, 1);
    PciInfo *bus = g_ptr_array_index(f->query, 0);
    g_assert_cmpint(bus->bus, ==, 0);
    g_assert_cmpuint(bus->devices->len, >, index);
    return g_ptr_array_index(bus->devices, index);
}

static PciMemoryRegion *region(PciDeviceInfo *info, int index)
{
    g_assert_cmpuint(info->regions->len, >, index);
    return g_ptr_array_index(info->regions, index);
}

/* query-pci's view: identity, class names, interrupt, and BARs at the address they decode
 * (upstream's rules: -1 until programmed and enabled, or while sizing) */
static void test_query(Fixture *f, gconstpointer data)
{
    PCIDevice *d = pci_device_new(f->bus, "nic", PCI_DEVFN(3, 0), 0x1af4, 0x1000, 0x02000000, NULL);
    pci_set_default_subsystem(d);
    pci_device_set_id(d, "net0");
    d->config[PCI_INTERRUPT_PIN] = 1;
    pci_register_bar(d, 0, PCI_BAR_IO, false, 0x20, &dummy_ops, f);
    pci_register_bar(d, 4, PCI_BAR_MEM64, true, 0x4000, &dummy_ops, f);
    PCIDevice *odd = pci_device_new(f->bus, "odd", PCI_DEVFN(3, 2), 1, 2, 0xff000000, NULL);

    PciDeviceInfo *host = queried(f, 0);
    g_assert_cmpstr(host->class_info->desc, ==, "Host bridge");
    g_assert_cmpint(host->class_info->class, ==, 0x0600);
    g_assert_false(host->has_irq);
    g_assert_cmpint(host->irq_pin, ==, 0);
    g_assert_cmpstr(host->qdev_id, ==, "");
    g_assert_cmpuint(host->regions->len, ==, 0);

    PciDeviceInfo *nic = queried(f, 1);
    g_assert_cmpint(nic->slot, ==, 3);
    g_assert_cmpint(nic->function, ==, 0);
    g_assert_cmpstr(nic->class_info->desc, ==, "Ethernet controller");
    g_assert_cmpint(nic->id->vendor, ==, 0x1af4);
    g_assert_cmpint(nic->id->device, ==, 0x1000);
    g_assert_true(nic->id->has_subsystem && nic->id->has_subsystem_vendor);
    g_assert_cmpint(nic->id->subsystem_vendor, ==, 0x1af4);
    g_assert_cmpint(nic->id->subsystem, ==, 0x1100);
    g_assert_true(nic->has_irq);
    g_assert_cmpint(nic->irq_pin, ==, 1);
    g_assert_cmpint(nic->irq, ==, 0);
    g_assert_cmpstr(nic->qdev_id, ==, "net0");
    g_assert_cmpuint(nic->regions->len, ==, 2);
    PciMemoryRegion *io = region(nic, 0), *mem = region(nic, 1);
    g_assert_cmpint(io->bar, ==, 0);
    g_assert_cmpstr(io->type, ==, "io");
    g_assert_false(io->has_prefetch || io->has_mem_type_64);
    g_assert_cmpint(io->address, ==, -1);
    g_assert_cmpint(io->size, ==, 0x20);
    g_assert_cmpint(mem->bar, ==, 4);
    g_assert_cmpstr(mem->type, ==, "memory");
    g_assert_true(mem->has_prefetch && mem->prefetch);
    g_assert_true(mem->has_mem_type_64 && mem->mem_type_64);
    g_assert_cmpint(mem->address, ==, -1);

    /* programmed but not enabled, then enabled; the line as written */
    int fn = d->devfn;
    pci_cfg_write(f->io, fn, 0x10, 0xc040, 4);
    pci_cfg_write(f->io, fn, 0x20, 0xfe000000, 4);
    pci_cfg_write(f->io, fn, 0x24, 0x1, 4);
    pci_cfg_write(f->io, fn, 0x3c, 11, 1);
    g_assert_cmpint(region(queried(f, 1), 1)->address, ==, -1);
    pci_cfg_write(f->io, fn, 0x04, 0x3, 2);
    nic = queried(f, 1);
    g_assert_cmpint(region(nic, 0)->address, ==, 0xc040);
    g_assert_cmpint(region(nic, 1)->address, ==, 0x1fe000000);
    g_assert_cmpint(nic->irq, ==, 11);
    /* a BAR being sized does not decode */
    pci_cfg_write(f->io, fn, 0x10, 0xffffffff, 4);
    pci_cfg_write(f->io, fn, 0x20, 0xffffffff, 4);
    pci_cfg_write(f->io, fn, 0x24, 0xffffffff, 4);
    nic = queried(f, 1);
    g_assert_cmpint(region(nic, 0)->address, ==, -1);
    g_assert_cmpint(region(nic, 1)->address, ==, -1);
    /* an I/O BAR past 64 KiB decodes (as upstream reports it) without reaching the ports */
    pci_cfg_write(f->io, fn, 0x10, 0x10000, 4);
    g_assert_cmpint(region(queried(f, 1), 0)->address, ==, 0x10000);

    /* a class upstream has no name for, and no pin */
    PciDeviceInfo *o = queried(f, 2);
    g_assert_cmpint(o->function, ==, 2);
    g_assert_null(o->class_info->desc);
    g_assert_cmpint(o->class_info->class, ==, 0xff00);
    g_assert_false(o->has_irq);
    g_assert_cmpint(odd->devfn, ==, PCI_DEVFN(3, 2));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/pci/conf1-probe", test_conf1_probe);
    ADD("/pci/bar-sizing", test_bar_sizing_and_mapping);
    ADD("/pci/assign-intx", test_assign_and_intx);
    ADD("/pci/intx-swizzle", test_intx_swizzle);
    ADD("/pci/bad-input", test_bad_input_contained);
    ADD("/pci/query", test_query);
    return g_test_run();
}
