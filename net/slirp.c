/*
 * -netdev user: libslirp's user-mode TCP/IP stack, driven from the GLib main loop. A GSource
 * asks slirp which sockets to poll before every main-loop iteration and lets it process them
 * after; slirp's timers are GLib timeouts.
 */
#include "net/backends.h"
#include "util/error.h"
#include <arpa/inet.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>

typedef struct SlirpState {
    NetClientState nc;
    Slirp *slirp;
    GSource *source;
    struct in_addr dhcp_start;
} SlirpState;

typedef struct SlirpPollSource {
    GSource source;
    SlirpState *s;
    GArray *fds;  /* of GPollFD, registered with the source; addresses stable while they are */
    GArray *next; /* of GPollFD, what slirp asks for this iteration */
    gint64 due;   /* monotonic µs when slirp's TCP timers want a pass without any fd ready */
} SlirpPollSource;

typedef struct SlirpTimer {
    SlirpTimerCb cb;
    void *cb_opaque;
    guint tag;
} SlirpTimer;

/* ---- callbacks from libslirp ---- */

static ssize_t slirp_send_packet_cb(const void *buf, size_t len, void *opaque)
{
    SlirpState *s = opaque;

    qemu_send_packet(&s->nc, buf, len);
    return len;
}

static void slirp_guest_error_cb(const char *msg, void *opaque)
{
    error_report("%s", msg);
}

static int64_t slirp_clock_get_ns_cb(void *opaque)
{
    return g_get_monotonic_time() * 1000;
}

static void *slirp_timer_new_cb(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    SlirpTimer *t = g_new0(SlirpTimer, 1);

    t->cb = cb;
    t->cb_opaque = cb_opaque;
    return t;
}

static void slirp_timer_free_cb(void *timer, void *opaque)
{
    SlirpTimer *t = timer;

    if (t->tag) {
        g_source_remove(t->tag);
    }
    g_free(t);
}

static gboolean slirp_timer_fire(gpointer opaque)
{
    SlirpTimer *t = opaque;

    t->tag = 0;
    t->cb(t->cb_opaque);
    return G_SOURCE_REMOVE;
}

/* @expire_time is in milliseconds on the clock_get_ns clock. */
static void slirp_timer_mod_cb(void *timer, int64_t expire_time, void *opaque)
{
    SlirpTimer *t = timer;
    int64_t now_ms = g_get_monotonic_time() / 1000;
    int64_t delay = MAX(expire_time - now_ms, 0);

    if (t->tag) {
        g_source_remove(t->tag);
    }
    t->tag = g_timeout_add(MIN(delay, G_MAXUINT), slirp_timer_fire, t);
}

static void slirp_register_poll_fd_cb(int fd, void *opaque)
{
    /* Polled through slirp_pollfds_fill on every iteration; nothing to keep. */
}

/*
 * Slirp's wanted fd set is read in the main loop's prepare: a change made from another thread
 * (the vCPU delivering a frame) needs the sleeping loop woken; on the loop's own thread the
 * next prepare comes anyway.
 */
static void kick_main_loop(void)
{
    if (!g_main_context_is_owner(g_main_context_default())) {
        g_main_context_wakeup(NULL);
    }
}

static void slirp_notify_cb(void *opaque)
{
    kick_main_loop();
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send_packet_cb,
    .guest_error = slirp_guest_error_cb,
    .clock_get_ns = slirp_clock_get_ns_cb,
    .timer_new = slirp_timer_new_cb,
    .timer_free = slirp_timer_free_cb,
    .timer_mod = slirp_timer_mod_cb,
    .register_poll_fd = slirp_register_poll_fd_cb,
    .unregister_poll_fd = slirp_register_poll_fd_cb,
    .notify = slirp_notify_cb,
};

/* ---- main-loop integration ---- */

static int slirp_add_poll_cb(int fd, int events, void *opaque)
{
    SlirpPollSource *src = opaque;
    GPollFD pfd = {.fd = fd};

    if (events & SLIRP_POLL_IN) {
        pfd.events |= G_IO_IN;
    }
    if (events & SLIRP_POLL_OUT) {
        pfd.events |= G_IO_OUT;
    }
    if (events & SLIRP_POLL_PRI) {
        pfd.events |= G_IO_PRI;
    }
    if (events & SLIRP_POLL_ERR) {
        pfd.events |= G_IO_ERR;
    }
    if (events & SLIRP_POLL_HUP) {
        pfd.events |= G_IO_HUP;
    }
    g_array_append_val(src->next, pfd);
    return src->next->len - 1;
}

static int slirp_get_revents_cb(int idx, void *opaque)
{
    SlirpPollSource *src = opaque;
    int revents, ret = 0;

    if (idx < 0 || (guint)idx >= src->fds->len) {
        return 0;
    }
    revents = g_array_index(src->fds, GPollFD, idx).revents;
    if (revents & G_IO_IN) {
        ret |= SLIRP_POLL_IN;
    }
    if (revents & G_IO_OUT) {
        ret |= SLIRP_POLL_OUT;
    }
    if (revents & G_IO_PRI) {
        ret |= SLIRP_POLL_PRI;
    }
    if (revents & G_IO_ERR) {
        ret |= SLIRP_POLL_ERR;
    }
    if (revents & G_IO_HUP) {
        ret |= SLIRP_POLL_HUP;
    }
    return ret;
}

static bool same_fds(GArray *a, GArray *b)
{
    if (a->len != b->len) {
        return false;
    }
    for (guint i = 0; i < a->len; i++) {
        GPollFD *x = &g_array_index(a, GPollFD, i), *y = &g_array_index(b, GPollFD, i);
        if (x->fd != y->fd || x->events != y->events) {
            return false;
        }
    }
    return true;
}

static gboolean slirp_source_prepare(GSource *source, gint *timeout)
{
    SlirpPollSource *src = (SlirpPollSource *)source;
    uint32_t slirp_timeout = UINT32_MAX;

    g_array_set_size(src->next, 0);
    slirp_pollfds_fill(src->s->slirp, &slirp_timeout, slirp_add_poll_cb, src);
    /*
     * GLib wakes its own poll whenever a poll fd is added or removed, so re-registering the
     * set every iteration would turn the main loop into a busy spin (and starve the vCPU of
     * the big lock): the registration changes only when slirp's set does.
     */
    if (!same_fds(src->fds, src->next)) {
        for (guint i = 0; i < src->fds->len; i++) {
            g_source_remove_poll(source, &g_array_index(src->fds, GPollFD, i));
        }
        GArray *old = src->fds;
        src->fds = src->next;
        src->next = old;
        for (guint i = 0; i < src->fds->len; i++) {
            g_source_add_poll(source, &g_array_index(src->fds, GPollFD, i));
        }
    }
    /*
     * The earliest deadline stands until a dispatch: other sources waking the loop more often
     * than slirp's timeout must not keep pushing its TCP timers into the future.
     */
    gint64 now = g_get_monotonic_time();
    if (slirp_timeout != UINT32_MAX) {
        src->due = MIN(src->due, now + (gint64)slirp_timeout * 1000);
    }
    if (src->due == G_MAXINT64) {
        *timeout = -1;
        return FALSE;
    }
    if (src->due <= now) {
        *timeout = 0;
        return TRUE;
    }
    *timeout = (gint)MIN((src->due - now + 999) / 1000, G_MAXINT);
    return FALSE;
}

static gboolean slirp_source_check(GSource *source)
{
    SlirpPollSource *src = (SlirpPollSource *)source;

    /*
     * Only when there is work: GLib wakes its own poll around every dispatch of a source that
     * has poll fds, so a source that always asked to run would keep the loop spinning. The
     * timeout slirp gave in prepare covers its TCP timers (retransmits, delayed ACKs).
     */
    for (guint i = 0; i < src->fds->len; i++) {
        if (g_array_index(src->fds, GPollFD, i).revents) {
            return TRUE;
        }
    }
    return g_get_monotonic_time() >= src->due;
}

static gboolean slirp_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    SlirpPollSource *src = (SlirpPollSource *)source;

    src->due = G_MAXINT64;
    net_batch_begin();
    slirp_pollfds_poll(src->s->slirp, 0, slirp_get_revents_cb, src);
    net_batch_end();
    return G_SOURCE_CONTINUE;
}

static void slirp_source_finalize(GSource *source)
{
    SlirpPollSource *src = (SlirpPollSource *)source;

    g_array_free(src->fds, TRUE);
    g_array_free(src->next, TRUE);
}

static GSourceFuncs slirp_source_funcs = {
    .prepare = slirp_source_prepare,
    .check = slirp_source_check,
    .dispatch = slirp_source_dispatch,
    .finalize = slirp_source_finalize,
};

/* ---- the net client ---- */

static ssize_t slirp_receive(NetClientState *nc, const uint8_t *buf, size_t size)
{
    SlirpState *s = (SlirpState *)nc;

    SlirpPollSource *src = (SlirpPollSource *)s->source;

    slirp_input(s->slirp, buf, size);
    /*
     * Slirp holds a packet for the guest until the guest's MAC is known, and sends it only in
     * a later slirp_pollfds_poll (upstream's main loop makes one on every iteration). Without
     * a pass as soon as the guest's ARP or NDP reply is in, the packet waited for slirp's
     * 500 ms slow timer: the first connection through a hostfwd took half a second.
     */
    src->due = MIN(src->due, g_get_monotonic_time());
    kick_main_loop(); /* what slirp now writes to its host sockets waits for a prepare */
    return size;
}

static void net_slirp_cleanup(NetClientState *nc)
{
    SlirpState *s = (SlirpState *)nc;

    g_source_destroy(s->source);
    g_source_unref(s->source);
    slirp_cleanup(s->slirp);
}

static const NetClientInfo net_slirp_info = {
    .type = NET_CLIENT_DRIVER_USER,
    .size = sizeof(SlirpState),
    .receive = slirp_receive,
    .cleanup = net_slirp_cleanup,
};

/* ---- options ---- */

/* Splits @*p at the first @sep into @out; false if there is none. */
static bool take_field(const char **p, char sep, char **out)
{
    const char *end = strchr(*p, sep);

    if (!end) {
        return false;
    }
    *out = g_strndup(*p, end - *p);
    *p = end + 1;
    return true;
}

static bool parse_port(const char *s, int min, int *out)
{
    char *end;
    long v;

    if (!*s) {
        return false;
    }
    v = strtol(s, &end, 0);
    if (*end || v < min || v > 65535) {
        return false;
    }
    *out = v;
    return true;
}

static bool slirp_hostfwd(SlirpState *s, const char *rule, GError **errp)
{
    const char *p = rule;
    const char *reason;
    g_autofree char *proto = NULL, *haddr = NULL, *hport = NULL, *gaddr = NULL;
    struct in_addr host_addr = {.s_addr = htonl(INADDR_ANY)};
    struct in_addr guest_addr = s->dhcp_start;
    int host_port, guest_port;
    bool is_udp;

    if (!take_field(&p, ':', &proto)) {
        reason = "No : separators";
        goto fail;
    }
    if (!strcmp(proto, "tcp") || !proto[0]) {
        is_udp = false;
    } else if (!strcmp(proto, "udp")) {
        is_udp = true;
    } else {
        reason = "Bad protocol name";
        goto fail;
    }
    if (!take_field(&p, ':', &haddr)) {
        reason = "Missing : separator";
        goto fail;
    }
    if (haddr[0] && !inet_aton(haddr, &host_addr)) {
        reason = "Bad host address";
        goto fail;
    }
    if (!take_field(&p, '-', &hport)) {
        reason = "Bad host port separator";
        goto fail;
    }
    if (!parse_port(hport, 0, &host_port)) {
        reason = "Bad host port";
        goto fail;
    }
    if (!take_field(&p, ':', &gaddr)) {
        reason = "Missing guest address";
        goto fail;
    }
    if (gaddr[0] && !inet_aton(gaddr, &guest_addr)) {
        reason = "Bad guest address";
        goto fail;
    }
    if (!parse_port(p, 1, &guest_port)) {
        reason = "Bad guest port";
        goto fail;
    }
    if (slirp_add_hostfwd(s->slirp, is_udp, host_addr, host_port, guest_addr, guest_port) < 0) {
        error_setg(errp, "Could not set up host forwarding rule '%s'", rule);
        return false;
    }
    return true;

fail:
    error_setg(errp, "Invalid host forwarding rule '%s' (%s)", rule, reason);
    return false;
}

/* net=ADDR[/MASK]: the mask defaults by address class, as upstream does. */
static bool slirp_parse_net(const char *str, struct in_addr *net, struct in_addr *mask,
                            GError **errp)
{
    const char *slash = strchr(str, '/');
    g_autofree char *addr = g_strndup(str, slash ? (size_t)(slash - str) : strlen(str));

    if (!inet_aton(addr, net)) {
        error_setg(errp, "Failed to parse netmask");
        return false;
    }
    if (slash) {
        char *end;
        long shift = strtol(slash + 1, &end, 10);

        if (*end) {
            if (!inet_aton(slash + 1, mask)) {
                error_setg(errp, "Failed to parse netmask");
                return false;
            }
        } else if (shift < 4 || shift > 32) {
            error_setg(errp, "Invalid netmask provided (must be in range 4-32)");
            return false;
        } else {
            mask->s_addr = htonl(shift == 32 ? 0xffffffff : ~(0xffffffffu >> shift));
        }
    } else {
        uint32_t a = ntohl(net->s_addr);
        uint32_t m;

        if (!(a & 0x80000000)) {
            m = 0xff000000;
        } else if ((a & 0xfff00000) == 0xac100000) {
            m = 0xfff00000;
        } else if ((a & 0xc0000000) == 0x80000000) {
            m = 0xffff0000;
        } else if ((a & 0xffff0000) == 0xc0a80000) {
            m = 0xffff0000;
        } else if ((a & 0xe0000000) == 0xe0000000) {
            m = 0xffffff00;
        } else {
            m = 0xfffffff0;
        }
        mask->s_addr = htonl(m);
    }
    net->s_addr &= mask->s_addr;
    return true;
}

/* -netdev user's options (hostfwd, which may repeat, is read on its own). */
typedef struct SlirpOpts {
    const char *net, *host, *dhcpstart, *dns, *hostname, *domainname, *tftp, *bootfile;
    const char *restrict_str;
    bool ipv4, ipv6;
} SlirpOpts;

static const NetOptDesc slirp_opts[] = {
    NET_OPT_STR(SlirpOpts, net, "net"),
    NET_OPT_STR(SlirpOpts, host, "host"),
    NET_OPT_STR(SlirpOpts, dhcpstart, "dhcpstart"),
    NET_OPT_STR(SlirpOpts, dns, "dns"),
    NET_OPT_STR(SlirpOpts, hostname, "hostname"),
    NET_OPT_STR(SlirpOpts, domainname, "domainname"),
    NET_OPT_STR(SlirpOpts, tftp, "tftp"),
    NET_OPT_STR(SlirpOpts, bootfile, "bootfile"),
    NET_OPT_STR(SlirpOpts, restrict_str, "restrict"),
    NET_OPT_BOOL(SlirpOpts, ipv4, "ipv4", true),
    NET_OPT_BOOL(SlirpOpts, ipv6, "ipv6", true),
};

bool net_init_slirp(NetOpts *opts, const char *name, NetClientState *peer, GError **errp)
{
    g_autoptr(GPtrArray) hostfwds = net_opts_get_all(opts, "hostfwd");
    SlirpOpts o;
    struct in_addr net = {.s_addr = htonl(0x0a000200)}; /* 10.0.2.0 */
    struct in_addr mask = {.s_addr = htonl(0xffffff00)};
    struct in_addr host, dhcp, dns;
    struct in6_addr prefix6, host6, dns6;
    char netstr[INET_ADDRSTRLEN];
    bool restricted = false;
    SlirpConfig cfg = {0};
    SlirpState *s;
    SlirpPollSource *src;

    if (!net_opts_read(opts, slirp_opts, G_N_ELEMENTS(slirp_opts), &o, errp)) {
        return false;
    }
    if (o.restrict_str) {
        if (!strcmp(o.restrict_str, "on") || !strcmp(o.restrict_str, "yes")) {
            restricted = true;
        } else if (strcmp(o.restrict_str, "off") && strcmp(o.restrict_str, "no")) {
            error_setg(errp, "Parameter 'restrict' expects 'on' or 'off'");
            return false;
        }
    }
    if (o.net && !slirp_parse_net(o.net, &net, &mask, errp)) {
        return false;
    }
    host.s_addr = net.s_addr | (htonl(0x0202) & ~mask.s_addr);
    dhcp.s_addr = net.s_addr | (htonl(0x020f) & ~mask.s_addr);
    dns.s_addr = net.s_addr | (htonl(0x0203) & ~mask.s_addr);
    if (o.host && !inet_aton(o.host, &host)) {
        error_setg(errp, "Failed to parse host");
        return false;
    }
    if ((host.s_addr & mask.s_addr) != net.s_addr) {
        error_setg(errp, "Host doesn't belong to network");
        return false;
    }
    if (o.dns && !inet_aton(o.dns, &dns)) {
        error_setg(errp, "Failed to parse DNS");
        return false;
    }
    if ((dns.s_addr & mask.s_addr) != net.s_addr) {
        error_setg(errp, "DNS doesn't belong to network");
        return false;
    }
    if (o.dhcpstart && !inet_aton(o.dhcpstart, &dhcp)) {
        error_setg(errp, "Failed to parse DHCP start address");
        return false;
    }
    if ((dhcp.s_addr & mask.s_addr) != net.s_addr) {
        error_setg(errp, "DHCP doesn't belong to network");
        return false;
    }
    if (dhcp.s_addr == host.s_addr || dhcp.s_addr == dns.s_addr) {
        error_setg(errp, "DNS must be different from host and DNS");
        return false;
    }
    inet_pton(AF_INET6, "fec0::", &prefix6);
    inet_pton(AF_INET6, "fec0::2", &host6);
    inet_pton(AF_INET6, "fec0::3", &dns6);

    cfg.version = 1;
    cfg.restricted = restricted;
    cfg.in_enabled = o.ipv4;
    cfg.vnetwork = net;
    cfg.vnetmask = mask;
    cfg.vhost = host;
    cfg.in6_enabled = o.ipv6;
    cfg.vprefix_addr6 = prefix6;
    cfg.vprefix_len = 64;
    cfg.vhost6 = host6;
    cfg.vhostname = o.hostname;
    cfg.tftp_path = o.tftp;
    cfg.bootfile = o.bootfile;
    cfg.vdhcp_start = dhcp;
    cfg.vnameserver = dns;
    cfg.vnameserver6 = dns6;
    cfg.vdomainname = o.domainname;

    s = (SlirpState *)qemu_new_net_client(&net_slirp_info, peer, "user", name);
    s->dhcp_start = dhcp;
    inet_ntop(AF_INET, &net, netstr, sizeof(netstr));
    qemu_format_nic_info_str(&s->nc, "net=%s,restrict=%s", netstr, restricted ? "on" : "off");
    s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
    src = (SlirpPollSource *)g_source_new(&slirp_source_funcs, sizeof(SlirpPollSource));
    src->s = s;
    src->fds = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    src->next = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    src->due = G_MAXINT64;
    s->source = &src->source;
    g_source_attach(s->source, NULL);

    for (guint i = 0; i < hostfwds->len; i++) {
        if (!slirp_hostfwd(s, g_ptr_array_index(hostfwds, i), errp)) {
            qemu_del_net_client(&s->nc);
            return false;
        }
    }
    return true;
}
