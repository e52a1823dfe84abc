/*
 * A chardev front-end for unit tests that records what reaches it: the bytes read, the events
 * seen, and which thread ran the read handler. The test sets can_read to throttle it, and
 * echo to have it write back what arrives.
 *
 *   backend ──can_read/read/event──► Recorder { data, opened, closed, breaks, mux_in/out }
 *
 * The handlers may run in an iothread (rec_attach with that thread's context): data and
 * read_thread_id are under the lock, the counters and can_read are atomic. Header only
 * (static inline): each chardev test includes it, none links anything more.
 */
#ifndef TESTS_UNIT_CHARDEV_RECORDER_H
#define TESTS_UNIT_CHARDEV_RECORDER_H

#include "chardev/char.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct Recorder {
    CharFrontend *fe;
    GMutex lock;
    GByteArray *data;
    int opened, closed, breaks, mux_in, mux_out;
    guint len_at_open;  /* bytes received when OPENED arrived */
    int can_read;       /* what can_read answers */
    int read_thread_id; /* kernel tid of the last read handler call */
    gboolean echo;      /* write back what arrives */
} Recorder;

static inline int rec_can_read(void *opaque)
{
    Recorder *r = opaque;
    return g_atomic_int_get(&r->can_read);
}

static inline void rec_read(void *opaque, const guint8 *buf, int size)
{
    Recorder *r = opaque;
    /* A backend must never hand over more than the front-end said it can take. */
    g_assert_cmpint(size, <=, g_atomic_int_get(&r->can_read));
    g_mutex_lock(&r->lock);
    g_byte_array_append(r->data, buf, size);
    r->read_thread_id = syscall(SYS_gettid);
    g_mutex_unlock(&r->lock);
    if (r->echo) {
        g_assert_cmpint(char_fe_write_all(r->fe, buf, size), ==, size);
    }
}

static inline void rec_event(void *opaque, ChrEvent ev)
{
    Recorder *r = opaque;
    int *const count[] = {
        [CHR_EVENT_OPENED] = &r->opened,   [CHR_EVENT_CLOSED] = &r->closed,
        [CHR_EVENT_BREAK] = &r->breaks,    [CHR_EVENT_MUX_IN] = &r->mux_in,
        [CHR_EVENT_MUX_OUT] = &r->mux_out,
    };
    g_assert_cmpuint(ev, <, G_N_ELEMENTS(count));
    if (ev == CHR_EVENT_OPENED) {
        /* len_at_open is set before opened counts, so a waiter on opened sees it. */
        g_mutex_lock(&r->lock);
        r->len_at_open = r->data->len;
        g_mutex_unlock(&r->lock);
    }
    g_atomic_int_inc(count[ev]);
}

/* A new front-end on @chr; its handlers run in @ctx (NULL: the default context). */
static inline Recorder *rec_attach(Chardev *chr, GMainContext *ctx)
{
    Recorder *r = g_new0(Recorder, 1);
    GError *err = NULL;
    g_mutex_init(&r->lock);
    r->data = g_byte_array_new();
    r->can_read = 4096;
    r->fe = char_fe_new(chr, &err);
    g_assert_no_error(err);
    char_fe_set_handlers(r->fe, rec_can_read, rec_read, rec_event, r, ctx);
    return r;
}

static inline void rec_free(Recorder *r)
{
    char_fe_free(r->fe);
    g_byte_array_free(r->data, TRUE);
    g_mutex_clear(&r->lock);
    g_free(r);
}

static inline guint rec_len(Recorder *r)
{
    g_mutex_lock(&r->lock);
    guint n = r->data->len;
    g_mutex_unlock(&r->lock);
    return n;
}

/* Whether everything received so far is exactly @s. */
static inline gboolean rec_has(Recorder *r, const char *s)
{
    g_mutex_lock(&r->lock);
    gboolean same = r->data->len == strlen(s) && !memcmp(r->data->data, s, r->data->len);
    g_mutex_unlock(&r->lock);
    return same;
}

/* Runs the default context until @cond holds (or fails the test after 5 s). */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        gint64 _deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;                            \
        while (!(cond)) {                                                                          \
            g_assert_cmpint(g_get_monotonic_time(), <, _deadline);                                 \
            if (!g_main_context_iteration(NULL, FALSE)) {                                          \
                g_usleep(1000);                                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
