/* The pc machine (include/hw/i386/pc.h). */
#include "hw/i386/pc.h"
#include "hw/acpi/acpi-tables.h"
#include "hw/acpi/pm.h"
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/i386/e820.h"
#include "hw/i386/pc-sysctl.h"
#include "hw/input/i8042.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/pci/pci.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818rtc.h"
#include "hw/virtio/virtio-net-nc.h"
#include "hw/virtio/virtio-pci.h"
#include "net/net.h"
#include "target/i386/cpu.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PC_NUM_GSI       24
#define ACPI_TABLES_BASE 0xe0000

typedef struct PcNic {
    char *id;
    char *name; /* "virtio-net-pci.0" when no id was given */
    VirtIONet *net;
    VirtIOPCIProxy *proxy;
    VirtIONetClient *client; /* the net-core peer, when attached through the net core */
} PcNic;

struct PcMachine {
    PcMachineOptions opts;
    char *kernel, *initrd, *append;
    PcMachineHooks hooks;
    HwClock *clock;
    IoSpace *io, *mmio;
    IrqLine cpu_intr, cpu_nmi;
    IrqLine gsi[PC_NUM_GSI];
    IrqLine pirq[4];
    int pirq_level[4];
    I8259State *pic;
    LapicState *lapic;
    IoapicState *ioapic;
    I8254State *pit;
    RtcState *rtc;
    SerialState *serial;
    I8042State *kbc;
    AcpiPmState *pm;
    PcSysctl *sysctl;
    PCIBus *pci;
    GPtrArray *nics;
    uint64_t low_ram, high_ram;
    E820Table e820;
    LinuxBootInfo boot;
    bool have_boot;
    bool realized;
};

/* --- RAM size --------------------------------------------------------------------------- */

#define PC_MAX_RAM_SLOTS 256 /* upstream's ACPI memory hotplug limit */

/* -m's size-typed option NAME as upstream's option parser checks it: a plain number is bytes. */
static bool opt_size(const char *name, const char *s, guint64 *out, GError **errp)
{
    int ret = keyval_strtosz(s, 0, out);
    if (ret == -ERANGE) {
        error_setg(errp, "Value '%s' is out of range for parameter '%s'", s, name);
        return false;
    }
    if (ret) {
        error_setg(errp, "Parameter '%s' expects a non-negative number below 2^64", name);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                                "tera-, peta-\nand exabytes, respectively.\n");
        return false;
    }
    return true;
}

/* slots is number-typed upstream: any base strtoull reads, "-1" wrapping to 2^64 - 1. */
static bool opt_number(const char *name, const char *s, guint64 *out, GError **errp)
{
    char *end;
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    return true;
}

/*
 * The checks upstream makes once options are parsed (the machine's memory property, then the
 * board): their messages name no option. slots and maxmem are only checked: this machine has
 * no memory hotplug, so nothing can use them.
 */
static bool check_hotplug_limits(uint64_t size, const char *slots_s, guint64 slots,
                                 const char *maxmem_s, guint64 maxmem, GError **errp)
{
    error_location_clear();
    if (!maxmem_s) {
        if (slots_s) {
            error_setg(errp, "slots specified but no max-size");
            return false;
        }
        return true;
    }
    if (maxmem < size) {
        error_setg(errp,
                   "invalid value of maxmem: maximum memory size (0x%" G_GINT64_MODIFIER
                   "x) must be at least the initial memory size (0x%" G_GINT64_MODIFIER "x)",
                   maxmem, size);
        return false;
    }
    if (slots_s && slots && maxmem == size) {
        error_setg(errp,
                   "invalid value of maxmem: memory slots were specified but maximum memory "
                   "size (0x%" G_GINT64_MODIFIER
                   "x) is equal to the initial memory size (0x%" G_GINT64_MODIFIER "x)",
                   maxmem, size);
        return false;
    }
    if (slots > PC_MAX_RAM_SLOTS) {
        error_setg(errp, "unsupported amount of memory slots: %" G_GUINT64_FORMAT, slots);
        return false;
    }
    return true;
}

bool pc_parse_ram_size(const char *arg, uint64_t *out, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "size", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    if (!kv) {
        return false;
    }
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        if (strcmp(p->key, "size") && strcmp(p->key, "slots") && strcmp(p->key, "maxmem")) {
            error_set_invalid_param(errp, p->key);
            return false;
        }
    }
    const char *s = keyval_get(kv, "size");
    const char *slots_s = keyval_get(kv, "slots");
    const char *maxmem_s = keyval_get(kv, "maxmem");
    guint64 v = 0, slots = 0, maxmem = 0;
    if ((s && !opt_size("size", s, &v, errp)) ||
        (slots_s && !opt_number("slots", slots_s, &slots, errp)) ||
        (maxmem_s && !opt_size("maxmem", maxmem_s, &maxmem, errp))) {
        return false;
    }
    /*
     * Then upstream reads the size again as the machine's memory size, where text ending in a
     * digit is taken as MiB. That happens after option parsing: what it says names no option.
     */
    size_t len = s ? strlen(s) : 0;
    error_location_clear();
    if (len && g_ascii_isdigit(s[len - 1])) {
        g_autofree char *mib = g_strdup_printf("%sM", s);
        if (keyval_strtosz(mib, 0, &v)) {
            error_setg(errp, "Parameter 'memory.size' expects size");
            return false;
        }
    }
    if (v == 0) {
        v = PC_DEFAULT_RAM_SIZE; /* no size or -m 0: the default, as upstream */
    } else {
        /* upstream rounds RAM up to 8 KiB */
        v = v <= G_MAXUINT64 - 8191 ? (v + 8191) & ~(guint64)8191 : 0;
    }
    if (!check_hotplug_limits(v, slots_s, slots, maxmem_s, maxmem, errp)) {
        return false;
    }
    *out = v;
    return true;
}

bool pc_machine_type_is_pc(const char *name)
{
    return name && (!strcmp(name, "pc") || !strcmp(name, "pc-i440fx-7.2"));
}

bool pc_machine_parse_props(KeyvalList *machine_opts, PcMachineOptions *opts, GError **errp)
{
    opts->acpi = true;
    for (guint i = 0; i < machine_opts->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(machine_opts->pairs, i);
        if (!strcmp(p->key, "type") || !strcmp(p->key, "accel")) {
            continue;
        }
        if (!strcmp(p->key, "acpi")) {
            gboolean on;
            /* upstream's acpi is OnOffAuto: auto means on for this machine */
            if (!strcmp(p->value, "auto")) {
                on = TRUE;
            } else if (!strcmp(p->value, "on") || !strcmp(p->value, "off")) {
                on = !strcmp(p->value, "on");
            } else {
                error_setg(errp, "Parameter 'acpi' does not accept value '%s'", p->value);
                return false;
            }
            opts->acpi = on;
            continue;
        }
        error_setg(errp, "Property 'pc-i440fx-7.2-machine.%s' not found", p->key);
        return false;
    }
    return true;
}

void pc_ram_split(uint64_t ram_size, uint64_t *low, uint64_t *high)
{
    uint64_t lowmem = ram_size >= 0xe0000000ull ? 0xc0000000ull : 0xe0000000ull;
    *low = MIN(ram_size, lowmem);
    *high = ram_size - *low;
}

/* --- interrupt wiring ------------------------------------------------------------------- */

static void cpu_intr_handler(void *opaque, int n, int level)
{
    PcMachine *m = opaque;
    if (m->hooks.cpu_set_irq) {
        m->hooks.cpu_set_irq(m->hooks.opaque, level);
    }
}

static void cpu_nmi_handler(void *opaque, int n, int level)
{
    PcMachine *m = opaque;
    if (level && m->hooks.cpu_nmi) {
        m->hooks.cpu_nmi(m->hooks.opaque);
    }
}

/* A GSI drives the PIC input of the same number and the IOAPIC pin the MADT promises:
 * IRQ 0 on pin 2, the others on their own number. */
static void gsi_handler(void *opaque, int n, int level)
{
    PcMachine *m = opaque;
    if (n < 16) {
        i8259_set_irq(m->pic, n, level);
    }
    ioapic_set_irq(m->ioapic, n == 0 ? 2 : n, level);
}

/* PIRQ A/B share IRQ 10 and C/D IRQ 11 (pirq_isa below): the GSI is their OR. */
static void pirq_handler(void *opaque, int n, int level)
{
    PcMachine *m = opaque;
    m->pirq_level[n] = level;
    int first = n & ~1;
    irq_set_level(&m->gsi[n < 2 ? 10 : 11], m->pirq_level[first] || m->pirq_level[first + 1]);
}

static void reset_request(void *opaque)
{
    PcMachine *m = opaque;
    if (m->hooks.reset_request) {
        m->hooks.reset_request(m->hooks.opaque);
    }
}

static void poweroff_request(void *opaque)
{
    PcMachine *m = opaque;
    if (m->hooks.poweroff_request) {
        m->hooks.poweroff_request(m->hooks.opaque);
    }
}

/* --- -device virtio-net-pci ------------------------------------------------------------- */

static const DevicePropInfo virtio_net_pci_props[] = {
    {"netdev", DEV_PROP_LINK, "virtio-net-device", "ID of a netdev to use as a backend", NULL},
    {"mac", DEV_PROP_MACADDR, "virtio-net-device",
     "Ethernet 6-byte MAC Address, example: "
     "52:54:00:12:34:56",
     NULL},
    {"addr", DEV_PROP_PCI_DEVFN, NULL,
     "Slot and optional function number, example: 06.0 or "
     "06",
     "-1"},
    {"romfile", DEV_PROP_STR, NULL, NULL, NULL},
    {"bootindex", DEV_PROP_UINT32, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static bool virtio_net_pci_create(void *machine, const char *id, GHashTable *props, GError **errp)
{
    PcMachine *m = machine;
    const char *netdev = g_hash_table_lookup(props, "netdev");
    const char *mac_str = g_hash_table_lookup(props, "mac");
    const char *addr = g_hash_table_lookup(props, "addr");
    if (m->realized) {
        error_setg(errp, "Bus 'pci.0' does not support hotplugging");
        return false;
    }
    uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    mac[5] += m->nics->len; /* upstream's default: one past the previous NIC's */
    if (mac_str) {
        qdev_parse_mac(mac_str, mac);
    }
    int devfn = -1;
    if (addr) {
        qdev_parse_devfn(addr, &devfn);
    }
    g_autofree char *name = id ? g_strdup(id) : g_strdup_printf("virtio-net-pci.%u", m->nics->len);
    VirtIONet *net = virtio_net_new(m->hooks.ram, mac);
    VirtIONetClient *client = NULL;
    if (netdev) {
        bool ok;
        if (m->hooks.nic_attach) {
            ok = m->hooks.nic_attach(m->hooks.opaque, net, netdev, name, errp);
        } else {
            client = virtio_net_nc_attach(net, netdev, name, mac, errp);
            ok = client != NULL;
        }
        if (!ok) {
            virtio_net_free(net);
            return false;
        }
    }
    VirtIOPCIProxy *proxy =
        virtio_pci_new(m->pci, "virtio-net-pci", devfn, virtio_net_vdev(net), 0x020000, errp);
    if (!proxy) {
        virtio_net_nc_detach(client);
        virtio_net_free(net);
        return false;
    }
    pci_device_set_id(virtio_pci_device(proxy), id);
    if (!netdev) {
        warn_report("nic %s has no peer", name);
    }
    PcNic *nic = g_new0(PcNic, 1);
    nic->id = g_strdup(id);
    nic->name = g_steal_pointer(&name);
    nic->net = net;
    nic->proxy = proxy;
    nic->client = client;
    g_ptr_array_add(m->nics, nic);
    return true;
}

static const DeviceTypeInfo virtio_net_pci_type = {
    .name = "virtio-net-pci",
    .bus = "PCI",
    .category = "Network devices",
    .props = virtio_net_pci_props,
    .create = virtio_net_pci_create,
};

void hw_register_types(void)
{
    device_type_register(&virtio_net_pci_type);
}

static void nic_free(gpointer p)
{
    PcNic *nic = p;
    virtio_net_nc_detach(nic->client);
    virtio_pci_free(nic->proxy);
    virtio_net_free(nic->net);
    g_free(nic->id);
    g_free(nic->name);
    g_free(nic);
}

/* --- assembly --------------------------------------------------------------------------- */

PcMachine *pc_machine_new(const PcMachineOptions *opts, const PcMachineHooks *hooks, GError **errp)
{
    if (!opts->kernel && (opts->initrd || opts->append)) {
        error_setg(errp, "-%s only allowed with -kernel option",
                   opts->initrd ? "initrd" : "append");
        return NULL;
    }
    PcMachine *m = g_new0(PcMachine, 1);
    m->opts = *opts;
    m->kernel = g_strdup(opts->kernel);
    m->initrd = g_strdup(opts->initrd);
    m->append = g_strdup(opts->append);
    m->opts.kernel = m->kernel;
    m->opts.initrd = m->initrd;
    m->opts.append = m->append;
    m->hooks = *hooks;
    pc_ram_split(opts->ram_size, &m->low_ram, &m->high_ram);
    e820_build_pc(&m->e820, m->low_ram, m->high_ram);

    m->clock = hw_clock_new();
    m->io = io_space_new("io", 0x10000);
    m->mmio = io_space_new("mmio", 1ull << 52);
    irq_init(&m->cpu_intr, cpu_intr_handler, m, 0);
    irq_init(&m->cpu_nmi, cpu_nmi_handler, m, 0);
    for (int i = 0; i < PC_NUM_GSI; i++) {
        irq_init(&m->gsi[i], gsi_handler, m, i);
    }
    m->lapic = lapic_new(m->clock, 0, &m->cpu_intr, &m->cpu_nmi);
    m->ioapic = ioapic_new(m->lapic);
    m->pic = i8259_new(lapic_lint0(m->lapic));
    m->pit = i8254_new(m->clock, &m->gsi[0]);
    m->rtc = mc146818_new(m->clock, &m->gsi[8], time(NULL));
    mc146818_set_memory_size(m->rtc, m->low_ram, m->high_ram);
    m->serial = serial_new(&m->gsi[4]);
    m->kbc = i8042_new(&m->gsi[1], &m->gsi[12], reset_request, m);
    m->pm = acpi_pm_new(m->clock, &m->gsi[ACPI_SCI_IRQ], poweroff_request, m);
    m->sysctl = pc_sysctl_new(reset_request, m);
    IrqLine *pirq[4];
    for (int i = 0; i < 4; i++) {
        irq_init(&m->pirq[i], pirq_handler, m, i);
        pirq[i] = &m->pirq[i];
    }
    static const uint8_t pirq_isa[4] = {10, 10, 11, 11};
    m->pci = pci_bus_new(m->io, m->mmio, pirq, pirq_isa);
    m->nics = g_ptr_array_new_with_free_func(nic_free);

    if (!i8259_register_ports(m->pic, m->io, errp) || !i8254_register_ports(m->pit, m->io, errp) ||
        !mc146818_register_ports(m->rtc, m->io, errp) ||
        !serial_register_ports(m->serial, m->io, 0x3f8, errp) ||
        !i8042_register_ports(m->kbc, m->io, errp) ||
        !acpi_pm_register_ports(m->pm, m->io, ACPI_PM_BASE, errp) ||
        !pc_sysctl_register_ports(m->sysctl, m->io, errp) ||
        !pci_host_register_ports(m->pci, m->io, errp) ||
        !lapic_register_mmio(m->lapic, m->mmio, errp) ||
        !ioapic_register_mmio(m->ioapic, m->mmio, errp) || !pci_host_bridge_new(m->pci, errp)) {
        pc_machine_free(m);
        return NULL;
    }
    return m;
}

void pc_machine_free(PcMachine *m)
{
    if (!m) {
        return;
    }
    pci_bus_free(m->pci);
    g_ptr_array_free(m->nics, TRUE);
    pc_sysctl_free(m->sysctl);
    acpi_pm_free(m->pm);
    i8042_free(m->kbc);
    serial_free(m->serial);
    mc146818_free(m->rtc);
    i8254_free(m->pit);
    i8259_free(m->pic);
    ioapic_free(m->ioapic);
    lapic_free(m->lapic);
    io_space_free(m->io);
    io_space_free(m->mmio);
    hw_clock_free(m->clock);
    g_free(m->kernel);
    g_free(m->initrd);
    g_free(m->append);
    g_free(m);
}

bool pc_machine_device_add(PcMachine *m, KeyvalList *opts, bool *help_printed, GError **errp)
{
    return device_create_from_opts(m, opts, help_printed, errp);
}

bool pc_machine_add_nic_requests(PcMachine *m, GError **errp)
{
    for (GList *l = net_nic_list(); l; l = l->next) {
        NICRequest *req = l->data;
        /* upstream's pc default is e1000, which this machine does not have: virtio it is */
        if (req->model && strcmp(req->model, "virtio-net-pci") && strcmp(req->model, "virtio")) {
            error_setg(errp, "Unsupported NIC model: %s", req->model);
            return false;
        }
        g_autoptr(GHashTable) props = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_insert(props, (gpointer) "netdev", req->netdev);
        if (req->mac) {
            uint8_t mac[6];
            if (!qdev_parse_mac(req->mac, mac)) {
                error_setg(errp, "Property 'virtio-net-device.mac' doesn't take value '%s'",
                           req->mac);
                return false;
            }
            g_hash_table_insert(props, (gpointer) "mac", req->mac);
        }
        if (!virtio_net_pci_create(m, NULL, props, errp)) {
            return false;
        }
    }
    return true;
}

/* What firmware does before handing over: tables in the BIOS area, the kernel and its data. */
static bool load_firmware_data(PcMachine *m, GError **errp)
{
    uint64_t rsdp = 0;
    /*
     * The tables go where upstream's firmware ROM sits, below 1 MiB, here in RAM. A machine
     * with less RAM than that starts without them, as upstream's starts (nothing boots in it).
     */
    if (m->opts.acpi && m->low_ram >= 0x100000) {
        AcpiTables *t = acpi_build_pc_tables(ACPI_TABLES_BASE, m->low_ram);
        bool ok = dma_write(m->hooks.ram, t->base, t->blob->data, t->blob->len);
        rsdp = t->rsdp;
        acpi_tables_free(t);
        if (!ok) {
            error_setg(errp, "no guest RAM for the ACPI tables at 0x%x", ACPI_TABLES_BASE);
            return false;
        }
    }
    if (!m->opts.kernel) {
        m->have_boot = false;
        return true;
    }
    if (!linux_boot_load_files(m->opts.kernel, m->opts.initrd, m->opts.append, m->hooks.ram,
                               m->low_ram, &m->e820, rsdp, &m->boot, errp)) {
        return false;
    }
    m->have_boot = true;
    return true;
}

static void reset_devices(PcMachine *m)
{
    lapic_reset(m->lapic);
    lapic_set_virtual_wire(m->lapic);
    ioapic_reset(m->ioapic);
    i8259_reset(m->pic);
    i8254_reset(m->pit);
    mc146818_reset(m->rtc);
    serial_reset(m->serial);
    i8042_reset(m->kbc);
    acpi_pm_reset(m->pm);
    for (guint i = 0; i < m->nics->len; i++) {
        PcNic *nic = g_ptr_array_index(m->nics, i);
        virtio_reset(virtio_net_vdev(nic->net));
    }
    pci_bus_reset(m->pci);
    pci_bus_assign_resources(m->pci, PC_PCI_IO_BASE, PC_PCI_MEM_BASE);
}

bool pc_machine_realize(PcMachine *m, GError **errp)
{
    if (m->opts.kernel && !g_file_test(m->opts.kernel, G_FILE_TEST_EXISTS)) {
        error_setg(errp, "qemu: could not open kernel file '%s': %s", m->opts.kernel,
                   g_strerror(ENOENT));
        return false;
    }
    reset_devices(m);
    if (!load_firmware_data(m, errp)) {
        return false;
    }
    m->realized = true;
    return true;
}

bool pc_machine_reset(PcMachine *m, GError **errp)
{
    reset_devices(m);
    return load_firmware_data(m, errp);
}

bool pc_machine_boot_info(PcMachine *m, LinuxBootInfo *out)
{
    if (!m->have_boot) {
        return false;
    }
    *out = m->boot;
    return true;
}

/* --- the CPU's view --------------------------------------------------------------------- */

uint32_t pc_machine_pio_read(void *opaque, uint16_t port, int size)
{
    PcMachine *m = opaque;
    bql_lock();
    uint32_t v = io_space_read(m->io, port, size);
    bql_unlock();
    return v;
}

void pc_machine_pio_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    PcMachine *m = opaque;
    bql_lock();
    io_space_write(m->io, port, val, size);
    bql_unlock();
}

uint64_t pc_machine_mmio_read(void *opaque, uint64_t gpa, int size)
{
    PcMachine *m = opaque;
    bql_lock();
    uint64_t v = io_space_read(m->mmio, gpa, size);
    bql_unlock();
    return v;
}

void pc_machine_mmio_write(void *opaque, uint64_t gpa, uint64_t val, int size)
{
    PcMachine *m = opaque;
    bql_lock();
    io_space_write(m->mmio, gpa, val, size);
    bql_unlock();
}

int pc_machine_irq_ack(void *opaque)
{
    PcMachine *m = opaque;
    bql_lock();
    int v = lapic_ack(m->lapic);
    if (v == LAPIC_ACK_EXTINT) {
        v = i8259_read_irq(m->pic);
    }
    bql_unlock();
    return v;
}

void pc_machine_apic_enable(PcMachine *m, bool on)
{
    lapic_set_global_enable(m->lapic, on);
}

void pc_machine_apic_base_write(void *opaque, uint64_t val)
{
    PcMachine *m = opaque;
    bql_lock();
    pc_machine_apic_enable(m, (val >> 11) & 1);
    bql_unlock();
}

const X86BusOps pc_machine_cpu_bus = {
    .pio_read = pc_machine_pio_read,
    .pio_write = pc_machine_pio_write,
    .mmio_read = pc_machine_mmio_read,
    .mmio_write = pc_machine_mmio_write,
    .irq_ack = pc_machine_irq_ack,
    .apic_base_write = pc_machine_apic_base_write,
};

guint pc_machine_attach(PcMachine *m, GMainContext *ctx)
{
    return hw_clock_attach(m->clock, ctx);
}

void pc_machine_set_running(PcMachine *m, bool running)
{
    if (running) {
        hw_clock_resume(m->clock);
    } else {
        hw_clock_pause(m->clock);
    }
}

HwClock *pc_machine_clock(PcMachine *m)
{
    return m->clock;
}

IoSpace *pc_machine_io(PcMachine *m)
{
    return m->io;
}

IoSpace *pc_machine_mmio(PcMachine *m)
{
    return m->mmio;
}

SerialState *pc_machine_serial(PcMachine *m)
{
    return m->serial;
}

void pc_machine_powerdown(PcMachine *m)
{
    acpi_pm_power_button(m->pm);
}

guint pc_machine_nic_count(PcMachine *m)
{
    return m->nics->len;
}

VirtIONet *pc_machine_nic(PcMachine *m, guint i, const char **id)
{
    if (i >= m->nics->len) {
        return NULL;
    }
    PcNic *nic = g_ptr_array_index(m->nics, i);
    if (id) {
        *id = nic->name;
    }
    return nic->net;
}
