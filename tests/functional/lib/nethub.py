"""The packet path without a guest: TCP socket netdevs joined by hub 0, the test at both ends.

    hub = SocketHub()                    # netdevs "a" and "b" on free loopback ports
    q = qemus(binary, *hub.args(), ...)  # the -netdev options (listeners plus hubports)
    hub.connect()                        # hub.a, hub.b: the test's plain sockets

    test <-tcp-> netdev a -- hubport ha --+
                                          +-- hub 0
    test <-tcp-> netdev b -- hubport hb --+
"""
import time

import frames
from procs import connect_loopback, free_port


class SocketHub:
    def __init__(self, names=("a", "b")):
        self.names = tuple(names)
        self.ports = {n: free_port() for n in self.names}

    def args(self):
        """-netdev options: one listening socket netdev per name, each on a port of hub 0."""
        out = []
        for n in self.names:
            out += ["-netdev", f"socket,id={n},listen=127.0.0.1:{self.ports[n]}"]
        for n in self.names:
            out += ["-netdev", f"hubport,id=h{n},hubid=0,netdev={n}"]
        return out

    def connect(self, settle=0.2):
        """Connects to every netdev (as attributes named after them) and gives the process
        @settle seconds to accept them all: a frame sent before that may be lost."""
        for n in self.names:
            setattr(self, n, connect_loopback(self.ports[n]))
        time.sleep(settle)
        return tuple(getattr(self, n) for n in self.names)

    def connect_probed(self, timeout=5.0):
        """Connects to netdevs a and b and returns once a frame has gone through the hub, a
        surer sign than a pause that both connections are accepted."""
        self.connect(settle=0)
        probe = frames.eth(b"probe", frames.ETH_P_EXPERIMENTAL, dst=frames.BROADCAST)
        deadline = time.monotonic() + timeout
        while True:
            self.a.sendall(frames.frame(probe))
            try:
                _, got = frames.recv_frame(self.b, timeout=0.2)
                assert got == probe
                return self.a, self.b
            except TimeoutError:
                assert time.monotonic() < deadline, "hub never passed a frame"
