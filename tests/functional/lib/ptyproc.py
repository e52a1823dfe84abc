"""A process whose stdin/stdout/stderr are a pseudo-terminal (or pipes), read by a thread: for
-nographic consoles, where what a user sees on the terminal is what is tested."""
import os
import pty
import re
import subprocess
import threading
import time

from procs import awaited, stop_process, watch


class PtyProcess:
    def __init__(self, argv, use_pty=True):
        self.argv = list(argv)
        self.use_pty = use_pty
        self.proc = None
        self._buf = b""
        self._eof = False
        self._cond = threading.Condition()

    def start(self):
        if self.use_pty:
            master, slave = pty.openpty()
            self.proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True)
            os.close(slave)
            self._rfd = self._wfd = master
        else:
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            self.proc = subprocess.Popen(self.argv, stdin=in_r, stdout=out_w, stderr=out_w)
            os.close(in_r)
            os.close(out_w)
            self._rfd, self._wfd = out_r, in_w
        watch(self.proc, self.argv[0])
        threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _reader(self):
        while True:
            try:
                chunk = os.read(self._rfd, 65536)
            except OSError:  # a pty whose last user went away says EIO
                chunk = b""
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._buf += chunk
                self._cond.notify_all()

    @property
    def output(self):
        with self._cond:
            return self._buf

    def send(self, data):
        os.write(self._wfd, data)

    def wait_for(self, pattern, timeout=10, start=0):
        """Waits until the bytes regex matches the output from offset start; returns the match.
        Raises TimeoutError with the output's tail."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._buf, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    why = "EOF" if self._eof else f"no match in {timeout} s"
                    raise TimeoutError(f"{pattern!r}: {why}; output tail: {self._buf[-2000:]!r}")
                self._cond.wait(left)

    def settle(self, quiet=0.3, timeout=5):
        """Waits until no output came for `quiet` seconds; returns the output."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline:
                before = len(self._buf)
                self._cond.wait(quiet)
                if len(self._buf) == before:
                    break
            return self._buf

    def wait_exit(self, timeout=10):
        """Waits for its exit and returns the status, which the caller checks."""
        rc = self.proc.wait(timeout)
        awaited(self.proc)
        with self._cond:
            deadline = time.monotonic() + 2
            while not self._eof and time.monotonic() < deadline:
                self._cond.wait(0.1)
        return rc

    def stop(self):
        if self.proc:
            stop_process(self.proc)
        for fd in {self._rfd, self._wfd} if self.proc else ():
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
