"""bench/block's workload kept alive: the test guest's qc-blkbench (tests/guest/block-bench.c)
run once, tiny, through /cgi-bin/blkbench on a virtio-blk raw disk of our binary. Its answer
parses, and the blocks it wrote are in the image, byte for byte, with nothing else touched."""
import pytest

import blkbench
import guest
from conftest import require_pc

IMG_MIB = 4
SPAN_MIB = 1
SEED = 5


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def test_blkbench_once(qemu_bin, built, tmp_path):
    require_pc(qemu_bin)
    img = tmp_path / "bench.raw"
    # Bytes the helper must not change past its span, and must overwrite inside it.
    before = bytes(range(256)) * (IMG_MIB * 4096)
    img.write_bytes(before)
    vm = guest.GuestVM(qemu_bin, built, append="quiet qc.quiet qc.nodisk",
                       extra_args=["-drive", f"file={img},format=raw,if=none,id=bd0",
                                   "-device", "virtio-blk-pci,drive=bd0"])
    with vm:
        vm.wait_ready()
        # Refusals first, each an error line the host's parser rejects: a name that is not a
        # device name (the CGI), a device that is not there and a span past the disk's end
        # (the helper).
        for dev, mib, why in (("..%2Fproc", 1, "bad device name"),
                              ("vdq", 1, "/dev/vdq: No such file"),
                              ("vda", IMG_MIB * 2, "smaller than the span")):
            with pytest.raises(ValueError, match=f"qc-blkbench error .*{why}"):
                blkbench.run_in_guest(vm, dev, mib, 64, 100, SEED, 60)
        r = blkbench.run_in_guest(vm, "vda", SPAN_MIB, 256, 300, SEED, 60)
    assert r["dev"] == "/dev/vda"
    assert (r["span_mib"], r["req_kib"], r["rand_ms"], r["seed"]) == (SPAN_MIB, 256, 300, SEED)
    assert r["bad_blocks"] == 0
    assert r["rand_reads"] > 0 and r["rand_writes"] > 0
    assert r["written_bytes"] == (SPAN_MIB << 20) + r["rand_writes"] * blkbench.BLOCK
    for key, _ in blkbench.FIGURES:
        assert r[key] > 0, key
    data = img.read_bytes()
    assert len(data) == IMG_MIB << 20
    span = SPAN_MIB << 20
    for i in range(span // blkbench.BLOCK):
        got = data[i * blkbench.BLOCK:(i + 1) * blkbench.BLOCK]
        assert got == blkbench.block_bytes(SEED, i), f"block {i} at {i * blkbench.BLOCK:#x}"
    assert data[span:] == before[span:]

