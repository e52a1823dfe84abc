/* The "file" chardev: output to a file (truncated, or appended to), optional input file. */
#include "chardev-internal.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct _ChardevFile {
    ChardevFd parent_instance;
};
G_DECLARE_FINAL_TYPE(ChardevFile, chardev_file, CHARDEV, FILE, ChardevFd)
G_DEFINE_TYPE(ChardevFile, chardev_file, TYPE_CHARDEV_FD)

static gboolean file_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {"path", "append", "input-path", NULL};
    const char *path = keyval_get(opts, "path");
    gboolean append;

    if (!chr_opts_check_known(opts, known, errp)) {
        return FALSE;
    }
    if (!path) {
        error_setg(errp, "chardev: file: no filename given");
        return FALSE;
    }
    if (!chr_opt_bool(opts, "append", FALSE, &append, errp)) {
        return FALSE;
    }
    json_object_set_string_member(data, "out", path);
    if (keyval_get(opts, "input-path")) {
        json_object_set_string_member(data, "in", keyval_get(opts, "input-path"));
    }
    json_object_set_boolean_member(data, "append", append);
    return TRUE;
}

static gboolean file_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    const char *out = chr_json_str(data, "out");
    const char *in = chr_json_str(data, "in");
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;

    if (!out) {
        error_set_missing_param(errp, "backend.data.out");
        return FALSE;
    }
    flags |= chr_json_bool(data, "append", FALSE) ? O_APPEND : O_TRUNC;
    int out_fd = open(out, flags, 0666);
    if (out_fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", out);
        return FALSE;
    }
    int in_fd = -1;
    if (in) {
        in_fd = open(in, O_RDONLY | O_CLOEXEC);
        if (in_fd < 0) {
            error_setg_errno(errp, errno, "Could not open '%s'", in);
            close(out_fd);
            return FALSE;
        }
    }
    chardev_fd_set_fds(CHARDEV_FD(chr), in_fd, out_fd);
    *be_opened = TRUE;
    return TRUE;
}

static char *file_filename(Chardev *chr)
{
    return g_strdup("file");
}

static void chardev_file_class_init(ChardevFileClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    cc->backend_name = "file";
    cc->parse_opts = file_parse_opts;
    cc->open = file_open;
    cc->filename = file_filename;
}

static void chardev_file_init(ChardevFile *f)
{
}
