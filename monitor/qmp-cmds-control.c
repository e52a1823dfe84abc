/* Core QMP commands: version, command list, schema, quit, run state, name, HMP passthrough. */
#include "config-host.h"
#include "monitor-internal.h"
#include "block/block.h"
#include "migration/migration.h"
#include "monitor/hmp.h"
#include "qapi-commands.h"
#include "system/runstate.h"
#include "util/error.h"

extern const char qapi_introspect_json[];

VersionInfo *qmp_query_version(GError **errp)
{
    VersionInfo *info = g_new0(VersionInfo, 1);
    info->qemu = g_new0(VersionTriple, 1);
    info->qemu->major = QEMU_VERSION_MAJOR;
    info->qemu->minor = QEMU_VERSION_MINOR;
    info->qemu->micro = QEMU_VERSION_MICRO;
    info->package = g_strdup(QEMU_PKGVERSION);
    return info;
}

/* Newest-registered first, as upstream lists them (it prepends to its list). */
GPtrArray *qmp_query_commands(GError **errp)
{
    GPtrArray *list = qapi_list_new_CommandInfo();
    guint n = 0;
    while (qmp_command_table[n].name) {
        n++;
    }
    while (n--) {
        CommandInfo *ci = g_new0(CommandInfo, 1);
        ci->name = g_strdup(qmp_command_table[n].name);
        g_ptr_array_add(list, ci);
    }
    return list;
}

/* The generated schema text is parsed once; each call returns a copy. */
void qmp_marshal_query_qmp_schema(JsonObject *args, JsonNode **ret, GError **errp)
{
    static JsonNode *schema;
    if (!qapi_check_unused(args, NULL, NULL, errp)) {
        return;
    }
    if (!schema) {
        JsonParser *parser = json_parser_new();
        if (!json_parser_load_from_data(parser, qapi_introspect_json, -1, errp)) {
            g_object_unref(parser);
            return;
        }
        schema = json_node_copy(json_parser_get_root(parser));
        g_object_unref(parser);
    }
    *ret = json_node_copy(schema);
}

void qmp_quit(GError **errp)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    /* Upstream's SHUTDOWN event reaches clients before the reply to quit. */
    qemu_system_shutdown_finish();
}

StatusInfo *qmp_query_status(GError **errp)
{
    StatusInfo *info = g_new0(StatusInfo, 1);
    info->running = runstate_is_running();
    info->singlestep = false;
    info->status = runstate_get();
    return info;
}

void qmp_stop(GError **errp)
{
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        /* as upstream: the VM stays paused once the incoming migration completes */
        migration_incoming_set_autostart(false);
        return;
    }
    /*
     * A COLO checkpoint holds the VM (colo) only for its pause, then runs it again unless it
     * is stopped meanwhile: 7.2 ignores a stop in that window and the VM runs on, so ours
     * takes it (docs/colo.md, "Guest life cycle").
     */
    if (runstate_is_running() || runstate_check(RUN_STATE_COLO)) {
        vm_stop(RUN_STATE_PAUSED);
    }
}

void qmp_cont(GError **errp)
{
    if (runstate_check(RUN_STATE_INTERNAL_ERROR) || runstate_check(RUN_STATE_SHUTDOWN) ||
        runstate_check(RUN_STATE_GUEST_PANICKED)) {
        error_setg(errp, "Resetting the Virtual Machine is required");
        return;
    }
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        migration_incoming_set_autostart(true);
        return;
    }
    /* After a completed migration the images belong to the destination: taking them back
     * fails while it holds them, as upstream (nothing to do if none was let go). */
    if (!bdrv_activate_all(errp)) {
        return;
    }
    vm_start();
}

NameInfo *qmp_query_name(GError **errp)
{
    NameInfo *info = g_new0(NameInfo, 1);
    info->name = g_strdup(qemu_get_vm_name());
    return info;
}

static void capture_write(void *opaque, const char *buf, size_t len)
{
    g_string_append_len(opaque, buf, len);
}

char *qmp_human_monitor_command(const char *command_line, bool has_cpu_index, int64_t cpu_index,
                                GError **errp)
{
    GString *out = g_string_new(NULL);
    Monitor *hmp = monitor_new_hmp_custom(capture_write, out);
    /* Not registered for events and never opened: no banner, no echo. */
    monitor_unregister(hmp);
    Monitor *saved;
    monitor_set_cur(hmp, &saved);
    hmp_handle_command(hmp, command_line);
    monitor_set_cur(saved, NULL);
    monitor_free(hmp);
    return g_string_free(out, FALSE);
}

static void add_monitor_counters(Monitor *mon, void *opaque)
{
    GPtrArray *list = opaque;
    const char *chardev = monitor_chardev_id(mon);
    if (!chardev) {
        return; /* human-monitor-command's temporary monitors */
    }
    MonitorOutputStats st;
    monitor_chardev_get_stats(mon, &st);
    MonitorCounters *c = g_new0(MonitorCounters, 1);
    c->chardev = g_strdup(chardev);
    c->mode = g_strdup(monitor_is_qmp(mon) ? "control" : "readline");
    c->connected = mon->open;
    c->out_pending = st.pending;
    c->out_peak = st.peak;
    c->out_dropped = st.dropped_bytes;
    c->clients_dropped = st.clients_dropped;
    c->input_pauses = st.input_pauses;
    c->parse_errors = monitor_qmp_parse_errors(mon);
    g_ptr_array_add(list, c);
}

GPtrArray *qmp_x_query_monitors(GError **errp)
{
    GPtrArray *list = qapi_list_new_MonitorCounters();
    monitor_foreach(add_monitor_counters, list);
    return list;
}
