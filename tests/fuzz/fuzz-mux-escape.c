/*
 * The mux's escape parser and timestamp prefixer on arbitrary input. The first byte picks the
 * escape character; the rest is input. Checks: exactly the bytes the machine says DELIVER form
 * the delivered stream, a doubled escape delivers the escape byte, and the prefixer keeps every
 * byte of its input in order.
 */
#include "chardev/mux.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    MuxEscape e;
    mux_escape_init(&e, data[0]);
    GByteArray *delivered = g_byte_array_new();
    gboolean prev_escape = FALSE;
    for (size_t i = 1; i < size; i++) {
        MuxAction a = mux_escape_byte(&e, data[i]);
        if (a == MUX_ACTION_DELIVER) {
            g_byte_array_append(delivered, &data[i], 1);
            /* Delivered after an escape only when it is the escape character itself. */
            if (prev_escape && data[i] != data[0]) {
                abort();
            }
        } else if (a != MUX_ACTION_NONE && !prev_escape) {
            abort(); /* commands only follow the escape character */
        }
        prev_escape = a == MUX_ACTION_NONE && e.got_escape;
    }
    if (delivered->len > size - 1) {
        abort();
    }

    /* The prefixer: strip the stamps again and the input must come back. */
    MuxStamper st = {.start_ms = -1};
    mux_stamper_toggle(&st);
    st.line_start = TRUE;
    GByteArray *out = g_byte_array_new();
    mux_stamper_apply(&st, delivered->data, delivered->len, (gint64)size * 37, out);
    gsize j = 0;
    gboolean at_start = TRUE;
    for (guint i = 0; i < delivered->len; i++) {
        if (at_start) {
            /* "[HH:MM:SS.mmm] " */
            if (j + 15 > out->len || out->data[j] != '[' || out->data[j + 13] != ']') {
                abort();
            }
            j += 15;
        }
        if (j >= out->len || out->data[j] != delivered->data[i]) {
            abort();
        }
        at_start = delivered->data[i] == '\n';
        j++;
    }
    if (j != out->len) {
        abort();
    }
    g_free(mux_help_text(data[0]));
    g_byte_array_free(out, TRUE);
    g_byte_array_free(delivered, TRUE);
    return 0;
}
