/*
 * -device isa-debug-exit on a bare DeviceHost: defaults, iobase/iosize, the status a write asks
 * for, reads, ports past the 64 KiB space, and placeholders handed over through isa_claim.
 */
#include "hw/core/qdev.h"
#include "hw/misc/isa-debug-exit.h"
#include "util/keyval.h"

#include <string.h>

typedef struct Host {
    DeviceHost host; /* first: the callbacks get it */
    IoSpace *io, *mmio;
    GPtrArray *devs;
    int exits, status;
    uint64_t claimed_base, claimed_len;
} Host;

static void plug(DeviceHost *host, const DeviceContract *contract, void *dev)
{
    g_ptr_array_add(((Host *)host)->devs, dev);
}

static void guest_exit(DeviceHost *host, int status)
{
    Host *h = (Host *)host;
    h->exits++;
    h->status = status;
}

static void claim(DeviceHost *host, uint64_t base, uint64_t len)
{
    Host *h = (Host *)host;
    h->claimed_base = base;
    h->claimed_len = len;
}

static Host *host_new(void)
{
    Host *h = g_new0(Host, 1);
    h->io = io_space_new("io", 0x10000);
    h->mmio = io_space_new("mmio", 1ull << 40);
    h->devs = g_ptr_array_new();
    h->host = (DeviceHost){
        .io = h->io, .mmio = h->mmio, .plug = plug, .isa_claim = claim, .guest_exit = guest_exit};
    device_types_clear();
    isa_debug_exit_register_type();
    return h;
}

static void host_free(Host *h)
{
    for (guint i = 0; i < h->devs->len; i++) {
        isa_debug_exit_device.free(g_ptr_array_index(h->devs, i));
    }
    g_ptr_array_free(h->devs, TRUE);
    io_space_free(h->io);
    io_space_free(h->mmio);
    device_types_clear();
    qdev_globals_clear();
    g_free(h);
}

static bool add(Host *h, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    bool help;
    return kv && device_create_from_opts(&h->host, kv, &help, errp);
}

static void test_default_port(void)
{
    Host *h = host_new();
    g_assert_true(add(h, "isa-debug-exit", NULL));
    g_assert_cmpstr(io_space_lookup(h->io, 0x501), ==, "isa-debug-exit");
    g_assert_cmpstr(io_space_lookup(h->io, 0x502), ==, "isa-debug-exit");
    g_assert_null(io_space_lookup(h->io, 0x503));
    g_assert_cmpuint(h->claimed_base, ==, 0x501);
    g_assert_cmpuint(h->claimed_len, ==, 2);
    g_assert_cmpuint(io_space_read(h->io, 0x501, 1), ==, 0);
    g_assert_cmpint(h->exits, ==, 0);
    io_space_write(h->io, 0x502, 0x21, 1);
    g_assert_cmpint(h->exits, ==, 1);
    g_assert_cmpint(h->status, ==, 0x43);
    io_space_write(h->io, 0x501, 0x80, 1);
    g_assert_cmpint(h->status & 0xff, ==, 1); /* what a process exit status keeps */
    host_free(h);
}

static void test_props(void)
{
    Host *h = host_new();
    g_assert_true(add(h, "isa-debug-exit,iobase=0xf4,iosize=4", NULL));
    g_assert_cmpstr(io_space_lookup(h->io, 0xf7), ==, "isa-debug-exit");
    io_space_write(h->io, 0xf4, 0xffffffff, 4);
    g_assert_cmpint(h->status & 0xff, ==, 0xff);
    /* past the port space: nothing is reachable, nothing fails */
    g_assert_true(add(h, "isa-debug-exit,iobase=0x10000", NULL));
    g_assert_true(add(h, "isa-debug-exit,iobase=0xffff,iosize=4", NULL));
    g_assert_cmpstr(io_space_lookup(h->io, 0xffff), ==, "isa-debug-exit");
    g_assert_true(add(h, "isa-debug-exit,iosize=0", NULL));
    GError *err = NULL;
    g_assert_false(add(h, "isa-debug-exit,iobase=zz", &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'iobase' expects integer");
    g_clear_error(&err);
    g_assert_false(add(h, "isa-debug-exit,iosize=-1", &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'iosize' expects uint32_t");
    g_clear_error(&err);
    host_free(h);
}

static void test_globals(void)
{
    Host *h = host_new();
    GError *err = NULL;
    g_assert_true(qdev_global_add("isa-debug-exit.iobase=0x600", NULL));
    g_assert_true(qdev_global_add("driver=isa-debug-exit,property=iosize,value=8", NULL));
    g_assert_true(add(h, "isa-debug-exit", NULL));
    g_assert_cmpstr(io_space_lookup(h->io, 0x607), ==, "isa-debug-exit");
    /* the device's own property wins over the global */
    g_assert_true(add(h, "isa-debug-exit,iobase=0x700", NULL));
    g_assert_cmpstr(io_space_lookup(h->io, 0x700), ==, "isa-debug-exit");
    g_assert_true(qdev_global_add("isa-debug-exit.iobase=x", NULL));
    g_assert_false(add(h, "isa-debug-exit,iobase=0x800", &err));
    g_assert_cmpstr(err->message, ==,
                    "can't apply global isa-debug-exit.iobase=x: Parameter 'iobase' expects "
                    "uint64");
    g_clear_error(&err);
    qdev_globals_clear();
    g_assert_true(qdev_global_add("isa-debug-exit.nope=1", NULL));
    g_assert_false(add(h, "isa-debug-exit,iobase=0x800", &err));
    g_assert_cmpstr(err->message, ==,
                    "can't apply global isa-debug-exit.nope=1: Property 'isa-debug-exit.nope' "
                    "not found");
    g_clear_error(&err);
    g_assert_false(qdev_global_add("driver=a,property=b", &err));
    g_assert_cmpstr(err->message, ==, "options 'driver', 'property', and 'value' are required");
    g_clear_error(&err);
    g_assert_false(qdev_global_add("driver=a,property=b,value=c,x=1", &err));
    g_clear_error(&err);
    host_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/isa-debug-exit/default-port", test_default_port);
    g_test_add_func("/isa-debug-exit/props", test_props);
    g_test_add_func("/isa-debug-exit/globals", test_globals);
    return g_test_run();
}
