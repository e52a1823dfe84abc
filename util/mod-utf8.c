/* Modified UTF-8 (include/util/mod-utf8.h). */
#include "util/mod-utf8.h"

bool mod_utf8_valid_codepoint(int32_t cp)
{
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return false;
    }
    return !(cp >= 0xFDD0 && cp <= 0xFDEF) && (cp & 0xFFFE) != 0xFFFE;
}

int32_t mod_utf8_decode(const char *s, size_t n, const char **end)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0 || p[0] == 0) {
        *end = s;
        return -1;
    }
    unsigned char lead = p[0];
    if (lead < 0x80) {
        *end = s + 1;
        return lead;
    }
    /* The number of leading one bits is the length; 10xxxxxx, FE and FF start nothing. */
    size_t len = 0;
    while (len < 8 && (lead & (0x80 >> len))) {
        len++;
    }
    if (len < 2 || len > 6) {
        *end = s + 1;
        return -1;
    }
    static const uint32_t shortest[7] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    uint32_t cp = lead & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if (i >= n || (p[i] & 0xC0) != 0x80) {
            *end = s + i;
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    *end = s + len;
    if (len == 2 && cp == 0) {
        return 0; /* C0 80 */
    }
    if (cp < shortest[len] || cp > 0x10FFFF || !mod_utf8_valid_codepoint((int32_t)cp)) {
        return -1;
    }
    return (int32_t)cp;
}

void mod_utf8_append(GString *out, int32_t cp)
{
    if (cp == 0) {
        g_string_append_len(out, "\xC0\x80", 2);
    } else {
        g_string_append_unichar(out, (gunichar)cp);
    }
}
