#!/usr/bin/env python3
"""scripts/check-layers catches what it is for: each case plants one bad
include (or a bad table) in a small temporary tree and expects exit 1 and
a message naming the file; the clean tree passes.

    test_check_layers.py PATH-TO-check-layers
"""
import os
import subprocess
import sys
import tempfile

LAYERS = """# a small table like src/LAYERS
core      util
formats   keys audit
hsm       p11
zones     admin src/signd
"""

CLEAN = {
    'src/lib/util/err.h': '#include <stddef.h>\n',
    'src/lib/util/err.c': '#include "util/err.h"\n#include "config.h"\n',
    'src/lib/keys/manifest.h': '#include "util/err.h"\n',
    'src/lib/keys/manifest-internal.h': '#include "keys/manifest.h"\n',
    'src/lib/audit/log.h': '#include "keys/manifest.h"\n',
    'src/lib/p11/p11.h': '#include "keys/manifest.h"\n',
    'src/lib/admin/lifecycle.c': '#include "audit/log.h"\n#include "p11/p11.h"\n',
    'src/signd/hsm.c': '#include "signd-internal.h"\n#include "admin/lifecycle.c"\n',
    'src/signd/signd-internal.h': '#include "p11/p11.h"\n',
}

# name -> (files to add or replace, text the output must contain)
CASES = {
    'upward include, core to formats': (
        {'src/lib/util/err.c': '#include "util/err.h"\n#include "keys/manifest.h"\n'},
        'src/lib/util/err.c:2: includes "keys/manifest.h" of keys (layer formats) from util'),
    'upward include in a header, formats to hsm': (
        {'src/lib/keys/manifest.h': '#include "util/err.h"\n\n#include "p11/p11.h"\n'},
        'src/lib/keys/manifest.h:3: includes "p11/p11.h" of p11 (layer hsm)'),
    'library to a program': (
        {'src/lib/p11/p11.h': '#include "src/signd/signd-internal.h"\n'},
        'src/lib/p11/p11.h:1: includes "src/signd/signd-internal.h" of src/signd'),
    'cycle within a layer': (
        {'src/lib/keys/manifest.h': '#include "audit/log.h"\n'},
        'cycle: audit -> keys'),
    'area in no layer': (
        {'src/lib/queue/git.c': '#include "util/err.h"\n'},
        'src/lib/queue: area queue is in no layer'),
    'program folder in no layer': (
        {'src/cli/main.c': '#include "util/err.h"\n'},
        'src/cli: area src/cli is in no layer'),
}


def make_tree(top, files):
    os.makedirs(os.path.join(top, 'src'), exist_ok=True)
    with open(os.path.join(top, 'src', 'LAYERS'), 'w') as f:
        f.write(LAYERS)
    for rel, text in files.items():
        p = os.path.join(top, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)


def run(checker, top):
    r = subprocess.run([sys.executable, checker, '--root', top], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    checker = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        top = os.path.join(tmp, 'clean')
        make_tree(top, CLEAN)
        rc, out = run(checker, top)
        if rc != 0:
            print(f'FAIL clean tree: exit {rc}\n{out}')
            failures += 1
        else:
            print('ok   clean tree passes')
        for i, (name, (planted, expect)) in enumerate(CASES.items()):
            top = os.path.join(tmp, f'case{i}')
            make_tree(top, {**CLEAN, **planted})
            rc, out = run(checker, top)
            if rc != 1 or expect not in out:
                print(f'FAIL {name}: exit {rc}, expected 1 and "{expect}" in:\n{out}')
                failures += 1
            else:
                print(f'ok   {name}: refused')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
