/* The multiplexer's pure parts: escape state machine, help text, timestamps (chardev/mux.h). */
#include "chardev/mux.h"

#include <string.h>

static int process_escape_char = MUX_DEFAULT_ESCAPE;

void mux_set_escape_char(int escape_char)
{
    process_escape_char = escape_char & 0xff;
}

int mux_get_escape_char(void)
{
    return process_escape_char;
}

void mux_escape_init(MuxEscape *e, int escape_char)
{
    e->escape_char = escape_char & 0xff;
    e->got_escape = FALSE;
}

MuxAction mux_escape_byte(MuxEscape *e, guint8 ch)
{
    if (!e->got_escape) {
        if (ch == e->escape_char) {
            e->got_escape = TRUE;
            return MUX_ACTION_NONE;
        }
        return MUX_ACTION_DELIVER;
    }
    e->got_escape = FALSE;
    /* Checked first: an escape character of 'h' or 'x' doubles as itself, as upstream's does. */
    if (ch == e->escape_char) {
        return MUX_ACTION_DELIVER;
    }
    switch (ch) {
    case 'h':
    case '?':
        return MUX_ACTION_HELP;
    case 'x':
        return MUX_ACTION_QUIT;
    case 's':
        return MUX_ACTION_COMMIT;
    case 'b':
        return MUX_ACTION_BREAK;
    case 'c':
        return MUX_ACTION_FOCUS;
    case 't':
        return MUX_ACTION_TIMESTAMPS;
    default:
        return MUX_ACTION_NONE;
    }
}

char *mux_help_text(int escape_char)
{
    /* Each '%' stands for the escape key's name. */
    static const char *const lines[] = {
        "% h    print this help\n\r",
        "% x    exit emulator\n\r",
        "% s    save disk data back to file (if -snapshot)\n\r",
        "% t    toggle console timestamps\n\r",
        "% b    send break (magic sysrq)\n\r",
        "% c    switch between console and monitor\n\r",
        "% %  sends %\n\r",
    };
    GString *out = g_string_new(NULL);
    char name[16];
    /* Ctrl-a .. Ctrl-y have a C-x name; anything else is shown by its code. */
    if (escape_char > 0 && escape_char < 26) {
        g_snprintf(name, sizeof(name), "C-%c", escape_char - 1 + 'a');
        g_string_append(out, "\n\r");
    } else {
        g_strlcpy(name, "Escape-Char", sizeof(name));
        g_string_append_printf(out, "\n\rEscape-Char set to Ascii: 0x%02x\n\r\n\r", escape_char);
    }
    for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
        for (const char *p = lines[i]; *p; p++) {
            if (*p == '%') {
                g_string_append(out, name);
            } else {
                g_string_append_c(out, *p);
            }
        }
    }
    return g_string_free(out, FALSE);
}

void mux_stamper_toggle(MuxStamper *st)
{
    st->enabled = !st->enabled;
    st->start_ms = -1;
    st->line_start = FALSE;
}

void mux_stamper_apply(MuxStamper *st, const guint8 *buf, gsize len, gint64 now_ms, GByteArray *out)
{
    /* An empty write may come as (NULL, 0), e.g. an empty GByteArray: no offset on NULL. */
    if (len == 0) {
        return;
    }
    if (!st->enabled) {
        g_byte_array_append(out, buf, len);
        return;
    }
    gsize from = 0;
    for (gsize i = 0; i < len; i++) {
        if (st->line_start) {
            g_byte_array_append(out, buf + from, i - from);
            from = i;
            if (st->start_ms < 0) {
                st->start_ms = now_ms;
            }
            gint64 t = MAX(now_ms - st->start_ms, 0);
            gint64 secs = t / 1000;
            char stamp[64];
            int n = g_snprintf(stamp, sizeof(stamp), "[%02d:%02d:%02d.%03d] ", (int)(secs / 3600),
                               (int)(secs / 60 % 60), (int)(secs % 60), (int)(t % 1000));
            g_byte_array_append(out, (const guint8 *)stamp, n);
            st->line_start = FALSE;
        }
        if (buf[i] == '\n') {
            st->line_start = TRUE;
        }
    }
    g_byte_array_append(out, buf + from, len - from);
}
