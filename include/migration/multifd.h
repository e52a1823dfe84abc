/*
 * Multifd: capability multifd sends RAM pages over multifd-channels extra connections to the
 * same URI, beside the main one, which keeps the control records, the device state and COLO's
 * messages. Our own format, on the records of include/migration/stream.h.
 *
 *   main channel                                 extra channel i (0 <= i < n)
 *   ────────────                                 ───────────────────────────
 *   HEADER [COLO] MULTIFD 0x06 be32 n      ──►   destination accepts n more connections
 *                                                "QCOLOMFD" be32 i, be32 n     (its header)
 *   PASS ...                                     PAGE / ZERO records of the pages whose
 *                                                64-page block b has b % n == i
 *   SYNC 0x07 be32 seq                     ◄──   SYNC 0x07 be32 seq, be32 CRC-32 of the channel
 *   DEVICES, END / COLO's vmstate-size ...
 *
 * A page always travels on the channel of its block, so a page sent twice (two passes) lands
 * in order. At a SYNC on the main channel the receiver waits until every extra channel has read
 * its SYNC of the same number, checksum checked: everything sent before it is in place. The
 * sender puts one before the device state of a precopy and before the END of every COLO
 * checkpoint, so the secondary still has every page in its cache before vmstate-received, and
 * a checkpoint torn on any channel never applies.
 *
 * The extra channels follow the main one (mig_channel_follow): a cancel of the main channel (a
 * failover, migrate_cancel, exit) stops them too; each is on the migration's yank instance.
 */
#ifndef MIGRATION_MULTIFD_H
#define MIGRATION_MULTIFD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/ram.h"
#include "migration/channel.h"

#define MULTIFD_MAGIC        "QCOLOMFD"
#define MULTIFD_MAGIC_LEN    8
#define MULTIFD_CHANNELS_MAX 255
/* One channel carries a whole block of 2^6 pages (one word of a dirty bitmap). */
#define MULTIFD_BLOCK_BITS 6

/* The channel that carries page index among n. */
guint multifd_channel_of(uint64_t index, guint n);

/* ---- sending ---- */

typedef struct MultifdSend MultifdSend;

/* Takes the n channels (connected writers), makes them follow main and puts their headers. */
MultifdSend *multifd_send_new(MigChannel *main, MigChannel **chans, guint n);
void multifd_send_free(MultifdSend *m);
/* With m NULL (no multifd) these put the record on main instead. */
void multifd_put_page(MultifdSend *m, MigChannel *main, uint64_t index, const void *data);
void multifd_put_zero_run(MultifdSend *m, MigChannel *main, uint64_t first, uint32_t count);
/* SYNC on every extra channel (flushed), then on main; nothing with m NULL. */
void multifd_send_sync(MultifdSend *m, MigChannel *main);
/* max-bandwidth, shared out among the channels. */
void multifd_send_set_rate_limit(MultifdSend *m, uint64_t bytes_per_second);
/* Bytes put on the extra channels (0 with m NULL). */
uint64_t multifd_send_bytes(const MultifdSend *m);
/* The first error of any extra channel, or NULL. */
const GError *multifd_send_error(const MultifdSend *m);

/* ---- receiving ---- */

/* Where received pages go: guest RAM (precopy; ram set) or the COLO cache (received set). */
typedef struct MultifdTarget {
    guint8 *mem;
    uint64_t npages;
    GuestRam *ram;      /* non-NULL: mem is its RAM, stores are noted */
    uint64_t *received; /* non-NULL: a bit set per page received */
} MultifdTarget;

typedef struct MultifdRecv MultifdRecv;

/* Takes the n channels (readers, in any order), checks their headers, and reads each on a
 * thread of its own. main: its cancel stops them. NULL with errp set on a bad header. */
MultifdRecv *multifd_recv_new(MigChannel *main, MigChannel **chans, guint n, const MultifdTarget *t,
                              GError **errp);
/* Only while no pages can be in flight (between a SYNC and the sender's next page). */
void multifd_recv_set_target(MultifdRecv *m, const MultifdTarget *t);
/* Waits until every channel has read SYNC seq; false on any channel's error or when main
 * is cancelled. */
bool multifd_recv_sync(MultifdRecv *m, uint32_t seq, GError **errp);
/* Pages read on the extra channels so far. */
uint64_t multifd_recv_pages(MultifdRecv *m);
/* Cancels the channels, joins the threads, frees them. */
void multifd_recv_free(MultifdRecv *m);

#endif
