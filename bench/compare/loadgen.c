/*
 * Load generator for a stand-alone colo-compare (ours or QEMU's) over unix socket chardevs: plays
 * primary, secondary and outdev peer, and counts DO_CHECKPOINT messages on notify_dev.
 *
 *   loadgen --pri P --sec S --out O [--notify N] [--mode tcp|udp] [--conns C] [--frames F]
 *           [--payload B] [--window W] [--timeout SECS]
 *
 * tcp: identical bulk TCP streams on C connections, frames round-robin over the connections, at
 *      most W frames sent and not yet released.
 * udp: request/response: each of C flows has one small datagram outstanding; the next one on a
 *      flow leaves when the previous came out of outdev (at most W flows active at once).
 *
 * Every frame is written to primary_in and, right after, its twin (other IP id and TTL, same
 * payload) to secondary_in. A frame's latency runs from the moment its twin was queued for
 * sending to the moment the released frame was read from outdev. The first 8 payload bytes carry
 * the frame's index. Prints one line of key=value pairs.
 *
 * L4 checksums are left zero: colo-compare never verifies them, and computing them would make
 * the generator, not the compare, the bottleneck.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { SOCK_PRI, SOCK_SEC, SOCK_OUT, SOCK_NOTIFY, SOCK__MAX };

typedef struct OutBuf {
    guint8 *data;
    gsize len, off, cap;
} OutBuf;

typedef struct Gen {
    gboolean udp;
    guint conns, window, payload;
    guint64 frames;
    double timeout_s;

    int fd[SOCK__MAX];
    OutBuf out[2];   /* to primary_in, secondary_in */
    guint8 *rbuf[2]; /* from outdev, notify_dev */
    gsize rlen[2], rcap[2];

    guint32 *seq;      /* per connection, TCP */
    gint64 *sent_us;   /* per frame */
    guint32 *lat_us;   /* per released frame */
    guint8 *flow_busy; /* UDP: a request of this flow is in flight */
    guint64 next, released, in_flight, checkpoints, unknown;
    guint next_flow;    /* UDP: round-robin start */
    GQueue ready_flows; /* UDP: flows whose response came back */
} Gen;

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        die(path);
    }
    strcpy(sa.sun_path, path);
    for (int tries = 0; connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; tries++) {
        if (tries > 500) {
            die(path);
        }
        g_usleep(10000);
    }
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void st16(guint8 *p, guint v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void st32(guint8 *p, guint32 v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static guint8 *outbuf_reserve(OutBuf *b, gsize n)
{
    if (b->off && b->off == b->len) {
        b->off = b->len = 0;
    }
    if (b->len + n > b->cap) {
        if (b->off) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        while (b->len + n > b->cap) {
            b->cap = b->cap ? b->cap * 2 : 1 << 20;
        }
        b->data = g_realloc(b->data, b->cap);
    }
    guint8 *p = b->data + b->len;
    b->len += n;
    return p;
}

static void ip_checksum(guint8 *ip)
{
    guint32 sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += (ip[i] << 8) | ip[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    st16(ip + 10, ~sum & 0xffff);
}

/* One framed Ethernet/IPv4/TCP-or-UDP packet of connection @conn into @b. */
static void put_frame(Gen *g, OutBuf *b, gboolean secondary, guint conn, guint64 index)
{
    guint l4 = g->udp ? 8 : 20;
    guint len = 14 + 20 + l4 + g->payload;
    guint8 *f = outbuf_reserve(b, 4 + len);
    st32(f, len);
    f += 4;
    memset(f, 0, 14 + 20 + l4);
    static const guint8 mac_dst[6] = {0x52, 0x54, 0, 0, 0, 2},
                        mac_src[6] = {0x52, 0x54, 0, 0, 0, 1};
    memcpy(f, mac_dst, 6);
    memcpy(f + 6, mac_src, 6);
    st16(f + 12, 0x0800);
    guint8 *ip = f + 14;
    ip[0] = 0x45;
    st16(ip + 2, 20 + l4 + g->payload);
    /* The two VMs' IP stacks number and route differently; compare must not care. */
    st16(ip + 4, secondary ? (guint16)~index : (guint16)index);
    st16(ip + 6, 0x4000);
    ip[8] = secondary ? 63 : 64;
    ip[9] = g->udp ? 17 : 6;
    st32(ip + 12, 0x0a000000u | (1u << 16) | (conn >> 16)); /* 10.1.x.y */
    st32(ip + 16, 0x0a000002u);
    ip_checksum(ip);
    guint8 *l4p = ip + 20;
    st16(l4p, 10000 + (conn & 0xffff) % 50000);
    st16(l4p + 2, 80 + (conn & 0xffff) / 50000);
    if (g->udp) {
        st16(l4p + 4, 8 + g->payload);
    } else {
        st32(l4p + 4, g->seq[conn]);
        st32(l4p + 8, 1);
        l4p[12] = 5 << 4;
        l4p[13] = 0x18; /* ACK|PSH */
        st16(l4p + 14, 65535);
    }
    guint8 *pl = l4p + l4;
    memset(pl, 'x', g->payload);
    for (int i = 0; i < 8 && i < (int)g->payload; i++) {
        pl[i] = index >> (56 - 8 * i);
    }
}

static void send_one(Gen *g, guint conn)
{
    guint64 index = g->next++;
    put_frame(g, &g->out[0], FALSE, conn, index);
    put_frame(g, &g->out[1], TRUE, conn, index);
    if (!g->udp) {
        g->seq[conn] += g->payload;
    }
    g->sent_us[index] = g_get_monotonic_time();
    g->in_flight++;
}

static void fill(Gen *g)
{
    if (g->udp) {
        /* Flows that got their answer send again first; then flows never started. */
        while (g->next < g->frames && g->in_flight < g->window) {
            guint conn;
            if (!g_queue_is_empty(&g->ready_flows)) {
                conn = GPOINTER_TO_UINT(g_queue_pop_head(&g->ready_flows));
            } else if (g->next_flow < g->conns) {
                conn = g->next_flow++;
            } else {
                break;
            }
            g->flow_busy[conn] = 1;
            send_one(g, conn);
        }
        return;
    }
    while (g->next < g->frames && g->in_flight < g->window) {
        send_one(g, g->next % g->conns);
    }
}

static gboolean flush_out(Gen *g, int which)
{
    OutBuf *b = &g->out[which];
    while (b->off < b->len) {
        ssize_t n = write(g->fd[which], b->data + b->off, b->len - b->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return FALSE;
            }
            die("write");
        }
        b->off += n;
    }
    return TRUE;
}

static guint16 ld16(const guint8 *p)
{
    return (p[0] << 8) | p[1];
}

static void on_released(Gen *g, const guint8 *f, guint32 len, gint64 now)
{
    guint l4 = g->udp ? 8 : 20;
    if (len < 14 + 20 + l4 + 8 || ld16(f + 12) != 0x0800) {
        g->unknown++; /* probes, or something we did not send */
        return;
    }
    guint64 index = 0;
    for (int i = 0; i < 8; i++) {
        index = (index << 8) | f[14 + 20 + l4 + i];
    }
    if (index >= g->next) {
        g->unknown++;
        return;
    }
    g->lat_us[g->released++] = (guint32)MIN(now - g->sent_us[index], G_MAXUINT32);
    g->in_flight--;
    if (g->udp) {
        guint conn = ((ld16(f + 14 + 20) - 10000) + 50000 * (ld16(f + 14 + 22) - 80)) |
                     ((guint)(f[14 + 15]) << 16);
        if (conn < g->conns && g->flow_busy[conn]) {
            g->flow_busy[conn] = 0;
            g_queue_push_tail(&g->ready_flows, GUINT_TO_POINTER(conn));
        }
    }
}

/* Reads what is there from outdev (which = 0) or notify_dev (1); FALSE on EOF. */
static gboolean read_in(Gen *g, int which)
{
    int fd = g->fd[which ? SOCK_NOTIFY : SOCK_OUT];
    for (;;) {
        if (g->rcap[which] - g->rlen[which] < 256 * 1024) {
            g->rcap[which] = MAX(g->rcap[which] * 2, 1 << 20);
            g->rbuf[which] = g_realloc(g->rbuf[which], g->rcap[which]);
        }
        ssize_t n = read(fd, g->rbuf[which] + g->rlen[which], g->rcap[which] - g->rlen[which]);
        if (n == 0) {
            return FALSE;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            die("read");
        }
        g->rlen[which] += n;
    }
    gint64 now = g_get_monotonic_time();
    gsize off = 0;
    const guint8 *b = g->rbuf[which];
    while (g->rlen[which] - off >= 4) {
        guint32 len = ((guint32)b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
        if (g->rlen[which] - off - 4 < len) {
            break;
        }
        if (which == 0) {
            on_released(g, b + off + 4, len, now);
        } else if (len == 13 && !memcmp(b + off + 4, "DO_CHECKPOINT", 13)) {
            g->checkpoints++;
        }
        off += 4 + len;
    }
    memmove(g->rbuf[which], b + off, g->rlen[which] - off);
    g->rlen[which] -= off;
    return TRUE;
}

static int cmp_u32(const void *a, const void *b)
{
    guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
    return x < y ? -1 : x > y;
}

/* Waits until outdev delivers what primary_in got: an ARP frame is released at once. */
static void wait_ready(Gen *g)
{
    static const guint8 arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0,
                                   1,    0x08, 0x06, 0,    1,    0x08, 0,    6,    4, 0, 1};
    for (int tries = 0; tries < 100; tries++) {
        guint8 *p = outbuf_reserve(&g->out[0], 4 + sizeof(arp));
        st32(p, sizeof(arp));
        memcpy(p + 4, arp, sizeof(arp));
        while (!flush_out(g, 0)) {
            g_usleep(1000);
        }
        struct pollfd pfd = {g->fd[SOCK_OUT], POLLIN, 0};
        if (poll(&pfd, 1, 100) > 0) {
            g_usleep(50000);
            read_in(g, 0);
            g->unknown = 0;
            return;
        }
    }
    fprintf(stderr, "loadgen: outdev never delivered the probe\n");
    exit(2);
}

int main(int argc, char **argv)
{
    Gen g = {.conns = 1, .window = 512, .payload = 1400, .frames = 100000, .timeout_s = 3.0};
    const char *path[SOCK__MAX] = {0};
    const char *mode = "tcp";
    static const char *names[SOCK__MAX] = {"--pri", "--sec", "--out", "--notify"};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        gboolean known = FALSE;
        for (int s = 0; s < SOCK__MAX; s++) {
            if (!strcmp(k, names[s])) {
                path[s] = v;
                known = TRUE;
            }
        }
        if (known) {
            continue;
        } else if (!strcmp(k, "--mode")) {
            mode = v;
        } else if (!strcmp(k, "--conns")) {
            g.conns = MAX(1, atoi(v));
        } else if (!strcmp(k, "--frames")) {
            g.frames = g_ascii_strtoull(v, NULL, 10);
        } else if (!strcmp(k, "--payload")) {
            g.payload = MAX(8, atoi(v));
        } else if (!strcmp(k, "--window")) {
            g.window = MAX(1, atoi(v));
        } else if (!strcmp(k, "--timeout")) {
            g.timeout_s = g_ascii_strtod(v, NULL);
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", k);
            return 2;
        }
    }
    if (!path[SOCK_PRI] || !path[SOCK_SEC] || !path[SOCK_OUT] || g.frames == 0) {
        fprintf(stderr, "usage: loadgen --pri P --sec S --out O [--notify N] [--mode tcp|udp] "
                        "[--conns C] [--frames F] [--payload B] [--window W] [--timeout S]\n");
        return 2;
    }
    g.udp = !strcmp(mode, "udp");
    for (int s = 0; s < SOCK__MAX; s++) {
        g.fd[s] = path[s] ? connect_unix(path[s]) : -1;
    }
    g.seq = g_new0(guint32, g.conns);
    g.flow_busy = g_new0(guint8, g.conns);
    g.sent_us = g_new0(gint64, g.frames);
    g.lat_us = g_new0(guint32, g.frames);
    g_queue_init(&g.ready_flows);
    wait_ready(&g);

    gint64 start = g_get_monotonic_time(), last_progress = start;
    guint64 last_released = 0;
    while (g.released < g.frames) {
        fill(&g);
        struct pollfd pfd[SOCK__MAX];
        int n = 0;
        for (int w = 0; w < 2; w++) {
            if (!flush_out(&g, w)) {
                pfd[n++] = (struct pollfd){g.fd[w], POLLOUT, 0};
            }
        }
        int out_idx = n;
        pfd[n++] = (struct pollfd){g.fd[SOCK_OUT], POLLIN, 0};
        int notify_idx = -1;
        if (g.fd[SOCK_NOTIFY] >= 0) {
            notify_idx = n;
            pfd[n++] = (struct pollfd){g.fd[SOCK_NOTIFY], POLLIN, 0};
        }
        if (poll(pfd, n, 100) < 0 && errno != EINTR) {
            die("poll");
        }
        if ((pfd[out_idx].revents & (POLLIN | POLLHUP)) && !read_in(&g, 0)) {
            break;
        }
        if (notify_idx >= 0 && (pfd[notify_idx].revents & (POLLIN | POLLHUP))) {
            read_in(&g, 1);
        }
        gint64 now = g_get_monotonic_time();
        if (g.released != last_released) {
            last_released = g.released;
            last_progress = now;
        } else if (now - last_progress > g.timeout_s * 1e6) {
            break; /* lost frames: report what came out */
        }
    }
    gint64 end = g.released == g.frames ? g_get_monotonic_time() : last_progress;
    double secs = MAX(end - start, 1) / 1e6;
    qsort(g.lat_us, g.released, sizeof(guint32), cmp_u32);
    guint32 p50 = g.released ? g.lat_us[g.released / 2] : 0;
    guint32 p99 = g.released ? g.lat_us[MIN(g.released - 1, g.released * 99 / 100)] : 0;
    printf("mode=%s conns=%u frames=%" G_GUINT64_FORMAT " released=%" G_GUINT64_FORMAT
           " lost=%" G_GUINT64_FORMAT " secs=%.3f fps=%.0f p50_us=%u p99_us=%u"
           " checkpoints=%" G_GUINT64_FORMAT "\n",
           mode, g.conns, g.frames, g.released, g.frames - g.released, secs, g.released / secs, p50,
           p99, g.checkpoints);
    for (int s = 0; s < SOCK__MAX; s++) {
        if (g.fd[s] >= 0) {
            close(g.fd[s]);
        }
    }
    for (int i = 0; i < 2; i++) {
        g_free(g.out[i].data);
        g_free(g.rbuf[i]);
    }
    g_free(g.seq);
    g_free(g.flow_busy);
    g_free(g.sent_us);
    g_free(g.lat_us);
    g_queue_clear(&g.ready_flows);
    return g.released == g.frames ? 0 : 1;
}
