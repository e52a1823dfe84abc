"""make demo's walk-through runs: a COLO pair serves a client through the runbook's proxy, a
forced mismatch makes a checkpoint, the client's connection survives the primary's SIGKILL;
then the stand-alone proxy shows each of its three outcomes. Part 3, the Debian disk image
under COLO (scripts/demo_image.py), runs alone and only with LONG_TESTS=1 (marked long)."""
import re
import os
import subprocess
import sys

import pytest

from conftest import ROOT

DEMO = os.path.join(ROOT, "scripts", "demo.py")
BOOT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_demo_shows_colo_failover_and_the_proxy(qemu_bin):
    r = subprocess.run([sys.executable, DEMO, "--part", "pair", "--part", "proxy"],
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


# Two boots of the Debian image on our CPU and a 2 GiB disk copy: 8-12 minutes on the loaded
# shared host (load average 8-17), over CI's budget for one test.
@pytest.mark.long
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_demo_image_part_protects_the_debian_system(qemu_bin):
    r = subprocess.run([sys.executable, DEMO, "--part", "image"], capture_output=True,
                       text=True, timeout=3600)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    m = re.search(rf"GET http://10.0.2.15/ -> qc-debian boot_id=({BOOT_ID})\n", out)
    assert m, out
    first = m.group(1)
    assert re.search(r"ssh root@10.0.2.15 uname -r -> [0-9.]+-[0-9]+-cloud-amd64\n", out), out
    assert re.search(r"in COLO after [0-9.]+ s: query-colo-status mode primary / secondary", out)
    m = re.search(r"written: the guest's sha256 (\w+)\.\.\., the client's (\w+)\.\.\.: equal",
                  out)
    assert m and m.group(1) == m.group(2), out
    m = re.search(rf"the connection: SSH_CONNECTION (10.0.2.2 [0-9]+ 10.0.2.15 22); boot_id "
                  rf"{first} \(the boot above\)", out)
    assert m, out
    conn = m.group(1)
    assert re.search(r"a checkpoint after the sync.*\n.*primary x-query-colo-stats: checkpoints "
                     r"([2-9]|[1-9][0-9]+) .*disk bytes [1-9][0-9]*", out), out
    assert ("COLO_EXIT secondary request; query-colo-status: mode none, last-mode secondary, "
            "reason request") in out
    assert re.search(rf"the client's ssh connection carried on \([0-9.]+ s after the failover "
                     rf"began\): SSH_CONNECTION {conn} \(the same\)", out), out
    assert re.search(r"the file on the survivor: sha256 \w+\.\.\. \(equal\); boot_id unchanged",
                     out), out
    assert f"GET / on a new connection -> qc-debian boot_id={first}" in out
    m = re.search(rf"GET / -> qc-debian boot_id=({BOOT_ID}) \(a new boot: yes\)", out)
    assert m and m.group(1) != first, out
    assert re.search(r"the file after the reboot: sha256 \w+\.\.\. \(equal\)", out), out
