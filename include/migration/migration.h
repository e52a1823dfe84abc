/*
 * Live migration: the source's precopy, the destination's load, and their status.
 *
 * Source (migrate URI), status as query-migrate and MIGRATION events show it:
 *
 *   none/completed/failed/cancelled ──migrate──► setup ──connected, header sent──► active
 *   active: pass 1 sends all RAM, pass n the pages dirtied since pass n-1 (MIGRATION_PASS n)
 *           until what is dirty fits in downtime-limit at the measured bandwidth
 *   active ──► vm_stop(finish-migrate) ──pause-before-switchover──► pre-switchover
 *                  │                          ──migrate-continue──► device
 *                  ▼
 *            last pass + device state + end marker ──► completed, run state postmigrate
 *   any state ──migrate_cancel──► cancelling ──► cancelled   (the VM runs again if it ran)
 *   any state ──I/O or device error──► failed, error-desc    (likewise)
 *
 * Destination (-incoming URI | defer, then migrate-incoming URI): run state inmigrate;
 *   setup ──connection──► active ──stream loaded, devices applied, announce──► completed;
 *   the VM then runs (RESUME), or stays paused with -S. A stream that fails to load ends the
 *   process with "load of migration failed: ...", exit 1, as upstream: never a half-loaded VM.
 *
 * Threads: the source's passes run on a migration thread, the destination's load on an incoming
 * thread; everything that touches run state, devices or monitors (vm_stop, device save/load,
 * events) is done on the main loop, which holds the big lock, and the thread waits for it.
 * The stream itself is include/migration/stream.h.
 */
#ifndef MIGRATION_MIGRATION_H
#define MIGRATION_MIGRATION_H

#include <glib.h>
#include <stdbool.h>

#include "memory/ram.h"
#include "qapi-types.h"

/* What the machine gives migration; installed by the composition root (system/vl.c). */
typedef struct MigrationHost {
    GuestRam *ram;
    const char *machine_type;
    /* On the main loop with the VM stopped: the whole device state, appended to out. */
    bool (*save_devices)(void *opaque, GByteArray *out, GError **errp);
    /* On the main loop: whether load_devices would take this state, touching nothing (a COLO
     * secondary checks before it changes RAM). NULL: no check. */
    bool (*check_devices)(void *opaque, const guint8 *buf, gsize len, GError **errp);
    /* On the main loop: all of it applied, or nothing. */
    bool (*load_devices)(void *opaque, const guint8 *buf, gsize len, GError **errp);
    /* On the main loop after a successful load, before the VM runs (self-announce). */
    void (*loaded)(void *opaque);
    void *opaque;
} MigrationHost;

/* NULL: no machine (-M none): streams of no RAM and no devices. The struct is copied. */
void migration_set_host(const MigrationHost *host);

/* -incoming ARG: "defer" waits for migrate-incoming; a URI starts listening now. autostart
 * false (-S) leaves the loaded VM paused. */
bool migration_incoming_init(const char *arg, bool autostart, GError **errp);
/* stop / cont while inmigrate: whether the VM runs once loaded. */
void migration_incoming_set_autostart(bool on);

/* Ends a running migration and waits for its thread (process exit). */
void migration_shutdown(void);

#endif
