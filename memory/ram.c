/*
 * Guest RAM block and dirty-page tracking (see include/memory/ram.h).
 */
#include "memory/ram.h"
#include "memory/rom.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/error.h"

GuestRam *guest_ram_new(uint64_t size, uint64_t low_limit, GError **errp)
{
    if (size == 0 || (size & (GUEST_PAGE_SIZE - 1))) {
        error_setg(errp, "RAM size must be a non-zero multiple of %u", GUEST_PAGE_SIZE);
        return NULL;
    }
    /*
     * mmap gives zeroed, lazily committed memory: a 4 GiB guest costs what it touches. No
     * MAP_NORESERVE: as for upstream's RAM, the host's overcommit policy refuses a size it could
     * never back (-m 1T on a small host) at start rather than the guest dying on a touch later.
     */
    void *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host == MAP_FAILED) {
        error_setg_errno(errp, errno, "cannot set up guest memory 'pc.ram'");
        return NULL;
    }
    /* Transparent huge pages where the host allows them, as upstream asks for its RAM: fewer
     * faults and TLB misses, and a read of never-written RAM (migration's zero-page scan)
     * maps the huge zero page once per 2 MiB instead of faulting on every 4 KiB page. */
    madvise(host, size, MADV_HUGEPAGE);
    GuestRam *ram = g_new0(GuestRam, 1);
    ram->host = host;
    ram->size = size;
    ram->low_size = (low_limit && low_limit < size) ? low_limit : size;
    ram->npages = size >> GUEST_PAGE_BITS;
    ram->page_state = g_new0(uint8_t, ram->npages);
    ram->code_gen = g_new0(uint32_t, ram->npages);
    g_mutex_init(&ram->dirty_lock);
    ram->readers = g_ptr_array_new();
    return ram;
}

void guest_ram_free(GuestRam *ram)
{
    if (!ram) {
        return;
    }
    g_assert(ram->readers->len == 0);
    g_ptr_array_free(ram->readers, TRUE);
    g_mutex_clear(&ram->dirty_lock);
    guest_rom_fini(ram);
    munmap(ram->host, ram->size + ram->rom_size);
    g_free(ram->page_state);
    g_free(ram->code_gen);
    g_free(ram);
}

void guest_ram_set_hole(GuestRam *ram, uint64_t start, uint64_t end)
{
    ram->hole_start = start;
    ram->hole_end = end;
}

void guest_ram_note_store_slow(GuestRam *ram, uint64_t pi)
{
    uint8_t old = __atomic_fetch_or(&ram->page_state[pi], PAGE_DIRTY, __ATOMIC_SEQ_CST);
    if (!(old & PAGE_DIRTY)) {
        __atomic_fetch_add(&ram->dirty_marks, 1, __ATOMIC_RELAXED);
    }
    if (old & PAGE_CODE) {
        /* Drop the code mark first: a decoder that re-marks it after this sees the new gen. */
        __atomic_fetch_and(&ram->page_state[pi], (uint8_t)~PAGE_CODE, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&ram->code_gen[pi], 1, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&ram->code_invalidations, 1, __ATOMIC_RELAXED);
    }
}

void guest_ram_note_store_range(GuestRam *ram, uint64_t off, uint64_t len)
{
    if (len == 0) {
        return;
    }
    uint64_t first = off >> GUEST_PAGE_BITS, last = (off + len - 1) >> GUEST_PAGE_BITS;
    for (uint64_t pi = first; pi <= last && pi < ram->npages; pi++) {
        if (guest_ram_store_needs_mark(ram, pi)) {
            guest_ram_note_store_slow(ram, pi);
        }
    }
}

bool guest_ram_load_page(GuestRam *ram, uint64_t off, const void *src)
{
    guint8 *page = ram->host + off;
    /* Reading both is cheaper than what a write costs a code page: its translations. */
    if (memcmp(page, src, GUEST_PAGE_SIZE) == 0) {
        return false;
    }
    memcpy(page, src, GUEST_PAGE_SIZE);
    guest_ram_note_store_range(ram, off, GUEST_PAGE_SIZE);
    return true;
}

/* Whether every byte of [gpa, gpa+len) is RAM. */
static bool ram_range_ok(GuestRam *ram, uint64_t gpa, uint64_t len)
{
    if (len == 0) {
        return true;
    }
    if (gpa + len < gpa) {
        return false;
    }
    /* RAM is contiguous within each of the three windows, so checking both ends and the
     * hole suffices except for ranges spanning the low/high split, which are never RAM. */
    uint64_t a = guest_ram_offset(ram, gpa), b = guest_ram_offset(ram, gpa + len - 1);
    if (a == UINT64_MAX || b == UINT64_MAX || b - a != len - 1) {
        return false;
    }
    if (ram->hole_end > ram->hole_start && gpa < ram->hole_end && gpa + len > ram->hole_start) {
        return false;
    }
    return true;
}

void *guest_ram_host_ptr(GuestRam *ram, uint64_t gpa, uint64_t len)
{
    if (!ram_range_ok(ram, gpa, len ? len : 1)) {
        return NULL;
    }
    return ram->host + guest_ram_offset(ram, gpa);
}

bool guest_ram_write(GuestRam *ram, uint64_t gpa, const void *buf, uint64_t len)
{
    if (!ram_range_ok(ram, gpa, len)) {
        return false;
    }
    if (len == 0) {
        return true;
    }
    uint64_t off = guest_ram_offset(ram, gpa);
    if (off >= ram->size) {
        return false; /* the firmware ROM */
    }
    memcpy(ram->host + off, buf, len);
    guest_ram_note_store_range(ram, off, len);
    return true;
}

bool guest_ram_read(GuestRam *ram, uint64_t gpa, void *buf, uint64_t len)
{
    if (!ram_range_ok(ram, gpa, len)) {
        return false;
    }
    if (len) {
        memcpy(buf, ram->host + guest_ram_offset(ram, gpa), len);
    }
    return true;
}

size_t guest_ram_bitmap_words(const GuestRam *ram)
{
    return (ram->npages + 63) / 64;
}

struct DirtyReader {
    GuestRam *ram;
    char *name;
    uint64_t *pending; /* harvested for this reader, not yet returned by its sync */
};

/*
 * Moves the global written marks into every reader's pending map. The caller holds
 * dirty_lock. Pages are cleared one by one with an atomic AND so that a concurrent store
 * either sees its mark before the clear (reported now) or re-marks after it (reported next).
 */
static void dirty_harvest(GuestRam *ram)
{
    GPtrArray *rd = ram->readers;
    for (uint64_t w = 0; w * 64 < ram->npages; w++) {
        uint64_t bits = 0;
        uint64_t end = MIN(ram->npages, (w + 1) * 64);
        for (uint64_t pi = w * 64; pi < end; pi++) {
            if (!(__atomic_load_n(&ram->page_state[pi], __ATOMIC_RELAXED) & PAGE_DIRTY)) {
                continue;
            }
            __atomic_fetch_and(&ram->page_state[pi], (uint8_t)~PAGE_DIRTY, __ATOMIC_SEQ_CST);
            bits |= 1ull << (pi & 63);
        }
        if (bits) {
            for (guint i = 0; i < rd->len; i++) {
                ((DirtyReader *)rd->pdata[i])->pending[w] |= bits;
            }
        }
    }
}

/*
 * A full barrier on every running thread of the process, so that a store whose state read saw
 * a mark the harvest cleared is visible before the reader copies its page (see ram.h).
 */
static void dirty_membarrier(void)
{
    static gsize registered;
    static bool expedited;
    if (g_once_init_enter(&registered)) {
        expedited = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
        g_once_init_leave(&registered, 1);
    }
    if (expedited && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
        return;
    }
    /* Older kernels: the slower global form gives the same guarantee. */
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
        /* Without it a store racing a sync may be missed while the vCPU runs; a sync with the
         * vCPU paused (stop-and-copy, checkpoints) stays exact. Say so once, do not stop. */
        static gsize warned;
        if (g_once_init_enter(&warned)) {
            g_warning("membarrier: %s: pages written during a live dirty sync may be missed",
                      g_strerror(errno));
            g_once_init_leave(&warned, 1);
        }
    }
}

DirtyReader *guest_ram_dirty_reader_new(GuestRam *ram, const char *name)
{
    DirtyReader *r = g_new0(DirtyReader, 1);
    r->ram = ram;
    r->name = g_strdup(name);
    r->pending = g_new0(uint64_t, guest_ram_bitmap_words(ram));
    g_mutex_lock(&ram->dirty_lock);
    /* What was written before now belongs to the readers that already exist. */
    dirty_harvest(ram);
    g_ptr_array_add(ram->readers, r);
    g_mutex_unlock(&ram->dirty_lock);
    return r;
}

void guest_ram_dirty_reader_free(DirtyReader *r)
{
    if (!r) {
        return;
    }
    g_mutex_lock(&r->ram->dirty_lock);
    g_ptr_array_remove_fast(r->ram->readers, r);
    g_mutex_unlock(&r->ram->dirty_lock);
    g_free(r->pending);
    g_free(r->name);
    g_free(r);
}

const char *guest_ram_dirty_reader_name(const DirtyReader *r)
{
    return r->name;
}

uint64_t guest_ram_dirty_reader_sync(DirtyReader *r, uint64_t *bitmap)
{
    GuestRam *ram = r->ram;
    size_t words = guest_ram_bitmap_words(ram);
    uint64_t n = 0;
    g_mutex_lock(&ram->dirty_lock);
    dirty_harvest(ram);
    for (size_t w = 0; w < words; w++) {
        uint64_t bits = r->pending[w];
        if (bits) {
            n += __builtin_popcountll(bits & ~bitmap[w]);
            bitmap[w] |= bits;
            r->pending[w] = 0;
        }
    }
    g_mutex_unlock(&ram->dirty_lock);
    dirty_membarrier();
    return n;
}
