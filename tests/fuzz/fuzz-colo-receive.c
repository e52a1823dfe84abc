/*
 * Arbitrary bytes into the secondary's checkpoint receiver (migration/colo-receive.c), on a
 * 16-page RAM cache. The first byte chooses how much of a valid checkpoint the harness puts
 * around the fuzzer's bytes, so that the page records, the END checksum and the device state
 * are all reached:
 *   bit 0: vmstate-send in front
 *   bit 1: END with a correct CRC, vmstate-size, the run state header (running), a short
 *          device state and its CRC behind
 * Checks: a failure says why; only pages marked received changed in the cache, and no bit
 * past the cache's pages is set; the device state read is what its length said (ASan checks
 * every access to the cache and the buffer).
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migration/colo.h"
#include "migration/stream.h"
#include "qapi-types.h"
#include "tests/include/stream-bytes.h"

#define PAGES   16
#define PATTERN 0xa5

static void put_crc(GByteArray *b)
{
    put_be32(b, crc32(crc32(0, NULL, 0), b->data, b->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static guint8 *mem;
    if (!mem) {
        mem = g_malloc(PAGES * GUEST_PAGE_SIZE);
    }
    if (size < 1) {
        return 0;
    }
    guint8 mode = data[0];
    GByteArray *b = g_byte_array_new();
    if (mode & 1) {
        put_be32(b, COLO_MSG_VMSTATE_SEND);
    }
    g_byte_array_append(b, data + 1, size - 1);
    if (mode & 2) {
        guint8 tag = MIG_REC_END;
        g_byte_array_append(b, &tag, 1);
        put_crc(b);
        put_be32(b, COLO_MSG_VMSTATE_SIZE);
        put_be64(b, COLO_STATE_HEADER + 3);
        put_be32(b, RUN_STATE_RUNNING);
        g_byte_array_append(b, (const guint8 *)"dev", 3);
        put_crc(b);
    }

    memset(mem, PATTERN, PAGES * GUEST_PAGE_SIZE);
    uint64_t received = 0;
    ColoReceiver rx = {.mem = mem, .npages = PAGES, .received = &received};
    MigChannel *c = mig_channel_new_buffer(b->data, b->len);
    GError *err = NULL;
    bool ok = colo_receive_checkpoint(c, &rx, &err);
    if (ok ? err != NULL : (!err || !err->message[0])) {
        abort();
    }
    if (received >> PAGES) {
        abort();
    }
    for (uint64_t pi = 0; pi < PAGES; pi++) {
        if (received & (1ull << pi)) {
            continue;
        }
        const guint8 *page = mem + pi * GUEST_PAGE_SIZE;
        for (gsize i = 0; i < GUEST_PAGE_SIZE; i++) {
            if (page[i] != PATTERN) {
                abort();
            }
        }
    }
    if (ok && (!rx.devices || rx.devices_len > MIG_STREAM_DEVICES_MAX)) {
        abort();
    }
    if (ok && (mode & 3) == 3 && rx.devices_len == 3 &&
        (memcmp(rx.devices, "dev", 3) != 0 || rx.state != RUN_STATE_RUNNING)) {
        abort();
    }
    g_clear_error(&err);
    g_free(rx.devices);
    mig_channel_free(c);
    g_byte_array_unref(b);
    return 0;
}
