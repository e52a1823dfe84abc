"""The translator (`-accel tcg,jit=on`, ours; the interpreter stays the default): Debian's kernel
boots on it to the test guest's ready marker, both under cpu-boot and in the full binary, where
the guest serves HTTP through slirp and `info jit` counts translated blocks; the option's
errors."""
import os
import re
import subprocess
import time

import pytest

import guest
from qmp import QMPClient

OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
CPU_BOOT = os.path.join(guest.ROOT, "build", "bench", "boot", "cpu-boot")
LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def test_cpu_boot_reaches_ready_marker_translated(built):
    p = subprocess.run([CPU_BOOT, "--jit", "--kernel", built["vmlinux"], "--initrd",
                        built["initrd"], "--append",
                        "console=ttyS0 earlyprintk=serial,ttyS0 cryptomgr.notests", "--until",
                        guest.READY_MARKER, "--timeout", "150"],
                       capture_output=True, text=True, errors="replace", timeout=200)
    out = p.stdout
    assert p.returncode == 0 and "stopped (until)" in p.stderr, out[-3000:] + p.stderr[-3000:]
    assert "Run /init as init process" in out and "QC-GUEST-INIT" in out
    assert "Oops" not in out and "BUG:" not in out and "WARNING:" not in out
    jit = re.search(r"jit: (\d+) blocks, (\d+) instructions translated", p.stderr)
    assert jit and int(jit.group(1)) > 1000, p.stderr[-1000:]


def test_guest_serves_http_with_jit_on(built, tmp_path):
    qmp_path = str(tmp_path / "qmp.sock")
    vm = guest.GuestVM(OURS, built, accel="tcg,jit=on", qmp_path=qmp_path,
                       append="qc.name=jit-guest")
    with vm:
        vm.wait_ready()
        status, body = guest.http_get(LOCAL, vm.ports["http"], "/")
        assert status == 200 and "host jit-guest" in body
        q = QMPClient(qmp_path)
        try:
            info = q.hmp("info jit")
        finally:
            q.close()
    assert info.startswith("Translation buffer state:\r\n") or \
        info.startswith("Translation buffer state:\n"), info
    blocks = int(re.search(r"TB count +(\d+)", info).group(1))
    used, size = map(int, re.search(r"gen code size +(\d+)/(\d+)", info).groups())
    assert blocks > 1000 and 0 < used <= size, info
    assert "translator          on (-accel tcg,jit=on)" in info


def test_info_jit_with_jit_off(tmp_path):
    qmp_path = str(tmp_path / "qmp.sock")
    p = subprocess.Popen([OURS, "-accel", "tcg,jit=off", "-M", "pc", "-display", "none", "-S",
                          "-nodefaults", "-qmp", f"unix:{qmp_path},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(qmp_path):
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
            time.sleep(0.05)
        q = QMPClient(qmp_path)
        try:
            info = q.hmp("info jit")
        finally:
            q.close()
    finally:
        p.kill()
        p.wait()
    assert "TB count            0" in info
    assert "translator          off (-accel tcg,jit=off)" in info


@pytest.mark.parametrize("accel,message", [
    ("tcg,jit=maybe", "-accel tcg,jit=maybe: Parameter 'jit' expects 'on' or 'off'"),
    ("kvm,jit=on", "-accel kvm,jit=on: Property 'kvm-accel.jit' not found"),
    ("tcg,jot=on", "-accel tcg,jot=on: Property 'tcg-accel.jot' not found"),
])
def test_jit_option_errors(accel, message):
    p = subprocess.run([OURS, "-accel", accel, "-M", "none", "-display", "none"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert p.stderr == f"qemu-system-x86_64: {message}\n"
