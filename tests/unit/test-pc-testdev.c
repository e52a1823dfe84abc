/*
 * -device pc-testdev on a bare DeviceHost: the scratch register through both windows at every
 * width, the flush port, ISA IRQ lines, the MMIO scratch memory, its state section, and that a
 * second instance is refused without leaving regions behind.
 */
#include "hw/core/irq.h"
#include "hw/core/qdev.h"
#include "hw/misc/pc-testdev.h"
#include "util/keyval.h"

#include <string.h>

typedef struct Host {
    DeviceHost host; /* first: the callbacks get it */
    IoSpace *io, *mmio;
    IrqLine isa[16];
    int level[16];
    void *dev;
} Host;

static void plug(DeviceHost *host, const DeviceContract *contract, void *dev)
{
    ((Host *)host)->dev = dev;
}

static void irq_handler(void *opaque, int n, int level)
{
    ((Host *)opaque)->level[n] = level;
}

static Host *host_new(void)
{
    Host *h = g_new0(Host, 1);
    h->io = io_space_new("io", 0x10000);
    h->mmio = io_space_new("mmio", 1ull << 40);
    for (int i = 0; i < 16; i++) {
        irq_init(&h->isa[i], irq_handler, h, i);
    }
    h->host = (DeviceHost){.io = h->io, .mmio = h->mmio, .isa_irq = h->isa, .plug = plug};
    device_types_clear();
    pc_testdev_register_type();
    return h;
}

static void host_free(Host *h)
{
    if (h->dev) {
        pc_testdev_device.free(h->dev);
    }
    io_space_free(h->io);
    io_space_free(h->mmio);
    device_types_clear();
    g_free(h);
}

static bool add(Host *h, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    bool help;
    return kv && device_create_from_opts(&h->host, kv, &help, errp);
}

static void test_scratch_register(void)
{
    Host *h = host_new();
    g_assert_true(add(h, "pc-testdev", NULL));
    IoSpace *io = h->io;
    io_space_write(io, 0xe0, 0x12345678, 4);
    g_assert_cmphex(io_space_read(io, 0xe1, 1), ==, 0x56);
    g_assert_cmphex(io_space_read(io, 0xe2, 2), ==, 0x1234);
    g_assert_cmphex(io_space_read(io, 0xe8, 4), ==, 0x12345678);
    io_space_write(io, 0xe2, 0xabcd, 2);
    g_assert_cmphex(io_space_read(io, 0xe0, 4), ==, 0xabcd5678);
    io_space_write(io, 0xe9, 0x0201, 2); /* byte window: two bytes from 0xe9 */
    g_assert_cmphex(io_space_read(io, 0xe0, 4), ==, 0xab020178);
    io_space_write(io, 0xe8, 0xdeadbeef, 4);
    g_assert_cmphex(io_space_read(io, 0xe0, 4), ==, 0xdeadbeef);
    g_assert_cmphex(io_space_read(io, 0xeb, 1), ==, 0xde);
    /* flush: reads 0, takes a write */
    io_space_write(io, 0xe4, 0x100000, 4);
    g_assert_cmphex(io_space_read(io, 0xe4, 4), ==, 0);
    host_free(h);
}

static void test_irq_lines(void)
{
    Host *h = host_new();
    g_assert_true(add(h, "pc-testdev", NULL));
    io_space_write(h->io, 0x2005, 7, 1);
    g_assert_cmpint(h->level[5], ==, 1);
    io_space_write(h->io, 0x2005, 0, 1);
    g_assert_cmpint(h->level[5], ==, 0);
    io_space_write(h->io, 0x2003, 1, 2); /* byte accesses only */
    g_assert_cmpint(h->level[3], ==, 0);
    io_space_write(h->io, 0x2017, 1, 1); /* past ISA's 16: dropped */
    g_assert_cmphex(io_space_read(h->io, 0x2000, 1), ==, 0);
    host_free(h);
}

static void test_iomem_and_state(void)
{
    Host *h = host_new();
    g_assert_true(add(h, "pc-testdev", NULL));
    io_space_write(h->mmio, PC_TESTDEV_IOMEM, 0x1122334455667788ull, 8);
    g_assert_cmphex(io_space_read(h->mmio, PC_TESTDEV_IOMEM + 2, 2), ==, 0x5566);
    io_space_write(h->mmio, PC_TESTDEV_IOMEM + 0xfffc, 0xaabbccdd, 4);
    g_assert_cmphex(io_space_read(h->mmio, PC_TESTDEV_IOMEM + 0xfffc, 4), ==, 0xaabbccdd);
    io_space_write(h->io, 0xe0, 0x5a5a5a5a, 4);

    g_autoptr(GByteArray) saved = g_byte_array_new();
    vmstate_save_fields(pc_testdev_device.vmsd, h->dev, saved);
    g_assert_cmpuint(saved->len, ==, 4 + PC_TESTDEV_IOMEM_LEN);
    host_free(h);
}

static void test_second_instance_refused_cleanly(void)
{
    Host *h = host_new();
    g_assert_true(io_space_add(h->io, "other", 0x2010, 1, NULL, NULL, NULL));
    GError *err = NULL;
    g_assert_false(add(h, "pc-testdev", &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* what it had mapped before the clash is gone again */
    g_assert_null(io_space_lookup(h->io, 0xe0));
    g_assert_null(io_space_lookup(h->io, 0xe8));
    g_assert_null(io_space_lookup(h->mmio, PC_TESTDEV_IOMEM));
    g_assert_null(h->dev);
    g_autofree char *help = device_help_text("pc-testdev", NULL);
    g_assert_cmpstr(help, ==, "There are no options for pc-testdev.\n");
    host_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pc-testdev/scratch-register", test_scratch_register);
    g_test_add_func("/pc-testdev/irq-lines", test_irq_lines);
    g_test_add_func("/pc-testdev/iomem-and-state", test_iomem_and_state);
    g_test_add_func("/pc-testdev/second-instance", test_second_instance_refused_cleanly);
    return g_test_run();
}
