"""-trace and -D: trace points enabled by pattern write their lines to the log file."""
import os
import time

import frames
from compare_proc import ComparePeer


def read_log(path, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if all(w in text for w in want):
                break
        time.sleep(0.05)
    return text


def test_trace_pattern_reaches_the_logfile(qemu_bin, sockdir):
    log = os.path.join(sockdir, "trace.log")
    peer = ComparePeer(qemu_bin, sockdir,
                       extra_args=["-trace", "colo_compare_m*", "-trace", "enable=chardev_event",
                                   "-D", log])
    with peer:
        a = frames.TcpFlow("10.0.0.2", "10.0.0.1", 80, 4000)
        b = frames.TcpFlow("10.0.0.2", "10.0.0.1", 80, 4000)
        peer.send_pri(a.segment(b"one"))
        peer.send_sec(b.segment(b"two"))
        assert peer.wait_checkpoint(3.0)
        text = read_log(log, ["colo_compare_main primary_in", "colo_compare_miscompare"])
    assert ":colo_compare_main primary_in len" in text
    assert ":colo_compare_main secondary_in len" in text
    assert "colo_compare_miscompare id comp0 reason mismatch protocol tcp" in text
    assert ":chardev_event chardev pri opened" in text
    # Not enabled by either pattern.
    assert "colo_compare_drop_packet" not in text


def test_trace_unknown_option_key(qemu_bin):
    from conftest import run
    r = run(qemu_bin, "-trace", "enable=x,bogus=1")
    assert r.returncode == 1
    assert "Invalid parameter 'bogus'" in r.stderr
