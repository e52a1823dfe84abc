"""Every QMP command and HMP command of the monitor, run on our binary and on Debian's QEMU
(-M none -nodefaults -display none): the same sequence gives the same replies once thread ids,
versions, temporary paths and timestamps are normalised."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402  (tests/functional/lib, on sys.path by conftest.py)
from lib.qmp import HMPClient, QemuProcess, QMPClient  # noqa: E402

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU, strip_prog  # noqa: E402

BINARIES = {'ours': QEMU, 'ref': DEBIAN_QEMU}


def normalise(value, tmpdir):
    # query-chardev lists in the order of upstream's hash table: compare as sets.
    for v in value if isinstance(value, list) else []:
        if isinstance(v, dict) and isinstance(v.get('return'), list) and v['return'] and \
                'label' in v['return'][0]:
            v['return'].sort(key=lambda c: c['label'])
        if isinstance(v, str) and ': filename=' in v:
            value[value.index(v)] = '\n'.join(sorted(v.splitlines()))
    text = json.dumps(value, sort_keys=True)
    text = text.replace(tmpdir, '<tmp>')
    text = re.sub(r'"thread-id": \d+', '"thread-id": 0', text)
    text = re.sub(r'thread_id=\d+', 'thread_id=0', text)
    return json.loads(text)


def run_sequence(binary, steps, args=(), hmp=True):
    """Runs (kind, payload) steps: ('qmp', request dict) or ('hmp', line); returns the replies."""
    vm = QemuProcess(binary, BASE_ARGS + list(args), hmp=hmp, timeout=10)
    out = []
    try:
        for kind, payload in steps:
            if kind == 'qmp':
                payload = json.loads(json.dumps(payload).replace('@TMP@', vm.tmpdir))
                out.append(vm.qmp.cmd_obj(payload))
            else:
                out.append(vm.hmp.cmd(payload.replace('@TMP@', vm.tmpdir)))
        return normalise(out, vm.tmpdir)
    finally:
        vm.kill()


def differential(steps, args=()):
    ours = run_sequence(QEMU, steps, args)
    ref = run_sequence(DEBIAN_QEMU, steps, args)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert a == b, 'step %d %r' % (i, steps[i])
    assert len(ours) == len(ref)
    return ours


def q(name, **args):
    req = {'execute': name}
    if args:
        req['arguments'] = {k.replace('_', '-') if k in ('qom_type',) else k: v
                            for k, v in args.items()}
    return ('qmp', req)


def h(line):
    return ('hmp', line)


def unix_server(id_, path):
    return q('chardev-add', id=id_, backend={
        'type': 'socket', 'data': {'addr': {'type': 'unix', 'data': {'path': path}},
                                   'server': True, 'wait': False}})


def test_core_commands():
    r = differential([
        q('query-status'), q('query-name'), q('stop'), q('query-status'), q('stop'),
        q('cont'), q('query-status'), q('query-version', x=1), q('query-commands', a=None),
        q('human-monitor-command', **{'command-line': 'info status'}),
        q('human-monitor-command', **{'command-line': 'info name'}),
        q('human-monitor-command', **{'command-line': ''}),
        q('human-monitor-command', **{'command-line': 'nosuch'}),
        q('human-monitor-command'),
        q('human-monitor-command', **{'command-line': 5}),
        q('qmp_capabilities', enable=['bogus']),
        q('qmp_capabilities', enable='oob'),
    ], args=['-name', 'guest1'])
    assert r[1] == {'return': {'name': 'guest1'}}
    assert r[3] == {'return': {'status': 'paused', 'singlestep': False, 'running': False}}


def test_query_version_shape():
    for binary in BINARIES.values():
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            v = vm.qmp.command('query-version')
            assert set(v) == {'qemu', 'package'}
            assert (v['qemu']['major'], v['qemu']['minor']) == (7, 2)
            text = vm.qmp.hmp('info version')
            assert text.startswith('7.2.') and text.endswith('\r\n')
        finally:
            vm.kill()


def test_qom_commands():
    differential([
        q('object-add', **{'qom-type': 'iothread', 'id': 'io0'}),
        q('object-add', **{'qom-type': 'iothread', 'id': 'io0'}),
        q('object-add', **{'qom-type': 'nosuch', 'id': 'x'}),
        q('object-add', **{'qom-type': 'iothread'}),
        q('object-add', id='x'),
        q('object-add', **{'qom-type': 'iothread', 'id': 'io9', 'bogus': 1}),
        q('object-add', **{'qom-type': 'iothread', 'id': 'io9', 'poll-max-ns': 'x'}),
        q('object-add', **{'qom-type': 'iothread', 'id': 'io9', 'poll-max-ns': -1}),
        q('object-add', **{'qom-type': 'iothread', 'id': 5}),
        q('object-add', **{'qom-type': 5, 'id': 'x'}),
        q('object-add', **{'qom-type': 'iothread', 'id': '1bad'}),
        q('object-add', **{'qom-type': 'iothread', 'id': 'io9', 'thread-pool-min': 5,
                           'thread-pool-max': 2}),
        q('object-add', **{'qom-type': 'colo-compare', 'id': 'x'}),
        q('object-add', **{'qom-type': 'colo-compare', 'id': 'x', 'primary_in': 'a',
                           'secondary_in': 'b', 'outdev': 'c', 'iothread': 'd',
                           'compare_timeout': 'x'}),
        q('qom-list', path='/objects'),
        q('qom-list', path='/nonexistent'),
        q('qom-get', path='/objects/io0', property='nosuch'),
        q('qom-get', path='/objects/io0', property='type'),
        q('qom-get', path='io0', property='type'),
        q('qom-get', path='/objects/nope', property='type'),
        q('qom-set', path='/objects/io0', property='poll-max-ns', value=1000),
        q('qom-get', path='/objects/io0', property='poll-max-ns'),
        q('qom-set', path='/objects/io0', property='poll-max-ns', value=-1),
        q('qom-set', path='/objects/io0', property='poll-max-ns', value='x'),
        q('qom-set', path='/objects/io0', property='poll-max-ns',
          value=9223372036854775808),
        q('qom-set', path='/objects/io0', property='nosuch', value=1),
        q('qom-set', path='/objects/io0', property='poll-max-ns'),
        q('qom-list-types', implements='nosuch'),
        q('query-iothreads'),
        h('info iothreads'),
        q('object-del', id='io0'),
        q('object-del', id='io0'),
        q('object-del'),
        q('query-iothreads'),
        h('object_add iothread,id=io5'),
        h('object_add iothread,id=io5'),
        h('object_add nosuch,id=q'),
        h('info qom-tree /objects'),
        h('object_del io5'),
        h('object_del io5'),
        h('object_del'),
        h('info iothreads'),
    ])


def test_qom_list_types():
    for binary in BINARIES.values():
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            names = {t['name'] for t in vm.qmp.command('qom-list-types')}
            assert {'iothread', 'colo-compare'} <= names
            only = vm.qmp.command('qom-list-types', implements='iothread')
            assert [t['name'] for t in only] == ['iothread']
            assert 'abstract' not in only[0]
            chardevs = vm.qmp.command('qom-list-types', implements='chardev', abstract=True)
            assert {'chardev-socket', 'chardev-null', 'chardev-file'} <= \
                {t['name'] for t in chardevs}
            assert any(t.get('abstract') for t in chardevs)
            assert all(t.get('parent') for t in chardevs if t['name'] != 'chardev')
        finally:
            vm.kill()


def test_chardev_commands():
    r = differential([
        q('chardev-add', id='n0', backend={'type': 'null', 'data': {}}),
        q('chardev-add', id='n0', backend={'type': 'null', 'data': {}}),
        unix_server('s0', '@TMP@/s0.sock'),
        q('chardev-add', id='f0', backend={'type': 'file', 'data': {'out': '@TMP@/f0'}}),
        q('chardev-add', id='x', backend={'type': 'bogus', 'data': {}}),
        q('chardev-add', id='x', backend={'type': 'null'}),
        q('chardev-add', id='x', backend={'type': 'null', 'data': {'bogus': 1}}),
        q('chardev-add', id='x', backend={'data': {}}),
        q('chardev-add', id='x', backend=[]),
        q('chardev-add', backend={'type': 'null', 'data': {}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {
            'addr': {'type': 'bogus', 'data': {}}}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {
            'addr': {'type': 'unix', 'data': {}}}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {
            'addr': {'type': 'unix', 'data': {'path': 1}}}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {
            'addr': {'type': 'unix', 'data': {'path': '@TMP@/x'}}, 'server': 'yes'}}),
        q('chardev-add', id='x', backend={'type': 'socket', 'data': {
            'addr': {'type': 'inet', 'data': {'host': '127.0.0.1', 'port': '0',
                                              'to': 70000}}}}),
        unix_server('x', '@TMP@/none/s'),
        q('chardev-add', id='x', backend={'type': 'file', 'data': {'out': '@TMP@/none/f'}}),
        q('query-chardev'),
        h('info chardev'),
        q('chardev-remove', id='compat_monitor0'),
        q('chardev-remove', id='n0'),
        q('chardev-remove', id='n0'),
        q('chardev-remove'),
        h('chardev-add null,id=n5'),
        h('chardev-add null,id=n5'),
        h('chardev-add bogus,id=n6'),
        h('chardev-remove n5'),
        h('chardev-remove n5'),
        h('chardev-remove compat_monitor1'),
        q('query-chardev'),
    ])
    labels = [c['label'] for c in r[18]['return']]
    assert {'n0', 's0', 'f0', 'compat_monitor0', 'compat_monitor1'} == set(labels)


def test_chardev_client_connects():
    for binary in BINARIES.values():
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            path = os.path.join(vm.tmpdir, 'srv.sock')
            srv = socket.socket(socket.AF_UNIX)
            srv.bind(path)
            srv.listen(1)
            r = vm.qmp.cmd('chardev-add', {'id': 'c0', 'backend': {'type': 'socket', 'data': {
                'addr': {'type': 'unix', 'data': {'path': path}}, 'server': False}}})
            assert r == {'return': {}}
            conn, _ = srv.accept()
            info = {c['label']: c for c in vm.qmp.command('query-chardev')}
            assert info['c0']['filename'].startswith('unix:')
            assert info['c0']['frontend-open'] is False
            assert vm.qmp.cmd('chardev-remove', {'id': 'c0'}) == {'return': {}}
            conn.settimeout(5)
            assert conn.recv(10) == b''       # our end closed the connection
            conn.close()
            srv.close()
        finally:
            vm.kill()


def test_object_del_in_use_refused():
    """A deliberate deviation: upstream deletes an iothread under a running colo-compare."""
    vm = QemuProcess(QEMU, BASE_ARGS, timeout=10)
    try:
        for i in 'pso':
            assert vm.qmp.cmd('chardev-add', {'id': i, 'backend': {
                'type': 'socket', 'data': {
                    'addr': {'type': 'unix', 'data': {'path': '%s/%s' % (vm.tmpdir, i)}},
                    'server': True, 'wait': False}}}) == {'return': {}}
        assert vm.qmp.cmd('object-add', {'qom-type': 'iothread', 'id': 'io0'}) == {'return': {}}
        assert vm.qmp.cmd('object-add', {
            'qom-type': 'colo-compare', 'id': 'cc', 'primary_in': 'p', 'secondary_in': 's',
            'outdev': 'o', 'iothread': 'io0'}) == {'return': {}}
        r = vm.qmp.cmd('object-del', {'id': 'io0'})
        assert r['error'] == {'class': 'GenericError',
                              'desc': "object 'io0' is in use, can not be deleted"}
        assert vm.qmp.cmd('chardev-remove', {'id': 'p'})['error']['desc'] == \
            "Chardev 'p' is busy"
        assert vm.qmp.cmd('object-del', {'id': 'cc'}) == {'return': {}}
        assert vm.qmp.cmd('object-del', {'id': 'io0'}) == {'return': {}}
        assert vm.qmp.cmd('chardev-remove', {'id': 'p'}) == {'return': {}}
    finally:
        vm.kill()


def test_hmp_commands():
    differential([
        h('info status'), h('stop'), h('info status'), h('c'), h('info status'), h('s'),
        h('cont'), h('info name'), h('info'), h('help info'), h('help object_add'),
        h('help object_del'), h('help chardev-add'), h('help chardev-remove'), h('help quit'),
        h('help q'), h('help cont'), h('help info status'), h('help info qom-tree'),
        h('help nosuch'), h('? stop'), h('info nosuch'), h('object_del'), h('chardev-remove'),
        h('cont 1'), h('info status extra'),
    ][:8] + [h('help %s' % c) for c in ('object_add', 'object_del', 'chardev-add',
                                         'chardev-remove', 'quit', 'q', 'cont', 'info status',
                                         'info qom-tree', 'nosuch')] + [
        h('? stop'), h('info nosuch'), h('object_del'), h('chardev-remove'), h('cont 1'),
        h('info status extra'), h('info name'),
    ], args=['-name', 'vm9'])


# HMP commands upstream 7.2 lacks on purpose: the COLO passthrough list and the colo-compare
# counters (docs/colo-proxy.md, deviations 10 and 13).
HMP_EXTENSIONS = ('colo_passthrough_add', 'colo_passthrough_del', 'passthrough_filter_add',
                  'passthrough_filter_del', 'info colo_compare', 'info colo_passthrough',
                  'info colo ')


def test_hmp_help_lists_our_commands_as_upstream():
    """`help` and `info` print QEMU's lines; ours are a subset of upstream's, word for word."""
    out = {}
    for label, binary in BINARIES.items():
        vm = QemuProcess(binary, BASE_ARGS, hmp=True, timeout=10)
        try:
            out[label] = (vm.hmp.cmd('help').splitlines(), vm.hmp.cmd('info').splitlines())
        finally:
            vm.kill()
    for ours, ref in zip(out['ours'], out['ref']):
        extensions = [line for line in ours if line.startswith(HMP_EXTENSIONS)]
        assert extensions
        ours = [line for line in ours if line not in extensions]
        assert len(ours) >= 6
        assert set(ours) <= set(ref)
        # Order by each command's first line: continuation lines of long help texts (a lone
        # "\t\t\t") occur under several upstream commands.
        heads = [line for line in ours if not line[:1].isspace()]
        assert heads == sorted(heads, key=ref.index)


def test_quit_from_qmp_and_hmp():
    for binary in BINARIES.values():
        for how in ('qmp', 'hmp', 'hmp-q'):
            vm = QemuProcess(binary, BASE_ARGS, hmp=True, timeout=10)
            try:
                if how == 'qmp':
                    assert vm.qmp.cmd('quit') == {'return': {}}
                else:
                    vm.hmp.send_raw(b'quit\n' if how == 'hmp' else b'q\n')
                ev = vm.qmp.wait_event('SHUTDOWN', timeout=5)
                assert ev['data'] == {'guest': False, 'reason': 'host-qmp-quit'}
                assert vm.wait(5) == 0
            finally:
                vm.kill()


def test_several_monitors_and_events():
    """Two QMP monitors and two HMP monitors at once; events reach every negotiated QMP client,
    and clients come and go."""
    d = tempfile.mkdtemp(prefix='qc-mon-')
    args = BASE_ARGS + [
        '-qmp', 'unix:%s/q1,server=on,wait=off' % d,
        '-chardev', 'socket,id=m2,path=%s/q2,server=on,wait=off' % d,
        '-mon', 'chardev=m2,mode=control,pretty=on',
        '-chardev', 'socket,id=h2,path=%s/h2,server=on,wait=off' % d,
        '-mon', 'chardev=h2,mode=readline',
        '-monitor', 'unix:%s/h1,server=on,wait=off' % d,
    ]
    for binary in BINARIES.values():
        proc = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.watch(proc)
        try:
            q1 = QMPClient('%s/q1' % d, timeout=5)
            q2 = QMPClient('%s/q2' % d, timeout=5)
            h1 = HMPClient('%s/h1' % d, timeout=5)
            h2 = HMPClient('%s/h2' % d, timeout=5)
            assert h2.banner.startswith('QEMU 7.2.')
            assert h1.cmd('stop') == ''
            for c in (q1, q2):
                ev = c.wait_event('STOP', timeout=5)
                assert set(ev) == {'event', 'timestamp'}
            assert h2.cmd('info status') == 'VM status: paused\n'
            assert q2.cmd('cont') == {'return': {}}
            for c in (q1, q2):
                c.wait_event('RESUME', timeout=5)
            # The pretty monitor writes indented JSON.
            q2.send_raw('{"execute": "query-name"}')
            raw = b''
            # The whole reply: its inner '}' is indented, the closing one is not.
            while not raw.endswith(b'\n}\r\n'):
                raw += q2.sock.recv(4096)
            assert raw.startswith(b'{\r\n    "return": {\r\n')
            # Clients leave and come back; a new client must negotiate again.
            q1.close()
            h1.close()
            for _ in range(3):
                c = QMPClient('%s/q1' % d, negotiate=False, timeout=5)
                assert c.cmd('query-status')['error']['class'] == 'CommandNotFound'
                c.negotiate()
                assert c.command('query-status')['running'] is True
                c.close()
                hh = HMPClient('%s/h1' % d, timeout=5)
                assert hh.cmd('info status') == 'VM status: running\n'
                hh.close()
            # A client that has not negotiated gets no events.
            c = QMPClient('%s/q1' % d, negotiate=False, timeout=5)
            assert q2.cmd('stop') == {'return': {}}
            q2.wait_event('STOP', timeout=5)
            with pytest.raises(TimeoutError):
                c._recv_raw(timeout=0.3)
            c.close()
            q2.close()
            h2.close()
        finally:
            procs.stop_process(proc)
    shutil.rmtree(d, ignore_errors=True)


def test_qmp_stdio():
    for binary in BINARIES.values():
        proc = subprocess.Popen([binary] + BASE_ARGS + ['-qmp', 'stdio'], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            greeting = json.loads(proc.stdout.readline())
            assert greeting['QMP']['capabilities'] == ['oob']
            proc.stdin.write(b'{"execute": "qmp_capabilities", "id": 1}\n')
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline()) == {'return': {}, 'id': 1}
            proc.stdin.write(b'{"execute": "query-status"}\n{"execute": "quit"}\n')
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())['return']['status'] == 'running'
            # upstream emits SHUTDOWN before the reply to quit
            assert json.loads(proc.stdout.readline())['event'] == 'SHUTDOWN'
            assert json.loads(proc.stdout.readline()) == {'return': {}}
            assert proc.wait(5) == 0
        finally:
            proc.kill()
            proc.wait()


MON_ERRORS = [
    ['-mon', 'mode=control'],
    ['-mon', 'chardev=nope,mode=control'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,mode=bogus'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,mode=readline,pretty=on'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,bogus=1'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,pretty=maybe,mode=control'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,id=x', '-mon', 'chardev=c,id=x'],
    ['-chardev', 'null,id=c', '-mon', 'chardev=c,default=on'],
    ['-qmp', 'none'],
    ['-qmp', 'bogus:x'],
    ['-monitor', 'unix:/nonexistent/dir/s,server=on,wait=off'],
]


@pytest.mark.parametrize('args', MON_ERRORS, ids=lambda a: ' '.join(a)[:50])
def test_monitor_option_errors(args):
    res = {}
    for label, binary in BINARIES.items():
        p = subprocess.run([binary] + BASE_ARGS + args, capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        res[label] = (p.returncode, strip_prog(p.stderr))
    assert res['ref'][0] == 1
    assert res['ours'] == res['ref']


def test_mon_accepted_forms():
    """-mon forms upstream accepts start a monitor on our binary too."""
    for label, binary in BINARIES.items():
        for extra in (['-mon', 'chardev=c'], ['-mon', 'c'], ['-mon', 'chardev=c,mode=control,id=m0'],
                      ['-mon', 'chardev=c,mode=control,pretty=off']):
            proc = subprocess.Popen([binary] + BASE_ARGS + [
                '-chardev', 'socket,id=c,path=/tmp/qc-mon-%d.sock,server=on,wait=off'
                % os.getpid()] + extra, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            try:
                path = '/tmp/qc-mon-%d.sock' % os.getpid()
                deadline = time.monotonic() + 5
                while not os.path.exists(path) and time.monotonic() < deadline:
                    assert proc.poll() is None, (label, extra, proc.stderr.read())
                    time.sleep(0.02)
                if 'mode=control' in extra[1]:
                    c = QMPClient(path, timeout=5)
                    assert c.command('query-status')['running'] is True
                else:
                    c = HMPClient(path, timeout=5)
                    assert c.cmd('info status') == 'VM status: running\n'
                c.close()
            finally:
                proc.kill()
                proc.wait()
                try:
                    os.unlink('/tmp/qc-mon-%d.sock' % os.getpid())
                except OSError:
                    pass
