"""Out-of-band QMP and yank through the binary, beside Debian's QEMU 7.2 (docs/qmp.md): the
oob capability, exec-oob's errors, yank/query-yank replies byte for byte, an out-of-band reply
overtaking an in-band command that blocks the main loop, and yank cutting a chardev's client
and a migration's channel."""
import contextlib
import os
import socket
import threading
import time

import pytest

from procs import free_port
from qmp import QMPClient, QemuProcess

BASE = ["-M", "none", "-nodefaults", "-display", "none"]


def raw_session(binary, tmp_path, requests, extra=()):
    """Runs @requests (JSON text lines) on a fresh QMP socket, one reply line each; returns the
    reply lines exactly as written (the greeting dropped)."""
    qsock = str(tmp_path / "q.sock")
    c0 = str(tmp_path / "c0.sock")
    # -qmp last: upstream creates the chardevs in command-line order, ours -qmp's after
    args = list(extra) + ["-chardev", f"socket,id=c0,path={c0},server=on,wait=off",
                          "-chardev", "null,id=c1", "-qmp", f"unix:{qsock},server=on,wait=off"]
    with QemuProcess(binary, BASE + args):
        deadline = time.monotonic() + 10
        while not os.path.exists(qsock):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(qsock)
        f = s.makefile("rwb", buffering=0)
        greeting = f.readline()
        assert b'"capabilities": ["oob"]' in greeting
        out = []
        for r in requests:
            f.write(r.encode() + b"\n")
            out.append(f.readline().decode())
        s.close()
    for name in ("q.sock", "c0.sock"):
        if os.path.exists(tmp_path / name):
            os.unlink(tmp_path / name)
    return out


SURFACE = [
    '{"exec-oob": "query-yank", "id": 1}',
    '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}',
    '{"exec-oob": "query-yank"}',
    '{"exec-oob": "query-yank", "id": "a"}',
    '{"exec-oob": "query-status", "id": 2}',
    '{"exec-oob": "nosuch", "id": 3}',
    '{"exec-oob": "qmp_capabilities", "id": 5}',
    '{"exec-oob": "x-colo-lost-heartbeat", "id": 6}',
    '{"exec-oob": "yank", "execute": "yank", "id": 7}',
    '{"exec-oob": 1}',
    '{"exec-oob": "yank", "arguments": {"instances": [{"type": "migration"}]}, "id": 4}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "chardev", "id": "nosuch"}]}}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "chardev", "id": "c1"}]}}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "block-node", "node-name": "x"}]}}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "chardev", "id": "c0"}, '
    '{"type": "migration"}]}}',
    '{"execute": "yank", "arguments": {"instances": []}}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "foo"}]}}',
    '{"execute": "yank", "arguments": {"instances": [{"type": "chardev"}]}}',
    '{"execute": "yank", "arguments": {"instances": {}}}',
    '{"execute": "yank"}',
    '{"execute": "query-yank", "arguments": {"x": 1}}',
    '{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev", "id": "c0"}]}, '
    '"id": 8}',
    '{"execute": "query-yank"}',
    '{"execute": "human-monitor-command", "arguments": {"command-line": "yank"}}',
    '{"execute": "human-monitor-command", "arguments": {"command-line": "info yank"}}',
]


def test_oob_and_yank_surface_beside_debian(qemu_bin, debian_qemu, tmp_path):
    ours = raw_session(qemu_bin, tmp_path, SURFACE)
    theirs = raw_session(debian_qemu, tmp_path, SURFACE)
    assert ours == theirs
    assert ours[0] == ('{"id": 1, "error": {"class": "GenericError", "desc": '
                       '"QMP input member \'exec-oob\' is unexpected"}}\r\n')
    assert ours[2] == ('{"return": [{"type": "chardev", "id": "c0"}, '
                       '{"type": "chardev", "id": "compat_monitor0"}, '
                       '{"type": "chardev", "id": "compat_monitor1"}]}\r\n')
    assert "does not support OOB" in ours[4]
    assert ours[10] == ('{"id": 4, "error": {"class": "DeviceNotFound", '
                        '"desc": "Instance not found"}}\r\n')


def test_oob_without_the_capability_beside_debian(qemu_bin, debian_qemu, tmp_path):
    reqs = ['{"execute": "qmp_capabilities"}',
            '{"exec-oob": "query-yank", "id": 1}',
            '{"execute": "query-yank", "id": 2}']
    assert raw_session(qemu_bin, tmp_path, reqs) == raw_session(debian_qemu, tmp_path, reqs)


@contextlib.contextmanager
def blocking_client(binary, tmp_path):
    """A process whose main loop is blocked: a QMP client with oob on sent an in-band
    blockdev-add of a FIFO, which waits in open(2) until a writer opens the FIFO (upstream's
    own OOB test does the same). Yields the process, the client and the FIFO's path."""
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    qsock = str(tmp_path / "q.sock")
    with QemuProcess(binary, BASE + ["-qmp", f"unix:{qsock},server=on,wait=off"]) as vm:
        deadline = time.monotonic() + 10
        while not os.path.exists(qsock):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        q = QMPClient(qsock, negotiate=False, timeout=10)
        assert q.cmd("qmp_capabilities", {"enable": ["oob"]}) == {"return": {}}
        q.send_raw('{"execute": "blockdev-add", "arguments": {"driver": "file", "node-name": '
                   f'"f", "filename": "{fifo}", "read-only": true}}, "id": "blocked"}}')
        time.sleep(0.5)
        try:
            yield vm, q, fifo
        finally:
            q.close()


def blocked_main_loop(binary, tmp_path):
    """With the main loop blocked (blocking_client), three in-band requests and one
    out-of-band: the out-of-band reply comes while the main loop is still
    blocked, the rest in order once it is freed. Returns the ids in arrival order."""
    with blocking_client(binary, tmp_path) as (vm, q, fifo):
        for i in range(3):
            q.send_raw('{"execute": "query-status", "id": %d}' % i)
        q.send_raw('{"exec-oob": "query-yank", "id": "oob"}')
        first = q.recv(timeout=10)
        assert first["id"] == "oob", first
        assert {"type": "chardev", "id": "compat_monitor1"} in first["return"]
        # the main loop is still blocked: nothing else came
        with pytest.raises(TimeoutError):
            q.recv(timeout=1)
        w = os.open(fifo, os.O_WRONLY)
        try:
            rest = [q.recv(timeout=10)["id"] for _ in range(4)]
        finally:
            os.close(w)
    return ["oob"] + rest


def test_oob_overtakes_a_blocked_main_loop_beside_debian(qemu_bin, debian_qemu, tmp_path):
    os.mkdir(tmp_path / "ours")
    os.mkdir(tmp_path / "theirs")
    ours = blocked_main_loop(qemu_bin, tmp_path / "ours")
    theirs = blocked_main_loop(debian_qemu, tmp_path / "theirs")
    assert ours == theirs == ["oob", "blocked", 0, 1, 2]


def test_in_band_queue_is_bounded(qemu_bin, tmp_path):
    """With the main loop blocked, the in-band queue fills (8 requests, upstream's limit) and
    the client's input is read no further: an out-of-band request sent after that waits too.
    Nothing is dropped: every request is answered, in order, once the main loop is free."""
    with blocking_client(qemu_bin, tmp_path) as (vm, q, fifo):
        for i in range(8):
            q.send_raw('{"execute": "query-status", "id": %d}' % i)
            time.sleep(0.05)  # one request a read: the queue fills one by one
        time.sleep(0.3)
        q.send_raw('{"exec-oob": "query-yank", "id": "oob"}')
        with pytest.raises(TimeoutError):
            q.recv(timeout=1.5)
        w = os.open(fifo, os.O_WRONLY)
        try:
            ids = [q.recv(timeout=10)["id"] for _ in range(10)]
        finally:
            os.close(w)
        # In-band replies all come, in order. The out-of-band request was not read while the
        # queue was full (no reply above); it runs as soon as the freed main loop takes the first
        # queued request and input resumes, so it may overtake the rest of the queue.
        assert [i for i in ids if i != "oob"] == ["blocked"] + list(range(8)), ids
        assert ids.index("oob") >= 2, ids
        counters = q.cmd("x-query-monitors")["return"]
        assert any(c["input-pauses"] >= 1 for c in counters), counters
        assert vm.proc.poll() is None


def test_yank_chardev_drops_its_client(qemu_bin, tmp_path):
    """yank of a socket chardev shuts its connection down: the peer sees EOF at once and the
    server socket takes the next client."""
    port = free_port()
    with QemuProcess(qemu_bin, BASE + [
            "-chardev", f"socket,id=s0,host=127.0.0.1,port={port},server=on,wait=off",
            "-mon", "chardev=s0,mode=readline"], hmp=False) as vm:
        q = vm.qmp
        assert {"type": "chardev", "id": "s0"} in q.command("query-yank")
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        banner = c.recv(4096)
        assert b"QEMU" in banner
        assert q.cmd("yank", {"instances": [{"type": "chardev", "id": "s0"}]}) == {"return": {}}
        c.settimeout(5)
        rest = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            rest += chunk
        c.close()
        # the next client gets the monitor
        deadline = time.monotonic() + 10
        while True:
            c2 = socket.create_connection(("127.0.0.1", port), timeout=10)
            c2.settimeout(2)
            try:
                if b"QEMU" in c2.recv(4096):
                    break
            except TimeoutError:
                pass
            c2.close()
            assert time.monotonic() < deadline
        c2.close()
        # chardev-remove drops the instance; a new chardev registers its own
        assert q.cmd("chardev-remove", {"id": "s0"})["error"]["desc"] == "Chardev 's0' is busy"
        assert q.cmd("chardev-add", {"id": "s1", "backend": {"type": "socket", "data": {
            "addr": {"type": "inet", "data": {"host": "127.0.0.1", "port": "0"}},
            "server": True, "wait": False}}})["return"] == {}
        assert {"type": "chardev", "id": "s1"} in q.command("query-yank")
        assert q.cmd("chardev-remove", {"id": "s1"}) == {"return": {}}
        assert {"type": "chardev", "id": "s1"} not in q.command("query-yank")


def yank_waiting_destination(binary):
    """A destination whose source connected and sends nothing: its load waits in a read. Yank
    migration (out of band) cuts the channel: the load fails and the process exits, as
    upstream's does after a failed load. Returns what query-yank said before and after the
    connection, the yank's reply (None if the process exited first), the exit status and the last stderr line."""
    port = free_port()
    vm = QemuProcess(binary, BASE + ["-incoming", f"tcp:127.0.0.1:{port}"])
    try:
        vm.qmp.close()  # one client at a time: this one enables oob
        q = QMPClient(vm.qmp_path, negotiate=False, timeout=10)
        assert q.cmd("qmp_capabilities", {"enable": ["oob"]}) == {"return": {}}
        before = q.cmd("query-yank")["return"]
        src = socket.create_connection(("127.0.0.1", port), timeout=10)
        time.sleep(0.5)
        during = q.cmd("query-yank")["return"]
        try:
            r = q.cmd_obj({"exec-oob": "yank",
                           "arguments": {"instances": [{"type": "migration"}]}, "id": "y"})
        except EOFError:
            r = None  # the process ended before the reply went out
        rc = vm.wait(timeout=10)
        src.close()
        q.close()
        return before, during, r, rc, vm.read_stderr().strip().splitlines()[-1]
    finally:
        vm.kill()


def test_yank_migration_frees_a_waiting_load_beside_debian(qemu_bin, debian_qemu):
    ours = yank_waiting_destination(qemu_bin)
    theirs = yank_waiting_destination(debian_qemu)
    assert (ours[0], ours[1], ours[3]) == (theirs[0], theirs[1], theirs[3])
    before, during, r, rc, last = ours
    assert {"type": "migration"} in before and {"type": "migration"} in during
    assert r in ({"return": {}, "id": "y"}, None) and theirs[2] in ({"return": {}, "id": "y"}, None)
    assert rc == 1
    assert last.startswith("qemu-system-x86_64: load of migration failed"), last
    assert theirs[4].startswith("qemu-system-x86_64: load of migration failed"), theirs[4]
