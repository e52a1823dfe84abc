/*
 * The NBD server that QMP's nbd-server-* commands drive: one listener on the main loop, a list
 * of exports by name, and one NbdSession (include/block/nbd.h) per client connection.
 *
 *   listen fd --G_IO_IN--> accept --> connection { fd, session }
 *                                       G_IO_IN  --> nbd_session_feed()   (while it wants input)
 *                                       G_IO_OUT --> send the session's output
 *                                       closing and idle, or peer gone --> dropped
 *
 * Exports come from the block layer through NbdDeviceHooks; until it registers them, every
 * device is unknown, as upstream words it.
 */
#ifndef BLOCK_NBD_SERVER_H
#define BLOCK_NBD_SERVER_H

#include "block/nbd.h"
#include "util/sockets.h"

typedef struct NbdDeviceHooks {
    /*
     * A new export of @device (a drive id or node name) called @name: size, operations and the
     * reference it holds. NULL with errp set when there is no such device or it cannot be
     * exported as asked.
     */
    NbdExport *(*open)(const char *device, const char *name, const char *description, bool writable,
                       GError **errp);
    /* The names of every device that HMP's nbd_server_start -a exports (GPtrArray of char *). */
    GPtrArray *(*list)(void);
} NbdDeviceHooks;

void nbd_server_set_device_hooks(const NbdDeviceHooks *hooks);
/* The device names nbd_server_start -a exports (empty without device hooks). */
GPtrArray *nbd_server_list_devices(void);

gboolean nbd_server_is_running(void);
/* @max_connections: 0 for unlimited. TLS ids are refused: there are no credentials objects. */
gboolean nbd_server_start(const SocketAddr *addr, const char *tls_creds, const char *tls_authz,
                          uint32_t max_connections, GError **errp);
/* The address listened on (the port chosen when 0 was asked), or NULL. */
const SocketAddr *nbd_server_addr(void);
/* Opens @device through the device hooks and adds it; @name NULL: the device's name. */
gboolean nbd_server_add(const char *device, const char *name, const char *description,
                        bool writable, GError **errp);
/* Adds an export built by the caller (takes the reference). */
gboolean nbd_server_add_export(NbdExport *exp, GError **errp);
/* @hard: disconnect its clients first; otherwise refused while clients use it. */
gboolean nbd_server_remove(const char *name, bool hard, GError **errp);
gboolean nbd_server_stop(GError **errp);
/* Connected clients (for tests and max-connections). */
guint nbd_server_connection_count(void);

/* Called with an export's name when it is gone (QMP's BLOCK_EXPORT_DELETED). */
void nbd_server_set_deleted_notify(void (*fn)(const char *name));

/* An export over a buffer in memory, as tests and the fuzzer use it (@data is taken). */
NbdExport *nbd_memory_export_new(const char *name, uint8_t *data, uint64_t size, bool writable);

#endif
