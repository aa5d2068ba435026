#!/bin/bash
# Publishers race to one queue branch: eight submitters at once (four
# build nodes, two build machines each, every machine with its own queue
# mirror), while a running rombsr-sign publishes its responses to the same
# branch. Whoever loses a push race (git's "fetch first", "cannot lock
# ref", ...) must fetch, rebuild, sign again and retry within its publish
# deadline, never report the race as a refusal: every submit exits 0 and
# every build is answered, each request signed exactly once.
# The first argument is how many builds each machine submits, one after
# the other (check-full's soak-push-race: 3).
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

NODES=(builder1 builder2 builder3 builder4)
MACHINES=2
BUILDS=${1:-3}
# The test checks that lost races are retried, not how fast a loaded
# 2-core machine publishes: a deadline well above the default (120 s),
# since check-full runs it beside other tests.
PUBLISH_SECONDS=600

queue_setup
declare -A FPR
FPR[builder1]=$NODE_FPR
extra=""
for n in "${NODES[@]:1}"; do
	FPR[$n]=$(node_key "$n")
	extra+="[node \"$n\"]
	fingerprint = ${FPR[$n]}
	publicKey = $WORK/$n.asc
	allowKey = media
"
done
# The queue's guard reads the same sign.conf: the new nodes may push.
write_sign_conf "$extra"

# One build machine: BUILDS builds one after the other, each submitted
# as soon as it is ready. Exit status and output per build.
machine() { # NODE M
	local n=$1 m=$2 b
	for ((i = 1; i <= BUILDS; i++)); do
		b="$n-m$m-b$i"
		mkdir -p "$WORK/root-$n-$m"
		head -c 2048 /dev/urandom >"$WORK/root-$n-$m/$b.bin"
		rc=0
		"$ROMBSR" submit --build-id "$b" --node "$n" --queue "$QUEUE" --signing-key "${FPR[$n]}" \
			--gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$WORK/root-$n-$m" \
			--cache "$WORK/cache-$n-$m" --raw "media=$WORK/root-$n-$m/$b.bin" \
			--publish-seconds "$PUBLISH_SECONDS" >"$WORK/submit-$b.out" 2>&1 || rc=$?
		echo "$rc" >"$WORK/submit-$b.rc"
	done
}

step "a running sign node"
daemon_start

total=$((${#NODES[@]} * MACHINES * BUILDS))
step "$((${#NODES[@]} * MACHINES)) submitters at once, $total builds, while the sign node publishes"
pids=()
for n in "${NODES[@]}"; do
	for ((m = 1; m <= MACHINES; m++)); do
		machine "$n" "$m" &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do wait "$p"; done
for n in "${NODES[@]}"; do
	for ((m = 1; m <= MACHINES; m++)); do
		for ((i = 1; i <= BUILDS; i++)); do
			b="$n-m$m-b$i"
			[ "$(cat "$WORK/submit-$b.rc")" = 0 ] || { cat "$WORK/submit-$b.out" >&2; fail "submit $b lost a race"; }
		done
	done
done

step "every build is answered, each request signed once"
answered_all() {
	local n m i
	for n in "${NODES[@]}"; do
		for ((m = 1; m <= MACHINES; m++)); do
			for ((i = 1; i <= BUILDS; i++)); do
				git --git-dir="$QUEUE" cat-file -e "main:responses/$n/$n-m$m-b$i.json" 2>/dev/null || return 1
			done
		done
	done
}
kill -USR1 "$daemon"
wait_for 180 answered_all || { cat "$WORK/daemon.err" >&2; fail "not every build was answered"; }
[ "$(audit_sign_count)" -eq "$total" ] || fail "$(audit_sign_count) sign entries for $total requests"
for n in "${NODES[@]}"; do
	for ((m = 1; m <= MACHINES; m++)); do
		for ((i = 1; i <= BUILDS; i++)); do
			b="$n-m$m-b$i"
			"$ROMBSR" apply --build-id "$b" --node "$n" --queue "$QUEUE" --manifest "$MANIFEST" \
				--root "$WORK/root-$n-$m" --cache "$WORK/cache-$n-$m" >"$WORK/apply.out" 2>&1 ||
				{ cat "$WORK/apply.out" >&2; fail "apply $b"; }
			"$ROMBSR" verify --manifest "$MANIFEST" "$WORK/root-$n-$m/$b.bin" >"$WORK/verify.out" 2>&1 ||
				{ cat "$WORK/verify.out" >&2; fail "$b: the signature does not verify"; }
		done
	done
done
# The test proves something only if races happened and were retried.
races=$(cat "$WORK"/submit-*.out | sed -n 's/^submit: other publishers moved the queue on \([0-9]*\) time.*/\1/p' |
	awk '{ n += $1 } END { print n + 0 }')
echo "submitters lost $races races; the sign node: $(grep -c 'event=publish-race' "$WORK/daemon.err" || true) publishes with lost races"
[ "$races" -gt 0 ] || fail "no submit lost a race: the test did not make publishers collide"
if grep -q 'batch failed' "$WORK/daemon.err"; then
	cat "$WORK/daemon.err" >&2
	fail "a sign-node batch failed (its publish lost a race it should have retried)"
fi

step "--publish-seconds out of range is a usage error (a deadline of 0, one attempt, is in test_queue_git)"
expect_exit 2 "$ROMBSR" submit --publish-seconds -1 --build-id x --node builder1 --queue "$QUEUE" \
	--signing-key "$NODE_FPR" --gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$ROOT"
expect_err "--publish-seconds takes a number from 0 to 3600"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/daemon.err" >&2; fail "rombsr-sign exited $rc on SIGTERM"; }
echo "PASS"
