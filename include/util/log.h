/*
 * Logging (-d ITEMS, -D FILE) and trace points (-trace PATTERN).
 *
 * Trace points are declared where they fire with TRACE_POINT(var, "name") and fired with
 * trace_fire(var, fmt, ...). Each declaration is placed in the "qc_trace_events" link section,
 * so every trace point of the binary is known at start-up for -trace help and pattern matching.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <glib.h>
#include <stdbool.h>

enum {
    LOG_GUEST_ERROR = 1 << 0,
    LOG_UNIMP = 1 << 1,
    LOG_IN_ASM = 1 << 2,
    LOG_INT = 1 << 3,
    LOG_CPU_RESET = 1 << 4,
    LOG_EXEC = 1 << 5,
    LOG_CPU = 1 << 6,
};

extern int qemu_loglevel;

static inline bool qemu_loglevel_mask(int mask)
{
    return (qemu_loglevel & mask) != 0;
}

void qemu_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
#define qemu_log_mask(mask, ...)                                                                   \
    do {                                                                                           \
        if (G_UNLIKELY(qemu_loglevel_mask(mask))) {                                                \
            qemu_log(__VA_ARGS__);                                                                 \
        }                                                                                          \
    } while (0)

/* -D FILE: where log and trace output goes (stderr by default). */
gboolean qemu_log_set_file(const char *path, GError **errp);
/* -d ITEMS: comma-separated item names; "help" prints the list and returns TRUE, *help set. */
gboolean qemu_log_parse_items(const char *items, gboolean *help, GError **errp);
void qemu_log_close(void);

typedef struct TraceEvent {
    const char *name;
    int enabled;
} TraceEvent;

#define TRACE_POINT(var, tname)                                                                    \
    static TraceEvent var = {.name = tname};                                                       \
    static TraceEvent *const var##_entry                                                           \
        __attribute__((section("qc_trace_events"), used, aligned(sizeof(void *)))) = &var

void trace_emit(TraceEvent *ev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
#define trace_fire(var, ...)                                                                       \
    do {                                                                                           \
        if (G_UNLIKELY(g_atomic_int_get(&(var).enabled))) {                                        \
            trace_emit(&(var), __VA_ARGS__);                                                       \
        }                                                                                          \
    } while (0)

/*
 * -trace PATTERN, -trace enable=PATTERN[,file=FILE], -trace events=FILE: enables every trace point
 * whose name matches the glob. "help" lists the trace points and sets *help.
 */
gboolean trace_parse_option(const char *arg, gboolean *help, GError **errp);
/* Enables (or disables) matching events; returns how many matched. */
guint trace_enable_pattern(const char *pattern, gboolean enable);

#endif
