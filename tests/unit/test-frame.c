/* The chardev frame reader and writer (net/frame.c). */
#include "net/frame.h"

#include <string.h>

typedef struct {
    GPtrArray *frames;           /* of GBytes */
    GArray *vhdrs;               /* of guint32 */
    const guint8 *in_lo, *in_hi; /* the last fed buffer, to see in-place deliveries */
    guint in_place;
} Sink;

static void sink_handler(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    Sink *s = opaque;
    g_ptr_array_add(s->frames, g_bytes_new(data, len));
    g_array_append_val(s->vhdrs, vhdr);
    if (len && data >= s->in_lo && data + len <= s->in_hi) {
        s->in_place++;
    }
}

static void sink_init(Sink *s)
{
    s->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    s->vhdrs = g_array_new(FALSE, FALSE, sizeof(guint32));
    s->in_lo = s->in_hi = NULL;
    s->in_place = 0;
}

static void sink_clear(Sink *s)
{
    g_ptr_array_unref(s->frames);
    g_array_unref(s->vhdrs);
}

static guint feed(NetFrameReader *r, Sink *s, const guint8 *buf, gsize len)
{
    s->in_lo = buf;
    s->in_hi = buf + len;
    return net_frame_reader_feed(r, buf, len);
}

static void assert_frame(Sink *s, guint i, const void *data, gsize len, guint32 vhdr)
{
    g_assert_cmpuint(i, <, s->frames->len);
    gsize got_len;
    const guint8 *got = g_bytes_get_data(g_ptr_array_index(s->frames, i), &got_len);
    g_assert_cmpmem(got, got_len, data, len);
    g_assert_cmpuint(g_array_index(s->vhdrs, guint32, i), ==, vhdr);
}

static void test_header(void)
{
    guint8 hdr[NET_FRAME_HDR_MAX];
    g_assert_cmpuint(net_frame_header(hdr, 0x01020304, FALSE, 0), ==, 4);
    g_assert_cmpmem(hdr, 4, "\x01\x02\x03\x04", 4);
    g_assert_cmpuint(net_frame_header(hdr, 22, TRUE, 12), ==, 8);
    g_assert_cmpmem(hdr, 8, "\x00\x00\x00\x16\x00\x00\x00\x0c", 8);
}

/* The upstream filter-mirror qtest payload, framed. */
static void test_single_frame(void)
{
    static const char payload[] = "Hello! filter-mirror~";
    GByteArray *out = g_byte_array_new();
    net_frame_append(out, (const guint8 *)payload, sizeof(payload), FALSE, 0);
    g_assert_cmpuint(out->len, ==, 26);
    g_assert_cmpmem(out->data, 4, "\x00\x00\x00\x16", 4);

    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, FALSE, sink_handler, &s);
    g_assert_cmpuint(feed(&r, &s, out->data, out->len), ==, 1);
    assert_frame(&s, 0, payload, sizeof(payload), 0);
    g_assert_cmpuint(s.in_place, ==, 1);
    g_assert_true(net_frame_reader_at_boundary(&r));
    g_assert_cmpuint(r.stats.frames, ==, 1);
    g_assert_cmpuint(r.stats.bytes, ==, 22);
    net_frame_reader_destroy(&r);
    sink_clear(&s);
    g_byte_array_unref(out);
}

/* Builds @n frames of varied sizes (0 included) into one stream. */
static GByteArray *build_stream(guint n, gboolean vnet, GPtrArray *expect)
{
    GByteArray *out = g_byte_array_new();
    for (guint i = 0; i < n; i++) {
        guint32 len = (i * 977u) % 3000u;
        guint8 *data = g_malloc(len + 1);
        for (guint32 j = 0; j < len; j++) {
            data[j] = (guint8)(i * 31 + j);
        }
        net_frame_append(out, data, len, vnet, vnet ? MIN(len, 12u) : 0);
        g_ptr_array_add(expect, g_bytes_new_take(data, len));
    }
    return out;
}

static void check_stream(Sink *s, GPtrArray *expect, gboolean vnet)
{
    g_assert_cmpuint(s->frames->len, ==, expect->len);
    for (guint i = 0; i < expect->len; i++) {
        gsize len;
        const guint8 *d = g_bytes_get_data(g_ptr_array_index(expect, i), &len);
        assert_frame(s, i, d, len, vnet ? MIN(len, 12u) : 0);
    }
}

static void test_many_per_read(gconstpointer vnet_p)
{
    gboolean vnet = GPOINTER_TO_INT(vnet_p);
    GPtrArray *expect = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    GByteArray *stream = build_stream(50, vnet, expect);
    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, vnet, sink_handler, &s);
    g_assert_cmpuint(feed(&r, &s, stream->data, stream->len), ==, 50);
    check_stream(&s, expect, vnet);
    /* Every non-empty frame came whole in the one buffer: none was copied. */
    g_assert_cmpuint(s.in_place, ==, 49);
    g_assert_null(r.buf);
    net_frame_reader_destroy(&r);
    sink_clear(&s);
    g_byte_array_unref(stream);
    g_ptr_array_unref(expect);
}

/* Every chunk size from 1 byte up: frames split at every possible position. */
static void test_split_reads(gconstpointer vnet_p)
{
    gboolean vnet = GPOINTER_TO_INT(vnet_p);
    GPtrArray *expect = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    GByteArray *stream = build_stream(12, vnet, expect);
    static const gsize chunks[] = {1, 2, 3, 5, 7, 13, 100, 1499, 4096};
    for (guint c = 0; c < G_N_ELEMENTS(chunks); c++) {
        Sink s;
        sink_init(&s);
        NetFrameReader r;
        net_frame_reader_init(&r, vnet, sink_handler, &s);
        guint total = 0;
        for (gsize off = 0; off < stream->len; off += chunks[c]) {
            total += feed(&r, &s, stream->data + off, MIN(chunks[c], stream->len - off));
        }
        g_assert_cmpuint(total, ==, 12);
        check_stream(&s, expect, vnet);
        g_assert_true(net_frame_reader_at_boundary(&r));
        g_assert_cmpuint(r.buf_size, <=, NET_FRAME_MAX_LEN);
        net_frame_reader_destroy(&r);
        sink_clear(&s);
    }
    g_byte_array_unref(stream);
    g_ptr_array_unref(expect);
}

static void test_random_splits(void)
{
    GPtrArray *expect = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    GByteArray *stream = build_stream(40, TRUE, expect);
    for (guint round = 0; round < 20; round++) {
        Sink s;
        sink_init(&s);
        NetFrameReader r;
        net_frame_reader_init(&r, TRUE, sink_handler, &s);
        gsize off = 0;
        while (off < stream->len) {
            gsize want = g_test_rand_int_range(1, 6000);
            gsize n = MIN(want, stream->len - off);
            feed(&r, &s, stream->data + off, n);
            off += n;
        }
        check_stream(&s, expect, TRUE);
        net_frame_reader_destroy(&r);
        sink_clear(&s);
    }
    g_byte_array_unref(stream);
    g_ptr_array_unref(expect);
}

static void test_zero_length(void)
{
    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, FALSE, sink_handler, &s);
    static const guint8 zero[] = {0, 0, 0, 0, 0, 0, 0, 1, 'x'};
    g_assert_cmpuint(feed(&r, &s, zero, sizeof(zero)), ==, 2);
    assert_frame(&s, 0, "", 0, 0);
    assert_frame(&s, 1, "x", 1, 0);
    net_frame_reader_destroy(&r);
    sink_clear(&s);
}

/* The largest legal frame passes, one byte more is skipped and the stream stays in sync. */
static void test_oversized(void)
{
    GByteArray *out = g_byte_array_new();
    guint8 *big = g_malloc0(NET_FRAME_MAX_LEN + 1);
    net_frame_append(out, big, NET_FRAME_MAX_LEN, FALSE, 0);
    net_frame_append(out, big, NET_FRAME_MAX_LEN + 1, FALSE, 0);
    net_frame_append(out, (const guint8 *)"after", 5, FALSE, 0);

    for (gsize chunk = 1000; chunk <= out->len; chunk += out->len - 1000) {
        Sink s;
        sink_init(&s);
        NetFrameReader r;
        net_frame_reader_init(&r, FALSE, sink_handler, &s);
        for (gsize off = 0; off < out->len; off += chunk) {
            feed(&r, &s, out->data + off, MIN(chunk, out->len - off));
        }
        g_assert_cmpuint(s.frames->len, ==, 2);
        g_assert_cmpuint(g_bytes_get_size(g_ptr_array_index(s.frames, 0)), ==, NET_FRAME_MAX_LEN);
        assert_frame(&s, 1, "after", 5, 0);
        g_assert_cmpuint(r.stats.oversized, ==, 1);
        g_assert_cmpuint(r.stats.skipped_bytes, ==, NET_FRAME_MAX_LEN + 1);
        g_assert_cmpuint(r.buf_size, <=, NET_FRAME_MAX_LEN);
        net_frame_reader_destroy(&r);
        sink_clear(&s);
    }
    g_free(big);
    g_byte_array_unref(out);
}

/* A huge LEN never makes the reader allocate: it only counts down what it throws away. */
static void test_huge_length_bounded(void)
{
    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, FALSE, sink_handler, &s);
    static const guint8 huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    g_assert_cmpuint(feed(&r, &s, huge, sizeof(huge)), ==, 0);
    g_assert_cmpuint(r.stats.oversized, ==, 1);
    g_assert_null(r.buf);
    g_assert_cmpuint(r.skip, ==, 0xffffffffu - 3);
    g_assert_false(net_frame_reader_at_boundary(&r));
    net_frame_reader_destroy(&r);
    sink_clear(&s);
}

static void test_malformed_vhdr(void)
{
    GByteArray *out = g_byte_array_new();
    net_frame_append(out, (const guint8 *)"abc", 3, TRUE, 4);
    net_frame_append(out, (const guint8 *)"abcd", 4, TRUE, 4);
    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, TRUE, sink_handler, &s);
    g_assert_cmpuint(feed(&r, &s, out->data, out->len), ==, 1);
    assert_frame(&s, 0, "abcd", 4, 4);
    g_assert_cmpuint(r.stats.malformed, ==, 1);
    g_assert_cmpuint(r.stats.skipped_bytes, ==, 3);
    net_frame_reader_destroy(&r);
    sink_clear(&s);
    g_byte_array_unref(out);
}

static void test_reset_and_max_len(void)
{
    Sink s;
    sink_init(&s);
    NetFrameReader r;
    net_frame_reader_init(&r, FALSE, sink_handler, &s);
    net_frame_reader_set_max_len(&r, 8);
    GByteArray *out = g_byte_array_new();
    net_frame_append(out, (const guint8 *)"123456789", 9, FALSE, 0);
    net_frame_append(out, (const guint8 *)"12345678", 8, FALSE, 0);
    feed(&r, &s, out->data, out->len);
    g_assert_cmpuint(s.frames->len, ==, 1);
    g_assert_cmpuint(r.stats.oversized, ==, 1);

    /* Half a frame, then the peer goes away: the next connection starts clean. */
    feed(&r, &s, out->data, 6);
    g_assert_false(net_frame_reader_at_boundary(&r));
    net_frame_reader_reset(&r);
    g_assert_true(net_frame_reader_at_boundary(&r));
    feed(&r, &s, out->data + 13, 12);
    g_assert_cmpuint(s.frames->len, ==, 2);
    assert_frame(&s, 1, "12345678", 8, 0);
    net_frame_reader_destroy(&r);
    sink_clear(&s);
    g_byte_array_unref(out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/header", test_header);
    g_test_add_func("/frame/single", test_single_frame);
    g_test_add_data_func("/frame/many-per-read", GINT_TO_POINTER(0), test_many_per_read);
    g_test_add_data_func("/frame/many-per-read-vnet", GINT_TO_POINTER(1), test_many_per_read);
    g_test_add_data_func("/frame/split-reads", GINT_TO_POINTER(0), test_split_reads);
    g_test_add_data_func("/frame/split-reads-vnet", GINT_TO_POINTER(1), test_split_reads);
    g_test_add_func("/frame/random-splits", test_random_splits);
    g_test_add_func("/frame/zero-length", test_zero_length);
    g_test_add_func("/frame/oversized", test_oversized);
    g_test_add_func("/frame/huge-length-bounded", test_huge_length_bounded);
    g_test_add_func("/frame/malformed-vhdr", test_malformed_vhdr);
    g_test_add_func("/frame/reset-and-max-len", test_reset_and_max_len);
    return g_test_run();
}
