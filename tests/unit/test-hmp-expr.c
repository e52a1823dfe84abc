/* HMP integer expressions and sizes: the values and errors Debian's QEMU 7.2 gives. */
#include "monitor/hmp.h"

#include <string.h>

typedef struct {
    const char *in;
    int64_t val;
    const char *rest; /* what the parser leaves for the caller */
} ExprOk;

typedef struct {
    const char *in;
    const char *msg;
} ExprBad;

static void test_expr_values(void)
{
    static const ExprOk cases[] = {
        {"42", 42, ""},
        {"0x10", 16, ""},
        {"010", 8, ""},
        {"1+2", 3, ""},
        {"1 +2", 3, ""},
        {"3 - 1", 2, ""},
        {"-5+10", 5, ""},
        {"2*(3+4)", 14, ""},
        {"( 1 )", 1, ""},
        {"2+3*4", 14, ""},
        /* & | ^ bind tighter than * and +, and go left to right among themselves */
        {"1+2&0", 1, ""},
        {"2*3|1", 6, ""},
        {"1|2&3^4", 7, ""},
        {"~0", -1, ""},
        {"-1", -1, ""},
        {"18446744073709551615", -1, ""},
        {"'a'", 97, ""},
        {"-7/2", -3, ""},
        {"-7%3", -1, ""},
        {"-9223372036854775807-1/-1", G_MININT64 + 2, ""},
        {"(-9223372036854775807-1)/-1", G_MININT64, ""},
        {"5 ", 5, ""},
        /* the caller sees what is left: "extraneous characters" for a command */
        {"4k", 4, "k"},
        {"1 2", 1, "2"},
        {"0x", 0, "x"},
        {"08", 0, "8"},
        {"1<<2", 1, "<<2"},
        {"1)", 1, ")"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *p = cases[i].in;
        int64_t v = 12345;
        GError *err = NULL;
        g_assert_true(hmp_parse_expr(&p, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpint(v, ==, cases[i].val);
        g_assert_cmpstr(p, ==, cases[i].rest);
    }
}

static void test_expr_errors(void)
{
    static const ExprBad cases[] = {
        {"", "unexpected end of expression"},
        {"1+", "unexpected end of expression"},
        {"1 -", "unexpected end of expression"},
        {"+", "unexpected end of expression"},
        {"(1", "')' expected"},
        {"(1+2", "')' expected"},
        {"5/0", "division by zero"},
        {"7%0", "division by zero"},
        {"99999999999999999999", "number too large"},
        {"$eax", "unknown register"},
        {")", "invalid char ')' in expression"},
        {"x", "invalid char 'x' in expression"},
        {"'a", "missing terminating ' character"},
        {"'ab'", "missing terminating ' character"},
        {"'", "character constant expected"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *p = cases[i].in;
        int64_t v = 12345;
        GError *err = NULL;
        g_assert_false(hmp_parse_expr(&p, &v, &err));
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_assert_true(p == cases[i].in);
        g_assert_cmpint(v, ==, 12345);
        g_error_free(err);
    }
}

static void test_sizes(void)
{
    static const ExprOk ok[] = {
        {"4k", 4096, ""},        {"4K", 4096, ""},
        {"1", 1 << 20, ""},      {"1.5M", 3 << 19, ""},
        {"0.5", 1 << 19, ""},    {"2G", G_GINT64_CONSTANT(2) << 30, ""},
        {"512B", 512, ""},       {"0x10", 16 << 20, ""},
        {"0x10k", 16 << 10, ""}, {"0x1B", 27 << 20, ""},
        {"1.", 1 << 20, ""},     {"1e3", G_GINT64_CONSTANT(1) << 60, "3"},
        {"0x", 0, "x"},          {"7E", G_GINT64_CONSTANT(7) << 60, ""},
        {"4x", 4 << 20, "x"},    {"1+1", 1 << 20, "+1"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(ok); i++) {
        const char *p = ok[i].in;
        int64_t v = 0;
        GError *err = NULL;
        g_assert_true(hmp_parse_size(&p, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpint(v, ==, ok[i].val);
        g_assert_cmpstr(p, ==, ok[i].rest);
    }
    static const char *const bad[] = {
        "", "-1", "16E", "8E", "99999999999999999999", "1.5B", "x", ".5", "0x1.5",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        const char *p = bad[i];
        int64_t v = 7;
        GError *err = NULL;
        g_assert_false(hmp_parse_size(&p, &v, &err));
        g_assert_cmpstr(err->message, ==, "invalid size");
        g_assert_true(p == bad[i]);
        g_assert_cmpint(v, ==, 7);
        g_error_free(err);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hmp-expr/values", test_expr_values);
    g_test_add_func("/hmp-expr/errors", test_expr_errors);
    g_test_add_func("/hmp-expr/sizes", test_sizes);
    return g_test_run();
}
