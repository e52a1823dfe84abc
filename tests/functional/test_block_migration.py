"""Migration of a guest that writes to its disk (docs/migration.md, "Disks"): the test guest
writes files in a loop on ext4 while it is migrated over tcp on loopback, through virtio-blk and
through IDE, on raw (and qcow2 through virtio-blk); on the destination it reads back every file with the right
checksum and the image is e2fsck-clean. The image locks change hands at switchover: the
destination starts beside a source that holds the image, and the source cannot take it back."""
import hashlib
import subprocess
import time

import pytest

import guest
from qmp import QMPClient
from test_block import OURS

FILE_KIB = 64
IFACES = {"virtio": "/dev/vda", "ide": "/dev/sda"}


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def file_hash(name):
    line = f"{name}\n".encode()
    return hashlib.sha256((line * (FILE_KIB * 1024 // len(line) + 1))[:FILE_KIB * 1024]).hexdigest()


def make_disk(tmp_path, fmt):
    raw = str(tmp_path / "fs.raw")
    subprocess.run(["truncate", "-s", "64M", raw], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", raw], check=True)
    if fmt == "raw":
        return raw
    img = str(tmp_path / "fs.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img], check=True)
    return img


def count_files(vm):
    return int(vm.shell("ls /mnt/disk | grep -c '^w'").split()[-1])


def wait_completed(q, deadline):
    while True:
        info = q.cmd("query-migrate")["return"]
        if info.get("status") in ("completed", "failed", "cancelled"):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.1)


# The writer: files w1, w2, ... of the line "wN" repeated, each written and fsynced, until
# /tmp/stop appears (it finishes the file it is on).
WRITER = ("(i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); yes w$i | head -c "
          f"{FILE_KIB * 1024} | dd of=/mnt/disk/w$i bs=65536 conv=fsync 2>/dev/null; done; "
          "echo WRITER-DONE $i) &")


# qcow2's re-read at activation does not depend on the device: IDE runs on raw only (time).
@pytest.mark.parametrize("iface,fmt", [("virtio", "raw"), ("virtio", "qcow2"), ("ide", "raw")])
def test_writing_guest_migrates(built, tmp_path, sockdir, iface, fmt):
    img = make_disk(tmp_path, fmt)
    drive = ["-drive", f"file={img},format={fmt},if={iface},id=d0"]
    src = guest.GuestVM(OURS, built, net=None, interactive=True, qmp_path=f"{sockdir}/src.sock",
                        append=f"qc.disk={IFACES[iface]}", extra_args=drive)
    dst = guest.GuestVM(OURS, built, net=None, interactive=True, qmp_path=f"{sockdir}/dst.sock",
                        extra_args=drive + ["-incoming", "defer"])
    try:
        src.start()
        assert src.wait_ready()["disk"] == IFACES[iface]
        # The destination opens the image while the source runs on it: it takes no lock yet.
        dst.start()
        src.send(WRITER)
        deadline = time.monotonic() + 120
        while count_files(src) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        with QMPClient(dst.qmp_path) as dq, QMPClient(src.qmp_path) as sq:
            port = guest.free_ports(1)[0]
            uri = f"tcp:127.0.0.1:{port}"
            assert dq.cmd("migrate-incoming", {"uri": uri}) == {"return": {}}
            assert sq.cmd("migrate", {"uri": uri}) == {"return": {}}
            info = wait_completed(sq, time.monotonic() + 180)
            assert info["status"] == "completed", info
            while dq.cmd("query-migrate")["return"].get("status") != "completed":
                assert time.monotonic() < deadline + 180
                time.sleep(0.05)
            assert dq.cmd("query-status")["return"]["status"] == "running"
            # The destination has the image now: the source cannot take it back.
            err = sq.cmd("cont")["error"]
            assert err["class"] == "GenericError"
            assert err["desc"] == 'Failed to get shared "write" lock'
            assert sq.cmd("query-status")["return"]["status"] == "postmigrate"
        at_switch = count_files(dst)
        # The loop goes on on the destination.
        while count_files(dst) < at_switch + 3:
            assert time.monotonic() < deadline + 300
            time.sleep(0.5)
        dst.send("touch /tmp/stop")
        last = int(dst.wait_for(r"WRITER-DONE (\d+)\r?\n", 120).group(1))  # the whole number
        out = dst.shell("echo 3 > /proc/sys/vm/drop_caches; cd /mnt/disk; "
                        "for f in w*; do echo $f $(sha256sum < $f); done; cd /", timeout=180)
        got = {ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.startswith("w")}
        assert sorted(got) == sorted(f"w{i}" for i in range(1, last + 1))
        bad = [n for n, h in got.items() if h != file_hash(n)]
        assert not bad, bad
        dst.send("umount /mnt/disk; poweroff -f")
        assert dst.wait_exit(60) == 0
    finally:
        dst.stop()
        src.stop()
    if fmt == "qcow2":
        check = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        raw = str(tmp_path / "out.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", img, raw], check=True)
        img = raw
    fsck = subprocess.run(["e2fsck", "-fn", img], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = subprocess.run(["debugfs", "-R", f"cat /w{last}", img], capture_output=True)
    assert hashlib.sha256(got.stdout).hexdigest() == file_hash(f"w{last}")
