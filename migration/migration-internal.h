/* Shared by the migration engine's files (migration.c, incoming.c, transport.c). */
#ifndef MIGRATION_INTERNAL_H
#define MIGRATION_INTERNAL_H

#include <glib.h>
#include <stdbool.h>

#include "memory/ram.h"
#include "migration/channel.h"
#include "migration/migration.h"
#include "migration/multifd.h"

/* The machine given by migration_set_host(); without one, machine "none" with no RAM. */
const MigrationHost *migration_host(void);

/*
 * Runs fn(opaque) on the main loop (which holds the big lock) and waits for it. From the main
 * thread it runs at once. False if the process is shutting down: fn did not run.
 */
bool migration_run_on_main(void (*fn)(void *opaque), void *opaque);
bool migration_shutting_down(void);

/* The options the engine reads (migration/options.c's getters). */
uint64_t migration_max_bandwidth(void);
uint64_t migration_downtime_limit_ms(void);
bool migration_events_enabled(void);
bool migration_pause_before_switchover(void);

/* A URI's byte stream: a socket, or the pipe of an exec: command. */
typedef struct MigTransport {
    int fd;
    GPid pid;           /* exec: the command, reaped by mig_transport_close; 0 otherwise */
    GArray *listen_fds; /* incoming tcp:/unix: until a connection is accepted */
    struct SocketAddr *addr;
    int cancel_fd;    /* wakes a waiting accept */
    const char *what; /* "socket", "command": for channel errors */
    /* While a finished exec: command gets its grace to exit: TRUE once nobody wants it to
     * (migrate_cancel, or the process exiting), so that it is ended at once. May be NULL. */
    bool (*abandoned)(void);
} MigTransport;

#define MIG_TRANSPORT_INIT                                                                         \
    {                                                                                              \
        .fd = -1, .cancel_fd = -1                                                                  \
    }

/* Outgoing: connected, or the command running. Unknown protocols: upstream's message. */
bool mig_transport_connect(const char *uri, MigTransport *t, GError **errp);
/* Incoming: listening (tcp:, unix:) or the command running (exec:). */
bool mig_transport_listen(const char *uri, MigTransport *t, GError **errp);
/* Incoming: waits for the main connection (no-op for exec:). */
bool mig_transport_accept(MigTransport *t, GError **errp);
/* Incoming tcp:/unix:, still listening: waits for one more connection (multifd's); its fd. */
int mig_transport_accept_extra(MigTransport *t, GError **errp);
#define MIG_TRANSPORT_BACKLOG 16
/* Closes the listening sockets (a unix socket's file goes too). */
void mig_transport_stop_listening(MigTransport *t);
/* Any thread: makes a waiting mig_transport_accept fail. */
void mig_transport_cancel_accept(MigTransport *t);
/* Where an incoming tcp:/unix: listens (query-migrate's socket-address); NULL otherwise. */
GPtrArray *mig_transport_listen_addresses(const MigTransport *t);
/* Closes what is still open (the fd unless a channel took it) and reaps the command; finished:
 * the command was given a whole stream and may take its time to finish with it. */
void mig_transport_close(MigTransport *t, bool finished);

/* Incoming side, for query-migrate: true if this process is or was a destination. */
bool migration_incoming_info(MigrationInfo *info);
/* At exit, after migration_shutting_down() is true: stops the load and waits for its thread. */
void migration_incoming_shutdown(void);
/* On the main loop: the incoming status (active -> colo -> completed). */
void migration_incoming_set_status(MigrationStatus s);
/* On the main loop, a secondary's failover: what a completed load does (the host's loaded
 * hook, self-announce, status completed); with @run the VM runs whatever -S said, as upstream,
 * without it keeps its run state (the primary's guest was shut down or paused). */
void migration_incoming_colo_done(bool run);

/* ---- COLO (migration/colo.c, include/migration/colo.h) ---- */

/* Primary, on the migration thread once the initial stream went out whole, the VM stopped:
 * runs checkpoints until a failover (or shutdown) and returns with the VM running again;
 * true if a failover ended it. multifd (may be NULL): the checkpoints' pages go there. */
bool colo_primary_run(MigChannel *out, DirtyReader *reader, MultifdSend *multifd);
/* After a failover (colo_primary_run returned true) and the migration status completed, as
 * upstream orders them: COLO_EXIT {primary, request}. */
void colo_primary_exit_event(void);
/* The stream's COLO record (MigLoadTarget.enable_colo): refused without capability x-colo. */
bool colo_incoming_enable(void *opaque, GError **errp);
/* Secondary, on the incoming thread once the initial stream is loaded (VM not running):
 * receives checkpoints until a failover (or shutdown). The caller frees in and multifd
 * (may be NULL), whose pages this points at the RAM cache. */
void colo_secondary_run(MigChannel *in, MultifdRecv *multifd);
/* At exit: wakes a COLO thread wherever it waits; it then returns. */
void colo_shutdown(void);

#endif
