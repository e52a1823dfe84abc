/*
 * Chardevs over plain descriptors (the base of file, stdio and pty) and the "null" chardev.
 * Input is read only while the front-end can take it; end of input closes the stream.
 */
#include "chardev-internal.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* A pty without a peer reports hang-up continuously; look again this often. */
#define PTY_RETRY_MS 1000

typedef struct ChardevFdPrivate {
    int in_fd, out_fd;
    gboolean keep_open;
    gboolean closed;
    GSource *in_src;
    GSource *retry_src;
} ChardevFdPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE(ChardevFd, chardev_fd, TYPE_CHARDEV)

static ChardevFdPrivate *fd_priv(Chardev *chr)
{
    return chardev_fd_get_instance_private(CHARDEV_FD(chr));
}

static void fd_update_sources(Chardev *chr);

static gboolean fd_retry_cb(gpointer data)
{
    Chardev *chr = data;
    chardev_lock(chr);
    if (!g_source_is_destroyed(g_main_current_source())) {
        g_clear_pointer(&fd_priv(chr)->retry_src, g_source_unref);
        fd_update_sources(chr);
    }
    chardev_unlock(chr);
    return G_SOURCE_REMOVE;
}

static gboolean fd_read_ready(Chardev *chr, GIOCondition cond)
{
    ChardevFdPrivate *p = fd_priv(chr);
    guint8 buf[CHR_READ_BUF_LEN];
    int want = chardev_be_can_read(chr);

    if ((cond & G_IO_IN) && want > 0) {
        ssize_t n = read(p->in_fd, buf, MIN(want, (int)sizeof(buf)));
        if (n > 0) {
            chardev_be_read(chr, buf, n);
            return p->in_src ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return G_SOURCE_CONTINUE;
        }
    } else if (!(cond & (G_IO_HUP | G_IO_ERR))) {
        return G_SOURCE_CONTINUE;
    }
    g_clear_pointer(&p->in_src, g_source_unref);
    if (!strcmp(chardev_backend_name(chr), "pty")) {
        /* Nobody has the slave side open yet: poll for one, the stream stays usable. */
        p->retry_src = g_timeout_source_new(PTY_RETRY_MS);
        g_source_set_callback(p->retry_src, fd_retry_cb, g_object_ref(chr), g_object_unref);
        g_source_attach(p->retry_src, chardev_context(chr));
        return G_SOURCE_REMOVE;
    }
    chardev_be_event(chr, CHR_EVENT_CLOSED);
    return G_SOURCE_REMOVE;
}

static void fd_update_sources(Chardev *chr)
{
    ChardevFdPrivate *p = fd_priv(chr);
    gboolean was_reading = p->in_src != NULL || p->retry_src != NULL;
    chr_source_clear(&p->in_src);
    chr_source_clear(&p->retry_src);
    if (p->closed || p->in_fd < 0) {
        return;
    }
    if (was_reading || chardev_is_connected(chr)) {
        p->in_src = chr_fd_source_new(chr, p->in_fd, fd_read_ready);
    }
}

void chardev_fd_set_fds(ChardevFd *cf, int in_fd, int out_fd)
{
    ChardevFdPrivate *p = fd_priv(CHARDEV(cf));
    p->in_fd = in_fd;
    p->out_fd = out_fd;
    if (in_fd >= 0) {
        g_unix_set_fd_nonblocking(in_fd, TRUE, NULL);
    }
    if (out_fd >= 0 && out_fd != in_fd) {
        g_unix_set_fd_nonblocking(out_fd, TRUE, NULL);
    }
    /* The stream is open from creation; reading starts on the default context. */
    p->in_src = in_fd >= 0 ? chr_fd_source_new(CHARDEV(cf), in_fd, fd_read_ready) : NULL;
}

void chardev_fd_keep_open(ChardevFd *cf, gboolean keep)
{
    fd_priv(CHARDEV(cf))->keep_open = keep;
}

static int fd_write(Chardev *chr, const guint8 *buf, int len)
{
    ChardevFdPrivate *p = fd_priv(chr);
    if (p->out_fd < 0) {
        errno = EIO;
        return -1;
    }
    ssize_t n = write(p->out_fd, buf, len);
    if (n < 0 && errno == EWOULDBLOCK) {
        errno = EAGAIN;
    }
    return n;
}

static int fd_write_fd(Chardev *chr)
{
    return fd_priv(chr)->out_fd;
}

static void fd_close(Chardev *chr)
{
    ChardevFdPrivate *p = fd_priv(chr);
    if (p->closed) {
        return;
    }
    p->closed = TRUE;
    chr_source_clear(&p->in_src);
    chr_source_clear(&p->retry_src);
    chardev_write_lock(chr);
    if (!p->keep_open) {
        if (p->in_fd >= 0) {
            close(p->in_fd);
        }
        if (p->out_fd >= 0 && p->out_fd != p->in_fd) {
            close(p->out_fd);
        }
    }
    p->in_fd = p->out_fd = -1;
    chardev_write_unlock(chr);
}

static void chardev_fd_class_init(ChardevFdClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    cc->write = fd_write;
    cc->write_fd = fd_write_fd;
    cc->update_sources = fd_update_sources;
    cc->close = fd_close;
}

static void chardev_fd_init(ChardevFd *cf)
{
    ChardevFdPrivate *p = fd_priv(CHARDEV(cf));
    p->in_fd = p->out_fd = -1;
}

/* ---- null: swallows output, never produces input, never opens ---- */

struct _ChardevNull {
    Chardev parent_instance;
};
G_DECLARE_FINAL_TYPE(ChardevNull, chardev_null, CHARDEV, NULL, Chardev)
G_DEFINE_TYPE(ChardevNull, chardev_null, TYPE_CHARDEV)

static gboolean null_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {NULL};
    return chr_opts_check_known(opts, known, errp);
}

static gboolean null_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    *be_opened = FALSE;
    return TRUE;
}

static int null_write(Chardev *chr, const guint8 *buf, int len)
{
    return len;
}

static char *null_filename(Chardev *chr)
{
    return g_strdup("null");
}

static void chardev_null_class_init(ChardevNullClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    cc->backend_name = "null";
    cc->parse_opts = null_parse_opts;
    cc->open = null_open;
    cc->write = null_write;
    cc->filename = null_filename;
}

static void chardev_null_init(ChardevNull *n)
{
}
