/*
 * The "nbd" protocol driver: a block node whose storage is an NBD export.
 *
 *   block worker thread                 the node's own "nbd" thread (GMainContext)
 *   bdrv_pread() ─► nbd_pread()
 *      call queued ───invoke──────────►  nbd_client_read() ─► socket
 *      waits on s->cond                  reply (or peer lost: -EIO)
 *      ◄──────────────signal───────────  call_done()
 *
 * The client runs on a thread of its own rather than on the main loop: a main thread that
 * drains the block layer (reset, checkpoint, blk_unref) waits for workers that may be waiting
 * for the network, and must not be the one to serve them. A lost peer fails every request
 * with EIO at once; nothing here ever blocks the main loop after the (bounded) connect.
 */
#include "block/nbd-driver.h"

#include "block/nbd-client.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

typedef struct NbdDriverState {
    NbdClient *client;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    char *filename;
    GMutex lock; /* guards NbdCall.done */
    GCond cond;
} NbdDriverState;

typedef enum { CALL_READ, CALL_WRITE, CALL_FLUSH, CALL_TRIM, CALL_ZEROES } CallOp;

typedef struct NbdCall {
    NbdDriverState *s;
    CallOp op;
    uint64_t offset;
    uint32_t length;
    void *buf;
    bool flag; /* WRITE: FUA; ZEROES: may trim */
    int ret;
    bool done;
} NbdCall;

static const char *const nbd_options[] = {
    "server.type",
    "server.host",
    "server.port",
    "server.numeric",
    "server.to",
    "server.ipv4",
    "server.ipv6",
    "server.keep-alive",
    "server.mptcp",
    "server.path",
    "server.abstract",
    "server.tight",
    "server.str",
    "host",
    "port",
    "path",
    "export",
    "tls-creds",
    "filename",
    NULL,
};

static gpointer nbd_thread(gpointer opaque)
{
    NbdDriverState *s = opaque;
    g_main_context_push_thread_default(s->ctx);
    g_main_loop_run(s->loop);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

/* ---- one request: queued on the nbd thread, waited for on the worker ---- */

static void call_done(void *opaque, int ret)
{
    NbdCall *call = opaque;
    NbdDriverState *s = call->s;
    g_mutex_lock(&s->lock);
    call->ret = ret;
    call->done = true;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

static gboolean call_start(gpointer opaque)
{
    NbdCall *call = opaque;
    NbdClient *c = call->s->client;
    switch (call->op) {
    case CALL_READ:
        nbd_client_read(c, call->offset, call->length, call->buf, call_done, call);
        break;
    case CALL_WRITE:
        nbd_client_write(c, call->offset, call->length, call->buf, call->flag, call_done, call);
        break;
    case CALL_FLUSH:
        nbd_client_flush(c, call_done, call);
        break;
    case CALL_TRIM:
        nbd_client_trim(c, call->offset, call->length, call_done, call);
        break;
    case CALL_ZEROES:
        nbd_client_write_zeroes(c, call->offset, call->length, call->flag, call_done, call);
        break;
    }
    return G_SOURCE_REMOVE;
}

static int run_call(NbdDriverState *s, CallOp op, uint64_t offset, uint32_t length, void *buf,
                    bool flag)
{
    NbdCall call = {s, op, offset, length, buf, flag, 0, false};
    g_main_context_invoke(s->ctx, call_start, &call);
    g_mutex_lock(&s->lock);
    while (!call.done) {
        g_cond_wait(&s->cond, &s->lock);
    }
    g_mutex_unlock(&s->lock);
    return call.ret;
}

/* Requests larger than one NBD request may carry are split. */
static int run_chunked(NbdDriverState *s, CallOp op, uint64_t offset, uint64_t bytes, void *buf,
                       bool flag)
{
    const uint64_t max = (op == CALL_READ || op == CALL_WRITE) ? NBD_MAX_BUFFER_SIZE : 1u << 30;
    while (bytes) {
        uint32_t n = MIN(bytes, max);
        int ret = run_call(s, op, offset, n, buf, flag);
        if (ret < 0) {
            return ret;
        }
        offset += n;
        bytes -= n;
        if (buf) {
            buf = (uint8_t *)buf + n;
        }
    }
    return 0;
}

static int nbd_pread(BlockDriverState *bs, uint64_t offset, uint64_t bytes, void *buf)
{
    return run_chunked(bs->opaque, CALL_READ, offset, bytes, buf, false);
}

static int nbd_pwrite(BlockDriverState *bs, uint64_t offset, uint64_t bytes, const void *buf,
                      int flags)
{
    return run_chunked(bs->opaque, CALL_WRITE, offset, bytes, (void *)buf, flags & BDRV_REQ_FUA);
}

static int nbd_flush(BlockDriverState *bs)
{
    NbdDriverState *s = bs->opaque;
    if (!(nbd_client_flags(s->client) & NBD_FLAG_SEND_FLUSH)) {
        return 0; /* the server has no cache to flush */
    }
    return run_call(s, CALL_FLUSH, 0, 0, NULL, false);
}

static int nbd_discard(BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    NbdDriverState *s = bs->opaque;
    if (!(nbd_client_flags(s->client) & NBD_FLAG_SEND_TRIM)) {
        return 0; /* a hint the server does not take */
    }
    return run_chunked(s, CALL_TRIM, offset, bytes, NULL, false);
}

static int nbd_write_zeroes(BlockDriverState *bs, uint64_t offset, uint64_t bytes, int flags)
{
    NbdDriverState *s = bs->opaque;
    if (!(nbd_client_flags(s->client) & NBD_FLAG_SEND_WRITE_ZEROES)) {
        return -ENOTSUP; /* the block layer writes zeroes instead */
    }
    return run_chunked(s, CALL_ZEROES, offset, bytes, NULL, flags & BDRV_REQ_MAY_UNMAP);
}

static int64_t nbd_getlength(BlockDriverState *bs)
{
    NbdDriverState *s = bs->opaque;
    return nbd_client_size(s->client);
}

static const char *nbd_filename(BlockDriverState *bs)
{
    NbdDriverState *s = bs->opaque;
    return s->filename;
}

/* The pseudo file name upstream shows for the node (query-block's "file"). */
static char *make_filename(const SocketAddr *addr, GHashTable *opts)
{
    const char *export = g_hash_table_lookup(opts, "export");
    if (addr->kind == SOCKET_ADDR_UNIX) {
        return export ? g_strdup_printf("nbd+unix:///%s?socket=%s", export, addr->path)
                      : g_strdup_printf("nbd+unix://?socket=%s", addr->path);
    }
    if (addr->kind == SOCKET_ADDR_INET && !strchr(addr->host, ':')) {
        return export ? g_strdup_printf("nbd://%s:%s/%s", addr->host, addr->port, export)
                      : g_strdup_printf("nbd://%s:%s", addr->host, addr->port);
    }
    return g_strdup("");
}

/* -blockdev goes by upstream's schema, which has "server" and none of -drive's legacy keys. */
static bool schema_check(GHashTable *opts, GError **errp)
{
    if (!g_hash_table_contains(opts, "server.type")) {
        error_setg(errp, "Parameter 'server%s' is missing",
                   bdrv_opts_has_prefix(opts, "server") ? ".type" : "");
        return false;
    }
    static const char *const legacy[] = {"host", "port", "path", "filename", NULL};
    for (const char *const *k = legacy; *k; k++) {
        if (g_hash_table_contains(opts, *k)) {
            error_setg(errp, "Parameter '%s' is unexpected", *k);
            return false;
        }
    }
    return true;
}

static bool nbd_open(BlockDriverState *bs, GHashTable *opts, GError **errp)
{
    NbdDriverState *s = bs->opaque;
    g_autofree char *export = NULL;
    if (!bs->drive_style && !schema_check(opts, errp)) {
        return false;
    }
    if (!nbd_client_parse_filename(opts, errp)) {
        return false;
    }
    g_autoptr(SocketAddr) addr = nbd_client_parse_options(opts, &export, errp);
    if (!addr) {
        return false;
    }
    s->client = nbd_client_connect(addr, export, errp);
    if (!s->client) {
        return false;
    }
    if ((nbd_client_flags(s->client) & NBD_FLAG_READ_ONLY) && !bs->read_only) {
        if (!bs->auto_read_only) {
            error_setg_errno(errp, EACCES, "Could not open image");
            return false;
        }
        bs->read_only = true;
    }
    s->filename = make_filename(addr, opts);
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    nbd_client_set_context(s->client, s->ctx);
    s->thread = g_thread_new("nbd", nbd_thread, s);
    return true;
}

static gboolean quit_loop(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_REMOVE;
}

static void nbd_close(BlockDriverState *bs)
{
    NbdDriverState *s = bs->opaque;
    if (s->thread) {
        /* No request is in flight: a node closes on its last reference. */
        g_main_context_invoke(s->ctx, quit_loop, s->loop);
        g_thread_join(s->thread);
        s->thread = NULL;
    }
    if (s->client) {
        nbd_client_close(s->client);
        s->client = NULL;
    }
    if (s->ctx) {
        g_main_loop_unref(s->loop);
        g_main_context_unref(s->ctx);
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->cond);
        s->ctx = NULL;
    }
    g_free(s->filename);
    s->filename = NULL;
}

static const char *const nbd_protocols[] = {"nbd", "nbd+tcp", "nbd+unix", NULL};

const BlockDriver bdrv_nbd = {
    .format_name = "nbd",
    .protocols = nbd_protocols,
    .kind = BLOCK_DRIVER_PROTOCOL,
    .options = nbd_options,
    .state_size = sizeof(NbdDriverState),
    .open = nbd_open,
    .close = nbd_close,
    .pread = nbd_pread,
    .pwrite = nbd_pwrite,
    .flush = nbd_flush,
    .discard = nbd_discard,
    .write_zeroes = nbd_write_zeroes,
    .getlength = nbd_getlength,
    .filename = nbd_filename,
};
