/* Self-announce (net/announce.c): the RARP frame, the schedule, interface lists and ids. */
#include <string.h>

#include "net/announce.h"
#include "net/net.h"

typedef struct Sink {
    NetClientState nc;
    GArray *times; /* of gint64, µs: when each frame came */
    GPtrArray *frames;
} Sink;

static ssize_t sink_receive(NetClientState *nc, const uint8_t *buf, size_t size)
{
    Sink *s = (Sink *)nc;
    gint64 now = g_get_monotonic_time();
    g_array_append_val(s->times, now);
    g_ptr_array_add(s->frames, g_bytes_new(buf, size));
    return size;
}

static const NetClientInfo sink_info = {
    .type = NET_CLIENT_DRIVER_HUBPORT,
    .size = sizeof(Sink),
    .receive = sink_receive,
};

static const NetClientInfo nic_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(NetClientState),
};

static const uint8_t MAC_A[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t MAC_B[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

/* A NIC named @name with @mac, peered with a new recording sink. */
static Sink *nic_with_sink(const char *name, const uint8_t mac[6])
{
    g_autofree char *sname = g_strdup_printf("%s-sink", name);
    Sink *s = (Sink *)qemu_new_net_client(&sink_info, NULL, "sink", sname);
    s->times = g_array_new(FALSE, FALSE, sizeof(gint64));
    s->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    NetClientState *nic = qemu_new_net_client(&nic_info, &s->nc, "nic", name);
    nic->has_macaddr = true;
    memcpy(nic->macaddr, mac, 6);
    return s;
}

static void sink_free(Sink *s)
{
    g_array_unref(s->times);
    g_ptr_array_unref(s->frames);
}

static void run_for_ms(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* Runs the loop until A and B have seen at least NA and NB frames (a loaded host may fire the
 * timers late: up to 10 s), then QUIET_MS more, so that a frame too many shows too. */
static void run_until_counts(Sink *a, guint na, Sink *b, guint nb, int quiet_ms)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while ((a->times->len < na || b->times->len < nb) && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    run_for_ms(quiet_ms);
}

static AnnounceParameters *params(int64_t initial, int64_t max, int64_t rounds, int64_t step)
{
    AnnounceParameters *p = g_new0(AnnounceParameters, 1);
    p->initial = initial;
    p->max = max;
    p->rounds = rounds;
    p->step = step;
    return p;
}

static void test_rarp_frame(void)
{
    uint8_t f[ANNOUNCE_FRAME_LEN];
    announce_build_rarp(MAC_A, f);
    static const uint8_t want[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x80, 0x35,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x03, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        0x00, 0x00, 0x00, 0x00, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x00,
    };
    g_assert_cmpmem(f, sizeof(want), want, sizeof(want));
    for (size_t i = sizeof(want); i < sizeof(f); i++) {
        g_assert_cmpuint(f[i], ==, 0);
    }
}

static void test_schedule_and_interfaces(void)
{
    Sink *a = nic_with_sink("nica", MAC_A);
    Sink *b = nic_with_sink("nicb", MAC_B);

    /* first round at once, then gaps 30, 60, then 90 capped at 70 */
    g_autoptr(AnnounceParameters) p = params(30, 70, 4, 30);
    gint64 start = g_get_monotonic_time();
    announce_self_named(p);
    g_assert_cmpuint(a->times->len, ==, 1); /* sent before the command returns */
    run_until_counts(a, 4, b, 4, 100);
    g_assert_cmpuint(a->times->len, ==, 4);
    g_assert_cmpuint(b->times->len, ==, 4);
    static const int gaps[] = {30, 60, 70};
    gint64 prev = g_array_index(a->times, gint64, 0);
    g_assert_cmpint(prev - start, <, 20000);
    for (int i = 1; i < 4; i++) {
        gint64 t = g_array_index(a->times, gint64, i);
        g_assert_cmpint(t - prev, >=, (gaps[i - 1] - 2) * 1000);
        g_assert_cmpint(t - prev, <=, (gaps[i - 1] + 150) * 1000);
        prev = t;
    }
    uint8_t want[ANNOUNCE_FRAME_LEN];
    announce_build_rarp(MAC_B, want);
    gsize len;
    const void *got = g_bytes_get_data(g_ptr_array_index(b->frames, 0), &len);
    g_assert_cmpmem(got, len, want, sizeof(want));

    /* only the NICs named */
    g_autoptr(AnnounceParameters) q = params(10, 10, 2, 0);
    q->interfaces = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(q->interfaces, g_strdup("nicb"));
    announce_self_named(q);
    run_until_counts(a, 4, b, 6, 50);
    g_assert_cmpuint(a->times->len, ==, 4);
    g_assert_cmpuint(b->times->len, ==, 6);

    /* rounds 0: nothing; a negative gap is taken as max */
    g_autoptr(AnnounceParameters) none = params(10, 10, 0, 0);
    announce_self_named(none);
    g_autoptr(AnnounceParameters) neg = params(-5, 20, 2, 0);
    announce_self_after_migration(neg);
    run_until_counts(a, 6, b, 0, 50);
    g_assert_cmpuint(a->times->len, ==, 6);
    gint64 gap = g_array_index(a->times, gint64, 5) - g_array_index(a->times, gint64, 4);
    g_assert_cmpint(gap, >=, 18000);

    /* the same id replaces a running schedule */
    g_autoptr(AnnounceParameters) slow = params(200, 200, 100, 0);
    slow->id = g_strdup("t");
    announce_self_named(slow);
    g_autoptr(AnnounceParameters) once = params(200, 200, 1, 0);
    once->id = g_strdup("t");
    announce_self_named(once);
    run_until_counts(a, 8, b, 0, 300);
    g_assert_cmpuint(a->times->len, ==, 8);

    /* stopping drops what is pending */
    announce_self_named(slow);
    announce_stop_all();
    run_until_counts(a, 9, b, 0, 250);
    g_assert_cmpuint(a->times->len, ==, 9);
    sink_free(a);
    sink_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net/announce/rarp-frame", test_rarp_frame);
    g_test_add_func("/net/announce/schedule-and-interfaces", test_schedule_and_interfaces);
    return g_test_run();
}
