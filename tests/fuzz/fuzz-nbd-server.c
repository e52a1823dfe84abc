/*
 * The NBD server's request parser (block/nbd-session.c): handshake, options and transmission
 * from a hostile client. The export is a buffer exactly as large as it says, so any request the
 * session lets through past its end is an ASan finding. Checks:
 *  - the stream cut into reads of any size gives byte for byte the same output as in one piece
 *    (with an export that completes at once);
 *  - with an export that completes later, and with the session freed while requests are still
 *    in flight, nothing is touched after it is freed (ASan), and the session never asks for
 *    input once it is closing.
 *
 * Input: byte 0 sets the read size (1 + 37 * byte); byte 1 bit 0 makes the export read-only,
 * bit 1 defers completions; the rest is what the client sends.
 */
#include "block/nbd.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT_SIZE 65536

typedef struct Pending {
    NbdIoDone done;
    void *opaque;
} Pending;

typedef struct Env {
    uint8_t *data; /* exactly EXPORT_SIZE bytes: ASan guards both ends */
    bool deferred;
    GQueue pending;
    NbdExport *exp;
} Env;

static void complete(Env *env, NbdIoDone done, void *opaque)
{
    if (!env->deferred) {
        done(opaque, 0);
        return;
    }
    Pending *p = g_new(Pending, 1);
    p->done = done;
    p->opaque = opaque;
    g_queue_push_tail(&env->pending, p);
}

static void run_pending(Env *env)
{
    Pending *p;
    while ((p = g_queue_pop_head(&env->pending))) {
        p->done(p->opaque, 0);
        g_free(p);
    }
}

static void ex_read(void *opaque, uint64_t offset, uint32_t length, void *buf, NbdIoDone done,
                    void *done_opaque)
{
    Env *env = opaque;
    memcpy(buf, env->data + offset, length);
    complete(env, done, done_opaque);
}

static void ex_write(void *opaque, uint64_t offset, uint32_t length, const void *buf, bool fua,
                     NbdIoDone done, void *done_opaque)
{
    Env *env = opaque;
    if (!env->exp->writable) {
        abort(); /* the session must refuse writes to a read-only export itself */
    }
    memcpy(env->data + offset, buf, length);
    complete(env, done, done_opaque);
}

static void ex_flush(void *opaque, NbdIoDone done, void *done_opaque)
{
    complete(opaque, done, done_opaque);
}

static void ex_zero(void *opaque, uint64_t offset, uint32_t length, bool may_trim, NbdIoDone done,
                    void *done_opaque)
{
    Env *env = opaque;
    if (!env->exp->writable) {
        abort();
    }
    memset(env->data + offset, 0, length);
    complete(env, done, done_opaque);
}

static void ex_trim(void *opaque, uint64_t offset, uint32_t length, NbdIoDone done,
                    void *done_opaque)
{
    ex_zero(opaque, offset, length, true, done, done_opaque);
}

static const NbdExportOps ex_ops = {
    .read = ex_read,
    .write = ex_write,
    .flush = ex_flush,
    .trim = ex_trim,
    .write_zeroes = ex_zero,
};

static NbdExport *lookup(void *opaque, const char *name)
{
    Env *env = opaque;
    return strcmp(name, env->exp->name) ? NULL : nbd_export_ref(env->exp);
}

static GPtrArray *list(void *opaque)
{
    Env *env = opaque;
    GPtrArray *all = g_ptr_array_new();
    g_ptr_array_add(all, nbd_export_ref(env->exp));
    return all;
}

static const NbdSessionHooks hooks = {.lookup = lookup, .list = list};

static void drain(NbdSession *s, GByteArray *out)
{
    size_t len;
    const uint8_t *p;
    while ((p = nbd_session_output(s, &len)) && len) {
        g_byte_array_append(out, p, len);
        nbd_session_consume_output(s, len);
    }
}

/* Feeds @data in reads of @chunk bytes; returns everything the session sent. */
static GByteArray *converse(const uint8_t *data, size_t size, size_t chunk, bool ro, bool deferred)
{
    Env env = {.data = g_malloc0(EXPORT_SIZE), .deferred = deferred};
    g_queue_init(&env.pending);
    env.exp = nbd_export_new("e", "fuzz", EXPORT_SIZE, !ro, &ex_ops, &env);
    GByteArray *out = g_byte_array_new();
    NbdSession *s = nbd_session_new(&hooks, &env);

    for (size_t pos = 0; pos < size; pos += chunk) {
        nbd_session_feed(s, data + pos, MIN(chunk, size - pos));
        drain(s, out);
        if (nbd_session_closing(s) && nbd_session_wants_input(s)) {
            abort();
        }
        /* Deferred mode completes half of the time before the next read, else later. */
        if (deferred && (pos / chunk) % 2) {
            run_pending(&env);
            drain(s, out);
        }
    }
    if (!deferred) {
        nbd_session_eof(s);
        drain(s, out);
    }
    /* In deferred mode the owner leaves with requests in flight; they complete afterwards. */
    nbd_session_free(s);
    run_pending(&env);
    nbd_export_unref(env.exp);
    g_free(env.data);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t chunk = 1 + 37 * (size_t)data[0];
    bool ro = data[1] & 1;
    bool deferred = data[1] & 2;
    data += 2;
    size -= 2;

    GByteArray *pieces = converse(data, size, chunk, ro, deferred);
    if (!deferred) {
        GByteArray *whole = converse(data, size, size ? size : 1, ro, false);
        if (whole->len != pieces->len || memcmp(whole->data, pieces->data, whole->len)) {
            abort();
        }
        g_byte_array_unref(whole);
    }
    g_byte_array_unref(pieces);
    return 0;
}
