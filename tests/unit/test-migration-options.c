/* Migration capabilities and parameters (migration/options.c) through the store's setters and
 * getters (the QMP commands over them are monitor/qmp-cmds-migration.c). */
#include <string.h>

#include "migration/options.h"
#include "qapi/qapi-runtime.h"

static void set_cap(MigrationCapability cap, bool on, GError **errp)
{
    MigrationCapabilityStatus st = {.capability = cap, .state = on};
    GPtrArray *list = g_ptr_array_new();
    g_ptr_array_add(list, &st);
    migrate_caps_set(list, errp);
    g_ptr_array_unref(list);
}

static void test_defaults(void)
{
    migrate_options_reset();
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 128 << 20);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 300);
    g_assert_cmpuint(migrate_checkpoint_delay_ms(), ==, 20000);
    g_assert_cmpuint(migrate_max_postcopy_bandwidth(), ==, 0);
    g_autoptr(AnnounceParameters) ap = migrate_announce_params();
    g_assert_cmpint(ap->initial, ==, 50);
    g_assert_cmpint(ap->max, ==, 550);
    g_assert_cmpint(ap->rounds, ==, 5);
    g_assert_cmpint(ap->step, ==, 100);
    g_assert_null(ap->interfaces);
    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        g_assert_false(migrate_cap_enabled(c));
    }
    g_autoptr(MigrationParameters) p = migrate_params_get();
    g_assert_cmpstr(p->tls_creds, ==, "");
    g_assert_null(p->block_bitmap_mapping);
    g_assert_true(p->has_xbzrle_cache_size);
    g_assert_cmpuint(p->xbzrle_cache_size, ==, 64 << 20);
}

static void test_set_parameters_reach_getters(void)
{
    migrate_options_reset();
    MigrateSetParameters in = {
        .has_max_bandwidth = true,
        .max_bandwidth = 10ULL << 30,
        .has_downtime_limit = true,
        .downtime_limit = 2000000,
        .has_x_checkpoint_delay = true,
        .x_checkpoint_delay = 100,
        .has_announce_rounds = true,
        .announce_rounds = 0,
        .has_announce_step = true,
        .announce_step = 10000,
    };
    GError *err = NULL;
    migrate_params_set(&in, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 10ULL << 30);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 2000000);
    g_assert_cmpuint(migrate_checkpoint_delay_ms(), ==, 100);
    g_autoptr(AnnounceParameters) ap = migrate_announce_params();
    g_assert_cmpint(ap->rounds, ==, 0);
    g_assert_cmpint(ap->step, ==, 10000);
    g_assert_cmpint(ap->initial, ==, 50); /* untouched */
}

/* A request with one bad value changes nothing, and the error is upstream's. */
static void test_range_error_is_atomic(void)
{
    migrate_options_reset();
    MigrateSetParameters in = {
        .has_downtime_limit = true,
        .downtime_limit = 1,
        .has_announce_step = true,
        .announce_step = 0,
    };
    GError *err = NULL;
    migrate_params_set(&in, &err);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'announce_step' expects a value between 0 and 10000");
    g_clear_error(&err);
    g_assert_cmpuint(migrate_downtime_limit_ms(), ==, 300);

    MigrateSetParameters bad[] = {
        {.has_downtime_limit = true, .downtime_limit = 2000001},
        {.has_compress_level = true, .compress_level = 10},
        {.has_xbzrle_cache_size = true, .xbzrle_cache_size = 4096 + 1},
        {.has_max_cpu_throttle = true, .max_cpu_throttle = 19}, /* below cpu-throttle-initial */
        {.has_announce_initial = true, .announce_initial = 100001},
        {.has_announce_rounds = true, .announce_rounds = 1001},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        migrate_params_set(&bad[i], &err);
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    g_autoptr(MigrationParameters) p = migrate_params_get();
    g_assert_cmpuint(p->downtime_limit, ==, 300);
    g_assert_cmpuint(p->compress_level, ==, 1);
    g_assert_cmpuint(p->max_cpu_throttle, ==, 99);
    g_assert_cmpuint(p->announce_rounds, ==, 5);
}

static void test_tls_strings(void)
{
    migrate_options_reset();
    StrOrNull s = {.type = QAPI_ALT_STRING, .u.s = (char *)"creds0"};
    MigrateSetParameters in = {.tls_creds = &s};
    migrate_params_set(&in, NULL);
    g_autoptr(MigrationParameters) p = migrate_params_get();
    g_assert_cmpstr(p->tls_creds, ==, "creds0");
    StrOrNull n = {.type = QAPI_ALT_NULL};
    MigrateSetParameters reset = {.tls_creds = &n};
    migrate_params_set(&reset, NULL);
    g_autoptr(MigrationParameters) q = migrate_params_get();
    g_assert_cmpstr(q->tls_creds, ==, "");
}

static void test_capabilities(void)
{
    migrate_options_reset();
    GError *err = NULL;
    set_cap(MIGRATION_CAPABILITY_EVENTS, true, &err);
    g_assert_no_error(err);
    g_assert_true(migrate_cap_enabled(MIGRATION_CAPABILITY_EVENTS));
    set_cap(MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER, true, &err);
    g_assert_no_error(err);

    /* x-colo needs the COLO frame; others we lack are refused by name */
    set_cap(MIGRATION_CAPABILITY_X_COLO, true, &err);
    g_assert_nonnull(err);
    g_clear_error(&err);
    set_cap(MIGRATION_CAPABILITY_XBZRLE, true, &err);
    g_assert_cmpstr(err->message, ==, "Capability 'xbzrle' is not supported by qemu-colo");
    g_clear_error(&err);
    set_cap(MIGRATION_CAPABILITY_XBZRLE, false, &err); /* switching off is always fine */
    g_assert_no_error(err);

    migrate_cap_set_supported(MIGRATION_CAPABILITY_X_COLO, true);
    set_cap(MIGRATION_CAPABILITY_X_COLO, true, &err);
    g_assert_no_error(err);
    g_assert_true(migrate_cap_enabled(MIGRATION_CAPABILITY_X_COLO));

    g_assert_cmpint(MIGRATION_CAPABILITY_XBZRLE, ==, 0);
    g_assert_false(migrate_cap_enabled(MIGRATION_CAPABILITY_XBZRLE));
}

static bool busy_answer;
static int busy_calls;

static bool busy(void *opaque)
{
    g_assert_true(opaque == &busy_answer);
    busy_calls++;
    return busy_answer;
}

static void test_busy_hook(void)
{
    migrate_options_reset();
    migrate_options_set_busy_hook(busy, &busy_answer);
    GError *err = NULL;
    busy_answer = true;
    set_cap(MIGRATION_CAPABILITY_EVENTS, true, &err);
    g_assert_cmpstr(err->message, ==, "There's a migration process in progress");
    g_clear_error(&err);
    g_assert_false(migrate_cap_enabled(MIGRATION_CAPABILITY_EVENTS));
    /* parameters may change during a migration (bandwidth, downtime) */
    MigrateSetParameters in = {.has_max_bandwidth = true, .max_bandwidth = 1};
    migrate_params_set(&in, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(migrate_max_bandwidth(), ==, 1);

    busy_answer = false;
    set_cap(MIGRATION_CAPABILITY_EVENTS, true, &err);
    g_assert_no_error(err);
    g_assert_cmpint(busy_calls, ==, 2);
    migrate_options_set_busy_hook(NULL, NULL);
}

static void test_bitmap_mapping_kept(void)
{
    migrate_options_reset();
    BitmapMigrationNodeAlias node = {
        .node_name = (char *)"n0", .alias = (char *)"a0", .bitmaps = g_ptr_array_new()};
    GPtrArray *map = g_ptr_array_new();
    g_ptr_array_add(map, &node);
    MigrateSetParameters in = {.block_bitmap_mapping = map};
    GError *err = NULL;
    migrate_params_set(&in, &err);
    g_assert_no_error(err);
    g_autoptr(MigrationParameters) p = migrate_params_get();
    g_assert_nonnull(p->block_bitmap_mapping);
    g_assert_cmpuint(p->block_bitmap_mapping->len, ==, 1);
    BitmapMigrationNodeAlias *got = g_ptr_array_index(p->block_bitmap_mapping, 0);
    g_assert_cmpstr(got->node_name, ==, "n0");
    g_assert_cmpstr(got->alias, ==, "a0");

    node.alias = (char *)"0bad"; /* not an identifier */
    migrate_params_set(&in, &err);
    g_assert_cmpstr(err->message, ==,
                    "Invalid mapping given for block-bitmap-mapping: The node alias '0bad' "
                    "is not well-formed");
    g_clear_error(&err);
    g_ptr_array_unref(node.bitmaps);
    g_ptr_array_unref(map);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/options/defaults", test_defaults);
    g_test_add_func("/migration/options/set-reaches-getters", test_set_parameters_reach_getters);
    g_test_add_func("/migration/options/range-error-is-atomic", test_range_error_is_atomic);
    g_test_add_func("/migration/options/tls-strings", test_tls_strings);
    g_test_add_func("/migration/options/capabilities", test_capabilities);
    g_test_add_func("/migration/options/busy-hook", test_busy_hook);
    g_test_add_func("/migration/options/bitmap-mapping", test_bitmap_mapping_kept);
    return g_test_run();
}
