/*
 * Guest RAM (memory/ram.c): address windows and the dirty-page readers, including writer
 * threads racing syncing readers.
 */
#include <glib.h>
#include <string.h>

#include "memory/ram.h"

#define RAM_SIZE (4u << 20)

static bool bit_set(const uint64_t *bm, uint64_t pi)
{
    return bm[pi / 64] & (1ull << (pi % 64));
}

static uint64_t bits_count(const uint64_t *bm, size_t words)
{
    uint64_t n = 0;
    for (size_t i = 0; i < words; i++) {
        n += __builtin_popcountll(bm[i]);
    }
    return n;
}

static void write_byte(GuestRam *ram, uint64_t gpa, uint8_t v)
{
    g_assert_true(guest_ram_write(ram, gpa, &v, 1));
}

static void test_windows(void)
{
    g_autoptr(GError) err = NULL;
    GuestRam *ram = guest_ram_new(RAM_SIZE, 1u << 20, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(guest_ram_offset(ram, 0x1000), ==, 0x1000);
    g_assert_cmpuint(guest_ram_offset(ram, 1u << 20), ==, UINT64_MAX);
    g_assert_cmpuint(guest_ram_offset(ram, 1ull << 32), ==, 1u << 20);
    guest_ram_set_hole(ram, 0xa0000, 0xc0000);
    g_assert_cmpuint(guest_ram_offset(ram, 0xa0000), ==, UINT64_MAX);
    uint8_t b = 1;
    g_assert_false(guest_ram_write(ram, 0x9ffff, &b, 2));
    g_assert_true(guest_ram_write(ram, 0x9ffff, &b, 1));
    guest_ram_free(ram);

    g_assert_null(guest_ram_new(4097, 0, &err));
    g_assert_nonnull(err);
}

/* A reader sees what was written after its creation, once per sync. */
static void test_reader_basic(void)
{
    GuestRam *ram = guest_ram_new(RAM_SIZE, 0, NULL);
    size_t words = guest_ram_bitmap_words(ram);
    g_autofree uint64_t *bm = g_new0(uint64_t, words);

    write_byte(ram, 0x3000, 1); /* before the reader: not its business */
    DirtyReader *r = guest_ram_dirty_reader_new(ram, "mig");
    g_assert_cmpstr(guest_ram_dirty_reader_name(r), ==, "mig");
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 0);

    write_byte(ram, 0x5000, 1);
    write_byte(ram, 0x5fff, 2);
    g_assert_true(guest_ram_write(ram, 0x7ffe, "abcd", 4)); /* straddles pages 7 and 8 */
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 3);
    g_assert_true(bit_set(bm, 5) && bit_set(bm, 7) && bit_set(bm, 8));
    g_assert_cmpuint(bits_count(bm, words), ==, 3);

    /* ORs in: a page already set in the caller's bitmap is not counted again */
    write_byte(ram, 0x5000, 3);
    write_byte(ram, 0x9000, 3);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    g_assert_cmpuint(bits_count(bm, words), ==, 4);

    memset(bm, 0, words * 8);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 0);

    /* a write through a host pointer counts once noted */
    uint8_t *p = guest_ram_host_ptr(ram, 0x10000, 0x2000);
    memset(p, 7, 0x2000);
    guest_ram_note_store_range(ram, 0x10000, 0x2000);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 2);
    g_assert_true(bit_set(bm, 0x10) && bit_set(bm, 0x11));

    /* the last page of RAM */
    write_byte(ram, RAM_SIZE - 1, 1);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    g_assert_true(bit_set(bm, RAM_SIZE / GUEST_PAGE_SIZE - 1));

    guest_ram_dirty_reader_free(r);
    guest_ram_free(ram);
}

/* One reader's sync takes nothing from another; a late reader starts empty. */
static void test_readers_independent(void)
{
    GuestRam *ram = guest_ram_new(RAM_SIZE, 0, NULL);
    size_t words = guest_ram_bitmap_words(ram);
    g_autofree uint64_t *a_bm = g_new0(uint64_t, words);
    g_autofree uint64_t *b_bm = g_new0(uint64_t, words);
    g_autofree uint64_t *c_bm = g_new0(uint64_t, words);
    DirtyReader *a = guest_ram_dirty_reader_new(ram, "a");
    DirtyReader *b = guest_ram_dirty_reader_new(ram, "b");

    write_byte(ram, 0x1000, 1);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(a, a_bm), ==, 1);
    write_byte(ram, 0x2000, 1);
    /* c comes after both writes: B still owes them, c must not see them */
    DirtyReader *c = guest_ram_dirty_reader_new(ram, "c");
    g_assert_cmpuint(guest_ram_dirty_reader_sync(c, c_bm), ==, 0);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(b, b_bm), ==, 2);
    g_assert_true(bit_set(b_bm, 1) && bit_set(b_bm, 2));
    g_assert_cmpuint(guest_ram_dirty_reader_sync(a, a_bm), ==, 1);
    g_assert_true(bit_set(a_bm, 2));

    write_byte(ram, 0x3000, 1);
    guest_ram_dirty_reader_free(b);
    memset(a_bm, 0, words * 8);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(a, a_bm), ==, 1);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(c, c_bm), ==, 1);
    g_assert_true(bit_set(a_bm, 3) && bit_set(c_bm, 3));

    guest_ram_dirty_reader_free(a);
    guest_ram_dirty_reader_free(c);
    guest_ram_free(ram);
}

/* A store into a page the CPU decoded code from is both reported and invalidates the code. */
static void test_code_page(void)
{
    GuestRam *ram = guest_ram_new(RAM_SIZE, 0, NULL);
    g_autofree uint64_t *bm = g_new0(uint64_t, guest_ram_bitmap_words(ram));
    DirtyReader *r = guest_ram_dirty_reader_new(ram, "r");
    write_byte(ram, 0x4000, 0x90);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    memset(bm, 0, guest_ram_bitmap_words(ram) * 8);

    guest_ram_mark_code(ram, 0x4000);
    uint32_t gen = guest_ram_code_gen(ram, 0x4000);
    write_byte(ram, 0x4001, 0xc3);
    g_assert_cmpuint(guest_ram_code_gen(ram, 0x4000), ==, gen + 1);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    g_assert_true(bit_set(bm, 4));
    /* the sync keeps the code mark of a page that was not written since */
    guest_ram_mark_code(ram, 0x4000);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 0);
    g_assert_true(ram->page_state[4] & PAGE_CODE);
    guest_ram_dirty_reader_free(r);
    guest_ram_free(ram);
}

/* A page loaded with what it holds keeps its code and is not dirtied; a changed one is both. */
static void test_load_page(void)
{
    GuestRam *ram = guest_ram_new(RAM_SIZE, 0, NULL);
    g_autofree uint64_t *bm = g_new0(uint64_t, guest_ram_bitmap_words(ram));
    g_autofree uint8_t *page = g_malloc(GUEST_PAGE_SIZE);
    DirtyReader *r = guest_ram_dirty_reader_new(ram, "r");
    memset(page, 0x90, GUEST_PAGE_SIZE);
    g_assert_true(guest_ram_load_page(ram, 0x4000, page));
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    memset(bm, 0, guest_ram_bitmap_words(ram) * 8);
    guest_ram_mark_code(ram, 0x4000);
    uint32_t gen = guest_ram_code_gen(ram, 0x4000);

    g_assert_false(guest_ram_load_page(ram, 0x4000, page));
    g_assert_cmpuint(guest_ram_code_gen(ram, 0x4000), ==, gen);
    g_assert_true(ram->page_state[4] & PAGE_CODE);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 0);

    page[GUEST_PAGE_SIZE - 1] = 0xc3;
    g_assert_true(guest_ram_load_page(ram, 0x4000, page));
    g_assert_cmpuint(guest_ram_code_gen(ram, 0x4000), ==, gen + 1);
    g_assert_cmpuint(guest_ram_dirty_reader_sync(r, bm), ==, 1);
    g_assert_true(bit_set(bm, 4));
    g_assert_cmpmem(ram->host + 0x4000, GUEST_PAGE_SIZE, page, GUEST_PAGE_SIZE);
    guest_ram_dirty_reader_free(r);
    guest_ram_free(ram);
}

/*
 * Stress: writer threads store sequence numbers into a few hot pages (so that stores race the
 * harvest as often as possible) while reader threads sync and copy every reported page into
 * their own shadow, as precopy does. After the writers stop, one more sync and copy must leave
 * each shadow equal to RAM: a store whose page no sync reported would leave it stale.
 */
#define STRESS_PAGES   64
#define STRESS_WRITERS 2
#define STRESS_READERS 2

typedef struct Stress {
    GuestRam *ram;
    gint stop;
    guint seed;
    uint64_t syncs;
} Stress;

typedef struct StressReader {
    Stress *s;
    DirtyReader *r;
    uint8_t *shadow;
    uint64_t syncs;
    uint64_t reported;
} StressReader;

static gpointer stress_writer(gpointer opaque)
{
    Stress *s = opaque;
    GRand *rnd = g_rand_new_with_seed(g_atomic_int_add(&s->seed, 1));
    uint64_t seq = 0;
    while (!g_atomic_int_get(&s->stop)) {
        uint64_t pi = g_rand_int_range(rnd, 0, STRESS_PAGES);
        uint64_t off = pi * GUEST_PAGE_SIZE + g_rand_int_range(rnd, 0, GUEST_PAGE_SIZE / 8) * 8;
        /* a plain store, then the state check: the CPU's order */
        __atomic_store_n((uint64_t *)(s->ram->host + off), ++seq, __ATOMIC_RELAXED);
        guest_ram_note_store(s->ram, off);
    }
    g_rand_free(rnd);
    return NULL;
}

static void stress_copy(StressReader *sr)
{
    size_t words = guest_ram_bitmap_words(sr->s->ram);
    g_autofree uint64_t *bm = g_new0(uint64_t, words);
    sr->reported += guest_ram_dirty_reader_sync(sr->r, bm);
    sr->syncs++;
    for (uint64_t pi = 0; pi < sr->s->ram->npages; pi++) {
        if (bit_set(bm, pi)) {
            /* word by word, as the writers store: no torn value may hide a lost store */
            for (uint64_t o = 0; o < GUEST_PAGE_SIZE; o += 8) {
                uint64_t off = pi * GUEST_PAGE_SIZE + o;
                uint64_t v =
                    __atomic_load_n((uint64_t *)(sr->s->ram->host + off), __ATOMIC_RELAXED);
                memcpy(sr->shadow + off, &v, 8);
            }
        }
    }
}

static gpointer stress_reader(gpointer opaque)
{
    StressReader *sr = opaque;
    while (!g_atomic_int_get(&sr->s->stop)) {
        stress_copy(sr);
    }
    return NULL;
}

static void test_stress(void)
{
    Stress s = {.ram = guest_ram_new(RAM_SIZE, 0, NULL), .seed = 1};
    StressReader rd[STRESS_READERS];
    GThread *threads[STRESS_WRITERS + STRESS_READERS];
    for (int i = 0; i < STRESS_READERS; i++) {
        rd[i] = (StressReader){.s = &s, .shadow = g_malloc0(RAM_SIZE)};
        rd[i].r = guest_ram_dirty_reader_new(s.ram, i ? "b" : "a");
        threads[i] = g_thread_new("reader", stress_reader, &rd[i]);
    }
    for (int i = 0; i < STRESS_WRITERS; i++) {
        threads[STRESS_READERS + i] = g_thread_new("writer", stress_writer, &s);
    }
    g_usleep(G_USEC_PER_SEC);
    g_atomic_int_set(&s.stop, 1);
    for (int i = 0; i < STRESS_READERS + STRESS_WRITERS; i++) {
        g_thread_join(threads[i]);
    }
    for (int i = 0; i < STRESS_READERS; i++) {
        stress_copy(&rd[i]);
        g_test_message("reader %d: %" G_GUINT64_FORMAT " syncs, %" G_GUINT64_FORMAT
                       " pages reported",
                       i, rd[i].syncs, rd[i].reported);
        g_assert_cmpuint(rd[i].syncs, >, 10);
        for (uint64_t pi = 0; pi < STRESS_PAGES; pi++) {
            if (memcmp(rd[i].shadow + pi * GUEST_PAGE_SIZE, s.ram->host + pi * GUEST_PAGE_SIZE,
                       GUEST_PAGE_SIZE)) {
                g_error("reader %d: page %" G_GUINT64_FORMAT " changed but was never reported", i,
                        pi);
            }
        }
        g_assert_true(memcmp(rd[i].shadow, s.ram->host, RAM_SIZE) == 0);
        guest_ram_dirty_reader_free(rd[i].r);
        g_free(rd[i].shadow);
    }
    guest_ram_free(s.ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ram/windows", test_windows);
    g_test_add_func("/ram/reader/basic", test_reader_basic);
    g_test_add_func("/ram/reader/independent", test_readers_independent);
    g_test_add_func("/ram/reader/code-page", test_code_page);
    g_test_add_func("/ram/load-page", test_load_page);
    g_test_add_func("/ram/reader/stress", test_stress);
    return g_test_run();
}
