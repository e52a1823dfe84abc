/*
 * Hubs: numbered broadcast domains. Every port is a net client whose peer is a netdev or a
 * NIC; a packet that arrives on one port leaves through every other port.
 *
 *   netdev A <-> port 0 ---+
 *                          hub 7 (-netdev hubport,id=p0,hubid=7,netdev=A)
 *   netdev B <-> port 1 ---+
 */
#ifndef NET_HUB_H
#define NET_HUB_H

#include "net/net.h"

/* A new port on hub @hub_id (created on first use), named @name (or "hub<N>port<M>"). */
NetClientState *net_hub_add_port(int hub_id, const char *name, NetClientState *hubpeer);
/* Flushes the queues of every other port of @port's hub; true if anything moved. */
bool net_hub_flush(NetClientState *port);
/* The hub id that @nc is a port of, or whose port @nc is peered with; -1 if none. */
int net_hub_id_for_client(NetClientState *nc);
/* "hub N\n \ port: peer-info\n..." for info network. */
void net_hub_info(GString *out, void (*print_client)(GString *, NetClientState *));
/* Warns "hub N with no nics" / "hub N is not connected to host network" as upstream does. */
void net_hub_check_clients(void);

#endif
