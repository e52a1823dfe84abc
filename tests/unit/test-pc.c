/*
 * The assembled pc machine without a CPU: -device handling and its errors, -m parsing and the
 * RAM split, firmware data in RAM (ACPI, PVH kernel), port/MMIO dispatch, the interrupt path
 * from a device to the CPU's INTA, and the reset / power-off requests.
 */
#include "hw/acpi/acpi-tables.h"
#include "hw/acpi/piix4-pm.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc.h"
#include "hw/nvram/fw-cfg.h"
#include "hw/pci/pci.h"
#include "net/net.h"
#include "util/error.h"
#include "tests/include/flat-ram.h"

#include "pvh-kernel.h"
#include <glib/gstdio.h>
#include <string.h>

#define RAM_SIZE (64u << 20)

typedef struct Fixture {
    uint8_t *ram;
    FlatRam flat; /* f->ram seen as guest RAM through dma */
    DmaSpace dma;
    PcMachineHooks hooks;
    PcMachine *m;
    int cpu_irq;
    int resets, poweroffs;
    char *dir, *kernel;
} Fixture;

static void cpu_set_irq(void *opaque, bool level)
{
    ((Fixture *)opaque)->cpu_irq = level;
}

static void reset_req(void *opaque)
{
    ((Fixture *)opaque)->resets++;
}

static void poweroff_req(void *opaque)
{
    ((Fixture *)opaque)->poweroffs++;
}

/* Accepts netdev "hn0" only, as the net glue would. */
static bool nic_attach(void *opaque, VirtIONet *nic, const char *netdev, const char *name,
                       GError **errp)
{
    if (strcmp(netdev, "hn0")) {
        error_setg(errp, "Property 'virtio-net-device.netdev' can't find value '%s'", netdev);
        return false;
    }
    return true;
}

/* A kernel that only halts. */
static void write_kernel(Fixture *f)
{
    f->dir = g_dir_make_tmp(NULL, NULL);
    f->kernel = g_build_filename(f->dir, "vmlinux", NULL);
    pvh_kernel_write(f->kernel, (const guint8 *)"\xf4\xeb\xfd\x90", 4); /* hlt; jmp $-1 */
}

static void setup(Fixture *f, gconstpointer data)
{
    device_types_clear();
    hw_register_types();
    f->ram = g_malloc0(RAM_SIZE);
    f->flat = (FlatRam){.base = f->ram, .size = RAM_SIZE};
    f->dma = flat_ram_dma(&f->flat);
    f->hooks = (PcMachineHooks){.ram = &f->dma,
                                .cpu_set_irq = cpu_set_irq,
                                .reset_request = reset_req,
                                .poweroff_request = poweroff_req,
                                .nic_attach = nic_attach,
                                .opaque = f};
    write_kernel(f);
    PcMachineOptions opts = {
        .ram_size = RAM_SIZE, .kernel = f->kernel, .append = "console=ttyS0", .acpi = true};
    f->m = pc_machine_new(&opts, &f->hooks, NULL);
    g_assert_nonnull(f->m);
}

static void teardown(Fixture *f, gconstpointer data)
{
    pc_machine_free(f->m);
    device_types_clear();
    g_unlink(f->kernel);
    g_rmdir(f->dir);
    g_free(f->kernel);
    g_free(f->dir);
    g_free(f->ram);
}

static bool add_device(Fixture *f, const char *arg, GError **errp)
{
    g_autoptr(KeyvalList) kv = keyval_parse(arg, "driver", KEYVAL_OPTS | KEYVAL_QUIET, errp);
    bool help;
    return kv && pc_machine_device_add(f->m, kv, &help, errp);
}

static void expect_device_error(Fixture *f, const char *arg, const char *msg)
{
    GError *err = NULL;
    g_assert_false(add_device(f, arg, &err));
    g_assert_nonnull(err);
    g_autofree char *desc = error_get_desc(err);
    g_assert_cmpstr(desc, ==, msg);
    g_error_free(err);
}

static void test_device_errors(Fixture *f, gconstpointer data)
{
    expect_device_error(f, "foo", "'foo' is not a valid device model name");
    expect_device_error(f, "id=x", "Parameter 'driver' is missing");
    expect_device_error(f, "virtio-net-pci,bogus=1", "Property 'virtio-net-pci.bogus' not found");
    expect_device_error(f, "virtio-net-pci,mac=zz",
                        "Property 'virtio-net-device.mac' doesn't take value 'zz'");
    expect_device_error(f, "virtio-net-pci,mac=52:54:00:12:34:5",
                        "Property 'virtio-net-device.mac' doesn't take value "
                        "'52:54:00:12:34:5'");
    expect_device_error(f, "virtio-net-pci,netdev=nope",
                        "Property 'virtio-net-device.netdev' can't find value 'nope'");
    expect_device_error(f, "virtio-net-pci,addr=0x40",
                        "Property 'virtio-net-pci.addr' doesn't take value '0x40'");
    expect_device_error(f, "virtio-net-pci,id=1bad", "Parameter 'id' expects an identifier");
    expect_device_error(f, "virtio-net-pci,addr=0",
                        "PCI: slot 0 function 0 not available for virtio-net-pci, in use by "
                        "i440FX,id=(null)");
    g_assert_true(add_device(f, "virtio-net-pci,id=net0,netdev=hn0", NULL));
    expect_device_error(f, "virtio-net-pci,id=net0,netdev=hn0", "Duplicate ID 'net0' for device");
    g_autofree char *help = device_help_text("virtio-net-pci", NULL);
    g_assert_nonnull(strstr(help, "mac=<str>"));
    g_assert_nonnull(strstr(help, "netdev=<str>"));
}

static void test_ram_size(Fixture *f, gconstpointer data)
{
    uint64_t v, low, high;
    GError *err = NULL;
    g_assert_true(pc_parse_ram_size("512", &v, NULL));
    g_assert_cmpuint(v, ==, 512ull << 20);
    g_assert_true(pc_parse_ram_size("2G", &v, NULL));
    g_assert_cmpuint(v, ==, 2ull << 30);
    g_assert_true(pc_parse_ram_size("size=1536M", &v, NULL));
    g_assert_cmpuint(v, ==, 1536ull << 20);
    g_assert_false(pc_parse_ram_size("512x", &v, &err));
    g_autofree char *desc = error_get_desc(err);
    g_assert_cmpstr(desc, ==, "Parameter 'size' expects a non-negative number below 2^64");
    g_clear_error(&err);
    g_assert_false(pc_parse_ram_size("-5", &v, &err));
    g_clear_error(&err);
    g_assert_false(pc_parse_ram_size("16E", &v, &err));
    g_assert_cmpstr(err->message, ==, "Value '16E' is out of range for parameter 'size'");
    g_clear_error(&err);
    /* checked first with bytes as the unit: a fraction without a suffix is no size */
    g_assert_false(pc_parse_ram_size("1.5", &v, &err));
    g_clear_error(&err);
    g_assert_false(pc_parse_ram_size("1e3", &v, &err));
    g_clear_error(&err);
    /* a plain number is MiB only afterwards, where 2^44 MiB no longer fits */
    g_assert_false(pc_parse_ram_size("17592186044416", &v, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'memory.size' expects size");
    g_clear_error(&err);
    /* rounded up to 8 KiB; 0 is the default */
    g_assert_true(pc_parse_ram_size("4097k", &v, NULL));
    g_assert_cmpuint(v, ==, 4202496);
    g_assert_true(pc_parse_ram_size("1b", &v, NULL));
    g_assert_cmpuint(v, ==, 8192);
    g_assert_true(pc_parse_ram_size("0", &v, NULL));
    g_assert_cmpuint(v, ==, PC_DEFAULT_RAM_SIZE);
    g_assert_true(pc_parse_ram_size("1.5G", &v, NULL));
    g_assert_cmpuint(v, ==, 3ull << 29);
    pc_ram_split(512ull << 20, &low, &high);
    g_assert_cmpuint(low, ==, 512ull << 20);
    g_assert_cmpuint(high, ==, 0);
    pc_ram_split(3ull << 30, &low, &high);
    g_assert_cmpuint(high, ==, 0);
    pc_ram_split(4ull << 30, &low, &high);
    g_assert_cmpuint(low, ==, 3ull << 30);
    g_assert_cmpuint(high, ==, 1ull << 30);
    /* up to the 3.5 GiB mark RAM stays below the hole; from there on it splits at 3 GiB */
    pc_ram_split(0xe0000000ull - 8192, &low, &high);
    g_assert_cmpuint(low, ==, 0xe0000000ull - 8192);
    g_assert_cmpuint(high, ==, 0);
    pc_ram_split(0xe0000000ull, &low, &high);
    g_assert_cmpuint(low, ==, 3ull << 30);
    g_assert_cmpuint(high, ==, 1ull << 29);
}

static uint32_t cfg_read(Fixture *f, int devfn, int reg)
{
    pc_machine_pio_write(f->m, 0xcf8, 0x80000000u | (devfn << 8) | reg, 4);
    return pc_machine_pio_read(f->m, 0xcfc, 4);
}

static void cfg_write(Fixture *f, int devfn, int reg, uint32_t val)
{
    pc_machine_pio_write(f->m, 0xcf8, 0x80000000u | (devfn << 8) | reg, 4);
    pc_machine_pio_write(f->m, 0xcfc, val, 4);
}

static void test_realize_firmware(Fixture *f, gconstpointer data)
{
    g_assert_true(add_device(f, "virtio-net-pci,netdev=hn0,mac=52:54:00:aa:bb:cc", NULL));
    GError *err = NULL;
    g_assert_true(pc_machine_realize(f->m, &err));
    g_assert_no_error(err);
    LinuxBootInfo bi;
    g_assert_true(pc_machine_boot_info(f->m, &bi));
    g_assert_cmphex(bi.entry, ==, 0x1000000);
    g_assert_cmphex(bi.start_info, ==, PVH_START_INFO_ADDR);
    g_assert_cmpmem(f->ram + 0xe0000, 8, "RSD PTR ", 8);
    g_assert_cmpmem(f->ram + 0x1000000, 4, "\xf4\xeb\xfd\x90", 4);
    g_assert_cmpstr((char *)f->ram + LINUX_CMDLINE_ADDR, ==, "console=ttyS0");
    /* PCI: the host bridge, the southbridge in slot 1 (ISA .0, IDE .1 without a drive, as
     * upstream's, PM .3), then the NIC in slot 2 with its BAR assigned */
    g_assert_cmphex(cfg_read(f, 0, 0), ==, 0x12378086);
    g_assert_cmphex(cfg_read(f, 8, 0), ==, 0x70008086);
    g_assert_cmphex(cfg_read(f, 8, 0x0c) >> 16 & 0xff, ==, 0x80); /* multi-function */
    g_assert_cmphex(cfg_read(f, 9, 0), ==, 0x70108086);
    g_assert_cmphex(cfg_read(f, 11, 0), ==, 0x71138086);
    g_assert_cmphex(cfg_read(f, 16, 0), ==, 0x10001af4);
    g_assert_cmphex(cfg_read(f, 16, 0x20) & ~0xfu, ==, PC_PCI_MEM_BASE);
    /* slot 2 INTA: PIRQ B, as SeaBIOS says */
    g_assert_cmphex(cfg_read(f, 16, 0x3c) & 0xff, ==, 10);
    /* the device config is in the BAR: the MAC */
    g_assert_cmphex(pc_machine_mmio_read(f->m, PC_PCI_MEM_BASE + 0x2005, 1), ==, 0xcc);
    /* adding devices after realize is refused */
    expect_device_error(f, "virtio-net-pci", "Bus 'pci.0' does not support hotplugging");
}

static void test_interrupt_path(Fixture *f, gconstpointer data)
{
    g_assert_true(pc_machine_realize(f->m, NULL));
    /* Linux's PIC init with vectors 0x30, then the PIT on IRQ 0 with a short period */
    static const uint8_t init[][2] = {{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
                                      {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01},
                                      {0x21, 0xfe}, {0xa1, 0xff}};
    for (size_t i = 0; i < G_N_ELEMENTS(init); i++) {
        pc_machine_pio_write(f->m, init[i][0], init[i][1], 1);
    }
    pc_machine_pio_write(f->m, 0x43, 0x34, 1);
    pc_machine_pio_write(f->m, 0x40, 100, 1);
    pc_machine_pio_write(f->m, 0x40, 0, 1);
    g_usleep(2000);
    hw_clock_run_timers(pc_machine_clock(f->m));
    g_assert_cmpint(f->cpu_irq, ==, 1);
    g_assert_cmpint(pc_machine_irq_ack(f->m), ==, 0x30);
    g_assert_cmpint(f->cpu_irq, ==, 0);
    pc_machine_pio_write(f->m, 0x20, 0x20, 1);
    /* the serial port's THRE interrupt is masked at the PIC: no INTR */
    pc_machine_pio_write(f->m, 0x3f9, 0x02, 1);
    g_assert_cmpint(f->cpu_irq, ==, 0);
    pc_machine_pio_write(f->m, 0x21, 0xee, 1);
    g_assert_cmpint(f->cpu_irq, ==, 1);
    g_assert_cmpint(pc_machine_irq_ack(f->m), ==, 0x34);
}

/* IA32_APIC_BASE bit 11 off: the local APIC is out of the way and the PIC drives INTR directly,
 * whatever LINT0 says; back on, the masked LINT0 blocks it again. */
static void test_apic_base_enable(Fixture *f, gconstpointer data)
{
    g_assert_true(pc_machine_realize(f->m, NULL));
    static const uint8_t init[][2] = {{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
                                      {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01},
                                      {0x21, 0xef}, {0xa1, 0xff}};
    for (size_t i = 0; i < G_N_ELEMENTS(init); i++) {
        pc_machine_pio_write(f->m, init[i][0], init[i][1], 1);
    }
    pc_machine_mmio_write(f->m, 0xfee00350, 0x10700, 4); /* LINT0: ExtINT, masked */
    pc_machine_pio_write(f->m, 0x3f9, 0x02, 1);          /* COM1 THRE: IRQ 4 rises */
    g_assert_cmpint(f->cpu_irq, ==, 0);
    pc_machine_apic_base_write(f->m, 0xfee00000ull | (1u << 8));
    g_assert_cmpint(f->cpu_irq, ==, 1);
    g_assert_cmpint(pc_machine_irq_ack(f->m), ==, 0x34);
    pc_machine_pio_write(f->m, 0x20, 0x20, 1);
    pc_machine_pio_write(f->m, 0x3f9, 0x00, 1);
    pc_machine_pio_write(f->m, 0x3f9, 0x02, 1);
    g_assert_cmpint(f->cpu_irq, ==, 1);
    pc_machine_apic_base_write(f->m, 0xfee00000ull | (1u << 8) | (1u << 11));
    g_assert_cmpint(f->cpu_irq, ==, 0);
}

static void test_reset_and_poweroff(Fixture *f, gconstpointer data)
{
    g_assert_true(pc_machine_realize(f->m, NULL));
    pc_machine_pio_write(f->m, 0x64, 0xfe, 1);
    g_assert_cmpint(f->resets, ==, 1);
    pc_machine_pio_write(f->m, 0xcf9, 0x06, 1);
    g_assert_cmpint(f->resets, ==, 2);
    pc_machine_pio_write(f->m, ACPI_PM1_CNT, 0x2001, 2);
    g_assert_cmpint(f->poweroffs, ==, 1);
    /* a reset reloads the kernel over whatever the guest wrote */
    memset(f->ram + 0x1000000, 0, 4);
    g_assert_true(pc_machine_reset(f->m, NULL));
    g_assert_cmpmem(f->ram + 0x1000000, 4, "\xf4\xeb\xfd\x90", 4);
    /* as upstream's: unowned ports read all-ones (aligned) or 0 (unaligned), unowned MMIO 0 */
    g_assert_cmphex(pc_machine_pio_read(f->m, 0x1234, 1), ==, 0xff);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0x1234, 4), ==, 0xffffffff);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0x1235, 2), ==, 0);
    g_assert_cmphex(pc_machine_mmio_read(f->m, 0xf0000000, 4), ==, 0);
    pc_machine_mmio_write(f->m, 0xf0000000, 1, 4);
}

static void test_machine_errors(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    PcMachineOptions o = {.ram_size = RAM_SIZE, .initrd = "/x"};
    g_assert_null(pc_machine_new(&o, &f->hooks, &err));
    g_assert_cmpstr(err->message, ==, "-initrd only allowed with -kernel option");
    g_clear_error(&err);
    o = (PcMachineOptions){.ram_size = RAM_SIZE, .append = "x"};
    g_assert_null(pc_machine_new(&o, &f->hooks, &err));
    g_assert_cmpstr(err->message, ==, "-append only allowed with -kernel option");
    g_clear_error(&err);
    o = (PcMachineOptions){.ram_size = RAM_SIZE, .kernel = "/nonexistent"};
    PcMachine *m = pc_machine_new(&o, &f->hooks, NULL);
    g_assert_false(pc_machine_realize(m, &err));
    g_assert_cmpstr(err->message, ==,
                    "qemu: could not open kernel file '/nonexistent': No such file or directory");
    g_clear_error(&err);
    pc_machine_free(m);
}

static uint8_t cmos(PcMachine *m, int reg)
{
    pc_machine_pio_write(m, 0x70, reg, 1);
    return pc_machine_pio_read(m, 0x71, 1);
}

/* With firmware: -boot once= in CMOS for the first boot, order= after a reset; the pc's own
 * checks of the drive letters; fw_cfg's signature on its ports; the host bridge's PAM bytes
 * writable and cleared by a reset. */
static void test_firmware_boot_order(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    PcMachineOptions o = {.ram_size = RAM_SIZE, .firmware = true, .boot_order = "e"};
    g_assert_null(pc_machine_new(&o, &f->hooks, &err));
    g_assert_cmpstr(err->message, ==, "Invalid boot device for PC: 'e'");
    g_clear_error(&err);
    o.boot_order = "cdna";
    g_assert_null(pc_machine_new(&o, &f->hooks, &err));
    g_assert_cmpstr(err->message, ==, "Too many boot devices for PC");
    g_clear_error(&err);
    o = (PcMachineOptions){.ram_size = RAM_SIZE,
                           .firmware = true,
                           .boot_order = "cn",
                           .boot_once = "dca",
                           .splash_time = -1,
                           .reboot_timeout = -1};
    PcMachine *m = pc_machine_new(&o, &f->hooks, NULL);
    g_assert_nonnull(m);
    g_assert_true(pc_machine_realize(m, NULL));
    g_assert_cmphex(cmos(m, 0x3d), ==, 0x23); /* d, then c */
    g_assert_cmphex(cmos(m, 0x38), ==, 0x10); /* a third */
    pc_machine_pio_write(m, 0x510, FW_CFG_SIGNATURE, 2);
    g_assert_cmphex(pc_machine_pio_read(m, 0x511, 1), ==, 'Q');
    pc_machine_pio_write(m, 0xcf8, 0x80000058, 4);
    pc_machine_pio_write(m, 0xcfd, 0x30, 1); /* PAM0 */
    g_assert_cmphex(pc_machine_pio_read(m, 0xcfd, 1), ==, 0x30);
    g_assert_true(pc_machine_reset(m, NULL));
    g_assert_cmphex(cmos(m, 0x3d), ==, 0x42); /* c, then n */
    g_assert_cmphex(cmos(m, 0x38), ==, 0x00);
    pc_machine_pio_write(m, 0xcf8, 0x80000058, 4);
    g_assert_cmphex(pc_machine_pio_read(m, 0xcfd, 1), ==, 0);
    pc_machine_free(m);
}

/* The contents of fw_cfg file name, read through the ports as the firmware does; NULL when
 * the directory lacks it. */
static char *fw_cfg_file(PcMachine *m, const char *name)
{
    pc_machine_pio_write(m, 0x510, FW_CFG_FILE_DIR, 2);
    guint32 count = 0;
    for (int i = 0; i < 4; i++) {
        count = count << 8 | pc_machine_pio_read(m, 0x511, 1);
    }
    for (guint32 n = 0; n < count; n++) {
        guint8 e[64];
        for (int i = 0; i < 64; i++) {
            e[i] = pc_machine_pio_read(m, 0x511, 1);
        }
        if (!strncmp((const char *)e + 8, name, 56)) {
            guint32 size = (guint32)e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3];
            pc_machine_pio_write(m, 0x510, e[4] << 8 | e[5], 2);
            char *data = g_malloc0(size + 1);
            for (guint32 i = 0; i < size; i++) {
                data[i] = pc_machine_pio_read(m, 0x511, 1);
            }
            return data;
        }
    }
    return NULL;
}

/* bootindex= on IDE devices: upstream's paths by channel and unit, in index order; a negative
 * index leaves the device out; an index used twice is refused before the device exists. */
static void test_ide_bootindex(Fixture *f, gconstpointer data)
{
    PcMachineOptions o = {.ram_size = RAM_SIZE,
                          .firmware = true,
                          .boot_strict = true,
                          .splash_time = -1,
                          .reboot_timeout = -1};
    pc_machine_free(f->m);
    f->m = pc_machine_new(&o, &f->hooks, NULL);
    g_assert_nonnull(f->m);
    g_assert_true(add_device(f, "ide-cd,bus=ide.1,unit=1,bootindex=5", NULL));
    g_assert_true(add_device(f, "ide-cd,bus=ide.0,bootindex=-1", NULL));
    g_assert_true(add_device(f, "ide-cd,bus=ide.1,unit=0,bootindex=2", NULL));
    expect_device_error(f, "ide-cd,bus=ide.0,bootindex=5", "The bootindex 5 has already been used");
    g_assert_true(add_device(f, "ide-cd,bus=ide.0,unit=1,bootindex=-1", NULL));
    expect_device_error(f, "ide-cd,bootindex=2147483648", "Parameter 'bootindex' expects int32_t");
    expect_device_error(f, "ide-cd,bootindex=x", "Parameter 'bootindex' expects integer");
    g_assert_true(pc_machine_realize(f->m, NULL));
    g_autofree char *order = fw_cfg_file(f->m, "bootorder");
    g_assert_cmpstr(order, ==,
                    "/pci@i0cf8/ide@1,1/drive@1/disk@0\n"
                    "/pci@i0cf8/ide@1,1/drive@1/disk@1\nHALT");
}

static void test_machine_props(Fixture *f, gconstpointer data)
{
    g_assert_true(pc_machine_type_is_pc("pc"));
    g_assert_true(pc_machine_type_is_pc("pc-i440fx-7.2"));
    g_assert_false(pc_machine_type_is_pc("q35"));
    PcMachineOptions o = {0};
    GError *err = NULL;
    g_autoptr(KeyvalList) a = keyval_parse("pc,acpi=off", "type", KEYVAL_OPTS, NULL);
    g_assert_true(pc_machine_parse_props(a, &o, NULL));
    g_assert_false(o.acpi);
    g_autoptr(KeyvalList) b = keyval_parse("pc,accel=tcg", "type", KEYVAL_OPTS, NULL);
    g_assert_true(pc_machine_parse_props(b, &o, NULL));
    g_assert_true(o.acpi);
    g_autoptr(KeyvalList) c = keyval_parse("pc,acpi=maybe", "type", KEYVAL_OPTS, NULL);
    g_assert_false(pc_machine_parse_props(c, &o, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'acpi' does not accept value 'maybe'");
    g_clear_error(&err);
    g_assert_false(o.no_hpet);
    g_autoptr(KeyvalList) h = keyval_parse("pc,hpet=off", "type", KEYVAL_OPTS, NULL);
    g_assert_true(pc_machine_parse_props(h, &o, NULL));
    g_assert_true(o.no_hpet);
    g_autoptr(KeyvalList) h2 = keyval_parse("pc,hpet=on", "type", KEYVAL_OPTS, NULL);
    g_assert_true(pc_machine_parse_props(h2, &o, NULL));
    g_assert_false(o.no_hpet);
    g_autoptr(KeyvalList) h3 = keyval_parse("pc,hpet=maybe", "type", KEYVAL_OPTS, NULL);
    g_assert_false(pc_machine_parse_props(h3, &o, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'hpet' expects 'on' or 'off'");
    g_clear_error(&err);
    g_autoptr(KeyvalList) d = keyval_parse("pc-i440fx-7.2,foo=1", "type", KEYVAL_OPTS, NULL);
    g_assert_false(pc_machine_parse_props(d, &o, &err));
    g_assert_cmpstr(err->message, ==, "Property 'pc-i440fx-7.2-machine.foo' not found");
    g_clear_error(&err);
    g_assert_nonnull(strstr(PC_MACHINE_HELP, "(alias of pc-i440fx-7.2)"));
}

static void test_nic_requests(Fixture *f, gconstpointer data)
{
    /* through the real net core this time */
    PcMachineHooks hooks = f->hooks;
    hooks.nic_attach = NULL;
    PcMachineOptions opts = {.ram_size = RAM_SIZE};
    PcMachine *m = pc_machine_new(&opts, &hooks, NULL);
    GError *err = NULL;
    g_autoptr(KeyvalList) kv = keyval_parse("user,model=virtio-net-pci,mac=52:54:00:00:00:09",
                                            "type", KEYVAL_OPTS | KEYVAL_QUIET, &err);
    g_assert_true(net_nic_init_from_opts(kv, &err));
    g_assert_no_error(err);
    g_assert_true(pc_machine_add_nic_requests(m, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(pc_machine_nic_count(m), ==, 1);
    const char *name;
    VirtIONet *nic = pc_machine_nic(m, 0, &name);
    g_assert_nonnull(nic);
    g_assert_cmpstr(name, ==, "virtio-net-pci.0");
    g_assert_true(pc_machine_realize(m, NULL));
    g_assert_cmphex(pc_machine_mmio_read(m, PC_PCI_MEM_BASE + 0x2005, 1), ==, 0x09);
    pc_machine_free(m);
    net_cleanup();
    /* a model the machine does not have */
    m = pc_machine_new(&opts, &hooks, NULL);
    g_autoptr(KeyvalList) kv2 =
        keyval_parse("user,model=e1000", "type", KEYVAL_OPTS | KEYVAL_QUIET, &err);
    g_assert_true(net_nic_init_from_opts(kv2, &err));
    g_assert_false(pc_machine_add_nic_requests(m, &err));
    g_assert_cmpstr(err->message, ==, "Unsupported NIC model: e1000");
    g_clear_error(&err);
    pc_machine_free(m);
    net_cleanup();
}

/* The PIIX4 PM function (00:01.3): its identity as 7.2's, the block where a -kernel boot's
 * "firmware" put it (as SeaBIOS does: PMBA 0x601, PMREGMISC 1), moved by PMBA, turned off by
 * PMREGMISC, off after a reset until placed again; the SMBus host answers "no device"; GPE0
 * at 0xafe0. */
static void test_piix4_pm(Fixture *f, gconstpointer data)
{
    const int pm = PCI_DEVFN(1, 3);
    g_assert_true(pc_machine_realize(f->m, NULL));
    g_assert_cmphex(cfg_read(f, pm, 0x00), ==, 0x71138086);
    g_assert_cmphex(cfg_read(f, pm, 0x04), ==, 0x02800004);      /* status; bus master (firmware) */
    g_assert_cmphex(cfg_read(f, pm, 0x08), ==, 0x06800003);      /* class 0680, revision 3 */
    g_assert_cmphex(cfg_read(f, pm, 0x3c) & 0xffff, ==, 0x0109); /* pin A, line 9 (SCI) */
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMBA), ==, ACPI_PM_BASE | 1);
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMREGMISC) & 0xff, ==, 1);
    g_assert_cmphex(cfg_read(f, pm, 0x58) >> 24, ==, 0x02); /* APMC_EN: no SMM set-up */
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_SMBBA), ==, 0x701);
    /* the PM timer counts at 0x608 */
    uint32_t t0 = pc_machine_pio_read(f->m, ACPI_PM_TMR, 4);
    g_usleep(2000);
    uint32_t t1 = pc_machine_pio_read(f->m, ACPI_PM_TMR, 4);
    g_assert_cmpuint(t1 - t0, >, 0);
    g_assert_cmpuint(t1 - t0, <, 0x1000000);
    /* PM1a: the power button's enable bit is kept where the guest writes it */
    pc_machine_pio_write(f->m, ACPI_PM1_EVT + 2, 0x0100, 2);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_PM1_EVT + 2, 2), ==, 0x0100);
    /* PMBA moves the block (bits 15:6 only), with its registers */
    cfg_write(f, pm, PIIX4_PM_PMBA, 0xb07f);
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMBA), ==, 0xb07f);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_PM1_EVT + 2, 2), ==, 0xffff);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0xb042, 2), ==, 0x0100);
    t0 = pc_machine_pio_read(f->m, 0xb048, 4);
    g_usleep(2000);
    g_assert_cmpuint(pc_machine_pio_read(f->m, 0xb048, 4) - t0, >, 0);
    pc_machine_pio_write(f->m, 0xb044, 0x2001, 2); /* S5 at the new place */
    g_assert_cmpint(f->poweroffs, ==, 1);
    /* PMREGMISC bit 0 off: nothing decodes there */
    cfg_write(f, pm, PIIX4_PM_PMREGMISC, 0);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0xb042, 2), ==, 0xffff);
    /* GPE0: enable bits kept, status write-1-to-clear */
    pc_machine_pio_write(f->m, ACPI_GPE0_BLK + 2, 0x0003, 2);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_GPE0_BLK, 4), ==, 0x00030000);
    /* SMBus: a quick command to any address ends in DEV_ERR, cleared by writing it back */
    pc_machine_pio_write(f->m, 0x704, 0xa1, 1);
    pc_machine_pio_write(f->m, 0x702, 0x40, 1);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0x700, 1), ==, 0x04);
    pc_machine_pio_write(f->m, 0x700, 0x04, 1);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0x700, 1), ==, 0x00);
    /* a reset puts the block back where the firmware's work places it */
    g_assert_true(pc_machine_reset(f->m, NULL));
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMBA), ==, ACPI_PM_BASE | 1);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_PM1_EVT + 2, 2), ==, 0);
    g_assert_cmphex(pc_machine_pio_read(f->m, 0xb042, 2), ==, 0xffff);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_GPE0_BLK, 4), ==, 0);
}

/* With firmware the block stays off after reset (PMBA 0x0001, PMREGMISC 0) until SeaBIOS
 * programs it; SMBBA keeps the machine's 0xb100 (set at creation, not by reset). */
static void test_piix4_pm_firmware(Fixture *f, gconstpointer data)
{
    const int pm = PCI_DEVFN(1, 3);
    PcMachineOptions o = {.ram_size = RAM_SIZE, .firmware = true, .acpi = true};
    pc_machine_free(f->m);
    f->m = pc_machine_new(&o, &f->hooks, NULL);
    g_assert_nonnull(f->m);
    g_assert_true(pc_machine_realize(f->m, NULL));
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMBA), ==, 0x0001);
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_PMREGMISC) & 0xff, ==, 0);
    g_assert_cmphex(cfg_read(f, pm, PIIX4_PM_SMBBA), ==, PIIX4_SMB_DEFAULT | 1);
    g_assert_cmphex(cfg_read(f, pm, 0x3c) & 0xffff, ==, 0x0100);
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_PM_TMR, 4), ==, 0xffffffff);
    /* SeaBIOS's piix4_pm_setup */
    cfg_write(f, pm, PIIX4_PM_PMBA, ACPI_PM_BASE | 1);
    cfg_write(f, pm, PIIX4_PM_PMREGMISC, 1);
    uint32_t t0 = pc_machine_pio_read(f->m, ACPI_PM_TMR, 4);
    g_usleep(2000);
    g_assert_cmpuint(pc_machine_pio_read(f->m, ACPI_PM_TMR, 4) - t0, >, 0);
    g_assert_true(pc_machine_reset(f->m, NULL));
    g_assert_cmphex(pc_machine_pio_read(f->m, ACPI_PM_TMR, 4), ==, 0xffffffff);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/pc/device-errors", test_device_errors);
    ADD("/pc/ram-size", test_ram_size);
    ADD("/pc/realize-firmware", test_realize_firmware);
    ADD("/pc/interrupt-path", test_interrupt_path);
    ADD("/pc/apic-base-enable", test_apic_base_enable);
    ADD("/pc/reset-poweroff", test_reset_and_poweroff);
    ADD("/pc/machine-errors", test_machine_errors);
    ADD("/pc/nic-requests", test_nic_requests);
    ADD("/pc/machine-props", test_machine_props);
    ADD("/pc/firmware-boot-order", test_firmware_boot_order);
    ADD("/pc/ide-bootindex", test_ide_bootindex);
    ADD("/pc/piix4-pm", test_piix4_pm);
    ADD("/pc/piix4-pm-firmware", test_piix4_pm_firmware);
    return g_test_run();
}
