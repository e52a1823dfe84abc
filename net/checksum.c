/* The Internet checksum (include/net/checksum.h). */
#include "net/checksum.h"

#include <string.h>

uint32_t net_checksum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    /*
     * Ones' complement addition commutes with byte swapping: sum native 32-bit words into 64
     * bits (no carry is lost for any frame size), fold, and swap once at the end if the host
     * is little-endian. Frames are checksummed once per packet on the device path.
     */
    uint64_t acc = 0;
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, last, 2);
        acc += w;
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    uint16_t folded = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    folded = (uint16_t)((folded >> 8) | (folded << 8));
#endif
    sum += folded;
    return (sum & 0xffff) + (sum >> 16);
}
