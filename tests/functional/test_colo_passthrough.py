"""The colo-compare passthrough list and counters through QMP and HMP (spec/passthrough.md).

A flow whose payload always differs between the VMs (a clock in every packet) makes colo-compare
ask for a checkpoint on every packet; a passthrough rule added while the traffic flows stops that
from the next packet on, and deleting it brings the comparison back.
"""
import threading
import time

import pytest

import frames
from compare_proc import ComparePeer
from qmp import QemuProcess

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def comp(qemu_bin, sockdir):
    c = ComparePeer(qemu_bin, sockdir, qmp=True).start()
    yield c
    c.stop()
    assert c.proc.returncode in (0, -15), c.stderr()


class ClockFlow:
    """TCP from the guest's port 3389: every segment carries the sender's own clock."""

    def __init__(self, sport=3389, dport=50000, src=A, dst=B):
        self.p = frames.TcpFlow(src, dst, sport, dport, isn=100)
        self.s = frames.TcpFlow(src, dst, sport, dport, isn=100)
        self.n = 0

    def step(self, comp):
        """Sends one segment from each VM; returns the primary's frame."""
        self.n += 1
        pf = self.p.segment(b"frame %04d at 10:01:%02d.000" % (self.n, self.n % 60))
        comp.send_pri(pf)
        comp.send_sec(self.s.segment(b"frame %04d at 10:01:%02d.001" % (self.n, self.n % 60)))
        return pf


def ok(reply):
    assert "return" in reply, reply
    return reply["return"]


def err(reply):
    assert "error" in reply, reply
    return reply["error"]["desc"]


def stats(comp):
    (info,) = ok(comp.qmp.cmd("query-colo-compare", {"id": "comp0"}))
    return info


def test_rule_stops_checkpoints_from_next_packet_qmp(comp):
    flow = ClockFlow()
    # No rule: every segment differs and asks for a checkpoint; nothing leaves until it is done.
    flow.step(comp)
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    assert len(comp.released(1)) == 1
    assert comp.checkpoints(0.2) == 0

    ok(comp.qmp.cmd("colo-passthrough-add", {"protocol": "tcp", "id": "comp0",
                                             "src_port": 3389}))
    sent = [flow.step(comp) for _ in range(20)]
    assert comp.released(20) == sent
    assert comp.checkpoints(0.3) == 0
    info = stats(comp)
    assert info["released"]["passthrough"] == 20
    assert info["dropped-secondary"]["passthrough"] == 20
    assert info["primary-queued"] == info["secondary-queued"] == 0
    (pt,) = ok(comp.qmp.cmd("query-colo-passthrough", {"id": "comp0"}))
    assert pt["id"] == "comp0"
    (rule,) = pt["rules"]
    assert rule["protocol"] == "tcp" and rule["src_port"] == 3389 and rule["dst_port"] == 0
    assert rule["packets"] == 40
    assert rule["bytes"] == sum(len(f) for f in sent) * 2

    ok(comp.qmp.cmd("colo-passthrough-del", {"protocol": "tcp", "id": "comp0",
                                             "src_port": 3389}))
    flow.step(comp)
    assert comp.wait_checkpoint()
    assert ok(comp.qmp.cmd("query-colo-passthrough"))[0]["rules"] == []


def test_rule_stops_checkpoints_hmp(comp):
    flow = ClockFlow()
    assert comp.qmp.hmp("passthrough_filter_add tcp comp0 10.0.0.1:3389").strip() == ""
    sent = [flow.step(comp) for _ in range(5)]
    assert comp.released(5) == sent
    assert comp.checkpoints(0.3) == 0
    out = comp.qmp.hmp("info colo_passthrough")
    assert "comp0: 1 rule" in out
    assert "tcp 10.0.0.1:3389 -> 0.0.0.0:0 packets=10" in out
    assert comp.qmp.hmp("passthrough_filter_del tcp comp0 10.0.0.1:3389").strip() == ""
    flow.step(comp)
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    comp.released(1)
    # The V4 HMP shape, positional: protocol id src_ip dst_ip src_port dst_port.
    assert comp.qmp.hmp("colo_passthrough_add tcp comp0 10.0.0.1 10.0.0.2 3389 50000").strip() \
        == ""
    sent = flow.step(comp)
    assert comp.released(1) == [sent]
    assert comp.checkpoints(0.3) == 0
    out = comp.qmp.hmp("info colo_compare comp0")
    assert "passthrough-hits=12" in out and "mismatches: tcp=1 " in out
    assert comp.qmp.hmp("colo_passthrough_del tcp comp0 10.0.0.1 10.0.0.2 3389 50000") \
        .strip() == ""
    flow.step(comp)
    assert comp.wait_checkpoint()


def test_rule_changes_while_traffic_flows(comp):
    """Rules toggled between bursts apply exactly from the next packet; other flows unaffected."""
    clock = ClockFlow()
    same_p = frames.TcpFlow(A, B, 8080, 40000)
    same_s = frames.TcpFlow(A, B, 8080, 40000)
    for rnd in range(4):
        with_rule = rnd % 2 == 1
        if with_rule:
            ok(comp.qmp.cmd("passthrough-filter-add", {
                "protocol": "tcp", "object-name": "comp0",
                "source": {"host": A, "port": "3389"}}))
        good = []
        for i in range(5):
            p = same_p.segment(b"same %d/%d" % (rnd, i))
            comp.send_pri(p)
            comp.send_sec(same_s.segment(b"same %d/%d" % (rnd, i)))
            good.append(p)
        got = comp.released(5)
        assert got == good
        clock.step(comp)
        if with_rule:
            assert len(comp.released(1)) == 1
            assert comp.checkpoints(0.2) == 0
            ok(comp.qmp.cmd("passthrough-filter-del", {
                "protocol": "tcp", "object-name": "comp0",
                "source": {"host": A, "port": "3389"}}))
        else:
            assert comp.wait_checkpoint()
            comp.checkpoint_done()
            assert len(comp.released(1)) == 1
            comp.checkpoints(0.1)


def test_queued_packets_stay_queued_when_rule_added(comp):
    flow = ClockFlow()
    held = flow.p.segment(b"queued before the rule")
    comp.send_pri(held)
    assert comp.released_all(0.2) == []
    ok(comp.qmp.cmd("colo-passthrough-add", {"protocol": "tcp", "src_port": 3389}))
    nxt = flow.p.segment(b"after the rule")
    comp.send_pri(nxt)
    assert comp.released(1) == [nxt]
    assert stats(comp)["primary-queued"] == 1
    comp.checkpoint_done()
    assert comp.released(1) == [held]


def test_udp_and_wildcard_protocol_rules(comp):
    ok(comp.qmp.cmd("passthrough-filter-add", {"object-name": "comp0",
                                               "destination": {"host": B, "port": ""}}))
    u = frames.udp_frame(A, B, 1, 123, b"ntp at 1")
    i = frames.icmp_frame(A, B, 1, 1, b"ping")
    comp.send_pri(u, i)
    assert comp.released(2) == [u, i]
    assert comp.checkpoints(0.2) == 0
    (pt,) = ok(comp.qmp.cmd("query-colo-passthrough"))
    assert "protocol" not in pt["rules"][0]
    assert pt["rules"][0]["dst_ip"] == B


def test_counters_for_drops_and_bad_frames(qemu_bin, sockdir):
    c = ComparePeer(qemu_bin, sockdir, qmp=True, props={"max_queue_size": 3}).start()
    try:
        base = stats(c)
        c.send_pri(*[frames.udp_frame(A, B, 9, 9, b"burst %d" % i) for i in range(7)])
        c.send_pri(b"")
        big = frames.MAX_FRAME_LEN + 1
        c.sec.send_raw(frames.frame(b"\0" * big))
        c.send_sec(frames.arp_frame(A, B))
        assert c.wait_checkpoint()
        c.wait_out_ready()
        info = stats(c)
        assert info["dropped-primary"]["queue-full"] == 4
        assert info["dropped-primary"]["empty"] == 1
        assert info["dropped-secondary"]["unsupported"] == 1
        assert info["oversized-frames"] == 1
        assert info["checkpoint-requests"]["queue-full"] >= 1
        assert info["primary-queued"] == 3
        assert info["primary-in"] - base["primary-in"] >= 8
        c.checkpoint_done()
        assert len(c.released_all(0.3)) == 3
        assert stats(c)["flushes"] >= 1
    finally:
        c.stop()


def test_miscompare_event(comp):
    flow = ClockFlow()
    for _ in range(3):
        flow.step(comp)
    assert comp.wait_checkpoint()
    data = {"id": "comp0", "reason": "mismatch", "protocol": "tcp",
            "connection": "tcp 10.0.0.1:3389 -> 10.0.0.2:50000"}
    ev = comp.qmp.wait_event("COLO_COMPARE_MISCOMPARE", timeout=3)
    assert ev["data"] == data
    # Rate limited: a request within 200 ms of the last event gives none and is counted instead.
    comp.checkpoints(0.3)
    more = [e for e in comp.qmp.get_events(0.1) if e["event"] == "COLO_COMPARE_MISCOMPARE"]
    info = stats(comp)
    requests = sum(info["checkpoint-requests"].values())
    assert requests >= 1
    assert 1 + len(more) + info["events-suppressed"] == requests
    # The interval has passed: the next mismatch gives the next event.
    comp.checkpoint_done()
    comp.released_all(0.2)
    flow.step(comp)
    assert comp.wait_checkpoint()
    ev = comp.qmp.wait_event("COLO_COMPARE_MISCOMPARE", timeout=3)
    assert ev["data"] == data
    assert stats(comp)["events-suppressed"] == info["events-suppressed"]


V4_ERRORS = [
    ({"protocol": "tcp", "id": "nope"}, "colo-compare 'nope' not found"),
    ({"protocol": "tcp", "id": "io0"}, "object 'io0' is not a colo-compare"),
    ({"protocol": "tcp", "src_ip": "10.0.0"}, "Parameter 'src_ip' expects an IPv4 address"),
    ({"protocol": "tcp", "dst_ip": "host"}, "Parameter 'dst_ip' expects an IPv4 address"),
    ({"protocol": "tcp", "src_port": 65536},
     "Parameter 'src_port' expects a port number (0-65535)"),
    ({"protocol": "tcp", "dst_port": -1},
     "Parameter 'dst_port' expects a port number (0-65535)"),
    ({"protocol": "icmp", "dst_port": 7}, "Protocol 'icmp' has no ports"),
    ({"protocol": "bogus"}, "Parameter 'protocol' does not accept value 'bogus'"),
    ({}, "Parameter 'protocol' is missing"),
]


@pytest.mark.parametrize("args,message", V4_ERRORS, ids=[m for _, m in V4_ERRORS])
def test_v4_errors(comp, args, message):
    assert err(comp.qmp.cmd("colo-passthrough-add", args)) == message


def test_list_errors(comp):
    q = comp.qmp
    rule = {"protocol": "udp", "id": "comp0", "dst_port": 53}
    assert err(q.cmd("colo-passthrough-del", rule)) == "The pass through connection list is empty"
    ok(q.cmd("colo-passthrough-add", rule))
    assert err(q.cmd("colo-passthrough-add", rule)) == "The pass through connection already exists"
    # All five fields count: another destination port is another rule.
    other = dict(rule, dst_port=54)
    assert err(q.cmd("colo-passthrough-del", other)) == \
        "The pass through list can't find the connection"
    ok(q.cmd("colo-passthrough-add", other))
    ok(q.cmd("colo-passthrough-del", rule))
    ok(q.cmd("colo-passthrough-del", other))
    assert ok(q.cmd("query-colo-passthrough"))[0]["rules"] == []


FLOW_ERRORS = [
    ({"object-name": "nope"}, "colo-compare 'nope' not found"),
    ({"protocol": "tcp"}, "Parameter 'object-name' is missing"),
    ({"protocol": "bogus", "object-name": "comp0"}, "Invalid protocol 'bogus'"),
    ({"object-name": "comp0", "source": {"host": "1.2.3.4.5", "port": "1"}},
     "Parameter 'source.host' expects an IPv4 address"),
    ({"object-name": "comp0", "destination": {"host": B, "port": "http"}},
     "Parameter 'destination.port' expects a port number (0-65535)"),
    ({"object-name": "comp0", "source": {"host": "10.0.0"}},
     "Parameter 'source.host' expects an IPv4 address"),
    ({"object-name": "comp0", "destination": {"port": "65536"}},
     "Parameter 'destination.port' expects a port number (0-65535)"),
    ({"protocol": "icmp", "object-name": "comp0", "source": {"port": "7"}},
     "Protocol 'icmp' has no ports"),
]


@pytest.mark.parametrize("args,message", FLOW_ERRORS, ids=[m for _, m in FLOW_ERRORS])
def test_flow_errors(comp, args, message):
    assert err(comp.qmp.cmd("passthrough-filter-add", args)) == message


def checkpoints_forced(comp, flow):
    """A differing segment on a flow no rule covers asks for a checkpoint again."""
    flow.step(comp)
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    assert len(comp.released(1)) == 1
    comp.checkpoints(0.1)


def test_flow_host_or_port_alone_qmp(comp):
    """spec/passthrough.md: source and destination each take a host, a port, both or neither."""
    q = comp.qmp
    # Only a host: every port of that host, as source.
    host_only = {"object-name": "comp0", "source": {"host": A}}
    ok(q.cmd("passthrough-filter-add", host_only))
    flows = [ClockFlow(sport, 50000 + i) for i, sport in enumerate((22, 3389, 8080, 65535))]
    sent = [f.step(comp) for f in flows]
    assert comp.released(4) == sent
    assert comp.checkpoints(0.3) == 0
    (pt,) = ok(q.cmd("query-colo-passthrough", {"id": "comp0"}))
    (rule,) = pt["rules"]
    assert "protocol" not in rule
    assert (rule["src_ip"], rule["src_port"], rule["dst_ip"], rule["dst_port"]) == \
        (A, 0, "0.0.0.0", 0)
    assert rule["packets"] == 8
    # A second add of the same partial rule is a duplicate; delete takes the same spelling.
    assert err(q.cmd("passthrough-filter-add", host_only)) == \
        "The pass through connection already exists"
    ok(q.cmd("passthrough-filter-del", host_only))
    checkpoints_forced(comp, flows[0])

    # Only a port: tcp to that destination port, on every host.
    port_only = {"protocol": "tcp", "object-name": "comp0", "destination": {"port": "50000"}}
    ok(q.cmd("passthrough-filter-add", port_only))
    flows = [ClockFlow(1000 + i, 50000, src, dst)
             for i, (src, dst) in enumerate([(A, B), ("10.9.8.7", "172.16.0.1"), (B, A)])]
    sent = [f.step(comp) for f in flows]
    assert comp.released(3) == sent
    assert comp.checkpoints(0.3) == 0
    (rule,) = ok(q.cmd("query-colo-passthrough"))[0]["rules"]
    assert (rule["protocol"], rule["src_ip"], rule["dst_ip"], rule["src_port"],
            rule["dst_port"]) == ("tcp", "0.0.0.0", "0.0.0.0", 0, 50000)
    # Another destination port is still compared.
    checkpoints_forced(comp, ClockFlow(1000, 50001))
    ok(q.cmd("passthrough-filter-del", port_only))
    assert ok(q.cmd("query-colo-passthrough"))[0]["rules"] == []
    checkpoints_forced(comp, flows[1])

    # An empty endpoint, or empty strings in it, match anything as before.
    ok(q.cmd("passthrough-filter-add", {"object-name": "comp0", "source": {},
                                        "destination": {"host": "", "port": "50000"}}))
    (rule,) = ok(q.cmd("query-colo-passthrough"))[0]["rules"]
    assert (rule["src_ip"], rule["dst_ip"], rule["src_port"], rule["dst_port"]) == \
        ("0.0.0.0", "0.0.0.0", 0, 50000)


def test_flow_host_or_port_alone_hmp(comp):
    """HMP writes each end host:port; either side of the colon may be empty."""
    q = comp.qmp
    assert q.hmp("passthrough_filter_add tcp comp0 10.0.0.1:").strip() == ""
    flows = [ClockFlow(sport, 40000) for sport in (22, 3389)]
    sent = [f.step(comp) for f in flows]
    assert comp.released(2) == sent
    assert comp.checkpoints(0.3) == 0
    out = q.hmp("info colo_passthrough comp0")
    assert "tcp 10.0.0.1:0 -> 0.0.0.0:0 packets=4" in out
    assert q.hmp("passthrough_filter_del tcp comp0 10.0.0.1:").strip() == ""
    checkpoints_forced(comp, flows[0])

    assert q.hmp("passthrough_filter_add tcp comp0 : :40000").strip() == ""
    flow = ClockFlow(5555, 40000, "192.168.7.7", "192.168.7.8")
    sent = flow.step(comp)
    assert comp.released(1) == [sent]
    assert comp.checkpoints(0.3) == 0
    assert "tcp 0.0.0.0:0 -> 0.0.0.0:40000 packets=2" in q.hmp("info colo_passthrough")
    assert q.hmp("passthrough_filter_add tcp comp0 :3389").strip() == ""
    out = q.hmp("info colo_passthrough")
    assert "comp0: 2 rules" in out and "tcp 0.0.0.0:3389 -> 0.0.0.0:0 packets=0" in out
    assert q.hmp("passthrough_filter_del tcp comp0 :3389").strip() == ""
    assert q.hmp("passthrough_filter_del tcp comp0 : :40000").strip() == ""
    assert "comp0: 0 rules" in q.hmp("info colo_passthrough")
    # The V4 shape: a host alone, ports absent.
    assert q.hmp("colo_passthrough_add tcp comp0 10.0.0.1").strip() == ""
    sent = flows[1].step(comp)
    assert comp.released(1) == [sent]
    assert comp.checkpoints(0.3) == 0
    assert q.hmp("colo_passthrough_del tcp comp0 10.0.0.1").strip() == ""


def test_hmp_errors(comp):
    q = comp.qmp
    assert q.hmp("colo_passthrough_add bogus comp0").strip() == "Error: Invalid protocol 'bogus'"
    assert q.hmp("colo_passthrough_add tcp nope").strip() == \
        "Error: colo-compare 'nope' not found"
    assert q.hmp("passthrough_filter_add tcp comp0 10.0.0.1").strip() == \
        "Error: Incorrect passthrough src address"
    assert q.hmp("passthrough_filter_add tcp comp0 10.0.0.1:1 nowhere").strip() == \
        "Error: Incorrect passthrough dst address"
    assert q.hmp("passthrough_filter_del tcp comp0").strip() == \
        "Error: The pass through connection list is empty"
    assert q.hmp("info colo_passthrough nope").strip() == "Error: colo-compare 'nope' not found"


def test_id_required_unless_exactly_one(qemu_bin, sockdir):
    args = ["-M", "none", "-nodefaults", "-display", "none", "-object", "iothread,id=io0"]
    with QemuProcess(qemu_bin, args) as vm:
        assert err(vm.qmp.cmd("colo-passthrough-add", {"protocol": "tcp"})) == \
            "Parameter 'id' is missing"
        assert ok(vm.qmp.cmd("query-colo-passthrough")) == []
        assert ok(vm.qmp.cmd("query-colo-compare")) == []
    for i in (0, 1):
        for role in ("p", "s", "o"):
            args += ["-chardev", f"socket,id={role}{i},path={sockdir}/{role}{i},server=on,"
                                 "wait=off"]
        args += ["-object", f"colo-compare,id=c{i},primary_in=p{i},secondary_in=s{i},"
                            f"outdev=o{i},iothread=io0"]
    with QemuProcess(qemu_bin, args) as vm:
        assert err(vm.qmp.cmd("colo-passthrough-add", {"protocol": "tcp"})) == \
            "Parameter 'id' is missing"
        ok(vm.qmp.cmd("colo-passthrough-add", {"protocol": "tcp", "id": "c1", "src_port": 1}))
        lists = {x["id"]: x["rules"] for x in ok(vm.qmp.cmd("query-colo-passthrough"))}
        assert lists["c0"] == [] and len(lists["c1"]) == 1
        # Deleting the object frees its list; the other keeps its own.
        ok(vm.qmp.cmd("object-del", {"id": "c1"}))
        assert [x["id"] for x in ok(vm.qmp.cmd("query-colo-compare"))] == ["c0"]
        ok(vm.qmp.cmd("colo-passthrough-add", {"protocol": "tcp", "src_port": 1}))
        assert len(ok(vm.qmp.cmd("query-colo-passthrough", {"id": "c0"}))[0]["rules"]) == 1


def test_icmp_rule(comp):
    """protocol=icmp: the primary's echo is released, the secondary's is dropped and counted,
    and no checkpoint is asked for, though the two payloads differ."""
    def pair(n):
        return (frames.icmp_frame(A, B, 7, n, b"ping at 10:01:%02d.000" % n, ip_ident=n),
                frames.icmp_frame(A, B, 7, n, b"ping at 10:01:%02d.001" % n, ip_ident=n))

    # Without the rule, the differing echo asks for a checkpoint and waits for it.
    p, s = pair(0)
    comp.send_pri(p)
    comp.send_sec(s)
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    assert comp.released(1) == [p]
    comp.checkpoints(0.2)
    before = stats(comp)

    ok(comp.qmp.cmd("colo-passthrough-add", {"protocol": "icmp", "id": "comp0"}))
    sent = []
    for n in range(1, 11):
        p, s = pair(n)
        comp.send_pri(p)
        comp.send_sec(s)
        sent.append(p)
    assert comp.released(10) == sent
    assert comp.released_all(0.2) == []
    assert comp.checkpoints(0.3) == 0
    info = stats(comp)
    assert info["released"]["passthrough"] - before["released"]["passthrough"] == 10
    assert info["dropped-secondary"]["passthrough"] - \
        before["dropped-secondary"]["passthrough"] == 10
    assert info["mismatches"] == before["mismatches"]
    assert info["checkpoint-requests"] == before["checkpoint-requests"]
    assert info["primary-queued"] == info["secondary-queued"] == 0
    (pt,) = ok(comp.qmp.cmd("query-colo-passthrough", {"id": "comp0"}))
    (rule,) = pt["rules"]
    assert rule["protocol"] == "icmp" and rule["packets"] == 20
    # A UDP flow is not covered by the ICMP rule.
    u = frames.udp_frame(A, B, 5, 5, b"udp at 1")
    comp.send_pri(u)
    comp.send_sec(frames.udp_frame(A, B, 5, 5, b"udp at 2"))
    assert comp.wait_checkpoint()


class CheckpointAnswerer(threading.Thread):
    """Plays the COLO frame: answers every DO_CHECKPOINT with COLO_CHECKPOINT until stopped."""

    def __init__(self, comp):
        super().__init__(daemon=True)
        self.comp = comp
        self.requests = 0
        self.unexpected = []  # messages other than DO_CHECKPOINT, or the thread's exception
        self.halt = threading.Event()

    def run(self):
        try:
            while not self.halt.is_set():
                msg = self.comp.notify.recv_data(0.05)
                if msg == b"DO_CHECKPOINT":
                    self.requests += 1
                    self.comp.checkpoint_done()
                elif msg is not None:
                    self.unexpected.append(msg)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.unexpected.append(e)

    def stop(self):
        self.halt.set()
        self.join(5)
        assert not self.is_alive()
        assert self.unexpected == []


class OutdevReader(threading.Thread):
    """Collects every released frame as it comes, so that outdev never stalls the compare."""

    def __init__(self, comp):
        super().__init__(daemon=True)
        self.comp = comp
        self.got = []
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            while not self.halt.is_set():
                item = self.comp.out.recv(0.05)
                if item is not None:
                    self.got.append(self.comp.unwrap(item[1]))
        except Exception as e:  # noqa: BLE001 - reported by wait_for()
            self.error = e

    def wait_for(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond n would show up meanwhile
        self.halt.set()
        self.join(5)
        assert not self.is_alive()
        assert self.error is None
        return self.got


def test_rules_toggled_under_continuous_stream(comp):
    """A UDP flow streams without a pause while its rule is added and deleted over QMP again and
    again: every primary packet leaves exactly once, and the counters add up."""
    n = 600
    base = stats(comp)
    rule = {"protocol": "udp", "id": "comp0", "src_port": 5000}
    pri = [frames.udp_frame(A, B, 5000, 6000, b"stream %05d" % i, ident=i) for i in range(n)]
    sec = [frames.udp_frame(A, B, 5000, 6000, b"stream %05d" % i, ident=i) for i in range(n)]

    def stream():
        for i in range(n):
            comp.send_pri(pri[i])
            comp.send_sec(sec[i])
            time.sleep(0.001)

    answerer = CheckpointAnswerer(comp)
    answerer.start()
    reader = OutdevReader(comp)
    reader.start()
    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    toggles = 0
    while sender.is_alive():
        ok(comp.qmp.cmd("colo-passthrough-add" if toggles % 2 == 0 else "colo-passthrough-del",
                        rule))
        toggles += 1
        time.sleep(0.02)
    sender.join()
    if toggles % 2:
        ok(comp.qmp.cmd("colo-passthrough-del", rule))
    assert toggles >= 4
    # Whatever waits for a partner that went the other way leaves with the next checkpoint.
    comp.checkpoint_done()
    got = reader.wait_for(n, timeout=10)
    answerer.stop()
    assert sorted(got) == sorted(pri)  # each exactly once
    assert len(set(got)) == n

    info = stats(comp)

    def delta(key, sub=None):
        if sub is None:
            return info[key] - base[key]
        return info[key].get(sub, 0) - base[key].get(sub, 0)

    released = {k: delta("released", k) for k in info["released"]}
    dropped_sec = {k: delta("dropped-secondary", k) for k in info["dropped-secondary"]}
    assert delta("primary-in") == n and delta("secondary-in") == n
    assert sum(released.values()) == n
    assert released["passthrough"] > 0 and released.get("compared", 0) > 0
    assert delta("compared") == released.get("compared", 0)
    # A secondary packet is either matched with its primary or dropped for a counted reason.
    assert delta("compared") + sum(dropped_sec.values()) == n
    assert info["dropped-primary"] == base["dropped-primary"]
    assert info["send-failures"] == base["send-failures"]
    assert info["primary-queued"] == info["secondary-queued"] == 0
    # A rule that changes between a packet's two copies leaves one of them without a partner:
    # that may show as a mismatch, and then as a request the answerer saw.
    assert delta("mismatches", "udp") == delta("checkpoint-requests", "mismatch")
    assert sum(delta("checkpoint-requests", k) for k in info["checkpoint-requests"]) == \
        answerer.requests
    assert delta("passthrough-hits") == released["passthrough"] + dropped_sec["passthrough"]

    # The connection's cached decision follows each change from the very next packet.
    for with_rule in (True, False, True):
        ok(comp.qmp.cmd("colo-passthrough-add" if with_rule else "colo-passthrough-del", rule))
        before = stats(comp)
        p = frames.udp_frame(A, B, 5000, 6000, b"lockstep %d" % with_rule)
        comp.send_pri(p)
        comp.send_sec(p)
        assert comp.released(1) == [p]
        after = stats(comp)
        key = "passthrough" if with_rule else "compared"
        assert after["released"][key] - before["released"].get(key, 0) == 1
    assert comp.checkpoints(0.2) == 0
