"""The command line: version, help, option grammar and error exits, beside Debian's QEMU."""
import os
import signal
import subprocess
import time

import pytest

from conftest import BASE_ARGS, assert_same_failure, run

# Error cases whose stderr must match Debian's QEMU 7.2 word for word (program name aside).
SAME_AS_DEBIAN = [
    ["-bogus"],
    ["-object"],
    ["-object", "iothread"],
    ["-object", "bogus,id=x"],
    ["-object", "iothread,id=1a"],
    ["-object", "iothread,id=a,,b"],
    ["-object", '{"qom-type":"colo-compare"}'],
    ["-object", '{"qom-type":"colo-compare"'],
    ["-object", "[1]"],
    ["-object", "colo-compare,id=c0"],
    ["-object", "colo-compare,id=c,primary_in=a,secondary_in=b,outdev=c,iothread=i,"
                "compare_timeout=abc"],
    ["-object", "colo-compare,id=c,primary_in=a,secondary_in=b,outdev=c,iothread=i,"
                "expired_scan_cycle=99999999999"],
    ["-object", "colo-compare,id=c,primary_in=a,secondary_in=b,outdev=c,iothread=i,"
                "vnet_hdr_support=maybe"],
    ["-display", "gtkx"],
    ["-name", "guest=x,foo=1"],
]


@pytest.mark.parametrize("args", SAME_AS_DEBIAN, ids=lambda a: " ".join(a)[:60])
def test_error_matches_debian(qemu_bin, debian_qemu, args):
    ours = run(qemu_bin, *args)
    assert_same_failure(ours, run(debian_qemu, *args))
    assert ours.stdout == ""


def test_version(qemu_bin):
    r = run(qemu_bin, "-version", base=False)
    assert r.returncode == 0
    assert r.stdout.startswith("QEMU emulator version 7.2.0")
    r2 = run(qemu_bin, "--version", base=False)
    assert r2.stdout == r.stdout


def test_help_lists_options(qemu_bin):
    r = run(qemu_bin, "-help", base=False)
    assert r.returncode == 0
    for opt in ("-object", "-machine", "-daemonize", "-trace", "-pidfile"):
        assert opt in r.stdout


def test_machine_help_and_unknown(qemu_bin):
    r = run(qemu_bin, "-M", "help", base=False)
    assert r.returncode == 0 and "none" in r.stdout
    r = run(qemu_bin, "-M", "bogus", base=False)
    assert r.returncode == 1
    assert r.stderr == ("qemu-system-x86_64: unsupported machine type\n"
                        "Use -machine help to list supported machines\n")


def test_object_help_lists_types(qemu_bin):
    r = run(qemu_bin, "-object", "help")
    assert r.returncode == 0
    assert r.stdout.startswith("List of user creatable objects:\n")


def test_log_items(qemu_bin):
    r = run(qemu_bin, "-d", "help")
    assert r.returncode == 0 and "guest_errors" in r.stdout
    r = run(qemu_bin, "-d", "bogus")
    assert r.returncode == 1
    assert 'Invalid -d option "bogus"' in r.stderr


def test_logfile_error(qemu_bin):
    r = run(qemu_bin, "-D", "/nonexistent/dir/log")
    assert r.returncode == 1
    assert r.stderr.startswith("qemu-system-x86_64: Error opening logfile /nonexistent/dir/log")


def test_pidfile_error(qemu_bin):
    r = run(qemu_bin, "-pidfile", "/nonexistent/x.pid")
    assert r.returncode == 1
    assert r.stderr == ("qemu-system-x86_64: cannot create PID file: Could not create "
                        "'/nonexistent/x.pid': No such file or directory\n")


def test_daemonize_pidfile_and_sigterm(qemu_bin, sockdir):
    pidfile = os.path.join(sockdir, "q.pid")
    r = run(qemu_bin, "-daemonize", "-pidfile", pidfile, "-S")
    assert r.returncode == 0, r.stderr
    with open(pidfile) as f:
        pid = int(f.read())
    os.kill(pid, 0)  # alive
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not os.path.exists(pidfile):
            break
        time.sleep(0.05)
    assert not os.path.exists(pidfile), "pidfile not removed at exit"


def test_sigterm_exits_cleanly(qemu_bin):
    p = subprocess.Popen([qemu_bin] + BASE_ARGS, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    time.sleep(0.3)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0
    assert "terminating on signal 15" in err


def test_json_object_form_and_escaped_id(qemu_bin):
    # A well-formed JSON object of an unknown type is refused by type, like -object TYPE,...
    r = run(qemu_bin, "-object", '{"qom-type":"bogus","id":"x"}')
    assert r.returncode == 1
    assert "Parameter 'qom-type' does not accept value 'bogus'" in r.stderr


def test_trace_help(qemu_bin):
    r = run(qemu_bin, "-trace", "help")
    assert r.returncode == 0
    assert "log_trace_enabled" in r.stdout
