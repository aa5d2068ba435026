#!/usr/bin/env python3
"""librombsr.so exports exactly its documented API: the functions listed in
docs/API.md, the version script's global list and the library's defined
dynamic symbols (nm -D --defined-only) are the same set, each symbol under
the version node the script names.

    test_exports.py NM LIBROMBSR.so librombsr.map API.md
"""
import re
import subprocess
import sys


def documented(path):
    """Symbols of the tables in API.md: rows whose first cell is `name`."""
    names = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|', line)
            if m:
                names.append(m.group(1))
    return names


def version_script(path):
    """(version node, [global symbols]) of a script with one node."""
    text = re.sub(r'/\*.*?\*/', '', open(path, encoding='utf-8').read(), flags=re.S)
    m = re.search(r'([A-Za-z_][A-Za-z0-9_.]*)\s*\{\s*global:(.*?)local:\s*\*\s*;\s*\}\s*;', text, re.S)
    if not m:
        sys.exit(f'{path}: expected one version node with global: and local: *;')
    return m.group(1), [s.strip() for s in m.group(2).split(';') if s.strip()]


def exported(nm, lib):
    """{symbol: version} of the defined dynamic symbols; version nodes
    (absolute symbols) are returned apart."""
    out = subprocess.run([nm, '-D', '--defined-only', lib], capture_output=True, text=True,
                         check=True).stdout
    syms, nodes = {}, set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        if kind == 'A':
            nodes.add(name)
            continue
        base, _, ver = name.partition('@')
        syms[base] = ver.lstrip('@')
    return syms, nodes


def compare(what_a, a, what_b, b):
    problems = []
    for s in sorted(set(a) - set(b)):
        problems.append(f'{s}: in {what_a}, not in {what_b}')
    for s in sorted(set(b) - set(a)):
        problems.append(f'{s}: in {what_b}, not in {what_a}')
    return problems


def main():
    nm, lib, map_path, doc_path = sys.argv[1:5]
    doc = documented(doc_path)
    node, script = version_script(map_path)
    syms, nodes = exported(nm, lib)

    problems = []
    for what, names in (('docs/API.md', doc), ('the version script', script)):
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            problems.append(f'{what} lists {", ".join(dups)} twice')
    if len(doc) < 10:
        problems.append(f'docs/API.md lists {len(doc)} symbols: is the table format still '
                        f'"| `name` | ... |"?')
    problems += compare('docs/API.md', doc, 'the version script', script)
    problems += compare('docs/API.md', doc, f'nm -D {lib}', syms)
    for s, ver in sorted(syms.items()):
        if s in doc and ver != node:
            problems.append(f'{s}: exported as version "{ver}", not {node}')
    if nodes - {node}:
        problems.append(f'unexpected version nodes: {", ".join(sorted(nodes - {node}))}')
    if node not in doc_text(doc_path):
        problems.append(f'docs/API.md does not name the version node {node}')

    for p in problems:
        print(p)
    if problems:
        print(f'the exported API differs from docs/API.md: {len(problems)} problem(s)')
        return 1
    print(f'{len(syms)} exported symbols, all documented in docs/API.md, version {node}')
    return 0


def doc_text(path):
    return open(path, encoding='utf-8').read()


if __name__ == '__main__':
    sys.exit(main())
