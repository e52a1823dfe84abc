/* Modified UTF-8 (util/mod-utf8.c): decoding, validity and encoding, byte by byte. */
#include "util/mod-utf8.h"

#include <string.h>

static int32_t decode(const char *s, size_t n, size_t *used)
{
    const char *end;
    int32_t cp = mod_utf8_decode(s, n, &end);
    *used = end - s;
    return cp;
}

static void test_valid_sequences(void)
{
    static const struct {
        const char *s;
        size_t len;
        int32_t cp;
    } cases[] = {
        {"A", 1, 0x41},
        {"\xC0\x80", 2, 0},
        {"\xC3\xA9", 2, 0xE9},
        {"\xE2\x82\xAC", 3, 0x20AC},
        {"\xEF\xBB\xBF", 3, 0xFEFF},
        {"\xF0\x9F\x98\x80", 4, 0x1F600},
        {"\xF4\x8F\xBF\xBD", 4, 0x10FFFD},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        size_t used;
        g_assert_cmpint(decode(cases[i].s, cases[i].len, &used), ==, cases[i].cp);
        g_assert_cmpuint(used, ==, cases[i].len);
    }
}

static void test_invalid_sequences(void)
{
    static const struct {
        const char *s;
        size_t len;
        size_t used; /* bytes that belong to the bad sequence */
    } cases[] = {
        {"\x80", 1, 1}, /* a continuation byte */
        {"\xFE", 1, 1}, /* impossible bytes */
        {"\xFF", 1, 1},
        {"\xC1\x81", 2, 2},             /* overlong 'A' */
        {"\xE0\x80\x80", 3, 3},         /* overlong NUL: only C0 80 is allowed */
        {"\xED\xA0\x80", 3, 3},         /* a surrogate */
        {"\xEF\xBF\xBE", 3, 3},         /* U+FFFE */
        {"\xEF\xB7\x90", 3, 3},         /* U+FDD0 */
        {"\xF0\x9F\xBF\xBF", 4, 4},     /* U+1FFFF */
        {"\xF4\x90\x80\x80", 4, 4},     /* past U+10FFFF */
        {"\xF8\x88\x80\x80\x80", 5, 5}, /* five bytes */
        {"\xE2\x82", 2, 2},             /* truncated by the length */
        {"\xE2\x82Z", 3, 2},            /* cut short by a non-continuation */
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        size_t used;
        g_assert_cmpint(decode(cases[i].s, cases[i].len, &used), ==, -1);
        g_assert_cmpuint(used, ==, cases[i].used);
    }
    size_t used;
    g_assert_cmpint(decode("", 1, &used), ==, -1);
    g_assert_cmpuint(used, ==, 0);
}

static void test_codepoints(void)
{
    g_assert_true(mod_utf8_valid_codepoint(0));
    g_assert_true(mod_utf8_valid_codepoint(0xD7FF));
    g_assert_false(mod_utf8_valid_codepoint(0xD800));
    g_assert_false(mod_utf8_valid_codepoint(0xDFFF));
    g_assert_true(mod_utf8_valid_codepoint(0xFDCF));
    g_assert_false(mod_utf8_valid_codepoint(0xFDEF));
    g_assert_true(mod_utf8_valid_codepoint(0xFDF0));
    g_assert_false(mod_utf8_valid_codepoint(0x10FFFE));
    g_assert_false(mod_utf8_valid_codepoint(0x110000));
    g_assert_false(mod_utf8_valid_codepoint(-1));
}

static void test_append(void)
{
    GString *s = g_string_new(NULL);
    mod_utf8_append(s, 'a');
    mod_utf8_append(s, 0);
    mod_utf8_append(s, 0x20AC);
    mod_utf8_append(s, 0x1F600);
    g_assert_cmpmem(s->str, s->len, "a\xC0\x80\xE2\x82\xAC\xF0\x9F\x98\x80", 10);
    g_string_free(s, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mod-utf8/valid", test_valid_sequences);
    g_test_add_func("/mod-utf8/invalid", test_invalid_sequences);
    g_test_add_func("/mod-utf8/codepoints", test_codepoints);
    g_test_add_func("/mod-utf8/append", test_append);
    return g_test_run();
}
