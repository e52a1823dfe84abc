"""Run control of `-M pc` without booting a kernel (the CPU sits at its reset state), beside
Debian's QEMU 7.2: query-cpus-fast, system_reset and system_powerdown with their events, the
prelaunch/paused/running transitions around a reset, -no-reboot turning system_reset into an
exit, and HMP info cpus / info registers. Booted-guest behaviour is in test_guest.py."""
import os
import re

import pytest

from conftest import DEBIAN_QEMU, QEMU, require_pc
from lib.qmp import QemuProcess


@pytest.fixture(autouse=True)
def ours_has_pc():
    require_pc(QEMU)


PC = ["-M", "pc", "-m", "64", "-nodefaults", "-display", "none"]
BINARIES = {"ours": QEMU, "debian": DEBIAN_QEMU}


@pytest.fixture(params=["ours", "debian"])
def binary(request):
    return BINARIES[request.param]


def start(binary, *args):
    return QemuProcess(binary, PC + list(args), timeout=10)


def test_query_cpus_fast_names_the_vcpu_thread(binary):
    vm = start(binary, "-S")
    try:
        cpus = vm.qmp.command("query-cpus-fast")
        assert len(cpus) == 1
        cpu = cpus[0]
        assert {k: v for k, v in cpu.items() if k != "thread-id"} == {
            "props": {"core-id": 0, "thread-id": 0, "socket-id": 0},
            "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"}
        # A thread of this process, and not its main thread.
        assert cpu["thread-id"] != vm.proc.pid
        assert os.path.exists(f"/proc/{vm.proc.pid}/task/{cpu['thread-id']}")
        assert vm.qmp.hmp("info cpus") == f"* CPU #0: thread_id={cpu['thread-id']}\r\n"
    finally:
        vm.kill()


def test_no_cpu_without_a_machine(binary):
    vm = QemuProcess(binary, ["-M", "none", "-nodefaults", "-display", "none"], timeout=10)
    try:
        assert vm.qmp.command("query-cpus-fast") == []
        assert vm.qmp.hmp("info registers") == "No CPU available\r\n"
        assert vm.qmp.hmp("info cpus") == ""
    finally:
        vm.kill()


def test_reset_and_powerdown_events_and_run_states(binary):
    vm = start(binary, "-S")
    try:
        q = vm.qmp
        assert q.command("system_reset") == {}
        ev = q.wait_event("RESET", timeout=5)
        assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        assert q.command("query-status")["status"] == "prelaunch"
        assert q.command("system_powerdown") == {}
        assert "data" not in q.wait_event("POWERDOWN", timeout=5)
        q.command("cont")
        q.wait_event("RESUME", timeout=5)
        q.command("stop")
        q.wait_event("STOP", timeout=5)
        # A reset while paused starts over from prelaunch, as upstream's main loop does.
        q.hmp("system_reset")
        assert q.wait_event("RESET", timeout=5)["data"]["guest"] is False
        assert q.command("query-status")["status"] == "prelaunch"
        q.command("cont")
        assert q.command("query-status")["status"] == "running"
    finally:
        vm.kill()


def test_no_reboot_turns_system_reset_into_an_exit(binary):
    vm = start(binary, "-S", "-no-reboot")
    try:
        vm.qmp.send_raw(b'{"execute": "system_reset"}\n')
        assert vm.wait(10) == 0
    finally:
        vm.kill()


def test_info_registers_shows_the_reset_state_in_qemus_layout():
    """Without -kernel both CPUs sit at the firmware's reset vector (F000:FFF0, real mode):
    compare the layout (register names per line), and our own values."""
    def lines(binary):
        vm = start(binary, "-S")
        try:
            return vm.qmp.hmp("info registers").split("\r\n")
        finally:
            vm.kill()

    ours, theirs = lines(QEMU), lines(DEBIAN_QEMU)
    names = re.compile(r"([A-Z][A-Z0-9 ]*?)\s*=")
    assert ours[:2] == theirs[:2] == ["", "CPU#0"]
    # Segment lines: compared by name (the hidden parts are printed from different models).
    layout = [names.findall(l)[:1] if re.match(r"(ES|CS|SS|DS|FS|GS|LDT|TR) ?=", l)
              else names.findall(l) for l in ours]
    assert layout == [names.findall(l)[:1] if re.match(r"(ES|CS|SS|DS|FS|GS|LDT|TR) ?=", l)
                      else names.findall(l) for l in theirs]
    assert any(l.startswith("EIP=0000fff0") for l in ours), ours
    assert any(l.startswith("CS =f000 ffff0000 0000ffff") for l in ours), ours
