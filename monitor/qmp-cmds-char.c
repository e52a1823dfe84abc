/* QMP and HMP commands over chardevs (built once chardev/ provides its library). */
#include "monitor/monitor.h"
#include "monitor/hmp.h"
#include "qapi-commands.h"
#include "chardev/char.h"
#include "util/error.h"
#include "util/keyval.h"

GPtrArray *qmp_query_chardev(GError **errp)
{
    GPtrArray *list = qapi_list_new_ChardevInfo();
    GPtrArray *chrs = chardev_list();
    for (guint i = 0; i < chrs->len; i++) {
        Chardev *chr = g_ptr_array_index(chrs, i);
        ChardevInfo *info = g_new0(ChardevInfo, 1);
        info->label = g_strdup(chardev_get_id(chr));
        info->filename = chardev_filename(chr);
        info->frontend_open = chardev_frontend_open(chr);
        g_ptr_array_add(list, info);
    }
    g_ptr_array_unref(chrs);
    return list;
}

/*
 * The generated marshaller has checked the arguments against the schema; the chardev layer
 * takes the backend in its JSON form, as -chardev's JSON syntax does.
 */
ChardevReturn *qmp_chardev_add(const char *id, ChardevBackend *backend, GError **errp)
{
    JsonNode *node = qapi_ChardevBackend_to_json(backend);
    Chardev *chr = chardev_new_from_json(id, json_node_get_object(node), errp);
    json_node_unref(node);
    return chr ? g_new0(ChardevReturn, 1) : NULL;
}

void qmp_chardev_remove(const char *id, GError **errp)
{
    chardev_remove(id, errp);
}

void hmp_chardev_add(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    KeyvalList *opts = keyval_parse(hmp_args_get_str(args, "args"), "backend", KEYVAL_OPTS, &err);
    const char *id = opts ? keyval_get(opts, "id") : NULL;
    if (id && chardev_find(id)) {
        /* upstream's chardev tree refuses the name; -chardev's "Duplicate ID" is not said here */
        error_setg(&err, "attempt to add duplicate property '%s' to object (type 'container')", id);
    } else if (opts) {
        chardev_new_from_opts(opts, &err);
    }
    keyval_list_free(opts);
    hmp_handle_error(mon, err);
}

void hmp_chardev_remove(Monitor *mon, const HmpArgs *args)
{
    GError *err = NULL;
    qmp_chardev_remove(hmp_args_get_str(args, "id"), &err);
    hmp_handle_error(mon, err);
}

void hmp_info_chardev(Monitor *mon, const HmpArgs *args)
{
    GPtrArray *list = qmp_query_chardev(NULL);
    for (guint i = 0; list && i < list->len; i++) {
        ChardevInfo *c = g_ptr_array_index(list, i);
        monitor_printf(mon, "%s: filename=%s\n", c->label, c->filename);
    }
    if (list) {
        g_ptr_array_unref(list);
    }
}
