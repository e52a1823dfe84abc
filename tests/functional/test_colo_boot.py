"""The Debian 12 disk image (lib/debian_image.py) protected by COLO in the middle of its boot
(docs/colo.md, "A VM in the middle of its boot"): the primary boots the image alone, COLO
starts while GRUB runs (its menu on the console), block replication keeps both sides' disks
equal (lib/colo_pair.py's disk mode on two empty overlays of the image), checkpoints come on
the timer through GRUB and the kernel, and the primary is killed during the kernel's boot: the
secondary, failed over by the runbook's steps, goes on booting where the last checkpoint left
it, reaches `login:`, and root logs in and runs commands.

COLO makes the boot slower (every checkpoint stops both VMs and ships the pages dirtied since
the last); one boot, a few minutes on a loaded host (QC_DEBIAN_TIMEOUT bounds each wait)."""
import os
import re
import time

import pytest

import debian_image
from colo_pair import ColoDisks, ColoPair
from test_debian_image import OURS

# In `make check` since session 7: 75-95 s on a quiet host (docs/colo.md), several minutes on
# a loaded one, where QC_DEBIAN_TIMEOUT bounds each wait.
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")]

# One Debian boot, slowed by the checkpoints (conftest.py weighs files by this).
BOOTS_PER_TEST = 15
# x-checkpoint-delay (ms): several timer checkpoints in GRUB and the kernel's boot.
DELAY = 2000


@pytest.fixture(scope="module")
def image():
    return debian_image.build()


def test_colo_entered_in_grub_fails_over_in_the_kernel(image, tmp_path, sockdir):
    disks = ColoDisks(tmp_path / "disks", mib=image["virtual_size"] >> 20,
                      backing=image["path"])
    pair = ColoPair(OURS, None, sockdir, delay=DELAY, memory="1G", disks=disks, kernel=None,
                    enter_at="GNU GRUB")
    try:
        pair.start(timeout=debian_image.BOOT_TIMEOUT)
        p = pair.vms["primary"]
        # The kernel's first line comes after GRUB's menu, where COLO was entered. Not after
        # COLO's first checkpoint: a fast guest may load the kernel while the first migration is
        # still under way (CI once saw the banner before it). The timer's checkpoints below show
        # that COLO ran before the failover.
        menu = p.console.find("GNU GRUB")
        assert menu >= 0, p.console[-2000:]
        p.wait_for("Linux version", debian_image.BOOT_TIMEOUT, menu)
        deadline = time.monotonic() + debian_image.BOOT_TIMEOUT
        while (stats := pair.stats("primary"))["by-timer"] < 1:
            assert time.monotonic() < deadline, stats
            time.sleep(0.1)
        assert stats["checkpoints"] >= 1, stats
        pair.kill("primary")
        pair.failover_runbook("secondary")
        failed_over = time.monotonic()
        s = pair.vms["secondary"]
        # The secondary never ran the firmware: it started from the first checkpoint.
        assert not re.search(r"SeaBIOS \(version", s.console), s.console[-3000:]
        # the rest of the boot, without checkpoints: CPU-bound as a plain boot is (docs/colo.md),
        # so on a loaded host as slow
        debian_image.login(s, image, timeout=3 * debian_image.BOOT_TIMEOUT)
        to_login = time.monotonic() - failed_over
        out = s.shell("uname -r; findmnt -no SOURCE,FSTYPE,OPTIONS /; "
                      "echo after-failover > /root/mark; sync; cat /root/mark")
        lines = out.split("\n")
        assert lines[0] == image["kernel_release"], out
        source, fstype, options = lines[1].split()
        assert (source, fstype) == ("/dev/sda1", "ext4"), out
        assert options.startswith("rw,"), out
        assert lines[2] == "after-failover", out
        after = pair.stats("secondary")
        print(f"COLO through the boot: {stats['checkpoints']} checkpoints before the failover "
              f"(by timer {stats['by-timer']}, by compare {stats['by-compare']}), "
              f"pause p50 {stats['pause-p50-ms']} ms; secondary counted {after['checkpoints']}; "
              f"failover to login {to_login:.0f} s; load average {os.getloadavg()[0]:.1f}")
    finally:
        pair.stop()
