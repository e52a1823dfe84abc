"""Debian's Linux kernel on our CPU (build/bench/boot/cpu-boot: the CPU and the pc machine's
device models, no monitor): it boots from its PVH entry through the decompressed vmlinux and
the bzImage alike, runs the test guest's /init from the initrd and reaches the ready marker,
with no unimplemented instruction on the way. The crypto self-tests are skipped
(cryptomgr.notests): they are 60% of the boot's instructions and test nothing of ours that
the rest does not."""
import os
import re
import subprocess

import pytest

import guest

CPU_BOOT = os.path.join(guest.ROOT, "build", "bench", "boot", "cpu-boot")
APPEND = "console=ttyS0 earlyprintk=serial,ttyS0 cryptomgr.notests"


@pytest.fixture(scope="module")
def built():
    if not os.access(CPU_BOOT, os.X_OK):
        pytest.fail(f"{CPU_BOOT} is not built")
    return guest.build_guest()


def boot(built, kernel, until, budget=0):
    args = [CPU_BOOT, *(["--no-jit"] if guest.interpreter_only() else []), "--kernel", built[kernel], "--initrd", built["initrd"],
            "--append", APPEND, "--until", until, "--timeout", "150"]
    if budget:
        args += ["--budget", str(budget)]
    p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=200)
    stats = re.search(r"stopped \((\w+)\) after (\d+) instructions.*unimplemented (\d+)",
                      p.stderr)
    assert stats, p.stderr[-2000:]
    return p, stats.group(1), int(stats.group(2)), int(stats.group(3))


@pytest.mark.parametrize("kernel", ["vmlinux", "vmlinuz"])
def test_kernel_reaches_ready_marker(built, kernel):
    p, why, insns, unimplemented = boot(built, kernel, guest.READY_MARKER)
    out = p.stdout
    assert why == "until" and p.returncode == 0, out[-3000:] + p.stderr[-3000:]
    # earlyprintk, then the real console, then userspace
    assert "Linux version 6." in out
    assert "printk: console [ttyS0] enabled" in out
    assert "x86/fpu: x87 FPU will use FXSAVE" in out
    assert "NX (Execute Disable) protection: active" in out
    assert "Run /init as init process" in out
    assert "QC-GUEST-INIT" in out
    assert "Kernel panic" not in out and "Oops" not in out and "BUG:" not in out
    assert unimplemented == 0
    # the same kernel and initrd always take about this much work: a change by an order of
    # magnitude means the guest loops somewhere it should not
    assert 1e8 < insns < 3e9


def test_budget_stops_the_boot(built):
    p, why, insns, _ = boot(built, "vmlinux", guest.READY_MARKER, budget=30_000_000)
    assert why == "budget" and p.returncode == 1
    assert 30_000_000 <= insns < 30_100_000
    assert "Linux version" in p.stdout and "Run /init" not in p.stdout
    # the register dump of where it stopped
    assert re.search(r"RIP=ffffffff8[0-9a-f]{7}", p.stderr), p.stderr[-1500:]
