/*
 * -device isa-debugcon on a bare DeviceHost: bytes written to its port reach the chardev (a
 * wide write sends its low byte), reads give readback, and upstream's errors for a missing or
 * unknown chardev.
 */
#include "chardev/char.h"
#include "hw/char/debugcon.h"
#include "hw/core/qdev.h"
#include "util/keyval.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct Host {
    DeviceHost host; /* first: the callbacks get it */
    IoSpace *io;
    GPtrArray *devs;
    uint64_t claimed_base, claimed_len;
} Host;

static void plug(DeviceHost *host, const DeviceContract *contract, void *dev)
{
    g_ptr_array_add(((Host *)host)->devs, dev);
}

static void claim(DeviceHost *host, uint64_t base, uint64_t len)
{
    Host *h = (Host *)host;
    h->claimed_base = base;
    h->claimed_len = len;
}

static bool add(Host *h, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    bool help;
    return kv && device_create_from_opts(&h->host, kv, &help, errp);
}

static void test_debugcon(void)
{
    Host h = {.io = io_space_new("io", 0x10000), .devs = g_ptr_array_new()};
    h.host = (DeviceHost){.io = h.io, .plug = plug, .isa_claim = claim};
    device_types_clear();
    isa_debugcon_register_type();
    g_autofree char *dir = g_dir_make_tmp(NULL, NULL);
    g_autofree char *path = g_build_filename(dir, "log", NULL);
    g_autofree char *spec = g_strdup_printf("file:%s", path);
    GError *err = NULL;
    g_assert_nonnull(chardev_new_from_legacy("dbg", spec, &err));
    g_assert_no_error(err);

    g_assert_false(add(&h, "isa-debugcon", &err));
    g_assert_cmpstr(err->message, ==, "Can't create debugcon device, empty char device");
    g_clear_error(&err);
    g_assert_false(add(&h, "isa-debugcon,chardev=nope", &err));
    g_assert_cmpstr(err->message, ==, "Property 'isa-debugcon.chardev' can't find value 'nope'");
    g_clear_error(&err);

    g_assert_true(add(&h, "isa-debugcon,iobase=0x402,chardev=dbg,readback=0x55", &err));
    g_assert_no_error(err);
    g_assert_cmpuint(h.claimed_base, ==, 0x402);
    g_assert_cmpuint(h.claimed_len, ==, 1);
    g_assert_cmpstr(io_space_lookup(h.io, 0x402), ==, "isa-debugcon");
    g_assert_null(io_space_lookup(h.io, 0x403));
    g_assert_cmphex(io_space_read(h.io, 0x402, 1), ==, 0x55);
    for (const char *p = "ok\n"; *p; p++) {
        io_space_write(h.io, 0x402, (uint8_t)*p, 1);
    }
    io_space_write(h.io, 0x402, 0x4121, 2); /* '!' only */

    for (guint i = 0; i < h.devs->len; i++) {
        isa_debugcon_device.free(g_ptr_array_index(h.devs, i));
    }
    chardev_remove_all();
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "ok\n!");
    g_unlink(path);
    g_rmdir(dir);
    g_ptr_array_free(h.devs, TRUE);
    io_space_free(h.io);
    device_types_clear();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/debugcon/port-to-chardev", test_debugcon);
    return g_test_run();
}
