/*
 * block/quorum.c over real image files (and, for a child that dies, an nbd child on Debian's
 * qemu-nbd): writes to every child, votes on reads, fifo, the events and their members,
 * children added and removed at run time.
 */
#include "block/block.h"
#include "block/nbd-driver.h"
#include "block/quorum.h"
#include "util/error.h"
#include "qemu-nbd-peer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (1024 * 1024)

static char *dir;
static GPtrArray *events; /* QuorumEvent*, copies */

static void on_event(const QuorumEvent *ev)
{
    QuorumEvent *copy = g_new(QuorumEvent, 1);
    *copy = *ev;
    copy->error = g_strdup(ev->error);
    copy->node_name = g_strdup(ev->node_name);
    g_ptr_array_add(events, copy);
}

static void event_free(gpointer p)
{
    QuorumEvent *ev = p;
    g_free(ev->error);
    g_free(ev->node_name);
    g_free(ev);
}

/* Events raised on quorum's pool threads arrive through the main context. */
static guint take_events(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    return events->len;
}

static void assert_event(guint i, QuorumEventKind kind, QuorumOp op, const char *error,
                         const char *node, int64_t sector, int64_t count)
{
    g_assert_cmpuint(i, <, events->len);
    QuorumEvent *ev = events->pdata[i];
    g_assert_cmpint(ev->kind, ==, kind);
    if (kind == QUORUM_EVENT_REPORT_BAD) {
        g_assert_cmpint(ev->op, ==, op);
        g_assert_cmpstr(ev->error, ==, error);
    }
    g_assert_cmpstr(ev->node_name, ==, node);
    g_assert_cmpint(ev->sector_num, ==, sector);
    g_assert_cmpint(ev->sectors_count, ==, count);
}

static char *image(int i)
{
    return g_strdup_printf("%s/c%d.img", dir, i);
}

static void fresh_images(void)
{
    g_autofree char *zeroes = g_malloc0(SIZE);
    for (int i = 0; i < 4; i++) {
        g_autofree char *p = image(i);
        g_assert_true(g_file_set_contents(p, zeroes, SIZE, NULL));
    }
    g_ptr_array_set_size(events, 0);
}

/* "k=v,k=v" plus n raw-over-file children named n0..n(n-1) on c0.img... */
static BlockDriverState *open_quorum(int n, const char *extra, GError **errp)
{
    GHashTable *opts = bdrv_opts_new();
    g_hash_table_insert(opts, g_strdup("driver"), g_strdup("quorum"));
    g_hash_table_insert(opts, g_strdup("node-name"), g_strdup("q"));
    g_auto(GStrv) kvs = g_strsplit(extra, ",", -1);
    for (char **kv = kvs; *kv && **kv; kv++) {
        char *eq = strchr(*kv, '=');
        g_hash_table_insert(opts, g_strndup(*kv, eq - *kv), g_strdup(eq + 1));
    }
    for (int i = 0; i < n; i++) {
        g_hash_table_insert(opts, g_strdup_printf("children.%d.driver", i), g_strdup("raw"));
        g_hash_table_insert(opts, g_strdup_printf("children.%d.node-name", i),
                            g_strdup_printf("n%d", i));
        g_hash_table_insert(opts, g_strdup_printf("children.%d.file.driver", i), g_strdup("file"));
        g_hash_table_insert(opts, g_strdup_printf("children.%d.file.filename", i), image(i));
    }
    BlockDriverState *bs = bdrv_open_opts(opts, NULL, errp);
    g_hash_table_unref(opts);
    return bs;
}

static void fill(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 13 + seed);
    }
}

static void file_bytes(int i, uint64_t off, size_t len, uint8_t *out)
{
    g_autofree char *p = image(i);
    g_autofree char *data = NULL;
    gsize n;
    g_assert_true(g_file_get_contents(p, &data, &n, NULL));
    g_assert_cmpuint(n, >=, off + len);
    memcpy(out, data + off, len);
}

/* Changes bytes of one child's image behind quorum's back (a corrupted replica). */
static void corrupt(int i, uint64_t off, size_t len, int seed)
{
    g_autofree uint8_t *buf = g_malloc(len);
    fill(buf, len, seed);
    g_autofree char *p = image(i);
    FILE *f = fopen(p, "r+");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, off, SEEK_SET), ==, 0);
    g_assert_cmpuint(fwrite(buf, 1, len, f), ==, len);
    fclose(f);
}

static void test_write_read(void)
{
    GError *err = NULL;
    fresh_images();
    BlockDriverState *q = open_quorum(3, "vote-threshold=2", &err);
    g_assert_no_error(err);
    g_assert_cmpint(bdrv_getlength(q), ==, SIZE);
    uint8_t buf[65536], back[65536];
    fill(buf, sizeof(buf), 1);
    g_assert_cmpint(bdrv_pwrite(q, 4096, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(bdrv_flush(q), ==, 0);
    for (int i = 0; i < 3; i++) {
        file_bytes(i, 4096, sizeof(back), back);
        g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    }
    memset(back, 0, sizeof(back));
    g_assert_cmpint(bdrv_pread(q, 4096, sizeof(back), back), ==, 0);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    g_assert_cmpint(bdrv_write_zeroes(q, 4096, 512, 0), ==, 0);
    file_bytes(2, 4096, 512, back);
    static const uint8_t zero[512];
    g_assert_cmpmem(back, 512, zero, 512);
    g_assert_cmpuint(take_events(), ==, 0);
    bdrv_unref(q);
}

/* One replica differs: the majority is read, the odd one reported (and rewritten on demand). */
static void test_bad_version(void)
{
    GError *err = NULL;
    fresh_images();
    BlockDriverState *q = open_quorum(3, "vote-threshold=2,rewrite-corrupted=on", &err);
    g_assert_no_error(err);
    uint8_t buf[4096], back[4096];
    fill(buf, sizeof(buf), 5);
    g_assert_cmpint(bdrv_pwrite(q, 1000, sizeof(buf), buf, 0), ==, 0);
    corrupt(1, 2000, 10, 77);
    g_assert_cmpint(bdrv_pread(q, 1000, sizeof(back), back), ==, 0);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    /* Sectors 1 (byte 1000) to 9 (byte 5095): 9 sectors. */
    g_assert_cmpuint(take_events(), ==, 1);
    assert_event(0, QUORUM_EVENT_REPORT_BAD, QUORUM_OP_READ, NULL, "n1", 1, 9);
    file_bytes(1, 1000, sizeof(back), back);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf)); /* rewritten */
    bdrv_unref(q);
}

/* No version reaches the threshold: EIO and QUORUM_FAILURE naming the quorum. */
static void test_failure(void)
{
    GError *err = NULL;
    fresh_images();
    BlockDriverState *q = open_quorum(3, "vote-threshold=2", &err);
    g_assert_no_error(err);
    corrupt(1, 0, 16, 1);
    corrupt(2, 0, 16, 2);
    uint8_t back[512];
    g_assert_cmpint(bdrv_pread(q, 0, sizeof(back), back), ==, -EIO);
    g_assert_cmpuint(take_events(), ==, 1);
    assert_event(0, QUORUM_EVENT_FAILURE, 0, NULL, "q", 0, 1);
    bdrv_unref(q);

    /* With a threshold of 1, two versions of one vote each: upstream's election takes the
     * version it saw last, and reports the other. */
    fresh_images();
    q = open_quorum(2, "vote-threshold=1", &err);
    g_assert_no_error(err);
    corrupt(1, 0, 512, 9);
    uint8_t want[512];
    fill(want, sizeof(want), 9);
    g_assert_cmpint(bdrv_pread(q, 0, sizeof(back), back), ==, 0);
    g_assert_cmpmem(back, sizeof(back), want, sizeof(want));
    g_assert_cmpuint(take_events(), ==, 1);
    assert_event(0, QUORUM_EVENT_REPORT_BAD, QUORUM_OP_READ, NULL, "n0", 0, 1);
    bdrv_unref(q);
}

/* A child refusing writes (read-only): reported; the write fails only below the threshold. */
static void test_write_error(void)
{
    GError *err = NULL;
    for (int threshold = 2; threshold <= 3; threshold++) {
        fresh_images();
        g_autofree char *o =
            g_strdup_printf("vote-threshold=%d,children.2.read-only=on", threshold);
        BlockDriverState *q = open_quorum(3, o, &err);
        g_assert_no_error(err);
        uint8_t buf[512];
        fill(buf, sizeof(buf), 3);
        g_assert_cmpint(bdrv_pwrite(q, 512, sizeof(buf), buf, 0), ==, threshold == 2 ? 0 : -EPERM);
        g_assert_cmpuint(take_events(), ==, threshold == 2 ? 1 : 2);
        assert_event(0, QUORUM_EVENT_REPORT_BAD, QUORUM_OP_WRITE, g_strerror(EPERM), "n2", 1, 1);
        if (threshold == 3) {
            assert_event(1, QUORUM_EVENT_FAILURE, 0, NULL, "q", 1, 1);
        }
        bdrv_unref(q);
    }
}

/* fifo: the first child answers, whatever the others hold; nothing is compared. */
static void test_fifo(void)
{
    GError *err = NULL;
    fresh_images();
    BlockDriverState *q = open_quorum(3, "vote-threshold=1,read-pattern=fifo", &err);
    g_assert_no_error(err);
    corrupt(0, 0, 512, 4);
    corrupt(1, 0, 512, 5);
    uint8_t back[512], want[512];
    fill(want, sizeof(want), 4);
    g_assert_cmpint(bdrv_pread(q, 0, sizeof(back), back), ==, 0);
    g_assert_cmpmem(back, sizeof(back), want, sizeof(want));
    g_assert_cmpuint(take_events(), ==, 0);
    bdrv_unref(q);
}

static void expect_open_error(int n, const char *extra, const char *msg)
{
    GError *err = NULL;
    g_assert_null(open_quorum(n, extra, &err));
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
}

static void test_options(void)
{
    fresh_images();
    expect_open_error(1, "", "Parameter 'vote-threshold' is missing");
    expect_open_error(1, "vote-threshold=2", "threshold may not exceed children count");
    expect_open_error(1, "vote-threshold=0", "Parameter 'vote-threshold' expects a value >= 1");
    expect_open_error(1, "vote-threshold=1,read-pattern=x",
                      "Parameter 'read-pattern' does not accept value 'x'");
    expect_open_error(2, "vote-threshold=1,blkverify=on",
                      "blkverify=on can only be set if there are exactly two files and "
                      "vote-threshold is 2");
    expect_open_error(2, "vote-threshold=2,blkverify=on,rewrite-corrupted=on",
                      "rewrite-corrupted=on cannot be used with blkverify=on");
    expect_open_error(0, "vote-threshold=1", "Parameter 'children' is missing");
    expect_open_error(1, "vote-threshold=1,children.2=n9", "Option children is not a valid array");
    /* Children of different sizes. */
    g_autofree char *p = image(1);
    g_assert_cmpint(truncate(p, SIZE / 2), ==, 0);
    expect_open_error(2, "vote-threshold=1",
                      "Could not refresh total sector count: Input/output "
                      "error");
}

/* x-blockdev-change's two halves: a node joins as "children.N", writes reach it, it leaves. */
static void test_add_del_child(void)
{
    GError *err = NULL;
    fresh_images();
    BlockDriverState *q = open_quorum(1, "vote-threshold=1", &err);
    g_assert_no_error(err);
    GHashTable *o = bdrv_opts_new();
    g_hash_table_insert(o, g_strdup("driver"), g_strdup("file"));
    g_hash_table_insert(o, g_strdup("node-name"), g_strdup("extra"));
    g_hash_table_insert(o, g_strdup("filename"), image(3));
    BlockDriverState *extra = bdrv_open_opts(o, NULL, &err);
    g_hash_table_unref(o);
    g_assert_no_error(err);

    g_assert_false(bdrv_add_child(extra, q, &err));
    g_assert_cmpstr(err->message, ==, "The node extra does not support adding a child");
    g_clear_error(&err);
    g_assert_false(bdrv_add_child(q, bdrv_find_node("n0"), &err));
    g_assert_cmpstr(err->message, ==, "The node n0 already has a parent");
    g_clear_error(&err);

    g_assert_true(bdrv_add_child(q, extra, &err));
    BdrvChild *c = bdrv_child(q, "children.1");
    g_assert_nonnull(c);
    g_assert_true(c->bs == extra);
    uint8_t buf[512], back[512];
    fill(buf, sizeof(buf), 8);
    g_assert_cmpint(bdrv_pwrite(q, 0, sizeof(buf), buf, 0), ==, 0);
    file_bytes(3, 0, sizeof(back), back);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));

    g_assert_false(bdrv_del_child(extra, c, &err));
    g_assert_cmpstr(err->message, ==, "The node extra does not support removing a child");
    g_clear_error(&err);
    g_assert_true(bdrv_del_child(q, c, &err));
    g_assert_null(bdrv_child(q, "children.1"));
    g_assert_false(bdrv_has_parents(extra));
    g_assert_false(bdrv_del_child(q, bdrv_child(q, "children.0"), &err));
    g_assert_cmpstr(err->message, ==,
                    "The number of children cannot be lower than the vote threshold 1");
    g_clear_error(&err);
    /* The last index was given back: the next child is children.1 again. */
    g_assert_true(bdrv_add_child(q, extra, &err));
    g_assert_nonnull(bdrv_child(q, "children.1"));
    bdrv_unref(q);
    bdrv_unref(extra);
}

/*
 * COLO's primary: fifo, vote-threshold=1, a local child and an nbd child. The NBD server dies:
 * writes still succeed (the lost child is reported with EIO), and reads fall through to the
 * next child when the nbd one is first.
 */
static void test_nbd_child_lost(void)
{
    GError *err = NULL;
    fresh_images();
    g_autofree char *sock = g_build_filename(dir, "nbd.sock", NULL);
    g_autofree char *img = image(1);
    GPid pid = qemu_nbd_start(img, sock, false);
    GHashTable *opts = bdrv_opts_new();
    const char *kv[][2] = {{"driver", "quorum"},
                           {"node-name", "q"},
                           {"vote-threshold", "1"},
                           {"read-pattern", "fifo"},
                           {"children.0.driver", "raw"},
                           {"children.0.node-name", "remote"},
                           {"children.0.file.driver", "nbd"},
                           {"children.0.file.server.type", "unix"},
                           {"children.0.file.server.path", sock},
                           {"children.0.file.export", "disk"},
                           {"children.1.driver", "raw"},
                           {"children.1.node-name", "local"},
                           {"children.1.file.driver", "file"}};
    for (guint i = 0; i < G_N_ELEMENTS(kv); i++) {
        g_hash_table_insert(opts, g_strdup(kv[i][0]), g_strdup(kv[i][1]));
    }
    g_hash_table_insert(opts, g_strdup("children.1.file.filename"), image(0));
    BlockDriverState *q = bdrv_open_opts(opts, NULL, &err);
    g_hash_table_unref(opts);
    g_assert_no_error(err);

    uint8_t buf[4096], back[4096];
    fill(buf, sizeof(buf), 6);
    g_assert_cmpint(bdrv_pwrite(q, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(bdrv_pread(q, 0, sizeof(back), back), ==, 0);
    g_assert_cmpuint(take_events(), ==, 0);

    qemu_nbd_stop(pid, SIGKILL);
    fill(buf, sizeof(buf), 7);
    g_assert_cmpint(bdrv_pwrite(q, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpuint(take_events(), ==, 1);
    assert_event(0, QUORUM_EVENT_REPORT_BAD, QUORUM_OP_WRITE, g_strerror(EIO), "remote", 0, 8);
    g_assert_cmpint(bdrv_pread(q, 0, sizeof(back), back), ==, 0);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    g_assert_cmpuint(take_events(), ==, 2);
    assert_event(1, QUORUM_EVENT_REPORT_BAD, QUORUM_OP_READ, g_strerror(EIO), "remote", 0, 8);
    bdrv_unref(q);
    unlink(sock);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
    bdrv_register_driver(&bdrv_nbd);
    quorum_set_event_handler(on_event);
    events = g_ptr_array_new_with_free_func(event_free);
    dir = g_dir_make_tmp("quorum-XXXXXX", NULL);
    g_test_add_func("/quorum/write-read", test_write_read);
    g_test_add_func("/quorum/bad-version", test_bad_version);
    g_test_add_func("/quorum/failure", test_failure);
    g_test_add_func("/quorum/write-error", test_write_error);
    g_test_add_func("/quorum/fifo", test_fifo);
    g_test_add_func("/quorum/options", test_options);
    g_test_add_func("/quorum/add-del-child", test_add_del_child);
    g_test_add_func("/quorum/nbd-child-lost", test_nbd_child_lost);
    int ret = g_test_run();
    for (int i = 0; i < 4; i++) {
        g_autofree char *p = image(i);
        unlink(p);
    }
    rmdir(dir);
    return ret;
}
