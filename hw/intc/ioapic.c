/* The IOAPIC (include/hw/intc/apic.h): 24 pins, version 0x20 with the EOI register. */
#include "hw/intc/apic.h"
#include "util/log.h"

#define RTE_MASKED          (1ull << 16)
#define RTE_LEVEL           (1ull << 15)
#define RTE_REMOTE_IRR      (1ull << 14)
#define RTE_DELIVERY_STATUS (1ull << 12)

struct IoapicState {
    LapicState *lapic;
    uint8_t id;
    uint32_t ioregsel;
    uint64_t rte[IOAPIC_NUM_PINS];
    uint32_t pin_level; /* raw input levels */
    IrqLine inputs[IOAPIC_NUM_PINS];
};

/* Lines carry logical levels (1 = asserted) whatever the electrical polarity the guest
 * programs, as upstream's do: an active-low PCI line is still raised to 1. */
static bool pin_asserted(IoapicState *s, int pin)
{
    return s->pin_level & (1u << pin);
}

static void service_pin(IoapicState *s, int pin)
{
    uint64_t e = s->rte[pin];
    if (e & RTE_MASKED) {
        return;
    }
    int mode = (e >> 8) & 7;
    if (mode != 0 && mode != 1) {
        qemu_log_mask(LOG_UNIMP, "ioapic: pin %d delivery mode %d not supported\n", pin, mode);
        return;
    }
    if (e & RTE_LEVEL) {
        if (e & RTE_REMOTE_IRR) {
            return; /* waiting for the EOI of the previous delivery */
        }
        s->rte[pin] |= RTE_REMOTE_IRR;
    }
    lapic_deliver(s->lapic, e & 0xff, e & RTE_LEVEL);
}

void ioapic_set_irq(IoapicState *s, int pin, int level)
{
    if (pin < 0 || pin >= IOAPIC_NUM_PINS) {
        return;
    }
    bool was = pin_asserted(s, pin);
    if (level) {
        s->pin_level |= 1u << pin;
    } else {
        s->pin_level &= ~(1u << pin);
    }
    bool now = pin_asserted(s, pin);
    if (s->rte[pin] & RTE_LEVEL) {
        if (now) {
            service_pin(s, pin);
        }
    } else if (now && !was) {
        service_pin(s, pin);
    }
}

static void input_handler(void *opaque, int n, int level)
{
    ioapic_set_irq(opaque, n, level);
}

void ioapic_eoi(IoapicState *s, int vector)
{
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint64_t e = s->rte[pin];
        if ((e & 0xff) != (uint64_t)vector || !(e & RTE_REMOTE_IRR)) {
            continue;
        }
        s->rte[pin] &= ~RTE_REMOTE_IRR;
        if ((e & RTE_LEVEL) && pin_asserted(s, pin)) {
            service_pin(s, pin);
        }
    }
}

static void lapic_eoi_cb(void *opaque, int vector)
{
    ioapic_eoi(opaque, vector);
}

static uint64_t ioapic_read(void *opaque, uint64_t addr, unsigned size)
{
    IoapicState *s = opaque;
    if (addr == 0x00) {
        return s->ioregsel;
    }
    if (addr != 0x10) {
        return 0;
    }
    uint32_t idx = s->ioregsel & 0xff;
    switch (idx) {
    case 0:
        return (uint32_t)s->id << 24;
    case 1:
        return ((IOAPIC_NUM_PINS - 1) << 16) | 0x20;
    case 2:
        return 0;
    default:
        if (idx >= 0x10 && idx < 0x10 + 2 * IOAPIC_NUM_PINS) {
            uint64_t e = s->rte[(idx - 0x10) / 2];
            return (idx & 1) ? e >> 32 : (uint32_t)e;
        }
        return 0;
    }
}

static void ioapic_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    IoapicState *s = opaque;
    if (addr == 0x00) {
        s->ioregsel = val & 0xff;
        return;
    }
    if (addr == 0x40) { /* EOI register (version 0x20) */
        ioapic_eoi(s, val & 0xff);
        return;
    }
    if (addr != 0x10) {
        return;
    }
    uint32_t idx = s->ioregsel;
    if (idx == 0) {
        s->id = (val >> 24) & 0xf;
        return;
    }
    if (idx < 0x10 || idx >= 0x10 + 2 * IOAPIC_NUM_PINS) {
        return;
    }
    int pin = (idx - 0x10) / 2;
    uint64_t e = s->rte[pin];
    if (idx & 1) {
        e = (e & 0xffffffffull) | ((uint64_t)(val & 0xff000000) << 32);
    } else {
        /* remote IRR and delivery status are read-only */
        uint64_t ro = RTE_REMOTE_IRR | RTE_DELIVERY_STATUS;
        e = (e & ~0xffffffffull) | (e & ro) | (val & 0xffffffffull & ~ro);
        if (!(e & RTE_LEVEL)) {
            e &= ~RTE_REMOTE_IRR; /* Linux's EOI for old IOAPICs: switch to edge and back */
        }
    }
    s->rte[pin] = e;
    if ((e & RTE_LEVEL) && pin_asserted(s, pin)) {
        service_pin(s, pin); /* unmasking a pending level interrupt delivers it */
    }
}

static const IoRegionOps ioapic_ops = {.read = ioapic_read, .write = ioapic_write};

void ioapic_reset(IoapicState *s)
{
    s->id = 0;
    s->ioregsel = 0;
    for (int i = 0; i < IOAPIC_NUM_PINS; i++) {
        s->rte[i] = RTE_MASKED;
    }
}

IoapicState *ioapic_new(LapicState *lapic)
{
    IoapicState *s = g_new0(IoapicState, 1);
    s->lapic = lapic;
    for (int i = 0; i < IOAPIC_NUM_PINS; i++) {
        irq_init(&s->inputs[i], input_handler, s, i);
    }
    lapic_set_eoi_notify(lapic, lapic_eoi_cb, s);
    ioapic_reset(s);
    return s;
}

void ioapic_free(IoapicState *s)
{
    g_free(s);
}

bool ioapic_register_mmio(IoapicState *s, IoSpace *mmio, GError **errp)
{
    return io_space_add(mmio, "ioapic", IOAPIC_BASE, 0x1000, &ioapic_ops, s, errp);
}

IrqLine *ioapic_input(IoapicState *s, int pin)
{
    return &s->inputs[pin % IOAPIC_NUM_PINS];
}

uint64_t ioapic_redirection(IoapicState *s, int pin)
{
    return s->rte[pin % IOAPIC_NUM_PINS];
}

/* --- device contract -------------------------------------------------------------------- */

static const VMStateDescription vmstate_ioapic = {
    .name = "ioapic",
    .version = 1,
    .size = sizeof(IoapicState),
    .fields =
        (const VMStateField[]){VMSTATE_U8(IoapicState, id), VMSTATE_U32(IoapicState, ioregsel),
                               VMSTATE_U64_ARRAY(IoapicState, rte),
                               VMSTATE_U32(IoapicState, pin_level), VMSTATE_END},
};

static bool ioapic_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return ioapic_register_mmio(dev, mmio, errp);
}

static void ioapic_reset_dev(void *dev)
{
    ioapic_reset(dev);
}

static void ioapic_free_dev(void *dev)
{
    ioapic_free(dev);
}

const DeviceContract ioapic_device = {
    .name = "ioapic",
    .map = ioapic_map,
    .reset = ioapic_reset_dev,
    .free = ioapic_free_dev,
    .vmsd = &vmstate_ioapic,
};
