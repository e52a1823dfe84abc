/* ACPI PM1 registers and PM timer (include/hw/acpi/pm.h). */
#include "hw/acpi/pm.h"

#define PM1_STS_TMR    0x0001
#define PM1_STS_PWRBTN 0x0100
#define PM1_STS_WAK    0x8000
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000

static void update_sci(AcpiPmState *s)
{
    int level = (s->sts & s->en & (PM1_STS_PWRBTN | PM1_STS_TMR)) != 0;
    if (level != s->sci_level) {
        s->sci_level = level;
        irq_set_level(s->sci, level);
    }
}

static uint32_t pm_timer(AcpiPmState *s)
{
    return (uint32_t)muldiv64(hw_clock_ns(s->clock), ACPI_PM_TIMER_FREQ, NANOSECONDS_PER_SECOND);
}

uint64_t acpi_regs_read(const uint8_t *regs, size_t len, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && addr + i < len; i++) {
        v |= (uint64_t)regs[addr + i] << (8 * i);
    }
    return v;
}

/* One 12-byte register file: evt (sts 0-1, en 2-3), cnt 4-5, timer 8-11. */
static uint64_t pm_read(void *opaque, uint64_t addr, unsigned size)
{
    AcpiPmState *s = opaque;
    uint8_t regs[12] = {0};
    regs[0] = s->sts;
    regs[1] = s->sts >> 8;
    regs[2] = s->en;
    regs[3] = s->en >> 8;
    regs[4] = s->cnt;
    regs[5] = s->cnt >> 8;
    uint32_t t = pm_timer(s);
    for (int i = 0; i < 4; i++) {
        regs[8 + i] = t >> (8 * i);
    }
    return acpi_regs_read(regs, sizeof(regs), addr, size);
}

static void pm_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    AcpiPmState *s = opaque;
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = addr + i;
        uint8_t b = val >> (8 * i);
        switch (a) {
        case 0:
        case 1:
            s->sts &= ~((uint16_t)b << (8 * a)); /* write 1 to clear */
            break;
        case 2:
        case 3:
            s->en = (s->en & ~(0xff << (8 * (a - 2)))) | (b << (8 * (a - 2)));
            break;
        case 4:
            s->cnt = (s->cnt & 0xff00) | b;
            break;
        case 5:
            s->cnt = (s->cnt & 0x00ff) | ((b & ~(PM1_CNT_SLP_EN >> 8)) << 8);
            if (b & (PM1_CNT_SLP_EN >> 8)) {
                int slp_typ = (b >> 2) & 7;
                if (slp_typ == 0 && s->poweroff) {
                    s->poweroff(s->opaque);
                }
                /* other sleep states are not offered by the DSDT: nothing happens */
            }
            break;
        default:
            break; /* the timer is read-only */
        }
    }
    update_sci(s);
}

const IoRegionOps acpi_pm_ops = {.read = pm_read, .write = pm_write};

void acpi_pm_reset(AcpiPmState *s)
{
    s->sts = 0;
    s->en = 0;
    s->cnt = PM1_CNT_SCI_EN; /* no SMI_CMD: the machine runs in ACPI mode from reset */
    update_sci(s);
}

void acpi_pm_init(AcpiPmState *s, HwClock *clock, IrqLine *sci, AcpiPmPowerOffFn poweroff,
                  void *opaque)
{
    *s = (AcpiPmState){.clock = clock, .sci = sci, .poweroff = poweroff, .opaque = opaque};
    acpi_pm_reset(s);
}

AcpiPmState *acpi_pm_new(HwClock *clock, IrqLine *sci, AcpiPmPowerOffFn poweroff, void *opaque)
{
    AcpiPmState *s = g_new0(AcpiPmState, 1);
    acpi_pm_init(s, clock, sci, poweroff, opaque);
    return s;
}

void acpi_pm_free(AcpiPmState *s)
{
    g_free(s);
}

bool acpi_pm_register_ports(AcpiPmState *s, IoSpace *io, uint16_t base, GError **errp)
{
    return io_space_add(io, "acpi-pm", base, ACPI_PM_BLOCK_LEN, &acpi_pm_ops, s, errp);
}

void acpi_pm_power_button(AcpiPmState *s)
{
    s->sts |= PM1_STS_PWRBTN;
    update_sci(s);
}

/* The PM timer is the virtual clock read at 3.58 MHz: the clock's own section carries it. */
const VMStateDescription vmstate_acpi_pm = {
    .name = "acpi-pm",
    .version = 1,
    .size = sizeof(AcpiPmState),
    .fields = (const VMStateField[]){VMSTATE_U16(AcpiPmState, sts), VMSTATE_U16(AcpiPmState, en),
                                     VMSTATE_U16(AcpiPmState, cnt),
                                     VMSTATE_I32(AcpiPmState, sci_level), VMSTATE_END},
};
