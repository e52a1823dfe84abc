/* An ATA channel driven through its ports as libata's PIO path drives it, over a real raw
 * image: signature, IDENTIFY, multi-sector reads and writes with an interrupt per sector,
 * LBA48, out-of-range and unknown commands, an absent slave, state with a transfer half done. */
#include "block/block-backend.h"
#include "hw/ide/ide.h"
#include "io-helpers.h"
#include "tests/include/test-image.h"

#include <string.h>

#define DISK_SECTORS 2048
#define BASE         0x1f0
#define CTL          0x3f6

typedef struct Fixture {
    TestImage img;
    BlockBackend *blk;
    IoSpace *io;
    IrqProbe irq;
    IdeChannel *ch;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree uint8_t *img = g_malloc(DISK_SECTORS * 512);
    for (int i = 0; i < DISK_SECTORS * 512; i++) {
        img[i] = (i / 512 + i) & 0xff;
    }
    test_image_open(&f->img, "ide0-hd0", img, DISK_SECTORS * 512, false);
    f->blk = f->img.blk;
    GError *err = NULL;
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->irq, 14);
    f->ch = ide_channel_new(&f->irq.line);
    g_assert_true(ide_channel_attach(f->ch, 0, f->blk, "SERIAL-1", false, &err));
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    ide_channel_free(f->ch);
    io_space_free(f->io);
    test_image_close(&f->img);
}

static uint8_t status(Fixture *f)
{
    return io_space_read(f->io, BASE + 7, 1);
}

/* Waits (main loop) until the device is no longer busy; returns the status. */
static uint8_t wait_not_busy(Fixture *f)
{
    while (io_space_read(f->io, CTL, 1) & 0x80) {
        g_main_context_iteration(NULL, TRUE);
    }
    return io_space_read(f->io, CTL, 1);
}

static void issue(Fixture *f, uint8_t cmd, uint32_t lba, uint8_t count)
{
    io_space_write(f->io, BASE + 6, 0xe0 | ((lba >> 24) & 0x0f), 1);
    io_space_write(f->io, BASE + 2, count, 1);
    io_space_write(f->io, BASE + 3, lba & 0xff, 1);
    io_space_write(f->io, BASE + 4, (lba >> 8) & 0xff, 1);
    io_space_write(f->io, BASE + 5, (lba >> 16) & 0xff, 1);
    io_space_write(f->io, BASE + 7, cmd, 1);
}

static void read_sector(Fixture *f, uint8_t *buf)
{
    for (int i = 0; i < 256; i++) {
        uint16_t w = io_space_read(f->io, BASE, 2);
        buf[2 * i] = w;
        buf[2 * i + 1] = w >> 8;
    }
}

static void test_signature_identify(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(io_space_read(f->io, BASE + 2, 1), ==, 1);
    g_assert_cmpuint(io_space_read(f->io, BASE + 3, 1), ==, 1);
    g_assert_cmpuint(io_space_read(f->io, BASE + 4, 1), ==, 0);
    g_assert_cmpuint(io_space_read(f->io, BASE + 5, 1), ==, 0);
    g_assert_cmphex(status(f), ==, 0x50);

    /* The absent slave reads as nothing (libata's presence check writes then reads back). */
    io_space_write(f->io, BASE + 6, 0xb0, 1);
    io_space_write(f->io, BASE + 2, 0x55, 1);
    g_assert_cmpuint(io_space_read(f->io, BASE + 2, 1), ==, 0);
    g_assert_cmpuint(status(f), ==, 0);
    io_space_write(f->io, BASE + 6, 0xa0, 1);

    io_space_write(f->io, BASE + 7, 0xec, 1);
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(status(f) & 0x08, ==, 0x08);
    g_assert_cmpint(f->irq.level, ==, 0); /* the status read acknowledged it */
    uint8_t id[512];
    read_sector(f, id);
    g_assert_cmphex(status(f), ==, 0x50);
    /* Words 60-61: sectors; 100-103: LBA48 sectors; 27-46 the model, byte-swapped. */
    g_assert_cmpuint(id[120] | id[121] << 8 | id[122] << 16 | id[123] << 24, ==, DISK_SECTORS);
    g_assert_cmpuint(id[200] | id[201] << 8, ==, DISK_SECTORS);
    g_assert_cmpmem(id + 54, 4, "EQUM", 4);
    g_assert_cmpmem(id + 20, 8, "ESIRLA1-", 8);
    g_assert_cmphex(id[99] & 0x03, ==, 0x02); /* LBA, no DMA */
}

static void test_read_write(Fixture *f, gconstpointer data)
{
    uint8_t buf[512];
    issue(f, 0x20, 100, 3);
    g_assert_cmphex(io_space_read(f->io, CTL, 1) & 0x80, ==, 0x80); /* busy: on the disk */
    for (int s = 0; s < 3; s++) {
        uint8_t st = wait_not_busy(f);
        g_assert_cmphex(st & 0x09, ==, 0x08);
        g_assert_cmpint(f->irq.level, ==, 1); /* one interrupt per sector */
        status(f);
        read_sector(f, buf);
        for (int i = 0; i < 512; i++) {
            g_assert_cmpuint(buf[i], ==, ((100 + s) * 512 + i + 100 + s) & 0xff);
        }
    }
    g_assert_cmphex(status(f), ==, 0x50);

    /* Two sectors written (LBA48 EXT), then read back through the image file. */
    io_space_write(f->io, BASE + 2, 0, 1); /* high count byte */
    io_space_write(f->io, BASE + 3, 0, 1);
    io_space_write(f->io, BASE + 4, 0, 1);
    io_space_write(f->io, BASE + 5, 0, 1);
    issue(f, 0x34, 1000, 2);
    for (int s = 0; s < 2; s++) {
        g_assert_cmphex(wait_not_busy(f) & 0x08, ==, 0x08);
        for (int i = 0; i < 256; i++) {
            io_space_write(f->io, BASE, 0x4100 + s + i, 2);
        }
    }
    g_assert_cmphex(wait_not_busy(f), ==, 0x50);
    g_assert_cmpint(f->irq.level, ==, 1);
    issue(f, 0xe7, 0, 0); /* FLUSH CACHE */
    g_assert_cmphex(wait_not_busy(f), ==, 0x50);
    g_autofree char *img = NULL;
    gsize size;
    g_assert_true(g_file_get_contents(f->img.path, &img, &size, NULL));
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 256; i++) {
            uint16_t w = (uint8_t)img[(1000 + s) * 512 + 2 * i] |
                         (uint8_t)img[(1000 + s) * 512 + 2 * i + 1] << 8;
            g_assert_cmphex(w, ==, 0x4100 + s + i);
        }
    }
}

static void test_errors(Fixture *f, gconstpointer data)
{
    issue(f, 0x20, DISK_SECTORS - 1, 2); /* past the end */
    g_assert_cmphex(status(f), ==, 0x41);
    g_assert_cmphex(io_space_read(f->io, BASE + 1, 1), ==, 0x14); /* IDNF | ABRT */
    issue(f, 0xa0, 0, 0);                                         /* PACKET: not a disk command */
    g_assert_cmphex(status(f), ==, 0x41);
    g_assert_cmphex(io_space_read(f->io, BASE + 1, 1), ==, 0x04);
    /* nIEN masks the interrupt; SRST brings the signature back. */
    io_space_write(f->io, CTL, 0x02, 1);
    issue(f, 0xe5, 0, 0);
    g_assert_cmpint(f->irq.level, ==, 0);
    io_space_write(f->io, CTL, 0x06, 1);
    io_space_write(f->io, CTL, 0x02, 1);
    g_assert_cmpuint(io_space_read(f->io, BASE + 2, 1), ==, 1);
    g_assert_cmphex(status(f), ==, 0x50);
}

static void test_state_mid_transfer(Fixture *f, gconstpointer data)
{
    uint8_t first[512], second[512];
    issue(f, 0x20, 10, 2);
    wait_not_busy(f);
    read_sector(f, first);
    /* Saved between the two sectors, loaded into a second channel on the same disk. */
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "ide", 0, &vmstate_ide_channel, f->ch);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(set, stream, &err));
    ide_channel_free(f->ch);
    io_space_free(f->io);
    f->io = io_space_new("io", 0x10000);
    f->ch = ide_channel_new(&f->irq.line);
    g_assert_true(ide_channel_attach(f->ch, 0, f->blk, NULL, false, &err));
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
    g_autoptr(VMStateSet) set2 = vmstate_set_new();
    vmstate_set_add(set2, "ide", 0, &vmstate_ide_channel, f->ch);
    g_assert_true(vmstate_set_load(set2, stream->data, stream->len, &err));
    g_assert_no_error(err);
    g_assert_cmphex(status(f) & 0x08, ==, 0x08);
    read_sector(f, second);
    for (int i = 0; i < 512; i++) {
        g_assert_cmpuint(second[i], ==, (11 * 512 + i + 11) & 0xff);
    }
    g_assert_cmphex(status(f), ==, 0x50);
}

/* --- bus-master DMA over a plain buffer as guest RAM ----------------------------------------- */

#define RAM_SIZE (1 << 20)
static uint8_t *ram;

static bool ram_read(void *opaque, uint64_t gpa, void *buf, uint64_t len)
{
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa) {
        return false;
    }
    memcpy(buf, ram + gpa, len);
    return true;
}

static bool ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa) {
        return false;
    }
    memcpy(ram + gpa, buf, len);
    return true;
}

static const DmaSpace ram_dma = {.read = ram_read, .write = ram_write};

static void put_prd(uint32_t at, uint32_t addr, uint16_t len, bool eot)
{
    uint8_t *e = ram + at;
    e[0] = addr, e[1] = addr >> 8, e[2] = addr >> 16, e[3] = addr >> 24;
    e[4] = len, e[5] = len >> 8, e[6] = 0, e[7] = eot ? 0x80 : 0;
}

/* As ata_bmdma_setup/start: table address, direction, command, start bit. */
static void dma_issue(Fixture *f, uint8_t cmd, uint32_t lba, uint8_t count, bool to_ram)
{
    ide_bmdma_write(f->ch, 4, 0x1000, 4);
    ide_bmdma_write(f->ch, 0, to_ram ? 0x08 : 0, 1);
    issue(f, cmd, lba, count);
    ide_bmdma_write(f->ch, 0, to_ram ? 0x09 : 0x01, 1);
}

static void test_dma(Fixture *f, gconstpointer data)
{
    ram = g_malloc0(RAM_SIZE);
    ide_channel_set_dma(f->ch, &ram_dma);
    uint8_t id[512];
    issue(f, 0xec, 0, 0);
    wait_not_busy(f);
    read_sector(f, id);
    g_assert_cmphex(id[99] & 0x03, ==, 0x03); /* LBA and DMA */
    io_space_write(f->io, BASE + 1, 0x03, 1);
    issue(f, 0xef, 0, 0x22); /* SET FEATURES: MWDMA2, shown in word 63 */
    g_assert_cmphex(status(f), ==, 0x50);
    issue(f, 0xec, 0, 0);
    wait_not_busy(f);
    read_sector(f, id);
    g_assert_cmphex(id[126] | id[127] << 8, ==, 0x0407);

    /* READ DMA of 3 sectors over two regions, 1000 + 536 bytes. */
    put_prd(0x1000, 0x20000, 1000, false);
    put_prd(0x1008, 0x30000, 536, true);
    dma_issue(f, 0xc8, 40, 3, true);
    g_assert_cmphex(wait_not_busy(f), ==, 0x50);
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0x04); /* INT, no longer ACTIVE */
    for (int i = 0; i < 1536; i++) {
        uint8_t got = i < 1000 ? ram[0x20000 + i] : ram[0x30000 + i - 1000];
        g_assert_cmpuint(got, ==, (40 * 512 + i + 40 + i / 512) & 0xff);
    }
    g_assert_cmpuint(ram[0x30000 + 536], ==, 0);
    ide_bmdma_write(f->ch, 0, 0, 1);    /* stop, as the driver's interrupt handler */
    ide_bmdma_write(f->ch, 2, 0x06, 1); /* INT and ERR are write-one-to-clear */
    status(f);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0);

    /* WRITE DMA EXT of 2 sectors from one region, then read back by PIO. */
    for (int i = 0; i < 1024; i++) {
        ram[0x40000 + i] = 0x5a ^ i;
    }
    put_prd(0x1000, 0x40000, 1024, true);
    for (int r = 2; r <= 5; r++) {
        io_space_write(f->io, BASE + r, 0, 1); /* the high-order bytes */
    }
    dma_issue(f, 0x35, 300, 2, false);
    g_assert_cmphex(wait_not_busy(f), ==, 0x50);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0x04);
    ide_bmdma_write(f->ch, 0, 0, 1);
    ide_bmdma_write(f->ch, 2, 0x06, 1);
    uint8_t buf[512];
    issue(f, 0x20, 300, 2);
    for (int s = 0; s < 2; s++) {
        wait_not_busy(f);
        status(f);
        read_sector(f, buf);
        for (int i = 0; i < 512; i++) {
            g_assert_cmpuint(buf[i], ==, (0x5a ^ (s * 512 + i)) & 0xff);
        }
    }

    /* A table shorter than the command: the engine stops, no interrupt. */
    put_prd(0x1000, 0x20000, 512, true);
    status(f);
    dma_issue(f, 0xc8, 0, 2, true);
    wait_not_busy(f);
    g_assert_cmpint(f->irq.level, ==, 0);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1) & 0x01, ==, 0);
    ide_bmdma_write(f->ch, 0, 0, 1);

    /* A region outside RAM: ERR, INT and the command aborted. */
    put_prd(0x1000, RAM_SIZE - 256, 512, true);
    dma_issue(f, 0xc8, 0, 1, true);
    g_assert_cmphex(wait_not_busy(f), ==, 0x41);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0x06);
    ide_bmdma_write(f->ch, 0, 0, 1);
    g_free(ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    block_register_types();
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/ide/signature-identify", test_signature_identify);
    ADD("/ide/read-write", test_read_write);
    ADD("/ide/errors", test_errors);
    ADD("/ide/state-mid-transfer", test_state_mid_transfer);
    ADD("/ide/dma", test_dma);
    return g_test_run();
}
