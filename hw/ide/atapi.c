/* The MMC command set of an ATAPI CD/DVD-ROM drive (include/hw/ide/atapi.h). */
#include "hw/ide/atapi.h"
#include "util/be.h"

#include <errno.h>
#include <string.h>

/* Upstream reports a medium larger than a CD (80 minutes of 2048-byte blocks) as a DVD. */
#define CD_MAX_BLOCKS (80 * 60 * 75)

#define PROFILE_CD_ROM  0x0008
#define PROFILE_DVD_ROM 0x0010

/* Which commands run while a UNIT ATTENTION is pending, and which need a medium (MMC-5
 * 4.1.6.1, 4.1.8). */
#define ALLOW_UA    0x01
#define CHECK_READY 0x02

/* A space-padded ASCII field, no terminator. */
static void put_padded(uint8_t *p, size_t n, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++) {
        p[i] = i < len ? s[i] : ' ';
    }
}

/* Minutes, seconds, frames of a block address (the 2-second lead-in counted). */
static void put_msf(uint8_t *p, uint32_t lba)
{
    lba += 150;
    p[0] = lba / 75 / 60;
    p[1] = lba / 75 % 60;
    p[2] = lba % 75;
}

static uint32_t medium_blocks(BlockBackend *blk)
{
    if (!blk || !blk_is_inserted(blk)) {
        return 0;
    }
    int64_t len = blk_getlength(blk);
    return len > 0 ? MIN((uint64_t)len / ATAPI_BLOCK, UINT32_MAX) : 0;
}

static bool medium_present(AtapiState *s, BlockBackend *blk)
{
    return !s->tray_open && medium_blocks(blk) > 0;
}

static AtapiResult done(void)
{
    return (AtapiResult){.action = ATAPI_DONE};
}

static AtapiResult fail(AtapiState *s, uint8_t key, uint8_t asc)
{
    s->sense_key = key;
    s->asc = asc;
    return (AtapiResult){.action = ATAPI_FAILED};
}

static AtapiResult reply(uint32_t len, uint32_t alloc)
{
    return (AtapiResult){.action = ATAPI_REPLY, .len = MIN(len, alloc)};
}

/* --- the commands ------------------------------------------------------------------------ */

typedef AtapiResult CommandFn(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf);

static AtapiResult cmd_test_unit_ready(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                       uint8_t *buf)
{
    return done(); /* not-ready conditions were answered before */
}

static AtapiResult cmd_request_sense(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                     uint8_t *buf)
{
    buf[0] = 0xf0; /* current error, sense data valid */
    buf[2] = s->sense_key;
    buf[7] = 10; /* additional length */
    buf[12] = s->asc;
    if (s->sense_key == SENSE_UNIT_ATTENTION) {
        s->sense_key = SENSE_NONE; /* reported once */
    }
    return reply(18, cdb[4]);
}

/* VPD page 0x83, device identification, as upstream (libata's layout): the serial number,
 * then, if the allocation length has room, T10 vendor "ATA", model and serial. */
static AtapiResult vpd_identification(AtapiState *s, uint8_t *buf, uint32_t alloc)
{
    const char *serial = s->serial ? s->serial : "";
    uint32_t len = 4;
    if (len + 24 > alloc) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_DATA_PHASE_ERROR);
    }
    uint8_t *e = buf + len;
    e[0] = 0x02; /* ASCII, vendor specific */
    e[3] = 20;
    put_padded(e + 4, 20, serial);
    len += 24;
    if (len + 72 <= alloc) {
        e = buf + len;
        e[0] = 0x02; /* ASCII, T10 vendor identification */
        e[1] = 0x01;
        e[3] = 68;
        put_padded(e + 4, 8, "ATA");
        put_padded(e + 12, 40, "QEMU DVD-ROM");
        put_padded(e + 52, 20, serial);
        len += 72;
    }
    buf[3] = len - 4;
    return reply(len, alloc);
}

static AtapiResult cmd_inquiry(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    uint32_t alloc = cdb[4]; /* upstream reads one byte of the allocation length */
    if (cdb[1] & 1) {        /* vital product data */
        buf[0] = 0x05;
        buf[1] = cdb[2];
        switch (cdb[2]) {
        case 0x00: /* the supported pages */
            buf[3] = 2;
            buf[4] = 0x00;
            buf[5] = 0x83;
            return reply(6, alloc);
        case 0x83:
            return vpd_identification(s, buf, alloc);
        default:
            return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        }
    }
    buf[0] = 0x05; /* CD/DVD device */
    buf[1] = 0x80; /* removable medium */
    buf[3] = 0x21; /* ATAPI, response data format 1 */
    buf[4] = 31;   /* additional length */
    put_padded(buf + 8, 8, "QEMU");
    put_padded(buf + 16, 16, "QEMU DVD-ROM");
    put_padded(buf + 32, 4, "2.5+");
    return reply(36, alloc);
}

static AtapiResult cmd_start_stop_unit(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                       uint8_t *buf)
{
    bool start = cdb[4] & 1, load_eject = cdb[4] & 2;
    if ((cdb[4] & 0xf0) || !load_eject) {
        return done(); /* a power condition, or no tray movement asked */
    }
    if (!start && !s->tray_open && s->tray_locked) {
        return fail(s, blk && blk_is_inserted(blk) ? SENSE_NOT_READY : SENSE_ILLEGAL_REQUEST,
                    ASC_MEDIA_REMOVAL_PREVENTED);
    }
    if (s->tray_open == start) {
        s->tray_open = !start;
        if (blk) {
            blk_tray_moved(blk, s->tray_open);
        }
    }
    return done();
}

static AtapiResult cmd_prevent_allow(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                     uint8_t *buf)
{
    s->tray_locked = cdb[4] & 1;
    return done();
}

static AtapiResult cmd_read_capacity(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                     uint8_t *buf)
{
    st32_be(buf, medium_blocks(blk) - 1); /* the last block's address */
    st32_be(buf + 4, ATAPI_BLOCK);
    return reply(8, 8);
}

static AtapiResult read_blocks(AtapiState *s, BlockBackend *blk, uint32_t lba, uint32_t count)
{
    if (!count) {
        return done();
    }
    uint32_t blocks = medium_blocks(blk);
    if (lba > blocks || count > blocks - lba) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
    }
    return (AtapiResult){.action = ATAPI_READ, .lba = lba, .count = count};
}

static AtapiResult cmd_read(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    uint32_t count = cdb[0] == 0x28 ? ld16_be(cdb + 7) : ld32_be(cdb + 6);
    return read_blocks(s, blk, ld32_be(cdb + 2), count);
}

static AtapiResult cmd_read_cd(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    uint32_t count = cdb[6] << 16 | cdb[7] << 8 | cdb[8];
    if (!count) {
        return done();
    }
    AtapiResult r;
    switch (cdb[9] & 0xf8) {
    case 0x00: /* no fields asked for */
        return done();
    case 0x10: /* user data only: a plain read */
        return read_blocks(s, blk, ld32_be(cdb + 2), count);
    case 0xf8: /* everything: sync, header, user data, EDC/ECC */
        r = read_blocks(s, blk, ld32_be(cdb + 2), count);
        r.raw = r.action == ATAPI_READ;
        return r;
    default: /* other field combinations are not offered, as upstream */
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
}

void atapi_frame_block(uint8_t *frame, uint32_t lba)
{
    frame[0] = 0x00;
    memset(frame + 1, 0xff, 10);
    frame[11] = 0x00;
    put_msf(frame + 12, lba);
    frame[15] = 0x01; /* mode 1 */
    memset(frame + ATAPI_RAW_HEADER + ATAPI_BLOCK, 0,
           ATAPI_RAW_BLOCK - ATAPI_RAW_HEADER - ATAPI_BLOCK);
}

static AtapiResult cmd_seek(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    if (ld32_be(cdb + 2) >= medium_blocks(blk)) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
    }
    return done();
}

/* One track of data and the lead-out, as a single-session data CD. */
static uint32_t toc_format0(uint32_t blocks, uint8_t *buf, bool msf, uint8_t start_track)
{
    uint8_t *q = buf + 2;
    *q++ = 1; /* first track */
    *q++ = 1; /* last track */
    if (start_track <= 1) {
        q[1] = 0x14; /* ADR 1, data track */
        q[2] = 1;
        if (msf) {
            put_msf(q + 5, 0);
        } else {
            st32_be(q + 4, 0);
        }
        q += 8;
    }
    q[1] = 0x16;
    q[2] = 0xaa; /* lead-out */
    if (msf) {
        put_msf(q + 5, blocks);
    } else {
        st32_be(q + 4, blocks);
    }
    q += 8;
    uint32_t len = q - buf;
    st16_be(buf, len - 2);
    return len;
}

/* One raw TOC descriptor (11 bytes) of session 1's data track: point, then (PMIN, PSEC,
 * PFRAME) in p[8..10] or, for an address, p[7..10]. */
static uint8_t *toc_raw_entry(uint8_t *p, uint8_t point)
{
    p[0] = 1;    /* session */
    p[1] = 0x14; /* ADR 1, data track */
    p[3] = point;
    return p + 11;
}

/* The raw TOC (format 2) of a single-session data CD, as upstream's: the points A0 (first
 * track 1), A1 (last track 1), A2 (lead-out) and track 1. The start track is not looked at. */
static uint32_t toc_format2(uint32_t blocks, uint8_t *buf, bool msf)
{
    uint8_t *q = buf + 2;
    *q++ = 1; /* first session */
    *q++ = 1; /* last session */
    uint8_t *e = q;
    q = toc_raw_entry(q, 0xa0);
    e[8] = 1; /* first track */
    e = q;
    q = toc_raw_entry(q, 0xa1);
    e[8] = 1; /* last track */
    e = q;
    q = toc_raw_entry(q, 0xa2);
    if (msf) {
        put_msf(e + 8, blocks);
    } else {
        st32_be(e + 7, blocks);
    }
    e = q;
    q = toc_raw_entry(q, 1);
    if (msf) {
        put_msf(e + 8, 0);
    }
    uint32_t len = q - buf;
    st16_be(buf, len - 2);
    return len;
}

static AtapiResult cmd_read_toc(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    uint32_t alloc = ld16_be(cdb + 7);
    bool msf = cdb[1] & 2;
    uint8_t start_track = cdb[6];
    switch (cdb[9] >> 6) {
    case 0:
        if (start_track > 1 && start_track != 0xaa) {
            break;
        }
        return reply(toc_format0(medium_blocks(blk), buf, msf, start_track), alloc);
    case 1: /* multi-session: the only session */
        buf[1] = 0x0a;
        buf[2] = 1;
        buf[3] = 1;
        return reply(12, alloc);
    case 2:
        return reply(toc_format2(medium_blocks(blk), buf, msf), alloc);
    default:
        break;
    }
    return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
}

/* READ DVD STRUCTURE's DVD-ROM formats, as upstream answers them: physical format (one
 * layer), copyright (none), manufacturing (empty), and the list of these (with BCA, which a
 * DVD-ROM image has none of). Reply length, or 0 with the sense set. */
static uint32_t dvd_structure(AtapiState *s, uint32_t blocks, uint8_t format, uint8_t layer,
                              uint8_t *buf)
{
    switch (format) {
    case 0x00:
        if (layer != 0) {
            break;
        }
        buf[4] = 0x01;                 /* DVD-ROM, version 1 */
        buf[5] = 0x0f;                 /* 120 mm, maximum rate not given */
        buf[6] = 0x01;                 /* one layer, read-only */
        st32_be(buf + 8, 0);           /* first data sector */
        st32_be(buf + 12, blocks - 1); /* last */
        st32_be(buf + 16, blocks - 1); /* last of layer 0 */
        st16_be(buf, 2048 + 2);
        return 2048 + 4;
    case 0x01:
        st16_be(buf, 4 + 2); /* no copy protection, all regions */
        return 4 + 4;
    case 0x04:
        st16_be(buf, 2048 + 2);
        return 2048 + 4;
    case 0xff: {
        static const struct {
            uint8_t format;
            uint16_t len;
        } list[] = {{0x00, 2048 + 4}, {0x01, 4 + 4}, {0x03, 188 + 4}, {0x04, 2048 + 4}};
        for (size_t i = 0; i < G_N_ELEMENTS(list); i++) {
            uint8_t *e = buf + 4 + 4 * i;
            e[0] = list[i].format;
            e[1] = 0x40; /* readable, not writable */
            st16_be(e + 2, list[i].len);
        }
        st16_be(buf, 16 + 2);
        return 16 + 4;
    }
    default: /* BCA (0x03) included: none on an image */
        break;
    }
    fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    return 0;
}

static AtapiResult cmd_read_dvd_structure(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                          uint8_t *buf)
{
    uint8_t media = cdb[1], format = cdb[7];
    uint32_t blocks = medium_present(s, blk) ? medium_blocks(blk) : 0;
    if (format < 0xff) {
        if (blocks && blocks <= CD_MAX_BLOCKS) {
            return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INCOMPATIBLE_FORMAT);
        }
        if (!blocks) {
            return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        }
    }
    /* Formats 0x80 and up (AACS, layers, write protection) and other media (Blu-ray) are
     * not offered. */
    if (media != 0 || (format >= 0x80 && format != 0xff)) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    /* Upstream clears its buffer, which still holds the command, before it reads the layer:
     * the layer only counts when the allocation length leaves byte 6 alone. */
    uint32_t alloc = ld16_be(cdb + 8);
    uint32_t len = dvd_structure(s, blocks, format, alloc > 6 ? 0 : cdb[6], buf);
    return len ? reply(len, alloc) : (AtapiResult){.action = ATAPI_FAILED};
}

static AtapiResult cmd_get_configuration(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                         uint8_t *buf)
{
    if (cdb[2] != 0 || cdb[3] != 0) { /* only the profile list (feature 0) */
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    uint32_t alloc = MIN(ld16_be(cdb + 7), 512); /* upstream's cap: one sector */
    uint32_t blocks = medium_present(s, blk) ? medium_blocks(blk) : 0;
    uint16_t current = !blocks ? 0 : blocks > CD_MAX_BLOCKS ? PROFILE_DVD_ROM : PROFILE_CD_ROM;
    st16_be(buf + 6, current);
    buf[10] = 0x03; /* persistent, current */
    static const uint16_t profiles[] = {PROFILE_DVD_ROM, PROFILE_CD_ROM};
    uint32_t len = 12;
    for (size_t i = 0; i < G_N_ELEMENTS(profiles); i++) {
        st16_be(buf + len, profiles[i]);
        buf[len + 2] = profiles[i] == current;
        buf[11] += 4;
        len += 4;
    }
    st32_be(buf, len - 4);
    return reply(len, alloc);
}

static AtapiResult cmd_get_event_status(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                        uint8_t *buf)
{
    if (!(cdb[1] & 1)) { /* asynchronous notification is not offered */
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    uint32_t len = 4;
    buf[3] = 1 << 4; /* supported: media events */
    if (cdb[4] & (1 << 4)) {
        uint8_t media = s->tray_open ? 0x01 : blk && blk_is_inserted(blk) ? 0x02 : 0x00;
        uint8_t event = 0; /* no change */
        if (!s->tray_open) {
            if (s->new_media_event) {
                event = 2;
                s->new_media_event = false;
            } else if (s->eject_request_event) {
                event = 1;
                s->eject_request_event = false;
            }
        }
        buf[2] = 4; /* media class */
        buf[4] = event;
        buf[5] = media;
        len = 8;
    } else {
        buf[2] = 0x80; /* no event available */
    }
    st16_be(buf, len - 4);
    return reply(len, ld16_be(cdb + 7));
}

static AtapiResult cmd_read_disc_information(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                             uint8_t *buf)
{
    if (cdb[1] & 7) { /* types 1 and 2 are Blu-ray's */
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    buf[1] = 32;
    buf[2] = 0x0e; /* last session complete, disc finalized */
    buf[3] = 1;    /* first track */
    buf[4] = 1;    /* sessions */
    buf[5] = 1;    /* first track of the last session */
    buf[6] = 1;    /* last track of the last session */
    buf[7] = 0x20; /* unrestricted use */
    return reply(34, ld16_be(cdb + 7));
}

static uint32_t mode_header(uint8_t *buf, uint32_t len, uint8_t page)
{
    st16_be(buf, len - 2);
    buf[2] = 0x70; /* medium type: no disc / door closed, as upstream */
    buf[8] = page;
    buf[9] = len - 10;
    return len;
}

static AtapiResult cmd_mode_sense(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                  uint8_t *buf)
{
    uint32_t alloc = ld16_be(cdb + 7);
    uint8_t control = cdb[2] >> 6, page = cdb[2] & 0x3f;
    if (control == 3) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_UNSUPPORTED);
    }
    if (control != 0) { /* changeable and default values are not kept */
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    switch (page) {
    case 0x01: /* read/write error recovery */
        buf[11] = 0x05;
        return reply(mode_header(buf, 16, page), alloc);
    case 0x0e: /* CD audio control: volumes 0 */
        return reply(mode_header(buf, 24, page), alloc);
    case 0x2a: /* capabilities */
        mode_header(buf, 30, page);
        buf[10] = 0x3b; /* reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM */
        buf[12] = 0x71; /* audio play (Linux looks for it to automount), ... */
        buf[13] = 3 << 5;
        buf[14] = 0x01 | 0x08 | 0x20 | (s->tray_locked ? 0x02 : 0); /* lock, eject, tray */
        st16_be(buf + 16, 704);                                     /* 4x */
        buf[19] = 2;                                                /* volume levels */
        st16_be(buf + 20, 512);                                     /* buffer KiB */
        st16_be(buf + 22, 704);
        return reply(30, alloc);
    default:
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
}

static AtapiResult cmd_mechanism_status(AtapiState *s, BlockBackend *blk, const uint8_t *cdb,
                                        uint8_t *buf)
{
    buf[5] = 1; /* one slot */
    return reply(8, ld16_be(cdb + 8));
}

static const struct {
    CommandFn *fn;
    uint8_t flags;
} commands[256] = {
    [0x00] = {cmd_test_unit_ready, CHECK_READY},
    [0x03] = {cmd_request_sense, ALLOW_UA},
    [0x12] = {cmd_inquiry, ALLOW_UA},
    [0x1b] = {cmd_start_stop_unit, 0},
    [0x1e] = {cmd_prevent_allow, 0},
    [0x25] = {cmd_read_capacity, CHECK_READY},
    [0x28] = {cmd_read, CHECK_READY},
    [0x2b] = {cmd_seek, CHECK_READY},
    [0x43] = {cmd_read_toc, CHECK_READY},
    [0x46] = {cmd_get_configuration, ALLOW_UA},
    [0x4a] = {cmd_get_event_status, ALLOW_UA},
    [0x51] = {cmd_read_disc_information, CHECK_READY},
    [0x5a] = {cmd_mode_sense, 0},
    [0xa8] = {cmd_read, CHECK_READY},
    [0xad] = {cmd_read_dvd_structure, CHECK_READY},
    [0xbb] = {cmd_test_unit_ready, 0}, /* SET CD SPEED: accepted, nothing changes */
    [0xbd] = {cmd_mechanism_status, 0},
    [0xbe] = {cmd_read_cd, CHECK_READY},
};

AtapiResult atapi_execute(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf)
{
    uint8_t flags = commands[cdb[0]].flags;
    memset(buf, 0, ATAPI_REPLY_MAX);
    if (s->sense_key == SENSE_UNIT_ATTENTION && !(flags & ALLOW_UA)) {
        return (AtapiResult){.action = ATAPI_UNIT_ATTENTION};
    }
    /* A changed medium: first shown gone, then as a unit attention (guests that do not poll
     * events see the change this way). */
    if (!(flags & ALLOW_UA) && s->media_changed && !s->tray_open && blk && blk_is_inserted(blk)) {
        if (s->media_changed == 1) {
            s->media_changed = 2;
            return fail(s, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
        }
        s->media_changed = 0;
        return fail(s, SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED);
    }
    if ((flags & CHECK_READY) && !medium_present(s, blk)) {
        return fail(s, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    }
    if (!commands[cdb[0]].fn) {
        return fail(s, SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_OPCODE);
    }
    return commands[cdb[0]].fn(s, blk, cdb, buf);
}

void atapi_read_failed(AtapiState *s, int ret)
{
    if (ret == -ENOMEDIUM) {
        fail(s, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    } else {
        fail(s, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
    }
}

void atapi_reset(AtapiState *s)
{
    s->sense_key = SENSE_NONE;
    s->asc = 0;
    s->media_changed = 0;
    s->new_media_event = s->eject_request_event = false;
}

void atapi_medium_changed(AtapiState *s, bool loaded)
{
    s->tray_open = !loaded;
    s->media_changed = 1;
    s->new_media_event = true;
    s->eject_request_event = false;
}
