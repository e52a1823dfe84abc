/*
 * HMP for migration: migrate, migrate_cancel, migrate_continue, migrate_incoming, info migrate
 * (printed line for line as 7.2 prints it), the capabilities and parameters, and announce_self.
 * Each command parses its words the way 7.2 does and calls the QMP function
 * (migration/migration.c, migration/options.c, net/announce.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "migration/options.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi-commands.h"
#include "qapi/qapi-runtime.h"
#include "util/error.h"
#include "util/keyval.h"

void hmp_migrate_set_capability(Monitor *mon, const HmpArgs *args);
void hmp_migrate_set_parameter(Monitor *mon, const HmpArgs *args);
void hmp_info_migrate_capabilities(Monitor *mon, const HmpArgs *args);
void hmp_info_migrate_parameters(Monitor *mon, const HmpArgs *args);
void hmp_announce_self(Monitor *mon, const HmpArgs *args);
void hmp_x_colo_lost_heartbeat(Monitor *mon, const HmpArgs *args);
void hmp_info_colo(Monitor *mon, const HmpArgs *args);

void hmp_info_colo(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(COLOStatus) st = qmp_query_colo_status(NULL);
    g_autoptr(ColoStats) s = qmp_x_query_colo_stats(NULL);
    monitor_printf(mon, "mode: %s\nlast mode: %s\nreason: %s\n", COLOMode_str(st->mode),
                   COLOMode_str(st->last_mode), COLOExitReason_str(st->reason));
    monitor_printf(mon,
                   "checkpoints: %" G_GINT64_FORMAT " (timer %" G_GINT64_FORMAT
                   ", colo-compare %" G_GINT64_FORMAT ", x-checkpoint-delay %" G_GINT64_FORMAT
                   ", vm state %" G_GINT64_FORMAT ")\n",
                   s->checkpoints, s->by_timer, s->by_compare, s->by_delay, s->by_vm_state);
    monitor_printf(mon, "pause: last %.3f ms, p50 %.3f ms, p99 %.3f ms\n", s->last_pause_ms,
                   s->pause_p50_ms, s->pause_p99_ms);
    monitor_printf(mon,
                   "last checkpoint: %" G_GINT64_FORMAT " pages, %" G_GINT64_FORMAT
                   " bytes; request %.3f ms, save %.3f ms, transfer %.3f ms, load %.3f ms\n",
                   s->last_pages, s->last_bytes, s->last_request_ms, s->last_save_ms,
                   s->last_transfer_ms, s->last_load_ms);
    monitor_printf(mon, "all checkpoints: %" G_GINT64_FORMAT " pages, %" G_GINT64_FORMAT " bytes\n",
                   s->pages, s->bytes);
    monitor_printf(mon,
                   "disks: last %" G_GINT64_FORMAT " bytes, all %" G_GINT64_FORMAT
                   " bytes; emptying last %.3f ms, max %.3f ms, all %.3f ms\n",
                   s->last_disk_bytes, s->disk_bytes, s->last_disk_empty_ms, s->max_disk_empty_ms,
                   s->disk_empty_ms);
}

void hmp_x_colo_lost_heartbeat(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_x_colo_lost_heartbeat(&err);
    hmp_handle_error(mon, err);
}

void hmp_migrate_set_capability(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *name = hmp_args_get_str(args, "capability");
    int cap = qapi_enum_parse(MigrationCapability_lookup, name);
    if (cap < 0) {
        error_setg(&err, "invalid parameter value: %s", name);
        hmp_handle_error(mon, err);
        return;
    }
    MigrationCapabilityStatus st = {.capability = cap,
                                    .state = hmp_args_get_bool(args, "state", FALSE)};
    GPtrArray *list = g_ptr_array_new();
    g_ptr_array_add(list, &st);
    qmp_migrate_set_capabilities(list, &err);
    g_ptr_array_unref(list);
    hmp_handle_error(mon, err);
}

/* An unsigned number as 7.2's string visitor reads one (any C base, no suffix). */
static bool parse_uint(const char *name, const char *value, uint64_t max, const char *ctype,
                       uint64_t *out, GError **errp)
{
    char *end;
    errno = 0;
    uint64_t v = g_ascii_strtoull(value, &end, 0);
    if (!*value || *end || errno) {
        error_set_param_value(errp, name, "uint64");
        return false;
    }
    if (v > max) {
        error_set_param_value(errp, name, ctype);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u8(const char *name, const char *value, bool *has, uint8_t *out, GError **errp)
{
    uint64_t v;
    if (!parse_uint(name, value, UINT8_MAX, "uint8_t", &v, errp)) {
        return false;
    }
    *has = true;
    *out = v;
    return true;
}

static bool parse_size(const char *name, const char *value, bool *has, uint64_t *out, GError **errp)
{
    guint64 v;
    if (!keyval_parse_size(name, value, &v, errp)) {
        return false;
    }
    *has = true;
    *out = v;
    return true;
}

static bool parse_bool(const char *name, const char *value, bool *has, bool *out, GError **errp)
{
    /* the string visitor knows on/off, yes/no and true/false */
    static const char *const yes[] = {"on", "yes", "true"}, *const no[] = {"off", "no", "false"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
            *has = true;
            *out = strcmp(value, yes[i]) == 0;
            return true;
        }
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
    return false;
}

static StrOrNull *str_or_null(const char *value)
{
    StrOrNull *s = g_new0(StrOrNull, 1);
    s->type = QAPI_ALT_STRING;
    s->u.s = g_strdup(value);
    return s;
}

/* One parameter from its HMP words into @p; false with *errp set if the value is not valid. */
static bool parse_param(MigrationParameter which, const char *value, MigrateSetParameters *p,
                        GError **errp)
{
    const char *name = MigrationParameter_str(which);
    uint64_t v;
    switch (which) {
    case MIGRATION_PARAMETER_ANNOUNCE_INITIAL:
        return parse_size(name, value, &p->has_announce_initial, &p->announce_initial, errp);
    case MIGRATION_PARAMETER_ANNOUNCE_MAX:
        return parse_size(name, value, &p->has_announce_max, &p->announce_max, errp);
    case MIGRATION_PARAMETER_ANNOUNCE_ROUNDS:
        return parse_size(name, value, &p->has_announce_rounds, &p->announce_rounds, errp);
    case MIGRATION_PARAMETER_ANNOUNCE_STEP:
        return parse_size(name, value, &p->has_announce_step, &p->announce_step, errp);
    case MIGRATION_PARAMETER_COMPRESS_LEVEL:
        return parse_u8(name, value, &p->has_compress_level, &p->compress_level, errp);
    case MIGRATION_PARAMETER_COMPRESS_THREADS:
        return parse_u8(name, value, &p->has_compress_threads, &p->compress_threads, errp);
    case MIGRATION_PARAMETER_DECOMPRESS_THREADS:
        return parse_u8(name, value, &p->has_decompress_threads, &p->decompress_threads, errp);
    case MIGRATION_PARAMETER_COMPRESS_WAIT_THREAD:
        return parse_bool(name, value, &p->has_compress_wait_thread, &p->compress_wait_thread,
                          errp);
    case MIGRATION_PARAMETER_THROTTLE_TRIGGER_THRESHOLD:
        return parse_u8(name, value, &p->has_throttle_trigger_threshold,
                        &p->throttle_trigger_threshold, errp);
    case MIGRATION_PARAMETER_CPU_THROTTLE_INITIAL:
        return parse_u8(name, value, &p->has_cpu_throttle_initial, &p->cpu_throttle_initial, errp);
    case MIGRATION_PARAMETER_CPU_THROTTLE_INCREMENT:
        return parse_u8(name, value, &p->has_cpu_throttle_increment, &p->cpu_throttle_increment,
                        errp);
    case MIGRATION_PARAMETER_CPU_THROTTLE_TAILSLOW:
        return parse_bool(name, value, &p->has_cpu_throttle_tailslow, &p->cpu_throttle_tailslow,
                          errp);
    case MIGRATION_PARAMETER_MAX_CPU_THROTTLE:
        return parse_u8(name, value, &p->has_max_cpu_throttle, &p->max_cpu_throttle, errp);
    case MIGRATION_PARAMETER_TLS_CREDS:
        p->tls_creds = str_or_null(value);
        return true;
    case MIGRATION_PARAMETER_TLS_HOSTNAME:
        p->tls_hostname = str_or_null(value);
        return true;
    case MIGRATION_PARAMETER_TLS_AUTHZ:
        p->tls_authz = str_or_null(value);
        return true;
    case MIGRATION_PARAMETER_MAX_BANDWIDTH: {
        /* a plain number is MiB/s here, as in 7.2 */
        guint64 bw;
        if (keyval_strtosz(value, 20, &bw) != 0) {
            error_setg(errp, "Invalid size %s", value);
            return false;
        }
        p->has_max_bandwidth = true;
        p->max_bandwidth = bw;
        return true;
    }
    case MIGRATION_PARAMETER_DOWNTIME_LIMIT:
        return parse_size(name, value, &p->has_downtime_limit, &p->downtime_limit, errp);
    case MIGRATION_PARAMETER_X_CHECKPOINT_DELAY:
        if (!parse_uint(name, value, UINT32_MAX, "uint32_t", &v, errp)) {
            return false;
        }
        p->has_x_checkpoint_delay = true;
        p->x_checkpoint_delay = v;
        return true;
    case MIGRATION_PARAMETER_BLOCK_INCREMENTAL:
        return parse_bool(name, value, &p->has_block_incremental, &p->block_incremental, errp);
    case MIGRATION_PARAMETER_MULTIFD_CHANNELS:
        return parse_u8(name, value, &p->has_multifd_channels, &p->multifd_channels, errp);
    case MIGRATION_PARAMETER_XBZRLE_CACHE_SIZE:
        return parse_size(name, value, &p->has_xbzrle_cache_size, &p->xbzrle_cache_size, errp);
    case MIGRATION_PARAMETER_MAX_POSTCOPY_BANDWIDTH:
        return parse_size(name, value, &p->has_max_postcopy_bandwidth, &p->max_postcopy_bandwidth,
                          errp);
    case MIGRATION_PARAMETER_MULTIFD_COMPRESSION: {
        int c = qapi_enum_parse(MultiFDCompression_lookup, value);
        if (c < 0) {
            error_setg(errp, "Parameter '%s' does not accept value '%s'", name, value);
            return false;
        }
        p->has_multifd_compression = true;
        p->multifd_compression = c;
        return true;
    }
    case MIGRATION_PARAMETER_MULTIFD_ZLIB_LEVEL:
        return parse_u8(name, value, &p->has_multifd_zlib_level, &p->multifd_zlib_level, errp);
    case MIGRATION_PARAMETER_MULTIFD_ZSTD_LEVEL:
        return parse_u8(name, value, &p->has_multifd_zstd_level, &p->multifd_zstd_level, errp);
    case MIGRATION_PARAMETER_BLOCK_BITMAP_MAPPING:
    default:
        error_setg(errp, "The block-bitmap-mapping parameter can only be set through QMP");
        return false;
    }
}

void hmp_migrate_set_parameter(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *name = hmp_args_get_str(args, "parameter");
    const char *value = hmp_args_get_str(args, "value");
    int which = qapi_enum_parse(MigrationParameter_lookup, name);
    if (which < 0) {
        error_setg(&err, "invalid parameter value: %s", name);
        hmp_handle_error(mon, err);
        return;
    }
    MigrateSetParameters *p = g_new0(MigrateSetParameters, 1);
    if (parse_param(which, value, p, &err)) {
        qmp_migrate_set_parameters(p, &err);
    }
    qapi_free_MigrateSetParameters(p);
    hmp_handle_error(mon, err);
}

void hmp_info_migrate_capabilities(Monitor *mon, const HmpArgs *args)
{
    GPtrArray *caps = qmp_query_migrate_capabilities(NULL);
    for (guint i = 0; i < caps->len; i++) {
        MigrationCapabilityStatus *st = g_ptr_array_index(caps, i);
        monitor_printf(mon, "%s: %s\n", MigrationCapability_str(st->capability),
                       st->state ? "on" : "off");
    }
    g_ptr_array_unref(caps);
}

static const char *on_off(bool b)
{
    return b ? "on" : "off";
}

static void print_bitmap_mapping(Monitor *mon, GPtrArray *map)
{
    monitor_printf(mon, "%s:\n", MigrationParameter_str(MIGRATION_PARAMETER_BLOCK_BITMAP_MAPPING));
    for (guint i = 0; i < map->len; i++) {
        BitmapMigrationNodeAlias *n = g_ptr_array_index(map, i);
        monitor_printf(mon, "  '%s' -> '%s'\n", n->node_name, n->alias);
        for (guint j = 0; n->bitmaps && j < n->bitmaps->len; j++) {
            BitmapMigrationBitmapAlias *b = g_ptr_array_index(n->bitmaps, j);
            monitor_printf(mon, "    '%s' -> '%s'\n", b->name, b->alias);
        }
    }
}

/* 7.2's lines, in its order (not the schema's), with its units. */
void hmp_info_migrate_parameters(Monitor *mon, const HmpArgs *args)
{
    MigrationParameters *p = qmp_query_migrate_parameters(NULL);
#define P(param) MigrationParameter_str(MIGRATION_PARAMETER_##param)
    monitor_printf(mon, "%s: %" PRIu64 " ms\n", P(ANNOUNCE_INITIAL), p->announce_initial);
    monitor_printf(mon, "%s: %" PRIu64 " ms\n", P(ANNOUNCE_MAX), p->announce_max);
    monitor_printf(mon, "%s: %" PRIu64 "\n", P(ANNOUNCE_ROUNDS), p->announce_rounds);
    monitor_printf(mon, "%s: %" PRIu64 " ms\n", P(ANNOUNCE_STEP), p->announce_step);
    monitor_printf(mon, "%s: %u\n", P(COMPRESS_LEVEL), p->compress_level);
    monitor_printf(mon, "%s: %u\n", P(COMPRESS_THREADS), p->compress_threads);
    monitor_printf(mon, "%s: %s\n", P(COMPRESS_WAIT_THREAD), on_off(p->compress_wait_thread));
    monitor_printf(mon, "%s: %u\n", P(DECOMPRESS_THREADS), p->decompress_threads);
    monitor_printf(mon, "%s: %u\n", P(THROTTLE_TRIGGER_THRESHOLD), p->throttle_trigger_threshold);
    monitor_printf(mon, "%s: %u\n", P(CPU_THROTTLE_INITIAL), p->cpu_throttle_initial);
    monitor_printf(mon, "%s: %u\n", P(CPU_THROTTLE_INCREMENT), p->cpu_throttle_increment);
    monitor_printf(mon, "%s: %s\n", P(CPU_THROTTLE_TAILSLOW), on_off(p->cpu_throttle_tailslow));
    monitor_printf(mon, "%s: %u\n", P(MAX_CPU_THROTTLE), p->max_cpu_throttle);
    monitor_printf(mon, "%s: '%s'\n", P(TLS_CREDS), p->tls_creds);
    monitor_printf(mon, "%s: '%s'\n", P(TLS_HOSTNAME), p->tls_hostname);
    monitor_printf(mon, "%s: %" PRIu64 " bytes/second\n", P(MAX_BANDWIDTH), p->max_bandwidth);
    monitor_printf(mon, "%s: %" PRIu64 " ms\n", P(DOWNTIME_LIMIT), p->downtime_limit);
    monitor_printf(mon, "%s: %u ms\n", P(X_CHECKPOINT_DELAY), p->x_checkpoint_delay);
    monitor_printf(mon, "%s: %s\n", P(BLOCK_INCREMENTAL), on_off(p->block_incremental));
    monitor_printf(mon, "%s: %u\n", P(MULTIFD_CHANNELS), p->multifd_channels);
    monitor_printf(mon, "%s: %s\n", P(MULTIFD_COMPRESSION),
                   MultiFDCompression_str(p->multifd_compression));
    monitor_printf(mon, "%s: %" PRIu64 " bytes\n", P(XBZRLE_CACHE_SIZE), p->xbzrle_cache_size);
    monitor_printf(mon, "%s: %" PRIu64 "\n", P(MAX_POSTCOPY_BANDWIDTH), p->max_postcopy_bandwidth);
    monitor_printf(mon, "%s: '%s'\n", P(TLS_AUTHZ), p->tls_authz);
#undef P
    if (p->block_bitmap_mapping) {
        print_bitmap_mapping(mon, p->block_bitmap_mapping);
    }
    qapi_free_MigrationParameters(p);
}

/* announce_self [interfaces] [id]: the schedule comes from the announce-* parameters. */
void hmp_announce_self(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *ifs = hmp_args_get_str(args, "interfaces");
    const char *id = hmp_args_get_str(args, "id");
    AnnounceParameters *p = migrate_announce_params();
    if (ifs) {
        char **names = g_strsplit(ifs, ",", -1);
        p->interfaces = g_ptr_array_new_with_free_func(g_free);
        for (char **n = names; *n; n++) {
            g_ptr_array_add(p->interfaces, g_strdup(*n));
        }
        g_strfreev(names);
    }
    p->id = g_strdup(id);
    qmp_announce_self(p, &err);
    qapi_free_AnnounceParameters(p);
    hmp_handle_error(mon, err);
}

/*
 * migrate without -d: 7.2 looks at the migration every second and gives the prompt back once it
 * is neither setup nor active; a failure's reason goes where error_report goes outside a command
 * (stderr), not to the monitor.
 */
static gboolean migrate_still_running(Monitor *mon, void *opaque)
{
    g_autoptr(MigrationInfo) info = qmp_query_migrate(NULL);
    if (!info->has_status || info->status == MIGRATION_STATUS_ACTIVE ||
        info->status == MIGRATION_STATUS_SETUP) {
        return TRUE;
    }
    if (info->error_desc) {
        error_report("%s", info->error_desc);
    }
    return FALSE;
}

void hmp_migrate(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_migrate(hmp_args_get_str(args, "uri"), true, hmp_args_get_bool(args, "blk", FALSE), true,
                hmp_args_get_bool(args, "inc", FALSE), false, false, true,
                hmp_args_get_bool(args, "resume", FALSE), &err);
    if (err) {
        hmp_handle_error(mon, err);
        return;
    }
    if (hmp_args_get_bool(args, "detach", FALSE)) {
        return;
    }
    if (!hmp_wait(mon, 1000, migrate_still_running, NULL, NULL)) {
        monitor_printf(mon, "terminal does not allow synchronous migration, continuing detached\n");
    }
}

void hmp_migrate_cancel(Monitor *mon, const HmpArgs *args)
{
    qmp_migrate_cancel(NULL);
}

void hmp_migrate_continue(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    const char *name = hmp_args_get_str(args, "state");
    int state = qapi_enum_parse(MigrationStatus_lookup, name);
    if (state < 0) {
        error_setg(&err, "invalid parameter value: %s", name);
    } else {
        qmp_migrate_continue(state, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_migrate_incoming(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_migrate_incoming(hmp_args_get_str(args, "uri"), &err);
    hmp_handle_error(mon, err);
}

void hmp_info_migrate(Monitor *mon, const HmpArgs *args)
{
    g_autoptr(MigrationInfo) info = qmp_query_migrate(NULL);
    /* upstream's migration globals, fixed values in 7.2's pc machine */
    monitor_printf(mon, "globals:\nstore-global-state: on\nonly-migratable: off\n"
                        "send-configuration: on\nsend-section-footer: on\n"
                        "decompress-error-check: on\nclear-bitmap-shift: 18\n");
    if (info->has_status) {
        monitor_printf(mon, "Migration status: %s", MigrationStatus_str(info->status));
        if (info->status == MIGRATION_STATUS_FAILED && info->error_desc) {
            monitor_printf(mon, " (%s)\n", info->error_desc);
        } else {
            monitor_printf(mon, "\n");
        }
        monitor_printf(mon, "total time: %" G_GINT64_FORMAT " ms\n", info->total_time);
        if (info->has_expected_downtime) {
            monitor_printf(mon, "expected downtime: %" G_GINT64_FORMAT " ms\n",
                           info->expected_downtime);
        }
        if (info->has_downtime) {
            monitor_printf(mon, "downtime: %" G_GINT64_FORMAT " ms\n", info->downtime);
        }
        if (info->has_setup_time) {
            monitor_printf(mon, "setup: %" G_GINT64_FORMAT " ms\n", info->setup_time);
        }
    }
    MigrationStats *r = info->ram;
    if (!r) {
        return;
    }
    monitor_printf(mon, "transferred ram: %" G_GINT64_FORMAT " kbytes\n", r->transferred >> 10);
    monitor_printf(mon, "throughput: %0.2f mbps\n", r->mbps);
    monitor_printf(mon, "remaining ram: %" G_GINT64_FORMAT " kbytes\n", r->remaining >> 10);
    monitor_printf(mon, "total ram: %" G_GINT64_FORMAT " kbytes\n", r->total >> 10);
    monitor_printf(mon, "duplicate: %" G_GINT64_FORMAT " pages\n", r->duplicate);
    monitor_printf(mon, "skipped: %" G_GINT64_FORMAT " pages\n", r->skipped);
    monitor_printf(mon, "normal: %" G_GINT64_FORMAT " pages\n", r->normal);
    monitor_printf(mon, "normal bytes: %" G_GINT64_FORMAT " kbytes\n", r->normal_bytes >> 10);
    monitor_printf(mon, "dirty sync count: %" G_GINT64_FORMAT "\n", r->dirty_sync_count);
    monitor_printf(mon, "page size: %" G_GINT64_FORMAT " kbytes\n", r->page_size >> 10);
    monitor_printf(mon, "multifd bytes: %" G_GUINT64_FORMAT " kbytes\n", r->multifd_bytes >> 10);
    monitor_printf(mon, "pages-per-second: %" G_GUINT64_FORMAT "\n", r->pages_per_second);
    if (r->dirty_pages_rate) {
        monitor_printf(mon, "dirty pages rate: %" G_GINT64_FORMAT " pages\n", r->dirty_pages_rate);
    }
    if (r->precopy_bytes) {
        monitor_printf(mon, "precopy ram: %" G_GUINT64_FORMAT " kbytes\n", r->precopy_bytes >> 10);
    }
    if (r->downtime_bytes) {
        monitor_printf(mon, "downtime ram: %" G_GUINT64_FORMAT " kbytes\n",
                       r->downtime_bytes >> 10);
    }
}
