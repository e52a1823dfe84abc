"""Block jobs: drive-mirror / blockdev-mirror, query-block-jobs, block-job-cancel/complete and
their events, beside Debian's QEMU running the same mirror, and a mirror of the test guest's
disk while the guest writes to it (docs/block.md, "Block jobs")."""

import hashlib
import json
import os
import re
import subprocess
import threading
import time

import pytest

import guest
import procs
from procs import free_port
from qmp import QemuProcess, QMPClient

DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"
OURS = os.path.join(guest.ROOT, "build", "qemu-system-x86_64")
MIB = 1 << 20
BASE = ["-M", "none", "-nodefaults", "-display", "none"]


def make_image(path, mib, pattern=True):
    """A raw image with data in some places and holes elsewhere."""
    with open(path, "wb") as f:
        f.truncate(mib * MIB)
        if pattern:
            for i in range(0, mib, 3):
                f.seek(i * MIB + 4096 * i)
                f.write((f"block {i}\n".encode()) * 3000)


def normalize(msg):
    """A reply or event made comparable between the two binaries: no timestamps, auto node
    names folded, allocated sizes dropped (they depend on the file system's extents)."""
    msg = dict(msg)
    msg.pop("timestamp", None)
    text = json.dumps(msg, sort_keys=True)
    text = re.sub(r"#block\d+", "#block", text)
    text = re.sub(r'"actual-size": \d+', '"actual-size": 0', text)
    return json.loads(text)


class Session:
    """One binary under QMP; records the replies and the events in the order they came."""

    def __init__(self, binary, args):
        self.vm = QemuProcess(binary, args, timeout=30)
        self.qmp = self.vm.qmp

    def cmd(self, name, args=None):
        return normalize(self.qmp.cmd(name, args or {}))

    def hmp(self, line):
        return self.qmp.cmd("human-monitor-command", {"command-line": line})["return"]

    def event(self, name, timeout=30):
        return normalize(self.qmp.wait_event(name, timeout=timeout))

    def events(self):
        return [normalize(e) for e in self.qmp.get_events(0.2)]

    def close(self):
        self.vm.kill()


def job_events(events):
    return [(e["event"], e["data"]) for e in events
            if e["event"].startswith(("JOB_", "BLOCK_JOB_"))]


def run_script(binary, tmp, script):
    """Plays one scripted mirror session; returns what each step answered, events included."""
    os.makedirs(tmp, exist_ok=True)
    src = os.path.join(tmp, "src.raw")
    make_image(src, 16)
    make_image(os.path.join(tmp, "same.raw"), 16, pattern=False)
    make_image(os.path.join(tmp, "small.raw"), 8, pattern=False)
    args = BASE + ["-drive", f"if=none,id=d0,file={src},format=raw,node-name=src0",
                   "-blockdev", f"driver=file,node-name=sf,filename={tmp}/small.raw",
                   "-blockdev", "driver=raw,node-name=small,file=sf",
                   "-blockdev", f"driver=file,node-name=tf,filename={tmp}/same.raw",
                   "-blockdev", "driver=raw,node-name=tgt,file=tf"]
    s = Session(binary, args)
    out = []
    try:
        for step in script:
            kind, arg = step[0], (step[1] if len(step) > 1 else None)
            if kind == "cmd":
                out.append(("cmd", arg, s.cmd(arg, step[2] if len(step) > 2 else None)))
            elif kind == "hmp":
                out.append(("hmp", arg, s.hmp(arg)))
            elif kind == "wait":
                s.event(arg)
                out.append(("wait", arg))
            elif kind == "events":
                out.append(("events", job_events(s.events())))
    finally:
        s.close()
    return out


def mirror_args(tmp, **kw):
    a = {"device": "d0", "target": os.path.join(tmp, "t.raw"), "sync": "full"}
    a.update(kw)
    return a


def error_script(tmp):
    t = os.path.join(tmp, "t.raw")
    return [
        ("cmd", "drive-mirror", mirror_args(tmp, device="nope")),
        ("cmd", "drive-mirror", mirror_args(tmp, mode="existing", target=t + ".nope")),
        ("cmd", "drive-mirror", mirror_args(tmp, target=os.path.join(tmp, "no", "x.raw"))),
        ("cmd", "drive-mirror", mirror_args(tmp, granularity=1000)),
        ("cmd", "drive-mirror", mirror_args(tmp, granularity=256)),
        ("cmd", "drive-mirror", mirror_args(tmp, **{"buf-size": -1})),
        ("cmd", "drive-mirror", mirror_args(tmp, speed=-1)),
        ("cmd", "drive-mirror", mirror_args(tmp, sync="incremental")),
        ("cmd", "drive-mirror", mirror_args(tmp, sync="none")),
        ("cmd", "drive-mirror", mirror_args(tmp, format="bogus")),
        ("cmd", "drive-mirror", mirror_args(tmp, **{"job-id": "1bad"})),
        ("cmd", "drive-mirror", mirror_args(tmp, replaces="x")),
        ("cmd", "blockdev-mirror", {"device": "d0", "target": "nope", "sync": "full"}),
        ("cmd", "blockdev-mirror", {"device": "d0", "target": "src0", "sync": "full"}),
        ("cmd", "blockdev-mirror", {"device": "tgt", "target": "small", "sync": "full"}),
        ("cmd", "block-job-cancel", {"device": "x"}),
        ("cmd", "block-job-complete", {"device": "x"}),
        ("cmd", "block-job-set-speed", {"device": "x", "speed": 1}),
        ("cmd", "block-job-dismiss", {"id": "x"}),
        ("cmd", "job-cancel", {"id": "x"}),
        ("cmd", "job-complete", {"id": "x"}),
        ("cmd", "query-block-jobs"),
        ("cmd", "query-jobs"),
        ("hmp", "info block-jobs"),
        ("hmp", "block_job_cancel x"),
        ("hmp", "block_job_complete x"),
        ("hmp", "drive_mirror nope " + t),
        # NBD targets (the re-protect runbook's): refused, and malformed URIs.
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd://127.0.0.1:1/x", mode="existing",
                                            format="raw")),
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd://127.0.0.1:1/x", format="raw")),
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd:127.0.0.1:1", mode="existing")),
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd+unix:///x?socket=" + t,
                                            mode="existing")),
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd+unix:///x", mode="existing")),
        ("cmd", "drive-mirror", mirror_args(tmp, target="nbd://h/x?socket=a", mode="existing")),
        # A target of the wrong size: the job starts, then fails, as upstream's.
        ("cmd", "blockdev-mirror", {"device": "src0", "target": "small", "sync": "full"}),
        ("wait", "BLOCK_JOB_COMPLETED"),
        ("events",),
    ]


def test_mirror_errors_as_debian(qemu_bin, debian_qemu, tmp_path):
    """Every refusal of drive-mirror, blockdev-mirror and the job verbs, worded as Debian's."""
    ours = run_script(qemu_bin, str(tmp_path / "o"), error_script(str(tmp_path / "o")))
    theirs = run_script(debian_qemu, str(tmp_path / "d"), error_script(str(tmp_path / "d")))
    ours = json.loads(json.dumps(ours).replace(str(tmp_path / "o"), "T"))
    theirs = json.loads(json.dumps(theirs).replace(str(tmp_path / "d"), "T"))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a == b
    assert ours[-1][1][-1][0] == "JOB_STATUS_CHANGE"


def lifecycle_script(tmp):
    t = os.path.join(tmp, "t.raw")
    return [
        # drive-mirror to a new image, complete: the device moves to the target.
        ("cmd", "drive-mirror", mirror_args(tmp)),
        ("wait", "BLOCK_JOB_READY"),
        ("events",),
        ("cmd", "query-block-jobs"),
        ("cmd", "query-jobs"),
        ("hmp", "info block-jobs"),
        ("cmd", "block-job-finalize", {"id": "d0"}),
        ("cmd", "block-job-complete", {"device": "d0"}),
        ("wait", "BLOCK_JOB_COMPLETED"),
        ("events",),
        ("cmd", "query-block"),
        # Mirror again onto an existing image, and cancel once in sync: no pivot.
        ("cmd", "drive-mirror", {"device": "d0", "target": os.path.join(tmp, "u.raw"),
                                 "sync": "full", "job-id": "j1"}),
        ("wait", "BLOCK_JOB_READY"),
        ("cmd", "drive-mirror", {"device": "d0", "target": t, "sync": "full", "job-id": "j2"}),
        ("cmd", "block-job-cancel", {"device": "j1"}),
        ("wait", "BLOCK_JOB_COMPLETED"),
        ("events",),
        ("cmd", "query-block"),
        # blockdev-mirror without auto-finalize/dismiss: pending, then finalize and dismiss.
        ("cmd", "blockdev-mirror", {"device": "d0", "target": "tgt", "sync": "full",
                                    "job-id": "m1", "auto-finalize": False,
                                    "auto-dismiss": False}),
        ("wait", "BLOCK_JOB_READY"),
        ("cmd", "block-job-complete", {"device": "m1"}),
        ("wait", "BLOCK_JOB_PENDING"),
        ("cmd", "block-job-dismiss", {"id": "m1"}),
        ("cmd", "block-job-finalize", {"id": "m1"}),
        ("wait", "BLOCK_JOB_COMPLETED"),
        ("cmd", "query-block-jobs"),
        ("cmd", "block-job-dismiss", {"id": "m1"}),
        ("events",),
        ("cmd", "query-block"),
        ("cmd", "blockdev-del", {"node-name": "tgt"}),
        # HMP's drive_mirror (-n: existing image, -f: full) and a forced cancel.
        ("hmp", "drive_mirror -n -f d0 " + os.path.join(tmp, "u.raw") + " raw"),
        ("wait", "BLOCK_JOB_READY"),
        ("hmp", "block_job_cancel -f d0"),
        ("wait", "BLOCK_JOB_CANCELLED"),
        ("events",),
        ("hmp", "info block-jobs"),
    ]


def test_mirror_lifecycle_as_debian(qemu_bin, debian_qemu, tmp_path):
    """The same mirrors in both binaries: replies, query output, HMP text, the sequence of
    JOB_STATUS_CHANGE and BLOCK_JOB_* events with their members, and the images."""
    results = {}
    for label, binary in (("o", qemu_bin), ("d", debian_qemu)):
        tmp = str(tmp_path / label)
        os.makedirs(tmp, exist_ok=True)
        make_image(os.path.join(tmp, "u.raw"), 16, pattern=False)
        out = run_script(binary, tmp, lifecycle_script(tmp))
        results[label] = json.loads(json.dumps(out).replace(tmp, "T"))
        # Every mirror ended in sync: the images hold the source's bytes.
        for name in ("t.raw", "u.raw", "same.raw"):
            r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw",
                                os.path.join(tmp, "src.raw"), os.path.join(tmp, name)],
                               capture_output=True, text=True)
            assert r.returncode == 0, (label, name, r.stdout, r.stderr)
    ours, theirs = results["o"], results["d"]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a == b
    # The pivot: the device sits on the target after block-job-complete only.
    queries = [step[2] for step in ours if step[:2] == ["cmd", "query-block"]]
    files = [q["return"][0]["inserted"]["file"] for q in queries]
    assert files == ["T/t.raw", "T/t.raw", "T/same.raw"]


def test_mirror_qcow2_source(qemu_bin, tmp_path):
    """A qcow2 disk (data written by qemu-io, holes elsewhere) mirrored to a new raw image and
    to an existing qcow2 image: qemu-img compare finds them equal, qemu-img check clean."""
    src, raw, qcow = (str(tmp_path / n) for n in ("src.qcow2", "t.raw", "t.qcow2"))
    for path in (src, qcow):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "32M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c",
                    "write -P 0x11 20M 64k", src], check=True, capture_output=True)
    vm = QemuProcess(qemu_bin, BASE + ["-drive", f"if=none,id=d0,file={src},format=qcow2"],
                     timeout=30)
    try:
        for target, extra in ((raw, {"format": "raw"}),
                              (qcow, {"format": "qcow2", "mode": "existing"})):
            args = {"device": "d0", "target": target, "sync": "full"}
            args.update(extra)
            assert vm.qmp.cmd("drive-mirror", args) == {"return": {}}
            vm.qmp.wait_event("BLOCK_JOB_READY", timeout=30)
            assert vm.qmp.cmd("block-job-cancel", {"device": "d0"}) == {"return": {}}
            assert "error" not in vm.qmp.wait_event("BLOCK_JOB_COMPLETED", timeout=30)["data"]
    finally:
        vm.kill()
    for target, fmt in ((raw, "raw"), (qcow, "qcow2")):
        r = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", fmt, src, target],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["qemu-img", "check", qcow], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- the test guest writes while its disk is mirrored -----------------------------------------

@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


class DiskWriter(threading.Thread):
    """Writes and fsyncs files in the guest over HTTP (/cgi-bin/disk) until stopped."""

    def __init__(self, vm, prefix, kib=64):
        super().__init__(daemon=True)
        self.vm, self.prefix, self.kib = vm, prefix, kib
        self.done = []
        self.error = None
        self.halt = threading.Event()

    def write(self, n):
        name = f"{self.prefix}{n}"
        status, body = guest.http_get("127.0.0.1", self.vm.ports["http"],
                                      f"/cgi-bin/disk?op=write&name={name}&kib={self.kib}"
                                      f"&seed={name}", timeout=180)
        assert status == 200 and body.startswith(f"name {name} "), body
        return name, body.strip()

    def run(self):
        try:
            n = 0
            while not self.halt.is_set():
                self.done.append(self.write(n))
                n += 1
        except Exception as e:  # noqa: BLE001 -- reported by stop()
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(240)
        assert not self.is_alive()
        assert self.error is None, self.error
        return self.done


def read_back(vm, name):
    status, body = guest.http_get("127.0.0.1", vm.ports["http"],
                                  f"/cgi-bin/disk?op=read&name={name}", timeout=180)
    assert status == 200
    return body.strip()


def compare(a, b):
    # -U: the NBD secondary still has its image open.
    return subprocess.run(["qemu-img", "compare", "-U", "-f", "raw", "-F", "raw", a, b],
                          capture_output=True, text=True)


def mirror_until_ready(qmp, writer, args, job):
    """Starts a mirror while the guest writes, and keeps writing into the ready state."""
    before = len(writer.done)
    assert qmp.cmd("drive-mirror", args) == {"return": {}}
    # Slow (2 MiB/s: 32 s for the disk) until the guest has written during the copy, then
    # at full speed (block-job-set-speed) to READY.
    while len(writer.done) == before:
        time.sleep(0.1)
    jobs = qmp.cmd("query-block-jobs")["return"]
    assert [(j["status"], j["speed"]) for j in jobs] == [("running", 2 * MIB)]
    assert qmp.cmd("block-job-set-speed", {"device": job, "speed": 0}) == {"return": {}}
    ready = qmp.wait_event("BLOCK_JOB_READY", timeout=120)
    assert ready["data"]["len"] == ready["data"]["offset"]
    assert ready["data"]["speed"] == 0
    at_ready = len(writer.done)
    while len(writer.done) < at_ready + 3:  # and writes in the ready state: write-through
        time.sleep(0.2)
    jobs = qmp.cmd("query-block-jobs")["return"]
    assert [(j["device"], j["status"], j["ready"]) for j in jobs] == [(job, "ready", True)]


def start_nbd_secondary(tmp_path):
    """A second instance of ours exporting a blank disk writable over NBD, as a fresh COLO
    secondary does before re-protection (nbd-server-start, nbd-server-add parent0)."""
    sec_img = str(tmp_path / "secondary.raw")
    subprocess.run(["truncate", "-s", "64M", sec_img], check=True)
    sec = QemuProcess(OURS, BASE + ["-drive", f"if=none,id=parent0,file={sec_img},format=raw"],
                      timeout=30)
    port = free_port()
    r = sec.qmp.cmd("nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": "127.0.0.1", "port": str(port)}}})
    assert r == {"return": {}}
    assert sec.qmp.cmd("nbd-server-add", {"device": "parent0", "writable": True}) == \
        {"return": {}}
    return sec, sec_img, f"nbd://127.0.0.1:{port}/parent0"


def test_mirror_nbd_peer_lost(tmp_path):
    """The NBD secondary is killed (SIGKILL) while the mirror copies to it: the job reports
    BLOCK_JOB_ERROR (write, report) and ends with BLOCK_JOB_COMPLETED carrying the error; the
    monitor keeps answering and the device stays on its own image."""
    src = str(tmp_path / "src.raw")
    make_image(src, 64)
    sec, sec_img, nbd_uri = start_nbd_secondary(tmp_path)
    vm = QemuProcess(OURS, BASE + ["-drive", f"if=none,id=d0,file={src},format=raw"],
                     timeout=30)
    try:
        r = vm.qmp.cmd("drive-mirror", {"device": "d0", "target": nbd_uri, "sync": "full",
                                        "mode": "existing", "format": "raw",
                                        "speed": 8 * MIB})
        assert r == {"return": {}}
        while vm.qmp.cmd("query-block-jobs")["return"][0]["offset"] == 0:
            time.sleep(0.05)
        sec.proc.kill()
        sec.proc.wait(10)
        procs.awaited(sec.proc)
        err = vm.qmp.wait_event("BLOCK_JOB_ERROR", timeout=30)
        assert err["data"] == {"device": "d0", "operation": "write", "action": "report"}
        done = vm.qmp.wait_event("BLOCK_JOB_COMPLETED", timeout=30)
        assert done["data"]["error"]
        assert done["data"]["offset"] < done["data"]["len"] == 64 * MIB
        assert vm.qmp.cmd("query-block-jobs") == {"return": []}
        assert vm.qmp.cmd("query-block")["return"][0]["inserted"]["file"] == src
    finally:
        vm.kill()
        sec.kill()


@pytest.fixture
def nbd_secondary(tmp_path):
    sec, sec_img, nbd_uri = start_nbd_secondary(tmp_path)
    yield sec_img, nbd_uri
    sec.kill()


def test_mirror_guest_disk_while_writing(built, tmp_path, nbd_secondary):
    """The guest appends fsync'd files to its ext4 disk the whole time; each mirror (sync=full,
    rate-limited until the guest has written during the copy) reaches READY under those writes, then the VM
    stops and the job ends; the images are then equal (qemu-img compare) and the guest carries
    on. In turn: a new file target, cancelled (no pivot); the runbook's re-protect mirror to
    an NBD export of a second instance of ours (mode=existing, cancelled); the first target
    again (mode=existing), completed: the device moves to it. The guest reads every file back
    throughout, and the image it ends on passes e2fsck with every file in it."""
    disk = str(tmp_path / "disk.raw")
    target = str(tmp_path / "target.raw")
    subprocess.run(["truncate", "-s", "64M", disk], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", disk], check=True)
    sec_img, nbd_uri = nbd_secondary
    qmp_path = str(tmp_path / "qmp.sock")
    vm = guest.GuestVM(OURS, built, interactive=True, qmp_path=qmp_path,
                       extra_args=["-drive", f"file={disk},format=raw,if=virtio,id=drive0"])
    written = []
    phases = [("cancel", target, {}), ("nbd", nbd_uri, {"mode": "existing", "format": "raw",
                                                        "job-id": "resync"}),
              ("complete", target, {"mode": "existing", "format": "raw"})]
    with vm:
        vm.wait_ready()
        qmp = QMPClient(qmp_path, timeout=60)
        for end, dest, extra in phases:
            writer = DiskWriter(vm, end)
            writer.start()
            while len(writer.done) < 1:
                time.sleep(0.2)
            args = {"device": "drive0", "target": dest, "sync": "full", "speed": 2 * MIB}
            args.update(extra)
            job = extra.get("job-id", "drive0")
            mirror_until_ready(qmp, writer, args, job)
            these = writer.stop()
            written += these
            assert qmp.cmd("stop") == {"return": {}}
            verb = "block-job-complete" if end == "complete" else "block-job-cancel"
            assert qmp.cmd(verb, {"device": job}) == {"return": {}}
            done = qmp.wait_event("BLOCK_JOB_COMPLETED", timeout=60)
            assert "error" not in done["data"]
            assert qmp.cmd("query-block-jobs") == {"return": []}
            r = compare(disk, sec_img if end == "nbd" else target)
            assert r.returncode == 0, r.stdout + r.stderr
            on = qmp.cmd("query-block")["return"][0]["inserted"]["file"]
            assert on == (target if end == "complete" else disk)
            assert qmp.cmd("cont") == {"return": {}}
            # The guest carries on, on whichever image it now sits, and reads back what it
            # wrote (the first files, and this phase's).
            for name, answer in written[:1] + these:
                assert read_back(vm, name) == answer
        after = DiskWriter(vm, "after")
        written += [after.write(0), after.write(1)]
        vm.send("umount /mnt/disk; poweroff -f")
        assert vm.wait_exit(90) == 0
        qmp.close()
    fsck = subprocess.run(["e2fsck", "-fn", target], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for name, answer in written:
        got = subprocess.run(["debugfs", "-R", f"cat /{name}", target], capture_output=True)
        assert got.returncode == 0
        assert f"sha256 {hashlib.sha256(got.stdout).hexdigest()}" in answer
