/*
 * The MMC command set of an ATAPI CD/DVD-ROM drive ("QEMU DVD-ROM", as upstream's ide-cd),
 * apart from the ATA transport that carries it (hw/ide/ide.c): a 12-byte command block in,
 * an action out. The transport moves the data and raises the interrupts.
 *
 *   PACKET ──► atapi_execute(cdb) ──► ATAPI_DONE    no data: good status
 *                                 ├─► ATAPI_REPLY   len bytes in buf for the guest
 *                                 ├─► ATAPI_READ    count 2048-byte blocks from lba (raw:
 *                                 │                 each framed to 2352, atapi_frame_block)
 *                                 └─► ATAPI_FAILED  check condition: sense_key/asc kept for
 *                                                   REQUEST SENSE, error register = key << 4
 *
 * Sense and media changes follow upstream: a command that needs a medium gets NOT READY /
 * MEDIUM NOT PRESENT without one; after a medium change the next command (other than
 * REQUEST SENSE, INQUIRY, GET CONFIGURATION, GET EVENT STATUS) first gets NOT READY, then
 * UNIT ATTENTION / MEDIUM MAY HAVE CHANGED, so guests that only poll see the tray move.
 */
#ifndef HW_IDE_ATAPI_H
#define HW_IDE_ATAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block-backend.h"

#define ATAPI_PACKET_SIZE 12
#define ATAPI_BLOCK       2048
#define ATAPI_RAW_BLOCK   2352 /* a whole CD sector: sync, header, data, EDC/ECC */
#define ATAPI_RAW_HEADER  16
#define ATAPI_REPLY_MAX   4096 /* at least the largest reply any command builds (2052) */

/* Sense keys and additional sense codes (SPC/MMC). */
#define SENSE_NONE                        0x00
#define SENSE_NOT_READY                   0x02
#define SENSE_ILLEGAL_REQUEST             0x05
#define SENSE_UNIT_ATTENTION              0x06
#define ASC_ILLEGAL_OPCODE                0x20
#define ASC_LBA_OUT_OF_RANGE              0x21
#define ASC_INVALID_FIELD                 0x24
#define ASC_MEDIUM_MAY_HAVE_CHANGED       0x28
#define ASC_INCOMPATIBLE_FORMAT           0x30
#define ASC_SAVING_PARAMETERS_UNSUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT            0x3a
#define ASC_DATA_PHASE_ERROR              0x4b
#define ASC_MEDIA_REMOVAL_PREVENTED       0x53

typedef struct AtapiState {
    uint8_t sense_key, asc;
    bool tray_open, tray_locked;
    uint8_t media_changed; /* 1: NOT READY is reported next, 2: then UNIT ATTENTION */
    bool new_media_event, eject_request_event;
    const char *serial; /* the drive's serial number (INQUIRY's identification page) */
} AtapiState;

typedef enum {
    ATAPI_DONE,
    ATAPI_REPLY,
    ATAPI_READ,
    ATAPI_FAILED,
    ATAPI_UNIT_ATTENTION, /* pending UNIT ATTENTION refused the command (no DRDY, MC bit) */
} AtapiAction;

typedef struct AtapiResult {
    AtapiAction action;
    uint32_t len;        /* REPLY: bytes in buf, already cut to the allocation length */
    uint32_t lba, count; /* READ: 2048-byte blocks */
    bool raw;            /* READ: each handed over framed as a 2352-byte sector */
} AtapiResult;

/* Runs one command on the medium in blk (none: an empty drive). buf holds at least
 * ATAPI_REPLY_MAX bytes. Opening or closing the tray calls blk_tray_moved(). */
AtapiResult atapi_execute(AtapiState *s, BlockBackend *blk, const uint8_t *cdb, uint8_t *buf);

/* Frames the 2048 data bytes at frame + ATAPI_RAW_HEADER as upstream's READ CD of whole
 * sectors does: sync, the block's address (MSF) and mode 1 before, 288 zero bytes after
 * (EDC/ECC not computed). */
void atapi_frame_block(uint8_t *frame, uint32_t lba);
/* A read that failed in the block layer: the sense it reports (upstream's mapping). */
void atapi_read_failed(AtapiState *s, int ret);

/* Power-on or reset: no sense, no pending change. */
void atapi_reset(AtapiState *s);
/* A medium was inserted or removed behind the guest's back (monitor): reported as upstream. */
void atapi_medium_changed(AtapiState *s, bool loaded);

#endif
