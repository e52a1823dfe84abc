/*
 * Device state as field tables, and the encoding of a set of them.
 *
 * A device describes the part of its struct that makes up its guest-visible state once, as a
 * VMStateDescription: an ordered table of fields (offset, type, count, the version that added
 * it), with optional hooks. The same table saves, checks and loads; nothing is hand-serialised.
 *
 * The root builds a VMStateSet, an ordered list of (id, instance, table, opaque): the machine's
 * devices, then the CPU, then the virtual clock. Its encoding (all integers big-endian):
 *
 *   set:      "QCDS"  u32 format (1)  u32 n_sections  section * n_sections
 *   section:  u8 id_len  id  u32 instance  u32 version  u32 payload_len  payload
 *   payload:  every field whose since <= version, in table order, fixed width:
 *             u8/u16/u32/u64/i32/i64 as such, bool as one byte 0|1, buffers raw,
 *             arrays element after element, structs as their sub-table's payload
 *
 * A payload's length follows from (table, version) alone, so a section whose length is not
 * exactly that is refused before its bytes are read. Loading is all or nothing:
 *
 *   parse every section ─► match (id, instance) to the set, each once ─► version in
 *   [minimum_version, version] ─► length exact ─► decode into a zeroed scratch copy of the
 *   struct and run .check on it ─► only when every section passed: decode into the real
 *   devices and run .post_load (which cannot fail)
 *
 * Fields absent from an older stream (since > stream version) get their .def value (0 unless
 * given). Times that matter to the guest are stored on the virtual clock (ns); the clock has
 * its own section, loaded last, so absolute deadlines stay consistent across hosts.
 */
#ifndef MIGRATION_VMSTATE_H
#define MIGRATION_VMSTATE_H

#include <gio/gio.h> /* GIOErrorEnum: the codes loads fail with */
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    VMS_U8,
    VMS_U16,
    VMS_U32,
    VMS_U64,
    VMS_I8,
    VMS_I16,
    VMS_I32,
    VMS_I64,
    VMS_BOOL,
    VMS_BUFFER, /* size raw bytes */
    VMS_STRUCT, /* sub-table; size is the element stride */
} VMStateType;

typedef struct VMStateDescription VMStateDescription;

typedef struct VMStateField {
    const char *name;
    size_t offset;
    VMStateType type;
    size_t size;  /* VMS_BUFFER: bytes; VMS_STRUCT: sizeof one element */
    guint count;  /* array length, 0 or 1 for a single value */
    int since;    /* first version with this field (0: always there) */
    uint64_t def; /* value when an older stream lacks it (scalars) */
    const VMStateDescription *sub;
} VMStateField;

struct VMStateDescription {
    const char *name;
    int version;
    int minimum_version; /* oldest stream version still loadable */
    size_t size;         /* sizeof the struct opaque points at (the scratch copy) */
    /* Fills fields from live state that lives elsewhere (e.g. a computed counter). */
    void (*pre_save)(void *opaque);
    /* Sees the decoded fields in a zeroed copy of the struct (pointers NULL) beside the live
     * object (read only: sizes and features fixed at creation), and refuses values the device
     * cannot take. Runs before any device is touched. */
    bool (*check)(const void *scratch, const void *live, int version, GError **errp);
    /* Applies the loaded fields: re-arms timers, re-drives output lines. */
    void (*post_load)(void *opaque, int version);
    const VMStateField *fields; /* ends with VMSTATE_END */
};

/* Compile-time type check: the field must have C type T (an array field: elements of T). */
#define VMS_OFF(S, f, T)  _Generic(((S *)0)->f, T : offsetof(S, f))
#define VMS_AOFF(S, f, T) _Generic(((S *)0)->f[0], T : offsetof(S, f))
#define VMS_ALEN(S, f)    (sizeof(((S *)0)->f) / sizeof(((S *)0)->f[0]))

#define VMS_SCALAR(S, f, T, ty, v)                                                                 \
    {                                                                                              \
        .name = #f, .offset = VMS_OFF(S, f, T), .type = ty, .size = sizeof(T), .since = v          \
    }
#define VMS_ARRAY(S, f, T, ty, v)                                                                  \
    {                                                                                              \
        .name = #f, .offset = VMS_AOFF(S, f, T), .type = ty, .size = sizeof(T),                    \
        .count = VMS_ALEN(S, f), .since = v                                                        \
    }

#define VMSTATE_U8(S, f)   VMS_SCALAR(S, f, uint8_t, VMS_U8, 0)
#define VMSTATE_U16(S, f)  VMS_SCALAR(S, f, uint16_t, VMS_U16, 0)
#define VMSTATE_U32(S, f)  VMS_SCALAR(S, f, uint32_t, VMS_U32, 0)
#define VMSTATE_U64(S, f)  VMS_SCALAR(S, f, uint64_t, VMS_U64, 0)
#define VMSTATE_I8(S, f)   VMS_SCALAR(S, f, int8_t, VMS_I8, 0)
#define VMSTATE_I16(S, f)  VMS_SCALAR(S, f, int16_t, VMS_I16, 0)
#define VMSTATE_I32(S, f)  VMS_SCALAR(S, f, int32_t, VMS_I32, 0)
#define VMSTATE_I64(S, f)  VMS_SCALAR(S, f, int64_t, VMS_I64, 0)
#define VMSTATE_BOOL(S, f) VMS_SCALAR(S, f, bool, VMS_BOOL, 0)

/* The same, added in version v. */
#define VMSTATE_U8_V(S, f, v)   VMS_SCALAR(S, f, uint8_t, VMS_U8, v)
#define VMSTATE_U16_V(S, f, v)  VMS_SCALAR(S, f, uint16_t, VMS_U16, v)
#define VMSTATE_U32_V(S, f, v)  VMS_SCALAR(S, f, uint32_t, VMS_U32, v)
#define VMSTATE_U64_V(S, f, v)  VMS_SCALAR(S, f, uint64_t, VMS_U64, v)
#define VMSTATE_I32_V(S, f, v)  VMS_SCALAR(S, f, int32_t, VMS_I32, v)
#define VMSTATE_I64_V(S, f, v)  VMS_SCALAR(S, f, int64_t, VMS_I64, v)
#define VMSTATE_BOOL_V(S, f, v) VMS_SCALAR(S, f, bool, VMS_BOOL, v)

/* Fixed-length arrays (the whole C array). */
#define VMSTATE_U8_ARRAY(S, f)   VMS_ARRAY(S, f, uint8_t, VMS_U8, 0)
#define VMSTATE_U16_ARRAY(S, f)  VMS_ARRAY(S, f, uint16_t, VMS_U16, 0)
#define VMSTATE_U32_ARRAY(S, f)  VMS_ARRAY(S, f, uint32_t, VMS_U32, 0)
#define VMSTATE_U64_ARRAY(S, f)  VMS_ARRAY(S, f, uint64_t, VMS_U64, 0)
#define VMSTATE_I32_ARRAY(S, f)  VMS_ARRAY(S, f, int32_t, VMS_I32, 0)
#define VMSTATE_BOOL_ARRAY(S, f) VMS_ARRAY(S, f, bool, VMS_BOOL, 0)

/* A byte buffer: the whole uint8_t array f, stored raw. */
#define VMSTATE_BUFFER(S, f)                                                                       \
    {                                                                                              \
        .name = #f, .offset = VMS_AOFF(S, f, uint8_t), .type = VMS_BUFFER,                         \
        .size = sizeof(((S *)0)->f)                                                                \
    }

/* A nested struct of type T described by table d, and a whole array of them. */
#define VMSTATE_STRUCT(S, f, T, d)                                                                 \
    {                                                                                              \
        .name = #f, .offset = VMS_OFF(S, f, T), .type = VMS_STRUCT, .size = sizeof(T), .sub = &(d) \
    }
#define VMSTATE_STRUCT_ARRAY(S, f, T, d)                                                           \
    {                                                                                              \
        .name = #f, .offset = VMS_AOFF(S, f, T), .type = VMS_STRUCT, .size = sizeof(T),            \
        .count = VMS_ALEN(S, f), .sub = &(d)                                                       \
    }

#define VMSTATE_END                                                                                \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* Bytes a payload of this table takes at stream version `version`. */
gsize vmstate_payload_size(const VMStateDescription *vmsd, int version);
/* One table's payload at its current version, appended to out (runs pre_save). */
void vmstate_save_fields(const VMStateDescription *vmsd, void *opaque, GByteArray *out);
/* Decodes a payload of `version` into opaque (no hooks); false if len is not exact. */
bool vmstate_load_fields(const VMStateDescription *vmsd, void *opaque, int version,
                         const guint8 *buf, gsize len, GError **errp);

typedef struct VMStateSet VMStateSet;

VMStateSet *vmstate_set_new(void);
void vmstate_set_free(VMStateSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VMStateSet, vmstate_set_free)
/* Appends (id, instance): the table and the object it describes. id must be unique with
 * instance; it is copied. */
void vmstate_set_add(VMStateSet *set, const char *id, guint32 instance,
                     const VMStateDescription *vmsd, void *opaque);
guint vmstate_set_len(VMStateSet *set);

bool vmstate_set_save(VMStateSet *set, GByteArray *out, GError **errp);
/* All or nothing: every section is checked (id, instance, version, length, the table's .check)
 * before any device is touched; a failed load leaves the VM as it was. */
bool vmstate_set_load(VMStateSet *set, const guint8 *buf, gsize len, GError **errp);
/* The checks of vmstate_set_load alone: true if it would load buf; nothing is touched. */
bool vmstate_set_check(VMStateSet *set, const guint8 *buf, gsize len, GError **errp);

#endif
