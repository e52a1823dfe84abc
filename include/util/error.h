/*
 * Errors: GError with QEMU's error classes, and error reporting in QEMU's wording.
 *
 * Every fallible function takes a trailing `GError **errp` and returns a gboolean or a pointer.
 * Messages follow QEMU's style: no trailing period, the parameter named in quotes
 * ("Parameter 'id' is missing"). The QMP error class travels as the GError code.
 */
#ifndef UTIL_ERROR_H
#define UTIL_ERROR_H

#include <glib.h>
#include <stdarg.h>

#define QEMU_ERROR (qemu_error_quark())
GQuark qemu_error_quark(void);

/* QMP error classes (QapiErrorClass in upstream's schema). */
typedef enum {
    ERROR_CLASS_GENERIC_ERROR = 0,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_ACTIVE,
    ERROR_CLASS_DEVICE_NOT_FOUND,
    ERROR_CLASS_KVM_MISSING_CAP,
} ErrorClass;

/* "GenericError", "CommandNotFound", ... */
const char *error_class_name(ErrorClass cls);
/* The class of any GError: QEMU_ERROR codes map directly, other domains are GenericError. */
ErrorClass error_get_class(const GError *err);

void error_setg(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void error_set(GError **errp, ErrorClass cls, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* error_setg() with ": <strerror(errno_val)>" appended. */
void error_setg_errno(GError **errp, int errno_val, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void error_prepend(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Adds a second line of explanation (QEMU's error_append_hint), printed after the message. */
void error_append_hint(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * A hint is kept inside the message after ERROR_HINT_SEP so that it survives g_error_copy();
 * QMP shows only the description, stderr shows both.
 */
#define ERROR_HINT_SEP '\x1e'
/* The message without its hint, newly allocated. */
char *error_get_desc(const GError *err);

/* Common QEMU messages, one spelling each. */
void error_set_missing_param(GError **errp, const char *name); /* Parameter '%s' is missing */
void error_set_invalid_param(GError **errp, const char *name); /* Invalid parameter '%s' */
void error_set_param_value(GError **errp, const char *name, const char *expects);
/* Parameter '%s' expects %s */

/*
 * Reporting to stderr: "qemu-system-x86_64: [LOCATION: ]message". The location is set while the
 * command line is processed ("-object colo-compare,id=c0") and cleared after it.
 */
void error_set_progname(const char *argv0);
const char *error_get_progname(void);
void error_location_set(const char *loc);
void error_location_clear(void);
void error_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void warn_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void info_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Reports the error (message, then its hint) and frees it. */
void error_report_err(GError *err);
void warn_report_err(GError *err);

#endif
