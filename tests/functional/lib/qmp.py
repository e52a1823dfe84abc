"""A minimal synchronous QMP client over a unix socket (standard library only)."""
import json
import socket
import time


class QMPError(Exception):
    """A command answered with an error; .cls is its class, .desc its description."""

    def __init__(self, cls, desc):
        super().__init__(f"{cls}: {desc}")
        self.cls = cls
        self.desc = desc


class QMP:
    def __init__(self, path, timeout=10.0):
        """Connects (retrying until the server listens or timeout) and negotiates."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.events = []
        self.greeting = self._read()
        if "QMP" not in self.greeting:
            raise QMPError("Protocol", f"no greeting: {self.greeting}")
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        """Runs a command; returns its 'return' value or raises QMPError. Events seen while
        waiting are kept in self.events."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._read()
            if "event" in resp:
                self.events.append(resp)
            elif "error" in resp:
                raise QMPError(resp["error"].get("class"), resp["error"].get("desc"))
            elif "return" in resp:
                return resp["return"]

    def close(self):
        self.file.close()
        self.sock.close()
