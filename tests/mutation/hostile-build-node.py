#!/usr/bin/env python3
"""Mutation check of the hostile-build-node defences (make mutate).

Each entry below removes one defence of the sign node or the build-node
commands with the smallest source edit that does it. The runner builds a
copy of the tree with the edit and runs the integration test that attacks
that defence; the test must FAIL. A test that still passes with its
defence gone proves nothing, so that is what this catches.

A few defences are layered on purpose (LAYERED below): removing one layer
alone leaves the attack refused by the other, and the test is expected to
pass; the combined entry (for example M2 = M1 + M2b) must fail.

Usage: tests/mutation/hostile-build-node.py [--keep DIR] [NAME...]
docs/testing/MUTATIONS.md has the table of what each entry removes, the
failure message it produced, and why the layered ones pass.
Ends with the line "N passed, N failed" (passed = the test caught it).
"""
import os
import shutil
import subprocess
import sys
import tempfile

MUTATIONS = M = {
 # signing-oracle.sh
 'M1': [('src/lib/request/request_build.c', '\treturn request_key_purpose_check(kind, key);\n', '\t(void)kind; return RB_OK; /* MUTATION */\n')],
 'M2b': [('src/lib/request/request_parse.c', '\tif ((err = request_key_purpose_check(e->kind, k)) < 0) {\n', '\tif (0 && (err = request_key_purpose_check(e->kind, k)) < 0) { /* MUTATION */\n')],
 'M3': [('src/signd/decide.c', '\tif ((err = request_key_purpose_check(e->kind, mk)) < 0)\n', '\tif (0 && (err = request_key_purpose_check(e->kind, mk)) < 0) /* MUTATION */\n')],
 'M6': [('src/signd/decide.c', '\tif ((err = request_key_purpose_check(e->kind, mk)) < 0)\n', '\tif (!(mk->purposes & KEY_PURPOSES_SIGN_NODE) && (err = request_key_purpose_check(e->kind, mk)) < 0) /* MUTATION */\n')],
 'M7': [('src/lib/queue/config.c', '\t\tif (strcmp(v, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(v, SIGN_NODE_AUDIT_KEY) == 0)\n', '\t\tif (0 && (strcmp(v, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(v, SIGN_NODE_AUDIT_KEY) == 0)) /* MUTATION */\n')],
 'M8': [('src/lib/queue/config.c', '\tif (strcmp(name, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(name, SIGN_NODE_AUDIT_KEY) == 0)\n', '\tif (0 && (strcmp(name, SIGN_NODE_QUEUE_KEY) == 0 || strcmp(name, SIGN_NODE_AUDIT_KEY) == 0)) /* MUTATION */\n')],
 'M9': [('src/cli/cmd_sign_file.c', '\tif (mk->purposes & KEY_PURPOSES_SIGN_NODE)\n', '\tif (0 && (mk->purposes & KEY_PURPOSES_SIGN_NODE)) /* MUTATION */\n')],
 'M10': [('src/cli/cmd_sign_file.c', '\tif ((err = check_purpose(mk, openpgp)) < 0)\n', '\tif (0 && (err = check_purpose(mk, openpgp)) < 0) /* MUTATION */\n')],
 'M11': [('src/cli/cmd_sign_file.c', '\tif (!(mk->purposes & want))\n', '\tif (0 && !(mk->purposes & want)) /* MUTATION */\n')],
 'M12': [('src/cli/cmd_approve.c', '\t\tif (strcmp(a->keys[k], SIGN_NODE_QUEUE_KEY) == 0 || strcmp(a->keys[k], SIGN_NODE_AUDIT_KEY) == 0)\n', '\t\tif (0 && (strcmp(a->keys[k], SIGN_NODE_QUEUE_KEY) == 0 || strcmp(a->keys[k], SIGN_NODE_AUDIT_KEY) == 0)) /* MUTATION */\n')],
 'M13a': [('src/lib/keys/purpose.c', '\t\t{ "queue", KEY_PURPOSE_QUEUE_RESPONSE },\n\t\t{ "audit", KEY_PURPOSE_AUDIT_CHECKPOINT },\n', '\t\t/* MUTATION { "queue", KEY_PURPOSE_QUEUE_RESPONSE }, */\n\t\t/* MUTATION { "audit", KEY_PURPOSE_AUDIT_CHECKPOINT }, */\n')],
 'M13b': [('src/lib/keys/purpose.c', '\t\t\treturn map[i].set;\n\treturn KEY_PURPOSE_RAW_DETACHED;\n', '\t\t\treturn KEY_PURPOSES_ALL; /* MUTATION */\n\treturn KEY_PURPOSES_ALL; /* MUTATION */\n')],
 'M14': [('src/lib/keys/manifest.c', '\tstatic const char *const optional[] = { "purpose", "openpgp_certificate",', '\tstatic const char *const optional[] = { "purpose", "purposes" /* MUTATION */, "openpgp_certificate",')],
 'M15': [('src/lib/keys/purpose.c', '\tif ((set & KEY_PURPOSE_OPENPGP_DETACHED) && (set & KEY_PURPOSES_NODE_DIGEST))\n', '\tif (0 && (set & KEY_PURPOSE_OPENPGP_DETACHED) && (set & KEY_PURPOSES_NODE_DIGEST)) /* MUTATION */\n')],
 # hostage.sh
 'H1a': [('src/signd/intake.c', '\treturn b->documents < s->cfg->queue.batch_documents &&\n\t       b->node_documents[node - s->cfg->nodes] < s->cfg->queue.batch_node_documents;\n', '\t(void)s; (void)b; (void)node; return true; /* MUTATION */\n')],
 'H1b': [('src/signd/orchestrator.c', 'size_t cost = it->doc->n_entries ? it->doc->n_entries : 1;', 'size_t cost = it->doc->n_entries; /* MUTATION */')],
 'H1d': [('src/signd/intake.c', '\treturn signd_intake_interleave(s, b);\n}', '\treturn RB_OK; /* MUTATION: signd_intake_interleave(s, b) */\n}')],
 'H2': [('src/signd/decide.c', '\tif (bound <= RESPONSE_MAX_BYTES)\n\t\treturn RB_OK;\n\t/* Refused', '\tif (1 || bound <= RESPONSE_MAX_BYTES) /* MUTATION */\n\t\treturn RB_OK;\n\t/* Refused')],
 'H3': [('src/signd/intake.c', '\tif (intake_is_pending(s, commit, path) || idset_has(&b->paths, psha))\n', '\tif (0 && (intake_is_pending(s, commit, path) || idset_has(&b->paths, psha))) /* MUTATION */\n')],
 'H3a': [('src/signd/intake.c', '\tif (intake_is_pending(s, commit, path) || idset_has(&b->paths, psha))\n', '\tif ((0 /* MUTATION */ && intake_is_pending(s, commit, path)) || idset_has(&b->paths, psha))\n')],
 'H3b': [('src/signd/intake.c', '\tif (intake_is_pending(s, commit, path) || idset_has(&b->paths, psha))\n', '\tif (intake_is_pending(s, commit, path) /* MUTATION || idset_has(&b->paths, psha) */)\n')],
 'H4': [('src/lib/queue/git_read.c', '''			if ((err = blob_size(q, &d->new_file.id, &c.size)) < 0)
				return err;
			if (cap && c.size <= cap) {
				if (git_blob_lookup(&blob, q->repo, &d->new_file.id) < 0)
					return queue_git_fail(RB_E_IO, "reading an added file", q->path);
''', '''			/* MUTATION: inflate the blob to learn its size */
			if (git_blob_lookup(&blob, q->repo, &d->new_file.id) < 0)
				return queue_git_fail(RB_E_IO, "reading an added file", q->path);
			c.size = git_blob_rawsize(blob);
			(void)err;
			if (cap && c.size <= cap) {
'''), ('src/lib/queue/git_read.c', '\tuint64_t size;\n\tuint8_t *data;\n', '\tuint64_t size = 0; /* MUTATION: -Werror=maybe-uninitialized after inlining */\n\tuint8_t *data;\n')],
 'H5a': [('src/signd/intake.c', '\tbool too_big = size > s->cfg->queue.max_request_bytes;\n', '\tbool too_big = false; /* MUTATION: size > s->cfg->queue.max_request_bytes */\n')],
 'H6': [('src/signd/intake.c', '\tif ((err = queue_commit_changes(s->q, commit, 0, intake_change_cb, &ic)) < 0)\n', '\tif ((err = queue_commit_changes(s->q, commit, SIZE_MAX /* MUTATION: 0 */, intake_change_cb, &ic)) < 0)\n')],
 'H7': [('src/lib/queue/git.c', '\tif (q->url_is_local) {\n\t\t/* libgit2', '\tif (0 && q->url_is_local) { /* MUTATION */\n\t\t/* libgit2')],
 'H8': [('src/lib/queue/git.c', '\t    git_config_set_string(cfg, "core.bigFileThreshold", "1m") < 0)\n', '\t    (0 && git_config_set_string(cfg, "core.bigFileThreshold", "1m") < 0)) /* MUTATION */\n')],
}
M['M4']=[('src/signd/hsm.c', '\tif ((err = request_key_purpose_check(e->kind, mk)) < 0 ||\n', '\tif ((0 && (err = request_key_purpose_check(e->kind, mk)) < 0) || /* MUTATION */\n')]
M['M6h']=[('src/signd/hsm.c', '\tif ((err = request_key_purpose_check(e->kind, mk)) < 0 ||\n', '\tif ((!(mk->purposes & KEY_PURPOSES_SIGN_NODE) && (err = request_key_purpose_check(e->kind, mk)) < 0) || /* MUTATION */\n')]
M['M2']=M['M1']+M['M2b']; M['M5']=M['M3']+M['M4']; M['H1c']=M['H1a']+M['H1b']
# signing-oracle.sh runs the queue-key attack on a node that is not allowed
# the queue key; M6b also lets the node have it (as the loader once did), so
# only the purpose checks stand between it and the HSM.
M['M6b'] = M['M6'] + M['M6h'] + M['M7'] + [
    ('tests/integration/signing-oracle.sh', 'ALICE_FPR=$(node_key alice)\nwrite_sign_conf "\tallowKey = testkey"\n',
     'ALICE_FPR=$(node_key alice)\nwrite_sign_conf "\tallowKey = testkey\n\tallowKey = queue"\n')]

# Which test attacks each defence; everything else is signing-oracle.
TEST = {name: ('hostage' if name.startswith('H') else 'signing-oracle') for name in M}

# Removing one of these alone leaves a second layer that still refuses the
# attack: the test passes, and the combined entry must fail.
LAYERED = {
    'M1': 'submit re-parses its document with the manifest (request_parse.c)',
    'M2b': "the request builder's own check (request_build.c)",
    'M4': 'the policy check in decide.c runs before the HSM-side check',
    'M6h': "decide.c refuses the queue key's raw request first (M6b removes both)",
    'H3a': "idset_has(): the pending copy's path is already in the batch",
    'H3b': 'intake_is_pending()',
}


def apply(tree, name):
    for path, old, new in M[name]:
        p = os.path.join(tree, path)
        with open(p) as f:
            s = f.read()
        if s.count(old) != 1:
            raise SystemExit(f'{name}: {path}: the text to mutate is not there once '
                             f'(the source changed: update tests/mutation/hostile-build-node.py)')
        with open(p, 'w') as f:
            f.write(s.replace(old, new))


def run(cmd, cwd, log, env=None):
    with open(log, 'ab') as out:
        return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              env=env).returncode


def main(argv):
    keep = None
    if argv[:1] == ['--keep']:
        keep, argv = argv[1], argv[2:]
    names = argv or sorted(M, key=lambda n: (n[0], int(''.join(c for c in n[1:] if c.isdigit())), n))
    for n in names:
        if n not in M:
            raise SystemExit(f'{n}: no such mutation (known: {" ".join(sorted(M))})')
    top = subprocess.check_output(['git', 'rev-parse', '--show-toplevel'],
                                  cwd=os.path.dirname(os.path.abspath(__file__))).decode().strip()
    work = keep or tempfile.mkdtemp(prefix='rombsr-mutate-')
    tree, build, logs = (os.path.join(work, d) for d in ('tree', 'build', 'logs'))
    os.makedirs(logs, exist_ok=True)
    if not os.path.isdir(tree):
        # A copy of the tracked files, so the mutations never touch the
        # checkout a developer is working in.
        os.makedirs(tree)
        subprocess.check_call(f'git ls-files -z | xargs -0 cp --parents -t {tree}',
                              shell=True, cwd=top)
        subprocess.check_call(['git', 'init', '-q'], cwd=tree)
        subprocess.check_call(['git', 'add', '-A'], cwd=tree)
        subprocess.check_call(['git', '-c', 'user.name=mutate', '-c', 'user.email=mutate@localhost',
                               'commit', '-qm', 'base'], cwd=tree)
    if not os.path.isfile(os.path.join(build, 'build.ninja')):
        if run(['meson', 'setup', build], tree, os.path.join(logs, 'setup.log')):
            raise SystemExit(f'meson setup failed: {logs}/setup.log')
    env = dict(os.environ, ROMBSR_HOSTAGE_FLOOD=os.environ.get('ROMBSR_HOSTAGE_FLOOD', '2000'))
    passed = failed = 0
    for n in names:
        subprocess.check_call(['git', 'checkout', '-q', '--', '.'], cwd=tree)
        apply(tree, n)
        log = os.path.join(logs, n + '.log')
        if os.path.exists(log):
            os.unlink(log)
        if run(['ninja', '-C', build], tree, log):
            print(f'{n}: FAIL: the mutated tree does not build ({log})')
            failed += 1
            continue
        rc = run(['meson', 'test', '-C', build, '--no-rebuild', '--print-errorlogs',
                  'integration-' + TEST[n]], tree, log, env)
        caught = rc != 0
        if n in LAYERED:
            ok = not caught
            what = 'passes, as expected: ' + LAYERED[n] if ok else 'the test failed where a second layer should hold'
        else:
            ok = caught
            what = 'the test caught it' if ok else 'the test PASSED with the defence removed'
        print(f'{n} ({TEST[n]}): {"OK" if ok else "FAIL"}: {what}', flush=True)
        passed, failed = passed + ok, failed + (not ok)
    subprocess.check_call(['git', 'checkout', '-q', '--', '.'], cwd=tree)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f'logs in {logs}')
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
