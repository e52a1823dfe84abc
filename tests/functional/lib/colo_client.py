"""A client of the test guest's echo (TCP 7) and HTTP (80) services that times what it does,
for bench/colo and make demo: the same measures for one VM and for a COLO pair.

    c = EchoConn("10.0.2.15")         # one connection, kept across checkpoints and failover
    c.roundtrip(b"x" * 64)            # seconds; raises if the echo is not byte for byte
    echo_latencies(host, 200)         # seconds each, one connection
    echo_throughput(host, 1 << 20)    # bytes/s, sent and echoed at once
    http_latencies(host, 20)          # seconds each, a new connection per GET
    percentile(values, 99)            # nearest rank

Every call checks what came back, so a lost or altered byte fails the caller's step.
"""
import socket
import time

import guest

ECHO_PORT = 7
HTTP_PORT = 80


class EchoConn:
    def __init__(self, host, port=ECHO_PORT, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent = 0

    def roundtrip(self, data, timeout=None):
        """Sends @data and waits for it back; returns the seconds it took."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        t0 = time.monotonic()
        self.sock.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = self.sock.recv(len(data) - len(got))
            if not chunk:
                raise ConnectionError(f"echo closed after {self.sent + len(got)} bytes")
            got += chunk
        if got != data:
            raise AssertionError(f"echo altered at byte {self.sent}: {got[:40]!r}")
        self.sent += len(data)
        return time.monotonic() - t0

    def message(self):
        """A payload that says which one it is, so a duplicated or lost one shows."""
        return b"%08d" % self.sent + b"." * 56

    def close(self):
        self.sock.close()


def echo_latencies(host, n, port=ECHO_PORT):
    conn = EchoConn(host, port)
    try:
        return [conn.roundtrip(conn.message()) for _ in range(n)]
    finally:
        conn.close()


def echo_throughput(host, nbytes, port=ECHO_PORT):
    """Bytes per second through the echo service, sending and reading back at once."""
    data = bytes(i * 7 % 251 for i in range(nbytes))
    t0 = time.monotonic()
    got = guest.tcp_echo(host, port, data, timeout=60)
    elapsed = time.monotonic() - t0
    if got != data:
        raise AssertionError(f"echo of {nbytes} bytes came back as {len(got)} bytes, or altered")
    return nbytes / elapsed


def http_latencies(host, n, path="/", port=HTTP_PORT):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        status, _ = guest.http_get(host, port, path, timeout=30)
        if status != 200:
            raise AssertionError(f"GET {path}: {status}")
        out.append(time.monotonic() - t0)
    return out


def percentile(values, pct):
    """Nearest-rank percentile (as x-query-colo-stats computes its own)."""
    s = sorted(values)
    rank = max((len(s) * pct + 99) // 100, 1)
    return s[rank - 1]
