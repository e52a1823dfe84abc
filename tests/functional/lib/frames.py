"""Packet builders and the COLO chardev framing, for black-box tests and demos.

Builders return bytes with correct checksums: ``eth()`` wraps an L3 payload, ``ipv4()`` an L4
payload, ``tcp()`` / ``udp()`` / ``icmp_echo()`` build L4 headers (TCP and UDP need the IPv4
addresses for their pseudo-header checksum, so the usual entry points are the ``*_frame()``
helpers that build a whole Ethernet frame at once).

Framing (the wire format between filter-mirror, filter-redirector and colo-compare)::

    frame := LEN:be32 [VHDR:be32 when vnet_hdr_support=on] DATA[LEN]

``frame()`` builds one, ``FrameReader`` splits a byte stream back into ``(vhdr, data)`` pairs.
``FrameSocket`` is a connected stream socket that sends and receives frames with timeouts;
``recv_frame()``, ``recv_exact()`` and ``nothing_arrives()`` do the same on a plain socket, for
tests that also look at the raw bytes.
"""
import socket
import struct
import time

# Re-exported: they were born here and callers still find them here.
from procs import connect_retry, free_port as free_tcp_port  # noqa: F401

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_VLAN = 0x8100
ETH_P_EXPERIMENTAL = 0x88B5  # IEEE's local experimental ethertype: nothing parses it

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

MAC_A = bytes.fromhex("525400000001")
MAC_B = bytes.fromhex("525400000002")
BROADCAST = b"\xff" * 6

# The largest LEN upstream accepts (NET_BUFSIZE).
MAX_FRAME_LEN = 4096 + 65536


def csum(data):
    """The Internet checksum (RFC 1071) of @data."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ip_aton(addr):
    return socket.inet_aton(addr)


def eth(payload, ethertype=ETH_P_IP, src=MAC_A, dst=MAC_B, vlan=None):
    """An Ethernet frame (no FCS); @vlan adds an 802.1Q tag with that VLAN id."""
    hdr = dst + src
    if vlan is not None:
        hdr += struct.pack("!HH", ETH_P_VLAN, vlan & 0x0FFF)
    return hdr + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ident=0, ttl=64, tos=0, flags_frag=0x4000):
    """An IPv4 header without options, with its checksum, followed by @payload."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident, flags_frag, ttl, proto,
                      0, ip_aton(src), ip_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def _pseudo(src, dst, proto, length):
    return ip_aton(src) + ip_aton(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(src, dst, sport, dport, seq, ack=0, flags=ACK, payload=b"", window=65535, options=b""):
    """A TCP segment with its checksum; @options must be a multiple of 4 bytes."""
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                      flags, window, 0, 0) + options
    seg = hdr + payload
    c = csum(_pseudo(src, dst, IPPROTO_TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload=b""):
    """A UDP datagram with its checksum."""
    dgram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(_pseudo(src, dst, IPPROTO_UDP, len(dgram)) + dgram) or 0xFFFF
    return dgram[:6] + struct.pack("!H", c) + dgram[8:]


def icmp_echo(ident, seq, payload=b"", reply=False):
    """An ICMP echo request (or reply) with its checksum."""
    msg = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload
    return msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]


def tcp_frame(src, dst, sport, dport, seq, ack=0, flags=ACK, payload=b"", ident=0, ttl=64,
              window=65535, vlan=None):
    seg = tcp(src, dst, sport, dport, seq, ack, flags, payload, window)
    return eth(ipv4(src, dst, IPPROTO_TCP, seg, ident=ident, ttl=ttl), vlan=vlan)


def udp_frame(src, dst, sport, dport, payload=b"", ident=0, ttl=64, vlan=None):
    return eth(ipv4(src, dst, IPPROTO_UDP, udp(src, dst, sport, dport, payload), ident=ident,
                    ttl=ttl), vlan=vlan)


def icmp_frame(src, dst, ident, seq, payload=b"", ip_ident=0, ttl=64):
    return eth(ipv4(src, dst, IPPROTO_ICMP, icmp_echo(ident, seq, payload), ident=ip_ident,
                    ttl=ttl))


def ip_frame(src, dst, proto, payload, ident=0, ttl=64):
    """An IPv4 frame of any protocol number with a raw payload."""
    return eth(ipv4(src, dst, proto, payload, ident=ident, ttl=ttl))


def arp_frame(sender_ip, target_ip, op=1, sender_mac=MAC_A, target_mac=b"\0" * 6):
    """An ARP request (op 1) or reply (op 2) for IPv4 over Ethernet."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, op, sender_mac, ip_aton(sender_ip),
                       target_mac, ip_aton(target_ip))
    return eth(body, ETH_P_ARP, src=sender_mac, dst=BROADCAST if op == 1 else target_mac)


def ipv6_udp_frame(sport, dport, payload=b"", src="fe80::1", dst="fe80::2"):
    """An IPv6 UDP frame with a correct checksum."""
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    dgram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = s6 + d6 + struct.pack("!IxxxB", len(dgram), IPPROTO_UDP)
    c = csum(pseudo + dgram) or 0xFFFF
    dgram = dgram[:6] + struct.pack("!H", c) + dgram[8:]
    hdr = struct.pack("!IHBB", 6 << 28, len(dgram), IPPROTO_UDP, 64) + s6 + d6
    return eth(hdr + dgram, ETH_P_IPV6)


def vnet_hdr(size=12):
    """A neutral virtio-net header (no offloads) of @size bytes (10, 12 or 20)."""
    return b"\0" * size


def frame(data, vnet=False, vhdr_len=0):
    """One frame in the chardev framing; with @vnet the VHDR word carries @vhdr_len."""
    out = struct.pack("!I", len(data))
    if vnet:
        out += struct.pack("!I", vhdr_len)
    return out + data


def recv_exact(sock, n, timeout=5.0):
    """Exactly @n bytes from a blocking stream socket; EOFError if it closes first."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"stream closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(sock, vnet=False, timeout=5.0):
    """One frame read straight off a plain socket, as a (vhdr, data) pair like FrameReader's."""
    (length,) = struct.unpack("!I", recv_exact(sock, 4, timeout))
    vhdr = struct.unpack("!I", recv_exact(sock, 4, timeout))[0] if vnet else 0
    return vhdr, recv_exact(sock, length, timeout)


def nothing_arrives(sock, wait=0.5):
    """True if not one byte arrives on a plain socket within @wait seconds. A closed stream is
    no silence (the peer may have crashed): EOFError."""
    sock.settimeout(wait)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return True
    if not data:
        raise EOFError("the peer closed the stream while it was to stay silent")
    return False


class FrameReader:
    """Incremental parser of the framing: feed() bytes, get complete (vhdr, data) pairs."""

    def __init__(self, vnet=False):
        self.vnet = vnet
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        hdr = 8 if self.vnet else 4
        while len(self.buf) >= hdr:
            (length,) = struct.unpack_from("!I", self.buf, 0)
            vhdr = struct.unpack_from("!I", self.buf, 4)[0] if self.vnet else 0
            if len(self.buf) < hdr + length:
                break
            out.append((vhdr, bytes(self.buf[hdr:hdr + length])))
            del self.buf[:hdr + length]
        return out

    def pending(self):
        return len(self.buf)


class FrameSocket:
    """A connected stream socket speaking the framing."""

    def __init__(self, sock, vnet=False, send_vnet=None):
        self.sock = sock
        self.vnet = vnet
        # colo-compare's notify_dev reads VHDR words but never writes them: the directions may
        # differ.
        self.send_vnet = vnet if send_vnet is None else send_vnet
        self.reader = FrameReader(vnet)
        self.queue = []

    @classmethod
    def connect_unix(cls, path, vnet=False, timeout=5.0):
        return cls(connect_retry(socket.AF_UNIX, path, timeout), vnet)

    @classmethod
    def connect_tcp(cls, host, port, vnet=False, timeout=5.0):
        s = connect_retry(socket.AF_INET, (host, port), timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s, vnet)

    def send(self, data, vhdr_len=0):
        self.sock.sendall(frame(data, self.send_vnet, vhdr_len))

    def send_many(self, datas, vhdr_len=0):
        self.sock.sendall(b"".join(frame(d, self.send_vnet, vhdr_len) for d in datas))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        if not chunk:
            raise ConnectionError("peer closed the connection")
        self.queue.extend(self.reader.feed(chunk))
        return True

    def recv(self, timeout=2.0):
        """The next (vhdr, data) pair, or None after @timeout seconds."""
        deadline = time.monotonic() + timeout
        while not self.queue:
            if not self._fill(deadline):
                return None
        return self.queue.pop(0)

    def recv_data(self, timeout=2.0):
        item = self.recv(timeout)
        return None if item is None else item[1]

    def recv_n(self, n, timeout=5.0):
        """Exactly @n frames' data (fewer if @timeout passes first)."""
        deadline = time.monotonic() + timeout
        while len(self.queue) < n:
            if not self._fill(deadline):
                break
        out, self.queue = self.queue[:n], self.queue[n:]
        return [d for _, d in out]

    def drain(self, quiet=0.2):
        """Every frame that arrives until the stream has been quiet for @quiet seconds."""
        out = []
        while True:
            item = self.recv(quiet)
            if item is None:
                return out
            out.append(item[1])

    def close(self):
        self.sock.close()


class TcpFlow:
    """One direction of a TCP connection as the guest sends it: tracks seq for data segments."""

    def __init__(self, src, dst, sport, dport, isn=1000, ack=5000):
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.seq = isn
        self.ack = ack

    def segment(self, payload=b"", flags=ACK | PSH, ident=0, ttl=64, advance=True):
        f = tcp_frame(self.src, self.dst, self.sport, self.dport, self.seq, self.ack,
                      flags if payload else (flags & ~PSH), payload, ident=ident, ttl=ttl)
        if advance:
            self.seq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return f
