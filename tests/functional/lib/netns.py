"""Network namespaces for tests (root only): a private namespace with tap devices, a command
prefix to run a VM inside it, and a way for the calling thread to step in and open sockets.

    with NetNS() as ns:
        ns.add_tap("qctap0", "10.0.2.2/24")
        vm = GuestVM(binary, built, net=None, prefix=ns.exec_prefix, extra_args=[
            "-netdev", "tap,id=n0,ifname=qctap0,script=no,downscript=no,vnet_hdr=off",
            "-device", "virtio-net-pci,netdev=n0"])
        ...
        with ns.entered():
            guest.tcp_echo("10.0.2.15", 7, b"x")   # sockets made here live in the namespace

Python 3.11 has no os.setns, so entered() calls setns(2) through ctypes. It switches only the
calling thread; sockets keep their namespace after the thread switches back.
"""
import contextlib
import ctypes
import itertools
import os
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def ip(*args):
    """Runs `ip ARGS`; raises with ip's message on failure."""
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


class NetNS:
    def __init__(self, prefix="qc"):
        self.name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        self.created = False

    @property
    def exec_prefix(self):
        """argv prefix running a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def create(self):
        ip("netns", "add", self.name)
        self.created = True
        ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def add_tap(self, ifname, cidr=None):
        """A persistent tap device in the namespace, optionally with an address; a VM opens
        it with -netdev tap,ifname=IFNAME,script=no,downscript=no."""
        ip("-n", self.name, "tuntap", "add", "dev", ifname, "mode", "tap")
        if cidr:
            ip("-n", self.name, "addr", "add", cidr, "dev", ifname)
        ip("-n", self.name, "link", "set", ifname, "up")

    def add_bridge(self, name, cidr, taps):
        """A bridge with address @cidr and a new tap device per name in @taps on it."""
        ip("-n", self.name, "link", "add", name, "type", "bridge")
        ip("-n", self.name, "addr", "add", cidr, "dev", name)
        ip("-n", self.name, "link", "set", name, "up")
        for tap in taps:
            self.add_tap(tap)
            ip("-n", self.name, "link", "set", tap, "master", name)

    def run(self, *argv, timeout=30):
        return subprocess.run(self.exec_prefix + list(argv), capture_output=True, text=True,
                              timeout=timeout)

    @contextlib.contextmanager
    def entered(self):
        """Moves the calling thread into the namespace for the block."""
        home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        target = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield self
            finally:
                _setns(home)
        finally:
            os.close(target)
            os.close(home)

    def delete(self):
        if self.created:
            ip("netns", "del", self.name)
            self.created = False

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.delete()
