"""The replication block driver beside Debian's QEMU 7.2: the runbook's disk lines and option
errors word for word, and a guest-free replicated pair (two processes of one binary: the
primary's quorum with a replication child over real NBD to the secondary's parent0) driven by
Xen's QMP commands. Writes through the primary land on the secondary disk while the secondary's
view (its colo-disk0, read over a second NBD export) stays at the last checkpoint; a checkpoint
makes the views equal byte for byte; a failover commits the secondary's own writes into its disk
and drops the primary's uncheckpointed ones; the overlays are clean for qemu-img check."""
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest

import guest
from qmp import QMPClient
from procs import free_port  # tests/functional/lib is on sys.path (conftest.py)

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU, startup_outcome
from lib.qmp import QemuProcess

SIZE = 1024 * 1024


def raw_image(path, byte):
    with open(path, 'wb') as f:
        f.write(bytes([byte]) * SIZE)
    return str(path)


def qcow2_image(path):
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), str(SIZE)], check=True)
    return str(path)


def qemu_io(url, *cmds, check=True):
    argv = ['qemu-io', '-f', 'raw']
    for c in cmds:
        argv += ['-c', c]
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0 and 'error' not in r.stdout.lower() and \
            'fail' not in r.stdout.lower(), (url, r.stdout, r.stderr)
    return re.sub(r'.*ops/sec.*\n', '', r.stdout)


def nbd_bytes(url):
    """The whole export's bytes (qemu-img convert to a private file)."""
    out = url.replace('/', '_').replace(':', '_').replace('?', '_')[-60:] + '.bin'
    out = os.path.join('/tmp', 'qc-repl-' + str(os.getpid()) + out)
    try:
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', url, out],
                       check=True, capture_output=True, timeout=60)
        with open(out, 'rb') as f:
            return f.read()
    finally:
        if os.path.exists(out):
            os.unlink(out)


def secondary_drives(sec, active, hidden):
    return ['-drive', f'if=none,id=parent0,file={sec},format=raw',
            '-drive', 'if=none,id=childs0,driver=replication,mode=secondary,top-id=colo-disk0,'
                      f'file.driver=qcow2,file.file.filename={active},'
                      f'file.backing.driver=qcow2,file.backing.file.filename={hidden},'
                      'file.backing.backing=parent0',
            '-drive', 'if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,'
                      'children.0=childs0']


class GuestFreePair:
    """The runbook's replicated pair without a guest: the secondary's parent0 (@sec, a raw
    image of 0x11 bytes, opened with @parent0_opts), its overlays and quorum, exported over
    NBD with the view `view` of its colo-disk0; the primary's quorum over its own image. Call
    add_child() (the primary's drive_add; its reply) then start_replication()."""

    def __init__(self, tmp_path, primary_bin, secondary_bin, parent0_opts=''):
        self.sec = raw_image(tmp_path / 'sec.img', 0x11)
        self.pri = raw_image(tmp_path / 'pri.img', 0x11)
        self.active = qcow2_image(tmp_path / 'active.qcow2')
        self.hidden = qcow2_image(tmp_path / 'hidden.qcow2')
        self.port = free_port()
        psock = str(tmp_path / 'pri.sock')
        self.psock = psock
        self.view = f'nbd://127.0.0.1:{self.port}/view'
        self.primary_view = f'nbd+unix:///colo-disk0?socket={psock}'
        drives = secondary_drives(self.sec, self.active, self.hidden)
        drives[1] += parent0_opts
        self.secondary = QemuProcess(secondary_bin, BASE_ARGS + drives, timeout=20)
        try:
            self.primary = QemuProcess(primary_bin, BASE_ARGS + [
                '-drive', 'if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,'
                f'vote-threshold=1,children.0.file.filename={self.pri},children.0.driver=raw'],
                timeout=20)
        except BaseException:
            self.secondary.kill()
            raise

    def add_child(self):
        """The secondary's exports (spec §9.3 step 1) and its replication started, then the
        primary's drive_add of its replication child: the HMP reply."""
        s = self.secondary.qmp
        s.command('nbd-server-start', {'addr': {'type': 'inet', 'data': {
            'host': '127.0.0.1', 'port': str(self.port)}}})
        s.command('nbd-server-add', {'device': 'parent0', 'writable': True})
        s.command('nbd-server-add', {'device': 'colo-disk0', 'name': 'view', 'writable': True})
        s.command('xen-set-replication', {'enable': True, 'primary': False})
        return self.primary.qmp.command('human-monitor-command', {'command-line':
                                        'drive_add -n buddy driver=replication,mode=primary,'
                                        f'file.driver=nbd,file.host=127.0.0.1,'
                                        f'file.port={self.port},file.export=parent0,'
                                        'node-name=replication0'})

    def start_replication(self):
        """The child joins the primary's quorum, replication starts there, and the primary's
        colo-disk0 is exported on its unix socket (primary_view)."""
        p = self.primary.qmp
        p.command('x-blockdev-change', {'parent': 'colo-disk0', 'node': 'replication0'})
        p.command('xen-set-replication', {'enable': True, 'primary': True})
        p.command('nbd-server-start', {'addr': {'type': 'unix', 'data': {'path': self.psock}}})
        p.command('nbd-server-add', {'device': 'colo-disk0', 'writable': True})

    def kill(self):
        self.primary.kill()
        self.secondary.kill()


def test_option_errors_as_debian(tmp_path):
    """-drive and -blockdev lines with the replication driver: the same exit and messages as
    Debian's QEMU, good lines (the runbook's secondary) start on both."""
    sec = raw_image(tmp_path / 'sec.img', 0)
    active = qcow2_image(tmp_path / 'active.qcow2')
    hidden = qcow2_image(tmp_path / 'hidden.qcow2')
    f = f'file.driver=file,file.filename={sec}'
    cases = [
        ['-drive', f'if=none,id=d0,driver=replication,{f}'],
        ['-drive', f'if=none,id=d0,driver=replication,mode=primary,top-id=x,{f}'],
        ['-drive', f'if=none,id=d0,driver=replication,mode=secondary,{f}'],
        ['-drive', f'if=none,id=d0,driver=replication,mode=bogus,{f}'],
        ['-drive', 'if=none,id=d0,driver=replication,mode=primary'],
        ['-drive', f'if=none,id=d0,driver=replication,mode=primary,foo=1,{f}'],
        ['-drive', f'if=none,id=d0,driver=replication,mode=primary,{f}'],
        ['-blockdev', f'driver=replication,{f}'],
        ['-blockdev', f'driver=replication,mode=bogus,{f}'],
        ['-blockdev', f'driver=replication,node-name=r,mode=bogus,{f}'],
        ['-blockdev', f'driver=replication,node-name=r,{f}'],
        ['-blockdev', f'driver=replication,node-name=r,mode=primary,top-id=x,{f}'],
        ['-blockdev', f'driver=replication,node-name=r,mode=secondary,{f}'],
        ['-blockdev', 'driver=replication,node-name=r,mode=primary'],
        ['-blockdev', f'driver=replication,node-name=r,mode=primary,foo=1,{f}'],
        ['-blockdev', f'driver=replication,node-name=r,mode=secondary,top-id=t,{f}'],
        secondary_drives(sec, active, hidden),
    ]
    for args in cases:
        got = [startup_outcome(binary, args) for binary in (QEMU, DEBIAN_QEMU)]
        assert got[0] == got[1], args
    assert got[0][0] == 0


def test_api_errors_as_debian(tmp_path):
    """xen-set-replication / query-xen-replication-status / xen-colo-do-checkpoint on single
    replication nodes: not started, started twice, the wrong mode, a secondary whose chain is
    short or whose top-id names nothing, stop without failover: the answers of Debian's."""
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        d = tmp_path / label
        d.mkdir()
        sec = raw_image(d / 'sec.img', 0x11)
        active = qcow2_image(d / 'active.qcow2')
        hidden = qcow2_image(d / 'hidden.qcow2')
        out = []
        cmds = [('query-xen-replication-status', None),
                ('xen-colo-do-checkpoint', None),
                ('xen-set-replication', {'enable': False, 'primary': False}),
                ('xen-set-replication', {'enable': True, 'primary': True}),
                ('xen-set-replication', {'enable': True, 'primary': False}),
                ('query-xen-replication-status', None),
                ('xen-set-replication', {'enable': True, 'primary': False}),
                ('xen-colo-do-checkpoint', None),
                ('query-xen-replication-status', None),
                ('xen-set-replication', {'enable': False, 'primary': False}),
                ('query-xen-replication-status', None),
                ('xen-colo-do-checkpoint', None),
                ('xen-set-replication', {'enable': True, 'primary': False}),
                ('xen-set-replication', {'enable': False, 'primary': False})]
        setups = [
            secondary_drives(sec, active, hidden),
            # no hidden disk: active sits on parent0 directly
            ['-drive', f'if=none,id=parent0,file={sec},format=raw',
             '-drive', 'if=none,id=childs0,driver=replication,mode=secondary,top-id=childs0,'
                       f'file.driver=qcow2,file.file.filename={active},file.backing=parent0'],
            # the primary's node over a raw file
            ['-drive', 'if=none,id=r0,driver=replication,mode=primary,'
                       f'file.driver=raw,file.file.filename={sec}'],
        ]
        for setup in setups:
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', active, str(SIZE)])
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', hidden, str(SIZE)])
            vm = QemuProcess(binary, BASE_ARGS + setup, timeout=20)
            try:
                for name, args in cmds:
                    r = vm.qmp.cmd(name, args)
                    out.append((name, r.get('return', r.get('error'))))
            finally:
                vm.kill()
        results[label] = out
    for i, (o, r) in enumerate(zip(results['ours'], results['ref'])):
        assert o == r, (i, o, r)
    ours = results['ours']
    assert ('xen-set-replication', {'class': 'GenericError',
                                   'desc': 'Block replication is running or done'}) in ours
    assert ('query-xen-replication-status',
            {'error': True, 'desc': 'Block replication is not running'}) in ours


def test_top_id_not_found(tmp_path):
    """A top-id that names nothing: upstream's "No top_bs or it is invalid" (Debian's 7.2 then
    aborts on an assertion, a bug we do not copy); the node stays stopped, the disks as they
    were, and the pair can still be torn down."""
    sec = raw_image(tmp_path / 'sec.img', 0x11)
    active = qcow2_image(tmp_path / 'active.qcow2')
    hidden = qcow2_image(tmp_path / 'hidden.qcow2')
    drives = [a.replace('top-id=colo-disk0', 'top-id=nope')
              for a in secondary_drives(sec, active, hidden)]
    vm = QemuProcess(QEMU, BASE_ARGS + drives, timeout=20)
    try:
        start = {'enable': True, 'primary': False}
        for _ in range(2):
            r = vm.qmp.cmd('xen-set-replication', start)
            assert r['error'] == {'class': 'GenericError', 'desc': 'No top_bs or it is invalid'}
        assert vm.qmp.command('query-xen-replication-status') == {
            'error': True, 'desc': 'Block replication is not running'}
        assert vm.shutdown() == 0
    finally:
        vm.kill()
    for img in (active, hidden):
        r = subprocess.run(['qemu-img', 'check', img], capture_output=True, text=True)
        assert r.returncode == 0, (img, r.stdout, r.stderr)


PAIRS = pytest.mark.parametrize('primary_bin,secondary_bin', [
    (QEMU, QEMU), (DEBIAN_QEMU, QEMU), (QEMU, DEBIAN_QEMU), (DEBIAN_QEMU, DEBIAN_QEMU)],
    ids=['ours-ours', 'debian-ours', 'ours-debian', 'debian-debian'])


@PAIRS
def test_replicated_pair(tmp_path, primary_bin, secondary_bin):
    """Two of our processes as the runbook wires them, guest-free: the primary's quorum over its
    image and a replication child over NBD to the secondary's parent0. The primary's writes reach
    the secondary disk at once, the secondary's view only at xen-colo-do-checkpoint, then equal to
    the primary's byte for byte; the backup kept the old data in hidden meanwhile. A failover
    keeps the secondary's own writes and drops the primary's uncheckpointed ones. Each side is
    ours or Debian's: the pair interoperates and Debian's pair passes the same checks."""
    pair = GuestFreePair(tmp_path, primary_bin, secondary_bin)
    primary, secondary = pair.primary, pair.secondary
    sec, active, hidden, port = pair.sec, pair.active, pair.hidden, pair.port
    view, primary_view = pair.view, pair.primary_view
    try:
        s, p = secondary.qmp, primary.qmp
        assert pair.add_child() == ''
        pair.start_replication()

        qemu_io(primary_view, 'write -P 0x5a 4096 65536')
        with open(sec, 'rb') as f:
            assert f.read()[4096:4096 + 65536] == b'\x5a' * 65536  # on the secondary disk
        assert nbd_bytes(view) == b'\x11' * SIZE  # the secondary's view: the checkpoint's
        assert p.command('query-xen-replication-status') == {'error': False}
        assert s.command('query-xen-replication-status') == {'error': False}

        s.command('xen-colo-do-checkpoint')
        p.command('xen-colo-do-checkpoint')
        assert nbd_bytes(view) == nbd_bytes(primary_view)
        assert nbd_bytes(view)[4096:4096 + 65536] == b'\x5a' * 65536

        # The secondary's own write (its guest) and an uncheckpointed write of the primary.
        qemu_io(view, 'write -P 0x77 524288 8192')
        qemu_io(primary_view, 'write -P 0x33 262144 4096', 'write -P 0x34 0 512')
        sv = nbd_bytes(view)
        assert sv[262144:262144 + 4096] == b'\x11' * 4096 and sv[:512] == b'\x11' * 512
        assert sv[524288:524288 + 8192] == b'\x77' * 8192

        # The primary dies: the secondary fails over (runbook: nbd-server-stop first).
        primary.kill()
        s.command('nbd-server-stop')
        s.command('xen-set-replication', {'enable': False, 'primary': False, 'failover': True})
        # Upstream commits in a job and reports the cancelled backup's I/O error until the job
        # is done; ours commits before answering. Either way the error clears.
        for _ in range(100):
            status = s.command('query-xen-replication-status')
            if status == {'error': False}:
                break
            time.sleep(0.1)
        assert status == {'error': False}
        # Replication is done: start, checkpoint and stop are no-ops now, as upstream.
        s.command('xen-set-replication', {'enable': True, 'primary': False})
        s.command('xen-colo-do-checkpoint')
        s.command('nbd-server-start', {'addr': {'type': 'inet', 'data': {
            'host': '127.0.0.1', 'port': str(port)}}})
        s.command('nbd-server-add', {'device': 'colo-disk0', 'name': 'view', 'writable': True})
        qemu_io(view, 'write -P 0x99 786432 4096')  # the survivor writes its disk directly
        after = nbd_bytes(view)
        assert after[786432:786432 + 4096] == b'\x99' * 4096
        s.command('nbd-server-stop')
        assert secondary.shutdown() == 0
    finally:
        primary.kill()
        secondary.kill()
    want = bytearray(sv)
    want[786432:786432 + 4096] = b'\x99' * 4096
    with open(sec, 'rb') as f:
        assert f.read() == bytes(want)  # exactly what the secondary saw, then its own write
    for img in (active, hidden):
        r = subprocess.run(['qemu-img', 'check', img], capture_output=True, text=True)
        assert r.returncode == 0, (img, r.stdout, r.stderr)


@PAIRS
def test_read_only_secondary_disk(tmp_path, primary_bin, secondary_bin):
    """parent0 opened readonly=on: 7.2 takes nbd-server-add writable and exports it read-only,
    so the primary's drive_add of its replication child fails (no node), and replication never
    starts. Each side ours or Debian's, with Debian's words."""
    pair = GuestFreePair(tmp_path, primary_bin, secondary_bin, parent0_opts=',readonly=on')
    try:
        assert pair.add_child() == 'Could not open image: Permission denied\r\n'
        r = pair.primary.qmp.cmd('x-blockdev-change', {'parent': 'colo-disk0',
                                                       'node': 'replication0'})
        assert r['error'] == {'class': 'GenericError', 'desc': "Node 'replication0' not found"}
        # no replication node on the primary: nothing to report
        assert pair.primary.qmp.command('query-xen-replication-status') == {'error': False}
    finally:
        pair.kill()


@PAIRS
@pytest.mark.parametrize('fault', ['full', 'immutable'])
def test_secondary_disk_fault(tmp_path, primary_bin, secondary_bin, fault):
    """The secondary disk stops taking writes under a running pair: full (RLIMIT_FSIZE below
    the writes, set on the running secondary with prlimit: EFBIG, sent as NBD ENOSPC) or
    made immutable underneath (chattr +i: EPERM). As 7.2: the primary's write succeeds (its
    own image), its replication node records the error, the secondary records nothing and
    lives on (SIGXFSZ does not end it); writes the disk still takes land. Each side ours or
    Debian's."""
    if fault == 'immutable' and os.geteuid() != 0:
        pytest.skip('chattr +i needs root')  # CI runs as root
    pair = GuestFreePair(tmp_path, primary_bin, secondary_bin)
    p, s = pair.primary.qmp, pair.secondary.qmp
    try:
        assert pair.add_child() == ''
        pair.start_replication()
        qemu_io(pair.primary_view, 'write -P 0x22 0 4096')
        if fault == 'full':
            half = str(SIZE // 2)
            subprocess.run(['prlimit', f'--pid={pair.secondary.proc.pid}', f'--fsize={half}'],
                           check=True)
        else:
            subprocess.run(['chattr', '+i', pair.sec], check=True)
        assert p.command('query-xen-replication-status') == {'error': False}
        qemu_io(pair.primary_view, 'write -P 0x5a 786432 65536')
        with open(pair.pri, 'rb') as f:
            assert f.read()[786432:786432 + 65536] == b'\x5a' * 65536
        with open(pair.sec, 'rb') as f:
            got = f.read()
        assert got[786432:786432 + 65536] == b'\x11' * 65536
        assert got[:4096] == b'\x22' * 4096
        assert p.command('query-xen-replication-status') == {
            'error': True, 'desc': 'I/O error occurred'}
        assert s.command('query-xen-replication-status') == {'error': False}
        assert s.command('query-status')['status'] == 'running'
        assert pair.secondary.proc.poll() is None
        if fault == 'full':
            qemu_io(pair.primary_view, 'write -P 0x33 8192 4096')  # below the limit
            with open(pair.sec, 'rb') as f:
                assert f.read()[8192:8192 + 4096] == b'\x33' * 4096
        # a checkpoint goes through on both sides (7.2's COLO would carry on)
        s.command('xen-colo-do-checkpoint')
        p.command('xen-colo-do-checkpoint')
    finally:
        if fault == 'immutable':
            subprocess.run(['chattr', '-i', pair.sec], check=True)
        pair.kill()


def test_monitor_adds_as_debian(tmp_path):
    """HMP drive_add -n buddy (the runbook's way to add the primary's child) and QMP
    blockdev-add with replication options, good and bad: Debian's answers word for word."""
    sec = raw_image(tmp_path / 'sec.img', 0)
    port = free_port()
    nbd = f'file.driver=nbd,file.host=127.0.0.1,file.port={port},file.export=parent0'
    lines = [
        f'drive_add -n buddy driver=replication,{nbd},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=primary,top-id=x,{nbd},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=secondary,{nbd},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=other,{nbd},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=primary,{nbd}',
        'drive_add -n buddy driver=replication,mode=primary,node-name=r1',
        f'drive_add -n buddy driver=replication,mode=primary,bogus=1,{nbd},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=primary,file.driver=file,'
        f'file.filename={sec},node-name=r1',
        f'drive_add -n buddy driver=replication,mode=primary,file.driver=file,'
        f'file.filename={sec},node-name=r1',
        'drive_del r1',
    ]
    f = {'driver': 'file', 'filename': sec}
    adds = [
        {'driver': 'replication', 'node-name': 'r2', 'file': f},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'x', 'file': f},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'primary', 'top-id': 't',
         'file': f},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'secondary', 'file': f},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'primary'},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'primary', 'file': f},
        {'driver': 'replication', 'node-name': 'r2', 'mode': 'primary', 'file': f},
    ]
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        vm = QemuProcess(binary, BASE_ARGS, timeout=20)
        out = []
        try:
            for line in lines:
                out.append(vm.qmp.command('human-monitor-command', {'command-line': line}))
            for args in adds:
                r = vm.qmp.cmd('blockdev-add', args)
                out.append(r.get('return', r.get('error')))
            out.append(vm.qmp.command('query-xen-replication-status'))
        finally:
            vm.kill()
        results[label] = out
    for i, (o, r) in enumerate(zip(results['ours'], results['ref'])):
        assert o == r, (i, o, r)
    assert results['ours'][7] == '' and results['ours'][-3] == {}
    assert results['ours'][-2]['desc'] == "Duplicate nodes with node-name='r2'"


@pytest.fixture(scope='module')
def built():
    return guest.build_guest()


def guest_write(vm, name):
    """A 64 KiB file written and fsync'd by the guest; its answer names the content's sha256."""
    status, body = guest.http_get('127.0.0.1', vm.ports['http'],
                                  f'/cgi-bin/disk?op=write&name={name}&kib=64&seed={name}',
                                  timeout=180)
    assert status == 200 and body.startswith(f'name {name} '), body
    return name, body.strip()


def test_guest_writes_replicated(built, tmp_path):
    """The test guest on our primary (-S until the replication child is in, as the runbook)
    appends fsync'd files to its ext4 disk, a quorum over its image and the replication child
    over NBD to our secondary. Checkpoints come from xen-colo-do-checkpoint on the secondary
    meanwhile; with the guest stopped, one more checkpoint makes the secondary's view equal
    to the primary's image byte for byte. The guest writes once more, the primary is killed and
    the secondary fails over: its disk is the primary's at the checkpoint byte for byte (the
    late write undone from the hidden disk), and (journal replayed) passes e2fsck with every
    checkpointed file in it."""
    mib = 64
    pri = str(tmp_path / 'pri.raw')
    sec = str(tmp_path / 'sec.raw')
    subprocess.run(['truncate', '-s', f'{mib}M', pri], check=True)
    subprocess.run(['mkfs.ext4', '-q', '-F', pri], check=True)
    shutil.copyfile(pri, sec)
    active, hidden = str(tmp_path / 'active.qcow2'), str(tmp_path / 'hidden.qcow2')
    for img in (active, hidden):
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, f'{mib}M'], check=True)
    port = free_port()
    view = f'nbd://127.0.0.1:{port}/view'
    secondary = QemuProcess(QEMU, BASE_ARGS + secondary_drives(sec, active, hidden), timeout=20)
    qmp_path = str(tmp_path / 'pri-qmp.sock')
    primary = guest.GuestVM(QEMU, built, qmp_path=qmp_path, append='qc.disk=/dev/vda',
                            extra_args=['-S', '-drive',
                                        'if=virtio,id=colo-disk0,driver=quorum,'
                                        'read-pattern=fifo,vote-threshold=1,'
                                        f'children.0.file.filename={pri},children.0.driver=raw'])
    written = []
    try:
        s = secondary.qmp
        s.command('nbd-server-start', {'addr': {'type': 'inet', 'data': {
            'host': '127.0.0.1', 'port': str(port)}}})
        s.command('nbd-server-add', {'device': 'parent0', 'writable': True})
        s.command('nbd-server-add', {'device': 'colo-disk0', 'name': 'view'})
        s.command('xen-set-replication', {'enable': True, 'primary': False})
        primary.start()
        for _ in range(500):
            if os.path.exists(qmp_path):
                break
            time.sleep(0.02)
        p = QMPClient(qmp_path, timeout=60)
        assert p.command('human-monitor-command', {'command-line':
                         'drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,'
                         f'file.host=127.0.0.1,file.port={port},file.export=parent0,'
                         'node-name=replication0'}) == ''
        p.command('x-blockdev-change', {'parent': 'colo-disk0', 'node': 'replication0'})
        p.command('xen-set-replication', {'enable': True, 'primary': True})
        p.command('cont')
        primary.wait_ready(timeout=300)
        for i in range(6):
            written.append(guest_write(primary, f'f{i}'))
            s.command('xen-colo-do-checkpoint')
        assert p.command('query-xen-replication-status') == {'error': False}
        assert s.command('query-xen-replication-status') == {'error': False}
        p.command('stop')
        s.command('xen-colo-do-checkpoint')
        r = subprocess.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'raw', pri, view],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(pri, 'rb') as f:
            at_checkpoint = f.read()
        # One more file after the last checkpoint: it reaches the secondary disk, but the
        # failover must undo it (the secondary resumes from the checkpoint).
        p.command('cont')
        guest_write(primary, 'late')
        with open(sec, 'rb') as f:
            assert f.read() != at_checkpoint
        p.close()
        primary.stop()
        s.command('nbd-server-stop')
        s.command('xen-set-replication', {'enable': False, 'primary': False, 'failover': True})
        assert s.command('query-xen-replication-status') == {'error': False}
        assert secondary.shutdown() == 0
    finally:
        primary.stop()
        secondary.kill()
    with open(sec, 'rb') as f:
        assert f.read() == at_checkpoint
    # The guest never unmounted: its fsync'd files are in the journal, which e2fsck replays
    # (exit 0 or 1: journal replayed); then the file system must be clean.
    fsck = subprocess.run(['e2fsck', '-fy', sec], capture_output=True, text=True)
    assert fsck.returncode in (0, 1), fsck.stdout + fsck.stderr
    fsck = subprocess.run(['e2fsck', '-fn', sec], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for name, answer in written:
        got = subprocess.run(['debugfs', '-R', f'cat /{name}', sec], capture_output=True)
        assert got.returncode == 0
        assert f'sha256 {hashlib.sha256(got.stdout).hexdigest()}' in answer
    for img in (active, hidden):
        r = subprocess.run(['qemu-img', 'check', img], capture_output=True, text=True)
        assert r.returncode == 0, (img, r.stdout, r.stderr)
