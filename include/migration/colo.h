/*
 * The COLO frame: a migration that never ends. After the initial precopy (whose stream carries
 * a COLO record, include/migration/stream.h) the primary (P) and the secondary (S) both run the
 * guest, and at each checkpoint S takes P's whole state. P's COLO thread is the migration
 * thread, S's is the incoming thread; messages S -> P go on a return path (a dup of the same
 * socket, so exec: cannot carry COLO).
 *
 * Messages are be32 values of upstream's COLOMessage (spec 1.3). One checkpoint:
 *
 *   P (primary COLO thread)                         S (secondary COLO thread)
 *   ── initial stream loaded, S: cache = RAM, dirty log on, VM runs ──
 *                                          ◄── checkpoint-ready
 *   VM runs (status and run state colo / running)
 *   trigger: x-checkpoint-delay timer, a colo-compare request, a new delay
 *   checkpoint-request                     ──►  stop VM (STOP, run state colo)
 *                                          ◄── checkpoint-reply
 *   stop VM (STOP); on the main loop: the
 *   dirty pages copied aside, the device
 *   state saved (nothing moves meanwhile)
 *   vmstate-send, PAGE/ZERO records, END crc ──►  pages into the RAM cache only, each
 *                                                  one's bit set in the received bitmap
 *   vmstate-size, be64 N, N bytes, be32 crc  ──►  P's run state (be32) and the device
 *                                                  state into a buffer
 *                                          ◄── vmstate-received
 *   colo-compare flush (release P's held
 *   packets, drop S's)                              on the main loop, all at once:
 *                                                  device state checked, then every page
 *                                                  dirty in (received | S's own dirty log)
 *                                                  copied cache -> RAM, devices loaded,
 *                                                  filters hear CHECKPOINT, VM takes P's
 *                                                  run state (runs: RESUME)
 *                                          ◄── vmstate-loaded
 *   VM runs (RESUME)
 *
 * S touches guest RAM and devices only after the whole checkpoint arrived and checked out, and
 * then in one main-loop call: a stream cut half-way leaves S's own state whole (the cache may
 * be torn; it is dropped at failover).
 *
 * Failover (x-colo-lost-heartbeat on either side) wakes the COLO thread wherever it waits:
 *
 *   failover none ──request──► require ──thread──► active ──side done──► completed
 *   P: colo-compare releases what it holds, every filter hears FAILOVER (mirror and
 *      redirectors switch off), the VM runs, migration status completed, COLO_EXIT
 *   S: the cache is dropped, filters hear FAILOVER, the VM runs as a migrated VM
 *      (self-announce), incoming status completed, COLO_EXIT
 *
 * Guest life cycle: P checkpoints at once after a reset or a change of its run state; S
 * holds its own resets and power-offs until the next checkpoint (or a failover); a power-off
 * that ends P's process waits for one last checkpoint, after which S ends too.
 *
 * An error (the stream broken, an unexpected message) sends COLO_EXIT {reason: error} and
 * leaves the VM as it was; the side stays in COLO mode until a failover is asked for, as
 * upstream does: an outside manager decides which side survives.
 */
#ifndef MIGRATION_COLO_H
#define MIGRATION_COLO_H

#include <glib.h>
#include <stdbool.h>

#include "migration/channel.h"
#include "qapi-types.h"

typedef enum {
    COLO_MSG_CHECKPOINT_READY = 0,
    COLO_MSG_CHECKPOINT_REQUEST = 1,
    COLO_MSG_CHECKPOINT_REPLY = 2,
    COLO_MSG_VMSTATE_SEND = 3,
    COLO_MSG_VMSTATE_SIZE = 4,
    COLO_MSG_VMSTATE_RECEIVED = 5,
    COLO_MSG_VMSTATE_LOADED = 6,
    COLO_MSG__MAX = 7,
} ColoMessage;

/*
 * The secondary's checkpoint receiver: the part of the exchange above from vmstate-send to
 * the device state's CRC, parsed from the stream into the RAM cache and a buffer, nothing of
 * the guest touched (migration/colo-receive.c; fuzzed by tests/fuzz/fuzz-colo-receive.c).
 */
typedef struct ColoReceiver {
    guint8 *mem; /* the RAM cache, npages pages */
    uint64_t npages;
    uint64_t *received; /* one bit a page: received in this checkpoint */
    guint8 *devices;    /* the device state of the last checkpoint read (g_malloc'd) */
    gsize devices_len;
    uint32_t state; /* P's run state (a RunState) that the device state's header carries */
    struct MultifdRecv *multifd; /* pages may come on multifd's channels too (a SYNC waits) */
} ColoReceiver;

/* vmstate-size counts this be32 header (the primary's run state) before the device state. */
#define COLO_STATE_HEADER 4

/* One be32 message; refused past the last one upstream defines. */
bool colo_get_msg(MigChannel *c, ColoMessage *m, GError **errp);
bool colo_expect_msg(MigChannel *c, ColoMessage want, GError **errp);
/* vmstate-send, the pages (into the cache, each marked received), END and its CRC,
 * vmstate-size, the device state and its CRC. */
bool colo_receive_checkpoint(MigChannel *in, ColoReceiver *rx, GError **errp);

/* Makes capability x-colo accepted and listens to colo-compare's checkpoint requests. Called
 * once by the composition root. */
void colo_init(void);

/* primary while a migration is in status colo, secondary while an incoming one is. */
COLOMode colo_mode(void);

#endif
