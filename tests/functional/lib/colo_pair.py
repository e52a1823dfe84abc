"""A COLO pair of the binary under test with the proxy in the loop, as upstream's runbook
(docs/COLO-FT.txt; spec/upstream-colo.md §9) sets one up, inside a network namespace.

    with ColoPair(binary, guest.build_guest(), sockdir, delay=1000) as pair:
        with pair.ns.entered():
            s = socket.create_connection((pair.guest_ip, 7))   # the client, in the namespace
        pair.qmp["primary"].cmd("query-colo-compare")
        pair.kill("primary")                                   # SIGKILL, checked
        pair.qmp["secondary"].cmd("x-colo-lost-heartbeat")

The namespace holds a bridge `br0` with the client's address (CLIENT_IP, the guest's default
gateway) and two taps on it, one for each VM's `-netdev tap,id=hn0` (same MAC on both):

    client (br0 10.0.2.2) --+-- qcp0 -- hn0 primary:   m0 mirror, redire0/redire1, colo-compare
                            +-- qcs0 -- hn0 secondary: f1/f2 redirectors, rew0 rewriter

While COLO runs only the primary's guest output reaches the bridge (the secondary's goes to
colo-compare through `red1`), so the bridge learns the guest's MAC on qcp0 and unicast goes
there; what the client sends reaches the secondary through filter-mirror. After a failover
to the secondary its filter-redirectors switch off, the primary's tap has lost its carrier
(the bridge forgets what it learnt there) and the secondary announces itself: the client
reaches the secondary at the same IP and MAC, upstream's wiring with both hosts' taps on one
L2 segment.

Both processes run in the namespace, so the runbook's fixed ports (9001, 9003-9005, 9998) are
used verbatim on the namespace's own loopback. Attributes after start():
  qmp: {"primary": QMPClient, "secondary": QMPClient}; vms: the guest.GuestVM of each side;
  ns: the netns.NetNS; guest_ip, client_ip: addresses. kill(side) SIGKILLs one side;
  stop() (or leaving the with block) ends both VMs, closes the monitors and deletes the
  namespace with its bridge and taps.
"""
import os
import signal
import time

import guest
from netns import NetNS, ip
from qmp import QMPClient

GUEST_IP = "10.0.2.15"
CLIENT_IP = "10.0.2.2"
GUEST_MAC = "52:54:00:12:34:56"
MIGRATE_PORT = 9998
SIDES = ("primary", "secondary")


def primary_args():
    """The primary's proxy, word for word from the runbook (tap name and nodelay aside)."""
    chardevs = [
        "socket,id=mirror0,host=0.0.0.0,port=9003,server=on,wait=off,nodelay=on",
        "socket,id=compare1,host=0.0.0.0,port=9004,server=on,wait=on,nodelay=on",
        "socket,id=compare0,host=127.0.0.1,port=9001,server=on,wait=off,nodelay=on",
        "socket,id=compare0-0,host=127.0.0.1,port=9001,nodelay=on",
        "socket,id=compare_out,host=127.0.0.1,port=9005,server=on,wait=off,nodelay=on",
        "socket,id=compare_out0,host=127.0.0.1,port=9005,nodelay=on",
    ]
    objects = [
        "filter-mirror,id=m0,netdev=hn0,queue=tx,outdev=mirror0",
        "filter-redirector,netdev=hn0,id=redire0,queue=rx,indev=compare_out",
        "filter-redirector,netdev=hn0,id=redire1,queue=rx,outdev=compare0",
        "iothread,id=iothread1",
        "colo-compare,id=comp0,primary_in=compare0-0,secondary_in=compare1,"
        "outdev=compare_out0,iothread=iothread1",
    ]
    return _nic("qcp0") + _flags("-chardev", chardevs) + _flags("-object", objects)


def secondary_args():
    chardevs = ["socket,id=red0,host=127.0.0.1,port=9003,reconnect=1,nodelay=on",
                "socket,id=red1,host=127.0.0.1,port=9004,reconnect=1,nodelay=on"]
    objects = ["filter-redirector,id=f1,netdev=hn0,queue=tx,indev=red0",
               "filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=red1",
               "filter-rewriter,id=rew0,netdev=hn0,queue=all"]
    return (_nic("qcs0") + _flags("-chardev", chardevs) + _flags("-object", objects)
            + ["-incoming", f"tcp:0.0.0.0:{MIGRATE_PORT}"])


def _nic(tap):
    return ["-netdev", f"tap,id=hn0,ifname={tap},vhost=off,vnet_hdr=off,script=no,downscript=no",
            "-device", f"virtio-net-pci,id=net-pci0,netdev=hn0,mac={GUEST_MAC}"]


def _flags(flag, values):
    return [w for v in values for w in (flag, v)]


class ColoPair:
    """The pair; see the module's docstring. @append adds guest kernel knobs (tests/guest/init),
    @delay is x-checkpoint-delay in ms, @memory each VM's RAM."""

    guest_ip = GUEST_IP
    client_ip = CLIENT_IP

    def __init__(self, binary, built, sockdir, *, delay=2000, append="", memory="128M"):
        self.binary = binary
        self.built = built
        self.sockdir = sockdir
        self.delay = delay
        self.append = f"qc.quiet {append}".strip()
        self.memory = memory
        self.ns = NetNS(prefix="qccolo")
        self.vms = {}
        self.qmp = {}

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, timeout=120):
        try:
            self._plumb()
            self._boot()
            self._enter_colo(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _plumb(self):
        self.ns.create()
        n = self.ns.name
        ip("-n", n, "link", "add", "br0", "type", "bridge")
        # No STP and no forwarding delay: a port forwards as soon as its tap has a carrier.
        ip("-n", n, "link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        ip("-n", n, "addr", "add", f"{CLIENT_IP}/24", "dev", "br0")
        ip("-n", n, "link", "set", "br0", "up")
        for tap in ("qcp0", "qcs0"):
            self.ns.add_tap(tap)
            ip("-n", n, "link", "set", tap, "master", "br0")

    def _boot(self):
        for side, extra in (("primary", primary_args()), ("secondary", secondary_args())):
            self.vms[side] = guest.GuestVM(
                self.binary, self.built, net=None, memory=self.memory, prefix=self.ns.exec_prefix,
                qmp_path=os.path.join(self.sockdir, f"{side}.qmp"),
                append=f"{self.append} qc.name=colo", extra_args=extra)
        # The primary first: it serves the chardevs and waits (compare1 wait=on) until the
        # secondary's red1 has connected, as in the runbook.
        self.vms["primary"].start()
        self.vms["secondary"].start()
        ready = self.vms["primary"].wait_ready()
        assert ready["ip"] == f"{GUEST_IP}/24" and ready["mac"] == GUEST_MAC, ready
        for side in SIDES:
            path = self.vms[side].qmp_path
            deadline = time.monotonic() + 30
            while not os.path.exists(path):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no QMP socket from the {side}:\n"
                                       f"{self.vms[side].console[-2000:]}")
                time.sleep(0.05)
            self.qmp[side] = QMPClient(path, timeout=60)

    def _enter_colo(self, timeout):
        for side in SIDES:
            r = self.qmp[side].cmd("migrate-set-capabilities", {"capabilities": [
                {"capability": "x-colo", "state": True}]})
            assert r == {"return": {}}, (side, r)
        p = self.qmp["primary"]
        r = p.cmd("migrate-set-parameters", {"x-checkpoint-delay": self.delay})
        assert r == {"return": {}}, r
        r = p.cmd("migrate", {"uri": f"tcp:127.0.0.1:{MIGRATE_PORT}"})
        assert r == {"return": {}}, r
        deadline = time.monotonic() + timeout
        for side in SIDES:
            while self.qmp[side].cmd("query-colo-status")["return"]["mode"] != side:
                info = self.qmp[side].cmd("query-migrate")["return"]
                if info.get("status") in ("failed", "cancelled") or time.monotonic() > deadline:
                    raise RuntimeError(f"the {side} did not enter COLO: {info}\n"
                                       f"{self.vms[side].console[-2000:]}")
                time.sleep(0.1)

    # ---- use ------------------------------------------------------------------------------
    def kill(self, side):
        """SIGKILLs one side and checks that the signal is what ended it."""
        vm = self.vms[side]
        vm.proc.send_signal(signal.SIGKILL)
        rc = vm.wait_exit()
        assert rc == -signal.SIGKILL, (side, rc)
        q = self.qmp.pop(side, None)
        if q:
            q.close()

    def stats(self, side):
        return self.qmp[side].cmd("x-query-colo-stats")["return"]

    # ---- tear-down ------------------------------------------------------------------------
    def stop(self):
        for q in self.qmp.values():
            q.close()
        self.qmp = {}
        for vm in self.vms.values():
            vm.stop()
        self.ns.delete()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
