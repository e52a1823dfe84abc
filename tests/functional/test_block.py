"""Disks: -drive and -blockdev errors in Debian's words, image locks that Debian's QEMU and ours
see both ways, and the test guest reading and writing a raw image through virtio-blk (the raw
device, and an ext4 file system made on the host that survives a reboot and a power-off and is
fsck-clean afterwards)."""
import hashlib
import os
import subprocess
import time

import pytest

import guest
from conftest import assert_same_failure, run
from procs import BASE_ARGS

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
IMG_MIB = 16


@pytest.fixture
def img(tmp_path):
    """A 16 MiB raw image whose byte i is i % 256, and an empty directory beside it."""
    path = tmp_path / "a.raw"
    path.write_bytes(bytes(range(256)) * (IMG_MIB * 4096))
    return str(path)


# Each case: arguments after BASE_ARGS ("-M none ..."); IMG is replaced by the image's path.
ERROR_CASES = [
    "-drive file=NOPE,format=raw,if=none",
    "-drive file=IMG,format=bogus,if=none",
    "-drive file=IMG,if=none,cache=bogus",
    "-drive file=IMG,if=bogus",
    "-drive file=IMG,format=raw,if=none,bogus=1",
    "-drive file=IMG,format=raw,if=none,file.bogus=1",
    "-drive file=IMG,format=raw,if=none,id=d0 -drive file=IMG,format=raw,if=none,id=d0",
    "-drive file=IMG,format=raw,if=none,id=1x",
    "-drive file=IMG,if=none,driver=raw,format=raw",
    "-drive format=raw,if=none",
    "-drive file=IMG,format=raw,if=none,node-name=n -drive file=IMG,format=raw,if=none,id=n",
    "-drive file=IMG,format=raw,if=none,readonly=x",
    "-drive file=IMG,format=raw,if=none,snapshot=x",
    "-drive file=IMG,format=raw,if=none,aio=native",
    "-drive file=IMG,format=raw,if=none,locking=off",
    "-drive file=IMG,if=none,drop-cache=off",
    "-drive file=NOPE,if=none",
    "-drive if=virtio",
    "-blockdev driver=file,node-name=f0",
    "-blockdev driver=file,filename=IMG",
    "-blockdev driver=bogus,node-name=x",
    "-blockdev driver=raw,node-name=r",
    "-blockdev driver=raw,node-name=r,file=nothere",
    "-blockdev driver=raw,node-name=r,file.filename=IMG",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,bogus=1",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,file.bogus=1",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=NOPE",
    "-blockdev driver=file,node-name=f,filename=IMG -blockdev driver=raw,node-name=f,file=f",
    "-blockdev driver=file,node-name=1f,filename=IMG",
    "-blockdev driver=file,node-name=f,filename=IMG,read-only=maybe",
    "-blockdev driver=file,node-name=f,filename=DIR",
    # 'file' takes regular files; -drive probes a device node's driver (host_device upstream).
    "-blockdev driver=file,node-name=f,filename=/dev/null",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=/dev/null",
    "-drive file=/dev/null,format=raw,if=none,file.driver=file",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,offset=4096,size=100",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,offset=99999999",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,offset=4096,"
    "size=16777216",
    "-blockdev driver=raw,node-name=r,file.driver=file,file.filename=IMG,offset=x",
    # The runbook's secondary disk over an image that is not qcow2 (test_replication.py has
    # the replication driver's own errors).
    "-drive if=none,id=parent0,driver=replication,mode=secondary,top-id=colo-disk0,"
    "file.driver=qcow2,file.file.filename=IMG",
]


def expand(case, img):
    d = os.path.dirname(img)
    return [a.replace("IMG", img).replace("NOPE", os.path.join(d, "nope.raw"))
             .replace("DIR", d) for a in case.split(" ")]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_cmdline_errors_as_debian(qemu_bin, debian_qemu, img, case):
    args = expand(case, img)
    assert_same_failure(run(qemu_bin, *args), run(debian_qemu, *args))


def test_runbook_primary_drive_parses(qemu_bin, debian_qemu, img):
    """Spec 9.2's primary -drive: quorum over a qcow2 child, refused as Debian refuses it when the
    image is not qcow2; with a raw child it starts, an IDE disk of the pc (test_nbd_quorum.py
    drives the quorum itself)."""
    arg = ("if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,"
           f"children.0.file.filename={img},children.0.driver=%s")
    args = ["-drive", arg % "qcow2"]
    assert_same_failure(run(qemu_bin, *args), run(debian_qemu, *args))
    p = subprocess.run([qemu_bin, "-M", "pc", "-nodefaults", "-display", "none", "-S",
                        "-drive", arg % "raw", "-qmp", "stdio"],
                       input='{"execute":"qmp_capabilities"}{"execute":"query-block"}'
                             '{"execute":"quit"}',
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert '"drv": "quorum"' in p.stdout and '"device": "colo-disk0"' in p.stdout


def test_good_drives_start(qemu_bin, img, tmp_path):
    """Drives and nodes that open start the program (checked by a QMP quit)."""
    cases = [
        ["-drive", f"file={img},format=raw,if=none,id=d0,cache=none"],
        ["-drive", f"file={img},format=raw,if=none,readonly=on,snapshot=on"],
        ["-drive", f"file={img},if=none"],  # probed: raw, with upstream's warning
        ["-blockdev", f"driver=file,node-name=f0,filename={img}",
         "-blockdev", "driver=raw,node-name=r0,file=f0,offset=4096,size=8192"],
        ["-blockdev", '{"driver": "raw", "node-name": "r0", "file": {"driver": "file", '
                      f'"filename": "{img}", "locking": "off"}}}}'],
    ]
    for args in cases:
        p = subprocess.run([qemu_bin] + BASE_ARGS + args + ["-qmp", "stdio"],
                           input='{"execute":"qmp_capabilities"}{"execute":"quit"}',
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, (args, p.stderr)
        assert '"return": {}' in p.stdout
        if "if=none" in args[1] and "format" not in args[1]:
            assert "probing guessed raw" in p.stderr


def start_holder(binary, img, readonly=False):
    """A -M pc process (paused) that has img as a virtio disk, hence its write lock."""
    ro = ",readonly=on" if readonly else ""
    p = subprocess.Popen([binary, "-M", "pc", "-nodefaults", "-display", "none", "-S",
                          "-drive", f"file={img},format=raw,if=virtio{ro}", "-qmp", "stdio"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdin.write('{"execute":"qmp_capabilities"}\n')
    p.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if '"return"' in line:
            return p
        if not line:
            break
    p.kill()
    raise RuntimeError(f"{binary} did not start: {p.stderr.read()}")


def stop_holder(p):
    p.stdin.write('{"execute":"quit"}\n')
    p.stdin.flush()
    p.wait(20)


@pytest.mark.parametrize("holder", ["debian", "ours"])
@pytest.mark.parametrize("readonly", [False, True])
def test_image_locks_seen_both_ways(qemu_bin, debian_qemu, img, holder, readonly):
    """The OFD lock bytes are upstream's: whichever program holds the image, the other is
    refused with the same words (a writer: "write" lock; a reader that will not share write:
    shared "write" lock)."""
    held_by = debian_qemu if holder == "debian" else qemu_bin
    other = qemu_bin if holder == "debian" else debian_qemu
    h = start_holder(held_by, img)
    try:
        ro = ",readonly=on" if readonly else ""
        args = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
                "-drive", f"file={img},format=raw,if=virtio{ro}"]
        p_other = subprocess.run([other] + args, capture_output=True, text=True, timeout=20,
                                 stdin=subprocess.DEVNULL)
        p_ours = subprocess.run([qemu_bin] + args, capture_output=True, text=True, timeout=20,
                                stdin=subprocess.DEVNULL)
        p_theirs = subprocess.run([debian_qemu] + args, capture_output=True, text=True,
                                  timeout=20, stdin=subprocess.DEVNULL)
        assert p_other.returncode == 1
        word = 'shared "write"' if readonly else '"write"'
        assert f"Failed to get {word} lock" in p_other.stderr
        assert f"Is another process using the image [{img}]?" in p_other.stderr
        assert_same_failure(p_ours, p_theirs)
        # if=none takes no permission worth refusing: both open it beside the holder.
        for binary in (qemu_bin, debian_qemu):
            p = subprocess.run([binary] + BASE_ARGS + ["-drive", f"file={img},format=raw,if=none",
                                                       "-qmp", "stdio"],
                               input='{"execute":"qmp_capabilities"}{"execute":"quit"}',
                               capture_output=True, text=True, timeout=20)
            assert p.returncode == 0, p.stderr
    finally:
        stop_holder(h)
    # Released at exit: ours takes it now.
    h = start_holder(qemu_bin, img)
    stop_holder(h)


def test_device_errors_as_debian(qemu_bin, debian_qemu, img):
    base = ["-M", "pc", "-nodefaults", "-display", "none", "-S"]
    cases = [
        ["-device", "virtio-blk-pci,drive=nope"],
        ["-device", "virtio-blk-pci"],
        ["-drive", f"file={img},format=raw,if=none,id=d", "-device", "virtio-blk-pci,drive=d",
         "-device", "virtio-blk-pci,drive=d"],
        ["-drive", "if=none,id=e", "-device", "virtio-blk-pci,drive=e"],
        ["-device", "ide-hd"],
        ["-device", "ide-hd,drive=nope"],
        ["-drive", f"file={img},format=raw,if=none,id=d", "-device", "ide-hd,drive=d,unit=2"],
        ["-drive", f"file={img},format=raw,if=none,id=d", "-device", "ide-hd,drive=d,bus=ide.7"],
        ["-drive", f"file={img},format=raw,if=none,id=d", "-drive", "if=none,id=e",
         "-device", "ide-hd,drive=d,unit=0", "-device", "ide-hd,drive=e,unit=0"],
        ["-drive", f"file={img},format=raw,if=ide", "-drive", f"file={img},format=raw,if=ide"],
        # Placement on the two channels: index=, bus=/unit= and their conflicts.
        ["-drive", f"file={img},format=raw,if=ide,index=2,bus=1"],
        ["-drive", f"file={img},format=raw,if=ide,index=4"],
        ["-drive", f"file={img},format=raw,if=ide,bus=1,unit=2"],
        ["-drive", f"file={img},format=raw,if=ide,index=x"],
        ["-drive", f"file={img},format=raw,if=ide,index=3,file.locking=off",
         "-drive", f"file={img},format=raw,if=ide,bus=1,unit=1,file.locking=off"],
    ]
    for args in cases:
        assert_same_failure(run(qemu_bin, *base, *args, base=False),
                            run(debian_qemu, *base, *args, base=False))
    # Without a machine there is no bus for either.
    for dev in ("virtio-blk-pci,drive=x", "ide-hd,drive=x"):
        assert_same_failure(run(qemu_bin, "-device", dev), run(debian_qemu, "-device", dev))


# ---- the guest ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def pattern_hash(seed, kib):
    """What /cgi-bin/disk writes: the line "seed" repeated, cut at kib KiB."""
    line = f"{seed}\n".encode()
    data = (line * (kib * 1024 // len(line) + 1))[:kib * 1024]
    return hashlib.sha256(data).hexdigest(), data


def disk_http(vm, query):
    status, body = guest.http_get("127.0.0.1", vm.ports["http"], f"/cgi-bin/disk?{query}",
                                  timeout=180)
    assert status == 200
    return body.strip()


# The guest's disk per interface: its device, and how many 64 KiB blocks to move.
IFACES = {"virtio": ("/dev/vda", 16), "ide": ("/dev/sda", 16)}


# /sys/block/vda/queue under Debian's QEMU 7.2 (the same run checks them there too).
QUEUE_LIMITS = {"max_hw_sectors_kb": "2147483647", "max_sectors_kb": "1280",
                "max_segments": "254", "max_segment_size": "4294967295",
                "logical_block_size": "512", "physical_block_size": "512",
                "minimum_io_size": "512", "optimal_io_size": "0",
                "max_discard_segments": "1", "discard_granularity": "512",
                "discard_max_hw_bytes": "2147483136", "write_zeroes_max_bytes": "2147483136"}


@pytest.mark.parametrize("iface", ["virtio", "ide"])
@pytest.mark.parametrize("binary", ["debian", "ours"])
def test_guest_raw_device(built, img, binary, iface):
    """The guest reads the host's bytes from its disk and its writes land in the image: under
    Debian's QEMU (the test's own check) and ours, the same commands and the same answers."""
    qemu = DEBIAN_QEMU if binary == "debian" else OURS
    dev, blocks = IFACES[iface]
    size = blocks * 65536
    with guest.GuestVM(qemu, built, append="qc.nodisk", net=None, interactive=True,
                       extra_args=["-drive", f"file={img},format=raw,if={iface},id=d0"]) as vm:
        vm.wait_ready()
        name = dev.rsplit("/", 1)[1]
        out = vm.shell(f"cat /sys/block/{name}/size; dd if={dev} bs=65536 count={blocks}"
                       " 2>/dev/null | md5sum", timeout=120)
        sectors, md5 = out.split()[:2]
        assert int(sectors) == IMG_MIB * 2048
        assert md5 == hashlib.md5((bytes(range(256)) * (size // 256))).hexdigest()
        if iface == "virtio":
            # What the config space makes of the guest's request queue: 7.2's seg_max (queue
            # size - 2), no size_max, 512-byte blocks, one discard/write-zeroes segment of up to
            # 4 Mi-1 sectors. A smaller limit would split the guest's 1 MiB requests.
            out = vm.shell(f"cd /sys/block/{name}/queue && cat {' '.join(QUEUE_LIMITS)}",
                           timeout=30)
            assert dict(zip(QUEUE_LIMITS, out.split())) == QUEUE_LIMITS, out
        if iface == "ide":
            # ata_piix on the PIIX3 moves data by bus-master DMA (MWDMA2, as on Debian's).
            out = vm.shell("cat /sys/class/ata_device/dev1.0/xfer_mode; "
                           "dmesg | grep -c 'falling back to PIO'", timeout=30)
            assert out.split() == ["XFER_MW_DMA_2", "0"], out
        # Write at 2 MiB with O_DIRECT from the guest (no page cache on its side).
        vm.shell(f"yes qemu-colo-block | head -c {size} | "
                 f"dd of={dev} bs=65536 seek=32 oflag=direct conv=fsync 2>/dev/null",
                 timeout=120)
        out = vm.shell(f"dd if={dev} bs=65536 skip=32 count={blocks} iflag=direct 2>/dev/null"
                       " | md5sum", timeout=120)
        want = (b"qemu-colo-block\n" * (size // 16 + 1))[:size]
        assert out.split()[0] == hashlib.md5(want).hexdigest()
    with open(img, "rb") as f:
        data = f.read()
    assert data[2 << 20:(2 << 20) + size] == want
    # Everything else is untouched.
    assert data[:2 << 20] == (bytes(range(256)) * 8192)
    rest = (2 << 20) + size
    assert data[rest:] == (bytes(range(256)) * (IMG_MIB * 4096))[rest:]


@pytest.mark.parametrize("binary", ["debian", "ours"])
def test_guest_ide_secondary_channel(built, tmp_path, binary):
    """Two disks on the secondary channel (ports 0x170/0x376, IRQ 15), one by -drive index=2,
    one by -device ide-hd,bus=ide.1,unit=1: the guest finds both behind ata2 in DMA mode, reads
    each one's bytes and its write to the second lands in that image, as under Debian's."""
    qemu = DEBIAN_QEMU if binary == "debian" else OURS
    a, b = str(tmp_path / "a.raw"), str(tmp_path / "b.raw")
    for path, byte in ((a, b"A"), (b, b"B")):
        with open(path, "wb") as f:
            f.write(byte * (4 << 20))
    args = ["-drive", f"file={a},format=raw,if=ide,index=2",
            "-drive", f"file={b},format=raw,if=none,id=b",
            "-device", "ide-hd,drive=b,bus=ide.1,unit=1"]
    with guest.GuestVM(qemu, built, append="qc.nodisk", net=None, interactive=True,
                       extra_args=args) as vm:
        vm.wait_ready()
        # The kernel line written in the middle stands for one logged meanwhile (a clocksource
        # warning under load once split this output): shell() leaves it out.
        out = vm.shell("for d in sda sdb; do readlink /sys/block/$d | grep -o 'ata[0-9]*/host"
                       "[0-9]*/target[0-9:]*'; dd if=/dev/$d bs=65536 count=1 2>/dev/null"
                       " | md5sum; echo '<4>qc: a kernel line' > /dev/kmsg; done;"
                       " cat /sys/class/ata_device/dev2.0/xfer_mode"
                       " /sys/class/ata_device/dev2.1/xfer_mode", timeout=60)
        words = out.split()
        # Linux probes the two units in parallel: either may become sda.
        found = {words[i].rpartition(":")[2]: (dev, words[i], words[i + 1])
                 for i, dev in ((0, "sda"), (3, "sdb"))}
        assert sorted(found) == ["0", "1"], out
        assert all(path.startswith("ata2/") for _, path, _ in found.values()), out
        assert found["0"][2] == hashlib.md5(b"A" * 65536).hexdigest()
        assert found["1"][2] == hashlib.md5(b"B" * 65536).hexdigest()
        assert words[6:8] == ["XFER_MW_DMA_2", "XFER_MW_DMA_2"], out
        vm.shell(f"yes secondary | head -c 131072 | dd of=/dev/{found['1'][0]} bs=65536 seek=8"
                 " oflag=direct conv=fsync 2>/dev/null", timeout=60)
    with open(b, "rb") as f:
        data = f.read()
    assert data[512 << 10:640 << 10] == (b"secondary\n" * 13108)[:131072]
    assert data[:512 << 10] == b"B" * (512 << 10) and data[640 << 10:] == b"B" * ((4 << 20) - (640 << 10))


@pytest.mark.parametrize("iface", ["virtio", "ide"])
def test_guest_ext4_reboot_poweroff(built, tmp_path, iface):
    """An ext4 image made on the host: the guest writes and fsyncs a file over HTTP, reads it
    back after a reboot, powers off cleanly; the host finds the file and a clean file system."""
    disk = str(tmp_path / "fs.raw")
    subprocess.run(["truncate", "-s", "64M", disk], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", disk], check=True)
    dev, blocks = IFACES[iface]
    kib = 3000 if iface == "virtio" else 200
    want, data = pattern_hash("colo-seed-1", kib)
    answer = f"name f1 size {kib * 1024} sha256 {want}"
    vm = guest.GuestVM(OURS, built, interactive=True, no_reboot=False,
                       extra_args=["-drive", f"file={disk},format=raw,if={iface}"])
    with vm:
        ready = vm.wait_ready()
        assert ready["disk"] == dev
        assert disk_http(vm, f"op=write&name=f1&kib={kib}&seed=colo-seed-1") == answer
        assert disk_http(vm, "op=read&name=f1") == answer
        # A guest reboot in the same VM: the file system comes back with the file.
        vm.send("umount /mnt/disk; reboot -f")
        ready2 = vm.wait_ready(start=ready["end"])
        assert ready2["disk"] == dev
        assert disk_http(vm, "op=read&name=f1") == answer
        vm.send("umount /mnt/disk; poweroff -f")
        assert vm.wait_exit(60) == 0
    fsck = subprocess.run(["e2fsck", "-fn", disk], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = subprocess.run(["debugfs", "-R", "cat /f1", disk], capture_output=True)
    assert got.returncode == 0
    assert hashlib.sha256(got.stdout).hexdigest() == want


# ---- QMP ------------------------------------------------------------------------------------

def qmp_session(binary, args, commands):
    """Runs binary with -qmp stdio, sends the commands after qmp_capabilities; returns the
    replies (events dropped) with auto node names ("#block123") made comparable."""
    import json
    import re
    lines = ['{"execute":"qmp_capabilities"}'] + [json.dumps(c) for c in commands] + \
        ['{"execute":"quit"}']
    p = subprocess.run([binary] + args + ["-qmp", "stdio"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=30)
    replies = [json.loads(line) for line in p.stdout.splitlines()
               if line.startswith("{") and '"event"' not in line and '"QMP"' not in line]
    text = json.dumps(replies[1:-1], sort_keys=True)
    return json.loads(re.sub(r"#block\d+", "#block", text))


def test_attached_drive_export_and_drive_del_as_debian(qemu_bin, debian_qemu, img, tmp_path):
    """A drive a device uses (IDE, virtio) is not shared for writing: a writable NBD export of
    it is refused in Debian's words (a read-only one, or a writable one of a free drive, is
    fine); drive_del of it leaves the device an anonymous, empty backend, as Debian's."""
    import json
    import re
    other, free = str(tmp_path / "b.raw"), str(tmp_path / "c.raw")
    for path in (other, free):
        with open(path, "wb") as f:
            f.truncate(1 << 20)
    args = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
            "-drive", f"file={img},format=raw,if=ide",
            "-drive", f"file={other},format=raw,if=virtio",
            "-drive", f"file={free},format=raw,if=none,id=free"]
    got = []
    for binary in (qemu_bin, debian_qemu):
        sock = str(tmp_path / f"nbd-{len(got)}.sock")
        commands = [
            {"execute": "nbd-server-start",
             "arguments": {"addr": {"type": "unix", "data": {"path": sock}}}},
            {"execute": "nbd-server-add", "arguments": {"device": "ide0-hd0", "writable": True}},
            {"execute": "nbd-server-add", "arguments": {"device": "virtio0", "writable": True}},
            {"execute": "nbd-server-add", "arguments": {"device": "ide0-hd0", "name": "ro"}},
            {"execute": "nbd-server-add", "arguments": {"device": "free", "writable": True}},
            {"execute": "human-monitor-command", "arguments": {"command-line": "drive_del ide0-hd0"}},
            {"execute": "human-monitor-command", "arguments": {"command-line": "drive_del virtio0"}},
            {"execute": "query-block"},
        ]
        text = json.dumps(qmp_session(binary, args, commands), sort_keys=True)
        got.append(re.sub(r"/machine/unattached/device\[\d+\]", "/machine/unattached/device[N]",
                          text))
    ours, theirs = (json.loads(t) for t in got)
    assert len(ours) == 8
    assert "Permission conflict" in ours[1]["error"]["desc"]
    assert ours == theirs


def test_block_qmp_as_debian(qemu_bin, debian_qemu, img, tmp_path):
    """query-block, query-named-block-nodes, blockdev-add and blockdev-del answer as Debian's
    QEMU does, errors included, for a virtio disk, an if=none drive and an empty one."""
    other = str(tmp_path / "b.raw")
    with open(other, "wb") as f:
        f.truncate(1 << 20)
    args = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
            "-drive", f"file={img},format=raw,if=virtio",
            "-drive", f"file={other},format=raw,if=none,id=d0,cache=writethrough",
            "-drive", "if=none,id=e0"]
    commands = [
        {"execute": "query-block"},
        {"execute": "blockdev-add", "arguments": {
            "driver": "raw", "node-name": "n1", "read-only": True,
            "file": {"driver": "file", "filename": other}}},
        {"execute": "query-named-block-nodes"},
        {"execute": "query-named-block-nodes", "arguments": {"flat": True}},
        {"execute": "blockdev-del", "arguments": {"node-name": "nope"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "n1"}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "raw", "file": {"driver": "file", "filename": other}}},
        {"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": "n2",
                                                  "file": "nope"}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "raw", "node-name": "n2", "bogus": 1,
            "file": {"driver": "file", "filename": other}}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "file", "node-name": "n3", "filename": other + ".nope"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "d0"}},
        {"execute": "query-named-block-nodes"},
    ]
    ours = qmp_session(qemu_bin, args, commands)
    theirs = qmp_session(debian_qemu, args, commands)
    assert len(ours) == len(commands)
    assert ours == theirs
    # A node a device uses cannot go.
    commands = [
        {"execute": "blockdev-add", "arguments": {
            "driver": "file", "node-name": "f0", "filename": other}},
        {"execute": "blockdev-add", "arguments": {
            "driver": "raw", "node-name": "r0", "file": "f0"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "f0"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "r0"}},
        {"execute": "blockdev-del", "arguments": {"node-name": "f0"}},
    ]
    base = ["-M", "none", "-nodefaults", "-display", "none"]
    ours = qmp_session(qemu_bin, base, commands)
    assert ours == qmp_session(debian_qemu, base, commands)
    assert ours[2] == {"error": {"class": "GenericError", "desc": "Block device f0 is in use"}}
    assert ours[3:] == [{"return": {}}, {"return": {}}]
    # One a device sits on neither; query-block lists the device's anonymous backend.
    pc = ["-M", "pc", "-nodefaults", "-display", "none", "-S",
          "-blockdev", f"driver=raw,node-name=r0,file.driver=file,file.filename={other}",
          "-device", "virtio-blk-pci,drive=r0"]
    commands = [{"execute": "blockdev-del", "arguments": {"node-name": "r0"}},
                {"execute": "query-block"}]
    ours = qmp_session(qemu_bin, pc, commands)
    assert ours == qmp_session(debian_qemu, pc, commands)
    assert ours[0] == {"error": {"class": "GenericError", "desc": "Node r0 is in use"}}
