/* QMP and HMP sessions driven through an in-memory transport. */
#include "monitor/monitor.h"
#include "monitor/json-streamer.h"
#include "qapi/qjson.h"
#include "system/runstate.h"

#include <string.h>

typedef struct {
    Monitor *mon;
    GString *out;
} Session;

static void capture(void *opaque, const char *buf, size_t len)
{
    g_string_append_len(opaque, buf, len);
}

static Session *session_new(gboolean qmp)
{
    Session *s = g_new0(Session, 1);
    s->out = g_string_new(NULL);
    s->mon = qmp ? monitor_new_qmp_custom(capture, s->out, FALSE)
                 : monitor_new_hmp_custom(capture, s->out);
    monitor_open(s->mon);
    return s;
}

static void session_free(Session *s)
{
    monitor_free(s->mon);
    g_string_free(s->out, TRUE);
    g_free(s);
}

/* Everything written since the last call. */
static char *take(Session *s)
{
    char *t = g_strdup(s->out->str);
    g_string_truncate(s->out, 0);
    return t;
}

static char *send(Session *s, const char *in)
{
    g_string_truncate(s->out, 0);
    monitor_feed(s->mon, in, strlen(in));
    return take(s);
}

static void check_send(Session *s, const char *in, const char *expected)
{
    g_autofree char *got = send(s, in);
    g_assert_cmpstr(got, ==, expected);
}

static Session *negotiated(void)
{
    Session *s = session_new(TRUE);
    g_free(take(s));
    check_send(s, "{\"execute\": \"qmp_capabilities\"}", "{\"return\": {}}\r\n");
    return s;
}

static void test_greeting(void)
{
    Session *s = session_new(TRUE);
    g_autofree char *g = take(s);
    g_assert_true(g_str_has_prefix(g, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
                                      "\"minor\": 2, \"major\": 7}, \"package\": "));
    g_assert_true(g_str_has_suffix(g, "\"capabilities\": [\"oob\"]}}\r\n"));
    session_free(s);
}

static void test_negotiation(void)
{
    Session *s = session_new(TRUE);
    g_free(take(s));
    check_send(s, "{\"execute\": \"query-status\"}",
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
               "negotiation with 'qmp_capabilities'\"}}\r\n");
    check_send(s, "{\"execute\": \"nonexistent\", \"id\": 7}",
               "{\"id\": 7, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
               "capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    check_send(s, "{\"execute\": \"qmp_capabilities\", \"id\": \"a\"}",
               "{\"return\": {}, \"id\": \"a\"}\r\n");
    check_send(s, "{\"execute\": \"qmp_capabilities\"}",
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation "
               "is already complete, command ignored\"}}\r\n");
    check_send(s, "{\"execute\": \"foo\", \"id\": [1, {\"a\": null}]}",
               "{\"id\": [1, {\"a\": null}], \"error\": {\"class\": \"CommandNotFound\", "
               "\"desc\": \"The command foo has not been found\"}}\r\n");
    /* A new client starts negotiating again. */
    monitor_close(s->mon);
    monitor_open(s->mon);
    g_free(take(s));
    g_autofree char *r = send(s, "{\"execute\": \"query-name\"}");
    g_assert_nonnull(strstr(r, "Expecting capabilities negotiation"));
    session_free(s);
}

static void test_request_errors(void)
{
    Session *s = negotiated();
    check_send(s, "[1]",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be "
               "a JSON object\"}}\r\n");
    check_send(s, "{\"x\": 1}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input "
               "member 'x' is unexpected\"}}\r\n");
    check_send(s, "{\"id\": 1}",
               "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"QMP input lacks member 'execute'\"}}\r\n");
    check_send(s, "{\"execute\": 1}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
               "input member 'execute' must be a string\"}}\r\n");
    check_send(s, "{\"execute\": \"query-status\", \"arguments\": []}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member "
               "'arguments' must be an object\"}}\r\n");
    check_send(s, "{\"execute\": \"query-status\", \"arguments\": {\"a\": 1}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'a' is "
               "unexpected\"}}\r\n");
    check_send(s, "{\"execute\": \"human-monitor-command\"}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'command-line' "
               "is missing\"}}\r\n");
    check_send(s,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": 5}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
               "'command-line', expected: string\"}}\r\n");
    check_send(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'null' does "
               "not accept value 'x'\"}}\r\n");
    session_free(s);
}

static void test_json_errors(void)
{
    Session *s = negotiated();
    check_send(s, "{bad json}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
               "error, invalid keyword 'bad'\"}}\r\n");
    check_send(s, "}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "
               "expecting value\"}}\r\n");
    check_send(s, "{\"a\" 1}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
               "error, missing : in object pair\"}}\r\n");
    check_send(s, "[1 2]",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
               "error, expected separator in list\"}}\r\n");
    check_send(s, "@",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "
               "stray '@'\"}}\r\n");
    /* The session survives, and single quotes are accepted as upstream accepts them. */
    check_send(s, "{'execute': 'query-name'}", "{\"return\": {}}\r\n");
    g_assert_cmpuint(monitor_qmp_parse_errors(s->mon), ==, 5);
    session_free(s);
}

static void test_split_and_merged(void)
{
    Session *s = negotiated();
    check_send(s, "{\"exec", "");
    check_send(s, "ute\": \"query-na", "");
    check_send(s, "me\"}", "{\"return\": {}}\r\n");
    check_send(s,
               "{\"execute\": \"query-name\", \"id\": 1}{\"execute\": \"query-name\", "
               "\"id\": 2}\n",
               "{\"return\": {}, \"id\": 1}\r\n{\"return\": {}, \"id\": 2}\r\n");
    session_free(s);
}

static void test_nesting_bounded(void)
{
    Session *s = negotiated();
    GString *in = g_string_new(NULL);
    for (int i = 0; i < JSON_MAX_NESTING + 10; i++) {
        g_string_append_c(in, '[');
    }
    g_autofree char *r = send(s, in->str);
    g_assert_nonnull(strstr(r, "JSON nesting depth limit exceeded"));
    g_string_free(in, TRUE);
    /* A run of 10 brackets is still open; close it, then a command works. */
    g_autofree char *r2 = send(s, "]]]]]]]]]]");
    g_assert_nonnull(strstr(r2, "QMP input must be a JSON object"));
    check_send(s, "{\"execute\": \"query-name\"}", "{\"return\": {}}\r\n");
    session_free(s);
}

static void test_status_events(void)
{
    Session *s = negotiated();
    Session *other = session_new(TRUE); /* not negotiated: gets no events */
    g_free(take(other));
    runstate_set(RUN_STATE_RUNNING);
    check_send(s, "{\"execute\": \"query-status\"}",
               "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": "
               "true}}\r\n");
    g_autofree char *r = send(s, "{\"execute\": \"stop\"}");
    g_assert_true(g_str_has_prefix(r, "{\"timestamp\": {\"seconds\": "));
    g_assert_nonnull(strstr(r, "\"microseconds\": "));
    g_assert_true(g_str_has_suffix(r, "}, \"event\": \"STOP\"}\r\n{\"return\": {}}\r\n"));
    check_send(s, "{\"execute\": \"query-status\"}",
               "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": "
               "false}}\r\n");
    g_autofree char *r2 = send(s, "{\"execute\": \"cont\"}");
    g_assert_nonnull(strstr(r2, "\"event\": \"RESUME\""));
    g_autofree char *o = take(other);
    g_assert_cmpstr(o, ==, "");
    session_free(other);
    session_free(s);
}

static void test_hmp_passthrough(void)
{
    Session *s = negotiated();
    runstate_set(RUN_STATE_RUNNING);
    check_send(s,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": \"info status\"}}",
               "{\"return\": \"VM status: running\\r\\n\"}\r\n");
    check_send(s,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": \"foo\"}}",
               "{\"return\": \"unknown command: 'foo'\\r\\n\"}\r\n");
    session_free(s);
}

static void test_hmp_session(void)
{
    Session *s = session_new(FALSE);
    g_autofree char *banner = take(s);
    g_assert_true(g_str_has_prefix(banner, "QEMU 7.2.0 monitor - type 'help' for more "
                                           "information\r\n(qemu) "));
    runstate_set(RUN_STATE_RUNNING);
    check_send(s, "info status\n",
               "i\033[K\033[Din\033[K\033[D\033[Dinf\033[K\033[D\033[D\033[Dinfo\033[K"
               "\033[D\033[D\033[D\033[Dinfo \033[K\033[D\033[D\033[D\033[D\033[Dinfo s\033[K"
               "\033[D\033[D\033[D\033[D\033[D\033[Dinfo st\033[K\033[D\033[D\033[D\033[D\033[D"
               "\033[D\033[Dinfo sta\033[K\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[Dinfo "
               "stat\033[K\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[Dinfo statu\033[K"
               "\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[D\033[Dinfo status\033[K"
               "\r\nVM status: running\r\n(qemu) ");
    g_autofree char *r = send(s, "stop extra\n");
    g_assert_true(g_str_has_suffix(r, "\r\nstop|s: extraneous characters at the end of line\r\n"
                                      "Try \"help stop\" for more information\r\n(qemu) "));
    g_autofree char *r2 = send(s, "help q\n");
    g_assert_true(g_str_has_suffix(r2, "\r\nquit|q  -- quit the emulator\r\n(qemu) "));
    g_autofree char *r3 = send(s, "info foo\n");
    g_assert_true(g_str_has_suffix(r3, "\r\nunknown command: 'info foo'\r\n(qemu) "));
    session_free(s);
}

static void test_writer_order(void)
{
    /* Members come out in QDict order whatever order they were added in. */
    JsonObject *o = json_object_new();
    json_object_set_int_member(o, "major", 7);
    json_object_set_int_member(o, "minor", 2);
    json_object_set_int_member(o, "micro", 0);
    json_object_set_string_member(o, "s", "\xc3\xa9\n/");
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    g_autofree char *t = qjson_to_string(n, FALSE);
    g_assert_cmpstr(t, ==, "{\"s\": \"\\u00E9\\n/\", \"micro\": 0, \"minor\": 2, \"major\": 7}");
    json_node_unref(n);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    monitor_init_globals();
    g_test_add_func("/qmp/greeting", test_greeting);
    g_test_add_func("/qmp/negotiation", test_negotiation);
    g_test_add_func("/qmp/request-errors", test_request_errors);
    g_test_add_func("/qmp/json-errors", test_json_errors);
    g_test_add_func("/qmp/split-and-merged", test_split_and_merged);
    g_test_add_func("/qmp/nesting-bounded", test_nesting_bounded);
    g_test_add_func("/qmp/status-events", test_status_events);
    g_test_add_func("/qmp/hmp-passthrough", test_hmp_passthrough);
    g_test_add_func("/hmp/session", test_hmp_session);
    g_test_add_func("/qjson/writer-order", test_writer_order);
    int rc = g_test_run();
    monitor_cleanup();
    return rc;
}
