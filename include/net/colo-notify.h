/*
 * colo-compare's notify_dev channel, by which Xen's COLO frame and colo-compare talk. Each
 * message is one frame (include/net/frame.h) whose DATA is the exact text, without NUL:
 *
 *   COLO frame                              colo-compare
 *       |---- COLO_USERSPACE_PROXY_INIT ------->|
 *       |<--- COLO_COMPARE_GET_XEN_INIT --------|
 *       |              ...                      |
 *       |<--- DO_CHECKPOINT --------------------|  a mismatch or a timed-out packet
 *       |---- COLO_CHECKPOINT ----------------->|  checkpoint done: queued primary packets
 *       |                                       |  are released, secondary ones dropped
 *
 * Anything else that arrives is "unsupported" (counted and reported). As upstream, the frames
 * colo-compare receives carry a VHDR word when vnet_hdr_support=on, while the frames it sends
 * never do (upstream-colo.md 1.2).
 */
#ifndef NET_COLO_NOTIFY_H
#define NET_COLO_NOTIFY_H

#include <glib.h>

G_BEGIN_DECLS

#define COLO_NOTIFY_PROXY_INIT       "COLO_USERSPACE_PROXY_INIT"
#define COLO_NOTIFY_PROXY_INIT_REPLY "COLO_COMPARE_GET_XEN_INIT"
#define COLO_NOTIFY_DO_CHECKPOINT    "DO_CHECKPOINT"
#define COLO_NOTIFY_CHECKPOINT_DONE  "COLO_CHECKPOINT"

typedef enum {
    COLO_NOTIFY_MSG_PROXY_INIT,      /* answer COLO_NOTIFY_PROXY_INIT_REPLY */
    COLO_NOTIFY_MSG_CHECKPOINT_DONE, /* flush every connection */
    COLO_NOTIFY_MSG_UNSUPPORTED,
} ColoNotifyMsg;

/* What the DATA of one frame received on notify_dev asks for. */
ColoNotifyMsg colo_notify_parse(const guint8 *data, guint32 len);

/* Appends @msg as one frame for notify_dev (never with a VHDR word). */
void colo_notify_append(GByteArray *out, const char *msg);

G_END_DECLS

#endif
