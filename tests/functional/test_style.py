"""The tree follows its .clang-format."""
import subprocess

from conftest import ROOT


def test_c_sources_follow_clang_format():
    files = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    assert files
    r = subprocess.run(["clang-format", "--dry-run", "--Werror"] + files, cwd=ROOT,
                       capture_output=True, text=True)
    offenders = sorted({line.split(":")[0] for line in r.stderr.splitlines() if ": error:" in line})
    assert r.returncode == 0, "run 'make format'; not formatted: " + " ".join(offenders)
