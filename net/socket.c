/*
 * -netdev socket: packets over a TCP stream (listen=, connect=, or a stream fd=) framed as a
 * be32 length and the payload, or over UDP datagrams (udp= with localaddr=, mcast=, or a
 * datagram fd=), one packet per datagram.
 *
 * Stream life:
 *
 *   listen= : LISTENING --accept--> CONNECTED --peer closes--> LISTENING
 *   connect=: CONNECTED --peer closes--> CLOSED (packets to it are counted as dropped)
 *
 * Back-pressure both ways: reading stops while the peer holds a packet of ours, and a partial
 * write keeps the rest here and refuses new packets until the socket drains.
 */
#include "net/backends.h"
#include "net/frame.h"
#include "util/error.h"
#include "util/sockets.h"
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct NetSocketState {
    NetClientState nc;
    int fd;        /* the connection or datagram socket, -1 if none */
    int listen_fd; /* listen= only */
    bool is_stream;
    guint read_tag;
    guint write_tag;
    guint listen_tag;
    bool read_paused; /* a packet of ours waits in the peer's queue */
    NetFrameReader reader;
    GByteArray *pending; /* bytes of a stream frame the socket did not take yet */
    GByteArray *batch;   /* frames gathered during a batch, written at its end */
    struct sockaddr_storage dgram_dst;
    socklen_t dgram_dst_len;
    uint8_t *rbuf;
} NetSocketState;

#define SOCKET_READ_SIZE NET_BUFSIZE

static void socket_update_read(NetSocketState *s);

/* "socket: connection from HOST:PORT" and its kin, from a socket address. */
static void format_info(NetSocketState *s, const char *what, const struct sockaddr_storage *ss,
                        socklen_t len)
{
    g_autofree char *host = NULL, *port = NULL;

    if (socket_sockaddr_host_port((const struct sockaddr *)ss, len, &host, &port)) {
        qemu_format_nic_info_str(&s->nc, "socket: %s%s:%s", what, host, port);
    }
}

/* ---- stream and datagram output ---- */

static gboolean socket_writable(int fd, GIOCondition cond, gpointer opaque)
{
    NetSocketState *s = opaque;

    while (s->pending->len) {
        ssize_t n = send(s->fd, s->pending->data, s->pending->len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return G_SOURCE_CONTINUE;
        }
        if (n <= 0) {
            /* The connection is gone; the read side sees it and cleans up. */
            s->nc.stats.rx_dropped++;
            g_byte_array_set_size(s->pending, 0);
            break;
        }
        g_byte_array_remove_range(s->pending, 0, n);
    }
    s->write_tag = 0;
    qemu_flush_queued_packets(&s->nc);
    return G_SOURCE_REMOVE;
}

/* End of a batch: one write for every frame gathered; what does not fit waits in pending. */
static void socket_flush_batch(void *opaque)
{
    NetSocketState *s = opaque;
    size_t off = 0;

    if (s->fd < 0) {
        g_byte_array_set_size(s->batch, 0);
        return;
    }
    while (off < s->batch->len && !s->pending->len) {
        ssize_t n = send(s->fd, s->batch->data + off, s->batch->len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n <= 0) {
            s->nc.stats.rx_dropped++;
            off = s->batch->len;
            break;
        }
        off += n;
    }
    if (off < s->batch->len) {
        g_byte_array_append(s->pending, s->batch->data + off, s->batch->len - off);
        if (!s->write_tag) {
            s->write_tag = g_unix_fd_add(s->fd, G_IO_OUT, socket_writable, s);
        }
    }
    g_byte_array_set_size(s->batch, 0);
}

static bool socket_can_receive(NetClientState *nc)
{
    NetSocketState *s = (NetSocketState *)nc;

    return s->pending->len == 0;
}

static ssize_t socket_receive_iov(NetClientState *nc, const struct iovec *iov, int iovcnt)
{
    NetSocketState *s = (NetSocketState *)nc;
    size_t size = iov_size(iov, iovcnt);
    uint32_t be_len = htonl(size);
    struct iovec out[1 + 64];
    int outcnt = 0;
    ssize_t n;

    if (s->fd < 0) {
        /* Not connected: upstream drops the packet too; we count it. */
        nc->stats.rx_dropped++;
        return size;
    }
    if (s->pending->len) {
        return 0;
    }
    if (s->is_stream && net_batch_active()) {
        guint old = s->batch->len;

        g_byte_array_set_size(s->batch, old + 4 + size);
        memcpy(s->batch->data + old, &be_len, 4);
        iov_to_buf(iov, iovcnt, 0, s->batch->data + old + 4, size);
        net_batch_defer(socket_flush_batch, s);
        return size;
    }
    if (s->is_stream) {
        out[outcnt++] = (struct iovec){.iov_base = &be_len, .iov_len = 4};
    }
    if (iovcnt > 64) {
        g_autofree uint8_t *flat = g_malloc(size);
        struct iovec one = {.iov_base = flat, .iov_len = size};

        iov_to_buf(iov, iovcnt, 0, flat, size);
        return socket_receive_iov(nc, &one, 1);
    }
    memcpy(&out[outcnt], iov, iovcnt * sizeof(*iov));
    outcnt += iovcnt;

    if (!s->is_stream) {
        struct msghdr msg = {
            .msg_name = s->dgram_dst_len ? &s->dgram_dst : NULL,
            .msg_namelen = s->dgram_dst_len,
            .msg_iov = out,
            .msg_iovlen = outcnt,
        };

        do {
            n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN) {
            return 0;
        }
        if (n < 0) {
            nc->stats.rx_dropped++;
        }
        return size;
    }

    do {
        struct msghdr msg = {.msg_iov = out, .msg_iovlen = outcnt};

        n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN) {
        nc->stats.rx_dropped++;
        return size;
    }
    if (n < 0) {
        n = 0;
    }
    if ((size_t)n < size + 4) {
        /* Keep the unsent tail; the frame must go out whole or the stream desynchronises. */
        size_t total = size + 4, off = 0;

        g_byte_array_set_size(s->pending, 0);
        for (int i = 0; i < outcnt; i++) {
            size_t len = out[i].iov_len;

            if (off + len > (size_t)n) {
                size_t skip = (size_t)n > off ? (size_t)n - off : 0;

                g_byte_array_append(s->pending, (const uint8_t *)out[i].iov_base + skip,
                                    len - skip);
            }
            off += len;
        }
        g_assert(s->pending->len == total - (size_t)n);
        if (!s->write_tag) {
            s->write_tag = g_unix_fd_add(s->fd, G_IO_OUT, socket_writable, s);
        }
    }
    return size;
}

/* ---- input ---- */

static void socket_sent(NetClientState *nc, ssize_t ret)
{
    NetSocketState *s = (NetSocketState *)nc;

    s->read_paused = false;
    socket_update_read(s);
}

static void socket_deliver_frame(void *opaque, const guint8 *data, guint32 len, guint32 vhdr)
{
    NetSocketState *s = opaque;

    if (qemu_send_packet_async(&s->nc, data, len, socket_sent) == 0) {
        s->read_paused = true;
    }
}

static void socket_disconnected(NetSocketState *s);

static gboolean socket_readable(int fd, GIOCondition cond, gpointer opaque)
{
    NetSocketState *s = opaque;
    ssize_t n;

    do {
        n = recv(s->fd, s->rbuf, SOCKET_READ_SIZE, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        return G_SOURCE_CONTINUE;
    }
    if (s->is_stream && n <= 0) {
        s->read_tag = 0;
        socket_disconnected(s);
        return G_SOURCE_REMOVE;
    }
    if (n < 0) {
        return G_SOURCE_CONTINUE;
    }
    net_batch_begin();
    if (s->is_stream) {
        net_frame_reader_feed(&s->reader, s->rbuf, n);
    } else {
        socket_deliver_frame(s, s->rbuf, n, 0);
    }
    net_batch_end();
    if (s->read_paused) {
        s->read_tag = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void socket_update_read(NetSocketState *s)
{
    bool want = s->fd >= 0 && !s->read_paused;

    if (want && !s->read_tag) {
        s->read_tag = g_unix_fd_add(s->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, socket_readable, s);
    } else if (!want && s->read_tag) {
        g_source_remove(s->read_tag);
        s->read_tag = 0;
    }
}

static void socket_close_conn(NetSocketState *s)
{
    if (s->read_tag) {
        g_source_remove(s->read_tag);
        s->read_tag = 0;
    }
    if (s->write_tag) {
        g_source_remove(s->write_tag);
        s->write_tag = 0;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->pending->len) {
        s->nc.stats.rx_dropped++;
        g_byte_array_set_size(s->pending, 0);
    }
    net_frame_reader_reset(&s->reader);
    s->read_paused = false;
}

static gboolean socket_accept_cb(int fd, GIOCondition cond, gpointer opaque);

static void socket_disconnected(NetSocketState *s)
{
    socket_close_conn(s);
    s->nc.info_str[0] = '\0';
    if (s->listen_fd >= 0 && !s->listen_tag) {
        s->listen_tag = g_unix_fd_add(s->listen_fd, G_IO_IN, socket_accept_cb, s);
    }
    /* Packets waiting for the old connection can now be counted and dropped. */
    qemu_flush_queued_packets(&s->nc);
}

static void socket_attach(NetSocketState *s, int fd)
{
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    s->fd = fd;
    socket_update_read(s);
    qemu_flush_queued_packets(&s->nc);
}

static gboolean socket_accept_cb(int fd, GIOCondition cond, gpointer opaque)
{
    NetSocketState *s = opaque;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int conn = socket_accept(fd, TRUE, &ss, &len);

    if (conn < 0) {
        return G_SOURCE_CONTINUE;
    }
    format_info(s, "connection from ", &ss, len);
    /* One connection at a time: stop listening until it goes. */
    s->listen_tag = 0;
    socket_attach(s, conn);
    return G_SOURCE_REMOVE;
}

/* ---- creation ---- */

static void socket_cleanup(NetClientState *nc)
{
    NetSocketState *s = (NetSocketState *)nc;

    socket_close_conn(s);
    if (s->listen_tag) {
        g_source_remove(s->listen_tag);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    net_batch_cancel(s);
    net_frame_reader_destroy(&s->reader);
    g_byte_array_free(s->pending, TRUE);
    g_byte_array_free(s->batch, TRUE);
    g_free(s->rbuf);
}

static const NetClientInfo net_socket_info = {
    .type = NET_CLIENT_DRIVER_SOCKET,
    .size = sizeof(NetSocketState),
    .receive_iov = socket_receive_iov,
    .can_receive = socket_can_receive,
    .cleanup = socket_cleanup,
};

static NetSocketState *socket_new(NetClientState *peer, const char *name, bool is_stream)
{
    NetSocketState *s;

    s = (NetSocketState *)qemu_new_net_client(&net_socket_info, peer, "socket", name);
    s->fd = -1;
    s->listen_fd = -1;
    s->is_stream = is_stream;
    s->pending = g_byte_array_new();
    s->batch = g_byte_array_new();
    s->rbuf = g_malloc(SOCKET_READ_SIZE);
    net_frame_reader_init(&s->reader, FALSE, socket_deliver_frame, s);
    return s;
}

static int socket_open_bound(const struct sockaddr_storage *ss, socklen_t len, int type,
                             const char *what, GError **errp)
{
    int fd = socket_open(ss->ss_family, type, FALSE);

    if (fd < 0) {
        error_setg_errno(errp, errno, "can't create %s socket", what);
        return -1;
    }
    if (socket_bind_reuse(fd, (const struct sockaddr *)ss, len) < 0) {
        int err = errno;
        g_autofree char *host = NULL, *port = NULL;

        socket_sockaddr_host_port((const struct sockaddr *)ss, len, &host, &port);
        error_setg_errno(errp, err, "can't bind ip=%s to socket", host ? host : "");
        close(fd);
        return -1;
    }
    return fd;
}

static bool socket_init_listen(NetClientState *peer, const char *name, const char *addr,
                               GError **errp)
{
    struct sockaddr_storage ss;
    socklen_t len;
    NetSocketState *s;
    int fd;

    if (!socket_parse_host_port(addr, &ss, &len, errp)) {
        return false;
    }
    fd = socket_open_bound(&ss, len, SOCK_STREAM, "stream", errp);
    if (fd < 0) {
        return false;
    }
    if (listen(fd, 0) < 0) {
        error_setg_errno(errp, errno, "can't listen on socket");
        close(fd);
        return false;
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    s = socket_new(peer, name, true);
    s->listen_fd = fd;
    s->listen_tag = g_unix_fd_add(fd, G_IO_IN, socket_accept_cb, s);
    return true;
}

static bool socket_init_connect(NetClientState *peer, const char *name, const char *addr,
                                GError **errp)
{
    struct sockaddr_storage ss;
    socklen_t len;
    NetSocketState *s;
    int fd;

    if (!socket_parse_host_port(addr, &ss, &len, errp)) {
        return false;
    }
    fd = socket_open(ss.ss_family, SOCK_STREAM, FALSE);
    if (fd < 0) {
        error_setg_errno(errp, errno, "can't create stream socket");
        return false;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        error_setg_errno(errp, errno, "can't connect socket");
        close(fd);
        return false;
    }
    s = socket_new(peer, name, true);
    format_info(s, "connect to ", &ss, len);
    socket_attach(s, fd);
    return true;
}

static bool socket_init_udp(NetClientState *peer, const char *name, const char *remote,
                            const char *local, GError **errp)
{
    struct sockaddr_storage dst, src;
    socklen_t dst_len, src_len;
    NetSocketState *s;
    int fd;

    if (!socket_parse_host_port(remote, &dst, &dst_len, errp) ||
        !socket_parse_host_port(local, &src, &src_len, errp)) {
        return false;
    }
    fd = socket_open_bound(&src, src_len, SOCK_DGRAM, "UDP", errp);
    if (fd < 0) {
        return false;
    }
    s = socket_new(peer, name, false);
    s->dgram_dst = dst;
    s->dgram_dst_len = dst_len;
    format_info(s, "udp=", &dst, dst_len);
    socket_attach(s, fd);
    return true;
}

static bool socket_init_fd(NetClientState *peer, const char *name, const char *fdstr, GError **errp)
{
    char *end;
    long fd = strtol(fdstr, &end, 10);
    int type;
    socklen_t optlen = sizeof(type);
    NetSocketState *s;

    if (end == fdstr || *end || fd < 0 || fd > G_MAXINT) {
        error_setg(errp, "%s: Can't use file descriptor '%s'", name, fdstr);
        return false;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) < 0) {
        error_setg(errp, "%s: Can't use file descriptor %ld: %s", name, fd, g_strerror(errno));
        return false;
    }
    if (type != SOCK_STREAM && type != SOCK_DGRAM) {
        error_setg(errp, "socket type=%d for fd=%ld must be either SOCK_DGRAM or SOCK_STREAM", type,
                   fd);
        return false;
    }
    s = socket_new(peer, name, type == SOCK_STREAM);
    qemu_format_nic_info_str(&s->nc, "socket: fd=%ld", fd);
    socket_attach(s, fd);
    return true;
}

/* -netdev socket's options. */
typedef struct SocketOpts {
    const char *fd, *listen, *connect, *mcast, *udp, *localaddr;
} SocketOpts;

static const NetOptDesc socket_opts[] = {
    NET_OPT_STR(SocketOpts, fd, "fd"),           NET_OPT_STR(SocketOpts, listen, "listen"),
    NET_OPT_STR(SocketOpts, connect, "connect"), NET_OPT_STR(SocketOpts, mcast, "mcast"),
    NET_OPT_STR(SocketOpts, udp, "udp"),         NET_OPT_STR(SocketOpts, localaddr, "localaddr"),
};

bool net_init_socket(NetOpts *opts, const char *name, NetClientState *peer, GError **errp)
{
    SocketOpts o;

    if (!net_opts_read(opts, socket_opts, G_N_ELEMENTS(socket_opts), &o, errp)) {
        return false;
    }
    if (!!o.fd + !!o.listen + !!o.connect + !!o.mcast + !!o.udp != 1) {
        error_setg(errp, "exactly one of listen=, connect=, mcast= or udp= is required");
        return false;
    }
    if (o.localaddr && !o.mcast && !o.udp) {
        error_setg(errp, "localaddr= is only valid with mcast= or udp=");
        return false;
    }
    if (o.fd) {
        return socket_init_fd(peer, name, o.fd, errp);
    }
    if (o.listen) {
        return socket_init_listen(peer, name, o.listen, errp);
    }
    if (o.connect) {
        return socket_init_connect(peer, name, o.connect, errp);
    }
    if (o.mcast) {
        error_setg(errp, "mcast= is not supported by this build");
        return false;
    }
    if (!o.localaddr) {
        error_setg(errp, "localaddr= is mandatory with udp=");
        return false;
    }
    return socket_init_udp(peer, name, o.udp, o.localaddr, errp);
}
