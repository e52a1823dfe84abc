/* The i8259 PIC pair and its ELCR (include/hw/intc/i8259.h). */
#include "hw/intc/i8259.h"
#include "util/log.h"

typedef struct PicChip {
    uint8_t last_irr; /* input levels, for edge detection */
    uint8_t irr, imr, isr;
    uint8_t priority_add; /* the input with the highest priority (rotation) */
    uint8_t irq_base;
    uint8_t read_isr; /* OCW3: reads of the command port return ISR, else IRR */
    uint8_t poll;
    uint8_t special_mask;
    uint8_t init_state; /* 0: ready, 1: want ICW2, 2: want ICW3, 3: want ICW4 */
    uint8_t init4, single_mode, auto_eoi, rotate_on_auto_eoi, sfnm;
    uint8_t elcr, elcr_mask;
    bool master;
} PicChip;

struct I8259State {
    PicChip chip[2];
    IrqLine *out;
    IrqLine inputs[16];
    bool out_level;
};

/* Priority (0 highest) of the highest-priority bit of mask, 8 if none. */
static int get_priority(PicChip *c, uint8_t mask)
{
    if (!mask) {
        return 8;
    }
    int p = 0;
    while (!(mask & (1 << ((p + c->priority_add) & 7)))) {
        p++;
    }
    return p;
}

/* The input this chip would present now, or -1. */
static int chip_get_irq(PicChip *c)
{
    int p = get_priority(c, c->irr & ~c->imr);
    if (p == 8) {
        return -1;
    }
    uint8_t in_service = c->isr;
    if (c->special_mask) {
        in_service &= ~c->imr;
    }
    if (c->sfnm && c->master) {
        in_service &= ~(1 << 2); /* the slave may interrupt its own service routine */
    }
    int cur = get_priority(c, in_service);
    if (p < cur) {
        return (p + c->priority_add) & 7;
    }
    return -1;
}

static void chip_set_input(PicChip *c, int irq, int level)
{
    uint8_t mask = 1 << irq;
    if (c->elcr & mask) {
        if (level) {
            c->irr |= mask;
            c->last_irr |= mask;
        } else {
            c->irr &= ~mask;
            c->last_irr &= ~mask;
        }
    } else if (level) {
        if (!(c->last_irr & mask)) {
            c->irr |= mask;
        }
        c->last_irr |= mask;
    } else {
        c->last_irr &= ~mask;
    }
}

static void update(I8259State *s)
{
    /* The slave's output is master input 2, followed as a level: a request the slave
     * withdraws disappears from the master too instead of ending as a spurious IRQ. */
    if (chip_get_irq(&s->chip[1]) >= 0) {
        s->chip[0].irr |= 1 << 2;
        s->chip[0].last_irr |= 1 << 2;
    } else {
        s->chip[0].irr &= ~(1 << 2);
        s->chip[0].last_irr &= ~(1 << 2);
    }
    bool level = chip_get_irq(&s->chip[0]) >= 0;
    if (level != s->out_level) {
        s->out_level = level;
        irq_set_level(s->out, level);
    }
}

void i8259_set_irq(I8259State *pic, int n, int level)
{
    if (n < 0 || n > 15) {
        return;
    }
    chip_set_input(&pic->chip[n >> 3], n & 7, level);
    update(pic);
}

static void input_handler(void *opaque, int n, int level)
{
    i8259_set_irq(opaque, n, level);
}

static void chip_ack(PicChip *c, int irq)
{
    if (c->auto_eoi) {
        if (c->rotate_on_auto_eoi) {
            c->priority_add = (irq + 1) & 7;
        }
    } else {
        c->isr |= 1 << irq;
    }
    if (!(c->elcr & (1 << irq))) {
        c->irr &= ~(1 << irq);
    }
}

int i8259_read_irq(I8259State *pic)
{
    PicChip *m = &pic->chip[0], *sl = &pic->chip[1];
    int irq = chip_get_irq(m);
    int vector;
    if (irq >= 0) {
        if (irq == 2) {
            int irq2 = chip_get_irq(sl);
            if (irq2 >= 0) {
                chip_ack(sl, irq2);
            } else {
                irq2 = 7; /* spurious on the slave */
            }
            vector = sl->irq_base + irq2;
        } else {
            vector = m->irq_base + irq;
        }
        chip_ack(m, irq);
    } else {
        vector = m->irq_base + 7; /* spurious */
    }
    update(pic);
    return vector;
}

bool i8259_pending(I8259State *pic)
{
    return chip_get_irq(&pic->chip[0]) >= 0;
}

static void chip_reset(PicChip *c)
{
    c->last_irr = 0;
    c->irr &= c->elcr;
    c->imr = 0;
    c->isr = 0;
    c->priority_add = 0;
    c->irq_base = 0;
    c->read_isr = 0;
    c->poll = 0;
    c->special_mask = 0;
    c->init_state = 0;
    c->auto_eoi = 0;
    c->rotate_on_auto_eoi = 0;
    c->sfnm = 0;
    c->init4 = 0;
    c->single_mode = 0;
}

void i8259_reset(I8259State *pic)
{
    for (int i = 0; i < 2; i++) {
        chip_reset(&pic->chip[i]);
        pic->chip[i].irr = 0;
        pic->chip[i].elcr = 0;
    }
    update(pic);
}

static void chip_write(I8259State *s, PicChip *c, uint64_t addr, uint8_t val)
{
    if (addr == 0) {
        if (val & 0x10) { /* ICW1 */
            chip_reset(c);
            c->init_state = 1;
            c->init4 = val & 1;
            c->single_mode = (val >> 1) & 1;
            if (val & 0x08) {
                qemu_log_mask(LOG_UNIMP, "i8259: level-triggered mode via ICW1 not supported\n");
            }
        } else if (val & 0x08) { /* OCW3 */
            if (val & 0x04) {
                c->poll = 1;
            }
            if (val & 0x02) {
                c->read_isr = val & 1;
            }
            if (val & 0x40) {
                c->special_mask = (val >> 5) & 1;
            }
        } else { /* OCW2 */
            int cmd = val >> 5;
            int irq, p;
            switch (cmd) {
            case 0:
            case 4:
                c->rotate_on_auto_eoi = cmd >> 2;
                break;
            case 1: /* non-specific EOI */
            case 5: /* rotate on non-specific EOI */
                p = get_priority(c, c->isr);
                if (p != 8) {
                    irq = (p + c->priority_add) & 7;
                    c->isr &= ~(1 << irq);
                    if (cmd == 5) {
                        c->priority_add = (irq + 1) & 7;
                    }
                }
                break;
            case 3: /* specific EOI */
                c->isr &= ~(1 << (val & 7));
                break;
            case 6: /* set priority */
                c->priority_add = (val + 1) & 7;
                break;
            case 7: /* rotate on specific EOI */
                irq = val & 7;
                c->isr &= ~(1 << irq);
                c->priority_add = (irq + 1) & 7;
                break;
            default: /* 2: no operation */
                break;
            }
        }
    } else {
        switch (c->init_state) {
        case 0:
            c->imr = val;
            break;
        case 1:
            c->irq_base = val & 0xf8;
            c->init_state = c->single_mode ? (c->init4 ? 3 : 0) : 2;
            break;
        case 2:
            c->init_state = c->init4 ? 3 : 0;
            break;
        case 3:
            c->sfnm = (val >> 4) & 1;
            c->auto_eoi = (val >> 1) & 1;
            c->init_state = 0;
            break;
        }
    }
    update(s);
}

static uint8_t chip_read(I8259State *s, PicChip *c, uint64_t addr)
{
    if (c->poll) {
        /* Poll mode: the read is an acknowledge without a vector. */
        c->poll = 0;
        int irq = chip_get_irq(c);
        if (irq < 0) {
            return 0;
        }
        chip_ack(c, irq);
        update(s);
        return 0x80 | irq;
    }
    if (addr == 0) {
        return c->read_isr ? c->isr : c->irr;
    }
    return c->imr;
}

static uint64_t master_read(void *opaque, uint64_t addr, unsigned size)
{
    I8259State *s = opaque;
    return chip_read(s, &s->chip[0], addr);
}

static void master_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    I8259State *s = opaque;
    chip_write(s, &s->chip[0], addr, val);
}

static uint64_t slave_read(void *opaque, uint64_t addr, unsigned size)
{
    I8259State *s = opaque;
    return chip_read(s, &s->chip[1], addr);
}

static void slave_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    I8259State *s = opaque;
    chip_write(s, &s->chip[1], addr, val);
}

static uint64_t elcr_read(void *opaque, uint64_t addr, unsigned size)
{
    I8259State *s = opaque;
    uint64_t v = s->chip[addr].elcr;
    if (size >= 2 && addr == 0) {
        v |= (uint64_t)s->chip[1].elcr << 8;
    }
    return v;
}

static void elcr_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    I8259State *s = opaque;
    for (unsigned i = 0; i < size && addr + i < 2; i++) {
        PicChip *c = &s->chip[addr + i];
        c->elcr = (val >> (8 * i)) & c->elcr_mask;
    }
    update(s);
}

static const IoRegionOps master_ops = {.read = master_read, .write = master_write};
static const IoRegionOps slave_ops = {.read = slave_read, .write = slave_write};
static const IoRegionOps elcr_ops = {.read = elcr_read, .write = elcr_write};

I8259State *i8259_new(IrqLine *out)
{
    I8259State *s = g_new0(I8259State, 1);
    s->out = out;
    s->chip[0].master = true;
    /* IRQ 0, 1, 2 (timer, keyboard, cascade) and 8, 13 are always edge on the PIIX. */
    s->chip[0].elcr_mask = 0xf8;
    s->chip[1].elcr_mask = 0xde;
    for (int i = 0; i < 16; i++) {
        irq_init(&s->inputs[i], input_handler, s, i);
    }
    i8259_reset(s);
    return s;
}

void i8259_free(I8259State *pic)
{
    g_free(pic);
}

bool i8259_register_ports(I8259State *pic, IoSpace *io, GError **errp)
{
    return io_space_add(io, "pic-master", 0x20, 2, &master_ops, pic, errp) &&
           io_space_add(io, "pic-slave", 0xa0, 2, &slave_ops, pic, errp) &&
           io_space_add(io, "elcr", 0x4d0, 2, &elcr_ops, pic, errp);
}

IrqLine *i8259_input(I8259State *pic, int n)
{
    return &pic->inputs[n & 15];
}

void i8259_get_info(I8259State *pic, int chip, I8259ChipInfo *out)
{
    PicChip *c = &pic->chip[chip & 1];
    *out = (I8259ChipInfo){
        .irr = c->irr, .imr = c->imr, .isr = c->isr, .elcr = c->elcr, .irq_base = c->irq_base};
}

/* --- device contract -------------------------------------------------------------------- */

static const VMStateDescription vmstate_pic_chip = {
    .name = "i8259-chip",
    .version = 1,
    .size = sizeof(PicChip),
    .fields =
        (const VMStateField[]){
            VMSTATE_U8(PicChip, last_irr), VMSTATE_U8(PicChip, irr), VMSTATE_U8(PicChip, imr),
            VMSTATE_U8(PicChip, isr), VMSTATE_U8(PicChip, priority_add),
            VMSTATE_U8(PicChip, irq_base), VMSTATE_U8(PicChip, read_isr), VMSTATE_U8(PicChip, poll),
            VMSTATE_U8(PicChip, special_mask), VMSTATE_U8(PicChip, init_state),
            VMSTATE_U8(PicChip, init4), VMSTATE_U8(PicChip, single_mode),
            VMSTATE_U8(PicChip, auto_eoi), VMSTATE_U8(PicChip, rotate_on_auto_eoi),
            VMSTATE_U8(PicChip, sfnm), VMSTATE_U8(PicChip, elcr), VMSTATE_U8(PicChip, elcr_mask),
            VMSTATE_BOOL(PicChip, master), VMSTATE_END},
};

static bool pic_check(const void *scratch, const void *live, int version, GError **errp)
{
    const I8259State *s = scratch;
    for (int i = 0; i < 2; i++) {
        if (s->chip[i].init_state > 3 || s->chip[i].priority_add > 7) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "chip %d state out of range", i);
            return false;
        }
    }
    return true;
}

/* The INT output's level is part of the state of what it drives (LAPIC LINT0), which has its
 * own section: nothing to re-drive here. */
static const VMStateDescription vmstate_i8259 = {
    .name = "i8259",
    .version = 1,
    .size = sizeof(I8259State),
    .check = pic_check,
    .fields =
        (const VMStateField[]){VMSTATE_STRUCT_ARRAY(I8259State, chip, PicChip, vmstate_pic_chip),
                               VMSTATE_BOOL(I8259State, out_level), VMSTATE_END},
};

static bool pic_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return i8259_register_ports(dev, io, errp);
}

static void pic_reset(void *dev)
{
    i8259_reset(dev);
}

static void pic_free(void *dev)
{
    i8259_free(dev);
}

const DeviceContract i8259_device = {
    .name = "i8259",
    .map = pic_map,
    .reset = pic_reset,
    .free = pic_free,
    .vmsd = &vmstate_i8259,
};
