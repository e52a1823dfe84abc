/*
 * virtio-net-pci driven as Linux's virtio_pci_modern driver drives it, over a fake guest RAM:
 * capability walk, feature negotiation, queue setup, TX and RX, then malicious chains.
 */
#include "hw/virtio/virtio-net.h"
#include "hw/virtio/virtio-net-nc.h"
#include "hw/virtio/virtio-pci.h"
#include "net/net.h"
#include "hw/core/biglock.h"
#include "io-helpers.h"
#include "loop-probe.h"
#include "net/vnet-hdr.h"
#include "tests/include/flat-ram.h"
#include "tests/include/vring.h"

#include <string.h>

#define RAM_SIZE (1 << 20)
#define BAR_ADDR 0xfe000000ull
#define QSZ      8
/* guest RAM layout for the test driver */
#define RXQ_BASE 0x10000
#define TXQ_BASE 0x20000
#define BUF_BASE 0x40000
/* the merged-buffer tests' receive queue: MRXQ_SIZE entries, avail and used rings behind */
#define MRXQ_BASE  0x38000
#define MRXQ_SIZE  64
#define MRXQ_AVAIL 0x400
#define MRXQ_USED  (MRXQ_BASE + 2 * MRXQ_AVAIL)

typedef struct Fixture {
    uint8_t *ram;
    FlatRam flat; /* f->ram seen as guest RAM through dma */
    DmaSpace dma;
    IoSpace *io, *mmio;
    PCIBus *bus;
    IrqProbe intx;
    VirtIONet *net;
    VirtIOPCIProxy *proxy;
    GPtrArray *sent;
    int rx_ready_calls;
    uint16_t rx_avail, tx_avail;
    bool echo;
} Fixture;

static void peer_send(void *opaque, const uint8_t *buf, size_t len)
{
    Fixture *f = opaque;
    g_ptr_array_add(f->sent, g_bytes_new(buf, len));
    if (f->echo) {
        /* a peer answering at once from inside the send, as slirp answers ARP */
        virtio_net_receive(f->net, buf, len);
    }
}

static void peer_rx_ready(void *opaque)
{
    ((Fixture *)opaque)->rx_ready_calls++;
}

static uint32_t bar_rd(Fixture *f, uint64_t off, int size)
{
    return io_space_read(f->mmio, BAR_ADDR + off, size);
}

static void bar_wr(Fixture *f, uint64_t off, uint32_t v, int size)
{
    io_space_write(f->mmio, BAR_ADDR + off, v, size);
}

/* Runs what the main loop has due: the TX flush a kick scheduled. */
static void run_main_loop(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/* The driver's TX kick, and the flush it schedules. */
static void kick_tx(Fixture *f)
{
    bar_wr(f, 0x3004, 1, 2);
    run_main_loop();
}

/* queue layout at base: desc (16*size), avail at +avail_off, used at +2*avail_off */
static void setup_queue_sized(Fixture *f, int q, uint64_t base, uint16_t size, uint32_t avail_off)
{
    bar_wr(f, 0x16, q, 2);
    g_assert_cmpint(bar_rd(f, 0x18, 2), ==, VIRTIO_NET_QUEUE_SIZE);
    bar_wr(f, 0x18, size, 2);
    bar_wr(f, 0x20, base, 4);
    bar_wr(f, 0x24, 0, 4);
    bar_wr(f, 0x28, base + avail_off, 4);
    bar_wr(f, 0x2c, 0, 4);
    bar_wr(f, 0x30, base + 2 * avail_off, 4);
    bar_wr(f, 0x34, 0, 4);
    g_assert_cmpint(bar_rd(f, 0x1e, 2), ==, q);
    bar_wr(f, 0x1c, 1, 2);
}

static void setup_queue(Fixture *f, int q, uint64_t base)
{
    setup_queue_sized(f, q, base, QSZ, 0x100);
}

static void publish(Fixture *f, uint64_t base, uint16_t *avail, uint16_t head)
{
    put_le16(f->ram, base + 0x100 + 4 + 2 * (*avail % QSZ), head);
    (*avail)++;
    put_le16(f->ram, base + 0x100 + 2, *avail);
}

/* With rx_size > QSZ the receive queue is the big one at MRXQ_BASE (merged-buffer tests). */
static void driver_init_rx(Fixture *f, uint16_t rx_size)
{
    /* the capability walk Linux does: common, isr, device, notify, all in BAR 4 */
    PCIDevice *d = virtio_pci_device(f->proxy);
    int found = 0;
    for (uint8_t c = d->config[PCI_CAPABILITY_LIST]; c; c = d->config[c + 1]) {
        if (d->config[c] == PCI_CAP_ID_MSIX) {
            continue;
        }
        g_assert_cmpint(d->config[c], ==, 0x09);
        found |= 1 << d->config[c + 3];
        if (d->config[c + 3] != 5) { /* the configuration access window names no BAR yet */
            g_assert_cmpint(d->config[c + 4], ==, 4);
        }
    }
    g_assert_cmphex(found, ==, 0x3e);
    pci_config_write(d, 0x20, BAR_ADDR, 4);
    pci_config_write(d, 0x24, 0, 4);
    pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);

    bar_wr(f, 0x14, 0, 1);
    bar_wr(f, 0x14, VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
    bar_wr(f, 0x14, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
    bar_wr(f, 0x00, 0, 4);
    uint32_t lo = bar_rd(f, 0x04, 4);
    bar_wr(f, 0x00, 1, 4);
    uint32_t hi = bar_rd(f, 0x04, 4);
    g_assert_cmphex(hi & 1, ==, 1); /* VERSION_1 */
    g_assert_cmphex(lo & (1u << VIRTIO_NET_F_MAC), !=, 0);
    bar_wr(f, 0x08, 0, 4);
    bar_wr(f, 0x0c, lo, 4);
    bar_wr(f, 0x08, 1, 4);
    bar_wr(f, 0x0c, 1, 4);
    bar_wr(f, 0x14, 0x0b, 1);
    g_assert_cmphex(bar_rd(f, 0x14, 1) & VIRTIO_CONFIG_S_FEATURES_OK, !=, 0);
    g_assert_cmpint(bar_rd(f, 0x12, 2), ==, 2);
    if (rx_size > QSZ) {
        setup_queue_sized(f, 0, MRXQ_BASE, rx_size, MRXQ_AVAIL);
    } else {
        setup_queue(f, 0, RXQ_BASE);
    }
    setup_queue(f, 1, TXQ_BASE);
    bar_wr(f, 0x14, 0x0f, 1);
}

static void driver_init(Fixture *f)
{
    driver_init_rx(f, QSZ);
}

static void setup(Fixture *f, gconstpointer data)
{
    f->ram = g_malloc0(RAM_SIZE);
    f->flat = (FlatRam){.base = f->ram, .size = RAM_SIZE};
    f->dma = flat_ram_dma(&f->flat);
    f->io = io_space_new("io", 0x10000);
    f->mmio = io_space_new("mmio", 1ull << 40);
    irq_probe_init(&f->intx, 0);
    IrqLine *lines[4] = {&f->intx.line, &f->intx.line, &f->intx.line, &f->intx.line};
    static const uint8_t isa[4] = {10, 10, 11, 11};
    f->bus = pci_bus_new(f->io, f->mmio, lines, isa);
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    f->net = virtio_net_new(&f->dma, mac);
    f->proxy = virtio_pci_new(f->bus, "virtio-net-pci", -1, virtio_net_vdev(f->net), 0x020000,
                              GPOINTER_TO_UINT(data), NULL);
    g_assert_nonnull(f->proxy);
    f->sent = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    VirtIONetPeer peer = {.send = peer_send, .rx_ready = peer_rx_ready, .opaque = f};
    virtio_net_set_peer(f->net, &peer);
    driver_init(f);
}

static void teardown(Fixture *f, gconstpointer data)
{
    pci_bus_free(f->bus);
    virtio_pci_free(f->proxy);
    virtio_net_free(f->net);
    io_space_free(f->io);
    io_space_free(f->mmio);
    g_ptr_array_unref(f->sent);
    g_free(f->ram);
}

static void test_identity_and_config(Fixture *f, gconstpointer data)
{
    PCIDevice *d = virtio_pci_device(f->proxy);
    g_assert_cmphex(pci_get_word(d->config), ==, 0x1af4);
    g_assert_cmphex(pci_get_word(d->config + 2), ==, 0x1000);
    g_assert_cmphex(pci_get_word(d->config + PCI_SUBSYSTEM_ID), ==, 1);
    g_assert_cmphex(bar_rd(f, 0x2000, 4), ==, 0x12005452);
    g_assert_cmphex(bar_rd(f, 0x2004, 2), ==, 0x5634);
    g_assert_cmphex(bar_rd(f, 0x2006, 2), ==, VIRTIO_NET_S_LINK_UP);
}

static const char tx_frame[] = "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x12\x34\x56\x08\x06payload";

/* One frame on the TX queue, not yet notified. */
static void tx_post_one(Fixture *f)
{
    /* header and frame in separate descriptors, as Linux does without ANY_LAYOUT tricks */
    memset(f->ram + BUF_BASE, 0, VIRTIO_NET_HDR_LEN);
    memcpy(f->ram + BUF_BASE + 0x100, tx_frame, sizeof(tx_frame) - 1);
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE, VIRTIO_NET_HDR_LEN, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, TXQ_BASE, 1, BUF_BASE + 0x100, sizeof(tx_frame) - 1, 0, 0);
    publish(f, TXQ_BASE, &f->tx_avail, 0);
}

/* One frame on the TX queue, notified. */
static void tx_one(Fixture *f)
{
    tx_post_one(f);
    kick_tx(f);
}

/* A vCPU kicks under the big lock: the main loop, asleep in poll, is woken when the vCPU lets
 * the lock go (woken earlier it would only sleep on the lock), and then sends the frame. */
static void test_tx_kick_wakes_after_unlock(Fixture *f, gconstpointer data)
{
    tx_post_one(f);
    g_assert_false(loop_probe_woken(g_main_context_default()));
    bql_lock();
    bar_wr(f, 0x3004, 1, 2);
    g_assert_false(loop_probe_woken(g_main_context_default()));
    bql_unlock();
    g_assert_true(loop_probe_woken(g_main_context_default()));
    g_assert_cmpuint(f->sent->len, ==, 0); /* the loop sends, not the kick */
    run_main_loop();
    g_assert_cmpuint(f->sent->len, ==, 1);
}

static void test_tx(Fixture *f, gconstpointer data)
{
    const char *frame = tx_frame;
    tx_one(f);
    g_assert_cmpuint(f->sent->len, ==, 1);
    gsize len;
    const void *p = g_bytes_get_data(g_ptr_array_index(f->sent, 0), &len);
    g_assert_cmpmem(p, len, frame, sizeof(tx_frame) - 1);
    g_assert_cmpint(get_le16(f->ram, TXQ_BASE + 0x200 + 2), ==, 1);
    g_assert_cmpint(f->intx.level, ==, 1);
    g_assert_cmphex(bar_rd(f, 0x1000, 1), ==, 1);
    g_assert_cmpint(f->intx.level, ==, 0);
    VirtIONetStats st;
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.tx_packets, ==, 1);
    g_assert_cmpuint(st.tx_bytes, ==, sizeof(tx_frame) - 1);
}

static uint64_t apic_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void apic_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    g_array_append_val((GArray *)opaque, val);
}

static const IoRegionOps apic_ops = {.read = apic_read, .write = apic_write};

#define MSIX_BAR_ADDR (BAR_ADDR + 0x10000)

static void test_msix_vectors(Fixture *f, gconstpointer data)
{
    /* every completion interrupts (no EVENT_IDX): this counts messages, not their suppression */
    virtio_offer_feature(virtio_net_vdev(f->net), VIRTIO_RING_F_EVENT_IDX, false);
    driver_init(f);
    /* vectors=4: the driver's choices read back, one beyond the table as NO_VECTOR */
    g_assert_cmphex(bar_rd(f, 0x10, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x10, 3, 2);
    g_assert_cmphex(bar_rd(f, 0x10, 2), ==, 3);
    bar_wr(f, 0x10, 4, 2);
    g_assert_cmphex(bar_rd(f, 0x10, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x10, 0, 2);
    bar_wr(f, 0x16, 1, 2);
    g_assert_cmphex(bar_rd(f, 0x1a, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x1a, 7, 2);
    g_assert_cmphex(bar_rd(f, 0x1a, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x1a, 2, 2);
    g_assert_cmphex(bar_rd(f, 0x1a, 2), ==, 2);

    /* Linux's MSI-X set-up: BAR 1 placed, entry 2 programmed and unmasked, MSI-X on */
    PCIDevice *d = virtio_pci_device(f->proxy);
    const PCIMsix *m = virtio_pci_msix(f->proxy);
    g_assert_cmphex(pci_config_read(d, m->cap + PCI_MSIX_FLAGS, 2), ==, 3);
    GArray *msgs = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    g_assert_true(io_space_add(f->mmio, "apic", 0xfee00000ull, 0x100000, &apic_ops, msgs, NULL));
    pci_config_write(d, PCI_BASE_ADDRESS_0 + 4, MSIX_BAR_ADDR, 4);
    io_space_write(f->mmio, MSIX_BAR_ADDR + 2 * 16, 0xfee00000, 4);
    io_space_write(f->mmio, MSIX_BAR_ADDR + 2 * 16 + 8, 0x23, 4);
    io_space_write(f->mmio, MSIX_BAR_ADDR + 2 * 16 + 12, 0, 4);
    pci_config_write(d, m->cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);

    /* the TX completion is a message on the queue's vector; INTx stays down */
    tx_one(f);
    g_assert_cmpuint(f->sent->len, ==, 1);
    g_assert_cmpuint(msgs->len, ==, 1);
    g_assert_cmphex(g_array_index(msgs, uint64_t, 0), ==, 0x23);
    g_assert_cmpint(f->intx.level, ==, 0);
    /* masked: pending in the PBA, sent at unmask */
    io_space_write(f->mmio, MSIX_BAR_ADDR + 2 * 16 + 12, 1, 4);
    tx_one(f);
    g_assert_cmpuint(msgs->len, ==, 1);
    g_assert_cmphex(io_space_read(f->mmio, MSIX_BAR_ADDR + 0x800, 4), ==, 1u << 2);
    io_space_write(f->mmio, MSIX_BAR_ADDR + 2 * 16 + 12, 0, 4);
    g_assert_cmpuint(msgs->len, ==, 2);

    /* MSI-X off again: INTx and the ISR, as before */
    pci_config_write(d, m->cap + PCI_MSIX_FLAGS, 0, 2);
    tx_one(f);
    g_assert_cmpuint(msgs->len, ==, 2);
    g_assert_cmpint(f->intx.level, ==, 1);
    g_assert_cmphex(bar_rd(f, 0x1000, 1), ==, 1);
    g_assert_cmpint(f->intx.level, ==, 0);

    /* a device reset (status 0) forgets the vectors */
    bar_wr(f, 0x14, 0, 1);
    g_assert_cmphex(bar_rd(f, 0x10, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x16, 1, 2);
    g_assert_cmphex(bar_rd(f, 0x1a, 2), ==, VIRTIO_NO_VECTOR);
    g_array_free(msgs, TRUE);
}

static void test_pci_cfg_window(Fixture *f, gconstpointer data)
{
    /* upstream's capability list: MSI-X at 0x98 first, the access window at 0x84, then the
     * notify, device, ISR and common capabilities down to 0x40 */
    PCIDevice *d = virtio_pci_device(f->proxy);
    static const uint8_t want[] = {0x98, 0x84, 0x70, 0x60, 0x50, 0x40};
    uint8_t c = d->config[PCI_CAPABILITY_LIST];
    for (guint i = 0; i < G_N_ELEMENTS(want); i++, c = d->config[c + 1]) {
        g_assert_cmphex(c, ==, want[i]);
    }
    g_assert_cmphex(c, ==, 0);
    g_assert_cmphex(d->config[0x98 + 2] | d->config[0x98 + 3] << 8, ==, 3);
    /* the window reads the device config (the MAC) and writes the common config */
    pci_config_write(d, 0x84 + 4, 4, 1);
    pci_config_write(d, 0x84 + 8, 0x2000, 4);
    pci_config_write(d, 0x84 + 12, 4, 4);
    g_assert_cmphex(pci_config_read(d, 0x84 + 16, 4), ==, 0x12005452);
    pci_config_write(d, 0x84 + 8, 0x16, 4);
    pci_config_write(d, 0x84 + 12, 2, 4);
    pci_config_write(d, 0x84 + 16, 1, 4);
    g_assert_cmphex(bar_rd(f, 0x16, 2), ==, 1);
    /* a length other than 1, 2 or 4, or another BAR: nothing happens */
    pci_config_write(d, 0x84 + 12, 3, 4);
    pci_config_write(d, 0x84 + 16, 0, 4);
    g_assert_cmphex(bar_rd(f, 0x16, 2), ==, 1);
    pci_config_write(d, 0x84 + 12, 2, 4);
    pci_config_write(d, 0x84 + 4, 0, 1);
    pci_config_write(d, 0x84 + 16, 0, 4);
    g_assert_cmphex(bar_rd(f, 0x16, 2), ==, 1);
}

static void test_no_msix(Fixture *f, gconstpointer data)
{
    /* vectors=0: no capability, every vector refused */
    PCIDevice *d = virtio_pci_device(f->proxy);
    for (uint8_t c = d->config[PCI_CAPABILITY_LIST]; c; c = d->config[c + 1]) {
        g_assert_cmphex(d->config[c], !=, PCI_CAP_ID_MSIX);
    }
    bar_wr(f, 0x10, 0, 2);
    g_assert_cmphex(bar_rd(f, 0x10, 2), ==, VIRTIO_NO_VECTOR);
    bar_wr(f, 0x1a, 0, 2);
    g_assert_cmphex(bar_rd(f, 0x1a, 2), ==, VIRTIO_NO_VECTOR);
}

static void test_rx(Fixture *f, gconstpointer data)
{
    uint8_t frame[60];
    /* one chain per frame: without MRG_RXBUF, as the driver negotiates it with mrg_rxbuf=off */
    virtio_offer_feature(virtio_net_vdev(f->net), VIRTIO_NET_F_MRG_RXBUF, false);
    driver_init(f);
    for (unsigned i = 0; i < sizeof(frame); i++) {
        frame[i] = i;
    }
    /* no buffer yet: the peer must hold the frame */
    g_assert_false(virtio_net_can_receive(f->net));
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, 0);
    vring_set_desc(f->ram, RXQ_BASE, 0, BUF_BASE, 1526, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 0);
    bar_wr(f, 0x3000, 0, 2);
    g_assert_cmpint(f->rx_ready_calls, ==, 1);
    g_assert_true(virtio_net_can_receive(f->net));
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, sizeof(frame));
    g_assert_cmpint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 1);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 4), ==, 0);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 8), ==,
                     VIRTIO_NET_HDR_LEN + sizeof(frame));
    g_assert_cmpint(get_le16(f->ram, BUF_BASE + 10), ==, 1); /* num_buffers */
    g_assert_cmpmem(f->ram + BUF_BASE + VIRTIO_NET_HDR_LEN, sizeof(frame), frame, sizeof(frame));
    g_assert_cmpint(f->intx.level, ==, 1);
    /* a buffer too small: the frame is dropped and counted, the buffer returned */
    vring_set_desc(f->ram, RXQ_BASE, 1, BUF_BASE + 0x1000, 20, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 1);
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, -1);
    VirtIONetStats st;
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.rx_packets, ==, 1);
    g_assert_cmpuint(st.rx_dropped, ==, 1);
    g_assert_cmpuint(st.rx_no_buffer, ==, 1);
}

#define RX_USED_FLAGS  (RXQ_BASE + 0x200)
#define RX_AVAIL_EVENT (RXQ_BASE + 0x200 + 4 + 8 * QSZ)

/* Posts RX buffer i (1526 bytes) without kicking; returns whether the driver must kick, as
 * Linux decides it (EVENT_IDX: avail_event just passed; else: NO_NOTIFY clear). */
static bool post_rx(Fixture *f, int i, bool event_idx)
{
    uint16_t old = f->rx_avail;
    vring_set_desc(f->ram, RXQ_BASE, i, BUF_BASE + 0x800 * i, 1526, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, i);
    if (event_idx) {
        return vring_need_event(get_le16(f->ram, RX_AVAIL_EVENT), f->rx_avail, old);
    }
    return !(get_le16(f->ram, RX_USED_FLAGS) & VRING_USED_F_NO_NOTIFY);
}

/* While it has receive buffers the device wants no refill kicks; once they are used up it
 * asks for the next one, and only then does the driver's refill kick. */
static void rx_kick_suppression(Fixture *f, bool event_idx)
{
    uint8_t frame[60] = {0};
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    g_assert_cmpint(virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX), ==, event_idx);
    g_assert_true(post_rx(f, 0, event_idx)); /* nothing seen yet: kick */
    bar_wr(f, 0x3000, 0, 2);
    g_assert_true(virtio_net_can_receive(f->net));
    g_assert_false(post_rx(f, 1, event_idx)); /* the device has buffers: no kick */
    g_assert_false(post_rx(f, 2, event_idx));
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, sizeof(frame));
        g_assert_false(post_rx(f, 3 + i, event_idx)); /* never ran dry: no kick */
    }
    /* three more were posted meanwhile; use them up: then the device asks for a kick */
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, sizeof(frame));
    }
    g_assert_false(virtio_net_can_receive(f->net));
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, 0);
    uint64_t kicks = vdev->stats.kicks;
    g_assert_true(post_rx(f, 6, event_idx));
    bar_wr(f, 0x3000, 0, 2);
    g_assert_cmpuint(vdev->stats.kicks, ==, kicks + 1);
    g_assert_true(virtio_net_can_receive(f->net));
    g_assert_cmpuint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 6);
}

static void test_rx_kick_suppression(Fixture *f, gconstpointer data)
{
    rx_kick_suppression(f, true);
}

static void test_rx_kick_suppression_no_event_idx(Fixture *f, gconstpointer data)
{
    virtio_offer_feature(virtio_net_vdev(f->net), VIRTIO_RING_F_EVENT_IDX, false);
    driver_init(f); /* renegotiated without it */
    rx_kick_suppression(f, false);
}

/* Ethernet + IPv4 + TCP with @payload bytes, the TCP checksum field holding the pseudo-header
 * sum as a TSO-ing driver leaves it; returns the length. */
static size_t tcp_frame(uint8_t *p, size_t payload)
{
    static const uint8_t head[54] = {
        0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
        0x45, 0,    0,    0,    0x12, 0x34, 0x40, 0,    64,   6,    0,    0,    10,   0,
        2,    15,   10,   0,    2,    2,    0,    80,   0x9c, 0x40, 0,    0,    0,    1,
        0,    0,    0,    0,    0x50, 0x18, 0xff, 0xff, 0,    0,    0,    0};
    memcpy(p, head, sizeof(head));
    for (size_t i = 0; i < payload; i++) {
        p[54 + i] = (uint8_t)i;
    }
    return 54 + payload;
}

static bool refuse_offload(void *opaque, const uint8_t *hdr, const uint8_t *buf, size_t len)
{
    return false;
}

static bool take_offload(void *opaque, const uint8_t *hdr, const uint8_t *buf, size_t len)
{
    Fixture *f = opaque;
    g_ptr_array_add(f->sent, g_bytes_new(buf, len));
    return hdr[1] == VIRTIO_NET_HDR_GSO_TCPV4 && (hdr[4] | (hdr[5] << 8)) == 500;
}

static void send_tso(Fixture *f, uint16_t slot, size_t payload)
{
    uint8_t *hdr = f->ram + BUF_BASE + 0x4000 * slot;
    memset(hdr, 0, VIRTIO_NET_HDR_LEN);
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    hdr[4] = 500 & 0xff; /* gso_size */
    hdr[5] = 500 >> 8;
    hdr[6] = 34; /* csum_start */
    hdr[8] = 16; /* csum_offset */
    size_t len = tcp_frame(hdr + 0x100, payload);
    vring_set_desc(f->ram, TXQ_BASE, 2 * slot, BUF_BASE + 0x4000 * slot, VIRTIO_NET_HDR_LEN,
                   VRING_DESC_F_NEXT, 2 * slot + 1);
    vring_set_desc(f->ram, TXQ_BASE, 2 * slot + 1, BUF_BASE + 0x4000 * slot + 0x100, len, 0, 0);
    publish(f, TXQ_BASE, &f->tx_avail, 2 * slot);
    kick_tx(f);
}

static void test_tx_tso(Fixture *f, gconstpointer data)
{
    VirtIONetStats st;
    gsize len;

    /* A peer that cannot take it: cut here into 500-byte segments of plain frames. */
    VirtIONetPeer refusing = {
        .send = peer_send, .rx_ready = peer_rx_ready, .send_offload = refuse_offload, .opaque = f};
    virtio_net_set_peer(f->net, &refusing);
    send_tso(f, 0, 1200);
    g_assert_cmpuint(f->sent->len, ==, 3);
    for (guint i = 0; i < 3; i++) {
        const uint8_t *p = g_bytes_get_data(g_ptr_array_index(f->sent, i), &len);
        g_assert_cmpuint(len, ==, 54 + (i < 2 ? 500 : 200));
        g_assert_true(net_frame_csum_ok(p, len));
    }
    /* A peer that can: the frame goes once, whole, with its header. */
    VirtIONetPeer taking = {
        .send = peer_send, .rx_ready = peer_rx_ready, .send_offload = take_offload, .opaque = f};
    virtio_net_set_peer(f->net, &taking);
    send_tso(f, 1, 1200);
    g_assert_cmpuint(f->sent->len, ==, 4);
    g_bytes_get_data(g_ptr_array_index(f->sent, 3), &len);
    g_assert_cmpuint(len, ==, 54 + 1200);
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.tx_segmented, ==, 1);
    g_assert_cmpuint(st.tx_offloaded, ==, 1);
    g_assert_cmpuint(st.tx_packets, ==, 4);
    g_assert_cmpuint(st.tx_dropped, ==, 0);
}

/* A host TSO frame's header as a tap hands it over: partial checksum, TCPv4, 1448-byte MSS. */
static const uint8_t tso4_hdr[VIRTIO_NET_HDR_LEN] = {
    VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 0, 0xa8, 0x05, 34, 0, 16, 0};

static void test_rx_offload(Fixture *f, gconstpointer data)
{
    uint8_t frame[54 + 3000];
    uint8_t hdr[VIRTIO_NET_HDR_LEN];
    size_t len = tcp_frame(frame, 3000);
    VirtIONetStats st;

    memcpy(hdr, tso4_hdr, sizeof(hdr));
    virtio_offer_feature(virtio_net_vdev(f->net), VIRTIO_NET_F_MRG_RXBUF, false);
    driver_init(f);
    /* a buffer too small for the whole frame: refused, the buffer stays for later */
    vring_set_desc(f->ram, RXQ_BASE, 0, BUF_BASE, 1526, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 0);
    g_assert_cmpint(virtio_net_receive_offload(f->net, hdr, frame, len), ==, 0);
    g_assert_cmpint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 0);
    g_assert_cmpint(virtio_net_receive(f->net, frame, 100), ==, 100);
    /* a big one (the driver's big-packet mode): header and frame as they are */
    vring_set_desc(f->ram, RXQ_BASE, 1, BUF_BASE + 0x1000, 0x8000, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 1);
    g_assert_cmpint(virtio_net_receive_offload(f->net, hdr, frame, len), ==, len);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 4 + 8), ==, 1);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 8 + 8), ==, VIRTIO_NET_HDR_LEN + len);
    g_assert_cmpmem(f->ram + BUF_BASE + 0x1000, 10, hdr, 10);
    g_assert_cmpint(get_le16(f->ram, BUF_BASE + 0x1000 + 10), ==, 1);
    g_assert_cmpmem(f->ram + BUF_BASE + 0x1000 + VIRTIO_NET_HDR_LEN, len, frame, len);
    /* UDP fragmentation is not offered */
    hdr[1] = 3;
    g_assert_cmpint(virtio_net_receive_offload(f->net, hdr, frame, len), ==, 0);
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.rx_offloaded, ==, 1);
    g_assert_cmpuint(st.rx_packets, ==, 2);
}

/* --- merged receive buffers (VIRTIO_NET_F_MRG_RXBUF) ------------------------------------- */

#define MRX_USED_IDX    (MRXQ_USED + 2)
#define MRX_USED_ID(k)  (MRXQ_USED + 4 + 8 * ((k) % MRXQ_SIZE))
#define MRX_USED_LEN(k) (MRXQ_USED + 8 + 8 * ((k) % MRXQ_SIZE))
#define MRX_AVAIL_EVENT (MRXQ_USED + 4 + 8 * MRXQ_SIZE)
#define TSO_PAYLOAD     65000

/* The device's receive counters the merged-buffer tests look at. */
static void expect_rx_stats(Fixture *f, uint64_t packets, uint64_t merged, uint64_t no_buffer,
                            uint64_t dropped)
{
    VirtIONetStats st;
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.rx_packets, ==, packets);
    g_assert_cmpuint(st.rx_merged, ==, merged);
    g_assert_cmpuint(st.rx_no_buffer, ==, no_buffer);
    g_assert_cmpuint(st.rx_dropped, ==, dropped);
}

/* Posts descriptor @desc (a @len-byte buffer at @addr) on the big receive queue, no kick. */
static void post_mrx(Fixture *f, int desc, uint64_t addr, uint32_t len)
{
    vring_set_desc(f->ram, MRXQ_BASE, desc, addr, len, VRING_DESC_F_WRITE, 0);
    put_le16(f->ram, MRXQ_BASE + MRXQ_AVAIL + 4 + 2 * (f->rx_avail % MRXQ_SIZE), desc);
    f->rx_avail++;
    put_le16(f->ram, MRXQ_BASE + MRXQ_AVAIL + 2, f->rx_avail);
}

/* Posts @n buffers of @len bytes back to back from @addr, descriptors from @desc on. */
static void post_mrx_run(Fixture *f, int desc, uint64_t addr, uint32_t len, int n)
{
    for (int i = 0; i < n; i++) {
        post_mrx(f, desc + i, addr + (uint64_t)len * i, len);
    }
}

/* The used entries from @first: @n chains, ids from @desc on, full but the last (@total). */
static void check_merged_used(Fixture *f, uint16_t first, int desc, uint32_t len, uint64_t total)
{
    unsigned n = (total + len - 1) / len;
    g_assert_cmpuint(get_le16(f->ram, MRX_USED_IDX), ==, (uint16_t)(first + n));
    for (unsigned k = 0; k < n; k++) {
        g_assert_cmpuint(get_le32(f->ram, MRX_USED_ID(first + k)), ==, desc + k);
        g_assert_cmpuint(get_le32(f->ram, MRX_USED_LEN(first + k)), ==,
                         k + 1 < n ? len : total - (uint64_t)len * (n - 1));
    }
}

/*
 * A 64 KiB TSO frame from the host over 1526-byte buffers (Linux's smallest mergeable size),
 * then a 60000-byte plain frame over 4 KiB ones: each frame is written across as many chains
 * as it takes, each chain one used entry, all published at once with one interrupt, and
 * num_buffers in the first chain's header says how many.
 */
static void test_rx_merge_big_frames(Fixture *f, gconstpointer data)
{
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    g_autofree uint8_t *frame = g_malloc(54 + TSO_PAYLOAD);
    size_t len = tcp_frame(frame, TSO_PAYLOAD);
    const uint8_t *hdr = tso4_hdr;
    VirtIONetStats st;

    driver_init_rx(f, MRXQ_SIZE);
    g_assert_true(virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF));
    post_mrx_run(f, 0, BUF_BASE, 1526, 43); /* 65066 bytes need 43 */
    bar_wr(f, 0x3000, 0, 2);
    uint64_t irqs = vdev->stats.interrupts;
    g_assert_cmpint(virtio_net_receive_offload(f->net, hdr, frame, len), ==, len);
    check_merged_used(f, 0, 0, 1526, VIRTIO_NET_HDR_LEN + len);
    g_assert_cmpmem(f->ram + BUF_BASE, 10, hdr, 10);
    g_assert_cmpuint(get_le16(f->ram, BUF_BASE + 10), ==, 43);
    g_assert_cmpmem(f->ram + BUF_BASE + VIRTIO_NET_HDR_LEN, len, frame, len);
    g_assert_cmpuint(vdev->stats.interrupts, ==, irqs + 1);

    uint64_t buf2 = BUF_BASE + 0x60000;
    for (size_t i = 0; i < 60000; i++) {
        frame[i] = (uint8_t)(i * 7 + 3);
    }
    post_mrx_run(f, 43, buf2, 4096, 17);
    g_assert_cmpint(virtio_net_receive(f->net, frame, 60000), ==, 60000);
    check_merged_used(f, 43, 43, 4096, VIRTIO_NET_HDR_LEN + 60000);
    g_assert_cmpuint(get_le16(f->ram, buf2 + 10), ==, 15);
    g_assert_cmpuint(f->ram[buf2 + 1], ==, VIRTIO_NET_HDR_GSO_NONE);
    g_assert_cmpmem(f->ram + buf2 + VIRTIO_NET_HDR_LEN, 60000, frame, 60000);
    /* a small frame takes one chain, as without the feature */
    g_assert_cmpint(virtio_net_receive(f->net, frame, 60), ==, 60);
    g_assert_cmpuint(get_le16(f->ram, MRX_USED_IDX), ==, 59);
    g_assert_cmpuint(get_le32(f->ram, MRX_USED_ID(58)), ==, 58);
    g_assert_cmpuint(get_le16(f->ram, buf2 + 15 * 4096 + 10), ==, 1);
    expect_rx_stats(f, 3, 2, 0, 0);
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.rx_offloaded, ==, 1);
}

/*
 * Not enough buffers posted for the frame: nothing is written or used, the device asks for the
 * driver's next kick (avail_event at the avail index), and the frame goes in whole once the
 * driver has posted enough: never half-written, never dropped.
 */
static void test_rx_merge_shortage(Fixture *f, gconstpointer data)
{
    g_autofree uint8_t *frame = g_malloc(54 + TSO_PAYLOAD);
    size_t len = tcp_frame(frame, TSO_PAYLOAD);
    const uint8_t *hdr = tso4_hdr;

    driver_init_rx(f, MRXQ_SIZE);
    memset(f->ram + BUF_BASE, 0xee, 0x10000);
    post_mrx_run(f, 0, BUF_BASE, 1526, 10);
    bar_wr(f, 0x3000, 0, 2);
    g_assert_true(virtio_net_can_receive(f->net));
    /* the TSO frame is refused whole (the caller completes it into frames that fit) */
    g_assert_cmpint(virtio_net_receive_offload(f->net, hdr, frame, len), ==, 0);
    g_assert_cmpuint(get_le16(f->ram, MRX_USED_IDX), ==, 0);
    g_assert_cmpuint(f->ram[BUF_BASE], ==, 0xee);
    g_assert_cmpuint(f->ram[BUF_BASE + 1526 * 10 - 1], ==, 0xee);
    g_assert_cmpuint(get_le16(f->ram, MRX_AVAIL_EVENT), ==, 10);
    /* a 20000-byte frame waits for buffers too */
    g_assert_cmpint(virtio_net_receive(f->net, frame, 20000), ==, 0);
    g_assert_cmpuint(get_le16(f->ram, MRX_USED_IDX), ==, 0);
    g_assert_cmpuint(f->ram[BUF_BASE + 10], ==, 0xee);
    int ready = f->rx_ready_calls;
    uint16_t old = f->rx_avail;
    post_mrx_run(f, 10, BUF_BASE + 1526 * 10, 1526, 5);
    /* the driver's refill passes avail_event: Linux kicks */
    g_assert_true(vring_need_event(get_le16(f->ram, MRX_AVAIL_EVENT), f->rx_avail, old));
    bar_wr(f, 0x3000, 0, 2);
    g_assert_cmpint(f->rx_ready_calls, ==, ready + 1);
    g_assert_cmpint(virtio_net_receive(f->net, frame, 20000), ==, 20000);
    check_merged_used(f, 0, 0, 1526, VIRTIO_NET_HDR_LEN + 20000);
    g_assert_cmpuint(get_le16(f->ram, BUF_BASE + 10), ==, 14);
    g_assert_cmpmem(f->ram + BUF_BASE + VIRTIO_NET_HDR_LEN, 20000, frame, 20000);
    expect_rx_stats(f, 1, 1, 1, 0);
}

/*
 * A frame larger than every buffer the ring can hold (all 8 posted, 100 bytes each) is dropped
 * and counted without touching them; the next frame that fits uses them. A first buffer
 * without room for the header is a driver error: the device needs a reset.
 */
static void test_rx_merge_too_big_and_bad_first(Fixture *f, gconstpointer data)
{
    uint8_t frame[2000];

    memset(frame, 0x5a, sizeof(frame));
    for (int i = 0; i < QSZ; i++) {
        vring_set_desc(f->ram, RXQ_BASE, i, BUF_BASE + 100 * i, 100, VRING_DESC_F_WRITE, 0);
        publish(f, RXQ_BASE, &f->rx_avail, i);
    }
    bar_wr(f, 0x3000, 0, 2);
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, -1);
    g_assert_cmpuint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 0);
    g_assert_cmpint(virtio_net_receive(f->net, frame, 500), ==, 500);
    g_assert_cmpuint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 6);
    g_assert_cmpuint(get_le16(f->ram, BUF_BASE + 10), ==, 6);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 8 + 8 * 5), ==, 12);
    expect_rx_stats(f, 1, 1, 0, 1);

    vring_set_desc(f->ram, RXQ_BASE, 6, BUF_BASE + 0x1000, 8, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 6);
    g_assert_cmpint(virtio_net_receive(f->net, frame, 60), ==, -1);
    g_assert_cmphex(bar_rd(f, 0x14, 1) & VIRTIO_CONFIG_S_NEEDS_RESET, !=, 0);
    g_assert_cmpuint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 6);
}

static void test_reply_inside_send(Fixture *f, gconstpointer data)
{
    f->echo = true;
    /* RX buffer at descriptor 5, TX chain at descriptor 2: the used ids must not mix */
    vring_set_desc(f->ram, RXQ_BASE, 5, BUF_BASE + 0x1000, 1526, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 5);
    memset(f->ram + BUF_BASE, 0, VIRTIO_NET_HDR_LEN + 60);
    vring_set_desc(f->ram, TXQ_BASE, 2, BUF_BASE, VIRTIO_NET_HDR_LEN + 60, 0, 0);
    publish(f, TXQ_BASE, &f->tx_avail, 2);
    kick_tx(f);
    g_assert_cmpint(get_le16(f->ram, TXQ_BASE + 0x200 + 2), ==, 1);
    g_assert_cmpuint(get_le32(f->ram, TXQ_BASE + 0x200 + 4), ==, 2);
    g_assert_cmpint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 1);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 4), ==, 5);
    g_assert_cmpuint(get_le32(f->ram, RXQ_BASE + 0x200 + 8), ==, VIRTIO_NET_HDR_LEN + 60);
}

static void expect_broken(Fixture *f)
{
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    g_assert_true(vdev->broken);
    g_assert_cmphex(bar_rd(f, 0x14, 1) & VIRTIO_CONFIG_S_NEEDS_RESET, !=, 0);
    g_assert_cmpuint(vdev->stats.bad_chains, >=, 1);
    /* the config-change interrupt tells the driver */
    g_assert_cmphex(bar_rd(f, 0x1000, 1) & 2, ==, 2);
    /* a reset recovers the device */
    bar_wr(f, 0x14, 0, 1);
    g_assert_false(vdev->broken);
    g_assert_cmpint(bar_rd(f, 0x14, 1), ==, 0);
}

static void tx_chain(Fixture *f, uint16_t head)
{
    publish(f, TXQ_BASE, &f->tx_avail, head);
    kick_tx(f);
}

static void test_loop(Fixture *f, gconstpointer data)
{
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE, 64, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, TXQ_BASE, 1, BUF_BASE, 64, VRING_DESC_F_NEXT, 0);
    tx_chain(f, 0);
    g_assert_cmpuint(f->sent->len, ==, 0);
    expect_broken(f);
}

static void test_out_of_range_indexes(Fixture *f, gconstpointer data)
{
    tx_chain(f, QSZ + 3); /* head beyond the table */
    expect_broken(f);
    driver_init(f);
    f->tx_avail = 0;
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE, 64, VRING_DESC_F_NEXT, 0x7fff); /* next beyond */
    tx_chain(f, 0);
    expect_broken(f);
    driver_init(f);
    /* avail index far ahead of what was consumed */
    put_le16(f->ram, TXQ_BASE + 0x100 + 2, 0x8000);
    kick_tx(f);
    expect_broken(f);
}

static void test_bad_addresses(Fixture *f, gconstpointer data)
{
    vring_set_desc(f->ram, TXQ_BASE, 0, RAM_SIZE - 4, 64, 0, 0); /* runs off the end of RAM */
    tx_chain(f, 0);
    expect_broken(f);
    driver_init(f);
    f->tx_avail = 0;
    vring_set_desc(f->ram, TXQ_BASE, 0, 0xfffffffffffffff0ull, 64, 0, 0); /* wraps */
    tx_chain(f, 0);
    expect_broken(f);
    driver_init(f);
    f->tx_avail = 0;
    /* the rings themselves outside RAM */
    bar_wr(f, 0x14, 0, 1);
    bar_wr(f, 0x14, 0x0b, 1);
    setup_queue(f, 0, RXQ_BASE);
    bar_wr(f, 0x16, 1, 2);
    bar_wr(f, 0x18, QSZ, 2);
    bar_wr(f, 0x20, TXQ_BASE, 4);
    bar_wr(f, 0x28, 0xfff00000, 4);
    bar_wr(f, 0x30, TXQ_BASE + 0x200, 4);
    bar_wr(f, 0x1c, 1, 2);
    bar_wr(f, 0x14, 0x0f, 1);
    kick_tx(f);
    expect_broken(f);
}

static void test_indirect_rules(Fixture *f, gconstpointer data)
{
    /* a valid indirect table works */
    vring_set_desc(f->ram, 0x30000, 0, BUF_BASE, VIRTIO_NET_HDR_LEN, VRING_DESC_F_NEXT, 1);
    vring_set_desc(f->ram, 0x30000, 1, BUF_BASE + 0x100, 60, 0, 0);
    vring_set_desc(f->ram, TXQ_BASE, 0, 0x30000, 32, VRING_DESC_F_INDIRECT, 0);
    tx_chain(f, 0);
    g_assert_cmpuint(f->sent->len, ==, 1);
    /* nested indirect */
    vring_set_desc(f->ram, 0x30000, 1, 0x30000, 32, VRING_DESC_F_INDIRECT, 0);
    tx_chain(f, 0);
    expect_broken(f);
    driver_init(f);
    f->tx_avail = 0;
    /* odd length table */
    vring_set_desc(f->ram, TXQ_BASE, 0, 0x30000, 33, VRING_DESC_F_INDIRECT, 0);
    tx_chain(f, 0);
    expect_broken(f);
    driver_init(f);
    f->tx_avail = 0;
    /* readable after writable */
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE, 64, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    vring_set_desc(f->ram, TXQ_BASE, 1, BUF_BASE, 64, 0, 0);
    tx_chain(f, 0);
    expect_broken(f);
}

static void test_bad_setup_contained(Fixture *f, gconstpointer data)
{
    /* queue sizes that are not powers of two or too big are refused */
    bar_wr(f, 0x14, 0, 1);
    bar_wr(f, 0x16, 0, 2);
    bar_wr(f, 0x18, 7, 2);
    g_assert_cmpint(bar_rd(f, 0x18, 2), ==, VIRTIO_NET_QUEUE_SIZE);
    bar_wr(f, 0x18, 4096, 2);
    g_assert_cmpint(bar_rd(f, 0x18, 2), ==, VIRTIO_NET_QUEUE_SIZE);
    /* unknown queue selected, notify of a queue that does not exist */
    bar_wr(f, 0x16, 99, 2);
    g_assert_cmpint(bar_rd(f, 0x18, 2), ==, 0);
    bar_wr(f, 0x3000 + 4 * 50, 50, 2);
    /* features the device does not offer: FEATURES_OK refused */
    bar_wr(f, 0x14, 3, 1);
    bar_wr(f, 0x08, 0, 4);
    bar_wr(f, 0x0c, 0xffffffff, 4);
    bar_wr(f, 0x14, 0x0b, 1);
    g_assert_cmphex(bar_rd(f, 0x14, 1) & VIRTIO_CONFIG_S_FEATURES_OK, ==, 0);
    /* traffic before DRIVER_OK is dropped, counted */
    uint8_t frame[14] = {0};
    g_assert_cmpint(virtio_net_receive(f->net, frame, sizeof(frame)), ==, -1);
}

/*
 * A driver writing garbage over the whole BAR (common config with any queue selected, ISR,
 * device config, notify), with any access size and alignment: nothing crashes, and a reset
 * followed by a proper bring-up gives a working device again.
 */
static void test_register_garbage(Fixture *f, gconstpointer data)
{
    static const uint16_t hot[] = {0x14, 0x16, 0x18, 0x1c, 0x20, 0x28, 0x30, 0x3000, 0x3004};
    GRand *r = g_rand_new_with_seed(7);
    for (int i = 0; i < 20000; i++) {
        unsigned size = 1u << g_rand_int_range(r, 0, 3);
        uint64_t off = g_rand_boolean(r) ? hot[g_rand_int_range(r, 0, G_N_ELEMENTS(hot))]
                                         : (uint64_t)g_rand_int_range(r, 0, 0x4000);
        /* queue indexes out of range as often as in range */
        uint32_t v = g_rand_boolean(r) ? g_rand_int(r) : (uint32_t)g_rand_int_range(r, 0, 4);
        if (g_rand_int_range(r, 0, 3)) {
            bar_wr(f, off, v, size);
        } else {
            bar_rd(f, off, size);
        }
    }
    g_rand_free(r);
    bar_wr(f, 0x14, 0, 1);
    g_assert_cmpint(bar_rd(f, 0x14, 1), ==, 0);
    driver_init(f);
    f->tx_avail = 0;
    g_ptr_array_set_size(f->sent, 0);
    memset(f->ram + TXQ_BASE + 0x100, 0, 0x200);
    memset(f->ram + BUF_BASE, 0, VIRTIO_NET_HDR_LEN + 60);
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE, VIRTIO_NET_HDR_LEN + 60, 0, 0);
    tx_chain(f, 0);
    g_assert_cmpuint(f->sent->len, ==, 1);
    g_assert_false(virtio_net_vdev(f->net)->broken);
}

/* --- through the net core: a fake -netdev "hn0" peered with the NIC client ------------- */

typedef struct FakeNetdev {
    NetClientState nc;
    GPtrArray *got;
} FakeNetdev;

static ssize_t fake_receive(NetClientState *nc, const uint8_t *buf, size_t size)
{
    g_ptr_array_add(((FakeNetdev *)nc)->got, g_bytes_new(buf, size));
    return size;
}

static const NetClientInfo fake_info = {
    .type = NET_CLIENT_DRIVER_SOCKET,
    .size = sizeof(FakeNetdev),
    .receive = fake_receive,
};

static void test_net_core_glue(Fixture *f, gconstpointer data)
{
    FakeNetdev *nd = (FakeNetdev *)qemu_new_net_client(&fake_info, NULL, "socket", "hn0");
    nd->nc.is_netdev = true;
    nd->got = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    GError *err = NULL;
    g_assert_null(virtio_net_nc_attach(f->net, "nope", "net0", mac, &err));
    g_assert_cmpstr(err->message, ==,
                    "Property 'virtio-net-device.netdev' can't find value 'nope'");
    g_clear_error(&err);
    VirtIONetClient *c = virtio_net_nc_attach(f->net, "hn0", "net0", mac, &err);
    g_assert_nonnull(c);
    g_assert_null(virtio_net_nc_attach(f->net, "hn0", "net1", mac, &err));
    g_assert_cmpstr(err->message, ==,
                    "Property 'virtio-net-device.netdev' can't take value 'hn0', it's in use");
    g_clear_error(&err);

    /* netdev -> guest before any RX buffer: queued in the core, delivered on the RX kick */
    uint8_t frame[42];
    memset(frame, 0x5a, sizeof(frame));
    qemu_send_packet(&nd->nc, frame, sizeof(frame));
    g_assert_cmpint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 0);
    vring_set_desc(f->ram, RXQ_BASE, 0, BUF_BASE, 1526, VRING_DESC_F_WRITE, 0);
    publish(f, RXQ_BASE, &f->rx_avail, 0);
    bar_wr(f, 0x3000, 0, 2);
    g_assert_cmpint(get_le16(f->ram, RXQ_BASE + 0x200 + 2), ==, 1);
    g_assert_cmpmem(f->ram + BUF_BASE + VIRTIO_NET_HDR_LEN, sizeof(frame), frame, sizeof(frame));

    /* guest -> netdev */
    memcpy(f->ram + BUF_BASE + 0x2000 + VIRTIO_NET_HDR_LEN, "hello-netdev", 12);
    memset(f->ram + BUF_BASE + 0x2000, 0, VIRTIO_NET_HDR_LEN);
    vring_set_desc(f->ram, TXQ_BASE, 0, BUF_BASE + 0x2000, VIRTIO_NET_HDR_LEN + 12, 0, 0);
    publish(f, TXQ_BASE, &f->tx_avail, 0);
    kick_tx(f);
    g_assert_cmpuint(nd->got->len, ==, 1);
    gsize len;
    const void *p = g_bytes_get_data(g_ptr_array_index(nd->got, 0), &len);
    g_assert_cmpmem(p, len, "hello-netdev", 12);

    /* set_link off on the netdev reaches the guest's status bit */
    qemu_set_link(&nd->nc, false);
    g_assert_cmphex(bar_rd(f, 0x2006, 2), ==, 0);
    qemu_set_link(&nd->nc, true);
    g_assert_cmphex(bar_rd(f, 0x2006, 2), ==, VIRTIO_NET_S_LINK_UP);

    virtio_net_nc_detach(c);
    g_ptr_array_unref(nd->got);
    qemu_del_net_client(&nd->nc);
}

/* Frame i of a TX batch: header and frame in one descriptor (slot i), published, no kick. */
static void tx_post(Fixture *f, unsigned i)
{
    uint64_t buf = BUF_BASE + 0x800 * i;
    memset(f->ram + buf, 0, VIRTIO_NET_HDR_LEN);
    memcpy(f->ram + buf + VIRTIO_NET_HDR_LEN, tx_frame, sizeof(tx_frame) - 1);
    f->ram[buf + VIRTIO_NET_HDR_LEN + sizeof(tx_frame) - 2] = 'a' + i; /* tells frames apart */
    vring_set_desc(f->ram, TXQ_BASE, i, buf, VIRTIO_NET_HDR_LEN + sizeof(tx_frame) - 1, 0, 0);
    publish(f, TXQ_BASE, &f->tx_avail, i);
}

static uint16_t tx_used_idx(Fixture *f)
{
    return get_le16(f->ram, TXQ_BASE + 0x200 + 2);
}

/* Whether the driver's next TX chain would bring a kick (EVENT_IDX: avail_event at its index). */
static bool tx_kicks_wanted(Fixture *f)
{
    if (virtio_has_feature(virtio_net_vdev(f->net), VIRTIO_RING_F_EVENT_IDX)) {
        return get_le16(f->ram, TXQ_BASE + 0x200 + 4 + 8 * QSZ) == f->tx_avail;
    }
    return !(get_le16(f->ram, TXQ_BASE + 0x200) & VRING_USED_F_NO_NOTIFY);
}

/* The frames sent are tx_frame with last bytes 'a' + first .. 'a' + first + n - 1, in order. */
static void assert_sent(Fixture *f, unsigned first, unsigned n)
{
    g_assert_cmpuint(f->sent->len, ==, n);
    for (unsigned i = 0; i < n; i++) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(g_ptr_array_index(f->sent, i), &len);
        g_assert_cmpuint(len, ==, sizeof(tx_frame) - 1);
        g_assert_cmpint(p[len - 1], ==, 'a' + first + i);
    }
}

/* While stopped nothing was sent; on resume frames 0..n-1 go, and kicks are wanted again. */
static void resume_sends(Fixture *f, unsigned n)
{
    run_main_loop();
    g_assert_cmpuint(f->sent->len, ==, 0);
    virtio_net_set_running(f->net, true);
    run_main_loop();
    assert_sent(f, 0, n);
    g_assert_cmpuint(tx_used_idx(f), ==, n);
    g_assert_true(tx_kicks_wanted(f));
}

static void test_tx_flush_batches(Fixture *f, gconstpointer data)
{
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    /* the kick only schedules the flush, and asks the driver not to kick meanwhile */
    tx_post(f, 0);
    bar_wr(f, 0x3004, 1, 2);
    g_assert_cmpuint(f->sent->len, ==, 0);
    g_assert_false(tx_kicks_wanted(f));
    /* what the driver adds before the flush runs goes with it, without a kick */
    for (unsigned i = 1; i < 5; i++) {
        tx_post(f, i);
    }
    uint64_t irqs = vdev->stats.interrupts;
    run_main_loop();
    assert_sent(f, 0, 5);
    g_assert_cmpuint(tx_used_idx(f), ==, 5);
    g_assert_cmpuint(vdev->stats.interrupts - irqs, ==, 1);
    g_assert_cmpint(f->intx.raises, ==, 1);
    g_assert_true(tx_kicks_wanted(f));
    VirtIONetStats st;
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.tx_flushes, ==, 1);
    g_assert_cmpuint(st.tx_packets, ==, 5);
}

static void test_tx_flush_batches_no_event_idx(Fixture *f, gconstpointer data)
{
    virtio_offer_feature(virtio_net_vdev(f->net), VIRTIO_RING_F_EVENT_IDX, false);
    driver_init(f);
    test_tx_flush_batches(f, data);
}

static void test_tx_flush_burst(Fixture *f, gconstpointer data)
{
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    uint64_t decisions = vdev->stats.interrupts + vdev->stats.suppressed;
    virtio_net_set_tx_burst(f->net, 2);
    for (unsigned i = 0; i < 5; i++) {
        tx_post(f, i);
    }
    bar_wr(f, 0x3004, 1, 2);
    /* one burst a main-loop iteration, kicks off until the ring is empty */
    g_assert_true(g_main_context_iteration(NULL, FALSE));
    assert_sent(f, 0, 2);
    g_assert_false(tx_kicks_wanted(f));
    g_assert_true(g_main_context_iteration(NULL, FALSE));
    assert_sent(f, 0, 4);
    g_assert_false(tx_kicks_wanted(f));
    /* the driver adds one while the last burst is due: it goes out with it */
    tx_post(f, 5);
    g_assert_true(g_main_context_iteration(NULL, FALSE));
    assert_sent(f, 0, 6);
    /* that burst was full: one more flush finds the ring empty and wants kicks again */
    g_assert_false(tx_kicks_wanted(f));
    run_main_loop();
    g_assert_true(tx_kicks_wanted(f));
    g_assert_cmpuint(tx_used_idx(f), ==, 6);
    VirtIONetStats st;
    virtio_net_get_stats(f->net, &st);
    g_assert_cmpuint(st.tx_flushes, ==, 3);
    /* one interrupt decision a burst (the driver's used_event decides which interrupt) */
    g_assert_cmpuint(vdev->stats.interrupts + vdev->stats.suppressed - decisions, ==, 3);
}

static void test_tx_stopped(Fixture *f, gconstpointer data)
{
    tx_post(f, 0);
    bar_wr(f, 0x3004, 1, 2);
    virtio_net_set_running(f->net, false); /* stopped before the flush ran */
    run_main_loop();
    g_assert_cmpuint(tx_used_idx(f), ==, 0);
    g_assert_false(tx_kicks_wanted(f));
    resume_sends(f, 1);
}

/*
 * Saved with a flush due (the VM stopped, kicks off, chains posted): the loaded device sends
 * each of them once, after the VM runs, and wants kicks again.
 */
static void test_tx_pending_save_load(Fixture *f, gconstpointer data)
{
    tx_post(f, 0);
    bar_wr(f, 0x3004, 1, 2);
    tx_post(f, 1);
    tx_post(f, 2);
    virtio_net_set_running(f->net, false);
    run_main_loop();
    g_autoptr(VMStateSet) set = vmstate_set_new();
    vmstate_set_add(set, "virtio-net", 0, &vmstate_virtio_net, f->net);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    GError *err = NULL;
    g_assert_true(vmstate_set_save(set, stream, &err));
    g_assert_no_error(err);

    /* the destination: a device reset to nothing, with no flush due, stopped, then loaded */
    VirtIODevice *vdev = virtio_net_vdev(f->net);
    virtio_reset(vdev);
    virtio_net_set_running(f->net, true);
    run_main_loop();
    g_assert_cmpuint(f->sent->len, ==, 0);
    virtio_net_set_running(f->net, false);
    g_assert_true(vmstate_set_load(set, stream->data, stream->len, &err));
    g_assert_no_error(err);
    resume_sends(f, 3);
}

/* A reset forgets a due flush: nothing is sent from the queue the driver gave up. */
static void test_tx_reset_drops_flush(Fixture *f, gconstpointer data)
{
    tx_post(f, 0);
    bar_wr(f, 0x3004, 1, 2);
    bar_wr(f, 0x14, 0, 1);
    run_main_loop();
    g_assert_cmpuint(f->sent->len, ==, 0);
    g_assert_cmpuint(tx_used_idx(f), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/virtio-net/identity-config", test_identity_and_config);
    ADD("/virtio-net/tx", test_tx);
    ADD("/virtio-net/rx", test_rx);
    ADD("/virtio-net/tx-tso", test_tx_tso);
    ADD("/virtio-net/rx-offload", test_rx_offload);
    ADD("/virtio-net/rx-merge/big-frames", test_rx_merge_big_frames);
    ADD("/virtio-net/rx-merge/shortage", test_rx_merge_shortage);
    ADD("/virtio-net/rx-merge/too-big-and-bad-first", test_rx_merge_too_big_and_bad_first);
    ADD("/virtio-net/reply-inside-send", test_reply_inside_send);
    ADD("/virtio-net/malicious/loop", test_loop);
    ADD("/virtio-net/malicious/out-of-range", test_out_of_range_indexes);
    ADD("/virtio-net/malicious/bad-addresses", test_bad_addresses);
    ADD("/virtio-net/malicious/indirect", test_indirect_rules);
    ADD("/virtio-net/bad-setup", test_bad_setup_contained);
    ADD("/virtio-net/malicious/register-garbage", test_register_garbage);
    ADD("/virtio-net/net-core-glue", test_net_core_glue);
    ADD("/virtio-net/rx-kick-suppression/event-idx", test_rx_kick_suppression);
    ADD("/virtio-net/rx-kick-suppression/no-notify", test_rx_kick_suppression_no_event_idx);
    g_test_add("/virtio-net/msix-vectors", Fixture, GUINT_TO_POINTER(4), setup, test_msix_vectors,
               teardown);
    ADD("/virtio-net/no-msix", test_no_msix);
    ADD("/virtio-net/tx-flush/batches", test_tx_flush_batches);
    ADD("/virtio-net/tx-flush/batches-no-event-idx", test_tx_flush_batches_no_event_idx);
    ADD("/virtio-net/tx-flush/burst", test_tx_flush_burst);
    ADD("/virtio-net/tx-flush/stopped", test_tx_stopped);
    ADD("/virtio-net/tx-flush/kick-wakes-after-unlock", test_tx_kick_wakes_after_unlock);
    ADD("/virtio-net/tx-flush/pending-save-load", test_tx_pending_save_load);
    ADD("/virtio-net/tx-flush/reset", test_tx_reset_drops_flush);
    g_test_add("/virtio-net/pci-cfg-window", Fixture, GUINT_TO_POINTER(4), setup,
               test_pci_cfg_window, teardown);
    return g_test_run();
}
