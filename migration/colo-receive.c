/*
 * The secondary's checkpoint receiver (include/migration/colo.h): everything a checkpoint
 * brings is checked as it is read, and lands only in the RAM cache and the device buffer.
 */
#include <string.h>

#include "migration/colo.h"
#include "migration/multifd.h"
#include "migration/stream.h"
#include "qapi-types.h"
#include "util/error.h"

bool colo_get_msg(MigChannel *c, ColoMessage *m, GError **errp)
{
    uint32_t v;
    if (!mig_channel_get_be32(c, &v, errp)) {
        g_prefix_error(errp, "Can't receive COLO message: ");
        return false;
    }
    if (v >= COLO_MSG__MAX) {
        error_setg(errp, "%s: Invalid message", "Can't receive COLO message");
        return false;
    }
    *m = v;
    return true;
}

bool colo_expect_msg(MigChannel *c, ColoMessage want, GError **errp)
{
    ColoMessage m;
    if (!colo_get_msg(c, &m, errp)) {
        return false;
    }
    if (m != want) {
        error_setg(errp, "Unexpected COLO message %d, expected %d", m, want);
        return false;
    }
    return true;
}

static bool page_in_ram(const ColoReceiver *rx, uint64_t first, uint64_t count, GError **errp)
{
    if (first >= rx->npages || count > rx->npages - first) {
        error_setg(errp, "COLO checkpoint page %" G_GUINT64_FORMAT " is beyond RAM", first);
        return false;
    }
    return true;
}

static void mark_received(ColoReceiver *rx, uint64_t pi)
{
    rx->received[pi / 64] |= 1ull << (pi % 64);
}

/* The pages of one checkpoint, into the cache only, up to the END record and its checksum. */
static bool receive_pages(MigChannel *in, ColoReceiver *rx, GError **errp)
{
    for (;;) {
        uint8_t tag;
        uint64_t first;
        uint32_t count;
        if (!mig_channel_get_u8(in, &tag, errp)) {
            return false;
        }
        switch (tag) {
        case MIG_REC_PAGE:
            if (!mig_channel_get_be64(in, &first, errp) || !page_in_ram(rx, first, 1, errp) ||
                !mig_channel_get(in, rx->mem + (first << GUEST_PAGE_BITS), GUEST_PAGE_SIZE, errp)) {
                return false;
            }
            mark_received(rx, first);
            break;
        case MIG_REC_ZERO:
            if (!mig_channel_get_be64(in, &first, errp) ||
                !mig_channel_get_be32(in, &count, errp) || !page_in_ram(rx, first, count, errp)) {
                return false;
            }
            for (uint64_t pi = first; pi < first + count; pi++) {
                memset(rx->mem + (pi << GUEST_PAGE_BITS), 0, GUEST_PAGE_SIZE);
                mark_received(rx, pi);
            }
            break;
        case MIG_REC_SYNC: {
            uint32_t seq;
            if (!mig_channel_get_be32(in, &seq, errp)) {
                return false;
            }
            if (!rx->multifd) {
                error_setg(errp, "COLO checkpoint SYNC record without multifd channels");
                return false;
            }
            if (!multifd_recv_sync(rx->multifd, seq, errp)) {
                return false;
            }
            break;
        }
        case MIG_REC_END:
            return mig_stream_check_crc(in, "COLO checkpoint", errp);
        default:
            error_setg(errp, "Unknown record 0x%02x in a COLO checkpoint", tag);
            return false;
        }
    }
}

static bool receive_devices(MigChannel *in, ColoReceiver *rx, GError **errp)
{
    uint64_t len;
    if (!colo_expect_msg(in, COLO_MSG_VMSTATE_SIZE, errp)) {
        return false;
    }
    if (!mig_channel_get_be64(in, &len, errp)) {
        g_prefix_error(errp, "Failed to get value for COLO message: ");
        return false;
    }
    if (len > MIG_STREAM_DEVICES_MAX) {
        error_setg(errp,
                   "COLO device state of %" G_GUINT64_FORMAT " bytes exceeds the limit "
                   "of %u",
                   len, MIG_STREAM_DEVICES_MAX);
        return false;
    }
    if (len < COLO_STATE_HEADER) {
        error_setg(errp, "COLO device state of %" G_GUINT64_FORMAT " bytes has no run state", len);
        return false;
    }
    uint32_t state;
    if (!mig_channel_get_be32(in, &state, errp)) {
        g_prefix_error(errp, "Failed to get value for COLO message: ");
        return false;
    }
    /* the states a running primary's checkpoint can be taken in */
    if (state != RUN_STATE_RUNNING && state != RUN_STATE_PAUSED && state != RUN_STATE_SHUTDOWN &&
        state != RUN_STATE_PRELAUNCH) {
        error_setg(errp, "COLO checkpoint carries run state %u", state);
        return false;
    }
    rx->state = state;
    len -= COLO_STATE_HEADER;
    g_free(rx->devices);
    rx->devices = g_malloc(MAX(len, 1));
    rx->devices_len = len;
    GError *short_read = NULL;
    uint64_t before = mig_channel_bytes(in);
    if (!mig_channel_get(in, rx->devices, len, &short_read)) {
        /* upstream's words, then why */
        error_setg(errp, "Got %lu VMState data, less than expected %lu: %s",
                   (unsigned long)(mig_channel_bytes(in) - before), (unsigned long)len,
                   short_read->message);
        g_error_free(short_read);
        return false;
    }
    return mig_stream_check_crc(in, "COLO device state", errp);
}

bool colo_receive_checkpoint(MigChannel *in, ColoReceiver *rx, GError **errp)
{
    return colo_expect_msg(in, COLO_MSG_VMSTATE_SEND, errp) && receive_pages(in, rx, errp) &&
           receive_devices(in, rx, errp);
}
