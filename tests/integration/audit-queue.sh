#!/bin/bash
# The audit log cross-checked against the signing queue, and the proofs a
# device checks offline. A real build goes through the queue (raw
# requests: submit, rombsr sign --once on SoftHSM2, apply), then
# `rombsr audit verify --queue` passes; a response's audit proof verifies
# with `rombsr audit check-proof` against its checkpoint and the
# manifest's audit key, and fails with one hash altered. Then what an
# insider with the operator PIN could do on the token outside the flow is
# caught, each with exit 7 and the leaf or queue path named: a signature
# for a request id no build asked for, a signature for a request the sign
# node rejected, a response whose signature was altered and re-signed with
# the real queue key, and unsigned or foreign-signed responses; and an
# intent for a request id no build asked for.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
FORGE=$1
need jq

queue_setup
LOG="$SIGND/audit"
M=(--manifest "$MANIFEST")
xcheck() { # EXPECTED-EXIT
	expect_exit "$1" "$ROMBSR" audit verify "$LOG" "${M[@]}" --no-trust --queue "$QUEUE"
}

step "a build through the queue: two raw requests, signed, applied"
head -c 100000 /dev/urandom >"$ROOT/boot.img"
head -c 5000 /dev/urandom >"$ROOT/vendor.img"
submit aq-1 --raw "media=$ROOT/boot.img" --raw "platform=$ROOT/vendor.img" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "rombsr submit aq-1"; }
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "rombsr sign --once"; }
grep -q '2 signed, 0 rejected' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "sign summary"; }
apply aq-1 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "rombsr apply aq-1"; }

step "a build the sign node rejects (key not allowed for the node)"
sed -i '/allowKey = device/d' "$SIGN_CONF"
head -c 3000 /dev/urandom >"$ROOT/dev.img"
submit aq-2 --raw "device=$ROOT/dev.img" >"$WORK/submit.out" 2>&1 ||
	{ cat "$WORK/submit.out" >&2; fail "rombsr submit aq-2"; }
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "rombsr sign --once (aq-2)"; }
grep -q '0 signed, 1 rejected' "$WORK/sign.out" || { cat "$WORK/sign.out" >&2; fail "sign summary aq-2"; }
git --git-dir="$QUEUE" show "main:responses/$NODE/aq-1.json" >"$WORK/resp1.json"
git --git-dir="$QUEUE" show "main:responses/$NODE/aq-2.json" >"$WORK/resp2.json"
REJECTED_ID=$(jq -r '.required.entries[0] | select(.status == "rejected") | .id' "$WORK/resp2.json")
[ -n "$REJECTED_ID" ] || fail "aq-2 was not rejected"

step "cross-check: the log and the queue agree"
xcheck 0
grep -q 'cross-check OK' "$WORK/last.out" || fail "no cross-check verdict"
grep -q '2 request documents (3 requests), 2 responses signed by the queue key, 2 signatures, 2 matched' \
	"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "cross-check summary"; }
# The local mirror can be kept with --cache, and a queue given by path or URL.
expect_exit 0 "$ROMBSR" audit verify "$LOG" "${M[@]}" --no-trust --queue "file://$QUEUE" \
	--cache "$WORK/xcache"
[ -d "$WORK/xcache" ] || fail "--cache was not used"
expect_exit 2 "$ROMBSR" audit verify "$LOG" --key x --no-trust --queue "$QUEUE"

step "a device checks a response's proof offline against the checkpoint and the audit key"
jq -j '.required.entries[0].audit.checkpoint' "$WORK/resp1.json" >"$WORK/cp"
LEAF=$(jq -r '.required.entries[0].audit.leaf' "$WORK/resp1.json")
SIZE=$(sed -n 2p "$WORK/cp")
{
	echo "rombsr-audit-proof/v1"
	echo "inclusion $LEAF $SIZE"
	jq -r '.required.entries[0].audit.proof[]' "$WORK/resp1.json"
} >"$WORK/proof"
[ "$(wc -l <"$WORK/proof")" -gt 2 ] || fail "the response carries no proof hashes"
expect_exit 0 "$ROMBSR" audit show "$LOG" --leaf "$LEAF" --raw
cp "$WORK/last.out" "$WORK/entry.bin"
# The entry's signature is the one in the response: this is the leaf.
[ "$(jq -r .signature "$WORK/entry.bin")" = "$(jq -r '.required.entries[0].signature' "$WORK/resp1.json")" ] ||
	fail "the raw entry at audit.leaf is not the response's signature"
expect_exit 0 "$ROMBSR" audit check-proof --checkpoint "$WORK/cp" --proof "$WORK/proof" "${M[@]}" \
	--entry "$WORK/entry.bin"
grep -q "OK: entry $LEAF is in the log of size $SIZE" "$WORK/last.out" || fail "check-proof output"
# One proof hash altered: refused.
awk 'NR == 3 { $0 = (substr($0, 1, 1) == "A" ? "B" : "A") substr($0, 2) } { print }' "$WORK/proof" \
	>"$WORK/proof.bad"
expect_exit 7 "$ROMBSR" audit check-proof --checkpoint "$WORK/cp" --proof "$WORK/proof.bad" "${M[@]}" \
	--entry "$WORK/entry.bin"
# Another entry's bytes under the same proof: refused.
expect_exit 0 "$ROMBSR" audit show "$LOG" --leaf "$(( LEAF == 0 ? 1 : 0 ))" --raw
cp "$WORK/last.out" "$WORK/other.bin"
expect_exit 7 "$ROMBSR" audit check-proof --checkpoint "$WORK/cp" --proof "$WORK/proof" "${M[@]}" \
	--entry "$WORK/other.bin"
expect_exit 2 "$ROMBSR" audit show "$LOG" --raw

step "an HSM signature outside the flow is unexplained"
STRAY_ID=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
STRAY_LEAF=$("$FORGE" sign "$LOG" "$STATE" "$PIN_FILE" "$MANIFEST" media "$STRAY_ID") ||
	fail "audit_forge sign"
# The log itself is still a good log: only the queue tells.
expect_exit 0 "$ROMBSR" audit verify "$LOG" "${M[@]}" --no-trust
xcheck 7
grep -q "^unexplained: leaf $STRAY_LEAF: a signature for request $STRAY_ID" "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "the stray signature is not reported as unexplained"; }
[ "$(grep -c '^unexplained:' "$WORK/last.out")" -eq 1 ] || fail "more than the stray signature reported"
expect_err "the log and the queue disagree: 1 finding"
# An insider who also writes the intent the sign node would have written:
# the HSM was still asked for something no build asked for.
STRAY2_ID=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
INTENT_LEAF=$("$FORGE" intent "$LOG" "$STATE" "$PIN_FILE" "$MANIFEST" media "$STRAY2_ID") ||
	fail "audit_forge intent"
xcheck 7
grep -q "^unexplained: leaf $INTENT_LEAF: an intent to sign request $STRAY2_ID" "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "the stray intent is not reported as unexplained"; }
expect_err "the log and the queue disagree: 2 findings"

step "a logged signature for a request the sign node rejected"
REJ_LEAF=$("$FORGE" sign "$LOG" "$STATE" "$PIN_FILE" "$MANIFEST" media "$REJECTED_ID") ||
	fail "audit_forge sign (rejected id)"
xcheck 7
grep -q "^signed-but-rejected: leaf $REJ_LEAF responses/$NODE/aq-2.json" "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "signature for a rejected request not reported"; }

# Publish FILE as PATH in a commit signed by the token's real queue key
# (what an insider with the operator PIN can do), on top of the queue's
# main branch, past the guard; sets FORGED to the commit.
forge_response() { # FILE PATH
	rm -rf "$WORK/clone"
	attacker_clone "$WORK/clone"
	mkdir -p "$WORK/clone/$(dirname "$2")"
	cp "$1" "$WORK/clone/$2"
	git -C "$WORK/clone" add "$2"
	local tree parent now
	tree=$(git -C "$WORK/clone" write-tree)
	parent=$(git -C "$WORK/clone" rev-parse HEAD)
	now=$(date +%s)
	printf 'tree %s\nparent %s\nauthor rombsr sign node <sign@rombsr.invalid> %s +0000\ncommitter rombsr sign node <sign@rombsr.invalid> %s +0000\n\nresponse\n' \
		"$tree" "$parent" "$now" "$now" >"$WORK/commit.txt"
	"$FORGE" sign-commit "$STATE" "$PIN_FILE" "$MANIFEST" <"$WORK/commit.txt" >"$WORK/commit.sig" ||
		fail "audit_forge sign-commit"
	awk -v sigfile="$WORK/commit.sig" '
		{ print }
		/^committer / && !done {
			first = 1
			while ((getline line < sigfile) > 0) {
				if (first) { print "gpgsig " line; first = 0 } else { print " " line }
			}
			done = 1
		}' "$WORK/commit.txt" >"$WORK/commit.signed"
	FORGED=$(git -C "$WORK/clone" hash-object -t commit -w --stdin <"$WORK/commit.signed")
	git --git-dir="$WORK/clone/.git" cat-file -p "$FORGED" | grep -q '^gpgsig ' || fail "forged commit unsigned"
	git --git-dir="$QUEUE" fetch -q "$WORK/clone" "+$FORGED:refs/heads/main" || fail "server-side ref update"
}

step "a response rewritten with an altered signature, re-signed with the real queue key"
SIG=$(jq -r '.required.entries[0].signature' "$WORK/resp1.json")
ALT=$(printf '%s' "$SIG" | awk '{ c = substr($0, 20, 1); print substr($0, 1, 19) (c == "A" ? "B" : "A") substr($0, 21) }')
ALT_ID=$(jq -r '.required.entries[0].id' "$WORK/resp1.json")
ALT_LEAF=$(jq -r '.required.entries[0].audit.leaf' "$WORK/resp1.json")
sed "s|$SIG|$ALT|" "$WORK/resp1.json" >"$WORK/resp1.sig"
cmp -s "$WORK/resp1.json" "$WORK/resp1.sig" && fail "the signature was not altered"
forge_response "$WORK/resp1.sig" "responses/$NODE/aq-1.json"
# The forged commit passes the check `rombsr apply` makes: only the log
# can tell.
xcheck 7
grep -q "^signature-mismatch: leaf $ALT_LEAF responses/$NODE/aq-1.json (commit $FORGED): the signature released for request $ALT_ID" \
	"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "the altered signature is not reported"; }
grep -q "^response-bad: responses/$NODE/aq-1.json: added 1 times and changed 1 times" "$WORK/last.out" ||
	fail "the rewritten response is not reported as changed"
grep -q "^response-foreign\|^response-unsigned" "$WORK/last.out" && fail "the queue key's commit was called foreign"

step "re-signed responses with another leaf, a bad proof, a signature the log never recorded"
ID1=$(jq -r '.required.entries[1].id' "$WORK/resp1.json")
LEAF1=$(jq -r '.required.entries[1].audit.leaf' "$WORK/resp1.json")
jq -cS ".required.entries[1].audit.leaf = $(( LEAF1 == 0 ? 1 : 0 ))" "$WORK/resp1.json" >"$WORK/resp1.leaf"
forge_response "$WORK/resp1.leaf" "responses/$NODE/aq-1.json"
LEAF_COMMIT=$FORGED
P0=$(jq -r '.required.entries[0].audit.proof[0]' "$WORK/resp1.json")
P0_ALT=$(printf '%s' "$P0" | awk '{ print (substr($0, 1, 1) == "A" ? "B" : "A") substr($0, 2) }')
jq -cS --arg p "$P0_ALT" '.required.entries[0].audit.proof[0] = $p' "$WORK/resp1.json" >"$WORK/resp1.proof"
forge_response "$WORK/resp1.proof" "responses/$NODE/aq-1.json"
PROOF_COMMIT=$FORGED
NEW_ID=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
jq -cS --arg id "$NEW_ID" '.required.entries[1].id = $id' "$WORK/resp1.json" >"$WORK/resp1.id"
forge_response "$WORK/resp1.id" "responses/$NODE/aq-7.json"
xcheck 7
grep -q "^leaf-mismatch: leaf $LEAF1 responses/$NODE/aq-1.json (commit $LEAF_COMMIT): request $ID1 says audit.leaf" \
	"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "a response naming another leaf is not reported"; }
grep -q "^bad-proof: leaf $ALT_LEAF responses/$NODE/aq-1.json (commit $PROOF_COMMIT): .*audit.proof does not prove" \
	"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "a response with a bad proof is not reported"; }
grep -q "^not-logged: .*responses/$NODE/aq-7.json (commit $FORGED): request $NEW_ID was answered" \
	"$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "a signature the log never recorded is not reported"; }

step "responses not signed by the queue key are reported"
commit_file "$WORK/resp1.json" "responses/$NODE/aq-8.json" - "unsigned response"
git -C "$WORK/clone" push -q origin HEAD:main 2>/dev/null && fail "the guard took an unsigned response"
server_force "$WORK/clone"
UNSIGNED=$(git --git-dir="$QUEUE" rev-parse main)
commit_file "$WORK/resp1.json" "responses/$NODE/aq-9.json" "$NODE_FPR" "response signed by the build node"
server_force "$WORK/clone"
FOREIGN=$(git --git-dir="$QUEUE" rev-parse main)
xcheck 7
grep -q "^response-unsigned: responses/$NODE/aq-8.json (commit $UNSIGNED)" "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "unsigned response not reported"; }
grep -q "^response-foreign: responses/$NODE/aq-9.json (commit $FOREIGN)" "$WORK/last.out" ||
	{ cat "$WORK/last.out" >&2; fail "foreign-signed response not reported"; }
echo "audit-queue: OK"
