/*
 * The multiboot header parser and loader on arbitrary kernels. Input: u32 header flags, u16
 * header slot (the header is planted at 4 * slot, so every run reaches the parser), two bytes
 * unused, then the file. Whatever the fields say, the loader must refuse with a message or
 * write inside guest RAM only, and a kernel it accepts must lie inside RAM.
 */
#include "hw/i386/multiboot.h"
#include "tests/include/flat-ram.h"
#include "util/le.h"

#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static E820Table e820;
    if (!ram) {
        ram = g_malloc0(RAM_SIZE);
        e820_build_pc(&e820, RAM_SIZE, 0);
    }
    if (size < 8) {
        return 0;
    }
    uint32_t flags = ld32_le(data);
    size_t slot = (ld16_le(data + 4) % ((MULTIBOOT_SEARCH_LEN - 48) / 4)) * 4;
    size_t len = MAX(size - 8, slot + 12);
    uint8_t *file = g_malloc0(len);
    memcpy(file, data + 8, size - 8);
    st32_le(file + slot, MULTIBOOT_HEADER_MAGIC);
    st32_le(file + slot + 4, flags);
    st32_le(file + slot + 8, -(MULTIBOOT_HEADER_MAGIC + flags));

    MultibootHeader h;
    if (!multiboot_find_header(file, len, &h) || h.offset > slot) {
        abort();
    }
    GBytes *bytes = g_bytes_new_take(file, len);
    GError *err = NULL;
    MultibootKernel *k = multiboot_kernel_parse(bytes, &h, RAM_SIZE, &err);
    if (!k) {
        if (!err || !*err->message) {
            abort(); /* a refusal always says why */
        }
        g_error_free(err);
    } else {
        if ((uint64_t)k->load_addr + g_bytes_get_size(k->image) > RAM_SIZE) {
            abort();
        }
        FlatRam flat = {.base = ram, .size = RAM_SIZE};
        DmaSpace dma = flat_ram_dma(&flat);
        LinuxBootInfo bi;
        if (multiboot_load(k, "/kernel", "console=ttyS0", NULL, &dma, RAM_SIZE, &e820, &bi, &err)) {
            if (bi.eax != MULTIBOOT_BOOT_MAGIC || ld32_le(ram + MULTIBOOT_INFO_ADDR) != 0x24f) {
                abort();
            }
        } else {
            g_error_free(err);
        }
        multiboot_kernel_free(k);
    }
    g_bytes_unref(bytes);
    return 0;
}
