/*
 * HMP: command tables (generated from hmp-commands.hx and hmp-commands-info.hx by
 * scripts/hxtool-gen.py) and what handlers use to read their arguments.
 *
 * args_type is QEMU's notation: "name:T" items separated by commas, T one of
 *   s  one word (quotes allowed)      S  the rest of the line
 *   B  a block device name (as s)
 *   i  32-bit integer expression      l  64-bit integer expression
 *   M  expression in MiB (>= 0)       o  size: 4k, 1.5G, 0x10 (no suffix: MiB)
 *   b  on|off                         -f a flag "-f" (value bool)
 *   ?  suffix: optional
 * Integer handlers read the evaluated value (bytes for M and o) with hmp_args_get_int.
 *
 * Expressions, as upstream's monitor evaluates them (unsigned 64-bit, blanks allowed between
 * tokens, C precedence is NOT followed: & | ^ bind tighter than * / %, which bind tighter than
 * + -):
 *   sum   = prod { ("+" | "-") prod }
 *   prod  = logic { ("*" | "/" | "%") logic }
 *   logic = unary { ("&" | "|" | "^") unary }
 *   unary = ("+" | "-" | "~") unary | "(" sum ")" | "'" char "'" | number (C: 10, 0x10, 010)
 * "$reg" (a CPU register) is refused with "unknown register".
 */
#ifndef MONITOR_HMP_H
#define MONITOR_HMP_H

#include <glib.h>
#include <stdint.h>
#include "monitor/monitor.h"

typedef struct HmpArgs HmpArgs;
typedef void (*HmpHandler)(Monitor *mon, const HmpArgs *args);

typedef struct HmpCommand {
    const char *name; /* "stop|s": aliases separated by '|' */
    const char *args_type;
    const char *params;
    const char *help;
    HmpHandler cmd; /* NULL for "info", which has sub_table */
    const struct HmpCommand *sub_table;
} HmpCommand;

/* Generated tables, terminated by an entry with a NULL name. */
extern const HmpCommand hmp_cmds[];
extern const HmpCommand hmp_info_cmds[];

const char *hmp_args_get_str(const HmpArgs *args, const char *name);
gboolean hmp_args_has(const HmpArgs *args, const char *name);
int64_t hmp_args_get_int(const HmpArgs *args, const char *name, int64_t def);
gboolean hmp_args_get_bool(const HmpArgs *args, const char *name, gboolean def);

/* Prints "Error: <message>" (QEMU's wording) and frees @err; does nothing for NULL. */
void hmp_handle_error(Monitor *mon, GError *err);

/*
 * Evaluates the expression at *@pp and advances it past it (and past trailing blanks); what
 * follows is the caller's ("1G" leaves "G"). Errors are upstream's ("division by zero").
 */
gboolean hmp_parse_expr(const char **pp, int64_t *val, GError **errp);
/* A size at *@pp (type 'o'); "invalid size" if malformed or past INT64_MAX. */
gboolean hmp_parse_size(const char **pp, int64_t *val, GError **errp);

/* Runs one command line on @mon (the HMP line handler; also human-monitor-command). */
void hmp_handle_command(Monitor *mon, const char *line);
/* quit: no prompt after this command and no more input on the HMP monitor @mon. */
void hmp_suspend(Monitor *mon);

/*
 * A command that goes on after its handler returns (migrate without -d): @mon shows no prompt
 * and reads no input, while the main loop and other monitors go on. @poll runs on the main loop
 * every @interval_ms while it returns TRUE; then the prompt comes back and the input typed
 * meanwhile is read. @free_opaque (may be NULL) frees @opaque at the end or with the monitor.
 * FALSE, and nothing held, on a monitor with no client (human-monitor-command).
 */
typedef gboolean (*HmpWaitFn)(Monitor *mon, void *opaque);
gboolean hmp_wait(Monitor *mon, guint interval_ms, HmpWaitFn poll, void *opaque,
                  GDestroyNotify free_opaque);

#endif
