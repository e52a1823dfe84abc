#!/usr/bin/env python3
"""make demo: COLO at work on this machine, step by step, for a newcomer.

Part 1 runs a COLO pair of the test guest (Debian's kernel and busybox, built by `make guest`)
on our own CPU, wired as upstream's runbook wires one (tests/functional/lib/colo_pair.py): both
VMs' taps on a bridge in a network namespace, filter-mirror, the filter-redirectors and
colo-compare on the primary, the redirectors and filter-rewriter on the secondary. A client in
the namespace talks to the guest's echo and web services; one request whose answer differs on
the two sides (/cgi-bin/clock) makes colo-compare ask for a checkpoint; then the primary is
killed (SIGKILL), the secondary takes over (x-colo-lost-heartbeat) and the client's connection
carries on. The COLO stats (x-query-colo-stats, query-colo-compare) are printed at each step.
It needs root (the namespace).

Part 2: a stand-alone colo-compare (build/qemu-system-x86_64 -M none, an iothread, four unix-socket
chardevs and a QMP socket) stands where a primary host's compare would. This script plays both
VMs: it writes the primary's and the secondary's output frames into primary_in and secondary_in,
reads what the compare releases on outdev and the checkpoint requests on notify_dev, and shows
a passthrough rule letting a flow that always differs through uncompared.

Part 3 (scripts/demo_image.py): the Debian disk image, an installed system booting through
SeaBIOS and GRUB, as a COLO pair with block replication: a client's ssh connection writes to
its disk, outlives the primary's SIGKILL, and a reboot from inside comes back. Minutes.

    scripts/demo.py [--part pair|proxy|image]...    (default: all three, in that order)
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional", "lib"))

import colo_client as cc  # noqa: E402
import frames  # noqa: E402
from colo_pair import ColoPair  # noqa: E402
from compare_proc import ComparePeer  # noqa: E402
from demo_image import part_image  # noqa: E402
from demo_out import colo_stats, say  # noqa: E402
from guest import build_guest, http_get  # noqa: E402

QEMU = os.path.join(ROOT, "build", "qemu-system-x86_64")
GUEST, CLIENT = "10.0.0.2", "10.0.0.1"


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


def compare_stats(pair):
    info = pair.qmp["primary"].cmd("query-colo-compare", {"id": "comp0"})["return"][0]
    mism = sum(info["mismatches"].values())
    say(f"    primary query-colo-compare: compared {info['compared']}, mismatches {mism}, "
        f"checkpoint-requests {sum(info['checkpoint-requests'].values())}, "
        f"out {info['out']}, connections {info['connections']}")
    return info


def wait_checkpoint(pair, after, timeout=30):
    deadline = time.monotonic() + timeout
    while pair.stats("primary")["checkpoints"] <= after:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def part_colo(work):
    say("Part 1: a COLO pair of the test guest on our own CPU, upstream's runbook wiring.")
    say("    primary:   -netdev tap,id=hn0,... -object filter-mirror,id=m0,netdev=hn0,queue=tx,"
        "outdev=mirror0 \\")
    say("               -object filter-redirector,...redire0/redire1 -object iothread,id=iothread1 "
        "\\")
    say("               -object colo-compare,id=comp0,primary_in=compare0-0,secondary_in=compare1,"
        "outdev=compare_out0,iothread=iothread1")
    say("    secondary: -netdev tap,id=hn0,... -object filter-redirector,id=f1/f2,... "
        "-object filter-rewriter,id=rew0,netdev=hn0,queue=all -incoming tcp:0.0.0.0:9998")
    say("    both: migrate-set-capabilities x-colo on; primary: x-checkpoint-delay 2000, "
        "migrate tcp:127.0.0.1:9998")
    t0 = time.monotonic()
    pair = ColoPair(QEMU, build_guest(), work, delay=2000)
    pair.start()
    try:
        modes = [pair.qmp[s].cmd("query-colo-status")["return"]["mode"]
                 for s in ("primary", "secondary")]
        say(f"    booted and in COLO after {time.monotonic() - t0:.1f} s: query-colo-status mode "
            f"{modes[0]} / {modes[1]}")
        say()
        with pair.ns.entered():
            conn = step_client(pair)
            say()
            step_mismatch(pair)
            say()
            step_failover(pair, conn)
            conn.close()
    finally:
        pair.stop()


def step_client(pair):
    say(f"1. A client ({pair.client_ip}) talks to the guest ({pair.guest_ip}) through the proxy.")
    conn = cc.EchoConn(pair.guest_ip)
    n = 20
    lat = [conn.roundtrip(conn.message()) for _ in range(n)]
    say(f"    echo: {n} of {n} messages came back identical, p50 "
        f"{cc.percentile(lat, 50) * 1000:.1f} ms")
    status, body = http_get(pair.guest_ip, 80)
    say(f"    GET / -> {status}: {body.strip().splitlines()[0][:60]}")
    colo_stats(pair, "primary")
    compare_stats(pair)
    return conn


def step_mismatch(pair):
    say("2. A forced mismatch: /cgi-bin/clock answers each VM's own clock.")
    n = pair.stats("primary")["checkpoints"]
    before = pair.stats("primary")["by-compare"]
    _, body = http_get(pair.guest_ip, 80, "/cgi-bin/clock")
    say(f"    GET /cgi-bin/clock -> {body.strip().splitlines()[0]} (the primary's, released by "
        "the checkpoint)")
    got = wait_checkpoint(pair, n)
    st = colo_stats(pair, "primary")
    asked = got and st["by-compare"] > before
    say(f"    colo-compare asked for a checkpoint: {'yes' if asked else 'NO'}")
    compare_stats(pair)


def step_failover(pair, conn):
    say("3. The primary dies (SIGKILL); the secondary takes over.")
    pair.kill("primary")
    qs = pair.qmp["secondary"]
    t1 = time.monotonic()
    qs.cmd("x-colo-lost-heartbeat")
    say("    secondary: x-colo-lost-heartbeat")
    conn.roundtrip(conn.message(), timeout=30)
    first = (time.monotonic() - t1) * 1000
    ev = qs.wait_event("COLO_EXIT", match={"reason": "request"}, timeout=30)
    status = qs.cmd("query-colo-status")["return"]
    say(f"    COLO_EXIT {ev['data']['mode']} {ev['data']['reason']}; query-colo-status: mode "
        f"{status['mode']}, last-mode {status['last-mode']}, reason {status['reason']}")
    n = 10
    for _ in range(n):
        conn.roundtrip(conn.message(), timeout=30)
    say(f"    the client's echo connection carried on: the next message came back {first:.0f} ms "
        f"after the failover request, {n} more after it, {conn.sent} bytes in all, each identical")
    status, _ = http_get(pair.guest_ip, 80)
    say(f"    GET / on a new connection -> {status}, from the secondary")
    colo_stats(pair, "secondary")


PARTS = ("pair", "proxy", "image")


def main():
    ap = argparse.ArgumentParser(description="COLO at work, step by step (make demo).")
    ap.add_argument("--part", action="append", choices=PARTS,
                    help="run this part (repeatable; default: all)")
    parts = ap.parse_args().part or PARTS
    if not os.path.exists(QEMU):
        sys.exit(f"{QEMU} is missing: run 'make build' first")
    work = tempfile.mkdtemp(prefix="qc-demo-", dir="/tmp")
    peer = ComparePeer(QEMU, work, qmp=True)
    try:
        if "pair" in parts:
            part_colo(work)
            say()
        if "proxy" in parts:
            run_proxy(peer)
            say()
        if "image" in parts:
            part_image(QEMU, work)
            say()
        say(f"Done: {', '.join(DONE[p] for p in PARTS if p in parts)}.")
    finally:
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)


DONE = {
    "pair": "the pair served the client, a difference asked for a checkpoint, and the "
            "secondary carried the client's connection on after the primary died",
    "proxy": "a passthrough rule lets a flow that always differs through uncompared",
    "image": "the installed Debian system, protected while it ran, kept its ssh connection "
             "and its written file through the primary's death, and rebooted from inside",
}


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


if __name__ == "__main__":
    main()
