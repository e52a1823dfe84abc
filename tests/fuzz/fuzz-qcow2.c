/*
 * A hostile qcow2 image: the input is the whole image file, held in memory. It is opened
 * (header, extensions, L1 and refcount tables), read through its L1/L2 tables (with a backing
 * reader under it), written, zeroed, discarded and emptied. Nothing may crash or touch memory
 * outside its buffers; errors are expected.
 */
#include "block/qcow2.h"

#include <errno.h>
#include <string.h>

#define MEMFILE_CAP (4u << 20) /* writes past this fail, as a full disk would */

typedef struct MemFile {
    uint8_t *data;
    size_t len;
} MemFile;

static int mem_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    MemFile *m = opaque;
    size_t have = off < m->len ? MIN(len, m->len - off) : 0;
    if (have) {
        memcpy(buf, m->data + off, have);
    }
    memset((uint8_t *)buf + have, 0, len - have);
    return 0;
}

static int mem_pwrite(void *opaque, uint64_t off, const void *buf, size_t len)
{
    MemFile *m = opaque;
    if (off > MEMFILE_CAP || len > MEMFILE_CAP - off) {
        return -ENOSPC;
    }
    if (off + len > m->len) {
        m->data = g_realloc(m->data, off + len);
        memset(m->data + m->len, 0, off + len - m->len);
        m->len = off + len;
    }
    memcpy(m->data + off, buf, len);
    return 0;
}

static int mem_flush(void *opaque)
{
    return 0;
}

static int mem_truncate(void *opaque, uint64_t size)
{
    MemFile *m = opaque;
    if (size > MEMFILE_CAP) {
        return -ENOSPC;
    }
    m->data = g_realloc(m->data, size ? size : 1);
    if (size > m->len) {
        memset(m->data + m->len, 0, size - m->len);
    }
    m->len = size;
    return 0;
}

static int64_t mem_length(void *opaque)
{
    return (int64_t)((MemFile *)opaque)->len;
}

static int pattern_pread(void *opaque, uint64_t off, void *buf, size_t len)
{
    memset(buf, 0xbb, len);
    return 0;
}

static int64_t pattern_length(void *opaque)
{
    return 1 << 20;
}

static void exercise(Qcow2Image *q, bool writable)
{
    Qcow2Info info;
    qcow2_get_info(q, &info);
    if (info.backing_file && strlen(info.backing_file) > 1023) {
        __builtin_trap();
    }
    qcow2_info_clear(&info);

    Qcow2Backing b = {.pread = pattern_pread, .length = pattern_length};
    qcow2_set_backing(q, &b);

    uint64_t size = qcow2_virtual_size(q);
    static uint8_t buf[8192];
    static const uint64_t offsets[] = {0, 511, 4096, 65535, 1 << 20, 3 << 20};
    for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
        uint64_t off = offsets[i];
        if (off < size) {
            size_t n = MIN(sizeof(buf), size - off);
            qcow2_read(q, off, buf, n);
        }
    }
    if (size >= sizeof(buf)) {
        qcow2_read(q, size - sizeof(buf), buf, sizeof(buf));
    }
    uint64_t pnum = 0;
    for (uint64_t off = 0; off < MIN(size, 1 << 20); off += pnum) {
        if (qcow2_block_status(q, off, MIN(size, 1 << 20) - off, &pnum) < 0) {
            break;
        }
        if (pnum == 0) {
            __builtin_trap(); /* a status always covers at least the byte asked about */
        }
    }
    if (!writable) {
        return;
    }
    memset(buf, 0x5a, sizeof(buf));
    for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
        uint64_t off = offsets[i];
        if (off < size) {
            size_t n = MIN(sizeof(buf) / 2, size - off);
            qcow2_write(q, off, buf, n);
            qcow2_read(q, off, buf + sizeof(buf) / 2, n);
        }
    }
    qcow2_write_zeroes(q, 100, MIN(size, 200000) > 100 ? MIN(size, 200000) - 100 : 0);
    qcow2_discard(q, 0, MIN(size, 1 << 20));
    qcow2_flush(q);
    qcow2_make_empty(q);
    if (size) {
        qcow2_read(q, 0, buf, MIN(sizeof(buf), size));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MEMFILE_CAP) {
        return 0;
    }
    for (int rw = 1; rw >= 0; rw--) {
        MemFile m = {.data = g_memdup2(data, size ? size : 1), .len = size};
        Qcow2File f = {.opaque = &m,
                       .pread = mem_pread,
                       .pwrite = mem_pwrite,
                       .flush = mem_flush,
                       .truncate = mem_truncate,
                       .length = mem_length};
        GError *err = NULL;
        Qcow2Image *q = qcow2_open(&f, rw ? QCOW2_OPEN_RDWR : 0, &err);
        if (q) {
            exercise(q, rw);
            qcow2_close(q);
        } else if (!err || !err->message[0]) {
            __builtin_trap(); /* a refusal always says why */
        }
        g_clear_error(&err);
        g_free(m.data);
    }
    return 0;
}
