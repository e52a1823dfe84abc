/* -drive and -blockdev (include/block/blockdev.h). */
#include "block/blockdev.h"
#include "block/qcow2-format.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What -drive remembers besides the backend. */
typedef struct DriveInfo {
    BlockBackend *blk;
    BlockInterfaceType type;
    bool auto_device; /* if=virtio/ide: the machine makes its device */
    bool claimed;
} DriveInfo;

static GPtrArray *drives;        /* DriveInfo*, command-line order */
static GPtrArray *monitor_nodes; /* BlockDriverState* made by -blockdev / blockdev-add */
static int if_count[BLK_IF_COUNT];

static const char *const if_names[BLK_IF_COUNT] = {"none", "ide", "virtio", "floppy", "sd"};

/* Keys -drive keeps for itself (upstream's qemu_common_drive_opts and legacy ones). */
static const char *const drive_own_keys[] = {"if",
                                             "bus",
                                             "unit",
                                             "index",
                                             "media",
                                             "snapshot",
                                             "cache",
                                             "format",
                                             "id",
                                             "readonly",
                                             "serial",
                                             "addr",
                                             "rerror",
                                             "werror",
                                             "copy-on-read",
                                             "boot",
                                             "trans",
                                             "cyls",
                                             "heads",
                                             "secs",
                                             "throttling.iops-total",
                                             "stats-account-invalid",
                                             "stats-account-failed",
                                             NULL};

static DriveInfo *drive_of(BlockBackend *blk)
{
    for (guint i = 0; drives && i < drives->len; i++) {
        DriveInfo *d = drives->pdata[i];
        if (d->blk == blk) {
            return d;
        }
    }
    return NULL;
}

static bool parse_onoff(const char *name, const char *v, bool *out, GError **errp)
{
    gboolean b;
    if (!v) {
        return true;
    }
    if (!keyval_parse_bool(name, v, &b, NULL)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
        return false;
    }
    *out = b;
    return true;
}

static bool parse_number(GHashTable *own, const char *name, int *out, GError **errp)
{
    const char *v = g_hash_table_lookup(own, name);
    char *end;
    if (!v) {
        return true;
    }
    gint64 n = g_ascii_strtoll(v, &end, 0);
    if (!*v || *end || n < INT_MIN || n > INT_MAX) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    *out = n;
    return true;
}

static bool drive_slot_taken(BlockInterfaceType type, int bus, int unit)
{
    for (guint i = 0; drives && i < drives->len; i++) {
        DriveInfo *d = drives->pdata[i];
        int b, u;
        if (d->type == type && blk_legacy_type(d->blk, &b, &u, NULL) == type && b == bus &&
            u == unit) {
            return true;
        }
    }
    return false;
}

/* Upstream's placement of a drive: index= or bus=/unit=, else the first free unit from bus= on.
 * IDE has two units a bus; floppy and sd have no limit (index= is the unit on bus 0). */
static bool drive_slot(BlockInterfaceType type, GHashTable *own, int *bus, int *unit, GError **errp)
{
    int max_devs = type == BLK_IF_IDE ? 2 : 0;
    int index = -1;
    *bus = 0;
    *unit = -1;
    if (!parse_number(own, "bus", bus, errp) || !parse_number(own, "unit", unit, errp) ||
        !parse_number(own, "index", &index, errp)) {
        return false;
    }
    if (index != -1) {
        if (*bus != 0 || *unit != -1) {
            error_setg(errp, "index cannot be used with bus and unit");
            return false;
        }
        *bus = max_devs ? index / max_devs : 0;
        *unit = max_devs ? index % max_devs : index;
    }
    if (*unit == -1) {
        *unit = 0;
        while (drive_slot_taken(type, *bus, *unit)) {
            if (++*unit == max_devs) {
                *unit = 0;
                ++*bus;
            }
        }
    }
    if (max_devs && *unit >= max_devs) {
        error_setg(errp, "unit %d too big (max is %d)", *unit, max_devs - 1);
        return false;
    }
    if (drive_slot_taken(type, *bus, *unit)) {
        error_setg(errp, "drive with bus=%d, unit=%d (index=%d) exists", *bus, *unit, index);
        return false;
    }
    return true;
}

/* The format of an image opened without one. Upstream probes once the file is open (a missing
 * one is only an error), and warns of a raw guess, without its usual prefix, only when the
 * image is writable (block 0 is what a guest could change into another format's header). */
static const char *probe_format(const char *fname, bool read_only)
{
    const char *format = bdrv_probe_format(fname);
    int fd = open(fname, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && strcmp(format, "raw") == 0 && !read_only) {
        fprintf(stderr,
                "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
                "         Automatically detecting the format is dangerous for raw images, "
                "write operations on block 0 will be restricted.\n"
                "         Specify the 'raw' format explicitly to remove the restrictions.\n",
                fname);
    }
    if (fd >= 0) {
        close(fd);
    }
    return format;
}

/* Upstream's cache= modes onto (write cache, O_DIRECT, no flush). */
static bool parse_cache(const char *mode, bool *wce, bool *direct, bool *no_flush)
{
    *wce = true;
    *direct = false;
    *no_flush = false;
    if (strcmp(mode, "writeback") == 0) {
        return true;
    } else if (strcmp(mode, "none") == 0 || strcmp(mode, "off") == 0) {
        *direct = true;
    } else if (strcmp(mode, "writethrough") == 0) {
        *wce = false;
    } else if (strcmp(mode, "directsync") == 0) {
        *wce = false;
        *direct = true;
    } else if (strcmp(mode, "unsafe") == 0) {
        *no_flush = true;
    } else {
        return false;
    }
    return true;
}

static void print_formats(void)
{
    /* Only what this build can open; upstream lists its compiled-in drivers the same way. */
    printf("Supported formats: file qcow2 raw\n");
}

/*
 * snapshot=on: a temporary qcow2 overlay over the (read-only) image, as upstream makes one: in
 * $TMPDIR or /var/tmp, as large as the image, unlinked once open, flushes skipped. The guest's
 * writes land in it and are gone at exit.
 */
static BlockDriverState *snapshot_overlay(BlockDriverState *image, bool discard_unmap,
                                          GError **errp)
{
    int64_t size = bdrv_getlength(image);
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Could not get image size");
        return NULL;
    }
    const char *tmpdir = g_getenv("TMPDIR") ? g_getenv("TMPDIR") : "/var/tmp";
    g_autofree char *path = g_build_filename(tmpdir, "vl.XXXXXX", NULL);
    int fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not get temporary filename");
        return NULL;
    }
    close(fd);
    BdrvOpenFlags flags = {.cache_no_flush = true, .discard_unmap = discard_unmap};
    g_autoptr(GHashTable) fopts = bdrv_opts_new();
    g_hash_table_insert(fopts, g_strdup("driver"), g_strdup("file"));
    g_hash_table_insert(fopts, g_strdup("filename"), g_strdup(path));
    BlockDriverState *file = bdrv_open_opts(fopts, &flags, errp);
    BlockDriverState *overlay = NULL;
    Qcow2CreateOpts create = {.size = (uint64_t)size};
    if (file && bdrv_qcow2_create(file, &create, errp)) {
        g_autoptr(GHashTable) opts = bdrv_opts_new();
        g_hash_table_insert(opts, g_strdup("driver"), g_strdup("qcow2"));
        g_hash_table_insert(opts, g_strdup("file"), g_strdup(file->node_name));
        g_hash_table_insert(opts, g_strdup("backing"), g_strdup(image->node_name));
        overlay = bdrv_open_opts(opts, &flags, errp);
    }
    bdrv_unref(file);
    unlink(path); /* the open descriptor keeps it while the overlay lives */
    return overlay;
}

static bool name_is_node(const char *id)
{
    return bdrv_find_node(id) != NULL;
}

BlockBackend *drive_new(KeyvalList *kv, BlockInterfaceType default_if, bool *help_printed,
                        GError **errp)
{
    g_autoptr(GHashTable) opts = bdrv_opts_new();
    GHashTable *own = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) own_ref = own;
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        bool mine = false;
        for (const char *const *k = drive_own_keys; *k; k++) {
            mine |= strcmp(p->key, *k) == 0;
        }
        g_hash_table_insert(mine ? own : opts, g_strdup(p->key), g_strdup(p->value));
    }
    *help_printed = false;
    const char *id = g_hash_table_lookup(own, "id");
    const char *iface = g_hash_table_lookup(own, "if");
    const char *format = g_hash_table_lookup(own, "format");
    const char *cache = g_hash_table_lookup(own, "cache");
    const char *media = g_hash_table_lookup(own, "media");
    const char *file = g_hash_table_lookup(opts, "file");
    bool read_only = false, snapshot = false;

    if (id && !id_wellformed(id)) {
        error_set_param_value(errp, "id", "an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, '-', '.', '_', "
                                "starting with a letter.\n");
        return NULL;
    }
    BlockInterfaceType type = default_if;
    if (iface) {
        if (strcmp(iface, "none") == 0) {
            type = BLK_IF_NONE;
        } else if (strcmp(iface, "ide") == 0) {
            type = BLK_IF_IDE;
        } else if (strcmp(iface, "virtio") == 0) {
            type = BLK_IF_VIRTIO;
        } else if (strcmp(iface, "floppy") == 0) {
            type = BLK_IF_FLOPPY; /* the machine decides whether it has one */
        } else if (strcmp(iface, "sd") == 0) {
            type = BLK_IF_SD;
        } else if (strcmp(iface, "scsi") == 0 || strcmp(iface, "pflash") == 0 ||
                   strcmp(iface, "mtd") == 0 || strcmp(iface, "xen") == 0) {
            error_setg(errp, "machine type does not support if=%s,bus=0,unit=0", iface);
            return NULL;
        } else {
            error_setg(errp, "unsupported bus type '%s'", iface);
            return NULL;
        }
    }
    if (format && strcmp(format, "help") == 0) {
        print_formats();
        *help_printed = true;
        return NULL;
    }
    if (format && g_hash_table_contains(opts, "driver")) {
        error_setg(errp, "Cannot specify both 'driver' and 'format'");
        return NULL;
    }
    if (!parse_onoff("read-only", g_hash_table_lookup(own, "readonly"), &read_only, errp) ||
        !parse_onoff("snapshot", g_hash_table_lookup(own, "snapshot"), &snapshot, errp)) {
        return NULL;
    }
    bool wce = true, direct = false, no_flush = false;
    if (cache && !parse_cache(cache, &wce, &direct, &no_flush)) {
        error_setg(errp, "invalid cache option");
        return NULL;
    }
    bool cdrom = false;
    if (media) {
        if (strcmp(media, "cdrom") == 0) {
            cdrom = true;
            read_only = true;
        } else if (strcmp(media, "disk") != 0) {
            error_setg(errp, "'%s' invalid media", media);
            return NULL;
        }
    }
    if (id && blk_by_name(id)) {
        error_setg(errp, "Duplicate ID '%s' for drive", id);
        return NULL;
    }
    if (id && name_is_node(id)) {
        error_setg(errp, "Device name '%s' conflicts with an existing node name", id);
        return NULL;
    }

    int index = if_count[type];
    int bus = index / 2, unit = index % 2;
    bool placed = type == BLK_IF_IDE || type == BLK_IF_FLOPPY || type == BLK_IF_SD;
    if (placed && !drive_slot(type, own, &bus, &unit, errp)) {
        return NULL;
    }
    g_autofree char *name = NULL;
    if (id) {
        name = g_strdup(id);
    } else if (type == BLK_IF_IDE) {
        name = g_strdup_printf("ide%d-%s%d", bus, cdrom ? "cd" : "hd", unit);
    } else if (placed) {
        name = g_strdup_printf("%s%d", if_names[type], unit);
    } else {
        name = g_strdup_printf("%s%d", if_names[type], index);
    }

    BlockDriverState *bs = NULL;
    bool has_medium = file || format || g_hash_table_contains(opts, "driver") ||
                      bdrv_opts_has_prefix(opts, "file");
    if (has_medium) {
        if (file) {
            /* file=NAME is the protocol node's file name (upstream: a filename string). */
            g_autofree char *fname = g_strdup(file);
            g_hash_table_remove(opts, "file");
            if (!format && !g_hash_table_contains(opts, "driver")) {
                format = probe_format(fname, read_only);
            }
            g_hash_table_insert(opts, g_strdup("file.filename"), g_strdup(fname));
        }
        if (format) {
            g_hash_table_insert(opts, g_strdup("driver"), g_strdup(format));
        }
        if (!g_hash_table_contains(opts, "driver")) {
            g_hash_table_insert(opts, g_strdup("driver"), g_strdup("raw"));
        }
        BdrvOpenFlags flags = {
            .drive_style = true,
            .auto_read_only = true,
            .read_only = read_only || snapshot,
            .cache_direct = direct,
            .cache_no_flush = no_flush,
        };
        bs = bdrv_open_opts(opts, &flags, errp);
        if (!bs) {
            return NULL;
        }
        if (snapshot && !read_only) {
            BlockDriverState *image = bs;
            bs = snapshot_overlay(image, image->discard_unmap, errp);
            bdrv_unref(image); /* the overlay's backing edge holds it */
            if (!bs) {
                return NULL;
            }
        }
    } else if (g_hash_table_size(opts)) {
        /* Options for a node that is never opened. */
        error_setg(errp, "Must specify either driver or file");
        return NULL;
    }

    BlockBackend *blk = blk_new(name, NULL);
    if (bs) {
        /* The backend holds nothing until a device takes its permissions. */
        bool ok = blk_insert_bs(blk, bs, 0, BLK_PERM_ALL, errp);
        bdrv_unref(bs);
        if (!ok) {
            blk_unref(blk);
            return NULL;
        }
    }
    blk_set_enable_write_cache(blk, wce);
    blk_set_root_read_only(blk, read_only || snapshot);
    blk_set_legacy(blk, type, bus, unit, cdrom);
    if_count[type]++;
    DriveInfo *d = g_new0(DriveInfo, 1);
    d->blk = blk;
    d->type = type;
    d->auto_device = type != BLK_IF_NONE;
    if (!drives) {
        drives = g_ptr_array_new();
    }
    g_ptr_array_add(drives, d);
    return blk;
}

/* One JSON value under key `full`: objects and arrays recurse, scalars become strings as
 * the keyval grammar would spell them. */
static bool flatten_node(JsonNode *node, const char *full, GHashTable *out, GError **errp)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        g_autofree char *sub = g_strdup_printf("%s.", full);
        return blockdev_flatten_json(json_node_get_object(node), sub, out, errp);
    }
    if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *arr = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            g_autofree char *sub = g_strdup_printf("%s.%u", full, i);
            if (!flatten_node(json_array_get_element(arr, i), sub, out, errp)) {
                return false;
            }
        }
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(node)) {
        /* null: absent, but for "backing": null, which says "no backing file" (a NULL value,
         * as block.h reads it). */
        const char *last = strrchr(full, '.');
        if (strcmp(last ? last + 1 : full, "backing") == 0) {
            g_hash_table_insert(out, g_strdup(full), NULL);
        }
        return true;
    }
    GType t = json_node_get_value_type(node);
    char *v;
    if (t == G_TYPE_BOOLEAN) {
        v = g_strdup(json_node_get_boolean(node) ? "on" : "off");
    } else if (t == G_TYPE_INT64) {
        v = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
    } else if (t == G_TYPE_DOUBLE) {
        v = g_strdup_printf("%g", json_node_get_double(node));
    } else {
        v = g_strdup(json_node_get_string(node));
    }
    g_hash_table_insert(out, g_strdup(full), v);
    return true;
}

bool blockdev_flatten_json(JsonObject *obj, const char *prefix, GHashTable *out, GError **errp)
{
    GList *members = json_object_get_members(obj);
    bool ok = true;
    for (GList *l = members; l && ok; l = l->next) {
        g_autofree char *full = g_strdup_printf("%s%s", prefix, (const char *)l->data);
        ok = flatten_node(json_object_get_member(obj, l->data), full, out, errp);
    }
    g_list_free(members);
    return ok;
}

static GHashTable *opts_from_keyval(const KeyvalList *kv)
{
    GHashTable *opts = bdrv_opts_new();
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *p = g_ptr_array_index(kv->pairs, i);
        g_hash_table_insert(opts, g_strdup(p->key), g_strdup(p->value));
    }
    return opts;
}

static void adopt_node(BlockDriverState *bs)
{
    if (!monitor_nodes) {
        monitor_nodes = g_ptr_array_new();
    }
    g_ptr_array_add(monitor_nodes, bs);
}

static BlockDriverState *blockdev_add_opts(GHashTable *opts, GError **errp)
{
    if (!g_hash_table_contains(opts, "driver")) {
        error_set_missing_param(errp, "driver");
        return NULL;
    }
    const BlockDriver *driver = bdrv_find_driver(g_hash_table_lookup(opts, "driver"));
    if (driver && driver->check_schema && !driver->check_schema(opts, errp)) {
        return NULL;
    }
    if (!g_hash_table_contains(opts, "node-name")) {
        if (driver) {
            error_setg(errp, "'node-name' must be specified for the root node");
            return NULL;
        }
        /* An unknown driver is reported first, as upstream's schema check does. */
    }
    BlockDriverState *bs = bdrv_open_opts(opts, NULL, errp);
    if (bs) {
        adopt_node(bs);
    }
    return bs;
}

BlockDriverState *blockdev_add_legacy(KeyvalList *kv, GError **errp)
{
    g_autoptr(GHashTable) opts = opts_from_keyval(kv);
    if (!g_hash_table_contains(opts, "node-name")) {
        error_setg(errp, "'node-name' needs to be specified");
        return NULL;
    }
    if (!g_hash_table_contains(opts, "driver")) {
        if (!bdrv_opts_has_prefix(opts, "file")) {
            /* upstream's bdrv_open without a driver and without a file */
            error_setg(errp, "Must specify either driver or file");
            return NULL;
        }
        /* Upstream probes the format (warning that it guessed raw); raw is what it finds
         * on anything but a qcow2 image. */
        g_hash_table_insert(opts, g_strdup("driver"), g_strdup("raw"));
    }
    static const BdrvOpenFlags legacy = {.drive_style = true};
    BlockDriverState *bs = bdrv_open_opts(opts, &legacy, errp);
    if (bs) {
        adopt_node(bs);
    }
    return bs;
}

static BlockInterfaceType machine_default_if = BLK_IF_IDE; /* the default machine, pc */

void drive_set_machine_default_if(BlockInterfaceType type)
{
    machine_default_if = type;
}

BlockInterfaceType drive_machine_default_if(void)
{
    return machine_default_if;
}

bool drive_del(const char *id, GError **errp)
{
    if (bdrv_find_node(id)) {
        return blockdev_del(id, errp);
    }
    BlockBackend *blk = blk_by_name(id);
    if (!blk) {
        error_setg(errp, "Device '%s' not found", id);
        return false;
    }
    DriveInfo *d = drive_of(blk);
    if (!d) {
        error_setg(errp, "Deleting device added with blockdev-add is not supported");
        return false;
    }
    blk_drain(blk);
    blk_remove_bs(blk);
    if (!blk_dev_name(blk) && !d->claimed) {
        /* Nothing else holds the backend: it goes with its drive. */
        g_ptr_array_remove(drives, d);
        g_free(d);
        blk_unref(blk);
    } else {
        /* A device keeps its (now empty, anonymous) backend, whose requests then fail with
         * ENOMEDIUM; the ID is free again. */
        blk_drive_deleted(blk);
    }
    return true;
}

BlockDriverState *blockdev_add_keyval(KeyvalList *kv, GError **errp)
{
    g_autoptr(GHashTable) opts = opts_from_keyval(kv);
    return blockdev_add_opts(opts, errp);
}

BlockDriverState *blockdev_add_json(JsonObject *obj, GError **errp)
{
    g_autoptr(GHashTable) opts = bdrv_opts_new();
    if (!blockdev_flatten_json(obj, "", opts, errp)) {
        return NULL;
    }
    return blockdev_add_opts(opts, errp);
}

bool blockdev_is_monitor_owned(BlockDriverState *bs)
{
    return monitor_nodes && g_ptr_array_find(monitor_nodes, bs, NULL);
}

bool blockdev_del(const char *node_name, GError **errp)
{
    BlockDriverState *bs = bdrv_find_node(node_name);
    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'", node_name);
        return false;
    }
    if (!blockdev_is_monitor_owned(bs)) {
        error_setg(errp, "Node %s is not owned by the monitor", node_name);
        return false;
    }
    /* Upstream's two words: a backend (device) on it, or another node using it. */
    if (bs->backends) {
        error_setg(errp, "Node %s is in use", node_name);
        return false;
    }
    for (guint i = 0; i < bs->parents->len; i++) {
        BdrvChild *c = bs->parents->pdata[i];
        if (strcmp(c->name, "backing") == 0) {
            error_setg(errp, "Node '%s' is busy: node is used as backing hd of '%s'", node_name,
                       c->parent->node_name);
            return false;
        }
    }
    if (bdrv_has_parents(bs)) {
        error_setg(errp, "Block device %s is in use", node_name);
        return false;
    }
    g_ptr_array_remove(monitor_nodes, bs);
    bdrv_unref(bs);
    return true;
}

BlockBackend *blockdev_backend_for_device(const char *drive, const char *owner_type, bool automatic,
                                          GError **errp)
{
    BlockBackend *blk = blk_by_name(drive);
    if (blk) {
        DriveInfo *d = drive_of(blk);
        if (d && d->auto_device && !automatic) {
            error_setg(errp,
                       "Drive '%s' is already in use because it has been automatically "
                       "connected to another device (did you need 'if=none' in the drive "
                       "options?)",
                       drive);
            return NULL;
        }
        if (blk_dev_name(blk) || (d && d->claimed)) {
            error_setg(errp, "Drive '%s' is already in use by another device", drive);
            return NULL;
        }
        /* A CD drive is the one device here with removable media. */
        if (!blk_is_inserted(blk) && strcmp(owner_type, "ide-cd") != 0) {
            error_setg(errp, "Device needs media, but drive is empty");
            return NULL;
        }
        if (d) {
            d->claimed = true;
        }
        return blk;
    }
    BlockDriverState *bs = bdrv_find_node(drive);
    if (!bs) {
        error_setg(errp, "Property '%s.drive' can't find value '%s'", owner_type, drive);
        return NULL;
    }
    /* A node used directly: an anonymous backend of its own, as upstream makes. */
    blk = blk_new(NULL, NULL);
    if (!blk_insert_bs(blk, bs, 0, BLK_PERM_ALL, errp)) {
        blk_unref(blk);
        return NULL;
    }
    return blk;
}

bool blockdev_claim_for_device(BlockBackend *blk, const char *owner_type, GError **errp)
{
    return blockdev_backend_for_device(blk_name(blk), owner_type, true, errp) != NULL;
}

void blockdev_cleanup(void)
{
    for (guint i = 0; drives && i < drives->len; i++) {
        g_free(drives->pdata[i]);
    }
    g_clear_pointer(&drives, g_ptr_array_unref);
    g_clear_pointer(&monitor_nodes, g_ptr_array_unref);
    memset(if_count, 0, sizeof(if_count));
    block_cleanup();
}

BlockDriverState *blockdev_open_medium(const char *filename, const char *format, bool read_only,
                                       GError **errp)
{
    g_autoptr(GHashTable) opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(opts, g_strdup("driver"),
                        g_strdup(format ? format : probe_format(filename, read_only)));
    g_hash_table_insert(opts, g_strdup("file.filename"), g_strdup(filename));
    BdrvOpenFlags flags = {.drive_style = true, .auto_read_only = true, .read_only = read_only};
    return bdrv_open_opts(opts, &flags, errp);
}
