/* The i8042 keyboard controller (include/hw/input/i8042.h). */
#include "hw/input/i8042.h"
#include "util/log.h"

#define STAT_OBF      0x01
#define STAT_SYS      0x04
#define STAT_CMD      0x08
#define STAT_UNLOCKED 0x10
#define STAT_AUX      0x20
#define CTR_KBDINT    0x01
#define CTR_AUXINT    0x02
#define CTR_SYS       0x04
#define CTR_KBDDIS    0x10
#define CTR_AUXDIS    0x20
#define CTR_XLATE     0x40
#define QUEUE_LEN     16

struct I8042State {
    IrqLine *kbd_irq, *aux_irq;
    I8042ResetFn reset_fn;
    void *reset_opaque;
    uint8_t queue[QUEUE_LEN];
    bool queue_aux[QUEUE_LEN];
    int head, count;
    uint8_t ctr;
    uint8_t status;
    uint8_t pending_cmd; /* controller command waiting for its data byte, 0 if none */
    uint8_t kbd_pending; /* keyboard command waiting for its argument, 0 if none */
    uint8_t outport;
    int kbd_level, aux_level;
};

static void update_irq(I8042State *s)
{
    int kbd = 0, aux = 0;
    if (s->count) {
        if (s->queue_aux[s->head]) {
            aux = (s->ctr & CTR_AUXINT) != 0;
        } else {
            kbd = (s->ctr & CTR_KBDINT) != 0;
        }
    }
    if (kbd != s->kbd_level) {
        s->kbd_level = kbd;
        irq_set_level(s->kbd_irq, kbd);
    }
    if (aux != s->aux_level) {
        s->aux_level = aux;
        irq_set_level(s->aux_irq, aux);
    }
}

static void lower_irqs(I8042State *s)
{
    if (s->kbd_level) {
        s->kbd_level = 0;
        irq_set_level(s->kbd_irq, 0);
    }
    if (s->aux_level) {
        s->aux_level = 0;
        irq_set_level(s->aux_irq, 0);
    }
}

static void queue_byte(I8042State *s, uint8_t v, bool aux)
{
    if (s->count == QUEUE_LEN) {
        return; /* the guest stopped reading: newest bytes are lost as on the real part */
    }
    int i = (s->head + s->count) % QUEUE_LEN;
    s->queue[i] = v;
    s->queue_aux[i] = aux;
    s->count++;
    update_irq(s);
}

static void request_reset(I8042State *s)
{
    if (s->reset_fn) {
        s->reset_fn(s->reset_opaque);
    }
}

static void kbd_command(I8042State *s, uint8_t v)
{
    if (s->kbd_pending) {
        uint8_t cmd = s->kbd_pending;
        s->kbd_pending = 0;
        queue_byte(s, 0xfa, false);
        if (cmd == 0xf0 && v == 0) {
            queue_byte(s, 0x02, false); /* the current scancode set */
        }
        return;
    }
    switch (v) {
    case 0xff: /* reset and self-test */
        queue_byte(s, 0xfa, false);
        queue_byte(s, 0xaa, false);
        break;
    case 0xf2: /* identify: an MF2 keyboard */
        queue_byte(s, 0xfa, false);
        queue_byte(s, 0xab, false);
        queue_byte(s, 0x83, false);
        break;
    case 0xee: /* echo */
        queue_byte(s, 0xee, false);
        break;
    case 0xed: /* LEDs, typematic rate, scancode set: an argument follows */
    case 0xf3:
    case 0xf0:
        s->kbd_pending = v;
        queue_byte(s, 0xfa, false);
        break;
    case 0xf4:
    case 0xf5:
    case 0xf6:
    case 0xf7:
    case 0xf8:
    case 0xf9:
    case 0xfa:
        queue_byte(s, 0xfa, false);
        break;
    default:
        queue_byte(s, 0xfe, false); /* resend: unknown command */
        break;
    }
}

static void write_outport(I8042State *s, uint8_t v)
{
    s->outport = v;
    if (!(v & 1)) {
        request_reset(s);
    }
}

static void controller_command(I8042State *s, uint8_t cmd)
{
    switch (cmd) {
    case 0x20:
        queue_byte(s, s->ctr, false);
        break;
    case 0x60:
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xd4:
        s->pending_cmd = cmd;
        break;
    case 0xa7:
        s->ctr |= CTR_AUXDIS;
        break;
    case 0xa8:
        s->ctr &= ~CTR_AUXDIS;
        break;
    case 0xa9: /* AUX interface test: lines OK */
    case 0xab: /* keyboard interface test: OK */
        queue_byte(s, 0x00, false);
        break;
    case 0xaa: /* controller self-test */
        queue_byte(s, 0x55, false);
        break;
    case 0xad:
        s->ctr |= CTR_KBDDIS;
        break;
    case 0xae:
        s->ctr &= ~CTR_KBDDIS;
        break;
    case 0xc0: /* input port */
        queue_byte(s, 0x80, false);
        break;
    case 0xd0:
        queue_byte(s, s->outport, false);
        break;
    default:
        if (cmd >= 0xf0) {
            /* pulse output lines: bit 0 clear pulses the reset line */
            if (!(cmd & 1)) {
                request_reset(s);
            }
            break;
        }
        qemu_log_mask(LOG_UNIMP, "i8042: command 0x%02x not supported\n", cmd);
        break;
    }
}

static uint64_t i8042_read(void *opaque, uint64_t addr, unsigned size)
{
    I8042State *s = opaque;
    if (addr == 4) {
        uint8_t st = s->status | ((s->ctr & CTR_SYS) ? STAT_SYS : 0) | STAT_UNLOCKED;
        if (s->count) {
            st |= STAT_OBF;
            if (s->queue_aux[s->head]) {
                st |= STAT_AUX;
            }
        }
        return st;
    }
    if (!s->count) {
        return s->queue[(s->head + QUEUE_LEN - 1) % QUEUE_LEN]; /* the last byte again */
    }
    uint8_t v = s->queue[s->head];
    s->head = (s->head + 1) % QUEUE_LEN;
    s->count--;
    /* Reading the output buffer drops IRQ1/IRQ12 and the next byte raises it again, as the
     * part (and upstream's) does: the PIC's and IO-APIC's inputs are edge-triggered and
     * Linux's handler reads one byte per interrupt. Held high, the line gave no edge for the
     * bytes after a command's ACK: atkbd never saw the keyboard's ID, failed its probe, and
     * every stray byte made serio probe again (the Debian image's boot allocated 160 input
     * devices and bound no keyboard). */
    lower_irqs(s);
    update_irq(s);
    return v;
}

static void i8042_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    I8042State *s = opaque;
    if (addr == 4) {
        s->status |= STAT_CMD;
        controller_command(s, val);
        return;
    }
    s->status &= ~STAT_CMD;
    uint8_t cmd = s->pending_cmd;
    s->pending_cmd = 0;
    switch (cmd) {
    case 0x60:
        s->ctr = val;
        update_irq(s);
        break;
    case 0xd1:
        write_outport(s, val);
        break;
    case 0xd2:
        queue_byte(s, val, false);
        break;
    case 0xd3:
        queue_byte(s, val, true);
        break;
    case 0xd4:
        queue_byte(s, 0xfe, true); /* no mouse answers */
        break;
    default:
        kbd_command(s, val);
        break;
    }
}

void i8042_reset(I8042State *s)
{
    s->head = s->count = 0;
    s->ctr = CTR_KBDINT | CTR_AUXINT | CTR_SYS | CTR_XLATE;
    s->status = 0;
    s->pending_cmd = s->kbd_pending = 0;
    s->outport = 0x03; /* reset line high, A20 on */
    update_irq(s);
}

I8042State *i8042_new(IrqLine *kbd_irq, IrqLine *aux_irq, I8042ResetFn reset, void *opaque)
{
    I8042State *s = g_new0(I8042State, 1);
    s->kbd_irq = kbd_irq;
    s->aux_irq = aux_irq;
    s->reset_fn = reset;
    s->reset_opaque = opaque;
    i8042_reset(s);
    return s;
}

void i8042_free(I8042State *s)
{
    g_free(s);
}

static uint64_t data_read(void *opaque, uint64_t addr, unsigned size)
{
    return i8042_read(opaque, 0, size);
}

static void data_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    i8042_write(opaque, 0, val, size);
}

static uint64_t cmd_read(void *opaque, uint64_t addr, unsigned size)
{
    return i8042_read(opaque, 4, size);
}

static void cmd_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    i8042_write(opaque, 4, val, size);
}

static const IoRegionOps data_ops = {.read = data_read, .write = data_write};
static const IoRegionOps cmd_ops = {.read = cmd_read, .write = cmd_write};

bool i8042_register_ports(I8042State *s, IoSpace *io, GError **errp)
{
    /* 0x60 and 0x64 only: 0x61 is the PIT/speaker port in between */
    return io_space_add(io, "i8042-data", 0x60, 1, &data_ops, s, errp) &&
           io_space_add(io, "i8042-cmd", 0x64, 1, &cmd_ops, s, errp);
}

/* --- device contract -------------------------------------------------------------------- */

static bool kbc_check(const void *scratch, const void *live, int version, GError **errp)
{
    const I8042State *s = scratch;
    if (s->head < 0 || s->head >= QUEUE_LEN || s->count < 0 || s->count > QUEUE_LEN) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "output queue %d+%d out of range",
                    s->head, s->count);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_i8042 = {
    .name = "i8042",
    .version = 1,
    .size = sizeof(I8042State),
    .check = kbc_check,
    .fields =
        (const VMStateField[]){
            VMSTATE_BUFFER(I8042State, queue), VMSTATE_BOOL_ARRAY(I8042State, queue_aux),
            VMSTATE_I32(I8042State, head), VMSTATE_I32(I8042State, count),
            VMSTATE_U8(I8042State, ctr), VMSTATE_U8(I8042State, status),
            VMSTATE_U8(I8042State, pending_cmd), VMSTATE_U8(I8042State, kbd_pending),
            VMSTATE_U8(I8042State, outport), VMSTATE_I32(I8042State, kbd_level),
            VMSTATE_I32(I8042State, aux_level), VMSTATE_END},
};

static bool kbc_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return i8042_register_ports(dev, io, errp);
}

static void kbc_reset_dev(void *dev)
{
    i8042_reset(dev);
}

static void kbc_free_dev(void *dev)
{
    i8042_free(dev);
}

const DeviceContract i8042_device = {
    .name = "i8042",
    .map = kbc_map,
    .reset = kbc_reset_dev,
    .free = kbc_free_dev,
    .vmsd = &vmstate_i8042,
};
