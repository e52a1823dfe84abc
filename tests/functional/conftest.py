"""Shared fixtures for black-box tests: the binary under test and Debian's QEMU as a peer."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "lib"))

import guest  # noqa: E402
import procs  # noqa: E402
from procs import BASE_ARGS, QemuSet  # noqa: E402

QEMU = os.environ.get("QEMU_BINARY", os.path.join(ROOT, "build", "qemu-system-x86_64"))
DEBIAN_QEMU = "/usr/bin/qemu-system-x86_64"



def _is_sanitized(path):
    """An ASan build keeps freed memory in quarantine: memory bounds hold for plain builds only."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _is_sanitized(QEMU)


def require_pc(binary):
    """Fails the test unless @binary runs and lists `pc` in -machine help: a binary that lost the
    machine is broken, which no test may turn into a skip. Returns @binary."""
    problem = guest.pc_machine_problem(binary)
    if problem:
        pytest.fail(problem)
    return binary


@pytest.fixture
def qemu_bin():
    if not os.path.exists(QEMU):
        pytest.fail(f"{QEMU} is not built")
    return QEMU


@pytest.fixture
def debian_qemu():
    if not os.path.exists(DEBIAN_QEMU):
        pytest.fail("Debian's qemu-system-x86 is not installed (scripts/install-deps)")
    return DEBIAN_QEMU


@pytest.fixture
def qemus():
    """Starts QEMUs in the background (procs.QemuSet) and stops them all after the test."""
    started = QemuSet()
    yield started
    started.stop_all()


@pytest.fixture
def sockdir():
    """A short private directory for unix sockets (sun_path is limited to 108 bytes)."""
    d = tempfile.mkdtemp(prefix="qc-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(binary, *args, timeout=10, base=True):
    """Runs a binary to completion; returns CompletedProcess with text output."""
    argv = [binary] + (BASE_ARGS if base else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def strip_prog(text):
    """Output lines without the leading "qemu-system-x86_64: ", so two binaries compare."""
    return "\n".join(line.split(": ", 1)[1] if line.startswith("qemu-system-x86_64: ") else line
                     for line in text.strip().splitlines())


def assert_same_failure(ours, theirs):
    """Both runs (CompletedProcess) exited 1 with the same messages, program name aside."""
    assert theirs.returncode == 1
    assert ours.returncode == 1, ours.stderr
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)


def startup_outcome(binary, args, timeout=40):
    """Starts @binary with BASE_ARGS + @args and a QMP on stdio that quits at once: (exit code,
    messages without the program name), to compare a command line's outcome with Debian's."""
    quit = '{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
    r = subprocess.run([binary] + BASE_ARGS + list(args) + ['-qmp', 'stdio'], input=quit,
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, strip_prog(r.stderr)


def pytest_configure(config):
    config.addinivalue_line("markers", "deviation(reason): a documented deviation from QEMU 7.2; "
                                       "differential runs against Debian's QEMU skip the test")
    config.addinivalue_line("markers", "long: minutes over CI's budget, or not yet reliable "
                                       "(its reason beside it); `make check` runs it only "
                                       "with LONG_TESTS=1 (plain pytest runs it)")


def pytest_collection_modifyitems(session, config, items):
    """Files that boot the test guest most often run first. `make check` hands whole files to
    pytest-xdist's workers in this order (--dist loadfile): a long file started last would keep
    one worker busy while the other has nothing left, so the short ones come at the end to fill
    in. Tests keep their order within a file; the order is the same in every worker, as xdist
    requires. A file whose tests each boot something heavier than the test guest (the Debian
    disk image, a COLO pair with disks) says how many test-guest boots one of its tests is worth
    in BOOTS_PER_TEST."""
    boots = {}
    for item in items:
        path = str(item.path)
        weight = getattr(item.module, "BOOTS_PER_TEST", 1)
        boots[path] = boots.get(path, 0) + weight * ("built" in item.fixturenames
                                                     or "BOOTS_PER_TEST" in vars(item.module))
    rank = {path: n for n, path in enumerate(sorted(boots, key=lambda p: (-boots[p], p)))}
    items.sort(key=lambda item: rank[str(item.path)])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the test and its fixtures (a module's too, on its last test) are torn down: every
    child it started is still running, or ended with the status the test expected (procs)."""
    yield
    problems = procs.ended_badly()
    if problems:
        raise AssertionError("a process of the test ended badly:\n  " + "\n  ".join(problems))
