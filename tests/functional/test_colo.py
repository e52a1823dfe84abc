"""The COLO frame through the binary (docs/colo.md): a primary and a secondary of ours with the
test guest, checkpoints on the x-checkpoint-delay timer, the secondary's RAM equal to the
primary's after every checkpoint, and upstream's 8-case failover matrix (plain and multifd,
either side, idle or during a checkpoint)."""
import os
import signal
import subprocess
import time

import pytest

import frames
import guest
from procs import free_port, free_ports
from qmp import QMPClient, QemuProcess

BASE = ["-M", "pc", "-m", "128", "-nodefaults", "-display", "none", "-accel", "tcg"]


def colo_surface(binary):
    out = []
    with QemuProcess(binary, BASE, hmp=True) as vm:
        out.append(vm.qmp.cmd("x-colo-lost-heartbeat"))
        out.append(vm.qmp.cmd("query-colo-status"))
        out.append(vm.qmp.cmd("x-colo-lost-heartbeat", {"a": 1}))
        out.append(vm.qmp.cmd("migrate-set-capabilities",
                              {"capabilities": [{"capability": "x-colo", "state": True}]}))
        out.append(vm.qmp.cmd("query-migrate-capabilities"))
        out.append(vm.qmp.cmd("x-colo-lost-heartbeat"))
        out.append(vm.hmp.cmd("x_colo_lost_heartbeat"))
        out.append(vm.qmp.cmd("query-colo-status"))
    return out


def test_surface_beside_debian(qemu_bin, debian_qemu):
    ours = colo_surface(qemu_bin)
    assert ours == colo_surface(debian_qemu)
    assert ours[0]["error"]["desc"] == "The feature 'colo' is not enabled"
    assert ours[1] == {"return": {"mode": "none", "last-mode": "none", "reason": "none"}}


XEN_CALLS = [
    ("xen-colo-do-checkpoint", None),
    ("xen-colo-do-checkpoint", {"x": 1}),
    ("query-xen-replication-status", None),
    ("query-xen-replication-status", {"a": 1}),
    ("xen-set-replication", {"enable": True, "primary": True}),
    ("query-xen-replication-status", None),
    ("xen-set-replication", {"enable": True, "primary": False}),
    ("xen-set-replication", {"enable": False, "primary": True}),
    ("xen-set-replication", {"enable": False, "primary": False, "failover": True}),
    ("xen-set-replication", {"enable": False, "primary": True, "failover": False}),
    ("xen-set-replication", {"enable": True, "primary": True, "failover": True}),
    ("xen-set-replication", {"enable": True, "primary": False, "failover": False}),
    ("xen-set-replication", {"enable": True}),
    ("xen-set-replication", {"primary": True}),
    ("xen-set-replication", {}),
    ("xen-set-replication", {"enable": 1, "primary": True}),
    ("xen-set-replication", {"enable": True, "primary": True, "bogus": 1}),
    ("query-xen-replication-status", None),
]


def xen_surface(binary):
    """The xen-* replication commands on a machine with a filter-rewriter and no replication
    node: every reply, and where query-commands lists them."""
    args = BASE + ["-netdev", "user,id=n0", "-object", "filter-rewriter,id=rew0,netdev=n0"]
    with QemuProcess(binary, args) as vm:
        names = [c["name"] for c in vm.qmp.command("query-commands")]
        xen = [n for n in names if "replication" in n or n == "xen-colo-do-checkpoint"]
        return xen, [vm.qmp.cmd(name, arguments) for name, arguments in XEN_CALLS]


def test_xen_commands_beside_debian(qemu_bin, debian_qemu):
    ours = xen_surface(qemu_bin)
    assert ours == xen_surface(debian_qemu)
    names, replies = ours
    assert names == ["xen-colo-do-checkpoint", "query-xen-replication-status",
                     "xen-set-replication"]
    assert replies[0] == {"return": {}}
    assert replies[2] == {"return": {"error": False}}
    assert replies[10]["error"] == {
        "class": "GenericError", "desc": "Parameter 'failover' is only for stopping replication"}


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


class Pair:
    """A primary and a secondary of ours in COLO, each with a QMP client."""

    def __init__(self, binary, built, tmp_path, append="qc.quiet", primary_args=(),
                 both_args=(), no_reboot=True):
        port = free_port()
        self.vms = {}
        self.qmp = {}
        for side, extra in (("secondary", ["-incoming", f"tcp:127.0.0.1:{port}"]),
                            ("primary", list(primary_args))):
            vm = guest.GuestVM(binary, built, memory="128M", qmp_path=str(tmp_path / side),
                               append=f"{append} qc.name={side}", no_reboot=no_reboot,
                               extra_args=list(both_args) + extra)
            self.vms[side] = vm
        self.uri = f"tcp:127.0.0.1:{port}"

    def start(self, delay=300, caps=("x-colo",), params=None, oob=False):
        """caps and params (migrate-set-parameters) on both sides; oob: the QMP clients
        enable out-of-band execution."""
        sec, pri = self.vms["secondary"], self.vms["primary"]
        sec.start()
        pri.start()
        pri.wait_ready()
        for side, vm in self.vms.items():
            deadline = time.monotonic() + 10
            while not os.path.exists(vm.qmp_path):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            q = QMPClient(vm.qmp_path, negotiate=not oob, timeout=60)
            if oob:
                assert q.cmd("qmp_capabilities", {"enable": ["oob"]}) == {"return": {}}
            self.qmp[side] = q
            assert q.cmd("migrate-set-capabilities", {"capabilities": [
                {"capability": c, "state": True} for c in caps]}) == {"return": {}}
            if params:
                assert q.cmd("migrate-set-parameters", params) == {"return": {}}
        p = self.qmp["primary"]
        assert p.cmd("migrate-set-parameters", {"x-checkpoint-delay": delay}) == {"return": {}}
        assert p.cmd("migrate", {"uri": self.uri}) == {"return": {}}
        self.wait_colo()
        return self

    def wait_colo(self, timeout=120):
        deadline = time.monotonic() + timeout
        for side in ("primary", "secondary"):
            while True:
                st = self.qmp[side].cmd("query-colo-status")["return"]
                # in COLO, and its VM started (the primary's waits for checkpoint-ready)
                run = self.qmp[side].cmd("query-status")["return"]["status"]
                if st["mode"] == side and run in ("running", "colo"):
                    break
                info = self.qmp[side].cmd("query-migrate")["return"]
                assert info.get("status") not in ("failed", "cancelled"), info
                assert time.monotonic() < deadline, (side, st, info)
                time.sleep(0.1)

    def hashes(self, side):
        return self.qmp[side].cmd("x-colo-ram-hashes")["return"]

    def stop(self):
        for q in self.qmp.values():
            q.close()
        for vm in self.vms.values():
            vm.stop()


@pytest.fixture
def pair(qemu_bin, built, tmp_path):
    p = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.dirty=8 qc.dirty_set=16")
    yield p
    p.stop()


def wait_equal_checkpoint(pair, after, timeout=60):
    """Waits until both sides recorded the same checkpoint > after; returns both records."""
    deadline = time.monotonic() + timeout
    while True:
        a = pair.hashes("primary")
        b = pair.hashes("secondary")
        if a["checkpoint"] == b["checkpoint"] and a["checkpoint"] > after:
            return a, b
        assert time.monotonic() < deadline, (a["checkpoint"], b["checkpoint"])
        time.sleep(0.05)


def test_checkpoints_keep_memory_equal(pair):
    pair.start(delay=400)
    for side in ("primary", "secondary"):
        q = pair.qmp[side]
        assert q.cmd("query-status")["return"]["status"] in ("running", "colo")
        assert q.cmd("x-colo-ram-hashes", {"record": True})["return"]["chunk-size"] == 1 << 20
    assert pair.qmp["primary"].cmd("query-migrate")["return"] == {"status": "colo"}
    assert pair.qmp["secondary"].cmd("query-migrate")["return"] == {"status": "colo"}
    seen = 0
    for _ in range(5):
        a, b = wait_equal_checkpoint(pair, seen)
        assert len(a["hashes"]) == 128
        diff = [i for i, (x, y) in enumerate(zip(a["hashes"], b["hashes"])) if x != y]
        assert not diff, f"checkpoint {a['checkpoint']}: MiB {diff[:10]} differ"
        seen = a["checkpoint"]
    # STOP and RESUME around each checkpoint on both sides
    for side in ("primary", "secondary"):
        q = pair.qmp[side]
        q.wait_event("STOP", timeout=30)
        q.wait_event("RESUME", timeout=30)
    # capabilities are frozen while in COLO, as upstream
    r = pair.qmp["primary"].cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "x-colo", "state": False}]})
    assert r["error"]["desc"] == "There's a migration process in progress"


def guest_alive(vm, within=1.5):
    """The guest answers and its clock moves (uptime, to the 1/100 s) within @within s: it runs.
    Asked again every 0.1 s until it has moved, rather than once after the whole wait."""
    def uptime():
        _, text = guest.http_get("127.0.0.1", vm.ports["http"], "/cgi-bin/clock", timeout=30)
        up = guest.parse_stats(text).get("uptime")
        assert up is not None, text
        return up

    first = uptime()
    deadline = time.monotonic() + within
    while True:
        time.sleep(0.1)
        if uptime() > first:
            return True
        if time.monotonic() > deadline:
            return False


def kill(vm):
    vm.proc.send_signal(signal.SIGKILL)
    assert vm.wait_exit() == -signal.SIGKILL


@pytest.mark.parametrize("when", ["idle", "checkpoint"])
@pytest.mark.parametrize("survivor", ["primary", "secondary"])
@pytest.mark.parametrize("mode", ["plain", "multifd"])
def test_failover(pair, mode, survivor, when):
    """Upstream's /migration/colo/{plain,multifd}/{primary,secondary}_failover[_checkpoint]
    (spec §11.3): x-colo and return-path (and multifd, compression none) on both sides, delay
    300 ms, COLO entered and three checkpoints (a secondary RESUME each), then for _checkpoint a
    secondary STOP; the survivor yanks the migration out of band and takes over with
    x-colo-lost-heartbeat; its guest runs on. The other side is left as it is."""
    caps = ["x-colo", "return-path"] + (["multifd"] if mode == "multifd" else [])
    params = {"multifd-compression": "none"} if mode == "multifd" else None
    pair.start(delay=300, caps=caps, params=params, oob=True)
    sec = pair.qmp["secondary"]
    assert pair.qmp["primary"].cmd("query-migrate")["return"]["status"] == "colo"
    # the main channel, and multifd-channels (default 2) more
    assert connections_to(int(pair.uri.rsplit(":", 1)[1])) == (3 if mode == "multifd" else 1)
    # COLO's start, then three checkpoints
    for _ in range(4):
        sec.wait_event("RESUME", timeout=60)
    if when == "checkpoint":
        sec.clear_events()
        sec.wait_event("STOP", timeout=60)
    q = pair.qmp[survivor]
    q.clear_events()
    r = q.cmd_obj({"exec-oob": "yank", "arguments": {"instances": [{"type": "migration"}]},
                   "id": "yank"}, timeout=10)
    assert r == {"return": {}, "id": "yank"}, r
    assert q.cmd("x-colo-lost-heartbeat") == {"return": {}}
    ev = q.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
    assert ev["data"] == {"mode": survivor, "reason": "request"}
    # as upstream, the migration is completed by the time COLO_EXIT comes, on either side
    assert q.cmd("query-migrate")["return"]["status"] == "completed"
    assert q.cmd("query-colo-status")["return"] == {
        "mode": "none", "last-mode": survivor, "reason": "request"}
    r = q.cmd("x-colo-lost-heartbeat")
    assert r["error"]["desc"] == "The feature 'colo' is not enabled"
    assert q.cmd("query-status")["return"]["status"] == "running"
    assert guest_alive(pair.vms[survivor])
    if survivor == "primary":
        ram = q.cmd("query-migrate")["return"]["ram"]
        assert (ram["multifd-bytes"] > ram["total"] // 64) == (mode == "multifd"), ram


def connections_to(port):
    """Established TCP connections to 127.0.0.1:port, seen from the connecting side."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         check=True, capture_output=True, text=True).stdout
    return len(out.splitlines())


def test_stream_cut_mid_checkpoint_then_failover(pair):
    """The primary dies while the secondary receives a checkpoint: the secondary reports the
    error with COLO_EXIT, stays in COLO until told, then runs from its own whole state."""
    pair.start(delay=200)
    q = pair.qmp["secondary"]
    q.clear_events()
    q.wait_event("STOP", timeout=60)
    kill(pair.vms["primary"])
    ev = q.wait_event("COLO_EXIT", timeout=30)
    assert ev["data"] == {"mode": "secondary", "reason": "error"}
    assert q.cmd("query-colo-status")["return"]["mode"] == "secondary"
    assert q.cmd("x-colo-lost-heartbeat") == {"return": {}}
    ev = q.wait_event("COLO_EXIT", timeout=30)
    assert ev["data"] == {"mode": "secondary", "reason": "request"}
    assert q.cmd("x-colo-lost-heartbeat")["error"]["desc"] == "The feature 'colo' is not enabled"
    assert guest_alive(pair.vms["secondary"])


def test_new_delay_checkpoints_at_once_and_stats(pair):
    """Setting x-checkpoint-delay in COLO checkpoints at once (upstream); x-query-colo-stats
    and HMP info colo count it, with its pause, pages and bytes."""
    pair.start(delay=600000)
    p, s = pair.qmp["primary"], pair.qmp["secondary"]
    for q in (p, s):
        q.cmd("x-colo-ram-hashes", {"record": True})
    time.sleep(2)
    assert p.cmd("x-query-colo-stats")["return"]["checkpoints"] == 0
    s.clear_events()
    assert p.cmd("migrate-set-parameters", {"x-checkpoint-delay": 600000}) == {"return": {}}
    s.wait_event("STOP", timeout=30)
    s.wait_event("RESUME", timeout=30)
    a, b = wait_equal_checkpoint(pair, 0)
    assert a["hashes"] == b["hashes"]
    deadline = time.monotonic() + 10
    while (st := p.cmd("x-query-colo-stats")["return"])["checkpoints"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert st["mode"] == "primary"
    assert (st["checkpoints"], st["by-delay"], st["by-timer"], st["by-compare"],
            st["by-vm-state"]) == (1, 1, 0, 0, 0)
    assert st["last-pages"] > 0 and st["last-bytes"] > st["last-pages"]
    assert 0 < st["last-pause-ms"] == st["pause-p50-ms"] == st["pause-p99-ms"]
    assert st["last-pause-ms"] >= st["last-transfer-ms"] > 0
    sec = s.cmd("x-query-colo-stats")["return"]
    assert sec["mode"] == "secondary" and sec["checkpoints"] == 1
    assert sec["last-pages"] == st["last-pages"]
    text = p.hmp("info colo")
    assert text.startswith("mode: primary\r\nlast mode: none\r\nreason: none\r\n"
                           "checkpoints: 1 (timer 0, colo-compare 0, x-checkpoint-delay 1, vm state 0)\r\n")


def test_compare_requests_checkpoint_and_failover_stops_filters(qemu_bin, built, tmp_path):
    """colo-compare's mismatch reaches the COLO thread in-process: one checkpoint, counted
    by-compare, after which the held primary packet is released. On failover the primary's
    filters switch off by themselves."""
    ports = dict(zip(("pri", "sec", "out", "mirror"), free_ports(4)))
    chardevs = []
    for name, port in ports.items():
        chardevs += ["-chardev", f"socket,id={name},host=127.0.0.1,port={port},server=on,wait=off"]
    args = chardevs + [
        "-object", "iothread,id=io0",
        "-object", "colo-compare,id=comp0,primary_in=pri,secondary_in=sec,outdev=out,iothread=io0",
        "-object", "filter-mirror,id=m0,netdev=n0,queue=tx,outdev=mirror",
    ]
    pair = Pair(qemu_bin, built, tmp_path, primary_args=args)
    try:
        pair.start(delay=600000)
        p = pair.qmp["primary"]
        socks = {n: frames.FrameSocket.connect_tcp("127.0.0.1", ports[n])
                 for n in ("pri", "sec", "out")}
        a = frames.udp_frame("10.0.2.15", "10.0.2.2", 1000, 2000, b"primary says 1")
        b = frames.udp_frame("10.0.2.15", "10.0.2.2", 1000, 2000, b"secondary says 2")
        socks["pri"].send(a)
        socks["sec"].send(b)
        # released only by the checkpoint the mismatch asked for
        assert socks["out"].recv_data(timeout=30) == a
        deadline = time.monotonic() + 10
        while (st := p.cmd("x-query-colo-stats")["return"])["checkpoints"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert st["by-compare"] >= 1 and st["by-timer"] == 0, st
        assert p.cmd("qom-get", {"path": "/objects/m0", "property": "status"}) == {"return": "on"}
        kill(pair.vms["secondary"])
        assert p.cmd("x-colo-lost-heartbeat") == {"return": {}}
        p.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
        assert p.cmd("qom-get", {"path": "/objects/m0", "property": "status"}) == {
            "return": "off"}
        for sock in socks.values():
            sock.close()
    finally:
        pair.stop()


def test_stalled_secondary_failover_wakes_primary_at_once(pair):
    """A secondary that stops answering (SIGSTOP) leaves the primary's checkpoint request
    waiting for its reply (the guest still runs: it stops only once the secondary did);
    x-colo-lost-heartbeat wakes it at once and the primary's guest runs on."""
    pair.start(delay=300)
    p = pair.qmp["primary"]
    sec = pair.vms["secondary"]
    sec.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2)
        n = p.cmd("x-query-colo-stats")["return"]["checkpoints"]
        time.sleep(1.5)  # five delays: the request is pending, no checkpoint completes
        assert p.cmd("x-query-colo-stats")["return"]["checkpoints"] == n
        assert p.cmd("query-status")["return"]["status"] == "running"
        p.clear_events()
        t0 = time.monotonic()
        assert p.cmd("x-colo-lost-heartbeat") == {"return": {}}
        ev = p.wait_event("COLO_EXIT", timeout=10)
        took = time.monotonic() - t0
        assert ev["data"] == {"mode": "primary", "reason": "request"}
        assert took < 5, took  # no waiting for a timeout (generous for a loaded host)
        assert p.cmd("query-colo-status")["return"]["last-mode"] == "primary"
        assert guest_alive(pair.vms["primary"])
    finally:
        sec.proc.send_signal(signal.SIGCONT)
    kill(sec)


class Relay:
    """A TCP relay between the primary and the secondary that can inject bytes toward the
    secondary, as a broken link or a confused peer would."""

    def __init__(self, target_port):
        import socket
        import threading
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.target = target_port
        self.lock = threading.Lock()
        self.to_sec = None
        self.threads = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _pump(self, src, dst):
        try:
            while chunk := src.recv(1 << 16):
                with self.lock:
                    dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def _accept(self):
        import socket
        import threading
        pri, _ = self.lsock.accept()
        sec = socket.create_connection(("127.0.0.1", self.target))
        self.to_sec = sec
        for a, b in ((pri, sec), (sec, pri)):
            t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
            t.start()
            self.threads.append(t)

    def inject(self, data):
        with self.lock:
            self.to_sec.sendall(data)

    def close(self):
        self.lsock.close()
        if self.to_sec:
            try:
                self.to_sec.shutdown(2)
            except OSError:
                pass


def test_garbage_on_the_stream(qemu_bin, built, tmp_path):
    """Garbage between two checkpoints reaches the secondary as a COLO message: it says so,
    sends COLO_EXIT error, stays in COLO with its guest running, and fails over when told."""
    pair = Pair(qemu_bin, built, tmp_path)
    relay = Relay(int(pair.uri.rsplit(":", 1)[1]))
    pair.uri = f"tcp:127.0.0.1:{relay.port}"
    try:
        pair.start(delay=600000)
        s = pair.qmp["secondary"]
        relay.inject(b"\x00\x00\x00\x2a")  # message 42: no such COLOMessage
        ev = s.wait_event("COLO_EXIT", timeout=30)
        assert ev["data"] == {"mode": "secondary", "reason": "error"}
        assert s.cmd("query-colo-status")["return"]["mode"] == "secondary"
        assert s.cmd("query-status")["return"]["status"] == "running"
        assert s.cmd("x-colo-lost-heartbeat") == {"return": {}}
        ev = s.wait_event("COLO_EXIT", timeout=30)
        assert ev["data"] == {"mode": "secondary", "reason": "request"}
        assert guest_alive(pair.vms["secondary"])
        assert "Can't receive COLO message: Invalid message" in pair.vms["secondary"].console
    finally:
        relay.close()
        pair.stop()
