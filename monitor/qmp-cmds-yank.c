/*
 * yank and query-yank over the registry of util/yank.h. Both may run out of band, on the
 * monitor I/O thread: they touch nothing but the registry.
 */
#include "qapi-commands.h"
#include "util/yank.h"

static YankKind kind_of(YankInstanceType t)
{
    switch (t) {
    case YANK_INSTANCE_TYPE_BLOCK_NODE:
        return YANK_KIND_BLOCK_NODE;
    case YANK_INSTANCE_TYPE_CHARDEV:
        return YANK_KIND_CHARDEV;
    default:
        return YANK_KIND_MIGRATION;
    }
}

static const char *name_of(const YankInstance *in)
{
    switch (in->type) {
    case YANK_INSTANCE_TYPE_BLOCK_NODE:
        return in->u.block_node.node_name;
    case YANK_INSTANCE_TYPE_CHARDEV:
        return in->u.chardev.id;
    default:
        return NULL;
    }
}

void qmp_yank(GPtrArray *instances, GError **errp)
{
    g_autofree YankKey *keys = g_new0(YankKey, MAX(instances->len, 1));
    for (guint i = 0; i < instances->len; i++) {
        const YankInstance *in = g_ptr_array_index(instances, i);
        keys[i].kind = kind_of(in->type);
        keys[i].name = (char *)name_of(in);
    }
    yank_run(keys, instances->len, errp);
}

GPtrArray *qmp_query_yank(GError **errp)
{
    GPtrArray *out = qapi_list_new_YankInstance();
    g_autoptr(GArray) keys = yank_list();
    for (guint i = 0; i < keys->len; i++) {
        const YankKey *k = &g_array_index(keys, YankKey, i);
        YankInstance *in = g_new0(YankInstance, 1);
        switch (k->kind) {
        case YANK_KIND_BLOCK_NODE:
            in->type = YANK_INSTANCE_TYPE_BLOCK_NODE;
            in->u.block_node.node_name = g_strdup(k->name);
            break;
        case YANK_KIND_CHARDEV:
            in->type = YANK_INSTANCE_TYPE_CHARDEV;
            in->u.chardev.id = g_strdup(k->name);
            break;
        case YANK_KIND_MIGRATION:
            in->type = YANK_INSTANCE_TYPE_MIGRATION;
            break;
        }
        g_ptr_array_add(out, in);
    }
    return out;
}
