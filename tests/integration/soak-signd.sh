#!/bin/bash
# Soak (make check-full only, suite 'soak'): the daemon rombsr-sign runs
# while builds keep arriving, and is killed with SIGKILL at random moments
# and started again. At the end every build is answered exactly once, every
# request has exactly one signature in the audit log, every response
# applies, and the log verifies and agrees with the queue.
#
#   ROMBSR_SOAK_BUILDS  builds to submit (default 40)
#   ROMBSR_SOAK_KILLS   SIGKILLs spread over them (default 8)
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

builds=${ROMBSR_SOAK_BUILDS:-40}
kills=${ROMBSR_SOAK_KILLS:-8}
queue_setup
SIGND_EXE="$ROMBSR_BUILD_DIR/src/signd/rombsr-sign"
has_response() { git --git-dir="$QUEUE" cat-file -e "main:responses/$NODE/$1.json" 2>/dev/null; }

daemon=
start_daemon() {
	"$SIGND_EXE" --config "$SIGN_CONF" >>"$WORK/daemon.out" 2>>"$WORK/daemon.err" &
	daemon=$!
}
start_daemon

step "$builds builds while the daemon is killed $kills times"
kill_every=$(( (builds + kills - 1) / kills ))
for i in $(seq 1 "$builds"); do
	b="s$i"
	head -c $((1000 + RANDOM % 4000)) /dev/urandom >"$ROOT/$b.bin"
	head -c $((1000 + RANDOM % 4000)) /dev/urandom >"$ROOT/$b.img"
	submit "$b" --raw "media=$ROOT/$b.bin" --raw "device=$ROOT/$b.img" >"$WORK/submit.out" 2>&1 ||
		{ cat "$WORK/submit.out" >&2; fail "submit $b"; }
	kill -USR1 "$daemon" 2>/dev/null || true
	if [ $((i % kill_every)) -eq 0 ]; then
		# Somewhere in the batch that build i started: before, during or after.
		sleep "0.$((RANDOM % 10))"
		kill -KILL "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
		start_daemon
	fi
done

step "every build is answered"
for i in $(seq 1 "$builds"); do
	for _ in $(seq 1 600); do
		has_response "s$i" && break
		kill -USR1 "$daemon" 2>/dev/null || true
		sleep 0.1
	done
	has_response "s$i" || { tail -40 "$WORK/daemon.err" >&2; fail "s$i was never answered"; }
done
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || { tail -40 "$WORK/daemon.err" >&2; fail "rombsr-sign exited $rc on SIGTERM"; }

step "exactly once: one response per build, one signature per request, each applies"
answers=$(git --git-dir="$QUEUE" log --format= --name-only --diff-filter=A main -- "responses/$NODE/" | grep -c . || true)
[ "$answers" -eq "$builds" ] || fail "$answers responses added for $builds builds"
"$ROMBSR" audit show --json "$SIGND/audit" |
	jq -r 'select(.entry.type == "sign") | "\(.entry.build_id) \(.entry.key)"' | sort | uniq -c >"$WORK/signs"
[ "$(wc -l <"$WORK/signs")" -eq $((2 * builds)) ] || { cat "$WORK/signs" >&2; fail "not one signature per request"; }
awk '$1 != 1 { bad = 1 } END { exit bad }' "$WORK/signs" || { cat "$WORK/signs" >&2; fail "a request was signed twice"; }
for i in $(seq 1 "$builds"); do
	apply "s$i" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply s$i"; }
done

step "the audit log verifies and agrees with the queue"
"$ROMBSR" audit verify --manifest "$MANIFEST" --trust-dir "$WORK/trust" "$SIGND/audit" >"$WORK/audit.out" 2>&1 ||
	{ cat "$WORK/audit.out" >&2; fail "the audit log does not verify after the kills"; }
"$ROMBSR" audit verify --manifest "$MANIFEST" --trust-dir "$WORK/trust" --queue "$QUEUE" "$SIGND/audit" >"$WORK/cross.out" 2>&1 ||
	{ cat "$WORK/cross.out" >&2; fail "the audit log and the queue disagree after the kills"; }
echo "soak-signd: OK ($builds builds, $kills kills)"
