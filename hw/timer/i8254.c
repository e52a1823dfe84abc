/* The i8254 PIT and port 0x61 (include/hw/timer/i8254.h). */
#include "hw/timer/i8254.h"
#include "util/log.h"

enum { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

typedef struct PitChannel {
    int count; /* reload value; 0x10000 stands for a written 0 */
    uint16_t latched_count;
    uint8_t count_latched; /* RW_* state of the pending latched read, 0 if none */
    uint8_t status_latched;
    uint8_t status;
    uint8_t read_state, write_state;
    uint8_t write_latch;
    uint8_t rw_mode, mode, bcd, gate;
    bool null_count;
    bool terminal_done; /* modes 0 and 4: this count's terminal-count edge was delivered */
    int64_t load_time;  /* clock ns when counting (re)started */
} PitChannel;

struct I8254State {
    HwClock *clock;
    IrqLine *irq0;
    HwTimer *timer;
    PitChannel ch[3];
    uint8_t speaker_enable;
    int irq_level;
    uint64_t irq_count;
};

static uint64_t ticks_since_load(I8254State *s, PitChannel *c, int64_t now)
{
    int64_t d = now - c->load_time;
    return d <= 0 ? 0 : muldiv64(d, PIT_FREQ, NANOSECONDS_PER_SECOND);
}

/* Rounded up: at the returned time the tick has happened, so re-arming moves forward. */
static int64_t ticks_to_ns(uint64_t ticks)
{
    return muldiv64(ticks, NANOSECONDS_PER_SECOND, PIT_FREQ) + 1;
}

static int get_count(I8254State *s, PitChannel *c)
{
    uint64_t d = ticks_since_load(s, c, hw_clock_ns(s->clock));
    switch (c->mode) {
    case 0:
    case 1:
    case 4:
    case 5:
        return (c->count - d) & 0xffff;
    case 3:
        /* The counter steps by two; the half period is odd/even rounded as the chip does. */
        return c->count - ((2 * d) % c->count);
    default:
        return c->count - (d % c->count);
    }
}

static int get_out(I8254State *s, PitChannel *c, int64_t now)
{
    uint64_t d = ticks_since_load(s, c, now);
    switch (c->mode) {
    case 0:
        return d >= (uint64_t)c->count;
    case 1:
        return d < (uint64_t)c->count;
    case 2:
        return (d % c->count) != 0 || d == 0;
    case 3:
        return (d % c->count) < (uint64_t)((c->count + 1) >> 1);
    default:
        return d != (uint64_t)c->count;
    }
}

static void set_irq0(I8254State *s, int level)
{
    if (level && !s->irq_level) {
        s->irq_count++;
    }
    s->irq_level = level;
    irq_set_level(s->irq0, level);
}

/* Arms the channel 0 timer for its next interrupt edge. */
static void schedule_irq(I8254State *s)
{
    PitChannel *c = &s->ch[0];
    int64_t now = hw_clock_ns(s->clock);
    uint64_t d = ticks_since_load(s, c, now);
    uint64_t next;
    if (!c->gate) {
        hw_timer_del(s->timer);
        return;
    }
    switch (c->mode) {
    case 0:
    case 4:
        /* A count that ran out before it was armed (a few ticks, a vCPU preempted since the
         * load) still gets its edge, armed in the past; once delivered there is no other. */
        if (c->terminal_done) {
            hw_timer_del(s->timer);
            return;
        }
        next = c->count;
        break;
    case 2:
    case 3:
        next = (d / c->count + 1) * c->count;
        break;
    default:
        hw_timer_del(s->timer);
        return;
    }
    hw_timer_mod(s->timer, c->load_time + ticks_to_ns(next));
}

static void pit_timer_cb(void *opaque)
{
    I8254State *s = opaque;
    PitChannel *c = &s->ch[0];
    switch (c->mode) {
    case 0:
        c->terminal_done = true;
        set_irq0(s, 1); /* stays high until the channel is reprogrammed */
        break;
    case 4:
        c->terminal_done = true;
        set_irq0(s, 1);
        set_irq0(s, 0);
        break;
    default:
        set_irq0(s, 1);
        set_irq0(s, 0);
        break;
    }
    schedule_irq(s);
}

static void load_count(I8254State *s, int ch, int val)
{
    PitChannel *c = &s->ch[ch];
    c->count = val == 0 ? 0x10000 : val;
    c->load_time = hw_clock_ns(s->clock);
    c->null_count = false;
    c->terminal_done = false;
    if (ch == 0) {
        if (c->mode == 0) {
            set_irq0(s, 0);
        }
        schedule_irq(s);
    }
}

static void latch_count(I8254State *s, PitChannel *c)
{
    if (!c->count_latched) {
        c->latched_count = get_count(s, c);
        c->count_latched = c->rw_mode;
    }
}

static void write_control(I8254State *s, uint8_t val)
{
    int ch = val >> 6;
    if (ch == 3) { /* read-back */
        for (int i = 0; i < 3; i++) {
            if (!(val & (2 << i))) {
                continue;
            }
            PitChannel *c = &s->ch[i];
            if (!(val & 0x20)) {
                latch_count(s, c);
            }
            if (!(val & 0x10) && !c->status_latched) {
                c->status = (get_out(s, c, hw_clock_ns(s->clock)) << 7) | (c->null_count << 6) |
                            (c->rw_mode << 4) | (c->mode << 1) | c->bcd;
                c->status_latched = 1;
            }
        }
        return;
    }
    PitChannel *c = &s->ch[ch];
    int access = (val >> 4) & 3;
    if (access == 0) {
        latch_count(s, c);
        return;
    }
    c->rw_mode = access;
    c->read_state = access;
    c->write_state = access;
    c->mode = (val >> 1) & 7;
    if (c->mode > 5) {
        c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
    }
    c->bcd = val & 1;
    c->null_count = true;
    if (c->bcd) {
        qemu_log_mask(LOG_UNIMP, "i8254: BCD counting not supported\n");
    }
    if (ch == 0) {
        /* Programming a mode sets OUT to its initial level: low in mode 0, high otherwise. */
        set_irq0(s, 0);
        hw_timer_del(s->timer);
    }
}

static void write_data(I8254State *s, int ch, uint8_t val)
{
    PitChannel *c = &s->ch[ch];
    switch (c->write_state) {
    case RW_LSB:
        load_count(s, ch, val);
        break;
    case RW_MSB:
        load_count(s, ch, val << 8);
        break;
    case RW_WORD0:
        c->write_latch = val;
        c->write_state = RW_WORD1;
        break;
    case RW_WORD1:
        load_count(s, ch, c->write_latch | (val << 8));
        c->write_state = RW_WORD0;
        break;
    default: /* never programmed */
        break;
    }
}

static uint8_t read_data(I8254State *s, int ch)
{
    PitChannel *c = &s->ch[ch];
    uint8_t ret;
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    if (c->count_latched) {
        switch (c->count_latched) {
        case RW_LSB:
            ret = c->latched_count & 0xff;
            c->count_latched = 0;
            break;
        case RW_MSB:
            ret = c->latched_count >> 8;
            c->count_latched = 0;
            break;
        default: /* RW_WORD0: LSB now, MSB on the next read */
            ret = c->latched_count & 0xff;
            c->count_latched = RW_MSB;
            break;
        }
        return ret;
    }
    int count = get_count(s, c);
    switch (c->read_state) {
    case RW_LSB:
        return count & 0xff;
    case RW_MSB:
        return (count >> 8) & 0xff;
    case RW_WORD0:
        c->read_state = RW_WORD1;
        return count & 0xff;
    case RW_WORD1:
        c->read_state = RW_WORD0;
        return (count >> 8) & 0xff;
    default:
        return 0;
    }
}

static uint64_t pit_read(void *opaque, uint64_t addr, unsigned size)
{
    if (addr == 3) {
        return 0xff; /* the control word register is write-only */
    }
    return read_data(opaque, addr);
}

static void pit_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    if (addr == 3) {
        write_control(opaque, val);
    } else {
        write_data(opaque, addr, val);
    }
}

static void set_gate(I8254State *s, int ch, int gate)
{
    PitChannel *c = &s->ch[ch];
    /* A rising gate restarts counting in modes 1, 2, 3 and 5. */
    if (gate && !c->gate && c->mode != 0 && c->mode != 4) {
        c->load_time = hw_clock_ns(s->clock);
    }
    c->gate = gate;
    if (ch == 0) {
        schedule_irq(s);
    }
}

static uint64_t port61_read(void *opaque, uint64_t addr, unsigned size)
{
    I8254State *s = opaque;
    int64_t now = hw_clock_ns(s->clock);
    /* DRAM refresh toggles every 15.085 us; some code waits on it for short delays. */
    int refresh = (now / 15085) & 1;
    int out2 = get_out(s, &s->ch[2], now);
    return s->ch[2].gate | (s->speaker_enable << 1) | (refresh << 4) | (out2 << 5);
}

static void port61_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    I8254State *s = opaque;
    s->speaker_enable = (val >> 1) & 1;
    set_gate(s, 2, val & 1);
}

static const IoRegionOps pit_ops = {.read = pit_read, .write = pit_write};
static const IoRegionOps port61_ops = {.read = port61_read, .write = port61_write};

void i8254_reset(I8254State *pit)
{
    for (int i = 0; i < 3; i++) {
        PitChannel *c = &pit->ch[i];
        *c = (PitChannel){.mode = 3, .gate = i != 2, .count = 0x10000};
        c->load_time = hw_clock_ns(pit->clock);
    }
    pit->speaker_enable = 0;
    hw_timer_del(pit->timer);
    set_irq0(pit, 0);
    pit->irq_count = 0;
}

I8254State *i8254_new(HwClock *clock, IrqLine *irq0)
{
    I8254State *s = g_new0(I8254State, 1);
    s->clock = clock;
    s->irq0 = irq0;
    s->timer = hw_timer_new(clock, pit_timer_cb, s);
    i8254_reset(s);
    return s;
}

void i8254_free(I8254State *pit)
{
    if (pit) {
        hw_timer_free(pit->timer);
        g_free(pit);
    }
}

bool i8254_register_ports(I8254State *pit, IoSpace *io, GError **errp)
{
    return io_space_add(io, "pit", 0x40, 4, &pit_ops, pit, errp) &&
           io_space_add(io, "port61", 0x61, 1, &port61_ops, pit, errp);
}

void i8254_get_channel(I8254State *pit, int ch, I8254ChannelInfo *out)
{
    PitChannel *c = &pit->ch[ch % 3];
    out->mode = c->mode;
    out->count = c->count;
    out->gate = c->gate;
    out->out = get_out(pit, c, hw_clock_ns(pit->clock));
    out->current = get_count(pit, c);
}

uint64_t i8254_irq_count(I8254State *pit)
{
    return pit->irq_count;
}

/* --- device contract -------------------------------------------------------------------- */

static const VMStateDescription vmstate_pit_channel = {
    .name = "i8254-channel",
    .version = 1,
    .size = sizeof(PitChannel),
    .fields =
        (const VMStateField[]){
            VMSTATE_I32(PitChannel, count), VMSTATE_U16(PitChannel, latched_count),
            VMSTATE_U8(PitChannel, count_latched), VMSTATE_U8(PitChannel, status_latched),
            VMSTATE_U8(PitChannel, status), VMSTATE_U8(PitChannel, read_state),
            VMSTATE_U8(PitChannel, write_state), VMSTATE_U8(PitChannel, write_latch),
            VMSTATE_U8(PitChannel, rw_mode), VMSTATE_U8(PitChannel, mode),
            VMSTATE_U8(PitChannel, bcd), VMSTATE_U8(PitChannel, gate),
            VMSTATE_BOOL(PitChannel, null_count), VMSTATE_BOOL(PitChannel, terminal_done),
            VMSTATE_I64(PitChannel, load_time), VMSTATE_END},
};

/* Counts divide the elapsed ticks: a count outside 1..0x10000 would divide by zero. */
static bool pit_check(const void *scratch, const void *live, int version, GError **errp)
{
    const I8254State *s = scratch;
    for (int i = 0; i < 3; i++) {
        const PitChannel *c = &s->ch[i];
        if (c->count < 1 || c->count > 0x10000 || c->mode > 5 || c->rw_mode > 3) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "channel %d: count %d or mode %u out of range", i, c->count, c->mode);
            return false;
        }
    }
    return true;
}

/* The channel 0 timer follows from the loaded channel (on the loaded virtual clock). */
static void pit_post_load(void *opaque, int version)
{
    schedule_irq(opaque);
}

static const VMStateDescription vmstate_i8254 = {
    .name = "i8254",
    .version = 1,
    .size = sizeof(I8254State),
    .check = pit_check,
    .post_load = pit_post_load,
    .fields =
        (const VMStateField[]){
            VMSTATE_STRUCT_ARRAY(I8254State, ch, PitChannel, vmstate_pit_channel),
            VMSTATE_U8(I8254State, speaker_enable), VMSTATE_I32(I8254State, irq_level),
            VMSTATE_U64(I8254State, irq_count), VMSTATE_END},
};

static bool pit_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return i8254_register_ports(dev, io, errp);
}

static void pit_reset(void *dev)
{
    i8254_reset(dev);
}

static void pit_free(void *dev)
{
    i8254_free(dev);
}

const DeviceContract i8254_device = {
    .name = "i8254",
    .map = pit_map,
    .reset = pit_reset,
    .free = pit_free,
    .vmsd = &vmstate_i8254,
};
