/* The virtio PCI transport, modern interface (include/hw/virtio/virtio-pci.h). */
#include "hw/virtio/virtio-pci.h"
#include "util/error.h"
#include "util/log.h"

#include <inttypes.h>
#include <string.h>

enum {
    CAP_COMMON = 1,
    CAP_NOTIFY = 2,
    CAP_ISR = 3,
    CAP_DEVICE = 4,
    CAP_PCI_CFG = 5,
};

struct VirtIOPCIProxy {
    PCIDevice *pci;
    VirtIODevice *vdev;
    uint32_t dfselect, gfselect;
    uint32_t guest_features[2];
    uint16_t queue_sel;
    uint32_t nvectors;      /* the MSI-X table's size, 0: INTx only */
    uint16_t config_vector; /* msix_config */
    uint16_t queue_vector[VIRTIO_QUEUE_MAX];
    PCIMsix msix;
    uint8_t cfg_cap; /* the PCI configuration access capability */
};

static VirtQueue *selected_vq(VirtIOPCIProxy *p)
{
    return p->queue_sel < p->vdev->num_queues ? &p->vdev->vq[p->queue_sel] : NULL;
}

static void update_intx(VirtIOPCIProxy *p)
{
    /* with MSI-X on, the ISR is still kept (upstream does) but nothing reads it */
    pci_set_irq(p->pci, p->vdev->isr != 0 && !msix_enabled(&p->msix));
}

static void notify_cb(void *opaque, bool config_change)
{
    VirtIOPCIProxy *p = opaque;
    if (!msix_enabled(&p->msix)) {
        update_intx(p);
    } else if (config_change && p->config_vector != VIRTIO_NO_VECTOR) {
        msix_notify(&p->msix, p->config_vector);
    }
}

static void notify_queue_cb(void *opaque, int queue)
{
    VirtIOPCIProxy *p = opaque;
    if (!msix_enabled(&p->msix)) {
        update_intx(p);
    } else if (p->queue_vector[queue] != VIRTIO_NO_VECTOR) {
        msix_notify(&p->msix, p->queue_vector[queue]);
    }
}

static void reset_vectors(VirtIOPCIProxy *p)
{
    p->config_vector = VIRTIO_NO_VECTOR;
    for (int i = 0; i < VIRTIO_QUEUE_MAX; i++) {
        p->queue_vector[i] = VIRTIO_NO_VECTOR;
    }
}

/* The driver's choice of vector: one beyond the table (or any, without MSI-X) reads back as
 * NO_VECTOR, which is how the driver learns it was refused (virtio 1.x 4.1.5.1.2). */
static uint16_t accepted_vector(VirtIOPCIProxy *p, uint64_t val)
{
    return val < p->msix.nentries ? val : VIRTIO_NO_VECTOR;
}

static uint64_t common_read(void *opaque, uint64_t addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    VirtIODevice *vdev = p->vdev;
    VirtQueue *vq = selected_vq(p);
    switch (addr) {
    case 0x00:
        return p->dfselect;
    case 0x04:
        return p->dfselect < 2 ? (uint32_t)(vdev->host_features >> (32 * p->dfselect)) : 0;
    case 0x08:
        return p->gfselect;
    case 0x0c:
        return p->gfselect < 2 ? p->guest_features[p->gfselect] : 0;
    case 0x10:
        return p->config_vector;
    case 0x12:
        return vdev->num_queues;
    case 0x14:
        return vdev->status;
    case 0x15:
        return vdev->config_generation;
    case 0x16:
        return p->queue_sel;
    case 0x18:
        return vq ? vq->size : 0;
    case 0x1a:
        return p->queue_sel < VIRTIO_QUEUE_MAX ? p->queue_vector[p->queue_sel] : VIRTIO_NO_VECTOR;
    case 0x1c:
        return vq ? vq->enabled : 0;
    case 0x1e:
        return vq ? p->queue_sel : 0; /* queue_notify_off: the queue's own index */
    case 0x20:
        return vq ? (uint32_t)vq->desc : 0;
    case 0x24:
        return vq ? vq->desc >> 32 : 0;
    case 0x28:
        return vq ? (uint32_t)vq->avail : 0;
    case 0x2c:
        return vq ? vq->avail >> 32 : 0;
    case 0x30:
        return vq ? (uint32_t)vq->used : 0;
    case 0x34:
        return vq ? vq->used >> 32 : 0;
    default:
        return 0;
    }
}

static void set_lo(uint64_t *field, uint32_t v)
{
    *field = (*field & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *field, uint32_t v)
{
    *field = (*field & 0xffffffffull) | ((uint64_t)v << 32);
}

static void common_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    VirtIODevice *vdev = p->vdev;
    VirtQueue *vq = selected_vq(p);
    /* queue fields may change only while the queue is disabled (virtio 1.x 4.1.4.3.2) */
    bool vq_writable = vq && !vq->enabled;
    switch (addr) {
    case 0x00:
        p->dfselect = val;
        break;
    case 0x08:
        p->gfselect = val;
        break;
    case 0x0c:
        if (p->gfselect < 2) {
            p->guest_features[p->gfselect] = val;
        }
        break;
    case 0x14:
        if (val == 0) {
            virtio_reset(vdev);
            p->guest_features[0] = p->guest_features[1] = 0;
            reset_vectors(p);
            update_intx(p);
            break;
        }
        if ((val & VIRTIO_CONFIG_S_FEATURES_OK) && !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
            uint64_t f = p->guest_features[0] | ((uint64_t)p->guest_features[1] << 32);
            if (!virtio_set_guest_features(vdev, f)) {
                val &= ~VIRTIO_CONFIG_S_FEATURES_OK; /* the driver sees it was refused */
            }
        }
        virtio_set_status(vdev, val);
        break;
    case 0x10:
        p->config_vector = accepted_vector(p, val);
        break;
    case 0x16:
        p->queue_sel = val;
        break;
    case 0x1a:
        if (p->queue_sel < VIRTIO_QUEUE_MAX) {
            p->queue_vector[p->queue_sel] = accepted_vector(p, val);
        }
        break;
    case 0x18:
        if (vq_writable) {
            /* a power of two up to the device's maximum; anything else is refused */
            if (val && val <= vq->max_size && !(val & (val - 1))) {
                vq->size = val;
            } else {
                qemu_log_mask(LOG_GUEST_ERROR, "%s: queue %u size %u refused\n", vdev->name,
                              p->queue_sel, (unsigned)val);
            }
        }
        break;
    case 0x1c:
        if (vq && val == 1) {
            vq->enabled = true;
        }
        break;
    case 0x20:
        if (vq_writable) {
            set_lo(&vq->desc, val);
        }
        break;
    case 0x24:
        if (vq_writable) {
            set_hi(&vq->desc, val);
        }
        break;
    case 0x28:
        if (vq_writable) {
            set_lo(&vq->avail, val);
        }
        break;
    case 0x2c:
        if (vq_writable) {
            set_hi(&vq->avail, val);
        }
        break;
    case 0x30:
        if (vq_writable) {
            set_lo(&vq->used, val);
        }
        break;
    case 0x34:
        if (vq_writable) {
            set_hi(&vq->used, val);
        }
        break;
    default:
        break; /* read-only fields: ignored */
    }
}

static uint64_t isr_read(void *opaque, uint64_t addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    if (addr != 0) {
        return 0;
    }
    uint8_t v = p->vdev->isr;
    p->vdev->isr = 0;
    update_intx(p);
    return v;
}

static void isr_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
}

static uint64_t device_read(void *opaque, uint64_t addr, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    if (!p->vdev->ops->config_read) {
        return 0;
    }
    return p->vdev->ops->config_read(p->vdev, addr, size);
}

static void device_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    if (p->vdev->ops->config_write) {
        p->vdev->ops->config_write(p->vdev, addr, val, size);
    }
}

static uint64_t notify_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void notify_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    VirtIOPCIProxy *p = opaque;
    /* the offset names the queue (notify_off * multiplier); the value repeats it */
    virtio_queue_notify(p->vdev, addr / VIRTIO_PCI_NOTIFY_MULT);
}

static uint64_t bar_read(void *opaque, uint64_t addr, unsigned size)
{
    uint64_t off = addr & 0xfff;
    switch (addr & ~0xfffull) {
    case VIRTIO_PCI_COMMON_OFF:
        return common_read(opaque, off, size);
    case VIRTIO_PCI_ISR_OFF:
        return isr_read(opaque, off, size);
    case VIRTIO_PCI_DEVICE_OFF:
        return device_read(opaque, off, size);
    default:
        return notify_read(opaque, off, size);
    }
}

static void bar_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    uint64_t off = addr & 0xfff;
    switch (addr & ~0xfffull) {
    case VIRTIO_PCI_COMMON_OFF:
        common_write(opaque, off, val, size);
        break;
    case VIRTIO_PCI_ISR_OFF:
        isr_write(opaque, off, val, size);
        break;
    case VIRTIO_PCI_DEVICE_OFF:
        device_write(opaque, off, val, size);
        break;
    default:
        notify_write(opaque, off, val, size);
        break;
    }
}

static const IoRegionOps bar_ops = {.read = bar_read, .write = bar_write};

static void add_cap(PCIDevice *d, uint8_t type, uint32_t offset, uint32_t length, bool notify)
{
    uint8_t len = notify ? 20 : 16;
    uint8_t c = pci_add_capability(d, 0x09, len);
    g_assert(c);
    d->config[c + 2] = len;
    d->config[c + 3] = type;
    d->config[c + 4] = VIRTIO_PCI_BAR;
    pci_set_long(d->config + c + 8, offset);
    pci_set_long(d->config + c + 12, length);
    if (notify) {
        pci_set_long(d->config + c + 16, VIRTIO_PCI_NOTIFY_MULT);
    }
}

/* The access the PCI configuration access capability describes (virtio 1.x 4.1.4.9): its bar,
 * offset and length fields, or false if they name no valid access into the BAR. */
static bool cfg_window(VirtIOPCIProxy *p, uint32_t addr, int len, uint32_t *off, unsigned *size)
{
    const uint8_t *c = p->pci->config + p->cfg_cap;
    uint32_t data = p->cfg_cap + 16;
    if (addr + len <= data || addr >= data + 4) {
        return false; /* the access is not to the data window */
    }
    *off = pci_get_long(c + 8);
    *size = pci_get_long(c + 12);
    return c[4] == VIRTIO_PCI_BAR && (*size == 1 || *size == 2 || *size == 4) &&
           *off < VIRTIO_PCI_BAR_SIZE && *off % *size == 0;
}

static void config_reading(PCIDevice *d, uint32_t addr, int len)
{
    VirtIOPCIProxy *p = d->opaque;
    uint32_t off;
    unsigned size;
    if (cfg_window(p, addr, len, &off, &size)) {
        uint32_t v = bar_read(p, off, size);
        memcpy(d->config + p->cfg_cap + 16, &(uint32_t){GUINT32_TO_LE(v)}, size);
    }
}

static void config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    VirtIOPCIProxy *p = d->opaque;
    uint32_t off;
    unsigned size;
    if (cfg_window(p, addr, len, &off, &size)) {
        uint32_t v = pci_get_long(d->config + p->cfg_cap + 16);
        bar_write(p, off, size == 4 ? v : v & ((1u << (8 * size)) - 1), size);
    }
    if (msix_config_written(&p->msix, addr, len)) {
        update_intx(p); /* MSI-X turned off: an ISR still set raises INTx again */
    }
}

VirtIOPCIProxy *virtio_pci_new(PCIBus *bus, const char *name, int devfn, VirtIODevice *vdev,
                               uint32_t class_code, uint32_t nvectors, GError **errp)
{
    PCIDevice *d = pci_device_new(bus, name, devfn, 0x1af4, 0x1000 + vdev->device_id - 1,
                                  class_code << 8, errp);
    if (!d) {
        return NULL;
    }
    VirtIOPCIProxy *p = g_new0(VirtIOPCIProxy, 1);
    p->pci = d;
    p->vdev = vdev;
    d->opaque = p;
    pci_set_word(d->config + PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
    pci_set_word(d->config + PCI_SUBSYSTEM_ID, vdev->device_id);
    d->config[PCI_INTERRUPT_PIN] = 1;
    pci_register_bar(d, VIRTIO_PCI_BAR, PCI_BAR_MEM64, true, VIRTIO_PCI_BAR_SIZE, &bar_ops, p);
    add_cap(d, CAP_COMMON, VIRTIO_PCI_COMMON_OFF, 0x1000, false);
    add_cap(d, CAP_ISR, VIRTIO_PCI_ISR_OFF, 0x1000, false);
    add_cap(d, CAP_DEVICE, VIRTIO_PCI_DEVICE_OFF, 0x1000, false);
    add_cap(d, CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF, 0x1000, true);
    /* the configuration access window: bar, offset, length and data are the driver's */
    p->cfg_cap = pci_add_capability(d, 0x09, 20);
    d->config[p->cfg_cap + 2] = 20;
    d->config[p->cfg_cap + 3] = CAP_PCI_CFG;
    d->wmask[p->cfg_cap + 4] = 0xff;
    memset(d->wmask + p->cfg_cap + 8, 0xff, 12);
    d->config_reading = config_reading;
    if (nvectors && !msix_init(&p->msix, d, nvectors, VIRTIO_PCI_MSIX_BAR)) {
        /* upstream's words; the device then interrupts through INTx alone */
        warn_report("unable to init msix vectors to %" PRIu32, nvectors);
    }
    p->nvectors = p->msix.nentries;
    reset_vectors(p);
    d->config_written = config_written;
    vdev->notify = notify_cb;
    vdev->notify_queue = notify_queue_cb;
    vdev->notify_opaque = p;
    return p;
}

void virtio_pci_free(VirtIOPCIProxy *proxy)
{
    g_free(proxy);
}

PCIDevice *virtio_pci_device(VirtIOPCIProxy *proxy)
{
    return proxy->pci;
}

void virtio_pci_reset(VirtIOPCIProxy *proxy)
{
    reset_vectors(proxy);
    msix_reset(&proxy->msix);
    update_intx(proxy);
}

const PCIMsix *virtio_pci_msix(VirtIOPCIProxy *proxy)
{
    return &proxy->msix;
}

/* --- state ------------------------------------------------------------------------------ */

static bool virtio_pci_state_check(const void *scratch, const void *live, int version,
                                   GError **errp)
{
    const VirtIOPCIProxy *s = scratch, *l = live;
    if (s->nvectors != l->nvectors) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%u MSI-X vectors where this device has %u (vectors=)", s->nvectors,
                    l->nvectors);
        return false;
    }
    return true;
}

/* The config space (BARs, command, INTx, MSI-X Message Control) is the PCI device's own section
 * (hw/pci). Version 2 added MSI-X: the vectors the driver chose, the table and the PBA. */
const VMStateDescription vmstate_virtio_pci = {
    .name = "virtio-pci",
    .version = 2,
    .minimum_version = 2,
    .size = sizeof(VirtIOPCIProxy),
    .check = virtio_pci_state_check,
    .fields = (const VMStateField[]){VMSTATE_U32(VirtIOPCIProxy, dfselect),
                                     VMSTATE_U32(VirtIOPCIProxy, gfselect),
                                     VMSTATE_U32_ARRAY(VirtIOPCIProxy, guest_features),
                                     VMSTATE_U16(VirtIOPCIProxy, queue_sel),
                                     VMSTATE_U32_V(VirtIOPCIProxy, nvectors, 2),
                                     VMSTATE_U16_V(VirtIOPCIProxy, config_vector, 2),
                                     VMS_ARRAY(VirtIOPCIProxy, queue_vector, uint16_t, VMS_U16, 2),
                                     VMSTATE_MSIX(VirtIOPCIProxy, msix, 2), VMSTATE_END},
};
