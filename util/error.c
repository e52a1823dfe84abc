/* GError with QEMU's error classes, and stderr reporting in QEMU's wording. */
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(qemu - error - quark, qemu_error)

static const char *const class_names[] = {
    [ERROR_CLASS_GENERIC_ERROR] = "GenericError",
    [ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
    [ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *error_class_name(ErrorClass cls)
{
    if ((unsigned)cls >= G_N_ELEMENTS(class_names)) {
        return class_names[ERROR_CLASS_GENERIC_ERROR];
    }
    return class_names[cls];
}

ErrorClass error_get_class(const GError *err)
{
    if (err && err->domain == QEMU_ERROR && (unsigned)err->code < G_N_ELEMENTS(class_names)) {
        return err->code;
    }
    return ERROR_CLASS_GENERIC_ERROR;
}

static void error_setv(GError **errp, ErrorClass cls, const char *fmt, va_list ap)
{
    if (!errp) {
        return;
    }
    /* The first error wins, as in QEMU; a second one is a programming error we tolerate. */
    if (*errp) {
        return;
    }
    char *msg = g_strdup_vprintf(fmt, ap);
    *errp = g_error_new_literal(QEMU_ERROR, cls, msg);
    g_free(msg);
}

void error_setg(GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(errp, ERROR_CLASS_GENERIC_ERROR, fmt, ap);
    va_end(ap);
}

void error_set(GError **errp, ErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(errp, cls, fmt, ap);
    va_end(ap);
}

void error_setg_errno(GError **errp, int errno_val, const char *fmt, ...)
{
    if (!errp || *errp) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    *errp =
        g_error_new(QEMU_ERROR, ERROR_CLASS_GENERIC_ERROR, "%s: %s", msg, g_strerror(errno_val));
    g_free(msg);
}

void error_prepend(GError **errp, const char *fmt, ...)
{
    if (!errp || !*errp) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *msg = g_strconcat(prefix, (*errp)->message, NULL);
    g_free((*errp)->message);
    (*errp)->message = msg;
    g_free(prefix);
}

void error_append_hint(GError **errp, const char *fmt, ...)
{
    if (!errp || !*errp) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *hint = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *sep = strchr((*errp)->message, ERROR_HINT_SEP) ? "" : "\x1e";
    char *msg = g_strconcat((*errp)->message, sep, hint, NULL);
    g_free((*errp)->message);
    (*errp)->message = msg;
    g_free(hint);
}

char *error_get_desc(const GError *err)
{
    const char *sep = strchr(err->message, ERROR_HINT_SEP);
    return sep ? g_strndup(err->message, sep - err->message) : g_strdup(err->message);
}

void error_set_missing_param(GError **errp, const char *name)
{
    error_setg(errp, "Parameter '%s' is missing", name);
}

void error_set_invalid_param(GError **errp, const char *name)
{
    error_setg(errp, "Invalid parameter '%s'", name);
}

void error_set_param_value(GError **errp, const char *name, const char *expects)
{
    error_setg(errp, "Parameter '%s' expects %s", name, expects);
}

/* ---- reporting ---- */

static char *progname;
static GPrivate location_key = G_PRIVATE_INIT(g_free);
static GMutex report_lock;

void error_set_progname(const char *argv0)
{
    g_free(progname);
    progname = g_path_get_basename(argv0);
}

const char *error_get_progname(void)
{
    return progname ? progname : "qemu-system-x86_64";
}

void error_location_set(const char *loc)
{
    g_private_replace(&location_key, loc ? g_strdup(loc) : NULL);
}

void error_location_clear(void)
{
    g_private_replace(&location_key, NULL);
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    char *msg = g_strdup_vprintf(fmt, ap);
    const char *loc = g_private_get(&location_key);
    GString *out = g_string_new(error_get_progname());
    g_string_append(out, ": ");
    if (loc) {
        g_string_append_printf(out, "%s: ", loc);
    }
    g_string_append(out, kind);
    /* A hint goes on the following line(s), unprefixed. */
    char *sep = strchr(msg, ERROR_HINT_SEP);
    if (sep) {
        *sep = '\n';
    }
    g_string_append(out, msg);
    if (out->str[out->len - 1] != '\n') {
        g_string_append_c(out, '\n');
    }
    g_mutex_lock(&report_lock);
    fputs(out->str, stderr);
    fflush(stderr);
    g_mutex_unlock(&report_lock);
    g_string_free(out, TRUE);
    g_free(msg);
}

void error_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("info: ", fmt, ap);
    va_end(ap);
}

void error_report_err(GError *err)
{
    if (err) {
        error_report("%s", err->message);
        g_error_free(err);
    }
}

void warn_report_err(GError *err)
{
    if (err) {
        warn_report("%s", err->message);
        g_error_free(err);
    }
}
