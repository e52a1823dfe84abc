/*
 * The COLO frame: entering COLO, the checkpoint loop on both sides, failover, and their QMP
 * commands (include/migration/colo.h has the exchange and the failover states).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "block/block-backend.h"
#include "block/replication.h"
#include "migration-internal.h"
#include "migration/colo.h"
#include "migration/options.h"
#include "migration/stream.h"
#include "net/colo-compare.h"
#include "net/filter.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "system/machine-control.h"
#include "system/runstate.h"
#include "util/error.h"

/* vmstate-size's payload starts with P's run state (be32), then the device state */
/* RAM per hash of x-colo-ram-hashes */
#define HASH_CHUNK (1u << 20)
/* pauses kept for the percentiles */
#define PAUSE_WINDOW 4096
/* records x-colo-disk-digests keeps */
#define DIGESTS_KEPT 1024

typedef enum {
    FAILOVER_NONE,
    FAILOVER_REQUIRE,
    FAILOVER_ACTIVE,
    FAILOVER_COMPLETED,
} FailoverState;

typedef enum {
    TRIGGER_NONE,
    TRIGGER_TIMER,
    TRIGGER_COMPARE,
    TRIGGER_DELAY,    /* x-checkpoint-delay set while in COLO */
    TRIGGER_VM_STATE, /* the primary's VM was reset, or its run state changed */
    TRIGGER__MAX,
} Trigger;

/* One checkpoint as one side saw it (monotonic µs). */
typedef struct CheckpointTimes {
    int64_t start_us, stopped_us, saved_us, sent_us, loaded_us, resumed_us;
    uint64_t pages, bytes;
    ReplicationCheckpointStats disk; /* this side's replicated disks */
} CheckpointTimes;

typedef struct Colo {
    GMutex lock; /* everything here */
    GCond cond;  /* a trigger, a failover, shutdown */
    COLOMode mode;
    COLOMode last_mode;
    FailoverState failover;
    Trigger request; /* a pending request other than the timer */
    bool shutdown;
    MigChannel *chans[2]; /* cancelled by a failover: wakes blocked I/O */
    uint64_t checkpoints;
    uint64_t by_trigger[TRIGGER__MAX];
    uint64_t pages, bytes;
    uint64_t disk_bytes, disk_empty_ns, disk_empty_max_ns;
    CheckpointTimes last;
    double pauses[PAUSE_WINDOW]; /* ms, a ring */
    guint n_pauses;
    bool broken;              /* the loop ended on an error: waiting for a failover */
    ShutdownCause exit_cause; /* P: a guest power-off to carry out after a checkpoint */
    /* x-colo-ram-hashes */
    bool record;
    int64_t hash_checkpoint;
    GArray *hashes; /* guint32 */
    /* x-colo-disk-digests */
    bool record_disks;
    GQueue digests; /* DiskDigest*, oldest first */
} Colo;

typedef struct DiskDigest {
    int64_t checkpoint;
    const char *trigger; /* static; NULL on the secondary */
    ReplicationDigest *d;
} DiskDigest;

static Colo colo = {.hash_checkpoint = -1, .digests = G_QUEUE_INIT};

/* Main loop only: the guest's life cycle inside COLO (docs/colo.md, "Guest life cycle"). */
static struct {
    bool self_change; /* COLO itself stops or resumes the VM: not a change to checkpoint */
    bool applying;    /* S carries out the primary's shutdown: not one to hold */
    bool held;        /* S holds a reset or power-off of its own until the next checkpoint */
    MachineLifecycle held_what;
    ShutdownCause held_cause;
} life;

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

/* ---- state ---- */

COLOMode colo_mode(void)
{
    g_mutex_lock(&colo.lock);
    COLOMode m = colo.mode;
    g_mutex_unlock(&colo.lock);
    return m;
}

static void enter_mode(COLOMode mode, MigChannel *a, MigChannel *b)
{
    g_mutex_lock(&colo.lock);
    colo.mode = mode;
    colo.failover = FAILOVER_NONE;
    colo.request = TRIGGER_NONE;
    colo.broken = false;
    colo.exit_cause = SHUTDOWN_CAUSE_NONE;
    colo.checkpoints = colo.pages = colo.bytes = 0;
    colo.disk_bytes = colo.disk_empty_ns = colo.disk_empty_max_ns = 0;
    memset(colo.by_trigger, 0, sizeof(colo.by_trigger));
    memset(&colo.last, 0, sizeof(colo.last));
    colo.n_pauses = 0;
    colo.chans[0] = a;
    colo.chans[1] = b;
    g_mutex_unlock(&colo.lock);
}

static bool failover_wanted(void)
{
    g_mutex_lock(&colo.lock);
    bool f = colo.failover != FAILOVER_NONE || colo.shutdown;
    g_mutex_unlock(&colo.lock);
    return f;
}

/* The thread takes a pending failover (require -> active); false on shutdown. */
static bool failover_begin(void)
{
    g_mutex_lock(&colo.lock);
    bool go = colo.failover == FAILOVER_REQUIRE && !colo.shutdown;
    if (go) {
        colo.failover = FAILOVER_ACTIVE;
    }
    colo.chans[0] = colo.chans[1] = NULL;
    g_mutex_unlock(&colo.lock);
    return go;
}

static void failover_end(COLOMode mode)
{
    g_mutex_lock(&colo.lock);
    colo.failover = FAILOVER_COMPLETED;
    colo.last_mode = mode;
    colo.mode = COLO_MODE_NONE;
    g_mutex_unlock(&colo.lock);
}

static void account(Trigger why, const CheckpointTimes *t)
{
    g_mutex_lock(&colo.lock);
    colo.checkpoints++;
    colo.by_trigger[why]++;
    colo.pages += t->pages;
    colo.bytes += t->bytes;
    colo.disk_bytes += t->disk.bytes_written;
    colo.disk_empty_ns += t->disk.empty_ns;
    colo.disk_empty_max_ns = MAX(colo.disk_empty_max_ns, t->disk.empty_ns);
    colo.last = *t;
    colo.pauses[colo.n_pauses++ % PAUSE_WINDOW] = (t->resumed_us - t->stopped_us) / 1000.0;
    g_mutex_unlock(&colo.lock);
}

static gboolean emit_exit_idle(gpointer opaque)
{
    int v = GPOINTER_TO_INT(opaque);
    qapi_event_send_colo_exit(v >> 8, v & 0xff);
    return G_SOURCE_REMOVE;
}

/* Queued on the main loop, in order with the STOP/RESUME events queued before it. */
static void emit_exit(COLOMode mode, COLOExitReason reason)
{
    g_idle_add_full(G_PRIORITY_HIGH, emit_exit_idle, GINT_TO_POINTER(mode << 8 | reason), NULL);
}

/* After an error: the side stays in COLO until a failover is asked for (or the process
 * ends); true if it was a failover. */
static bool wait_for_failover(void)
{
    g_mutex_lock(&colo.lock);
    while (colo.failover == FAILOVER_NONE && !colo.shutdown) {
        g_cond_wait(&colo.cond, &colo.lock);
    }
    g_mutex_unlock(&colo.lock);
    return failover_begin();
}

/* A side's loop ended (err: why, if not a failover): whether it now fails over. */
static bool loop_ended(COLOMode mode, const GError *err)
{
    if (failover_wanted()) {
        return failover_begin();
    }
    g_autofree char *desc = err ? error_get_desc(err) : g_strdup("COLO ended");
    error_report("%s", desc);
    g_mutex_lock(&colo.lock);
    colo.broken = true;
    g_mutex_unlock(&colo.lock);
    emit_exit(mode, COLO_EXIT_REASON_ERROR);
    return wait_for_failover();
}

/* With colo.lock held: the COLO thread stops waiting, whether on a condition or on I/O. */
static void wake_thread_locked(void)
{
    for (int i = 0; i < 2; i++) {
        if (colo.chans[i]) {
            mig_channel_cancel(colo.chans[i]);
        }
    }
    g_cond_broadcast(&colo.cond);
}

void colo_shutdown(void)
{
    g_mutex_lock(&colo.lock);
    colo.shutdown = true;
    wake_thread_locked();
    g_mutex_unlock(&colo.lock);
}

/* A checkpoint's flush drops the compare requests made until then (they are answered), so
 * any other request takes a pending compare one's place instead of merging into it: a `stop`
 * while colo-compare's request waits was otherwise lost, and S never followed P's pause. */
static void request_checkpoint(Trigger why)
{
    g_mutex_lock(&colo.lock);
    if (colo.mode == COLO_MODE_PRIMARY &&
        (colo.request == TRIGGER_NONE ||
         (colo.request == TRIGGER_COMPARE && why != TRIGGER_COMPARE))) {
        colo.request = why;
        g_cond_broadcast(&colo.cond);
    }
    g_mutex_unlock(&colo.lock);
}

/* colo-compare's iothread: requests repeat until the checkpoint; they merge into one. */
static void compare_wants_checkpoint(void *opaque, ColoCompare *s, ColoCheckpointReason reason)
{
    request_checkpoint(TRIGGER_COMPARE);
}

static void delay_changed(void)
{
    request_checkpoint(TRIGGER_DELAY);
}

/* ---- the guest's life cycle (main loop) ---- */

/* The primary's run state changed by a user (stop, cont) or its guest (-no-shutdown): the
 * secondary follows at a checkpoint. */
static void runstate_changed(void *opaque, gboolean running, RunState state)
{
    if (!life.self_change && state != RUN_STATE_COLO) {
        g_mutex_lock(&colo.lock);
        bool primary = colo.mode == COLO_MODE_PRIMARY && colo.failover == FAILOVER_NONE;
        g_mutex_unlock(&colo.lock);
        if (primary) {
            request_checkpoint(TRIGGER_VM_STATE);
        }
    }
}

/* Stops the VM for COLO's own reasons (a checkpoint, a held request). */
static void colo_vm_stop(void)
{
    if (runstate_is_running()) {
        life.self_change = true;
        vm_stop(RUN_STATE_COLO);
        life.self_change = false;
    }
}

/* Resumes a VM that COLO stopped; one that a user or its guest stopped meanwhile stays. */
static void colo_vm_resume(void)
{
    if (runstate_check(RUN_STATE_COLO)) {
        life.self_change = true;
        vm_start();
        life.self_change = false;
    }
}

/*
 * S never resets or powers off on its own: its VM waits, stopped, for the next checkpoint,
 * which brings P's state (P's guest did the same, or will); a failover carries out what was
 * held. P checkpoints after a reset; a guest power-off that would end P's process is taken
 * over: the VM stops in state shutdown, a checkpoint tells S, then the process ends.
 */
static bool lifecycle(void *opaque, MachineLifecycle what, ShutdownCause cause)
{
    g_mutex_lock(&colo.lock);
    COLOMode mode = colo.failover == FAILOVER_NONE ? colo.mode : COLO_MODE_NONE;
    bool broken = colo.broken;
    g_mutex_unlock(&colo.lock);
    if (mode == COLO_MODE_SECONDARY && !life.applying && what != MACHINE_RESET_DONE) {
        if (!life.held) {
            life.held = true;
            life.held_what = what;
            life.held_cause = cause;
        }
        colo_vm_stop();
        return true;
    }
    if (mode != COLO_MODE_PRIMARY || broken) {
        return false;
    }
    if (what == MACHINE_RESET_DONE) {
        request_checkpoint(TRIGGER_VM_STATE);
    } else if (what == MACHINE_SHUTDOWN_REQUESTED && !machine_control_shutdown_pauses()) {
        g_mutex_lock(&colo.lock);
        colo.exit_cause = cause;
        g_mutex_unlock(&colo.lock);
        runstate_set(RUN_STATE_SHUTDOWN); /* the change asks for the checkpoint */
        return true;
    }
    return false;
}

/* S after a failover: what its guest asked for while held happens now. */
static void replay_held(void)
{
    if (!life.held) {
        return;
    }
    life.held = false;
    if (life.held_what == MACHINE_RESET_REQUESTED) {
        qemu_system_reset_request(life.held_cause);
    } else {
        qemu_system_guest_shutdown(life.held_cause);
    }
}

void colo_init(void)
{
    migrate_cap_set_supported(MIGRATION_CAPABILITY_X_COLO, true);
    colo_compare_register_notifier(compare_wants_checkpoint, NULL);
    migrate_options_set_checkpoint_delay_hook(delay_changed);
    runstate_add_change_handler(runstate_changed, NULL);
    machine_control_set_lifecycle_hook(lifecycle, NULL);
}

/* ---- messages ---- */

static bool send_msg(MigChannel *c, ColoMessage m, GError **errp)
{
    mig_channel_put_be32(c, m);
    if (!mig_channel_flush(c, errp)) {
        g_prefix_error(errp, "Can't send COLO message: ");
        return false;
    }
    return true;
}

/* The other direction on the same socket. */
static MigChannel *open_return_path(MigChannel *c, bool writer, GError **errp)
{
    int fd = mig_channel_fd(c);
    int one = 1;
    /* Messages are a few bytes each way: without this, Nagle holds vmstate-loaded behind the
     * unacknowledged vmstate-received until the peer's delayed ACK (~40 ms a checkpoint).
     * A unix socket refuses the option, harmlessly. */
    if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    int dup_fd = fd >= 0 ? dup(fd) : -1;
    if (dup_fd < 0) {
        error_setg(errp, "COLO needs a tcp: or unix: migration channel");
        return NULL;
    }
    return mig_channel_new_fd(dup_fd, writer, "socket");
}

/* ---- RAM hashes (x-colo-ram-hashes) ---- */

/* With the VM stopped, on the main loop. */
static void record_hashes(GuestRam *ram, int64_t checkpoint)
{
    g_mutex_lock(&colo.lock);
    bool on = colo.record;
    g_mutex_unlock(&colo.lock);
    if (!on || !ram) {
        return;
    }
    GArray *h = g_array_new(FALSE, FALSE, sizeof(guint32));
    for (uint64_t off = 0; off < ram->size; off += HASH_CHUNK) {
        uInt len = MIN(HASH_CHUNK, ram->size - off);
        guint32 v = crc32(0, ram->host + off, len);
        g_array_append_val(h, v);
    }
    g_mutex_lock(&colo.lock);
    if (colo.hashes) {
        g_array_unref(colo.hashes);
    }
    colo.hashes = h;
    colo.hash_checkpoint = checkpoint;
    g_mutex_unlock(&colo.lock);
}

ColoRamHashes *qmp_x_colo_ram_hashes(bool has_record, bool record, GError **errp)
{
    ColoRamHashes *r = g_new0(ColoRamHashes, 1);
    g_mutex_lock(&colo.lock);
    if (has_record) {
        colo.record = record;
    }
    r->checkpoint = colo.hash_checkpoint;
    r->chunk_size = HASH_CHUNK;
    r->hashes = qapi_list_new_uint32();
    for (guint i = 0; colo.hashes && i < colo.hashes->len; i++) {
        g_ptr_array_add(r->hashes,
                        g_memdup2(&g_array_index(colo.hashes, guint32, i), sizeof(guint32)));
    }
    g_mutex_unlock(&colo.lock);
    return r;
}

/* ---- disk digests (x-colo-disk-digests) ---- */

static void disk_digest_free(DiskDigest *r)
{
    replication_digest_free(r->d);
    g_free(r);
}

static const char *const trigger_names[TRIGGER__MAX] = {
    [TRIGGER_NONE] = "entry",  [TRIGGER_TIMER] = "timer",       [TRIGGER_COMPARE] = "compare",
    [TRIGGER_DELAY] = "delay", [TRIGGER_VM_STATE] = "vm-state",
};

/* With the VM stopped and the disks drained, on the main loop, after the disks' checkpoint:
 * what each side's guest would read now. @primary: why P took it (S is not told). */
static void record_digests(int64_t checkpoint, bool primary, Trigger why)
{
    g_mutex_lock(&colo.lock);
    bool on = colo.record_disks;
    g_mutex_unlock(&colo.lock);
    if (!on || !replication_any()) {
        return;
    }
    g_autoptr(GPtrArray) all = replication_digest_all();
    g_mutex_lock(&colo.lock);
    for (guint i = 0; i < all->len; i++) {
        DiskDigest *r = g_new0(DiskDigest, 1);
        r->checkpoint = checkpoint;
        r->trigger = primary ? trigger_names[why] : NULL;
        r->d = g_ptr_array_steal_index(all, i--);
        g_queue_push_tail(&colo.digests, r);
        while (colo.digests.length > DIGESTS_KEPT) {
            disk_digest_free(g_queue_pop_head(&colo.digests));
        }
    }
    g_mutex_unlock(&colo.lock);
}

GPtrArray *qmp_x_colo_disk_digests(bool has_record, bool record, GError **errp)
{
    GPtrArray *list = qapi_list_new_ColoDiskDigest();
    g_mutex_lock(&colo.lock);
    if (has_record) {
        colo.record_disks = record;
    }
    for (GList *l = colo.digests.head; l; l = l->next) {
        const DiskDigest *r = l->data;
        ColoDiskDigest *e = g_new0(ColoDiskDigest, 1);
        e->checkpoint = r->checkpoint;
        e->trigger = g_strdup(r->trigger);
        e->device = g_strdup(r->d->device);
        e->chunk_size = REPLICATION_DIGEST_CHUNK;
        e->crc32 = qapi_list_new_uint32();
        for (guint i = 0; i < r->d->crc->len; i++) {
            g_ptr_array_add(e->crc32,
                            g_memdup2(&g_array_index(r->d->crc, guint32, i), sizeof(guint32)));
        }
        e->error = g_strdup(r->d->error);
        g_ptr_array_add(list, e);
    }
    g_mutex_unlock(&colo.lock);
    return list;
}

/* ---- calls on the main loop ---- */

static void stop_vm_main(void *opaque)
{
    colo_vm_stop();
}

/* The primary's VM, once COLO runs, and at a failover: resumed unless its guest or a user
 * stopped it meanwhile (shut down, paused, reset while stopped). */
static void start_vm_main(void *opaque)
{
    RunState st = runstate_get();
    if (st != RUN_STATE_SHUTDOWN && st != RUN_STATE_PAUSED && st != RUN_STATE_PRELAUNCH &&
        !runstate_is_running()) {
        life.self_change = true;
        vm_start();
        life.self_change = false;
    }
}

/* On entering COLO the VM starts as upstream's does, also one never started (-S: the runbook's
 * primary, whose guest then boots under COLO, both disks still equal) or stopped (the
 * re-protect runbook stops it for the disk copy). */
static void entry_start_vm_main(void *opaque)
{
    if (runstate_check(RUN_STATE_PRELAUNCH) || runstate_check(RUN_STATE_PAUSED)) {
        life.self_change = true;
        vm_start();
        life.self_change = false;
        return;
    }
    start_vm_main(opaque);
}

static void resume_vm_main(void *opaque)
{
    colo_vm_resume();
}

static void shutdown_main(void *opaque)
{
    qemu_system_shutdown_request(GPOINTER_TO_INT(opaque));
}

static void filters_event_main(void *opaque)
{
    GError *err = NULL;
    colo_notify_filters_event(GPOINTER_TO_INT(opaque), &err);
    if (err) {
        error_report_err(err);
    }
}

static void compare_flush_main(void *opaque)
{
    colo_compare_checkpoint_all();
}

/* P's block replication starts once S's has (checkpoint-ready); error into *opaque. Here
 * and below, a pair without replication nodes (no disks replicated) asks nothing of it. */
static void replication_start_primary_main(void *opaque)
{
    GError **errp = opaque;
    if (replication_any()) {
        replication_start_all(REPLICATION_MODE_PRIMARY, errp);
    }
    if (!*errp) {
        record_digests(0, true, TRIGGER_NONE); /* the VM has not run yet */
    }
}

/* At a failover: the survivor's disks are its own again (on S, the active disk is committed
 * into its copy). An error is reported; the failover goes on, as upstream's. */
static void replication_failover_main(void *opaque)
{
    GError *err = NULL;
    if (replication_any()) {
        replication_stop_all(true, &err);
    }
    if (err) {
        error_report_err(err);
    }
}

/* ---- primary ---- */

typedef struct Snapshot {
    DirtyReader *reader;
    uint64_t *bitmap;
    gsize words;
    GArray *index; /* uint64_t page numbers, ascending */
    guint8 *pages; /* their contents, in that order */
    GByteArray *devices;
    GError *err;
    bool ok;
    uint64_t checkpoint;
    Trigger why;
    ReplicationCheckpointStats disk;
    RunState state;       /* what S's VM does after the load */
    MultifdSend *multifd; /* NULL: the pages go on the main channel */
} Snapshot;

/* The run state a checkpoint hands to S: P's, with COLO's own pause read as running. */
static RunState wire_state(RunState st)
{
    switch (st) {
    case RUN_STATE_COLO:
    case RUN_STATE_RUNNING:
        return RUN_STATE_RUNNING;
    case RUN_STATE_SHUTDOWN:
    case RUN_STATE_PRELAUNCH:
    case RUN_STATE_PAUSED:
        return st;
    default:
        return RUN_STATE_PAUSED;
    }
}

/* Devices may write guest RAM while the VM is stopped (a NIC receiving): the dirty pages and
 * the device state are taken together on the main loop, and sent from the copy. */
static void snapshot_main(void *opaque)
{
    Snapshot *s = opaque;
    const MigrationHost *h = migration_host();
    GuestRam *ram = h->ram;
    g_array_set_size(s->index, 0);
    /* The disks' checkpoint comes first, as upstream's (spec §6.3 step 3), on quiet disks
     * (upstream's vm_stop drains): each write of the interval acknowledged by S's copy. */
    blk_drain_all();
    s->disk = (ReplicationCheckpointStats){0};
    if (replication_any()) {
        replication_do_checkpoint_all(&s->disk, &s->err);
    }
    if (s->err) {
        s->ok = false;
        return;
    }
    record_digests(s->checkpoint, true, s->why);
    if (ram) {
        memset(s->bitmap, 0, s->words * sizeof(uint64_t));
        guest_ram_dirty_reader_sync(s->reader, s->bitmap);
        for (gsize w = 0; w < s->words; w++) {
            for (uint64_t bits = s->bitmap[w]; bits; bits &= bits - 1) {
                uint64_t pi = (uint64_t)w * 64 + __builtin_ctzll(bits);
                if (pi < ram->npages) {
                    g_array_append_val(s->index, pi);
                }
            }
        }
        g_free(s->pages);
        s->pages = g_malloc((gsize)MAX(s->index->len, 1) << GUEST_PAGE_BITS);
        for (guint i = 0; i < s->index->len; i++) {
            uint64_t pi = g_array_index(s->index, uint64_t, i);
            memcpy(s->pages + ((gsize)i << GUEST_PAGE_BITS), ram->host + (pi << GUEST_PAGE_BITS),
                   GUEST_PAGE_SIZE);
        }
    }
    g_byte_array_set_size(s->devices, 0);
    s->ok = !h->save_devices || h->save_devices(h->opaque, s->devices, &s->err);
    s->state = wire_state(runstate_get());
    record_hashes(ram, s->checkpoint);
}

static void record_entry_main(void *opaque)
{
    record_hashes(migration_host()->ram, 0);
}

static void send_snapshot(MigChannel *out, Snapshot *s)
{
    MultifdSend *mf = s->multifd;
    uint64_t run_start = 0, run = 0;
    for (guint i = 0; i < s->index->len; i++) {
        uint64_t pi = g_array_index(s->index, uint64_t, i);
        const guint8 *page = s->pages + ((gsize)i << GUEST_PAGE_BITS);
        if (mig_page_is_zero(page)) {
            if (run && run_start + run == pi && run < UINT32_MAX) {
                run++;
                continue;
            }
            if (run) {
                multifd_put_zero_run(mf, out, run_start, run);
            }
            run_start = pi;
            run = 1;
        } else {
            multifd_put_page(mf, out, pi, page);
        }
    }
    if (run) {
        multifd_put_zero_run(mf, out, run_start, run);
    }
    /* every page is on its way before END: S waits for them all there */
    multifd_send_sync(mf, out);
}

/* One checkpoint (the exchange in colo.h); false on error or failover. */
static bool primary_checkpoint(MigChannel *out, MigChannel *in, Snapshot *s, Trigger why,
                               GError **errp)
{
    CheckpointTimes t = {.start_us = g_get_monotonic_time()};
    if (!send_msg(out, COLO_MSG_CHECKPOINT_REQUEST, errp) ||
        !colo_expect_msg(in, COLO_MSG_CHECKPOINT_REPLY, errp) || failover_wanted()) {
        return false;
    }
    if (!migration_run_on_main(stop_vm_main, NULL) || failover_wanted()) {
        return false;
    }
    t.stopped_us = g_get_monotonic_time();
    s->checkpoint++;
    s->why = why;
    if (!migration_run_on_main(snapshot_main, s)) {
        return false;
    }
    t.saved_us = g_get_monotonic_time();
    t.disk = s->disk;
    uint64_t before = mig_channel_bytes(out) + multifd_send_bytes(s->multifd);
    if (!s->ok) {
        g_propagate_error(errp, s->err);
        s->err = NULL;
        return false;
    }
    mig_channel_put_be32(out, COLO_MSG_VMSTATE_SEND);
    send_snapshot(out, s);
    if (!mig_stream_put_end(out, errp)) {
        return false;
    }
    mig_channel_put_be32(out, COLO_MSG_VMSTATE_SIZE);
    mig_channel_put_be64(out, COLO_STATE_HEADER + s->devices->len);
    mig_channel_put_be32(out, s->state);
    mig_channel_put(out, s->devices->data, s->devices->len);
    mig_channel_put_be32(out, mig_channel_crc(out));
    if (!mig_channel_flush(out, errp)) {
        g_prefix_error(errp, "Can't send COLO message: ");
        return false;
    }
    if (multifd_send_error(s->multifd)) {
        g_propagate_error(errp, g_error_copy(multifd_send_error(s->multifd)));
        g_prefix_error(errp, "Can't send COLO checkpoint: ");
        return false;
    }
    t.bytes = mig_channel_bytes(out) + multifd_send_bytes(s->multifd) - before;
    t.pages = s->index->len;
    if (!colo_expect_msg(in, COLO_MSG_VMSTATE_RECEIVED, errp)) {
        return false;
    }
    t.sent_us = g_get_monotonic_time();
    /* S has all of it: what P's guest sent until now may go out. The requests colo-compare
     * made until now are answered by this checkpoint. */
    if (!migration_run_on_main(compare_flush_main, NULL)) {
        return false;
    }
    g_mutex_lock(&colo.lock);
    if (colo.request == TRIGGER_COMPARE) {
        colo.request = TRIGGER_NONE;
    }
    g_mutex_unlock(&colo.lock);
    if (!colo_expect_msg(in, COLO_MSG_VMSTATE_LOADED, errp)) {
        return false;
    }
    t.loaded_us = g_get_monotonic_time();
    if (!migration_run_on_main(resume_vm_main, NULL)) {
        return false;
    }
    t.resumed_us = g_get_monotonic_time();
    account(why, &t);
    return true;
}

/* Until the delay passes since the last checkpoint, a request, a failover or shutdown. */
static Trigger wait_trigger(int64_t last, ShutdownCause *exit)
{
    g_mutex_lock(&colo.lock);
    Trigger t = TRIGGER_NONE;
    for (;;) {
        if (colo.failover != FAILOVER_NONE || colo.shutdown) {
            break;
        }
        if (colo.request != TRIGGER_NONE) {
            t = colo.request;
            break;
        }
        int64_t deadline = last + (int64_t)migrate_checkpoint_delay_ms();
        if (now_ms() >= deadline) {
            t = TRIGGER_TIMER;
            break;
        }
        g_cond_wait_until(&colo.cond, &colo.lock,
                          g_get_monotonic_time() + (deadline - now_ms()) * G_TIME_SPAN_MILLISECOND);
    }
    colo.request = TRIGGER_NONE;
    /* this checkpoint carries the shut-down state: the process may end after it */
    *exit = t == TRIGGER_NONE ? SHUTDOWN_CAUSE_NONE : colo.exit_cause;
    g_mutex_unlock(&colo.lock);
    return t;
}

static void primary_failover(void)
{
    /* Held packets go out first (through the redirectors, still on), then every filter
     * stops, then anything that reached colo-compare meanwhile goes too. */
    migration_run_on_main(compare_flush_main, NULL);
    migration_run_on_main(filters_event_main, GINT_TO_POINTER(COLO_EVENT_FAILOVER));
    migration_run_on_main(compare_flush_main, NULL);
    migration_run_on_main(replication_failover_main, NULL);
    migration_run_on_main(start_vm_main, NULL);
}

bool colo_primary_run(MigChannel *out, DirtyReader *reader, MultifdSend *multifd)
{
    GError *err = NULL;
    GuestRam *ram = migration_host()->ram;
    Snapshot s = {.reader = reader,
                  .multifd = multifd,
                  .index = g_array_new(FALSE, FALSE, sizeof(uint64_t)),
                  .devices = g_byte_array_new()};
    s.words = ram ? guest_ram_bitmap_words(ram) : 0;
    s.bitmap = g_new0(uint64_t, MAX(s.words, 1));
    MigChannel *in = open_return_path(out, false, &err);
    enter_mode(COLO_MODE_PRIMARY, out, in);
    g_mutex_lock(&colo.lock);
    if (colo.shutdown && in) {
        mig_channel_cancel(in);
    }
    g_mutex_unlock(&colo.lock);
    /* checkpoint 0: the end of the initial stream, the VM still stopped; the reader keeps
     * what it has for the first checkpoint */
    migration_run_on_main(record_entry_main, NULL);
    bool ok = in && colo_expect_msg(in, COLO_MSG_CHECKPOINT_READY, &err) &&
              migration_run_on_main(replication_start_primary_main, &err) && !err &&
              migration_run_on_main(entry_start_vm_main, NULL);
    int64_t last = now_ms();
    while (ok) {
        ShutdownCause exit = SHUTDOWN_CAUSE_NONE;
        Trigger why = wait_trigger(last, &exit);
        if (why == TRIGGER_NONE) {
            break;
        }
        ok = primary_checkpoint(out, in, &s, why, &err);
        last = now_ms();
        if (exit != SHUTDOWN_CAUSE_NONE) {
            /* S has P's shut-down state, or is gone: the guest's power-off ends P now */
            migration_run_on_main(shutdown_main, GINT_TO_POINTER(exit));
        }
    }
    bool failover = loop_ended(COLO_MODE_PRIMARY, err);
    g_clear_error(&err);
    if (failover) {
        primary_failover();
        failover_end(COLO_MODE_PRIMARY);
    }
    if (in) {
        mig_channel_free(in);
    }
    g_free(s.bitmap);
    g_free(s.pages);
    g_array_unref(s.index);
    g_byte_array_unref(s.devices);
    return failover;
}

void colo_primary_exit_event(void)
{
    emit_exit(COLO_MODE_PRIMARY, COLO_EXIT_REASON_REQUEST);
}

/* ---- secondary ---- */

typedef struct Cache {
    GuestRam *ram;
    /* rx.mem: ram->size bytes, P's RAM as of the last checkpoint */
    ColoReceiver rx;
    gsize words;
    DirtyReader *reader; /* S's own writes since the last checkpoint */
    RunState state;      /* P's, to take after the load */
    bool exit;           /* P's guest powered off and S's shutdown action ends the process */
    bool ok;
    GError *err;
    uint64_t checkpoint;
    ReplicationCheckpointStats disk;
} Cache;

static bool cache_new(Cache *c, GuestRam *ram, GError **errp)
{
    c->ram = ram;
    if (!ram) {
        return true;
    }
    c->rx.mem = mmap(NULL, ram->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    c->rx.npages = ram->npages;
    if (c->rx.mem == MAP_FAILED) {
        c->rx.mem = NULL;
        error_setg(errp,
                   "failed to init colo RAM cache: -12: Can't alloc memory for COLO cache of "
                   "block pc.ram, size 0x%" G_GINT64_MODIFIER "x",
                   ram->size);
        return false;
    }
    /* Pages never written stay unbacked in both. */
    for (uint64_t pi = 0; pi < ram->npages; pi++) {
        const guint8 *page = ram->host + (pi << GUEST_PAGE_BITS);
        if (!mig_page_is_zero(page)) {
            memcpy(c->rx.mem + (pi << GUEST_PAGE_BITS), page, GUEST_PAGE_SIZE);
        }
    }
    c->words = guest_ram_bitmap_words(ram);
    c->rx.received = g_new0(uint64_t, c->words);
    c->reader = guest_ram_dirty_reader_new(ram, "colo");
    return true;
}

static void cache_free(Cache *c)
{
    if (c->rx.mem) {
        munmap(c->rx.mem, c->ram->size);
        c->rx.mem = NULL;
    }
    if (c->reader) {
        guest_ram_dirty_reader_free(c->reader);
        c->reader = NULL;
    }
    g_clear_pointer(&c->rx.received, g_free);
    g_clear_pointer(&c->rx.devices, g_free);
}

/* After a load, S's VM does what P's does: what S held is superseded by P's state. A
 * power-off gets S's own shutdown action (-no-shutdown or not), once. */
static void take_state(Cache *c)
{
    life.held = false;
    if (c->state == RUN_STATE_RUNNING) {
        if (!runstate_is_running()) {
            vm_start(); /* from colo, or from what P's VM was in before (shutdown, paused) */
        }
        return;
    }
    if (c->state != RUN_STATE_SHUTDOWN) {
        runstate_set(c->state);
        return;
    }
    if (runstate_check(RUN_STATE_SHUTDOWN)) {
        return;
    }
    if (machine_control_shutdown_pauses()) {
        life.applying = true;
        qemu_system_guest_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
        life.applying = false;
    } else {
        runstate_set(RUN_STATE_SHUTDOWN);
        c->exit = true; /* once P heard vmstate-loaded */
    }
}

/* Everything or nothing, while nothing else touches RAM or devices: the device state is
 * checked before a byte of RAM changes. */
static void apply_main(void *opaque)
{
    Cache *c = opaque;
    const MigrationHost *h = migration_host();
    c->ok =
        !h->check_devices || h->check_devices(h->opaque, c->rx.devices, c->rx.devices_len, &c->err);
    if (!c->ok) {
        g_prefix_error(&c->err, "COLO checkpoint not loaded: ");
        return;
    }
    GuestRam *ram = c->ram;
    if (ram) {
        guest_ram_dirty_reader_sync(c->reader, c->rx.received);
        for (gsize w = 0; w < c->words; w++) {
            for (uint64_t bits = c->rx.received[w]; bits; bits &= bits - 1) {
                uint64_t off = ((uint64_t)w * 64 + __builtin_ctzll(bits)) << GUEST_PAGE_BITS;
                /* most pages S dirtied hold what P's did: S ran the same guest */
                if (off < ram->size) {
                    guest_ram_load_page(ram, off, c->rx.mem + off);
                }
            }
        }
        memset(c->rx.received, 0, c->words * sizeof(uint64_t));
        /* our own copies are not S's writes */
        g_autofree uint64_t *scratch = g_new0(uint64_t, c->words);
        guest_ram_dirty_reader_sync(c->reader, scratch);
    }
    c->ok =
        !h->load_devices || h->load_devices(h->opaque, c->rx.devices, c->rx.devices_len, &c->err);
    if (!c->ok) {
        g_prefix_error(&c->err, "COLO checkpoint not loaded: ");
        return;
    }
    /* The disks (spec §6.3 step 6): an error the primary's writes met ends COLO; the active
     * and hidden disks are emptied, so S's disk is P's as of this checkpoint. */
    blk_drain_all(); /* no write of S's guest in flight into the disks being emptied */
    c->disk = (ReplicationCheckpointStats){0};
    if (replication_any()) {
        replication_get_error_all(&c->err);
    }
    if (replication_any() && !c->err) {
        replication_do_checkpoint_all(&c->disk, &c->err);
    }
    if (c->err) {
        c->ok = false;
        return;
    }
    record_hashes(ram, c->checkpoint);
    record_digests(c->checkpoint, false, TRIGGER_NONE);
    GError *err = NULL;
    colo_notify_filters_event(COLO_EVENT_CHECKPOINT, &err);
    if (err) {
        error_report_err(err);
    }
    take_state(c);
}

static void cache_start_main(void *opaque)
{
    Cache *c = opaque;
    record_hashes(c->ram, 0);
    migration_incoming_set_status(MIGRATION_STATUS_COLO);
    if (replication_any()) {
        replication_start_all(REPLICATION_MODE_SECONDARY, &c->err);
    }
    c->ok = !c->err;
    if (c->ok) {
        record_digests(0, false, TRIGGER_NONE);
    }
    if (c->ok) {
        vm_start();
    }
}

static bool secondary_checkpoint(MigChannel *in, MigChannel *out, Cache *c, GError **errp)
{
    ColoMessage m;
    if (!colo_get_msg(in, &m, errp)) {
        return false;
    }
    if (m != COLO_MSG_CHECKPOINT_REQUEST) {
        error_setg(errp, "Got unknown COLO message: %d", m);
        return false;
    }
    CheckpointTimes t = {.start_us = g_get_monotonic_time()};
    if (!migration_run_on_main(stop_vm_main, NULL)) {
        return false;
    }
    t.stopped_us = t.saved_us = g_get_monotonic_time();
    uint64_t before = mig_channel_bytes(in);
    if (!send_msg(out, COLO_MSG_CHECKPOINT_REPLY, errp) ||
        !colo_receive_checkpoint(in, &c->rx, errp) ||
        !send_msg(out, COLO_MSG_VMSTATE_RECEIVED, errp)) {
        return false;
    }
    c->state = c->rx.state;
    t.sent_us = g_get_monotonic_time();
    t.bytes = mig_channel_bytes(in) - before;
    for (gsize w = 0; w < c->words; w++) {
        t.pages += __builtin_popcountll(c->rx.received[w]);
    }
    c->checkpoint++;
    if (!migration_run_on_main(apply_main, c)) {
        return false;
    }
    t.loaded_us = t.resumed_us = g_get_monotonic_time();
    if (!c->ok) {
        g_propagate_error(errp, c->err);
        c->err = NULL;
        return false;
    }
    t.disk = c->disk;
    /* the primary asked; why is its business */
    account(TRIGGER_NONE, &t);
    if (!send_msg(out, COLO_MSG_VMSTATE_LOADED, errp)) {
        return false;
    }
    if (c->exit) {
        migration_run_on_main(shutdown_main, GINT_TO_POINTER(SHUTDOWN_CAUSE_GUEST_SHUTDOWN));
    }
    return true;
}

static void secondary_failover_main(void *opaque)
{
    GError *err = NULL;
    replication_failover_main(NULL);
    colo_notify_filters_event(COLO_EVENT_FAILOVER, &err);
    if (err) {
        error_report_err(err);
    }
    /* a VM stopped by COLO runs on; one that follows P's shut-down or paused guest stays */
    migration_incoming_colo_done(runstate_check(RUN_STATE_COLO) || runstate_is_running());
    replay_held();
}

bool colo_incoming_enable(void *opaque, GError **errp)
{
    if (!migrate_cap_enabled(MIGRATION_CAPABILITY_X_COLO)) {
        error_setg(errp, "ENABLE_COLO command come in migration stream, but x-colo capability "
                         "is not set");
        return false;
    }
    return true;
}

void colo_secondary_run(MigChannel *in, MultifdRecv *multifd)
{
    GError *err = NULL;
    Cache c = {0};
    MigChannel *out = open_return_path(in, true, &err);
    bool ok = out && cache_new(&c, migration_host()->ram, &err);
    if (ok && multifd) {
        /* Checkpoints' pages go to the cache too. Safe now: P sends none before
         * checkpoint-ready, and the initial stream's all arrived at its SYNC. */
        c.rx.multifd = multifd;
        multifd_recv_set_target(
            multifd,
            &(MultifdTarget){.mem = c.rx.mem, .npages = c.rx.npages, .received = c.rx.received});
    }
    enter_mode(COLO_MODE_SECONDARY, in, out);
    g_mutex_lock(&colo.lock);
    if (colo.shutdown) {
        mig_channel_cancel(in);
    }
    g_mutex_unlock(&colo.lock);
    ok = ok && migration_run_on_main(cache_start_main, &c);
    if (ok && !c.ok) {
        g_propagate_error(&err, c.err);
        c.err = NULL;
        ok = false;
    }
    ok = ok && send_msg(out, COLO_MSG_CHECKPOINT_READY, &err);
    while (ok && !failover_wanted()) {
        ok = secondary_checkpoint(in, out, &c, &err);
    }
    bool failover = loop_ended(COLO_MODE_SECONDARY, err);
    g_clear_error(&err);
    cache_free(&c);
    if (failover) {
        migration_run_on_main(secondary_failover_main, NULL);
        failover_end(COLO_MODE_SECONDARY);
        emit_exit(COLO_MODE_SECONDARY, COLO_EXIT_REASON_REQUEST);
    }
    if (out) {
        mig_channel_free(out);
    }
}

/* ---- QMP ---- */

void qmp_x_colo_lost_heartbeat(GError **errp)
{
    g_mutex_lock(&colo.lock);
    if (colo.mode == COLO_MODE_NONE) {
        g_mutex_unlock(&colo.lock);
        error_setg(errp, "The feature 'colo' is not enabled");
        return;
    }
    if (colo.failover != FAILOVER_NONE) {
        g_mutex_unlock(&colo.lock);
        error_setg(errp, "COLO failover is already activated");
        return;
    }
    colo.failover = FAILOVER_REQUIRE;
    wake_thread_locked();
    g_mutex_unlock(&colo.lock);
}

COLOStatus *qmp_query_colo_status(GError **errp)
{
    COLOStatus *s = g_new0(COLOStatus, 1);
    g_mutex_lock(&colo.lock);
    s->mode = colo.mode;
    s->last_mode = colo.last_mode;
    switch (colo.failover) {
    case FAILOVER_NONE:
        s->reason = COLO_EXIT_REASON_NONE;
        break;
    case FAILOVER_COMPLETED:
        s->reason = COLO_EXIT_REASON_REQUEST;
        break;
    default:
        s->reason =
            colo.mode == COLO_MODE_PRIMARY ? COLO_EXIT_REASON_PROCESSING : COLO_EXIT_REASON_ERROR;
        break;
    }
    g_mutex_unlock(&colo.lock);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted values. */
static double percentile(const double *sorted, guint n, guint pct)
{
    if (!n) {
        return 0;
    }
    guint rank = (n * pct + 99) / 100;
    return sorted[MAX(rank, 1) - 1];
}

ColoStats *qmp_x_query_colo_stats(GError **errp)
{
    ColoStats *r = g_new0(ColoStats, 1);
    g_mutex_lock(&colo.lock);
    guint n = MIN(colo.n_pauses, PAUSE_WINDOW);
    g_autofree double *sorted = g_memdup2(colo.pauses, sizeof(double) * MAX(n, 1));
    const CheckpointTimes *t = &colo.last;
    r->mode = colo.mode;
    r->checkpoints = colo.checkpoints;
    r->by_timer = colo.by_trigger[TRIGGER_TIMER];
    r->by_compare = colo.by_trigger[TRIGGER_COMPARE];
    r->by_delay = colo.by_trigger[TRIGGER_DELAY];
    r->by_vm_state = colo.by_trigger[TRIGGER_VM_STATE];
    r->last_pause_ms = (t->resumed_us - t->stopped_us) / 1000.0;
    r->last_pages = t->pages;
    r->last_bytes = t->bytes;
    r->pages = colo.pages;
    r->bytes = colo.bytes;
    r->last_request_ms = (t->stopped_us - t->start_us) / 1000.0;
    r->last_save_ms = (t->saved_us - t->stopped_us) / 1000.0;
    r->last_transfer_ms = (t->sent_us - t->saved_us) / 1000.0;
    r->last_load_ms = (t->loaded_us - t->sent_us) / 1000.0;
    r->last_disk_bytes = t->disk.bytes_written;
    r->disk_bytes = colo.disk_bytes;
    r->last_disk_empty_ms = t->disk.empty_ns / 1e6;
    r->max_disk_empty_ms = colo.disk_empty_max_ns / 1e6;
    r->disk_empty_ms = colo.disk_empty_ns / 1e6;
    g_mutex_unlock(&colo.lock);
    qsort(sorted, n, sizeof(double), cmp_double);
    r->pause_p50_ms = percentile(sorted, n, 50);
    r->pause_p99_ms = percentile(sorted, n, 99);
    return r;
}
