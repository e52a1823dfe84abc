/*
 * The chardev multiplexer: one backend (stdio, a socket...) shared by up to four front-ends
 * (the guest's serial port, HMP monitors), as -chardev ...,mux=on and -serial mon:... make it.
 *
 * Input goes to the front-end that has the focus; output from every front-end goes out. The
 * escape character (Ctrl-a unless -echr says otherwise) introduces a command:
 *
 *   +--------+  escape   +----------+  h ?  help text         (back to NORMAL)
 *   | NORMAL | --------> | GOT_ESC  |  x    "QEMU: Terminated", quit
 *   +--------+           +----------+  s    commit disks (nothing to commit here)
 *     ^  |  other byte:       |        b    BREAK to the focused front-end
 *     |  |  to the focused    |        c    focus to the next front-end
 *     |  v  front-end         |        t    console timestamps on/off
 *     +--+                    |        escape: the escape byte itself to the front-end
 *     ^                       |        anything else: dropped (upstream ignores it too)
 *     +-----------------------+
 *
 * A front-end attaches with char_fe_new() on the mux and takes the focus when it installs its
 * handlers. Focus changes reach the front-ends as CHR_EVENT_MUX_OUT then CHR_EVENT_MUX_IN; an
 * HMP monitor holds its output while it is out of focus and shows it when it comes back (as
 * upstream's monitor does), while the guest's console output always goes straight out.
 *
 * This header is the pure part (escape parser, help text, timestamp prefixer), usable without
 * a chardev by tests and fuzzers.
 */
#ifndef CHARDEV_MUX_H
#define CHARDEV_MUX_H

#include <glib.h>

G_BEGIN_DECLS

#define MUX_MAX_FRONTENDS  4
#define MUX_DEFAULT_ESCAPE 0x01 /* Ctrl-a */

typedef enum {
    MUX_ACTION_NONE,       /* byte consumed (escape seen, or unknown command) */
    MUX_ACTION_DELIVER,    /* the byte goes to the focused front-end */
    MUX_ACTION_HELP,       /* escape h / ? */
    MUX_ACTION_QUIT,       /* escape x */
    MUX_ACTION_COMMIT,     /* escape s */
    MUX_ACTION_BREAK,      /* escape b */
    MUX_ACTION_FOCUS,      /* escape c */
    MUX_ACTION_TIMESTAMPS, /* escape t */
} MuxAction;

typedef struct MuxEscape {
    int escape_char; /* 0..255 */
    gboolean got_escape;
} MuxEscape;

void mux_escape_init(MuxEscape *e, int escape_char);
/* One input byte through the state machine. */
MuxAction mux_escape_byte(MuxEscape *e, guint8 ch);

/* The help text exactly as upstream writes it (its "\n\r" line ends included). */
char *mux_help_text(int escape_char);

/* Timestamps at the start of each output line: "[HH:MM:SS.mmm] ", counted from the first. */
typedef struct MuxStamper {
    gboolean enabled;
    gboolean line_start;
    gint64 start_ms; /* -1: not yet */
} MuxStamper;

/* Toggles as escape t does: the next line start gets no stamp until a newline is seen. */
void mux_stamper_toggle(MuxStamper *st);
/* Appends @buf to @out, stamped if enabled; @now_ms is a monotonic clock in milliseconds. */
void mux_stamper_apply(MuxStamper *st, const guint8 *buf, gsize len, gint64 now_ms,
                       GByteArray *out);

/* The process-wide escape character (-echr); MUX_DEFAULT_ESCAPE unless set. */
void mux_set_escape_char(int escape_char);
int mux_get_escape_char(void);

G_END_DECLS

#endif
