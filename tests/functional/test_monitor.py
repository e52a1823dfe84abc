"""QMP and HMP conformance, run against our binary and Debian's QEMU (the reference).

Each test runs on both binaries and checks upstream's exact replies (versions and timestamps
aside); test_differential_* run one sequence on both and compare the normalised transcripts.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.qmp import QemuProcess, QMPClient  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS = os.environ.get('QEMU_BINARY', os.path.join(ROOT, 'build', 'qemu-system-x86_64'))
REF = '/usr/bin/qemu-system-x86_64'
ARGS = ['-M', 'none', '-nodefaults', '-display', 'none']


def start(binary, hmp=True):
    """Either binary failing to start fails the test: neither may be skipped."""
    if not os.path.exists(binary):
        pytest.fail('%s not present' % binary)
    return QemuProcess(binary, ARGS, hmp=hmp, timeout=5)


@pytest.fixture(params=['ours', 'reference'])
def vm(request):
    p = start(OURS if request.param == 'ours' else REF)
    yield p
    p.kill()


def err(reply):
    return (reply['error']['class'], reply['error']['desc'])


def test_greeting(vm):
    g = vm.qmp.greeting['QMP']
    assert set(g) == {'version', 'capabilities'}
    assert g['capabilities'] == ['oob']
    assert set(g['version']) == {'qemu', 'package'}
    assert (g['version']['qemu']['major'], g['version']['qemu']['minor']) == (7, 2)


def test_negotiation(vm):
    # A socket serves one QMP client at a time: the fixture's leaves first.
    vm.qmp.close()
    c = QMPClient(vm.qmp_path, negotiate=False, timeout=5)
    try:
        assert err(c.cmd('query-status')) == (
            'CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'")
        assert c.cmd('qmp_capabilities', id='x') == {'return': {}, 'id': 'x'}
        assert err(c.cmd('qmp_capabilities')) == (
            'CommandNotFound', 'Capabilities negotiation is already complete, command ignored')
        r = c.cmd('no-such-command', id=3)
        assert r['id'] == 3
        assert err(r) == ('CommandNotFound', 'The command no-such-command has not been found')
    finally:
        c.close()


@pytest.mark.parametrize('raw,expected', [
    ('{bad json}', 'JSON parse error, invalid keyword \'bad\''),
    ('}', 'JSON parse error, expecting value'),
    ('{"a" 1}', 'JSON parse error, missing : in object pair'),
    ('[1 2]', 'JSON parse error, expected separator in list'),
    ('[1]', 'QMP input must be a JSON object'),
    ('{"x": 1}', "QMP input member 'x' is unexpected"),
    ('{"execute": 1}', "QMP input member 'execute' must be a string"),
    ('{"execute": "query-status", "arguments": {"a": 1}}', "Parameter 'a' is unexpected"),
    ('{"execute": "human-monitor-command"}', "Parameter 'command-line' is missing"),
])
def test_bad_input(vm, raw, expected):
    vm.qmp.send_raw(raw)
    assert err(vm.qmp.recv()) == ('GenericError', expected)
    # The session goes on.
    assert vm.qmp.cmd('query-name') == {'return': {}}


def test_split_and_merged_input(vm):
    vm.qmp.send_raw('{"execute": "query-')
    vm.qmp.send_raw('name", "id": 1}{"execute": "query-name", "id": 2}')
    assert vm.qmp.recv() == {'return': {}, 'id': 1}
    assert vm.qmp.recv() == {'return': {}, 'id': 2}


def test_stop_cont_events(vm):
    assert vm.qmp.command('query-status') == {'status': 'running', 'singlestep': False,
                                              'running': True}
    assert vm.qmp.cmd('stop') == {'return': {}}
    ev = vm.qmp.wait_event('STOP', timeout=5)
    assert set(ev) == {'event', 'timestamp'}
    assert set(ev['timestamp']) == {'seconds', 'microseconds'}
    assert vm.qmp.command('query-status')['status'] == 'paused'
    assert vm.qmp.cmd('cont') == {'return': {}}
    vm.qmp.wait_event('RESUME', timeout=5)


def test_hmp(vm):
    assert vm.hmp.banner.startswith('QEMU 7.2.')
    assert vm.hmp.cmd('info status') == 'VM status: running\n'
    assert vm.hmp.cmd('foo') == "unknown command: 'foo'\n"
    assert vm.hmp.cmd('stop extra') == ('stop|s: extraneous characters at the end of line\n'
                                        'Try "help stop" for more information\n')
    assert vm.hmp.cmd('help stop') == 'stop|s  -- stop emulation\n'
    assert vm.hmp.cmd('info foo') == "unknown command: 'info foo'\n"
    assert vm.qmp.hmp('info name') == ''


def transcript(binary):
    """One fixed session; the normalised replies, for comparison between binaries."""
    p = start(binary)
    out = []
    try:
        q = p.qmp
        for req in ['{"execute": "query-name", "id": [1, {"a": null}]}',
                    '{"execute": "query-status"}', '{"execute": "stop"}',
                    '{"execute": "query-status"}', '{"execute": "cont"}',
                    '{"execute": "qmp_capabilities"}', '{"execute": "nope"}',
                    '{"id": 5}', '"str"', '{"execute": "query-status", "arguments": []}']:
            q.send_raw(req)
            out.append(q.recv())
        for ev in q.get_events(wait=0.3):
            assert ev['timestamp']['seconds'] > 0
            out.append(ev['event'])
        for line in ['info status', 'stop', 'info status', 'cont', 'help q', 'bogus']:
            out.append(p.hmp.cmd(line))
    finally:
        p.kill()
    return out


def test_differential_transcript():
    ref = transcript(REF)
    ours = transcript(OURS)
    assert ours == ref
