#!/bin/bash
# The queue's server loses the sign node's response commit, and only
# that: `git update-ref main main~1` on the server after a batch answered
# three builds. last-commit (the tip the batch fetched) is still on the
# branch, so only the node's memory of its own response commit can tell.
# The sign node must halt (exit 6, `event=halt reason=response-missing`,
# nothing signed), and `rombsr audit verify --queue` must name every
# signed entry whose response is gone (exit 7, `response-missing`). Once
# the commit is back, the node signs again.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

queue_setup
xcheck() { # EXPECTED-EXIT
	expect_exit "$1" "$ROMBSR" audit verify "$SIGND/audit" --manifest "$MANIFEST" --no-trust --queue "$QUEUE"
}

step "three builds, one batch, one response commit"
for b in b1 b2 b3; do
	head -c 2048 /dev/urandom >"$ROOT/$b.bin"
	submit "$b" --raw "media=$ROOT/$b.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit $b"; }
done
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign b1-b3"; }
grep -q '3 documents answered, 3 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "sign summary"; }
resp=$(git --git-dir="$QUEUE" rev-parse main)
xcheck 0

step "the server drops the response commit: the cross-check names the three signatures"
git --git-dir="$QUEUE" update-ref refs/heads/main "$resp~1"
for b in b1 b2 b3; do has_response "$b" && fail "$b still has its response"; done
xcheck 7
[ "$(grep -c '^response-missing: leaf ' "$WORK/last.out")" -eq 3 ] ||
	{ cat "$WORK/last.out" >&2; fail "expected three response-missing findings"; }
for b in b1 b2 b3; do
	grep -q "^response-missing: leaf [0-9]* requests/$NODE/$b.json (commit [0-9a-f]*): request [0-9a-f]* of this document was signed" \
		"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "$b's lost response is not reported"; }
done

step "new work arrives: the sign node halts and signs nothing"
head -c 2048 /dev/urandom >"$ROOT/b4.bin"
submit b4 --raw "media=$ROOT/b4.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit b4"; }
before=$(audit_sign_count)
expect_exit 6 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "response commit $resp, published by this sign node, is no longer on branch main"
expect_err "event=halt reason=response-missing"
[ "$(audit_sign_count)" -eq "$before" ] || fail "the sign node signed after its response commit was lost"
has_response b4 && fail "b4 was answered"

step "the response commit is put back: the sign node goes on"
# The sign node's own mirror still holds it; the operator restores the
# branch to it (b4, committed on the damaged branch, is submitted again).
git --git-dir="$QUEUE" fetch -q "$SIGND/queue" "+$resp:refs/heads/main"
[ "$(git --git-dir="$QUEUE" rev-parse main)" = "$resp" ] || fail "the branch was not restored"
rm -rf "$CACHE"
submit b5 --raw "media=$ROOT/b4.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit b5"; }
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign after the restore"; }
grep -q '1 documents answered, 1 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "b5 was not signed"; }
xcheck 0
echo "fault-lost-response: OK"
