#!/bin/bash
# The sign node obeys rotation and revocation from its next batch, even
# while the build node still holds the old manifest: after hsm-rotate-keys
# the old key is refused (key-retired) and the successor signs; after
# hsm-revoke the successor is refused (key-revoked), and the incident
# checklist lists the build and artifact it signed, read from the sign
# node's own audit log, which still verifies with both writers' checkpoints.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"

queue_setup
head -c 5000 /dev/urandom >"$ROOT/fw.bin"
OP=(--pin-file "$PIN_FILE")
S=(--state-dir "$STATE")
# The sign node reads the state directory's manifest; the build node has a
# copy that is only refreshed when it is "published" to it.
SIGN_MANIFEST="$STATE/manifest.json"
NODE_MANIFEST="$WORK/node-manifest.json"
cp "$SIGN_MANIFEST" "$NODE_MANIFEST"
MANIFEST="$NODE_MANIFEST"
write_sign_conf

signed_in() { # BUILD -> number of signed entries in its response
	git --git-dir="$QUEUE" show "main:responses/$NODE/$1.json" |
		jq '[.required.entries[] | select(.status == "signed")] | length'
}
rejected_for() { # BUILD REASON
	local r
	r=$(git --git-dir="$QUEUE" show "main:responses/$NODE/$1.json") || fail "$1: no response"
	[ "$(jq '[.required.entries[] | select(.status == "signed")] | length' <<<"$r")" -eq 0 ] ||
		fail "$1: the sign node signed with a key it must refuse"
	jq -e --arg r "$2" '[.required.entries[] | select(.reason == $r)] | length > 0' <<<"$r" >/dev/null ||
		{ echo "$r" >&2; fail "$1: not rejected with $2"; }
}
build() { # BUILD KEY
	rm -f "$ROOT/fw.bin.sig"
	submit "$1" --raw "$2=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit $1"; }
	sign_once || { cat "$WORK/sign.err" >&2; fail "sign $1"; }
}

step "media signs before the rotation"
build b1 media
[ "$(signed_in b1)" -eq 1 ] || fail "b1 not signed"

step "rotate media: the next batch refuses it, though the build node has the old manifest"
expect_exit 0 "$ROMBSR" hsm-rotate-keys --key media --sign-config "$SIGN_CONF" "${S[@]}" "${OP[@]}"
grep -qF "add 'allowKey = media-2' to [node \"$NODE\"]" "$WORK/last.out" || fail "no allowKey hint"
write_sign_conf "	allowKey = media-2"
build b2 media
rejected_for b2 key-retired

step "publish the manifest: the successor signs, and apply verifies it"
cp "$SIGN_MANIFEST" "$NODE_MANIFEST"
build b3 media-2
[ "$(signed_in b3)" -eq 1 ] || { cat "$WORK/sign.err" >&2; fail "b3 not signed by media-2"; }
apply b3 >"$WORK/apply.out" 2>&1 || { cat "$WORK/apply.out" >&2; fail "apply b3"; }
"$ROMBSR" keys export media-2 --format spki-pem --manifest "$SIGN_MANIFEST" --output "$WORK/media-2.pub.pem"
openssl dgst -sha256 -verify "$WORK/media-2.pub.pem" -signature "$ROOT/fw.bin.sig" "$ROOT/fw.bin" >/dev/null ||
	fail "openssl rejects the successor's signature"

step "revoke media-2: the checklist lists what it signed, from the sign node's audit log"
expect_exit 0 "$ROMBSR" hsm-revoke --key-id media-2 --reason "signing host compromised" --sign-config "$SIGN_CONF" \
	"${S[@]}" "${OP[@]}"
grep -q "1 signature(s) in the audit log $SIGND/audit" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "count"; }
grep -q "build b3  artifact fw.bin" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "artifact not listed"; }
grep -qF "build node '$NODE'" "$WORK/last.out" || fail "node not listed"
if grep -q "build b1 " "$WORK/last.out"; then fail "an artifact signed by another key is listed"; fi

step "the next batch refuses the revoked key, though the build node's manifest says active"
build b4 media-2
rejected_for b4 key-revoked

step "the audit log verifies, with the rotation, the revocation and the sign node's entries"
expect_exit 0 "$ROMBSR" audit verify "$SIGND/audit" --manifest "$SIGN_MANIFEST" --no-trust
expect_exit 0 "$ROMBSR" audit show "$SIGND/audit" --json
jq -e -s '[.[].entry.type] | (index("rotate") < index("revoke")) and ([.[] | select(. == "sign")] | length == 2)' \
	"$WORK/last.out" >/dev/null || { jq -c '.entry.type' "$WORK/last.out" >&2; fail "audit entries"; }
echo "key-lifecycle-queue: all checks passed"
