/* Packet queues with back-pressure; see include/net/queue.h for the rules. */
#include "net/queue.h"
#include <string.h>

typedef struct NetPacket {
    NetClientState *sender;
    unsigned flags;
    NetPacketSent *sent_cb;
    size_t size;
    uint8_t data[];
} NetPacket;

struct NetQueue {
    NetQueueDeliverFunc *deliver;
    void *opaque;
    GQueue packets; /* of NetPacket*, oldest first */
    unsigned maxlen;
    bool delivering; /* re-entrancy guard: a deliver() that sends back into this queue */
    NetQueueStats stats;
};

NetQueue *qemu_new_net_queue(NetQueueDeliverFunc *deliver, void *opaque)
{
    NetQueue *queue = g_new0(NetQueue, 1);

    queue->deliver = deliver;
    queue->opaque = opaque;
    queue->maxlen = NET_QUEUE_DEFAULT_MAXLEN;
    g_queue_init(&queue->packets);
    return queue;
}

void qemu_del_net_queue(NetQueue *queue)
{
    if (!queue) {
        return;
    }
    qemu_net_queue_purge(queue, NULL);
    g_free(queue);
}

static void queue_append(NetQueue *queue, NetClientState *sender, unsigned flags,
                         const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    size_t size = iov_size(iov, iovcnt);
    NetPacket *packet = g_malloc(sizeof(*packet) + size);

    packet->sender = sender;
    packet->flags = flags;
    packet->sent_cb = sent_cb;
    packet->size = size;
    iov_to_buf(iov, iovcnt, 0, packet->data, size);
    g_queue_push_tail(&queue->packets, packet);
    queue->stats.queued++;
}

static ssize_t queue_deliver(NetQueue *queue, NetClientState *sender, unsigned flags,
                             const struct iovec *iov, int iovcnt)
{
    ssize_t ret;

    queue->delivering = true;
    ret = queue->deliver(sender, flags, iov, iovcnt, queue->opaque);
    queue->delivering = false;
    if (ret > 0 || (ret == 0 && iov_size(iov, iovcnt) == 0)) {
        queue->stats.delivered++;
    } else if (ret < 0) {
        queue->stats.dropped++;
    }
    return ret;
}

ssize_t qemu_net_queue_send_iov(NetQueue *queue, NetClientState *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt, bool can_deliver,
                                NetPacketSent *sent_cb)
{
    size_t size = iov_size(iov, iovcnt);
    ssize_t ret;

    /* Order is kept: while anything waits, new packets wait behind it. */
    if (queue->delivering || !can_deliver || !g_queue_is_empty(&queue->packets)) {
        if (!sent_cb && g_queue_get_length(&queue->packets) >= queue->maxlen) {
            queue->stats.dropped++;
            return size;
        }
        queue_append(queue, sender, flags, iov, iovcnt, sent_cb);
        return 0;
    }

    ret = queue_deliver(queue, sender, flags, iov, iovcnt);
    if (ret == 0 && size > 0) {
        queue_append(queue, sender, flags, iov, iovcnt, sent_cb);
        return 0;
    }
    return ret;
}

ssize_t qemu_net_queue_send(NetQueue *queue, NetClientState *sender, unsigned flags,
                            const uint8_t *data, size_t size, bool can_deliver,
                            NetPacketSent *sent_cb)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = size};

    return qemu_net_queue_send_iov(queue, sender, flags, &iov, 1, can_deliver, sent_cb);
}

bool qemu_net_queue_flush(NetQueue *queue)
{
    if (queue->delivering) {
        return false;
    }
    while (!g_queue_is_empty(&queue->packets)) {
        NetPacket *packet = g_queue_pop_head(&queue->packets);
        struct iovec iov = {.iov_base = packet->data, .iov_len = packet->size};
        ssize_t ret = queue_deliver(queue, packet->sender, packet->flags, &iov, 1);

        if (ret == 0 && packet->size > 0) {
            g_queue_push_head(&queue->packets, packet);
            return false;
        }
        if (packet->sent_cb) {
            packet->sent_cb(packet->sender, ret);
        }
        g_free(packet);
    }
    return true;
}

void qemu_net_queue_purge(NetQueue *queue, NetClientState *from)
{
    GList *l = queue->packets.head;

    while (l) {
        GList *next = l->next;
        NetPacket *packet = l->data;

        if (!from || packet->sender == from) {
            g_queue_delete_link(&queue->packets, l);
            queue->stats.dropped++;
            g_free(packet);
        }
        l = next;
    }
}

void qemu_net_queue_foreach(NetQueue *queue, NetQueueVisitFunc *fn, void *opaque)
{
    for (GList *l = queue->packets.head; l; l = l->next) {
        NetPacket *packet = l->data;

        fn(packet->sender, packet->data, packet->size, opaque);
    }
}

unsigned qemu_net_queue_len(NetQueue *queue)
{
    return g_queue_get_length(&queue->packets);
}

void qemu_net_queue_set_maxlen(NetQueue *queue, unsigned maxlen)
{
    queue->maxlen = maxlen;
}

const NetQueueStats *qemu_net_queue_stats(NetQueue *queue)
{
    return &queue->stats;
}
