/*
 * The "mux" chardev (include/chardev/mux.h): front-ends share one backend, the focused one gets
 * the input, escape sequences switch the focus and control the emulator.
 *
 * Locks: the mux reads from its backend inside the backend's read dispatch (backend state lock,
 * then the mux's); front-end writes take the mux's write lock, then the backend's.
 */
#include "chardev-internal.h"
#include "chardev/mux.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

/* Input held per front-end while it cannot take it, so escapes are still seen meanwhile. */
#define MUX_INPUT_BUF 4096
/* A front-end that takes nothing and never says when it can: look again this often. */
#define MUX_RETRY_MS 50

struct _ChardevMux {
    Chardev parent_instance;
    CharFrontend *base; /* ours, on the backend */
    gboolean reading;   /* our handlers are on it: since the first front-end came */
    MuxEscape escape;   /* input side: under the state lock */
    MuxStamper stamper; /* output side: under the write lock */
    CharFrontend *focus;
    GHashTable *pending; /* CharFrontend* -> GByteArray of input not yet taken */
    gint drain_scheduled;
};
G_DECLARE_FINAL_TYPE(ChardevMux, chardev_mux, CHARDEV, MUX, Chardev)
G_DEFINE_TYPE(ChardevMux, chardev_mux, TYPE_CHARDEV)

static void (*mux_quit_hook)(void);

void chardev_set_mux_quit_hook(void (*quit)(void))
{
    mux_quit_hook = quit;
}

static GByteArray *pending_of(ChardevMux *m, CharFrontend *fe)
{
    GByteArray *buf = g_hash_table_lookup(m->pending, fe);
    if (!buf) {
        buf = g_byte_array_new();
        g_hash_table_insert(m->pending, fe, buf);
    }
    return buf;
}

static gboolean mux_drain_cb(gpointer data);

/* From any thread: have the focused front-end's pending input delivered on our context. */
static void mux_schedule_drain(ChardevMux *m, guint delay_ms)
{
    if (!g_atomic_int_compare_and_exchange(&m->drain_scheduled, 0, 1)) {
        return;
    }
    GSource *src = delay_ms ? g_timeout_source_new(delay_ms) : g_idle_source_new();
    g_source_set_name(src, "chardev-mux-drain");
    g_source_set_callback(src, mux_drain_cb, g_object_ref(m), g_object_unref);
    g_source_attach(src, chardev_context(CHARDEV(m)));
    g_source_unref(src);
}

/* Hands the focused front-end what it can take now (state lock held). */
static void mux_flush_locked(ChardevMux *m)
{
    Chardev *chr = CHARDEV(m);
    while (m->focus) {
        GByteArray *buf = pending_of(m, m->focus);
        if (!buf->len) {
            return;
        }
        int n = chardev_be_can_read(chr);
        if (n <= 0) {
            mux_schedule_drain(m, MUX_RETRY_MS);
            return;
        }
        n = MIN((guint)n, buf->len);
        /* Copied out: the handler may come back into the mux. */
        g_autofree guint8 *chunk = g_memdup2(buf->data, n);
        g_byte_array_remove_range(buf, 0, n);
        chardev_be_read(chr, chunk, n);
    }
}

static gboolean mux_drain_cb(gpointer data)
{
    ChardevMux *m = data;
    g_atomic_int_set(&m->drain_scheduled, 0);
    chardev_lock(CHARDEV(m));
    mux_flush_locked(m);
    chardev_unlock(CHARDEV(m));
    return G_SOURCE_REMOVE;
}

/* Output from the mux itself (help, "QEMU: Terminated"), stamped like the front-ends'. */
static void mux_write_own(ChardevMux *m, const char *text)
{
    Chardev *chr = CHARDEV(m);
    chardev_write_lock(chr);
    if (m->base) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        mux_stamper_apply(&m->stamper, (const guint8 *)text, strlen(text),
                          g_get_monotonic_time() / 1000, out);
        char_fe_write_all(m->base, out->data, out->len);
    }
    chardev_write_unlock(chr);
}

static void mux_set_focus(ChardevMux *m, CharFrontend *fe)
{
    Chardev *chr = CHARDEV(m);
    if (m->focus) {
        chardev_fe_event(m->focus, CHR_EVENT_MUX_OUT);
    }
    m->focus = fe;
    chardev_set_focus(chr, fe);
    chardev_fe_event(fe, CHR_EVENT_MUX_IN);
    /* What came for it while it was away. */
    if (g_hash_table_contains(m->pending, fe)) {
        mux_schedule_drain(m, 0);
    }
}

static void mux_focus_next(ChardevMux *m)
{
    Chardev *chr = CHARDEV(m);
    guint n = chardev_frontend_count(chr);
    if (!n) {
        return;
    }
    guint next = 0;
    for (guint i = 0; i < n; i++) {
        if (chardev_frontend_at(chr, i) == m->focus) {
            next = (i + 1) % n;
        }
    }
    mux_set_focus(m, chardev_frontend_at(chr, next));
}

static void mux_do_action(ChardevMux *m, MuxAction action)
{
    switch (action) {
    case MUX_ACTION_HELP: {
        g_autofree char *help = mux_help_text(m->escape.escape_char);
        mux_write_own(m, help);
        break;
    }
    case MUX_ACTION_QUIT:
        mux_write_own(m, "QEMU: Terminated\n\r");
        if (mux_quit_hook) {
            mux_quit_hook();
        }
        break;
    case MUX_ACTION_BREAK:
        chardev_be_event(CHARDEV(m), CHR_EVENT_BREAK);
        break;
    case MUX_ACTION_FOCUS:
        mux_focus_next(m);
        break;
    case MUX_ACTION_TIMESTAMPS:
        chardev_write_lock(CHARDEV(m));
        mux_stamper_toggle(&m->stamper);
        chardev_write_unlock(CHARDEV(m));
        break;
    default:
        /* s (commit disks): there are no disks; unknown commands are ignored as upstream. */
        break;
    }
}

/* ---- the mux as its backend's front-end ---- */

static int mux_can_read(void *opaque)
{
    ChardevMux *m = opaque;
    Chardev *chr = CHARDEV(m);
    chardev_lock(chr);
    int room = 0;
    if (m->focus) {
        GByteArray *buf = pending_of(m, m->focus);
        room = MUX_INPUT_BUF - (int)buf->len;
        if (room <= 0) {
            /* Full: take only what the front-end takes, so nothing is dropped. */
            mux_schedule_drain(m, 0);
            room = 0;
        }
    }
    chardev_unlock(chr);
    return room;
}

static void mux_read(void *opaque, const guint8 *data, int len)
{
    ChardevMux *m = opaque;
    Chardev *chr = CHARDEV(m);
    chardev_lock(chr);
    for (int i = 0; i < len; i++) {
        MuxAction action = mux_escape_byte(&m->escape, data[i]);
        if (action == MUX_ACTION_DELIVER) {
            if (!m->focus) {
                chardev_count_input_dropped(chr, 1);
                continue;
            }
            GByteArray *buf = pending_of(m, m->focus);
            if (buf->len >= MUX_INPUT_BUF) {
                /* Only after a focus switch to a front-end that stopped reading. */
                chardev_count_input_dropped(chr, 1);
            } else {
                g_byte_array_append(buf, data + i, 1);
            }
        } else if (action != MUX_ACTION_NONE) {
            /* What came before the command goes before its effect. */
            mux_flush_locked(m);
            mux_do_action(m, action);
        }
    }
    mux_flush_locked(m);
    chardev_unlock(chr);
}

static void mux_event(void *opaque, ChrEvent event)
{
    chardev_be_event(CHARDEV(opaque), event);
}

/* ---- the chardev ---- */

static gboolean mux_parse_opts(KeyvalList *opts, JsonObject *data, GError **errp)
{
    static const char *const known[] = {"chardev", NULL};
    if (!chr_opts_check_known(opts, known, errp)) {
        return FALSE;
    }
    const char *base = keyval_get(opts, "chardev");
    if (!base) {
        error_setg(errp, "chardev: mux: no chardev given");
        return FALSE;
    }
    json_object_set_string_member(data, "chardev", base);
    return TRUE;
}

static gboolean mux_open(Chardev *chr, JsonObject *data, gboolean *be_opened, GError **errp)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    const char *id = chr_json_str(data, "chardev");
    if (!id) {
        error_set_missing_param(errp, "backend.data.chardev");
        return FALSE;
    }
    Chardev *base = chardev_find(id);
    if (!base) {
        error_setg(errp, "mux: base chardev %s not found", id);
        return FALSE;
    }
    m->base = char_fe_new(base, errp);
    if (!m->base) {
        return FALSE;
    }
    mux_escape_init(&m->escape, mux_get_escape_char());
    /*
     * Open when the backend says so: its OPENED reaches every front-end through us. We read
     * from it once a front-end is there (until then upstream reports the backend's front-end
     * as not open).
     */
    *be_opened = FALSE;
    return TRUE;
}

static int mux_write(Chardev *chr, const guint8 *buf, int len)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    if (!m->base) {
        errno = EIO;
        return -1;
    }
    if (!m->stamper.enabled) {
        int n = char_fe_write(m->base, buf, len);
        if (n == 0 && len > 0) {
            errno = EAGAIN;
            return -1;
        }
        return n;
    }
    g_autoptr(GByteArray) out = g_byte_array_new();
    mux_stamper_apply(&m->stamper, buf, len, g_get_monotonic_time() / 1000, out);
    return char_fe_write_all(m->base, out->data, out->len) < 0 ? -1 : len;
}

static int mux_write_fd(Chardev *chr)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    return m->base ? chardev_write_fd(char_fe_get_chardev(m->base)) : -1;
}

static void mux_update_sources(Chardev *chr)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    Chardev *base = m->base ? char_fe_get_chardev(m->base) : NULL;
    /* The backend serves our context: set only on a change (it takes the backend's lock). */
    if (base && m->reading && chardev_context(base) != chardev_context(chr)) {
        char_fe_set_handlers(m->base, mux_can_read, mux_read, mux_event, m, chardev_context(chr));
    }
}

static void mux_frontend_ready(Chardev *chr, CharFrontend *fe)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    if (!m->reading && m->base) {
        m->reading = TRUE;
        char_fe_set_handlers(m->base, mux_can_read, mux_read, mux_event, m, chardev_context(chr));
    }
    mux_set_focus(m, fe);
}

static void mux_frontend_gone(Chardev *chr, CharFrontend *fe)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    g_hash_table_remove(m->pending, fe);
    if (m->focus == fe) {
        m->focus = chardev_frontend_count(chr) ? chardev_frontend_at(chr, 0) : NULL;
        chardev_set_focus(chr, m->focus);
    }
}

static void mux_accept_input(Chardev *chr)
{
    mux_schedule_drain(CHARDEV_MUX(chr), 0);
}

static char *mux_filename(Chardev *chr)
{
    return g_strdup("mux");
}

static void mux_close(Chardev *chr)
{
    ChardevMux *m = CHARDEV_MUX(chr);
    CharFrontend *base = m->base;
    if (base) {
        chardev_write_lock(chr);
        m->base = NULL;
        chardev_write_unlock(chr);
        char_fe_free(base);
    }
}

static void chardev_mux_finalize(GObject *obj)
{
    ChardevMux *m = CHARDEV_MUX(obj);
    g_hash_table_unref(m->pending);
    G_OBJECT_CLASS(chardev_mux_parent_class)->finalize(obj);
}

static void chardev_mux_class_init(ChardevMuxClass *klass)
{
    ChardevClass *cc = CHARDEV_CLASS(klass);
    G_OBJECT_CLASS(klass)->finalize = chardev_mux_finalize;
    cc->backend_name = "mux";
    cc->parse_opts = mux_parse_opts;
    cc->open = mux_open;
    cc->write = mux_write;
    cc->write_fd = mux_write_fd;
    cc->update_sources = mux_update_sources;
    cc->filename = mux_filename;
    cc->close = mux_close;
    cc->max_frontends = MUX_MAX_FRONTENDS;
    cc->frontend_ready = mux_frontend_ready;
    cc->frontend_gone = mux_frontend_gone;
    cc->accept_input = mux_accept_input;
}

static void chardev_mux_init(ChardevMux *m)
{
    m->pending = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       (GDestroyNotify)g_byte_array_unref);
    m->stamper.start_ms = -1;
}
