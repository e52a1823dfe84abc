"""Packet framing as upstream's filters and -netdev socket put packets on a byte stream:
be32 length [be32 vnet header length] payload."""
import socket
import struct
import time


def frame(payload, vnet_hdr_len=None):
    hdr = struct.pack(">I", len(payload))
    if vnet_hdr_len is not None:
        hdr += struct.pack(">I", vnet_hdr_len)
    return hdr + payload


def recv_exact(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"stream closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(sock, vnet=False, timeout=5.0):
    """Returns (payload, vnet_hdr_len or None)."""
    (length,) = struct.unpack(">I", recv_exact(sock, 4, timeout))
    vhdr = None
    if vnet:
        (vhdr,) = struct.unpack(">I", recv_exact(sock, 4, timeout))
    return recv_exact(sock, length, timeout), vhdr


def nothing_arrives(sock, wait=0.5):
    """True if no byte arrives on sock within wait seconds."""
    sock.settimeout(wait)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return True
    return not data


def connect_retry(addr, family=socket.AF_INET, timeout=5.0):
    """Connects to a listener that a just-started process is about to open."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.connect(addr)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ethernet(dst=b"\xff" * 6, src=b"\x52\x54\x00\x12\x34\x56", ethertype=0x88B5, body=b""):
    """A minimal Ethernet frame (the local experimental ethertype by default)."""
    return dst + src + struct.pack(">H", ethertype) + body
