/* The "pty" chardev: a pseudo-terminal whose slave path is announced on stderr. */
#include "chardev-internal.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

struct _ChardevPty {
    ChardevFd parent_instance;
    char *slave_path;
};
G_DECLARE_FINAL_TYPE(ChardevPty, chardev_pty, CHARDEV, PTY, ChardevFd)
G_DEFINE_TYPE(ChardevPty, chardev_pty, TYPE_CHARDEV_FD)

static gboolean pty_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {NULL};
    return chr_opts_check_known(opts, known, errp);
}

static gboolean pty_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    ChardevPty *pty = CHARDEV_PTY(chr);
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        error_setg_errno(errp, errno, "Failed to create PTY");
        if (master >= 0) {
            close(master);
        }
        return FALSE;
    }
    char *name = ptsname(master);
    pty->slave_path = g_strdup(name ? name : "");
    /* Raw mode on the slave side, so bytes pass unchanged. */
    int slave = open(pty->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave >= 0) {
        struct termios tty;
        if (tcgetattr(slave, &tty) == 0) {
            cfmakeraw(&tty);
            tcsetattr(slave, TCSAFLUSH, &tty);
        }
        close(slave);
    }
    fprintf(stderr, "char device redirected to %s (label %s)\n", pty->slave_path,
            chardev_label(chr));
    chardev_fd_set_fds(CHARDEV_FD(chr), master, master);
    *be_opened = TRUE;
    return TRUE;
}

static char *pty_filename(Chardev *chr)
{
    return g_strdup_printf("pty:%s", CHARDEV_PTY(chr)->slave_path);
}

static void chardev_pty_finalize(GObject *obj)
{
    g_free(CHARDEV_PTY(obj)->slave_path);
    G_OBJECT_CLASS(chardev_pty_parent_class)->finalize(obj);
}

static void chardev_pty_class_init(ChardevPtyClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    G_OBJECT_CLASS(klass)->finalize = chardev_pty_finalize;
    cc->backend_name = "pty";
    cc->parse_opts = pty_parse_opts;
    cc->open = pty_open;
    cc->filename = pty_filename;
}

static void chardev_pty_init(ChardevPty *p)
{
}
