/*
 * The destination side of live migration: -incoming, migrate-incoming, and the thread that
 * loads the stream (include/migration/migration.h has the states).
 */
#include <stdlib.h>
#include <string.h>

#include "migration-internal.h"
#include "migration/options.h"
#include "block/block-backend.h"
#include "block/block.h"
#include "migration/stream.h"
#include "net/announce.h"
#include "qapi-commands.h"
#include "qapi-events.h"
#include "system/runstate.h"
#include "util/error.h"
#include "util/yank.h"

typedef struct Incoming {
    bool configured; /* -incoming was given */
    bool started;    /* a URI is being listened on or read */
    bool autostart;
    MigrationStatus status;
    GMutex lock; /* status */
    GThread *thread;
    MigChannel *chan; /* under lock: a shutdown cancels it */
    MigTransport tr;
    MultifdRecv *multifd; /* the load's extra channels (capability multifd) */
} Incoming;

static Incoming in = {.tr = MIG_TRANSPORT_INIT};

static void in_set_status(MigrationStatus s)
{
    g_mutex_lock(&in.lock);
    in.status = s;
    g_mutex_unlock(&in.lock);
    if (migration_events_enabled()) {
        qapi_event_send_migration(s);
    }
}

static void in_set_status_main(void *opaque)
{
    in_set_status(GPOINTER_TO_INT(opaque));
}

void migration_incoming_set_status(MigrationStatus s)
{
    in_set_status(s);
}

void migration_incoming_set_autostart(bool on)
{
    in.autostart = on;
}

/* As upstream: while listening only where, then the status. */
bool migration_incoming_info(MigrationInfo *info)
{
    if (!in.started) {
        return false;
    }
    g_mutex_lock(&in.lock);
    if (in.status == MIGRATION_STATUS_NONE) {
        info->socket_address = mig_transport_listen_addresses(&in.tr);
    } else {
        info->has_status = true;
        info->status = in.status;
    }
    g_mutex_unlock(&in.lock);
    return true;
}

typedef struct DeviceLoad {
    const guint8 *buf;
    gsize len;
    GError *err;
    bool ok;
} DeviceLoad;

static void load_devices_on_main(void *opaque)
{
    DeviceLoad *d = opaque;
    const MigrationHost *h = migration_host();
    d->ok = !h->load_devices || h->load_devices(h->opaque, d->buf, d->len, &d->err);
}

/* The stream's device state, applied on the main loop under the big lock. */
static bool load_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    DeviceLoad d = {.buf = buf, .len = len};
    if (!migration_run_on_main(load_devices_on_main, &d)) {
        error_setg(errp, "shutting down");
        return false;
    }
    if (!d.ok) {
        g_propagate_error(errp, d.err);
    }
    return d.ok;
}

/* How the VM goes on after a load: as -S says, or as the COLO secondary's failover says. */
typedef enum { AFTER_LOAD_AUTOSTART, AFTER_LOAD_RUN, AFTER_LOAD_KEEP } AfterLoad;

static void loaded_on_main(void *opaque)
{
    AfterLoad after = GPOINTER_TO_INT(opaque);
    const MigrationHost *h = migration_host();
    if (h->loaded) {
        h->loaded(h->opaque);
    }
    /* the guest's NICs tell bridges and switches where they are now, as upstream */
    g_autoptr(AnnounceParameters) params = migrate_announce_params();
    announce_self_after_migration(params);
    /* The images are ours now that the source has let them go; if it has not (its locks),
     * the VM stays paused, as upstream. */
    g_autoptr(GError) err = NULL;
    bool disks = bdrv_activate_all(&err);
    if (!disks) {
        error_report_err(g_steal_pointer(&err));
    }
    /* As upstream: RESUME (the VM runs) before MIGRATION completed; -S leaves it paused. */
    if (disks && (after == AFTER_LOAD_RUN || (after == AFTER_LOAD_AUTOSTART && in.autostart))) {
        if (!runstate_is_running()) {
            vm_start();
        }
    } else if (after == AFTER_LOAD_AUTOSTART) {
        runstate_set(RUN_STATE_PAUSED);
    }
    in_set_status(MIGRATION_STATUS_COMPLETED);
}

void migration_incoming_colo_done(bool run)
{
    if (!in.autostart) {
        error_report("\"-S\" qemu option will be ignored in secondary side");
    }
    loaded_on_main(GINT_TO_POINTER(run ? AFTER_LOAD_RUN : AFTER_LOAD_KEEP));
}

static void failed_on_main(void *opaque)
{
    GError *err = opaque;
    in_set_status(MIGRATION_STATUS_FAILED);
    g_autofree char *desc = error_get_desc(err);
    error_report("load of migration failed: %s", desc);
    g_error_free(err);
    /* Upstream exits here: a VM whose RAM is half-written must never run. */
    exit(EXIT_FAILURE);
}

/* A COLO secondary runs its VM from the first checkpoint on: its images are taken now. */
static void activate_disks_on_main(void *opaque)
{
    GError *err = NULL;
    if (!bdrv_activate_all(&err)) {
        error_report_err(err);
    }
}

/* The stream's MULTIFD record: n more connections on the listening sockets. */
static bool open_multifd(void *opaque, uint32_t n, GError **errp)
{
    if (!migrate_cap_enabled(MIGRATION_CAPABILITY_MULTIFD)) {
        error_setg(errp, "multifd channels came in the migration stream, but the multifd "
                         "capability is not set");
        return false;
    }
    if (n < 1 || n > MULTIFD_CHANNELS_MAX) {
        error_setg(errp, "Migration stream asks for %u multifd channels", n);
        return false;
    }
    g_autofree MigChannel **chans = g_new0(MigChannel *, n);
    for (uint32_t i = 0; i < n; i++) {
        int fd = mig_transport_accept_extra(&in.tr, errp);
        if (fd < 0) {
            for (uint32_t k = 0; k < i; k++) {
                mig_channel_free(chans[k]);
            }
            return false;
        }
        chans[i] = mig_channel_new_fd(fd, false, "socket");
    }
    g_mutex_lock(&in.lock);
    mig_transport_stop_listening(&in.tr);
    g_mutex_unlock(&in.lock);
    GuestRam *ram = migration_host()->ram;
    MultifdTarget t = {.mem = ram ? ram->host : NULL, .npages = ram ? ram->npages : 0, .ram = ram};
    in.multifd = multifd_recv_new(in.chan, chans, n, &t, errp);
    return in.multifd != NULL;
}

static bool sync_multifd(void *opaque, uint32_t seq, GError **errp)
{
    return multifd_recv_sync(in.multifd, seq, errp);
}

static gpointer incoming_thread(gpointer opaque)
{
    GError *err = NULL;
    bool accepted = mig_transport_accept(&in.tr, &err);
    /* multifd's connections come on the same sockets (open_multifd) */
    if (!accepted || !migrate_cap_enabled(MIGRATION_CAPABILITY_MULTIFD)) {
        g_mutex_lock(&in.lock);
        mig_transport_stop_listening(&in.tr);
        g_mutex_unlock(&in.lock);
    }
    if (!accepted) {
        yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
        if (!migration_run_on_main(failed_on_main, err)) {
            g_error_free(err);
        }
        return NULL;
    }
    migration_run_on_main(in_set_status_main, GINT_TO_POINTER(MIGRATION_STATUS_ACTIVE));
    const MigrationHost *h = migration_host();
    MigChannel *c = mig_channel_new_fd(in.tr.fd, false, in.tr.what);
    in.tr.fd = -1;
    g_mutex_lock(&in.lock);
    in.chan = c;
    if (migration_shutting_down()) {
        mig_channel_cancel(c);
    }
    g_mutex_unlock(&in.lock);
    MigLoadTarget target = {.ram = h->ram,
                            .machine_type = h->machine_type,
                            .enable_colo = colo_incoming_enable,
                            .open_multifd = open_multifd,
                            .sync_multifd = sync_multifd,
                            .load_devices = load_devices};
    MigLoadStats stats;
    bool ok = mig_stream_load(c, &target, &stats, &err);
    g_mutex_lock(&in.lock);
    mig_transport_stop_listening(&in.tr);
    g_mutex_unlock(&in.lock);
    if (ok && stats.colo) {
        /* the same stream goes on with checkpoints; in.chan stays for a shutdown's cancel */
        migration_run_on_main(activate_disks_on_main, NULL);
        colo_secondary_run(c, in.multifd);
        ok = false;
        err = NULL;
    }
    g_clear_pointer(&in.multifd, multifd_recv_free);
    g_mutex_lock(&in.lock);
    in.chan = NULL;
    g_mutex_unlock(&in.lock);
    mig_channel_free(c);
    g_mutex_lock(&in.lock);
    mig_transport_close(&in.tr, false);
    g_mutex_unlock(&in.lock);
    yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
    if (ok) {
        migration_run_on_main(loaded_on_main, GINT_TO_POINTER(AFTER_LOAD_AUTOSTART));
    } else if (err && !migration_run_on_main(failed_on_main, err)) {
        g_error_free(err);
    }
    return NULL;
}

static bool incoming_start(const char *uri, GError **errp)
{
    /* upstream sends this one whether capability events is on or not, before the URI is
     * even parsed */
    qapi_event_send_migration(MIGRATION_STATUS_SETUP);
    /* Upstream's yank instance, from the listen on: the channel joins it once accepted. */
    if (!yank_register_instance(YANK_KIND_MIGRATION, NULL, errp)) {
        return false;
    }
    if (!mig_transport_listen(uri, &in.tr, errp)) {
        yank_unregister_instance(YANK_KIND_MIGRATION, NULL);
        return false;
    }
    in.started = true;
    in.thread = g_thread_new("mig/dst/main", incoming_thread, NULL);
    return true;
}

bool migration_incoming_init(const char *arg, bool autostart, GError **errp)
{
    in.configured = true;
    in.autostart = autostart;
    in.status = MIGRATION_STATUS_NONE;
    runstate_set(RUN_STATE_INMIGRATE);
    if (strcmp(arg, "defer") == 0) {
        return true;
    }
    return incoming_start(arg, errp);
}

void qmp_migrate_incoming(const char *uri, GError **errp)
{
    if (!in.configured) {
        error_setg(errp, "'-incoming' was not specified on the command line");
        return;
    }
    if (in.started) {
        error_setg(errp, "The incoming migration has already been started");
        return;
    }
    incoming_start(uri, errp);
}

void migration_incoming_shutdown(void)
{
    g_mutex_lock(&in.lock);
    if (in.chan) {
        mig_channel_cancel(in.chan);
    }
    mig_transport_cancel_accept(&in.tr);
    g_mutex_unlock(&in.lock);
    if (in.thread) {
        g_thread_join(in.thread);
        in.thread = NULL;
    }
}
