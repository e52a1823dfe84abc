/*
 * Migration capabilities and parameters (include/migration/options.h): the stored values, their
 * checks, the setters and the getters. The QMP commands over them are monitor/'s
 * (qmp-cmds-migration.c).
 */
#include <string.h>

#include "migration/options.h"
#include "qapi/qapi-runtime.h"
#include "util/error.h"
#include "util/keyval.h"

/* The guest page size xbzrle-cache-size is measured against. */
#define TARGET_PAGE_SIZE 4096

static GMutex lock;
static bool caps[MIGRATION_CAPABILITY__MAX];
static bool cap_supported[MIGRATION_CAPABILITY__MAX];
static MigrationParameters params;
/* block-bitmap-mapping as JSON (an array), NULL until set: 7.2 reports it only once set. */
static JsonNode *bitmap_mapping;
static MigrationBusyFn busy_fn;
static void *busy_opaque;
static gsize initialized;

static void set_defaults(void)
{
    g_free(params.tls_creds);
    g_free(params.tls_hostname);
    g_free(params.tls_authz);
    params = (MigrationParameters){
        .has_announce_initial = true,
        .announce_initial = 50,
        .has_announce_max = true,
        .announce_max = 550,
        .has_announce_rounds = true,
        .announce_rounds = 5,
        .has_announce_step = true,
        .announce_step = 100,
        .has_compress_level = true,
        .compress_level = 1,
        .has_compress_threads = true,
        .compress_threads = 8,
        .has_compress_wait_thread = true,
        .compress_wait_thread = true,
        .has_decompress_threads = true,
        .decompress_threads = 2,
        .has_throttle_trigger_threshold = true,
        .throttle_trigger_threshold = 50,
        .has_cpu_throttle_initial = true,
        .cpu_throttle_initial = 20,
        .has_cpu_throttle_increment = true,
        .cpu_throttle_increment = 10,
        .has_cpu_throttle_tailslow = true,
        .cpu_throttle_tailslow = false,
        .tls_creds = g_strdup(""),
        .tls_hostname = g_strdup(""),
        .tls_authz = g_strdup(""),
        .has_max_bandwidth = true,
        .max_bandwidth = MIGRATE_DEFAULT_MAX_BANDWIDTH,
        .has_downtime_limit = true,
        .downtime_limit = MIGRATE_DEFAULT_DOWNTIME_LIMIT_MS,
        .has_x_checkpoint_delay = true,
        .x_checkpoint_delay = MIGRATE_DEFAULT_CHECKPOINT_DELAY_MS,
        .has_block_incremental = true,
        .block_incremental = false,
        .has_multifd_channels = true,
        .multifd_channels = 2,
        .has_xbzrle_cache_size = true,
        .xbzrle_cache_size = 64ULL << 20,
        .has_max_postcopy_bandwidth = true,
        .max_postcopy_bandwidth = 0,
        .has_max_cpu_throttle = true,
        .max_cpu_throttle = 99,
        .has_multifd_compression = true,
        .multifd_compression = MULTI_FD_COMPRESSION_NONE,
        .has_multifd_zlib_level = true,
        .multifd_zlib_level = 1,
        .has_multifd_zstd_level = true,
        .multifd_zstd_level = 1,
    };
    if (bitmap_mapping) {
        json_node_unref(bitmap_mapping);
        bitmap_mapping = NULL;
    }
    memset(caps, 0, sizeof(caps));
    memset(cap_supported, 0, sizeof(cap_supported));
    cap_supported[MIGRATION_CAPABILITY_EVENTS] = true;
    cap_supported[MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = true;
    /* the migration engine has both: pages over extra channels (migration/multifd.c), and a
     * return path (COLO's messages come back on the main socket; precopy needs none) */
    cap_supported[MIGRATION_CAPABILITY_MULTIFD] = true;
    cap_supported[MIGRATION_CAPABILITY_RETURN_PATH] = true;
}

/* Every entry point comes here first: the values need no registration step in vl.c. */
static void ensure_init(void)
{
    if (g_once_init_enter(&initialized)) {
        set_defaults();
        g_once_init_leave(&initialized, 1);
    }
}

void migrate_options_reset(void)
{
    ensure_init();
    g_mutex_lock(&lock);
    set_defaults();
    busy_fn = NULL;
    busy_opaque = NULL;
    g_mutex_unlock(&lock);
}

/* ---- getters ---- */

bool migrate_cap_enabled(MigrationCapability cap)
{
    ensure_init();
    g_return_val_if_fail(cap < MIGRATION_CAPABILITY__MAX, false);
    g_mutex_lock(&lock);
    bool on = caps[cap];
    g_mutex_unlock(&lock);
    return on;
}

static uint64_t read_u64(const uint64_t *field)
{
    ensure_init();
    g_mutex_lock(&lock);
    uint64_t v = *field;
    g_mutex_unlock(&lock);
    return v;
}

uint64_t migrate_max_bandwidth(void)
{
    return read_u64(&params.max_bandwidth);
}

uint64_t migrate_downtime_limit_ms(void)
{
    return read_u64(&params.downtime_limit);
}

unsigned migrate_multifd_channels(void)
{
    ensure_init();
    g_mutex_lock(&lock);
    unsigned v = params.multifd_channels;
    g_mutex_unlock(&lock);
    return v;
}

MultiFDCompression migrate_multifd_compression(void)
{
    ensure_init();
    g_mutex_lock(&lock);
    MultiFDCompression v = params.multifd_compression;
    g_mutex_unlock(&lock);
    return v;
}

uint64_t migrate_max_postcopy_bandwidth(void)
{
    return read_u64(&params.max_postcopy_bandwidth);
}

uint64_t migrate_checkpoint_delay_ms(void)
{
    ensure_init();
    g_mutex_lock(&lock);
    uint64_t v = params.x_checkpoint_delay;
    g_mutex_unlock(&lock);
    return v;
}

AnnounceParameters *migrate_announce_params(void)
{
    ensure_init();
    AnnounceParameters *ap = g_new0(AnnounceParameters, 1);
    g_mutex_lock(&lock);
    ap->initial = params.announce_initial;
    ap->max = params.announce_max;
    ap->rounds = params.announce_rounds;
    ap->step = params.announce_step;
    g_mutex_unlock(&lock);
    return ap;
}

void migrate_options_set_busy_hook(MigrationBusyFn busy, void *opaque)
{
    ensure_init();
    g_mutex_lock(&lock);
    busy_fn = busy;
    busy_opaque = opaque;
    g_mutex_unlock(&lock);
}

static void (*delay_hook)(void);

void migrate_options_set_checkpoint_delay_hook(void (*fn)(void))
{
    ensure_init();
    g_mutex_lock(&lock);
    delay_hook = fn;
    g_mutex_unlock(&lock);
}

void migrate_cap_set_supported(MigrationCapability cap, bool supported)
{
    ensure_init();
    g_return_if_fail(cap < MIGRATION_CAPABILITY__MAX);
    g_mutex_lock(&lock);
    cap_supported[cap] = supported;
    g_mutex_unlock(&lock);
}

/* ---- capabilities ---- */

static bool cap_check(MigrationCapability cap, GError **errp)
{
    if (cap_supported[cap]) {
        return true;
    }
    if (cap == MIGRATION_CAPABILITY_X_COLO) {
        error_setg(errp, "Capability 'x-colo' cannot be enabled: qemu-colo has no COLO "
                         "checkpoint frame yet");
    } else {
        error_setg(errp, "Capability '%s' is not supported by qemu-colo",
                   MigrationCapability_str(cap));
    }
    return false;
}

bool migrate_caps_set(GPtrArray *capabilities, GError **errp)
{
    ensure_init();
    /* The busy hook belongs to the migration state machine: call it outside our lock. */
    g_mutex_lock(&lock);
    MigrationBusyFn busy = busy_fn;
    void *opaque = busy_opaque;
    g_mutex_unlock(&lock);
    if (busy && busy(opaque)) {
        error_setg(errp, "There's a migration process in progress");
        return false;
    }

    g_mutex_lock(&lock);
    bool next[MIGRATION_CAPABILITY__MAX];
    memcpy(next, caps, sizeof(next));
    for (guint i = 0; capabilities && i < capabilities->len; i++) {
        MigrationCapabilityStatus *st = g_ptr_array_index(capabilities, i);
        next[st->capability] = st->state;
    }
    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        if (next[c] && !caps[c] && !cap_check(c, errp)) {
            g_mutex_unlock(&lock);
            return false;
        }
    }
    memcpy(caps, next, sizeof(caps));
    g_mutex_unlock(&lock);
    return true;
}

/* ---- parameters ---- */

static bool param_range(GError **errp, bool bad, const char *name, const char *expects)
{
    if (bad) {
        error_set_param_value(errp, name, expects);
    }
    return !bad;
}

/* The names of block-bitmap-mapping, checked as 7.2 checks them (the nodes need not exist). */
static bool check_bitmap_node(BitmapMigrationNodeAlias *n, GHashTable *nodes, GHashTable *aliases,
                              GError **errp)
{
    if (!id_wellformed(n->alias)) {
        error_setg(errp, "The node alias '%s' is not well-formed", n->alias);
        return false;
    }
    if (strlen(n->alias) > UINT8_MAX) {
        error_setg(errp, "The node alias '%s' is longer than 255 bytes", n->alias);
        return false;
    }
    if (!g_hash_table_add(nodes, n->node_name)) {
        error_setg(errp, "The node name '%s' is mapped twice", n->node_name);
        return false;
    }
    if (!g_hash_table_add(aliases, n->alias)) {
        error_setg(errp, "The node alias '%s' is used twice", n->alias);
        return false;
    }
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) balias = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint j = 0; n->bitmaps && j < n->bitmaps->len; j++) {
        BitmapMigrationBitmapAlias *b = g_ptr_array_index(n->bitmaps, j);
        if (strlen(b->alias) > UINT8_MAX) {
            error_setg(errp, "The bitmap alias '%s'/'%s' is longer than 255 bytes", n->alias,
                       b->alias);
            return false;
        }
        if (!g_hash_table_add(names, b->name)) {
            error_setg(errp, "The bitmap '%s'/'%s' is mapped twice", n->node_name, b->name);
            return false;
        }
        if (!g_hash_table_add(balias, b->alias)) {
            error_setg(errp, "The bitmap alias '%s'/'%s' is used twice", n->alias, b->alias);
            return false;
        }
    }
    return true;
}

static bool check_bitmap_mapping(GPtrArray *map, GError **errp)
{
    g_autoptr(GHashTable) nodes = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) aliases = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < map->len; i++) {
        if (!check_bitmap_node(g_ptr_array_index(map, i), nodes, aliases, errp)) {
            error_prepend(errp, "Invalid mapping given for block-bitmap-mapping: ");
            return false;
        }
    }
    return true;
}

/* 7.2's checks, in its order, over the merged values (@p has every has_* set). */
static bool params_check(const MigrationParameters *p, GPtrArray *map, GError **errp)
{
    return param_range(errp, p->compress_level > 9, "compress_level", "a value between 0 and 9") &&
           param_range(errp, p->compress_threads < 1, "compress_threads",
                       "a value between 1 and 255") &&
           param_range(errp, p->decompress_threads < 1, "decompress_threads",
                       "a value between 1 and 255") &&
           param_range(errp,
                       p->throttle_trigger_threshold < 1 || p->throttle_trigger_threshold > 100,
                       "throttle_trigger_threshold", "an integer in the range of 1 to 100") &&
           param_range(errp, p->cpu_throttle_initial < 1 || p->cpu_throttle_initial > 99,
                       "cpu_throttle_initial", "an integer in the range of 1 to 99") &&
           param_range(errp, p->cpu_throttle_increment < 1 || p->cpu_throttle_increment > 99,
                       "cpu_throttle_increment", "an integer in the range of 1 to 99") &&
           param_range(errp, p->downtime_limit > MIGRATE_MAX_DOWNTIME_LIMIT_MS, "downtime_limit",
                       "an integer in the range of 0 to (2000 * 1000) ms") &&
           param_range(errp, p->multifd_channels < 1, "multifd_channels",
                       "a value between 1 and 255") &&
           param_range(errp,
                       p->xbzrle_cache_size < TARGET_PAGE_SIZE ||
                           (p->xbzrle_cache_size & (p->xbzrle_cache_size - 1)),
                       "xbzrle_cache_size", "a power of two no less than the target page size") &&
           param_range(
               errp, p->max_cpu_throttle < p->cpu_throttle_initial || p->max_cpu_throttle > 99,
               "max_cpu_throttle", "an integer in the range of cpu_throttle_initial to 99") &&
           param_range(errp, p->announce_initial > 100000, "announce_initial",
                       "a value between 0 and 100000") &&
           param_range(errp, p->announce_max > 100000, "announce_max",
                       "a value between 0 and 100000") &&
           param_range(errp, p->announce_rounds > 1000, "announce_rounds",
                       "a value between 0 and 1000") &&
           param_range(errp, p->announce_step < 1 || p->announce_step > 10000, "announce_step",
                       "a value between 0 and 10000") &&
           (!map || check_bitmap_mapping(map, errp));
}

/* A StrOrNull member: null means "" (7.2 resets the string). */
static void apply_str(char **field, const StrOrNull *v)
{
    if (!v) {
        return;
    }
    g_free(*field);
    *field = g_strdup(v->type == QAPI_ALT_STRING ? v->u.s : "");
}

#define MERGE(field)                                                                               \
    do {                                                                                           \
        if (in->has_##field) {                                                                     \
            out->field = in->field;                                                                \
        }                                                                                          \
    } while (0)

/*
 * Overlays @in on a copy of the scalar values. multifd-zlib-level and multifd-zstd-level are
 * accepted and dropped, as 7.2 does (its merge and apply skip them: they stay at 1).
 */
static void params_merge(const MigrateSetParameters *in, MigrationParameters *out)
{
    MERGE(announce_initial);
    MERGE(announce_max);
    MERGE(announce_rounds);
    MERGE(announce_step);
    MERGE(compress_level);
    MERGE(compress_threads);
    MERGE(compress_wait_thread);
    MERGE(decompress_threads);
    MERGE(throttle_trigger_threshold);
    MERGE(cpu_throttle_initial);
    MERGE(cpu_throttle_increment);
    MERGE(cpu_throttle_tailslow);
    MERGE(max_bandwidth);
    MERGE(downtime_limit);
    MERGE(x_checkpoint_delay);
    MERGE(block_incremental);
    MERGE(multifd_channels);
    MERGE(xbzrle_cache_size);
    MERGE(max_postcopy_bandwidth);
    MERGE(max_cpu_throttle);
    MERGE(multifd_compression);
}

static JsonNode *mapping_to_json(GPtrArray *map)
{
    JsonArray *arr = json_array_new();
    for (guint i = 0; i < map->len; i++) {
        json_array_add_element(arr,
                               qapi_BitmapMigrationNodeAlias_to_json(g_ptr_array_index(map, i)));
    }
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, arr);
    return node;
}

bool migrate_params_set(const MigrateSetParameters *in, GError **errp)
{
    ensure_init();
    g_mutex_lock(&lock);
    MigrationParameters next = params; /* scalars only: the strings stay owned by params */
    params_merge(in, &next);
    if (!params_check(&next, in->block_bitmap_mapping, errp)) {
        g_mutex_unlock(&lock);
        return false;
    }
    next.tls_creds = params.tls_creds;
    next.tls_hostname = params.tls_hostname;
    next.tls_authz = params.tls_authz;
    params = next;
    apply_str(&params.tls_creds, in->tls_creds);
    apply_str(&params.tls_hostname, in->tls_hostname);
    apply_str(&params.tls_authz, in->tls_authz);
    if (in->block_bitmap_mapping) {
        if (bitmap_mapping) {
            json_node_unref(bitmap_mapping);
        }
        bitmap_mapping = mapping_to_json(in->block_bitmap_mapping);
    }
    void (*hook)(void) = in->has_x_checkpoint_delay ? delay_hook : NULL;
    g_mutex_unlock(&lock);
    if (hook) {
        hook();
    }
    return true;
}

MigrationParameters *migrate_params_get(void)
{
    ensure_init();
    MigrationParameters *p = g_new(MigrationParameters, 1);
    g_mutex_lock(&lock);
    *p = params;
    p->tls_creds = g_strdup(params.tls_creds);
    p->tls_hostname = g_strdup(params.tls_hostname);
    p->tls_authz = g_strdup(params.tls_authz);
    /* 7.2 never reports the multifd levels it was given: both read 1. */
    p->multifd_zlib_level = 1;
    p->multifd_zstd_level = 1;
    p->block_bitmap_mapping =
        bitmap_mapping ? qapi_list_from_json_BitmapMigrationNodeAlias(bitmap_mapping, "", NULL)
                       : NULL;
    g_mutex_unlock(&lock);
    return p;
}
