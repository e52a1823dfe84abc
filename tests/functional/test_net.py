"""Netdevs and filters, black-box through the command line and sockets.

The packet path without a guest: netdevs joined by a hub (-netdev hubport,netdev=...)."""
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import run
from frames import (BROADCAST, ETH_P_ARP, ETH_P_EXPERIMENTAL, ETH_P_IP, IPPROTO_TCP, SYN,
                    arp_frame, eth, frame, nothing_arrives, recv_frame)
from nethub import SocketHub
from procs import connect_loopback, free_port, free_ports


GUEST_MAC = bytes.fromhex("525400123456")


def strip_prefix(line):
    """The message without the program name and the command-line location."""
    line = line.split("qemu-system-x86_64: ", 1)[-1]
    if line.startswith("-") and ": " in line:
        line = line.split(": ", 1)[1]
    return line


def first_error(proc):
    lines = [l for l in proc.stderr.splitlines() if "warning" not in l]
    return strip_prefix(lines[0]) if lines else ""


# ---- error messages, against Debian's QEMU ----

BAD_NETDEVS = [
    ["-netdev", "socket,id=n0,foo=1"],
    ["-netdev", "socket,id=n0"],
    ["-netdev", "socket"],
    ["-netdev", "bogus,id=x"],
    ["-netdev", "socket,id=n0,listen=127.0.0.1:1,connect=127.0.0.1:1"],
    ["-netdev", "hubport,id=h0"],
    ["-netdev", "hubport,id=h0,hubid=0,netdev=zz"],
    ["-netdev", "user,id=u0,hostfwd=tcp::bad"],
    ["-netdev", "user,id=u0,hostfwd=tcp::1-:x"],
    ["-netdev", "user,id=u0,hostfwd=icmp::1-:2"],
    ["-netdev", "user,id=u0,net=300.0.0.0"],
    ["-netdev", "user,id=u0,net=10.0.0.0/40"],
    ["-netdev", "user,id=u0,restrict=maybe"],
    ["-netdev", "user,id=u0", "-netdev", "user,id=u0"],
    ["-netdev", "socket,id=0bad,listen=127.0.0.1:1"],
    ["-netdev", "socket,id=n0,udp=127.0.0.1:5000"],
    ["-netdev", "socket,id=n0,listen=1234"],
    ["-netdev", "socket,id=n0,listen=:abc"],
    ["-netdev", "tap,id=t0,script=no,fd=3,ifname=x"],
]

BAD_FILTERS = [
    "filter-mirror,id=m0",
    "filter-mirror,id=m0,netdev=u0",
    "filter-mirror,id=m0,netdev=u0,outdev=zz",
    "filter-redirector,id=r0,netdev=u0",
    "filter-redirector,id=r0,netdev=u0,indev=zz",
    "filter-redirector,id=r0,netdev=u0,outdev=zz",
    "filter-buffer,id=b0",
    "filter-dump,id=d0,netdev=zz,file=/tmp/x",
    "filter-dump,id=d0,netdev=u0",
    "filter-dump,id=d0,netdev=u0,file=/nonexistent/x",
    "filter-dump,id=d0,netdev=u0,file=/tmp/x,maxlen=0",
    "filter-buffer,id=b0,netdev=u0",
    "filter-buffer,id=b0,netdev=u0,interval=0",
    "filter-buffer,id=b0,netdev=u0,interval=10,status=maybe",
    "filter-buffer,id=b0,netdev=u0,interval=10,position=mid",
    "filter-buffer,id=b0,netdev=u0,interval=10,position=id=zz",
    "filter-buffer,id=b0,netdev=u0,interval=10,insert=x",
    "filter-buffer,id=b0,netdev=u0,interval=10,queue=x",
]


def assert_same_first_error(qemu_bin, debian_qemu, args):
    """Both binaries exit 1 on @args with the same first error (prefixes and warnings aside)."""
    ours = run(qemu_bin, *args, timeout=5)
    theirs = run(debian_qemu, *args, timeout=5)
    assert ours.returncode == 1
    assert theirs.returncode == 1
    assert first_error(ours) == first_error(theirs)


@pytest.mark.parametrize("args", BAD_NETDEVS, ids=lambda a: " ".join(a))
def test_netdev_errors_match_upstream(qemu_bin, debian_qemu, args):
    assert_same_first_error(qemu_bin, debian_qemu, args)


@pytest.mark.parametrize("obj", BAD_FILTERS)
def test_filter_errors_match_upstream(qemu_bin, debian_qemu, obj):
    assert_same_first_error(qemu_bin, debian_qemu, ["-netdev", "user,id=u0", "-object", obj])


def test_filter_position_other_netdev(qemu_bin, debian_qemu):
    args = ["-netdev", "user,id=u0", "-netdev", "user,id=u1",
            "-object", "filter-buffer,id=b0,netdev=u0,interval=10",
            "-object", "filter-buffer,id=b1,netdev=u1,interval=10,position=id=b0"]
    ours = run(qemu_bin, *args, timeout=5)
    theirs = run(debian_qemu, *args, timeout=5)
    assert first_error(ours) == first_error(theirs) == \
        "filter 'b0' belongs to a different netdev"


# ---- the packet path ----

def ethernet(body):
    """A frame only the hub and the filters look at: nobody parses its ethertype."""
    return eth(body, ETH_P_EXPERIMENTAL, dst=BROADCAST)


def two_socket_hub(qemus, binary, *extra):
    """Netdevs a and b (TCP listeners) on hub 0; returns (qemu, sock_a, sock_b)."""
    hub = SocketHub()
    q = qemus(binary, *hub.args(), *extra)
    return (q, *hub.connect_probed())


def test_socket_netdevs_through_hub(qemus, qemu_bin):
    q, sa, sb = two_socket_hub(qemus, qemu_bin)
    frames = [ethernet(bytes([i]) * (10 + i * 100)) for i in range(10)]
    # Many frames in one write, and one frame split in two writes.
    sa.sendall(b"".join(frame(f) for f in frames[:9]))
    whole = frame(frames[9])
    sa.sendall(whole[:7])
    time.sleep(0.05)
    sa.sendall(whole[7:])
    for f in frames:
        assert recv_frame(sb)[1] == f
    # And back.
    sb.sendall(frame(b"reply-frame-1234"))
    assert recv_frame(sa)[1] == b"reply-frame-1234"


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, vmaj, vmin, _, _, snaplen, linktype = struct.unpack("=IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4
    assert (vmaj, vmin) == (2, 4)
    recs, off = [], 24
    while off < len(data):
        sec, usec, caplen, length = struct.unpack("=IIII", data[off:off + 16])
        recs.append((caplen, length, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return snaplen, linktype, recs


def test_filter_dump_writes_pcap(qemus, qemu_bin, sockdir):
    path = os.path.join(sockdir, "dump.pcap")
    q, sa, sb = two_socket_hub(qemus, qemu_bin,
                               "-object", f"filter-dump,id=d0,netdev=b,file={path},maxlen=64")
    payloads = [ethernet(b"x" * 10), ethernet(b"y" * 200)]
    for p in payloads:
        sa.sendall(frame(p))
        assert recv_frame(sb)[1] == p
    q.stop()
    snaplen, linktype, recs = read_pcap(path)
    assert snaplen == 64 and linktype == 1
    # The probe frame, then ours; the long one is cut to maxlen.
    assert [r[2] for r in recs[-2:]] == [payloads[0], payloads[1][:64]]
    assert recs[-1][:2] == (64, len(payloads[1]))
    # libpcap's own reader (tcpdump, installed by scripts/install-deps) accepts the file.
    out = subprocess.run(["tcpdump", "-nr", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    packets = [line for line in out.stdout.splitlines() if not line.startswith("\t")]
    assert len(packets) == len(recs)
    assert packets[-1].endswith(f"length {len(payloads[1])}: ")


def test_filter_buffer_holds_then_releases(qemus, qemu_bin):
    q, sa, sb = two_socket_hub_with_buffer(qemus, qemu_bin)
    # The first frame leaves at some tick; one sent right after it waits a whole interval.
    sa.sendall(frame(b"held-frame-0001"))
    assert recv_frame(sb, timeout=3)[1] == b"held-frame-0001"
    tick = time.monotonic()
    sa.sendall(frame(b"held-frame-0002"))
    assert nothing_arrives(sb, wait=0.2)
    assert recv_frame(sb, timeout=3)[1] == b"held-frame-0002"
    waited = time.monotonic() - tick
    assert 0.3 <= waited <= 1.5, f"released {waited:.3f}s after the previous tick"


def two_socket_hub_with_buffer(qemus, binary):
    hub = SocketHub()
    q = qemus(binary, *hub.args(),
              "-object", "filter-buffer,id=f0,netdev=a,queue=tx,interval=400000")
    return (q, *hub.connect())


def test_udp_netdev(qemus, qemu_bin):
    pa, pq, pt = free_ports(3)
    q = qemus(qemu_bin,
              "-netdev", f"socket,id=a,listen=127.0.0.1:{pa}",
              "-netdev", f"socket,id=u,udp=127.0.0.1:{pt},localaddr=127.0.0.1:{pq}",
              "-netdev", "hubport,id=ha,hubid=0,netdev=a",
              "-netdev", "hubport,id=hu,hubid=0,netdev=u")
    sa = connect_loopback(pa)
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("127.0.0.1", pt))
    us.settimeout(5)
    time.sleep(0.2)
    sa.sendall(frame(b"over-udp-frame"))
    data, _ = us.recvfrom(2048)
    assert data == b"over-udp-frame"
    us.sendto(b"from-udp-frame", ("127.0.0.1", pq))
    assert recv_frame(sa)[1] == b"from-udp-frame"


# ---- libslirp and tap, inside a network namespace this test creates ----

NETNS_HELPER = r"""
import array, fcntl, os, socket, struct, subprocess, sys
TUNSETIFF = 0x400454ca
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"qctap0", IFF_TAP | IFF_NO_PI))
for cmd in ("ip link set lo up", "ip addr add 10.0.2.15/24 dev qctap0",
            "ip link set qctap0 up", "ip route add default via 10.0.2.2"):
    subprocess.run(cmd.split(), check=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.0.2.15", 7777))
srv.listen(1)
ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ctl.connect(sys.argv[1])
socket.send_fds(ctl, [b"tap"], [tun])
os.close(tun)
srv.settimeout(10)
conn, _ = srv.accept()
data = conn.recv(100)
conn.sendall(b"echo:" + data)
conn.close()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_slirp_hostfwd_reaches_listener_behind_tap(qemus, qemu_bin, sockdir):
    ns = f"qcnet{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    helper = None
    try:
        ctl_path = os.path.join(sockdir, "ctl")
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.bind(ctl_path)
        ctl.listen(1)
        ctl.settimeout(10)
        helper = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                                   NETNS_HELPER, ctl_path])
        conn, _ = ctl.accept()
        _, fds, _, _ = socket.recv_fds(conn, 10, 1)
        tapfd = fds[0]
        hp = free_port()
        q = qemus(qemu_bin,
                  "-netdev", f"tap,id=t0,fd={tapfd}",
                  "-netdev", f"user,id=u0,hostfwd=tcp:127.0.0.1:{hp}-10.0.2.15:7777,"
                             f"hostfwd=udp:127.0.0.1:{hp}-10.0.2.15:7778",
                  "-netdev", "hubport,id=h0,hubid=0,netdev=t0",
                  "-netdev", "hubport,id=h1,hubid=0,netdev=u0",
                  pass_fds=[tapfd])
        os.close(tapfd)
        c = connect_loopback(hp)
        c.settimeout(10)
        c.sendall(b"ping")
        reply = b""
        while len(reply) < 9:
            chunk = c.recv(100)
            if not chunk:
                break
            reply += chunk
        assert reply == b"echo:ping"
        assert helper.wait(timeout=10) == 0
    finally:
        if helper and helper.poll() is None:
            helper.kill()
        subprocess.run(["ip", "netns", "del", ns])


def test_zero_length_frame_does_not_stall(qemus, qemu_bin):
    """Upstream's socket netdev stops reading after a zero-length frame; ours goes on."""
    q, sa, sb = two_socket_hub(qemus, qemu_bin)
    sa.sendall(frame(b"") + frame(b"after-empty"))
    assert recv_frame(sb)[1] == b""
    assert recv_frame(sb)[1] == b"after-empty"


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_user_netdev_leaves_the_process_asleep(qemus, qemu_bin):
    """A -netdev user with a host forward and nothing to do must not keep the main loop
    running: a busy loop there takes a core from the vCPU and starves it of the big lock."""
    q = qemus(qemu_bin, "-netdev", f"user,id=u0,hostfwd=tcp:127.0.0.1:{free_port()}-:7")
    time.sleep(0.5)
    assert q.alive()
    before = cpu_seconds(q.proc.pid)
    time.sleep(2)
    used = cpu_seconds(q.proc.pid) - before
    assert used < 0.2, f"{used:.2f} CPU-seconds in 2 s of idling"


def test_slirp_sends_held_packet_once_guest_mac_is_known(qemus, qemu_bin):
    """Slirp holds the first packet of a host forward until the guest answers its ARP request;
    the answer must release it at once (upstream's main loop gives slirp a pass on every
    iteration), not on slirp's 500 ms slow timer, which made every first connection to a guest
    (a failed-over secondary's included) half a second late."""
    hub = SocketHub(names=("a",))
    hp = free_port()
    qemus(qemu_bin, *hub.args(),
          "-netdev", f"user,id=u0,hostfwd=tcp:127.0.0.1:{hp}-10.0.2.15:80",
          "-netdev", "hubport,id=hu,hubid=0,netdev=u0")
    (wire,) = hub.connect()
    client = connect_loopback(hp)
    try:
        while True:
            _, f = recv_frame(wire, timeout=5)
            if f[12:14] == struct.pack("!H", ETH_P_ARP) and f[38:42] == socket.inet_aton(
                    "10.0.2.15"):
                break
        slirp_mac, slirp_ip = f[22:28], f[28:32]
        reply = arp_frame("10.0.2.15", socket.inet_ntoa(slirp_ip), op=2, sender_mac=GUEST_MAC,
                          target_mac=slirp_mac)
        t0 = time.monotonic()
        wire.sendall(frame(reply))
        while True:
            _, f = recv_frame(wire, timeout=5)
            if f[12:14] == struct.pack("!H", ETH_P_IP) and f[23] == IPPROTO_TCP:
                break
        waited = time.monotonic() - t0
        assert f[0:6] == GUEST_MAC
        assert f[47] & SYN, "the held packet is the forward's SYN"
        assert waited < 0.25, f"the SYN came {waited * 1000:.0f} ms after the ARP reply"
    finally:
        client.close()
