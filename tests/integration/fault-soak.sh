#!/bin/bash
# Faults at random under load: for SECONDS (the first argument; make
# check runs 12, make check-full's soak-faults 240), four build machines
# submit builds at once to SIGN_NODES running rombsr-signs (the second
# argument, default 1; check-full runs 2, sharing the queue and the
# token through claims, docs/formats/claim.md) while a chaos loop, every
# 0.5 to 2 s, does one of:
#   kill -9 one rombsr-sign (at whatever step it is) and start it again;
#   take the HSM's token away for 1 to 3 s and bring it back;
#   nothing.
# Submitters and sign nodes race each other to the branch all along.
# Then the faults stop and every build must be answered: each request
# signed exactly once (the audit logs hold one `sign` entry per request
# between them, no rejection), every signature in place and verified, the
# cross-check of each log against the queue clean, and every HSM
# operation accounted for by an intent. The figures are printed at the
# end.
# ROMBSR_FAULT_SEED makes a run repeatable (default: random, printed).
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

SECONDS_TOTAL=${1:-20}
SIGN_NODES=${2:-1}
SEED=${ROMBSR_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
MACHINES=4
echo "fault soak: $SECONDS_TOTAL s, $SIGN_NODES sign node(s), seed $SEED (ROMBSR_FAULT_SEED=$SEED repeats the fault sequence)"

queue_setup
SIGND_EXE="$ROMBSR_BUILD_DIR/src/signd/rombsr-sign"
TOKENS="$STATE/tokens"
STOP="$WORK/stop"

# Sign node k: its own sign.conf, state and audit log (one node: the
# queue's own $SIGN_CONF and $SIGND, as before). Short leases, so that
# a claim of a killed node that does not come back soon ends in time.
CONF=() DIRS=()
for ((k = 0; k < SIGN_NODES; k++)); do
	if [ "$SIGN_NODES" -eq 1 ]; then
		CONF[k]=$SIGN_CONF DIRS[k]=$SIGND
		continue
	fi
	sign_node_conf "s$k" "s$k" "claimSeconds = 30"
	CONF[k]="$WORK/sign-s$k.conf" DIRS[k]="$WORK/signd-s$k"
	"$ROMBSR" audit init --config "${CONF[k]}" >"$WORK/init.out" 2>&1 ||
		{ cat "$WORK/init.out" >&2; fail "rombsr audit init for sign node s$k"; }
done

DAEMON=() MARK=()
start_daemon() { # K
	MARK[$1]=$(wc -l 2>/dev/null <"$WORK/daemon-$1.err" || echo 0)
	"$SIGND_EXE" --config "${CONF[$1]}" >>"$WORK/daemon-$1.out" 2>>"$WORK/daemon-$1.err" &
	DAEMON[$1]=$!
}
# Whether daemon K, started last, got as far as running batches.
daemon_started() { tail -n +$((MARK[$1] + 1)) "$WORK/daemon-$1.err" | grep -q 'rombsr-sign: started'; }
trap 'kill -9 "${DAEMON[@]}" $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; cleanup_fixture' EXIT

# One build machine: builds one after the other until told to stop; the
# ids of the builds that were submitted go to machine-M.builds.
machine() { # M
	local m=$1 i=0 b root="$WORK/root-$1"
	mkdir -p "$root"
	while [ ! -e "$STOP" ]; do
		i=$((i + 1))
		b="m$m-b$i"
		head -c 2048 /dev/urandom >"$root/$b.bin"
		head -c 2048 /dev/urandom >"$root/$b.pkg"
		if "$ROMBSR" submit --build-id "$b" --node "$NODE" --queue "$QUEUE" --signing-key "$NODE_FPR" \
			--gnupghome "$BUILD_GNUPG" --manifest "$MANIFEST" --root "$root" --cache "$WORK/cache-$m" \
			--raw "media=$root/$b.bin" --openpgp "release=$root/$b.pkg" --publish-seconds 600 \
			>"$WORK/submit-$b.out" 2>&1; then
			echo "$b" >>"$WORK/machine-$m.builds"
		else
			cat "$WORK/submit-$b.out" >&2
			echo "submit $b failed" >"$WORK/machine-$m.failed"
			return
		fi
		sleep 0.$((RANDOM % 5))
	done
}

step "faults at random for $SECONDS_TOTAL s while $MACHINES machines submit to $SIGN_NODES sign node(s)"
for ((k = 0; k < SIGN_NODES; k++)); do start_daemon "$k"; done
kills=0
outages=0
restarts=0
pids=()
for ((m = 1; m <= MACHINES; m++)); do
	machine "$m" &
	pids+=($!)
done
end=$((SECONDS + SECONDS_TOTAL))
while [ "$SECONDS" -lt "$end" ]; do
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	case $((RANDOM % 3)) in
	0)
		k=$((RANDOM % SIGN_NODES))
		kill -9 "${DAEMON[k]}" 2>/dev/null || true
		wait "${DAEMON[k]}" 2>/dev/null || true
		kills=$((kills + 1))
		start_daemon "$k"
		;;
	1)
		mv "$TOKENS" "$TOKENS.away"
		mkdir "$TOKENS"
		sleep "$((1 + RANDOM % 3))"
		rmdir "$TOKENS"
		mv "$TOKENS.away" "$TOKENS"
		outages=$((outages + 1))
		kill -USR1 "${DAEMON[@]}" 2>/dev/null || true
		;;
	esac
	# A daemon started while the token was away cannot start: exit 4 (no
	# token), 6 (SoftHSM2's C_Initialize fails while its token directory
	# is being moved) or 13 (the token went during the login); its
	# supervisor (systemd's Restart=on-failure) starts it again. Once it
	# has started, it must not exit by itself.
	for ((k = 0; k < SIGN_NODES; k++)); do
		kill -0 "${DAEMON[k]}" 2>/dev/null && continue
		rc=0
		wait "${DAEMON[k]}" || rc=$?
		if daemon_started "$k" || ! [[ $rc =~ ^(4|6|13)$ ]]; then
			tail -30 "$WORK/daemon-$k.err" >&2
			fail "rombsr-sign $k exited $rc by itself"
		fi
		restarts=$((restarts + 1))
		start_daemon "$k"
	done
done
touch "$STOP"
for p in "${pids[@]}"; do wait "$p"; done
for f in "$WORK"/machine-*.failed; do [ -e "$f" ] && fail "$(cat "$f")"; done
cat "$WORK"/machine-*.builds >"$WORK/builds"
builds=$(wc -l <"$WORK/builds")
[ "$builds" -gt 0 ] || fail "no build was submitted"

step "the faults stop: every build is answered"
all_answered() {
	local b
	while read -r b; do has_response "$b" || return 1; done <"$WORK/builds"
}
# A daemon started here gets the poll signal only once it runs (its
# handlers are in place before it says so): SIGUSR1 earlier kills it.
for ((k = 0; k < SIGN_NODES; k++)); do
	kill -0 "${DAEMON[k]}" 2>/dev/null && continue
	start_daemon "$k"
	wait_for 60 daemon_started "$k" || { tail -30 "$WORK/daemon-$k.err" >&2; fail "rombsr-sign $k did not start after the faults"; }
done
kill -USR1 "${DAEMON[@]}"
wait_for 300 all_answered || { tail -50 "$WORK"/daemon-*.err >&2; fail "not every build was answered after the faults"; }
for ((k = 0; k < SIGN_NODES; k++)); do
	kill -TERM "${DAEMON[k]}"
	wait "${DAEMON[k]}" || fail "rombsr-sign $k did not stop cleanly"
done

step "each request signed exactly once, every signature in place and verified"
requests=$((builds * 2))
# Every sign node's log (with two, a request is in exactly one of them).
for ((k = 0; k < SIGN_NODES; k++)); do "$ROMBSR" audit show --json "${DIRS[k]}/audit"; done >"$WORK/audit.json"
dups=$(jq -r 'select(.entry.type == "sign") | .entry.request_id' "$WORK/audit.json" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups requests were signed by more than one sign node"
count() { jq -s "[.[] | select(.entry.type == \"$1\")] | length" "$WORK/audit.json"; }
signs=$(count sign)
[ "$signs" -eq "$requests" ] || fail "$signs sign entries for $requests requests"
if [ "$(count reject)" -ne 0 ]; then
	jq -c 'select(.entry.type == "reject") | .entry' "$WORK/audit.json" >&2
	grep -hE 'event=(reject|hsm|halt)|batch failed' "$WORK"/daemon-*.err >&2 || true
	fail "$(count reject) requests were rejected"
fi
# An intent names every request the HSM was asked to sign; a request
# signed before a kill and signed again after it has two, never none.
intended=$(jq -s '[.[] | select(.entry.type == "intent") | .entry.request_ids[]] | unique | length' "$WORK/audit.json")
[ "$intended" -eq "$requests" ] || fail "$intended requests have an intent, $requests were signed"
while read -r b; do
	m=${b%%-*}
	m=${m#m}
	"$ROMBSR" apply --build-id "$b" --node "$NODE" --queue "$QUEUE" --manifest "$MANIFEST" \
		--root "$WORK/root-$m" --cache "$WORK/cache-$m" >"$WORK/apply.out" 2>&1 ||
		{ cat "$WORK/apply.out" >&2; fail "apply $b"; }
	"$ROMBSR" verify --manifest "$MANIFEST" "$WORK/root-$m/$b.bin" "$WORK/root-$m/$b.pkg" >"$WORK/verify.out" 2>&1 ||
		{ cat "$WORK/verify.out" >&2; fail "$b: the signatures do not verify"; }
done <"$WORK/builds"
per_node=""
for ((k = 0; k < SIGN_NODES; k++)); do
	"$ROMBSR" audit verify "${DIRS[k]}/audit" --manifest "$MANIFEST" --no-trust --queue "$QUEUE" >"$WORK/xcheck.out" 2>&1 ||
		{ cat "$WORK/xcheck.out" >&2; fail "audit verify --queue of sign node $k after the faults"; }
	per_node+=" s$k=$("$ROMBSR" audit show --json "${DIRS[k]}/audit" | jq -s '[.[] | select(.entry.type == "sign")] | length')"
done

races=$(cat "$WORK"/submit-*.out | sed -n 's/^submit: other publishers moved the queue on \([0-9]*\) time.*/\1/p' |
	awk '{ n += $1 } END { print n + 0 }')
intent_ids=$(jq -s '[.[] | select(.entry.type == "intent") | .entry.request_ids[]] | length' "$WORK/audit.json")
echo "figures: seed=$SEED seconds=$SECONDS_TOTAL sign_nodes=$SIGN_NODES builds=$builds requests=$requests signed_once=$signs (per sign node:$per_node)" \
	"kills=$kills token_outages=$outages restarts_without_token=$restarts hsm_outage_entries=$(count hsm-outage) lost_races=$races" \
	"hsm_ops_intended=$intent_ids (the excess over $requests: signatures a kill or an outage lost before they were logged)"
echo "PASS"
