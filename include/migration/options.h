/*
 * Migration capabilities and parameters (qapi/migration.json, "Capabilities and parameters"):
 * their values, QEMU 7.2's defaults and range checks, the setters and the getters the
 * migration code reads. The QMP commands over them live in monitor/qmp-cmds-migration.c.
 *
 * One process-wide set, as upstream keeps it. Changes come from QMP/HMP on the main loop; the
 * migration thread reads through the getters, which take a lock so that a value is never seen
 * half-written.
 *
 *   migrate-set-capabilities --> busy hook? --> every capability checked --> all applied
 *   migrate-set-parameters   --> merged with the current values --> all checked --> applied
 */
#ifndef MIGRATION_OPTIONS_H
#define MIGRATION_OPTIONS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "qapi-types.h"

/*
 * Applies every capability in @capabilities (MigrationCapabilityStatus), all or nothing: fails
 * while the busy hook says a migration runs, or if one turned on is not supported.
 */
bool migrate_caps_set(GPtrArray *capabilities, GError **errp);
/*
 * Overlays @in on the current parameters, all or nothing after 7.2's checks; a set
 * x-checkpoint-delay calls the checkpoint-delay hook.
 */
bool migrate_params_set(const MigrateSetParameters *in, GError **errp);
/* A copy of every parameter (all has_* set, as query-migrate-parameters reports them); free
 * with qapi_free_MigrationParameters(). */
MigrationParameters *migrate_params_get(void);

/* 7.2's defaults that the migration code and its tests refer to. */
#define MIGRATE_DEFAULT_MAX_BANDWIDTH       (128ULL << 20) /* bytes/s */
#define MIGRATE_DEFAULT_DOWNTIME_LIMIT_MS   300
#define MIGRATE_DEFAULT_CHECKPOINT_DELAY_MS 20000
#define MIGRATE_MAX_DOWNTIME_LIMIT_MS       2000000

bool migrate_cap_enabled(MigrationCapability cap);
uint64_t migrate_max_bandwidth(void); /* bytes/s */
uint64_t migrate_downtime_limit_ms(void);
uint64_t migrate_checkpoint_delay_ms(void);    /* x-checkpoint-delay */
uint64_t migrate_max_postcopy_bandwidth(void); /* bytes/s, 0: no limit */
unsigned migrate_multifd_channels(void);
MultiFDCompression migrate_multifd_compression(void);
/* announce-initial/max/rounds/step as announce-self takes them; free with
 * qapi_free_AnnounceParameters(). */
AnnounceParameters *migrate_announce_params(void);

/*
 * The migration state machine tells whether a migration runs: while @busy returns true,
 * migrate-set-capabilities fails with "There's a migration process in progress". NULL removes
 * the hook.
 */
typedef bool (*MigrationBusyFn)(void *opaque);
void migrate_options_set_busy_hook(MigrationBusyFn busy, void *opaque);

/* Called (outside the options' lock) after migrate-set-parameters set x-checkpoint-delay:
 * COLO checkpoints at once, as upstream. NULL removes it. */
void migrate_options_set_checkpoint_delay_hook(void (*fn)(void));

/*
 * Whether enabling @cap is allowed. At start: events and pause-before-switchover. The COLO
 * frame turns x-colo on here when it exists; everything else stays refused (docs/migration.md).
 */
void migrate_cap_set_supported(MigrationCapability cap, bool supported);

/* Back to 7.2's defaults, every capability off (unit tests; a fresh process starts there). */
void migrate_options_reset(void);

#endif
