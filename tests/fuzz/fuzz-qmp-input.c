/*
 * Feeds arbitrary bytes to a negotiated QMP session in pieces whose sizes come from the input,
 * so that split tokens and merged messages are exercised. Only commands without side effects
 * on the process (not quit) are reachable: names are whatever the input spells.
 */
#include "monitor/monitor.h"
#include "system/runstate.h"

#include <stdint.h>
#include <string.h>

static void sink(void *opaque, const char *buf, size_t len)
{
    size_t *total = opaque;
    *total += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gboolean init;
    if (!init) {
        monitor_init_globals();
        init = TRUE;
    }
    size_t total = 0;
    Monitor *mon = monitor_new_qmp_custom(sink, &total, FALSE);
    monitor_open(mon);
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";
    monitor_feed(mon, caps, strlen(caps));
    size_t pos = 0;
    while (pos < size) {
        /* The first byte of each piece chooses its length (1..64). */
        size_t n = (data[pos] & 63) + 1;
        pos++;
        if (n > size - pos) {
            n = size - pos;
        }
        monitor_feed(mon, (const char *)data + pos, n);
        pos += n;
    }
    monitor_close(mon);
    monitor_free(mon);
    return 0;
}
