/* -netdev, -nic, netdev_add/netdev_del and info network: the option-level front of net/. */
#include "net/backends.h"
#include "net/hub.h"
#include "util/error.h"
#include <string.h>

typedef bool NetInitFunc(NetOpts *opts, const char *name, NetClientState *peer, GError **errp);

static const struct {
    const char *type;
    NetInitFunc *init;
} net_backends[] = {
    {"socket", net_init_socket},
    {"user", net_init_slirp},
    {"tap", net_init_tap},
    {"hubport", net_init_hubport},
};

static GList *nic_requests; /* of NICRequest*, in command-line order */
static unsigned nic_anon_count;

/* QEMU identifiers: letters, digits, '-', '.', '_', starting with a letter. */
static bool net_id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool net_init_hubport(NetOpts *opts, const char *name, NetClientState *peer, GError **errp)
{
    int64_t hubid;
    const char *netdev_id;
    NetClientState *hubpeer = NULL;

    if (!net_opts_has(opts, "hubid")) {
        error_set_missing_param(errp, "hubid");
        return false;
    }
    if (!net_opts_get_int(opts, "hubid", 0, &hubid, errp)) {
        return false;
    }
    netdev_id = net_opts_get(opts, "netdev");
    if (!net_opts_check_all_read(opts, errp)) {
        return false;
    }
    if (hubid < 0 || hubid > G_MAXINT32) {
        error_setg(errp, "Parameter 'hubid' expects a number");
        return false;
    }
    if (netdev_id) {
        hubpeer = qemu_find_netdev(netdev_id);
        if (!hubpeer) {
            error_setg(errp, "netdev '%s' not found", netdev_id);
            return false;
        }
        if (hubpeer->peer) {
            error_setg(errp, "netdev '%s' is already in use", netdev_id);
            return false;
        }
    }
    net_hub_add_port(hubid, name, hubpeer);
    return true;
}

/* Creates backend @type named @id from @opts (type and id already read). */
static bool net_client_create(NetOpts *opts, const char *type, const char *id, bool is_netdev,
                              GError **errp)
{
    for (guint i = 0; i < G_N_ELEMENTS(net_backends); i++) {
        NetClientState *nc;

        if (strcmp(type, net_backends[i].type)) {
            continue;
        }
        if (qemu_find_netdev(id)) {
            error_setg(errp, "Duplicate ID '%s' for netdev", id);
            return false;
        }
        if (!net_backends[i].init(opts, id, NULL, errp)) {
            return false;
        }
        nc = qemu_find_netdev(id);
        g_assert(nc);
        nc->is_netdev = is_netdev;
        return true;
    }
    error_setg(errp, "Parameter 'type' does not accept value '%s'", type);
    return false;
}

bool net_client_init(NetOpts *opts, bool is_netdev, GError **errp)
{
    const char *type = net_opts_get(opts, "type");
    const char *id = net_opts_get(opts, "id");

    if (!type) {
        error_set_missing_param(errp, "type");
        return false;
    }
    if (!id) {
        error_set_missing_param(errp, "id");
        return false;
    }
    if (!net_id_wellformed(id)) {
        error_set_param_value(errp, "id", "an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, '-', '.', '_', "
                                "starting with a letter.");
        return false;
    }
    return net_client_create(opts, type, id, is_netdev, errp);
}

bool net_client_init_from_opts(KeyvalList *list, bool is_netdev, GError **errp)
{
    g_autoptr(NetOpts) opts = net_opts_from_keyval(list);

    return net_client_init(opts, is_netdev, errp);
}

static void nic_request_free(gpointer p)
{
    NICRequest *nic = p;

    g_free(nic->model);
    g_free(nic->netdev);
    g_free(nic->mac);
    g_free(nic);
}

bool net_nic_init_from_opts(KeyvalList *list, GError **errp)
{
    g_autoptr(NetOpts) opts = net_opts_from_keyval(list);
    const char *type = net_opts_get(opts, "type");
    const char *id = net_opts_get(opts, "id");
    const char *model = net_opts_get(opts, "model");
    const char *mac = net_opts_get(opts, "mac");
    g_autofree char *anon_id = NULL;
    g_autoptr(NetOpts) netdev_opts = net_opts_new();
    NICRequest *nic;

    if (!type) {
        type = "user";
    }
    if (!strcmp(type, "none")) {
        /* Upstream's "-nic none": no NIC, and no default one either (vl.c drops that). */
        return true;
    }
    if (!id) {
        anon_id = g_strdup_printf("__org.qemu.nic%u", nic_anon_count++);
        id = anon_id;
    }
    /* The netdev half gets every key except the NIC's own. */
    for (guint i = 0; i < list->pairs->len; i++) {
        const KeyvalPair *pair = g_ptr_array_index(list->pairs, i);

        if (strcmp(pair->key, "type") && strcmp(pair->key, "id") && strcmp(pair->key, "model") &&
            strcmp(pair->key, "mac")) {
            net_opts_add(netdev_opts, pair->key, pair->value);
        }
    }
    if (!anon_id && !net_id_wellformed(id)) {
        error_set_param_value(errp, "id", "an identifier");
        return false;
    }
    if (!net_client_create(netdev_opts, type, id, true, errp)) {
        return false;
    }
    nic = g_new0(NICRequest, 1);
    nic->model = g_strdup(model);
    nic->netdev = g_strdup(id);
    nic->mac = g_strdup(mac);
    nic_requests = g_list_append(nic_requests, nic);
    return true;
}

/*
 * Upstream's -net: "none" asks for nothing, "nic" for a NIC on a port of hub 0 (or on
 * netdev=), any other type for a backend on its own port of hub 0, where the NICs meet it.
 */
bool net_legacy_init_from_opts(KeyvalList *list, GError **errp)
{
    static const char *const nic_keys[] = {"type", "netdev", "macaddr", "model",
                                           "name", "addr",   "vectors"};
    static unsigned legacy_count;
    g_autoptr(NetOpts) opts = net_opts_from_keyval(list);
    const char *type = net_opts_get(opts, "type");
    NICRequest *nic;

    if (!type) {
        error_set_missing_param(errp, "type");
        return false;
    }
    if (!strcmp(type, "none")) {
        return true;
    }
    if (strcmp(type, "nic")) {
        g_autoptr(NetOpts) backend = net_opts_new();
        const char *given = net_opts_get(opts, "id");
        g_autofree char *id = given ? g_strdup(given) : g_strdup_printf("#net%u", legacy_count++);

        for (guint i = 0; i < list->pairs->len; i++) {
            const KeyvalPair *pair = g_ptr_array_index(list->pairs, i);

            if (strcmp(pair->key, "type") && strcmp(pair->key, "id")) {
                net_opts_add(backend, pair->key, pair->value);
            }
        }
        if (!net_client_create(backend, type, id, false, errp)) {
            return false;
        }
        net_hub_add_port(0, NULL, qemu_find_netdev(id));
        return true;
    }
    for (guint i = 0; i < list->pairs->len; i++) {
        const KeyvalPair *pair = g_ptr_array_index(list->pairs, i);
        bool known = false;

        for (guint k = 0; k < G_N_ELEMENTS(nic_keys); k++) {
            known |= !strcmp(pair->key, nic_keys[k]);
        }
        if (!known) {
            error_setg(errp, "Invalid parameter '%s'", pair->key);
            return false;
        }
    }
    nic = g_new0(NICRequest, 1);
    nic->model = g_strdup(net_opts_get(opts, "model"));
    nic->mac = g_strdup(net_opts_get(opts, "macaddr"));
    if (net_opts_get(opts, "netdev")) {
        nic->netdev = g_strdup(net_opts_get(opts, "netdev"));
    } else {
        nic->netdev = g_strdup(net_hub_add_port(0, NULL, NULL)->name);
    }
    nic_requests = g_list_append(nic_requests, nic);
    return true;
}

GList *net_nic_list(void)
{
    return nic_requests;
}

bool net_client_del(const char *id, GError **errp)
{
    NetClientState *nc = qemu_find_netdev(id);

    if (!nc) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", id);
        return false;
    }
    if (!nc->is_netdev) {
        error_setg(errp, "Device '%s' is not a netdev", id);
        return false;
    }
    qemu_del_net_client(nc);
    return true;
}

void net_cleanup(void)
{
    GList *l;

    /* Hub ports first: deleting a port never deletes its peer. */
    while ((l = qemu_net_clients())) {
        qemu_del_net_client(g_list_last(l)->data);
    }
    g_list_free_full(nic_requests, nic_request_free);
    nic_requests = NULL;
    nic_anon_count = 0;
}

void net_check_clients(void)
{
    net_hub_check_clients();
    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;

        if (!nc->peer && nc->info->type != NET_CLIENT_DRIVER_HUBPORT &&
            nc->info->type != NET_CLIENT_DRIVER_NIC) {
            warn_report("netdev %s has no peer", nc->name);
        }
    }
    for (GList *l = nic_requests; l; l = l->next) {
        NICRequest *nic = l->data;

        if (nic->created) {
            continue;
        }
        /* A machine without NIC models (-M none) leaves every request uncreated. */
        warn_report("requested NIC (%s, model %s) was not created (not supported by this "
                    "machine?)",
                    nic->netdev && strncmp(nic->netdev, "__org.qemu.nic", 14) ? nic->netdev
                                                                              : "anonymous",
                    nic->model ? nic->model : "unspecified");
    }
}

static void print_net_client(GString *out, NetClientState *nc)
{
    g_string_append_printf(out, "%s: index=%d,type=%s,%s\n", nc->name, nc->queue_index,
                           NetClientDriver_str(nc->info->type), nc->info_str);
    if (nc->filters) {
        g_string_append(out, "filters:\n");
    }
    for (GList *l = nc->filters; l; l = l->next) {
        NetFilterNode *node = l->data;

        g_string_append_printf(out, "  - %s: type=%s", node->id,
                               node->type_name ? node->type_name : "netfilter");
        if (node->describe) {
            node->describe(node, out);
        }
        g_string_append(out, "\n");
    }
}

char *net_info_network(void)
{
    GString *out = g_string_new(NULL);

    net_hub_info(out, print_net_client);
    for (GList *l = qemu_net_clients(); l; l = l->next) {
        NetClientState *nc = l->data;

        if (net_hub_id_for_client(nc) >= 0) {
            continue; /* listed under its hub */
        }
        if (!nc->peer || nc->info->type == NET_CLIENT_DRIVER_NIC) {
            print_net_client(out, nc);
        }
        if (nc->peer && nc->info->type == NET_CLIENT_DRIVER_NIC) {
            g_string_append(out, " \\ ");
            print_net_client(out, nc->peer);
        }
    }
    return g_string_free(out, FALSE);
}
