/*
 * Packet queues: where a packet waits while its receiver cannot take it.
 *
 * Every NetClientState owns one incoming queue. A sender hands a packet to the queue of its
 * peer; the queue either delivers it at once or keeps a copy:
 *
 *   send --> receiver ready? --yes--> deliver() --> returns 0? --yes--> keep (receiver full)
 *               | no                                 | no
 *               v                                    v
 *            keep (copy) <--- flush() later       done (bytes taken)
 *
 * A kept packet with a sent callback is reported back to its sender when flush() delivers it;
 * the sender stops producing until then (back-pressure). A packet without a callback is kept
 * up to a limit and counted as dropped beyond it; no packet disappears without a count.
 */
#ifndef NET_QUEUE_H
#define NET_QUEUE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/iov.h"

typedef struct NetClientState NetClientState;
typedef struct NetQueue NetQueue;

/* Tells a sender that a kept packet went out (or was dropped: @ret < 0). */
typedef void NetPacketSent(NetClientState *sender, ssize_t ret);

/*
 * Delivers one packet to the queue's owner. Returns bytes taken, 0 if the receiver is full
 * (the packet stays queued), or < 0 if it was refused (counted, not retried).
 */
typedef ssize_t NetQueueDeliverFunc(NetClientState *sender, unsigned flags, const struct iovec *iov,
                                    int iovcnt, void *opaque);

#define QEMU_NET_PACKET_FLAG_NONE 0
#define QEMU_NET_PACKET_FLAG_RAW  (1 << 0)

/* Packets without a sent callback kept at most; upstream uses the same figure. */
#define NET_QUEUE_DEFAULT_MAXLEN 10000

typedef struct NetQueueStats {
    uint64_t queued;    /* packets kept at least once */
    uint64_t delivered; /* packets handed to the receiver */
    uint64_t dropped;   /* over the limit, refused, or purged */
} NetQueueStats;

NetQueue *qemu_new_net_queue(NetQueueDeliverFunc *deliver, void *opaque);
/* Frees the queue; kept packets are purged (their senders told, each counted as dropped). */
void qemu_del_net_queue(NetQueue *queue);

/*
 * Offers a packet. @can_deliver is the receiver's readiness now. Returns bytes taken, or 0 if
 * the packet was kept (its callback runs later), or the size if it was dropped over the limit.
 */
ssize_t qemu_net_queue_send_iov(NetQueue *queue, NetClientState *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt, bool can_deliver,
                                NetPacketSent *sent_cb);
ssize_t qemu_net_queue_send(NetQueue *queue, NetClientState *sender, unsigned flags,
                            const uint8_t *data, size_t size, bool can_deliver,
                            NetPacketSent *sent_cb);

/* Delivers kept packets in order until the receiver is full. True if the queue is empty. */
bool qemu_net_queue_flush(NetQueue *queue);
/* Drops the packets that @from sent (it is going away); NULL drops all. Callbacks are not run. */
void qemu_net_queue_purge(NetQueue *queue, NetClientState *from);

/* Calls @fn on every kept packet, oldest first; @fn may change the bytes, not the size. */
typedef void NetQueueVisitFunc(NetClientState *sender, uint8_t *data, size_t size, void *opaque);
void qemu_net_queue_foreach(NetQueue *queue, NetQueueVisitFunc *fn, void *opaque);

unsigned qemu_net_queue_len(NetQueue *queue);
void qemu_net_queue_set_maxlen(NetQueue *queue, unsigned maxlen);
const NetQueueStats *qemu_net_queue_stats(NetQueue *queue);

#endif
