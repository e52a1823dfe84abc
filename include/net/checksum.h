/*
 * The Internet checksum (RFC 1071) over byte ranges, in network order: the sum of a range is
 * the ones' complement sum of its big-endian 16-bit words (a trailing odd byte is the high half
 * of a last word), kept unfolded in 32 bits so that ranges of even length and single words
 * (pseudo-header fields) can be added together before the final fold.
 */
#ifndef NET_CHECKSUM_H
#define NET_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* @sum plus the words of @len bytes at @p; result below 2^17, safe to add a few more words. */
uint32_t net_checksum_add(uint32_t sum, const uint8_t *p, size_t len);

/* The checksum field value for @sum: folded to 16 bits and complemented. */
static inline uint16_t net_checksum_finish(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

#endif
