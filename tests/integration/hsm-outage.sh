#!/bin/bash
# The HSM goes away under a running sign node and comes back: SoftHSM2's
# token directory is moved away while rombsr-sign runs and builds arrive,
# then moved back. The daemon must notice the lost token, answer nothing
# while it is away (no hsm-error rejections), write one `hsm-outage`
# audit entry per outage however often it retries, and, once the token
# is back, reopen it, log in, find its keys again (checked against the
# manifest) and sign every waiting build, with no one restarting it.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

queue_setup
TOKENS="$STATE/tokens"

audit_count() { # TYPE [JQ-CONDITION]
	"$ROMBSR" audit show --json "$SIGND/audit" |
		jq -s "[.[] | select(.entry.type == \"$1\") ${2:+| select($2)}] | length"
}

# The sign node's token, away: an empty token directory is a SoftHSM2
# with no token at all, as after an HSM restart that has not finished.
token_away() {
	mv "$TOKENS" "$TOKENS.away"
	mkdir "$TOKENS"
}
token_back() {
	rmdir "$TOKENS"
	mv "$TOKENS.away" "$TOKENS"
}

submit_builds() { # BUILD...
	for b in "$@"; do
		head -c 4096 /dev/urandom >"$ROOT/$b.bin"
		head -c 4096 /dev/urandom >"$ROOT/$b.pkg"
		submit "$b" --raw "media=$ROOT/$b.bin" --openpgp "release=$ROOT/$b.pkg" >"$WORK/submit.out" 2>&1 ||
			{ cat "$WORK/submit.out" >&2; fail "submit $b"; }
	done
}

answered() { # BUILD...
	for b in "$@"; do has_response "$b" || return 1; done
}

# Retries so far: the daemon prints one line per failed batch.
retries() { grep -c 'rombsr-sign: batch failed' "$WORK/daemon.err" || true; }
retried() { [ "$(retries)" -ge "$1" ]; } # N: at least N failed batches so far

step "a running sign node answers a first build"
daemon_start
submit_builds a1
kill -USR1 "$daemon"
wait_for 60 answered a1 || { cat "$WORK/daemon.err" >&2; fail "a1 was not answered"; }

for outage in 1 2; do
	step "outage $outage: the token goes away while builds arrive; nothing is answered"
	token_away
	before=$(retries)
	builds=(o${outage}a o${outage}b o${outage}c)
	submit_builds "${builds[@]}"
	kill -USR1 "$daemon"
	wait_for 60 grep -q "event=hsm-lost" "$WORK/daemon.err" ||
		{ cat "$WORK/daemon.err" >&2; fail "the daemon did not notice the lost token"; }
	# Several retries while the token is away: each one must add nothing.
	wait_for 60 retried $((before + 3)) ||
		{ cat "$WORK/daemon.err" >&2; fail "the daemon did not retry while the token was away"; }
	for b in "${builds[@]}"; do has_response "$b" && fail "$b was answered while the token was away"; done
	kill -0 "$daemon" 2>/dev/null || { cat "$WORK/daemon.err" >&2; fail "the daemon exited during the outage"; }

	step "outage $outage: the token comes back; every waiting build is signed, no restart"
	token_back
	kill -USR1 "$daemon"
	wait_for 120 answered "${builds[@]}" ||
		{ cat "$WORK/daemon.err" >&2; fail "the builds were not answered after the token came back"; }
	grep -q "event=hsm-back" "$WORK/daemon.err" || fail "no event=hsm-back in the daemon's log"
	[ "$(audit_count hsm-outage)" -eq "$outage" ] ||
		{ "$ROMBSR" audit show "$SIGND/audit" >&2; fail "expected $outage hsm-outage entries (one per outage)"; }
done

step "every signature is in place and verifies; no request was rejected"
for b in a1 o1a o1b o1c o2a o2b o2c; do
	apply "$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $b"; }
	"$ROMBSR" verify --manifest "$MANIFEST" "$ROOT/$b.bin" "$ROOT/$b.pkg" >"$WORK/verify.out" 2>&1 ||
		{ cat "$WORK/verify.out" >&2; fail "$b: the signatures do not verify"; }
done
[ "$(audit_count reject)" -eq 0 ] || { "$ROMBSR" audit show "$SIGND/audit" >&2; fail "requests were rejected during the outages"; }
[ "$(audit_count sign)" -eq 14 ] || fail "expected 14 sign entries, one per request"
"$ROMBSR" audit verify "$SIGND/audit" --manifest "$MANIFEST" --no-trust --queue "$QUEUE" >"$WORK/xcheck.out" 2>&1 ||
	{ cat "$WORK/xcheck.out" >&2; fail "audit verify --queue after the outages"; }

step "SIGTERM: a clean stop"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/daemon.err" >&2; fail "rombsr-sign exited $rc on SIGTERM"; }
if grep -q "$PIN" "$WORK/daemon.err"; then fail "the operator PIN appears in the daemon's log"; fi
echo "PASS"
