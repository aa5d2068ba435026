#!/bin/bash
# No signing oracle: every key signs only in its own domains (key
# purposes). Each attack here worked before purposes existed and must now
# fail, with nothing signed:
#   keys whose digests a build node chooses (apk, raw-detached) have no
#   OpenPGP certificate at all, so none can be revoked or bound through
#   them; a node allowed the OpenPGP key release submits a raw request whose
#   "sha256" is the OpenPGP hash of a key-revocation signature (type 0x20)
#   over release's own certificate - if the HSM signed it, gpg would show
#   release revoked; in the same document a raw Ed25519 request for the
#   queue key over 32 chosen bytes (what a forged response commit needs);
#   allowKey = queue / audit in sign.conf; sign-file with the queue or
#   audit key, or in a format outside the key's purposes; rombsr approve
#   for the queue key; a version-1 manifest, which must not grant the
#   queue and audit keys anything but their own domains.
set -euo pipefail
. "$(dirname "$0")/lib/fixture.sh"
. "$(dirname "$0")/lib/capture.sh"
. "$(dirname "$0")/lib/queue.sh"
need xxd gpg sq

# The default key set's testkey (purposes: apk) next to the names
# lib/queue.sh allows, small and quick to generate. This test provisions
# its own token from it instead of the shared test key set.
ORACLE_KEYSPEC="$WORK/keyspec.json"
provision_small() { # STATE ESCROW
	"$ROMBSR" hsm-provision --state-dir "$1" --escrow-dir "$2" --keyspec "$ORACLE_KEYSPEC" \
		--label rombsr-test >"$WORK/provision.log" 2>&1 || { cat "$WORK/provision.log" >&2; fail "provisioning"; }
}
cat >"$ORACLE_KEYSPEC" <<'EOF'
{
  "format": "rombsr-keyspec",
  "version": 2,
  "keys": [
    {"name": "testkey", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk"]},
    {"name": "platform", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk"]},
    {"name": "media", "algorithm": "rsa-2048", "purpose": "android", "purposes": ["apk", "raw-detached"]},
    {"name": "device", "algorithm": "ec-p256", "purposes": ["raw-detached"]},
    {"name": "release", "algorithm": "rsa-2048", "purposes": ["openpgp-detached"]},
    {"name": "queue", "algorithm": "ed25519", "purpose": "queue", "purposes": ["queue-response"],
     "openpgp_uid": "rombsr signing queue <queue@rombsr.invalid>"},
    {"name": "audit", "algorithm": "ed25519", "purpose": "audit", "purposes": ["audit-checkpoint"]}
  ]
}
EOF
queue_setup
write_sign_conf "	allowKey = testkey"
S=(--state-dir "$STATE")
PINS=(--pin-file "$PIN_FILE")

hex_sha256() { # reads bytes on stdin, prints the SHA-256 as hex
	openssl dgst -sha256 -r | cut -d' ' -f1
}
lp() { # HEX -> u32(length) || bytes, as hex
	printf '%08x%s' $((${#1} / 2)) "$1"
}
ascii_hex() {
	printf '%s' "$1" | xxd -p | tr -d '\n'
}

step "baseline: a legitimate raw request is signed"
head -c 4000 /dev/urandom >"$ROOT/fw.bin"
submit ok1 --raw "media=$ROOT/fw.bin" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out" >&2; fail "submit ok1"; }
sign_once || { cat "$WORK/sign.err" >&2; fail "sign ok1"; }
signed_before=$(audit_sign_count)
[ "$signed_before" -eq 1 ] || fail "baseline: $signed_before signatures, expected 1"

step "the request builder refuses a kind outside the key's purposes"
printf 'release notes\n' >"$ROOT/release-notes.bin"
expect_exit 5 submit x1 --raw "testkey=$ROOT/release-notes.bin"
expect_err "testkey"
expect_err "raw-detached"
expect_exit 5 submit x2 --openpgp "media=$ROOT/release-notes.bin"
expect_exit 5 submit x3 --raw "queue=$ROOT/release-notes.bin"
expect_err "sign node itself composes"

step "only keys that sign OpenPGP have an OpenPGP identity"
# A key whose digests a build node chooses could be made to sign the hash
# of a revocation or binding of its own certificate, so it has none.
for k in testkey platform media device audit; do
	[ "$(key_field "$k" .openpgp_certificate)" = null ] || fail "$k has an OpenPGP certificate"
	expect_exit 5 "$ROMBSR" keys export "$k" --format openpgp --manifest "$MANIFEST" "${S[@]}"
	expect_err "does not sign OpenPGP"
done
for k in release queue; do
	[ "$(key_field "$k" .openpgp_certificate)" != null ] || fail "$k lacks its OpenPGP certificate"
done

step "the OpenPGP hash of a key-revocation signature over release's certificate"
"$ROMBSR" keys export release --format openpgp --manifest "$MANIFEST" "${S[@]}" --output "$WORK/release.pgp"
cert=$(xxd -p "$WORK/release.pgp" | tr -d '\n')
case ${cert:0:2} in
99) body_len=$((16#${cert:2:4})); off=6 ;;
c6)
	l1=$((16#${cert:2:2}))
	if [ "$l1" -lt 192 ]; then body_len=$l1; off=4
	elif [ "$l1" -lt 224 ]; then body_len=$(((l1 - 192) * 256 + 16#${cert:4:2} + 192)); off=6
	else body_len=$((16#${cert:4:8})); off=12; fi
	;;
*) fail "release's certificate does not start with a public-key packet" ;;
esac
key_body=${cert:off:body_len*2}
fpr=$(key_field release .fingerprints.openpgp_v4)
now=$(printf '%08x' "$(date +%s)")
hashed="0502${now}1621$(printf '04%s' "$fpr")"                   # creation time, issuer fingerprint
prefix="04200108$(printf '%04x' $((${#hashed} / 2)))${hashed}"   # v4, key revocation, RSA, SHA-256
trailer="04ff$(printf '%08x' $((${#prefix} / 2)))"
rev_digest=$(printf '99%04x%s%s%s' $((${#key_body} / 2)) "$key_body" "$prefix" "$trailer" | xxd -r -p | hex_sha256)
# What a forged response commit needs from the queue key: an Ed25519
# signature over 32 bytes the attacker chose (an OpenPGP EdDSA digest).
queue_digest=$(printf 'forged response commit' | hex_sha256)

step "attack: a crafted document asks release and the queue key for raw signatures over those digests"
scratch_doc o1 "$WORK/o1.json" --raw "media=$ROOT/release-notes.bin"
entry_for() { # KEY SCHEME DIGEST-HEX ARTIFACT -> a raw request entry (JSON)
	local spki id
	spki=$(key_field "$1" .fingerprints.spki_sha256)
	id=$({
		lp "$(ascii_hex rombsr-direct-request-v1)"
		lp "$(ascii_hex o1)"
		lp "$(ascii_hex raw)"
		lp "$spki"
		lp "$(ascii_hex "$2")"
		lp "$(ascii_hex "$4")"
		lp "$3"
	} | xxd -r -p | hex_sha256)
	jq -cn --arg k "$1" --arg f "$spki" --arg s "$2" --arg a "$4" --arg id "$id" \
		'{kind: "raw", id: $id, artifact: $a, key: {name: $k, spki_sha256: $f}, scheme: $s}'
}
e1=$(entry_for release rsa-pkcs1-sha256 "$rev_digest" release-notes.bin)
e2=$(entry_for queue ed25519 "$queue_digest" commit.bin)
jq -cS --arg d1 "$rev_digest" --arg d2 "$queue_digest" --argjson e1 "$e1" --argjson e2 "$e2" '
	.required.artifacts = [
		{name: "commit.bin", size: 22, sha256: $d2},
		{name: "release-notes.bin", size: 14, sha256: $d1}]
	| .required.requests = [$e1, $e2]' "$WORK/o1.json" >"$WORK/o1.forged.json"
commit_file "$WORK/o1.forged.json" "requests/$NODE/o1.json" "$NODE_FPR" "release notes"
# The guard may already refuse it; an attacker who owns the server puts it
# in anyway, and the sign node must refuse it on its own.
git -C "$WORK/clone" push -q origin HEAD:main >"$WORK/push.out" 2>&1 || server_force "$WORK/clone"
sign_once || { cat "$WORK/sign.out" "$WORK/sign.err" >&2; fail "sign o1"; }
resp=$(git --git-dir="$QUEUE" show "main:responses/$NODE/o1.json") || { cat "$WORK/sign.err" >&2; fail "o1: no response"; }

step "nothing was signed: the response says key-purpose, the audit log holds no new signature"
[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "o1: the HSM signed something"
[ "$(jq '[.required.entries[] | select(.status == "signed")] | length' <<<"$resp")" -eq 0 ] || {
	# Before purposes: turn the returned signature into the revocation
	# certificate it is, so the failure shows what the attacker got.
	sig=$(jq -r --arg id "$(jq -r .id <<<"$e1")" '.required.entries[] | select(.id == $id) | .signature // empty' <<<"$resp" |
		base64 -d | xxd -p | tr -d '\n')
	if [ -n "$sig" ]; then
		bits=$(((${#sig} / 2) * 8))
		unhashed="000a0910${fpr:24:16}"
		packet="${prefix}${unhashed}${rev_digest:0:4}$(printf '%04x' "$bits")${sig}"
		plen=$((${#packet} / 2))
		printf 'c2%02x%02x%s' $((((plen - 192) >> 8) + 192)) $(((plen - 192) & 255)) "$packet" | xxd -r -p >"$WORK/rev.pgp"
		mkdir -m 700 "$WORK/victim"
		GNUPGHOME="$WORK/victim" gpg --batch -q --import "$WORK/release.pgp" "$WORK/rev.pgp" 2>/dev/null || true
		GNUPGHOME="$WORK/victim" gpg --with-colons --list-keys "$fpr" >&2 || true
	fi
	fail "o1: the HSM signed a raw request outside the key's purposes"
}
for e in "$e1" "$e2"; do
	jq -e --arg id "$(jq -r .id <<<"$e")" \
		'.required.entries[] | select(.id == $id) | .status == "rejected" and .reason == "key-purpose"' <<<"$resp" >/dev/null ||
		{ echo "$resp" >&2; fail "o1: $(jq -r .key.name <<<"$e") not rejected with key-purpose"; }
done
[ "$(jq .version <<<"$resp")" -eq 2 ] || fail "a response with key-purpose must be version 2"
grep -q "event=reject.*reason=key-purpose\|reason=key-purpose" "$WORK/sign.err" ||
	{ cat "$WORK/sign.err" >&2; fail "the sign node did not log the key-purpose rejection"; }

step "independent verifiers: release is not revoked (gpg, sq)"
mkdir -m 700 "$WORK/victim"
GNUPGHOME="$WORK/victim" gpg --batch -q --import "$WORK/release.pgp" 2>/dev/null
GNUPGHOME="$WORK/victim" gpg --with-colons --list-keys "$fpr" >"$WORK/victim.list"
grep -q '^pub:[^r]' "$WORK/victim.list" || { cat "$WORK/victim.list" >&2; fail "gpg shows release revoked"; }
sq inspect "$WORK/release.pgp" >"$WORK/sq.out" 2>&1 || { cat "$WORK/sq.out" >&2; fail "sq inspect"; }
grep -qi "revoked" "$WORK/sq.out" && { cat "$WORK/sq.out" >&2; fail "sq shows release revoked"; }

step "sign.conf: allowKey = queue / audit is refused by the loader, naming the line"
for k in queue audit; do
	write_sign_conf "	allowKey = $k"
	expect_exit 3 "$ROMBSR" sign --once --config "$SIGN_CONF"
	expect_err "allowKey = $k"
	expect_err "remove this line"
done
write_sign_conf "[key \"queue\"]
	approvals = 1"
expect_exit 3 "$ROMBSR" sign --once --config "$SIGN_CONF"
expect_err "[key \"queue\"]"
write_sign_conf "	allowKey = testkey"
[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "sign.conf attacks: something was signed"

step "sign-file: the queue and audit keys never sign, other keys only in their format"
printf 'checkpoint-shaped text\n' >"$WORK/note.txt"
for k in queue audit; do
	for f in raw openpgp; do
		expect_exit 5 "$ROMBSR" sign-file --key "$k" --format "$f" "${S[@]}" "${PINS[@]}" --output "$WORK/$k.sig" "$WORK/note.txt"
		expect_err "sign-file never uses it"
		[ ! -e "$WORK/$k.sig" ] || fail "sign-file --key $k wrote a signature"
	done
done
expect_exit 5 "$ROMBSR" sign-file --key release --format raw "${S[@]}" "${PINS[@]}" --output "$WORK/r.sig" "$WORK/note.txt"
expect_err "raw-detached"
expect_exit 5 "$ROMBSR" sign-file --key media --format openpgp "${S[@]}" "${PINS[@]}" --output "$WORK/m.sig" "$WORK/note.txt"
expect_err "openpgp-detached"
expect_exit 5 "$ROMBSR" sign-file --key testkey --format raw "${S[@]}" "${PINS[@]}" --output "$WORK/t.sig" "$WORK/note.txt"
[ ! -e "$WORK/r.sig" ] && [ ! -e "$WORK/m.sig" ] && [ ! -e "$WORK/t.sig" ] || fail "sign-file wrote a signature"
expect_exit 0 "$ROMBSR" sign-file --key release --format openpgp "${S[@]}" "${PINS[@]}" --output "$WORK/ok.sig" "$WORK/note.txt"

step "approve: the queue key is refused"
expect_exit 2 "$ROMBSR" approve --queue "$QUEUE" --approver bob --signing-key "$NODE_FPR" --gnupghome "$BUILD_GNUPG" \
	--node "$NODE" --build-id ok1 --key queue --cache "$WORK/approve-cache"
expect_err "nothing to approve"

step "keys list shows purposes"
expect_exit 0 "$ROMBSR" keys list --manifest "$MANIFEST" "${S[@]}"
grep -Eq '^testkey .* apk +[0-9a-f]{64}' "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "keys list: testkey purposes"; }
grep -Eq '^queue .* queue-response +[0-9a-f]{64}' "$WORK/last.out" || fail "keys list: queue purposes"
expect_exit 0 "$ROMBSR" keys list --json --manifest "$MANIFEST" "${S[@]}"
jq -e '(.[] | select(.name == "media") | .purposes == ["apk", "raw-detached"]) and
	(.[] | select(.name == "audit") | .purposes == ["audit-checkpoint"])' "$WORK/last.out" >/dev/null ||
	{ cat "$WORK/last.out" >&2; fail "keys list --json purposes"; }

step "a version-1 manifest: narrow purposes from the tag, never everything"
[ "$(jq .version "$MANIFEST")" -eq 2 ] || fail "provisioning writes manifest version 2"
jq '.version = 1 | del(.keys[].purposes)' "$MANIFEST" >"$WORK/v1.json"
expect_exit 0 "$ROMBSR" keys list --json --manifest "$WORK/v1.json" "${S[@]}"
jq -e '(.[] | select(.name == "queue") | .purposes == ["queue-response"]) and
	(.[] | select(.name == "audit") | .purposes == ["audit-checkpoint"]) and
	(.[] | select(.name == "testkey") | .purposes == ["apk"]) and
	(.[] | select(.name == "release") | .purposes == ["raw-detached"])' "$WORK/last.out" >/dev/null ||
	{ cat "$WORK/last.out" >&2; fail "version-1 manifest purposes"; }
expect_exit 5 "$ROMBSR" sign-file --key queue --manifest "$WORK/v1.json" "${S[@]}" "${PINS[@]}" --output "$WORK/v1.sig" "$WORK/note.txt"
[ ! -e "$WORK/v1.sig" ] || fail "a version-1 manifest let the queue key sign a file"
# Version 1 has no purposes field: a version-2 manifest relabelled as 1
# is refused, not read with the purposes dropped.
jq '.version = 1' "$MANIFEST" >"$WORK/v1-relabelled.json"
expect_exit 3 "$ROMBSR" keys list --manifest "$WORK/v1-relabelled.json" "${S[@]}"
jq '(.keys[] | select(.name == "release")) |= (.purposes = ["openpgp-detached", "raw-detached"])' "$MANIFEST" >"$WORK/mixed.json"
expect_exit 3 "$ROMBSR" keys list --manifest "$WORK/mixed.json" "${S[@]}"
expect_err "revocation"

[ "$(audit_sign_count)" -eq "$signed_before" ] || fail "something was signed"
echo "signing-oracle: all checks passed"
