/* The "stdio" chardev: the process's standard input and output; only one may exist. */
#include "chardev-internal.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

struct _ChardevStdio {
    ChardevFd parent_instance;
};
G_DECLARE_FINAL_TYPE(ChardevStdio, chardev_stdio, CHARDEV, STDIO, ChardevFd)
G_DEFINE_TYPE(ChardevStdio, chardev_stdio, TYPE_CHARDEV_FD)

static gint stdio_in_use;
/* stdin's file status flags before we made it non-blocking; restored when the chardev goes. */
static int saved_stdin_flags = -1;
/* The terminal's settings before we made it raw; restored when the chardev goes or at exit. */
static struct termios saved_tty;
static gboolean tty_saved;

static void stdio_restore_tty(void)
{
    if (tty_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_saved = FALSE;
    }
}

/*
 * A terminal on stdin is made raw as upstream does: every key reaches the guest or the mux
 * (Ctrl-a) at once and unechoed; output keeps its newline translation. With signal=off, Ctrl-C
 * is a key like the others rather than SIGINT.
 */
static void stdio_make_raw(gboolean allow_signal)
{
    struct termios tty;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &tty) < 0) {
        return;
    }
    if (!tty_saved) {
        static gboolean atexit_done;
        saved_tty = tty;
        tty_saved = TRUE;
        if (!atexit_done) {
            atexit(stdio_restore_tty);
            atexit_done = TRUE;
        }
    }
    tty.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    tty.c_oflag |= OPOST;
    tty.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!allow_signal) {
        tty.c_lflag &= ~ISIG;
    }
    tty.c_cflag &= ~(CSIZE | PARENB);
    tty.c_cflag |= CS8;
    tty.c_cc[VMIN] = 1;
    tty.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &tty);
}

static gboolean stdio_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {"signal", NULL};
    gboolean sig;
    if (!chr_opts_check_known(opts, known, errp) ||
        !chr_opt_bool(opts, "signal", TRUE, &sig, errp)) {
        return FALSE;
    }
    json_object_set_boolean_member(data, "signal", sig);
    return TRUE;
}

static gboolean stdio_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    if (!g_atomic_int_compare_and_exchange(&stdio_in_use, 0, 1)) {
        error_setg(errp, "cannot use stdio by multiple character devices");
        return FALSE;
    }
    chardev_fd_keep_open(CHARDEV_FD(chr), TRUE);
    stdio_make_raw(chr_json_bool(data, "signal", TRUE));
    /*
     * stdout stays blocking: its file description is usually shared with stderr and with the
     * parent (a terminal, a pipe), which must not see O_NONBLOCK appear. Writes wait instead.
     */
    int out_flags = fcntl(STDOUT_FILENO, F_GETFL);
    saved_stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    chardev_fd_set_fds(CHARDEV_FD(chr), STDIN_FILENO, STDOUT_FILENO);
    if (out_flags >= 0) {
        fcntl(STDOUT_FILENO, F_SETFL, out_flags);
    }
    *be_opened = TRUE;
    return TRUE;
}

static char *stdio_filename(Chardev *chr)
{
    return g_strdup("stdio");
}

static void chardev_stdio_finalize(GObject *obj)
{
    if (saved_stdin_flags >= 0) {
        fcntl(STDIN_FILENO, F_SETFL, saved_stdin_flags);
        saved_stdin_flags = -1;
    }
    stdio_restore_tty();
    g_atomic_int_set(&stdio_in_use, 0);
    G_OBJECT_CLASS(chardev_stdio_parent_class)->finalize(obj);
}

static void chardev_stdio_class_init(ChardevStdioClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    G_OBJECT_CLASS(klass)->finalize = chardev_stdio_finalize;
    cc->backend_name = "stdio";
    cc->parse_opts = stdio_parse_opts;
    cc->open = stdio_open;
    cc->filename = stdio_filename;
}

static void chardev_stdio_init(ChardevStdio *s)
{
}
