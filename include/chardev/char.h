/*
 * Character devices: byte streams that monitors, filters and colo-compare read and write.
 *
 * A Chardev is a QomObject under /chardevs/<id> (types "chardev-socket", "chardev-file", ...).
 * At most one front-end uses a chardev at a time. The front-end chooses the GMainContext its
 * handlers run on (NULL = the main loop's, or an iothread's), and may switch it later.
 *
 * Socket state (client side, with reconnect):
 *
 *   DISCONNECTED --connect ok--> CONNECTED --peer closes / error--> DISCONNECTED
 *        ^                                                            |
 *        +---------- after reconnect interval (if reconnect > 0) -----+
 *
 * A server socket accepts one client at a time: OPENED on accept, CLOSED when it goes; it then
 * listens again. With wait=on (the default for servers) creation blocks until a client connects.
 */
#ifndef CHARDEV_CHAR_H
#define CHARDEV_CHAR_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include "qom/object.h"
#include "util/keyval.h"

G_BEGIN_DECLS

#define TYPE_CHARDEV (chardev_get_type())
G_DECLARE_DERIVABLE_TYPE(Chardev, chardev, CHARDEV, CHARDEV, QomObject)
/* Shorter spellings of the casts G_DECLARE_DERIVABLE_TYPE generates. */
#define CHARDEV(obj)           CHARDEV_CHARDEV(obj)
#define CHARDEV_CLASS(klass)   CHARDEV_CHARDEV_CLASS(klass)
#define CHARDEV_GET_CLASS(obj) CHARDEV_CHARDEV_GET_CLASS(obj)
#define IS_CHARDEV(obj)        CHARDEV_IS_CHARDEV(obj)

typedef enum {
    CHR_EVENT_OPENED,
    CHR_EVENT_CLOSED,
    CHR_EVENT_BREAK,
    CHR_EVENT_MUX_IN,  /* a mux gave this front-end the focus (chardev/mux.h) */
    CHR_EVENT_MUX_OUT, /* ... and took it away */
} ChrEvent;

typedef enum {
    CHARDEV_FEATURE_RECONNECTABLE = 1 << 0, /* colo-compare requires it */
    CHARDEV_FEATURE_GCONTEXT = 1 << 1,      /* handlers can run on another GMainContext */
} ChardevFeature;

/* Bytes the front-end can take now (0 pauses reading). */
typedef int (*ChrCanReadHandler)(void *opaque);
typedef void (*ChrReadHandler)(void *opaque, const guint8 *buf, int size);
typedef void (*ChrEventHandler)(void *opaque, ChrEvent event);

typedef struct CharFrontend CharFrontend;

/* ---- creation ---- */

/* -chardev BACKEND,id=ID,... (QemuOpts grammar, legacy spellings included). */
Chardev *chardev_new_from_opts(KeyvalList *opts, GError **errp);
/* QMP chardev-add {id, backend: {type, data}}; returns the new chardev. */
Chardev *chardev_new_from_json(const char *id, JsonObject *backend, GError **errp);
/*
 * The legacy one-string form of -serial/-qmp/-monitor: "stdio", "null", "unix:PATH[,opts]",
 * "tcp:HOST:PORT[,opts]", "file:PATH", "pty", "chardev:ID" (returns the existing one), and
 * "mon:SPEC": SPEC behind a mux with an HMP monitor on it (the caller attaches next and takes
 * the focus).
 */
Chardev *chardev_new_from_legacy(const char *label, const char *spec, GError **errp);
/*
 * The pure parsing steps of the above, with no side effects (for HMP and fuzzing):
 * -chardev options -> the QMP ChardevBackend object {"type", "data"} (caller unrefs), and a
 * legacy one-string spec (not "chardev:ID") -> -chardev options without id (caller frees);
 * @flags may add KEYVAL_QUIET.
 */
JsonObject *chardev_opts_to_backend(KeyvalList *opts, GError **errp);
KeyvalList *chardev_legacy_to_opts(const char *spec, KeyvalFlags flags, GError **errp);
/* chardev-remove: refused while a front-end is attached ("Chardev 'x' is busy"). */
gboolean chardev_remove(const char *id, GError **errp);
void chardev_remove_all(void);

Chardev *chardev_find(const char *id);
const char *chardev_get_id(Chardev *chr);
/* "socket", "file", ... as query-chardev-backends names them. */
const char *chardev_backend_name(Chardev *chr);
/* query-chardev "filename" ("unix:/tmp/q.sock,server=on", "disconnected:tcp:...") */
char *chardev_filename(Chardev *chr);
gboolean chardev_has_feature(Chardev *chr, ChardevFeature feature);
/* True while a front-end is attached. */
gboolean chardev_is_busy(Chardev *chr);
/* The stream is connected (socket: has a peer; file/stdio/pty: always; null: never). */
gboolean chardev_is_connected(Chardev *chr);
/*
 * query-chardev "frontend-open" as QEMU 7.2 reports it: a front-end is attached with handlers
 * (not: the socket has a peer).
 */
gboolean chardev_frontend_open(Chardev *chr);

/* Counters for query output; nothing a chardev drops goes uncounted. */
typedef struct ChardevStats {
    guint64 bytes_in;       /* handed to the front-end */
    guint64 bytes_out;      /* accepted by the backend */
    guint64 write_errors;   /* writes that failed (not connected, peer gone, stalled) */
    guint64 write_timeouts; /* of those, the ones whose peer stopped reading too long */
    guint64 connects;       /* OPENED transitions */
    guint64 disconnects;    /* CLOSED transitions */
    guint64 input_dropped;  /* mux: input for a front-end whose buffer was full */
} ChardevStats;
void chardev_get_stats(Chardev *chr, ChardevStats *stats);
/* Backend names, NULL-terminated and sorted (query-chardev-backends). */
const char *const *chardev_backend_names(void);
/* Every chardev, sorted by id; caller frees the array. */
GPtrArray *chardev_list(void);

/* ---- the front-end API (monitors, filters, colo-compare) ---- */

/*
 * Attaches to @chr; refused if another front-end has it ("Device '%s' is in use"). A mux takes
 * up to MUX_MAX_FRONTENDS; each takes the focus when it installs handlers.
 */
CharFrontend *char_fe_new(Chardev *chr, GError **errp);
/* Detaches (handlers removed) and frees; the chardev stays. */
void char_fe_free(CharFrontend *fe);
Chardev *char_fe_get_chardev(CharFrontend *fe);

/*
 * Installs the handlers on @context (NULL = main context). Passing all NULL removes them.
 * If the stream is already open an OPENED event is delivered on @context soon after.
 * Handlers never run concurrently with each other for one front-end.
 */
void char_fe_set_handlers(CharFrontend *fe, ChrCanReadHandler can_read, ChrReadHandler read,
                          ChrEventHandler event, void *opaque, GMainContext *context);

/*
 * Writes all of @buf, waiting (bounded polling) while the peer's socket is full. Callable from
 * any thread. Returns @len, or -1 with errno set when the stream is not connected or fails.
 */
int char_fe_write_all(CharFrontend *fe, const guint8 *buf, int len);
/* Writes what fits now without blocking; returns bytes written (0..len) or -1. */
int char_fe_write(CharFrontend *fe, const guint8 *buf, int len);
/*
 * Write readiness, for front-ends that queue their output rather than block: @func runs once,
 * on the front-end's context and with no chardev lock held, when the backend can take bytes
 * again or has failed (the next char_fe_write then says so). One notification per front-end:
 * a new request replaces a pending one; it is dropped when the stream closes and when the
 * front-end is freed, and follows the front-end to another context. Callable from any thread.
 * Returns FALSE, arming nothing, when there is nothing to wait on (not connected).
 */
typedef void (*ChrWritableHandler)(void *opaque);
gboolean char_fe_notify_writable(CharFrontend *fe, ChrWritableHandler func, void *opaque);
void char_fe_cancel_writable(CharFrontend *fe);
/* A front-end whose can_read went from 0 to positive calls this to have reading resume. */
void char_fe_accept_input(CharFrontend *fe);
/* A backend is attached (not: the socket has a peer). */
gboolean char_fe_backend_connected(CharFrontend *fe);
/* Drops the current connection (server: waits for the next client; client: reconnects). */
void char_fe_disconnect(CharFrontend *fe);

/*
 * What a mux needs from the layers above it (set once by the composition root / monitor):
 * "-serial mon:..." puts an HMP monitor on the new mux, and escape x quits.
 */
typedef gboolean (*ChardevMonitorHook)(Chardev *chr, GError **errp);
void chardev_set_mux_monitor_hook(ChardevMonitorHook hook);
void chardev_set_mux_quit_hook(void (*quit)(void));

void chardev_register_types(void);

G_END_DECLS

#endif
