/*
 * -netdev tap: frames to and from a Linux tap device (/dev/net/tun, IFF_TAP | IFF_NO_PI), one
 * frame per read() or write(). The device is opened by name (ifname=, created if missing) or
 * handed in (fd=). Upstream's if-up/if-down scripts run unless script=no / downscript=no.
 */
#include "net/backends.h"
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

typedef struct TAPState {
    NetClientState nc;
    int fd;
    char ifname[IFNAMSIZ];
    char *down_script;
    guint read_tag;
    guint write_tag;
    bool read_paused;
    uint8_t *buf;
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

static ssize_t tap_receive_iov(NetClientState *nc, const struct iovec *iov, int iovcnt)
{
    TAPState *s = (TAPState *)nc;
    ssize_t n;

    do {
        n = writev(s->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        s->write_tag = g_unix_fd_add(s->fd, G_IO_OUT, tap_writable, s);
        return 0;
    }
    if (n < 0) {
        /* The kernel refused the frame (link down, bad size): counted by the caller. */
        return -1;
    }
    return n;
}

static void tap_sent(NetClientState *nc, ssize_t ret)
{
    TAPState *s = (TAPState *)nc;

    s->read_paused = false;
    tap_update_read(s);
}

static gboolean tap_readable(int fd, GIOCondition cond, gpointer opaque)
{
    TAPState *s = opaque;

    gboolean ret = G_SOURCE_CONTINUE;

    /* A bounded batch per wake-up keeps the main loop fair to other sources. */
    net_batch_begin();
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(s->fd, s->buf, NET_BUFSIZE);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (qemu_send_packet_async(&s->nc, s->buf, n, tap_sent) == 0) {
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
        s->read_tag = g_unix_fd_add(s->fd, G_IO_IN, tap_readable, s);
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
}

static const NetClientInfo net_tap_info = {
    .type = NET_CLIENT_DRIVER_TAP,
    .size = sizeof(TAPState),
    .receive_iov = tap_receive_iov,
    .can_receive = tap_can_receive,
    .cleanup = tap_cleanup,
};

static int tap_open(const char *ifname_req, char *ifname_out, GError **errp)
{
    struct ifreq ifr = {0};
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        error_setg_errno(errp, errno, "could not open %s", "/dev/net/tun");
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
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
    g_strlcpy(ifname_out, ifr.ifr_name, IFNAMSIZ);
    return fd;
}

bool net_init_tap(NetOpts *opts, const char *name, NetClientState *peer, GError **errp)
{
    const char *ifname = net_opts_get(opts, "ifname");
    const char *script = net_opts_get(opts, "script");
    const char *downscript = net_opts_get(opts, "downscript");
    const char *fdstr = net_opts_get(opts, "fd");
    bool vhost, vnet_hdr;
    int64_t queues;
    char real_ifname[IFNAMSIZ] = "";
    TAPState *s;
    int fd;

    if (!net_opts_get_bool(opts, "vhost", false, &vhost, errp) ||
        !net_opts_get_bool(opts, "vnet_hdr", false, &vnet_hdr, errp) ||
        !net_opts_get_int(opts, "queues", 1, &queues, errp) ||
        !net_opts_check_all_read(opts, errp)) {
        return false;
    }
    if (fdstr && (ifname || script || downscript || net_opts_has(opts, "vnet_hdr") ||
                  net_opts_has(opts, "queues"))) {
        error_setg(errp, "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, "
                         "and vhostfds= are invalid with fd=");
        return false;
    }
    if (vhost) {
        error_setg(errp, "vhost-net requested but could not be initialized");
        return false;
    }
    if (vnet_hdr) {
        error_setg(errp, "vnet_hdr=1 requested, but no kernel support for IFF_VNET_HDR "
                         "available");
        return false;
    }
    if (queues != 1) {
        error_setg(errp, "Multiqueue tap is not supported by this build");
        return false;
    }
    if (fdstr) {
        char *end;
        long v = strtol(fdstr, &end, 10);

        if (end == fdstr || *end || v < 0 || fcntl(v, F_GETFD) < 0) {
            error_setg(errp, "Invalid file descriptor '%s'", fdstr);
            return false;
        }
        fd = v;
    } else {
        fd = tap_open(ifname, real_ifname, errp);
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
    s->buf = g_malloc(NET_BUFSIZE);
    g_strlcpy(s->ifname, real_ifname, sizeof(s->ifname));
    if (fdstr) {
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
