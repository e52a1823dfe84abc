"""The Debian 12 disk image (tests/guest/build-debian-image) boots as an installed system does:
SeaBIOS, GRUB from the MBR, the kernel and initramfs from the ext4 root, systemd to `login:` on
the serial console, through virtio-blk and through IDE. Root logs in and runs commands; the test
page answers through a slirp host forward with the boot id the console shows; a reboot from
inside the guest comes back to `login:` with a new boot id; poweroff ends the process, and the
disk it leaves passes e2fsck and qemu-img check.

Three boots per binary, each about 60 s under Debian's TCG on a quiet host (minutes under load:
QC_DEBIAN_TIMEOUT, default 300 s per boot)."""
import os
import re
import subprocess
import time

import pytest

import debian_image
import guest
from conftest import require_pc

# One test here weighs as 10 test-guest boots when conftest.py orders the files
# (a Debian boot through firmware to login).
BOOTS_PER_TEST = 10

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.environ.get("QC_GUEST_QEMU", os.path.join(guest.ROOT, "build", "qemu-system-x86_64"))
LOCAL = "127.0.0.1"
BOOT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# The binaries that boot the image (ours since its CPU has MMX: glibc's x86-64 baseline).
BINARIES = {
    "debian": DEBIAN_QEMU,
    "qemu-colo": OURS,
}


@pytest.fixture(scope="module")
def image():
    return debian_image.build()


@pytest.fixture(params=sorted(BINARIES))
def qemu(request):
    binary = BINARIES[request.param]
    if binary == DEBIAN_QEMU and not os.path.exists(binary):
        pytest.fail("Debian's qemu-system-x86 is not installed (scripts/install-deps)")
    return require_pc(binary)


def start_vm(qemu, image, tmp_path, interface):
    """A 1 GiB pc VM booting a fresh overlay of the image on interface, slirp on virtio-net,
    guest reboots kept in the same process (no -no-reboot)."""
    vm = guest.GuestVM(qemu, None, kernel=None, memory="1G", no_reboot=False,
                       interactive=True,
                       extra_args=debian_image.drive_args(image, str(tmp_path), interface))
    return vm.start()


def boot_id_of(vm):
    out = vm.shell("cat /proc/sys/kernel/random/boot_id").strip()
    assert re.fullmatch(BOOT_ID, out), out
    return out


def page(vm):
    return debian_image.page(LOCAL, vm.ports["http"])


def power_off(vm):
    vm.send("systemctl poweroff")
    rc = vm.wait_exit(debian_image.BOOT_TIMEOUT)
    assert rc == 0, f"exit status {rc}; console tail:\n{vm.console[-2000:]}"
    assert "reboot: Power down" in vm.console[-4000:]


def test_virtio_boot_login_service_reboot_poweroff(qemu, image, tmp_path):
    vm = start_vm(qemu, image, tmp_path, "virtio")
    try:
        at = debian_image.login(vm, image)
        first_login_s = time.monotonic() - vm.started_at
        console = vm.console
        # The whole chain ran: firmware, GRUB's menu on the serial line, then Linux.
        for seen in ("SeaBIOS", "Booting from Hard Disk", "GNU GRUB",
                     f"Linux version {image['kernel_release']}"):
            assert seen in console, seen
        out = vm.shell("uname -r; findmnt -no SOURCE,FSTYPE,OPTIONS /; hostname")
        lines = out.split("\n")
        assert lines[0] == image["kernel_release"], out
        source, fstype, options = lines[1].split()
        assert (source, fstype) == ("/dev/vda1", "ext4"), out
        assert options.startswith("rw,"), out
        assert lines[2] == image["hostname"], out
        first = boot_id_of(vm)
        assert page(vm) == f"qc-debian boot_id={first}\n"

        reboot_at = len(vm.console)
        vm.send("systemctl reboot")
        # Through the firmware again, in the same process.
        seabios = vm.wait_for("SeaBIOS", debian_image.BOOT_TIMEOUT, reboot_at)
        t = time.monotonic()
        debian_image.login(vm, image, seabios.end())
        second_login_s = time.monotonic() - t
        second = boot_id_of(vm)
        assert second != first
        assert page(vm) == f"qc-debian boot_id={second}\n"
        print(f"{os.path.basename(qemu)}: login after {first_login_s:.0f} s, "
              f"again {second_login_s:.0f} s after the reboot's SeaBIOS banner (console at {at})")
        power_off(vm)
    finally:
        vm.stop()


def test_ide_boot_login_poweroff_leaves_a_clean_disk(qemu, image, tmp_path):
    vm = start_vm(qemu, image, tmp_path, "ide")
    try:
        debian_image.login(vm, image)
        out = vm.shell("findmnt -no SOURCE,FSTYPE /; cat /sys/block/sda/device/model; "
                       "echo written-by-the-guest > /root/mark; sync; cat /root/mark")
        lines = [line.strip() for line in out.split("\n")]
        assert lines[0].split() == ["/dev/sda1", "ext4"], out
        assert lines[1] == "QEMU HARDDISK", out
        assert lines[2] == "written-by-the-guest", out
        power_off(vm)
    finally:
        vm.stop()

    disk = debian_image.checked_overlay(str(tmp_path))
    raw = os.path.join(tmp_path, "disk.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", disk, raw], check=True, timeout=300)
    offset = image["partition_start_sector"] * 512
    # e2fsprogs' unix I/O manager reads "?offset=": the partition without a loop device.
    fsck = subprocess.run(["e2fsck", "-fn", f"{raw}?offset={offset}"], capture_output=True,
                          text=True, timeout=300)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # The guest's file is on the disk, read here by debugfs, not by the guest.
    cat = subprocess.run(["debugfs", "-R", "cat /root/mark", f"{raw}?offset={offset}"],
                         capture_output=True, text=True, timeout=60)
    assert cat.stdout == "written-by-the-guest\n", cat.stdout + cat.stderr
