"""HMP migrate without -d holds its monitor until the migration ends, as 7.2's does; with -d it
returns at once. Each scenario runs on ours and on Debian's QEMU (docs/migration.md)."""
import socket
import time

from qmp import QemuProcess
from test_migration import PC_ARGS, wait_status


def quiet_for(hmp, seconds):
    """What the HMP socket sends within @seconds (it should be nothing but the echo)."""
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hmp.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = hmp.sock.recv(4096)
        except socket.timeout:
            break
        if not data:
            break
        got += data
    return hmp._buf + got


def after_echo(raw):
    return raw.partition(b"\r\n")[2].decode(errors="replace").replace("\r\n", "\n")


def held_then_cancelled(binary):
    """migrate into a pipe nobody reads, with a command typed ahead; QMP cancels it."""
    out = {}
    with QemuProcess(binary, PC_ARGS + ["-name", "held"], hmp=True) as vm:
        vm.hmp.send_raw("migrate \"exec:sleep 30\"\ninfo name\n")
        wait_status(vm, ("active",))
        seen = quiet_for(vm.hmp, 2.5)
        # Held: no prompt and the typed-ahead line not run, while QMP answers. (The guest may be
    # paused in the last pass already: our stream of an empty RAM fits the pipe.)
        out["held"] = b"(qemu) " not in seen and b"VM status" not in seen
        out["qmp meanwhile"] = vm.qmp.cmd("query-name")
        assert vm.qmp.cmd("migrate_cancel") == {"return": {}}
        out["after cancel"] = after_echo(vm.hmp._read_to_prompt(timeout=10))
        # 7.2 gives the prompt back once the status has left active (cancelling will do).
        out["ended at prompt"] = vm.qmp.cmd("query-migrate")["return"]["status"] in (
            "cancelling", "cancelled")
        out["typed ahead"] = after_echo(vm.hmp._read_to_prompt(timeout=10))
    return out


def test_held_until_cancel_beside_debian(qemu_bin, debian_qemu):
    ours = held_then_cancelled(qemu_bin)
    assert ours == held_then_cancelled(debian_qemu)
    assert ours == {"held": True, "qmp meanwhile": {"return": {"name": "held"}}, "after cancel": "",
                    "ended at prompt": True, "typed ahead": "held\n"}


def ends(binary, uri):
    with QemuProcess(binary, PC_ARGS, hmp=True) as vm:
        text = vm.hmp.cmd(f"migrate \"{uri}\"", timeout=60)
        info = vm.qmp.cmd("query-migrate")["return"]
        vm.qmp.cmd("quit")
        assert vm.wait() == 0
        return text, info["status"], info.get("error-desc"), vm.read_stderr()


def test_prompt_after_completion_beside_debian(qemu_bin, debian_qemu):
    ours = ends(qemu_bin, "exec:cat > /dev/null")
    assert ours[:3] == ends(debian_qemu, "exec:cat > /dev/null")[:3]
    assert ours[:3] == ("", "completed", None)


def test_prompt_after_failure_beside_debian(qemu_bin, debian_qemu):
    """The reason goes to stderr (error_report outside a command), not to the monitor."""
    for binary in (qemu_bin, debian_qemu):
        text, status, desc, err = ends(binary, "tcp:127.0.0.1:1")
        assert (text, status) == ("", "failed"), binary
        assert desc == "Failed to connect to '127.0.0.1:1': Connection refused"
        assert f"qemu-system-x86_64: {desc}\n" in err, (binary, err)


def detached(binary):
    with QemuProcess(binary, PC_ARGS, hmp=True) as vm:
        t0 = time.monotonic()
        text = vm.hmp.cmd("migrate -d \"exec:sleep 30\"")
        quick = time.monotonic() - t0 < 5
        status = vm.qmp.cmd("query-migrate")["return"]["status"]
        busy = vm.qmp.cmd("human-monitor-command", {"command-line": "migrate exec:true"})
    with QemuProcess(binary, PC_ARGS) as vm:
        hmc = vm.qmp.cmd("human-monitor-command", {"command-line": "migrate \"exec:sleep 30\""})
        hmc_status = vm.qmp.cmd("query-migrate")["return"]["status"]
    return text, quick, status, busy, hmc, hmc_status


def test_detached_and_human_monitor_command_beside_debian(qemu_bin, debian_qemu):
    ours = detached(qemu_bin)
    ref = detached(debian_qemu)
    # How far the migration got when asked is timing; that it still runs is not.
    assert ours[2] in ("setup", "active") and ours[5] in ("setup", "active")
    assert ours[:2] + ours[3:5] == ref[:2] + ref[3:5]
    text, quick, _, busy, hmc, _ = ours
    assert (text, quick) == ("", True)
    assert busy == {"return": "Error: There's a migration process in progress\r\n"}
    assert hmc == {"return": "terminal does not allow synchronous migration, continuing "
                             "detached\r\n"}
