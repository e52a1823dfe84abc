#!/usr/bin/env python3
"""make demo: the VM and the COLO proxy at work, step by step, for a newcomer.

Part 1 boots the test guest (Debian's kernel and busybox, built by `make guest`) on our own CPU
with `-M pc`, asks its web server for a page from the host through -netdev user's hostfwd, and
shows filter-dump and filter-mirror seeing that traffic.

Part 2: a stand-alone colo-compare (build/qemu-system-x86_64 -M none, an iothread, four unix-socket
chardevs and a QMP socket) stands where a primary host's compare would. This script plays both
VMs: it writes the primary's and the secondary's output frames into primary_in and secondary_in,
reads what the compare releases on outdev and the checkpoint requests on notify_dev, and prints
the compare's own counters from query-colo-compare after each step.
"""
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional", "lib"))

import frames  # noqa: E402
from compare_proc import ComparePeer  # noqa: E402
from guest import GuestVM, build_guest, http_get  # noqa: E402

QEMU = os.path.join(ROOT, "build", "qemu-system-x86_64")
GUEST, CLIENT = "10.0.0.2", "10.0.0.1"


def say(text=""):
    print(text, flush=True)


def counters(peer, before=None):
    info = peer.qmp.command("query-colo-compare", {"id": "comp0"})[0]
    keys = ["primary-in", "secondary-in", "out", "compared", "passthrough-hits", "connections"]
    line = ", ".join(f"{k} {info[k]}" for k in keys)
    cps = info["checkpoint-requests"]
    cps_total = sum(cps.values()) if isinstance(cps, dict) else cps
    say(f"    query-colo-compare: {line}, checkpoint-requests {cps_total}")
    return info


def step_agree(peer):
    say("1. Both VMs answer a web request with the same bytes.")
    flow_p = frames.TcpFlow(GUEST, CLIENT, 80, 40000)
    flow_s = frames.TcpFlow(GUEST, CLIENT, 80, 40000)
    body = [b"HTTP/1.0 200 OK\r\n", b"Content-Type: text/plain\r\n\r\n", b"hello from the VM\n"]
    for chunk in body:
        peer.send_pri(flow_p.segment(chunk))
        peer.send_sec(flow_s.segment(chunk))
    out = peer.released(len(body))
    say(f"    {len(out)} of {len(body)} primary segments released to the client, "
        f"{peer.checkpoints(0.3)} checkpoint requests")
    counters(peer)


def step_differ(peer):
    say("2. The secondary diverges: one byte differs.")
    flow_p = frames.TcpFlow(GUEST, CLIENT, 80, 40001)
    flow_s = frames.TcpFlow(GUEST, CLIENT, 80, 40001)
    peer.send_pri(flow_p.segment(b"balance: 100 EUR\n"))
    peer.send_sec(flow_s.segment(b"balance: 101 EUR\n"))
    got = peer.wait_checkpoint(3.0)
    say(f"    notify_dev says DO_CHECKPOINT: {'yes' if got else 'NO'}; the segment is held")
    say("    the COLO frame would now copy the primary's state to the secondary; it answers "
        "COLO_CHECKPOINT")
    peer.checkpoint_done()
    out = peer.released(1)
    say(f"    after the checkpoint the held primary segment goes out: {out[0][-17:]!r}")
    counters(peer)


def rdp_segments(flow, side, n):
    """Remote-desktop-like traffic: every segment carries the sender's own clock."""
    return [flow.segment(b"frame %d drawn at %s\n" % (i, side)) for i in range(n)]


def step_passthrough(peer):
    say("3. Remote desktop (TCP 3389) carries each VM's own clock: it always differs.")
    n = 5
    flow_p = frames.TcpFlow(GUEST, CLIENT, 3389, 50000)
    flow_s = frames.TcpFlow(GUEST, CLIENT, 3389, 50000)
    cps = 0
    for p, s in zip(rdp_segments(flow_p, b"10:01.000", n), rdp_segments(flow_s, b"10:01.001", n)):
        peer.send_pri(p)
        peer.send_sec(s)
        if peer.wait_checkpoint(2.0):
            cps += 1
        peer.checkpoint_done()
        peer.released_all(0.1)
    say(f"    without a rule: {cps} checkpoint requests for {n} segments")
    counters(peer)

    rule = {"protocol": "tcp", "id": "comp0", "src_port": 3389}
    say(f"    QMP colo-passthrough-add {rule}")
    peer.qmp.command("colo-passthrough-add", rule)
    flow_p = frames.TcpFlow(GUEST, CLIENT, 3389, 50001)
    flow_s = frames.TcpFlow(GUEST, CLIENT, 3389, 50001)
    for p, s in zip(rdp_segments(flow_p, b"10:02.000", n), rdp_segments(flow_s, b"10:02.001", n)):
        peer.send_pri(p)
        peer.send_sec(s)
    out = peer.released(n)
    cps = peer.checkpoints(0.5)
    say(f"    with the rule: {len(out)} of {n} primary segments released at once, "
        f"{cps} checkpoint requests")
    rules = peer.qmp.command("query-colo-passthrough", {"id": "comp0"})
    say(f"    query-colo-passthrough: {rules}")
    counters(peer)


def pcap_records(path):
    """How many packets a pcap file holds (the record headers' captured lengths)."""
    with open(path, "rb") as f:
        data = f.read()
    count, off = 0, 24
    while off + 16 <= len(data):
        caplen = int.from_bytes(data[off + 8:off + 12], "little")
        off += 16 + caplen
        count += 1
    return count


def part_vm(work):
    say("Part 1: the VM. Debian's kernel boots on our own x86-64 CPU (-accel tcg -M pc).")
    guest = build_guest()
    dump = os.path.join(work, "hn0.pcap")
    mirror = os.path.join(work, "mirror.sock")
    vm = GuestVM(QEMU, guest, kernel="vmlinux", append="qc.name=demo-vm",
                 extra_args=["-chardev", f"socket,id=mirror0,path={mirror},server=on,wait=off",
                             "-object", f"filter-dump,id=d0,netdev=n0,file={dump}",
                             "-object", "filter-mirror,id=m0,netdev=n0,queue=tx,outdev=mirror0"])
    argv = " ".join(a if len(a) < 60 else a[:57] + "..." for a in vm.argv[1:])
    say(f"    qemu-system-x86_64 {argv}")
    vm.start()
    reader = None
    try:
        reader = frames.FrameSocket.connect_unix(mirror)
        ready = vm.wait_ready()
        say(f"    guest ready after {ready['seconds']:.1f} s: {ready.get('name', '')} "
            f"ip {ready.get('ip', '')}")
        status, body = http_get("127.0.0.1", vm.ports["http"])
        first = body.strip().splitlines()[0] if body.strip() else ""
        say(f"    GET http://127.0.0.1:{vm.ports['http']}/ -> {status}: {first[:70]}")
        time.sleep(0.3)
        say(f"    filter-dump on the netdev wrote {pcap_records(dump)} packets to {dump}")
        mirrored = reader.drain(0.3)
        say(f"    filter-mirror copied {len(mirrored)} frames sent to the VM to its chardev, as "
            "a primary host does for its secondary")
    finally:
        if reader:
            reader.close()
        vm.stop()


def main():
    if not os.path.exists(QEMU):
        sys.exit(f"{QEMU} is missing: run 'make build' first")
    work = tempfile.mkdtemp(prefix="qc-demo-", dir="/tmp")
    peer = ComparePeer(QEMU, work, qmp=True)
    try:
        if "--no-vm" not in sys.argv:
            part_vm(work)
            say()
        run_proxy(peer)
    finally:
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)


def run_proxy(peer):
    say("Part 2: a stand-alone colo-compare between two VMs' network output")
    say(f"    {QEMU} -M none -nodefaults -display none -object iothread,id=io0 \\")
    say("      -chardev socket,id=pri,... -chardev socket,id=sec,... -chardev socket,id=out,... \\")
    say("      -chardev socket,id=notify,... -qmp unix:...,server=on,wait=off \\")
    say("      -object colo-compare,id=comp0,primary_in=pri,secondary_in=sec,outdev=out,"
        "iothread=io0,notify_dev=notify")
    say()
    peer.start()
    step_agree(peer)
    say()
    step_differ(peer)
    say()
    step_passthrough(peer)
    say()
    say("Done: identical output flows on, a difference asks for a checkpoint, and a "
        "passthrough rule lets a flow that always differs through uncompared.")


if __name__ == "__main__":
    main()
