/* The field-table machinery and the set encoding (migration/vmstate.c). */
#include "migration/vmstate.h"

#include <string.h>

typedef struct Inner {
    uint16_t a;
    int32_t b;
} Inner;

static const VMStateDescription vmstate_inner = {
    .name = "inner",
    .version = 1,
    .size = sizeof(Inner),
    .fields = (const VMStateField[]){VMSTATE_U16(Inner, a), VMSTATE_I32(Inner, b), VMSTATE_END},
};

typedef struct Dev {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    bool flag;
    uint8_t buf[5];
    uint32_t arr[3];
    Inner one;
    Inner many[2];
    uint32_t added_v2; /* only in version 2 streams */
    void *not_state;   /* a pointer the table does not name */
    int post_loads;
} Dev;

static bool dev_check(const void *scratch, const void *live, int version, GError **errp)
{
    const Dev *d = scratch;
    g_assert_null(d->not_state); /* the scratch copy is zeroed */
    if (d->u8 == 0xee) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "u8 0xee is not allowed");
        return false;
    }
    return true;
}

static void dev_post_load(void *opaque, int version)
{
    ((Dev *)opaque)->post_loads++;
}

#define DEV_FIELDS_V1                                                                              \
    VMSTATE_U8(Dev, u8), VMSTATE_U16(Dev, u16), VMSTATE_U32(Dev, u32), VMSTATE_U64(Dev, u64),      \
        VMSTATE_I32(Dev, i32), VMSTATE_I64(Dev, i64), VMSTATE_BOOL(Dev, flag),                     \
        VMSTATE_BUFFER(Dev, buf), VMSTATE_U32_ARRAY(Dev, arr),                                     \
        VMSTATE_STRUCT(Dev, one, Inner, vmstate_inner),                                            \
        VMSTATE_STRUCT_ARRAY(Dev, many, Inner, vmstate_inner)

static const VMStateField dev_fields_v2[] = {
    DEV_FIELDS_V1,
    {.name = "added_v2",
     .offset = VMS_OFF(Dev, added_v2, uint32_t),
     .type = VMS_U32,
     .size = 4,
     .since = 2,
     .def = 77},
    VMSTATE_END,
};

static const VMStateDescription vmstate_dev_v2 = {
    .name = "dev",
    .version = 2,
    .minimum_version = 1,
    .size = sizeof(Dev),
    .check = dev_check,
    .post_load = dev_post_load,
    .fields = dev_fields_v2,
};

/* What an older build (version 1, no added_v2) knows. */
static const VMStateDescription vmstate_dev_v1 = {
    .name = "dev",
    .version = 1,
    .size = sizeof(Dev),
    .check = dev_check,
    .post_load = dev_post_load,
    .fields = (const VMStateField[]){DEV_FIELDS_V1, VMSTATE_END},
};

static void dev_fill(Dev *d)
{
    *d = (Dev){.u8 = 0x81,
               .u16 = 0xbeef,
               .u32 = 0xdeadbeef,
               .u64 = 0x0123456789abcdefull,
               .i32 = -5,
               .i64 = -1234567890123ll,
               .flag = true,
               .buf = {1, 2, 3, 4, 5},
               .arr = {7, 8, 9},
               .one = {0x1111, -1},
               .many = {{2, -2}, {3, 300000}},
               .added_v2 = 42};
}

static void assert_same_state(const Dev *a, const Dev *b)
{
    g_assert_cmpuint(a->u8, ==, b->u8);
    g_assert_cmpuint(a->u16, ==, b->u16);
    g_assert_cmpuint(a->u32, ==, b->u32);
    g_assert_cmpuint(a->u64, ==, b->u64);
    g_assert_cmpint(a->i32, ==, b->i32);
    g_assert_cmpint(a->i64, ==, b->i64);
    g_assert_cmpint(a->flag, ==, b->flag);
    g_assert_cmpmem(a->buf, sizeof(a->buf), b->buf, sizeof(b->buf));
    g_assert_cmpmem(a->arr, sizeof(a->arr), b->arr, sizeof(b->arr));
    /* field by field: Inner has padding, which is not state */
    const Inner *ia[] = {&a->one, &a->many[0], &a->many[1]};
    const Inner *ib[] = {&b->one, &b->many[0], &b->many[1]};
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(ia[i]->a, ==, ib[i]->a);
        g_assert_cmpint(ia[i]->b, ==, ib[i]->b);
    }
}

static GByteArray *save_one(const VMStateDescription *vmsd, Dev *d)
{
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "dev", 0, vmsd, d);
    GByteArray *out = g_byte_array_new();
    g_assert_true(vmstate_set_save(set, out, NULL));
    return out;
}

static bool load_one(const VMStateDescription *vmsd, Dev *d, GByteArray *in, GError **errp)
{
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "dev", 0, vmsd, d);
    return vmstate_set_load(set, in->data, in->len, errp);
}

static void test_round_trip(void)
{
    Dev a, b = {0};
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v2, &a);
    /* header 12 + id 1+3 + instance/version/len 12 + payload */
    gsize payload = 1 + 2 + 4 + 8 + 4 + 8 + 1 + 5 + 12 + 6 + 12 + 4;
    g_assert_cmpuint(vmstate_payload_size(&vmstate_dev_v2, 2), ==, payload);
    g_assert_cmpuint(s->len, ==, 12 + 4 + 12 + payload);
    g_autoptr(GError) err = NULL;
    g_assert_true(load_one(&vmstate_dev_v2, &b, s, &err));
    g_assert_no_error(err);
    assert_same_state(&a, &b);
    g_assert_cmpuint(b.added_v2, ==, 42);
    g_assert_cmpint(b.post_loads, ==, 1);
}

/* Big-endian, fixed width: the first payload bytes are u8, u16, u32 in order. */
static void test_encoding_is_big_endian(void)
{
    Dev a;
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v2, &a);
    static const guint8 head[] = {'Q', 'C', 'D', 'S', 0, 0, 0, 1, 0, 0, 0, 1,
                                  3,   'd', 'e', 'v', 0, 0, 0, 0, 0, 0, 0, 2};
    g_assert_cmpmem(s->data, sizeof(head), head, sizeof(head));
    static const guint8 fields[] = {0x81, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef};
    g_assert_cmpmem(s->data + 28, sizeof(fields), fields, sizeof(fields));
}

static void test_old_stream_gets_default(void)
{
    Dev a, b = {0};
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v1, &a);
    g_assert_true(load_one(&vmstate_dev_v2, &b, s, NULL));
    assert_same_state(&a, &b);
    g_assert_cmpuint(b.added_v2, ==, 77);
}

static void test_newer_stream_refused(void)
{
    Dev a, b = {0};
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v2, &a);
    g_autoptr(GError) err = NULL;
    g_assert_false(load_one(&vmstate_dev_v1, &b, s, &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
    g_assert_cmpstr(err->message, ==, "dev: version 2 of the stream is newer than this build's 1");
    g_assert_cmpint(b.post_loads, ==, 0);
}

static void test_bad_sections_refused(void)
{
    Dev a;
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v2, &a);
    struct {
        gsize cut;      /* truncate to this many bytes (0: keep) */
        gsize patch_at; /* patch one byte (0: none) */
        guint8 patch;
        gboolean append;    /* one extra byte at the end */
        const char *prefix; /* of the error message */
    } cases[] = {
        {.cut = 6, .prefix = "device state truncated: header"},
        {.cut = s->len - 1, .prefix = "device state truncated: dev needs"},
        {.patch_at = 0, .patch = 'X', .prefix = "not a device state stream"},
        {.patch_at = 7, .patch = 9, .prefix = "device state format 9"},
        {.patch_at = 11, .patch = 2, .prefix = "device state has 2 sections"},
        {.patch_at = 13, .patch = 'x', .prefix = "unknown device state section 'xev'"},
        {.patch_at = 19, .patch = 1, .prefix = "unknown device state section 'dev' instance 1"},
        {.patch_at = 24, .patch = 0x7f, .prefix = "dev: section of 2130"}, /* oversized */
        {.patch_at = 27, .patch = 10, .prefix = "dev: section of 10 bytes"},
        {.patch_at = 23, .patch = 0, .prefix = "dev: version 0 of the stream is older"},
        {.patch_at = 28, .patch = 0xee, .prefix = "dev: u8 0xee is not allowed"},
        {.patch_at = 28 + 27, .patch = 2, .prefix = "dev: field 'flag' is not a boolean"},
        {.append = TRUE, .prefix = "1 bytes after the last"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) bad = g_byte_array_new();
        g_byte_array_append(bad, s->data, cases[i].cut ? cases[i].cut : s->len);
        if (cases[i].patch_at || cases[i].patch == 'X') {
            bad->data[cases[i].patch_at] = cases[i].patch;
        }
        if (cases[i].append) {
            guint8 z = 0;
            g_byte_array_append(bad, &z, 1);
        }
        Dev b = {0};
        b.u32 = 0x5a5a;
        g_autoptr(GError) err = NULL;
        g_assert_false(load_one(&vmstate_dev_v2, &b, bad, &err));
        g_assert_nonnull(err);
        if (!g_str_has_prefix(err->message, cases[i].prefix)) {
            g_error("case %u: '%s' does not start with '%s'", i, err->message, cases[i].prefix);
        }
        /* nothing was touched */
        g_assert_cmpuint(b.u32, ==, 0x5a5a);
        g_assert_cmpint(b.post_loads, ==, 0);
    }
}

/* A set whose second section is bad leaves the first device untouched too. */
static void test_all_or_nothing(void)
{
    Dev a1, a2, b1 = {0}, b2 = {0};
    dev_fill(&a1);
    dev_fill(&a2);
    a2.u8 = 0xee; /* refused by check */
    g_autoptr(VMStateSet) src = vmstate_set_new();
    vmstate_set_add(src, "dev", 0, &vmstate_dev_v2, &a1);
    vmstate_set_add(src, "dev", 1, &vmstate_dev_v2, &a2);
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_assert_true(vmstate_set_save(src, s, NULL));
    g_autoptr(VMStateSet) dst = vmstate_set_new();
    vmstate_set_add(dst, "dev", 0, &vmstate_dev_v2, &b1);
    vmstate_set_add(dst, "dev", 1, &vmstate_dev_v2, &b2);
    g_autoptr(GError) err = NULL;
    g_assert_false(vmstate_set_load(dst, s->data, s->len, &err));
    g_assert_cmpstr(err->message, ==, "dev: u8 0xee is not allowed");
    g_assert_cmpuint(b1.u32, ==, 0);
    g_assert_cmpint(b1.post_loads + b2.post_loads, ==, 0);

    /* the same section twice in place of the second */
    a2.u8 = 1;
    g_byte_array_set_size(s, 0);
    g_assert_true(vmstate_set_save(src, s, NULL));
    gsize one = 1 + 3 + 12 + vmstate_payload_size(&vmstate_dev_v2, 2);
    memcpy(s->data + 12 + one, s->data + 12, one);
    g_clear_error(&err);
    g_assert_false(vmstate_set_load(dst, s->data, s->len, &err));
    g_assert_cmpstr(err->message, ==, "device state section 'dev' instance 0 appears twice");
    g_assert_cmpuint(b1.u32, ==, 0);
}

/* vmstate_set_check: the same verdict as a load, and nothing touched either way. */
static void test_check_touches_nothing(void)
{
    Dev a, b = {0};
    dev_fill(&a);
    g_autoptr(GByteArray) s = save_one(&vmstate_dev_v2, &a);
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "dev", 0, &vmstate_dev_v2, &b);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmstate_set_check(set, s->data, s->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(b.u32, ==, 0);
    g_assert_cmpint(b.post_loads, ==, 0);
    a.u8 = 0xee; /* refused by check */
    g_autoptr(GByteArray) bad = save_one(&vmstate_dev_v2, &a);
    g_assert_false(vmstate_set_check(set, bad->data, bad->len, &err));
    g_assert_cmpstr(err->message, ==, "dev: u8 0xee is not allowed");
    g_assert_cmpuint(b.u32, ==, 0);
    g_assert_cmpint(b.post_loads, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/round-trip", test_round_trip);
    g_test_add_func("/vmstate/big-endian", test_encoding_is_big_endian);
    g_test_add_func("/vmstate/old-stream-default", test_old_stream_gets_default);
    g_test_add_func("/vmstate/newer-stream-refused", test_newer_stream_refused);
    g_test_add_func("/vmstate/bad-sections", test_bad_sections_refused);
    g_test_add_func("/vmstate/all-or-nothing", test_all_or_nothing);
    g_test_add_func("/vmstate/check-touches-nothing", test_check_touches_nothing);
    return g_test_run();
}
