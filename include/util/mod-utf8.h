/*
 * Modified UTF-8, the encoding of QEMU's JSON strings: UTF-8 in which U+0000 is the two bytes
 * C0 80, so that a string holding the character NUL stays a C string. QMP input may contain
 * "\u0000"; it comes back out as "\u0000".
 *
 * A code point is valid in U+0000..U+10FFFF when it is neither a surrogate (U+D800..U+DFFF)
 * nor one of Unicode's 66 noncharacters (U+FDD0..U+FDEF and the last two of every plane).
 * QEMU refuses the others in JSON input, escaped or not.
 */
#ifndef UTIL_MOD_UTF8_H
#define UTIL_MOD_UTF8_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool mod_utf8_valid_codepoint(int32_t cp);

/*
 * Decodes the sequence that starts at @s (at most @n bytes). Returns its code point, or -1 if
 * it is malformed, truncated, overlong (except C0 80) or not a valid code point. *@end is set
 * past the bytes that belong to the sequence (at least one byte unless @n is 0 or *@s is NUL).
 */
int32_t mod_utf8_decode(const char *s, size_t n, const char **end);

/* Appends a valid code point. */
void mod_utf8_append(GString *out, int32_t cp);

#endif
