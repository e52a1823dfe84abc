/* The PIIX4 power management function (include/hw/acpi/piix4-pm.h). */
#include "hw/acpi/piix4-pm.h"
#include "hw/acpi/acpi-tables.h"
#include "util/log.h"

#include <string.h>

/* SMBus host registers (offsets in SMBBA's window) and host status bits. */
#define SMB_HSTSTS     0
#define SMB_HSTCNT     2
#define SMB_HSTCMD     3
#define SMB_HSTADD     4
#define SMB_HSTDAT0    5
#define SMB_HSTDAT1    6
#define SMB_HSTCNT_ST  0x40
#define SMB_STS_DEVERR 0x04

struct Piix4Pm {
    PCIDevice *dev;
    IoSpace *io;
    AcpiPmState pm;
    uint16_t gpe_sts, gpe_en;
    uint8_t smb[8]; /* HSTSTS .. HSTDAT1 as the guest last left them */
    /* where each window decodes now (not state: recomputed from the config space) */
    int pm_base, smb_base;
};

/* --- GPE0 ---------------------------------------------------------------------------------- */

static uint64_t gpe_read(void *opaque, uint64_t addr, unsigned size)
{
    Piix4Pm *p = opaque;
    uint8_t regs[ACPI_GPE0_LEN] = {p->gpe_sts, p->gpe_sts >> 8, p->gpe_en, p->gpe_en >> 8};
    return acpi_regs_read(regs, sizeof(regs), addr, size);
}

static void gpe_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    Piix4Pm *p = opaque;
    for (unsigned i = 0; i < size && addr + i < ACPI_GPE0_LEN; i++) {
        unsigned a = addr + i;
        uint16_t b = (uint8_t)(val >> (8 * i));
        if (a < 2) {
            p->gpe_sts &= ~(b << (8 * a)); /* write 1 to clear; nothing sets them */
        } else {
            p->gpe_en = (p->gpe_en & ~(0xff << (8 * (a - 2)))) | (b << (8 * (a - 2)));
        }
    }
}

static const IoRegionOps gpe_ops = {.read = gpe_read, .write = gpe_write};

/* --- SMBus host: no device answers ----------------------------------------------------------- */

static uint64_t smb_read(void *opaque, uint64_t addr, unsigned size)
{
    Piix4Pm *p = opaque;
    return acpi_regs_read(p->smb, sizeof(p->smb), addr, size);
}

static void smb_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    Piix4Pm *p = opaque;
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = addr + i;
        uint8_t b = val >> (8 * i);
        if (a == SMB_HSTSTS) {
            p->smb[a] &= ~b;
        } else if (a == SMB_HSTCNT) {
            p->smb[a] = b & ~SMB_HSTCNT_ST;
            if (b & SMB_HSTCNT_ST) {
                p->smb[SMB_HSTSTS] |= SMB_STS_DEVERR; /* no slave at any address */
            }
        } else if (a >= SMB_HSTCMD && a <= SMB_HSTDAT1) {
            p->smb[a] = b;
        }
    }
}

static const IoRegionOps smb_ops = {.read = smb_read, .write = smb_write};

/* --- the windows the config space opens ------------------------------------------------------ */

static int window_base(Piix4Pm *p, int bar_reg, int enable_reg)
{
    if (!(p->dev->config[enable_reg] & 1)) {
        return -1;
    }
    return pci_get_long(p->dev->config + bar_reg) & 0xffc0;
}

static void place_window(Piix4Pm *p, int *cur, int want, const char *name, uint64_t len,
                         const IoRegionOps *ops, void *opaque)
{
    if (*cur == want) {
        return;
    }
    if (*cur >= 0) {
        io_space_del(p->io, *cur);
        *cur = -1;
    }
    GError *err = NULL;
    if (want < 0 || want + len > 0x10000) {
        return;
    }
    if (io_space_add(p->io, name, want, len, ops, opaque, &err)) {
        *cur = want;
    } else {
        /* the guest put it on top of other ports: it stays off, as a BAR would */
        qemu_log_mask(LOG_GUEST_ERROR, "piix4-pm: %s\n", err->message);
        g_error_free(err);
    }
}

static void update_windows(Piix4Pm *p)
{
    place_window(p, &p->pm_base, window_base(p, PIIX4_PM_PMBA, PIIX4_PM_PMREGMISC), "acpi-pm",
                 ACPI_PM_BLOCK_LEN, &acpi_pm_ops, &p->pm);
    place_window(p, &p->smb_base, window_base(p, PIIX4_PM_SMBBA, PIIX4_PM_SMBHSTCFG), "pm-smbus",
                 PIIX4_SMB_LEN, &smb_ops, p);
}

static bool covers(uint32_t addr, int len, uint32_t lo, uint32_t n)
{
    return addr < lo + n && addr + len > lo;
}

static void config_written(PCIDevice *dev, uint32_t addr, uint32_t val, int len)
{
    if (covers(addr, len, PIIX4_PM_PMBA, 4) || covers(addr, len, PIIX4_PM_PMREGMISC, 1) ||
        covers(addr, len, PIIX4_PM_SMBBA, 4) || covers(addr, len, PIIX4_PM_SMBHSTCFG, 1)) {
        update_windows(dev->opaque);
    }
}

/* --- life cycle ----------------------------------------------------------------------------- */

Piix4Pm *piix4_pm_new(PCIBus *bus, int devfn, IoSpace *io, HwClock *clock, IrqLine *sci,
                      AcpiPmPowerOffFn poweroff, void *opaque, GError **errp)
{
    PCIDevice *d = pci_device_new(bus, "PIIX4_PM", devfn, 0x8086, 0x7113, 0x06800003, errp);
    if (!d) {
        return NULL;
    }
    Piix4Pm *p = g_new0(Piix4Pm, 1);
    p->dev = d;
    p->io = io;
    p->pm_base = p->smb_base = -1;
    acpi_pm_init(&p->pm, clock, sci, poweroff, opaque);
    /* upstream's device-specific config space is writable as a whole */
    memset(d->wmask + 0x40, 0xff, PCI_CONFIG_SPACE_SIZE - 0x40);
    pci_set_word(d->config + PCI_STATUS, 0x0280); /* fast back-to-back, medium DEVSEL */
    pci_set_default_subsystem(d);
    d->config[PCI_INTERRUPT_PIN] = 1;
    /* machine-ready values: the serial port at 0x3f8 decoded, no parallel port */
    d->config[0x5f] = 0x10;
    d->config[0x63] = 0x60;
    d->config[0x67] = 0x08;
    /* set once at creation, not by reset (firmware moves it) */
    pci_set_long(d->config + PIIX4_PM_SMBBA, PIIX4_SMB_DEFAULT | 1);
    d->config[PIIX4_PM_SMBHSTCFG] = 0x09;
    d->config_written = config_written;
    d->opaque = p;
    return p;
}

void piix4_pm_firmware_setup(Piix4Pm *p)
{
    PCIDevice *d = p->dev;
    pci_config_write(d, PCI_INTERRUPT_LINE, ACPI_SCI_IRQ, 1);
    pci_config_write(d, PIIX4_PM_PMBA, ACPI_PM_BASE | 1, 4);
    pci_config_write(d, PIIX4_PM_PMREGMISC, 1, 1);
    pci_config_write(d, PIIX4_PM_SMBBA, (ACPI_PM_BASE + 0x100) | 1, 4);
    pci_config_write(d, PIIX4_PM_SMBHSTCFG, 0x09, 1);
}

void piix4_pm_power_button(Piix4Pm *p)
{
    acpi_pm_power_button(&p->pm);
}

int piix4_pm_block_base(Piix4Pm *p)
{
    return p->pm_base;
}

static void piix4_reset(void *dev)
{
    Piix4Pm *p = dev;
    uint8_t *c = p->dev->config;
    memset(c + 0x58, 0, 4);
    c[0x5b] = 0x02; /* APMC_EN: SMM "already set up", as upstream's without SMM */
    pci_set_long(c + PIIX4_PM_PMBA, 0x01);
    c[PIIX4_PM_PMREGMISC] = 0;
    p->gpe_sts = p->gpe_en = 0;
    memset(p->smb, 0, sizeof(p->smb));
    acpi_pm_reset(&p->pm);
    update_windows(p);
}

static bool piix4_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return io_space_add(io, "acpi-gpe0", ACPI_GPE0_BLK, ACPI_GPE0_LEN, &gpe_ops, dev, errp);
}

static void piix4_free(void *dev)
{
    g_free(dev); /* the PCI function belongs to the bus */
}

/* The windows follow the loaded config space (its section comes first: the bus is older). */
static void piix4_post_load(void *opaque, int version)
{
    Piix4Pm *p = opaque;
    update_windows(p);
}

static const VMStateDescription vmstate_piix4_pm = {
    .name = "piix4_pm",
    .version = 1,
    .size = sizeof(Piix4Pm),
    .post_load = piix4_post_load,
    .fields = (const VMStateField[]){VMSTATE_STRUCT(Piix4Pm, pm, AcpiPmState, vmstate_acpi_pm),
                                     VMSTATE_U16(Piix4Pm, gpe_sts), VMSTATE_U16(Piix4Pm, gpe_en),
                                     VMSTATE_BUFFER(Piix4Pm, smb), VMSTATE_END},
};

const DeviceContract piix4_pm_device = {
    .name = "piix4_pm",
    .map = piix4_map,
    .reset = piix4_reset,
    .free = piix4_free,
    .vmsd = &vmstate_piix4_pm,
};
