/*
 * The yank registry: every connection that may hang on a dead peer registers an instance here,
 * with functions that cut its I/O at once (shutdown(2) of its sockets), so that the QMP command
 * yank (out of band, on the monitor I/O thread) frees a thread or a main loop blocked on it.
 *
 *   owner creates a connection --register_instance--> instance, no function yet
 *        |  register_function (fd open)     unregister_function (before close)
 *        v
 *   yank {instances: [...]} --> every listed instance exists? else nothing runs
 *        |                        "Instance not found"
 *        v
 *   each function runs, under the registry lock: one that was unregistered never runs,
 *   so an owner may close its descriptor as soon as unregister_function returns
 *
 * Instances are named as QEMU 7.2 names them: the migration (one at most), a chardev by id, a
 * block node by node name. Callable from any thread; functions must not block nor call back in.
 */
#ifndef UTIL_YANK_H
#define UTIL_YANK_H

#include <glib.h>

typedef enum {
    YANK_KIND_BLOCK_NODE, /* the order of QAPI's YankInstanceType */
    YANK_KIND_CHARDEV,
    YANK_KIND_MIGRATION,
} YankKind;

typedef struct YankKey {
    YankKind kind;
    char *name; /* chardev id or node name; NULL for the migration */
} YankKey;

typedef void (*YankFn)(void *opaque);

/* Refused if it exists already. */
gboolean yank_register_instance(YankKind kind, const char *name, GError **errp);
/* Drops the instance and any function still on it. */
void yank_unregister_instance(YankKind kind, const char *name);
gboolean yank_instance_exists(YankKind kind, const char *name);
/* FALSE (nothing registered) if the instance does not exist. */
gboolean yank_register_function(YankKind kind, const char *name, YankFn fn, void *opaque);
/* Waits for a yank that is running the function. */
void yank_unregister_function(YankKind kind, const char *name, YankFn fn, void *opaque);

/* All of @keys must exist (else DeviceNotFound "Instance not found" and nothing runs). */
gboolean yank_run(const YankKey *keys, guint n, GError **errp);
/* Every instance in registration order (YankKey, caller unrefs; names copied). */
GArray *yank_list(void);

#endif
