"""Block replication in the COLO frame (issue 16): a pair of ours set up with upstream's
runbook disks and start sequence (lib/colo_pair.py disk mode, spec §9.2-§9.4), the test guest
writing its ext4 disk over HTTP while checkpoints come from the timer and from colo-compare
mismatches. Issue 16's workload: one file appended and fsync'd step after step
(/cgi-bin/disk?op=append), each step acknowledged with the file's line count and checksum.

- After every checkpoint while the VMs run (timer and mismatch ones alike), the secondary's
  disk as its guest reads it (active -> hidden -> parent0) equals the primary's byte for
  byte: both sides record CRC-32s of each MiB of it at each checkpoint while stopped
  (x-colo-disk-digests, on once the guest has booted), and the lists agree checkpoint by
  checkpoint. At one checkpoint taken with both VMs stopped (`stop` on the primary asks for
  one and the secondary follows into `paused`) Debian's qemu-img checks the same without our
  code: the chain equals the primary's image, the active and hidden disks hold no data, and
  the CRCs are the image's.
- Failover in both directions (§9.4 steps on the survivor, the other side SIGKILLed): the
  survivor serves on, the appended file holds exactly the steps acknowledged (before the
  failover and after), and after the guest unmounts and powers off, the survivor's image
  passes e2fsck with that file in it.
- Before the failover to the primary, its NBD connection is cut first: its guest writes on and
  the error is recorded.
- Re-protection: the full cycle A -> B -> C (docs/colo.md, "Re-protection").
- The secondary's disk full or read-only under the writing guest: the error recorded on the
  primary, COLO going on as in 7.2; the secondary lost, the primary failing over, and (full)
  re-protected by a fresh secondary that takes over when the primary dies."""
import hashlib
import os
import re
import subprocess
import threading
import time
import zlib

import pytest

import guest
from colo_client import EchoConn
from colo_evidence import ColoEvidence
from colo_pair import ColoDisks, ColoPair

# One test here weighs as 6 test-guest boots when conftest.py orders the files
# (a COLO pair with disks, a minute or more).
BOOTS_PER_TEST = 6

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

CLOCK = re.compile(r"clock (\d+\.\d{6})\nuptime (\d+\.\d+)\n")
KIB = 48
# Appender's steps: LINES lines of LINE_LEN characters each (~800 bytes, an ext4 data block
# and a journal commit per fsync)
LINES = 8
LINE_LEN = 99


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def get(pair, path, timeout=60):
    with pair.ns.entered():
        status, body = guest.http_get(pair.guest_ip, 80, path, timeout=timeout)
    assert status == 200, (path, status, body)
    return body


def expected(name, kib=KIB):
    """The reply /cgi-bin/disk gives for file @name written with seed @name."""
    data = (f"{name}\n".encode() * (kib * 1024))[:kib * 1024]
    return f"name {name} size {len(data)} sha256 {hashlib.sha256(data).hexdigest()}"


def summary(name, data):
    """The reply /cgi-bin/disk?op=append|sum gives for file @name holding @data."""
    lines = data.count(b"\n")
    return f"name {name} lines {lines} size {len(data)} sha256 {hashlib.sha256(data).hexdigest()}"


class Writer(threading.Thread):
    """Writes fsync'd files on the guest's disk (/cgi-bin/disk) one after another, and asks
    /cgi-bin/clock after every third (its replies differ between the VMs: a checkpoint each).
    .acked lists the files whose write the guest acknowledged with the right checksum."""

    def __init__(self, pair, prefix, clock=True):
        super().__init__(daemon=True)
        self.pair, self.prefix, self.clock = pair, prefix, clock
        self.acked = []
        self.error = None
        self.halt = threading.Event()
        self.start()

    def step(self, n):
        """Write @n; what .acked gets once the guest acknowledged it."""
        name = f"{self.prefix}{n}"
        body = get(self.pair, f"/cgi-bin/disk?op=write&name={name}&kib={KIB}&seed={name}",
                   timeout=180).strip()
        assert body == expected(name), body
        return name

    def run(self):
        n = 0
        try:
            while not self.halt.is_set():
                self.acked.append(self.step(n))
                n += 1
                # every third step: between them, stretches with no mismatch for the timer
                if self.clock and n % 3 == 0:
                    assert CLOCK.fullmatch(get(self.pair, "/cgi-bin/clock", timeout=180))
        except Exception as e:  # noqa: BLE001 -- reported by stop()
            self.error = f"step {n} of {self.prefix}: {e!r}"

    def wait_files(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        start = len(self.acked)
        while len(self.acked) < start + n:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"{len(self.acked) - start} files in {timeout} s"
            time.sleep(0.1)

    def stop(self):
        self.halt.set()
        self.join(300)
        assert not self.is_alive(), "a write hung"
        assert self.error is None, self.error
        return self.acked


class Appender(Writer):
    """Issue 16's workload: file @prefix appended and fsync'd, LINES lines a step; .acked
    lists the steps' lines, each once the guest answered with the line count and checksum of
    the whole file as the client expects it (content())."""

    def step(self, n):
        line = f"{self.prefix}{n:06d}".ljust(LINE_LEN, ".")
        body = get(self.pair, f"/cgi-bin/disk?op=append&name={self.prefix}&line={line}"
                   f"&count={LINES}", timeout=180).strip()
        assert body == summary(self.prefix, self.content(self.acked + [line])), body
        return line

    @staticmethod
    def content(acked):
        """The file after the steps @acked."""
        return b"".join(f"{line}\n".encode() * LINES for line in acked)


def wait_for(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not (v := pred()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return v


def status(q):
    return q.cmd("query-status")["return"]["status"]


def stopped_checkpoint(pair):
    """`stop` on the primary: its run-state change asks for a checkpoint, after which both VMs
    are stopped and equal. Returns both sides' stats once the secondary has loaded it."""
    p, s = pair.qmp["primary"], pair.qmp["secondary"]
    before = pair.stats("primary")
    assert p.cmd("stop") == {"return": {}}
    wait_for(lambda: pair.stats("primary")["by-vm-state"] > before["by-vm-state"],
             "no checkpoint after stop")
    wait_for(lambda: status(s) == "paused", "the secondary did not follow into paused")
    sp, ss = pair.stats("primary"), pair.stats("secondary")
    assert sp["checkpoints"] == ss["checkpoints"], (sp, ss)
    return sp, ss


def digests(q):
    """x-colo-disk-digests of one side as {checkpoint: record}."""
    out = {}
    for r in q.cmd("x-colo-disk-digests")["return"]:
        assert r["device"] == "colo-disk0", r
        assert r["checkpoint"] not in out, r
        out[r["checkpoint"]] = r
    return out


def raw_crcs(image, tmp_path, chunk):
    """CRC-32 of each @chunk bytes of @image's guest-visible bytes, as Debian's qemu-img
    converts them."""
    raw = str(tmp_path / "digest.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", image, raw], check=True)
    out = []
    with open(raw, "rb") as f:
        while data := f.read(chunk):
            out.append(zlib.crc32(data))
    os.remove(raw)
    return out


# checkpoints whose digests must agree; the disk is small: both sides read it whole at each
DIGESTS = 10
DIGEST_MIB = 16


def test_checkpoints_keep_disks_equal(qemu_bin, built, tmp_path, sockdir):
    disks = ColoDisks(tmp_path / "disks", mib=DIGEST_MIB)
    with ColoPair(qemu_bin, built, sockdir, delay=1500, disks=disks) as pair:
        p, s = pair.qmp["primary"], pair.qmp["secondary"]
        # Once the guest has booted (recording from COLO's entry on, the boot inside COLO
        # missed its 90 s limit in several runs on the loaded host). S first: whatever
        # checkpoint P records from now on, S records too.
        for q in (s, p):
            assert q.cmd("x-colo-disk-digests", {"record": True}) == {"return": []}
        app = Appender(pair, "log")
        app.wait_files(1)
        first = pair.stats("primary")["checkpoints"] + 1

        def appending():
            return [r for k, r in digests(p).items() if k >= first]
        # mismatch checkpoints among them; timer ones only when they come: each mismatch
        # restarts the timer (as upstream's), and a guest fast enough to append more than once
        # in 1.5 s leaves it no gap (CI: 99 checkpoints, all by compare, in 60 s)
        wait_for(lambda: len(d := appending()) >= DIGESTS
                 and "compare" in {r["trigger"] for r in d},
                 f"no {DIGESTS} checkpoints with a mismatch one", timeout=180)
        app.wait_files(1)
        # the last one with both VMs stopped: the same through qemu-img, independent of ours
        sp, ss = stopped_checkpoint(pair)
        r = disks.compare(disks.primary, disks.secondary_chain())
        assert r.returncode == 0, r.stdout + r.stderr
        assert disks.allocated(disks.active) == 0
        assert disks.allocated(disks.hidden) == 0
        r = disks.compare(disks.primary, disks.secondary)
        assert r.returncode == 0, r.stdout + r.stderr
        dp, ds = digests(p), digests(s)
        last = sp["checkpoints"]
        assert dp[last]["chunk-size"] == 1 << 20, dp[last]
        assert dp[last]["crc32"] == raw_crcs(disks.primary, tmp_path, 1 << 20), dp[last]
        # every checkpoint since P began recording, on both sides, equal
        assert sorted(dp) == list(range(min(dp), last + 1)), sorted(dp)
        assert set(dp) <= set(ds) and max(ds) == last, (sorted(dp), sorted(ds))
        assert "trigger" not in ds[last], ds[last]
        assert not [r for r in [*dp.values(), *ds.values()] if "error" in r], (dp, ds)
        # which MiB differ, at which checkpoint
        differ = {k: [i for i, (a, b) in enumerate(zip(dp[k]["crc32"], ds[k]["crc32"]))
                      if a != b] for k in dp if dp[k]["crc32"] != ds[k]["crc32"]}
        assert not differ, differ
        assert all(len(r["crc32"]) == DIGEST_MIB for r in dp.values()), dp
        # the guest did write between them: a digest that ignored the disk would agree too
        assert len({tuple(r["crc32"]) for k, r in dp.items() if k >= first}) > DIGESTS // 2, dp
        assert sp["disk-bytes"] > 0, sp
        assert ss["max-disk-empty-ms"] > 0, ss
        assert ss["disk-empty-ms"] >= ss["max-disk-empty-ms"] >= ss["last-disk-empty-ms"]
        triggers = [dp[k]["trigger"] for k in sorted(dp)]
        print(f"digests equal at {len(dp)} checkpoints ({min(dp)}-{last}): "
              + ", ".join(f"{t} {triggers.count(t)}" for t in sorted(set(triggers)))
              + f"; pause p50 {sp['pause-p50-ms']} ms, p99 {sp['pause-p99-ms']} ms")
        assert p.cmd("cont") == {"return": {}}
        app.wait_files(1)
        acked = app.stop()
        assert get(pair, "/cgi-bin/disk?op=sum&name=log").strip() == summary(
            "log", Appender.content(acked))
        info = p.hmp("info colo")
        assert re.search(r"disks: last \d+ bytes, all [1-9]\d* bytes; emptying last", info), info


def power_off(vm):
    """The survivor's guest unmounts its disk and powers off; its process ends with 0."""
    start = len(vm.console)
    vm.send("umount /mnt/disk; echo QC-UMOUNT=$?; poweroff -f")
    try:
        vm.wait_for(r"QC-UMOUNT=0", timeout=60, start=start)
        assert vm.wait_exit(120) == 0
    except Exception as e:
        raise AssertionError(f"{e!r}; console:\n{vm.console[-3000:]}") from None


def fsck_image(image, tmp_path):
    """@image (qcow2) converted to raw, which passes e2fsck -fn; returns its path."""
    raw = str(tmp_path / "final.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
    fsck = subprocess.run(["e2fsck", "-fn", raw], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    return raw


def image_file(raw, name):
    """The bytes of file /@name in the ext4 image @raw (debugfs)."""
    got = subprocess.run(["debugfs", "-R", f"cat /{name}", raw], capture_output=True)
    assert got.returncode == 0, got.stderr
    return got.stdout


def check_image(image, acked, tmp_path):
    """@image (qcow2) passes e2fsck -fn and holds each of the files @acked, byte for byte."""
    raw = fsck_image(image, tmp_path)
    for name in acked:
        data = image_file(raw, name)
        assert expected(name) == (f"name {name} size {len(data)} sha256 "
                                  f"{hashlib.sha256(data).hexdigest()}")


def nbd_cut(pair, writer):
    """The primary's NBD connection to the secondary's disk cut (nbd-server-stop on the
    secondary) while its guest writes: the writes go on (the quorum's local child), and the
    replication node records the error, as query-xen-replication-status shows."""
    p = pair.qmp["primary"]
    assert p.cmd("query-xen-replication-status") == {"return": {"error": False}}
    assert pair.qmp["secondary"].cmd("nbd-server-stop") == {"return": {}}
    writer.wait_files(2)
    replication_error(p)


def replication_error(p):
    """Waits until the primary @p's replication node has recorded an I/O error."""
    st = wait_for(lambda: (r := p.cmd("query-xen-replication-status")["return"])["error"] and r,
                  "no replication error recorded")
    assert st == {"error": True, "desc": "I/O error occurred"}, st


@pytest.mark.parametrize("survivor", ["primary", "secondary"])
def test_failover_keeps_acknowledged_writes(qemu_bin, built, tmp_path, sockdir, survivor):
    disks = ColoDisks(tmp_path / "disks")
    other = "secondary" if survivor == "primary" else "primary"
    with ColoPair(qemu_bin, built, sockdir, delay=1000, disks=disks) as pair:
        app = Appender(pair, "log")
        app.wait_files(3)
        wait_for(lambda: pair.stats("primary")["checkpoints"] >= 2, "no checkpoints")
        if survivor == "primary":
            nbd_cut(pair, app)
        pair.kill(other)
        # what the client was told before the failover (no reply leaves a pair that cannot
        # checkpoint: the secondary gone, or the primary gone with its colo-compare)
        acked_before = list(app.acked)
        exit_ev = pair.failover_runbook(survivor)
        assert exit_ev["data"] == {"mode": survivor, "reason": "request"}
        q = pair.qmp[survivor]
        assert q.cmd("query-colo-status")["return"] == {
            "mode": "none", "last-mode": survivor, "reason": "request"}
        wait_for(lambda: status(q) == "running", "the survivor does not run")
        # it serves on: the append in flight at the failover completes (once), more come
        app.wait_files(3)
        acked = app.stop()
        assert acked[:len(acked_before)] == acked_before
        data = Appender.content(acked)
        assert get(pair, "/cgi-bin/disk?op=sum&name=log").strip() == summary("log", data)
        power_off(pair.vms[survivor])
    # the primary's image, or the secondary's parent0, into which its failover committed
    raw = fsck_image(disks.primary if survivor == "primary" else disks.secondary, tmp_path)
    # exactly the acknowledged steps: those the client saw before the failover first
    assert image_file(raw, "log") == data
    assert data.startswith(Appender.content(acked_before))


def rewriter_tracks(q, conn):
    """Whether the filter-rewriters of @q translate the client connection @conn (EchoConn)."""
    end = f"{ColoPair.client_ip}:{conn.sock.getsockname()[1]}"
    return any(c["connection"].endswith(end)
               for r in q.cmd("x-query-colo-rewriter")["return"] for c in r["connections"])


def start_load(pair, prefix):
    """An echo connection to the guest (one exchange), checkpointed, and a Writer of files
    @prefix<n>, once two files and two checkpoints are in: (echo, writer).

    Checkpointed: a checkpoint after its handshake gave the secondary's guest the primary's
    TCP state, so its rewriter forgot it. Until then the secondary's sequence numbers differ
    from the client's (its own ISN), and a failover then leaves its rewriter translating the
    connection for good; the survivor, protected again, cannot hand that translation to its
    new secondary, so such a connection dies at the next failover (docs/colo.md, "What a
    second failover keeps").
    A connection opened within a second of a failover is that case; this one must survive."""
    with pair.ns.entered():
        echo = EchoConn(pair.guest_ip, timeout=120)
    echo.roundtrip(echo.message())
    wait_for(lambda: not rewriter_tracks(pair.qmp["secondary"], echo),
             "no checkpoint after the echo connection's handshake")
    writer = Writer(pair, prefix, clock=False)
    writer.wait_files(2)
    wait_for(lambda: pair.stats("primary")["checkpoints"] >= 2, "no checkpoints")
    return echo, writer


def protect_again(pair, survivor, image, writer, echo, tmp_path, evidence=None):
    """After a failover to @survivor, whose disk is @image: C, a fresh secondary, resynced and
    in COLO with it (ColoPair.reprotect, while the guest writes); at a stopped checkpoint C's
    chain equals @image byte for byte; checkpoints follow; then the survivor is SIGKILLed and
    C fails over. The echo connection carries on through each step. C's ColoDisks.
    @evidence (ColoEvidence): snapshots at each step, the survivor's last before its kill."""
    snap = evidence.snap if evidence else lambda label: None
    c_disks = ColoDisks(tmp_path / "c", blank=True)
    # the guest writes on through the resync (the mirror copies its writes too); its request
    # in flight at `stop` waits until COLO's entry runs the VM again
    pair.reprotect(survivor, c_disks)
    snap("protected again")
    echo.roundtrip(echo.message())
    writer.wait_files(2)
    sp, _ = stopped_checkpoint(pair)
    r = c_disks.compare(image, c_disks.secondary_chain())
    assert r.returncode == 0, r.stdout + r.stderr
    assert pair.qmp["primary"].cmd("cont") == {"return": {}}
    writer.wait_files(2)
    echo.roundtrip(echo.message())
    wait_for(lambda: pair.stats("primary")["checkpoints"] >= sp["checkpoints"] + 2,
             "no checkpoints after re-protection")
    snap("before the primary's kill")
    pair.kill("primary")
    pair.failover_runbook("secondary")
    snap("the new secondary failed over")
    return c_disks


def finish_on(pair, side, writer, echo, tmp_path):
    """The guest on @side serves on: more files, the echo connection's last exchange; every
    acknowledged file reads back; it powers off. The acknowledged files."""
    writer.wait_files(2)
    acked = writer.stop()
    echo.roundtrip(echo.message())
    echo.close()
    for name in acked:
        assert get(pair, f"/cgi-bin/disk?op=read&name={name}").strip() == expected(name)
    power_off(pair.vms[side])
    return acked


def test_full_cycle_reprotect(qemu_bin, built, tmp_path, sockdir):
    """A primary, B secondary; A killed, B serves; C started as the new secondary, resynced
    (drive-mirror sync=full to C's NBD export, stop, block-job-cancel), B's replication child
    and proxy added (before rew0), migrate: COLO again, checkpoints keep C's disk equal to
    B's; B killed, C serves. One client TCP connection (echo) survives all of it, and every
    file acknowledged is on C's disk, which passes e2fsck. A failure leaves the consoles, the
    COLO queries at each step and a capture of the bridge (lib/colo_evidence.py)."""
    disks = ColoDisks(tmp_path / "ab")
    with (ColoPair(qemu_bin, built, sockdir, delay=1000, disks=disks) as pair,
          ColoEvidence(pair, tmp_path / "evidence") as ev):
        echo, writer = start_load(pair, "c")
        ev.watch(echo)
        ev.snap("A and B in COLO")
        pair.kill("primary")  # A
        pair.failover_runbook("secondary")
        ev.snap("B failed over")
        writer.wait_files(2)
        echo.roundtrip(echo.message())
        # B's parent0, into which its failover committed
        c_disks = protect_again(pair, "secondary", disks.secondary, writer, echo, tmp_path,
                                evidence=ev)
        acked = finish_on(pair, "secondary", writer, echo, tmp_path)
    check_image(c_disks.secondary, acked, tmp_path)


def break_disk(pair, disks, fault):
    """The secondary's parent0 stops taking writes while it runs: "full" (RLIMIT_FSIZE at
    its file's size, set on the running process: each write that grows it fails with EFBIG)
    or "read-only" (chattr +i: every write fails with EPERM; undo with mend_disk)."""
    if fault == "full":
        size = os.path.getsize(disks.secondary)
        subprocess.run(["prlimit", f"--pid={pair.vms['secondary'].proc.pid}",
                        f"--fsize={size}"], check=True)
    else:
        subprocess.run(["chattr", "+i", disks.secondary], check=True)


def mend_disk(disks):
    subprocess.run(["chattr", "-i", disks.secondary], check=False)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_secondary_disk_fault(qemu_bin, built, tmp_path, sockdir, fault):
    """The secondary's disk stops taking writes during COLO, the guest writing: as 7.2, the
    primary's guest writes on (its quorum's local child), the primary's replication node
    records the error (query-xen-replication-status), the secondary records nothing, lives
    on, and checkpoints go on. The secondary is then lost (SIGKILL) and the primary fails over
    (§9.4). Read-only: it serves on, and its image passes e2fsck with every acknowledged
    file. Full: the primary is protected again by a fresh secondary C (re-protection from a
    surviving primary), which takes over when the primary is killed; C's disk holds every
    acknowledged file, e2fsck clean. One echo connection survives all of it."""
    # 4 MiB of data already in parent0: the size limit set at its file's size leaves the
    # overlays (emptied at each checkpoint) room, while each cluster parent0 allocates fails
    disks = ColoDisks(tmp_path / "ab", files={"hello": b"made on the host\n",
                                             "ballast": os.urandom(4 << 20)})
    try:
        with ColoPair(qemu_bin, built, sockdir, delay=1000, disks=disks) as pair:
            p = pair.qmp["primary"]
            echo, writer = start_load(pair, "e")
            assert p.cmd("query-xen-replication-status") == {"return": {"error": False}}
            break_disk(pair, disks, fault)
            writer.wait_files(3)
            replication_error(p)
            n = pair.stats("primary")["checkpoints"]
            writer.wait_files(2)
            wait_for(lambda: pair.stats("secondary")["checkpoints"] >= n + 2,
                     "COLO did not go on")
            for side in ("primary", "secondary"):
                assert pair.qmp[side].cmd("query-colo-status")["return"]["mode"] == side
            assert pair.qmp["secondary"].cmd("query-xen-replication-status") == {
                "return": {"error": False}}
            pair.kill("secondary")
            pair.failover_runbook("primary")
            writer.wait_files(2)
            echo.roundtrip(echo.message())
            if fault == "full":
                c_disks = protect_again(pair, "primary", disks.primary, writer, echo, tmp_path)
                survivor, image = "secondary", c_disks.secondary
            else:
                survivor, image = "primary", disks.primary
            acked = finish_on(pair, survivor, writer, echo, tmp_path)
    finally:
        if fault == "read-only":
            mend_disk(disks)
    check_image(image, acked, tmp_path)
