/* colo-compare's notify_dev messages (net/colo-notify.c). */
#include "net/colo-notify.h"

#include <string.h>

static ColoNotifyMsg parse_str(const char *s, gsize len)
{
    return colo_notify_parse((const guint8 *)s, len);
}

static void test_commands(void)
{
    g_assert_cmpint(parse_str("COLO_USERSPACE_PROXY_INIT", 25), ==, COLO_NOTIFY_MSG_PROXY_INIT);
    g_assert_cmpint(parse_str("COLO_CHECKPOINT", 15), ==, COLO_NOTIFY_MSG_CHECKPOINT_DONE);
}

/* Upstream matches the exact bytes: no prefix, no trailing NUL, no case folding. */
static void test_near_misses(void)
{
    static const struct {
        const char *s;
        gsize len;
    } cases[] = {
        {"", 0},
        {"COLO_CHECKPOINT", 14},
        {"COLO_CHECKPOINT\0", 16},
        {"COLO_CHECKPOINTS", 16},
        {"colo_checkpoint", 15},
        {" COLO_CHECKPOINT", 16},
        {"DO_CHECKPOINT", 13},
        {"COLO_COMPARE_GET_XEN_INIT", 25},
        {"COLO_USERSPACE_PROXY_INIT\n", 26},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_cmpint(parse_str(cases[i].s, cases[i].len), ==, COLO_NOTIFY_MSG_UNSUPPORTED);
    }
    /* an empty frame may come without a buffer */
    g_assert_cmpint(colo_notify_parse(NULL, 0), ==, COLO_NOTIFY_MSG_UNSUPPORTED);
}

/* What colo-compare sends: LEN then the text, never a VHDR word. Bytes spelled out by hand. */
static void test_append(void)
{
    static const guint8 want[] = {0,   0,   0,   13,  'D', 'O', '_', 'C', 'H', 'E', 'C',
                                  'K', 'P', 'O', 'I', 'N', 'T', 0,   0,   0,   25};
    GByteArray *out = g_byte_array_new();
    colo_notify_append(out, "DO_CHECKPOINT");
    colo_notify_append(out, "COLO_COMPARE_GET_XEN_INIT");
    g_assert_cmpuint(out->len, ==, 4 + 13 + 4 + 25);
    g_assert_cmpmem(out->data, sizeof(want), want, sizeof(want));
    g_assert_cmpmem(out->data + sizeof(want), 25, "COLO_COMPARE_GET_XEN_INIT", 25);
    g_byte_array_unref(out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-notify/commands", test_commands);
    g_test_add_func("/colo-notify/near-misses", test_near_misses);
    g_test_add_func("/colo-notify/append", test_append);
    return g_test_run();
}
