"""The translator (ours; the default, `-accel tcg,jit=off` selects the interpreter): Debian's
kernel boots on it to the test guest's ready marker in the full binary, where the guest serves
HTTP through slirp and `info jit` counts translated blocks; `info jit` with jit=off; the
option's errors. (test_cpu_boot.py boots cpu-boot, translating by default.)"""
import os
import re
import subprocess
import time

import pytest

import guest
from qmp import QMPClient

OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def test_guest_serves_http_with_jit_on(built, tmp_path):
    if guest.interpreter_only():
        pytest.skip("QEMU_COLO_JIT=0: this file checks the translator")
    qmp_path = str(tmp_path / "qmp.sock")
    vm = guest.GuestVM(OURS, built, accel="tcg", qmp_path=qmp_path,
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
    assert "translator          on (the default)" in info
    # the count of SSE forms translated code ran through their handler (any number)
    assert re.search(r"SSE handler-called in translated code \d+\r?\n", info), info


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
