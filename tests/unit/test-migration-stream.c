/* The migration stream codec and its channel: round trips, and every refusal. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/stream.h"

#define RAM_PAGES 64
#define MACHINE   "pc-i440fx-7.2"

typedef struct {
    GByteArray *devices; /* what load_devices received */
    int calls;
} DeviceSink;

static bool sink_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    DeviceSink *s = opaque;
    g_byte_array_append(s->devices, buf, len);
    s->calls++;
    return true;
}

typedef struct {
    int fd;
    GByteArray *out;
} Drain;

/* A pipe holds 64 KiB: a thread empties it while the channel writes. */
static gpointer drain_thread(gpointer p)
{
    Drain *d = p;
    guint8 buf[65536];
    ssize_t n;
    while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
        g_byte_array_append(d->out, buf, n);
    }
    close(d->fd);
    return NULL;
}

typedef void (*StreamBody)(MigChannel *c, gpointer opaque);

/* The bytes a writer channel on a real pipe produces for body, end marker included. */
static GByteArray *encode(StreamBody body, gpointer opaque)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    Drain d = {fds[0], g_byte_array_new()};
    GThread *t = g_thread_new("drain", drain_thread, &d);
    MigChannel *w = mig_channel_new_fd(fds[1], true, "pipe");
    GError *err = NULL;
    body(w, opaque);
    g_assert_true(mig_stream_put_end(w, &err));
    g_assert_no_error(err);
    mig_channel_free(w);
    g_thread_join(t);
    return d.out;
}

static GuestRam *new_ram(void)
{
    GError *err = NULL;
    GuestRam *ram = guest_ram_new(RAM_PAGES * GUEST_PAGE_SIZE, 0, &err);
    g_assert_no_error(err);
    return ram;
}

/* A RAM image with a pattern in every third page, the rest zero. */
static void fill_pattern(GuestRam *ram)
{
    for (uint64_t i = 0; i < ram->npages; i += 3) {
        memset(ram->host + i * GUEST_PAGE_SIZE, (int)(i + 1), GUEST_PAGE_SIZE);
        ram->host[i * GUEST_PAGE_SIZE + 7] = 0x5a;
    }
}

static const guint8 device_blob[] = "device state: cpu, pic, pit, rtc";

/* One full pass as the migration thread sends it: pages, zero runs, then devices. */
static void full_stream(MigChannel *c, gpointer opaque)
{
    GuestRam *src = opaque;
    mig_stream_put_header(c, MACHINE, src->size);
    uint64_t run = 0, run_start = 0;
    for (uint64_t i = 0; i < src->npages; i++) {
        const guint8 *page = src->host + i * GUEST_PAGE_SIZE;
        if (mig_page_is_zero(page)) {
            run_start = run ? run_start : i;
            run++;
            continue;
        }
        if (run) {
            mig_stream_put_zero_run(c, run_start, run);
            run = 0;
        }
        mig_stream_put_page(c, i, page);
    }
    if (run) {
        mig_stream_put_zero_run(c, run_start, run);
    }
    mig_stream_put_pass(c, 1);
    mig_stream_put_devices(c, device_blob, sizeof(device_blob));
}

static bool load_bytes(GByteArray *bytes, GuestRam *dst, DeviceSink *sink, MigLoadStats *st,
                       GError **errp)
{
    MigLoadTarget t = {
        .ram = dst, .machine_type = MACHINE, .load_devices = sink_devices, .opaque = sink};
    MigChannel *r = mig_channel_new_buffer(bytes->data, bytes->len);
    bool ok = mig_stream_load(r, &t, st, errp);
    mig_channel_free(r);
    return ok;
}

static void test_round_trip(void)
{
    GuestRam *src = new_ram(), *dst = new_ram();
    fill_pattern(src);
    /* Stale data where the source has zeros must be cleared by the zero runs. */
    memset(dst->host + GUEST_PAGE_SIZE, 0xee, GUEST_PAGE_SIZE);
    g_autoptr(GByteArray) bytes = encode(full_stream, src);
    DeviceSink sink = {g_byte_array_new(), 0};
    MigLoadStats st;
    GError *err = NULL;
    g_assert_true(load_bytes(bytes, dst, &sink, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(src->host, src->size, dst->host, dst->size);
    g_assert_cmpint(sink.calls, ==, 1);
    g_assert_cmpmem(sink.devices->data, sink.devices->len, device_blob, sizeof(device_blob));
    g_assert_cmpuint(st.pages, ==, (RAM_PAGES + 2) / 3);
    g_assert_cmpuint(st.zero_pages, ==, RAM_PAGES - (RAM_PAGES + 2) / 3);
    g_assert_cmpuint(st.passes, ==, 1);
    /* Zero pages cost a few bytes, not a page each. */
    g_assert_cmpuint(bytes->len, <, (st.pages + 2) * (GUEST_PAGE_SIZE + 9));
    g_byte_array_unref(sink.devices);
    guest_ram_free(src);
    guest_ram_free(dst);
}

static void long_zero_run(MigChannel *c, gpointer opaque)
{
    GuestRam *src = opaque;
    mig_stream_put_header(c, MACHINE, src->size);
    mig_stream_put_page(c, 0, src->host);
    mig_stream_put_zero_run(c, 1, src->npages - 1);
    mig_stream_put_devices(c, device_blob, 1);
}

/* A long zero run is dropped whole (not scanned): stale data inside it still reads as zero. */
static void test_long_zero_run_clears(void)
{
    GError *err = NULL;
    GuestRam *src = guest_ram_new(512 * GUEST_PAGE_SIZE, 0, &err);
    GuestRam *dst = guest_ram_new(512 * GUEST_PAGE_SIZE, 0, &err);
    g_assert_no_error(err);
    memset(src->host, 0x33, GUEST_PAGE_SIZE);
    memset(dst->host + 300 * GUEST_PAGE_SIZE, 0xee, 3 * GUEST_PAGE_SIZE);
    g_autoptr(GByteArray) bytes = encode(long_zero_run, src);
    MigLoadTarget t = {.ram = dst, .machine_type = MACHINE};
    MigChannel *r = mig_channel_new_buffer(bytes->data, bytes->len);
    MigLoadStats st;
    g_assert_true(mig_stream_load(r, &t, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(st.zero_pages, ==, 511);
    g_assert_cmpmem(src->host, src->size, dst->host, dst->size);
    mig_channel_free(r);
    guest_ram_free(src);
    guest_ram_free(dst);
}

/* Loads bytes into a fresh RAM and checks the refusal and that no device state was applied. */
static void expect_refused(GByteArray *bytes, const char *message_part)
{
    GuestRam *dst = new_ram();
    DeviceSink sink = {g_byte_array_new(), 0};
    GError *err = NULL;
    g_assert_false(load_bytes(bytes, dst, &sink, NULL, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, message_part)) {
        g_error("expected '%s' in '%s'", message_part, err->message);
    }
    g_assert_cmpint(sink.calls, ==, 0);
    g_error_free(err);
    g_byte_array_unref(sink.devices);
    guest_ram_free(dst);
}

static GByteArray *good_stream(void)
{
    GuestRam *src = new_ram();
    fill_pattern(src);
    GByteArray *bytes = encode(full_stream, src);
    guest_ram_free(src);
    return bytes;
}

static void test_truncated_everywhere(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    guint total = bytes->len;
    /* Every cut, including inside the header and inside a page, is refused. */
    for (guint cut = 0; cut < total; cut += (cut < 64 ? 1 : 997)) {
        g_byte_array_set_size(bytes, cut);
        expect_refused(bytes, "truncated");
        g_byte_array_unref(bytes);
        bytes = good_stream();
    }
    g_byte_array_set_size(bytes, total - 1);
    expect_refused(bytes, "truncated");
}

static void test_corrupt_byte_caught_by_checksum(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    /* A byte inside the first page's data: the records still parse, the checksum does not. */
    guint first_page_data = 8 + 4 + 1 + strlen(MACHINE) + 8 + 4 + 1 + 8;
    bytes->data[first_page_data + 100] ^= 0x40;
    expect_refused(bytes, "checksum mismatch");
}

static void test_bad_magic(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    bytes->data[0] = 'X';
    expect_refused(bytes, "Not a migration stream");
    g_autoptr(GByteArray) garbage = g_byte_array_new();
    for (int i = 0; i < 4096; i++) {
        guint8 b = (guint8)g_random_int();
        g_byte_array_append(garbage, &b, 1);
    }
    expect_refused(garbage, "Not a migration stream");
}

static void test_wrong_version(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    bytes->data[MIG_STREAM_MAGIC_LEN + 3] = MIG_STREAM_VERSION + 1;
    expect_refused(bytes, "Unsupported migration stream version 2");
}

static void header_other_machine(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, "q35", RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_devices(c, device_blob, 1);
}

static void header_other_size(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, 2 * RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_devices(c, device_blob, 1);
}

static void test_wrong_machine_and_size(void)
{
    g_autoptr(GByteArray) m = encode(header_other_machine, NULL);
    expect_refused(m, "machine 'q35'");
    g_autoptr(GByteArray) s = encode(header_other_size, NULL);
    expect_refused(s, "Length mismatch: pc.ram: 0x80000 in != 0x40000");
}

static void page_beyond_ram(MigChannel *c, gpointer opaque)
{
    static guint8 page[GUEST_PAGE_SIZE];
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_page(c, RAM_PAGES, page);
}

static void zero_run_wraps(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_zero_run(c, UINT64_MAX - 1, 4);
}

static void devices_oversized(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_channel_put_u8(c, MIG_REC_DEVICES);
    mig_channel_put_be32(c, MIG_STREAM_DEVICES_MAX + 1);
}

static void record_after_devices(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_devices(c, device_blob, 4);
    mig_stream_put_pass(c, 2);
}

static void no_devices(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_pass(c, 1);
}

static void unknown_record(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_channel_put_u8(c, 0x7e);
}

static void test_bounds(void)
{
    struct {
        StreamBody body;
        const char *msg;
    } cases[] = {
        {page_beyond_ram, "beyond RAM"},          {zero_run_wraps, "beyond RAM"},
        {devices_oversized, "exceeds the limit"}, {record_after_devices, "after the device state"},
        {no_devices, "without device state"},     {unknown_record, "Unknown record 0x7e"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) bytes = encode(cases[i].body, NULL);
        expect_refused(bytes, cases[i].msg);
    }
}

static bool refuse_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    g_set_error_literal(errp, g_quark_from_static_string("test"), 1, "device refused");
    return false;
}

static void test_device_load_failure_propagates(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    GuestRam *dst = new_ram();
    MigLoadTarget t = {.ram = dst, .machine_type = MACHINE, .load_devices = refuse_devices};
    MigChannel *r = mig_channel_new_buffer(bytes->data, bytes->len);
    GError *err = NULL;
    g_assert_false(mig_stream_load(r, &t, NULL, &err));
    g_assert_cmpstr(err->message, ==, "device refused");
    g_error_free(err);
    mig_channel_free(r);
    guest_ram_free(dst);
}

static void colo_stream(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_colo(c);
    mig_stream_put_pass(c, 1);
    mig_stream_put_devices(c, device_blob, 4);
}

static void colo_late(MigChannel *c, gpointer opaque)
{
    mig_stream_put_header(c, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_pass(c, 1);
    mig_stream_put_colo(c);
}

static bool colo_allowed(void *opaque, GError **errp)
{
    (*(int *)opaque)++;
    return true;
}

static bool colo_refused(void *opaque, GError **errp)
{
    (*(int *)opaque)++;
    g_set_error_literal(errp, g_quark_from_static_string("test"), 1, "no x-colo here");
    return false;
}

/* The COLO record: right after the header only; the target says yes or no; a target without
 * the hook refuses. */
static void test_colo_record(void)
{
    g_autoptr(GByteArray) bytes = encode(colo_stream, NULL);
    bool (*hooks[])(void *, GError **) = {colo_allowed, colo_refused, NULL};
    for (guint i = 0; i < G_N_ELEMENTS(hooks); i++) {
        GuestRam *dst = new_ram();
        int calls = 0;
        MigLoadTarget t = {
            .ram = dst, .machine_type = MACHINE, .enable_colo = hooks[i], .opaque = &calls};
        MigChannel *r = mig_channel_new_buffer(bytes->data, bytes->len);
        MigLoadStats st;
        GError *err = NULL;
        bool ok = mig_stream_load(r, &t, &st, &err);
        mig_channel_free(r);
        g_assert_cmpint(ok, ==, i == 0);
        g_assert_cmpint(calls, ==, hooks[i] ? 1 : 0);
        if (ok) {
            g_assert_true(st.colo);
        } else {
            g_assert_cmpstr(err->message, ==,
                            i == 1 ? "no x-colo here"
                                   : "COLO is not supported by this destination");
            g_error_free(err);
        }
        guest_ram_free(dst);
    }
    g_autoptr(GByteArray) late = encode(colo_late, NULL);
    expect_refused(late, "COLO record after the start of RAM");
}

/* The reader on a pipe whose writer goes away mid-stream: truncated, not a hang. */
static void test_fd_reader_eof(void)
{
    g_autoptr(GByteArray) bytes = good_stream();
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(write(fds[1], bytes->data, 5000), ==, 5000);
    close(fds[1]);
    GuestRam *dst = new_ram();
    MigLoadTarget t = {.ram = dst, .machine_type = MACHINE};
    MigChannel *r = mig_channel_new_fd(fds[0], false, "socket");
    GError *err = NULL;
    g_assert_false(mig_stream_load(r, &t, NULL, &err));
    g_assert_nonnull(strstr(err->message, "truncated"));
    g_error_free(err);
    mig_channel_free(r);
    guest_ram_free(dst);
}

static gpointer cancel_later(gpointer c)
{
    g_usleep(100 * 1000);
    mig_channel_cancel(c);
    return NULL;
}

/* A writer blocked on a full pipe nobody reads wakes up for a cancel. */
static void test_cancel_wakes_blocked_writer(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    MigChannel *w = mig_channel_new_fd(fds[1], true, "socket");
    GThread *t = g_thread_new("cancel", cancel_later, w);
    static guint8 chunk[1 << 20];
    mig_channel_put(w, chunk, sizeof(chunk));
    GError *err = NULL;
    g_assert_false(mig_channel_flush(w, &err));
    g_assert_cmpstr(err->message, ==, "Migration cancelled");
    g_error_free(err);
    g_thread_join(t);
    mig_channel_free(w);
    close(fds[0]);
}

/* A reader gone: the writer reports upstream's "Unable to write to socket: Broken pipe". */
static void test_write_error_is_sticky(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    MigChannel *w = mig_channel_new_fd(fds[1], true, "socket");
    static guint8 chunk[300 * 1024];
    mig_channel_put(w, chunk, sizeof(chunk));
    mig_channel_put_be32(w, 1);
    GError *err = NULL;
    g_assert_false(mig_channel_flush(w, &err));
    g_assert_cmpstr(err->message, ==, "Unable to write to socket: Broken pipe");
    g_error_free(err);
    mig_channel_free(w);
}

/* max-bandwidth: 1 MiB at 4 MiB/s takes at least ~200 ms (100 ms windows). */
static void test_rate_limit(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    Drain d = {fds[0], g_byte_array_new()};
    GThread *t = g_thread_new("drain", drain_thread, &d);
    MigChannel *w = mig_channel_new_fd(fds[1], true, "socket");
    mig_channel_set_rate_limit(w, 4 << 20);
    static guint8 chunk[64 * 1024];
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < 16; i++) {
        mig_channel_put(w, chunk, sizeof(chunk));
    }
    g_assert_true(mig_channel_flush(w, NULL));
    gint64 took = g_get_monotonic_time() - start;
    mig_channel_free(w);
    g_thread_join(t);
    g_assert_cmpuint(d.out->len, ==, 16 * sizeof(chunk));
    g_assert_cmpint(took, >=, 150 * 1000);
    g_byte_array_unref(d.out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration-stream/round-trip", test_round_trip);
    g_test_add_func("/migration-stream/long-zero-run", test_long_zero_run_clears);
    g_test_add_func("/migration-stream/truncated", test_truncated_everywhere);
    g_test_add_func("/migration-stream/checksum", test_corrupt_byte_caught_by_checksum);
    g_test_add_func("/migration-stream/bad-magic", test_bad_magic);
    g_test_add_func("/migration-stream/wrong-version", test_wrong_version);
    g_test_add_func("/migration-stream/wrong-machine-size", test_wrong_machine_and_size);
    g_test_add_func("/migration-stream/bounds", test_bounds);
    g_test_add_func("/migration-stream/device-load-failure", test_device_load_failure_propagates);
    g_test_add_func("/migration-stream/colo-record", test_colo_record);
    g_test_add_func("/migration-stream/fd-reader-eof", test_fd_reader_eof);
    g_test_add_func("/migration-stream/cancel", test_cancel_wakes_blocked_writer);
    g_test_add_func("/migration-stream/write-error", test_write_error_is_sticky);
    g_test_add_func("/migration-stream/rate-limit", test_rate_limit);
    return g_test_run();
}
