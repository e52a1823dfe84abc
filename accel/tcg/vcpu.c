/*
 * vCPU thread for the software CPU (include/accel/tcg.h).
 */
#include "accel/tcg.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "util/error.h"

/* Instructions per x86_cpu_exec call: bounds pause latency to well under a millisecond. */
#define SLICE 200000

struct AccelVCPU {
    X86CPU *cpu;
    AccelResetFn reset;
    void *opaque;
    GThread *thread;
    GMutex lock;
    GCond cond;
    AccelVCPUState state; /* under lock */
    bool want_run;        /* under lock */
    bool quit;            /* under lock */
    int nmi;              /* atomic */
    uint64_t icount;      /* atomic snapshot */
    int64_t tid;          /* under lock; 0 until the thread runs */
    AccelVCPUStats stats; /* under lock */
};

/* Only accel_vcpu_pause() waits for a state, STOPPED: GLib's broadcast is a futex syscall
 * even with nobody waiting, and a guest that halts between network interrupts went HALTED and
 * back to RUNNING ~8 times per MB of http, a broadcast each way that woke nobody. */
static void set_state(AccelVCPU *v, AccelVCPUState st)
{
    if (v->state != st) {
        v->state = st;
        v->stats.state_changes++;
        if (st == ACCEL_VCPU_STOPPED) {
            v->stats.broadcasts++;
            g_cond_broadcast(&v->cond);
        }
    }
}

static bool can_wake(AccelVCPU *v)
{
    return __atomic_load_n(&v->nmi, __ATOMIC_SEQ_CST) || x86_cpu_wakeup_pending(v->cpu);
}

static gpointer vcpu_thread(gpointer opaque)
{
    AccelVCPU *v = opaque;
    bool halted = false;

    g_mutex_lock(&v->lock);
    v->tid = syscall(SYS_gettid);
    g_cond_broadcast(&v->cond);
    for (;;) {
        /* wait until asked to run, and (if halted) until something can wake the CPU; a CPU
         * reset while paused (system_reset) clears env->halted and needs no wake-up */
        while (!v->quit &&
               (!v->want_run || (halted && x86_cpu_env(v->cpu)->halted && !can_wake(v)))) {
            if (v->want_run && v->state != ACCEL_VCPU_HALTED) {
                v->stats.halted_waits++;
            }
            set_state(v, v->want_run ? ACCEL_VCPU_HALTED : ACCEL_VCPU_STOPPED);
            g_cond_wait(&v->cond, &v->lock);
        }
        if (v->quit) {
            break;
        }
        /* A slice that follows a slice changes nothing anyone waits for: a broadcast per
         * slice was a futex syscall every 200 000 instructions. */
        set_state(v, ACCEL_VCPU_RUNNING);
        v->stats.slices++;
        g_mutex_unlock(&v->lock);

        if (halted) {
            x86_cpu_env(v->cpu)->halted = 0;
            halted = false;
        }
        if (__atomic_exchange_n(&v->nmi, 0, __ATOMIC_SEQ_CST)) {
            x86_cpu_inject_nmi(v->cpu);
        }
        X86ExitReason why = x86_cpu_exec(v->cpu, SLICE);
        __atomic_store_n(&v->icount, x86_cpu_icount(v->cpu), __ATOMIC_RELAXED);
        if (why == X86_EXIT_RESET && v->reset) {
            v->reset(v->opaque);
        } else if (why == X86_EXIT_HALTED) {
            halted = true;
        }
        g_mutex_lock(&v->lock);
        v->stats.hlt_exits += halted;
    }
    set_state(v, ACCEL_VCPU_STOPPED);
    g_mutex_unlock(&v->lock);
    return NULL;
}

AccelVCPU *accel_vcpu_new(X86CPU *cpu, AccelResetFn reset, void *opaque, GError **errp)
{
    AccelVCPU *v = g_new0(AccelVCPU, 1);
    v->cpu = cpu;
    v->reset = reset;
    v->opaque = opaque;
    g_mutex_init(&v->lock);
    g_cond_init(&v->cond);
    v->state = ACCEL_VCPU_STOPPED;
    v->thread = g_thread_try_new("CPU 0/TCG", vcpu_thread, v, errp);
    if (!v->thread) {
        g_mutex_clear(&v->lock);
        g_cond_clear(&v->cond);
        g_free(v);
        return NULL;
    }
    /* The id is reported by the monitor as soon as the vCPU exists. */
    g_mutex_lock(&v->lock);
    while (!v->tid) {
        g_cond_wait(&v->cond, &v->lock);
    }
    g_mutex_unlock(&v->lock);
    return v;
}

int64_t accel_vcpu_thread_id(AccelVCPU *v)
{
    g_mutex_lock(&v->lock);
    int64_t tid = v->tid;
    g_mutex_unlock(&v->lock);
    return tid;
}

void accel_vcpu_free(AccelVCPU *v)
{
    if (!v) {
        return;
    }
    g_mutex_lock(&v->lock);
    v->quit = true;
    x86_cpu_exit_request(v->cpu);
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
    g_thread_join(v->thread);
    g_mutex_clear(&v->lock);
    g_cond_clear(&v->cond);
    g_free(v);
}

void accel_vcpu_start(AccelVCPU *v)
{
    accel_vcpu_resume(v);
}

void accel_vcpu_resume(AccelVCPU *v)
{
    g_mutex_lock(&v->lock);
    v->want_run = true;
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
}

void accel_vcpu_pause(AccelVCPU *v)
{
    g_mutex_lock(&v->lock);
    v->want_run = false;
    x86_cpu_exit_request(v->cpu);
    g_cond_broadcast(&v->cond);
    while (v->state != ACCEL_VCPU_STOPPED) {
        g_cond_wait(&v->cond, &v->lock);
    }
    g_mutex_unlock(&v->lock);
}

AccelVCPUState accel_vcpu_state(AccelVCPU *v)
{
    g_mutex_lock(&v->lock);
    AccelVCPUState s = v->state;
    g_mutex_unlock(&v->lock);
    return s;
}

void accel_vcpu_set_irq(AccelVCPU *v, bool level)
{
    x86_cpu_set_irq(v->cpu, level);
    if (level) {
        /* GLib's broadcast is a futex syscall even with nobody waiting, and most raises come
         * from a running vCPU (MSI writes, its own LAPIC). A vCPU that has not yet published
         * HALTED re-checks the level under this lock before it waits, so it cannot miss it. */
        g_mutex_lock(&v->lock);
        if (v->state != ACCEL_VCPU_RUNNING) {
            g_cond_broadcast(&v->cond);
        }
        g_mutex_unlock(&v->lock);
    }
}

void accel_vcpu_nmi(AccelVCPU *v)
{
    __atomic_store_n(&v->nmi, 1, __ATOMIC_SEQ_CST);
    x86_cpu_exit_request(v->cpu);
    g_mutex_lock(&v->lock);
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
}

void accel_vcpu_get_stats(AccelVCPU *v, AccelVCPUStats *out)
{
    g_mutex_lock(&v->lock);
    *out = v->stats;
    g_mutex_unlock(&v->lock);
}

uint64_t accel_vcpu_icount(AccelVCPU *v)
{
    return __atomic_load_n(&v->icount, __ATOMIC_RELAXED);
}
