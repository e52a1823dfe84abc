/*
 * An NBD export over a buffer in memory: what the unit tests, the interop tests' helper and the
 * fuzzer serve, before and besides the block layer. Every request completes at once.
 */
#include "block/nbd-server.h"

#include <string.h>

typedef struct MemExport {
    uint8_t *data;
} MemExport;

static void mem_read(void *opaque, uint64_t offset, uint32_t length, void *buf, NbdIoDone done,
                     void *done_opaque)
{
    MemExport *m = opaque;
    memcpy(buf, m->data + offset, length);
    done(done_opaque, 0);
}

static void mem_write(void *opaque, uint64_t offset, uint32_t length, const void *buf, bool fua,
                      NbdIoDone done, void *done_opaque)
{
    MemExport *m = opaque;
    memcpy(m->data + offset, buf, length);
    done(done_opaque, 0);
}

static void mem_flush(void *opaque, NbdIoDone done, void *done_opaque)
{
    done(done_opaque, 0);
}

static void mem_zero(void *opaque, uint64_t offset, uint32_t length, NbdIoDone done,
                     void *done_opaque)
{
    MemExport *m = opaque;
    memset(m->data + offset, 0, length);
    done(done_opaque, 0);
}

static void mem_write_zeroes(void *opaque, uint64_t offset, uint32_t length, bool may_trim,
                             NbdIoDone done, void *done_opaque)
{
    mem_zero(opaque, offset, length, done, done_opaque);
}

static void mem_release(void *opaque)
{
    MemExport *m = opaque;
    g_free(m->data);
    g_free(m);
}

static const NbdExportOps mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .flush = mem_flush,
    .trim = mem_zero, /* a discarded range reads back as zeroes */
    .write_zeroes = mem_write_zeroes,
    .release = mem_release,
};

NbdExport *nbd_memory_export_new(const char *name, uint8_t *data, uint64_t size, bool writable)
{
    MemExport *m = g_new0(MemExport, 1);
    m->data = data;
    return nbd_export_new(name, NULL, size, writable, &mem_ops, m);
}
