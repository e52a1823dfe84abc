/* The MC146818 CMOS RTC (include/hw/timer/mc146818rtc.h). */
#include "hw/timer/mc146818rtc.h"

#define REG_A_UIP  0x80
#define REG_B_SET  0x80
#define REG_B_PIE  0x40
#define REG_B_AIE  0x20
#define REG_B_UIE  0x10
#define REG_B_DM   0x04
#define REG_B_24H  0x02
#define REG_C_IRQF 0x80
#define REG_C_PF   0x40
#define REG_C_AF   0x20
#define REG_C_UF   0x10

/* UIP is set for this long before each second's update (244 us on the real part). */
#define UIP_HOLD_NS 244000

struct RtcState {
    HwClock *clock;
    IrqLine *irq;
    HwTimer *periodic_timer;
    HwTimer *second_timer;
    uint8_t cmos[128];
    uint8_t index;
    time_t base_time; /* guest time (UTC seconds) at clock time base_ns */
    int64_t base_ns;
    int irq_level;
    uint64_t irq_count;
};

static int64_t now_ns(RtcState *s)
{
    return hw_clock_ns(s->clock);
}

time_t mc146818_get_time(RtcState *rtc)
{
    int64_t d = now_ns(rtc) - rtc->base_ns;
    return rtc->base_time + (d >= 0 ? d / NANOSECONDS_PER_SECOND : -1);
}

static uint8_t to_reg(RtcState *s, int v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return v;
    }
    return ((v / 10) << 4) | (v % 10);
}

static int from_reg(RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_DM) {
        return v;
    }
    return ((v >> 4) & 0x0f) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(RtcState *s, int hour)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H) {
        return to_reg(s, hour);
    }
    int h12 = hour % 12 ? hour % 12 : 12;
    return to_reg(s, h12) | (hour >= 12 ? 0x80 : 0);
}

static int hour_from_reg(RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H) {
        return from_reg(s, v);
    }
    int h = from_reg(s, v & 0x7f) % 12;
    return (v & 0x80) ? h + 12 : h;
}

/* Refreshes registers 0-9 and the century from the running time. */
static void time_to_regs(RtcState *s)
{
    time_t t = mc146818_get_time(s);
    struct tm tm;
    gmtime_r(&t, &tm);
    s->cmos[0] = to_reg(s, tm.tm_sec);
    s->cmos[2] = to_reg(s, tm.tm_min);
    s->cmos[4] = hour_to_reg(s, tm.tm_hour);
    s->cmos[6] = to_reg(s, tm.tm_wday + 1);
    s->cmos[7] = to_reg(s, tm.tm_mday);
    s->cmos[8] = to_reg(s, tm.tm_mon + 1);
    s->cmos[9] = to_reg(s, (tm.tm_year + 1900) % 100);
    s->cmos[RTC_CENTURY] = to_reg(s, (tm.tm_year + 1900) / 100);
}

/* The guest set the clock: registers 0-9 become the new time base. */
static void regs_to_time(RtcState *s)
{
    struct tm tm = {0};
    tm.tm_sec = from_reg(s, s->cmos[0]);
    tm.tm_min = from_reg(s, s->cmos[2]);
    tm.tm_hour = hour_from_reg(s, s->cmos[4]);
    tm.tm_mday = from_reg(s, s->cmos[7]);
    tm.tm_mon = from_reg(s, s->cmos[8]) - 1;
    tm.tm_year = from_reg(s, s->cmos[RTC_CENTURY]) * 100 + from_reg(s, s->cmos[9]) - 1900;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return; /* nonsense date: keep running on the old base */
    }
    s->base_time = t;
    s->base_ns = now_ns(s);
}

static void update_irq(RtcState *s)
{
    uint8_t c = s->cmos[RTC_REG_C] & 0x70;
    uint8_t enabled = s->cmos[RTC_REG_B] & 0x70;
    int level = (c & enabled) != 0;
    if (level) {
        s->cmos[RTC_REG_C] |= REG_C_IRQF;
    }
    if (level != s->irq_level) {
        if (level) {
            s->irq_count++;
        }
        s->irq_level = level;
        irq_set_level(s->irq, level);
    }
}

static int64_t periodic_period_ns(RtcState *s)
{
    int rate = s->cmos[RTC_REG_A] & 0x0f;
    int divider = (s->cmos[RTC_REG_A] >> 4) & 7;
    if (rate == 0 || divider != 2) {
        return 0; /* no periodic rate, or the oscillator is not running at 32.768 kHz */
    }
    if (rate <= 2) {
        rate += 7; /* rates 1 and 2 alias 8 and 9 with a 32.768 kHz time base */
    }
    return muldiv64(1ull << (rate - 1), NANOSECONDS_PER_SECOND, 32768);
}

static void arm_periodic(RtcState *s)
{
    int64_t period = periodic_period_ns(s);
    if (!period || !(s->cmos[RTC_REG_B] & REG_B_PIE)) {
        /* PF still sets without PIE on the real part, but nobody polls it at kHz rates. */
        hw_timer_del(s->periodic_timer);
        return;
    }
    int64_t now = now_ns(s);
    hw_timer_mod(s->periodic_timer, now - (now % period) + period);
}

static void periodic_cb(void *opaque)
{
    RtcState *s = opaque;
    s->cmos[RTC_REG_C] |= REG_C_PF;
    update_irq(s);
    arm_periodic(s);
}

static void arm_second(RtcState *s)
{
    if (!(s->cmos[RTC_REG_B] & (REG_B_UIE | REG_B_AIE)) || (s->cmos[RTC_REG_B] & REG_B_SET)) {
        hw_timer_del(s->second_timer);
        return;
    }
    int64_t d = now_ns(s) - s->base_ns;
    int64_t next = (d / NANOSECONDS_PER_SECOND + 1) * NANOSECONDS_PER_SECOND;
    hw_timer_mod(s->second_timer, s->base_ns + next);
}

static bool alarm_matches(uint8_t alarm, uint8_t now)
{
    return (alarm & 0xc0) == 0xc0 || alarm == now; /* 11xxxxxx is "don't care" */
}

static void second_cb(void *opaque)
{
    RtcState *s = opaque;
    time_to_regs(s);
    s->cmos[RTC_REG_C] |= REG_C_UF;
    if (alarm_matches(s->cmos[1], s->cmos[0]) && alarm_matches(s->cmos[3], s->cmos[2]) &&
        alarm_matches(s->cmos[5], s->cmos[4])) {
        s->cmos[RTC_REG_C] |= REG_C_AF;
    }
    update_irq(s);
    arm_second(s);
}

static uint64_t rtc_read(void *opaque, uint64_t addr, unsigned size)
{
    RtcState *s = opaque;
    if (addr == 0) {
        return 0xff; /* the index port is write-only */
    }
    int idx = s->index;
    switch (idx) {
    case 0:
    case 2:
    case 4:
    case 6:
    case 7:
    case 8:
    case 9:
    case RTC_CENTURY:
        if (!(s->cmos[RTC_REG_B] & REG_B_SET)) {
            time_to_regs(s);
        }
        return s->cmos[idx];
    case RTC_REG_A: {
        uint8_t a = s->cmos[RTC_REG_A] & ~REG_A_UIP;
        int64_t in_second = (now_ns(s) - s->base_ns) % NANOSECONDS_PER_SECOND;
        if (!(s->cmos[RTC_REG_B] & REG_B_SET) &&
            in_second >= NANOSECONDS_PER_SECOND - UIP_HOLD_NS) {
            a |= REG_A_UIP;
        }
        return a;
    }
    case RTC_REG_C: {
        uint8_t c = s->cmos[RTC_REG_C];
        s->cmos[RTC_REG_C] = 0;
        if (s->irq_level) {
            s->irq_level = 0;
            irq_lower(s->irq);
        }
        return c;
    }
    default:
        return s->cmos[idx];
    }
}

static void rtc_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    RtcState *s = opaque;
    if (addr == 0) {
        s->index = val & 0x7f;
        return;
    }
    int idx = s->index;
    switch (idx) {
    case 0:
    case 2:
    case 4:
    case 6:
    case 7:
    case 8:
    case 9:
    case RTC_CENTURY:
        s->cmos[idx] = val;
        if (!(s->cmos[RTC_REG_B] & REG_B_SET)) {
            regs_to_time(s);
        }
        break;
    case RTC_REG_A:
        s->cmos[RTC_REG_A] = val & ~REG_A_UIP;
        arm_periodic(s);
        break;
    case RTC_REG_B: {
        uint8_t old = s->cmos[RTC_REG_B];
        if (!(old & REG_B_SET)) {
            time_to_regs(s); /* freeze the registers in the old format before SET */
        }
        if (val & REG_B_SET) {
            val &= ~REG_B_UIE; /* SET clears UIE */
        }
        s->cmos[RTC_REG_B] = val;
        if ((old & REG_B_SET) && !(val & REG_B_SET)) {
            regs_to_time(s);
        }
        update_irq(s);
        arm_periodic(s);
        arm_second(s);
        break;
    }
    case RTC_REG_C:
    case RTC_REG_D:
        break; /* read-only */
    default:
        s->cmos[idx] = val;
        break;
    }
}

static const IoRegionOps rtc_ops = {.read = rtc_read, .write = rtc_write};

void mc146818_reset(RtcState *rtc)
{
    rtc->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE);
    rtc->cmos[RTC_REG_C] = 0;
    hw_timer_del(rtc->periodic_timer);
    hw_timer_del(rtc->second_timer);
    if (rtc->irq_level) {
        rtc->irq_level = 0;
        irq_lower(rtc->irq);
    }
}

RtcState *mc146818_new(HwClock *clock, IrqLine *irq, time_t start)
{
    RtcState *s = g_new0(RtcState, 1);
    s->clock = clock;
    s->irq = irq;
    s->periodic_timer = hw_timer_new(clock, periodic_cb, s);
    s->second_timer = hw_timer_new(clock, second_cb, s);
    s->base_time = start;
    s->base_ns = hw_clock_ns(clock);
    s->cmos[RTC_REG_A] = 0x26;
    s->cmos[RTC_REG_B] = REG_B_24H;
    s->cmos[RTC_REG_D] = 0x80; /* valid RAM and time */
    time_to_regs(s);
    return s;
}

void mc146818_free(RtcState *rtc)
{
    if (rtc) {
        hw_timer_free(rtc->periodic_timer);
        hw_timer_free(rtc->second_timer);
        g_free(rtc);
    }
}

bool mc146818_register_ports(RtcState *rtc, IoSpace *io, GError **errp)
{
    return io_space_add(io, "rtc", 0x70, 2, &rtc_ops, rtc, errp);
}

void mc146818_set_cmos(RtcState *rtc, int addr, uint8_t val)
{
    rtc->cmos[addr & 0x7f] = val;
}

uint8_t mc146818_get_cmos(RtcState *rtc, int addr)
{
    return rtc->cmos[addr & 0x7f];
}

void mc146818_set_memory_size(RtcState *rtc, uint64_t low, uint64_t high)
{
    /* base memory (640 KiB), extended memory 1M-64M in KiB, 16M-4G in 64 KiB units, above 4G
     * in 64 KiB units: the layout SeaBIOS and bootloaders read */
    uint64_t ext_kb = low > (1 << 20) ? (low - (1 << 20)) / 1024 : 0;
    if (ext_kb > 0xfc00) {
        ext_kb = 0xfc00;
    }
    uint64_t above16 = low > (16 << 20) ? (low - (16 << 20)) / 65536 : 0;
    if (above16 > 0xffff) {
        above16 = 0xffff;
    }
    uint64_t above4g = high / 65536;
    rtc->cmos[0x15] = 640 & 0xff;
    rtc->cmos[0x16] = 640 >> 8;
    rtc->cmos[0x17] = rtc->cmos[0x30] = ext_kb & 0xff;
    rtc->cmos[0x18] = rtc->cmos[0x31] = ext_kb >> 8;
    rtc->cmos[0x34] = above16 & 0xff;
    rtc->cmos[0x35] = above16 >> 8;
    rtc->cmos[0x5b] = above4g & 0xff;
    rtc->cmos[0x5c] = (above4g >> 8) & 0xff;
    rtc->cmos[0x5d] = (above4g >> 16) & 0xff;
}

uint64_t mc146818_irq_count(RtcState *rtc)
{
    return rtc->irq_count;
}

/* --- device contract -------------------------------------------------------------------- */

static bool rtc_check(const void *scratch, const void *live, int version, GError **errp)
{
    const RtcState *s = scratch;
    if (s->index >= sizeof(s->cmos)) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "CMOS index %u out of range",
                    s->index);
        return false;
    }
    return true;
}

/* Both timers follow from the registers and the time base on the loaded virtual clock. */
static void rtc_post_load(void *opaque, int version)
{
    arm_periodic(opaque);
    arm_second(opaque);
}

static const VMStateDescription vmstate_mc146818 = {
    .name = "mc146818rtc",
    .version = 1,
    .size = sizeof(RtcState),
    .check = rtc_check,
    .post_load = rtc_post_load,
    .fields =
        (const VMStateField[]){VMSTATE_BUFFER(RtcState, cmos), VMSTATE_U8(RtcState, index),
                               VMSTATE_I64(RtcState, base_time), VMSTATE_I64(RtcState, base_ns),
                               VMSTATE_I32(RtcState, irq_level), VMSTATE_U64(RtcState, irq_count),
                               VMSTATE_END},
};

static bool rtc_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return mc146818_register_ports(dev, io, errp);
}

static void rtc_reset(void *dev)
{
    mc146818_reset(dev);
}

static void rtc_free(void *dev)
{
    mc146818_free(dev);
}

const DeviceContract mc146818_device = {
    .name = "mc146818rtc",
    .map = rtc_map,
    .reset = rtc_reset,
    .free = rtc_free,
    .vmsd = &vmstate_mc146818,
};
