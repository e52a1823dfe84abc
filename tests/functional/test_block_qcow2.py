"""qcow2 disks: images with backing chains made by Debian's qemu-img, opened through -drive and
-blockdev; errors, locks and the block QMP replies compared with Debian's QEMU; the test guest
writing through virtio-blk and IDE onto an overlay (then qemu-img check is clean, qemu-img
compare agrees with the expected bytes, the base is unchanged); snapshot=on leaving its image
byte-identical."""
import hashlib
import json
import os
import re
import subprocess

import pytest

import guest
from conftest import assert_same_failure, run
from test_block import DEBIAN_QEMU, OURS, disk_http, pattern_hash, start_holder, stop_holder

MIB = 1 << 20


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def chain(tmp_path):
    """base.qcow2 (16 MiB, byte i = i % 256, made by qemu-img convert), ov.qcow2 over it
    (compat 1.1), sub/b2.qcow2 with sub/o2.qcow2 naming it relatively, old.qcow2 (compat 0.10)
    over base, bad.qcow2 naming a missing backing file, not.qcow2 (raw bytes), big.qcow2 and
    short.qcow2 (sizes that do not add up)."""
    d = tmp_path
    raw = d / "base.raw"
    raw.write_bytes(bytes(range(256)) * (16 * 4096))
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(d / "base.qcow2"))
    qemu_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(d / "ov.qcow2"))
    qemu_img("create", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.qcow2", "-F", "qcow2",
             str(d / "old.qcow2"))
    (d / "sub").mkdir()
    qemu_img("create", "-f", "qcow2", str(d / "sub" / "b2.qcow2"), "8M")
    qemu_img("create", "-f", "qcow2", "-b", "b2.qcow2", "-F", "qcow2",
             str(d / "sub" / "o2.qcow2"))
    qemu_img("create", "-f", "qcow2", "-u", "-b", "nothere.qcow2", "-F", "qcow2",
             str(d / "bad.qcow2"), "16M")
    (d / "not.qcow2").write_bytes(b"\0" * MIB)
    # Sizes that do not match: a header claiming 1 TiB over a 16 MiB L1 table, and a file cut
    # short inside its header.
    img = bytearray((d / "base.qcow2").read_bytes())
    img[24:32] = (1 << 40).to_bytes(8, "big")
    (d / "big.qcow2").write_bytes(bytes(img))
    (d / "short.qcow2").write_bytes(bytes(img[:100]))
    return d


# Each case: arguments after BASE_ARGS ("-M none ..."), run in the chain's directory.
ERROR_CASES = [
    # a bad format
    "-drive file=not.qcow2,format=qcow2,if=none",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=not.qcow2",
    "-drive file=ov.qcow2,if=none,backing.file.filename=base.raw",
    # a size mismatch
    "-drive file=big.qcow2,format=qcow2,if=none",
    "-drive file=short.qcow2,if=none",
    # a missing file or backing file
    "-drive file=nope.qcow2,format=qcow2,if=none",
    "-drive file=bad.qcow2,format=qcow2,if=none",
    "-drive file=bad.qcow2,if=none",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=bad.qcow2",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=bad.qcow2,backing=null",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,backing=zz",
    # nested backing options
    "-drive if=none,id=parent0,driver=raw,file.driver=qcow2,file.file.filename=ov.qcow2,"
    "file.backing.driver=qcow2,file.backing.file.filename=old.qcow2,file.backing.backing=nope",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,"
    "backing.file.driver=file,backing.file.filename=base.raw",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,"
    "backing.driver=raw,backing.file.filename=base.raw",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,"
    "backing.driver=qcow2,backing.bogus=1",
    "-drive file=ov.qcow2,if=none,format=qcow2,backing.bogus=1",
    "-drive file=ov.qcow2,if=none,format=qcow2,bogus=1",
    "-drive file=ov.qcow2,if=none,format=qcow2,discard=bogus",
    "-drive file=ov.qcow2,if=none,locking=off",
    "-blockdev driver=qcow2,node-name=q,discard=on,file.driver=file,file.filename=ov.qcow2",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,bogus=1",
    # an image in use: the base is shared read-only under an overlay, not written
    "-drive file=base.qcow2,if=none,format=qcow2 -drive file=ov.qcow2,if=none,format=qcow2",
    "-drive file=ov.qcow2,if=none,format=qcow2 -drive file=base.qcow2,if=none,format=qcow2",
    "-drive file=ov.qcow2,if=none -drive file=ov.qcow2,if=none",
    # a read-only node written
    "-blockdev driver=file,node-name=f,filename=ov.qcow2,read-only=on "
    "-blockdev driver=qcow2,node-name=q,file=f",
]

# On a machine: devices that would write a read-only qcow2 node.
DEVICE_CASES = [
    "-blockdev driver=qcow2,node-name=q,read-only=on,file.driver=file,file.filename=ov.qcow2 "
    "-device ide-hd,drive=q",
    "-drive file=ov.qcow2,if=none,id=d,readonly=on -device ide-hd,drive=d",
    "-drive file=ov.qcow2,if=ide,readonly=on",
]


@pytest.mark.parametrize("case", ERROR_CASES + DEVICE_CASES)
def test_qcow2_errors_as_debian(qemu_bin, debian_qemu, chain, case, monkeypatch):
    monkeypatch.chdir(chain)
    args = case.split(" ")
    base = case in DEVICE_CASES
    if base:
        args = ["-M", "pc", "-nodefaults", "-display", "none", "-S"] + args
    assert_same_failure(run(qemu_bin, *args, base=not base),
                        run(debian_qemu, *args, base=not base))


GOOD_CASES = [
    "-drive file=ov.qcow2,format=qcow2,if=none",
    "-drive file=ov.qcow2,if=none",  # probed, without a warning (only raw warns)
    "-drive file=sub/o2.qcow2,if=none,format=qcow2,cache=none",
    "-drive file=old.qcow2,if=none,format=qcow2,l2-cache-size=1M",
    "-drive file=ov.qcow2,if=none,format=qcow2,backing.driver=qcow2",
    "-drive file=ov.qcow2,if=none,format=qcow2 -drive file=base.qcow2,if=none,readonly=on",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,backing=",
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,"
    "backing.driver=qcow2,backing.file.driver=file,backing.file.filename=sub/b2.qcow2",
    "-blockdev driver=file,node-name=f,filename=base.qcow2,read-only=on "
    "-blockdev driver=qcow2,node-name=b,file=f,read-only=on "
    "-blockdev driver=qcow2,node-name=q,file.driver=file,file.filename=ov.qcow2,backing=b",
    "-drive file=ov.qcow2,if=none,snapshot=on",
    # The runbook's secondary disk, shaped as spec 9.2 nests it (raw standing in for
    # replication): an active qcow2 over a hidden qcow2 over the drive colo-disk0.
    "-drive if=none,id=colo-disk0,file.filename=base.raw,driver=raw "
    "-drive if=none,id=parent0,driver=raw,file.driver=qcow2,file.file.filename=ov.qcow2,"
    "file.backing.driver=qcow2,file.backing.file.filename=old.qcow2,"
    "file.backing.backing=colo-disk0",
]


@pytest.mark.parametrize("case", GOOD_CASES)
def test_qcow2_good_as_debian(qemu_bin, debian_qemu, chain, case, monkeypatch):
    """Both start (a QMP quit ends them) and print the same warnings."""
    monkeypatch.chdir(chain)
    outs = []
    for binary in (qemu_bin, debian_qemu):
        p = subprocess.run([binary, "-M", "none", "-nodefaults", "-display", "none"]
                           + case.split(" ") + ["-qmp", "stdio"],
                           input='{"execute":"qmp_capabilities"}{"execute":"quit"}',
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert '"return": {}' in p.stdout
        outs.append(p.stderr.replace(binary, "qemu-system-x86_64"))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("holder", ["debian", "ours"])
def test_qcow2_locks_seen_both_ways(qemu_bin, debian_qemu, chain, holder):
    """One program runs a VM on ov.qcow2: the other may neither write the overlay nor its base
    (shared read-only below it), and is told so in the same words by both."""
    held_by = debian_qemu if holder == "debian" else qemu_bin
    other = qemu_bin if holder == "debian" else debian_qemu
    ov, base = str(chain / "ov.qcow2"), str(chain / "base.qcow2")
    # start_holder opens its image as raw; a qcow2 holder needs format=qcow2.
    p = subprocess.Popen([held_by, "-M", "pc", "-nodefaults", "-display", "none", "-S",
                          "-drive", f"file={ov},format=qcow2,if=virtio", "-qmp", "stdio"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        p.stdin.write('{"execute":"qmp_capabilities"}\n')
        p.stdin.flush()
        while '"return"' not in p.stdout.readline():
            assert p.poll() is None, p.stderr.read()
        for img in (ov, base):
            args = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
                    "-drive", f"file={img},format=qcow2,if=virtio"]
            refused = run(other, *args, base=False, timeout=20)
            assert refused.returncode == 1
            assert "Failed to get" in refused.stderr
            assert_same_failure(run(qemu_bin, *args, base=False, timeout=20),
                                run(debian_qemu, *args, base=False, timeout=20))
        # Reading the base beside it is allowed to both.
        for binary in (qemu_bin, debian_qemu):
            r = subprocess.run([binary, "-M", "none", "-nodefaults", "-display", "none",
                                "-drive", f"file={base},format=qcow2,if=none,readonly=on",
                                "-qmp", "stdio"],
                               input='{"execute":"qmp_capabilities"}{"execute":"quit"}',
                               capture_output=True, text=True, timeout=20)
            assert r.returncode == 0, r.stderr
    finally:
        p.stdin.write('{"execute":"quit"}\n')
        p.stdin.flush()
        p.wait(20)


def qmp_replies(binary, args, commands, cwd):
    """Replies to commands (events dropped), auto node names and temporary files made
    comparable."""
    lines = ['{"execute":"qmp_capabilities"}'] + [json.dumps(c) for c in commands] + \
        ['{"execute":"quit"}']
    p = subprocess.run([binary] + args + ["-qmp", "stdio"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=30, cwd=cwd)
    replies = [json.loads(line) for line in p.stdout.splitlines()
               if line.startswith("{") and '"event"' not in line and '"QMP"' not in line]
    text = json.dumps(replies[1:-1], sort_keys=True)
    text = re.sub(r"#block\d+", "#block", text)
    return json.loads(re.sub(r"vl\.[A-Za-z0-9]{6}", "vl.XXXXXX", text))


def test_qcow2_qmp_as_debian(qemu_bin, debian_qemu, chain):
    """query-block and query-named-block-nodes show qcow2 nodes, their chains (backing_file,
    backing_file_depth, backing-image, format-specific for compat 1.1 and 0.10) and a
    snapshot=on overlay as Debian's do; blockdev-add takes backing as a node, null or nested."""
    args = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
            "-drive", "file=ov.qcow2,format=qcow2,if=virtio",
            "-drive", "file=sub/o2.qcow2,if=none,id=d1,cache=writethrough",
            "-drive", "file=old.qcow2,format=qcow2,if=none,id=d2,readonly=on",
            "-drive", "file=base.raw,format=raw,if=none,id=d3,snapshot=on"]
    commands = [
        {"execute": "query-block"},
        {"execute": "query-named-block-nodes"},
        {"execute": "query-named-block-nodes", "arguments": {"flat": True}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "qcow2", "node-name": "n1", "backing": None,
            "file": {"driver": "file", "filename": "bad.qcow2"}}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "qcow2", "node-name": "n2", "read-only": True, "backing": "n1",
            "file": {"driver": "file", "filename": "sub/b2.qcow2"}}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "qcow2", "node-name": "n3",
            "file": {"driver": "file", "filename": "bad.qcow2"}}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "qcow2", "node-name": "n3", "backing": "nope",
            "file": {"driver": "file", "filename": "bad.qcow2"}}},
        {"execute": "query-named-block-nodes"},
        {"execute": "blockdev-del", "arguments": {"node-name": "n1"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "n2"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "n1"}},
    ]
    ours = qmp_replies(qemu_bin, args, commands, chain)
    theirs = qmp_replies(debian_qemu, args, commands, chain)
    assert len(ours) == len(commands)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, commands[i]
    top = ours[0]["return"][0]["inserted"]
    assert top["drv"] == "qcow2" and top["backing_file_depth"] == 1
    assert top["image"]["backing-image"]["filename"] == "base.qcow2"


# ---- the guest ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def make_ext4_chain(d):
    """An ext4 file system in base.qcow2 (qemu-img convert of a mkfs.ext4 image) under
    ov.qcow2."""
    raw = d / "fs.raw"
    subprocess.run(["truncate", "-s", "64M", str(raw)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(raw)], check=True)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(d / "fsbase.qcow2"))
    qemu_img("create", "-f", "qcow2", "-b", "fsbase.qcow2", "-F", "qcow2", str(d / "fsov.qcow2"))
    raw.unlink()


def check_clean(path):
    p = subprocess.run(["qemu-img", "check", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "No errors were found on the image." in p.stdout


def test_guest_qcow2_chain_virtio(built, chain):
    """virtio-blk: the guest's ext4 on an overlay over a qemu-img base takes a file written and
    fsynced over HTTP, and fstrim's discards (zero clusters in the overlay); a second disk with snapshot=on takes raw writes the guest reads back.
    After power-off: both images check clean, the file system is fsck-clean with the file,
    the base and the snapshot=on image are byte-identical to before."""
    make_ext4_chain(chain)
    fsbase, fsov = chain / "fsbase.qcow2", chain / "fsov.qcow2"
    snap = chain / "ov.qcow2"
    before = {p: sha(p) for p in (fsbase, snap, chain / "base.qcow2")}
    kib = 2000
    want, _ = pattern_hash("qcow2-seed", kib)
    answer = f"name f1 size {kib * 1024} sha256 {want}"
    extra = ["-drive", f"file={fsov},format=qcow2,if=virtio,discard=unmap",
             "-drive", f"file={snap},format=qcow2,if=virtio,snapshot=on"]
    with guest.GuestVM(OURS, built, interactive=True, extra_args=extra) as vm:
        assert vm.wait_ready()["disk"] == "/dev/vda"
        assert disk_http(vm, f"op=write&name=f1&kib={kib}&seed=qcow2-seed") == answer
        assert disk_http(vm, "op=read&name=f1") == answer
        # The guest discards the file system's free space (virtio-blk offers discard, the
        # drive lets discards through with discard=unmap): the overlay gets zero clusters
        # there, so the base's bytes no longer show through.
        out = vm.shell("fstrim -v /mnt/disk", timeout=120)
        assert re.search(r"[1-9][0-9]* bytes trimmed", out), out
        # The snapshot disk: the base's bytes, then the guest's own.
        out = vm.shell("dd if=/dev/vdb bs=65536 count=4 iflag=direct 2>/dev/null | md5sum")
        assert out.split()[0] == hashlib.md5(bytes(range(256)) * 1024).hexdigest()
        vm.shell("yes snapshot-on | head -c 262144 | dd of=/dev/vdb bs=65536 seek=8 "
                 "oflag=direct conv=fsync 2>/dev/null")
        out = vm.shell("dd if=/dev/vdb bs=65536 skip=8 count=4 iflag=direct 2>/dev/null | md5sum")
        assert out.split()[0] == hashlib.md5((b"snapshot-on\n" * 21846)[:262144]).hexdigest()
        vm.send("umount /mnt/disk; poweroff -f")
        assert vm.wait_exit(60) == 0
    for p, h in before.items():
        assert sha(p) == h, p
    check_clean(fsov)
    extents = json.loads(qemu_img("map", "--output=json", str(fsov)).stdout)
    assert any(e["depth"] == 0 and e["zero"] and not e["data"] for e in extents)
    flat = chain / "flat.raw"
    qemu_img("convert", "-O", "raw", str(fsov), str(flat))
    fsck = subprocess.run(["e2fsck", "-fn", str(flat)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = subprocess.run(["debugfs", "-R", "cat /f1", str(flat)], capture_output=True)
    assert hashlib.sha256(got.stdout).hexdigest() == want


def test_guest_qcow2_chain_ide(built, chain):
    """IDE (PIO): the guest's ext4 on an overlay (the primary master) takes a file written and
    fsynced over HTTP, and the raw device of a second overlay (the slave) takes a write the
    guest reads back. After power-off both check clean, the file is there in a clean file
    system, qemu-img compare finds the base's bytes with the guest's write laid over them, and
    the bases are unchanged."""
    make_ext4_chain(chain)
    fsbase, fsov = chain / "fsbase.qcow2", chain / "fsov.qcow2"
    ov, base = chain / "ov.qcow2", chain / "base.qcow2"
    before = {p: sha(p) for p in (fsbase, base)}
    kib = 200
    want_file, _ = pattern_hash("ide-seed", kib)
    answer = f"name f2 size {kib * 1024} sha256 {want_file}"
    size, seek = 2 * 65536, 24  # 128 KiB at 1.5 MiB: across a cluster of the base, unaligned
    extra = ["-drive", f"file={fsov},format=qcow2,if=ide,index=0",
             "-drive", f"file={ov},format=qcow2,if=ide,index=1"]
    # qc.disk: /init waits for it (ata_piix may still be probing the second drive). By SCSI
    # address: sd names the two disks in the order their parallel probes run, and under load
    # the slave is sda now and then.
    with guest.GuestVM(OURS, built, interactive=True, append="qc.disk=scsi:0:0:0:0",
                       extra_args=extra) as vm:
        master = vm.wait_ready()["disk"]
        # A line of its own: a kernel message may share the console with the shell's output.
        slave = "/dev/" + re.search(r"(?m)^(sd[a-z])$",
                                    vm.shell("ls /sys/bus/scsi/devices/0:0:1:0/block"))[1]
        assert {master, slave} == {"/dev/sda", "/dev/sdb"}, vm.console[-3000:]
        assert disk_http(vm, f"op=write&name=f2&kib={kib}&seed=ide-seed") == answer
        assert disk_http(vm, "op=read&name=f2") == answer
        vm.shell(f"yes qcow2-ide | head -c {size} | dd of={slave} bs=65536 seek={seek} "
                 "oflag=direct conv=fsync 2>/dev/null", timeout=180)
        out = vm.shell(f"dd if={slave} bs=65536 skip={seek} count=2 iflag=direct 2>/dev/null"
                       " | md5sum", timeout=180)
        want = (b"qcow2-ide\n" * (size // 10 + 1))[:size]
        assert out.split()[0] == hashlib.md5(want).hexdigest()
        vm.send("umount /mnt/disk; poweroff -f")
        assert vm.wait_exit(60) == 0
    for p, h in before.items():
        assert sha(p) == h, p
    check_clean(ov)
    check_clean(fsov)
    flat = chain / "flat.raw"
    qemu_img("convert", "-O", "raw", str(fsov), str(flat))
    fsck = subprocess.run(["e2fsck", "-fn", str(flat)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = subprocess.run(["debugfs", "-R", "cat /f2", str(flat)], capture_output=True)
    assert hashlib.sha256(got.stdout).hexdigest() == want_file
    expected = bytearray(bytes(range(256)) * (16 * 4096))
    expected[seek * 65536:seek * 65536 + size] = want
    exp = chain / "expected.raw"
    exp.write_bytes(bytes(expected))
    cmp = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(ov), str(exp)],
                         capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr


def test_qcow2_nbd_writes_as_debian(qemu_bin, debian_qemu, chain):
    """The same writes, zeroes and discards (qemu-io over an NBD export of a cache=none,
    discard=unmap qcow2 drive) through Debian's QEMU and ours: both overlays check clean, read
    the same as each other and as the expected bytes, and the base is unchanged."""
    from lib.qmp import QemuProcess
    base_hash = sha(chain / "base.qcow2")
    ops = ["-c", "write -P 0x5a 4096 65536", "-c", "write -z 1048576 131072",
           "-c", "discard 2097152 65536", "-c", "write -P 0xc3 100 304", "-c", "flush",
           "-c", "read -P 0x5a 4400 61240"]
    images = {}
    for label, binary in (("ours", qemu_bin), ("debian", debian_qemu)):
        img = chain / f"{label}.qcow2"
        qemu_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(img))
        sock = str(chain / f"{label}.sock")
        vm = QemuProcess(binary, ["-M", "none", "-nodefaults", "-display", "none", "-drive",
                                  f"file={img},format=qcow2,if=none,id=d0,cache=none,"
                                  "discard=unmap"], timeout=10)
        try:
            assert vm.qmp.cmd("nbd-server-start",
                              {"addr": {"type": "unix", "data": {"path": sock}}}) == {"return": {}}
            assert vm.qmp.cmd("nbd-server-add", {"device": "d0", "writable": True}) == {"return": {}}
            r = subprocess.run(["qemu-io", "-f", "raw", *ops, f"nbd+unix:///d0?socket={sock}"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and "Pattern verification failed" not in r.stdout, r.stdout
        finally:
            vm.kill()
        check_clean(img)
        images[label] = img
    cmp = subprocess.run(["qemu-img", "compare", str(images["ours"]), str(images["debian"])],
                         capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout
    expected = bytearray(bytes(range(256)) * (16 * 4096))
    expected[4096:4096 + 65536] = b"\x5a" * 65536
    expected[100:404] = b"\xc3" * 304
    expected[1048576:1048576 + 131072] = bytes(131072)
    expected[2097152:2097152 + 65536] = bytes(65536)
    exp = chain / "expected.raw"
    exp.write_bytes(bytes(expected))
    cmp = subprocess.run(["qemu-img", "compare", "-F", "raw", str(images["ours"]), str(exp)],
                         capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout
    assert sha(chain / "base.qcow2") == base_hash
