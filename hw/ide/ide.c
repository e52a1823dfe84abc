/* An ATA channel, PIO and bus-master DMA (include/hw/ide/ide.h). */
#include "hw/ide/ide.h"
#include "hw/ide/atapi.h"
#include "util/error.h"

#include <string.h>
#include <sys/uio.h>

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DSC  0x10
#define ST_DRDY 0x40
#define ST_BSY  0x80

#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC  0x40

#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB  0x80

#define SEL_LBA  0x40
#define SEL_UNIT 0x10

#define BM_CMD_START  0x01
#define BM_CMD_TO_RAM 0x08 /* the controller writes memory: a disk read */
#define BM_ST_ACTIVE  0x01
#define BM_ST_ERROR   0x02
#define BM_ST_INT     0x04
#define BM_ST_W1C     (BM_ST_ERROR | BM_ST_INT)
#define BM_ST_CAPABLE 0x60 /* drive 0/1 DMA capable: the firmware's bits, kept as written */
#define PRD_EOT       0x8000
/* At most this many PRD regions go to one mapped request (a table of smaller pieces is
 * copied through buf instead), as virtio-blk bounds its segments. */
#define IDE_MAPPED_SEGS 64

typedef enum {
    XFER_NONE,
    XFER_READ,      /* disk -> buffer -> guest */
    XFER_WRITE,     /* guest -> buffer -> disk */
    XFER_IDENTIFY,  /* one block to the guest, then done */
    XFER_DMA_READ,  /* disk -> buffer -> PRD regions in RAM */
    XFER_DMA_WRITE, /* PRD regions -> buffer -> disk */
    XFER_PACKET,    /* guest -> 12-byte ATAPI command block */
    XFER_DMA_REPLY, /* an ATAPI reply in the buffer -> PRD regions */
} XferKind;

/* ATAPI interrupt reason (the sector count register during a packet command). */
#define IREASON_COD 0x01
#define IREASON_IO  0x02

typedef struct AtaDrive {
    IdeChannel *ch;
    BlockBackend *blk;
    uint64_t sectors;
    char serial[21];
    bool cd; /* an ATAPI CD/DVD-ROM (ide-cd) */
    AtapiState atapi;
} AtaDrive;

struct IdeChannel {
    IrqLine *irq;
    const DmaSpace *dma; /* NULL: no bus master, DMA commands abort */
    AtaDrive drive[2];
    /* Task file; hob_* hold the previous values (LBA48's high-order bytes). */
    uint8_t feature, error, nsector, sector, lcyl, hcyl, select, status, ctrl;
    uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
    /* The transfer in progress. */
    uint32_t xfer;
    uint64_t io_lba;       /* next sector to fetch (read) or store (write) */
    uint32_t io_remaining; /* sectors not yet fetched / stored */
    uint32_t chunk;        /* sectors in the buffer now */
    uint32_t buf_pos, buf_end;
    bool busy; /* a disk request in flight */
    bool irq_pending;
    uint8_t buf[ATA_BUF_SECTORS * ATA_SECTOR];
    /* SET FEATURES' transfer mode per unit (0: the default), shown in IDENTIFY. */
    uint8_t xfer_mode[2];
    /* Bus master: its registers, and where the walk of the PRD table is. */
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prd;
    uint32_t prd_next; /* the next entry to fetch */
    uint32_t prd_addr; /* the current entry's remaining region */
    uint32_t prd_len;
    bool prd_last; /* the current entry has EOT */
    /* A packet command's data phase: the reply or blocks still to hand over (bytes), the end
     * of the current DRQ block in buf, and DMA asked for in the PACKET's features. */
    bool atapi_xfer;
    bool atapi_dma;
    uint32_t pkt_remaining;
    uint32_t pkt_limit; /* the byte count limit the guest gave with the PACKET */
    uint32_t elem_end;
    bool atapi_raw; /* READ CD of whole 2352-byte sectors: each 2048-byte block is framed */
    /* A bus-master request in flight straight into/out of guest RAM: its PRD regions, marked
     * dirty (a read) when it completes. Never saved: a save drains it first. */
    int mapped_n; /* 0: the request uses buf */
    bool mapped_to_ram;
    struct {
        uint64_t gpa;
        uint32_t len;
    } mapped[IDE_MAPPED_SEGS];
    /* The signature is on show (reset, diagnostic): selecting the other unit shows its own. */
    bool sig_shown;
    int bus_index; /* which bus of the controller (default serial numbers) */
};

static AtaDrive *cur(IdeChannel *ch)
{
    return &ch->drive[(ch->select & SEL_UNIT) ? 1 : 0];
}

static void set_irq(IdeChannel *ch)
{
    /* The bus master latches every interrupt of its channel (ata_bmdma_interrupt checks). */
    ch->bm_status |= BM_ST_INT;
    ch->irq_pending = true;
    if (!(ch->ctrl & CTL_NIEN)) {
        irq_raise(ch->irq);
    }
}

static void clear_irq(IdeChannel *ch)
{
    ch->irq_pending = false;
    irq_lower(ch->irq);
}

static void abort_command(IdeChannel *ch, uint8_t err)
{
    ch->xfer = XFER_NONE;
    ch->error = err;
    ch->status = ST_DRDY | ST_ERR;
    set_irq(ch);
}

static void command_done(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->error = 0;
    ch->status = ST_DRDY | ST_DSC;
    set_irq(ch);
}

/* The signature of the selected unit after a reset or a diagnostic: a disk's, or the ATAPI
 * one (0xeb14 in the cylinder registers; status without DRDY, as upstream's CD shows it). */
static void set_signature(IdeChannel *ch)
{
    bool cd = cur(ch)->cd;
    ch->nsector = 1;
    ch->sector = 1;
    ch->lcyl = cd ? 0x14 : 0;
    ch->hcyl = cd ? 0xeb : 0;
    ch->error = 0x01; /* no error detected */
    ch->status = cd ? 0 : ST_DRDY | ST_DSC;
    ch->xfer = XFER_NONE;
    ch->atapi_xfer = false;
    ch->sig_shown = true;
}

/* An ATA string: two characters a word, the first in the high byte, space padded. */
static void put_string(uint16_t *words, int first, int count, const char *s)
{
    size_t len = strlen(s);
    for (int i = 0; i < count * 2; i++) {
        uint8_t c = i < (int)len ? s[i] : ' ';
        if (i & 1) {
            words[first + i / 2] |= c;
        } else {
            words[first + i / 2] = c << 8;
        }
    }
}

/* Single-word, multiword DMA 0-2 and the UDMA modes in udma supported; the selected one
 * marked. */
static void transfer_mode_words(IdeChannel *ch, AtaDrive *d, uint16_t *w, uint16_t udma)
{
    uint8_t mode = ch->xfer_mode[d == &ch->drive[1]];
    w[62] = 0x07 | ((mode >> 3) == 0x02 ? 1 << (8 + (mode & 7)) : 0);
    w[63] = 0x07 | ((mode >> 3) == 0x04 ? 1 << (8 + (mode & 7)) : 0);
    w[88] = udma | ((mode >> 3) == 0x08 ? 1 << (8 + (mode & 7)) : 0);
}

/* The 256 words of an IDENTIFY to the guest: one PIO block and an interrupt. */
static void send_identify(IdeChannel *ch, const uint16_t *w)
{
    for (int i = 0; i < 256; i++) {
        ch->buf[2 * i] = w[i];
        ch->buf[2 * i + 1] = w[i] >> 8;
    }
    ch->xfer = XFER_IDENTIFY;
    ch->buf_pos = 0;
    ch->buf_end = ATA_SECTOR;
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
    set_irq(ch);
}

static void identify(IdeChannel *ch, AtaDrive *d)
{
    uint16_t w[256] = {0};
    uint64_t lba28 = MIN(d->sectors, 0x0fffffffull);
    uint32_t cyls = MIN(d->sectors / (16 * 63), 16383);
    w[0] = 0x0040; /* fixed disk */
    w[1] = cyls;
    w[3] = 16;
    w[6] = 63;
    put_string(w, 10, 10, d->serial);
    put_string(w, 23, 4, "2.5+");
    put_string(w, 27, 20, "QEMU HARDDISK");
    w[47] = 0x8000;                            /* no READ/WRITE MULTIPLE */
    w[49] = (1 << 9) | (ch->dma ? 1 << 8 : 0); /* LBA; DMA with a bus master */
    w[50] = 0x4000;
    w[53] = 0x0006; /* words 64-70 and 88 valid */
    w[54] = cyls;
    w[55] = 16;
    w[56] = 63;
    w[57] = (cyls * 16 * 63) & 0xffff;
    w[58] = (cyls * 16 * 63) >> 16;
    w[60] = lba28 & 0xffff;
    w[61] = lba28 >> 16;
    transfer_mode_words(ch, d, w, 0x3f);
    w[64] = 0x0003; /* PIO modes 3 and 4 */
    w[65] = w[66] = w[67] = w[68] = 120;
    w[80] = 0x00f0;                                     /* ATA/ATAPI-4 to 7 */
    w[82] = 1 << 5;                                     /* write cache */
    w[83] = 0x4000 | (1 << 10) | (1 << 12) | (1 << 13); /* LBA48, FLUSH CACHE (EXT) */
    w[84] = 0x4000;
    w[85] = 1 << 5;
    w[86] = (1 << 10) | (1 << 12) | (1 << 13);
    w[87] = 0x4000;
    for (int i = 0; i < 4; i++) {
        w[100 + i] = d->sectors >> (16 * i);
    }
    send_identify(ch, w);
}

/* IDENTIFY PACKET DEVICE: upstream's DVD-ROM words. */
static void identify_packet(IdeChannel *ch, AtaDrive *d)
{
    uint16_t w[256] = {0};
    w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5); /* ATAPI, CD-ROM, removable, 12-byte */
    put_string(w, 10, 10, d->serial);
    w[20] = 3;   /* buffer type */
    w[21] = 512; /* cache size */
    w[22] = 4;   /* ECC bytes */
    put_string(w, 23, 4, "2.5+");
    put_string(w, 27, 20, "QEMU DVD-ROM");
    w[48] = 1;                                 /* dword I/O */
    w[49] = (1 << 9) | (ch->dma ? 1 << 8 : 0); /* LBA; DMA with a bus master */
    w[53] = 7;
    w[64] = 3;
    w[65] = w[66] = w[68] = 0xb4;
    w[67] = 0x12c;
    w[71] = w[72] = 30;
    w[80] = 0x1e; /* ATA/ATAPI-1 to 4 */
    transfer_mode_words(ch, d, w, 0x3f);
    send_identify(ch, w);
}

/* --- disk requests ------------------------------------------------------------------------ */

static void start_chunk_read(IdeChannel *ch);
static void atapi_pio_next(IdeChannel *ch);
static void atapi_good_status(IdeChannel *ch);
static void atapi_check_condition(IdeChannel *ch);

/* A failed transfer ends an ATAPI command with its sense data, an ATA one with UNC. */
static void transfer_failed(IdeChannel *ch, int ret)
{
    if (ch->atapi_xfer) {
        atapi_read_failed(&cur(ch)->atapi, ret);
        atapi_check_condition(ch);
    } else {
        abort_command(ch, ERR_UNC | ERR_ABRT);
    }
}

/* Sectors of 2352 bytes that fit the buffer, in 512-byte units. */
#define RAW_CHUNK_SECTORS                                                                          \
    ((ATA_BUF_SECTORS * ATA_SECTOR / ATAPI_RAW_BLOCK) * (ATAPI_BLOCK / ATA_SECTOR))

static bool raw_read(IdeChannel *ch)
{
    return ch->atapi_xfer && ch->atapi_raw;
}

/* The next buffer's worth of a read, in 512-byte sectors. */
static uint32_t read_chunk(IdeChannel *ch)
{
    return MIN(ch->io_remaining, raw_read(ch) ? RAW_CHUNK_SECTORS : ATA_BUF_SECTORS);
}

/* The bytes the chunk in the buffer stands for (framed, for a raw CD read). */
static uint32_t chunk_bytes(IdeChannel *ch)
{
    if (raw_read(ch)) {
        return ch->chunk / (ATAPI_BLOCK / ATA_SECTOR) * ATAPI_RAW_BLOCK;
    }
    return ch->chunk * ATA_SECTOR;
}

/* A raw read's blocks, just read into the buffer from io_lba: each moved to its 2352-byte
 * frame (last first, as frames are larger) and framed as upstream frames them. */
static void frame_raw_blocks(IdeChannel *ch)
{
    if (!raw_read(ch)) {
        return;
    }
    uint32_t blocks = ch->chunk / (ATAPI_BLOCK / ATA_SECTOR);
    uint32_t lba = ch->io_lba / (ATAPI_BLOCK / ATA_SECTOR);
    for (uint32_t i = blocks; i-- > 0;) {
        uint8_t *frame = ch->buf + (size_t)i * ATAPI_RAW_BLOCK;
        memmove(frame + ATAPI_RAW_HEADER, ch->buf + (size_t)i * ATAPI_BLOCK, ATAPI_BLOCK);
        atapi_frame_block(frame, lba + i);
    }
}

static void read_done(void *opaque, int ret)
{
    IdeChannel *ch = opaque;
    ch->busy = false;
    if (ch->xfer != XFER_READ) {
        return; /* reset meanwhile */
    }
    if (ret < 0) {
        transfer_failed(ch, ret);
        return;
    }
    frame_raw_blocks(ch);
    ch->io_lba += ch->chunk;
    ch->io_remaining -= ch->chunk;
    ch->buf_pos = 0;
    ch->buf_end = chunk_bytes(ch);
    if (ch->atapi_xfer) {
        atapi_pio_next(ch);
        return;
    }
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
    set_irq(ch);
}

static void start_chunk_read(IdeChannel *ch)
{
    ch->chunk = read_chunk(ch);
    ch->status = ST_BSY;
    ch->busy = true;
    blk_aio_pread(cur(ch)->blk, ch->io_lba * ATA_SECTOR, (uint64_t)ch->chunk * ATA_SECTOR, ch->buf,
                  read_done, ch);
}

static void write_done(void *opaque, int ret)
{
    IdeChannel *ch = opaque;
    ch->busy = false;
    if (ch->xfer != XFER_WRITE) {
        return;
    }
    if (ret < 0) {
        abort_command(ch, ERR_ABRT);
        return;
    }
    ch->io_lba += ch->chunk;
    ch->io_remaining -= ch->chunk;
    if (!ch->io_remaining) {
        command_done(ch);
        return;
    }
    ch->chunk = MIN(ch->io_remaining, ATA_BUF_SECTORS);
    ch->buf_pos = 0;
    ch->buf_end = ch->chunk * ATA_SECTOR;
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
    set_irq(ch);
}

static void flush_done(void *opaque, int ret)
{
    IdeChannel *ch = opaque;
    ch->busy = false;
    if (ret < 0) {
        abort_command(ch, ERR_ABRT);
    } else {
        command_done(ch);
    }
}

/* The sector range of a READ/WRITE; false (command aborted) if it is outside the disk. */
static bool decode_range(IdeChannel *ch, bool lba48)
{
    uint64_t lba;
    uint32_t count;
    if (lba48) {
        lba = (uint64_t)ch->hob_hcyl << 40 | (uint64_t)ch->hob_lcyl << 32 |
              (uint64_t)ch->hob_sector << 24 | ch->hcyl << 16 | ch->lcyl << 8 | ch->sector;
        count = ch->hob_nsector << 8 | ch->nsector;
        count = count ? count : 65536;
    } else {
        count = ch->nsector ? ch->nsector : 256;
        if (ch->select & SEL_LBA) {
            lba = (uint64_t)(ch->select & 0x0f) << 24 | ch->hcyl << 16 | ch->lcyl << 8 | ch->sector;
        } else {
            uint32_t cyl = ch->hcyl << 8 | ch->lcyl;
            if (!ch->sector) {
                abort_command(ch, ERR_IDNF | ERR_ABRT);
                return false;
            }
            lba = ((uint64_t)cyl * 16 + (ch->select & 0x0f)) * 63 + ch->sector - 1;
        }
    }
    if (lba > cur(ch)->sectors || count > cur(ch)->sectors - lba) {
        abort_command(ch, ERR_IDNF | ERR_ABRT);
        return false;
    }
    ch->io_lba = lba;
    ch->io_remaining = count;
    return true;
}

/* --- bus-master DMA -------------------------------------------------------------------------- */

/*
 * A DMA command moves its sectors a buffer (up to 256 sectors) at a time: a read fetches them
 * on the block workers, then scatters them over the PRD regions through the DMA store path (so
 * every byte lands in RAM as a device write, dirty-tracked); a write gathers them first. It
 * waits for the start bit when the guest issues the command before starting the engine.
 */

static void dma_stop(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->bm_status &= ~BM_ST_ACTIVE;
}

static void prd_rewind(IdeChannel *ch)
{
    ch->prd_next = ch->bm_prd;
    ch->prd_len = 0;
    ch->prd_last = false;
}

/* Moves len bytes between buf and the PRD regions; the bytes moved (fewer when the table
 * ends first), or -1 if an entry or a region is not RAM. */
static int64_t prd_transfer(IdeChannel *ch, uint8_t *buf, uint32_t len, bool to_ram)
{
    uint32_t done = 0;
    while (done < len) {
        if (!ch->prd_len) {
            if (ch->prd_last) {
                break;
            }
            uint8_t e[8];
            if (!dma_read(ch->dma, ch->prd_next, e, sizeof(e))) {
                return -1;
            }
            ch->prd_next += 8;
            ch->prd_addr = e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24;
            uint32_t count = (e[4] | e[5] << 8) & 0xfffe;
            ch->prd_len = count ? count : 0x10000;
            ch->prd_last = (e[6] | e[7] << 8) & PRD_EOT;
        }
        uint32_t n = MIN(ch->prd_len, len - done);
        bool ok = to_ram ? dma_write(ch->dma, ch->prd_addr, buf + done, n)
                         : dma_read(ch->dma, ch->prd_addr, buf + done, n);
        if (!ok) {
            return -1;
        }
        ch->prd_addr += n;
        ch->prd_len -= n;
        done += n;
    }
    return done;
}

/* Moves one buffer through the PRD table; false when the transfer has ended instead. */
static bool dma_move(IdeChannel *ch, bool to_ram)
{
    uint32_t bytes = chunk_bytes(ch);
    int64_t moved = prd_transfer(ch, ch->buf, bytes, to_ram);
    if (moved < 0) {
        ch->bm_status |= BM_ST_ERROR;
        dma_stop(ch);
        abort_command(ch, ERR_ABRT);
        return false;
    }
    if (moved < bytes) {
        /* A table too short for the command: the engine stops without an interrupt, as
         * upstream's does; the driver's timeout sees it. */
        dma_stop(ch);
        ch->status = ST_DRDY | ST_DSC;
        return false;
    }
    return true;
}

static void dma_rw_done(void *opaque, int ret);

/*
 * The chunk's PRD regions as host pointers into guest RAM, so that the block layer reads into
 * them or writes from them with no copy (as virtio-blk does). Walks the table as a copy would;
 * false, with the walk's position as it was, when the chunk cannot go that way (no map in the
 * DMA space, a table shorter than the chunk, a region that is not RAM, too many regions, a
 * framed CD read): the copying path then handles it, errors included.
 */
static bool dma_map_chunk(IdeChannel *ch, struct iovec *iov)
{
    if (!ch->dma->map || raw_read(ch)) {
        return false;
    }
    uint32_t next = ch->prd_next, addr = ch->prd_addr, len = ch->prd_len;
    bool last = ch->prd_last;
    uint32_t want = chunk_bytes(ch), done = 0;
    int n = 0;
    while (done < want) {
        if (!len) {
            uint8_t e[8];
            if (last || !dma_read(ch->dma, next, e, sizeof(e))) {
                return false;
            }
            next += 8;
            addr = e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24;
            uint32_t count = (e[4] | e[5] << 8) & 0xfffe;
            len = count ? count : 0x10000;
            last = (e[6] | e[7] << 8) & PRD_EOT;
        }
        uint32_t piece = MIN(len, want - done);
        void *host = dma_map(ch->dma, addr, piece);
        if (!host || n == IDE_MAPPED_SEGS) {
            return false;
        }
        iov[n] = (struct iovec){.iov_base = host, .iov_len = piece};
        ch->mapped[n].gpa = addr;
        ch->mapped[n].len = piece;
        n++;
        addr += piece;
        len -= piece;
        done += piece;
    }
    ch->prd_next = next;
    ch->prd_addr = addr;
    ch->prd_len = len;
    ch->prd_last = last;
    ch->mapped_n = n;
    ch->mapped_to_ram = ch->xfer != XFER_DMA_WRITE;
    return true;
}

/* A mapped read landed in guest RAM (or part of it, on failure): its pages are dirty. */
static void dma_mapped_done(IdeChannel *ch)
{
    for (int i = 0; ch->mapped_to_ram && i < ch->mapped_n; i++) {
        dma_written(ch->dma, ch->mapped[i].gpa, ch->mapped[i].len);
    }
    ch->mapped_n = 0;
}

static void dma_next(IdeChannel *ch)
{
    if (!ch->io_remaining) {
        dma_stop(ch);
        if (ch->atapi_xfer) {
            atapi_good_status(ch);
            return;
        }
        ch->error = 0;
        ch->status = ST_DRDY | ST_DSC;
        set_irq(ch);
        return;
    }
    if (!(ch->bm_cmd & BM_CMD_START)) {
        dma_stop(ch); /* stopped by the guest: nothing more moves */
        ch->status = ST_DRDY | ST_DSC;
        return;
    }
    ch->chunk = read_chunk(ch);
    uint64_t off = ch->io_lba * ATA_SECTOR, len = (uint64_t)ch->chunk * ATA_SECTOR;
    struct iovec iov[IDE_MAPPED_SEGS];
    if (dma_map_chunk(ch, iov)) {
        ch->status = ST_BSY;
        ch->busy = true;
        if (ch->xfer == XFER_DMA_WRITE) {
            blk_aio_pwritev(cur(ch)->blk, off, iov, ch->mapped_n, 0, dma_rw_done, ch);
        } else {
            blk_aio_preadv(cur(ch)->blk, off, iov, ch->mapped_n, dma_rw_done, ch);
        }
        return;
    }
    if (ch->xfer == XFER_DMA_WRITE) {
        if (!dma_move(ch, false)) {
            return;
        }
        ch->status = ST_BSY;
        ch->busy = true;
        blk_aio_pwrite(cur(ch)->blk, off, len, ch->buf, 0, dma_rw_done, ch);
    } else {
        ch->status = ST_BSY;
        ch->busy = true;
        blk_aio_pread(cur(ch)->blk, off, len, ch->buf, dma_rw_done, ch);
    }
}

static void dma_rw_done(void *opaque, int ret)
{
    IdeChannel *ch = opaque;
    ch->busy = false;
    bool mapped = ch->mapped_n > 0;
    /* A mapped read's bytes are in RAM whatever happened since: mark them first. */
    dma_mapped_done(ch);
    if (ch->xfer != XFER_DMA_READ && ch->xfer != XFER_DMA_WRITE) {
        return; /* reset meanwhile */
    }
    if (ret < 0) {
        dma_stop(ch);
        transfer_failed(ch, ret);
        return;
    }
    if (ch->xfer == XFER_DMA_READ && !mapped) {
        frame_raw_blocks(ch);
        if (!dma_move(ch, true)) {
            return;
        }
    }
    ch->io_lba += ch->chunk;
    ch->io_remaining -= ch->chunk;
    dma_next(ch);
}

/* An ATAPI reply (not blocks of the medium) over the PRD regions in one go. */
static void dma_reply(IdeChannel *ch)
{
    int64_t moved = prd_transfer(ch, ch->buf, ch->buf_end, true);
    dma_stop(ch);
    if (moved < 0) {
        ch->bm_status |= BM_ST_ERROR;
        abort_command(ch, ERR_ABRT);
        return;
    }
    atapi_good_status(ch);
}

static void dma_command(IdeChannel *ch, XferKind kind)
{
    ch->xfer = kind;
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
    prd_rewind(ch);
    if (!(ch->bm_cmd & BM_CMD_START)) {
        return;
    }
    if (kind == XFER_DMA_REPLY) {
        dma_reply(ch);
    } else {
        dma_next(ch);
    }
}

static void bm_cmd_write(IdeChannel *ch, uint8_t v)
{
    bool was = ch->bm_cmd & BM_CMD_START;
    ch->bm_cmd = v & (BM_CMD_START | BM_CMD_TO_RAM);
    if ((v & BM_CMD_START) && !was) {
        ch->bm_status |= BM_ST_ACTIVE;
        prd_rewind(ch);
        if ((ch->xfer == XFER_DMA_READ || ch->xfer == XFER_DMA_WRITE) && !ch->busy) {
            dma_next(ch);
        } else if (ch->xfer == XFER_DMA_REPLY) {
            dma_reply(ch);
        }
    } else if (!(v & BM_CMD_START) && was) {
        /* Stopping mid-transfer (a driver's error path): what is in flight ends first, as
         * upstream's cancel does; nothing more moves after it. */
        if (ch->busy) {
            ide_channel_drain(ch);
        }
        ch->bm_status &= ~BM_ST_ACTIVE;
    }
}

static uint8_t bm_read_byte(IdeChannel *ch, unsigned reg)
{
    switch (reg) {
    case 0:
        return ch->bm_cmd;
    case 2:
        return ch->bm_status;
    case 4 ... 7:
        return ch->bm_prd >> (8 * (reg - 4));
    default:
        return 0;
    }
}

static void bm_write_byte(IdeChannel *ch, unsigned reg, uint8_t v)
{
    switch (reg) {
    case 0:
        bm_cmd_write(ch, v);
        return;
    case 2:
        ch->bm_status = (ch->bm_status & ~(v & BM_ST_W1C) & ~BM_ST_CAPABLE) | (v & BM_ST_CAPABLE);
        return;
    case 4 ... 7: {
        unsigned shift = 8 * (reg - 4);
        ch->bm_prd = ((ch->bm_prd & ~(0xffu << shift)) | (uint32_t)v << shift) & ~3u;
        return;
    }
    default:
        return;
    }
}

uint32_t ide_bmdma_read(IdeChannel *ch, unsigned reg, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && reg + i < 8; i++) {
        v |= (uint32_t)bm_read_byte(ch, reg + i) << (8 * i);
    }
    return v;
}

void ide_bmdma_write(IdeChannel *ch, unsigned reg, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && reg + i < 8; i++) {
        bm_write_byte(ch, reg + i, val >> (8 * i));
    }
}

void ide_channel_set_dma(IdeChannel *ch, const DmaSpace *dma)
{
    ch->dma = dma;
}

/* --- ATAPI packet commands -------------------------------------------------------------- */

/*
 * PACKET: DRQ (no interrupt) for the 12-byte command block; then, by what atapi_execute()
 * answers: good status, or a check condition (sense key in the error register), each with an
 * interrupt and the interrupt reason "status"; or a data phase. In PIO the data goes in DRQ
 * blocks of at most the byte count limit the guest put in the cylinder registers, each with
 * its size there and an interrupt; blocks of the medium are fetched a buffer at a time. With
 * DMA (feature bit 0) it goes over the bus master as a disk's READ DMA does.
 */

static void atapi_good_status(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->atapi_xfer = false;
    ch->error = 0;
    ch->status = ST_DRDY | ST_DSC;
    ch->nsector = (ch->nsector & ~7) | IREASON_IO | IREASON_COD;
    set_irq(ch);
}

static void atapi_check_condition(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->atapi_xfer = false;
    ch->error = cur(ch)->atapi.sense_key << 4;
    ch->status = ST_DRDY | ST_ERR;
    ch->nsector = (ch->nsector & ~7) | IREASON_IO | IREASON_COD;
    set_irq(ch);
}

static void atapi_pio_next(IdeChannel *ch)
{
    /* Nothing left to give, or (a hostile stream's state) nothing left to fetch. */
    if (!ch->pkt_remaining || (ch->buf_pos == ch->buf_end && !ch->io_remaining)) {
        atapi_good_status(ch);
        return;
    }
    if (ch->buf_pos == ch->buf_end) {
        start_chunk_read(ch); /* the buffer is used up: its next blocks, then back here */
        return;
    }
    uint32_t limit = ch->pkt_limit;
    limit = limit == 0 || limit == 0xffff ? 0xfffe : MAX(limit, 2);
    uint32_t size = MIN(ch->pkt_remaining, ch->buf_end - ch->buf_pos);
    if (size > limit) {
        size = limit & ~1u; /* a limited block is an even number of bytes */
    }
    ch->pkt_remaining -= size;
    ch->elem_end = ch->buf_pos + size;
    ch->lcyl = size;
    ch->hcyl = size >> 8;
    ch->nsector = (ch->nsector & ~7) | IREASON_IO;
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
    set_irq(ch);
}

static void packet_command(IdeChannel *ch)
{
    if ((ch->feature & 0x02) || ((ch->feature & 0x01) && !ch->dma)) {
        abort_command(ch, ERR_ABRT); /* overlapped, or DMA without a bus master */
        return;
    }
    ch->atapi_dma = ch->feature & 0x01;
    ch->pkt_limit = ch->lcyl | ch->hcyl << 8;
    ch->xfer = XFER_PACKET;
    ch->buf_pos = 0;
    ch->buf_end = ATAPI_PACKET_SIZE;
    ch->nsector = IREASON_COD;
    ch->status = ST_DRDY | ST_DSC | ST_DRQ;
}

/* The data goes over the bus master (as dma_kind) or by PIO, as the PACKET asked. */
static void atapi_data_phase(IdeChannel *ch, XferKind dma_kind)
{
    ch->atapi_xfer = true;
    if (ch->atapi_dma) {
        dma_command(ch, dma_kind);
    } else {
        ch->xfer = XFER_READ;
        atapi_pio_next(ch);
    }
}

/* The command block is in: run it. */
static void packet_received(IdeChannel *ch)
{
    AtaDrive *d = cur(ch);
    uint8_t cdb[ATAPI_PACKET_SIZE];
    memcpy(cdb, ch->buf, sizeof(cdb));
    AtapiResult r = atapi_execute(&d->atapi, d->blk, cdb, ch->buf);
    switch (r.action) {
    case ATAPI_DONE:
        atapi_good_status(ch);
        return;
    case ATAPI_FAILED:
        atapi_check_condition(ch);
        return;
    case ATAPI_UNIT_ATTENTION: /* upstream's "check status": no DRDY, the MC bit */
        ch->xfer = XFER_NONE;
        ch->error = 0x20 | SENSE_UNIT_ATTENTION << 4;
        ch->status = ST_ERR;
        ch->nsector = 0;
        set_irq(ch);
        return;
    case ATAPI_REPLY:
        ch->io_remaining = 0;
        ch->pkt_remaining = r.len;
        ch->buf_pos = 0;
        ch->buf_end = r.len;
        atapi_data_phase(ch, XFER_DMA_REPLY);
        return;
    case ATAPI_READ:
        ch->atapi_raw = r.raw;
        ch->io_lba = (uint64_t)r.lba * (ATAPI_BLOCK / ATA_SECTOR);
        ch->io_remaining = r.count * (ATAPI_BLOCK / ATA_SECTOR);
        ch->pkt_remaining = r.count * (r.raw ? ATAPI_RAW_BLOCK : ATAPI_BLOCK);
        ch->buf_pos = ch->buf_end = 0;
        atapi_data_phase(ch, XFER_DMA_READ);
        return;
    }
}

/* The ATA commands of an ATAPI device; false: one it shares with a disk, run as the disk's. */
static bool exec_atapi_ata(IdeChannel *ch, AtaDrive *d, uint8_t cmd)
{
    switch (cmd) {
    case 0xa0: /* PACKET */
        packet_command(ch);
        return true;
    case 0xa1: /* IDENTIFY PACKET DEVICE */
        identify_packet(ch, d);
        return true;
    case 0x08: /* DEVICE RESET: the signature, no interrupt */
        set_signature(ch);
        return true;
    case 0x20: /* READ SECTORS, IDENTIFY DEVICE: the signature says what this is */
    case 0x21:
    case 0xec:
        set_signature(ch);
        abort_command(ch, ERR_ABRT);
        return true;
    case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
    case 0xe5: /* CHECK POWER MODE */
    case 0xef: /* SET FEATURES */
    case 0xe0 ... 0xe3:
    case 0xe6:
        return false;
    default:
        abort_command(ch, ERR_ABRT);
        return true;
    }
}

static void exec_command(IdeChannel *ch, uint8_t cmd)
{
    AtaDrive *d = cur(ch);
    if (!d->blk) {
        return; /* commands to an absent device are ignored */
    }
    if (ch->busy) {
        return; /* BSY: the register is not the guest's to write */
    }
    clear_irq(ch);
    ch->error = 0;
    ch->sig_shown = false;
    ch->atapi_raw = false;
    if (d->cd && exec_atapi_ata(ch, d, cmd)) {
        return;
    }
    switch (cmd) {
    case 0xec: /* IDENTIFY DEVICE */
        identify(ch, d);
        return;
    case 0x20: /* READ SECTORS */
    case 0x21:
    case 0x24: /* READ SECTORS EXT */
        if (decode_range(ch, cmd == 0x24)) {
            ch->xfer = XFER_READ;
            start_chunk_read(ch);
        }
        return;
    case 0x30: /* WRITE SECTORS */
    case 0x31:
    case 0x34: /* WRITE SECTORS EXT */
        if (blk_is_read_only(d->blk)) {
            abort_command(ch, ERR_ABRT);
            return;
        }
        if (decode_range(ch, cmd == 0x34)) {
            ch->xfer = XFER_WRITE;
            ch->chunk = MIN(ch->io_remaining, ATA_BUF_SECTORS);
            ch->buf_pos = 0;
            ch->buf_end = ch->chunk * ATA_SECTOR;
            ch->status = ST_DRDY | ST_DSC | ST_DRQ; /* no interrupt for the first block */
        }
        return;
    case 0xc8: /* READ DMA */
    case 0xc9:
    case 0x25: /* READ DMA EXT */
    case 0xca: /* WRITE DMA */
    case 0xcb:
    case 0x35: /* WRITE DMA EXT */ {
        bool write = cmd == 0xca || cmd == 0xcb || cmd == 0x35;
        if (!ch->dma || (write && blk_is_read_only(d->blk))) {
            abort_command(ch, ERR_ABRT);
            return;
        }
        if (decode_range(ch, cmd == 0x25 || cmd == 0x35)) {
            dma_command(ch, write ? XFER_DMA_WRITE : XFER_DMA_READ);
        }
        return;
    }
    case 0xe7: /* FLUSH CACHE */
    case 0xea: /* FLUSH CACHE EXT */
        ch->status = ST_BSY;
        ch->busy = true;
        blk_aio_flush(d->blk, flush_done, ch);
        return;
    case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
        set_signature(ch);
        set_irq(ch);
        return;
    case 0xe5: /* CHECK POWER MODE: active */
        ch->nsector = 0xff;
        command_done(ch);
        return;
    case 0xef:                     /* SET FEATURES */
        if (ch->feature == 0x03) { /* transfer mode: PIO, single-word, multiword or UDMA */
            uint8_t kind = ch->nsector >> 3;
            if (kind != 0 && kind != 1 && kind != 2 && kind != 4 && kind != 8) {
                abort_command(ch, ERR_ABRT);
                return;
            }
            ch->xfer_mode[d == &ch->drive[1]] = kind > 1 ? ch->nsector : 0;
        }
        command_done(ch);
        return;
    case 0x91: /* INITIALIZE DEVICE PARAMETERS */
    case 0x40: /* READ VERIFY SECTORS */
    case 0x41:
    case 0x42:
    case 0x70: /* SEEK */
    case 0xe0: /* STANDBY IMMEDIATE */
    case 0xe1: /* IDLE IMMEDIATE */
    case 0xe2:
    case 0xe3:
    case 0xe6: /* SLEEP */
        command_done(ch);
        return;
    default:
        if (cmd >= 0x10 && cmd <= 0x1f) { /* RECALIBRATE */
            command_done(ch);
            return;
        }
        abort_command(ch, ERR_ABRT);
        return;
    }
}

/* The guest finished a 512-byte block of the buffer. */
static void block_done(IdeChannel *ch)
{
    switch (ch->xfer) {
    case XFER_IDENTIFY:
        ch->xfer = XFER_NONE;
        ch->status = ST_DRDY | ST_DSC;
        return;
    case XFER_READ:
        if (ch->buf_pos < ch->buf_end) {
            ch->status = ST_DRDY | ST_DSC | ST_DRQ; /* the next sector is ready */
            set_irq(ch);
        } else if (ch->io_remaining) {
            start_chunk_read(ch);
        } else {
            ch->xfer = XFER_NONE;
            ch->status = ST_DRDY | ST_DSC;
        }
        return;
    case XFER_WRITE:
        if (ch->buf_pos < ch->buf_end) {
            ch->status = ST_DRDY | ST_DSC | ST_DRQ; /* ready for the next sector */
            set_irq(ch);
            return;
        }
        ch->status = ST_BSY;
        ch->busy = true;
        /* With the write cache off each write reaches the disk (block-backend flushes). */
        blk_aio_pwrite(cur(ch)->blk, ch->io_lba * ATA_SECTOR, (uint64_t)ch->chunk * ATA_SECTOR,
                       ch->buf, 0, write_done, ch);
        return;
    default:
        return;
    }
}

static uint32_t data_read(IdeChannel *ch, unsigned size)
{
    if (!(ch->status & ST_DRQ) || ch->xfer == XFER_WRITE || ch->xfer == XFER_PACKET) {
        return 0xffffffff >> (32 - 8 * size);
    }
    uint32_t v = 0;
    uint32_t end = ch->atapi_xfer ? ch->elem_end : ch->buf_end;
    for (unsigned i = 0; i < size && ch->buf_pos < end; i++) {
        v |= (uint32_t)ch->buf[ch->buf_pos++] << (8 * i);
    }
    if (ch->atapi_xfer) {
        if (ch->buf_pos == end) {
            ch->status &= ~ST_DRQ;
            atapi_pio_next(ch);
        }
        return v;
    }
    if (ch->buf_pos % ATA_SECTOR == 0) {
        ch->status &= ~ST_DRQ;
        block_done(ch);
    }
    return v;
}

static void data_write(IdeChannel *ch, uint32_t v, unsigned size)
{
    if (ch->xfer == XFER_PACKET && (ch->status & ST_DRQ)) {
        for (unsigned i = 0; i < size && ch->buf_pos < ch->buf_end; i++) {
            ch->buf[ch->buf_pos++] = v >> (8 * i);
        }
        if (ch->buf_pos == ch->buf_end) {
            ch->status &= ~ST_DRQ;
            packet_received(ch);
        }
        return;
    }
    if (!(ch->status & ST_DRQ) || ch->xfer != XFER_WRITE) {
        return;
    }
    for (unsigned i = 0; i < size && ch->buf_pos < ch->buf_end; i++) {
        ch->buf[ch->buf_pos++] = v >> (8 * i);
    }
    if (ch->buf_pos % ATA_SECTOR == 0) {
        ch->status &= ~ST_DRQ;
        block_done(ch);
    }
}

/* --- registers ------------------------------------------------------------------------------ */

static bool no_device(IdeChannel *ch)
{
    /* Nothing answers for an absent unit: its registers read 0 (upstream's convention). */
    return !cur(ch)->blk;
}

static uint64_t taskfile_read(void *opaque, uint64_t addr, unsigned size)
{
    IdeChannel *ch = opaque;
    bool hob = ch->ctrl & CTL_HOB;
    if (addr == 0) {
        return no_device(ch) ? 0 : data_read(ch, size);
    }
    if (no_device(ch) && addr != 6) {
        return 0;
    }
    switch (addr) {
    case 1:
        return hob ? ch->hob_feature : ch->error;
    case 2:
        return hob ? ch->hob_nsector : ch->nsector;
    case 3:
        return hob ? ch->hob_sector : ch->sector;
    case 4:
        return hob ? ch->hob_lcyl : ch->lcyl;
    case 5:
        return hob ? ch->hob_hcyl : ch->hcyl;
    case 6:
        return ch->select;
    default: /* 7: status; reading it acknowledges the interrupt */
        clear_irq(ch);
        return ch->status;
    }
}

static void taskfile_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    IdeChannel *ch = opaque;
    uint8_t v = val;
    if (addr == 0) {
        data_write(ch, val, size);
        return;
    }
    if (ch->busy && addr != 7) {
        return;
    }
    /* Writes to the task file clear HOB (ATA-6 device control). */
    ch->ctrl &= ~CTL_HOB;
    if (addr != 6) {
        ch->sig_shown = false;
    }
    switch (addr) {
    case 1:
        ch->hob_feature = ch->feature;
        ch->feature = v;
        break;
    case 2:
        ch->hob_nsector = ch->nsector;
        ch->nsector = v;
        break;
    case 3:
        ch->hob_sector = ch->sector;
        ch->sector = v;
        break;
    case 4:
        ch->hob_lcyl = ch->lcyl;
        ch->lcyl = v;
        break;
    case 5:
        ch->hob_hcyl = ch->hcyl;
        ch->hcyl = v;
        break;
    case 6: {
        bool other_unit = (ch->select ^ v) & SEL_UNIT;
        ch->select = v | 0xa0;
        if (other_unit && ch->sig_shown && !ch->busy) {
            set_signature(ch); /* each unit has its own signature after a reset */
        }
        break;
    }
    default:
        exec_command(ch, v);
        break;
    }
}

static uint64_t ctl_read(void *opaque, uint64_t addr, unsigned size)
{
    IdeChannel *ch = opaque;
    return no_device(ch) ? 0 : ch->status; /* alternate status: no acknowledge */
}

static void ctl_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    IdeChannel *ch = opaque;
    bool was_reset = ch->ctrl & CTL_SRST;
    ch->ctrl = val;
    if ((val & CTL_SRST) && !was_reset) {
        ide_channel_drain(ch);
        set_signature(ch);
        ch->status = ST_BSY;
    } else if (!(val & CTL_SRST) && was_reset) {
        set_signature(ch);
        ch->select = 0xa0;
    }
    if (val & CTL_NIEN) {
        irq_lower(ch->irq);
    } else if (ch->irq_pending) {
        irq_raise(ch->irq);
    }
}

static const IoRegionOps taskfile_ops = {.read = taskfile_read, .write = taskfile_write};
static const IoRegionOps ctl_ops = {.read = ctl_read, .write = ctl_write};

bool ide_channel_map(IdeChannel *ch, IoSpace *io, uint16_t base, uint16_t ctl, GError **errp)
{
    return io_space_add(io, "ide", base, 8, &taskfile_ops, ch, errp) &&
           io_space_add(io, "ide-ctl", ctl, 1, &ctl_ops, ch, errp);
}

IdeChannel *ide_channel_new(IrqLine *irq)
{
    IdeChannel *ch = g_new0(IdeChannel, 1);
    ch->irq = irq;
    ide_channel_reset(ch);
    return ch;
}

/* --- a CD's medium and tray, as the monitor moves them ------------------------------------ */

static void cd_change_media(void *opaque, bool load)
{
    AtaDrive *d = opaque;
    ide_channel_drain(d->ch);
    atapi_medium_changed(&d->atapi, load);
}

static void cd_eject_request(void *opaque, bool force)
{
    AtaDrive *d = opaque;
    d->atapi.eject_request_event = true;
    if (force) {
        d->atapi.tray_locked = false;
    }
}

static bool cd_is_tray_open(void *opaque)
{
    return ((AtaDrive *)opaque)->atapi.tray_open;
}

static bool cd_is_medium_locked(void *opaque)
{
    return ((AtaDrive *)opaque)->atapi.tray_locked;
}

static const BlockDevOps cd_dev_ops = {
    .change_media_cb = cd_change_media,
    .eject_request_cb = cd_eject_request,
    .is_tray_open = cd_is_tray_open,
    .is_medium_locked = cd_is_medium_locked,
};

void ide_channel_set_bus_index(IdeChannel *ch, int bus)
{
    ch->bus_index = bus;
}

bool ide_channel_attach(IdeChannel *ch, int unit, BlockBackend *blk, const char *serial, bool cd,
                        GError **errp)
{
    /* A hard disk always asks to write, as upstream's ide-hd: a read-only drive or node is
     * refused ("Block node is read-only") rather than shown to the guest as writable. A CD
     * only reads, whatever its drive allows. */
    uint64_t perm = BLK_PERM_CONSISTENT_READ | (cd ? 0 : BLK_PERM_WRITE);
    if (!blk_set_perm(blk, perm, BLK_PERM_ALL & ~BLK_PERM_WRITE, errp)) {
        return false;
    }
    AtaDrive *d = &ch->drive[unit];
    d->ch = ch;
    d->cd = cd;
    memset(&d->atapi, 0, sizeof(d->atapi));
    if (cd) {
        blk_set_dev_ops(blk, &cd_dev_ops, d);
    }
    d->blk = blk;
    d->sectors = MAX(blk_getlength(blk), 0) / ATA_SECTOR;
    g_strlcpy(d->serial, serial ? serial : "QM00001", sizeof(d->serial));
    if (!serial) {
        d->serial[6] = '1' + 2 * ch->bus_index + unit; /* upstream's QM0000N, N counting units */
    }
    d->atapi.serial = d->serial;
    return true;
}

bool ide_channel_has_drive(IdeChannel *ch, int unit)
{
    return ch->drive[unit].blk != NULL;
}

void ide_channel_drain(IdeChannel *ch)
{
    for (int i = 0; i < 2; i++) {
        if (ch->drive[i].blk) {
            blk_drain(ch->drive[i].blk);
        }
    }
}

void ide_channel_reset(IdeChannel *ch)
{
    ide_channel_drain(ch);
    ch->bm_cmd = ch->bm_status = 0;
    ch->bm_prd = 0;
    prd_rewind(ch);
    ch->xfer_mode[0] = ch->xfer_mode[1] = 0;
    for (int i = 0; i < 2; i++) {
        atapi_reset(&ch->drive[i].atapi);
    }
    ch->atapi_xfer = false;
    ch->ctrl = 0;
    ch->select = 0xa0;
    ch->feature = ch->hob_feature = ch->hob_nsector = ch->hob_sector = 0;
    ch->hob_lcyl = ch->hob_hcyl = 0;
    set_signature(ch);
    ch->irq_pending = false;
    irq_lower(ch->irq);
}

void ide_channel_free(IdeChannel *ch)
{
    if (!ch) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (ch->drive[i].blk) {
            blk_drain(ch->drive[i].blk);
            blk_set_perm(ch->drive[i].blk, 0, BLK_PERM_ALL, NULL);
            if (ch->drive[i].cd) {
                blk_set_dev_ops(ch->drive[i].blk, NULL, NULL);
            }
        }
    }
    g_free(ch);
}

/* --- state ----------------------------------------------------------------------------------- */

static void ide_pre_save(void *opaque)
{
    ide_channel_drain(opaque);
}

static void ide_post_load(void *opaque, int version)
{
    IdeChannel *ch = opaque;
    irq_set_level(ch->irq, ch->irq_pending && !(ch->ctrl & CTL_NIEN));
}

static bool ide_check(const void *scratch, const void *live, int version, GError **errp)
{
    const IdeChannel *l = scratch;
    if (l->buf_end > sizeof(l->buf) || l->buf_pos > l->buf_end || l->xfer > XFER_DMA_REPLY ||
        l->chunk > ATA_BUF_SECTORS || l->busy ||
        (l->atapi_xfer && (l->elem_end > l->buf_end || l->buf_pos > l->elem_end))) {
        error_setg(errp, "ide: transfer state out of range");
        return false;
    }
    return true;
}

const VMStateDescription vmstate_ide_channel = {
    .name = "ide",
    .version = 4,
    .size = sizeof(IdeChannel),
    .pre_save = ide_pre_save,
    .check = ide_check,
    .post_load = ide_post_load,
    .fields =
        (const VMStateField[]){VMSTATE_U8(IdeChannel, feature),
                               VMSTATE_U8(IdeChannel, error),
                               VMSTATE_U8(IdeChannel, nsector),
                               VMSTATE_U8(IdeChannel, sector),
                               VMSTATE_U8(IdeChannel, lcyl),
                               VMSTATE_U8(IdeChannel, hcyl),
                               VMSTATE_U8(IdeChannel, select),
                               VMSTATE_U8(IdeChannel, status),
                               VMSTATE_U8(IdeChannel, ctrl),
                               VMSTATE_U8(IdeChannel, hob_feature),
                               VMSTATE_U8(IdeChannel, hob_nsector),
                               VMSTATE_U8(IdeChannel, hob_sector),
                               VMSTATE_U8(IdeChannel, hob_lcyl),
                               VMSTATE_U8(IdeChannel, hob_hcyl),
                               VMSTATE_U32(IdeChannel, xfer),
                               VMSTATE_U64(IdeChannel, io_lba),
                               VMSTATE_U32(IdeChannel, io_remaining),
                               VMSTATE_U32(IdeChannel, chunk),
                               VMSTATE_U32(IdeChannel, buf_pos),
                               VMSTATE_U32(IdeChannel, buf_end),
                               VMSTATE_BOOL(IdeChannel, busy),
                               VMSTATE_BOOL(IdeChannel, irq_pending),
                               VMSTATE_BUFFER(IdeChannel, buf),
                               VMSTATE_U8_V(IdeChannel, xfer_mode[0], 2),
                               VMSTATE_U8_V(IdeChannel, xfer_mode[1], 2),
                               VMSTATE_U8_V(IdeChannel, bm_cmd, 2),
                               VMSTATE_U8_V(IdeChannel, bm_status, 2),
                               VMSTATE_U32_V(IdeChannel, bm_prd, 2),
                               VMSTATE_U32_V(IdeChannel, prd_next, 2),
                               VMSTATE_U32_V(IdeChannel, prd_addr, 2),
                               VMSTATE_U32_V(IdeChannel, prd_len, 2),
                               VMSTATE_BOOL_V(IdeChannel, prd_last, 2),
                               VMSTATE_U8_V(IdeChannel, drive[0].atapi.sense_key, 3),
                               VMSTATE_U8_V(IdeChannel, drive[0].atapi.asc, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[0].atapi.tray_open, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[0].atapi.tray_locked, 3),
                               VMSTATE_U8_V(IdeChannel, drive[0].atapi.media_changed, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[0].atapi.new_media_event, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[0].atapi.eject_request_event, 3),
                               VMSTATE_U8_V(IdeChannel, drive[1].atapi.sense_key, 3),
                               VMSTATE_U8_V(IdeChannel, drive[1].atapi.asc, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[1].atapi.tray_open, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[1].atapi.tray_locked, 3),
                               VMSTATE_U8_V(IdeChannel, drive[1].atapi.media_changed, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[1].atapi.new_media_event, 3),
                               VMSTATE_BOOL_V(IdeChannel, drive[1].atapi.eject_request_event, 3),
                               VMSTATE_BOOL_V(IdeChannel, atapi_xfer, 3),
                               VMSTATE_BOOL_V(IdeChannel, atapi_dma, 3),
                               VMSTATE_U32_V(IdeChannel, pkt_remaining, 3),
                               VMSTATE_U32_V(IdeChannel, pkt_limit, 3),
                               VMSTATE_U32_V(IdeChannel, elem_end, 3),
                               VMSTATE_BOOL_V(IdeChannel, sig_shown, 3),
                               VMSTATE_BOOL_V(IdeChannel, atapi_raw, 4),
                               VMSTATE_END},
};
