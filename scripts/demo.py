#!/usr/bin/env python3
"""make demo: the COLO proxy at work, step by step, for a newcomer.

A stand-alone colo-compare (build/qemu-system-x86_64 -M none, an iothread, four unix-socket
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


def main():
    if not os.path.exists(QEMU):
        sys.exit(f"{QEMU} is missing: run 'make build' first")
    work = tempfile.mkdtemp(prefix="qc-demo-", dir="/tmp")
    say("qemu-colo demo: a stand-alone colo-compare between two VMs' network output")
    say(f"    {QEMU} -M none -nodefaults -display none -object iothread,id=io0 \\")
    say("      -chardev socket,id=pri,... -chardev socket,id=sec,... -chardev socket,id=out,... \\")
    say("      -chardev socket,id=notify,... -qmp unix:...,server=on,wait=off \\")
    say("      -object colo-compare,id=comp0,primary_in=pri,secondary_in=sec,outdev=out,"
        "iothread=io0,notify_dev=notify")
    say()
    peer = ComparePeer(QEMU, work, qmp=True)
    try:
        peer.start()
        step_agree(peer)
        say()
        step_differ(peer)
        say()
        step_passthrough(peer)
        say()
        say("Done: identical output flows on, a difference asks for a checkpoint, and a "
            "passthrough rule lets a flow that always differs through uncompared.")
    finally:
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)
        time.sleep(0)


if __name__ == "__main__":
    main()
