#!/usr/bin/env python3
"""QAPI code generator (Python standard library only).

Reads a schema in QEMU's QAPI language (qapi/qapi-schema.json and what it includes) and writes:

  qapi-types.h/.c      C types for enums/structs/unions, free functions, JSON <-> C converters
  qapi-commands.h/.c   handler prototypes, argument-checking marshallers, the command table
  qapi-events.h/.c     qapi_event_send_<name>() emitters
  qapi-introspect.c    the query-qmp-schema answer as a JSON string
  qmp-reference.md     the reference documentation, from the doc comments

Usage: qapi-gen.py -o OUTDIR [--skip-commands MODULE.json]... SCHEMA

C conventions are those of docs/architecture.md ("QAPI conventions"): optional scalars get
has_<member>, optional pointers are NULL when absent, lists are GPtrArray with a free function,
'any' is a JsonNode.  A command with 'gen': false gets no marshaller; its hand-written one is
`void qmp_marshal_<name>(JsonObject *args, JsonNode **ret, GError **errp)`.
"""

import argparse
import json
import os
import re
import sys
from collections import OrderedDict

# ---------------------------------------------------------------------------------------------
# Parsing the schema language: JSON with single-quoted strings and '#' comments.


class SchemaError(Exception):
    def __init__(self, fname, line, msg):
        super().__init__('%s:%d: %s' % (fname, line, msg))


class Parser:
    def __init__(self, fname):
        self.fname = fname
        with open(fname, encoding='utf-8') as f:
            self.src = f.read()
        self.pos = 0
        self.line = 1
        self.doc = None      # the last '##' block seen, waiting for its definition
        self.exprs = []      # (expr dict, doc text or None, fname)

    def error(self, msg):
        raise SchemaError(self.fname, self.line, msg)

    def skip_space(self):
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == '\n':
                self.line += 1
                self.pos += 1
            elif c in ' \t\r':
                self.pos += 1
            elif c == '#':
                if self.src.startswith('##', self.pos) and self.at_line_start():
                    self.read_doc()
                else:
                    end = self.src.find('\n', self.pos)
                    self.pos = len(self.src) if end < 0 else end
            else:
                break

    def at_line_start(self):
        start = self.src.rfind('\n', 0, self.pos) + 1
        return self.src[start:self.pos].strip() == ''

    def read_doc(self):
        # A doc block: '##' line, '# text' lines, closing '##' line.
        lines = []
        end = self.src.find('\n', self.pos)
        self.pos = end + 1
        self.line += 1
        while self.pos < len(self.src):
            end = self.src.find('\n', self.pos)
            if end < 0:
                end = len(self.src)
            text = self.src[self.pos:end].strip()
            self.pos = end + 1
            self.line += 1
            if text == '##':
                break
            if not text.startswith('#'):
                self.error("doc comment line must start with '#'")
            lines.append(text[2:] if text.startswith('# ') else text[1:])
        self.doc = '\n'.join(lines)

    def value(self):
        self.skip_space()
        if self.pos >= len(self.src):
            self.error('unexpected end of file')
        c = self.src[self.pos]
        if c == '{':
            self.pos += 1
            obj = OrderedDict()
            self.skip_space()
            if self.src[self.pos] == '}':
                self.pos += 1
                return obj
            while True:
                self.skip_space()
                key = self.value()
                if not isinstance(key, str):
                    self.error('object key must be a string')
                if key in obj:
                    self.error("duplicate key '%s'" % key)
                self.expect(':')
                obj[key] = self.value()
                self.skip_space()
                if self.src[self.pos] == ',':
                    self.pos += 1
                    continue
                self.expect('}')
                return obj
        if c == '[':
            self.pos += 1
            arr = []
            self.skip_space()
            if self.src[self.pos] == ']':
                self.pos += 1
                return arr
            while True:
                arr.append(self.value())
                self.skip_space()
                if self.src[self.pos] == ',':
                    self.pos += 1
                    continue
                self.expect(']')
                return arr
        if c == "'":
            end = self.src.find("'", self.pos + 1)
            if end < 0 or '\n' in self.src[self.pos:end]:
                self.error('unterminated string')
            s = self.src[self.pos + 1:end]
            self.pos = end + 1
            return s
        for word, val in (('true', True), ('false', False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return val
        self.error("stray '%s'" % c)

    def expect(self, ch):
        self.skip_space()
        if self.pos >= len(self.src) or self.src[self.pos] != ch:
            self.error("expected '%s'" % ch)
        self.pos += 1

    def parse(self):
        while True:
            self.doc = None
            self.skip_space()
            if self.pos >= len(self.src):
                return self.exprs
            line = self.line
            expr = self.value()
            if not isinstance(expr, dict):
                self.error('top-level expression must be an object')
            self.exprs.append((expr, self.doc, self.fname, line))


def load_schema(path, seen=None):
    seen = set() if seen is None else seen
    path = os.path.normpath(path)
    if path in seen:
        return []
    seen.add(path)
    out = []
    for expr, doc, fname, line in Parser(path).parse():
        if 'include' in expr:
            out += load_schema(os.path.join(os.path.dirname(path), expr['include']), seen)
        elif 'pragma' in expr:
            continue
        else:
            out.append((expr, doc, fname, line))
    return out


# ---------------------------------------------------------------------------------------------
# The type system.

C_KEYWORDS = set('''auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while bool errno unix'''.split())

# name -> (C type, JSON type, C scalar kind)
BUILTINS = OrderedDict([
    ('str', ('char *', 'string')),
    ('number', ('double', 'number')),
    ('int', ('int64_t', 'int')),
    ('int8', ('int8_t', 'int')),
    ('int16', ('int16_t', 'int')),
    ('int32', ('int32_t', 'int')),
    ('int64', ('int64_t', 'int')),
    ('uint8', ('uint8_t', 'int')),
    ('uint16', ('uint16_t', 'int')),
    ('uint32', ('uint32_t', 'int')),
    ('uint64', ('uint64_t', 'int')),
    ('size', ('uint64_t', 'int')),
    ('bool', ('bool', 'boolean')),
    ('null', ('JsonNode *', 'null')),
    ('any', ('JsonNode *', 'value')),
])

INT_RANGES = {
    'int8': ('INT8_MIN', 'INT8_MAX', 'int8_t'),
    'int16': ('INT16_MIN', 'INT16_MAX', 'int16_t'),
    'int32': ('INT32_MIN', 'INT32_MAX', 'int32_t'),
    'uint8': ('0', 'UINT8_MAX', 'uint8_t'),
    'uint16': ('0', 'UINT16_MAX', 'uint16_t'),
    'uint32': ('0', 'UINT32_MAX', 'uint32_t'),
}


def alt_json_kind(schema, t):
    """The JSON kind that selects alternate branch type @t (QEMU's QType, roughly)."""
    if t in schema.enums or t == 'str':
        return 'STRING'
    if t in BUILTINS:
        return {'number': 'NUMBER', 'bool': 'BOOLEAN', 'null': 'NULL',
                'any': 'ANY'}.get(t, 'INT')
    return 'OBJECT'


def c_name(name):
    n = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if n in C_KEYWORDS or n[0].isdigit():
        n = 'q_' + n
    return n


def camel_to_upper(name):
    # "QapiErrorClass" -> "QAPI_ERROR_CLASS", "RunState" -> "RUN_STATE"
    out = ''
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ''
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                if out[-1] != '_':
                    out += '_'
        out += ch
    return c_name(out).upper()


def feature_names(features):
    """'features': ['deprecated', {'name': 'unstable'}] -> ['deprecated', 'unstable']"""
    return [f['name'] if isinstance(f, dict) else f for f in features or []]


class Member:
    def __init__(self, name, typ, optional, features=None):
        self.name = name
        self.type = typ           # type name, or ['T'] for a list
        self.optional = optional
        self.features = feature_names(features)
        self.c = c_name(name)


def parse_members(data):
    out = []
    for key, val in data.items():
        optional = key.startswith('*')
        name = key[1:] if optional else key
        features = None
        if isinstance(val, dict):
            features = val.get('features')
            val = val['type']
        out.append(Member(name, val, optional, features))
    return out


class Schema:
    def __init__(self, exprs, skip_modules):
        self.enums = OrderedDict()     # name -> dict(values, prefix, doc)
        self.structs = OrderedDict()   # name -> dict(members, base, variants...)
        self.alternates = OrderedDict()  # name -> dict(branches: [(name, type)])
        self.commands = OrderedDict()
        self.events = OrderedDict()
        self.order = []                # definition order of types (for the header)
        self.docs = []                 # (kind, name, doc, module)
        for expr, doc, fname, line in exprs:
            module = os.path.basename(fname)
            if 'enum' in expr:
                name = expr['enum']
                values = [v['name'] if isinstance(v, dict) else v for v in expr['data']]
                vfeat = {v['name']: feature_names(v.get('features'))
                         for v in expr['data'] if isinstance(v, dict)}
                self.enums[name] = {'values': values, 'prefix': expr.get('prefix'),
                                    'value_features': vfeat,
                                    'features': feature_names(expr.get('features'))}
                self.order.append(('enum', name))
                self.docs.append(('Enum', name, doc, module))
            elif 'struct' in expr:
                name = expr['struct']
                self.structs[name] = {'data': expr.get('data', {}), 'base': expr.get('base'),
                                      'union': False,
                                      'features': feature_names(expr.get('features'))}
                self.order.append(('struct', name))
                self.docs.append(('Struct', name, doc, module))
            elif 'union' in expr:
                name = expr['union']
                self.structs[name] = {'data': {}, 'base': expr['base'], 'union': True,
                                      'discriminator': expr['discriminator'],
                                      'variants': expr['data'],
                                      'features': feature_names(expr.get('features'))}
                self.order.append(('struct', name))
                self.docs.append(('Union', name, doc, module))
            elif 'alternate' in expr:
                name = expr['alternate']
                branches = []
                for bname, bt in expr['data'].items():
                    branches.append((bname, bt['type'] if isinstance(bt, dict) else bt))
                self.alternates[name] = {'branches': branches,
                                         'features': feature_names(expr.get('features'))}
                self.order.append(('alternate', name))
                self.docs.append(('Alternate', name, doc, module))
            elif 'command' in expr:
                name = expr['command']
                expr['_skip'] = module in skip_modules
                self.commands[name] = expr
                self.docs.append(('Command', name, doc, module))
            elif 'event' in expr:
                self.events[expr['event']] = expr
                self.docs.append(('Event', expr['event'], doc, module))
            else:
                raise SchemaError(fname, line, 'unknown expression %s' % list(expr))
        self.resolve()

    def resolve(self):
        # Implicit argument types and base/member flattening.
        for name, s in self.structs.items():
            s['members'] = self.all_members(name)
        for name, s in self.structs.items():
            if s['union']:
                tag = [m for m in s['members'] if m.name == s['discriminator']]
                if not tag or tag[0].type not in self.enums:
                    raise ValueError('union %s: discriminator must be an enum member' % name)
                s['tag'] = tag[0]
                for v, t in s['variants'].items():
                    if isinstance(t, dict):
                        t = t['type']
                    s['variants'][v] = t
                    if t not in self.structs:
                        raise ValueError('union %s: variant %s must be a struct' % (name, v))
        for kind, table in (('command', self.commands), ('event', self.events)):
            for name, e in table.items():
                data = e.get('data')
                if isinstance(data, dict):
                    e['_members'] = parse_members(data)
                    e['_argtype'] = None
                elif isinstance(data, str):
                    e['_members'] = self.structs[data]['members']
                    e['_argtype'] = data
                else:
                    e['_members'] = []
                    e['_argtype'] = None
        for name, e in self.commands.items():
            for m in e['_members']:
                self.check_type(m.type, 'command %s' % name)
        for name, s in self.structs.items():
            for m in s['members']:
                self.check_type(m.type, 'struct %s' % name)
        for name, a in self.alternates.items():
            kinds = set()
            for bname, bt in a['branches']:
                self.check_type(bt, 'alternate %s' % name)
                if isinstance(bt, list):
                    raise ValueError('alternate %s: branch %s cannot be a list' % (name, bname))
                k = alt_json_kind(self, bt)
                if k in kinds:
                    raise ValueError('alternate %s: branches %s clash' % (name, bname))
                kinds.add(k)

    def entity_order(self):
        """Commands and events as (kind, name, expr), in definition order."""
        out = []
        for kind, name, doc, module in self.docs:
            if kind == 'Command':
                out.append(('command', name, self.commands[name]))
            elif kind == 'Event':
                out.append(('event', name, self.events[name]))
        return out

    def check_type(self, t, where):
        if isinstance(t, list):
            t = t[0]
        if (t not in BUILTINS and t not in self.enums and t not in self.structs and
                t not in self.alternates):
            raise ValueError('%s: unknown type %s' % (where, t))

    def all_members(self, name):
        s = self.structs[name]
        base = s['base']
        members = []
        if isinstance(base, dict):
            members += parse_members(base)
        elif isinstance(base, str):
            members += self.all_members(base)
        members += parse_members(s['data'])
        return members

    def kind(self, t):
        if isinstance(t, list):
            return 'list'
        if t in BUILTINS:
            return 'builtin'
        if t in self.enums:
            return 'enum'
        # Alternates are pointers with the same function names as structs.
        return 'struct'

    def enum_const(self, enum, value):
        prefix = self.enums[enum]['prefix'] or camel_to_upper(enum)
        return '%s_%s' % (prefix, c_name(value).upper())

    def c_type(self, t):
        k = self.kind(t)
        if k == 'list':
            return 'GPtrArray *'
        if k == 'builtin':
            return BUILTINS[t][0]
        if k == 'enum':
            return t + ' '
        return t + ' *'

    def is_pointer(self, t):
        return self.c_type(t).endswith('*')


# ---------------------------------------------------------------------------------------------
# C emission helpers.

HEADER = '/* Generated by scripts/qapi-gen.py from the QAPI schema. Do not edit. */\n'


def decl(ctype, name):
    return ctype + name if ctype.endswith(('*', ' ')) else ctype + ' ' + name


def gen_types(schema):
    h = [HEADER, '#ifndef QAPI_TYPES_H', '#define QAPI_TYPES_H', '',
         '#include <glib.h>', '#include <json-glib/json-glib.h>', '#include <stdbool.h>',
         '#include <stdint.h>', '#include "qapi/qapi-runtime.h"', '']
    c = [HEADER, '#include "qapi-types.h"', '#include "util/error.h"', '#include <string.h>', '']

    for name in list(schema.structs) + list(schema.alternates):
        h.append('typedef struct %s %s;' % (name, name))
    h.append('')

    for name, e in schema.enums.items():
        h.append('typedef enum %s {' % name)
        for v in e['values']:
            h.append('    %s,' % schema.enum_const(name, v))
        h.append('    %s__MAX,' % (e['prefix'] or camel_to_upper(name)))
        h.append('} %s;' % name)
        h.append('extern const char *const %s_lookup[];' % name)
        h.append('const char *%s_str(%s value);' % (name, name))
        h.append('/* The value spelt @str, or -1. */')
        h.append('int %s_parse(const char *str);' % name)
        h.append('')
        c.append('const char *const %s_lookup[] = {' % name)
        for v in e['values']:
            c.append('    [%s] = "%s",' % (schema.enum_const(name, v), v))
        c.append('    NULL,')
        c.append('};')
        c.append('')
        c.append('const char *%s_str(%s value)' % (name, name))
        c.append('{')
        c.append('    return (unsigned)value < %d ? %s_lookup[value] : "";' % (
            len(e['values']), name))
        c.append('}')
        c.append('')
        c.append('int %s_parse(const char *str)' % name)
        c.append('{')
        c.append('    return qapi_enum_parse(%s_lookup, str);' % name)
        c.append('}')
        c.append('')

    # Struct bodies, in an order where embedded unions' variant structs come first.
    emitted = set()

    def emit_struct(name):
        if name in emitted:
            return
        s = schema.structs[name]
        if s['union']:
            for t in s['variants'].values():
                emit_struct(t)
        emitted.add(name)
        h.append('struct %s {' % name)
        for m in s['members']:
            if m.optional and not schema.is_pointer(m.type):
                h.append('    bool has_%s;' % m.c)
            h.append('    %s;' % decl(schema.c_type(m.type), m.c))
        if s['union']:
            h.append('    union {')
            for v, t in s['variants'].items():
                h.append('        %s %s;' % (t, c_name(v)))
            h.append('    } u;')
        if not s['members'] and not s['union']:
            h.append('    char qapi_dummy_for_empty_struct;')
        h.append('};')
        h.append('')

    for name in schema.structs:
        emit_struct(name)

    for name, a in schema.alternates.items():
        h.append('/* One of several JSON kinds; @type says which member of @u is set. */')
        h.append('struct %s {' % name)
        h.append('    QapiAltType type;')
        h.append('    union {')
        for bname, bt in a['branches']:
            h.append('        %s;' % decl(schema.c_type(bt), c_name(bname)))
        h.append('    } u;')
        h.append('};')
        h.append('void qapi_free_%s(%s *obj);' % (name, name))
        h.append('G_DEFINE_AUTOPTR_CLEANUP_FUNC(%s, qapi_free_%s)' % (name, name))
        h.append('JsonNode *qapi_%s_to_json(const %s *obj);' % (name, name))
        h.append('%s *qapi_%s_from_json(JsonNode *node, const char *path, GError **errp);'
                 % (name, name))
        h.append('')
        gen_alternate_funcs(schema, name, a, c)

    for name in schema.structs:
        h.append('void qapi_free_%s(%s *obj);' % (name, name))
        h.append('void qapi_free_members_%s(%s *obj);' % (name, name))
        h.append('G_DEFINE_AUTOPTR_CLEANUP_FUNC(%s, qapi_free_%s)' % (name, name))
        h.append('/* C -> JSON object (a new node). */')
        h.append('JsonNode *qapi_%s_to_json(const %s *obj);' % (name, name))
        h.append('void qapi_members_to_json_%s(const %s *obj, JsonObject *out);' % (name, name))
        h.append('/* JSON -> C, checking types and unknown members in QEMU\'s wording. */')
        h.append('%s *qapi_%s_from_json(JsonNode *node, const char *path, GError **errp);'
                 % (name, name))
        h.append('gboolean qapi_members_from_json_%s(JsonObject *in, const char *path, '
                 'GHashTable *used, %s *obj, GError **errp);' % (name, name))
        h.append('')

    for name, s in schema.structs.items():
        gen_struct_funcs(schema, name, s, c)

    h.append('#endif')
    return '\n'.join(h) + '\n', '\n'.join(c) + '\n'


def free_expr(schema, t, lval):
    k = schema.kind(t)
    if k == 'list':
        return 'if (%s) { g_ptr_array_unref(%s); }' % (lval, lval)
    if k == 'builtin':
        if t == 'str':
            return 'g_free(%s);' % lval
        if t in ('any', 'null'):
            return 'if (%s) { json_node_unref(%s); }' % (lval, lval)
        return None
    if k == 'enum':
        return None
    return 'qapi_free_%s(%s);' % (t, lval)


def elem_free_func(schema, t):
    k = schema.kind(t)
    if k == 'struct':
        return '(GDestroyNotify)qapi_free_%s' % t
    if t in ('any', 'null'):
        return '(GDestroyNotify)json_node_unref'
    return 'g_free'


def to_json_expr(schema, t, val):
    """A C expression producing a new JsonNode * for value @val of type @t."""
    k = schema.kind(t)
    if k == 'list':
        return 'qapi_list_to_json_%s(%s)' % (list_suffix(schema, t[0]), val)
    if k == 'enum':
        return 'qapi_json_string(%s_str(%s))' % (t, val)
    if k == 'struct':
        return 'qapi_%s_to_json(%s)' % (t, val)
    if t == 'str':
        return 'qapi_json_string(%s)' % val
    if t == 'bool':
        return 'qapi_json_bool(%s)' % val
    if t == 'number':
        return 'qapi_json_double(%s)' % val
    if t in ('any', 'null'):
        return '(%s ? json_node_copy(%s) : json_node_new(JSON_NODE_NULL))' % (val, val)
    if t in ('uint64', 'size'):
        return 'qapi_json_uint(%s)' % val
    return 'qapi_json_int(%s)' % val


def list_suffix(schema, t):
    return c_name(t)


def gen_from_json_value(schema, t, node, path, out, indent):
    """Statements converting JsonNode @node into C lvalue @out; 'goto fail' on error."""
    p = ' ' * indent
    k = schema.kind(t)
    lines = []
    if k == 'list':
        lines.append(p + 'if (!(%s = qapi_list_from_json_%s(%s, %s, errp))) {' % (
            out, list_suffix(schema, t[0]), node, path))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    elif k == 'enum':
        lines.append(p + '{')
        lines.append(p + '    int qv = qapi_json_get_enum(%s, %s, %s_lookup, errp);' % (
            node, path, t))
        lines.append(p + '    if (qv < 0) {')
        lines.append(p + '        goto fail;')
        lines.append(p + '    }')
        lines.append(p + '    %s = qv;' % out)
        lines.append(p + '}')
    elif k == 'struct':
        lines.append(p + 'if (!(%s = qapi_%s_from_json(%s, %s, errp))) {' % (out, t, node, path))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    elif t == 'str':
        lines.append(p + 'if (!(%s = qapi_json_get_str(%s, %s, errp))) {' % (out, node, path))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    elif t == 'bool':
        lines.append(p + 'if (!qapi_json_get_bool(%s, %s, &%s, errp)) {' % (node, path, out))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    elif t == 'number':
        lines.append(p + 'if (!qapi_json_get_double(%s, %s, &%s, errp)) {' % (node, path, out))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    elif t in ('any', 'null'):
        if t == 'null':
            lines.append(p + 'if (!JSON_NODE_HOLDS_NULL(%s)) {' % node)
            lines.append(p + '    error_setg(errp, "Invalid parameter type for \'%%s\', '
                         'expected: null", %s);' % path)
            lines.append(p + '    goto fail;')
            lines.append(p + '}')
        lines.append(p + '%s = json_node_copy(%s);' % (out, node))
        lines.append(p + '(void)%s;' % path)
    elif t in ('uint64', 'size'):
        lines.append(p + 'if (!qapi_json_get_uint64(%s, %s, &%s, errp)) {' % (node, path, out))
        lines.append(p + '    goto fail;')
        lines.append(p + '}')
    else:
        lo, hi, cname = INT_RANGES.get(t, ('INT64_MIN', 'INT64_MAX', 'int64_t'))
        lines.append(p + '{')
        lines.append(p + '    int64_t qv;')
        lines.append(p + '    if (!qapi_json_get_int(%s, %s, %s, %s, "%s", &qv, errp)) {' % (
            node, path, lo, hi, cname))
        lines.append(p + '        goto fail;')
        lines.append(p + '    }')
        lines.append(p + '    %s = qv;' % out)
        lines.append(p + '}')
    return lines


def gen_members_from_json(schema, members, obj, c):
    """Body that fills struct members of @obj (a C pointer expression) from JsonObject 'in'."""
    for m in members:
        c.append('    {')
        c.append('        g_autofree char *mpath = qapi_member_path(path, "%s");' % m.name)
        c.append('        JsonNode *node = json_object_get_member(in, "%s");' % m.name)
        c.append('        if (used) {')
        c.append('            g_hash_table_add(used, (gpointer)"%s");' % m.name)
        c.append('        }')
        if m.optional:
            c.append('        if (node) {')
            if not schema.is_pointer(m.type):
                c.append('            %s->has_%s = true;' % (obj, m.c))
            c += gen_from_json_value(schema, m.type, 'node', 'mpath', '%s->%s' % (obj, m.c), 12)
            c.append('        }')
        else:
            c.append('        if (!node) {')
            c.append('            error_set_missing_param(errp, mpath);')
            c.append('            goto fail;')
            c.append('        }')
            c += gen_from_json_value(schema, m.type, 'node', 'mpath', '%s->%s' % (obj, m.c), 8)
        c.append('    }')


def gen_variant_switch(schema, s, body, c):
    """Appends a switch on union s's tag; each variant's case runs body, lines whose first
    '%s' is the variant's type and second the C name of its member of obj->u."""
    c.append('    switch ((int)obj->%s) {' % s['tag'].c)
    for v, t in s['variants'].items():
        c.append('    case %s:' % schema.enum_const(s['tag'].type, v))
        for line in body:
            c.append('        ' + (line % (t, c_name(v)) if '%s' in line else line))
        c.append('        break;')
    c.append('    default:')
    c.append('        break;')
    c.append('    }')


def gen_struct_funcs(schema, name, s, c):
    # free
    c.append('void qapi_free_members_%s(%s *obj)' % (name, name))
    c.append('{')
    for m in s['members']:
        f = free_expr(schema, m.type, 'obj->%s' % m.c)
        if f:
            c.append('    ' + f)
    if s['union']:
        gen_variant_switch(schema, s, ['qapi_free_members_%s(&obj->u.%s);'], c)
    c.append('}')
    c.append('')
    c.append('void qapi_free_%s(%s *obj)' % (name, name))
    c.append('{')
    c.append('    if (obj) {')
    c.append('        qapi_free_members_%s(obj);' % name)
    c.append('        g_free(obj);')
    c.append('    }')
    c.append('}')
    c.append('')
    # to JSON
    c.append('void qapi_members_to_json_%s(const %s *obj, JsonObject *out)' % (name, name))
    c.append('{')
    for m in s['members']:
        val = 'obj->%s' % m.c
        stmt = 'json_object_set_member(out, "%s", %s);' % (m.name, to_json_expr(schema, m.type,
                                                                               val))
        if m.optional:
            cond = val if schema.is_pointer(m.type) else 'obj->has_%s' % m.c
            c.append('    if (%s) {' % cond)
            c.append('        ' + stmt)
            c.append('    }')
        else:
            c.append('    ' + stmt)
    if s['union']:
        gen_variant_switch(schema, s, ['qapi_members_to_json_%s(&obj->u.%s, out);'], c)
    c.append('}')
    c.append('')
    c.append('JsonNode *qapi_%s_to_json(const %s *obj)' % (name, name))
    c.append('{')
    c.append('    JsonObject *out = json_object_new();')
    c.append('    qapi_members_to_json_%s(obj, out);' % name)
    c.append('    return qapi_json_object_node(out);')
    c.append('}')
    c.append('')
    # from JSON
    c.append('gboolean qapi_members_from_json_%s(JsonObject *in, const char *path, '
             'GHashTable *used, %s *obj, GError **errp)' % (name, name))
    c.append('{')
    gen_members_from_json(schema, s['members'], 'obj', c)
    if s['union']:
        gen_variant_switch(schema, s,
                           ['if (!qapi_members_from_json_%s(in, path, used, &obj->u.%s, errp)) {',
                            '    goto fail;', '}'], c)
    c.append('    return TRUE;')
    if s['members'] or s['union']:  # an empty struct has nothing that fails
        c.append('fail:')
        c.append('    return FALSE;')
    c.append('}')
    c.append('')
    c.append('%s *qapi_%s_from_json(JsonNode *node, const char *path, GError **errp)'
             % (name, name))
    c.append('{')
    c.append('    JsonObject *in = qapi_json_get_object(node, path, errp);')
    c.append('    if (!in) {')
    c.append('        return NULL;')
    c.append('    }')
    c.append('    %s *obj = g_new0(%s, 1);' % (name, name))
    c.append('    GHashTable *used = g_hash_table_new(g_str_hash, g_str_equal);')
    c.append('    if (!qapi_members_from_json_%s(in, path, used, obj, errp) ||' % name)
    c.append('        !qapi_check_unused(in, path, used, errp)) {')
    c.append('        g_hash_table_unref(used);')
    c.append('        qapi_free_%s(obj);' % name)
    c.append('        return NULL;')
    c.append('    }')
    c.append('    g_hash_table_unref(used);')
    c.append('    return obj;')
    c.append('}')
    c.append('')


def gen_alternate_funcs(schema, name, a, c):
    c.append('void qapi_free_%s(%s *obj)' % (name, name))
    c.append('{')
    c.append('    if (!obj) {')
    c.append('        return;')
    c.append('    }')
    c.append('    switch (obj->type) {')
    for bname, bt in a['branches']:
        c.append('    case QAPI_ALT_%s:' % alt_json_kind(schema, bt))
        f = free_expr(schema, bt, 'obj->u.%s' % c_name(bname))
        if f:
            c.append('        ' + f)
        c.append('        break;')
    c.append('    default:')
    c.append('        break;')
    c.append('    }')
    c.append('    g_free(obj);')
    c.append('}')
    c.append('')
    c.append('JsonNode *qapi_%s_to_json(const %s *obj)' % (name, name))
    c.append('{')
    c.append('    switch (obj->type) {')
    for bname, bt in a['branches']:
        c.append('    case QAPI_ALT_%s:' % alt_json_kind(schema, bt))
        c.append('        return %s;' % to_json_expr(schema, bt, 'obj->u.%s' % c_name(bname)))
    c.append('    default:')
    c.append('        return json_node_new(JSON_NODE_NULL);')
    c.append('    }')
    c.append('}')
    c.append('')
    kinds = {alt_json_kind(schema, bt): (bname, bt) for bname, bt in a['branches']}
    c.append('%s *qapi_%s_from_json(JsonNode *node, const char *path, GError **errp)'
             % (name, name))
    c.append('{')
    c.append('    %s *obj = g_new0(%s, 1);' % (name, name))
    c.append('    QapiAltType kind = qapi_json_alt_type(node);')
    if 'INT' not in kinds and 'NUMBER' in kinds:
        c.append('    if (kind == QAPI_ALT_INT) {')
        c.append('        kind = QAPI_ALT_NUMBER;')
        c.append('    }')
    c.append('    switch (kind) {')
    for kind, (bname, bt) in kinds.items():
        c.append('    case QAPI_ALT_%s:' % kind)
        c.append('        obj->type = kind;')
        c += gen_from_json_value(schema, bt, 'node', 'path', 'obj->u.%s' % c_name(bname), 8)
        c.append('        return obj;')
    c.append('    default:')
    c.append('        break;')
    c.append('    }')
    c.append('    error_setg(errp, "Invalid parameter type for \'%%s\', expected: %s",' % name)
    c.append('               path ? path : "null");')
    c.append('fail:')
    c.append('    qapi_free_%s(obj);' % name)
    c.append('    return NULL;')
    c.append('}')
    c.append('')


def gen_list_helpers(schema):
    """List converters for every element type used in a list."""
    elems = OrderedDict()

    def visit(t):
        if isinstance(t, list):
            elems[t[0]] = True

    for s in schema.structs.values():
        for m in s['members']:
            visit(m.type)
    for e in list(schema.commands.values()) + list(schema.events.values()):
        for m in e['_members']:
            visit(m.type)
        visit(e.get('returns'))
    h, c = [], []
    for t in elems:
        sfx = list_suffix(schema, t)
        h.append('JsonNode *qapi_list_to_json_%s(GPtrArray *list);' % sfx)
        h.append('GPtrArray *qapi_list_from_json_%s(JsonNode *node, const char *path, '
                 'GError **errp);' % sfx)
        h.append('GPtrArray *qapi_list_new_%s(void);' % sfx)
        k = schema.kind(t)
        pointer_elem = schema.is_pointer(t)
        ctype = schema.c_type(t)
        c.append('GPtrArray *qapi_list_new_%s(void)' % sfx)
        c.append('{')
        c.append('    return g_ptr_array_new_with_free_func(%s);' % elem_free_func(schema, t))
        c.append('}')
        c.append('')
        c.append('JsonNode *qapi_list_to_json_%s(GPtrArray *list)' % sfx)
        c.append('{')
        c.append('    JsonArray *arr = json_array_new();')
        c.append('    for (guint i = 0; list && i < list->len; i++) {')
        if pointer_elem:
            c.append('        %s = g_ptr_array_index(list, i);' % decl(ctype, 'v'))
        else:
            c.append('        %s = *(%s *)g_ptr_array_index(list, i);' % (decl(ctype, 'v'),
                                                                          ctype.strip()))
        c.append('        json_array_add_element(arr, %s);' % to_json_expr(schema, t, 'v'))
        c.append('    }')
        c.append('    JsonNode *node = json_node_new(JSON_NODE_ARRAY);')
        c.append('    json_node_take_array(node, arr);')
        c.append('    return node;')
        c.append('}')
        c.append('')
        c.append('GPtrArray *qapi_list_from_json_%s(JsonNode *node, const char *path, '
                 'GError **errp)' % sfx)
        c.append('{')
        c.append('    if (!JSON_NODE_HOLDS_ARRAY(node)) {')
        c.append('        error_setg(errp, "Invalid parameter type for \'%s\', expected: array",')
        c.append('                   path);')
        c.append('        return NULL;')
        c.append('    }')
        c.append('    JsonArray *arr = json_node_get_array(node);')
        c.append('    GPtrArray *list = qapi_list_new_%s();' % sfx)
        c.append('    for (guint i = 0; i < json_array_get_length(arr); i++) {')
        c.append('        JsonNode *elem = json_array_get_element(arr, i);')
        c.append('        g_autofree char *epath = g_strdup_printf("%s[%u]", path, i);')
        if pointer_elem:
            c.append('        %s = NULL;' % decl(ctype, 'v'))
            body = gen_from_json_value(schema, t, 'elem', 'epath', 'v', 8)
            c += body
            c.append('        g_ptr_array_add(list, v);')
        else:
            c.append('        %s *v = g_new0(%s, 1);' % (ctype.strip(), ctype.strip()))
            c.append('        g_ptr_array_add(list, v);')
            c += gen_from_json_value(schema, t, 'elem', 'epath', '*v', 8)
        c.append('        continue;')
        c.append('    fail:')
        c.append('        g_ptr_array_unref(list);')
        c.append('        return NULL;')
        c.append('    }')
        c.append('    return list;')
        c.append('}')
        c.append('')
        if k == 'builtin' and t == 'str' and False:
            pass
    return h, c


def param_decls(schema, members):
    out = []
    for m in members:
        ctype = schema.c_type(m.type)
        if m.optional and not schema.is_pointer(m.type):
            out.append('bool has_%s' % m.c)
        if ctype == 'char *':
            ctype = 'const char *'
        out.append(decl(ctype, m.c))
    return out


def command_proto(schema, name, e):
    ret = e.get('returns')
    rtype = schema.c_type(ret) if ret is not None else 'void '
    if e.get('boxed'):
        params = ['%s *arg' % e['_argtype']]
    else:
        params = param_decls(schema, e['_members'])
    params.append('GError **errp')
    return decl(rtype, 'qmp_%s(%s)' % (c_name(name), ', '.join(params)))


def gen_commands(schema):
    h = [HEADER, '#ifndef QAPI_COMMANDS_H', '#define QAPI_COMMANDS_H', '',
         '#include "qapi-types.h"', '']
    c = [HEADER, '#include "qapi-commands.h"', '#include "util/error.h"', '']
    for name, e in schema.commands.items():
        if e['_skip']:
            continue
        if e.get('gen', True):
            h.append(command_proto(schema, name, e) + ';')
        h.append('void qmp_marshal_%s(JsonObject *args, JsonNode **ret, GError **errp);'
                 % c_name(name))
    h.append('')
    h.append('/* Every command of the schema, in schema order, ending with a NULL name. */')
    h.append('extern const QmpCommandDef qmp_command_table[];')
    h.append('')
    h.append('#endif')

    for name, e in schema.commands.items():
        if e['_skip'] or not e.get('gen', True):
            continue
        cn = c_name(name)
        members = e['_members']
        c.append('void qmp_marshal_%s(JsonObject *args, JsonNode **ret, GError **errp)' % cn)
        c.append('{')
        argstruct = e['_argtype'] if e.get('boxed') else None
        if members:
            c.append('    const char *path = NULL;')
            c.append('    GHashTable *used = g_hash_table_new(g_str_hash, g_str_equal);')
            c.append('    JsonObject *in = args;')
            c.append('    JsonObject *empty = NULL;')
            c.append('    if (!in) {')
            c.append('        in = empty = json_object_new();')
            c.append('    }')
            if argstruct:
                c.append('    %s *arg = g_new0(%s, 1);' % (argstruct, argstruct))
                c.append('    if (!qapi_members_from_json_%s(in, path, used, arg, errp)) {'
                         % argstruct)
                c.append('        goto fail;')
                c.append('    }')
            else:
                c.append('    struct {')
                for m in members:
                    if m.optional and not schema.is_pointer(m.type):
                        c.append('        bool has_%s;' % m.c)
                    c.append('        %s;' % decl(schema.c_type(m.type), m.c))
                c.append('    } a = { 0 }, *argp = &a;')
                gen_members_from_json(schema, members, 'argp', c)
            c.append('    if (!qapi_check_unused(in, path, used, errp)) {')
            c.append('        goto fail;')
            c.append('    }')
        else:
            c.append('    if (!qapi_check_unused(args, NULL, NULL, errp)) {')
            c.append('        return;')
            c.append('    }')
        if argstruct:
            call = 'qmp_%s(arg, &err)' % cn
        else:
            cargs = []
            for m in members:
                if m.optional and not schema.is_pointer(m.type):
                    cargs.append('a.has_%s' % m.c)
                cargs.append('a.%s' % m.c)
            cargs.append('&err')
            call = 'qmp_%s(%s)' % (cn, ', '.join(cargs))
        ret = e.get('returns')
        c.append('    {')
        c.append('        GError *err = NULL;')
        if ret is not None:
            c.append('        %s = %s;' % (decl(schema.c_type(ret), 'r'), call))
            c.append('        if (err) {')
            c.append('            g_propagate_error(errp, err);')
            c.append('        } else {')
            c.append('            *ret = %s;' % to_json_expr(schema, ret, 'r'))
            c.append('        }')
            f = free_expr(schema, ret, 'r')
            if f:
                c.append('        ' + f)
        else:
            c.append('        %s;' % call)
            c.append('        if (err) {')
            c.append('            g_propagate_error(errp, err);')
            c.append('        } else {')
            c.append('            *ret = qapi_json_object_node(json_object_new());')
            c.append('        }')
        c.append('    }')
        if members:
            c.append('fail:')
            if argstruct:
                c.append('    qapi_free_%s(arg);' % argstruct)
            else:
                for m in members:
                    f = free_expr(schema, m.type, 'a.%s' % m.c)
                    if f:
                        c.append('    ' + f)
            c.append('    g_hash_table_unref(used);')
            c.append('    if (empty) {')
            c.append('        json_object_unref(empty);')
            c.append('    }')
        c.append('}')
        c.append('')

    c.append('const QmpCommandDef qmp_command_table[] = {')
    for name, e in schema.commands.items():
        if e['_skip']:
            continue
        flags = []
        if e.get('allow-oob'):
            flags.append('QMP_CMD_ALLOW_OOB')
        if e.get('allow-preconfig'):
            flags.append('QMP_CMD_ALLOW_PRECONFIG')
        c.append('    { "%s", qmp_marshal_%s, %s },' % (name, c_name(name),
                                                      ' | '.join(flags) or '0'))
    c.append('    { NULL, NULL, 0 },')
    c.append('};')
    return '\n'.join(h) + '\n', '\n'.join(c) + '\n'


def gen_events(schema):
    h = [HEADER, '#ifndef QAPI_EVENTS_H', '#define QAPI_EVENTS_H', '',
         '#include "qapi-types.h"', '']
    c = [HEADER, '#include "qapi-events.h"', '']
    for name, e in schema.events.items():
        fn = 'qapi_event_send_%s' % c_name(name.lower())
        if e.get('boxed'):
            params = ['const %s *arg' % e['_argtype']]
        else:
            params = param_decls(schema, e['_members'])
        proto = 'void %s(%s)' % (fn, ', '.join(params) or 'void')
        h.append(proto + ';')
        c.append(proto)
        c.append('{')
        if e['_members']:
            c.append('    JsonObject *data = json_object_new();')
            if e.get('boxed'):
                c.append('    qapi_members_to_json_%s(arg, data);' % e['_argtype'])
            else:
                for m in e['_members']:
                    stmt = 'json_object_set_member(data, "%s", %s);' % (
                        m.name, to_json_expr(schema, m.type, m.c))
                    if m.optional:
                        cond = m.c if schema.is_pointer(m.type) else 'has_%s' % m.c
                        c.append('    if (%s) {' % cond)
                        c.append('        ' + stmt)
                        c.append('    }')
                    else:
                        c.append('    ' + stmt)
            c.append('    qapi_event_emit("%s", data);' % name)
            c.append('    json_object_unref(data);')
        else:
            c.append('    qapi_event_emit("%s", NULL);' % name)
        c.append('}')
        c.append('')
    h.append('')
    h.append('#endif')
    return '\n'.join(h) + '\n', '\n'.join(c) + '\n'


# ---------------------------------------------------------------------------------------------
# Introspection (query-qmp-schema), built the way upstream's generator builds it so that the
# answer has the same shape: commands and events first, in schema order; then every type they
# use, in order of first use (a work queue that grows while it is drained). Type names other
# than builtins are masked as numbers in order of first use ("0", "1", ...) and arrays are
# "[element]"; every integer type reads as "int". A command or event without arguments (or a
# command without a return value) uses the empty object type.


class _Implicit:
    """The unnamed argument type of a command or event with inline 'data'."""

    def __init__(self, key, members):
        self.key = key
        self.members = members


_EMPTY = _Implicit(':empty', [])


def gen_introspect_entities(schema):
    entities = []
    used = []           # types in order of first use (the work queue)
    used_keys = set()
    names = {}          # masked names of named and implicit types

    def key_of(t):
        if isinstance(t, list):
            return ('array', key_of(t[0]))
        if isinstance(t, _Implicit):
            return ('implicit', t.key)
        return ('type', t)

    def masked(key):
        if key not in names:
            names[key] = '%d' % len(names)
        return names[key]

    def use_type(t):
        if isinstance(t, str) and t in BUILTINS and BUILTINS[t][1] == 'int':
            t = 'int'
        elif (isinstance(t, list) and t[0] in BUILTINS and BUILTINS[t[0]][1] == 'int'):
            t = ['int']
        k = key_of(t)
        if k not in used_keys:
            used_keys.add(k)
            used.append(t)
        if isinstance(t, str) and t in BUILTINS:
            return t
        if isinstance(t, list):
            return '[' + use_type(t[0]) + ']'
        return masked(k)

    def with_features(obj, features):
        if features:
            obj['features'] = list(features)
        return obj

    def member_info(m):
        info = {'name': m.name, 'type': use_type(m.type)}
        if m.optional:
            info['default'] = None
        return with_features(info, m.features)

    def object_info(members):
        return [member_info(m) for m in members]

    def arg_type(e, kind):
        if e['_argtype']:
            return e['_argtype']
        if not e['_members']:
            return _EMPTY
        return _Implicit(':%s-%s' % (kind, e[kind]), e['_members'])

    for kind, name, e in schema.entity_order():
        if kind == 'command':
            if e['_skip']:
                continue
            info = {'name': name, 'meta-type': 'command'}
            info['arg-type'] = use_type(arg_type(e, 'command'))
            ret = e.get('returns')
            info['ret-type'] = use_type(ret if ret is not None else _EMPTY)
            if e.get('allow-oob'):
                info['allow-oob'] = True
        else:
            info = {'name': name, 'meta-type': 'event',
                    'arg-type': use_type(arg_type(e, 'event'))}
        entities.append(with_features(info, feature_names(e.get('features'))))

    i = 0
    while i < len(used):
        t = used[i]
        i += 1
        if isinstance(t, list):
            elem = use_type(t[0])
            entities.append({'name': '[%s]' % elem, 'meta-type': 'array',
                             'element-type': elem})
        elif isinstance(t, _Implicit):
            entities.append({'name': masked(key_of(t)), 'meta-type': 'object',
                             'members': object_info(t.members)})
        elif t in BUILTINS:
            entities.append({'name': t, 'meta-type': 'builtin', 'json-type': BUILTINS[t][1]})
        elif t in schema.enums:
            en = schema.enums[t]
            members = [with_features({'name': v}, en['value_features'].get(v))
                       for v in en['values']]
            entities.append(with_features({'name': masked(key_of(t)), 'meta-type': 'enum',
                                           'members': members, 'values': list(en['values'])},
                                          en['features']))
        elif t in schema.alternates:
            al = schema.alternates[t]
            entities.append(with_features({'name': masked(key_of(t)), 'meta-type': 'alternate',
                                           'members': [{'type': use_type(bt)}
                                                       for _, bt in al['branches']]},
                                          al['features']))
        else:
            st = schema.structs[t]
            info = {'name': masked(key_of(t)), 'meta-type': 'object',
                    'members': object_info(st['members'])}
            if st['union']:
                info['tag'] = st['discriminator']
                variants = [{'case': v, 'type': use_type(vt)}
                            for v, vt in st['variants'].items()]
                # Tag values without a branch have an empty one, listed last, as upstream.
                for v in schema.enums[st['tag'].type]['values']:
                    if v not in st['variants']:
                        variants.append({'case': v, 'type': use_type(_EMPTY)})
                info['variants'] = variants
            entities.append(with_features(info, st['features']))
    return entities


def gen_introspect(schema):
    text = json.dumps(gen_introspect_entities(schema), separators=(',', ':'))
    chunks = [text[i:i + 90] for i in range(0, len(text), 90)]
    c = [HEADER, '/* The query-qmp-schema answer (SchemaInfo list) as JSON. */',
         'extern const char qapi_introspect_json[];', 'const char qapi_introspect_json[] =']
    for ch in chunks:
        c.append('    "%s"' % ch.replace('\\', '\\\\').replace('"', '\\"'))
    c[-1] += ';'
    return '\n'.join(c) + '\n'


def gen_doc(schema):
    out = ['# QMP reference', '',
           'Generated by `scripts/qapi-gen.py` from `qapi/*.json`; do not edit.', '']
    module = None
    for kind, name, doc, mod in schema.docs:
        if kind == 'Command' and schema.commands[name]['_skip']:
            pass
        if mod != module:
            module = mod
            out += ['## %s' % mod, '']
        out.append('### %s `%s`' % (kind, name))
        out.append('')
        if doc:
            lines = doc.split('\n')
            if lines and lines[0].strip() == '@%s:' % name:
                lines = lines[1:]
            out.append('\n'.join(lines).strip())
            out.append('')
    return '\n'.join(out) + '\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-o', '--output-dir', required=True)
    ap.add_argument('--skip-commands', action='append', default=[],
                    help='schema module whose commands are left out (not yet linked)')
    ap.add_argument('schema')
    args = ap.parse_args()
    try:
        schema = Schema(load_schema(args.schema), set(args.skip_commands))
    except (SchemaError, ValueError, KeyError) as e:
        print('qapi-gen: %s' % e, file=sys.stderr)
        sys.exit(1)
    os.makedirs(args.output_dir, exist_ok=True)
    th, tc = gen_types(schema)
    lh, lc = gen_list_helpers(schema)
    th = th.replace('#endif\n', '\n'.join(lh) + '\n\n#endif\n')
    tc += '\n'.join(lc) + '\n'
    ch, cc = gen_commands(schema)
    eh, ec = gen_events(schema)
    files = {
        'qapi-types.h': th, 'qapi-types.c': tc,
        'qapi-commands.h': ch, 'qapi-commands.c': cc,
        'qapi-events.h': eh, 'qapi-events.c': ec,
        'qapi-introspect.c': gen_introspect(schema),
        'qmp-reference.md': gen_doc(schema),
    }
    for fname, text in files.items():
        path = os.path.join(args.output_dir, fname)
        try:
            with open(path, encoding='utf-8') as f:
                if f.read() == text:
                    continue
        except OSError:
            pass
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)


if __name__ == '__main__':
    main()
