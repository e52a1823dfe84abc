/*
 * An NBD client for the block layer's nbd protocol driver (COLO's primary writes to the
 * secondary's export through it).
 *
 *   nbd_client_connect():  connect, handshake (fixed newstyle; NBD_OPT_GO, or EXPORT_NAME for
 *                          servers without it) -- blocking, bounded by a timeout
 *   requests:              queued and sent from the main loop; replies matched by cookie and
 *                          completed there, in any order
 *   peer lost / protocol broken --> every request in flight and every later one fails with -EIO
 *
 * Only simple replies are negotiated: READ data follows its reply header.
 */
#ifndef BLOCK_NBD_CLIENT_H
#define BLOCK_NBD_CLIENT_H

#include "block/nbd.h"
#include "util/sockets.h"

typedef struct NbdClient NbdClient;

/* Seconds that connecting and the handshake may take before the open fails. */
#define NBD_CLIENT_OPEN_TIMEOUT 30

/*
 * The address and export name of the nbd driver's flat options ("server.type=inet,
 * server.host=H,server.port=P,export=E", or the legacy "host=H,port=P" / "path=P"), checked and
 * worded as upstream 7.2. NULL with errp set when they are wrong or incomplete.
 */
SocketAddr *nbd_client_parse_options(GHashTable *opts, char **export, GError **errp);
/*
 * -drive's file=nbd://H[:P][/E] (also nbd+tcp://, nbd+unix:///E?socket=S and the legacy
 * nbd:H:P[:exportname=E], nbd:unix:S[:exportname=E]): takes "filename" out of @opts and puts the
 * keys it stands for in (host, port, path, export), for nbd_client_parse_options().
 */
bool nbd_client_parse_filename(GHashTable *opts, GError **errp);

/* Connects to @export ("" is the default export) at @addr; errors in QEMU 7.2's wording. */
NbdClient *nbd_client_connect(const SocketAddr *addr, const char *export, GError **errp);
/* Fails every request still in flight with -EIO (their callbacks run before it returns). */
void nbd_client_close(NbdClient *c);

uint64_t nbd_client_size(NbdClient *c);
/* The export's transmission flags (NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_FLUSH, ...). */
uint16_t nbd_client_flags(NbdClient *c);
/* FALSE once the peer is gone: requests fail at once. */
gboolean nbd_client_connected(NbdClient *c);
/* Before the first request: the context whose thread runs the requests and their completions
 * (the nbd driver's own thread); the default main context otherwise. */
void nbd_client_set_context(NbdClient *c, GMainContext *ctx);

/* Each completes with 0 or a negative errno on the main context, never before it returns. */
void nbd_client_read(NbdClient *c, uint64_t offset, uint32_t length, void *buf, NbdIoDone done,
                     void *opaque);
void nbd_client_write(NbdClient *c, uint64_t offset, uint32_t length, const void *buf, bool fua,
                      NbdIoDone done, void *opaque);
void nbd_client_flush(NbdClient *c, NbdIoDone done, void *opaque);
void nbd_client_trim(NbdClient *c, uint64_t offset, uint32_t length, NbdIoDone done, void *opaque);
void nbd_client_write_zeroes(NbdClient *c, uint64_t offset, uint32_t length, bool may_trim,
                             NbdIoDone done, void *opaque);

#endif
