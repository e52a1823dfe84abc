/*
 * filter-dump: writes every packet of its direction(s) to a pcap file (classic format,
 * microsecond timestamps, link type Ethernet), cut to `maxlen` bytes, and lets it go on.
 * A virtio-net header in front of the frame is left out, so readers see plain Ethernet.
 */
#include "net/filter.h"
#include "util/error.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define FILTER_DUMP(obj) G_TYPE_CHECK_INSTANCE_CAST((obj), filter_dump_get_type(), FilterDump)

#define PCAP_MAGIC             0xa1b2c3d4
#define PCAP_LINKTYPE_ETHERNET 1

struct pcap_file_hdr {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_hdr {
    uint32_t ts_sec, ts_usec, caplen, len;
};

typedef struct FilterDump {
    NetFilter parent;
    char *filename;
    guint32 maxlen;
    int fd;
    uint8_t *buf;
    size_t bufcap; /* bytes of packet the record buffer holds */
} FilterDump;

typedef struct FilterDumpClass {
    NetFilterClass parent_class;
} FilterDumpClass;

enum { PROP_0, PROP_MAXLEN, PROP_FILE };

G_DEFINE_TYPE(FilterDump, filter_dump, TYPE_NETFILTER)

static bool write_all(int fd, const void *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf = (const uint8_t *)buf + n;
        len -= n;
    }
    return true;
}

static ssize_t dump_receive_iov(NetFilter *nf, NetClientState *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt, NetPacketSent *sent_cb)
{
    FilterDump *s = FILTER_DUMP(nf);
    NetClientState *nd = net_filter_netdev(nf);
    size_t offset = nd ? nd->vnet_hdr_len : 0;
    size_t size = iov_size(iov, iovcnt);
    size_t len = size > offset ? size - offset : 0;
    size_t cap = MIN(MIN(len, (size_t)s->maxlen), s->bufcap);
    struct pcap_rec_hdr hdr;
    struct timeval tv;

    if (s->fd < 0) {
        return 0;
    }
    gettimeofday(&tv, NULL);
    hdr.ts_sec = tv.tv_sec;
    hdr.ts_usec = tv.tv_usec;
    hdr.caplen = cap;
    hdr.len = len;
    iov_to_buf(iov, iovcnt, offset, s->buf + sizeof(hdr), cap);
    memcpy(s->buf, &hdr, sizeof(hdr));
    /* One write per record, so that a reader never sees half a header. */
    if (!write_all(s->fd, s->buf, sizeof(hdr) + cap)) {
        error_report("network dump write error - stopping dump");
        net_filter_stats(nf)->dropped++;
        close(s->fd);
        s->fd = -1;
    }
    return 0;
}

static gboolean dump_setup(NetFilter *nf, GError **errp)
{
    FilterDump *s = FILTER_DUMP(nf);
    struct pcap_file_hdr hdr = {
        .magic = PCAP_MAGIC,
        .version_major = 2,
        .version_minor = 4,
        .snaplen = s->maxlen,
        .linktype = PCAP_LINKTYPE_ETHERNET,
    };

    if (!s->maxlen) {
        error_setg(errp, "Property 'filter-dump.maxlen' doesn't take value '0'");
        return FALSE;
    }
    s->fd = open(s->filename, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        error_setg_errno(errp, errno, "net dump: can't open %s", s->filename);
        return FALSE;
    }
    if (!write_all(s->fd, &hdr, sizeof(hdr))) {
        error_setg_errno(errp, errno, "net dump write error");
        close(s->fd);
        s->fd = -1;
        return FALSE;
    }
    s->bufcap = MIN(s->maxlen, (guint32)NET_BUFSIZE * 2);
    s->buf = g_malloc(sizeof(struct pcap_rec_hdr) + s->bufcap);
    return TRUE;
}

static void dump_cleanup(NetFilter *nf)
{
    FilterDump *s = FILTER_DUMP(nf);

    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    g_clear_pointer(&s->buf, g_free);
}

static void dump_set_property(GObject *obj, guint id, const GValue *v, GParamSpec *pspec)
{
    FilterDump *s = FILTER_DUMP(obj);

    if (id == PROP_MAXLEN) {
        s->maxlen = g_value_get_uint(v);
    } else if (id == PROP_FILE) {
        g_free(s->filename);
        s->filename = g_value_dup_string(v);
    }
}

static void dump_get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    FilterDump *s = FILTER_DUMP(obj);

    if (id == PROP_MAXLEN) {
        g_value_set_uint(v, s->maxlen);
    } else if (id == PROP_FILE) {
        g_value_set_string(v, s->filename);
    }
}

static void dump_finalize(GObject *obj)
{
    FilterDump *s = FILTER_DUMP(obj);

    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s->buf);
    g_free(s->filename);
    G_OBJECT_CLASS(filter_dump_parent_class)->finalize(obj);
}

static void filter_dump_init(FilterDump *s)
{
    s->fd = -1;
    s->maxlen = 65536;
}

static void filter_dump_class_init(FilterDumpClass *klass)
{
    static const char *const info_props[] = {"file", "maxlen", NULL};
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    NetFilterClass *nfc = NET_FILTER_CLASS(klass);

    oc->set_property = dump_set_property;
    oc->get_property = dump_get_property;
    oc->finalize = dump_finalize;
    nfc->setup = dump_setup;
    nfc->cleanup = dump_cleanup;
    nfc->receive_iov = dump_receive_iov;
    nfc->info_props = info_props;
    qom_class_install_property(
        oc, PROP_MAXLEN,
        g_param_spec_uint("maxlen", "maxlen", NULL, 0, G_MAXUINT32, 65536, QOM_PARAM_RW), "uint32",
        FALSE);
    qom_class_install_property(oc, PROP_FILE,
                               g_param_spec_string("file", "file", NULL, NULL, QOM_PARAM_RW),
                               "string", TRUE);
}
