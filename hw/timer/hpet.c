/* The HPET's main counter and registers (include/hw/timer/hpet.h). */
#include "hw/timer/hpet.h"
#include "migration/vmstate.h"

#define REG_CAP      0x000
#define REG_CONFIG   0x010
#define REG_ISR      0x020
#define REG_COUNTER  0x0f0
#define REG_TIMER0   0x100
#define TIMER_STRIDE 0x20

#define CFG_ENABLE 1ull

/* Comparator configuration: timer 0 can be periodic, every comparator is 64-bit. */
#define TN_INT_TYPE (1ull << 1)
#define TN_INT_ENB  (1ull << 2)
#define TN_TYPE     (1ull << 3)
#define TN_PER_CAP  (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_VAL_SET  (1ull << 6)
#define TN_32MODE   (1ull << 8)
#define TN_ROUTE    (0x1full << 9)
#define TN_WRITABLE (TN_INT_TYPE | TN_INT_ENB | TN_TYPE | TN_32MODE | TN_ROUTE)

typedef struct HpetTimer {
    uint64_t config;
    uint64_t cmp;
    uint64_t fsb;
} HpetTimer;

struct HpetState {
    HwClock *clock;
    uint64_t config;
    uint64_t isr;
    /* The counter is base_count at virtual time base_ns, and counts from there while
     * ENABLE_CNF is set. */
    uint64_t base_count;
    int64_t base_ns;
    HpetTimer timer[HPET_TIMERS];
};

static uint64_t counter_now(HpetState *s)
{
    if (!(s->config & CFG_ENABLE)) {
        return s->base_count;
    }
    int64_t elapsed = hw_clock_ns(s->clock) - s->base_ns;
    return s->base_count + (uint64_t)(elapsed / HPET_PERIOD_NS);
}

static void set_counter(HpetState *s, uint64_t value)
{
    s->base_count = value;
    s->base_ns = hw_clock_ns(s->clock);
}

static uint64_t timer_caps(int n)
{
    return TN_SIZE_CAP | (n == 0 ? TN_PER_CAP : 0);
}

static uint64_t reg_read(HpetState *s, uint64_t reg)
{
    if (reg >= REG_TIMER0 && reg < REG_TIMER0 + HPET_TIMERS * TIMER_STRIDE) {
        HpetTimer *t = &s->timer[(reg - REG_TIMER0) / TIMER_STRIDE];
        switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
        case 0x00:
            return t->config;
        case 0x08:
            return t->cmp;
        case 0x10:
            return t->fsb;
        }
        return 0;
    }
    switch (reg) {
    case REG_CAP:
        return ((uint64_t)HPET_PERIOD_FS << 32) | HPET_BLOCK_ID;
    case REG_CONFIG:
        return s->config;
    case REG_ISR:
        return s->isr;
    case REG_COUNTER:
        return counter_now(s);
    }
    return 0;
}

static void reg_write(HpetState *s, uint64_t reg, uint64_t val)
{
    if (reg >= REG_TIMER0 && reg < REG_TIMER0 + HPET_TIMERS * TIMER_STRIDE) {
        int n = (reg - REG_TIMER0) / TIMER_STRIDE;
        HpetTimer *t = &s->timer[n];
        switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
        case 0x00:
            t->config = timer_caps(n) | (val & TN_WRITABLE);
            break;
        case 0x08:
            t->cmp = val;
            break;
        case 0x10:
            t->fsb = val;
            break;
        }
        return;
    }
    switch (reg) {
    case REG_CONFIG: {
        uint64_t counter = counter_now(s);
        /* Legacy replacement (bit 1) is not offered: only ENABLE_CNF is kept. */
        s->config = val & CFG_ENABLE;
        set_counter(s, counter);
        break;
    }
    case REG_ISR:
        s->isr &= ~val;
        break;
    case REG_COUNTER:
        set_counter(s, val);
        break;
    }
}

/* 4-byte accesses reach either half of a register; 8-byte ones the whole of it. */
static uint64_t hpet_read(void *opaque, uint64_t addr, unsigned size)
{
    uint64_t v = reg_read(opaque, addr & ~7ull);
    if (size == 8) {
        return v;
    }
    v >>= 8 * (addr & 7);
    return size == 4 ? (uint32_t)v : v & ((1ull << (8 * size)) - 1);
}

static void hpet_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    HpetState *s = opaque;
    uint64_t reg = addr & ~7ull;
    if (size != 8) {
        unsigned shift = 8 * (addr & 7);
        uint64_t mask = ((1ull << (8 * size)) - 1) << shift;
        val = (reg_read(s, reg) & ~mask) | ((val << shift) & mask);
    }
    reg_write(s, reg, val);
}

static const IoRegionOps hpet_ops = {.read = hpet_read, .write = hpet_write};

void hpet_reset(HpetState *s)
{
    s->config = 0;
    s->isr = 0;
    set_counter(s, 0);
    for (int i = 0; i < HPET_TIMERS; i++) {
        s->timer[i] = (HpetTimer){.config = timer_caps(i), .cmp = UINT64_MAX};
    }
}

HpetState *hpet_new(HwClock *clock)
{
    HpetState *s = g_new0(HpetState, 1);
    s->clock = clock;
    hpet_reset(s);
    return s;
}

void hpet_free(HpetState *s)
{
    g_free(s);
}

bool hpet_register_mmio(HpetState *s, IoSpace *mmio, GError **errp)
{
    return io_space_add(mmio, "hpet", HPET_BASE, HPET_LEN, &hpet_ops, s, errp);
}

/* --- device contract -------------------------------------------------------------------- */

static const VMStateDescription vmstate_hpet_timer = {
    .name = "hpet-timer",
    .version = 1,
    .size = sizeof(HpetTimer),
    .fields = (const VMStateField[]){VMSTATE_U64(HpetTimer, config), VMSTATE_U64(HpetTimer, cmp),
                                     VMSTATE_U64(HpetTimer, fsb), VMSTATE_END},
};

/* base_ns is a time of the virtual clock, which the machine's state carries too. */
static const VMStateDescription vmstate_hpet = {
    .name = "hpet",
    .version = 1,
    .size = sizeof(HpetState),
    .fields =
        (const VMStateField[]){
            VMSTATE_U64(HpetState, config), VMSTATE_U64(HpetState, isr),
            VMSTATE_U64(HpetState, base_count), VMSTATE_I64(HpetState, base_ns),
            VMSTATE_STRUCT_ARRAY(HpetState, timer, HpetTimer, vmstate_hpet_timer), VMSTATE_END},
};

static bool hpet_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return hpet_register_mmio(dev, mmio, errp);
}

static void hpet_reset_dev(void *dev)
{
    hpet_reset(dev);
}

static void hpet_free_dev(void *dev)
{
    hpet_free(dev);
}

const DeviceContract hpet_device = {
    .name = "hpet",
    .map = hpet_map,
    .reset = hpet_reset_dev,
    .free = hpet_free_dev,
    .vmsd = &vmstate_hpet,
};
