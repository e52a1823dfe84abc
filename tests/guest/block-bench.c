/*
 * Measures a block device from inside the guest with O_DIRECT, so the figures are the
 * virtual disk's and not the guest's page cache.
 *
 * Usage: qc-blkbench DEV [-s SPAN_MIB] [-b REQ_KIB] [-t RAND_MS] [-S SEED]
 *   (defaults: 64 MiB span, 1024 KiB sequential requests, 3000 ms per random phase, seed 1)
 *
 * Phases, one after the other, all at queue depth 1 over the first SPAN_MIB of DEV:
 *   seq write  REQ_KIB requests over the whole span, then fdatasync (inside the timing)
 *   seq read   the same requests, each block's tag checked
 *   rand read  4 KiB requests at random 4 KiB-aligned offsets for RAND_MS, tags checked
 *   rand write 4 KiB requests at random offsets for RAND_MS, then fdatasync (timed)
 *
 * Every 4 KiB block of the span holds the same bytes whichever phase wrote it, so the host can
 * check the image afterwards: a little-endian 64-bit tag, SEED * 0x9E3779B97F4A7C15 XOR the
 * block's index, then 4088 bytes where byte i (counting from the block's start) is
 * (i + SEED) & 0xff. Reads only check the tag, so checking costs the guest's CPU next to
 * nothing and the figures stay the disk's.
 *
 * Output: one line on stdout,
 *   qc-blkbench dev=DEV span_mib=N req_kib=N rand_ms=N seed=N seq_write_mbs=X seq_read_mbs=X
 *   rand_read_iops=X rand_write_iops=X rand_reads=N rand_writes=N written_bytes=N bad_blocks=N
 * (MB/s in units of 10^6 bytes), or "qc-blkbench error WHY" and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK      4096u
#define TAG_FACTOR 0x9E3779B97F4A7C15ull

struct bench {
    int fd;
    uint64_t seed;
    uint64_t span;    /* bytes */
    uint64_t req;     /* bytes per sequential request */
    int64_t rand_ns;  /* duration of each random phase */
    uint8_t *buf;     /* req bytes, aligned for O_DIRECT */
    uint64_t written; /* bytes written in all phases */
    uint64_t bad;     /* blocks read back with a wrong tag */
    uint64_t rng;
};

static void fail(const char *why, const char *detail)
{
    printf("qc-blkbench error %s%s%s\n", why, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static uint64_t tag_of(const struct bench *b, uint64_t block)
{
    return (b->seed * TAG_FACTOR) ^ block;
}

/* Fills every 4 KiB block of buf with the filler; only the tags change per request. */
static void fill_pattern(struct bench *b, size_t len)
{
    for (size_t off = 0; off < len; off += BLOCK) {
        for (size_t i = 8; i < BLOCK; i++) {
            b->buf[off + i] = (uint8_t)(i + b->seed);
        }
    }
}

static void set_tags(struct bench *b, uint64_t pos, size_t len)
{
    for (size_t off = 0; off < len; off += BLOCK) {
        uint64_t tag = tag_of(b, (pos + off) / BLOCK);

        for (int i = 0; i < 8; i++) {
            b->buf[off + i] = (uint8_t)(tag >> (8 * i));
        }
    }
}

static void check_tags(struct bench *b, uint64_t pos, size_t len)
{
    for (size_t off = 0; off < len; off += BLOCK) {
        uint64_t tag = 0;

        for (int i = 0; i < 8; i++) {
            tag |= (uint64_t)b->buf[off + i] << (8 * i);
        }
        if (tag != tag_of(b, (pos + off) / BLOCK)) {
            b->bad++;
        }
    }
}

static void do_io(struct bench *b, int write, uint64_t pos, size_t len)
{
    ssize_t n =
        write ? pwrite(b->fd, b->buf, len, (off_t)pos) : pread(b->fd, b->buf, len, (off_t)pos);

    if (n != (ssize_t)len) {
        char where[64];

        snprintf(where, sizeof(where), "%s at %" PRIu64 ": %s", write ? "write" : "read", pos,
                 n < 0 ? strerror(errno) : "short");
        fail("i/o failed", where);
    }
    if (write) {
        b->written += len;
    }
}

static void sync_dev(struct bench *b)
{
    if (fdatasync(b->fd) < 0) {
        fail("fdatasync", strerror(errno));
    }
}

/* MB/s of one pass over the span. */
static double sequential(struct bench *b, int write)
{
    int64_t t0 = now_ns();

    for (uint64_t pos = 0; pos < b->span; pos += b->req) {
        if (write) {
            set_tags(b, pos, b->req);
        }
        do_io(b, write, pos, b->req);
        if (!write) {
            check_tags(b, pos, b->req);
        }
    }
    if (write) {
        sync_dev(b);
    }
    return b->span / ((now_ns() - t0) / 1e9) / 1e6;
}

static uint64_t random_block(struct bench *b)
{
    /* xorshift64: cheap, and the same sequence for the same seed on every VM. */
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng % (b->span / BLOCK);
}

/* IOPS of 4 KiB requests for rand_ns; *count gets how many were done. */
static double random_io(struct bench *b, int write, uint64_t *count)
{
    int64_t t0 = now_ns(), t;
    uint64_t n = 0;

    do {
        uint64_t pos = random_block(b) * BLOCK;

        if (write) {
            set_tags(b, pos, BLOCK);
        }
        do_io(b, write, pos, BLOCK);
        if (!write) {
            check_tags(b, pos, BLOCK);
        }
        n++;
        t = now_ns();
    } while (t - t0 < b->rand_ns);
    if (write) {
        sync_dev(b);
        t = now_ns();
    }
    *count = n;
    return n / ((t - t0) / 1e9);
}

static uint64_t number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        fail("bad value for", opt);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct bench b = {.seed = 1, .span = 64ull << 20, .req = 1 << 20, .rand_ns = 3000000000ll};
    uint64_t size = 0, span_mib = 64, req_kib = 1024, rand_ms = 3000, reads, writes;
    double sw, sr, rr, rw;
    const char *dev;
    struct stat st;
    int opt;

    while ((opt = getopt(argc, argv, "s:b:t:S:")) != -1) {
        switch (opt) {
        case 's':
            span_mib = number("-s", optarg, 1, 1 << 20);
            break;
        case 'b':
            req_kib = number("-b", optarg, 4, 1 << 16);
            break;
        case 't':
            rand_ms = number("-t", optarg, 1, 3600000);
            break;
        case 'S':
            b.seed = number("-S", optarg, 0, UINT32_MAX);
            break;
        default:
            fail("usage: qc-blkbench DEV [-s SPAN_MIB] [-b REQ_KIB] [-t RAND_MS] [-S SEED]", NULL);
        }
    }
    if (optind != argc - 1) {
        fail("usage: qc-blkbench DEV [-s SPAN_MIB] [-b REQ_KIB] [-t RAND_MS] [-S SEED]", NULL);
    }
    dev = argv[optind];
    if (req_kib % 4 || (span_mib * 1024) % req_kib) {
        fail("the request size must be a multiple of 4 KiB dividing the span", NULL);
    }
    b.span = span_mib << 20;
    b.req = req_kib << 10;
    b.rand_ns = (int64_t)rand_ms * 1000000;
    b.rng = b.seed * TAG_FACTOR + 1;

    b.fd = open(dev, O_RDWR | O_DIRECT);
    if (b.fd < 0) {
        fail(dev, strerror(errno));
    }
    /* A regular file is measured too, which lets the helper be tried on the host. */
    if (fstat(b.fd, &st) == 0 && S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else if (ioctl(b.fd, BLKGETSIZE64, &size) < 0) {
        fail("BLKGETSIZE64", strerror(errno));
    }
    if (size < b.span) {
        fail("the device is smaller than the span", dev);
    }
    if (posix_memalign((void **)&b.buf, BLOCK, b.req)) {
        fail("out of memory", NULL);
    }
    fill_pattern(&b, b.req);

    sw = sequential(&b, 1);
    sr = sequential(&b, 0);
    rr = random_io(&b, 0, &reads);
    fill_pattern(&b, BLOCK); /* the reads overwrote the buffer: write known filler again */
    rw = random_io(&b, 1, &writes);
    close(b.fd);

    printf("qc-blkbench dev=%s span_mib=%" PRIu64 " req_kib=%" PRIu64 " rand_ms=%" PRIu64
           " seed=%" PRIu64 " seq_write_mbs=%.2f seq_read_mbs=%.2f rand_read_iops=%.1f"
           " rand_write_iops=%.1f rand_reads=%" PRIu64 " rand_writes=%" PRIu64
           " written_bytes=%" PRIu64 " bad_blocks=%" PRIu64 "\n",
           dev, span_mib, req_kib, rand_ms, b.seed, sw, sr, rr, rw, reads, writes, b.written,
           b.bad);
    return b.bad ? 1 : 0;
}
