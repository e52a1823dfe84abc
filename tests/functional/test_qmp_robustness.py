"""Bad input through the real binary over a socket: unbalanced braces, deep nesting, huge strings,
millions of tokens, garbage, floods. The process never dies, the session goes on, memory stays
bounded (VmRSS from /proc before and after), and where Debian's QEMU answers in reasonable time
the replies are its replies."""
import json
import os
import random
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.qmp import QemuProcess, QMPClient  # noqa: E402

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU, SANITIZED  # noqa: E402


def alive(vm, client=None):
    """The process runs and answers; error replies still queued for earlier input are skipped."""
    c = client or vm.qmp
    assert vm.proc.poll() is None
    c.send_raw(b'{"execute": "query-status", "id": "alive"}')
    while True:
        r = c.recv(timeout=20)
        if r.get('id') == 'alive':
            break
    assert r['return']['status'] == 'running'


@pytest.fixture(params=['ours', 'ref'])
def vm(request):
    p = QemuProcess(QEMU if request.param == 'ours' else DEBIAN_QEMU, BASE_ARGS, timeout=10)
    yield p
    p.kill()


def test_unbalanced_then_valid(vm):
    vm.qmp.send_raw(b'{"execute": "query-name", "arguments": {')
    vm.qmp.send_raw(b']')
    assert vm.qmp.recv(timeout=5)['error']['class'] == 'GenericError'
    alive(vm)


def test_deep_nesting(vm):
    vm.qmp.send_raw(b'[' * 2000 + b']' * 2000)
    r = vm.qmp.recv(timeout=5)
    assert r['error']['class'] == 'GenericError'
    alive(vm)


def replies_on_both(raws):
    """The first reply to each raw input, from ours and from Debian's QEMU; both stay alive."""
    out = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        p = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            got = []
            for raw in raws:
                p.qmp.send_raw(raw)
                got.append(p.qmp.recv(timeout=5))
            out[label] = got
            alive(p)
        finally:
            p.kill()
    return out


def test_same_replies_as_reference():
    """Deep nesting and unbalanced input give the same replies on both binaries."""
    out = replies_on_both([b'[' * 1100 + b']' * 1100, b'}', b'{"a" 1}', b'[1 2]',
                           b"{'execute': 'query-name'}"])
    assert out['ours'] == out['ref']



# Escapes and raw bytes in strings: \u0000 is accepted (QEMU keeps strings in modified UTF-8 and
# writes it back as \u0000), surrogates and noncharacters are refused, and the error quotes the
# escape it stopped at (one, or a surrogate pair). Found by fuzz-qmp-input.
UNICODE_STRINGS = [rb'"a\u0000b"', b'"\xc0\x80"', rb'"\uD800xyz"', rb'"\uD800\u0041"', rb'"\uDC00"',
                   rb'"\uD83D\uDE00"', rb'"\uDBFF\uDFFF"', rb'"\uFFFE"', rb'"ab\uFFFFcd"', rb'"\uFDD0"',
                   rb'"\uFDCF"', rb'"\uFEFF"', rb'"\u00G1"', rb'"\u12"', b'"\xef\xbf\xbe"',
                   b'"\xed\xa0\x80"', b'"\xc1\x81"', b'"\xf4\x90\x80\x80"']


def test_unicode_escapes_as_reference():
    out = replies_on_both([b'{"id": %d, "execute": "qom-get", "arguments": '
                           b'{"path": %s, "property": "x"}}' % (i, s)
                           for i, s in enumerate(UNICODE_STRINGS)])
    assert out['ours'] == out['ref']
    # not vacuous: both kinds of reply occur
    assert any('id' in r for r in out['ref']) and any('id' not in r for r in out['ref'])


# ---- huge input through the binary: bounded memory, the session goes on ----

def memory_below(pid, field, limit_kib):
    """VmRSS/VmHWM under @limit_kib (not checked on sanitizer builds, whose allocator keeps
    freed memory on purpose)."""
    value = status_kib(pid, field)
    assert SANITIZED or value < limit_kib, '%s %d KiB >= %d KiB' % (field, value, limit_kib)


def status_kib(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise AssertionError('no %s' % field)


def exchange(client, data):
    """Sends @data and a marker command while a thread reads; returns the replies before the
    marker's. The writer never waits for the reader: input flows as fast as we take it."""
    sock = client.sock
    sock.settimeout(None)
    replies = []
    failure = []

    def reader():
        buf = b''
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    failure.append('connection closed')
                    return
                buf += chunk
                while b'\n' in buf:
                    line, buf = buf.split(b'\n', 1)
                    if line.strip():
                        msg = json.loads(line)
                        if msg.get('id') == 'mark':
                            assert msg['return']['status'] == 'running'
                            return
                        replies.append(msg)
        except Exception as e:  # noqa: BLE001 - reported to the test thread
            failure.append(repr(e))

    th = threading.Thread(target=reader)
    th.start()
    sock.sendall(data + b'{"execute": "query-status", "id": "mark"}')
    th.join(60)
    assert not th.is_alive() and not failure, failure
    sock.settimeout(client.timeout)
    return replies


@pytest.fixture
def ours():
    p = QemuProcess(QEMU, BASE_ARGS, timeout=10)
    yield p
    p.kill()


def test_huge_string_memory_bounded(ours):
    pid = ours.proc.pid
    before = status_kib(pid, 'VmRSS')
    big = b'{"execute": "query-name", "arguments": {"x": "' + b'a' * (70 << 20) + b'"}}'
    r = exchange(ours.qmp, big)
    # Past 64 MiB the string is skipped to its end: one error, then the two stray braces.
    assert [m['error']['desc'] for m in r] == ['JSON token size limit exceeded'] + \
        ['JSON parse error, expecting value'] * 2
    # The process kept at most the limit, and gave it back.
    memory_below(pid, 'VmHWM', before + 96 * 1024)
    memory_below(pid, 'VmRSS', before + 8 * 1024)
    # A big string under the limit is taken (and refused as an argument, as upstream does).
    r = exchange(ours.qmp, b'{"execute": "query-name", "arguments": {"x": "' + b'b' * (8 << 20)
                 + b'"}}')
    assert r == [{'error': {'class': 'GenericError', 'desc': "Parameter 'x' is unexpected"}}]
    memory_below(pid, 'VmRSS', before + 8 * 1024)


def test_millions_of_tokens_memory_bounded(ours):
    pid = ours.proc.pid
    before = status_kib(pid, 'VmRSS')
    # 2^21 + 1 tokens in one array: refused at the limit, the tail read afresh.
    r = exchange(ours.qmp, b'[' + b'1,' * (1 << 20) + b'1]')
    assert [m['error']['desc'] for m in r] == [
        'JSON token count limit exceeded', 'QMP input must be a JSON object',
        'JSON parse error, expecting value']
    memory_below(pid, 'VmRSS', before + 8 * 1024)
    # 1.65 million tokens that parse: the value is built, refused, freed; repeating it costs
    # nothing more (GLib keeps the freed nodes' memory for reuse).
    valid = (b'{"execute": "query-name", "arguments": {"a": ['
             + b'[1, 2, {"b": null}],' * 150000 + b'1]}}')
    expect = [{'error': {'class': 'GenericError', 'desc': "Parameter 'a' is unexpected"}}]
    assert exchange(ours.qmp, valid) == expect
    first = status_kib(pid, 'VmRSS')
    assert exchange(ours.qmp, valid) == expect
    assert exchange(ours.qmp, valid) == expect
    memory_below(pid, 'VmRSS', first + 8 * 1024)
    memory_below(pid, 'VmHWM', 256 * 1024)


def test_deep_nesting_and_garbage_flood(ours):
    pid = ours.proc.pid
    before = status_kib(pid, 'VmRSS')
    # 100 runs at the depth limit: each refused once, each stray closer refused.
    r = exchange(ours.qmp, (b'[' * 1025 + b']' * 1025) * 100)
    assert len(r) == 100 * (1 + 1025)
    assert all(m['error']['desc'] == 'JSON nesting depth limit exceeded' for m in r[::1026])
    # Bytes that are no JSON at all (no quote: that would open a string), one error each.
    rnd = random.Random(7)
    junk = bytes(rnd.choice(b'\x00\x01\x7f\xfe\xff@#$%^&*()<>?;~`|\\') for _ in range(20000))
    r = exchange(ours.qmp, junk)
    assert len(r) == len(junk)
    assert all(m['error']['class'] == 'GenericError' for m in r)
    memory_below(pid, 'VmRSS', before + 8 * 1024)
    alive(ours)


def test_flood_without_reading_pauses_input(ours):
    """A client that floods and never reads is paused, not served into unbounded memory; the
    others are served meanwhile and the process survives the client's departure."""
    pid = ours.proc.pid
    before = status_kib(pid, 'VmRSS')
    # The socket serves one client at a time: the flooder takes it over.
    ours.qmp.close()
    ours.qmp = None
    flood = QMPClient(ours.qmp_path, negotiate=False)
    flood.sock.setblocking(False)
    data = b'}' * (8 << 20)
    sent = 0
    stalled_since = None
    while sent < len(data):
        try:
            sent += flood.sock.send(data[sent:sent + 65536])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break
            time.sleep(0.01)
    # Our side stopped taking input: the whole 8 MiB (~800 MiB of replies) did not go in.
    assert sent < len(data)
    assert ours.proc.poll() is None
    memory_below(pid, 'VmRSS', before + 16 * 1024)
    flood.close()
    # The flooder gone, the socket takes the next client.
    ours.qmp = QMPClient(ours.qmp_path)
    alive(ours)
    mon = ours.qmp.command('x-query-monitors')[0]
    # Input paused once a chunk's worth of replies was queued; what was unread went with it.
    assert mon['input-pauses'] >= 1
    assert 64 * 1024 <= mon['out-peak'] < 128 * 1024
    assert mon['out-dropped'] > 0 and mon['clients-dropped'] == 0
