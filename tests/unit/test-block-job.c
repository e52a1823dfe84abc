/* Block jobs: the status machine and verbs of block/job.c with a driver the test plays, and
 * the mirror job over real raw images while writes land on the source. */
#include "block/block-backend.h"
#include "block/job.h"
#include "block/mirror.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define IMG_SIZE (8 << 20)

/* ---- what the monitor would be told ---- */

static GString *events; /* "status:created ready completed ..." */

static void record(Job *job, JobEventKind kind)
{
    static const char *const names[] = {"status", "ready", "pending", "completed", "cancelled"};
    if (kind == JOB_EV_STATUS) {
        g_string_append_printf(events, "%s ", job_status_name(job->status));
    } else if (kind == JOB_EV_COMPLETED && job->error) {
        g_string_append_printf(events, "COMPLETED(%s) ", job->error);
    } else {
        g_autofree char *up = g_ascii_strup(names[kind], -1);
        g_string_append_printf(events, "%s ", up);
    }
}

static void events_reset(void)
{
    if (!events) {
        events = g_string_new("");
        job_set_notify(record);
    }
    g_string_truncate(events, 0);
}

/* Runs the main context until cond holds (fails after 20 s). */
#define RUN_UNTIL(cond)                                                                            \
    do {                                                                                           \
        gint64 end_ = g_get_monotonic_time() + 20 * G_TIME_SPAN_SECOND;                            \
        while (!(cond)) {                                                                          \
            g_assert_cmpint(g_get_monotonic_time(), <, end_);                                      \
            g_main_context_iteration(NULL, FALSE);                                                 \
            g_usleep(1000);                                                                        \
        }                                                                                          \
    } while (0)

/* ---- a job driver the test moves by hand ---- */

typedef struct {
    int committed, aborted, freed;
    bool refuse_cancel; /* plays a ready mirror cancelled without force */
} FakeState;

static void fake_start(Job *job)
{
}

static bool fake_complete(Job *job, GError **errp)
{
    job_finished(job, 0, NULL);
    return true;
}

static bool fake_cancel(Job *job, bool force)
{
    FakeState *st = job->opaque;
    bool real = force || !st->refuse_cancel;
    job_finished(job, real ? -ECANCELED : 0, NULL);
    return real;
}

static int fake_commit(Job *job, GError **errp)
{
    ((FakeState *)job->opaque)->committed++;
    return 0;
}

static void fake_abort(Job *job)
{
    ((FakeState *)job->opaque)->aborted++;
}

static void fake_free(Job *job)
{
    ((FakeState *)job->opaque)->freed++;
}

static const JobDriver fake_driver = {
    .type = "mirror",
    .start = fake_start,
    .complete = fake_complete,
    .cancel = fake_cancel,
    .commit = fake_commit,
    .abort = fake_abort,
    .free = fake_free,
};

static void test_job_complete(void)
{
    FakeState st = {0};
    GError *err = NULL;
    events_reset();
    Job *job = job_create("j0", &fake_driver, &st, 0, true, true, &err);
    g_assert_no_error(err);
    job_start(job);
    g_assert_false(job_complete(job, &err));
    g_assert_cmpstr(err->message, ==,
                    "Job 'j0' in state 'running' cannot accept command verb 'complete'");
    g_clear_error(&err);
    g_assert_null(job_create("j0", &fake_driver, &st, 0, true, true, &err));
    g_assert_cmpstr(err->message, ==, "Job ID 'j0' already in use");
    g_clear_error(&err);

    job_ready(job);
    RUN_UNTIL(job->status == JOB_ST_READY);
    g_assert_true(job_complete(job, &err));
    RUN_UNTIL(job_find("j0") == NULL);
    g_assert_cmpstr(events->str, ==,
                    "created running ready READY waiting pending COMPLETED concluded null ");
    g_assert_cmpint(st.committed, ==, 1);
    g_assert_cmpint(st.aborted, ==, 0);
    g_assert_cmpint(st.freed, ==, 1);
}

static void test_job_cancel_kinds(void)
{
    FakeState st = {.refuse_cancel = true};
    GError *err = NULL;
    events_reset();
    Job *job = job_create("soft", &fake_driver, &st, 0, true, false, &err);
    job_start(job);
    job_ready(job);
    RUN_UNTIL(job->status == JOB_ST_READY);
    /* A ready job whose driver ends in sync: completed, not cancelled. */
    g_assert_true(job_cancel(job, false, &err));
    RUN_UNTIL(job->status == JOB_ST_CONCLUDED);
    g_assert_cmpstr(events->str, ==,
                    "created running ready READY waiting pending COMPLETED concluded ");
    g_assert_null(job->error);
    g_assert_false(job_cancel(job, false, &err));
    g_assert_cmpstr(err->message, ==,
                    "Job 'soft' in state 'concluded' cannot accept command verb 'cancel'");
    g_clear_error(&err);
    g_assert_true(job_dismiss(job, &err));
    g_assert_null(job_find("soft"));

    events_reset();
    job = job_create("hard", &fake_driver, &st, 0, true, false, &err);
    job_start(job);
    g_assert_true(job_cancel(job, true, &err));
    RUN_UNTIL(job->status == JOB_ST_CONCLUDED);
    g_assert_cmpstr(events->str, ==, "created running aborting CANCELLED concluded ");
    g_assert_cmpstr(job->error, ==, "Operation canceled");
    g_assert_cmpint(st.aborted, ==, 1);
    job_dismiss(job, &err);
    g_assert_no_error(err);
}

static void test_job_manual_finalize(void)
{
    FakeState st = {0};
    GError *err = NULL;
    events_reset();
    Job *job = job_create("m", &fake_driver, &st, 0, false, true, &err);
    job_start(job);
    g_assert_false(job_finalize(job, &err));
    g_clear_error(&err);
    job_ready(job);
    RUN_UNTIL(job->status == JOB_ST_READY);
    job_complete(job, &err);
    RUN_UNTIL(job->status == JOB_ST_PENDING);
    g_assert_true(job_shows_paused(job));
    g_assert_cmpint(st.committed, ==, 0);
    g_assert_true(job_finalize(job, &err));
    g_assert_cmpint(st.committed, ==, 1);
    g_assert_null(job_find("m"));
    g_assert_cmpstr(events->str, ==,
                    "created running ready READY waiting pending PENDING COMPLETED concluded "
                    "null ");
}

static void test_job_bad_ids(void)
{
    FakeState st = {0};
    GError *err = NULL;
    g_assert_null(job_create("1bad", &fake_driver, &st, 0, true, true, &err));
    g_assert_cmpstr(err->message, ==, "Invalid job ID '1bad'");
    g_clear_error(&err);
    g_assert_null(job_create("", &fake_driver, &st, 0, true, true, &err));
    g_assert_cmpstr(err->message, ==, "Invalid job ID ''");
    g_clear_error(&err);
    events_reset();
    g_assert_null(job_create("ok", &fake_driver, &st, -1, true, true, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'speed' expects a non-negative value");
    g_clear_error(&err);
    g_assert_cmpstr(events->str, ==, "created null ");
    g_assert_null(job_find("ok"));
}

/* ---- the mirror over real images ---- */

typedef struct {
    char *dir, *src_path, *tgt_path;
    BlockBackend *blk; /* the "device" on the source */
    BlockDriverState *src, *tgt;
} MirrorFixture;

static void write_pattern(const char *path, uint64_t size, guint seed)
{
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_autofree uint8_t *buf = g_malloc(size);
    GRand *r = g_rand_new_with_seed(seed);
    for (uint64_t i = 0; i < size; i += 4) {
        *(guint32 *)(buf + i) = g_rand_int(r);
    }
    /* Some zero runs, which the mirror writes as zeroes. */
    memset(buf + size / 4, 0, size / 8);
    g_rand_free(r);
    g_assert_cmpint(pwrite(fd, buf, size, 0), ==, (ssize_t)size);
    close(fd);
}

static BlockDriverState *open_raw(const char *path)
{
    GHashTable *o = bdrv_opts_new();
    g_hash_table_insert(o, g_strdup("driver"), g_strdup("raw"));
    g_hash_table_insert(o, g_strdup("file.driver"), g_strdup("file"));
    g_hash_table_insert(o, g_strdup("file.filename"), g_strdup(path));
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open_opts(o, NULL, &err);
    g_assert_no_error(err);
    g_hash_table_unref(o);
    return bs;
}

static void mfix_setup(MirrorFixture *f, gconstpointer data)
{
    block_register_types();
    f->dir = g_dir_make_tmp("test-block-job-XXXXXX", NULL);
    f->src_path = g_build_filename(f->dir, "src.raw", NULL);
    f->tgt_path = g_build_filename(f->dir, "tgt.raw", NULL);
    write_pattern(f->src_path, IMG_SIZE, 1);
    write_pattern(f->tgt_path, IMG_SIZE, 2); /* the target starts different everywhere */
    f->src = open_raw(f->src_path);
    f->tgt = open_raw(f->tgt_path);
    f->blk = blk_new("drive0", NULL);
    GError *err = NULL;
    g_assert_true(blk_insert_bs(f->blk, f->src, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                                BLK_PERM_ALL & ~BLK_PERM_WRITE, &err));
    g_assert_no_error(err);
    bdrv_unref(f->src); /* the backend holds it */
    events_reset();
}

static void mfix_teardown(MirrorFixture *f, gconstpointer data)
{
    job_cancel_all_sync();
    blk_unref(f->blk);
    bdrv_unref(f->tgt);
    block_cleanup();
    g_unlink(f->src_path);
    g_unlink(f->tgt_path);
    g_rmdir(f->dir);
    g_free(f->src_path);
    g_free(f->tgt_path);
    g_free(f->dir);
}

/* Guest-like writes on the source backend, kept going from the main loop: eight slots, each
 * with one request at a time inside its own eighth of the disk, so that the expected image
 * (shadow) follows from the completions alone. */
#define SLOTS     8
#define SLOT_SPAN (IMG_SIZE / SLOTS)

typedef struct {
    BlockBackend *blk;
    GRand *rand;
    int in_flight, done, failed;
    bool stop;
    uint8_t *shadow;
    uint64_t off[SLOTS], len[SLOTS];
    uint8_t bufs[SLOTS][64 * 1024];
} Writer;

typedef struct {
    Writer *w;
    int slot;
} WriteReq;

static void writer_submit(Writer *w, int slot);

static gboolean writer_resubmit(gpointer opaque)
{
    WriteReq *r = opaque;
    r->w->in_flight--;
    if (!r->w->stop) {
        writer_submit(r->w, r->slot);
    }
    g_free(r);
    return G_SOURCE_REMOVE;
}

static void writer_cb(void *opaque, int ret)
{
    WriteReq *r = opaque;
    Writer *w = r->w;
    int slot = r->slot;
    g_free(r);
    w->in_flight--;
    w->done++;
    w->failed += ret < 0;
    memcpy(w->shadow + w->off[slot], w->bufs[slot], w->len[slot]);
    if (!w->stop) {
        /* The next request comes from the main loop, as a vCPU's would: never from inside a
         * completion, which a drain runs. */
        WriteReq *next = g_new(WriteReq, 1);
        next->w = w;
        next->slot = slot;
        w->in_flight++; /* counted from now, so that writer_stop waits for it */
        g_idle_add(writer_resubmit, next);
    }
}

static void writer_submit(Writer *w, int slot)
{
    /* Sizes from one sector to 64 KiB, unaligned to the mirror's chunks. */
    uint64_t len = 512 * g_rand_int_range(w->rand, 1, 129);
    uint64_t off = slot * (uint64_t)SLOT_SPAN +
                   512 * (uint64_t)g_rand_int_range(w->rand, 0, (SLOT_SPAN - len) / 512 + 1);
    for (uint64_t i = 0; i < len; i++) {
        w->bufs[slot][i] = g_rand_int(w->rand);
    }
    w->off[slot] = off;
    w->len[slot] = len;
    WriteReq *r = g_new(WriteReq, 1);
    r->w = w;
    r->slot = slot;
    w->in_flight++;
    blk_aio_pwrite(w->blk, off, len, w->bufs[slot], 0, writer_cb, r);
}

static Writer *writer_start(BlockBackend *blk, const char *image, guint seed)
{
    Writer *w = g_new0(Writer, 1);
    gsize len;
    g_assert_true(g_file_get_contents(image, (char **)&w->shadow, &len, NULL));
    g_assert_cmpuint(len, ==, IMG_SIZE);
    w->blk = blk;
    w->rand = g_rand_new_with_seed(seed);
    for (int i = 0; i < SLOTS; i++) {
        writer_submit(w, i);
    }
    return w;
}

static void writer_stop(Writer *w)
{
    w->stop = true;
    RUN_UNTIL(w->in_flight == 0);
    g_assert_cmpint(w->failed, ==, 0);
}

static void writer_free(Writer *w)
{
    g_rand_free(w->rand);
    g_free(w->shadow);
    g_free(w);
}

static void assert_file_is(const char *path, const uint8_t *expect)
{
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, IMG_SIZE);
    for (gsize i = 0; i < len; i++) {
        if ((uint8_t)data[i] != expect[i]) {
            g_error("%s differs from the expected image at byte %" G_GSIZE_FORMAT, path, i);
        }
    }
}

static Job *start_mirror(MirrorFixture *f, int64_t speed)
{
    MirrorParams p = {
        .source = f->src,
        .target = f->tgt,
        .sync = MIRROR_SYNC_FULL,
        .speed = speed,
        .auto_finalize = true,
        .auto_dismiss = true,
    };
    GError *err = NULL;
    Job *job = mirror_start(&p, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(job->id, ==, "drive0"); /* the backend's name by default */
    return job;
}

/* Writes during the copy, after READY (write-through) and across the complete itself: the
 * device ends on the target, which holds every write, before and after the pivot. */
static void test_mirror_complete_under_writes(MirrorFixture *f, gconstpointer data)
{
    Writer *w = writer_start(f->blk, f->src_path, 7);
    Job *job = start_mirror(f, 0);
    RUN_UNTIL(job->status == JOB_ST_READY);
    int at_ready = w->done;
    RUN_UNTIL(w->done > at_ready + 300);
    GError *err = NULL;
    g_assert_true(job_complete(job, &err));
    g_assert_no_error(err);
    RUN_UNTIL(job_find("drive0") == NULL);
    int at_pivot = w->done;
    RUN_UNTIL(w->done > at_pivot + 100);
    writer_stop(w);
    g_assert_cmpstr(events->str, ==,
                    "created running ready READY waiting pending COMPLETED concluded null ");
    g_assert_true(blk_bs(f->blk) == f->tgt);
    assert_file_is(f->tgt_path, w->shadow);
    writer_free(w);
}

/* Cancel without force once ready (upstream's re-protect step): no pivot, and the target holds
 * what the source holds. */
static void test_mirror_cancel_in_sync(MirrorFixture *f, gconstpointer data)
{
    Writer *w = writer_start(f->blk, f->src_path, 9);
    Job *job = start_mirror(f, 0);
    RUN_UNTIL(job->status == JOB_ST_READY);
    int at_ready = w->done;
    RUN_UNTIL(w->done > at_ready + 300);
    /* As the runbook: the VM stops (its writes end), then the job is cancelled. */
    writer_stop(w);
    GError *err = NULL;
    g_assert_true(job_cancel(job, false, &err));
    RUN_UNTIL(job_find("drive0") == NULL);
    g_assert_cmpstr(events->str, ==,
                    "created running ready READY waiting pending COMPLETED concluded null ");
    g_assert_true(blk_bs(f->blk) == f->src);
    assert_file_is(f->src_path, w->shadow);
    assert_file_is(f->tgt_path, w->shadow);
    writer_free(w);
}

/* Cancel while the copy runs (a real cancel, force or not); the next mirror with the same id
 * may start at once, and reaches READY under writes. */
static void test_mirror_cancel_and_again(MirrorFixture *f, gconstpointer data)
{
    Job *job = start_mirror(f, 1 << 20); /* 1 MiB/s: still copying when cancelled */
    RUN_UNTIL(job->offset > 0);
    GError *err = NULL;
    g_assert_true(job_cancel(job, false, &err));
    job = start_mirror(f, 0);
    Writer *w = writer_start(f->blk, f->src_path, 11);
    RUN_UNTIL(job->status == JOB_ST_READY);
    g_assert_cmpstr(events->str, ==,
                    "created running aborting CANCELLED concluded null created running ready "
                    "READY ");
    RUN_UNTIL(w->done > 200);
    writer_stop(w);
    job_cancel(job, false, &err);
    RUN_UNTIL(job_find("drive0") == NULL);
    assert_file_is(f->tgt_path, w->shadow);
    writer_free(w);
}

static void test_mirror_size_mismatch(MirrorFixture *f, gconstpointer data)
{
    g_assert_cmpint(truncate(f->tgt_path, IMG_SIZE / 2), ==, 0);
    bdrv_unref(f->tgt);
    f->tgt = open_raw(f->tgt_path);
    start_mirror(f, 0);
    RUN_UNTIL(job_find("drive0") == NULL);
    g_assert_cmpstr(events->str, ==,
                    "created running aborting COMPLETED(Source and target image have different "
                    "sizes) concluded null ");
}

static void test_mirror_param_errors(MirrorFixture *f, gconstpointer data)
{
    static const struct {
        int64_t granularity, buf_size;
        bool self;
        const char *job_id, *error;
    } cases[] = {
        {1000, 0, false, NULL, "Parameter 'granularity' expects a power of 2"},
        {256, 0, false, NULL, "Parameter 'granularity' expects a value in range [512B, 64MB]"},
        {0, 0, true, NULL, "Can't mirror node into itself"},
        {0, -1, false, NULL, "Invalid parameter 'buf-size'"},
        {0, 0, false, "9x", "Invalid job ID '9x'"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        MirrorParams p = {
            .job_id = cases[i].job_id,
            .source = f->src,
            .target = cases[i].self ? f->src : f->tgt,
            .sync = MIRROR_SYNC_FULL,
            .granularity = cases[i].granularity,
            .buf_size = cases[i].buf_size,
        };
        GError *err = NULL;
        g_assert_null(mirror_start(&p, &err));
        g_assert_cmpstr(err->message, ==, cases[i].error);
        g_error_free(err);
    }
    g_assert_cmpstr(events->str, ==, "");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/job/complete", test_job_complete);
    g_test_add_func("/job/cancel-kinds", test_job_cancel_kinds);
    g_test_add_func("/job/manual-finalize", test_job_manual_finalize);
    g_test_add_func("/job/bad-ids", test_job_bad_ids);
    g_test_add("/mirror/complete-under-writes", MirrorFixture, NULL, mfix_setup,
               test_mirror_complete_under_writes, mfix_teardown);
    g_test_add("/mirror/cancel-in-sync", MirrorFixture, NULL, mfix_setup,
               test_mirror_cancel_in_sync, mfix_teardown);
    g_test_add("/mirror/cancel-and-again", MirrorFixture, NULL, mfix_setup,
               test_mirror_cancel_and_again, mfix_teardown);
    g_test_add("/mirror/size-mismatch", MirrorFixture, NULL, mfix_setup, test_mirror_size_mismatch,
               mfix_teardown);
    g_test_add("/mirror/param-errors", MirrorFixture, NULL, mfix_setup, test_mirror_param_errors,
               mfix_teardown);
    return g_test_run();
}
