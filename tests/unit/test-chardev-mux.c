/* The chardev mux: the escape state machine, help text, timestamps, and a mux on a socket. */
#include "chardev-recorder.h"
#include "chardev/char.h"
#include "chardev/mux.h"
#include "util/error.h"
#include "util/keyval.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the pure parts ---- */

static void test_escape_machine(void)
{
    MuxEscape e;
    mux_escape_init(&e, MUX_DEFAULT_ESCAPE);
    g_assert_cmpint(mux_escape_byte(&e, 'a'), ==, MUX_ACTION_DELIVER);
    g_assert_cmpint(mux_escape_byte(&e, 0x01), ==, MUX_ACTION_NONE);
    g_assert_true(e.got_escape);
    g_assert_cmpint(mux_escape_byte(&e, 'c'), ==, MUX_ACTION_FOCUS);
    g_assert_false(e.got_escape);

    static const struct {
        guint8 cmd;
        MuxAction action;
    } cmds[] = {
        {'h', MUX_ACTION_HELP},     {'?', MUX_ACTION_HELP},  {'x', MUX_ACTION_QUIT},
        {'s', MUX_ACTION_COMMIT},   {'b', MUX_ACTION_BREAK}, {'t', MUX_ACTION_TIMESTAMPS},
        {0x01, MUX_ACTION_DELIVER}, {'z', MUX_ACTION_NONE},  {'\r', MUX_ACTION_NONE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
        g_assert_cmpint(mux_escape_byte(&e, 0x01), ==, MUX_ACTION_NONE);
        g_assert_cmpint(mux_escape_byte(&e, cmds[i].cmd), ==, cmds[i].action);
        /* Whatever the command, the next plain byte is data again. */
        g_assert_cmpint(mux_escape_byte(&e, 'q'), ==, MUX_ACTION_DELIVER);
    }

    /* -echr 0x68 ('h'): the escape doubled is the literal, not help. */
    mux_escape_init(&e, 'h');
    g_assert_cmpint(mux_escape_byte(&e, 0x01), ==, MUX_ACTION_DELIVER);
    g_assert_cmpint(mux_escape_byte(&e, 'h'), ==, MUX_ACTION_NONE);
    g_assert_cmpint(mux_escape_byte(&e, 'h'), ==, MUX_ACTION_DELIVER);
    g_assert_cmpint(mux_escape_byte(&e, 'h'), ==, MUX_ACTION_NONE);
    g_assert_cmpint(mux_escape_byte(&e, 'x'), ==, MUX_ACTION_QUIT);
}

static void test_help_text(void)
{
    g_autofree char *ca = mux_help_text(0x01);
    g_assert_true(g_str_has_prefix(ca, "\n\rC-a h    print this help\n\r"));
    g_assert_true(g_str_has_suffix(ca, "C-a c    switch between console and monitor\n\r"
                                       "C-a C-a  sends C-a\n\r"));
    g_autofree char *ct = mux_help_text(20);
    g_assert_nonnull(strstr(ct, "\n\rC-t x    exit emulator\n\r"));
    g_autofree char *other = mux_help_text(0x60);
    g_assert_true(g_str_has_prefix(other, "\n\rEscape-Char set to Ascii: 0x60\n\r\n\r"
                                          "Escape-Char h    print this help\n\r"));
    g_assert_true(g_str_has_suffix(other, "Escape-Char Escape-Char  sends Escape-Char\n\r"));
}

static char *stamp(MuxStamper *st, const char *s, gint64 now_ms)
{
    GByteArray *out = g_byte_array_new();
    mux_stamper_apply(st, (const guint8 *)s, strlen(s), now_ms, out);
    g_byte_array_append(out, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(out, FALSE);
}

static void test_timestamps(void)
{
    MuxStamper st = {.start_ms = -1};
    g_autofree char *plain = stamp(&st, "a\nb", 5);
    g_assert_cmpstr(plain, ==, "a\nb");
    /* Turned on mid-line: the first stamp comes after the next newline. */
    mux_stamper_toggle(&st);
    g_autofree char *s1 = stamp(&st, "rest\nnext", 1000);
    g_assert_cmpstr(s1, ==, "rest\n[00:00:00.000] next");
    g_autofree char *s2 = stamp(&st, "\n", 2000);
    g_autofree char *s3 = stamp(&st, "x\n\ny", 3723456 + 1000);
    g_assert_cmpstr(s2, ==, "\n");
    g_assert_cmpstr(s3, ==, "[01:02:03.456] x\n[01:02:03.456] \n[01:02:03.456] y");
    mux_stamper_toggle(&st);
    g_autofree char *s4 = stamp(&st, "\nz", 9999);
    g_assert_cmpstr(s4, ==, "\nz");
}

/* ---- a mux on a socketpair ---- */

/* What the peer has received so far (non-blocking), appended to @acc. */
static const char *peer_read(int fd, GString *acc)
{
    char buf[4096];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, 0) == 1) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        g_string_append_len(acc, buf, n);
    }
    return acc->str;
}

static int quits;

static void count_quit(void)
{
    quits++;
}

static Chardev *new_chardev(const char *str, GError **errp)
{
    KeyvalList *kv = keyval_parse(str, "backend", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    g_assert_nonnull(kv);
    Chardev *chr = chardev_new_from_opts(kv, errp);
    keyval_list_free(kv);
    return chr;
}

static void send_str(int fd, const char *s)
{
    g_assert_cmpint(write(fd, s, strlen(s)), ==, (ssize_t)strlen(s));
}

static void test_mux_socket(void)
{
    int sv[2];
    GError *err = NULL;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    g_autofree char *spec = g_strdup_printf("socket,id=m0,fd=%d,mux=on", sv[0]);
    Chardev *mux = new_chardev(spec, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_backend_name(mux), ==, "mux");
    g_autofree char *fname = chardev_filename(mux);
    g_assert_cmpstr(fname, ==, "mux");
    Chardev *base = chardev_find("m0-base");
    g_assert_nonnull(base);
    g_assert_true(chardev_is_busy(base));
    chardev_set_mux_quit_hook(count_quit);

    Recorder *mon = rec_attach(mux, NULL);  /* like the monitor of mon:, attached first */
    Recorder *cons = rec_attach(mux, NULL); /* the serial port: attached last, it has the focus */
    g_assert_cmpint(mon->mux_in, ==, 1);
    g_assert_cmpint(mon->mux_out, ==, 1);
    g_assert_cmpint(cons->mux_in, ==, 1);
    g_assert_cmpint(cons->mux_out, ==, 0);
    WAIT_FOR(mon->opened == 1 && cons->opened == 1);

    send_str(sv[1], "ab");
    WAIT_FOR(cons->data->len == 2);
    g_assert_true(rec_has(cons, "ab"));
    g_assert_cmpint(mon->data->len, ==, 0);

    /* C-a c: to the monitor, and the rest of the same read goes there too. */
    send_str(sv[1], "x\001cinfo\001\001");
    WAIT_FOR(mon->data->len == 5);
    g_assert_true(rec_has(mon, "info\001"));
    g_assert_true(rec_has(cons, "abx"));
    g_assert_cmpint(cons->mux_out, ==, 1);
    g_assert_cmpint(mon->mux_in, ==, 2);

    /* Help and break go to the terminal and the focused front-end. */
    GString *seen = g_string_new(NULL);
    send_str(sv[1], "\001h\001b");
    WAIT_FOR(mon->breaks == 1);
    g_assert_cmpint(cons->breaks, ==, 0);
    WAIT_FOR(strstr(peer_read(sv[1], seen), "C-a C-a  sends C-a\n\r"));
    g_assert_true(g_str_has_prefix(seen->str, "\n\rC-a h    print this help"));

    /* Output from both front-ends goes out, whoever has the focus. */
    g_string_truncate(seen, 0);
    g_assert_cmpint(char_fe_write_all(cons->fe, (const guint8 *)"guest\n", 6), ==, 6);
    g_assert_cmpint(char_fe_write_all(mon->fe, (const guint8 *)"(qemu) ", 7), ==, 7);
    WAIT_FOR(strlen(peer_read(sv[1], seen)) == 13);
    g_assert_cmpstr(seen->str, ==, "guest\n(qemu) ");

    /* Timestamps: stamped from the next line on. */
    g_string_truncate(seen, 0);
    send_str(sv[1], "\001tz"); /* z: a marker that the toggle went through */
    WAIT_FOR(mon->data->len == 6);
    g_assert_cmpint(char_fe_write_all(cons->fe, (const guint8 *)"a\nb", 3), ==, 3);
    WAIT_FOR(strlen(peer_read(sv[1], seen)) == 18);
    g_assert_cmpstr(seen->str, ==, "a\n[00:00:00.000] b");
    send_str(sv[1], "\001t");
    g_assert_true(rec_has(mon, "info\001z"));

    /* A front-end that takes nothing: input waits in the mux, escapes still work. */
    send_str(sv[1], "\001c");
    WAIT_FOR(cons->mux_in == 2);
    cons->can_read = 0;
    send_str(sv[1], "held\001c");
    WAIT_FOR(mon->mux_in == 3);
    g_assert_true(rec_has(cons, "abx"));
    send_str(sv[1], "\001c");
    WAIT_FOR(cons->mux_in == 3);
    cons->can_read = 2;
    char_fe_accept_input(cons->fe);
    WAIT_FOR(cons->data->len == 7);
    g_assert_true(rec_has(cons, "abxheld"));

    /* C-a x: the text, then the quit request. */
    g_string_truncate(seen, 0);
    send_str(sv[1], "\001x");
    WAIT_FOR(quits == 1);
    WAIT_FOR(strlen(peer_read(sv[1], seen)) == 18);
    g_assert_cmpstr(seen->str, ==, "QEMU: Terminated\n\r");

    /* Four front-ends at most, as upstream's; the base is not free for another. */
    Recorder *third = rec_attach(mux, NULL);
    Recorder *fourth = rec_attach(mux, NULL);
    g_assert_null(char_fe_new(mux, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "Device 'm0' is in use");
    g_clear_error(&err);
    g_assert_null(char_fe_new(base, &err));
    g_clear_error(&err);
    WAIT_FOR(third->opened == 1 && fourth->opened == 1);
    rec_free(third);
    rec_free(fourth);

    /* The peer goes: every front-end sees CLOSED once. */
    close(sv[1]);
    WAIT_FOR(mon->closed == 1 && cons->closed == 1);
    ChardevStats stats;
    chardev_get_stats(mux, &stats);
    g_assert_cmpuint(stats.input_dropped, ==, 0);
    rec_free(mon);
    rec_free(cons);
    g_string_free(seen, TRUE);
    /* As in QEMU 7.2, a mux stays (and so does its backend). */
    g_assert_false(chardev_remove("m0", &err));
    g_assert_cmpstr(err->message, ==, "Chardev 'm0' is busy");
    g_clear_error(&err);
    g_assert_false(chardev_remove("m0-base", &err));
    g_clear_error(&err);
}

static void test_mux_errors(void)
{
    GError *err = NULL;
    g_assert_null(new_chardev("mux,id=mx,chardev=nope", &err));
    g_assert_cmpstr(err->message, ==, "mux: base chardev nope not found");
    g_clear_error(&err);
    g_assert_null(new_chardev("mux,id=mx", &err));
    g_assert_cmpstr(err->message, ==, "chardev: mux: no chardev given");
    g_clear_error(&err);
    g_assert_null(new_chardev("null,id=mx,mux=maybe", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_null(chardev_find("mx"));
    g_assert_null(chardev_find("mx-base"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    chardev_register_types();
    g_test_add_func("/chardev-mux/escape-machine", test_escape_machine);
    g_test_add_func("/chardev-mux/help-text", test_help_text);
    g_test_add_func("/chardev-mux/timestamps", test_timestamps);
    g_test_add_func("/chardev-mux/socket", test_mux_socket);
    g_test_add_func("/chardev-mux/errors", test_mux_errors);
    int rc = g_test_run();
    chardev_remove_all();
    return rc;
}
