"""The IDE CD-ROM (ide-cd, -cdrom, -drive media=cdrom): ISO images made by xorriso at test time;
the test guest mounts /dev/sr0 and reads a file back by its checksum, under Debian's QEMU and
ours alike (ATAPI by DMA and by PIO); a medium changed over QMP is seen by the guest; the QMP and
HMP tray commands, their events and query-block answer as Debian's do; option errors are
Debian's; a CD guest migrates with its tray and lock state."""
import hashlib
import json
import re
import subprocess
import time

import pytest

import guest
import isoimage
from conftest import assert_same_failure, run
from qmp import QemuProcess, QMPClient
from test_block import DEBIAN_QEMU, OURS

BINARIES = {"debian": DEBIAN_QEMU, "ours": OURS}


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def make_iso(tmp_path, name, seed, size):
    """An ISO 9660 image holding sub/<name>.bin of `size` bytes from `seed`; returns the image's
    path and the file's sha256."""
    src = tmp_path / f"{name}-tree"
    (src / "sub").mkdir(parents=True)
    data = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest()
                    for i in range(size // 32 + 1))[:size]
    (src / "sub" / f"{name}.bin").write_bytes(data)
    iso = str(tmp_path / f"{name}.iso")
    isoimage.mkisofs(["-V", name.upper(), "-o", iso, str(src)])
    return iso, hashlib.sha256(data).hexdigest()


@pytest.fixture
def isos(tmp_path):
    """Two discs: one (1 MiB and a bit: many 128 KiB buffers, an odd tail) and two."""
    return [make_iso(tmp_path, "one", 1, (1 << 20) + 4321), make_iso(tmp_path, "two", 2, 70000)]


def read_on_guest(vm, name, dev="sr0"):
    out = vm.shell(f"mkdir -p /mnt/cd; mount -t iso9660 -o ro /dev/{dev} /mnt/cd && "
                   f"sha256sum /mnt/cd/sub/{name}.bin; umount /mnt/cd", timeout=120)
    m = re.search(r"^([0-9a-f]{64}) ", out, re.M)
    assert m, out
    return m.group(1)


# How the drive is made, and what the guest's libata is told. "dma": -cdrom (secondary master),
# ATAPI by bus-master DMA. "pio": -device ide-cd alone as the primary channel's slave, with
# libata held to PIO mode 4 (libata.force=pio4), so every packet's data goes by PIO.
SETUPS = {
    "dma": ([], "", "dev2.0", "XFER_MW_DMA_2"),
    "pio": (["-device", "ide-cd,drive=cd,bus=ide.0,unit=1"], "libata.force=pio4", "dev1.1",
            "XFER_PIO_4"),
}


@pytest.mark.parametrize("setup", ["dma", "pio"])
@pytest.mark.parametrize("binary", ["debian", "ours"])
def test_guest_reads_cdrom(built, isos, binary, setup):
    (iso, digest), _ = isos
    with open(iso, "rb") as f:
        image = f.read()
    extra, append, atadev, mode = SETUPS[setup]
    args = (["-cdrom", iso] if setup == "dma"
            else ["-drive", f"if=none,id=cd,media=cdrom,file={iso},format=raw"] + extra)
    with guest.GuestVM(BINARIES[binary], built, append=f"qc.nodisk {append}".strip(), net=None,
                       interactive=True, extra_args=args) as vm:
        vm.wait_ready(timeout=300)
        assert read_on_guest(vm, "one") == digest
        out = vm.shell(f"cat /sys/class/ata_device/{atadev}/xfer_mode /sys/block/sr0/size; "
                       "dmesg | grep -c 'falling back to PIO'; cat /sys/block/sr0/device/model",
                       timeout=30)
        words = out.split()
        assert words[0] == mode, out
        # sectors of 512 bytes: the image's length
        assert int(words[1]) * 512 == len(image) // 2048 * 2048, out
        assert words[2] == "0", out
        assert " ".join(words[3:]) == "QEMU DVD-ROM", out
        # A write to the disc is refused by the guest's own driver (a read-only medium).
        out = vm.shell("dd if=/dev/zero of=/dev/sr0 bs=2048 count=1 2>&1; echo rc=$?",
                       timeout=30)
        assert "rc=1" in out, out
    with open(iso, "rb") as f:
        assert f.read() == image


# MMC commands sent from the guest through SG_IO (qc-atapi, tests/guest/atapi-cmd.c): (device,
# CDB in hex, allocation length). sr0 is a CD (-cdrom), sr1 a medium larger than a CD, which
# upstream calls a DVD-ROM.
MMC_COMMANDS = [
    ("sr0", "120000002400", 36),
    ("sr0", "120100ff0000", 255),      # VPD page list (one-byte allocation length: 0)
    ("sr0", "12010000ff00", 255),
    ("sr0", "12018300ff00", 255),      # device identification
    ("sr0", "12018300630" "0", 99),    # room for the serial only
    ("sr0", "12018300100" "0", 16),    # not even for it: DATA PHASE ERROR
    ("sr0", "12018000ff00", 255),
    ("sr0", "25000000000000000000", 8),
    ("sr0", "43000000000000040000", 1024),   # READ TOC formats 0, 1, 2, by address and MSF
    ("sr0", "43020000000000040000", 1024),
    ("sr0", "43000000000000040040", 1024),
    ("sr0", "43000000000000040080", 1024),
    ("sr0", "43020000000000040080", 1024),
    ("sr0", "430000000000000400c0", 1024),
    ("sr0", "43000000000005040000", 1024),
    ("sr0", "be000000001000000110" "0000", 2048),    # READ CD: user data
    ("sr0", "be0000000010000002f8" "0000", 4704),    # whole sectors
    ("sr0", "be000000001000000178" "0000", 2352),    # headers and data: refused
    ("sr0", "be00ffffff1000000110" "0000", 2048),    # out of range
    ("sr0", "ad000000000000000804" "0000", 2052),    # READ DVD STRUCTURE on a CD
    ("sr0", "ad000000000000ff00ff" "0000", 255),
    ("sr0", "46000000000000000100", 256),            # GET CONFIGURATION
    ("sr0", "46020001000000000100", 256),
    ("sr0", "51000000000000002200", 34),
    ("sr0", "5a002a00000000002000", 32),
    ("sr0", "4a010000100000000800", 8),
    ("sr0", "bd000000000000000008" "0000", 8),
    ("sr1", "46000000000000000100", 256),
    ("sr1", "25000000000000000000", 8),
    ("sr1", "43000000000000040080", 1024),
    ("sr1", "ad000000000000000804" "0000", 2052),    # physical format
    ("sr1", "ad000000000001000804" "0000", 2052),    # layer 1 (upstream reads it as 0)
    ("sr1", "ad000000000001000004" "0000", 4),       # layer 1 with a short allocation
    ("sr1", "ad000000000000010008" "0000", 8),       # copyright
    ("sr1", "ad000000000000030100" "0000", 256),     # BCA
    ("sr1", "ad000000000000040804" "0000", 2052),    # manufacturing
    ("sr1", "ad000000000000ff00ff" "0000", 255),     # the list
    ("sr1", "ad000000000000800100" "0000", 256),     # AACS
    ("sr1", "ad010000000000000804" "0000", 2052),    # Blu-ray
]


def mmc_answers(binary, built, iso, dvd):
    args = ["-cdrom", iso, "-drive", f"if=ide,index=3,media=cdrom,file={dvd},format=raw"]
    lines = []
    with guest.GuestVM(binary, built, append="qc.nodisk", net=None, interactive=True,
                       extra_args=args) as vm:
        vm.wait_ready(timeout=300)
        # A few commands a line: the console takes lines of at most 4 KiB.
        for i in range(0, len(MMC_COMMANDS), 4):
            script = "; ".join(f"echo {dev}:{cdb}:$(qc-atapi /dev/{dev} {cdb} {alloc} 2>&1)"
                               for dev, cdb, alloc in MMC_COMMANDS[i:i + 4])
            out = vm.shell(script, timeout=120)
            lines += [line.strip() for line in out.splitlines()
                      if re.match(r"sr[01]:", line.strip())]
    return lines


def test_guest_mmc_commands_as_debian(built, isos, tmp_path):
    """The guest's MMC commands (READ TOC formats 0-2, READ CD of user data and of whole
    sectors, READ DVD STRUCTURE, GET CONFIGURATION, INQUIRY's VPD pages, ...) answered byte
    for byte as Debian's QEMU answers them, sense data included, on a CD and a DVD-sized
    medium."""
    (one, _), _ = isos
    dvd = tmp_path / "dvd.img"
    with open(dvd, "wb") as f:
        f.truncate((80 * 60 * 75 + 16) * 2048)
    theirs = mmc_answers(DEBIAN_QEMU, built, one, str(dvd))
    ours = mmc_answers(OURS, built, one, str(dvd))
    assert len(theirs) == len(MMC_COMMANDS), theirs
    assert ours == theirs
    answers = dict((line.rsplit(":", 1)[0], line.rsplit(":", 1)[1]) for line in ours)
    # The comparison is not of two failures: the raw TOC and the whole sectors came back.
    # (libata reports no residue for ATAPI: len is the allocation length)
    raw_toc = answers["sr0:43000000000000040080"]
    assert re.match(r"status=0 sense=00/00/00 len=\d+ data=002e0101011400a0", raw_toc), raw_toc
    raw = answers["sr0:be0000000010000002f8" "0000"]
    assert raw.startswith("status=0 sense=00/00/00 len=4704 data=00ffffffffffffffffffff00"), raw
    assert answers["sr1:ad000000000000000804" "0000"].startswith("status=0 sense=00/00/00 len=2052")


@pytest.mark.parametrize("binary", ["debian", "ours"])
def test_guest_sees_medium_change(built, isos, sockdir, binary):
    """While the guest has the disc mounted its tray is locked: eject without force is refused
    in Debian's words; after the guest unmounts, eject and blockdev-change-medium put the second
    disc in, and the guest reads the new file (it sees NOT READY, then UNIT ATTENTION)."""
    (one, d1), (two, d2) = isos
    qmp_path = f"{sockdir}/{binary}.sock"
    with guest.GuestVM(BINARIES[binary], built, append="qc.nodisk", net=None, interactive=True,
                       qmp_path=qmp_path, extra_args=["-cdrom", one]) as vm:
        vm.wait_ready(timeout=300)
        with QMPClient(qmp_path) as q:
            assert read_on_guest(vm, "one") == d1
            vm.shell("mkdir -p /mnt/cd; mount -t iso9660 -o ro /dev/sr0 /mnt/cd", timeout=60)
            blk = [b for b in q.command("query-block") if b["device"] == "ide1-cd0"][0]
            assert blk["locked"] is True and blk["tray_open"] is False, blk
            r = q.cmd("eject", {"device": "ide1-cd0"})
            assert r["error"] == {
                "class": "GenericError",
                "desc": "Device 'ide1-cd0' is locked and force was not specified, wait for "
                        "tray to open and try again"}, r
            vm.shell("umount /mnt/cd", timeout=60)
            blk = [b for b in q.command("query-block") if b["device"] == "ide1-cd0"][0]
            assert blk["locked"] is False, blk
            q.clear_events()
            assert q.cmd("eject", {"device": "ide1-cd0"}) == {"return": {}}
            ev = q.wait_event("DEVICE_TRAY_MOVED", timeout=10)
            assert ev["data"]["tray-open"] is True and ev["data"]["device"] == "ide1-cd0"
            out = vm.shell("mount -t iso9660 -o ro /dev/sr0 /mnt/cd 2>&1; echo rc=$?",
                           timeout=60)
            assert "rc=0" not in out, out
            assert q.cmd("blockdev-change-medium",
                         {"device": "ide1-cd0", "filename": two, "format": "raw"}) == {
                "return": {}}
            ev = q.wait_event("DEVICE_TRAY_MOVED", timeout=10)
            assert ev["data"]["tray-open"] is False
            # The drive reports the change (NOT READY, then UNIT ATTENTION) to the next
            # commands, and Linux fails a read that meets it: a few reads settle it, under
            # Debian's QEMU as under ours.
            out = vm.shell("for i in 1 2 3 4 5; do dd if=/dev/sr0 of=/dev/null bs=2048 count=1 "
                           "2>/dev/null && break; sleep 1; done; echo tries=$i", timeout=60)
            assert "tries=" in out and "tries=5" not in out, out
            assert read_on_guest(vm, "two") == d2


def normalize(text):
    text = re.sub(r"#block\d+", "#blockN", text)
    # Anonymous devices' paths count upstream's other unattached objects; not ours to match.
    return re.sub(r"/machine/(unattached|peripheral-anon)/device\[\d+\]", r"/machine/\1/device[N]",
                  text)


def tray_session(binary, one, two):
    """The tray commands on a paused machine; every reply and event, normalized."""
    lines = []
    p = QemuProcess(binary, ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
                             "-nodefaults", "-cdrom", one,
                             "-drive", "if=none,id=cd1,media=cdrom",
                             "-device", "ide-cd,drive=cd1,id=dev1,bus=ide.0",
                             "-drive", f"if=none,id=hd,file={two},format=raw,file.locking=off",
                             "-device", "ide-hd,drive=hd,id=hd0,bus=ide.0"])
    try:
        q = p.qmp

        def do(name, args=None):
            r = q.cmd(name, args or {})
            lines.append(f"{name} {json.dumps(args, sort_keys=True)} -> "
                         f"{json.dumps(r.get('return', r.get('error')), sort_keys=True)}")
            for e in q.get_events():
                e.pop("timestamp", None)
                lines.append(f"  event {json.dumps(e, sort_keys=True)}")

        do("query-block")
        do("eject", {"device": "ide1-cd0"})
        do("query-block")
        do("eject", {"device": "ide1-cd0"})
        do("blockdev-close-tray", {"device": "ide1-cd0"})
        do("blockdev-open-tray", {"id": "dev1"})
        do("blockdev-open-tray", {"id": "dev1"})
        do("blockdev-close-tray", {"id": "dev1"})
        do("blockdev-change-medium", {"id": "dev1", "filename": one})
        do("query-block")
        for args in ({"device": "hd"}, {"device": "nope"}, {"id": "nope"}, {},
                     {"device": "ide1-cd0", "id": "dev1"}):
            do("eject", args)
        do("blockdev-open-tray", {"device": "hd"})
        do("blockdev-close-tray", {"device": "hd"})
        do("blockdev-change-medium", {"device": "hd", "filename": one})
        do("blockdev-change-medium", {"device": "ide1-cd0", "filename": one + ".nope"})
        do("blockdev-change-medium", {"device": "ide1-cd0", "filename": one, "format": "bogus"})
        do("blockdev-change-medium", {"device": "ide1-cd0", "filename": two, "format": "raw",
                                      "read-only-mode": "read-only"})
        do("eject", {"device": "ide1-cd0", "force": True})
        do("query-block")
        for line in ("eject ide1-cd0", "change ide1-cd0 " + one + " raw",
                     "change ide1-cd0 " + two, "eject hd", "eject -f ide1-cd0",
                     "change nope " + one, "change ide1-cd0 " + one + " raw bogus"):
            do("human-monitor-command", {"command-line": line})
        do("query-block")
    finally:
        p.kill()
    return normalize("\n".join(lines))


def test_qmp_tray_as_debian(isos):
    (one, _), (two, _) = isos
    theirs = tray_session(DEBIAN_QEMU, one, two)
    ours = tray_session(OURS, one, two)
    assert ours.splitlines() == theirs.splitlines()
    # The session did move trays (the comparison is not of two empty logs).
    assert theirs.count("DEVICE_TRAY_MOVED") >= 8


# Each case: arguments after "-M pc ... -nodefaults"; ISO is replaced by the first disc's path.
ERROR_CASES = [
    "-device ide-cd,drive=nope",
    "-drive if=none,id=d,media=cdrom -device ide-cd,drive=d,unit=2",
    "-drive if=none,id=d,media=cdrom -device ide-cd,drive=d,bus=ide.7",
    "-drive if=none,id=d,media=cdrom -device ide-cd,drive=d,unit=0 -device ide-cd,unit=0",
    "-drive if=ide,media=bogus",
    "-cdrom ISO.nope",
    "-cdrom ISO -drive if=ide,index=2,file=ISO,format=raw",
    "-drive if=ide,index=2,media=cdrom -cdrom ISO",
    "-drive if=none,id=d,file=ISO,format=raw,media=cdrom -device ide-hd,drive=d",
    "-drive if=none,id=d -device ide-hd,drive=d",
]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_cdrom_errors_as_debian(isos, case):
    (one, _), _ = isos
    args = ["-M", "pc", "-accel", "tcg", "-display", "none", "-nodefaults", "-S"]
    args += [a.replace("ISO", one) for a in case.split(" ")]
    theirs = run(DEBIAN_QEMU, *args, base=False)
    ours = run(OURS, *args, base=False)
    assert_same_failure(ours, theirs)


def test_good_cdrom_setups_start(isos):
    """What Debian's starts, ours starts: empty drives, a writable drive under ide-cd, -cdrom
    beside a disk; query-block shows the media as Debian's does."""
    (one, _), (two, _) = isos
    cases = [["-drive", "if=ide,media=cdrom"],
             ["-device", "ide-cd"],
             ["-drive", f"if=none,id=d,file={one},format=raw", "-device", "ide-cd,drive=d"],
             ["-cdrom", one, "-drive", f"if=ide,index=0,file={two},format=raw"]]
    for case in cases:
        got = []
        for binary in (DEBIAN_QEMU, OURS):
            p = QemuProcess(binary, ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
                                     "-nodefaults"] + case)
            try:
                blocks = p.qmp.command("query-block")
            finally:
                p.kill()
            got.append(normalize(json.dumps(blocks, sort_keys=True)))
        assert got[1] == got[0], case


def block_list(binary, args, commands=()):
    """query-block on a paused pc without -nodefaults, in its order, normalized; before it,
    the answers to `commands` ((name, arguments) pairs)."""
    p = QemuProcess(binary, ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
                             "-serial", "none", "-monitor", "none"] + args)
    try:
        answers = [p.qmp.cmd(name, arguments) for name, arguments in commands]
        blocks = p.qmp.command("query-block")
    finally:
        p.kill()
    return answers, [json.loads(normalize(json.dumps(b))) for b in blocks]


def block_devices(binary, args):
    """query-block as block_list's, but {device: entry}."""
    return {b["device"] or b["qdev"]: b for b in block_list(binary, args)[1]}


@pytest.mark.parametrize("case,default", [
    ("", True),
    ("-drive if=ide,file=TWO,format=raw -drive if=virtio,file=ONE,format=raw,readonly=on", True),
    ("-drive if=none,id=d,file=TWO,format=raw -device ide-hd,drive=d", False),
    ("-device ide-cd,bus=ide.0", False),
    ("-cdrom ONE", False),
    ("-drive if=ide,index=2,file=TWO,format=raw", False),
    ("-drive if=ide,file=TWO,format=raw,file.locking=off -drive if=ide,file=ONE,media=cdrom "
     "-drive if=ide,file=TWO,format=raw,file.locking=off", False),
    ("-drive if=ide,index=3,media=cdrom", True),
    ("-nodefaults", False),
], ids=["none", "ide-and-virtio", "ide-hd", "ide-cd", "cdrom", "index2", "third-ide",
        "index3", "nodefaults"])
def test_default_cdrom_as_debian(isos, case, default):
    """Without -nodefaults upstream's pc adds an empty ide1-cd0 at IDE bus 1 unit 0 unless a
    -device ide-cd/ide-hd or a drive there says otherwise, then the empty floppy0 and sd0:
    query-block's list, in its order, as Debian's."""
    (one, _), (two, _) = isos
    args = [a.replace("ONE", one).replace("TWO", two) for a in case.split()]
    theirs = block_list(DEBIAN_QEMU, args)[1]
    ours = block_list(OURS, args)[1]
    assert ours == theirs
    names = [b["device"] for b in ours]
    assert ({"floppy0", "sd0"} <= set(names)) == (case != "-nodefaults"), names
    ours = {b["device"] or b["qdev"]: b for b in ours}
    empty = {"io-status": "ok", "device": "ide1-cd0", "locked": False, "removable": True,
             "qdev": "/machine/unattached/device[N]", "tray_open": False, "type": "unknown"}
    assert (ours.get("ide1-cd0") == empty) == default, ours


# Command lines Debian's QEMU refuses too: SD cards (pc has no SD controller), floppy units past
# the controller's two, floppies on a machine without one.
SD_FLOPPY_ERRORS = [
    "-sd ONE",
    "-drive if=sd,index=3",
    "-drive if=sd,file=ONE,format=raw",
    "-drive if=floppy,index=2",
    "-drive if=floppy,bus=1,unit=1",
    "-fda ONE.nope",
    "-M none -drive if=floppy",
]


@pytest.mark.parametrize("case", SD_FLOPPY_ERRORS)
def test_sd_floppy_errors_as_debian(isos, case):
    (one, _), _ = isos
    args = ["-accel", "tcg", "-display", "none", "-S", "-serial", "none", "-monitor", "none"]
    args += [a.replace("ONE", one) for a in case.split(" ")]
    assert_same_failure(run(OURS, *args, base=False), run(DEBIAN_QEMU, *args, base=False))


@pytest.mark.parametrize("case", ["-fda ONE", "-fdb ONE", "-drive if=floppy",
                                  "-drive if=floppy,file=ONE,format=raw,index=1"])
def test_floppy_images_refused(isos, case):
    """Debian's pc takes floppies on its ISA floppy controller; this machine has none and says
    so (docs/block.md)."""
    (one, _), _ = isos
    args = [a.replace("ONE", one) for a in case.split(" ")]
    r = run(OURS, "-M", "pc", "-accel", "tcg", "-display", "none", "-S", *args, base=False)
    assert r.returncode == 1
    assert r.stderr.endswith(f"qemu-system-x86_64: {' '.join(args)}: floppy drives are not "
                             "supported (qemu-colo's pc has no floppy controller)\n"), r.stderr


def test_default_sd_and_floppy_media(isos):
    """sd0 takes a medium and gives it back as Debian's does (no device reads it there either);
    floppy0 refuses one, where Debian's floppy controller would read it."""
    (one, _), _ = isos
    sd = [("blockdev-change-medium", {"device": "sd0", "filename": one, "format": "raw"})]
    theirs = block_list(DEBIAN_QEMU, [], sd)
    ours = block_list(OURS, [], sd)
    assert ours == theirs
    assert ours[0] == [{"return": {}}] and ours[1][-1]["inserted"]["file"] == one
    sd_eject = sd + [("eject", {"device": "sd0"})]
    assert block_list(OURS, [], sd_eject) == block_list(DEBIAN_QEMU, [], sd_eject)
    floppy = [("blockdev-change-medium", {"device": "floppy0", "filename": one,
                                          "format": "raw"}),
              ("eject", {"device": "floppy0"}),
              ("blockdev-open-tray", {"device": "floppy0"}),
              ("blockdev-close-tray", {"device": "floppy0"})]
    answers, blocks = block_list(OURS, [], floppy)
    assert answers == [{"error": {"class": "GenericError",
                                  "desc": "Device 'floppy0' is a floppy drive, which qemu-colo "
                                          "does not emulate"}},
                       {"return": {}}, {"return": {}}, {"return": {}}], answers
    # Debian's answers the tray commands alike: a floppy drive has no tray.
    assert block_list(DEBIAN_QEMU, [], floppy[1:])[0] == answers[1:]
    assert "inserted" not in [b for b in blocks if b["device"] == "floppy0"][0]


def info_block(binary, args, lines):
    """The HMP answers to `lines` on a paused pc, normalized (node names, device numbers, the
    snapshot overlay's temporary name)."""
    p = QemuProcess(binary, ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
                             "-serial", "none", "-monitor", "none"] + args)
    try:
        out = [p.qmp.cmd("human-monitor-command", {"command-line": line}) for line in lines]
    finally:
        p.kill()
    return [re.sub(r"vl\.\w{6}", "vl.X", normalize(json.dumps(o))) for o in out]


@pytest.mark.parametrize("case", [
    "",
    "-nodefaults",
    "-drive if=none,id=d1,file=OV,cache=none -device virtio-blk-pci,drive=d1 "
    "-drive if=ide,file=TWO,format=raw,media=cdrom "
    "-blockdev driver=file,filename=ONE,node-name=n1,read-only=on "
    "-drive if=virtio,file=ONE,format=raw,snapshot=on,file.locking=off "
    "-drive if=ide,index=3,file=TWO,format=raw,cache=writethrough,file.locking=off",
], ids=["defaults", "nodefaults", "drives"])
def test_info_block_as_debian(isos, tmp_path, case):
    """HMP info block (all, by backend name, by node name, -n, unknown names) prints what
    Debian's does: the defaults, media, cache modes, backing chains, read-only drives."""
    (one, _), (two, _) = isos
    ov = str(tmp_path / "ov.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", one, "-F", "raw", ov],
                   check=True)
    args = [a.replace("ONE", one).replace("TWO", two).replace("OV", ov) for a in case.split()]
    lines = ["info block", "info block d1", "info block sd0", "info block ide1-cd0",
             "info block -n", "info block n1", "info block nope"]
    theirs = info_block(DEBIAN_QEMU, args, lines)
    ours = info_block(OURS, args, lines)
    assert ours == theirs
    assert ("Cache mode" in theirs[0]) == (case not in ("", "-nodefaults")), theirs


def test_default_cdrom_takes_a_medium(isos):
    """The default drive is a real CD-ROM: change inserts a disc, query-block shows it."""
    (one, _), _ = isos
    p = QemuProcess(OURS, ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
                           "-serial", "none", "-monitor", "none"])
    try:
        assert p.qmp.cmd("blockdev-change-medium",
                         {"device": "ide1-cd0", "filename": one}) == {"return": {}}
        cd = [b for b in p.qmp.command("query-block") if b["device"] == "ide1-cd0"][0]
        assert cd["inserted"]["file"] == one and cd["inserted"]["ro"], cd
    finally:
        p.kill()


def test_cdrom_guest_migrates(built, isos, sockdir):
    """A guest with its disc mounted (tray locked) and a second, empty drive whose tray the
    monitor opened migrates: on the destination the lock and the open tray are as they were,
    and the guest reads the mounted disc's file."""
    (one, d1), _ = isos
    args = ["-cdrom", one, "-drive", "if=none,id=cd2,media=cdrom",
            "-device", "ide-cd,drive=cd2,id=cdx,bus=ide.0,unit=1"]
    src = guest.GuestVM(OURS, built, append="qc.nodisk", net=None, interactive=True,
                        qmp_path=f"{sockdir}/src.sock", extra_args=args)
    dst = guest.GuestVM(OURS, built, append="qc.nodisk", net=None, interactive=True,
                        qmp_path=f"{sockdir}/dst.sock", extra_args=args + ["-incoming", "defer"])
    try:
        src.start()
        src.wait_ready(timeout=300)
        dst.start()
        # Linux probes both channels at once: find which sr the secondary master (-cdrom) is.
        dev = src.shell("for d in sr0 sr1; do readlink /sys/block/$d | grep -q '/ata2/' && "
                        "echo CD=$d; done", timeout=30).split("CD=")[1].split()[0]
        src.shell(f"mkdir -p /mnt/cd; mount -t iso9660 -o ro /dev/{dev} /mnt/cd", timeout=60)
        with QMPClient(dst.qmp_path) as dq, QMPClient(src.qmp_path) as sq:
            assert sq.cmd("blockdev-open-tray", {"id": "cdx"}) == {"return": {}}
            before = {b["device"] or b["qdev"]: (b["locked"], b.get("tray_open"), "inserted" in b)
                      for b in sq.command("query-block")}
            assert before["ide1-cd0"] == (True, False, True), before
            assert before["cd2"] == (False, True, False), before
            port = guest.free_ports(1)[0]
            uri = f"tcp:127.0.0.1:{port}"
            assert dq.cmd("migrate-incoming", {"uri": uri}) == {"return": {}}
            assert sq.cmd("migrate", {"uri": uri}) == {"return": {}}
            deadline = time.monotonic() + 180
            while dq.cmd("query-migrate")["return"].get("status") != "completed":
                assert sq.cmd("query-migrate")["return"].get("status") != "failed"
                assert time.monotonic() < deadline
                time.sleep(0.1)
            after = {b["device"] or b["qdev"]: (b["locked"], b.get("tray_open"), "inserted" in b)
                     for b in dq.command("query-block")}
            assert after == before
        out = dst.shell("sha256sum /mnt/cd/sub/one.bin; umount /mnt/cd", timeout=120)
        assert d1 in out, out
    finally:
        dst.stop()
        src.stop()
