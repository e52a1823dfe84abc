"""The test guest's block benchmark helper (tests/guest/block-bench.c, `qc-blkbench`) seen from
the host: its answer line parsed, and the bytes it leaves in every 4 KiB block it writes."""
import struct

import guest

BLOCK = 4096
TAG_FACTOR = 0x9E3779B97F4A7C15
# The figures of one run, with their labels in bench/block's table.
FIGURES = (("seq_write_mbs", "seq write MB/s"), ("seq_read_mbs", "seq read MB/s"),
           ("rand_read_iops", "4K rand read IOPS"), ("rand_write_iops", "4K rand write IOPS"))
COUNTS = ("span_mib", "req_kib", "rand_ms", "seed", "rand_reads", "rand_writes",
          "written_bytes", "bad_blocks")


def parse_result(line):
    """'qc-blkbench dev=... key=value ...' -> {key: number, 'dev': text}. ValueError for the
    helper's 'qc-blkbench error WHY', anything else, or a line missing a field."""
    words = line.split()
    if len(words) < 2 or words[0] != "qc-blkbench" or words[1] == "error":
        raise ValueError(line.strip() or "empty answer")
    out = {}
    for w in words[1:]:
        k, sep, v = w.partition("=")
        if not sep:
            raise ValueError(f"{w!r} is not key=value in {line.strip()}")
        out[k] = v
    missing = [k for k, _ in FIGURES if k not in out] + [k for k in COUNTS if k not in out]
    if missing or "dev" not in out:
        raise ValueError(f"no {', '.join(missing or ['dev'])} in {line.strip()}")
    for k, _ in FIGURES:
        out[k] = float(out[k])
    for k in COUNTS:
        out[k] = int(out[k])
    return out


def block_bytes(seed, index):
    """The 4 KiB the helper writes at block index (a byte offset of index * 4096)."""
    tag = ((seed * TAG_FACTOR) & (2**64 - 1)) ^ index
    return struct.pack("<Q", tag) + bytes((i + seed) & 0xFF for i in range(8, BLOCK))


def run_in_guest(vm, dev, mib, kib, ms, seed, timeout):
    """Runs the helper on /dev/DEV of a GuestVM started with net="user" (/cgi-bin/blkbench);
    returns parse_result() of its answer (ValueError when it failed)."""
    status, body = guest.http_get(
        "127.0.0.1", vm.ports["http"],
        f"/cgi-bin/blkbench?dev={dev}&mib={mib}&kib={kib}&ms={ms}&seed={seed}", timeout=timeout)
    if status != 200:
        raise ValueError(f"HTTP {status}")
    lines = body.strip().splitlines()
    return parse_result(lines[-1] if lines else "")
