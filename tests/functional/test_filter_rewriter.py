"""filter-rewriter through the binary: the SVM picks another ISN, the rewriter hides it.

Layout (no guest): two socket netdevs joined by a hub. The test plays the network on one and
the secondary VM on the other; filter-rewriter sits on the network's netdev, as on a secondary:

    test (network) --net0 [filter-rewriter queue=all]--hub--svm0-- test (SVM)

Packets the network sends reach the SVM with their acknowledgements moved into the SVM's
sequence space; packets the SVM sends reach the network with their sequence numbers moved into
the primary's. What the network receives must equal, byte for byte (checksums included), what
the primary VM, whose ISN the client saw, would have sent.
"""
import pytest

import frames
from frames import ACK, FIN, PSH, SYN
from nethub import SocketHub
from procs import BASE_ARGS

CLIENT, GUEST = "192.168.1.10", "192.168.1.20"
PVM_ISN, SVM_ISN = 0x10000000, 0xF0000000 - 5  # the SVM's wraps around 2^32 mid-stream
CLIENT_ISN = 5000


@pytest.fixture(params=["ours", "debian"])
def rig(request, qemu_bin):
    """The process under test; "debian" runs Debian's QEMU 7.2 on the same scenario."""
    import qmp  # tests/functional/lib/qmp.py

    binary = qemu_bin
    if request.param == "debian":
        if request.node.get_closest_marker("deviation"):
            pytest.skip(request.node.get_closest_marker("deviation").args[0])
        binary = request.getfixturevalue("debian_qemu")

    hub = SocketHub(names=("net0", "svm0"))
    args = BASE_ARGS + hub.args() + ["-object", "filter-rewriter,id=rew0,netdev=net0,queue=all"]
    with qmp.QemuProcess(binary, args) as vm:
        net = frames.FrameSocket.connect_tcp("127.0.0.1", hub.ports["net0"])
        svm = frames.FrameSocket.connect_tcp("127.0.0.1", hub.ports["svm0"])
        yield vm, net, svm
        net.close()
        svm.close()
        assert vm.proc.poll() is None, vm.read_stderr()


def seg(src, dst, sport, dport, seq, ack, flags, payload=b"", ident=0):
    return frames.tcp_frame(src, dst, sport, dport, seq, ack, flags, payload, ident=ident)


def exchange(net, svm, frame_from_network=None, frame_from_svm=None):
    got = {}
    if frame_from_network is not None:
        net.send(frame_from_network)
        got["svm"] = svm.recv_data(3.0)
    if frame_from_svm is not None:
        svm.send(frame_from_svm)
        got["net"] = net.recv_data(3.0)
    return got


def test_passive_open_isn_hidden(rig):
    """The client connects to the guest; the SVM answers with its own ISN."""
    vm, net, svm = rig
    c, g = (CLIENT, 40000), (GUEST, 80)

    def from_client(seq, ack, flags, payload=b""):
        return seg(c[0], g[0], c[1], g[1], seq, ack, flags, payload)

    def from_guest(isn, rel_seq, rel_ack, flags, payload=b""):
        return seg(g[0], c[0], g[1], c[1], isn + rel_seq, CLIENT_ISN + rel_ack, flags, payload)

    # SYN: nothing to rewrite yet.
    syn = from_client(CLIENT_ISN, 0, SYN)
    assert exchange(net, svm, syn)["svm"] == syn
    # The SVM's SYN|ACK is where the rewriter learns its ISN; it leaves unchanged (in COLO the
    # client only ever receives the PVM's, colo-compare releases only primary packets).
    got = exchange(net, svm, frame_from_svm=from_guest(SVM_ISN, 0, 1, SYN | ACK))["net"]
    assert got == from_guest(SVM_ISN, 0, 1, SYN | ACK)
    # The client acknowledges the PVM's ISN; the SVM must see its own.
    got = exchange(net, svm, from_client(CLIENT_ISN + 1, PVM_ISN + 1, ACK))["svm"]
    assert got == from_client(CLIENT_ISN + 1, SVM_ISN + 1, ACK)
    # Request in, response out: the response must equal the PVM's byte for byte.
    req = b"GET / HTTP/1.0\r\n\r\n"
    got = exchange(net, svm, from_client(CLIENT_ISN + 1, PVM_ISN + 1, ACK | PSH, req))["svm"]
    assert got == from_client(CLIENT_ISN + 1, SVM_ISN + 1, ACK | PSH, req)
    rel_ack = 1 + len(req)
    seq = 1
    for chunk in (b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 1000, b"y" * 7):
        got = exchange(net, svm, frame_from_svm=from_guest(SVM_ISN, seq, rel_ack, ACK | PSH,
                                                           chunk))["net"]
        assert got == from_guest(PVM_ISN, seq, rel_ack, ACK | PSH, chunk)
        seq += len(chunk)
    # Close from the guest, then the client: FINs and their acks move the same way.
    got = exchange(net, svm, frame_from_svm=from_guest(SVM_ISN, seq, rel_ack, FIN | ACK))["net"]
    assert got == from_guest(PVM_ISN, seq, rel_ack, FIN | ACK)
    got = exchange(net, svm, from_client(CLIENT_ISN + rel_ack, PVM_ISN + seq + 1, FIN | ACK))
    assert got["svm"] == from_client(CLIENT_ISN + rel_ack, SVM_ISN + seq + 1, FIN | ACK)
    got = exchange(net, svm, frame_from_svm=from_guest(SVM_ISN, seq + 1, rel_ack + 1, ACK))
    assert got["net"] == from_guest(PVM_ISN, seq + 1, rel_ack + 1, ACK)


@pytest.mark.deviation("docs/colo-proxy.md deviation 11: 7.2 never rewrites guest-initiated "
                       "connections")
def test_active_open_isn_hidden(rig):
    """The guest connects out (deviation 11: upstream never rewrites these)."""
    vm, net, svm = rig
    g, s = (GUEST, 51000), (CLIENT, 443)

    def from_guest(isn, rel_seq, rel_ack, flags, payload=b""):
        return seg(g[0], s[0], g[1], s[1], isn + rel_seq, CLIENT_ISN + rel_ack, flags, payload)

    def from_server(rel_seq, ack, flags, payload=b""):
        return seg(s[0], g[0], s[1], g[1], CLIENT_ISN + rel_seq, ack, flags, payload)

    # The SVM's SYN leaves as is here (only the primary's SYN really goes out in COLO).
    svm.send(seg(g[0], s[0], g[1], s[1], SVM_ISN, 0, SYN))
    assert net.recv_data(3.0) is not None
    # The server answers the PVM's SYN: its SYN|ACK acknowledges PVM_ISN + 1.
    got = exchange(net, svm, from_server(0, PVM_ISN + 1, SYN | ACK))["svm"]
    assert got == from_server(0, SVM_ISN + 1, SYN | ACK)
    for rel, data in ((1, b"hello"), (6, b" world")):
        got = exchange(net, svm, frame_from_svm=from_guest(SVM_ISN, rel, 1, ACK | PSH, data))
        assert got["net"] == from_guest(PVM_ISN, rel, 1, ACK | PSH, data)


def test_other_traffic_untouched(rig):
    vm, net, svm = rig
    u = frames.udp_frame(GUEST, CLIENT, 53, 5353, b"answer")
    assert exchange(net, svm, frame_from_svm=u)["net"] == u
    a = frames.arp_frame(CLIENT, GUEST)
    assert exchange(net, svm, a)["svm"] == a
    # A segment of a connection that never had a handshake passes unchanged.
    t = seg(GUEST, CLIENT, 22, 33333, 12345, 678, ACK | PSH, b"ssh")
    assert exchange(net, svm, frame_from_svm=t)["net"] == t


def test_rewriter_object(rig):
    vm, net, svm = rig
    r = vm.qmp.cmd("qom-get", {"path": "/objects/rew0", "property": "vnet_hdr_support"})
    assert r == {"return": False}
    r = vm.qmp.cmd("object-add", {"qom-type": "filter-rewriter", "id": "rew1",
                                  "netdev": "nope"})
    assert r["error"]["desc"] == "Parameter 'netdev' expects a network backend id"
    assert "return" in vm.qmp.cmd("object-del", {"id": "rew0"})
    # Gone from the path: the SVM's packets now pass untouched, even mid-connection.
    t = seg(GUEST, CLIENT, 80, 40000, SVM_ISN + 1, CLIENT_ISN + 1, ACK | PSH, b"raw")
    assert exchange(net, svm, frame_from_svm=t)["net"] == t


def test_several_connections_at_once(rig):
    """Four clients talk to the guest at once, their steps interleaved; each SVM connection has
    its own ISN (one wraps mid-stream), and every response leaves equal to the PVM's."""
    vm, net, svm = rig
    conns = [{"port": 40100 + i, "cisn": CLIENT_ISN + 1000 * i, "pisn": PVM_ISN + 77 * i,
              "sisn": SVM_ISN + 3 * i if i % 2 else 0x00010000 * (i + 1)} for i in range(4)]

    def from_client(c, seq, ack, flags, payload=b""):
        return seg(CLIENT, GUEST, c["port"], 80, seq, ack, flags, payload)

    def from_guest(c, isn, rel_seq, rel_ack, flags, payload=b""):
        return seg(GUEST, CLIENT, 80, c["port"], isn + rel_seq, c["cisn"] + rel_ack, flags,
                   payload)

    for c in conns:
        syn = from_client(c, c["cisn"], 0, SYN)
        assert exchange(net, svm, syn)["svm"] == syn
    for c in reversed(conns):
        synack = from_guest(c, c["sisn"], 0, 1, SYN | ACK)
        assert exchange(net, svm, frame_from_svm=synack)["net"] == synack
    for c in conns:
        got = exchange(net, svm, from_client(c, c["cisn"] + 1, c["pisn"] + 1, ACK))["svm"]
        assert got == from_client(c, c["cisn"] + 1, c["sisn"] + 1, ACK)
    order = [0, 2, 1, 3, 3, 0, 1, 2]
    sent = {i: 1 for i in range(4)}
    for n, i in enumerate(order):
        c = conns[i]
        data = b"response %d to client %d" % (n, i)
        got = exchange(net, svm, frame_from_svm=from_guest(c, c["sisn"], sent[i], 1, ACK | PSH,
                                                           data))["net"]
        assert got == from_guest(c, c["pisn"], sent[i], 1, ACK | PSH, data), (n, i)
        sent[i] += len(data)
        # The client's ack of it reaches the SVM in the SVM's space.
        got = exchange(net, svm, from_client(c, c["cisn"] + 1, c["pisn"] + sent[i], ACK))["svm"]
        assert got == from_client(c, c["cisn"] + 1, c["sisn"] + sent[i], ACK), (n, i)
