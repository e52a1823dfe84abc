/* Scatter-gather lists (include/util/iov.h). */
#include "util/iov.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

size_t iov_size(const struct iovec *iov, int iovcnt)
{
    size_t len = 0;

    for (int i = 0; i < iovcnt; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

/* Walks the iovec from offset, handing each piece with the matching part of buf to copy. */
static size_t iov_transfer(const struct iovec *iov, int iovcnt, size_t offset, uint8_t *buf,
                           size_t len, bool to_iov)
{
    size_t done = 0;

    for (int i = 0; i < iovcnt && done < len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t n = MIN(iov[i].iov_len - offset, len - done);
        uint8_t *piece = (uint8_t *)iov[i].iov_base + offset;
        if (to_iov) {
            memcpy(piece, buf + done, n);
        } else {
            memcpy(buf + done, piece, n);
        }
        done += n;
        offset = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset, void *buf, size_t len)
{
    return iov_transfer(iov, iovcnt, offset, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset, const void *buf, size_t len)
{
    return iov_transfer(iov, iovcnt, offset, (uint8_t *)buf, len, true);
}

int iov_slice(const struct iovec *iov, int iovcnt, size_t offset, size_t len, struct iovec *out)
{
    int cnt = 0;

    for (int i = 0; i < iovcnt && len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t n = MIN(iov[i].iov_len - offset, len);
        out[cnt].iov_base = (uint8_t *)iov[i].iov_base + offset;
        out[cnt].iov_len = n;
        cnt++;
        len -= n;
        offset = 0;
    }
    return cnt;
}
