/*
 * The colo-compare engine: packets from the primary and the secondary in, released primary
 * packets, dropped packets and checkpoint requests out. No threads, sockets or clocks of its own:
 * the colo-compare object (net/colo-compare.c) feeds it from its iothread and passes the time in,
 * so unit tests drive it with crafted frames and an injected clock.
 *
 *   primary_in  --parse--+-- unsupported / malformed --------------------------> release
 *                        +-- passthrough rule --------------------------------> release
 *                        +-- queue[conn].primary --+
 *                                                  +-- compare(conn) --> release primary,
 *   secondary_in --parse-+-- unsupported / passthrough -> drop                drop secondary,
 *                        +-- queue[conn].secondary-+                          or checkpoint request
 *
 *   scan(now): a packet older than compare_timeout -> checkpoint request
 *   flush():   checkpoint done -> release every queued primary packet, drop every secondary one
 *
 * Connections are keyed by the 5-tuple as the guest sent the packet (both inputs carry guest
 * output). TCP is compared on payload in sequence space; UDP and ICMP from the L4 header on; other
 * IPv4 protocols on the whole frame. Queues are FIFO (TCP: sorted by sequence number).
 */
#ifndef NET_COLO_COMPARE_ENGINE_H
#define NET_COLO_COMPARE_ENGINE_H

#include <glib.h>
#include "net/colo.h"
#include "net/colo-passthrough.h"

G_BEGIN_DECLS

#define COLO_COMPARE_DEFAULT_TIMEOUT_MS 3000
#define COLO_COMPARE_DEFAULT_SCAN_MS    1000
#define COLO_COMPARE_DEFAULT_MAX_QUEUE  1024
/* HASHTABLE_MAX_SIZE upstream. */
#define COLO_COMPARE_DEFAULT_MAX_CONNS 16384

typedef enum {
    COLO_SIDE_PRIMARY,
    COLO_SIDE_SECONDARY,
    COLO_SIDE__MAX,
} ColoSide;

/* Why a packet did not reach outdev (or, for the secondary, was not consumed by a match). */
typedef enum {
    COLO_DROP_EMPTY,       /* zero-length frame */
    COLO_DROP_UNSUPPORTED, /* secondary: not untagged IPv4 (as upstream) */
    COLO_DROP_MALFORMED,   /* secondary: IPv4 headers do not fit */
    COLO_DROP_PASSTHROUGH, /* secondary: matched a passthrough rule */
    COLO_DROP_QUEUE_FULL,  /* either side: the connection's queue held max_queue_size */
    COLO_DROP_TABLE_FULL,  /* secondary: no room for a new connection */
    COLO_DROP_FLUSHED,     /* secondary: discarded by a checkpoint flush */
    COLO_DROP__MAX,
} ColoDropReason;

/* Why a primary packet was released. */
typedef enum {
    COLO_RELEASE_COMPARED,    /* matched the secondary (or carries no payload / was matched) */
    COLO_RELEASE_UNSUPPORTED, /* not untagged IPv4 */
    COLO_RELEASE_MALFORMED,
    COLO_RELEASE_PASSTHROUGH,
    COLO_RELEASE_TABLE_FULL,
    COLO_RELEASE_FLUSHED, /* checkpoint flush */
    COLO_RELEASE__MAX,
} ColoReleaseReason;

typedef enum {
    COLO_CHECKPOINT_MISMATCH,
    COLO_CHECKPOINT_TIMEOUT,
    COLO_CHECKPOINT_QUEUE_FULL,
    COLO_CHECKPOINT_TABLE_FULL,
    COLO_CHECKPOINT__MAX,
} ColoCheckpointReason;

typedef enum {
    COLO_PROTO_CLASS_TCP,
    COLO_PROTO_CLASS_UDP,
    COLO_PROTO_CLASS_ICMP,
    COLO_PROTO_CLASS_OTHER,
    COLO_PROTO_CLASS__MAX,
} ColoProtoClass;

typedef struct ColoCompareStats {
    guint64 in_packets[COLO_SIDE__MAX];
    guint64 in_bytes[COLO_SIDE__MAX];
    guint64 out_packets; /* released primary packets */
    guint64 out_bytes;
    guint64 released[COLO_RELEASE__MAX];
    guint64 dropped[COLO_SIDE__MAX][COLO_DROP__MAX];
    guint64 compared[COLO_PROTO_CLASS__MAX]; /* primary packets found equal */
    guint64 mismatches[COLO_PROTO_CLASS__MAX];
    guint64 checkpoint_requests[COLO_CHECKPOINT__MAX];
    guint64 flushes;
    guint64 passthrough_hits;
    guint64 connections_created;
    guint64 connections_evicted;
} ColoCompareStats;

typedef struct ColoCompareConfig {
    guint32 compare_timeout_ms;
    guint32 max_queue_size; /* per connection and side */
    guint32 max_connections;
} ColoCompareConfig;

typedef struct ColoCompareOps {
    /* A primary packet leaves for outdev, in this order. @data is valid during the call only. */
    void (*release)(void *opaque, const guint8 *data, guint32 len, guint32 vnet_hdr_len);
    /* A checkpoint is wanted. @key is the connection concerned, NULL if none. */
    void (*checkpoint)(void *opaque, ColoCheckpointReason reason, ColoProtoClass cls,
                       const ColoConnKey *key);
} ColoCompareOps;

typedef struct ColoCompareEngine ColoCompareEngine;

/* Zero fields of @cfg take the defaults. @pt (may be NULL) must outlive the engine. */
ColoCompareEngine *colo_compare_engine_new(const ColoCompareConfig *cfg, const ColoCompareOps *ops,
                                           void *opaque, ColoPassthrough *pt);
/* Frees everything still queued without releasing it (flush first to release). */
void colo_compare_engine_free(ColoCompareEngine *e);
void colo_compare_engine_set_config(ColoCompareEngine *e, const ColoCompareConfig *cfg);

/* One frame from primary_in or secondary_in, received at @now_ms. */
void colo_compare_engine_input(ColoCompareEngine *e, ColoSide side, const guint8 *data, guint32 len,
                               guint32 vnet_hdr_len, gint64 now_ms);
/*
 * The periodic old-packet check: the first connection holding a packet older than
 * compare_timeout requests one checkpoint. Returns TRUE if it did.
 */
gboolean colo_compare_engine_scan(ColoCompareEngine *e, gint64 now_ms);
/* Checkpoint: release every queued primary packet (connection by connection, in order), drop
 * every queued secondary packet. */
void colo_compare_engine_flush(ColoCompareEngine *e);

const ColoCompareStats *colo_compare_engine_stats(ColoCompareEngine *e);
guint colo_compare_engine_connections(ColoCompareEngine *e);
guint colo_compare_engine_queued(ColoCompareEngine *e, ColoSide side);

const char *colo_drop_reason_str(ColoDropReason r);
const char *colo_release_reason_str(ColoReleaseReason r);
const char *colo_checkpoint_reason_str(ColoCheckpointReason r);
const char *colo_proto_class_str(ColoProtoClass c);
ColoProtoClass colo_proto_class(guint8 ip_proto);

G_END_DECLS

#endif
