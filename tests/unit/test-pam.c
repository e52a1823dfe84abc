/* The firmware ROM window and the BIOS area's shadowing under the i440FX PAM registers, as the
 * CPU and SeaBIOS's make_bios_writable / make_bios_readonly use them. */
#include "hw/i386/pc-firmware.h"
#include "memory/rom.h"

#include <string.h>

#define RAM (16u << 20)
#define ROM (256u << 10)

typedef struct Fixture {
    GuestRam *ram;
    uint8_t *image;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->ram = guest_ram_new(RAM, 0, NULL);
    f->image = g_malloc(ROM);
    for (guint i = 0; i < ROM; i++) {
        f->image[i] = (i * 7 + 1) & 0xff;
    }
    g_assert_true(guest_rom_add(f->ram, 0x100000000ull - ROM, f->image, ROM, NULL));
}

static void teardown(Fixture *f, gconstpointer data)
{
    guest_ram_free(f->ram);
    g_free(f->image);
}

static uint8_t peek(Fixture *f, uint64_t gpa)
{
    uint8_t v;
    g_assert_true(guest_ram_read(f->ram, gpa, &v, 1));
    return v;
}

static void test_rom_window(Fixture *f, gconstpointer data)
{
    uint64_t top = 0x100000000ull;
    g_assert_cmphex(peek(f, top - 16), ==, f->image[ROM - 16]); /* the reset vector */
    g_assert_cmphex(peek(f, top - ROM), ==, f->image[0]);
    uint64_t off = guest_ram_offset(f->ram, top - 1);
    g_assert_cmphex(off, ==, RAM + ROM - 1);
    g_assert_false(guest_ram_direct_store(f->ram, top - 1, off));
    /* DMA into the ROM is refused, RAM below it is not RAM */
    g_assert_false(guest_ram_write(f->ram, top - 16, "x", 1));
    g_assert_cmphex(guest_ram_offset(f->ram, top - ROM - 1), ==, UINT64_MAX);
    g_assert_true(guest_ram_direct_store(f->ram, 0x1000, 0x1000));
}

static void test_shadow_like_seabios(Fixture *f, gconstpointer data)
{
    /* RAM under the area, before the firmware hides it */
    g_assert_true(guest_ram_write(f->ram, 0xf0000, "ram!", 4));
    guest_shadow_enable(f->ram);
    /* reset state (PAM 0): the image's last 128 KiB at 0xe0000, zeros below, stores dropped */
    g_assert_cmphex(peek(f, 0xe0000), ==, f->image[ROM - 0x20000]);
    g_assert_cmphex(peek(f, 0xffff0), ==, f->image[ROM - 16]);
    g_assert_cmphex(peek(f, 0xc0000), ==, 0);
    g_assert_false(guest_ram_direct_store(f->ram, 0xf0000, 0xf0000));
    guest_shadow_store(f->ram, 0xffff0, 0x55, 1);
    g_assert_cmphex(peek(f, 0xffff0), ==, f->image[ROM - 16]);

    /* make_bios_writable: 0xc0000-0xeffff 0x33, 0xf0000 0x30: RAM again, the old content back */
    uint8_t pam[PC_PAM_REGS] = {0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33};
    pc_pam_apply(f->ram, pam);
    char buf[4];
    g_assert_true(guest_ram_read(f->ram, 0xf0000, buf, 4));
    g_assert_cmpmem(buf, 4, "ram!", 4);
    guest_shadow_store(f->ram, 0xffff0, 0xabcd, 2);
    g_assert_cmphex(peek(f, 0xffff1), ==, 0xab);

    /* make_bios_readonly: 0x11, reads RAM, stores dropped */
    memset(pam, 0x11, sizeof(pam));
    pc_pam_apply(f->ram, pam);
    guest_shadow_store(f->ram, 0xffff0, 0x99, 1);
    g_assert_cmphex(peek(f, 0xffff0), ==, 0xcd);
    g_assert_cmpint(guest_shadow_mode(f->ram, 0xc4000), ==, SHADOW_READ_RAM);

    /* write-only (0x22): reads see the ROM, stores land in the hidden RAM, seen once read RAM */
    memset(pam, 0x22, sizeof(pam));
    pc_pam_apply(f->ram, pam);
    g_assert_cmphex(peek(f, 0xffff0), ==, f->image[ROM - 16]);
    guest_shadow_store(f->ram, 0xffff0, 0x42, 1);
    g_assert_cmphex(peek(f, 0xffff0), ==, f->image[ROM - 16]);
    memset(pam, 0x33, sizeof(pam));
    pc_pam_apply(f->ram, pam);
    g_assert_cmphex(peek(f, 0xffff0), ==, 0x42);

    /* a reset hides it again; the RAM survives */
    guest_shadow_enable(f->ram);
    g_assert_cmphex(peek(f, 0xffff0), ==, f->image[ROM - 16]);
    pc_pam_apply(f->ram, pam);
    g_assert_cmphex(peek(f, 0xffff0), ==, 0x42);
}

/* A swap goes through the store path: the pages are dirty for migration and COLO. */
static void test_swap_marks_pages_dirty(Fixture *f, gconstpointer data)
{
    DirtyReader *r = guest_ram_dirty_reader_new(f->ram, "test");
    uint64_t *bm = g_new0(uint64_t, guest_ram_bitmap_words(f->ram));
    guest_ram_dirty_reader_sync(r, bm);
    memset(bm, 0, guest_ram_bitmap_words(f->ram) * 8);
    guest_shadow_enable(f->ram);
    guest_ram_dirty_reader_sync(r, bm);
    uint64_t pi = 0xf0000 >> GUEST_PAGE_BITS;
    g_assert_true(bm[pi / 64] & (1ull << (pi % 64)));
    guest_ram_dirty_reader_free(r);
    g_free(bm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/pam/rom-window", Fixture, NULL, setup, test_rom_window, teardown);
    g_test_add("/pam/shadow-like-seabios", Fixture, NULL, setup, test_shadow_like_seabios,
               teardown);
    g_test_add("/pam/swap-marks-pages-dirty", Fixture, NULL, setup, test_swap_marks_pages_dirty,
               teardown);
    return g_test_run();
}
