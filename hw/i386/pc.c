/* The pc machine (include/hw/i386/pc.h). */
#include "hw/i386/pc.h"
#include "hw/acpi/acpi-tables.h"
#include "hw/acpi/piix4-pm.h"
#include "hw/core/biglock.h"
#include "hw/char/debugcon.h"
#include "hw/core/qdev.h"
#include "hw/i386/e820.h"
#include "hw/i386/pc-firmware.h"
#include "hw/nvram/fw-cfg.h"
#include "memory/rom.h"
#include "hw/i386/pc-sysctl.h"
#include "hw/input/i8042.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/misc/isa-debug-exit.h"
#include "hw/misc/pc-testdev.h"
#include "hw/pci/pci.h"
#include "hw/timer/hpet.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818rtc.h"
#include "block/blockdev.h"
#include "hw/ide/piix.h"
#include "hw/virtio/virtio-blk-pci.h"
#include "hw/virtio/virtio-net-pci.h"
#include "net/net.h"
#include "target/i386/cpu.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PC_NUM_GSI       24
#define ACPI_TABLES_BASE 0xe0000
#define PC_PIIX3_DEVFN   PCI_DEVFN(1, 0) /* the southbridge: ISA .0, IDE .1, PM .3 */

struct PcMachine {
    DeviceHost host; /* what -device's create functions get */
    GArray *devices; /* PcDevice: every device, in creation (reset, save) order */
    guint anon_ide;  /* -device ide-hd/ide-cd without id= so far (their qdev paths) */
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
    HpetState *hpet;
    SerialState *serial;
    I8042State *kbc;
    Piix4Pm *pm; /* 00:01.3, with ACPI on */
    PcSysctl *sysctl;
    PiixIde *ide; /* 00:01.1 */
    PCIBus *pci;
    PCIDevice *host_bridge;
    FwCfg *fw_cfg; /* with firmware (no -kernel) */
    uint64_t low_ram, high_ram;
    E820Table e820;
    LinuxBootInfo boot;
    bool have_boot;
    bool boot_once_done;  /* -boot once= applies to the first boot only */
    GArray *boot_devices; /* BootDevice: bootindex= of devices, for the bootorder file */
};

typedef struct BootDevice {
    gint64 index;
    char *path;
} BootDevice;

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
        if (!strcmp(p->key, "hpet")) {
            gboolean on;
            if (!keyval_parse_bool("hpet", p->value, &on, errp)) {
                return false;
            }
            opts->no_hpet = !on;
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

void hw_register_types(void)
{
    virtio_net_pci_register_type();
    isa_debug_exit_register_type();
    isa_debugcon_register_type();
    pc_testdev_register_type();
    virtio_blk_pci_register_type();
    ide_hd_register_type();
    ide_cd_register_type();
}

/* Upstream checks a bootindex when the property is set, before the device is realized. */
static bool boot_index_unused(PcMachine *m, const char *bootindex, GError **errp)
{
    gint64 index = g_ascii_strtoll(bootindex, NULL, 0);
    for (guint i = 0; index >= 0 && i < m->boot_devices->len; i++) {
        if (g_array_index(m->boot_devices, BootDevice, i).index == index) {
            error_setg(errp, "The bootindex %" G_GINT64_FORMAT " has already been used", index);
            return false;
        }
    }
    return true;
}

static bool boot_device(DeviceHost *host, const char *bootindex, char *path, GError **errp)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    BootDevice d = {g_ascii_strtoll(bootindex, NULL, 0), path};
    if (d.index < 0 || !boot_index_unused(m, bootindex, errp)) {
        g_free(path);
        return d.index < 0; /* a negative index: not in the list, as upstream's */
    }
    g_array_append_val(m->boot_devices, d);
    return true;
}

static gint boot_device_cmp(gconstpointer a, gconstpointer b)
{
    gint64 x = ((const BootDevice *)a)->index, y = ((const BootDevice *)b)->index;
    return x < y ? -1 : x > y;
}

/* Upstream's bootorder file: the paths by bootindex, one a line, then HALT with strict=on
 * (only when there is a path), NUL-terminated; empty without any. */
static GString *bootorder_file(PcMachine *m)
{
    GString *s = g_string_new(NULL);
    g_array_sort(m->boot_devices, boot_device_cmp);
    for (guint i = 0; i < m->boot_devices->len; i++) {
        g_string_append_printf(s, "%s%s", i ? "\n" : "",
                               g_array_index(m->boot_devices, BootDevice, i).path);
    }
    if (s->len && m->opts.boot_strict) {
        g_string_append(s, "\nHALT");
    }
    return s;
}

static void isa_claim(DeviceHost *host, uint64_t base, uint64_t len)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    pc_sysctl_yield_ports(m->sysctl, m->io, base, len);
}

static void guest_exit(DeviceHost *host, int status)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    if (m->hooks.guest_exit) {
        m->hooks.guest_exit(m->hooks.opaque, status);
    } else {
        exit(status);
    }
}

/* --- the device list -------------------------------------------------------------------- */

typedef struct PcDevice {
    const DeviceContract *contract;
    void *dev;
    guint32 instance; /* among the devices of the same contract */
} PcDevice;

static guint count_devices(DeviceHost *host, const DeviceContract *contract)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    guint n = 0;
    for (guint i = 0; i < m->devices->len; i++) {
        n += g_array_index(m->devices, PcDevice, i).contract == contract;
    }
    return n;
}

static void plug_device(DeviceHost *host, const DeviceContract *contract, void *dev)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    PcDevice d = {contract, dev, count_devices(host, contract)};
    g_array_append_val(m->devices, d);
}

/* A device the machine builds itself: listed, then its ports mapped (at base, if it takes
 * one). On failure the device is in the list already, so pc_machine_free frees it. */
static bool add_device(PcMachine *m, const DeviceContract *contract, void *dev, uint64_t base,
                       GError **errp)
{
    plug_device(&m->host, contract, dev);
    return !contract->map || contract->map(dev, m->io, m->mmio, base, errp);
}

/* --- assembly --------------------------------------------------------------------------- */

/* SeaBIOS's boot order code: floppy 1, hard disk 2, CD-ROM 3, network 4. */
static int boot_device_nibble(char c)
{
    switch (c) {
    case 'a':
    case 'b':
        return 1;
    case 'c':
        return 2;
    case 'd':
        return 3;
    case 'n':
        return 4;
    default:
        return 0;
    }
}

/* Upstream's pc checks (after the generic a-p check that -boot's parser makes). */
static bool check_boot_devices(const char *devs, GError **errp)
{
    if (!devs) {
        return true;
    }
    if (strlen(devs) > 3) {
        error_setg(errp, "Too many boot devices for PC");
        return false;
    }
    for (const char *p = devs; *p; p++) {
        if (!boot_device_nibble(*p)) {
            error_setg(errp, "Invalid boot device for PC: '%c'", *p);
            return false;
        }
    }
    return true;
}

/* The boot order in CMOS 0x3d (first two) and 0x38's high nibble (third), as upstream's pc. */
static void set_cmos_boot_order(PcMachine *m)
{
    const char *devs = m->opts.boot_order ? m->opts.boot_order : "cad";
    if (m->opts.boot_once && !m->boot_once_done) {
        devs = m->opts.boot_once;
    }
    int nib[3] = {0, 0, 0};
    for (int i = 0; i < 3 && devs[i]; i++) {
        nib[i] = boot_device_nibble(devs[i]);
    }
    mc146818_set_cmos(m->rtc, 0x3d, (nib[1] << 4) | nib[0]);
    mc146818_set_cmos(m->rtc, 0x38, nib[2] << 4); /* bit 0 clear: the floppy boot check is on */
}

/* The host bridge's PAM registers steer the BIOS area between ROM and RAM. */
static void pam_written(PCIDevice *dev, uint32_t addr, uint32_t val, int len)
{
    PcMachine *m = dev->opaque;
    if (addr < PC_PAM0 + PC_PAM_REGS && addr + len > PC_PAM0 && m->hooks.guest_ram) {
        pc_pam_apply(m->hooks.guest_ram, dev->config + PC_PAM0);
    }
}

static bool pc_ide_attach(DeviceHost *host, const char *bus, int unit, const char *drive, bool cd,
                          const char *serial, const char *id, const char *bootindex, GError **errp);

/* The PIIX3 IDE function (00:01.1), there with or without drives, as on upstream's pc. */
static bool pc_add_ide(PcMachine *m, GError **errp)
{
    IrqLine *irq[2] = {&m->gsi[14], &m->gsi[15]};
    m->ide = piix3_ide_new(m->pci, PC_PIIX3_DEVFN + 1, irq, m->host.dma, errp);
    return m->ide && add_device(m, &piix3_ide_device, m->ide, 0, errp);
}

/* The PM function, as upstream's pc has it only with ACPI on (acpi=off: no 00:01.3). */
static bool pc_add_pm(PcMachine *m, GError **errp)
{
    m->pm = piix4_pm_new(m->pci, PC_PIIX3_DEVFN + 3, m->io, m->clock, &m->gsi[ACPI_SCI_IRQ],
                         poweroff_request, m, errp);
    return m->pm && add_device(m, &piix4_pm_device, m->pm, 0, errp);
}

PcMachine *pc_machine_new(const PcMachineOptions *opts, const PcMachineHooks *hooks, GError **errp)
{
    if (!opts->kernel && (opts->initrd || opts->append)) {
        error_setg(errp, "-%s only allowed with -kernel option",
                   opts->initrd ? "initrd" : "append");
        return NULL;
    }
    if (!check_boot_devices(opts->boot_order, errp) || !check_boot_devices(opts->boot_once, errp)) {
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
    m->devices = g_array_new(FALSE, FALSE, sizeof(PcDevice));
    irq_init(&m->cpu_intr, cpu_intr_handler, m, 0);
    irq_init(&m->cpu_nmi, cpu_nmi_handler, m, 0);
    for (int i = 0; i < PC_NUM_GSI; i++) {
        irq_init(&m->gsi[i], gsi_handler, m, i);
    }
    IrqLine *pirq[4];
    for (int i = 0; i < 4; i++) {
        irq_init(&m->pirq[i], pirq_handler, m, i);
        pirq[i] = &m->pirq[i];
    }
    static const uint8_t pirq_isa[4] = {10, 10, 11, 11};

    /* Construction is typed (each device its own lines); the list takes over from there. */
    m->lapic = lapic_new(m->clock, 0, &m->cpu_intr, &m->cpu_nmi);
    m->ioapic = ioapic_new(m->lapic);
    m->pic = i8259_new(lapic_lint0(m->lapic));
    m->pit = i8254_new(m->clock, &m->gsi[0]);
    m->rtc = mc146818_new(m->clock, &m->gsi[8], time(NULL));
    mc146818_set_memory_size(m->rtc, m->low_ram, m->high_ram);
    m->hpet = m->opts.no_hpet ? NULL : hpet_new(m->clock);
    m->serial = serial_new(&m->gsi[4]);
    m->kbc = i8042_new(&m->gsi[1], &m->gsi[12], reset_request, m);
    m->sysctl = pc_sysctl_new(reset_request, m);
    m->pci = pci_bus_new(m->io, m->mmio, pirq, pirq_isa);
    m->host = (DeviceHost){
        .pci = m->pci,
        .dma = m->hooks.ram,
        .io = m->io,
        .mmio = m->mmio,
        .isa_irq = m->gsi,
        .isa_claim = isa_claim,
        .guest_exit = guest_exit,
        .nic_attach = m->hooks.nic_attach,
        .nic_opaque = m->hooks.opaque,
        .plug = plug_device,
        .count = count_devices,
        .ide_attach = pc_ide_attach,
        .boot_device = boot_device,
    };
    m->boot_devices = g_array_new(FALSE, FALSE, sizeof(BootDevice));

    if (!add_device(m, &lapic_device, m->lapic, 0, errp) ||
        !add_device(m, &ioapic_device, m->ioapic, 0, errp) ||
        !add_device(m, &i8259_device, m->pic, 0, errp) ||
        !add_device(m, &i8254_device, m->pit, 0, errp) ||
        !add_device(m, &mc146818_device, m->rtc, 0, errp) ||
        (m->hpet && !add_device(m, &hpet_device, m->hpet, 0, errp)) ||
        !add_device(m, &serial_device, m->serial, 0x3f8, errp) ||
        !add_device(m, &i8042_device, m->kbc, 0, errp) ||
        !add_device(m, &pc_sysctl_device, m->sysctl, 0, errp) ||
        !add_device(m, &pci_host_device, m->pci, 0, errp) ||
        !(m->host_bridge = pci_host_bridge_new(m->pci, errp)) ||
        !pci_piix3_isa_new(m->pci, PC_PIIX3_DEVFN, errp) || !pc_add_ide(m, errp) ||
        (m->opts.acpi && !pc_add_pm(m, errp))) {
        pc_machine_free(m);
        return NULL;
    }
    if (m->opts.firmware) {
        m->host_bridge->config_written = pam_written;
        m->host_bridge->opaque = m;
        m->fw_cfg = fw_cfg_new(m->hooks.ram);
        pc_sysctl_yield_ports(m->sysctl, m->io, FW_CFG_IO_BASE, 0x0c);
        if (!add_device(m, &fw_cfg_device, m->fw_cfg, 0, errp)) {
            pc_machine_free(m);
            return NULL;
        }
    }
    return m;
}

void pc_machine_free(PcMachine *m)
{
    if (!m) {
        return;
    }
    /* Last created first: NICs before the bus that holds their functions. */
    for (guint i = m->devices->len; i-- > 0;) {
        PcDevice *d = &g_array_index(m->devices, PcDevice, i);
        d->contract->free(d->dev);
    }
    g_array_free(m->devices, TRUE);
    for (guint i = 0; m->boot_devices && i < m->boot_devices->len; i++) {
        g_free(g_array_index(m->boot_devices, BootDevice, i).path);
    }
    if (m->boot_devices) {
        g_array_free(m->boot_devices, TRUE);
    }
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
    return device_create_from_opts(&m->host, opts, help_printed, errp);
}

/* A disk or CD-ROM on channel n: blk must be claimed for the device by the caller. */
static bool pc_ide_attach_blk(PcMachine *m, BlockBackend *blk, int n, int unit, bool cd,
                              const char *serial, const char *id, GError **errp)
{
    IdeChannel *ch = piix3_ide_channel(m->ide, n);
    if (ide_channel_has_drive(ch, unit)) {
        error_setg(errp, "IDE unit %d is in use", unit);
        return false;
    }
    if (!ide_channel_attach(ch, unit, blk, serial, cd, errp)) {
        return false;
    }
    g_autofree char *qdev =
        id ? g_strdup(id) : g_strdup_printf("/machine/unattached/device[%d]", 20 + 2 * n + unit);
    blk_attach_dev(blk, qdev);
    return true;
}

static bool pc_machine_add_ide_drive(PcMachine *m, BlockBackend *blk, int bus, int unit,
                                     GError **errp)
{
    if (bus < 0 || bus > 1 || unit < 0 || unit > 1) {
        error_setg(errp, "machine type does not support if=ide,bus=%d,unit=%d", bus, unit);
        return false;
    }
    bool cd = false;
    blk_legacy_type(blk, NULL, NULL, &cd);
    return blockdev_claim_for_device(blk, cd ? "ide-cd" : "ide-hd", errp) &&
           pc_ide_attach_blk(m, blk, bus, unit, cd, NULL, NULL, errp);
}

/* -device ide-hd / ide-cd (DeviceHost.ide_attach). */
static bool pc_ide_attach(DeviceHost *host, const char *bus, int unit, const char *drive, bool cd,
                          const char *serial, const char *id, const char *bootindex, GError **errp)
{
    PcMachine *m = (PcMachine *)host /* its first member */;
    int n = -1;
    if (bus && strcmp(bus, "ide.0") != 0 && strcmp(bus, "ide.1") != 0) {
        error_setg(errp, "Bus '%s' not found", bus);
        return false;
    }
    if (bootindex && !boot_index_unused(m, bootindex, errp)) {
        return false;
    }
    if (unit > 1) {
        error_setg(errp, "Can't create IDE unit %d, bus supports only 2 units", unit);
        return false;
    }
    if (bus) {
        n = bus[4] - '0';
    } else {
        /* Upstream puts a device without bus= on the first IDE bus with a free unit. */
        for (int i = 0; i < 2 && n < 0; i++) {
            IdeChannel *c = piix3_ide_channel(m->ide, i);
            if (!ide_channel_has_drive(c, 0) || !ide_channel_has_drive(c, 1)) {
                n = i;
            }
        }
        n = n < 0 ? 0 : n;
    }
    IdeChannel *ch = piix3_ide_channel(m->ide, n);
    if (unit < 0) {
        unit = ide_channel_has_drive(ch, 0) ? 1 : 0;
    }
    if (ide_channel_has_drive(ch, unit)) {
        error_setg(errp, "IDE unit %d is in use", unit);
        return false;
    }
    BlockBackend *blk;
    if (drive) {
        blk = blockdev_backend_for_device(drive, cd ? "ide-cd" : "ide-hd", false, errp);
    } else {
        blk = blk_new(NULL, NULL); /* an empty CD drive: an anonymous backend, as upstream */
    }
    if (!blk) {
        return false;
    }
    /* Upstream names a -device without id= in /machine/peripheral-anon. */
    g_autofree char *qdev =
        id ? g_strdup(id) : g_strdup_printf("/machine/peripheral-anon/device[%u]", m->anon_ide);
    if (!pc_ide_attach_blk(m, blk, n, unit, cd, serial, qdev, errp)) {
        if (!*blk_name(blk)) {
            blk_unref(blk);
        }
        return false;
    }
    m->anon_ide += !id;
    if (bootindex) {
        /* upstream's path: the IDE function (01.1 there), the channel, the unit */
        int devfn = piix3_ide_devfn(m->ide);
        char *path = g_strdup_printf("/pci@i0cf8/ide@%x,%x/drive@%d/disk@%d", devfn >> 3, devfn & 7,
                                     n, unit);
        return boot_device(host, bootindex, path, errp);
    }
    return true;
}

static void floppy_slot_change_media(void *opaque, bool load)
{
}

static bool floppy_slot_medium_acceptable(void *opaque, GError **errp)
{
    error_setg(errp, "Device '%s' is a floppy drive, which qemu-colo does not emulate",
               blk_name(opaque));
    return false;
}

/*
 * Upstream's default floppy0 sits on the ISA floppy controller's drive device[15]. We have no
 * floppy controller: the drive is listed as upstream lists it (removable, no tray), and refuses
 * a medium (the command line refuses floppy images before this).
 */
static bool pc_machine_add_floppy_slot(BlockBackend *blk, int unit)
{
    static const BlockDevOps ops = {
        .change_media_cb = floppy_slot_change_media,
        .medium_acceptable = floppy_slot_medium_acceptable,
    };
    g_autofree char *qdev = g_strdup_printf("/machine/unattached/device[%d]", 15 + unit);
    blk_attach_dev(blk, qdev);
    blk_set_dev_ops(blk, &ops, blk);
    blk_iostatus_disable(blk);
    return true;
}

bool pc_machine_add_drive(PcMachine *m, BlockBackend *blk, GError **errp)
{
    int bus, unit;
    switch (blk_legacy_type(blk, &bus, &unit, NULL)) {
    case BLK_IF_VIRTIO:
        return virtio_blk_pci_create_for_drive(&m->host, blk, errp);
    case BLK_IF_IDE:
        return pc_machine_add_ide_drive(m, blk, bus, unit, errp);
    case BLK_IF_FLOPPY:
        return pc_machine_add_floppy_slot(blk, unit);
    default:
        return true;
    }
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
        const DeviceTypeInfo *t = device_type_find("virtio-net-pci");
        if (t && !device_apply_globals(t, props, errp)) {
            return false;
        }
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
        if (!virtio_net_pci_create(&m->host, NULL, props, errp)) {
            return false;
        }
        req->created = true;
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
    if (m->fw_cfg) {
        m->have_boot = false;
        return true; /* the firmware reads the tables from fw_cfg */
    }
    if (m->opts.acpi && m->low_ram >= 0x100000) {
        AcpiTables *t = acpi_build_pc_tables(ACPI_TABLES_BASE, m->low_ram, !m->opts.no_hpet);
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
    for (guint i = 0; i < m->devices->len; i++) {
        PcDevice *d = &g_array_index(m->devices, PcDevice, i);
        if (d->contract->reset) {
            d->contract->reset(d->dev);
        }
    }
    if (m->fw_cfg) {
        set_cmos_boot_order(m);
        /* the firmware's turn: the BIOS area reads ROM until it turns shadowing on */
        memset(m->host_bridge->config + PC_PAM0, 0, PC_PAM_REGS);
        if (m->hooks.guest_ram && m->low_ram >= SHADOW_BASE + SHADOW_SIZE) {
            guest_shadow_enable(m->hooks.guest_ram);
        }
        return;
    }
    /* else what firmware sets up: LINT0/LINT1 wiring and the PCI resources */
    lapic_set_virtual_wire(m->lapic);
    pci_bus_assign_resources(m->pci, PC_PCI_IO_BASE, PC_PCI_MEM_BASE);
    if (m->pm) {
        piix4_pm_firmware_setup(m->pm);
    }
}

static void fill_fw_cfg(PcMachine *m)
{
    g_autoptr(GString) bootorder = bootorder_file(m);
    PcFwCfgInfo info = {
        .low_ram = m->low_ram,
        .high_ram = m->high_ram,
        .acpi = m->opts.acpi,
        .hpet = !m->opts.no_hpet,
        .graphics = m->opts.graphics,
        .bootorder = bootorder->str,
        .bootorder_len = bootorder->len ? bootorder->len + 1 : 0,
        .boot_menu = m->opts.boot_menu,
        .splash_time = m->opts.splash_time,
        .boot_fail_wait = m->opts.reboot_timeout,
    };
    pc_fw_cfg_fill(m->fw_cfg, &info);
}

bool pc_machine_realize(PcMachine *m, GError **errp)
{
    if (m->opts.kernel && !g_file_test(m->opts.kernel, G_FILE_TEST_EXISTS)) {
        error_setg(errp, "qemu: could not open kernel file '%s': %s", m->opts.kernel,
                   g_strerror(ENOENT));
        return false;
    }
    if (m->fw_cfg) {
        fill_fw_cfg(m);
    }
    reset_devices(m);
    if (!load_firmware_data(m, errp)) {
        return false;
    }
    m->host.realized = true;
    return true;
}

bool pc_machine_reset(PcMachine *m, GError **errp)
{
    m->boot_once_done = true;
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

/* The TSC counts the virtual clock, as the PM timer, PIT, RTC and LAPIC timer do: it stands
 * still while the VM is stopped and across a migration's downtime, so the guest's clocksource
 * watchdog sees every time source agree. Without it the TSC followed host time and ran ahead
 * of the PM timer by every pause, which Linux takes for an unstable TSC. */
static uint64_t pc_machine_clock_ns(void *opaque)
{
    PcMachine *m = opaque;
    return hw_clock_ns(m->clock);
}

const X86BusOps pc_machine_cpu_bus = {
    .pio_read = pc_machine_pio_read,
    .pio_write = pc_machine_pio_write,
    .mmio_read = pc_machine_mmio_read,
    .mmio_write = pc_machine_mmio_write,
    .irq_ack = pc_machine_irq_ack,
    .apic_base_write = pc_machine_apic_base_write,
    .clock_ns = pc_machine_clock_ns,
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

PCIBus *pc_machine_pci_bus(PcMachine *m)
{
    return m->pci;
}

void pc_machine_powerdown(PcMachine *m)
{
    if (m->pm) {
        piix4_pm_power_button(m->pm); /* acpi=off: nothing listens, as upstream's */
    }
}

guint pc_machine_nic_count(PcMachine *m)
{
    return count_devices(&m->host, &virtio_net_pci_device);
}

VirtIONet *pc_machine_nic(PcMachine *m, guint i, const char **id)
{
    for (guint k = 0; k < m->devices->len; k++) {
        PcDevice *d = &g_array_index(m->devices, PcDevice, k);
        if (d->contract == &virtio_net_pci_device && d->instance == i) {
            if (id) {
                *id = virtio_net_pci_name(d->dev);
            }
            return virtio_net_pci_net(d->dev);
        }
    }
    return NULL;
}

void pc_machine_add_vmstate(PcMachine *m, VMStateSet *set)
{
    if (m->hooks.guest_ram && m->hooks.guest_ram->shadow) {
        vmstate_set_add(set, "pc-shadow", 0, &vmstate_pc_shadow, m->hooks.guest_ram->shadow);
    }
    for (guint i = 0; i < m->devices->len; i++) {
        PcDevice *d = &g_array_index(m->devices, PcDevice, i);
        if (d->contract->add_state) {
            d->contract->add_state(d->dev, d->instance, set);
        } else if (d->contract->vmsd) {
            vmstate_set_add(set, d->contract->name, d->instance, d->contract->vmsd, d->dev);
        }
    }
}
