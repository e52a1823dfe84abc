/*
 * A buffered byte channel for the migration stream, over a file descriptor (a socket or the
 * pipe of an exec: command) or, for reading, over a buffer in memory (tests, fuzzing).
 *
 * The writer gathers small puts into one buffer and writes it out when full or on flush; the
 * reader fills its buffer with whatever the fd has and hands out exactly what is asked. Both
 * keep a running CRC-32 of every byte that crossed, which the stream's end marker checks.
 *
 * Errors are sticky: after the first failure (EOF, write error, cancel) every put is dropped and
 * every get and flush fails with that first error, so a sender can write a whole section and
 * look once. mig_channel_cancel() may be called from any thread: it wakes a reader or writer
 * that waits in poll() and makes it fail with "Migration cancelled" (wording of our own; the
 * status a user sees is "cancelled").
 *
 * A rate limit (bytes per second, 0 = none) for max-bandwidth: a writer that runs ahead of it
 * sleeps (waking for a cancel) before its next write.
 */
#ifndef MIGRATION_CHANNEL_H
#define MIGRATION_CHANNEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigChannel MigChannel;

/* Takes ownership of fd (made non-blocking). what names it in errors: "socket", "command". */
MigChannel *mig_channel_new_fd(int fd, bool writer, const char *what);
/* A reader over len bytes at buf (not copied: buf must outlive the channel). */
MigChannel *mig_channel_new_buffer(const guint8 *buf, gsize len);
void mig_channel_free(MigChannel *c);

void mig_channel_set_rate_limit(MigChannel *c, uint64_t bytes_per_second);
/* Thread-safe: wakes and fails any pending or later I/O, on c and on its followers. */
void mig_channel_cancel(MigChannel *c);
/* From now on a cancel of leader cancels follower too (multifd's channels follow the main
 * one, so that whoever cancels the main channel stops them all); freeing either unlinks. */
void mig_channel_follow(MigChannel *leader, MigChannel *follower);
bool mig_channel_cancelled(MigChannel *c);

void mig_channel_put(MigChannel *c, const void *buf, gsize len);
void mig_channel_put_u8(MigChannel *c, uint8_t v);
void mig_channel_put_be16(MigChannel *c, uint16_t v);
void mig_channel_put_be32(MigChannel *c, uint32_t v);
void mig_channel_put_be64(MigChannel *c, uint64_t v);
/* Writes out what is buffered; false (errp set) if the channel failed at any point. */
bool mig_channel_flush(MigChannel *c, GError **errp);

/* Exactly len bytes, or false: a short stream is "truncated", not a partial read. */
bool mig_channel_get(MigChannel *c, void *buf, gsize len, GError **errp);
bool mig_channel_get_u8(MigChannel *c, uint8_t *v, GError **errp);
bool mig_channel_get_be16(MigChannel *c, uint16_t *v, GError **errp);
bool mig_channel_get_be32(MigChannel *c, uint32_t *v, GError **errp);
bool mig_channel_get_be64(MigChannel *c, uint64_t *v, GError **errp);

/* The fd under the channel (-1 for a memory reader): COLO opens its return path on a dup. */
int mig_channel_fd(const MigChannel *c);

/* Bytes put (writer, including buffered ones) or got (reader) so far. */
uint64_t mig_channel_bytes(const MigChannel *c);
/* CRC-32 (zlib's) of every byte put or got so far. */
uint32_t mig_channel_crc(const MigChannel *c);
/* The first error, or NULL while the channel is sound. */
const GError *mig_channel_error(const MigChannel *c);

#endif
