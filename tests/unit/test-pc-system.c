/*
 * A whole pc VM on the software CPU: a tiny PVH "kernel" prints on COM1 through the machine's
 * ports, then asks for a reset (0xcf9) or a power-off (ACPI PM1 control); the requests reach
 * the main loop as events, system_reset reruns it, stop/cont pause it.
 */
#include "hw/acpi/acpi-tables.h"
#include "hw/core/biglock.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc-system.h"

#include "pvh-kernel.h"
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct Fixture {
    char *dir, *kernel;
    PcSystem *sys;
    GString *console;
    int resets, poweroffs;
} Fixture;

static void console_write(void *opaque, const uint8_t *buf, int len)
{
    g_string_append_len(((Fixture *)opaque)->console, (const char *)buf, len);
}

static void on_reset(void *opaque)
{
    ((Fixture *)opaque)->resets++;
}

static void on_poweroff(void *opaque)
{
    ((Fixture *)opaque)->poweroffs++;
}

/* 32-bit code at 0x1000000: print "OK", then write `final_port <- final_val` and halt. */
static void write_kernel(Fixture *f, uint16_t final_port, uint16_t final_val, bool word)
{
    GByteArray *code = g_byte_array_new();
    const uint8_t print[] = {0x66, 0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
                             0xb0, 'O',  0xee,       /* mov al, 'O'; out dx, al */
                             0xb0, 'K',  0xee};      /* mov al, 'K'; out dx, al */
    g_byte_array_append(code, print, sizeof(print));
    uint8_t fin[] = {0x66, 0xba, final_port & 0xff, final_port >> 8, /* mov dx, port */
                     0x66, 0xb8, final_val & 0xff,  final_val >> 8,  /* mov ax, val */
                     0xee};                                          /* out dx, al */
    if (word) {
        fin[8] = 0x66; /* out dx, ax */
    }
    g_byte_array_append(code, fin, sizeof(fin));
    if (word) {
        g_byte_array_append(code, (const guint8 *)"\xef", 1);
    }
    g_byte_array_append(code, (const guint8 *)"\xf4\xeb\xfd", 3); /* hlt; jmp $-1 */

    pvh_kernel_write(f->kernel, code->data, code->len);
    g_byte_array_unref(code);
}

static void setup(Fixture *f, gconstpointer data)
{
    device_types_clear();
    hw_register_types();
    f->dir = g_dir_make_tmp(NULL, NULL);
    f->kernel = g_build_filename(f->dir, "vmlinux", NULL);
    f->console = g_string_new(NULL);
    bql_attach_context(NULL);
    bql_lock();
}

static void start_vm(Fixture *f)
{
    PcMachineOptions opts = {.ram_size = 64u << 20, .kernel = f->kernel, .acpi = true};
    PcSystemEvents ev = {.guest_reset = on_reset, .guest_poweroff = on_poweroff, .opaque = f};
    GError *err = NULL;
    f->sys = pc_system_new(&opts, &ev, &err);
    g_assert_no_error(err);
    SerialBackend be = {.write = console_write, .opaque = f};
    serial_set_backend(pc_machine_serial(pc_system_machine(f->sys)), &be);
    g_assert_true(pc_system_realize(f->sys, &err));
    g_assert_no_error(err);
    pc_system_start(f->sys);
}

static void teardown(Fixture *f, gconstpointer data)
{
    pc_system_free(f->sys);
    bql_unlock();
    device_types_clear();
    g_unlink(f->kernel);
    g_rmdir(f->dir);
    g_free(f->kernel);
    g_free(f->dir);
    g_string_free(f->console, TRUE);
}

/* Runs the main loop until cond() or 5 s. */
static bool wait_for(Fixture *f, bool (*cond)(Fixture *f))
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!cond(f) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return cond(f);
}

static bool printed_once(Fixture *f)
{
    return strstr(f->console->str, "OK") != NULL;
}

static bool reset_seen(Fixture *f)
{
    return f->resets > 0;
}

static bool printed_twice(Fixture *f)
{
    return strstr(f->console->str, "OKOK") != NULL;
}

static bool poweroff_seen(Fixture *f)
{
    return f->poweroffs > 0;
}

static void test_reset_cycle(Fixture *f, gconstpointer data)
{
    write_kernel(f, 0xcf9, 0x06, false);
    start_vm(f);
    g_assert_true(wait_for(f, printed_once));
    g_assert_true(wait_for(f, reset_seen));
    g_assert_cmpint(f->poweroffs, ==, 0);
    /* the root decides to reset: the kernel runs again from its entry */
    GError *err = NULL;
    g_assert_true(pc_system_reset(f->sys, &err));
    g_assert_true(wait_for(f, printed_twice));
    g_assert_cmpuint(pc_system_icount(f->sys), >, 0);
    /* `info jit`'s line of the vCPU thread: the instructions it ran and its slices. */
    g_autoptr(GString) info = g_string_new(NULL);
    pc_system_vcpu_info(f->sys, info);
    guint64 icount = 0, slices = 0;
    g_assert_cmpint(sscanf(info->str,
                           "vCPU thread instructions %" G_GUINT64_FORMAT
                           ", slices %" G_GUINT64_FORMAT ", hlt",
                           &icount, &slices),
                    ==, 2);
    g_assert_cmpuint(icount, >, 0);
    g_assert_cmpuint(slices, >, 0);
}

static void test_poweroff_and_stop(Fixture *f, gconstpointer data)
{
    write_kernel(f, ACPI_PM1_CNT, 0x2001, true);
    start_vm(f);
    g_assert_true(wait_for(f, poweroff_seen));
    g_assert_true(printed_once(f));
    g_assert_cmpint(f->resets, ==, 0);
    /* stopped: the virtual clock stands still */
    pc_system_stop(f->sys);
    HwClock *clock = pc_machine_clock(pc_system_machine(f->sys));
    int64_t t = hw_clock_ns(clock);
    g_usleep(20000);
    g_assert_cmpint(hw_clock_ns(clock), ==, t);
    pc_system_start(f->sys);
    g_usleep(2000);
    g_assert_cmpint(hw_clock_ns(clock), >, t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/pc-system/reset-cycle", test_reset_cycle);
    ADD("/pc-system/poweroff-stop", test_poweroff_and_stop);
    return g_test_run();
}
