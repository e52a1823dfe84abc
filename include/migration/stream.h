/*
 * The migration stream: qemu-colo's own format (not upstream's: the two cannot migrate to each
 * other), versioned, checked end to end.
 *
 *   source (migration thread)                         destination (incoming thread)
 *   ─────────────────────────                         ────────────────────────────
 *   HEADER  "QCOLOMIG" be32 version                ─► magic, version, machine type and
 *           u8 n + n bytes machine type                RAM size must match this VM's
 *           be64 RAM bytes, be32 page size
 *   [COLO   0x05]  capability x-colo: after END    ─► the destination must have x-colo too;
 *                  the COLO messages follow            it enters COLO instead of completing
 *                  (include/migration/colo.h)
 *   [MULTIFD 0x06 be32 n]  capability multifd      ─► the destination must have multifd too;
 *                  pages travel on n more channels     it accepts them
 *                  (include/migration/multifd.h)
 *   [SYNC 0x07 be32 seq]   before DEVICES          ─► waits for every multifd channel's pages
 *   pass 1: every page                             ─► pages written into guest RAM
 *           PAGE  0x01 be64 index + 4096 bytes         (the VM is not running: inmigrate)
 *           ZERO  0x02 be64 first + be32 count         a run of all-zero pages
 *           PASS  0x03 be32 pass                       end of one dirty-sync round
 *   pass 2..n: pages dirtied since the last sync   ─►
 *   ── vCPU stopped (finish-migrate) ──
 *   last pass: what is still dirty                 ─►
 *   DEVICES 0x04 be32 length + the device set      ─► held, not applied yet
 *   END     0xff be32 CRC-32 of every byte before  ─► checksum compared; only then are the
 *                                                      devices loaded (all or nothing) and
 *                                                      the VM may run
 *
 * Receiver states (mig_stream_load):
 *
 *   HEADER ──ok──► [COLO] ──► RAM ◄──PAGE/ZERO/PASS──┐
 *      │                       │ └──────────────────┘
 *      │                       DEVICES ──► END ──crc ok──► COMMIT (load_devices) ──► DONE
 *      └──any bad magic/version/machine/size, unknown or misplaced record,
 *         page beyond RAM, oversized length, truncation, crc ──► FAILED
 *
 * FAILED leaves RAM partly written and devices untouched: the caller must never run that VM
 * (upstream exits; so does ours). Every length read from the wire is bounded before use.
 */
#ifndef MIGRATION_STREAM_H
#define MIGRATION_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/ram.h"
#include "migration/channel.h"

#define MIG_STREAM_MAGIC       "QCOLOMIG"
#define MIG_STREAM_MAGIC_LEN   8
#define MIG_STREAM_VERSION     1
#define MIG_STREAM_MACHINE_MAX 64
/* The largest device state the receiver accepts (a bound, not an expectation). */
#define MIG_STREAM_DEVICES_MAX (64u << 20)

enum {
    MIG_REC_PAGE = 0x01,
    MIG_REC_ZERO = 0x02,
    MIG_REC_PASS = 0x03,
    MIG_REC_DEVICES = 0x04,
    MIG_REC_COLO = 0x05,
    MIG_REC_MULTIFD = 0x06, /* include/migration/multifd.h */
    MIG_REC_SYNC = 0x07,
    MIG_REC_END = 0xff,
};

/* ---- sending ---- */

void mig_stream_put_header(MigChannel *c, const char *machine_type, uint64_t ram_size);
void mig_stream_put_page(MigChannel *c, uint64_t index, const void *data);
void mig_stream_put_zero_run(MigChannel *c, uint64_t first, uint32_t count);
/* Right after the header: COLO follows this stream (capability x-colo). */
void mig_stream_put_colo(MigChannel *c);
void mig_stream_put_pass(MigChannel *c, uint32_t pass);
/* Right after the header (and COLO): pages follow on n multifd channels. */
void mig_stream_put_multifd(MigChannel *c, uint32_t n);
void mig_stream_put_sync(MigChannel *c, uint32_t seq);
void mig_stream_put_devices(MigChannel *c, const guint8 *buf, gsize len);
/* The end marker and the checksum of everything before it; then flush. */
bool mig_stream_put_end(MigChannel *c, GError **errp);

bool mig_page_is_zero(const void *page);

/* Reads a be32 CRC-32 and compares it with the one of every byte got before it; a mismatch is
 * "WHAT checksum mismatch (stream 0x..., computed 0x...)". */
bool mig_stream_check_crc(MigChannel *c, const char *what, GError **errp);

/* ---- receiving ---- */

typedef struct MigLoadTarget {
    GuestRam *ram; /* NULL: a machine without RAM (-M none), whose stream has no pages */
    const char *machine_type;
    /* A COLO record (right after the header): false refuses the stream; NULL refuses it. */
    bool (*enable_colo)(void *opaque, GError **errp);
    /* A MULTIFD record: accept n channels; NULL refuses the stream. */
    bool (*open_multifd)(void *opaque, uint32_t n, GError **errp);
    /* A SYNC record: wait for every multifd channel to reach it. */
    bool (*sync_multifd)(void *opaque, uint32_t seq, GError **errp);
    /* Called once, after the checksum matched; NULL: the device state is only checked. */
    bool (*load_devices)(void *opaque, const guint8 *buf, gsize len, GError **errp);
    void *opaque;
} MigLoadTarget;

typedef struct MigLoadStats {
    uint64_t pages;      /* PAGE records */
    uint64_t zero_pages; /* pages of ZERO runs */
    uint32_t passes;
    uint64_t device_bytes;
    bool colo; /* the stream asked for COLO, and enable_colo agreed */
} MigLoadStats;

/* Reads a whole stream from c into t; false with a message fit for "load of migration failed:
 * ...". stats (may be NULL) counts what was read even on failure. */
bool mig_stream_load(MigChannel *c, const MigLoadTarget *t, MigLoadStats *stats, GError **errp);

#endif
