"""QMP clients that stop reading: output queues per monitor, never blocking the process.

A client that sends without reading gets its input paused once 64 KiB of output wait for it;
one whose output passes 4 MiB is dropped and counted in x-query-monitors. Meanwhile every other
client is served at normal speed.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.qmp import QemuProcess, QMPClient  # noqa: E402

from conftest import BASE_ARGS, QEMU, SANITIZED  # noqa: E402


def start(tmp):
    """Our binary with a second QMP socket for the client that stops reading."""
    stalled = os.path.join(tmp, 'stalled.sock')
    vm = QemuProcess(QEMU, BASE_ARGS + ['-qmp', 'unix:%s,server=on,wait=off' % stalled])
    return vm, stalled


def counters(vm, chardev='compat_monitor0'):
    for m in vm.qmp.command('x-query-monitors'):
        if m['chardev'] == chardev:
            return m
    raise AssertionError('no monitor on %s' % chardev)


def pipeline(client, requests, batch=2000):
    """Sends @requests (one command each) in batches while a thread reads their replies."""
    sock = client.sock
    sock.settimeout(30)
    total = len(requests)
    replies = []

    def reader():
        buf = b''
        dec = json.JSONDecoder()
        while len(replies) < total:
            data = sock.recv(1 << 20)
            assert data, 'connection closed'
            buf += data
            text = buf.decode()
            pos = 0
            while True:
                while pos < len(text) and text[pos] in ' \r\n':
                    pos += 1
                try:
                    obj, end = dec.raw_decode(text, pos)
                except json.JSONDecodeError:
                    break
                pos = end
                if 'event' not in obj:
                    replies.append(obj)
            buf = text[pos:].encode()

    th = threading.Thread(target=reader)
    th.start()
    for i in range(0, total, batch):
        sock.sendall(b''.join(requests[i:i + batch]))
    th.join(60)
    assert not th.is_alive()
    return replies


def test_unread_client_does_not_stall_others(sockdir):
    vm, stalled = start(sockdir)
    try:
        a = QMPClient(stalled)
        # 200 schema queries (~22 KiB each) without reading a byte of the replies.
        reqs = b''.join(b'{"execute": "query-qmp-schema", "id": %d}' % i for i in range(200))
        a.send_raw(reqs)
        time.sleep(0.3)
        # Everyone else goes on: commands answer at once, events are produced.
        for _ in range(50):
            t0 = time.monotonic()
            assert vm.qmp.command('query-status')['status'] == 'running'
            assert time.monotonic() - t0 < 1.0
        vm.qmp.command('stop')
        vm.qmp.command('cont')
        c = counters(vm)
        assert c['connected'] and c['input-pauses'] >= 1
        # Held at the pause mark: at most one reply and the events beyond 64 KiB.
        assert 0 < c['out-pending'] < 64 * 1024 + 64 * 1024
        assert c['clients-dropped'] == 0
        # Once the client reads, every reply comes, in order, and the events with them.
        ids = []
        events = 0
        while len(ids) < 200:
            msg = a._recv_raw(timeout=20)
            if 'event' in msg:
                events += 1
            else:
                assert 'return' in msg, msg
                ids.append(msg['id'])
        assert ids == list(range(200))
        assert events == 2
        assert counters(vm)['out-pending'] == 0
        a.close()
    finally:
        vm.kill()


def test_unread_client_is_dropped_and_counted(sockdir):
    vm, stalled = start(sockdir)
    try:
        a = QMPClient(stalled)
        rss_before = vm_rss_kib(vm.proc.pid)
        # Events pile up for the client that never reads: ~85 bytes each, 4 MiB is ~50k.
        dropped = False
        for _ in range(20):
            replies = pipeline(vm.qmp, [b'{"execute":"stop"}', b'{"execute":"cont"}'] * 2000)
            assert all('return' in r for r in replies)
            if counters(vm)['clients-dropped'] == 1:
                dropped = True
                break
        assert dropped
        c = counters(vm)
        assert c['out-dropped'] > 4 * 1024 * 1024 and c['out-peak'] > 4 * 1024 * 1024
        # The dropped client reads what had reached its socket, then the end of the stream.
        a.sock.settimeout(10)
        total = 0
        while True:
            data = a.sock.recv(1 << 20)
            if not data:
                break
            total += len(data)
        assert total > 0
        a.close()
        # The monitor takes the next client as usual.
        with QMPClient(stalled) as b:
            assert b.command('query-status')['status'] == 'running'
        assert counters(vm)['out-pending'] == 0
        # The dropped queue's memory went back: RSS did not keep the 4 MiB (and more).
        assert SANITIZED or vm_rss_kib(vm.proc.pid) - rss_before < 16 * 1024
    finally:
        vm.kill()


def test_stalled_hmp_client_does_not_stall_qmp(sockdir):
    hmp = os.path.join(sockdir, 'hmp.sock')
    vm = QemuProcess(QEMU, BASE_ARGS + ['-monitor', 'unix:%s,server=on,wait=off' % hmp])
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(hmp)
        # As much input as the socket takes: our side stops reading it once output backs up.
        s.setblocking(False)
        data = b'info qom-tree\n' * 20000
        sent = 0
        deadline = time.monotonic() + 1
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.05)
        assert sent < len(data)
        for _ in range(20):
            t0 = time.monotonic()
            assert vm.qmp.command('query-name') == {}
            assert time.monotonic() - t0 < 1.0
        c = counters(vm)
        assert c['mode'] == 'readline' and c['input-pauses'] >= 1
        s.close()
        assert vm.proc.poll() is None
    finally:
        vm.kill()


def vm_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')
