"""VIRTIO_NET_F_MRG_RXBUF (mergeable receive buffers) on virtio-net-pci: the `mrg_rxbuf`
property as 7.2 has it, the bit in the guest's negotiated features beside Debian's QEMU on the
same command line (over tap, as bench/net runs), and bulk TCP both ways over tap with it on and
off (docs/net.md). The
migration of a guest in mid-stream with it negotiated is test_virtio_event_idx's (the default
device there)."""
import os

import pytest

import guest
from conftest import run
from test_virtio_event_idx import guest_features

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
MRG_RXBUF = 15
HOST_IP = "10.0.3.1"
GUEST_IP = "10.0.3.15"


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def test_property_help_and_errors_as_debian(qemu_bin, debian_qemu):
    def line(binary):
        out = run(binary, "-device", "virtio-net-pci,help", base=False).stdout
        return [ln.strip() for ln in out.splitlines() if ln.strip().startswith("mrg_rxbuf=")]

    want = ["mrg_rxbuf=<bool>       - on/off (default: true)"]
    assert line(qemu_bin) == line(debian_qemu) == want
    for case in ("-device virtio-net-pci,mrg_rxbuf=maybe",
                 "-global virtio-net-pci.mrg_rxbuf=2 -device virtio-net-pci"):
        args = ["-M", "pc", "-nodefaults", "-display", "none", "-S", *case.split()]
        ours = run(qemu_bin, *args, base=False, timeout=20)
        theirs = run(debian_qemu, *args, base=False, timeout=20)
        assert ours.returncode == theirs.returncode == 1
        assert ours.stderr.split(":", 1)[1] == theirs.stderr.split(":", 1)[1]


def bulk_tcp_both_ways(vm, ns):
    """A 4 MiB echo stream (host -> guest -> host) and 4 GETs of /zero-1m (guest -> host) come
    through byte for byte; the guest counted frames of more than one MTU on average on its
    receive side, so the host's TSO frames went in whole (over several merged buffers with
    mrg_rxbuf on, big-packet chains with it off)."""
    data = os.urandom(4 << 20)
    with ns.entered():
        got = guest.tcp_echo(GUEST_IP, 7, data, timeout=120)
        for _ in range(4):
            status, body = guest.http_get(GUEST_IP, 80, "/zero-1m", timeout=120)
            assert status == 200 and body == "\0" * (1 << 20)
    assert got == data
    dev = vm.shell("grep eth0: /proc/net/dev", timeout=60).split(":", 1)[1].split()
    rx_bytes, rx_packets = int(dev[0]), int(dev[1])
    assert rx_bytes > 4 << 20
    assert rx_bytes / rx_packets > 1514, dev


def vm_on_tap(binary, built, ns, device, *extra):
    """The test guest on a tap in @ns, its NIC -device virtio-net-pci,netdev=hn0@device."""
    ns.add_tap("qcmrg0", f"{HOST_IP}/24")
    return guest.GuestVM(
        binary, built, kernel="vmlinux", net=None, prefix=ns.exec_prefix, interactive=True,
        append=f"qc.name=mrg qc.ip={GUEST_IP}/24 qc.gw={HOST_IP} qc.nodisk",
        extra_args=["-netdev", "tap,id=hn0,ifname=qcmrg0,script=no,downscript=no,vhost=off",
                    "-device", f"virtio-net-pci,netdev=hn0{device}", *extra])


def test_guest_negotiates_as_debian_and_off_carries_traffic(built):
    """Ours and Debian's, same command line, each in its own namespace: -global
    virtio-net-pci.mrg_rxbuf=off, the first NIC on a tap (vnet_hdr, as bench/net has it) as the
    global leaves it, the second with mrg_rxbuf=on, which overrides it. Bit 15 of the guest's
    features is 0 then 1 on both, and every bit the guest negotiated with ours on
    the tap NIC it negotiated with Debian's too. Then bulk TCP both ways through ours' NIC
    without the feature."""
    from netns import NetNS
    vms, feats, spaces = {}, {}, {}
    try:
        for name, binary in (("ours", OURS), ("debian", DEBIAN_QEMU)):
            spaces[name] = NetNS(prefix="qcmrg").create()
            vms[name] = vm_on_tap(binary, built, spaces[name], "",
                                  "-global", "virtio-net-pci.mrg_rxbuf=off",
                                  "-netdev", "hubport,id=h1,hubid=1", "-device",
                                  "virtio-net-pci,netdev=h1,mac=52:54:00:12:34:99,mrg_rxbuf=on")
            vms[name].start()
        for name, vm in vms.items():
            vm.wait_ready()
            feats[name] = guest_features(vm)
            assert [d for d, _ in feats[name]] == ["virtio_net", "virtio_net"], feats
            assert [f[MRG_RXBUF] for _, f in feats[name]] == ["0", "1"], (name, feats)
        vms.pop("debian").stop()
        ours, theirs = feats["ours"][0][1], feats["debian"][0][1]
        assert all(theirs[i] == "1" for i, b in enumerate(ours) if b == "1"), (ours, theirs)
        bulk_tcp_both_ways(vms["ours"], spaces["ours"])
    finally:
        for vm in vms.values():
            vm.stop()
        for ns in spaces.values():
            ns.delete()


def test_bulk_tcp_both_ways_merged(built):
    """The device as it comes (mrg_rxbuf on) over tap: the guest negotiated it, bulk TCP both
    ways."""
    from netns import NetNS
    with NetNS(prefix="qcmrg") as ns:
        vm = vm_on_tap(OURS, built, ns, "")
        try:
            vm.start()
            vm.wait_ready()
            assert guest_features(vm)[0][1][MRG_RXBUF] == "1"
            bulk_tcp_both_ways(vm, ns)
        finally:
            vm.stop()
