"""A stand-alone colo-compare process (ours or Debian's QEMU) with its four sockets connected.

    with ComparePeer(binary, workdir) as c:
        c.pri.send(frame_bytes)          # primary_in
        c.sec.send(frame_bytes)          # secondary_in
        c.out.recv_data()                # outdev: released primary frames
        c.wait_checkpoint()              # a DO_CHECKPOINT on notify_dev
        c.checkpoint_done()              # COLO_CHECKPOINT: flush

With ``qmp=True`` the process also gets a QMP socket and ``.qmp`` is a connected
tests/functional/lib/qmp.py client. The process listens on every chardev (server=on,wait=off);
the test is the client of all four.
``start()`` returns once outdev and notify_dev are proven connected: a probe ARP frame sent on
primary_in must come back on outdev, and COLO_USERSPACE_PROXY_INIT must be answered.
"""
import os
import struct
import subprocess
import time

import frames
from procs import BASE_ARGS, free_port, stop_process, watch

ROLES = ("pri", "sec", "out", "notify")


class ComparePeer:
    def __init__(self, binary, workdir, transport="unix", vnet=False, notify=True, props=None,
                 extra_args=None, name="comp0", qmp=False):
        self.binary = binary
        self.workdir = workdir
        self.transport = transport
        self.vnet = vnet
        self.notify_on = notify
        self.props = dict(props or {})
        self.extra_args = list(extra_args or [])
        self.name = name
        self.proc = None
        self.addr = {}
        self.sockets = {}
        self.probe_seq = 0
        self.qmp_on = qmp
        self.qmp = None
        self.qmp_path = os.path.join(workdir, f"{name}-qmp.sock")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")

    # ---- process ----

    def roles(self):
        return ROLES if self.notify_on else ROLES[:3]

    def chardev_arg(self, role):
        if self.transport == "unix":
            path = os.path.join(self.workdir, f"{self.name}-{role}.sock")
            self.addr[role] = path
            return f"socket,id={role},path={path},server=on,wait=off"
        port = free_port()
        self.addr[role] = port
        return f"socket,id={role},host=127.0.0.1,port={port},server=on,wait=off,nodelay=on"

    def argv(self):
        args = [self.binary] + BASE_ARGS + ["-object", "iothread,id=io0"]
        for role in self.roles():
            args += ["-chardev", self.chardev_arg(role)]
        obj = (f"colo-compare,id={self.name},primary_in=pri,secondary_in=sec,outdev=out,"
               "iothread=io0")
        if self.notify_on:
            obj += ",notify_dev=notify"
        if self.vnet:
            obj += ",vnet_hdr_support=on"
        for k, v in self.props.items():
            obj += f",{k}={v}"
        if self.qmp_on:
            args += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        return args + ["-object", obj] + self.extra_args

    def start(self, connect=True):
        self.stderr_file = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr_file)
        watch(self.proc, "colo-compare peer " + self.binary)
        if self.qmp_on:
            import qmp  # tests/functional/lib/qmp.py
            self.qmp = qmp.QMPClient(self.qmp_path)
        if connect:
            for role in self.roles():
                self.connect(role)
            self.wait_ready()
        return self

    def connect(self, role):
        vnet = self.vnet and role != "notify"
        if self.transport == "unix":
            s = frames.FrameSocket.connect_unix(self.addr[role], vnet=vnet)
        else:
            s = frames.FrameSocket.connect_tcp("127.0.0.1", self.addr[role], vnet=vnet)
        old = self.sockets.get(role)
        if old:
            old.close()
        if role == "notify":
            s.send_vnet = self.vnet
        self.sockets[role] = s
        return s

    def disconnect(self, role):
        self.sockets.pop(role).close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        if not self.stderr_file.closed:
            self.stderr_file.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self):
        if self.qmp:
            self.qmp.close()
            self.qmp = None
        for s in self.sockets.values():
            s.close()
        self.sockets = {}
        if self.proc:
            stop_process(self.proc)
            self.stderr_file.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- sockets ----

    @property
    def pri(self):
        return self.sockets["pri"]

    @property
    def sec(self):
        return self.sockets["sec"]

    @property
    def out(self):
        return self.sockets["out"]

    @property
    def notify(self):
        return self.sockets["notify"]

    def probe_frame(self, seq):
        """An ARP request whose target address carries @seq: released at once, never compared."""
        return frames.arp_frame("192.0.2.1", "198.51.%d.%d" % (seq >> 8 & 255, seq & 255))

    def wait_out_ready(self, timeout=5.0):
        """Sends probe frames on primary_in until one comes back on outdev, then returns."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.probe_seq += 1
            want = self.probe_frame(self.probe_seq)
            self.pri.send(self.wrap(want), self.vnet_len())
            until = time.monotonic() + 0.3
            while time.monotonic() < until:
                got = self.out.recv(max(0.0, until - time.monotonic()))
                if got is None:
                    break
                if got[1] == self.wrap(want):
                    return
        raise TimeoutError("outdev never delivered a probe frame")

    def wait_ready(self):
        self.wait_out_ready()
        if self.notify_on:
            self.notify.send(b"COLO_USERSPACE_PROXY_INIT")
            reply = self.notify.recv_data(5.0)
            assert reply == b"COLO_COMPARE_GET_XEN_INIT", reply

    # ---- vnet header handling: tests think in Ethernet frames ----

    def vnet_len(self):
        return 12 if self.vnet else 0

    def wrap(self, eth_frame):
        return (frames.vnet_hdr(12) + eth_frame) if self.vnet else eth_frame

    def unwrap(self, data):
        return data[12:] if self.vnet else data

    def send_pri(self, *eth_frames):
        self.pri.send_many([self.wrap(f) for f in eth_frames], self.vnet_len())

    def send_sec(self, *eth_frames):
        self.sec.send_many([self.wrap(f) for f in eth_frames], self.vnet_len())

    def released(self, n, timeout=5.0):
        """The next @n released frames (Ethernet frames, vnet header stripped)."""
        return [self.unwrap(d) for d in self.out.recv_n(n, timeout)]

    def released_all(self, quiet=0.3):
        return [self.unwrap(d) for d in self.out.drain(quiet)]

    # ---- notify_dev ----

    def wait_checkpoint(self, timeout=3.0):
        """TRUE if a DO_CHECKPOINT arrives within @timeout seconds."""
        msg = self.notify.recv_data(timeout)
        if msg is None:
            return False
        assert msg == b"DO_CHECKPOINT", msg
        return True

    def checkpoints(self, quiet=0.3):
        """How many DO_CHECKPOINT messages arrive until notify_dev is quiet."""
        msgs = self.notify.drain(quiet)
        assert all(m == b"DO_CHECKPOINT" for m in msgs), msgs
        return len(msgs)

    def checkpoint_done(self):
        self.notify.send(b"COLO_CHECKPOINT")


def pack_len(n):
    return struct.pack("!I", n)
