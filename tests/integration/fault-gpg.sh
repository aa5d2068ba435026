#!/bin/bash
# A gpg that cannot run is no verdict on a signature. While fork() fails
# (tools/fault-shim.c, preloaded into the sign node), the sign node cannot
# start gpg to verify a queue commit: it must not refuse the commit as
# badly signed and move past it. The batch stops before last-commit moves,
# rombsr-sign retries on its own with backoff, and once gpg runs again
# every build is answered, with no refusal logged or audited. `rombsr sign
# --once` exits 13 (retry) when git or its key holder (rombsr-signer)
# cannot start, and answers nothing until a run that can.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

SHIM="$ROMBSR_BUILD_DIR/tests/integration/tools/fault-shim.so"
[ -f "$SHIM" ] || fail "no fault shim at $SHIM; build first"
FORK_FAILS="$WORK/fork-fails"
SPAWN_FAILS="$WORK/spawn-fails"
# `env "${FAULTY[@]}" CMD`: CMD under the shim. The shim is not
# instrumented, so it comes before the ASan runtime in a sanitizer build;
# gpg and git inherit it.
FAULTY=(LD_PRELOAD="$SHIM" ROMBSR_FAULT_FORK="$FORK_FAILS" ROMBSR_FAULT_SPAWN="$SPAWN_FAILS"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
answered_signed() { # BUILD: its response signs every request
	git --git-dir="$QUEUE" show "main:responses/$NODE/$1.json" |
		jq -e '[.required.entries[] | .status] | length > 0 and all(. == "signed")' >/dev/null
}
audit_rejects() {
	"$ROMBSR" audit show --json "$SIGND/audit" | jq -s '[.[] | select(.entry.type == "reject")] | length'
}

queue_setup
head -c 4096 /dev/urandom >"$ROOT/a.bin"
head -c 4096 /dev/urandom >"$ROOT/b.bin"

step "the daemon: fork fails while it verifies the builds' commits"
# An hour's poll: only a trigger, or a retry of its own, makes it look.
POLL_SECONDS=3600 write_sign_conf
env "${FAULTY[@]}" "$ROMBSR_BUILD_DIR/src/signd/rombsr-sign" --config "$SIGN_CONF" >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
wait_for 120 grep -q 'rombsr-sign: started' "$WORK/daemon.err" ||
	{ cat "$WORK/daemon.err" >&2; fail "rombsr-sign did not start"; }
for b in g1 g2; do
	submit "$b" --raw "media=$ROOT/a.bin" --raw "platform=$ROOT/b.bin" >"$WORK/submit.out" 2>&1 ||
		{ cat "$WORK/submit.out" >&2; fail "submit $b"; }
done
touch "$FORK_FAILS"
kill -HUP "$daemon"
wait_for 120 grep -q 'event=refuse\|retrying in' "$WORK/daemon.err" ||
	{ cat "$WORK/daemon.err" >&2; fail "the daemon did not look at the queue"; }
if grep -q 'event=refuse' "$WORK/daemon.err"; then
	cat "$WORK/daemon.err" >&2
	fail "a commit was refused because gpg could not run"
fi
grep -q 'gpg could not run: Resource temporarily unavailable' "$WORK/daemon.err" ||
	{ cat "$WORK/daemon.err" >&2; fail "the failed batch does not say why"; }
# Retried without a trigger, well before the next poll.
wait_for 60 grep -q 'batch failed (2 in a row)' "$WORK/daemon.err" ||
	{ cat "$WORK/daemon.err" >&2; fail "the daemon did not retry on its own"; }
has_response g1 && fail "g1 was answered while gpg could not run"

step "gpg runs again: every build is answered, nothing refused"
rm "$FORK_FAILS"
wait_for 120 has_response g2 || { cat "$WORK/daemon.err" >&2; fail "the daemon never answered g2"; }
for b in g1 g2; do
	answered_signed "$b" || fail "$b: not every request was signed"
done
grep -q 'event=refuse' "$WORK/daemon.err" && fail "a refusal was logged"
[ "$(audit_rejects)" -eq 0 ] || fail "the audit log records rejections"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/daemon.err" >&2; fail "rombsr-sign exited $rc on SIGTERM"; }

step "sign --once: git cannot start, then its key holder cannot: exit 13 each time, nothing answered"
submit g3 --raw "media=$ROOT/a.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit g3"; }
touch "$SPAWN_FAILS"
expect_exit 13 env "${FAULTY[@]}" "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "cannot start git: Resource temporarily unavailable; nothing was done, try again"
rm "$SPAWN_FAILS"
touch "$FORK_FAILS"
expect_exit 13 env "${FAULTY[@]}" "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "cannot start the key holder: fork: Resource temporarily unavailable; nothing was done, try again"
rm "$FORK_FAILS"
has_response g3 && fail "g3 was answered by a run that failed"
sign_once || { cat "$WORK/sign.err" >&2; fail "sign g3"; }
answered_signed g3 || fail "g3 was not signed"
[ "$(audit_rejects)" -eq 0 ] || fail "the audit log records rejections"
echo "fault-gpg: OK"
