/*
 * Arbitrary frames into both inputs of the colo-compare engine, with flushes, old-packet scans and
 * passthrough rules mixed in. Input: records of [op][len:be16][len bytes]; op bit 0 picks the side,
 * bit 1 flushes, bit 2 advances the clock and scans, bit 3 toggles a passthrough rule made from
 * the record's first bytes. Checks that nothing is lost silently: after a final flush, every
 * primary packet was either released or counted as dropped, and the queues are empty.
 */
#include "net/colo-compare-engine.h"

#include <stdlib.h>
#include <string.h>

static guint64 released;

static void on_release(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    if (len == 0 || len > 70000 || vhdr > len) {
        abort();
    }
    released++;
}

static void on_checkpoint(void *opaque, ColoCheckpointReason why, ColoProtoClass cls,
                          const ColoConnKey *key)
{
    if (why >= COLO_CHECKPOINT__MAX || cls >= COLO_PROTO_CLASS__MAX) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ColoCompareOps ops = {on_release, on_checkpoint};
    ColoCompareConfig cfg = {.max_queue_size = 8, .max_connections = 16};
    ColoPassthrough pt;
    colo_passthrough_init(&pt);
    ColoCompareEngine *e = colo_compare_engine_new(&cfg, &ops, NULL, &pt);
    gint64 now = 0;
    released = 0;

    while (size >= 3) {
        guint8 op = data[0];
        gsize len = MIN((gsize)((data[1] << 8) | data[2]), size - 3);
        const guint8 *frame = data + 3;
        data += 3 + len;
        size -= 3 + len;

        if (op & 2) {
            colo_compare_engine_flush(e);
        }
        if (op & 4) {
            now += (op >> 4) * 500;
            colo_compare_engine_scan(e, now);
        }
        if ((op & 8) && len >= 4) {
            ColoPassthroughRule r = {.has_proto = frame[0] & 1,
                                     .proto = frame[1],
                                     .dst_port = frame[2],
                                     .src_port = frame[3]};
            if (!colo_passthrough_add(&pt, &r, NULL)) {
                colo_passthrough_del(&pt, &r, NULL);
            }
        }
        guint32 vhdr = (op & 0x40) ? (op & 0x30) >> 2 : 0;
        colo_compare_engine_input(e, op & 1 ? COLO_SIDE_SECONDARY : COLO_SIDE_PRIMARY, frame, len,
                                  MIN(vhdr, len), now);
    }

    colo_compare_engine_flush(e);
    const ColoCompareStats *st = colo_compare_engine_stats(e);
    guint64 dropped = 0;
    for (int i = 0; i < COLO_DROP__MAX; i++) {
        dropped += st->dropped[COLO_SIDE_PRIMARY][i];
    }
    if (st->out_packets != released || released + dropped != st->in_packets[COLO_SIDE_PRIMARY] ||
        colo_compare_engine_queued(e, COLO_SIDE_PRIMARY) ||
        colo_compare_engine_queued(e, COLO_SIDE_SECONDARY)) {
        abort();
    }
    colo_compare_engine_free(e);
    colo_passthrough_destroy(&pt);
    return 0;
}
