/*
 * NBD wire encoding: big-endian integers, requests, replies, option replies, error numbers,
 * and the refcounted export that a server offers.
 */
#include "block/nbd.h"

#include <errno.h>
#include <string.h>

void nbd_put_u16(GByteArray *out, uint16_t v)
{
    uint16_t be = GUINT16_TO_BE(v);
    g_byte_array_append(out, (const guint8 *)&be, sizeof(be));
}

void nbd_put_u32(GByteArray *out, uint32_t v)
{
    uint32_t be = GUINT32_TO_BE(v);
    g_byte_array_append(out, (const guint8 *)&be, sizeof(be));
}

void nbd_put_u64(GByteArray *out, uint64_t v)
{
    uint64_t be = GUINT64_TO_BE(v);
    g_byte_array_append(out, (const guint8 *)&be, sizeof(be));
}

uint16_t nbd_get_u16(const uint8_t *p)
{
    uint16_t be;
    memcpy(&be, p, sizeof(be));
    return GUINT16_FROM_BE(be);
}

uint32_t nbd_get_u32(const uint8_t *p)
{
    uint32_t be;
    memcpy(&be, p, sizeof(be));
    return GUINT32_FROM_BE(be);
}

uint64_t nbd_get_u64(const uint8_t *p)
{
    uint64_t be;
    memcpy(&be, p, sizeof(be));
    return GUINT64_FROM_BE(be);
}

void nbd_encode_request(GByteArray *out, const NbdRequest *req)
{
    nbd_put_u32(out, NBD_REQUEST_MAGIC);
    nbd_put_u16(out, req->flags);
    nbd_put_u16(out, req->type);
    nbd_put_u64(out, req->cookie);
    nbd_put_u64(out, req->offset);
    nbd_put_u32(out, req->length);
}

gboolean nbd_decode_request(const uint8_t buf[NBD_REQUEST_SIZE], NbdRequest *req)
{
    if (nbd_get_u32(buf) != NBD_REQUEST_MAGIC) {
        return FALSE;
    }
    req->flags = nbd_get_u16(buf + 4);
    req->type = nbd_get_u16(buf + 6);
    req->cookie = nbd_get_u64(buf + 8);
    req->offset = nbd_get_u64(buf + 16);
    req->length = nbd_get_u32(buf + 24);
    return TRUE;
}

void nbd_encode_simple_reply(GByteArray *out, uint32_t error, uint64_t cookie)
{
    nbd_put_u32(out, NBD_SIMPLE_REPLY_MAGIC);
    nbd_put_u32(out, error);
    nbd_put_u64(out, cookie);
}

void nbd_encode_structured_header(GByteArray *out, uint16_t flags, uint16_t type, uint64_t cookie,
                                  uint32_t length)
{
    nbd_put_u32(out, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_put_u16(out, flags);
    nbd_put_u16(out, type);
    nbd_put_u64(out, cookie);
    nbd_put_u32(out, length);
}

void nbd_encode_opt_reply(GByteArray *out, uint32_t option, uint32_t type, const void *data,
                          uint32_t length)
{
    nbd_put_u64(out, NBD_REP_MAGIC);
    nbd_put_u32(out, option);
    nbd_put_u32(out, type);
    nbd_put_u32(out, length);
    if (length) {
        g_byte_array_append(out, data, length);
    }
}

uint32_t nbd_errno_to_wire(int err)
{
    switch (err) {
    case 0:
        return NBD_SUCCESS;
    case EPERM:
    case EROFS:
        return NBD_EPERM;
    case EIO:
        return NBD_EIO;
    case ENOMEM:
        return NBD_ENOMEM;
    case EDQUOT:
    case EFBIG:
    case ENOSPC:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    default:
        return NBD_EINVAL;
    }
}

int nbd_wire_to_errno(uint32_t err)
{
    switch (err) {
    case NBD_SUCCESS:
        return 0;
    case NBD_EPERM:
        return EPERM;
    case NBD_EIO:
        return EIO;
    case NBD_ENOMEM:
        return ENOMEM;
    case NBD_ENOSPC:
        return ENOSPC;
    case NBD_EOVERFLOW:
        return EOVERFLOW;
    case NBD_ENOTSUP:
        return ENOTSUP;
    case NBD_ESHUTDOWN:
        return ESHUTDOWN;
    default:
        return EINVAL;
    }
}

const char *nbd_cmd_name(uint16_t type)
{
    static const char *const names[] = {
        [NBD_CMD_READ] = "read",
        [NBD_CMD_WRITE] = "write",
        [NBD_CMD_DISC] = "disconnect",
        [NBD_CMD_FLUSH] = "flush",
        [NBD_CMD_TRIM] = "trim",
        [NBD_CMD_CACHE] = "cache",
        [NBD_CMD_WRITE_ZEROES] = "write zeroes",
        [NBD_CMD_BLOCK_STATUS] = "block status",
    };
    return type < G_N_ELEMENTS(names) ? names[type] : "<unknown>";
}

const char *nbd_opt_name(uint32_t opt)
{
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        return "export name";
    case NBD_OPT_ABORT:
        return "abort";
    case NBD_OPT_LIST:
        return "list";
    case NBD_OPT_STARTTLS:
        return "starttls";
    case NBD_OPT_INFO:
        return "info";
    case NBD_OPT_GO:
        return "go";
    case NBD_OPT_STRUCTURED_REPLY:
        return "structured reply";
    case NBD_OPT_LIST_META_CONTEXT:
        return "list meta context";
    case NBD_OPT_SET_META_CONTEXT:
        return "set meta context";
    default:
        return "<unknown>";
    }
}

const char *nbd_rep_name(uint32_t rep)
{
    switch (rep) {
    case NBD_REP_ACK:
        return "ack";
    case NBD_REP_SERVER:
        return "server";
    case NBD_REP_INFO:
        return "info";
    case NBD_REP_META_CONTEXT:
        return "meta context";
    case NBD_REP_ERR_UNSUP:
        return "unsupported";
    case NBD_REP_ERR_POLICY:
        return "denied by policy";
    case NBD_REP_ERR_INVALID:
        return "invalid";
    case NBD_REP_ERR_PLATFORM:
        return "platform lacks support";
    case NBD_REP_ERR_TLS_REQD:
        return "TLS required";
    case NBD_REP_ERR_UNKNOWN:
        return "export unknown";
    case NBD_REP_ERR_SHUTDOWN:
        return "server shutting down";
    case NBD_REP_ERR_BLOCK_SIZE_REQD:
        return "block size required";
    case NBD_REP_ERR_TOO_BIG:
        return "option payload too big";
    default:
        return "<unknown>";
    }
}

void nbd_fd_watch(guint *tag, int fd, bool want, GIOCondition cond, GUnixFDSourceFunc fn,
                  void *opaque)
{
    if (want && !*tag) {
        *tag = g_unix_fd_add(fd, cond, fn, opaque);
    } else if (!want && *tag) {
        g_source_remove(*tag);
        *tag = 0;
    }
}

NbdExport *nbd_export_new(const char *name, const char *description, uint64_t size, bool writable,
                          const NbdExportOps *ops, void *opaque)
{
    NbdExport *exp = g_new0(NbdExport, 1);
    exp->refcount = 1;
    exp->name = g_strdup(name);
    exp->description = g_strdup(description);
    exp->size = size;
    exp->writable = writable;
    exp->ops = ops;
    exp->opaque = opaque;
    return exp;
}

NbdExport *nbd_export_ref(NbdExport *exp)
{
    exp->refcount++;
    return exp;
}

void nbd_export_unref(NbdExport *exp)
{
    if (!exp || --exp->refcount > 0) {
        return;
    }
    if (exp->ops && exp->ops->release) {
        exp->ops->release(exp->opaque);
    }
    g_free(exp->name);
    g_free(exp->description);
    g_free(exp);
}

uint16_t nbd_export_tx_flags(const NbdExport *exp, bool structured)
{
    uint16_t flags =
        NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;
    if (exp->writable) {
        flags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    } else {
        /* Nothing changes under a reader, so several connections see the same data. */
        flags |= NBD_FLAG_READ_ONLY | NBD_FLAG_CAN_MULTI_CONN;
    }
    if (structured) {
        flags |= NBD_FLAG_SEND_DF;
    }
    return flags;
}
