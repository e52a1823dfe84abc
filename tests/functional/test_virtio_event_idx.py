"""VIRTIO_RING_F_EVENT_IDX on virtio-net-pci and virtio-blk-pci: the `event_idx` property as
7.2 has it, what the guest negotiates with it on and off (its /sys features string, beside
Debian's QEMU on the same command line), network traffic and disk I/O either way, and a guest
migrated in the middle of a TCP stream and of disk writes with it negotiated."""
import hashlib
import os
import threading
import time

import pytest

import guest
from conftest import run
from test_migration import BR_HOST, GUEST_IP, GUEST_MAC, migrate_between

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
EVENT_IDX = 29
MRG_RXBUF = 15
PACKED = 34
IMG_BYTES = 8 << 20


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


@pytest.mark.parametrize("device", ["virtio-net-pci", "virtio-blk-pci"])
def test_property_help_and_errors_as_debian(qemu_bin, debian_qemu, device, tmp_path):
    def line(binary):
        out = run(binary, "-device", f"{device},help", base=False).stdout
        return [ln.strip() for ln in out.splitlines() if ln.strip().startswith("event_idx=")]

    want = ["event_idx=<bool>       - on/off (default: true)"]
    assert line(qemu_bin) == line(debian_qemu) == want
    img = tmp_path / "a.raw"
    img.write_bytes(bytes(65536))
    cases = [f"-device {device},event_idx=maybe", f"-global {device}.event_idx=2 -device {device}"]
    if device == "virtio-blk-pci":  # -drive if=virtio makes one, which the -global reaches
        cases.append(f"-drive file={img},format=raw,if=virtio -global {device}.event_idx=no-way")
    for case in cases:
        args = ["-M", "pc", "-nodefaults", "-display", "none", "-S", *case.split()]
        ours = run(qemu_bin, *args, base=False, timeout=20)
        theirs = run(debian_qemu, *args, base=False, timeout=20)
        assert ours.returncode == theirs.returncode == 1
        assert ours.stderr.split(":", 1)[1] == theirs.stderr.split(":", 1)[1]


def guest_features(vm):
    """[(driver, features string)] of the guest's virtio devices in their order (bit 0 first)."""
    out = vm.shell("for d in /sys/bus/virtio/devices/virtio*; do echo ${d##*/virtio}"
                   " $(basename $(readlink $d/driver)) $(cat $d/features); done", timeout=60)
    rows = [ln.split() for ln in out.splitlines() if len(ln.split()) == 3]
    return [(driver, feats) for _, driver, feats in sorted(rows, key=lambda r: int(r[0]))]


def test_guest_negotiates_and_moves_data(built, tmp_path):
    """Ours and Debian's, same command line, side by side: two NICs and two disks, event_idx
    off on the first of each and on on the second. The guest's features strings have bit 29
    set exactly where event_idx=on (and no packed ring) on both. Through ours, with event_idx
    off on the NIC that carries the traffic (every other guest test has it on, the default):
    a megabyte each way over TCP and one from the web service; 1 MiB written to each disk with
    O_DIRECT and read back."""
    vms = {}
    size = 1 << 20
    want = (b"event-idx-block\n" * (size // 16 + 1))[:size]
    try:
        for name, binary in (("ours", OURS), ("debian", DEBIAN_QEMU)):
            args = []
            for n, ei in ((0, "off"), (1, "on")):
                img = tmp_path / f"{name}{n}.raw"
                img.write_bytes(bytes(IMG_BYTES))
                args += ["-drive", f"file={img},format=raw,if=none,id=d{n}",
                         "-device", f"virtio-blk-pci,drive=d{n},event_idx={ei}"]
            args += ["-netdev", "hubport,id=h1,hubid=1",
                     "-device", "virtio-net-pci,netdev=h1,mac=52:54:00:12:34:99,event_idx=on"]
            vms[name] = guest.GuestVM(binary, built, interactive=True, append="qc.nodisk",
                                      nic="virtio-net-pci,event_idx=off", extra_args=args)
            vms[name].start()
        for name, vm in vms.items():
            vm.wait_ready()
            feats = guest_features(vm)
            assert [d for d, _ in feats] == ["virtio_net", "virtio_blk", "virtio_blk",
                                             "virtio_net"], (name, feats)
            got = [(f[EVENT_IDX], f[PACKED]) for _, f in feats]
            assert got == [("0", "0"), ("0", "0"), ("1", "0"), ("1", "0")], (name, feats)
        vms["debian"].stop()

        vm = vms["ours"]
        data = os.urandom(1 << 20)
        assert guest.tcp_echo("127.0.0.1", vm.ports["echo"], data, timeout=60) == data
        status, body = guest.http_get("127.0.0.1", vm.ports["http"], "/zero-1m", timeout=60)
        assert status == 200 and len(body) == 1 << 20
        for dev in ("vda", "vdb"):
            vm.shell(f"yes event-idx-block | head -c {size} | "
                     f"dd of=/dev/{dev} bs=65536 seek=16 oflag=direct conv=fsync 2>/dev/null",
                     timeout=120)
            out = vm.shell(f"dd if=/dev/{dev} bs=65536 skip=16 count=16 iflag=direct 2>/dev/null"
                           " | md5sum", timeout=120)
            assert out.split()[0] == hashlib.md5(want).hexdigest(), dev
    finally:
        for vm in vms.values():
            vm.stop()
    for n in (0, 1):
        data = (tmp_path / f"ours{n}.raw").read_bytes()
        assert data[1 << 20:(1 << 20) + size] == want


def vm_on_tap(built, ns, tap, qmp_path, img, *extra):
    """The test guest on tap @tap in @ns with the shared disk, event_idx on both devices."""
    return guest.GuestVM(
        OURS, built, kernel="vmlinux", net=None, prefix=ns.exec_prefix, qmp_path=qmp_path,
        interactive=True, memory="128M",
        append=f"qc.name=mover qc.ip={GUEST_IP}/24 qc.gw={BR_HOST} qc.mac={GUEST_MAC} "
               "qc.sysctl=net.ipv4.tcp_timestamps=0",
        extra_args=["-netdev", f"tap,id=hn0,ifname={tap},script=no,downscript=no,vhost=off",
                    "-device", f"virtio-net-pci,netdev=hn0,mac={GUEST_MAC},event_idx=on",
                    "-drive", f"file={img},format=raw,if=none,id=d0",
                    "-device", "virtio-blk-pci,drive=d0,event_idx=on", *extra])


def test_migration_mid_traffic(built, tmp_path, sockdir):
    """event_idx negotiated on both devices (and mrg_rxbuf on the NIC): while an 8 MiB TCP echo
    stream runs and the guest writes its disk in a loop, the guest is migrated; the stream
    completes byte for byte on the destination and the disk loop carries on there (a lost kick
    or interrupt would leave either stuck)."""
    import socket

    from netns import NetNS, ip
    img = tmp_path / "disk.raw"
    img.write_bytes(bytes(IMG_BYTES))
    with NetNS(prefix="qceidx") as ns:
        ip("-n", ns.name, "link", "add", "qcbr0", "type", "bridge")
        ip("-n", ns.name, "addr", "add", f"{BR_HOST}/24", "dev", "qcbr0")
        ip("-n", ns.name, "link", "set", "qcbr0", "up")
        for tap in ("qceidxa", "qceidxb"):
            ns.add_tap(tap)
            ip("-n", ns.name, "link", "set", tap, "master", "qcbr0")
        a = vm_on_tap(built, ns, "qceidxa", f"{sockdir}/a.sock", img)
        b = vm_on_tap(built, ns, "qceidxb", f"{sockdir}/b.sock", img, "-incoming", "defer")
        try:
            a.start()
            a.wait_ready()
            feats = guest_features(a)
            assert all(f[EVENT_IDX] == "1" for _, f in feats)
            # merged receive buffers too (the default): the stream's frames go over them
            assert [f[MRG_RXBUF] for d, f in feats if d == "virtio_net"] == ["1"]
            a.send("i=0; while true; do i=$((i+1)); yes r$i | head -c 65536 | dd of=/dev/vda"
                   " bs=65536 seek=$((i % 64)) oflag=direct 2>/dev/null; echo QC-ROUND-$i;"
                   " done &")
            a.wait_for(r"QC-ROUND-3\r?\n", timeout=60)
            b.start()
            data = os.urandom(8 << 20)
            got = {}
            with ns.entered():
                client = socket.create_connection((GUEST_IP, 7), timeout=60)

            def stream():
                got["data"] = guest.echo_stream(client, data)

            with client:
                t = threading.Thread(target=stream, daemon=True)
                t.start()
                time.sleep(0.5)  # under way
                migrate_between(a, b, f"unix:{sockdir}/mig.sock")
                t.join(120)
                assert not t.is_alive(), "the echo stream stalled after the migration"
            assert got["data"] == data
            # The disk loop goes on on the destination.
            last = int(b.wait_for(r"QC-ROUND-(\d+)\r?\n", timeout=60).group(1))
            b.wait_for(rf"QC-ROUND-{last + 3}\r?\n", timeout=60)
        finally:
            a.stop()
            b.stop()
