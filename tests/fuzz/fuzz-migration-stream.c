/*
 * Arbitrary bytes into the destination's stream loader (migration/stream.c). The first byte
 * chooses how much of a valid frame the harness adds around the fuzzer's bytes, so that the
 * records behind the header and the device/end path are reached as well as the header checks:
 *   bit 0: a valid header in front          bit 1: device state, END and a correct CRC behind
 * Checks: a load either fails with a message and applies no device state, or succeeds and
 * applies it exactly once; RAM outside the guest's block is never written (ASan).
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migration/stream.h"
#include "tests/include/stream-bytes.h"

#define PAGES   16
#define MACHINE "pc-i440fx-7.2"

static int device_calls;

static bool count_devices(void *opaque, const guint8 *buf, gsize len, GError **errp)
{
    if (len > MIG_STREAM_DEVICES_MAX) {
        abort();
    }
    device_calls++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static GuestRam *ram;
    if (!ram) {
        ram = guest_ram_new(PAGES * GUEST_PAGE_SIZE, 0, NULL);
    }
    if (size < 1) {
        return 0;
    }
    guint8 mode = data[0];
    GByteArray *b = g_byte_array_new();
    if (mode & 1) {
        g_byte_array_append(b, (const guint8 *)MIG_STREAM_MAGIC, MIG_STREAM_MAGIC_LEN);
        put_be32(b, MIG_STREAM_VERSION);
        guint8 n = strlen(MACHINE);
        g_byte_array_append(b, &n, 1);
        g_byte_array_append(b, (const guint8 *)MACHINE, n);
        put_be64(b, PAGES * GUEST_PAGE_SIZE);
        put_be32(b, GUEST_PAGE_SIZE);
    }
    g_byte_array_append(b, data + 1, size - 1);
    if (mode & 2) {
        guint8 tag = MIG_REC_DEVICES;
        g_byte_array_append(b, &tag, 1);
        put_be32(b, 0);
        tag = MIG_REC_END;
        g_byte_array_append(b, &tag, 1);
        put_be32(b, crc32(crc32(0, NULL, 0), b->data, b->len));
    }
    device_calls = 0;
    MigLoadTarget t = {.ram = ram, .machine_type = MACHINE, .load_devices = count_devices};
    MigChannel *c = mig_channel_new_buffer(b->data, b->len);
    GError *err = NULL;
    bool ok = mig_stream_load(c, &t, NULL, &err);
    if (ok ? (err || device_calls != 1) : (!err || !err->message[0] || device_calls != 0)) {
        abort();
    }
    g_clear_error(&err);
    mig_channel_free(c);
    g_byte_array_unref(b);
    return 0;
}
