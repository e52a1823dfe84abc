/* The netfilter base type: properties, linking into a netdev's chain, COLO events. */
#include "net/filter.h"
#include "util/error.h"
#include <string.h>

typedef struct NetFilterPrivate {
    NetFilterCommon common;
    NetFilterStats stats;
    bool set_up; /* setup() ran and cleanup() is owed */
} NetFilterPrivate;

enum { PROP_0, PROP_QUEUE, PROP_NETDEV, PROP_INSERT, PROP_STATUS, PROP_POSITION };

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE(NetFilter, net_filter, QOM_TYPE_OBJECT)

GType net_filter_direction_get_type(void)
{
    static GType type;
    static const GEnumValue values[] = {
        {NET_FILTER_DIRECTION_ALL, "NET_FILTER_DIRECTION_ALL", "all"},
        {NET_FILTER_DIRECTION_RX, "NET_FILTER_DIRECTION_RX", "rx"},
        {NET_FILTER_DIRECTION_TX, "NET_FILTER_DIRECTION_TX", "tx"},
        {0, NULL, NULL},
    };

    if (g_once_init_enter(&type)) {
        g_once_init_leave(&type, g_enum_register_static("NetFilterDirection", values));
    }
    return type;
}

GType net_filter_insert_get_type(void)
{
    static GType type;
    static const GEnumValue values[] = {
        {NET_FILTER_INSERT_BEFORE, "NET_FILTER_INSERT_BEFORE", "before"},
        {NET_FILTER_INSERT_BEHIND, "NET_FILTER_INSERT_BEHIND", "behind"},
        {0, NULL, NULL},
    };

    if (g_once_init_enter(&type)) {
        g_once_init_leave(&type, g_enum_register_static("NetfilterInsert", values));
    }
    return type;
}

static NetFilterPrivate *priv(NetFilter *nf)
{
    return net_filter_get_instance_private(nf);
}

NetFilterCommon *net_filter_common(NetFilter *nf)
{
    return &priv(nf)->common;
}

NetFilterStats *net_filter_stats(NetFilter *nf)
{
    return &priv(nf)->stats;
}

NetClientState *net_filter_netdev(NetFilter *nf)
{
    return priv(nf)->common.node.netdev;
}

NetFilterDirection net_filter_direction(NetFilter *nf)
{
    return priv(nf)->common.node.direction;
}

gboolean net_filter_is_on(NetFilter *nf)
{
    return priv(nf)->common.node.on;
}

const char *net_filter_id(NetFilter *nf)
{
    return qom_object_get_name(QOM_OBJECT(nf));
}

ssize_t net_filter_pass_to_next(NetFilter *nf, NetClientState *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt)
{
    return qemu_netfilter_pass_to_next(sender, flags, iov, iovcnt, &priv(nf)->common.node);
}

ssize_t net_filter_pass_to_next_async(NetFilter *nf, NetClientState *sender, unsigned flags,
                                      const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    return qemu_netfilter_pass_to_next_async(sender, flags, iov, iovcnt, &priv(nf)->common.node,
                                             sent_cb);
}

/* ---- the packet path ---- */

static ssize_t filter_node_receive(NetFilterNode *node, NetClientState *sender, unsigned flags,
                                   const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    NetFilter *nf = node->opaque;
    NetFilterPrivate *p = priv(nf);

    p->stats.packets++;
    p->stats.bytes += iov_size(iov, iovcnt);
    return NET_FILTER_GET_CLASS(nf)->receive_iov(nf, sender, flags, iov, iovcnt, sent_cb);
}

static void append_prop(GString *out, GObject *obj, const char *name)
{
    GParamSpec *pspec = qom_object_find_property(QOM_OBJECT(obj), name);
    GValue v = G_VALUE_INIT;

    if (!pspec) {
        return;
    }
    g_value_init(&v, pspec->value_type);
    g_object_get_property(obj, pspec->name, &v);
    g_string_append_printf(out, ",%s=", name);
    if (G_VALUE_HOLDS_BOOLEAN(&v)) {
        g_string_append(out, g_value_get_boolean(&v) ? "true" : "false");
    } else if (G_VALUE_HOLDS_STRING(&v)) {
        g_string_append(out, g_value_get_string(&v) ? g_value_get_string(&v) : "");
    } else if (G_VALUE_HOLDS_UINT(&v)) {
        g_string_append_printf(out, "%u", g_value_get_uint(&v));
    } else if (G_VALUE_HOLDS_ENUM(&v)) {
        GEnumValue *ev =
            g_enum_get_value(g_type_class_peek(pspec->value_type), g_value_get_enum(&v));
        g_string_append(out, ev ? ev->value_nick : "");
    }
    g_value_unset(&v);
}

/* info network: the subclass properties, then the common ones, as upstream lists them. */
static void filter_node_describe(NetFilterNode *node, GString *out)
{
    static const char *const common[] = {"position", "status", "insert", "netdev", "queue"};
    NetFilter *nf = node->opaque;
    const char *const *props = NET_FILTER_GET_CLASS(nf)->info_props;

    for (; props && *props; props++) {
        append_prop(out, G_OBJECT(nf), *props);
    }
    for (guint i = 0; i < G_N_ELEMENTS(common); i++) {
        append_prop(out, G_OBJECT(nf), common[i]);
    }
}

static void filter_netdev_gone(NetFilterNode *node)
{
    NetFilter *nf = node->opaque;

    /* Upstream deletes the filters of a deleted netdev. */
    if (qom_object_get_parent(QOM_OBJECT(nf))) {
        qom_object_unparent(QOM_OBJECT(nf));
    }
}

/* ---- properties ---- */

static void set_error(NetFilter *nf, GError *err)
{
    qom_object_set_error(QOM_OBJECT(nf), err);
}

static void filter_set_status(NetFilter *nf, const char *value)
{
    NetFilterCommon *c = &priv(nf)->common;
    NetFilterClass *klass = NET_FILTER_GET_CLASS(nf);
    GError *err = NULL;
    bool on;

    if (g_strcmp0(value, "on") && g_strcmp0(value, "off")) {
        error_setg(&err, "Invalid value for netfilter status, should be 'on' or 'off'");
        set_error(nf, err);
        return;
    }
    on = !strcmp(value, "on");
    if (c->node.on == on) {
        return;
    }
    c->node.on = on;
    if (c->node.netdev && klass->status_changed) {
        klass->status_changed(nf, &err);
        if (err) {
            set_error(nf, err);
        }
    }
}

static void filter_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    NetFilter *nf = NET_FILTER(obj);
    NetFilterCommon *c = &priv(nf)->common;
    const char *s;
    GError *err = NULL;

    switch (id) {
    case PROP_QUEUE:
        c->node.direction = g_value_get_enum(v);
        break;
    case PROP_NETDEV:
        g_free(c->netdev_id);
        c->netdev_id = g_value_dup_string(v);
        break;
    case PROP_INSERT:
        s = g_value_get_string(v);
        if (!g_strcmp0(s, "before")) {
            c->insert = NET_FILTER_INSERT_BEFORE;
        } else if (!g_strcmp0(s, "behind")) {
            c->insert = NET_FILTER_INSERT_BEHIND;
        } else {
            error_setg(&err, "Parameter 'insert' does not accept value '%s'", s ? s : "");
            set_error(nf, err);
        }
        break;
    case PROP_STATUS:
        filter_set_status(nf, g_value_get_string(v));
        break;
    case PROP_POSITION:
        s = g_value_get_string(v);
        if (g_strcmp0(s, "head") && g_strcmp0(s, "tail") && !g_str_has_prefix(s ? s : "", "id=")) {
            error_setg(&err, "Parameter 'position' expects 'head', 'tail' or 'id=<id>'");
            set_error(nf, err);
            break;
        }
        g_free(c->position);
        c->position = g_strdup(s);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void filter_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    NetFilterCommon *c = &priv(NET_FILTER(obj))->common;

    switch (id) {
    case PROP_QUEUE:
        g_value_set_enum(v, c->node.direction);
        break;
    case PROP_NETDEV:
        g_value_set_string(v, c->netdev_id);
        break;
    case PROP_INSERT:
        g_value_set_string(v, c->insert == NET_FILTER_INSERT_BEFORE ? "before" : "behind");
        break;
    case PROP_STATUS:
        g_value_set_string(v, c->node.on ? "on" : "off");
        break;
    case PROP_POSITION:
        g_value_set_string(v, c->position);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

/* ---- life ---- */

static gboolean filter_complete(QomObject *obj, GError **errp)
{
    NetFilter *nf = NET_FILTER(obj);
    NetFilterCommon *c = &priv(nf)->common;
    NetFilterClass *klass = NET_FILTER_GET_CLASS(nf);
    NetClientState *nc = qemu_find_netdev(c->netdev_id);
    NetFilterNode *ref = NULL;

    if (!nc || nc->info->type == NET_CLIENT_DRIVER_NIC) {
        error_set_param_value(errp, "netdev", "a network backend id");
        return FALSE;
    }
    if (nc->info->has_vhost && nc->info->has_vhost(nc)) {
        error_setg(errp, "Vhost is not supported");
        return FALSE;
    }
    if (g_str_has_prefix(c->position, "id=")) {
        const char *ref_id = c->position + 3;
        QomObject *other = qom_user_find(ref_id, "netfilter");

        if (!other) {
            error_setg(errp, "filter '%s' not found", ref_id);
            return FALSE;
        }
        ref = &priv(NET_FILTER(other))->common.node;
        if (ref->netdev != nc) {
            error_setg(errp, "filter '%s' belongs to a different netdev", ref_id);
            return FALSE;
        }
    }
    c->node.id = qom_object_get_name(obj);
    c->node.type_name = qom_object_type_name(obj);
    /* setup() may look at the netdev (vnet_hdr_len); it is linked only if setup succeeds. */
    c->node.netdev = nc;
    if (klass->setup && !klass->setup(nf, errp)) {
        c->node.netdev = NULL;
        return FALSE;
    }
    c->node.netdev = NULL;
    net_filter_chain_insert(nc, &c->node, !strcmp(c->position, "head"), ref, c->insert);
    priv(nf)->set_up = true;
    return TRUE;
}

static void filter_unparent(QomObject *obj)
{
    NetFilter *nf = NET_FILTER(obj);
    NetFilterPrivate *p = priv(nf);
    NetFilterClass *klass = NET_FILTER_GET_CLASS(nf);

    /* Still linked while cleanup runs, so that held packets can be released past it. */
    if (p->set_up && klass->cleanup) {
        klass->cleanup(nf);
    }
    p->set_up = false;
    net_filter_chain_remove(&p->common.node);
}

static void filter_finalize(GObject *obj)
{
    NetFilterCommon *c = &priv(NET_FILTER(obj))->common;

    net_filter_chain_remove(&c->node);
    g_free(c->netdev_id);
    g_free(c->position);
    G_OBJECT_CLASS(net_filter_parent_class)->finalize(obj);
}

static void filter_default_handle_event(NetFilter *nf, int event, GError **errp)
{
    if (event == COLO_EVENT_FAILOVER) {
        /* Through the property, so that status_changed runs as for qom-set. */
        GError *err = NULL;

        qom_object_set_str(QOM_OBJECT(nf), "status", "off", &err);
        if (err) {
            g_propagate_error(errp, err);
        }
    }
}

static ssize_t filter_default_receive(NetFilter *nf, NetClientState *sender, unsigned flags,
                                      const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    return 0;
}

static void net_filter_init(NetFilter *nf)
{
    NetFilterCommon *c = &priv(nf)->common;

    c->node.receive_iov = filter_node_receive;
    c->node.describe = filter_node_describe;
    c->node.netdev_gone = filter_netdev_gone;
    c->node.opaque = nf;
    c->node.on = true;
    c->node.direction = NET_FILTER_DIRECTION_ALL;
    c->position = g_strdup("tail");
    c->insert = NET_FILTER_INSERT_BEHIND;
}

static void net_filter_class_init(NetFilterClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    QomObjectClass *qc = QOM_OBJECT_CLASS(klass);
    GParamFlags rw = QOM_PARAM_RW;

    oc->set_property = filter_set_property;
    oc->get_property = filter_get_property;
    oc->finalize = filter_finalize;
    qc->complete = filter_complete;
    qc->unparent = filter_unparent;
    klass->handle_event = filter_default_handle_event;
    klass->receive_iov = filter_default_receive;

    qom_class_install_property(oc, PROP_QUEUE,
                               g_param_spec_enum("queue", "queue", NULL,
                                                 net_filter_direction_get_type(),
                                                 NET_FILTER_DIRECTION_ALL, rw),
                               "NetFilterDirection", FALSE);
    qom_class_install_property(
        oc, PROP_NETDEV, g_param_spec_string("netdev", "netdev", NULL, NULL, rw), "string", TRUE);
    qom_class_install_property(oc, PROP_INSERT,
                               g_param_spec_string("insert", "insert", NULL, "behind", rw),
                               "string", FALSE);
    qom_class_install_property(
        oc, PROP_STATUS, g_param_spec_string("status", "status", NULL, "on", rw), "string", FALSE);
    qom_class_install_property(oc, PROP_POSITION,
                               g_param_spec_string("position", "position", NULL, "tail", rw),
                               "string", FALSE);
}

void colo_notify_filters_event(int event, GError **errp)
{
    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;
        GList *f = nc->filters;

        while (f) {
            /* A handler may unlink its filter; step first. */
            GList *next = f->next;
            NetFilterNode *node = f->data;

            if (node->receive_iov == filter_node_receive) {
                NetFilter *nf = node->opaque;
                NetFilterClass *klass = NET_FILTER_GET_CLASS(nf);
                GError *err = NULL;

                if (klass->handle_event) {
                    klass->handle_event(nf, event, &err);
                }
                if (err) {
                    g_propagate_error(errp, err);
                    return;
                }
            }
            f = next;
        }
    }
}

void net_register_types(void)
{
    qom_register_type("netfilter", TYPE_NETFILTER, NULL, TRUE);
    qom_register_type(TYPE_FILTER_MIRROR, filter_mirror_get_type(), "netfilter", TRUE);
    qom_register_type(TYPE_FILTER_REDIRECTOR, filter_redirector_get_type(), "netfilter", TRUE);
    qom_register_type(TYPE_FILTER_DUMP, filter_dump_get_type(), "netfilter", TRUE);
    qom_register_type(TYPE_FILTER_BUFFER, filter_buffer_get_type(), "netfilter", TRUE);
    qom_register_type(TYPE_FILTER_REWRITER, filter_rewriter_get_type(), "netfilter", TRUE);
}
