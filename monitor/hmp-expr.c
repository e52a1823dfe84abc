/*
 * HMP integer arguments: the arithmetic and size forms QEMU's monitor accepts (checked against
 * Debian's QEMU 7.2; see include/monitor/hmp.h for the grammar).
 */
#include "monitor/hmp.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    GError **errp;
    gboolean failed;
} ExprParser;

static void expr_fail(ExprParser *e, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void expr_fail(ExprParser *e, const char *fmt, ...)
{
    if (e->failed) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(e->errp, "%s", msg);
    e->failed = TRUE;
}

static void skip_blanks(ExprParser *e)
{
    while (*e->p == ' ' || *e->p == '\t') {
        e->p++;
    }
}

static uint64_t expr_sum(ExprParser *e);

/* Unsigned 64-bit arithmetic throughout, as upstream computes (so -1 is all ones). */
static uint64_t expr_unary(ExprParser *e)
{
    uint64_t n = 0;
    char c = *e->p;

    switch (c) {
    case '+':
        e->p++;
        return expr_unary(e);
    case '-':
        e->p++;
        return -expr_unary(e);
    case '~':
        e->p++;
        return ~expr_unary(e);
    case '(':
        e->p++;
        n = expr_sum(e);
        if (e->failed) {
            return 0;
        }
        if (*e->p != ')') {
            expr_fail(e, "')' expected");
            return 0;
        }
        e->p++;
        break;
    case '\'':
        e->p++;
        if (!*e->p) {
            expr_fail(e, "character constant expected");
            return 0;
        }
        n = (unsigned char)*e->p++;
        if (*e->p != '\'') {
            expr_fail(e, "missing terminating ' character");
            return 0;
        }
        e->p++;
        break;
    case '$':
        /* CPU registers: there is no CPU state to read them from. */
        expr_fail(e, "unknown register");
        return 0;
    case '\0':
        expr_fail(e, "unexpected end of expression");
        return 0;
    default: {
        char *end;
        errno = 0;
        n = strtoull(e->p, &end, 0);
        if (errno == ERANGE) {
            expr_fail(e, "number too large");
            return 0;
        }
        if (end == e->p) {
            expr_fail(e, "invalid char '%c' in expression", c);
            return 0;
        }
        e->p = end;
        break;
    }
    }
    skip_blanks(e);
    return n;
}

static uint64_t expr_logic(ExprParser *e)
{
    uint64_t v = expr_unary(e);
    while (!e->failed && (*e->p == '&' || *e->p == '|' || *e->p == '^')) {
        char op = *e->p++;
        uint64_t w = expr_unary(e);
        v = op == '&' ? v & w : op == '|' ? v | w : v ^ w;
    }
    return v;
}

static uint64_t expr_prod(ExprParser *e)
{
    uint64_t v = expr_logic(e);
    while (!e->failed && (*e->p == '*' || *e->p == '/' || *e->p == '%')) {
        char op = *e->p++;
        uint64_t w = expr_logic(e);
        if (e->failed) {
            break;
        }
        if (op == '*') {
            v *= w;
        } else if (w == 0) {
            expr_fail(e, "division by zero");
        } else if ((int64_t)w == -1) {
            /* Not through the division: INT64_MIN / -1 traps. */
            v = op == '/' ? -v : 0;
        } else {
            /* Signed, as upstream divides its int64_t values. */
            v = op == '/' ? (uint64_t)((int64_t)v / (int64_t)w)
                          : (uint64_t)((int64_t)v % (int64_t)w);
        }
    }
    return v;
}

static uint64_t expr_sum(ExprParser *e)
{
    uint64_t v = expr_prod(e);
    while (!e->failed && (*e->p == '+' || *e->p == '-')) {
        char op = *e->p++;
        uint64_t w = expr_prod(e);
        v = op == '+' ? v + w : v - w;
    }
    return v;
}

gboolean hmp_parse_expr(const char **pp, int64_t *val, GError **errp)
{
    ExprParser e = {.p = *pp, .errp = errp};
    skip_blanks(&e);
    uint64_t v = expr_sum(&e);
    if (e.failed) {
        return FALSE;
    }
    *val = (int64_t)v;
    *pp = e.p;
    return TRUE;
}

static int size_shift(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'B':
        return 0;
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    case 'T':
        return 40;
    case 'P':
        return 50;
    case 'E':
        return 60;
    default:
        return -1;
    }
}

gboolean hmp_parse_size(const char **pp, int64_t *val, GError **errp)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    const char *start = p;
    uint64_t whole = 0;
    double fraction = 0;
    int shift = -1;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && g_ascii_isxdigit(p[2])) {
        /* Hexadecimal: no fraction ("0x1B" is hex digits, not a byte suffix). */
        char *end;
        errno = 0;
        whole = strtoull(p, &end, 16);
        if (errno || *end == '.') {
            goto bad;
        }
        p = end;
        shift = size_shift(*p);
        if (shift >= 0) {
            p++;
        }
    } else {
        if (!g_ascii_isdigit(*p)) {
            goto bad;
        }
        char *end;
        errno = 0;
        whole = strtoull(p, &end, 10);
        if (errno) {
            goto bad;
        }
        p = end;
        if (*p == '.') {
            const char *frac = p;
            p++;
            while (g_ascii_isdigit(*p)) {
                p++;
            }
            /* "1." is 1, as strtod reads it. */
            g_autofree char *text = g_strconcat("0", frac, NULL);
            text[p - frac + 1] = '\0';
            fraction = g_ascii_strtod(text, NULL);
        }
        shift = size_shift(*p);
        if (shift >= 0) {
            p++;
        }
    }
    if (p == start) {
        goto bad;
    }
    /* No suffix: mebibytes. A fraction of a byte means nothing. */
    if (shift < 0) {
        shift = 20;
    }
    if (shift == 0 && fraction != 0) {
        goto bad;
    }
    if (whole > (uint64_t)INT64_MAX >> shift) {
        goto bad;
    }
    uint64_t bytes = (whole << shift) + (uint64_t)(fraction * (double)(1ULL << shift));
    if (bytes > INT64_MAX) {
        goto bad;
    }
    *val = (int64_t)bytes;
    *pp = p;
    return TRUE;
bad:
    error_setg(errp, "invalid size");
    return FALSE;
}
