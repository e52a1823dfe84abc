/* The node graph: drivers, opening nodes from flat options, permissions, synchronous I/O
 * (include/block/block.h). */
#include "block/block.h"
#include "block/block-backend.h"
#include "block/quorum.h"
#include "util/error.h"
#include "util/keyval.h"

#include <errno.h>
#include <string.h>

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
    bdrv_register_driver(&bdrv_quorum);
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
    g_free(bs->opaque);
    g_free(bs->node_name);
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
 * (formats read their metadata), sharing what its parents share.
 */
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

static bool refresh_node(BlockDriverState *bs, GError **errp)
{
    uint64_t perm, shared;
    cumulative_perms(bs, &perm, &shared);
    if ((perm & BLK_PERM_WRITE) && bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return false;
    }
    if (bs->drv->set_perm && (perm != bs->cur_perm || shared != bs->cur_shared)) {
        if (!bs->drv->set_perm(bs, perm, shared, errp)) {
            return false;
        }
    }
    bs->cur_perm = perm;
    bs->cur_shared = shared;
    for (guint i = 0; i < bs->children->len; i++) {
        BdrvChild *c = bs->children->pdata[i];
        uint64_t old_perm = c->perm, old_shared = c->shared;
        c->perm = perm | BLK_PERM_CONSISTENT_READ;
        c->shared = shared;
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

BdrvChild *bdrv_attach_child(BlockDriverState *parent, BlockDriverState *child, const char *name,
                             GError **errp)
{
    BdrvChild *c = g_new0(BdrvChild, 1);
    c->name = g_strdup(name);
    c->bs = child;
    c->parent = parent;
    c->perm = parent->cur_perm | BLK_PERM_CONSISTENT_READ;
    c->shared = parent->cur_shared;
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
static const char *const generic_ignored[] = {"discard", "detect-zeroes", "auto-read-only",
                                              "force-share", NULL};

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
        /* -drive: a file child without a driver is a host file (upstream probes the protocol
         * from the file name; file is the only protocol here). */
        g_hash_table_insert(sub, g_strdup("driver"), g_strdup("file"));
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

/* -drive's options meant for the protocol under a format (aio=, locking=) go to the inline
 * "file" child, as upstream hands a format's unused options down. */
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
        if (!key_in(k, drv->options) && key_in(k, child->options)) {
            g_ptr_array_add(keys, k);
        }
    }
    for (guint i = 0; i < keys->len; i++) {
        g_autofree char *key = g_strdup(keys->pdata[i]);
        char *v = opts_take(opts, key);
        g_hash_table_insert(opts, g_strdup_printf("file.%s", key), v);
    }
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
    if (!opts_take_bool(opts, "read-only", ro_key, &f.read_only, errp) ||
        !opts_take_bool(opts, "cache.direct", direct_key, &f.cache_direct, errp) ||
        !opts_take_bool(opts, "cache.no-flush", noflush_key, &f.cache_no_flush, errp)) {
        return NULL;
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
    bdrv_all_nodes();
    g_ptr_array_add(all_nodes, bs);
    if (!bdrv_refresh_perms(bs, errp)) {
        bdrv_unref(bs);
        return NULL;
    }
    return bs;

fail:
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

typedef struct BdrvWriteNotifier {
    BdrvWriteNotify *fn;
    void *opaque;
} BdrvWriteNotifier;

void bdrv_add_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque)
{
    BdrvWriteNotifier n = {fn, opaque};
    g_rw_lock_writer_lock(&bs->notify_lock);
    if (!bs->write_notifiers) {
        bs->write_notifiers = g_array_new(FALSE, FALSE, sizeof(BdrvWriteNotifier));
    }
    g_array_append_val(bs->write_notifiers, n);
    g_rw_lock_writer_unlock(&bs->notify_lock);
}

void bdrv_remove_write_notifier(BlockDriverState *bs, BdrvWriteNotify *fn, void *opaque)
{
    g_rw_lock_writer_lock(&bs->notify_lock);
    for (guint i = 0; bs->write_notifiers && i < bs->write_notifiers->len; i++) {
        BdrvWriteNotifier *n = &g_array_index(bs->write_notifiers, BdrvWriteNotifier, i);
        if (n->fn == fn && n->opaque == opaque) {
            g_array_remove_index(bs->write_notifiers, i);
            break;
        }
    }
    g_rw_lock_writer_unlock(&bs->notify_lock);
}

/* After a successful change to bs's bytes; returns 0 for the request. */
static int notify_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf)
{
    if (!g_atomic_pointer_get(&bs->write_notifiers)) {
        return 0;
    }
    g_rw_lock_reader_lock(&bs->notify_lock);
    for (guint i = 0; i < bs->write_notifiers->len; i++) {
        BdrvWriteNotifier *n = &g_array_index(bs->write_notifiers, BdrvWriteNotifier, i);
        n->fn(n->opaque, offset, bytes, buf);
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
    int ret = WITH_SERIAL(bs, bs->drv->pwrite(bs, offset, bytes, buf, flags));
    return ret < 0 ? ret : notify_write(bs, offset, bytes, buf);
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
    if (!bs->drv->discard) {
        return 0; /* a hint: nothing to do is a valid answer */
    }
    int ret = WITH_SERIAL(bs, bs->drv->discard(bs, offset, bytes));
    return ret < 0 ? ret : notify_write(bs, offset, bytes, NULL);
}

int bdrv_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    if (bs->read_only) {
        return -EPERM;
    }
    if (bs->drv->write_zeroes) {
        int ret = WITH_SERIAL(bs, bs->drv->write_zeroes(bs, offset, bytes, flags));
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

int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs->drv->getlength) {
        return -ENOMEDIUM;
    }
    return bs->drv->getlength(bs);
}

const char *bdrv_filename(BlockDriverState *bs)
{
    while (bs) {
        if (bs->drv->filename) {
            return bs->drv->filename(bs);
        }
        bs = bdrv_file_child(bs);
    }
    return "";
}
