"""The guest's life cycle inside COLO (docs/colo.md, "Guest life cycle"): a reset on the primary
(system_reset, or the guest's own reboot) reaches the secondary by a checkpoint and the
secondary never resets on its own; a guest power-off with -no-shutdown stops both sides equal,
and without it ends both processes. After each, RAM is equal on both sides and a failover
still works."""
import re
import time

import pytest

import guest
from test_colo import Pair, guest_alive, kill, wait_equal_checkpoint

READY = re.compile(guest.READY_MARKER + r"[^\r\n]*\r?\n")


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def boot_id(vm):
    _, page = guest.http_get("127.0.0.1", vm.ports["http"], "/", timeout=30)
    return guest.parse_stats(page.replace("<pre>", "\n"))["boot_id"]


def wait_stats(q, key, at_least, timeout=60):
    deadline = time.monotonic() + timeout
    while (st := q.cmd("x-query-colo-stats")["return"])[key] < at_least:
        assert time.monotonic() < deadline, st
        time.sleep(0.1)
    return st


def checkpoint_now_and_compare(pair):
    """One checkpoint asked for at once (a new x-checkpoint-delay); RAM equal after it."""
    seen = pair.hashes("primary")["checkpoint"]
    assert pair.qmp["primary"].cmd("migrate-set-parameters",
                                   {"x-checkpoint-delay": 600000}) == {"return": {}}
    a, b = wait_equal_checkpoint(pair, seen)
    diff = [i for i, (x, y) in enumerate(zip(a["hashes"], b["hashes"])) if x != y]
    assert not diff, f"checkpoint {a['checkpoint']}: MiB {diff[:10]} differ"


def ready_count(vm):
    return len(READY.findall(vm.console))


def wait_ready_count(vm, n, timeout=120):
    deadline = time.monotonic() + timeout
    while ready_count(vm) < n:
        assert time.monotonic() < deadline, vm.console[-2000:]
        time.sleep(0.2)


def start_recording(pair, delay):
    pair.start(delay=delay)
    for q in pair.qmp.values():
        q.cmd("x-colo-ram-hashes", {"record": True})
        q.clear_events()


def failover_to_secondary(pair):
    kill(pair.vms["primary"])
    s = pair.qmp["secondary"]
    assert s.cmd("x-colo-lost-heartbeat") == {"return": {}}
    ev = s.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
    assert ev["data"] == {"mode": "secondary", "reason": "request"}


def secondary_follows_reset(pair, first):
    """After a reset of the primary: it checkpointed at once, both boot the reset machine, and
    after one more checkpoint the secondary runs the primary's new boot, with RAM equal and no
    reset of its own. Returns the new boot id."""
    p, s = pair.qmp["primary"], pair.qmp["secondary"]
    pri, sec = pair.vms["primary"], pair.vms["secondary"]
    st = wait_stats(p, "by-vm-state", 1)
    assert st["by-timer"] == 0, st
    wait_ready_count(pri, 2)
    # the secondary came in by migration: its console shows only the boot after the reset
    wait_ready_count(sec, 1)
    # what each guest drew at random while booting (its boot id) is made the primary's by the
    # next checkpoint, as every divergence is
    checkpoint_now_and_compare(pair)
    second = boot_id(pri)
    assert second != first
    assert boot_id(sec) == second
    assert not [e for e in s.get_events() if e["event"] == "RESET"]
    return second


def test_system_reset_on_primary_reaches_secondary(qemu_bin, built, tmp_path):
    """system_reset on the secondary is held (its VM waits for the next checkpoint, which
    brings the primary's unchanged guest); stop and cont on the primary reach the secondary;
    system_reset on the primary reaches it too."""
    pair = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.dirty=4 qc.dirty_set=16",
                no_reboot=False)
    try:
        start_recording(pair, delay=600000)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        pri, sec = pair.vms["primary"], pair.vms["secondary"]
        first = boot_id(pri)
        assert boot_id(sec) == first
        assert s.cmd("system_reset") == {"return": {}}
        assert status(s) == "colo"  # held, stopped
        checkpoint_now_and_compare(pair)
        wait_status(s, "running")
        assert not [e for e in s.get_events() if e["event"] == "RESET"]
        assert boot_id(sec) == first
        # stop on the primary: the secondary follows, and a checkpoint resumes neither
        assert p.cmd("stop") == {"return": {}}
        wait_status(s, "paused")
        checkpoint_now_and_compare(pair)
        assert status(p) == status(s) == "paused"
        assert p.cmd("cont") == {"return": {}}
        wait_status(s, "running")
        assert p.cmd("system_reset") == {"return": {}}
        ev = p.wait_event("RESET", timeout=30)
        assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        second = secondary_follows_reset(pair, first)
        failover_to_secondary(pair)
        assert guest_alive(sec)
        assert boot_id(sec) == second
    finally:
        pair.stop()


def test_guest_reboot_inside_colo(qemu_bin, built, tmp_path):
    """Both guests ask for a reboot (qc.reboot): the primary resets and checkpoints; the
    secondary's own request, if it comes first, is held until that checkpoint."""
    pair = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.reboot=20", no_reboot=False)
    try:
        start_recording(pair, delay=600000)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        first = boot_id(pair.vms["primary"])
        ev = p.wait_event("RESET", timeout=60)
        assert ev["data"] == {"guest": True, "reason": "guest-reset"}
        second = secondary_follows_reset(pair, first)
        failover_to_secondary(pair)
        assert s.cmd("query-status")["return"]["status"] == "running"
        # the failed-over guest carries on from the rebooted state (it reboots again later)
        _, page = guest.http_get("127.0.0.1", pair.vms["secondary"].ports["http"], "/",
                                 timeout=30)
        assert second in page
    finally:
        pair.stop()


def status(q):
    return q.cmd("query-status")["return"]["status"]


def wait_status(q, want, timeout=60):
    deadline = time.monotonic() + timeout
    while (now := status(q)) != want:
        assert time.monotonic() < deadline, now
        time.sleep(0.1)


def test_stop_in_checkpoint_pause_holds(qemu_bin, built, tmp_path):
    """`stop` on the primary while a checkpoint holds its VM (status colo, checkpoints back to
    back): it takes at once (paused), the checkpoint it asks for brings the secondary into
    paused, and the checkpoints after it resume neither; cont runs both again. 7.2 ignores a
    stop in that window and its VM runs on: a manager's stop lost."""
    pair = Pair(qemu_bin, built, tmp_path)
    try:
        start_recording(pair, delay=50)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        for _ in range(3):
            deadline = time.monotonic() + 30
            while status(p) != "colo":
                assert time.monotonic() < deadline, "no checkpoint pause seen"
            assert p.cmd("stop") == {"return": {}}
            assert status(p) == "paused"
            wait_status(s, "paused")
            n = p.cmd("x-query-colo-stats")["return"]["checkpoints"]
            wait_stats(p, "checkpoints", n + 2)
            assert status(p) == status(s) == "paused"
            assert p.cmd("cont") == {"return": {}}
            wait_status(s, "running")
        assert guest_alive(pair.vms["primary"])
    finally:
        pair.stop()


def test_guest_poweroff_with_no_shutdown(qemu_bin, built, tmp_path):
    """-no-shutdown on both: the power-off stops both in state shutdown, equal; a reset and
    cont on the primary run both again; a failover keeps the primary running."""
    pair = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.poweroff=15",
                both_args=["-no-shutdown"], no_reboot=False)
    try:
        start_recording(pair, delay=600000)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        ev = p.wait_event("SHUTDOWN", timeout=60)
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
        wait_stats(p, "by-vm-state", 1)
        wait_status(p, "shutdown")
        wait_status(s, "shutdown")
        ev = s.wait_event("SHUTDOWN", timeout=30)
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
        checkpoint_now_and_compare(pair)
        assert status(p) == status(s) == "shutdown"  # a checkpoint keeps them so
        assert p.cmd("cont")["error"]["desc"] == (
            "Resetting the Virtual Machine is required")
        assert p.cmd("system_reset") == {"return": {}}
        wait_status(s, "prelaunch")
        assert p.cmd("cont") == {"return": {}}
        wait_status(s, "running")
        # the cont's checkpoint (state colo) resumes the primary a moment after the secondary
        wait_status(p, "running", timeout=30)
        kill(pair.vms["secondary"])
        assert p.cmd("x-colo-lost-heartbeat") == {"return": {}}
        p.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
        wait_ready_count(pair.vms["primary"], 2)
        assert status(p) in ("running", "shutdown")  # its guest powers off again, 15 s on
    finally:
        pair.stop()


def test_guest_poweroff_ends_both(qemu_bin, built, tmp_path):
    """Without -no-shutdown the guest's power-off ends the primary after one last checkpoint
    that tells the secondary, which ends too: the service was shut down, not lost."""
    pair = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.poweroff=15")
    try:
        start_recording(pair, delay=600000)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        for side, q in (("primary", p), ("secondary", s)):
            ev = q.wait_event("SHUTDOWN", timeout=60)
            assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}, side
        for side, vm in pair.vms.items():
            assert vm.wait_exit(30) == 0, side
        for side, q in (("primary", p), ("secondary", s)):
            assert not [e for e in q.get_events() if e["event"] == "COLO_EXIT"], side
    finally:
        pair.stop()
