/*
 * The replication filter driver (include/block/replication.h has the picture).
 */
#include "block/replication.h"
#include "block/block.h"
#include "util/error.h"

void replication_start_all(ReplicationMode mode, GError **errp)
{
    error_setg(errp, "Block replication is not implemented yet");
}

void replication_do_checkpoint_all(ReplicationCheckpointStats *st, GError **errp)
{
    error_setg(errp, "Block replication is not implemented yet");
}

void replication_get_error_all(GError **errp)
{
    error_setg(errp, "Block replication is not implemented yet");
}

void replication_stop_all(bool failover, GError **errp)
{
    error_setg(errp, "Block replication is not implemented yet");
}

bool replication_any(void)
{
    return false;
}
