/*
 * The "colo-compare" user object: the engine (include/net/colo-compare-engine.h) wired to four
 * chardevs and run wholly in its iothread.
 *
 *   primary_in ---frames--+                    +--frames--> outdev
 *                         +-- engine (iothread)+
 *   secondary_in -frames--+                    +--"DO_CHECKPOINT"--> notify_dev (Xen COLO)
 *                                              +--> checkpoint notifiers (COLO frame)
 *   notify_dev --"COLO_CHECKPOINT"--> flush;  "COLO_USERSPACE_PROXY_INIT" --> reply
 *
 * Released frames produced while handling one read are written to outdev in one write, in the
 * order the engine released them.
 */
#ifndef NET_COLO_COMPARE_H
#define NET_COLO_COMPARE_H

#include <glib.h>
#include "net/colo-compare-engine.h"
#include "net/colo-passthrough.h"
#include "qom/object.h"

G_BEGIN_DECLS

#define TYPE_COLO_COMPARE (colo_compare_get_type())
G_DECLARE_FINAL_TYPE(ColoCompare, colo_compare, COLO, COMPARE, QomObject)

void colo_compare_register_types(void);

/* Counters beyond the engine's: what the object itself lost or refused. */
typedef struct ColoCompareObjStats {
    ColoCompareStats engine;
    guint connections;
    guint queued[COLO_SIDE__MAX];
    guint64 send_failures;       /* released frames that outdev did not take */
    guint64 notify_failures;     /* DO_CHECKPOINT messages notify_dev did not take */
    guint64 notify_unsupported;  /* unknown messages on notify_dev */
    guint64 frames_oversized[3]; /* per input: primary, secondary, notify */
    guint64 frames_malformed[3];
    guint64 events_suppressed; /* miscompare events not emitted (rate limit) */
} ColoCompareObjStats;

/* The colo-compare object with this id, or NULL. */
ColoCompare *colo_compare_find(const char *id);
/* Every colo-compare object (borrowed pointers); caller frees the array. */
GPtrArray *colo_compare_list(void);
const char *colo_compare_get_id(ColoCompare *s);
/* A consistent snapshot, taken on the object's iothread. */
void colo_compare_get_stats(ColoCompare *s, ColoCompareObjStats *out);
ColoPassthrough *colo_compare_get_passthrough(ColoCompare *s);

/*
 * Checkpoint requests, for the COLO frame: called on the compare's iothread whenever a compare
 * object wants a checkpoint and has no notify_dev. Requests repeat until the checkpoint happens.
 */
typedef void (*ColoCompareNotifyFunc)(void *opaque, ColoCompare *s, ColoCheckpointReason reason);
void colo_compare_register_notifier(ColoCompareNotifyFunc fn, void *opaque);
void colo_compare_unregister_notifier(ColoCompareNotifyFunc fn, void *opaque);

/*
 * The checkpoint is done (COLO_EVENT_CHECKPOINT): every compare object releases its queued
 * primary packets and drops its queued secondary packets. Returns when all have finished.
 */
void colo_compare_checkpoint_all(void);

/*
 * A miscompare, for the QMP event COLO_COMPARE_MISCOMPARE: the composition root sets the
 * monitor's hook (net/ never calls up into its command layer). Called on the compare's iothread,
 * at most a few times per second per object.
 */
typedef void (*ColoCompareEventFunc)(const char *id, ColoCheckpointReason reason,
                                     ColoProtoClass cls, const ColoConnKey *key);
void colo_compare_set_event_hook(ColoCompareEventFunc fn);

G_END_DECLS

#endif
