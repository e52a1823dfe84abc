/*
 * The monitor's side of the quorum driver: block/quorum.c reports bad children and failed
 * requests through a hook, and system/vl.c points it here (block/ never calls up).
 *
 *   quorum request on a worker --event--> main context --> monitor_quorum_event --> QMP clients
 */
#ifndef MONITOR_QUORUM_H
#define MONITOR_QUORUM_H

#include "block/quorum.h"

/* Sends QUORUM_REPORT_BAD or QUORUM_FAILURE. */
void monitor_quorum_event(const QuorumEvent *ev);

#endif
