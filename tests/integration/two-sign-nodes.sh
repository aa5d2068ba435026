#!/bin/bash
# Two sign nodes on one queue and one token sign every request exactly
# once (docs/formats/claim.md). Each claims a build in the queue before
# it touches the HSM; the push race decides, and the loser leaves the
# build to the winner.
#   1 two running rombsr-signs, BUILDS builds of 50 requests each
#     (1,000 by default and in check-full; make check: 500): every build answered, as many HSM signatures as
#     requests, each request in one of the two audit logs, both sign
#     nodes did some of the work, and each log cross-checks against the
#     queue (`rombsr audit verify --queue`);
#   2 a node killed holding a claim: the other leaves the build until the
#     claim's lease ends, then takes it over (the next generation);
#   3 a node paused between its claim and the HSM past the lease's margin
#     signs nothing (exit 13) and logs no intent;
#   4 a node stalled after signing past its lease: the node that took
#     over answers, the stalled one publishes nothing, and the cross-check
#     of its log accounts for the signature it never released;
#   4b a claim in an unsigned commit (a hostile server's) holds no build;
#   5 two sign nodes with one audit-log origin (no rombsr.signNode): the
#     second refuses to sign (exit 6) instead of forking the log.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
need jq

# make check submits 10 builds (ROMBSR_TWO_SIGN_BUILDS), check-full 20
BUILDS=${1:-${ROMBSR_TWO_SIGN_BUILDS:-20}}
PER_BUILD=50
# Leases long enough that a loaded machine's run of the other node ends
# inside them (the minimum, 6 s, is not), short enough to wait for.
CLAIM_SECONDS=12

queue_setup
M=(--manifest "$MANIFEST")

sign_as() { # NAME [ENV...] -> rombsr sign --once; output in $WORK/sign-NAME.out/.err
	local n=$1
	shift
	env "$@" "$ROMBSR" sign --once --config "$WORK/sign-$n.conf" >"$WORK/sign-$n.out" 2>"$WORK/sign-$n.err"
}
sign_count() { # AUDIT-DIR
	[ -f "$1/checkpoint" ] || { echo 0; return; }
	"$ROMBSR" audit show --json "$1" | jq -s '[.[] | select(.entry.type == "sign")] | length'
}
sign_ids() { # AUDIT-DIR
	"$ROMBSR" audit show --json "$1" | jq -r 'select(.entry.type == "sign") | .entry.request_id'
}

for n in sa sb; do
	sign_node_conf "$n" "$n" "batchRequests = 100"
	"$ROMBSR" audit init --config "$WORK/sign-$n.conf" >"$WORK/init-$n.out" 2>&1 ||
		{ cat "$WORK/init-$n.out" >&2; fail "rombsr audit init for sign node $n"; }
done
origin_a=$(sed -n 's/.*empty audit log for \([^;]*\);.*/\1/p' "$WORK/init-sa.out")
origin_b=$(sed -n 's/.*empty audit log for \([^;]*\);.*/\1/p' "$WORK/init-sb.out")
[ "$origin_a" = "${origin_b%/sb}/sa" ] || fail "sign nodes sa and sb: origins $origin_a and $origin_b"
[ "$origin_a" != "$origin_b" ] || fail "two named sign nodes got one audit-log origin ($origin_a)"

total=$((BUILDS * PER_BUILD))
step "$BUILDS builds of $PER_BUILD requests ($total) in the queue"
for ((b = 1; b <= BUILDS; b++)); do
	args=()
	for ((r = 1; r <= PER_BUILD; r++)); do
		printf 'build %d request %d\n' "$b" "$r" >"$ROOT/tn$b-$r.bin"
		args+=(--raw "media=$ROOT/tn$b-$r.bin")
	done
	submit "tn$b" "${args[@]}" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit tn$b"; }
done

step "two running sign nodes, one queue, one token"
for n in sa sb; do
	"$ROMBSR_BUILD_DIR/src/signd/rombsr-sign" --config "$WORK/sign-$n.conf" >"$WORK/daemon-$n.out" \
		2>"$WORK/daemon-$n.err" &
	eval "daemon_$n=\$!"
done
trap 'kill "$daemon_sa" "$daemon_sb" 2>/dev/null || true; cleanup_fixture' EXIT
answered_all() {
	for ((b = 1; b <= BUILDS; b++)); do has_response "tn$b" || return 1; done
}
wait_for 300 answered_all || { cat "$WORK"/daemon-*.err >&2; fail "not every build was answered"; }
for n in sa sb; do
	kill -TERM "$(eval echo "\$daemon_$n")"
	rc=0
	wait "$(eval echo "\$daemon_$n")" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$WORK/daemon-$n.err" >&2; fail "rombsr-sign $n exited $rc on SIGTERM"; }
done
trap cleanup_fixture EXIT

step "exactly $total HSM signatures, each request in one log, both nodes did some"
ops=$(cat "$WORK"/daemon-*.err | sed -n 's/.*event=batch .* hsm_ops=\([0-9]*\) .*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
a=$(sign_count "$WORK/signd-sa/audit")
b=$(sign_count "$WORK/signd-sb/audit")
echo "HSM signatures: $ops (sign node sa logged $a, sb $b); claims left to the other node: $(cat "$WORK"/daemon-*.err |
	sed -n 's/.*event=claim claimed=[0-9]* elsewhere=\([0-9]*\).*/\1/p' | awk '{ n += $1 } END { print n + 0 }')"
[ "$ops" -eq "$total" ] || fail "$ops HSM signatures for $total requests"
[ $((a + b)) -eq "$total" ] || fail "$a + $b sign entries for $total requests"
# (with a handful of builds one node may well take them all)
[ "$BUILDS" -lt 10 ] || { [ "$a" -gt 0 ] && [ "$b" -gt 0 ]; } ||
	fail "one sign node did all the work (sa $a, sb $b): they did not share it"
dups=$({ sign_ids "$WORK/signd-sa/audit"; sign_ids "$WORK/signd-sb/audit"; } | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups requests were signed by both sign nodes"
declare -A OTHER=([sa]=$b [sb]=$a)
for n in sa sb; do
	expect_exit 0 "$ROMBSR" audit verify "$WORK/signd-$n/audit" "${M[@]}" --no-trust --queue "$QUEUE"
	grep -q "cross-check OK" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "cross-check of sign node $n's log"; }
	[ "${OTHER[$n]}" -eq 0 ] || grep -q "responses answered on another sign node's log" "$WORK/last.out" ||
		fail "the cross-check of $n's log does not count the other node's responses"
done
for b in 1 "$BUILDS"; do
	apply "tn$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply tn$b"; }
	"$ROMBSR" verify --manifest "$MANIFEST" "$ROOT/tn$b-1.bin" >"$WORK/verify.out" 2>&1 ||
		{ cat "$WORK/verify.out" >&2; fail "tn$b: the signature does not verify"; }
done

# Short leases from here on.
for n in sa sb; do sign_node_conf "$n" "$n" "claimSeconds = $CLAIM_SECONDS"; done

step "a sign node killed holding a claim: the other waits for the lease, then takes the build over"
head -c 300 /dev/urandom >"$ROOT/takeover.bin"
submit takeover --raw "media=$ROOT/takeover.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit"; }
sign_as sa ROMBSR_SIGND_CRASH_AT=claimed || true
git --git-dir="$QUEUE" cat-file -e "main:claims/$NODE/takeover/1.json" || fail "sign node sa left no claim"
has_response takeover && fail "sign node sa answered although killed after its claim"
sign_as sb || { cat "$WORK/sign-sb.err" >&2; fail "sign node sb, beside sa's live claim"; }
grep -q ', 0 signed' "$WORK/sign-sb.out" && grep -q '^sign: 1 builds left to another' "$WORK/sign-sb.out" ||
	{ cat "$WORK/sign-sb.err" >&2; git --git-dir="$QUEUE" show "main:claims/$NODE/takeover/1.json" >&2; date -u >&2; fail "sb signed beside sa's live claim"; }
has_response takeover && fail "sb answered a build sa holds a live claim on"
c1=$(git --git-dir="$QUEUE" show "main:claims/$NODE/takeover/1.json")
expired() { # the claim's lease is over (by this clock, which the sign nodes share)
	[ "$(date -u +%s)" -ge "$(date -u -d "$(jq -r .required.expires <<<"$c1")" +%s)" ]
}
wait_for $((CLAIM_SECONDS * 2)) expired || fail "sa's claim never ended"
sign_as sb || { cat "$WORK/sign-sb.err" >&2; fail "sign node sb, after sa's claim ended"; }
has_response takeover || { cat "$WORK/sign-sb.err" >&2; fail "sb did not take the build over once sa's claim ended"; }
c2=$(git --git-dir="$QUEUE" show "main:claims/$NODE/takeover/2.json") || fail "no claim of generation 2"
[ "$(jq -r .required.sign_node <<<"$c1")" = sa ] && [ "$(jq -r .required.sign_node <<<"$c2")" = sb ] ||
	fail "the claims are not sa's then sb's"
[[ ! "$(jq -r .required.claimed <<<"$c2")" < "$(jq -r .required.expires <<<"$c1")" ]] ||
	fail "sb claimed the build before sa's lease ended"
grep -q 'event=claim-takeover' "$WORK/sign-sb.err" || fail "the takeover is not in sb's log"
sign_as sa || { cat "$WORK/sign-sa.err" >&2; fail "sa after its restart"; }
grep -q ', 0 signed' "$WORK/sign-sa.out" || fail "sa signed the build sb answered"
apply takeover >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply takeover"; }

step "a sign node paused between its claim and the HSM past the lease's margin signs nothing"
head -c 300 /dev/urandom >"$ROOT/paused.bin"
submit paused --raw "media=$ROOT/paused.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit"; }
logged() { # intent and sign entries of sign node sa
	"$ROMBSR" audit show --json "$WORK/signd-sa/audit" |
		jq -s '[.[] | select(.entry.type == "intent" or .entry.type == "sign")] | length'
}
before=$(logged)
sign_as sa ROMBSR_SIGND_STOP_AT=claimed &
paused=$!
# the orchestrator, not its key holder (rombsr-signer --config ...)
sa_pid() { pgrep -f -- "sign --once --config $WORK/sign-sa.conf"; }
stopped() { [ "$(ps -o stat= -p "$(sa_pid)" 2>/dev/null | cut -c1)" = T ]; }
wait_for 30 stopped || fail "sign node sa did not stop after its claim"
claim=$(git --git-dir="$QUEUE" show "main:claims/$NODE/paused/1.json") || fail "sa left no claim"
margin_reached() { # the claim's expiry less a third of the lease
	[ "$(date -u +%s)" -ge $(($(date -u -d "$(jq -r .required.expires <<<"$claim")" +%s) - CLAIM_SECONDS / 3)) ]
}
wait_for $((CLAIM_SECONDS * 2)) margin_reached || fail "the claim's margin never came"
kill -CONT "$(sa_pid)"
rc=0
wait "$paused" || rc=$?
[ "$rc" -eq 13 ] || { cat "$WORK/sign-sa.err" >&2; fail "sa exited $rc after its pause, not 13"; }
grep -q "claims end within" "$WORK/sign-sa.err" || { cat "$WORK/sign-sa.err" >&2; fail "no word of the lease"; }
[ "$(logged)" -eq "$before" ] || fail "sa logged an intent or a signature under a lapsing claim"
has_response paused && fail "sa answered under a lapsing claim"
sign_as sa || { cat "$WORK/sign-sa.err" >&2; fail "sa's next run"; }
has_response paused || fail "sa's next run did not answer the build"

step "a node stalled after signing, past its lease: the node that took over answers; the stalled one releases nothing"
head -c 300 /dev/urandom >"$ROOT/stalled.bin"
submit stalled --raw "media=$ROOT/stalled.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit"; }
sign_as sa ROMBSR_SIGND_STOP_AT=logged &
paused=$!
wait_for 30 stopped || fail "sign node sa did not stop after logging its signature"
claim=$(git --git-dir="$QUEUE" show "main:claims/$NODE/stalled/1.json") || fail "sa left no claim"
c1=$claim
wait_for $((CLAIM_SECONDS * 2)) expired || fail "sa's claim never ended"
sign_as sb || { cat "$WORK/sign-sb.err" >&2; fail "sb, after sa's claim ended"; }
has_response stalled || fail "sb did not answer the build sa stalled on"
kill -CONT "$(sa_pid)"
rc=0
wait "$paused" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/sign-sa.err" >&2; fail "sa exited $rc after its stall"; }
grep -q 'event=claim-lost node=builder1 build=stalled' "$WORK/sign-sa.err" || { cat "$WORK/sign-sa.err" >&2; fail "sa published over sb's answer"; }
grep -q '1 signed here but answered by another' "$WORK/sign-sa.out" || { cat "$WORK/sign-sa.out" >&2; fail "sa's summary"; }
[ "$(git --git-dir="$QUEUE" log --format=%H main -- "responses/$NODE/stalled.json" | wc -l)" -eq 1 ] ||
	fail "the stalled build has more than one response commit"
expect_exit 0 "$ROMBSR" audit verify "$WORK/signd-sa/audit" "${M[@]}" --no-trust --queue "$QUEUE"
grep -q ' 1 signatures of this log not released because another node answered' "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "the cross-check of sa's log does not account for its unreleased signature"; }
apply stalled >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply stalled"; }

step "a claim a hostile server puts in (an unsigned commit) holds nothing: the build is signed"
head -c 300 /dev/urandom >"$ROOT/forged.bin"
submit forged --raw "media=$ROOT/forged.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit"; }
now=$(date -u +%s)
jq -c --arg c "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)" --arg e "$(date -u -d "@$((now + 3600))" +%Y-%m-%dT%H:%M:%SZ)" \
	'.required.build_id = "forged" | .required.generation = 1 | .required.sign_node = "mallory"
	 | .required.origin = "rombsr-audit/mallory" | .required.instance = "00112233445566778899aabbccddeeff"
	 | .required.claimed = $c | .required.expires = $e' <<<"$c1" >"$WORK/forged-claim.json"
commit_file "$WORK/forged-claim.json" "claims/$NODE/forged/1.json" - "a claim nobody signed"
server_force "$WORK/clone"
sign_as sa || { cat "$WORK/sign-sa.err" >&2; fail "sa beside a forged claim"; }
grep -q ', 1 signed' "$WORK/sign-sa.out" || { cat "$WORK/sign-sa.out" "$WORK/sign-sa.err" >&2; fail "the forged claim held the build"; }
has_response forged || fail "the build under a forged claim was not answered"
git --git-dir="$QUEUE" cat-file -e "main:claims/$NODE/forged/2.json" || fail "sa did not claim past the forged generation"
apply forged >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply forged"; }

step "two sign nodes with one audit-log origin: the second refuses to sign"
for n in c1 c2; do
	sign_node_conf "$n" - "claimSeconds = $CLAIM_SECONDS"
	"$ROMBSR" audit init --config "$WORK/sign-$n.conf" >"$WORK/init-$n.out" 2>&1 ||
		{ cat "$WORK/init-$n.out" >&2; fail "rombsr audit init for $n"; }
done
head -c 300 /dev/urandom >"$ROOT/shared.bin"
submit shared --raw "media=$ROOT/shared.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit"; }
sign_as c1 ROMBSR_SIGND_CRASH_AT=claimed || true
git --git-dir="$QUEUE" cat-file -e "main:claims/$NODE/shared/1.json" || fail "c1 left no claim"
rc=0
sign_as c2 || rc=$?
[ "$rc" -eq 6 ] || { cat "$WORK/sign-c2.err" >&2; fail "c2 exited $rc beside a node with its origin, not 6"; }
grep -q "its own rombsr.signNode" "$WORK/sign-c2.err" || { cat "$WORK/sign-c2.err" >&2; fail "c2 does not say what to do"; }
[ "$(sign_count "$WORK/signd-c2/audit")" -eq 0 ] || fail "c2 signed"
echo "PASS"
