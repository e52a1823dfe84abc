/*
 * The opcode table and the decoder that reads it: every row is complete, lock and 64-bit
 * validity follow the rows, and instruction lengths agree with binutils' disassembler for
 * every opcode of the one-byte and 0F maps in several ModRM and prefix forms.
 */
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/i386/decode.h"
#include "target/i386/optab.h"

static void test_rows_complete(void)
{
    for (int op = 0; op < X86_OPTAB_SIZE; op++) {
        const X86OpInfo *r = &x86_optab[op];
        g_assert_nonnull(r->exec);
        g_assert_nonnull(r->name);
        /* a lock mask without a ModRM byte could never be used */
        g_assert_true(r->lock == 0 || (r->flags & X86_OPF_MODRM));
    }
}

static int decode_hex(const char *hex, int mode, X86Insn *in)
{
    uint8_t buf[16];
    int n = 0;
    char **tok = g_strsplit(hex, " ", -1);
    for (char **t = tok; *t; t++) {
        g_assert_cmpint(n, <, 16);
        buf[n++] = strtoul(*t, NULL, 16);
    }
    g_strfreev(tok);
    return x86_decode(buf, n, mode, in);
}

static void test_lock(void)
{
    static const struct {
        const char *hex;
        int bad;
    } cases[] = {
        {"f0 01 00", 0},             /* lock add [rax], eax */
        {"f0 01 c0", 1},             /* lock add eax, eax: register destination */
        {"f0 03 00", 1},             /* lock add eax, [rax]: memory is the source */
        {"f0 39 00", 1},             /* lock cmp */
        {"f0 83 00 01", 0},          /* lock add dword [rax], 1 */
        {"f0 83 38 01", 1},          /* lock cmp dword [rax], 1 */
        {"f0 ff 00", 0},             /* lock inc */
        {"f0 ff 10", 1},             /* lock call */
        {"f0 f7 18", 0},             /* lock neg */
        {"f0 f7 00 01 00 00 00", 1}, /* lock test */
        {"f0 87 00", 0},             /* lock xchg */
        {"f0 0f a3 00", 1},          /* lock bt */
        {"f0 0f ab 00", 0},          /* lock bts */
        {"f0 0f ba 28 01", 0},       /* lock bts imm */
        {"f0 0f ba 20 01", 1},       /* lock bt imm */
        {"f0 0f c7 08", 0},          /* lock cmpxchg8b */
        {"f0 0f c7 30", 1},          /* lock /6 */
        {"f0 0f c1 00", 0},          /* lock xadd */
        {"f0 90", 1},                /* lock nop */
        {"f0 8b 00", 1},             /* lock mov */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        X86Insn in;
        g_assert_cmpint(decode_hex(cases[i].hex, X86_MODE64, &in), >, 0);
        if (in.bad != cases[i].bad) {
            g_error("%s: bad=%d, expected %d", cases[i].hex, in.bad, cases[i].bad);
        }
    }
}

static void test_invalid64(void)
{
    static const char *const only32[] = {"06", "1f",
                                         "27", "60",
                                         "61", "9a 00 00 00 00 00 00",
                                         "ce", "d4 0a",
                                         "d6", "ea 00 00 00 00 00 00"};
    for (size_t i = 0; i < G_N_ELEMENTS(only32); i++) {
        X86Insn in;
        g_assert_cmpint(decode_hex(only32[i], X86_MODE64, &in), >, 0);
        g_assert_cmpint(in.bad, ==, 1);
        g_assert_cmpint(decode_hex(only32[i], X86_MODE32, &in), >, 0);
        g_assert_cmpint(in.bad, ==, 0);
    }
}

/* Candidate encodings: opcode bytes, then a ModRM form, then filler the disassembler must not
 * need to read past (immediates and displacements come out of it). */
#define SLOT 32

typedef struct Cand {
    uint8_t bytes[SLOT];
    int ours;
} Cand;

/* prefixes and escapes: rows, but never an X86Insn.op */
static bool is_prefix(int op)
{
    static const uint8_t p[] = {0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x64,
                                0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3};
    return memchr(p, op, sizeof(p)) != NULL;
}

static bool only_prefixes(const char *mnemonic)
{
    char **tok = g_strsplit_set(mnemonic, " \t", -1);
    bool only = true;
    for (char **t = tok; *t; t++) {
        if (**t && !g_str_has_prefix(*t, "rex") && strcmp(*t, "data16") && strcmp(*t, "addr32")) {
            only = false;
        }
    }
    g_strfreev(tok);
    return only;
}

/* Runs objdump over the candidates, one per SLOT bytes padded with nops, and checks that the
 * first instruction of every slot has our length. Slots binutils calls (bad) are skipped. */
static void compare_lengths(GArray *cands, int mode)
{
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("decode-XXXXXX.bin", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    for (guint i = 0; i < cands->len; i++) {
        Cand *c = &g_array_index(cands, Cand, i);
        g_assert_cmpint(write(fd, c->bytes, SLOT), ==, SLOT);
    }
    close(fd);
    const char *machine = mode == X86_MODE64 ? "i386:x86-64" : "i386";
    const char *argv[] = {"objdump", "-D", "-b", "binary", "-m", machine, "-w", path, NULL};
    g_autofree char *out = NULL;
    g_autoptr(GError) err = NULL;
    int status;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, &status, &err));
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    unlink(path);

    int compared = 0;
    /* line by line with memchr: ASan's strstr (in g_strsplit) rescans the rest of the 30 MB
     * output on every call */
    char *next = out, *stop = out + strlen(out);
    for (char *line = next; line < stop; line = next) {
        char *nl = memchr(line, '\n', stop - line);
        next = nl ? nl + 1 : stop;
        if (nl) {
            *nl = 0;
        }
        /* "      20:\t0f 01 00             \tsgdt   (%rax)" */
        char *end;
        unsigned long addr = strtoul(line, &end, 16);
        char *tab = strchr(line, '\t');
        if (!tab || end == line || *end != ':' || addr % SLOT) {
            continue;
        }
        char *mn = strchr(tab + 1, '\t');
        if (!mn || strstr(mn, "(bad)")) {
            continue;
        }
        int theirs = 0;
        for (char *p = tab + 1; p < mn; p++) {
            if (g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1])) {
                theirs++;
                p++;
            }
        }
        /* prefixes binutils shows on a line of their own, with no instruction to apply to */
        if (only_prefixes(mn + 1)) {
            continue;
        }
        Cand *c = &g_array_index(cands, Cand, addr / SLOT);
        if (c->ours != theirs) {
            GString *hex = g_string_new(NULL);
            for (int i = 0; i < 16; i++) {
                g_string_append_printf(hex, "%02x ", c->bytes[i]);
            }
            g_error("mode %d: %s: ours %d bytes, objdump %d (%s)", mode, hex->str, c->ours, theirs,
                    mn + 1);
        }
        compared++;
    }
    g_test_message("mode %d: %d of %u lengths compared", mode, compared, cands->len);
    /* most candidates are valid instructions; a broken objdump parse must not pass silently */
    g_assert_cmpint(compared, >, (int)cands->len / 2);
}

static void test_lengths_mode(int mode)
{
    static const uint8_t modrms[][6] = {
        {1, 0xc1},                /* register */
        {1, 0x03},                /* [rbx] */
        {3, 0x44, 0x24, 0x08},    /* [rsp + 8]: SIB, disp8 */
        {5, 0x84, 0x88, 0, 1, 0}, /* [rax + rcx * 4 + disp32] */
        {5, 0x05, 0x10, 0, 0, 0}, /* rip-relative or disp32 */
        {2, 0x5d, 0x10},          /* [rbp + disp8], reg /3 */
        {1, 0x30},                /* /6, [rax] */
    };
    static const uint8_t prefixes[][3] = {{0}, {1, 0x66}, {1, 0x67}, {1, 0x48}, {2, 0x66, 0x48}};
    GArray *cands = g_array_new(false, true, sizeof(Cand));
    for (int op = 0; op < 0x200; op++) {
        /* 3DNow (0F 0F), SSE4a/VMX (0F 78, 79) and the 386's test registers (0F 24, 26) raise
         * #UD here, and the decoder need not agree on their length */
        if (op == 0x10f || op == 0x178 || op == 0x179 || op == 0x124 || op == 0x126 ||
            (op < 0x100 && is_prefix(op)) || op == 0x138 || op == 0x13a) {
            continue;
        }
        /* REX prefixes are opcodes 40-4f outside 64-bit mode only */
        if (mode == X86_MODE64 && op >= 0x40 && op <= 0x4f) {
            continue;
        }
        for (size_t p = 0; p < G_N_ELEMENTS(prefixes); p++) {
            if (prefixes[p][0] && prefixes[p][prefixes[p][0]] == 0x48 && mode != X86_MODE64) {
                continue;
            }
            for (size_t m = 0; m < G_N_ELEMENTS(modrms); m++) {
                if (!(x86_optab[op].flags & X86_OPF_MODRM) && m > 0) {
                    break;
                }
                Cand c;
                memset(c.bytes, 0x90, SLOT);
                int n = 0;
                for (int i = 0; i < prefixes[p][0]; i++) {
                    c.bytes[n++] = prefixes[p][1 + i];
                }
                if (op >= 0x100) {
                    c.bytes[n++] = 0x0f;
                }
                c.bytes[n++] = op & 0xff;
                if (x86_optab[op].flags & X86_OPF_MODRM) {
                    memcpy(c.bytes + n, modrms[m] + 1, modrms[m][0]);
                    n += modrms[m][0];
                }
                /* immediates: distinct non-nop bytes, so a wrong length shows */
                for (int i = n; i < n + 8; i++) {
                    c.bytes[i] = 0x11 * (i - n + 1);
                }
                X86Insn in;
                c.ours = x86_decode(c.bytes, SLOT, mode, &in);
                g_assert_cmpint(c.ours, >, 0);
                if (!in.bad) {
                    g_array_append_val(cands, c);
                }
            }
        }
    }
    compare_lengths(cands, mode);
    g_array_free(cands, true);
}

static void test_lengths64(void)
{
    test_lengths_mode(X86_MODE64);
}

static void test_lengths32(void)
{
    test_lengths_mode(X86_MODE32);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpu/decode/rows-complete", test_rows_complete);
    g_test_add_func("/cpu/decode/lock", test_lock);
    g_test_add_func("/cpu/decode/invalid64", test_invalid64);
    g_test_add_func("/cpu/decode/lengths64", test_lengths64);
    g_test_add_func("/cpu/decode/lengths32", test_lengths32);
    return g_test_run();
}
