/* An ATA channel driven through its ports as libata's PIO path drives it, over a real raw
 * image: signature, IDENTIFY, multi-sector reads and writes with an interrupt per sector,
 * LBA48, out-of-range and unknown commands, an absent slave, state with a transfer half done;
 * bus-master DMA; and an ATAPI CD beside a disk: PACKET by PIO (byte count limits) and DMA,
 * the MMC commands and their sense codes, tray, lock and medium changes, an empty drive. */
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

/* The channel's state as a migration stream. */
static GByteArray *save_channel(IdeChannel *ch)
{
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "ide", 0, &vmstate_ide_channel, ch);
    GByteArray *stream = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(set, stream, &err));
    return stream;
}

static void load_channel(IdeChannel *ch, GByteArray *stream)
{
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "ide", 0, &vmstate_ide_channel, ch);
    GError *err = NULL;
    g_assert_true(vmstate_set_load(set, stream->data, stream->len, &err));
    g_assert_no_error(err);
}

static void test_state_mid_transfer(Fixture *f, gconstpointer data)
{
    uint8_t first[512], second[512];
    issue(f, 0x20, 10, 2);
    wait_not_busy(f);
    read_sector(f, first);
    /* Saved between the two sectors, loaded into a second channel on the same disk. */
    g_autoptr(GByteArray) stream = save_channel(f->ch);
    GError *err = NULL;
    ide_channel_free(f->ch);
    io_space_free(f->io);
    f->io = io_space_new("io", 0x10000);
    f->ch = ide_channel_new(&f->irq.line);
    g_assert_true(ide_channel_attach(f->ch, 0, f->blk, NULL, false, &err));
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
    load_channel(f->ch, stream);
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

/* The same RAM also mapped, as the pc's is: the device reads and writes it in place and says
 * which bytes it stored into; ram_writes counts the copies made instead. */
static uint8_t *ram_dirty;
static int ram_writes;

static bool counted_ram_write(void *opaque, uint64_t gpa, const void *buf, uint64_t len)
{
    ram_writes++;
    return ram_write(opaque, gpa, buf, len);
}

static void *ram_map(void *opaque, uint64_t gpa, uint64_t len)
{
    return gpa > RAM_SIZE || len > RAM_SIZE - gpa ? NULL : ram + gpa;
}

static void ram_written(void *opaque, uint64_t gpa, uint64_t len)
{
    g_assert_cmpuint(gpa + len, <=, RAM_SIZE);
    memset(ram_dirty + gpa, 1, len);
}

static const DmaSpace ram_dma_mapped = {
    .read = ram_read, .write = counted_ram_write, .map = ram_map, .written = ram_written};

/* Bytes of [gpa, gpa+len) marked dirty. */
static uint64_t dirty_bytes(uint64_t gpa, uint64_t len)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < len; i++) {
        n += ram_dirty[gpa + i];
    }
    return n;
}

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
    const DmaSpace *space = data;
    bool mapped = space->map != NULL;
    ram = g_malloc0(RAM_SIZE);
    ram_dirty = g_malloc0(RAM_SIZE);
    ram_writes = 0;
    ide_channel_set_dma(f->ch, space);
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
    if (mapped) {
        /* Read straight into the regions, no copy; exactly their bytes marked dirty. */
        g_assert_cmpint(ram_writes, ==, 0);
        g_assert_cmpuint(dirty_bytes(0, RAM_SIZE), ==, 1536);
        g_assert_cmpuint(dirty_bytes(0x20000, 1000) + dirty_bytes(0x30000, 536), ==, 1536);
    }
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

    if (mapped) {
        g_assert_cmpuint(dirty_bytes(0, RAM_SIZE), ==, 1536); /* a write dirties nothing */

        /* More regions than a mapped request takes (86 of 6 bytes, the last of 2): copied
         * through the buffer instead, with the same result. */
        for (int i = 0; i < 86; i++) {
            put_prd(0x1000 + 8 * i, 0x50000 + 16 * i, i < 85 ? 6 : 2, i == 85);
        }
        dma_issue(f, 0xc8, 300, 1, true);
        g_assert_cmphex(wait_not_busy(f), ==, 0x50);
        for (int i = 0; i < 512; i++) {
            g_assert_cmpuint(ram[0x50000 + 16 * (i / 6) + i % 6], ==, (0x5a ^ i) & 0xff);
        }
        g_assert_cmpint(ram_writes, ==, 86);
        ide_bmdma_write(f->ch, 0, 0, 1);
        ide_bmdma_write(f->ch, 2, 0x06, 1);
        status(f);
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
    g_clear_pointer(&ram_dirty, g_free);
}

/* --- ATAPI: a CD on unit 0 (its own image), a disk on unit 1 --------------------------------- */

#define CD_BLOCKS 40

typedef struct CdFixture {
    TestImage cd, disk;
    IoSpace *io;
    IrqProbe irq;
    IdeChannel *ch;
    int tray_events, last_tray_open;
} CdFixture;

static CdFixture *tray_watch;

static void record_tray(BlockBackend *blk, bool open)
{
    tray_watch->tray_events++;
    tray_watch->last_tray_open = open;
}

static uint8_t cd_byte(uint32_t off)
{
    return (off / 2048 * 7 + off) & 0xff;
}

static void cd_setup(CdFixture *f, gconstpointer data)
{
    g_autofree uint8_t *img = g_malloc(CD_BLOCKS * 2048);
    ram = NULL; /* the disk's DMA test freed its own */
    for (uint32_t i = 0; i < CD_BLOCKS * 2048; i++) {
        img[i] = cd_byte(i);
    }
    test_image_open(&f->cd, "ide1-cd0", img, CD_BLOCKS * 2048, true);
    test_image_open(&f->disk, "ide0-hd1", img, 64 * 512, false);
    GError *err = NULL;
    f->io = io_space_new("io", 0x10000);
    irq_probe_init(&f->irq, 15);
    f->ch = ide_channel_new(&f->irq.line);
    g_assert_true(ide_channel_attach(f->ch, 0, f->cd.blk, NULL, true, &err));
    g_assert_true(ide_channel_attach(f->ch, 1, f->disk.blk, NULL, false, &err));
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
    ide_channel_reset(f->ch); /* the machine resets once its devices are on */
    tray_watch = f;
    blk_set_tray_moved_handler(record_tray);
}

static void cd_teardown(CdFixture *f, gconstpointer data)
{
    blk_set_tray_moved_handler(NULL);
    ide_channel_free(f->ch);
    io_space_free(f->io);
    blk_unref(f->disk.blk);
    f->disk.blk = NULL;
    g_unlink(f->disk.path);
    g_rmdir(f->disk.dir);
    g_free(f->disk.path);
    g_free(f->disk.dir);
    test_image_close(&f->cd);
    g_free(ram);
    ram = NULL;
}

static uint8_t reg(CdFixture *f, int r)
{
    return io_space_read(f->io, BASE + r, 1);
}

static uint8_t cd_wait(CdFixture *f)
{
    while (io_space_read(f->io, CTL, 1) & 0x80) {
        g_main_context_iteration(NULL, TRUE);
    }
    return reg(f, 7); /* acknowledges */
}

/* PACKET with a byte count limit (PIO) or the DMA feature, then the 12-byte command. */
static void packet(CdFixture *f, const uint8_t *cdb, uint16_t limit, bool dma)
{
    io_space_write(f->io, BASE + 6, 0xa0, 1);
    io_space_write(f->io, BASE + 1, dma ? 1 : 0, 1);
    io_space_write(f->io, BASE + 4, limit & 0xff, 1);
    io_space_write(f->io, BASE + 5, limit >> 8, 1);
    io_space_write(f->io, BASE + 7, 0xa0, 1);
    g_assert_cmphex(reg(f, 7), ==, 0x58);
    g_assert_cmpuint(reg(f, 2), ==, 1); /* interrupt reason: command */
    g_assert_cmpint(f->irq.level, ==, 0);
    for (int i = 0; i < 12; i += 2) {
        io_space_write(f->io, BASE, cdb[i] | cdb[i + 1] << 8, 2);
    }
}

/* The PIO data phase: every DRQ block (at most max_block bytes, even unless last) into out;
 * returns the bytes and leaves the final status in *st. */
static size_t pio_in(CdFixture *f, uint8_t *out, size_t cap, uint16_t max_block, uint8_t *st)
{
    size_t n = 0;
    for (;;) {
        *st = cd_wait(f);
        if (!(*st & 0x08)) {
            return n;
        }
        g_assert_cmpuint(reg(f, 2), ==, 2); /* data to the host */
        uint32_t size = reg(f, 4) | reg(f, 5) << 8;
        g_assert_cmpuint(size, >, 0);
        g_assert_cmpuint(size, <=, max_block);
        for (uint32_t i = 0; i < size; i += 2) {
            uint16_t w = io_space_read(f->io, BASE, 2);
            g_assert_cmpuint(n + 2, <=, cap);
            out[n++] = w;
            if (i + 1 < size) {
                out[n++] = w >> 8;
            }
        }
    }
}

/* A command with no or little data, by PIO; returns the bytes; checks the status. */
static size_t cd_cmd(CdFixture *f, const uint8_t *cdb, uint8_t *out, size_t cap, uint8_t want_st)
{
    uint8_t st;
    packet(f, cdb, 0xfffe, false);
    size_t n = pio_in(f, out, cap, 0xfffe, &st);
    g_assert_cmphex(st, ==, want_st);
    /* Status phase; upstream's unit-attention refusal (no DRDY) clears the register. */
    g_assert_cmpuint(reg(f, 2), ==, (want_st & 0x40) ? 3 : 0);
    return n;
}

/* REQUEST SENSE: key << 8 | asc. */
static unsigned sense(CdFixture *f)
{
    uint8_t cdb[12] = {0x03, 0, 0, 0, 18}, out[32];
    g_assert_cmpuint(cd_cmd(f, cdb, out, sizeof(out), 0x50), ==, 18);
    g_assert_cmphex(out[0], ==, 0xf0);
    return (out[2] & 0x0f) << 8 | out[12];
}

/* A command that must fail with key/asc: status, error register and REQUEST SENSE agree. */
static void cd_fails(CdFixture *f, const uint8_t *cdb, unsigned key_asc)
{
    uint8_t out[64];
    g_assert_cmpuint(cd_cmd(f, cdb, out, sizeof(out), 0x41), ==, 0);
    g_assert_cmphex(reg(f, 1), ==, (key_asc >> 8) << 4);
    g_assert_cmphex(sense(f), ==, key_asc);
}

static void test_atapi_identify(CdFixture *f, gconstpointer data)
{
    /* Each unit shows its own signature after a reset: the CD's without DRDY. */
    g_assert_cmphex(reg(f, 4), ==, 0x14);
    g_assert_cmphex(reg(f, 5), ==, 0xeb);
    g_assert_cmphex(reg(f, 7), ==, 0x00);
    io_space_write(f->io, BASE + 6, 0xb0, 1);
    g_assert_cmphex(reg(f, 4), ==, 0x00);
    g_assert_cmphex(reg(f, 5), ==, 0x00);
    g_assert_cmphex(reg(f, 7), ==, 0x50);
    io_space_write(f->io, BASE + 6, 0xa0, 1);
    g_assert_cmphex(reg(f, 4), ==, 0x14);
    /* IDENTIFY DEVICE: aborted, the signature says ATAPI. */
    io_space_write(f->io, BASE + 7, 0xec, 1);
    g_assert_cmphex(reg(f, 7), ==, 0x41);
    g_assert_cmphex(reg(f, 1), ==, 0x04);
    g_assert_cmphex(reg(f, 5), ==, 0xeb);
    io_space_write(f->io, BASE + 7, 0xa1, 1);
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(reg(f, 7), ==, 0x58);
    uint8_t id[512];
    for (int i = 0; i < 256; i++) {
        uint16_t w = io_space_read(f->io, BASE, 2);
        id[2 * i] = w, id[2 * i + 1] = w >> 8;
    }
    g_assert_cmphex(reg(f, 7), ==, 0x50);
    g_assert_cmphex(id[0] | id[1] << 8, ==, 0x85c0); /* ATAPI CD-ROM, removable, 12 bytes */
    g_assert_cmpmem(id + 54, 12, "EQUMD DVR-MO", 12);
    /* Commands a CD does not take are aborted. */
    io_space_write(f->io, BASE + 7, 0xc8, 1);
    g_assert_cmphex(reg(f, 7), ==, 0x41);
}

static void test_atapi_pio(CdFixture *f, gconstpointer data)
{
    uint8_t out[16384];
    uint8_t inquiry[12] = {0x12, 0, 0, 0, 36};
    g_assert_cmpuint(cd_cmd(f, inquiry, out, sizeof(out), 0x50), ==, 36);
    g_assert_cmphex(out[0], ==, 0x05);
    g_assert_cmphex(out[1], ==, 0x80);
    g_assert_cmpmem(out + 8, 24, "QEMU    QEMU DVD-ROM    ", 24);
    /* The allocation length cuts the reply. */
    inquiry[4] = 5;
    g_assert_cmpuint(cd_cmd(f, inquiry, out, sizeof(out), 0x50), ==, 5);

    uint8_t capacity[12] = {0x25};
    g_assert_cmpuint(cd_cmd(f, capacity, out, sizeof(out), 0x50), ==, 8);
    g_assert_cmpuint(out[3], ==, CD_BLOCKS - 1);
    g_assert_cmpuint(out[6] << 8 | out[7], ==, 2048);

    uint8_t tur[12] = {0x00};
    g_assert_cmpuint(cd_cmd(f, tur, out, sizeof(out), 0x50), ==, 0);
    g_assert_cmpint(f->irq.level, ==, 0); /* acknowledged by the status read */

    /* READ(10) of 5 blocks from 3 with a byte count limit of 3001: blocks of at most 3000. */
    uint8_t read10[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 5};
    uint8_t st;
    packet(f, read10, 3001, false);
    g_assert_cmpuint(pio_in(f, out, sizeof(out), 3000, &st), ==, 5 * 2048);
    g_assert_cmphex(st, ==, 0x50);
    for (int i = 0; i < 5 * 2048; i++) {
        g_assert_cmpuint(out[i], ==, cd_byte(3 * 2048 + i));
    }
    /* READ(12) of the last block. */
    uint8_t read12[12] = {0xa8, 0, 0, 0, 0, CD_BLOCKS - 1, 0, 0, 0, 1};
    g_assert_cmpuint(cd_cmd(f, read12, out, sizeof(out), 0x50), ==, 2048);
    g_assert_cmpuint(out[100], ==, cd_byte((CD_BLOCKS - 1) * 2048 + 100));

    /* TOC: one data track and the lead-out at the capacity. */
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, toc, out, sizeof(out), 0x50), ==, 20);
    g_assert_cmphex(out[5], ==, 0x14);
    g_assert_cmphex(out[14], ==, 0xaa);
    g_assert_cmpuint(out[19], ==, CD_BLOCKS);
    /* MODE SENSE(10) capabilities page; GET CONFIGURATION shows the CD profile current. */
    uint8_t mode[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, mode, out, sizeof(out), 0x50), ==, 30);
    g_assert_cmphex(out[8], ==, 0x2a);
    uint8_t config[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, config, out, sizeof(out), 0x50), ==, 20);
    g_assert_cmphex(out[6] << 8 | out[7], ==, 0x0008);
    uint8_t disc[12] = {0x51, 0, 0, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, disc, out, sizeof(out), 0x50), ==, 34);
    g_assert_cmphex(out[2], ==, 0x0e);
}

static void test_atapi_sense(CdFixture *f, gconstpointer data)
{
    uint8_t bogus[12] = {0xff};
    cd_fails(f, bogus, 0x520); /* ILLEGAL REQUEST, invalid opcode */
    uint8_t past[12] = {0x28, 0, 0, 0, 0, CD_BLOCKS - 1, 0, 0, 2};
    cd_fails(f, past, 0x521); /* LBA out of range */
    uint8_t saved[12] = {0x5a, 0, 0xea, 0, 0, 0, 0, 0, 0xff};
    cd_fails(f, saved, 0x539); /* saving parameters not supported */
    uint8_t page[12] = {0x5a, 0, 0x05, 0, 0, 0, 0, 0, 0xff};
    cd_fails(f, page, 0x524); /* invalid field */
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 5, 0, 0xff};
    cd_fails(f, toc, 0x524);              /* a track that is not there */
    g_assert_cmphex(sense(f), ==, 0x524); /* kept until the next error */
}

static void test_atapi_media(CdFixture *f, gconstpointer data)
{
    uint8_t out[64];
    uint8_t tur[12] = {0x00};
    uint8_t gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1}, unlock[12] = {0x1e};
    uint8_t eject[12] = {0x1b, 0, 0, 0, 0x02}, load[12] = {0x1b, 0, 0, 0, 0x03};
    BlockBackend *blk = f->cd.blk;
    g_assert_true(blk_dev_has_tray(blk));

    /* The guest locks the tray: its eject is refused; the monitor sees the lock. */
    cd_cmd(f, lock, out, sizeof(out), 0x50);
    g_assert_true(blk_dev_is_medium_locked(blk));
    cd_fails(f, eject, 0x253); /* NOT READY, medium removal prevented */
    g_assert_cmpint(f->tray_events, ==, 0);
    cd_cmd(f, unlock, out, sizeof(out), 0x50);
    cd_cmd(f, eject, out, sizeof(out), 0x50);
    g_assert_true(blk_dev_is_tray_open(blk));
    g_assert_cmpint(f->tray_events, ==, 1);
    g_assert_cmpint(f->last_tray_open, ==, 1);
    cd_fails(f, tur, 0x23a); /* tray open: no medium */
    g_assert_cmpuint(cd_cmd(f, gesn, out, sizeof(out), 0x50), ==, 8);
    g_assert_cmphex(out[5], ==, 0x01); /* tray open */
    cd_cmd(f, load, out, sizeof(out), 0x50);
    g_assert_false(blk_dev_is_tray_open(blk));
    g_assert_cmpint(f->last_tray_open, ==, 0);
    cd_cmd(f, tur, out, sizeof(out), 0x50);

    /* The monitor takes the medium out and puts it back (blockdev-change-medium's steps): the
     * guest then sees NOT READY, UNIT ATTENTION, and a new-media event once. */
    blk_dev_change_media(blk, false);
    g_assert_cmpint(f->last_tray_open, ==, 1);
    BlockDriverState *bs = blk_bs(blk);
    bdrv_ref(bs);
    blk_remove_bs(blk);
    cd_fails(f, tur, 0x23a);
    uint8_t capacity[12] = {0x25};
    cd_fails(f, capacity, 0x23a);
    GError *err = NULL;
    g_assert_true(blk_insert_medium(blk, bs, &err));
    bdrv_unref(bs);
    blk_dev_change_media(blk, true);
    g_assert_cmpint(f->last_tray_open, ==, 0);
    g_assert_cmpuint(cd_cmd(f, gesn, out, sizeof(out), 0x50), ==, 8);
    g_assert_cmphex(out[4] << 8 | out[5], ==, 0x0202); /* new media, present */
    cd_cmd(f, gesn, out, sizeof(out), 0x50);
    g_assert_cmphex(out[4] << 8 | out[5], ==, 0x0002);
    cd_fails(f, tur, 0x23a);
    /* UNIT ATTENTION (upstream's "check status": no DRDY, the MC bit in the error). */
    g_assert_cmpuint(cd_cmd(f, tur, out, sizeof(out), 0x41), ==, 0);
    g_assert_cmphex(reg(f, 1), ==, 0x60);
    g_assert_cmpuint(cd_cmd(f, tur, out, sizeof(out), 0x01), ==, 0);
    g_assert_cmphex(sense(f), ==, 0x628);
    cd_cmd(f, tur, out, sizeof(out), 0x50);
}

static void test_atapi_dma(CdFixture *f, gconstpointer data)
{
    ram = g_malloc0(RAM_SIZE);
    ide_channel_set_dma(f->ch, &ram_dma);
    /* READ(10) of 3 blocks over two regions (5000 + 1144 bytes). */
    put_prd(0x1000, 0x20000, 5000, false);
    put_prd(0x1008, 0x30000, 1144, true);
    ide_bmdma_write(f->ch, 4, 0x1000, 4);
    ide_bmdma_write(f->ch, 0, 0x08, 1);
    uint8_t read10[12] = {0x28, 0, 0, 0, 0, 7, 0, 0, 3};
    packet(f, read10, 0, true);
    ide_bmdma_write(f->ch, 0, 0x09, 1);
    g_assert_cmphex(cd_wait(f), ==, 0x50);
    g_assert_cmpuint(reg(f, 2), ==, 3);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0x04);
    for (int i = 0; i < 3 * 2048; i++) {
        uint8_t got = i < 5000 ? ram[0x20000 + i] : ram[0x30000 + i - 5000];
        g_assert_cmpuint(got, ==, cd_byte(7 * 2048 + i));
    }
    ide_bmdma_write(f->ch, 0, 0, 1);
    ide_bmdma_write(f->ch, 2, 0x06, 1);
    /* A reply by DMA: INQUIRY into one region. */
    put_prd(0x1000, 0x40000, 36, true);
    ide_bmdma_write(f->ch, 0, 0x08, 1);
    uint8_t inquiry[12] = {0x12, 0, 0, 0, 36};
    packet(f, inquiry, 0, true);
    ide_bmdma_write(f->ch, 0, 0x09, 1);
    g_assert_cmphex(cd_wait(f), ==, 0x50);
    g_assert_cmpmem(ram + 0x40000 + 16, 12, "QEMU DVD-ROM", 12);
    ide_bmdma_write(f->ch, 0, 0, 1);
    /* A check condition needs no DMA: the error comes at once. */
    uint8_t past[12] = {0x28, 0, 0, 0, 1, 0, 0, 0, 1};
    packet(f, past, 0, true);
    g_assert_cmphex(cd_wait(f), ==, 0x41);
    g_assert_cmphex(sense(f), ==, 0x521);
}

/* The fixture's channel replaced by one with only a CD on blk, as unit 0. */
static void cd_replace_channel(CdFixture *f, BlockBackend *blk)
{
    IdeChannel *ch = ide_channel_new(&f->irq.line);
    GError *err = NULL;
    g_assert_true(ide_channel_attach(ch, 0, blk, NULL, true, &err));
    ide_channel_free(f->ch);
    io_space_free(f->io);
    f->io = io_space_new("io", 0x10000);
    f->ch = ch;
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
    ide_channel_reset(ch);
}

static void test_atapi_toc_inquiry(CdFixture *f, gconstpointer data)
{
    uint8_t out[256];
    /* READ TOC format 1: the only session. */
    uint8_t session[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x40};
    g_assert_cmpuint(cd_cmd(f, session, out, sizeof(out), 0x50), ==, 12);
    static const uint8_t want_session[12] = {0, 0x0a, 1, 1};
    g_assert_cmpmem(out, 12, want_session, 12);
    /* Format 2, the raw TOC: A0 (first track 1), A1 (last track 1), A2 (lead-out at the
     * capacity), track 1 at 0; by address, then by MSF (the 2 s lead-in counted). */
    uint8_t raw[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x80};
    g_assert_cmpuint(cd_cmd(f, raw, out, sizeof(out), 0x50), ==, 48);
    static const uint8_t want_raw[48] = {
        0, 46,   1, 1,                                 /* length, sessions */
        1, 0x14, 0, 0xa0, 0, 0, 0, 0, 1, 0, 0,         /* first track */
        1, 0x14, 0, 0xa1, 0, 0, 0, 0, 1, 0, 0,         /* last track */
        1, 0x14, 0, 0xa2, 0, 0, 0, 0, 0, 0, CD_BLOCKS, /* lead-out */
        1, 0x14, 0, 0x01, 0, 0, 0, 0, 0, 0, 0,         /* track 1 */
    };
    g_assert_cmpmem(out, 48, want_raw, 48);
    raw[1] = 0x02;
    g_assert_cmpuint(cd_cmd(f, raw, out, sizeof(out), 0x50), ==, 48);
    g_assert_cmpmem(out + 33, 4, ((uint8_t[]){0, 0, 2, 40}), 4); /* 190 frames: 0:02:40 */
    g_assert_cmpmem(out + 44, 4, ((uint8_t[]){0, 0, 2, 0}), 4);
    raw[8] = 10; /* the allocation length cuts it */
    g_assert_cmpuint(cd_cmd(f, raw, out, sizeof(out), 0x50), ==, 10);
    uint8_t pma[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xc0};
    cd_fails(f, pma, 0x524);

    /* INQUIRY's vital product data: the page list, the identification page (serial, then
     * vendor "ATA", model and serial when there is room), other pages refused. */
    uint8_t vpd[12] = {0x12, 1, 0x00, 0, 255};
    g_assert_cmpuint(cd_cmd(f, vpd, out, sizeof(out), 0x50), ==, 6);
    g_assert_cmpmem(out, 6, ((uint8_t[]){0x05, 0x00, 0, 2, 0x00, 0x83}), 6);
    vpd[2] = 0x83;
    g_assert_cmpuint(cd_cmd(f, vpd, out, sizeof(out), 0x50), ==, 100);
    g_assert_cmpmem(out, 8, ((uint8_t[]){0x05, 0x83, 0, 96, 0x02, 0x00, 0, 20}), 8);
    g_assert_cmpmem(out + 8, 20, "QM00001             ", 20);
    g_assert_cmpmem(out + 28, 4, ((uint8_t[]){0x02, 0x01, 0, 68}), 4);
    g_assert_cmpmem(out + 32, 68,
                    "ATA     QEMU DVD-ROM                            QM00001             ", 68);
    vpd[4] = 99; /* no room for the second entry */
    g_assert_cmpuint(cd_cmd(f, vpd, out, sizeof(out), 0x50), ==, 28);
    g_assert_cmpuint(out[3], ==, 24);
    vpd[4] = 27; /* nor for the first */
    cd_fails(f, vpd, 0x54b);
    vpd[2] = 0x80;
    vpd[4] = 255;
    cd_fails(f, vpd, 0x524);
}

/* READ CD of whole sectors: sync, MSF header and mode 1, the block, 288 zero bytes. */
static void check_raw_frames(const uint8_t *out, uint32_t lba, uint32_t count)
{
    static const uint8_t sync[12] = {0,    0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0};
    static const uint8_t zeros[288];
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *fr = out + i * 2352;
        uint32_t frames = lba + i + 150;
        g_assert_cmpmem(fr, 12, sync, 12);
        g_assert_cmpmem(fr + 12, 4,
                        ((uint8_t[]){frames / 75 / 60, frames / 75 % 60, frames % 75, 1}), 4);
        for (int j = 0; j < 2048; j++) {
            g_assert_cmpuint(fr[16 + j], ==, cd_byte((lba + i) * 2048 + j));
        }
        g_assert_cmpmem(fr + 16 + 2048, 288, zeros, 288);
    }
}

static void test_atapi_read_cd(CdFixture *f, gconstpointer data)
{
    static uint8_t out[80 * 2352];
    uint8_t st;
    /* By PIO: 3 sectors from 5, with a byte count limit of 4000. */
    uint8_t read_cd[12] = {0xbe, 0, 0, 0, 0, 5, 0, 0, 3, 0xf8};
    packet(f, read_cd, 4000, false);
    g_assert_cmpuint(pio_in(f, out, sizeof(out), 4000, &st), ==, 3 * 2352);
    g_assert_cmphex(st, ==, 0x50);
    check_raw_frames(out, 5, 3);
    /* User data only is a plain read; other field sets are refused, as upstream. */
    read_cd[9] = 0x10;
    g_assert_cmpuint(cd_cmd(f, read_cd, out, sizeof(out), 0x50), ==, 3 * 2048);
    g_assert_cmpuint(out[3000], ==, cd_byte(5 * 2048 + 3000));
    read_cd[9] = 0x78; /* headers and user data */
    cd_fails(f, read_cd, 0x524);
    read_cd[5] = CD_BLOCKS - 1;
    read_cd[9] = 0xf8;
    cd_fails(f, read_cd, 0x521); /* past the end */

    /* By DMA: all 40 sectors over two regions. */
    ram = g_malloc0(RAM_SIZE);
    ide_channel_set_dma(f->ch, &ram_dma);
    put_prd(0x1000, 0x20000, 0xfffe, false);
    put_prd(0x1008, 0x40000, CD_BLOCKS * 2352 - 0xfffe, true);
    ide_bmdma_write(f->ch, 4, 0x1000, 4);
    ide_bmdma_write(f->ch, 0, 0x08, 1);
    uint8_t all[12] = {0xbe, 0, 0, 0, 0, 0, 0, 0, CD_BLOCKS, 0xf8};
    packet(f, all, 0, true);
    ide_bmdma_write(f->ch, 0, 0x09, 1);
    g_assert_cmphex(cd_wait(f), ==, 0x50);
    g_assert_cmphex(ide_bmdma_read(f->ch, 2, 1), ==, 0x04);
    memcpy(out, ram + 0x20000, 0xfffe);
    memcpy(out + 0xfffe, ram + 0x40000, CD_BLOCKS * 2352 - 0xfffe);
    check_raw_frames(out, 0, CD_BLOCKS);
    ide_bmdma_write(f->ch, 0, 0, 1);
    /* A disk command after it moves plain sectors again. */
    io_space_write(f->io, BASE + 6, 0xf0, 1);
    io_space_write(f->io, BASE + 2, 1, 1);
    io_space_write(f->io, BASE + 3, 2, 1);
    io_space_write(f->io, BASE + 7, 0x20, 1);
    g_assert_cmphex(cd_wait(f), ==, 0x58);
    for (int i = 0; i < 256; i++) {
        uint16_t w = io_space_read(f->io, BASE, 2);
        g_assert_cmpuint(w & 0xff, ==, cd_byte(2 * 512 + 2 * i));
    }
    g_assert_cmphex(reg(f, 7), ==, 0x50);
}

/* READ DVD STRUCTURE on a medium larger than a CD (a DVD-ROM, as upstream tells them). */
static void test_atapi_dvd_structure(CdFixture *f, gconstpointer data)
{
    uint8_t out[4096];
    uint8_t physical[12] = {0xad, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x04};
    /* A CD: incompatible, except the list. */
    cd_fails(f, physical, 0x530);
    uint8_t list[12] = {0xad, 0, 0, 0, 0, 0, 0, 0xff, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, list, out, sizeof(out), 0x50), ==, 20);

    const uint32_t blocks = 80 * 60 * 75 + 1;
    TestImage dvd;
    test_image_open_sparse(&dvd, "ide0-cd0", (gsize)blocks * 2048, true);
    cd_replace_channel(f, dvd.blk);

    g_assert_cmpuint(cd_cmd(f, physical, out, sizeof(out), 0x50), ==, 2052);
    uint8_t want[20] = {0x08, 0x02, 0, 0, 0x01, 0x0f, 0x01, 0, 0, 0, 0, 0};
    want[14] = want[18] = ((blocks - 1) >> 8) & 0xff;
    want[15] = want[19] = (blocks - 1) & 0xff;
    want[13] = want[17] = (blocks - 1) >> 16;
    g_assert_cmpmem(out, 20, want, 20);
    physical[6] = 1; /* a second layer: upstream reads it only with a short allocation */
    g_assert_cmpuint(cd_cmd(f, physical, out, sizeof(out), 0x50), ==, 2052);
    physical[8] = 0;
    physical[9] = 4;
    cd_fails(f, physical, 0x524);
    uint8_t copyright[12] = {0xad, 0, 0, 0, 0, 0, 0, 0x01, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, copyright, out, sizeof(out), 0x50), ==, 8);
    g_assert_cmpmem(out, 8, ((uint8_t[]){0, 6, 0, 0, 0, 0, 0, 0}), 8);
    uint8_t bca[12] = {0xad, 0, 0, 0, 0, 0, 0, 0x03, 0, 0xff};
    cd_fails(f, bca, 0x524);
    uint8_t manufacturing[12] = {0xad, 0, 0, 0, 0, 0, 0, 0x04, 0x08, 0x04};
    g_assert_cmpuint(cd_cmd(f, manufacturing, out, sizeof(out), 0x50), ==, 2052);
    g_assert_cmpmem(out, 4, ((uint8_t[]){0x08, 0x02, 0, 0}), 4);
    g_assert_cmpuint(cd_cmd(f, list, out, sizeof(out), 0x50), ==, 20);
    static const uint8_t want_list[20] = {0, 0x12, 0,    0,    0x00, 0x40, 0x08, 0x04, 0x01, 0x40,
                                          0, 0x08, 0x03, 0x40, 0,    0xc0, 0x04, 0x40, 0x08, 0x04};
    g_assert_cmpmem(out, 20, want_list, 20);
    uint8_t aacs[12] = {0xad, 0, 0, 0, 0, 0, 0, 0x80, 0, 0xff};
    cd_fails(f, aacs, 0x524);
    uint8_t bluray[12] = {0xad, 1, 0, 0, 0, 0, 0, 0x00, 0, 0xff};
    cd_fails(f, bluray, 0x524);
    /* READ CD of whole sectors across buffers (55 frames fill one): each frame's address. */
    static uint8_t frames[60 * 2352];
    uint8_t st, read_cd[12] = {0xbe, 0, 0, 0x04, 0x93, 0xe0, 0, 0, 60, 0xf8};
    packet(f, read_cd, 0xfffe, false);
    g_assert_cmpuint(pio_in(f, frames, sizeof(frames), 0xfffe, &st), ==, sizeof(frames));
    g_assert_cmphex(st, ==, 0x50);
    for (uint32_t i = 0; i < 60; i++) {
        uint32_t msf = 300000 + i + 150;
        const uint8_t *fr = frames + i * 2352;
        g_assert_cmpmem(fr + 11, 5, ((uint8_t[]){0, msf / 75 / 60, msf / 75 % 60, msf % 75, 1}), 5);
        g_assert_cmpuint(fr[16 + 1000] | fr[2351], ==, 0);
    }
    /* GET CONFIGURATION: the DVD-ROM profile is current. */
    uint8_t config[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, config, out, sizeof(out), 0x50), ==, 20);
    g_assert_cmphex(out[6] << 8 | out[7], ==, 0x0010);
    g_assert_cmpuint(out[14], ==, 1);
    g_assert_cmpuint(out[18], ==, 0);

    ide_channel_free(f->ch);
    f->ch = ide_channel_new(&f->irq.line);
    blk_unref(dvd.blk);
    g_unlink(dvd.path);
    g_rmdir(dvd.dir);
    g_free(dvd.path);
    g_free(dvd.dir);
}

static void test_atapi_empty(CdFixture *f, gconstpointer data)
{
    /* A drive with no medium (-drive if=ide,media=cdrom): NOT READY to what needs one. */
    BlockBackend *empty = blk_new("ide0-cd0", NULL);
    cd_replace_channel(f, empty);
    uint8_t out[64], tur[12] = {0x00}, read10[12] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1};
    cd_fails(f, tur, 0x23a);
    cd_fails(f, read10, 0x23a);
    uint8_t inquiry[12] = {0x12, 0, 0, 0, 36};
    g_assert_cmpuint(cd_cmd(f, inquiry, out, sizeof(out), 0x50), ==, 36);
    uint8_t config[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 0xff};
    g_assert_cmpuint(cd_cmd(f, config, out, sizeof(out), 0x50), ==, 20);
    g_assert_cmphex(out[6] << 8 | out[7], ==, 0); /* no current profile */
    ide_channel_free(f->ch);
    f->ch = ide_channel_new(&f->irq.line);
    blk_unref(empty);
}

static void test_atapi_state(CdFixture *f, gconstpointer data)
{
    /* Saved mid-way through a PIO read (one DRQ block of two read), with the tray locked. */
    uint8_t out[8192], st;
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1};
    cd_cmd(f, lock, out, sizeof(out), 0x50);
    uint8_t read10[12] = {0x28, 0, 0, 0, 0, 2, 0, 0, 2};
    packet(f, read10, 2048, false);
    g_assert_cmphex(cd_wait(f), ==, 0x58);
    for (int i = 0; i < 2048; i += 2) {
        io_space_read(f->io, BASE, 2);
    }
    g_autoptr(GByteArray) stream = save_channel(f->ch);
    GError *err = NULL;
    ide_channel_free(f->ch);
    io_space_free(f->io);
    f->io = io_space_new("io", 0x10000);
    f->ch = ide_channel_new(&f->irq.line);
    g_assert_true(ide_channel_attach(f->ch, 0, f->cd.blk, NULL, true, &err));
    g_assert_true(ide_channel_attach(f->ch, 1, f->disk.blk, NULL, false, &err));
    g_assert_true(ide_channel_map(f->ch, f->io, BASE, CTL, &err));
    g_assert_false(blk_dev_is_medium_locked(f->cd.blk));
    load_channel(f->ch, stream);
    g_assert_true(blk_dev_is_medium_locked(f->cd.blk));
    g_assert_cmpuint(pio_in(f, out, sizeof(out), 2048, &st), ==, 2048);
    g_assert_cmphex(st, ==, 0x50);
    for (int i = 0; i < 2048; i++) {
        g_assert_cmpuint(out[i], ==, cd_byte(3 * 2048 + i));
    }
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
    g_test_add("/ide/dma", Fixture, &ram_dma, fixture_setup, test_dma, fixture_teardown);
    g_test_add("/ide/dma-mapped", Fixture, &ram_dma_mapped, fixture_setup, test_dma,
               fixture_teardown);
#define ADD_CD(path, fn) g_test_add(path, CdFixture, NULL, cd_setup, fn, cd_teardown)
    ADD_CD("/ide/atapi/identify-signature", test_atapi_identify);
    ADD_CD("/ide/atapi/pio", test_atapi_pio);
    ADD_CD("/ide/atapi/sense", test_atapi_sense);
    ADD_CD("/ide/atapi/media-tray-lock", test_atapi_media);
    ADD_CD("/ide/atapi/dma", test_atapi_dma);
    ADD_CD("/ide/atapi/toc-inquiry-vpd", test_atapi_toc_inquiry);
    ADD_CD("/ide/atapi/read-cd-raw", test_atapi_read_cd);
    ADD_CD("/ide/atapi/dvd-structure", test_atapi_dvd_structure);
    ADD_CD("/ide/atapi/empty-drive", test_atapi_empty);
    ADD_CD("/ide/atapi/state-mid-transfer", test_atapi_state);
    return g_test_run();
}
