/*
 * A minimal PVH kernel file for machine tests: an x86-64 ELF whose one PT_LOAD puts the code
 * at 0x1000000 (4 KiB of memory) and whose Xen PHYS32_ENTRY note enters it there.
 */
#ifndef TESTS_UNIT_PVH_KERNEL_H
#define TESTS_UNIT_PVH_KERNEL_H

#include <elf.h>
#include <glib.h>
#include <string.h>

#define PVH_KERNEL_ENTRY 0x1000000

static inline void pvh_kernel_write(const char *path, const guint8 *code, guint len)
{
    GByteArray *b = g_byte_array_new();
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_machine = EM_X86_64;
    eh.e_phoff = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    g_byte_array_append(b, (guint8 *)&eh, sizeof(eh));
    uint64_t data = sizeof(eh) + 2 * sizeof(Elf64_Phdr);
    Elf64_Phdr load = {.p_type = PT_LOAD,
                       .p_offset = data,
                       .p_paddr = PVH_KERNEL_ENTRY,
                       .p_filesz = len,
                       .p_memsz = 4096};
    Elf64_Phdr note = {.p_type = PT_NOTE, .p_offset = data + len, .p_filesz = 20};
    g_byte_array_append(b, (guint8 *)&load, sizeof(load));
    g_byte_array_append(b, (guint8 *)&note, sizeof(note));
    g_byte_array_append(b, code, len);
    /* namesz 4, descsz 4, XEN_ELFNOTE_PHYS32_ENTRY (18), "Xen\0", the entry point */
    uint32_t n[] = {4, 4, 18, 0x006e6558, PVH_KERNEL_ENTRY};
    g_byte_array_append(b, (guint8 *)n, sizeof(n));
    g_assert_true(g_file_set_contents(path, (char *)b->data, b->len, NULL));
    g_byte_array_unref(b);
}

#endif
