"""Migration capabilities and parameters, and self-announce, beside Debian's QEMU 7.2.

Both binaries run the same QMP/HMP sequence; replies must match except where docs/migration.md
says we differ (enabling a capability whose behaviour we do not have is refused)."""
import json
import os
import socket
import struct
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.procs import free_port  # noqa: E402
from lib.qmp import QemuProcess  # noqa: E402

from conftest import DEBIAN_QEMU, QEMU  # noqa: E402

NONE_ARGS = ['-M', 'none', '-nodefaults', '-display', 'none']


def run(binary, steps, args=NONE_ARGS):
    """Runs (command, arguments) steps on @binary; returns each whole reply without 'id'."""
    out = []
    with QemuProcess(binary, args) as q:
        for name, arguments in steps:
            reply = q.qmp.cmd(name, arguments) if arguments is not None else q.qmp.cmd(name)
            reply.pop('id', None)
            out.append(reply)
    return out


def both(steps):
    return run(QEMU, steps), run(DEBIAN_QEMU, steps)


def hmp(line):
    return ('human-monitor-command', {'command-line': line})


def test_commands_exist_with_the_same_shapes():
    names = {'migrate-set-capabilities', 'query-migrate-capabilities', 'migrate-set-parameters',
             'query-migrate-parameters', 'announce-self'}
    ours, ref = both([('query-commands', None)])
    for reply in (ours[0], ref[0]):
        assert names <= {c['name'] for c in reply['return']}


def test_queries_and_defaults_match():
    steps = [('query-migrate-capabilities', None), ('query-migrate-parameters', None),
             hmp('info migrate_capabilities'), hmp('info migrate_parameters')]
    ours, ref = both(steps)
    assert ours == ref
    params = ours[1]['return']
    # the values COLO and the migration code read
    assert params['x-checkpoint-delay'] == 20000
    assert params['downtime-limit'] == 300
    assert params['max-bandwidth'] == 128 << 20
    assert (params['announce-initial'], params['announce-max'], params['announce-rounds'],
            params['announce-step']) == (50, 550, 5, 100)
    assert len(ours[0]['return']) == 21 and not any(c['state'] for c in ours[0]['return'])


SET_STEPS = [
    ('migrate-set-parameters', {'downtime-limit': 1234, 'x-checkpoint-delay': 5000,
                                'max-bandwidth': 10 << 30, 'announce-initial': 10,
                                'announce-max': 90, 'announce-rounds': 3, 'announce-step': 20}),
    ('migrate-set-parameters', {'compress-level': 9, 'compress-threads': 255,
                                'decompress-threads': 1, 'compress-wait-thread': False,
                                'throttle-trigger-threshold': 100, 'cpu-throttle-initial': 30,
                                'cpu-throttle-increment': 99, 'cpu-throttle-tailslow': True,
                                'max-cpu-throttle': 30, 'block-incremental': True,
                                'multifd-channels': 255, 'xbzrle-cache-size': 8192,
                                'max-postcopy-bandwidth': 77, 'multifd-compression': 'zstd'}),
    ('migrate-set-parameters', {'tls-creds': 'c0', 'tls-hostname': 'h', 'tls-authz': 'a'}),
    ('query-migrate-parameters', None),
    hmp('info migrate_parameters'),
    ('migrate-set-parameters', {'tls-creds': None, 'multifd-zlib-level': 10,
                                'multifd-zstd-level': 20, 'max-bandwidth': -1}),
    ('migrate-set-parameters', {'block-bitmap-mapping': [
        {'node-name': 'n0', 'alias': 'a0',
         'bitmaps': [{'name': 'b', 'alias': 'x', 'transform': {'persistent': True}}]},
        {'node-name': 'n1', 'alias': 'a1', 'bitmaps': []}]}),
    ('query-migrate-parameters', None),
    hmp('info migrate_parameters'),
    ('migrate-set-parameters', {'block-bitmap-mapping': []}),
    ('query-migrate-parameters', None),
    hmp('info migrate_parameters'),
    ('migrate-set-capabilities', {'capabilities': [
        {'capability': 'events', 'state': True},
        {'capability': 'pause-before-switchover', 'state': True}]}),
    ('migrate-set-capabilities', {'capabilities': []}),
    ('query-migrate-capabilities', None),
    ('migrate-set-capabilities', {'capabilities': [{'capability': 'events', 'state': False}]}),
    hmp('info migrate_capabilities'),
]


def test_set_and_query_round_trip():
    ours, ref = both(SET_STEPS)
    assert ours == ref
    params = ours[3]['return']
    assert params['downtime-limit'] == 1234 and params['tls-creds'] == 'c0'
    assert ours[7]['return']['tls-creds'] == ''
    assert ours[7]['return']['max-bandwidth'] == 2**64 - 1
    assert 'events: off' in ours[-1]['return'] and 'pause-before-switchover: on' in ours[-1][
        'return']


def set_params(**kw):
    return ('migrate-set-parameters', {k.replace('_', '-'): v for k, v in kw.items()})


ERROR_STEPS = [
    set_params(compress_level=10), set_params(compress_level=256), set_params(compress_level=-1),
    set_params(compress_level='a'), set_params(compress_threads=0),
    set_params(decompress_threads=0), set_params(throttle_trigger_threshold=0),
    set_params(throttle_trigger_threshold=101), set_params(cpu_throttle_initial=100),
    set_params(cpu_throttle_increment=0), set_params(downtime_limit=2000001),
    set_params(downtime_limit=-1), set_params(multifd_channels=0),
    set_params(xbzrle_cache_size=1000), set_params(xbzrle_cache_size=2048),
    set_params(max_cpu_throttle=10), set_params(announce_initial=100001),
    set_params(announce_max=100001), set_params(announce_rounds=1001),
    set_params(announce_step=0), set_params(announce_step=10001),
    set_params(x_checkpoint_delay=2**32), set_params(x_checkpoint_delay=-1),
    set_params(max_bandwidth=1.5), set_params(announce_initial='x'),
    set_params(compress_wait_thread=1), set_params(tls_creds=1),
    set_params(multifd_compression='lz4'), set_params(foo=1),
    # nothing of a refused request is applied
    set_params(downtime_limit=1, compress_level=10),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': 'b', 'bitmaps': []},
                                     {'node-name': 'a', 'alias': 'd', 'bitmaps': []}]),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': 'b', 'bitmaps': []},
                                     {'node-name': 'c', 'alias': 'b', 'bitmaps': []}]),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': '1x', 'bitmaps': []}]),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': 'b' * 256, 'bitmaps': []}]),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': 'b', 'bitmaps': [
        {'name': 'x', 'alias': 'y'}, {'name': 'x', 'alias': 'z'}]}]),
    set_params(block_bitmap_mapping=[{'node-name': 'a', 'alias': 'b', 'bitmaps': [
        {'name': 'x', 'alias': 'y'}, {'name': 'w', 'alias': 'y'}]}]),
    ('query-migrate-parameters', None),
    ('migrate-set-capabilities', {'capabilities': [{'capability': 'foo', 'state': True}]}),
    ('migrate-set-capabilities', {}),
    ('migrate-set-capabilities', {'capabilities': [{'capability': 'events'}]}),
    ('announce-self', {}),
    ('announce-self', {'initial': 50, 'max': 550, 'rounds': 5}),
    hmp('migrate_set_parameter foo 1'), hmp('migrate_set_parameter max-bandwidth abc'),
    hmp('migrate_set_parameter max-bandwidth -1'),
    hmp('migrate_set_parameter downtime-limit abc'),
    hmp('migrate_set_parameter xbzrle-cache-size 1'),
    hmp('migrate_set_parameter compress-level 300'),
    hmp('migrate_set_parameter compress-level -1'),
    hmp('migrate_set_parameter compress-level abc'),
    hmp('migrate_set_parameter x-checkpoint-delay 1k'),
    hmp('migrate_set_parameter compress-wait-thread xyz'),
    hmp('migrate_set_parameter multifd-compression xx'),
    hmp('migrate_set_parameter block-bitmap-mapping x'),
    hmp('migrate_set_parameter announce-step 0'), hmp('migrate_set_parameter'),
    hmp('migrate_set_capability foo on'), hmp('migrate_set_capability events maybe'),
    hmp('help migrate_set_parameter'), hmp('help migrate_set_capability'),
    hmp('help announce_self'),
    # HMP value grammar: MiB default for max-bandwidth, size suffixes, C bases, booleans
    hmp('migrate_set_parameter max-bandwidth 1.5'), hmp('migrate_set_parameter downtime-limit 1k'),
    hmp('migrate_set_parameter announce-rounds 0x10'),
    hmp('migrate_set_parameter compress-wait-thread no'),
    hmp('migrate_set_parameter xbzrle-cache-size 8k'),
    hmp('migrate_set_parameter max-postcopy-bandwidth 1k'),
    hmp('migrate_set_parameter tls-creds xyz'), hmp('migrate_set_parameter x-checkpoint-delay 7'),
    hmp('info migrate_parameters'), ('query-migrate-parameters', None),
]


def test_errors_and_hmp_grammar_match():
    ours, ref = both(ERROR_STEPS)
    for step, a, b in zip(ERROR_STEPS, ours, ref):
        assert a == b, step
    # the sequence really exercised errors
    assert sum('error' in r for r in ours) >= 30


def test_capabilities_we_lack_are_refused():
    steps = [
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'xbzrle', 'state': True}]}),
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'events', 'state': True},
                                                       {'capability': 'compress', 'state': True}]}),
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'xbzrle', 'state': False}]}),
        hmp('migrate_set_capability postcopy-ram on'),
        ('query-migrate-capabilities', None),
    ]
    out = run(QEMU, steps)
    assert out[0]['error'] == {'class': 'GenericError',
                               'desc': "Capability 'xbzrle' is not supported by qemu-colo"}
    assert out[1]['error']['desc'] == "Capability 'compress' is not supported by qemu-colo"
    assert out[2] == {'return': {}}
    assert out[3]['return'] == ("Error: Capability 'postcopy-ram' is not supported by "
                                "qemu-colo\r\n")
    # the refused request changed nothing, not even the capability it could have set
    assert not any(c['state'] for c in out[4]['return'])


def test_multifd_and_return_path_accepted_as_debian():
    # pages over extra channels (docs/migration.md, "Multifd"); the return path COLO uses
    steps = [
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'multifd', 'state': True},
                                                       {'capability': 'return-path',
                                                        'state': True}]}),
        ('migrate-set-parameters', {'multifd-channels': 4, 'multifd-compression': 'zlib'}),
        ('migrate-set-parameters', {'multifd-channels': 0}),
        hmp('migrate_set_parameter multifd-compression none'),
        hmp('info migrate_capabilities'),
        ('query-migrate-capabilities', None),
        ('query-migrate-parameters', None),
    ]
    ours, ref = both(steps)
    assert ours == ref
    assert ours[0] == {'return': {}}
    caps = {c['capability']: c['state'] for c in ours[5]['return']}
    assert caps['multifd'] and caps['return-path']
    assert ours[6]['return']['multifd-channels'] == 4
    assert ours[6]['return']['multifd-compression'] == 'none'


def test_x_colo_accepted_as_debian():
    # the COLO frame exists (docs/colo.md): x-colo is set and reported as 7.2 does it
    steps = [
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'x-colo', 'state': True}]}),
        hmp('info migrate_capabilities'),
        ('query-migrate-capabilities', None),
    ]
    ours, ref = both(steps)
    assert ours == ref
    assert ours[0] == {'return': {}}


# ---- self-announce ----

MAC = '52:54:00:12:34:56'


def nic_args(binary, port, dev_id='vnet0'):
    dev = 'virtio-net-pci,netdev=n0,mac=' + MAC + (',id=' + dev_id if dev_id else '')
    if binary == DEBIAN_QEMU:
        dev += ',romfile='  # no iPXE: its DHCP frames would mix with the capture
    # not -S: 7.2 holds a NIC's frames while the VM is stopped (sent at cont)
    return ['-M', 'pc', '-nodefaults', '-display', 'none', '-m', '64',
            '-netdev', 'socket,id=n0,connect=127.0.0.1:%d' % port, '-device', dev]


def read_frames(conn, until):
    """(arrival time, frame) pairs from a -netdev socket stream (be32 length + frame)."""
    frames, buf = [], b''
    while time.monotonic() < until:
        conn.settimeout(max(0.01, until - time.monotonic()))
        try:
            data = conn.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        now = time.monotonic()
        buf += data
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack('>I', buf[:4])[0]:
            n = struct.unpack('>I', buf[:4])[0]
            frames.append((now, buf[4:4 + n]))
            buf = buf[4 + n:]
    return frames


def capture(binary, commands, listen_for, dev_id='vnet0'):
    """Starts @binary with a NIC whose netdev connects to us, runs @commands, returns
    (gaps between frames in ms, frames, replies)."""
    port = free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', port))
    srv.listen(1)
    try:
        with QemuProcess(binary, nic_args(binary, port, dev_id), timeout=30) as q:
            srv.settimeout(30)
            conn, _ = srv.accept()
            with conn:
                # anything the machine sends on its own (nothing: no firmware NIC boot)
                early = read_frames(conn, time.monotonic() + 0.3)
                replies = [q.qmp.cmd(name, args) for name, args in commands]
                start = time.monotonic()
                frames = read_frames(conn, start + listen_for)
    finally:
        srv.close()
    times = [start] + [t for t, _ in frames]
    gaps = [round((b - a) * 1000) for a, b in zip(times, times[1:])]
    return gaps, early + frames, replies


def expected_rarp():
    mac = bytes(int(x, 16) for x in MAC.split(':'))
    body = b'\x80\x35' + struct.pack('>HHBBH', 1, 0x0800, 6, 4, 3) + mac + bytes(4) + mac + \
        bytes(4)
    frame = b'\xff' * 6 + mac + body
    return frame + bytes(60 - len(frame))


# gaps after the first round: 100, 200, then 300 capped at max 250
SCHEDULE = {'initial': 100, 'max': 250, 'rounds': 4, 'step': 100}


def check_schedule(gaps, expected, slack_ms):
    """Each frame's time since the first is compared with the schedule's, not each gap alone: a
    frame that a loaded host delivers late shortens the next gap without any early timer."""
    assert len(gaps) == len(expected), gaps
    got = want = 0
    for n, (gap, step) in enumerate(zip(gaps, expected), 1):
        got, want = got + gap, want + step
        assert want - 5 <= got <= want + n * slack_ms, (gaps, expected)


def test_announce_self_frames_and_timing_match_debian():
    commands = [('announce-self', dict(SCHEDULE))]
    ours = capture(QEMU, commands, 1.5)
    ref = capture(DEBIAN_QEMU, commands, 1.5)
    for gaps, frames, replies in (ours, ref):
        assert replies == [{'return': {}}]
        # Debian's first round may leave before our listener sees the reply; timing from it
        assert [f for _, f in frames] == [expected_rarp()] * 4
        # load on the shared host delays timers: generous upper slack, none below
        check_schedule(gaps[1:], [100, 200, 250], slack_ms=150)
    assert [f for _, f in ours[1]] == [f for _, f in ref[1]]


def test_announce_interfaces_id_and_hmp():
    # an interface list that names no NIC sends nothing; ours names the NIC by its id
    commands = [('announce-self', dict(SCHEDULE, interfaces=['nope'], id='x')),
                ('announce-self', dict(SCHEDULE, rounds=2, interfaces=['vnet0']))]
    for binary in (QEMU, DEBIAN_QEMU):
        gaps, frames, _ = capture(binary, commands, 0.8)
        assert [f for _, f in frames] == [expected_rarp()] * 2, binary
    # a NIC without an id is named after its model, as upstream names it
    commands = [('announce-self', dict(SCHEDULE, rounds=1, interfaces=['virtio-net-pci.0']))]
    for binary in (QEMU, DEBIAN_QEMU):
        gaps, frames, _ = capture(binary, commands, 0.5, dev_id=None)
        assert [f for _, f in frames] == [expected_rarp()], binary
    # HMP takes its schedule from the announce-* migration parameters
    commands = [hmp('migrate_set_parameter announce-rounds 3'),
                hmp('migrate_set_parameter announce-initial 60'),
                hmp('announce_self')]
    for binary in (QEMU, DEBIAN_QEMU):
        gaps, frames, replies = capture(binary, commands, 1.2)
        assert all(r == {'return': ''} for r in replies), replies
        assert [f for _, f in frames] == [expected_rarp()] * 3, binary
        check_schedule(gaps[1:], [60, 160], slack_ms=150)


def test_announce_self_restart_with_same_id():
    # a second announce-self with the same id replaces the running schedule
    long = dict(SCHEDULE, rounds=50, initial=200, step=0, max=200, id='t')
    commands = [('announce-self', long), ('announce-self', dict(long, rounds=1))]
    gaps, frames, _ = capture(QEMU, commands, 1.0)
    assert len(frames) == 2, gaps
