/* Multiboot v1 kernels (include/hw/i386/multiboot.h). */
#include "hw/i386/multiboot.h"
#include "util/error.h"
#include "util/le.h"

#include <elf.h>
#include <string.h>

#define PAGE_ALIGN(x) (((uint64_t)(x) + 0xfff) & ~0xfffull)

/* info block offsets and flags (the multiboot spec's) */
#define MBI_FLAGS       0
#define MBI_MEM_LOWER   4
#define MBI_MEM_UPPER   8
#define MBI_BOOT_DEVICE 12
#define MBI_CMDLINE     16
#define MBI_MODS_COUNT  20
#define MBI_MODS_ADDR   24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR   48
#define MBI_BOOTLOADER  64
#define MBI_HAS_INFO    0x24fu /* memory, boot device, cmdline, modules, mmap, loader name */
#define MB_MOD_SIZE     16
#define MB_MMAP_ENTRY   24
#define MB_BOOT_DEVICE  0x8000ffffu
#define MB_LOADER_NAME  "qemu"

bool multiboot_find_header(const uint8_t *image, size_t len, MultibootHeader *h)
{
    size_t end = MIN(len, (size_t)MULTIBOOT_SEARCH_LEN);
    /* the header is 12 words, so the last place it can start is 48 bytes before 8 KiB */
    for (size_t i = 0; i < MULTIBOOT_SEARCH_LEN - 48 && i + 12 <= end; i += 4) {
        uint32_t flags = ld32_le(image + i + 4);
        if (ld32_le(image + i) != MULTIBOOT_HEADER_MAGIC ||
            (uint32_t)(MULTIBOOT_HEADER_MAGIC + flags + ld32_le(image + i + 8)) != 0) {
            continue;
        }
        uint32_t f[5] = {0};
        for (int j = 0; j < 5; j++) {
            size_t off = i + 12 + 4 * j;
            f[j] = off + 4 <= end ? ld32_le(image + off) : 0; /* past the file: zero */
        }
        *h = (MultibootHeader){.offset = i,
                               .flags = flags,
                               .header_addr = f[0],
                               .load_addr = f[1],
                               .load_end_addr = f[2],
                               .bss_end_addr = f[3],
                               .entry_addr = f[4]};
        return true;
    }
    return false;
}

void multiboot_kernel_free(MultibootKernel *k)
{
    if (k) {
        if (k->image) {
            g_bytes_unref(k->image);
        }
        g_free(k);
    }
}

static bool fits(uint64_t addr, uint64_t size, uint64_t ram_end, GError **errp)
{
    if (addr + size > ram_end) {
        error_setg(errp,
                   "qemu: kernel does not fit in RAM (needs 0x%" G_GINT64_MODIFIER
                   "x-0x%" G_GINT64_MODIFIER "x, RAM ends at 0x%" G_GINT64_MODIFIER "x)",
                   addr, addr + size, ram_end);
        return false;
    }
    return true;
}

/* The a.out kludge: the header says which bytes of the file go where. */
static MultibootKernel *parse_aout(const uint8_t *d, size_t len, const MultibootHeader *h,
                                   uint64_t ram_end, GError **errp)
{
    if (h->header_addr < h->load_addr) {
        error_setg(errp, "invalid load_addr address");
        return NULL;
    }
    if (h->header_addr - h->load_addr > h->offset) {
        error_setg(errp, "invalid header_addr address");
        return NULL;
    }
    uint32_t text_offset = h->offset - (h->header_addr - h->load_addr);
    uint32_t load_size;
    if (h->load_end_addr) {
        if (h->load_end_addr < h->load_addr) {
            error_setg(errp, "invalid load_end_addr address");
            return NULL;
        }
        load_size = h->load_end_addr - h->load_addr;
    } else {
        if (len < text_offset) {
            error_setg(errp, "invalid kernel_file_size");
            return NULL;
        }
        load_size = len - text_offset;
    }
    if (load_size > UINT32_MAX - h->load_addr) {
        error_setg(errp, "kernel does not fit in address space");
        return NULL;
    }
    uint32_t size = load_size;
    if (h->bss_end_addr) {
        if (h->bss_end_addr < h->load_addr + load_size) {
            error_setg(errp, "invalid bss_end_addr address");
            return NULL;
        }
        size = h->bss_end_addr - h->load_addr;
    }
    if (!fits(h->load_addr, size, ram_end, errp)) {
        return NULL;
    }
    if ((uint64_t)text_offset + load_size > len) {
        error_setg(errp, "fread() failed"); /* upstream reads the file past its end */
        return NULL;
    }
    uint8_t *buf = g_malloc0(size ? size : 1);
    memcpy(buf, d + text_offset, load_size);
    MultibootKernel *k = g_new0(MultibootKernel, 1);
    k->load_addr = h->load_addr;
    k->entry = h->entry_addr;
    k->image = g_bytes_new_take(buf, size);
    return k;
}

/* A 32-bit ELF: the image spans its lowest to its highest PT_LOAD byte, gaps zeroed. */
static MultibootKernel *parse_elf32(const uint8_t *d, size_t len, uint64_t ram_end, GError **errp)
{
    Elf32_Ehdr eh;
    if (len < sizeof(eh) || memcmp(d, ELFMAG, SELFMAG) != 0 || d[EI_CLASS] != ELFCLASS32 ||
        d[EI_DATA] != ELFDATA2LSB) {
        goto bad;
    }
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_machine != EM_386 || eh.e_phentsize != sizeof(Elf32_Phdr) || eh.e_phnum == 0 ||
        eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > len - eh.e_phoff) {
        goto bad;
    }
    uint64_t low = UINT64_MAX, high = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf32_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || !ph.p_memsz) {
            continue;
        }
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset || ph.p_filesz > ph.p_memsz) {
            goto bad;
        }
        low = MIN(low, (uint64_t)ph.p_paddr);
        high = MAX(high, (uint64_t)ph.p_paddr + ph.p_memsz);
    }
    if (low == UINT64_MAX) {
        goto bad;
    }
    if (!fits(low, high - low, ram_end, errp)) {
        return NULL;
    }
    uint8_t *buf = g_malloc0(high - low);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf32_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD && ph.p_memsz) {
            memcpy(buf + (ph.p_paddr - low), d + ph.p_offset, ph.p_filesz);
        }
    }
    MultibootKernel *k = g_new0(MultibootKernel, 1);
    k->load_addr = low;
    k->entry = eh.e_entry;
    k->image = g_bytes_new_take(buf, high - low);
    return k;
bad:
    error_setg(errp, "Error while loading elf kernel");
    return NULL;
}

MultibootKernel *multiboot_kernel_parse(GBytes *file, const MultibootHeader *h, uint64_t ram_end,
                                        GError **errp)
{
    gsize len;
    const uint8_t *d = g_bytes_get_data(file, &len);
    if (h->flags & MULTIBOOT_FLAG_VIDEO_MODE) {
        error_report("multiboot knows VBE. we don't"); /* upstream goes on, and so do we */
    }
    if (h->flags & MULTIBOOT_FLAG_AOUT_KLUDGE) {
        return parse_aout(d, len, h, ram_end, errp);
    }
    /* upstream looks at e_machine whatever the file is, ELF class included */
    if (len >= 20 && ld16_le(d + 18) == EM_X86_64) {
        error_setg(errp, "Cannot load x86-64 image, give a 32bit one.");
        return NULL;
    }
    return parse_elf32(d, len, ram_end, errp);
}

GPtrArray *multiboot_split_modules(const char *arg)
{
    GPtrArray *mods = g_ptr_array_new_with_free_func(g_free);
    const char *p = arg;
    while (p && *p) {
        GString *one = g_string_new(NULL);
        for (; *p; p++) {
            if (*p == ',') {
                if (p[1] != ',') {
                    break;
                }
                p++;
            }
            g_string_append_c(one, *p);
        }
        g_ptr_array_add(mods, g_string_free(one, FALSE));
        if (*p) {
            p++;
        }
    }
    return mods;
}

/* mem_upper: KiB of RAM contiguous from 1 MiB, as the option ROM reckons it from the map. */
static uint32_t mem_upper_kib(const E820Table *e820)
{
    uint64_t end = 0x100000;
    bool grew = true;
    while (grew) {
        grew = false;
        for (unsigned i = 0; i < e820->count; i++) {
            const E820Entry *e = &e820->entries[i];
            if (e->type == E820_RAM && e->addr < (1ull << 32) && e->addr <= end &&
                end < e->addr + e->size) {
                end = e->addr + e->size;
                grew = true;
            }
        }
    }
    return (uint32_t)((end - 0x100000) >> 10);
}

static void build_mmap(const E820Table *e820, uint8_t *map)
{
    for (unsigned i = 0; i < e820->count; i++) {
        uint8_t *e = map + i * MB_MMAP_ENTRY;
        st32_le(e, MB_MMAP_ENTRY - 4);
        st64_le(e + 4, e820->entries[i].addr);
        st64_le(e + 12, e820->entries[i].size);
        st32_le(e + 20, e820->entries[i].type);
    }
}

/* The option ROM's descriptors: null, flat 32-bit code, flat data, 16-bit code and data. */
static const uint8_t multiboot_gdt[40] = {
    0, 0,    0,    0, 0,    0,    0, 0, 0xff, 0xff, 0, 0, 0,    0x9a, 0xcf, 0, 0xff, 0xff, 0, 0,
    0, 0x92, 0xcf, 0, 0xff, 0xff, 0, 0, 0,    0x9e, 0, 0, 0xff, 0xff, 0,    0, 0,    0x92, 0, 0,
};

/* What goes at load_addr: the kernel, then lists and strings, then modules. */
typedef struct MbBuffer {
    GByteArray *buf;
    uint32_t phys;        /* guest address of buf->data[0] */
    uint32_t mods_off;    /* module list */
    uint32_t cmdline_off; /* next command line */
    uint32_t loader_off;  /* boot loader name */
} MbBuffer;

static uint32_t add_string(MbBuffer *b, uint32_t *off, const char *s)
{
    uint32_t at = *off;
    size_t n = strlen(s) + 1;
    memcpy(b->buf->data + at, s, n);
    *off += n;
    return b->phys + at;
}

static void grow_to(MbBuffer *b, uint64_t size)
{
    guint old = b->buf->len;
    g_byte_array_set_size(b->buf, size);
    memset(b->buf->data + old, 0, size - old);
}

static bool add_modules(MbBuffer *b, GPtrArray *mods, uint64_t low_ram_end, GError **errp)
{
    for (guint i = 0; i < mods->len; i++) {
        char *one = g_ptr_array_index(mods, i);
        uint32_t cmdline = add_string(b, &b->cmdline_off, one);
        /* a space ends the file name: the rest is the module's arguments */
        g_autofree char *path = g_strndup(one, strcspn(one, " "));
        gchar *data = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &data, &len, NULL)) {
            error_setg(errp, "Failed to open file '%s'", path);
            return false;
        }
        uint64_t off = b->buf->len;
        if ((uint64_t)b->phys + PAGE_ALIGN(off + len) > low_ram_end) {
            g_free(data);
            error_setg(errp, "qemu: module '%s' does not fit in RAM", path);
            return false;
        }
        grow_to(b, PAGE_ALIGN(off + len));
        memcpy(b->buf->data + off, data, len);
        g_free(data);
        uint8_t *m = b->buf->data + b->mods_off + i * MB_MOD_SIZE;
        st32_le(m, b->phys + off);
        st32_le(m + 4, b->phys + off + len);
        st32_le(m + 8, cmdline);
    }
    return true;
}

bool multiboot_load(const MultibootKernel *k, const char *kernel_path, const char *cmdline,
                    const char *modules, const DmaSpace *dma, uint64_t low_ram_end,
                    const E820Table *e820, LinuxBootInfo *out, GError **errp)
{
    gsize ksize;
    const uint8_t *kdata = g_bytes_get_data(k->image, &ksize);
    cmdline = cmdline ? cmdline : "";
    g_autoptr(GPtrArray) mods = multiboot_split_modules(modules);
    size_t cmdlines_len = strlen(kernel_path) + 1 + strlen(cmdline) + 1;
    if (modules) {
        cmdlines_len += strlen(modules) + 1; /* room for every module's "file args" */
    }
    MbBuffer b = {.buf = g_byte_array_new(), .phys = k->load_addr};
    b.mods_off = PAGE_ALIGN(ksize);
    b.cmdline_off = b.mods_off + mods->len * MB_MOD_SIZE;
    b.loader_off = b.cmdline_off + cmdlines_len;
    uint64_t head = PAGE_ALIGN((uint64_t)b.loader_off + sizeof(MB_LOADER_NAME));
    if ((uint64_t)k->load_addr + head > low_ram_end) {
        g_byte_array_unref(b.buf);
        error_setg(errp, "qemu: kernel command line and module list do not fit in RAM");
        return false;
    }
    grow_to(&b, head);
    memcpy(b.buf->data, kdata, ksize);
    if (!add_modules(&b, mods, low_ram_end, errp)) {
        g_byte_array_unref(b.buf);
        return false;
    }
    g_autofree char *kcmdline = g_strdup_printf("%s %s", kernel_path, cmdline);

    uint8_t info[MULTIBOOT_INFO_SIZE] = {0};
    st32_le(info + MBI_FLAGS, MBI_HAS_INFO);
    /* below the EBDA, in KiB, as the BIOS's int 0x12 gives it */
    st32_le(info + MBI_MEM_LOWER, e820->count ? (uint32_t)(e820->entries[0].size >> 10) : 0);
    st32_le(info + MBI_MEM_UPPER, mem_upper_kib(e820));
    st32_le(info + MBI_BOOT_DEVICE, MB_BOOT_DEVICE);
    st32_le(info + MBI_CMDLINE, add_string(&b, &b.cmdline_off, kcmdline));
    st32_le(info + MBI_MODS_COUNT, mods->len);
    st32_le(info + MBI_MODS_ADDR, b.phys + b.mods_off);
    st32_le(info + MBI_MMAP_LENGTH, e820->count * MB_MMAP_ENTRY);
    st32_le(info + MBI_MMAP_ADDR, MULTIBOOT_MMAP_ADDR);
    st32_le(info + MBI_BOOTLOADER, add_string(&b, &b.loader_off, MB_LOADER_NAME));
    uint8_t map[E820_MAX_ENTRIES * MB_MMAP_ENTRY];
    build_mmap(e820, map);

    bool ok = dma_write(dma, b.phys, b.buf->data, b.buf->len) &&
              dma_write(dma, MULTIBOOT_MMAP_ADDR, map, e820->count * MB_MMAP_ENTRY) &&
              dma_write(dma, MULTIBOOT_INFO_ADDR, info, sizeof(info)) &&
              dma_write(dma, MULTIBOOT_GDT_ADDR, multiboot_gdt, sizeof(multiboot_gdt));
    uint32_t end = b.phys + b.buf->len;
    g_byte_array_unref(b.buf);
    if (!ok) {
        error_setg(errp, "qemu: no RAM for the multiboot kernel at 0x%x", k->load_addr);
        return false;
    }
    *out = (LinuxBootInfo){.entry = k->entry,
                           .start_info = MULTIBOOT_INFO_ADDR,
                           .eax = MULTIBOOT_BOOT_MAGIC,
                           .ecx = k->entry,
                           .multiboot = true,
                           .kernel_low = k->load_addr,
                           .kernel_high = end};
    return true;
}
