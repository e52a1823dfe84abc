"""A hung secondary yanked out of band (issue 13, "Faults"): the secondary stops (SIGSTOP) in
the middle of the checkpoints, the primary's COLO thread waits on it, and the primary's main
loop is blocked too. `yank` of the migration over QMP out of band gets through anyway, cuts the
COLO channel, the primary reports COLO_EXIT {reason: error} and stays in COLO until told, then
fails over and its guest runs on.

Our primary's main loop does not itself wait on the peer (the COLO thread does, and
x-colo-lost-heartbeat alone wakes it: test_colo.py), so the test blocks it with an in-band
command that waits in open(2) on a FIFO, as upstream's own out-of-band test does."""
import os
import signal
import time

import pytest

from qmp import QMPClient
from test_colo import Pair, built, guest_alive, kill  # noqa: F401 (built is a fixture)


@pytest.fixture
def pair(qemu_bin, built, tmp_path):  # noqa: F811
    p = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.dirty=8 qc.dirty_set=16")
    yield p
    p.stop()


def oob_client(pair, side):
    """Replaces @side's QMP client with one that enabled the oob capability."""
    pair.qmp[side].close()
    q = QMPClient(pair.vms[side].qmp_path, negotiate=False, timeout=60)
    assert q.greeting["QMP"]["capabilities"] == ["oob"]
    assert q.cmd("qmp_capabilities", {"enable": ["oob"]}) == {"return": {}}
    pair.qmp[side] = q
    return q


def test_hung_secondary_yanked_out_of_band(pair, tmp_path):
    pair.start(delay=200)
    p = oob_client(pair, "primary")
    sec = pair.vms["secondary"]
    assert {"type": "migration"} in p.command("query-yank")
    # stop the secondary while checkpoints run: one is under way or the next one's request
    # waits, either way the primary's COLO thread waits on a peer that never answers
    pair.qmp["secondary"].clear_events()
    pair.qmp["secondary"].wait_event("STOP", timeout=60)
    sec.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1)
        n = p.command("x-query-colo-stats")["checkpoints"]
        time.sleep(1.5)  # seven delays
        assert p.command("x-query-colo-stats")["checkpoints"] == n
        p.clear_events()

        fifo = str(tmp_path / "fifo")
        os.mkfifo(fifo)
        p.send_raw('{"execute": "blockdev-add", "arguments": {"driver": "file", "node-name": '
                   f'"f", "filename": "{fifo}", "read-only": true}}, "id": "blocked"}}')
        time.sleep(0.5)
        # the main loop is blocked: in band waits, out of band answers
        p.send_raw('{"execute": "query-status", "id": "in-band"}')
        p.send_raw('{"exec-oob": "query-yank", "id": "q"}')
        r = p.recv(timeout=10)
        assert r["id"] == "q" and {"type": "migration"} in r["return"], r
        t0 = time.monotonic()
        p.send_raw('{"exec-oob": "yank", "arguments": {"instances": [{"type": "migration"}]}, '
                   '"id": "y"}')
        r = p.recv(timeout=10)
        assert r == {"return": {}, "id": "y"}, r
        assert time.monotonic() - t0 < 5
        with pytest.raises(TimeoutError):
            p.recv(timeout=0.5)  # still blocked

        w = os.open(fifo, os.O_WRONLY)
        try:
            assert p.recv(timeout=30)["id"] == "blocked"
        finally:
            os.close(w)
        r = p.recv(timeout=30)
        assert r["id"] == "in-band" and r["return"]["status"] in ("running", "colo"), r
        # the COLO thread saw the cut channel: an error, and the primary stays in COLO
        ev = p.wait_event("COLO_EXIT", timeout=30)
        assert ev["data"] == {"mode": "primary", "reason": "error"}
        assert p.command("query-colo-status")["mode"] == "primary"
        assert p.command("query-migrate")["status"] == "colo"
        assert {"type": "migration"} in p.command("query-yank")

        # then the manager fails over to the primary
        assert p.cmd("x-colo-lost-heartbeat") == {"return": {}}
        ev = p.wait_event("COLO_EXIT", timeout=30)
        assert ev["data"] == {"mode": "primary", "reason": "request"}
        assert p.command("query-migrate")["status"] == "completed"
        assert p.command("query-colo-status") == {
            "mode": "none", "last-mode": "primary", "reason": "request"}
        assert {"type": "migration"} not in p.command("query-yank")
        assert p.command("query-status")["status"] == "running"
        assert guest_alive(pair.vms["primary"])
    finally:
        sec.proc.send_signal(signal.SIGCONT)
    kill(sec)
