"""A QEMU binary (ours or Debian's) running in the background for the length of a test."""
import signal
import subprocess

BASE_ARGS = ["-M", "none", "-nodefaults", "-display", "none"]


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
