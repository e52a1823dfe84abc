/* The migration stream's buffered channel (include/migration/channel.h). */
#include "migration/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "util/error.h"
#include "util/yank.h"

#define CHANNEL_BUF_SIZE (256 * 1024)
#define RATE_WINDOW_NS   (1000 * 1000 * 1000ll)
#define NS_PER_SECOND    1000000000ll

struct MigChannel {
    int fd;        /* -1 for a memory reader */
    int cancel_fd; /* eventfd, written by mig_channel_cancel */
    bool writer;
    char *what;
    guint8 *buf;    /* writer: pending bytes; reader: bytes not yet handed out */
    gsize len, pos; /* reader: valid bytes [pos, len) */
    const guint8 *mem;
    gsize mem_len;
    uint64_t bytes;
    uint32_t crc;
    GError *error;
    gint cancelled;
    uint64_t rate;        /* bytes per second, 0: none */
    int64_t window_start; /* monotonic ns */
    uint64_t window_bytes;
    bool yankable; /* on the migration's yank instance */
    /* Under link_lock: a cancel of this channel cancels its followers too. */
    GPtrArray *followers;
    MigChannel *leader;
};

static GMutex link_lock;

static int64_t now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

/* From the yank's thread: a blocked poll then sees the hang-up at once (upstream does the
 * same shutdown(2)); the descriptor stays open until mig_channel_free. */
static void channel_yank(void *opaque)
{
    MigChannel *c = opaque;
    shutdown(c->fd, SHUT_RDWR);
}

MigChannel *mig_channel_new_fd(int fd, bool writer, const char *what)
{
    MigChannel *c = g_new0(MigChannel, 1);
    c->fd = fd;
    c->writer = writer;
    c->what = g_strdup(what);
    c->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->buf = g_malloc(CHANNEL_BUF_SIZE);
    c->crc = crc32(0, NULL, 0);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    /* While a migration (or COLO) runs, yank cuts every channel it has open. */
    c->yankable = yank_register_function(YANK_KIND_MIGRATION, NULL, channel_yank, c);
    return c;
}

int mig_channel_fd(const MigChannel *c)
{
    return c->fd;
}

MigChannel *mig_channel_new_buffer(const guint8 *buf, gsize len)
{
    MigChannel *c = g_new0(MigChannel, 1);
    c->fd = -1;
    c->cancel_fd = -1;
    c->what = g_strdup("buffer");
    c->mem = buf;
    c->mem_len = len;
    c->crc = crc32(0, NULL, 0);
    return c;
}

void mig_channel_follow(MigChannel *leader, MigChannel *follower)
{
    g_mutex_lock(&link_lock);
    if (!leader->followers) {
        leader->followers = g_ptr_array_new();
    }
    g_ptr_array_add(leader->followers, follower);
    follower->leader = leader;
    bool cancel = g_atomic_int_get(&leader->cancelled);
    g_mutex_unlock(&link_lock);
    if (cancel) {
        mig_channel_cancel(follower);
    }
}

static void unlink_channel(MigChannel *c)
{
    g_mutex_lock(&link_lock);
    if (c->leader) {
        g_ptr_array_remove(c->leader->followers, c);
    }
    for (guint i = 0; c->followers && i < c->followers->len; i++) {
        ((MigChannel *)g_ptr_array_index(c->followers, i))->leader = NULL;
    }
    g_clear_pointer(&c->followers, g_ptr_array_unref);
    g_mutex_unlock(&link_lock);
}

void mig_channel_free(MigChannel *c)
{
    if (!c) {
        return;
    }
    unlink_channel(c);
    if (c->yankable) {
        yank_unregister_function(YANK_KIND_MIGRATION, NULL, channel_yank, c);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->cancel_fd >= 0) {
        close(c->cancel_fd);
    }
    g_clear_error(&c->error);
    g_free(c->buf);
    g_free(c->what);
    g_free(c);
}

void mig_channel_set_rate_limit(MigChannel *c, uint64_t bytes_per_second)
{
    c->rate = bytes_per_second;
}

static void cancel_one(MigChannel *c)
{
    g_atomic_int_set(&c->cancelled, 1);
    if (c->cancel_fd >= 0) {
        uint64_t one = 1;
        if (write(c->cancel_fd, &one, sizeof(one)) < 0) {
            /* The counter cannot overflow from one write; nothing else can fail here. */
        }
    }
}

void mig_channel_cancel(MigChannel *c)
{
    cancel_one(c);
    g_mutex_lock(&link_lock);
    for (guint i = 0; c->followers && i < c->followers->len; i++) {
        cancel_one(g_ptr_array_index(c->followers, i));
    }
    g_mutex_unlock(&link_lock);
}

bool mig_channel_cancelled(MigChannel *c)
{
    return g_atomic_int_get(&c->cancelled);
}

static bool fail(MigChannel *c, GError *err)
{
    if (!c->error) {
        c->error = err;
    } else {
        g_error_free(err);
    }
    return false;
}

static bool check_cancel(MigChannel *c)
{
    if (mig_channel_cancelled(c)) {
        GError *err = NULL;
        error_setg(&err, "Migration cancelled");
        return fail(c, err);
    }
    return true;
}

/* Waits until fd is ready for events, the timeout (ms, -1: none) passes, or a cancel. */
static bool wait_fd(MigChannel *c, short events, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = c->fd, .events = events}, {.fd = c->cancel_fd, .events = POLLIN}};
    int n;
    do {
        n = poll(p, 2, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return check_cancel(c);
}

/*
 * The rate limit as a token bucket: bytes written since window_start may not run ahead of
 * rate. The window restarts after a second so that an idle spell earns no burst.
 */
static bool throttle(MigChannel *c, gsize len)
{
    if (!c->rate) {
        return true;
    }
    int64_t now = now_ns();
    if (now - c->window_start >= RATE_WINDOW_NS) {
        c->window_start = now;
        c->window_bytes = 0;
    }
    c->window_bytes += len;
    int64_t due = c->window_start + (int64_t)((double)c->window_bytes * NS_PER_SECOND / c->rate);
    if (due > now) {
        struct pollfd p = {.fd = c->cancel_fd, .events = POLLIN};
        int ms = (int)MIN((due - now + 999999) / 1000000, 60 * 1000);
        while (poll(&p, 1, ms) < 0 && errno == EINTR) {
        }
    }
    return check_cancel(c);
}

static bool write_all(MigChannel *c, const guint8 *p, gsize len)
{
    while (len > 0) {
        if (!check_cancel(c)) {
            return false;
        }
        ssize_t n = write(c->fd, p, len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(c, POLLOUT, -1)) {
                return false;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            GError *err = NULL;
            error_setg(&err, "Unable to write to %s: %s", c->what, g_strerror(errno));
            return fail(c, err);
        }
        p += n;
        len -= n;
    }
    return true;
}

static bool flush_buffer(MigChannel *c)
{
    if (c->error || c->len == 0) {
        c->len = 0;
        return !c->error;
    }
    bool ok = throttle(c, c->len) && write_all(c, c->buf, c->len);
    c->len = 0;
    return ok;
}

void mig_channel_put(MigChannel *c, const void *buf, gsize len)
{
    g_assert(c->writer);
    if (c->error) {
        return;
    }
    c->bytes += len;
    const guint8 *p = buf;
    while (len > 0) {
        gsize n = MIN(len, CHANNEL_BUF_SIZE - c->len);
        memcpy(c->buf + c->len, p, n);
        /* The checksum covers the copy: guest RAM may change under the source meanwhile. */
        c->crc = crc32(c->crc, c->buf + c->len, n);
        c->len += n;
        p += n;
        len -= n;
        if (c->len == CHANNEL_BUF_SIZE && !flush_buffer(c)) {
            return;
        }
    }
}

void mig_channel_put_u8(MigChannel *c, uint8_t v)
{
    mig_channel_put(c, &v, 1);
}

void mig_channel_put_be16(MigChannel *c, uint16_t v)
{
    v = GUINT16_TO_BE(v);
    mig_channel_put(c, &v, sizeof(v));
}

void mig_channel_put_be32(MigChannel *c, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    mig_channel_put(c, &v, sizeof(v));
}

void mig_channel_put_be64(MigChannel *c, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    mig_channel_put(c, &v, sizeof(v));
}

bool mig_channel_flush(MigChannel *c, GError **errp)
{
    if (c->writer) {
        flush_buffer(c);
    }
    if (c->error) {
        g_propagate_error(errp, g_error_copy(c->error));
        return false;
    }
    return true;
}

/* Reader: refills buf from the fd; false at EOF or on an error (recorded). */
static bool refill(MigChannel *c)
{
    if (c->fd < 0) {
        GError *err = NULL;
        error_setg(&err, "Migration stream truncated");
        return fail(c, err);
    }
    c->pos = 0;
    c->len = 0;
    for (;;) {
        if (!check_cancel(c)) {
            return false;
        }
        ssize_t n = read(c->fd, c->buf, CHANNEL_BUF_SIZE);
        if (n > 0) {
            c->len = n;
            return true;
        }
        if (n == 0) {
            GError *err = NULL;
            error_setg(&err, "Migration stream truncated");
            return fail(c, err);
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(c, POLLIN, -1)) {
                return false;
            }
        } else if (errno != EINTR) {
            GError *err = NULL;
            error_setg(&err, "Unable to read from %s: %s", c->what, g_strerror(errno));
            return fail(c, err);
        }
    }
}

bool mig_channel_get(MigChannel *c, void *buf, gsize len, GError **errp)
{
    g_assert(!c->writer);
    guint8 *out = buf;
    gsize want = len;
    if (!c->error && c->mem) {
        if (c->pos + len > c->mem_len) {
            c->pos = c->mem_len;
            GError *err = NULL;
            error_setg(&err, "Migration stream truncated");
            fail(c, err);
        } else {
            memcpy(out, c->mem + c->pos, len);
            c->pos += len;
            want = 0;
        }
    }
    while (!c->error && want > 0) {
        if (c->pos == c->len && !refill(c)) {
            break;
        }
        gsize n = MIN(want, c->len - c->pos);
        memcpy(out, c->buf + c->pos, n);
        c->pos += n;
        out += n;
        want -= n;
    }
    if (c->error) {
        g_propagate_error(errp, g_error_copy(c->error));
        return false;
    }
    c->crc = crc32(c->crc, buf, len);
    c->bytes += len;
    return true;
}

bool mig_channel_get_u8(MigChannel *c, uint8_t *v, GError **errp)
{
    return mig_channel_get(c, v, 1, errp);
}

bool mig_channel_get_be16(MigChannel *c, uint16_t *v, GError **errp)
{
    if (!mig_channel_get(c, v, sizeof(*v), errp)) {
        return false;
    }
    *v = GUINT16_FROM_BE(*v);
    return true;
}

bool mig_channel_get_be32(MigChannel *c, uint32_t *v, GError **errp)
{
    if (!mig_channel_get(c, v, sizeof(*v), errp)) {
        return false;
    }
    *v = GUINT32_FROM_BE(*v);
    return true;
}

bool mig_channel_get_be64(MigChannel *c, uint64_t *v, GError **errp)
{
    if (!mig_channel_get(c, v, sizeof(*v), errp)) {
        return false;
    }
    *v = GUINT64_FROM_BE(*v);
    return true;
}

uint64_t mig_channel_bytes(const MigChannel *c)
{
    return c->bytes;
}

uint32_t mig_channel_crc(const MigChannel *c)
{
    return c->crc;
}

const GError *mig_channel_error(const MigChannel *c)
{
    return c->error;
}
