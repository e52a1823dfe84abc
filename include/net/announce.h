/*
 * Self-announcement: every NIC sends a RARP frame from its MAC address so that bridges and
 * switches learn the guest's new port (after a migration, or on QMP announce-self).
 *
 * The schedule, on the main loop's real-time clock (as QEMU 7.2 runs it):
 *
 *   t=0: round 1 ── gap initial ──> round 2 ── initial+step ──> round 3 ── initial+2*step ──> ...
 *        until @rounds rounds are sent; each gap is capped at @max (a negative gap counts as @max)
 *
 * A named schedule (announce-self's id; "" without one) restarts when announce-self names it
 * again; the one a migration starts is its own.
 */
#ifndef NET_ANNOUNCE_H
#define NET_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include "qapi-types.h"

/* The frame 7.2 sends: broadcast RARP (ethertype 0x8035) padded to the 60-byte minimum. */
#define ANNOUNCE_FRAME_LEN 60
void announce_build_rarp(const uint8_t mac[6], uint8_t frame[ANNOUNCE_FRAME_LEN]);

/* announce-self (monitor/qmp-cmds-net.c): starts or restarts the schedule named params->id. */
void announce_self_named(const AnnounceParameters *params);

/* Called by the migration code after a successful incoming load, with the announce-*
 * migration parameters. Restarts the schedule if one is running. */
void announce_self_after_migration(const AnnounceParameters *params);

/* Stops every schedule (process exit; tests). */
void announce_stop_all(void);

#endif
