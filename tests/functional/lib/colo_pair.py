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

Disk mode (disks=ColoDisks(dir), block replication, spec §9.2-§9.4): the primary's disk is a
quorum over its qcow2 image (an ext4 made by mkfs.ext4 -d), the secondary's a quorum over the
replication driver's active disk, on the hidden disk, on `parent0`, a copy of the primary's
image. The primary starts with -S, as in the runbook; before `migrate` the secondary exports
parent0 over NBD (nbd-server-start, nbd-server-add) and the primary adds its replication child
(HMP drive_add -n buddy, x-blockdev-change). The guest boots inside COLO with its disk at
/dev/sda (qc.disk). failover_runbook(survivor) runs §9.4's steps on the survivor.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import guest
from netns import NetNS, ip
from qmp import QMPClient

GUEST_IP = "10.0.2.15"
CLIENT_IP = "10.0.2.2"
GUEST_MAC = "52:54:00:12:34:56"
MIGRATE_PORT = 9998
NBD_PORT = 9999
SIDES = ("primary", "secondary")


class ColoDisks:
    """The runbook's images (spec §9.2) in @dirpath: primary.qcow2 (ext4 of @mib MiB made by
    mkfs.ext4 -d from @files, {name: bytes}), secondary.qcow2 (a copy: parent0), and the
    secondary's empty active.qcow2 and hidden.qcow2 of the same size. @blank: a fresh
    secondary's set for re-protection (an empty parent0 and overlays, no primary image)."""

    def __init__(self, dirpath, mib=64, files=None, blank=False, backing=None):
        self.dir = str(dirpath)
        self.mib = mib
        self.primary, self.secondary, self.active, self.hidden = (
            os.path.join(self.dir, n + ".qcow2")
            for n in ("primary", "secondary", "active", "hidden"))
        os.makedirs(self.dir, exist_ok=True)
        self.new_overlays()
        if backing:
            # Both sides start from empty overlays of one image (@mib its size): the same
            # disk, without copying it.
            for path in (self.primary, self.secondary):
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                                backing, path], check=True)
            return
        if blank:
            self.primary = None
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", self.secondary,
                            f"{mib}M"], check=True)
            return
        root = os.path.join(self.dir, "root")
        os.makedirs(root, exist_ok=True)
        for name, data in (files or {"hello": b"made on the host\n"}).items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        raw = os.path.join(self.dir, "fs.raw")
        # inode tables and journal written now: no lazy-init writes by the guest's kernel
        # after it mounts, so an idle guest writes nothing
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        "-d", root, raw, f"{mib}M"], check=True, capture_output=True)
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw,
                        self.primary], check=True)
        os.remove(raw)
        shutil.copyfile(self.primary, self.secondary)

    def new_overlays(self):
        for path in (self.active, self.hidden):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, f"{self.mib}M"],
                           check=True)

    def primary_args(self):
        return ["-drive", "if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,"
                "vote-threshold=1,children.0.file.filename=" + self.primary
                + ",children.0.driver=qcow2", "-S"]

    def secondary_args(self):
        return ["-drive", f"if=none,id=parent0,file.filename={self.secondary},driver=qcow2",
                "-drive", "if=none,id=childs0,driver=replication,mode=secondary,"
                "top-id=colo-disk0,file.driver=qcow2,file.file.filename=" + self.active
                + ",file.backing.driver=qcow2,file.backing.file.filename=" + self.hidden
                + ",file.backing.backing=parent0",
                "-drive", "if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,"
                "vote-threshold=1,children.0=childs0"]

    def secondary_chain(self):
        """The secondary's disk as its guest reads it (active -> hidden -> parent0), for
        qemu-img."""
        def qcow2(path, backing=None):
            node = {"driver": "qcow2", "file": {"driver": "file", "filename": path}}
            if backing is not None:
                node["backing"] = backing
            return node
        # parent0's own header names no backing file: null ends the chain there
        return "json:" + json.dumps(qcow2(self.active, qcow2(self.hidden,
                                                              qcow2(self.secondary, None))))

    def compare(self, a, b):
        """qemu-img compare of two images (paths or json: names), force-share: the VMs have
        them open. The CompletedProcess; returncode 0 when the guest-visible bytes are equal."""
        return subprocess.run(["qemu-img", "compare", "-U", a, b], capture_output=True,
                              text=True)

    def allocated(self, path):
        """Bytes with data in @path itself, not in its backing files (qemu-img map)."""
        out = subprocess.run(["qemu-img", "map", "-U", "--output=json", path],
                             capture_output=True, text=True, check=True).stdout
        return sum(e["length"] for e in json.loads(out) if e.get("data") and e["depth"] == 0)


def primary_args(compare_timeout=None):
    """The primary's proxy, word for word from the runbook (tap name and nodelay aside;
    @compare_timeout in ms if given)."""
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
        "outdev=compare_out0,iothread=iothread1"
        + (f",compare_timeout={compare_timeout}" if compare_timeout else ""),
    ]
    return _nic("qcp0") + _flags("-chardev", chardevs) + _flags("-object", objects)


def secondary_args(tap="qcs0"):
    chardevs = ["socket,id=red0,host=127.0.0.1,port=9003,reconnect=1,nodelay=on",
                "socket,id=red1,host=127.0.0.1,port=9004,reconnect=1,nodelay=on"]
    objects = ["filter-redirector,id=f1,netdev=hn0,queue=tx,indev=red0",
               "filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=red1",
               "filter-rewriter,id=rew0,netdev=hn0,queue=all"]
    return (_nic(tap) + _flags("-chardev", chardevs) + _flags("-object", objects)
            + ["-incoming", f"tcp:0.0.0.0:{MIGRATE_PORT}"])


def _export_parent0(q):
    """The secondary's side of spec §9.3: parent0 exported writable over NBD."""
    r = q.cmd("nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": "127.0.0.1", "port": str(NBD_PORT)}}})
    assert r == {"return": {}}, r
    r = q.cmd("nbd-server-add", {"device": "parent0", "writable": True})
    assert r == {"return": {}}, r


def _add_replication_child(q):
    """The primary's side: the replication child on that export joins its quorum."""
    out = q.hmp("drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,"
                f"file.host=127.0.0.1,file.port={NBD_PORT},file.export=parent0,"
                "node-name=replication0")
    assert out == "", out
    r = q.cmd("x-blockdev-change", {"parent": "colo-disk0", "node": "replication0"})
    assert r == {"return": {}}, r


def _primary_chardevs():
    """primary_args()'s chardevs as chardev-add arguments (a former secondary becoming
    primary, spec §9.4)."""
    out = []
    for spec in primary_args()[primary_args().index("-chardev"):]:
        if spec in ("-chardev", "-object") or not spec.startswith("socket,"):
            continue
        kv = dict(w.split("=", 1) for w in spec.split(",")[1:])
        data = {"addr": {"type": "inet", "data": {"host": kv["host"], "port": kv["port"]}},
                "server": kv.get("server") == "on", "nodelay": True}
        if data["server"]:
            data["wait"] = False
        out.append({"id": kv["id"], "backend": {"type": "socket", "data": data}})
    return out


def _primary_objects(compare_timeout=None):
    """primary_args()'s objects as object-add arguments."""
    args = primary_args(compare_timeout)
    out = []
    for flag, spec in zip(args, args[1:]):
        if flag != "-object":
            continue
        typ, *rest = spec.split(",")
        obj = {"qom-type": typ}
        obj.update(dict(w.split("=", 1) for w in rest))
        out.append(obj)
    return out


def _monitor(vm):
    """The QMP client of @vm once its socket exists (it has not exited meanwhile)."""
    deadline = time.monotonic() + 30
    while not os.path.exists(vm.qmp_path):
        assert vm.proc.poll() is None, vm.console[-2000:]
        assert time.monotonic() < deadline, vm.console[-2000:]
        time.sleep(0.05)
    return QMPClient(vm.qmp_path, timeout=60)


def _nic(tap):
    return ["-netdev", f"tap,id=hn0,ifname={tap},vhost=off,vnet_hdr=off,script=no,downscript=no",
            "-device", f"virtio-net-pci,id=net-pci0,netdev=hn0,mac={GUEST_MAC}"]


def _flags(flag, values):
    return [w for v in values for w in (flag, v)]


class ColoPair:
    """The pair; see the module's docstring. @append adds guest kernel knobs (tests/guest/init),
    @delay is x-checkpoint-delay in ms, @memory each VM's RAM, @compare_timeout colo-compare's
    (ms; its default 3000 makes a secondary starved by a loaded host force checkpoints).

    kernel=None boots the disk through the firmware (ColoDisks(backing=IMAGE), the Debian
    image; built and append unused, no ready marker): the primary runs alone from start()
    until its console matches @enter_at, and COLO starts there, in the middle of the boot.
    start_alone() then protect() instead of start(): a primary that runs alone, without the
    proxy, for as long as the caller likes, then protected as a survivor is re-protected.
    @no_reboot=False leaves out -no-reboot (a guest's reboot restarts it)."""

    guest_ip = GUEST_IP
    client_ip = CLIENT_IP

    def __init__(self, binary, built, sockdir, *, delay=2000, append="", memory="128M",
                 compare_timeout=None, disks=None, kernel="vmlinuz", enter_at=None,
                 no_reboot=True):
        self.no_reboot = no_reboot
        self.compare_timeout = compare_timeout
        self.kernel = kernel
        self.enter_at = enter_at
        self.disks = disks
        if disks:
            append = f"qc.disk=/dev/sda {append}"
        self.binary = binary
        self.built = built
        self.sockdir = sockdir
        self.delay = delay
        # with disks a shell stays on the console (no qc.quiet): the survivor's unmounts
        self.append = f"{'' if disks else 'qc.quiet '}{append}".strip()
        self.memory = memory
        self.ns = NetNS(prefix="qccolo")
        self.vms = {}
        self.qmp = {}

    # ---- set-up ---------------------------------------------------------------------------
    def start(self, timeout=120):
        try:
            self._plumb()
            self._boot()
            if self.enter_at:
                assert self.qmp["primary"].cmd("cont") == {"return": {}}
                self.vms["primary"].wait_for(self.enter_at, timeout)
            self._enter_colo(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_alone(self):
        """The primary alone on its tap (no proxy, no -S: its guest runs at once), its disk
        the quorum colo-disk0 as in the runbook; protect() makes the pair later."""
        try:
            self._plumb()
            vm = self.vms["primary"] = guest.GuestVM(
                self.binary, self.built, net=None, memory=self.memory,
                prefix=self.ns.exec_prefix, kernel=self.kernel, no_reboot=self.no_reboot,
                qmp_path=os.path.join(self.sockdir, "primary.qmp"), interactive=True,
                append=f"{self.append} qc.name=colo",
                extra_args=_nic("qcp0") + [a for a in self.disks.primary_args() if a != "-S"])
            vm.start()
            self.qmp["primary"] = _monitor(vm)
        except BaseException:
            self.stop()
            raise
        return self

    def protect(self, disks, timeout=120):
        """Spec §9.4's "Resume replication" on the primary of start_alone(): a fresh secondary
        on qcs0 with @disks (its parent0 blank or stale), the primary's disk copied to it,
        the primary's proxy added (chardevs, then objects: there is no rewriter to go
        before), COLO."""
        q = self.qmp["primary"]
        for cd in _primary_chardevs():
            r = q.cmd("chardev-add", cd)
            assert r == {"return": {}}, (cd["id"], r)
        self._resync(q, self.vms["primary"], "qcs0", disks, timeout, {})

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
        d = self.disks
        for side, extra in (
                ("primary", primary_args(self.compare_timeout) + (d.primary_args() if d else [])),
                ("secondary", secondary_args() + (d.secondary_args() if d else []))):
            self.vms[side] = guest.GuestVM(
                self.binary, self.built, net=None, memory=self.memory, prefix=self.ns.exec_prefix,
                qmp_path=os.path.join(self.sockdir, f"{side}.qmp"),
                append=f"{self.append} qc.name=colo", extra_args=extra,
                interactive=bool(d), kernel=self.kernel, no_reboot=self.no_reboot)
        # The primary first: it serves the chardevs and waits (compare1 wait=on) until the
        # secondary's red1 has connected, as in the runbook.
        self.vms["primary"].start()
        self.vms["secondary"].start()
        if not d:  # with disks (-S) the guest boots inside COLO
            self._check_ready()
        for side in SIDES:
            path = self.vms[side].qmp_path
            deadline = time.monotonic() + 30
            while not os.path.exists(path):
                # either one's exit (a refused option) leaves the other waiting for it
                for who, vm in self.vms.items():
                    if vm.proc.poll() is not None:
                        raise RuntimeError(f"the {who} exited ({vm.proc.poll()}):\n"
                                           f"{vm.console[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no QMP socket from the {side}:\n"
                                       f"{self.vms[side].console[-2000:]}")
                time.sleep(0.05)
            self.qmp[side] = QMPClient(path, timeout=60)

    def _check_ready(self):
        if not self.kernel:
            return  # the firmware boots an image that prints no ready marker
        ready = self.vms["primary"].wait_ready()
        assert ready["ip"] == f"{GUEST_IP}/24" and ready["mac"] == GUEST_MAC, ready
        if self.disks:
            assert ready["disk"] == "/dev/sda", ready

    def _start_replication(self):
        """Spec §9.3 steps 1-2: the secondary's NBD export of parent0, the primary's
        replication child in its quorum."""
        _export_parent0(self.qmp["secondary"])
        _add_replication_child(self.qmp["primary"])

    def _enter_colo(self, timeout, setup=True):
        if self.disks and setup:
            self._start_replication()
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
        if self.disks and setup:
            self._check_ready()

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

    def failover_runbook(self, survivor):
        """Spec §9.4 on @survivor (the other side is gone): the primary drops its replication
        child and the proxy objects, the secondary stops its NBD server and its redirectors;
        then x-colo-lost-heartbeat; returns its COLO_EXIT event."""
        q = self.qmp[survivor]
        if survivor == "primary":
            r = q.cmd("x-blockdev-change", {"parent": "colo-disk0", "child": "children.1"})
            assert r == {"return": {}}, r
            assert q.hmp("drive_del replication0") == ""
            for obj in ("comp0", "iothread1", "m0", "redire0", "redire1"):
                assert q.cmd("object-del", {"id": obj}) == {"return": {}}, obj
            assert q.cmd("x-colo-lost-heartbeat") == {"return": {}}
        else:
            assert q.cmd("nbd-server-stop") == {"return": {}}
            assert q.cmd("x-colo-lost-heartbeat") == {"return": {}}
            for obj in ("f2", "f1"):
                assert q.cmd("object-del", {"id": obj}) == {"return": {}}, obj
            for dev in ("red1", "red0"):
                assert q.cmd("chardev-remove", {"id": dev}) == {"return": {}}, dev
        return q.wait_event("COLO_EXIT", timeout=60, match={"reason": "request"})

    # ---- re-protection (spec §9.4 "Resume replication") ----------------------------------
    def reprotect(self, survivor, disks, timeout=120):
        """After a failover to @survivor (the other side gone): a fresh secondary on the dead
        side's tap with @disks (ColoDisks(blank=True)), the survivor's disk copied to it
        (drive-mirror sync=full to its NBD export, stop, block-job-cancel), the replication
        child and the primary's proxy added on the survivor (before rew0 on a former
        secondary), then migrate: COLO again, the survivor as "primary", the new VM as
        "secondary" in .vms and .qmp."""
        q = self.qmp.pop(survivor)
        vm = self.vms.pop(survivor)
        dead = "primary" if survivor == "secondary" else "secondary"
        self.vms.pop(dead, None)
        tap = "qcp0" if dead == "primary" else "qcs0"
        if survivor == "secondary":
            for cd in _primary_chardevs():
                r = q.cmd("chardev-add", cd)
                assert r == {"return": {}}, (cd["id"], r)
        where = {"insert": "before", "position": "id=rew0"} if survivor == "secondary" else {}
        self._resync(q, vm, tap, disks, timeout, where)

    def _resync(self, q, vm, tap, disks, timeout, where):
        """The runbook's steps 1-3 and 5 for the running @vm (monitor @q; its proxy chardevs
        in place): a new secondary on @tap, the disk copied, replication, the proxy's objects
        (filters placed by @where), COLO."""
        new = guest.GuestVM(
            self.binary, self.built, net=None, memory=self.memory, prefix=self.ns.exec_prefix,
            qmp_path=os.path.join(self.sockdir, "new.qmp"),
            append=f"{self.append} qc.name=colo", interactive=True, kernel=self.kernel,
            no_reboot=self.no_reboot, extra_args=secondary_args(tap) + disks.secondary_args())
        self.vms.update(primary=vm, secondary=new)
        self.qmp["primary"] = q
        new.start()
        n = self.qmp["secondary"] = _monitor(new)
        r = n.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "x-colo", "state": True}]})
        assert r == {"return": {}}, r
        _export_parent0(n)
        r = q.cmd("drive-mirror", {"device": "colo-disk0", "job-id": "resync",
                                   "target": f"nbd://127.0.0.1:{NBD_PORT}/parent0",
                                   "mode": "existing", "format": "raw", "sync": "full"})
        assert r == {"return": {}}, r
        # the copy chases the guest's writes: READY may take a while on a loaded host; a job
        # that ends first says why
        deadline = time.monotonic() + 2 * timeout
        while True:
            ev = q.wait_event(timeout=max(deadline - time.monotonic(), 0.1))
            assert ev["event"] != "BLOCK_JOB_COMPLETED", ev
            if ev["event"] == "BLOCK_JOB_READY":
                break
        assert q.cmd("stop") == {"return": {}}
        assert q.cmd("block-job-cancel", {"device": "resync"}) == {"return": {}}
        done = q.wait_event("BLOCK_JOB_COMPLETED", timeout=timeout)
        assert "error" not in done["data"], done
        _add_replication_child(q)
        for obj in _primary_objects(self.compare_timeout):
            if obj["qom-type"].startswith("filter-"):
                obj = dict(obj, **where)
            r = q.cmd("object-add", obj)
            assert r == {"return": {}}, (obj, r)
        self._enter_colo(timeout, setup=False)

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
