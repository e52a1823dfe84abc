/* HMP: line input with QEMU's terminal echo, argument parsing per args_type, help. */
#include "config-host.h"
#include "monitor-internal.h"
#include "monitor/hmp.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct HmpArg {
    char *name;
    char *value; /* string form; flags and bools as "on"/"off" */
} HmpArg;

struct HmpArgs {
    GPtrArray *items; /* of HmpArg* */
};

static void hmp_arg_free(gpointer p)
{
    HmpArg *a = p;
    g_free(a->name);
    g_free(a->value);
    g_free(a);
}

static const HmpArg *find_arg(const HmpArgs *args, const char *name)
{
    for (guint i = 0; args && i < args->items->len; i++) {
        const HmpArg *a = g_ptr_array_index(args->items, i);
        if (strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

const char *hmp_args_get_str(const HmpArgs *args, const char *name)
{
    const HmpArg *a = find_arg(args, name);
    return a ? a->value : NULL;
}

gboolean hmp_args_has(const HmpArgs *args, const char *name)
{
    return find_arg(args, name) != NULL;
}

int64_t hmp_args_get_int(const HmpArgs *args, const char *name, int64_t def)
{
    const HmpArg *a = find_arg(args, name);
    return a ? g_ascii_strtoll(a->value, NULL, 0) : def;
}

gboolean hmp_args_get_bool(const HmpArgs *args, const char *name, gboolean def)
{
    const HmpArg *a = find_arg(args, name);
    return a ? strcmp(a->value, "on") == 0 : def;
}

void hmp_handle_error(Monitor *mon, GError *err)
{
    if (!err) {
        return;
    }
    char *desc = error_get_desc(err);
    const char *hint = strchr(err->message, ERROR_HINT_SEP);
    /* upstream reports the hint too ("Optional suffix k, M, G, ...") */
    monitor_printf(mon, "Error: %s\n", desc);
    if (hint) {
        monitor_printf(mon, "%s\n", hint + 1);
    }
    g_free(desc);
    g_error_free(err);
}

/* ---- command lookup and help ---- */

/* Does @typed match one of the '|'-separated names of @cmd? */
static gboolean name_matches(const HmpCommand *cmd, const char *typed)
{
    g_auto(GStrv) names = g_strsplit(cmd->name, "|", -1);
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], typed) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

static const HmpCommand *find_cmd(const HmpCommand *table, const char *typed)
{
    for (const HmpCommand *c = table; c->name; c++) {
        if (name_matches(c, typed)) {
            return c;
        }
    }
    return NULL;
}

static void help_line(Monitor *mon, const char *prefix, const HmpCommand *c)
{
    monitor_printf(mon, "%s%s %s -- %s\n", prefix, c->name, c->params, c->help);
}

/* QEMU sorts the tables by name; ours are listed in the same order. */
static gint cmd_cmp(gconstpointer a, gconstpointer b)
{
    const HmpCommand *x = *(const HmpCommand *const *)a, *y = *(const HmpCommand *const *)b;
    return strcmp(x->name, y->name);
}

static void help_table(Monitor *mon, const char *prefix, const HmpCommand *table)
{
    GPtrArray *sorted = g_ptr_array_new();
    for (const HmpCommand *c = table; c->name; c++) {
        g_ptr_array_add(sorted, (gpointer)c);
    }
    g_ptr_array_sort(sorted, cmd_cmp);
    for (guint i = 0; i < sorted->len; i++) {
        help_line(mon, prefix, g_ptr_array_index(sorted, i));
    }
    g_ptr_array_unref(sorted);
}

void hmp_help(Monitor *mon, const HmpArgs *args)
{
    const char *name = hmp_args_get_str(args, "name");
    if (!name) {
        help_table(mon, "", hmp_cmds);
        return;
    }
    g_auto(GStrv) words = g_strsplit_set(name, " \t", -1);
    const char *first = NULL, *second = NULL;
    for (int i = 0; words[i]; i++) {
        if (!*words[i]) {
            continue;
        }
        if (!first) {
            first = words[i];
        } else if (!second) {
            second = words[i];
        }
    }
    if (!first) {
        help_table(mon, "", hmp_cmds);
        return;
    }
    const HmpCommand *c = find_cmd(hmp_cmds, first);
    if (!c) {
        monitor_printf(mon, "unknown command: '%s'\n", first);
        return;
    }
    if (c->sub_table) {
        if (!second) {
            help_table(mon, "info ", c->sub_table);
            return;
        }
        const HmpCommand *sub = find_cmd(c->sub_table, second);
        if (!sub) {
            monitor_printf(mon, "unknown command: '%s %s'\n", first, second);
            return;
        }
        help_line(mon, "info ", sub);
        return;
    }
    help_line(mon, "", c);
}

/* ---- argument parsing ---- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* One word, or a "quoted string" with \" \\ \n escapes; NULL at end of line or on bad quoting. */
static char *get_word(const char **pp)
{
    const char *p = skip_space(*pp);
    if (!*p) {
        return NULL;
    }
    GString *out = g_string_new(NULL);
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) {
                p++;
                g_string_append_c(out, *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p);
            } else {
                g_string_append_c(out, *p);
            }
            p++;
        }
        if (*p != '"') {
            g_string_free(out, TRUE);
            return NULL;
        }
        p++;
    } else {
        while (*p && *p != ' ' && *p != '\t') {
            g_string_append_c(out, *p++);
        }
    }
    *pp = p;
    return g_string_free(out, FALSE);
}

static void add_arg(HmpArgs *args, const char *name, const char *value)
{
    HmpArg *a = g_new(HmpArg, 1);
    a->name = g_strdup(name);
    a->value = g_strdup(value);
    g_ptr_array_add(args->items, a);
}

/* Parses @p per @cmd->args_type; on failure prints QEMU's message and returns NULL. */
static HmpArgs *parse_args(Monitor *mon, const HmpCommand *cmd, const char *display_name,
                           const char *p)
{
    HmpArgs *args = g_new0(HmpArgs, 1);
    args->items = g_ptr_array_new_with_free_func(hmp_arg_free);
    g_auto(GStrv) specs = g_strsplit(cmd->args_type, ",", -1);
    for (int i = 0; specs[i] && *specs[i]; i++) {
        const char *colon = strchr(specs[i], ':');
        if (!colon) {
            continue;
        }
        g_autofree char *name = g_strndup(specs[i], colon - specs[i]);
        const char *type = colon + 1;
        gboolean optional = type[0] && type[strlen(type) - 1] == '?';
        p = skip_space(p);
        switch (type[0]) {
        case 'S':
            if (!*p) {
                if (optional) {
                    break;
                }
                monitor_printf(mon, "%s: string expected\n", display_name);
                goto fail;
            }
            add_arg(args, name, p);
            p += strlen(p);
            break;
        case 's':
        case 'B': {
            if (!*p && optional) {
                break;
            }
            g_autofree char *w = get_word(&p);
            if (!w) {
                monitor_printf(mon, "%s: %s expected\n", display_name,
                               type[0] == 'B' ? "block device name" : "string");
                goto fail;
            }
            add_arg(args, name, w);
            break;
        }
        case 'i':
        case 'l':
        case 'M':
        case 'o': {
            if (!*p && optional) {
                break;
            }
            int64_t v;
            GError *err = NULL;
            gboolean ok =
                type[0] == 'o' ? hmp_parse_size(&p, &v, &err) : hmp_parse_expr(&p, &v, &err);
            if (!ok) {
                monitor_printf(mon, "%s\n", err->message);
                g_error_free(err);
                goto fail;
            }
            if (type[0] == 'i' && ((uint64_t)v >> 32)) {
                monitor_printf(mon, "'%s' has failed: integer is for 32-bit values\n",
                               display_name);
                goto fail;
            }
            if (type[0] == 'M') {
                if (v < 0) {
                    monitor_printf(mon, "enter a positive value\n");
                    goto fail;
                }
                v = (int64_t)((uint64_t)v << 20);
            }
            g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT, v);
            add_arg(args, name, text);
            break;
        }
        case 'b': {
            if (!*p && optional) {
                break;
            }
            g_autofree char *w = get_word(&p);
            if (!w || (strcmp(w, "on") != 0 && strcmp(w, "off") != 0)) {
                monitor_printf(mon, "Expected 'on' or 'off'\n");
                goto fail;
            }
            add_arg(args, name, w);
            break;
        }
        case '-': {
            /* "-f": the flag letter follows the dash */
            char flag = type[1];
            if (p[0] == '-' && p[1] == flag && (p[2] == '\0' || p[2] == ' ')) {
                add_arg(args, name, "on");
                p += 2;
            }
            break;
        }
        default:
            break;
        }
    }
    p = skip_space(p);
    if (*p) {
        monitor_printf(mon, "%s: extraneous characters at the end of line\n", display_name);
        goto fail;
    }
    return args;
fail:
    g_ptr_array_unref(args->items);
    g_free(args);
    return NULL;
}

static void hmp_args_free(HmpArgs *args)
{
    if (args) {
        g_ptr_array_unref(args->items);
        g_free(args);
    }
}

void hmp_handle_command(Monitor *mon, const char *line)
{
    const char *p = skip_space(line);
    if (!*p) {
        return;
    }
    const char *start = p;
    while (*p && *p != ' ' && *p != '\t') {
        p++;
    }
    g_autofree char *typed = g_strndup(start, p - start);
    const HmpCommand *cmd = find_cmd(hmp_cmds, typed);
    if (!cmd) {
        monitor_printf(mon, "unknown command: '%s'\n", typed);
        return;
    }
    g_autofree char *help_name = g_strdup(typed);
    if (cmd->sub_table) {
        const char *q = skip_space(p);
        if (!*q) {
            help_table(mon, "info ", cmd->sub_table);
            return;
        }
        const char *s = q;
        while (*q && *q != ' ' && *q != '\t') {
            q++;
        }
        g_autofree char *sub_typed = g_strndup(s, q - s);
        const HmpCommand *sub = find_cmd(cmd->sub_table, sub_typed);
        if (!sub) {
            monitor_printf(mon, "unknown command: '%s %s'\n", typed, sub_typed);
            return;
        }
        g_free(help_name);
        help_name = g_strdup_printf("%s %s", typed, sub_typed);
        cmd = sub;
        p = q;
    }
    HmpArgs *args = parse_args(mon, cmd, cmd->name, p);
    if (!args) {
        monitor_printf(mon, "Try \"help %s\" for more information\n", help_name);
        return;
    }
    Monitor *saved;
    monitor_set_cur(mon, &saved);
    cmd->cmd(mon, args);
    monitor_set_cur(saved, NULL);
    hmp_args_free(args);
}

/* ---- the readline-style session ---- */

#define HMP_LINE_MAX 4095

typedef struct HmpSession {
    Monitor mon;
    GString *line;
    guint echoed_len;   /* what the terminal shows of line, for the redraw */
    int esc_state;      /* inside an escape sequence: 1 after ESC, 2 after ESC [ */
    gboolean suspended; /* quit was given: no prompt, no more input */
    gboolean mux_out;   /* on a mux that gave the focus to another front-end */
    /* hmp_wait: a command goes on after its handler returned; input read meanwhile waits */
    GSource *wait;
    HmpWaitFn wait_poll;
    void *wait_opaque;
    GDestroyNotify wait_free;
    GString *pending;
} HmpSession;

static const MonitorOps hmp_ops;

static HmpSession *hmp_session(Monitor *mon)
{
    return mon && mon->ops == &hmp_ops ? (HmpSession *)mon : NULL;
}

static const char prompt[] = "(qemu) ";

static void hmp_session_new_line(HmpSession *hs)
{
    g_string_truncate(hs->line, 0);
    hs->echoed_len = 0;
    hs->esc_state = 0;
}

static void hmp_session_open(Monitor *mon)
{
    HmpSession *hs = hmp_session(mon);
    hmp_session_new_line(hs);
    monitor_printf(mon, "QEMU %s monitor - type 'help' for more information\n", QEMU_VERSION);
    /* Out of focus on a mux: the prompt comes when the focus does (hmp_session_focus). */
    if (!hs->mux_out) {
        monitor_puts(mon, prompt);
    }
}

static void hmp_session_close(Monitor *mon)
{
    /* What the client sent while a command held it left with the client, as a socket's
     * unread bytes do upstream. */
    g_string_truncate(hmp_session(mon)->pending, 0);
}

static void hmp_session_focus(Monitor *mon, gboolean in)
{
    HmpSession *hs = hmp_session(mon);
    hs->mux_out = !in;
    if (!mon->open) {
        return;
    }
    if (in) {
        /* A fresh line, as upstream's readline restarts; no prompt while a command waits. */
        hmp_session_new_line(hs);
        if (!hs->wait) {
            monitor_puts(mon, prompt);
        }
    } else {
        monitor_puts(mon, "\n");
    }
}

/* Redraws the line as QEMU's readline does: cursor back over the old text, the new text,
 * erase to the end of the line. */
static void redraw(HmpSession *hs)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < hs->echoed_len; i++) {
        g_string_append(out, "\033[D");
    }
    g_string_append_len(out, hs->line->str, hs->line->len);
    g_string_append(out, "\033[K");
    monitor_write_raw(&hs->mon, out->str, out->len);
    g_string_free(out, TRUE);
    hs->echoed_len = hs->line->len;
}

static void hmp_session_feed(Monitor *mon, const char *buf, size_t len)
{
    HmpSession *hs = hmp_session(mon);
    if (hs->wait) {
        g_string_append_len(hs->pending, buf, len);
        return;
    }
    for (size_t i = 0; i < len && !hs->suspended; i++) {
        unsigned char c = buf[i];
        if (hs->esc_state == 1) {
            hs->esc_state = (c == '[' || c == 'O') ? 2 : 0;
            continue;
        }
        if (hs->esc_state == 2) {
            if (c >= 0x40 && c <= 0x7e) {
                hs->esc_state = 0;
            }
            continue;
        }
        if (c == 27) {
            hs->esc_state = 1;
        } else if (c == '\r' || c == '\n') {
            monitor_puts(mon, "\n");
            char *line = g_strndup(hs->line->str, hs->line->len);
            g_string_truncate(hs->line, 0);
            hs->echoed_len = 0;
            hmp_handle_command(mon, line);
            g_free(line);
            if (hs->suspended) {
                return;
            }
            if (hs->wait) {
                /* The rest is read when the command ends, after its prompt (hmp_wait). */
                g_string_append_len(hs->pending, buf + i + 1, len - i - 1);
                return;
            }
            monitor_puts(mon, prompt);
        } else if (c == 127 || c == 8) {
            if (hs->line->len) {
                g_string_truncate(hs->line, hs->line->len - 1);
                redraw(hs);
            }
        } else if (c >= 32 && hs->line->len < HMP_LINE_MAX) {
            g_string_append_c(hs->line, c);
            redraw(hs);
        }
    }
}

static void wait_clear(HmpSession *hs)
{
    if (hs->wait) {
        g_source_destroy(hs->wait);
        g_source_unref(hs->wait);
        hs->wait = NULL;
    }
    if (hs->wait_free) {
        hs->wait_free(hs->wait_opaque);
    }
    hs->wait_poll = NULL;
    hs->wait_opaque = NULL;
    hs->wait_free = NULL;
}

static gboolean hmp_session_holding(Monitor *mon)
{
    return hmp_session(mon)->wait != NULL;
}

static gboolean wait_cb(gpointer data)
{
    HmpSession *hs = data;
    if (hs->wait_poll(&hs->mon, hs->wait_opaque)) {
        return G_SOURCE_CONTINUE;
    }
    wait_clear(hs);
    if (hs->suspended) {
        return G_SOURCE_REMOVE;
    }
    monitor_puts(&hs->mon, prompt);
    /* What the client typed meanwhile, as if it came now; it may start another wait. */
    GString *held = hs->pending;
    hs->pending = g_string_new(NULL);
    hmp_session_feed(&hs->mon, held->str, held->len);
    g_string_free(held, TRUE);
    return G_SOURCE_REMOVE;
}

gboolean hmp_wait(Monitor *mon, guint interval_ms, HmpWaitFn poll, void *opaque,
                  GDestroyNotify free_opaque)
{
    HmpSession *hs = hmp_session(mon);
    /* human-monitor-command has no client to hold: its reply is the command's output. */
    if (!hs || !mon->open || hs->wait) {
        return FALSE;
    }
    hs->wait_poll = poll;
    hs->wait_opaque = opaque;
    hs->wait_free = free_opaque;
    hs->wait = g_timeout_source_new(interval_ms);
    g_source_set_callback(hs->wait, wait_cb, hs, NULL);
    g_source_attach(hs->wait, NULL);
    return TRUE;
}

static void hmp_session_destroy(Monitor *mon)
{
    HmpSession *hs = hmp_session(mon);
    wait_clear(hs);
    g_string_free(hs->pending, TRUE);
    hs->pending = NULL;
    g_string_free(hs->line, TRUE);
    hs->line = NULL;
}

static const MonitorOps hmp_ops = {
    .open = hmp_session_open,
    .close = hmp_session_close,
    .feed = hmp_session_feed,
    .holding = hmp_session_holding,
    .focus = hmp_session_focus,
    .destroy = hmp_session_destroy,
};

Monitor *monitor_new_hmp_custom(MonitorWriteFn write, void *opaque)
{
    HmpSession *hs = g_new0(HmpSession, 1);
    monitor_init(&hs->mon, &hmp_ops, write, opaque);
    hs->line = g_string_new(NULL);
    hs->pending = g_string_new(NULL);
    monitor_register(&hs->mon);
    return &hs->mon;
}

void hmp_suspend(Monitor *mon)
{
    HmpSession *hs = hmp_session(mon);
    if (hs) {
        hs->suspended = TRUE;
    }
}
