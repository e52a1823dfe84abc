/*
 * Runs a multiboot (a.out kludge) flat guest image on our CPU: loads it at its load
 * address, enters in 32-bit protected mode with EAX=0x2BADB002 and EBX=multiboot info,
 * collects the debug port (0xe9) output, raises the interrupt line on port 0xe8 writes,
 * and stops at the isa-debug-exit port (0xf4).
 */
#ifndef TESTS_CPU_GUEST_H
#define TESTS_CPU_GUEST_H

#include <glib.h>
#include <string.h>

#include "memory/ram.h"
#include "target/i386/cpu.h"

typedef struct CpuGuest {
    GuestRam *ram;
    X86CPU *cpu;
    GString *out;
    int exit_code;  /* -1 until the guest writes the exit port */
    int irq_vector; /* -1: none pending */
} CpuGuest;

static uint32_t cpu_guest_pio_read(void *opaque, uint16_t port, int size)
{
    return 0xffffffffu >> (32 - size * 8);
}

static void cpu_guest_pio_write(void *opaque, uint16_t port, uint32_t val, int size)
{
    CpuGuest *g = opaque;
    if (port == 0xe9) {
        g_string_append_c(g->out, (char)val);
    } else if (port == 0xf4) {
        g->exit_code = val;
        x86_cpu_exit_request(g->cpu);
    } else if (port == 0xe8) {
        g->irq_vector = val & 0xff;
        x86_cpu_set_irq(g->cpu, true);
    }
}

static int cpu_guest_irq_ack(void *opaque)
{
    CpuGuest *g = opaque;
    int v = g->irq_vector;
    g->irq_vector = -1;
    x86_cpu_set_irq(g->cpu, false);
    return v;
}

static const X86BusOps cpu_guest_bus = {
    .pio_read = cpu_guest_pio_read,
    .pio_write = cpu_guest_pio_write,
    .irq_ack = cpu_guest_irq_ack,
};

static inline bool cpu_guest_load(CpuGuest *g, const char *path, const char *cmdline, GError **errp)
{
    gchar *img;
    gsize len;
    if (!g_file_get_contents(path, &img, &len, errp)) {
        return false;
    }
    uint32_t *h = NULL;
    for (gsize off = 0; off + 32 <= len && off < 8192; off += 4) {
        uint32_t *w = (uint32_t *)(img + off);
        if (w[0] == 0x1BADB002 && w[0] + w[1] + w[2] == 0 && (w[1] & 0x10000)) {
            h = w;
            break;
        }
    }
    if (!h) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no multiboot header");
        g_free(img);
        return false;
    }
    uint32_t header_addr = h[3], load_addr = h[4], bss_end = h[6], entry = h[7];
    gsize file_off = (gsize)((char *)h - img) - (header_addr - load_addr);
    g->ram = guest_ram_new(256u << 20, 0, errp);
    g_assert_nonnull(g->ram);
    guest_ram_write(g->ram, load_addr, img + file_off, len - file_off);
    g_assert_true(bss_end == 0 || bss_end >= load_addr);
    g_free(img);

    /* multiboot info at 0x9000, command line at 0x9100 */
    uint32_t mbi[5] = {4, 640, (256u << 10) - 1024, 0, 0x9100};
    guest_ram_write(g->ram, 0x9000, mbi, sizeof(mbi));
    guest_ram_write(g->ram, 0x9100, cmdline, strlen(cmdline) + 1);

    g->out = g_string_new("");
    g->exit_code = -1;
    g->irq_vector = -1;
    g->cpu = x86_cpu_new(g->ram, &cpu_guest_bus, g);
    x86_cpu_setup_flat32(g->cpu);
    X86CPUState *env = x86_cpu_env(g->cpu);
    env->regs[R_EAX] = 0x2BADB002;
    env->regs[R_EBX] = 0x9000;
    env->rip = entry;
    return true;
}

/* Runs until the exit port, a reset, a halt with nothing pending, or max_insns. */
static inline X86ExitReason cpu_guest_run(CpuGuest *g, uint64_t max_insns)
{
    X86ExitReason why = X86_EXIT_BUDGET;
    uint64_t start = x86_cpu_icount(g->cpu);
    while (g->exit_code < 0 && x86_cpu_icount(g->cpu) - start < max_insns) {
        why = x86_cpu_exec(g->cpu, 10000000);
        if (why == X86_EXIT_RESET || why == X86_EXIT_HALTED) {
            break;
        }
    }
    return why;
}

static inline void cpu_guest_free(CpuGuest *g)
{
    x86_cpu_free(g->cpu);
    guest_ram_free(g->ram);
    g_string_free(g->out, TRUE);
}

#endif
