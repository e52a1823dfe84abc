/*
 * The monitor's side of the COLO proxy: net/'s colo-compare reports miscompares through a hook,
 * and the composition root (system/vl.c) points that hook here, so net/ never calls up.
 *
 *   colo-compare (iothread) --hook--> monitor_colo_compare_event --main loop--> QMP clients
 */
#ifndef MONITOR_COLO_H
#define MONITOR_COLO_H

#include "net/colo-compare.h"

/* A ColoCompareEventFunc: sends COLO_COMPARE_MISCOMPARE from the main loop. Any thread. */
void monitor_colo_compare_event(const char *id, ColoCheckpointReason reason, ColoProtoClass cls,
                                const ColoConnKey *key);

#endif
