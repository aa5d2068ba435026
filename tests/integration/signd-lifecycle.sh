#!/bin/bash
# The sign node over time: dual control (a key that needs an approval
# waits for it, and only a listed approver counts), the daemon rombsr-sign
# (polls, one structured line per request, SIGTERM finishes the batch and
# exits 0), and crash recovery: the sign node is killed at each step of a
# batch and the next run publishes every signature exactly once - a
# signature already in the audit log is never made again, and is released
# only if it verifies (one altered on disk is refused); one whose result
# was lost between the HSM and the log is accounted for by its intent.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

queue_setup
ALICE_FPR=$(node_key alice)
BOB_FPR=$(node_key bob)
APPROVALS="[approver \"alice\"]
	fingerprint = $ALICE_FPR
	publicKey = $WORK/alice.asc
[approver \"bob\"]
	fingerprint = $BOB_FPR
	publicKey = $WORK/bob.asc
[key \"platform\"]
	approvers = 1
	approver = alice"
write_sign_conf "$APPROVALS"
head -c 4096 /dev/urandom >"$ROOT/fw.bin"
head -c 4096 /dev/urandom >"$ROOT/media.bin"

approve() { # NAME FPR BUILD KEY
	"$ROMBSR" approve --queue "$QUEUE" --approver "$1" --signing-key "$2" --gnupghome "$BUILD_GNUPG" \
		--node "$NODE" --build-id "$3" --key "$4" --cache "$WORK/approver-cache.$1" >"$WORK/approve.out" 2>&1 ||
		{ cat "$WORK/approve.out" >&2; fail "rombsr approve by $1"; }
}
sign_entries_for() { # BUILD -> number of audit sign entries of that build
	"$ROMBSR" audit show --json "$SIGND/audit" |
		jq -s --arg b "$1" '[.[] | select(.entry.type == "sign" and .entry.build_id == $b)] | length'
}
request_id_of() { # BUILD -> the id of its (first) request
	git --git-dir="$QUEUE" show "main:requests/$NODE/$1.json" | jq -r '.required.requests[0].id'
}
intent_leaves() { # REQUEST-ID -> the leaves of the intents naming it, one a line
	"$ROMBSR" audit show --json "$SIGND/audit" |
		jq -r --arg r "$1" 'select(.entry.type == "intent" and any(.entry.request_ids[]; . == $r)) | .index'
}
sign_leaf() { # REQUEST-ID -> the leaf of its sign entry
	"$ROMBSR" audit show --json "$SIGND/audit" |
		jq -r --arg r "$1" 'select(.entry.type == "sign" and .entry.request_id == $r) | .index'
}
crosscheck() { # the log against the queue; must pass (exit 0)
	"$ROMBSR" audit verify --manifest "$MANIFEST" --no-trust --queue "$QUEUE" --cache "$WORK/xcheck-cache" \
		"$SIGND/audit" >"$WORK/xcheck.out" 2>&1 || { cat "$WORK/xcheck.out" >&2; fail "audit verify --queue: $1"; }
}

step "a wrong operator PIN: the sign node refuses to start, and the audit log records the attempt"
printf 'not-the-pin\n' >"$WORK/wrong.pin"
chmod 600 "$WORK/wrong.pin"
PIN_FILE="$WORK/wrong.pin" write_sign_conf "$APPROVALS"
expect_exit 5 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "CKR_PIN_INCORRECT"
write_sign_conf "$APPROVALS"
# The attempt is durable at once; the next batch's checkpoint covers it.
sign_once || { cat "$WORK/sign.err" >&2; fail "sign with the right PIN"; }
"$ROMBSR" audit show --json "$SIGND/audit" | jq -s 'any(.[]; .entry.type == "login-failure" and .entry.role == "operator")' | grep -qx true \
	|| fail "no login-failure entry in the audit log"

step "dual control: a key that needs an approval waits for it"
submit dc1 --raw "platform=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit dc1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign dc1 (no approval)"; }
grep -q '1 deferred' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "dc1 was not deferred"; }
has_response dc1 && fail "dc1 was answered without its approval"

step "dual control: an approver who is not listed for the key does not count"
approve bob "$BOB_FPR" dc1 platform
sign_once || { cat "$WORK/sign.err" >&2; fail "sign dc1 (bob)"; }
grep -q '1 deferred' "$WORK/sign.out" || fail "bob's approval counted"
has_response dc1 && fail "dc1 was answered with bob's approval only"
[ "$(sign_entries_for dc1)" -eq 0 ] || fail "dc1 signed without a valid approval"

step "dual control: the listed approver's approval releases the build"
approve alice "$ALICE_FPR" dc1 platform
sign_once || { cat "$WORK/sign.err" >&2; fail "sign dc1 (alice)"; }
grep -q '1 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "dc1 not signed after alice approved"; }
apply dc1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply dc1"; }
"$ROMBSR" keys export platform --format spki-pem --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/platform.pem"
openssl dgst -sha256 -verify "$WORK/platform.pem" -signature "$ROOT/fw.bin.sig" "$ROOT/fw.bin" >/dev/null ||
	fail "openssl does not verify dc1's signature"
rm -f "$ROOT/fw.bin.sig"

step "daemon: rombsr-sign waits for its poll or a trigger, logs one line per request"
# A poll interval of an hour: only SIGHUP/SIGUSR1 can make it look now.
POLL_SECONDS=3600 write_sign_conf "$APPROVALS"
SIGND_EXE="$ROMBSR_BUILD_DIR/src/signd/rombsr-sign"
touch "$WORK/before-daemon"
"$SIGND_EXE" --config "$SIGN_CONF" >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
# Its first batch finds nothing new; it ends by rewriting last-commit.
for _ in $(seq 1 1200); do
	[ -n "$(find "$SIGND/last-commit" -newer "$WORK/before-daemon" 2>/dev/null)" ] && break
	sleep 0.1
done
[ -n "$(find "$SIGND/last-commit" -newer "$WORK/before-daemon")" ] || { cat "$WORK/daemon.err" >&2; fail "the daemon's first batch did not finish"; }
submit d1 --raw "media=$ROOT/media.bin" --raw "platform=$ROOT/media.bin" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit d1"; }
sleep 3
grep -q '1 deferred' "$WORK/daemon.err" && fail "the daemon polled before its interval without a trigger"
kill -HUP "$daemon"
# The daemon must see d1 wait for its approval first, and then pick it
# up again in a later batch once the approval arrives.
for _ in $(seq 1 1200); do grep -q '1 deferred' "$WORK/daemon.err" && break; sleep 0.1; done
grep -q '1 deferred' "$WORK/daemon.err" || { cat "$WORK/daemon.err" >&2; fail "SIGHUP did not make the daemon look at d1"; }
approve alice "$ALICE_FPR" d1 platform
kill -USR1 "$daemon"
for _ in $(seq 1 1200); do has_response d1 && break; sleep 0.1; done
has_response d1 || { cat "$WORK/daemon.err" >&2; fail "the daemon did not answer d1"; }
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/daemon.err" >&2; fail "rombsr-sign exited $rc on SIGTERM"; }
grep -q 'rombsr-sign: stopped' "$WORK/daemon.err" || fail "rombsr-sign did not report a clean stop"
[ "$(grep -c 'event=sign node=builder1 build=d1 ' "$WORK/daemon.err")" -eq 2 ] ||
	{ cat "$WORK/daemon.err" >&2; fail "expected one structured line per d1 request"; }
if grep -q "$(cat "$ESCROW/admin.pin")" "$WORK/daemon.err"; then fail "the admin credential appears in the daemon's log"; fi
if grep -q "$PIN" "$WORK/daemon.err"; then fail "the operator PIN appears in the daemon's log"; fi

step "signing cache: the same key and digest in two builds of one batch is one HSM operation"
write_sign_conf "$APPROVALS"
head -c 1000 /dev/urandom >"$ROOT/same.bin"
submit c1 --raw "media=$ROOT/same.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit c1"; }
submit c2 --raw "media=$ROOT/same.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit c2"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign c1 c2"; }
grep -q '2 documents answered, 2 signed, 0 rejected, 0 refused, 0 deferred, 1 HSM operations' "$WORK/sign.out" ||
	{ cat "$WORK/sign.out" >&2; fail "two identical requests were not answered from the cache"; }
for b in c1 c2; do
	apply "$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $b"; }
	rm -f "$ROOT/same.bin.sig"
done

step "bounded batches: one pass takes as many batches as the queue needs"
QUEUE_EXTRA="batchRequests = 1" write_sign_conf "$APPROVALS"
for b in bb1 bb2 bb3; do
	head -c 500 /dev/urandom >"$ROOT/$b.bin"
	submit "$b" --raw "media=$ROOT/$b.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit $b"; }
done
before=$(git --git-dir="$QUEUE" rev-list --count main)
sign_once || { cat "$WORK/sign.err" >&2; fail "sign with batches of one request"; }
grep -q '3 documents answered, 3 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "not every batch ran"; }
[ "$(git --git-dir="$QUEUE" rev-list --count main)" -eq $((before + 6)) ] || fail "expected one claim and one response commit per batch of one"
for b in bb1 bb2 bb3; do apply "$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $b"; }; done
write_sign_conf "$APPROVALS"

step "wrapped keys: the sign node unwraps them on demand from the store"
S=(--state-dir "$STATE" --pin-file "$PIN_FILE")
"$ROMBSR" keys wrap-key --create "${S[@]}" >"$WORK/wrap-key.out" 2>&1 || { cat "$WORK/wrap-key.out" >&2; fail "keys wrap-key --create"; }
for k in dev-rsa:rsa-2048 dev-p256:ec-p256; do
	"$ROMBSR" keys gen --wrapped "${k%%:*}" --algorithm "${k##*:}" "${S[@]}" >"$WORK/gen.out" 2>&1 ||
		{ cat "$WORK/gen.out" >&2; fail "keys gen --wrapped ${k%%:*}"; }
done
HSM_EXTRA="wrappedStore = $STATE/wrapped
	maxResident = 1"
write_sign_conf "	allowKey = dev-rsa
	allowKey = dev-p256
$APPROVALS"
head -c 3000 /dev/urandom >"$ROOT/dev.bin"
submit w1 --raw "dev-rsa=$ROOT/dev.bin" --raw "dev-rsa=$ROOT/media.bin" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit w1"; }
head -c 3000 /dev/urandom >"$ROOT/dev2.bin"
submit w2 --raw "dev-p256=$ROOT/dev2.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit w2"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign with wrapped keys"; }
grep -q '3 signed' "$WORK/sign.out" || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "wrapped keys: not all signed"; }
for b in w1 w2; do apply "$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $b"; }; done
for k in dev-rsa:dev.bin dev-p256:dev2.bin; do
	"$ROMBSR" keys export "${k%%:*}" --format spki-pem --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/k.pem"
	openssl dgst -sha256 -verify "$WORK/k.pem" -signature "$ROOT/${k##*:}.sig" "$ROOT/${k##*:}" >/dev/null ||
		fail "openssl does not verify the signature by wrapped key ${k%%:*}"
done
rm -f "$ROOT/media.bin.sig"
unset HSM_EXTRA
write_sign_conf "$APPROVALS"

step "crash recovery: killed at each step of a batch, the next run publishes each signature once"
for at in signed appended logged published recorded; do
	b="crash-$at"
	head -c 2048 /dev/urandom >"$ROOT/$b.bin"
	submit "$b" --raw "media=$ROOT/$b.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit $b"; }
	rc=0
	ROMBSR_SIGND_CRASH_AT=$at "$ROMBSR" sign --once --config "$SIGN_CONF" >"$WORK/sign.out" 2>"$WORK/sign.err" || rc=$?
	[ "$rc" -eq 137 ] || { cat "$WORK/sign.err" >&2; fail "$b: the sign node was not killed at '$at' (exit $rc)"; }
	case $at in
	signed | appended | logged) has_response "$b" && fail "$b: a response left before the crash at '$at'" ;;
	*) has_response "$b" || fail "$b: no response before the crash at '$at'" ;;
	esac
	rid=$(request_id_of "$b")
	[ "$(intent_leaves "$rid" | wc -l)" -eq 1 ] || fail "$b: expected one intent before the HSM call, not $(intent_leaves "$rid" | wc -l)"
	if [ "$at" = signed ]; then
		# Killed between the HSM and the audit append: the signature is
		# lost, its intent accounts for the HSM operation, and the
		# cross-check says so without calling it an error.
		lost=$(intent_leaves "$rid")
		[ "$(sign_entries_for "$b")" -eq 0 ] || fail "$b: a sign entry before the append"
		"$ROMBSR" audit show "$SIGND/audit" | grep -q "^$lost .* intent key=media .*requests=1\$" ||
			{ "$ROMBSR" audit show "$SIGND/audit" >&2; fail "$b: audit show does not show the intent"; }
		crosscheck "an intent whose result was lost"
		grep -q "^signed, result lost: leaf $lost: request $rid, key media: .*not asked again since\$" "$WORK/xcheck.out" ||
			{ cat "$WORK/xcheck.out" >&2; fail "$b: the cross-check does not report the lost result"; }
	fi
	sign_once || { cat "$WORK/sign.err" >&2; fail "$b: the run after the crash failed"; }
	has_response "$b" || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "$b: no response after recovery"; }
	case $at in
	signed) grep -q '1 HSM operations' "$WORK/sign.out" || fail "$b: nothing was logged, so it must be signed again" ;;
	appended | logged) grep -q '0 HSM operations, 1 recovered from the audit log' "$WORK/sign.out" ||
		{ cat "$WORK/sign.out" >&2; fail "$b: the logged signature was not reused"; } ;;
	*) grep -q '0 HSM operations' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "$b: signed again after '$at'"; } ;;
	esac
	[ "$(sign_entries_for "$b")" -eq 1 ] || fail "$b: $(sign_entries_for "$b") signatures in the audit log, expected exactly 1"
	if [ "$at" = signed ]; then
		# Signed once more, under a new intent that precedes the one sign entry.
		again=$(intent_leaves "$rid" | tail -n 1)
		[ "$(intent_leaves "$rid" | wc -l)" -eq 2 ] && [ "$again" -gt "$lost" ] && [ "$(sign_leaf "$rid")" -gt "$again" ] ||
			fail "$b: expected a second intent (after leaf $lost) and then the sign entry: intents $(intent_leaves "$rid" | tr '\n' ' ')sign $(sign_leaf "$rid")"
		crosscheck "after the request was signed again"
		grep -q "^signed, result lost: leaf $lost: request $rid, key media: .*asked again by the intent at leaf $again\$" "$WORK/xcheck.out" ||
			{ cat "$WORK/xcheck.out" >&2; fail "$b: the cross-check does not account for the lost result"; }
	else
		# Taken from the log, or published already: no new HSM operation, no new intent.
		[ "$(intent_leaves "$rid" | wc -l)" -eq 1 ] || fail "$b: a new intent after the crash at '$at'"
	fi
	apply "$b" >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply $b"; }
	"$ROMBSR" keys export media --format spki-pem --manifest "$MANIFEST" --state-dir "$STATE" >"$WORK/media.pem"
	openssl dgst -sha256 -verify "$WORK/media.pem" -signature "$ROOT/$b.bin.sig" "$ROOT/$b.bin" >/dev/null ||
		fail "$b: openssl does not verify the recovered signature"
done
"$ROMBSR" audit verify --manifest "$MANIFEST" --trust-dir "$WORK/trust" "$SIGND/audit" >"$WORK/audit.out" 2>&1 ||
	{ cat "$WORK/audit.out" >&2; fail "the audit log does not verify after the crashes"; }

step "a signature recovered from the audit log is verified before it is released"
# Killed after the entries are durable and before the checkpoint covers
# them; then the raw signature's bytes in the entry bundle are changed on
# disk (same length, still canonical base64), so the log opens as a
# consistent log and the entry reads as a well-formed sign entry.
b=tamper-1
head -c 2048 /dev/urandom >"$ROOT/$b.bin"
head -c 3000 /dev/urandom >"$ROOT/$b.pkg"
submit "$b" --raw "media=$ROOT/$b.bin" --openpgp "release=$ROOT/$b.pkg" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "submit $b"; }
rc=0
ROMBSR_SIGND_CRASH_AT=appended "$ROMBSR" sign --once --config "$SIGN_CONF" >"$WORK/sign.out" 2>"$WORK/sign.err" || rc=$?
[ "$rc" -eq 137 ] || { cat "$WORK/sign.err" >&2; fail "$b: the sign node was not killed after the append (exit $rc)"; }
good=$("$ROMBSR" audit show --json "$SIGND/audit" |
	jq -r -s --arg a "$b.bin" '.[] | .entry | select(.type == "sign" and .artifact == $a) | .signature')
[ -n "$good" ] || fail "$b: no sign entry for $b.bin in the audit log"
bad=$(python3 - "$good" <<-'PY'
	import sys
	s = sys.argv[1]
	i = len(s) // 2
	print(s[:i] + ("B" if s[i] == "A" else "A") + s[i + 1:])
	PY
)
bundle=$(grep -rlF -- "$good" "$SIGND/audit/tile/entries")
[ "$(echo "$bundle" | wc -l)" -eq 1 ] || fail "$b: the signature is in $(echo "$bundle" | wc -l) bundles"
python3 - "$bundle" "$good" "$bad" <<-'PY'
	import sys
	path, good, bad = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
	data = open(path, "rb").read()
	assert data.count(good) == 1
	open(path, "wb").write(data.replace(good, bad))
	PY
sign_once || { cat "$WORK/sign.err" >&2; fail "$b: the run after the crash failed"; }
grep -q "1 recovered from the audit log" "$WORK/sign.out" ||
	{ cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "$b: the unaltered OpenPGP signature was not released from the log"; }
resp=$(git --git-dir="$QUEUE" show "main:responses/$NODE/$b.json") || fail "$b: no response"
grep -qF -- "$bad" <<<"$resp" && fail "$b: the altered signature was released"
jq -e '[.required.entries[] | select(.status == "signed")] | length == 1' <<<"$resp" >/dev/null ||
	{ echo "$resp" >&2; fail "$b: expected exactly the OpenPGP signature released"; }
jq -e '[.required.entries[] | select(.status == "rejected" and (.message | test("not released")))] | length == 1' \
	<<<"$resp" >/dev/null || { echo "$resp" >&2; fail "$b: the altered signature is not refused with a reason"; }
grep -q "does not verify" "$WORK/sign.err" || { cat "$WORK/sign.err" >&2; fail "$b: the refusal is not logged"; }
expect_exit 11 apply "$b"
[ ! -e "$ROOT/$b.bin.sig" ] && [ ! -e "$ROOT/$b.pkg.sig" ] || fail "$b: apply wrote a signature"
echo "signd-lifecycle: OK"
