"""driver=nbd and quorum in the block graph, x-blockdev-change and HMP drive_add/drive_del, each
beside Debian's QEMU 7.2 doing the same: option errors word for word, the COLO runbook's primary
quorum growing an nbd child that points at our NBD server in a second instance of ours (writes
reaching both disks), the secondary killed under it (QUORUM_REPORT_BAD, the monitor still
answering), and a three-way quorum with bad and failing replicas (QUORUM_REPORT_BAD,
QUORUM_FAILURE). I/O goes through the quorum's own NBD export, written and read by qemu-io."""
import os
import re
import subprocess

import pytest

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU, startup_outcome
from lib.qmp import QemuProcess

import procs  # tests/functional/lib is on sys.path (conftest.py)

SIZE = 1024 * 1024


def image(path, byte=0):
    with open(path, 'wb') as f:
        f.write(bytes([byte]) * SIZE)
    return str(path)


def qemu_io(sock, export, *cmds, check=True):
    argv = ['qemu-io', '-f', 'raw']
    for c in cmds:
        argv += ['-c', c]
    r = subprocess.run(argv + [f'nbd+unix:///{export}?socket={sock}'], capture_output=True,
                       text=True, timeout=60)
    if check:
        assert r.returncode == 0 and 'error' not in r.stdout.lower(), (sock, r.stdout, r.stderr)
    return re.sub(r'.*ops/sec.*\n', '', r.stdout)


@pytest.fixture(scope='module')
def nbd_peer(tmp_path_factory):
    """Debian's qemu-nbd serving a 1 MiB image (shared, so both binaries may connect)."""
    d = tmp_path_factory.mktemp('peer')
    img = image(d / 'peer.img')
    sock = str(d / 'peer.sock')
    p = subprocess.Popen(['qemu-nbd', '-t', '-e', '8', '-f', 'raw', '-x', 'disk', '-k', sock,
                          img], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            break
        p.poll()
        assert p.returncode is None, 'qemu-nbd did not start'
        subprocess.run(['sleep', '0.05'])
    yield sock
    p.terminate()
    p.wait(10)


def test_option_errors_as_debian(tmp_path, nbd_peer):
    """-drive / -blockdev lines with quorum and nbd: the same message and exit code as Debian's,
    good lines start with both."""
    c0 = image(tmp_path / 'c0.img')
    big = str(tmp_path / 'big.img')
    with open(big, 'wb') as f:
        f.truncate(2 * SIZE)
    kid = f'children.0.driver=raw,children.0.file.filename={c0}'
    bkid = f'children.0.driver=raw,children.0.file.driver=file,children.0.file.filename={c0}'
    port = procs.free_port()
    cases = [
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=2,{kid}'],
        ['-drive', f'if=none,id=d0,driver=quorum,{kid}'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=1,read-pattern=x,{kid}'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=x,{kid}'],
        ['-drive', 'if=none,id=d0,driver=quorum,vote-threshold=1'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=1,children.1.driver=raw,'
                   f'children.1.file.filename={c0}'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=1,blkverify=on,{kid}'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=1,{kid},children.1.driver=raw,'
                   f'children.1.file.filename={big}'],
        ['-drive', f'if=none,id=d0,driver=quorum,vote-threshold=1,read-pattern=fifo,{kid}'],
        ['-blockdev', f'driver=quorum,node-name=q,{bkid}'],
        ['-blockdev', f'driver=quorum,node-name=q,vote-threshold=1,read-pattern=x,{bkid}'],
        ['-blockdev', f'driver=quorum,node-name=q,vote-threshold=x,{bkid}'],
        ['-blockdev', 'driver=quorum,node-name=q,vote-threshold=1'],
        ['-blockdev', f'driver=quorum,node-name=q,vote-threshold=1,{bkid}'],
        ['-blockdev', f'driver=nbd,node-name=n,server.type=inet,server.host=127.0.0.1,'
                      f'server.port={port},export=disk'],
        ['-drive', f'if=none,id=d0,driver=raw,file.driver=nbd,file.host=127.0.0.1,'
                   f'file.port={port},file.export=disk'],
        ['-drive', f'if=none,id=d0,driver=raw,file.driver=nbd,file.path={nbd_peer},'
                   f'file.export=nope'],
        ['-drive', f'if=none,id=d0,driver=raw,file.driver=nbd,file.path={nbd_peer},'
                   f'file.export=disk,file.bogus=1'],
        ['-blockdev', f'driver=nbd,node-name=n,server.type=unix,server.path={nbd_peer},'
                      f'export=disk,bogus=1'],
        ['-blockdev', f'driver=nbd,node-name=n,server.type=unix,server.path={nbd_peer},'
                      f'export=disk'],
        ['-drive', f'if=none,id=d0,driver=raw,file.driver=nbd,file.path={nbd_peer},'
                   f'file.export=disk'],
        ['-blockdev', 'driver=nbd,node-name=n'],
        ['-blockdev', f'driver=nbd,node-name=n,filename=nbd://127.0.0.1:{port}/disk'],
        ['-blockdev', 'driver=nbd,node-name=n,server.host=x'],
        ['-blockdev', 'driver=nbd,node-name=n,server.type=unix,server.path=/x,host=y'],
        ['-drive', 'if=none,file=nbd+unix:///disk,format=raw'],
        ['-drive', f'if=none,file=nbd://127.0.0.1:{port}/disk,format=raw'],
        ['-drive', f'if=none,file=nbd:127.0.0.1:{port}:exportname=disk,format=raw'],
        ['-drive', f'if=none,file=nbd://127.0.0.1:{port}/disk,file.host=x,format=raw'],
        ['-drive', f'if=none,file=nbd+tcp://127.0.0.1:{port}/disk?a=b,format=raw'],
        ['-drive', f'if=none,file=nbd+unix:///disk?socket={nbd_peer},format=raw'],
        ['-drive', f'if=none,file=nbd:unix:{nbd_peer}:exportname=disk,format=raw'],
        ['-drive', f'if=none,file=nbd:unix:{nbd_peer}:exportname=nope,format=raw'],
    ]
    for args in cases:
        got = [startup_outcome(binary, args) for binary in (QEMU, DEBIAN_QEMU)]
        assert got[0] == got[1], args


def hmp(vm, line):
    return vm.qmp.cmd('human-monitor-command', {'command-line': line})


def events(vm, wait=0.5):
    return [(e['event'], e['data']) for e in vm.qmp.get_events(wait)]


def test_runbook_primary_as_debian(tmp_path):
    """The runbook's primary disk (quorum, fifo, vote-threshold=1) gets an nbd child on our NBD
    server in a second instance of ours through drive_add -n and x-blockdev-change; writes
    through the quorum reach both images; the child leaves again (x-blockdev-change child=,
    drive_del); then, attached once more, the secondary is killed: writes still succeed and
    QUORUM_REPORT_BAD names the lost child. Every answer as Debian's."""
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        pri = image(tmp_path / f'{label}-pri.img')
        sec = image(tmp_path / f'{label}-sec.img')
        sock = str(tmp_path / f'{label}-pri.sock')
        port = procs.free_port()
        secondary = QemuProcess(QEMU, BASE_ARGS + [
            '-drive', f'if=none,id=parent0,file={sec},format=raw'], timeout=10)
        primary = QemuProcess(binary, BASE_ARGS + [
            '-drive', f'if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,'
                      f'children.0.file.filename={pri},children.0.driver=raw'], timeout=10)
        buddy = (f'drive_add -n buddy driver=raw,file.driver=nbd,file.host=127.0.0.1,'
                 f'file.port={port},file.export=parent0,node-name=replication0')
        out = []
        try:
            secondary.qmp.command('nbd-server-start', {'addr': {'type': 'inet', 'data': {
                'host': '127.0.0.1', 'port': str(port)}}})
            secondary.qmp.command('nbd-server-add', {'device': 'parent0', 'writable': True})
            out.append(primary.qmp.cmd('nbd-server-start', {'addr': {'type': 'unix', 'data': {
                'path': sock}}}))
            out.append(primary.qmp.cmd('nbd-server-add', {'device': 'colo-disk0',
                                                          'writable': True}))
            out.append(hmp(primary, buddy))
            out.append(primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                             'node': 'replication0'}))
            out.append(primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                             'node': 'replication0'}))
            out.append(hmp(primary, 'drive_del replication0'))
            out.append(qemu_io(sock, 'colo-disk0', 'write -P 0x5a 4096 65536',
                               'read -P 0x5a 4096 65536', 'flush'))
            out.append(primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                             'child': 'children.1'}))
            out.append(primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                             'child': 'children.0'}))
            out.append(hmp(primary, 'drive_del replication0'))
            out.append(hmp(primary, 'drive_del replication0'))
            out.append(qemu_io(sock, 'colo-disk0', 'write -P 0x66 0 4096'))
            # Attached again; then the secondary dies under it.
            out.append(hmp(primary, buddy))
            out.append(primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                             'node': 'replication0'}))
            out.append(events(primary, 0))
            secondary.proc.kill()
            secondary.proc.wait(10)
            procs.awaited(secondary.proc)
            out.append(qemu_io(sock, 'colo-disk0', 'write -P 0x77 8192 4096',
                               'read -P 0x77 8192 4096'))
            out.append([b['device'] for b in primary.qmp.cmd('query-block')['return']])
            # Both events are rate-limited to one a second: wait for the held-back one too.
            out.append(events(primary, 1.5))
        finally:
            primary.kill()
            secondary.kill()
        pri_bytes = open(pri, 'rb').read()
        sec_bytes = open(sec, 'rb').read()
        assert pri_bytes[4096:8192] + pri_bytes[12288:69632] == b'\x5a' * 61440, label
        assert sec_bytes[4096:4096 + 65536] == b'\x5a' * 65536, label
        assert pri_bytes[:4096] == b'\x66' * 4096 and sec_bytes[:4096] == b'\0' * 4096, label
        assert pri_bytes[8192:12288] == b'\x77' * 4096, label
        results[label] = out
    for i, (o, r) in enumerate(zip(results['ours'], results['ref'])):
        assert o == r, (i, o, r)
    bad = [e for e in results['ours'][-1] if e[0] == 'QUORUM_REPORT_BAD']
    assert bad and bad[0][1]['node-name'] == 'replication0' and bad[0][1]['type'] == 'write'


def test_three_children_as_debian(tmp_path):
    """vote-threshold=2 over three images: a write lands on all three; one replica changed
    behind the quorum's back is outvoted and reported; two changed differently make the read
    fail with QUORUM_FAILURE; rewrite-corrupted repairs the odd one."""
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        imgs = [image(tmp_path / f'{label}-{i}.img') for i in range(3)]
        sock = str(tmp_path / f'{label}.sock')
        kids = ','.join(f'children.{i}.driver=raw,children.{i}.node-name=c{i},'
                        f'children.{i}.file.driver=file,children.{i}.file.filename={p}'
                        for i, p in enumerate(imgs))
        vm = QemuProcess(binary, BASE_ARGS + [
            '-blockdev', f'driver=quorum,node-name=q,vote-threshold=2,rewrite-corrupted=on,'
                         f'{kids}'], timeout=10)
        out = []
        try:
            vm.qmp.command('nbd-server-start', {'addr': {'type': 'unix', 'data': {
                'path': sock}}})
            vm.qmp.command('nbd-server-add', {'device': 'q', 'writable': True})
            out.append(qemu_io(sock, 'q', 'write -P 0x11 0 65536'))
            with open(imgs[2], 'r+b') as f:
                f.seek(1024)
                f.write(b'\xee' * 100)
            out.append(qemu_io(sock, 'q', 'read -P 0x11 0 4096'))
            out.append(events(vm))
            out.append(open(imgs[2], 'rb').read(65536) == b'\x11' * 65536)
            for i, b in ((1, b'\xaa'), (2, b'\xbb')):
                with open(imgs[i], 'r+b') as f:
                    f.seek(8192)
                    f.write(b * 512)
            out.append(qemu_io(sock, 'q', 'read 8192 512', check=False))
            out.append(events(vm))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'q', 'child': 'children.2'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'q', 'child': 'children.1'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'nope', 'child': 'x'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'q'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'q', 'child': 'a', 'node': 'b'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'q', 'node': 'b'}))
            out.append(vm.qmp.cmd('x-blockdev-change', {'parent': 'c0', 'node': 'c2'}))
        finally:
            vm.kill()
        results[label] = out
    for i, (o, r) in enumerate(zip(results['ours'], results['ref'])):
        assert o == r, i
    ours = results['ours']
    assert ours[2] and ours[2][0][0] == 'QUORUM_REPORT_BAD' and ours[3] is True
    assert any(e[0] == 'QUORUM_FAILURE' for e in ours[5])


def test_drive_add_del_as_debian(tmp_path):
    """HMP drive_add (a -drive if=none; other interfaces refused; -n without node-name) and
    drive_del (drives, monitor-owned nodes, unknown ids) on the pc machine, as Debian's."""
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        img = image(tmp_path / f'{label}.img')
        vm = QemuProcess(binary, ['-M', 'pc', '-nodefaults', '-display', 'none', '-S',
                                  '-drive', f'if=none,id=plain,file={img},format=raw,'
                                            'file.locking=off'], timeout=20)
        out = []
        try:
            for line in (f'drive_add 0 if=none,id=d9,file={img},format=raw,file.locking=off',
                         f'drive_add 0 id=d8,file={img},format=raw,file.locking=off',
                         f'drive_add 0 if=virtio,id=d7,file={img},format=raw,file.locking=off',
                         f'drive_add -n buddy driver=raw,file.driver=file,file.filename={img},'
                         'file.locking=off',
                         f'drive_add -n buddy driver=raw,file.driver=file,file.filename={img},'
                         'file.locking=off,node-name=n0',
                         f'drive_add -n buddy driver=raw,file.driver=file,file.filename={img},'
                         'file.locking=off,node-name=n0',
                         'drive_del n0', 'drive_del n0', 'drive_del d9', 'drive_del d9',
                         'drive_del d8', 'drive_del plain', 'drive_del plain'):
                out.append(hmp(vm, line))
            out.append(sorted(b['device'] for b in vm.qmp.cmd('query-block')['return']))
        finally:
            vm.kill()
        results[label] = out
    assert results['ours'] == results['ref']
    assert results['ours'][0] == {'return': 'OK\r\n'}
