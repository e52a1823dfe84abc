"""The NBD server against the clients a COLO user has: Debian's qemu-img and qemu-io, libnbd's
nbdinfo and nbdcopy; hostile and vanishing clients; and the nbd-server-* commands beside
Debian's QEMU 7.2.

The interop cases are served by tests/nbd/nbd-mem-server: the same server code the QMP
commands drive, over files read into memory and written back when it stops; exports of block
nodes through the binary are checked beside Debian's QEMU."""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU
from lib.qmp import QemuProcess

import procs  # tests/functional/lib is on sys.path (conftest.py)

BUILD = os.path.dirname(os.path.abspath(QEMU))
MEM_SERVER = os.path.join(BUILD, 'tests', 'nbd', 'nbd-mem-server')
SIZE = 4 * 1024 * 1024

NBD_OPTS_MAGIC = 0x49484156454F5054
NBD_REQUEST_MAGIC = 0x25609513


def run(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode:
        raise AssertionError('%s: rc %d\n%s%s' % (' '.join(cmd), r.returncode, r.stdout, r.stderr))
    return r


class MemServer:
    """nbd-mem-server on a free loopback port; stop() writes the exports back to their files."""

    def __init__(self, *exports):
        if not os.path.exists(MEM_SERVER):
            pytest.fail(f'{MEM_SERVER} is not built')
        self.proc = subprocess.Popen([MEM_SERVER, '127.0.0.1:0'] + list(exports),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r'port (\d+)', line)
        if not m:
            self.proc.kill()
            pytest.fail('nbd-mem-server did not start: %r %s' % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))

    def uri(self, name):
        return f'nbd://127.0.0.1:{self.port}/{name}'

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(10) == 0, self.proc.stderr.read()


@pytest.fixture
def server_factory():
    started = []

    def start(*exports):
        s = MemServer(*exports)
        started.append(s)
        return s
    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def make_image(path, pattern_seed=None, size=SIZE):
    with open(path, 'wb') as f:
        if pattern_seed is None:
            f.truncate(size)
        else:
            f.write(bytes((i * pattern_seed + (i >> 12)) & 0xff for i in range(size)))
    return str(path)


def test_nbdinfo_lists_exports(tmp_path, server_factory):
    a = make_image(tmp_path / 'a.img')
    b = make_image(tmp_path / 'b.img', size=65536)
    s = server_factory(f'disk={a}', f'small={b},ro')
    out = run('nbdinfo', '--list', '--json', f'nbd://127.0.0.1:{s.port}').stdout
    import json
    info = {e['export-name']: e for e in json.loads(out)['exports']}
    assert set(info) == {'disk', 'small'}
    assert info['disk']['export-size'] == SIZE and info['disk']['is_read_only'] is False
    assert info['small']['export-size'] == 65536 and info['small']['is_read_only'] is True
    assert info['disk']['can_flush'] and info['disk']['can_trim'] and info['disk']['can_zero']


def test_qemu_io_writes_what_qemu_img_then_reads(tmp_path, server_factory):
    disk = make_image(tmp_path / 'disk.img', 7)
    ref = tmp_path / 'ref.img'
    ref.write_bytes(open(disk, 'rb').read())
    ops = ['-c', 'write -P 0x5a 4096 64k', '-c', 'write -z 1m 128k', '-c', 'discard 2m 4096',
           '-c', 'write -P 0xc3 4194000 304', '-c', 'flush']
    s = server_factory(f'disk={disk}')
    out = run('qemu-io', '-f', 'raw', *ops, '-c', 'read -P 0x5a 4096 64k', s.uri('disk')).stdout
    assert 'read 65536/65536 bytes at offset 4096' in out
    # The same operations on a local copy give the same image.
    run('qemu-io', '-f', 'raw', *ops, str(ref))
    info = run('qemu-img', 'info', '--output=json', s.uri('disk')).stdout
    assert '"virtual-size": %d' % SIZE in info
    assert run('qemu-img', 'compare', '-f', 'raw', '-F', 'raw', s.uri('disk'),
               str(ref)).returncode == 0
    s.stop()
    assert open(disk, 'rb').read() == ref.read_bytes()


def test_block_status_base_allocation(tmp_path, server_factory):
    """base:allocation is offered and every extent is data, as nbdinfo and qemu-img read it."""
    img = make_image(tmp_path / 'm.img', size=1 << 20)
    s = server_factory(f'd={img}')
    listing = run('nbdinfo', '--list', s.uri('d')).stdout
    assert 'base:allocation' in listing
    assert run('nbdinfo', '--map', s.uri('d')).stdout.split() == ['0', str(1 << 20), '0', 'data']
    import json
    extents = json.loads(run('qemu-img', 'map', '--output=json', '-f', 'raw', s.uri('d')).stdout)
    assert [(e['start'], e['length'], e['data'], e['zero']) for e in extents] == \
        [(0, 1 << 20, True, False)]


def test_qemu_img_convert_and_compare(tmp_path, server_factory):
    src = make_image(tmp_path / 'src.img', 13)
    s = server_factory(f'src={src},ro')
    out = tmp_path / 'out.qcow2'
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', s.uri('src'), str(out))
    run('qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', s.uri('src'), str(out))
    r = run('qemu-img', 'compare', '-f', 'raw', '-F', 'raw', s.uri('src'),
            make_image(tmp_path / 'zero.img'), check=False)
    assert r.returncode == 1 and 'Content mismatch at offset 0!' in r.stdout


def test_nbdcopy_both_ways(tmp_path, server_factory):
    src = make_image(tmp_path / 'src.img', 3)
    dst = make_image(tmp_path / 'dst.img')
    s = server_factory(f'dst={dst}')
    run('nbdcopy', '--requests=8', src, s.uri('dst'))
    back = tmp_path / 'back.img'
    run('nbdcopy', s.uri('dst'), str(back))
    s.stop()
    assert open(dst, 'rb').read() == open(src, 'rb').read()
    assert back.read_bytes() == open(src, 'rb').read()


def test_refusals_worded_as_against_qemu_nbd(tmp_path, server_factory):
    """A read-only export and an unknown name: qemu-io says the same for ours and qemu-nbd."""
    img = make_image(tmp_path / 'ro.img', 5)
    ours = server_factory(f'disk={img},ro')
    port = procs.free_port()
    qn = subprocess.Popen(['qemu-nbd', '-t', '-r', '-f', 'raw', '-x', 'disk', '-b', '127.0.0.1',
                           '-p', str(port), img], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while run('nbdinfo', f'nbd://127.0.0.1:{port}/disk', check=False).returncode:
            assert time.monotonic() < deadline, 'qemu-nbd did not start'
            time.sleep(0.1)
        results = []
        for p in (ours.port, port):
            texts = []
            for args in (['-c', 'write -P 1 0 512', f'nbd://127.0.0.1:{p}/disk'],
                         ['-r', '-c', 'read 0 512', f'nbd://127.0.0.1:{p}/nope'],
                         ['-r', '-c', 'read -P 0 0 512', f'nbd://127.0.0.1:{p}/disk']):
                r = run('qemu-io', '-f', 'raw', *args, check=False)
                text = re.sub(r'.*ops/sec.*\n', '', r.stdout + r.stderr)
                texts.append((r.returncode, text.replace(str(p), 'PORT')))
            results.append(texts)
        assert results[0] == results[1]
        assert 'Could not open image: Permission denied' in results[0][0][1]
        assert "server reported: export 'nope' not present" in results[0][1][1]
        assert 'Pattern verification failed' in results[0][2][1]
    finally:
        qn.kill()
        qn.wait()


def handshake(port, name=b'disk'):
    """A raw client up to transmission (fixed newstyle, NBD_OPT_EXPORT_NAME)."""
    c = socket.create_connection(('127.0.0.1', port), timeout=5)
    greeting = recv_exact(c, 18)
    assert greeting[:16] == b'NBDMAGICIHAVEOPT'
    c.sendall(struct.pack('>I', 3))
    c.sendall(struct.pack('>QII', NBD_OPTS_MAGIC, 1, len(name)) + name)
    size, flags = struct.unpack('>QH', recv_exact(c, 10))
    return c, size, flags


def recv_exact(c, n):
    data = b''
    while len(data) < n:
        more = c.recv(n - len(data))
        if not more:
            raise EOFError('closed after %d of %d bytes' % (len(data), n))
        data += more
    return data


def closed_by_peer(c):
    c.settimeout(5)
    try:
        return c.recv(1) == b''
    except ConnectionResetError:
        return True


def test_hostile_clients_are_dropped_and_others_served(tmp_path, server_factory):
    img = make_image(tmp_path / 'disk.img', 11)
    s = server_factory(f'disk={img}')
    # Unknown client flags.
    c = socket.create_connection(('127.0.0.1', s.port), timeout=5)
    recv_exact(c, 18)
    c.sendall(struct.pack('>I', 0xffffffff))
    assert closed_by_peer(c)
    # A wrong option magic.
    c = socket.create_connection(('127.0.0.1', s.port), timeout=5)
    recv_exact(c, 18)
    c.sendall(struct.pack('>I', 1) + b'X' * 16)
    assert closed_by_peer(c)
    # A write announcing 4 GiB - 1: never buffered, the connection is dropped at once.
    c, size, flags = handshake(s.port)
    assert size == SIZE
    c.sendall(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 1, 1, 0, 0xffffffff))
    assert closed_by_peer(c)
    # A read past the end is refused with EINVAL and the connection lives on.
    c, size, flags = handshake(s.port)
    c.sendall(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 0, 7, SIZE - 1, 2))
    magic, err, cookie = struct.unpack('>IIQ', recv_exact(c, 16))
    assert (magic, err, cookie) == (0x67446698, 22, 7)
    c.sendall(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 0, 8, 0, 4))
    assert struct.unpack('>IIQ', recv_exact(c, 16)) == (0x67446698, 0, 8)
    assert recv_exact(c, 4) == bytes((i * 11) & 0xff for i in range(4))
    # A client that vanishes halfway through a write payload.
    c2, _, _ = handshake(s.port)
    c2.sendall(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 1, 9, 0, 65536) + b'\xee' * 1000)
    c2.close()
    c.sendall(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 0, 10, 0, 4))
    assert struct.unpack('>IIQ', recv_exact(c, 16)) == (0x67446698, 0, 10)
    assert recv_exact(c, 4) == bytes((i * 11) & 0xff for i in range(4))
    c.close()
    assert run('nbdinfo', '--size', s.uri('disk')).stdout.strip() == str(SIZE)
    s.stop()
    # Nothing of the cut-short write reached the image.
    assert open(img, 'rb').read(4) == bytes((i * 11) & 0xff for i in range(4))


def test_client_that_never_reads_blocks_nobody(tmp_path, server_factory):
    """A client that asks for far more than it reads: the server stops reading its requests
    once its replies back up, and keeps serving everyone else."""
    img = make_image(tmp_path / 'disk.img', 3)
    s = server_factory(f'disk={img}')
    c, _, _ = handshake(s.port)
    c.setblocking(False)
    sent = 0
    reqs = b''.join(struct.pack('>IHHQQI', NBD_REQUEST_MAGIC, 0, 0, i, 0, 1 << 20)
                    for i in range(64))
    deadline = time.monotonic() + 10
    blocked = False
    while not blocked and time.monotonic() < deadline:
        try:
            sent += c.send(reqs)
        except BlockingIOError:
            blocked = True
    assert blocked, 'the server kept reading requests whose replies nobody reads'
    assert sent >= len(reqs)
    for _ in range(3):
        t0 = time.monotonic()
        assert run('nbdinfo', '--size', s.uri('disk')).stdout.strip() == str(SIZE)
        assert time.monotonic() - t0 < 10
    c.close()
    assert run('qemu-io', '-r', '-f', 'raw', '-c', 'read 0 4096', s.uri('disk')).returncode == 0


# ---- the QMP and HMP commands, beside Debian's QEMU ----

def qmp_script(vm, sock_path):
    addr = {'type': 'unix', 'data': {'path': sock_path}}
    out = []
    for name, args in (
            ('nbd-server-stop', None),
            ('nbd-server-add', {'device': 'd0'}),
            ('nbd-server-remove', {'name': 'd0'}),
            ('nbd-server-start', {'addr': addr, 'tls-creds': 'tls0'}),
            ('nbd-server-start', {'addr': {'type': 'unix',
                                           'data': {'path': '/nonexistent/dir/s'}}}),
            ('nbd-server-start', {'addr': addr}),
            ('nbd-server-start', {'addr': addr}),
            ('nbd-server-add', {'device': 'nosuch', 'writable': True}),
            ('nbd-server-remove', {'name': 'nosuch', 'mode': 'hard'}),
            ('nbd-server-remove', {'name': 'x', 'mode': 'soft'}),
            ('nbd-server-start', {'addr': {'type': 'inet', 'data': {'host': '1.2.3.4'}}}),
    ):
        out.append((name, vm.qmp.cmd(name, args)))
    out.append(('hmp', [vm.qmp.hmp(line) for line in (
        'nbd_server_start unix:' + sock_path, 'nbd_server_add nosuch', 'nbd_server_remove x',
        'nbd_server_add', 'help nbd_server_start', 'help nbd_server_add',
        'help nbd_server_remove', 'help nbd_server_stop')]))
    listing = run('nbdinfo', '--list', '--json', f'nbd+unix:///?socket={sock_path}',
                  check=False)
    out.append(('list', listing.returncode, listing.stdout.replace(sock_path, 'SOCK')))
    out.append(('stop', [vm.qmp.cmd('nbd-server-stop'), vm.qmp.cmd('nbd-server-stop'),
                         vm.qmp.hmp('nbd_server_stop'),
                         vm.qmp.hmp('nbd_server_start unix:' + sock_path),
                         vm.qmp.hmp('nbd_server_stop')]))
    out.append(('socket gone', os.path.exists(sock_path)))
    return out


def test_qmp_and_hmp_as_debian(tmp_path):
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            results[label] = qmp_script(vm, str(tmp_path / f'{label}.sock'))
        finally:
            vm.kill()
    ours, ref = results['ours'], results['ref']
    assert ours[0][1]['error']['desc'] == 'NBD server not running'
    assert ours[3][1]['error']['desc'] == "No TLS credentials with id 'tls0'"
    for o, r in zip(ours, ref):
        assert o == r, (o, r)
    assert len(ours) == len(ref)


def test_block_node_exports_as_debian(tmp_path):
    """Exports of a node (-blockdev) and of a drive (-drive id=): qemu-io writes through one,
    nbdinfo reads the other, removal and stop report BLOCK_EXPORT_DELETED; the image ends the
    same with both binaries."""
    results = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        img = make_image(tmp_path / f'{label}.img', 9)
        sock = str(tmp_path / f'{label}.sock')
        vm = QemuProcess(binary, BASE_ARGS + [
            '-blockdev', f'driver=file,filename={img},node-name=n0',
            '-drive', f'if=none,id=drv0,file={img},format=raw,file.locking=off,readonly=on'],
            timeout=10)
        out = []
        try:
            out.append(vm.qmp.cmd('nbd-server-start',
                                  {'addr': {'type': 'unix', 'data': {'path': sock}}}))
            out.append(vm.qmp.cmd('nbd-server-add', {'device': 'n0', 'writable': True}))
            out.append(vm.qmp.cmd('nbd-server-add', {'device': 'drv0', 'name': 'ro'}))
            out.append(vm.qmp.cmd('nbd-server-add', {'device': 'n0'}))
            r = run('qemu-io', '-f', 'raw', '-c', 'write -P 0x33 4096 8192', '-c',
                    'read -P 0x33 4096 8192', f'nbd+unix:///n0?socket={sock}')
            out.append(re.sub(r'.*ops/sec.*\n', '', r.stdout))
            out.append(run('nbdinfo', '--json', f'nbd+unix:///ro?socket={sock}').stdout
                       .replace(sock, 'SOCK'))
            out.append(vm.qmp.cmd('nbd-server-remove', {'name': 'n0'}))
            out.append(vm.qmp.cmd('nbd-server-stop'))
            out.append([(e['event'], e['data']) for e in vm.qmp.get_events(0.5)])
        finally:
            vm.kill()
        out.append(open(img, 'rb').read())
        results[label] = out
    for o, r in zip(results['ours'], results['ref']):
        assert o == r
    assert results['ours'][-1][4096:4096 + 8192] == b'\x33' * 8192


def test_max_connections(tmp_path):
    """At the limit the server stops accepting, as upstream: a second client gets no greeting
    until the first leaves."""
    for binary in (QEMU, DEBIAN_QEMU):
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        path = str(tmp_path / 'mc.sock')
        try:
            vm.qmp.command('nbd-server-start', {'addr': {'type': 'unix', 'data': {'path': path}},
                                                'max-connections': 1})
            a = socket.socket(socket.AF_UNIX)
            a.connect(path)
            a.settimeout(5)
            assert recv_exact(a, 18)[:8] == b'NBDMAGIC'
            b = socket.socket(socket.AF_UNIX)
            b.connect(path)
            b.settimeout(0.5)
            with pytest.raises(socket.timeout):
                b.recv(1)
            a.close()
            b.settimeout(5)
            assert recv_exact(b, 18)[:8] == b'NBDMAGIC', binary
            b.close()
            vm.qmp.command('nbd-server-stop')
        finally:
            vm.kill()
