"""make demo's walk-through runs: a COLO pair serves a client through the runbook's proxy, a
forced mismatch makes a checkpoint, the client's connection survives the primary's SIGKILL;
then the stand-alone proxy shows each of its three outcomes."""
import re
import os
import subprocess
import sys

from conftest import ROOT


def test_demo_shows_colo_failover_and_the_proxy(qemu_bin):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py")],
                       capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    # Part 1: the COLO pair
    assert re.search(r"in COLO after [0-9.]+ s: query-colo-status mode primary / secondary", out)
    assert "echo: 20 of 20 messages came back identical" in out
    assert "GET / -> 200: <html><body><h1>qemu-colo test guest</h1>" in out
    assert re.search(r"GET /cgi-bin/clock -> clock [0-9]+\.[0-9]{6}", out), out
    assert "colo-compare asked for a checkpoint: yes" in out
    assert re.search(r"primary x-query-colo-stats: checkpoints [1-9][0-9]* \(timer [0-9]+, "
                     r"compare [1-9]", out), out
    assert re.search(r"primary query-colo-compare: compared [1-9][0-9]*, mismatches [1-9]", out)
    assert ("COLO_EXIT secondary request; query-colo-status: mode none, last-mode secondary, "
            "reason request") in out
    m = re.search(r"carried on: the next message came back ([0-9]+) ms after the failover "
                  r"request, 10 more after it, ([0-9]+) bytes in all, each identical", out)
    assert m, out
    assert int(m.group(2)) == (20 + 1 + 10) * 64  # every message once, none lost
    assert "GET / on a new connection -> 200, from the secondary" in out
    # Part 2: the stand-alone proxy
    assert "3 of 3 primary segments released to the client, 0 checkpoint requests" in out
    assert "notify_dev says DO_CHECKPOINT: yes" in out
    assert "without a rule: 5 checkpoint requests for 5 segments" in out
    assert "with the rule: 5 of 5 primary segments released at once, 0 checkpoint requests" in out
    assert "passthrough-hits 10" in out
