/*
 * Interpreter against translator (tests/unit/jit-diff.h): the input drives the generator of a
 * looped block (the registers, the data and the instructions), which runs on an interpreting
 * CPU and on a translating one, once straight through and once a block at a time, the whole
 * state compared after each block (jd_compare_blocks); any difference in registers, rip, flags,
 * CR2, exceptions, instructions retired or memory aborts with the code and the difference.
 * A run that reaches the budget is not stepped block by block (test-cpu-jit still does so).
 *
 * Input: byte 0 picks the number of instructions (1-64, its low six bits), 32-bit flat code
 * (bit 6) and with it paging (bit 7); the rest feeds the generator.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/jit-diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static JitDiff *jd;
    if (!jd) {
        jd = g_new0(JitDiff, 1);
        jd_init(jd);
    }
    if (size < 1) {
        return 0;
    }
    jd->mode32 = (data[0] & 0x40) != 0;
    jd->paging32 = jd->mode32 && (data[0] & 0x80);
    jd_generate(jd, data + 1, size - 1, 1 + data[0] % 64);
    bool ran;
    char *diff = jd_compare(jd, &ran);
    /* a run that went to the budget (code that wrote itself into an endless loop) would go
     * there block by block too, some 40 000 steps: seconds under the sanitizers, past
     * run-fuzzer's 10 s timeout on a loaded host, for a run compared only up to its budget */
    if (!diff && ran) {
        diff = jd_compare_blocks(jd, &ran);
    }
    if (diff) {
        fprintf(stderr, "interpreter and translator differ: %s\ncode:", diff);
        for (int i = 0; i < jd->len; i++) {
            fprintf(stderr, " %02x", jd->code[i]);
        }
        fprintf(stderr, "\n");
        abort();
    }
    return 0;
}
