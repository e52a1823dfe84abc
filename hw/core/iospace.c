/* Port-I/O and MMIO dispatch (include/hw/core/iospace.h). */
#include "hw/core/iospace.h"
#include "util/error.h"
#include "util/log.h"

typedef struct IoRegion {
    char *name;
    uint64_t base, len;
    const IoRegionOps *ops;
    void *opaque;
} IoRegion;

/* Unowned addresses are logged once each; past this many we stop remembering new ones. */
#define LOGGED_ADDR_MAX 4096

struct IoSpace {
    char *name;
    uint64_t limit;
    GArray *regions; /* of IoRegion, sorted by base, non-overlapping */
    gint last_hit;   /* index of the last region found, -1 if none */
    GHashTable *logged;
    bool ports; /* the port space: unassigned reads answer all-ones (see unassigned_value) */
    IoSpaceStats stats;
};

IoSpace *io_space_new(const char *name, uint64_t limit)
{
    IoSpace *s = g_new0(IoSpace, 1);
    s->name = g_strdup(name);
    s->ports = !strcmp(name, "io");
    s->limit = limit;
    s->regions = g_array_new(FALSE, FALSE, sizeof(IoRegion));
    s->last_hit = -1;
    s->logged = g_hash_table_new(g_int64_hash, g_int64_equal);
    return s;
}

void io_space_free(IoSpace *space)
{
    if (!space) {
        return;
    }
    for (guint i = 0; i < space->regions->len; i++) {
        g_free(g_array_index(space->regions, IoRegion, i).name);
    }
    g_array_free(space->regions, TRUE);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, space->logged);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_free(key);
    }
    g_hash_table_destroy(space->logged);
    g_free(space->name);
    g_free(space);
}

/* Index of the first region whose base is > addr. */
static guint upper_bound(IoSpace *s, uint64_t addr)
{
    guint lo = 0, hi = s->regions->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        if (g_array_index(s->regions, IoRegion, mid).base <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static IoRegion *find(IoSpace *s, uint64_t addr)
{
    if (s->last_hit >= 0) {
        IoRegion *r = &g_array_index(s->regions, IoRegion, s->last_hit);
        if (addr - r->base < r->len) {
            return r;
        }
    }
    guint i = upper_bound(s, addr);
    if (i == 0) {
        return NULL;
    }
    IoRegion *r = &g_array_index(s->regions, IoRegion, i - 1);
    if (addr - r->base < r->len) {
        s->last_hit = i - 1;
        return r;
    }
    return NULL;
}

static bool range_free(IoSpace *s, uint64_t base, uint64_t len, const IoRegion *ignore)
{
    for (guint i = 0; i < s->regions->len; i++) {
        IoRegion *r = &g_array_index(s->regions, IoRegion, i);
        if (r != ignore && base < r->base + r->len && r->base < base + len) {
            return false;
        }
    }
    return true;
}

bool io_space_add(IoSpace *space, const char *name, uint64_t base, uint64_t len,
                  const IoRegionOps *ops, void *opaque, GError **errp)
{
    if (len == 0 || base >= space->limit || len > space->limit - base) {
        error_setg(errp,
                   "%s region '%s' at 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                   "x is outside the address space",
                   space->name, name, base, len);
        return false;
    }
    if (!range_free(space, base, len, NULL)) {
        error_setg(errp, "%s region '%s' at 0x%" G_GINT64_MODIFIER "x overlaps '%s'",
                   space->name, name, base, io_space_lookup(space, base) ?:
                   io_space_lookup(space, base + len - 1) ?: "another region");
        return false;
    }
    IoRegion r = {.name = g_strdup(name), .base = base, .len = len, .ops = ops, .opaque = opaque};
    g_array_insert_val(space->regions, upper_bound(space, base), r);
    space->last_hit = -1;
    return true;
}

bool io_space_del(IoSpace *space, uint64_t base)
{
    for (guint i = 0; i < space->regions->len; i++) {
        IoRegion *r = &g_array_index(space->regions, IoRegion, i);
        if (r->base == base) {
            g_free(r->name);
            g_array_remove_index(space->regions, i);
            space->last_hit = -1;
            return true;
        }
    }
    return false;
}

bool io_space_move(IoSpace *space, uint64_t old_base, uint64_t new_base)
{
    for (guint i = 0; i < space->regions->len; i++) {
        IoRegion *r = &g_array_index(space->regions, IoRegion, i);
        if (r->base != old_base) {
            continue;
        }
        if (new_base >= space->limit || r->len > space->limit - new_base ||
            !range_free(space, new_base, r->len, r)) {
            return false;
        }
        IoRegion copy = *r;
        copy.base = new_base;
        g_array_remove_index(space->regions, i);
        g_array_insert_val(space->regions, upper_bound(space, new_base), copy);
        space->last_hit = -1;
        return true;
    }
    return false;
}

const char *io_space_lookup(IoSpace *space, uint64_t addr)
{
    IoRegion *r = find(space, addr);
    return r ? r->name : NULL;
}

bool io_space_region(IoSpace *space, uint64_t addr, uint64_t *base, uint64_t *len,
                     const IoRegionOps **ops, void **opaque)
{
    IoRegion *r = find(space, addr);
    if (!r) {
        return false;
    }
    *base = r->base;
    *len = r->len;
    *ops = r->ops;
    *opaque = r->opaque;
    return true;
}

static void log_unassigned(IoSpace *s, uint64_t addr, bool write, uint64_t val, unsigned size)
{
    if (!qemu_loglevel_mask(LOG_GUEST_ERROR | LOG_UNIMP)) {
        return;
    }
    if (g_hash_table_contains(s->logged, &addr)) {
        return;
    }
    if (g_hash_table_size(s->logged) < LOGGED_ADDR_MAX) {
        gint64 *key = g_new(gint64, 1);
        *key = addr;
        g_hash_table_add(s->logged, key);
    }
    if (write) {
        qemu_log("unassigned %s write 0x%" G_GINT64_MODIFIER "x size %u value 0x%" G_GINT64_MODIFIER
                 "x (logged once per address)\n",
                 s->name, addr, size, val);
    } else {
        qemu_log("unassigned %s read 0x%" G_GINT64_MODIFIER "x size %u (logged once per "
                 "address)\n",
                 s->name, addr, size);
    }
}

/*
 * What a read nobody answers gives the CPU, as upstream's: its unassigned port handler answers
 * all-ones but refuses unaligned accesses, unassigned memory refuses every access, and a
 * refused read gives 0.
 */
static uint64_t unassigned_value(IoSpace *s, uint64_t addr, unsigned size)
{
    if (!s->ports || (addr & (size - 1))) {
        return 0;
    }
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

uint64_t io_space_read(IoSpace *space, uint64_t addr, unsigned size)
{
    IoRegion *r = find(space, addr);
    space->stats.reads++;
    if (!r || !r->ops->read) {
        space->stats.unassigned_reads++;
        log_unassigned(space, addr, false, 0, size);
        return unassigned_value(space, addr, size);
    }
    return r->ops->read(r->opaque, addr - r->base, size);
}

void io_space_write(IoSpace *space, uint64_t addr, uint64_t val, unsigned size)
{
    IoRegion *r = find(space, addr);
    space->stats.writes++;
    if (!r || !r->ops->write) {
        space->stats.unassigned_writes++;
        log_unassigned(space, addr, true, val, size);
        return;
    }
    if (size < 8) {
        val &= (1ull << (size * 8)) - 1;
    }
    r->ops->write(r->opaque, addr - r->base, val, size);
}

void io_space_get_stats(IoSpace *space, IoSpaceStats *out)
{
    *out = space->stats;
}

char *io_space_describe(IoSpace *space)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < space->regions->len; i++) {
        IoRegion *r = &g_array_index(space->regions, IoRegion, i);
        g_string_append_printf(s, "%016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER "x %s\n",
                               r->base, r->base + r->len - 1, r->name);
    }
    return g_string_free(s, FALSE);
}
