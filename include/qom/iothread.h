/*
 * The "iothread" object: a thread running its own GMainContext. colo-compare and other users
 * attach their sources to iothread_get_context(). object-del stops the loop and joins the thread.
 */
#ifndef QOM_IOTHREAD_H
#define QOM_IOTHREAD_H

#include <glib.h>
#include "qom/object.h"

G_BEGIN_DECLS

#define TYPE_IOTHREAD (iothread_get_type())
G_DECLARE_FINAL_TYPE(IOThread, iothread, IO, THREAD, QomObject)

GMainContext *iothread_get_context(IOThread *iot);
/* The thread's kernel id (query-iothreads "thread-id"). */
int iothread_get_thread_id(IOThread *iot);
IOThread *iothread_find(const char *id);
/* Runs @fn(@data) on the iothread and waits for it to return (not from the iothread itself). */
void iothread_run_sync(IOThread *iot, GSourceFunc fn, gpointer data);
void iothread_register_types(void);

G_END_DECLS

#endif
