/*
 * The PVH loader: synthetic ELF and bzImage (LZ4 legacy payload) images, malformed images,
 * what lands in guest RAM (segments, bss, start info, memory map, cmdline, initrd), and the
 * real Debian kernel when the guest build (or QEMU_TEST_KERNEL) provides one.
 */
#include "hw/i386/linux-boot.h"
#include "tests/include/flat-ram.h"

#include <elf.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <lz4.h>
#include <string.h>

#define RAM_SIZE (64u << 20)

static uint8_t *ram;

static FlatRam flat;
static DmaSpace dma; /* ram as guest RAM, set up with it in main() */

static uint32_t rd32(uint64_t a)
{
    return ram[a] | ram[a + 1] << 8 | ram[a + 2] << 16 | (uint32_t)ram[a + 3] << 24;
}

static uint64_t rd64(uint64_t a)
{
    return rd32(a) | (uint64_t)rd32(a + 4) << 32;
}

/* A minimal x86-64 ELF: one PT_LOAD at 0x1000000 (filesz 64, memsz 4096) and a PVH note. */
static GByteArray *make_elf(bool with_note)
{
    GByteArray *b = g_byte_array_new();
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    g_byte_array_append(b, (guint8 *)&eh, sizeof(eh));
    uint64_t data_off = sizeof(eh) + 2 * sizeof(Elf64_Phdr);
    Elf64_Phdr load = {.p_type = PT_LOAD,
                       .p_offset = data_off,
                       .p_paddr = 0x1000000,
                       .p_vaddr = 0xffffffff81000000ull,
                       .p_filesz = 64,
                       .p_memsz = 4096};
    Elf64_Phdr note = {.p_type = PT_NOTE, .p_offset = data_off + 64, .p_filesz = 44};
    g_byte_array_append(b, (guint8 *)&load, sizeof(load));
    g_byte_array_append(b, (guint8 *)&note, sizeof(note));
    for (int i = 0; i < 64; i++) {
        guint8 v = 0xc0 + (i & 0xf);
        g_byte_array_append(b, &v, 1);
    }
    /* an unrelated note, then the PVH entry note (descsz 8) */
    uint32_t n1[] = {4, 4, 1, 0x00554e47 /* "GNU\0" */, 0x12345678};
    uint32_t n2[] = {4, 8, XEN_ELFNOTE_PHYS32_ENTRY, 0x006e6558 /* "Xen\0" */, 0x1000040, 0};
    if (!with_note) {
        n2[2] = 17;
    }
    g_byte_array_append(b, (guint8 *)n1, sizeof(n1));
    g_byte_array_append(b, (guint8 *)n2, sizeof(n2));
    return b;
}

/* A bzImage shell (setup header with HdrS 2.15) around an LZ4 legacy payload of elf. */
static GByteArray *make_bzimage(GByteArray *elf, bool corrupt)
{
    GByteArray *b = g_byte_array_new();
    g_byte_array_set_size(b, 5 * 512);
    memset(b->data, 0, b->len);
    b->data[0x1f1] = 4;
    memcpy(b->data + 0x202, "HdrS", 4);
    b->data[0x206] = 0x0f;
    b->data[0x207] = 0x02;
    int bound = LZ4_compressBound(elf->len);
    uint8_t *comp = g_malloc(bound);
    int clen = LZ4_compress_default((char *)elf->data, (char *)comp, elf->len, bound);
    g_assert_cmpint(clen, >, 0);
    if (corrupt) {
        memset(comp + clen / 2, 0xff, clen - clen / 2);
    }
    uint32_t magic = 0x184c2102, bsize = clen, total = elf->len;
    uint32_t payload_len = 4 + 4 + clen + 4;
    memcpy(b->data + 0x248, (uint32_t[]){0}, 4);
    memcpy(b->data + 0x24c, &payload_len, 4);
    g_byte_array_append(b, (guint8 *)&magic, 4);
    g_byte_array_append(b, (guint8 *)&bsize, 4);
    g_byte_array_append(b, comp, clen);
    g_byte_array_append(b, (guint8 *)&total, 4);
    g_free(comp);
    return b;
}

static PvhKernel *parse(GByteArray *img, GError **errp)
{
    GBytes *bytes = g_bytes_new(img->data, img->len);
    PvhKernel *k = pvh_kernel_parse(bytes, errp);
    g_bytes_unref(bytes);
    return k;
}

static void test_elf_load(void)
{
    memset(ram, 0xaa, RAM_SIZE);
    g_autoptr(GByteArray) elf = make_elf(true);
    PvhKernel *k = parse(elf, NULL);
    g_assert_nonnull(k);
    g_assert_false(k->from_bzimage);
    g_assert_cmphex(k->entry, ==, 0x1000040);
    E820Table e820;
    e820_build_pc(&e820, RAM_SIZE, 0);
    GBytes *initrd = g_bytes_new_static("INITRD-CONTENT", 14);
    LinuxBootInfo info;
    g_assert_true(
        pvh_kernel_load(k, &dma, RAM_SIZE, &e820, 0xe0000, initrd, "console=ttyS0", &info, NULL));
    g_bytes_unref(initrd);
    /* segment bytes, then bss zeroed */
    g_assert_cmphex(ram[0x1000000], ==, 0xc0);
    g_assert_cmphex(ram[0x100003f], ==, 0xcf);
    g_assert_cmphex(ram[0x1000040], ==, 0);
    g_assert_cmphex(ram[0x1000fff], ==, 0);
    /* start info */
    g_assert_cmphex(info.start_info, ==, PVH_START_INFO_ADDR);
    g_assert_cmphex(rd32(0x6000), ==, XEN_HVM_START_MAGIC);
    g_assert_cmpuint(rd32(0x6004), ==, 1);
    g_assert_cmpuint(rd32(0x600c), ==, 1);
    g_assert_cmphex(rd64(0x6010), ==, PVH_MODLIST_ADDR);
    g_assert_cmphex(rd64(0x6018), ==, LINUX_CMDLINE_ADDR);
    g_assert_cmphex(rd64(0x6020), ==, 0xe0000);
    g_assert_cmphex(rd64(0x6028), ==, PVH_MEMMAP_ADDR);
    g_assert_cmpuint(rd32(0x6030), ==, e820.count);
    g_assert_cmpstr((char *)ram + LINUX_CMDLINE_ADDR, ==, "console=ttyS0");
    /* initrd at the top of RAM, page aligned, listed as module 0 */
    g_assert_cmphex(info.initrd_addr % 4096, ==, 0);
    g_assert_cmpuint(info.initrd_addr + 14, <=, RAM_SIZE);
    g_assert_cmphex(rd64(PVH_MODLIST_ADDR), ==, info.initrd_addr);
    g_assert_cmpuint(rd64(PVH_MODLIST_ADDR + 8), ==, 14);
    g_assert_cmpmem(ram + info.initrd_addr, 14, "INITRD-CONTENT", 14);
    /* the memory map: last RAM entry ends at RAM_SIZE */
    uint64_t last = PVH_MEMMAP_ADDR + 24 * (e820.count - 1);
    g_assert_cmphex(rd64(last) + rd64(last + 8), ==, 0x100000000ull);
    pvh_kernel_free(k);
}

static void test_bzimage_lz4(void)
{
    g_autoptr(GByteArray) elf = make_elf(true);
    g_autoptr(GByteArray) bz = make_bzimage(elf, false);
    PvhKernel *k = parse(bz, NULL);
    g_assert_nonnull(k);
    g_assert_true(k->from_bzimage);
    g_assert_cmphex(k->boot_protocol, ==, 0x20f);
    g_assert_cmpuint(g_bytes_get_size(k->elf), ==, elf->len);
    g_assert_cmphex(k->entry, ==, 0x1000040);
    pvh_kernel_free(k);
}

static void expect_error(GByteArray *img, const char *msg)
{
    GError *err = NULL;
    g_assert_null(parse(img, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, msg);
    g_error_free(err);
}

static void test_bad_images(void)
{
    g_autoptr(GByteArray) garbage = g_byte_array_new();
    for (int i = 0; i < 4096; i++) {
        guint8 v = i * 7;
        g_byte_array_append(garbage, &v, 1);
    }
    expect_error(garbage, "qemu: invalid kernel header");
    g_autoptr(GByteArray) nonote = make_elf(false);
    expect_error(nonote, "Error loading uncompressed kernel without PVH ELF Note");
    g_autoptr(GByteArray) elf = make_elf(true);
    g_autoptr(GByteArray) bad = make_bzimage(elf, true);
    expect_error(bad, "qemu: invalid kernel header");
    /* truncated ELF program headers, segment offsets past the end */
    g_autoptr(GByteArray) trunc = make_elf(true);
    g_byte_array_set_size(trunc, sizeof(Elf64_Ehdr) + 10);
    expect_error(trunc, "qemu: invalid kernel header");
    g_autoptr(GByteArray) off = make_elf(true);
    Elf64_Phdr *ph = (Elf64_Phdr *)(off->data + sizeof(Elf64_Ehdr));
    ph->p_offset = 1ull << 40;
    expect_error(off, "qemu: invalid kernel header");
    /* payload length lying about the file size */
    g_autoptr(GByteArray) bz = make_bzimage(elf, false);
    memcpy(bz->data + 0x24c, (uint32_t[]){0x7fffffff}, 4);
    expect_error(bz, "qemu: invalid kernel header");
}

static void test_files_and_limits(void)
{
    GError *err = NULL;
    E820Table e820;
    e820_build_pc(&e820, RAM_SIZE, 0);
    LinuxBootInfo info;
    g_assert_false(linux_boot_load_files("/nonexistent/vmlinuz", NULL, NULL, &dma, RAM_SIZE, &e820,
                                         0, &info, &err));
    g_assert_cmpstr(err->message, ==,
                    "qemu: could not open kernel file '/nonexistent/vmlinuz': "
                    "No such file or directory");
    g_clear_error(&err);
    g_autofree char *dir = g_dir_make_tmp(NULL, NULL);
    g_autofree char *kpath = g_build_filename(dir, "vmlinux", NULL);
    g_autoptr(GByteArray) elf = make_elf(true);
    g_assert_true(g_file_set_contents(kpath, (char *)elf->data, elf->len, NULL));
    g_assert_false(linux_boot_load_files(kpath, "/nonexistent/initrd", NULL, &dma, RAM_SIZE, &e820,
                                         0, &info, &err));
    g_assert_cmpstr(err->message, ==,
                    "qemu: error reading initrd /nonexistent/initrd: No such file or directory");
    g_clear_error(&err);
    /* the kernel does not fit below a RAM end of 16 MiB */
    g_assert_false(
        linux_boot_load_files(kpath, NULL, NULL, &dma, 16u << 20, &e820, 0, &info, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_autofree char *longline = g_strnfill(LINUX_CMDLINE_MAX, 'x');
    g_assert_false(
        linux_boot_load_files(kpath, NULL, longline, &dma, RAM_SIZE, &e820, 0, &info, &err));
    g_assert_true(g_str_has_prefix(err->message, "qemu: kernel command line too long"));
    g_clear_error(&err);
    g_assert_true(linux_boot_load_files(kpath, NULL, NULL, &dma, RAM_SIZE, &e820, 0, &info, &err));
    g_assert_no_error(err);
    g_unlink(kpath);
    g_rmdir(dir);
}

/* The files are mapped, not read: what lands in RAM is still their bytes, and an empty or
 * unmappable kernel file fails with upstream's words. */
static void test_files_mapped(void)
{
    GError *err = NULL;
    E820Table e820;
    e820_build_pc(&e820, RAM_SIZE, 0);
    LinuxBootInfo info;
    g_autofree char *dir = g_dir_make_tmp(NULL, NULL);
    g_autofree char *kpath = g_build_filename(dir, "vmlinux", NULL);
    g_autofree char *ipath = g_build_filename(dir, "initrd", NULL);
    g_autoptr(GByteArray) elf = make_elf(true);
    g_assert_true(g_file_set_contents(kpath, (char *)elf->data, elf->len, NULL));
    /* an odd length that ends inside a page, so a short copy or a page's slack would show */
    char irdata[5000];
    for (size_t i = 0; i < sizeof(irdata); i++) {
        irdata[i] = (char)(i * 7 + 3);
    }
    g_assert_true(g_file_set_contents(ipath, irdata, sizeof(irdata), NULL));
    memset(ram, 0xaa, RAM_SIZE);
    g_assert_true(linux_boot_load_files(kpath, ipath, "x", &dma, RAM_SIZE, &e820, 0, &info, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(ram + 0x1000000, 64, elf->data + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr),
                    64);
    g_assert_cmphex(ram[0x1000040], ==, 0);
    g_assert_cmpuint(info.initrd_size, ==, sizeof(irdata));
    g_assert_cmpmem(ram + info.initrd_addr, sizeof(irdata), irdata, sizeof(irdata));
    g_assert_cmphex(ram[info.initrd_addr + sizeof(irdata)], ==, 0xaa);

    g_assert_true(g_file_set_contents(kpath, "", 0, NULL));
    g_assert_false(linux_boot_load_files(kpath, NULL, NULL, &dma, RAM_SIZE, &e820, 0, &info, &err));
    g_autofree char *empty =
        g_strdup_printf("qemu: could not load kernel '%s': %s", kpath, g_strerror(ENOENT));
    g_assert_cmpstr(err->message, ==, empty);
    g_clear_error(&err);

    /* a directory opens but cannot be read or mapped */
    g_assert_false(linux_boot_load_files(dir, NULL, NULL, &dma, RAM_SIZE, &e820, 0, &info, &err));
    g_autofree char *isdir =
        g_strdup_printf("qemu: could not open kernel file '%s': %s", dir, g_strerror(EIO));
    g_assert_cmpstr(err->message, ==, isdir);
    g_clear_error(&err);
    g_unlink(kpath);
    g_unlink(ipath);
    g_rmdir(dir);
}

/*
 * The guest build of this tree (meson passes its path; the Makefile builds it before the unit
 * tests), or QEMU_TEST_KERNEL. A missing kernel fails: a skip here hid a broken guest build.
 */
static void test_real_debian_kernel(void)
{
    const char *path = g_getenv("QEMU_TEST_KERNEL") ?: TEST_GUEST_KERNEL;
    gchar *data;
    gsize len;
    GError *read_err = NULL;
    if (!g_file_get_contents(path, &data, &len, &read_err)) {
        g_test_message("%s (build it with `make guest`, or set QEMU_TEST_KERNEL)",
                       read_err->message);
    }
    g_assert_no_error(read_err);
    GBytes *img = g_bytes_new_take(data, len);
    GError *err = NULL;
    PvhKernel *k = pvh_kernel_parse(img, &err);
    g_assert_no_error(err);
    g_assert_true(k->from_bzimage);
    g_assert_cmphex(k->boot_protocol, >=, 0x20c);
    g_assert_cmphex(k->low, ==, 0x1000000);
    g_assert_cmphex(k->entry, >=, k->low);
    g_assert_cmphex(k->entry, <, k->high);
    g_test_message("kernel: entry 0x%x, 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x",
                   k->entry, k->low, k->high);
    pvh_kernel_free(k);
    g_bytes_unref(img);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ram = g_malloc0(RAM_SIZE);
    flat = (FlatRam){.base = ram, .size = RAM_SIZE};
    dma = flat_ram_dma(&flat);
    g_test_add_func("/linux-boot/elf-load", test_elf_load);
    g_test_add_func("/linux-boot/bzimage-lz4", test_bzimage_lz4);
    g_test_add_func("/linux-boot/bad-images", test_bad_images);
    g_test_add_func("/linux-boot/files-and-limits", test_files_and_limits);
    g_test_add_func("/linux-boot/files-mapped", test_files_mapped);
    g_test_add_func("/linux-boot/real-debian-kernel", test_real_debian_kernel);
    int rc = g_test_run();
    g_free(ram);
    return rc;
}
