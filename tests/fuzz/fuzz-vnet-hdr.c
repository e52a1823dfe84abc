/*
 * A guest's virtio-net header and frame, both arbitrary, through the device's software offloads:
 * input = 10 header bytes, 2 bytes of segment buffer size, then the frame. Every frame emitted
 * must fit the segment buffer, segments must carry checksums a receiver accepts, and the
 * receive-side checksum check must never read past the frame.
 */
#include "net/vnet-hdr.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t max;
    bool tso;
    size_t csum_start;
} Check;

static void on_frame(void *opaque, const uint8_t *frame, size_t len)
{
    Check *c = opaque;
    if (len > c->max) {
        abort();
    }
    /* A segment we built must verify, where the check reads the same headers (plain IPv4,
     * IPv6 without extension headers, optionally behind one VLAN tag). */
    size_t l3 = len >= 18 && frame[12] == 0x81 && frame[13] == 0 ? 18 : 14;
    bool v6_plain =
        len > l3 + 6 && frame[l3 - 2] == 0x86 && frame[l3 + 6] == 6 && c->csum_start == l3 + 40;
    bool v4 = len > l3 && frame[l3 - 2] == 0x08;
    if (c->tso && (v4 || v6_plain) && !net_frame_csum_ok(frame, len)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12) {
        return 0;
    }
    NetVnetHdr h;
    net_vnet_hdr_parse(&h, data);
    size_t scratch_size = 64 + ((data[10] | (data[11] << 8)) % 4096);
    size_t len = size - 12;
    /* copies, so that reads past the end are caught by ASan */
    uint8_t *frame = g_memdup2(data + 12, len);
    uint8_t *scratch = g_malloc(scratch_size);
    Check c = {
        .max = MAX(len, scratch_size), .tso = (h.gso_type & 0x7f) != 0, .csum_start = h.csum_start};

    net_vnet_hdr_complete(&h, frame, len, scratch, scratch_size, on_frame, &c);
    net_frame_csum_ok(frame, len);
    g_free(frame);
    g_free(scratch);
    return 0;
}
