/*
 * The source side of live migration: its status, statistics and QMP commands, and the precopy
 * thread (include/migration/migration.h has the state diagram).
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/block.h"
#include "migration-internal.h"
#include "migration/colo.h"
#include "migration/options.h"
#include "migration/stream.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "system/runstate.h"
#include "util/error.h"
#include "util/yank.h"

/* The smallest bandwidth the convergence test assumes (bytes per ms), so that a first slow
 * sample does not make every later pass look hopeless. */
#define MIN_BANDWIDTH 64

typedef struct StopCall {
    bool was_running;
    RunState old_state;
} StopCall;

typedef struct MigState {
    GMutex lock; /* everything below; the thread's locals need none */
    MigrationStatus status;
    bool ever; /* a migration was started: query-migrate has something to say */
    GThread *thread;
    MigChannel *chan;
    char *uri;
    char *error;
    bool vm_stopped_by_us;
    StopCall stop; /* how the VM was before vm_stop(finish-migrate) */
    GCond cont_cond;
    bool cont;
    /* statistics */
    int64_t start_ms, setup_ms, total_ms, downtime_ms, expected_downtime_ms, stop_ms;
    uint64_t duplicate, normal, sync_count, dirty_rate, remaining, precopy_bytes, downtime_bytes;
    uint64_t transferred, multifd_bytes;
    uint64_t pages_per_second;
    double mbps;
} MigState;

static MigState mig = {.status = MIGRATION_STATUS_NONE};
/* Without a machine (-M none) a stream of no RAM and no devices, as upstream migrates one. */
static MigrationHost host = {.machine_type = "none"};
static gint shutting_down;

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

/* migrate-set-capabilities is refused while a migration runs (upstream's rule). */
static bool migration_busy(void *opaque);

void migration_set_host(const MigrationHost *h)
{
    host = h ? *h : (MigrationHost){.machine_type = "none"};
}

const MigrationHost *migration_host(void)
{
    return &host;
}

/* ---- options (migration/options.c) ---- */

uint64_t migration_max_bandwidth(void)
{
    return migrate_max_bandwidth();
}

uint64_t migration_downtime_limit_ms(void)
{
    return migrate_downtime_limit_ms();
}

bool migration_events_enabled(void)
{
    return migrate_cap_enabled(MIGRATION_CAPABILITY_EVENTS);
}

bool migration_pause_before_switchover(void)
{
    return migrate_cap_enabled(MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER);
}

/* ---- calls onto the main loop ---- */

typedef struct MainCall {
    void (*fn)(void *opaque);
    void *opaque;
    GMutex lock;
    GCond cond;
    bool done;
} MainCall;

static GMutex main_call_lock;
static GCond main_call_cond;

static gboolean main_call_dispatch(gpointer p)
{
    MainCall *c = p;
    c->fn(c->opaque);
    g_mutex_lock(&main_call_lock);
    c->done = true;
    g_cond_broadcast(&main_call_cond);
    g_mutex_unlock(&main_call_lock);
    return G_SOURCE_REMOVE;
}

bool migration_shutting_down(void)
{
    return g_atomic_int_get(&shutting_down);
}

bool migration_run_on_main(void (*fn)(void *opaque), void *opaque)
{
    if (g_main_context_is_owner(g_main_context_default())) {
        fn(opaque);
        return true;
    }
    MainCall *c = g_new0(MainCall, 1);
    c->fn = fn;
    c->opaque = opaque;
    g_mutex_lock(&main_call_lock);
    if (migration_shutting_down()) {
        g_mutex_unlock(&main_call_lock);
        g_free(c);
        return false;
    }
    g_idle_add_full(G_PRIORITY_HIGH, main_call_dispatch, c, NULL);
    while (!c->done && !migration_shutting_down()) {
        g_cond_wait(&main_call_cond, &main_call_lock);
    }
    bool done = c->done;
    g_mutex_unlock(&main_call_lock);
    /* Abandoned at shutdown: the idle source may still run; it then frees nothing it needs
     * (the call is leaked on purpose, the process is ending). */
    if (done) {
        g_free(c);
    }
    return done;
}

/* ---- status ---- */

static void emit_status(void *opaque)
{
    if (migration_events_enabled()) {
        qapi_event_send_migration(GPOINTER_TO_INT(opaque));
    }
}

static gboolean emit_status_idle(gpointer opaque)
{
    emit_status(opaque);
    return G_SOURCE_REMOVE;
}

static bool status_is_running(MigrationStatus s);

/* Sets the status and sends MIGRATION from the main loop. Once cancelling, only the end of
 * the migration changes it (the thread may not have seen the cancel yet). */
static void set_status(MigrationStatus s)
{
    g_mutex_lock(&mig.lock);
    bool keep = mig.status == MIGRATION_STATUS_CANCELLING && s != MIGRATION_STATUS_CANCELLED &&
                s != MIGRATION_STATUS_FAILED;
    if (!keep) {
        mig.status = s;
    }
    g_mutex_unlock(&mig.lock);
    if (keep) {
        return;
    }
    if (g_main_context_is_owner(g_main_context_default())) {
        emit_status(GINT_TO_POINTER(s));
    } else {
        /* Queued, not waited for: the thread does not stall on a busy main loop, and a new
         * migrate (on the main loop) can join a thread that has ended. Main-loop calls run in
         * the order they were queued, so events keep their order with STOP and RESUME. */
        g_idle_add_full(G_PRIORITY_HIGH, emit_status_idle, GINT_TO_POINTER(s), NULL);
    }
}

static MigrationStatus get_status(void)
{
    g_mutex_lock(&mig.lock);
    MigrationStatus s = mig.status;
    g_mutex_unlock(&mig.lock);
    return s;
}

static bool status_is_running(MigrationStatus s)
{
    switch (s) {
    case MIGRATION_STATUS_SETUP:
    case MIGRATION_STATUS_ACTIVE:
    case MIGRATION_STATUS_CANCELLING:
    case MIGRATION_STATUS_PRE_SWITCHOVER:
    case MIGRATION_STATUS_DEVICE:
    case MIGRATION_STATUS_COLO:
        return true;
    default:
        return false;
    }
}

static gboolean emit_pass_idle(gpointer opaque)
{
    if (migration_events_enabled()) {
        qapi_event_send_migration_pass(GPOINTER_TO_INT(opaque));
    }
    return G_SOURCE_REMOVE;
}

/* ---- the precopy thread ---- */

typedef struct Precopy {
    MigTransport tr;
    MigChannel *chan;
    GuestRam *ram;
    DirtyReader *reader;
    uint64_t *bitmap;
    gsize words;
    uint32_t pass;
    uint64_t bandwidth;  /* bytes per ms, measured */
    bool colo;           /* capability x-colo: COLO follows the stream */
    MultifdSend *mf;     /* capability multifd: the pages' channels; NULL without */
    bool disks_inactive; /* the images were let go for the destination */
    GError *err;
} Precopy;

static bool cancelled(void)
{
    return get_status() == MIGRATION_STATUS_CANCELLING;
}

/* A dirty-sync round: MIGRATION_PASS, then the pages dirtied since the last one join bitmap. */
static void sync_dirty(Precopy *p)
{
    p->pass++;
    g_idle_add_full(G_PRIORITY_HIGH, emit_pass_idle, GINT_TO_POINTER(p->pass), NULL);
    /* Pass 1's map is every page: the reader, just created, has nothing to add yet (its first
     * sync, at the end of pass 1, reports what was written since). */
    if (p->reader && p->pass > 1) {
        guest_ram_dirty_reader_sync(p->reader, p->bitmap);
    }
    g_mutex_lock(&mig.lock);
    mig.sync_count = p->pass;
    g_mutex_unlock(&mig.lock);
}

static uint64_t count_dirty(const Precopy *p)
{
    uint64_t n = 0;
    for (gsize i = 0; i < p->words; i++) {
        n += __builtin_popcountll(p->bitmap[i]);
    }
    return n;
}

/* Pages and bytes sent since the last call; bytes is the channel's total. */
static void account_locked(uint64_t normal, uint64_t zero, uint64_t bytes, uint64_t delta,
                           bool vm_stopped)
{
    mig.normal += normal;
    mig.duplicate += zero;
    if (vm_stopped) {
        mig.downtime_bytes += delta;
    } else {
        mig.precopy_bytes += delta;
    }
    mig.transferred = bytes;
}

/* Sends and clears every page of the bitmap; zero pages as runs. False on error or cancel. */
/* Every byte put, on the main channel and multifd's. */
static uint64_t sent_bytes(const Precopy *p)
{
    return mig_channel_bytes(p->chan) + multifd_send_bytes(p->mf);
}

/* max-bandwidth counts every channel together */
static void set_rate_limit(Precopy *p)
{
    uint64_t rate = migration_max_bandwidth();
    /* the main channel carries few pages with multifd: it gets a share, the rest the others */
    uint64_t share = p->mf && rate ? rate / 2 + 1 : rate;
    mig_channel_set_rate_limit(p->chan, share);
    multifd_send_set_rate_limit(p->mf, share);
}

static bool send_dirty(Precopy *p, bool vm_stopped)
{
    uint64_t run_start = 0, run = 0, normal = 0, zero = 0;
    uint64_t before = sent_bytes(p);
    int64_t t0 = now_ms(), last_stats = t0;
    uint64_t last_bytes = before, last_pages = 0, pages = 0;
    uint64_t left = count_dirty(p);
    for (gsize w = 0; w < p->words; w++) {
        while (p->bitmap[w]) {
            int bit = __builtin_ctzll(p->bitmap[w]);
            p->bitmap[w] &= p->bitmap[w] - 1;
            uint64_t pi = (uint64_t)w * 64 + bit;
            if (pi >= p->ram->npages) {
                continue;
            }
            const guint8 *page = p->ram->host + (pi << GUEST_PAGE_BITS);
            if (mig_page_is_zero(page)) {
                if (run && run_start + run == pi && run < UINT32_MAX) {
                    run++;
                } else {
                    if (run) {
                        multifd_put_zero_run(p->mf, p->chan, run_start, run);
                    }
                    run_start = pi;
                    run = 1;
                }
                zero++;
            } else {
                multifd_put_page(p->mf, p->chan, pi, page);
                normal++;
            }
            pages++;
            left--;
            if ((pages & 1023) == 0) {
                if (mig_channel_error(p->chan) || multifd_send_error(p->mf) || cancelled()) {
                    return false;
                }
                /* migrate-set-parameters max-bandwidth applies at once, as upstream */
                set_rate_limit(p);
                int64_t now = now_ms();
                uint64_t bytes = sent_bytes(p);
                g_mutex_lock(&mig.lock);
                account_locked(normal, zero, bytes, bytes - last_bytes, vm_stopped);
                mig.multifd_bytes = multifd_send_bytes(p->mf);
                mig.remaining = left << GUEST_PAGE_BITS;
                if (now - last_stats >= 100) {
                    double secs = (now - last_stats) / 1000.0;
                    mig.mbps = (bytes - before) * 8.0 / 1e6 / ((now - t0) / 1000.0);
                    mig.pages_per_second = (uint64_t)((pages - last_pages) / secs);
                    last_stats = now;
                    last_pages = pages;
                }
                g_mutex_unlock(&mig.lock);
                normal = zero = 0;
                last_bytes = bytes;
            }
        }
    }
    if (run) {
        multifd_put_zero_run(p->mf, p->chan, run_start, run);
    }
    mig_stream_put_pass(p->chan, p->pass);
    uint64_t bytes = sent_bytes(p);
    int64_t took = MAX(now_ms() - t0, 1);
    g_mutex_lock(&mig.lock);
    account_locked(normal, zero, bytes, bytes - last_bytes, vm_stopped);
    mig.multifd_bytes = multifd_send_bytes(p->mf);
    mig.remaining = 0;
    if (took >= 10 && bytes - before > 0) {
        p->bandwidth = MAX((bytes - before) / took, MIN_BANDWIDTH);
        mig.mbps = (bytes - before) * 8.0 / 1e6 / (took / 1000.0);
    }
    g_mutex_unlock(&mig.lock);
    return !mig_channel_error(p->chan) && !multifd_send_error(p->mf) && !cancelled();
}

/* The channel goes under the lock: migrate_cancel wakes it from the main thread. */
static void close_channel(Precopy *p)
{
    g_mutex_lock(&mig.lock);
    mig.chan = NULL;
    g_mutex_unlock(&mig.lock);
    g_clear_pointer(&p->mf, multifd_send_free);
    if (p->chan) {
        mig_channel_free(p->chan);
        p->chan = NULL;
        p->tr.fd = -1; /* the channel owned it */
    }
}

static void stop_vm_on_main(void *opaque)
{
    StopCall *s = opaque;
    s->was_running = runstate_is_running();
    s->old_state = runstate_get();
    /* STOP only if it ran; a paused VM goes to finish-migrate quietly, as upstream. */
    vm_stop(RUN_STATE_FINISH_MIGRATE);
    /* Disk requests in flight complete now (upstream's vm_stop drains), before the last pass
     * over RAM: their data and the rings they update (a virtio-blk used ring that SeaBIOS
     * polls) are guest RAM, and a completion that came in the devices' pre_save, after the
     * last pass, never reached the destination, which then waited for it for ever. */
    blk_drain_all();
}

typedef struct DeviceCall {
    GByteArray *out;
    bool inactivate_disks;
    GError *err;
    bool ok;
} DeviceCall;

/* Devices are saved drained (their pre_save); then, as upstream, the images are flushed and
 * their locks dropped so that the destination may take them (not under COLO: the primary
 * keeps its disk). */
static void save_devices_on_main(void *opaque)
{
    DeviceCall *d = opaque;
    d->ok = !host.save_devices || host.save_devices(host.opaque, d->out, &d->err);
    if (d->ok && d->inactivate_disks) {
        blk_drain_all();
        d->ok = bdrv_inactivate_all(&d->err);
    }
}

/* A failed migration gives the images back to this side. */
static void activate_disks_on_main(void *opaque)
{
    GError *err = NULL;
    if (!bdrv_activate_all(&err)) {
        error_report_err(err);
    }
}

/* After a failure or cancel: a VM that ran runs again, another gets its old state back. */
static void resume_vm_on_main(void *opaque)
{
    StopCall *s = opaque;
    if (s->was_running) {
        vm_start();
    } else if (runstate_check(RUN_STATE_FINISH_MIGRATE)) {
        runstate_set(s->old_state);
    }
}

static void postmigrate_on_main(void *opaque)
{
    runstate_set(RUN_STATE_POSTMIGRATE);
}

/* Waits in pre-switchover until migrate-continue or a cancel. */
static bool wait_for_continue(void)
{
    set_status(MIGRATION_STATUS_PRE_SWITCHOVER);
    g_mutex_lock(&mig.lock);
    while (!mig.cont && mig.status == MIGRATION_STATUS_PRE_SWITCHOVER &&
           !migration_shutting_down()) {
        g_cond_wait(&mig.cont_cond, &mig.lock);
    }
    bool go = mig.cont && mig.status == MIGRATION_STATUS_PRE_SWITCHOVER;
    g_mutex_unlock(&mig.lock);
    if (go) {
        set_status(MIGRATION_STATUS_DEVICE);
    }
    return go;
}

/* The stop-and-copy: VM stopped, the rest of RAM, the device state, the end marker. */
static bool complete(Precopy *p)
{
    StopCall stop = {0};
    if (!migration_run_on_main(stop_vm_on_main, &stop)) {
        return false;
    }
    g_mutex_lock(&mig.lock);
    mig.stop_ms = now_ms();
    mig.vm_stopped_by_us = true;
    mig.stop = stop;
    g_mutex_unlock(&mig.lock);
    if (migration_pause_before_switchover() && !wait_for_continue()) {
        return false;
    }
    sync_dirty(p);
    if (!send_dirty(p, true)) {
        return false;
    }
    /* the destination has every page before it reads the device state */
    multifd_send_sync(p->mf, p->chan);
    DeviceCall d = {.out = g_byte_array_new(), .inactivate_disks = !p->colo};
    bool on_main = migration_run_on_main(save_devices_on_main, &d);
    p->disks_inactive = on_main && d.ok && d.inactivate_disks;
    if (!on_main || !d.ok) {
        if (d.err) {
            g_propagate_error(&p->err, d.err);
        }
        g_byte_array_unref(d.out);
        return false;
    }
    uint64_t before = sent_bytes(p);
    mig_stream_put_devices(p->chan, d.out->data, d.out->len);
    g_byte_array_unref(d.out);
    if (!mig_stream_put_end(p->chan, &p->err)) {
        return false;
    }
    if (multifd_send_error(p->mf)) {
        p->err = g_error_copy(multifd_send_error(p->mf));
        return false;
    }
    uint64_t end = sent_bytes(p);
    g_mutex_lock(&mig.lock);
    mig.downtime_bytes += end - before;
    mig.transferred = end;
    mig.multifd_bytes = multifd_send_bytes(p->mf);
    g_mutex_unlock(&mig.lock);
    if (p->colo) {
        return true; /* the stream goes on with checkpoints */
    }
    /* An exec: command finishes writing (save to a file) before the migration is complete. */
    close_channel(p);
    mig_transport_close(&p->tr, true);
    return true;
}

/* multifd-channels more connections to the URI, announced on the main channel first. */
static bool open_multifd(Precopy *p, const char *uri)
{
    guint n = migrate_multifd_channels();
    mig_stream_put_multifd(p->chan, n);
    if (!mig_channel_flush(p->chan, &p->err)) {
        return false;
    }
    g_autofree MigChannel **chans = g_new0(MigChannel *, n);
    for (guint i = 0; i < n; i++) {
        MigTransport t;
        if (!mig_transport_connect(uri, &t, &p->err)) {
            g_prefix_error(&p->err, "multifd channel %u: ", i);
            for (guint k = 0; k < i; k++) {
                mig_channel_free(chans[k]);
            }
            return false;
        }
        chans[i] = mig_channel_new_fd(t.fd, true, t.what);
    }
    p->mf = multifd_send_new(p->chan, chans, n);
    return true;
}

static bool setup(Precopy *p, const char *uri)
{
    if (!mig_transport_connect(uri, &p->tr, &p->err)) {
        return false;
    }
    p->tr.abandoned = cancelled;
    /* upstream's setup-time starts once connected */
    int64_t setup_start = now_ms();
    p->chan = mig_channel_new_fd(p->tr.fd, true, p->tr.what);
    g_mutex_lock(&mig.lock);
    mig.chan = p->chan;
    bool cancel = mig.status == MIGRATION_STATUS_CANCELLING;
    g_mutex_unlock(&mig.lock);
    if (cancel) {
        mig_channel_cancel(p->chan);
        return false;
    }
    p->ram = host.ram;
    p->words = p->ram ? guest_ram_bitmap_words(p->ram) : 0;
    p->bitmap = g_new0(uint64_t, p->words);
    p->bandwidth = MIN_BANDWIDTH;
    mig_stream_put_header(p->chan, host.machine_type, p->ram ? p->ram->size : 0);
    p->colo = migrate_cap_enabled(MIGRATION_CAPABILITY_X_COLO);
    if (p->colo) {
        mig_stream_put_colo(p->chan);
    }
    if (migrate_cap_enabled(MIGRATION_CAPABILITY_MULTIFD) && !open_multifd(p, uri)) {
        return false;
    }
    set_rate_limit(p);
    if (p->ram) {
        /* Our own view of the dirty pages (COLO and others keep theirs); it sees the writes
         * from now on, and pass 1 sends every page anyway. */
        p->reader = guest_ram_dirty_reader_new(p->ram, "migration");
        memset(p->bitmap, 0xff, p->words * sizeof(uint64_t));
        if (p->ram->npages % 64) {
            p->bitmap[p->words - 1] = (1ull << (p->ram->npages % 64)) - 1;
        }
    }
    sync_dirty(p);
    g_mutex_lock(&mig.lock);
    mig.setup_ms = now_ms() - setup_start;
    /* as upstream, "active" shows the whole first pass as remaining, not 0 until 1024 pages
     * have gone (a slow reader can hold the stream before that) */
    mig.remaining = count_dirty(p) << GUEST_PAGE_BITS;
    g_mutex_unlock(&mig.lock);
    return !cancelled();
}

/* Passes beyond the first fit that still shrink the rest are worth it up to this many. */
#define MAX_EXTRA_PASSES 8

/*
 * Passes until what is dirty fits in downtime-limit at the measured bandwidth. Once it fits,
 * another pass is still made while passes keep halving the rest and it is over an eighth of
 * the limit's worth: the stop is then shorter than the limit allows, not just within it.
 */
static bool iterate(Precopy *p)
{
    uint64_t last_pending = UINT64_MAX;
    int extra = 0;
    set_status(MIGRATION_STATUS_ACTIVE);
    for (;;) {
        int64_t t0 = now_ms();
        if (!send_dirty(p, false)) {
            return false;
        }
        sync_dirty(p);
        uint64_t pending = count_dirty(p) << GUEST_PAGE_BITS;
        uint64_t threshold = p->bandwidth * migration_downtime_limit_ms();
        int64_t took = MAX(now_ms() - t0, 1);
        g_mutex_lock(&mig.lock);
        mig.remaining = pending;
        mig.expected_downtime_ms = pending / p->bandwidth;
        mig.dirty_rate = (pending >> GUEST_PAGE_BITS) * 1000 / took;
        g_mutex_unlock(&mig.lock);
        if (pending <= threshold) {
            bool shrinking = pending * 2 <= last_pending;
            if (pending <= threshold / 8 || !shrinking || ++extra > MAX_EXTRA_PASSES) {
                return true;
            }
        }
        last_pending = pending;
    }
}

static gpointer precopy_thread(gpointer opaque)
{
    char *uri = opaque;
    Precopy p = {.tr = MIG_TRANSPORT_INIT};
    bool ok = setup(&p, uri) && iterate(&p) && complete(&p);
    int64_t end = now_ms();
    if (ok) {
        g_mutex_lock(&mig.lock);
        mig.downtime_ms = end - mig.stop_ms;
        mig.total_ms = end - mig.start_ms;
        mig.remaining = 0;
        mig.vm_stopped_by_us = false;
        g_mutex_unlock(&mig.lock);
        if (p.colo) {
            /* device -> colo; COLO runs the VM and returns after a failover */
            set_status(MIGRATION_STATUS_COLO);
            bool failed_over = colo_primary_run(p.chan, p.reader, p.mf);
            close_channel(&p);
            mig_transport_close(&p.tr, false);
            yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
            /* upstream's order: the status is completed when COLO_EXIT comes */
            set_status(MIGRATION_STATUS_COMPLETED);
            if (failed_over) {
                colo_primary_exit_event();
            }
        } else {
            yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
            migration_run_on_main(postmigrate_on_main, NULL);
            set_status(MIGRATION_STATUS_COMPLETED);
        }
    } else {
        if (!p.err && p.chan && mig_channel_error(p.chan)) {
            p.err = g_error_copy(mig_channel_error(p.chan));
        }
        if (!p.err && multifd_send_error(p.mf)) {
            p.err = g_error_copy(multifd_send_error(p.mf));
        }
        close_channel(&p);
        mig_transport_close(&p.tr, false);
        yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
        g_mutex_lock(&mig.lock);
        bool was_cancel = mig.status == MIGRATION_STATUS_CANCELLING;
        bool restart = mig.vm_stopped_by_us;
        StopCall stop = mig.stop;
        mig.vm_stopped_by_us = false;
        mig.total_ms = end - mig.start_ms;
        if (!was_cancel && p.err) {
            g_free(mig.error);
            mig.error = error_get_desc(p.err);
        }
        g_mutex_unlock(&mig.lock);
        if (p.disks_inactive) {
            migration_run_on_main(activate_disks_on_main, NULL);
        }
        if (restart) {
            migration_run_on_main(resume_vm_on_main, &stop);
        }
        set_status(was_cancel ? MIGRATION_STATUS_CANCELLED : MIGRATION_STATUS_FAILED);
    }
    g_clear_error(&p.err);
    if (p.reader) {
        guest_ram_dirty_reader_free(p.reader);
    }
    g_free(p.bitmap);
    g_free(uri);
    return NULL;
}

/* ---- QMP ---- */

static void reset_stats(void)
{
    g_free(mig.error);
    mig.error = NULL;
    mig.ever = true;
    mig.cont = false;
    mig.start_ms = now_ms();
    mig.setup_ms = mig.total_ms = mig.downtime_ms = mig.stop_ms = 0;
    mig.expected_downtime_ms = migration_downtime_limit_ms();
    mig.duplicate = mig.normal = mig.sync_count = mig.dirty_rate = mig.remaining = 0;
    mig.precopy_bytes = mig.downtime_bytes = mig.transferred = mig.pages_per_second = 0;
    mig.multifd_bytes = 0;
    mig.mbps = 0;
}

void qmp_migrate(const char *uri, bool has_blk, bool blk, bool has_inc, bool inc, bool has_detach,
                 bool detach, bool has_resume, bool resume, GError **errp)
{
    if (has_resume && resume) {
        error_setg(errp, "Cannot resume if there is no paused migration");
        return;
    }
    if (status_is_running(get_status())) {
        error_setg(errp, "There's a migration process in progress");
        return;
    }
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        error_setg(errp, "Guest is waiting for an incoming migration");
        return;
    }
    if (runstate_check(RUN_STATE_POSTMIGRATE)) {
        error_setg(errp, "Can't migrate the vm that was paused due to previous migration");
        return;
    }
    if ((has_blk && blk) || (has_inc && inc)) {
        /* upstream built without CONFIG_LIVE_BLOCK_MIGRATION; this machine has no disks */
        error_setg(errp, "QEMU compiled without old-style (blk/-b, inc/-i) block migration");
        error_append_hint(errp, "Use drive_mirror+NBD instead.\n");
        return;
    }
    if (migrate_cap_enabled(MIGRATION_CAPABILITY_MULTIFD) &&
        migrate_multifd_compression() != MULTI_FD_COMPRESSION_NONE) {
        /* ours: 7.2 compresses with zlib or zstd; we send pages as they are */
        error_setg(errp, "multifd-compression '%s' is not supported by qemu-colo",
                   MultiFDCompression_str(migrate_multifd_compression()));
        return;
    }
    if (migrate_cap_enabled(MIGRATION_CAPABILITY_MULTIFD) && !g_str_has_prefix(uri, "tcp:") &&
        !g_str_has_prefix(uri, "unix:")) {
        /* ours: the extra channels are more connections to the same address */
        error_setg(errp, "multifd needs a tcp: or unix: migration URI");
        return;
    }
    if (migrate_cap_enabled(MIGRATION_CAPABILITY_X_COLO) && !g_str_has_prefix(uri, "tcp:") &&
        !g_str_has_prefix(uri, "unix:")) {
        /* ours: COLO's return path is the same socket */
        error_setg(errp, "COLO needs a tcp: or unix: migration URI");
        return;
    }
    if (mig.thread) {
        /* The last migration's thread has reported its end; collect it. */
        g_thread_join(mig.thread);
        mig.thread = NULL;
    }
    /* from the first migration on, migrate-set-capabilities asks whether one runs */
    migrate_options_set_busy_hook(migration_busy, NULL);
    g_mutex_lock(&mig.lock);
    reset_stats();
    g_mutex_unlock(&mig.lock);
    set_status(MIGRATION_STATUS_SETUP);
    if (!g_str_has_prefix(uri, "exec:") && !g_str_has_prefix(uri, "tcp:") &&
        !g_str_has_prefix(uri, "unix:")) {
        error_set_param_value(errp, "uri", "a valid migration protocol");
        set_status(MIGRATION_STATUS_FAILED);
        return;
    }
    /* Upstream's yank instance; the thread's channels join it and it goes when they end. */
    GError *err = NULL;
    if (!yank_register_instance(YANK_KIND_MIGRATION, NULL, &err)) {
        g_propagate_error(errp, err);
        set_status(MIGRATION_STATUS_FAILED);
        return;
    }
    mig.thread = g_thread_new("live_migration", precopy_thread, g_strdup(uri));
}

static bool migration_busy(void *opaque)
{
    return status_is_running(get_status());
}

void qmp_migrate_cancel(GError **errp)
{
    g_mutex_lock(&mig.lock);
    /* In COLO the stream is the checkpoints': a failover, not a cancel, ends it. */
    bool cancel = status_is_running(mig.status) && mig.status != MIGRATION_STATUS_CANCELLING &&
                  mig.status != MIGRATION_STATUS_COLO;
    if (cancel) {
        mig.status = MIGRATION_STATUS_CANCELLING;
        if (mig.chan) {
            mig_channel_cancel(mig.chan);
        }
        g_cond_broadcast(&mig.cont_cond);
    }
    g_mutex_unlock(&mig.lock);
    if (cancel) {
        emit_status(GINT_TO_POINTER(MIGRATION_STATUS_CANCELLING));
    }
}

void qmp_migrate_continue(MigrationStatus state, GError **errp)
{
    g_mutex_lock(&mig.lock);
    if (mig.status != state) {
        error_setg(errp, "Migration not in expected state: %s", MigrationStatus_str(mig.status));
    } else {
        mig.cont = true;
        g_cond_broadcast(&mig.cont_cond);
    }
    g_mutex_unlock(&mig.lock);
}

MigrationInfo *qmp_query_migrate(GError **errp)
{
    MigrationInfo *info = g_new0(MigrationInfo, 1);
    g_mutex_lock(&mig.lock);
    if (!mig.ever) {
        /* A destination that never migrated out shows its incoming side (as upstream: once
         * it migrates out, that migration is what it shows). */
        g_mutex_unlock(&mig.lock);
        migration_incoming_info(info);
        return info;
    }
    info->has_status = true;
    info->status = mig.status;
    bool with_stats =
        mig.status == MIGRATION_STATUS_ACTIVE || mig.status == MIGRATION_STATUS_CANCELLING ||
        mig.status == MIGRATION_STATUS_PRE_SWITCHOVER || mig.status == MIGRATION_STATUS_DEVICE ||
        mig.status == MIGRATION_STATUS_COMPLETED;
    if (with_stats) {
        MigrationStats *r = g_new0(MigrationStats, 1);
        r->transferred = mig.transferred;
        r->remaining = mig.remaining;
        r->total = host.ram ? host.ram->size : 0;
        r->duplicate = mig.duplicate;
        r->normal = mig.normal;
        r->normal_bytes = mig.normal << GUEST_PAGE_BITS;
        r->dirty_pages_rate = mig.dirty_rate;
        r->mbps = mig.mbps;
        r->dirty_sync_count = mig.sync_count;
        r->page_size = GUEST_PAGE_SIZE;
        r->pages_per_second = mig.pages_per_second;
        r->precopy_bytes = mig.precopy_bytes;
        r->downtime_bytes = mig.downtime_bytes;
        r->multifd_bytes = mig.multifd_bytes;
        info->ram = r;
        info->has_setup_time = true;
        info->setup_time = mig.setup_ms;
        info->has_total_time = true;
        if (mig.status == MIGRATION_STATUS_COMPLETED) {
            info->total_time = mig.total_ms;
            info->has_downtime = true;
            info->downtime = mig.downtime_ms;
        } else {
            info->total_time = now_ms() - mig.start_ms;
            info->has_expected_downtime = true;
            info->expected_downtime = mig.expected_downtime_ms;
        }
    }
    if (mig.status == MIGRATION_STATUS_FAILED && mig.error) {
        info->error_desc = g_strdup(mig.error);
    }
    g_mutex_unlock(&mig.lock);
    return info;
}

void migration_shutdown(void)
{
    colo_shutdown();
    qmp_migrate_cancel(NULL);
    g_mutex_lock(&main_call_lock);
    g_atomic_int_set(&shutting_down, 1);
    g_cond_broadcast(&main_call_cond);
    g_mutex_unlock(&main_call_lock);
    g_mutex_lock(&mig.lock);
    g_cond_broadcast(&mig.cont_cond);
    g_mutex_unlock(&mig.lock);
    if (mig.thread) {
        g_thread_join(mig.thread);
        mig.thread = NULL;
    }
    migration_incoming_shutdown();
}
