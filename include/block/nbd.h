/*
 * The NBD protocol (fixed newstyle), as the NetworkBlockDevice project's doc/proto.md defines it:
 * wire constants, encoders and decoders, and the server's per-connection state machine.
 *
 * Nothing here touches a socket. A server session is fed the bytes it received and hands back
 * the bytes to send, so the same code runs behind a socket (block/nbd-server.c), in unit tests
 * and under the fuzzer. Every length on the wire is checked before it is used.
 *
 * A connection, server side:
 *
 *   greeting --> client flags --+--> option --> reply(s) --+--> option ...
 *   (NBDMAGIC    (32 bits;      |   (IHAVEOPT, opt, len,    |
 *    IHAVEOPT     unknown bits  |    data <= 64 KiB)        +--EXPORT_NAME / GO accepted-->
 *    flags)       close)        |                           |     transmission
 *                               +--ABORT, bad magic, EOF----+--> closed
 *
 *   transmission:  request (28 bytes [+ WRITE payload]) --> export op --> reply when it completes
 *                  (replies may leave out of order)        DISC or EOF --> closed once idle
 */
#ifndef BLOCK_NBD_H
#define BLOCK_NBD_H

#include <glib.h>
#include <glib-unix.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- wire constants ---- */

#define NBD_DEFAULT_PORT 10809

#define NBD_INIT_MAGIC             0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC             0x49484156454f5054ULL /* "IHAVEOPT" */
#define NBD_REP_MAGIC              0x0003e889045565a9ULL
#define NBD_REQUEST_MAGIC          0x25609513U
#define NBD_SIMPLE_REPLY_MAGIC     0x67446698U
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efU

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE   (1 << 0)
#define NBD_FLAG_NO_ZEROES        (1 << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES      NBD_FLAG_NO_ZEROES

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS         (1 << 0)
#define NBD_FLAG_READ_ONLY         (1 << 1)
#define NBD_FLAG_SEND_FLUSH        (1 << 2)
#define NBD_FLAG_SEND_FUA          (1 << 3)
#define NBD_FLAG_ROTATIONAL        (1 << 4)
#define NBD_FLAG_SEND_TRIM         (1 << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1 << 6)
#define NBD_FLAG_SEND_DF           (1 << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1 << 8)
#define NBD_FLAG_SEND_CACHE        (1 << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1 << 11)

enum {
    NBD_OPT_EXPORT_NAME = 1,
    NBD_OPT_ABORT = 2,
    NBD_OPT_LIST = 3,
    NBD_OPT_STARTTLS = 5,
    NBD_OPT_INFO = 6,
    NBD_OPT_GO = 7,
    NBD_OPT_STRUCTURED_REPLY = 8,
    NBD_OPT_LIST_META_CONTEXT = 9,
    NBD_OPT_SET_META_CONTEXT = 10,
};

#define NBD_REP_ERR(n) ((1U << 31) | (n))
enum {
    NBD_REP_ACK = 1,
    NBD_REP_SERVER = 2,
    NBD_REP_INFO = 3,
    NBD_REP_META_CONTEXT = 4,
    NBD_REP_ERR_UNSUP = NBD_REP_ERR(1),
    NBD_REP_ERR_POLICY = NBD_REP_ERR(2),
    NBD_REP_ERR_INVALID = NBD_REP_ERR(3),
    NBD_REP_ERR_PLATFORM = NBD_REP_ERR(4),
    NBD_REP_ERR_TLS_REQD = NBD_REP_ERR(5),
    NBD_REP_ERR_UNKNOWN = NBD_REP_ERR(6),
    NBD_REP_ERR_SHUTDOWN = NBD_REP_ERR(7),
    NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_ERR(8),
    NBD_REP_ERR_TOO_BIG = NBD_REP_ERR(9),
};

enum {
    NBD_INFO_EXPORT = 0,
    NBD_INFO_NAME = 1,
    NBD_INFO_DESCRIPTION = 2,
    NBD_INFO_BLOCK_SIZE = 3,
};

enum {
    NBD_CMD_READ = 0,
    NBD_CMD_WRITE = 1,
    NBD_CMD_DISC = 2,
    NBD_CMD_FLUSH = 3,
    NBD_CMD_TRIM = 4,
    NBD_CMD_CACHE = 5,
    NBD_CMD_WRITE_ZEROES = 6,
    NBD_CMD_BLOCK_STATUS = 7,
};

#define NBD_CMD_FLAG_FUA       (1 << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1 << 1)
#define NBD_CMD_FLAG_DF        (1 << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1 << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1 << 4)

#define NBD_REPLY_FLAG_DONE (1 << 0)
enum {
    NBD_REPLY_TYPE_NONE = 0,
    NBD_REPLY_TYPE_OFFSET_DATA = 1,
    NBD_REPLY_TYPE_OFFSET_HOLE = 2,
    NBD_REPLY_TYPE_BLOCK_STATUS = 5,
    NBD_REPLY_TYPE_ERROR = (1 << 15) + 1,
    NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2,
};

/* The one metadata context served: every extent is reported allocated data (status 0). */
#define NBD_META_BASE_ALLOCATION    "base:allocation"
#define NBD_META_ID_BASE_ALLOCATION 0

/* Error values on the wire (the protocol's own numbering, not the host's errno). */
enum {
    NBD_SUCCESS = 0,
    NBD_EPERM = 1,
    NBD_EIO = 5,
    NBD_ENOMEM = 12,
    NBD_EINVAL = 22,
    NBD_ENOSPC = 28,
    NBD_EOVERFLOW = 75,
    NBD_ENOTSUP = 95,
    NBD_ESHUTDOWN = 108,
};

/* Sizes on the wire and the limits this implementation keeps. */
#define NBD_REQUEST_SIZE          28
#define NBD_SIMPLE_REPLY_SIZE     16
#define NBD_STRUCTURED_REPLY_SIZE 20
#define NBD_OPT_HEADER_SIZE       16
#define NBD_OPT_REPLY_HEADER_SIZE 20
#define NBD_MAX_STRING_SIZE       4096        /* an export name or description */
#define NBD_MAX_OPTION_SIZE       (64 * 1024) /* longer option data is refused and the peer dropped */
#define NBD_MAX_BUFFER_SIZE       (32 * 1024 * 1024) /* largest READ or WRITE payload, as upstream */
#define NBD_MAX_OPTIONS           1024 /* options in one handshake before the server gives up */

/* ---- encoding and decoding ---- */

typedef struct NbdRequest {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
} NbdRequest;

typedef struct NbdSimpleReply {
    uint32_t error;
    uint64_t cookie;
} NbdSimpleReply;

typedef struct NbdStructuredReply {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint32_t length;
} NbdStructuredReply;

typedef struct NbdOptReply {
    uint32_t option;
    uint32_t type;
    uint32_t length;
} NbdOptReply;

void nbd_put_u16(GByteArray *out, uint16_t v);
void nbd_put_u32(GByteArray *out, uint32_t v);
void nbd_put_u64(GByteArray *out, uint64_t v);
uint16_t nbd_get_u16(const uint8_t *p);
uint32_t nbd_get_u32(const uint8_t *p);
uint64_t nbd_get_u64(const uint8_t *p);

void nbd_encode_request(GByteArray *out, const NbdRequest *req);
/* FALSE when the magic is wrong: the stream is out of step and must be dropped. */
gboolean nbd_decode_request(const uint8_t buf[NBD_REQUEST_SIZE], NbdRequest *req);
void nbd_encode_simple_reply(GByteArray *out, uint32_t error, uint64_t cookie);
void nbd_encode_structured_header(GByteArray *out, uint16_t flags, uint16_t type, uint64_t cookie,
                                  uint32_t length);
void nbd_encode_opt_reply(GByteArray *out, uint32_t option, uint32_t type, const void *data,
                          uint32_t length);

/* Host errno (positive) to the wire's error values; anything unknown is EINVAL, as upstream. */
uint32_t nbd_errno_to_wire(int err);
/* The wire's error value to a host errno; unknown values are EINVAL. */
int nbd_wire_to_errno(uint32_t err);
const char *nbd_cmd_name(uint16_t type);
const char *nbd_opt_name(uint32_t opt);
const char *nbd_rep_name(uint32_t rep);

/*
 * Keeps *@tag watching @fd for @cond while @want holds: adds the watch (on the default main
 * context) or removes it. The server's connections and the client share it.
 */
void nbd_fd_watch(guint *tag, int fd, bool want, GIOCondition cond, GUnixFDSourceFunc fn,
                  void *opaque);

/* ---- what a server exports ---- */

/* @ret: 0 or a negative errno. */
typedef void (*NbdIoDone)(void *opaque, int ret);

/*
 * The operations behind an export. Each completes by calling @done exactly once, before it
 * returns or later on the same main context. @buf stays valid until then.
 */
typedef struct NbdExportOps {
    void (*read)(void *opaque, uint64_t offset, uint32_t length, void *buf, NbdIoDone done,
                 void *done_opaque);
    void (*write)(void *opaque, uint64_t offset, uint32_t length, const void *buf, bool fua,
                  NbdIoDone done, void *done_opaque);
    void (*flush)(void *opaque, NbdIoDone done, void *done_opaque);
    /* NULL when the export cannot discard; then TRIM succeeds and does nothing. */
    void (*trim)(void *opaque, uint64_t offset, uint32_t length, NbdIoDone done, void *done_opaque);
    /* NULL: the session writes a zeroed buffer instead. */
    void (*write_zeroes)(void *opaque, uint64_t offset, uint32_t length, bool may_trim,
                         NbdIoDone done, void *done_opaque);
    /* Drops what the export holds (the node's reference) when its last user is gone. */
    void (*release)(void *opaque);
} NbdExportOps;

/* Shared by the export list and by every session that opened it: refcounted. */
typedef struct NbdExport {
    int refcount;
    char *name;
    char *description; /* may be NULL */
    uint64_t size;
    bool writable;
    bool removed; /* no longer listed: sessions still using it finish their requests */
    const NbdExportOps *ops;
    void *opaque;
} NbdExport;

NbdExport *nbd_export_new(const char *name, const char *description, uint64_t size, bool writable,
                          const NbdExportOps *ops, void *opaque);
NbdExport *nbd_export_ref(NbdExport *exp);
void nbd_export_unref(NbdExport *exp);
/* The transmission flags a client of @exp is told (@structured: structured replies agreed). */
uint16_t nbd_export_tx_flags(const NbdExport *exp, bool structured);

/* ---- a server session: one client connection, without the socket ---- */

typedef struct NbdSession NbdSession;

typedef struct NbdSessionHooks {
    /* The export named @name (a new reference), or NULL. */
    NbdExport *(*lookup)(void *opaque, const char *name);
    /* Every export, for NBD_OPT_LIST: a GPtrArray of new references (freed by the session). */
    GPtrArray *(*list)(void *opaque);
    /* New bytes wait in the output buffer: the owner should start writing. May be NULL. */
    void (*output_ready)(void *opaque);
} NbdSessionHooks;

NbdSession *nbd_session_new(const NbdSessionHooks *hooks, void *opaque);
/* Drops the owner's reference; requests in flight keep the session alive until they complete. */
void nbd_session_free(NbdSession *s);
/* Bytes received from the client. Processes what it can; the rest waits in the session. */
void nbd_session_feed(NbdSession *s, const void *buf, size_t len);
/* The client hung up: no more input. */
void nbd_session_eof(NbdSession *s);
/* Bytes waiting to be sent, and how many of them were sent. */
const uint8_t *nbd_session_output(NbdSession *s, size_t *len);
void nbd_session_consume_output(NbdSession *s, size_t len);
/* FALSE while enough input or requests are pending: stop reading from the socket. */
gboolean nbd_session_wants_input(NbdSession *s);
/* The connection is over once the output is sent (protocol error, ABORT, DISC, EOF). */
gboolean nbd_session_closing(NbdSession *s);
/* No request is in flight and nothing is left to send. */
gboolean nbd_session_idle(NbdSession *s);
/* The export in use once in transmission (borrowed), or NULL. */
NbdExport *nbd_session_export(NbdSession *s);
/* Stops at once: input is ignored, pending output dropped (nbd-server-remove mode=hard). */
void nbd_session_abort(NbdSession *s);

#endif
