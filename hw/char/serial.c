/* The 16550A UART (include/hw/char/serial.h). */
#include "hw/char/serial.h"

enum {
    IER_RDI = 0x01,
    IER_THRI = 0x02,
    IER_RLSI = 0x04,
    IER_MSI = 0x08,
    IIR_NO_INT = 0x01,
    IIR_MSI = 0x00,
    IIR_THRI = 0x02,
    IIR_RDI = 0x04,
    IIR_RLSI = 0x06,
    IIR_CTI = 0x0c,
    IIR_FIFO = 0xc0,
    LSR_DR = 0x01,
    LSR_OE = 0x02,
    LSR_BI = 0x10,
    LSR_THRE = 0x20,
    LSR_TEMT = 0x40,
    LSR_INT_ANY = 0x1e,
    MCR_DTR = 0x01,
    MCR_RTS = 0x02,
    MCR_OUT1 = 0x04,
    MCR_OUT2 = 0x08,
    MCR_LOOP = 0x10,
    MSR_DCTS = 0x01,
    MSR_DDSR = 0x02,
    MSR_TERI = 0x04,
    MSR_DDCD = 0x08,
    MSR_CTS = 0x10,
    MSR_DSR = 0x20,
    MSR_RI = 0x40,
    MSR_DCD = 0x80,
    MSR_DELTA = 0x0f,
    LCR_DLAB = 0x80,
    FCR_ENABLE = 0x01,
    FCR_CLEAR_RX = 0x02,
    FCR_CLEAR_TX = 0x04,
};

struct SerialState {
    IrqLine *irq;
    SerialBackend backend;
    bool has_backend;
    uint16_t divider;
    uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
    bool thr_ipending;
    uint8_t rx_fifo[SERIAL_FIFO_LEN];
    int rx_head, rx_count;
    int irq_level;
    SerialStats stats;
};

static int rx_trigger_level(SerialState *s)
{
    static const int levels[4] = {1, 4, 8, 14};
    return (s->fcr & FCR_ENABLE) ? levels[s->fcr >> 6] : 1;
}

static void update_irq(SerialState *s)
{
    uint8_t id = IIR_NO_INT;
    if ((s->ier & IER_RLSI) && (s->lsr & LSR_INT_ANY)) {
        id = IIR_RLSI;
    } else if ((s->ier & IER_RDI) && s->rx_count) {
        /* Below the trigger level the real chip reports a character timeout after four
         * character times; reporting it at once gives the driver the same data sooner. */
        id = ((s->fcr & FCR_ENABLE) && s->rx_count < rx_trigger_level(s)) ? IIR_CTI : IIR_RDI;
    } else if ((s->ier & IER_THRI) && s->thr_ipending) {
        id = IIR_THRI;
    } else if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA)) {
        id = IIR_MSI;
    }
    s->iir = id | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
    int level = id != IIR_NO_INT;
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set_level(s->irq, level);
    }
}

static void rx_push(SerialState *s, uint8_t byte)
{
    int cap = (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_LEN : 1;
    if (s->rx_count >= cap) {
        s->lsr |= LSR_OE;
        s->stats.rx_overruns++;
        return;
    }
    s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_LEN] = byte;
    s->rx_count++;
    s->lsr |= LSR_DR;
    s->stats.rx_bytes++;
}

static uint8_t rx_pop(SerialState *s)
{
    if (!s->rx_count) {
        return 0;
    }
    uint8_t b = s->rx_fifo[s->rx_head];
    s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_LEN;
    s->rx_count--;
    if (!s->rx_count) {
        s->lsr &= ~LSR_DR;
    }
    return b;
}

static void rx_clear(SerialState *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
    s->lsr &= ~LSR_DR;
}

/* MSR as wired: in loopback the modem outputs come back as inputs; otherwise a connected
 * line (CTS, DSR, DCD). */
static void update_msr(SerialState *s)
{
    uint8_t in;
    if (s->mcr & MCR_LOOP) {
        in = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
             ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
    } else {
        in = MSR_CTS | MSR_DSR | MSR_DCD;
    }
    uint8_t changed = (in ^ s->msr) & 0xf0;
    uint8_t delta = s->msr & MSR_DELTA;
    if (changed & MSR_CTS) {
        delta |= MSR_DCTS;
    }
    if (changed & MSR_DSR) {
        delta |= MSR_DDSR;
    }
    if (changed & MSR_DCD) {
        delta |= MSR_DDCD;
    }
    if ((changed & MSR_RI) && !(in & MSR_RI)) {
        delta |= MSR_TERI;
    }
    s->msr = in | delta;
}

static void transmit(SerialState *s, uint8_t byte)
{
    if (s->mcr & MCR_LOOP) {
        rx_push(s, byte);
    } else if (s->has_backend && s->backend.write) {
        s->backend.write(s->backend.opaque, &byte, 1);
        s->stats.tx_bytes++;
    } else {
        s->stats.tx_dropped++;
    }
    /* Transmission is instantaneous: the holding register is empty again. */
    s->lsr |= LSR_THRE | LSR_TEMT;
    s->thr_ipending = true;
}

static uint64_t serial_read(void *opaque, uint64_t addr, unsigned size)
{
    SerialState *s = opaque;
    uint8_t ret;
    switch (addr & 7) {
    case 0:
        if (s->lcr & LCR_DLAB) {
            return s->divider & 0xff;
        }
        ret = rx_pop(s);
        update_irq(s);
        if (s->rx_count == 0 && s->has_backend && s->backend.accept_input) {
            s->backend.accept_input(s->backend.opaque);
        }
        return ret;
    case 1:
        return (s->lcr & LCR_DLAB) ? s->divider >> 8 : s->ier;
    case 2:
        ret = s->iir;
        if ((ret & 0x0f) == IIR_THRI) {
            s->thr_ipending = false; /* reading IIR acknowledges THR empty */
            update_irq(s);
        }
        return ret;
    case 3:
        return s->lcr;
    case 4:
        return s->mcr;
    case 5:
        ret = s->lsr;
        if (s->lsr & (LSR_OE | LSR_BI)) {
            s->lsr &= ~(LSR_OE | LSR_BI);
            update_irq(s);
        }
        return ret;
    case 6:
        ret = s->msr;
        s->msr &= ~MSR_DELTA;
        update_irq(s);
        return ret;
    default:
        return s->scr;
    }
}

static void serial_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    SerialState *s = opaque;
    val &= 0xff;
    switch (addr & 7) {
    case 0:
        if (s->lcr & LCR_DLAB) {
            s->divider = (s->divider & 0xff00) | val;
            return;
        }
        s->thr_ipending = false;
        transmit(s, val);
        break;
    case 1:
        if (s->lcr & LCR_DLAB) {
            s->divider = (s->divider & 0x00ff) | (val << 8);
            return;
        }
        /* Enabling THRI while THR is empty raises it at once, as the 16550A does. */
        if ((val & IER_THRI) && !(s->ier & IER_THRI) && (s->lsr & LSR_THRE)) {
            s->thr_ipending = true;
        }
        s->ier = val & 0x0f;
        break;
    case 2:
        if ((val ^ s->fcr) & FCR_ENABLE) {
            rx_clear(s); /* toggling FIFO mode empties the FIFOs */
        }
        if (val & FCR_CLEAR_RX) {
            rx_clear(s);
        }
        s->fcr = val & 0xc9; /* enable, DMA mode, trigger level; clear bits self-reset */
        break;
    case 3:
        s->lcr = val;
        return;
    case 4: {
        bool was_loop = s->mcr & MCR_LOOP;
        s->mcr = val & 0x1f;
        update_msr(s);
        if (was_loop && !(s->mcr & MCR_LOOP) && s->has_backend && s->backend.accept_input) {
            s->backend.accept_input(s->backend.opaque);
        }
        break;
    }
    case 5:
    case 6:
        return; /* LSR and MSR are read-only (the factory test write is ignored) */
    default:
        s->scr = val;
        return;
    }
    update_irq(s);
}

static const IoRegionOps serial_ops = {.read = serial_read, .write = serial_write};

void serial_reset(SerialState *s)
{
    s->divider = 12; /* 9600 baud */
    s->ier = 0;
    s->lcr = 0;
    s->mcr = MCR_OUT2;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = 0;
    update_msr(s);
    s->msr &= ~MSR_DELTA;
    s->scr = 0;
    s->fcr = 0;
    s->thr_ipending = false;
    rx_clear(s);
    update_irq(s);
}

SerialState *serial_new(IrqLine *irq)
{
    SerialState *s = g_new0(SerialState, 1);
    s->irq = irq;
    serial_reset(s);
    return s;
}

void serial_free(SerialState *s)
{
    g_free(s);
}

bool serial_register_ports(SerialState *s, IoSpace *io, uint16_t base, GError **errp)
{
    return io_space_add(io, "serial", base, 8, &serial_ops, s, errp);
}

void serial_set_backend(SerialState *s, const SerialBackend *backend)
{
    s->has_backend = backend != NULL;
    if (backend) {
        s->backend = *backend;
    }
}

int serial_can_receive(SerialState *s)
{
    if (s->mcr & MCR_LOOP) {
        return 0; /* the line is disconnected from the outside in loopback */
    }
    int cap = (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_LEN : 1;
    return cap - s->rx_count;
}

void serial_receive(SerialState *s, const uint8_t *buf, int len)
{
    if (s->mcr & MCR_LOOP) {
        return;
    }
    for (int i = 0; i < len; i++) {
        rx_push(s, buf[i]);
    }
    update_irq(s);
}

void serial_get_stats(SerialState *s, SerialStats *out)
{
    *out = s->stats;
}

/* --- device contract -------------------------------------------------------------------- */

static bool serial_check(const void *scratch, const void *live, int version, GError **errp)
{
    const SerialState *s = scratch;
    if (s->rx_head < 0 || s->rx_head >= SERIAL_FIFO_LEN || s->rx_count < 0 ||
        s->rx_count > SERIAL_FIFO_LEN) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "receive FIFO %d+%d out of range",
                    s->rx_head, s->rx_count);
        return false;
    }
    return true;
}

/* The byte counters (stats) describe this host's traffic, not the guest's UART: not saved. */
static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version = 1,
    .size = sizeof(SerialState),
    .check = serial_check,
    .fields =
        (const VMStateField[]){
            VMSTATE_U16(SerialState, divider), VMSTATE_U8(SerialState, ier),
            VMSTATE_U8(SerialState, iir), VMSTATE_U8(SerialState, lcr),
            VMSTATE_U8(SerialState, mcr), VMSTATE_U8(SerialState, lsr),
            VMSTATE_U8(SerialState, msr), VMSTATE_U8(SerialState, scr),
            VMSTATE_U8(SerialState, fcr), VMSTATE_BOOL(SerialState, thr_ipending),
            VMSTATE_BUFFER(SerialState, rx_fifo), VMSTATE_I32(SerialState, rx_head),
            VMSTATE_I32(SerialState, rx_count), VMSTATE_I32(SerialState, irq_level), VMSTATE_END},
};

static bool serial_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return serial_register_ports(dev, io, base, errp);
}

static void serial_reset_dev(void *dev)
{
    serial_reset(dev);
}

static void serial_free_dev(void *dev)
{
    serial_free(dev);
}

const DeviceContract serial_device = {
    .name = "serial",
    .map = serial_map,
    .reset = serial_reset_dev,
    .free = serial_free_dev,
    .vmsd = &vmstate_serial,
};
