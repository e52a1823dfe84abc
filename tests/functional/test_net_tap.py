"""-netdev tap without ifname= or fd=: the binary creates the tap device itself (tapN, the
kernel's first free number, as upstream). Run inside a network namespace the test creates, so
that the first one is tap0 and nothing leaks onto the host.

Issue 7's user command line, as written there, boots the test guest on Debian's QEMU and on ours;
the test addresses the created tap0 from inside the namespace and reaches the guest's TCP echo
and HTTP services. Only what the test needs is added: the test guest's own kernel and initrd, its
address knobs on -append, and a private QMP socket path instead of /tmp/q.sock."""
import json
import os
import random
import re
import struct
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


def pcap_frames(path):
    with open(path, "rb") as f:
        data = f.read()
    assert struct.unpack_from("<I", data)[0] == 0xa1b2c3d4
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def tcp_checksum_ok(frame):
    """True for a correct IPv4 TCP checksum; None for frames that are not IPv4 TCP."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0xf) * 4
    total = struct.unpack_from(">H", frame, 16)[0]
    seg = frame[14 + ihl:14 + total]
    pseudo = frame[26:34] + struct.pack(">BBH", 0, 6, len(seg))
    return csum(pseudo + seg) == 0xffff


def tap_rx(ns):
    """(packets, bytes) the namespace's tap0 received from the VM."""
    stats = json.loads(ns.run("ip", "-j", "-s", "link", "show", "tap0").stdout)[0]["stats64"]
    return stats["rx"]["packets"], stats["rx"]["bytes"]


def test_offloads_pass_whole_without_filters_and_plain_frames_with_them(built, sockdir):
    """On a vnet_hdr tap (the default) the guest's TSO frames reach the host whole while nothing
    is on the path; with a filter on the netdev every frame it sees, both ways, is a plain
    Ethernet frame with a correct checksum, and the streams stay intact."""
    qmp_path = os.path.join(sockdir, "q.sock")
    pcap = os.path.join(sockdir, "dump.pcap")
    with NetNS(prefix="qctapo") as ns:
        vm = guest.GuestVM(OURS, built, net=None, prefix=ns.exec_prefix)
        vm.argv = ns.exec_prefix + issue_command(OURS, built, qmp_path)
        with vm:
            wait_for_link(ns, "tap0")
            ip("-n", ns.name, "addr", "add", f"{HOST_IP}/24", "dev", "tap0")
            ip("-n", ns.name, "link", "set", "tap0", "up")
            vm.wait_ready()
            data = random.Random(11).randbytes(1 << 20)
            packets0, bytes0 = tap_rx(ns)
            with ns.entered():
                for _ in range(2):
                    status, body = guest.http_get(GUEST_IP, 80, "/zero-1m", timeout=30)
                    assert status == 200 and len(body) == 1 << 20
            packets1, bytes1 = tap_rx(ns)
            # 2 MiB in frames averaging well above the MTU: the guest's TSO frames went whole.
            assert bytes1 - bytes0 > 2 << 20
            assert (bytes1 - bytes0) / (packets1 - packets0) > 3000
            qmp = QMPClient(qmp_path)
            try:
                qmp.command("object-add", {"qom-type": "filter-dump", "id": "d0",
                                           "netdev": "hn0", "file": pcap})
                with ns.entered():
                    assert guest.tcp_echo(GUEST_IP, 7, data, timeout=60) == data
                    status, body = guest.http_get(GUEST_IP, 80, "/zero-1m", timeout=30)
                    assert status == 200 and len(body) == 1 << 20
                qmp.command("object-del", {"id": "d0"})
            finally:
                qmp.close()
    frames = pcap_frames(pcap)
    tcp = [f for f in frames if tcp_checksum_ok(f) is not None]
    # 1 MiB each way of echo and 1 MiB of HTTP, all of it seen by the filter as plain frames
    assert sum(len(f) for f in tcp) > 3 << 20
    assert max(len(f) for f in frames) <= 1514
    bad = [i for i, f in enumerate(tcp) if not tcp_checksum_ok(f)]
    assert not bad, f"{len(bad)} of {len(tcp)} TCP frames with a wrong checksum"
