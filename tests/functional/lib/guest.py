"""Boots the test guest (tests/guest/build-guest) under any qemu-system-x86_64 and talks to it.

Generic over the binary: Debian's QEMU proves the guest, the project's binary reuses the same
harness. Typical use:

    g = guest.build_guest()
    vm = guest.GuestVM(binary, g, append="qc.name=primary")
    vm.start()
    vm.wait_ready()
    assert guest.tcp_echo("127.0.0.1", vm.ports["echo"], b"x") == b"x"
    vm.stop()

Environment: QC_GUEST_TIMEOUT (seconds to the ready marker, default 90: a loaded 2-core host
has been seen to need 20 s where an idle one needs 4).
"""
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

from procs import awaited, describe_status, free_port, free_ports, stop_process, watch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"


def interpreter_only():
    """QEMU_COLO_JIT=0 in the environment: our guests run the interpreter (`-accel tcg,jit=off`,
    cpu-boot --no-jit) rather than the translator, the default; make check's second functional
    step runs a subset so (docs/cpu.md)."""
    return os.environ.get("QEMU_COLO_JIT") == "0"


def accel_for(binary, accel="tcg"):
    """@accel as our @binary gets it: plain tcg becomes tcg,jit=off under interpreter_only().
    Debian's QEMU keeps its own."""
    if (interpreter_only() and accel == "tcg"
            and os.path.realpath(binary) != os.path.realpath(DEBIAN_QEMU)):
        return "tcg,jit=off"
    return accel
BUILD_GUEST = os.path.join(ROOT, "tests", "guest", "build-guest")
READY_MARKER = "QC-GUEST-READY"
READY_TIMEOUT = float(os.environ.get("QC_GUEST_TIMEOUT", "90"))
# A kernel message on the console as printk.time writes it: "[   16.094537] text\n".
KERNEL_LINE = re.compile(r"\[ *\d+\.\d{6}\] [^\n]*\n")


def build_guest(outdir=None):
    """Builds (or finds cached) the guest; returns a dict of absolute paths: vmlinuz, vmlinux,
    initrd, dir."""
    outdir = outdir or os.path.join(ROOT, "build", "guest")
    p = subprocess.run([BUILD_GUEST, outdir], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"build-guest failed:\n{p.stderr}")
    return {
        "dir": outdir,
        "vmlinuz": os.path.join(outdir, "vmlinuz"),
        "vmlinux": os.path.join(outdir, "vmlinux"),
        "initrd": os.path.join(outdir, "initrd.img"),
    }


def pc_machine_problem(binary):
    """None when the binary lists a 'pc' machine in -M help (upstream's output format), the
    sign that it can boot this guest; else why not, in a sentence."""
    if not os.access(binary, os.X_OK):
        return f"{binary} is not built (not an executable file)"
    try:
        p = subprocess.run([binary, "-M", "help"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{binary} -M help did not run: {e}"
    if p.returncode != 0:
        return (f"{binary} -M help {describe_status(p.returncode)}: "
                f"{(p.stderr or p.stdout).strip()[-2000:]}")
    if not any(line.split()[:1] == ["pc"] for line in p.stdout.splitlines()):
        return f"{binary} -M help lists no pc machine:\n{p.stdout.strip()[-2000:]}"
    return None


def parse_marker(line):
    """'QC-GUEST-READY name=x ip=y ...' -> {'name': 'x', 'ip': 'y', ...}."""
    return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)


class GuestVM:
    """One guest process. The serial console is the process's stdout (-nographic by default),
    read by a thread into .console.

    kernel=None boots no kernel of ours: the firmware boots whatever disk extra_args gives
    (guest and append are then unused; the Debian disk image, lib/debian_image.py).

    net="user" adds a slirp netdev with host forwards to ports 80, 7/tcp and 7/udp, found in
    .ports["http"], .ports["echo"], .ports["udp"]; net=None adds none (pass your own -netdev and
    -device in extra_args)."""

    def __init__(self, binary, guest, *, append="", memory="256M", machine="pc", accel="tcg",
                 kernel="vmlinuz", net="user", nic="virtio-net-pci", qmp_path=None,
                 extra_args=(), console_args=("-nographic",), prefix=(), no_reboot=True,
                 interactive=False):
        self.binary = binary
        # interactive: the console's input is a pipe, for shell() (the guest's shell after
        # the ready marker); otherwise /dev/null.
        self.interactive = interactive
        self.ports = {}
        self.qmp_path = qmp_path
        argv = [binary, "-accel", accel_for(binary, accel), "-M", machine, "-m", memory,
                *console_args, *(["-no-reboot"] if no_reboot else [])]
        if kernel:
            # no_timer_check: the kernel's early test that the timer ticks (4 ticks within a
            # 40 ms delay loop, else "IO-APIC + timer doesn't work!" and a panic) fails when a
            # loaded host leaves the machine's timers unrun for that long, as seen at load 18
            argv += ["-kernel", guest[kernel], "-initrd", guest["initrd"],
                     "-append", f"console=ttyS0 no_timer_check {append}".strip()]
        if net == "user":
            http, echo = free_ports(2)
            self.ports = {"http": http, "echo": echo, "udp": free_port(socket.SOCK_DGRAM)}
            fwd = (f"hostfwd=tcp:127.0.0.1:{self.ports['http']}-:80,"
                   f"hostfwd=tcp:127.0.0.1:{self.ports['echo']}-:7,"
                   f"hostfwd=udp:127.0.0.1:{self.ports['udp']}-:7")
            argv += ["-netdev", f"user,id=n0,{fwd}", "-device", f"{nic},netdev=n0"]
        if qmp_path:
            argv += ["-qmp", f"unix:{qmp_path},server=on,wait=off"]
        # prefix wraps the binary, e.g. NetNS.exec_prefix to run it in a network namespace.
        self.argv = list(prefix) + argv + list(extra_args)
        self.proc = None
        self.started_at = None
        self._eof = False
        self._text = ""
        # (monotonic time, console length) after each chunk read: when each line arrived
        self.arrivals = []
        self._cond = threading.Condition()
        self._reader = None

    # ---- process ----------------------------------------------------------------------------
    def start(self):
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv,
                                     stdin=subprocess.PIPE if self.interactive
                                     else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watch(self.proc, "guest VM " + self.binary)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        return self

    def _read_console(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._text += chunk.decode("utf-8", "replace")
                self.arrivals.append((time.monotonic(), len(self._text)))
                self._cond.notify_all()

    @property
    def console(self):
        with self._cond:
            return self._text

    def wait_for(self, pattern, timeout=None, start=0):
        """Waits until the regex matches the console text from offset start; returns the
        match. Raises TimeoutError (with the console's tail) on timeout or process exit."""
        timeout = READY_TIMEOUT if timeout is None else timeout
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._text, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    why = "the VM exited" if self._eof else f"no match in {timeout} s"
                    raise TimeoutError(f"{pattern!r}: {why}; console tail:\n"
                                       f"{self._text[-3000:]}")
                self._cond.wait(left)

    def wait_ready(self, timeout=None, start=0):
        """Waits for the guest's ready marker; returns its fields plus 'seconds' (since start)."""
        m = self.wait_for(READY_MARKER + r"[^\r\n]*\r?\n", timeout, start)
        fields = parse_marker(m.group(0))
        fields["seconds"] = time.monotonic() - self.started_at
        fields["end"] = m.end()
        return fields

    def send(self, line):
        """Types a line into the console (interactive=True), without waiting for anything."""
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def shell(self, command, timeout=60):
        """Types a command line into the guest's console shell (interactive=True, after the
        ready marker) and returns what it printed, between markers echoed around it."""
        self._shell_seq = getattr(self, "_shell_seq", 0) + 1
        n = self._shell_seq
        start = len(self.console)
        # The typed line spells the markers as $((0+n)): only the shell's output matches them
        # (the echoed line may also be wrapped anywhere by the terminal).
        self.proc.stdin.write(f"echo QC-SHELL-BEGIN-$((0+{n})); {command}; "
                              f"echo QC-SHELL-END-$((0+{n}))\n".encode())
        self.proc.stdin.flush()
        m = self.wait_for(rf"(?s)QC-SHELL-BEGIN-{n}\r?\n(.*?)QC-SHELL-END-{n}\r?\n", timeout, start)
        out = m.group(1).replace("\r", "")
        # The kernel prints to the same console: a message it logs meanwhile (a clocksource
        # warning under host load) lands inside the command's output, even mid-line. A command
        # that reads the log itself gets its output whole.
        return out if "dmesg" in command else KERNEL_LINE.sub("", out)

    def wait_exit(self, timeout=10):
        """Waits for its exit and returns the status, which the caller checks."""
        rc = self.proc.wait(timeout)
        awaited(self.proc)
        self._reader.join(5)
        return rc

    def stop(self):
        """Ends the process (SIGTERM, then SIGKILL); safe to call twice."""
        if self.proc:
            stop_process(self.proc)
        if self._reader:
            self._reader.join(5)
        if self.proc:
            self.proc.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- talking to the guest's services from the host ---------------------------------------------

def tcp_echo(host, port, data, timeout=10):
    """Sends data to the echo service and returns what came back once as many bytes arrived
    (or the connection closed first).

    It does not half-close: a client that shut down its sending side right after connecting
    through a -netdev user host forward got "connection reset" now and then (8 parallel
    connections on a loaded host, Debian's QEMU), with no RST from the guest in filter-dump's
    capture, i.e. from slirp's side of the forward."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        return echo_stream(s, data, timeout)


def echo_stream(sock, data, timeout=10):
    """Sends data on a connected echo socket and returns what came back once as many bytes
    arrived (or the peer closed first). Sending from a thread while this one reads: a large
    payload would otherwise fill both directions' buffers and stall."""
    sender = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    sender.start()
    chunks, got = [], 0
    while got < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    sender.join(timeout)
    return b"".join(chunks)


def udp_echo(host, port, data, timeout=10, tries=5):
    """Sends a datagram to the echo service and returns the answer (retrying, UDP may drop)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout / tries)
        for _ in range(tries):
            s.sendto(data, (host, port))
            try:
                reply, _ = s.recvfrom(65536)
                return reply
            except socket.timeout:
                continue
    raise TimeoutError(f"no UDP echo from {host}:{port}")


def http_get(host, port, path="/", timeout=10):
    """Returns (status, body as text) of GET http://host:port/path."""
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def parse_stats(text):
    """'key value' lines (the guest's /cgi-bin/stats) -> dict with numbers converted."""
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1]) if "." in parts[1] else int(parts[1])
            except ValueError:
                out[parts[0]] = parts[1]
    return out
