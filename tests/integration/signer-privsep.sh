#!/bin/bash
# The sign node is two processes: rombsr-sign, the orchestrator, parses
# what build nodes write, under a syscall allow-list, and never maps the
# PKCS#11 module; rombsr-signer, the key holder, its child, is the only
# process with the module, the PIN and a logged-in session. A build is
# signed end to end through the pair. Then an orchestrator in an
# attacker's hands (tools/hostile-orchestrator.py) asks the real key
# holder for what a parser exploit would ask for - keys the node may not
# use, keys outside their purposes, another log's checkpoint, malformed
# and oversized messages - and is refused every time.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

need python3 pgrep
queue_setup
module=$(readlink -f "$SOFTHSM_MODULE")

step "the daemon runs as two processes"
daemon_start
keyholder=""
wait_for 30 pgrep -P "$daemon" -x rombsr-signer >/dev/null || fail "rombsr-sign has no rombsr-signer child"
keyholder=$(pgrep -P "$daemon" -x rombsr-signer)
[ "$(echo "$keyholder" | wc -l)" -eq 1 ] || fail "more than one key holder: $keyholder"

step "only the key holder maps the PKCS#11 module"
grep -qF "$module" "/proc/$keyholder/maps" || fail "the key holder has not mapped $module"
if grep -qF "$module" "/proc/$daemon/maps"; then
	fail "the orchestrator (pid $daemon) maps the PKCS#11 module $module"
fi

step "the orchestrator runs under its syscall filter"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$daemon/status" || fail "rombsr-sign is not under a seccomp filter"
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$daemon/status" || fail "rombsr-sign may gain privileges"

step "a build is signed through the pair"
head -c 4096 /dev/urandom >"$ROOT/b1.bin"
head -c 4096 /dev/urandom >"$ROOT/b1.pkg"
submit b1 --raw "media=$ROOT/b1.bin" --openpgp "release=$ROOT/b1.pkg" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit b1"; }
kill -USR1 "$daemon"
wait_for 60 has_response b1 || { cat "$WORK/daemon.err" >&2; fail "no response for b1"; }
apply b1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply b1"; }
[ "$(audit_sign_count)" -eq 2 ] || fail "expected 2 sign entries in the audit log"

step "the key holder ends with the orchestrator"
kill -TERM "$daemon"
wait "$daemon" || fail "rombsr-sign did not stop cleanly"
wait_for 30 sh -c "! kill -0 $keyholder 2>/dev/null" || fail "the key holder outlived the orchestrator"

step "an orchestrator taken over cannot sign outside policy"
python3 "$ROMBSR_SOURCE_DIR/tests/integration/tools/hostile-orchestrator.py" \
	"$ROMBSR_BUILD_DIR/src/signer/rombsr-signer" "$SIGN_CONF" "$MANIFEST" "$NODE" >"$WORK/hostile.out" 2>&1 ||
	{ cat "$WORK/hostile.out" >&2; fail "the key holder granted what its policy refuses"; }
cat "$WORK/hostile.out"
[ "$(grep -c '^ok ' "$WORK/hostile.out")" -eq 15 ] || fail "not every hostile case ran"

echo "signer-privsep: OK"
