/*
 * -netdev tap: frames to and from a Linux tap device (/dev/net/tun, IFF_TAP | IFF_NO_PI), one
 * frame per read() or write(). The device is opened by name (ifname=, created if missing; tapN
 * when no name is given) or handed in (fd=). Upstream's if-up/if-down scripts run unless
 * script=no / downscript=no.
 *
 * With vnet_hdr (the default where the kernel has IFF_VNET_HDR, as upstream) every frame on the
 * fd carries a 12-byte virtio-net header. Plain frames go out behind a zero header; a guest
 * NIC's frame with its offloads still to do (TSO, partial checksum) goes out with the guest's
 * header through receive_offload, so the host kernel segments it, or takes it whole. The other
 * way, the kernel may hand us offloaded frames too (TUNSETOFFLOAD: partial checksums, TSO): such
 * a frame goes to the guest NIC as it is when nothing on the path needs plain frames, else it is
 * completed here (include/net/vnet-hdr.h) and sent on as plain frames.
 *
 *   read ──► [hdr][frame] ──► no offload in hdr ─────────────────────► qemu_send_packet_async
 *                         └─► offloads ──► qemu_send_packet_offload ──► taken: done
 *                                                     └─ refused ──► completed, segments sent
 */
#include "net/backends.h"
#include "net/vnet-hdr.h"
#include "util/error.h"
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_NETWORK_SCRIPT      "/etc/qemu-ifup"
#define DEFAULT_NETWORK_DOWN_SCRIPT "/etc/qemu-ifdown"
/* struct virtio_net_hdr_mrg_rxbuf, the virtio 1.x header */
#define TAP_VNET_HDR_LEN 12

typedef struct TAPState {
    NetClientState nc;
    int fd;
    char ifname[IFNAMSIZ];
    char *down_script;
    guint read_tag;
    guint write_tag;
    bool read_paused;
    bool vnet_hdr; /* every frame on the fd carries TAP_VNET_HDR_LEN bytes of header */
    uint8_t *buf;
    uint8_t *segbuf; /* one segment of an offloaded frame completed here */
    bool seg_queued; /* a segment of the current frame had to wait in the peer's queue */
} TAPState;

static void tap_update_read(TAPState *s);

static bool tap_can_receive(NetClientState *nc)
{
    return ((TAPState *)nc)->write_tag == 0;
}

static gboolean tap_writable(int fd, GIOCondition cond, gpointer opaque)
{
    TAPState *s = opaque;

    s->write_tag = 0;
    qemu_flush_queued_packets(&s->nc);
    return G_SOURCE_REMOVE;
}

static ssize_t tap_write(TAPState *s, const struct iovec *iov, int iovcnt)
{
    ssize_t n;

    do {
        n = writev(s->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t tap_receive_iov(NetClientState *nc, const struct iovec *iov, int iovcnt)
{
    TAPState *s = (TAPState *)nc;
    static const uint8_t zero_hdr[TAP_VNET_HDR_LEN];
    g_autofree struct iovec *with_hdr = NULL;
    ssize_t n;

    if (s->vnet_hdr) {
        with_hdr = g_new(struct iovec, iovcnt + 1);
        with_hdr[0].iov_base = (void *)zero_hdr;
        with_hdr[0].iov_len = sizeof(zero_hdr);
        memcpy(with_hdr + 1, iov, sizeof(*iov) * iovcnt);
        n = tap_write(s, with_hdr, iovcnt + 1);
    } else {
        n = tap_write(s, iov, iovcnt);
    }
    if (n < 0 && errno == EAGAIN) {
        s->write_tag = net_fd_watch(s->fd, G_IO_OUT, tap_writable, s);
        return 0;
    }
    if (n < 0) {
        /* The kernel refused the frame (link down, bad size): counted by the caller. */
        return -1;
    }
    return s->vnet_hdr ? MAX(n - TAP_VNET_HDR_LEN, 0) : n;
}

static ssize_t tap_receive_offload(NetClientState *nc, const uint8_t *vnet_hdr, const uint8_t *buf,
                                   size_t size)
{
    TAPState *s = (TAPState *)nc;
    struct iovec iov[2] = {
        {.iov_base = (void *)vnet_hdr, .iov_len = TAP_VNET_HDR_LEN},
        {.iov_base = (void *)buf, .iov_len = size},
    };

    if (!s->vnet_hdr || s->write_tag) {
        return 0;
    }
    /* Refused or full: the sender falls back to plain frames, which queue as usual. */
    return tap_write(s, iov, 2) > 0 ? (ssize_t)size : 0;
}

static void tap_sent(NetClientState *nc, ssize_t ret)
{
    TAPState *s = (TAPState *)nc;

    s->read_paused = false;
    tap_update_read(s);
}

static void tap_emit_segment(void *opaque, const uint8_t *frame, size_t len)
{
    TAPState *s = opaque;

    if (qemu_send_packet_async(&s->nc, frame, len, tap_sent) == 0) {
        s->seg_queued = true;
    }
}

/* Hands one frame read from the fd to the path; false if it had to wait (stop reading). */
static bool tap_send_frame(TAPState *s, const uint8_t *hdr, size_t len)
{
    NetVnetHdr h;

    if (hdr) {
        net_vnet_hdr_parse(&h, hdr);
    }
    if (!hdr ||
        (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && h.gso_type == VIRTIO_NET_HDR_GSO_NONE)) {
        return qemu_send_packet_async(&s->nc, s->buf, len, tap_sent) != 0;
    }
    if (qemu_send_packet_offload(&s->nc, hdr, s->buf, len) > 0) {
        return true;
    }
    s->seg_queued = false;
    if (net_vnet_hdr_complete(&h, s->buf, len, s->segbuf, NET_BUFSIZE, tap_emit_segment, s) < 0) {
        s->nc.stats.tx_dropped++; /* a header the kernel should never write */
    }
    return !s->seg_queued;
}

static gboolean tap_readable(int fd, GIOCondition cond, gpointer opaque)
{
    TAPState *s = opaque;

    gboolean ret = G_SOURCE_CONTINUE;

    /* A bounded batch per wake-up keeps the main loop fair to other sources. */
    net_batch_begin();
    for (int i = 0; i < 64; i++) {
        uint8_t hdr[TAP_VNET_HDR_LEN];
        struct iovec iov[2] = {
            {.iov_base = hdr, .iov_len = sizeof(hdr)},
            {.iov_base = s->buf, .iov_len = NET_BUFSIZE},
        };
        ssize_t n = s->vnet_hdr ? readv(s->fd, iov, 2) : readv(s->fd, iov + 1, 1);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (s->vnet_hdr) {
            if (n < TAP_VNET_HDR_LEN) {
                s->nc.stats.tx_dropped++;
                continue;
            }
            n -= TAP_VNET_HDR_LEN;
        }
        if (!tap_send_frame(s, s->vnet_hdr ? hdr : NULL, n)) {
            s->read_paused = true;
            s->read_tag = 0;
            ret = G_SOURCE_REMOVE;
            break;
        }
    }
    net_batch_end();
    return ret;
}

static void tap_update_read(TAPState *s)
{
    if (!s->read_paused && !s->read_tag) {
        s->read_tag = net_fd_watch(s->fd, G_IO_IN, tap_readable, s);
    }
}

static bool tap_run_script(const char *script, const char *ifname, GError **errp)
{
    char *argv[] = {(char *)script, (char *)ifname, NULL};
    int status;
    g_autoptr(GError) err = NULL;

    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL, NULL,
                      &status, &err)) {
        error_setg(errp, "network script %s failed with status %d", script, 256);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        error_setg(errp, "network script %s failed with status %d", script, status);
        return false;
    }
    return true;
}

static void tap_cleanup(NetClientState *nc)
{
    TAPState *s = (TAPState *)nc;

    if (s->read_tag) {
        g_source_remove(s->read_tag);
    }
    if (s->write_tag) {
        g_source_remove(s->write_tag);
    }
    if (s->down_script) {
        g_autoptr(GError) err = NULL;

        if (!tap_run_script(s->down_script, s->ifname, &err)) {
            error_report("%s", err->message);
        }
        g_free(s->down_script);
    }
    close(s->fd);
    g_free(s->buf);
    g_free(s->segbuf);
}

static const NetClientInfo net_tap_info = {
    .type = NET_CLIENT_DRIVER_TAP,
    .size = sizeof(TAPState),
    .receive_iov = tap_receive_iov,
    .receive_offload = tap_receive_offload,
    .can_receive = tap_can_receive,
    .cleanup = tap_cleanup,
};

/* Whether this kernel's tun driver can put a virtio-net header on frames. */
static bool tap_kernel_has_vnet_hdr(int fd)
{
    unsigned int features = 0;

    return ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR);
}

/*
 * IFF_VNET_HDR with the virtio 1.x header size, and the kernel allowed to hand us offloaded
 * frames (a kernel that refuses the offloads just sends plain ones); false if it refuses the size.
 */
static bool tap_set_vnet_hdr_len(int fd)
{
    int len = TAP_VNET_HDR_LEN;

    if (ioctl(fd, TUNSETVNETHDRSZ, &len) < 0) {
        return false;
    }
    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
    return true;
}

/* @vnet_hdr: "on" (required), "off", or unset (used where the kernel has it); out: in use. */
static int tap_open(const char *ifname_req, char *ifname_out, int vnet_hdr_req, bool *vnet_hdr,
                    GError **errp)
{
    struct ifreq ifr = {0};
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        error_setg_errno(errp, errno, "could not open %s", "/dev/net/tun");
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    *vnet_hdr = vnet_hdr_req != 0 && tap_kernel_has_vnet_hdr(fd);
    if (vnet_hdr_req > 0 && !*vnet_hdr) {
        error_setg(errp, "vnet_hdr=1 requested, but no kernel support for IFF_VNET_HDR "
                         "available");
        close(fd);
        return -1;
    }
    if (*vnet_hdr) {
        ifr.ifr_flags |= IFF_VNET_HDR;
    }
    if (ifname_req && ifname_req[0]) {
        g_strlcpy(ifr.ifr_name, ifname_req, IFNAMSIZ);
    } else {
        g_strlcpy(ifr.ifr_name, "tap%d", IFNAMSIZ);
    }
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        if (ifname_req && ifname_req[0]) {
            error_setg_errno(errp, errno, "could not configure %s (%s)", "/dev/net/tun",
                             ifr.ifr_name);
        } else {
            error_setg_errno(errp, errno, "could not configure %s", "/dev/net/tun");
        }
        close(fd);
        return -1;
    }
    if (*vnet_hdr && !tap_set_vnet_hdr_len(fd)) {
        error_setg_errno(errp, errno, "could not set the virtio-net header size of %s",
                         ifr.ifr_name);
        close(fd);
        return -1;
    }
    g_strlcpy(ifname_out, ifr.ifr_name, IFNAMSIZ);
    return fd;
}

/* A handed-in fd brings its own flags: a header is in use if it was opened with one. */
static bool tap_fd_has_vnet_hdr(int fd)
{
    struct ifreq ifr = {0};

    return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR) &&
           tap_set_vnet_hdr_len(fd);
}

/* -netdev tap's options. */
typedef struct TapOpts {
    const char *ifname, *script, *downscript, *fd;
    bool vhost, vnet_hdr;
    int64_t queues;
} TapOpts;

static const NetOptDesc tap_opts[] = {
    NET_OPT_STR(TapOpts, ifname, "ifname"),
    NET_OPT_STR(TapOpts, script, "script"),
    NET_OPT_STR(TapOpts, downscript, "downscript"),
    NET_OPT_STR(TapOpts, fd, "fd"),
    NET_OPT_BOOL(TapOpts, vhost, "vhost", false),
    NET_OPT_BOOL(TapOpts, vnet_hdr, "vnet_hdr", false),
    NET_OPT_INT(TapOpts, queues, "queues", 1),
};

bool net_init_tap(NetOpts *opts, const char *name, NetClientState *peer, GError **errp)
{
    TapOpts o;
    const char *script, *downscript;
    bool use_vnet_hdr;
    char real_ifname[IFNAMSIZ] = "";
    TAPState *s;
    int fd;

    if (!net_opts_read(opts, tap_opts, G_N_ELEMENTS(tap_opts), &o, errp)) {
        return false;
    }
    script = o.script;
    downscript = o.downscript;
    if (o.fd && (o.ifname || script || downscript || net_opts_has(opts, "vnet_hdr") ||
                 net_opts_has(opts, "queues"))) {
        error_setg(errp, "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, "
                         "and vhostfds= are invalid with fd=");
        return false;
    }
    if (o.vhost) {
        error_setg(errp, "vhost-net requested but could not be initialized");
        return false;
    }
    if (o.queues != 1) {
        error_setg(errp, "Multiqueue tap is not supported by this build");
        return false;
    }
    if (o.fd) {
        char *end;
        long v = strtol(o.fd, &end, 10);

        if (end == o.fd || *end || v < 0 || fcntl(v, F_GETFD) < 0) {
            error_setg(errp, "Invalid file descriptor '%s'", o.fd);
            return false;
        }
        fd = v;
        use_vnet_hdr = tap_fd_has_vnet_hdr(fd);
    } else {
        int req = net_opts_has(opts, "vnet_hdr") ? o.vnet_hdr : -1;

        fd = tap_open(o.ifname, real_ifname, req, &use_vnet_hdr, errp);
        if (fd < 0) {
            return false;
        }
        if (!script) {
            script = DEFAULT_NETWORK_SCRIPT;
        }
        if (!downscript) {
            downscript = DEFAULT_NETWORK_DOWN_SCRIPT;
        }
        if (strcmp(script, "no") && !tap_run_script(script, real_ifname, errp)) {
            close(fd);
            return false;
        }
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    s = (TAPState *)qemu_new_net_client(&net_tap_info, peer, "tap", name);
    s->fd = fd;
    s->vnet_hdr = use_vnet_hdr;
    s->buf = g_malloc(NET_BUFSIZE);
    s->segbuf = use_vnet_hdr ? g_malloc(NET_BUFSIZE) : NULL;
    g_strlcpy(s->ifname, real_ifname, sizeof(s->ifname));
    if (o.fd) {
        qemu_format_nic_info_str(&s->nc, "fd=%d", fd);
    } else {
        qemu_format_nic_info_str(&s->nc, "ifname=%s,script=%s,downscript=%s", real_ifname, script,
                                 downscript);
        if (strcmp(downscript, "no")) {
            s->down_script = g_strdup(downscript);
        }
    }
    tap_update_read(s);
    return true;
}
