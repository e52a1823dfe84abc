/* The migration stream's records, written and read (include/migration/stream.h). */
#include "migration/stream.h"

#include <string.h>
#include <sys/mman.h>

#include "util/error.h"

void mig_stream_put_header(MigChannel *c, const char *machine_type, uint64_t ram_size)
{
    gsize n = MIN(strlen(machine_type), MIG_STREAM_MACHINE_MAX);
    mig_channel_put(c, MIG_STREAM_MAGIC, MIG_STREAM_MAGIC_LEN);
    mig_channel_put_be32(c, MIG_STREAM_VERSION);
    mig_channel_put_u8(c, n);
    mig_channel_put(c, machine_type, n);
    mig_channel_put_be64(c, ram_size);
    mig_channel_put_be32(c, GUEST_PAGE_SIZE);
}

void mig_stream_put_page(MigChannel *c, uint64_t index, const void *data)
{
    mig_channel_put_u8(c, MIG_REC_PAGE);
    mig_channel_put_be64(c, index);
    mig_channel_put(c, data, GUEST_PAGE_SIZE);
}

void mig_stream_put_zero_run(MigChannel *c, uint64_t first, uint32_t count)
{
    mig_channel_put_u8(c, MIG_REC_ZERO);
    mig_channel_put_be64(c, first);
    mig_channel_put_be32(c, count);
}

void mig_stream_put_colo(MigChannel *c)
{
    mig_channel_put_u8(c, MIG_REC_COLO);
}

void mig_stream_put_multifd(MigChannel *c, uint32_t n)
{
    mig_channel_put_u8(c, MIG_REC_MULTIFD);
    mig_channel_put_be32(c, n);
}

void mig_stream_put_sync(MigChannel *c, uint32_t seq)
{
    mig_channel_put_u8(c, MIG_REC_SYNC);
    mig_channel_put_be32(c, seq);
}

void mig_stream_put_pass(MigChannel *c, uint32_t pass)
{
    mig_channel_put_u8(c, MIG_REC_PASS);
    mig_channel_put_be32(c, pass);
}

void mig_stream_put_devices(MigChannel *c, const guint8 *buf, gsize len)
{
    mig_channel_put_u8(c, MIG_REC_DEVICES);
    mig_channel_put_be32(c, len);
    mig_channel_put(c, buf, len);
}

bool mig_stream_put_end(MigChannel *c, GError **errp)
{
    mig_channel_put_u8(c, MIG_REC_END);
    mig_channel_put_be32(c, mig_channel_crc(c));
    return mig_channel_flush(c, errp);
}

bool mig_stream_check_crc(MigChannel *c, const char *what, GError **errp)
{
    uint32_t expect = mig_channel_crc(c), got;
    if (!mig_channel_get_be32(c, &got, errp)) {
        return false;
    }
    if (got != expect) {
        error_setg(errp, "%s checksum mismatch (stream 0x%08x, computed 0x%08x)", what, got,
                   expect);
        return false;
    }
    return true;
}

bool mig_page_is_zero(const void *page)
{
    const uint64_t *w = page;
    /* OR in strides so the compiler vectorises; a page is rarely non-zero only at its end. */
    for (gsize i = 0; i < GUEST_PAGE_SIZE / 8; i += 8) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) {
            return false;
        }
    }
    return true;
}

static bool load_header(MigChannel *c, const MigLoadTarget *t, GError **errp)
{
    char magic[MIG_STREAM_MAGIC_LEN];
    uint32_t version, page_size;
    uint8_t n;
    char machine[MIG_STREAM_MACHINE_MAX + 1];
    uint64_t ram_size;
    if (!mig_channel_get(c, magic, sizeof(magic), errp)) {
        return false;
    }
    if (memcmp(magic, MIG_STREAM_MAGIC, sizeof(magic)) != 0) {
        error_setg(errp, "Not a migration stream");
        return false;
    }
    if (!mig_channel_get_be32(c, &version, errp)) {
        return false;
    }
    if (version != MIG_STREAM_VERSION) {
        error_setg(errp, "Unsupported migration stream version %u (this QEMU reads version %u)",
                   version, MIG_STREAM_VERSION);
        return false;
    }
    if (!mig_channel_get_u8(c, &n, errp)) {
        return false;
    }
    if (n > MIG_STREAM_MACHINE_MAX) {
        error_setg(errp, "Machine type in the migration stream is too long (%u bytes)", n);
        return false;
    }
    if (!mig_channel_get(c, machine, n, errp)) {
        return false;
    }
    machine[n] = '\0';
    if (strcmp(machine, t->machine_type) != 0) {
        error_setg(errp, "Migration stream is for machine '%s', this VM is '%s'", machine,
                   t->machine_type);
        return false;
    }
    if (!mig_channel_get_be64(c, &ram_size, errp) || !mig_channel_get_be32(c, &page_size, errp)) {
        return false;
    }
    uint64_t have = t->ram ? t->ram->size : 0;
    if (ram_size != have) {
        /* upstream's wording for a RAM block of another size */
        error_setg(errp,
                   "Length mismatch: pc.ram: 0x%" G_GINT64_MODIFIER "x in != 0x%" G_GINT64_MODIFIER
                   "x",
                   ram_size, have);
        return false;
    }
    if (page_size != GUEST_PAGE_SIZE) {
        error_setg(errp, "Migration stream page size %u, this VM's is %u", page_size,
                   GUEST_PAGE_SIZE);
        return false;
    }
    return true;
}

static bool check_pages(const MigLoadTarget *t, uint64_t first, uint64_t count, GError **errp)
{
    uint64_t npages = t->ram ? t->ram->npages : 0;
    if (first >= npages || count > npages - first) {
        error_setg(errp,
                   "Migration stream page %" G_GUINT64_FORMAT " is beyond RAM (%" G_GUINT64_FORMAT
                   " pages)",
                   first + (count ? count - 1 : 0), npages);
        return false;
    }
    return true;
}

static bool load_page(MigChannel *c, const MigLoadTarget *t, GError **errp)
{
    uint64_t index;
    if (!mig_channel_get_be64(c, &index, errp) || !check_pages(t, index, 1, errp)) {
        return false;
    }
    uint64_t off = index << GUEST_PAGE_BITS;
    if (!mig_channel_get(c, t->ram->host + off, GUEST_PAGE_SIZE, errp)) {
        return false;
    }
    guest_ram_note_store_range(t->ram, off, GUEST_PAGE_SIZE);
    return true;
}

/* Runs at least this long are given back to the kernel instead of being scanned. */
#define ZERO_RUN_DISCARD_PAGES 64

static bool load_zero_run(MigChannel *c, const MigLoadTarget *t, uint64_t *pages, GError **errp)
{
    uint64_t first;
    uint32_t count;
    if (!mig_channel_get_be64(c, &first, errp) || !mig_channel_get_be32(c, &count, errp) ||
        !check_pages(t, first, count, errp)) {
        return false;
    }
    uint64_t off = first << GUEST_PAGE_BITS, len = (uint64_t)count << GUEST_PAGE_BITS;
    /* A long run (pass 1 of a mostly empty guest) is dropped whole: private anonymous memory
     * reads as zeros afterwards, without scanning a GiB for the few pages the loaders wrote. */
    if (count >= ZERO_RUN_DISCARD_PAGES && madvise(t->ram->host + off, len, MADV_DONTNEED) == 0) {
        guest_ram_note_store_range(t->ram, off, len);
        *pages += count;
        return true;
    }
    for (uint64_t i = first; i < first + count; i++) {
        guint8 *page = t->ram->host + (i << GUEST_PAGE_BITS);
        /* Untouched pages stay unbacked: only pages the loaders filled are cleared. */
        if (!mig_page_is_zero(page)) {
            memset(page, 0, GUEST_PAGE_SIZE);
            guest_ram_note_store_range(t->ram, i << GUEST_PAGE_BITS, GUEST_PAGE_SIZE);
        }
    }
    *pages += count;
    return true;
}

bool mig_stream_load(MigChannel *c, const MigLoadTarget *t, MigLoadStats *stats, GError **errp)
{
    MigLoadStats local = {0};
    stats = stats ? stats : &local;
    memset(stats, 0, sizeof(*stats));
    if (!load_header(c, t, errp)) {
        return false;
    }
    g_autofree guint8 *devices = NULL;
    uint32_t device_len = 0;
    bool have_devices = false;
    bool first = true, multifd = false, colo_allowed = true;
    for (;;) {
        uint8_t tag;
        if (!mig_channel_get_u8(c, &tag, errp)) {
            return false;
        }
        if (have_devices && tag != MIG_REC_END) {
            error_setg(errp, "Migration stream record 0x%02x after the device state", tag);
            return false;
        }
        if (tag == MIG_REC_COLO && !colo_allowed) {
            error_setg(errp, "Migration stream COLO record after the start of RAM");
            return false;
        }
        if (tag == MIG_REC_MULTIFD && (!first || multifd)) {
            error_setg(errp, "Migration stream MULTIFD record after the start of RAM");
            return false;
        }
        /* MULTIFD may follow COLO; nothing else comes before either */
        first = first && (tag == MIG_REC_COLO);
        colo_allowed = false;
        switch (tag) {
        case MIG_REC_MULTIFD: {
            uint32_t n;
            if (!mig_channel_get_be32(c, &n, errp)) {
                return false;
            }
            if (!t->open_multifd) {
                error_setg(errp, "multifd is not supported by this destination");
                return false;
            }
            if (!t->open_multifd(t->opaque, n, errp)) {
                return false;
            }
            multifd = true;
            break;
        }
        case MIG_REC_SYNC: {
            uint32_t seq;
            if (!mig_channel_get_be32(c, &seq, errp)) {
                return false;
            }
            if (!multifd) {
                error_setg(errp, "Migration stream SYNC record without multifd channels");
                return false;
            }
            if (!t->sync_multifd(t->opaque, seq, errp)) {
                return false;
            }
            break;
        }
        case MIG_REC_COLO:
            if (!t->enable_colo) {
                error_setg(errp, "COLO is not supported by this destination");
                return false;
            }
            if (!t->enable_colo(t->opaque, errp)) {
                return false;
            }
            stats->colo = true;
            break;
        case MIG_REC_PAGE:
            if (!load_page(c, t, errp)) {
                return false;
            }
            stats->pages++;
            break;
        case MIG_REC_ZERO:
            if (!load_zero_run(c, t, &stats->zero_pages, errp)) {
                return false;
            }
            break;
        case MIG_REC_PASS: {
            uint32_t pass;
            if (!mig_channel_get_be32(c, &pass, errp)) {
                return false;
            }
            stats->passes++;
            break;
        }
        case MIG_REC_DEVICES:
            if (!mig_channel_get_be32(c, &device_len, errp)) {
                return false;
            }
            if (device_len > MIG_STREAM_DEVICES_MAX) {
                error_setg(errp,
                           "Device state of %u bytes in the migration stream exceeds the "
                           "limit of %u",
                           device_len, MIG_STREAM_DEVICES_MAX);
                return false;
            }
            devices = g_malloc(MAX(device_len, 1));
            if (!mig_channel_get(c, devices, device_len, errp)) {
                return false;
            }
            stats->device_bytes = device_len;
            have_devices = true;
            break;
        case MIG_REC_END: {
            if (!have_devices) {
                error_setg(errp, "Migration stream ended without device state");
                return false;
            }
            if (!mig_stream_check_crc(c, "Migration stream", errp)) {
                return false;
            }
            return !t->load_devices || t->load_devices(t->opaque, devices, device_len, errp);
        }
        default:
            error_setg(errp, "Unknown record 0x%02x in the migration stream", tag);
            return false;
        }
    }
}
