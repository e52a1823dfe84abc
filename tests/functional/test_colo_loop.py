"""The proxy in the loop (issue 13): a COLO pair of ours with upstream's runbook filters
(lib/colo_pair.py), a client in the network namespace holding TCP connections to the guest's
echo and HTTP services while checkpoints come from the timer and from forced mismatches (the
guest's /cgi-bin/clock answers differently on each VM), then one side SIGKILLed and the other
failed over. Every connection survives; the echo streams come back byte for byte, nothing lost
or duplicated; every HTTP reply is one a single VM would send; a connection opened after the
last checkpoint (so its filter-rewriter offset is not zero) survives too."""
import os
import random
import re
import socket
import threading
import time

import pytest

import guest
from colo_pair import ColoPair
from colo_evidence import ColoEvidence

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

CLOCK = re.compile(r"clock (\d+\.\d{6})\nuptime (\d+\.\d+)\n")


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def recv_exact(sock, n):
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Client:
    """A client thread doing rounds until stopped; a failed round ends it with .error set."""

    def __init__(self):
        self.rounds = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                self.round()
                self.rounds += 1
        except Exception as e:  # a failed check or a socket error, reported by stop()
            self.error = f"round {self.rounds}: {e!r}"

    def wait_rounds(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        start = self.rounds
        while self.rounds < start + n:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"{self.rounds - start} rounds in {timeout} s"
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "a round hung"
        assert self.error is None, self.error


class EchoStream(Client):
    """One connection to the guest's TCP echo service, held open. A thread sends random chunks
    one at a time and checks that exactly those bytes come back before the next."""

    def __init__(self, pair, seed):
        with pair.ns.entered():
            self.sock = socket.create_connection((pair.guest_ip, 7), timeout=30)
        self.local_port = self.sock.getsockname()[1]
        self.rng = random.Random(seed)
        super().__init__()

    def round(self):
        # Mostly small rounds, now and then a burst of many segments.
        big = self.rng.random() < 0.1
        data = self.rng.randbytes(self.rng.randint(1, 65536 if big else 4000))
        self.sock.sendall(data)
        back = recv_exact(self.sock, len(data))
        assert back == data, (f"sent {len(data)} bytes, got {len(back)} back, equal prefix "
                              f"{_common(data, back)}")
        time.sleep(0.01)

    def key(self, pair):
        """The connection as x-query-colo-rewriter names it."""
        return f"tcp {pair.guest_ip}:7 -> {pair.client_ip}:{self.local_port}"

    def finish(self):
        """Stops the sender, checks that nothing more came back (no duplicated byte), then
        closes and sees the guest close its end."""
        self.stop()
        self.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            extra = self.sock.recv(65536)
            pytest.fail(f"{len(extra)} bytes more than were sent")
        self.sock.settimeout(30)
        self.sock.shutdown(socket.SHUT_WR)
        assert self.sock.recv(65536) == b""
        self.sock.close()


def _common(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def get(pair, path):
    with pair.ns.entered():
        status, body = guest.http_get(pair.guest_ip, 80, path, timeout=30)
    assert status == 200, (path, status, body)
    return body


def clock(pair):
    """The guest's clock, checked to be one whole reply of one VM; returns its uptime."""
    body = get(pair, "/cgi-bin/clock")
    m = CLOCK.fullmatch(body)
    assert m, repr(body)
    return float(m.group(2))


def wait_stats(pair, side, pred, timeout=30):
    deadline = time.monotonic() + timeout
    while not pred(st := pair.stats(side)):
        assert time.monotonic() < deadline, st
        time.sleep(0.05)
    return st


def wait_tracked(pair, keys, timeout=10):
    """Waits until the secondary's filter-rewriter tracks exactly the connections @keys."""
    deadline = time.monotonic() + timeout
    while True:
        rew = pair.qmp["secondary"].cmd("x-query-colo-rewriter", {"id": "rew0"})["return"][0]
        if {c["connection"] for c in rew["connections"]} == keys:
            return rew
        if time.monotonic() > deadline:
            st = pair.stats("primary") if "primary" in pair.qmp else None
            cmp_ = (pair.qmp["primary"].cmd("query-colo-compare")["return"]
                    if "primary" in pair.qmp else None)
            pytest.fail(f"tracked {rew['connections']}, expected {keys}; {st}; {cmp_}")
        time.sleep(0.1)


@pytest.mark.parametrize("killed", ["primary", "secondary"])
def test_client_survives_failover(qemu_bin, built, sockdir, killed):
    survivor = "secondary" if killed == "primary" else "primary"
    # A long compare_timeout: the phase after the last checkpoint must see none, also when the
    # loaded host starves the secondary for seconds. A lost packet would still stall a stream
    # for longer than wait_rounds() waits.
    with ColoPair(qemu_bin, built, sockdir, delay=1000, compare_timeout=30000) as pair:
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        index = get(pair, "/")
        assert "host colo" in index
        streams = [EchoStream(pair, seed) for seed in (1, 2)]
        for e in streams:
            e.wait_rounds(5)

        # Checkpoints from forced mismatches (the clock differs) and from the timer. A reply the
        # timer's checkpoint releases before the secondary's arrives is no mismatch: ask again.
        assert get(pair, "/zero-1m") == "\0" * (1 << 20)
        uptimes = []
        deadline = time.monotonic() + 60
        while not ((st := pair.stats("primary"))["by-compare"] >= 1 and st["by-timer"] >= 1):
            assert time.monotonic() < deadline, st
            # each mismatch checkpoint restarts the timer: once one came, let the timer's come
            if st["by-compare"] < 1 or not uptimes:
                uptimes.append(clock(pair))
            time.sleep(0.2)
        assert uptimes == sorted(uptimes), uptimes
        assert get(pair, "/") == index
        for e in streams:
            e.wait_rounds(5)

        # The last checkpoint: a new delay checkpoints at once and the long one keeps the timer
        # quiet; the echo streams match on both VMs, so colo-compare asks for none either.
        n = pair.stats("primary")["checkpoints"]
        assert p.cmd("migrate-set-parameters", {"x-checkpoint-delay": 600000}) == {"return": {}}
        st = wait_stats(pair, "primary", lambda st: st["checkpoints"] > n and st["by-delay"] == 1)
        n = st["checkpoints"]
        wait_stats(pair, "secondary", lambda st: st["checkpoints"] == n)
        # A connection opened now gets an offset: the SVM picked its own ISN. The ISNs of the
        # two VMs differ by their clocks' difference in 64 ns units, which may happen to be 0:
        # open another then.
        for seed in range(3, 8):
            late = EchoStream(pair, seed)
            streams.append(late)
            late.wait_rounds(3)
            rew = s.cmd("x-query-colo-rewriter")["return"]
            assert [r["id"] for r in rew] == ["rew0"] and not rew[0]["failover-mode"], rew
            conns = {c["connection"]: c for c in rew[0]["connections"]}
            # Untracked means a checkpoint came after the last one (it forgets every
            # connection): say which, with compare's counters (seen once in 6 runs, load ~4).
            assert late.key(pair) in conns, (n, conns, pair.stats("primary"),
                                             p.cmd("query-colo-compare")["return"])
            if conns[late.key(pair)]["offset"]:
                break
        assert conns[late.key(pair)]["state"] == "established", conns
        # The checkpoint forgot the older connections: their offsets are 0 for good. (No HTTP
        # here: busybox's Date header differs between the VMs across a second's boundary.)
        wait_tracked(pair, {e.key(pair) for e in streams[2:]})
        assert conns[late.key(pair)]["offset"] != 0, conns
        for e in streams:
            e.wait_rounds(10)
        st = pair.stats("primary")
        assert st["checkpoints"] == n, (st, p.cmd("query-colo-compare")["return"])
        assert rew[0]["rewritten"] > 0

        cmp_ = p.cmd("query-colo-compare")["return"][0]
        assert cmp_["id"] == "comp0"
        assert cmp_["mismatches"]["tcp"] >= 1 and cmp_["checkpoint-requests"]["mismatch"] >= 1
        assert cmp_["checkpoint-requests"]["timeout"] == 0, cmp_
        assert cmp_["flushes"] >= n and cmp_["released"]["compared"] > 0
        assert cmp_["send-failures"] == 0 and cmp_["oversized-frames"] == 0
        assert cmp_["malformed-frames"] == 0
        assert cmp_["dropped-primary"] == {"empty": 0, "queue-full": 0}, cmp_
        assert cmp_["connections"] >= len(streams)
        st = pair.stats("primary")
        assert st["checkpoints"] == st["by-timer"] + st["by-compare"] + st["by-delay"], st

        # Failover while the streams keep going.
        pair.kill(killed)
        q = pair.qmp[survivor]
        assert q.cmd("x-colo-lost-heartbeat") == {"return": {}}
        ev = q.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
        assert ev["data"] == {"mode": survivor, "reason": "request"}
        assert q.cmd("query-status")["return"]["status"] == "running"
        for e in streams:
            e.wait_rounds(10)
        after = EchoStream(pair, 4)
        after.wait_rounds(5)
        streams.append(after)
        up = clock(pair)
        assert up >= max(uptimes, default=0), (up, uptimes)
        assert get(pair, "/") == index
        for e in streams:
            e.finish()
        if survivor == "secondary":
            # Each closed connection was forgotten, also one opened after the failover.
            wait_tracked(pair, set())
        assert pair.stats(survivor)["mode"] == "none"


class ClockPoller(Client):
    """A thread asking the guest's /cgi-bin/clock over and over, each on a new connection: every
    reply differs between the VMs, so each forces a checkpoint. Every reply must be one whole
    reply of one VM."""

    def __init__(self, pair):
        self.pair = pair
        super().__init__()

    def round(self):
        clock(self.pair)


def test_primary_killed_amid_checkpoints(qemu_bin, built, sockdir, tmp_path):
    """The primary dies while checkpoints follow each other (a mismatch per HTTP reply, and a
    short timer), most likely in the middle of one: the secondary takes over and no stream or
    reply is torn. Each mismatch restarts the timer, so the timer's own checkpoints come only
    in a 300 ms gap between replies, which a loaded host may never leave: they are not awaited
    (test_client_survives_failover checks both kinds)."""
    # A failure keeps a capture of the bridge and both sides' COLO queries: it happened once in
    # CI (a reset of the poller's connection after the failover) and not since.
    with (ColoPair(qemu_bin, built, sockdir, delay=300) as pair,
          ColoEvidence(pair, tmp_path / "evidence") as ev):
        streams = [EchoStream(pair, seed) for seed in (11, 12)]
        ev.watch(streams[0])
        poller = ClockPoller(pair)
        wait_stats(pair, "primary", lambda st: st["by-compare"] >= 3)
        for e in streams:
            e.wait_rounds(5)
        s = pair.qmp["secondary"]
        s.clear_events()
        s.wait_event("STOP", timeout=30)
        pair.kill("primary")
        ev.snap("primary killed")
        assert s.cmd("x-colo-lost-heartbeat") == {"return": {}}
        s.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
        ev.snap("failed over")
        poller.wait_rounds(3)
        for e in streams:
            e.wait_rounds(10)
        poller.stop()
        for e in streams:
            e.finish()
        wait_tracked(pair, set())


def test_primary_killed_before_the_first_checkpoint(qemu_bin, built, sockdir):
    """Connections opened before the guest's first checkpoint, which are its first TCP ever:
    each VM draws its own TCP secrets, so the sequence numbers and the TCP timestamps of the
    two differ at random. After the failover the client must still accept the secondary's
    segments (filter-rewriter moves both into the primary's space; a TSval behind the one the
    client saw last would be dropped as old)."""
    with ColoPair(qemu_bin, built, sockdir, delay=600000, compare_timeout=30000) as pair:
        streams = [EchoStream(pair, seed) for seed in (21, 22)]
        for e in streams:
            e.wait_rounds(5)
        st = pair.stats("primary")
        assert st["checkpoints"] == 0, (st, pair.qmp["primary"].cmd("query-colo-compare"))
        rew = wait_tracked(pair, {e.key(pair) for e in streams})
        assert all(c["offset"] for c in rew["connections"]), rew
        pair.kill("primary")
        s = pair.qmp["secondary"]
        assert s.cmd("x-colo-lost-heartbeat") == {"return": {}}
        s.wait_event("COLO_EXIT", timeout=30, match={"reason": "request"})
        for e in streams:
            e.wait_rounds(10)
        # Still tracking (the connections have offsets): an HTTP connection, which the guest
        # closes first, is forgotten once closed, as are the echo ones the client closes.
        assert "host colo" in get(pair, "/")
        for e in streams:
            e.finish()
        wait_tracked(pair, set())
