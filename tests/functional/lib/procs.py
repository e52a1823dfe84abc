"""Processes and loopback ports for black-box tests.

``free_port()`` picks a port, ``connect_retry()`` / ``connect_loopback()`` connect to a listener
that a just-started process is about to open, ``stop_process()`` ends a child politely then
firmly, and ``Qemu`` / ``QemuSet`` run QEMU binaries (ours or Debian's) in the background for
the length of a test.

Every long-lived child a helper starts is ``watch()``ed: a crash after a test's last assertion
must still fail the test. After each test, conftest.py calls ``ended_badly()``, which reports a
child that exited on its own with a status nobody expected (``watch(expect=...)``) or waited
for, and one that crashed, failed or hung when ``stop_process()`` ended it.

    started --watch()--> alive --SIGTERM by stop_process()--> exit 0 (or -SIGTERM): fine
                           |                              `-> other status / no exit in 5 s: bad
                           +--exits on its own--> status in expect, or awaited: fine; else bad
"""
import os
import signal
import socket
import subprocess
import threading
import time

BASE_ARGS = ["-M", "none", "-nodefaults", "-display", "none"]

# Debian's QEMU 7.2, the reference, sometimes aborts when SIGTERM ends it after monitor traffic
# ("aio_ctx_finalize: BH 'monitor_accept_input' leaked, aborting..."): an upstream bug at exit,
# not a failure of ours, so that one status is accepted from that binary on SIGTERM.
REFERENCE = "/usr/bin/qemu-system-x86_64"
REFERENCE_STOP_FAULT = -signal.SIGABRT


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port that was free a moment ago (see free_ports())."""
    return free_ports(1, kind)[0]


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports are chosen below the kernel's ephemeral range: a port the kernel handed out for port 0
# was free then, but any connect() of another test may be given it next (the ephemeral range),
# before the process under test binds it ("Address already in use", exit 1). Below that range
# only other choosers compete; each xdist worker counts through its own slice from a place set
# by its pid (two suites at once), and a bind proves a port free before it is handed out.
_PORTS_LOW = 10000
_next_port = {}
# Threads of one test (ours and Debian's QEMU started side by side) choose at the same time: the
# place in the slice is read and moved on under this lock, or both get the same ports once the
# first has let its probe sockets go.
_ports_lock = threading.Lock()


def _worker_slice():
    high = _ephemeral_low()
    if high - _PORTS_LOW < 1000:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = (high - _PORTS_LOW) // max(count, 1)
    start = _PORTS_LOW + (index % max(count, 1)) * size
    return start, size, os.getpid()


def _bound(kind, port):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return s
    except OSError:
        s.close()
        return None


def free_ports(n, kind=socket.SOCK_STREAM):
    """n distinct loopback ports that were free a moment ago, outside the ephemeral range where
    one can (see _worker_slice); each stays bound until all are chosen."""
    with _ports_lock:
        return _free_ports_locked(n, kind)


def _free_ports_locked(n, kind):
    held = []
    try:
        area = _worker_slice()
        if area is None:  # no room below the ephemeral range: the kernel's choice
            for _ in range(n):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind(("127.0.0.1", 0))
            return [s.getsockname()[1] for s in held]
        start, size, pid = area
        offset = _next_port.get(kind, (pid * 7919) % size)
        for _ in range(size):
            if len(held) == n:
                break
            port = start + offset
            offset = (offset + 1) % size
            s = _bound(kind, port)
            if s:
                held.append(s)
        _next_port[kind] = offset
        if len(held) < n:
            raise OSError(f"no {n} free loopback ports in {start}-{start + size - 1}")
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def connect_retry(family, addr, timeout=5.0):
    """Connects a stream socket, retrying while the listener is not up yet."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.connect(addr)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def connect_loopback(port, timeout=5.0):
    """connect_retry() to 127.0.0.1:@port over TCP."""
    return connect_retry(socket.AF_INET, ("127.0.0.1", port), timeout)


class _Child:
    def __init__(self, proc, name, expect):
        self.proc = proc
        self.name = name
        self.expect = tuple(expect)
        self.awaited = False
        self.stop_ok = (0, -signal.SIGTERM)
        if proc.args and proc.args[0] == REFERENCE:
            self.stop_ok += (REFERENCE_STOP_FAULT,)


_children = []
_problems = []


def _find(proc):
    return next((c for c in _children if c.proc is proc), None)


def describe_status(rc):
    """'exited with status N' or 'was killed by SIGNAME', for a Popen returncode."""
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


def watch(proc, name=None, expect=()):
    """Registers a child for the end-of-test check. @expect: the statuses it may exit with on
    its own; by default it must live until stop_process() ends it. Returns @proc."""
    name = name or " ".join(str(a) for a in proc.args[:1])
    _children.append(_Child(proc, name, expect))
    return proc


def awaited(proc):
    """The test waited for @proc's exit and checks the status it was handed."""
    child = _find(proc)
    if child:
        child.awaited = True


def _judge_own_exit(child):
    rc = child.proc.returncode
    if not child.awaited and rc not in child.expect:
        _problems.append(f"{child.name} {describe_status(rc)} on its own")


def ended_badly():
    """The problems since the last call: children that ended on their own unexpectedly, or
    badly when stopped. Children still running stay watched (a module's fixture may own them)."""
    for child in list(_children):
        if child.proc.poll() is not None:
            _judge_own_exit(child)
            _children.remove(child)
    found = list(_problems)
    _problems.clear()
    return found


def stop_process(proc, timeout=5.0):
    """Ends a subprocess.Popen (SIGTERM, then SIGKILL after @timeout s); safe to call twice.
    A watched child that exits badly on SIGTERM, or not at all, is reported by ended_badly()."""
    child = _find(proc)
    if child:
        _children.remove(child)
    if proc.poll() is not None:
        if child:
            _judge_own_exit(child)
        return
    proc.terminate()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
        if child:
            _problems.append(f"{child.name} did not exit within {timeout} s of SIGTERM")
        return
    if child and rc not in child.stop_ok:
        _problems.append(f"{child.name} {describe_status(rc)} when stopped by SIGTERM")


class Qemu:
    def __init__(self, binary, *args, pass_fds=()):
        self.proc = subprocess.Popen([binary] + BASE_ARGS + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     pass_fds=pass_fds)
        watch(self.proc, binary)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops it (SIGTERM, then SIGKILL) and returns its stderr."""
        # Both pipes are drained by a thread while it exits: a full one would block its exit.
        out = {}
        reader = threading.Thread(target=lambda: out.update(err=self.proc.communicate()[1]),
                                  daemon=True)
        reader.start()
        stop_process(self.proc)
        reader.join(5)
        return out.get("err", b"").decode(errors="replace")


class QemuSet:
    """Starts QEMUs and stops every one of them at the end."""

    def __init__(self):
        self.started = []

    def __call__(self, binary, *args, pass_fds=()):
        q = Qemu(binary, *args, pass_fds=pass_fds)
        self.started.append(q)
        return q

    def stop_all(self):
        for q in self.started:
            q.stop()
