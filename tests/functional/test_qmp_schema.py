"""query-qmp-schema and query-commands beside Debian's QEMU: the same SchemaInfo shape, the same
masking rules, the same description of every command we share, the same command order."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.qmp import QemuProcess  # noqa: E402
from lib.schema import expand, index, subset_mismatch  # noqa: E402

from conftest import BASE_ARGS, DEBIAN_QEMU, QEMU  # noqa: E402

BUILTIN_JSON = {'str': 'string', 'int': 'int', 'number': 'number', 'bool': 'boolean',
                'null': 'null', 'any': 'value'}
META_KEYS = {
    'builtin': {'json-type'},
    'enum': {'members', 'values'},
    'array': {'element-type'},
    'object': {'members', 'tag', 'variants'},
    'alternate': {'members'},
    'command': {'arg-type', 'ret-type', 'allow-oob'},
    'event': {'arg-type'},
}


@pytest.fixture(scope='module')
def answers():
    """(schema, commands) from each binary, fetched once."""
    out = {}
    for label, binary in (('ours', QEMU), ('ref', DEBIAN_QEMU)):
        vm = QemuProcess(binary, BASE_ARGS, timeout=10)
        try:
            out[label] = (vm.qmp.command('query-qmp-schema'),
                          [c['name'] for c in vm.qmp.command('query-commands')])
        finally:
            vm.kill()
    return out


def referenced(e):
    if e['meta-type'] in ('command', 'event'):
        yield e['arg-type']
        if 'ret-type' in e:
            yield e['ret-type']
    elif e['meta-type'] == 'array':
        yield e['element-type']
    elif e['meta-type'] in ('object', 'alternate'):
        for m in e['members']:
            if 'type' in m:
                yield m['type']
        for v in e.get('variants', []):
            yield v['type']


@pytest.mark.parametrize('label', ['ours', 'ref'])
def test_schema_well_formed(answers, label):
    schema, commands = answers[label]
    names = [e['name'] for e in schema]
    assert len(names) == len(set(names))
    by = index(schema)
    seen_type = False
    for e in schema:
        mt = e['meta-type']
        assert set(e) - {'name', 'meta-type', 'features'} <= META_KEYS[mt], e
        # Commands and events come first, then the types they use.
        if mt in ('command', 'event'):
            assert not seen_type, e
        else:
            seen_type = True
        if mt == 'builtin':
            assert e['json-type'] == BUILTIN_JSON[e['name']]
        elif mt == 'array':
            assert e['name'] == '[%s]' % e['element-type']
        elif mt not in ('command', 'event'):
            assert e['name'].isdigit(), e       # masked
        if mt == 'enum':
            assert [m['name'] for m in e['members']] == e['values']
        if mt == 'object':
            for m in e['members']:
                assert set(m) <= {'name', 'type', 'default', 'features'}
                assert m.get('default', None) is None
            if 'tag' in e:
                assert e['tag'] in [m['name'] for m in e['members']]
                tag_enum = by[[m['type'] for m in e['members'] if m['name'] == e['tag']][0]]
                assert [v['case'] for v in e['variants']] != []
                assert {v['case'] for v in e['variants']} == set(tag_enum['values'])
        for t in referenced(e):
            assert t in by, (e, t)
    # Masked numbers are handed out in order of first use, from 0. Upstream numbers at build
    # time, before conditionals drop entities, so its sequence has gaps and a few inversions.
    order = []
    for e in schema:
        for t in referenced(e):
            base = t.strip('[]')
            if base.isdigit() and int(base) not in order:
                order.append(int(base))
    assert order[0] == 0
    if label == 'ours':
        assert order == list(range(len(order)))
        # Only types in use are described.
        assert {n for n in names if n.isdigit()} == {str(n) for n in order}
    # Every command that query-commands lists is described, and nothing else.
    described = {e['name'] for e in schema if e['meta-type'] == 'command'}
    assert described == set(commands)


def test_integer_types_read_as_int(answers):
    schema, _ = answers['ours']
    builtins = {e['name'] for e in schema if e['meta-type'] == 'builtin'}
    assert builtins <= set(BUILTIN_JSON)
    assert 'int' in builtins


def test_shared_commands_described_alike(answers):
    ours, _ = answers['ours']
    ref, _ = answers['ref']
    ob, rb = index(ours), index(ref)
    shared = [e['name'] for e in ours if e['meta-type'] in ('command', 'event')
              and e['name'] in rb]
    assert 'query-qmp-schema' in shared and 'object-add' in shared and 'STOP' in shared
    problems = []
    for name in shared:
        for key in ('arg-type', 'ret-type'):
            if key not in ob[name]:
                continue
            m = subset_mismatch(expand(ob, ob[name][key]), expand(rb, rb[name][key]),
                                '%s.%s' % (name, key))
            if m:
                problems.append(m)
        assert ob[name].get('allow-oob') == rb[name].get('allow-oob'), name
    assert problems == []


def test_query_commands_order(answers):
    ours = answers['ours'][1]
    ref = answers['ref'][1]
    shared = [c for c in ours if c in ref]
    assert len(shared) >= 20
    assert shared == sorted(shared, key=ref.index)
    # qmp_capabilities is registered first, so it is listed after the other core commands.
    assert ours.index('qmp_capabilities') > ours.index('query-version')
