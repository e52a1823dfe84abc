"""bench/net/jit-per-mb's arithmetic, without a guest: which numbers of an `info jit` line are
counters, and their increase per MB between two readings."""
import os

from scriptmod import load_script


def load_tool():
    """bench/net/jit-per-mb as a module (its file name has no .py)."""
    return load_script(os.path.join("bench", "net", "jit-per-mb"), "jit_per_mb")


BEFORE = [
    "TB chained jumps    1000 (first 300; again after a TLB flush: whole 5, CR3 40, invlpg 20)",
    "TB avg target size  11.1 instructions",
    "handler-called in translated code 5000 (by opcode, busiest first)",
    "  0f ba /4 grp8 reg    200",
    "  ab stos mem     150",
]
AFTER = [
    "TB chained jumps    3000 (first 700; again after a TLB flush: whole 5, CR3 440, invlpg 220)",
    "TB avg target size  11.0 instructions",
    "handler-called in translated code 9000 (by opcode, busiest first)",
    "  0f ba /4 grp8 reg    600",
    "  0f 31 rdtsc reg    80",
    "  ab stos mem     150",
]


def test_counters_per_mb():
    """Counters become their increase over MB; names with digits (CR3, grp8), opcodes (0f ba
    /4) and ratios (11.0) are not counters; an unchanged counter reads 0; a line new in the
    second reading has its count since boot per MB and says so."""
    out = load_tool().per_mb(BEFORE, AFTER, 2.0)
    assert out[0] == ("TB chained jumps    1000 (first 200; again after a TLB flush: whole 0, "
                      "CR3 200, invlpg 100)")
    assert out[1] == "TB avg target size  11.0 instructions"
    assert out[2] == "handler-called in translated code 2000 (by opcode, busiest first)"
    assert out[3] == "  0f ba /4 grp8 reg    200"
    assert out[4] == ("  0f 31 rdtsc reg    40   (not in the first reading: its count since boot, "
                      "per MB)")
    assert out[5] == "  ab stos mem     0"


def test_line_shape_ignores_counters_only():
    """Two readings' lines pair by their text without counters; an opcode is part of it."""
    tool = load_tool()
    assert tool.shape("  0f ba /4 grp8 reg    600") == "  0f ba /4 grp8 reg    #"
    assert tool.shape("  0f ba /5 grp8 reg    600") != tool.shape("  0f ba /4 grp8 reg    600")
    assert tool.shape("TLB CR3 flushes     19155 (global entries kept 50203856)") == \
        "TLB CR3 flushes     # (global entries kept #)"
