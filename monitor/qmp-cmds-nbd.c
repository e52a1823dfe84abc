/*
 * QMP's nbd-server-start, nbd-server-add, nbd-server-remove and nbd-server-stop over the server
 * in block/nbd-server.c, with QEMU 7.2's wording, and the BLOCK_EXPORT_DELETED event that the
 * server reports through the hook system/vl.c points here.
 */
#include "block/nbd-server.h"
#include "monitor/nbd.h"

#include "qapi-commands.h"
#include "qapi-events.h"
#include "util/error.h"

static SocketAddr *addr_from_legacy(const SocketAddressLegacy *a, GError **errp)
{
    switch (a->type) {
    case SOCKET_ADDRESS_TYPE_INET: {
        const InetSocketAddress *in = a->u.inet.data;
        SocketAddr *addr = socket_addr_new_inet(in->host, in->port);
        if (in->has_to) {
            addr->to = in->to;
        }
        if (in->has_ipv4) {
            addr->ipv4 = in->ipv4 ? SOCKET_FLAG_ON : SOCKET_FLAG_OFF;
        }
        if (in->has_ipv6) {
            addr->ipv6 = in->ipv6 ? SOCKET_FLAG_ON : SOCKET_FLAG_OFF;
        }
        if (in->has_keep_alive) {
            addr->keep_alive = in->keep_alive ? SOCKET_FLAG_ON : SOCKET_FLAG_OFF;
        }
        return addr;
    }
    case SOCKET_ADDRESS_TYPE_Q_UNIX: {
        const UnixSocketAddress *un = a->u.q_unix.data;
        SocketAddr *addr = socket_addr_new_unix(un->path);
        addr->abstract = un->has_abstract && un->abstract;
        addr->tight = !un->has_tight || un->tight;
        return addr;
    }
    case SOCKET_ADDRESS_TYPE_FD:
        return socket_addr_new_fd(a->u.fd.data->str);
    default:
        error_setg(errp, "socket family vsock unsupported");
        return NULL;
    }
}

void monitor_nbd_export_deleted(const char *name)
{
    qapi_event_send_block_export_deleted(name);
}

void qmp_nbd_server_start(SocketAddressLegacy *addr, const char *tls_creds, const char *tls_authz,
                          bool has_max_connections, uint32_t max_connections, GError **errp)
{
    g_autoptr(SocketAddr) sa = addr_from_legacy(addr, errp);
    if (!sa) {
        return;
    }
    nbd_server_start(sa, tls_creds, tls_authz, has_max_connections ? max_connections : 0, errp);
}

void qmp_nbd_server_add(NbdServerAddOptions *arg, GError **errp)
{
    if (arg->bitmap) {
        error_setg(errp, "Bitmap '%s' is not found", arg->bitmap);
        return;
    }
    nbd_server_add(arg->device, arg->name, arg->description, arg->has_writable && arg->writable,
                   errp);
}

void qmp_nbd_server_remove(const char *name, bool has_mode, BlockExportRemoveMode mode,
                           GError **errp)
{
    nbd_server_remove(name, has_mode && mode == BLOCK_EXPORT_REMOVE_MODE_HARD, errp);
}

void qmp_nbd_server_stop(GError **errp)
{
    nbd_server_stop(errp);
}
