/*
 * The NBD client (include/block/nbd-client.h has the picture): a bounded blocking handshake,
 * then requests on the main loop, matched to their replies by cookie.
 */
#include "block/nbd-client.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBD_OLDSTYLE_MAGIC 0x00420281861253ULL

typedef struct ClientRequest {
    NbdRequest req;
    void *buf; /* READ: where the data goes */
    NbdIoDone done;
    void *opaque;
} ClientRequest;

struct NbdClient {
    int fd;
    uint64_t size;
    uint16_t flags;
    bool dead;
    uint64_t next_cookie;
    GHashTable *in_flight; /* cookie -> ClientRequest */
    GQueue failed;         /* completed with an error, reported from an idle callback */
    GSource *fail_src;
    GByteArray *out;
    size_t out_pos;
    GMainContext *ctx; /* where requests run and complete; NULL: the default context */
    GSource *in_src, *out_src;
    /* The reply being read: its header, then for READ its data straight into the buffer. */
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    size_t hdr_got;
    ClientRequest *reading;
    uint32_t data_got;
};

/* ---- the handshake: blocking, each read and write bounded by the deadline ---- */

static gboolean wait_fd(int fd, short events, gint64 deadline, GError **errp)
{
    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0) {
            error_setg(errp, "Connection timed out");
            return FALSE;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, MIN(left, 1000));
        if (r > 0) {
            return TRUE;
        }
        if (r < 0 && errno != EINTR) {
            error_setg_errno(errp, errno, "poll failed");
            return FALSE;
        }
    }
}

static gboolean read_full(int fd, void *buf, size_t len, gint64 deadline, const char *what,
                          GError **errp)
{
    uint8_t *p = buf;
    while (len) {
        if (!wait_fd(fd, POLLIN, deadline, errp)) {
            error_prepend(errp, "Failed to read %s: ", what);
            return FALSE;
        }
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n == 0) {
            error_setg(errp, "Failed to read %s: Unexpected end-of-file before all data were read",
                       what);
            return FALSE;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "Failed to read %s", what);
            return FALSE;
        }
        p += n;
        len -= n;
    }
    return TRUE;
}

static gboolean write_full(int fd, const void *buf, size_t len, gint64 deadline, GError **errp)
{
    const uint8_t *p = buf;
    while (len) {
        if (!wait_fd(fd, POLLOUT, deadline, errp)) {
            error_prepend(errp, "Failed to send: ");
            return FALSE;
        }
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "Failed to send");
            return FALSE;
        }
        p += n;
        len -= n;
    }
    return TRUE;
}

static gboolean send_option(int fd, uint32_t opt, const GByteArray *data, gint64 deadline,
                            GError **errp)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    nbd_put_u64(b, NBD_OPTS_MAGIC);
    nbd_put_u32(b, opt);
    nbd_put_u32(b, data ? data->len : 0);
    if (data) {
        g_byte_array_append(b, data->data, data->len);
    }
    return write_full(fd, b->data, b->len, deadline, errp);
}

/* One option reply: header checked, data (bounded) returned in *data. */
static gboolean read_opt_reply(int fd, uint32_t opt, NbdOptReply *rep, GByteArray *data,
                               gint64 deadline, GError **errp)
{
    uint8_t h[NBD_OPT_REPLY_HEADER_SIZE];
    if (!read_full(fd, h, sizeof(h), deadline, "option reply", errp)) {
        return FALSE;
    }
    if (nbd_get_u64(h) != NBD_REP_MAGIC) {
        error_setg(errp, "Unexpected option reply magic");
        return FALSE;
    }
    rep->option = nbd_get_u32(h + 8);
    rep->type = nbd_get_u32(h + 12);
    rep->length = nbd_get_u32(h + 16);
    if (rep->option != opt) {
        error_setg(errp, "Unexpected option type %u, expected %u", rep->option, opt);
        return FALSE;
    }
    if (rep->length > NBD_MAX_OPTION_SIZE) {
        error_setg(errp, "server's option reply is too long");
        return FALSE;
    }
    g_byte_array_set_size(data, rep->length);
    return read_full(fd, data->data, rep->length, deadline, "option reply data", errp);
}

/* An error reply in QEMU's words, the server's message as a hint. */
static void opt_reply_error(const NbdOptReply *rep, const GByteArray *data, GError **errp)
{
    switch (rep->type) {
    case NBD_REP_ERR_UNKNOWN:
        error_setg(errp, "Requested export not available");
        break;
    case NBD_REP_ERR_POLICY:
        error_setg(errp, "Denied by server for option %u (%s)", rep->option,
                   nbd_opt_name(rep->option));
        break;
    case NBD_REP_ERR_TLS_REQD:
        error_setg(errp, "TLS negotiation required before option %u (%s)", rep->option,
                   nbd_opt_name(rep->option));
        break;
    default:
        error_setg(errp, "Option %u (%s) failed: %s", rep->option, nbd_opt_name(rep->option),
                   nbd_rep_name(rep->type));
        break;
    }
    if (data->len) {
        g_autofree char *msg = g_strndup((const char *)data->data, data->len);
        error_append_hint(errp, "server reported: %s\n", msg);
    }
}

/* NBD_OPT_GO: TRUE with size and flags, or FALSE; *unsupported when the server lacks GO. */
static gboolean opt_go(NbdClient *c, const char *export, gint64 deadline, bool *unsupported,
                       GError **errp)
{
    g_autoptr(GByteArray) req = g_byte_array_new();
    nbd_put_u32(req, strlen(export));
    g_byte_array_append(req, (const guint8 *)export, strlen(export));
    nbd_put_u16(req, 0);
    if (!send_option(c->fd, NBD_OPT_GO, req, deadline, errp)) {
        return FALSE;
    }
    g_autoptr(GByteArray) data = g_byte_array_new();
    bool have_export = false;
    for (;;) {
        NbdOptReply rep;
        if (!read_opt_reply(c->fd, NBD_OPT_GO, &rep, data, deadline, errp)) {
            return FALSE;
        }
        if (rep.type == NBD_REP_ACK) {
            if (!have_export) {
                error_setg(errp, "server did not send export information");
                return FALSE;
            }
            return TRUE;
        }
        if (rep.type == NBD_REP_INFO) {
            if (data->len >= 2 && nbd_get_u16(data->data) == NBD_INFO_EXPORT) {
                if (data->len != 12) {
                    error_setg(errp, "remaining export info len %u is unexpected size",
                               data->len - 2);
                    return FALSE;
                }
                c->size = nbd_get_u64(data->data + 2);
                c->flags = nbd_get_u16(data->data + 10);
                have_export = true;
            }
            continue; /* other information is not needed */
        }
        if (rep.type == NBD_REP_ERR_UNSUP) {
            *unsupported = true;
            return FALSE;
        }
        opt_reply_error(&rep, data, errp);
        return FALSE;
    }
}

static gboolean opt_export_name(NbdClient *c, const char *export, bool no_zeroes, gint64 deadline,
                                GError **errp)
{
    g_autoptr(GByteArray) name = g_byte_array_new();
    g_byte_array_append(name, (const guint8 *)export, strlen(export));
    if (!send_option(c->fd, NBD_OPT_EXPORT_NAME, name, deadline, errp)) {
        return FALSE;
    }
    uint8_t reply[10 + 124];
    size_t len = no_zeroes ? 10 : sizeof(reply);
    if (!read_full(c->fd, reply, len, deadline, "export flags", errp)) {
        return FALSE;
    }
    c->size = nbd_get_u64(reply);
    c->flags = nbd_get_u16(reply + 8);
    return TRUE;
}

static gboolean handshake(NbdClient *c, const char *export, GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + NBD_CLIENT_OPEN_TIMEOUT * G_USEC_PER_SEC;
    uint8_t greeting[18];

    if (strlen(export) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name too long to send to server");
        return FALSE;
    }
    if (!read_full(c->fd, greeting, 8, deadline, "initial magic", errp)) {
        return FALSE;
    }
    if (nbd_get_u64(greeting) != NBD_INIT_MAGIC) {
        error_setg(errp, "Bad initial magic received: 0x%" PRIx64, nbd_get_u64(greeting));
        return FALSE;
    }
    if (!read_full(c->fd, greeting + 8, 8, deadline, "server magic", errp)) {
        return FALSE;
    }
    uint64_t magic = nbd_get_u64(greeting + 8);
    if (magic == NBD_OLDSTYLE_MAGIC) {
        error_setg(errp, "Server does not support the fixed newstyle protocol "
                         "(oldstyle servers are not supported)");
        return FALSE;
    }
    if (magic != NBD_OPTS_MAGIC) {
        error_setg(errp, "Bad server magic received: 0x%" PRIx64, magic);
        return FALSE;
    }
    if (!read_full(c->fd, greeting + 16, 2, deadline, "server flags", errp)) {
        return FALSE;
    }
    uint16_t server_flags = nbd_get_u16(greeting + 16);
    uint32_t client_flags = 0;
    if (server_flags & NBD_FLAG_FIXED_NEWSTYLE) {
        client_flags |= NBD_FLAG_C_FIXED_NEWSTYLE;
    }
    if (server_flags & NBD_FLAG_NO_ZEROES) {
        client_flags |= NBD_FLAG_C_NO_ZEROES;
    }
    uint8_t cf[4];
    uint32_t cf_be = GUINT32_TO_BE(client_flags);
    memcpy(cf, &cf_be, 4);
    if (!write_full(c->fd, cf, 4, deadline, errp)) {
        return FALSE;
    }
    if (client_flags & NBD_FLAG_C_FIXED_NEWSTYLE) {
        bool unsupported = false;
        if (opt_go(c, export, deadline, &unsupported, errp)) {
            return TRUE;
        }
        if (!unsupported) {
            return FALSE;
        }
    }
    return opt_export_name(c, export, client_flags & NBD_FLAG_C_NO_ZEROES, deadline, errp);
}

NbdClient *nbd_client_connect(const SocketAddr *addr, const char *export, GError **errp)
{
    gboolean in_progress;
    int fd = socket_connect_start(addr, &in_progress, errp);
    if (fd < 0) {
        return NULL;
    }
    if (in_progress) {
        gint64 deadline = g_get_monotonic_time() + NBD_CLIENT_OPEN_TIMEOUT * G_USEC_PER_SEC;
        GError *err = NULL;
        if (!wait_fd(fd, POLLOUT, deadline, &err)) {
            g_error_free(err);
            errno = ETIMEDOUT;
        }
        if (!socket_connect_finish(fd, addr, errp)) {
            close(fd);
            return NULL;
        }
    }
    if (addr->kind == SOCKET_ADDR_INET) {
        socket_set_nodelay(fd, NULL);
    }
    NbdClient *c = g_new0(NbdClient, 1);
    c->fd = fd;
    c->next_cookie = 1;
    c->in_flight = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_queue_init(&c->failed);
    c->out = g_byte_array_new();
    if (!handshake(c, export ? export : "", errp)) {
        close(fd);
        g_hash_table_unref(c->in_flight);
        g_byte_array_unref(c->out);
        g_free(c);
        return NULL;
    }
    return c;
}

uint64_t nbd_client_size(NbdClient *c)
{
    return c->size;
}

uint16_t nbd_client_flags(NbdClient *c)
{
    return c->flags;
}

gboolean nbd_client_connected(NbdClient *c)
{
    return !c->dead;
}

void nbd_client_set_context(NbdClient *c, GMainContext *ctx)
{
    c->ctx = ctx;
}

static void source_drop(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

/* ---- transmission on the main loop ---- */

static void client_update(NbdClient *c);

static gboolean run_failed(gpointer opaque)
{
    NbdClient *c = opaque;
    ClientRequest *r;
    source_drop(&c->fail_src);
    while ((r = g_queue_pop_head(&c->failed))) {
        r->done(r->opaque, -EIO);
        g_free(r);
    }
    return G_SOURCE_REMOVE;
}

static void fail_later(NbdClient *c, ClientRequest *r)
{
    g_queue_push_tail(&c->failed, r);
    if (!c->fail_src) {
        c->fail_src = g_idle_source_new();
        g_source_set_callback(c->fail_src, run_failed, c, NULL);
        g_source_attach(c->fail_src, c->ctx);
    }
}

/* The peer is gone or broke the protocol: nothing more goes out, everything pending fails. */
static void client_kill(NbdClient *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, c->in_flight);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        fail_later(c, value);
    }
    g_hash_table_remove_all(c->in_flight);
    c->reading = NULL;
    g_byte_array_set_size(c->out, 0);
    c->out_pos = 0;
    client_update(c);
}

static void finish(NbdClient *c, ClientRequest *r, int ret)
{
    g_hash_table_remove(c->in_flight, &r->req.cookie);
    r->done(r->opaque, ret);
    g_free(r);
}

/* Consumes replies from @p; returns the bytes used. */
static size_t parse_replies(NbdClient *c, const uint8_t *p, size_t len)
{
    size_t used = 0;
    while (used < len && !c->dead) {
        if (c->reading) {
            ClientRequest *r = c->reading;
            size_t n = MIN(len - used, r->req.length - c->data_got);
            memcpy((uint8_t *)r->buf + c->data_got, p + used, n);
            c->data_got += n;
            used += n;
            if (c->data_got == r->req.length) {
                c->reading = NULL;
                finish(c, r, 0);
            }
            continue;
        }
        size_t n = MIN(len - used, sizeof(c->hdr) - c->hdr_got);
        memcpy(c->hdr + c->hdr_got, p + used, n);
        c->hdr_got += n;
        used += n;
        if (c->hdr_got < sizeof(c->hdr)) {
            break;
        }
        c->hdr_got = 0;
        uint64_t cookie = nbd_get_u64(c->hdr + 8);
        ClientRequest *r = g_hash_table_lookup(c->in_flight, &cookie);
        if (nbd_get_u32(c->hdr) != NBD_SIMPLE_REPLY_MAGIC || !r) {
            /* A structured reply we did not ask for, or a cookie we never sent. */
            client_kill(c);
            break;
        }
        uint32_t err = nbd_get_u32(c->hdr + 4);
        if (r->req.type == NBD_CMD_READ && !err && r->req.length) {
            c->reading = r;
            c->data_got = 0;
            continue;
        }
        finish(c, r, -nbd_wire_to_errno(err));
    }
    return used;
}

static gboolean client_readable(int fd, GIOCondition cond, gpointer opaque)
{
    NbdClient *c = opaque;
    uint8_t buf[64 * 1024];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        parse_replies(c, buf, n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        client_kill(c);
    }
    client_update(c);
    return G_SOURCE_CONTINUE;
}

static gboolean client_writable(int fd, GIOCondition cond, gpointer opaque)
{
    NbdClient *c = opaque;
    ssize_t n =
        send(fd, c->out->data + c->out_pos, c->out->len - c->out_pos, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
        c->out_pos += n;
        if (c->out_pos == c->out->len) {
            g_byte_array_set_size(c->out, 0);
            c->out_pos = 0;
        }
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        client_kill(c);
    }
    client_update(c);
    return G_SOURCE_CONTINUE;
}

static void fd_watch(NbdClient *c, GSource **src, bool want, GIOCondition cond,
                     GUnixFDSourceFunc fn)
{
    if (want && !*src) {
        *src = g_unix_fd_source_new(c->fd, cond);
        g_source_set_callback(*src, (GSourceFunc)(void (*)(void))fn, c, NULL);
        g_source_attach(*src, c->ctx);
    } else if (!want) {
        source_drop(src);
    }
}

static void client_update(NbdClient *c)
{
    fd_watch(c, &c->in_src, !c->dead && g_hash_table_size(c->in_flight) > 0,
             G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable);
    fd_watch(c, &c->out_src, !c->dead && c->out->len > c->out_pos, G_IO_OUT, client_writable);
}

static void submit(NbdClient *c, uint16_t type, uint16_t flags, uint64_t offset, uint32_t length,
                   void *buf, const void *payload, NbdIoDone done, void *opaque)
{
    ClientRequest *r = g_new0(ClientRequest, 1);
    r->req = (NbdRequest){flags, type, c->next_cookie++, offset, length};
    r->buf = buf;
    r->done = done;
    r->opaque = opaque;
    bool too_long = length > NBD_MAX_BUFFER_SIZE && (type == NBD_CMD_READ || type == NBD_CMD_WRITE);
    if (c->dead || too_long) {
        fail_later(c, r);
        return;
    }
    nbd_encode_request(c->out, &r->req);
    if (payload) {
        g_byte_array_append(c->out, payload, length);
    }
    g_hash_table_insert(c->in_flight, &r->req.cookie, r);
    /* Straight out when the socket takes it: a write watch only for what it does not. */
    client_writable(c->fd, G_IO_OUT, c);
}

void nbd_client_read(NbdClient *c, uint64_t offset, uint32_t length, void *buf, NbdIoDone done,
                     void *opaque)
{
    submit(c, NBD_CMD_READ, 0, offset, length, buf, NULL, done, opaque);
}

void nbd_client_write(NbdClient *c, uint64_t offset, uint32_t length, const void *buf, bool fua,
                      NbdIoDone done, void *opaque)
{
    bool use_fua = fua && (c->flags & NBD_FLAG_SEND_FUA);
    submit(c, NBD_CMD_WRITE, use_fua ? NBD_CMD_FLAG_FUA : 0, offset, length, NULL, buf, done,
           opaque);
}

void nbd_client_flush(NbdClient *c, NbdIoDone done, void *opaque)
{
    submit(c, NBD_CMD_FLUSH, 0, 0, 0, NULL, NULL, done, opaque);
}

void nbd_client_trim(NbdClient *c, uint64_t offset, uint32_t length, NbdIoDone done, void *opaque)
{
    submit(c, NBD_CMD_TRIM, 0, offset, length, NULL, NULL, done, opaque);
}

void nbd_client_write_zeroes(NbdClient *c, uint64_t offset, uint32_t length, bool may_trim,
                             NbdIoDone done, void *opaque)
{
    submit(c, NBD_CMD_WRITE_ZEROES, may_trim ? 0 : NBD_CMD_FLAG_NO_HOLE, offset, length, NULL, NULL,
           done, opaque);
}

void nbd_client_close(NbdClient *c)
{
    if (!c) {
        return;
    }
    if (!c->dead) {
        /* A polite goodbye when the socket takes it at once; nothing waits for it. */
        g_autoptr(GByteArray) disc = g_byte_array_new();
        NbdRequest req = {0, NBD_CMD_DISC, 0, 0, 0};
        nbd_encode_request(disc, &req);
        if (c->out->len == c->out_pos) {
            (void)!send(c->fd, disc->data, disc->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
    }
    client_kill(c);
    run_failed(c);
    close(c->fd);
    g_hash_table_unref(c->in_flight);
    g_byte_array_unref(c->out);
    g_free(c);
}
