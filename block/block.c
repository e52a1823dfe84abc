/* The node graph: drivers, opening nodes from flat options, permissions, synchronous I/O
 * (include/block/block.h). */
#include "block/block.h"
#include "block/block-backend.h"
#include "block/quorum.h"
#include "block/qcow2.h"
#include "block/replication.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/keyval.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static GPtrArray *drivers;   /* const BlockDriver* */
static GPtrArray *all_nodes; /* BlockDriverState*, not owned: a node leaves on its last unref */
static guint auto_name_counter;

void bdrv_register_driver(const BlockDriver *drv)
{
    if (!drivers) {
        drivers = g_ptr_array_new();
    }
    for (guint i = 0; i < drivers->len; i++) {
        if (drivers->pdata[i] == drv) {
            return;
        }
    }
    g_ptr_array_add(drivers, (gpointer)drv);
}

void block_register_types(void)
{
    bdrv_register_driver(&bdrv_file);
    bdrv_register_driver(&bdrv_raw);
    bdrv_register_driver(&bdrv_qcow2);
    bdrv_register_driver(&bdrv_quorum);
    bdrv_register_driver(&bdrv_replication);
}

const BlockDriver *bdrv_find_driver(const char *name)
{
    for (guint i = 0; drivers && i < drivers->len; i++) {
        const BlockDriver *drv = drivers->pdata[i];
        if (strcmp(drv->format_name, name) == 0) {
            return drv;
        }
    }
    return NULL;
}

/* QEMU 7.2's BlockdevDriver enumeration. */
bool bdrv_driver_name_known_upstream(const char *name)
{
    static const char *const names[] = {
        "blkdebug",
        "blklogwrites",
        "blkreplay",
        "blkverify",
        "bochs",
        "cloop",
        "compress",
        "copy-before-write",
        "copy-on-read",
        "dmg",
        "file",
        "snapshot-access",
        "ftp",
        "ftps",
        "gluster",
        "host_cdrom",
        "host_device",
        "http",
        "https",
        "io_uring",
        "iscsi",
        "luks",
        "nbd",
        "nfs",
        "null-aio",
        "null-co",
        "nvme",
        "nvme-io_uring",
        "parallels",
        "preallocate",
        "qcow",
        "qcow2",
        "qed",
        "quorum",
        "raw",
        "rbd",
        "replication",
        "ssh",
        "throttle",
        "vdi",
        "vhdx",
        "virtio-blk-vfio-pci",
        "virtio-blk-vhost-user",
        "virtio-blk-vhost-vdpa",
        "vmdk",
        "vpc",
        "vvfat",
    };
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

GHashTable *bdrv_opts_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

GHashTable *bdrv_opts_extract(GHashTable *src, const char *prefix)
{
    GHashTable *out = bdrv_opts_new();
    size_t plen = strlen(prefix);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, src);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const char *key = k;
        if (strncmp(key, prefix, plen) == 0 && key[plen] == '.') {
            g_hash_table_insert(out, g_strdup(key + plen + 1), g_strdup(v));
            g_hash_table_iter_remove(&it);
        }
    }
    return out;
}

bool bdrv_opts_has_prefix(GHashTable *opts, const char *prefix)
{
    size_t plen = strlen(prefix);
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (strncmp(k, prefix, plen) == 0 && ((char *)k)[plen] == '.') {
            return true;
        }
    }
    return false;
}

/* Removes key and returns its value (caller frees), or NULL. */
static char *opts_take(GHashTable *opts, const char *key)
{
    gpointer orig, val;
    if (!g_hash_table_steal_extended(opts, key, &orig, &val)) {
        return NULL;
    }
    g_free(orig);
    return val;
}

/* A boolean option; absent leaves *out as it was. */
static bool opts_take_bool(GHashTable *opts, const char *key, const char *shown, bool *out,
                           GError **errp)
{
    g_autofree char *v = opts_take(opts, key);
    if (!v) {
        return true;
    }
    gboolean b;
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
        strcmp(v, "y") == 0) {
        b = TRUE;
    } else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
               strcmp(v, "n") == 0) {
        b = FALSE;
    } else {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", shown);
        return false;
    }
    *out = b;
    return true;
}

bool bdrv_node_name_ok(const char *name, GError **errp)
{
    if (!id_wellformed(name)) {
        error_setg(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (bdrv_find_node(name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    if (blk_by_name(name)) {
        error_setg(errp, "node-name=%s is conflicting with a device id", name);
        return false;
    }
    return true;
}

BlockDriverState *bdrv_find_node(const char *node_name)
{
    for (guint i = 0; all_nodes && i < all_nodes->len; i++) {
        BlockDriverState *bs = all_nodes->pdata[i];
        if (strcmp(bs->node_name, node_name) == 0) {
            return bs;
        }
    }
    return NULL;
}

GPtrArray *bdrv_all_nodes(void)
{
    if (!all_nodes) {
        all_nodes = g_ptr_array_new();
    }
    return all_nodes;
}

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

static void bdrv_detach_child(BdrvChild *c)
{
    g_ptr_array_remove(c->bs->parents, c);
    BlockDriverState *child = c->bs;
    c->bs = NULL;
    /* The child gives up what this edge held; relaxing permissions cannot fail. */
    bdrv_refresh_perms(child, NULL);
    bdrv_unref(child);
}

/* Children released, out of the node list (if it was in), memory gone. */
static void node_free(BlockDriverState *bs)
{
    while (bs->children->len) {
        BdrvChild *c = g_ptr_array_steal_index(bs->children, bs->children->len - 1);
        bdrv_detach_child(c);
        g_free(c->name);
        g_free(c);
    }
    if (all_nodes) {
        g_ptr_array_remove(all_nodes, bs);
    }
    g_ptr_array_free(bs->children, TRUE);
    g_ptr_array_free(bs->parents, TRUE);
    g_mutex_clear(&bs->serial_lock);
    g_rw_lock_clear(&bs->notify_lock);
    if (bs->write_notifiers) {
        g_array_free(bs->write_notifiers, TRUE);
    }
    if (bs->before_write) {
        g_array_free(bs->before_write, TRUE);
    }
    g_free(bs->opaque);
    g_free(bs->node_name);
    g_free(bs->backing_file);
    g_free(bs->backing_format);
    g_free(bs->display_name);
    g_free(bs);
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs || --bs->refcnt > 0) {
        return;
    }
    if (bs->drv->close) {
        bs->drv->close(bs);
    }
    node_free(bs);
}

bool bdrv_has_parents(BlockDriverState *bs)
{
    return bs->parents->len > 0 || bs->backends > 0;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    if (g_ptr_array_remove(parent->children, child)) {
        bdrv_detach_child(child);
        g_free(child->name);
        g_free(child);
    }
}

const char *bdrv_get_device_or_node_name(BlockDriverState *bs)
{
    g_autoptr(GPtrArray) all = blk_all();
    for (guint i = 0; i < all->len; i++) {
        BlockBackend *blk = all->pdata[i];
        if (blk_bs(blk) == bs && *blk_name(blk)) {
            return blk_name(blk);
        }
    }
    return bs->node_name;
}

bool bdrv_add_child(BlockDriverState *parent, BlockDriverState *child, GError **errp)
{
    if (!parent->drv->add_child) {
        error_setg(errp, "The node %s does not support adding a child",
                   bdrv_get_device_or_node_name(parent));
        return false;
    }
    if (bdrv_has_parents(child)) {
        error_setg(errp, "The node %s already has a parent", child->node_name);
        return false;
    }
    return parent->drv->add_child(parent, child, errp);
}

bool bdrv_del_child(BlockDriverState *parent, BdrvChild *child, GError **errp)
{
    if (!parent->drv->del_child) {
        error_setg(errp, "The node %s does not support removing a child",
                   bdrv_get_device_or_node_name(parent));
        return false;
    }
    if (!g_ptr_array_find(parent->children, child, NULL)) {
        error_setg(errp, "The node %s does not have a child named %s",
                   bdrv_get_device_or_node_name(parent), bdrv_get_device_or_node_name(child->bs));
        return false;
    }
    return parent->drv->del_child(parent, child, errp);
}

BdrvChild *bdrv_child(BlockDriverState *bs, const char *name)
{
    for (guint i = 0; i < bs->children->len; i++) {
        BdrvChild *c = bs->children->pdata[i];
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

BlockDriverState *bdrv_file_child(BlockDriverState *bs)
{
    BdrvChild *c = bdrv_child(bs, "file");
    return c ? c->bs : NULL;
}

/*
 * Permissions flow down: a node's cumulative perm is what its parents take, its shared what
 * they all share; a node passes to each child what it takes itself plus a consistent read
 * (formats read their metadata), sharing what its parents share. Two roles differ, as
 * upstream's default permissions for them: a file child holding metadata (qcow2) is written
 * and resized by a writable node whether or not its parents write, and nobody else may; a
 * backing child is only ever read, and may change under us only if our parents allow it.
 */
static void child_perms(BlockDriverState *parent, const char *role, uint64_t perm, uint64_t shared,
                        uint64_t *nperm, uint64_t *nshared)
{
    if (parent->drv->child_perm) {
        parent->drv->child_perm(parent, role, perm, shared, nperm, nshared);
        return;
    }
    if (strcmp(role, "backing") == 0) {
        *nperm = perm & BLK_PERM_CONSISTENT_READ;
        *nshared = (shared & BLK_PERM_WRITE) ? BLK_PERM_WRITE | BLK_PERM_RESIZE : 0;
        *nshared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
        return;
    }
    *nperm = perm | BLK_PERM_CONSISTENT_READ;
    *nshared = shared;
    if (strcmp(role, "file") == 0 && parent->drv->file_has_metadata) {
        if (!parent->read_only) {
            *nperm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        *nshared &= ~(uint64_t)(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
}

static void cumulative_perms(BlockDriverState *bs, uint64_t *perm, uint64_t *shared)
{
    uint64_t p = bs->backend_perm, s = bs->backends ? bs->backend_shared : BLK_PERM_ALL;
    for (guint i = 0; i < bs->parents->len; i++) {
        BdrvChild *c = bs->parents->pdata[i];
        p |= c->perm;
        s &= c->shared;
    }
    *perm = p;
    *shared = s;
}

/* Images handed over to another process by migration (upstream's BDRV_O_INACTIVE): the
 * permissions are still computed, but no file node holds their locks. */
static bool nodes_inactive;

static bool refresh_node(BlockDriverState *bs, GError **errp)
{
    uint64_t perm, shared;
    cumulative_perms(bs, &perm, &shared);
    if ((perm & BLK_PERM_WRITE) && bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return false;
    }
    if (bs->drv->set_perm && !nodes_inactive &&
        (perm != bs->cur_perm || shared != bs->cur_shared)) {
        if (!bs->drv->set_perm(bs, perm, shared, errp)) {
            return false;
        }
    }
    bs->cur_perm = perm;
    bs->cur_shared = shared;
    for (guint i = 0; i < bs->children->len; i++) {
        BdrvChild *c = bs->children->pdata[i];
        uint64_t old_perm = c->perm, old_shared = c->shared;
        child_perms(bs, c->name, perm, shared, &c->perm, &c->shared);
        if (!refresh_node(c->bs, errp)) {
            c->perm = old_perm;
            c->shared = old_shared;
            return false;
        }
    }
    return true;
}

bool bdrv_refresh_perms(BlockDriverState *bs, GError **errp)
{
    /* Locks live only in leaves (file nodes), and a failing leaf keeps the locks it had, so a
     * refused change leaves each chain as it was. */
    return refresh_node(bs, errp);
}

void bdrv_start_inactive(void)
{
    nodes_inactive = true;
}

bool bdrv_is_inactive(void)
{
    return nodes_inactive;
}

bool bdrv_inactivate_all(GError **errp)
{
    if (nodes_inactive) {
        return true;
    }
    GPtrArray *nodes = bdrv_all_nodes();
    for (guint i = 0; i < nodes->len; i++) {
        BlockDriverState *bs = nodes->pdata[i];
        int ret = bs->read_only ? 0 : bdrv_flush(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush '%s'", bs->node_name);
            return false;
        }
    }
    for (guint i = 0; i < nodes->len; i++) {
        BlockDriverState *bs = nodes->pdata[i];
        if (bs->drv->set_perm) {
            bs->drv->set_perm(bs, 0, BLK_PERM_ALL, NULL);
        }
    }
    nodes_inactive = true;
    return true;
}

bool bdrv_activate_all(GError **errp)
{
    if (!nodes_inactive) {
        return true;
    }
    GPtrArray *nodes = bdrv_all_nodes();
    for (guint i = 0; i < nodes->len; i++) {
        BlockDriverState *bs = nodes->pdata[i];
        /* Reading first, then writing, as upstream activates a node before its users take
         * their write permission: a refusal names the same lock as Debian's QEMU ("shared
         * "write"" while the other process writes). */
        uint64_t reads = bs->cur_perm & BLK_PERM_CONSISTENT_READ;
        if (bs->drv->set_perm && (!bs->drv->set_perm(bs, reads, bs->cur_shared, errp) ||
                                  !bs->drv->set_perm(bs, bs->cur_perm, bs->cur_shared, errp))) {
            /* all or nothing: the other process still has the images */
            for (guint j = 0; j <= i; j++) {
                BlockDriverState *done = nodes->pdata[j];
                if (done->drv->set_perm) {
                    done->drv->set_perm(done, 0, BLK_PERM_ALL, NULL);
                }
            }
            return false;
        }
    }
    nodes_inactive = false;
    /* Formats drop what they read before the other process's last writes. Newest nodes first,
     * so a chain's base is read again before its overlays. */
    for (guint i = nodes->len; i-- > 0;) {
        BlockDriverState *bs = nodes->pdata[i];
        if (bs->drv->activate && !bs->drv->activate(bs, errp)) {
            return false;
        }
    }
    return true;
}

BdrvChild *bdrv_attach_child(BlockDriverState *parent, BlockDriverState *child, const char *name,
                             GError **errp)
{
    BdrvChild *c = g_new0(BdrvChild, 1);
    c->name = g_strdup(name);
    c->bs = child;
    c->parent = parent;
    child_perms(parent, name, parent->cur_perm, parent->cur_shared, &c->perm, &c->shared);
    bdrv_ref(child);
    g_ptr_array_add(child->parents, c);
    if (!bdrv_refresh_perms(child, errp)) {
        g_ptr_array_remove(child->parents, c);
        bdrv_refresh_perms(child, NULL);
        bdrv_unref(child);
        g_free(c->name);
        g_free(c);
        return NULL;
    }
    g_ptr_array_add(parent->children, c);
    return c;
}

/* Keys every node understands (upstream's BlockdevOptionsBase) besides driver and node-name. */
static const char *const generic_ignored[] = {"detect-zeroes", "force-share", NULL};

static bool key_in(const char *key, const char *const *list)
{
    for (; list && *list; list++) {
        if (strcmp(key, *list) == 0) {
            return true;
        }
    }
    return false;
}

static BlockDriverState *open_node(GHashTable *opts, const BdrvOpenFlags *flags, const char *prefix,
                                   GError **errp);

/* The registered protocol whose scheme starts @filename ("nbd:", "nbd+unix:"), or NULL. */
static const BlockDriver *protocol_of(const char *filename)
{
    const char *colon = filename ? strchr(filename, ':') : NULL;
    for (guint i = 0; colon && drivers && i < drivers->len; i++) {
        const BlockDriver *drv = drivers->pdata[i];
        for (const char *const *p = drv->protocols; p && *p; p++) {
            if (strlen(*p) == (size_t)(colon - filename) &&
                !strncmp(filename, *p, colon - filename)) {
                return drv;
            }
        }
    }
    return NULL;
}

/* Opens or finds the node for child role `role` (NULL + no error: not given). */
static BlockDriverState *open_child(GHashTable *opts, const BdrvOpenFlags *flags,
                                    const char *prefix, const char *role, GError **errp)
{
    g_autofree char *ref = opts_take(opts, role);
    if (ref) {
        BlockDriverState *bs = bdrv_find_node(ref);
        BlockBackend *blk = bs ? NULL : blk_by_name(ref);
        if (!bs && blk) {
            bs = blk_bs(blk);
        }
        if (!bs) {
            error_setg(errp, "Cannot find device='%s' nor node-name='%s'", ref, ref);
            return NULL;
        }
        bdrv_ref(bs);
        return bs;
    }
    if (!bdrv_opts_has_prefix(opts, role)) {
        return NULL;
    }
    g_autoptr(GHashTable) sub = bdrv_opts_extract(opts, role);
    g_autofree char *sub_prefix = g_strdup_printf("%s%s.", prefix, role);
    if (!g_hash_table_contains(sub, "driver")) {
        if (!flags->drive_style) {
            error_setg(errp, "Parameter '%sdriver' is missing", sub_prefix);
            return NULL;
        }
        /* -drive: a file child without a driver is a host file, unless its name starts with a
         * protocol's scheme ("nbd://..."), as upstream probes the protocol. */
        const BlockDriver *proto = protocol_of(g_hash_table_lookup(sub, "filename"));
        g_hash_table_insert(sub, g_strdup("driver"), g_strdup(proto ? proto->format_name : "file"));
        BdrvOpenFlags probed = *flags;
        probed.probed_protocol = true;
        return open_node(sub, &probed, sub_prefix, errp);
    }
    return open_node(sub, flags, sub_prefix, errp);
}

/* "children.0", "children.1", ... until one is missing; a gap or nothing is refused as
 * upstream's array check does. */
static bool open_indexed_children(BlockDriverState *bs, GHashTable *opts,
                                  const BdrvOpenFlags *flags, const char *prefix, GError **errp)
{
    const char *base = bs->drv->indexed_children;
    for (guint i = 0;; i++) {
        g_autofree char *role = g_strdup_printf("%s.%u", base, i);
        GError *err = NULL;
        BlockDriverState *child = open_child(opts, flags, prefix, role, &err);
        if (!child) {
            if (err) {
                g_propagate_error(errp, err);
                return false;
            }
            break;
        }
        BdrvChild *c = bdrv_attach_child(bs, child, role, errp);
        bdrv_unref(child);
        if (!c) {
            return false;
        }
    }
    if (bdrv_opts_has_prefix(opts, base) || g_hash_table_contains(opts, base)) {
        error_setg(errp, "Option %s is not a valid array", base);
        return false;
    }
    return true;
}

static char *shown_key(const char *prefix, const char *key)
{
    return g_strdup_printf("%s%s", prefix, key);
}

/* -drive's aio= is a drive option upstream (a flag its protocol node reads): it goes to the
 * inline "file" child. The protocol's other keys (locking=, drop-cache=, ...) must be spelled
 * file.KEY, as upstream refuses them on the format ("does not support the option"). */
static void pass_down_protocol_options(const BlockDriver *drv, GHashTable *opts)
{
    if (!key_in("file", drv->children) || g_hash_table_contains(opts, "file")) {
        return;
    }
    const char *child_name = g_hash_table_lookup(opts, "file.driver");
    const BlockDriver *child = bdrv_find_driver(child_name ? child_name : "file");
    if (!child) {
        return;
    }
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (strcmp(k, "aio") == 0 && !key_in(k, drv->options) && key_in(k, child->options)) {
            g_ptr_array_add(keys, k);
        }
    }
    for (guint i = 0; i < keys->len; i++) {
        g_autofree char *key = g_strdup(keys->pdata[i]);
        char *v = opts_take(opts, key);
        g_hash_table_insert(opts, g_strdup_printf("file.%s", key), v);
    }
}

/* What the options say about a node's backing child, taken out before its driver opens. */
typedef struct BackingOpts {
    bool given;      /* "backing" itself was given */
    char *ref;       /* its value: a node name; NULL (JSON null) or "": no backing at all */
    GHashTable *sub; /* "backing.<key>": opened inline */
} BackingOpts;

static void backing_opts_take(GHashTable *opts, BackingOpts *b)
{
    gpointer orig, val;
    b->given = g_hash_table_steal_extended(opts, "backing", &orig, &val);
    if (b->given) {
        g_free(orig);
        b->ref = val;
    }
    b->sub = bdrv_opts_extract(opts, "backing");
}

static void backing_opts_clear(BackingOpts *b)
{
    g_free(b->ref);
    g_clear_pointer(&b->sub, g_hash_table_unref);
}

static bool attach_backing(BlockDriverState *bs, BlockDriverState *backing, GError **errp)
{
    BdrvChild *c = bdrv_attach_child(bs, backing, "backing", errp);
    bdrv_unref(backing);
    if (c && bs->drv->backing_changed) {
        bs->drv->backing_changed(bs);
    }
    return c != NULL;
}

static void json_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            g_string_append_c(out, '\\');
        }
        g_string_append_c(out, *s);
    }
    g_string_append_c(out, '"');
}

/* The options that reopen bs, upstream's JSON spelling ("{"a": 1, "b": 2}", keys sorted). */
static void node_json(GString *out, BlockDriverState *bs)
{
    BlockDriverState *file = bdrv_file_child(bs);
    if (!file && bs->drv->filename) {
        g_string_append(out, "{\"driver\": ");
        json_string(out, bs->drv->format_name);
        g_string_append(out, ", \"filename\": ");
        json_string(out, bs->drv->filename(bs));
        g_string_append_c(out, '}');
        return;
    }
    g_string_append_c(out, '{');
    if (bs->backing_overridden) {
        BlockDriverState *backing = bdrv_backing_child(bs);
        g_string_append(out, "\"backing\": ");
        if (backing) {
            node_json(out, backing);
        } else {
            g_string_append(out, "null");
        }
        g_string_append(out, ", ");
    }
    g_string_append(out, "\"driver\": ");
    json_string(out, bs->drv->format_name);
    if (file) {
        g_string_append(out, ", \"file\": ");
        node_json(out, file);
    }
    g_string_append_c(out, '}');
}

/* Opens bs's backing child as the options and the image's recorded name say (block.h). */
static bool open_backing(BlockDriverState *bs, BackingOpts *b, const BdrvOpenFlags *flags,
                         const char *prefix, GError **errp)
{
    /* A backing chosen by the options is not what the file name alone would open again:
     * the node is known by its options as a "json:{...}" pseudo file name, as upstream. */
    bs->backing_overridden = b->given;
    if (b->given && (!b->ref || !*b->ref)) {
        if (b->ref) {
            warn_report("Use of \"backing\": \"\" is deprecated; use \"backing\": null "
                        "instead");
        }
        return true;
    }
    if (b->given) {
        BlockDriverState *backing = bdrv_find_node(b->ref);
        BlockBackend *blk = backing ? NULL : blk_by_name(b->ref);
        backing = blk ? blk_bs(blk) : backing;
        if (!backing) {
            error_setg(errp,
                       "Could not open backing file: Cannot find device='%s' nor "
                       "node-name='%s'",
                       b->ref, b->ref);
            return false;
        }
        bdrv_ref(backing);
        return attach_backing(bs, backing, errp);
    }
    if (!g_hash_table_size(b->sub) && !bs->backing_file) {
        return true;
    }
    g_autofree char *sub_prefix = g_strdup_printf("%sbacking.", prefix);
    GHashTable *sub = b->sub;
    /* -blockdev: a definition given is the whole definition (its schema wants a driver and a
     * file); -drive fills in what the image records. */
    bool defaults = flags->drive_style || !g_hash_table_size(sub);
    if (!defaults && !g_hash_table_contains(sub, "driver")) {
        g_autofree char *k = g_strdup_printf("%sdriver", sub_prefix);
        error_set_missing_param(errp, k);
        return false;
    }
    bool has_file = g_hash_table_contains(sub, "file") || bdrv_opts_has_prefix(sub, "file");
    g_autofree char *path = NULL;
    if (defaults && bs->backing_file && !g_hash_table_contains(sub, "file")) {
        path = bdrv_backing_path(bdrv_filename(bs), bs->backing_file);
        if (!g_hash_table_contains(sub, "file.filename")) {
            g_hash_table_insert(sub, g_strdup("file.filename"), g_strdup(path));
        }
    }
    if (!g_hash_table_contains(sub, "driver")) {
        const char *fmt = bs->backing_format;
        const char *file = g_hash_table_lookup(sub, "file.filename");
        if (!fmt) {
            fmt = file ? bdrv_probe_format(file) : "raw";
        }
        g_hash_table_insert(sub, g_strdup("driver"), g_strdup(fmt));
    }
    if (defaults && !has_file && !g_hash_table_contains(sub, "file.driver")) {
        g_hash_table_insert(sub, g_strdup("file.driver"), g_strdup("file"));
    }
    /* Backing files are opened read-only unless their options say otherwise. */
    BdrvOpenFlags bf = *flags;
    bf.read_only = true;
    GError *err = NULL;
    BlockDriverState *backing = open_node(sub, &bf, sub_prefix, &err);
    if (!backing) {
        /* Upstream checks a -blockdev's options against its schema before opening anything:
         * those errors come without the prefix of a failed open. */
        if (!flags->drive_style && g_str_has_prefix(err->message, "Parameter '")) {
            g_propagate_error(errp, err);
        } else {
            error_setg(errp, "Could not open backing file: %s", err->message);
            g_error_free(err);
        }
        return false;
    }
    return attach_backing(bs, backing, errp);
}

static BlockDriverState *open_node(GHashTable *opts, const BdrvOpenFlags *flags, const char *prefix,
                                   GError **errp)
{
    g_autofree char *driver = opts_take(opts, "driver");
    if (!driver) {
        g_autofree char *k = shown_key(prefix, "driver");
        error_set_missing_param(errp, k);
        return NULL;
    }
    const BlockDriver *drv = bdrv_find_driver(driver);
    if (!drv) {
        if (flags->drive_style || bdrv_driver_name_known_upstream(driver)) {
            error_setg(errp, "Unknown driver '%s'", driver);
        } else {
            g_autofree char *k = shown_key(prefix, "driver");
            error_setg(errp, "Parameter '%s' does not accept value '%s'", k, driver);
        }
        return NULL;
    }
    g_autofree char *node_name = opts_take(opts, "node-name");
    if (node_name && !bdrv_node_name_ok(node_name, errp)) {
        return NULL;
    }
    BdrvOpenFlags f = *flags;
    g_autofree char *ro_key = shown_key(prefix, "read-only");
    g_autofree char *direct_key = shown_key(prefix, "cache.direct");
    g_autofree char *noflush_key = shown_key(prefix, "cache.no-flush");
    g_autofree char *auto_ro_key = shown_key(prefix, "auto-read-only");
    if (!opts_take_bool(opts, "read-only", ro_key, &f.read_only, errp) ||
        !opts_take_bool(opts, "auto-read-only", auto_ro_key, &f.auto_read_only, errp) ||
        !opts_take_bool(opts, "cache.direct", direct_key, &f.cache_direct, errp) ||
        !opts_take_bool(opts, "cache.no-flush", noflush_key, &f.cache_no_flush, errp)) {
        return NULL;
    }
    /* discard=unmap lets discards through to the image; the default ignores them (upstream's
     * BDRV_O_UNMAP, inherited by children opened inline). -drive also takes on/off. */
    g_autofree char *discard = opts_take(opts, "discard");
    if (discard) {
        bool drive_words =
            flags->drive_style && (strcmp(discard, "on") == 0 || strcmp(discard, "off") == 0);
        if (strcmp(discard, "unmap") && strcmp(discard, "ignore") && !drive_words) {
            if (flags->drive_style) {
                error_setg(errp, "Invalid discard option");
            } else {
                /* Upstream names the key without its path here, nested or not. */
                error_setg(errp, "Parameter 'discard' does not accept value '%s'", discard);
            }
            return NULL;
        }
        f.discard_unmap = strcmp(discard, "unmap") == 0 || strcmp(discard, "on") == 0;
    }
    for (const char *const *k = generic_ignored; *k; k++) {
        g_free(opts_take(opts, *k));
    }

    BlockDriverState *bs = g_new0(BlockDriverState, 1);
    bs->drv = drv;
    bs->refcnt = 1;
    bs->cur_shared = BLK_PERM_ALL; /* takes nothing, shares everything until refreshed */
    bs->read_only = f.read_only;
    bs->cache_direct = f.cache_direct;
    bs->cache_no_flush = f.cache_no_flush;
    bs->drive_style = flags->drive_style;
    bs->auto_read_only = f.auto_read_only;
    bs->discard_unmap = f.discard_unmap;
    bs->probed_protocol = f.probed_protocol;
    bs->children = g_ptr_array_new();
    bs->parents = g_ptr_array_new();
    g_mutex_init(&bs->serial_lock);
    g_rw_lock_init(&bs->notify_lock);
    bs->opaque = drv->state_size ? g_malloc0(drv->state_size) : NULL;
    if (node_name) {
        bs->node_name = g_steal_pointer(&node_name);
    } else {
        bs->node_name = g_strdup_printf("#block%03u", auto_name_counter++);
        bs->auto_named = true;
    }

    BackingOpts backing = {0};
    if (drv->supports_backing) {
        backing_opts_take(opts, &backing);
    }
    if (flags->drive_style) {
        pass_down_protocol_options(drv, opts);
    }
    /* Children first: a format's open reads its child. */
    for (const char *const *role = drv->children; role && *role; role++) {
        GError *err = NULL;
        BlockDriverState *child = open_child(opts, &f, prefix, *role, &err);
        if (!child) {
            if (err) {
                g_propagate_error(errp, err);
                goto fail;
            }
            if (drv->required_child && strcmp(*role, drv->required_child) == 0) {
                if (flags->drive_style) {
                    error_setg(errp, "A block device must be specified for \"%s\"", *role);
                } else {
                    g_autofree char *k = shown_key(prefix, *role);
                    error_set_missing_param(errp, k);
                }
                goto fail;
            }
            continue;
        }
        BdrvChild *c = bdrv_attach_child(bs, child, *role, errp);
        bdrv_unref(child); /* the edge holds it now, or it failed */
        if (!c) {
            goto fail;
        }
    }
    if (drv->indexed_children && !open_indexed_children(bs, opts, &f, prefix, errp)) {
        goto fail;
    }
    /* Whatever is left must be the driver's own. */
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (key_in(k, drv->options)) {
            continue;
        }
        if (flags->drive_style) {
            const char *key = k;
            /* -drive names the node the option was meant for, as upstream does. */
            error_setg(errp, "Block %s '%s' %s the option '%s'",
                       drv->kind == BLOCK_DRIVER_PROTOCOL ? "protocol" : "format", drv->format_name,
                       drv->kind == BLOCK_DRIVER_PROTOCOL ? "doesn't support" : "does not support",
                       key);
        } else {
            g_autofree char *shown = shown_key(prefix, k);
            error_setg(errp, "Parameter '%s' is unexpected", shown);
        }
        goto fail;
    }
    if (drv->open && !drv->open(bs, opts, errp)) {
        if (drv->close) {
            drv->close(bs); /* drivers' close copes with a half-done open */
        }
        goto fail;
    }
    /* Listed before its backing chain, as upstream lists it (query-named-block-nodes). */
    bdrv_all_nodes();
    g_ptr_array_add(all_nodes, bs);
    if (drv->supports_backing && !open_backing(bs, &backing, &f, prefix, errp)) {
        backing_opts_clear(&backing);
        bdrv_unref(bs);
        return NULL;
    }
    if (bs->backing_overridden) {
        GString *name = g_string_new("json:");
        node_json(name, bs);
        bs->display_name = g_string_free(name, FALSE);
    }
    backing_opts_clear(&backing);
    if (!bdrv_refresh_perms(bs, errp)) {
        bdrv_unref(bs);
        return NULL;
    }
    return bs;

fail:
    backing_opts_clear(&backing);
    node_free(bs);
    return NULL;
}

BlockDriverState *bdrv_open_opts(GHashTable *opts, const BdrvOpenFlags *flags, GError **errp)
{
    static const BdrvOpenFlags defaults;
    return open_node(opts, flags ? flags : &defaults, "", errp);
}

/* One request at a time on nodes that ask for it. */
#define WITH_SERIAL(bs, expr)                                                                      \
    ({                                                                                             \
        bool serial_ = (bs)->drv->serialize;                                                       \
        if (serial_) {                                                                             \
            g_mutex_lock(&(bs)->serial_lock);                                                      \
        }                                                                                          \
        int ret_ = (expr);                                                                         \
        if (serial_) {                                                                             \
            g_mutex_unlock(&(bs)->serial_lock);                                                    \
        }                                                                                          \
        ret_;                                                                                      \
    })

/* A write notifier or a before-write hook: a function and its argument. */
typedef struct BdrvHook {
    void *fn;
    void *opaque;
} BdrvHook;

static void hook_add(BlockDriverState *bs, GArray **hooks, void *fn, void *opaque)
{
    BdrvHook h = {fn, opaque};
    g_rw_lock_writer_lock(&bs->notify_lock);
    if (!*hooks) {
        *hooks = g_array_new(FALSE, FALSE, sizeof(BdrvHook));
    }
    g_array_append_val(*hooks, h);
    g_rw_lock_writer_unlock(&bs->notify_lock);
}

/* Returns once no call of the hook is in progress (they hold notify_lock as readers). */
static void hook_remove(BlockDriverState *bs, GArray *hooks, void *fn, void *opaque)
{
    g_rw_lock_writer_lock(&bs->notify_lock);
    for (guint i = 0; hooks && i < hooks->len; i++) {
        BdrvHook *h = &g_array_index(hooks, BdrvHook, i);
        if (h->fn == fn && h->opaque == opaque) {
            g_array_remove_index(hooks, i);
            break;
        }
    }
    g_rw_lock_writer_unlock(&bs->notify_lock);
}

void bdrv_add_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque)
{
    hook_add(bs, &bs->write_notifiers, fn, opaque);
}

void bdrv_remove_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque)
{
    hook_remove(bs, bs->write_notifiers, fn, opaque);
}

void bdrv_add_before_write(BlockDriverState *bs, BdrvBeforeWrite *fn, void *opaque)
{
    hook_add(bs, &bs->before_write, fn, opaque);
}

void bdrv_remove_before_write(BlockDriverState *bs, BdrvBeforeWrite *fn, void *opaque)
{
    hook_remove(bs, bs->before_write, fn, opaque);
}

/* Before a change to bs's bytes: 0, or the hook's -errno that fails the request. */
static int before_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    if (!g_atomic_pointer_get(&bs->before_write)) {
        return 0;
    }
    int ret = 0;
    g_rw_lock_reader_lock(&bs->notify_lock);
    for (guint i = 0; ret == 0 && i < bs->before_write->len; i++) {
        BdrvHook *h = &g_array_index(bs->before_write, BdrvHook, i);
        ret = ((BdrvBeforeWrite *)h->fn)(h->opaque, offset, bytes);
    }
    g_rw_lock_reader_unlock(&bs->notify_lock);
    return ret;
}

/* After a successful change to bs's bytes; returns 0 for the request. */
static int notify_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf)
{
    if (!g_atomic_pointer_get(&bs->write_notifiers)) {
        return 0;
    }
    g_rw_lock_reader_lock(&bs->notify_lock);
    for (guint i = 0; i < bs->write_notifiers->len; i++) {
        BdrvHook *h = &g_array_index(bs->write_notifiers, BdrvHook, i);
        ((BdrvWriteNotify *)h->fn)(h->opaque, offset, bytes, buf);
    }
    g_rw_lock_reader_unlock(&bs->notify_lock);
    return 0;
}

int bdrv_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    if (!bs->drv->pread) {
        return -ENOTSUP;
    }
    return WITH_SERIAL(bs, bs->drv->pread(bs, offset, bytes, buf));
}

int bdrv_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf, int flags)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (!bs->drv->pwrite) {
        return -ENOTSUP;
    }
    int ret = before_write(bs, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    ret = WITH_SERIAL(bs, bs->drv->pwrite(bs, offset, bytes, buf, flags));
    return ret < 0 ? ret : notify_write(bs, offset, bytes, buf);
}

int bdrv_preadv(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    if (bs->drv->preadv) {
        return WITH_SERIAL(bs, bs->drv->preadv(bs, offset, iov, iovcnt));
    }
    size_t bytes = iov_size(iov, iovcnt);
    void *buf = g_try_malloc(MAX(bytes, 1));
    if (!buf) {
        return -ENOMEM;
    }
    int ret = bdrv_pread(bs, offset, bytes, buf);
    if (ret == 0) {
        iov_from_buf(iov, iovcnt, 0, buf, bytes);
    }
    g_free(buf);
    return ret;
}

int bdrv_preadv_nowait(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt)
{
    /* A serialized node's lock may be held by a worker that waits for the disk. */
    if (!bs->drv->preadv_nowait || bs->drv->serialize) {
        return -EAGAIN;
    }
    return bs->drv->preadv_nowait(bs, offset, iov, iovcnt);
}

int bdrv_pwritev(BlockDriverState *bs, uint64_t offset, const struct iovec *iov, int iovcnt,
                 int flags)
{
    if (bs->read_only) {
        return -EPERM;
    }
    size_t bytes = iov_size(iov, iovcnt);
    bool direct = bs->drv->pwritev && !g_atomic_pointer_get(&bs->write_notifiers);
    if (direct) {
        int ret = WITH_SERIAL(bs, bs->drv->pwritev(bs, offset, iov, iovcnt, flags));
        if (ret < 0 || !g_atomic_pointer_get(&bs->write_notifiers)) {
            return ret;
        }
    }
    /* A driver without pwritev, or a notifier (a mirror job), wants the bytes in one buffer;
     * a notifier that came during a direct write is told of it after. */
    void *buf = g_try_malloc(MAX(bytes, 1));
    if (!buf) {
        return -ENOMEM;
    }
    iov_to_buf(iov, iovcnt, 0, buf, bytes);
    int ret =
        direct ? notify_write(bs, offset, bytes, buf) : bdrv_pwrite(bs, offset, bytes, buf, flags);
    g_free(buf);
    return ret;
}

int bdrv_flush(BlockDriverState *bs)
{
    if (bs->read_only || bs->cache_no_flush || !bs->drv->flush) {
        return 0;
    }
    return WITH_SERIAL(bs, bs->drv->flush(bs));
}

int bdrv_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (!bs->discard_unmap || !bs->drv->discard) {
        return 0; /* a hint: nothing to do is a valid answer */
    }
    int ret = before_write(bs, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    ret = WITH_SERIAL(bs, bs->drv->discard(bs, offset, bytes));
    return ret < 0 ? ret : notify_write(bs, offset, bytes, NULL);
}

int bdrv_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (bs->drv->write_zeroes) {
        int ret = before_write(bs, offset, bytes);
        if (ret < 0) {
            return ret;
        }
        ret = WITH_SERIAL(bs, bs->drv->write_zeroes(bs, offset, bytes, flags));
        if (ret != -ENOTSUP) {
            return ret < 0 ? ret : notify_write(bs, offset, bytes, NULL);
        }
    }
    /* Without a cheaper way (driver or host file system), zeroes are written in chunks. */
    const uint64_t chunk = 1 << 20;
    g_autofree void *zeroes = g_malloc0(MIN(bytes, chunk));
    while (bytes) {
        uint64_t n = MIN(bytes, chunk);
        int ret = bdrv_pwrite(bs, offset, n, zeroes, flags & BDRV_REQ_FUA);
        if (ret < 0) {
            return ret;
        }
        offset += n;
        bytes -= n;
    }
    return 0;
}

int bdrv_truncate(BlockDriverState *bs, uint64_t size)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (!bs->drv->truncate) {
        return -ENOTSUP;
    }
    return WITH_SERIAL(bs, bs->drv->truncate(bs, size));
}

int bdrv_make_empty(BlockDriverState *bs)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (!bs->drv->make_empty) {
        return -ENOTSUP;
    }
    return WITH_SERIAL(bs, bs->drv->make_empty(bs));
}

/* One node changes mode; its children are the caller's. */
static bool reopen_node(BlockDriverState *bs, bool writable, GError **errp)
{
    bs->read_only = !writable;
    if (bs->drv->reopen && !bs->drv->reopen(bs, errp)) {
        bs->read_only = writable;
        return false;
    }
    if (!bdrv_refresh_perms(bs, errp)) {
        bs->read_only = writable;
        if (bs->drv->reopen) {
            bs->drv->reopen(bs, NULL);
        }
        return false;
    }
    return true;
}

bool bdrv_reopen_writable(BlockDriverState *bs, bool writable, GError **errp)
{
    if (bs->read_only == !writable) {
        return true;
    }
    /* The file is writable whenever its format is: a format reopening read-write writes its
     * header through it, and a writable format takes write on it. */
    BlockDriverState *file = bdrv_file_child(bs);
    if (writable) {
        if (file && !bdrv_reopen_writable(file, true, errp)) {
            return false;
        }
        return reopen_node(bs, true, errp);
    }
    if (!reopen_node(bs, false, errp)) {
        return false;
    }
    return !file || bdrv_reopen_writable(file, false, errp);
}

int64_t bdrv_allocated_size(BlockDriverState *bs)
{
    for (; bs; bs = bdrv_file_child(bs)) {
        if (bs->drv->allocated_size) {
            return bs->drv->allocated_size(bs);
        }
    }
    return -ENOTSUP;
}

BlockDriverState *bdrv_backing_child(BlockDriverState *bs)
{
    BdrvChild *c = bdrv_child(bs, "backing");
    return c ? c->bs : NULL;
}

const char *bdrv_probe_format(const char *filename)
{
    uint8_t head[512];
    int fd = open(filename, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return "raw";
    }
    ssize_t n = pread(fd, head, sizeof(head), 0);
    close(fd);
    return n > 0 && qcow2_probe(head, (size_t)n) ? "qcow2" : "raw";
}

char *bdrv_backing_path(const char *image_filename, const char *backing_file)
{
    if (g_path_is_absolute(backing_file) || !strchr(image_filename, '/')) {
        return g_strdup(backing_file);
    }
    g_autofree char *dir = g_path_get_dirname(image_filename);
    return g_build_filename(dir, backing_file, NULL);
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs->drv->getlength) {
        return -ENOMEDIUM;
    }
    return bs->drv->getlength(bs);
}

const char *bdrv_filename(BlockDriverState *bs)
{
    if (bs && bs->display_name) {
        return bs->display_name;
    }
    while (bs) {
        if (bs->drv->filename) {
            return bs->drv->filename(bs);
        }
        bs = bdrv_file_child(bs);
    }
    return "";
}
