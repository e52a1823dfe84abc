/*
 * What a guest's virtio driver leaves behind after probing a device, done by a unit test in
 * its place: features accepted, one split queue placed in guest RAM and enabled, DRIVER_OK.
 */
#ifndef TESTS_VIRTIO_DRIVER_H
#define TESTS_VIRTIO_DRIVER_H

#include "hw/virtio/virtio.h"

#include <glib.h>

/* Queue q of vdev: size entries, its descriptor table at desc, avail and used rings after it
 * at avail and used (guest-physical). */
static inline void virtio_driver_ready(VirtIODevice *vdev, uint64_t features, int q, uint16_t size,
                                       uint64_t desc, uint64_t avail, uint64_t used)
{
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    g_assert_true(virtio_set_guest_features(vdev, features));
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK);
    VirtQueue *vq = &vdev->vq[q];
    vq->size = size;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->enabled = true;
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

#endif
