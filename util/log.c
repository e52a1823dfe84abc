/* -d/-D logging and -trace trace points. */
#include "util/log.h"
#include "util/error.h"
#include "util/keyval.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int qemu_loglevel;
static FILE *log_file;
static GMutex log_lock;

static const struct {
    const char *name;
    int mask;
    const char *help;
} log_items[] = {
    {"guest_errors", LOG_GUEST_ERROR,
     "log when the guest OS does something invalid (eg accessing a non-existent register)"},
    {"unimp", LOG_UNIMP, "log unimplemented functionality"},
    {"in_asm", LOG_IN_ASM, "show target assembly code for each compiled TB"},
    {"int", LOG_INT, "show interrupts/exceptions in short format"},
    {"cpu_reset", LOG_CPU_RESET, "show CPU state before CPU resets"},
    {"exec", LOG_EXEC, "show trace before each executed TB (lots of logs)"},
    {"cpu", LOG_CPU, "show CPU registers before entering a TB (lots of logs)"},
};

static FILE *out(void)
{
    return log_file ? log_file : stderr;
}

static void vlog(const char *fmt, va_list ap)
{
    g_mutex_lock(&log_lock);
    vfprintf(out(), fmt, ap);
    fflush(out());
    g_mutex_unlock(&log_lock);
}

void qemu_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

gboolean qemu_log_set_file(const char *path, GError **errp)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        error_setg_errno(errp, errno, "could not open log file '%s'", path);
        return FALSE;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    g_mutex_lock(&log_lock);
    if (log_file) {
        fclose(log_file);
    }
    log_file = f;
    g_mutex_unlock(&log_lock);
    return TRUE;
}

void qemu_log_close(void)
{
    g_mutex_lock(&log_lock);
    if (log_file) {
        fclose(log_file);
        log_file = NULL;
    }
    g_mutex_unlock(&log_lock);
}

gboolean qemu_log_parse_items(const char *items, gboolean *help, GError **errp)
{
    *help = FALSE;
    int mask = 0;
    g_auto(GStrv) names = g_strsplit(items, ",", -1);
    for (char **n = names; *n; n++) {
        if (!**n) {
            continue;
        }
        if (strcmp(*n, "help") == 0 || strcmp(*n, "?") == 0) {
            printf("Log items (comma separated):\n");
            for (guint i = 0; i < G_N_ELEMENTS(log_items); i++) {
                printf("%-15s %s\n", log_items[i].name, log_items[i].help);
            }
            printf("trace:PATTERN   enable trace events\n\n"
                   "Use \"-d trace:help\" to get a list of trace events.\n\n");
            *help = TRUE;
            return TRUE;
        }
        if (g_str_has_prefix(*n, "trace:")) {
            if (strcmp(*n + 6, "help") == 0) {
                return trace_parse_option("help", help, errp);
            }
            trace_enable_pattern(*n + 6, TRUE);
            continue;
        }
        if (strcmp(*n, "all") == 0) {
            for (guint i = 0; i < G_N_ELEMENTS(log_items); i++) {
                mask |= log_items[i].mask;
            }
            continue;
        }
        guint i;
        for (i = 0; i < G_N_ELEMENTS(log_items); i++) {
            if (strcmp(*n, log_items[i].name) == 0) {
                mask |= log_items[i].mask;
                break;
            }
        }
        if (i == G_N_ELEMENTS(log_items)) {
            error_setg(errp, "Invalid -d option \"%s\"", *n);
            return FALSE;
        }
    }
    qemu_loglevel |= mask;
    return TRUE;
}

/* ---- trace points ---- */

extern TraceEvent *const __start_qc_trace_events[] __attribute__((weak));
extern TraceEvent *const __stop_qc_trace_events[] __attribute__((weak));

/* Keeps the section present even in a binary that declares no trace point. */
TRACE_POINT(trace_log_enabled, "log_trace_enabled");

static gint compare_events(gconstpointer a, gconstpointer b)
{
    const TraceEvent *x = *(TraceEvent *const *)a;
    const TraceEvent *y = *(TraceEvent *const *)b;
    return strcmp(x->name, y->name);
}

guint trace_enable_pattern(const char *pattern, gboolean enable)
{
    guint matched = 0;
    for (TraceEvent *const *e = __start_qc_trace_events; e && e < __stop_qc_trace_events; e++) {
        if (g_pattern_match_simple(pattern, (*e)->name)) {
            g_atomic_int_set(&(*e)->enabled, enable);
            matched++;
        }
    }
    return matched;
}

void trace_emit(TraceEvent *ev, const char *fmt, ...)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    qemu_log("%d@%ld.%06ld:%s %s\n", (int)getpid(), (long)tv.tv_sec, (long)tv.tv_usec, ev->name,
             msg);
    g_free(msg);
}

static gboolean enable_from_file(const char *path, GError **errp)
{
    g_autofree char *text = NULL;
    GError *local = NULL;
    if (!g_file_get_contents(path, &text, NULL, &local)) {
        error_setg(errp, "%s", local->message);
        g_error_free(local);
        return FALSE;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *line = g_strstrip(*l);
        if (!*line || line[0] == '#') {
            continue;
        }
        if (line[0] == '-') {
            trace_enable_pattern(line + 1, FALSE);
        } else {
            trace_enable_pattern(line, TRUE);
        }
    }
    return TRUE;
}

gboolean trace_parse_option(const char *arg, gboolean *help, GError **errp)
{
    *help = FALSE;
    g_autoptr(KeyvalList) opts = keyval_parse(arg, "enable", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    if (!opts) {
        return FALSE;
    }
    const char *enable = keyval_get(opts, "enable");
    if (opts->help || (enable && strcmp(enable, "help") == 0)) {
        GPtrArray *events = g_ptr_array_new();
        for (TraceEvent *const *e = __start_qc_trace_events; e && e < __stop_qc_trace_events; e++) {
            g_ptr_array_add(events, *e);
        }
        g_ptr_array_sort(events, compare_events);
        for (guint i = 0; i < events->len; i++) {
            printf("%s\n", ((TraceEvent *)events->pdata[i])->name);
        }
        g_ptr_array_unref(events);
        *help = TRUE;
        return TRUE;
    }
    for (guint i = 0; i < opts->pairs->len; i++) {
        KeyvalPair *pair = g_ptr_array_index(opts->pairs, i);
        if (strcmp(pair->key, "enable") && strcmp(pair->key, "events") &&
            strcmp(pair->key, "file")) {
            error_set_invalid_param(errp, pair->key);
            return FALSE;
        }
    }
    const char *file = keyval_get(opts, "file");
    if (file && !qemu_log_set_file(file, errp)) {
        return FALSE;
    }
    const char *events = keyval_get(opts, "events");
    if (events && !enable_from_file(events, errp)) {
        return FALSE;
    }
    if (enable) {
        trace_enable_pattern(enable, TRUE);
    }
    return TRUE;
}
