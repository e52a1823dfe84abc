"""colo-compare through the binary: real socket chardevs, crafted frames, the Xen notify strings.

Each test runs a stand-alone compare (-M none, an iothread, four server chardevs) and plays
primary, secondary, outdev peer and COLO frame itself (tests/functional/lib/compare_proc.py).
"""
import random
import struct
import time

import pytest

import frames
from compare_proc import ComparePeer
from frames import ACK, FIN, PSH, SYN

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture(params=["unix", "tcp"])
def transport(request):
    return request.param


def check_exit(c):
    """The process ended by SIGTERM without sanitizer reports, assertion failures or crashes."""
    err = c.stderr()
    assert c.proc.returncode in (0, -15), err
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "Assertion"):
        assert bad not in err, err


@pytest.fixture
def make_comp(qemu_bin, sockdir):
    """Starts compare processes (keyword arguments as ComparePeer's); checks their exit."""
    started = []

    def make(**kw):
        c = ComparePeer(qemu_bin, sockdir, name=f"comp{len(started)}", **kw)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        c.stop()
    for c in started:
        check_exit(c)


@pytest.fixture
def comp(make_comp):
    return make_comp()


def flows(n, isn=1000):
    return [frames.TcpFlow(A, B, 10000 + i, 80, isn=isn + 7 * i) for i in range(n)]


def twin_flows():
    """The same TCP flow twice: one for the primary's copy, one for the secondary's."""
    return flows(1)[0], flows(1)[0]


def matched_segment(c, pf, sf, payload):
    """The same segment from both sides: released once, as the primary sent it."""
    p = pf.segment(payload)
    c.send_pri(p)
    c.send_sec(sf.segment(payload))
    assert c.released(1) == [p]


def test_identical_tcp_streams_released_in_order(make_comp, transport):
    c = make_comp(transport=transport)
    try:
        pf, sf = flows(8), flows(8)
        prim, seco = [], []
        for rnd in range(25):
            for i in range(8):
                payload = b"conn %d round %d " % (i, rnd) + b"x" * (rnd * 13 % 200)
                prim.append(pf[i].segment(payload, ident=rnd))
                # The secondary is another VM: other IP ids and TTLs, same bytes.
                seco.append(sf[i].segment(payload, ident=5000 + rnd, ttl=33))
        # Interleave the sides in chunks so that either may run ahead.
        for k in range(0, len(prim), 20):
            c.send_pri(*prim[k:k + 20])
            c.send_sec(*seco[k:k + 20])
        got = c.released(len(prim))
        assert len(got) == len(prim)
        # Per connection the order must be the primary's; across connections too, here, since
        # the secondary keeps pace chunk by chunk and releases follow the secondary's arrival.
        for i in range(8):
            mine = [p for p in prim if struct.unpack_from("!H", p, 34)[0] == 10000 + i]
            theirs = [p for p in got if struct.unpack_from("!H", p, 34)[0] == 10000 + i]
            assert theirs == mine
        assert sorted(got) == sorted(prim)
        assert c.checkpoints(0.3) == 0
    finally:
        c.stop()


def test_tcp_segmented_differently_still_matches(comp):
    pf, sf = twin_flows()
    data = bytes(range(256)) * 4
    prim = [pf.segment(data[:600]), pf.segment(data[600:])]
    seco = [sf.segment(data[k:k + 100]) for k in range(0, len(data), 100)]
    comp.send_pri(*prim)
    comp.send_sec(*seco)
    assert comp.released(2) == prim
    assert comp.checkpoints(0.3) == 0


def test_one_byte_differs_requests_checkpoint_and_flush_releases(comp):
    pf, sf = twin_flows()
    p = pf.segment(b"the same payload, nearly")
    s = sf.segment(b"the same payload, nearlY")
    comp.send_pri(p)
    comp.send_sec(s)
    assert comp.wait_checkpoint()
    # Held until the checkpoint is done.
    assert comp.released_all(0.2) == []
    comp.checkpoint_done()
    assert comp.released(1) == [p]
    # After the flush both sides start clean: the next identical segments match.
    p2, s2 = pf.segment(b"next"), sf.segment(b"next")
    comp.send_pri(p2)
    comp.send_sec(s2)
    assert comp.released(1) == [p2]
    assert comp.checkpoints(0.3) == 0


def test_tcp_handshake_and_pure_acks(comp):
    # A SYN carries no payload: it leaves once the secondary has sent something on the flow.
    p_syn = frames.tcp_frame(A, B, 4000, 80, 100, 0, SYN)
    s_syn = frames.tcp_frame(A, B, 4000, 80, 100, 0, SYN, ident=9)
    comp.send_pri(p_syn)
    assert comp.released_all(0.2) == []
    comp.send_sec(s_syn)
    assert comp.released(1) == [p_syn]
    p_fin = frames.tcp_frame(A, B, 4000, 80, 101, 1, FIN | ACK)
    comp.send_pri(p_fin)
    comp.send_sec(frames.tcp_frame(A, B, 4000, 80, 101, 1, FIN | ACK, ident=3))
    assert comp.released(1) == [p_fin]
    assert comp.checkpoints(0.3) == 0


@pytest.mark.parametrize("proto", ["udp", "icmp"])
def test_udp_icmp_ignore_ip_header_compare_l4(comp, proto):
    def mk(payload, ident, ttl):
        if proto == "udp":
            return frames.udp_frame(A, B, 5353, 53, payload, ident=ident, ttl=ttl)
        return frames.icmp_frame(A, B, 77, 1, payload, ip_ident=ident, ttl=ttl)

    prim = [mk(b"query %d" % i, i, 64) for i in range(10)]
    seco = [mk(b"query %d" % i, 900 + i, 20) for i in range(10)]
    comp.send_pri(*prim)
    comp.send_sec(*seco)
    assert comp.released(10) == prim
    assert comp.checkpoints(0.3) == 0
    comp.send_pri(mk(b"answer A", 1, 64))
    comp.send_sec(mk(b"answer B", 1, 64))
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    assert comp.released(1) == [mk(b"answer A", 1, 64)]


def test_other_protocol_compared_on_whole_frame(comp):
    gre = 47
    p = frames.ip_frame(A, B, gre, b"\0\0\x08\0tunnelled", ident=1)
    comp.send_pri(p)
    comp.send_sec(frames.ip_frame(A, B, gre, b"\0\0\x08\0tunnelled", ident=1))
    assert comp.released(1) == [p]
    assert comp.checkpoints(0.3) == 0
    # Only the IP id differs: for protocols it does not know, compare sees the whole frame.
    p2 = frames.ip_frame(A, B, gre, b"\0\0\x08\0again", ident=2)
    comp.send_pri(p2)
    comp.send_sec(frames.ip_frame(A, B, gre, b"\0\0\x08\0again", ident=3))
    assert comp.wait_checkpoint()
    comp.checkpoint_done()
    assert comp.released(1) == [p2]


@pytest.mark.parametrize("kind", ["arp", "ipv6", "vlan"])
def test_unsupported_frames_pass_on_primary_dropped_on_secondary(comp, kind):
    mk = {
        "arp": lambda i: frames.arp_frame("10.0.0.%d" % (i + 1), "10.0.0.250"),
        "ipv6": lambda i: frames.ipv6_udp_frame(1000 + i, 53, b"v6"),
        "vlan": lambda i: frames.udp_frame(A, B, 1000 + i, 53, b"tagged", vlan=5),
    }[kind]
    # The secondary's copies vanish: nothing released for them, no checkpoint.
    comp.send_sec(*[mk(i + 100) for i in range(5)])
    prim = [mk(i) for i in range(5)]
    comp.send_pri(*prim)
    assert comp.released(5) == prim
    assert comp.released_all(0.2) == []
    assert comp.checkpoints(0.3) == 0


def test_timeout_requests_checkpoint(make_comp):
    c = make_comp(props={"compare_timeout": 300, "expired_scan_cycle": 50})
    try:
        p = frames.udp_frame(A, B, 7, 7, b"lonely")
        t0 = time.monotonic()
        c.send_pri(p)
        assert c.wait_checkpoint(3.0)
        waited = time.monotonic() - t0
        assert 0.25 <= waited < 1.5, waited
        # The packet stays queued until the checkpoint is done.
        assert c.released_all(0.1) == []
        c.checkpoint_done()
        assert c.released(1) == [p]
    finally:
        c.stop()


def test_default_timeout_is_not_short(comp):
    comp.send_pri(frames.udp_frame(A, B, 7, 7, b"waits"))
    assert not comp.wait_checkpoint(1.0)


def test_queue_overflow_requests_checkpoint_and_bounds_queue(make_comp):
    c = make_comp(props={"max_queue_size": 4})
    try:
        prim = [frames.udp_frame(A, B, 9, 9, b"burst %d" % i) for i in range(10)]
        c.send_pri(*prim)
        assert c.wait_checkpoint()
        c.checkpoints(0.2)
        c.checkpoint_done()
        # At most max_queue_size were held; the rest were dropped (and counted).
        assert c.released_all(0.3) == prim[:4]
        assert c.alive()
    finally:
        c.stop()


def test_oversize_frame_skipped_input_survives(comp):
    big = frames.MAX_FRAME_LEN + 1
    comp.pri.send_raw(struct.pack("!I", big) + b"\xab" * big)
    comp.sec.send_raw(struct.pack("!I", big) + b"\xcd" * big)
    # The largest legal frame is still accepted (an unsupported one is released as is).
    legal = frames.eth(b"\0" * (frames.MAX_FRAME_LEN - 14), 0x88B5)
    comp.send_pri(legal)
    assert comp.released(1) == [legal]
    pf, sf = twin_flows()
    matched_segment(comp, pf, sf, b"after the giant")
    assert comp.alive()


def test_garbage_does_not_kill_the_object(comp):
    rng = random.Random(1234)
    for side in (comp.pri, comp.sec):
        junk = []
        for _ in range(300):
            n = rng.choice([0, 1, 13, 14, 20, 34, 40, 54, 60, 200])
            base = bytearray(frames.tcp_frame(A, B, rng.randrange(65536), 80,
                                              rng.randrange(1 << 32), 0, ACK, b"p" * 30))
            for _ in range(rng.randrange(6)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            junk.append(bytes(base[:n]) if n < len(base) else bytes(base))
        side.send_many(junk)
    # Whatever was queued is released by a checkpoint; the object keeps working afterwards.
    comp.checkpoint_done()
    comp.released_all(0.5)
    comp.checkpoints(0.1)
    comp.wait_out_ready()
    assert comp.alive()


def test_unknown_notify_message_reported(comp):
    comp.notify.send(b"HELLO")
    comp.wait_out_ready()
    comp.notify.send(b"COLO_USERSPACE_PROXY_INIT")
    assert comp.notify.recv_data() == b"COLO_COMPARE_GET_XEN_INIT"
    assert "COLO compare got unsupported instruction" in comp.stderr()


def test_primary_reconnect_mid_frame(comp):
    pf, sf = twin_flows()
    matched_segment(comp, pf, sf, b"before")
    # Half a frame, then the primary peer goes away and comes back.
    comp.pri.send_raw(struct.pack("!I", 100) + b"half")
    comp.disconnect("pri")
    time.sleep(0.1)
    comp.connect("pri")
    matched_segment(comp, pf, sf, b"after reconnect")
    assert comp.checkpoints(0.3) == 0


def test_outdev_and_secondary_reconnect(comp):
    comp.disconnect("sec")
    comp.disconnect("out")
    time.sleep(0.1)
    comp.connect("sec")
    comp.connect("out")
    comp.wait_out_ready()
    pf, sf = twin_flows()
    matched_segment(comp, pf, sf, b"through new peers")


def test_notify_reconnect(comp):
    comp.disconnect("notify")
    time.sleep(0.1)
    comp.connect("notify")
    comp.notify.send(b"COLO_USERSPACE_PROXY_INIT")
    assert comp.notify.recv_data() == b"COLO_COMPARE_GET_XEN_INIT"
    pf, sf = twin_flows()
    comp.send_pri(pf.segment(b"AAAA"))
    comp.send_sec(sf.segment(b"AAAB"))
    assert comp.wait_checkpoint()


def test_vnet_hdr_support(make_comp):
    c = make_comp(vnet=True)
    try:
        pf, sf = twin_flows()
        p = pf.segment(b"with a virtio-net header")
        c.send_pri(p)
        c.send_sec(sf.segment(b"with a virtio-net header"))
        vhdr, data = c.out.recv()
        assert vhdr == 12
        assert data == frames.vnet_hdr(12) + p
        # A different per-packet header length is carried through too.
        arp = frames.arp_frame("10.0.0.1", "10.0.0.9")
        c.pri.send(frames.vnet_hdr(10) + arp, 10)
        assert c.out.recv() == (10, frames.vnet_hdr(10) + arp)
        # A mismatch still asks for a checkpoint (notify_dev frames carry a VHDR word inbound).
        c.send_pri(pf.segment(b"1"))
        c.send_sec(sf.segment(b"2"))
        assert c.wait_checkpoint()
    finally:
        c.stop()


def test_many_connections(comp):
    n = 300
    pf, sf = flows(n), flows(n)
    prim = [f.segment(b"hello %d" % i) for i, f in enumerate(pf)]
    seco = [f.segment(b"hello %d" % i) for i, f in enumerate(sf)]
    comp.send_pri(*prim)
    comp.send_sec(*seco)
    assert comp.released(n) == prim
    assert comp.checkpoints(0.2) == 0


def test_sigterm_exits_cleanly(make_comp):
    c = make_comp()
    c.send_pri(frames.udp_frame(A, B, 1, 2, b"queued at exit"))
    c.stop()
    check_exit(c)
