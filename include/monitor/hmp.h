/*
 * HMP: command tables (generated from hmp-commands.hx and hmp-commands-info.hx by
 * scripts/hxtool-gen.py) and what handlers use to read their arguments.
 *
 * args_type is QEMU's notation: "name:T" items separated by commas, T one of
 *   s  one word (quotes allowed)      S  the rest of the line
 *   i  integer                        b  on|off
 *   -f a flag "-f" (value bool)       ?  suffix: optional
 */
#ifndef MONITOR_HMP_H
#define MONITOR_HMP_H

#include <glib.h>
#include <stdint.h>
#include "monitor/monitor.h"

typedef struct HmpArgs HmpArgs;
typedef void (*HmpHandler)(Monitor *mon, const HmpArgs *args);

typedef struct HmpCommand {
    const char *name;      /* "stop|s": aliases separated by '|' */
    const char *args_type;
    const char *params;
    const char *help;
    HmpHandler cmd;        /* NULL for "info", which has sub_table */
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

/* Runs one command line on @mon (the HMP line handler; also human-monitor-command). */
void hmp_handle_command(Monitor *mon, const char *line);

#endif
