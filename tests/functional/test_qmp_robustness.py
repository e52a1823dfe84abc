"""Bad input through the real binary over a socket: unbalanced braces and deep nesting. The process
never dies, the session goes on, and the replies are Debian's."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.qmp import QemuProcess  # noqa: E402

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU  # noqa: E402


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


def test_same_replies_as_reference():
    """Deep nesting and unbalanced input give the same replies on both binaries."""
    out = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        p = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            got = []
            for raw in [b'[' * 1100 + b']' * 1100, b'}', b'{"a" 1}', b'[1 2]', b"{'execute': 'query-name'}"]:
                p.qmp.send_raw(raw)
                got.append(p.qmp.recv(timeout=5))
            out[label] = got
        finally:
            p.kill()
    assert out['ours'] == out['ref']
