"""make demo's walk-through runs and shows each of its three outcomes."""
import os
import subprocess
import sys

from conftest import ROOT


def test_demo_shows_release_checkpoint_and_passthrough(qemu_bin):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "3 of 3 primary segments released to the client, 0 checkpoint requests" in out
    assert "notify_dev says DO_CHECKPOINT: yes" in out
    assert "without a rule: 5 checkpoint requests for 5 segments" in out
    assert "with the rule: 5 of 5 primary segments released at once, 0 checkpoint requests" in out
    assert "passthrough-hits 10" in out
