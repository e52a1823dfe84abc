"""-nographic, the chardev mux and its Ctrl-a escapes, on a terminal (pty) or pipes, beside
Debian's QEMU 7.2: the same keys must give the same bytes (the version string aside)."""
import json
import os
import re
import subprocess

import pytest

from chardev_qmp import chardev_qmp_transcript
from conftest import BASE_ARGS, assert_same_failure, run
from ptyproc import PtyProcess

# Debian's QEMU without a machine type would open a graphical display; neither side needs one.
NONE = ["-M", "none", "-display", "none"]
VERSION = re.compile(rb"QEMU \d+\.\d+\.\d+ monitor")


def normalize(out):
    return VERSION.sub(b"QEMU x.y.z monitor", out)


def session(binary, args, keys, use_pty=True):
    """Runs binary with args, sends each key string once the output went quiet, and returns
    (exit status, everything it printed)."""
    with PtyProcess([binary, *args], use_pty=use_pty) as p:
        p.settle(quiet=0.4)
        for k in keys:
            p.send(k)
            p.settle(quiet=0.3)
        rc = p.wait_exit(10)
        return rc, normalize(p.output)


# Scenarios on the none machine: deterministic (no guest), so compared byte for byte.
MUX2 = ["-chardev", "stdio,id=c0,mux=on", "-mon", "chardev=c0", "-mon", "chardev=c0"]
SCENARIOS = {
    # The second monitor has the focus; the first one's banner waits until C-a c gives it.
    "two-monitors-focus": (NONE + MUX2,
                           [b"\x01c", b"info status\r", b"\x01c", b"\x01c", b"\x01x"]),
    "help-and-literal-escape": (NONE + MUX2, [b"\x01h", b"\x01\x01", b"\x01?", b"\x01x"]),
    "echr-control": (NONE + ["-echr", "20"] + MUX2, [b"\x14h", b"\x01x", b"\x14x"]),
    "echr-printable": (NONE + ["-echr", "0x60"] + MUX2, [b"`h", b"`x"]),
    "unknown-escape-ignored": (NONE + MUX2, [b"\x01z", b"\x01s", b"\x01b", b"\x01x"]),
    # The none machine has no serial port: -nographic puts the monitor alone on stdio.
    "none-nographic-monitor": (["-M", "none", "-nographic"], [b"info status\r", b"quit\r"]),
    # ... but -serial still makes its chardev: mon: puts a monitor on a mux there.
    "none-serial-mon-stdio": (NONE + ["-serial", "mon:stdio"], [b"\x01h", b"\x01x"]),
    # The default machine (pc) with its serial port elsewhere: the monitor alone on stdio.
    "pc-serial-none": (["-nographic", "-serial", "none"], [b"info status\r", b"quit\r"]),
}

MUX_ERRORS = [
    ["-serial", "stdio", "-qmp", "stdio"],
    ["-chardev", "mux,id=m0"],
    ["-chardev", "mux,id=m0,chardev=nope"],
    ["-chardev", "null,id=c0,mux=maybe"],
    ["-serial", "mon:bogus"],
]


@pytest.mark.parametrize("args", MUX_ERRORS, ids=lambda a: " ".join(a))
def test_mux_errors_match_debian(qemu_bin, debian_qemu, args):
    ours = run(qemu_bin, *args)
    theirs = run(debian_qemu, *args)
    assert_same_failure(ours, theirs)


@pytest.mark.parametrize("use_pty", [True, False], ids=["pty", "pipe"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_escapes_match_debian(qemu_bin, debian_qemu, name, use_pty):
    args, keys = SCENARIOS[name]
    ours = session(qemu_bin, args, keys, use_pty)
    theirs = session(debian_qemu, args, keys, use_pty)
    assert ours == theirs
    assert ours[0] == 0


def test_focus_and_held_monitor_output(qemu_bin):
    """What the scenarios above prove, spelled out: the monitor out of focus shows nothing, and
    its banner and prompt come with the focus; C-a x prints the line upstream prints."""
    rc, out = session(qemu_bin, NONE + MUX2, [b"\x01c", b"\x01x"])
    assert rc == 0
    banner = b"QEMU x.y.z monitor - type 'help' for more information\r\r\n(qemu) "
    # One banner at start (the focused monitor), the other after C-a c.
    assert out.count(banner) == 2
    assert out.endswith(b"\r\r\n" + banner + b"QEMU: Terminated\r\n\r")


def test_nographic_daemonize_refused(qemu_bin, debian_qemu):
    for binary in (qemu_bin, debian_qemu):
        p = subprocess.run([binary, "-M", "none", "-nographic", "-daemonize"],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert p.returncode == 1
        assert p.stderr.endswith(": -nographic cannot be used with -daemonize\n"), p.stderr


def test_mux_frontend_limit_matches_debian(qemu_bin, debian_qemu):
    args = NONE + ["-chardev", "null,id=c0,mux=on"] + ["-mon", "chardev=c0"] * 5
    errs = []
    for binary in (qemu_bin, debian_qemu):
        p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 1
        errs.append(p.stderr.split(": ", 1)[1])
    assert errs[0] == errs[1] == "-mon chardev=c0: Device 'c0' is in use\n"


# ---- the test guest on a terminal, as issue 7's user runs it (no -M: the default machine) ----

@pytest.fixture(scope="module")
def built():
    import guest
    return guest.build_guest()


CONSOLES = {
    "nographic": ["-nographic"],
    "chardev-mux": ["-display", "none", "-chardev", "stdio,id=c0,mux=on,signal=off",
                    "-serial", "chardev:c0", "-mon", "chardev=c0"],
}


@pytest.mark.parametrize("console", sorted(CONSOLES))
@pytest.mark.parametrize("which", ["debian", "qemu-colo"])
def test_guest_console_monitor_and_exit(qemu_bin, debian_qemu, built, which, console):
    binary = debian_qemu if which == "debian" else qemu_bin
    import guest
    argv = [binary, "-accel", "tcg", "-m", "256M", *CONSOLES[console], "-no-reboot",
            "-kernel", built["vmlinuz"], "-initrd", built["initrd"], "-append", "console=ttyS0"]
    with PtyProcess(argv) as p:
        ready = p.wait_for(rb"QC-GUEST-READY[^\r\n]*\r*\n", guest.READY_TIMEOUT).end()
        p.wait_for(rb"/ # ", 30, ready)
        # The guest's shell answers on the console.
        p.send(b"echo hi-$((40+2))\r")
        at = p.wait_for(rb"hi-42\r*\n", 30, ready).end()
        # A line the guest prints while the monitor has the focus is not held back.
        cmd = b"(sleep 3; echo late-$((2*3))) &"
        p.send(cmd + b"\r")
        at = p.wait_for(re.escape(cmd) + rb"\r*\n", 30, at).end()
        at = p.wait_for(rb"/ # ", 30, at).end()
        p.send(b"\x01c")
        # Not anchored at the end: the guest's console may still be redrawing its command line
        # (on Debian's QEMU too), and its output is never held back behind the monitor.
        at = p.wait_for(rb"QEMU \d+\.\d+\.\d+ monitor - type 'help' for more information\r\r\n"
                        rb"\(qemu\) ", 10, at).end()
        p.send(b"info status\r")
        at = p.wait_for(rb"VM status: running\r\r\n\(qemu\) ", 10, at).end()
        p.wait_for(rb"late-6", 30, at)
        # Back to the console: the monitor's line ends, keys go to the guest again.
        p.send(b"\x01c")
        p.settle(0.3)
        at = len(p.output)
        p.send(b"echo back-$((1+1))\r")
        at = p.wait_for(rb"back-2\r*\n", 30, at).end()
        # The shell reports the finished background job ("[1]+ Done") before its prompt, and
        # busybox's line editor asks for the cursor's position (ESC [6n) after it: quit once
        # that query is out, or its bytes may come out after "QEMU: Terminated" (CI saw the ESC).
        at = p.wait_for(rb"/ # \x1b\[6n", 30, at).end()
        p.send(b"\x01x")
        assert p.wait_exit(20) == 0
        assert p.output[at:].endswith(b"QEMU: Terminated\r\n\r")


def test_nographic_with_qmp_leaves_console_alone(qemu_bin, debian_qemu, sockdir):
    """-qmp counts as a monitor: -nographic then puts the serial port alone on stdio, and
    Ctrl-a is an ordinary key (no help text, no exit)."""
    for i, binary in enumerate((qemu_bin, debian_qemu)):
        qmp = os.path.join(sockdir, f"q{i}.sock")
        with PtyProcess([binary, "-nographic", "-qmp", f"unix:{qmp},server=on,wait=off"]) as p:
            p.settle(0.5)
            p.send(b"\x01h\x01x")
            out = p.settle(0.5)
            assert b"print this help" not in out and b"Terminated" not in out
            assert p.proc.poll() is None


def mux_qmp_transcript(binary, sockdir):
    """chardev-add with a mux backend, a mux=on chardev with monitors on it, query-chardev."""
    path = os.path.join(sockdir, "m.sock")
    args = ["-chardev", "null,id=n1", "-chardev", f"socket,id=c0,path={path},server=on,"
            "wait=off,mux=on", "-mon", "chardev=c0", "-mon", "chardev=c0"]
    steps = [
        ("chardev-add", {"id": "m2", "backend": {"type": "mux", "data": {"chardev": "n1"}}}),
        ("chardev-add", {"id": "m3", "backend": {"type": "mux", "data": {"chardev": "zz"}}}),
        ("chardev-add", {"id": "m4", "backend": {"type": "mux", "data": {}}}),
        ("chardev-add", {"id": "m5", "backend": {"type": "mux", "data": {"chardev": "n1"}}}),
        ("query-chardev", None),
        ("chardev-remove", {"id": "c0-base"}),
        ("chardev-remove", {"id": "m2"}),
        ("query-chardev", None),
    ]

    def norm(reply):
        return json.loads(json.dumps(reply).replace(sockdir, "D"))

    return chardev_qmp_transcript(binary, BASE_ARGS + args, steps, norm)


def test_qmp_mux_matches_debian(qemu_bin, debian_qemu, sockdir):
    ours = mux_qmp_transcript(qemu_bin, sockdir)
    theirs = mux_qmp_transcript(debian_qemu, sockdir)
    for (cmd, a), (_, b) in zip(ours, theirs):
        assert a == b, cmd
    assert {"label": "m2", "filename": "mux", "frontend-open": False} in ours[4][1]
