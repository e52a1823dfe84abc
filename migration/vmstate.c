/* Field tables and the set encoding (include/migration/vmstate.h). */
#include "migration/vmstate.h"

#include <string.h>

#define SET_MAGIC  0x51434453u /* "QCDS" */
#define SET_FORMAT 1u

typedef struct VMStateEntry {
    char *id;
    guint32 instance;
    const VMStateDescription *vmsd;
    void *opaque;
} VMStateEntry;

struct VMStateSet {
    GArray *entries; /* VMStateEntry, in save order */
};

/* --- field tables ----------------------------------------------------------------------- */

static gsize scalar_width(VMStateType t)
{
    switch (t) {
    case VMS_U8:
    case VMS_I8:
    case VMS_BOOL:
        return 1;
    case VMS_U16:
    case VMS_I16:
        return 2;
    case VMS_U32:
    case VMS_I32:
        return 4;
    case VMS_U64:
    case VMS_I64:
        return 8;
    default:
        return 0;
    }
}

static guint field_count(const VMStateField *f)
{
    return f->count ? f->count : 1;
}

static bool field_present(const VMStateField *f, int version)
{
    return f->since <= version;
}

static gsize element_size(const VMStateField *f, int version)
{
    switch (f->type) {
    case VMS_BUFFER:
        return f->size;
    case VMS_STRUCT:
        /* a nested table follows its parent's version */
        return vmstate_payload_size(f->sub, version);
    default:
        return scalar_width(f->type);
    }
}

gsize vmstate_payload_size(const VMStateDescription *vmsd, int version)
{
    gsize n = 0;
    for (const VMStateField *f = vmsd->fields; f->name; f++) {
        if (field_present(f, version)) {
            n += element_size(f, version) * field_count(f);
        }
    }
    return n;
}

/* The field's value widened to 64 bits, as stored in memory. */
static uint64_t scalar_get(const VMStateField *f, const guint8 *p)
{
    switch (f->type) {
    case VMS_U8:
        return *p;
    case VMS_I8:
        return (uint64_t)(int64_t) * (const int8_t *)p;
    case VMS_BOOL:
        return *(const bool *)p ? 1 : 0;
    case VMS_U16:
        return *(const uint16_t *)p;
    case VMS_I16:
        return (uint64_t)(int64_t) * (const int16_t *)p;
    case VMS_U32:
        return *(const uint32_t *)p;
    case VMS_I32:
        return (uint64_t)(int64_t) * (const int32_t *)p;
    default:
        return *(const uint64_t *)p;
    }
}

static void scalar_set(const VMStateField *f, guint8 *p, uint64_t v)
{
    switch (f->type) {
    case VMS_U8:
    case VMS_I8:
        *p = v;
        break;
    case VMS_BOOL:
        *(bool *)p = v != 0;
        break;
    case VMS_U16:
    case VMS_I16:
        *(uint16_t *)p = v;
        break;
    case VMS_U32:
    case VMS_I32:
        *(uint32_t *)p = v;
        break;
    default:
        *(uint64_t *)p = v;
        break;
    }
}

static void put_be(GByteArray *out, uint64_t v, gsize width)
{
    guint8 b[8];
    for (gsize i = 0; i < width; i++) {
        b[i] = v >> (8 * (width - 1 - i));
    }
    g_byte_array_append(out, b, width);
}

static uint64_t get_be(const guint8 *p, gsize width)
{
    uint64_t v = 0;
    for (gsize i = 0; i < width; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void save_table(const VMStateDescription *vmsd, const guint8 *base, GByteArray *out)
{
    for (const VMStateField *f = vmsd->fields; f->name; f++) {
        const guint8 *p = base + f->offset;
        for (guint i = 0; i < field_count(f); i++, p += f->size) {
            if (f->type == VMS_BUFFER) {
                g_byte_array_append(out, p, f->size);
            } else if (f->type == VMS_STRUCT) {
                save_table(f->sub, p, out);
            } else {
                put_be(out, scalar_get(f, p), scalar_width(f->type));
            }
        }
    }
}

void vmstate_save_fields(const VMStateDescription *vmsd, void *opaque, GByteArray *out)
{
    if (vmsd->pre_save) {
        vmsd->pre_save(opaque);
    }
    save_table(vmsd, opaque, out);
}

/* Decodes a payload whose length has been checked; fields newer than version get defaults.
 * Sign extension of signed fields happens on the widened value, so i32 -1 stays -1. */
static bool load_table(const VMStateDescription *vmsd, guint8 *base, int version, const guint8 **pp,
                       GError **errp)
{
    for (const VMStateField *f = vmsd->fields; f->name; f++) {
        guint8 *p = base + f->offset;
        bool present = field_present(f, version);
        for (guint i = 0; i < field_count(f); i++, p += f->size) {
            if (f->type == VMS_STRUCT) {
                if (!load_table(f->sub, p, present ? version : -1, pp, errp)) {
                    return false;
                }
            } else if (f->type == VMS_BUFFER) {
                if (present) {
                    memcpy(p, *pp, f->size);
                    *pp += f->size;
                } else {
                    memset(p, 0, f->size);
                }
            } else if (!present) {
                scalar_set(f, p, f->def);
            } else {
                gsize w = scalar_width(f->type);
                uint64_t v = get_be(*pp, w);
                *pp += w;
                if (f->type == VMS_BOOL && v > 1) {
                    g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                "%s: field '%s' is not a boolean (%u)", vmsd->name, f->name,
                                (unsigned)v);
                    return false;
                }
                scalar_set(f, p, v);
            }
        }
    }
    return true;
}

bool vmstate_load_fields(const VMStateDescription *vmsd, void *opaque, int version,
                         const guint8 *buf, gsize len, GError **errp)
{
    gsize want = vmstate_payload_size(vmsd, version);
    if (len != want) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: section of %" G_GSIZE_FORMAT " bytes, version %d needs %" G_GSIZE_FORMAT,
                    vmsd->name, len, version, want);
        return false;
    }
    const guint8 *p = buf;
    return load_table(vmsd, opaque, version, &p, errp);
}

/* --- sets ------------------------------------------------------------------------------- */

static void entry_clear(gpointer p)
{
    g_free(((VMStateEntry *)p)->id);
}

VMStateSet *vmstate_set_new(void)
{
    VMStateSet *set = g_new0(VMStateSet, 1);
    set->entries = g_array_new(FALSE, TRUE, sizeof(VMStateEntry));
    g_array_set_clear_func(set->entries, entry_clear);
    return set;
}

void vmstate_set_free(VMStateSet *set)
{
    if (set) {
        g_array_free(set->entries, TRUE);
        g_free(set);
    }
}

void vmstate_set_add(VMStateSet *set, const char *id, guint32 instance,
                     const VMStateDescription *vmsd, void *opaque)
{
    g_assert(strlen(id) <= 255);
    VMStateEntry e = {g_strdup(id), instance, vmsd, opaque};
    g_array_append_val(set->entries, e);
}

guint vmstate_set_len(VMStateSet *set)
{
    return set->entries->len;
}

bool vmstate_set_save(VMStateSet *set, GByteArray *out, GError **errp)
{
    put_be(out, SET_MAGIC, 4);
    put_be(out, SET_FORMAT, 4);
    put_be(out, set->entries->len, 4);
    for (guint i = 0; i < set->entries->len; i++) {
        VMStateEntry *e = &g_array_index(set->entries, VMStateEntry, i);
        gsize idlen = strlen(e->id);
        put_be(out, idlen, 1);
        g_byte_array_append(out, (const guint8 *)e->id, idlen);
        put_be(out, e->instance, 4);
        put_be(out, e->vmsd->version, 4);
        guint len_at = out->len;
        put_be(out, 0, 4);
        guint start = out->len;
        vmstate_save_fields(e->vmsd, e->opaque, out);
        guint payload = out->len - start;
        /* the table alone decides a payload's size: a mismatch is a bug in the table code */
        g_assert(payload == vmstate_payload_size(e->vmsd, e->vmsd->version));
        for (int b = 0; b < 4; b++) {
            out->data[len_at + b] = payload >> (8 * (3 - b));
        }
    }
    return true;
}

typedef struct ParsedSection {
    VMStateEntry *entry;
    int version;
    const guint8 *payload;
    gsize len;
} ParsedSection;

typedef struct Reader {
    const guint8 *p, *end;
} Reader;

static bool take(Reader *r, gsize n, const guint8 **out, const char *what, GError **errp)
{
    if ((gsize)(r->end - r->p) < n) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "device state truncated: %s needs %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
                    " left",
                    what, n, (gsize)(r->end - r->p));
        return false;
    }
    *out = r->p;
    r->p += n;
    return true;
}

static bool take_be(Reader *r, gsize width, uint64_t *v, const char *what, GError **errp)
{
    const guint8 *p;
    if (!take(r, width, &p, what, errp)) {
        return false;
    }
    *v = get_be(p, width);
    return true;
}

static VMStateEntry *find_entry(VMStateSet *set, const char *id, gsize idlen, guint32 instance,
                                guint *index)
{
    for (guint i = 0; i < set->entries->len; i++) {
        VMStateEntry *e = &g_array_index(set->entries, VMStateEntry, i);
        if (e->instance == instance && strlen(e->id) == idlen && !memcmp(e->id, id, idlen)) {
            *index = i;
            return e;
        }
    }
    return NULL;
}

/* One section's header and payload bounds, checked against the set's entry for it. */
static bool parse_section(VMStateSet *set, Reader *r, ParsedSection *parsed, GError **errp)
{
    const guint8 *id;
    uint64_t idlen, instance, version, len;
    if (!take_be(r, 1, &idlen, "section id length", errp) ||
        !take(r, idlen, &id, "section id", errp) ||
        !take_be(r, 4, &instance, "section instance", errp) ||
        !take_be(r, 4, &version, "section version", errp) ||
        !take_be(r, 4, &len, "section length", errp)) {
        return false;
    }
    g_autofree char *name = g_strndup((const char *)id, idlen);
    guint index;
    VMStateEntry *e = find_entry(set, (const char *)id, idlen, instance, &index);
    if (!e || strlen(name) != idlen) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "unknown device state section '%s' instance %u", name, (unsigned)instance);
        return false;
    }
    if (parsed[index].entry) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "device state section '%s' instance %u appears twice", name,
                    (unsigned)instance);
        return false;
    }
    const VMStateDescription *vmsd = e->vmsd;
    if (version > (uint64_t)vmsd->version) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "%s: version %u of the stream is newer than this build's %d", name,
                    (unsigned)version, vmsd->version);
        return false;
    }
    if (version < (uint64_t)vmsd->minimum_version) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "%s: version %u of the stream is older than the oldest supported %d", name,
                    (unsigned)version, vmsd->minimum_version);
        return false;
    }
    gsize want = vmstate_payload_size(vmsd, version);
    if (len != want) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: section of %u bytes, version %u needs %" G_GSIZE_FORMAT, name,
                    (unsigned)len, (unsigned)version, want);
        return false;
    }
    parsed[index].entry = e;
    parsed[index].version = version;
    parsed[index].len = len;
    return take(r, len, &parsed[index].payload, name, errp);
}

static bool set_load(VMStateSet *set, const guint8 *buf, gsize len, bool apply, GError **errp)
{
    Reader r = {buf, buf + len};
    uint64_t magic, format, n;
    if (!take_be(&r, 4, &magic, "header", errp) || !take_be(&r, 4, &format, "header", errp) ||
        !take_be(&r, 4, &n, "header", errp)) {
        return false;
    }
    if (magic != SET_MAGIC) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "not a device state stream (magic 0x%08x)", (unsigned)magic);
        return false;
    }
    if (format != SET_FORMAT) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "device state format %u is not supported (this build reads %u)",
                    (unsigned)format, SET_FORMAT);
        return false;
    }
    guint count = set->entries->len;
    if (n != count) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "device state has %u sections, this machine has %u", (unsigned)n, count);
        return false;
    }
    g_autofree ParsedSection *parsed = g_new0(ParsedSection, count);
    for (guint i = 0; i < count; i++) {
        if (!parse_section(set, &r, parsed, errp)) {
            return false;
        }
    }
    if (r.p != r.end) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%" G_GSIZE_FORMAT " bytes after the last device state section",
                    (gsize)(r.end - r.p));
        return false;
    }
    /* n == count, no duplicates, all known: every entry has its section. Now the values. */
    for (guint i = 0; i < count; i++) {
        ParsedSection *s = &parsed[i];
        const VMStateDescription *vmsd = s->entry->vmsd;
        g_autofree guint8 *scratch = g_malloc0(vmsd->size);
        if (!vmstate_load_fields(vmsd, scratch, s->version, s->payload, s->len, errp)) {
            return false;
        }
        if (vmsd->check && !vmsd->check(scratch, s->entry->opaque, s->version, errp)) {
            g_prefix_error(errp, "%s: ", s->entry->id);
            return false;
        }
    }
    if (!apply) {
        return true;
    }
    /* Everything fits: only now are devices touched, in the set's order. */
    for (guint i = 0; i < count; i++) {
        ParsedSection *s = &parsed[i];
        const VMStateDescription *vmsd = s->entry->vmsd;
        bool ok = vmstate_load_fields(vmsd, s->entry->opaque, s->version, s->payload, s->len, NULL);
        g_assert(ok);
        if (vmsd->post_load) {
            vmsd->post_load(s->entry->opaque, s->version);
        }
    }
    return true;
}

bool vmstate_set_load(VMStateSet *set, const guint8 *buf, gsize len, GError **errp)
{
    return set_load(set, buf, len, true, errp);
}

bool vmstate_set_check(VMStateSet *set, const guint8 *buf, gsize len, GError **errp)
{
    return set_load(set, buf, len, false, errp);
}
