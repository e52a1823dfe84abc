/* Scatter-gather lists (struct iovec arrays): their size, and copies to and from one buffer. */
#ifndef UTIL_IOV_H
#define UTIL_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Bytes in an iovec. */
size_t iov_size(const struct iovec *iov, int iovcnt);
/* Copies up to @len bytes of the iovec from @offset into @buf; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset, void *buf, size_t len);
/* Copies up to @len bytes of @buf into the iovec from @offset; returns bytes copied. */
size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset, const void *buf,
                    size_t len);
/* Points @out (room for @iovcnt entries) at bytes [@offset, @offset + @len) of the iovec, no
 * copy; returns how many entries it used. */
int iov_slice(const struct iovec *iov, int iovcnt, size_t offset, size_t len, struct iovec *out);

#endif
