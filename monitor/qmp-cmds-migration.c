/*
 * QMP for migration capabilities and parameters (qapi/migration.json): the commands over the
 * store in migration/options.c, which holds the values, 7.2's checks and the getters. HMP
 * (monitor/hmp-cmds-migration.c) calls these same functions.
 */
#include "migration/options.h"
#include "qapi-commands.h"

void qmp_migrate_set_capabilities(GPtrArray *capabilities, GError **errp)
{
    migrate_caps_set(capabilities, errp);
}

GPtrArray *qmp_query_migrate_capabilities(GError **errp)
{
    GPtrArray *list =
        g_ptr_array_new_with_free_func((GDestroyNotify)qapi_free_MigrationCapabilityStatus);
    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        MigrationCapabilityStatus *st = g_new0(MigrationCapabilityStatus, 1);
        st->capability = c;
        st->state = migrate_cap_enabled(c);
        g_ptr_array_add(list, st);
    }
    return list;
}

void qmp_migrate_set_parameters(MigrateSetParameters *in, GError **errp)
{
    migrate_params_set(in, errp);
}

MigrationParameters *qmp_query_migrate_parameters(GError **errp)
{
    return migrate_params_get();
}
