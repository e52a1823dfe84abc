/*
 * block/nbd-session.c and block/nbd-proto.c: the server's handshake and transmission, driven
 * byte for byte as a client would, with an in-memory export; every malformed or oversized
 * input the protocol document names is refused the way it says.
 */
#include "block/nbd-server.h"

#include <errno.h>
#include <string.h>

#define EXPORT_SIZE (1024 * 1024)

typedef struct Fixture {
    NbdSession *s;
    NbdExport *rw;
    NbdExport *ro;
    GByteArray *out; /* everything the session sent */
    size_t pos;      /* what the test has read of it */
} Fixture;

static NbdExport *fx_lookup(void *opaque, const char *name)
{
    Fixture *f = opaque;
    if (!strcmp(name, "rw")) {
        return nbd_export_ref(f->rw);
    }
    if (!strcmp(name, "ro")) {
        return nbd_export_ref(f->ro);
    }
    return NULL;
}

static GPtrArray *fx_list(void *opaque)
{
    Fixture *f = opaque;
    GPtrArray *all = g_ptr_array_new();
    g_ptr_array_add(all, nbd_export_ref(f->rw));
    g_ptr_array_add(all, nbd_export_ref(f->ro));
    return all;
}

static const NbdSessionHooks fx_hooks = {.lookup = fx_lookup, .list = fx_list};

static void drain(Fixture *f)
{
    size_t len;
    const uint8_t *p;
    while ((p = nbd_session_output(f->s, &len)) && len) {
        g_byte_array_append(f->out, p, len);
        nbd_session_consume_output(f->s, len);
    }
}

static void setup(Fixture *f)
{
    uint8_t *data = g_malloc0(EXPORT_SIZE);
    for (int i = 0; i < EXPORT_SIZE; i++) {
        data[i] = i * 7 + (i >> 12);
    }
    f->rw = nbd_memory_export_new("rw", data, EXPORT_SIZE, true);
    f->rw->description = g_strdup("a writable one");
    f->ro = nbd_memory_export_new("ro", g_malloc0(4096), 4096, false);
    f->out = g_byte_array_new();
    f->pos = 0;
    f->s = nbd_session_new(&fx_hooks, f);
    drain(f);
}

static void teardown(Fixture *f)
{
    nbd_session_free(f->s);
    nbd_export_unref(f->rw);
    nbd_export_unref(f->ro);
    g_byte_array_unref(f->out);
}

static void feed(Fixture *f, const GByteArray *b)
{
    nbd_session_feed(f->s, b->data, b->len);
    drain(f);
}

/* Takes @n bytes of output; fails if fewer were sent. */
static const uint8_t *take(Fixture *f, size_t n)
{
    g_assert_cmpuint(f->out->len - f->pos, >=, n);
    const uint8_t *p = f->out->data + f->pos;
    f->pos += n;
    return p;
}

static void assert_no_more(Fixture *f)
{
    g_assert_cmpuint(f->out->len, ==, f->pos);
}

static void send_flags(Fixture *f, uint32_t flags)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    nbd_put_u32(b, flags);
    feed(f, b);
}

/* An option header announcing @len bytes, followed by the first @sent of @data. */
static void send_option_part(Fixture *f, uint32_t opt, uint32_t len, const void *data,
                             uint32_t sent)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    nbd_put_u64(b, NBD_OPTS_MAGIC);
    nbd_put_u32(b, opt);
    nbd_put_u32(b, len);
    g_byte_array_append(b, data, sent);
    feed(f, b);
}

static void send_option(Fixture *f, uint32_t opt, const void *data, uint32_t len)
{
    send_option_part(f, opt, len, data, len);
}

static void go_data(GByteArray *b, const char *name, int n_info, const uint16_t *info)
{
    nbd_put_u32(b, strlen(name));
    g_byte_array_append(b, (const guint8 *)name, strlen(name));
    nbd_put_u16(b, n_info);
    for (int i = 0; i < n_info; i++) {
        nbd_put_u16(b, info[i]);
    }
}

/* An option reply header; returns its data length. */
static uint32_t expect_reply(Fixture *f, uint32_t opt, uint32_t type)
{
    const uint8_t *p = take(f, NBD_OPT_REPLY_HEADER_SIZE);
    g_assert_cmphex(nbd_get_u64(p), ==, NBD_REP_MAGIC);
    g_assert_cmpuint(nbd_get_u32(p + 8), ==, opt);
    g_assert_cmphex(nbd_get_u32(p + 12), ==, type);
    return nbd_get_u32(p + 16);
}

/* Options up to transmission, the client flags already sent. */
static void go_options(Fixture *f, const char *name, bool structured)
{
    if (structured) {
        send_option(f, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
        g_assert_cmpuint(expect_reply(f, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK), ==, 0);
    }
    g_autoptr(GByteArray) b = g_byte_array_new();
    go_data(b, name, 0, NULL);
    send_option(f, NBD_OPT_GO, b->data, b->len);
    uint32_t len;
    while ((len = expect_reply(f, NBD_OPT_GO, NBD_REP_INFO)) != 0) {
        take(f, len);
        if (f->out->len - f->pos >= 20 && nbd_get_u32(f->out->data + f->pos + 12) == NBD_REP_ACK) {
            break;
        }
    }
    g_assert_cmpuint(expect_reply(f, NBD_OPT_GO, NBD_REP_ACK), ==, 0);
    g_assert_nonnull(nbd_session_export(f->s));
}

static void go(Fixture *f, const char *name, bool structured)
{
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    go_options(f, name, structured);
}

static void send_request(Fixture *f, uint16_t flags, uint16_t type, uint64_t cookie,
                         uint64_t offset, uint32_t length, const void *payload)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    NbdRequest req = {flags, type, cookie, offset, length};
    nbd_encode_request(b, &req);
    if (payload) {
        g_byte_array_append(b, payload, length);
    }
    feed(f, b);
}

static void expect_simple(Fixture *f, uint64_t cookie, uint32_t error)
{
    const uint8_t *p = take(f, NBD_SIMPLE_REPLY_SIZE);
    g_assert_cmphex(nbd_get_u32(p), ==, NBD_SIMPLE_REPLY_MAGIC);
    g_assert_cmpuint(nbd_get_u32(p + 4), ==, error);
    g_assert_cmphex(nbd_get_u64(p + 8), ==, cookie);
}

static void test_greeting(Fixture *f, gconstpointer data)
{
    const uint8_t *p = take(f, 18);
    g_assert_cmphex(nbd_get_u64(p), ==, NBD_INIT_MAGIC);
    g_assert_cmphex(nbd_get_u64(p + 8), ==, NBD_OPTS_MAGIC);
    g_assert_cmphex(nbd_get_u16(p + 16), ==, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    assert_no_more(f);
    g_assert_true(nbd_session_wants_input(f->s));
}

static void test_unknown_client_flags(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE | 0x100);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_list(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    send_option(f, NBD_OPT_LIST, NULL, 0);
    uint32_t len = expect_reply(f, NBD_OPT_LIST, NBD_REP_SERVER);
    const uint8_t *p = take(f, len);
    g_assert_cmpuint(nbd_get_u32(p), ==, 2);
    g_assert_cmpmem(p + 4, len - 4, "rwa writable one", 16);
    len = expect_reply(f, NBD_OPT_LIST, NBD_REP_SERVER);
    p = take(f, len);
    g_assert_cmpmem(p, len, "\0\0\0\2ro", 6);
    g_assert_cmpuint(expect_reply(f, NBD_OPT_LIST, NBD_REP_ACK), ==, 0);
    /* LIST takes no data. */
    send_option(f, NBD_OPT_LIST, "x", 1);
    take(f, expect_reply(f, NBD_OPT_LIST, NBD_REP_ERR_INVALID));
    assert_no_more(f);
}

static void test_info_and_errors(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    g_autoptr(GByteArray) b = g_byte_array_new();
    uint16_t want[] = {NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE};
    go_data(b, "rw", 3, want);
    send_option(f, NBD_OPT_INFO, b->data, b->len);
    g_assert_cmpmem(take(f, expect_reply(f, NBD_OPT_INFO, NBD_REP_INFO)), 4, "\0\1rw", 4);
    g_assert_cmpmem(take(f, expect_reply(f, NBD_OPT_INFO, NBD_REP_INFO)), 16, "\0\2a writable one",
                    16);
    const uint8_t *p = take(f, expect_reply(f, NBD_OPT_INFO, NBD_REP_INFO));
    g_assert_cmpuint(nbd_get_u16(p), ==, NBD_INFO_BLOCK_SIZE);
    g_assert_cmpuint(nbd_get_u32(p + 2), ==, 1);
    g_assert_cmpuint(nbd_get_u32(p + 10), ==, NBD_MAX_BUFFER_SIZE);
    g_assert_cmpuint(expect_reply(f, NBD_OPT_INFO, NBD_REP_INFO), ==, 12);
    p = take(f, 12);
    g_assert_cmpuint(nbd_get_u16(p), ==, NBD_INFO_EXPORT);
    g_assert_cmpuint(nbd_get_u64(p + 2), ==, EXPORT_SIZE);
    g_assert_false(nbd_get_u16(p + 10) & NBD_FLAG_READ_ONLY);
    g_assert_cmpuint(expect_reply(f, NBD_OPT_INFO, NBD_REP_ACK), ==, 0);
    g_assert_null(nbd_session_export(f->s)); /* INFO does not enter transmission */

    /* An unknown export, a name longer than the option, a count that does not fit. */
    g_byte_array_set_size(b, 0);
    go_data(b, "nope", 0, NULL);
    send_option(f, NBD_OPT_GO, b->data, b->len);
    take(f, expect_reply(f, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN));
    static const uint8_t long_name[] = {0, 0, 1, 0, 'r', 'w', 0, 0};
    send_option(f, NBD_OPT_GO, long_name, sizeof(long_name));
    take(f, expect_reply(f, NBD_OPT_GO, NBD_REP_ERR_INVALID));
    static const uint8_t bad_count[] = {0, 0, 0, 2, 'r', 'w', 0, 5, 0, 1};
    send_option(f, NBD_OPT_GO, bad_count, sizeof(bad_count));
    take(f, expect_reply(f, NBD_OPT_GO, NBD_REP_ERR_INVALID));
    static const uint8_t nul_name[] = {0, 0, 0, 2, 'r', 0, 0, 0};
    send_option(f, NBD_OPT_GO, nul_name, sizeof(nul_name));
    take(f, expect_reply(f, NBD_OPT_GO, NBD_REP_ERR_INVALID));
    /* Unknown options, TLS, meta contexts before structured replies. */
    send_option(f, 0x7777, "abc", 3);
    take(f, expect_reply(f, 0x7777, NBD_REP_ERR_UNSUP));
    send_option(f, NBD_OPT_STARTTLS, NULL, 0);
    take(f, expect_reply(f, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY));
    send_option(f, NBD_OPT_SET_META_CONTEXT, NULL, 0);
    take(f, expect_reply(f, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID));
    g_assert_false(nbd_session_closing(f->s));
    /* ABORT is acknowledged and ends the connection. */
    send_option(f, NBD_OPT_ABORT, NULL, 0);
    g_assert_cmpuint(expect_reply(f, NBD_OPT_ABORT, NBD_REP_ACK), ==, 0);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_option_too_big(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    /* Data past the limit is read and dropped in pieces, then refused; the session goes on. */
    g_autofree uint8_t *junk = g_malloc0(NBD_MAX_OPTION_SIZE + 1000);
    send_option_part(f, NBD_OPT_INFO, NBD_MAX_OPTION_SIZE + 1000, junk, 5000);
    assert_no_more(f);
    nbd_session_feed(f->s, junk, NBD_MAX_OPTION_SIZE + 1000 - 5000);
    drain(f);
    take(f, expect_reply(f, NBD_OPT_INFO, NBD_REP_ERR_TOO_BIG));
    go_options(f, "rw", false);

    /* EXPORT_NAME cannot be answered with an error: the server hangs up. */
    teardown(f);
    setup(f);
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    send_option_part(f, NBD_OPT_EXPORT_NAME, 0xffffffff, NULL, 0);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_bad_option_magic(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    g_autoptr(GByteArray) b = g_byte_array_new();
    nbd_put_u64(b, NBD_OPTS_MAGIC ^ 1);
    nbd_put_u64(b, 0);
    feed(f, b);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_not_fixed_newstyle(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, 0);
    send_option(f, NBD_OPT_LIST, NULL, 0);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_export_name(Fixture *f, gconstpointer data)
{
    bool zeroes = GPOINTER_TO_INT(data);
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE | (zeroes ? 0 : NBD_FLAG_C_NO_ZEROES));
    send_option(f, NBD_OPT_EXPORT_NAME, "ro", 2);
    const uint8_t *p = take(f, 10);
    g_assert_cmpuint(nbd_get_u64(p), ==, 4096);
    uint16_t flags = nbd_get_u16(p + 8);
    g_assert_true(flags & NBD_FLAG_HAS_FLAGS);
    g_assert_true(flags & NBD_FLAG_READ_ONLY);
    /* As Debian's QEMU tells a client of a read-only export: no trim, no zeroes. */
    g_assert_cmphex(flags, ==, 0x050f);
    if (zeroes) {
        static const uint8_t z[124];
        g_assert_cmpmem(take(f, 124), 124, z, 124);
    }
    assert_no_more(f);
    /* Writes to a read-only export: EPERM, and the payload is consumed. */
    uint8_t buf[512] = {1};
    send_request(f, 0, NBD_CMD_WRITE, 7, 0, sizeof(buf), buf);
    expect_simple(f, 7, NBD_EPERM);
    send_request(f, 0, NBD_CMD_TRIM, 8, 0, 512, NULL);
    expect_simple(f, 8, NBD_EPERM);
    send_request(f, 0, NBD_CMD_READ, 9, 0, 4, NULL);
    expect_simple(f, 9, 0);
    g_assert_cmpmem(take(f, 4), 4, "\0\0\0\0", 4);
    assert_no_more(f);
}

static void test_transmission(Fixture *f, gconstpointer data)
{
    take(f, 18);
    go(f, "rw", false);
    uint8_t buf[8192];
    memset(buf, 0xab, sizeof(buf));
    send_request(f, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 1, 4096, sizeof(buf), buf);
    expect_simple(f, 1, 0);
    send_request(f, 0, NBD_CMD_READ, 2, 4000, 200, NULL);
    expect_simple(f, 2, 0);
    const uint8_t *p = take(f, 200);
    for (int i = 0; i < 96; i++) {
        g_assert_cmpuint(p[i], ==, (uint8_t)((4000 + i) * 7));
    }
    for (int i = 96; i < 200; i++) {
        g_assert_cmpuint(p[i], ==, 0xab);
    }
    send_request(f, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_WRITE_ZEROES, 3, 4096, 10, NULL);
    expect_simple(f, 3, 0);
    send_request(f, 0, NBD_CMD_TRIM, 4, 4106, 10, NULL);
    expect_simple(f, 4, 0);
    send_request(f, 0, NBD_CMD_READ, 5, 4096, 21, NULL);
    expect_simple(f, 5, 0);
    static const uint8_t zero[20];
    p = take(f, 21);
    g_assert_cmpmem(p, 20, zero, 20);
    g_assert_cmpuint(p[20], ==, 0xab);
    send_request(f, 0, NBD_CMD_FLUSH, 6, 0, 0, NULL);
    expect_simple(f, 6, 0);
    send_request(f, 0, NBD_CMD_CACHE, 7, 0, 4096, NULL);
    expect_simple(f, 7, 0);

    /* Past the end, too long, unknown command, unknown flag, DF without structured replies. */
    send_request(f, 0, NBD_CMD_READ, 10, EXPORT_SIZE - 1, 2, NULL);
    expect_simple(f, 10, NBD_EINVAL);
    send_request(f, 0, NBD_CMD_READ, 11, UINT64_MAX, 2, NULL);
    expect_simple(f, 11, NBD_EINVAL);
    send_request(f, 0, NBD_CMD_READ, 12, 0, NBD_MAX_BUFFER_SIZE + 1, NULL);
    expect_simple(f, 12, NBD_EINVAL);
    send_request(f, 0, NBD_CMD_WRITE, 13, EXPORT_SIZE, 1, "x");
    expect_simple(f, 13, NBD_ENOSPC);
    send_request(f, 0, NBD_CMD_WRITE_ZEROES, 14, EXPORT_SIZE - 10, 11, NULL);
    expect_simple(f, 14, NBD_ENOSPC);
    send_request(f, 0, 99, 15, 0, 0, NULL);
    expect_simple(f, 15, NBD_EINVAL);
    send_request(f, 0x8000, NBD_CMD_READ, 16, 0, 1, NULL);
    expect_simple(f, 16, NBD_EINVAL);
    send_request(f, NBD_CMD_FLAG_DF, NBD_CMD_READ, 17, 0, 1, NULL);
    expect_simple(f, 17, NBD_EINVAL);
    send_request(f, 0, NBD_CMD_BLOCK_STATUS, 18, 0, 1, NULL);
    expect_simple(f, 18, NBD_EINVAL);
    assert_no_more(f);
    g_assert_false(nbd_session_closing(f->s));

    /* DISC: no reply, the connection ends. */
    send_request(f, 0, NBD_CMD_DISC, 19, 0, 0, NULL);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_oversized_write(Fixture *f, gconstpointer data)
{
    take(f, 18);
    go(f, "rw", false);
    /* The payload cannot be skipped without trusting the length: the session ends at once. */
    send_request(f, 0, NBD_CMD_WRITE, 1, 0, NBD_MAX_BUFFER_SIZE + 1, NULL);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_bad_request_magic(Fixture *f, gconstpointer data)
{
    take(f, 18);
    go(f, "rw", false);
    g_autoptr(GByteArray) b = g_byte_array_new();
    nbd_put_u32(b, NBD_SIMPLE_REPLY_MAGIC);
    g_byte_array_set_size(b, NBD_REQUEST_SIZE);
    feed(f, b);
    g_assert_true(nbd_session_closing(f->s));
    assert_no_more(f);
}

static void test_structured_read(Fixture *f, gconstpointer data)
{
    take(f, 18);
    go(f, "rw", true);
    g_assert_true(nbd_export_tx_flags(f->rw, true) & NBD_FLAG_SEND_DF);
    send_request(f, NBD_CMD_FLAG_DF, NBD_CMD_READ, 0x1234, 100, 3, NULL);
    const uint8_t *p = take(f, NBD_STRUCTURED_REPLY_SIZE);
    g_assert_cmphex(nbd_get_u32(p), ==, NBD_STRUCTURED_REPLY_MAGIC);
    g_assert_cmpuint(nbd_get_u16(p + 4), ==, NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(nbd_get_u16(p + 6), ==, NBD_REPLY_TYPE_OFFSET_DATA);
    g_assert_cmphex(nbd_get_u64(p + 8), ==, 0x1234);
    g_assert_cmpuint(nbd_get_u32(p + 16), ==, 8 + 3);
    p = take(f, 11);
    g_assert_cmpuint(nbd_get_u64(p), ==, 100);
    g_assert_cmpuint(p[8], ==, 700 & 0xff);
    /* An error on a read is a structured error chunk. */
    send_request(f, 0, NBD_CMD_READ, 0x99, EXPORT_SIZE, 1, NULL);
    p = take(f, NBD_STRUCTURED_REPLY_SIZE);
    g_assert_cmpuint(nbd_get_u16(p + 6), ==, NBD_REPLY_TYPE_ERROR);
    uint32_t len = nbd_get_u32(p + 16);
    p = take(f, len);
    g_assert_cmpuint(nbd_get_u32(p), ==, NBD_EINVAL);
    g_assert_cmpuint(nbd_get_u16(p + 4), ==, len - 6);
    /* Other commands may still answer with simple replies. */
    send_request(f, 0, NBD_CMD_FLUSH, 0x100, 0, 0, NULL);
    expect_simple(f, 0x100, 0);
    assert_no_more(f);
}

static void meta_data(GByteArray *b, const char *name, int n, const char *const *queries)
{
    nbd_put_u32(b, strlen(name));
    g_byte_array_append(b, (const guint8 *)name, strlen(name));
    nbd_put_u32(b, n);
    for (int i = 0; i < n; i++) {
        nbd_put_u32(b, strlen(queries[i]));
        g_byte_array_append(b, (const guint8 *)queries[i], strlen(queries[i]));
    }
}

static void expect_context(Fixture *f, uint32_t opt)
{
    uint32_t len = expect_reply(f, opt, NBD_REP_META_CONTEXT);
    g_assert_cmpuint(len, ==, 4 + 15);
    const uint8_t *p = take(f, len);
    g_assert_cmpuint(nbd_get_u32(p), ==, NBD_META_ID_BASE_ALLOCATION);
    g_assert_cmpmem(p + 4, 15, "base:allocation", 15);
}

static void test_meta_context(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    send_option(f, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    take(f, expect_reply(f, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK));
    g_autoptr(GByteArray) b = g_byte_array_new();
    /* LIST: everything, "base:", and an unknown namespace (nothing, then ACK). */
    meta_data(b, "rw", 0, NULL);
    send_option(f, NBD_OPT_LIST_META_CONTEXT, b->data, b->len);
    expect_context(f, NBD_OPT_LIST_META_CONTEXT);
    take(f, expect_reply(f, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK));
    static const char *const base[] = {"base:"}, *const other[] = {"qemu:dirty-bitmap:x"};
    g_byte_array_set_size(b, 0);
    meta_data(b, "rw", 1, base);
    send_option(f, NBD_OPT_LIST_META_CONTEXT, b->data, b->len);
    expect_context(f, NBD_OPT_LIST_META_CONTEXT);
    take(f, expect_reply(f, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK));
    g_byte_array_set_size(b, 0);
    meta_data(b, "rw", 1, other);
    send_option(f, NBD_OPT_SET_META_CONTEXT, b->data, b->len);
    take(f, expect_reply(f, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK));
    /* Malformed: a query longer than the option, an unknown export. */
    g_byte_array_set_size(b, 0);
    meta_data(b, "rw", 1, base);
    b->data[b->len - 6] = 0x7f;
    send_option(f, NBD_OPT_SET_META_CONTEXT, b->data, b->len);
    take(f, expect_reply(f, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID));
    g_byte_array_set_size(b, 0);
    meta_data(b, "nope", 0, NULL);
    send_option(f, NBD_OPT_SET_META_CONTEXT, b->data, b->len);
    take(f, expect_reply(f, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_UNKNOWN));
    assert_no_more(f);

    /* Without base:allocation selected, BLOCK_STATUS is refused. */
    go_options(f, "rw", false);
    send_request(f, 0, NBD_CMD_BLOCK_STATUS, 1, 0, 4096, NULL);
    expect_simple(f, 1, NBD_EINVAL);
    assert_no_more(f);
}

static void test_block_status(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    send_option(f, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    take(f, expect_reply(f, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK));
    static const char *const q[] = {"base:allocation"};
    g_autoptr(GByteArray) b = g_byte_array_new();
    meta_data(b, "rw", 1, q);
    send_option(f, NBD_OPT_SET_META_CONTEXT, b->data, b->len);
    expect_context(f, NBD_OPT_SET_META_CONTEXT);
    take(f, expect_reply(f, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK));
    go_options(f, "rw", false);
    send_request(f, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 9, 4096, 8192, NULL);
    const uint8_t *p = take(f, NBD_STRUCTURED_REPLY_SIZE);
    g_assert_cmphex(nbd_get_u32(p), ==, NBD_STRUCTURED_REPLY_MAGIC);
    g_assert_cmpuint(nbd_get_u16(p + 4), ==, NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(nbd_get_u16(p + 6), ==, NBD_REPLY_TYPE_BLOCK_STATUS);
    g_assert_cmpuint(nbd_get_u64(p + 8), ==, 9);
    g_assert_cmpuint(nbd_get_u32(p + 16), ==, 12);
    p = take(f, 12);
    g_assert_cmpuint(nbd_get_u32(p), ==, NBD_META_ID_BASE_ALLOCATION);
    g_assert_cmpuint(nbd_get_u32(p + 4), ==, 8192);
    g_assert_cmpuint(nbd_get_u32(p + 8), ==, 0);
    /* Past the end, or empty. */
    send_request(f, 0, NBD_CMD_BLOCK_STATUS, 10, EXPORT_SIZE - 1, 2, NULL);
    expect_simple(f, 10, NBD_EINVAL);
    send_request(f, 0, NBD_CMD_BLOCK_STATUS, 11, 0, 0, NULL);
    expect_simple(f, 11, NBD_EINVAL);
    assert_no_more(f);
}

/* The same conversation fed one byte at a time gives the same bytes back. */
static void test_byte_at_a_time(Fixture *f, gconstpointer data)
{
    g_autoptr(GByteArray) in = g_byte_array_new();
    nbd_put_u32(in, NBD_FLAG_C_FIXED_NEWSTYLE);
    nbd_put_u64(in, NBD_OPTS_MAGIC);
    nbd_put_u32(in, NBD_OPT_STRUCTURED_REPLY);
    nbd_put_u32(in, 0);
    g_autoptr(GByteArray) go = g_byte_array_new();
    go_data(go, "rw", 0, NULL);
    nbd_put_u64(in, NBD_OPTS_MAGIC);
    nbd_put_u32(in, NBD_OPT_GO);
    nbd_put_u32(in, go->len);
    g_byte_array_append(in, go->data, go->len);
    NbdRequest w = {0, NBD_CMD_WRITE, 1, 10, 5};
    nbd_encode_request(in, &w);
    g_byte_array_append(in, (const guint8 *)"hello", 5);
    NbdRequest r = {0, NBD_CMD_READ, 2, 8, 9};
    nbd_encode_request(in, &r);

    nbd_session_feed(f->s, in->data, in->len);
    drain(f);
    g_autoptr(GByteArray) whole = g_byte_array_new();
    g_byte_array_append(whole, f->out->data, f->out->len);

    teardown(f);
    setup(f);
    for (guint i = 0; i < in->len; i++) {
        nbd_session_feed(f->s, in->data + i, 1);
        drain(f);
    }
    g_assert_cmpmem(f->out->data, f->out->len, whole->data, whole->len);
    static const uint8_t expect[] = {8 * 7, 9 * 7, 'h', 'e', 'l', 'l', 'o', 15 * 7, 16 * 7};
    g_assert_cmpmem(whole->data + whole->len - 9, 9, expect, 9);
}

/* An option that arrives in pieces counts once towards the limit on options (fuzzer find). */
static void test_long_option_in_pieces(Fixture *f, gconstpointer data)
{
    take(f, 18);
    send_flags(f, NBD_FLAG_C_FIXED_NEWSTYLE);
    g_autofree uint8_t *zero = g_malloc0(2 * NBD_MAX_OPTIONS);
    send_option_part(f, NBD_OPT_INFO, 2 * NBD_MAX_OPTIONS, NULL, 0);
    for (guint i = 0; i < 2 * NBD_MAX_OPTIONS; i++) {
        nbd_session_feed(f->s, zero + i, 1);
    }
    drain(f);
    g_assert_false(nbd_session_closing(f->s));
    take(f, expect_reply(f, NBD_OPT_INFO, NBD_REP_ERR_INVALID));
    assert_no_more(f);
}

static void test_errno_mapping(void)
{
    g_assert_cmpuint(nbd_errno_to_wire(0), ==, NBD_SUCCESS);
    g_assert_cmpuint(nbd_errno_to_wire(EROFS), ==, NBD_EPERM);
    g_assert_cmpuint(nbd_errno_to_wire(EDQUOT), ==, NBD_ENOSPC);
    g_assert_cmpuint(nbd_errno_to_wire(EBADF), ==, NBD_EINVAL);
    g_assert_cmpint(nbd_wire_to_errno(NBD_EIO), ==, EIO);
    g_assert_cmpint(nbd_wire_to_errno(12345), ==, EINVAL);
    g_assert_cmpstr(nbd_cmd_name(NBD_CMD_WRITE_ZEROES), ==, "write zeroes");
    g_assert_cmpstr(nbd_cmd_name(1000), ==, "<unknown>");
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    setup(f);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    teardown(f);
}

#define ADD(path, fn, data) g_test_add(path, Fixture, data, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/nbd-session/greeting", test_greeting, NULL);
    ADD("/nbd-session/unknown-client-flags", test_unknown_client_flags, NULL);
    ADD("/nbd-session/list", test_list, NULL);
    ADD("/nbd-session/info-and-errors", test_info_and_errors, NULL);
    ADD("/nbd-session/option-too-big", test_option_too_big, NULL);
    ADD("/nbd-session/bad-option-magic", test_bad_option_magic, NULL);
    ADD("/nbd-session/not-fixed-newstyle", test_not_fixed_newstyle, NULL);
    ADD("/nbd-session/export-name", test_export_name, GINT_TO_POINTER(0));
    ADD("/nbd-session/export-name-zeroes", test_export_name, GINT_TO_POINTER(1));
    ADD("/nbd-session/transmission", test_transmission, NULL);
    ADD("/nbd-session/oversized-write", test_oversized_write, NULL);
    ADD("/nbd-session/bad-request-magic", test_bad_request_magic, NULL);
    ADD("/nbd-session/structured-read", test_structured_read, NULL);
    ADD("/nbd-session/byte-at-a-time", test_byte_at_a_time, NULL);
    ADD("/nbd-session/meta-context", test_meta_context, NULL);
    ADD("/nbd-session/block-status", test_block_status, NULL);
    ADD("/nbd-session/long-option-in-pieces", test_long_option_in_pieces, NULL);
    g_test_add_func("/nbd-session/errno-mapping", test_errno_mapping);
    return g_test_run();
}
