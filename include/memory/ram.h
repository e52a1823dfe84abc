/*
 * Guest RAM: the host memory behind guest physical addresses, the dirty-page readers and the
 * accessors every writer uses (CPU, devices, loaders, migration).
 *
 * One store path: every write into guest RAM ends in guest_ram_note_store(), which marks the
 * page written and, if the CPU has decoded code from that page, bumps the page's code
 * generation so cached decoded instructions are dropped.
 *
 *   guest physical space           RAM block (one host allocation)
 *   [0 .. low_size)          ───►  [0 .. low_size)
 *   [4 GiB .. 4 GiB + high)  ───►  [low_size .. size)
 *   [rom_gpa .. + rom_size)  ───►  [size .. size + rom_size)   firmware ROM (memory/rom.h)
 *   anything else            ───►  not RAM: the machine's MMIO handlers
 *
 * Per page one state byte: PAGE_DIRTY (written since the last harvest) and PAGE_CODE (the CPU
 * holds decoded instructions from it). The store fast path only reads that byte: a page that
 * is already PAGE_DIRTY costs a store nothing more.
 *
 * Dirty readers (migration, COLO, calc-dirty-rate) each see every page written since their own
 * previous sync; no reader takes pages from another:
 *
 *   vCPU / device store ──► page_state PAGE_DIRTY (the one global "written" map)
 *                                │ harvest, at any reader's sync (under ram->dirty_lock):
 *                                │ clear PAGE_DIRTY, OR the page into every reader's pending map
 *                 ┌──────────────┼──────────────┐
 *           reader A pending  reader B pending  ...
 *                 │ sync(A): A's pending ORed into A's bitmap and cleared; B keeps its own
 *
 * Ordering (a store during a sync is reported by this sync or the next, never lost): a writer
 * stores the data first, then reads the page's state byte and marks it if it is not
 * PAGE_DIRTY. A sync clears the marks, then runs membarrier(2), which makes every running
 * thread of the process pass a full barrier. For each concurrent store, either its state read
 * came after the clear (it marks the page again: the next sync reports it), or it came before
 * the barrier, and then so did its data store, which the reader's later copy of the page sees.
 * The writer's side therefore needs no fence, only the program order "data, then state" that
 * guest_ram_note_store()'s callers keep. For an exact final snapshot pause the vCPU first
 * (COLO and migration's stop-and-copy do); then one more sync reports the rest.
 */
#ifndef MEMORY_RAM_H
#define MEMORY_RAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define GUEST_PAGE_BITS 12
#define GUEST_PAGE_SIZE (1u << GUEST_PAGE_BITS)
#define GUEST_PAGE_MASK (~(uint64_t)(GUEST_PAGE_SIZE - 1))

enum {
    PAGE_DIRTY = 1,
    PAGE_CODE = 2,
};

typedef struct GuestRam {
    uint8_t *host;     /* size bytes, page aligned */
    uint64_t size;     /* total RAM in bytes */
    uint64_t low_size; /* RAM mapped at guest physical 0 */
    uint64_t npages;
    uint64_t hole_start; /* [hole_start, hole_end) below low_size is MMIO, not RAM */
    uint64_t hole_end;
    uint64_t rom_gpa;           /* the firmware ROM window (memory/rom.h), rom_size 0: none */
    uint64_t rom_size;          /* its bytes follow RAM in the block; npages counts RAM only */
    struct GuestShadow *shadow; /* the legacy BIOS area's PAM shadowing, NULL: plain RAM */
    uint8_t *page_state;        /* PAGE_DIRTY | PAGE_CODE per page, indexed by RAM offset */
    uint32_t *code_gen;         /* bumped when a PAGE_CODE page is written */
    uint64_t dirty_marks;       /* pages newly marked dirty (statistics) */
    uint64_t code_invalidations;
    GMutex dirty_lock;  /* harvests and the reader list */
    GPtrArray *readers; /* DirtyReader * */
} GuestRam;

/*
 * size bytes of zeroed RAM; the part above low_limit (if low_limit < size) is placed at
 * 4 GiB, as the pc machine does. low_limit 0 means "all low".
 */
GuestRam *guest_ram_new(uint64_t size, uint64_t low_limit, GError **errp);
/* Its dirty readers must have been freed first. */
void guest_ram_free(GuestRam *ram);
/* Makes [start, end) (below low_limit) MMIO instead of RAM, e.g. the pc's VGA window. */
void guest_ram_set_hole(GuestRam *ram, uint64_t start, uint64_t end);

/* RAM offset of a guest physical address, or UINT64_MAX if it is not RAM. */
static inline uint64_t guest_ram_offset(const GuestRam *ram, uint64_t gpa)
{
    if (gpa < ram->low_size) {
        if (gpa >= ram->hole_start && gpa < ram->hole_end) {
            return UINT64_MAX;
        }
        return gpa;
    }
    if (gpa >= (1ull << 32) && gpa - (1ull << 32) < ram->size - ram->low_size) {
        return gpa - (1ull << 32) + ram->low_size;
    }
    if (gpa - ram->rom_gpa < ram->rom_size) {
        return ram->size + (gpa - ram->rom_gpa);
    }
    return UINT64_MAX;
}

void guest_ram_note_store_slow(GuestRam *ram, uint64_t page_index);

/*
 * Whether page pi needs the slow path. Call it after the data store: the compiler fence keeps
 * the state read after the store, as the ordering contract above needs.
 */
static inline bool guest_ram_store_needs_mark(const GuestRam *ram, uint64_t pi)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return __builtin_expect(__atomic_load_n(&ram->page_state[pi], __ATOMIC_RELAXED) != PAGE_DIRTY,
                            0);
}

/* Called after host code stored into RAM offset `off` (one page or less). */
static inline void guest_ram_note_store(GuestRam *ram, uint64_t off)
{
    uint64_t pi = off >> GUEST_PAGE_BITS;
    if (guest_ram_store_needs_mark(ram, pi)) {
        guest_ram_note_store_slow(ram, pi);
    }
}

/* Marks every page of [off, off+len) as stored into. */
void guest_ram_note_store_range(GuestRam *ram, uint64_t off, uint64_t len);

/*
 * Makes the RAM page at offset off (page-aligned, below ram->size) hold the GUEST_PAGE_SIZE
 * bytes at src, as a store would; a page that already holds them is left alone, so the code
 * decoded from it stays valid. Returns whether the page changed.
 */
bool guest_ram_load_page(GuestRam *ram, uint64_t off, const void *src);

/*
 * Copy to/from guest physical memory. Only RAM is touched; returns false (and copies
 * nothing) if any byte of the range is not RAM. Writes go through the store path.
 */
bool guest_ram_write(GuestRam *ram, uint64_t gpa, const void *buf, uint64_t len);
bool guest_ram_read(GuestRam *ram, uint64_t gpa, void *buf, uint64_t len);

/*
 * Whether the CPU may store into the page at RAM offset off (guest physical gpa) directly:
 * not the ROM, not the shadowed BIOS area (its stores go through guest_shadow_store()).
 */
static inline bool guest_ram_direct_store(const GuestRam *ram, uint64_t gpa, uint64_t off)
{
    return off < ram->size && !(ram->shadow && gpa >= 0xc0000 && gpa < 0x100000);
}

/* Host pointer for [gpa, gpa+len) if it is all RAM, else NULL. Writers must call
 * guest_ram_note_store_range() after writing through it. */
void *guest_ram_host_ptr(GuestRam *ram, uint64_t gpa, uint64_t len);

/* The CPU marks a page it decoded code from. */
static inline void guest_ram_mark_code(GuestRam *ram, uint64_t off)
{
    __atomic_fetch_or(&ram->page_state[off >> GUEST_PAGE_BITS], PAGE_CODE, __ATOMIC_RELAXED);
}

static inline uint32_t guest_ram_code_gen(const GuestRam *ram, uint64_t off)
{
    return __atomic_load_n(&ram->code_gen[off >> GUEST_PAGE_BITS], __ATOMIC_RELAXED);
}

/* Longs in a dirty bitmap: one bit per RAM page, bit i of word i/64. */
size_t guest_ram_bitmap_words(const GuestRam *ram);

typedef struct DirtyReader DirtyReader;

/*
 * A reader that sees the pages written from now on; `name` is for diagnostics. Readers may be
 * created, synced and freed from any thread.
 */
DirtyReader *guest_ram_dirty_reader_new(GuestRam *ram, const char *name);
void guest_ram_dirty_reader_free(DirtyReader *r);
const char *guest_ram_dirty_reader_name(const DirtyReader *r);
/*
 * ORs into bitmap (guest_ram_bitmap_words() longs) the pages written since r's previous sync
 * (or its creation); returns how many bits it newly set. Safe against concurrent stores by
 * the vCPU thread and devices, and against other readers' syncs.
 */
uint64_t guest_ram_dirty_reader_sync(DirtyReader *r, uint64_t *bitmap);

#endif
