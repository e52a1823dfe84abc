"""-chardev through the binary: errors word for word beside Debian's QEMU, wait=on, clients."""
import os
import socket
import subprocess
import time

import pytest

from conftest import BASE_ARGS, run


def strip_prog(text):
    return "\n".join(line.split(": ", 1)[1] if line.startswith("qemu-system-x86_64: ") else line
                     for line in text.strip().splitlines())


def closed_port():
    """A loopback port that nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
    ["-chardev", "file,id=a"],
    ["-chardev", "file,id=a,path={d}/none/x"],
    ["-chardev", "stdio,id=a", "-chardev", "stdio,id=b"],
]


@pytest.mark.parametrize("args", SAME_AS_DEBIAN, ids=lambda a: " ".join(a)[:60])
def test_error_matches_debian(qemu_bin, debian_qemu, sockdir, args):
    port = closed_port()
    args = [a.format(d=sockdir, p=port) for a in args]
    ours = run(qemu_bin, *args)
    theirs = run(debian_qemu, *args)
    assert theirs.returncode == 1
    assert ours.returncode == 1, ours.stderr
    assert strip_prog(ours.stderr) == strip_prog(theirs.stderr)


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
        proc.terminate()
        proc.wait(timeout=10)


def test_client_connects_and_reconnects(qemu_bin, sockdir):
    """A reconnecting client finds a server that appears later, and again after it restarts."""
    path = os.path.join(sockdir, "r.sock")
    proc = subprocess.Popen([qemu_bin] + BASE_ARGS +
                            ["-chardev", f"socket,id=c0,path={path},reconnect-ms=100"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
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
        proc.terminate()
        proc.wait(timeout=10)
