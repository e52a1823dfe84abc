"""Net QMP/HMP: netdev_add, netdev_del, set_link, info network, x-query-net-counters and
run-time status changes of filters, beside Debian's QEMU where the output must match."""
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import BASE_ARGS
from frames import connect_retry, frame, nothing_arrives, recv_frame
from nethub import SocketHub
from procs import connect_loopback, free_port, free_ports
from qmp import QemuProcess


def start(binary, *args):
    return QemuProcess(binary, BASE_ARGS + list(args))


def both(qemu_bin, debian_qemu, *args):
    return start(qemu_bin, *args), start(debian_qemu, *args)


def stop(*vms):
    for vm in vms:
        vm.kill()


def test_info_network_matches_upstream(qemu_bin, debian_qemu, sockdir):
    def args(i):
        p0, p1 = free_ports(2)
        return ["-netdev", "user,id=u0,net=10.1.0.0/16",
                "-netdev", "hubport,id=h1,hubid=0,netdev=u0",
                "-netdev", f"socket,id=n0,listen=127.0.0.1:{p0}",
                "-netdev", "hubport,id=h0,hubid=0,netdev=n0",
                "-netdev", f"socket,id=n1,listen=127.0.0.1:{p1}",
                "-chardev", f"socket,id=c{i},path={sockdir}/c{i},server=on,wait=off",
                "-object", "filter-buffer,id=b0,netdev=u0,interval=1000",
                "-object", f"filter-mirror,id=m0,netdev=n0,outdev=c{i},queue=rx",
                "-object", "filter-dump,id=d0,netdev=n0,file=/dev/null,position=head",
                "-object", "filter-buffer,id=b1,netdev=n0,interval=5,insert=before,"
                           "position=id=m0"]
    ours, theirs = start(qemu_bin, *args(0)), start(debian_qemu, *args(1))
    try:
        a = ours.qmp.hmp("info network")
        b = theirs.qmp.hmp("info network").replace("outdev=c1", "outdev=c0")
        assert "filters:" in a
        assert a == b
    finally:
        stop(ours, theirs)


def test_netdev_add_del_errors_match_upstream(qemu_bin, debian_qemu):
    ours, theirs = both(qemu_bin, debian_qemu)
    try:
        ports = {}
        calls = [
            ("netdev_add", {"type": "user", "id": "u1", "hostfwd": "PORT"}),
            ("netdev_add", {"type": "user", "id": "u1"}),
            ("netdev_add", {"type": "bogus", "id": "x"}),
            ("netdev_add", {"type": "socket", "id": "s1"}),
            ("netdev_del", {"id": "nope"}),
            ("set_link", {"name": "nope", "up": False}),
            ("set_link", {"name": "u1", "up": False}),
            ("netdev_del", {"id": "u1"}),
            ("netdev_del", {"id": "u1"}),
        ]
        for name, args in calls:
            replies = []
            for vm in (ours, theirs):
                a = dict(args)
                if a.get("hostfwd") == "PORT":
                    ports[vm] = free_port()
                    a["hostfwd"] = [{"str": f"tcp:127.0.0.1:{ports[vm]}-:22"}]
                replies.append(vm.qmp.cmd(name, a))
            r1, r2 = replies
            assert ("error" in r1) == ("error" in r2), (name, args, r1, r2)
            if "error" in r1:
                assert r1["error"] == r2["error"], (name, args)
        # The hostfwd listener existed while u1 did, and is gone with it.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ports[ours]), timeout=1).close()
    finally:
        stop(ours, theirs)


def test_hmp_netdev_add_and_set_link(qemu_bin, sockdir):
    pa, pb = free_ports(2)
    vm = start(qemu_bin)
    try:
        for line in (f"netdev_add socket,id=a,listen=127.0.0.1:{pa}",
                     f"netdev_add socket,id=b,listen=127.0.0.1:{pb}",
                     "netdev_add hubport,id=ha,hubid=0,netdev=a",
                     "netdev_add hubport,id=hb,hubid=0,netdev=b"):
            assert vm.qmp.hmp(line) == ""
        sa, sb = connect_loopback(pa), connect_loopback(pb)
        time.sleep(0.2)
        sa.sendall(frame(b"link-up-frame"))
        assert recv_frame(sb)[1] == b"link-up-frame"

        assert vm.qmp.hmp("set_link a off") == ""
        sa.sendall(frame(b"lost-frame"))
        assert nothing_arrives(sb, 0.3)
        counters = {c["name"]: c for c in vm.qmp.cmd("x-query-net-counters")["return"]}
        assert counters["a"]["tx-dropped"] == 1
        assert counters["a"]["tx-packets"] == 1

        assert vm.qmp.hmp("set_link a on") == ""
        sa.sendall(frame(b"back-up-frame"))
        assert recv_frame(sb)[1] == b"back-up-frame"
        assert "Device 'zz' not found" in vm.qmp.hmp("set_link zz on")
    finally:
        stop(vm)


def test_redirector_status_at_run_time(qemu_bin, sockdir):
    """qom-set status off stops indev injection (the bytes wait); on resumes it."""
    hub = SocketHub()
    path = os.path.join(sockdir, "r0")
    vm = start(qemu_bin, *hub.args(),
               "-chardev", f"socket,id=redirector0,path={path},server=on,wait=off",
               "-object", "filter-redirector,id=qtest-f0,netdev=a,queue=rx,indev=redirector0")
    try:
        sa, _ = hub.connect(settle=0)
        inp = connect_retry(socket.AF_UNIX, path)
        time.sleep(0.2)
        r = vm.qmp.cmd("qom-set", path="/objects/qtest-f0", property="status", value="off")
        assert r == {"return": {}}
        inp.sendall(frame(b"Hello!!\0"))
        assert nothing_arrives(sa, 0.5)
        vm.qmp.cmd("qom-set", path="/objects/qtest-f0", property="status", value="on")
        assert recv_frame(sa)[1] == b"Hello!!\0"
        r = vm.qmp.cmd("qom-set", path="/objects/qtest-f0", property="status", value="maybe")
        assert r["error"]["desc"] == \
            "Invalid value for netfilter status, should be 'on' or 'off'"
        counters = {c["name"]: c for c in vm.qmp.cmd("x-query-net-counters")["return"]}
        f0 = counters["a"]["filters"][0]
        assert (f0["id"], f0["type"], f0["injected"]) == ("qtest-f0", "filter-redirector", 1)
    finally:
        stop(vm)


def test_netdev_del_takes_its_filters(qemu_bin, debian_qemu):
    for binary in (qemu_bin, debian_qemu):
        vm = start(binary, "-netdev", "user,id=u0",
                   "-object", "filter-buffer,id=b0,netdev=u0,interval=1000")
        try:
            assert vm.qmp.cmd("netdev_del", {"id": "u0"}) == {"return": {}}
            r = vm.qmp.cmd("qom-get", path="/objects/b0", property="status")
            assert "error" in r, binary
        finally:
            stop(vm)


@pytest.mark.parametrize("nic", ["none", "user"])
def test_nic_option_as_upstream(qemu_bin, debian_qemu, nic):
    """`-nic none` makes no NIC at all, `-nic user` one NIC on its own user netdev; neither
    warns on stderr (ours once made a NIC without a peer for `none`, and warned for every NIC
    it had made). Debian's default model (e1000) is not ours: the NIC's line is compared
    without it."""
    ours, theirs = both(qemu_bin, debian_qemu, "-M", "pc", "-nic", nic)
    try:
        a, b = ours.qmp.hmp("info network"), theirs.qmp.hmp("info network")
        if nic == "none":
            assert a == b == ""
        else:
            assert a.startswith("virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,")
            assert b.startswith("e1000.0: index=0,type=nic,model=e1000,")
            assert a.split("\\ ")[1].split(":")[1] == b.split("\\ ")[1].split(":")[1]
        assert "warning" not in ours.read_stderr()
        assert "warning" not in theirs.read_stderr()
    finally:
        stop(ours, theirs)


LEGACY_NET = [
    ["-net", "none"],
    ["-net", "nic", "-net", "user"],
    ["-net", "user,id=x9", "-net", "nic,macaddr=52:54:00:00:00:09", "-net", "nic"],
]


@pytest.mark.parametrize("args", LEGACY_NET, ids=["none", "nic-user", "two-nics"])
def test_legacy_net_option_as_upstream(qemu_bin, debian_qemu, args):
    """Upstream's -net puts each NIC and each backend on its own port of hub 0. Compared with
    `info network` beside Debian's, whose NIC model is e1000 and whose anonymous backends are
    named '#net' and a number of its own; the second NIC's automatic MAC is left out (Debian's
    counter does not count a NIC given one)."""
    ours, theirs = both(qemu_bin, debian_qemu, "-M", "pc", *args)
    try:
        a, b = ours.qmp.hmp("info network"), theirs.qmp.hmp("info network")

        def norm(text, model):
            text = text.replace(f"{model}.", "NIC.").replace(f"model={model}", "model=NIC")
            text = re.sub(r"#net\d+", "#net", text)
            return re.sub(r"macaddr=52:54:00:12:34:5\w", "macaddr=auto", text)

        assert norm(a, "virtio-net-pci") == norm(b, "e1000")
        assert ("hub 0" in a) == (args != ["-net", "none"])
        assert "warning" not in ours.read_stderr()
    finally:
        stop(ours, theirs)


@pytest.mark.parametrize("arg", ["nic,bogus=1", "user,name=u9", "bogus"])
def test_legacy_net_errors_as_upstream(qemu_bin, debian_qemu, arg):
    def run(binary):
        p = subprocess.run([binary] + BASE_ARGS + ["-M", "pc", "-net", arg], timeout=20,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        lines = [ln for ln in p.stderr.splitlines() if not ln.startswith("qemu: module")]
        return p.returncode, lines

    code, lines = run(qemu_bin)
    assert (code, lines) == run(debian_qemu)
    assert code == 1 and lines[0].startswith(f"qemu-system-x86_64: -net {arg}: ")
