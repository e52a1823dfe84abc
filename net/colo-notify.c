/* The notify_dev messages of colo-compare (include/net/colo-notify.h). */
#include "net/colo-notify.h"
#include "net/frame.h"

#include <string.h>

static gboolean data_is(const guint8 *data, guint32 len, const char *text)
{
    return len == strlen(text) && memcmp(data, text, len) == 0;
}

ColoNotifyMsg colo_notify_parse(const guint8 *data, guint32 len)
{
    if (data_is(data, len, COLO_NOTIFY_PROXY_INIT)) {
        return COLO_NOTIFY_MSG_PROXY_INIT;
    }
    if (data_is(data, len, COLO_NOTIFY_CHECKPOINT_DONE)) {
        return COLO_NOTIFY_MSG_CHECKPOINT_DONE;
    }
    return COLO_NOTIFY_MSG_UNSUPPORTED;
}

void colo_notify_append(GByteArray *out, const char *msg)
{
    net_frame_append(out, (const guint8 *)msg, strlen(msg), FALSE, 0);
}
