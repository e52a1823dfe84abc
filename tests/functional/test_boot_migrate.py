"""The Debian 12 disk image (lib/debian_image.py) migrated in the middle of its boot, ours to
ours, as one VM moved along a chain of processes (docs/migration.md, "A VM in the middle of its
boot"), each hop issued when the VM's console (every process's output, in order) shows a line
of the boot:

    A --tcp--> B --exec: file--> C --tcp--> D --tcp--> E --tcp--> F
     SeaBIOS's   GRUB's core.img   GRUB's     GRUB reads  the kernel's
     menu wait   read (INT 13h)    countdown  the kernel  early boot

The last process reaches `login:`, root logs in and runs commands, the test page answers over
virtio-net with the boot id the console shows, and a clean poweroff leaves an image that passes
qemu-img check. The disk is one qcow2 overlay of the cached image that every process opens in
turn (shared storage: a tcp destination opens it inactive beside its running source).

Where each switchover lands depends on the host's speed (a loaded host may carry a hop into the
next stage): the test prints it, and asserts what holds on any host: every hop completed, every
destination resumed where its source stopped (each of the boot's lines appears once in the
whole console: nothing started over) and the VM reached `login:`. One boot, about 90-170 s
under the interpreter (QC_DEBIAN_TIMEOUT bounds each wait)."""
import os
import re
import time

import pytest

import debian_image
import guest
from qmp import QMPClient
from test_debian_image import OURS, boot_id_of, page, power_off

# One Debian boot through firmware to login (conftest.py weighs files by this).
BOOTS_PER_TEST = 10

# The boot's console lines that come once each, in order: where the VM is.
MARKS = [
    ("SeaBIOS", r"SeaBIOS \(version"),
    # -boot menu=on,splash-time: SeaBIOS waits for a key before it boots
    ("SeaBIOS's menu wait", r"Press ESC for boot menu"),
    ("GRUB's core.img read through INT 13h", r"GRUB loading"),
    ("GRUB's menu countdown", r"GNU GRUB  version"),
    ("GRUB reading the kernel and initrd through INT 13h", r"Booting `Debian"),
    ("the kernel's early boot", r"Linux version"),
]
# Each hop: the mark that starts it (MARKS' index) and its transport.
HOPS = [(1, "tcp"), (2, "exec"), (3, "tcp"), (4, "tcp"), (5, "tcp")]
SPLASH_MS = 2500


class Chain:
    """The VM's processes, oldest first; .console is what the VM printed, across all."""

    def __init__(self, image, tmp_path, sockdir):
        self.image = image
        self.tmp_path = tmp_path
        self.sockdir = sockdir
        self.args = ["-boot", f"menu=on,splash-time={SPLASH_MS}",
                     "-drive", f"file={debian_image.overlay(image, str(tmp_path))},if=virtio,"
                     "format=qcow2"]
        self.vms = []
        self.landed = []

    def spawn(self, incoming):
        n = len(self.vms)
        vm = guest.GuestVM(OURS, None, kernel=None, memory="1G", no_reboot=False,
                           interactive=True, qmp_path=os.path.join(self.sockdir, f"{n}.qmp"),
                           extra_args=self.args + (["-incoming", incoming] if incoming else []))
        self.vms.append(vm.start())
        deadline = time.monotonic() + 60
        while not os.path.exists(vm.qmp_path):
            assert vm.proc.poll() is None, vm.console
            assert time.monotonic() < deadline, vm.console
            time.sleep(0.05)
        return vm

    @property
    def console(self):
        return "".join(vm.console for vm in self.vms)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.console):
            running = self.vms[-1]
            assert running.proc.poll() is None, f"exited; console tail:\n{self.console[-3000:]}"
            assert time.monotonic() < deadline, (f"{pattern!r} not in {timeout} s; console "
                                                 f"tail:\n{self.console[-3000:]}")
            time.sleep(0.1)

    def hop(self, transport):
        """Moves the VM from the running process to a new one; returns (seconds, downtime)."""
        src = self.vms[-1]
        state = str(self.tmp_path / f"hop{len(self.vms)}.state")
        if transport == "tcp":
            dst = self.spawn("defer")
            uri = f"tcp:127.0.0.1:{guest.free_ports(1)[0]}"
            with QMPClient(dst.qmp_path) as dq:
                assert dq.cmd("migrate-incoming", {"uri": uri}) == {"return": {}}
        else:
            uri = f"exec:cat > {state}"
        t = time.monotonic()
        with QMPClient(src.qmp_path) as sq:
            assert sq.cmd("migrate", {"uri": uri}) == {"return": {}}
            deadline = t + 300
            while True:
                info = sq.cmd("query-migrate")["return"]
                if info.get("status") in ("completed", "failed", "cancelled"):
                    break
                assert time.monotonic() < deadline, info
                time.sleep(0.1)
            assert info["status"] == "completed", info
            assert sq.cmd("query-status")["return"]["status"] == "postmigrate"
        self.landed.append(self.phase())
        if transport != "tcp":
            dst = self.spawn(f"exec:cat {state}")
        with QMPClient(dst.qmp_path) as dq:
            deadline = time.monotonic() + 120
            while dq.cmd("query-status")["return"]["status"] != "running":
                assert dst.proc.poll() is None, dst.console
                assert time.monotonic() < deadline, dq.cmd("query-migrate")
                time.sleep(0.1)
        # The source is done with: its console is complete once it has exited.
        src.stop()
        return time.monotonic() - t, info.get("downtime")

    def phase(self):
        """Where the VM is: the last of MARKS on the console."""
        text = self.console
        seen = [name for name, mark in MARKS if re.search(mark, text)]
        return seen[-1] if seen else "SeaBIOS's POST"

    def stop(self):
        for vm in self.vms:
            vm.stop()


@pytest.fixture(scope="module")
def image():
    return debian_image.build()


def test_debian_boot_migrated_at_every_stage(image, tmp_path, sockdir):
    chain = Chain(image, tmp_path, sockdir)
    try:
        chain.spawn(None)
        times = []
        for mark, transport in HOPS:
            chain.wait_for(MARKS[mark][1], debian_image.BOOT_TIMEOUT)
            times.append(chain.hop(transport))
        last = chain.vms[-1]
        debian_image.login(last, image)
        # Every destination resumed where its source stopped: nothing printed twice, and the
        # firmware's banner only by the first process.
        console = chain.console
        for _, mark in MARKS:
            assert len(re.findall(mark, console)) == 1, (mark, console[-3000:])
        assert re.search(MARKS[0][1], chain.vms[0].console)
        out = last.shell("uname -r; findmnt -no SOURCE,FSTYPE /")
        lines = out.split("\n")
        assert lines[0] == image["kernel_release"], out
        assert lines[1].split() == ["/dev/vda1", "ext4"], out
        assert page(last) == f"qc-debian boot_id={boot_id_of(last)}\n"
        for (mark, transport), landed, (secs, down) in zip(HOPS, chain.landed, times):
            print(f"hop at {MARKS[mark][0]!r} over {transport}: switched in {landed!r} "
                  f"after {secs:.1f} s, downtime {down} ms")
        power_off(last)
    finally:
        chain.stop()
    debian_image.checked_overlay(str(tmp_path))
