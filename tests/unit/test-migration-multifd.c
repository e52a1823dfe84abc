/* Multifd's channels: pages spread over extra sockets, the SYNC barrier, and every refusal. */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/colo.h"
#include "migration/multifd.h"
#include "migration/stream.h"

#define RAM_PAGES 512
#define MACHINE   "pc-i440fx-7.2"
#define NCHANS    3

typedef struct Wire {
    int main_fds[2];
    int extra_fds[NCHANS][2];
} Wire;

static void wire_open(Wire *w)
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, w->main_fds), ==, 0);
    for (int i = 0; i < NCHANS; i++) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, w->extra_fds[i]), ==, 0);
    }
}

static GuestRam *new_ram(void)
{
    GError *err = NULL;
    GuestRam *ram = guest_ram_new(RAM_PAGES * GUEST_PAGE_SIZE, 0, &err);
    g_assert_no_error(err);
    return ram;
}

static void fill_pattern(guint8 *mem, uint64_t npages, int seed)
{
    for (uint64_t i = 0; i < npages; i++) {
        if (i % 5 == 2) {
            memset(mem + i * GUEST_PAGE_SIZE, 0, GUEST_PAGE_SIZE);
        } else {
            memset(mem + i * GUEST_PAGE_SIZE, (int)(i * 7 + seed), GUEST_PAGE_SIZE);
            mem[i * GUEST_PAGE_SIZE + 11] = (guint8)seed;
        }
    }
}

static void test_channel_of(void)
{
    /* a block of 64 pages stays on one channel; blocks go round */
    g_assert_cmpuint(multifd_channel_of(0, 3), ==, 0);
    g_assert_cmpuint(multifd_channel_of(63, 3), ==, 0);
    g_assert_cmpuint(multifd_channel_of(64, 3), ==, 1);
    g_assert_cmpuint(multifd_channel_of(128, 3), ==, 2);
    g_assert_cmpuint(multifd_channel_of(192, 3), ==, 0);
    g_assert_cmpuint(multifd_channel_of(1000, 1), ==, 0);
}

/* ---- a whole precopy stream: main channel plus NCHANS ---- */

typedef struct Source {
    Wire *w;
    const guint8 *old, *now; /* pass 1 sends old, pass 2 now (every other page dirtied) */
    uint64_t extra_bytes;
} Source;

static void put_pages(MultifdSend *mf, MigChannel *main, const guint8 *mem, int step)
{
    uint64_t run_start = 0, run = 0;
    for (uint64_t pi = 0; pi < RAM_PAGES; pi += step) {
        const guint8 *page = mem + pi * GUEST_PAGE_SIZE;
        if (mig_page_is_zero(page) && step == 1) {
            if (run && run_start + run == pi) {
                run++;
                continue;
            }
            if (run) {
                multifd_put_zero_run(mf, main, run_start, run);
            }
            run_start = pi;
            run = 1;
        } else {
            multifd_put_page(mf, main, pi, page);
        }
    }
    if (run) {
        multifd_put_zero_run(mf, main, run_start, run);
    }
}

static gpointer source_thread(gpointer opaque)
{
    Source *s = opaque;
    GError *err = NULL;
    MigChannel *main = mig_channel_new_fd(s->w->main_fds[0], true, "socket");
    mig_stream_put_header(main, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
    mig_stream_put_multifd(main, NCHANS);
    g_assert_true(mig_channel_flush(main, &err));
    MigChannel *chans[NCHANS];
    for (int i = 0; i < NCHANS; i++) {
        chans[i] = mig_channel_new_fd(s->w->extra_fds[i][0], true, "socket");
    }
    MultifdSend *mf = multifd_send_new(main, chans, NCHANS);
    put_pages(mf, main, s->old, 1);
    /* a zero run across three blocks is cut into each block's channel */
    multifd_put_zero_run(mf, main, 60, 140);
    mig_stream_put_pass(main, 1);
    put_pages(mf, main, s->now, 1);
    multifd_send_sync(mf, main);
    g_assert_null(multifd_send_error(mf));
    mig_stream_put_devices(main, (const guint8 *)"devs", 4);
    g_assert_true(mig_stream_put_end(main, &err));
    s->extra_bytes = multifd_send_bytes(mf);
    multifd_send_free(mf);
    mig_channel_free(main);
    return NULL;
}

typedef struct Dest {
    Wire *w;
    GuestRam *ram;
    MigChannel *main;
    MultifdRecv *mf;
    GByteArray *devices;
    int opened;
    uint32_t synced;
} Dest;

static bool dest_open(void *opaque, uint32_t n, GError **errp)
{
    Dest *d = opaque;
    g_assert_cmpuint(n, ==, NCHANS);
    MigChannel *chans[NCHANS];
    /* accepted in another order than connected: the headers sort them out */
    for (int i = 0; i < NCHANS; i++) {
        chans[i] = mig_channel_new_fd(d->w->extra_fds[NCHANS - 1 - i][1], false, "socket");
    }
    MultifdTarget t = {.mem = d->ram->host, .npages = d->ram->npages, .ram = d->ram};
    d->mf = multifd_recv_new(d->main, chans, n, &t, errp);
    d->opened++;
    return d->mf != NULL;
}

static bool dest_sync(void *opaque, uint32_t seq, GError **errp)
{
    Dest *d = opaque;
    d->synced = seq;
    return multifd_recv_sync(d->mf, seq, errp);
}

static bool dest_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    Dest *d = opaque;
    g_byte_array_append(d->devices, buf, len);
    return true;
}

static void test_precopy_round_trip(void)
{
    Wire w;
    wire_open(&w);
    guint8 *old = g_malloc(RAM_PAGES * GUEST_PAGE_SIZE),
           *now = g_malloc(RAM_PAGES * GUEST_PAGE_SIZE);
    fill_pattern(old, RAM_PAGES, 1);
    fill_pattern(now, RAM_PAGES, 2);
    /* a page zero now that was not in pass 1, and one written now that was zero */
    memset(now + 61 * GUEST_PAGE_SIZE, 0, GUEST_PAGE_SIZE);
    memset(now + 62 * GUEST_PAGE_SIZE, 0x77, GUEST_PAGE_SIZE);
    Source s = {.w = &w, .old = old, .now = now};
    GThread *t = g_thread_new("source", source_thread, &s);
    Dest d = {.w = &w, .ram = new_ram(), .devices = g_byte_array_new()};
    d.main = mig_channel_new_fd(w.main_fds[1], false, "socket");
    MigLoadTarget target = {.ram = d.ram,
                            .machine_type = MACHINE,
                            .open_multifd = dest_open,
                            .sync_multifd = dest_sync,
                            .load_devices = dest_devices,
                            .opaque = &d};
    GError *err = NULL;
    MigLoadStats stats;
    bool ok = mig_stream_load(d.main, &target, &stats, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    g_thread_join(t);
    g_assert_cmpint(d.opened, ==, 1);
    g_assert_cmpuint(d.synced, ==, 1);
    /* every page came on the extra channels, none on main */
    g_assert_cmpuint(stats.pages, ==, 0);
    g_assert_cmpuint(multifd_recv_pages(d.mf), >=, RAM_PAGES * 2);
    g_assert_cmpuint(s.extra_bytes, >, RAM_PAGES * GUEST_PAGE_SIZE);
    g_assert_true(memcmp(d.ram->host, now, RAM_PAGES * GUEST_PAGE_SIZE) == 0);
    g_assert_cmpuint(d.devices->len, ==, 4);
    multifd_recv_free(d.mf);
    mig_channel_free(d.main);
    g_byte_array_unref(d.devices);
    guest_ram_free(d.ram);
    g_free(old);
    g_free(now);
}

/* ---- the receiver alone, fed by hand ---- */

typedef struct Rx {
    Wire w;
    MigChannel *main_r, *main_w;
    MigChannel *tx[NCHANS]; /* owned by send */
    MultifdSend *send;
    guint8 *mem;
    uint64_t received[RAM_PAGES / 64];
    MultifdRecv *mf;
} Rx;

static void rx_open(Rx *r)
{
    memset(r, 0, sizeof(*r));
    wire_open(&r->w);
    r->main_r = mig_channel_new_fd(r->w.main_fds[1], false, "socket");
    r->main_w = mig_channel_new_fd(r->w.main_fds[0], true, "socket");
    r->mem = g_malloc0(RAM_PAGES * GUEST_PAGE_SIZE);
    MigChannel *rc[NCHANS];
    for (int i = 0; i < NCHANS; i++) {
        r->tx[i] = mig_channel_new_fd(r->w.extra_fds[i][0], true, "socket");
        rc[i] = mig_channel_new_fd(r->w.extra_fds[i][1], false, "socket");
    }
    r->send = multifd_send_new(r->main_w, r->tx, NCHANS);
    for (int i = 0; i < NCHANS; i++) {
        g_assert_true(mig_channel_flush(r->tx[i], NULL));
    }
    MultifdTarget t = {.mem = r->mem, .npages = RAM_PAGES, .received = r->received};
    GError *err = NULL;
    r->mf = multifd_recv_new(r->main_r, rc, NCHANS, &t, &err);
    g_assert_no_error(err);
    g_assert_nonnull(r->mf);
}

static void rx_close(Rx *r)
{
    multifd_recv_free(r->mf);
    multifd_send_free(r->send);
    mig_channel_free(r->main_r);
    mig_channel_free(r->main_w);
    g_free(r->mem);
}

static bool rx_sync(Rx *r, GError **errp)
{
    multifd_send_sync(r->send, r->main_w);
    g_assert_true(mig_channel_flush(r->main_w, NULL));
    uint8_t tag;
    uint32_t seq;
    g_assert_true(mig_channel_get_u8(r->main_r, &tag, NULL));
    g_assert_cmpuint(tag, ==, MIG_REC_SYNC);
    g_assert_true(mig_channel_get_be32(r->main_r, &seq, NULL));
    return multifd_recv_sync(r->mf, seq, errp);
}

/* COLO's use: pages into a cache, each marked received, all there at the SYNC. */
static void test_checkpoint_into_cache(void)
{
    Rx r;
    rx_open(&r);
    guint8 page[GUEST_PAGE_SIZE];
    for (int round = 1; round <= 3; round++) {
        memset(r.received, 0, sizeof(r.received));
        for (uint64_t pi = round; pi < RAM_PAGES; pi += 7) {
            memset(page, (int)(pi + round), sizeof(page));
            multifd_put_page(r.send, r.main_w, pi, page);
        }
        multifd_put_zero_run(r.send, r.main_w, 100, 60);
        GError *err = NULL;
        g_assert_true(rx_sync(&r, &err));
        g_assert_no_error(err);
        for (uint64_t pi = 0; pi < RAM_PAGES; pi++) {
            bool zero = pi >= 100 && pi < 160;
            bool sent = zero || (pi >= (uint64_t)round && (pi - round) % 7 == 0);
            g_assert_cmpint(!!(r.received[pi / 64] & (1ull << (pi % 64))), ==, sent);
            if (zero) {
                g_assert_true(mig_page_is_zero(r.mem + pi * GUEST_PAGE_SIZE));
            } else if (sent) {
                g_assert_cmpuint(r.mem[pi * GUEST_PAGE_SIZE + 99], ==, (guint8)(pi + round));
            }
        }
    }
    rx_close(&r);
}

/* A page put on a channel that is not its block's is refused at the SYNC. */
static void test_foreign_page_refused(void)
{
    Rx r;
    rx_open(&r);
    guint8 page[GUEST_PAGE_SIZE] = {1};
    mig_stream_put_page(r.tx[0], 64, page); /* block 1 belongs to channel 1 */
    GError *err = NULL;
    g_assert_false(rx_sync(&r, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "is not its own"));
    g_error_free(err);
    rx_close(&r);
}

/* One channel cut before its SYNC: the barrier fails, nothing claims to be complete. */
static void test_torn_channel_fails_sync(void)
{
    Rx r;
    rx_open(&r);
    guint8 page[GUEST_PAGE_SIZE] = {2};
    mig_stream_put_page(r.tx[1], 64, page);
    g_assert_true(mig_channel_flush(r.tx[1], NULL));
    shutdown(r.w.extra_fds[1][0], SHUT_RDWR);
    GError *err = NULL;
    g_assert_false(rx_sync(&r, &err));
    g_assert_nonnull(err);
    g_error_free(err);
    rx_close(&r);
}

/* A byte changed on a channel: its SYNC's checksum catches it. */
static void test_checksum_on_channel(void)
{
    Rx r;
    rx_open(&r);
    /* a sync record whose CRC is wrong, by hand */
    mig_stream_put_sync(r.tx[2], 1);
    mig_channel_put_be32(r.tx[2], mig_channel_crc(r.tx[2]) ^ 1);
    g_assert_true(mig_channel_flush(r.tx[2], NULL));
    GError *err = NULL;
    g_assert_false(multifd_recv_sync(r.mf, 1, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "checksum mismatch"));
    g_error_free(err);
    rx_close(&r);
}

static gpointer cancel_later(gpointer p)
{
    g_usleep(100 * 1000);
    mig_channel_cancel(p);
    return NULL;
}

/* A cancel of the main channel (failover, exit) wakes a SYNC wait and stops the threads. */
static void test_cancel_wakes_sync(void)
{
    Rx r;
    rx_open(&r);
    GThread *t = g_thread_new("cancel", cancel_later, r.main_r);
    GError *err = NULL;
    g_assert_false(multifd_recv_sync(r.mf, 1, &err));
    g_assert_nonnull(err);
    g_error_free(err);
    g_thread_join(t);
    rx_close(&r);
}

/* The sender's channels follow its main one: a cancel there (migrate_cancel, failover) stops
 * every one, and one freed first leaves the others linked. */
static void test_followers_cancelled(void)
{
    Rx r;
    rx_open(&r);
    for (int i = 0; i < NCHANS; i++) {
        g_assert_false(mig_channel_cancelled(r.tx[i]));
    }
    g_assert_false(mig_channel_cancelled(r.main_r));
    mig_channel_cancel(r.main_w);
    for (int i = 0; i < NCHANS; i++) {
        g_assert_true(mig_channel_cancelled(r.tx[i]));
    }
    /* the receiver's main channel is another leader: untouched */
    g_assert_false(mig_channel_cancelled(r.main_r));
    GError *err = NULL;
    mig_stream_put_sync(r.tx[0], 1);
    g_assert_false(mig_channel_flush(r.tx[0], &err));
    g_assert_cmpstr(err->message, ==, "Migration cancelled");
    g_error_free(err);
    rx_close(&r);
}

static void test_bad_headers(void)
{
    static const struct {
        const char *magic;
        uint32_t index, count;
        const char *want;
    } cases[] = {
        {"QCOLOMIG", 0, 1, "Not a multifd channel"},
        {MULTIFD_MAGIC, 1, 1, "Multifd channel 1 of 1, expected one of 1"},
        {MULTIFD_MAGIC, 0, 2, "Multifd channel 0 of 2, expected one of 1"},
        {NULL, 0, 0, "Multifd channel header: "},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(cases); k++) {
        int fds[2], mfds[2];
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, mfds), ==, 0);
        MigChannel *w = mig_channel_new_fd(fds[0], true, "socket");
        if (cases[k].magic) {
            mig_channel_put(w, cases[k].magic, MULTIFD_MAGIC_LEN);
            mig_channel_put_be32(w, cases[k].index);
            mig_channel_put_be32(w, cases[k].count);
        }
        g_assert_true(mig_channel_flush(w, NULL));
        mig_channel_free(w); /* a short header is then a truncation */
        MigChannel *main = mig_channel_new_fd(mfds[0], false, "socket");
        MigChannel *rc = mig_channel_new_fd(fds[1], false, "socket");
        guint8 mem[GUEST_PAGE_SIZE];
        MultifdTarget t = {.mem = mem, .npages = 1};
        GError *err = NULL;
        g_assert_null(multifd_recv_new(main, &rc, 1, &t, &err));
        g_assert_nonnull(err);
        g_assert_true(g_str_has_prefix(err->message, cases[k].want));
        g_error_free(err);
        mig_channel_free(main);
        close(mfds[1]);
    }
}

/* A stream with a SYNC but no MULTIFD record, or MULTIFD late, is refused. */
static void test_stream_refusals(void)
{
    static const struct {
        int order;
        const char *want;
    } cases[] = {
        {0, "Migration stream SYNC record without multifd channels"},
        {1, "Migration stream MULTIFD record after the start of RAM"},
        {2, "multifd is not supported by this destination"},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(cases); k++) {
        int fds[2];
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
        MigChannel *w = mig_channel_new_fd(fds[0], true, "socket");
        mig_stream_put_header(w, MACHINE, RAM_PAGES * GUEST_PAGE_SIZE);
        if (cases[k].order == 0) {
            mig_stream_put_sync(w, 1);
        } else if (cases[k].order == 1) {
            mig_stream_put_pass(w, 1);
            mig_stream_put_multifd(w, 2);
        } else {
            mig_stream_put_multifd(w, 2);
        }
        g_assert_true(mig_stream_put_end(w, NULL));
        mig_channel_free(w);
        GuestRam *ram = new_ram();
        MigChannel *r = mig_channel_new_fd(fds[1], false, "socket");
        MigLoadTarget target = {.ram = ram, .machine_type = MACHINE};
        GError *err = NULL;
        g_assert_false(mig_stream_load(r, &target, NULL, &err));
        g_assert_cmpstr(err->message, ==, cases[k].want);
        g_error_free(err);
        mig_channel_free(r);
        guest_ram_free(ram);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* a write to a cut channel fails with EPIPE, as in the binary */
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/migration-multifd/channel-of", test_channel_of);
    g_test_add_func("/migration-multifd/precopy-round-trip", test_precopy_round_trip);
    g_test_add_func("/migration-multifd/checkpoint-into-cache", test_checkpoint_into_cache);
    g_test_add_func("/migration-multifd/foreign-page", test_foreign_page_refused);
    g_test_add_func("/migration-multifd/torn-channel", test_torn_channel_fails_sync);
    g_test_add_func("/migration-multifd/channel-checksum", test_checksum_on_channel);
    g_test_add_func("/migration-multifd/cancel-wakes-sync", test_cancel_wakes_sync);
    g_test_add_func("/migration-multifd/followers-cancelled", test_followers_cancelled);
    g_test_add_func("/migration-multifd/bad-headers", test_bad_headers);
    g_test_add_func("/migration-multifd/stream-refusals", test_stream_refusals);
    return g_test_run();
}
