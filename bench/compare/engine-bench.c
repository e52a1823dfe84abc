/*
 * In-process throughput of the colo-compare engine: identical TCP streams on N connections with
 * R passthrough rules that never match (so every packet is still compared), primary and secondary
 * interleaved as they arrive on a real system. Prints frames per second and ns per frame.
 * Usage: colo-compare-engine-bench CONNECTIONS RULES FRAMES
 */
#include "net/colo-compare-engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static guint64 released;

static void on_release(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    released++;
}

static void build(guint8 *f, guint32 conn, guint32 seq, guint plen)
{
    memset(f, 0, 54);
    f[12] = 0x08;
    guint8 *ip = f + 14;
    ip[0] = 0x45;
    colo_st_be16(ip + 2, 40 + plen);
    ip[8] = 64;
    ip[9] = COLO_IPPROTO_TCP;
    ip[12] = 10;
    ip[15] = 2;
    ip[16] = 10;
    ip[17] = 1;
    colo_st_be16(ip + 18, conn >> 16);
    guint8 *tcp = ip + 20;
    colo_st_be16(tcp, 80);
    colo_st_be16(tcp + 2, (guint16)conn);
    colo_st_be32(tcp + 4, seq);
    colo_st_be32(tcp + 8, 1);
    tcp[12] = 0x50;
    tcp[13] = COLO_TCP_ACK | COLO_TCP_PSH;
    for (guint i = 0; i < plen; i++) {
        f[54 + i] = (guint8)(seq + i);
    }
}

int main(int argc, char **argv)
{
    guint conns = argc > 1 ? atoi(argv[1]) : 1;
    guint rules = argc > 2 ? atoi(argv[2]) : 0;
    guint frames = argc > 3 ? atoi(argv[3]) : 1000000;
    guint plen = argc > 4 ? atoi(argv[4]) : 64;
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    for (guint i = 0; i < rules; i++) {
        ColoPassthroughRule r = {
            .has_proto = TRUE, .proto = COLO_IPPROTO_UDP, .dst_port = (guint16)(1 + i)};
        colo_passthrough_add(&pt, &r, NULL);
    }
    static const ColoCompareOps ops = {on_release, NULL};
    ColoCompareConfig cfg = {.max_connections = MAX(conns + 1, 16384)};
    ColoCompareEngine *e = colo_compare_engine_new(&cfg, &ops, NULL, &pt);
    guint32 *seq = g_new0(guint32, conns);
    guint8 frame[54 + 1500];

    gint64 t0 = g_get_monotonic_time();
    for (guint n = 0; n < frames; n++) {
        guint c = n % conns;
        build(frame, c, seq[c], plen);
        colo_compare_engine_input(e, COLO_SIDE_PRIMARY, frame, 54 + plen, 0, 0);
        colo_compare_engine_input(e, COLO_SIDE_SECONDARY, frame, 54 + plen, 0, 0);
        seq[c] += plen;
    }
    gint64 t1 = g_get_monotonic_time();
    double secs = (t1 - t0) / 1e6;
    if (released != frames) {
        fprintf(stderr, "released %" G_GUINT64_FORMAT " of %u\n", released, frames);
        return 1;
    }
    printf("connections=%u rules=%u payload=%u frames=%u: %.0f frames/s, %.0f ns/frame pair\n",
           conns, rules, plen, frames, frames / secs, (t1 - t0) * 1e3 / frames);
    colo_compare_engine_free(e);
    colo_passthrough_destroy(&pt);
    g_free(seq);
    return 0;
}
