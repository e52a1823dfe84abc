/* Firmware ROM and BIOS-area shadowing (include/memory/rom.h). */
#include "memory/rom.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "util/error.h"

#define ISA_BIOS_SIZE 0x20000u /* the image's tail that also appears below 1 MiB */

bool guest_rom_add(GuestRam *ram, uint64_t gpa, const void *image, uint64_t len, GError **errp)
{
    g_assert(!ram->rom_size && len && !(len & (GUEST_PAGE_SIZE - 1)));
    /* The block grows in place or moves: nothing holds host pointers before the CPU exists. */
    void *host = mremap(ram->host, ram->size, ram->size + len, MREMAP_MAYMOVE);
    if (host == MAP_FAILED) {
        error_setg_errno(errp, errno, "cannot set up guest memory 'pc.bios'");
        return false;
    }
    ram->host = host;
    memcpy(ram->host + ram->size, image, len);
    uint64_t pages = (ram->size + len) >> GUEST_PAGE_BITS;
    ram->page_state = g_renew(uint8_t, ram->page_state, pages);
    ram->code_gen = g_renew(uint32_t, ram->code_gen, pages);
    memset(ram->page_state + ram->npages, 0, pages - ram->npages);
    memset(ram->code_gen + ram->npages, 0, (pages - ram->npages) * sizeof(uint32_t));
    ram->rom_gpa = gpa;
    ram->rom_size = len;
    return true;
}

void guest_shadow_enable(GuestRam *ram)
{
    g_assert(ram->low_size >= SHADOW_BASE + SHADOW_SIZE);
    if (!ram->shadow) {
        GuestShadow *s = g_new0(GuestShadow, 1);
        uint64_t tail = MIN(ram->rom_size, ISA_BIOS_SIZE);
        memcpy(s->view + SHADOW_SIZE - tail, ram->host + ram->size + ram->rom_size - tail, tail);
        for (guint i = 0; i < SHADOW_PAGES; i++) {
            s->mode[i] = SHADOW_READ_RAM | SHADOW_WRITE_RAM;
        }
        ram->shadow = s;
    }
    guest_shadow_set(ram, SHADOW_BASE, SHADOW_SIZE, 0);
}

static void swap_page(GuestRam *ram, guint i, bool to_ram)
{
    GuestShadow *s = ram->shadow;
    uint8_t *p = ram->host + SHADOW_BASE + i * GUEST_PAGE_SIZE;
    uint8_t *h = s->hidden + i * GUEST_PAGE_SIZE;
    if (to_ram) {
        memcpy(p, h, GUEST_PAGE_SIZE);
    } else {
        memcpy(h, p, GUEST_PAGE_SIZE);
        memcpy(p, s->view + i * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE);
    }
    guest_ram_note_store_range(ram, SHADOW_BASE + i * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE);
}

void guest_shadow_set(GuestRam *ram, uint64_t gpa, uint64_t len, int mode)
{
    GuestShadow *s = ram->shadow;
    for (uint64_t a = gpa; a < gpa + len; a += GUEST_PAGE_SIZE) {
        if (a < SHADOW_BASE || a >= SHADOW_BASE + SHADOW_SIZE) {
            continue;
        }
        guint i = (a - SHADOW_BASE) / GUEST_PAGE_SIZE;
        bool was_ram = s->mode[i] & SHADOW_READ_RAM, now_ram = mode & SHADOW_READ_RAM;
        if (was_ram != now_ram) {
            swap_page(ram, i, now_ram);
        }
        s->mode[i] = mode;
    }
}

int guest_shadow_mode(const GuestRam *ram, uint64_t gpa)
{
    if (!ram->shadow || gpa < SHADOW_BASE || gpa >= SHADOW_BASE + SHADOW_SIZE) {
        return SHADOW_READ_RAM | SHADOW_WRITE_RAM;
    }
    return ram->shadow->mode[(gpa - SHADOW_BASE) / GUEST_PAGE_SIZE];
}

void guest_shadow_store(GuestRam *ram, uint64_t gpa, uint64_t val, int size)
{
    GuestShadow *s = ram->shadow;
    guint i = (gpa - SHADOW_BASE) / GUEST_PAGE_SIZE;
    if (!(s->mode[i] & SHADOW_WRITE_RAM)) {
        return;
    }
    if (s->mode[i] & SHADOW_READ_RAM) {
        memcpy(ram->host + gpa, &val, size);
        guest_ram_note_store(ram, gpa);
    } else {
        memcpy(s->hidden + (gpa - SHADOW_BASE), &val, size);
    }
}

void guest_rom_fini(GuestRam *ram)
{
    g_free(ram->shadow);
    ram->shadow = NULL;
}
