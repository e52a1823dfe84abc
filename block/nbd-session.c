/*
 * The server side of one NBD connection, without the socket: handshake, option haggling and
 * transmission, fed with received bytes and leaving the bytes to send in a buffer
 * (include/block/nbd.h has the state diagram).
 */
#include "block/nbd.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Requests in flight, and bytes queued for the client, past which input is left unread. */
#define SESSION_MAX_IN_FLIGHT 16
#define SESSION_MAX_OUTPUT    (8 * 1024 * 1024)
/* Transmission flags the session knows; a request with any other is refused with EINVAL. */
#define KNOWN_CMD_FLAGS                                                                            \
    (NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |            \
     NBD_CMD_FLAG_FAST_ZERO)

typedef enum {
    ST_CLIENT_FLAGS,
    ST_OPTIONS,
    ST_TRANSMISSION,
    ST_CLOSED,
} SessionState;

struct NbdSession {
    int refs; /* the owner's, and one per request in flight */
    bool owner_gone;
    bool aborted; /* replies of requests still in flight are dropped */
    const NbdSessionHooks *hooks;
    void *opaque;

    SessionState state;
    bool fixed_newstyle;
    bool no_zeroes;
    bool structured;
    char *meta_export; /* base:allocation selected for this export (SET_META_CONTEXT) */
    unsigned options_seen;
    uint64_t skip; /* option data still to discard after a too-big option */
    uint32_t skip_option;

    GByteArray *in;
    /*
     * Output: small pieces (replies, headers) gather in @out; a read's data joins the queue as
     * the buffer it was read into, so it is never copied. @out_pos is what was sent of the
     * queue's head; @out_pending counts every byte not yet sent.
     */
    GByteArray *out;
    GQueue outq; /* GBytes */
    size_t out_pos;
    size_t out_pending;
    bool processing;
    bool eof;

    NbdExport *exp;
    unsigned in_flight;
};

typedef struct SessionRequest {
    NbdSession *s;
    NbdRequest req;
    uint8_t *buf;
} SessionRequest;

static void session_process(NbdSession *s);

static void session_unref(NbdSession *s)
{
    if (--s->refs > 0) {
        return;
    }
    nbd_export_unref(s->exp);
    g_free(s->meta_export);
    g_byte_array_unref(s->in);
    g_byte_array_unref(s->out);
    g_queue_clear_full(&s->outq, (GDestroyNotify)g_bytes_unref);
    g_free(s);
}

static void session_notify(NbdSession *s)
{
    if (!s->owner_gone && s->hooks->output_ready && s->out_pending + s->out->len) {
        s->hooks->output_ready(s->opaque);
    }
}

static void session_close(NbdSession *s)
{
    s->state = ST_CLOSED;
    g_byte_array_set_size(s->in, 0);
}

NbdSession *nbd_session_new(const NbdSessionHooks *hooks, void *opaque)
{
    NbdSession *s = g_new0(NbdSession, 1);
    s->refs = 1;
    s->hooks = hooks;
    s->opaque = opaque;
    s->in = g_byte_array_new();
    s->out = g_byte_array_new();
    g_queue_init(&s->outq);
    s->state = ST_CLIENT_FLAGS;
    nbd_put_u64(s->out, NBD_INIT_MAGIC);
    nbd_put_u64(s->out, NBD_OPTS_MAGIC);
    nbd_put_u16(s->out, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    return s;
}

void nbd_session_free(NbdSession *s)
{
    if (!s) {
        return;
    }
    s->owner_gone = true;
    session_close(s);
    session_unref(s);
}

/* Moves the small pieces gathered so far into the queue, behind what is already there. */
static void out_flush(NbdSession *s)
{
    if (s->out->len) {
        s->out_pending += s->out->len;
        g_queue_push_tail(&s->outq, g_byte_array_free_to_bytes(s->out));
        s->out = g_byte_array_new();
    }
}

/* Queues @len bytes at @buf (taking it) after what is gathered. */
static void out_take(NbdSession *s, void *buf, size_t len)
{
    out_flush(s);
    s->out_pending += len;
    g_queue_push_tail(&s->outq, g_bytes_new_take(buf, len));
}

static size_t out_len(NbdSession *s)
{
    return s->out_pending + s->out->len;
}

static void out_clear(NbdSession *s)
{
    g_queue_clear_full(&s->outq, (GDestroyNotify)g_bytes_unref);
    g_queue_init(&s->outq);
    g_byte_array_set_size(s->out, 0);
    s->out_pos = 0;
    s->out_pending = 0;
}

const uint8_t *nbd_session_output(NbdSession *s, size_t *len)
{
    out_flush(s);
    GBytes *head = g_queue_peek_head(&s->outq);
    if (!head) {
        *len = 0;
        return NULL;
    }
    gsize size;
    const uint8_t *data = g_bytes_get_data(head, &size);
    *len = size - s->out_pos;
    return data + s->out_pos;
}

void nbd_session_consume_output(NbdSession *s, size_t len)
{
    GBytes *head = g_queue_peek_head(&s->outq);
    if (!len) {
        return;
    }
    g_assert(head && len <= g_bytes_get_size(head) - s->out_pos);
    s->out_pos += len;
    s->out_pending -= len;
    if (s->out_pos == g_bytes_get_size(head)) {
        g_bytes_unref(g_queue_pop_head(&s->outq));
        s->out_pos = 0;
    }
    /* Output drained below the limit may let buffered requests go. */
    session_process(s);
}

gboolean nbd_session_wants_input(NbdSession *s)
{
    if (s->state == ST_CLOSED || s->eof) {
        return FALSE;
    }
    if (s->in_flight >= SESSION_MAX_IN_FLIGHT || out_len(s) > SESSION_MAX_OUTPUT) {
        return FALSE;
    }
    return TRUE;
}

gboolean nbd_session_closing(NbdSession *s)
{
    return s->state == ST_CLOSED;
}

gboolean nbd_session_idle(NbdSession *s)
{
    return s->in_flight == 0 && out_len(s) == 0;
}

NbdExport *nbd_session_export(NbdSession *s)
{
    return s->state == ST_TRANSMISSION ? s->exp : NULL;
}

void nbd_session_abort(NbdSession *s)
{
    s->aborted = true;
    session_close(s);
    out_clear(s);
}

void nbd_session_feed(NbdSession *s, const void *buf, size_t len)
{
    if (s->state == ST_CLOSED || s->eof) {
        return;
    }
    g_byte_array_append(s->in, buf, len);
    session_process(s);
}

void nbd_session_eof(NbdSession *s)
{
    s->eof = true;
    session_process(s);
}

/* ---- handshake ---- */

static void opt_reply(NbdSession *s, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    nbd_encode_opt_reply(s->out, opt, type, data, len);
}

static void opt_error(NbdSession *s, uint32_t opt, uint32_t type, const char *msg)
{
    opt_reply(s, opt, type, msg, strlen(msg));
}

/* Contexts selected for another export do not follow the client into this one. */
static void enter_transmission(NbdSession *s, NbdExport *exp)
{
    if (s->meta_export && strcmp(s->meta_export, exp->name)) {
        g_clear_pointer(&s->meta_export, g_free);
    }
    s->exp = exp;
    s->state = ST_TRANSMISSION;
}

static void opt_list(NbdSession *s, uint32_t opt, uint32_t len)
{
    if (len) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "list option takes no data");
        return;
    }
    g_autoptr(GPtrArray) all = s->hooks->list(s->opaque);
    for (guint i = 0; i < all->len; i++) {
        NbdExport *exp = g_ptr_array_index(all, i);
        g_autoptr(GByteArray) data = g_byte_array_new();
        nbd_put_u32(data, strlen(exp->name));
        g_byte_array_append(data, (const guint8 *)exp->name, strlen(exp->name));
        if (exp->description) {
            g_byte_array_append(data, (const guint8 *)exp->description, strlen(exp->description));
        }
        opt_reply(s, opt, NBD_REP_SERVER, data->data, data->len);
        nbd_export_unref(exp);
    }
    opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
}

static void info_reply(NbdSession *s, uint32_t opt, uint16_t info, const void *data, uint32_t len)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    nbd_put_u16(buf, info);
    if (len) {
        g_byte_array_append(buf, data, len);
    }
    opt_reply(s, opt, NBD_REP_INFO, buf->data, buf->len);
}

/* NBD_OPT_INFO and NBD_OPT_GO: name length, name, count of requests, the requests. */
static void opt_info_go(NbdSession *s, uint32_t opt, const uint8_t *data, uint32_t len)
{
    if (len < 6) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "request too short");
        return;
    }
    uint32_t name_len = nbd_get_u32(data);
    if (name_len > NBD_MAX_STRING_SIZE || name_len > len - 6) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "export name length exceeds request");
        return;
    }
    uint16_t n_info = nbd_get_u16(data + 4 + name_len);
    if ((uint64_t)len != 6ULL + name_len + 2ULL * n_info) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "information request length is wrong");
        return;
    }
    g_autofree char *name = g_strndup((const char *)data + 4, name_len);
    if (strlen(name) != name_len) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "export name contains a NUL byte");
        return;
    }
    bool want_name = false, want_desc = false;
    for (uint16_t i = 0; i < n_info; i++) {
        uint16_t what = nbd_get_u16(data + 6 + name_len + 2 * i);
        want_name |= what == NBD_INFO_NAME;
        want_desc |= what == NBD_INFO_DESCRIPTION;
    }
    NbdExport *exp = s->hooks->lookup(s->opaque, name);
    if (!exp) {
        g_autofree char *msg = g_strdup_printf("export '%s' not present", name);
        opt_error(s, opt, NBD_REP_ERR_UNKNOWN, msg);
        return;
    }
    if (want_name) {
        info_reply(s, opt, NBD_INFO_NAME, exp->name, strlen(exp->name));
    }
    if (want_desc && exp->description) {
        info_reply(s, opt, NBD_INFO_DESCRIPTION, exp->description, strlen(exp->description));
    }
    /* Byte granularity, 4 KiB preferred, and upstream's payload limit. */
    uint8_t sizes[12];
    uint32_t be[3] = {GUINT32_TO_BE(1), GUINT32_TO_BE(4096), GUINT32_TO_BE(NBD_MAX_BUFFER_SIZE)};
    memcpy(sizes, be, sizeof(sizes));
    info_reply(s, opt, NBD_INFO_BLOCK_SIZE, sizes, sizeof(sizes));
    uint8_t ex[10];
    uint64_t size_be = GUINT64_TO_BE(exp->size);
    uint16_t flags_be = GUINT16_TO_BE(nbd_export_tx_flags(exp, s->structured));
    memcpy(ex, &size_be, 8);
    memcpy(ex + 8, &flags_be, 2);
    info_reply(s, opt, NBD_INFO_EXPORT, ex, sizeof(ex));
    opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
    if (opt == NBD_OPT_GO) {
        enter_transmission(s, exp);
    } else {
        nbd_export_unref(exp);
    }
}

/* NBD_OPT_EXPORT_NAME has no reply on failure: the server can only hang up. */
static void opt_export_name(NbdSession *s, const uint8_t *data, uint32_t len)
{
    g_autofree char *name = g_strndup((const char *)data, len);
    NbdExport *exp = strlen(name) == len ? s->hooks->lookup(s->opaque, name) : NULL;
    if (!exp) {
        session_close(s);
        return;
    }
    nbd_put_u64(s->out, exp->size);
    nbd_put_u16(s->out, nbd_export_tx_flags(exp, s->structured));
    if (!s->no_zeroes) {
        static const uint8_t zeroes[124];
        g_byte_array_append(s->out, zeroes, sizeof(zeroes));
    }
    enter_transmission(s, exp);
}

/*
 * NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: export name length, name, number of
 * queries, then each query's length and text. "base:allocation" is the one context; LIST with
 * no query or the query "base:" lists it.
 */
static void opt_meta_context(NbdSession *s, uint32_t opt, const uint8_t *data, uint32_t len)
{
    bool set = opt == NBD_OPT_SET_META_CONTEXT;
    if (!s->structured) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "structured replies not negotiated");
        return;
    }
    if (len < 8 || nbd_get_u32(data) > MIN(len - 8, NBD_MAX_STRING_SIZE)) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "request too short");
        return;
    }
    uint32_t name_len = nbd_get_u32(data);
    g_autofree char *name = g_strndup((const char *)data + 4, name_len);
    uint32_t n_queries = nbd_get_u32(data + 4 + name_len);
    size_t pos = 8 + name_len;
    bool match = !set && n_queries == 0;
    for (uint32_t i = 0; i < n_queries; i++) {
        if (len - pos < 4 || nbd_get_u32(data + pos) > len - pos - 4) {
            opt_error(s, opt, NBD_REP_ERR_INVALID, "query length exceeds request");
            return;
        }
        uint32_t q_len = nbd_get_u32(data + pos);
        const char *q = (const char *)data + pos + 4;
        pos += 4 + q_len;
        size_t full = strlen(NBD_META_BASE_ALLOCATION);
        if ((q_len == full && !memcmp(q, NBD_META_BASE_ALLOCATION, full)) ||
            (!set && q_len == 5 && !memcmp(q, "base:", 5))) {
            match = true;
        }
    }
    if (pos != len) {
        opt_error(s, opt, NBD_REP_ERR_INVALID, "request length is wrong");
        return;
    }
    NbdExport *exp = strlen(name) == name_len ? s->hooks->lookup(s->opaque, name) : NULL;
    if (!exp) {
        g_autofree char *msg = g_strdup_printf("export '%s' not present", name);
        opt_error(s, opt, NBD_REP_ERR_UNKNOWN, msg);
        return;
    }
    nbd_export_unref(exp);
    if (set) {
        g_clear_pointer(&s->meta_export, g_free);
        if (match) {
            s->meta_export = g_strdup(name);
        }
    }
    if (match) {
        g_autoptr(GByteArray) ctx = g_byte_array_new();
        nbd_put_u32(ctx, NBD_META_ID_BASE_ALLOCATION);
        g_byte_array_append(ctx, (const guint8 *)NBD_META_BASE_ALLOCATION,
                            strlen(NBD_META_BASE_ALLOCATION));
        opt_reply(s, opt, NBD_REP_META_CONTEXT, ctx->data, ctx->len);
    }
    opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
}

static void handle_option(NbdSession *s, uint32_t opt, const uint8_t *data, uint32_t len)
{
    if (opt == NBD_OPT_EXPORT_NAME) {
        opt_export_name(s, data, len);
        return;
    }
    if (!s->fixed_newstyle) {
        /* Without fixed newstyle the client cannot read an error reply. */
        session_close(s);
        return;
    }
    switch (opt) {
    case NBD_OPT_ABORT:
        opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
        session_close(s);
        break;
    case NBD_OPT_LIST:
        opt_list(s, opt, len);
        break;
    case NBD_OPT_STARTTLS:
        opt_error(s, opt, NBD_REP_ERR_POLICY, "TLS not configured");
        break;
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
        opt_info_go(s, opt, data, len);
        break;
    case NBD_OPT_STRUCTURED_REPLY:
        if (len) {
            opt_error(s, opt, NBD_REP_ERR_INVALID, "structured reply option takes no data");
        } else if (s->structured) {
            opt_error(s, opt, NBD_REP_ERR_INVALID, "structured reply already negotiated");
        } else {
            s->structured = true;
            opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
        }
        break;
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
        opt_meta_context(s, opt, data, len);
        break;
    default: {
        g_autofree char *msg = g_strdup_printf("option %" PRIu32 " not supported", opt);
        opt_error(s, opt, NBD_REP_ERR_UNSUP, msg);
        break;
    }
    }
}

/* Consumes what it can of @p..@end in the handshake; returns the bytes used (0: need more). */
static size_t handshake_step(NbdSession *s, const uint8_t *p, size_t avail)
{
    if (s->state == ST_CLIENT_FLAGS) {
        if (avail < 4) {
            return 0;
        }
        uint32_t flags = nbd_get_u32(p);
        if (flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
            session_close(s);
            return 4;
        }
        s->fixed_newstyle = flags & NBD_FLAG_C_FIXED_NEWSTYLE;
        s->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
        s->state = ST_OPTIONS;
        return 4;
    }
    if (s->skip) {
        size_t n = MIN(avail, s->skip);
        s->skip -= n;
        if (!s->skip) {
            opt_error(s, s->skip_option, NBD_REP_ERR_TOO_BIG, "option data too long");
        }
        return n;
    }
    if (avail < NBD_OPT_HEADER_SIZE) {
        return 0;
    }
    if (nbd_get_u64(p) != NBD_OPTS_MAGIC || s->options_seen >= NBD_MAX_OPTIONS) {
        session_close(s);
        return avail;
    }
    uint32_t opt = nbd_get_u32(p + 8);
    uint32_t len = nbd_get_u32(p + 12);
    if (len > NBD_MAX_OPTION_SIZE) {
        s->options_seen++;
        if (opt == NBD_OPT_EXPORT_NAME || !s->fixed_newstyle) {
            session_close(s);
            return avail;
        }
        /* Read past the data without keeping it, then say why it was refused. */
        s->skip = len;
        s->skip_option = opt;
        return NBD_OPT_HEADER_SIZE;
    }
    if (avail < NBD_OPT_HEADER_SIZE + (size_t)len) {
        return 0; /* counted once it is whole: the header is read again with more data */
    }
    s->options_seen++;
    handle_option(s, opt, p + NBD_OPT_HEADER_SIZE, len);
    return NBD_OPT_HEADER_SIZE + len;
}

/* ---- transmission ---- */

static void request_done(void *opaque, int ret)
{
    SessionRequest *r = opaque;
    NbdSession *s = r->s;
    uint32_t err = nbd_errno_to_wire(-ret);

    if (!s->owner_gone && !s->aborted) {
        if (r->req.type == NBD_CMD_BLOCK_STATUS && !err) {
            /* One extent over the whole range: all of it allocated data. */
            nbd_encode_structured_header(s->out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
                                         r->req.cookie, 12);
            nbd_put_u32(s->out, NBD_META_ID_BASE_ALLOCATION);
            nbd_put_u32(s->out, r->req.length);
            nbd_put_u32(s->out, 0);
        } else if (r->req.type == NBD_CMD_READ && s->structured) {
            if (err) {
                static const char msg[] = "read failed";
                nbd_encode_structured_header(s->out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
                                             r->req.cookie, 6 + sizeof(msg) - 1);
                nbd_put_u32(s->out, err);
                nbd_put_u16(s->out, sizeof(msg) - 1);
                g_byte_array_append(s->out, (const guint8 *)msg, sizeof(msg) - 1);
            } else if (r->req.length == 0) {
                nbd_encode_structured_header(s->out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE,
                                             r->req.cookie, 0);
            } else {
                nbd_encode_structured_header(s->out, NBD_REPLY_FLAG_DONE,
                                             NBD_REPLY_TYPE_OFFSET_DATA, r->req.cookie,
                                             8 + r->req.length);
                nbd_put_u64(s->out, r->req.offset);
                out_take(s, g_steal_pointer(&r->buf), r->req.length);
            }
        } else {
            nbd_encode_simple_reply(s->out, err, r->req.cookie);
            if (r->req.type == NBD_CMD_READ && !err && r->req.length) {
                out_take(s, g_steal_pointer(&r->buf), r->req.length);
            }
        }
    }
    g_free(r->buf);
    g_free(r);
    s->in_flight--;
    if (!s->processing) {
        session_process(s);
        session_notify(s);
    }
    session_unref(s);
}

/* The error for a request that cannot be run, or 0. */
static int request_check(NbdSession *s, const NbdRequest *req)
{
    NbdExport *exp = s->exp;
    uint16_t allowed = 0;

    switch (req->type) {
    case NBD_CMD_READ:
        allowed = s->structured ? NBD_CMD_FLAG_DF : 0;
        break;
    case NBD_CMD_WRITE:
    case NBD_CMD_TRIM:
        allowed = NBD_CMD_FLAG_FUA;
        break;
    case NBD_CMD_WRITE_ZEROES:
        allowed = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
        break;
    case NBD_CMD_FLUSH:
    case NBD_CMD_CACHE:
        break;
    case NBD_CMD_BLOCK_STATUS:
        if (!s->meta_export || !req->length) {
            return -EINVAL;
        }
        allowed = NBD_CMD_FLAG_REQ_ONE;
        break;
    default:
        return -EINVAL;
    }
    if (req->flags & ~allowed) {
        return -EINVAL;
    }
    if (req->type == NBD_CMD_FLUSH) {
        return 0;
    }
    if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_CACHE) &&
        req->length > NBD_MAX_BUFFER_SIZE) {
        return -EINVAL;
    }
    bool writes = req->type == NBD_CMD_WRITE || req->type == NBD_CMD_WRITE_ZEROES ||
                  req->type == NBD_CMD_TRIM;
    if (writes && !exp->writable) {
        return -EPERM;
    }
    if (req->length > exp->size || req->offset > exp->size - req->length) {
        return req->type == NBD_CMD_WRITE || req->type == NBD_CMD_WRITE_ZEROES ? -ENOSPC : -EINVAL;
    }
    if (req->type == NBD_CMD_WRITE_ZEROES && (req->flags & NBD_CMD_FLAG_FAST_ZERO) &&
        !exp->ops->write_zeroes) {
        return -ENOTSUP;
    }
    return 0;
}

static void request_start(NbdSession *s, const NbdRequest *req, const uint8_t *payload)
{
    SessionRequest *r = g_new0(SessionRequest, 1);
    NbdExport *exp = s->exp;
    bool fua = req->flags & NBD_CMD_FLAG_FUA;

    r->s = s;
    r->req = *req;
    s->refs++;
    s->in_flight++;
    int err = request_check(s, req);
    if (err) {
        request_done(r, err);
        return;
    }
    switch (req->type) {
    case NBD_CMD_READ:
        r->buf = g_malloc(MAX(req->length, 1));
        if (req->length == 0) {
            request_done(r, 0);
            break;
        }
        exp->ops->read(exp->opaque, req->offset, req->length, r->buf, request_done, r);
        break;
    case NBD_CMD_WRITE:
        r->buf = g_memdup2(payload, MAX(req->length, 1));
        exp->ops->write(exp->opaque, req->offset, req->length, r->buf, fua, request_done, r);
        break;
    case NBD_CMD_FLUSH:
        exp->ops->flush(exp->opaque, request_done, r);
        break;
    case NBD_CMD_TRIM:
        if (exp->ops->trim && req->length) {
            exp->ops->trim(exp->opaque, req->offset, req->length, request_done, r);
        } else {
            request_done(r, 0);
        }
        break;
    case NBD_CMD_WRITE_ZEROES:
        exp->ops->write_zeroes(exp->opaque, req->offset, req->length,
                               !(req->flags & NBD_CMD_FLAG_NO_HOLE), request_done, r);
        break;
    default: /* NBD_CMD_CACHE: nothing to prefetch into; BLOCK_STATUS: always data */
        request_done(r, 0);
        break;
    }
}

static size_t transmission_step(NbdSession *s, const uint8_t *p, size_t avail)
{
    if (s->in_flight >= SESSION_MAX_IN_FLIGHT || out_len(s) > SESSION_MAX_OUTPUT ||
        avail < NBD_REQUEST_SIZE) {
        return 0;
    }
    NbdRequest req;
    if (!nbd_decode_request(p, &req)) {
        session_close(s);
        return avail;
    }
    size_t used = NBD_REQUEST_SIZE;
    if (req.type == NBD_CMD_WRITE) {
        if (req.length > NBD_MAX_BUFFER_SIZE) {
            /* The payload cannot be skipped safely: the stream is lost. */
            session_close(s);
            return avail;
        }
        if (avail < NBD_REQUEST_SIZE + (size_t)req.length) {
            return 0;
        }
        used += req.length;
    }
    if (req.type == NBD_CMD_DISC) {
        session_close(s);
        return avail;
    }
    request_start(s, &req, p + NBD_REQUEST_SIZE);
    return used;
}

static void session_process(NbdSession *s)
{
    if (s->processing) {
        return;
    }
    s->processing = true;
    s->refs++;
    size_t pos = 0;
    while (s->state != ST_CLOSED && pos < s->in->len) {
        const uint8_t *p = s->in->data + pos;
        size_t avail = s->in->len - pos;
        size_t used = s->state == ST_TRANSMISSION ? transmission_step(s, p, avail)
                                                  : handshake_step(s, p, avail);
        if (!used) {
            break;
        }
        pos += used;
    }
    if (s->state == ST_CLOSED) {
        g_byte_array_set_size(s->in, 0);
    } else if (pos) {
        g_byte_array_remove_range(s->in, 0, pos);
    }
    if (s->eof && s->state != ST_CLOSED) {
        /* A request cut short by the hang-up is dropped; finished ones still get replies. */
        session_close(s);
    }
    s->processing = false;
    session_notify(s);
    session_unref(s);
}
