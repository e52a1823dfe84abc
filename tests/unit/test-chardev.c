/* Chardevs: socket server/client over TCP and unix, reconnect, large writes, events, file. */
#include "chardev-recorder.h"
#include "chardev/char.h"
#include "qom/iothread.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static char *tmpdir;

static Chardev *json_add(const char *id, const char *json, GError **errp);

static Chardev *new_opts(const char *str, GError **errp)
{
    KeyvalList *kv = keyval_parse(str, "backend", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    if (!kv) {
        return NULL;
    }
    Chardev *chr = chardev_new_from_opts(kv, errp);
    keyval_list_free(kv);
    return chr;
}

static Chardev *new_opts_ok(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static Chardev *new_opts_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *str = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *err = NULL;
    Chardev *chr = new_opts(str, &err);
    g_assert_no_error(err);
    g_assert_nonnull(chr);
    g_free(str);
    return chr;
}

static char *new_opts_err(const char *str)
{
    GError *err = NULL;
    Chardev *chr = new_opts(str, &err);
    g_assert_null(chr);
    g_assert_nonnull(err);
    char *msg = error_get_desc(err);
    g_error_free(err);
    return msg;
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* The port a "disconnected:tcp:HOST:PORT,server=on" server listens on. */
static int server_port(Chardev *chr)
{
    char *fn = chardev_filename(chr);
    g_assert_true(g_str_has_prefix(fn, "disconnected:tcp:127.0.0.1:"));
    int port = atoi(fn + strlen("disconnected:tcp:127.0.0.1:"));
    g_assert_true(g_str_has_suffix(fn, ",server=on"));
    g_free(fn);
    g_assert_cmpint(port, >, 0);
    return port;
}

static int raw_connect_unix(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    g_strlcpy(un.sun_path, path, sizeof(un.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    return fd;
}

static void read_exact(int fd, guint8 *buf, gsize len)
{
    gsize got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        g_assert_cmpint(n, >, 0);
        got += n;
    }
}

static void remove_ok(const char *id)
{
    GError *err = NULL;
    g_assert_true(chardev_remove(id, &err));
    g_assert_no_error(err);
    g_assert_null(chardev_find(id));
}

/* ---- tests ---- */

static void test_tcp_round_trip(void)
{
    Chardev *srv = new_opts_ok("socket,id=tsrv,host=127.0.0.1,port=0,server=on,wait=off");
    int port = server_port(srv);
    g_assert_cmpstr(chardev_backend_name(srv), ==, "socket");
    g_assert_false(chardev_is_connected(srv));
    Recorder *rs = rec_attach(srv, NULL);

    Chardev *cli = new_opts_ok("socket,id=tcli,host=127.0.0.1,port=%d,nodelay=on", port);
    g_assert_true(chardev_is_connected(cli));
    Recorder *rc = rec_attach(cli, NULL);
    WAIT_FOR(rs->opened == 1 && rc->opened == 1);
    g_assert_true(chardev_is_connected(srv));
    QomObject *found = qom_resolve_path("/chardevs/tsrv", NULL);
    g_assert_true(found == QOM_OBJECT(srv));
    char *connected = qom_object_get_str(found, "connected", NULL);
    g_assert_cmpstr(connected, ==, "on");
    g_free(connected);
    g_assert_cmpstr(qom_object_type_name(found), ==, "chardev-socket");

    char *fn = chardev_filename(srv);
    char *want = g_strdup_printf("tcp:127.0.0.1:%d,server=on <-> 127.0.0.1:", port);
    g_assert_true(g_str_has_prefix(fn, want));
    g_free(fn);
    g_free(want);
    fn = chardev_filename(cli);
    want = g_strdup_printf(" <-> 127.0.0.1:%d", port);
    g_assert_true(g_str_has_prefix(fn, "tcp:127.0.0.1:"));
    g_assert_true(g_str_has_suffix(fn, want));
    g_free(fn);
    g_free(want);

    g_assert_cmpint(char_fe_write_all(rc->fe, (const guint8 *)"ping", 4), ==, 4);
    WAIT_FOR(rec_len(rs) == 4);
    g_assert_cmpmem(rs->data->data, 4, "ping", 4);
    g_assert_cmpint(char_fe_write_all(rs->fe, (const guint8 *)"pong!", 5), ==, 5);
    WAIT_FOR(rec_len(rc) == 5);
    g_assert_cmpmem(rc->data->data, 5, "pong!", 5);
    g_assert_true(chardev_frontend_open(srv));

    ChardevStats st;
    chardev_get_stats(srv, &st);
    g_assert_cmpuint(st.bytes_in, ==, 4);
    g_assert_cmpuint(st.bytes_out, ==, 5);
    g_assert_cmpuint(st.connects, ==, 1);

    /* The client leaves: the server sees CLOSED and goes back to listening. */
    rec_free(rc);
    remove_ok("tcli");
    WAIT_FOR(rs->closed == 1);
    g_assert_false(chardev_is_connected(srv));
    fn = chardev_filename(srv);
    g_assert_true(g_str_has_prefix(fn, "disconnected:tcp:127.0.0.1:"));
    g_free(fn);
    errno = 0;
    g_assert_cmpint(char_fe_write_all(rs->fe, (const guint8 *)"x", 1), ==, -1);
    g_assert_cmpint(errno, ==, EIO);
    chardev_get_stats(srv, &st);
    g_assert_cmpuint(st.write_errors, ==, 1);

    /* And takes the next client. */
    cli = new_opts_ok("socket,id=tcli2,host=127.0.0.1,port=%d", port);
    WAIT_FOR(rs->opened == 2);
    remove_ok("tcli2");
    WAIT_FOR(rs->closed == 2);
    rec_free(rs);
    remove_ok("tsrv");
}

static void test_unix_round_trip(void)
{
    char *path = tmp_path("u1.sock");
    char *spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    GError *err = NULL;
    Chardev *srv = chardev_new_from_legacy("userial", spec, &err);
    g_assert_no_error(err);
    char *fn = chardev_filename(srv);
    char *want = g_strdup_printf("disconnected:unix:%s,server=on", path);
    g_assert_cmpstr(fn, ==, want);
    g_free(fn);
    g_free(want);
    Recorder *rs = rec_attach(srv, NULL);

    /* The client comes through chardev-add's JSON shape. */
    char *json = g_strdup_printf("{\"type\": \"socket\", \"data\": {\"addr\": {\"type\": \"unix\", "
                                 "\"data\": {\"path\": \"%s\"}}, \"server\": false}}",
                                 path);
    JsonObject *backend = keyval_parse_json(json, &err);
    g_assert_no_error(err);
    Chardev *cli = chardev_new_from_json("ucli", backend, &err);
    g_assert_no_error(err);
    json_object_unref(backend);
    Recorder *rc = rec_attach(cli, NULL);
    WAIT_FOR(rs->opened == 1 && rc->opened == 1);

    fn = chardev_filename(srv);
    want = g_strdup_printf("unix:%s,server=on", path);
    g_assert_cmpstr(fn, ==, want);
    g_free(fn);
    g_free(want);
    fn = chardev_filename(cli);
    g_assert_cmpstr(fn, ==, "unix:");
    g_free(fn);

    guint8 buf[3000];
    for (guint i = 0; i < sizeof(buf); i++) {
        buf[i] = i * 7;
    }
    g_assert_cmpint(char_fe_write_all(rc->fe, buf, sizeof(buf)), ==, sizeof(buf));
    WAIT_FOR(rec_len(rs) == sizeof(buf));
    g_assert_cmpmem(rs->data->data, sizeof(buf), buf, sizeof(buf));

    /* The server drops the client: both see CLOSED; a plain client never reconnects. */
    char_fe_disconnect(rs->fe);
    g_assert_cmpint(rs->closed, ==, 1);
    WAIT_FOR(rc->closed == 1);
    g_usleep(50 * 1000);
    g_main_context_iteration(NULL, FALSE);
    g_assert_cmpint(rc->opened, ==, 1);
    g_assert_false(chardev_is_connected(cli));
    fn = chardev_filename(cli);
    want = g_strdup_printf("disconnected:unix:%s", path);
    g_assert_cmpstr(fn, ==, want);
    g_free(fn);
    g_free(want);

    rec_free(rc);
    rec_free(rs);
    remove_ok("ucli");
    remove_ok("userial");
    /* A server removes its socket file. */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_free(json);
    g_free(spec);
    g_free(path);
}

static void test_reconnect(void)
{
    char *path = tmp_path("re.sock");
    Chardev *srv = new_opts_ok("socket,id=rsrv,path=%s,server=on,wait=off", path);
    Recorder *rs = rec_attach(srv, NULL);
    Chardev *cli = new_opts_ok("socket,id=rcli,path=%s,reconnect-ms=50", path);
    g_assert_true(chardev_has_feature(cli, CHARDEV_FEATURE_RECONNECTABLE));
    Recorder *rc = rec_attach(cli, NULL);
    WAIT_FOR(rc->opened == 1 && rs->opened == 1);

    /* The server goes away entirely, then comes back at the same path. */
    rec_free(rs);
    remove_ok("rsrv");
    WAIT_FOR(rc->closed == 1);
    g_usleep(120 * 1000); /* a few failed attempts */
    g_main_context_iteration(NULL, FALSE);
    srv = new_opts_ok("socket,id=rsrv2,path=%s,server=on,wait=off", path);
    rs = rec_attach(srv, NULL);
    WAIT_FOR(rc->opened == 2 && rs->opened == 1);
    g_assert_cmpint(char_fe_write_all(rc->fe, (const guint8 *)"back", 4), ==, 4);
    WAIT_FOR(rec_len(rs) == 4);
    g_assert_cmpmem(rs->data->data, 4, "back", 4);

    /* The 7.2 spelling in seconds is accepted too, and refused for servers. */
    char *msg = new_opts_err("socket,id=bad,path=/tmp/x,server=on,wait=off,reconnect=1");
    g_assert_cmpstr(msg, ==,
                    "'reconnect' option is incompatible with socket in server listen mode");
    g_free(msg);
    Chardev *c2 = new_opts_ok("socket,id=rcli2,path=%s,reconnect=1", path);
    g_assert_nonnull(c2);

    rec_free(rc);
    rec_free(rs);
    remove_ok("rcli");
    remove_ok("rcli2");
    remove_ok("rsrv2");
    g_free(path);
}

typedef struct SlowReader {
    int fd;
    gsize want;
    guint32 sum;
    gsize got;
} SlowReader;

static gpointer slow_reader(gpointer data)
{
    SlowReader *sr = data;
    guint8 buf[32768];
    while (sr->got < sr->want) {
        ssize_t n = read(sr->fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            sr->sum = sr->sum * 31 + buf[i];
        }
        sr->got += n;
        /* Drain slower than the writer fills, so the socket buffer is full most of the time. */
        g_usleep(500);
    }
    return NULL;
}

static gpointer big_writer(gpointer data)
{
    CharFrontend *fe = data;
    gsize len = 6 * 1024 * 1024;
    guint8 *buf = g_malloc(len);
    for (gsize i = 0; i < len; i++) {
        buf[i] = (i * 2654435761u) >> 24;
    }
    int rc = char_fe_write_all(fe, buf, len);
    g_free(buf);
    return GINT_TO_POINTER(rc);
}

static void test_large_write(void)
{
    char *path = tmp_path("big.sock");
    Chardev *srv = new_opts_ok("socket,id=bsrv,path=%s,server=on,wait=off", path);
    Recorder *rs = rec_attach(srv, NULL);
    int fd = raw_connect_unix(path);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    WAIT_FOR(rs->opened == 1);

    gsize len = 6 * 1024 * 1024;
    SlowReader sr = {.fd = fd, .want = len};
    GThread *rt = g_thread_new("reader", slow_reader, &sr);
    /* Written from another thread: the front-end API is callable from any thread. */
    GThread *wt = g_thread_new("writer", big_writer, rs->fe);
    int rc = GPOINTER_TO_INT(g_thread_join(wt));
    g_thread_join(rt);
    g_assert_cmpint(rc, ==, (int)len);
    g_assert_cmpuint(sr.got, ==, len);

    guint32 sum = 0;
    for (gsize i = 0; i < len; i++) {
        sum = sum * 31 + (guint8)((i * 2654435761u) >> 24);
    }
    g_assert_cmpuint(sr.sum, ==, sum);
    close(fd);
    WAIT_FOR(rs->closed == 1);
    rec_free(rs);
    remove_ok("bsrv");
    g_free(path);
}

static void test_events(void)
{
    char *path = tmp_path("ev.sock");
    Chardev *srv = new_opts_ok("socket,id=esrv,path=%s,server=on,wait=off", path);
    GError *err = NULL;

    /* Connected before a front-end exists: OPENED arrives once handlers are set. */
    int fd1 = raw_connect_unix(path);
    WAIT_FOR(chardev_is_connected(srv));
    Recorder *rs = rec_attach(srv, NULL);
    g_assert_cmpint(rs->opened, ==, 0);
    WAIT_FOR(rs->opened == 1);

    /* One front-end at a time, and a busy chardev cannot be removed. */
    g_assert_true(chardev_is_busy(srv));
    g_assert_null(char_fe_new(srv, &err));
    g_assert_cmpstr(err->message, ==, "Device 'esrv' is in use");
    g_clear_error(&err);
    g_assert_false(chardev_remove("esrv", &err));
    g_assert_cmpstr(err->message, ==, "Chardev 'esrv' is busy");
    g_clear_error(&err);
    g_assert_false(chardev_remove("nope", &err));
    g_assert_cmpstr(err->message, ==, "Chardev 'nope' not found");
    g_clear_error(&err);

    /* A second client waits in the backlog while the first is served. */
    int fd2 = raw_connect_unix(path);
    g_assert_cmpint(write(fd2, "two", 3), ==, 3);
    g_assert_cmpint(write(fd1, "one", 3), ==, 3);
    WAIT_FOR(rec_len(rs) == 3);
    g_usleep(20 * 1000);
    g_main_context_iteration(NULL, FALSE);
    g_assert_cmpint(rec_len(rs), ==, 3);
    g_assert_cmpmem(rs->data->data, 3, "one", 3);
    close(fd1);
    WAIT_FOR(rs->closed == 1 && rs->opened == 2 && rec_len(rs) == 6);
    g_assert_cmpmem(rs->data->data + 3, 3, "two", 3);

    /* A paused reader (can_read 0) gets nothing until it accepts input again. */
    g_atomic_int_set(&rs->can_read, 0);
    g_assert_cmpint(write(fd2, "later", 5), ==, 5);
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpint(rec_len(rs), ==, 6);
    g_atomic_int_set(&rs->can_read, 2);
    char_fe_accept_input(rs->fe);
    WAIT_FOR(rec_len(rs) == 11);
    g_assert_cmpmem(rs->data->data + 6, 5, "later", 5);

    /* Removing the handlers: no events any more, the chardev keeps the connection. */
    char_fe_set_handlers(rs->fe, NULL, NULL, NULL, NULL, NULL);
    g_assert_false(chardev_frontend_open(srv));
    close(fd2);
    WAIT_FOR(!chardev_is_connected(srv));
    g_assert_cmpint(rs->closed, ==, 1);
    rec_free(rs);
    g_assert_false(chardev_is_busy(srv));
    remove_ok("esrv");
    g_free(path);
}

static void test_iothread_context(void)
{
    GError *err = NULL;
    iothread_register_types();
    KeyvalList *kv = keyval_parse("iothread,id=chr-io", "qom-type", KEYVAL_QUIET, &err);
    g_assert_no_error(err);
    QomObject *obj = qom_user_create_keyval(kv, NULL, &err);
    g_assert_no_error(err);
    keyval_list_free(kv);
    IOThread *iot = IO_THREAD(obj);

    char *path = tmp_path("io.sock");
    Chardev *srv = new_opts_ok("socket,id=iosrv,path=%s,server=on,wait=off", path);
    g_assert_true(chardev_has_feature(srv, CHARDEV_FEATURE_GCONTEXT));
    Recorder *rs = rec_attach(srv, iothread_get_context(iot));
    rs->echo = TRUE;

    /* Nothing iterates the default context here: the iothread alone must do the work. */
    int fd = raw_connect_unix(path);
    g_assert_cmpint(write(fd, "hello", 5), ==, 5);
    guint8 buf[5];
    read_exact(fd, buf, 5);
    g_assert_cmpmem(buf, 5, "hello", 5);
    g_assert_cmpint(g_atomic_int_get(&rs->opened), ==, 1);
    g_mutex_lock(&rs->lock);
    g_assert_cmpint(rs->read_thread_id, ==, iothread_get_thread_id(iot));
    g_mutex_unlock(&rs->lock);

    /* Moving the handlers back to the main loop. */
    char_fe_set_handlers(rs->fe, rec_can_read, rec_read, rec_event, rs, NULL);
    g_assert_cmpint(write(fd, "again", 5), ==, 5);
    WAIT_FOR(rec_len(rs) == 10);
    read_exact(fd, buf, 5);
    g_assert_cmpmem(buf, 5, "again", 5);
    g_assert_cmpint(rs->read_thread_id, ==, (int)syscall(SYS_gettid));

    close(fd);
    WAIT_FOR(g_atomic_int_get(&rs->closed) == 1);
    rec_free(rs);
    remove_ok("iosrv");
    g_assert_true(qom_user_delete("chr-io", &err));
    g_assert_no_error(err);
    g_free(path);
}

static void test_file_backend(void)
{
    char *path = tmp_path("out.txt");
    Chardev *chr = new_opts_ok("file,id=f0,path=%s", path);
    g_assert_cmpstr(chardev_backend_name(chr), ==, "file");
    char *fn = chardev_filename(chr);
    g_assert_cmpstr(fn, ==, "file");
    g_free(fn);
    g_assert_false(chardev_has_feature(chr, CHARDEV_FEATURE_RECONNECTABLE));
    Recorder *r = rec_attach(chr, NULL);
    WAIT_FOR(r->opened == 1);
    g_assert_cmpint(char_fe_write_all(r->fe, (const guint8 *)"abc\n", 4), ==, 4);
    rec_free(r);
    remove_ok("f0");

    /* append=on keeps what was there; without it the file starts empty. */
    chr = new_opts_ok("file,id=f1,path=%s,append=on", path);
    r = rec_attach(chr, NULL);
    g_assert_cmpint(char_fe_write(r->fe, (const guint8 *)"def\n", 4), ==, 4);
    rec_free(r);
    remove_ok("f1");
    char *contents = NULL;
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "abc\ndef\n");
    g_free(contents);

    GError *err = NULL;
    char *spec = g_strdup_printf("file:%s", path);
    chr = chardev_new_from_legacy("serial0", spec, &err);
    g_assert_no_error(err);
    g_free(spec);
    g_assert_true(chardev_new_from_legacy("x", "chardev:serial0", &err) == chr);
    remove_ok("serial0");
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "");
    g_free(contents);

    char *msg = new_opts_err("file,id=f2");
    g_assert_cmpstr(msg, ==, "chardev: file: no filename given");
    g_free(msg);
    msg = new_opts_err("file,id=f2,path=/nonexistent-dir/x");
    g_assert_cmpstr(msg, ==, "Could not open '/nonexistent-dir/x': No such file or directory");
    g_free(msg);
    g_free(path);
}

/* Input that is there before anyone listens still arrives after OPENED, then EOF closes. */
static void test_file_input_after_opened(void)
{
    char *in = tmp_path("in.txt"), *out = tmp_path("out2.txt");
    g_assert_true(g_file_set_contents(in, "queued input", -1, NULL));
    char *json = g_strdup_printf("{\"type\": \"file\", \"data\": {\"in\": \"%s\", "
                                 "\"out\": \"%s\"}}",
                                 in, out);
    GError *err = NULL;
    Chardev *chr = json_add("fin", json, &err);
    g_assert_no_error(err);
    Recorder *r = rec_attach(chr, NULL);
    WAIT_FOR(r->closed == 1);
    g_assert_cmpint(r->opened, ==, 1);
    g_assert_cmpuint(r->len_at_open, ==, 0);
    g_assert_cmpmem(r->data->data, r->data->len, "queued input", 12);
    rec_free(r);
    remove_ok("fin");
    g_free(json);
    g_free(in);
    g_free(out);
}

static void test_null_and_legacy(void)
{
    GError *err = NULL;
    Chardev *chr = chardev_new_from_legacy("n0", "null", &err);
    g_assert_no_error(err);
    char *fn = chardev_filename(chr);
    g_assert_cmpstr(fn, ==, "null");
    g_free(fn);
    Recorder *r = rec_attach(chr, NULL);
    g_assert_cmpint(char_fe_write_all(r->fe, (const guint8 *)"gone", 4), ==, 4);
    g_assert_false(chardev_is_connected(chr));
    rec_free(r);

    chr = chardev_new_from_legacy("tcp0", "tcp:127.0.0.1:0,server=on,wait=off", &err);
    g_assert_no_error(err);
    server_port(chr);

    g_assert_null(chardev_new_from_legacy("bad", "foo:bar", &err));
    g_assert_cmpstr(err->message, ==, "'foo:bar' is not a valid char driver");
    g_clear_error(&err);
    g_assert_null(chardev_new_from_legacy("bad", "chardev:nope", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    GPtrArray *all = chardev_list();
    g_assert_cmpuint(all->len, ==, 2);
    g_assert_cmpstr(chardev_get_id(g_ptr_array_index(all, 0)), ==, "n0");
    g_assert_cmpstr(chardev_get_id(g_ptr_array_index(all, 1)), ==, "tcp0");
    g_ptr_array_free(all, TRUE);
    chardev_remove_all();
    g_assert_null(chardev_find("n0"));
    g_assert_null(chardev_find("tcp0"));
}

static void test_errors(void)
{
    static const struct {
        const char *opts, *msg;
    } cases[] = {
        {"foo,id=a", "'foo' is not a valid char driver name"},
        {"null", "chardev: no id specified"},
        {"null,id=1a", "Parameter 'id' expects an identifier"},
        {"socket,id=a,host=127.0.0.1", "chardev: socket: no port given"},
        {"socket,id=a,host=127.0.0.1,port=1,path=/x",
         "None or one of 'path', 'fd' or 'host' option required."},
        {"socket,id=a", "Unable to parse FD number "},
        {"socket,id=a,fd=0", "File descriptor '0' is not a socket"},
        {"socket,id=a,path=/tmp/nowhere,wait=off",
         "'wait' option is incompatible with socket in client connect mode"},
        {"socket,id=a,path=/tmp/nowhere,bogus=1", "Invalid parameter 'bogus'"},
        {"socket,id=a,path=/tmp/nowhere,server=maybe", "Parameter 'server' expects 'on' or 'off'"},
        {"socket,id=a,path=/tmp/nowhere,reconnect=abc", "Parameter 'reconnect' expects a number"},
        {"socket,id=a,path=/nonexistent-dir/s,server=on,wait=off",
         "Failed to bind socket to /nonexistent-dir/s: No such file or directory"},
        {"socket,id=a,path=/nonexistent-dir/s",
         "Failed to connect to '/nonexistent-dir/s': No such file or directory"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *msg = new_opts_err(cases[i].opts);
        g_assert_cmpstr(msg, ==, cases[i].msg);
        g_free(msg);
    }

    /* A port in use, a duplicate id, a refused connection. */
    Chardev *srv = new_opts_ok("socket,id=dup,host=127.0.0.1,port=0,server=on,wait=off");
    int port = server_port(srv);
    char *opts = g_strdup_printf("socket,id=other,host=127.0.0.1,port=%d,server=on,wait=off", port);
    char *msg = new_opts_err(opts);
    g_assert_cmpstr(msg, ==, "Failed to find an available port: Address already in use");
    g_free(msg);
    g_free(opts);
    msg = new_opts_err("null,id=dup");
    g_assert_cmpstr(msg, ==, "Duplicate ID 'dup' for chardev");
    g_free(msg);
    remove_ok("dup");
    opts = g_strdup_printf("socket,id=cl,host=127.0.0.1,port=%d", port);
    msg = new_opts_err(opts);
    char *want = g_strdup_printf("Failed to connect to '127.0.0.1:%d': Connection refused", port);
    g_assert_cmpstr(msg, ==, want);
    g_free(want);
    g_free(msg);
    g_free(opts);
}

static Chardev *json_add(const char *id, const char *json, GError **errp)
{
    JsonObject *backend = keyval_parse_json(json, NULL);
    g_assert_nonnull(backend);
    Chardev *chr = chardev_new_from_json(id, backend, errp);
    json_object_unref(backend);
    return chr;
}

static void test_json_errors(void)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"type\": \"bogus\", \"data\": {}}", "Parameter 'type' does not accept value 'bogus'"},
        {"{\"type\": \"file\", \"data\": {}}", "Parameter 'backend.data.out' is missing"},
        {"{\"type\": \"socket\", \"data\": {}}", "Parameter 'backend.data.addr' is missing"},
        {"{\"type\": \"socket\", \"data\": {\"addr\": {\"type\": \"inet\", \"data\": "
         "{\"host\": \"127.0.0.1\"}}}}",
         "Parameter 'backend.data.addr.data.port' is missing"},
        {"{\"type\": \"file\", \"data\": {\"out\": \"/nonexistent-dir/x\"}}",
         "Failed to add chardev 'j': Could not open '/nonexistent-dir/x': No such file or "
         "directory"},
        {"{\"type\": \"socket\", \"data\": {\"addr\": {\"type\": \"unix\", \"data\": "
         "{\"path\": \"/tmp/nowhere\"}}, \"server\": false, \"wait\": true}}",
         "Failed to add chardev 'j': 'wait' option is incompatible with socket in client "
         "connect mode"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *err = NULL;
        g_assert_null(json_add("j", cases[i].json, &err));
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_error_free(err);
    }

    /* QMP's defaults: server on, wait off. */
    GError *err = NULL;
    Chardev *chr = json_add("jsrv",
                            "{\"type\": \"socket\", \"data\": {\"addr\": {\"type\": "
                            "\"inet\", \"data\": {\"host\": \"127.0.0.1\", \"port\": \"0\"}}}}",
                            &err);
    g_assert_no_error(err);
    server_port(chr);
    g_assert_null(json_add("jsrv", "{\"type\": \"null\", \"data\": {}}", &err));
    g_assert_cmpstr(err->message, ==, "Chardev with id 'jsrv' already exists");
    g_clear_error(&err);
    remove_ok("jsrv");
}

static void test_fd_socketpair(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    Chardev *chr = new_opts_ok("socket,id=fdc,fd=%d", sv[0]);
    Recorder *r = rec_attach(chr, NULL);
    WAIT_FOR(r->opened == 1);
    g_assert_cmpint(write(sv[1], "via-fd", 6), ==, 6);
    WAIT_FOR(rec_len(r) == 6);
    g_assert_cmpmem(r->data->data, 6, "via-fd", 6);
    g_assert_cmpint(char_fe_write_all(r->fe, (const guint8 *)"ok", 2), ==, 2);
    guint8 buf[2];
    read_exact(sv[1], buf, 2);
    g_assert_cmpmem(buf, 2, "ok", 2);
    close(sv[1]);
    WAIT_FOR(r->closed == 1);
    rec_free(r);
    remove_ok("fdc");
}

static void count_writable(void *opaque)
{
    (*(int *)opaque)++;
}

/* Fills the socket with non-blocking writes; returns how much it took. */
static gsize fill_socket(CharFrontend *fe)
{
    static guint8 chunk[65536];
    gsize total = 0;
    for (;;) {
        int n = char_fe_write(fe, chunk, sizeof(chunk));
        g_assert_cmpint(n, >=, 0);
        if (n == 0) {
            return total;
        }
        total += n;
    }
}

static void test_notify_writable(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    Chardev *chr = new_opts_ok("socket,id=wr,fd=%d", sv[0]);
    Recorder *r = rec_attach(chr, NULL);
    WAIT_FOR(r->opened == 1);

    /* Full: the notification waits until the peer reads, then runs exactly once. */
    gsize queued = fill_socket(r->fe);
    g_assert_cmpuint(queued, >, 0);
    int fired = 0;
    g_assert_true(char_fe_notify_writable(r->fe, count_writable, &fired));
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmpint(fired, ==, 0);
    guint8 *sink = g_malloc(queued);
    read_exact(sv[1], sink, queued);
    g_free(sink);
    WAIT_FOR(fired == 1);
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmpint(fired, ==, 1);

    /* Cancelled, or replaced by a newer request: the old one never runs. */
    fill_socket(r->fe);
    int stale = 0;
    g_assert_true(char_fe_notify_writable(r->fe, count_writable, &stale));
    char_fe_cancel_writable(r->fe);
    g_assert_true(char_fe_notify_writable(r->fe, count_writable, &stale));
    fired = 0;
    g_assert_true(char_fe_notify_writable(r->fe, count_writable, &fired));

    /* The peer goes: the stream closes, and with no descriptor nothing can be armed. */
    close(sv[1]);
    WAIT_FOR(r->closed == 1);
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmpint(stale, ==, 0);
    /* Whether the hang-up or the close is seen first depends on dispatch order. */
    g_assert_cmpint(fired, <=, 1);
    g_assert_false(char_fe_notify_writable(r->fe, count_writable, &fired));
    rec_free(r);
    remove_ok("wr");
}

static gpointer late_connect(gpointer data)
{
    g_usleep(100 * 1000);
    return GINT_TO_POINTER(raw_connect_unix(data));
}

static void test_wait_on(void)
{
    char *path = tmp_path("wait.sock");
    /* The server must exist before the client can connect; poll for the file. */
    GThread *t = g_thread_new("late", late_connect, path);
    gint64 t0 = g_get_monotonic_time();
    Chardev *srv = new_opts_ok("socket,id=wsrv,path=%s,server=on", path);
    int fd = GPOINTER_TO_INT(g_thread_join(t));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 90 * 1000);
    g_assert_true(chardev_is_connected(srv));
    Recorder *r = rec_attach(srv, NULL);
    WAIT_FOR(r->opened == 1);
    close(fd);
    WAIT_FOR(r->closed == 1);
    rec_free(r);
    remove_ok("wsrv");
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    chardev_register_types();
    tmpdir = g_dir_make_tmp(NULL, NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/chardev/tcp-round-trip", test_tcp_round_trip);
    g_test_add_func("/chardev/unix-round-trip", test_unix_round_trip);
    g_test_add_func("/chardev/reconnect", test_reconnect);
    g_test_add_func("/chardev/large-write", test_large_write);
    g_test_add_func("/chardev/events", test_events);
    g_test_add_func("/chardev/iothread-context", test_iothread_context);
    g_test_add_func("/chardev/file", test_file_backend);
    g_test_add_func("/chardev/file-input-after-opened", test_file_input_after_opened);
    g_test_add_func("/chardev/null-and-legacy", test_null_and_legacy);
    g_test_add_func("/chardev/errors", test_errors);
    g_test_add_func("/chardev/json-errors", test_json_errors);
    g_test_add_func("/chardev/fd-socketpair", test_fd_socketpair);
    g_test_add_func("/chardev/wait-on", test_wait_on);
    g_test_add_func("/chardev/notify-writable", test_notify_writable);
    int rc = g_test_run();

    chardev_remove_all();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return rc;
}
