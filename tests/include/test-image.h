/*
 * A raw image in a private temporary directory, opened as "raw" over "file" behind a named
 * BlockBackend, for device tests that need a real disk under them.
 */
#ifndef TESTS_TEST_IMAGE_H
#define TESTS_TEST_IMAGE_H

#include "block/block-backend.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct TestImage {
    char *dir, *path;
    BlockBackend *blk;
} TestImage;

/* Opens t->path (made by the caller) behind a backend named name. */
static inline void test_image_open_path(TestImage *t, const char *name, bool read_only)
{
    GError *err = NULL;
    GHashTable *o = bdrv_opts_new();
    g_hash_table_insert(o, g_strdup("driver"), g_strdup("raw"));
    g_hash_table_insert(o, g_strdup("file.driver"), g_strdup("file"));
    g_hash_table_insert(o, g_strdup("file.filename"), g_strdup(t->path));
    if (read_only) {
        g_hash_table_insert(o, g_strdup("read-only"), g_strdup("on"));
    }
    BlockDriverState *bs = bdrv_open_opts(o, NULL, &err);
    g_hash_table_unref(o);
    g_assert_no_error(err);
    t->blk = blk_new(name, NULL);
    g_assert_true(blk_insert_bs(t->blk, bs, 0, BLK_PERM_ALL, &err));
    bdrv_unref(bs);
}

static inline void test_image_make_path(TestImage *t)
{
    t->dir = g_dir_make_tmp("test-image-XXXXXX", NULL);
    g_assert_nonnull(t->dir);
    t->path = g_build_filename(t->dir, "disk.raw", NULL);
}

/* The image holds data (size bytes); the backend takes no permission yet (the device will). */
static inline void test_image_open(TestImage *t, const char *name, const void *data, gsize size,
                                   bool read_only)
{
    test_image_make_path(t);
    g_assert_true(g_file_set_contents(t->path, data, size, NULL));
    test_image_open_path(t, name, read_only);
}

/* A sparse image of size bytes, reading as zeros (a large medium at no cost). */
static inline void test_image_open_sparse(TestImage *t, const char *name, gsize size,
                                          bool read_only)
{
    test_image_make_path(t);
    g_assert_true(g_file_set_contents(t->path, "", 0, NULL));
    g_assert_cmpint(truncate(t->path, size), ==, 0);
    test_image_open_path(t, name, read_only);
}

/* After the device on it is gone. */
static inline void test_image_close(TestImage *t)
{
    blk_unref(t->blk);
    block_cleanup();
    g_unlink(t->path);
    g_rmdir(t->dir);
    g_free(t->path);
    g_free(t->dir);
}

#endif
