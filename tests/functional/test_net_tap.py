"""-netdev tap without ifname= or fd=: the binary creates the tap device itself (tapN, the
kernel's first free number, as upstream). Run inside a network namespace the test creates, so
that the first one is tap0 and nothing leaks onto the host.

Issue 7's user command line, as written there, boots the test guest on Debian's QEMU and on ours;
the test addresses the created tap0 from inside the namespace and reaches the guest's TCP echo
and HTTP services. Only what the test needs is added: the test guest's own kernel and initrd, its
address knobs on -append, and a private QMP socket path instead of /tmp/q.sock."""
import os
import random
import re
import time

import pytest

import guest
from netns import NetNS, ip
from qmp import QMPClient

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.environ.get("QEMU_BINARY", os.path.join(guest.ROOT, "build", "qemu-system-x86_64"))
HOST_IP = "192.168.79.1"
GUEST_IP = "192.168.79.2"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def issue_command(binary, built, qmp_path):
    """Issue 7's command line, word for word but for the paths and the guest's -append knobs."""
    return [binary, "-accel", "tcg", "-M", "pc", "-m", "512M", "-nographic",
            "-kernel", built["vmlinuz"], "-initrd", built["initrd"],
            "-append", f"console=ttyS0 qc.ip={GUEST_IP}/24 qc.gw={HOST_IP} qc.quiet",
            "-netdev", "tap,id=hn0,vhost=off,script=no,downscript=no",
            "-device", "virtio-net-pci,id=net0,netdev=hn0,mac=52:54:00:12:34:56",
            "-qmp", f"unix:{qmp_path},server=on,wait=off"]


def wait_for_link(ns, name, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        out = ns.run("ip", "-o", "link", "show").stdout
        if re.search(rf"^\d+: {name}:", out, re.M):
            return out
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name} in the namespace; links:\n{out}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


@pytest.mark.parametrize("which", ["debian", "qemu-colo"])
def test_issue_command_line_creates_tap0_and_serves_the_guest(which, built, sockdir):
    binary = DEBIAN_QEMU if which == "debian" else OURS
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is not there")
    qmp_path = os.path.join(sockdir, "q.sock")
    with NetNS(prefix="qctap") as ns:
        vm = guest.GuestVM(binary, built, net=None, prefix=ns.exec_prefix)
        vm.argv = ns.exec_prefix + issue_command(binary, built, qmp_path)
        with vm:
            links = wait_for_link(ns, "tap0")
            # One tap, named by the kernel from the tap%d pattern; created down, as upstream.
            assert len(re.findall(r"^\d+: tap\d+:", links, re.M)) == 1
            ip("-n", ns.name, "addr", "add", f"{HOST_IP}/24", "dev", "tap0")
            ip("-n", ns.name, "link", "set", "tap0", "up")
            ready = vm.wait_ready()
            assert ready["ip"] == f"{GUEST_IP}/24"
            assert ready["mac"] == "52:54:00:12:34:56"
            data = random.Random(7).randbytes(200000)
            with ns.entered():
                assert guest.tcp_echo(GUEST_IP, 7, data, timeout=30) == data
                status, body = guest.http_get(GUEST_IP, 80, "/", timeout=30)
            assert status == 200 and f"ip {GUEST_IP}" in body
            qmp = QMPClient(qmp_path)
            try:
                info = qmp.hmp("info network")
            finally:
                qmp.close()
    assert re.search(r"hn0: index=0,type=tap,ifname=tap0,script=no,downscript=no", info), info
    assert "net0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56" in info


def info_network(binary, ns, qmp_path, *netdevs):
    """`info network` of a -M none process with the given -netdev options, run in @ns."""
    argv = ns.exec_prefix + [binary, "-M", "none", "-nodefaults", "-display", "none",
                             "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    for n in netdevs:
        argv += ["-netdev", n]
    vm = guest.GuestVM(binary, {"vmlinuz": "", "initrd": ""}, net=None)
    vm.argv = argv
    with vm:
        deadline = time.monotonic() + 10
        while not os.path.exists(qmp_path):
            assert time.monotonic() < deadline, vm.console
            time.sleep(0.05)
        qmp = QMPClient(qmp_path)
        try:
            text = qmp.hmp("info network")
            links = ns.run("ip", "-o", "link", "show").stdout
        finally:
            qmp.close()
    if os.path.exists(qmp_path):
        os.unlink(qmp_path)
    return text, sorted(re.findall(r"^\d+: (tap\d+|qc\w+):", links, re.M))


def test_tap_names_match_upstream(sockdir):
    """Unnamed taps take the kernel's next free tapN, around a named one, as with Debian's."""
    netdevs = ["tap,id=a,script=no,downscript=no",
               "tap,id=b,ifname=qcnamed,script=no,downscript=no",
               "tap,id=c,script=no,downscript=no,vnet_hdr=off"]
    results = []
    for binary in (DEBIAN_QEMU, OURS):
        with NetNS(prefix="qctapn") as ns:
            results.append(info_network(binary, ns, os.path.join(sockdir, "m.sock"), *netdevs))
    (deb_info, deb_links), (our_info, our_links) = results
    assert deb_links == our_links == ["qcnamed", "tap0", "tap1"]
    assert our_info == deb_info
