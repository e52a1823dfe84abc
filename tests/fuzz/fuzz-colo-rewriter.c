/*
 * filter-rewriter's sequence-offset algorithm (colo_rewriter_process) on packet sequences of
 * both sides, with checkpoints and failovers in between. Checks, for every packet processed:
 *  - the frame keeps its length and every byte except the TCP seq, ack, options (timestamps)
 *    and checksum and the IPv4 header checksum; a packet reported unmodified is
 *    byte-identical;
 *  - a rewritten packet has a valid TCP checksum wherever it is defined (the datagram fits in
 *    the frame, not a fragment), and an IPv4 header checksum that changed is valid;
 *  - a checksum that was valid before (IPv4, TCP or UDP) is still valid afterwards.
 * The checksums are verified by the plain RFC 1071 sum below, not by the product's helpers.
 * After a checkpoint every tracked connection has offset 0, also once the last four packets of
 * the primary side (as if still queued for the stopped SVM) have been reopened
 * (colo_rewriter_reopen), which leaves them byte-identical; in failover mode no new connection
 * is tracked, by a packet or a reopen.
 *
 * Input: byte 0 picks the vnet header length (0, 10, 12 or 21, the last one unsupported), then
 * records until the input ends. A record starts with an op byte:
 *   bits 0-1: 0 = a TCP packet built from fields, 1 = a raw frame, 2 = checkpoint, 3 = failover
 *   bit 2:    the primary side (network -> SVM) instead of the secondary side
 *   bit 3:    with a checkpoint: reopen the primary side's last four packets after it
 * A built packet takes 12 more bytes: connection (bits 0-1 pick one of four flows, bits 2-3 the
 * number of 4-byte TCP option words), TCP flags, seq (be32), ack (be32), payload length, and a
 * mangle byte (bit 0: a fragment, bit 1: IP total length short of the frame, bit 2: longer than
 * the frame, bit 3: UDP instead of TCP, bit 4: wrong checksums, bit 5: non-first fragment).
 * A raw frame takes a be16 length and that many bytes (vnet header included).
 */
#include "net/colo-rewriter.h"

#include <stdlib.h>
#include <string.h>

#define ETH_HLEN 14
/* vnet header, Ethernet, IPv4, TCP with 3 option words, 255 bytes of payload */
#define BUILT_MAX (21 + ETH_HLEN + 20 + 32 + 255)

/* ---- an independent, plain Internet checksum ---- */

static uint32_t plain_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    return sum;
}

static uint16_t plain_fold(uint32_t sum)
{
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

typedef enum { CSUM_UNDEFINED, CSUM_BAD, CSUM_GOOD } CsumState;

typedef struct {
    CsumState ip;
    CsumState l4;
} Verdict;

/* Whether the IPv4 header checksum and the TCP/UDP checksum of @frame hold. */
static Verdict verify(const uint8_t *frame, size_t len, size_t vhdr)
{
    Verdict v = {CSUM_UNDEFINED, CSUM_UNDEFINED};
    if (vhdr > 20 || len < vhdr + ETH_HLEN + 20 || be16_at(frame + vhdr + 12) != 0x0800) {
        return v;
    }
    const uint8_t *ip = frame + vhdr + ETH_HLEN;
    size_t room = len - vhdr - ETH_HLEN;
    size_t ihl = (ip[0] & 15) * 4;
    size_t total = be16_at(ip + 2);
    if (ihl < 20 || ihl > room) {
        return v;
    }
    v.ip = plain_fold(plain_sum(0, ip, ihl)) == 0xffff ? CSUM_GOOD : CSUM_BAD;

    uint8_t proto = ip[9];
    if (total < ihl || total > room || (be16_at(ip + 6) & 0x3fff)) {
        return v;
    }
    size_t l4_len = total - ihl;
    const uint8_t *l4 = ip + ihl;
    if (proto == 6 && l4_len >= 20) {
        /* TCP: checked as is */
    } else if (proto == 17 && l4_len >= 8) {
        if (be16_at(l4 + 6) == 0) {
            return v; /* no checksum */
        }
    } else {
        return v;
    }
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = proto;
    pseudo[10] = l4_len >> 8;
    pseudo[11] = l4_len & 0xff;
    uint32_t sum = plain_sum(plain_sum(0, pseudo, 12), l4, l4_len);
    v.l4 = plain_fold(sum) == 0xffff ? CSUM_GOOD : CSUM_BAD;
    return v;
}

/* Writes a valid IPv4 header checksum and L4 checksum (where defined) into @frame. */
static void fill_checksums(uint8_t *frame, size_t len, size_t vhdr)
{
    uint8_t *ip = frame + vhdr + ETH_HLEN;
    size_t ihl = (ip[0] & 15) * 4;
    ip[10] = ip[11] = 0;
    uint16_t c = ~plain_fold(plain_sum(0, ip, ihl));
    ip[10] = c >> 8;
    ip[11] = c & 0xff;
    size_t total = be16_at(ip + 2);
    if (total > len - vhdr - ETH_HLEN || total < ihl + 8 || (be16_at(ip + 6) & 0x3fff)) {
        return;
    }
    size_t l4_len = total - ihl;
    uint8_t *l4 = ip + ihl;
    size_t at = ip[9] == 6 ? 16 : 6;
    if (ip[9] == 6 && l4_len < 20) {
        return;
    }
    l4[at] = l4[at + 1] = 0;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = ip[9];
    pseudo[10] = l4_len >> 8;
    pseudo[11] = l4_len & 0xff;
    c = ~plain_fold(plain_sum(plain_sum(0, pseudo, 12), l4, l4_len));
    if (ip[9] == 17 && c == 0) {
        c = 0xffff;
    }
    l4[at] = c >> 8;
    l4[at + 1] = c & 0xff;
}

/* ---- packets built from fields ---- */

static const uint8_t guest_ip[4] = {10, 0, 0, 2};

static void flow_of(unsigned conn, uint8_t client_ip[4], uint16_t *client_port,
                    uint16_t *guest_port)
{
    client_ip[0] = 192;
    client_ip[1] = 168;
    client_ip[2] = 1;
    client_ip[3] = 10 + (conn & 1);
    *client_port = 40000 + conn;
    *guest_port = conn & 2 ? 22 : 80;
}

/* The key of flow @conn as the rewriter stores it: from the guest's point of view. */
static ColoConnKey key_of(unsigned conn)
{
    ColoConnKey k;
    memset(&k, 0, sizeof(k));
    uint8_t client[4];
    uint16_t cport, gport;
    flow_of(conn, client, &cport, &gport);
    memcpy(&k.src, guest_ip, 4);
    memcpy(&k.dst, client, 4);
    k.src_port = gport;
    k.dst_port = cport;
    k.proto = 6;
    return k;
}

static size_t build(uint8_t *frame, size_t vhdr, const uint8_t *f, gboolean primary)
{
    unsigned conn = f[0] & 3, opt_words = (f[0] >> 2) & 3;
    uint8_t flags = f[1], paylen = f[10], mangle = f[11];
    gboolean udp = mangle & 8;
    size_t l4_hlen = udp ? 8 : 20 + opt_words * 4;
    size_t len = vhdr + ETH_HLEN + 20 + l4_hlen + paylen;

    memset(frame, 0, len);
    for (size_t i = 0; i < vhdr; i++) {
        frame[i] = i * 7;
    }
    uint8_t *eth = frame + vhdr;
    memset(eth, primary ? 0x52 : 0x54, 12);
    eth[12] = 0x08;
    uint8_t *ip = eth + ETH_HLEN;
    ip[0] = 0x45;
    size_t total = 20 + l4_hlen + paylen;
    if (mangle & 2) {
        total = total > 24 ? total - 24 : 0; /* as if Ethernet padding followed */
    }
    if (mangle & 4) {
        total += 1 + (paylen & 15);
    }
    ip[2] = total >> 8;
    ip[3] = total & 0xff;
    ip[6] = mangle & 1 ? 0x20 : 0; /* more fragments */
    ip[7] = mangle & 32 ? 0x10 : 0;
    ip[8] = 64;
    ip[9] = udp ? 17 : 6;

    uint8_t client[4];
    uint16_t cport, gport;
    flow_of(conn, client, &cport, &gport);
    memcpy(ip + 12, primary ? client : guest_ip, 4);
    memcpy(ip + 16, primary ? guest_ip : client, 4);
    uint8_t *l4 = ip + 20;
    uint16_t sport = primary ? cport : gport, dport = primary ? gport : cport;
    l4[0] = sport >> 8;
    l4[1] = sport & 0xff;
    l4[2] = dport >> 8;
    l4[3] = dport & 0xff;
    if (udp) {
        size_t ulen = 8 + paylen;
        l4[4] = ulen >> 8;
        l4[5] = ulen & 0xff;
    } else {
        memcpy(l4 + 4, f + 2, 8); /* seq, ack */
        l4[12] = (5 + opt_words) << 4;
        l4[13] = flags;
        l4[14] = 0xff;
    }
    for (size_t i = 0; i < paylen; i++) {
        l4[l4_hlen + i] = 'a' + i % 26;
    }
    fill_checksums(frame, len, vhdr);
    if (mangle & 16) {
        ip[11] ^= 1;
        l4[udp ? 7 : 17] ^= 0x10;
    }
    return len;
}

/* ---- the checks ---- */

/* Offsets (from the frame's start) of the bytes a rewrite may change, -1 if none. */
static void mutable_ranges(const uint8_t *frame, size_t len, size_t vhdr, long *ip_csum, long *tcp)
{
    *ip_csum = -1;
    *tcp = -1;
    if (vhdr > 20 || len < vhdr + ETH_HLEN + 20 || be16_at(frame + vhdr + 12) != 0x0800) {
        return;
    }
    const uint8_t *ip = frame + vhdr + ETH_HLEN;
    size_t ihl = (ip[0] & 15) * 4;
    if (ip[9] != 6 || ihl < 20 || vhdr + ETH_HLEN + ihl + 20 > len) {
        return;
    }
    *ip_csum = vhdr + ETH_HLEN + 10;
    *tcp = vhdr + ETH_HLEN + ihl;
}

/* The TCP header's length as its data offset gives it, within the frame. */
static long tcp_header_len(const uint8_t *frame, size_t len, long tcp)
{
    if (tcp < 0 || (size_t)tcp + 13 > len) {
        return 0;
    }
    return MIN((long)(frame[tcp + 12] >> 4) * 4, (long)len - tcp);
}

static gboolean may_change(const uint8_t *frame, size_t len, long off, long ip_csum, long tcp)
{
    if (ip_csum >= 0 && (off == ip_csum || off == ip_csum + 1)) {
        return TRUE;
    }
    /* seq 4..7, ack 8..11, checksum 16..17, the options (timestamps) */
    return tcp >= 0 && ((off >= tcp + 4 && off < tcp + 12) || off == tcp + 16 || off == tcp + 17 ||
                        (off >= tcp + 20 && off < tcp + tcp_header_len(frame, len, tcp)));
}

/* @packet is copied to a buffer of its exact size, so that ASan sees any access past its end. */
static void check_packet(ColoRewriter *rw, const uint8_t *packet, size_t len, size_t vhdr,
                         gboolean primary)
{
    uint8_t *frame = g_memdup2(packet, len);
    uint8_t *before = g_memdup2(packet, len);
    Verdict v0 = verify(frame, len, vhdr);
    guint created = colo_rewriter_stats(rw)->connections_created;
    gboolean failover = colo_rewriter_in_failover_mode(rw);

    gboolean changed = colo_rewriter_process(rw, frame, len, vhdr, primary);

    long ip_csum, tcp;
    mutable_ranges(before, len, vhdr, &ip_csum, &tcp);
    for (size_t i = 0; i < len; i++) {
        if (frame[i] != before[i] && (!changed || !may_change(before, len, i, ip_csum, tcp))) {
            abort();
        }
    }
    if (changed && (tcp < 0 || (memcmp(before + tcp + 4, frame + tcp + 4, 8) == 0 &&
                                memcmp(before + tcp + 20, frame + tcp + 20,
                                       MAX(tcp_header_len(before, len, tcp) - 20, 0)) == 0))) {
        abort(); /* reported a rewrite of seq/ack or timestamps that did not happen */
    }
    Verdict v1 = verify(frame, len, vhdr);
    /*
     * The rewrite owes a valid TCP checksum. It need not mend a bad IPv4 header checksum that it
     * did not cause (upstream leaves it), but one it rewrote must be right.
     */
    if (changed && v1.l4 == CSUM_BAD) {
        abort();
    }
    if (ip_csum >= 0 && memcmp(before + ip_csum, frame + ip_csum, 2) != 0 && v1.ip != CSUM_GOOD) {
        abort();
    }
    if ((v0.ip == CSUM_GOOD && v1.ip != CSUM_GOOD) || (v0.l4 == CSUM_GOOD && v1.l4 != CSUM_GOOD)) {
        abort();
    }
    if (failover && colo_rewriter_stats(rw)->connections_created != created) {
        abort();
    }
    g_free(before);
    g_free(frame);
}

/* The primary side's last packets, standing for what waits in the stopped SVM's NIC queue. */
#define QUEUED 4

typedef struct {
    uint8_t *frame[QUEUED];
    size_t len[QUEUED];
    unsigned next;
} Queued;

static void queue_packet(Queued *q, const uint8_t *frame, size_t len)
{
    g_free(q->frame[q->next]);
    q->frame[q->next] = g_memdup2(frame, len);
    q->len[q->next] = len;
    q->next = (q->next + 1) % QUEUED;
}

static void reopen_queued(ColoRewriter *rw, Queued *q, size_t vhdr)
{
    for (unsigned i = 0; i < QUEUED; i++) {
        if (!q->frame[i]) {
            continue;
        }
        uint8_t *before = g_memdup2(q->frame[i], q->len[i]);
        guint created = colo_rewriter_stats(rw)->connections_created;
        gboolean failover = colo_rewriter_in_failover_mode(rw);
        gboolean opened = colo_rewriter_reopen(rw, q->frame[i], q->len[i], vhdr);
        if (memcmp(before, q->frame[i], q->len[i]) != 0 ||
            colo_rewriter_stats(rw)->connections_created != created + (opened ? 1 : 0) ||
            (failover && opened)) {
            abort();
        }
        g_free(before);
    }
}

static void check_offsets_zero(ColoRewriter *rw)
{
    for (unsigned c = 0; c < 4; c++) {
        ColoConnKey k = key_of(c);
        guint32 offset;
        if (colo_rewriter_lookup(rw, &k, &offset, NULL) && offset != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t vhdr_lens[4] = {0, 10, 12, 21};
    if (size < 1) {
        return 0;
    }
    size_t vhdr = vhdr_lens[data[0] & 3];
    data++;
    size--;

    ColoRewriter *rw = colo_rewriter_new();
    Queued queued = {0};
    while (size >= 1) {
        uint8_t op = data[0];
        gboolean primary = op & 4;
        data++;
        size--;
        switch (op & 3) {
        case 0: {
            if (size < 12) {
                size = 0;
                break;
            }
            uint8_t built[BUILT_MAX];
            size_t len = build(built, vhdr, data, primary);
            data += 12;
            size -= 12;
            check_packet(rw, built, len, vhdr, primary);
            if (primary) {
                queue_packet(&queued, built, len);
            }
            break;
        }
        case 1: {
            if (size < 2) {
                size = 0;
                break;
            }
            size_t len = MIN(be16_at(data), size - 2);
            check_packet(rw, data + 2, len, vhdr, primary);
            if (primary) {
                queue_packet(&queued, data + 2, len);
            }
            data += 2 + len;
            size -= 2 + len;
            break;
        }
        case 2:
            colo_rewriter_checkpoint(rw);
            check_offsets_zero(rw);
            if (op & 8) {
                reopen_queued(rw, &queued, vhdr);
                check_offsets_zero(rw);
            }
            break;
        default:
            colo_rewriter_failover(rw);
            break;
        }
    }
    colo_rewriter_free(rw);
    for (unsigned i = 0; i < QUEUED; i++) {
        g_free(queued.frame[i]);
    }
    return 0;
}
