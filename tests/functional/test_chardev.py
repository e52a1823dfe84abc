"""-chardev through the binary: errors word for word beside Debian's QEMU, wait=on, clients."""
import json
import os
import socket
import subprocess
import time

import pytest

from chardev_qmp import chardev_qmp_transcript
from conftest import BASE_ARGS, assert_same_failure, run, strip_prog
from procs import free_port as closed_port  # bound, then released: nobody listens there
from procs import stop_process, watch


# Each entry: the -chardev arguments; "{d}" is a private directory, "{p}" a closed port.
SAME_AS_DEBIAN = [
    ["-chardev", "foo,id=a"],
    ["-chardev", "null"],
    ["-chardev", "null,id=1a"],
    ["-chardev", "null,id=a", "-chardev", "null,id=a"],
    ["-chardev", "socket,id=a"],
    ["-chardev", "socket,id=a,host=127.0.0.1"],
    ["-chardev", "socket,id=a,path={d}/s,host=127.0.0.1,port=1"],
    ["-chardev", "socket,id=a,path={d}/s,wait=on"],
    ["-chardev", "socket,id=a,path={d}/s,server=on,wait=off,reconnect=1"],
    ["-chardev", "socket,id=a,path={d}/s,bogus=1"],
    ["-chardev", "socket,id=a,path={d}/s,server=maybe"],
    ["-chardev", "socket,id=a,path={d}/s,reconnect=abc"],
    ["-chardev", "socket,id=a,path={d}/none/s,server=on,wait=off"],
    ["-chardev", "socket,id=a,path={d}/none"],
    ["-chardev", "socket,id=a,host=127.0.0.1,port={p}"],
    ["-chardev", "socket,id=a,fd=99"],
    ["-chardev", "socket,id=a,fd=abc,server=on,wait=off"],
    ["-chardev", "socket,id=a,host=127.0.0.1,port=0,ipv4=off,ipv6=off,server=on,wait=off"],
    ["-chardev", "socket,id=a,host=127.0.0.1,port={p},ipv4=off"],
    ["-chardev", "socket,id=a,host=no.such.host.invalid,port=1"],
    ["-chardev", "socket,id=a,path={d}/s,abstract=maybe"],
    ["-chardev", "file,id=a"],
    ["-chardev", "file,id=a,path={d}/none/x"],
    ["-chardev", "stdio,id=a", "-chardev", "stdio,id=b"],
]


@pytest.mark.parametrize("args", SAME_AS_DEBIAN, ids=lambda a: " ".join(a)[:60])
def test_error_matches_debian(qemu_bin, debian_qemu, sockdir, args):
    port = closed_port()
    args = [a.format(d=sockdir, p=port) for a in args]
    assert_same_failure(run(qemu_bin, *args), run(debian_qemu, *args))


def test_port_in_use_matches_debian(qemu_bin, debian_qemu):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        arg = f"socket,id=a,host=127.0.0.1,port={port},server=on,wait=off"
        ours = run(qemu_bin, "-chardev", arg)
        theirs = run(debian_qemu, "-chardev", arg)
    assert ours.returncode == theirs.returncode == 1
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)
    assert "Failed to find an available port: Address already in use" in ours.stderr


def wait_for_line(proc, deadline=5.0):
    """The first stderr line of a running process."""
    end = time.monotonic() + deadline
    line = ""
    while time.monotonic() < end and not line:
        line = proc.stderr.readline()
    return line


@pytest.mark.parametrize("binary", ["ours", "debian"])
def test_server_waits_for_client(request, qemu_bin, debian_qemu, sockdir, binary):
    exe = qemu_bin if binary == "ours" else debian_qemu
    path = os.path.join(sockdir, "w.sock")
    arg = f"socket,id=c0,path={path},server=on"
    proc = subprocess.Popen([exe] + BASE_ARGS + ["-chardev", arg], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch(proc)
    try:
        line = wait_for_line(proc)
        assert line.rstrip("\n") == (f"qemu-system-x86_64: -chardev {arg}: info: QEMU waiting "
                                     f"for connection on: disconnected:unix:{path},server=on")
        # Blocked until a client arrives, then it goes on running.
        assert proc.poll() is None
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(path)
            time.sleep(0.3)
            assert proc.poll() is None
    finally:
        stop_process(proc)


def test_abstract_unix_server_like_debian(qemu_bin, debian_qemu):
    """abstract=on listens in Linux's abstract namespace: no file, and a client gets in."""
    lines = []
    for exe in (qemu_bin, debian_qemu):
        name = f"qemu-colo-test-{os.getpid()}-{len(lines)}"
        arg = f"socket,id=c0,path={name},abstract=on,server=on"
        proc = subprocess.Popen([exe] + BASE_ARGS + ["-chardev", arg], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            lines.append(strip_prog(wait_for_line(proc)).replace(name, "NAME"))
            assert not os.path.exists(name)
            with socket.socket(socket.AF_UNIX) as c:
                c.connect("\0" + name)
                time.sleep(0.3)
                assert proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert ("QEMU waiting for connection on: disconnected:unix:NAME,abstract=on,tight=on,"
            "server=on") in lines[0]
    assert lines[0] == lines[1]


def test_client_connects_and_reconnects(qemu_bin, sockdir):
    """A reconnecting client finds a server that appears later, and again after it restarts."""
    path = os.path.join(sockdir, "r.sock")
    proc = subprocess.Popen([qemu_bin] + BASE_ARGS +
                            ["-chardev", f"socket,id=c0,path={path},reconnect-ms=100"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    watch(proc)
    try:
        line = wait_for_line(proc)
        assert "Unable to connect character device c0: Failed to connect to" in line
        for _ in range(2):
            with socket.socket(socket.AF_UNIX) as srv:
                srv.bind(path)
                srv.listen(1)
                srv.settimeout(5)
                conn, _ = srv.accept()
                conn.close()
            os.unlink(path)
        assert proc.poll() is None
    finally:
        stop_process(proc)


def qmp_transcript(binary, sockdir):
    """chardev-add / query-chardev / chardev-remove replies, with per-run details normalised."""
    tag = os.path.basename(binary)
    d = os.path.join(sockdir, "ours" if "build" in binary else "ref")
    os.mkdir(d)
    port = closed_port()

    def norm(reply):
        return json.loads(json.dumps(reply).replace(d, "D").replace(str(port), "PORT"))

    def unix(path, server, **extra):
        data = {"addr": {"type": "unix", "data": {"path": os.path.join(d, path)}},
                "server": server}
        data.update(extra)
        return {"type": "socket", "data": data}

    steps = [
        ("chardev-add", {"id": "s0", "backend": unix("s0", True, wait=False)}),
        ("chardev-add", {"id": "s0", "backend": {"type": "null", "data": {}}}),
        ("chardev-add", {"id": "c0", "backend": unix("s0", False)}),
        ("chardev-add", {"id": "n0", "backend": {"type": "null", "data": {}}}),
        ("chardev-add", {"id": "f0", "backend": {"type": "file",
                                                 "data": {"out": os.path.join(d, "f")}}}),
        ("chardev-add", {"id": "x0", "backend": {"type": "file", "data": {}}}),
        ("chardev-add", {"id": "x1", "backend": {"type": "file",
                                                 "data": {"out": os.path.join(d, "no/f")}}}),
        ("chardev-add", {"id": "x2", "backend": unix("s0", False, wait=True)}),
        ("chardev-add", {"id": "x3", "backend": unix("s0", True, reconnect=1)}),
        ("chardev-add", {"id": "x4", "backend": {"type": "socket", "data": {"addr": {
            "type": "inet", "data": {"host": "127.0.0.1", "port": str(port)}},
            "server": False}}}),
        ("chardev-add", {"id": "r0", "backend": {"type": "socket", "data": {"addr": {
            "type": "inet", "data": {"host": "127.0.0.1", "port": str(port)}},
            "server": False, "reconnect": 1}}}),
        ("chardev-remove", {"id": "nope"}),
        ("chardev-remove", {"id": "n0"}),
        ("query-chardev", None),
        ("chardev-remove", {"id": "c0"}),
        ("chardev-remove", {"id": "s0"}),
        ("chardev-remove", {"id": "r0"}),
        ("chardev-remove", {"id": "f0"}),
    ]
    return chardev_qmp_transcript(binary, BASE_ARGS, steps, norm)


def test_qmp_chardev_matches_debian(qemu_bin, debian_qemu, sockdir):
    ours = qmp_transcript(qemu_bin, sockdir)
    ref = qmp_transcript(debian_qemu, sockdir)
    for (cmd, a), (_, b) in zip(ours, ref):
        assert a == b, cmd
