"""The COLO soak (docs/colo.md, "Tests"): 1000 checkpoints in a row at x-checkpoint-delay 50 ms
while the guest dirties memory and a client keeps its echo and HTTP services busy through the
primary's slirp. No hang (checkpoints keep coming), no error (no COLO_EXIT, every echo intact),
no divergence (RAM hashes equal at the end, both sides counted every checkpoint)."""
import os
import threading
import time

import pytest

import guest
from test_colo import Pair, wait_equal_checkpoint

CHECKPOINTS = int(os.environ.get("QC_SOAK_CHECKPOINTS", "1000"))


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


class Client:
    """Echo exchanges and HTTP GETs in a loop until stopped; any wrong or missing reply is
    kept in .errors."""

    def __init__(self, vm):
        self.vm = vm
        self.stop = threading.Event()
        self.echoes = self.pages = 0
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            data = (b"soak %d " % n) * 300
            try:
                got = guest.tcp_echo("127.0.0.1", self.vm.ports["echo"], data, timeout=30)
                if got != data:
                    self.errors.append(f"echo {n}: {len(got)} bytes back of {len(data)}")
                self.echoes += 1
                if n % 4 == 0:
                    status, _ = guest.http_get("127.0.0.1", self.vm.ports["http"], "/",
                                               timeout=30)
                    if status != 200:
                        self.errors.append(f"GET {n}: {status}")
                    self.pages += 1
            except OSError as e:
                self.errors.append(f"exchange {n}: {e!r}")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)


def test_thousand_checkpoints_under_load(qemu_bin, built, tmp_path):
    pair = Pair(qemu_bin, built, tmp_path, append="qc.quiet qc.dirty=8 qc.dirty_set=16")
    try:
        pair.start(delay=50)
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        t0 = time.monotonic()
        with Client(pair.vms["primary"]) as client:
            done, last, last_change = 0, -1, time.monotonic()
            while done < CHECKPOINTS:
                time.sleep(0.5)
                done = p.cmd("x-query-colo-stats")["return"]["checkpoints"]
                now = time.monotonic()
                if done != last:
                    last, last_change = done, now
                # no hang: at 50 ms a checkpoint, ten seconds without one is a stall
                assert now - last_change < 10, f"stuck at checkpoint {done}"
        took = time.monotonic() - t0
        assert not client.errors, client.errors[:5]
        assert client.echoes > 20 and client.pages > 5, (client.echoes, client.pages)
        # the end: hashes at one more checkpoint, taken on both sides
        for q in (p, s):
            q.cmd("x-colo-ram-hashes", {"record": True})
        a, b = wait_equal_checkpoint(pair, 0)
        diff = [i for i, (x, y) in enumerate(zip(a["hashes"], b["hashes"])) if x != y]
        assert not diff, f"checkpoint {a['checkpoint']}: MiB {diff[:10]} differ"
        for q in (p, s):
            q.cmd("x-colo-ram-hashes", {"record": False})
        pst = p.cmd("x-query-colo-stats")["return"]
        sst = s.cmd("x-query-colo-stats")["return"]
        # checkpoints go on between the two queries: the primary's count read again after
        after = p.cmd("x-query-colo-stats")["return"]["checkpoints"]
        assert pst["checkpoints"] >= CHECKPOINTS
        # the secondary counts a checkpoint once loaded: at most the one in flight behind
        assert pst["checkpoints"] - 1 <= sst["checkpoints"] <= after
        assert pst["by-timer"] >= CHECKPOINTS - 5, pst
        for q in (p, s):
            assert not [e for e in q.get_events() if e["event"] == "COLO_EXIT"]
            assert q.cmd("query-colo-status")["return"]["reason"] == "none"
        print(f"\n{pst['checkpoints']} checkpoints in {took:.1f} s, pause p50 "
              f"{pst['pause-p50-ms']:.1f} ms p99 {pst['pause-p99-ms']:.1f} ms, "
              f"{client.echoes} echoes, {client.pages} pages")
    finally:
        pair.stop()
