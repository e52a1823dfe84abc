"""make demo's walk-through runs: the guest answers over HTTP with filters on its traffic, then
the proxy shows each of its three outcomes."""
import re
import os
import subprocess
import sys

from conftest import ROOT


def test_demo_shows_release_checkpoint_and_passthrough(qemu_bin):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"guest ready after [0-9.]+ s: demo-vm ip 10\.0\.2\.15", out), out
    assert "-> 200: <html><body><h1>qemu-colo test guest</h1>" in out
    assert re.search(r"filter-dump on the netdev wrote [1-9][0-9]* packets", out)
    assert re.search(r"filter-mirror copied [1-9][0-9]* frames", out)
    assert "3 of 3 primary segments released to the client, 0 checkpoint requests" in out
    assert "notify_dev says DO_CHECKPOINT: yes" in out
    assert "without a rule: 5 checkpoint requests for 5 segments" in out
    assert "with the rule: 5 of 5 primary segments released at once, 0 checkpoint requests" in out
    assert "passthrough-hits 10" in out
