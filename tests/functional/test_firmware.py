"""SeaBIOS on our pc machine beside Debian's QEMU 7.2 running the same image: a boot sector
built here (tests/functional/firmware/mbr.S, with as and ld) booted from IDE and virtio-blk,
an El Torito CD (firmware/cdboot.S in an ISO made by xorriso) booted by -boot d and by
bootindex=, the message for a disk that does not boot, -boot and -bios with upstream's errors.

Each boot runs with -nographic, so SeaBIOS's serial console (fw_cfg etc/sercon-port) puts its
banner and messages on COM1, which goes to a file; the whole file must be the same on both."""
import os
import shutil
import subprocess
import time

import pytest

import isoimage
from conftest import run, strip_prog
from qmp import QemuProcess

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "firmware")
# SeaBIOS's POST on our interpreter takes a few seconds on the loaded shared host.
BOOT_TIMEOUT = 120
EXIT_STATUS = (0x10 << 1) | 1
NOT_BOOTABLE = "Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n"


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    """mbr.img (the boot sector and its second sector, padded to 1 MiB) and zero.img."""
    for tool in ("as", "ld"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing (scripts/install-deps installs build-essential)")
    d = tmp_path_factory.mktemp("firmware")
    subprocess.run(["as", "--32", "-I", SRC, os.path.join(SRC, "mbr.S"), "-o", "mbr.o"], cwd=d,
                   check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o",
                    "mbr.img", "mbr.o"], cwd=d, check=True)
    for name in ("mbr.img", "zero.img"):
        with open(d / name, "ab") as f:
            f.truncate(1 << 20)
    return d


def boot(binary, d, *args):
    """Runs binary in d until it exits; returns (status, serial output, stderr)."""
    serial = d / f"serial-{os.getpid()}.txt"
    if serial.exists():
        serial.unlink()
    argv = [binary, "-M", "pc", "-m", "128M", "-nographic", "-nodefaults", "-no-reboot",
            "-serial", f"file:{serial}", *args]
    p = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=BOOT_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    out = serial.read_bytes().decode(errors="replace") if serial.exists() else ""
    return p.returncode, out, p.stderr


def settled(out):
    """The serial output without the images' last line ("." after the markers), nor the "." of
    SeaBIOS's closing "Rebooting.": SeaBIOS's serial console may still hold some of it back
    when the guest exits, on either binary."""
    end = out.rfind("\r\n.")
    out = out[:end + 2] if end >= 0 else out
    return out[:-1] if out.endswith("Rebooting.") else out


def both(qemu_bin, debian_qemu, d, *args):
    ours = boot(qemu_bin, d, *args)
    theirs = boot(debian_qemu, d, *args)
    assert ours[0] == theirs[0], (ours, theirs)
    assert settled(ours[1]) == settled(theirs[1]), (ours[1], theirs[1])
    assert strip_prog(ours[2]) == strip_prog(theirs[2])
    return ours


@pytest.mark.parametrize("iface", ["ide", "virtio"])
def test_boot_sector_runs_as_under_debian(qemu_bin, debian_qemu, disks, iface):
    rc, out, _ = both(qemu_bin, debian_qemu, disks, "-device", "isa-debug-exit",
                      "-drive", f"file=mbr.img,format=raw,if={iface}")
    assert rc == EXIT_STATUS
    assert "SeaBIOS (version " in out
    assert "Booting from Hard Disk...\r\n" in out
    assert "MBR-MARKER: the second sector, read through int 13h\r\n" in out


def test_disk_that_does_not_boot(qemu_bin, debian_qemu, disks):
    """SeaBIOS's own messages; reboot-timeout=0 and -no-reboot end the run after one round."""
    rc, out, _ = both(qemu_bin, debian_qemu, disks, "-boot", "reboot-timeout=0",
                      "-drive", "file=zero.img,format=raw,if=ide")
    assert rc == 0
    assert NOT_BOOTABLE in out
    assert "No bootable device.  Retrying in 0 seconds.\r\n" in out


@pytest.mark.parametrize("order", ["c", "a", "order=ca,menu=off,strict=on", "once=a,order=c"])
def test_boot_order_as_under_debian(qemu_bin, debian_qemu, disks, order):
    """-boot's order in CMOS: SeaBIOS tries the same devices in the same order on both (only
    the first hard disk without bootindex=: here the IDE disk that does not boot)."""
    rc, out, _ = both(qemu_bin, debian_qemu, disks, "-boot", f"{order},reboot-timeout=0",
                      "-drive", "file=zero.img,format=raw,if=ide",
                      "-drive", "file=mbr.img,format=raw,if=virtio")
    assert rc == 0
    assert NOT_BOOTABLE in out
    assert "MBR-MARKER" not in out


@pytest.mark.parametrize("boot", [
    "x", "cc", "order=z", "once=q", "e", "cdna", "once=e", "menu=maybe", "strict=x", "foo=1",
    "splash-time=abc", "splash-time=70000", "reboot-timeout=abc", "reboot-timeout=-2",
    "reboot-timeout=70000",
])
def test_boot_errors(qemu_bin, debian_qemu, boot):
    ours = run(qemu_bin, "-nodefaults", "-display", "none", "-S", "-boot", boot, base=False)
    theirs = run(debian_qemu, "-nodefaults", "-display", "none", "-S", "-boot", boot, base=False)
    assert ours.returncode == theirs.returncode == 1
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)


def test_bios_errors(qemu_bin, debian_qemu, tmp_path):
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\0" * 1000)
    for bios in [str(tmp_path / "missing.bin"), str(odd), "no-such-bios.bin"]:
        ours = run(qemu_bin, "-nodefaults", "-display", "none", "-S", "-bios", bios, base=False)
        theirs = run(debian_qemu, "-nodefaults", "-display", "none", "-S", "-bios", bios,
                     base=False)
        assert ours.returncode == theirs.returncode == 1
        assert ours.stderr == theirs.stderr == f"qemu: could not load PC BIOS '{bios}'\n"


def test_bios_file_is_the_firmware(qemu_bin, disks):
    """-bios with the default image by path boots as the default does."""
    rc, out, _ = boot(qemu_bin, disks, "-bios", "/usr/share/seabios/bios-256k.bin",
                      "-device", "isa-debug-exit", "-drive", "file=mbr.img,format=raw,if=ide")
    assert rc == EXIT_STATUS
    assert "MBR-MARKER" in out


@pytest.mark.parametrize("args,message", [
    (["-vga", "std"], "-vga std: standard VGA not available (qemu-colo has no display yet)"),
    (["-vga", "cirrus"], "-vga cirrus: Cirrus VGA not available (qemu-colo has no display yet)"),
    (["-vnc", ":0"], "-vnc :0: VNC not available (qemu-colo has no display yet)"),
    (["-display", "gtk"],
     "-display gtk: Display 'gtk' is not available (qemu-colo has no display yet)"),
])
def test_display_options_say_there_is_no_display(qemu_bin, args, message):
    """One line, exit 1, instead of "invalid option" (ours: upstream has these displays)."""
    p = run(qemu_bin, "-nodefaults", "-S", *args, base=False)
    assert p.returncode == 1
    assert p.stderr == f"qemu-system-x86_64: {message}\n"


def test_vga_none_and_unknown_as_upstream(qemu_bin, debian_qemu):
    ours = run(qemu_bin, "-nodefaults", "-display", "none", "-S", "-vga", "foo", base=False)
    theirs = run(debian_qemu, "-nodefaults", "-display", "none", "-S", "-vga", "foo", base=False)
    assert ours.returncode == theirs.returncode == 1
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr) == "unknown vga type: foo"
    p = run(qemu_bin, "-vga", "help", base=False)
    assert p.returncode == 0 and p.stdout.startswith("none                 no graphic card\n")


def _wait_for(path, text, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_bytes().decode(errors="replace"):
            return
        assert proc.poll() is None, f"exited with {proc.returncode}"
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} never appeared in {path}")


def test_migration_inside_the_firmware(qemu_bin, disks):
    """A VM saved while SeaBIOS waits to retry the boot is restored there: the destination's
    SeaBIOS finishes the wait and asks for the reboot, which -no-reboot turns into an exit."""
    base = ["-M", "pc", "-m", "128M", "-nographic", "-nodefaults", "-no-reboot",
            "-boot", "reboot-timeout=5000", "-drive", f"file={disks / 'zero.img'},format=raw,if=ide"]
    src_serial, dst_serial, state = disks / "src.txt", disks / "dst.txt", disks / "vm.state"
    with QemuProcess(qemu_bin, base + ["-serial", f"file:{src_serial}"]) as vm:
        _wait_for(src_serial, "Retrying in 5 seconds.", vm.proc)
        vm.qmp.cmd("stop")
        assert vm.qmp.cmd("migrate", {"uri": f"exec:cat > {state}"}) == {"return": {}}
        deadline = time.monotonic() + 30
        while vm.qmp.cmd("query-migrate")["return"].get("status") != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    dst = subprocess.run([qemu_bin, *base, "-serial", f"file:{dst_serial}",
                          "-incoming", f"exec:cat {state}"], cwd=disks, capture_output=True,
                         text=True, timeout=BOOT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert dst.returncode == 0, dst.stderr
    out = dst_serial.read_bytes().decode(errors="replace")
    assert "Rebooting" in out
    assert "SeaBIOS (version" not in out  # it resumed, it did not start over


@pytest.mark.parametrize("boot,marker", [
    (["-device", "virtio-blk-pci,drive=d1,bootindex=1"], True),
    (["-device", "virtio-blk-pci,drive=d1"], False),
    (["-device", "virtio-blk-pci,drive=d1,bootindex=2", "-boot", "strict=on,reboot-timeout=0"],
     False),
], ids=["bootindex", "none", "strict"])
def test_bootindex_picks_the_disk(qemu_bin, debian_qemu, disks, boot, marker):
    """Two virtio disks, the bootable one second: bootindex= puts it first in the bootorder
    file; strict=on stops SeaBIOS after the listed ones (here the one that does not boot)."""
    first = "bootindex=1" if "strict=on,reboot-timeout=0" in boot else ""
    rc, out, _ = both(qemu_bin, debian_qemu, disks, "-boot", "reboot-timeout=0",
                      "-device", "isa-debug-exit",
                      "-drive", "file=zero.img,format=raw,if=none,id=d0",
                      "-device", ",".join(filter(None, ["virtio-blk-pci,drive=d0", first])),
                      "-drive", "file=mbr.img,format=raw,if=none,id=d1", *boot)
    assert ("MBR-MARKER" in out) == marker
    assert rc == (EXIT_STATUS if marker else 0)


def test_bootindex_used_twice(qemu_bin, debian_qemu, disks):
    args = ["-nodefaults", "-display", "none", "-S",
            "-drive", f"file={disks / 'zero.img'},format=raw,if=none,id=d0,readonly=on",
            "-device", "virtio-blk-pci,drive=d0,bootindex=1",
            "-drive", f"file={disks / 'mbr.img'},format=raw,if=none,id=d1,readonly=on",
            "-device", "virtio-blk-pci,drive=d1,bootindex=1"]
    ours, theirs = run(qemu_bin, *args, base=False), run(debian_qemu, *args, base=False)
    assert ours.returncode == theirs.returncode == 1
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)
    assert "The bootindex 1 has already been used" in ours.stderr


@pytest.fixture(scope="module")
def cd(disks):
    """cd.iso beside the disks: an ISO 9660 image whose El Torito no-emulation boot image is
    cdboot.S (loaded as four 512-byte sectors)."""
    if not shutil.which("xorriso"):
        pytest.fail("xorriso is missing (scripts/install-deps installs it)")
    tree = disks / "cd-tree"
    tree.mkdir()
    subprocess.run(["as", "--32", "-I", SRC, os.path.join(SRC, "cdboot.S"), "-o", "cdboot.o"],
                   cwd=disks, check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o",
                    str(tree / "boot.img"), "cdboot.o"], cwd=disks, check=True)
    isoimage.mkisofs(["-o", "cd.iso", "-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4",
                      str(tree)], cwd=disks)
    return disks


CD_MARKER = ("CD-MARKER: booted from El Torito, drive 0xe0\r\n"
             "CD-MARKER: volume descriptor CD001\r\n")
HD = ["-drive", "file=HD,format=raw,if=none,id=hd"]
CD = ["-drive", "file=cd.iso,format=raw,if=none,id=cd,media=cdrom"]


@pytest.mark.parametrize("args,booted", [
    (["-boot", "d", "-drive", "file=mbr.img,format=raw,if=ide", "-cdrom", "cd.iso"], "cd"),
    (["-drive", "file=mbr.img,format=raw,if=ide", "-cdrom", "cd.iso"], "hd"),
    (["-boot", "order=dc", "-drive", "file=mbr.img,format=raw,if=ide", "-cdrom", "cd.iso"],
     "cd"),
    (HD + CD + ["-device", "ide-hd,drive=hd,bus=ide.0",
                "-device", "ide-cd,drive=cd,bus=ide.1,unit=1,bootindex=1"], "cd"),
    (HD + CD + ["-boot", "d", "-device", "ide-cd,drive=cd,bus=ide.0,bootindex=2",
                "-device", "ide-hd,drive=hd,bus=ide.1,unit=1,bootindex=1"], "hd"),
    (HD + CD + ["-device", "ide-hd,drive=hd,bus=ide.0,unit=1,bootindex=-1",
                "-device", "ide-cd,drive=cd,bus=ide.1,bootindex=0"], "cd"),
    (HD + CD + ["-boot", "strict=on", "-device", "ide-hd,drive=hd,bus=ide.0,bootindex=1",
                "-device", "ide-cd,drive=cd,bus=ide.1,bootindex=-1"], "hd"),
], ids=["boot-d", "boot-c", "order-dc", "bootindex-cd", "bootindex-hd", "negative",
        "negative-strict"])
def test_cd_boots_as_under_debian(qemu_bin, debian_qemu, cd, args, booted):
    """The CD and the boot-sector disk on IDE: -boot's order, then bootindex= (which SeaBIOS
    follows before -boot's) with upstream's device paths; bootindex=-1 leaves a device out of
    the list (with strict=on SeaBIOS then never reaches it)."""
    args = [a.replace("HD", "mbr.img") for a in args]
    rc, out, _ = both(qemu_bin, debian_qemu, cd, "-device", "isa-debug-exit", *args)
    assert rc == EXIT_STATUS
    assert (CD_MARKER in out) == (booted == "cd"), out
    assert ("MBR-MARKER" in out) == (booted == "hd"), out
    assert ("Booting from DVD/CD...\r\n" in out) == (booted == "cd"), out


def test_strict_bootindex_leaves_the_cd_out(qemu_bin, debian_qemu, cd):
    """strict=on with a disk that does not boot listed and the CD at bootindex=-1: SeaBIOS
    stops after the disk, so the CD never boots."""
    rc, out, _ = both(qemu_bin, debian_qemu, cd, "-device", "isa-debug-exit",
                      "-boot", "strict=on,reboot-timeout=0",
                      *[a.replace("HD", "zero.img") for a in HD], *CD,
                      "-device", "ide-hd,drive=hd,bootindex=1",
                      "-device", "ide-cd,drive=cd,bootindex=-1")
    assert rc == 0
    assert NOT_BOOTABLE in out
    assert "CD-MARKER" not in out


@pytest.mark.parametrize("dev", [
    "ide-hd,drive=d0,bootindex=abc", "ide-hd,drive=d0,bootindex=1x",
    "ide-hd,drive=d0,bootindex=2147483648", "ide-cd,bootindex=-2147483649",
    "virtio-blk-pci,drive=d0,bootindex=0x80000000",
    "ide-cd,bootindex=3 -device ide-hd,drive=d0,bootindex=3",
    "ide-cd,bootindex=-1 -device ide-hd,drive=d0,bootindex=-1 -device ide-cd,bootindex=q",
])
def test_ide_bootindex_errors(qemu_bin, debian_qemu, disks, dev):
    args = ["-nodefaults", "-display", "none", "-S",
            "-drive", f"file={disks / 'zero.img'},format=raw,if=none,id=d0,readonly=on",
            *" -device ".join(["", dev]).split()]
    ours, theirs = run(qemu_bin, *args, base=False), run(debian_qemu, *args, base=False)
    assert ours.returncode == theirs.returncode == 1
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)
    assert "bootindex" in ours.stderr
