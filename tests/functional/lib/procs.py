"""Processes and loopback ports for black-box tests.

``free_port()`` picks a port, ``connect_retry()`` / ``connect_loopback()`` connect to a listener
that a just-started process is about to open, ``stop_process()`` ends a child politely then
firmly, and ``Qemu`` / ``QemuSet`` run QEMU binaries (ours or Debian's) in the background for
the length of a test.
"""
import signal
import socket
import subprocess
import time

BASE_ARGS = ["-M", "none", "-nodefaults", "-display", "none"]


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port that was free a moment ago (the kernel's choice for port 0)."""
    return free_ports(1, kind)[0]


def free_ports(n, kind=socket.SOCK_STREAM):
    """n distinct loopback ports that were free a moment ago: each stays bound until all are
    chosen, since the kernel may hand a just-closed port 0 choice out again."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, kind)
            held.append(s)
            s.bind(("127.0.0.1", 0))
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


def stop_process(proc, timeout=5.0):
    """Ends a subprocess.Popen (SIGTERM, then SIGKILL after @timeout s); safe to call twice."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class Qemu:
    def __init__(self, binary, *args, pass_fds=()):
        self.proc = subprocess.Popen([binary] + BASE_ARGS + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     pass_fds=pass_fds)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops it (SIGTERM, then SIGKILL) and returns its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")


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
