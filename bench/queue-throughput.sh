#!/bin/bash
# bench/queue-throughput: the main job end to end - rombsr submit, the sign
# daemon, rombsr apply - against a raw C_SignInit/C_Sign loop over the same
# number of signatures with the same key on the same SoftHSM2 token,
# measured in the same run.
#
# For RSA-4096 (the test key spec's `platform`) and P-256 (`device`):
#   raw     bench/raw-sign-count: R signatures, one session, nothing else
#   submit  N builds, each `rombsr submit --raw KEY=FILE` for its share of R
#           small distinct files under the build's own --root (one signed
#           commit per build)
#   sign    rombsr-sign over all N documents (back-to-back bounded batches), started by
#           SIGUSR1 and timed until it logs `event=batch`
#   apply   `rombsr apply` for each build: verify, write the .sig files
# and prints end-to-end (submit + sign + apply) / raw against the budget
# (RSA-4096 <= 1.2, P-256 <= 3); the daemon's peak RSS (VmHWM, budget
# 32 MB); the CPU time the daemon spent in the batch against
# raw-sign-count's (SoftHSM2 signs inside both processes, so this ratio
# holds up when other work shares the machine, the wall-clock ones do
# not); and its open PKCS#11 sessions after a one-request warm-up batch and
# after the measured batch (they must be equal). The daemon is one process
# per key, so its RSS is that key's run alone. The benchmark
# reports; it never fails on time. It does fail if the work was not done:
# a missing or wrong signature, a count that does not add up.
#
# usage: queue-throughput [N builds, default 10] [R requests, default 10000]
#   QUEUE_BENCH_KEYS    keys to run (default "platform device")
#   QUEUE_BENCH_R_RSA   R for the RSA key only (default R)
set -euo pipefail

N=${1:-10}
R=${2:-10000}
KEYS=${QUEUE_BENCH_KEYS:-platform device}
R_RSA=${QUEUE_BENCH_R_RSA:-$R}
export ROMBSR_BUILD_DIR=${ROMBSR_BUILD_DIR:-@ROMBSR_BUILD_DIR@}
export ROMBSR_SOURCE_DIR=${ROMBSR_SOURCE_DIR:-@ROMBSR_SOURCE_DIR@}
# The same provisioning, node key, queue and sign.conf as the main job's
# integration tests, so the benchmark measures the flow the tests check.
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/fixture.sh"
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/capture.sh"
. "$ROMBSR_SOURCE_DIR/tests/integration/lib/queue.sh"
RAW_COUNT="$ROMBSR_BUILD_DIR/bench/raw-sign-count"
SIGN_DAEMON="$ROMBSR_BUILD_DIR/src/signd/rombsr-sign"
[ -x "$RAW_COUNT" ] || fail "no $RAW_COUNT; build first"
[ -x "$SIGN_DAEMON" ] || fail "no $SIGN_DAEMON; build first"
case $N in '' | *[!0-9]* | 0) fail "N builds must be a positive number, not '$N'" ;; esac
case $R in '' | *[!0-9]*) fail "R requests must be a positive number, not '$R'" ;; esac
[ "$R" -ge "$N" ] || fail "R ($R) must be at least N ($N): every build asks for one signature or more"

echo "queue-throughput: provisioning a SoftHSM2 token, a build-node key and a guarded queue"
queue_setup
# The daemon must not poll on its own: each batch below is started by a
# trigger, so the measured batch holds all N documents.
sed -i 's/^\(\s*pollSeconds = \).*/\13600/' "$SIGN_CONF"
# No capture requests: only the --raw requests below.
unset ROMBSR_CAPTURE_SPOOL
SIGN_LOG="$WORK/signd.log"
DAEMON_PID=

field() { # NAME: the value of NAME=VALUE on stdin
	tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# CPU time (user + system) of a process so far. SoftHSM2 runs inside the
# daemon, so this compares with raw-sign-count's CPU time even when other
# work on the machine stretches the wall-clock figures.
cpu_seconds() { # PID
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

elapsed() { # T0 T1 -> seconds
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}
trap 'stop_daemon; cleanup_fixture' EXIT

batch_lines() {
	grep -c 'event=batch ' "$SIGN_LOG" || true
}

# Signatures the batches logged after the first $1 batch lines.
signed_since() {
	grep 'event=batch ' "$SIGN_LOG" | tail -n +$(($1 + 1)) | field signed | awk '{ s += $1 } END { print s + 0 }'
}

# Trigger the daemon and wait until its batches have signed TARGET
# requests (default: until one batch ends). A pass over the queue is
# several bounded batches (sign.conf queue.batchRequests), run back to
# back. BATCH_SIGNED and BATCHES receive what happened.
run_batch() { # [TARGET]
	local before
	before=$(batch_lines)
	kill -USR1 "$DAEMON_PID"
	while if [ -n "${1:-}" ]; then [ "$(signed_since "$before")" -lt "$1" ]; else [ "$(batch_lines)" -le "$before" ]; fi; do
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$SIGN_LOG" >&2; fail "rombsr-sign exited"; }
		grep -q 'batch failed' "$SIGN_LOG" && { cat "$SIGN_LOG" >&2; fail "rombsr-sign: a batch failed"; }
		sleep 0.02
	done
	BATCH_SIGNED=$(signed_since "$before")
	BATCHES=$(($(batch_lines) - before))
}

last_batch_field() { # NAME -> value from the last event=batch line
	grep 'event=batch ' "$SIGN_LOG" | tail -n 1 | field "$1"
}

start_daemon() {
	: >"$SIGN_LOG"
	"$SIGN_DAEMON" --config "$SIGN_CONF" 2>"$SIGN_LOG" &
	DAEMON_PID=$!
	until grep -q 'rombsr-sign: started' "$SIGN_LOG"; do
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$SIGN_LOG" >&2; fail "rombsr-sign did not start"; }
		sleep 0.05
	done
}

# make_build KEY B COUNT: COUNT distinct small files under the build's root
make_build() {
	local dir="$WORK/builds/$1-$2"
	mkdir -p "$dir/files"
	awk -v d="$dir/files" -v k="$1" -v b="$2" -v n="$3" \
		'BEGIN { for (i = 1; i <= n; i++) { f = sprintf("%s/f%05d.bin", d, i); printf "%s build %s file %d\n", k, b, i > f; close(f) } }'
}

build_args() { # KEY B -> --raw KEY=FILE lines for xargs-free use
	local f
	for f in "$WORK/builds/$1-$2"/files/*.bin; do
		printf -- '--raw\n%s=%s\n' "$1" "$f"
	done
}

submit_build() { # KEY B
	local id="bench-$1-$2" args
	mapfile -t args < <(build_args "$1" "$2")
	ROOT="$WORK/builds/$1-$2" submit "$id" "${args[@]}" >"$WORK/submit.out" 2>&1 ||
		{ cat "$WORK/submit.out" >&2; fail "rombsr submit $id"; }
}

apply_build() { # KEY B
	local id="bench-$1-$2"
	ROOT="$WORK/builds/$1-$2" apply "$id" >"$WORK/apply.out" 2>&1 ||
		{ cat "$WORK/apply.out" >&2; fail "rombsr apply $id"; }
}

# The signatures must be real: count them, check a few with openssl.
check_signatures() { # KEY R
	local got pem="$WORK/$1.pem" f
	got=$(find "$WORK/builds" -path "*/$1-*/files/*.bin.sig" | wc -l)
	[ "$got" -eq "$2" ] || fail "$1: $got signature files written, expected $2"
	"$ROMBSR" keys export "$1" --format spki-pem --manifest "$MANIFEST" --state-dir "$STATE" >"$pem"
	for f in "$WORK/builds/$1-1/files/f00001.bin" "$WORK/builds/$1-$N/files/f$(printf %05d $(($2 / N)))".bin; do
		openssl dgst -sha256 -verify "$pem" -signature "$f.sig" "$f" >/dev/null ||
			fail "$1: openssl does not verify $f.sig"
	done
}

run_key() { # KEY LABEL BUDGET R
	local key=$1 label=$2 budget=$3 r=$4 b per rest count t0 t1 c0 c1 raw rawcpu signcpu ts tg ta e2e ratio hwm s0 s1 signed
	per=$((r / N))
	rest=$((r % N))
	echo "queue-throughput: $label ($key): $N builds, $r requests"
	for b in $(seq 1 "$N"); do
		count=$per
		[ "$b" -le "$rest" ] && count=$((per + 1))
		make_build "$key" "$b" "$count"
	done

	# Baseline first, while nothing else uses the token.
	direct "$RAW_COUNT" --module "$SOFTHSM_MODULE" --token "$TOKEN" --key "$key" --pin-file "$PIN_FILE" \
		--count "$r" >"$WORK/raw.out" || fail "$key: raw-sign-count failed"
	raw=$(field seconds <"$WORK/raw.out")
	rawcpu=$(field cpu_seconds <"$WORK/raw.out")
	[ -n "$raw" ] && [ -n "$rawcpu" ] || fail "$key: raw-sign-count printed no time"
	echo "queue-throughput: $label raw C_Sign x $r: ${raw}s (CPU ${rawcpu}s)"

	# Warm-up: one request through the daemon, so sessions are counted
	# once the pool is in use and the measured batch pays no start-up.
	start_daemon
	mkdir -p "$WORK/builds/$key-warm/files"
	echo "warm-up $key" >"$WORK/builds/$key-warm/files/w.bin"
	ROOT="$WORK/builds/$key-warm" submit "bench-$key-warm" \
		--raw "$key=$WORK/builds/$key-warm/files/w.bin" >"$WORK/submit.out" 2>&1 ||
		{ cat "$WORK/submit.out" >&2; fail "warm-up submit"; }
	run_batch
	s0=$(last_batch_field sessions)
	[ "$(last_batch_field signed)" = 1 ] || { cat "$SIGN_LOG" >&2; fail "$key: the warm-up batch did not sign"; }

	t0=$EPOCHREALTIME
	for b in $(seq 1 "$N"); do
		submit_build "$key" "$b"
	done
	t1=$EPOCHREALTIME
	ts=$(elapsed "$t0" "$t1")
	echo "queue-throughput: $label submit x $N: ${ts}s"

	c0=$(cpu_seconds "$DAEMON_PID")
	t0=$EPOCHREALTIME
	run_batch "$r"
	t1=$EPOCHREALTIME
	tg=$(elapsed "$t0" "$t1")
	c1=$(cpu_seconds "$DAEMON_PID")
	signcpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f\n", b - a }')
	hwm=$(awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$DAEMON_PID/status")
	s1=$(last_batch_field sessions)
	signed=$BATCH_SIGNED
	[ "$signed" = "$r" ] || { tail -n 5 "$SIGN_LOG" >&2; fail "$key: the batches signed $signed, expected $r"; }
	echo "queue-throughput: $label sign ($BATCHES batches): ${tg}s (daemon CPU ${signcpu}s)"
	stop_daemon

	t0=$EPOCHREALTIME
	for b in $(seq 1 "$N"); do
		apply_build "$key" "$b"
	done
	t1=$EPOCHREALTIME
	ta=$(elapsed "$t0" "$t1")
	echo "queue-throughput: $label apply x $N: ${ta}s"
	check_signatures "$key" "$r"

	e2e=$(awk -v a="$ts" -v b="$tg" -v c="$ta" 'BEGIN { printf "%.3f\n", a + b + c }')
	ratio=$(awk -v e="$e2e" -v r="$raw" 'BEGIN { printf "%.2f", e / r }')
	echo "queue-throughput: $label raw=${raw}s submit=${ts}s sign=${tg}s apply=${ta}s end-to-end=${e2e}s"
	echo "queue-throughput: $label end-to-end/raw=$ratio ($(awk -v r="$ratio" -v b="$budget" \
		'BEGIN { print (r <= b) ? "within" : "OVER" }') budget $budget); sign/raw=$(awk -v g="$tg" -v r="$raw" \
		'BEGIN { printf "%.2f", g / r }'); sign CPU/raw CPU=$(awk -v g="$signcpu" -v r="$rawcpu" 'BEGIN { printf "%.2f", g / r }')"
	echo "queue-throughput: $label daemon max RSS=${hwm} MB ($(awk -v h="$hwm" \
		'BEGIN { print (h < 32) ? "within" : "OVER" }') budget 32 MB); PKCS#11 sessions start=$s0 end=$s1 ($(
		[ "$s0" = "$s1" ] && echo constant || echo CHANGED))"
}

echo "queue-throughput: SoftHSM2, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
for key in $KEYS; do
	case $key in
	platform) run_key platform RSA-4096 1.2 "$R_RSA" ;;
	device) run_key device P-256 3 "$R" ;;
	*) fail "unknown key '$key' (platform or device)" ;;
	esac
done
