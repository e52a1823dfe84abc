/*
 * What chardev backends share with chardev/char.c. Not for front-ends: they use char.h only.
 *
 * Locking: every Chardev has a state lock (recursive) and a write lock.
 *   - The state lock is held while the backend changes state (connect, disconnect, context
 *     switch) and while a front-end handler runs, so handlers never run concurrently.
 *   - The write lock guards the descriptor writers use; closing that descriptor takes both.
 * Backend sources (accept, read, reconnect timer) live on chardev_context(), the front-end's
 * GMainContext (the default one while no front-end chose another).
 */
#ifndef CHARDEV_INTERNAL_H
#define CHARDEV_INTERNAL_H

#include "chardev/char.h"

#include <glib-unix.h>
#include <poll.h>

/* The most a single read dispatch hands to a front-end: large enough that a packet stream
 * (filters, colo-compare) is parsed in batches of many frames per read. */
#define CHR_READ_BUF_LEN 65536

struct _ChardevClass {
    QomObjectClass parent_class;
    const char *backend_name; /* "socket" */
    ChardevFeature features;
    /* Turns -chardev options into the "data" member of the QMP ChardevBackend. */
    gboolean (*parse_opts)(KeyvalList *opts, JsonObject *data, GError **errp);
    /* Opens the backend from the QMP "data" object; *be_opened says the stream is open now. */
    gboolean (*open)(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp);
    /* Writes without blocking, under the write lock; -1 with errno (EAGAIN: try later). */
    int (*write)(Chardev *chr, const guint8 *buf, int len);
    /* The descriptor write_all waits on when write() says EAGAIN (-1 if none). */
    int (*write_fd)(Chardev *chr);
    /* Re-creates the backend's sources on chardev_context() (called under the state lock). */
    void (*update_sources)(Chardev *chr);
    void (*disconnect)(Chardev *chr);
    char *(*filename)(Chardev *chr);
    /* Stops every source and closes descriptors (unparent / finalize; idempotent). */
    void (*close)(Chardev *chr);
    /* How many front-ends may attach at once (0 means 1; a mux takes more). */
    guint max_frontends;
    /* A front-end installed handlers / went away (state lock held): a mux moves its focus. */
    void (*frontend_ready)(Chardev *chr, CharFrontend *fe);
    void (*frontend_gone)(Chardev *chr, CharFrontend *fe);
    /* A front-end can take input again (any thread, no lock held). */
    void (*accept_input)(Chardev *chr);
};

/* ---- for backends ---- */

GMainContext *chardev_context(Chardev *chr);
void chardev_lock(Chardev *chr);
void chardev_unlock(Chardev *chr);
void chardev_write_lock(Chardev *chr);
void chardev_write_unlock(Chardev *chr);

/* Backend state reporting: delivers OPENED/CLOSED to the front-end (state lock held). */
void chardev_be_event(Chardev *chr, ChrEvent event);
/* Bytes the front-end accepts now (0 without a front-end or handlers). */
int chardev_be_can_read(Chardev *chr);
void chardev_be_read(Chardev *chr, const guint8 *buf, int len);
/* Delivers one event to one front-end (state lock held): a mux's focus changes. */
void chardev_fe_event(CharFrontend *fe, ChrEvent event);
/* The front-end input goes to, and changing it (state lock held). */
CharFrontend *chardev_focus(Chardev *chr);
void chardev_set_focus(Chardev *chr, CharFrontend *fe);
/* Attached front-ends in attach order (state lock held). */
guint chardev_frontend_count(Chardev *chr);
CharFrontend *chardev_frontend_at(Chardev *chr, guint index);
gboolean chardev_be_is_open(Chardev *chr);
void chardev_count_input_dropped(Chardev *chr, guint64 bytes);
/* The descriptor writers wait on, under the chardev's write lock (-1: none). */
int chardev_write_fd(Chardev *chr);
/* -chardev ...,mux=on and mon: (char-mux.c): the hooks chardev_set_mux_*_hook installed. */
gboolean chardev_run_mux_monitor_hook(Chardev *chr, GError **errp);
const char *chardev_label(Chardev *chr);

/*
 * A source that watches @fd for input on behalf of the front-end: it polls for G_IO_IN only
 * while the front-end can take bytes, and always for hang-up; while no front-end reads at all
 * (a write-only user such as a filter's outdev) also for CHR_IO_RDHUP, the peer's end of
 * stream, which such a user would otherwise learn only by losing a write to a dead peer.
 * @ready runs with the state lock held and returns FALSE to remove the source.
 */
#define CHR_IO_RDHUP ((GIOCondition)POLLRDHUP)
typedef gboolean (*ChrFdReadyFunc)(Chardev *chr, GIOCondition cond);
GSource *chr_fd_source_new(Chardev *chr, int fd, ChrFdReadyFunc ready);
/* g_source_destroy + unref, tolerating NULL; clears the pointer. */
void chr_source_clear(GSource **src);

/* Non-blocking, close-on-exec helpers. */
gboolean chr_fd_set_nonblock(int fd, GError **errp);

/* Option helpers shared by the backends' parse_opts. */
gboolean chr_opt_bool(KeyvalList *opts, const char *key, gboolean dflt, gboolean *out,
                      GError **errp);
/* Rejects any key not in @known (NULL-terminated) with "Invalid parameter 'x'". */
gboolean chr_opts_check_known(KeyvalList *opts, const char *const *known, GError **errp);

/* JSON helpers for open(). */
const char *chr_json_str(JsonObject *obj, const char *member);
gboolean chr_json_bool(JsonObject *obj, const char *member, gboolean dflt);
gint64 chr_json_int(JsonObject *obj, const char *member, gint64 dflt);

/*
 * "Plain descriptor" chardevs (file, stdio, pty, null): bytes come in on in_fd when it is
 * readable and go out on out_fd; either may be -1. The stream is open from creation on.
 */
#define TYPE_CHARDEV_FD (chardev_fd_get_type())
G_DECLARE_DERIVABLE_TYPE(ChardevFd, chardev_fd, CHARDEV, FD, Chardev)

struct _ChardevFdClass {
    ChardevClass parent_class;
};

/* Takes ownership of both descriptors (they may be the same one) and sets them non-blocking. */
void chardev_fd_set_fds(ChardevFd *cf, int in_fd, int out_fd);
/* Closes the descriptors unless @keep (stdio's 0 and 1 stay open). */
void chardev_fd_keep_open(ChardevFd *cf, gboolean keep);

/* Backend GTypes, registered by chardev_register_types(). */
GType chardev_socket_get_type(void);
GType chardev_file_get_type(void);
GType chardev_stdio_get_type(void);
GType chardev_null_get_type(void);
GType chardev_pty_get_type(void);
GType chardev_mux_get_type(void);

#endif
