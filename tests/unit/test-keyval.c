/* keyval: both option grammars, escapes, implied keys, bare flags, JSON form, helpers. */
#include "util/error.h"
#include "util/keyval.h"

#include <errno.h>

static KeyvalList *parse_ok(const char *str, const char *implied, KeyvalFlags flags)
{
    GError *err = NULL;
    KeyvalList *kv = keyval_parse(str, implied, flags | KEYVAL_QUIET, &err);
    g_assert_no_error(err);
    g_assert_nonnull(kv);
    return kv;
}

static void test_basic(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("colo-compare,id=c0,primary_in=p0", "qom-type", 0);
    g_assert_cmpuint(kv->pairs->len, ==, 3);
    g_assert_cmpstr(keyval_get(kv, "qom-type"), ==, "colo-compare");
    g_assert_cmpstr(keyval_get(kv, "id"), ==, "c0");
    g_assert_cmpstr(keyval_get(kv, "primary_in"), ==, "p0");
    g_assert_null(keyval_get(kv, "outdev"));
    g_assert_false(kv->help);
    KeyvalPair *first = g_ptr_array_index(kv->pairs, 0);
    g_assert_cmpstr(first->key, ==, "qom-type");
}

static void test_escaped_comma(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("file,path=/tmp/a,,b,,,append=on", "backend", KEYVAL_OPTS);
    g_assert_cmpstr(keyval_get(kv, "path"), ==, "/tmp/a,b,");
    g_assert_cmpstr(keyval_get(kv, "append"), ==, "on");
    g_autoptr(KeyvalList) kv2 = parse_ok("a,,b,id=x", "qom-type", 0);
    g_assert_cmpstr(keyval_get(kv2, "qom-type"), ==, "a,b");
    g_autoptr(KeyvalList) kv3 = parse_ok("t,id=a,,b", "qom-type", 0);
    g_assert_cmpstr(keyval_get(kv3, "id"), ==, "a,b");
}

static void test_implied_only_first(void)
{
    /* Without an implied key a bare first word is a boolean flag. */
    g_autoptr(KeyvalList) kv = parse_ok("server,id=x", NULL, KEYVAL_OPTS);
    g_assert_cmpstr(keyval_get(kv, "server"), ==, "on");
    g_autoptr(KeyvalList) kv2 = parse_ok("id=x,socket", "backend", KEYVAL_OPTS);
    g_assert_null(keyval_get(kv2, "backend"));
    g_assert_cmpstr(keyval_get(kv2, "socket"), ==, "on");
}

static void test_bare_flags(void)
{
    g_autoptr(KeyvalList) kv =
        parse_ok("socket,id=c,host=127.0.0.1,port=9000,server,nowait", "backend", KEYVAL_OPTS);
    g_assert_cmpstr(keyval_get(kv, "server"), ==, "on");
    g_assert_cmpstr(keyval_get(kv, "wait"), ==, "off");
    g_assert_null(keyval_get(kv, "nowait"));
    /* The strict grammar has no "no" prefix. */
    g_autoptr(KeyvalList) kv2 = parse_ok("iothread,id=i,nowait", "qom-type", 0);
    g_assert_cmpstr(keyval_get(kv2, "nowait"), ==, "on");
}

static void test_help(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("colo-compare,help", "qom-type", 0);
    g_assert_true(kv->help);
    g_assert_cmpstr(keyval_get(kv, "qom-type"), ==, "colo-compare");
    g_autoptr(KeyvalList) kv2 = parse_ok("help", "qom-type", 0);
    g_assert_true(kv2->help);
    g_autoptr(KeyvalList) kv3 = parse_ok("?", "qom-type", 0);
    g_assert_true(kv3->help);
}

static void test_repeated_key_last_wins(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("t,id=a,x=1,x=2", "qom-type", 0);
    g_assert_cmpstr(keyval_get(kv, "x"), ==, "2");
    g_assert_cmpuint(kv->pairs->len, ==, 3);
}

static void test_empty_values(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("t,id=,x=", "qom-type", 0);
    g_assert_cmpstr(keyval_get(kv, "id"), ==, "");
    g_assert_cmpstr(keyval_get(kv, "x"), ==, "");
    g_autoptr(KeyvalList) kv2 = parse_ok("", "qom-type", 0);
    g_assert_cmpuint(kv2->pairs->len, ==, 0);
}

static void test_bad_keys(void)
{
    GError *err = NULL;
    g_assert_null(keyval_parse("t,=x", "qom-type", KEYVAL_QUIET, &err));
    g_assert_error(err, QEMU_ERROR, ERROR_CLASS_GENERIC_ERROR);
    g_assert_cmpstr(err->message, ==, "Invalid parameter ''");
    g_clear_error(&err);
    g_assert_null(keyval_parse("t,a b=x", "qom-type", KEYVAL_QUIET, &err));
    g_assert_cmpstr(err->message, ==, "Invalid parameter 'a b'");
    g_clear_error(&err);
    g_assert_null(keyval_parse("t,,,=x", NULL, KEYVAL_QUIET, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
}

static void test_take_and_set(void)
{
    g_autoptr(KeyvalList) kv = parse_ok("t,id=a,x=1", "qom-type", 0);
    g_autofree char *v = keyval_take(kv, "x");
    g_assert_cmpstr(v, ==, "1");
    g_assert_null(keyval_get(kv, "x"));
    g_assert_null(keyval_take(kv, "x"));
    keyval_set(kv, "id", "b");
    keyval_set(kv, "y", "2");
    g_assert_cmpstr(keyval_get(kv, "id"), ==, "b");
    g_assert_cmpstr(keyval_get(kv, "y"), ==, "2");
}

static void test_json(void)
{
    GError *err = NULL;
    JsonObject *o = keyval_parse_json("{\"qom-type\":\"iothread\",\"id\":\"io0\",\"n\":5}", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, "io0");
    g_assert_cmpint(json_object_get_int_member(o, "n"), ==, 5);
    json_object_unref(o);
    g_assert_null(keyval_parse_json("{\"qom-type\":", &err));
    g_assert_true(g_str_has_prefix(err->message, "JSON parse error"));
    g_clear_error(&err);
    g_assert_null(keyval_parse_json("[1,2]", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
}

static void test_id_wellformed(void)
{
    g_assert_true(id_wellformed("io0"));
    g_assert_true(id_wellformed("a.b-c_d"));
    g_assert_false(id_wellformed("1a"));
    g_assert_false(id_wellformed("a,b"));
    g_assert_false(id_wellformed(""));
    g_assert_false(id_wellformed("-x"));
}

static void test_bool(void)
{
    gboolean b = FALSE;
    GError *err = NULL;
    const char *yes[] = {"on", "yes", "true", "y"};
    const char *no[] = {"off", "no", "false", "n"};
    for (guint i = 0; i < G_N_ELEMENTS(yes); i++) {
        g_assert_true(keyval_parse_bool("x", yes[i], &b, &err) && b);
        g_assert_true(keyval_parse_bool("x", no[i], &b, &err) && !b);
    }
    g_assert_false(keyval_parse_bool("server", "maybe", &b, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'server' expects 'on' or 'off'");
    g_clear_error(&err);
}

static void test_size(void)
{
    guint64 v;
    GError *err = NULL;
    g_assert_true(keyval_parse_size("m", "512M", &v, &err));
    g_assert_cmpuint(v, ==, 512ULL << 20);
    g_assert_true(keyval_parse_size("m", "2G", &v, &err));
    g_assert_cmpuint(v, ==, 2ULL << 30);
    g_assert_true(keyval_parse_size("m", "1.5k", &v, &err));
    g_assert_cmpuint(v, ==, 1536);
    g_assert_true(keyval_parse_size("m", "4096", &v, &err));
    g_assert_cmpuint(v, ==, 4096);
    g_assert_false(keyval_parse_size("m", "12X", &v, &err));
    g_assert_true(g_str_has_prefix(err->message, "Parameter 'm' expects a non-negative number"));
    g_clear_error(&err);
    g_assert_false(keyval_parse_size("m", "-1", &v, &err));
    g_clear_error(&err);
    g_assert_false(keyval_parse_size("m", "99999999E", &v, &err));
    g_clear_error(&err);
}

/* Upstream's qemu_strtosz grammar, case by case as Debian's QEMU 7.2 reads -m. */
static void test_strtosz(void)
{
    static const struct {
        const char *s;
        int ret;
        guint64 v;
    } cases[] = {
        {"0", 0, 0},
        {" +5", 0, 5},
        {"010", 0, 10}, /* decimal, not octal */
        {"5.", 0, 5},
        {"1.0", 0, 1},
        {"1.5k", 0, 1536},
        {"0.1k", 0, 102},
        {"5.G", 0, 5ull << 30},
        {"15.5E", 0, 31ull << 59},
        {"16383P", 0, 16383ull << 50},
        {"18446744073709551615b", 0, G_MAXUINT64},
        {"0x10", 0, 16},
        {"1.5", -EINVAL, 0}, /* a fraction needs a scale */
        {"1.5b", -EINVAL, 0},
        {"1e3", -EINVAL, 0}, /* no exponents */
        {"1.5e3", -EINVAL, 0},
        {".5G", -EINVAL, 0},
        {"0x1.8k", -EINVAL, 0}, /* no hex fractions */
        {"0x", -EINVAL, 0},
        {"0xg", -EINVAL, 0},
        {"0b1", -EINVAL, 0},
        {"1kb", -EINVAL, 0},
        {"5 ", -EINVAL, 0},
        {"1_0", -EINVAL, 0},
        {"-5", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"18446744073709551616b", -EINVAL, 0}, /* too many digits is no number at all */
        {"16E", -ERANGE, 0},
        {"17179869184G", -ERANGE, 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint64 v = 0;
        int ret = keyval_strtosz(cases[i].s, 0, &v);
        g_test_message("'%s'", cases[i].s);
        g_assert_cmpint(ret, ==, cases[i].ret);
        if (!ret) {
            g_assert_cmpuint(v, ==, cases[i].v);
        }
    }
    guint64 v;
    g_assert_cmpint(keyval_strtosz("512", 20, &v), ==, 0); /* -m's default unit */
    g_assert_cmpuint(v, ==, 512ull << 20);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keyval/basic", test_basic);
    g_test_add_func("/keyval/escaped-comma", test_escaped_comma);
    g_test_add_func("/keyval/implied-only-first", test_implied_only_first);
    g_test_add_func("/keyval/bare-flags", test_bare_flags);
    g_test_add_func("/keyval/help", test_help);
    g_test_add_func("/keyval/repeated-key", test_repeated_key_last_wins);
    g_test_add_func("/keyval/empty-values", test_empty_values);
    g_test_add_func("/keyval/bad-keys", test_bad_keys);
    g_test_add_func("/keyval/take-and-set", test_take_and_set);
    g_test_add_func("/keyval/json", test_json);
    g_test_add_func("/keyval/id-wellformed", test_id_wellformed);
    g_test_add_func("/keyval/bool", test_bool);
    g_test_add_func("/keyval/size", test_size);
    g_test_add_func("/keyval/strtosz", test_strtosz);
    return g_test_run();
}
