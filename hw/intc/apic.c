/* The local APIC (include/hw/intc/apic.h). */
#include "hw/intc/apic.h"
#include "util/log.h"

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NB };

#define LVT_MASKED            (1u << 16)
#define LVT_LEVEL             (1u << 15)
#define LVT_TIMER_PERIODIC    (1u << 17)
#define LVT_TIMER_TSCDEADLINE (2u << 17)
#define SVR_ENABLE            (1u << 8)
#define DM_FIXED              0
#define DM_NMI                4
#define DM_INIT               5
#define DM_STARTUP            6
#define DM_EXTINT             7

struct LapicState {
    HwClock *clock;
    HwTimer *timer;
    IrqLine *cpu_intr, *nmi;
    IrqLine lint0_line;
    LapicEoiNotify eoi_notify;
    void *eoi_opaque;
    uint8_t id;
    bool global_enable;
    uint32_t tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
    uint32_t isr[8], irr[8], tmr[8];
    uint32_t lvt[LVT_NB];
    uint32_t initial_count, divide_conf;
    int count_shift;
    int64_t count_start; /* clock time the current count period began */
    int lint0_level;
    int intr_level;
    uint64_t timer_fires, delivered, msi_received;
    int64_t timer_expiry; /* the state table's copy of the timer's deadline, -1: not armed */
};

static void set_bit256(uint32_t *tab, int v)
{
    tab[v >> 5] |= 1u << (v & 31);
}

static void clear_bit256(uint32_t *tab, int v)
{
    tab[v >> 5] &= ~(1u << (v & 31));
}

static bool test_bit256(const uint32_t *tab, int v)
{
    return tab[v >> 5] & (1u << (v & 31));
}

static int highest_bit256(const uint32_t *tab)
{
    for (int i = 7; i >= 0; i--) {
        if (tab[i]) {
            return i * 32 + 31 - __builtin_clz(tab[i]);
        }
    }
    return -1;
}

static bool sw_enabled(LapicState *s)
{
    return s->global_enable && (s->svr & SVR_ENABLE);
}

static uint32_t get_ppr(LapicState *s)
{
    int isrv = highest_bit256(s->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (s->tpr & 0xf0) >= isr_class ? s->tpr & 0xff : isr_class;
}

/* The IRR vector that would be delivered now, or -1. */
static int deliverable_vector(LapicState *s)
{
    int irrv = highest_bit256(s->irr);
    if (irrv < 0) {
        return -1;
    }
    if ((uint32_t)(irrv & 0xf0) <= (get_ppr(s) & 0xf0)) {
        return -1;
    }
    return irrv;
}

/* PIC interrupts reach the CPU when the APIC is off altogether or LINT0 is unmasked ExtINT. */
static bool accepts_pic(LapicState *s)
{
    uint32_t lvt0 = s->lvt[LVT_LINT0];
    if (!s->global_enable) {
        return true;
    }
    return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == DM_EXTINT;
}

static void update_intr(LapicState *s)
{
    int level = deliverable_vector(s) >= 0 || (s->lint0_level && accepts_pic(s));
    if (level != s->intr_level) {
        s->intr_level = level;
        irq_set_level(s->cpu_intr, level);
    }
}

static void accept_irq(LapicState *s, int vector, bool level)
{
    if (vector < 16) {
        s->esr |= 1u << 6; /* illegal vector received */
        return;
    }
    set_bit256(s->irr, vector);
    if (level) {
        set_bit256(s->tmr, vector);
    } else {
        clear_bit256(s->tmr, vector);
    }
    s->delivered++;
    update_intr(s);
}

void lapic_deliver(LapicState *s, int vector, bool level_triggered)
{
    accept_irq(s, vector & 0xff, level_triggered);
}

/* An LVT entry fires: fixed vector or NMI; masked entries and a disabled APIC do nothing. */
static void lvt_fire(LapicState *s, int lvt)
{
    uint32_t v = s->lvt[lvt];
    if ((v & LVT_MASKED) || !sw_enabled(s)) {
        return;
    }
    switch ((v >> 8) & 7) {
    case DM_FIXED:
        accept_irq(s, v & 0xff, lvt != LVT_TIMER && (v & LVT_LEVEL));
        break;
    case DM_NMI:
        irq_pulse(s->nmi);
        break;
    default:
        break;
    }
}

static void lint0_handler(void *opaque, int n, int level)
{
    LapicState *s = opaque;
    int old = s->lint0_level;
    s->lint0_level = level;
    uint32_t lvt0 = s->lvt[LVT_LINT0];
    if (s->global_enable && level && !old && ((lvt0 >> 8) & 7) != DM_EXTINT) {
        lvt_fire(s, LVT_LINT0);
    }
    update_intr(s);
}

int lapic_ack(LapicState *s)
{
    int v = deliverable_vector(s);
    if (v >= 0) {
        clear_bit256(s->irr, v);
        set_bit256(s->isr, v);
        update_intr(s);
        return v;
    }
    if (s->lint0_level && accepts_pic(s)) {
        return LAPIC_ACK_EXTINT;
    }
    if (highest_bit256(s->irr) >= 0) {
        return s->svr & 0xff; /* masked by priority since INTR rose: spurious vector */
    }
    return -1;
}

bool lapic_intr_pending(LapicState *s)
{
    return s->intr_level;
}

static void do_eoi(LapicState *s)
{
    int v = highest_bit256(s->isr);
    if (v < 0) {
        return;
    }
    clear_bit256(s->isr, v);
    if (test_bit256(s->tmr, v) && s->eoi_notify) {
        s->eoi_notify(s->eoi_opaque, v);
    }
    update_intr(s);
}

/* --- timer ------------------------------------------------------------------------------ */

static uint32_t timer_mode(LapicState *s)
{
    return s->lvt[LVT_TIMER] & (3u << 17);
}

static uint32_t current_count_at(LapicState *s, int64_t now)
{
    if (!s->initial_count || timer_mode(s) == LVT_TIMER_TSCDEADLINE) {
        return 0;
    }
    uint64_t elapsed = (uint64_t)(now - s->count_start) >> s->count_shift;
    if (timer_mode(s) == LVT_TIMER_PERIODIC) {
        return s->initial_count - (elapsed % s->initial_count);
    }
    return elapsed >= s->initial_count ? 0 : s->initial_count - elapsed;
}

static uint32_t current_count(LapicState *s)
{
    return current_count_at(s, hw_clock_ns(s->clock));
}

/*
 * Arms the timer for the running countdown that began at count_start; now is the clock
 * reading the caller based count_start on. A one-shot countdown is always still due when this
 * runs (its interrupt has not fired), so an end already in the past fires at once: reading
 * the clock again here and dropping an "expired" one-shot lost the interrupt whenever the host
 * descheduled the vCPU between the two readings, for Linux's shortest deltas (15 ticks), and
 * with it the guest's tick for good.
 */
static void arm_timer(LapicState *s, int64_t now)
{
    if (!s->initial_count || timer_mode(s) == LVT_TIMER_TSCDEADLINE) {
        hw_timer_del(s->timer);
        return;
    }
    uint64_t period = (uint64_t)s->initial_count << s->count_shift;
    int64_t next = s->count_start + period;
    if (timer_mode(s) == LVT_TIMER_PERIODIC && next <= now) {
        uint64_t periods = (now - s->count_start) / period;
        next = s->count_start + (periods + 1) * period;
    }
    hw_timer_mod(s->timer, next);
}

static void timer_cb(void *opaque)
{
    LapicState *s = opaque;
    s->timer_fires++;
    lvt_fire(s, LVT_TIMER);
    if (timer_mode(s) == LVT_TIMER_PERIODIC) {
        uint64_t period = (uint64_t)s->initial_count << s->count_shift;
        int64_t now = hw_clock_ns(s->clock);
        /* Keep the phase; skip periods missed while the vCPU was busy. */
        s->count_start += ((now - s->count_start) / period) * period;
        arm_timer(s, now);
    }
}

/* --- ICR -------------------------------------------------------------------------------- */

/* An IPI's or MSI's destination field names this APIC (logical: the flat model). */
static bool dest_matches(LapicState *s, uint8_t dest, bool logical)
{
    if (logical) {
        return (dest & (s->ldr >> 24)) != 0;
    }
    return dest == 0xff || dest == s->id;
}

static bool icr_targets_self(LapicState *s)
{
    switch ((s->icr_lo >> 18) & 3) {
    case 1: /* self */
    case 2: /* all including self */
        return true;
    case 3: /* all excluding self */
        return false;
    default:
        break;
    }
    return dest_matches(s, s->icr_hi >> 24, s->icr_lo & (1u << 11));
}

static void send_ipi(LapicState *s)
{
    int mode = (s->icr_lo >> 8) & 7;
    if (!icr_targets_self(s)) {
        return; /* no other CPUs */
    }
    switch (mode) {
    case DM_FIXED:
    case 1: /* lowest priority: we are the only candidate */
        accept_irq(s, s->icr_lo & 0xff, false);
        break;
    case DM_NMI:
        irq_pulse(s->nmi);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "lapic: IPI delivery mode %d to self ignored\n", mode);
        break;
    }
}

/* --- MMIO ------------------------------------------------------------------------------- */

static uint32_t reg_read(LapicState *s, unsigned reg)
{
    switch (reg) {
    case 0x02:
        return (uint32_t)s->id << 24;
    case 0x03:
        return 0x00050014; /* version 0x14, 6 LVT entries */
    case 0x08:
        return s->tpr;
    case 0x09:
        return 0; /* arbitration priority: not modelled */
    case 0x0a:
        return get_ppr(s);
    case 0x0d:
        return s->ldr;
    case 0x0e:
        return s->dfr;
    case 0x0f:
        return s->svr;
    case 0x10 ... 0x17:
        return s->isr[reg - 0x10];
    case 0x18 ... 0x1f:
        return s->tmr[reg - 0x18];
    case 0x20 ... 0x27:
        return s->irr[reg - 0x20];
    case 0x28:
        return s->esr;
    case 0x30:
        return s->icr_lo;
    case 0x31:
        return s->icr_hi;
    case 0x32 ... 0x37:
        return s->lvt[reg - 0x32];
    case 0x38:
        return s->initial_count;
    case 0x39:
        return current_count(s);
    case 0x3e:
        return s->divide_conf;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "lapic: read of reserved register 0x%x\n", reg << 4);
        return 0;
    }
}

static void reg_write(LapicState *s, unsigned reg, uint32_t val)
{
    switch (reg) {
    case 0x02:
        s->id = val >> 24;
        break;
    case 0x08:
        s->tpr = val & 0xff;
        update_intr(s);
        break;
    case 0x0b:
        do_eoi(s);
        break;
    case 0x0d:
        s->ldr = val & 0xff000000;
        break;
    case 0x0e:
        s->dfr = val | 0x0fffffff;
        break;
    case 0x0f:
        s->svr = val & 0x1ff;
        if (!(s->svr & SVR_ENABLE)) {
            for (int i = 0; i < LVT_NB; i++) {
                s->lvt[i] |= LVT_MASKED; /* software disable masks every LVT */
            }
        }
        update_intr(s);
        break;
    case 0x28:
        s->esr = 0; /* a write latches (and here clears) the error status */
        break;
    case 0x30:
        s->icr_lo = val & ~(1u << 12); /* delivery is instantaneous: never "send pending" */
        send_ipi(s);
        break;
    case 0x31:
        s->icr_hi = val & 0xff000000;
        break;
    case 0x32 ... 0x37: {
        int lvt = reg - 0x32;
        uint32_t old_mode = timer_mode(s);
        if (!(s->svr & SVR_ENABLE)) {
            val |= LVT_MASKED;
        }
        s->lvt[lvt] = val & (lvt == LVT_TIMER ? 0x710ff : 0x1a7ff);
        if (lvt == LVT_TIMER && timer_mode(s) != old_mode) {
            if (timer_mode(s) == LVT_TIMER_TSCDEADLINE) {
                qemu_log_mask(LOG_UNIMP, "lapic: TSC-deadline timer mode not offered\n");
            }
            s->count_start = hw_clock_ns(s->clock);
            arm_timer(s, s->count_start);
        }
        update_intr(s);
        break;
    }
    case 0x38:
        s->initial_count = val;
        s->count_start = hw_clock_ns(s->clock);
        arm_timer(s, s->count_start);
        break;
    case 0x3e: {
        s->divide_conf = val & 0xb;
        int v = (val & 3) | ((val >> 1) & 4);
        /* keep the current count continuous across a divider change */
        int64_t now = hw_clock_ns(s->clock);
        uint32_t cur = current_count_at(s, now);
        s->count_shift = (v + 1) & 7;
        if (s->initial_count && cur) {
            s->count_start = now - ((int64_t)(s->initial_count - cur) << s->count_shift);
            arm_timer(s, now);
        }
        break;
    }
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "lapic: write 0x%x to read-only/reserved register 0x%x\n",
                      val, reg << 4);
        break;
    }
}

void lapic_msi(LapicState *s, uint64_t addr, uint32_t data)
{
    bool logical = addr & MSI_ADDR_DEST_LOGICAL;
    if (!dest_matches(s, (addr >> MSI_ADDR_DEST_SHIFT) & 0xff, logical)) {
        return; /* for another CPU: there is none */
    }
    s->msi_received++;
    switch ((data >> 8) & 7) {
    case DM_FIXED:
    case 1: /* lowest priority: we are the only candidate */
        accept_irq(s, data & 0xff, data & MSI_DATA_LEVEL);
        break;
    case DM_NMI:
        irq_pulse(s->nmi);
        break;
    default:
        qemu_log_mask(LOG_UNIMP, "lapic: MSI delivery mode %u not handled\n", (data >> 8) & 7);
        break;
    }
}

static uint64_t lapic_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    LapicState *s = opaque;
    if (addr >= LAPIC_REGS_SIZE) {
        return 0; /* the MSI window reads as nothing */
    }
    uint32_t v = reg_read(s, (addr >> 4) & 0xff);
    unsigned shift = (addr & 3) * 8;
    /* Registers are 32-bit at 16-byte strides; narrower reads see part of the register. */
    if (addr & 0xc) {
        return 0;
    }
    return size >= 4 ? v : (v >> shift) & ((1u << (size * 8)) - 1);
}

static void lapic_mmio_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    /* MSIs and the registers share the address range, as upstream maps them: offset 0 is a
     * reserved register, so a message to APIC ID 0 lands there; 0x1000 up is messages only */
    if (addr == 0 || addr >= LAPIC_REGS_SIZE) {
        lapic_msi(opaque, LAPIC_BASE + addr, val);
        return;
    }
    if (addr & 0xf) {
        qemu_log_mask(LOG_GUEST_ERROR, "lapic: misaligned write at 0x%x\n", (unsigned)addr);
        return;
    }
    reg_write(opaque, (addr >> 4) & 0xff, val);
}

static const IoRegionOps lapic_ops = {.read = lapic_mmio_read, .write = lapic_mmio_write};

void lapic_reset(LapicState *s)
{
    s->tpr = s->ldr = s->esr = s->icr_lo = s->icr_hi = 0;
    s->dfr = 0xffffffff;
    s->svr = 0xff;
    memset(s->isr, 0, sizeof(s->isr));
    memset(s->irr, 0, sizeof(s->irr));
    memset(s->tmr, 0, sizeof(s->tmr));
    for (int i = 0; i < LVT_NB; i++) {
        s->lvt[i] = LVT_MASKED;
    }
    s->initial_count = 0;
    s->divide_conf = 0;
    s->count_shift = 1;
    s->global_enable = true;
    hw_timer_del(s->timer);
    update_intr(s);
}

void lapic_set_virtual_wire(LapicState *s)
{
    s->lvt[LVT_LINT0] = DM_EXTINT << 8;
    s->lvt[LVT_LINT1] = DM_NMI << 8;
    update_intr(s);
}

LapicState *lapic_new(HwClock *clock, uint8_t apic_id, IrqLine *cpu_intr, IrqLine *nmi)
{
    LapicState *s = g_new0(LapicState, 1);
    s->clock = clock;
    s->id = apic_id;
    s->cpu_intr = cpu_intr;
    s->nmi = nmi;
    s->timer = hw_timer_new(clock, timer_cb, s);
    irq_init(&s->lint0_line, lint0_handler, s, 0);
    lapic_reset(s);
    return s;
}

void lapic_free(LapicState *s)
{
    if (s) {
        hw_timer_free(s->timer);
        g_free(s);
    }
}

bool lapic_register_mmio(LapicState *s, IoSpace *mmio, GError **errp)
{
    return io_space_add(mmio, "lapic", LAPIC_BASE, LAPIC_MSI_SIZE, &lapic_ops, s, errp);
}

void lapic_set_eoi_notify(LapicState *s, LapicEoiNotify cb, void *opaque)
{
    s->eoi_notify = cb;
    s->eoi_opaque = opaque;
}

IrqLine *lapic_lint0(LapicState *s)
{
    return &s->lint0_line;
}

void lapic_set_global_enable(LapicState *s, bool on)
{
    s->global_enable = on;
    update_intr(s);
}

void lapic_get_info(LapicState *s, LapicInfo *out)
{
    *out = (LapicInfo){
        .id = s->id,
        .tpr = s->tpr,
        .svr = s->svr,
        .lvt_timer = s->lvt[LVT_TIMER],
        .lvt_lint0 = s->lvt[LVT_LINT0],
        .lvt_lint1 = s->lvt[LVT_LINT1],
        .initial_count = s->initial_count,
        .current_count = current_count(s),
        .divide = s->divide_conf,
        .timer_fires = s->timer_fires,
        .delivered = s->delivered,
        .msi_received = s->msi_received,
    };
    memcpy(out->isr, s->isr, sizeof(s->isr));
    memcpy(out->irr, s->irr, sizeof(s->irr));
    memcpy(out->tmr, s->tmr, sizeof(s->tmr));
}

/* --- device contract -------------------------------------------------------------------- */

static void lapic_pre_save(void *opaque)
{
    LapicState *s = opaque;
    s->timer_expiry = hw_timer_pending(s->timer) ? hw_timer_expire_time(s->timer) : -1;
}

static bool lapic_check(const void *scratch, const void *live, int version, GError **errp)
{
    const LapicState *s = scratch;
    if (s->count_shift < 0 || s->count_shift > 8) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "timer divider shift %d",
                    s->count_shift);
        return false;
    }
    return true;
}

/*
 * The timer is re-armed at its saved expiry, not recomputed: a one-shot that already fired
 * must not fire again. The CPU's interrupt line is not in any table: drive it from here.
 */
static void lapic_post_load(void *opaque, int version)
{
    LapicState *s = opaque;
    if (s->timer_expiry >= 0) {
        hw_timer_mod(s->timer, s->timer_expiry);
    } else {
        hw_timer_del(s->timer);
    }
    irq_set_level(s->cpu_intr, s->intr_level);
}

static const VMStateDescription vmstate_lapic = {
    .name = "apic",
    .version = 1,
    .size = sizeof(LapicState),
    .pre_save = lapic_pre_save,
    .check = lapic_check,
    .post_load = lapic_post_load,
    .fields = (const VMStateField[]){VMSTATE_U8(LapicState, id),
                                     VMSTATE_BOOL(LapicState, global_enable),
                                     VMSTATE_U32(LapicState, tpr),
                                     VMSTATE_U32(LapicState, ldr),
                                     VMSTATE_U32(LapicState, dfr),
                                     VMSTATE_U32(LapicState, svr),
                                     VMSTATE_U32(LapicState, esr),
                                     VMSTATE_U32(LapicState, icr_lo),
                                     VMSTATE_U32(LapicState, icr_hi),
                                     VMSTATE_U32_ARRAY(LapicState, isr),
                                     VMSTATE_U32_ARRAY(LapicState, irr),
                                     VMSTATE_U32_ARRAY(LapicState, tmr),
                                     VMSTATE_U32_ARRAY(LapicState, lvt),
                                     VMSTATE_U32(LapicState, initial_count),
                                     VMSTATE_U32(LapicState, divide_conf),
                                     VMSTATE_I32(LapicState, count_shift),
                                     VMSTATE_I64(LapicState, count_start),
                                     VMSTATE_I32(LapicState, lint0_level),
                                     VMSTATE_I32(LapicState, intr_level),
                                     VMSTATE_U64(LapicState, timer_fires),
                                     VMSTATE_U64(LapicState, delivered),
                                     VMSTATE_I64(LapicState, timer_expiry),
                                     VMSTATE_END},
};

static bool lapic_map(void *dev, IoSpace *io, IoSpace *mmio, uint64_t base, GError **errp)
{
    return lapic_register_mmio(dev, mmio, errp);
}

static void lapic_reset_dev(void *dev)
{
    lapic_reset(dev);
}

static void lapic_free_dev(void *dev)
{
    lapic_free(dev);
}

const DeviceContract lapic_device = {
    .name = "apic",
    .map = lapic_map,
    .reset = lapic_reset_dev,
    .free = lapic_free_dev,
    .vmsd = &vmstate_lapic,
};
