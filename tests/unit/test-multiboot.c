/*
 * The multiboot v1 loader: header search, the a.out kludge and ELF forms, what lands in guest
 * RAM (kernel, bss, info block, memory map, command lines, modules, GDT), and hostile headers
 * refused with upstream's messages.
 */
#include "hw/i386/multiboot.h"
#include "tests/include/flat-ram.h"
#include "util/le.h"

#include <elf.h>
#include <glib/gstdio.h>
#include <string.h>

#define RAM_SIZE (32u << 20)
#define LOAD     0x100000u

static uint8_t *ram;
static FlatRam flat;
static DmaSpace dma;
static E820Table e820;

static uint32_t rd32(uint64_t a)
{
    return ld32_le(ram + a);
}

static void put32(GByteArray *b, uint32_t v)
{
    uint8_t w[4];
    st32_le(w, v);
    g_byte_array_append(b, w, 4);
}

/* An a.out-kludge image: 0x20 bytes of code, the header at 0x20, 0x1000 bytes of data. */
static GByteArray *make_aout(uint32_t flags_extra, uint32_t header_addr, uint32_t load_addr,
                             uint32_t load_end, uint32_t bss_end)
{
    GByteArray *b = g_byte_array_new();
    for (int i = 0; i < 0x20; i++) {
        guint8 v = 0x90;
        g_byte_array_append(b, &v, 1);
    }
    uint32_t flags = MULTIBOOT_FLAG_AOUT_KLUDGE | flags_extra;
    put32(b, MULTIBOOT_HEADER_MAGIC);
    put32(b, flags);
    put32(b, -(MULTIBOOT_HEADER_MAGIC + flags));
    put32(b, header_addr);
    put32(b, load_addr);
    put32(b, load_end);
    put32(b, bss_end);
    put32(b, LOAD + 4); /* entry */
    for (int i = 0; i < 0x1000; i++) {
        guint8 v = i & 0xff;
        g_byte_array_append(b, &v, 1);
    }
    return b;
}

static GByteArray *good_aout(void)
{
    return make_aout(0, LOAD + 0x20, LOAD, 0, LOAD + 0x3000);
}

/* An ELF32 with its header first in a segment: PT_LOADs at 1 MiB and 1 MiB + 0x3000. */
static GByteArray *make_elf32(uint16_t machine, uint32_t second_filesz)
{
    GByteArray *b = g_byte_array_new();
    Elf32_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = LOAD + 0x40;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = 2;
    g_byte_array_append(b, (guint8 *)&eh, sizeof(eh));
    uint32_t data = 0x100;
    Elf32_Phdr p1 = {.p_type = PT_LOAD,
                     .p_offset = data,
                     .p_paddr = LOAD,
                     .p_vaddr = 0xc0100000u,
                     .p_filesz = 0x40,
                     .p_memsz = 0x80};
    Elf32_Phdr p2 = {.p_type = PT_LOAD,
                     .p_offset = data + 0x40,
                     .p_paddr = LOAD + 0x3000,
                     .p_filesz = second_filesz,
                     .p_memsz = 0x20};
    g_byte_array_append(b, (guint8 *)&p1, sizeof(p1));
    g_byte_array_append(b, (guint8 *)&p2, sizeof(p2));
    g_byte_array_set_size(b, data);
    memset(b->data + sizeof(eh) + 2 * sizeof(Elf32_Phdr), 0,
           data - sizeof(eh) - 2 * sizeof(Elf32_Phdr));
    put32(b, MULTIBOOT_HEADER_MAGIC);
    put32(b, 0);
    put32(b, -MULTIBOOT_HEADER_MAGIC);
    while (b->len < data + 0x60) {
        guint8 v = 0xaa;
        g_byte_array_append(b, &v, 1);
    }
    return b;
}

static MultibootKernel *parse(GByteArray *img, GError **errp)
{
    MultibootHeader h;
    g_assert_true(multiboot_find_header(img->data, img->len, &h));
    GBytes *bytes = g_bytes_new(img->data, img->len);
    MultibootKernel *k = multiboot_kernel_parse(bytes, &h, RAM_SIZE, errp);
    g_bytes_unref(bytes);
    return k;
}

static void test_find_header(void)
{
    MultibootHeader h;
    uint8_t buf[MULTIBOOT_SEARCH_LEN + 64] = {0};
    g_assert_false(multiboot_find_header(buf, sizeof(buf), &h));
    /* a bad checksum, then an unaligned header: neither counts */
    st32_le(buf + 8, MULTIBOOT_HEADER_MAGIC);
    st32_le(buf + 16, 1);
    st32_le(buf + 102, MULTIBOOT_HEADER_MAGIC);
    st32_le(buf + 110, -MULTIBOOT_HEADER_MAGIC);
    g_assert_false(multiboot_find_header(buf, sizeof(buf), &h));
    /* the last place it may start is 8192 - 52 */
    memset(buf, 0, sizeof(buf));
    st32_le(buf + 8192 - 48, MULTIBOOT_HEADER_MAGIC);
    st32_le(buf + 8192 - 40, -MULTIBOOT_HEADER_MAGIC);
    g_assert_false(multiboot_find_header(buf, sizeof(buf), &h));
    memset(buf, 0, sizeof(buf));
    st32_le(buf + 8192 - 52, MULTIBOOT_HEADER_MAGIC);
    st32_le(buf + 8192 - 44, -MULTIBOOT_HEADER_MAGIC);
    g_assert_true(multiboot_find_header(buf, sizeof(buf), &h));
    g_assert_cmpuint(h.offset, ==, 8192 - 52);
    /* a file that ends inside the header: the missing fields read as zero */
    GByteArray *img = good_aout();
    g_assert_true(multiboot_find_header(img->data, 0x20 + 16, &h));
    g_assert_cmpuint(h.header_addr, ==, LOAD + 0x20);
    g_assert_cmpuint(h.load_addr, ==, 0);
    g_assert_false(multiboot_find_header(img->data, 0x20 + 8, &h));
    g_byte_array_unref(img);
}

static void test_aout_load(void)
{
    memset(ram, 0xee, RAM_SIZE);
    GByteArray *img = good_aout();
    GError *err = NULL;
    MultibootKernel *k = parse(img, &err);
    g_assert_no_error(err);
    LinuxBootInfo bi;
    g_assert_true(multiboot_load(k, "/k", "a b", NULL, &dma, RAM_SIZE, &e820, &bi, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(ram + LOAD, img->len, img->data, img->len);
    for (uint32_t a = LOAD + img->len; a < LOAD + 0x3000; a++) {
        g_assert_cmpuint(ram[a], ==, 0); /* bss */
    }
    g_assert_cmpuint(bi.entry, ==, LOAD + 4);
    g_assert_cmpuint(bi.eax, ==, MULTIBOOT_BOOT_MAGIC);
    g_assert_cmpuint(bi.start_info, ==, MULTIBOOT_INFO_ADDR);
    g_assert_true(bi.multiboot);

    uint32_t mbi = MULTIBOOT_INFO_ADDR;
    g_assert_cmpuint(rd32(mbi), ==, 0x24f);
    g_assert_cmpuint(rd32(mbi + 4), ==, 639);
    g_assert_cmpuint(rd32(mbi + 8), ==, (RAM_SIZE - 0x100000) / 1024);
    g_assert_cmpuint(rd32(mbi + 12), ==, 0x8000ffff);
    g_assert_cmpstr((char *)ram + rd32(mbi + 16), ==, "/k a b");
    g_assert_cmpuint(rd32(mbi + 20), ==, 0);
    g_assert_cmpuint(rd32(mbi + 24), ==, LOAD + 0x3000); /* the module list, page aligned */
    g_assert_cmpuint(rd32(mbi + 44), ==, e820.count * 24);
    g_assert_cmpuint(rd32(mbi + 48), ==, MULTIBOOT_MMAP_ADDR);
    g_assert_cmpstr((char *)ram + rd32(mbi + 64), ==, "qemu");
    for (unsigned i = 0; i < e820.count; i++) {
        uint32_t e = MULTIBOOT_MMAP_ADDR + 24 * i;
        g_assert_cmpuint(rd32(e), ==, 20);
        g_assert_cmpuint(rd32(e + 4), ==, (uint32_t)e820.entries[i].addr);
        g_assert_cmpuint(rd32(e + 12), ==, (uint32_t)e820.entries[i].size);
        g_assert_cmpuint(rd32(e + 20), ==, e820.entries[i].type);
    }
    /* the GDT the selectors point into: 0x08 code, 0x10 data, both flat */
    g_assert_cmpuint(rd32(MULTIBOOT_GDT_ADDR + 12), ==, 0x00cf9a00);
    g_assert_cmpuint(rd32(MULTIBOOT_GDT_ADDR + 20), ==, 0x00cf9200);
    multiboot_kernel_free(k);
    g_byte_array_unref(img);
}

static void test_modules(void)
{
    g_autofree char *dir = g_dir_make_tmp("mb-XXXXXX", NULL);
    g_autofree char *m1 = g_build_filename(dir, "one", NULL);
    g_autofree char *m2 = g_build_filename(dir, "t,wo", NULL);
    g_assert_true(g_file_set_contents(m1, "module one", -1, NULL));
    g_assert_true(g_file_set_contents(m2, "2", -1, NULL));
    g_autofree char *m2_escaped = g_strdup_printf("%s/t,,wo", dir);
    g_autofree char *arg = g_strdup_printf("%s x=1 y,%s", m1, m2_escaped);

    GByteArray *img = good_aout();
    GError *err = NULL;
    MultibootKernel *k = parse(img, &err);
    LinuxBootInfo bi;
    g_assert_true(multiboot_load(k, "/k", NULL, arg, &dma, RAM_SIZE, &e820, &bi, &err));
    g_assert_no_error(err);
    uint32_t mbi = MULTIBOOT_INFO_ADDR;
    g_assert_cmpstr((char *)ram + rd32(mbi + 16), ==, "/k ");
    g_assert_cmpuint(rd32(mbi + 20), ==, 2);
    uint32_t mods = rd32(mbi + 24);
    g_autofree char *cmd1 = g_strdup_printf("%s x=1 y", m1);
    g_assert_cmpstr((char *)ram + rd32(mods + 8), ==, cmd1);
    g_assert_cmpstr((char *)ram + rd32(mods + 16 + 8), ==, m2);
    uint32_t s1 = rd32(mods), e1 = rd32(mods + 4), s2 = rd32(mods + 16), e2 = rd32(mods + 20);
    g_assert_cmpuint(s1 & 0xfff, ==, 0);
    g_assert_cmpuint(s2 & 0xfff, ==, 0);
    g_assert_cmpuint(s1, >, rd32(mbi + 64));
    g_assert_cmpuint(s2, >=, e1);
    g_assert_cmpmem(ram + s1, e1 - s1, "module one", 10);
    g_assert_cmpmem(ram + s2, e2 - s2, "2", 1);
    multiboot_kernel_free(k);

    /* a module that is not there */
    k = parse(img, &err);
    g_autofree char *missing = g_strdup_printf("%s,%s/nope arg", m1, dir);
    g_assert_false(multiboot_load(k, "/k", NULL, missing, &dma, RAM_SIZE, &e820, &bi, &err));
    g_autofree char *want = g_strdup_printf("Failed to open file '%s/nope'", dir);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
    multiboot_kernel_free(k);
    g_byte_array_unref(img);
    g_unlink(m1);
    g_unlink(m2);
    g_rmdir(dir);
}

static void test_split_modules(void)
{
    g_autoptr(GPtrArray) a = multiboot_split_modules("a b,,c,d,");
    g_assert_cmpuint(a->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(a, 0), ==, "a b,c");
    g_assert_cmpstr(g_ptr_array_index(a, 1), ==, "d");
    g_autoptr(GPtrArray) none = multiboot_split_modules(NULL);
    g_assert_cmpuint(none->len, ==, 0);
}

static void test_elf32_load(void)
{
    memset(ram, 0xee, RAM_SIZE);
    GByteArray *img = make_elf32(EM_386, 0x20);
    GError *err = NULL;
    MultibootKernel *k = parse(img, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(k->load_addr, ==, LOAD);
    g_assert_cmpuint(k->entry, ==, LOAD + 0x40);
    LinuxBootInfo bi;
    g_assert_true(multiboot_load(k, "/k", "", NULL, &dma, RAM_SIZE, &e820, &bi, &err));
    g_assert_cmpuint(rd32(LOAD), ==, MULTIBOOT_HEADER_MAGIC);
    g_assert_cmpuint(ram[LOAD + 0x40], ==, 0);   /* bss of the first segment */
    g_assert_cmpuint(ram[LOAD + 0x1000], ==, 0); /* the gap between segments */
    g_assert_cmpuint(ram[LOAD + 0x3000], ==, 0xaa);
    g_assert_cmpuint(ram[LOAD + 0x3010], ==, 0xaa);
    multiboot_kernel_free(k);
    g_byte_array_unref(img);
}

typedef struct Hostile {
    const char *name;
    GByteArray *(*make)(void);
    const char *message;
} Hostile;

static GByteArray *h_load_addr(void)
{
    return make_aout(0, LOAD, LOAD + 0x10, 0, 0);
}

static GByteArray *h_header_addr(void)
{
    return make_aout(0, LOAD + 0x40, LOAD, 0, 0);
}

static GByteArray *h_load_end(void)
{
    return make_aout(0, LOAD + 0x20, LOAD, LOAD - 1, 0);
}

static GByteArray *h_bss_end(void)
{
    return make_aout(0, LOAD + 0x20, LOAD, LOAD + 0x100, LOAD + 0x80);
}

static GByteArray *h_wrap(void)
{
    return make_aout(0, 0xffffff00u + 0x20, 0xffffff00u, 0, 0);
}

static GByteArray *h_too_big(void)
{
    return make_aout(0, LOAD + 0x20, LOAD, 0, 0xfff00000u);
}

static GByteArray *h_short_file(void)
{
    return make_aout(0, LOAD + 0x20, LOAD, LOAD + 0x2000, 0);
}

static GByteArray *h_x86_64(void)
{
    return make_elf32(EM_X86_64, 0x20);
}

static GByteArray *h_segment_past_file(void)
{
    return make_elf32(EM_386, 0x1000);
}

static GByteArray *h_not_elf(void)
{
    GByteArray *b = g_byte_array_new();
    g_byte_array_set_size(b, 64);
    memset(b->data, 0, 64);
    put32(b, MULTIBOOT_HEADER_MAGIC);
    put32(b, 0);
    put32(b, -MULTIBOOT_HEADER_MAGIC);
    return b;
}

static const Hostile hostile[] = {
    {"load_addr", h_load_addr, "invalid load_addr address"},
    {"header_addr", h_header_addr, "invalid header_addr address"},
    {"load_end_addr", h_load_end, "invalid load_end_addr address"},
    {"bss_end_addr", h_bss_end, "invalid bss_end_addr address"},
    {"wrap", h_wrap, "kernel does not fit in address space"},
    {"too-big", h_too_big,
     "qemu: kernel does not fit in RAM (needs 0x100000-0xfff00000, RAM ends at 0x2000000)"},
    {"short-file", h_short_file, "fread() failed"},
    {"x86-64", h_x86_64, "Cannot load x86-64 image, give a 32bit one."},
    {"segment-past-file", h_segment_past_file, "Error while loading elf kernel"},
    {"not-elf", h_not_elf, "Error while loading elf kernel"},
};

static void test_hostile(gconstpointer data)
{
    const Hostile *h = data;
    GByteArray *img = h->make();
    GError *err = NULL;
    g_assert_null(parse(img, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, h->message);
    g_error_free(err);
    g_byte_array_unref(img);
}

/* -kernel goes to the multiboot loader only for what is not a bzImage. */
static void test_through_linux_boot(void)
{
    g_autofree char *dir = g_dir_make_tmp("mb-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "kernel", NULL);
    GByteArray *img = good_aout();
    g_assert_true(g_file_set_contents(path, (char *)img->data, img->len, NULL));
    LinuxBootInfo bi;
    GError *err = NULL;
    g_assert_true(linux_boot_load_files(path, NULL, "x", &dma, RAM_SIZE, &e820, 0, &bi, &err));
    g_assert_no_error(err);
    g_assert_true(bi.multiboot);
    g_autofree char *want = g_strdup_printf("%s x", path);
    g_assert_cmpstr((char *)ram + rd32(MULTIBOOT_INFO_ADDR + 16), ==, want);

    /* "HdrS" at 0x202 makes it a Linux kernel, header or not */
    g_byte_array_set_size(img, 0x1000);
    memcpy(img->data + 0x202, "HdrS", 4);
    img->data[0x206] = 0x00;
    img->data[0x207] = 0x02;
    g_assert_true(g_file_set_contents(path, (char *)img->data, img->len, NULL));
    g_assert_false(linux_boot_load_files(path, NULL, NULL, &dma, RAM_SIZE, &e820, 0, &bi, &err));
    g_assert_cmpstr(err->message, ==, "qemu: invalid kernel header");
    g_clear_error(&err);
    g_byte_array_unref(img);
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ram = g_malloc0(RAM_SIZE);
    flat = (FlatRam){.base = ram, .size = RAM_SIZE};
    dma = flat_ram_dma(&flat);
    e820_build_pc(&e820, RAM_SIZE, 0);
    g_test_add_func("/multiboot/find-header", test_find_header);
    g_test_add_func("/multiboot/aout-load", test_aout_load);
    g_test_add_func("/multiboot/modules", test_modules);
    g_test_add_func("/multiboot/split-modules", test_split_modules);
    g_test_add_func("/multiboot/elf32-load", test_elf32_load);
    for (size_t i = 0; i < G_N_ELEMENTS(hostile); i++) {
        g_autofree char *name = g_strdup_printf("/multiboot/hostile/%s", hostile[i].name);
        g_test_add_data_func(name, &hostile[i], test_hostile);
    }
    g_test_add_func("/multiboot/through-linux-boot", test_through_linux_boot);
    int rc = g_test_run();
    g_free(ram);
    return rc;
}
