/*
 * The -netdev backends. Each init function reads its keys from @opts (see net/net-opts.h),
 * creates the client named @name peered with @peer (NULL for a -netdev), and reports errors in
 * upstream's wording.
 */
#ifndef NET_BACKENDS_H
#define NET_BACKENDS_H

#include "net/net.h"
#include "net/net-opts.h"
#include <sys/socket.h>

bool net_init_socket(NetOpts *opts, const char *name, NetClientState *peer, GError **errp);
bool net_init_tap(NetOpts *opts, const char *name, NetClientState *peer, GError **errp);
bool net_init_slirp(NetOpts *opts, const char *name, NetClientState *peer, GError **errp);
bool net_init_hubport(NetOpts *opts, const char *name, NetClientState *peer, GError **errp);

/* Creates one netdev from parsed options (shared by -netdev and netdev_add). */
bool net_client_init(NetOpts *opts, bool is_netdev, GError **errp);

#endif
