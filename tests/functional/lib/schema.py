"""query-qmp-schema helpers: unmask an answer into plain structures that two binaries can share.

expand(by_name, name) turns a (masked) type name into: the builtin's name, [element] for
arrays, {'enum': [values]}, {'alternate': [...]}, or {'members': {'name' / '*name': type},
'tag': ..., 'variants': {case: type}} for objects (a type met again inside itself is '<rec>').
"""


def index(schema):
    return {e['name']: e for e in schema}


def expand(by, name, seen=()):
    e = by[name]
    mt = e['meta-type']
    if mt == 'builtin':
        return name
    if mt == 'array':
        return [expand(by, e['element-type'], seen)]
    if mt == 'enum':
        return {'enum': list(e['values'])}
    if name in seen:
        return '<rec>'
    seen = seen + (name,)
    if mt == 'alternate':
        return {'alternate': [expand(by, m['type'], seen) for m in e['members']]}
    out = {'members': {('*' if 'default' in m else '') + m['name']: expand(by, m['type'], seen)
                       for m in e['members']}}
    if 'tag' in e:
        out['tag'] = e['tag']
        out['variants'] = {v['case']: expand(by, v['type'], seen) for v in e['variants']}
    return out


def subset_mismatch(ours, ref, path='$'):
    """Where @ours describes something @ref does not: None if ours fits inside ref.

    Members must match exactly; enum values and union variants of ours must be among ref's
    (we implement fewer object types and chardev backends than upstream).
    """
    if isinstance(ours, str) or isinstance(ref, str):
        return None if ours == ref else '%s: %r != %r' % (path, ours, ref)
    if isinstance(ours, list) or isinstance(ref, list):
        if not (isinstance(ours, list) and isinstance(ref, list)):
            return '%s: array vs non-array' % path
        return subset_mismatch(ours[0], ref[0], path + '[]')
    if set(ours) != set(ref):
        return '%s: kinds %s != %s' % (path, sorted(ours), sorted(ref))
    if 'enum' in ours:
        extra = set(ours['enum']) - set(ref['enum'])
        return '%s: enum values %s not upstream' % (path, sorted(extra)) if extra else None
    if 'alternate' in ours:
        if len(ours['alternate']) != len(ref['alternate']):
            return '%s: alternate branches differ' % path
        for i, (a, b) in enumerate(zip(ours['alternate'], ref['alternate'])):
            m = subset_mismatch(a, b, '%s|%d' % (path, i))
            if m:
                return m
        return None
    if set(ours['members']) != set(ref['members']):
        return '%s: members %s != %s' % (path, sorted(ours['members']), sorted(ref['members']))
    for k in ours['members']:
        m = subset_mismatch(ours['members'][k], ref['members'][k], '%s.%s' % (path, k))
        if m:
            return m
    if ours.get('tag') != ref.get('tag'):
        return '%s: tag %r != %r' % (path, ours.get('tag'), ref.get('tag'))
    for case, t in ours.get('variants', {}).items():
        if case not in ref['variants']:
            return '%s: variant %s not upstream' % (path, case)
        m = subset_mismatch(t, ref['variants'][case], '%s{%s}' % (path, case))
        if m:
            return m
    return None
