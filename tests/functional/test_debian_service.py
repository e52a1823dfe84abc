"""The Debian 12 disk image as a served system on our binary: its NIC is a tap in a network
namespace the test creates, a DHCP server in the namespace (busybox udhcpd) gives it its
address, and from the namespace the image's test page (qc-www, busybox httpd on port 80) and
its sshd answer. A reboot asked for over ssh comes back through the firmware to the same
services with a new boot id; a poweroff over ssh ends the process with status 0.

One boot and one reboot on ours, minutes each under TCG on a loaded host: each may take up to
QC_DEBIAN_TIMEOUT or 900 s, whichever is longer (at a load average of 18-22, with other
engineers' VMs on the 2 CPUs, a boot took over 600 s). test_debian_image.py boots the same
image on Debian's QEMU and ours on slirp."""
import os
import re
import subprocess
import time

import pytest

import debian_image
import guest
from conftest import require_pc
from netns import NetNS

# One boot and one reboot of the Debian image weigh as 20 test-guest boots when conftest.py
# orders the files.
BOOTS_PER_TEST = 20

OURS = os.environ.get("QC_GUEST_QEMU", os.path.join(guest.ROOT, "build", "qemu-system-x86_64"))
TAP = "qcimg0"
HOST_IP = "10.0.3.1"
GUEST_IP = "10.0.3.15"
GUEST_MAC = "52:54:00:12:34:56"
BOOT_TIMEOUT = max(debian_image.BOOT_TIMEOUT, 900)
BOOT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@pytest.fixture(scope="module")
def image():
    return debian_image.build()


def ssh(ns, key, command, timeout=120):
    """Runs command on the guest over ssh from the namespace, as root with the test's key."""
    return subprocess.run(debian_image.ssh_argv(ns, key, GUEST_IP) + [command],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def page(ns):
    return debian_image.page(GUEST_IP, 80, timeout=180, inside=ns.entered)


def boot_id_over_ssh(ns, key, timeout=300):
    """The boot id, once sshd answers (it may start after the getty and the test page)."""
    deadline = time.monotonic() + timeout
    while True:
        # The image's minbase has no iproute2: busybox's ip lists the addresses.
        r = ssh(ns, key, "cat /proc/sys/kernel/random/boot_id; hostname; busybox ip -4 addr")
        if r.returncode != 255 or "Connection refused" not in r.stderr:
            break
        assert time.monotonic() < deadline, r.stderr
        time.sleep(2)
    assert r.returncode == 0, r.stdout + r.stderr
    boot_id, hostname, addr = r.stdout.split("\n", 2)
    assert re.fullmatch(BOOT_ID, boot_id), r.stdout
    assert hostname == "qc-debian", r.stdout
    assert f"inet {GUEST_IP}/24" in addr, r.stdout
    return boot_id


def test_tap_dhcp_http_and_ssh_survive_a_reboot_from_inside(image, tmp_path):
    binary = require_pc(OURS)
    key, public = debian_image.ssh_key(str(tmp_path))
    with NetNS(prefix="qcimg") as ns:
        ns.add_tap(TAP, f"{HOST_IP}/24")
        dhcp = debian_image.dhcp_server(ns, str(tmp_path), TAP, GUEST_IP, GUEST_MAC, HOST_IP)
        vm = guest.GuestVM(binary, None, kernel=None, memory="1G", net=None, no_reboot=False,
                           interactive=True, prefix=ns.exec_prefix, extra_args=[
                               *debian_image.drive_args(image, str(tmp_path), "virtio"),
                               "-netdev", f"tap,id=hn0,ifname={TAP},script=no,downscript=no,"
                               "vhost=off",
                               "-device", f"virtio-net-pci,netdev=hn0,mac={GUEST_MAC}"])
        try:
            vm.start()
            debian_image.login(vm, image, timeout=BOOT_TIMEOUT)
            first_login_s = time.monotonic() - vm.started_at
            # The key goes in through the console; from then on the host talks over the tap.
            debian_image.authorize(vm, public)
            console_id = vm.shell("cat /proc/sys/kernel/random/boot_id").strip()
            first = page(ns)
            served_s = time.monotonic() - vm.started_at
            assert first == f"qc-debian boot_id={console_id}\n"
            assert boot_id_over_ssh(ns, key) == console_id

            reboot_at = len(vm.console)
            # ssh may see its connection end before systemctl returns: the status is not kept.
            ssh(ns, key, "systemctl reboot")
            seabios = vm.wait_for("SeaBIOS", BOOT_TIMEOUT, reboot_at)
            t = time.monotonic()
            vm.wait_for(rf"{image['hostname']} login: ", BOOT_TIMEOUT,
                        seabios.end())
            second = page(ns)
            again_s = time.monotonic() - t
            m = re.fullmatch(rf"qc-debian boot_id=({BOOT_ID})\n", second)
            assert m, second
            assert m.group(1) != console_id
            assert boot_id_over_ssh(ns, key) == m.group(1)
            print(f"login after {first_login_s:.0f} s, the page over tap after {served_s:.0f} s;"
                  f" after the reboot the page again {again_s:.0f} s after SeaBIOS's banner")

            ssh(ns, key, "systemctl poweroff")
            rc = vm.wait_exit(BOOT_TIMEOUT)
            assert rc == 0, f"exit status {rc}; console tail:\n{vm.console[-2000:]}"
        finally:
            vm.stop()
            dhcp.terminate()
            dhcp.wait(10)
