/* PVH boot of a Linux kernel (include/hw/i386/linux-boot.h). */
#include "hw/i386/linux-boot.h"
#include "hw/i386/multiboot.h"
#include "util/error.h"
#include "util/huge-alloc.h"
#include "util/le.h"

#include <elf.h>
#include <errno.h>
#include <lz4.h>
#include <string.h>

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
/* Bigger than any kernel we expect; a corrupt size field must not make us allocate more. */
#define KERNEL_MAX_SIZE (512u << 20)

/* A GBytes over huge_alloc0() memory: its free function needs the size back. */
typedef struct HugeBuf {
    void *p;
    size_t size;
} HugeBuf;

static void huge_buf_free(gpointer opaque)
{
    HugeBuf *b = opaque;
    huge_free(b->p, b->size);
    g_free(b);
}

/* LZ4 legacy frames ("lz4 -l"): magic, then blocks of {u32 size, data} of up to 8 MiB each
 * decompressed; the kernel build appends the total decompressed size as a final u32. */
static GBytes *lz4_legacy_unpack(const uint8_t *in, size_t len, GError **errp)
{
    if (len < 8 || ld32_le(in) != LZ4_LEGACY_MAGIC) {
        error_setg(errp, "qemu: invalid kernel header");
        return NULL;
    }
    uint32_t total = ld32_le(in + len - 4);
    if (total == 0 || total > KERNEL_MAX_SIZE) {
        error_setg(errp, "qemu: invalid kernel header");
        return NULL;
    }
    /* on huge pages: the kernel's ~50 MB, written once, faulted 4 KiB at a time from malloc */
    uint8_t *out = huge_alloc0(total);
    size_t pos = 4, out_len = 0;
    while (pos + 4 <= len - 4) {
        uint32_t bsize = ld32_le(in + pos);
        pos += 4;
        if (bsize == LZ4_LEGACY_MAGIC) {
            continue; /* concatenated frames */
        }
        if (bsize == 0 || bsize > len - pos || bsize > LZ4_compressBound(LZ4_LEGACY_BLOCK)) {
            break; /* the trailing size field or garbage: the stream ends here */
        }
        size_t room = MIN((size_t)LZ4_LEGACY_BLOCK, total - out_len);
        int n = LZ4_decompress_safe((const char *)in + pos, (char *)out + out_len, bsize, room);
        if (n < 0) {
            huge_free(out, total);
            error_setg(errp, "qemu: invalid kernel header");
            return NULL;
        }
        out_len += n;
        pos += bsize;
        if (out_len == total) {
            break;
        }
    }
    if (out_len != total) {
        huge_free(out, total);
        error_setg(errp, "qemu: invalid kernel header");
        return NULL;
    }
    HugeBuf *hb = g_new(HugeBuf, 1);
    *hb = (HugeBuf){.p = out, .size = total};
    return g_bytes_new_with_free_func(out, out_len, huge_buf_free, hb);
}

/* The bzImage's compressed payload, or NULL (no error) if data is not a bzImage. */
static GBytes *bzimage_payload(const uint8_t *d, size_t len, uint16_t *protocol, GError **errp)
{
    if (len < 0x250 || memcmp(d + 0x202, "HdrS", 4) != 0) {
        return NULL;
    }
    *protocol = ld16_le(d + 0x206);
    if (*protocol < 0x208) {
        /* payload_offset/length arrived with protocol 2.08 */
        error_setg(errp, "qemu: invalid kernel header");
        return NULL;
    }
    unsigned setup_sects = d[0x1f1] ? d[0x1f1] : 4;
    uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
    uint64_t off = pm_start + ld32_le(d + 0x248);
    uint64_t plen = ld32_le(d + 0x24c);
    if (off > len || plen > len - off) {
        error_setg(errp, "qemu: invalid kernel header");
        return NULL;
    }
    return lz4_legacy_unpack(d + off, plen, errp);
}

static bool find_pvh_note(const uint8_t *n, uint64_t len, uint32_t *entry)
{
    uint64_t pos = 0;
    while (pos + 12 <= len) {
        uint32_t namesz = ld32_le(n + pos), descsz = ld32_le(n + pos + 4),
                 type = ld32_le(n + pos + 8);
        uint64_t name_off = pos + 12;
        uint64_t desc_off = name_off + ((namesz + 3ull) & ~3ull);
        uint64_t next = desc_off + ((descsz + 3ull) & ~3ull);
        if (desc_off > len || next > len) {
            return false;
        }
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && !memcmp(n + name_off, "Xen", 4) &&
            (descsz == 4 || descsz == 8)) {
            *entry = ld32_le(n + desc_off); /* a .quad on 64-bit kernels; the entry is < 4 GiB */
            return true;
        }
        pos = next;
    }
    return false;
}

static bool parse_elf(PvhKernel *k, GError **errp)
{
    gsize len;
    const uint8_t *d = g_bytes_get_data(k->elf, &len);
    if (len < sizeof(Elf64_Ehdr) || memcmp(d, ELFMAG, SELFMAG) != 0 || d[EI_CLASS] != ELFCLASS64 ||
        d[EI_DATA] != ELFDATA2LSB) {
        error_setg(errp, "qemu: invalid kernel header");
        return false;
    }
    Elf64_Ehdr eh;
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
        error_setg(errp, "qemu: invalid kernel header");
        return false;
    }
    bool have_entry = false;
    k->low = UINT64_MAX;
    k->high = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
            error_setg(errp, "qemu: invalid kernel header");
            return false;
        }
        if (ph.p_type == PT_NOTE && !have_entry) {
            have_entry = find_pvh_note(d + ph.p_offset, ph.p_filesz, &k->entry);
        } else if (ph.p_type == PT_LOAD && ph.p_memsz) {
            if (ph.p_memsz < ph.p_filesz || ph.p_paddr + ph.p_memsz < ph.p_paddr ||
                ph.p_paddr + ph.p_memsz > (1ull << 32)) {
                error_setg(errp, "qemu: invalid kernel header");
                return false;
            }
            ElfSegment seg = {.paddr = ph.p_paddr,
                              .offset = ph.p_offset,
                              .filesz = ph.p_filesz,
                              .memsz = ph.p_memsz};
            g_array_append_val(k->segments, seg);
            k->low = MIN(k->low, ph.p_paddr);
            k->high = MAX(k->high, ph.p_paddr + ph.p_memsz);
        }
    }
    if (!k->segments->len) {
        error_setg(errp, "qemu: invalid kernel header");
        return false;
    }
    if (!have_entry) {
        error_setg(errp, "Error loading uncompressed kernel without PVH ELF Note");
        return false;
    }
    return true;
}

PvhKernel *pvh_kernel_parse(GBytes *image, GError **errp)
{
    gsize len;
    const uint8_t *d = g_bytes_get_data(image, &len);
    PvhKernel *k = g_new0(PvhKernel, 1);
    k->segments = g_array_new(FALSE, FALSE, sizeof(ElfSegment));
    GError *err = NULL;
    GBytes *elf = bzimage_payload(d, len, &k->boot_protocol, &err);
    if (err) {
        g_propagate_error(errp, err);
        pvh_kernel_free(k);
        return NULL;
    }
    if (elf) {
        k->from_bzimage = true;
        k->elf = elf;
    } else {
        k->elf = g_bytes_ref(image);
    }
    if (!parse_elf(k, errp)) {
        pvh_kernel_free(k);
        return NULL;
    }
    return k;
}

void pvh_kernel_free(PvhKernel *k)
{
    if (!k) {
        return;
    }
    if (k->elf) {
        g_bytes_unref(k->elf);
    }
    g_array_free(k->segments, TRUE);
    g_free(k);
}

static bool zero_fill(const DmaSpace *dma, uint64_t gpa, uint64_t len)
{
    static const uint8_t zeros[4096];
    while (len) {
        uint64_t n = MIN(len, sizeof(zeros));
        if (!dma_write(dma, gpa, zeros, n)) {
            return false;
        }
        gpa += n;
        len -= n;
    }
    return true;
}

bool pvh_kernel_load(const PvhKernel *k, const DmaSpace *dma, uint64_t low_ram_end,
                     const E820Table *e820, uint64_t rsdp, GBytes *initrd, const char *cmdline,
                     LinuxBootInfo *out, GError **errp)
{
    gsize elf_len;
    const uint8_t *elf = g_bytes_get_data(k->elf, &elf_len);
    if (k->high > low_ram_end || k->low < 0x100000) {
        error_setg(errp,
                   "qemu: kernel does not fit in RAM (needs 0x%" G_GINT64_MODIFIER
                   "x-0x%" G_GINT64_MODIFIER "x, RAM ends at 0x%" G_GINT64_MODIFIER "x)",
                   k->low, k->high, low_ram_end);
        return false;
    }
    for (guint i = 0; i < k->segments->len; i++) {
        const ElfSegment *s = &g_array_index(k->segments, ElfSegment, i);
        if (!dma_write(dma, s->paddr, elf + s->offset, s->filesz) ||
            !zero_fill(dma, s->paddr + s->filesz, s->memsz - s->filesz)) {
            error_setg(errp, "qemu: kernel segment at 0x%" G_GINT64_MODIFIER "x is not in RAM",
                       s->paddr);
            return false;
        }
    }

    size_t cmdlen = cmdline ? strlen(cmdline) : 0;
    if (cmdlen >= LINUX_CMDLINE_MAX) {
        error_setg(errp, "qemu: kernel command line too long (%zu > %u)", cmdlen,
                   LINUX_CMDLINE_MAX - 1);
        return false;
    }
    if (!dma_write(dma, LINUX_CMDLINE_ADDR, cmdline ? cmdline : "", cmdlen + 1)) {
        error_setg(errp, "qemu: no RAM for the kernel command line");
        return false;
    }

    uint64_t initrd_addr = 0, initrd_size = 0;
    if (initrd) {
        gsize ilen;
        const uint8_t *idata = g_bytes_get_data(initrd, &ilen);
        uint64_t top = low_ram_end & ~0xfffull;
        uint64_t max = top > k->high ? top - ((k->high + 0xfff) & ~0xfffull) : 0;
        if (ilen > max) {
            error_setg(errp, "qemu: initrd is too large, cannot support.(max: %u, need %ld)",
                       (unsigned)max, (long)ilen);
            return false;
        }
        initrd_addr = (top - ilen) & ~0xfffull;
        initrd_size = ilen;
        if (!dma_write(dma, initrd_addr, idata, ilen)) {
            error_setg(errp, "qemu: no RAM for the initrd");
            return false;
        }
    }

    /* hvm_start_info, version 1 */
    uint8_t si[56] = {0};
    st32_le(si + 0, XEN_HVM_START_MAGIC);
    st32_le(si + 4, 1);
    st32_le(si + 12, initrd ? 1 : 0);
    st64_le(si + 16, initrd ? PVH_MODLIST_ADDR : 0);
    st64_le(si + 24, LINUX_CMDLINE_ADDR);
    st64_le(si + 32, rsdp);
    st64_le(si + 40, PVH_MEMMAP_ADDR);
    st32_le(si + 48, e820->count);
    uint8_t mod[32] = {0};
    st64_le(mod + 0, initrd_addr);
    st64_le(mod + 8, initrd_size);
    uint8_t map[E820_MAX_ENTRIES * 24] = {0};
    for (unsigned i = 0; i < e820->count; i++) {
        st64_le(map + 24 * i, e820->entries[i].addr);
        st64_le(map + 24 * i + 8, e820->entries[i].size);
        st32_le(map + 24 * i + 16, e820->entries[i].type);
    }
    if (!dma_write(dma, PVH_START_INFO_ADDR, si, sizeof(si)) ||
        !dma_write(dma, PVH_MODLIST_ADDR, mod, sizeof(mod)) ||
        !dma_write(dma, PVH_MEMMAP_ADDR, map, 24 * e820->count)) {
        error_setg(errp, "qemu: no RAM for the PVH start info");
        return false;
    }
    *out = (LinuxBootInfo){.entry = k->entry,
                           .start_info = PVH_START_INFO_ADDR,
                           .kernel_low = k->low,
                           .kernel_high = k->high,
                           .initrd_addr = initrd_addr,
                           .initrd_size = initrd_size};
    return true;
}

/* The kernel and initrd are mapped rather than read: a boot copies only the ELF's segments
 * (39 of the test guest's 53 MB) into guest RAM, straight from the page cache, where reading
 * the whole file first cost a copy and a fault per 4 KiB page of the buffer (~0.2 s of CPU at
 * startup, more than Debian's QEMU spends before its firmware runs). */
static GBytes *map_file(const char *path, GError **errp)
{
    GMappedFile *f = g_mapped_file_new(path, FALSE, errp);
    if (!f) {
        return NULL;
    }
    GBytes *b = g_mapped_file_get_bytes(f);
    g_mapped_file_unref(f);
    return b;
}

/* The errno upstream's message prints for a file that would not load. */
static int file_errno(const GError *e)
{
    return e->code == G_FILE_ERROR_NOENT ? ENOENT : e->code == G_FILE_ERROR_ACCES ? EACCES : EIO;
}

bool linux_boot_load_files(const char *kernel_path, const char *initrd_path, const char *cmdline,
                           const DmaSpace *dma, uint64_t low_ram_end, const E820Table *e820,
                           uint64_t rsdp, LinuxBootInfo *out, GError **errp)
{
    GError *ferr = NULL;
    GBytes *image = map_file(kernel_path, &ferr);
    if (!image) {
        error_setg(errp, "qemu: could not open kernel file '%s': %s", kernel_path,
                   g_strerror(file_errno(ferr)));
        g_error_free(ferr);
        return false;
    }
    gsize len = 0;
    const char *data = g_bytes_get_data(image, &len);
    if (len == 0) {
        g_bytes_unref(image);
        /* upstream's wording for an empty file, errno included as it prints it */
        error_setg(errp, "qemu: could not load kernel '%s': %s", kernel_path, g_strerror(ENOENT));
        return false;
    }
    MultibootHeader mbh;
    /* upstream tries multiboot on anything that is not a bzImage, before PVH */
    if ((len < 0x206 || memcmp(data + 0x202, "HdrS", 4) != 0) &&
        multiboot_find_header((const uint8_t *)data, len, &mbh)) {
        MultibootKernel *mk = multiboot_kernel_parse(image, &mbh, low_ram_end, errp);
        g_bytes_unref(image);
        bool ok = mk && multiboot_load(mk, kernel_path, cmdline, initrd_path, dma, low_ram_end,
                                       e820, out, errp);
        multiboot_kernel_free(mk);
        return ok;
    }
    PvhKernel *k = pvh_kernel_parse(image, errp);
    g_bytes_unref(image);
    if (!k) {
        return false;
    }
    GBytes *initrd = NULL;
    if (initrd_path) {
        initrd = map_file(initrd_path, &ferr);
        if (!initrd) {
            error_setg(errp, "qemu: error reading initrd %s: %s", initrd_path,
                       g_strerror(file_errno(ferr)));
            g_error_free(ferr);
            pvh_kernel_free(k);
            return false;
        }
    }
    bool ok = pvh_kernel_load(k, dma, low_ram_end, e820, rsdp, initrd, cmdline, out, errp);
    if (initrd) {
        g_bytes_unref(initrd);
    }
    pvh_kernel_free(k);
    return ok;
}
